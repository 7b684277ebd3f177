"""Tables of the action layer: executions (exactly-once), approvals, audit trail, tickets.

``ActionExecution.idempotency_key`` is UNIQUE: the row is inserted *before* the backend
is called (status ``in_progress``), so a concurrent or replayed duplicate fails to insert
and reads the first outcome instead of calling the backend again.

JSON payloads are stored as text (portable across SQLite and Postgres).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Index, Numeric, Text
from sqlmodel import Field, SQLModel

from tools.shop.models import UTCDateTime, utcnow


def new_id() -> str:
    return uuid.uuid4().hex


class ExecutionStatus:
    """Values of ``ActionExecution.status``."""

    IN_PROGRESS = "in_progress"
    EXECUTED = "executed"
    PENDING_APPROVAL = "pending_approval"
    REJECTED = "rejected"
    REFUSED = "refused"
    NOT_FOUND = "not_found"
    FAILED = "failed"

    FINAL = frozenset({EXECUTED, REJECTED})
    """Never executed again for this key."""
    RETRYABLE = frozenset({REFUSED, NOT_FOUND, FAILED})
    """A later call with the same key may claim the row and re-evaluate."""
    RESERVING = frozenset({IN_PROGRESS, PENDING_APPROVAL, EXECUTED})
    """Count against the order's refundable amount and the daily limit."""


class ActionExecution(SQLModel, table=True):
    """One side-effect action per idempotency key, with its (first) outcome."""

    __tablename__ = "action_execution"
    __table_args__ = (
        Index("ix_action_execution_customer_tool_status", "customer_id", "tool", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=128, unique=True)
    tool: str = Field(max_length=64)
    conversation_id: str = Field(max_length=128, index=True)
    customer_id: str | None = Field(default=None, max_length=128)
    order_number: str | None = Field(default=None, max_length=32, index=True)
    amount: Decimal | None = Field(default=None, sa_type=Numeric(10, 2), nullable=True)
    currency: str | None = Field(default=None, max_length=3)
    args_json: str = Field(sa_type=Text)
    status: str = Field(default=ExecutionStatus.IN_PROGRESS, max_length=24, index=True)
    code: str = Field(default="", max_length=64)
    outcome_json: str | None = Field(default=None, sa_type=Text, nullable=True)
    approval_id: str | None = Field(default=None, max_length=32)
    attempts: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)
    executed_at: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True)


class PendingApproval(SQLModel, table=True):
    """An action above the approval threshold, waiting for a human decision."""

    __tablename__ = "pending_approval"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    idempotency_key: str = Field(max_length=128, unique=True)
    tool: str = Field(max_length=64)
    conversation_id: str = Field(max_length=128, index=True)
    customer_id: str | None = Field(default=None, max_length=128, index=True)
    order_number: str | None = Field(default=None, max_length=32, index=True)
    amount: Decimal | None = Field(default=None, sa_type=Numeric(10, 2), nullable=True)
    currency: str | None = Field(default=None, max_length=3)
    request_json: str = Field(sa_type=Text)
    """The ActionRequest (tool, args, conversation id, identity, source) to re-check."""
    summary_json: str = Field(sa_type=Text)
    reason: str = Field(default="", max_length=500)
    status: str = Field(default="pending", max_length=16, index=True)
    """pending -> approved | rejected; ``failed`` (backend down) can be approved again."""
    reviewer: str | None = Field(default=None, max_length=128)
    note: str = Field(default="", max_length=1000)
    outcome_json: str | None = Field(default=None, sa_type=Text, nullable=True)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime(), nullable=True)


class AuditRecord(SQLModel, table=True):
    """Who did what, why, and with which result. Append-only."""

    __tablename__ = "audit_record"
    __table_args__ = (Index("ix_audit_record_order_created", "order_number", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime(), nullable=False, index=True
    )
    conversation_id: str = Field(default="", max_length=128, index=True)
    actor: str = Field(max_length=160)
    """``customer:cus_001``, ``guest:CL-100101``, ``anonymous``, ``reviewer:alice``..."""
    channel: str = Field(default="", max_length=32)
    event: str = Field(max_length=32, index=True)
    """previewed, refused, approval_requested, approved, rejected, executed, failed,
    replayed, lookup, verification, ticket_created; reconciled_executed and
    reconciled_failed settle an action a killed process left in_progress."""
    tool: str = Field(default="", max_length=64, index=True)
    args_json: str = Field(default="{}", sa_type=Text)
    code: str = Field(default="", max_length=64)
    reason: str = Field(default="", sa_type=Text)
    result_json: str = Field(default="{}", sa_type=Text)
    order_number: str | None = Field(default=None, max_length=32)
    idempotency_key: str | None = Field(default=None, max_length=128, index=True)
    approval_id: str | None = Field(default=None, max_length=32)


class Ticket(SQLModel, table=True):
    """A case for a human: created by the customer's request, a handoff, or a failure."""

    __tablename__ = "support_ticket"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    kind: str = Field(default="ticket", max_length=16, index=True)
    """ticket, handoff, follow_up (an action failed and a human must finish it)."""
    status: str = Field(default="open", max_length=16, index=True)
    conversation_id: str = Field(max_length=128, index=True)
    customer_id: str | None = Field(default=None, max_length=128, index=True)
    order_number: str | None = Field(default=None, max_length=32)
    subject: str = Field(max_length=200)
    summary: str = Field(sa_type=Text)
    idempotency_key: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), nullable=False)
