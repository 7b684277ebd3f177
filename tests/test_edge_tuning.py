"""EdgeStore's index tuning: thresholds, lazy indexing, exact filtered search, the ingest hook.

Small synthetic collections (dim 16) with the thresholds scaled down, so the
optimizer really builds an HNSW graph and quantized vectors in a second or so.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from knowledge.documents import Document
from knowledge.edge_store import DEFAULT_TUNING, EdgeStore, EdgeTuning, _kb, edge_config
from knowledge.ingest import Ingestor
from knowledge.loaders import DocumentLoader
from knowledge.sparse import BM25Encoder
from knowledge.store import SearchFilter, SparseVector, StoredPoint

DIM = 16
N = 3_000
SMALL = EdgeTuning(full_scan_points=400, index_after_points=1_000)


def corpus(n: int, seed: int = 3) -> tuple[np.ndarray, list[StoredPoint]]:
    rng = np.random.default_rng(seed)
    dense = rng.standard_normal((n, DIM)).astype(np.float32)
    dense /= np.linalg.norm(dense, axis=1, keepdims=True)
    points = [
        StoredPoint(
            id=str(uuid.UUID(int=i + 1)),
            dense=dense[i].tolist(),
            sparse=SparseVector([i % 97, 100 + i % 13], [1.0, 2.0]),
            payload={
                "doc_id": f"doc-{i // 4}",
                "doc_hash": "h",
                "chunk_index": i % 4,
                "language": ("en", "fr")[i % 2],
                "tags": [f"t{i % 10}"],
                "tenant": "acme",
            },
        )
        for i in range(n)
    ]
    return dense, points


def exact_top(dense: np.ndarray, query: np.ndarray, keep: np.ndarray, k: int = 10) -> set[str]:
    scores = np.where(keep, dense @ query, -np.inf)
    return {str(uuid.UUID(int=int(i) + 1)) for i in np.argsort(-scores)[:k]}


def test_thresholds_are_points_converted_to_kb_of_dense_vectors() -> None:
    assert _kb(10_000, 384) == 15_000
    assert _kb(1, 8) == 1
    config = edge_config(384)
    assert config.hnsw_config is not None and config.optimizers is not None
    assert config.hnsw_config.full_scan_threshold == _kb(DEFAULT_TUNING.full_scan_points, 384)
    assert config.hnsw_config.payload_m == 0
    assert config.optimizers.indexing_threshold == _kb(DEFAULT_TUNING.index_after_points, 384)
    assert config.quantization_config is not None
    assert edge_config(384, EdgeTuning(quantize=False)).quantization_config is None


def test_optimize_if_needed_is_a_no_op_for_small_collections(tmp_path: Path) -> None:
    _, points = corpus(200)
    with EdgeStore(tmp_path / "shard", DIM) as store:
        store.upsert(points)
        started = time.perf_counter()
        assert store.optimize_if_needed() is False
        assert time.perf_counter() - started < 0.5


def test_lazy_index_keeps_search_exact_where_it_matters(tmp_path: Path) -> None:
    dense, points = corpus(N)
    rng = np.random.default_rng(5)
    with EdgeStore(tmp_path / "shard", DIM, tuning=SMALL) as store:
        store.upsert(points)
        assert store.optimize_if_needed() is True
        assert store.optimize_if_needed() is False  # nothing left past the thresholds
        assert store.count() == N

        language = np.array([p.payload["language"] for p in points])
        tags = np.array([p.payload["tags"][0] for p in points])
        recalls = []
        for q in range(20):
            query = dense[rng.integers(N)] + rng.standard_normal(DIM).astype(np.float32) * 0.1
            query /= np.linalg.norm(query)
            # ~150 matches, below full_scan_points: answered exactly from the payload index.
            search_filter = SearchFilter(language=("en", "fr")[q % 2], tags=(f"t{q % 10}",))
            keep = (language == search_filter.language) & (tags == search_filter.tags[0])
            hits = store.query(
                dense=query.tolist(),
                sparse=None,
                mode="dense",
                limit=10,
                search_filter=search_filter,
            )
            assert all(
                h.payload["language"] == search_filter.language
                and search_filter.tags[0] in h.payload["tags"]
                for h in hits
            )
            recalls.append(len({h.id for h in hits} & exact_top(dense, query, keep)) / 10)
            hybrid = store.query(
                dense=query.tolist(),
                sparse=SparseVector([q % 97], [1.0]),
                fusion="dbsf",
                search_filter=search_filter,
            )
            assert hybrid and all(h.payload["language"] == search_filter.language for h in hybrid)
        assert float(np.mean(recalls)) >= 0.95


def test_reopening_keeps_the_built_index(tmp_path: Path) -> None:
    _, points = corpus(N)
    with EdgeStore(tmp_path / "shard", DIM, tuning=SMALL) as store:
        store.upsert(points)
        store.optimize_if_needed()
    with EdgeStore(tmp_path / "shard", DIM, tuning=SMALL) as store:
        assert store.count() == N
        assert store.optimize_if_needed() is False


class _FakeEmbedder:
    name = "fake"
    texts_embedded = 0

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        self.texts_embedded += len(texts)
        rng = np.random.default_rng(len(texts))
        vectors = rng.standard_normal((len(texts), DIM)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class _RecordingStore(EdgeStore):
    optimize_calls = 0

    def optimize_if_needed(self) -> bool:
        self.optimize_calls += 1
        return super().optimize_if_needed()


@pytest.mark.parametrize("with_hook", [True, False])
def test_ingestor_calls_the_optimize_hook_when_the_store_has_one(
    tmp_path: Path, with_hook: bool
) -> None:
    docs = [
        Document(id=f"d{i}", title=f"Doc {i}", text=f"Refunds take {i} days.", source="s",
                 language="en")
        for i in range(3)
    ]
    store: Any = _RecordingStore(tmp_path / "shard", DIM)
    if not with_hook:
        store = _WithoutHook(store)
    ingestor = Ingestor(store, _FakeEmbedder(), BM25Encoder(), DocumentLoader())  # type: ignore[arg-type]
    report = ingestor.ingest_documents(docs)
    assert report.chunks_written == 3
    inner = store if with_hook else store.inner
    assert inner.optimize_calls == (1 if with_hook else 0)
    inner.close()


class _WithoutHook:
    """A store exposing only the VectorStore protocol, like a server backend."""

    def __init__(self, inner: _RecordingStore) -> None:
        self.inner = inner
        self.dim = inner.dim

    def __getattr__(self, name: str) -> Any:
        if name == "optimize_if_needed":
            raise AttributeError(name)
        return getattr(self.inner, name)
