"""The email channel over real HTTP and SMTP: parsed inbound emails POSTed (as an inbound
parse provider does) to a uvicorn server running the demo runtime; replies sent by SMTP
to an aiosmtpd server on 127.0.0.1 that requires AUTH and records each message."""

from __future__ import annotations

import base64
import email
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from email.message import Message
from email.policy import default as default_policy
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from fastapi import FastAPI

from channels.base import ChannelStore, conversation_id_for
from channels.email import reply_subject, strip_quoted
from channels.registry import mount_channels
from conftest import free_port, serve_app, wait_for
from supportgraph.runtime import SupportRuntime

SECRET = "inbound-secret-7c1e"
SENDER = "Cedar Lane Support <support@cedarlane.example>"
PUBLIC_URL = "https://support.example.com"
QUESTION = "How long do I have to return an item?"
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


class Mailbox:
    """An aiosmtpd handler keeping what it was sent."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[tuple[Any, Message]]:
        return [(e, email.message_from_bytes(e.content, policy=default_policy))
                for e in self.envelopes if address in e.rcpt_tos]


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                  auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"bot" \
        and auth_data.password == b"smtp-pass"
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port(),
                            authenticator=_authenticate, auth_required=True,
                            auth_require_tls=False)
    controller.start()
    yield box, controller.port
    controller.stop()


@pytest.fixture(scope="module")
def client(demo_runtime: SupportRuntime, mailbox: tuple[Mailbox, int]
           ) -> Iterator[httpx.Client]:
    settings = SimpleNamespace(email_smtp_host="127.0.0.1", email_smtp_port=mailbox[1],
                               email_smtp_security="none", email_smtp_username="bot",
                               email_smtp_password="smtp-pass", email_from=SENDER,
                               email_inbound_secret=SECRET, public_url=PUBLIC_URL)
    app = FastAPI()
    assert [c.name for c in mount_channels(app, demo_runtime, settings,
                                           store=ChannelStore())] == ["email"]
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield http


def basic(password: str = SECRET) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"postmark:{password}".encode()
                                                         ).decode()}


def post_email(client: httpx.Client, payload: dict[str, Any],
               headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post("/channels/email/inbound", json=payload,
                       headers=basic() if headers is None else headers)


FIRST_BODY = f"""{QUESTION}

Thanks,
Jane

--
Jane Doe
Sent from my iPhone

On Mon, 2 Mar 2026 at 09:14, Cedar Lane Support <support@cedarlane.example> wrote:
> Hello, how can we help?
"""


def test_an_email_gets_a_threaded_smtp_reply_and_follow_ups_stay_in_it(
        client: httpx.Client, mailbox: tuple[Mailbox, int],
        demo_runtime: SupportRuntime) -> None:
    box = mailbox[0]
    first = {"from": "Jane Doe <jane@example.com>", "to": "support@cedarlane.example",
             "subject": "Returns question", "text": FIRST_BODY,
             "message_id": "<CAF1rst.0001@mail.example.com>"}
    response = post_email(client, first)
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    wait_for(lambda: bool(box.to("jane@example.com")))
    [(envelope, reply)] = box.to("jane@example.com")
    assert envelope.mail_from == "support@cedarlane.example"
    assert reply["From"] == SENDER and reply["To"] == "Jane Doe <jane@example.com>"
    assert reply["Subject"] == "Re: Returns question"
    assert reply["In-Reply-To"] == "<CAF1rst.0001@mail.example.com>"
    assert reply["References"] == "<CAF1rst.0001@mail.example.com>"
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["Message-ID"].endswith("@cedarlane.example>")
    part = reply.get_body(preferencelist=("plain",))
    assert part is not None and part["Content-Type"].startswith("text/plain")
    body = part.get_content().replace("\r\n", "\n")
    assert "30 days" in body and "\nSources:\n[1] " in body and f"{PUBLIC_URL}/help/en/" in body
    conversation = conversation_id_for("email", "CAF1rst.0001@mail.example.com")
    history = demo_runtime.agent.history(conversation)
    assert [m["text"] for m in history if m["role"] == "customer"] == [
        f"{QUESTION}\n\nThanks,\nJane"]

    # The customer answers the bot's reply: same conversation, headers carry the chain.
    ours = reply["Message-ID"]
    second = {"from": "jane@example.com", "to": "support@cedarlane.example",
              "subject": "RE: Re: Returns question",
              "text": "Which countries do you not deliver to?\n\n"
                      "Le lun. 2 mars 2026 à 09:20, Cedar Lane Support\n"
                      "<support@cedarlane.example> a écrit :\n> Returns are accepted…",
              "message_id": "CAF2nd.0002@mail.example.com", "in_reply_to": ours,
              "references": f"<CAF1rst.0001@mail.example.com> {ours}"}
    assert post_email(client, second).json()["status"] == "accepted"
    wait_for(lambda: len(box.to("jane@example.com")) == 2)
    reply2 = box.to("jane@example.com")[1][1]
    assert reply2["Subject"] == "RE: Re: Returns question"
    assert reply2["In-Reply-To"] == "<CAF2nd.0002@mail.example.com>"
    assert reply2["References"].split() == ["<CAF1rst.0001@mail.example.com>", ours,
                                            "<CAF2nd.0002@mail.example.com>"]
    # A client that only sends In-Reply-To (to the bot's last reply) still threads.
    third = {"from": "jane@example.com", "to": "support@cedarlane.example",
             "subject": "Re: Returns question", "text": "Thank you!",
             "message_id": "<CAF3rd.0003@mail.example.com>",
             "in_reply_to": reply2["Message-ID"]}
    assert post_email(client, third).json()["status"] == "accepted"
    wait_for(lambda: len(box.to("jane@example.com")) == 3)
    customer_turns = [m["text"] for m in demo_runtime.agent.history(conversation)
                      if m["role"] == "customer"]
    assert customer_turns[1:] == ["Which countries do you not deliver to?", "Thank you!"]

    # The provider redelivers the first email: no second reply.
    assert post_email(client, first).json()["status"] == "duplicate"
    time.sleep(0.5)
    assert len(box.to("jane@example.com")) == 3


def test_inbound_email_must_be_authenticated(client: httpx.Client) -> None:
    payload = {"from": "mallory@example.com", "to": "support@cedarlane.example",
               "subject": "hi", "text": QUESTION, "message_id": "<spoof@example.com>"}
    assert post_email(client, payload, headers={}).status_code == 401
    assert post_email(client, payload, headers=basic("wrong")).status_code == 401
    assert post_email(client, payload, headers={"Authorization": "Basic !!"}).status_code == 401
    body = json.dumps({**payload, "message_id": "<signed@example.com>",
                       "from": "signed@example.com"}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    signed = client.post("/channels/email/inbound", content=body,
                         headers={"Content-Type": "application/json",
                                  "X-Supportgraph-Signature": signature})
    assert signed.status_code == 200 and signed.json()["status"] == "accepted"
    forged = client.post("/channels/email/inbound", content=body.replace(b"hi", b"yo"),
                         headers={"X-Supportgraph-Signature": signature})
    assert forged.status_code == 401 and forged.json()["code"] == "invalid_signature"


@pytest.mark.parametrize("payload", [
    {"from": "mailer-daemon@mx.example.com", "subject": "Undelivered Mail"},
    {"from": "Support <support@cedarlane.example>", "subject": "Re: loop"},
    {"from": "bob@example.com", "subject": "Automatic reply: Returns question"},
    {"from": "bob@example.com", "subject": "Re: x", "headers": {"Auto-Submitted": "auto-replied"}},
    {"from": "bob@example.com", "subject": "Re: x", "text": "> only quoted history"},
], ids=["bounce", "own_address", "out_of_office", "auto_submitted", "nothing_new"])
def test_bounces_auto_replies_and_empty_mails_are_ignored(client: httpx.Client,
                                                          payload: dict[str, Any]) -> None:
    message = {"to": "support@cedarlane.example", "text": QUESTION,
               "message_id": f"<ign-{payload['subject'][:8]}-{len(payload)}@x>", **payload}
    response = post_email(client, message)
    assert response.status_code == 200 and response.json()["status"] == "ignored"


def test_malformed_emails_are_problems(client: httpx.Client) -> None:
    no_sender = post_email(client, {"to": "support@cedarlane.example", "text": QUESTION,
                                    "message_id": "<a@b>"})
    assert no_sender.status_code == 400 and no_sender.json()["code"] == "invalid_payload"
    no_id = post_email(client, {"from": "a@example.com", "text": QUESTION})
    assert no_id.status_code == 400 and "message_id" in no_id.json()["detail"]


@pytest.mark.parametrize(("body", "expected"), [
    ("Where is my order?\n\nOn Tue, Mar 3, 2026 at 10:00 AM Cedar Lane Support <\n"
     "support@cedarlane.example> wrote:\n\n> Your order shipped.\n> Thanks", "Where is my order?"),
    ("Où est ma commande ?\r\n\r\nLe mar. 3 mars 2026 à 10:00, Support "
     "<support@cedarlane.example> a\u00a0écrit\u00a0:\r\n> Votre commande", "Où est ma commande ?"),
    ("Please cancel it.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\n\nOld text",
     "Please cancel it."),
    ("Please cancel it.\n\n________________________________\nFrom: Support <s@x>\n"
     "Sent: Monday, March 2, 2026 9:00 AM\nTo: Jane\nSubject: Re: order", "Please cancel it."),
    ("Refund please.\nFrom: Support <s@x>\nSent: Monday\nTo: Jane", "Refund please."),
    ("Refund please.\n\n-- \nJane Doe\nACME Corp", "Refund please."),
    ("Refund please.\n\nSent from my iPhone", "Refund please."),
    ("Remboursement svp.\n\nEnvoyé de mon iPhone", "Remboursement svp."),
    ("> quoted first\nMy inline answer\n> more quoted\nsecond line",
     "My inline answer\nsecond line"),
    ("On my way to the store I broke it. Can I return it?",
     "On my way to the store I broke it. Can I return it?"),
], ids=["gmail_two_lines", "french_crlf_nbsp", "outlook_original", "outlook_rule",
        "outlook_header_block", "sig_dash", "iphone", "iphone_fr", "interleaved", "not_a_quote"])
def test_quoted_history_and_signatures_are_stripped(body: str, expected: str) -> None:
    assert strip_quoted(body) == expected


def test_reply_subjects() -> None:
    assert reply_subject("Returns question") == "Re: Returns question"
    assert reply_subject("Re: Returns") == "Re: Returns"
    assert reply_subject("AW: Rücksendung") == "AW: Rücksendung"
    assert reply_subject("  ") == "Re: your message"
