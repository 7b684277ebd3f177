"""Which of a signed-in customer's orders a request is about when it names none.

"Where is my order?" from a customer the channel has identified: the shop knows their
orders, so the bot does not ask for a number they would have to look up. One order,
or one that fits the request (the only order still on its way for a status question,
the only one that can still be cancelled, the only one holding the item named), is
taken; otherwise the customer is shown their recent orders and picks one by number,
by position ("the second one", "la dernière") or by an item in it. A side effect
still shows the order in its summary and waits for a yes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from agents.slots import match_item
from tools.backend import OrderView

SHOWN = 5
"""Recent orders offered to choose from."""

_FITS: dict[str, frozenset[str]] = {
    "get_order_status": frozenset({"pending", "paid", "shipped"}),
    "cancel_order": frozenset({"pending", "paid"}),
    "update_shipping_address": frozenset({"pending", "paid"}),
    "refund_order": frozenset({"delivered"}),
}
"""Order statuses a tool is most likely about: a status question is about an order not
yet delivered, a refund about a delivered one."""

_POSITIONS: list[tuple[re.Pattern[str], int]] = [
    (re.compile(r"\b(last|latest|most recent|newest|derni[eè]re?|plus r[ée]cente?)\b",
                re.IGNORECASE), 0),
    (re.compile(r"\b(first|1st|premi[eè]re?|1re|1er)\b", re.IGNORECASE), 0),
    (re.compile(r"\b(second|2nd|deuxi[eè]me|seconde?)\b", re.IGNORECASE), 1),
    (re.compile(r"\b(third|3rd|troisi[eè]me)\b", re.IGNORECASE), 2),
    (re.compile(r"\b(fourth|4th|quatri[eè]me)\b", re.IGNORECASE), 3),
    (re.compile(r"\b(fifth|5th|cinqui[eè]me)\b", re.IGNORECASE), 4),
    (re.compile(r"\b(oldest|plus ancienne?)\b", re.IGNORECASE), -1),
]
"""Positions in the list as shown (newest first): "the last one" is the latest order."""
_LATEST = re.compile(
    r"\b(?:my|the) (?:last|latest|most recent|newest) (?:order|purchase|parcel|package)\b|"
    r"\b(?:ma|la) (?:derni[eè]re|plus r[ée]cente) commande\b|"
    r"\b(?:mon|le) (?:dernier|plus r[ée]cent) (?:colis|achat)\b", re.IGNORECASE)
""""My last order", "ma dernière commande": the newest order, whatever its status (a
cancel of one already shipped then gets the policy's answer)."""
_REFUND_AWAITED = re.compile(
    r"\b(my|the) refunds?\b.*\b(arrived?|received?|got|yet|still|where|when|status|"
    r"waiting|showing|see)\b|\b(where|when)\b.*\b(is|will) my refund\b|"
    r"\b(received?|got(ten)?|seen?)\b (?:\w+ ){0,2}?(my|the|any) refund\b|"
    r"\bwhen (will|do|can|should) i (get|receive|see) (my|the) (refund|money)\b|"
    r"\b(re[çc]u|vu)\b (?:\w+ ){0,2}?(mon|le|aucun) remboursement\b|"
    r"\bmon remboursement\b.*\b(re[çc]u|arriv[ée]e?|toujours|pas encore|o[uù]|quand|"
    r"attends?)\b|\b(o[uù]|quand)\b.*\bmon remboursement\b", re.IGNORECASE)
""""My refund hasn't arrived yet", "où en est mon remboursement ?": about a refund
already issued, so about an order that has one."""
_NUMBER_ALONE = re.compile(r"^\W*(?:n(?:o|°|um[ée]ro)\.?\s*)?([1-9])\W*$", re.IGNORECASE)


def refund_awaited(text: str) -> bool:
    """"My refund hasn't arrived yet": a question about a refund, not a request for one."""
    return bool(_REFUND_AWAITED.search(text))


def choice(order: OrderView) -> dict[str, Any]:
    """An order as the choice question shows it (kept in the pending task)."""
    return {"order_number": order.number, "status": order.status,
            "created_at": order.created_at.isoformat() if order.created_at else None,
            "items": [item.name for item in order.items]}


def position(text: str, count: int) -> int | None:
    """The index a reply like "the second one" or "2" points at in a list of `count`."""
    if match := _NUMBER_ALONE.match(text):
        index = int(match.group(1)) - 1
        return index if index < count else None
    for pattern, index in _POSITIONS:
        if pattern.search(text):
            index = index if index >= 0 else count - 1
            return index if index < count else None
    return None


def pick_order(text: str, tool: str, orders: Sequence[OrderView],
               aliases: Mapping[str, str]) -> tuple[str | None, list[OrderView]]:
    """The order `text` is about, among the customer's recent `orders` (newest first), and
    the orders to offer when it cannot tell."""
    candidates = list(orders)
    if item := match_item(text, list(aliases)):
        name = aliases.get(item, item)
        having = [o for o in candidates if any(i.name == name for i in o.items)]
        if len(having) == 1:
            return having[0].number, having
        candidates = having or candidates
    if tool == "refund_order" and refund_awaited(text):
        refunded = [o for o in candidates if o.refunded > 0 or o.pending_refunds > 0]
        if len(refunded) == 1:
            return refunded[0].number, refunded
        candidates = refunded or candidates
    if len(candidates) == 1 or (candidates and _LATEST.search(text)):
        return candidates[0].number, candidates[:1]
    fitting = [o for o in candidates if o.status in _FITS.get(tool, frozenset())]
    if len(fitting) == 1:
        return fitting[0].number, fitting
    return None, (fitting or candidates)[:SHOWN]


def pick_offered(text: str, offered: Sequence[Mapping[str, Any]],
                 aliases: Mapping[str, str]) -> str | None:
    """The order a reply to "Which order is it about?" picks among those shown."""
    if item := match_item(text, list(aliases)):
        name = aliases.get(item, item)
        having = [o for o in offered if name in o.get("items", [])]
        if len(having) == 1:
            return str(having[0]["order_number"])
    index = position(text, len(offered))
    return str(offered[index]["order_number"]) if index is not None else None
