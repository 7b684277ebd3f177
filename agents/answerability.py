"""Answerability: the probability that a retrieved passage answers the question.

Cosine similarity between a question and a whole chunk says that the two are on the same
topic, not that the chunk answers: "Do you offer gift wrapping?" is close to every
gift-card article. So the model also looks inside the passage: how close its best
sentence is to the question, and how many of the question's content words the passage
and its best-covering sentence contain. A logistic regression over these features turns
them into a probability; `answer_min_confidence` is the decision threshold.

The weights are fitted by `python bench/fit_answerability.py` on labelled calibration
questions only (`supportgraph/demo/retrieval_queries.jsonl`,
`supportgraph/demo/unanswerable.jsonl`, `supportgraph/demo/rag_calibration.jsonl`), which
also prints their cross-validated scores.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from knowledge.chunking import split_sentences
from knowledge.embeddings import Embedder
from knowledge.sparse import BM25Encoder, tokenize

FEATURES = ("passage_score", "sentence_similarity", "passage_coverage", "sentence_coverage",
            "language_offset", "question_terms")
"""passage_score: cosine similarity to the chunk + lexical bonus per shared stem (at most 3)
- the language's offset; sentence_similarity: cosine similarity to the passage's closest
sentence; passage_coverage / sentence_coverage: share of the question's content stems found
in the passage (with its title and section heading) / in its best-covering sentence;
language_offset: the passage language's offset (0 for English); question_terms: log(1 +
number of the question's content stems). Shared stems are counted over the passage with
its title and section heading."""

_MARKUP = re.compile(r"\*\*|__|`")
STEP_NUMBER = re.compile(r"\d{1,2}[.)]\s+")
"""A numbered step's number ("3. Click the link.")."""


def passage_sentences(text: str) -> list[str]:
    """The sentences of a passage, Markdown emphasis removed, list items as sentences.
    A numbered step keeps its number ("3. Click the link."), never a sentence alone."""
    out: list[str] = []
    for line in _MARKUP.sub("", text).splitlines():
        line = line.strip().lstrip("-*• ").strip()
        number = STEP_NUMBER.match(line)
        sentences = split_sentences(line[number.end():] if number else line)
        if number and sentences:
            sentences[0] = number.group(0) + sentences[0]
        out.extend(sentences)
    return out


@dataclass(frozen=True)
class AnswerabilityModel:
    """A logistic regression over `FEATURES` (raw, unscaled feature values)."""

    weights: tuple[float, ...]
    bias: float

    def probability(self, features: Sequence[float]) -> float:
        z = self.bias + sum(w * x for w, x in zip(self.weights, features, strict=True))
        return 1.0 / (1.0 + math.exp(-z))


# Fitted by bench/fit_answerability.py (all-MiniLM-L6-v2, demo calibration questions).
DEFAULT_MODEL = AnswerabilityModel(
    weights=(5.2646, 9.2904, 1.2398, 0.6924, -7.7904, 2.2305),
    bias=-11.7697,
)


@dataclass(frozen=True)
class PassageText:
    """What the features need to know about one passage."""

    text: str
    title: str
    language: str
    similarity: float
    section: str = ""


def passage_features(question: str, passages: Sequence[PassageText], embedder: Embedder,
                     encoder: BM25Encoder, lexical_bonus: float,
                     language_offsets: dict[str, float]) -> list[list[float]]:
    """The `FEATURES` of each passage for `question` (one batch of sentence embeddings)."""
    sentences = [passage_sentences(p.text) or [p.text] for p in passages]
    flat = [s for group in sentences for s in group]
    cosine = (embedder.embed_queries(flat) @ embedder.embed_query(question)) if flat \
        else np.zeros(0)
    query_ids = set(encoder.encode_query(question).indices)
    rows: list[list[float]] = []
    start = 0
    for passage, group in zip(passages, sentences, strict=True):
        language = passage.language or "en"
        terms = set(tokenize(question, language))
        whole = f"{passage.title} {passage.section} {passage.text}"
        shared = query_ids & set(encoder.encode_document(whole, language).indices)
        offset = language_offsets.get(language, 0.0)
        score = passage.similarity + lexical_bonus * min(len(shared), 3) - offset
        best_cosine = float(cosine[start:start + len(group)].max())
        start += len(group)
        n = max(len(terms), 1)
        coverage = len(terms & set(tokenize(whole, language))) / n
        sentence_coverage = max(len(terms & set(tokenize(s, language))) / n for s in group)
        rows.append([score, best_cosine, coverage, sentence_coverage, offset,
                     math.log1p(len(terms))])
    return rows
