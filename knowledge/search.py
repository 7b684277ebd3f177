"""Hybrid search over the knowledge base: dense + BM25 fused by Qdrant's Query API."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from knowledge.embeddings import Embedder, StackedEmbedder
from knowledge.language import detect_language
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


def _passage(hit: Hit, query_vector: np.ndarray | None, stacked: bool = False) -> Passage:
    p = hit.payload
    similarity = None
    if query_vector is not None and hit.dense is not None:
        dense = np.asarray(hit.dense, dtype=np.float32)
        if stacked:  # the first block is the base embedder's: its cosine, as unstacked
            dense = dense[:len(query_vector)]
            dense = dense / max(float(np.linalg.norm(dense)), 1e-12)
        similarity = float(np.dot(query_vector, dense))
    return Passage(
        chunk_id=hit.id, doc_id=str(p.get("doc_id", "")), title=str(p.get("title", "")),
        source=str(p.get("source", "")), text=str(p.get("text", "")),
        language=str(p.get("language", "")), heading_path=tuple(p.get("heading_path") or ()),
        score=hit.score, similarity=similarity, tags=tuple(p.get("tags") or ()),
        updated_at=p.get("updated_at"), metadata=dict(p.get("metadata") or {}),
    )


class HybridRetriever:
    """Searches the collection in hybrid (default), dense-only or sparse-only mode.

    With `multilingual` (an encoder for the languages `embedder` does not read, such as
    the bundled multilingual USE beside the English-only MiniLM), the collection holds
    both embeddings of every chunk side by side (`StackedEmbedder`, see `index_embedder`).
    An English query searches with the first block alone, so it ranks exactly as with
    `embedder` alone; a query in another language searches with both. A passage's
    `similarity` stays the cosine of `embedder`, which the answerability model reads.
    On the demo's retrieval queries (bench/retrieval.py): French nDCG@10 0.852 -> 0.931,
    every English shape unchanged; both blocks for English queries too lost 0.04 on
    English paraphrases.
    """

    def __init__(self, store: VectorStore, embedder: Embedder, encoder: BM25Encoder, *,
                 mode: SearchMode = "hybrid", fusion: Fusion = "dbsf",
                 prefetch_limit: int = 50, multilingual: Embedder | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.encoder = encoder
        self.mode: SearchMode = mode
        self.fusion: Fusion = fusion
        self.prefetch_limit = prefetch_limit
        self.multilingual = multilingual
        self.index_embedder: Embedder = embedder if multilingual is None else \
            StackedEmbedder([embedder, multilingual])
        """What embeds the chunks this retriever searches (the ingestor's embedder)."""

    def _query_vector(self, query: str, language: str | None,
                      search_filter: SearchFilter | None) -> tuple[np.ndarray, np.ndarray]:
        """(the vector searched with, `embedder`'s own vector of the query)."""
        base = self.embedder.embed_query(query)
        if self.multilingual is None:
            return base, base
        language = language or (search_filter.language if search_filter else None) or \
            detect_language(query, self.encoder.query_languages)
        second = self.multilingual.embed_query(query) if language != "en" else \
            np.zeros(self.multilingual.dim, dtype=np.float32)
        vector = np.concatenate([base, second]).astype(np.float32)
        return vector / max(float(np.linalg.norm(vector)), 1e-12), base

    def search(self, query: str, k: int = 5, *, mode: SearchMode | None = None,
               search_filter: SearchFilter | None = None,
               languages: Sequence[str] | None = None,
               language: str | None = None) -> list[Passage]:
        """The `k` best chunks for `query`. `languages`: the BM25 query's stemmers (the
        encoder's default: the bot's languages); `language`: the query's language, for
        the multilingual block (default: the filter's language, else detected)."""
        mode = mode or self.mode
        query_vector, base = self._query_vector(query, language, search_filter) \
            if mode != "sparse" else (self.embedder.embed_query(query),) * 2
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
        stacked = self.multilingual is not None
        return [_passage(hit, base, stacked) for hit in hits]


def rank_documents(passages: Sequence[Passage]) -> list[str]:
    """Document ids in order of their best passage (for document-level metrics)."""
    seen: dict[str, None] = {}
    for p in passages:
        seen.setdefault(p.doc_id, None)
    return list(seen)
