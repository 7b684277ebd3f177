"""What every messaging channel (Slack, email, a webhook, your own) plugs into.

A channel verifies and parses an inbound HTTP request into an `InboundMessage`, and
sends an `OutboundMessage`. `handle` is the glue between a channel and the agent:
verify -> parse -> map the channel's thread to a conversation id -> claim the event
(so a retried delivery never gets a second reply) -> run the turn in a worker thread
-> send the reply.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from fastapi import BackgroundTasks
from fastapi.concurrency import run_in_threadpool

from agents.support_agent import SupportAgent

log = logging.getLogger("supportgraph.channels")

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


class RuntimeLike(Protocol):
    agent: SupportAgent


class ChannelPayloadError(ValueError):
    """The request was authentic but its payload is not one this channel understands."""


@dataclass(frozen=True)
class InboundMessage:
    """One customer message as a channel received it.

    `thread_key` names the channel's thread (a Slack channel+thread, an email thread's
    first Message-ID, a webhook caller's conversation id); `related` are keys of earlier
    messages that, when already seen, decide the thread instead (an email's In-Reply-To
    and References). `event_id` identifies the delivery for de-duplication.
    """

    text: str
    sender_id: str
    thread_key: str
    reply_target: dict[str, Any]
    event_id: str | None = None
    message_key: str | None = None
    related: tuple[str, ...] = ()
    customer_id: str | None = None
    requires_known_thread: bool = False
    """Only answer when the thread is already a conversation (a Slack thread the bot is in)."""


@dataclass(frozen=True)
class OutboundMessage:
    """The agent's reply, addressed back to where the inbound message came from."""

    conversation_id: str
    text: str
    """The reply as the channel shows it: with a "Sources:" list for text channels."""
    reply: str
    citations: list[dict[str, Any]]
    target: dict[str, Any]
    inbound: InboundMessage
    language: str = "en"
    awaiting_confirmation: bool = False


class Channel(ABC):
    """A messaging channel. Subclass it, then register the class under the
    `supportgraph.channels` entry point group (see channels/registry.py)."""

    name: ClassVar[str]
    route: ClassVar[str] = "inbound"
    """The POST route is /channels/{name}/{route}."""
    appends_sources: ClassVar[bool] = True
    """Whether replies get the citations appended as a "Sources:" list."""
    accepted_status: ClassVar[int] = 200
    max_body_bytes: ClassVar[int] = 1_000_000
    public_url: str | None = None
    """Base URL that makes relative citation links (/help/...) absolute."""

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Any) -> Channel | None:
        """The configured channel, or None when its settings are absent (not enabled)."""

    @abstractmethod
    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        """Whether the request is authentic. Header names are lower-case."""

    @abstractmethod
    def parse_inbound(self, raw_body: bytes, headers: Mapping[str, str]
                      ) -> InboundMessage | None:
        """The customer message, or None for events to ignore. Raise ChannelPayloadError
        for a malformed payload."""

    @abstractmethod
    def send(self, outbound: OutboundMessage) -> str | None:
        """Deliver a reply (called in a worker thread). May return the sent message's id,
        which is then linked to the conversation so replies to it thread correctly."""

    def handshake(self, headers: Mapping[str, str], raw_body: bytes) -> dict[str, Any] | None:
        """A response to send at once instead of handling a message (Slack's
        url_verification); None for ordinary requests."""
        return None

    def format_link(self, title: str, url: str) -> str:
        return f"{title} — {url}" if url else title

    def render(self, reply: str, citations: Sequence[Mapping[str, Any]]) -> str:
        """The reply text, with a numbered "Sources:" list when there are citations."""
        if not self.appends_sources or not citations:
            return reply
        lines = [reply.rstrip(), "", "Sources:"]
        for i, c in enumerate(citations, 1):
            title = str(c.get("title") or c.get("doc_id") or "source")
            lines.append(f"[{c.get('index', i)}] "
                         + self.format_link(title, absolute_url(self.public_url,
                                                                str(c.get("source") or ""))))
        return "\n".join(lines)


def absolute_url(base: str | None, source: str) -> str:
    if base and source.startswith("/"):
        return base.rstrip("/") + source
    return source


def conversation_id_for(channel: str, thread_key: str) -> str:
    """The supportgraph conversation id of a channel's thread: deterministic, opaque and
    valid for the API (^[A-Za-z0-9_-]{1,64}$)."""
    digest = hashlib.sha256(f"{channel}\x00{thread_key}".encode()).hexdigest()[:40]
    prefix = _UNSAFE.sub("", channel)[:20] or "channel"
    return f"{prefix}-{digest}"


def hmac_sha256(secret: str, body: bytes) -> str:
    """`sha256=<hex>` as in X-Supportgraph-Signature."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(hmac_sha256(secret, body), given or "")


class ChannelStore:
    """Which events were answered and which thread each message belongs to, in SQLite
    (a file in the data directory, so it outlives restarts; in memory without one)."""

    def __init__(self, path: Path | str = ":memory:", retention_s: float = 7 * 86400) -> None:
        if isinstance(path, Path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10)
        self._lock = threading.Lock()
        with self._lock, self._conn:
            self._conn.execute("CREATE TABLE IF NOT EXISTS channel_events (channel TEXT, "
                               "event_id TEXT, at REAL, PRIMARY KEY (channel, event_id))")
            self._conn.execute("CREATE TABLE IF NOT EXISTS channel_threads (channel TEXT, "
                               "message_key TEXT, thread_key TEXT, at REAL, "
                               "PRIMARY KEY (channel, message_key))")
            self._conn.execute("DELETE FROM channel_events WHERE at < ?",
                               (time.time() - retention_s,))

    @classmethod
    def for_settings(cls, settings: Any) -> ChannelStore:
        data_dir = getattr(settings, "data_dir", None)
        return cls(Path(data_dir) / "channels.sqlite") if data_dir else cls()

    def claim(self, channel: str, event_id: str) -> bool:
        """True the first time an event is seen, False for a redelivery."""
        with self._lock, self._conn:
            cur = self._conn.execute("INSERT OR IGNORE INTO channel_events VALUES (?, ?, ?)",
                                     (channel, event_id, time.time()))
            return cur.rowcount == 1

    def release(self, channel: str, event_id: str) -> None:
        """Forget an event that got no reply, so a redelivery can be answered."""
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM channel_events WHERE channel = ? AND event_id = ?",
                               (channel, event_id))

    def find_thread(self, channel: str, keys: Sequence[str]) -> str | None:
        with self._lock:
            for key in keys:
                row = self._conn.execute("SELECT thread_key FROM channel_threads WHERE "
                                         "channel = ? AND message_key = ?",
                                         (channel, key)).fetchone()
                if row:
                    return str(row[0])
        return None

    def link(self, channel: str, message_key: str, thread_key: str) -> None:
        with self._lock, self._conn:
            self._conn.execute("INSERT OR IGNORE INTO channel_threads VALUES (?, ?, ?, ?)",
                               (channel, message_key, thread_key, time.time()))

    def close(self) -> None:
        self._conn.close()


@dataclass
class HandleResult:
    status: Literal["rejected", "invalid", "handshake", "ignored", "duplicate", "accepted",
                    "replied", "failed"]
    body: dict[str, Any] = field(default_factory=dict)
    conversation_id: str | None = None
    detail: str = ""


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _conversation_lock(conversation_id: str) -> threading.Lock:
    """One turn at a time per conversation, so replies go out in order."""
    with _locks_guard:
        if len(_locks) > 10_000:
            for key in [k for k, lock in _locks.items() if not lock.locked()]:
                del _locks[key]
        return _locks.setdefault(conversation_id, threading.Lock())


_default_store: ChannelStore | None = None


def _store(store: ChannelStore | None) -> ChannelStore:
    global _default_store
    if store is not None:
        return store
    if _default_store is None:
        _default_store = ChannelStore()
    return _default_store


async def handle(channel: Channel, runtime: RuntimeLike, raw_body: bytes,
                 headers: Mapping[str, str], *, store: ChannelStore | None = None,
                 background: BackgroundTasks | None = None) -> HandleResult:
    """Verify, parse and answer one inbound request. With `background`, the turn and the
    reply run after the response is sent (the result is then "accepted")."""
    headers = {k.lower(): v for k, v in headers.items()}
    if not channel.verify(headers, raw_body):
        return HandleResult("rejected", detail="signature verification failed")
    try:
        answer = channel.handshake(headers, raw_body)
        if answer is not None:
            return HandleResult("handshake", body=answer)
        message = channel.parse_inbound(raw_body, headers)
    except ChannelPayloadError as exc:
        return HandleResult("invalid", detail=str(exc))
    if message is None:
        return HandleResult("ignored")
    db = _store(store)
    keys = [message.thread_key, *message.related] if message.requires_known_thread \
        else [*message.related, message.thread_key]
    known = db.find_thread(channel.name, keys)
    if known is None and message.requires_known_thread:
        return HandleResult("ignored")
    thread = known or message.thread_key
    conversation_id = conversation_id_for(channel.name, thread)
    if message.event_id is not None and not db.claim(channel.name, message.event_id):
        log.info("%s: event %s already handled", channel.name, message.event_id)
        return HandleResult("duplicate", conversation_id=conversation_id)
    db.link(channel.name, thread, thread)
    if message.message_key:
        db.link(channel.name, message.message_key, thread)
    job = functools.partial(_answer, channel, runtime, message, conversation_id, thread, db)
    if background is not None:
        background.add_task(job)
        return HandleResult("accepted", conversation_id=conversation_id)
    replied = await run_in_threadpool(job)
    return HandleResult("replied" if replied else "failed", conversation_id=conversation_id)


def _answer(channel: Channel, runtime: RuntimeLike, message: InboundMessage,
            conversation_id: str, thread: str, db: ChannelStore) -> bool:
    with _conversation_lock(conversation_id):
        try:
            result = runtime.agent.ask(message.text, conversation_id, message.customer_id)
        except Exception:
            log.exception("%s: the agent failed on %s", channel.name, conversation_id)
            if message.event_id is not None:
                db.release(channel.name, message.event_id)
            return False
        if not result.reply.strip():
            return False
        citations = [dict(c) for c in result.citations]
        outbound = OutboundMessage(
            conversation_id=conversation_id, text=channel.render(result.reply, citations),
            reply=result.reply, citations=citations, target=message.reply_target,
            inbound=message, language=result.language,
            awaiting_confirmation=result.awaiting_confirmation)
        try:
            # Once sending starts the event stays claimed: a reply is never sent twice.
            sent_id = channel.send(outbound)
        except Exception:
            log.exception("%s: sending the reply in %s failed", channel.name, conversation_id)
            return False
        if sent_id:
            db.link(channel.name, sent_id, thread)
        return True
