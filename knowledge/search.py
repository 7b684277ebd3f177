"""Hybrid search over the knowledge base: dense + BM25 fused by Qdrant's Query API."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from knowledge.embeddings import Embedder
from knowledge.sparse import BM25Encoder
from knowledge.store import Fusion, Hit, SearchFilter, SearchMode, VectorStore


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with what a reply needs to quote and cite it.

    `similarity` is the cosine similarity between the query and the chunk's
    dense vector whatever the search mode, so confidence never depends on a
    rank-based fused score.
    """

    chunk_id: str
    doc_id: str
    title: str
    source: str
    text: str
    language: str
    heading_path: tuple[str, ...]
    score: float
    similarity: float | None
    tags: tuple[str, ...] = ()
    updated_at: str | None = None
    metadata: dict[str, object] = field(default_factory=dict)

    @property
    def section(self) -> str:
        return " > ".join(self.heading_path)

    def to_dict(self) -> dict[str, object]:
        return {
            "chunk_id": self.chunk_id, "doc_id": self.doc_id, "title": self.title,
            "source": self.source, "text": self.text, "language": self.language,
            "section": self.section, "score": round(self.score, 6),
            "similarity": None if self.similarity is None else round(self.similarity, 4),
        }


def _passage(hit: Hit, query_vector: np.ndarray | None) -> Passage:
    p = hit.payload
    similarity = None
    if query_vector is not None and hit.dense is not None:
        similarity = float(np.dot(query_vector, np.asarray(hit.dense, dtype=np.float32)))
    return Passage(
        chunk_id=hit.id, doc_id=str(p.get("doc_id", "")), title=str(p.get("title", "")),
        source=str(p.get("source", "")), text=str(p.get("text", "")),
        language=str(p.get("language", "")), heading_path=tuple(p.get("heading_path") or ()),
        score=hit.score, similarity=similarity, tags=tuple(p.get("tags") or ()),
        updated_at=p.get("updated_at"), metadata=dict(p.get("metadata") or {}),
    )


class HybridRetriever:
    """Searches the collection in hybrid (default), dense-only or sparse-only mode."""

    def __init__(self, store: VectorStore, embedder: Embedder, encoder: BM25Encoder, *,
                 mode: SearchMode = "hybrid", fusion: Fusion = "dbsf",
                 prefetch_limit: int = 50) -> None:
        self.store = store
        self.embedder = embedder
        self.encoder = encoder
        self.mode: SearchMode = mode
        self.fusion: Fusion = fusion
        self.prefetch_limit = prefetch_limit

    def search(self, query: str, k: int = 5, *, mode: SearchMode | None = None,
               search_filter: SearchFilter | None = None,
               languages: Sequence[str] | None = None) -> list[Passage]:
        mode = mode or self.mode
        query_vector = self.embedder.embed_query(query)
        sparse = self.encoder.encode_query(query, languages) if mode != "dense" else None
        if sparse is not None and not sparse.indices and mode == "sparse":
            return []
        if sparse is not None and not sparse.indices:
            mode, sparse = "dense", None
        hits = self.store.query(
            dense=query_vector.tolist() if mode != "sparse" else None,
            sparse=sparse, mode=mode, limit=k, prefetch_limit=max(self.prefetch_limit, k),
            fusion=self.fusion, search_filter=search_filter, with_vectors=True,
        )
        return [_passage(hit, query_vector) for hit in hits]


def rank_documents(passages: Sequence[Passage]) -> list[str]:
    """Document ids in order of their best passage (for document-level metrics)."""
    seen: dict[str, None] = {}
    for p in passages:
        seen.setdefault(p.doc_id, None)
    return list(seen)
