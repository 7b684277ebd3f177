"""Exactly-once execution: concurrent duplicates, replays, approvals, backend dedupe."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from conftest import SHOP_NOW, SHOP_TODAY, order_refunds
from supportgraph.db import session_scope
from tools.actions import ActionOutcome, ActionRequest, Identity
from tools.backend import BackendUnavailable, OrderView
from tools.demo_backend import DemoShopBackend
from tools.policy import PolicyConfig
from tools.records import ActionExecution, PendingApproval
from tools.service import ActionService
from tools.shop.models import Order, Refund, RefundStatus
from tools.shop.seed import SCENARIO_ORDERS

TODAY, NOW = SHOP_TODAY, SHOP_NOW


def clock() -> datetime:
    return NOW


class CountingBackend(DemoShopBackend):
    """The demo backend, counting writes (and slowed down to widen race windows)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, clock=clock)
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def issue_refund(self, order_number: str, amount: Decimal, item_ids: list[str],
                     reason: str, idempotency_key: str) -> dict[str, Any]:
        with self._lock:
            self.calls.append(idempotency_key)
        threading.Event().wait(0.05)
        return super().issue_refund(order_number, amount, item_ids, reason, idempotency_key)


@pytest.fixture
def backend(engine: Engine) -> CountingBackend:
    return CountingBackend(engine)


@pytest.fixture
def service(engine: Engine, backend: CountingBackend) -> ActionService:
    return ActionService(backend, PolicyConfig(), engine, clock=clock)


def _request(scenario: str, customer: str, conversation: str = "conv-1",
             **args: Any) -> ActionRequest:
    return ActionRequest(
        tool="refund_order",
        args={"order_number": SCENARIO_ORDERS[scenario], **args},
        conversation_id=conversation,
        identity=Identity(customer_id=customer, verified=True, channel="web"),
    )


def _same(outcome: ActionOutcome) -> dict[str, Any]:
    data = asdict(outcome)
    data.pop("replayed")
    return data


def test_twenty_concurrent_identical_executions_refund_once(
    engine: Engine, service: ActionService, backend: CountingBackend
) -> None:
    number = SCENARIO_ORDERS["delivered_5_days_ago_refundable"]
    preview = service.preview(_request("delivered_5_days_ago_refundable", "cus_001",
                                       item_names=["Linen duvet cover 240x220"]))
    assert preview.decision.allowed
    barrier = threading.Barrier(20)

    def run(_: int) -> ActionOutcome:
        barrier.wait()
        return service.execute(preview)

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(run, range(20)))

    assert backend.calls == [preview.idempotency_key]
    refunds = order_refunds(engine, number)
    assert len(refunds) == 1
    assert refunds[0].amount == Decimal("119.00")
    assert refunds[0].idempotency_key == preview.idempotency_key
    assert all(o.status == "executed" for o in outcomes)
    assert all(_same(o) == _same(outcomes[0]) for o in outcomes)
    assert sum(not o.replayed for o in outcomes) == 1
    with Session(engine) as session:
        rows = session.exec(select(ActionExecution).where(
            col(ActionExecution.idempotency_key) == preview.idempotency_key)).all()
    assert [r.status for r in rows] == ["executed"]

    replay = service.execute(preview)
    assert replay.replayed and _same(replay) == _same(outcomes[0])
    again = service.execute(service.preview(preview.request))  # a fresh preview, same key
    assert again.replayed and again.status == "executed"
    assert len(order_refunds(engine, number)) == 1 and len(backend.calls) == 1
    events = [r["event"] for r in service.audit_trail(idempotency_key=preview.idempotency_key)]
    assert events.count("executed") == 1 and events.count("replayed") == 21


def test_concurrent_different_refunds_never_exceed_paid(
    engine: Engine, service: ActionService
) -> None:
    """A hostile model fires 8 whole-order refunds with different reasons at once."""
    number = SCENARIO_ORDERS["partially_refunded"]
    previews = [service.preview(_request("partially_refunded", "cus_020", reason=f"r{n}"))
                for n in range(8)]
    assert len({p.idempotency_key for p in previews}) == 8
    barrier = threading.Barrier(8)

    def run(n: int) -> ActionOutcome:
        barrier.wait()
        return service.execute(previews[n])

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(run, range(8)))
    issued = sum(r.amount for r in order_refunds(engine, number) if r.status is RefundStatus.ISSUED)
    assert issued <= Decimal("252.00")
    assert sum(o.status == "executed" for o in outcomes) <= 1
    assert all(o.status in {"executed", "refused"} for o in outcomes)


def test_backend_turns_duplicate_insert_into_first_result(engine: Engine,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    backend = DemoShopBackend(engine, clock=clock)
    number = SCENARIO_ORDERS["delivered_5_days_ago_refundable"]
    order = backend.get_order(number)
    assert isinstance(order, OrderView)
    ids = [order.items[0].id]
    first = backend.issue_refund(number, Decimal("50.00"), ids, "test", "key-1")
    second = backend.issue_refund(number, Decimal("50.00"), ids, "test", "key-1")
    assert not first["duplicate"] and second["duplicate"]
    assert first["refund_ids"] == second["refund_ids"]

    # force the race: the pre-check sees nothing, the UNIQUE constraint catches it
    original = DemoShopBackend._refunds_for_key
    seen: list[str] = []

    def blind_once(session: Session, key: str) -> list[Refund]:
        if not seen:
            seen.append(key)
            return []
        return original(session, key)

    monkeypatch.setattr(DemoShopBackend, "_refunds_for_key", staticmethod(blind_once))
    third = backend.issue_refund(number, Decimal("50.00"), ids, "test", "key-1")
    assert third["duplicate"] and third["refund_ids"] == first["refund_ids"]
    assert len(order_refunds(engine, number)) == 1


def test_backend_caps_refunds_itself(engine: Engine) -> None:
    from tools.backend import BackendRejected

    backend = DemoShopBackend(engine, clock=clock)
    number = SCENARIO_ORDERS["partially_refunded"]
    with pytest.raises(BackendRejected) as err:
        backend.issue_refund(number, Decimal("163.01"), [], "too much", "key-x")
    assert err.value.code == "amount_exceeds_refundable"


# --- approvals ----------------------------------------------------------------------------


def test_approval_flow_executes_once(engine: Engine, service: ActionService,
                                     backend: CountingBackend) -> None:
    number = SCENARIO_ORDERS["high_value_over_500"]
    preview = service.preview(_request("high_value_over_500", "cus_008", reason="Saw broken"))
    assert preview.decision.needs_approval
    pending = service.execute(preview)
    assert pending.status == "pending_approval" and pending.approval_id
    assert backend.calls == [] and order_refunds(engine, number) == []
    duplicate = service.execute(preview)
    assert duplicate.replayed and duplicate.approval_id == pending.approval_id
    again = service.preview(preview.request)  # the pending approval does not block itself
    assert again.decision.needs_approval and again.idempotency_key == preview.idempotency_key
    assert service.execute(again).approval_id == pending.approval_id

    approvals = service.list_approvals()
    assert [a["approval_id"] for a in approvals] == [pending.approval_id]
    assert approvals[0]["amount"] == "678.00" and approvals[0]["order_number"] == number
    assert approvals[0]["summary"]["items"]

    approved = service.decide_approval(pending.approval_id, True, "alice", "photos checked")
    assert approved.status == "executed" and not approved.replayed
    assert approved.approval_id == pending.approval_id
    twice = service.decide_approval(pending.approval_id, True, "bob")
    assert twice.replayed and twice.status == "executed"
    rejected_late = service.decide_approval(pending.approval_id, False, "carol")
    assert rejected_late.replayed and rejected_late.status == "executed"
    after = service.execute(preview)
    assert after.replayed and after.status == "executed"

    refunds = order_refunds(engine, number)
    assert sum(r.amount for r in refunds) == Decimal("678.00")
    assert len(backend.calls) == 1
    assert service.list_approvals() == []
    (decided,) = service.list_approvals(status="approved")
    assert decided["reviewer"] == "alice" and decided["note"] == "photos checked"

    trail = service.audit_trail(idempotency_key=preview.idempotency_key)
    events = [r["event"] for r in trail]
    for event in ("previewed", "approval_requested", "approved", "executed", "replayed"):
        assert event in events
    assert events.count("executed") == 1 and events.count("approved") == 1
    (approval_row,) = [r for r in trail if r["event"] == "approved"]
    assert approval_row["actor"] == "reviewer:alice"
    assert approval_row["approval_id"] == pending.approval_id


def test_concurrent_approvals_execute_once(engine: Engine, service: ActionService,
                                           backend: CountingBackend) -> None:
    pending = service.execute(service.preview(_request("high_value_over_500", "cus_008")))
    assert pending.approval_id is not None
    approval_id = pending.approval_id
    barrier = threading.Barrier(6)

    def approve(n: int) -> ActionOutcome:
        barrier.wait()
        return service.decide_approval(approval_id, True, f"reviewer{n}")

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(approve, range(6)))
    assert all(o.status == "executed" for o in outcomes)
    assert sum(not o.replayed for o in outcomes) == 1
    assert len(backend.calls) == 1
    assert len(order_refunds(engine, SCENARIO_ORDERS["high_value_over_500"])) == 2  # two lines


def test_rejection_records_and_refunds_nothing(engine: Engine, service: ActionService,
                                               backend: CountingBackend) -> None:
    preview = service.preview(_request("high_value_over_500", "cus_008"))
    pending = service.execute(preview)
    assert pending.approval_id is not None
    rejected = service.decide_approval(pending.approval_id, False, "alice", "no photos")
    assert rejected.status == "rejected" and rejected.code == "rejected_by_reviewer"
    assert service.decide_approval(pending.approval_id, True, "bob").status == "rejected"
    replay = service.execute(preview)
    assert replay.replayed and replay.status == "rejected"
    assert backend.calls == []
    assert order_refunds(engine, SCENARIO_ORDERS["high_value_over_500"]) == []
    (row,) = service.list_approvals(status="rejected")
    assert row["reviewer"] == "alice"
    events = [r["event"] for r in service.audit_trail(idempotency_key=preview.idempotency_key)]
    assert "rejected" in events and "executed" not in events


def test_approval_rechecks_policy(engine: Engine, service: ActionService,
                                  backend: CountingBackend) -> None:
    number = SCENARIO_ORDERS["high_value_over_500"]
    pending = service.execute(service.preview(_request("high_value_over_500", "cus_008")))
    assert pending.approval_id is not None
    # meanwhile the shop refunded the saw through another channel
    with session_scope(engine) as session:
        order = session.exec(select(Order).where(col(Order.number) == number)).one()
        saw = next(i for i in order.items if i.sku == "OD-SAW-MT")
        assert order.id is not None
        session.add(Refund(order_id=order.id, order_item_id=saw.id, amount=saw.line_total,
                           reason="phone", status=RefundStatus.ISSUED,
                           idempotency_key="phone-1", created_at=NOW))
    outcome = service.decide_approval(pending.approval_id, True, "alice")
    assert outcome.status == "refused" and outcome.code == "amount_exceeds_refundable"
    assert backend.calls == []
    with Session(engine) as session:
        approval = session.get(PendingApproval, pending.approval_id)
        assert approval is not None and approval.outcome_json is not None


def test_pending_approval_reserves_the_amount(engine: Engine, service: ActionService) -> None:
    """A second request on the same order cannot spend what a pending approval holds."""
    pending = service.execute(service.preview(_request("high_value_over_500", "cus_008")))
    assert pending.status == "pending_approval"
    other = service.preview(_request("high_value_over_500", "cus_008", amount="10",
                                     conversation="conv-2"))
    assert other.decision.code in {"already_refunded", "amount_exceeds_refundable"}


class FailingOnceBackend(DemoShopBackend):
    """The shop is down for the first refund call."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, clock=clock)
        self.failures = 1
        self.calls: list[str] = []

    def issue_refund(self, order_number: str, amount: Decimal, item_ids: list[str],
                     reason: str, idempotency_key: str) -> dict[str, Any]:
        self.calls.append(idempotency_key)
        if self.failures:
            self.failures -= 1
            raise BackendUnavailable("shop down", attempts=4, status_code=503)
        return super().issue_refund(order_number, amount, item_ids, reason, idempotency_key)


def test_approved_refund_with_backend_down_can_be_approved_again(engine: Engine) -> None:
    backend = FailingOnceBackend(engine)
    service = ActionService(backend, PolicyConfig(), engine, clock=clock)
    preview = service.preview(_request("high_value_over_500", "cus_008"))
    pending = service.execute(preview)
    assert pending.approval_id is not None
    failed = service.decide_approval(pending.approval_id, True, "alice")
    assert failed.status == "failed" and failed.code == "backend_unavailable"
    assert failed.result["ticket_id"]
    assert order_refunds(engine, SCENARIO_ORDERS["high_value_over_500"]) == []
    (row,) = service.list_approvals(status="failed")
    assert row["approval_id"] == pending.approval_id
    done = service.decide_approval(pending.approval_id, True, "alice", "retry")
    assert done.status == "executed"
    assert backend.calls == [preview.idempotency_key] * 2  # same key both times
    assert sum(r.amount for r in order_refunds(engine, SCENARIO_ORDERS["high_value_over_500"])) == \
        Decimal("678.00")
    assert service.decide_approval(pending.approval_id, True, "bob").replayed
