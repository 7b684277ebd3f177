"""The support graph: guard_in -> intent -> retrieve | act (-> confirm) -> respond -> guard_out.

Reading this file alone shows the whole flow. Dependencies arrive in the
runtime context (`AgentContext`); conversations persist per thread through
the checkpointer passed to `build_graph`.
"""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agents.act import act, confirm, notify, route_after_act
from agents.configuration import AgentContext
from agents.guard import guard_in, route_after_guard
from agents.guard_out import guard_out
from agents.intent import intent, route_after_intent
from agents.respond import respond
from agents.retrieve import retrieve
from agents.state import TurnState


def route_start(state: TurnState) -> str:
    """A human's decision on a pending approval arrives as a notification, not a message."""
    return "notify" if state.get("notification") else "guard_in"


def build_graph(
    checkpointer: BaseCheckpointSaver | None = None,
) -> CompiledStateGraph[TurnState, AgentContext, TurnState, TurnState]:
    graph = StateGraph(TurnState, context_schema=AgentContext)
    graph.add_node("guard_in", guard_in)
    graph.add_node("intent", intent)
    graph.add_node("retrieve", retrieve)
    graph.add_node("act", act)
    graph.add_node("confirm", confirm)
    graph.add_node("respond", respond)
    graph.add_node("guard_out", guard_out)
    graph.add_node("notify", notify)

    graph.add_conditional_edges(START, route_start, {"guard_in": "guard_in", "notify": "notify"})
    graph.add_conditional_edges("guard_in", route_after_guard, {"intent": "intent", "end": END})
    graph.add_conditional_edges("intent", route_after_intent,
                                {"retrieve": "retrieve", "act": "act", "respond": "respond"})
    graph.add_edge("retrieve", "respond")
    graph.add_conditional_edges("act", route_after_act,
                                {"confirm": "confirm", "respond": "respond"})
    graph.add_edge("confirm", "respond")
    graph.add_edge("respond", "guard_out")
    graph.add_edge("guard_out", END)
    graph.add_edge("notify", END)
    return graph.compile(checkpointer=checkpointer, name="supportgraph")
