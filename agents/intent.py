"""intent: decide what a turn becomes — answer, action, handoff, small talk or out of scope.

The trained classifier (agents/intent_model.py) decides; when a chat model is
configured and the classifier is unsure, the model picks among the intent
descriptions (validated JSON), and with no model the classifier decides alone.
Two close intents make the bot ask one clarifying question; an action intent
missing a required slot asks for it, one slot at a time, remembering what the
customer already said. With no intents configured, a few patterns separate
greetings, thanks and requests for a human from questions.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from pydantic import BaseModel, ValidationError

from agents import prompts
from agents.configuration import AgentContext
from agents.guard import last_customer_text
from agents.orders import choice, pick_offered, pick_order
from agents.pii import mask_pii
from agents.resilience import ModelUnavailable, call_model
from agents.slots import extract_slots, match_item
from agents.state import IntentResult, PendingTask, TurnState

log = logging.getLogger(__name__)

OUT_OF_SCOPE = "out_of_scope"

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


_YES = re.compile(r"^\W*(yes|yep|yeah|y|ok|okay|sure|confirm|go ahead|please do|do it|"
                  r"oui|ouais|d'accord|ok[eé]|vas-y|allez-y|je confirme|confirmer?)\b",
                  re.IGNORECASE)
_NO = re.compile(r"^\W*(no|nope|n|cancel|stop|don't|do not|non|annule[rz]?|pas maintenant)\b",
                 re.IGNORECASE)
"""The answer to a confirmation ("Shall I go ahead?"): "cancel" and "stop" are a no."""


def is_yes(text: str) -> bool:
    return bool(_YES.search(text)) and not _NO.search(text)


def is_no(text: str) -> bool:
    return bool(_NO.search(text))


_POLITE = r"(?:\W+(?:please|thanks|thank you|merci|svp|s'il vous pla[iî]t|that's all|c'est tout|" \
    r"i'm good|ça ira|ca ira|do it|connect me|vas-y|allez-y|go ahead))*\W*$"
_SHORT_YES = re.compile(r"^\W*(?:yes|yep|yeah|yup|sure|ok|okay|please do|go ahead|oui|ouais|"
                        r"d'accord|ok[eé]|volontiers|bien s[uû]r|avec plaisir)" + _POLITE,
                        re.IGNORECASE)
_SHORT_NO = re.compile(r"^\W*(?:no|nope|nah|non|not now|no need|pas maintenant|pas besoin|"
                       r"nothing else|that's all|c'est tout|rien d'autre)" + _POLITE,
                       re.IGNORECASE)
"""A whole message that only says yes or no (and please / thanks): unlike `is_yes` /
`is_no`, which read the answer to a confirmation, "cancel my order" is not a no here."""
_OK_THANKS = re.compile(r"^\W*(?:ok|okay|ok[eé])\W+(?:thanks|thank you|merci)\W*$", re.IGNORECASE)
""""ok thanks" closes a topic more often than it accepts an offer: the classifier reads it."""


def answers_yes_or_no(text: str) -> bool:
    """The whole message is a yes or a no ("yes please", "non merci")."""
    return bool(_SHORT_YES.match(text) or _SHORT_NO.match(text))


def answer_to_last_reply(ctx: AgentContext, state: TurnState, text: str) -> IntentResult | None:
    """A short "yes" / "no" read against what the bot's last reply asked (`asked`):
    "Would you like me to connect you with a member of our team?" -> yes hands over;
    "Anything else I can help you with?" -> no says goodbye. Said to nothing in
    particular, it gets "anything else?" rather than a guess of the classifier (which
    had taken "oui" for a greeting and "yes please" for a goodbye). With a chat model
    and no known question, the model reads the history instead (None)."""
    yes, no = bool(_SHORT_YES.match(text)), bool(_SHORT_NO.match(text))
    if not (yes or no) or _OK_THANKS.match(text):
        return None
    asked = state.get("asked")
    if asked is None and ctx.chat_model is not None:
        return None
    if asked == "handoff" and yes:
        label, route = "talk_to_human", "handoff"
    elif asked == "anything_else" and no:
        label, route = "goodbye", "smalltalk"
    elif asked == "anything_else":
        label, route = "go_on", "smalltalk"
    else:
        label, route = "anything_else", "smalltalk"
    return {"label": label, "route": route, "confidence": 1.0, "alternatives": [],
            "source": f"answer_to:{asked or 'nothing'}"}


def classify_by_patterns(text: str) -> IntentResult:
    """The fallback when no intents are configured."""
    for label, route, pattern in _PATTERNS:
        if pattern.search(text):
            return {"label": label, "route": route, "confidence": 1.0, "alternatives": [],
                    "source": "patterns"}
    return {"label": "question", "route": "answer", "confidence": 0.5, "alternatives": [],
            "source": "patterns"}


class IntentChoice(BaseModel):
    """The chat model's pick, validated before it is trusted."""

    intent: str
    confidence: float = 0.8


def choose_with_llm(ctx: AgentContext, text: str) -> IntentChoice | None:
    """Ask the chat model to pick one configured intent (or out_of_scope); None if invalid."""
    names = {spec.name for spec in ctx.bot.intents}
    catalogue = "\n".join(f"- {s.name}: {s.description}" for s in ctx.bot.intents)
    system = SystemMessage(prompts.INTENT_SYSTEM.format(company=ctx.bot.company,
                                                        intents=catalogue))
    try:
        shown = mask_pii(text).text if ctx.mask_pii_for_llm else text
        raw = call_model(ctx.chat_model, [system, HumanMessage(shown)],
                         what="chat model (intent)")
        content = raw.text if isinstance(raw.text, str) else str(raw.content)
        match = re.search(r"\{.*\}", content, re.DOTALL)
        choice = IntentChoice.model_validate(json.loads(match.group(0) if match else content))
    except (ValidationError, ValueError, TypeError):
        log.warning("chat model returned an invalid intent choice; keeping the classifier's")
        return None
    except ModelUnavailable as exc:
        log.warning("chat model unavailable (%s); the classifier decides alone", exc.reason)
        return None
    except Exception:
        log.exception("chat model failed while choosing an intent")
        return None
    if choice.intent not in names | {OUT_OF_SCOPE}:
        log.warning("chat model chose unknown intent %r; ignored", choice.intent)
        return None
    return choice


def _route_of(ctx: AgentContext, label: str) -> str:
    if label == OUT_OF_SCOPE:
        return OUT_OF_SCOPE
    spec = next((s for s in ctx.bot.intents if s.name == label), None)
    return spec.route if spec else "answer"


_ASKS_FOR_HUMAN = re.compile(
    r"\b(?:speak|talk|chat) (?:to|with) (?:a |an |one of your |some |your )?"
    r"(?:human|real person|person|someone|somebody|agent|representative|rep|operator|"
    r"advisor|adviser|member of (?:your )?(?:staff|team)|customer (?:service|support) agent)\b|"
    r"\b(?:connect|transfer|put) me (?:to|through to|with) (?:a |an |someone|somebody)|"
    r"\b(?:a|an) (?:real|actual) (?:person|human)\b|"
    r"(?:\bnot|n't) (?:want to )?(?:talk|speak|chat) (?:to|with) (?:a |the )?(?:bot|robot)\b|"
    r"\bparler (?:à|a|avec) (?:un(?:e)? (?:humain|personne|conseill[eè]re?|agent|"
    r"opérat(?:eur|rice))|quelqu'un)\b|\b(?:une vraie personne|un vrai humain|un être humain)\b",
    re.IGNORECASE)
"""An explicit request for a person, whatever else the message says."""


def _human_intent(ctx: AgentContext) -> str | None:
    """The bot's intent for a request to talk to a person: `talk_to_human` if configured,
    else its first handoff intent."""
    handoffs = [s.name for s in ctx.bot.intents if s.route == "handoff"]
    return "talk_to_human" if "talk_to_human" in handoffs else \
        (handoffs[0] if handoffs else None)


def classify(ctx: AgentContext, text: str) -> IntentResult:
    """Classifier first; the LLM when it is unsure; patterns when nothing is configured."""
    if ctx.classifier is None or not ctx.bot.intents:
        return classify_by_patterns(text)
    # Personal data carries no intent: a preamble of email, phone, address and card
    # number drowned a short question ("How long do I have to return an item?" went out
    # of scope). The classifier reads placeholders instead; slots read the raw text.
    pred = ctx.classifier.predict(mask_pii(text).text)
    label = OUT_OF_SCOPE if pred.is_oos else pred.label
    result: IntentResult = {
        "label": label, "route": _route_of(ctx, label), "confidence": round(pred.confidence, 4),
        "alternatives": [{"label": name, "confidence": round(p, 4)}
                         for name, p in pred.alternatives],
        "source": "classifier",
    }
    human = _human_intent(ctx)
    if human is not None and result["route"] != "handoff" and _ASKS_FOR_HUMAN.search(text):
        # "I'd like to speak to someone about my order CL-100101" is a request for a
        # person first: the order number had made it an order status question.
        return result | {"label": human, "route": "handoff", "confidence": 1.0,
                         "source": "asks_for_human"}
    unsure = pred.is_oos or pred.confidence < ctx.llm_intent_below
    if ctx.chat_model is not None and unsure:
        choice = choose_with_llm(ctx, text)
        if choice is not None:
            result |= {"label": choice.intent, "route": _route_of(ctx, choice.intent),
                       "confidence": round(choice.confidence, 4), "source": "llm"}
    return result


def _ambiguous(ctx: AgentContext, result: IntentResult) -> list[str] | None:
    """The two intents to ask about, when the classifier cannot tell them apart and the
    choice matters: one of them acts on an order and the other does something else (two
    informational intents are both answered from the knowledge base anyway).

    Also when the message was judged out of scope only because no single intent was
    likely enough while two in-scope intents share most of the probability ("problem
    with my order"): asking beats "I can't help".
    """
    alts = result.get("alternatives", [])
    if result.get("source") != "classifier" or len(alts) < 2:
        return None
    first, second = alts[0], alts[1]
    oos = ctx.classifier.oos_label if ctx.classifier is not None else "oos"
    if oos in (first["label"], second["label"]):
        return None
    close = first["confidence"] - second["confidence"] < ctx.ambiguity_margin
    routes = {_route_of(ctx, first["label"]), _route_of(ctx, second["label"])}
    if not close or not any(r.startswith("action:") for r in routes) or len(routes) < 2:
        return None
    if result["label"] == OUT_OF_SCOPE:
        plausible = first["confidence"] + second["confidence"] >= 0.35
        return [first["label"], second["label"]] if plausible else None
    if first["confidence"] < ctx.ambiguity_max_confidence:
        return [first["label"], second["label"]]
    return None


def _resolve_choice(ctx: AgentContext, text: str, options: list[str]) -> str | None:
    """Which of the offered intents the customer's answer picks, if any."""
    lowered = text.strip().lower()
    ordinal = {0: r"\b(1|first|the first|premi[eè]re?|le premier|la premi[eè]re)\b",
               1: r"\b(2|second|the second|deuxi[eè]me|le second|la seconde)\b"}
    for index, pattern in ordinal.items():
        if re.search(pattern, lowered):
            return options[index]
    for option in options:
        spec = next((s for s in ctx.bot.intents if s.name == option), None)
        titles = [option.replace("_", " ")] + (list(spec.titles.values()) if spec else [])
        if any(t.lower() in lowered for t in titles):
            return option
    if ctx.classifier is not None:
        pred = ctx.classifier.predict(mask_pii(text).text)
        ranked = [name for name, _ in pred.alternatives if name in options]
        if ranked and not pred.is_oos:
            return ranked[0]
    return None


def _words_beyond_slots(text: str, slots: dict[str, Any]) -> int:
    """How much a message says besides the slot values it carries."""
    rest = text
    for value in slots.values():
        if isinstance(value, str):
            rest = re.sub(re.escape(value), " ", rest, flags=re.IGNORECASE)
    rest = re.sub(r"\S+@\S+|\b[A-Z]{2}-?\d+\b", " ", rest, flags=re.IGNORECASE)
    return len(re.findall(r"[^\W\d_]{3,}", rest))


_DROP = re.compile(r"^\W*(?:never ?mind|forget it|nothing|doesn't matter|no matter|"
                   r"laisse[zr]? tomber|oublie[zr]?(?: [çc]a)?|peu importe|rien|tant pis)\b",
                   re.IGNORECASE)


def _drops_the_question(text: str) -> bool:
    """"no", "never mind", "laissez tomber": the customer does not want to go on."""
    return bool(_SHORT_NO.match(text) or _DROP.match(text))


_WHOLE_ORDER = re.compile(
    r"\b(whole|entire|full|complete) order\b|\ball of (it|them)\b|\beverything\b|"
    r"\b(toute la|la) commande (enti[eè]re|compl[eè]te)\b|\btoute la commande\b|"
    r"^\W*tout\W*$|\btous les articles\b", re.IGNORECASE)
"""Asked which item of an order: the whole order."""


def _answers_the_question(text: str) -> bool:
    """A short reply that is not a question and none of the pattern intents (thanks,
    goodbye, a human): meant as the answer to the bot's question."""
    words = re.findall(r"[^\W\d_]+", text)
    if not words or len(words) > 5 or "?" in text:
        return False
    return classify_by_patterns(text)["label"] == "question"


def missing_slots(ctx: AgentContext, label: str, route: str, slots: dict[str, Any]
                  ) -> list[str]:
    """Required slots of an action intent that the conversation has not given yet.

    With a chat model the model proposes the tool call first; slots are asked for only
    when it could not (see agents/act.py).
    """
    return [slot for slot in _required_slots(ctx, label, route) if slot not in slots]


def _shows_order(ctx: AgentContext, label: str) -> bool:
    spec = next((s for s in ctx.bot.intents if s.name == label), None)
    return spec is not None and spec.shows_order and spec.route == "answer"


def _offer_status(ctx: AgentContext, state: TurnState, result: IntentResult
                  ) -> PendingTask | None:
    """For a guest whose parcel hasn't come (an intent that `shows_order`): the order
    status request to offer after the help centre's answer, waiting for the email address
    that proves the order named, or for the order number first. The answer to it runs the
    bot's order status action, which checks the email (agents/act.py)."""
    if state.get("customer_id") or ctx.actions is None or \
            not _shows_order(ctx, result["label"]):
        return None
    status = next((s for s in ctx.bot.intents if s.route == "action:get_order_status"), None)
    number = result.get("slots", {}).get("order_number")
    if status is None or (number and number.upper() in
                          {n.upper() for n in state.get("verified_orders", [])}):
        return None
    return PendingTask(intent=status.name, route=status.route,
                       slots={"order_number": number} if number else {},
                       missing=["email"] if number else ["order_number"], offer=True)


def _required_slots(ctx: AgentContext, label: str, route: str) -> list[str]:
    if not route.startswith("action:"):
        return []
    spec = next((s for s in ctx.bot.intents if s.name == label), None)
    return list(spec.required_slots) if spec else []


def intent(state: TurnState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = runtime.context
    text = last_customer_text(state)
    found = extract_slots(text, ctx.slot_config, today=ctx.today())
    # Items are matched against the customer's own orders and those the conversation
    # proved by email, never an order merely named: the matched item shows in the turn's
    # slots, and would tell a guest what someone else's order holds.
    proven = {n.upper() for n in state.get("verified_orders", [])}
    named = found.get("order_numbers") or [found.get("order_number") or
                                           state.get("order_in_focus")]
    aliases = ctx.order_items(state.get("customer_id"),
                              [n for n in named if n and n.upper() in proven])
    if item := match_item(text, list(aliases)):
        found["item"] = aliases.get(item, item)
    pending: PendingTask | None = state.get("pending")
    result: IntentResult | None = None
    slots: dict[str, Any] = {}
    pending_orders: list[dict[str, Any]] = []

    if pending and pending.get("options"):
        chosen = _resolve_choice(ctx, text, pending["options"])
        if chosen is not None:
            result = {"label": chosen, "route": _route_of(ctx, chosen), "confidence": 1.0,
                      "alternatives": [], "source": "clarification"}
            slots = dict(pending.get("slots", {}))
    if result is None and pending and pending.get("missing"):
        if "order_number" in pending["missing"] and "order_number" not in found and \
                (picked := pick_offered(text, pending.get("orders") or [], aliases)):
            found["order_number"] = picked
        fills = any(slot in found for slot in pending["missing"])
        if "item" in pending["missing"] and not fills:
            # After "Order CL-100113 doesn't include Oak table lamp: it has ..." (a refund
            # of an item the order doesn't hold, agents/act.py): another order number, or
            # "the whole order", answers it too.
            if _WHOLE_ORDER.search(text):
                found["whole_order"] = True
            fills = "order_number" in found or "whole_order" in found
        fresh = classify(ctx, text)
        switched = fresh["label"] != pending["intent"] and fresh["confidence"] >= 0.7 \
            and fresh["route"] != OUT_OF_SCOPE and _words_beyond_slots(text, found) > 3
        if fills and not switched:
            result = {"label": pending["intent"], "route": pending["route"], "confidence": 1.0,
                      "alternatives": [], "source": "pending"}
            slots = dict(pending.get("slots", {}))
        elif not fills and _drops_the_question(text):
            result = {"label": "anything_else", "route": "smalltalk", "confidence": 1.0,
                      "alternatives": [], "source": "pending_dropped"}
        elif not fills and pending.get("offer") and _SHORT_YES.match(text):
            # "ok" to "If you give me your order number, I can check": ask for it plainly.
            result = {"label": pending["intent"], "route": pending["route"], "confidence": 1.0,
                      "alternatives": [], "source": "pending"}
            slots = dict(pending.get("slots", {}))
        elif not fills and not pending.get("offer") and _answers_the_question(text):
            # "the candle", "the last one": an answer the bot could not use, not a new
            # request (the classifier had read both as a goodbye). Ask again. An offer
            # the customer did not take up is not asked again.
            result = {"label": pending["intent"], "route": pending["route"], "confidence": 1.0,
                      "alternatives": [], "source": "pending_retry"}
            slots = dict(pending.get("slots", {}))
            pending_orders = list(pending.get("orders") or [])
        else:
            result = fresh
    if result is None:
        result = answer_to_last_reply(ctx, state, text)
    if result is None:
        result = classify(ctx, text)
        options = None if is_question(text) else _ambiguous(ctx, result)
        if options is not None:
            result |= {"route": "clarify", "slots": found}
            return {"intent": result, "request_text": text,
                    "pending": PendingTask(options=options, slots=found, intent="", route="")}

    slots |= found
    if found.get("whole_order"):
        slots.pop("item", None)
    focus = found.get("order_number") or state.get("order_in_focus")
    if focus and "order_number" not in slots and (
            "order_number" in _required_slots(ctx, result["label"], result["route"])
            or _shows_order(ctx, result["label"])):
        # "Where is CL-100029?" ... "and when will it arrive?": the follow-up is about the
        # order just named. The reply names it, and a side effect still needs a yes.
        slots["order_number"] = focus
    missing = missing_slots(ctx, result["label"], result["route"], slots) \
        if ctx.chat_model is None else []
    customer = state.get("customer_id")
    if _shows_order(ctx, result["label"]) and "order_number" not in slots and customer and \
            ctx.actions is not None:
        # "My parcel still hasn't arrived": the only order on its way, never a question.
        picked, _ = pick_order(text, "get_order_status",
                               ctx.actions.backend.list_orders(customer, 10), aliases)
        if picked:
            slots["order_number"] = focus = picked
    if "order_number" in missing and customer and ctx.actions is not None and \
            not pending_orders:
        tool = result["route"].removeprefix("action:")
        picked, offered = pick_order(text, tool, ctx.actions.backend.list_orders(customer, 10),
                                     aliases)
        if picked:
            slots["order_number"] = focus = picked
            missing = missing_slots(ctx, result["label"], result["route"], slots)
        pending_orders = [choice(order) for order in offered] if not picked else []
    result |= {"slots": slots, "missing_slots": missing}
    new_pending: PendingTask | None = None
    if offer := _offer_status(ctx, state, result):
        result["missing_slots"], new_pending = list(offer["missing"]), offer
    if missing:
        new_pending = PendingTask(intent=result["label"], route=result["route"], slots=slots,
                                  missing=missing)
        if "order_number" in missing and pending_orders:
            new_pending["orders"] = pending_orders
    continued = result.get("source") in {"clarification", "pending", "pending_retry"}
    request_text = (state.get("request_text") or text) if continued else text
    return {"intent": result, "pending": new_pending, "order_in_focus": focus or None,
            "request_text": request_text}


def route_after_intent(state: TurnState) -> str:
    """retrieve for answers and out-of-scope (the knowledge base may still know), and for
    a question that comes with a handoff or with an action still missing a slot; act for
    actions whose slots are known; respond directly for small talk, other handoffs,
    clarification and slot questions."""
    result = state.get("intent", {})
    route = result.get("route", "answer")
    if route in {"answer", OUT_OF_SCOPE}:
        return "retrieve"
    if route.startswith("action:"):
        if not result.get("missing_slots"):
            return "act"
        return "retrieve" if is_question(last_customer_text(state)) else "respond"
    if route == "handoff" and is_question(last_customer_text(state)):
        return "retrieve"
    return "respond"


_QUESTION_START = re.compile(
    r"^\s*(how|why|what|when|where|which|who|can|could|do|does|is|are|will|would|should|"
    r"whats|hows|wheres|whens|whos|whys|"
    r"comment|pourquoi|quand|combien|quel(le)?s?|est-ce|puis-je|peut-on|faut-il|dois-je|"
    r"où|qu'est-ce|c'est quoi|c quoi|"
    r"(?!rendez-vous\b)[a-zàâçéèêëîïôûù]+-(vous|je|on|t-il|t-elle|il|elle))\b",
    re.IGNORECASE)
"""How a question starts, also in chat ("whats", "c quoi") and by French inversion
("Acceptez-vous ...", "Peut-on ..."), except the noun "rendez-vous"."""


_INDIRECT_QUESTION = re.compile(
    r"\b(I'?d like to know|I would like to know|I want to know|I(?:'m| am| was) wondering|"
    r"(can|could) you (tell|explain)|please (tell|explain)|tell me (how|what|when|why|where|"
    r"if|whether)|je (voudrais|souhaiterais|veux) savoir|j'aimerais (savoir|comprendre)|"
    r"je me demande|(pouvez|pourriez)-vous (me dire|m'expliquer|m'indiquer))\b",
    re.IGNORECASE)


def is_question(text: str) -> bool:
    """A policy question ("why is my refund taking longer?") rather than a request to act,
    also when it is not the message's last sentence ("My bowl arrived cracked, do I have
    to send it back? It cost €15."), has no question mark ("whats ur phone number") or is
    asked indirectly ("I'd like to know from what amount refunds are checked.")."""
    return "?" in text or bool(_QUESTION_START.match(text)) or \
        bool(_INDIRECT_QUESTION.search(text))
