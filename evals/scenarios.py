"""`supportgraph eval scenarios`: scripted multi-turn conversations against a fresh shop.

A scenario line (JSONL):

    {"name": "refund_happy_path",
     "identity": {"customer_id": "cus_001"},          # null/absent: an anonymous visitor
     "turns": ["I want a refund for CL-100101", "yes"],
     "expected_tool_calls": [{"tool": "refund_order", "args": {"order_number": "CL-100101"}}],
     "expected_refusals": [],     # policy or input-guard codes, e.g. "refund_window_expired"
     "expected_end_state": {"orders": {"CL-100101": {"status": "delivered"}},
                            "refunds": {"CL-100101": {"count": 1}},
                            "pending_approvals": 0},
     "expect_reply_contains": ["refunded"],            # in the last reply
     "tags": ["happy_path"]}

Each scenario runs on its own freshly seeded shop database. Executed tool calls are
compared with the expected ones (tool name + the given argument subset); a scenario
passes when every expected call happened, no side effect happened that was not
expected, every expected refusal occurred, the end state matches and the last reply
contains the expected text. Tool-call precision/recall and ragas' ToolCallAccuracy are
reported over all scenarios.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from langgraph.checkpoint.memory import MemorySaver
from sqlmodel import Session, select

from evals.datasets import DatasetError, read_jsonl, require_new_name, require_turns
from evals.metrics import run_async
from tools.actions import SIDE_EFFECT_TOOLS

KNOWN_STATE_KEYS = {"orders", "refunds", "pending_approvals", "tickets"}


@dataclass(frozen=True)
class Scenario:
    name: str
    turns: list[str]
    identity: dict[str, Any] | None
    expected_tool_calls: list[dict[str, Any]]
    expected_refusals: list[str]
    expected_end_state: dict[str, Any]
    expect_reply_contains: list[str]
    tags: list[str]
    line: int


def load_scenarios(path: Path) -> list[Scenario]:
    scenarios: list[Scenario] = []
    names: set[str] = set()
    for lineno, obj in read_jsonl(path):
        name = require_new_name(path, lineno, obj, names, "scenario")
        turns = require_turns(path, lineno, obj)
        identity = obj.get("identity")
        if identity is not None and (not isinstance(identity, dict)
                                     or not isinstance(identity.get("customer_id"), str)):
            raise DatasetError(path, "must be null or {\"customer_id\": \"...\"}", lineno,
                               "identity")
        calls = obj.get("expected_tool_calls", [])
        if not isinstance(calls, list) or not all(
                isinstance(c, dict) and isinstance(c.get("tool"), str)
                and isinstance(c.get("args", {}), dict) for c in calls):
            raise DatasetError(path, "must be a list of {\"tool\", \"args\"?}", lineno,
                               "expected_tool_calls")
        refusals = obj.get("expected_refusals", [])
        if not isinstance(refusals, list) or not all(isinstance(r, str) for r in refusals):
            raise DatasetError(path, "must be a list of policy codes", lineno,
                               "expected_refusals")
        state = obj.get("expected_end_state", {})
        if not isinstance(state, dict) or set(state) - KNOWN_STATE_KEYS:
            raise DatasetError(path, f"must be an object with keys among "
                               f"{sorted(KNOWN_STATE_KEYS)}", lineno, "expected_end_state")
        contains = obj.get("expect_reply_contains", [])
        if not isinstance(contains, list) or not all(isinstance(c, str) for c in contains):
            raise DatasetError(path, "must be a list of strings", lineno,
                               "expect_reply_contains")
        scenarios.append(Scenario(name, list(turns), identity, calls, refusals, state, contains,
                                  list(obj.get("tags", [])), lineno))
    if not scenarios:
        raise DatasetError(path, "no scenarios")
    return scenarios


@dataclass
class ScenarioResult:
    name: str
    passed: bool
    failures: list[str] = field(default_factory=list)
    executed: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    tool_call_accuracy: float = 0.0
    seconds: float = 0.0


def _matches(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    if expected["tool"] != actual["tool"]:
        return False
    args = actual.get("args", {})
    for key, value in expected.get("args", {}).items():
        got = args.get(key)
        if isinstance(value, list) and isinstance(got, list):
            if sorted(map(str, value)) != sorted(map(str, got)):
                return False
        elif str(got).lower() != str(value).lower():
            try:
                if Decimal(str(got)) != Decimal(str(value)):
                    return False
            except ArithmeticError:
                return False
    return True


def _end_state_failures(engine: Any, expected: dict[str, Any]) -> list[str]:
    from tools.records import PendingApproval, Ticket
    from tools.shop.models import Order, Refund

    failures: list[str] = []
    with Session(engine) as session:
        for number, want in expected.get("orders", {}).items():
            order = session.exec(select(Order).where(Order.number == number)).first()
            if order is None:
                failures.append(f"order {number} does not exist")
                continue
            for key, value in want.items():
                got = getattr(order, key, None)
                if str(got) != str(value):
                    failures.append(f"order {number}.{key} is {got}, expected {value}")
        for number, want in expected.get("refunds", {}).items():
            order = session.exec(select(Order).where(Order.number == number)).first()
            rows = list(session.exec(select(Refund).where(Refund.order_id == order.id))) \
                if order is not None else []
            issued = [r for r in rows if str(r.status) == "issued"]
            if "count" in want and len(issued) != int(want["count"]):
                failures.append(f"order {number} has {len(issued)} issued refunds, "
                                f"expected {want['count']}")
            total = sum((r.amount for r in issued), Decimal("0"))
            if "total" in want and total != Decimal(str(want["total"])):
                failures.append(f"order {number} refunds total {total}, expected {want['total']}")
        if "pending_approvals" in expected:
            pending = len(list(session.exec(select(PendingApproval).where(
                PendingApproval.status == "pending"))))
            if pending != int(expected["pending_approvals"]):
                failures.append(f"{pending} pending approvals, expected "
                                f"{expected['pending_approvals']}")
        if "tickets" in expected:
            tickets = len(list(session.exec(select(Ticket))))
            if tickets != int(expected["tickets"]):
                failures.append(f"{tickets} tickets, expected {expected['tickets']}")
    return failures


def _ragas_tool_accuracy(scenario: Scenario, executed: list[dict[str, Any]]) -> float:
    """ragas' ToolCallAccuracy between the expected and the executed tool calls."""
    if not scenario.expected_tool_calls and not executed:
        return 1.0
    if not scenario.expected_tool_calls or not executed:
        return 0.0
    from ragas.dataset_schema import MultiTurnSample
    from ragas.messages import AIMessage, HumanMessage, ToolCall
    from ragas.metrics import ToolCallAccuracy

    calls = [ToolCall(name=c["tool"], args={k: str(v) for k, v in c["args"].items()
                                            if k in {a for e in scenario.expected_tool_calls
                                                     for a in e.get("args", {})}})
             for c in executed]
    reference = [ToolCall(name=c["tool"], args={k: str(v) for k, v in c.get("args", {}).items()})
                 for c in scenario.expected_tool_calls]
    sample = MultiTurnSample(user_input=[HumanMessage(content=scenario.turns[0]),
                                         AIMessage(content="", tool_calls=calls)],
                             reference_tool_calls=reference)
    return float(run_async(ToolCallAccuracy().multi_turn_ascore(sample)))


def run_scenario(scenario: Scenario, make_agent: Callable[[Any], Any]) -> ScenarioResult:
    """Run one scenario on a fresh shop; `make_agent(engine)` returns a SupportAgent."""
    from supportgraph.db import init_db, make_engine
    from tools.shop.seed import seed_demo_shop

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sg-scenario-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'shop.db'}")
        init_db(engine)
        with Session(engine) as session:
            seed_demo_shop(session)
            session.commit()
        agent = make_agent(engine)
        customer = (scenario.identity or {}).get("customer_id")
        conversation = agent.new_conversation_id()
        result = ScenarioResult(scenario.name, passed=False)
        for turn in scenario.turns:
            outcome = agent.ask(turn, conversation, customer_id=customer)
            result.replies.append(outcome.reply)
            action = outcome.action or {}
            if action.get("status") == "executed" and action.get("tool"):
                result.executed.append({"tool": action["tool"], "args": action.get("args", {})})
            if action.get("status") in {"refused", "not_found"} or (
                    action.get("code") and action.get("status") not in
                    {"executed", "awaiting_confirmation", "declined", "pending_approval"}):
                result.refusals.append(str(action.get("code")))
            if action.get("status") == "pending_approval":
                result.refusals.append("needs_approval")
            if outcome.guard and not outcome.guard.get("allowed", True):
                result.refusals.append(str(outcome.guard.get("code")))  # the input guard
        failures = result.failures
        for want in scenario.expected_tool_calls:
            if not any(_matches(want, got) for got in result.executed):
                failures.append(f"expected tool call not executed: {want}")
        for got in result.executed:
            if got["tool"] in SIDE_EFFECT_TOOLS and not any(
                    _matches(want, got) for want in scenario.expected_tool_calls):
                failures.append(f"unexpected side effect: {got['tool']} {got['args']}")
        for code in scenario.expected_refusals:
            if code not in result.refusals:
                failures.append(f"expected refusal '{code}' did not happen "
                                f"(got {result.refusals})")
        failures += _end_state_failures(engine, scenario.expected_end_state)
        last = result.replies[-1] if result.replies else ""
        for text in scenario.expect_reply_contains:
            if text.lower() not in last.lower():
                failures.append(f"last reply does not contain '{text}': {last[:160]!r}")
        engine.dispose()
    result.tool_call_accuracy = _ragas_tool_accuracy(scenario, result.executed)
    result.passed = not failures
    result.seconds = time.perf_counter() - started
    return result


def agent_factory(runtime: Any) -> Callable[[Any], Any]:
    """Agents sharing the runtime's knowledge base and classifier, each on its own shop."""
    from agents.graph import build_graph
    from agents.support_agent import SupportAgent
    from supportgraph.runtime import make_action_service, order_item_names

    def make(engine: Any) -> SupportAgent:
        actions = make_action_service(runtime.settings, runtime.bot, engine)
        context = replace(runtime.context, actions=actions,
                          order_items=order_item_names(actions, runtime.bot))
        return SupportAgent(build_graph(MemorySaver()), context)

    return make


def summarise(results: Sequence[ScenarioResult], scenarios: Sequence[Scenario]
              ) -> dict[str, Any]:
    expected = sum(len(s.expected_tool_calls) for s in scenarios)
    executed = sum(len(r.executed) for r in results)
    matched_expected = sum(
        sum(1 for want in s.expected_tool_calls if any(_matches(want, g) for g in r.executed))
        for s, r in zip(scenarios, results, strict=True))
    matched_executed = sum(
        sum(1 for got in r.executed if any(_matches(w, got) for w in s.expected_tool_calls))
        for s, r in zip(scenarios, results, strict=True))
    return {
        "scenarios": len(results),
        "passed": sum(r.passed for r in results),
        "pass_rate": round(sum(r.passed for r in results) / len(results), 4),
        "tool_call_precision": round(matched_executed / executed, 4) if executed else 1.0,
        "tool_call_recall": round(matched_expected / expected, 4) if expected else 1.0,
        "tool_call_accuracy": round(statistics.fmean(r.tool_call_accuracy for r in results), 4),
        "unauthorized_side_effects": sum(
            1 for r in results for f in r.failures if f.startswith("unexpected side effect")),
        "results": [
            {"name": r.name, "passed": r.passed, "failures": r.failures,
             "executed": r.executed, "refusals": r.refusals, "last_reply": r.replies[-1]
             if r.replies else "", "tool_call_accuracy": r.tool_call_accuracy,
             "seconds": round(r.seconds, 3)}
            for r in results
        ],
    }
