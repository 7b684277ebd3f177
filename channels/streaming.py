"""Server-sent events for one turn: `token` chunks of the reply, then `final`, or `error`.

A turn runs in a worker thread and gets an `emit` callback. A responder that streams
(a chat model's token stream) calls `emit(text)` for each token as it arrives; the
offline responder composes the whole reply at once, so when the turn ends without
having emitted anything its reply is streamed in word chunks. `final` always carries
the authoritative reply: a client replaces the streamed text with it.

Wire format (https://html.spec.whatwg.org/multipage/server-sent-events.html)::

    event: token
    data: {"text": "Returns "}

    event: final
    data: {"conversation_id": "...", "reply": "...", "citations": [...], ...}

    event: error
    data: {"type": "...", "title": "...", "status": 500, "code": "...", "detail": "..."}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

log = logging.getLogger(__name__)

TokenSink = Callable[[str], None]
"""Called by a streaming responder with each piece of reply text, from the worker thread."""

SSE_MEDIA_TYPE = "text/event-stream"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
STREAM_SECONDS = 1.2
"""About how long a composed reply takes to stream; each chunk waits at most 30 ms."""

_RUNNING: set[asyncio.Future[None]] = set()
_CHUNK = re.compile(r"\S+\s*|\s+")


def sse(event: str, data: Any) -> str:
    """One event; `data` is sent as JSON (one line: JSON strings escape newlines)."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def word_chunks(text: str) -> list[str]:
    """`text` cut after each word's trailing whitespace; the chunks join back to `text`."""
    return _CHUNK.findall(text)


async def stream_turn(run: Callable[[TokenSink], Any],
                      final: Callable[[Any], dict[str, Any]],
                      failure: Callable[[Exception], dict[str, Any]],
                      seconds: float = STREAM_SECONDS) -> AsyncIterator[str]:
    """The events of one turn: `run(emit)` runs in a worker thread and returns the turn's
    result; `final(result)` is its JSON (with a `reply`), `failure(exc)` a problem document.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def put(kind: str, value: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the server shut down while the turn ran
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

    def work() -> None:
        try:
            put("done", run(lambda token: put("token", token)))
        except Exception as exc:
            put("failed", exc)

    worker = asyncio.ensure_future(run_in_threadpool(work))
    # Held until done: a client that goes away does not stop the turn, it completes in
    # its thread and the conversation's history has the reply.
    _RUNNING.add(worker)
    worker.add_done_callback(_RUNNING.discard)
    streamed = False
    yield ": turn started\n\n"  # a comment: sends the headers before the turn ends
    while True:
        kind, value = await queue.get()
        if kind == "token":
            if value:
                streamed = True
                yield sse("token", {"text": value})
            continue
        if kind == "failed":
            log.error("turn failed while streaming", exc_info=value)
            yield sse("error", failure(value))
            return
        try:
            payload = final(value)
        except Exception as exc:
            log.exception("could not serialise a turn's result")
            yield sse("error", failure(exc))
            return
        if not streamed:
            chunks = word_chunks(str(payload.get("reply", "")))
            delay = min(0.03, seconds / max(len(chunks), 1))
            for chunk in chunks:
                yield sse("token", {"text": chunk})
                await asyncio.sleep(delay)
        yield sse("final", payload)
        return
