"""`CommerceBackend` over a shop's REST API.

REST paths (JSON bodies; money as decimal strings, datetimes ISO 8601 with offset; the
order format is `tools.backend.order_view_to_json`):

=======  ===========================================  =====================================
GET      ``/orders/{number}``                         an order; 404 when unknown -> ``None``
GET      ``/customers/{customer_id}/orders?limit=N``  ``{"orders": [order, ...]}``, newest first
GET      ``/customers?email={email}``                 ``{"customers": [customer, ...]}``
POST     ``/orders/{number}/refunds``                 body ``{"amount", "item_ids", "reason"}``
POST     ``/orders/{number}/cancel``                  body ``{}``
PATCH    ``/orders/{number}/shipping-address``        body ``{"line1", "line2", "postal_code",
                                                      "city", "country"}``
=======  ===========================================  =====================================

Every write sends an ``Idempotency-Key`` header (the action's key, identical on every
retry) so the shop applies it once. Path segments are percent-encoded.

Retries (tenacity): timeouts, connection errors, 5xx and 429 are retried with
exponential backoff and jitter, up to ``max_attempts`` attempts in all; a 429/503
``Retry-After`` of at most ``max_retry_after_s`` seconds is honoured as the wait, a longer
one stops retrying. Other 4xx are not retried: 404 on a read means "not found", any other
4xx raises `BackendRejected` (``code`` from the body's ``"code"`` when present). When the
attempts are exhausted, `BackendUnavailable` is raised.

It does not implement `tools.backend.ExecutionLookup`: REST shops have no common way to
ask what became of an ``Idempotency-Key``. An action interrupted mid-call is therefore
settled as unknown (failed, code ``interrupted``, a ticket for a human); a retry sends the
same key, so the shop applies it at most once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from tools.backend import (
    BackendRejected,
    BackendUnavailable,
    CustomerView,
    OrderView,
    customer_view_from_json,
    order_view_from_json,
)


class _Retryable(Exception):
    """One failed attempt worth retrying."""

    def __init__(self, message: str, *, status_code: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


def _seg(value: str) -> str:
    return quote(str(value), safe="")


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); None if absent/bad."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class HttpCommerceBackend:
    """REST adapter; see the module docstring for the paths and the retry policy."""

    def __init__(
        self,
        base_url: str,
        *,
        auth_header: tuple[str, str] | None = None,
        timeout_s: float = 10.0,
        max_attempts: int = 4,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 8.0,
        jitter_s: float = 0.5,
        max_retry_after_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        headers = {"Accept": "application/json", "User-Agent": "supportgraph-actions/0.1"}
        if auth_header is not None:
            headers[auth_header[0]] = auth_header[1]
        self.base_url = base_url.rstrip("/")
        self.max_attempts = max_attempts
        self.max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        self._backoff = wait_exponential_jitter(
            initial=backoff_initial_s, max=backoff_max_s, jitter=jitter_s
        )
        self._client = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout_s, transport=transport
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpCommerceBackend:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- reads --------------------------------------------------------------------------

    def get_order(self, number: str) -> OrderView | None:
        resp = self._request("GET", f"/orders/{_seg(number)}", not_found_ok=True)
        if resp is None:
            return None
        return self._parse(lambda: order_view_from_json(resp.json()))

    def list_orders(self, customer_id: str, limit: int = 5) -> list[OrderView]:
        resp = self._request(
            "GET",
            f"/customers/{_seg(customer_id)}/orders",
            params={"limit": max(1, min(int(limit), 50))},
            not_found_ok=True,
        )
        if resp is None:
            return []
        return self._parse(lambda: [order_view_from_json(o) for o in resp.json()["orders"]])

    def customer_by_email(self, email: str) -> CustomerView | None:
        resp = self._request(
            "GET", "/customers", params={"email": email.strip()}, not_found_ok=True
        )
        if resp is None:
            return None
        customers = self._parse(
            lambda: [customer_view_from_json(c) for c in resp.json()["customers"]]
        )
        wanted = email.strip().lower()
        return next((c for c in customers if c.email.lower() == wanted), None)

    # --- writes -------------------------------------------------------------------------

    def issue_refund(
        self,
        order_number: str,
        amount: Decimal,
        item_ids: list[str],
        reason: str,
        idempotency_key: str,
    ) -> dict[str, Any]:
        body = {"amount": str(amount), "item_ids": [str(i) for i in item_ids], "reason": reason}
        return self._write("POST", f"/orders/{_seg(order_number)}/refunds", body, idempotency_key)

    def cancel_order(self, number: str, idempotency_key: str) -> dict[str, Any]:
        return self._write("POST", f"/orders/{_seg(number)}/cancel", {}, idempotency_key)

    def update_address(
        self, number: str, address: dict[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        return self._write(
            "PATCH", f"/orders/{_seg(number)}/shipping-address", dict(address), idempotency_key
        )

    # --- internals ----------------------------------------------------------------------

    def _write(
        self, method: str, path: str, body: dict[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        if not idempotency_key:
            raise ValueError("writes need an idempotency key")
        resp = self._request(method, path, json=body, headers={"Idempotency-Key": idempotency_key})
        assert resp is not None
        if not resp.content:
            return {}
        data = self._parse(resp.json)
        return data if isinstance(data, dict) else {"result": data}

    @staticmethod
    def _parse(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except (ValueError, KeyError, TypeError) as exc:
            raise BackendUnavailable(f"malformed backend response: {exc}") from exc

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return exc.retry_after
        return float(self._backoff(state))

    def _should_retry(self, exc: BaseException) -> bool:
        if not isinstance(exc, _Retryable):
            return False
        return exc.retry_after is None or exc.retry_after <= self.max_retry_after_s

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        not_found_ok: bool = False,
    ) -> httpx.Response | None:
        attempts = 0

        def once() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            try:
                resp = self._client.request(method, path, params=params, json=json,
                                            headers=headers)
            except httpx.TimeoutException as exc:
                raise _Retryable(f"timeout: {exc!r}") from exc
            except httpx.TransportError as exc:
                raise _Retryable(f"transport error: {exc!r}") from exc
            if resp.status_code == 429 or resp.status_code >= 500:
                raise _Retryable(
                    f"HTTP {resp.status_code}",
                    status_code=resp.status_code,
                    retry_after=parse_retry_after(resp.headers.get("Retry-After")),
                )
            return resp

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(self._should_retry),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            resp = retrying(once)
        except _Retryable as exc:
            raise BackendUnavailable(
                f"{method} {path} failed after {attempts} attempt(s): {exc}",
                attempts=attempts,
                status_code=exc.status_code,
            ) from exc
        if resp.status_code == 404 and not_found_ok:
            return None
        if resp.status_code >= 400:
            code = f"http_{resp.status_code}"
            message = resp.text[:300]
            try:
                payload = resp.json()
                if isinstance(payload, dict):
                    code = str(payload.get("code") or code)
                    message = str(payload.get("message") or payload.get("detail") or message)
            except ValueError:
                pass
            raise BackendRejected(message, code=code, status_code=resp.status_code)
        return resp
