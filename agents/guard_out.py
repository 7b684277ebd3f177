"""guard_out: the last check on a reply before it leaves, whatever produced it.

The reply must cite only passages that were retrieved this turn, must hold no data of a
customer other than the one in the conversation (email, name, street address, order
number or order details), must not repeat the system prompts, and must not promise an
action the shop did not perform this turn ("I have refunded you", "remboursement
effectué"). A failing reply is replaced by a safe one in the customer's language: the
offline extractive answer when the failure is a bad citation or promise in a generated
answer and that answer passes, else a fixed sentence that offers a human. The verdict is
kept in the state and logged (codes only, never the data that was caught).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langgraph.runtime import Runtime

from agents import prompts
from agents.configuration import AgentContext
from agents.slots import extract_order_numbers
from agents.state import Citation, OutputVerdict, TurnState

log = logging.getLogger(__name__)

_CITE = re.compile(r"\[(\d{1,3})\]")
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_AMOUNT = re.compile(r"(\d{1,3}(?:[ \u00a0\u202f,.]\d{3})*(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)"
                     r"\s*(?:€|eur\b|euros?\b)|€\s*(\d+(?:[.,]\d{1,2})?)", re.IGNORECASE)
_CONDITIONAL = re.compile(r"\b(once|when|after|until|if|before|whether|unless|example|e\.g|"
                          r"for instance|lorsque|quand|dès que|une fois|après|si|avant|"
                          r"exemple)\b", re.IGNORECASE)
"""Words that make a claim hypothetical when they come earlier in its sentence."""

PROMISES: dict[str, re.Pattern[str]] = {tool: re.compile(pattern, re.IGNORECASE) for
                                        tool, pattern in {
    "refund_order": (
        r"\b(?:i|we)(?:'ve| have| just| will| am| are)?\s+(?:now\s+|just\s+|already\s+)?"
        r"(?:refunded|reimbursed|credited|issued (?:a|the|your|an?) (?:full )?refund|"
        r"processed (?:a|the|your) refund|approved (?:a|the|your) refund|approve (?:a|the|your)"
        r" refund|refund(?:ing)? (?:you|your|the|it))\b"
        r"|\b(?:your|the|this) refund(?: for (?:order )?\S+| of \S+(?: \S+)?)? (?:has been|"
        r"have been|was|is now|has now been) (?:approved|issued|processed|completed|done|"
        r"granted|sent|validated|made)\b"
        r"|(?:^|[.!:]\s*)refund (?:approved|issued|granted|confirmed|done|completed)\b"
        r"|\b(?:je|nous) (?:vous )?(?:ai|avons|viens de|venons de|vais|allons)\s+(?:d'|de )?"
        r"(?:rembours[ée]|rembourser|effectu[ée] (?:le|un|votre) remboursement|valid[ée] "
        r"(?:le|votre) remboursement|cr[ée]dit[ée])"
        r"|\b(?:votre|le|ce) remboursement(?: de la commande \S+| de \S+(?: \S+)?)? (?:a été|"
        r"a bien été|est maintenant|vient d'être) (?:effectu[ée]|valid[ée]|approuv[ée]|"
        r"accord[ée]|[ée]mis|confirm[ée]|trait[ée]|fait)"
        r"|(?:^|[.!:]\s*)remboursement (?:effectu[ée]|valid[ée]|approuv[ée]|accord[ée])\b"
        r"|\bvous (?:avez [ée]t[ée]|[êe]tes(?: maintenant| bien)?)\s+rembours[ée]e?s?\b"),
    "cancel_order": (
        r"\b(?:i|we)(?:'ve| have| just| will)?\s+(?:now\s+|just\s+|already\s+)?"
        r"(?:cancell?ed|cancel(?:ling)?) (?:your|the|this|it|order)\b"
        r"|\b(?:your|the|this) order (?:\S+ )?(?:has been|was|is now|has now been) cancell?ed\b"
        r"|\b(?:j'ai|nous avons|je viens d'|je vais|nous allons) (?:bien )?annul(?:é|er) "
        r"(?:votre|la|cette)\s+commande"
        r"|\b(?:votre|la|cette) commande (?:\S+ )?(?:a été|est maintenant|a bien été) "
        r"annulée\b"),
    "update_shipping_address": (
        r"\b(?:i|we)(?:'ve| have| just| will)?\s+(?:now\s+|just\s+|already\s+)?"
        r"(?:changed|updated|modified|change|update) (?:your|the) (?:delivery |shipping )?"
        r"address\b"
        r"|\b(?:your|the) (?:delivery |shipping )?address (?:\S+ \S+ )?(?:has been|was|is now"
        r"|has now been) (?:changed|updated|modified)\b"
        r"|\b(?:votre|l')\s*adresse (?:de livraison )?(?:a été|est maintenant|a bien été) "
        r"(?:modifiée|changée|mise à jour)\b"
        r"|\b(?:j'ai|nous avons) (?:bien )?(?:modifié|changé|mis à jour) (?:votre|l')\s*adresse"),
}.items()}
"""Claims that an action was done or approved, by the tool that would have to have run."""


def _normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def prompt_fragments(min_chars: int = 32) -> list[str]:
    """Verbatim sentences of the system prompts (their fixed text between placeholders);
    short generic ones ("the customer support assistant of") are left out."""
    pieces: list[str] = []
    for template in (prompts.ANSWER_SYSTEM, prompts.INTENT_SYSTEM, prompts.ACTION_SYSTEM):
        text = template.replace("{{", "{").replace("}}", "}")
        for part in re.split(r"\{[a-z_]*\}|\n|(?<=[.:;])\s", text):
            part = _normalised(part.strip(" -:"))
            if len(part) >= min_chars and len(part.split()) >= 7:
                pieces.append(part)
    return pieces


_FRAGMENTS = prompt_fragments()


@dataclass
class ShopFacts:
    """What the reply may and may not contain about the shop's customers."""

    own_orders: set[str] = field(default_factory=set)
    others: dict[str, str] = field(default_factory=dict)
    """An identifying string of another customer (lower-cased) -> what it is."""
    other_orders: set[str] = field(default_factory=set)


def _money_forms(value: Any) -> list[str]:
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return []
    text = f"{amount}"
    return [text, text.replace(".", ",")]


def shop_facts(ctx: AgentContext, state: TurnState, reply: str,
               customer_texts: Iterable[str]) -> ShopFacts:
    """Other customers' data that this reply must not hold, from the commerce backend.

    Orders and emails named in the conversation or in the reply are looked up; the
    demo shop also exposes its whole customer directory (names, emails, addresses).
    """
    facts = ShopFacts()
    actions = ctx.actions
    if actions is None:
        return facts
    backend = actions.backend
    customer = state.get("customer_id")
    verified = {n.upper() for n in state.get("verified_orders", [])}
    owners: set[str] = {customer} if customer else set()
    numbers: set[str] = set()
    for text in (*customer_texts, reply):
        numbers.update(extract_order_numbers(text, ctx.slot_config))
    numbers.update(verified)
    orders = {}
    for number in sorted(numbers):
        try:
            order = backend.get_order(number)
        except Exception:
            log.warning("guard_out could not look up an order", exc_info=True)
            continue
        if order is not None:
            orders[number] = order
    owners.update(o.customer_id for n, o in orders.items() if n in verified)
    for number, order in orders.items():
        if order.customer_id in owners:
            facts.own_orders.add(number)
            continue
        facts.other_orders.add(number)
        for value, what in ((order.ship_name, "name"), (order.ship_line1, "address"),
                            (order.tracking_number, "tracking number")):
            if value and len(value) >= 4:
                facts.others[value.casefold()] = what
        for form in _money_forms(order.total):
            facts.others[form] = "order total"
    for email in _EMAIL.findall(reply):
        try:
            found = backend.customer_by_email(email)
        except Exception:
            log.warning("guard_out could not look up an email", exc_info=True)
            continue
        if found is not None and found.customer_id not in owners:
            facts.others[email.casefold()] = "email"
    facts.others.update(_directory(backend, owners))
    return facts


def _directory(backend: Any, owners: set[str]) -> dict[str, str]:
    """The demo shop's other customers: names, emails and street addresses."""
    from tools.demo_backend import DemoShopBackend

    if not isinstance(backend, DemoShopBackend):
        return {}
    from sqlmodel import Session, col, select

    from tools.shop.models import Customer, Order

    found: dict[str, str] = {}
    with Session(backend.engine) as session:
        rows = session.exec(select(Customer.external_id, Customer.name, Customer.email,
                                   Order.ship_line1)
                            .join(Order, col(Order.customer_id) == col(Customer.id), isouter=True))
        for external_id, name, email, line1 in rows:
            if external_id in owners:
                continue
            found[email.casefold()] = "email"
            if name and len(name) >= 4:
                found[name.casefold()] = "name"
            if line1 and len(line1) >= 4:
                found[line1.casefold()] = "address"
    return found


def _contains(haystack: str, needle: str) -> bool:
    """`needle` in `haystack` as a whole token run (not inside a longer word or number)."""
    return re.search(rf"(?<![\w.,]){re.escape(needle)}(?![\w]|[.,]\d)", haystack) is not None


def promise_failures(reply: str, action: dict[str, Any] | None) -> list[str]:
    """Claims of an action that did not execute this turn, or of a larger refund."""
    done = action or {}
    executed = done.get("tool") if done.get("status") == "executed" else None
    failures: list[str] = []
    for tool, pattern in PROMISES.items():
        for match in pattern.finditer(reply):
            before = re.split(r"[.!?\n]", reply[:match.start()])[-1]
            if _CONDITIONAL.search(before):
                continue
            if tool != executed:
                failures.append(f"claims {tool} that did not execute this turn")
                break
            if tool == "refund_order":
                paid = _money_forms((done.get("result") or {}).get("amount"))
                limit = Decimal(paid[0]) if paid else Decimal("0")
                sentence = reply[match.start():match.end() + 80]
                for amount in _amounts(sentence):
                    if amount > limit:
                        failures.append("claims a refund larger than the one executed")
                        break
    return list(dict.fromkeys(failures))


def _amounts(text: str) -> list[Decimal]:
    out = []
    for match in _AMOUNT.finditer(text):
        raw = (match.group(1) or match.group(2) or "").replace("\u00a0", "").replace(
            "\u202f", "").replace(" ", "")
        if re.search(r"[.,]\d{1,2}$", raw):
            raw = re.sub(r"[.,]", "", raw[:-3]) + "." + raw[-2:] if raw[-3] in ".," else \
                re.sub(r"[.,]", "", raw[:-2]) + "." + raw[-1:]
        else:
            raw = re.sub(r"[.,]", "", raw)
        try:
            out.append(Decimal(raw))
        except InvalidOperation:
            continue
    return out


def check_reply(ctx: AgentContext, state: TurnState, reply: str,
                citations: list[Citation]) -> OutputVerdict:
    """The verdict on `reply`: which checks failed, and why (no customer data in it)."""
    failures: list[dict[str, str]] = []
    passages = {str(p.get("chunk_id")) for p in state.get("passages", [])}
    indexes = {int(c["index"]) for c in citations}
    for number in sorted({int(n) for n in _CITE.findall(reply)}):
        if number not in indexes:
            failures.append({"check": "citations", "detail": f"[{number}] cites no passage"})
    for citation in citations:
        if str(citation.get("chunk_id")) not in passages:
            failures.append({"check": "citations",
                             "detail": f"[{citation['index']}] is not a retrieved passage"})
    normal = _normalised(reply)
    if any(fragment in normal for fragment in _FRAGMENTS):
        failures.append({"check": "system_prompt", "detail": "repeats the system prompt"})
    customer_texts = [m.text if isinstance(m.text, str) else str(m.content)
                      for m in state.get("messages", []) if m.type == "human"]
    # What the customer typed and what the help centre says publicly are not leaks.
    known = _normalised(" ".join([*customer_texts,
                                  *(str(p.get("text", "")) for p in state.get("passages", []))]))
    facts = shop_facts(ctx, state, reply, customer_texts)
    for found in extract_order_numbers(reply, ctx.slot_config):
        if found in facts.other_orders and found.casefold() not in known:
            failures.append({"check": "other_customer_data",
                             "detail": "order number of another customer"})
    lowered = reply.casefold()
    for value, what in facts.others.items():
        if _contains(lowered, value) and not _contains(known, value):
            failures.append({"check": "other_customer_data",
                             "detail": f"{what} of another customer"})
    action = state.get("action")
    for claim in promise_failures(reply, action):
        failures.append({"check": "promise", "detail": claim})
    unique = list({(f["check"], f["detail"]): f for f in failures}.values())
    return OutputVerdict(passed=not unique, failures=unique, replaced=False)


def _last_ai(messages: Sequence[BaseMessage]) -> BaseMessage | None:
    return next((m for m in reversed(messages) if m.type == "ai"), None)


def _fallback(ctx: AgentContext, state: TurnState, verdict: OutputVerdict, language: str
              ) -> tuple[str, list[Citation]]:
    """A safe reply: the offline quoted answer when that fixes the failure, else a fixed one."""
    checks = {f["check"] for f in verdict.get("failures", [])}
    if state.get("responder") == "llm" and checks <= {"citations", "promise"}:
        from agents.respond import offline_answer
        from agents.retrieve import search_query

        reply, citations = offline_answer(search_query(state), state.get("passages", []),
                                          language, ctx.min_confidence,
                                          ctx.retriever.embedder, ctx.sentence_multilingual)
        if citations and check_reply(ctx, state, reply, citations).get("passed"):
            return reply, citations
    return prompts.text("unsafe_reply", language, company=ctx.bot.company), []


def guard_out(state: TurnState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Check the reply; replace a failing one with a safe reply and say why (logs, state)."""
    ctx = runtime.context
    reply = state.get("reply", "")
    citations = list(state.get("citations", []))
    verdict = check_reply(ctx, state, reply, citations)
    last = _last_ai(state.get("messages", []))
    if last is not None and last.id:
        verdict["message_id"] = last.id
    if verdict["passed"]:
        return {"output_guard": verdict}
    language = state.get("language") or ctx.bot.default_language
    safe, safe_citations = _fallback(ctx, state, verdict, language)
    codes = sorted({f"{f['check']}: {f['detail']}" for f in verdict["failures"]})
    log.warning("guard_out replaced the reply of conversation %s (%s)",
                state.get("conversation_id", ""), "; ".join(codes))
    message_kwargs: dict[str, Any] = {"additional_kwargs": {"citations": safe_citations}}
    if last is not None and last.id:
        message_kwargs["id"] = last.id
    replaced = verdict | OutputVerdict(replaced=True)
    return {"output_guard": replaced, "reply": safe,
            "citations": safe_citations, "answered": bool(safe_citations),
            "handoff_offered": not safe_citations, "quick_replies": [],
            "responder": "offline" if safe_citations else "guard_out",
            "messages": [AIMessage(safe, **message_kwargs)]}
