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
            "language_offset", "question_terms", "answer_type")
"""passage_score: cosine similarity to the chunk + lexical bonus per shared stem (at most 3)
- the language's offset; sentence_similarity: cosine similarity to the passage's closest
sentence; passage_coverage / sentence_coverage: share of the question's content stems found
in the passage (with its title and section heading) / in its best-covering sentence;
language_offset: the passage language's offset (0 for English); question_terms: log(1 +
number of the question's content stems); answer_type: 1 when the question asks for an
email address, a phone number, a day, an amount of money or a duration (`ANSWER_TYPES`)
and the passage holds one, else 0. Shared stems are counted over the passage with its
title and section heading."""

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


_DAY = (r"(?:mon|tues|wednes|thurs|fri|satur|sun)days?|weekends?|(?:bank|public) holidays?|"
        r"(?:lun|mar|mercre|jeu|vendre|same)dis?|dimanches?|week-?ends?|jours? fériés?")
ANSWER_TYPES: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = (
    ("email", re.compile(r"\b((e-?mail|mail|contact) address|adresse (e-?mail|mail|de contact)|"
                         r"(what|which) e-?mail|quel(le)? (adresse|e-?mail|courriel)|"
                         r"à quelle adresse)\b", re.IGNORECASE),
     re.compile(r"[\w.+-]+@[\w-]+\.\w[\w.]*")),
    ("phone", re.compile(r"\b((tele)?phone number|(what|which) number|number (to|I can) "
                         r"(call|ring)|numéro de (téléphone|portable)|"
                         r"quel numéro(?! de (commande|suivi|colis)))\b", re.IGNORECASE),
     re.compile(r"\+?\d[\d .]{7,}\d")),
    ("day", re.compile(rf"\b({_DAY})\b", re.IGNORECASE),
     re.compile(rf"\b({_DAY}|7 days a week|7 jours sur 7)\b", re.IGNORECASE)),
    ("money", re.compile(r"\b(how much|what (does|do|will) .{0,40}\bcost|what(?:'s| is) the "
                         r"(price|fee|cost|charge|minimum|maximum|limit)|"
                         r"combien (coûtent|coûte|ça coûte|vaut|valent|d'euros|de frais|"
                         r"faut-il payer|dois-je payer|je paie|ça fait)|à combien|"
                         r"quel(le)? (est le )?(montant|prix|tarif|minimum|maximum|plafond)|"
                         r"(smallest|largest|lowest|highest|minimum|maximum) (amount|price|value)|"
                         r"plus (petit|grand|bas|haut|gros) montant|"
                         r"(from|above|over|under|below|at) what amount|what amount|"
                         r"(max|min) amount|à partir de combien|dès combien|"
                         r"montant (minimum|maximum|minimal|maximal|max|min|maxi|mini))\b",
                         re.IGNORECASE),
     re.compile(r"\d[\d  .,]*\s?(€|eur\b|euros?\b|%)|€\s?\d", re.IGNORECASE)),
    ("duration", re.compile(r"\b(how long|how many (days|hours|weeks)|how soon|how quickly|"
                            r"combien de (temps|jours)|quel délai|sous combien|délai)\b",
                            re.IGNORECASE),
     re.compile(r"\b\d+\s?((business|working) )?(days?|hours?|weeks?|months?|years?|"
                r"minutes?|jours?( ouvrés)?|heures?|h|semaines?|mois|ans?)\b", re.IGNORECASE)),
)
"""Expected answer types: the question asks for an email address, a phone number, a day, an
amount of money or a duration, and what an answer of that type looks like."""


def answer_types(question: str) -> list[re.Pattern[str]]:
    """What an answer to `question` looks like, one pattern per type it asks for."""
    return [answer for _, asks, answer in ANSWER_TYPES if asks.search(question)]


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
    weights=(5.9902, 8.3102, 0.6961, 0.7021, -7.0305, 2.6539, 3.6685),
    bias=-12.3249,
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
    types = answer_types(question)
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
        typed = float(any(t.search(passage.text) for t in types))
        rows.append([score, best_cosine, coverage, sentence_coverage, offset,
                     math.log1p(len(terms)), typed])
    return rows
