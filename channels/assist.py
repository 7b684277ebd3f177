"""Agent assist over HTTP: POST /v1/assist/suggest (staff only, nothing is sent or run)."""

from __future__ import annotations

import hmac
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, model_validator

from agents.assist import suggest


class TranscriptLine(BaseModel):
    role: Literal["customer", "assistant", "agent"]
    text: str = Field(min_length=1, max_length=8000)


class SuggestIn(BaseModel):
    conversation_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    transcript: list[TranscriptLine] | None = Field(default=None, max_length=200)
    customer_id: str | None = Field(default=None, max_length=128)

    @model_validator(mode="after")
    def _one_source(self) -> SuggestIn:
        if (self.conversation_id is None) == (self.transcript is None):
            raise ValueError("give exactly one of conversation_id or transcript")
        return self


class SuggestOut(BaseModel):
    suggestions: list[dict[str, Any]]
    summary: str
    intent: dict[str, Any]
    proposed_action: dict[str, Any] | None
    language: str


def assist_router(runtime: Any, problem_error: Any) -> APIRouter:
    """The agent-assist routes; `problem_error` builds the app's problem documents."""
    router = APIRouter(tags=["agent assist"])
    key: str | None = getattr(runtime.settings, "admin_api_key", None)

    @router.post("/v1/assist/suggest", response_model=SuggestOut)
    async def suggest_replies(body: SuggestIn, request: Request) -> SuggestOut:
        """Up to three suggested replies with citations, a two-sentence summary, the
        intent and a proposed action with its policy check. Nothing is sent or executed."""
        header = request.headers.get("authorization", "")
        given = header.removeprefix("Bearer ").strip()
        if not key or not given or not hmac.compare_digest(given.encode(), key.encode()):
            raise problem_error(401, "unauthorized", "API key required",
                                "agent assist needs Authorization: Bearer <admin API key>")
        proven: list[str] = []
        if body.transcript is not None:
            messages = [line.model_dump() for line in body.transcript]
            conversation = "assist"
        else:
            assert body.conversation_id is not None
            conversation = body.conversation_id
            messages = await run_in_threadpool(runtime.agent.history, conversation)
            if not messages:
                raise problem_error(404, "conversation_not_found", "Conversation not found",
                                    conversation)
            proven = await run_in_threadpool(runtime.agent.proven_orders, conversation)
        result = await run_in_threadpool(suggest, runtime.agent.context, messages,
                                         customer_id=body.customer_id,
                                         conversation_id=conversation, verified_orders=proven)
        return SuggestOut.model_validate(result.to_dict())

    return router
