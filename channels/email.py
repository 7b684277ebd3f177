"""Email: an inbound-parse webhook in (JSON, as Postmark/Mailgun post after parsing a
message), SMTP out.

Messages thread into one conversation by In-Reply-To/References (a reply to the bot's
own answer included); the customer's new text is kept, quoted history and signatures
dropped. The inbound endpoint is authenticated with `email_inbound_secret`: an
`X-Supportgraph-Signature: sha256=<hmac of the body>` header or HTTP Basic auth with the
secret as password (what providers that only take a URL support).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from typing import Any

from channels.base import (
    Channel,
    ChannelPayloadError,
    InboundMessage,
    OutboundMessage,
    signature_ok,
)

_INTRO_START = re.compile(r"^\s*(On|Le|Am|El|Il|Op)\s", re.IGNORECASE)
_INTRO = re.compile(r"^\s*(On\s.*\bwrote|Le\s.*\ba\s+écrit|Am\s.*\bschrieb|El\s.*\bescribió"
                    r"|Il\s.*\bha\s+scritto|Op\s.*\bschreef)\s*:\s*$",
                    re.IGNORECASE | re.DOTALL)
_SEPARATOR = re.compile(r"^\s*(-{2,}\s*(Original Message|Message d'origine|Ursprüngliche "
                        r"Nachricht|Mensaje original)\s*-{2,}|_{20,})\s*$", re.IGNORECASE)
_HEADER_FROM = re.compile(r"^\s*(From|De|Von)\s*:\s*\S", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"^\s*(Sent|Date|Envoyé|Gesendet|To|À|An|Subject|Objet)\s*:",
                          re.IGNORECASE)
_SIGNATURE = re.compile(r"^(--|-- )$|^\s*(Sent from my\s.+|Sent from (Outlook|Mail|Yahoo)\b.*"
                        r"|Get Outlook for\s.+|Envoyé de mon\s.+|Envoyé depuis\s.+"
                        r"|Von meinem\s.+gesendet)\s*$", re.IGNORECASE)
_NO_REPLY = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply)\b", re.IGNORECASE)
_AUTO_SUBJECT = re.compile(r"^\s*(automatic reply|auto(matic)?[- ]?reply|out of (the )?office"
                           r"|réponse automatique|absence|abwesenheitsnotiz)\b", re.IGNORECASE)
_RE_PREFIX = re.compile(r"^\s*(re|aw|sv|réf?)\s*:", re.IGNORECASE)


def strip_quoted(text: str) -> str:
    """The new part of an email body: without quoted history ("On … wrote:", "> " lines,
    "Le … a écrit :", "-----Original Message-----", Outlook header blocks) or signatures
    ("-- ", "Sent from my iPhone", "Envoyé de mon iPhone")."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = len(lines)
    for i, line in enumerate(lines):
        if _SEPARATOR.match(line) or _SIGNATURE.match(line.rstrip("\n")):
            cut = i
            break
        if _INTRO_START.match(line) and any(
                _INTRO.match(" ".join(lines[i:j + 1])) for j in range(i, min(i + 3, len(lines)))):
            cut = i
            break
        if _HEADER_FROM.match(line) and i + 1 < len(lines) and _HEADER_NEXT.match(lines[i + 1]):
            cut = i
            break
    kept = [line.rstrip() for line in lines[:cut] if not line.lstrip().startswith(">")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _message_id(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip().strip("<>").strip()
    return value or None


def _references(value: Any) -> list[str]:
    if isinstance(value, list):
        items = [_message_id(v) for v in value]
        return [v for v in items if v]
    if isinstance(value, str):
        found = re.findall(r"<([^<>\s]+)>", value) or value.split()
        return [v for v in (_message_id(f) for f in found) if v]
    return []


def reply_subject(subject: str) -> str:
    subject = " ".join(subject.split())
    if not subject:
        return "Re: your message"
    return subject if _RE_PREFIX.match(subject) else f"Re: {subject}"


class EmailChannel(Channel):
    name = "email"
    route = "inbound"

    def __init__(self, smtp_host: str, sender: str, inbound_secret: str, *,
                 smtp_port: int = 587, username: str | None = None,
                 password: str | None = None, security: str = "starttls",
                 timeout_s: float = 10.0) -> None:
        if security not in {"starttls", "ssl", "none"}:
            raise ValueError(f"email smtp security must be starttls, ssl or none: {security}")
        self.smtp_host, self.smtp_port = smtp_host, smtp_port
        self.sender, self.inbound_secret = sender, inbound_secret
        self.username, self.password = username, password
        self.security, self.timeout_s = security, timeout_s
        self.sender_address = parseaddr(sender)[1].lower()
        self.domain = self.sender_address.rpartition("@")[2] or None

    @classmethod
    def from_settings(cls, settings: Any) -> EmailChannel | None:
        host = getattr(settings, "email_smtp_host", None)
        sender = getattr(settings, "email_from", None)
        secret = getattr(settings, "email_inbound_secret", None)
        if not (host and sender and secret):
            return None
        return cls(host, sender, secret,
                   smtp_port=int(getattr(settings, "email_smtp_port", None) or 587),
                   username=getattr(settings, "email_smtp_username", None),
                   password=getattr(settings, "email_smtp_password", None),
                   security=getattr(settings, "email_smtp_security", None) or "starttls",
                   timeout_s=float(getattr(settings, "channels_timeout_s", None) or 10.0))

    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        if "x-supportgraph-signature" in headers:
            return signature_ok(self.inbound_secret, raw_body,
                                headers["x-supportgraph-signature"])
        auth = headers.get("authorization", "")
        if auth[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(auth[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return False
            password = decoded.partition(":")[2]
            return bool(password) and hmac.compare_digest(password.encode(),
                                                          self.inbound_secret.encode())
        return False

    def parse_inbound(self, raw_body: bytes, headers: Mapping[str, str]
                      ) -> InboundMessage | None:
        try:
            data = json.loads(raw_body)
        except ValueError as exc:
            raise ChannelPayloadError("body is not JSON") from exc
        if not isinstance(data, dict):
            raise ChannelPayloadError("body is not a JSON object")
        name, address = parseaddr(str(data.get("from") or ""))
        if "@" not in address:
            raise ChannelPayloadError("from: not an email address")
        message_id = _message_id(data.get("message_id"))
        if message_id is None:
            raise ChannelPayloadError("message_id: required")
        subject = str(data.get("subject") or "")
        extra = data.get("headers")
        auto = str(extra.get("Auto-Submitted", extra.get("auto-submitted", "no"))) \
            if isinstance(extra, dict) else "no"
        if (address.lower() == self.sender_address or _NO_REPLY.match(address)
                or auto.lower() != "no" or _AUTO_SUBJECT.match(subject)):
            return None  # our own mail, bounces and auto-replies: never answer (mail loops)
        text = strip_quoted(str(data.get("text") or ""))
        if not text:
            return None
        in_reply_to = _message_id(data.get("in_reply_to"))
        references = _references(data.get("references"))
        related = tuple(dict.fromkeys(r for r in (in_reply_to, *reversed(references)) if r))
        return InboundMessage(
            text=text, sender_id=address.lower(),
            thread_key=references[0] if references else in_reply_to or message_id,
            reply_target={"to": address, "name": name, "subject": subject,
                          "message_id": message_id, "references": references},
            event_id=message_id, message_key=message_id, related=related)

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.smtp_host, self.smtp_port,
                                                  timeout=self.timeout_s,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=self.timeout_s)
        try:
            if self.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
        except Exception:
            smtp.close()
            raise
        return smtp

    def build_message(self, outbound: OutboundMessage) -> EmailMessage:
        target = outbound.target
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = formataddr((target["name"], target["to"])) if target.get("name") \
            else target["to"]
        message["Subject"] = reply_subject(target.get("subject", ""))
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain=self.domain)
        message["In-Reply-To"] = f"<{target['message_id']}>"
        references = [*target.get("references", []), target["message_id"]][-20:]
        message["References"] = " ".join(f"<{r}>" for r in references)
        message["Auto-Submitted"] = "auto-replied"
        message.set_content(outbound.text, cte="quoted-printable")
        return message

    def send(self, outbound: OutboundMessage) -> str | None:
        message = self.build_message(outbound)
        with self._connect() as smtp:
            smtp.send_message(message)
        return _message_id(message["Message-ID"])
