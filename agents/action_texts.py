"""What the customer reads about an action: confirmations, outcomes and refusals, EN/FR.

Replies are built from stable codes and structured results, never from a model's
words, so a refusal always states the policy's actual reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

REFUSALS: dict[str, dict[str, str]] = {
    "not_found": {
        "en": "I couldn't find that order for you. If you ordered as a guest, please share the "
              "order number together with the email address used for the order.",
        "fr": "Je n'ai pas trouvé cette commande. Si vous avez commandé sans compte, "
              "indiquez-moi le numéro de commande et l'adresse e-mail utilisée.",
    },
    "refund_window_expired": {
        "en": "This order can't be refunded through me: it was delivered more than "
              "{window} days ago, outside our return window.",
        "fr": "Je ne peux pas rembourser cette commande : elle a été livrée il y a plus de "
              "{window} jours, hors de notre délai de retour.",
    },
    "not_delivered": {
        "en": "This order hasn't been delivered yet, so it can't be refunded. If it hasn't "
              "shipped you can cancel it instead.",
        "fr": "Cette commande n'a pas encore été livrée et ne peut donc pas être remboursée. "
              "Si elle n'est pas expédiée, vous pouvez l'annuler.",
    },
    "non_refundable_item": {
        "en": "That item can't be refunded: final-sale items, gift cards, personalised items "
              "and opened earbuds or headphones are excluded from refunds.",
        "fr": "Cet article n'est pas remboursable : les articles soldés en vente finale, les "
              "cartes cadeaux, les articles personnalisés et les écouteurs ouverts sont exclus.",
    },
    "amount_exceeds_refundable": {
        "en": "I can't refund that much: a refund can't exceed what was paid minus what was "
              "already refunded{cap}.",
        "fr": "Je ne peux pas rembourser ce montant : un remboursement ne peut pas dépasser "
              "ce qui a été payé moins ce qui a déjà été remboursé{cap}.",
    },
    "daily_limit_exceeded": {
        "en": "This would go over the daily refund limit I'm allowed to issue, so a member of "
              "our team needs to handle it.",
        "fr": "Cela dépasserait la limite quotidienne de remboursement que je peux accorder : "
              "un membre de notre équipe doit s'en charger.",
    },
    "already_refunded": {
        "en": "This order (or item) has already been refunded.",
        "fr": "Cette commande (ou cet article) a déjà été remboursée.",
    },
    "already_refunded_amount": {
        "en": "This order has already been refunded ({refunded} {currency} in all). Once a "
              "refund is issued, your bank may take 3–10 business days to show it.",
        "fr": "Cette commande a déjà été remboursée ({refunded} {currency} au total). Une fois "
              "le remboursement émis, votre banque peut mettre 3 à 10 jours ouvrés à "
              "l'afficher.",
    },
    "item_already_refunded": {
        "en": "{items}: already refunded ({refunded} {currency} refunded on this order in "
              "all). Once a refund is issued, your bank may take 3–10 business days to show it.",
        "fr": "{items} : déjà remboursé ({refunded} {currency} remboursés sur cette commande "
              "au total). Une fois le remboursement émis, votre banque peut mettre 3 à 10 "
              "jours ouvrés à l'afficher.",
    },
    "refund_in_progress": {
        "en": "A refund for this order is already in progress.",
        "fr": "Un remboursement de cette commande est déjà en cours.",
    },
    "cannot_cancel_shipped": {
        "en": "This order has already shipped, so it can't be cancelled. You can refuse the "
              "delivery or return it within 30 days of delivery.",
        "fr": "Cette commande est déjà expédiée et ne peut plus être annulée. Vous pouvez "
              "refuser le colis ou le retourner sous 30 jours après la livraison.",
    },
    "already_cancelled": {
        "en": "This order is already cancelled.",
        "fr": "Cette commande est déjà annulée.",
    },
    "address_change_after_shipping": {
        "en": "The address can't be changed any more: the order has already shipped.",
        "fr": "L'adresse ne peut plus être modifiée : la commande est déjà expédiée.",
    },
    "address_country_change": {
        "en": "The delivery address can only be changed within the same country. To deliver "
              "to another country, cancel the order before it ships and order again.",
        "fr": "L'adresse de livraison ne peut être modifiée que dans le même pays. Pour un "
              "autre pays, annulez la commande avant son expédition et commandez à nouveau.",
    },
    "invalid_arguments": {
        "en": "I couldn't work out the details of that request. Could you rephrase it with "
              "the order number?",
        "fr": "Je n'ai pas compris les détails de cette demande. Pouvez-vous la reformuler "
              "avec le numéro de commande ?",
    },
}

TEXTS: dict[str, dict[str, str]] = {
    "not_in_order": {
        "en": "Order {order} doesn't include {items}: it has {order_items}. Tell me which of "
              "them you mean, or the number of the order with {items}.",
        "fr": "La commande {order} ne contient pas « {items} » : elle contient {order_items}. "
              "Dites-moi lequel de ces articles, ou le numéro de la commande concernée.",
    },
    "item_not_in_order": {
        "en": "Order {order} doesn't include {item}.",
        "fr": "La commande {order} ne contient pas « {item} ».",
    },
    "whole_order_only": {
        "en": "A cancellation is for the whole order; to send back one item only, you can "
              "return it once it has arrived.",
        "fr": "Une annulation porte sur la commande entière ; pour ne renvoyer qu'un article, "
              "vous pouvez le retourner après la livraison.",
    },
    "item_in_no_order": {
        "en": "I can't find {item} in your recent orders.",
        "fr": "Je ne trouve pas « {item} » dans vos commandes récentes.",
    },
    "confirm_refund": {
        "en": "I can refund {amount} {currency} for {items} from order {order}, {destination}. "
              "Shall I go ahead? (yes / no)",
        "fr": "Je peux rembourser {amount} {currency} pour {items} de la commande {order}, "
              "{destination}. Je confirme ? (oui / non)",
    },
    "confirm_cancel": {
        "en": "Cancel order {order} ({items})? {amount} {currency} will be released "
              "{destination}. Shall I go ahead? (yes / no)",
        "fr": "Annuler la commande {order} ({items}) ? {amount} {currency} seront restitués "
              "{destination}. Je confirme ? (oui / non)",
    },
    "confirm_address": {
        "en": "Change the delivery address of order {order} to {address}? (yes / no)",
        "fr": "Modifier l'adresse de livraison de la commande {order} pour : {address} ? "
              "(oui / non)",
    },
    "refund_issued": {
        "en": "Once a refund is issued, your bank may take 3–10 business days to show it.",
        "fr": "Une fois le remboursement émis, votre banque peut mettre 3 à 10 jours ouvrés "
              "à l'afficher.",
    },
    "refund_pending": {
        "en": "A refund for this order is in progress: it is waiting for a check by our team.",
        "fr": "Un remboursement de cette commande est en cours : il attend une vérification "
              "par notre équipe.",
    },
    "no_refund_yet": {
        "en": "No refund has been issued on this order yet. A return is refunded within 5 "
              "business days of reaching our warehouse; to ask for a refund, tell me which "
              "item.",
        "fr": "Aucun remboursement n'a encore été émis sur cette commande. Un retour est "
              "remboursé sous 5 jours ouvrés après son arrivée à notre entrepôt ; pour "
              "demander un remboursement, dites-moi quel article.",
    },
    "done_refund": {
        "en": "Done: {amount} {currency} has been refunded on order {order}, {destination}. "
              "Refunds arrive within 5 business days, then your bank may take 3–10 more.",
        "fr": "C'est fait : {amount} {currency} ont été remboursés sur la commande {order}, "
              "{destination}. Comptez 5 jours ouvrés, puis 3 à 10 jours selon votre banque.",
    },
    "done_cancel": {
        "en": "Order {order} is cancelled; {amount} {currency} will be released to you.",
        "fr": "La commande {order} est annulée ; {amount} {currency} vous seront restitués.",
    },
    "done_address": {
        "en": "Done: order {order} will now be delivered to {address}.",
        "fr": "C'est fait : la commande {order} sera livrée à : {address}.",
    },
    "pending_approval": {
        "en": "Your refund of {amount} {currency} is above what I can approve myself, so a "
              "member of our team will review it (usually within one business day). I'll "
              "tell you here as soon as it's decided.",
        "fr": "Votre remboursement de {amount} {currency} dépasse ce que je peux valider "
              "moi-même : un membre de notre équipe va l'examiner (en général sous un jour "
              "ouvré). Je vous tiens informé ici.",
    },
    "approved": {
        "en": "Good news: your refund of {amount} {currency} on order {order} was approved "
              "and issued.",
        "fr": "Bonne nouvelle : votre remboursement de {amount} {currency} sur la commande "
              "{order} a été validé et émis.",
    },
    "rejected": {
        "en": "Our team reviewed your refund request for order {order} and could not approve "
              "it{note}. A colleague will contact you with the details.",
        "fr": "Notre équipe a examiné votre demande de remboursement pour la commande {order} "
              "et n'a pas pu la valider{note}. Un conseiller vous recontactera.",
    },
    "failed": {
        "en": "I couldn't reach our order system just now, so nothing has been changed. I've "
              "opened a ticket so a colleague completes this for you.",
        "fr": "Je n'ai pas pu joindre notre système de commandes : rien n'a été modifié. J'ai "
              "ouvert un ticket pour qu'un conseiller s'en occupe.",
    },
    "already_done": {
        "en": "That was already done earlier in our conversation; nothing more has been "
              "changed.",
        "fr": "C'était déjà fait plus tôt dans notre conversation ; rien d'autre n'a été "
              "modifié.",
    },
    "declined": {
        "en": "OK, I haven't changed anything. Is there anything else I can do for you?",
        "fr": "D'accord, je n'ai rien modifié. Puis-je faire autre chose pour vous ?",
    },
    "status": {
        "en": "Order {order} is {status}.{details}",
        "fr": "La commande {order} est {status}.{details}",
    },
    "contents": {
        "en": "Items: {items}. Total: {total} {currency}{refunded}.",
        "fr": "Articles : {items}. Total : {total} {currency}{refunded}.",
    },
    "refunded_part": {
        "en": ", of which {amount} {currency} refunded",
        "fr": ", dont {amount} {currency} remboursés",
    },
    "orders": {
        "en": "Your recent orders:\n{lines}",
        "fr": "Vos dernières commandes :\n{lines}",
    },
    "which_order": {
        "en": "Which order is it about?\n{lines}\nYou can answer with its number, or say "
              "\"the first one\" or name an item.",
        "fr": "De quelle commande s'agit-il ?\n{lines}\nVous pouvez répondre par son numéro, "
              "dire « la première » ou nommer un article.",
    },
    "no_orders": {
        "en": "I couldn't find any order for you yet. If you ordered as a guest, give me an "
              "order number and the email address used for it.",
        "fr": "Je n'ai trouvé aucune commande. Si vous avez commandé sans compte, donnez-moi "
              "un numéro de commande et l'adresse e-mail utilisée.",
    },
    "ticket": {
        "en": "I've opened a ticket for our team; they'll get back to you here.",
        "fr": "J'ai ouvert un ticket pour notre équipe ; elle vous répondra ici.",
    },
    "verify": {
        "en": "To protect your account, please give me the email address used for order "
              "{order}.",
        "fr": "Pour protéger votre compte, indiquez-moi l'adresse e-mail utilisée pour la "
              "commande {order}.",
    },
}

STATUS_NAMES = {
    "en": {"pending": "waiting for payment", "paid": "paid and being prepared",
           "shipped": "on its way", "delivered": "delivered", "cancelled": "cancelled"},
    "fr": {"pending": "en attente de paiement", "paid": "payée et en préparation",
           "shipped": "en cours de livraison", "delivered": "livrée", "cancelled": "annulée"},
}


WHEN = {
    "shipped": {"en": " (shipped {day})", "fr": " (expédiée le {day})"},
    "delivered": {"en": " ({day})", "fr": " (le {day})"},
}
MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"],
}


def _day(raw: Any, language: str) -> str:
    """"2026-11-30T14:02:00" -> "30 November" / "30 novembre"; "" when absent or unreadable."""
    try:
        when = datetime.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return ""
    if when is None:
        return ""
    return f"{when.day} {MONTHS.get(language, MONTHS['en'])[when.month - 1]}"


def _t(table: dict[str, dict[str, str]], key: str, language: str, **values: Any) -> str:
    entry = table[key]
    return entry.get(language, entry["en"]).format(**values)


def _destination(raw: Any, language: str) -> str:
    text = str(raw or "")
    if "gift card" in text:
        return "en solde de carte cadeau" if language == "fr" else "as gift card balance"
    return ("sur votre moyen de paiement d'origine" if language == "fr"
            else "to your original payment method")


def _address(value: Any) -> str:
    if isinstance(value, dict):
        parts = [value.get("line1"), value.get("line2"),
                 f"{value.get('postal_code', '')} {value.get('city', '')}".strip(),
                 value.get("country")]
        return ", ".join(str(p) for p in parts if p)
    return str(value)


def _items(summary: dict[str, Any]) -> str:
    items = summary.get("items") or []
    names = [f"{i['quantity']} × {i['name']}" if isinstance(i, dict) and i.get("quantity", 1)
             != 1 else (i["name"] if isinstance(i, dict) else str(i)) for i in items]
    return ", ".join(names) or "-"


def _names(names: list[Any], language: str) -> str:
    """"A, B and C" / "A, B et C"."""
    names = [str(n) for n in names]
    last = " et " if language == "fr" else " and "
    return last.join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


def localised(value: Any, names: Mapping[str, Mapping[str, str]], language: str) -> Any:
    """`value` (an action's result or summary, orders to choose from) with the shop's item
    names in `language` where the bot config translates them (`product_names`): a French
    customer reads "Housse de couette en lin 240x220", not the shop's English name."""
    shop = {name.casefold(): name for name in names}

    def each(value: Any) -> Any:
        if isinstance(value, str):
            # Item names in an action's arguments are casefolded (tools/service.py).
            name = shop.get(value.casefold(), value) if value.islower() else value
            return names.get(name, {}).get(language, name)
        if isinstance(value, dict):
            return {k: each(v) for k, v in value.items()}
        if isinstance(value, list):
            return [each(v) for v in value]
        return value

    return each(value)


def item_not_in_order(order: str | None, item: str, language: str) -> str:
    """"Order CL-100101 doesn't include Cedarwood scented candle." (with no order: "I can't
    find ... in your recent orders.")"""
    if order is None:
        return _t(TEXTS, "item_in_no_order", language, item=item)
    return _t(TEXTS, "item_not_in_order", language, order=order, item=item)


def whole_order_only(language: str) -> str:
    return _t(TEXTS, "whole_order_only", language)


def confirmation(tool: str, summary: dict[str, Any], language: str) -> str:
    order = summary.get("order_number", "")
    if tool == "refund_order":
        return _t(TEXTS, "confirm_refund", language, amount=summary.get("amount"),
                  currency=summary.get("currency", "EUR"), items=_items(summary), order=order,
                  destination=_destination(summary.get("destination"), language))
    if tool == "cancel_order":
        return _t(TEXTS, "confirm_cancel", language, order=order, items=_items(summary),
                  amount=summary.get("amount"), currency=summary.get("currency", "EUR"),
                  destination=_destination(summary.get("destination"), language))
    return _t(TEXTS, "confirm_address", language, order=order,
              address=_address(summary.get("destination")))


def status_reply(result: dict[str, Any], language: str) -> str:
    order = result.get("order", result)
    status = STATUS_NAMES.get(language, STATUS_NAMES["en"]).get(order.get("status", ""),
                                                                order.get("status", ""))
    details = ""
    state = str(order.get("status", ""))
    if state in WHEN and (day := _day(order.get(f"{state}_at"), language)):
        status += _t(WHEN, state, language, day=day)
    if order.get("carrier") and order.get("tracking_number"):
        details = (f" {order['carrier']} : {order['tracking_number']}." if language == "fr"
                   else f" Carrier {order['carrier']}, tracking number "
                        f"{order['tracking_number']}.")
    reply = _t(TEXTS, "status", language, order=order.get("order_number", ""), status=status,
               details=details)
    return f"{reply}\n{contents}" if (contents := _contents(order, language)) else reply


def _contents(order: dict[str, Any], language: str) -> str:
    """"Items: 2 × Linen napkins, Oak bowl. Total: 86.00 EUR.": which order it is, and
    what was paid ("how much did I pay for CL-100101?" is a status question)."""
    items = [i if isinstance(i, dict) else {"name": i} for i in order.get("items") or []]
    if not items or order.get("total") is None:
        return ""
    names = ", ".join(f"{i['quantity']} × {i['name']}" if int(i.get("quantity") or 1) > 1
                      else str(i["name"]) for i in items)
    currency = order.get("currency") or "EUR"
    refunded = order.get("refunded")
    part = _t(TEXTS, "refunded_part", language, amount=refunded, currency=currency) \
        if refunded and float(refunded) > 0 else ""
    return _t(TEXTS, "contents", language, items=names, total=order["total"],
              currency=currency, refunded=part)


def _orders_reply(result: dict[str, Any], language: str) -> str:
    orders = result.get("orders") or []
    if not orders:
        return _t(TEXTS, "no_orders", language)
    names = STATUS_NAMES.get(language, STATUS_NAMES["en"])
    lines = "\n".join(
        f"- {o['order_number']} ({(o.get('created_at') or '')[:10]}): "
        f"{names.get(o.get('status', ''), o.get('status', ''))}, {o.get('total')} "
        f"{o.get('currency', 'EUR')}" for o in orders)
    return _t(TEXTS, "orders", language, lines=lines)


def which_order(offered: list[dict[str, Any]], language: str) -> str:
    """"Which order is it about?" with the signed-in customer's orders to choose from."""
    names = STATUS_NAMES.get(language, STATUS_NAMES["en"])
    lines = []
    for n, order in enumerate(offered, 1):
        items = list(order.get("items") or [])
        shown = ", ".join(items[:2]) + (", …" if len(items) > 2 else "")
        day = _day(order.get("created_at"), language)
        colon = " : " if language == "fr" else ": "
        lines.append(f"{n}. {order['order_number']}" + (f", {day}" if day else "") +
                     f"{colon}{shown} ({names.get(order.get('status', ''), order.get('status'))})")
    return _t(TEXTS, "which_order", language, lines="\n".join(lines))


def _refusal_key(code: str, details: Mapping[str, Any]) -> str:
    """The refusal text for a policy code and what its decision says: "already refunded"
    says how much, and which items when the refund named them."""
    if code == "already_refunded":
        if details.get("in_progress"):
            return "refund_in_progress"
        if details.get("refunded") and details.get("items"):
            return "item_already_refunded"
        if details.get("refunded"):
            return "already_refunded_amount"
    return code if code in REFUSALS else "invalid_arguments"


def _refund_note(result: dict[str, Any], language: str) -> str:
    """After the status of an order whose refund the customer is waiting for."""
    order = result.get("order", result)
    if float(order.get("refunded") or 0) > 0:
        return _t(TEXTS, "refund_issued", language)
    if float(order.get("pending_refunds") or 0) > 0:
        return _t(TEXTS, "refund_pending", language)
    return _t(TEXTS, "no_refund_yet", language)


def outcome_reply(action: dict[str, Any], language: str) -> str:
    """The customer-facing sentence for an action's outcome."""
    status, code, tool = action.get("status"), action.get("code", ""), action.get("tool", "")
    summary = action.get("summary") or {}
    result = action.get("result") or {}
    if status == "declined":
        return _t(TEXTS, "declined", language)
    if status == "failed":
        return _t(TEXTS, "failed", language)
    if status == "pending_approval":
        return _t(TEXTS, "pending_approval", language, amount=summary.get("amount"),
                  currency=summary.get("currency", "EUR"))
    if status in {"refused", "not_found", "rejected"} or code in REFUSALS:
        details = (action.get("decision_details") or {})
        number = (action.get("args") or {}).get("order_number")
        if code == "invalid_arguments" and details.get("unknown_items") and \
                details.get("order_items"):
            # An item named that the order doesn't hold (a chat model's tool call, or an
            # item of the customer's other order): say what the order does hold.
            return _t(TEXTS, "not_in_order", language, order=number or "",
                      items=_names(details["unknown_items"], language),
                      order_items=_names(details["order_items"], language))
        cap = details.get("max_refundable")
        cap_text = (f" ({cap} {summary.get('currency', 'EUR')} maximum)" if cap else "")
        refusal = _t(REFUSALS, _refusal_key(code, details), language,
                     window=details.get("window_days", 30), cap=cap_text,
                     refunded=details.get("refunded"), currency=details.get("currency", "EUR"),
                     items=_names([i.get("name", i) if isinstance(i, dict) else i
                                   for i in details.get("items") or []], language))
        if isinstance(number, str) and number and code != "not_found":
            # The order may have been picked for the customer ("my last order"): name it.
            refusal = re.sub(r"^(This order|Cette commande)\b",
                             "Order " + number if language != "fr"
                             else "La commande " + number, refusal)
        return refusal
    if tool == "get_order_status":
        reply = status_reply(result, language)
        return f"{reply}\n{_refund_note(result, language)}" if action.get("about") == "refund" \
            else reply
    if tool == "list_recent_orders":
        return _orders_reply(result, language)
    if action.get("replayed") and tool in {"refund_order", "cancel_order",
                                           "update_shipping_address"}:
        return _t(TEXTS, "already_done", language)
    if tool == "refund_order":
        return _t(TEXTS, "done_refund", language, amount=result.get("amount"),
                  currency=result.get("currency", "EUR"), order=result.get("order_number"),
                  destination=_destination(result.get("destination"), language))
    if tool == "cancel_order":
        return _t(TEXTS, "done_cancel", language, order=result.get("order_number"),
                  amount=result.get("refunded_amount"), currency=result.get("currency", "EUR"))
    if tool == "update_shipping_address":
        return _t(TEXTS, "done_address", language, order=result.get("order_number"),
                  address=_address(result.get("shipping_address")))
    return _t(TEXTS, "ticket", language)


def approval_reply(outcome: dict[str, Any], language: str) -> str:
    """What the customer is told when a human decided a pending approval."""
    result = outcome.get("result") or {}
    if outcome.get("status") == "executed":
        return _t(TEXTS, "approved", language, amount=result.get("amount"),
                  currency=result.get("currency", "EUR"), order=result.get("order_number"))
    if outcome.get("status") == "failed":
        return _t(TEXTS, "failed", language)
    note = outcome.get("note") or ""
    return _t(TEXTS, "rejected", language, order=result.get("order_number") or
              outcome.get("order_number", ""), note=f" ({note})" if note else "")
