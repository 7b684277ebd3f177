"""The answerability model and the extractive responder, on the real demo knowledge base.

Questions here are not in the eval set nor in the calibration files the model was fitted on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import agents.respond as respond
import agents.retrieve as retrieve
from agents.answerability import (
    ANSWER_TYPES,
    DEFAULT_MODEL,
    FEATURES,
    AnswerabilityModel,
    answer_types,
    passage_sentences,
)
from agents.respond import compose_extractive, offline_answer, question_parts
from agents.retrieve import confident_passages
from evals.metrics import quote_in_text
from supportgraph.runtime import SupportRuntime

DEMO = Path(__file__).resolve().parents[1] / "supportgraph" / "demo"


def test_the_model_has_one_weight_per_feature_and_is_a_probability() -> None:
    assert len(DEFAULT_MODEL.weights) == len(FEATURES)
    model = AnswerabilityModel(weights=(1.0, 0.0, 0.0, 0.0, 0.0, 0.0), bias=0.0)
    assert model.probability([0.0] * 6) == pytest.approx(0.5)
    assert model.probability([5.0, 1, 1, 1, 1, 1]) > 0.99
    assert model.probability([-5.0, 1, 1, 1, 1, 1]) < 0.01


def test_passage_sentences_drop_markup_and_split_list_items() -> None:
    text = "## Rules\n- **One code per order.** Codes can't be combined.\n- Enter it at checkout"
    assert passage_sentences(text) == ["## Rules", "One code per order.",
                                       "Codes can't be combined.", "Enter it at checkout"]


def test_a_numbered_step_keeps_its_number_and_quotes_stay_verbatim(
        demo_runtime: SupportRuntime) -> None:
    text = ("1. Log in to your account.\n2. Open the student discount page and enter your "
            "student email address.\n3. Click the verification link we send to that address."
            "\n4. Once verified, you receive your personal 10% code.")
    sentences = passage_sentences(text)
    assert sentences[2] == "3. Click the verification link we send to that address."
    assert not any(s.rstrip(".").isdigit() for s in sentences)
    passage: dict[str, Any] = {"doc_id": "en/x", "chunk_id": "c1", "title": "Student discount",
                               "source": "", "language": "en", "confidence": 0.9, "text": text}
    citations = compose_extractive("How do I verify my student email address?", [passage],
                                   demo_runtime.knowledge.embedder)
    quote = citations[0]["quote"]
    assert "3. Click the verification link" in quote
    assert all(line[0].isdigit() for line in quote.splitlines())  # one step a line
    assert quote_in_text(quote, text)


def test_the_section_heading_counts_as_words_the_sentence_covers(
        demo_runtime: SupportRuntime) -> None:
    def passage(chunk_id: str, section: str, text: str) -> dict[str, Any]:
        return {"doc_id": "fr/x", "chunk_id": chunk_id, "title": "Vos données", "source": "",
                "language": "fr", "confidence": 0.9, "section": section, "text": text}

    def cited(section_a: str, section_b: str) -> list[str]:
        passages = [
            passage("a", section_a, "Nous conservons vos factures pendant dix ans, comme la "
                                    "loi l'exige."),
            passage("b", section_b, "Écrivez-nous depuis la page Contact : c'est fait sous "
                                    "30 jours.")]
        citations = compose_extractive("Comment supprimer mon compte client ?", passages,
                                       demo_runtime.knowledge.embedder)
        return [c["chunk_id"] for c in citations]

    assert cited("", "") == ["a", "b"]  # neither sentence has the question's words
    assert cited("Ce que nous conservons", "Supprimer votre compte") == ["b"]


@pytest.mark.parametrize(("question", "language"), [
    ("Do you sell gardening seeds and bulbs?", "en"),
    ("Proposez-vous un service de retouche pour les vêtements ?", "fr"),
])
def test_near_miss_questions_are_declined(demo_runtime: SupportRuntime, question: str,
                                          language: str) -> None:
    result = demo_runtime.agent.ask(question)
    assert result.citations == [] and not result.answered and result.handoff_offered
    assert result.language == language


@pytest.mark.parametrize(("question", "fact"), [
    ("How much does DHL express delivery cost?", "€12.90"),
    ("Combien de temps dure la validité d'une carte cadeau ?", "12 mois"),
    ("Which email should I use to reach your data protection officer?",
     "privacy@cedarlane.example"),
])
def test_answers_quote_the_sentence_with_the_fact(demo_runtime: SupportRuntime, question: str,
                                                  fact: str) -> None:
    result = demo_runtime.agent.ask(question)
    assert result.answered and fact in result.reply
    for citation in result.citations:
        passage = next(p for p in result.passages if p["chunk_id"] == citation["chunk_id"])
        assert quote_in_text(citation["quote"], passage["text"])


def test_a_lead_in_sentence_brings_the_sentence_that_follows(
        demo_runtime: SupportRuntime) -> None:
    text = ("Example: you paid €140 and we already refunded €40 for one item. "
            "The most you can still get back is €100. Shipping is not included.")
    passage: dict[str, Any] = {"doc_id": "en/x", "chunk_id": "c1", "title": "Partial refunds",
                               "source": "", "language": "en", "confidence": 0.9, "text": text}
    citations = compose_extractive("I paid €140 and got €40 back, how much more can I get?",
                                   [passage], demo_runtime.knowledge.embedder)
    assert "€100" in citations[0]["quote"]
    assert quote_in_text(citations[0]["quote"], text)


def test_calibration_files_hold_no_eval_question() -> None:
    eval_questions = {json.loads(line)["question"].strip().lower() for line in
                      (DEMO / "rag_eval.jsonl").read_text(encoding="utf-8").splitlines()}
    calibration = [json.loads(line)["question"].strip().lower() for line in
                   (DEMO / "rag_calibration.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(calibration) >= 60 and not set(calibration) & eval_questions


def test_french_sentences_are_scored_by_the_multilingual_encoder(
        demo_runtime: SupportRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    # The knowledge base embeds with the English-only MiniLM; French sentences are
    # scored by the bundled multilingual encoder instead (rag_calibration.jsonl).
    question = "Quel est le montant minimum d'une carte cadeau ?"
    multilingual = demo_runtime.context.sentence_multilingual
    assert multilingual is not None and multilingual.name == "use-multilingual-v3"
    result = demo_runtime.agent.ask(question)
    assert result.answered and "10 €" in result.reply
    passages = [p for p in result.passages if p["language"] == "fr"][:3]
    # The sentences compared on their similarity alone: without the bonus for holding
    # an amount of money, which the question asks for.
    monkeypatch.setattr("agents.answerability.ANSWER_TYPES", ())
    minilm_alone = compose_extractive(question, passages, demo_runtime.knowledge.embedder)
    assert not any("10 €" in c["quote"] for c in minilm_alone)  # the figure was missed
    both = compose_extractive(question, passages, demo_runtime.knowledge.embedder,
                              multilingual)
    assert any("10 €" in c["quote"] for c in both)


def test_answer_types_name_what_the_question_asks_for() -> None:
    def kinds(question: str) -> set[str]:
        patterns = answer_types(question)
        return {name for name, _, answer in ANSWER_TYPES if answer in patterns}

    assert kinds("What email address do I use for a warranty claim?") == {"email"}
    assert kinds("I never got the confirmation email") == set()
    assert kinds("À quel numéro puis-je vous appeler ?") == {"phone"}
    assert kinds("Quel numéro de commande dois-je indiquer ?") == set()
    assert kinds("Do I get the delivery charge back?") == set()
    assert kinds("Quel est le délai pour recevoir un avoir ?") == {"duration"}
    assert kinds("How much is the fee for a second delivery attempt?") == {"money"}
    assert kinds("Is the warehouse open on Sundays?") == {"day"}
    assert kinds("Do you sell oak chopping boards?") == set()
    # Informal and conditional amounts ("c quoi le montant max", "à partir de combien").
    assert kinds("c quoi le montant max d'une carte cadeau") == {"money"}
    assert kinds("La livraison est offerte à partir de combien d'achat ?") == {"money"}
    assert kinds("From what amount are refunds checked by hand?") == {"money"}
    assert kinds("Combien de salariés travaillent chez vous ?") == set()
    email = next(answer for name, _, answer in ANSWER_TYPES if name == "email")
    assert email.search("Write to claims@shop.example today.")
    assert not email.search("Write to us from your account's email address.")


def test_a_passage_holding_the_asked_for_answer_is_read_below_the_margin(
        demo_runtime: SupportRuntime) -> None:
    # The passage about how instalments work is the most confident; the one with the
    # amount limits is more than PASSAGE_MARGIN below it but holds what is asked.
    how = {"doc_id": "en/x", "chunk_id": "c1", "title": "Pay in instalments", "source": "",
           "language": "en", "confidence": 0.95, "section": "How it works",
           "text": "Choose Pay in instalments at checkout and enter your card. The total is "
                   "split into equal monthly payments taken automatically."}
    limits = {"doc_id": "en/x", "chunk_id": "c2", "title": "Pay in instalments", "source": "",
              "language": "en", "confidence": 0.7, "section": "Conditions",
              "text": "Instalments are offered when the basket is between €150 and €1,500. "
                      "A debit or credit card is required."}
    question = "How much can my basket cost at most if I pay in instalments?"
    assert confident_passages([how, limits], 0.3) == [how]
    reply, citations = offline_answer(question, [how, limits], "en", 0.3,
                                      demo_runtime.knowledge.embedder)
    assert "€1,500" in reply
    assert any(c["chunk_id"] == "c2" for c in citations)
    for citation in citations:
        source = how if citation["chunk_id"] == "c1" else limits
        assert quote_in_text(citation["quote"], source["text"])


def test_the_best_articles_chunks_ranked_below_the_quoted_ones_are_read(
        demo_runtime: SupportRuntime) -> None:
    # Three passages are quoted at most; the article's chunk with the answer was found
    # fourth. It is read with the article; a fourth chunk of another article is not.
    def chunk(doc: str, n: int, confidence: float, section: str, text: str) -> dict[str, Any]:
        return {"doc_id": doc, "chunk_id": f"{doc}-{n}", "title": doc, "source": "",
                "language": "en", "confidence": confidence, "section": section, "text": text}

    cards = "en/gift-card-refunds"
    passages = [
        chunk(cards, 1, 0.91, "Lost gift card", "We can reissue a lost card if you have the "
              "order confirmation. The new code keeps the remaining balance."),
        chunk(cards, 2, 0.94, "Returning an item paid by gift card", "The refund for an "
              "item paid by gift card is credited as gift card balance."),
        chunk("en/refund-timing", 1, 0.90, "Where the money goes", "Refunds go back to the "
              "payment method you used, within 5 business days."),
        chunk(cards, 3, 0.87, "Can a gift card be refunded?", "No. Gift cards are not "
              "refundable and can't be exchanged for cash, even if they were never used."),
        chunk("en/gift-cards", 4, 0.86, "Buying a gift card", "Gift cards are not sold in "
              "shops and cannot be refunded by a store."),
    ]
    question = "I got a €100 gift card as a present but don't like anything, can you refund it?"
    embedder = demo_runtime.knowledge.embedder
    assert confident_passages(passages, 0.3) == passages[:3]
    reply, citations = offline_answer(question, passages, "en", 0.3, embedder)
    assert "not refundable" in reply
    assert f"{cards}-3" in {c["chunk_id"] for c in citations}
    assert "en/gift-cards-4" not in {c["chunk_id"] for c in citations}
    # The chunk is not read when it is not confident enough to be quoted at all.
    reply, _ = offline_answer(question, passages, "en", 0.88, embedder)
    assert "not refundable" not in reply


def test_question_parts_split_what_a_question_asks_and_keep_its_context() -> None:
    assert question_parts("I live in Oslo - how long does delivery take and what does it "
                          "cost?") == ["I live in Oslo how long does delivery take?",
                                       "I live in Oslo what does it cost?"]
    assert question_parts("Quel est le délai, et qui paie le retour ?") == [
        "Quel est le délai?", "qui paie le retour?"]
    assert question_parts("My mug arrived chipped. Do I send it back? Who pays?") == [
        "My mug arrived chipped. Do I send it back?", "My mug arrived chipped. Who pays?"]
    # One question, however long, and "and" inside a question are not split.
    assert question_parts("Can I return shoes and a jacket bought in the sale?") == []
    assert question_parts("Where is my order? Thanks.") == []
    assert question_parts("Bonjour : où en est ma commande ?") == []


def test_each_part_of_a_two_part_question_gets_its_sentence(
        demo_runtime: SupportRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    passage: dict[str, Any] = {
        "doc_id": "en/x", "chunk_id": "c1", "title": "Stock and restocks", "source": "",
        "language": "en", "confidence": 0.9, "section": "",
        "text": "Our stock page is refreshed every 15 minutes. Items marked Low stock have "
                "fewer than five left. Sold-out items stay listed with their expected restock "
                "date. Press Notify me on a sold-out product and we send you a message the "
                "day it returns."}
    question = "How often is the stock page updated, and can you email me when a sofa is back?"
    embedder = demo_runtime.knowledge.embedder
    citations = compose_extractive(question, [passage], embedder)
    quote = " ".join(c["quote"] for c in citations)
    assert "every 15 minutes" in quote and "Press Notify me" in quote
    assert all(quote_in_text(c["quote"], passage["text"]) for c in citations)
    # Read as one question, the second half goes unanswered.
    monkeypatch.setattr(respond, "question_parts", lambda question: [])
    alone = " ".join(c["quote"] for c in compose_extractive(question, [passage], embedder))
    assert "every 15 minutes" in alone and "Notify me" not in alone


def test_the_rest_of_the_best_article_is_read_for_a_fact_the_search_missed(
        demo_runtime: SupportRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    question = "Is the chat open on Sundays? And how quickly do you reply to emails?"
    result = demo_runtime.agent.ask(question)
    assert result.answered and result.responder == "offline"
    assert "7 days a week" in result.reply and "within 24 hours" in result.reply
    searched = [p for p in result.passages if not p.get("from_article")]
    read = [p for p in result.passages if p.get("from_article")]
    assert len(searched) == 5 and read
    assert all("24 hours" not in p["text"] for p in searched)
    assert {p["doc_id"] for p in read} == {searched[0]["doc_id"]} == {"en/contact-support"}
    assert all(p["confidence"] >= demo_runtime.context.min_confidence for p in read)
    # The quote is valid for the output guard and the eval: its chunk is a turn passage.
    cited = {c["chunk_id"] for c in result.citations}
    assert cited & {p["chunk_id"] for p in read}
    for citation in result.citations:
        passage = next(p for p in result.passages if p["chunk_id"] == citation["chunk_id"])
        assert quote_in_text(citation["quote"], passage["text"])
    # Without it the figure is not among the quoted passages.
    monkeypatch.setattr(retrieve, "article_passages", lambda *args, **kwargs: [])
    alone = demo_runtime.agent.ask(question)
    assert alone.answered and "24 hours" not in alone.reply
    assert not any(p.get("from_article") for p in alone.passages)


def test_a_question_asking_for_an_address_gets_the_sentence_holding_one(
        demo_runtime: SupportRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    question = "Quelle adresse e-mail pour écrire au service client ?"
    result = demo_runtime.agent.ask(question)
    assert result.answered and "support@cedarlane.example" in result.reply
    cited = next(c for c in result.citations if "support@cedarlane.example" in c["quote"])
    passage = next(p for p in result.passages if p["chunk_id"] == cited["chunk_id"])
    assert quote_in_text(cited["quote"], passage["text"])
    # Chosen by their words alone, the sentences quoted hold no address ("l'adresse
    # e-mail utilisée pour la commande").
    monkeypatch.setattr(respond, "TYPED_SENTENCE_MARGIN", -1.0)
    alone = demo_runtime.agent.ask(question)
    assert alone.answered and "support@cedarlane.example" not in alone.reply


def test_a_chat_question_without_a_question_mark_that_asks_for_a_human_is_answered(
        demo_runtime: SupportRuntime) -> None:
    result = demo_runtime.agent.ask("whats ur phone number")
    assert result.intent["route"] == "handoff" and result.handoff_offered
    assert result.answered and "+33 4 72 00 00 00" in result.reply
