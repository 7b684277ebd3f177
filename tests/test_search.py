"""Search over the demo help centre: hybrid is not worse than dense alone, languages
and filters work, and every mode returns the chunk's text and citation fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.retrieval import load_queries, score_mode
from knowledge.store import SearchFilter
from supportgraph.runtime import SupportRuntime

SMALL_SET = Path(__file__).parent / "data" / "retrieval_small.jsonl"


def test_default_hybrid_is_at_least_as_good_as_dense_alone(demo_runtime: SupportRuntime) -> None:
    retriever = demo_runtime.knowledge.retriever
    queries = load_queries(SMALL_SET)
    hybrid = score_mode(retriever, queries, "hybrid")
    dense = score_mode(retriever, queries, "dense")
    sparse = score_mode(retriever, queries, "sparse")
    assert hybrid["ndcg@10"] >= dense["ndcg@10"]
    assert hybrid["mrr@10"] >= dense["mrr@10"]
    assert hybrid["ndcg@10"] >= sparse["ndcg@10"]
    assert hybrid["recall@5"] >= 0.9


def test_a_french_question_finds_the_french_article(demo_runtime: SupportRuntime) -> None:
    hits = demo_runtime.knowledge.retriever.search(
        "Combien de temps faut-il pour recevoir mon remboursement ?", 3)
    assert hits[0].language == "fr"
    assert hits[0].doc_id.startswith("fr/")
    assert "rembours" in hits[0].doc_id


@pytest.mark.parametrize("mode", ["hybrid", "dense", "sparse"])
def test_every_mode_finds_the_express_shipping_article(demo_runtime: SupportRuntime,
                                                       mode: str) -> None:
    hits = demo_runtime.knowledge.retriever.search("express delivery DHL price", 5,
                                                   mode=mode)  # type: ignore[arg-type]
    assert "en/shipping-options" in [h.doc_id for h in hits]
    assert all(h.text and h.title and h.source for h in hits)


def test_language_and_tag_filters_restrict_results(demo_runtime: SupportRuntime) -> None:
    retriever = demo_runtime.knowledge.retriever
    french = retriever.search("refund", 10, search_filter=SearchFilter(language="fr"))
    assert french and all(h.language == "fr" for h in french)
    tagged = retriever.search("how long", 10, search_filter=SearchFilter(tags=("gift cards",)))
    assert tagged and all("gift cards" in h.tags for h in tagged)
    nothing = retriever.search("refund", 10, search_filter=SearchFilter(tenant="other-shop"))
    assert nothing == []


def test_similarity_is_reported_in_every_mode(demo_runtime: SupportRuntime) -> None:
    retriever = demo_runtime.knowledge.retriever
    for mode in ("hybrid", "dense", "sparse"):
        hits = retriever.search("How do I reset my password?", 3, mode=mode)  # type: ignore[arg-type]
        assert hits[0].similarity is not None and hits[0].similarity > 0.4
