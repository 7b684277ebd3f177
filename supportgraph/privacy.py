"""Everything stored about one customer: export it (GDPR access and portability) or erase
it (right to erasure).

Erasure deletes what only served the conversation (messages, conversations, channel
identities, the checkpoints of their threads) and anonymises what the law requires a
shop to keep (orders, payments, refunds, the action audit trail, approvals, tickets):
the customer's id becomes a random pseudonym, names, e-mail addresses, phone numbers
and postal addresses are removed from them, amounts and order numbers stay.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from sqlalchemy import delete, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, select

from agents.pii import mask_pii
from supportgraph.conversations import ChannelIdentity, Conversation, ConversationMessage
from tools.records import ActionExecution, AuditRecord, PendingApproval, Ticket
from tools.shop.models import Customer, Order, OrderItem, Payment, Refund

ERASED = "[erased]"


class CustomerNotFoundError(LookupError):
    """Nothing is stored about this customer id."""


@dataclass
class _Scope:
    """The rows that concern one customer."""

    customer: Customer | None
    orders: list[Order]
    conversation_ids: set[str]
    identifiers: list[str] = field(default_factory=list)
    """Strings that identify the person (id, e-mail, name, phone, address lines)."""


def _row(row: SQLModel) -> dict[str, Any]:
    """A row as JSON-safe data; `*_json` text columns are parsed."""
    data = row.model_dump(mode="json")
    for key in [k for k in data if k.endswith("_json")]:
        raw = data.pop(key)
        try:
            data[key.removesuffix("_json")] = json.loads(raw) if raw is not None else None
        except (TypeError, json.JSONDecodeError):
            data[key.removesuffix("_json")] = raw
    return data


def _scope(session: Session, customer_id: str) -> _Scope:
    customer = session.exec(select(Customer).where(Customer.external_id == customer_id)).first()
    orders = list(session.exec(select(Order).where(Order.customer_id == customer.id))) \
        if customer is not None and customer.id is not None else []
    numbers = [o.number for o in orders]
    actor = f"customer:{customer_id}"
    ids: set[str] = set(session.exec(select(Conversation.id).where(
        Conversation.customer_id == customer_id)))
    ids |= set(session.exec(select(Ticket.conversation_id).where(
        Ticket.customer_id == customer_id)))
    for model in (PendingApproval, ActionExecution):
        ids |= set(session.exec(select(model.conversation_id).where(or_(
            col(model.customer_id) == customer_id, col(model.order_number).in_(numbers)))))
    ids |= set(session.exec(select(AuditRecord.conversation_id).where(or_(
        col(AuditRecord.actor) == actor, col(AuditRecord.order_number).in_(numbers)))))
    ids.discard("")
    identifiers = [customer_id]
    if customer is not None:
        identifiers += [customer.email, customer.name, customer.phone or ""]
    for order in orders:
        identifiers += [order.ship_name, order.ship_line1, order.ship_line2 or ""]
    return _Scope(customer, orders, ids,
                  sorted({i for i in identifiers if len(i) >= 3}, key=len, reverse=True))


def _audit_rows(session: Session, customer_id: str, scope: _Scope) -> list[AuditRecord]:
    numbers = [o.number for o in scope.orders]
    return list(session.exec(select(AuditRecord).where(or_(
        col(AuditRecord.actor) == f"customer:{customer_id}",
        col(AuditRecord.order_number).in_(numbers),
        col(AuditRecord.conversation_id).in_(scope.conversation_ids)))
        .order_by(col(AuditRecord.id))))


def _owned(session: Session, model: type[PendingApproval] | type[ActionExecution] | type[Ticket],
           customer_id: str, scope: _Scope) -> list[Any]:
    numbers = [o.number for o in scope.orders]
    return list(session.exec(select(model).where(or_(
        col(model.customer_id) == customer_id, col(model.order_number).in_(numbers),
        col(model.conversation_id).in_(scope.conversation_ids)))))


def export_customer(engine: Engine, customer_id: str) -> dict[str, Any]:
    """Everything stored about the customer, as JSON-safe data."""
    with Session(engine) as session:
        scope = _scope(session, customer_id)
        if scope.customer is None and not scope.conversation_ids:
            raise CustomerNotFoundError(customer_id)
        orders = []
        for order in scope.orders:
            data = _row(order)
            data["items"] = [_row(r) for r in session.exec(
                select(OrderItem).where(OrderItem.order_id == order.id))]
            data["payments"] = [_row(r) for r in session.exec(
                select(Payment).where(Payment.order_id == order.id))]
            data["refunds"] = [_row(r) for r in session.exec(
                select(Refund).where(Refund.order_id == order.id))]
            orders.append(data)
        conversations = []
        for conversation in session.exec(select(Conversation).where(
                col(Conversation.id).in_(scope.conversation_ids))
                .order_by(col(Conversation.created_at))):
            data = _row(conversation)
            data["messages"] = [_row(m) for m in session.exec(
                select(ConversationMessage)
                .where(ConversationMessage.conversation_id == conversation.id)
                .order_by(col(ConversationMessage.seq)))]
            conversations.append(data)
        return {
            "customer_id": customer_id,
            "profile": _row(scope.customer) if scope.customer is not None else None,
            "orders": orders,
            "conversations": conversations,
            "channel_identities": [_row(r) for r in session.exec(select(ChannelIdentity).where(
                col(ChannelIdentity.conversation_id).in_(scope.conversation_ids)))],
            "tickets": [_row(r) for r in _owned(session, Ticket, customer_id, scope)],
            "approvals": [_row(r) for r in _owned(session, PendingApproval, customer_id, scope)],
            "action_executions": [_row(r) for r in _owned(session, ActionExecution, customer_id,
                                                          scope)],
            "audit": [_row(r) for r in _audit_rows(session, customer_id, scope)],
        }


def _scrubber(customer_id: str, identifiers: Iterable[str], pseudonym: str) -> Any:
    words = list(identifiers)
    pattern = re.compile("|".join(re.escape(i) for i in words), re.IGNORECASE) \
        if words else None

    def scrub(text: str | None) -> str | None:
        if text is None:
            return None
        if pattern is not None:
            text = pattern.sub(lambda m: pseudonym if m.group(0).lower() == customer_id.lower()
                               else ERASED, text)
        return mask_pii(text).text

    return scrub


def erase_customer(engine: Engine, customer_id: str,
                   checkpointer: BaseCheckpointSaver[Any] | None = None
                   ) -> list[tuple[str, str, int]]:
    """Delete or anonymise everything about the customer in one transaction, then delete
    the checkpoints of their conversations; returns (what, how, rows) lines."""
    pseudonym = f"erased-{secrets.token_hex(6)}"
    report: list[tuple[str, str, int]] = []
    with Session(engine) as session:
        scope = _scope(session, customer_id)
        if scope.customer is None and not scope.conversation_ids:
            raise CustomerNotFoundError(customer_id)
        scrub = _scrubber(customer_id, scope.identifiers, pseudonym)
        ids = scope.conversation_ids
        messages = session.exec(select(ConversationMessage.id).where(
            col(ConversationMessage.conversation_id).in_(ids))).all()
        session.execute(delete(ConversationMessage).where(
            col(ConversationMessage.conversation_id).in_(ids)))
        report.append(("messages", "deleted", len(messages)))
        conversations = session.exec(select(Conversation.id).where(
            col(Conversation.id).in_(ids))).all()
        session.execute(delete(Conversation).where(col(Conversation.id).in_(ids)))
        report.append(("conversations", "deleted", len(conversations)))
        identities = session.exec(select(ChannelIdentity.external_id).where(
            col(ChannelIdentity.conversation_id).in_(ids))).all()
        session.execute(delete(ChannelIdentity).where(
            col(ChannelIdentity.conversation_id).in_(ids)))
        report.append(("channel identities", "deleted", len(identities)))

        tickets = _owned(session, Ticket, customer_id, scope)
        for ticket in tickets:
            ticket.subject, ticket.summary = ERASED, ERASED
            if ticket.customer_id == customer_id:
                ticket.customer_id = pseudonym
            session.add(ticket)
        report.append(("tickets", "text erased", len(tickets)))
        approvals = _owned(session, PendingApproval, customer_id, scope)
        for approval in approvals:
            if approval.customer_id == customer_id:
                approval.customer_id = pseudonym
            approval.request_json = scrub(approval.request_json) or "{}"
            approval.summary_json = scrub(approval.summary_json) or "{}"
            approval.reason, approval.note = scrub(approval.reason) or "", scrub(
                approval.note) or ""
            session.add(approval)
        report.append(("approvals", "anonymised", len(approvals)))
        executions = _owned(session, ActionExecution, customer_id, scope)
        for execution in executions:
            if execution.customer_id == customer_id:
                execution.customer_id = pseudonym
            execution.args_json = scrub(execution.args_json) or "{}"
            execution.outcome_json = scrub(execution.outcome_json)
            session.add(execution)
        report.append(("action executions", "anonymised", len(executions)))
        audit = _audit_rows(session, customer_id, scope)
        for record in audit:
            record.actor = scrub(record.actor) or ""
            record.args_json = scrub(record.args_json) or "{}"
            record.reason = scrub(record.reason) or ""
            record.result_json = scrub(record.result_json) or "{}"
            session.add(record)
        report.append(("audit records", "anonymised", len(audit)))

        refunds = 0
        for order in scope.orders:
            order.ship_name, order.ship_line1, order.ship_line2 = ERASED, ERASED, None
            order.ship_postal_code, order.ship_city, order.note = ERASED, ERASED, None
            session.add(order)
            for refund in session.exec(select(Refund).where(Refund.order_id == order.id)):
                refund.reason = scrub(refund.reason) or ERASED
                session.add(refund)
                refunds += 1
        report.append(("orders (kept for accounting)", "address erased", len(scope.orders)))
        report.append(("refunds (kept for accounting)", "anonymised", refunds))
        if scope.customer is not None:
            customer = scope.customer
            customer.external_id, customer.name, customer.phone = pseudonym, ERASED, None
            customer.email = f"{pseudonym}@erased.invalid"
            session.add(customer)
        report.append(("customer profile", f"anonymised as {pseudonym}",
                       int(scope.customer is not None)))
        session.commit()
    if engine.dialect.name == "sqlite":  # deleted rows must not linger in free pages
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    threads = 0
    if checkpointer is not None:
        for conversation_id in sorted(ids):
            config = {"configurable": {"thread_id": conversation_id}}
            if checkpointer.get_tuple(config) is not None:  # type: ignore[arg-type]
                threads += 1
            checkpointer.delete_thread(conversation_id)
    report.append(("conversation checkpoints", "deleted", threads))
    return report
