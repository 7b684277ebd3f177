"""`supportgraph eval retrieval`: ingest a labelled corpus into a fresh collection and
score search with recall@1/5/10, MRR@10, nDCG@10 and search latency."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.datasets import DatasetError, read_jsonl, require_str, require_str_list
from knowledge.documents import Document, content_hash
from knowledge.ingest import Ingestor
from knowledge.language import detect_language
from knowledge.search import HybridRetriever, rank_documents
from knowledge.store import SearchMode

MODES: tuple[SearchMode, ...] = ("hybrid", "dense", "sparse")


@dataclass(frozen=True)
class LabelledQuery:
    query: str
    relevant_ids: tuple[str, ...]
    line: int
    meta: dict[str, Any]


def load_corpus(path: Path, languages: Sequence[str] = ("en", "fr"),
                default_language: str = "en") -> list[Document]:
    """Corpus lines `{"id", "text", "title"?, "metadata"?}` as Documents."""
    docs: list[Document] = []
    seen: dict[str, int] = {}
    for lineno, obj in read_jsonl(path):
        doc_id = require_str(path, lineno, obj, "id")
        text = require_str(path, lineno, obj, "text")
        title = require_str(path, lineno, obj, "title", optional=True) or ""
        metadata = obj.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise DatasetError(path, "must be an object", lineno, "metadata")
        assert doc_id is not None and text is not None
        if doc_id in seen:
            raise DatasetError(path, f"duplicate id '{doc_id}' (first on line {seen[doc_id]})",
                               lineno, "id")
        seen[doc_id] = lineno
        language = metadata.get("language") or detect_language(
            f"{title}\n{text[:1000]}", languages, default_language)
        tags = metadata.get("tags") or []
        docs.append(Document(
            id=doc_id, title=title, text=text, source=f"{path.name}#{doc_id}",
            language=str(language), tags=tuple(str(t) for t in tags),
            format="text", metadata={k: v for k, v in metadata.items()
                                     if k not in {"language", "tags"}},
            content_hash=content_hash(f"{title}\x00{text}", str(language)),
        ))
    if not docs:
        raise DatasetError(path, "the corpus is empty")
    return docs


def load_queries(path: Path, known_ids: set[str] | None = None) -> list[LabelledQuery]:
    """Query lines `{"query", "relevant_ids": [...]}`; ids must exist in the corpus."""
    queries = []
    for lineno, obj in read_jsonl(path):
        query = require_str(path, lineno, obj, "query")
        relevant = require_str_list(path, lineno, obj, "relevant_ids")
        if known_ids is not None:
            missing = [r for r in relevant if r not in known_ids]
            if missing:
                raise DatasetError(path, f"unknown document id '{missing[0]}'", lineno,
                                   "relevant_ids")
        assert query is not None
        meta = {k: v for k, v in obj.items() if k not in {"query", "relevant_ids"}}
        queries.append(LabelledQuery(query, tuple(relevant), lineno, meta))
    if not queries:
        raise DatasetError(path, "no queries")
    return queries


def recall_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    return len(set(ranked[:k]) & relevant) / len(relevant)


def mrr_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    for i, doc in enumerate(ranked[:k], 1):
        if doc in relevant:
            return 1.0 / i
    return 0.0


def ndcg_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    dcg = sum(1.0 / math.log2(i + 1) for i, d in enumerate(ranked[:k], 1) if d in relevant)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(relevant), k) + 1))
    return dcg / ideal if ideal else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def score_mode(retriever: HybridRetriever, queries: Sequence[LabelledQuery], mode: SearchMode,
               k: int = 10, on_query: Callable[[], None] | None = None) -> dict[str, Any]:
    """Document-level metrics for one search mode (chunks collapse to their document)."""
    depth = max(k, 10)
    rows: list[dict[str, float]] = []
    latencies: list[float] = []
    for q in queries:
        retriever.embedder.embed_query(q.query)
        started = time.perf_counter()
        passages = retriever.search(q.query, depth * 3, mode=mode)
        latencies.append((time.perf_counter() - started) * 1000)
        ranked = rank_documents(passages)[:depth]
        rel = set(q.relevant_ids)
        rows.append({
            "recall@1": recall_at(ranked, rel, 1), "recall@5": recall_at(ranked, rel, 5),
            "recall@10": recall_at(ranked, rel, 10), "mrr@10": mrr_at(ranked, rel, 10),
            "ndcg@10": ndcg_at(ranked, rel, 10), f"recall@{k}": recall_at(ranked, rel, k),
        })
        if on_query:
            on_query()
    result: dict[str, Any] = {key: round(statistics.fmean(r[key] for r in rows), 4)
                              for key in rows[0]}
    result |= {"p50_latency_ms": round(percentile(latencies, 0.5), 3),
               "p95_latency_ms": round(percentile(latencies, 0.95), 3),
               "queries": len(queries), "mode": mode}
    return result


def run_retrieval_eval(ingestor: Ingestor, retriever: HybridRetriever, corpus: Path,
                       queries_path: Path, *, k: int = 10,
                       modes: Sequence[SearchMode] = ("hybrid",),
                       progress: Callable[[str, int, int], None] | None = None
                       ) -> dict[str, Any]:
    """Validate both files, ingest the corpus, then score each mode."""
    docs = load_corpus(corpus, ingestor.loader.languages, ingestor.loader.default_language)
    queries = load_queries(queries_path, {d.id for d in docs})
    report = ingestor.ingest_documents(docs, progress=progress)
    results: dict[str, Any] = {}
    for mode in modes:
        done = 0

        def tick(mode: str = mode) -> None:
            nonlocal done
            done += 1
            if progress:
                progress(f"searching ({mode})", done, len(queries))

        results[mode] = score_mode(retriever, queries, mode, k, tick)
    first = results[modes[0]]
    out: dict[str, Any] = dict(first)
    out |= {"k": k, "documents": len(docs), "chunks": report.chunks_written,
            "ingest_seconds": round(report.seconds, 3)}
    if len(modes) > 1:
        out["modes"] = results
    return out
