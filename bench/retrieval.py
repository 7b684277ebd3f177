"""Retrieval quality, latency and ingestion throughput on the demo help centre.

Ingests the help centre (by default supportgraph/demo/helpcenter, ~60 EN+FR
articles) into a fresh embedded Qdrant store, times a cold ingest and a re-ingest
with nothing changed, then scores every labelled query file (lines
`{"query", "relevant_ids", "shape"}`) with five retrievers:

* hybrid DBSF (the default), hybrid RRF, dense only, sparse (BM25) only, all
  through `HybridRetriever` on the same store;
* a naive baseline: langchain-qdrant's `QdrantVectorStore` over qdrant-client in
  local in-memory mode, holding the same chunks embedded by the same model,
  queried with `similarity_search`.

Metrics are document-level (chunks collapse to their document, as
`evals.retrieval.score_mode` does): recall@1, recall@5, MRR@10, nDCG@10, overall
and nDCG@10 by query shape, plus search latency per query with the query
embedding already cached, so latency is the search alone.

    python bench/retrieval.py
    python bench/retrieval.py --queries my_queries.jsonl --json out.json --data-dir /tmp/kb
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import Embeddings
from rich.console import Console
from rich.table import Table

from evals.datasets import DatasetError
from evals.retrieval import (
    LabelledQuery,
    load_queries,
    mrr_at,
    ndcg_at,
    percentile,
    recall_at,
    score_mode,
)
from knowledge.chunking import ChunkingConfig, chunk_document
from knowledge.documents import Document, IngestError
from knowledge.embeddings import Embedder, make_embedder
from knowledge.ingest import IngestReport
from knowledge.search import HybridRetriever
from knowledge.store import Fusion, SearchMode
from supportgraph.runtime import DEMO_DIR, DEMO_HELPCENTER, KnowledgeServices
from supportgraph.settings import BotConfig, Settings

REPO = Path(__file__).resolve().parent.parent
DEFAULT_QUERIES = (DEMO_DIR / "retrieval_queries.jsonl", REPO / "tests/data/retrieval_small.jsonl")
SHAPES = ("keyword", "paraphrase", "french", "typo", "multi")
K = 10  # documents scored; every row fetches 3 * K chunks, as score_mode does
DEPTH = 3 * K
METRICS = (("recall@1", "recall@1"), ("recall@5", "recall@5"), ("MRR@10", "mrr@10"),
           ("nDCG@10", "ndcg@10"))
BASELINE = "langchain-qdrant (naive)"
DEFAULT_ROW = "hybrid DBSF (default)"
SINGLE_ROWS = ("dense only", "sparse (BM25) only")

Scorer = Callable[[Sequence[LabelledQuery]], dict[str, Any]]


class EmbedderAsLangChain(Embeddings):
    """Our embedder behind LangChain's `Embeddings` interface (same model, same cache)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in v] for v in self.embedder.embed_documents(texts)]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.embedder.embed_query(text)]


def build_baseline(docs: Sequence[Document], embedder: Embedder,
                   chunking: ChunkingConfig) -> Any:
    """The same chunks, embedded the same way, in a langchain-qdrant in-memory store."""
    from langchain_qdrant import QdrantVectorStore

    lc_docs = [
        LCDocument(page_content=chunk.embedding_text(doc.title),
                   metadata={"doc_id": doc.id, "chunk_index": chunk.index})
        for doc in docs for chunk in chunk_document(doc, chunking)
    ]
    return QdrantVectorStore.from_documents(
        lc_docs, EmbedderAsLangChain(embedder), location=":memory:",
        collection_name="baseline",
    )


def score_baseline(vectorstore: Any, queries: Sequence[LabelledQuery]) -> dict[str, Any]:
    """score_mode's metrics for the LangChain store, computed with the same helpers."""
    rows: list[dict[str, float]] = []
    latencies: list[float] = []
    for q in queries:
        vectorstore.embeddings.embed_query(q.query)  # warm the query-embedding cache
        started = time.perf_counter()
        found = vectorstore.similarity_search(q.query, k=DEPTH)
        latencies.append((time.perf_counter() - started) * 1000)
        ranked = list(dict.fromkeys(str(d.metadata["doc_id"]) for d in found))[:K]
        rel = set(q.relevant_ids)
        rows.append({
            "recall@1": recall_at(ranked, rel, 1), "recall@5": recall_at(ranked, rel, 5),
            "recall@10": recall_at(ranked, rel, 10), "mrr@10": mrr_at(ranked, rel, 10),
            "ndcg@10": ndcg_at(ranked, rel, 10),
        })
    result: dict[str, Any] = {key: round(statistics.fmean(r[key] for r in rows), 4)
                              for key in rows[0]}
    result |= {"p50_latency_ms": round(percentile(latencies, 0.5), 3),
               "p95_latency_ms": round(percentile(latencies, 0.95), 3),
               "queries": len(queries), "mode": "dense"}
    return result


def make_scorers(services: KnowledgeServices, settings: Settings,
                 baseline: Any) -> dict[str, Scorer]:
    """Each row of the report as a function from queries to score_mode-style metrics."""
    rows: list[tuple[str, SearchMode, Fusion]] = [
        (DEFAULT_ROW, "hybrid", "dbsf"), ("hybrid RRF", "hybrid", "rrf"),
        (SINGLE_ROWS[0], "dense", settings.fusion), (SINGLE_ROWS[1], "sparse", settings.fusion),
    ]
    scorers: dict[str, Scorer] = {}
    for label, mode, fusion in rows:
        retriever = HybridRetriever(services.store, services.embedder, services.encoder,
                                    mode=mode, fusion=fusion,
                                    prefetch_limit=settings.prefetch_limit,
                                    multilingual=services.retriever.multilingual)
        scorers[label] = partial(score_mode, retriever, mode=mode, k=K)
    scorers[BASELINE] = partial(score_baseline, baseline)
    return scorers


def timed_ingest(services: KnowledgeServices, corpus: Path) -> tuple[IngestReport, float]:
    """Load, chunk, embed and write `corpus`; wall seconds include reading the files."""
    started = time.perf_counter()
    report = services.ingestor.ingest_paths([corpus])
    return report, time.perf_counter() - started


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu_count": os.cpu_count(), "cpu": cpu, "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(), "python": platform.python_version(),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def render(result: dict[str, Any], console: Console) -> None:
    m = result["machine"]
    machine_line = (f"machine: {m['cpu_count']} CPUs ({m['cpu']}), torch threads "
                    f"{m['torch_threads']}, {m['platform']}, Python {m['python']}; "
                    f"1-min load average {m['load_avg_1m_start']} at the start, "
                    f"{m['load_avg_1m']} at the end")
    queries = result["queries"]
    quality: dict[str, dict[str, Any]] = result["quality"]

    table = Table(title="Retrieval quality on the demo help centre")
    table.add_column("retriever", no_wrap=True)
    for header, _ in METRICS:
        table.add_column(header, justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p95 ms", justify="right")
    for label, row in quality.items():
        table.add_row(label, *(f"{row[key]:.3f}" for _, key in METRICS),
                      f"{row['p50_latency_ms']:.2f}", f"{row['p95_latency_ms']:.2f}")
    table.caption = (
        f"{queries['count']} labelled queries ({', '.join(queries['files'])}) over "
        f"{result['ingestion']['cold']['documents']} documents / "
        f"{result['ingestion']['cold']['chunks']} chunks; embeddings {result['embedder']}. "
        f"Document-level metrics: each row fetches {DEPTH} chunks, collapsed to the top "
        f"{K} documents. Latency = one search call per query with its query embedding "
        "already cached (warm) for every row, so it measures search alone. The baseline "
        "is langchain-qdrant QdrantVectorStore.similarity_search over qdrant-client "
        "':memory:' with the same chunks and embeddings.\n" + machine_line
    )
    console.print(table)
    console.print()

    shapes: list[str] = queries["shapes"]
    by_shape: dict[str, dict[str, float]] = result["ndcg_by_shape"]
    counts: dict[str, int] = queries["by_shape"]
    table = Table(title="nDCG@10 by query shape")
    table.add_column("retriever", no_wrap=True)
    for shape in shapes:
        table.add_column(f"{shape} (n={counts[shape]})", justify="right")
    for label, row in by_shape.items():
        table.add_row(label, *(_fmt(row[s], ".3f") for s in shapes))
    delta = result["default_minus_best_single"]
    table.add_row("Δ default − best single",
                  *(_fmt(delta[s], "+.3f") for s in shapes), style="italic")
    worse = [s for s in shapes if delta[s] < 0]
    table.caption = (
        "Δ = the default's nDCG@10 minus the better of dense only and sparse only on "
        "each shape: " + (f"the default is worse on {', '.join(worse)}." if worse
                             else "the default is never worse on any shape.")
    )
    console.print(table)
    console.print()

    ing = result["ingestion"]
    table = Table(title="Ingestion throughput")
    for column in ("run", "documents", "chunks", "seconds", "chunks/s"):
        table.add_column(column, justify="left" if column == "run" else "right", no_wrap=True)
    for label, key in (("full ingest (cold, fresh store)", "cold"),
                       ("re-ingest, nothing changed", "reingest"),
                       (f"{BASELINE} build", "baseline_build")):
        entry = ing[key]
        table.add_row(label, str(entry["documents"]), str(entry["chunks"]),
                      f"{entry['seconds']:.2f}", _fmt(entry["chunks_per_s"], ",.1f"))
    table.caption = (
        f"Embedded Qdrant store (qdrant-edge) in {ing['store_where']}; wall time of "
        "ingest_paths, including reading and parsing the files, with the embedding model "
        f"already loaded. Re-ingest: {ing['reingest']['unchanged']} documents unchanged, "
        f"{ing['reingest']['texts_embedded']} texts embedded, "
        f"{ing['reingest']['chunks']} chunks written. Baseline build: load + chunk + "
        "QdrantVectorStore.from_documents (':memory:').\n" + machine_line
    )
    console.print(table)


def run(corpus: Path, query_files: Sequence[Path], data_dir: Path,
        temporary: bool = False, multilingual: bool = False) -> dict[str, Any]:
    """Ingest, re-ingest, build the baseline, score every row; all numbers in one dict."""
    load_at_start = round(os.getloadavg()[0], 2)
    settings = Settings(data_dir=data_dir, qdrant_url=None, qdrant_path=None,
                        retrieval_multilingual_encoder="on" if multilingual else "off")
    store_path = settings.qdrant_path_resolved / settings.collection
    if store_path.exists() and any(store_path.iterdir()):
        raise SystemExit(f"{store_path} already holds a store; pass an empty --data-dir "
                         "so the first ingest is cold")
    bot = BotConfig()
    embedder = make_embedder(settings.embedding_model, settings.embedding_batch_size)
    services = KnowledgeServices.build(settings, bot, embedder)
    try:
        # Validate the query files against the corpus before spending time on ingestion.
        known = {d.id for d in services.ingestor.loader.load_paths([corpus])}
        queries = [q for path in query_files for q in load_queries(path, known)]

        cold, cold_s = timed_ingest(services, corpus)
        again, again_s = timed_ingest(services, corpus)
        ingestion: dict[str, Any] = {
            "store_path": str(store_path),
            "store_where": "a temporary directory" if temporary else str(store_path),
            "cold": {"documents": len(cold.added) + len(cold.updated) + len(cold.unchanged),
                     "chunks": cold.chunks_written, "seconds": round(cold_s, 3),
                     "chunks_per_s": round(cold.chunks_written / cold_s, 1),
                     "texts_embedded": cold.texts_embedded, "report": cold.summary()},
            "reingest": {"documents": len(again.added) + len(again.updated)
                         + len(again.unchanged), "unchanged": len(again.unchanged),
                         "chunks": again.chunks_written, "seconds": round(again_s, 3),
                         "chunks_per_s": None, "texts_embedded": again.texts_embedded,
                         "report": again.summary()},
        }

        started = time.perf_counter()
        docs = services.ingestor.loader.load_paths([corpus])
        baseline = build_baseline(docs, embedder, services.ingestor.chunking)
        baseline_s = time.perf_counter() - started
        baseline_chunks = baseline.client.count(baseline.collection_name).count
        ingestion["baseline_build"] = {
            "documents": len(docs), "chunks": baseline_chunks, "seconds": round(baseline_s, 3),
            "chunks_per_s": round(baseline_chunks / baseline_s, 1),
        }

        embedder.embed_queries([q.query for q in queries])  # every row starts warm
        found = {str(q.meta.get("shape", "other")) for q in queries}
        shapes = [s for s in SHAPES if s in found] + sorted(found - set(SHAPES))
        subsets = {s: [q for q in queries if str(q.meta.get("shape", "other")) == s]
                   for s in shapes}

        scorers = make_scorers(services, settings, baseline)
        quality: dict[str, dict[str, Any]] = {}
        ndcg_by_shape: dict[str, dict[str, float]] = {}
        for label, scorer in scorers.items():
            scorer(queries[:5])  # warm-up, not measured
            quality[label] = scorer(queries)
            ndcg_by_shape[label] = {s: scorer(subsets[s])["ndcg@10"] for s in shapes}
        delta = {s: round(ndcg_by_shape[DEFAULT_ROW][s]
                          - max(ndcg_by_shape[r][s] for r in SINGLE_ROWS), 4)
                 for s in shapes}
    finally:
        services.close()

    return {
        "machine": machine() | {"load_avg_1m_start": load_at_start},
        "embedder": services.retriever.index_embedder.name,
        "settings": {"fusion_default": settings.fusion, "prefetch_limit": settings.prefetch_limit,
                     "chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap},
        "corpus": str(corpus),
        "queries": {"files": [_show(p) for p in query_files], "count": len(queries),
                    "shapes": shapes, "by_shape": {s: len(subsets[s]) for s in shapes}},
        "quality": quality,
        "ndcg_by_shape": ndcg_by_shape,
        "default_minus_best_single": delta,
        "ingestion": ingestion,
    }


def _show(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the benchmark, print the tables and save the JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--queries", type=Path, nargs="+", default=list(DEFAULT_QUERIES),
                        help="labelled query files (JSONL: query, relevant_ids, shape)")
    parser.add_argument("--corpus", type=Path, default=DEMO_HELPCENTER,
                        help="help centre to ingest (default: the demo help centre)")
    parser.add_argument("--json", type=Path, default=None, help="write every number here")
    parser.add_argument("--multilingual", action="store_true",
                        help="SUPPORTGRAPH_RETRIEVAL_MULTILINGUAL_ENCODER=on: chunks also "
                             "embedded by the multilingual encoder, searched with it for "
                             "queries not in English")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where the store is built (default: a temporary directory)")
    args = parser.parse_args(argv)

    console = Console(width=None if sys.stdout.isatty() else 140)
    try:
        with console.status("ingesting and scoring…"):
            if args.data_dir is not None:
                result = run(args.corpus, args.queries, args.data_dir,
                             multilingual=args.multilingual)
            else:
                with tempfile.TemporaryDirectory(prefix="retrieval-bench-") as tmp:
                    result = run(args.corpus, args.queries, Path(tmp), temporary=True,
                                 multilingual=args.multilingual)
    except (DatasetError, IngestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    render(result, console)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False))
        console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
