"""The Postgres path, on a real PostgreSQL server (conftest's `postgres_server`: a throwaway
cluster for the session, a fresh database for each test).

The specifications of the SQLite suites that concern the database are imported and run
again here, with `SUPPORTGRAPH_DATABASE_URL` pointing at Postgres (as a deployment sets
it) and the seeded shop `engine` on Postgres: exactly-once actions under concurrency,
approvals, a restart with a pending confirmation (over HTTP too), GDPR export and
erasure. The tests written here cover what only Postgres can get wrong. Every test skips,
with the reason, where no PostgreSQL server can be started."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel
from test_actions_api import (  # noqa: F401  (fixture and tests, run here on Postgres)
    settings,
    test_a_pending_confirmation_survives_a_restart,
)
from test_gdpr import (  # noqa: F401
    Stored,
    runner,
    stored,
    test_delete_erases_conversations_and_anonymises_what_accounting_keeps,
    test_export_holds_everything_stored_about_the_customer,
)
from test_persistence import (  # noqa: F401
    open_runtime,
    refunds,
    restart_settings,
    test_a_restart_loses_nothing_and_a_pending_confirmation_resumes,
    test_the_history_api_reads_the_stored_messages_after_a_restart,
)
from test_tools_exactly_once import (  # noqa: F401
    backend,
    service,
    test_approval_flow_executes_once,
    test_backend_turns_duplicate_insert_into_first_result,
    test_concurrent_approvals_execute_once,
    test_concurrent_different_refunds_never_exceed_paid,
    test_twenty_concurrent_identical_executions_refund_once,
)

from channels.app import create_app
from channels.base import ChannelStore
from conftest import seeded_shop_engine, serve_app
from knowledge.embeddings import Embedder
from supportgraph.checkpoints import Checkpoints
from supportgraph.cli import app
from supportgraph.conversations import ConversationStatus, ConversationStore
from supportgraph.db import init_db, make_engine
from supportgraph.runtime import DEMO_BOT_CONFIG, SupportRuntime
from supportgraph.settings import Settings
from tools.records import Ticket
from tools.service import ActionService


@pytest.fixture(autouse=True)
def database_url(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every `Settings()` made by a test here (and the CLI) uses the test's database."""
    monkeypatch.setenv("SUPPORTGRAPH_DATABASE_URL", postgres_url)
    return postgres_url


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    """The demo shop seeded for SHOP_TODAY on Postgres (conftest's is SQLite)."""
    engine = seeded_shop_engine(postgres_url)
    yield engine
    engine.dispose()


def test_the_imported_specifications_run_on_postgres(
        restart_settings: Settings, settings: Settings,  # noqa: F811  (imported fixtures)
        engine: Engine, postgres_url: str, demo_runtime: SupportRuntime) -> None:
    assert restart_settings.database_url_resolved == postgres_url
    assert settings.database_url_resolved == postgres_url
    assert engine.dialect.name == "postgresql"
    # the session's demo runtime was made before this test's environment: still SQLite
    assert demo_runtime.engine.dialect.name == "sqlite"


def test_a_postgres_url_creates_every_table_and_init_db_is_idempotent(
        postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    init_db(engine)
    init_db(engine)
    assert engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
    assert set(inspect(engine).get_table_names()) == set(SQLModel.metadata.tables)
    engine.dispose()


def test_the_conversation_store_records_and_reads_turns_without_duplicates(
        postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    init_db(engine)
    store = ConversationStore(engine)
    lines = [{"role": "customer", "text": "hello"},
             {"role": "bot", "text": "Hi!", "citations": [{"doc_id": "en/returns"}]}]
    assert store.record_turn("c1", lines, channel="web",  # type: ignore[arg-type]
                             customer_id="cus_001", language="en", intent="greeting") == 2
    assert store.record_turn("c1", lines) == 0  # type: ignore[arg-type]
    more = [*lines, {"role": "customer", "text": "bye"}, {"role": "bot", "text": "Bye!"}]
    threads = [threading.Thread(target=store.record_turn, args=("c1", more),
                                kwargs={"handoff": True}) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    messages = store.messages("c1")
    assert [(m["seq"], m["role"], m["text"]) for m in messages] == [
        (0, "customer", "hello"), (1, "bot", "Hi!"), (2, "customer", "bye"), (3, "bot", "Bye!")]
    assert messages[1]["citations"] == [{"doc_id": "en/returns"}]
    assert all(m["created_at"].endswith("+00:00") for m in messages)
    conversation = store.get("c1")
    assert conversation is not None
    assert (conversation.customer_id, conversation.status, conversation.last_intent) == (
        "cus_001", ConversationStatus.WAITING_HUMAN, "greeting")
    assert conversation.created_at.utcoffset() is not None
    assert [c.id for c in store.list()] == ["c1"]
    engine.dispose()


def test_erasure_leaves_no_trace_of_the_customer_in_any_postgres_row(
        stored: Stored, postgres_url: str) -> None:  # noqa: F811  (the imported fixture)
    result = runner.invoke(app, ["customer", "delete", "cus_001", "--yes",
                                 "--data-dir", str(stored.data_dir)])
    assert result.exit_code == 0, result.output
    engine = make_engine(postgres_url)
    with engine.connect() as conn:
        rows = [row for table in SQLModel.metadata.tables
                for row in conn.execute(text(f'SELECT t::text FROM "{table}" t')).scalars()]
    engine.dispose()
    assert any("cus_002" in row for row in rows)  # someone else's data is all there
    for trace in ("cus_001", stored.email, stored.name):
        assert not [row for row in rows if trace in row], f"{trace!r} is still stored"


def test_instances_starting_together_on_a_fresh_database_all_create_the_tables(
        postgres_url: str) -> None:
    engines = [make_engine(postgres_url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    errors: list[Exception] = []

    def start(engine: Engine) -> None:
        barrier.wait()
        try:
            init_db(engine)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert set(inspect(engines[0]).get_table_names()) == set(SQLModel.metadata.tables)
    for engine in engines:
        engine.dispose()


def test_a_handoff_ticket_keeps_a_customer_id_as_long_as_the_api_accepts(
        engine: Engine, service: ActionService) -> None:  # noqa: F811
    customer_id = "auth0|" + "7" * 122  # MessageIn.customer_id: max_length=128
    ticket = service.handoff_to_human("conv-long-id", "please help", customer_id=customer_id)
    with Session(engine) as session:
        row = session.get(Ticket, ticket["id"])
    assert row is not None and row.customer_id == customer_id


def test_a_webhook_thread_of_the_longest_accepted_id_is_linked(engine: Engine) -> None:
    store = ChannelStore(engine)
    thread = "t" * 256  # WebhookIn.conversation_id: max_length=256
    store.link("webhook", thread, thread)
    assert store.find_thread("webhook", [thread]) == thread


def test_a_message_with_a_nul_character_gets_a_reply_and_is_stored(
        restart_settings: Settings, embedder: Embedder) -> None:  # noqa: F811
    runtime = open_runtime(restart_settings, embedder)
    try:
        with serve_app(create_app(runtime)) as base:
            reply = httpx.post(f"{base}/v1/conversations/nul-1/messages", timeout=60,
                               json={"text": "I want to talk to a human\u0000 please"})
        assert reply.status_code == 200, reply.text
        assert reply.json()["intent"]["route"] == "handoff"
        stored_texts = [m["text"] for m in runtime.conversations.messages("nul-1")]
        assert stored_texts[0] == "I want to talk to a human please"
    finally:
        runtime.close()


def test_checkpoints_live_in_postgres_so_another_instance_resumes_the_conversation(
        tmp_path: Path, embedder: Embedder, intent_cache: Path) -> None:
    def instance(name: str) -> Settings:  # its own data directory, the shared database
        return Settings(data_dir=tmp_path / name, bot_config=DEMO_BOT_CONFIG,
                        intent_cache_dir=intent_cache, guard_classifier=False)

    first = open_runtime(instance("a"), embedder, seed=True)
    try:
        assert first.checkpoints.backend == "postgres"
        ask = first.agent.ask("I want a refund for order CL-100101", customer_id="cus_001")
        assert ask.awaiting_confirmation
    finally:
        first.close()
    assert not (tmp_path / "a" / "checkpoints.sqlite").exists()

    second = open_runtime(instance("b"), embedder)
    try:
        assert second.agent.awaiting_confirmation(ask.conversation_id)
        done = second.agent.ask("yes", ask.conversation_id, customer_id="cus_001")
        assert done.action and done.action["status"] == "executed"
        assert refunds(second, "CL-100101")
    finally:
        second.close()


def test_instances_starting_together_all_set_up_the_checkpoint_tables(
        tmp_path: Path, postgres_url: str) -> None:
    instance = Settings(data_dir=tmp_path / "data")
    barrier = threading.Barrier(4)
    opened: list[Checkpoints] = []
    errors: list[Exception] = []

    def start() -> None:
        barrier.wait()
        try:
            opened.append(Checkpoints(instance, pool_size=2))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(opened) == 4
    config = {"configurable": {"thread_id": "never-used"}}
    assert all(c.saver.get_tuple(config) is None for c in opened)  # type: ignore[arg-type]
    for checkpoints in opened:
        checkpoints.close()
    engine = make_engine(postgres_url)
    assert {"checkpoints", "checkpoint_writes"} <= set(inspect(engine).get_table_names())
    engine.dispose()
