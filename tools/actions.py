"""The action layer's types: who is asking, what they ask, what policy says, what happened.

Every side effect goes through `ActionService` (tools/service.py): arguments are
validated, the order must belong to the identified customer, the policy is
checked in code, and an execution carries an idempotency key enforced by a
database unique constraint, with an audit record for every attempt, refusal
and execution. The graph (agents/act.py) previews, asks the customer to
confirm, waits for human approval above the threshold, then executes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

READ_ONLY_TOOLS = frozenset({"get_order_status", "list_recent_orders"})
SIDE_EFFECT_TOOLS = frozenset({"refund_order", "cancel_order", "update_shipping_address"})
TICKET_TOOLS = frozenset({"create_ticket", "handoff_to_human"})
ALL_TOOLS = READ_ONLY_TOOLS | SIDE_EFFECT_TOOLS | TICKET_TOOLS


@dataclass(frozen=True)
class Identity:
    """Who the conversation is with.

    `customer_id` is the shop's external id (e.g. "cus_001") when the channel verified
    the customer (signed widget user, Slack user mapping, API key on behalf of a user).
    An anonymous visitor proves ownership of single orders with order number + email;
    those orders are listed in `verified_orders`.
    """

    customer_id: str | None = None
    verified: bool = False
    verified_orders: frozenset[str] = frozenset()
    channel: str = "api"

    def can_act_on(self, order_number: str, owner_customer_id: str) -> bool:
        if self.verified and self.customer_id is not None:
            return owner_customer_id == self.customer_id
        return order_number in self.verified_orders


@dataclass(frozen=True)
class ActionRequest:
    """A proposed tool call: from the intent agent's slots or from a chat model's tool call."""

    tool: str
    args: dict[str, Any]
    conversation_id: str
    identity: Identity
    source: Literal["offline", "llm", "agent_assist", "api"] = "offline"


@dataclass(frozen=True)
class PolicyDecision:
    """The policy's verdict; `code` is stable (e.g. "refund_window_expired") for replies
    and scenarios, `reason` a sentence for humans and the audit log."""

    allowed: bool
    code: str
    reason: str
    needs_approval: bool = False
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionPreview:
    """What would happen: normalised arguments, a summary the customer confirms, the
    policy decision and the idempotency key the execution will carry."""

    request: ActionRequest
    args: dict[str, Any]
    summary: dict[str, Any]
    decision: PolicyDecision
    idempotency_key: str


OutcomeStatus = Literal["executed", "refused", "pending_approval", "rejected", "failed",
                        "not_found"]


@dataclass(frozen=True)
class ActionOutcome:
    """What happened. A replayed execution returns the first outcome (`replayed=True`)."""

    status: OutcomeStatus
    tool: str
    code: str
    message: str
    result: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str = ""
    replayed: bool = False
    approval_id: str | None = None
