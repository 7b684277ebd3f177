"""retrieve: hybrid search, preferring articles in the customer's language."""

from __future__ import annotations

import re
from typing import Any

from langgraph.runtime import Runtime

from agents.answerability import DEFAULT_MODEL, PassageText, passage_features
from agents.configuration import AgentContext
from agents.guard import last_customer_text
from agents.slots import without_order_numbers
from agents.state import TurnState
from knowledge.screening import screen_passages
from knowledge.search import Passage
from knowledge.sparse import tokenize
from knowledge.spelling import correct, vocabulary
from knowledge.store import SearchFilter

PASSAGE_MARGIN = 0.12
_CONNECTOR = re.compile(r"^\W*(and|also|but|what about|how about|same for|et|mais|aussi|"
                        r"et pour|et si|pareil pour|même chose pour)\b", re.IGNORECASE)
_GENERIC = frozenset("work works worked happen need mean take long much many cost costs "
                     "ok okay still instead then else marche fonctionne faire fait "
                     "combien temps quoi fais prend comment".split())
ARTICLE_CHUNKS = 12
"""The most chunks read from one article (the demo's help-centre articles have 3 to 8)."""


def previous_customer_text(state: TurnState) -> str:
    """The customer's message before the latest one in this conversation ("" if none)."""
    texts = [m.text if isinstance(m.text, str) else str(m.content)
             for m in state.get("messages", []) if m.type == "human"]
    return texts[-2] if len(texts) > 1 else ""


_GENERIC_STEMS = frozenset(stem for language in ("en", "fr") for word in _GENERIC
                           for stem in tokenize(word, language))


def is_follow_up(text: str, language: str) -> bool:
    """A message that leans on the one before it: it starts like a continuation ("and on
    Sunday?", "et pour la Belgique ?") or names nothing of its own ("what should I do?",
    "it didn't work", "how long does that take?"); at most 8 words either way. "What is
    the boiling point of mercury?" names its own topic and is searched alone."""
    if len(re.findall(r"[^\W\d_]+", text)) > 8:
        return False
    if _CONNECTOR.match(text):
        return True
    return sum(1 for token in tokenize(text, language) if token not in _GENERIC_STEMS) <= 1


def confident_passages(passages: list[dict[str, Any]], min_confidence: float,
                       limit: int = 3, margin: float = PASSAGE_MARGIN) -> list[dict[str, Any]]:
    """Passages close enough to the question to be worth quoting, in retrieval order."""
    scored = [p for p in passages if p.get("confidence", 0.0) >= min_confidence]
    if not scored:
        return []
    best = max(p["confidence"] for p in scored)
    return [p for p in scored if p["confidence"] >= best - margin][:limit]


def retrieved_passages(passages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The search's own results, without the chunks read from the best article."""
    return [p for p in passages if not p.get("from_article")]


def answer_confidence(ctx: AgentContext, query: str, passage: Passage) -> float:
    """The probability that `passage` answers `query` (see agents/answerability.py)."""
    return _confidences(ctx, query, [passage])[0]


def _confidences(ctx: AgentContext, query: str, passages: list[Passage]) -> list[float]:
    """Answerability of each passage: the chunk's and its best sentence's similarity to the
    question and their coverage of its content words, through the calibrated model."""
    if not passages:
        return []
    retriever = ctx.retriever
    features = passage_features(
        query, [PassageText(p.text, p.title, p.language, p.similarity or 0.0, p.section)
                for p in passages],
        retriever.embedder, retriever.encoder, ctx.lexical_bonus, ctx.language_offsets)
    confidences = [DEFAULT_MODEL.probability(row) for row in features]
    terms: dict[str, set[str]] = {}
    for i, passage in enumerate(passages):
        # "warranty?", "moyens de paiement ?": a message that only names a topic has
        # too few words for the model to trust (it learned that short questions match
        # by chance), but a heading that names all of them is that topic's article.
        language = passage.language or "en"
        if language not in terms:
            terms[language] = topic_terms(query, language)
        if terms[language] and terms[language] <= set(
                tokenize(f"{passage.title} {passage.section}", language)):
            confidences[i] = max(confidences[i], ctx.min_confidence)
    return confidences


_QUESTION_WORDS = frozenset(stem for language in ("en", "fr") for word in (
    "what whats which how about any info information question quel quelle quels quelles "
    "comment combien votre vos question info infos").split()
    for stem in tokenize(word, language))


def topic_terms(query: str, language: str) -> set[str]:
    """The content stems of a message that only names a topic ("what's the warranty?",
    "moyens de paiement ?"): at most 5 words, of which 1 to 3 say something beyond a
    question word; empty for anything else."""
    if len(re.findall(r"[^\W\d_]+", query)) > 5:
        return set()
    terms = {t for t in tokenize(query, language)
             if t not in _QUESTION_WORDS and t not in _GENERIC_STEMS}
    return terms if len(terms) <= 3 else set()


def _scored(ctx: AgentContext, query: str, passages: list[Passage]
            ) -> tuple[list[dict[str, Any]], float]:
    rows: list[dict[str, Any]] = [
        p.to_dict() | {"confidence": round(confidence, 4)}
        for p, confidence in zip(passages, _confidences(ctx, query, passages), strict=True)
    ]
    return rows, max((float(r["confidence"]) for r in rows), default=0.0)


def search_preferring_language(ctx: AgentContext, query: str, language: str
                               ) -> tuple[list[dict[str, Any]], float]:
    """Search in the customer's language first; widen to all languages when that is weak."""
    retriever = ctx.retriever
    local, best = _scored(ctx, query, retriever.search(
        query, ctx.top_k, search_filter=SearchFilter(language=language, tenant=ctx.tenant),
        language=language))
    if best >= ctx.min_confidence:
        return local, best
    wide, best_wide = _scored(ctx, query, retriever.search(
        query, ctx.top_k, search_filter=SearchFilter(tenant=ctx.tenant), language=language))
    return (wide, best_wide) if best_wide > best else (local, best)


def search_query(state: TurnState) -> str:
    """The text retrieval searched with: the customer's message, typos corrected."""
    return state.get("search_query") or last_customer_text(state)


def retrieve(state: TurnState, runtime: Runtime[AgentContext]) -> dict:
    ctx = runtime.context
    query = without_order_numbers(last_customer_text(state), ctx.slot_config)
    language = state.get("language") or ctx.bot.default_language
    passages, confidence = search_preferring_language(ctx, query, language)
    # A typo ("the ordr i placed") is corrected against the words of what was found, and
    # the corrected question is searched again; it is kept only if it finds better.
    corrected = correct(query, vocabulary(
        f"{p.get('title', '')} {p.get('section', '')} {p.get('text', '')}" for p in passages),
        language)
    if corrected != query:
        again, better = search_preferring_language(ctx, corrected, language)
        if better > confidence:
            passages, confidence, query = again, better, corrected
    # A short follow-up ("and on Sunday?", "what should I do?") leans on the question
    # before it: searched alone it finds nothing, so it is searched with that question.
    earlier = without_order_numbers(previous_customer_text(state), ctx.slot_config)
    if confidence < ctx.min_confidence and earlier and is_follow_up(query, language):
        joined = f"{earlier} {query}"
        again, better = search_preferring_language(ctx, joined, language)
        if better >= ctx.min_confidence:
            passages, confidence, query = again, better, joined
    # Indirect injection: instructions planted in documents are data, never seen as orders.
    screened = screen_passages(passages)
    if len(screened) != len(passages):
        confidence = max((float(p.get("confidence", 0.0)) for p in screened), default=0.0)
    best = confident_passages(screened, ctx.min_confidence)
    if best:
        screened += article_passages(ctx, query, best[0]["doc_id"],
                                     {str(p["chunk_id"]) for p in screened}, language)
    return {"passages": screened, "retrieval_confidence": confidence, "search_query": query}


def article_passages(ctx: AgentContext, query: str, doc_id: str, exclude: set[str],
                     language: str | None = None) -> list[dict[str, Any]]:
    """The other chunks of article `doc_id` that pass the answer threshold for `query`,
    best first, screened like every retrieved passage and marked `from_article`.

    A help-centre article answers one topic, and the chunk holding the figure asked for
    ("We answer within 24 hours") can rank below chunks of other articles in the whole
    search, so the offline responder reads the rest of the article it quotes first.
    Chosen on rag_calibration.jsonl: string presence 0.862 -> 0.879 (every chunk of the
    article, whatever its confidence, gave the same).
    """
    hits = [h for h in ctx.retriever.search(query, ARTICLE_CHUNKS, search_filter=SearchFilter(
        doc_ids=(doc_id,), tenant=ctx.tenant), language=language) if h.chunk_id not in exclude]
    rows, _ = _scored(ctx, query, hits)
    return [p | {"from_article": True} for p in screen_passages(rows)
            if float(p.get("confidence", 0.0)) >= ctx.min_confidence]
