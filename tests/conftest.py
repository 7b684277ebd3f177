"""Shared fixtures: the real embedding model (loaded once), real Qdrant and SQLite in temp dirs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")

from knowledge.embeddings import Embedder, make_embedder
from supportgraph.runtime import (
    DEMO_HELP_URL,
    DEMO_HELPCENTER,
    KnowledgeServices,
    SupportRuntime,
)
from supportgraph.settings import BotConfig, Settings

DATA = Path(__file__).parent / "data"


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
def demo_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("demo") / "data")


@pytest.fixture(scope="session")
def demo_runtime(demo_settings: Settings, embedder: Embedder) -> Iterator[SupportRuntime]:
    """The demo help centre ingested once for the whole session."""
    runtime = SupportRuntime(demo_settings, embedder=embedder)
    runtime.knowledge.ingestor.ingest_paths([DEMO_HELPCENTER], base_url=DEMO_HELP_URL)
    yield runtime
    runtime.close()
