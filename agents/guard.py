"""guard_in: size limits and obvious prompt-injection attempts, before anything else runs.

A first, pattern-based version; it stops a turn with a typed result rather
than scattering checks through the nodes.
"""

from __future__ import annotations

import re

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime

from agents import prompts
from agents.configuration import AgentContext
from agents.state import GuardResult, TurnState
from knowledge.language import detect_language

_INJECTION = [re.compile(p, re.IGNORECASE) for p in (
    r"\b(ignore|disregard|forget)\b.{0,40}\b(previous|prior|above|all|your)\b.{0,30}"
    r"\b(instructions?|rules|prompts?|directives?)",
    r"\b(reveal|show|print|repeat|output)\b.{0,40}\b(system|hidden|initial)\s+(prompt|instructions?)",
    r"\byou are now\b.{0,40}\b(dan|developer mode|jailbroken|unrestricted)",
    r"\b(ignore[sz]?|oublie[sz]?)\b.{0,40}\b(instructions?|consignes?|règles)\b.{0,30}"
    r"\b(précédentes?|ci-dessus|antérieures?)",
)]


_SLOT_VALUES = re.compile(r"\S+@\S+|\b[A-Z]{1,3}-?\d{3,}\b|\d+", re.IGNORECASE)


def last_customer_text(state: TurnState) -> str:
    for message in reversed(state.get("messages", [])):
        if message.type == "human":
            return message.text if isinstance(message.text, str) else str(message.content)
    return ""


def check_message(text: str, max_chars: int) -> GuardResult:
    """The typed verdict of the input guard for one customer message."""
    if not text.strip():
        return {"allowed": False, "code": "empty", "reason": "empty message"}
    if len(text) > max_chars:
        return {"allowed": False, "code": "too_long", "reason": f"{len(text)} > {max_chars}"}
    for pattern in _INJECTION:
        if pattern.search(text):
            return {"allowed": False, "code": "prompt_injection",
                    "reason": f"matched {pattern.pattern[:40]}"}
    return {"allowed": True, "code": "ok", "reason": ""}


def guard_in(state: TurnState, runtime: Runtime[AgentContext]) -> dict:
    ctx = runtime.context
    text = last_customer_text(state)
    previous = state.get("language") or ctx.bot.default_language
    words = _SLOT_VALUES.sub(" ", text[:500])
    language = previous if len(re.findall(r"[^\W\d_]{2,}", words)) < 3 and state.get(
        "language") else detect_language(words, ctx.bot.languages, default=previous)
    verdict = check_message(text, ctx.max_message_chars)
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
