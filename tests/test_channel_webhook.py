"""The generic webhook channel over real HTTP (signed JSON in, signed reply POSTed to a local
receiver), and channel discovery: built-ins, entry points, enabling by settings."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator, Mapping
from importlib.metadata import EntryPoint
from types import SimpleNamespace
from typing import Any, ClassVar

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import channels.registry as registry
from channels.base import (
    Channel,
    ChannelStore,
    InboundMessage,
    OutboundMessage,
    conversation_id_for,
    handle,
)
from channels.registry import available_channels, enabled_channels, mount_channels
from conftest import serve_app, wait_for
from supportgraph.runtime import SupportRuntime

SECRET = "webhook-secret-91ab"
QUESTION = "How long do I have to return an item?"


def signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Receiver:
    """The customer's system: records each delivery; fails the first `fail_next` ones."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.fail_next = 0
        self.app = FastAPI()

        @self.app.post("/hooks/supportgraph")
        async def receive(request: Request) -> JSONResponse:
            if self.fail_next > 0:
                self.fail_next -= 1
                return JSONResponse({"error": "busy"}, status_code=503)
            self.deliveries.append((dict(request.headers), await request.body()))
            return JSONResponse({"received": True})

    def for_conversation(self, conversation_id: str) -> list[tuple[dict[str, str], dict]]:
        return [(h, json.loads(b)) for h, b in self.deliveries
                if json.loads(b)["conversation_id"] == conversation_id]


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver()
    with serve_app(rec.app) as url:
        yield rec, f"{url}/hooks/supportgraph"


@pytest.fixture(scope="module")
def client(demo_runtime: SupportRuntime, receiver: tuple[Receiver, str]
           ) -> Iterator[httpx.Client]:
    settings = SimpleNamespace(webhook_url=receiver[1], webhook_secret=SECRET)
    app = FastAPI()
    assert [c.name for c in mount_channels(app, demo_runtime, settings,
                                           store=ChannelStore())] == ["webhook"]
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield http


def post_signed(client: httpx.Client, payload: dict[str, Any], secret: str = SECRET
                ) -> httpx.Response:
    body = json.dumps(payload).encode()
    return client.post("/channels/webhook/inbound", content=body,
                       headers={"Content-Type": "application/json",
                                "X-Supportgraph-Signature": signature(body, secret)})


def test_a_signed_message_gets_a_signed_reply_at_the_configured_url(
        client: httpx.Client, receiver: tuple[Receiver, str],
        demo_runtime: SupportRuntime) -> None:
    rec = receiver[0]
    response = post_signed(client, {"conversation_id": "crm-ticket-4711", "text": QUESTION,
                                    "message_id": "m-1"})
    assert response.status_code == 202 and response.json()["status"] == "accepted"
    wait_for(lambda: bool(rec.for_conversation("crm-ticket-4711")))
    [(headers, reply)] = rec.for_conversation("crm-ticket-4711")
    raw = next(b for h, b in rec.deliveries if h is headers)
    assert headers["x-supportgraph-signature"] == signature(raw)
    assert headers["content-type"] == "application/json" and headers["x-supportgraph-delivery"]
    assert reply["event"] == "reply" and reply["in_reply_to"] == "m-1"
    assert "30 days" in reply["text"] and "Sources:" not in reply["text"]
    assert reply["citations"] and reply["citations"][0]["doc_id"].startswith("en/")
    assert reply["awaiting_confirmation"] is False and reply["language"] == "en"
    conversation = conversation_id_for("webhook", "crm-ticket-4711")
    assert reply["supportgraph_conversation_id"] == conversation
    # The same external conversation continues the same supportgraph conversation.
    post_signed(client, {"conversation_id": "crm-ticket-4711", "message_id": "m-2",
                         "text": "Which countries do you not deliver to?"})
    wait_for(lambda: len(rec.for_conversation("crm-ticket-4711")) == 2)
    assert len(demo_runtime.agent.history(conversation)) == 4
    # A redelivered message is not answered again.
    assert post_signed(client, {"conversation_id": "crm-ticket-4711", "text": QUESTION,
                                "message_id": "m-1"}).json()["status"] == "duplicate"
    time.sleep(0.5)
    assert len(rec.for_conversation("crm-ticket-4711")) == 2


def test_a_failing_receiver_is_retried_with_the_same_delivery_id(
        client: httpx.Client, receiver: tuple[Receiver, str]) -> None:
    rec = receiver[0]
    rec.fail_next = 1
    post_signed(client, {"conversation_id": "crm-ticket-4712", "text": QUESTION})
    wait_for(lambda: bool(rec.for_conversation("crm-ticket-4712")))
    assert rec.fail_next == 0 and len(rec.for_conversation("crm-ticket-4712")) == 1


def test_unsigned_forged_and_malformed_requests_are_refused(client: httpx.Client) -> None:
    payload = {"conversation_id": "crm-ticket-4713", "text": QUESTION}
    assert client.post("/channels/webhook/inbound", json=payload).status_code == 401
    forged = post_signed(client, payload, secret="guessed")
    assert forged.status_code == 401 and forged.json()["code"] == "invalid_signature"
    assert forged.headers["content-type"].startswith("application/problem+json")
    for bad in ({"text": QUESTION}, {"conversation_id": "x", "text": ""},
                {"conversation_id": "x", "text": "hi", "customer_id": "c" * 200}):
        response = post_signed(client, bad)
        assert response.status_code == 400 and response.json()["code"] == "invalid_payload"
    body = b"{not json"
    broken = client.post("/channels/webhook/inbound", content=body,
                         headers={"X-Supportgraph-Signature": signature(body)})
    assert broken.status_code == 400


class EchoChannel(Channel):
    """A minimal custom channel, as a plugin would register it."""

    name = "echo"
    sent: ClassVar[list[OutboundMessage]] = []

    @classmethod
    def from_settings(cls, settings: Any) -> EchoChannel | None:
        return cls() if getattr(settings, "echo_enabled", False) else None

    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        return headers.get("x-echo-token") == "t"

    def parse_inbound(self, raw_body: bytes, headers: Mapping[str, str]
                      ) -> InboundMessage | None:
        data = json.loads(raw_body)
        return InboundMessage(text=data["text"], sender_id="u", thread_key=data["thread"],
                              reply_target={}, event_id=data.get("id"))

    def send(self, outbound: OutboundMessage) -> str | None:
        self.sent.append(outbound)
        return None


def test_entry_point_channels_are_discovered_and_enabled_by_settings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ep = EntryPoint(name="echo", value=f"{__name__}:EchoChannel",
                    group="supportgraph.channels")
    broken = EntryPoint(name="broken", value="no_such_module_xyz:Thing",
                        group="supportgraph.channels")
    monkeypatch.setattr(registry, "entry_points",
                        lambda group: [ep, broken] if group == "supportgraph.channels" else [])
    assert set(available_channels()) == {"slack", "email", "webhook", "echo"}
    assert enabled_channels(SimpleNamespace()) == []
    enabled = enabled_channels(SimpleNamespace(echo_enabled=True, webhook_url="http://x",
                                               webhook_secret="s", slack_bot_token="only-one"))
    assert sorted(c.name for c in enabled) == ["echo", "webhook"]
    app = FastAPI()
    mount_channels(app, SimpleNamespace(agent=None), SimpleNamespace(echo_enabled=True),
                   store=ChannelStore())
    paths = {getattr(r, "path", "") for r in app.routes}
    assert "/channels/echo/inbound" in paths and "/channels/slack/events" not in paths


async def test_handle_answers_synchronously_without_background(
        demo_runtime: SupportRuntime) -> None:
    channel = EchoChannel()
    store = ChannelStore()
    body = json.dumps({"text": QUESTION, "thread": "t-1", "id": "e-1"}).encode()
    assert (await handle(channel, demo_runtime, body, {"X-Echo-Token": "nope"},
                         store=store)).status == "rejected"
    result = await handle(channel, demo_runtime, body, {"X-Echo-Token": "t"}, store=store)
    assert result.status == "replied"
    assert result.conversation_id == conversation_id_for("echo", "t-1")
    [sent] = [s for s in EchoChannel.sent if s.conversation_id == result.conversation_id]
    assert "30 days" in sent.reply and sent.text.startswith(sent.reply.rstrip())
    assert "\nSources:\n[1] " in sent.text and "/help/en/" in sent.text
    again = await handle(channel, demo_runtime, body, {"X-Echo-Token": "t"}, store=store)
    assert again.status == "duplicate"
