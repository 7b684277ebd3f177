"""The action policy on the demo shop's scenario orders, through the real ActionService."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from langchain_core.utils.function_calling import convert_to_openai_tool
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from conftest import (
    NEW_LYON,
    SHOP_NOW,
    SHOP_TODAY,
    Clock,
    action_request,
    order_refunds,
)
from tools.actions import ALL_TOOLS, ActionRequest, Identity
from tools.backend import ItemView, OrderView
from tools.policy import PolicyConfig, check_refund
from tools.records import ActionExecution, AuditRecord, Ticket
from tools.service import ActionService
from tools.shop.models import Order, OrderStatus, PaymentStatus
from tools.shop.seed import SCENARIO_ORDERS
from tools.tools import TOOL_FUNCTIONS, refund_order, tool_schemas

TODAY, NOW = SHOP_TODAY, SHOP_NOW


# --- refund window ------------------------------------------------------------------------


def test_refundable_order_previews_and_executes(engine: Engine, service: ActionService) -> None:
    preview = service.preview(action_request(engine, "delivered_5_days_ago_refundable"))
    assert preview.decision.allowed and preview.decision.code == "ok"
    assert not preview.decision.needs_approval
    assert preview.summary["order_number"] == SCENARIO_ORDERS["delivered_5_days_ago_refundable"]
    assert preview.summary["amount"] == "158.00" and preview.summary["currency"] == "EUR"
    assert preview.summary["destination"] == "original payment method"
    assert [i["name"] for i in preview.summary["items"]] == [
        "Linen duvet cover 240x220", "Linen pillowcases 50x75 (pair)"]
    assert len(preview.idempotency_key) == 64

    outcome = service.execute(preview)
    assert outcome.status == "executed" and not outcome.replayed
    assert outcome.result["amount"] == "158.00"
    refunds = order_refunds(engine, SCENARIO_ORDERS["delivered_5_days_ago_refundable"])
    assert sum(r.amount for r in refunds) == Decimal("158.00")
    assert {r.idempotency_key for r in refunds} == {
        preview.idempotency_key, f"{preview.idempotency_key}:2"}
    with Session(engine) as session:
        order = session.exec(select(Order).where(
            col(Order.number) == SCENARIO_ORDERS["delivered_5_days_ago_refundable"])).one()
        assert order.payments[0].status is PaymentStatus.REFUNDED
    # now nothing is left
    again = service.preview(
        action_request(engine, "delivered_5_days_ago_refundable", reason="again"))
    assert again.decision.code == "already_refunded"


def test_window_expired_after_45_days(engine: Engine, service: ActionService) -> None:
    decision = service.preview(
        action_request(engine, "delivered_45_days_ago_outside_window")).decision
    assert not decision.allowed and decision.code == "refund_window_expired"
    assert decision.details["days_since_delivery"] == 45


def test_window_boundary_30_allowed_31_refused(engine: Engine, service: ActionService) -> None:
    assert service.preview(
        action_request(engine, "delivered_30_days_ago_boundary")).decision.allowed
    late = service.preview(action_request(engine, "delivered_31_days_ago_just_outside")).decision
    assert late.code == "refund_window_expired"


def test_execution_rechecks_the_window(engine: Engine, service: ActionService,
                                       clock: Clock) -> None:
    preview = service.preview(action_request(engine, "delivered_30_days_ago_boundary"))
    assert preview.decision.allowed
    clock.now = NOW + timedelta(days=1)  # the customer confirms a day later
    outcome = service.execute(preview)
    assert outcome.status == "refused" and outcome.code == "refund_window_expired"
    assert order_refunds(engine, SCENARIO_ORDERS["delivered_30_days_ago_boundary"]) == []


def test_not_delivered_cannot_be_refunded(engine: Engine, service: ActionService) -> None:
    decision = service.preview(action_request(engine, "shipped_not_delivered")).decision
    assert decision.code == "not_delivered"
    preview = service.preview(action_request(engine, "paid_not_shipped"))
    assert preview.decision.code == "not_delivered"


# --- non-refundable items -----------------------------------------------------------------


def test_final_sale_item_refused_other_item_refundable(engine: Engine,
                                                       service: ActionService) -> None:
    rug = service.preview(
        action_request(engine, "final_sale_item", item_names=["jute rug"])).decision
    assert not rug.allowed and rug.code == "non_refundable_item"
    assert "Final-sale" in rug.reason
    candle = service.preview(
        action_request(engine, "final_sale_item", item_names=["Cedarwood scented candle"]))
    assert candle.decision.allowed and candle.summary["amount"] == "19.50"
    both = service.preview(action_request(engine, "final_sale_item",
                                    item_names=["Cedarwood scented candle", "Jute rug"]))
    assert both.decision.code == "non_refundable_item"
    whole = service.preview(action_request(engine, "final_sale_item"))
    assert whole.decision.allowed and whole.summary["amount"] == "19.50"
    assert [e["name"] for e in whole.summary["excluded_items"]] == [
        "Jute rug 160x230 (Final sale)"]


@pytest.mark.parametrize(
    ("scenario", "words"),
    [("gift_card_order", "Gift cards"), ("personalised_item", "Personalised"),
     ("opened_earbuds", "hygiene")],
)
def test_non_refundable_orders(engine: Engine, service: ActionService, scenario: str,
                               words: str) -> None:
    decision = service.preview(action_request(engine, scenario)).decision
    assert not decision.allowed and decision.code == "non_refundable_item"
    assert words in decision.reason
    outcome = service.execute(service.preview(action_request(engine, scenario)))
    assert outcome.status == "refused" and outcome.code == "non_refundable_item"
    assert order_refunds(engine, SCENARIO_ORDERS[scenario]) == []


# --- amounts --------------------------------------------------------------------------------


def test_partially_refunded_order_caps_the_amount(engine: Engine, service: ActionService) -> None:
    whole = service.preview(action_request(engine, "partially_refunded"))
    assert whole.decision.allowed and whole.summary["amount"] == "163.00"
    too_much = service.preview(action_request(engine, "partially_refunded", amount="200")).decision
    assert too_much.code == "amount_exceeds_refundable"
    assert too_much.details["max_refundable"] == "163.00"
    jumper = service.preview(
        action_request(engine, "partially_refunded", item_names=["Merino crew-neck jumper"]))
    assert jumper.decision.code == "already_refunded"
    socks = service.preview(action_request(engine, "partially_refunded",
                                     item_names=["Wool hiking socks (2 pairs)"], amount="30"))
    assert socks.decision.code == "amount_exceeds_refundable"
    exact = service.preview(action_request(engine, "partially_refunded", amount="163.00"))
    assert exact.decision.allowed
    assert service.execute(exact).status == "executed"
    issued = sum(r.amount for r in order_refunds(engine, SCENARIO_ORDERS["partially_refunded"]))
    assert issued == Decimal("252.00")  # the total paid, never more


def test_fully_refunded_order(engine: Engine, service: ActionService) -> None:
    decision = service.preview(action_request(engine, "fully_refunded")).decision
    assert decision.code == "already_refunded"
    decision = service.preview(action_request(engine, "fully_refunded", amount="1")).decision
    assert decision.code == "already_refunded"


def test_over_500_needs_approval(engine: Engine, service: ActionService) -> None:
    decision = service.preview(action_request(engine, "high_value_over_500")).decision
    assert decision.allowed and decision.needs_approval and decision.code == "needs_approval"
    small = service.preview(action_request(engine, "high_value_over_500", amount="500.00")).decision
    assert small.allowed and not small.needs_approval


def test_daily_limit_across_the_same_customers_orders(engine: Engine, service: ActionService,
                                                      clock: Clock) -> None:
    first = service.execute(service.preview(action_request(engine, "same_customer_daily_limit_1")))
    second = service.execute(service.preview(action_request(engine, "same_customer_daily_limit_2")))
    assert (first.result["amount"], second.result["amount"]) == ("382.90", "364.00")
    third = service.preview(action_request(engine, "same_customer_daily_limit_3"))
    assert third.decision.code == "daily_limit_exceeded"
    assert third.decision.details["remaining_today"] == "253.10"
    over = service.preview(action_request(engine, "same_customer_daily_limit_3", amount="253.11"))
    assert over.decision.code == "daily_limit_exceeded"
    fits = service.preview(action_request(engine, "same_customer_daily_limit_3", amount="253.10"))
    assert fits.decision.allowed
    clock.now = NOW + timedelta(days=1)  # a new day: the allowance is back
    assert service.preview(action_request(engine, "same_customer_daily_limit_3")).decision.allowed


def test_pure_check_refund_threshold_and_reservations() -> None:
    order = OrderView(
        number="CL-999999", customer_id="cus_x", status="delivered", currency="EUR",
        total=Decimal("600.00"), paid=Decimal("600.00"), refunded=Decimal("0.00"),
        delivered_at=NOW - timedelta(days=3), shipped_at=NOW - timedelta(days=5),
        items=[ItemView(id="1", sku="A", name="Chair", category="homeware", quantity=2,
                        unit_price=Decimal("300.00"))],
    )
    config = PolicyConfig()
    exact = check_refund(order, item_names=None, amount=Decimal("500.00"), now=NOW,
                         config=config)
    assert exact.allowed and not exact.needs_approval
    above = check_refund(order, item_names=None, amount=None, now=NOW, config=config)
    assert above.needs_approval and above.details["amount"] == "600.00"
    approved = check_refund(order, item_names=None, amount=None, now=NOW, config=config,
                            approved=True)
    assert approved.allowed and not approved.needs_approval
    reserved = check_refund(order, item_names=None, amount=Decimal("200"), now=NOW,
                            config=config, reserved=Decimal("450"))
    assert reserved.code == "amount_exceeds_refundable"
    limited = check_refund(order, item_names=None, amount=Decimal("100"), now=NOW,
                           config=config, refunded_today=Decimal("950"))
    assert limited.code == "daily_limit_exceeded"


# --- cancellation -------------------------------------------------------------------------


def test_cancel_paid_order(engine: Engine, service: ActionService) -> None:
    preview = service.preview(action_request(engine, "paid_not_shipped", tool="cancel_order"))
    assert preview.decision.allowed and preview.summary["amount"] == "233.00"
    outcome = service.execute(preview)
    assert outcome.status == "executed" and outcome.result["status"] == "cancelled"
    with Session(engine) as session:
        order = session.exec(select(Order).where(
            col(Order.number) == SCENARIO_ORDERS["paid_not_shipped"])).one()
        assert order.status is OrderStatus.CANCELLED
        assert sum(r.amount for r in order.refunds) == order.total
    again = service.preview(action_request(engine, "paid_not_shipped", tool="cancel_order",
                                     reason="twice"))
    assert again.decision.code == "already_cancelled"


def test_cancel_pending_bank_transfer(engine: Engine, service: ActionService) -> None:
    outcome = service.execute(
        service.preview(action_request(engine, "pending_bank_transfer", tool="cancel_order")))
    assert outcome.status == "executed" and outcome.result["refunded_amount"] == "0.00"


@pytest.mark.parametrize(
    ("scenario", "code"),
    [("shipped_not_delivered", "cannot_cancel_shipped"),
     ("delivered_5_days_ago_refundable", "cannot_cancel_shipped"),
     ("cancelled_order", "already_cancelled")],
)
def test_cancel_refused(engine: Engine, service: ActionService, scenario: str,
                        code: str) -> None:
    preview = service.preview(action_request(engine, scenario, tool="cancel_order"))
    assert not preview.decision.allowed and preview.decision.code == code
    assert service.execute(preview).code == code


# --- address change -----------------------------------------------------------------------



def test_address_change_before_shipping(engine: Engine, service: ActionService) -> None:
    preview = service.preview(
        action_request(engine, "paid_not_shipped", tool="update_shipping_address", **NEW_LYON))
    assert preview.decision.allowed
    assert preview.summary["destination"]["country"] == "FR"
    assert preview.summary["destination"]["line2"] is None
    assert service.execute(preview).status == "executed"
    with Session(engine) as session:
        order = session.exec(select(Order).where(
            col(Order.number) == SCENARIO_ORDERS["paid_not_shipped"])).one()
        assert (order.ship_line1, order.ship_city) == ("3 place Bellecour", "Lyon")


def test_address_change_after_shipping_refused(engine: Engine, service: ActionService) -> None:
    decision = service.preview(action_request(
        engine, "shipped_not_delivered", tool="update_shipping_address", **NEW_LYON)).decision
    assert decision.code == "address_change_after_shipping"


def test_address_change_to_other_country_refused(engine: Engine,
                                                 service: ActionService) -> None:
    berlin: dict[str, Any] = {**NEW_LYON, "postal_code": "10115", "city": "Berlin", "country": "DE"}
    preview = service.preview(
        action_request(engine, "paid_not_shipped", tool="update_shipping_address", **berlin))
    assert preview.decision.code == "address_country_change"
    assert service.execute(preview).status == "refused"


# --- identity -----------------------------------------------------------------------------


def test_other_customers_order_is_not_found_and_reveals_nothing(
    engine: Engine, service: ActionService
) -> None:
    stranger = Identity(customer_id="cus_001", verified=True)
    target = "high_value_over_500"  # belongs to cus_008
    preview = service.preview(action_request(engine, target, identity=stranger))
    missing = service.preview(ActionRequest(
        tool="refund_order", args={"order_number": "CL-999999"}, conversation_id="conv-1",
        identity=stranger))
    assert preview.decision.code == "not_found" and not preview.decision.allowed
    assert preview.decision.reason == missing.decision.reason
    assert preview.decision.details == missing.decision.details
    assert set(preview.summary) == {"action", "order_number"}
    text = repr(preview.decision) + repr(preview.summary)
    for secret in ("Hannah", "Schneider", "hannah", "cus_008", "mitre", "678", "delivered",
                   "Berlin", "DE"):
        assert secret not in text
    outcome = service.execute(preview)
    assert outcome.status == "not_found" and outcome.message == missing.decision.reason
    assert "Hannah" not in repr(outcome) and "678" not in repr(outcome)
    assert order_refunds(engine, SCENARIO_ORDERS[target]) == []
    lookup = service.get_order_status(SCENARIO_ORDERS[target], stranger)
    assert lookup == {"found": False, "code": "not_found", "message": missing.decision.reason}


def test_anonymous_visitor_must_verify_order_email(engine: Engine,
                                                   service: ActionService) -> None:
    number = SCENARIO_ORDERS["delivered_5_days_ago_refundable"]
    anonymous = Identity(channel="web")
    preview = service.preview(action_request(engine, "delivered_5_days_ago_refundable",
                                       identity=anonymous))
    assert preview.decision.code == "not_found"
    assert preview.decision.details["verification_required"] is True
    assert not service.verify_order_email(number, "someone.else@example.com")
    assert not service.verify_order_email(number, "thomas.bernard@example.fr")  # real, other
    assert service.verify_order_email(number, "  Camille.Martin@example.fr ")
    guest = Identity(verified_orders=frozenset({number}), channel="web")
    preview = service.preview(action_request(engine, "delivered_5_days_ago_refundable",
                                       identity=guest))
    assert preview.decision.allowed
    # a verified order does not open the customer's other orders
    other = service.preview(action_request(engine, "paid_not_shipped", tool="cancel_order",
                                     identity=guest))
    assert other.decision.code == "not_found"
    assert [o["order_number"] for o in service.list_recent_orders(guest)] == [number]


def test_verification_is_rate_limited(engine: Engine, service: ActionService) -> None:
    number = SCENARIO_ORDERS["paid_not_shipped"]
    for n in range(5):
        assert not service.verify_order_email(number, f"guess{n}@example.com")
    assert not service.verify_order_email(number, "camille.martin@example.fr")
    with Session(engine) as session:
        rows = session.exec(select(AuditRecord).where(
            col(AuditRecord.event) == "verification")).all()
    assert [r.code for r in rows][-1] == "locked"
    assert all("guess" not in r.args_json for r in rows)  # emails are masked


def test_lookups_are_identity_checked_and_safe(engine: Engine, service: ActionService) -> None:
    owner = Identity(customer_id="cus_020", verified=True)
    found = service.get_order_status(SCENARIO_ORDERS["partially_refunded"], owner)
    assert found["found"] is True
    order = found["order"]
    assert order["refunded"] == "89.00" and order["return_window_open"] is True
    assert "customer_id" not in order and order["shipping_city"] == "Rennes"
    assert "rue Saint-Malo" not in repr(order) and "@" not in repr(order)
    recent = service.list_recent_orders(Identity(customer_id="cus_021", verified=True), limit=10)
    numbers = {o["order_number"] for o in recent}
    assert {SCENARIO_ORDERS[f"same_customer_daily_limit_{n}"] for n in (1, 2, 3)} <= numbers
    with Session(engine) as session:
        owners = {o.customer.external_id for o in session.exec(
            select(Order).where(col(Order.number).in_(numbers))).all()}
    assert owners == {"cus_021"}
    assert service.list_recent_orders(Identity()) == []


# --- arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        {"order_number": "CL-100101", "amount": "10.005"},
        {"order_number": "CL-100101", "amount": "-5"},
        {"order_number": "CL-100101", "amount": "lots"},
        {"order_number": "../../admin"},
        {"order_number": "CL-100101", "customer_id": "cus_008"},  # extra keys are refused
        {"order_number": "CL-100101", "item_names": ["Teleporter"]},
        {},
    ],
)
def test_invalid_arguments(engine: Engine, service: ActionService, args: dict[str, Any]) -> None:
    identity = Identity(customer_id="cus_001", verified=True)
    preview = service.preview(ActionRequest(tool="refund_order", args=args,
                                            conversation_id="conv-1", identity=identity))
    assert preview.decision.code == "invalid_arguments" and not preview.decision.allowed
    assert service.execute(preview).status == "refused"
    assert order_refunds(engine, "CL-100101") == []


def test_unknown_tool_is_refused(service: ActionService) -> None:
    preview = service.preview(ActionRequest(tool="drop_tables", args={},
                                            conversation_id="c", identity=Identity()))
    assert preview.decision.code == "invalid_arguments"


def test_idempotency_key_is_canonical(engine: Engine, service: ActionService) -> None:
    a = service.preview(action_request(engine, "final_sale_item", order_number="cl-100105",
                                 item_names=["Cedarwood scented candle", "Jute rug"]))
    b = service.preview(action_request(engine, "final_sale_item",
                                 item_names=["Jute rug", " cedarwood  scented candle"]))
    c = service.preview(action_request(engine, "final_sale_item", conversation="conv-2",
                                 item_names=["Jute rug", "Cedarwood scented candle"]))
    assert a.idempotency_key == b.idempotency_key != c.idempotency_key
    d = service.preview(action_request(engine, "partially_refunded", amount="10"))
    e = service.preview(action_request(engine, "partially_refunded", amount=Decimal("10.00")))
    assert d.idempotency_key == e.idempotency_key


def test_tampered_preview_is_refused(engine: Engine, service: ActionService) -> None:
    preview = service.preview(action_request(engine, "partially_refunded", amount="10"))
    forged = replace(preview, request=replace(preview.request, args={
        "order_number": SCENARIO_ORDERS["partially_refunded"], "amount": "163"}))
    outcome = service.execute(forged)
    assert outcome.status == "refused" and outcome.code == "invalid_arguments"
    assert len(order_refunds(engine, SCENARIO_ORDERS["partially_refunded"])) == 1  # the seed one


# --- tool schemas -------------------------------------------------------------------------


def test_tool_schemas_are_bindable_and_side_effect_free(engine: Engine) -> None:
    tools = tool_schemas()
    assert {t.name for t in tools} == set(ALL_TOOLS) == set(TOOL_FUNCTIONS)
    specs = {t.name: convert_to_openai_tool(t)["function"] for t in tools}
    refund = specs["refund_order"]["parameters"]
    assert refund["required"] == ["order_number"]
    assert set(refund["properties"]) == {"order_number", "item_names", "amount", "reason"}
    assert "customer_id" not in repr(specs)
    address = specs["update_shipping_address"]["parameters"]
    assert set(address["required"]) == {"order_number", "line1", "postal_code", "city", "country"}
    assert all(s["description"] for s in specs.values())

    proposal = refund_order("CL-100101")
    assert proposal["status"] == "proposed"
    by_name = {t.name: t for t in tools}
    by_name["refund_order"].invoke({"order_number": "CL-100101"})
    assert order_refunds(engine, "CL-100101") == []


# --- tickets and audit --------------------------------------------------------------------


def test_tickets_and_handoff(engine: Engine, service: ActionService) -> None:
    ticket = service.create_ticket("conv-9", "Broken lamp", "Arrived broken", "cus_001",
                                   "CL-100101")
    handoff = service.handoff_to_human("conv-9", "Customer is upset", "cus_001")
    assert ticket["kind"] == "ticket" and handoff["kind"] == "handoff"
    identity = Identity(customer_id="cus_001", verified=True)
    preview = service.preview(ActionRequest(
        tool="create_ticket", args={"subject": "Invoice", "summary": "Needs a VAT invoice"},
        conversation_id="conv-9", identity=identity))
    first, second = service.execute(preview), service.execute(preview)
    assert first.status == "executed" and second.replayed
    assert first.result["ticket_id"] == second.result["ticket_id"]
    with Session(engine) as session:
        kinds = [t.kind for t in session.exec(
            select(Ticket).where(col(Ticket.conversation_id) == "conv-9")).all()]
    assert sorted(kinds) == ["handoff", "ticket", "ticket"]


def test_every_attempt_is_audited(engine: Engine, service: ActionService) -> None:
    service.execute(
        service.preview(action_request(engine, "gift_card_order", conversation="audit")))
    service.execute(service.preview(action_request(engine, "delivered_30_days_ago_boundary",
                                             conversation="audit")))
    trail = service.audit_trail(conversation_id="audit")
    events = [(r["event"], r["code"]) for r in trail]
    assert events == [("previewed", "non_refundable_item"), ("refused", "non_refundable_item"),
                      ("previewed", "ok"), ("executed", "ok")]
    assert trail[0]["actor"] == "customer:cus_011" and trail[0]["tool"] == "refund_order"
    assert trail[-1]["result"]["amount"] == "69.00"
    assert all(r["created_at"].startswith("2026-03-15") for r in trail)
    with Session(engine) as session:
        executed = session.exec(select(func.count()).select_from(ActionExecution).where(
            col(ActionExecution.status) == "executed")).one()
    assert executed == 1
