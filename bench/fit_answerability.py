"""Fit the answerability model (agents/answerability.py) on the demo calibration questions.

    python bench/fit_answerability.py [--data-dir DIR] [--min-recall 0.90]

Calibration data only (never `rag_eval.jsonl`): `retrieval_queries.jsonl` (answerable),
`unanswerable.jsonl`, and `rag_calibration.jsonl` (answerable facts and near-miss
questions on other topics than the eval set). A question's features are the per-feature
maxima over its top-k passages (searched in its language, as the graph does); a passage's
probability is the model applied to its own features. Prints the weights to paste into
`DEFAULT_MODEL`, repeated 5-fold cross-validation, a held-out check (fit without
`rag_calibration.jsonl`, score on it) and the threshold: the highest one keeping
cross-validated answerable recall at or above --min-recall.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from agents.answerability import FEATURES, PassageText, passage_features  # noqa: E402
from knowledge.store import SearchFilter  # noqa: E402

DEMO = REPO / "supportgraph" / "demo"


def questions() -> list[tuple[str, str, int, str]]:
    """(question, language, answerable, source file) of every calibration question."""
    out: list[tuple[str, str, int, str]] = []
    for line in (DEMO / "retrieval_queries.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            language = "fr" if row.get("shape") == "french" else "en"
            out.append((row["query"], language, 1, "retrieval_queries"))
    for name in ("unanswerable.jsonl", "rag_calibration.jsonl"):
        for line in (DEMO / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                answerable = row.get("answerable", name != "unanswerable.jsonl")
                out.append((row["question"], row.get("language", "en"), int(answerable),
                            name.removesuffix(".jsonl")))
    return out


def fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Standardised L2 logistic regression, folded back into raw-feature weights."""
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(x), y)
    weights = model.coef_[0] / scaler.scale_
    bias = float(model.intercept_[0] - np.sum(model.coef_[0] * scaler.mean_ / scaler.scale_))
    return weights, bias


def probability(rows: np.ndarray, weights: np.ndarray, bias: float) -> float:
    """The best passage's probability."""
    return float(np.max(1.0 / (1.0 + np.exp(-(rows @ weights + bias)))))


def rates(p: np.ndarray, y: np.ndarray, t: float) -> str:
    answered = p >= t
    out = []
    if (y == 1).any():
        out.append(f"answerable answered {np.mean(answered[y == 1]):.3f}")
    if (y == 0).any():
        out.append(f"unanswerable declined {np.mean(~answered[y == 0]):.3f}")
    return ", ".join(out)


def compute_features(items: list[tuple[str, str, int, str]], data_dir: Path | None
                     ) -> list[np.ndarray]:
    """Each question's per-passage features over its top-k passages in its language."""
    from supportgraph.cli import _demo_runtime

    runtime = _demo_runtime(data_dir or Path(tempfile.mkdtemp(prefix="answerability-")))
    ctx = runtime.context
    per_passage: list[np.ndarray] = []
    for question, language, _, _ in items:
        found = ctx.retriever.search(question, ctx.top_k, search_filter=SearchFilter(
            language=language, tenant=ctx.tenant))
        texts = [PassageText(p.text, p.title, p.language, p.similarity or 0.0, p.section)
                 for p in found]
        per_passage.append(np.array(passage_features(
            question, texts, ctx.retriever.embedder, ctx.retriever.encoder,
            ctx.lexical_bonus, ctx.language_offsets)))
    runtime.close()
    return per_passage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--min-recall", type=float, default=0.90)
    parser.add_argument("--features", type=Path, default=None,
                        help="Read the features from / save them to this .npz file.")
    args = parser.parse_args()
    items = questions()
    if args.features is not None and args.features.exists():
        saved = np.load(args.features)
        per_passage = [saved[f"q{i}"] for i in range(len(items))]
    else:
        per_passage = compute_features(items, args.data_dir)
        if args.features is not None:
            arrays: dict[str, Any] = {f"q{i}": rows for i, rows in enumerate(per_passage)}
            np.savez(args.features, **arrays)
    x = np.array([rows.max(axis=0) for rows in per_passage])
    y = np.array([answerable for _, _, answerable, _ in items])
    source = np.array([src for *_, src in items])

    cv = np.zeros((5, len(items)))
    for seed in range(5):
        fold = np.zeros(len(items), dtype=int)
        fold[np.random.RandomState(seed).permutation(len(items))] = np.arange(len(items)) % 5
        for k in range(5):
            w, b = fit(x[fold != k], y[fold != k])
            for i in np.where(fold == k)[0]:
                cv[seed, i] = probability(per_passage[i], w, b)
    aucs = [roc_auc_score(y, cv[s]) for s in range(5)]
    pooled = cv.ravel()
    pooled_y = np.tile(y, 5)
    candidates = [t for t in np.arange(0.05, 0.95, 0.01)
                  if np.mean(pooled[pooled_y == 1] >= t) >= args.min_recall]
    threshold = round(float(max(candidates)), 2)
    print(f"{len(items)} questions ({int(y.sum())} answerable, {int((1 - y).sum())} not)")
    print(f"5x5-fold CV ROC AUC {np.mean(aucs):.3f} ± {np.std(aucs):.3f}")
    print(f"threshold {threshold} (CV answerable recall >= {args.min_recall}): "
          f"{rates(pooled, pooled_y, threshold)}")
    for name in sorted(set(source)):
        mask = np.tile(source == name, 5)
        print(f"  CV on {name}: {rates(pooled[mask], pooled_y[mask], threshold)}")
    held = source == "rag_calibration"
    w, b = fit(x[~held], y[~held])
    p = np.array([probability(per_passage[i], w, b) for i in np.where(held)[0]])
    print(f"held out rag_calibration (fit on the other two files): ROC AUC "
          f"{roc_auc_score(y[held], p):.3f}, {rates(p, y[held], threshold)}")
    weights, bias = fit(x, y)
    print("DEFAULT_MODEL = AnswerabilityModel(")
    print(f"    weights=({', '.join(f'{v:.4f}' for v in weights)}),  # {', '.join(FEATURES)}")
    print(f"    bias={bias:.4f},\n)")


if __name__ == "__main__":
    main()
