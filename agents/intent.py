"""intent: a first, pattern-based intent detector (greetings, thanks, human, question).

It only separates what needs no retrieval from what does; the dedicated
intent agent (embedding classifier, slots, out-of-scope) replaces it.
"""

from __future__ import annotations

import re

from langgraph.runtime import Runtime

from agents.configuration import AgentContext
from agents.guard import last_customer_text
from agents.state import IntentResult, TurnState

_PATTERNS: list[tuple[str, str, re.Pattern[str]]] = [
    ("talk_to_human", "handoff", re.compile(
        r"\b(human|real person|agent|representative|someone real|humain|conseiller|"
        r"une personne|quelqu'un)\b", re.IGNORECASE)),
    ("greeting", "smalltalk", re.compile(
        r"^\W*(hi|hello|hey|good (morning|afternoon|evening)|bonjour|salut|bonsoir|coucou)"
        r"\W*$", re.IGNORECASE)),
    ("thanks", "smalltalk", re.compile(
        r"^\W*(thanks?( you)?( (so|very) much)?|thx|cheers|merci( beaucoup| bien)?|"
        r"great,? thanks?|parfait,? merci)\W*$", re.IGNORECASE)),
    ("goodbye", "smalltalk", re.compile(
        r"^\W*(bye|goodbye|see you|au revoir|bonne journée|à bientôt)\W*$", re.IGNORECASE)),
]


def classify(text: str) -> IntentResult:
    for label, route, pattern in _PATTERNS:
        if pattern.search(text):
            return {"label": label, "route": route, "confidence": 1.0, "alternatives": [],
                    "slots": {}}
    return {"label": "question", "route": "answer", "confidence": 0.5, "alternatives": [],
            "slots": {}}


def intent(state: TurnState, runtime: Runtime[AgentContext]) -> dict:
    return {"intent": classify(last_customer_text(state))}


def route_after_intent(state: TurnState) -> str:
    route = state.get("intent", {}).get("route", "answer")
    return "retrieve" if route == "answer" else "respond"
