"""Conversations, their messages and channel identities in the relational database.

The LangGraph checkpointer keeps what the graph needs to resume a turn (including a
pending confirmation); these tables keep what people and other systems read: the
transcript (customer, bot and human-agent messages), each conversation's status for
the agent inbox, and which channel thread (a Slack thread, an email thread, a webhook
caller's id) is which conversation. They live in the main database: SQLite in the data
directory by default, Postgres with `SUPPORTGRAPH_DATABASE_URL=postgresql+psycopg://...`.

A message's `seq` is its position in the conversation (the graph's message list), and
(conversation_id, seq) is unique: writing a turn again (a retry, a replay) inserts
nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypedDict

from sqlalchemy import DateTime, Dialect, Text, TypeDecorator, UniqueConstraint, func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from agents.pii import mask_pii


class _UTC(TypeDecorator[datetime]):
    """A timezone-aware timestamp, always read back in UTC (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def _timestamp() -> Any:
    return Field(default_factory=_now, sa_type=_UTC(), nullable=False)


class ConversationStatus:
    """Values of `Conversation.status`."""

    OPEN = "open"
    WAITING_HUMAN = "waiting_human"
    """Handed off (asked for a human, or an action failed): listed in the agent inbox."""
    CLOSED = "closed"
    ALL = frozenset({OPEN, WAITING_HUMAN, CLOSED})


class Conversation(SQLModel, table=True):
    """One conversation, on whichever channel it started."""

    __tablename__ = "conversation"

    id: str = Field(primary_key=True, max_length=64)
    channel: str = Field(default="web", max_length=32, index=True)
    """`web` (the widget and the REST API), or a channel's name (slack, email, webhook)."""
    customer_id: str | None = Field(default=None, max_length=128, index=True)
    language: str = Field(default="en", max_length=8)
    status: str = Field(default=ConversationStatus.OPEN, max_length=16, index=True)
    last_intent: str = Field(default="", max_length=64)
    summary: str = Field(default="", sa_type=Text)
    created_at: datetime = _timestamp()
    updated_at: datetime = Field(default_factory=_now, sa_type=_UTC(), nullable=False,
                                 index=True)


class ConversationMessage(SQLModel, table=True):
    """One message of a conversation: from the customer, the bot or a human agent."""

    __tablename__ = "conversation_message"
    __table_args__ = (UniqueConstraint("conversation_id", "seq",
                                       name="uq_conversation_message_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(foreign_key="conversation.id", max_length=64, index=True)
    seq: int
    role: str = Field(max_length=16)
    """customer, bot or agent."""
    author: str = Field(default="", max_length=128)
    """The human agent's name for `agent` messages."""
    text: str = Field(sa_type=Text)
    citations_json: str = Field(default="[]", sa_type=Text)
    channel_message_id: str | None = Field(default=None, max_length=255)
    created_at: datetime = _timestamp()


class ChannelIdentity(SQLModel, table=True):
    """A channel's thread or message key -> the conversation it belongs to, and where
    replies to that thread go (so a human agent's reply leaves by the same channel)."""

    __tablename__ = "channel_identity"

    channel: str = Field(primary_key=True, max_length=32)
    external_id: str = Field(primary_key=True, max_length=255)
    """A thread key (Slack channel+thread, first Message-ID, webhook conversation id) or
    the key of one message in it (an email's Message-ID, a sent reply's id)."""
    thread_key: str = Field(sa_type=Text)
    """The whole thread key, however long the channel's ids are (a webhook's conversation
    id, an e-mail's first Message-ID): the conversation id is derived from it."""
    conversation_id: str = Field(max_length=64, index=True)
    sender_id: str | None = Field(default=None, max_length=255)
    reply_target_json: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class ChannelEvent(SQLModel, table=True):
    """A delivery already handled (so a redelivered event is never answered twice)."""

    __tablename__ = "channel_event"

    channel: str = Field(primary_key=True, max_length=32)
    event_id: str = Field(primary_key=True, max_length=255)
    received_at: datetime = Field(default_factory=_now, sa_type=_UTC(), nullable=False,
                                  index=True)


class TranscriptLine(TypedDict, total=False):
    role: str
    """customer, bot or agent."""
    text: str
    citations: list[dict[str, Any]]
    author: str
    seq: int
    created_at: str


class ConversationStore:
    """Reads and writes conversations and their messages (one short transaction each).

    With `mask_pii` (the default, setting `transcript_pii=mask`) the emails, phone numbers,
    card numbers, IBANs and addresses in message texts and summaries are replaced by
    placeholders before they are written: the transcript people read and export never
    holds them. The turn itself still ran on the original text.
    """

    def __init__(self, engine: Engine, *, mask_pii: bool = True) -> None:
        self.engine = engine
        self.mask_pii = mask_pii

    def _stored(self, text: str) -> str:
        return mask_pii(text).text if self.mask_pii else text

    def record_turn(self, conversation_id: str, transcript: Sequence[TranscriptLine], *,
                    channel: str | None = None, customer_id: str | None = None,
                    language: str | None = None, intent: str | None = None,
                    handoff: bool = False) -> int:
        """Store the messages of `transcript` (the whole conversation, oldest first) not
        stored yet, and update the conversation; returns how many messages were added."""
        for _ in range(3):
            try:
                return self._record(conversation_id, transcript, channel, customer_id,
                                    language, intent, handoff)
            except IntegrityError:
                continue  # a concurrent write of the same turn won: read again
        return 0

    def _record(self, conversation_id: str, transcript: Sequence[TranscriptLine],
                channel: str | None, customer_id: str | None, language: str | None,
                intent: str | None, handoff: bool) -> int:
        now = _now()
        with Session(self.engine) as session:
            conversation = session.get(Conversation, conversation_id)
            if conversation is None:
                conversation = Conversation(id=conversation_id, channel=channel or "web",
                                            created_at=now)
                session.add(conversation)
                stored = -1
            else:
                top = session.exec(select(func.max(ConversationMessage.seq)).where(
                    ConversationMessage.conversation_id == conversation_id)).one()
                stored = -1 if top is None else int(top)
            if customer_id:
                conversation.customer_id = customer_id
            if language:
                conversation.language = language
            if intent:
                conversation.last_intent = intent[:64]
            if handoff:
                conversation.status = ConversationStatus.WAITING_HUMAN
            elif conversation.status == ConversationStatus.CLOSED and any(
                    line["role"] == "customer" for line in transcript[stored + 1:]):
                conversation.status = ConversationStatus.OPEN
            conversation.updated_at = now
            added = 0
            for seq in range(stored + 1, len(transcript)):
                line = transcript[seq]
                session.add(ConversationMessage(
                    conversation_id=conversation_id, seq=seq, role=line["role"],
                    author=line.get("author", "")[:128], text=self._stored(line["text"]),
                    citations_json=json.dumps(line.get("citations") or [], ensure_ascii=False),
                    created_at=now))
                added += 1
            session.add(conversation)
            session.commit()
            return added

    def messages(self, conversation_id: str) -> list[TranscriptLine]:
        with Session(self.engine) as session:
            rows = session.exec(select(ConversationMessage)
                                .where(ConversationMessage.conversation_id == conversation_id)
                                .order_by(col(ConversationMessage.seq))).all()
        return [TranscriptLine(role=r.role, text=r.text, citations=json.loads(r.citations_json),
                               author=r.author, seq=r.seq, created_at=r.created_at.isoformat())
                for r in rows]

    def get(self, conversation_id: str) -> Conversation | None:
        with Session(self.engine) as session:
            return session.get(Conversation, conversation_id)

    def list(self, status: str | None = ConversationStatus.WAITING_HUMAN, limit: int = 50
             ) -> list[Conversation]:
        """Conversations with that status (all when None), most recently active first."""
        with Session(self.engine) as session:
            query = select(Conversation).order_by(col(Conversation.updated_at).desc())
            if status is not None:
                query = query.where(Conversation.status == status)
            return list(session.exec(query.limit(limit)).all())

    def update(self, conversation_id: str, *, status: str | None = None,
               summary: str | None = None) -> bool:
        """Change a conversation's status or summary; False when there is no such one."""
        with Session(self.engine) as session:
            conversation = session.get(Conversation, conversation_id)
            if conversation is None:
                return False
            if status is not None:
                conversation.status = status
                conversation.updated_at = _now()
            if summary is not None:
                conversation.summary = self._stored(summary)
            session.add(conversation)
            session.commit()
            return True

    def set_channel_message_id(self, conversation_id: str, seq: int, message_id: str) -> None:
        with Session(self.engine) as session:
            row = session.exec(select(ConversationMessage).where(
                ConversationMessage.conversation_id == conversation_id,
                ConversationMessage.seq == seq)).first()
            if row is not None:
                row.channel_message_id = message_id[:255]
                session.add(row)
                session.commit()
