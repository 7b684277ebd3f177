"""SupportAgent: the one door every channel, the CLI and the evals use to run a turn."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from agents.abuse import detect_abuse
from agents.configuration import AgentContext
from agents.intent import is_no, is_yes
from agents.state import Citation
from agents.trace import log_turn

if TYPE_CHECKING:
    from supportgraph.conversations import ConversationStore, TranscriptLine


class ConversationBusyError(RuntimeError):
    """The conversation waits for the customer's yes/no; a human's message would cancel it."""


@dataclass
class TurnResult:
    """What a turn produced; channels show `reply` and `citations`, the API shows it all."""

    conversation_id: str
    reply: str
    citations: list[Citation]
    language: str
    intent: dict[str, Any]
    passages: list[dict[str, Any]] = field(default_factory=list)
    responder: str = "offline"
    answered: bool = False
    handoff_offered: bool = False
    guard: dict[str, Any] = field(default_factory=dict)
    output_guard: dict[str, Any] = field(default_factory=dict)
    action: dict[str, Any] | None = None
    awaiting_confirmation: bool = False
    quick_replies: list[dict[str, str]] = field(default_factory=list)
    """Answers to offer as buttons: `label` shown, `text` sent as the next message."""
    latency_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SupportAgent:
    """Runs turns of the compiled graph with its dependencies, one thread per conversation."""

    def __init__(self, graph: CompiledStateGraph[Any, Any, Any, Any],
                 context: AgentContext, conversations: ConversationStore | None = None) -> None:
        self.graph = graph
        self.context = context
        self.conversations = conversations
        """Where every turn's messages are written (the runtime's database), if anywhere."""

    @staticmethod
    def new_conversation_id() -> str:
        return uuid.uuid4().hex

    def _config(self, conversation_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": conversation_id}}

    def awaiting_confirmation(self, conversation_id: str) -> bool:
        """True while the conversation waits for the customer's yes/no on an action."""
        if self.graph.checkpointer is None:
            return False
        snapshot = self.graph.get_state(self._config(conversation_id))
        return bool(snapshot and snapshot.next and "confirm" in snapshot.next)

    def proven_orders(self, conversation_id: str) -> list[str]:
        """The orders a guest proved with their email in this conversation: a human agent's
        assist checks actions with the same identity the bot had."""
        if self.graph.checkpointer is None:
            return []
        snapshot = self.graph.get_state(self._config(conversation_id))
        return list((snapshot.values or {}).get("verified_orders") or []) if snapshot else []

    def ask(self, text: str, conversation_id: str | None = None,
            customer_id: str | None = None, channel: str | None = None) -> TurnResult:
        """Run one customer turn. An answer to a pending confirmation resumes it; any other
        message (an abusive yes included) first declines the pending action, then is
        handled as a new turn. The turn's messages are stored (`channel` names where a new
        conversation started). NUL characters are dropped: no message means one, and
        Postgres text cannot hold it."""
        text = text.replace("\x00", "")
        conversation_id = conversation_id or self.new_conversation_id()
        started = time.perf_counter()
        config = self._config(conversation_id)
        if self.awaiting_confirmation(conversation_id):
            # An abusive "yes" is not an answer: no action runs on an abusive turn. The
            # pending action is declined and the message meets the abuse policy (a
            # boundary, or a human), like any other message.
            if (is_yes(text) or is_no(text)) and not detect_abuse(text).abusive:
                state = self._invoke(Command(resume=text), config)
                return self._recorded(conversation_id, state, started, channel)
            declined = self._invoke(Command(resume={"confirmed": False, "text": ""}), config)
            result = self.ask(text, conversation_id, customer_id, channel)
            result.reply = f"{declined.get('reply', '')}\n\n{result.reply}".strip()
            return result
        update: dict[str, Any] = {"messages": [HumanMessage(text)],
                                  "conversation_id": conversation_id}
        if customer_id is not None:
            update["customer_id"] = customer_id
        state = self._invoke(update, config)
        return self._recorded(conversation_id, state, started, channel)

    def notify(self, conversation_id: str, event: dict[str, Any]) -> TurnResult:
        """Tell the conversation about an outcome decided elsewhere (a human approval)."""
        started = time.perf_counter()
        state = self._invoke({"notification": event, "conversation_id": conversation_id},
                             self._config(conversation_id))
        return self._recorded(conversation_id, state, started, None)

    def _invoke(self, graph_input: Any, config: RunnableConfig) -> dict[str, Any]:
        """Run the graph to its end or its interrupt. The checkpoint is written once, when
        the run exits (LangGraph's ``durability="exit"``), not after every node: a turn is
        one write, and a process killed mid-turn leaves the conversation as it was before
        the message, which the customer never saw acknowledged and can send again."""
        state: dict[str, Any] = self.graph.invoke(graph_input, config, context=self.context,
                                                  durability="exit")
        return state

    def _recorded(self, conversation_id: str, state: dict[str, Any], started: float,
                  channel: str | None) -> TurnResult:
        """The turn's result, after storing its messages and the conversation's status."""
        result = self._result(conversation_id, state, started)
        log_turn(result, channel)
        if self.conversations is not None:
            action = result.action or {}
            handoff = result.intent.get("route") == "handoff" or action.get("status") == \
                "failed" or (action.get("tool") == "handoff_to_human"
                             and action.get("status") == "executed")
            self.conversations.record_turn(
                conversation_id, transcript(state.get("messages", [])), channel=channel,
                customer_id=state.get("customer_id"), language=result.language,
                intent=str(result.intent.get("label") or ""), handoff=handoff)
        return result

    def add_agent_message(self, conversation_id: str, text: str, author: str) -> int:
        """Add a human agent's message to the conversation (the graph's messages, so the
        bot sees it on the next turn, and the database); returns its position."""
        text, author = text.replace("\x00", ""), author.replace("\x00", "")
        config = self._config(conversation_id)
        if self.awaiting_confirmation(conversation_id):
            raise ConversationBusyError(conversation_id)
        message = AIMessage(text, additional_kwargs={"role": "agent", "author": author,
                                                     "citations": []})
        self.graph.update_state(config, {"messages": [message]}, as_node="guard_out")
        messages = self.graph.get_state(config).values.get("messages", [])
        if self.conversations is not None:
            self.conversations.record_turn(conversation_id, transcript(messages))
        return len(messages) - 1

    def _result(self, conversation_id: str, state: dict[str, Any], started: float
                ) -> TurnResult:
        return TurnResult(
            conversation_id=conversation_id,
            reply=state.get("reply", ""),
            citations=list(state.get("citations", [])),
            language=state.get("language", self.context.bot.default_language),
            intent=dict(state.get("intent", {})),
            passages=list(state.get("passages", [])),
            responder=state.get("responder", "offline"),
            answered=bool(state.get("answered")),
            handoff_offered=bool(state.get("handoff_offered")),
            guard=dict(state.get("guard", {})),
            output_guard=current_verdict(state),
            action=state.get("action"),
            awaiting_confirmation=bool(state.get("pending_action")),
            quick_replies=[] if state.get("pending_action") else
            list(state.get("quick_replies") or []),
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def history(self, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's messages, oldest first: role `customer`, `assistant` (the
        bot) or `agent` (a human). From the database, else from the checkpointer."""
        lines: Sequence[TranscriptLine] = (
            self.conversations.messages(conversation_id) if self.conversations else [])
        if not lines:
            snapshot = self.graph.get_state(self._config(conversation_id))
            lines = transcript(snapshot.values.get("messages", [])
                               if snapshot and snapshot.values else [])
        return [{"role": "assistant" if line["role"] == "bot" else line["role"],
                 "text": line["text"], "citations": line.get("citations", []),
                 **({"author": line["author"]} if line.get("author") else {})}
                for line in lines]


def current_verdict(state: dict[str, Any]) -> dict[str, Any]:
    """guard_out's verdict when it checked this turn's reply; {} for a turn that ended
    before it (blocked by guard_in, waiting for a confirmation, a notification)."""
    verdict = dict(state.get("output_guard") or {})
    last = next((m for m in reversed(state.get("messages", [])) if m.type == "ai"), None)
    return verdict if last is not None and verdict.get("message_id") == last.id else {}


def transcript(messages: Sequence[AnyMessage]) -> list[TranscriptLine]:
    """The graph's messages as stored lines: role customer, bot or agent."""
    lines: list[TranscriptLine] = []
    for m in messages:
        extra = m.additional_kwargs
        role = "customer" if m.type == "human" else "agent" if extra.get("role") == "agent" \
            else "bot"
        lines.append({"role": role,
                      "text": m.content if isinstance(m.content, str) else str(m.content),
                      "citations": list(extra.get("citations", [])),
                      "author": str(extra.get("author", ""))})
    return lines
