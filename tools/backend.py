"""The commerce backend the action layer talks to: a Protocol, its views and its errors.

`ActionService` (tools/service.py) only ever sees these plain views, never ORM rows
or raw HTTP payloads. Two implementations ship with the project:

* `tools.demo_backend.DemoShopBackend`: the Cedar Lane Goods SQLModel tables;
* `tools.http_backend.HttpCommerceBackend`: a REST adapter for a real shop.

Every write takes an ``idempotency_key``: calling a write twice with the same key
must have the effect of calling it once and return the first result. A backend may
also implement `ExecutionLookup` (the demo shop does) to say whether a write with a
given key took effect.

Money is ``Decimal``; datetimes are timezone-aware UTC. ``order_view_to_json`` and
``order_view_from_json`` define the JSON wire format shared with the REST adapter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable


class BackendError(Exception):
    """Base class of backend failures."""

    code = "backend_error"


class BackendUnavailable(BackendError):
    """The backend could not be reached or kept failing (timeouts, 5xx, 429) after retries.

    The write may or may not have happened remotely; retrying later with the same
    idempotency key is safe.
    """

    code = "backend_unavailable"

    def __init__(self, message: str, *, attempts: int = 0, status_code: int | None = None):
        super().__init__(message)
        self.attempts = attempts
        self.status_code = status_code


class BackendRejected(BackendError):
    """The backend refused the operation (a 4xx, or a state check inside the backend)."""

    def __init__(self, message: str, *, code: str = "backend_rejected",
                 status_code: int | None = None):
        super().__init__(message)
        self.code = code
        self.status_code = status_code


@dataclass(frozen=True)
class ItemView:
    """One order line. ``id`` is the backend's line id (a string on the wire)."""

    id: str
    sku: str
    name: str
    category: str
    quantity: int
    unit_price: Decimal
    final_sale: bool = False
    personalised: bool = False
    opened: bool = False
    refunded_amount: Decimal = Decimal("0.00")
    """Issued refunds on this line."""
    pending_refund_amount: Decimal = Decimal("0.00")
    """Refunds on this line still waiting in the shop's own approval queue."""

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class OrderView:
    """An order as the action layer sees it; ``customer_id`` is the external id."""

    number: str
    customer_id: str
    status: str
    currency: str
    total: Decimal
    paid: Decimal
    """Money actually collected (captured payments)."""
    refunded: Decimal
    """Issued refunds, order-level and item-level."""
    delivered_at: datetime | None
    shipped_at: datetime | None
    items: list[ItemView] = field(default_factory=list)
    ship_name: str = ""
    ship_line1: str = ""
    ship_line2: str | None = None
    ship_postal_code: str = ""
    ship_city: str = ""
    ship_country: str = ""
    carrier: str | None = None
    tracking_number: str | None = None
    created_at: datetime | None = None
    shipping_fee: Decimal = Decimal("0.00")
    pending_refunds: Decimal = Decimal("0.00")
    """Refunds waiting in the shop's own approval queue (reserved, not yet issued)."""
    payment_method: str | None = None


@dataclass(frozen=True)
class CustomerView:
    """A shop customer."""

    customer_id: str
    email: str
    name: str
    language: str = "en"
    country: str = ""


@runtime_checkable
class CommerceBackend(Protocol):
    """What the action layer needs from a shop. Writes are idempotent per key."""

    def get_order(self, number: str) -> OrderView | None: ...

    def list_orders(self, customer_id: str, limit: int = 5) -> list[OrderView]: ...

    def customer_by_email(self, email: str) -> CustomerView | None: ...

    def issue_refund(
        self,
        order_number: str,
        amount: Decimal,
        item_ids: list[str],
        reason: str,
        idempotency_key: str,
    ) -> dict[str, Any]: ...

    def cancel_order(self, number: str, idempotency_key: str) -> dict[str, Any]: ...

    def update_address(
        self, number: str, address: dict[str, Any], idempotency_key: str
    ) -> dict[str, Any]: ...


@runtime_checkable
class ExecutionLookup(Protocol):
    """Optional capability: did a write with this idempotency key take effect?

    Used to settle an action whose process died between calling the shop and recording
    the outcome (`ActionService.reconcile_interrupted`). A backend without it leaves such
    an action unknown, settled as failed for a human to check.
    """

    def lookup_execution(
        self, tool: str, order_number: str, idempotency_key: str, args: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The write's result as a retry with the same key would return it, without
        writing; None when the shop has no trace of it; `BackendError` when it cannot tell.

        ``tool`` is ``refund_order``, ``cancel_order`` or ``update_shipping_address``;
        ``args`` are the action's normalised arguments (the new address, for instance).
        """
        ...


# --- JSON wire format -------------------------------------------------------------------


def _dt_to_json(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt_from_json(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"naive datetime in backend payload: {value!r}")
    return parsed


def _dec(value: Any, default: str = "0.00") -> Decimal:
    return Decimal(str(value if value is not None else default))


def shipping_address_json(order: Any) -> dict[str, Any]:
    """The shipping address of an order (an `OrderView` or the shop's row: anything with
    the ``ship_*`` attributes) as the wire format writes it."""
    return {
        "name": order.ship_name,
        "line1": order.ship_line1,
        "line2": order.ship_line2,
        "postal_code": order.ship_postal_code,
        "city": order.ship_city,
        "country": order.ship_country,
    }


def order_view_to_json(order: OrderView) -> dict[str, Any]:
    """An order as JSON (decimals as strings, datetimes ISO 8601)."""
    return {
        "number": order.number,
        "customer_id": order.customer_id,
        "status": order.status,
        "currency": order.currency,
        "total": str(order.total),
        "paid": str(order.paid),
        "refunded": str(order.refunded),
        "pending_refunds": str(order.pending_refunds),
        "shipping_fee": str(order.shipping_fee),
        "payment_method": order.payment_method,
        "created_at": _dt_to_json(order.created_at),
        "shipped_at": _dt_to_json(order.shipped_at),
        "delivered_at": _dt_to_json(order.delivered_at),
        "shipping_address": shipping_address_json(order),
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "items": [
            {
                "id": i.id,
                "sku": i.sku,
                "name": i.name,
                "category": i.category,
                "quantity": i.quantity,
                "unit_price": str(i.unit_price),
                "final_sale": i.final_sale,
                "personalised": i.personalised,
                "opened": i.opened,
                "refunded_amount": str(i.refunded_amount),
                "pending_refund_amount": str(i.pending_refund_amount),
            }
            for i in order.items
        ],
    }


def order_view_from_json(data: dict[str, Any]) -> OrderView:
    """Parse `order_view_to_json`'s format; raises ``ValueError``/``KeyError`` when malformed."""
    address = data.get("shipping_address") or {}
    items = [
        ItemView(
            id=str(i["id"]),
            sku=str(i.get("sku", "")),
            name=str(i["name"]),
            category=str(i.get("category", "")),
            quantity=int(i.get("quantity", 1)),
            unit_price=_dec(i["unit_price"]),
            final_sale=bool(i.get("final_sale", False)),
            personalised=bool(i.get("personalised", False)),
            opened=bool(i.get("opened", False)),
            refunded_amount=_dec(i.get("refunded_amount")),
            pending_refund_amount=_dec(i.get("pending_refund_amount")),
        )
        for i in data.get("items", [])
    ]
    return OrderView(
        number=str(data["number"]),
        customer_id=str(data["customer_id"]),
        status=str(data["status"]),
        currency=str(data.get("currency", "EUR")),
        total=_dec(data["total"]),
        paid=_dec(data.get("paid")),
        refunded=_dec(data.get("refunded")),
        pending_refunds=_dec(data.get("pending_refunds")),
        shipping_fee=_dec(data.get("shipping_fee")),
        payment_method=data.get("payment_method"),
        created_at=_dt_from_json(data.get("created_at")),
        shipped_at=_dt_from_json(data.get("shipped_at")),
        delivered_at=_dt_from_json(data.get("delivered_at")),
        ship_name=str(address.get("name", "")),
        ship_line1=str(address.get("line1", "")),
        ship_line2=address.get("line2"),
        ship_postal_code=str(address.get("postal_code", "")),
        ship_city=str(address.get("city", "")),
        ship_country=str(address.get("country", "")),
        carrier=data.get("carrier"),
        tracking_number=data.get("tracking_number"),
        items=items,
    )


def customer_view_to_json(customer: CustomerView) -> dict[str, Any]:
    return {
        "id": customer.customer_id,
        "email": customer.email,
        "name": customer.name,
        "language": customer.language,
        "country": customer.country,
    }


def customer_view_from_json(data: dict[str, Any]) -> CustomerView:
    return CustomerView(
        customer_id=str(data["id"]),
        email=str(data["email"]),
        name=str(data.get("name", "")),
        language=str(data.get("language", "en")),
        country=str(data.get("country", "")),
    )
