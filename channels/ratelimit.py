"""Request limits on the public API: rate limits per client IP and per customer, and a
cap on the size of request bodies.

Rates are token buckets: a key may spend `burst` requests at once and gets
`per_minute / 60` back each second; beyond that the request gets a 429 problem
(`code: rate_limited`) with a `Retry-After` header in whole seconds. Buckets live in
process memory (one server process per data directory, as the embedded store needs;
several workers or hosts would each count on their own).

* per client IP: every `/v1/` request, checked in `RequestLimitsMiddleware` before any
  work. The IP is the socket's peer, or what uvicorn's `--proxy-headers` (on by default
  for a proxy on 127.0.0.1) took from `X-Forwarded-For`.
* per customer: the endpoints that run a turn (`check_conversation` in channels/app.py),
  keyed by the verified customer id, else by the conversation id (anonymous visitors
  who open new conversations to get around it still meet the IP limit).
* bodies of `/v1/` requests over `max_body_bytes` get 413 `payload_too_large` before
  they are parsed, whether or not they announce a Content-Length; a body that is not
  JSON gets 415 `unsupported_media_type`, one that is not UTF-8 or holds an unpaired
  surrogate escape (which no database or JSON encoder downstream accepts) 400
  `invalid_encoding`.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBLEM_MEDIA_TYPE = "application/problem+json"


class RateLimiter:
    """Token buckets per key (thread-safe); the least recently seen keys are forgotten
    beyond `max_keys` (a forgotten key starts again with a full bucket)."""

    def __init__(self, per_minute: float, burst: int, *, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        """Spend one token of `key`: 0.0 if allowed, else the seconds until one is back."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return 0.0 if allowed else (1.0 - tokens) / self.rate


@dataclass
class RequestLimits:
    """The limits of one app, from the settings (`rate_limit_*`, `max_body_bytes`)."""

    per_ip: RateLimiter
    per_customer: RateLimiter
    max_body_bytes: int = 65_536
    enabled: bool = True

    @classmethod
    def from_settings(cls, settings: Any) -> RequestLimits:
        def get(name: str, default: Any) -> Any:
            return getattr(settings, name, default)

        return cls(
            per_ip=RateLimiter(get("rate_limit_ip_per_minute", 1200.0),
                               get("rate_limit_ip_burst", 600)),
            per_customer=RateLimiter(get("rate_limit_conversation_per_minute", 30.0),
                                     get("rate_limit_conversation_burst", 20)),
            max_body_bytes=get("max_body_bytes", 65_536),
            enabled=bool(get("rate_limit_enabled", True)),
        )

    def check_customer(self, conversation_id: str, customer_id: str | None) -> float:
        """0.0, or the seconds to wait before this customer's next turn."""
        if not self.enabled:
            return 0.0
        key = f"customer:{customer_id}" if customer_id else f"conversation:{conversation_id}"
        return self.per_customer.hit(key)


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def problem_document(status: int, code: str, title: str, detail: str = "") -> dict[str, Any]:
    return {"type": f"https://supportgraph.dev/problems/{code}", "title": title,
            "status": status, "code": code, "detail": detail}


async def _send_problem(send: Send, status: int, code: str, title: str, detail: str,
                        headers: dict[str, str] | None = None) -> None:
    body = json.dumps(problem_document(status, code, title, detail)).encode()
    raw = [(b"content-type", PROBLEM_MEDIA_TYPE.encode()),
           (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _body_problem(body: bytes, content_type: bytes) -> tuple[int, str, str, str] | None:
    """Why a non-empty body cannot be JSON text the API accepts, or None if it may be."""
    if not body:
        return None
    media = content_type.split(b";", 1)[0].strip().lower()
    if media != b"application/json" and not media.endswith(b"+json"):
        return (415, "unsupported_media_type", "Unsupported media type",
                "send the body as JSON with Content-Type: application/json")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (400, "invalid_encoding", "The body is not UTF-8",
                f"invalid byte at position {exc.start}; send UTF-8 JSON")
    try:
        value = json.loads(text)
    except ValueError:
        return None  # the app reports the JSON error (422 invalid_request)
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return (400, "invalid_encoding", "Invalid Unicode text",
                "a string holds an unpaired surrogate escape (\\ud800-\\udfff)")
    return None


class RequestLimitsMiddleware:
    """Per-IP rate limit and body-size cap for requests under `prefix` (pure ASGI, so a
    streamed response is never buffered)."""

    def __init__(self, app: ASGIApp, limits: RequestLimits, prefix: str = "/v1/") -> None:
        self.app = app
        self.limits = limits
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        limits = self.limits
        if limits.enabled:
            client = scope.get("client")
            wait = limits.per_ip.hit(f"ip:{client[0] if client else 'unknown'}")
            if wait:
                await _send_problem(send, 429, "rate_limited", "Too many requests",
                                    f"too many requests from this address; retry in "
                                    f"{retry_after(wait)} s", {"Retry-After": retry_after(wait)})
                return
        if scope.get("method") not in {"POST", "PUT", "PATCH"}:
            await self.app(scope, receive, send)
            return
        limit = limits.max_body_bytes
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _send_problem(send, 413, "payload_too_large", "Request body too large",
                                f"the limit is {limit} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _send_problem(send, 413, "payload_too_large", "Request body too large",
                                    f"the limit is {limit} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        refusal = _body_problem(body, headers.get(b"content-type", b""))
        if refusal is not None:
            await _send_problem(send, *refusal)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
