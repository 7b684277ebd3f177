"""Smoke test for bench/retrieval.py: it runs end to end and its numbers hang together."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMALL_SET = ROOT / "tests" / "data" / "retrieval_small.jsonl"


@pytest.mark.slow
def test_retrieval_bench_runs_and_reports_every_table(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "retrieval.py"), "--queries", str(SMALL_SET),
         "--json", str(out), "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, check=False, cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for title in ("Retrieval quality on the demo help centre", "nDCG@10 by query shape",
                  "Ingestion throughput"):
        assert title in proc.stdout

    result = json.loads(out.read_text())
    quality = result["quality"]
    assert list(quality) == ["hybrid DBSF (default)", "hybrid RRF", "dense only",
                             "sparse (BM25) only", "langchain-qdrant (naive)"]
    # Same chunks, same embeddings, exact search: the baseline ranks like dense only.
    for key in ("recall@1", "recall@5", "mrr@10", "ndcg@10"):
        assert quality["langchain-qdrant (naive)"][key] == pytest.approx(
            quality["dense only"][key], abs=0.02)
    assert quality["hybrid DBSF (default)"]["recall@5"] >= 0.9
    assert set(result["ndcg_by_shape"]["hybrid RRF"]) == set(result["queries"]["shapes"])
    ingestion = result["ingestion"]
    assert ingestion["cold"]["chunks"] > ingestion["cold"]["documents"] > 0
    assert ingestion["reingest"]["texts_embedded"] == 0
    assert ingestion["reingest"]["unchanged"] == ingestion["cold"]["documents"]
