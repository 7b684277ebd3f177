"""What every messaging channel (Slack, email, a webhook, your own) plugs into.

A channel verifies and parses an inbound HTTP request into an `InboundMessage`, and
sends an `OutboundMessage`. `handle` is the glue between a channel and the agent:
verify -> parse -> map the channel's thread to a conversation id -> claim the event
(so a retried delivery never gets a second reply) -> run the turn in a worker thread
-> send the reply.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import logging
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal, Protocol

from fastapi import BackgroundTasks
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import create_engine, delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, col, select

from agents.support_agent import SupportAgent
from supportgraph.conversations import ChannelEvent, ChannelIdentity

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
    return bool(given) and hmac.compare_digest(hmac_sha256(secret, body).encode(),
                                               (given or "").encode())


class ChannelStore:
    """Which events were answered and which thread each message belongs to, in the main
    database (`channel_event` and `channel_identity`, so they outlive restarts); in an
    in-memory SQLite database without an engine (tests, scripts)."""

    def __init__(self, engine: Engine | None = None, retention_s: float = 7 * 86400) -> None:
        if engine is None:
            engine = create_engine("sqlite://", poolclass=StaticPool,
                                   connect_args={"check_same_thread": False})
        self.engine = engine
        self._lock = threading.RLock()  # an in-memory database is one shared connection
        SQLModel.metadata.create_all(engine, tables=[
            SQLModel.metadata.tables[str(ChannelEvent.__tablename__)],
            SQLModel.metadata.tables[str(ChannelIdentity.__tablename__)]])
        cutoff = datetime.now(UTC) - timedelta(seconds=retention_s)
        with Session(engine) as session:
            session.execute(delete(ChannelEvent).where(col(ChannelEvent.received_at) < cutoff))
            session.commit()

    def claim(self, channel: str, event_id: str) -> bool:
        """True the first time an event is seen, False for a redelivery."""
        with self._lock, Session(self.engine) as session:
            session.add(ChannelEvent(channel=channel, event_id=event_id[:255]))
            try:
                session.commit()
            except IntegrityError:
                return False
        return True

    def release(self, channel: str, event_id: str) -> None:
        """Forget an event that got no reply, so a redelivery can be answered."""
        with self._lock, Session(self.engine) as session:
            session.execute(delete(ChannelEvent).where(col(ChannelEvent.channel) == channel,
                                                       col(ChannelEvent.event_id) == event_id))
            session.commit()

    def find_thread(self, channel: str, keys: Sequence[str]) -> str | None:
        with self._lock, Session(self.engine) as session:
            for key in keys:
                row = session.get(ChannelIdentity, (channel, key[:255]))
                if row is not None:
                    return row.thread_key
        return None

    def link(self, channel: str, message_key: str, thread_key: str) -> None:
        with self._lock, Session(self.engine) as session:
            if session.get(ChannelIdentity, (channel, message_key[:255])) is not None:
                return
            session.add(ChannelIdentity(channel=channel, external_id=message_key[:255],
                                        thread_key=thread_key,
                                        conversation_id=conversation_id_for(channel,
                                                                            thread_key)))
            with contextlib.suppress(IntegrityError):  # linked concurrently
                session.commit()

    def remember_reply_target(self, channel: str, thread_key: str,
                              message: InboundMessage) -> None:
        """Where replies to the thread go, for messages a human agent sends later."""
        with self._lock, Session(self.engine) as session:
            row = session.get(ChannelIdentity, (channel, thread_key[:255]))
            if row is None:
                return
            row.sender_id = message.sender_id[:255]
            row.reply_target_json = json.dumps(message.reply_target, ensure_ascii=False)
            row.updated_at = datetime.now(UTC)
            session.add(row)
            session.commit()

    def reply_route(self, conversation_id: str) -> tuple[str, str, str | None,
                                                         dict[str, Any]] | None:
        """(channel, thread key, sender id, reply target) of a channel conversation."""
        with self._lock, Session(self.engine) as session:
            row = session.exec(select(ChannelIdentity).where(
                col(ChannelIdentity.conversation_id) == conversation_id,
                col(ChannelIdentity.reply_target_json).is_not(None))
                .order_by(col(ChannelIdentity.updated_at).desc())).first()
        if row is None or row.reply_target_json is None:
            return None
        return row.channel, row.thread_key, row.sender_id, json.loads(row.reply_target_json)

    def close(self) -> None:
        """Nothing to release: the engine belongs to the runtime (kept for callers)."""


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
    db.remember_reply_target(channel.name, thread, message)
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
            result = runtime.agent.ask(message.text, conversation_id, message.customer_id,
                                       channel=channel.name)
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
