"""The demo shop seed: volume, consistency, idempotency and the edge-case orders."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import Session, func, select

from supportgraph.db import init_db, make_engine, session_scope
from tools.shop.models import (
    PAID_PAYMENT_STATUSES,
    Customer,
    ItemCategory,
    Order,
    OrderItem,
    OrderStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundStatus,
    ShippingMethod,
)
from tools.shop.seed import SCENARIO_ORDERS, SeedSummary, seed_demo_shop

TODAY = date(2026, 3, 15)
RETURN_WINDOW_DAYS = 30


def _engine(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    return engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = _engine(tmp_path / "shop.db")
    with session_scope(engine) as session:
        seed_demo_shop(session, today=TODAY)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


def _count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def _order(session: Session, scenario: str) -> Order:
    return session.exec(select(Order).where(Order.number == SCENARIO_ORDERS[scenario])).one()


def _days_since_delivery(order: Order) -> int:
    assert order.delivered_at is not None
    return (TODAY - order.delivered_at.date()).days


def _expected_fee(order: Order) -> Decimal:
    if order.ship_country == "FR":
        if order.shipping_method is ShippingMethod.EXPRESS:
            return Decimal("12.90")
        return Decimal("0") if order.subtotal >= 50 else Decimal("4.90")
    if order.ship_country in {"BE", "DE", "ES"}:
        return Decimal("0") if order.subtotal >= 120 else Decimal("9.90")
    assert order.ship_country in {"GB", "CH"}
    return Decimal("19.90")


def _paid(order: Order) -> Decimal:
    return sum((p.amount for p in order.payments if p.status in PAID_PAYMENT_STATUSES), Decimal(0))


def test_seed_volume_and_summary(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "shop.db")
    with session_scope(engine) as session:
        summary = seed_demo_shop(session, today=TODAY)
    with Session(engine) as session:
        assert summary == SeedSummary(
            seeded=True,
            customers=_count(session, Customer),
            orders=_count(session, Order),
            order_items=_count(session, OrderItem),
            payments=_count(session, Payment),
            refunds=_count(session, Refund),
        )
        customers = session.exec(select(Customer)).all()
    assert summary.customers >= 22
    assert summary.orders >= 64
    assert {c.language for c in customers} == {"en", "fr"}
    assert {c.country for c in customers} == {"FR", "BE", "DE", "GB", "CH", "ES"}
    assert all(c.email.endswith(("@example.com", "@example.fr")) for c in customers)
    engine.dispose()


def test_seeding_twice_adds_nothing(engine: Engine) -> None:
    with Session(engine) as session:
        before = [_count(session, m) for m in (Customer, Order, OrderItem, Payment, Refund)]
    with session_scope(engine) as session:
        assert seed_demo_shop(session, today=TODAY) == SeedSummary(seeded=False)
    with session_scope(engine) as session:
        assert seed_demo_shop(session) == SeedSummary(seeded=False)
    with Session(engine) as session:
        after = [_count(session, m) for m in (Customer, Order, OrderItem, Payment, Refund)]
    assert after == before


def test_seed_is_deterministic(tmp_path: Path, session: Session) -> None:
    other = _engine(tmp_path / "other.db")
    with session_scope(other) as other_session:
        seed_demo_shop(other_session, today=TODAY)

    def snapshot(s: Session) -> list[tuple[object, ...]]:
        rows = s.exec(select(Order).order_by(Order.number)).all()
        return [(o.number, o.status, o.total, o.created_at, o.delivered_at) for o in rows]

    with Session(other) as other_session:
        assert snapshot(other_session) == snapshot(session)
    other.dispose()


def test_every_order_status_present(session: Session) -> None:
    statuses = set(session.exec(select(Order.status)).all())
    assert statuses == set(OrderStatus)


def test_order_numbers_match_format(session: Session) -> None:
    numbers = session.exec(select(Order.number)).all()
    assert all(re.fullmatch(r"CL-\d{6}", n) for n in numbers)
    assert set(SCENARIO_ORDERS.values()) <= set(numbers)


def test_totals_are_consistent(session: Session) -> None:
    for order in session.exec(select(Order)).all():
        assert order.items, order.number
        assert order.currency == "EUR"
        items_sum = sum((i.unit_price * i.quantity for i in order.items), Decimal(0))
        assert order.subtotal == items_sum, order.number
        assert order.shipping_fee == _expected_fee(order), order.number
        assert order.total == order.subtotal + order.shipping_fee, order.number
        captured = [p for p in order.payments if p.status in PAID_PAYMENT_STATUSES]
        assert all(p.amount == order.total for p in captured), order.number
        if order.status in {OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED}:
            assert len(captured) == 1, order.number
            assert order.paid_at is not None
        if order.status is OrderStatus.PENDING:
            assert not captured and order.paid_at is None, order.number


def test_refunds_never_exceed_paid(session: Session) -> None:
    for order in session.exec(select(Order)).all():
        refunds = [r for r in order.refunds if r.status is not RefundStatus.REJECTED]
        assert sum((r.amount for r in refunds), Decimal(0)) <= _paid(order), order.number
        lines = {i.id: i for i in order.items}
        for refund in order.refunds:
            if refund.order_item_id is not None:
                assert refund.amount <= lines[refund.order_item_id].line_total


def test_timeline_is_ordered_and_utc(session: Session) -> None:
    end_of_today = datetime.combine(TODAY, datetime.max.time(), tzinfo=UTC)
    for order in session.exec(select(Order)).all():
        stamps = [order.created_at, order.paid_at, order.shipped_at, order.delivered_at]
        present = [s for s in stamps if s is not None]
        assert all(s.tzinfo is not None and s.utcoffset() == UTC.utcoffset(s) for s in present)
        assert present == sorted(present), order.number
        assert present[-1] <= end_of_today
        assert (order.delivered_at is not None) == (order.status is OrderStatus.DELIVERED)
        shipped = order.status in {OrderStatus.SHIPPED, OrderStatus.DELIVERED}
        assert (order.shipped_at is not None) == shipped, order.number
        assert (order.tracking_number is not None) == shipped, order.number
        assert order.customer.created_at < order.created_at


def test_delivered_orders_inside_and_outside_return_window(session: Session) -> None:
    delivered = session.exec(select(Order).where(Order.status == OrderStatus.DELIVERED)).all()
    ages = {o.number: _days_since_delivery(o) for o in delivered}
    assert any(age <= RETURN_WINDOW_DAYS for age in ages.values())
    assert any(age > RETURN_WINDOW_DAYS for age in ages.values())
    assert ages[SCENARIO_ORDERS["delivered_5_days_ago_refundable"]] == 5
    assert ages[SCENARIO_ORDERS["delivered_30_days_ago_boundary"]] == 30
    assert ages[SCENARIO_ORDERS["delivered_31_days_ago_just_outside"]] == 31
    assert ages[SCENARIO_ORDERS["delivered_45_days_ago_outside_window"]] == 45


def test_window_follows_today(tmp_path: Path) -> None:
    engine = _engine(tmp_path / "today.db")
    with session_scope(engine) as session:
        seed_demo_shop(session)
    with Session(engine) as session:
        order = _order(session, "delivered_5_days_ago_refundable")
        assert order.delivered_at is not None
        assert (date.today() - order.delivered_at.date()).days == 5
    engine.dispose()


def test_item_edge_cases(session: Session) -> None:
    final_sale = _order(session, "final_sale_item")
    assert any(i.final_sale for i in final_sale.items)
    assert any(not i.final_sale for i in final_sale.items)
    gift = _order(session, "gift_card_order")
    assert {i.category for i in gift.items} == {ItemCategory.GIFT_CARD}
    assert any(i.personalised for i in _order(session, "personalised_item").items)
    (earbuds,) = _order(session, "opened_earbuds").items
    assert earbuds.opened and "earbuds" in earbuds.name.lower()
    multi = _order(session, "multi_item_mixed_categories")
    assert len({i.category for i in multi.items}) >= 4
    for scenario in SCENARIO_ORDERS:
        if scenario.startswith("delivered_") and "days_ago" in scenario:
            items = _order(session, scenario).items
            assert not any(i.final_sale or i.personalised or i.opened for i in items)


def test_refund_edge_cases(session: Session) -> None:
    partial = _order(session, "partially_refunded")
    issued = sum((r.amount for r in partial.refunds), Decimal(0))
    assert Decimal(0) < issued < partial.total
    assert partial.payments[0].status is PaymentStatus.PARTIALLY_REFUNDED
    full = _order(session, "fully_refunded")
    assert sum((r.amount for r in full.refunds), Decimal(0)) == full.total
    assert full.payments[0].status is PaymentStatus.REFUNDED
    (pending,) = _order(session, "refund_pending_approval").refunds
    assert pending.status is RefundStatus.PENDING_APPROVAL and pending.amount > 500
    (rejected,) = _order(session, "refund_rejected_final_sale").refunds
    assert rejected.status is RefundStatus.REJECTED
    assert _order(session, "high_value_over_500").total > 500
    assert _order(session, "high_value_over_1000").total > 1000


def test_daily_limit_customer_has_several_refundable_orders(session: Session) -> None:
    orders = [_order(session, f"same_customer_daily_limit_{n}") for n in (1, 2, 3)]
    assert len({o.customer_id for o in orders}) == 1
    assert all(_days_since_delivery(o) <= RETURN_WINDOW_DAYS for o in orders)
    assert all(o.total <= 500 for o in orders)
    assert sum((o.total for o in orders), Decimal(0)) > 1000


def test_payment_and_fulfilment_edge_cases(session: Session) -> None:
    transfer = _order(session, "pending_bank_transfer")
    assert transfer.status is OrderStatus.PENDING
    assert [(p.method, p.status) for p in transfer.payments] == [
        (PaymentMethod.BANK_TRANSFER, PaymentStatus.PENDING)
    ]
    failed = _order(session, "failed_payment")
    assert failed.status is OrderStatus.PENDING
    assert [p.status for p in failed.payments] == [PaymentStatus.FAILED]
    shipped = _order(session, "shipped_not_delivered")
    assert shipped.status is OrderStatus.SHIPPED and shipped.delivered_at is None
    paid = _order(session, "paid_not_shipped")
    assert paid.status is OrderStatus.PAID and paid.shipped_at is None
    cancelled = _order(session, "cancelled_order")
    assert cancelled.status is OrderStatus.CANCELLED
    assert sum((r.amount for r in cancelled.refunds), Decimal(0)) == _paid(cancelled)
    uk = _order(session, "uk_order_duties")
    assert uk.ship_country == "GB" and uk.note is not None and "duties" in uk.note
    retried = _order(session, "payment_retried_after_failure")
    assert sorted(p.status for p in retried.payments) == [
        PaymentStatus.CAPTURED,
        PaymentStatus.FAILED,
    ]


def test_refund_idempotency_key_is_unique_in_database(engine: Engine) -> None:
    with Session(engine) as session:
        order = _order(session, "delivered_5_days_ago_refundable")
        order_id = order.id
        assert order_id is not None

        def refund() -> Refund:
            return Refund(
                order_id=order_id,
                amount=Decimal("10.00"),
                reason="duplicate test",
                status=RefundStatus.ISSUED,
                idempotency_key="refund:CL-100101:dup",
            )

        session.add(refund())
        session.commit()
        session.add(refund())
        with pytest.raises(IntegrityError):
            session.commit()


def test_refund_amount_must_be_positive(engine: Engine) -> None:
    with Session(engine) as session:
        order = _order(session, "delivered_5_days_ago_refundable")
        assert order.id is not None
        session.add(
            Refund(
                order_id=order.id,
                amount=Decimal("0.00"),
                reason="zero",
                idempotency_key="refund:zero",
            )
        )
        with pytest.raises(IntegrityError):
            session.commit()


def test_naive_datetimes_are_rejected(engine: Engine) -> None:
    with Session(engine) as session:
        customer = session.exec(select(Customer)).first()
        assert customer is not None
        customer.created_at = datetime(2026, 1, 1)
        with pytest.raises(StatementError, match="naive datetime"):
            session.commit()
