"""act: run a tool the safe way — validate, identity, policy, confirm, approve, execute.

The offline path builds the call from the intent agent's route and slots; the LLM
path lets the chat model propose tool calls (`bind_tools`). Either way the call
goes through `ActionService.preview` (schema, ownership, policy) and a side
effect only happens after the customer confirms the summary (LangGraph
`interrupt`, resumed with `Command(resume=...)`); above the approval threshold it
waits for a human (the approvals API resumes the conversation with the outcome).
Execution carries an idempotency key, so a replayed turn never acts twice.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agents import prompts
from agents.action_texts import (
    approval_reply,
    confirmation,
    item_not_in_order,
    localised,
    whole_order_only,
)
from agents.configuration import AgentContext
from agents.guard import last_customer_text
from agents.intent import is_yes, missing_slots
from agents.orders import refund_awaited
from agents.pii import masked_messages
from agents.resilience import ModelUnavailable, call_model
from agents.slots import match_item, product_named
from agents.state import PendingTask, TurnState
from tools.actions import SIDE_EFFECT_TOOLS, ActionRequest, Identity

log = logging.getLogger(__name__)

_FREE_TEXT_ARGS = frozenset({"reason", "subject", "summary"})
"""Arguments that only describe (stored with the action or ticket); PII in them is masked."""
_POSTCODE = re.compile(r"\b(\d{4,5}|[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2})\b", re.IGNORECASE)


def identity_of(state: TurnState) -> Identity:
    """The conversation's identity: verified by the channel, or orders proven by email."""
    customer = state.get("customer_id")
    return Identity(customer_id=customer, verified=customer is not None,
                    verified_orders=frozenset(state.get("verified_orders", [])))


_COUNTRIES = {
    "france": "FR", "belgium": "BE", "belgique": "BE", "germany": "DE", "deutschland": "DE",
    "allemagne": "DE", "switzerland": "CH", "suisse": "CH", "schweiz": "CH", "spain": "ES",
    "espagne": "ES", "españa": "ES", "italy": "IT", "italie": "IT", "italia": "IT",
    "united kingdom": "GB", "royaume-uni": "GB", "uk": "GB", "england": "GB",
    "angleterre": "GB", "great britain": "GB", "netherlands": "NL", "pays-bas": "NL",
    "luxembourg": "LU", "portugal": "PT", "austria": "AT", "autriche": "AT",
    "ireland": "IE", "irlande": "IE", "usa": "US", "united states": "US",
    "états-unis": "US", "etats-unis": "US", "canada": "CA",
}
_COUNTRY_AT_END = re.compile(
    r"[,\s]+(" + "|".join(sorted(map(re.escape, _COUNTRIES), key=len, reverse=True)) + r")$",
    re.IGNORECASE)


_FILLER_AT_END = re.compile(
    r"[,\s]+(?:instead|please|thanks|thank you|asap|if possible|rather|plut[oô]t|svp|"
    r"s'il vous pla[iî]t|merci|si possible|[àa] la place)$", re.IGNORECASE)


def parse_address(raw: str) -> dict[str, str] | None:
    """"12 rue de la Paix, 75002 Paris[, France]" -> line1, postal_code, city and, when
    named, country (ISO code); without a country the order's country applies."""
    text = raw.strip().rstrip(" ?!.;:")
    while (trailing := _FILLER_AT_END.search(text)) is not None:
        # "..., United Kingdom instead?": the country is the address's last part.
        text = text[:trailing.start()].rstrip(" ?!.;:")
    country = None
    if match := _COUNTRY_AT_END.search(text):
        country = _COUNTRIES[match.group(1).lower()]
        text = text[:match.start()]
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        return None
    rest = " ".join(parts[1:]) if len(parts) > 1 else ""
    found = _POSTCODE.search(rest) or _POSTCODE.search(parts[0][-12:])
    if not found:
        return None
    city = rest.replace(found.group(0), "").strip(" ,?!.;:") if rest else ""
    address = {"line1": parts[0], "postal_code": found.group(0).upper(), "city": city or "-"}
    if country is not None:
        address["country"] = country
    return address


def args_from_slots(ctx: AgentContext, tool: str, slots: dict[str, Any], text: str
                    ) -> dict[str, Any] | None:
    """The arguments of `tool` from the intent agent's slots; None when some are missing."""
    args: dict[str, Any] = {}
    if tool in {"get_order_status", "cancel_order", "refund_order", "update_shipping_address"}:
        if "order_number" not in slots:
            return None
        args["order_number"] = slots["order_number"]
    if tool == "refund_order":
        if slots.get("item"):
            args["item_names"] = [slots["item"]]
        if slots.get("amount"):
            args["amount"] = slots["amount"]
        args["reason"] = ctx.record_text(text)[:300]
    elif tool == "cancel_order":
        args["reason"] = ctx.record_text(text)[:300]
    elif tool == "update_shipping_address":
        address = parse_address(slots.get("address", ""))
        if address is None or ctx.actions is None:
            return None
        if "country" not in address:
            order = ctx.actions.backend.get_order(args["order_number"])
            address["country"] = order.ship_country if order is not None else ""
        args.update(address)
    elif tool == "list_recent_orders":
        args["limit"] = 5
    elif tool not in {"get_order_status", "create_ticket", "handoff_to_human"}:
        return None
    return args


def request_text(state: TurnState) -> str:
    """The message that made the request, not the turn that answered "which order?" or
    "what email address?" (which would make an email address the refund's reason)."""
    return state.get("request_text") or last_customer_text(state)


def offline_request(ctx: AgentContext, state: TurnState, conversation_id: str
                    ) -> ActionRequest | None:
    """The tool call implied by the intent and its slots."""
    intent = state.get("intent", {})
    tool = intent.get("route", "").removeprefix("action:")
    args = args_from_slots(ctx, tool, intent.get("slots", {}), request_text(state))
    if args is None:
        return None
    return ActionRequest(tool=tool, args=args, conversation_id=conversation_id,
                         identity=identity_of(state), source="offline")


def llm_requests(ctx: AgentContext, state: TurnState, conversation_id: str
                 ) -> list[ActionRequest]:
    """Tool calls proposed by the chat model; only known tools, never executed here."""
    from tools.tools import tool_schemas

    assert ctx.chat_model is not None
    system = SystemMessage(prompts.ACTION_SYSTEM.format(company=ctx.bot.company))
    history: list[BaseMessage] = list(state.get("messages", [])[-(2 * ctx.history_turns):])
    if ctx.mask_pii_for_llm:
        history = masked_messages(history)
    message = call_model(ctx.chat_model, [system, *history], tools=tool_schemas(),
                         what="chat model (tool calls)")
    requests = []
    if getattr(message, "invalid_tool_calls", None):
        log.warning("chat model sent %d malformed tool call(s); ignored",
                    len(message.invalid_tool_calls))
    for call in getattr(message, "tool_calls", []) or []:
        if not isinstance(call.get("name"), str) or not isinstance(call.get("args") or {}, dict):
            log.warning("chat model sent a malformed tool call; ignored")
            continue
        args = dict(call.get("args") or {})
        for key in _FREE_TEXT_ARGS & args.keys():
            if isinstance(args[key], str):
                args[key] = ctx.record_text(args[key])
        requests.append(ActionRequest(tool=call["name"], args=args,
                                      conversation_id=conversation_id,
                                      identity=identity_of(state), source="llm"))
    return requests


def _record(request: ActionRequest, preview: Any) -> dict[str, Any]:
    return {"tool": request.tool, "args": _jsonable(preview.args), "summary": preview.summary,
            "code": preview.decision.code, "idempotency_key": preview.idempotency_key,
            "source": request.source, "decision_details": _jsonable(preview.decision.details)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _outcome(outcome: Any) -> dict[str, Any]:
    return {"status": outcome.status, "code": outcome.code, "message": outcome.message,
            "result": _jsonable(outcome.result), "replayed": outcome.replayed,
            "approval_id": outcome.approval_id}


def act(state: TurnState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Propose the tool call, check it, run read-only tools; side effects wait for `confirm`."""
    ctx = runtime.context
    if ctx.actions is None:
        return {"action": {"status": "failed", "code": "no_backend", "tool": ""}}
    conversation_id = str(state.get("conversation_id") or "")
    requests: list[ActionRequest] = []
    if ctx.chat_model is not None:
        try:
            requests = llm_requests(ctx, state, conversation_id)
        except ModelUnavailable as exc:
            log.warning("chat model unavailable (%s); using the offline path", exc.reason)
        except Exception:
            log.exception("chat model failed to propose a tool call; using the offline path")
    if not requests:
        request = offline_request(ctx, state, conversation_id)
        requests = [request] if request is not None else []
    if not requests:
        intent: dict[str, Any] = dict(state.get("intent", {}))
        slots = intent.get("slots", {})
        missing = missing_slots(ctx, str(intent.get("label", "")),
                                str(intent.get("route", "")), slots)
        if missing:
            waiting = PendingTask(intent=str(intent.get("label", "")),
                                  route=str(intent.get("route", "")), slots=slots,
                                  missing=missing)
            return {"intent": intent | {"missing_slots": missing}, "pending": waiting}
        return {"action": {"status": "refused", "code": "invalid_arguments", "tool": ""}}
    request = requests[0]
    update: dict[str, Any] = {}
    number = request.args.get("order_number")
    identity = request.identity
    if isinstance(number, str) and not identity.verified and \
            number.upper() not in identity.verified_orders:
        intent = dict(state.get("intent", {}))
        email = intent.get("slots", {}).get("email")
        if not email:
            slots = intent.get("slots", {}) | {"order_number": number}
            waiting = PendingTask(intent=str(intent.get("label", "")),
                                  route=str(intent.get("route", "")), slots=slots,
                                  missing=["email"])
            return {"intent": intent | {"missing_slots": ["email"], "slots": slots},
                    "pending": waiting}
        if ctx.actions.verify_order_email(number, email, conversation_id):
            verified = sorted({*identity.verified_orders, number.upper()})
            request = replace(request, identity=replace(identity,
                                                        verified_orders=frozenset(verified)))
            update["verified_orders"] = verified
            if request.tool == "refund_order" and not request.args.get("item_names"):
                # "Refund the duvet cover from CL-100101": the item could not be matched
                # while the order was unproven (agents/intent.py), now it can.
                aliases = ctx.order_items(None, [number])
                if item := match_item(request_text(state), list(aliases)):
                    request = replace(request, args=request.args |
                                      {"item_names": [aliases.get(item, item)]})
    about = None
    if request.tool == "refund_order" and isinstance(number, str) and \
            refund_awaited(request_text(state)):
        # "My refund hasn't arrived yet": about a refund already issued, not a new one.
        # The order's status says what was refunded (agents/action_texts.py).
        request = replace(request, tool="get_order_status", args={"order_number": number})
        about = "refund"
    preview = ctx.actions.preview(request)
    record = _record(request, preview) | {"proposed": len(requests)}
    if about:
        record["about"] = about
    if request.tool not in SIDE_EFFECT_TOOLS or not preview.decision.allowed:
        update |= {"action": record | _outcome(ctx.actions.execute(preview))}
        if preview.decision.details.get("unknown_items") and isinstance(number, str):
            # "Order CL-100113 doesn't include Oak table lamp: it has ...": the answer
            # names one of its items, another order or the whole order (agents/intent.py).
            intent = dict(state.get("intent", {}))
            slots = intent.get("slots", {}) | {"order_number": number}
            update["pending"] = PendingTask(intent=str(intent.get("label", "")),
                                            route=str(intent.get("route", "")), slots=slots,
                                            missing=["item"])
        return update
    language = state.get("language") or ctx.bot.default_language
    question = confirmation(request.tool,
                            localised(preview.summary, ctx.bot.product_names, language),
                            language)
    if not state.get("intent", {}).get("slots", {}).get("whole_order") and \
            (note := _item_note(ctx, request, request_text(state), language)):
        question = f"{note} {question}"
    proposal = {"tool": request.tool, "args": record["args"], "source": request.source,
                "question": question}
    return update | {"action": record | {"status": "awaiting_confirmation"},
                     "pending_action": proposal, "reply": question,
                     "messages": [AIMessage(question)]}


def _item_note(ctx: AgentContext, request: ActionRequest, text: str, language: str
               ) -> str | None:
    """What the proposal must say about an item the request names.

    A refund or cancel of the whole order, for a request that names one of the shop's
    products (`bot.product_names`) the order doesn't hold: "Order CL-100101 doesn't include
    Cedarwood scented candle." The customer may have picked the wrong order; it may also
    be a word that only looks like a product ("it was a gift"), so the proposal stands and
    the customer's yes decides. A cancel that names one item of a larger order: a
    cancellation is for the whole order."""
    number = request.args.get("order_number")
    if request.tool not in {"refund_order", "cancel_order"} or \
            request.args.get("item_names") or not isinstance(number, str):
        return None
    held = ctx.order_items(None, [number])
    if request.tool == "cancel_order" and match_item(text, list(held)) and \
            len(set(held.values())) > 1:
        return whole_order_only(language)
    named = product_named(text, ctx.bot.product_names)
    if named is None or named in held.values():
        return None
    return item_not_in_order(number, localised(named, ctx.bot.product_names, language),
                             language)


def route_after_act(state: TurnState) -> str:
    return "confirm" if state.get("pending_action") else "respond"


def confirm(state: TurnState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Wait for the customer's yes/no (interrupt), then execute exactly once."""
    ctx = runtime.context
    pending = state.get("pending_action") or {}
    answer = interrupt({"type": "confirm", "question": pending.get("question", ""),
                        "tool": pending.get("tool")})
    text = answer.get("text", "") if isinstance(answer, dict) else str(answer)
    confirmed = (bool(answer.get("confirmed")) if isinstance(answer, dict)
                 else is_yes(text))
    update: dict[str, Any] = {"pending_action": None}
    if text:
        update["messages"] = [HumanMessage(text)]
    request = ActionRequest(tool=pending["tool"], args=dict(pending["args"]),
                            conversation_id=str(state.get("conversation_id") or ""),
                            identity=identity_of(state), source=pending.get("source", "offline"))
    assert ctx.actions is not None
    preview = ctx.actions.preview(request)
    record = _record(request, preview)
    if not confirmed:
        return update | {"action": record | {"status": "declined", "code": "declined"}}
    return update | {"action": record | _outcome(ctx.actions.execute(preview))}


def notify(state: TurnState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Tell the customer what a human decided about their pending approval."""
    ctx = runtime.context
    event = state.get("notification") or {}
    language = state.get("language") or ctx.bot.default_language
    reply = approval_reply(event, language)
    return {"notification": None, "reply": reply, "citations": [], "responder": "notify",
            "asked": None, "quick_replies": [],
            "messages": [AIMessage(reply)], "action": {"status": event.get("status"),
                                                       "code": event.get("code"),
                                                       "tool": "refund_order"}}
