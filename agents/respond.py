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
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langgraph.runtime import Runtime

from agents import prompts
from agents.act import identity_of
from agents.action_texts import (
    item_not_in_order,
    localised,
    outcome_reply,
    status_reply,
    which_order,
)
from agents.answerability import STEP_NUMBER, answer_types, passage_sentences
from agents.configuration import AgentContext
from agents.guard import last_customer_text, open_handoff_ticket
from agents.pii import masked_messages
from agents.resilience import ModelUnavailable, call_model
from agents.retrieve import confident_passages, retrieved_passages, search_query
from agents.slots import product_named
from agents.state import Citation, TurnState
from knowledge.embeddings import Embedder
from knowledge.sparse import tokenize

log = logging.getLogger(__name__)

_CITE = re.compile(r"\[(\d{1,2})\]")
MAX_QUOTE_CHARS = 520
COVERAGE_WEIGHT = 0.15
COVERAGE_WEIGHT_OTHER = 0.25
CLOSE_MARGIN = 0.12
COMPLETE_MARGIN = 0.2
META_PENALTY = 0.5
RANK_PENALTY = 0.03
CONTEXT_CHARS = 200
"""Sentence selection: bonus for covering the question's words (English, and other
languages scored by the multilingual encoder / other languages scored by an English
model, where cosine similarity says less), how far below the best sentence another may
score and still join (close to it / covering words it does not), and how far past
MAX_QUOTE_CHARS the best sentence's neighbours may take the quote. Chosen on
supportgraph/demo/rag_calibration.jsonl (answer string presence of the answered
questions 0.583 -> 0.722), not on the evaluation set. Once French sentences were
scored by the multilingual encoder, their coverage bonus was re-chosen there too:
0.25 -> 0.15, the English weight (presence 0.816 -> 0.868; 0.05 and 0.10 gave the
same, 0.20 gave 0.842)."""


_META = re.compile(r"\b(voici (comment|ce que|combien|les)|this (article|page|guide)|"
                   r"here(?:'s| is) (how|what)|cet article|cette page|découvrez|"
                   r"read on|lisez la suite)\b", re.IGNORECASE)
"""Sentences about the article rather than about the answer ("here's how ...")."""
_LEAD_IN = re.compile(r"^(for example|example|e\.g\.|par exemple|exemple)\b", re.IGNORECASE)
"""Sentences that set up what the next sentence says (an example's premise)."""
_ASKS_AMOUNT = re.compile(
    r"\b(how (long|much|many|soon|quickly|fast)|when|what time|until when|which (day|date)|"
    r"combien|quand|jusqu'à quand|quel(le)?s? (montant|délai|heure|jour|date|prix|durée)|"
    r"à partir de quel|à quelle heure)\b", re.IGNORECASE)
"""Questions whose answer is a number, an amount, a duration or a date."""

ANSWER_TYPE_BONUS = 0.1
TYPED_PASSAGES = 1
TYPED_SENTENCE_MARGIN = 0.4
"""A sentence holding an answer of an asked-for type scores ANSWER_TYPE_BONUS more, and
up to TYPED_PASSAGES confident passages holding one are read even when their confidence
is further than PASSAGE_MARGIN below the best. Chosen on rag_calibration.jsonl (string
presence 0.763 -> 0.789; a bonus of 0.2 gave the same, 0.3 and 0.4 gave 0.763). When no
chosen sentence holds an answer of an asked-for type, the best one that does is added if
it scores within TYPED_SENTENCE_MARGIN of the best sentence (calibration: 0.879 -> 0.914,
the two questions asking for the support email address; 0.3 changed nothing, no margin
at all the same as 0.4)."""

_PART_BREAK = re.compile(
    r",\s*(?:and|et)\s+|\s+(?:and|et)\s+(?=(?:how|what|when|where|which|who|why|"
    r"can|could|do|does|did|is|are|will|would|should|combien|comment|quand|où|quel|quelle|"
    r"quels|quelles|qu'|que|est-ce|pourquoi|si)\b)", re.IGNORECASE)
"""Where a second question starts inside a sentence: at ", and" / ", et", or at "and" /
"et" followed by a question word ("how long does it take and what does it
cost?")."""
_CONTEXT = re.compile(r"^(.{8,}?)\s*(?::\s|\s-\s|\s–\s)\s*(?=\S)")
"""A lead-in before the questions ("I live in Berlin - how long ...", "J'habite en
Suisse : combien ...")."""


def question_parts(question: str) -> list[str]:
    """The questions inside `question` when it asks several, else []. Statements around
    them ("I live in Berlin - ...", "Il coûtait 15 €.") are context every part keeps."""
    context: list[str] = []
    parts: list[str] = []
    for sentence in re.split(r"(?<=[?.!])\s+", question.strip()):
        lead = _CONTEXT.match(sentence)
        if lead and "?" not in lead.group(1):
            context.append(lead.group(1).strip())
            sentence = sentence[lead.end():]
        if not sentence.rstrip().endswith("?"):
            context.append(sentence.strip())
            continue
        parts += [p.strip(" ,;?") for p in _PART_BREAK.split(sentence)]
    parts = [p for p in parts if p]
    if len(parts) < 2:
        return []
    lead_in = " ".join(c for c in context if c)
    return [f"{lead_in} {p}?".strip() for p in parts]


def _sentences(passage_text: str) -> list[str]:
    return passage_sentences(passage_text)


def _needs_follow_up(sentence: str) -> bool:
    """A lead-in ("...is refunded when:", "Example: you paid €140.") says nothing alone."""
    return sentence.rstrip().endswith(":") or bool(_LEAD_IN.match(sentence.strip()))


def _join(sentences: list[str]) -> str:
    """Sentences in reading order; list items (no final punctuation) and numbered steps
    keep their own line."""
    out = ""
    for sentence in sentences:
        ends = out.rstrip().endswith((".", "!", "?", "…", ")", "»", '"'))
        sep = " " if ends and not STEP_NUMBER.match(sentence) else "\n"
        out = f"{out}{sep}{sentence}" if out else sentence
    return out


def _citation(index: int, passage: dict[str, Any], quote: str) -> Citation:
    return Citation(index=index, doc_id=passage["doc_id"], chunk_id=passage["chunk_id"],
                    title=passage["title"], source=passage["source"],
                    section=passage.get("section", ""), quote=quote)


def compose_extractive(question: str, passages: list[dict[str, Any]], embedder: Embedder,
                       multilingual: Embedder | None = None) -> list[Citation]:
    """Quote the sentences that answer `question` best, grouped by passage into citations.

    A sentence's score is its cosine similarity to the question plus a bonus for the share
    of the question's content words it or its section heading contains (and for figures
    when the question asks for an amount, a duration or a date); questions and sentences
    about the article are penalised. The best sentence always goes in; others join when
    they score close to it, or when they cover words of the question that the chosen ones
    do not (the other half of a two-part question), up to MAX_QUOTE_CHARS. A question
    that asks several things ("how long does it take, and what does it cost?") first
    gets the best sentence for each of them (`question_parts`); one that asks for an
    email address, an amount or another typed answer gets a sentence holding one when
    a passage has it (`answer_types`). A lead-in
    ("Example: ...", "... when:") brings the sentence that follows it, and the best
    sentence brings its neighbours.

    `multilingual`, when given, scores the sentences of passages not in English in
    place of `embedder` (an English-only model such as the bundled MiniLM). Chosen on
    rag_calibration.jsonl: French string presence 0.562 -> 0.688 with it alone, 0.625
    with the two cosines mixed 0.3 / 0.7; for English sentences it was worse (0.818 ->
    0.773), so they keep `embedder`.
    """
    candidates: list[tuple[int, int, str]] = []
    for rank, passage in enumerate(passages):
        candidates += [(rank, i, s) for i, s in enumerate(_sentences(passage["text"]))]
    if not candidates:
        return []
    vectors = embedder.embed_queries([s for _, _, s in candidates])
    other = [j for j, (rank, _, _) in enumerate(candidates)
             if (passages[rank].get("language") or "en") != "en"] \
        if multilingual is not None else []
    other_vectors = multilingual.embed_queries([candidates[j][2] for j in other]) \
        if multilingual is not None and other else None
    # A sentence is read under its section heading ("Supprimer votre compte"): the
    # heading's words count as covered, as a reader of the article would take them.
    heading_terms = [set(tokenize(p.get("section", ""), p.get("language") or "en"))
                     for p in passages]

    def score(text: str, rank_penalty: float = RANK_PENALTY
              ) -> tuple[list[float], list[set[tuple[str, str]]]]:
        """Each candidate's score for the question `text`, and the question words it
        covers."""
        cosine = vectors @ embedder.embed_query(text)
        if other_vectors is not None and multilingual is not None:
            cosine[other] = other_vectors @ multilingual.embed_query(text)
        asks_amount = bool(_ASKS_AMOUNT.search(text))
        types = answer_types(text)
        question_terms: dict[str, set[str]] = {}
        scores: list[float] = []
        covers: list[set[tuple[str, str]]] = []
        for (rank, _, sentence), cos in zip(candidates, cosine, strict=True):
            language = passages[rank].get("language") or "en"
            terms = question_terms.setdefault(language, set(tokenize(text, language)))
            covered = terms & (set(tokenize(sentence, language)) | heading_terms[rank])
            coverage = len(covered) / len(terms) if terms else 0.0
            stripped = sentence.rstrip()
            penalty = 0.15 if stripped.endswith("?") else 0.0
            penalty += 0.05 if stripped.endswith(":") else 0.0
            penalty += META_PENALTY if _META.search(sentence) else 0.0
            penalty += 0.05 if len(sentence) < 40 else 0.0
            figures = any(ch.isdigit() for ch in sentence)
            specific = (0.08 if asks_amount else 0.03) if figures else 0.0
            specific += ANSWER_TYPE_BONUS * sum(1 for t in types if t.search(sentence))
            scored_well = language == "en" or multilingual is not None
            weight = COVERAGE_WEIGHT if scored_well else COVERAGE_WEIGHT_OTHER
            scores.append(float(cos) + weight * coverage + specific - penalty
                          - rank_penalty * rank)
            covers.append({(language, t) for t in covered})
        return scores, covers

    scores, covers = score(question)
    order = sorted(range(len(candidates)), key=lambda j: -scores[j])
    best = scores[order[0]]
    chosen = [order[0]]
    covered_so_far = set(covers[order[0]])
    used = len(candidates[order[0]][2])
    # A question that asks several things gets a sentence for each of them: the best
    # (part, sentence) pairs first, one sentence per part, never one for two parts. A
    # part's answer may sit in a passage ranked lower for the whole question, so its
    # sentences are not penalised for their passage's rank (calibration: multi-part
    # questions 0.800 -> 0.850 without the penalty).
    parts = question_parts(question)
    pairs = sorted(((part_score, p, j) for p, part in enumerate(parts)
                    for j, part_score in enumerate(score(part, 0.0)[0])), reverse=True)
    answered: dict[int, int] = {}
    for _, p, j in pairs:
        if p not in answered and j not in answered.values():
            answered[p] = j
    for j in answered.values():
        if j not in chosen and used + len(candidates[j][2]) <= MAX_QUOTE_CHARS:
            chosen.append(j)
            covered_so_far |= covers[j]
            used += len(candidates[j][2])
    for j in order[1:]:
        if len(chosen) >= 3:
            break
        if j in chosen:
            continue
        sentence = candidates[j][2]
        close = scores[j] >= best - CLOSE_MARGIN
        completes = bool(covers[j] - covered_so_far) and scores[j] >= best - COMPLETE_MARGIN
        if (close or completes) and used + len(sentence) <= MAX_QUOTE_CHARS:
            chosen.append(j)
            covered_so_far |= covers[j]
            used += len(sentence)
    # A question asking for an email address, a phone number, a day, an amount or a
    # duration gets one when a quoted passage holds one, even if the sentences that match
    # its words best do not ("the email address used for the order;" above "Write to
    # support@...").
    for answer in answer_types(question):
        if any(answer.search(candidates[j][2]) for j in chosen):
            continue
        typed = next((j for j in order if answer.search(candidates[j][2])), None)
        if typed is not None and scores[typed] >= best - TYPED_SENTENCE_MARGIN and \
                used + len(candidates[typed][2]) <= MAX_QUOTE_CHARS:
            chosen.append(typed)
            used += len(candidates[typed][2])
    position = {(rank, i): j for j, (rank, i, _) in enumerate(candidates)}
    for j in list(chosen):
        rank, i, sentence = candidates[j]
        follow = position.get((rank, i + 1))
        if _needs_follow_up(sentence) and follow is not None and follow not in chosen:
            chosen.append(follow)
    # The best sentence's neighbours come with it: the figure or condition that answers
    # the question often sits next to the sentence that matches its words best.
    rank, i, _ = candidates[order[0]]
    for k in (position.get((rank, i - 1)), position.get((rank, i + 1))):
        if k is not None and k not in chosen and \
                used + len(candidates[k][2]) <= MAX_QUOTE_CHARS + CONTEXT_CHARS:
            chosen.append(k)
            used += len(candidates[k][2])
    chosen.sort(key=lambda j: (candidates[j][0], candidates[j][1]))
    citations: list[Citation] = []
    for rank in dict.fromkeys(candidates[j][0] for j in chosen):
        quote = _join([candidates[j][2] for j in chosen if candidates[j][0] == rank])
        citations.append(_citation(len(citations) + 1, passages[rank], quote))
    return citations


def offline_answer(question: str, passages: list[dict[str, Any]], language: str,
                   min_confidence: float, embedder: Embedder,
                   multilingual: Embedder | None = None) -> tuple[str, list[Citation]]:
    """The quoted answer from the passages close to the best, and its citations.

    The rest of the first quoted passage's article is quoted from too, where it passes
    `min_confidence`: its chunks the search found below the quoted passages (otherwise
    only those close to the best, and one holding an asked-for answer type, are read),
    then those retrieval read from the article (`from_article`). Calibration: 0.867 ->
    0.878 (a gift card question whose "No, gift cards are not refundable" chunk was
    found fourth).
    """
    every = passages
    passages = retrieved_passages(passages)
    chosen = confident_passages(passages, min_confidence)
    types = answer_types(question)
    if chosen and types:
        # A passage holding the kind of answer asked for ("up to what amount ...?") is
        # read even when its confidence is further below the best.
        typed = [p for p in passages if p.get("confidence", 0.0) >= min_confidence
                 and p not in chosen and any(t.search(p["text"]) for t in types)]
        chosen += typed[:TYPED_PASSAGES]
    if not chosen:
        return prompts.text("dont_know", language), []
    have = {p["chunk_id"] for p in chosen}
    # The rest of the first quoted passage's article: its chunks that retrieval found
    # below the quoted ones, then those it read from the article.
    rest = [p for p in every if p["doc_id"] == chosen[0]["doc_id"]
            and p["chunk_id"] not in have and p.get("confidence", 0.0) >= min_confidence]
    chosen += sorted(rest, key=lambda p: bool(p.get("from_article")))
    citations = compose_extractive(question, chosen, embedder, multilingual)
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
    history: Sequence[BaseMessage] = state.get("messages", [])[-(2 * ctx.history_turns):]
    assert ctx.chat_model is not None
    if ctx.mask_pii_for_llm:
        history = masked_messages(history)
    result = call_model(ctx.chat_model, [system, *history], what="chat model (answer)")
    reply = result.text if isinstance(result.text, str) else str(result.content)
    cited = sorted({int(n) for n in _CITE.findall(reply) if 1 <= int(n) <= len(passages)})
    citations = [_citation(n, passages[n - 1], passages[n - 1]["text"][:300]) for n in cited]
    return reply.strip(), citations


def _intent_title(ctx: AgentContext, name: str, language: str) -> str:
    spec = next((s for s in ctx.bot.intents if s.name == name), None)
    return spec.title(language) if spec else name.replace("_", " ")


def _answer(ctx: AgentContext, state: TurnState,
            language: str) -> tuple[str, list[Citation], str]:
    """The reply from the retrieved passages, and which responder wrote it: the chat
    model's when one is configured and answers, else the offline responder's (which says
    it does not know when no passage is confident)."""
    passages = state.get("passages", [])
    # A chat model reads every passage above the answer threshold, not only those
    # close to the best: it can tell which one answers, and the fact is more often
    # there (0.893 -> 0.940 of the demo eval's reference facts, 0.853 -> 0.912 on
    # the calibration questions). The offline responder keeps to the closest ones.
    # The chunks read from the best article are for the offline responder: with them a
    # chat model would hold 0.974 of the calibration questions' reference facts instead
    # of 0.962 (the eval's unchanged at 0.889), for a fifth more passages to read.
    confident = confident_passages(retrieved_passages(passages), ctx.min_confidence,
                                   limit=ctx.top_k, margin=1.0)
    if ctx.chat_model is not None and confident:
        try:
            reply, citations = llm_answer(ctx, state, confident, language)
            if reply:
                return reply, citations, "llm"
        except ModelUnavailable as exc:
            log.warning("chat model unavailable (%s); answering offline", exc.reason)
        except Exception:
            log.exception("chat model failed; answering from the offline responder")
    reply, citations = offline_answer(search_query(state), passages, language,
                                      ctx.min_confidence, ctx.retriever.embedder,
                                      ctx.sentence_multilingual)
    return reply, citations, "offline"


def _order_status(ctx: AgentContext, state: TurnState, language: str
                  ) -> tuple[str, dict[str, Any]] | None:
    """The status of the conversation's order, for an intent that `shows_order` ("my
    parcel still hasn't arrived"), when the customer may see it; None otherwise."""
    intent = state.get("intent", {})
    spec = next((s for s in ctx.bot.intents if s.name == intent.get("label")), None)
    number = intent.get("slots", {}).get("order_number")
    if spec is None or not spec.shows_order or not number or ctx.actions is None:
        return None
    identity = identity_of(state)
    if not identity.verified and number.upper() not in identity.verified_orders:
        return None
    found = ctx.actions.get_order_status(number, identity, str(state.get("conversation_id")
                                                               or ""))
    if not found.get("found"):
        return None
    record = {"tool": "get_order_status", "status": "executed", "code": "ok",
              "args": {"order_number": number}, "result": found}
    return status_reply(localised(found, ctx.bot.product_names, language), language), record


def _order_label(order: dict[str, Any]) -> str:
    """"CL-100118 · Kettle charcoal barbecue 57 cm +1": a button, not the whole order."""
    items = list(order.get("items") or [])
    first = items[0] if items else ""
    if len(first) > 28:
        first = first[:27].rsplit(" ", 1)[0] + "…"
    more = f" +{len(items) - 1}" if len(items) > 1 else ""
    return f"{order['order_number']} · {first}{more}" if first else str(order["order_number"])


def _ask_for_slot(state: TurnState, language: str, names: Mapping[str, Mapping[str, str]]
                  ) -> str:
    """The question for the first missing slot: the signed-in customer's recent orders to
    choose from when it is the order; "I didn't catch that" first when the last answer
    could not be used."""
    intent = state.get("intent", {})
    slot = intent["missing_slots"][0]
    if intent.get("route") == "answer":
        # The offer to a guest whose parcel hasn't come (agents/intent.py: _offer_status).
        order = intent.get("slots", {}).get("order_number", "")
        return prompts.text(f"check_{slot}", language, order=order)
    orders = (state.get("pending") or {}).get("orders") or []
    offered = localised(orders, names, language)
    question = which_order(offered, language) if slot == "order_number" and offered \
        else prompts.ask_for_slot(slot, language)
    named = product_named(last_customer_text(state), names) if offered else None
    if named and not any(named in order.get("items", []) for order in orders):
        # "Refund the candle": none of the orders shown holds it; say so before asking.
        return f"{item_not_in_order(None, localised(named, names, language), language)} " \
               f"{question}"
    if intent.get("source") == "pending_retry":
        return f"{prompts.text('not_understood', language)} {question}"
    return question


_SMALLTALK = frozenset({"greeting", "thanks", "goodbye", "anything_else", "go_on"})


def respond(state: TurnState, runtime: Runtime[AgentContext]) -> dict:
    ctx = runtime.context
    language = state.get("language") or ctx.bot.default_language
    intent = state.get("intent", {})
    route, label = intent.get("route", "answer"), intent.get("label", "question")
    values = {"company": ctx.bot.company, "bot_name": ctx.bot.name}
    citations: list[Citation] = []
    action_record: dict[str, Any] | None = None
    responder = "offline"
    handoff = False
    asked: str | None = None
    quick: list[dict[str, str]] = []
    action = state.get("action")
    if action and action.get("status"):
        reply = outcome_reply(localised(action, ctx.bot.product_names, language), language)
        handoff = action.get("status") == "failed"
    elif route == "handoff":
        reply, handoff = prompts.text("handoff", language, **values), True
        if state.get("passages"):
            # A question that comes with a handoff ("what email address can I write
            # to?") is answered from the help centre when a passage is confident; the
            # conversation is handed over all the same.
            answer, found, by = _answer(ctx, state, language)
            if found:
                reply = f"{answer}\n\n{prompts.text('handoff_after_answer', language)}"
                citations, responder = found, by
        ticket = open_handoff_ticket(ctx, state, ctx.record_text(last_customer_text(state)))
        if ticket:
            action_record = {"tool": "handoff_to_human", "status": "executed",
                             "code": "handoff", "result": ticket}
    elif route == "clarify":
        options = (state.get("pending") or {}).get("options", [])
        titles = [_intent_title(ctx, name, language) for name in options[:2]]
        reply = prompts.text("clarify", language, first=titles[0], second=titles[1])
        quick = [{"label": title[:1].upper() + title[1:], "text": title} for title in titles]
    elif intent.get("missing_slots") and not state.get("passages") and route != "answer":
        reply = _ask_for_slot(state, language, ctx.bot.product_names)
    elif route == "smalltalk":
        key = label if label in _SMALLTALK else "greeting"
        reply = prompts.text(key, language, **values)
        asked = "anything_else" if key in {"thanks", "anything_else"} else None
    else:
        reply, citations, responder = _answer(ctx, state, language)
        if not citations and route == "out_of_scope":
            reply = prompts.text("out_of_scope", language, **values)
        missing = intent.get("missing_slots")
        if missing:
            follow = _ask_for_slot(state, language, ctx.bot.product_names)
            if citations:
                reply = f"{reply}\n\n{follow}"
            elif route == "answer":
                # The offer to check a guest's order, after saying the help centre has
                # nothing on it.
                reply = f"{prompts.text('no_answer', language)} {follow}"
            else:
                reply = follow
        handoff = not citations and not missing
        if shown := _order_status(ctx, state, language):
            status, action_record = shown
            reply = f"{status}\n\n{reply if citations else prompts.text('offer_human', language)}"
        asked = "handoff" if handoff else None
    if asked == "handoff":
        quick = [{"label": prompts.text(key, language), "text": prompts.text(key, language)}
                 for key in ("offer_yes", "offer_no")]
    elif intent.get("missing_slots", [])[:1] == ["order_number"] and not quick:
        quick = [{"label": _order_label(o), "text": o["order_number"]}
                 for o in localised((state.get("pending") or {}).get("orders") or [],
                                    ctx.bot.product_names, language)]
    update: dict[str, Any] = {
        "reply": reply, "citations": citations, "answered": bool(citations),
        "handoff_offered": handoff, "asked": asked, "quick_replies": quick,
        "responder": responder,
        "messages": [AIMessage(reply, additional_kwargs={"citations": citations})]}
    if action_record is not None:
        update["action"] = action_record
    return update
