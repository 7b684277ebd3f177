"""Compare the vector-store backends on a synthetic corpus of N chunks.

Measures what the retriever pays for, embedding excluded: ingest time (batches
of 1,000), index build time, hybrid + payload-filter query latency with RRF and
DBSF fusion, recall@10 of the dense search against brute force (numpy), and
resident memory growth. Each (backend, N) runs in a fresh subprocess so its
memory is its own.

Backends: `edge` (EdgeStore defaults, then `optimize_if_needed()` as the
Ingestor does), `edge-unindexed` (same, never optimized), `edge-legacy` (the
engine's default index settings + `optimize()`: the configuration before
tuning; slow to build, so not run unless asked), `server-local`.

    python bench/store_scale.py --sizes 10000 100000 --queries 200 --json out.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

DIM = 384
VOCAB = 30_000
TOKENS_PER_CHUNK = 30
QUERY_TOKENS = 6
ZIPF_S = 1.1
BATCH = 1_000
TAGS = ("billing", "refunds", "shipping", "account", "security", "api", "mobile", "returns")
BACKENDS = ("edge", "edge-unindexed", "edge-legacy", "server-local")
DEFAULT_BACKENDS = ("edge", "edge-unindexed", "server-local")
FUSIONS = ("rrf", "dbsf")
RECALL_QUERIES = 100
WARMUP_QUERIES = 50  # untimed, per fusion: page in the freshly built segments


def rss_kb() -> dict[str, int]:
    """Current and peak resident set size of this process, in KiB."""
    fields: dict[str, int] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                fields[key] = int(value.split()[0])
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        fields = {"VmRSS": peak, "VmHWM": peak}
    return fields


class Corpus:
    """N synthetic chunks: unit dense vectors, Zipf token bags, filterable payloads."""

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.n = n
        self.dense = rng.standard_normal((n, DIM), dtype=np.float32)
        self.dense /= np.linalg.norm(self.dense, axis=1, keepdims=True)
        ranks = np.arange(1, VOCAB + 1, dtype=np.float64)
        self.token_p = ranks**-ZIPF_S / np.sum(ranks**-ZIPF_S)
        self.tokens = rng.choice(VOCAB, size=(n, TOKENS_PER_CHUNK), p=self.token_p)
        self.language = rng.choice(["en", "fr"], size=n, p=[0.6, 0.4])
        self.tag_a = rng.integers(0, len(TAGS), size=n)
        self.tag_b = rng.integers(0, len(TAGS), size=n)
        self.ids = [str(uuid.UUID(int=int(x))) for x in rng.integers(0, 2**62, size=n)]

    def batches(self) -> Iterator[list[Any]]:
        """StoredPoints in batches, built lazily so Python objects don't inflate RSS."""
        from knowledge.store import SparseVector, StoredPoint

        for start in range(0, self.n, BATCH):
            batch = []
            for i in range(start, min(start + BATCH, self.n)):
                idx, tf = np.unique(self.tokens[i], return_counts=True)
                doc = i // 8
                batch.append(
                    StoredPoint(
                        id=self.ids[i],
                        dense=self.dense[i].tolist(),
                        sparse=SparseVector(idx.tolist(), tf.astype(float).tolist()),
                        payload={
                            "doc_id": f"doc-{doc}",
                            "doc_hash": f"hash-{doc}",
                            "chunk_index": i % 8,
                            "language": str(self.language[i]),
                            "tags": sorted({TAGS[self.tag_a[i]], TAGS[self.tag_b[i]]}),
                            "tenant": "acme",
                            "text": f"chunk {i} of doc {doc}",
                        },
                    )
                )
            yield batch

    def queries(self, count: int, seed: int) -> list[dict[str, Any]]:
        """Query vectors near random chunks plus a language+tag filter, precomputed."""
        from knowledge.store import SearchFilter, SparseVector

        rng = np.random.default_rng(seed + 1)
        out = []
        for q in range(count):
            near = self.dense[rng.integers(0, self.n)]
            dense = near + rng.standard_normal(DIM).astype(np.float32) * (0.6 / np.sqrt(DIM))
            dense /= np.linalg.norm(dense)
            tokens = np.unique(rng.choice(VOCAB, size=QUERY_TOKENS, p=self.token_p))
            out.append(
                {
                    "dense": dense.tolist(),
                    "sparse": SparseVector(tokens.tolist(), [1.0] * len(tokens)),
                    "search_filter": SearchFilter(
                        language=("en", "fr")[q % 2], tags=(TAGS[q % len(TAGS)],)
                    ),
                }
            )
        return out

    def exact_top(self, query: dict[str, Any], k: int, filtered: bool) -> set[str]:
        """Ids of the true k nearest chunks (cosine), among those the filter keeps."""
        scores = self.dense @ np.asarray(query["dense"], dtype=np.float32)
        if filtered:
            search_filter = query["search_filter"]
            tags = [TAGS.index(t) for t in search_filter.tags]
            keep = (self.language == search_filter.language) & (
                np.isin(self.tag_a, tags) | np.isin(self.tag_b, tags)
            )
            scores = np.where(keep, scores, -np.inf)
        return {self.ids[i] for i in np.argpartition(-scores, k)[:k]}


def recall_at_10(store: Any, corpus: Corpus, qs: list[dict[str, Any]], filtered: bool) -> float:
    """Mean overlap of the store's dense top 10 with the exact top 10."""
    found = []
    for q in qs[:RECALL_QUERIES]:
        hits = store.query(
            dense=q["dense"],
            sparse=None,
            mode="dense",
            limit=10,
            search_filter=q["search_filter"] if filtered else None,
        )
        found.append(len({h.id for h in hits} & corpus.exact_top(q, 10, filtered)) / 10)
    return statistics.fmean(found)


def open_store(backend: str, workdir: Path) -> Any:
    if backend.startswith("edge"):
        from knowledge.edge_store import EdgeStore, EdgeTuning

        if backend == "edge-legacy":
            # The engine's defaults: payload_m = m, full scan under 10,000 KB, no quantization.
            legacy = EdgeTuning(payload_m=16, full_scan_points=6_666, quantize=False)
            return EdgeStore(workdir / "shard", DIM, tuning=legacy)
        return EdgeStore(workdir / "shard", DIM)
    from qdrant_client import QdrantClient

    from knowledge.server_store import QdrantServerStore

    return QdrantServerStore(QdrantClient(path=str(workdir / "local")), "bench", DIM)


def folder_mb(path: Path) -> float:
    """Disk actually allocated (the engine preallocates sparse files, so sizes overstate)."""
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file()) / 2**20


def run_worker(backend: str, size: int, queries: int, seed: int, workdir: Path) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    # Imported before the baseline so library code isn't counted as store memory.
    importlib.import_module(
        "knowledge.edge_store" if backend.startswith("edge") else "knowledge.server_store"
    )

    corpus = Corpus(size, seed)
    qs = corpus.queries(queries, seed)
    base = rss_kb()

    store = open_store(backend, workdir)
    ingest = 0.0
    for batch in corpus.batches():
        t0 = time.perf_counter()
        store.upsert(batch)
        ingest += time.perf_counter() - t0
    t0 = time.perf_counter()
    store.flush()
    ingest += time.perf_counter() - t0
    assert store.count() == size, "count after ingest"

    optimize_s = None
    if backend in ("edge", "edge-legacy"):
        t0 = time.perf_counter()
        if backend == "edge":
            store.optimize_if_needed()  # what Ingestor.ingest_documents does after writing
        else:
            store.optimize()
        optimize_s = time.perf_counter() - t0

    timings: dict[str, Any] = {}
    hits = 0
    for fusion in FUSIONS:
        for q in qs[:WARMUP_QUERIES]:
            store.query(**q, mode="hybrid", limit=10, prefetch_limit=50, fusion=fusion)
        latencies = []
        for q in qs:
            t0 = time.perf_counter()
            result = store.query(**q, mode="hybrid", limit=10, prefetch_limit=50, fusion=fusion)
            latencies.append((time.perf_counter() - t0) * 1000)
            hits += len(result)
        latencies.sort()
        timings[f"{fusion}_p50_ms"] = statistics.median(latencies)
        timings[f"{fusion}_p95_ms"] = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        timings[f"{fusion}_mean_ms"] = statistics.fmean(latencies)
    recall_filtered = recall_at_10(store, corpus, qs, filtered=True)
    recall_unfiltered = recall_at_10(store, corpus, qs, filtered=False)
    after = rss_kb()
    disk = folder_mb(workdir)
    store.close()

    return {
        "backend": backend,
        "n": size,
        "queries": queries,
        "ingest_s": ingest,
        "points_per_s": size / ingest,
        "optimize_s": optimize_s,
        **timings,
        "recall_filtered": recall_filtered,
        "recall_unfiltered": recall_unfiltered,
        "avg_hits": hits / (len(qs) * len(FUSIONS)),
        "rss_growth_mb": (after["VmRSS"] - base["VmRSS"]) / 1024,
        "peak_growth_mb": (after["VmHWM"] - base["VmRSS"]) / 1024,
        "anon_growth_mb": (after.get("RssAnon", 0) - base.get("RssAnon", 0)) / 1024,
        "disk_mb": disk,
    }


def measure(backend: str, size: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and parse its JSON line."""
    workdir = Path(tempfile.mkdtemp(prefix=f"store-bench-{backend}-", dir=args.workdir))
    try:
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            backend,
            "--sizes",
            str(size),
            "--queries",
            str(args.queries),
            "--seed",
            str(args.seed),
            "--workdir",
            str(workdir),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            return {"backend": backend, "n": size, "error": proc.stderr.strip()[-500:]}
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _fmt(row: dict[str, Any], key: str, spec: str) -> str:
    value = row.get(key)
    return "-" if value is None else format(value, spec)


def render(rows: list[dict[str, Any]], console: Console) -> None:
    table = Table(title="Vector store backends: ingest, hybrid+filter query latency, memory")
    for column in (
        "backend",
        "N",
        "ingest s",
        "pts/s",
        "index s",
        "RRF p50",
        "RRF p95",
        "DBSF p50",
        "DBSF p95",
        "R@10 filt",
        "R@10 all",
        "RSS Δ MB",
        "anon Δ MB",
        "peak Δ MB",
        "disk MB",
        "note",
    ):
        table.add_column(
            column,
            justify="left" if column in ("backend", "note") else "right",
            no_wrap=column in ("backend", "N", "note"),
        )
    for row in rows:
        if "skipped" in row or "error" in row:
            note = row.get("skipped") or f"error: {row['error'].splitlines()[-1]}"
            table.add_row(row["backend"], f"{row['n']:,}", *["-"] * 13, note)
            continue
        table.add_row(
            row["backend"],
            f"{row['n']:,}",
            _fmt(row, "ingest_s", ".1f"),
            _fmt(row, "points_per_s", ",.0f"),
            _fmt(row, "optimize_s", ".1f"),
            _fmt(row, "rrf_p50_ms", ".2f"),
            _fmt(row, "rrf_p95_ms", ".2f"),
            _fmt(row, "dbsf_p50_ms", ".2f"),
            _fmt(row, "dbsf_p95_ms", ".2f"),
            _fmt(row, "recall_filtered", ".3f"),
            _fmt(row, "recall_unfiltered", ".3f"),
            _fmt(row, "rss_growth_mb", ".0f"),
            _fmt(row, "anon_growth_mb", ".0f"),
            _fmt(row, "peak_growth_mb", ".0f"),
            _fmt(row, "disk_mb", ".0f"),
            "",
        )
    console.print(table)
    console.print(
        f"dim {DIM}, ~{TOKENS_PER_CHUNK} Zipf(s={ZIPF_S}) tokens/chunk over {VOCAB:,} ids; "
        "query = hybrid (dense + sparse prefetch 50, fused by RRF k=60 or DBSF), limit 10, "
        "filter language + one tag (~9-14% of points); latencies in ms, embedding excluded. "
        f"R@10 = recall@10 of the dense search vs brute force over {RECALL_QUERIES} queries, "
        "with that filter (filt) and without (all). Uniform random 384-d vectors are the worst "
        "case for HNSW: only the filtered search is exact by design. index s = "
        "optimize_if_needed() (edge) / optimize() (edge-legacy). RSS Δ includes mmapped store "
        "pages touched; anon Δ is heap only."
    )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run each (backend, N) in a subprocess, print and save results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None, help="write the rows here")
    parser.add_argument(
        "--server-max",
        type=int,
        default=20_000,
        help="skip qdrant-client local mode above this N (it is brute force in Python)",
    )
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(DEFAULT_BACKENDS))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None, help="where stores are built")
    parser.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        result = run_worker(args.worker, args.sizes[0], args.queries, args.seed, args.workdir)
        print(json.dumps(result))
        return 0

    console = Console(width=None if sys.stdout.isatty() else 180)
    rows: list[dict[str, Any]] = []
    for size in args.sizes:
        for backend in args.backends:
            if backend == "server-local" and size > args.server_max:
                rows.append(
                    {"backend": backend, "n": size, "skipped": "skipped (local mode too slow)"}
                )
                continue
            with console.status(f"{backend} at N={size:,}…"):
                row = measure(backend, size, args)
            rows.append(row)
            console.log(
                f"{backend} N={size:,}: "
                + (
                    row.get("error")
                    or f"RRF p95 {row['rrf_p95_ms']:.2f} ms, DBSF p95 {row['dbsf_p95_ms']:.2f} ms, "
                    f"recall@10 {row['recall_filtered']:.3f}, ingest {row['ingest_s']:.1f} s"
                )
            )
    render(rows, console)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
        console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
