"""The agent inbox: conversations waiting for a human, with a summary and suggested replies;
a human's reply goes out through the customer's own channel.

* `GET /inbox`: the page (channels/static/inbox.html, plain HTML + JS, same server).
* `GET /v1/inbox`: conversations waiting for a human, newest activity first, each with
  its summary, suggested replies and proposed action (agent assist, cached per message).
* `POST /v1/conversations/{id}/agent-reply`: store a human agent's message and deliver
  it: Slack, email and webhook conversations through that channel's `send`, to the
  thread the customer wrote from; widget and API conversations show it in their history
  (the widget polls it while the conversation is handed off).
* `POST /v1/conversations/{id}/close`: the conversation leaves the inbox.

Everything but the page needs `Authorization: Bearer <admin API key>`; pending refunds
are approved or rejected with the approvals API (`/v1/approvals`).
"""

from __future__ import annotations

import hmac
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from agents.assist import suggest
from agents.support_agent import ConversationBusyError
from channels.base import (
    Channel,
    ChannelStore,
    InboundMessage,
    OutboundMessage,
    _conversation_lock,
)
from supportgraph.conversations import ConversationStatus, ConversationStore

STATIC = Path(__file__).parent / "static"
CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class InboxConversation(BaseModel):
    conversation_id: str
    channel: str
    customer_id: str | None
    language: str
    status: str
    last_intent: str
    updated_at: str
    last_message: dict[str, Any] | None
    summary: str
    suggestions: list[dict[str, Any]]
    proposed_action: dict[str, Any] | None


class InboxOut(BaseModel):
    conversations: list[InboxConversation]


class AgentReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=8000, description="The reply, as sent.")
    author: str = Field(default="Support team", min_length=1, max_length=128,
                        description="The human agent's name, shown in the transcript.")


class AgentReplyOut(BaseModel):
    conversation_id: str
    seq: int
    channel: str
    delivered_via: str
    """`history` (widget/API: the customer's client fetches it) or the channel's name."""
    channel_message_id: str | None = None


class StatusOut(BaseModel):
    conversation_id: str
    status: str


class _SuggestionCache:
    """Agent-assist results per (conversation, number of messages): computed once per new
    message, not on every inbox refresh."""

    def __init__(self, size: int = 500) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, int], dict[str, Any]] = OrderedDict()

    def get(self, key: tuple[str, int]) -> dict[str, Any] | None:
        return self._items.get(key)

    def put(self, key: tuple[str, int], value: dict[str, Any]) -> None:
        self._items[key] = value
        while len(self._items) > self.size:
            self._items.popitem(last=False)


def inbox_router(runtime: Any, problem_error: Any,
                 channels: list[Channel] | None = None) -> APIRouter:
    """The inbox routes; `channels` are the mounted channels agent replies leave by."""
    router = APIRouter(tags=["agent inbox"])
    key: str | None = getattr(runtime.settings, "admin_api_key", None)
    by_name = {c.name: c for c in channels or []}
    cache = _SuggestionCache()
    channel_store: list[ChannelStore] = []

    def conversations() -> ConversationStore:
        store: ConversationStore | None = getattr(runtime.agent, "conversations", None)
        if store is None:
            raise problem_error(503, "inbox_disabled", "Agent inbox disabled",
                                "conversations are not stored in a database")
        return store

    def routes() -> ChannelStore:
        if not channel_store:
            channel_store.append(ChannelStore(conversations().engine))
        return channel_store[0]

    def require_admin(request: Request) -> None:
        if not key:
            raise problem_error(503, "inbox_disabled", "Agent inbox disabled",
                                "set SUPPORTGRAPH_ADMIN_API_KEY to enable it")
        header = request.headers.get("authorization", "")
        given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if not given or not hmac.compare_digest(given, key):
            raise problem_error(401, "unauthorized", "API key required",
                                "send Authorization: Bearer <admin API key>")

    def check_id(conversation_id: str) -> None:
        if not CONVERSATION_ID.match(conversation_id):
            raise problem_error(400, "invalid_conversation_id", "Invalid conversation id",
                                conversation_id)

    @router.get("/inbox", include_in_schema=False)
    async def inbox_page() -> FileResponse:
        """The agent inbox page (it asks for the admin API key once per browser tab)."""
        return FileResponse(STATIC / "inbox.html", media_type="text/html",
                            headers={"Cache-Control": "no-store"})

    def load_inbox(limit: int) -> list[InboxConversation]:
        store = conversations()
        items = []
        for conversation in store.list(ConversationStatus.WAITING_HUMAN, limit):
            messages = runtime.agent.history(conversation.id)
            cache_key = (conversation.id, len(messages))
            assist = cache.get(cache_key)
            if assist is None:
                assist = suggest(runtime.agent.context, messages,
                                 customer_id=conversation.customer_id,
                                 conversation_id=conversation.id,
                                 verified_orders=runtime.agent.proven_orders(
                                     conversation.id)).to_dict()
                cache.put(cache_key, assist)
                if assist["summary"] != conversation.summary:
                    store.update(conversation.id, summary=assist["summary"])
            items.append(InboxConversation(
                conversation_id=conversation.id, channel=conversation.channel,
                customer_id=conversation.customer_id, language=conversation.language,
                status=conversation.status, last_intent=conversation.last_intent,
                updated_at=conversation.updated_at.isoformat(),
                last_message=messages[-1] if messages else None, summary=assist["summary"],
                suggestions=assist["suggestions"], proposed_action=assist["proposed_action"]))
        return items

    @router.get("/v1/inbox", response_model=InboxOut)
    async def inbox(request: Request, limit: int = 50) -> InboxOut:
        """Conversations waiting for a human, most recently active first, with a summary,
        up to three suggested replies and the proposed action (nothing is executed)."""
        require_admin(request)
        limit = max(1, min(limit, 200))
        return InboxOut(conversations=await run_in_threadpool(load_inbox, limit))

    def deliver(conversation_id: str, body: AgentReplyIn) -> AgentReplyOut:
        store = conversations()
        conversation = store.get(conversation_id)
        if conversation is None:
            raise problem_error(404, "conversation_not_found", "Conversation not found",
                                conversation_id)
        with _conversation_lock(conversation_id):
            channel = by_name.get(conversation.channel)
            sent_id: str | None = None
            route = routes().reply_route(conversation_id) if channel is not None else None
            if conversation.channel != "web" and (channel is None or route is None):
                raise problem_error(409, "channel_unavailable", "Channel unavailable",
                                    f"the {conversation.channel} channel is not configured")
            if channel is not None and route is not None:
                name, thread, sender, target = route
                inbound = InboundMessage(text="", sender_id=sender or "", thread_key=thread,
                                         reply_target=target)
                outbound = OutboundMessage(conversation_id=conversation_id, text=body.text,
                                           reply=body.text, citations=[], target=target,
                                           inbound=inbound, language=conversation.language)
                try:
                    sent_id = channel.send(outbound)
                except Exception as exc:
                    raise problem_error(502, "delivery_failed", "The reply was not delivered",
                                        f"{name}: {type(exc).__name__}") from exc
                if sent_id:
                    routes().link(name, sent_id, thread)
            try:
                seq = runtime.agent.add_agent_message(conversation_id, body.text, body.author)
            except ConversationBusyError as exc:
                raise problem_error(409, "confirmation_pending", "Confirmation pending",
                                    "the customer has not answered the pending action's "
                                    "confirmation yet") from exc
            if sent_id:
                store.set_channel_message_id(conversation_id, seq, sent_id)
        return AgentReplyOut(conversation_id=conversation_id, seq=seq,
                             channel=conversation.channel,
                             delivered_via=conversation.channel if channel else "history",
                             channel_message_id=sent_id)

    @router.post("/v1/conversations/{conversation_id}/agent-reply",
                 response_model=AgentReplyOut, tags=["conversations"],
                 responses={409: {"description": "The channel is not configured, or the "
                                                 "customer must first answer a confirmation."},
                            502: {"description": "The channel refused the message."}})
    async def agent_reply(conversation_id: str, body: AgentReplyIn,
                          request: Request) -> AgentReplyOut:
        """A human agent's reply: sent through the conversation's channel (Slack, email,
        webhook) or shown in the widget, and stored in the transcript with role `agent`."""
        require_admin(request)
        check_id(conversation_id)
        return await run_in_threadpool(deliver, conversation_id, body)

    @router.post("/v1/conversations/{conversation_id}/close", response_model=StatusOut,
                 tags=["conversations"])
    async def close(conversation_id: str, request: Request) -> StatusOut:
        """Close the conversation (it leaves the inbox; a new customer message reopens it)."""
        require_admin(request)
        check_id(conversation_id)
        done = await run_in_threadpool(conversations().update, conversation_id,
                                       status=ConversationStatus.CLOSED)
        if not done:
            raise problem_error(404, "conversation_not_found", "Conversation not found",
                                conversation_id)
        return StatusOut(conversation_id=conversation_id, status=ConversationStatus.CLOSED)

    return router
