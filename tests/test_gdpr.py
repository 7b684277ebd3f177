"""`supportgraph customer export|delete`: everything stored about a customer comes out as
JSON; erasure deletes their conversations and anonymises the records kept for accounting,
leaving no trace of their id, name or e-mail in the database files."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from agents.graph import build_graph
from agents.support_agent import SupportAgent
from channels.base import ChannelStore, InboundMessage, conversation_id_for
from supportgraph.checkpoints import Checkpoints
from supportgraph.cli import app
from supportgraph.conversations import (
    ChannelIdentity,
    Conversation,
    ConversationMessage,
    ConversationStore,
)
from supportgraph.db import init_db, make_engine
from supportgraph.runtime import SupportRuntime, make_action_service
from supportgraph.settings import Settings
from tools.records import AuditRecord, Ticket
from tools.shop.models import Customer, Order, Refund
from tools.shop.seed import seed_demo_shop

runner = CliRunner()


@dataclass
class Stored:
    data_dir: Path
    settings: Settings
    refund_conversation: str
    handoff_conversation: str
    other_conversation: str
    email: str
    name: str


@pytest.fixture
def stored(tmp_path: Path, demo_runtime: SupportRuntime) -> Stored:
    """A data directory in which cus_001 got a refund, asked for a human from an email
    thread, and cus_002 had a conversation of their own; real turns, real checkpoints."""
    settings = Settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir(parents=True)
    engine = make_engine(settings.database_url_resolved)
    init_db(engine)
    with Session(engine) as session:
        seed_demo_shop(session)
        session.commit()
        customer = session.exec(select(Customer).where(Customer.external_id == "cus_001")).one()
        email, name = customer.email, customer.name
    checkpoints = Checkpoints(settings)  # SQLite in the data dir, or the Postgres database
    actions = make_action_service(demo_runtime.settings, demo_runtime.bot, engine)
    agent = SupportAgent(build_graph(checkpoints.saver),
                         replace(demo_runtime.context, actions=actions, chat_model=None),
                         ConversationStore(engine))
    refund = agent.ask("I want a refund for order CL-100101", customer_id="cus_001")
    assert agent.ask("yes", refund.conversation_id, customer_id="cus_001").action
    channels = ChannelStore(engine)
    channels.link("email", "m1@mail.example", "m1@mail.example")
    channels.remember_reply_target("email", "m1@mail.example", InboundMessage(
        text="", sender_id=email, thread_key="m1@mail.example",
        reply_target={"to": email, "name": name, "message_id": "m1@mail.example"}))
    handoff = agent.ask(f"I want to talk to a human. I am {name}, write to {email}",
                        conversation_id_for("email", "m1@mail.example"),
                        customer_id="cus_001", channel="email")
    other = agent.ask("I want to talk to a human", customer_id="cus_002")
    checkpoints.close()
    engine.dispose()
    return Stored(settings.data_dir, settings, refund.conversation_id,
                  handoff.conversation_id, other.conversation_id, email, name)


def _one_line_error(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), output
    return lines[0]


def test_export_holds_everything_stored_about_the_customer(stored: Stored,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "cus_001.json"
    result = runner.invoke(app, ["customer", "export", "cus_001", "--out", str(out),
                                 "--data-dir", str(stored.data_dir)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["profile"]["email"] == stored.email
    assert "CL-100101" in [o["number"] for o in data["orders"]]
    [order] = [o for o in data["orders"] if o["number"] == "CL-100101"]
    assert order["items"] and order["refunds"] and order["payments"]
    conversations = {c["id"]: c for c in data["conversations"]}
    assert set(conversations) == {stored.refund_conversation, stored.handoff_conversation}
    texts = [m["text"] for m in conversations[stored.refund_conversation]["messages"]]
    assert texts[0] == "I want a refund for order CL-100101" and texts[2] == "yes"
    assert conversations[stored.handoff_conversation]["channel"] == "email"
    assert [i["external_id"] for i in data["channel_identities"]] == ["m1@mail.example"]
    assert [t["kind"] for t in data["tickets"]] == ["handoff"]
    assert {"executed", "previewed"} <= {a["event"] for a in data["audit"]}
    assert [e["tool"] for e in data["action_executions"]] == ["refund_order"]
    assert data["approvals"] == []


def test_delete_without_yes_changes_nothing(stored: Stored) -> None:
    result = runner.invoke(app, ["customer", "delete", "cus_001",
                                 "--data-dir", str(stored.data_dir)])
    assert result.exit_code != 0
    assert "add --yes" in _one_line_error(result.output)
    again = runner.invoke(app, ["customer", "export", "cus_001",
                                "--data-dir", str(stored.data_dir)])
    assert again.exit_code == 0 and stored.email in again.output


def test_delete_erases_conversations_and_anonymises_what_accounting_keeps(
        stored: Stored) -> None:
    result = runner.invoke(app, ["customer", "delete", "cus_001", "--yes",
                                 "--data-dir", str(stored.data_dir)])
    assert result.exit_code == 0, result.output
    assert "Customer cus_001 erased" in result.output
    for line in ("messages", "conversations", "channel identities",
                 "conversation checkpoints", "audit records"):
        assert line in result.output

    engine = make_engine(stored.settings.database_url_resolved)
    mine = [stored.refund_conversation, stored.handoff_conversation]
    with Session(engine) as session:
        assert [c.id for c in session.exec(select(Conversation))] == [stored.other_conversation]
        assert {m.conversation_id for m in session.exec(select(ConversationMessage))} == {
            stored.other_conversation}
        assert session.exec(select(ChannelIdentity)).all() == []
        order = session.exec(select(Order).where(Order.number == "CL-100101")).one()
        refunds = session.exec(select(Refund).where(Refund.order_id == order.id)).all()
        customer = session.get(Customer, order.customer_id)
        tickets = session.exec(select(Ticket)).all()
        actors = {a.actor for a in session.exec(select(AuditRecord))}
    engine.dispose()
    assert refunds and all(r.amount > 0 for r in refunds)  # kept for accounting
    assert order.total > 0 and order.ship_name == "[erased]"
    assert customer and customer.external_id.startswith("erased-")
    assert customer.email.endswith("@erased.invalid") and customer.name == "[erased]"
    assert {t.summary for t in tickets if t.conversation_id in mine} == {"[erased]"}
    assert f"customer:{customer.external_id}" in actors and "customer:cus_001" not in actors
    assert "customer:cus_002" in actors  # someone else's records are untouched

    checkpoints = Checkpoints(stored.settings)
    saver = checkpoints.saver
    for cid in mine:
        assert saver.get_tuple({"configurable": {"thread_id": cid}}) is None
    assert saver.get_tuple({"configurable": {"thread_id": stored.other_conversation}})
    checkpoints.close()
    files = b"".join(p.read_bytes() for p in stored.data_dir.iterdir() if p.is_file())
    for trace in ("cus_001", stored.email, stored.name):
        assert trace.encode() not in files, f"{trace!r} is still in the database files"

    gone = runner.invoke(app, ["customer", "export", "cus_001",
                               "--data-dir", str(stored.data_dir)])
    assert gone.exit_code == 1
    assert "nothing is stored" in _one_line_error(gone.output)


def test_an_unknown_customer_is_a_one_line_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["customer", "export", "cus_999",
                                 "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1
    assert "cus_999" in _one_line_error(result.output)
