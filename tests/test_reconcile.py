"""Actions a killed process left ``in_progress`` (claimed, outcome never recorded) are
settled from what the shop says happened: executed exactly once, or failed with a
follow-up ticket and safe to retry. Real SQLite, the real demo shop, the real runtime."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from conftest import NEW_LYON, Clock, action_request, order_refunds
from knowledge.embeddings import Embedder
from supportgraph.db import init_db, make_engine
from supportgraph.runtime import SupportRuntime, make_action_service
from supportgraph.settings import Settings
from tools.actions import ActionOutcome, ActionPreview
from tools.backend import BackendUnavailable
from tools.demo_backend import DemoShopBackend
from tools.policy import OK, PolicyConfig
from tools.records import ActionExecution, PendingApproval, Ticket
from tools.service import INTERRUPTED, ActionService
from tools.shop.models import utcnow
from tools.shop.seed import SCENARIO_ORDERS, seed_demo_shop

REFUNDABLE = SCENARIO_ORDERS["delivered_5_days_ago_refundable"]
DUVET = "Linen duvet cover 240x220"


class ProcessKilled(BaseException):
    """The process dies here: not an ``Exception``, so nothing in the service catches it."""


def _die(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise ProcessKilled


def _killed(service: ActionService, preview: ActionPreview, target: object, name: str) -> None:
    """Execute `preview`, the process dying when `target.name` is called."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(target, name, _die)
        with pytest.raises(ProcessKilled):
            service.execute(preview)


def _killed_after_the_shop_wrote(service: ActionService, preview: ActionPreview) -> None:
    _killed(service, preview, service, "_finish")


def _execution(engine: Engine, key: str) -> ActionExecution:
    with Session(engine) as session:
        return session.exec(select(ActionExecution).where(
            col(ActionExecution.idempotency_key) == key)).one()


def _tickets(engine: Engine, key: str) -> list[Ticket]:
    with Session(engine) as session:
        return list(session.exec(select(Ticket).where(col(Ticket.idempotency_key) == key)))


@pytest.fixture
def restarted(engine: Engine, clock: Clock) -> ActionService:
    """The process started after the kill, over the same database."""
    return ActionService(DemoShopBackend(engine, clock=clock), PolicyConfig(), engine,
                         clock=clock)


def test_a_refund_the_shop_issued_before_the_kill_is_settled_as_executed_once(
        engine: Engine, service: ActionService, restarted: ActionService) -> None:
    preview = service.preview(action_request(engine, "delivered_5_days_ago_refundable",
                                       item_names=[DUVET]))
    _killed_after_the_shop_wrote(service, preview)
    key = preview.idempotency_key
    assert _execution(engine, key).status == "in_progress"

    (outcome,) = restarted.reconcile_interrupted(older_than_s=0)

    assert outcome.status == "executed" and outcome.result["reconciled"]
    row = _execution(engine, key)
    assert (row.status, row.code) == ("executed", OK) and row.executed_at is not None
    refunds = order_refunds(engine, REFUNDABLE)
    assert sum(r.amount for r in refunds) == row.amount == Decimal("119.00")
    replay = restarted.execute(restarted.preview(preview.request))
    assert replay.replayed and replay.status == "executed"
    assert len(order_refunds(engine, REFUNDABLE)) == len(refunds)
    assert _tickets(engine, key) == []
    trail = restarted.audit_trail(idempotency_key=key)
    (settled,) = [r for r in trail if r["event"] == "reconciled_executed"]
    assert settled["actor"] == "system:reconciler" and settled["order_number"] == REFUNDABLE
    assert restarted.reconcile_interrupted(older_than_s=0) == []


@pytest.mark.parametrize(("tool", "args"), [("cancel_order", {}),
                                            ("update_shipping_address", NEW_LYON)])
def test_an_order_change_the_shop_applied_before_the_kill_is_settled_as_executed(
        engine: Engine, service: ActionService, restarted: ActionService,
        tool: str, args: dict[str, Any]) -> None:
    preview = service.preview(action_request(engine, "paid_not_shipped", tool=tool, **args))
    _killed_after_the_shop_wrote(service, preview)

    (outcome,) = restarted.reconcile_interrupted(older_than_s=0)

    assert outcome.status == "executed"
    assert _execution(engine, preview.idempotency_key).status == "executed"
    assert restarted.execute(restarted.preview(preview.request)).replayed


def test_an_action_the_shop_never_ran_fails_with_a_ticket_and_a_retry_runs_it_once(
        engine: Engine, service: ActionService, restarted: ActionService) -> None:
    preview = service.preview(action_request(engine, "delivered_5_days_ago_refundable",
                                       item_names=[DUVET]))
    _killed(service, preview, service.backend, "issue_refund")
    key = preview.idempotency_key

    (outcome,) = restarted.reconcile_interrupted(older_than_s=0)

    assert (outcome.status, outcome.code) == ("failed", INTERRUPTED)
    row = _execution(engine, key)
    assert (row.status, row.code) == ("failed", INTERRUPTED)
    assert order_refunds(engine, REFUNDABLE) == []
    (ticket,) = _tickets(engine, key)
    assert ticket.kind == "follow_up" and ticket.order_number == REFUNDABLE
    assert outcome.result["ticket_id"] == ticket.id
    (settled,) = [r for r in restarted.audit_trail(idempotency_key=key)
                  if r["event"] == "reconciled_failed"]
    assert settled["code"] == INTERRUPTED and settled["actor"] == "system:reconciler"

    retry = restarted.execute(restarted.preview(preview.request))
    assert retry.status == "executed" and not retry.replayed
    again = restarted.execute(restarted.preview(preview.request))
    assert again.replayed and again.status == "executed"
    refunds = order_refunds(engine, REFUNDABLE)
    assert [r.idempotency_key for r in refunds] == [key]
    assert refunds[0].amount == _execution(engine, key).amount == Decimal("119.00")


def test_an_action_the_shop_cannot_account_for_fails_and_is_never_done_twice(
        engine: Engine, service: ActionService, restarted: ActionService,
        monkeypatch: pytest.MonkeyPatch) -> None:
    preview = service.preview(action_request(engine, "delivered_5_days_ago_refundable",
                                       item_names=[DUVET]))
    _killed_after_the_shop_wrote(service, preview)

    def unreachable(*_args: Any) -> NoReturn:
        raise BackendUnavailable("shop down", attempts=4, status_code=503)

    monkeypatch.setattr(restarted.backend, "lookup_execution", unreachable)
    (outcome,) = restarted.reconcile_interrupted(older_than_s=0)

    assert (outcome.status, outcome.code) == ("failed", INTERRUPTED)
    assert len(_tickets(engine, preview.idempotency_key)) == 1
    retry = restarted.execute(restarted.preview(preview.request))  # the shop shows the refund
    assert (retry.status, retry.code) == ("refused", "already_refunded")
    assert [r.amount for r in order_refunds(engine, REFUNDABLE)] == [Decimal("119.00")]


def test_a_claim_younger_than_the_grace_period_is_left_to_its_owner(
        engine: Engine, service: ActionService, restarted: ActionService,
        clock: Clock) -> None:
    preview = service.preview(action_request(engine, "delivered_5_days_ago_refundable",
                                       item_names=[DUVET]))
    _killed(service, preview, service.backend, "issue_refund")
    grace = restarted.interrupted_after_s
    assert grace >= 2 * restarted.policy.duplicate_wait_s

    clock.now += timedelta(seconds=grace - 1)
    assert restarted.reconcile_interrupted() == []
    assert _execution(engine, preview.idempotency_key).status == "in_progress"
    assert _tickets(engine, preview.idempotency_key) == []

    clock.now += timedelta(seconds=1)
    (outcome,) = restarted.reconcile_interrupted()
    assert outcome.code == INTERRUPTED


def test_two_processes_reconciling_at_once_settle_a_claim_once(
        engine: Engine, service: ActionService, clock: Clock) -> None:
    preview = service.preview(action_request(engine, "delivered_5_days_ago_refundable",
                                       item_names=[DUVET]))
    _killed(service, preview, service.backend, "issue_refund")
    processes = [ActionService(DemoShopBackend(engine, clock=clock), PolicyConfig(), engine,
                               clock=clock) for _ in range(4)]
    barrier = threading.Barrier(len(processes))

    def reconcile(process: ActionService) -> list[ActionOutcome]:
        barrier.wait()
        return process.reconcile_interrupted(older_than_s=0)

    with ThreadPoolExecutor(max_workers=len(processes)) as pool:
        settled = [o for outcomes in pool.map(reconcile, processes) for o in outcomes]

    assert [o.code for o in settled] == [INTERRUPTED]
    assert len(_tickets(engine, preview.idempotency_key)) == 1
    events = [r["event"] for r in service.audit_trail(idempotency_key=preview.idempotency_key)]
    assert events.count("reconciled_failed") == 1


def test_a_claim_whose_reconciler_died_is_settled_one_grace_period_later(
        engine: Engine, service: ActionService, restarted: ActionService,
        clock: Clock) -> None:
    preview = service.preview(action_request(engine, "delivered_5_days_ago_refundable",
                                       item_names=[DUVET]))
    _killed_after_the_shop_wrote(service, preview)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(restarted, "_lookup_execution", _die)
        with pytest.raises(ProcessKilled):
            restarted.reconcile_interrupted(older_than_s=0)

    assert restarted.reconcile_interrupted(older_than_s=0) == []
    clock.now += timedelta(seconds=restarted.interrupted_after_s)
    (outcome,) = restarted.reconcile_interrupted(older_than_s=0)
    assert outcome.status == "executed"


def test_an_approved_refund_killed_mid_execution_settles_its_approval(
        engine: Engine, service: ActionService, restarted: ActionService) -> None:
    pending = service.execute(service.preview(action_request(engine, "high_value_over_500")))
    assert pending.approval_id is not None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service, "_finish", _die)
        with pytest.raises(ProcessKilled):
            service.decide_approval(pending.approval_id, True, "alice")

    (outcome,) = restarted.reconcile_interrupted(older_than_s=0)

    assert outcome.status == "executed" and outcome.approval_id == pending.approval_id
    with Session(engine) as session:
        approval = session.get(PendingApproval, pending.approval_id)
        assert approval is not None
        assert approval.status == "approved" and approval.outcome_json is not None
    twice = restarted.decide_approval(pending.approval_id, True, "bob")
    assert twice.replayed and twice.status == "executed"
    number = SCENARIO_ORDERS["high_value_over_500"]
    assert sum(r.amount for r in order_refunds(engine, number)) == Decimal("678.00")


def test_runtime_start_settles_what_a_killed_server_left_in_flight(
        tmp_path: Path, embedder: Embedder) -> None:
    settings = Settings(data_dir=tmp_path / "data", guard_classifier=False)
    engine = make_engine(settings.database_url_resolved)
    init_db(engine)
    with Session(engine) as session:
        seed_demo_shop(session)
        session.commit()
    now = Clock(utcnow())
    killed = make_action_service(settings, settings.load_bot_config(), engine, now)
    young = killed.preview(action_request(engine, "paid_not_shipped", tool="cancel_order"))
    _killed(killed, young, killed.backend, "cancel_order")
    now.now -= timedelta(hours=1)  # the refund was claimed an hour before the kill
    old = killed.preview(action_request(engine, "delivered_5_days_ago_refundable",
                                  item_names=[DUVET]))
    _killed_after_the_shop_wrote(killed, old)
    now.now += timedelta(hours=1)
    engine.dispose()

    runtime = SupportRuntime(settings, embedder=embedder, clock=now)
    try:
        assert _execution(runtime.engine, old.idempotency_key).status == "executed"
        assert sum(r.amount for r in order_refunds(runtime.engine, REFUNDABLE)) == Decimal("119.00")
        # claimed just now: it may be a live worker's, so the pass one grace later settles it
        assert _execution(runtime.engine, young.idempotency_key).status == "in_progress"
        assert runtime.reconciler.is_alive()
        assert runtime.reconciler.interval == runtime.actions.interrupted_after_s
    finally:
        runtime.close()
    runtime.reconciler.join(timeout=5)
    assert not runtime.reconciler.is_alive()
