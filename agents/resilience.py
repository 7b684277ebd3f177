"""Resilient model calls: bounded retries of transient errors and a circuit breaker.

A chat-model (or embedding) call that times out, is rate limited (429) or hits a
server error (5xx) is retried with exponential backoff and jitter (tenacity), within
an attempt count and a total time budget. Every attempt passes through the model's
circuit breaker: after `failure_threshold` consecutive transient failures it *opens*
and calls fail at once with `ModelUnavailable` for `reset_timeout_s`; then it lets one
probe through (*half-open*), which closes it on success or opens it again on failure.

Callers catch `ModelUnavailable` and take their offline path (intent: the classifier
decides alone; act: the call implied by the slots, or a slot question; respond: the
extractive answer), so a provider outage costs quality, never a reply.

Errors are recognised generically, without importing provider SDKs: an exception (or
one in its `__cause__` chain) with a `status_code` / `response.status_code` of 408,
409, 425, 429 or 5xx, a `TimeoutError` / `ConnectionError`, or an exception class named
like a timeout or connection error (`APITimeoutError`, `ReadTimeout`,
`APIConnectionError`, ...).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_exponential_jitter

log = logging.getLogger(__name__)

T = TypeVar("T")
BreakerState = Literal["closed", "open", "half_open"]
TRANSIENT_STATUS = frozenset({408, 409, 425, 429})


class ModelUnavailable(RuntimeError):
    """The model could not answer: retries exhausted, a permanent error, or breaker open."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
        """`circuit_open`, `transient` (retries exhausted) or `error` (not retryable)."""


def status_code_of(exc: BaseException) -> int | None:
    """The HTTP status an SDK or httpx exception carries, if any."""
    for candidate in (getattr(exc, "status_code", None),
                      getattr(getattr(exc, "response", None), "status_code", None),
                      getattr(exc, "status", None)):
        if isinstance(candidate, int) and not isinstance(candidate, bool):
            return candidate
    return None


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: a timeout, a dropped connection, 408/409/425/429 or 5xx."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        status = status_code_of(current)
        if status is not None:
            return status in TRANSIENT_STATUS or 500 <= status <= 599
        if isinstance(current, TimeoutError | ConnectionError):
            return True
        name = type(current).__name__
        if "Timeout" in name or "ConnectionError" in name or name in {
                "ConnectError", "RemoteProtocolError", "ReadError", "WriteError"}:
            return True
        current = current.__cause__ or current.__context__
    return False


class CircuitBreaker:
    """closed -> (threshold consecutive failures) -> open -> (reset timeout) -> half_open
    -> one probe: success closes, failure opens again. Thread-safe."""

    def __init__(self, failure_threshold: int = 5, reset_timeout_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_in_flight = False
        self.times_opened = 0

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_timeout_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """May a call go to the model now? In half-open state only one probe at a time."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half_open" and not self._probe_in_flight:
                self._probe_in_flight = True
                return True
            return False

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probe_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            probe_failed = self._probe_in_flight
            self._probe_in_flight = False
            tripped = self._opened_at is None and self._failures >= self.failure_threshold
            if probe_failed or tripped:
                self._opened_at = self._clock()
                self.times_opened += 1


class _OverBudget(stop_base):
    """Stop when the next wait would end past the budget (on the guard's clock)."""

    def __init__(self, budget_s: float, clock: Callable[[], float]) -> None:
        self.budget_s, self.clock = budget_s, clock
        self.started = clock()

    def __call__(self, retry_state: RetryCallState) -> bool:
        upcoming = retry_state.upcoming_sleep or 0.0
        return self.clock() - self.started + upcoming >= self.budget_s


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one model call before giving up."""

    attempts: int = 3
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 4.0
    jitter_s: float = 0.5
    budget_s: float = 20.0
    """No new attempt starts when the next wait would end past this many seconds."""


@dataclass
class ModelGuard:
    """The retry policy and circuit breaker of one model."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def from_settings(cls, settings: Any) -> ModelGuard:
        """From `Settings.llm_*` (see supportgraph/settings.py)."""
        policy = RetryPolicy(attempts=settings.llm_max_attempts,
                             initial_backoff_s=settings.llm_retry_initial_s,
                             max_backoff_s=settings.llm_retry_max_s,
                             budget_s=settings.llm_retry_budget_s)
        breaker = CircuitBreaker(settings.llm_breaker_threshold, settings.llm_breaker_reset_s)
        return cls(policy=policy, breaker=breaker)

    def call(self, fn: Callable[[], T], what: str = "model call") -> T:
        """`fn()` with retries of transient errors, through the breaker.

        Raises `ModelUnavailable` when the breaker is open, when a non-transient error
        occurs (after recording that the provider answered), or when retries run out.
        """
        policy = self.policy
        backoff = wait_exponential_jitter(initial=policy.initial_backoff_s,
                                          max=policy.max_backoff_s, jitter=policy.jitter_s)

        def attempt() -> T:
            if not self.breaker.allow():
                raise ModelUnavailable(f"{what}: circuit open", reason="circuit_open")
            try:
                result = fn()
            except Exception as exc:
                if is_transient(exc):
                    self.breaker.record_failure()
                else:
                    self.breaker.record_success()  # the provider answered, just not well
                raise
            self.breaker.record_success()
            return result

        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("%s failed (attempt %d, %r); retrying", what, state.attempt_number,
                        exc)

        retrying = Retrying(
            stop=stop_any(stop_after_attempt(max(1, policy.attempts)),
                          _OverBudget(policy.budget_s, self.clock)),
            wait=backoff, sleep=self.sleep, reraise=True, before_sleep=log_retry,
            retry=retry_if_exception(
                lambda exc: is_transient(exc) and not isinstance(exc, ModelUnavailable)))
        try:
            return retrying(attempt)
        except ModelUnavailable:
            raise
        except Exception as exc:
            reason = "transient" if is_transient(exc) else "error"
            raise ModelUnavailable(f"{what} failed: {exc!r}", reason=reason) from exc


_GUARDS: dict[int, ModelGuard] = {}
_GUARDS_LOCK = threading.Lock()


def use_guard(model: Any, guard: ModelGuard) -> None:
    """Give `model` this guard (the runtime does, from the settings)."""
    with _GUARDS_LOCK:
        if id(model) not in _GUARDS:
            weakref.finalize(model, _GUARDS.pop, id(model), None)
        _GUARDS[id(model)] = guard


def guard_for(model: Any) -> ModelGuard:
    """The guard of `model`; a default one (one breaker per model object) the first time.

    A breaker belongs to the model, not to a turn: every conversation of the process
    shares what it learnt about the provider.
    """
    with _GUARDS_LOCK:
        guard = _GUARDS.get(id(model))
        if guard is None:
            guard = _GUARDS[id(model)] = ModelGuard()
            weakref.finalize(model, _GUARDS.pop, id(model), None)
        return guard


def call_model(model: Any, messages: Sequence[Any], *, tools: Sequence[Any] | None = None,
               what: str = "chat model") -> Any:
    """`model.invoke(messages)` (with `tools` bound) under the model's guard."""
    runnable = model.bind_tools(list(tools)) if tools is not None else model
    return guard_for(model).call(lambda: runnable.invoke(list(messages)), what)


class GuardedEmbeddings:
    """A LangChain `Embeddings` (e.g. an OpenAI-compatible endpoint) under a guard.

    There is no offline fallback for embeddings of another model, so a call that gives up
    raises `ModelUnavailable`; the guard keeps a dead endpoint from costing every turn
    its whole retry budget.
    """

    def __init__(self, embeddings: Any, guard: ModelGuard | None = None) -> None:
        self.embeddings = embeddings
        self.guard = guard or ModelGuard()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        result: list[list[float]] = self.guard.call(
            lambda: self.embeddings.embed_documents(texts), "embedding endpoint")
        return result

    def embed_query(self, text: str) -> list[float]:
        result: list[float] = self.guard.call(lambda: self.embeddings.embed_query(text),
                                              "embedding endpoint")
        return result
