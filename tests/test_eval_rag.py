"""`supportgraph eval rag` / `eval all`: dataset validation, each offline metric on hand-made
cases, the ragas LLM metrics driven by a fake judge, the regression gate, the HTML report,
and a small end-to-end run on the demo runtime."""

from __future__ import annotations

import asyncio
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from typer.testing import CliRunner

from evals.datasets import DatasetError
from evals.metrics import (
    RagasMetrics,
    StoreChunks,
    check_citations,
    is_declined,
    normalise,
    quote_in_text,
    ranked_doc_ids,
    run_async,
)
from evals.rag import (
    RagItem,
    RagRow,
    check_doc_ids,
    load_baseline,
    load_rag_dataset,
    regression_check,
    score_turn,
    summarise,
)
from evals.report import render_all_html, render_rag_html
from knowledge.store import Hit, SearchFilter
from supportgraph import cli
from supportgraph.cli import app
from supportgraph.runtime import DEMO_DIR

runner = CliRunner()
DEMO_SET = DEMO_DIR / "rag_eval.jsonl"


# ----------------------------------------------------------------------------- helpers

class FakeEmbedder:
    """Deterministic bag-of-words vectors: equal texts get cosine 1, disjoint ones 0."""

    dim = 64
    name = "fake"
    texts_embedded = 0

    def embed_documents(self, texts: Any) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, sum(map(ord, word)) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def embed_queries(self, texts: Any) -> np.ndarray:
        return self.embed_documents(list(texts))


class FakeStore:
    """A VectorStore stand-in holding {doc_id: {chunk_id: text}}; honours the doc_ids filter."""

    dim = 4

    def __init__(self, docs: dict[str, dict[str, str]]) -> None:
        self.docs = docs
        self.queries = 0

    def query(self, *, search_filter: SearchFilter | None = None, limit: int = 10,
              **_: Any) -> list[Hit]:
        self.queries += 1
        wanted = set(search_filter.doc_ids) if search_filter else set(self.docs)
        return [Hit(id=cid, score=1.0, payload={"doc_id": d, "text": t})
                for d, chunks in self.docs.items() if d in wanted
                for cid, t in chunks.items()][:limit]


class FakeJudge(BaseChatModel):
    """Answers ragas' prompts the way a careful judge would, deterministically:

    - statement generation: one statement per sentence of the answer;
    - NLI verdicts: 1 when the statement occurs verbatim in the context, else 0;
    - question generation (answer relevancy): echoes the question it was told to expect;
    - groundedness rating templates: "2".
    """

    question: str = ""

    @property
    def _llm_type(self) -> str:
        return "fake-judge"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        prompt = str(messages[-1].content)
        generation_info = {"finish_reason": "stop"}
        return ChatResult(generations=[ChatGeneration(
            message=AIMessage(content=self._answer(prompt)), generation_info=generation_info)])

    def _answer(self, prompt: str) -> str:
        if "Groundedness score" in prompt or "rating of 0, 1, or 2" in prompt:
            return "2"
        data = json.loads(prompt.rsplit("input: ", 1)[1].rsplit("Output: ", 1)[0])
        if prompt.startswith("Given a question and an answer"):
            sentences = [s.strip() for s in re.split(r"(?<=\.)\s+", data["answer"]) if s.strip()]
            return json.dumps({"statements": sentences})
        if prompt.startswith("Your task is to judge the faithfulness"):
            return json.dumps({"statements": [
                {"statement": s, "reason": "checked", "verdict": int(s in data["context"])}
                for s in data["statements"]]})
        if prompt.startswith("Generate a question for the given answer"):
            return json.dumps({"question": self.question, "noncommittal": 0})
        raise AssertionError(f"unexpected prompt: {prompt[:120]}")


def _line(**fields: Any) -> str:
    return json.dumps(fields, ensure_ascii=False)


def _write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "rag.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = _line(question="How much is express delivery?", reference="Express costs €12.90.",
             reference_facts=["€12.90"], reference_doc_ids=["en/shipping-options"],
             category="shipping", language="en")


# ----------------------------------------------------------------------------- dataset

@pytest.mark.parametrize(("bad", "field", "message"), [
    ("{not json", None, "invalid JSON"),
    (_line(reference="x"), "question", "non-empty string"),
    (_line(question="q", answerable="no"), "answerable", "true or false"),
    (_line(question="q", reference="Costs €4.90.", reference_facts=["€12.90"]),
     "reference_facts", "does not occur in the reference"),
    (_line(question="q", reference_doc_ids="en/a"), "reference_doc_ids", "list"),
    (_line(question="q", answerable=False, reference_doc_ids=["en/a"]), "reference_doc_ids",
     "must be empty"),
    (_line(question="q", refrence="typo"), "refrence", "unknown field"),
])
def test_a_malformed_line_names_file_line_and_field(tmp_path: Path, bad: str, field: str | None,
                                                    message: str) -> None:
    path = _write(tmp_path, GOOD, bad)
    with pytest.raises(DatasetError) as info:
        load_rag_dataset(path)
    assert info.value.line == 2 and info.value.field == field
    assert str(info.value).startswith(f"{path}:2:")
    assert message in str(info.value)


def test_reference_doc_ids_must_exist_in_the_knowledge_base(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    items = load_rag_dataset(path)
    check_doc_ids(path, items, {"en/shipping-options"})
    with pytest.raises(DatasetError, match=r"rag.jsonl:1: field 'reference_doc_ids'"):
        check_doc_ids(path, items, {"en/returns-policy"})


def test_cli_reports_a_malformed_line_in_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD, _line(question=""))
    result = runner.invoke(app, ["eval", "rag", "--dataset", str(path), "--json",
                                 str(tmp_path / "out.json")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{path}:2: field 'question'" in lines[0]
    assert not (tmp_path / "out.json").exists()


def test_the_demo_set_is_valid_and_has_the_promised_shape() -> None:
    items = load_rag_dataset(DEMO_SET)
    assert len(items) >= 80
    assert sum(i.language == "fr" for i in items) >= 30
    assert sum(not i.answerable for i in items) >= 10
    assert sum(len(i.reference_doc_ids) > 1 for i in items) >= 8
    answerable = [i for i in items if i.answerable]
    assert all(i.reference and i.reference_facts and i.reference_doc_ids for i in answerable)
    known = {f"{p.parent.name}/{p.stem}" for p in (DEMO_DIR / "helpcenter").glob("*/*.md")}
    check_doc_ids(DEMO_SET, items, known)
    calibration = {json.loads(line)["question"].strip().lower() for line in
                   (DEMO_DIR / "unanswerable.jsonl").read_text(encoding="utf-8").splitlines()
                   if line.strip()}
    assert not calibration & {i.question.strip().lower() for i in items}


# ----------------------------------------------------------------------------- our metrics

def test_normalise_ignores_case_whitespace_emphasis_and_list_markers() -> None:
    text = "The link is **valid for\n 30 minutes**."
    assert normalise(text) == "the link is valid for 30 minutes."
    assert normalise("- __Gift cards__: `never` *refunded*") == "gift cards: never refunded"
    assert normalise("12,90\u00a0€ l’étiquette") == "12,90 € l'étiquette"


def test_a_quote_is_contained_when_each_of_its_sentences_is() -> None:
    chunk = ("## Returns\nYou have **30 days**. Items must be unused.\n"
             "- **Gift cards**: never refunded.\nReturns from France are free.")
    assert quote_in_text("You have 30 days.", chunk)
    assert quote_in_text("You have 30 days. Returns from France are free.", chunk)  # gap
    assert quote_in_text("Gift cards: never refunded.", chunk)
    assert not quote_in_text("You have 60 days.", chunk)
    assert not quote_in_text("You have 30 days. Refunds are instant.", chunk)


def test_a_quote_of_numbered_steps_may_skip_a_step() -> None:
    chunk = "1. Click **Forgot password?**.\n2. Enter your email.\n3. Open the link we send."
    assert quote_in_text("1. Click Forgot password?.\n3. Open the link we send.", chunk)
    assert not quote_in_text("1. Click Forgot password?.\n3. Open the app.", chunk)


def test_citation_validity_checks_the_chunk_exists_and_holds_the_quote() -> None:
    store = FakeStore({"en/a": {"c1": "Express costs **€12.90**.", "c2": "Other text."},
                       "en/b": {"c3": "Standard costs €4.90."}})
    chunks = StoreChunks(store)  # type: ignore[arg-type]
    citations = [
        {"index": 1, "doc_id": "en/a", "chunk_id": "c1", "quote": "Express costs €12.90."},
        {"index": 2, "doc_id": "en/a", "chunk_id": "c9", "quote": "Express costs €12.90."},
        {"index": 3, "doc_id": "en/b", "chunk_id": "c3", "quote": "Standard costs €9.90."},
        {"index": 4, "doc_id": "en/zz", "chunk_id": "c1", "quote": "Express costs €12.90."},
    ]
    valid, problems = check_citations(citations, chunks)
    assert valid == 1
    assert [p.split(":")[0] for p in problems] == ["[2] en/a#c9", "[3] en/b#c3", "[4] en/zz#c1"]
    assert "no such chunk" in problems[0] and "quote not in the chunk" in problems[1]
    check_citations(citations, chunks)
    assert store.queries == 3  # one store lookup per document, then cached


def test_declining_means_offering_a_human_or_not_knowing_and_citing_nothing() -> None:
    sorry = "I'm sorry, I couldn't find an answer to that in our help centre."
    assert is_declined(sorry, [], handoff_offered=False)
    assert is_declined("Je n'ai pas trouvé de réponse.", [], handoff_offered=False)
    assert is_declined("Anything", [], handoff_offered=True)
    assert not is_declined(sorry, [{"index": 1}], handoff_offered=True)
    assert not is_declined("Express costs €12.90. [1]", [], handoff_offered=False)


def test_recall_collapses_chunks_to_documents_in_rank_order() -> None:
    passages = [{"doc_id": d} for d in ("a", "b", "a", "c", "d", "e", "f")]
    assert ranked_doc_ids(passages) == ["a", "b", "c", "d", "e", "f"]


# ----------------------------------------------------------------------------- ragas metrics

def _offline(**overrides: Any) -> dict[str, float | None]:
    fields: dict[str, Any] = dict(question="q", reply="", passages=[], retrieved_ids=[],
                                  reference=None, reference_ids=[], reference_contexts=[],
                                  facts=[])
    fields |= overrides
    return run_async(RagasMetrics(FakeEmbedder()).offline(**fields))  # type: ignore[arg-type]


def test_ragas_id_based_context_precision_and_recall() -> None:
    out = _offline(retrieved_ids=["a", "b", "c", "d"], reference_ids=["a", "e"])
    assert out["context_precision"] == pytest.approx(0.25)
    assert out["context_recall"] == pytest.approx(0.5)
    assert _offline(reference_ids=["a"])["context_recall"] == 0.0  # nothing retrieved


def test_ragas_non_llm_context_precision_and_recall_on_reference_contexts() -> None:
    ref = ["Express delivery costs 12.90 euros."]
    first = _offline(passages=[ref[0], "Gift cards last twelve months, not refundable."],
                     reference_contexts=ref)
    assert first["context_precision_text"] == pytest.approx(1.0)
    second = _offline(passages=["Gift cards last twelve months, not refundable.", ref[0]],
                      reference_contexts=ref)
    assert second["context_precision_text"] == pytest.approx(0.5)  # relevant one ranked 2nd
    recall = _offline(passages=[ref[0]], reference_contexts=[*ref, "Returns are free in France."])
    assert recall["context_recall_text"] == pytest.approx(0.5)


def test_string_presence_counts_each_reference_fact_after_normalising() -> None:
    out = _offline(reply="Express costs **€12.90**  and arrives\nnext day.",
                   reference="Express costs €12.90; standard €4.90.", facts=["€12.90", "€4.90"])
    assert out["answer_string_presence"] == pytest.approx(0.5)


def test_string_and_semantic_similarity_against_the_reference() -> None:
    same = _offline(reply="Express costs 12 euros", reference="Express costs 12 euros")
    assert same["string_similarity"] == pytest.approx(1.0)
    assert same["semantic_similarity"] == pytest.approx(1.0, abs=1e-6)
    other = _offline(reply="Gift cards last a year", reference="Express costs 12 euros")
    assert other["string_similarity"] < 0.4
    fake = FakeEmbedder()
    cosine = float(fake.embed_query("Gift cards last a year")
                   @ fake.embed_query("Express costs 12 euros"))
    assert other["semantic_similarity"] == pytest.approx(cosine, abs=1e-6)
    assert cosine < 0.5


def test_judged_metrics_run_through_ragas_with_a_fake_chat_model() -> None:
    question = "How much is express delivery?"
    metrics = RagasMetrics(FakeEmbedder(), FakeJudge(question=question))
    context = "Express delivery costs 12.90 euros. It arrives the next business day."
    reply = "Express delivery costs 12.90 euros. It is delivered by drone."
    scores, errors = run_async(metrics.judged_scores(question=question, reply=reply,
                                                     passages=[context]))
    assert errors == []
    assert scores["faithfulness"] == pytest.approx(0.5)  # one of two statements supported
    assert scores["answer_relevancy"] == pytest.approx(1.0, abs=1e-6)  # same question back
    assert scores["response_groundedness"] == pytest.approx(1.0)  # both ratings "2"


def test_a_failing_judge_is_reported_per_row_and_does_not_stop_the_run() -> None:
    class Broken(FakeJudge):
        def _answer(self, prompt: str) -> str:
            return "not json at all"

    scores, errors = run_async(RagasMetrics(FakeEmbedder(), Broken()).judged_scores(
        question="q", reply="An answer. Another one.", passages=["ctx"]))
    assert scores["faithfulness"] is None and any("faithfulness" in e for e in errors)


# ----------------------------------------------------------------------------- reports, gate

def _turn(reply: str, citations: list[dict[str, Any]], passages: list[dict[str, Any]],
          handoff: bool = False) -> Any:
    return SimpleNamespace(reply=reply, citations=citations, passages=passages, language="en",
                           intent={"label": "shipping_info", "route": "answer"},
                           responder="offline",
                           handoff_offered=handoff, latency_ms=12.0)


def _rows() -> list[RagRow]:
    store = FakeStore({"en/ship": {"c1": "Express costs €12.90."}})
    chunks = StoreChunks(store)  # type: ignore[arg-type]
    metrics = RagasMetrics(FakeEmbedder())
    good = RagItem("How much is express?", 1, "q1", "Express costs €12.90.", ("€12.90",),
                   ("en/ship",), category="shipping", language="en")
    miss = RagItem("Combien coûte l'express ?", 2, "q2", "L'express coûte 12,90 €.",
                   ("12,90 €",), ("en/ship",), category="shipping", language="fr")
    none = RagItem("Gift wrap?", 3, "q3", answerable=False, category="not_in_kb",
                   language="en")
    passage = {"doc_id": "en/ship", "chunk_id": "c1", "text": "Express costs €12.90.",
               "similarity": 0.8}
    cite = {"index": 1, "doc_id": "en/ship", "chunk_id": "c1", "quote": "Express costs €12.90."}
    # The rest of the best article, read after the search (agents/retrieve.py).
    article = {"doc_id": "en/ship", "chunk_id": "c2", "text": "Express ships the same day.",
               "similarity": 0.4, "from_article": True}
    return [
        score_turn(good, _turn("Express costs €12.90. [1]", [cite], [passage, article]),
                   metrics, chunks, direct=[passage]),
        score_turn(miss, _turn("Désolé, je n'ai pas trouvé.", [], [], handoff=True), metrics,
                   chunks, direct=[passage]),
        score_turn(none, _turn("Express costs €12.90. [1]", [cite], [passage]), metrics, chunks),
    ]


def test_context_scores_count_only_the_passages_the_search_retrieved() -> None:
    """A chunk read from the best article after the search (`from_article`) is no
    retrieval: a reference context only it holds is not recalled."""
    store = FakeStore({"en/ship": {"c1": "Express costs €12.90.",
                                   "c2": "Express ships the same day."}})
    metrics = RagasMetrics(FakeEmbedder())
    item = RagItem("Does express ship today?", 1, "q1", reference_doc_ids=("en/ship",),
                   reference_contexts=("Express ships the same day.",), language="en")
    passage = {"doc_id": "en/ship", "chunk_id": "c1", "text": "Express costs €12.90."}
    article = {"doc_id": "en/ship", "chunk_id": "c2", "text": "Express ships the same day."}
    read = score_turn(item, _turn("", [], [passage, article | {"from_article": True}]),
                      metrics, StoreChunks(store))  # type: ignore[arg-type]
    found = score_turn(item, _turn("", [], [passage, article]), metrics,
                       StoreChunks(store))  # type: ignore[arg-type]
    assert read.scores["context_recall_text"] == 0.0
    assert found.scores["context_recall_text"] == pytest.approx(1.0)
    assert read.scores["retrieval_recall@5"] == 1.0  # its document was found all the same


def test_summary_breakdowns_and_worst_cases() -> None:
    report = summarise(_rows(), 1.5, dataset="hand-made")
    s = report["summary"]
    assert s["questions"] == 3 and s["answerable"] == 2 and s["unanswerable"] == 1
    assert s["retrieval_recall@5"] == 0.5 and s["retriever_recall@5"] == 1.0
    assert s["answer_string_presence"] == 0.5 and s["citation_validity"] == 1.0
    assert s["unanswerable_declined"] == 0.0 and s["answerable_answered"] == 0.5
    assert set(report["by_language"]) == {"en", "fr"}
    assert report["by_category"]["shipping"]["questions"] == 2
    assert report["worst"][:2] == ["q2", "q3"] and "q1" not in report["worst"]
    assert s["outcomes"] == {"answered": 2, "declined": 1, "clarify": 0, "action": 0,
                             "other": 0}
    assert [r["id"] for r in report["rows"]] == ["q1", "q2", "q3"]
    json.dumps(report)  # serialisable as is


def test_regression_gate_passes_within_the_threshold_and_names_what_dropped() -> None:
    baseline = {"retrieval_recall@5": 0.95, "answer_string_presence": 0.80,
                "citation_validity": 1.0, "p50_latency_ms": 10.0}
    ok = {"retrieval_recall@5": 0.94, "answer_string_presence": 0.90,
          "citation_validity": 0.98, "p50_latency_ms": 99.0}
    assert regression_check(ok, baseline, 0.02) == []
    bad = {"retrieval_recall@5": 0.90, "answer_string_presence": 0.79,
           "citation_validity": 0.97}
    dropped = regression_check(bad, baseline, 0.02)
    assert [d["metric"] for d in dropped] == ["retrieval_recall@5", "citation_validity"]
    assert dropped[0]["drop"] == pytest.approx(0.05)


def test_baseline_reads_rag_and_all_reports_and_rejects_others(tmp_path: Path) -> None:
    rag = tmp_path / "rag.json"
    rag.write_text(json.dumps({"summary": {"citation_validity": 1.0}}), encoding="utf-8")
    both = tmp_path / "all.json"
    both.write_text(json.dumps({"rag": {"summary": {"citation_validity": 0.5}}}),
                    encoding="utf-8")
    assert load_baseline(rag) == {"citation_validity": 1.0}
    assert load_baseline(both) == {"citation_validity": 0.5}
    other = tmp_path / "other.json"
    other.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(DatasetError, match="no 'summary'"):
        load_baseline(other)
    assert "summary" in json.loads((DEMO_DIR / "rag_baseline.json").read_text(encoding="utf-8"))


class Tables(HTMLParser):
    """Collects the cell texts of every table by id, and any external references."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.external: list[str] = []
        self.svgs = 0
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("src", "href"):
            if a.get(key):
                self.external.append(str(a[key]))
        if tag == "script":
            self.external.append("<script>")
        if tag == "svg":
            self.svgs += 1
        if tag == "table":
            self._table = a.get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in {"td", "th"}:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_html_report_is_self_contained_with_summary_breakdowns_plots_and_worst_cases() -> None:
    report = summarise(_rows(), 1.5, dataset="hand-made")
    report["gate"] = {"baseline": "prev.json", "max_drop": 0.02, "passed": False,
                      "dropped": regression_check(report["summary"],
                                                  {"retrieval_recall@5": 1.0}, 0.02)}
    page = render_rag_html(report)
    parsed = Tables()
    parsed.feed(page)
    assert parsed.external == []
    summary = {row[0]: row[1] for row in parsed.tables["summary"][1:]}
    assert summary["retrieval_recall@5"] == "0.500"
    assert summary["citation_validity"] == "1.000"
    assert set(summary) == set(report["metrics"])
    assert [r[0] for r in parsed.tables["by-language"][1:]] == ["en", "fr"]
    assert parsed.tables["gate"][1][0] == "retrieval_recall@5"
    assert parsed.svgs >= len(report["metrics"])
    assert "Combien coûte l&#x27;express ?" in page and "Gift wrap?" in page  # worst cases
    rows = {r["id"]: r for r in report["rows"]}
    assert [p["from_article"] for p in rows["q1"]["passages"]] == [False, True]
    assert "read from the best article" not in page  # q1 is not a worst case
    report["worst"] = ["q1"]
    assert render_rag_html(report).count("read from the best article") == 1


# ----------------------------------------------------------------------------- end to end

def _runtime_proxy(runtime: Any) -> Any:
    """The session's demo runtime, shielded from the command's close()."""
    return SimpleNamespace(knowledge=runtime.knowledge, settings=runtime.settings,
                           context=runtime.context, bot=runtime.bot, close=lambda: None)


def test_eval_rag_end_to_end_on_five_demo_questions(tmp_path: Path, demo_runtime: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    wanted = {"en-ship-01", "en-ret-01", "fr-acc-01", "en-none-04", "fr-multi-05"}
    lines = [line for line in DEMO_SET.read_text(encoding="utf-8").splitlines()
             if line.strip() and json.loads(line)["id"] in wanted]
    dataset = _write(tmp_path, *lines)
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"summary": {"citation_validity": 1.0,
                                                "retrieval_recall@5": 1.5}}),
                        encoding="utf-8")
    monkeypatch.setattr(cli, "_demo_runtime", lambda data_dir: _runtime_proxy(demo_runtime))
    monkeypatch.delenv("SUPPORTGRAPH_JUDGE_MODEL", raising=False)
    out, page = tmp_path / "rag.json", tmp_path / "rag.html"
    result = runner.invoke(app, ["eval", "rag", "--dataset", str(dataset), "--json", str(out),
                                 "--html", str(page), "--baseline", str(baseline),
                                 "--max-drop", "0.02"])
    assert result.exit_code == 1, result.output  # the impossible 1.5 recall baseline
    assert "regression: retrieval_recall@5 dropped" in result.output
    assert "citation_validity" not in result.output.split("regression:", 1)[1]
    report = json.loads(out.read_text(encoding="utf-8"))
    s = report["summary"]
    assert s["questions"] == 5 and s["unanswerable"] == 1
    assert s["citation_validity"] == 1.0 and s["invalid_citations"] == 0
    assert s["retrieval_recall@5"] >= 0.75
    assert s["unanswerable_declined"] == 1.0
    assert set(report["by_language"]) == {"en", "fr"}
    assert {r["id"] for r in report["rows"]} == wanted
    assert all("semantic_similarity" in r["scores"] for r in report["rows"] if r["answerable"])
    assert report["gate"]["dropped"][0]["metric"] == "retrieval_recall@5"
    parsed = Tables()
    parsed.feed(page.read_text(encoding="utf-8"))
    assert "retrieval_recall@5" in {row[0] for row in parsed.tables["summary"][1:]}
    assert regression_check(s, s, 0.02) == []  # the same run as baseline passes


def test_eval_all_combines_rag_scenarios_and_intent(tmp_path: Path, demo_runtime: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import evals.intent

    rag = _write(tmp_path, *[line for line in DEMO_SET.read_text(encoding="utf-8").splitlines()
                             if line.strip() and json.loads(line)["id"] in {"en-ship-01"}])
    scen = tmp_path / "scen.jsonl"
    scen.write_text((DEMO_DIR / "scenarios.jsonl").read_text(encoding="utf-8")
                    .splitlines()[0] + "\n", encoding="utf-8")
    calls: list[tuple[Path, Path]] = []

    def fake_intent(train: Path, test: Path, embedder: Any, **_: Any) -> dict[str, Any]:
        header = train.read_text(encoding="utf-8").splitlines()[0]
        assert header == "text,label"
        calls.append((train, test))
        return {"accuracy": 0.9, "macro_f1": 0.88, "median_latency_ms": 3.0}

    monkeypatch.setattr(evals.intent, "run_intent_eval", fake_intent)
    monkeypatch.setattr(cli, "_demo_runtime", lambda data_dir: _runtime_proxy(demo_runtime))
    monkeypatch.delenv("SUPPORTGRAPH_JUDGE_MODEL", raising=False)
    out, page = tmp_path / "all.json", tmp_path / "all.html"
    result = runner.invoke(app, ["eval", "all", "--rag-dataset", str(rag), "--scenarios",
                                 str(scen), "--json", str(out), "--html", str(page)])
    combined = json.loads(out.read_text(encoding="utf-8"))
    assert set(combined) == {"overview", "rag", "scenarios", "intent"}
    assert combined["rag"]["summary"]["questions"] == 1
    assert combined["scenarios"]["scenarios"] == 1
    assert calls and calls[0][1] == DEMO_DIR / "intents_test.csv"
    assert result.exit_code == (0 if combined["scenarios"]["passed"] == 1 else 1), result.output
    parsed = Tables()
    parsed.feed(page.read_text(encoding="utf-8"))
    assert {"overview", "summary", "scenarios", "intent"} <= set(parsed.tables)
    assert render_all_html(combined) == page.read_text(encoding="utf-8")


def test_run_async_also_works_where_an_event_loop_is_running() -> None:
    # a notebook, or Playwright's sync API in the same process, keeps a loop running in
    # the main thread: asyncio.run would refuse, run_async gives the coroutine its own
    async def scored() -> float:
        await asyncio.sleep(0)
        return 0.5

    async def caller() -> float:
        return float(run_async(scored()))

    assert run_async(scored()) == 0.5
    assert asyncio.run(caller()) == 0.5
