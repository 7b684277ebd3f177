"""guard_in: size limits, prompt-injection / jailbreak attempts and abuse, before anything
else runs.

It stops a turn with a typed result rather than scattering checks through the
nodes. Injection detection (agents/injection.py) is high-precision patterns plus
an embedding + TF-IDF classifier trained on a labelled set; without a detector in
the context (or with the classifier switched off) the patterns still run. Abuse
(agents/abuse.py) comes after the injection patterns: an attack that also insults is
still reported as `prompt_injection`.

Abuse policy, as support teams run it: the first abusive turn of a conversation gets
a calm reply that sets a boundary and invites the customer to go on; the second
(ABUSE_HANDOFF_AFTER), or any threat of violence, hands the conversation to a human
through a handoff ticket, the same one a "talk to a human" request opens. The
abusive message never reaches the intent agent or a tool. Swearing about the
situation is not abuse: the turn goes on, with `tone: frustrated` in the verdict.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime

from agents import prompts
from agents.abuse import detect_abuse
from agents.configuration import AgentContext
from agents.injection import InjectionDetector, match_pattern
from agents.slots import extract_address
from agents.state import AbuseTally, GuardResult, TurnState
from knowledge.language import detect_language

log = logging.getLogger(__name__)

_SLOT_VALUES = re.compile(r"\S+@\S+|\b[A-Z]{1,3}-?\d{3,}\b|\d+", re.IGNORECASE)

ABUSE_HANDOFF_AFTER = 2
"""The abusive turn of a conversation that hands it to a human (a threat does at once)."""


def last_customer_text(state: TurnState) -> str:
    for message in reversed(state.get("messages", [])):
        if message.type == "human":
            return message.text if isinstance(message.text, str) else str(message.content)
    return ""


def check_message(text: str, max_chars: int,
                  detector: InjectionDetector | None = None) -> GuardResult:
    """The typed verdict of the input guard for one customer message: limits, injection
    patterns, then the injection classifier (when there is a detector) and abuse.

    A pattern match is always `prompt_injection`. The classifier, trained on attacks, also
    scores some plain insults high ("your staff are a bunch of clowns"); when the
    high-precision abuse rules recognise one, the verdict is `abuse` (with the classifier's
    score kept), so the conversation gets the abuse policy. Both stop the turn."""
    if not text.strip():
        return {"allowed": False, "code": "empty", "reason": "empty message"}
    if len(text) > max_chars:
        return {"allowed": False, "code": "too_long", "reason": f"{len(text)} > {max_chars}"}
    # The patterns run once: inside the detector when there is one, else on their own.
    attack = detector.check(text) if detector is not None else None
    name = attack.pattern if attack is not None else match_pattern(text)
    if name is not None:
        return {"allowed": False, "code": "prompt_injection", "reason": f"pattern {name}",
                "score": 1.0}
    abuse = detect_abuse(text)
    if attack is not None and attack.is_attack and not abuse.abusive:
        return {"allowed": False, "code": "prompt_injection", "reason": attack.reason,
                "score": round(attack.score, 4)}
    result: GuardResult = (
        {"allowed": False, "code": "abuse", "kind": str(abuse.kind), "reason": f"rule {abuse.rule}"}
        if abuse.abusive else
        {"allowed": True, "code": "ok", "reason": "",
         "tone": "frustrated" if abuse.frustrated else "neutral"})
    if attack is not None:
        result["score"] = round(attack.score, 4)
    return result


def open_handoff_ticket(ctx: AgentContext, state: TurnState, reason: str
                        ) -> dict[str, str] | None:
    """A handoff ticket, so the conversation shows up for human agents; None when there is
    no action service (or it failed: the reply then offers a human instead)."""
    conversation_id = str(state.get("conversation_id") or "")
    if ctx.actions is None or not conversation_id:
        return None
    try:
        ticket = ctx.actions.handoff_to_human(conversation_id, reason[:500],
                                              customer_id=state.get("customer_id"))
    except Exception:
        log.exception("could not open a handoff ticket")
        return None
    return {k: str(v) for k, v in ticket.items()}


def abuse_outcome(ctx: AgentContext, state: TurnState, verdict: GuardResult, text: str
                  ) -> tuple[str, dict[str, Any]]:
    """The reply key and state update for an abusive turn: a boundary the first time, a
    human (once per conversation) on repeated abuse or a threat."""
    tally = state.get("abuse") or AbuseTally()
    turns = tally.get("turns", 0) + 1
    handed_off = bool(tally.get("handed_off"))
    kind = verdict.get("kind", "insult")
    update: dict[str, Any] = {"abuse": AbuseTally(turns=turns, handed_off=handed_off)}
    if kind != "threat" and turns < ABUSE_HANDOFF_AFTER:
        return "abuse_boundary", update
    update["handoff_offered"] = True
    if handed_off:
        return "abuse_handed_off", update
    ticket = open_handoff_ticket(
        ctx, state, f"Abusive messages ({kind}, abusive turn {turns}): the assistant stopped "
                    f"answering. Last message: {ctx.record_text(text)}")
    if ticket is None:
        return "abuse_handoff_offer", update
    update["abuse"] = AbuseTally(turns=turns, handed_off=True)
    update["action"] = {"tool": "handoff_to_human", "status": "executed", "code": "handoff",
                        "result": ticket}
    return "abuse_handoff", update


def guard_in(state: TurnState, runtime: Runtime[AgentContext]) -> dict:
    ctx = runtime.context
    text = last_customer_text(state)
    previous = state.get("language") or ctx.bot.default_language
    # Slot values carry no language: an order number, an email, and a street address,
    # which is in the language of its country ("12 rue de la Paix, 75002 Paris").
    words = text[:500]
    if address := extract_address(words):
        words = words.replace(address, " ")
    words = _SLOT_VALUES.sub(" ", words)
    # A conversation keeps its language through short messages; its first message, however
    # short ("merci", "svp"), is better read by the identifier's best guess than the default.
    known = bool(state.get("language"))
    language = previous if known and len(re.findall(r"[^\W\d_]{2,}", words)) < 3 else \
        detect_language(words, ctx.bot.languages, default=previous,
                        min_confidence=0.6 if known else 0.51)
    verdict = check_message(text, ctx.max_message_chars, ctx.injection_detector)
    update: dict = {"guard": verdict, "language": language, "passages": [], "search_query": "",
                    "citations": [], "reply": "", "answered": False, "handoff_offered": False,
                    "quick_replies": [],
                    "action": None}
    if verdict["allowed"]:
        return update
    key = {"empty": "empty", "too_long": "too_long"}.get(verdict["code"], "blocked")
    if verdict["code"] == "abuse":
        key, outcome = abuse_outcome(ctx, state, verdict, text)
        update |= outcome
    reply = prompts.text(key, language, company=ctx.bot.company, length=len(text),
                         limit=ctx.max_message_chars)
    asked = "handoff" if key == "abuse_handoff_offer" else None
    return update | {"reply": reply, "responder": "guard", "asked": asked,
                     "messages": [AIMessage(reply)]}


def route_after_guard(state: TurnState) -> str:
    return "intent" if state.get("guard", {}).get("allowed") else "end"
