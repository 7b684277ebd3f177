"""`supportgraph eval guard`: the input guard on a labelled set of attacks and customer
messages (precision, recall, f1, false-positive rate, p50/p95 latency per message).

Dataset lines are `{"text", "label"}`: label 1 for an attack (prompt injection,
jailbreak, prompt extraction), 0 for a benign customer message; an optional `kind`
gives a per-kind breakdown, optional `language` and `group` (the template an
example was written from: cross-validation keeps a group in one fold) are kept.
The guard runs exactly as in a live turn: `agents.guard.check_message` with the
runtime's limits and detector.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.state import GuardResult
from evals.datasets import DatasetError, read_jsonl, require_str

MAX_EXAMPLES_SHOWN = 25


@dataclass(frozen=True)
class GuardExample:
    line: int
    text: str
    label: int
    kind: str
    language: str
    group: str


def load_guard_dataset(path: Path) -> list[GuardExample]:
    """Every example of a guard JSONL set, or a DatasetError naming file, line and field."""
    path = Path(path)
    if path.is_dir():
        raise DatasetError(path, "is a directory, expected a JSONL file")
    rows: list[GuardExample] = []
    for lineno, obj in read_jsonl(path):
        text = require_str(path, lineno, obj, "text")
        label = obj.get("label")
        if isinstance(label, bool) or label not in (0, 1):
            raise DatasetError(path, "must be 0 (benign) or 1 (attack)", lineno, "label")
        kind = require_str(path, lineno, obj, "kind", optional=True)
        language = require_str(path, lineno, obj, "language", optional=True)
        group = require_str(path, lineno, obj, "group", optional=True)
        rows.append(GuardExample(lineno, str(text), int(label), kind or "", language or "",
                                 group or ""))
    if not rows:
        raise DatasetError(path, "no examples")
    if {r.label for r in rows} != {0, 1}:
        missing = "attacks (label 1)" if all(r.label == 0 for r in rows) else "benign (label 0)"
        raise DatasetError(path, f"needs examples of both labels: no {missing}", None, "label")
    return rows


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def binary_scores(gold: Sequence[int], pred: Sequence[int]) -> dict[str, Any]:
    """precision, recall, f1, false_positive_rate and the confusion counts (1 = attack)."""
    tp = sum(g == 1 and p == 1 for g, p in zip(gold, pred, strict=True))
    fp = sum(g == 0 and p == 1 for g, p in zip(gold, pred, strict=True))
    fn = sum(g == 1 and p == 0 for g, p in zip(gold, pred, strict=True))
    tn = sum(g == 0 and p == 0 for g, p in zip(gold, pred, strict=True))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    fpr = fp / (fp + tn) if fp + tn else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "false_positive_rate": round(fpr, 4), "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def run_guard_eval(rows: Sequence[GuardExample], check: Callable[[str], GuardResult],
                   progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Run `check` (the live guard) on every example, one at a time, timing each."""
    check(rows[0].text)  # load the detector before timing anything
    verdicts: list[GuardResult] = []
    latencies: list[float] = []
    for i, row in enumerate(rows, 1):
        begun = time.perf_counter()
        verdicts.append(check(row.text))
        latencies.append((time.perf_counter() - begun) * 1000)
        if progress and (i % 25 == 0 or i == len(rows)):
            progress("guard", i, len(rows))
    gold = [r.label for r in rows]
    pred = [0 if v.get("allowed") else 1 for v in verdicts]
    result: dict[str, Any] = binary_scores(gold, pred)
    result |= {
        "p50_latency_ms": round(_percentile(latencies, 0.5), 3),
        "p95_latency_ms": round(_percentile(latencies, 0.95), 3),
        "mean_latency_ms": round(statistics.fmean(latencies), 3),
        "examples": len(rows), "attacks": sum(gold), "benign": len(gold) - sum(gold),
    }
    codes: dict[str, int] = defaultdict(int)
    for v in verdicts:
        codes[str(v.get("code"))] += 1
    result["verdict_codes"] = dict(sorted(codes.items()))
    by_kind: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        if r.kind:
            by_kind[f"{r.label}:{r.kind}"].append(i)
    result["by_kind"] = {
        key: {"examples": len(idx), "blocked": round(sum(pred[i] for i in idx) / len(idx), 4)}
        for key, idx in sorted(by_kind.items())}

    def shown(wanted_gold: int) -> list[dict[str, Any]]:
        return [{"line": r.line, "text": r.text[:300], "code": v.get("code"),
                 "reason": v.get("reason"), "score": v.get("score")}
                for r, v, p in zip(rows, verdicts, pred, strict=True)
                if r.label == wanted_gold and p != wanted_gold][:MAX_EXAMPLES_SHOWN]

    result["false_positives"] = shown(0)
    result["false_negatives"] = shown(1)
    return result
