"""Slack through the Events API: signed event callbacks in, chat.postMessage out.

The bot answers every direct message (a top-level DM continues one conversation per DM
channel; a DM thread is its own conversation) and, in channels, messages that mention it;
it then follows that thread, replying in it. Bot messages and edits are ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

import httpx

from channels.base import Channel, ChannelPayloadError, InboundMessage, OutboundMessage

log = logging.getLogger("supportgraph.channels.slack")

MAX_SKEW_S = 300
HANDLED_SUBTYPES = {None, "file_share", "thread_broadcast"}
_SLACK_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")
_MD_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+|/[^)\s]*)\)")
_MD_BOLD = re.compile(r"\*\*(.+?)\*\*")


class SlackApiError(RuntimeError):
    """chat.postMessage answered `ok: false` (or kept rate limiting)."""


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str) -> str:
    """Slack's inbound markup as plain text: <url|label> -> label, entities decoded."""
    def link(m: re.Match[str]) -> str:
        target, label = m.group(1), m.group(2)
        if target.startswith(("@", "#", "!")):
            return label or ""
        return label or target.removeprefix("mailto:")

    return html.unescape(_SLACK_LINK.sub(link, text))


class SlackChannel(Channel):
    name = "slack"
    route = "events"

    def __init__(self, signing_secret: str, bot_token: str,
                 api_base: str = "https://slack.com/api", timeout_s: float = 10.0,
                 max_retry_after_s: float = 30.0, max_attempts: int = 4) -> None:
        self.signing_secret = signing_secret
        self.bot_token = bot_token
        self.api_base = api_base.rstrip("/")
        self.timeout_s = timeout_s
        self.max_retry_after_s = max_retry_after_s
        self.max_attempts = max_attempts

    @classmethod
    def from_settings(cls, settings: Any) -> SlackChannel | None:
        secret = getattr(settings, "slack_signing_secret", None)
        token = getattr(settings, "slack_bot_token", None)
        if not (secret and token):
            return None
        return cls(secret, token,
                   getattr(settings, "slack_api_base", None) or "https://slack.com/api",
                   float(getattr(settings, "channels_timeout_s", None) or 10.0))

    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        timestamp = headers.get("x-slack-request-timestamp", "")
        given = headers.get("x-slack-signature", "")
        try:
            sent_at = int(timestamp)
        except ValueError:
            return False
        if abs(time.time() - sent_at) > MAX_SKEW_S:
            return False
        expected = slack_signature(self.signing_secret, timestamp, raw_body)
        return hmac.compare_digest(expected.encode(), given.encode())

    @staticmethod
    def _payload(raw_body: bytes) -> dict[str, Any]:
        try:
            payload = json.loads(raw_body)
        except ValueError as exc:
            raise ChannelPayloadError("body is not JSON") from exc
        if not isinstance(payload, dict):
            raise ChannelPayloadError("body is not a JSON object")
        return payload

    def handshake(self, headers: Mapping[str, str], raw_body: bytes) -> dict[str, Any] | None:
        payload = self._payload(raw_body)
        if payload.get("type") == "url_verification":
            return {"challenge": str(payload.get("challenge", ""))}
        return None

    def parse_inbound(self, raw_body: bytes, headers: Mapping[str, str]
                      ) -> InboundMessage | None:
        payload = self._payload(raw_body)
        if payload.get("type") != "event_callback":
            return None
        event = payload.get("event")
        if not isinstance(event, dict) or event.get("type") not in {"message", "app_mention"}:
            return None
        if event.get("bot_id") or event.get("subtype") not in HANDLED_SUBTYPES:
            return None
        authorizations = payload.get("authorizations") or [{}]
        bot_user = authorizations[0].get("user_id") if isinstance(authorizations[0], dict) \
            else None
        user, channel, ts = event.get("user"), event.get("channel"), event.get("ts")
        if not (user and channel and ts) or user == bot_user:
            return None
        raw_text = str(event.get("text") or "")
        mentioned = event.get("type") == "app_mention" or \
            bool(bot_user and f"<@{bot_user}" in raw_text)
        if bot_user:
            raw_text = re.sub(rf"<@{re.escape(bot_user)}(\|[^>]*)?>", " ", raw_text)
        text = " ".join(_plain(raw_text).split())
        if not text:
            return None
        team = payload.get("team_id") or event.get("team") or ""
        thread_ts = event.get("thread_ts")
        if event.get("channel_type") == "im":
            thread_key = f"{team}:{channel}:{thread_ts}" if thread_ts else f"{team}:{channel}"
            reply_in = thread_ts
            requires_known = False
        else:
            thread_key = f"{team}:{channel}:{thread_ts or ts}"
            reply_in = thread_ts or ts
            requires_known = not mentioned
        return InboundMessage(
            text=text, sender_id=str(user), thread_key=thread_key,
            reply_target={"channel": channel, "thread_ts": reply_in},
            # A message's identity, not the delivery's: Slack retries (X-Slack-Retry-Num)
            # and an app_mention duplicating a message event are the same message.
            event_id=f"{team}:{channel}:{ts}", requires_known_thread=requires_known)

    def format_link(self, title: str, url: str) -> str:
        if url.startswith(("http://", "https://")):
            return f"<{url}|{_escape(title).replace('|', '/')}>"
        return f"{_escape(title)} ({_escape(url)})" if url else _escape(title)

    def render(self, reply: str, citations: Any) -> str:
        text = _escape(reply)
        text = _MD_BOLD.sub(r"*\1*", text)
        text = _MD_LINK.sub(lambda m: self.format_link(m.group(1), m.group(2)), text)
        return super().render(text, citations)

    def send(self, outbound: OutboundMessage) -> str | None:
        body: dict[str, Any] = {"channel": outbound.target["channel"], "text": outbound.text,
                                "unfurl_links": False, "unfurl_media": False}
        if outbound.target.get("thread_ts"):
            body["thread_ts"] = outbound.target["thread_ts"]
        headers = {"Authorization": f"Bearer {self.bot_token}"}
        with httpx.Client(timeout=self.timeout_s) as client:
            for _ in range(self.max_attempts):
                response = client.post(f"{self.api_base}/chat.postMessage", json=body,
                                       headers=headers)
                if response.status_code == 429:
                    # Rate limited: Slack did not post it, so waiting and retrying is safe.
                    try:
                        wait = float(response.headers.get("retry-after", "1"))
                    except ValueError:
                        wait = 1.0
                    time.sleep(min(max(wait, 0.0), self.max_retry_after_s))
                    continue
                response.raise_for_status()
                data = response.json()
                if not data.get("ok"):
                    raise SlackApiError(f"chat.postMessage: {data.get('error', 'unknown')}")
                return None
        raise SlackApiError("chat.postMessage: still rate limited")
