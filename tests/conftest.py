"""Shared fixtures: the real embedding model (loaded once), real Qdrant and SQLite in temp dirs."""

from __future__ import annotations

import os
import socket
import threading
import time
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
from sqlmodel import Session

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")

from agents.graph import build_graph
from agents.support_agent import SupportAgent
from knowledge.embeddings import Embedder, make_embedder
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
from tools.service import ActionService
from tools.shop.seed import seed_demo_shop

DATA = Path(__file__).parent / "data"
SHOP_TODAY = date(2026, 3, 15)
SHOP_NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
"""The fixed day the tool tests seed the demo shop for, so dates in policies are exact."""


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A real SQLite shop database seeded for SHOP_TODAY."""
    engine = make_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    init_db(engine)
    with Session(engine) as session:
        seed_demo_shop(session, today=SHOP_TODAY)
        session.commit()
    yield engine
    engine.dispose()


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
