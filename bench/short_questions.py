"""Short messages that only name a topic ("warranty?", "moyens de paiement ?").

Each question of `supportgraph/demo/short_questions.jsonl` goes through the whole demo
graph as a guest's first message. The table gives, per split, how many answerable
questions were answered, how many cited their article, and how many unanswerable ones
were declined; once as shipped, once without the topic rule of `agents/retrieve.py`
(`topic_terms`: a heading that names every word of a short message makes its passage
confident). The `development` split was written while the rule was designed; the
`held_out` split was written afterwards and measured once.

    python bench/short_questions.py [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import agents.retrieve as retrieve  # noqa: E402

QUESTIONS = REPO / "supportgraph" / "demo" / "short_questions.jsonl"


@contextmanager
def without_topic_rule() -> Iterator[None]:
    original = retrieve.topic_terms
    retrieve.topic_terms = lambda query, language: set()
    try:
        yield
    finally:
        retrieve.topic_terms = original


def outcomes(agent: Any, rows: list[dict[str, Any]]) -> list[dict[str, bool]]:
    out = []
    for row in rows:
        turn = agent.ask(row["question"])
        cited = {str(c.get("doc_id")) for c in turn.citations}
        out.append({"answered": bool(turn.citations),
                    "right": bool(cited & set(row.get("relevant_ids", [])))})
    return out


def cells(rows: list[dict[str, Any]], found: list[dict[str, bool]]) -> list[str]:
    answerable = [f for r, f in zip(rows, found, strict=True) if r["answerable"]]
    other = [f for r, f in zip(rows, found, strict=True) if not r["answerable"]]
    return [f"{sum(f['answered'] for f in answerable)}/{len(answerable)}",
            f"{sum(f['right'] for f in answerable)}/{len(answerable)}",
            f"{sum(not f['answered'] for f in other)}/{len(other)}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    from supportgraph.cli import _demo_runtime

    runtime = _demo_runtime(args.data_dir or Path(tempfile.mkdtemp(prefix="short-")))
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    shipped = outcomes(runtime.agent, rows)
    with without_topic_rule():
        bare = outcomes(runtime.agent, rows)
    runtime.close()
    print("| split | topic rule | answerable answered | right article cited | "
          "unanswerable declined |")
    print("| --- | --- | ---: | ---: | ---: |")
    for split in ("development", "held_out"):
        picked = [i for i, r in enumerate(rows) if r["split"] == split]
        subset = [rows[i] for i in picked]
        for name, found in (("no", bare), ("yes", shipped)):
            print(f"| {split} | {name} | " +
                  " | ".join(cells(subset, [found[i] for i in picked])) + " |")


if __name__ == "__main__":
    main()
