"""Agent assist: suggestions, summary, intent and a previewed (never executed) action."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest
from sqlmodel import Session, select

from agents.assist import suggest
from channels.app import create_app
from conftest import serve_app
from supportgraph.runtime import SupportRuntime
from tools.records import ActionExecution


def test_a_refund_request_gets_a_policy_checked_preview_and_nothing_runs(
        demo_runtime: SupportRuntime) -> None:
    messages = [{"role": "customer", "text": "Hello, my order CL-100102 arrived broken"},
                {"role": "assistant", "text": "I'm sorry to hear that."},
                {"role": "customer", "text": "I want a refund for order CL-100102"}]
    result = suggest(demo_runtime.agent.context, messages, customer_id="cus_002")
    assert result.intent["label"] == "refund_request"
    action = result.proposed_action
    assert action is not None and action["tool"] == "refund_order"
    assert action["allowed"] is False and action["code"] == "refund_window_expired"
    assert action["executed"] is False
    assert 1 <= len(result.suggestions) <= 3
    assert result.suggestions[0].kind == "policy" and "30 days" in result.suggestions[0].text
    assert result.summary.count(". ") >= 1 and "CL-100102" in result.summary
    with Session(demo_runtime.engine) as session:
        assert session.exec(select(ActionExecution).where(
            ActionExecution.tool == "refund_order")).all() == []


def test_a_question_gets_cited_suggestions(demo_runtime: SupportRuntime) -> None:
    result = suggest(demo_runtime.agent.context,
                     [{"role": "customer", "text": "Do you ship to Switzerland?"}])
    cited = [s for s in result.suggestions if s.citations]
    assert cited and all(c["doc_id"] for s in cited for c in s.citations)
    assert result.proposed_action is None


@pytest.fixture
def assist_url(demo_runtime: SupportRuntime) -> Iterator[str]:
    runtime = SimpleNamespace(agent=demo_runtime.agent, engine=demo_runtime.engine,
                              actions=demo_runtime.actions,
                              settings=SimpleNamespace(admin_api_key="staff-key",
                                                       max_message_chars=4000))
    with serve_app(create_app(runtime)) as url:  # type: ignore[arg-type]
        yield url


def test_the_endpoint_needs_staff_credentials_and_a_valid_body(assist_url: str) -> None:
    body = {"transcript": [{"role": "customer", "text": "where is CL-100117?"}],
            "customer_id": "cus_002"}
    assert httpx.post(f"{assist_url}/v1/assist/suggest", json=body,
                      timeout=30).status_code == 401
    auth = {"Authorization": "Bearer staff-key"}
    ok = httpx.post(f"{assist_url}/v1/assist/suggest", json=body, headers=auth, timeout=60)
    assert ok.status_code == 200
    data = ok.json()
    assert data["intent"]["label"] == "order_status"
    assert data["proposed_action"]["tool"] == "get_order_status"
    assert data["proposed_action"]["executed"] is False
    both = httpx.post(f"{assist_url}/v1/assist/suggest", headers=auth, timeout=30,
                      json=body | {"conversation_id": "abc"})
    assert both.status_code == 422 and both.json()["code"] == "invalid_request"
    missing = httpx.post(f"{assist_url}/v1/assist/suggest", headers=auth, timeout=30,
                         json={"conversation_id": "nosuchconversation"})
    assert missing.status_code == 404


def test_suggestions_answer_what_the_customer_asked_not_their_last_yes(
        demo_runtime: SupportRuntime) -> None:
    messages = [
        {"role": "customer", "text": "When is your chat open?"},
        {"role": "assistant", "text": "Chat is open 7 days a week, from 8:00 to 22:00 CET."},
        {"role": "customer", "text": "and the phone line on Saturdays?"},
        {"role": "assistant", "text": "Would you like me to connect you with a member of our "
                                      "team?"},
        {"role": "customer", "text": "yes please"},
    ]
    result = suggest(demo_runtime.agent.context, messages)
    cited = [s for s in result.suggestions if s.citations]
    assert cited, result.suggestions
    assert any(c["doc_id"].endswith("contact-support") for s in cited for c in s.citations)
    assert any("Monday to Friday" in s.text for s in cited)
