"""The Slack channel over real HTTP: Slack's signed Events API requests into a uvicorn server
running the demo runtime, replies through chat.postMessage to a fake Slack Web API server
on 127.0.0.1 that speaks Slack's request/response format and records every call."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from channels.base import ChannelStore, OutboundMessage, conversation_id_for
from channels.registry import mount_channels
from channels.slack import SlackApiError, SlackChannel
from conftest import serve_app, wait_for
from supportgraph.runtime import SupportRuntime

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
TEAM = "T0SLACK01"
BOT_USER = "U0BOT0001"
PUBLIC_URL = "https://support.example.com"
QUESTION = "How long do I have to return an item?"


class FakeSlack:
    """chat.postMessage as Slack serves it: bearer token, JSON body, `ok` envelopes,
    HTTP 429 with Retry-After when rate limited."""

    def __init__(self) -> None:
        self.posted: list[dict[str, Any]] = []
        self.attempts: list[dict[str, Any]] = []
        self.rate_limit_next = 0
        self.app = FastAPI()

        @self.app.post("/api/chat.postMessage")
        async def post_message(request: Request) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return JSONResponse({"ok": False, "error": "not_authed"})
            if not request.headers.get("content-type", "").startswith("application/json"):
                return JSONResponse({"ok": False, "error": "invalid_form_data"})
            body = await request.json()
            self.attempts.append(body)
            if self.rate_limit_next > 0:
                self.rate_limit_next -= 1
                return JSONResponse({"ok": False, "error": "ratelimited"}, status_code=429,
                                    headers={"Retry-After": "1"})
            if body.get("channel", "").startswith("CMISSING"):
                return JSONResponse({"ok": False, "error": "channel_not_found"})
            if not body.get("text"):
                return JSONResponse({"ok": False, "error": "no_text"})
            ts = f"{time.time():.6f}"
            self.posted.append(body)
            message = {"type": "message", "subtype": "bot_message", "text": body["text"],
                       "user": BOT_USER, "bot_id": "B0BOT0001", "ts": ts}
            if body.get("thread_ts"):
                message["thread_ts"] = body["thread_ts"]
            return JSONResponse({"ok": True, "channel": body["channel"], "ts": ts,
                                 "message": message})

    def posted_to(self, channel: str) -> list[dict[str, Any]]:
        return [p for p in self.posted if p["channel"] == channel]


@pytest.fixture(scope="module")
def slack() -> Iterator[tuple[FakeSlack, str]]:
    fake = FakeSlack()
    with serve_app(fake.app) as url:
        yield fake, f"{url}/api"


@pytest.fixture(scope="module")
def client(demo_runtime: SupportRuntime, slack: tuple[FakeSlack, str]
           ) -> Iterator[httpx.Client]:
    settings = SimpleNamespace(slack_signing_secret=SECRET, slack_bot_token=TOKEN,
                               slack_api_base=slack[1], public_url=PUBLIC_URL)
    app = FastAPI()
    mounted = mount_channels(app, demo_runtime, settings, store=ChannelStore())
    assert [c.name for c in mounted] == ["slack"]
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield http


def sign(body: bytes, timestamp: str, secret: str = SECRET) -> str:
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def post_event(client: httpx.Client, payload: dict[str, Any], *, timestamp: str | None = None,
               secret: str = SECRET, headers: dict[str, str] | None = None) -> httpx.Response:
    body = json.dumps(payload).encode()
    timestamp = timestamp or str(int(time.time()))
    return client.post("/channels/slack/events", content=body, headers={
        "Content-Type": "application/json", "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": sign(body, timestamp, secret), **(headers or {})})


def envelope(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "team_id": TEAM, "api_app_id": "A0APP0001",
            "event": {"event_ts": event.get("ts"), **event}, "type": "event_callback",
            "event_id": event_id, "event_time": int(time.time()),
            "authorizations": [{"enterprise_id": None, "team_id": TEAM, "user_id": BOT_USER,
                                "is_bot": True, "is_enterprise_install": False}],
            "is_ext_shared_channel": False, "event_context": "4-eyJldCI6Im1lc3NhZ2UifQ"}


def dm(channel: str, text: str, ts: str, **extra: Any) -> dict[str, Any]:
    return {"type": "message", "channel": channel, "user": "U0CUSTOMER1", "text": text,
            "ts": ts, "channel_type": "im", "client_msg_id": f"msg-{ts}", **extra}


def test_url_verification_returns_the_challenge(client: httpx.Client) -> None:
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    response = post_event(client, {"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
                                   "type": "url_verification", "challenge": challenge})
    assert response.status_code == 200
    assert response.json() == {"challenge": challenge}


def test_a_signed_dm_gets_one_cited_reply_in_that_dm(client: httpx.Client,
                                                    slack: tuple[FakeSlack, str],
                                                    demo_runtime: SupportRuntime) -> None:
    fake = slack[0]
    response = post_event(client, envelope(dm("D0DM00001", QUESTION, "1700000000.000100"),
                                           "Ev0DM0001"))
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    wait_for(lambda: bool(fake.posted_to("D0DM00001")))
    time.sleep(0.3)
    [posted] = fake.posted_to("D0DM00001")
    assert "thread_ts" not in posted  # a top-level DM is answered in the DM itself
    assert "30 days" in posted["text"]
    assert "Sources:" in posted["text"] and f"<{PUBLIC_URL}/help/en/" in posted["text"]
    history = demo_runtime.agent.history(conversation_id_for("slack", f"{TEAM}:D0DM00001"))
    assert [m["text"] for m in history if m["role"] == "customer"] == [QUESTION]

    # A reply inside a DM thread is answered in that thread.
    post_event(client, envelope(dm("D0DM00001", "Do you ship to Canada?", "1700000050.000200",
                                   thread_ts="1700000000.000100"), "Ev0DM0002"))
    wait_for(lambda: len(fake.posted_to("D0DM00001")) == 2)
    assert fake.posted_to("D0DM00001")[1]["thread_ts"] == "1700000000.000100"


def test_channel_mentions_start_a_thread_the_bot_then_follows(client: httpx.Client,
                                                             slack: tuple[FakeSlack, str]
                                                             ) -> None:
    fake = slack[0]
    channel = "C0PUBLIC01"
    top = {"type": "message", "channel": channel, "user": "U0CUSTOMER2",
           "text": "anyone know the return window?", "ts": "1700000100.000100",
           "channel_type": "channel"}
    assert post_event(client, envelope(top, "Ev0CH0001")).json()["status"] == "ignored"
    mention = {"type": "app_mention", "channel": channel, "user": "U0CUSTOMER2",
               "text": f"<@{BOT_USER}> {QUESTION}", "ts": "1700000200.000100"}
    assert post_event(client, envelope(mention, "Ev0CH0002")).json()["status"] == "accepted"
    # The same message delivered as a `message` event is the same message: no second reply.
    as_message = {**mention, "type": "message", "channel_type": "channel"}
    assert post_event(client, envelope(as_message, "Ev0CH0003")).json()["status"] == "duplicate"
    wait_for(lambda: bool(fake.posted_to(channel)))
    assert fake.posted_to(channel)[0]["thread_ts"] == "1700000200.000100"
    assert "30 days" in fake.posted_to(channel)[0]["text"]
    follow_up = {"type": "message", "channel": channel, "user": "U0CUSTOMER2",
                 "text": "And do you deliver to Canada?", "ts": "1700000300.000100",
                 "thread_ts": "1700000200.000100", "channel_type": "channel"}
    assert post_event(client, envelope(follow_up, "Ev0CH0004")).json()["status"] == "accepted"
    wait_for(lambda: len(fake.posted_to(channel)) == 2)
    assert fake.posted_to(channel)[1]["thread_ts"] == "1700000200.000100"


def test_forged_and_stale_signatures_are_rejected(client: httpx.Client,
                                                 slack: tuple[FakeSlack, str]) -> None:
    payload = envelope(dm("D0FORGED1", QUESTION, "1700000400.000100"), "Ev0BAD0001")
    forged = post_event(client, payload, secret="not-the-signing-secret")
    assert forged.status_code == 401
    assert forged.headers["content-type"].startswith("application/problem+json")
    assert forged.json()["code"] == "invalid_signature"
    stale = post_event(client, payload, timestamp=str(int(time.time()) - 6 * 60))
    assert stale.status_code == 401
    unsigned = client.post("/channels/slack/events", json=payload)
    assert unsigned.status_code == 401
    body = json.dumps(payload).encode()
    now = str(int(time.time()))
    tampered = client.post("/channels/slack/events", content=body.replace(b"D0FORGED1",
                                                                          b"D0FORGED2"),
                           headers={"X-Slack-Request-Timestamp": now,
                                    "X-Slack-Signature": sign(body, now)})
    assert tampered.status_code == 401
    time.sleep(0.5)
    assert not slack[0].posted_to("D0FORGED1") and not slack[0].posted_to("D0FORGED2")


def test_a_retried_event_is_answered_once(client: httpx.Client,
                                          slack: tuple[FakeSlack, str]) -> None:
    fake = slack[0]
    payload = envelope(dm("D0RETRY01", QUESTION, "1700000500.000100"), "Ev0RETRY01")
    assert post_event(client, payload).json()["status"] == "accepted"
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert post_event(client, payload, headers=retry).json()["status"] == "duplicate"
    wait_for(lambda: bool(fake.posted_to("D0RETRY01")))
    retry = {"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_timeout"}
    assert post_event(client, payload, headers=retry).json()["status"] == "duplicate"
    time.sleep(1.0)
    assert len(fake.posted_to("D0RETRY01")) == 1


@pytest.mark.parametrize("event", [
    {"type": "message", "subtype": "bot_message", "bot_id": "B0OTHER01", "text": QUESTION,
     "channel": "D0IGNORE1", "channel_type": "im", "ts": "1700000600.000100"},
    {"type": "message", "bot_id": "B0BOT0001", "user": BOT_USER, "text": QUESTION,
     "channel": "D0IGNORE1", "channel_type": "im", "ts": "1700000600.000200"},
    {"type": "message", "subtype": "message_changed", "channel": "D0IGNORE1",
     "channel_type": "im", "ts": "1700000600.000300", "hidden": True,
     "message": {"type": "message", "user": "U0CUSTOMER1", "text": QUESTION,
                 "ts": "1700000500.000100"}},
    {"type": "message", "subtype": "message_deleted", "channel": "D0IGNORE1",
     "channel_type": "im", "ts": "1700000600.000400", "deleted_ts": "1700000500.000100"},
], ids=["bot_message", "own_message", "message_changed", "message_deleted"])
def test_bot_messages_and_edits_are_ignored(client: httpx.Client, slack: tuple[FakeSlack, str],
                                            event: dict[str, Any]) -> None:
    response = post_event(client, envelope(event, f"Ev0IGN{event['ts'][-3:]}"))
    assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert not slack[0].posted_to("D0IGNORE1")


def test_rate_limits_are_waited_out_and_api_errors_raised(slack: tuple[FakeSlack, str]) -> None:
    fake, api = slack
    channel = SlackChannel(SECRET, TOKEN, api)
    inbound_target = {"channel": "D0LIMIT01", "thread_ts": "1700000700.000100"}
    outbound = OutboundMessage(conversation_id="slack-x", text="Hello & <welcome>",
                               reply="Hello", citations=[], target=inbound_target,
                               inbound=None)  # type: ignore[arg-type]
    fake.rate_limit_next = 1
    started = time.monotonic()
    channel.send(outbound)
    assert time.monotonic() - started >= 0.9  # waited for Retry-After: 1
    assert len([a for a in fake.attempts if a["channel"] == "D0LIMIT01"]) == 2
    [posted] = fake.posted_to("D0LIMIT01")
    assert posted["thread_ts"] == "1700000700.000100" and posted["text"] == "Hello & <welcome>"
    missing = OutboundMessage(conversation_id="slack-x", text="hi", reply="hi", citations=[],
                              target={"channel": "CMISSING1"}, inbound=None)  # type: ignore[arg-type]
    with pytest.raises(SlackApiError, match="channel_not_found"):
        channel.send(missing)
    with pytest.raises(SlackApiError, match="not_authed"):
        SlackChannel(SECRET, "xoxb-wrong", api).send(missing)


def test_replies_are_escaped_for_slack_mrkdwn() -> None:
    channel = SlackChannel(SECRET, TOKEN)
    channel.public_url = PUBLIC_URL
    text = channel.render("Returns take **30 days** for items < 50€ & more [1].",
                          [{"index": 1, "title": "Returns | Refunds", "source": "/help/en/r"}])
    assert text.startswith("Returns take *30 days* for items &lt; 50€ &amp; more [1].")
    assert text.endswith(f"Sources:\n[1] <{PUBLIC_URL}/help/en/r|Returns / Refunds>")
