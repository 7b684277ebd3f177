"""The intent agent's classifier: logistic regression on sentence embeddings (+ TF-IDF).

How it is trained (method version `METHOD_VERSION`):

* Features: the normalised sentence embedding of the utterance, optionally joined
  with TF-IDF features (word 1-2-grams and char_wb 2-5-grams, each block L2
  normalised, the pair scaled to norm `w`). `w = 0` is "embeddings alone".
  With a `StackedEmbedder` (the bot's embedder + the bundled multilingual encoder,
  USE multilingual v3) there are two encoder sets: the first alone (with or without
  TF-IDF) and both (embeddings alone, `MULTI_ENCODER_TFIDF`); cross-validation
  chooses, or `encoders="all"` reads both. On the demo bot (EN + FR) CV picks both:
  out-of-fold balanced score 0.877 -> 0.925, test accuracy 0.894 -> 0.931; on the
  English synthetic split it keeps MiniLM alone.
* Head: multinomial logistic regression. `w` and `C` are chosen by stratified
  cross-validation on the training data only: 2 or 3 folds (fewer when an intent
  has few examples, never fewer than 2), at most `CV_MAX_EXAMPLES` utterances (a
  stratified sample above that, to keep training on 10k utterances fast). Every
  (encoder set, TF-IDF weight, C) is scored, one worker job per fold and encoder
  set; within a job C goes small to large, each fit warm-started from the last (so
  the solver tolerance `TOL` is tighter than sklearn's default, or a warm start at a
  larger C would stop at once), and the TF-IDF runs start from the embeddings-alone
  solution. Jobs run in worker processes above `PARALLEL_MIN_EXAMPLES`. Selection is
  by out-of-fold accuracy, or the balanced OOS objective below when there are OOS
  examples (ties: better out-of-fold log-likelihood). With MiniLM alone on the demo
  bot (EN+FR, MiniLM is English-only) CV picks TF-IDF weight 1 and C 16; with both
  encoders it picks both (no TF-IDF) at C 64; on English paraphrase sets it picks
  MiniLM embeddings alone. (Version 1 fixed C on the embeddings alone, then tried the
  TF-IDF weights at that C: C 4 on the demo bot, where C 64-256 with TF-IDF is better
  out of fold; demo test accuracy 0.817 -> 0.886.)
* Out-of-scope: the chosen model's out-of-fold probabilities give the threshold.
  - Without OOS examples: the threshold is the `OOS_QUANTILE` quantile of the top
    probability of the correctly classified out-of-fold predictions: an utterance
    whose best intent is less likely than what 95% of correct training-time
    predictions reached is out of scope. Chosen on held-out splits of the synthetic
    set in bench/intent.py (5 and 10 examples per intent) and the demo bot, versus
    no threshold: 3% cost 1.2-2.3 points of in-scope accuracy and caught 54-79% of
    unrelated requests; 5% cost 2.5-6 points and caught 75-83%; 10% cost 4.5-9.5
    points and caught 85-96%. 5% is the chosen compromise.
  - With OOS examples (label `oos_label`): OOS is an ordinary class, and the
    threshold on the best in-scope probability is chosen on the out-of-fold
    predictions to maximise (in-scope accuracy + OOS recall) / 2.
* Caching: a trained model is stored under `cache_dir` keyed by a hash of the
  (sorted) examples, the embedder, the OOS label, the seed and the method version,
  and reloaded without embedding anything. Embeddings are cached per text, so
  retraining after adding a few examples embeds only the new ones.

The cached model is a pickle: only point `cache_dir` at a directory you trust.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import re
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from knowledge.embeddings import Embedder

METHOD_VERSION = "intent-lr-3"
C_GRID: tuple[float, ...] = (4.0, 16.0, 64.0, 256.0)
TFIDF_WEIGHTS: tuple[float, ...] = (0.0, 1.0)
"""0.5 was in version 1's grid; it was never the best and cost as much time as 1."""
ENCODER_CHOICES = ("cv", "all")
MULTI_ENCODER_TFIDF: tuple[float, ...] = (0.0,)
"""TF-IDF weights tried when the multilingual encoder is read too: none. The n-grams
stand in for words the English-only encoder does not know, which the multilingual one
covers; on the demo bot TF-IDF on top of both encoders lowered the out-of-fold balanced
score from 0.925 to 0.911, and those fits would add a third to the CV time on 10k
utterances (measured 115.6 s with them, 20% random labels)."""
MAX_FOLDS = 3
CV_MAX_EXAMPLES = 2000
"""2,500 in version 1; with every (weight, C) pair scored, 2,000 keeps 10k utterances
well under 90 s (bench/intent.py --scale 10000 --label-noise 0.2)."""
OOS_QUANTILE = 0.05
MAX_ITER = 1000
PARALLEL_MIN_EXAMPLES = 1000
TOL = 1e-5
FINAL_TOL = 1e-4
MAX_WORD_FEATURES = 8_000
MAX_CHAR_FEATURES = 12_000


@dataclass(frozen=True)
class IntentPrediction:
    label: str
    """An intent name, or the OOS label."""
    confidence: float
    """Probability of `label`; for an OOS decision made by the threshold (not by an
    OOS class winning), the probability mass left off the best intent (1 - p1)."""
    alternatives: list[tuple[str, float]]
    """The model's top-3 (label, probability), best first, whatever the OOS decision."""
    margin: float
    """p1 - p2 of `alternatives`: small means ambiguous between the first two."""
    is_oos: bool


def encoder_sets(embedder: Embedder, encoders: str = "cv") -> tuple[int, ...]:
    """How many of the embedder's blocks (leading ones) a candidate feature set reads:
    a `StackedEmbedder` of the bot's embedder and a multilingual one gives (1, 2) (the
    first alone or both, cross-validation chooses) or, with `encoders="all"`, (2,); a
    plain embedder (1,)."""
    return _sets(_blocks(embedder), encoders)


def _sets(blocks: tuple[int, ...], encoders: str = "cv") -> tuple[int, ...]:
    if encoders not in ENCODER_CHOICES:
        raise ValueError(f"encoders must be one of {', '.join(ENCODER_CHOICES)}, "
                         f"not {encoders!r}")
    if len(blocks) <= 1:
        return (1,)
    return (len(blocks),) if encoders == "all" else (1, len(blocks))


def _blocks(embedder: Embedder) -> tuple[int, ...]:
    return tuple(getattr(embedder, "blocks", (embedder.dim,)))


def _encoder_names(embedder: Embedder, n: int) -> str:
    parts = getattr(embedder, "parts", None)
    return "+".join(p.name for p in parts[:n]) if parts else embedder.name


@dataclass
class TextFeatures:
    """Turns texts (+ their embeddings) into a classifier's feature matrix: the first
    `dense_blocks` embedding blocks (each a unit vector; together scaled back to norm 1)
    beside word 1-2-gram and char_wb 2-5-gram TF-IDF blocks scaled to norm `weight`."""

    weight: float
    word: TfidfVectorizer | None = None
    char: TfidfVectorizer | None = None
    max_word_features: int = MAX_WORD_FEATURES
    max_char_features: int = MAX_CHAR_FEATURES
    min_df: int = 1
    blocks: tuple[int, ...] = ()
    """Widths of the embedder's blocks; empty: one block, the whole vector."""
    dense_blocks: int = 1

    def fit(self, texts: Sequence[str]) -> TextFeatures:
        if self.weight > 0 and self.word is None:
            self.word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True,
                                        min_df=self.min_df,
                                        max_features=self.max_word_features, dtype=np.float32)
            self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5),
                                        sublinear_tf=True, min_df=self.min_df,
                                        max_features=self.max_char_features,
                                        dtype=np.float32)
            self.word.fit(texts)
            self.char.fit(texts)
        return self

    def dense(self, vectors: np.ndarray) -> np.ndarray:
        if len(self.blocks) <= 1:
            return vectors
        used = self.blocks[:self.dense_blocks]
        return vectors[:, :sum(used)] * np.float32(1.0 / math.sqrt(len(used)))

    def transform(self, texts: Sequence[str], vectors: np.ndarray) -> Any:
        vectors = self.dense(vectors)
        if self.weight <= 0 or self.word is None or self.char is None:
            return vectors
        scale = np.float32(self.weight / math.sqrt(2.0))
        return sp.hstack([sp.csr_matrix(vectors), self.word.transform(texts) * scale,
                          self.char.transform(texts) * scale], format="csr", dtype=np.float32)


def _logreg(c: float, seed: int) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=MAX_ITER, tol=TOL, warm_start=True, random_state=seed)


def _fit(model: LogisticRegression, x: Any, y: np.ndarray) -> LogisticRegression:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


Key = tuple[int, float, float]
"""(embedding blocks read, TF-IDF weight, C)."""


def _weights(dense_blocks: int) -> tuple[float, ...]:
    """TF-IDF weights tried with an encoder set: with more than the first encoder, the
    embeddings alone (see MULTI_ENCODER_TFIDF)."""
    return TFIDF_WEIGHTS if dense_blocks == 1 else MULTI_ENCODER_TFIDF


def grid_of(blocks: tuple[int, ...], encoders: str = "cv") -> list[Key]:
    """Every candidate (encoder set, TF-IDF weight, C) that cross-validation scores."""
    return [(n, w, c) for n in _sets(blocks, encoders) for w in _weights(n) for c in C_GRID]


def _cv_fold(tr_text: list[str], tr_vectors: np.ndarray, tr_y: np.ndarray,
             te_text: list[str], te_vectors: np.ndarray, classes: np.ndarray,
             seed: int, blocks: tuple[int, ...], encoders: str = "cv"
             ) -> dict[Key, np.ndarray]:
    """Out-of-fold probabilities (columns in `classes` order) of every (encoder set,
    TF-IDF weight, C) on one fold (`_cv_job` for each encoder set)."""
    out: dict[Key, np.ndarray] = {}
    for n in _sets(blocks, encoders):
        out |= _cv_job(tr_text, tr_vectors, tr_y, te_text, te_vectors, classes, seed,
                       blocks, n)
    return out


def _cv_job(tr_text: list[str], tr_vectors: np.ndarray, tr_y: np.ndarray,
            te_text: list[str], te_vectors: np.ndarray, classes: np.ndarray,
            seed: int, blocks: tuple[int, ...], dense_blocks: int) -> dict[Key, np.ndarray]:
    """One fold, one encoder set: C small to large, each fit warm-started from the last;
    a TF-IDF weight starts from the embeddings-alone solution at the smallest C."""
    col = {c: i for i, c in enumerate(classes)}
    weights = sorted(_weights(dense_blocks))
    shared = TextFeatures(1.0).fit(tr_text) if any(weights) else None
    dense_start: tuple[np.ndarray, np.ndarray] | None = None
    out: dict[Key, np.ndarray] = {}
    for weight in weights:
        feats = TextFeatures(weight, shared.word if shared else None,
                             shared.char if shared else None, blocks=blocks,
                             dense_blocks=dense_blocks)
        x_tr = feats.transform(tr_text, tr_vectors)
        x_te = feats.transform(te_text, te_vectors)
        model = _logreg(C_GRID[0], seed)
        if weight > 0 and dense_start is not None:  # the TF-IDF coefficients start at zero
            coef, intercept = dense_start
            model.coef_ = np.hstack([coef, np.zeros((len(coef), x_tr.shape[1] - coef.shape[1]))])
            model.intercept_ = intercept.copy()
        for c in C_GRID:
            model.C = c
            _fit(model, x_tr, tr_y)
            if weight == 0 and c == C_GRID[0]:
                dense_start = (model.coef_.copy(), model.intercept_.copy())
            proba = np.zeros((len(te_text), len(classes)))
            proba[:, [col[k] for k in model.classes_]] = model.predict_proba(x_te)
            out[(dense_blocks, weight, c)] = proba
    return out


def _n_folds(counts: Counter[str]) -> int:
    return max(2, min(MAX_FOLDS, min(counts.values())))


def _cv_sample(y: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of a stratified sample of at most CV_MAX_EXAMPLES (all when fewer)."""
    if len(y) <= CV_MAX_EXAMPLES:
        return np.arange(len(y))
    frac = CV_MAX_EXAMPLES / len(y)
    keep: list[np.ndarray] = []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        take = min(len(idx), max(n_folds, round(len(idx) * frac)))
        keep.append(rng.choice(idx, size=take, replace=False))
    return np.sort(np.concatenate(keep))


def _threshold_without_oos(proba: np.ndarray, y: np.ndarray, classes: np.ndarray) -> float:
    top = proba.argmax(axis=1)
    correct = proba[np.arange(len(y)), top][classes[top] == y]
    if len(correct) == 0:
        return 0.0
    return float(np.quantile(correct, OOS_QUANTILE))


def _balanced_threshold(proba: np.ndarray, y: np.ndarray, classes: np.ndarray,
                        oos_label: str) -> tuple[float, float]:
    """The threshold maximising (in-scope accuracy + OOS recall) / 2 out of fold."""
    oos_index = int(np.flatnonzero(classes == oos_label)[0])
    gold_oos = y == oos_label
    top = proba.argmax(axis=1)
    p1 = proba[np.arange(len(y)), top]
    right = classes[top] == y
    candidates = np.unique(np.concatenate([[0.0], p1[~gold_oos & right]]))
    best = (-1.0, 0.0)
    for t in candidates:
        is_oos = (top == oos_index) | (p1 < t)
        in_acc = float(np.mean(right[~gold_oos] & ~is_oos[~gold_oos])) if (~gold_oos).any() \
            else 1.0
        recall = float(np.mean(is_oos[gold_oos])) if gold_oos.any() else 1.0
        score = (in_acc + recall) / 2
        if score > best[0] + 1e-12:
            best = (score, float(t))
    return best[1], best[0]


def _oof_accuracy(proba: np.ndarray, y: np.ndarray, classes: np.ndarray) -> tuple[float, float]:
    """Out-of-fold accuracy and mean log-likelihood of the gold label."""
    index = {c: i for i, c in enumerate(classes)}
    gold = np.array([index[v] for v in y])
    acc = float(np.mean(proba.argmax(axis=1) == gold))
    loglik = float(np.mean(np.log(np.clip(proba[np.arange(len(y)), gold], 1e-12, 1.0))))
    return acc, loglik


def score_name(embedder: Embedder, dense_blocks: int, weight: float, c: float) -> str:
    """The `cv_scores` key of one candidate."""
    return f"encoders={_encoder_names(embedder, dense_blocks)},tfidf_weight={weight:g},C={c:g}"


def load_cached(path: Path | None, kind: type[Any]) -> Any | None:
    """A model pickled at `path` when it is a `kind` (and has a `chosen` dict, marked
    `from_cache`); None when there is none or it cannot be read (it is then retrained)."""
    if path is None or not path.exists():
        return None
    try:
        with path.open("rb") as fh:
            loaded = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    if not isinstance(loaded, kind):
        return None
    loaded.chosen = {**loaded.chosen, "from_cache": True}
    return loaded


def store_cached(path: Path | None, model: Any) -> None:
    """Pickle `model` at `path` (no-op for None) through a temporary file, so a reader
    never sees half a file."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[-80:]


class EmbeddingCache:
    """Per-text embeddings of one embedder in `cache_dir/embeddings/<name>.npz`."""

    def __init__(self, cache_dir: Path | None, embedder: Embedder) -> None:
        self.embedder = embedder
        self.path = (cache_dir / "embeddings" / f"{_safe_name(embedder.name)}-{embedder.dim}.npz"
                     if cache_dir is not None else None)

    def _load(self) -> dict[str, np.ndarray]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            with np.load(self.path, allow_pickle=False) as data:
                return dict(zip(data["texts"].tolist(), data["vectors"], strict=True))
        except (OSError, ValueError, KeyError):
            return {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        known = self._load()
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            for text, vector in zip(missing, self.embedder.embed_documents(missing), strict=True):
                known[text] = vector
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp.npz")
                np.savez(tmp, texts=np.array(list(known), dtype=str),
                         vectors=np.stack(list(known.values())).astype(np.float32))
                tmp.replace(self.path)
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return np.stack([known[t] for t in texts]).astype(np.float32)


def training_key(texts: Sequence[str], labels: Sequence[str], embedder: Embedder,
                 oos_label: str, seed: int, encoders: str = "cv") -> str:
    """Hash of everything the trained model depends on (examples order-independent)."""
    digest = hashlib.sha256()
    header = {"method": METHOD_VERSION, "embedder": embedder.name, "dim": embedder.dim,
              "encoders": encoders,
              "oos_label": oos_label, "seed": seed}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for label, text in sorted(zip(labels, texts, strict=True)):
        digest.update(b"\x1e" + label.encode() + b"\x1f" + text.encode())
    return digest.hexdigest()[:32]


@dataclass(eq=False)
class IntentClassifier:
    labels: list[str]
    oos_label: str
    oos_threshold: float
    chosen: dict[str, Any]
    model: LogisticRegression
    features: TextFeatures
    embedder: Embedder | None = field(default=None, repr=False)

    @property
    def has_oos_class(self) -> bool:
        return self.oos_label in self.labels

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str], embedder: Embedder, *,
              oos_label: str = "oos", cache_dir: Path | None = None,
              seed: int = 0, encoders: str = "cv") -> IntentClassifier:
        """Train (or reload from `cache_dir`) a classifier on labelled utterances.

        With a `StackedEmbedder`, `encoders="cv"` lets cross-validation choose between
        its first part alone and all parts; `"all"` always reads all of them (a bot whose
        examples are in one language, answering customers who write in others: the
        held-out folds cannot show that gain)."""
        _sets(_blocks(embedder), encoders)  # a bad value fails before anything is trained
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if not texts:
            raise ValueError("no training examples")
        key = training_key(texts, labels, embedder, oos_label, seed, encoders)
        model_path = cache_dir / f"model-{key}.pkl" if cache_dir is not None else None
        loaded = load_cached(model_path, cls)
        if loaded is not None:
            loaded.embedder = embedder
            return loaded
        trained = cls._train(texts, labels, embedder, oos_label, cache_dir, seed, encoders)
        embedder_ref, trained.embedder = trained.embedder, None  # not pickled
        try:
            store_cached(model_path, trained)
        finally:
            trained.embedder = embedder_ref
        return trained

    @classmethod
    def _train(cls, texts: Sequence[str], labels: Sequence[str], embedder: Embedder,
               oos_label: str, cache_dir: Path | None, seed: int,
               encoders: str) -> IntentClassifier:
        started = time.perf_counter()
        pairs = sorted(zip(labels, texts, strict=True))  # canonical order: same data, same model
        y = np.array([p[0] for p in pairs], dtype=object)
        x_text = [p[1] for p in pairs]
        counts = Counter(y.tolist())
        if len(counts) < 2:
            raise ValueError("need examples of at least two labels")
        vectors = EmbeddingCache(cache_dir, embedder).embed(x_text)
        embed_seconds = time.perf_counter() - started

        n_folds = _n_folds(counts)
        rng = np.random.default_rng(seed)
        sample = _cv_sample(y, n_folds, rng)
        ys, ts, vs = y[sample], [x_text[i] for i in sample], vectors[sample]
        classes = np.array(sorted(counts), dtype=object)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # a class smaller than n_folds
            splits = list(StratifiedKFold(n_folds, shuffle=True, random_state=seed)
                          .split(np.zeros(len(ys)), ys))
        blocks = _blocks(embedder)
        grid = grid_of(blocks, encoders)
        oof = {key: np.zeros((len(ys), len(classes))) for key in grid}
        # One job per (fold, encoder set): 3 folds x 2 sets keep 2 workers busier than
        # 3 whole folds would.
        tasks = [(test_idx, train_idx, n) for train_idx, test_idx in splits
                 for n in encoder_sets(embedder, encoders)]
        workers = min(len(tasks), os.cpu_count() or 1) if len(ys) >= PARALLEL_MIN_EXAMPLES else 1
        jobs = (delayed(_cv_job)([ts[i] for i in tr], vs[tr], ys[tr], [ts[i] for i in te],
                                 vs[te], classes, seed, blocks, n) for te, tr, n in tasks)
        for (test_idx, _, _), job_proba in zip(tasks, Parallel(n_jobs=workers)(jobs),
                                               strict=True):
            for key, proba in job_proba.items():
                oof[key][test_idx] = proba

        scores: dict[str, dict[str, float]] = {}
        best_key, best_score = grid[0], (-math.inf, -math.inf)

        def score(keys: Sequence[Key]) -> None:
            nonlocal best_key, best_score
            for n, w, c in keys:
                proba = oof[(n, w, c)]
                acc, loglik = _oof_accuracy(proba, ys, classes)
                row = {"accuracy": round(acc, 4), "log_likelihood": round(loglik, 4)}
                objective = acc
                if oos_label in counts:
                    t, balanced = _balanced_threshold(proba, ys, classes, oos_label)
                    row |= {"balanced": round(balanced, 4), "threshold": round(t, 4)}
                    objective = balanced
                scores[score_name(embedder, n, w, c)] = row
                if (objective, loglik) > best_score:
                    best_key, best_score = (n, w, c), (objective, loglik)

        # Every (encoders, weight, C): the best C with TF-IDF features is not the best C
        # of the embeddings alone (more, sparser features), so C is not fixed on a dense
        # stage. (The folds ran above, in worker processes when there are enough examples.)
        score(grid)
        n_best, weight, c_best = best_key
        cv_seconds = time.perf_counter() - started - embed_seconds
        best_proba = oof[best_key]
        if oos_label in counts:
            threshold, _ = _balanced_threshold(best_proba, ys, classes, oos_label)
            rule = "balanced in-scope accuracy / OOS recall on out-of-fold predictions"
        else:
            threshold = _threshold_without_oos(best_proba, ys, classes)
            rule = f"{OOS_QUANTILE:.0%} quantile of correct out-of-fold top probabilities"

        features = TextFeatures(weight, blocks=blocks, dense_blocks=n_best).fit(x_text)
        final = _logreg(c_best, seed)
        final.tol = FINAL_TOL  # a cold start: the default tolerance converges
        model = _fit(final, features.transform(x_text, vectors), y)
        chosen = {
            "method": METHOD_VERSION,
            "head": "embedding" if weight == 0 else "embedding+tfidf",
            "encoders": _encoder_names(embedder, n_best), "tfidf_weight": weight,
            "C": c_best, "folds": n_folds,
            "cv_examples": len(ys), "cv_scores": scores,
            "oos_threshold": round(threshold, 4), "oos_rule": rule,
            "oos_class": oos_label in counts, "embed_seconds": round(embed_seconds, 3),
            "cv_seconds": round(cv_seconds, 3),
            "train_seconds": round(time.perf_counter() - started, 3), "from_cache": False,
        }
        return cls(labels=[str(c) for c in model.classes_], oos_label=oos_label,
                   oos_threshold=float(threshold), chosen=chosen, model=model,
                   features=features, embedder=embedder)

    def _require_embedder(self) -> Embedder:
        if self.embedder is None:
            raise RuntimeError("the classifier has no embedder attached")
        return self.embedder

    def predict(self, text: str) -> IntentPrediction:
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[IntentPrediction]:
        if not texts:
            return []
        vectors = self._require_embedder().embed_queries(list(texts))
        proba = self.model.predict_proba(self.features.transform(list(texts), vectors))
        classes = self.model.classes_
        out: list[IntentPrediction] = []
        for row in proba:
            order = np.argsort(-row, kind="stable")[:3]
            alternatives = [(str(classes[i]), float(row[i])) for i in order]
            p1 = alternatives[0][1]
            p2 = alternatives[1][1] if len(alternatives) > 1 else 0.0
            top = alternatives[0][0]
            if top == self.oos_label:
                out.append(IntentPrediction(top, p1, alternatives, p1 - p2, True))
            elif p1 < self.oos_threshold:
                out.append(IntentPrediction(self.oos_label, 1.0 - p1, alternatives, p1 - p2,
                                            True))
            else:
                out.append(IntentPrediction(top, p1, alternatives, p1 - p2, False))
        return out
