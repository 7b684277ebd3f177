"""The state of one conversation turn, persisted per thread by the checkpointer."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class Citation(TypedDict):
    """A numbered reference from the reply to a stored chunk."""

    index: int
    doc_id: str
    chunk_id: str
    title: str
    source: str
    section: str
    quote: str


class IntentResult(TypedDict, total=False):
    """What the intent agent decided; shown by the API and traces, never in a reply."""

    label: str
    route: str
    confidence: float
    alternatives: list[dict[str, Any]]
    slots: dict[str, Any]
    missing_slots: list[str]
    source: str


class PendingTask(TypedDict, total=False):
    """An intent waiting for the customer: a missing slot, or a choice between two intents."""

    intent: str
    route: str
    slots: dict[str, Any]
    missing: list[str]
    options: list[str]
    orders: list[dict[str, Any]]
    """The signed-in customer's orders shown to choose from (agents/orders.py)."""
    offer: bool
    """An offer the customer may ignore (a guest's order status check after a late-parcel
    answer): a reply that does not take it up is read afresh, never asked again."""


class GuardResult(TypedDict, total=False):
    allowed: bool
    code: str
    """ok, empty, too_long, prompt_injection or abuse."""
    reason: str
    score: float
    """The injection classifier's attack probability (1.0 for a pattern match)."""
    kind: str
    """For `abuse`: insult, slur, harassment, sexual_harassment or threat."""
    tone: str
    """For an allowed message: `frustrated` (swearing, anger: a complaint) or `neutral`."""


class AbuseTally(TypedDict, total=False):
    """Abusive turns of the conversation so far; repeated abuse hands it to a human."""

    turns: int
    handed_off: bool


class OutputVerdict(TypedDict, total=False):
    """guard_out's verdict on the reply: the failed checks (codes, never the data caught)."""

    passed: bool
    failures: list[dict[str, str]]
    replaced: bool
    message_id: str
    """The id of the reply message checked: a verdict about an earlier turn is stale."""


class TurnState(TypedDict, total=False):
    """Everything the graph knows about a conversation.

    `messages` accumulates across turns; the other keys describe the latest turn
    and are overwritten by the nodes that own them.
    """

    messages: Annotated[list[AnyMessage], add_messages]
    conversation_id: str
    customer_id: str | None
    verified_orders: list[str]
    order_in_focus: str | None
    """The order the customer last named: an action intent that names none acts on it."""
    language: str
    guard: GuardResult
    abuse: AbuseTally
    intent: IntentResult
    pending: PendingTask | None
    request_text: str
    """The customer's message that made the request under way: the turns answering the
    bot's questions (an order number, an email address, "the second one") keep it. An
    action records it as its reason, and an item it names is matched once the order is
    proven."""
    passages: list[dict[str, Any]]
    retrieval_confidence: float
    search_query: str
    reply: str
    citations: list[Citation]
    answered: bool
    handoff_offered: bool
    asked: str | None
    """What the last reply asked the customer, for a short yes / no to answer: `handoff`
    (shall I connect you with a person?) or `anything_else`; None otherwise."""
    quick_replies: list[dict[str, str]]
    """Answers a channel may offer as buttons: `label` shown, `text` sent as the
    customer's message (yes / no to a human, the orders to choose from, the two intents
    of a clarifying question)."""
    responder: str
    action: dict[str, Any] | None
    pending_action: dict[str, Any] | None
    notification: dict[str, Any] | None
    output_guard: OutputVerdict
