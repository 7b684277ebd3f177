"""Crash safety: `supportgraph serve` killed with SIGKILL in the middle of a turn and
restarted on the same data directory loses no acknowledged message and leaves no
action in an unknown state: a confirmation in flight is either still pending (and can
be confirmed) or executed exactly once, with its execution and audit rows.

A real server process, real SQLite files (shop, checkpoints) and the embedded Qdrant
store; the data directory is prepared once with `supportgraph demo --prepare-only`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, col, select

from channels.app import sign_user
from conftest import DEMO_IDENTITY_SECRET, SUPPORTGRAPH_BIN, free_port
from tools.records import ActionExecution, AuditRecord
from tools.shop.models import Order, Refund

BIN = SUPPORTGRAPH_BIN
SECRET = DEMO_IDENTITY_SECRET
TIMEOUT_S = 240
"""Generous: the first turns of a fresh server on a loaded 2-core machine are slow."""


@contextmanager
def running_server(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    process = subprocess.Popen([str(BIN), "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, "the server exited while starting"
            with suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.3)
        yield process, base
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # a turn still running: do not wait for it
                _kill(process)


def _kill(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def _as(customer: str, text: str) -> dict[str, str]:
    return {"text": text, "customer_id": customer, "user_hash": sign_user(SECRET, customer)}


def _history(base: str, conversation: str) -> list[tuple[str, str]]:
    response = httpx.get(f"{base}/v1/conversations/{conversation}/messages", timeout=TIMEOUT_S)
    assert response.status_code == 200, response.text
    return [(m["role"], m["text"]) for m in response.json()["messages"]]


def _shop(env: dict[str, str]) -> Any:
    return create_engine(f"sqlite:///{Path(env['SUPPORTGRAPH_DATA_DIR']) / 'supportgraph.db'}")


def _assert_done_exactly_once(env: dict[str, str], number: str, tool: str) -> None:
    engine = _shop(env)
    try:
        with Session(engine) as session:
            executions = session.exec(select(ActionExecution).where(
                col(ActionExecution.order_number) == number,
                col(ActionExecution.tool) == tool)).all()
            assert [e.status for e in executions] == ["executed"]
            execution = executions[0]
            order = session.exec(select(Order).where(Order.number == number)).one()
            refunds = session.exec(select(Refund).where(Refund.order_id == order.id)).all()
            assert all(r.idempotency_key.startswith(execution.idempotency_key)
                       for r in refunds)
            if tool == "refund_order":
                assert refunds
                assert sum((r.amount for r in refunds), Decimal("0")) == execution.amount
            audited = session.exec(select(AuditRecord).where(
                AuditRecord.event == "executed", AuditRecord.order_number == number)).all()
            assert len(audited) == 1
            orphans = session.exec(select(ActionExecution).where(
                ActionExecution.status == "in_progress")).all()
            assert orphans == []
    finally:
        engine.dispose()


def test_a_server_killed_mid_turn_keeps_every_acknowledged_message(
        prepared_demo_env: dict[str, str]) -> None:
    questions = ["How do I return an item?", "Do you ship to Switzerland?",
                 "When will I get my refund?"]
    with running_server(prepared_demo_env) as (process, base):
        conversation = httpx.post(f"{base}/v1/conversations", timeout=TIMEOUT_S).json()[
            "conversation_id"]
        acknowledged = []
        for text in questions:
            reply = httpx.post(f"{base}/v1/conversations/{conversation}/messages",
                               json={"text": text}, timeout=TIMEOUT_S)
            assert reply.status_code == 200
            acknowledged += [("customer", text), ("assistant", reply.json()["reply"])]
        in_flight = "Can I pay in three instalments?"
        with httpx.stream("POST", f"{base}/v1/conversations/{conversation}/messages/stream",
                          json={"text": in_flight}, timeout=TIMEOUT_S) as stream:
            first = next(stream.iter_lines())
            assert first.startswith(": turn started")
            _kill(process)  # the turn is running; its reply was never acknowledged
    with running_server(prepared_demo_env) as (_, base):
        history = _history(base, conversation)
        assert history[:len(acknowledged)] == acknowledged
        rest = history[len(acknowledged):]
        # the unacknowledged turn: gone, or stored once (with or without its reply)
        assert [role for role, _ in rest] in ([], ["customer"], ["customer", "assistant"])
        assert all(text == in_flight for role, text in rest if role == "customer")
        after = httpx.post(f"{base}/v1/conversations/{conversation}/messages",
                           json={"text": "How long does standard delivery take?"},
                           timeout=TIMEOUT_S)
        assert after.status_code == 200 and after.json()["reply"]
        history = _history(base, conversation)
        assert history[:len(acknowledged)] == acknowledged
        assert history[-2:] == [("customer", "How long does standard delivery take?"),
                                ("assistant", after.json()["reply"])]
        assert sum(1 for m in history if m == ("customer", in_flight)) <= 1


@pytest.mark.parametrize(
    ("delay_s", "tool", "number", "text"),
    [(0.0, "refund_order", "CL-100101", "I want a refund for CL-100101, it arrived damaged"),
     (0.15, "cancel_order", "CL-100118", "Please cancel my order CL-100118")])
def test_a_server_killed_while_confirming_an_action_runs_it_exactly_once(
        prepared_demo_env: dict[str, str], delay_s: float, tool: str, number: str,
        text: str) -> None:
    customer = "cus_001"
    with running_server(prepared_demo_env) as (process, base):
        conversation = httpx.post(f"{base}/v1/conversations", timeout=TIMEOUT_S).json()[
            "conversation_id"]
        asked = httpx.post(f"{base}/v1/conversations/{conversation}/messages",
                           json=_as(customer, text), timeout=TIMEOUT_S)
        assert asked.status_code == 200 and asked.json()["awaiting_confirmation"], asked.text

        def confirm() -> None:
            with suppress(httpx.HTTPError):
                httpx.post(f"{base}/v1/conversations/{conversation}/confirm",
                           json={"confirmed": True, "customer_id": customer,
                                 "user_hash": sign_user(SECRET, customer)}, timeout=TIMEOUT_S)

        sender = threading.Thread(target=confirm)
        sender.start()
        time.sleep(delay_s)
        _kill(process)
        sender.join(timeout=TIMEOUT_S)
    with running_server(prepared_demo_env) as (_, base):
        again = httpx.post(f"{base}/v1/conversations/{conversation}/confirm",
                           json={"confirmed": True, "customer_id": customer,
                                 "user_hash": sign_user(SECRET, customer)}, timeout=TIMEOUT_S)
        if again.status_code == 409:  # it had executed before the kill
            assert again.json()["code"] == "nothing_to_confirm"
        else:
            assert again.status_code == 200, again.text
            assert again.json()["action"]["status"] == "executed"
        history = _history(base, conversation)
        assert history[0] == ("customer", text)
        assert [role for role, _ in history[:2]] == ["customer", "assistant"]
    _assert_done_exactly_once(prepared_demo_env, number, tool)
