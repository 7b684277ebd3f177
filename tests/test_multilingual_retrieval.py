"""Retrieval with the multilingual encoder beside MiniLM
(SUPPORTGRAPH_RETRIEVAL_MULTILINGUAL_ENCODER=on): French queries search with both
embeddings, English ones exactly as with MiniLM alone, and an older MiniLM-only store
still opens."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.retrieval import LabelledQuery, load_queries, score_mode
from knowledge.embeddings import Embedder
from knowledge.store import SearchFilter
from supportgraph.runtime import (
    DEMO_HELP_URL,
    DEMO_HELPCENTER,
    KnowledgeServices,
    SupportRuntime,
    open_store,
    retrieval_multilingual,
)
from supportgraph.settings import BotConfig, Settings

QUERIES = [Path(__file__).parent / "data" / "retrieval_small.jsonl",
           Path(__file__).parents[1] / "supportgraph" / "demo" / "retrieval_queries.jsonl"]
SMALL_CORPUS = Path(__file__).parent / "data" / "helpcenter_small"


@pytest.fixture(scope="module")
def bilingual(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
              ) -> Iterator[KnowledgeServices]:
    """The demo help centre, ingested with both embeddings."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("bilingual"),
                        retrieval_multilingual_encoder="on")
    services = KnowledgeServices.build(settings, BotConfig(), embedder)
    services.ingestor.ingest_paths([DEMO_HELPCENTER], base_url=DEMO_HELP_URL)  # as demo_runtime
    yield services
    services.close()


def _queries(shape: str) -> list[LabelledQuery]:
    return [q for path in QUERIES for q in load_queries(path) if q.meta.get("shape") == shape]


def test_chunks_are_stored_with_both_embeddings(bilingual: KnowledgeServices,
                                                embedder: Embedder,
                                                multilingual: Embedder) -> None:
    assert bilingual.retriever.multilingual is multilingual
    assert bilingual.store.dim == embedder.dim + multilingual.dim
    assert bilingual.retriever.index_embedder.name == f"{embedder.name}+{multilingual.name}"


@pytest.mark.parametrize("mode", ["hybrid", "dense", "sparse"])
def test_an_english_query_ranks_as_with_minilm_alone(bilingual: KnowledgeServices,
                                                     demo_runtime: SupportRuntime,
                                                     mode: str) -> None:
    plain = demo_runtime.knowledge.retriever
    assert plain.multilingual is None  # the default
    for query in ("How long do refunds take?", "can i pay with paypal",
                  "my parcel says delivered but it isn't here"):
        got = bilingual.retriever.search(query, 5, mode=mode)  # type: ignore[arg-type]
        want = plain.search(query, 5, mode=mode)  # type: ignore[arg-type]
        assert [(h.doc_id, h.text) for h in got] == [(h.doc_id, h.text) for h in want]
        # (Chunk ids differ: they name the embedder.) `similarity`, which the
        # answerability model reads, is still MiniLM's cosine.
        assert [h.similarity for h in got] == pytest.approx([h.similarity for h in want],
                                                            abs=1e-4)


def test_french_queries_find_their_articles_better(bilingual: KnowledgeServices,
                                                   demo_runtime: SupportRuntime) -> None:
    french = _queries("french")
    assert len(french) >= 30
    both = score_mode(bilingual.retriever, french, "hybrid")
    minilm = score_mode(demo_runtime.knowledge.retriever, french, "hybrid")
    assert both["ndcg@10"] >= minilm["ndcg@10"] + 0.04  # measured 0.931 against 0.852
    assert both["recall@5"] >= minilm["recall@5"]
    # The English shapes do not move.
    for shape in ("keyword", "paraphrase"):
        queries = _queries(shape)
        assert score_mode(bilingual.retriever, queries, "hybrid")["ndcg@10"] == \
            pytest.approx(score_mode(demo_runtime.knowledge.retriever, queries,
                                     "hybrid")["ndcg@10"])


def test_the_query_language_comes_from_the_caller_the_filter_or_the_text(
        bilingual: KnowledgeServices) -> None:
    retriever = bilingual.retriever
    french = "Sous combien de jours suis-je remboursé ?"
    detected = retriever.search(french, 5)
    by_filter = retriever.search(french, 5, search_filter=SearchFilter())
    told = retriever.search(french, 5, language="fr")
    assert [h.chunk_id for h in detected] == [h.chunk_id for h in told] == \
        [h.chunk_id for h in by_filter]
    as_english = retriever.search(french, 5, language="en")  # MiniLM alone
    assert [h.chunk_id for h in as_english] != [h.chunk_id for h in told]


def test_a_store_built_with_minilm_alone_still_opens(tmp_path: Path, embedder: Embedder,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    old = Settings(data_dir=tmp_path)
    services = KnowledgeServices.build(old, BotConfig(), embedder)
    services.ingestor.ingest_paths([SMALL_CORPUS])
    before = services.retriever.search("Combien coûte la livraison ?", 3)
    services.close()
    with caplog.at_level(logging.WARNING, logger="supportgraph.runtime"):
        reopened = KnowledgeServices.build(old.model_copy(
            update={"retrieval_multilingual_encoder": "on"}), BotConfig(), embedder)
    try:
        assert reopened.retriever.multilingual is None
        assert reopened.store.dim == embedder.dim
        assert "re-ingest" in caplog.text
        after = reopened.retriever.search("Combien coûte la livraison ?", 3)
        assert [h.chunk_id for h in after] == [h.chunk_id for h in before]
    finally:
        reopened.close()



def test_a_given_minilm_store_is_searched_alone_with_a_warning(
        tmp_path: Path, embedder: Embedder, caplog: pytest.LogCaptureFixture) -> None:
    on = Settings(data_dir=tmp_path, retrieval_multilingual_encoder="on")
    store = open_store(on, embedder.dim)  # a caller's store, made for MiniLM alone
    with caplog.at_level(logging.WARNING, logger="supportgraph.runtime"):
        services = KnowledgeServices.build(on, BotConfig(), embedder, store=store)
    try:
        assert services.retriever.multilingual is None
        assert services.ingestor.embedder is embedder
        assert "re-ingest" in caplog.text
    finally:
        services.close()

def test_the_encoder_is_added_only_where_it_helps(embedder: Embedder) -> None:
    on = Settings(retrieval_multilingual_encoder="on")
    assert retrieval_multilingual(Settings(), BotConfig(), embedder) is None  # off by default
    assert retrieval_multilingual(on, BotConfig(languages=["en", "fr"]), embedder) is not None
    assert retrieval_multilingual(on, BotConfig(languages=["en"]), embedder) is None
