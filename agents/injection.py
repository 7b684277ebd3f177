"""Prompt-injection and jailbreak detection for the input guard: patterns + a classifier.

Two layers, both run on every customer message by `guard_in`:

* `PATTERNS`: high-precision regular expressions (English and French) for the
  unmistakable forms: "ignore all previous instructions", "print your system
  prompt", "repeat / translate the text above", chat-template tokens and fake
  system/admin headers or tags, "you are now DAN", "enter developer mode",
  "access granted", "cancel your current task". A match blocks the message; none
  of them matches any benign line of the shipped train or dev sets.
* `InjectionClassifier`: logistic regression on the all-MiniLM-L6-v2 sentence
  embedding joined with character n-gram TF-IDF (char_wb 2-5, plus word 1-2
  grams), trained on a labelled JSONL set (`{"text", "label"}`, 1 = attack; the
  shipped one is `supportgraph/demo/guard/train.jsonl`). The TF-IDF weight and C
  are chosen by stratified 3-fold cross-validation on the training set only
  (out-of-fold average precision); the decision threshold is the lowest one whose
  out-of-fold false-positive rate on the benign examples stays at or below
  `TARGET_FPR` (and never below `MIN_THRESHOLD`). A message longer than
  `WINDOW_CHARS` is scored in overlapping windows (MiniLM reads at most 256 word
  pieces) and its score is the highest window's.

The trained model is cached in `cache_dir` under a hash of the training examples
and the method version (a pickle: only point `cache_dir` at a directory you
trust), and `InjectionDetector` loads or trains it lazily, once per process, on
the first message it checks.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from agents.intent_model import EmbeddingCache, TextFeatures, load_cached, store_cached
from knowledge.embeddings import Embedder

METHOD_VERSION = "guard-lr-1"
DEFAULT_DATASET = Path(__file__).resolve().parent.parent / "supportgraph" / "demo" / "guard" \
    / "train.jsonl"
TFIDF_WEIGHTS: tuple[float, ...] = (0.0, 1.0, 2.0)
C_START = 4.0
C_GRID: tuple[float, ...] = (1.0, 16.0)
FOLDS = 3
TARGET_FPR = 0.005
MIN_THRESHOLD = 0.5
WINDOW_CHARS = 900
WINDOW_STRIDE = 450
MAX_ITER = 500

_F = re.IGNORECASE | re.DOTALL
_GAP = r"[\s\S]{0,40}?"
_PATTERN_SOURCES: tuple[tuple[str, str], ...] = (
    ("ignore_instructions",
     r"\b(ignore|disregard|forget|override|bypass|skip|drop|discard)\b(?![^.\n]{0,30}\bmy\b)"
     r"[^.\n]{0,40}\b(previous|prior|above|preceding|earlier|former|all|your|initial|original|"
     r"system|any)\b[^.\n]{0,30}\b(instructions?|rules|prompts?|directives?|guidelines|"
     r"programming|constraints|restrictions|guardrails)\b"),
    ("reveal_prompt",
     r"\b(reveal|show|print|repeat|output|display|tell|give|leak|dump|share|read|write|"
     r"echo|paste|quote|recite)\b" + _GAP + r"\b(your|the|its)\s+(system|hidden|initial|secret|"
     r"original|internal|full|exact)\s+(prompt|instructions?|message|rules|configuration)"),
    ("text_above",
     r"\b(repeat|print|output|translate|summari[sz]e|rewrite|paraphrase|echo|copy|display|show)"
     r"\b[^.\n]{0,30}\b(text|everything|words|instructions|prompt|message|content)\s+"
     r"(above|before this|preceding)"),
    ("your_prompt",
     r"\b(print|repeat|reveal|output|show|display|recite)\b\s+(me\s+)?(your|ur)\s+"
     r"(prompt|instructions|rules|guidelines|pre-?prompt)\b"),
    ("persona", r"\byou\s+are\s+(now\s+)?(DAN|STAN|AIM|jailbroken|unrestricted|unfiltered)\b"
     r"|\bdo\s+anything\s+now\b|\b(god|jailbreak|dan|unrestricted)\s+mode\b"
     r"|\b(enter|activate|switch\s+to|are\s+(now\s+)?in|now\s+in)\s+developer\s+mode\b"),
    ("no_restrictions",
     r"\b(no|without|free\s+of|zero)\s+(rules|restrictions|limits|filters|guidelines|"
     r"censorship)\b" + _GAP + r"\b(answer|respond|reply|obey|do|say|act)\b"
     r"|\b(act|pretend|roleplay|role-play|behave)\b" + _GAP +
     r"\b(no|without)\s+(rules|restrictions|limits|filters|guidelines)\b"),
    ("chat_template", r"<\|im_(start|end)\|>|\[/?INST\]|<</?SYS>>|<\|(system|user|assistant|"
     r"endoftext)\|>|\"role\"\s*:\s*\"system\""),
    ("fake_system",
     r"(^|\n)\s*[\[<#(]*\s*(system|admin|administrator|developer|root|moderator)"
     r"(\s+(message|prompt|override|notice|update|command))?\s*[\]>)#]*\s*:" + _GAP +
     r"\b(you|assistant|ignore|must|allowed|obey|comply|disabled?|enabled?|policy|rules|"
     r"instructions|restrictions|verified|authori[sz]ed)\b"),
    ("access_granted", r"\baccess\s*granted\b|\bi\s+have\s+been\s+pwned\b"),
    ("above_text",
     r"\b(translate|repeat|print|summari[sz]e|rewrite|output|paraphrase)\s+(all\s+)?(the\s+)?"
     r"(above|preceding|previous)\s+(text|instructions|message|prompt|content|words)\b"
     r"|\b(written|said|text)\b[^.\n]{0,20}\b(beginning|start|top)\s+of\s+(this|the)\s+"
     r"(conversation|chat|prompt)\b"),
    ("fake_reply", r"\bhere\s+(is|are)\s+my\s+(system\s+prompt|instructions|hidden\s+rules)"),
    ("fake_tag", r"</?\s*(admin|system|sys|developer|root)(_[a-z]+)?\s*>"
     r"|\b(openai|anthropic)\s+(staff|team|employees?|developers?)\b"),
    ("task_swap", r"\b(cancel|abandon|drop|stop)\s+(your|the)\s+(current|original|previous)\s+"
     r"task\b"),
    ("ignore_fr",
     r"\b(ignore[sz]?|oublie[sz]?|ne\s+tiens\s+(plus|pas)\s+compte\s+de|fais\s+abstraction\s+de)"
     r"\b(?![^.\n]{0,30}\b(mes|my|nos|our)\b)[^.\n]{0,40}\b(instructions?|consignes?|règles|"
     r"directives)\b"
     r"(?!\s+de\s+(montage|lavage|retour|livraison|la\s+boîte))"),
    ("reveal_fr",
     r"\b(affiche|révèle|montre|répète|donne|imprime|récite|écris)[sz]?\b" + _GAP +
     r"\b(ton|votre|le|tes|vos)\s+(prompt|instructions?|consignes?)\s*(système|cachées?|"
     r"initiales?|secrètes?)?" + r"(?<=\w)(?!\s+de\s+(montage|retour|livraison))"
     r"|\b(texte|message)\s+ci-dessus\b|\bmode\s+développeur\b"),
)
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(rx, _F)) for name, rx in _PATTERN_SOURCES)

_WINDOW_BREAK = re.compile(r"(?<=[.!?\n])\s+")


@dataclass(frozen=True)
class InjectionVerdict:
    """What the detector found: blocked or not, the classifier's score and why."""

    is_attack: bool
    score: float
    reason: str
    pattern: str | None = None
    """The name of the high-precision pattern that matched, if one did."""


def match_pattern(text: str) -> str | None:
    """The name of the first pattern the text matches (None when none does)."""
    folded = _fold(text)
    for name, pattern in PATTERNS:
        if pattern.search(folded) or (folded != text and pattern.search(text)):
            return name
    return None


def _fold(text: str) -> str:
    """NFKC (full-width and styled letters to ASCII), zero-width characters removed."""
    folded = unicodedata.normalize("NFKC", text)
    return re.sub(r"[\u200b-\u200f\u2060\ufeff]", "", folded)


def windows(text: str, size: int = WINDOW_CHARS, stride: int = WINDOW_STRIDE) -> list[str]:
    """The whole text when short, else overlapping slices of about `size` characters."""
    if len(text) <= size:
        return [text]
    out: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):  # end on whitespace when there is some nearby
            space = text.rfind(" ", start + size // 2, end)
            end = space if space > 0 else end
        out.append(text[start:end])
        if end >= len(text):
            break
        start = max(start + 1, end - (size - stride))
    return out


def _features(weight: float, word: TfidfVectorizer | None = None,
              char: TfidfVectorizer | None = None) -> TextFeatures:
    """The intent classifier's feature builder with a larger vocabulary (attacks vary)."""
    return TextFeatures(weight, word, char, max_word_features=20_000,
                        max_char_features=40_000, min_df=2)


def _fit(c: float, x: Any, y: np.ndarray, seed: int) -> LogisticRegression:
    model = LogisticRegression(C=c, max_iter=MAX_ITER, class_weight="balanced",
                               random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


def threshold_for(benign_scores: np.ndarray, target_fpr: float = TARGET_FPR,
                  floor: float = MIN_THRESHOLD) -> float:
    """The lowest threshold (score >= threshold is an attack) whose false-positive rate
    on `benign_scores` is at most `target_fpr`, and at least `floor`."""
    if len(benign_scores) == 0:
        return floor
    ordered = np.sort(benign_scores)[::-1]
    allowed = math.floor(target_fpr * len(ordered))
    above = float(ordered[allowed]) if allowed < len(ordered) else 0.0
    return max(floor, float(np.nextafter(above, 1.0)))


def training_key(texts: Sequence[str], labels: Sequence[int], embedder: Embedder,
                 seed: int, groups: Sequence[str] | None = None) -> str:
    """Hash of everything the trained model depends on (examples order-independent)."""
    digest = hashlib.sha256()
    header = {"method": METHOD_VERSION, "embedder": embedder.name, "dim": embedder.dim,
              "seed": seed, "target_fpr": TARGET_FPR, "floor": MIN_THRESHOLD}
    digest.update(json.dumps(header, sort_keys=True).encode())
    groups = groups or [""] * len(texts)
    for label, text, group in sorted(zip(labels, texts, groups, strict=True)):
        digest.update(b"\x1e" + str(label).encode() + b"\x1f" + text.encode() + b"\x1d"
                      + group.encode())
    return digest.hexdigest()[:32]


@dataclass(eq=False)
class InjectionClassifier:
    """The trained classifier: features, logistic regression and its CV-chosen threshold."""

    threshold: float
    chosen: dict[str, Any]
    model: LogisticRegression
    features: TextFeatures

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[int], embedder: Embedder, *,
              groups: Sequence[str] | None = None, cache_dir: Path | None = None,
              seed: int = 0) -> InjectionClassifier:
        """Train (or reload from `cache_dir`) on labelled texts, 1 = attack, 0 = benign.

        `groups` (e.g. the template each example was written from) keep near-duplicates
        in one cross-validation fold, so the threshold is chosen on unseen wordings."""
        if len(texts) != len(labels) or (groups is not None and len(groups) != len(texts)):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        if set(labels) != {0, 1}:
            raise ValueError("need examples of both labels (0 and 1)")
        key = training_key(texts, labels, embedder, seed, groups)
        path = cache_dir / f"guard-{key}.pkl" if cache_dir is not None else None
        loaded = load_cached(path, cls)
        if loaded is not None:
            return loaded
        trained = cls._train(texts, labels, groups, embedder, cache_dir, seed)
        store_cached(path, trained)
        return trained

    @classmethod
    def _train(cls, texts: Sequence[str], labels: Sequence[int], groups: Sequence[str] | None,
               embedder: Embedder, cache_dir: Path | None, seed: int) -> InjectionClassifier:
        started = time.perf_counter()
        triples = sorted(zip(labels, texts, groups or [""] * len(texts), strict=True))
        y = np.array([t[0] for t in triples], dtype=np.int64)
        x_text = [t[1] for t in triples]
        vectors = EmbeddingCache(cache_dir, embedder).embed(x_text)
        embed_seconds = time.perf_counter() - started

        if groups is not None and len({t[2] for t in triples}) >= 2 * FOLDS:
            splits = list(StratifiedGroupKFold(FOLDS, shuffle=True, random_state=seed)
                          .split(np.zeros(len(y)), y, [t[2] for t in triples]))
        else:
            splits = list(StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
                          .split(np.zeros(len(y)), y))
        fold_features = [_features(1.0).fit([x_text[i] for i in tr]) for tr, _ in splits]
        scores: dict[str, dict[str, float]] = {}
        oof_by: dict[tuple[float, float], np.ndarray] = {}

        def cross_validate(weight: float, c: float) -> None:
            if (weight, c) in oof_by:
                return
            oof = np.zeros(len(y))
            for (tr, te), shared in zip(splits, fold_features, strict=True):
                feats = _features(weight, shared.word, shared.char)
                model = _fit(c, feats.transform([x_text[i] for i in tr], vectors[tr]), y[tr],
                             seed)
                oof[te] = model.predict_proba(
                    feats.transform([x_text[i] for i in te], vectors[te]))[:, 1]
            oof_by[(weight, c)] = oof
            t = threshold_for(oof[y == 0])
            scores[f"tfidf_weight={weight:g},C={c:g}"] = {
                "average_precision": round(float(average_precision_score(y, oof)), 4),
                "recall_at_threshold": round(float(np.mean(oof[y == 1] >= t)), 4),
                "fpr_at_threshold": round(float(np.mean(oof[y == 0] >= t)), 4),
                "threshold": round(t, 4),
            }

        def best() -> tuple[float, float]:
            """Best recall at the target false-positive rate; ties by average precision."""
            return max(oof_by, key=lambda k: (scores[_name(k)]["recall_at_threshold"],
                                              scores[_name(k)]["average_precision"]))

        # Stage 1: the TF-IDF weight at C_START; stage 2: C at that weight.
        for weight in TFIDF_WEIGHTS:
            cross_validate(weight, C_START)
        for c in C_GRID:
            cross_validate(best()[0], c)
        weight, c = best()
        threshold = threshold_for(oof_by[(weight, c)][y == 0])
        cv_seconds = time.perf_counter() - started - embed_seconds
        features = _features(weight).fit(x_text)
        model = _fit(c, features.transform(x_text, vectors), y, seed)
        chosen = {
            "method": METHOD_VERSION, "tfidf_weight": weight, "C": c, "folds": FOLDS,
            "threshold": round(threshold, 4), "target_fpr": TARGET_FPR,
            "cv": scores[_name((weight, c))], "cv_scores": scores, "examples": len(y),
            "cv_split": "grouped" if groups is not None else "stratified",
            "attacks": int(y.sum()), "embed_seconds": round(embed_seconds, 3),
            "cv_seconds": round(cv_seconds, 3),
            "train_seconds": round(time.perf_counter() - started, 3), "from_cache": False,
        }
        return cls(threshold=float(threshold), chosen=chosen, model=model, features=features)

    def score_many(self, texts: Sequence[str], embedder: Embedder) -> list[float]:
        """Attack probability per text: the highest of its windows'."""
        pieces: list[str] = []
        owner: list[int] = []
        for i, text in enumerate(texts):
            for piece in windows(text):
                pieces.append(piece)
                owner.append(i)
        if not pieces:
            return []
        vectors = embedder.embed_queries(pieces)
        proba = self.model.predict_proba(self.features.transform(pieces, vectors))[:, 1]
        out = [0.0] * len(texts)
        for i, p in zip(owner, proba, strict=True):
            out[i] = max(out[i], float(p))
        return out

    def score(self, text: str, embedder: Embedder) -> float:
        return self.score_many([text], embedder)[0]


def _name(key: tuple[float, float]) -> str:
    return f"tfidf_weight={key[0]:g},C={key[1]:g}"


def load_training_set(path: Path) -> tuple[list[str], list[int], list[str] | None]:
    """(texts, labels, groups or None) of a guard JSONL set; a bad line names the file,
    line and field."""
    from evals.guard import load_guard_dataset

    rows = load_guard_dataset(path)
    groups = [r.group for r in rows] if all(r.group for r in rows) else None
    return [r.text for r in rows], [r.label for r in rows], groups


_MODELS: dict[str, InjectionClassifier] = {}
_MODELS_LOCK = threading.Lock()


@dataclass(eq=False)
class InjectionDetector:
    """Patterns + the classifier, as `guard_in` uses them; the classifier is trained or
    loaded from the cache on the first check, once per process for one training set."""

    embedder: Embedder
    dataset: Path = DEFAULT_DATASET
    cache_dir: Path | None = None
    threshold: float | None = None
    """Overrides the cross-validated threshold when set."""
    use_classifier: bool = True
    _classifier: InjectionClassifier | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def classifier(self) -> InjectionClassifier:
        if self._classifier is None:
            with self._lock:
                if self._classifier is None:
                    self._classifier = self._load()
        return self._classifier

    def _load(self) -> InjectionClassifier:
        texts, labels, groups = load_training_set(self.dataset)
        key = training_key(texts, labels, self.embedder, 0, groups)
        with _MODELS_LOCK:
            if key not in _MODELS:
                _MODELS[key] = InjectionClassifier.train(texts, labels, self.embedder,
                                                         groups=groups,
                                                         cache_dir=self.cache_dir)
            return _MODELS[key]

    def prepare(self) -> None:
        """Train or load the classifier now rather than on the first check."""
        if self.use_classifier:
            _ = self.classifier

    @property
    def effective_threshold(self) -> float:
        return self.threshold if self.threshold is not None else self.classifier.threshold

    def check(self, text: str) -> InjectionVerdict:
        """Blocked when a pattern matches or the classifier's score reaches the threshold."""
        name = match_pattern(text)
        if not self.use_classifier:
            return InjectionVerdict(name is not None, 1.0 if name else 0.0,
                                    f"pattern {name}" if name else "", name)
        if name is not None:
            return InjectionVerdict(True, 1.0, f"pattern {name}", name)
        score = self.classifier.score(text, self.embedder)
        threshold = self.effective_threshold
        if score >= threshold:
            return InjectionVerdict(True, score, f"classifier {score:.3f} >= {threshold:.3f}")
        return InjectionVerdict(False, score, "")
