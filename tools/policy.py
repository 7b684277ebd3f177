"""The store's action policy, in code: pure functions from (order, request, config) to a
`PolicyDecision` with a stable ``code``.

Codes: ``ok``, ``needs_approval`` (allowed, waits for a human), ``not_found`` (also for
orders of other customers: it reveals nothing), ``refund_window_expired``,
``not_delivered``, ``non_refundable_item``, ``amount_exceeds_refundable``,
``daily_limit_exceeded``, ``already_refunded``, ``cannot_cancel_shipped``,
``already_cancelled``, ``address_change_after_shipping``, ``address_country_change``,
``invalid_arguments``.

The defaults are the facts of supportgraph/demo/README.md: 30-day return window from
delivery; gift cards, final-sale, personalised and opened hygiene items are not
refundable; never more than paid minus refunded (per item too); refunds above €500 are
reviewed; at most €1,000 per customer per day through the chat; cancellation while
pending or paid; address change before shipping, same country only. Original shipping
fees are not refunded automatically (only for defective/wrong items, decided by a human).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from tools.actions import Identity, PolicyDecision
from tools.backend import ItemView, OrderView

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

OK = "ok"
NEEDS_APPROVAL = "needs_approval"
NOT_FOUND = "not_found"
REFUND_WINDOW_EXPIRED = "refund_window_expired"
NOT_DELIVERED = "not_delivered"
NON_REFUNDABLE_ITEM = "non_refundable_item"
AMOUNT_EXCEEDS_REFUNDABLE = "amount_exceeds_refundable"
DAILY_LIMIT_EXCEEDED = "daily_limit_exceeded"
ALREADY_REFUNDED = "already_refunded"
CANNOT_CANCEL_SHIPPED = "cannot_cancel_shipped"
ALREADY_CANCELLED = "already_cancelled"
ADDRESS_CHANGE_AFTER_SHIPPING = "address_change_after_shipping"
ADDRESS_COUNTRY_CHANGE = "address_country_change"
INVALID_ARGUMENTS = "invalid_arguments"

POLICY_CODES = frozenset(
    {
        OK, NEEDS_APPROVAL, NOT_FOUND, REFUND_WINDOW_EXPIRED, NOT_DELIVERED,
        NON_REFUNDABLE_ITEM, AMOUNT_EXCEEDS_REFUNDABLE, DAILY_LIMIT_EXCEEDED,
        ALREADY_REFUNDED, CANNOT_CANCEL_SHIPPED, ALREADY_CANCELLED,
        ADDRESS_CHANGE_AFTER_SHIPPING, ADDRESS_COUNTRY_CHANGE, INVALID_ARGUMENTS,
    }
)

NOT_FOUND_MESSAGE = (
    "I couldn't find that order for you. If you ordered as a guest, please share the "
    "order number together with the email address used for the order."
)


class PolicyConfig(BaseModel):
    """Tunable policy; defaults are Cedar Lane Goods' published rules."""

    model_config = ConfigDict(frozen=True)

    currency: str = "EUR"
    refund_window_days: int = Field(default=30, ge=0)
    non_refundable_categories: frozenset[str] = frozenset({"gift_card"})
    refuse_final_sale: bool = True
    refuse_personalised: bool = True
    refuse_opened_hygiene: bool = True
    approval_threshold: Decimal = Decimal("500.00")
    """Refunds strictly above this wait for a human."""
    daily_refund_limit: Decimal = Decimal("1000.00")
    """Per customer per calendar day (in ``timezone``) through the chat."""
    cancellable_statuses: frozenset[str] = frozenset({"pending", "paid"})
    address_change_statuses: frozenset[str] = frozenset({"pending", "paid"})
    address_same_country_only: bool = True
    order_number_pattern: str = r"^CL-\d{6}$"
    timezone: str = "Europe/Paris"
    max_verification_failures: int = Field(default=5, ge=1)
    """Failed order+email checks per order within ``verification_window_minutes``."""
    verification_window_minutes: int = Field(default=60, ge=1)
    duplicate_wait_s: float = Field(default=30.0, ge=0)
    """How long a duplicate execution waits for the first one to finish."""

    def tz(self) -> tzinfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return UTC

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.tz()).date()

    def valid_order_number(self, number: str) -> bool:
        return re.fullmatch(self.order_number_pattern, number) is not None


def money(value: Decimal) -> str:
    """A Decimal as a 2-decimal string (JSON-safe)."""
    return str(Decimal(value).quantize(CENT))


def _decision(allowed: bool, code: str, reason: str, **details: Any) -> PolicyDecision:
    return PolicyDecision(allowed=allowed, code=code, reason=reason, details=details)


def refuse(code: str, reason: str, **details: Any) -> PolicyDecision:
    return _decision(False, code, reason, **details)


# --- identity ---------------------------------------------------------------------------


def not_found(identity: Identity) -> PolicyDecision:
    """The same answer whether the order does not exist or belongs to someone else."""
    return refuse(
        NOT_FOUND,
        NOT_FOUND_MESSAGE,
        verification_required=not (identity.verified and identity.customer_id is not None),
    )


def check_access(order: OrderView | None, identity: Identity) -> PolicyDecision:
    """``ok`` when the identity may act on the order, else `not_found` (reveals nothing)."""
    if order is None or not identity.can_act_on(order.number, order.customer_id):
        return not_found(identity)
    return _decision(True, OK, "The order belongs to the customer of this conversation.")


# --- refunds ----------------------------------------------------------------------------


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def resolve_items(
    order: OrderView, item_names: Iterable[str]
) -> tuple[list[ItemView], list[str]]:
    """Match names (exact name or SKU, else a unique substring) to order lines.

    Returns (found, unknown)."""
    found: list[ItemView] = []
    unknown: list[str] = []
    for raw in item_names:
        wanted = _norm(raw)
        exact = [i for i in order.items if wanted in (_norm(i.name), _norm(i.sku))]
        matches = exact or [i for i in order.items if wanted and wanted in _norm(i.name)]
        if len(matches) == 1:
            if matches[0] not in found:
                found.append(matches[0])
        else:
            unknown.append(raw)
    return found, unknown


def item_block_reason(item: ItemView, config: PolicyConfig) -> str | None:
    """Why an item cannot be refunded, or None."""
    if item.category in config.non_refundable_categories:
        if item.category == "gift_card":
            return "Gift cards are not refundable."
        return f"Items in the {item.category} category are not refundable."
    if config.refuse_final_sale and item.final_sale:
        return "Final-sale items are not returnable."
    if config.refuse_personalised and item.personalised:
        return "Personalised or engraved items are not returnable."
    if config.refuse_opened_hygiene and item.opened:
        return "Opened earbuds and headphones are not returnable for hygiene reasons."
    return None


def item_remaining(item: ItemView) -> Decimal:
    return max(ZERO, item.line_total - item.refunded_amount - item.pending_refund_amount)


def refund_destination(order: OrderView) -> str:
    if order.payment_method == "gift_card":
        return "gift card balance"
    return "original payment method"


def days_since_delivery(order: OrderView, now: datetime, config: PolicyConfig) -> int | None:
    if order.delivered_at is None:
        return None
    return (config.local_date(now) - config.local_date(order.delivered_at)).days


def check_refund(
    order: OrderView,
    *,
    item_names: list[str] | None,
    amount: Decimal | None,
    now: datetime,
    config: PolicyConfig,
    refunded_today: Decimal = ZERO,
    reserved: Decimal = ZERO,
    approved: bool = False,
) -> PolicyDecision:
    """Decide a refund of the whole order (no items, no amount), of items, or of an amount.

    ``refunded_today`` is what the customer already received through the chat today
    (plus refunds in flight); ``reserved`` is what other in-flight or pending actions
    already hold on this order. ``approved`` skips the approval step (a human said yes).
    On success ``details`` holds the plan: amount, currency, item_ids, items, destination.
    """
    currency = order.currency
    if currency != config.currency:
        return refuse(INVALID_ARGUMENTS, f"Orders in {currency} cannot be refunded here.")
    remaining_order = order.paid - order.refunded - order.pending_refunds
    if order.paid > 0 and remaining_order <= 0:
        return refuse(ALREADY_REFUNDED, "This order has already been refunded in full.",
                      refunded=money(order.refunded), currency=currency)
    if order.paid > 0 and remaining_order - reserved <= 0:
        return refuse(
            ALREADY_REFUNDED,
            "A refund for the rest of this order is already in progress.",
            in_progress=True,
            refunded=money(order.refunded),
            currency=currency,
        )
    if order.status == "cancelled":
        return refuse(ALREADY_CANCELLED, "This order was cancelled; nothing is left to refund.")
    if order.status != "delivered" or order.delivered_at is None:
        hint = (
            " It can still be cancelled instead."
            if order.status in config.cancellable_statuses
            else " It can be returned once it has arrived."
        )
        return refuse(
            NOT_DELIVERED, "The order has not been delivered yet." + hint, status=order.status
        )
    days = days_since_delivery(order, now, config)
    assert days is not None
    if days > config.refund_window_days:
        return refuse(
            REFUND_WINDOW_EXPIRED,
            f"The return window is {config.refund_window_days} days from delivery; this "
            f"order was delivered {days} days ago.",
            days_since_delivery=days,
            window_days=config.refund_window_days,
        )

    excluded: list[dict[str, str]] = []
    if item_names:
        chosen, unknown = resolve_items(order, item_names)
        if unknown:
            return refuse(
                INVALID_ARGUMENTS,
                "Some items are not part of this order: " + ", ".join(unknown) + ".",
                unknown_items=unknown,
                order_items=[i.name for i in order.items],
            )
        blocked = [(i, item_block_reason(i, config)) for i in chosen]
        refused = [{"name": i.name, "reason": r} for i, r in blocked if r is not None]
        if refused:
            return refuse(
                NON_REFUNDABLE_ITEM,
                " ".join(dict.fromkeys(r["reason"] for r in refused)),
                items=refused,
            )
        done = [i.name for i in chosen if item_remaining(i) <= 0]
        if done:
            return refuse(
                ALREADY_REFUNDED,
                "Already refunded: " + ", ".join(done) + ".",
                items=done,
                refunded=money(order.refunded),
                currency=currency,
            )
        eligible = chosen
    else:
        eligible = []
        for item in order.items:
            reason = item_block_reason(item, config)
            if reason is not None:
                excluded.append({"name": item.name, "reason": reason})
            elif item_remaining(item) > 0:
                eligible.append(item)
        if not eligible:
            if excluded:
                return refuse(
                    NON_REFUNDABLE_ITEM,
                    " ".join(dict.fromkeys(e["reason"] for e in excluded)),
                    items=excluded,
                )
            return refuse(ALREADY_REFUNDED, "Every item of this order was already refunded.",
                          refunded=money(order.refunded), currency=currency)

    cap = min(sum((item_remaining(i) for i in eligible), ZERO), remaining_order - reserved)
    cap = max(ZERO, cap).quantize(CENT)
    if amount is not None:
        if amount <= 0:
            return refuse(INVALID_ARGUMENTS, "The refund amount must be positive.")
        if amount > cap:
            return refuse(
                AMOUNT_EXCEEDS_REFUNDABLE,
                f"At most {money(cap)} {currency} can be refunded "
                + ("for these items." if item_names else "on this order."),
                max_refundable=money(cap),
                currency=currency,
            )
        refund_amount = amount.quantize(CENT)
    else:
        refund_amount = cap
    if refund_amount <= 0:
        return refuse(ALREADY_REFUNDED, "Nothing is left to refund on this order.",
                      refunded=money(order.refunded), currency=currency)

    allowance = max(ZERO, config.daily_refund_limit - refunded_today)
    if refund_amount > allowance:
        return refuse(
            DAILY_LIMIT_EXCEEDED,
            f"Refunds through the chat are limited to {money(config.daily_refund_limit)} "
            f"{currency} per day; {money(allowance)} {currency} remain today.",
            remaining_today=money(allowance),
            currency=currency,
        )

    plan = {
        "amount": money(refund_amount),
        "currency": currency,
        # always attribute the refund to lines, so a later item refund sees it
        "item_ids": [i.id for i in eligible],
        "items": [
            {"id": i.id, "name": i.name, "quantity": i.quantity,
             "refundable": money(item_remaining(i))}
            for i in eligible
        ],
        "excluded_items": excluded,
        "destination": refund_destination(order),
        "max_refundable": money(cap),
    }
    if refund_amount > config.approval_threshold and not approved:
        return PolicyDecision(
            allowed=True,
            code=NEEDS_APPROVAL,
            reason=f"Refunds above {money(config.approval_threshold)} {currency} are "
            "reviewed by a team member before they are issued.",
            needs_approval=True,
            details=plan,
        )
    return PolicyDecision(allowed=True, code=OK, reason="The refund is within policy.",
                          details=plan)


# --- cancellation -----------------------------------------------------------------------


def check_cancel(order: OrderView, config: PolicyConfig) -> PolicyDecision:
    if order.status == "cancelled":
        return refuse(ALREADY_CANCELLED, "This order is already cancelled.")
    if order.status not in config.cancellable_statuses:
        return refuse(
            CANNOT_CANCEL_SHIPPED,
            "The order has already shipped, so it can no longer be cancelled; the parcel "
            "can be refused on delivery or returned.",
            status=order.status,
        )
    release = max(ZERO, order.paid - order.refunded - order.pending_refunds)
    return PolicyDecision(
        allowed=True,
        code=OK,
        reason="The order has not shipped yet and can be cancelled.",
        details={
            "refund_amount": money(release),
            "currency": order.currency,
            "destination": refund_destination(order),
        },
    )


# --- address change ---------------------------------------------------------------------


def check_address_change(
    order: OrderView, address: dict[str, Any], config: PolicyConfig
) -> PolicyDecision:
    if order.status == "cancelled":
        return refuse(ALREADY_CANCELLED, "This order is cancelled.")
    if order.status not in config.address_change_statuses:
        return refuse(
            ADDRESS_CHANGE_AFTER_SHIPPING,
            "The shipping address can only be changed before the order ships.",
            status=order.status,
        )
    country = str(address.get("country", "")).upper()
    if config.address_same_country_only and country != order.ship_country.upper():
        return refuse(
            ADDRESS_COUNTRY_CHANGE,
            "The shipping address can only be changed within the same country.",
        )
    return PolicyDecision(
        allowed=True,
        code=OK,
        reason="The order has not shipped yet; the address stays in the same country.",
        details={"address": dict(address)},
    )
