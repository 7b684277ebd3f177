"""HttpCommerceBackend against a real, deliberately flaky HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from conftest import SHOP_NOW, SHOP_TODAY
from tools.actions import ActionRequest, Identity
from tools.backend import (
    BackendRejected,
    BackendUnavailable,
    customer_view_to_json,
    order_view_to_json,
)
from tools.demo_backend import DemoShopBackend
from tools.http_backend import HttpCommerceBackend, parse_retry_after
from tools.policy import PolicyConfig
from tools.records import ActionExecution, Ticket
from tools.service import ActionService
from tools.shop.models import Order, Refund
from tools.shop.seed import SCENARIO_ORDERS

TODAY, NOW = SHOP_TODAY, SHOP_NOW
ORDER = SCENARIO_ORDERS["delivered_5_days_ago_refundable"]
Action = int | str | tuple[int, dict[str, str]]
"""503 (a status), "timeout" (answer too late), "ok" (serve from the demo shop),
(429, {"Retry-After": "0"}) (a status with headers)."""


def clock() -> datetime:
    return NOW


class FlakyShop:
    """A REST shop over the demo database that fails on purpose, following a script."""

    def __init__(self, backend: DemoShopBackend) -> None:
        self.backend = backend
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.script: dict[str, list[Action]] = {}
        self.default: dict[str, Action] = {}
        self.slow_s = 0.6

    def plan(self, kind: str, *actions: Action, then: Action = "ok") -> None:
        with self.lock:
            self.script[kind] = list(actions)
            self.default[kind] = then

    def count(self, kind: str) -> int:
        return sum(1 for r in self.requests if r["kind"] == kind)

    def _next(self, kind: str) -> Action:
        with self.lock:
            queue = self.script.get(kind) or []
            return queue.pop(0) if queue else self.default.get(kind, "ok")

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        segments = [unquote(p) for p in parts.path.strip("/").split("/")]
        length = int(h.headers.get("Content-Length") or 0)
        body = json.loads(h.rfile.read(length) or b"{}") if length else {}
        shape = (h.command, segments[0], segments[2] if len(segments) == 3 else None,
                 len(segments))
        kind = {
            ("GET", "orders", None, 2): "get_order",
            ("GET", "customers", "orders", 3): "list_orders",
            ("GET", "customers", None, 1): "customers",
            ("POST", "orders", "refunds", 3): "refund",
            ("POST", "orders", "cancel", 3): "cancel",
            ("PATCH", "orders", "shipping-address", 3): "address",
        }.get(shape, "unknown")
        with self.lock:
            self.requests.append({"kind": kind, "method": h.command, "path": parts.path,
                                  "headers": dict(h.headers.items()), "body": body})
        action = self._next(kind)
        if action == "timeout":
            time.sleep(self.slow_s)
            action = 200
        if isinstance(action, tuple):
            status, headers = action
            return self._send(h, status, {"code": "flaky"}, headers)
        if isinstance(action, int) and action != 200:
            return self._send(h, action, {"code": "flaky", "message": "on purpose"})
        number = segments[1] if len(segments) > 1 else ""
        key = h.headers.get("Idempotency-Key") or ""
        if kind == "get_order":
            order = self.backend.get_order(number)
            if order is None:
                return self._send(h, 404, {"code": "not_found"})
            return self._send(h, 200, order_view_to_json(order))
        if kind == "list_orders":
            limit = int(parse_qs(parts.query).get("limit", ["5"])[0])
            orders = self.backend.list_orders(number, limit)
            return self._send(h, 200, {"orders": [order_view_to_json(o) for o in orders]})
        if kind == "customers":
            email = parse_qs(parts.query).get("email", [""])[0]
            customer = self.backend.customer_by_email(email)
            found = [customer_view_to_json(customer)] if customer else []
            return self._send(h, 200, {"customers": found})
        if kind == "refund":
            result = self.backend.issue_refund(number, Decimal(body["amount"]),
                                               body["item_ids"], body["reason"], key)
            return self._send(h, 201, result)
        if kind == "cancel":
            return self._send(h, 200, self.backend.cancel_order(number, key))
        if kind == "address":
            return self._send(h, 200, self.backend.update_address(number, body, key))
        return self._send(h, 404, {"code": "unknown_route"})

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, payload: Any,
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                h.send_header(name, value)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            pass


@pytest.fixture
def shop(engine: Engine) -> Iterator[tuple[FlakyShop, str]]:
    flaky = FlakyShop(DemoShopBackend(engine, clock=clock))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            flaky.handle(self)

        def do_POST(self) -> None:
            flaky.handle(self)

        def do_PATCH(self) -> None:
            flaky.handle(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield flaky, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _client(base_url: str, **kwargs: Any) -> HttpCommerceBackend:
    options: dict[str, Any] = {"auth_header": ("Authorization", "Bearer test-token"),
                               "timeout_s": 0.25, "max_attempts": 4,
                               "backoff_initial_s": 0.01, "backoff_max_s": 0.05,
                               "jitter_s": 0.01}
    options.update(kwargs)
    return HttpCommerceBackend(base_url, **options)


def test_reads_parse_the_wire_format(engine: Engine, shop: tuple[FlakyShop, str]) -> None:
    flaky, url = shop
    with _client(url) as client:
        order = client.get_order(ORDER)
        assert order == DemoShopBackend(engine).get_order(ORDER)
        assert client.get_order("CL-999999") is None
        recent = client.list_orders("cus_001", 3)
        assert recent and {o.customer_id for o in recent} == {"cus_001"}
        customer = client.customer_by_email("camille.martin@example.fr")
        assert customer is not None and customer.customer_id == "cus_001"
        assert client.customer_by_email("nobody@example.com") is None
    assert all(r["headers"]["Authorization"] == "Bearer test-token" for r in flaky.requests)
    assert flaky.count("get_order") == 2  # a 404 is an answer, not a retry


def test_retries_503_429_and_timeout_then_succeeds_with_one_key(
    engine: Engine, shop: tuple[FlakyShop, str]
) -> None:
    flaky, url = shop
    flaky.plan("refund", 503, (429, {"Retry-After": "0"}), "timeout", then="ok")
    with _client(url, max_attempts=5) as client:
        order = client.get_order(ORDER)
        assert order is not None
        result = client.issue_refund(ORDER, Decimal("119.00"), [order.items[0].id],
                                     "too warm", "key-abc")
    assert result["amount"] == "119.00"
    refunds = [r for r in flaky.requests if r["kind"] == "refund"]
    assert len(refunds) == 4
    assert {r["headers"]["Idempotency-Key"] for r in refunds} == {"key-abc"}
    assert {r["body"]["amount"] for r in refunds} == {"119.00"}
    with Session(engine) as session:
        rows = session.exec(select(Refund).where(col(Refund.idempotency_key) == "key-abc")).all()
    assert len(rows) == 1  # the timed-out attempt was applied once, the retry deduped


def test_always_500_raises_backend_unavailable(shop: tuple[FlakyShop, str]) -> None:
    flaky, url = shop
    flaky.plan("refund", then=500)
    with _client(url, max_attempts=3) as client, pytest.raises(BackendUnavailable) as err:
        client.issue_refund(ORDER, Decimal("10.00"), [], "x", "key-500")
    assert err.value.attempts == 3 and err.value.status_code == 500
    assert flaky.count("refund") == 3
    keys = {r["headers"]["Idempotency-Key"] for r in flaky.requests if r["kind"] == "refund"}
    assert keys == {"key-500"}


def test_timeouts_exhaust_attempts(shop: tuple[FlakyShop, str]) -> None:
    flaky, url = shop
    flaky.plan("get_order", then="timeout")
    with _client(url, max_attempts=2) as client, pytest.raises(BackendUnavailable):
        client.get_order(ORDER)
    assert flaky.count("get_order") == 2


def test_other_4xx_are_not_retried(shop: tuple[FlakyShop, str]) -> None:
    flaky, url = shop
    flaky.plan("cancel", 422)
    with _client(url) as client, pytest.raises(BackendRejected) as err:
        client.cancel_order(ORDER, "key-422")
    assert err.value.code == "flaky" and err.value.status_code == 422
    assert flaky.count("cancel") == 1


def test_retry_after_is_honoured_when_small_and_stops_when_large(
    shop: tuple[FlakyShop, str]
) -> None:
    flaky, url = shop
    slept: list[float] = []
    flaky.plan("get_order", (429, {"Retry-After": "2"}), 503, then="ok")
    with _client(url, sleep=slept.append, max_retry_after_s=5) as client:
        assert client.get_order(ORDER) is not None
    assert slept[0] == 2.0 and 0 < slept[1] <= 0.07  # then exponential backoff + jitter
    assert flaky.count("get_order") == 3

    flaky.plan("get_order", (503, {"Retry-After": "120"}), then="ok")
    with _client(url, sleep=slept.append, max_retry_after_s=5) as client, \
            pytest.raises(BackendUnavailable) as err:
        client.get_order(ORDER)
    assert err.value.attempts == 1


def test_parse_retry_after() -> None:
    now = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
    assert parse_retry_after("3", now=now) == 3.0
    assert parse_retry_after("Sun, 15 Mar 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


def test_path_segments_are_encoded(shop: tuple[FlakyShop, str]) -> None:
    flaky, url = shop
    with _client(url) as client:
        assert client.get_order("../admin") is None
    assert flaky.requests[-1]["path"] == "/orders/..%2Fadmin"


def test_service_turns_backend_failure_into_failed_ticket_and_no_success(
    engine: Engine, shop: tuple[FlakyShop, str]
) -> None:
    flaky, url = shop
    flaky.plan("refund", then=500)
    client = _client(url, max_attempts=3)
    service = ActionService(client, PolicyConfig(), engine, clock=clock)
    request = ActionRequest(tool="refund_order", args={"order_number": ORDER},
                            conversation_id="conv-http",
                            identity=Identity(customer_id="cus_001", verified=True))
    preview = service.preview(request)
    assert preview.decision.allowed

    outcome = service.execute(preview)
    assert outcome.status == "failed" and outcome.code == "backend_unavailable"
    assert not outcome.replayed and outcome.result["ticket_id"]
    assert flaky.count("refund") == 3
    with Session(engine) as session:
        executions = session.exec(select(ActionExecution).where(
            col(ActionExecution.idempotency_key) == preview.idempotency_key)).all()
        assert [e.status for e in executions] == ["failed"]
        assert executions[0].executed_at is None
        tickets = session.exec(select(Ticket).where(
            col(Ticket.conversation_id) == "conv-http")).all()
        assert [t.kind for t in tickets] == ["follow_up"]
        assert tickets[0].id == outcome.result["ticket_id"]
        assert preview.idempotency_key in tickets[0].summary
        order = session.exec(select(Order).where(col(Order.number) == ORDER)).one()
        assert order.refunds == []
    events = [r["event"] for r in service.audit_trail(conversation_id="conv-http")]
    assert "failed" in events and "executed" not in events

    # the shop recovers: the same confirmation now executes, with the same key, once
    flaky.plan("refund", then="ok")
    retried = service.execute(preview)
    assert retried.status == "executed" and not retried.replayed
    keys = {r["headers"]["Idempotency-Key"] for r in flaky.requests if r["kind"] == "refund"}
    assert keys == {preview.idempotency_key}
    assert service.execute(preview).replayed
    with Session(engine) as session:
        order = session.exec(select(Order).where(col(Order.number) == ORDER)).one()
        assert sum(r.amount for r in order.refunds) == Decimal("158.00")
    client.close()


def test_service_lookup_when_backend_is_down(engine: Engine,
                                             shop: tuple[FlakyShop, str]) -> None:
    flaky, url = shop
    flaky.plan("get_order", then=503)
    with _client(url, max_attempts=2) as client:
        service = ActionService(client, PolicyConfig(), engine, clock=clock)
        identity = Identity(customer_id="cus_001", verified=True)
        status = service.get_order_status(ORDER, identity)
        assert status["found"] is False and status["code"] == "backend_unavailable"
        cancel = service.execute(service.preview(ActionRequest(
            tool="cancel_order", args={"order_number": SCENARIO_ORDERS["paid_not_shipped"]},
            conversation_id="conv-down", identity=identity)))
        assert cancel.status == "failed" and cancel.code == "backend_unavailable"
        assert cancel.result["ticket_id"]
    with Session(engine) as session:
        assert session.exec(select(ActionExecution)).all() == []


def test_the_customer_hears_nothing_changed_when_the_shop_stays_down(
    engine: Engine, shop: tuple[FlakyShop, str], demo_runtime: Any
) -> None:
    from dataclasses import replace

    from langgraph.checkpoint.memory import MemorySaver

    from agents.graph import build_graph
    from agents.support_agent import SupportAgent

    flaky, url = shop
    flaky.plan("refund", then=500)
    client = _client(url, max_attempts=3)
    service = ActionService(client, PolicyConfig(), engine, clock=clock)
    context = replace(demo_runtime.context, actions=service, chat_model=None)
    agent = SupportAgent(build_graph(MemorySaver()), context)
    asked = agent.ask(f"I want a refund for order {ORDER}", customer_id="cus_001")
    assert asked.awaiting_confirmation
    failed = agent.ask("yes", asked.conversation_id, customer_id="cus_001")
    assert failed.action and failed.action["status"] == "failed"
    assert "nothing has been changed" in failed.reply and "ticket" in failed.reply
    assert failed.handoff_offered
    with Session(engine) as session:
        order = session.exec(select(Order).where(col(Order.number) == ORDER)).one()
        assert order.refunds == []
        tickets = session.exec(select(Ticket).where(
            col(Ticket.conversation_id) == asked.conversation_id)).all()
        assert [t.kind for t in tickets] == ["follow_up"]
    client.close()
