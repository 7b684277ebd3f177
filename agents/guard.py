"""guard_in: size limits and prompt-injection / jailbreak attempts, before anything else runs.

It stops a turn with a typed result rather than scattering checks through the
nodes. Injection detection (agents/injection.py) is high-precision patterns plus
an embedding + TF-IDF classifier trained on a labelled set; without a detector in
the context (or with the classifier switched off) the patterns still run.
"""

from __future__ import annotations

import re

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime

from agents import prompts
from agents.configuration import AgentContext
from agents.injection import InjectionDetector, match_pattern
from agents.state import GuardResult, TurnState
from knowledge.language import detect_language

_SLOT_VALUES = re.compile(r"\S+@\S+|\b[A-Z]{1,3}-?\d{3,}\b|\d+", re.IGNORECASE)


def last_customer_text(state: TurnState) -> str:
    for message in reversed(state.get("messages", [])):
        if message.type == "human":
            return message.text if isinstance(message.text, str) else str(message.content)
    return ""


def check_message(text: str, max_chars: int,
                  detector: InjectionDetector | None = None) -> GuardResult:
    """The typed verdict of the input guard for one customer message: limits, then the
    injection detector (patterns only when there is none)."""
    if not text.strip():
        return {"allowed": False, "code": "empty", "reason": "empty message"}
    if len(text) > max_chars:
        return {"allowed": False, "code": "too_long", "reason": f"{len(text)} > {max_chars}"}
    if detector is None:
        name = match_pattern(text)
        if name is not None:
            return {"allowed": False, "code": "prompt_injection", "reason": f"pattern {name}",
                    "score": 1.0}
        return {"allowed": True, "code": "ok", "reason": ""}
    verdict = detector.check(text)
    if verdict.is_attack:
        return {"allowed": False, "code": "prompt_injection", "reason": verdict.reason,
                "score": round(verdict.score, 4)}
    return {"allowed": True, "code": "ok", "reason": "", "score": round(verdict.score, 4)}


def guard_in(state: TurnState, runtime: Runtime[AgentContext]) -> dict:
    ctx = runtime.context
    text = last_customer_text(state)
    previous = state.get("language") or ctx.bot.default_language
    words = _SLOT_VALUES.sub(" ", text[:500])
    language = previous if len(re.findall(r"[^\W\d_]{2,}", words)) < 3 and state.get(
        "language") else detect_language(words, ctx.bot.languages, default=previous)
    verdict = check_message(text, ctx.max_message_chars, ctx.injection_detector)
    update: dict = {"guard": verdict, "language": language, "passages": [], "citations": [],
                    "reply": "", "answered": False, "handoff_offered": False, "action": None}
    if not verdict["allowed"]:
        key = {"empty": "empty", "too_long": "too_long"}.get(verdict["code"], "blocked")
        reply = prompts.text(key, language, company=ctx.bot.company, length=len(text),
                             limit=ctx.max_message_chars)
        update |= {"reply": reply, "responder": "guard", "messages": [AIMessage(reply)]}
    return update


def route_after_guard(state: TurnState) -> str:
    return "intent" if state.get("guard", {}).get("allowed") else "end"
