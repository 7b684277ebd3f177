"""respond: compose the reply, from an LLM when one is configured, else extractively.

The offline responder quotes the most relevant sentences of the best passages,
each followed by its citation number; it never writes a sentence that is not
in the knowledge base. When retrieval is not confident it says so and offers
a human, in the customer's language. The LLM responder is prompted to answer
only from the numbered passages and to cite them; if it fails, the offline
responder answers instead, so the customer always gets a reply.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langgraph.runtime import Runtime

from agents import prompts
from agents.configuration import AgentContext
from agents.guard import last_customer_text
from agents.state import Citation, TurnState
from knowledge.chunking import split_sentences
from knowledge.sparse import BM25Encoder

log = logging.getLogger(__name__)

_CITE = re.compile(r"\[(\d{1,2})\]")
_terms = BM25Encoder()
MAX_QUOTE_CHARS = 520


def _sentences(passage_text: str) -> list[str]:
    out: list[str] = []
    for line in passage_text.splitlines():
        line = line.strip().lstrip("-*• ").strip()
        if line:
            out.extend(split_sentences(line))
    return out


def _overlap(query_ids: set[int], sentence: str, language: str) -> int:
    return len(query_ids & set(_terms.encode_document(sentence, language).indices))


def _citation(index: int, passage: dict[str, Any], quote: str) -> Citation:
    return Citation(index=index, doc_id=passage["doc_id"], chunk_id=passage["chunk_id"],
                    title=passage["title"], source=passage["source"],
                    section=passage.get("section", ""), quote=quote)


def confident_passages(passages: list[dict[str, Any]], min_similarity: float,
                       limit: int = 3, margin: float = 0.12) -> list[dict[str, Any]]:
    """Passages close enough to the question to be worth quoting, best first."""
    scored = [p for p in passages if (p.get("similarity") or 0.0) >= min_similarity]
    if not scored:
        return []
    best = max(p["similarity"] for p in scored)
    return [p for p in scored if p["similarity"] >= best - margin][:limit]


def compose_extractive(question: str, passages: list[dict[str, Any]]
                       ) -> tuple[list[str], list[Citation]]:
    """Pick sentences answering `question`: up to two from the best passage, one more
    from another passage when it adds matching terms. Returns sentences and citations."""
    query_ids = set(_terms.encode_query(question).indices)
    picked: list[tuple[int, int, str]] = []
    citations: list[Citation] = []
    used_chars = 0
    for rank, passage in enumerate(passages):
        sentences = _sentences(passage["text"])
        if not sentences:
            continue
        scores = [_overlap(query_ids, s, passage.get("language", "en")) for s in sentences]
        if rank > 0 and max(scores) < 2:
            continue
        want = 2 if rank == 0 else 1
        order = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))[:want]
        if rank == 0 and scores[order[0]] == 0:
            order = list(range(min(2, len(sentences))))
        chosen = sorted(i for i in order if rank == 0 or scores[i] > 0)
        if rank == 0 and len(chosen) == 1 and chosen[0] + 1 < len(sentences):
            chosen.append(chosen[0] + 1)
        quote_parts = []
        for i in chosen:
            if used_chars + len(sentences[i]) > MAX_QUOTE_CHARS and picked:
                break
            picked.append((rank, i, sentences[i]))
            quote_parts.append(sentences[i])
            used_chars += len(sentences[i])
        if quote_parts:
            citations.append(_citation(len(citations) + 1, passage, " ".join(quote_parts)))
        if used_chars >= MAX_QUOTE_CHARS or len(citations) == 2:
            break
    return [s for _, _, s in picked], citations


def offline_answer(question: str, passages: list[dict[str, Any]], language: str,
                   min_similarity: float) -> tuple[str, list[Citation]]:
    chosen = confident_passages(passages, min_similarity)
    if not chosen:
        return prompts.text("dont_know", language), []
    _, citations = compose_extractive(question, chosen)
    if not citations:
        return prompts.text("dont_know", language), []
    lines = [prompts.text("intro", language), ""]
    lines += [f"{c['quote']} [{c['index']}]" for c in citations]
    if any(p.get("language") and p["language"] != language for p in chosen):
        lines += ["", prompts.text("other_language", language)]
    return "\n".join(lines), citations


def llm_answer(ctx: AgentContext, state: TurnState, passages: list[dict[str, Any]],
               language: str) -> tuple[str, list[Citation]]:
    numbered = "\n\n".join(
        f"[{i}] {p['title']}{' > ' + p['section'] if p.get('section') else ''}\n{p['text']}"
        for i, p in enumerate(passages, 1)
    )
    system = SystemMessage(prompts.ANSWER_SYSTEM.format(
        bot_name=ctx.bot.name, company=ctx.bot.company, passages=numbered, max_sentences=5,
        language_name=prompts.LANGUAGE_NAMES.get(language, language),
    ))
    history: list[BaseMessage] = list(state.get("messages", []))[-(2 * ctx.history_turns):]
    result = ctx.chat_model.invoke([system, *history])
    reply = result.text if isinstance(result.text, str) else str(result.content)
    cited = sorted({int(n) for n in _CITE.findall(reply) if 1 <= int(n) <= len(passages)})
    citations = [_citation(n, passages[n - 1], passages[n - 1]["text"][:300]) for n in cited]
    return reply.strip(), citations


def respond(state: TurnState, runtime: Runtime[AgentContext]) -> dict:
    ctx = runtime.context
    language = state.get("language") or ctx.bot.default_language
    intent = state.get("intent", {})
    route, label = intent.get("route", "answer"), intent.get("label", "question")
    values = {"company": ctx.bot.company, "bot_name": ctx.bot.name}
    citations: list[Citation] = []
    responder = "offline"
    handoff = False
    if route == "handoff":
        reply, handoff = prompts.text("handoff", language, **values), True
    elif route == "smalltalk":
        key = label if label in {"greeting", "thanks", "goodbye"} else "greeting"
        reply = prompts.text(key, language, **values)
    else:
        passages = state.get("passages", [])
        question = last_customer_text(state)
        confident = confident_passages(passages, ctx.min_similarity, limit=ctx.top_k)
        reply = ""
        if ctx.chat_model is not None and confident:
            try:
                reply, citations = llm_answer(ctx, state, confident, language)
                responder = "llm"
            except Exception:
                log.exception("chat model failed; answering from the offline responder")
                reply = ""
        if not reply:
            reply, citations = offline_answer(question, passages, language, ctx.min_similarity)
        handoff = not citations
    return {"reply": reply, "citations": citations, "answered": bool(citations),
            "handoff_offered": handoff, "responder": responder,
            "messages": [AIMessage(reply, additional_kwargs={"citations": citations})]}
