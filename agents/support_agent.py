"""SupportAgent: the one door every channel, the CLI and the evals use to run a turn."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

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

    def ask(self, text: str, conversation_id: str | None = None,
            customer_id: str | None = None) -> TurnResult:
        conversation_id = conversation_id or self.new_conversation_id()
        started = time.perf_counter()
        update: dict[str, Any] = {"messages": [HumanMessage(text)]}
        if customer_id is not None:
            update["customer_id"] = customer_id
        state = self.graph.invoke(update, self._config(conversation_id), context=self.context)
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
