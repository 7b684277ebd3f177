"""The agent inbox API over real HTTP: waiting conversations with summary and suggestions,
a human agent's reply delivered through the customer's own channel (a signed webhook to a
local receiver, or the widget's history), and the admin key guarding it all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from test_channel_webhook import SECRET, Receiver, post_signed, signature, wait_for

from agents.support_agent import SupportAgent
from channels.app import create_app
from channels.base import conversation_id_for
from conftest import seeded_shop_agent, serve_app
from supportgraph.conversations import ConversationStore
from supportgraph.runtime import SupportRuntime

ADMIN = {"Authorization": "Bearer inbox-api-key"}


@pytest.fixture(scope="module")
def setup(demo_runtime: SupportRuntime, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[SimpleNamespace]:
    receiver = Receiver()
    with serve_app(receiver.app) as hooks:
        seeded = seeded_shop_agent(demo_runtime, tmp_path_factory.mktemp("inbox_api"))
        agent = SupportAgent(seeded.agent.graph, seeded.agent.context,
                             ConversationStore(seeded.engine))
        agent.ask("Hello")  # a warm server: models and classifiers that load on first use
        settings = SimpleNamespace(max_message_chars=4000, admin_api_key="inbox-api-key",
                                   identity_secret=None, cors_origins=[],
                                   webhook_url=f"{hooks}/hooks/supportgraph",
                                   webhook_secret=SECRET)
        runtime = SimpleNamespace(agent=agent, settings=settings, actions=seeded.actions,
                                  engine=seeded.engine)
        with serve_app(create_app(runtime)) as base, \
                httpx.Client(base_url=base, timeout=120) as client:
            yield SimpleNamespace(client=client, receiver=receiver)
        seeded.engine.dispose()


def inbox(client: httpx.Client) -> dict[str, dict[str, Any]]:
    response = client.get("/v1/inbox", headers=ADMIN)
    assert response.status_code == 200, response.text
    return {c["conversation_id"]: c for c in response.json()["conversations"]}


def test_an_agent_reply_leaves_by_the_webhook_the_customer_wrote_from(
        setup: SimpleNamespace) -> None:
    client, receiver = setup.client, setup.receiver
    post_signed(client, {"conversation_id": "crm-77", "message_id": "w-1",
                         "text": "I want to talk to a human about my order CL-100101"})
    wait_for(lambda: bool(receiver.for_conversation("crm-77")))
    cid = conversation_id_for("webhook", "crm-77")
    waiting = inbox(client)[cid]
    assert waiting["channel"] == "webhook" and waiting["status"] == "waiting_human"
    assert waiting["summary"].startswith("The customer wants to")
    assert waiting["suggestions"] and waiting["last_message"]["role"] == "assistant"

    sent = client.post(f"/v1/conversations/{cid}/agent-reply", headers=ADMIN,
                       json={"text": "Hi, Sam here: I'm on it.", "author": "Sam"})
    assert sent.status_code == 200, sent.text
    assert sent.json()["delivered_via"] == "webhook" and sent.json()["seq"] == 2
    deliveries = receiver.for_conversation("crm-77")
    assert len(deliveries) == 2
    headers, body = deliveries[-1]
    raw = next(b for h, b in receiver.deliveries if h is headers)
    assert headers["x-supportgraph-signature"] == signature(raw)
    assert body["text"] == "Hi, Sam here: I'm on it." and body["in_reply_to"] == "w-1"
    history = client.get(f"/v1/conversations/{cid}/messages").json()["messages"]
    assert history[-1] == {"role": "agent", "text": "Hi, Sam here: I'm on it.",
                           "citations": [], "author": "Sam"}


def test_a_widget_conversation_gets_the_reply_in_its_history_and_the_bot_sees_it(
        setup: SimpleNamespace) -> None:
    client = setup.client
    cid = client.post("/v1/conversations").json()["conversation_id"]
    client.post(f"/v1/conversations/{cid}/handoff", json={})
    assert cid in inbox(client)
    sent = client.post(f"/v1/conversations/{cid}/agent-reply", headers=ADMIN,
                       json={"text": "Hello, this is Lea from the team."})
    assert sent.json()["delivered_via"] == "history"
    client.post(f"/v1/conversations/{cid}/messages", json={"text": "thanks!"})
    roles = [m["role"] for m in client.get(f"/v1/conversations/{cid}/messages")
             .json()["messages"]]
    assert roles == ["customer", "assistant", "agent", "customer", "assistant"]
    closed = client.post(f"/v1/conversations/{cid}/close", headers=ADMIN)
    assert closed.json() == {"conversation_id": cid, "status": "closed"}
    assert cid not in inbox(client)


def test_the_inbox_needs_the_admin_key_and_a_known_conversation(
        setup: SimpleNamespace) -> None:
    client = setup.client
    assert client.get("/v1/inbox").json()["code"] == "unauthorized"
    denied = client.post("/v1/conversations/x/agent-reply", json={"text": "hi"},
                         headers={"Authorization": "Bearer wrong"})
    assert denied.status_code == 401
    missing = client.post("/v1/conversations/nope/agent-reply", headers=ADMIN,
                          json={"text": "hi"})
    assert missing.status_code == 404 and missing.json()["code"] == "conversation_not_found"
    empty = client.post("/v1/conversations/nope/agent-reply", headers=ADMIN, json={"text": ""})
    assert empty.status_code == 422 and empty.json()["code"] == "invalid_request"
    page = client.get("/inbox")
    assert page.status_code == 200 and "Admin API key" in page.text


def test_a_reply_waits_while_the_customer_must_confirm_an_action(
        setup: SimpleNamespace) -> None:
    client = setup.client
    cid = client.post("/v1/conversations").json()["conversation_id"]
    asked = client.post(f"/v1/conversations/{cid}/messages", headers=ADMIN,
                        json={"text": "I want a refund for order CL-100101",
                              "customer_id": "cus_001"}).json()
    assert asked["awaiting_confirmation"], json.dumps(asked)
    busy = client.post(f"/v1/conversations/{cid}/agent-reply", headers=ADMIN,
                       json={"text": "hi"})
    assert busy.status_code == 409 and busy.json()["code"] == "confirmation_pending"


def test_a_guest_who_proved_the_order_gets_the_policy_answer_not_order_not_found(
        setup: SimpleNamespace) -> None:
    client = setup.client
    cid = client.post("/v1/conversations").json()["conversation_id"]
    for text in ("where is my order CL-100117?", "thomas.bernard@example.fr",
                 "I want to cancel it", "I want to talk to a human"):
        assert client.post(f"/v1/conversations/{cid}/messages",
                           json={"text": text}).status_code == 200
    waiting = inbox(client)[cid]
    # The inbox checks the action as the bot did: with the order the email proved.
    assert waiting["proposed_action"]["code"] == "cannot_cancel_shipped", waiting
    assert "couldn't find that order" not in waiting["suggestions"][0]["text"]
    suggested = client.post("/v1/assist/suggest", headers=ADMIN,
                            json={"conversation_id": cid}).json()
    assert suggested["proposed_action"]["code"] == "cannot_cancel_shipped", suggested
