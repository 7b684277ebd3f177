"""Typo correction of questions against the words of the passages they retrieved."""

from __future__ import annotations

from pathlib import Path

import pytest

import agents.retrieve as retrieve
from knowledge.embeddings import Embedder
from knowledge.spelling import correct, lexicon, vocabulary
from supportgraph.runtime import DEMO_BOT_CONFIG, SupportRuntime
from supportgraph.settings import Settings

PASSAGES = vocabulary([
    "We can't add items to an order that has already been placed.",
    "You can change the delivery address until your order ships.",
    "Nous remboursons la différence sur demande.",
])


def test_misspelt_words_take_the_closest_passage_word() -> None:
    assert correct("can i add a candle to the ordr i placed", PASSAGES, "en") == \
        "can i add a candle to the order i placed"
    # A swap of two letters is one edit.
    assert correct("can I chnage the delivery adress?", PASSAGES, "en") == \
        "can I change the delivery address?"
    assert correct("vous remboursé la diférence ?", PASSAGES, "fr") == \
        "vous remboursé la différence ?"


def test_real_words_and_words_nothing_comes_close_to_are_left_alone() -> None:
    # "them" is one edit from "then"/"the"; "earbuds" has no passage word near it.
    assert correct("can I send them back, the earbuds", PASSAGES, "en") == \
        "can I send them back, the earbuds"
    assert correct("mais je voudrais moins", PASSAGES, "fr") == "mais je voudrais moins"
    # Short words are not corrected ("ordr" is, "od" is not).
    assert correct("od", vocabulary(["of"]), "en") == "od"


def test_a_language_without_a_word_list_is_not_corrected() -> None:
    assert lexicon("xx") is None
    assert correct("ordr", PASSAGES, "xx") == "ordr"


def test_a_question_with_a_typo_is_answered_like_its_correct_spelling(
        demo_runtime: SupportRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    question = "can i add a candle to the ordr i placed an hour ago"
    result = demo_runtime.agent.ask(question)
    assert result.answered and "can't add items" in result.reply
    assert result.citations[0]["doc_id"] == "en/change-order-items"
    # Read as typed, the right passage is not confident enough to quote.
    monkeypatch.setattr(retrieve, "correct", lambda text, words, language: text)
    typed = demo_runtime.agent.ask(question)
    assert not typed.answered and "can't add items" not in typed.reply


def test_the_runtime_loads_the_bots_word_lists_before_the_first_turn(
        tmp_path: Path, intent_cache: Path, embedder: Embedder) -> None:
    # 0.3 s for English and French: paid when the service starts, not by a customer.
    lexicon.cache_clear()
    settings = Settings(data_dir=tmp_path / "data", bot_config=DEMO_BOT_CONFIG,
                        intent_cache_dir=intent_cache)
    with SupportRuntime(settings, embedder=embedder) as runtime:
        loaded = lexicon.cache_info()
        assert loaded.misses == len(runtime.bot.languages) == 2
        assert loaded.currsize == 2
        runtime.agent.ask("can i add a candle to the ordr i placed an hour ago")
        assert lexicon.cache_info().misses == loaded.misses  # nothing loaded mid-turn
