"""Stored transcripts hold no emails, phone numbers, card numbers, IBANs or addresses by
default (`transcript_pii=mask`) while every turn still runs on what the customer wrote;
`keep` stores the originals. Real SQLite, the real app over HTTP on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import MemorySaver
from pydantic import ValidationError
from sqlmodel import Session, col, select
from test_llm_actions import ToolCallingFake

from agents.graph import build_graph
from agents.pii import install_log_masking
from agents.support_agent import SupportAgent
from channels.app import create_app
from conftest import serve_app
from knowledge.embeddings import Embedder
from supportgraph.conversations import ConversationMessage
from supportgraph.privacy import erase_customer
from supportgraph.runtime import DEMO_BOT_CONFIG, SupportRuntime
from supportgraph.settings import Settings
from tools.records import ActionExecution, AuditRecord, Ticket
from tools.shop.models import Order, Refund
from tools.shop.seed import seed_demo_shop

ADMIN = {"Authorization": "Bearer transcript-pii-key"}
MESSAGE = ("Hello, I am jane.doe@example.com, call me on +33 6 12 34 56 78, I live at "
           "12 rue de la Paix, 75002 Paris. I paid with 4111 1111 1111 1111 and my IBAN is "
           "FR76 3000 6000 0112 3456 7890 189. How long do I have to return an item?")
RAW = ["jane.doe@example.com", "+33 6 12 34 56 78", "12 rue de la Paix",
       "4111 1111 1111 1111", "FR76 3000 6000 0112 3456 7890 189"]
PLACEHOLDERS = ["[EMAIL]", "[PHONE]", "[ADDRESS]", "[CARD]", "[IBAN]"]


@contextmanager
def served(directory: Path, embedder: Embedder, intent_cache: Path, **settings: Any
           ) -> Iterator[tuple[SupportRuntime, httpx.Client]]:
    """The demo bot over a freshly seeded shop, served over HTTP (empty knowledge base,
    input guard on patterns only: these tests are about storage, not answers)."""
    config = Settings(data_dir=directory / "data", bot_config=DEMO_BOT_CONFIG,
                      intent_cache_dir=intent_cache, guard_classifier=False,
                      admin_api_key=ADMIN["Authorization"].removeprefix("Bearer "), **settings)
    with SupportRuntime(config, embedder=embedder) as runtime:
        with Session(runtime.engine) as session:
            seed_demo_shop(session)
            session.commit()
        with serve_app(create_app(runtime)) as url, \
                httpx.Client(base_url=url, timeout=120) as client:
            yield runtime, client


@pytest.fixture(scope="module")
def masked(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, intent_cache: Path
           ) -> Iterator[tuple[SupportRuntime, httpx.Client]]:
    with served(tmp_path_factory.mktemp("masked"), embedder, intent_cache) as running:
        yield running


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, intent_cache: Path
         ) -> Iterator[tuple[SupportRuntime, httpx.Client]]:
    with served(tmp_path_factory.mktemp("kept"), embedder, intent_cache,
                transcript_pii="keep") as running:
        yield running


def say(client: httpx.Client, conversation_id: str, text: str) -> dict[str, Any]:
    response = client.post(f"/v1/conversations/{conversation_id}/messages", json={"text": text})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def stored_texts(runtime: SupportRuntime, conversation_id: str) -> list[str]:
    """The conversation's rows in conversation_message, read from the database itself."""
    with Session(runtime.engine) as session:
        return list(session.exec(select(ConversationMessage.text)
                                 .where(ConversationMessage.conversation_id == conversation_id)
                                 .order_by(col(ConversationMessage.seq))))


def test_the_setting_defaults_to_mask_and_reads_its_environment_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUPPORTGRAPH_TRANSCRIPT_PII", raising=False)
    assert Settings().transcript_pii == "mask"
    monkeypatch.setenv("SUPPORTGRAPH_TRANSCRIPT_PII", "keep")
    assert Settings().transcript_pii == "keep"
    monkeypatch.setenv("SUPPORTGRAPH_TRANSCRIPT_PII", "raw")
    with pytest.raises(ValidationError):
        Settings()


def test_pii_is_masked_in_the_stored_transcript_and_the_turn_is_still_answered(
        masked: tuple[SupportRuntime, httpx.Client]) -> None:
    runtime, client = masked
    reply = say(client, "pii-masked-1", MESSAGE)
    assert reply["reply"] and reply["conversation_id"] == "pii-masked-1"

    customer, bot = stored_texts(runtime, "pii-masked-1")
    assert all(p in customer for p in PLACEHOLDERS), customer
    assert not [raw for raw in RAW if raw in customer]
    assert customer.endswith("How long do I have to return an item?")
    assert bot == reply["reply"]  # nothing to mask in it: stored as sent
    history = client.get("/v1/conversations/pii-masked-1/messages").json()["messages"]
    assert [m["text"] for m in history] == [customer, bot]


def test_the_inbox_shows_masked_text_and_the_handoff_ticket_holds_none(
        masked: tuple[SupportRuntime, httpx.Client]) -> None:
    runtime, client = masked
    say(client, "pii-handoff", "I want to talk to a human. Write to jane.doe@example.com "
                               "or call me on +33 6 12 34 56 78")
    inbox = client.get("/v1/inbox", headers=ADMIN)
    assert inbox.status_code == 200, inbox.text
    [waiting] = [c for c in inbox.json()["conversations"]
                 if c["conversation_id"] == "pii-handoff"]
    history = client.get("/v1/conversations/pii-handoff/messages").json()["messages"]
    assert history[0]["text"] == "I want to talk to a human. Write to [EMAIL] or call me on " \
                                 "[PHONE]"
    with Session(runtime.engine) as session:
        tickets = session.exec(select(Ticket.summary)
                               .where(Ticket.conversation_id == "pii-handoff")).all()
    assert tickets and all("[EMAIL]" in summary for summary in tickets)
    for shown in (str(waiting), str(history), str(tickets)):
        assert "jane.doe@example.com" not in shown and "+33 6 12 34 56 78" not in shown


def test_keep_stores_what_the_customer_wrote(kept: tuple[SupportRuntime, httpx.Client]) -> None:
    runtime, client = kept
    say(client, "pii-kept-1", MESSAGE)
    assert stored_texts(runtime, "pii-kept-1")[0] == MESSAGE
    history = client.get("/v1/conversations/pii-kept-1/messages").json()["messages"]
    assert history[0]["text"] == MESSAGE


def test_a_refund_proven_by_order_number_then_email_executes_with_masking_on(
        masked: tuple[SupportRuntime, httpx.Client]) -> None:
    runtime, client = masked
    first = say(client, "pii-refund", "I want a refund for order CL-100101, the lamp is not "
                                      "what I expected")
    assert first["intent"]["missing_slots"] == ["email"], first
    second = say(client, "pii-refund", "my email is camille.martin@example.fr")
    assert second["awaiting_confirmation"], second
    done = say(client, "pii-refund", "yes")
    assert done["action"] and done["action"]["status"] == "executed", done

    with Session(runtime.engine) as session:
        order = session.exec(select(Order).where(Order.number == "CL-100101")).one()
        refunds = session.exec(select(Refund).where(Refund.order_id == order.id)).all()
        records = [*session.exec(select(ActionExecution.args_json)
                                 .where(ActionExecution.conversation_id == "pii-refund")),
                   *session.exec(select(AuditRecord.args_json)
                                 .where(AuditRecord.conversation_id == "pii-refund"))]
    # The reason is the request, not the message that answered "what email address?".
    assert refunds and {r.reason for r in refunds} == {
        "I want a refund for order CL-100101, the lamp is not what I expected"}
    assert records and not [r for r in records if "camille.martin@example.fr" in r]
    assert stored_texts(runtime, "pii-refund")[2] == "my email is [EMAIL]"


def test_checkpoints_keep_the_working_state_and_erasure_deletes_them(
        masked: tuple[SupportRuntime, httpx.Client]) -> None:
    """The email comes first and the order number a turn later: the email must survive in
    the checkpoint (masking it there would fail the check). Erasing the customer whose
    order it proved removes that checkpoint too."""
    runtime, client = masked
    first = say(client, "pii-status", "Hi, my email is thomas.bernard@example.fr, where is my "
                                      "order?")
    assert first["intent"]["missing_slots"] == ["order_number"], first
    found = say(client, "pii-status", "CL-100117")
    assert found["action"] and found["action"]["status"] == "executed", found
    assert "[EMAIL]" in stored_texts(runtime, "pii-status")[0]
    thread = {"configurable": {"thread_id": "pii-status"}}
    assert runtime.checkpointer.get_tuple(thread) is not None  # type: ignore[arg-type]

    erase_customer(runtime.engine, "cus_002", runtime.checkpointer)
    assert runtime.checkpointer.get_tuple(thread) is None  # type: ignore[arg-type]
    assert client.get("/v1/conversations/pii-status/messages").status_code == 404


def test_free_text_a_chat_model_puts_in_an_action_is_masked(
        masked: tuple[SupportRuntime, httpx.Client]) -> None:
    runtime, _ = masked
    model = ToolCallingFake(responses=[AIMessage("", tool_calls=[{
        "name": "refund_order", "id": "call_1",
        "args": {"order_number": "CL-100128", "reason": "broken, mail jane.doe@example.com"}}])])
    agent = SupportAgent(build_graph(MemorySaver()),
                         replace(runtime.context, chat_model=model, llm_intent_below=0.0))
    asked = agent.ask("I want a refund for CL-100128, it arrived broken", customer_id="cus_024")
    assert asked.action and asked.action["args"]["reason"] == "broken, mail [EMAIL]"
    done = agent.ask("yes", asked.conversation_id, customer_id="cus_024")
    assert done.action and done.action["status"] == "executed", done.action


def test_logs_hold_no_raw_pii(masked: tuple[SupportRuntime, httpx.Client],
                              caplog: pytest.LogCaptureFixture) -> None:
    _, client = masked
    caplog.set_level(logging.DEBUG)
    install_log_masking()  # as `supportgraph serve` does
    say(client, "pii-logs", MESSAGE)
    logging.getLogger("supportgraph.test").info("customer wrote: %s", MESSAGE)
    assert "[EMAIL]" in caplog.text
    assert not [raw for raw in RAW if raw in caplog.text]
