"""`supportgraph eval intent`: train the intent classifier on one labelled CSV, score
it on another (accuracy, macro-F1, in-scope accuracy, OOS recall/precision, latency).

When the test set has the OOS label the task is open-set: an utterance counts as
right only when the OOS decision is right too. Without it (a closed-set benchmark
such as a 77-intent banking set) every test utterance belongs to some intent, so
the prediction scored is the best configured intent; `open_set_accuracy` and
`rejected_as_oos` say what the out-of-scope decision would have cost.
"""

from __future__ import annotations

import csv
import io
import random
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.datasets import DatasetError
from knowledge.embeddings import Embedder

if TYPE_CHECKING:
    from agents.intent_model import IntentPrediction

LATENCY_SAMPLE = 300


def load_labelled_csv(path: Path, text_col: str = "text",
                      label_col: str = "label") -> list[tuple[str, str]]:
    """(text, label) rows of a CSV with a header; a bad row names its line and column."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(path, "no such file") from None
    except IsADirectoryError:
        raise DatasetError(path, "is a directory, expected a CSV file") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DatasetError(path, f"not valid UTF-8 (byte {exc.start})", line) from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise DatasetError(path, "empty file: expected a header row", 1)
        names = [h.strip() for h in header]
        for col in (text_col, label_col):
            if col not in names:
                raise DatasetError(path, f"missing column in the header (found: "
                                   f"{', '.join(names)})", 1, col)
        ti, li = names.index(text_col), names.index(label_col)
        rows: list[tuple[str, str]] = []
        start = reader.line_num + 1
        for record in reader:
            lineno, start = start, reader.line_num + 1
            if not record or not any(cell.strip() for cell in record):
                continue
            values = []
            for col, index in ((text_col, ti), (label_col, li)):
                value = record[index].strip() if index < len(record) else ""
                if not value:
                    raise DatasetError(path, "must be a non-empty string", lineno, col)
                values.append(value)
            rows.append((values[0], values[1]))
    except csv.Error as exc:
        raise DatasetError(path, f"malformed CSV ({exc})", reader.line_num) from exc
    if not rows:
        raise DatasetError(path, "no data rows after the header")
    return rows


def macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Unweighted mean F1 over every label seen in gold or predictions."""
    scores = []
    for label in sorted(set(gold) | set(pred)):
        tp = sum(g == label and p == label for g, p in zip(gold, pred, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, pred, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, pred, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return statistics.fmean(scores) if scores else 0.0


def score_predictions(gold: Sequence[str], pred: Sequence[str],
                      oos_label: str) -> dict[str, float]:
    """accuracy, macro_f1 and, when gold has the OOS label, the OOS metrics."""
    pairs = list(zip(gold, pred, strict=True))
    out = {"accuracy": round(sum(g == p for g, p in pairs) / len(pairs), 4),
           "macro_f1": round(macro_f1(gold, pred), 4)}
    if oos_label in gold:
        inscope = [(g, p) for g, p in pairs if g != oos_label]
        gold_oos = [p for g, p in pairs if g == oos_label]
        pred_oos = [g for g, p in pairs if p == oos_label]
        out["in_scope_accuracy"] = round(
            sum(g == p for g, p in inscope) / len(inscope), 4) if inscope else 0.0
        out["oos_recall"] = round(sum(p == oos_label for p in gold_oos) / len(gold_oos), 4)
        out["oos_precision"] = round(
            sum(g == oos_label for g in pred_oos) / len(pred_oos), 4) if pred_oos else 0.0
    return out


def closed_set_label(prediction: IntentPrediction, oos_label: str) -> str:
    """The most likely configured intent, whatever the OOS decision says."""
    for label, _ in prediction.alternatives:
        if label != oos_label:
            return label
    return prediction.label


def latency_sample(texts: Sequence[str], size: int = LATENCY_SAMPLE,
                   seed: int = 0) -> list[str]:
    """Distinct test texts (all of them, or a fixed random sample of `size`)."""
    distinct = list(dict.fromkeys(texts))
    if len(distinct) <= size:
        return distinct
    return random.Random(seed).sample(distinct, size)


def run_intent_eval(train_path: Path, test_path: Path, embedder: Embedder, *,
                    text_col: str = "text", label_col: str = "label", oos_label: str = "oos",
                    cache_dir: Path | None = None, encoders: str = "cv",
                    progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Train on TRAIN only, then score TEST; latency is one utterance at a time.
    `encoders`: as `IntentClassifier.train`."""
    from agents.intent_model import IntentClassifier

    train = load_labelled_csv(train_path, text_col, label_col)
    test = load_labelled_csv(test_path, text_col, label_col)
    if progress:
        progress("training", 0, 1)
    started = time.perf_counter()
    clf = IntentClassifier.train([t for t, _ in train], [label for _, label in train],
                                 embedder, oos_label=oos_label, cache_dir=cache_dir,
                                 encoders=encoders)
    train_seconds = time.perf_counter() - started
    if progress:
        progress("training", 1, 1)

    test_texts = [t for t, _ in test]
    sample = latency_sample(test_texts)
    latencies: list[float] = []
    for i, text in enumerate(sample, 1):
        begun = time.perf_counter()
        clf.predict(text)  # not yet in the query cache: includes the embedding
        latencies.append((time.perf_counter() - begun) * 1000)
        if progress and (i % 20 == 0 or i == len(sample)):
            progress("latency", i, len(sample))
    predictions = clf.predict_many(test_texts)
    if progress:
        progress("classifying", len(test), len(test))

    gold = [label for _, label in test]
    result: dict[str, Any]
    if oos_label in gold:
        labels = [p.label for p in predictions]
        result = dict(score_predictions(gold, labels, oos_label))
        result["decision"] = "open_set"
    else:
        # No out-of-scope utterance to find: a closed-set task, scored on the best
        # intent; what the OOS decision would have done is reported beside it.
        labels = [closed_set_label(p, oos_label) for p in predictions]
        result = dict(score_predictions(gold, labels, oos_label))
        open_set = [p.label for p in predictions]
        result["decision"] = "closed_set"
        result["open_set_accuracy"] = score_predictions(gold, open_set, oos_label)["accuracy"]
        result["rejected_as_oos"] = round(
            sum(p.is_oos for p in predictions) / len(predictions), 4)
    result |= {
        "median_latency_ms": round(statistics.median(latencies), 3),
        "train_seconds": round(train_seconds, 3),
        "n_train": len(train), "n_test": len(test),
        "n_intents": len({label for _, label in train if label != oos_label}),
        "chosen": clf.chosen,
    }
    return result
