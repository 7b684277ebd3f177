"""Bad and abusive input never gets a 500: property-based tests (hypothesis) on the
message endpoint and the guard/slot parsers, an OpenAPI-driven fuzz (schemathesis) of
every operation, explicit malformed requests, and the rate limits.

The app is the real FastAPI app over the demo graph (its own seeded shop database);
the fuzz runs in-process through the ASGI interface, so it stays under a minute.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from agents.act import parse_address
from agents.guard import check_message
from agents.slots import SlotConfig, extract_slots
from agents.support_agent import SupportAgent
from channels.app import create_app
from channels.ratelimit import RateLimiter
from conftest import ShopAgent, seeded_shop_agent
from supportgraph.runtime import SupportRuntime
from supportgraph.settings import Settings

FUZZ = settings(max_examples=15, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@dataclass
class AppRuntime:
    """What create_app needs: the demo agent over its own shop, with chosen settings."""

    agent: SupportAgent
    settings: Settings
    actions: Any
    engine: Any


def _app(shop: ShopAgent, base: Settings, **overrides: Any) -> FastAPI:
    return create_app(AppRuntime(shop.agent, base.with_overrides(**overrides), shop.actions,
                                 shop.engine))


@pytest.fixture(scope="module")
def shop(demo_runtime: SupportRuntime, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[ShopAgent]:
    shop = seeded_shop_agent(demo_runtime, tmp_path_factory.mktemp("fuzz-shop"))
    yield shop
    shop.engine.dispose()


@pytest.fixture(scope="module")
def app(shop: ShopAgent, demo_runtime: SupportRuntime) -> FastAPI:
    """Rate limits off: the fuzz sends far more than a customer would."""
    return _app(shop, demo_runtime.settings, rate_limit_enabled=False,
                identity_secret="fuzz-secret", admin_api_key="fuzz-admin")


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _is_problem(response: Any, status: int | None = None) -> bool:
    body = response.json()
    return (response.headers["content-type"].startswith("application/problem+json")
            and isinstance(body.get("code"), str) and body["code"]
            and (status is None or response.status_code == status))


# --- properties: any message, any JSON ----------------------------------------------------

_any_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=60),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=40),  # control characters
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=5), st.integers(800, 2000)),
)


@FUZZ
@given(text=_any_text)
def test_any_message_text_gets_a_reply_or_a_problem(client: TestClient, text: str) -> None:
    response = client.post("/v1/conversations/fuzz-text/messages", json={"text": text})
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        assert isinstance(response.json()["reply"], str)
    else:
        assert _is_problem(response), response.text


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12)


@FUZZ
@given(body=st.one_of(_json, st.fixed_dictionaries({"text": _json}),
                      st.fixed_dictionaries({"text": st.text(min_size=1, max_size=20),
                                             "customer_id": _json, "user_hash": _json})))
def test_any_json_body_gets_a_reply_or_a_problem(client: TestClient, body: Any) -> None:
    for path in ("/v1/conversations/fuzz-json/messages", "/v1/conversations/fuzz-json/confirm",
                 "/v1/assist/suggest"):
        response = client.post(path, content=json.dumps(body),
                               headers={"content-type": "application/json"})
        assert response.status_code < 500, (path, response.text)
        if response.status_code >= 400:
            assert _is_problem(response), (path, response.text)


@FUZZ
@given(conversation_id=st.text(max_size=80))
def test_any_conversation_id_in_the_path_gets_a_4xx_or_a_reply(client: TestClient,
                                                               conversation_id: str) -> None:
    from urllib.parse import quote

    path = f"/v1/conversations/{quote(conversation_id, safe='')}/messages"
    response = client.get(path)
    assert response.status_code < 500, response.text


@settings(max_examples=300, deadline=None, derandomize=True)
@given(text=st.text(max_size=400))
def test_the_guard_and_slot_parsers_accept_any_text(text: str) -> None:
    verdict = check_message(text, 4000)
    assert verdict["code"] in {"ok", "empty", "too_long"} or not verdict["allowed"]
    slots = extract_slots(text, SlotConfig(), today=date(2026, 3, 15),
                          items=["Linen duvet cover 240x220", "Wireless earbuds"])
    assert isinstance(slots, dict)
    address = parse_address(text)
    assert address is None or {"line1", "postal_code", "city"} <= set(address)


# --- the OpenAPI schema, fuzzed -------------------------------------------------------------


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_operation_of_the_openapi_schema_answers_a_server_error(
        app: FastAPI, mode: GenerationMode) -> None:
    """Every operation, with data that fits its schema and data that does not."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 8
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=8, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        try:
            call()
        except Unsatisfiable:  # nothing invalid to send (an operation without inputs)
            continue
        except Exception as exc:  # collect them all, then report
            failures[operation.label] = f"{type(exc).__name__}: {str(exc)[:800]}"
    assert not failures, "\n".join(f"{k}: {v}" for k, v in failures.items())


# --- malformed requests, explicitly -----------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"text=hello", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b'{"text": "hello"}', "text/plain", 415, "unsupported_media_type"),
        (b'{"text": "caf\xe9"}', "application/json", 400, "invalid_encoding"),
        ('{"text": "café"}'.encode("utf-16"), "application/json", 400, "invalid_encoding"),
        (b'{"text": "\\ud800 lone surrogate"}', "application/json", 400, "invalid_encoding"),
        (b'{"text": "hello"', "application/json", 422, "invalid_request"),
        (b"", "application/json", 422, "invalid_request"),
        (b'{"text": ""}', "application/json", 422, "invalid_request"),
        (b'{"text": 42}', "application/json", 422, "invalid_request"),
        (b"[]", "application/json", 422, "invalid_request"),
    ],
)
def test_a_malformed_body_gets_a_4xx_problem_with_a_stable_code(
        client: TestClient, content: bytes, content_type: str, status: int, code: str) -> None:
    response = client.post("/v1/conversations/bad-body/messages", content=content,
                           headers={"content-type": content_type})
    assert response.status_code == status, response.text
    assert _is_problem(response, status) and response.json()["code"] == code


def test_a_paired_surrogate_escape_is_ordinary_text(client: TestClient) -> None:
    response = client.post("/v1/conversations/emoji/messages",
                           content=b'{"text": "hello \\ud83d\\ude00"}',
                           headers={"content-type": "application/json"})
    assert response.status_code == 200


def test_a_body_over_the_size_limit_is_refused_before_it_is_parsed(client: TestClient) -> None:
    big = json.dumps({"text": "a" * 100_000}).encode()
    announced = client.post("/v1/conversations/big/messages", content=big,
                            headers={"content-type": "application/json"})
    assert announced.status_code == 413 and announced.json()["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it arrives
        for start in range(0, len(big), 8192):
            yield big[start:start + 8192]

    streamed = client.post("/v1/conversations/big/messages", content=chunks(),
                           headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and streamed.json()["code"] == "payload_too_large"


def test_a_message_over_the_character_limit_is_a_413_problem(client: TestClient) -> None:
    response = client.post("/v1/conversations/long/messages", json={"text": "é" * 5000})
    assert response.status_code == 413 and response.json()["code"] == "message_too_long"


# --- rate limits --------------------------------------------------------------------------------


def test_a_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert limiter.hit("k") == 0 and limiter.hit("k") == 0
    assert limiter.hit("k") == pytest.approx(1.0)
    assert limiter.hit("other") == 0
    now[0] += 1.0
    assert limiter.hit("k") == 0 and limiter.hit("k") > 0


def test_too_many_messages_in_a_conversation_get_429_with_retry_after(
        shop: ShopAgent, demo_runtime: SupportRuntime) -> None:
    app = _app(shop, demo_runtime.settings, rate_limit_conversation_burst=3,
               rate_limit_conversation_per_minute=6)
    with TestClient(app) as client:
        codes = [client.post("/v1/conversations/chatty/messages", json={"text": "hi"})
                 for _ in range(4)]
        assert [r.status_code for r in codes] == [200, 200, 200, 429]
        limited = codes[-1]
        assert limited.json()["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 10
        stream = client.post("/v1/conversations/chatty/messages/stream", json={"text": "hi"})
        assert stream.status_code == 429 and "rate_limited" in stream.text
        assert "retry-after" in stream.headers
        other = client.post("/v1/conversations/quiet/messages", json={"text": "hi"})
        assert other.status_code == 200


def test_too_many_requests_from_one_address_get_429(shop: ShopAgent,
                                                    demo_runtime: SupportRuntime) -> None:
    app = _app(shop, demo_runtime.settings, rate_limit_ip_burst=5,
               rate_limit_ip_per_minute=60)
    with TestClient(app) as client:
        statuses = [client.post("/v1/conversations").status_code for _ in range(6)]
        assert statuses == [201] * 5 + [429]
        limited = client.post("/v1/conversations")
        assert limited.json()["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        assert client.get("/healthz").status_code == 200  # only the API is limited


def test_the_default_limits_let_a_busy_single_address_through(tmp_path: Path) -> None:
    """bench/load.py drives 100 conversations x 4 turns (+ warm-up) from 127.0.0.1."""
    limiter = RateLimiter(Settings().rate_limit_ip_per_minute, Settings().rate_limit_ip_burst,
                          clock=lambda: 0.0)
    assert all(limiter.hit("ip:127.0.0.1") == 0 for _ in range(100 + 400 + 20))
