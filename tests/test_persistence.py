"""Conversations, messages and channel identities in the database: a restart (a new
runtime on the same data directory) loses nothing, and a conversation resumes where it
was, including a pending confirmation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable
from sqlmodel import Session, SQLModel, col, select

from channels.app import create_app
from channels.base import ChannelStore, InboundMessage, conversation_id_for
from conftest import serve_app
from knowledge.embeddings import Embedder
from supportgraph.conversations import (
    ChannelEvent,
    ChannelIdentity,
    Conversation,
    ConversationMessage,
    ConversationStatus,
    ConversationStore,
)
from supportgraph.db import init_db, make_engine
from supportgraph.runtime import DEMO_BOT_CONFIG, SupportRuntime
from supportgraph.settings import Settings
from tools.shop.models import Order, Refund
from tools.shop.seed import seed_demo_shop


@pytest.fixture
def restart_settings(tmp_path: Path, intent_cache: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", bot_config=DEMO_BOT_CONFIG,
                    intent_cache_dir=intent_cache)


def open_runtime(settings: Settings, embedder: Embedder, seed: bool = False) -> SupportRuntime:
    runtime = SupportRuntime(settings, embedder=embedder)
    if seed:
        with Session(runtime.engine) as session:
            seed_demo_shop(session)
            session.commit()
    return runtime


def refunds(runtime: SupportRuntime, number: str) -> list[Refund]:
    with Session(runtime.engine) as session:
        order = session.exec(select(Order).where(Order.number == number)).one()
        return list(session.exec(select(Refund).where(Refund.order_id == order.id)))


def test_a_restart_loses_nothing_and_a_pending_confirmation_resumes(
        restart_settings: Settings, embedder: Embedder) -> None:
    first = open_runtime(restart_settings, embedder, seed=True)
    try:
        ask = first.agent.ask("I want a refund for order CL-100101", customer_id="cus_001")
        assert ask.awaiting_confirmation
        cid = ask.conversation_id
    finally:
        first.close()

    second = open_runtime(restart_settings, embedder)
    try:
        assert second.agent.awaiting_confirmation(cid)
        before = second.agent.history(cid)
        assert [m["role"] for m in before] == ["customer", "assistant"]
        assert before[0]["text"] == "I want a refund for order CL-100101"
        assert "CL-100101" in before[1]["text"]
        done = second.agent.ask("yes", cid, customer_id="cus_001")
        assert done.action and done.action["status"] == "executed"
        assert refunds(second, "CL-100101")
        with Session(second.engine) as session:
            conversation = session.get(Conversation, cid)
            rows = session.exec(select(ConversationMessage).where(
                ConversationMessage.conversation_id == cid)
                .order_by(col(ConversationMessage.seq))).all()
        assert conversation is not None
        assert (conversation.channel, conversation.customer_id, conversation.language,
                conversation.status) == ("web", "cus_001", "en", ConversationStatus.OPEN)
        assert conversation.last_intent == done.intent["label"]
        assert [(r.seq, r.role) for r in rows] == [(0, "customer"), (1, "bot"),
                                                   (2, "customer"), (3, "bot")]
        assert rows[3].text == done.reply
    finally:
        second.close()


def test_the_history_api_reads_the_stored_messages_after_a_restart(
        restart_settings: Settings, embedder: Embedder) -> None:
    first = open_runtime(restart_settings, embedder, seed=True)
    try:
        cid = first.agent.ask("I want to talk to a human please").conversation_id
    finally:
        first.close()
    second = open_runtime(restart_settings, embedder)
    try:
        with serve_app(create_app(second)) as base:
            history = httpx.get(f"{base}/v1/conversations/{cid}/messages").json()
            missing = httpx.get(f"{base}/v1/conversations/nope/messages")
        assert [m["role"] for m in history["messages"]] == ["customer", "assistant"]
        assert history["messages"][0]["text"] == "I want to talk to a human please"
        assert missing.status_code == 404 and missing.json()["code"] == "conversation_not_found"
        waiting = second.conversations.list(ConversationStatus.WAITING_HUMAN)
        assert [c.id for c in waiting] == [cid]
    finally:
        second.close()


def test_a_retried_or_concurrent_write_of_a_turn_never_duplicates_a_message(
        tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    init_db(engine)
    store = ConversationStore(engine)
    lines = [{"role": "customer", "text": "hello"}, {"role": "bot", "text": "Hi!"}]
    assert store.record_turn("c1", lines, channel="web") == 2  # type: ignore[arg-type]
    assert store.record_turn("c1", lines) == 0  # type: ignore[arg-type]
    more = [*lines, {"role": "customer", "text": "bye"}, {"role": "bot", "text": "Bye!"}]
    threads = [threading.Thread(target=store.record_turn, args=("c1", more)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [(m["seq"], m["text"]) for m in store.messages("c1")] == [
        (0, "hello"), (1, "Hi!"), (2, "bye"), (3, "Bye!")]
    engine.dispose()


def test_channel_identities_and_handled_events_survive_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = make_engine(url)
    init_db(engine)
    store = ChannelStore(engine)
    message = InboundMessage(text="hi", sender_id="ann@example.com", thread_key="m1@x",
                             reply_target={"to": "ann@example.com", "message_id": "m1@x"},
                             event_id="m1@x", message_key="m1@x")
    assert store.claim("email", "m1@x")
    store.link("email", "m1@x", "m1@x")
    store.remember_reply_target("email", "m1@x", message)
    store.link("email", "reply-1@bot", "m1@x")
    engine.dispose()

    reopened = make_engine(url)
    again = ChannelStore(reopened)
    assert not again.claim("email", "m1@x")
    assert again.find_thread("email", ["unknown", "reply-1@bot"]) == "m1@x"
    cid = conversation_id_for("email", "m1@x")
    assert again.reply_route(cid) == ("email", "m1@x", "ann@example.com",
                                      {"to": "ann@example.com", "message_id": "m1@x"})
    with Session(reopened) as session:
        rows = session.exec(select(ChannelIdentity)).all()
    assert {(r.external_id, r.conversation_id) for r in rows} == {("m1@x", cid),
                                                                  ("reply-1@bot", cid)}
    assert not (tmp_path / "channels.sqlite").exists()
    reopened.dispose()


def test_the_tables_are_valid_postgres_and_a_postgres_url_makes_an_engine() -> None:
    for model in (Conversation, ConversationMessage, ChannelIdentity, ChannelEvent):
        table = SQLModel.metadata.tables[str(model.__tablename__)]
        ddl = str(CreateTable(table).compile(dialect=postgresql.dialect()))
        assert ddl.startswith("\nCREATE TABLE")
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install psycopg)")
    settings = Settings(database_url="postgresql+psycopg://sg:pw@db.internal:5432/support")
    engine = make_engine(settings.database_url_resolved)
    assert engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
    engine.dispose()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ConversationStore]:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    init_db(engine)
    yield ConversationStore(engine)
    engine.dispose()


def test_a_closed_conversation_reopens_when_the_customer_writes_again(
        store: ConversationStore) -> None:
    store.record_turn("c2", [{"role": "customer", "text": "help"}], handoff=True)
    assert store.get("c2").status == ConversationStatus.WAITING_HUMAN  # type: ignore[union-attr]
    assert store.update("c2", status=ConversationStatus.CLOSED)
    store.record_turn("c2", [{"role": "customer", "text": "help"},
                             {"role": "bot", "text": "ok"}])
    assert store.get("c2").status == ConversationStatus.CLOSED  # type: ignore[union-attr]
    store.record_turn("c2", [{"role": "customer", "text": "help"}, {"role": "bot", "text": "ok"},
                             {"role": "customer", "text": "one more thing"}])
    assert store.get("c2").status == ConversationStatus.OPEN  # type: ignore[union-attr]
    assert not store.update("missing", status=ConversationStatus.CLOSED)
