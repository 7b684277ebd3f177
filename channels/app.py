"""The FastAPI app: a JSON and server-sent-events chat API under /v1, the embeddable
chat widget at /widget.js, a demo shop page embedding it at / and the older full-page
chat at /chat.

Errors are RFC 9457 problem documents with a stable `code` (on the streaming endpoint,
an `error` event carrying one); the agent runs in a worker thread so the event loop
keeps serving while a turn computes. Browsers on other sites may call the API only
from the origins listed in the `cors_origins` setting.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import StreamingResponse

from agents.support_agent import SupportAgent, TurnResult
from channels.base import _conversation_lock
from channels.ratelimit import RequestLimits, RequestLimitsMiddleware, retry_after
from channels.streaming import SSE_HEADERS, SSE_MEDIA_TYPE, TokenSink, sse, stream_turn

STATIC = Path(__file__).parent / "static"
CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class RuntimeLike(Protocol):
    agent: SupportAgent
    settings: Any
    actions: Any
    engine: Any


class MessageIn(BaseModel):
    text: str = Field(min_length=1, description="The customer's message.")
    customer_id: str | None = Field(default=None, max_length=128, description="The shop's id "
                                    "of a signed-in customer; needs `user_hash` or an API key.")
    user_hash: str | None = Field(default=None, max_length=128, description="hex HMAC-SHA256 "
                                  "of customer_id with the identity secret, computed by the "
                                  "site's backend.")


class IdentityIn(BaseModel):
    customer_id: str | None = Field(default=None, max_length=128, description="The shop's id "
                                    "of a signed-in customer; needs `user_hash` or an API key.")
    user_hash: str | None = Field(default=None, max_length=128, description="hex HMAC-SHA256 "
                                  "of customer_id with the identity secret.")
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$", description="The "
                                 "conversation's language (`en`, `fr`) for the words sent on "
                                 "the customer's behalf; the bot's default if left out.")


class ConfirmIn(IdentityIn):
    confirmed: bool = Field(description="true to go ahead with the pending action, false to "
                            "decline it.")


class HandoffIn(IdentityIn):
    pass


class DecisionIn(BaseModel):
    reviewer: str = Field(min_length=1, max_length=128)
    note: str = Field(default="", max_length=1000)


class ApprovalOut(BaseModel):
    approval_id: str
    status: str
    tool: str
    conversation_id: str
    customer_id: str | None
    order_number: str | None
    amount: str | None
    currency: str | None
    reason: str | None = None
    requested_at: str | None = None
    decided_at: str | None = None
    reviewer: str | None = None
    note: str | None = None


class DecisionOut(BaseModel):
    approval_id: str
    status: str
    code: str
    message: str
    customer_notified: bool


class ConversationOut(BaseModel):
    conversation_id: str


class CitationOut(BaseModel):
    index: int
    doc_id: str
    chunk_id: str
    title: str
    source: str
    section: str
    quote: str


class QuickReply(BaseModel):
    label: str
    text: str


class ReplyOut(BaseModel):
    conversation_id: str
    reply: str
    citations: list[CitationOut]
    language: str
    intent: dict[str, Any]
    answered: bool
    handoff_offered: bool
    responder: str
    action: dict[str, Any] | None = None
    awaiting_confirmation: bool = False
    quick_replies: list[QuickReply] = Field(
        default_factory=list,
        description="Answers to offer as buttons under the reply: yes / no to a human, the "
        "signed-in customer's orders to choose from, the two options of a clarifying "
        "question. Show `label`; send `text` as the customer's next message.")
    guard: dict[str, str] = Field(
        default_factory=dict,
        description="The input guard's verdict: `code` (ok, empty, too_long, "
        "prompt_injection, abuse), with `kind` for abuse and `tone` (neutral, frustrated) "
        "for an allowed message. Detector scores and reasons stay in the server's traces.")
    latency_ms: float


class HistoryMessage(BaseModel):
    role: str = Field(description="customer, assistant (the bot) or agent (a human)")
    text: str
    citations: list[CitationOut] = []
    author: str | None = Field(default=None, description="The human agent's name.")


class HistoryOut(BaseModel):
    conversation_id: str
    messages: list[HistoryMessage]


def problem(status: int, code: str, title: str, detail: str = "") -> JSONResponse:
    return JSONResponse(problem_body(status, code, title, detail), status_code=status,
                        media_type="application/problem+json")


class ProblemError(HTTPException):
    def __init__(self, status: int, code: str, title: str, detail: str = "",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status, detail, headers=headers)
        self.code, self.title = code, title


def check_conversation_id(conversation_id: str) -> str:
    if not CONVERSATION_ID.match(conversation_id):
        raise ProblemError(400, "invalid_conversation_id", "Invalid conversation id",
                           "use the id returned by POST /v1/conversations")
    return conversation_id


def sign_user(secret: str, customer_id: str) -> str:
    """The `user_hash` a site's backend sends with a signed-in customer's id."""
    return hmac.new(secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()


def _bearer_ok(request: Request, key: str | None) -> bool:
    header = request.headers.get("authorization", "")
    given = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    return bool(key) and bool(given) and hmac.compare_digest(given.encode(),
                                                             (key or "").encode())


_PUBLIC_GUARD_FIELDS = ("code", "kind", "tone")


def _reply(result: TurnResult) -> ReplyOut:
    data = result.to_dict()
    data["guard"] = {k: str(data["guard"][k]) for k in _PUBLIC_GUARD_FIELDS
                     if k in data["guard"]}
    return ReplyOut.model_validate(data)


TURN_WAIT_S = 30.0
"""How long a turn waits for the one already running in its conversation."""


def one_turn_at_a_time(conversation_id: str, run: Callable[..., TurnResult], *args: Any
                       ) -> TurnResult:
    """`run(*args)` while no other turn of the conversation runs (two concurrent turns on
    one LangGraph thread would both start from the same checkpoint and one would be lost);
    409 `conversation_busy` if the running one takes longer than TURN_WAIT_S."""
    lock = _conversation_lock(conversation_id)
    if not lock.acquire(timeout=TURN_WAIT_S):
        raise ProblemError(409, "conversation_busy", "Conversation busy",
                           "a reply is still being written in this conversation; retry shortly")
    try:
        return run(*args)
    finally:
        lock.release()


def problem_body(status: int, code: str, title: str, detail: str = "") -> dict[str, Any]:
    return {"type": f"https://supportgraph.dev/problems/{code}", "title": title,
            "status": status, "code": code, "detail": detail}


# What the confirm and handoff endpoints say on the customer's behalf; the handoff
# sentences are examples of the demo bot's `talk_to_human` intent.
CONFIRM_WORDS = {"en": ("yes", "no"), "fr": ("oui", "non")}
HANDOFF_TEXT = {"en": "I want to talk to a human", "fr": "Je veux parler à un humain"}

_EVENTS_DOC = """Runs a turn like `POST .../messages` and streams it as server-sent events:

* `event: token`, `data: {"text": "..."}`: the next piece of the reply (words, or a chat
  model's tokens); concatenated they give the reply.
* `event: final`, `data:` the full reply object, as `POST .../messages` returns it
  (`reply`, `citations`, `action`, `awaiting_confirmation`, `intent`, `language`, ...).
  It is authoritative: a client replaces the streamed text with its `reply`.
* `event: error`, `data:` a problem document (`status`, `code`, `title`, `detail`).

Problems found before the turn starts (invalid conversation id, unverified identity,
message too long) are a single `error` event with the problem's HTTP status; a failure
during the turn is an `error` event in a 200 stream. An invalid JSON body is a 422
`application/problem+json` response, as on the other endpoints. Lines starting with `:`
are comments."""

_EVENTS_EXAMPLE = ('event: token\ndata: {"text": "You "}\n\nevent: token\ndata: {"text": '
                   '"have 30 days..."}\n\nevent: final\ndata: {"conversation_id": "c1", '
                   '"reply": "You have 30 days...", "citations": [], ...}\n\n')
_STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "An event stream: `token`* then `final`, or `error`.",
          "content": {SSE_MEDIA_TYPE: {"schema": {"type": "string"},
                                       "example": _EVENTS_EXAMPLE}}},
    400: {"description": "`error` event: invalid conversation id.",
          "content": {SSE_MEDIA_TYPE: {"schema": {"type": "string"}}}},
    401: {"description": "`error` event: `customer_id` without a valid `user_hash`.",
          "content": {SSE_MEDIA_TYPE: {"schema": {"type": "string"}}}},
    413: {"description": "`error` event: the message is longer than `max_message_chars`.",
          "content": {SSE_MEDIA_TYPE: {"schema": {"type": "string"}}}},
}


_FRONT_MATTER = re.compile(r"\A---\s*\n.*?\n---\s*\n", re.DOTALL)
_ARTICLE_PATH = re.compile(r"^[a-z0-9/_-]{1,200}$")


def render_article(help_dir: Path, path: str) -> str | None:
    """A help-centre Markdown article as a small HTML page, or None if there is none."""
    if not _ARTICLE_PATH.match(path) or ".." in path:
        return None
    file = help_dir / f"{path}.md"
    if not file.is_file():
        return None
    from html import escape

    from markdown_it import MarkdownIt

    text = _FRONT_MATTER.sub("", file.read_text(encoding="utf-8"), count=1)
    body = MarkdownIt("commonmark", {"html": False}).render(text)
    title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")),
                 path)
    lang = path.split("/", 1)[0] if "/" in path else "en"
    return (f'<!doctype html><html lang="{escape(lang)}"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>body{{font:16px/1.6 system-ui,sans-serif;"
            f"max-width:720px;margin:2rem auto;padding:0 1rem}}</style></head>"
            f"<body><article>{body}</article></body></html>")


def create_app(runtime: RuntimeLike, help_dir: Path | None = None,
               demo: bool = False) -> FastAPI:
    """The API; with `help_dir`, also the help-centre articles at /help/<id>; with `demo`,
    the demo shop's customer list and a stand-in for a site backend signing user ids."""
    app = FastAPI(title="supportgraph", version="0.1.0",
                  description="Customer support agent API: conversations, replies with "
                              "citations, history.")
    max_chars = int(getattr(runtime.settings, "max_message_chars", 4000))
    admin_key: str | None = getattr(runtime.settings, "admin_api_key", None)
    limits = RequestLimits.from_settings(runtime.settings)
    app.add_middleware(RequestLimitsMiddleware, limits=limits)  # inside CORS: 429s carry it
    origins = [str(o).rstrip("/") for o in getattr(runtime.settings, "cors_origins", None) or []]
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_credentials=False,
                           allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type", "Authorization"], max_age=600)
    default_language = str(getattr(getattr(runtime.agent.context, "bot", None),
                                   "default_language", "en"))

    @app.exception_handler(ProblemError)
    async def _problem(_: Request, exc: ProblemError) -> JSONResponse:
        response = problem(exc.status_code, exc.code, exc.title, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(p) for p in err["loc"] if p != "body")
        return problem(422, "invalid_request", "The request is invalid",
                       f"{field}: {err['msg']}" if field else str(err["msg"]))

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, str(exc.detail))

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        """The demo shop page: the widget embedded with one script tag."""
        return FileResponse(STATIC / "store.html", media_type="text/html")

    @app.get("/chat", include_in_schema=False)
    async def chat_page() -> FileResponse:
        """The full-page chat (no streaming)."""
        return FileResponse(STATIC / "chat.html", media_type="text/html")

    @app.get("/widget.js", include_in_schema=False)
    async def widget() -> FileResponse:
        """The embeddable chat widget: `<script src=".../widget.js" data-server=... defer>`."""
        return FileResponse(STATIC / "widget.js", media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=300",
                                     "Cross-Origin-Resource-Policy": "cross-origin"})

    if help_dir is not None:
        articles = help_dir

        @app.get("/help/{path:path}", include_in_schema=False)
        async def article(path: str) -> HTMLResponse:
            html = render_article(articles, path)
            if html is None:
                raise ProblemError(404, "article_not_found", "Article not found", path)
            return HTMLResponse(html)

    if demo:
        @app.get("/demo/customers", include_in_schema=False)
        async def demo_customers() -> list[dict[str, str]]:
            from sqlmodel import Session, select

            from tools.shop.models import Customer

            def load() -> list[dict[str, str]]:
                with Session(runtime.engine) as session:
                    rows = session.exec(select(Customer).order_by(Customer.external_id))
                    return [{"customer_id": c.external_id, "name": c.name} for c in rows]

            return await run_in_threadpool(load)

        @app.get("/demo/identity/{customer_id}", include_in_schema=False)
        async def demo_identity(customer_id: str) -> dict[str, str]:
            """What a shop's own backend does for its signed-in user: sign the id."""
            secret = getattr(runtime.settings, "identity_secret", None)
            if not secret:
                raise ProblemError(503, "identity_disabled", "Identity verification disabled")
            return {"customer_id": customer_id, "user_hash": sign_user(secret, customer_id)}

    @app.get("/healthz", tags=["meta"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/conversations", response_model=ConversationOut, status_code=201,
              tags=["conversations"])
    async def create_conversation() -> ConversationOut:
        return ConversationOut(conversation_id=runtime.agent.new_conversation_id())

    def check_identity(request: Request, customer_id: str | None,
                       user_hash: str | None) -> None:
        if customer_id is None:
            return
        secret: str | None = getattr(runtime.settings, "identity_secret", None)
        signed = secret is not None and user_hash is not None and \
            hmac.compare_digest(sign_user(secret, customer_id).encode(), user_hash.encode())
        if not signed and not _bearer_ok(request, admin_key):
            raise ProblemError(401, "identity_not_verified", "Identity not verified",
                               "customer_id needs a valid user_hash or an API key")

    def check_message(conversation_id: str, message: MessageIn, request: Request) -> None:
        check_conversation_id(conversation_id)
        check_identity(request, message.customer_id, message.user_hash)
        if len(message.text) > max_chars:
            raise ProblemError(413, "message_too_long", "Message too long",
                               f"{len(message.text)} characters; the limit is {max_chars}")
        check_rate(conversation_id, message.customer_id)

    def check_rate(conversation_id: str, customer_id: str | None) -> None:
        """The per-customer rate limit of the endpoints that run a turn."""
        wait = limits.check_customer(conversation_id, customer_id)
        if wait:
            raise ProblemError(429, "rate_limited", "Too many messages",
                               f"retry in {retry_after(wait)} s",
                               headers={"Retry-After": retry_after(wait)})

    @app.post("/v1/conversations/{conversation_id}/messages", response_model=ReplyOut,
              tags=["conversations"])
    async def post_message(conversation_id: str, message: MessageIn,
                           request: Request) -> ReplyOut:
        check_message(conversation_id, message, request)
        result = await run_in_threadpool(one_turn_at_a_time, conversation_id, runtime.agent.ask,
                                         message.text, conversation_id, message.customer_id)
        return _reply(result)

    @app.post("/v1/conversations/{conversation_id}/messages/stream",
              response_class=StreamingResponse, responses=_STREAM_RESPONSES,
              tags=["conversations"], description=_EVENTS_DOC)
    async def stream_message(conversation_id: str, message: MessageIn,
                             request: Request) -> Response:
        """Send a message and stream the reply (server-sent events)."""
        try:
            check_message(conversation_id, message, request)
        except ProblemError as exc:
            body = problem_body(exc.status_code, exc.code, exc.title, str(exc.detail))
            return Response(sse("error", body), status_code=exc.status_code,
                            media_type=SSE_MEDIA_TYPE,
                            headers=SSE_HEADERS | dict(exc.headers or {}))

        def run(emit: TokenSink) -> TurnResult:
            # The agent composes its reply whole today; a streaming responder would be
            # handed `emit` here and call it with each token.
            return one_turn_at_a_time(conversation_id, runtime.agent.ask, message.text,
                                      conversation_id, message.customer_id)

        def final(result: TurnResult) -> dict[str, Any]:
            return _reply(result).model_dump(mode="json")

        def failure(exc: Exception) -> dict[str, Any]:
            if isinstance(exc, ProblemError):
                return problem_body(exc.status_code, exc.code, exc.title, str(exc.detail))
            return problem_body(500, "turn_failed", "The assistant could not reply",
                                "please try again")

        return StreamingResponse(stream_turn(run, final, failure), media_type=SSE_MEDIA_TYPE,
                                 headers=SSE_HEADERS)

    @app.post("/v1/conversations/{conversation_id}/confirm", response_model=ReplyOut,
              tags=["conversations"],
              responses={409: {"description": "Nothing is waiting for a confirmation."}})
    async def confirm(conversation_id: str, answer: ConfirmIn, request: Request) -> ReplyOut:
        """Answer the pending action's confirmation question: `confirmed: true` goes ahead
        (as if the customer said "yes"), `false` declines it."""
        check_conversation_id(conversation_id)
        check_identity(request, answer.customer_id, answer.user_hash)
        yes, no = CONFIRM_WORDS.get(answer.language or default_language, CONFIRM_WORDS["en"])

        def answer_pending() -> TurnResult:
            if not runtime.agent.awaiting_confirmation(conversation_id):
                raise ProblemError(409, "nothing_to_confirm", "Nothing to confirm",
                                   "this conversation is not waiting for a confirmation")
            return runtime.agent.ask(yes if answer.confirmed else no, conversation_id,
                                     answer.customer_id)

        result = await run_in_threadpool(one_turn_at_a_time, conversation_id, answer_pending)
        return _reply(result)

    @app.post("/v1/conversations/{conversation_id}/handoff", response_model=ReplyOut,
              tags=["conversations"])
    async def handoff(conversation_id: str, request: Request,
                      body: HandoffIn | None = None) -> ReplyOut:
        """Ask for a human: runs a turn in which the customer asks to talk to a person
        (declining any pending action); the reply says a member of the team will take over
        and has `intent.route == "handoff"` and `handoff_offered: true`."""
        body = body or HandoffIn()
        check_conversation_id(conversation_id)
        check_identity(request, body.customer_id, body.user_hash)
        check_rate(conversation_id, body.customer_id)
        text = HANDOFF_TEXT.get(body.language or default_language, HANDOFF_TEXT["en"])
        result = await run_in_threadpool(one_turn_at_a_time, conversation_id, runtime.agent.ask,
                                         text, conversation_id, body.customer_id)
        return _reply(result)

    @app.get("/v1/conversations/{conversation_id}/messages", response_model=HistoryOut,
             response_model_exclude_none=True, tags=["conversations"])
    async def history(conversation_id: str) -> HistoryOut:
        check_conversation_id(conversation_id)
        messages = await run_in_threadpool(runtime.agent.history, conversation_id)
        if not messages:
            raise ProblemError(404, "conversation_not_found", "Conversation not found",
                               conversation_id)
        return HistoryOut(conversation_id=conversation_id,
                          messages=[HistoryMessage.model_validate(m) for m in messages])

    def require_admin(request: Request) -> None:
        if not admin_key:
            raise ProblemError(503, "approvals_disabled", "Approvals API disabled",
                               "set SUPPORTGRAPH_ADMIN_API_KEY to enable it")
        if not _bearer_ok(request, admin_key):
            raise ProblemError(401, "unauthorized", "API key required",
                               "send Authorization: Bearer <admin API key>")

    @app.get("/v1/approvals", response_model=list[ApprovalOut], tags=["approvals"])
    async def list_approvals(request: Request, status: str = "pending") -> list[ApprovalOut]:
        """Actions waiting for (or decided by) a human, newest first."""
        require_admin(request)
        if status not in {"pending", "approved", "rejected", "failed", "all"}:
            raise ProblemError(422, "invalid_request", "Unknown status", status)
        rows = await run_in_threadpool(runtime.actions.list_approvals,
                                       None if status == "all" else status)
        return [ApprovalOut.model_validate(_strings(r)) for r in rows]

    async def _decide(approval_id: str, decision: DecisionIn, approve: bool) -> DecisionOut:
        known = {r["approval_id"]: r for r in await run_in_threadpool(
            runtime.actions.list_approvals, None)}
        if approval_id not in known:
            raise ProblemError(404, "approval_not_found", "Approval not found", approval_id)
        outcome = await run_in_threadpool(runtime.actions.decide_approval, approval_id, approve,
                                          decision.reviewer, decision.note)
        row = known[approval_id]
        notified = False
        if not outcome.replayed:
            event = {"status": outcome.status, "code": outcome.code, "result": outcome.result,
                     "order_number": row.get("order_number"), "note": decision.note}
            await run_in_threadpool(runtime.agent.notify, row["conversation_id"], event)
            notified = True
        return DecisionOut(approval_id=approval_id, status=outcome.status, code=outcome.code,
                           message=outcome.message, customer_notified=notified)

    @app.post("/v1/approvals/{approval_id}/approve", response_model=DecisionOut,
              tags=["approvals"])
    async def approve(approval_id: str, decision: DecisionIn, request: Request) -> DecisionOut:
        """Execute the pending action (exactly once) and tell the customer."""
        require_admin(request)
        return await _decide(approval_id, decision, True)

    @app.post("/v1/approvals/{approval_id}/reject", response_model=DecisionOut,
              tags=["approvals"])
    async def reject(approval_id: str, decision: DecisionIn, request: Request) -> DecisionOut:
        """Refuse the pending action and tell the customer."""
        require_admin(request)
        return await _decide(approval_id, decision, False)

    from channels.assist import assist_router

    app.include_router(assist_router(runtime, ProblemError))
    from channels.registry import mount_channels

    mounted = mount_channels(app, runtime)
    from channels.inbox import inbox_router

    app.include_router(inbox_router(runtime, ProblemError, mounted))
    return app


def _strings(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if v is None else v if isinstance(v, str) else str(v))
            for k, v in row.items() if k in ApprovalOut.model_fields}
