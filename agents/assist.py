"""Agent assist: suggestions for a human agent on a live conversation or a pasted transcript.

Up to three suggested replies with citations, a two-sentence summary, the detected
intent and a proposed action with its policy check. Nothing is sent and nothing is
executed: the action is only previewed (`ActionService.preview`), and the human
decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from agents import prompts
from agents.act import args_from_slots
from agents.action_texts import REFUSALS
from agents.configuration import AgentContext
from agents.intent import (
    OUT_OF_SCOPE,
    answers_yes_or_no,
    classify,
    classify_by_patterns,
    missing_slots,
)
from agents.respond import compose_extractive
from agents.retrieve import confident_passages, is_follow_up, search_preferring_language
from agents.slots import extract_slots, match_item
from knowledge.language import detect_language
from tools.actions import ActionRequest, Identity


@dataclass
class Suggestion:
    text: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    kind: str = "answer"


@dataclass
class AssistResult:
    suggestions: list[Suggestion]
    summary: str
    intent: dict[str, Any]
    proposed_action: dict[str, Any] | None
    language: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "suggestions": [{"text": s.text, "citations": s.citations, "kind": s.kind}
                            for s in self.suggestions],
            "summary": self.summary, "intent": self.intent,
            "proposed_action": self.proposed_action, "language": self.language,
        }


def _summary(messages: list[dict[str, str]], intent: dict[str, Any], slots: dict[str, Any],
             ctx: AgentContext) -> str:
    customer = [m["text"] for m in messages if m["role"] == "customer"]
    spec = next((s for s in ctx.bot.intents if s.name == intent.get("label")), None)
    topic = spec.title("en") if spec else str(intent.get("label", "a question")).replace("_", " ")
    details = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in slots.items()
                        if k in {"order_number", "item", "amount", "email"})
    first = (f"The customer wants to {topic}" + (f" ({details})" if details else "")
             + f" after {len(customer)} message{'s' if len(customer) != 1 else ''}.")
    last = customer[-1] if customer else ""
    last = last if len(last) <= 160 else last[:157] + "..."
    return f"{first} Their latest message: \"{last}\""


def _proposed_action(ctx: AgentContext, intent: dict[str, Any], slots: dict[str, Any],
                     customer_id: str | None, conversation_id: str, proven: set[str]
                     ) -> dict[str, Any] | None:
    route = str(intent.get("route", ""))
    if not route.startswith("action:") or ctx.actions is None:
        return None
    tool = route.removeprefix("action:")
    args = args_from_slots(ctx, tool, slots, "") or {
        k: v for k, v in slots.items() if k == "order_number"}
    identity = Identity(customer_id=customer_id, verified=customer_id is not None,
                        verified_orders=frozenset(proven))
    preview = ctx.actions.preview(ActionRequest(tool=tool, args=args, identity=identity,
                                                conversation_id=conversation_id,
                                                source="agent_assist"))
    decision = preview.decision
    return {"tool": tool, "args": {k: str(v) for k, v in preview.args.items()},
            "summary": {k: v for k, v in preview.summary.items()},
            "allowed": decision.allowed, "code": decision.code, "reason": decision.reason,
            "needs_approval": decision.needs_approval, "executed": False}


def _open_question(customer_texts: list[str], languages: list[str]) -> str:
    """What the customer is waiting on: the last message that says something ("yes
    please" to the offer of a human, "thanks" or "hello" do not), with the one before it
    when it is a follow-up ("and on Sunday?")."""
    said = [t for t in customer_texts
            if classify_by_patterns(t)["label"] == "question" and not answers_yes_or_no(t)]
    if not said:
        return customer_texts[-1] if customer_texts else ""
    language = detect_language(said[-1], languages)
    if len(said) > 1 and is_follow_up(said[-1], language):
        return f"{said[-2]} {said[-1]}"
    return said[-1]


def suggest(ctx: AgentContext, messages: list[dict[str, str]], *,
            customer_id: str | None = None, conversation_id: str = "assist",
            today: date | None = None, verified_orders: Sequence[str] = ()) -> AssistResult:
    """Suggestions for the human agent; `messages` are {"role": customer|assistant|agent,
    "text"} oldest first. `verified_orders`: those a guest proved by email in the
    conversation, so the proposed action is checked as the bot would check it."""
    customer_texts = [m["text"] for m in messages if m["role"] == "customer"]
    question = _open_question(customer_texts, ctx.bot.languages)
    language = detect_language(question or " ", ctx.bot.languages, ctx.bot.default_language)
    slots: dict[str, Any] = {}
    for text in customer_texts:
        slots |= extract_slots(text, ctx.slot_config, today=today or ctx.today())
    proven = {n.upper() for n in verified_orders}
    aliases = ctx.order_items(customer_id, [slots["order_number"]] if "order_number" in slots
                              else [])
    for text in customer_texts:
        if item := match_item(text, list(aliases)):
            slots["item"] = aliases.get(item, item)
    intent: dict[str, Any] = dict(classify(ctx, question)) if question else {
        "label": "none", "route": ""}
    intent["slots"] = slots
    suggestions: list[Suggestion] = []
    if intent.get("route") in {"answer", OUT_OF_SCOPE} or str(intent.get("route", "")) \
            .startswith("action:"):
        passages, _ = search_preferring_language(ctx, question, language)
        seen_docs: set[str] = set()
        for passage in confident_passages(passages, ctx.min_confidence, limit=ctx.top_k):
            if passage["doc_id"] in seen_docs or len(suggestions) == 2:
                continue
            seen_docs.add(passage["doc_id"])
            citations = compose_extractive(question, [passage], ctx.retriever.embedder,
                                           ctx.sentence_multilingual)
            if citations:
                text = " ".join(f"{c['quote']} [{c['index']}]" for c in citations)
                suggestions.append(Suggestion(text, [dict(c) for c in citations]))
    action = _proposed_action(ctx, intent, slots, customer_id, conversation_id, proven)
    if action is not None and not action["allowed"] and action["code"] in REFUSALS:
        entry = REFUSALS[action["code"]]
        suggestions.insert(0, Suggestion(entry.get(language, entry["en"]).format(
            window=30, cap=""), kind="policy"))
    missing = missing_slots(ctx, str(intent.get("label", "")), str(intent.get("route", "")),
                            slots)
    if missing and len(suggestions) < 3:
        suggestions.append(Suggestion(prompts.ask_for_slot(missing[0], language), kind="ask"))
    if not suggestions:
        suggestions.append(Suggestion(prompts.text("handoff", language), kind="template"))
    return AssistResult(suggestions=suggestions[:3], summary=_summary(messages, intent, slots,
                                                                     ctx),
                        intent=intent, proposed_action=action, language=language)
