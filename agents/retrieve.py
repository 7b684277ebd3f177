"""retrieve: hybrid search, preferring articles in the customer's language."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agents.configuration import AgentContext
from agents.guard import last_customer_text
from agents.state import TurnState
from knowledge.search import Passage
from knowledge.store import SearchFilter


def search_preferring_language(ctx: AgentContext, query: str, language: str) -> list[Passage]:
    """Search in the customer's language first; widen to all languages when that is weak."""
    retriever = ctx.retriever
    passages = retriever.search(query, ctx.top_k, search_filter=SearchFilter(language=language))
    best = max((p.similarity or 0.0 for p in passages), default=0.0)
    if best >= ctx.min_similarity:
        return passages
    widened = retriever.search(query, ctx.top_k)
    best_wide = max((p.similarity or 0.0 for p in widened), default=0.0)
    return widened if best_wide > best else passages


def retrieve(state: TurnState, runtime: Runtime[AgentContext]) -> dict:
    ctx = runtime.context
    passages = search_preferring_language(ctx, last_customer_text(state),
                                          state.get("language") or ctx.bot.default_language)
    confidence = max((p.similarity or 0.0 for p in passages), default=0.0)
    return {"passages": [p.to_dict() for p in passages], "retrieval_confidence": confidence}
