"""SupportAgent: the one door every channel, the CLI and the evals use to run a turn."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from agents.act import is_no, is_yes
from agents.configuration import AgentContext
from agents.state import Citation


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
    action: dict[str, Any] | None = None
    awaiting_confirmation: bool = False
    latency_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SupportAgent:
    """Runs turns of the compiled graph with its dependencies, one thread per conversation."""

    def __init__(self, graph: CompiledStateGraph[Any, Any, Any, Any],
                 context: AgentContext) -> None:
        self.graph = graph
        self.context = context

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

    def ask(self, text: str, conversation_id: str | None = None,
            customer_id: str | None = None) -> TurnResult:
        """Run one customer turn. An answer to a pending confirmation resumes it; any other
        message first declines the pending action, then is handled as a new turn."""
        conversation_id = conversation_id or self.new_conversation_id()
        started = time.perf_counter()
        config = self._config(conversation_id)
        if self.awaiting_confirmation(conversation_id):
            if is_yes(text) or is_no(text):
                state = self.graph.invoke(Command(resume=text), config, context=self.context)
                return self._result(conversation_id, state, started)
            declined = self.graph.invoke(Command(resume={"confirmed": False, "text": ""}),
                                         config, context=self.context)
            result = self.ask(text, conversation_id, customer_id)
            result.reply = f"{declined.get('reply', '')}\n\n{result.reply}".strip()
            return result
        update: dict[str, Any] = {"messages": [HumanMessage(text)],
                                  "conversation_id": conversation_id}
        if customer_id is not None:
            update["customer_id"] = customer_id
        state = self.graph.invoke(update, config, context=self.context)
        return self._result(conversation_id, state, started)

    def notify(self, conversation_id: str, event: dict[str, Any]) -> TurnResult:
        """Tell the conversation about an outcome decided elsewhere (a human approval)."""
        started = time.perf_counter()
        state = self.graph.invoke({"notification": event, "conversation_id": conversation_id},
                                  self._config(conversation_id), context=self.context)
        return self._result(conversation_id, state, started)

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
            action=state.get("action"),
            awaiting_confirmation=bool(state.get("pending_action")),
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def history(self, conversation_id: str) -> list[dict[str, Any]]:
        """The conversation's messages as stored by the checkpointer, oldest first."""
        snapshot = self.graph.get_state(self._config(conversation_id))
        messages = snapshot.values.get("messages", []) if snapshot and snapshot.values else []
        return [
            {"role": "customer" if m.type == "human" else "assistant",
             "text": m.content if isinstance(m.content, str) else str(m.content),
             "citations": m.additional_kwargs.get("citations", [])}
            for m in messages
        ]
