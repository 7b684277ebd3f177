"""The FastAPI app: a JSON chat API under /v1 and a minimal chat page at /.

Errors are RFC 9457 problem documents with a stable `code`; the agent runs in
a worker thread so the event loop keeps serving while a turn computes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from agents.support_agent import SupportAgent, TurnResult

STATIC = Path(__file__).parent / "static"
CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class RuntimeLike(Protocol):
    agent: SupportAgent
    settings: Any


class MessageIn(BaseModel):
    text: str = Field(min_length=1, description="The customer's message.")
    customer_id: str | None = Field(default=None, max_length=128)


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


class ReplyOut(BaseModel):
    conversation_id: str
    reply: str
    citations: list[CitationOut]
    language: str
    intent: dict[str, Any]
    answered: bool
    handoff_offered: bool
    responder: str
    latency_ms: float


class HistoryMessage(BaseModel):
    role: str
    text: str
    citations: list[CitationOut] = []


class HistoryOut(BaseModel):
    conversation_id: str
    messages: list[HistoryMessage]


def problem(status: int, code: str, title: str, detail: str = "") -> JSONResponse:
    body = {"type": f"https://supportgraph.dev/problems/{code}", "title": title,
            "status": status, "code": code, "detail": detail}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


class ProblemError(HTTPException):
    def __init__(self, status: int, code: str, title: str, detail: str = "") -> None:
        super().__init__(status, detail)
        self.code, self.title = code, title


def check_conversation_id(conversation_id: str) -> str:
    if not CONVERSATION_ID.match(conversation_id):
        raise ProblemError(400, "invalid_conversation_id", "Invalid conversation id",
                           "use the id returned by POST /v1/conversations")
    return conversation_id


def _reply(result: TurnResult) -> ReplyOut:
    return ReplyOut.model_validate(result.to_dict())


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


def create_app(runtime: RuntimeLike, help_dir: Path | None = None) -> FastAPI:
    """The API; with `help_dir`, also the help-centre articles at /help/<id> (the demo)."""
    app = FastAPI(title="supportgraph", version="0.1.0",
                  description="Customer support agent API: conversations, replies with "
                              "citations, history.")
    max_chars = int(getattr(runtime.settings, "max_message_chars", 4000))

    @app.exception_handler(ProblemError)
    async def _problem(_: Request, exc: ProblemError) -> JSONResponse:
        return problem(exc.status_code, exc.code, exc.title, str(exc.detail))

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
        return FileResponse(STATIC / "chat.html", media_type="text/html")

    if help_dir is not None:
        articles = help_dir

        @app.get("/help/{path:path}", include_in_schema=False)
        async def article(path: str) -> HTMLResponse:
            html = render_article(articles, path)
            if html is None:
                raise ProblemError(404, "article_not_found", "Article not found", path)
            return HTMLResponse(html)

    @app.get("/healthz", tags=["meta"])
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/conversations", response_model=ConversationOut, status_code=201,
              tags=["conversations"])
    async def create_conversation() -> ConversationOut:
        return ConversationOut(conversation_id=runtime.agent.new_conversation_id())

    @app.post("/v1/conversations/{conversation_id}/messages", response_model=ReplyOut,
              tags=["conversations"])
    async def post_message(conversation_id: str, message: MessageIn) -> ReplyOut:
        check_conversation_id(conversation_id)
        if len(message.text) > max_chars:
            raise ProblemError(413, "message_too_long", "Message too long",
                               f"{len(message.text)} characters; the limit is {max_chars}")
        result = await run_in_threadpool(runtime.agent.ask, message.text, conversation_id,
                                         message.customer_id)
        return _reply(result)

    @app.get("/v1/conversations/{conversation_id}/messages", response_model=HistoryOut,
             tags=["conversations"])
    async def history(conversation_id: str) -> HistoryOut:
        check_conversation_id(conversation_id)
        messages = await run_in_threadpool(runtime.agent.history, conversation_id)
        if not messages:
            raise ProblemError(404, "conversation_not_found", "Conversation not found",
                               conversation_id)
        return HistoryOut(conversation_id=conversation_id,
                          messages=[HistoryMessage.model_validate(m) for m in messages])

    return app
