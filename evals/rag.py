"""`supportgraph eval rag`: run the whole graph on questions and score the answers.

A dataset line (JSONL):

    {"question": "How much is next-day delivery?",          # required
     "reference": "Express delivery (DHL) costs €12.90 ...",  # the expected answer
     "reference_facts": ["€12.90"],     # short strings of the reference a good reply contains
     "reference_doc_ids": ["en/shipping-options"],   # documents that hold the answer
     "reference_contexts": ["Express delivery uses DHL Express and costs €12.90."],
     "answerable": true,                # false: the answer is not in the knowledge base
     "category": "shipping", "language": "en", "id": "ship-01"}

Every turn runs in a fresh conversation. The scores of one question (None where they do
not apply) are described in `evals/metrics.py`; the summary averages each over the
questions it applies to. `answerable: false` questions are scored on `declined` only
(plus the judged metrics when the bot answered anyway).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.retrieve import retrieved_passages
from evals.datasets import DatasetError, read_jsonl, require_str
from evals.metrics import (
    RagasMetrics,
    StoreChunks,
    check_citations,
    is_declined,
    normalise,
    ranked_doc_ids,
    run_async,
)
from evals.retrieval import percentile, recall_at

KNOWN_KEYS = {"question", "reference", "reference_facts", "reference_doc_ids",
              "reference_contexts", "answerable", "category", "language", "id"}
RECALL_K = 5

# Headline metrics, all "higher is better", in report order. The regression gate compares
# those present in both reports.
HEADLINE = (
    "retrieval_recall@5", "retriever_recall@5", "context_precision", "context_recall",
    "context_precision_text", "context_recall_text", "citation_validity", "answer_string_presence",
    "string_similarity", "semantic_similarity", "unanswerable_declined",
    "answerable_answered", "faithfulness", "answer_relevancy", "response_groundedness",
)
METRIC_SOURCES = {
    "retrieval_recall@5": "supportgraph: reference_doc_ids among the top-5 retrieved documents",
    "retriever_recall@5": "supportgraph: the same, from the retrieval step run directly on "
                          "every question (whatever route the graph took)",
    "context_precision": "ragas IDBasedContextPrecision (document ids)",
    "context_recall": "ragas IDBasedContextRecall (document ids)",
    "context_precision_text": "ragas NonLLMContextPrecisionWithReference (reference_contexts)",
    "context_recall_text": "ragas NonLLMContextRecall (reference_contexts)",
    "citation_validity": "supportgraph: cited chunk exists and contains the quote",
    "answer_string_presence": "ragas StringPresence per reference fact (normalised)",
    "string_similarity": "ragas NonLLMStringSimilarity (Levenshtein) reply vs reference",
    "semantic_similarity": "ragas SemanticSimilarity, local embedder via LangChain wrapper",
    "unanswerable_declined": "supportgraph: unanswerable question declined, nothing cited",
    "answerable_answered": "supportgraph: answerable question not declined",
    "faithfulness": "ragas Faithfulness (judge model)",
    "answer_relevancy": "ragas ResponseRelevancy (judge model + local embedder)",
    "response_groundedness": "ragas ResponseGroundedness (judge model)",
}


@dataclass(frozen=True)
class RagItem:
    question: str
    line: int
    id: str
    reference: str | None = None
    reference_facts: tuple[str, ...] = ()
    reference_doc_ids: tuple[str, ...] = ()
    reference_contexts: tuple[str, ...] = ()
    answerable: bool = True
    category: str = "uncategorised"
    language: str | None = None


def _str_list(path: Path, lineno: int, obj: dict[str, Any], key: str) -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise DatasetError(path, "must be a list of non-empty strings", lineno, key)
    return tuple(value)


def load_rag_dataset(path: Path) -> list[RagItem]:
    """Validate every line; the first bad one raises DatasetError naming file:line and field."""
    path = Path(path)
    items: list[RagItem] = []
    ids: dict[str, int] = {}
    for lineno, obj in read_jsonl(path):
        question = require_str(path, lineno, obj, "question")
        assert question is not None
        reference = require_str(path, lineno, obj, "reference", optional=True)
        facts = _str_list(path, lineno, obj, "reference_facts")
        doc_ids = _str_list(path, lineno, obj, "reference_doc_ids")
        contexts = _str_list(path, lineno, obj, "reference_contexts")
        answerable = obj.get("answerable", True)
        if not isinstance(answerable, bool):
            raise DatasetError(path, "must be true or false", lineno, "answerable")
        category = require_str(path, lineno, obj, "category", optional=True) or "uncategorised"
        language = require_str(path, lineno, obj, "language", optional=True)
        item_id = require_str(path, lineno, obj, "id", optional=True) or f"line-{lineno}"
        if item_id in ids:
            raise DatasetError(path, f"duplicate id '{item_id}' (first on line {ids[item_id]})",
                               lineno, "id")
        ids[item_id] = lineno
        if facts and reference is None:
            raise DatasetError(path, "needs a 'reference' to check the facts against",
                               lineno, "reference_facts")
        for fact in facts:
            if reference is not None and normalise(fact) not in normalise(reference):
                raise DatasetError(path, f"'{fact}' does not occur in the reference", lineno,
                                   "reference_facts")
        if not answerable and (doc_ids or facts or contexts):
            key = "reference_doc_ids" if doc_ids else (
                "reference_facts" if facts else "reference_contexts")
            raise DatasetError(path, "must be empty when 'answerable' is false", lineno, key)
        unknown = sorted(set(obj) - KNOWN_KEYS)
        if unknown:
            raise DatasetError(path, f"unknown field (expected some of "
                               f"{', '.join(sorted(KNOWN_KEYS))})", lineno, unknown[0])
        items.append(RagItem(question, lineno, item_id, reference, facts, doc_ids, contexts,
                             answerable, category, language))
    if not items:
        raise DatasetError(path, "no questions")
    return items


def check_doc_ids(path: Path, items: Sequence[RagItem], known: set[str]) -> None:
    """Every reference_doc_id must be a document of the knowledge base."""
    for item in items:
        for doc_id in item.reference_doc_ids:
            if doc_id not in known:
                raise DatasetError(path, f"unknown document id '{doc_id}' (not in the "
                                   "knowledge base)", item.line, "reference_doc_ids")


@dataclass
class RagRow:
    item: RagItem
    reply: str
    language: str
    citations: list[dict[str, Any]]
    passages: list[dict[str, Any]]
    intent: str
    route: str
    responder: str
    declined: bool
    latency_ms: float
    scores: dict[str, float | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def overall(self) -> float:
        """The mean of the pass/fail style scores that apply: what 'worst' sorts by."""
        keys = ("retrieval_recall@5", "citation_validity", "answer_string_presence",
                "unanswerable_declined", "answerable_answered", "faithfulness")
        values = [v for k in keys if (v := self.scores.get(k)) is not None]
        return statistics.fmean(values) if values else 1.0

    @property
    def outcome(self) -> str:
        """What the turn did: answered (cited), declined, clarify (asked which of two
        intents), action (asked for an order number or ran a tool), or other."""
        if self.citations:
            return "answered"
        if self.declined:
            return "declined"
        if self.route == "clarify":
            return "clarify"
        return "action" if self.route.startswith("action") else "other"

    def to_dict(self) -> dict[str, Any]:
        i = self.item
        return {
            "id": i.id, "line": i.line, "question": i.question, "language": self.language,
            "category": i.category, "answerable": i.answerable, "reference": i.reference,
            "reference_facts": list(i.reference_facts),
            "reference_doc_ids": list(i.reference_doc_ids), "reply": self.reply,
            "declined": self.declined, "outcome": self.outcome, "intent": self.intent,
            "route": self.route, "responder": self.responder,
            "latency_ms": round(self.latency_ms, 1),
            "retrieved_doc_ids": ranked_doc_ids(self.passages)[:RECALL_K],
            "citations": [{k: c.get(k) for k in ("index", "doc_id", "chunk_id", "quote")}
                          for c in self.citations],
            "passages": [{"doc_id": p.get("doc_id"), "chunk_id": p.get("chunk_id"),
                          "section": p.get("section", ""),
                          "similarity": round(float(p.get("similarity", 0.0)), 3),
                          "from_article": bool(p.get("from_article")),
                          "text": str(p.get("text", ""))[:400]} for p in self.passages],
            "scores": {k: (None if v is None else round(v, 4)) for k, v in self.scores.items()},
            "overall": round(self.overall, 4), "problems": self.problems,
        }


def score_turn(item: RagItem, turn: Any, metrics: RagasMetrics, chunks: StoreChunks,
               judge: bool = False, direct: Sequence[dict[str, Any]] | None = None) -> RagRow:
    """All scores of one question from its TurnResult (and, when given, the passages the
    retrieval step returns for the question run on its own)."""
    citations = [dict(c) for c in turn.citations]
    passages = list(turn.passages)
    declined = is_declined(turn.reply, citations, turn.handoff_offered)
    row = RagRow(item, turn.reply, item.language or turn.language, citations, passages,
                 str(turn.intent.get("label", "")), str(turn.intent.get("route", "")),
                 turn.responder, declined, turn.latency_ms)
    scores = row.scores
    retrieved = ranked_doc_ids(passages)[:RECALL_K]
    if item.answerable:
        scores["answerable_answered"] = 0.0 if declined else 1.0
        if item.reference_doc_ids:
            scores["retrieval_recall@5"] = recall_at(retrieved, set(item.reference_doc_ids),
                                                     RECALL_K)
            if direct is not None:
                scores["retriever_recall@5"] = recall_at(
                    ranked_doc_ids(direct)[:RECALL_K], set(item.reference_doc_ids), RECALL_K)
    else:
        scores["unanswerable_declined"] = 1.0 if declined else 0.0
    if citations:
        valid, row.problems = check_citations(citations, chunks)
        scores["citation_validity"] = valid / len(citations)
    texts = [str(p.get("text", "")) for p in passages]
    # Context scores judge the search: the chunks read from the best article after it
    # (`from_article`) are not counted, as for recall@5; the judge reads them all.
    searched = [str(p.get("text", "")) for p in retrieved_passages(passages)]
    scores |= run_async(metrics.offline(
        question=item.question, reply=turn.reply, passages=searched, retrieved_ids=retrieved,
        reference=item.reference if item.answerable else None,
        reference_ids=item.reference_doc_ids, reference_contexts=item.reference_contexts,
        facts=item.reference_facts))
    if judge and metrics.judged and not declined:
        judged, errors = run_async(metrics.judged_scores(
            question=item.question, reply=turn.reply, passages=texts))
        scores |= judged
        row.problems += errors
    return row


def _mean(rows: Sequence[RagRow], key: str) -> float | None:
    values = [v for r in rows if (v := r.scores.get(key)) is not None]
    return round(statistics.fmean(values), 4) if values else None


def _group(rows: Sequence[RagRow]) -> dict[str, Any]:
    out: dict[str, Any] = {"questions": len(rows)}
    for key in HEADLINE:
        if (value := _mean(rows, key)) is not None:
            out[key] = value
    return out


def summarise(rows: Sequence[RagRow], seconds: float, *, judge: str | None = None,
              dataset: str = "", worst: int = 10) -> dict[str, Any]:
    """The report: summary, by_language, by_category, worst and per-question rows."""
    cited = sum(len(r.citations) for r in rows)
    valid = sum(round((r.scores.get("citation_validity") or 0.0) * len(r.citations))
                for r in rows if r.citations)
    summary = _group(rows)
    if cited:
        summary["citation_validity"] = round(valid / cited, 4)  # over citations, not rows
    latencies = [r.latency_ms for r in rows]
    summary |= {
        "answerable": sum(r.item.answerable for r in rows),
        "unanswerable": sum(not r.item.answerable for r in rows),
        "citations": cited, "invalid_citations": cited - valid,
        "outcomes": {o: sum(r.outcome == o for r in rows) for o in
                     ("answered", "declined", "clarify", "action", "other")},
        "p50_latency_ms": round(percentile(latencies, 0.5), 1),
        "p95_latency_ms": round(percentile(latencies, 0.95), 1),
        "seconds": round(seconds, 2),
    }
    languages = sorted({r.language for r in rows})
    categories = sorted({r.item.category for r in rows})
    ordered = sorted(rows, key=lambda r: (r.overall, r.scores.get("semantic_similarity") or 0.0,
                                          r.item.line))
    return {
        "dataset": dataset,
        "judge": judge,
        "metrics": [k for k in HEADLINE if k in summary],
        "metric_sources": {k: METRIC_SOURCES[k] for k in HEADLINE if k in summary},
        "summary": summary,
        "by_language": {lang: _group([r for r in rows if r.language == lang])
                        for lang in languages},
        "by_category": {cat: _group([r for r in rows if r.item.category == cat])
                        for cat in categories},
        "worst": [r.item.id for r in ordered[:worst] if r.overall < 1.0],
        "rows": [r.to_dict() for r in rows],
    }


Retrieve = Callable[[str, str], Sequence[dict[str, Any]]]


def run_rag_eval(agent: Any, items: Sequence[RagItem], metrics: RagasMetrics,
                 chunks: StoreChunks, *, judge: str | None = None, dataset: str = "",
                 retrieve: Retrieve | None = None,
                 progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Ask every question in a fresh conversation, then score the turns, and summarise.

    `retrieve(question, language)`, when given, runs the graph's retrieval step on its
    own, so that retrieval is also measured for questions the graph routed elsewhere."""
    started, cpu = time.perf_counter(), time.process_time()
    turns = []
    for n, item in enumerate(items, 1):
        turns.append(agent.ask(item.question, agent.new_conversation_id()))
        if progress:
            progress("asking", n, len(items))
    asked = time.perf_counter() - started
    rows: list[RagRow] = []
    for n, (item, turn) in enumerate(zip(items, turns, strict=True), 1):
        direct = retrieve(item.question, item.language or turn.language) \
            if retrieve is not None and item.reference_doc_ids else None
        rows.append(score_turn(item, turn, metrics, chunks, judge=judge is not None,
                               direct=direct))
        if progress:
            progress("scoring", n, len(items))
    report = summarise(rows, time.perf_counter() - started, judge=judge, dataset=dataset)
    report["summary"] |= {"ask_seconds": round(asked, 2),
                          "cpu_seconds": round(time.process_time() - cpu, 2)}
    return report


def load_baseline(path: Path) -> dict[str, Any]:
    """The summary of a previous `eval rag --json` (or `eval all --json`) report."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(path, "no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(path, f"not a JSON report ({exc})") from exc
    if isinstance(data, dict) and isinstance(data.get("rag"), dict):
        data = data["rag"]
    if not isinstance(data, dict) or not isinstance(data.get("summary"), dict):
        raise DatasetError(path, "not an eval rag report: no 'summary' object", field="summary")
    return dict(data["summary"])


def regression_check(summary: dict[str, Any], baseline: dict[str, Any],
                     max_drop: float) -> list[dict[str, Any]]:
    """Headline metrics (present in both) that fell by more than `max_drop` (absolute)."""
    dropped = []
    for key in HEADLINE:
        before, now = baseline.get(key), summary.get(key)
        if isinstance(before, int | float) and isinstance(now, int | float) \
                and before - now > max_drop + 1e-9:
            dropped.append({"metric": key, "baseline": before, "current": now,
                            "drop": round(before - now, 4)})
    return dropped
