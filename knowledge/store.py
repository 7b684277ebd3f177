"""The storage interface every Qdrant backend implements.

Two backends share it: `EdgeStore` (the Qdrant engine in-process through
qdrant-edge-py, the default) and `QdrantServerStore` (a Qdrant server or
cluster through qdrant-client). Both pass the same contract tests in
`tests/test_store_contract.py`, so the retriever never knows which one it has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

DENSE_VECTOR = "dense"
SPARSE_VECTOR = "bm25"

SearchMode = Literal["hybrid", "dense", "sparse"]
Fusion = Literal["rrf", "dbsf"]


@dataclass(frozen=True)
class SparseVector:
    """A sparse BM25 vector: token ids and their term-frequency weights."""

    indices: list[int]
    values: list[float]


@dataclass(frozen=True)
class StoredPoint:
    """One chunk as stored: id (a UUID string), both vectors and its payload."""

    id: str
    dense: list[float]
    sparse: SparseVector
    payload: dict[str, Any]


@dataclass(frozen=True)
class SearchFilter:
    """Payload conditions a search must satisfy; empty fields match everything.

    `tags` matches points having any of the tags.
    """

    language: str | None = None
    tags: tuple[str, ...] = ()
    tenant: str | None = None
    doc_ids: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not (self.language or self.tags or self.tenant or self.doc_ids)


@dataclass(frozen=True)
class Hit:
    """A search result: point id, the backend's score, payload and dense vector."""

    id: str
    score: float
    payload: dict[str, Any]
    dense: list[float] | None = field(default=None, repr=False)


class VectorStore(Protocol):
    """A single Qdrant collection holding the knowledge base's chunks.

    Payload keys every point carries: `doc_id` (str), `doc_hash` (str),
    `chunk_index` (int), `language` (str), `tags` (list[str]), `tenant` (str),
    plus free-form text fields.
    """

    dim: int

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        """Insert or replace points by id."""

    def delete_documents(self, doc_ids: Sequence[str]) -> None:
        """Delete every point whose payload `doc_id` is one of `doc_ids`."""

    def delete_stale(self, doc_id: str, keep_hash: str) -> None:
        """Delete the points of `doc_id` whose `doc_hash` differs from `keep_hash`."""

    def document_hashes(self) -> dict[str, str]:
        """Map every stored `doc_id` to its `doc_hash` (read from chunk_index 0)."""

    def count(self) -> int:
        """Number of points stored."""

    def query(
        self,
        *,
        dense: list[float] | None,
        sparse: SparseVector | None,
        mode: SearchMode = "hybrid",
        limit: int = 10,
        prefetch_limit: int = 50,
        fusion: Fusion = "rrf",
        search_filter: SearchFilter | None = None,
        with_vectors: bool = False,
    ) -> list[Hit]:
        """Search with Qdrant's Query API.

        hybrid: dense and sparse prefetches (`prefetch_limit` each) fused with
        RRF (k=60) or DBSF; dense / sparse: that vector alone. Scores descend.
        """

    def flush(self) -> None:
        """Persist pending writes to disk (no-op for a server)."""

    def close(self) -> None:
        """Release files and connections."""
