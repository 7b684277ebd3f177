"""`CommerceBackend` over the Cedar Lane Goods demo tables (tools/shop/models.py).

Writes are exactly-once per idempotency key and safe under concurrency:

* every write first takes the order's write lock (an ``UPDATE`` of the order row:
  SQLite's database write lock, a row lock on Postgres), then re-reads the state it
  checks, so two different refunds cannot both pass the "never more than paid minus
  refunded" check;
* a refund's rows carry the idempotency key (``key`` for the first row, ``key:2``,
  ``key:3``... for further item rows); ``Refund.idempotency_key`` is UNIQUE, so a
  duplicate insert raises ``IntegrityError``, which is turned into "return the first
  result" (``duplicate=True``);
* ``lookup_execution`` answers, without writing, whether a write with a given key took
  effect, for settling actions a killed process left unfinished.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from tools.backend import (
    BackendRejected,
    CustomerView,
    ItemView,
    OrderView,
    shipping_address_json,
)
from tools.shop.models import (
    PAID_PAYMENT_STATUSES,
    Customer,
    Order,
    OrderStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    utcnow,
)

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def _sum(values: Any) -> Decimal:
    return sum(values, ZERO).quantize(CENT)


class DemoShopBackend:
    """The demo shop database as a commerce backend."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    # --- reads --------------------------------------------------------------------------

    def get_order(self, number: str) -> OrderView | None:
        with Session(self.engine) as session:
            order = session.exec(select(Order).where(col(Order.number) == number)).first()
            return self._view(order) if order is not None else None

    def list_orders(self, customer_id: str, limit: int = 5) -> list[OrderView]:
        limit = max(1, min(int(limit), 50))
        with Session(self.engine) as session:
            customer = session.exec(
                select(Customer).where(col(Customer.external_id) == customer_id)
            ).first()
            if customer is None:
                return []
            orders = session.exec(
                select(Order)
                .where(col(Order.customer_id) == customer.id)
                .order_by(col(Order.created_at).desc(), col(Order.number).desc())
                .limit(limit)
            ).all()
            return [self._view(o) for o in orders]

    def customer_by_email(self, email: str) -> CustomerView | None:
        normalised = email.strip().lower()
        if not normalised:
            return None
        with Session(self.engine) as session:
            customer = session.exec(
                select(Customer).where(func.lower(Customer.email) == normalised)
            ).first()
            if customer is None:
                return None
            return CustomerView(
                customer_id=customer.external_id,
                email=customer.email,
                name=customer.name,
                language=customer.language,
                country=customer.country,
            )

    # --- writes -------------------------------------------------------------------------

    def issue_refund(
        self,
        order_number: str,
        amount: Decimal,
        item_ids: list[str],
        reason: str,
        idempotency_key: str,
    ) -> dict[str, Any]:
        amount = Decimal(str(amount)).quantize(CENT)
        if amount <= 0:
            raise BackendRejected("refund amount must be positive", code="invalid_arguments")
        if not idempotency_key:
            raise BackendRejected("an idempotency key is required", code="invalid_arguments")
        with Session(self.engine) as session:
            try:
                if not self._lock_order(session, order_number):
                    raise BackendRejected("order not found", code="not_found")
                existing = self._refunds_for_key(session, idempotency_key)
                if existing:
                    result = self._refund_result(session, order_number, existing, duplicate=True)
                    session.rollback()
                    return result
                result = self._insert_refund(
                    session, order_number, amount, item_ids, reason, idempotency_key
                )
                session.commit()
                return result
            except IntegrityError:
                session.rollback()
                existing = self._refunds_for_key(session, idempotency_key)
                if not existing:
                    raise
                return self._refund_result(session, order_number, existing, duplicate=True)

    def cancel_order(self, number: str, idempotency_key: str) -> dict[str, Any]:
        with Session(self.engine) as session:
            try:
                if not self._lock_order(session, number):
                    raise BackendRejected("order not found", code="not_found")
                order = self._order(session, number)
                if order.status is OrderStatus.CANCELLED:
                    result = self._cancelled_result(session, order, idempotency_key)
                    session.rollback()
                    return result
                if order.status not in (OrderStatus.PENDING, OrderStatus.PAID):
                    raise BackendRejected(
                        "the order has shipped and can no longer be cancelled",
                        code="cannot_cancel_shipped",
                    )
                paid, issued, pending = self._money(order)
                remaining = paid - issued - pending
                order.status = OrderStatus.CANCELLED
                session.add(order)
                refunded = ZERO
                if remaining > 0:
                    assert order.id is not None
                    session.add(
                        Refund(
                            order_id=order.id,
                            amount=remaining,
                            reason="Order cancelled by the customer before shipping",
                            status=RefundStatus.ISSUED,
                            idempotency_key=idempotency_key,
                            created_at=self.clock(),
                        )
                    )
                    refunded = remaining
                    self._update_payment_status(order, issued + remaining, paid)
                session.commit()
                return {
                    "order_number": number,
                    "status": "cancelled",
                    "refunded_amount": str(refunded),
                    "currency": order.currency,
                    "duplicate": False,
                }
            except IntegrityError:
                session.rollback()
                return {"order_number": number, "status": "cancelled", "duplicate": True}

    def update_address(
        self, number: str, address: dict[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        with Session(self.engine) as session:
            if not self._lock_order(session, number):
                raise BackendRejected("order not found", code="not_found")
            order = self._order(session, number)
            if order.status not in (OrderStatus.PENDING, OrderStatus.PAID):
                session.rollback()
                code = (
                    "already_cancelled"
                    if order.status is OrderStatus.CANCELLED
                    else "address_change_after_shipping"
                )
                raise BackendRejected("the address can no longer be changed", code=code)
            country = str(address.get("country", "")).upper()
            if country != order.ship_country:
                session.rollback()
                raise BackendRejected(
                    "the address must stay in the same country", code="address_country_change"
                )
            order.ship_line1 = str(address["line1"])
            order.ship_line2 = address.get("line2") or None
            order.ship_postal_code = str(address["postal_code"])
            order.ship_city = str(address["city"])
            if address.get("name"):
                order.ship_name = str(address["name"])
            session.add(order)
            session.commit()
            return self._address_result(order, duplicate=False)

    # --- reconciliation -----------------------------------------------------------------

    def lookup_execution(
        self, tool: str, order_number: str, idempotency_key: str, args: dict[str, Any]
    ) -> dict[str, Any] | None:
        """What a retry of the write would return as a duplicate, without writing; None
        when it did not take effect (`tools.backend.ExecutionLookup`).

        A refund is found by its key. A cancellation and an address change are found by the
        order's state, which is also all a retry goes by: cancelling a cancelled order
        returns the cancellation, and setting the address it already has changes nothing.
        """
        with Session(self.engine) as session:
            order = session.exec(select(Order).where(col(Order.number) == order_number)).first()
            if order is None:
                return None
            if tool == "refund_order":
                refunds = self._refunds_for_key(session, idempotency_key)
                if not refunds:
                    return None
                return self._refund_result(session, order_number, refunds, duplicate=True)
            if tool == "cancel_order":
                if order.status is not OrderStatus.CANCELLED:
                    return None
                return self._cancelled_result(session, order, idempotency_key)
            if tool == "update_shipping_address":
                wanted = (args.get("line1"), args.get("line2") or None, args.get("postal_code"),
                          args.get("city"), str(args.get("country", "")).upper())
                current = (order.ship_line1, order.ship_line2, order.ship_postal_code,
                           order.ship_city, order.ship_country)
                return self._address_result(order, duplicate=True) if wanted == current else None
        raise ValueError(f"{tool!r} is not a write of the demo shop")

    # --- internals ----------------------------------------------------------------------

    @staticmethod
    def _lock_order(session: Session, number: str) -> bool:
        """Take the order's write lock first, so what is read next is current."""
        stmt = (
            update(Order)
            .where(col(Order.number) == number)
            .values(number=col(Order.number))
        )
        result = session.connection().execute(stmt)
        return bool(result.rowcount)

    @staticmethod
    def _order(session: Session, number: str) -> Order:
        return session.exec(select(Order).where(col(Order.number) == number)).one()

    @staticmethod
    def _refunds_for_key(session: Session, key: str) -> list[Refund]:
        return list(
            session.exec(
                select(Refund)
                .where(
                    or_(
                        col(Refund.idempotency_key) == key,
                        col(Refund.idempotency_key).startswith(f"{key}:", autoescape=True),
                    )
                )
                .order_by(col(Refund.id))
            ).all()
        )

    def _cancelled_result(self, session: Session, order: Order, key: str) -> dict[str, Any]:
        """A cancelled order as a duplicate cancellation returns it."""
        refunds = self._refunds_for_key(session, key)
        return {
            "order_number": order.number,
            "status": "cancelled",
            "refunded_amount": str(_sum(r.amount for r in refunds)),
            "currency": order.currency,
            "duplicate": True,
        }

    @staticmethod
    def _address_result(order: Order, *, duplicate: bool) -> dict[str, Any]:
        return {
            "order_number": order.number,
            "shipping_address": shipping_address_json(order),
            "duplicate": duplicate,
        }

    @staticmethod
    def _money(order: Order) -> tuple[Decimal, Decimal, Decimal]:
        paid = _sum(p.amount for p in order.payments if p.status in PAID_PAYMENT_STATUSES)
        issued = _sum(r.amount for r in order.refunds if r.status is RefundStatus.ISSUED)
        pending = _sum(
            r.amount for r in order.refunds if r.status is RefundStatus.PENDING_APPROVAL
        )
        return paid, issued, pending

    @staticmethod
    def _update_payment_status(order: Order, refunded: Decimal, paid: Decimal) -> None:
        for payment in order.payments:
            if payment.status in PAID_PAYMENT_STATUSES:
                payment.status = (
                    PaymentStatus.REFUNDED if refunded >= paid else PaymentStatus.PARTIALLY_REFUNDED
                )

    def _insert_refund(
        self,
        session: Session,
        order_number: str,
        amount: Decimal,
        item_ids: list[str],
        reason: str,
        key: str,
    ) -> dict[str, Any]:
        order = self._order(session, order_number)
        assert order.id is not None
        paid, issued, pending = self._money(order)
        if amount > paid - issued - pending:
            raise BackendRejected(
                "the amount exceeds what was paid minus what was already refunded",
                code="amount_exceeds_refundable",
            )
        lines = {str(i.id): i for i in order.items}
        allocation: list[tuple[int | None, Decimal]] = []
        if item_ids:
            left = amount
            for item_id in dict.fromkeys(item_ids):
                line = lines.get(str(item_id))
                if line is None:
                    raise BackendRejected("unknown order line", code="invalid_arguments")
                used = _sum(
                    r.amount
                    for r in order.refunds
                    if r.order_item_id == line.id and r.status is not RefundStatus.REJECTED
                )
                share = min(left, line.line_total - used)
                if share > 0:
                    allocation.append((line.id, share))
                    left -= share
            if left > 0:
                raise BackendRejected(
                    "the amount exceeds the refundable amount of these items",
                    code="amount_exceeds_refundable",
                )
        else:
            allocation.append((None, amount))
        now = self.clock()
        rows = [
            Refund(
                order_id=order.id,
                order_item_id=item_id,
                amount=share,
                reason=(reason or "Refund requested through support")[:500],
                status=RefundStatus.ISSUED,
                idempotency_key=key if n == 0 else f"{key}:{n + 1}",
                created_at=now,
            )
            for n, (item_id, share) in enumerate(allocation)
        ]
        session.add_all(rows)
        self._update_payment_status(order, issued + amount, paid)
        session.flush()
        return self._refund_result(session, order_number, rows, duplicate=False)

    @staticmethod
    def _refund_result(
        session: Session, order_number: str, rows: list[Refund], *, duplicate: bool
    ) -> dict[str, Any]:
        return {
            "order_number": order_number,
            "refund_ids": [r.id for r in rows],
            "amount": str(_sum(r.amount for r in rows)),
            "currency": "EUR",
            "status": rows[0].status.value if rows else "issued",
            "items": [
                {"item_id": str(r.order_item_id), "amount": str(r.amount)}
                for r in rows
                if r.order_item_id is not None
            ],
            "duplicate": duplicate,
        }

    def _view(self, order: Order) -> OrderView:
        paid, issued, pending = self._money(order)
        items = []
        for line in sorted(order.items, key=lambda i: i.id or 0):
            line_refunds = [r for r in order.refunds if r.order_item_id == line.id]
            items.append(
                ItemView(
                    id=str(line.id),
                    sku=line.sku,
                    name=line.name,
                    category=line.category.value,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    final_sale=line.final_sale,
                    personalised=line.personalised,
                    opened=line.opened,
                    refunded_amount=_sum(
                        r.amount for r in line_refunds if r.status is RefundStatus.ISSUED
                    ),
                    pending_refund_amount=_sum(
                        r.amount
                        for r in line_refunds
                        if r.status is RefundStatus.PENDING_APPROVAL
                    ),
                )
            )
        captured: list[Payment] = [
            p for p in order.payments if p.status in PAID_PAYMENT_STATUSES
        ]
        payments = captured or list(order.payments)
        method = payments[0] if payments else None
        return OrderView(
            number=order.number,
            customer_id=order.customer.external_id,
            status=order.status.value,
            currency=order.currency,
            total=order.total,
            paid=paid,
            refunded=issued,
            pending_refunds=pending,
            shipping_fee=order.shipping_fee,
            payment_method=method.method.value if method is not None else None,
            created_at=order.created_at,
            shipped_at=order.shipped_at,
            delivered_at=order.delivered_at,
            items=items,
            ship_name=order.ship_name,
            ship_line1=order.ship_line1,
            ship_line2=order.ship_line2,
            ship_postal_code=order.ship_postal_code,
            ship_city=order.ship_city,
            ship_country=order.ship_country,
            carrier=order.carrier,
            tracking_number=order.tracking_number,
        )
