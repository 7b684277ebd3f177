"""retrieve: hybrid search, preferring articles in the customer's language."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agents.configuration import AgentContext
from agents.guard import last_customer_text
from agents.state import TurnState
from knowledge.search import Passage
from knowledge.store import SearchFilter


def answer_confidence(ctx: AgentContext, query: str, passage: Passage) -> float:
    """How sure we are that `passage` answers `query`, comparable across languages.

    Cosine similarity alone over-rates unrelated texts in languages the embedding
    model was not trained on, so shared content stems add evidence and a per-language
    offset removes the inflation (both calibrated, see Settings).
    """
    encoder = ctx.retriever.encoder
    query_ids = set(encoder.encode_query(query).indices)
    passage_ids = set(encoder.encode_document(f"{passage.title} {passage.text}",
                                              passage.language).indices)
    overlap = min(len(query_ids & passage_ids), 3)
    return ((passage.similarity or 0.0) + ctx.lexical_bonus * overlap
            - ctx.language_offsets.get(passage.language, 0.0))


def _scored(ctx: AgentContext, query: str, passages: list[Passage]
            ) -> tuple[list[dict[str, Any]], float]:
    rows: list[dict[str, Any]] = [
        p.to_dict() | {"confidence": round(answer_confidence(ctx, query, p), 4)} for p in passages
    ]
    return rows, max((float(r["confidence"]) for r in rows), default=0.0)


def search_preferring_language(ctx: AgentContext, query: str, language: str
                               ) -> tuple[list[dict[str, Any]], float]:
    """Search in the customer's language first; widen to all languages when that is weak."""
    retriever = ctx.retriever
    local, best = _scored(ctx, query, retriever.search(
        query, ctx.top_k, search_filter=SearchFilter(language=language, tenant=ctx.tenant)))
    if best >= ctx.min_confidence:
        return local, best
    wide, best_wide = _scored(ctx, query, retriever.search(
        query, ctx.top_k, search_filter=SearchFilter(tenant=ctx.tenant)))
    return (wide, best_wide) if best_wide > best else (local, best)


def retrieve(state: TurnState, runtime: Runtime[AgentContext]) -> dict:
    ctx = runtime.context
    passages, confidence = search_preferring_language(
        ctx, last_customer_text(state), state.get("language") or ctx.bot.default_language)
    return {"passages": passages, "retrieval_confidence": confidence}
