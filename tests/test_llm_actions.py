"""The LLM path of the action agent with a scripted chat model that emits real tool calls,
including hostile ones: the same validation, ownership, policy and confirmation apply."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import MemorySaver
from sqlmodel import Session, select

from agents.graph import build_graph
from agents.support_agent import SupportAgent
from conftest import ShopAgent
from tools.shop.models import Order, Refund


class ToolCallingFake(FakeMessagesListChatModel):
    """Plays the provider: returns scripted AIMessages (with `tool_calls`) in order.

    Scripted replies that are not tool calls serve the other LLM steps (intent choice,
    grounded answers); `bind_tools` returns the same model, as a provider client would.
    """

    def bind_tools(self, tools: Any, **kwargs: Any) -> ToolCallingFake:  # type: ignore[override]
        return self


def _call(name: str, **args: Any) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call_{name}"}])


def _agent(shop: ShopAgent, responses: list[AIMessage]) -> SupportAgent:
    model = ToolCallingFake(responses=responses)
    context = replace(shop.agent.context, chat_model=model, llm_intent_below=0.0)
    return SupportAgent(build_graph(MemorySaver()), context)


def _refunds(shop: ShopAgent, number: str) -> list[Refund]:
    with Session(shop.engine) as session:
        order = session.exec(select(Order).where(Order.number == number)).one()
        return list(session.exec(select(Refund).where(Refund.order_id == order.id)))


@pytest.fixture
def shop(shop_agent: ShopAgent) -> Iterator[ShopAgent]:
    yield shop_agent


def test_a_proposed_refund_still_needs_the_customers_yes(shop: ShopAgent) -> None:
    agent = _agent(shop, [_call("refund_order", order_number="CL-100101",
                                reason="not as described")])
    asked = agent.ask("I want a refund for CL-100101, it's not as described",
                      customer_id="cus_001")
    assert asked.action and asked.action["source"] == "llm"
    assert asked.awaiting_confirmation and _refunds(shop, "CL-100101") == []
    done = agent.ask("yes", asked.conversation_id, customer_id="cus_001")
    assert done.action and done.action["status"] == "executed"
    assert _refunds(shop, "CL-100101")


@pytest.mark.parametrize(
    ("customer", "message", "call", "code"),
    [
        ("cus_001", "refund my order", _call("refund_order", order_number="CL-100111"),
         "not_found"),
        ("cus_001", "refund CL-100101", _call("refund_order", order_number="CL-100101",
                                              amount="5000"), "amount_exceeds_refundable"),
        ("cus_005", "refund CL-100110 again", _call("refund_order", order_number="CL-100110"),
         "already_refunded"),
        ("cus_002", "cancel CL-100117", _call("cancel_order", order_number="CL-100117"),
         "cannot_cancel_shipped"),
        ("cus_001", "refund", _call("refund_order", order_number="CL-100101",
                                    customer_id="cus_008", amount="-50"),
         "invalid_arguments"),
    ],
)
def test_a_hostile_or_wrong_tool_call_is_refused_and_never_executed(
        shop: ShopAgent, customer: str, message: str, call: AIMessage, code: str) -> None:
    watched = ("CL-100111", "CL-100101", "CL-100110", "CL-100117")
    before = {n: {r.id for r in _refunds(shop, n)} for n in watched}
    agent = _agent(shop, [call])
    result = agent.ask(message, customer_id=customer)
    assert result.action and result.action["code"] == code
    assert not result.awaiting_confirmation
    assert {n: {r.id for r in _refunds(shop, n)} for n in watched} == before
    assert _refunds(shop, "CL-100111") == []
    assert "678" not in result.reply


def test_a_repeated_refund_call_moves_money_once(shop: ShopAgent) -> None:
    call = _call("refund_order", order_number="CL-100101", reason="damaged")
    agent = _agent(shop, [call, call])
    first = agent.ask("refund CL-100101", customer_id="cus_001")
    agent.ask("yes", first.conversation_id, customer_id="cus_001")
    count = len(_refunds(shop, "CL-100101"))
    second = agent.ask("refund CL-100101 again please", first.conversation_id,
                       customer_id="cus_001")
    if second.awaiting_confirmation:
        agent.ask("yes", first.conversation_id, customer_id="cus_001")
    assert len(_refunds(shop, "CL-100101")) == count
