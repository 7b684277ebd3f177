"""Slot extraction from customer messages, in English and French.

Order numbers (configurable pattern), emails, amounts with currency, dates
(absolute and relative) and order items (fuzzy-matched with rapidfuzz against
the items of the customer's orders). Everything is pattern-based so it works
with no LLM; the LLM path can still fill what patterns miss.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from rapidfuzz import fuzz

DEFAULT_ORDER_PATTERN = r"\b[Cc][Ll][- ]?\d{6}\b"

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_CURRENCY_WORDS = {
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR",
    "$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD",
    "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP", "livres": "GBP",
    "chf": "CHF", "francs": "CHF",
}
_NUMBER = r"\d{1,3}(?:[ .,\u00a0\u202f]\d{3})*(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_CUR = r"€|\$|£|eur(?:os?)?\b|usd\b|dollars?\b|gbp\b|pounds?\b|livres\b|chf\b|francs\b"
_AMOUNT_AFTER = re.compile(rf"(?P<num>{_NUMBER})\s?(?P<cur>{_CUR})", re.IGNORECASE)
_AMOUNT_BEFORE = re.compile(rf"(?P<cur>{_CUR})\s?(?P<num>{_NUMBER})", re.IGNORECASE)

_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "sept": 9, "oct": 10, "nov": 11, "dec": 12,
    "janvier": 1, "fevrier": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6, "juillet": 7,
    "aout": 8, "septembre": 9, "octobre": 10, "novembre": 11, "decembre": 12,
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})[/.](\d{1,2})(?:[/.](\d{2,4}))?\b")
_DAY_MONTH = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th|er)?\s+(?:of\s+)?({_MONTH_RE})\b(?:\s+(\d{{4}}))?")
_MONTH_DAY = re.compile(rf"\b({_MONTH_RE})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}}))?")
_RELATIVE = [
    (re.compile(r"\b(day before yesterday|avant[- ]hier)\b"), -2),
    (re.compile(r"\b(yesterday|hier)\b"), -1),
    (re.compile(r"\b(today|aujourd'hui|aujourd’hui)\b"), 0),
    (re.compile(r"\b(last week|la semaine derni[eè]re)\b"), -7),
]
_DAYS_AGO = re.compile(r"\b(\d{1,3})\s+days?\s+ago\b|\bil y a\s+(\d{1,3})\s+jours?\b")
_STREET_FR = r"rue|avenue|av\.|boulevard|bd|place|chemin|impasse|all[ée]e|quai|route"
_STREET_EN = r"street|st\.?|road|rd\.?|lane|ln|drive|dr\.?|way|court|ct|avenue|ave\.?"
_ADDRESS = re.compile(
    rf"\b\d{{1,4}}[A-Za-z]?(?:\s?(?:bis|ter))?,?\s+(?:(?:{_STREET_FR})\b|"
    rf"(?:[\w'’-]+\s+){{1,3}}(?:{_STREET_EN}|stra(?:ss|ß)e|str\.?)(?=[\s,.]|$))[^\n]{{2,120}}",
    re.IGNORECASE)


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower())
                   if not unicodedata.combining(c))


@dataclass(frozen=True)
class SlotConfig:
    """What the extractor looks for; the order number pattern is per shop."""

    order_number_pattern: str = DEFAULT_ORDER_PATTERN
    default_currency: str = "EUR"


def normalise_order_number(raw: str) -> str:
    """`cl 100123` and `CL100123` both become `CL-100123`."""
    compact = re.sub(r"[\s-]", "", raw.upper())
    match = re.match(r"^([A-Z]+)(\d+)$", compact)
    return f"{match.group(1)}-{match.group(2)}" if match else compact


def extract_order_numbers(text: str, config: SlotConfig) -> list[str]:
    return list(dict.fromkeys(normalise_order_number(m.group(0))
                              for m in re.finditer(config.order_number_pattern, text)))


def without_order_numbers(text: str, config: SlotConfig) -> str:
    """`text` with its order numbers taken out, for searching the help centre: "my order
    CL-100117 still hasn't arrived" otherwise finds the passages that show an example
    number ("your order number (for example CL-100123)"). A message that is nothing but
    a number is kept whole."""
    rest = re.sub(r"\s{2,}", " ", re.sub(config.order_number_pattern, " ", text)).strip()
    return rest if re.search(r"[^\W\d_]{2,}", rest) else text


def _to_decimal(raw: str) -> Decimal | None:
    raw = raw.replace("\u00a0", " ").replace("\u202f", " ").strip()
    if re.search(r"[.,]\d{1,2}$", raw):
        whole, frac = raw[:-3 if raw[-3] in ".," else -2], raw[-2:].lstrip(".,")
        if raw[-2] in ".,":
            whole, frac = raw[:-2], raw[-1:]
        whole = re.sub(r"[ .,]", "", whole)
        raw = f"{whole}.{frac}"
    else:
        raw = re.sub(r"[ .,]", "", raw)
    try:
        return Decimal(raw)
    except InvalidOperation:
        return None


def extract_amount(text: str, config: SlotConfig) -> dict[str, str] | None:
    """The first amount with a currency: {"amount": "45.50", "currency": "EUR"}."""
    for pattern in (_AMOUNT_BEFORE, _AMOUNT_AFTER):
        for match in pattern.finditer(text):
            value = _to_decimal(match.group("num"))
            currency = _CURRENCY_WORDS.get(match.group("cur").lower().rstrip("s") + (
                "s" if match.group("cur").lower() in {"euros", "dollars", "pounds", "livres",
                                                      "francs"} else ""),
                config.default_currency)
            if value is not None and value > 0:
                return {"amount": f"{value:.2f}", "currency": currency}
    return None


def extract_date(text: str, today: date) -> str | None:
    """The first date mentioned, as ISO `YYYY-MM-DD` (relative dates resolved against today)."""
    folded = _fold(text)
    for pattern, offset in _RELATIVE:
        if pattern.search(folded):
            return (today + timedelta(days=offset)).isoformat()
    ago = _DAYS_AGO.search(folded)
    if ago:
        return (today - timedelta(days=int(ago.group(1) or ago.group(2)))).isoformat()
    candidates: list[tuple[int, int, int | None]] = []
    if m := _ISO_DATE.search(folded):
        candidates.append((int(m.group(3)), int(m.group(2)), int(m.group(1))))
    if m := _DAY_MONTH.search(folded):
        candidates.append((int(m.group(1)), _MONTHS[m.group(2)],
                           int(m.group(3)) if m.group(3) else None))
    if m := _MONTH_DAY.search(folded):
        candidates.append((int(m.group(2)), _MONTHS[m.group(1)],
                           int(m.group(3)) if m.group(3) else None))
    if m := _NUMERIC_DATE.search(folded):
        year = int(m.group(3)) if m.group(3) else None
        if year is not None and year < 100:
            year += 2000
        candidates.append((int(m.group(1)), int(m.group(2)), year))
    for day, month, year in candidates:
        try:
            found = date(year or today.year, month, day)
        except ValueError:
            continue
        if year is None and found > today:
            found = found.replace(year=today.year - 1)
        return found.isoformat()
    return None


_ITEM_STOP = frozenset("the and for with set pack pair des les une pour avec sur dans".split())


def _item_tokens(text: str) -> list[str]:
    return [t for t in re.findall(r"[a-z]{3,}", _fold(text)) if t not in _ITEM_STOP]


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word[-1] in "sx" else word


def _same_word(a: str, b: str, min_ratio: float) -> bool:
    """Typo-tolerant for words of 6 letters or more ("pilowcases"); a shorter word must be
    the same, plural aside ("mugs"): one letter off, "faire" is "paire"."""
    a, b = _singular(a), _singular(b)
    if min(len(a), len(b)) < 6:
        return a == b
    return fuzz.ratio(a, b) >= min_ratio


def match_item(text: str, items: Sequence[str], min_ratio: float = 80.0) -> str | None:
    """The order item the customer most likely means, typo-tolerant, if one stands out.

    An item scores the share of its words that fuzzily appear in the message; the best
    item wins when at least one of its words matched and no other item scores as well.
    """
    words = _item_tokens(text)
    if not items or not words:
        return None
    scored: list[tuple[float, str]] = []
    for item in items:
        tokens = _item_tokens(item)
        matched = sum(1 for t in tokens if any(_same_word(t, w, min_ratio) for w in words))
        if matched:
            scored.append((matched / len(tokens), item))
    scored.sort(key=lambda pair: -pair[0])
    if not scored or (len(scored) > 1 and scored[1][0] == scored[0][0]):
        return None
    return scored[0][1]


_NUMBERS = frozenset("one two three four five six seven eight nine ten un une deux trois quatre "
                     "cinq six sept huit neuf dix".split())


def product_named(text: str, products: Mapping[str, Mapping[str, str]]) -> str | None:
    """The shop's name of a product of `products` (the bot config's `product_names`: the
    shop's names and their translations) that `text` names, if one stands out."""
    aliases = {name: name for name in products} | \
        {translated: name for name, names in products.items() for translated in names.values()}
    # Free text, not the answer to "which item?": whole words only ("plantez" is not
    # "pliante") and no number words ("three more years" is no "Three-season sleeping bag").
    words = " ".join(w for w in re.findall(r"[^\W\d_]+", text) if _fold(w) not in _NUMBERS)
    item = match_item(words, list(aliases), min_ratio=100.0)
    return aliases[item] if item else None


def extract_address(text: str) -> str | None:
    match = _ADDRESS.search(text)
    return match.group(0).strip(" .") if match else None


def extract_slots(text: str, config: SlotConfig | None = None, *, today: date | None = None,
                  items: Sequence[str] = ()) -> dict[str, Any]:
    """Every slot found in `text`; absent slots are absent keys."""
    config = config or SlotConfig()
    slots: dict[str, Any] = {}
    orders = extract_order_numbers(text, config)
    if orders:
        slots["order_number"] = orders[0]
        if len(orders) > 1:
            slots["order_numbers"] = orders
    if email := _EMAIL.search(text):
        slots["email"] = email.group(0).lower()
    without_orders = re.sub(config.order_number_pattern, " ", text)
    if amount := extract_amount(without_orders, config):
        slots.update(amount)
    if when := extract_date(without_orders, today or date.today()):
        slots["date"] = when
    if item := match_item(text, items):
        slots["item"] = item
    if address := extract_address(without_orders):
        slots["address"] = address
    return slots
