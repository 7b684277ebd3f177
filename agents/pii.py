"""PII masking: emails, phone numbers, payment cards (Luhn-checked), IBANs (mod-97
checked) and street addresses, replaced by typed placeholders.

Used before text leaves for an external LLM (unless configured otherwise) and by the
logging filter, so logs and traces never hold a customer's contact or payment data.
Order numbers are not PII here: the agent needs them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_core.messages import BaseMessage

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
_PHONE = re.compile(
    r"(?<![\w+])(?<!\w-)(?<!\d[ .-])(?:\+\d{1,3}[ .-]?)?(?:\(0\)[ .-]?)?(?:\d[ .-]?){8,12}\d"
    r"(?!\w)(?![ .-]?\d)")
_STREET = re.compile(
    r"\b\d{1,4}[A-Za-z]?(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|av\.|boulevard|bd|place|chemin|"
    r"impasse|all[ée]e|quai|route|(?:[\w'’-]+\s+){1,3}(?:street|st\.?|road|rd\.?|lane|"
    r"drive|way|avenue|ave\.?))\b[^\n,]{0,60}", re.IGNORECASE)


def luhn_ok(digits: str) -> bool:
    total, double = 0, False
    for ch in reversed(digits):
        d = int(ch)
        if double:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
        double = not double
    return total % 10 == 0


def iban_ok(raw: str) -> bool:
    iban = raw.replace(" ", "").upper()
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


@dataclass
class MaskResult:
    text: str
    found: dict[str, int] = field(default_factory=dict)


def mask_pii(text: str, *, addresses: bool = True) -> MaskResult:
    """`text` with PII replaced by [EMAIL], [CARD], [IBAN], [PHONE], [ADDRESS]."""
    found: dict[str, int] = {}

    def sub(pattern: re.Pattern[str], label: str, check: object = None) -> None:
        nonlocal text

        def repl(match: re.Match[str]) -> str:
            value = match.group(0)
            if callable(check) and not check(value):
                return value
            found[label] = found.get(label, 0) + 1
            return f"[{label}]"

        text = pattern.sub(repl, text)

    sub(_EMAIL, "EMAIL")
    sub(_IBAN, "IBAN", iban_ok)
    sub(_CARD, "CARD", lambda v: luhn_ok(re.sub(r"\D", "", v)))
    sub(_PHONE, "PHONE", lambda v: 9 <= len(re.sub(r"\D", "", v)) <= 15)
    if addresses:
        sub(_STREET, "ADDRESS")
    return MaskResult(text, found)


class PiiLogFilter(logging.Filter):
    """Masks PII in every log record's message (install on handlers or loggers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_pii(message).text
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install_log_masking() -> None:
    """Add the PII filter to the handlers of the root and uvicorn loggers (idempotent)."""
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, PiiLogFilter) for f in handler.filters):
                handler.addFilter(PiiLogFilter())


def masked_messages(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """Copies of the conversation with PII masked in what the customer wrote."""
    out: list[BaseMessage] = []
    for message in messages:
        if message.type == "human" and isinstance(message.content, str):
            out.append(message.model_copy(update={"content": mask_pii(message.content).text}))
        else:
            out.append(message)
    return out
