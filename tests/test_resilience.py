"""Fault injection: a provider that times out, answers 429/500 or sends malformed tool
calls. Whatever it does, every turn gets a reply, history holds exactly one customer
message and one reply per turn, and no action is half done.

The provider errors are the OpenAI SDK's own exception classes built on real HTTP
responses (what `langchain-openai` raises), so the status codes are recognised the way
they are in production; the breaker is driven by a controllable clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import httpx2
import openai
import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.checkpoint.memory import MemorySaver
from sqlmodel import Session, col, select

from agents.graph import build_graph
from agents.resilience import (
    CircuitBreaker,
    ModelGuard,
    ModelUnavailable,
    RetryPolicy,
    is_transient,
    use_guard,
)
from agents.support_agent import SupportAgent, TurnResult
from conftest import ShopAgent
from tools.records import ActionExecution, AuditRecord
from tools.shop.models import Order, Refund

_REQUEST = httpx2.Request("POST", "https://api.openai.test/v1/chat/completions")


def rate_limited() -> openai.RateLimitError:
    response = httpx2.Response(429, request=_REQUEST, headers={"retry-after": "1"},
                              json={"error": {"message": "slow down"}})
    return openai.RateLimitError("rate limited", response=response, body=None)


def server_error() -> openai.InternalServerError:
    response = httpx2.Response(500, request=_REQUEST, json={"error": {"message": "boom"}})
    return openai.InternalServerError("server error", response=response, body=None)


def timed_out() -> openai.APITimeoutError:
    return openai.APITimeoutError(request=_REQUEST)


def bad_request() -> openai.BadRequestError:
    response = httpx2.Response(400, request=_REQUEST, json={"error": {"message": "bad"}})
    return openai.BadRequestError("bad request", response=response, body=None)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ScriptedProvider(BaseChatModel):
    """Plays a chat-model provider: each call takes the next scripted outcome, an
    exception to raise or an AIMessage to return; the last one repeats."""

    script: list[Any]
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted-provider"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedProvider:
        return self

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        outcome = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if isinstance(outcome, BaseException):
            raise outcome
        return ChatResult(generations=[ChatGeneration(message=outcome)])


def _guarded(script: list[Any], *, attempts: int = 3, threshold: int = 50,
             clock: Clock | None = None) -> tuple[ScriptedProvider, list[float]]:
    model = ScriptedProvider(script=script)
    waits: list[float] = []
    use_guard(model, ModelGuard(
        policy=RetryPolicy(attempts=attempts, initial_backoff_s=0.5, max_backoff_s=4.0,
                           jitter_s=0.5, budget_s=60),
        breaker=CircuitBreaker(threshold, reset_timeout_s=30, clock=clock or Clock()),
        sleep=waits.append))
    return model, waits


def _agent(shop: ShopAgent, model: ScriptedProvider) -> SupportAgent:
    context = replace(shop.agent.context, chat_model=model, llm_intent_below=0.0)
    return SupportAgent(build_graph(MemorySaver()), context)


def _assert_one_reply_per_turn(agent: SupportAgent, result: TurnResult, turns: int) -> None:
    roles = [m["role"] for m in agent.history(result.conversation_id)]
    assert roles == ["customer", "assistant"] * turns
    assert result.reply.strip()


def _refunds(shop: ShopAgent, number: str) -> list[Refund]:
    with Session(shop.engine) as session:
        order = session.exec(select(Order).where(Order.number == number)).one()
        return list(session.exec(select(Refund).where(Refund.order_id == order.id)))


def _executions(shop: ShopAgent) -> list[ActionExecution]:
    with Session(shop.engine) as session:
        return list(session.exec(select(ActionExecution)))


@pytest.fixture
def shop(shop_agent: ShopAgent) -> Iterator[ShopAgent]:
    yield shop_agent


# --- recognising transient errors -----------------------------------------------------


@pytest.mark.parametrize("exc", [rate_limited(), server_error(), timed_out(), TimeoutError(),
                                 ConnectionError(), httpx.ReadTimeout("slow"),
                                 httpx.ConnectError("refused")])
def test_timeouts_429_and_5xx_are_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize("exc", [bad_request(), ValueError("bad json"), KeyError("x")])
def test_client_errors_and_bugs_are_not_retried(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_a_wrapped_provider_error_is_recognised_through_its_cause() -> None:
    try:
        try:
            raise rate_limited()
        except openai.RateLimitError as inner:
            raise RuntimeError("the integration wrapped it") from inner
    except RuntimeError as outer:
        assert is_transient(outer)


# --- retries and the breaker ----------------------------------------------------------


def test_retries_back_off_exponentially_with_jitter_then_succeed() -> None:
    model, waits = _guarded([timed_out(), rate_limited(), server_error(), AIMessage("ok")],
                            attempts=4)
    guard = ModelGuard(policy=RetryPolicy(attempts=4), sleep=waits.append)
    use_guard(model, guard)
    from agents.resilience import call_model

    assert call_model(model, ["hi"]).content == "ok"
    assert model.calls == 4
    assert len(waits) == 3
    assert 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 1.5 and 2.0 <= waits[2] <= 2.5


def test_retries_stop_at_the_attempt_limit_and_the_time_budget() -> None:
    from agents.resilience import call_model

    model, _ = _guarded([server_error()], attempts=3)
    with pytest.raises(ModelUnavailable) as caught:
        call_model(model, ["hi"])
    assert caught.value.reason == "transient" and model.calls == 3

    clock = Clock()

    def sleep(seconds: float) -> None:
        clock.now += seconds

    slow = ScriptedProvider(script=[server_error()])
    use_guard(slow, ModelGuard(policy=RetryPolicy(attempts=10, initial_backoff_s=4,
                                                  max_backoff_s=4, jitter_s=0, budget_s=10),
                               sleep=sleep, clock=clock))
    with pytest.raises(ModelUnavailable):
        call_model(slow, ["hi"])
    assert slow.calls == 3  # attempts at 0, 4 and 8 s; a fourth would start past 10 s


def test_a_bad_request_is_not_retried() -> None:
    from agents.resilience import call_model

    model, waits = _guarded([bad_request(), AIMessage("never")])
    with pytest.raises(ModelUnavailable) as caught:
        call_model(model, ["hi"])
    assert caught.value.reason == "error" and model.calls == 1 and waits == []


def test_the_breaker_opens_then_half_opens_for_one_probe() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout_s=30, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state == "closed"
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 29.9
    assert not breaker.allow()
    clock.now += 0.2
    assert breaker.state == "half_open"
    assert breaker.allow() and not breaker.allow()  # one probe at a time
    breaker.record_failure()
    assert breaker.state == "open" and breaker.times_opened == 2
    clock.now += 30
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow()


# --- through the real graph -------------------------------------------------------------


def test_a_provider_that_always_times_out_still_gets_the_customer_a_cited_answer(
        shop: ShopAgent) -> None:
    model, _ = _guarded([timed_out()])
    agent = _agent(shop, model)
    first = agent.ask("How much does express delivery cost?")
    assert first.responder == "offline" and first.citations and "12.90" in first.reply
    second = agent.ask("How do I return an item?", first.conversation_id)
    third = agent.ask("Do you ship to Switzerland?", first.conversation_id)
    assert second.reply and third.reply
    _assert_one_reply_per_turn(agent, third, 3)


def test_429_then_500_then_success_gives_the_llm_answer(shop: ShopAgent) -> None:
    model, waits = _guarded([rate_limited(), server_error(),
                             AIMessage("Express delivery costs 12.90 EUR [1].")])
    agent = _agent(shop, model)
    result = agent.ask("How much does express delivery cost?")
    assert result.responder == "llm" and result.reply.startswith("Express delivery")
    assert model.calls == 3 and len(waits) == 2
    _assert_one_reply_per_turn(agent, result, 1)


def test_a_refund_while_the_provider_is_down_runs_offline_and_exactly_once(
        shop: ShopAgent) -> None:
    model, _ = _guarded([server_error()])
    agent = _agent(shop, model)
    asked = agent.ask("I want a refund for CL-100101, it's not as described",
                      customer_id="cus_001")
    assert asked.awaiting_confirmation and asked.action
    assert asked.action["source"] == "offline"
    assert _refunds(shop, "CL-100101") == []
    done = agent.ask("yes", asked.conversation_id, customer_id="cus_001")
    assert done.action and done.action["status"] == "executed" and done.reply
    refunds = _refunds(shop, "CL-100101")
    again = agent.ask("yes", asked.conversation_id, customer_id="cus_001")
    assert again.reply
    assert _refunds(shop, "CL-100101") == refunds  # one refund row per item, written once
    executions = [e for e in _executions(shop) if e.tool == "refund_order"]
    assert [e.status for e in executions] == ["executed"]
    assert sum(r.amount for r in refunds) == executions[0].amount
    assert all(r.idempotency_key.startswith(executions[0].idempotency_key) for r in refunds)
    with Session(shop.engine) as session:
        audited = session.exec(select(AuditRecord).where(
            AuditRecord.event == "executed", col(AuditRecord.tool) == "refund_order")).all()
    assert len(audited) == 1
    _assert_one_reply_per_turn(agent, again, 3)


@pytest.mark.parametrize(
    ("message", "label"),
    [
        (AIMessage("", invalid_tool_calls=[{"name": "refund_order", "args": "{not json",
                                            "id": "c1", "error": "bad json",
                                            "type": "invalid_tool_call"}]), "bad json"),
        (AIMessage("", tool_calls=[{"name": "drop_all_tables", "args": {}, "id": "c2"}]),
         "unknown tool"),
        (AIMessage("", tool_calls=[{"name": "refund_order", "id": "c3",
                                    "args": {"order_number": 100101, "amount": "lots",
                                             "item_names": "everything"}}]), "wrong types"),
    ],
)
def test_a_malformed_tool_call_executes_nothing_and_still_replies(
        shop: ShopAgent, message: AIMessage, label: str) -> None:
    model, _ = _guarded([message])
    agent = _agent(shop, model)
    before = len(_refunds(shop, "CL-100101"))
    result = agent.ask("refund my order please", customer_id="cus_001")
    assert result.reply.strip(), label
    assert (result.action or {}).get("status") != "executed"
    assert len(_refunds(shop, "CL-100101")) == before
    assert all(e.status != "in_progress" for e in _executions(shop))
    _assert_one_reply_per_turn(agent, result, 1)


def test_the_breaker_stops_calling_a_dead_provider_and_probes_it_later(
        shop: ShopAgent) -> None:
    clock = Clock()
    model, _ = _guarded([server_error()] * 4 + [AIMessage("Express costs 12.90 EUR [1].")],
                        attempts=2, threshold=4, clock=clock)
    agent = _agent(shop, model)
    conversation = None
    for _ in range(2):  # 2 turns x 2 attempts = 4 failures: the breaker opens
        result = agent.ask("How much does express delivery cost?", conversation)
        conversation = result.conversation_id
        assert result.responder == "offline" and result.citations
    assert model.calls == 4
    for _ in range(3):  # open: answered offline without calling the provider
        result = agent.ask("How much does express delivery cost?", conversation)
        assert result.responder == "offline" and result.citations
    assert model.calls == 4
    clock.now += 31  # half-open: one probe, which succeeds and closes the breaker
    result = agent.ask("How much does express delivery cost?", conversation)
    assert result.responder == "llm" and model.calls == 5
    _assert_one_reply_per_turn(agent, result, 6)
