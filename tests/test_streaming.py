"""The streaming chat API over real HTTP: server-sent events, confirm, handoff and CORS,
on a uvicorn server serving the demo help centre and a freshly seeded demo shop."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from channels.app import create_app, sign_user
from channels.streaming import word_chunks
from conftest import seeded_shop_agent, serve_app
from supportgraph.runtime import DEMO_HELPCENTER, SupportRuntime

SECRET = "widget-secret"
SHOP_ORIGIN = "https://shop.example"


def shop_runtime(demo_runtime: SupportRuntime, directory: Path,
                 cors_origins: list[str] | None = None) -> SimpleNamespace:
    """The demo agent over its own seeded shop (actions here never touch the shared one),
    with an identity secret and CORS origins set."""
    shop = seeded_shop_agent(demo_runtime, directory)
    settings = SimpleNamespace(max_message_chars=demo_runtime.settings.max_message_chars,
                               admin_api_key=None, identity_secret=SECRET,
                               cors_origins=cors_origins or [])
    return SimpleNamespace(agent=shop.agent, settings=settings, actions=shop.actions,
                           engine=shop.engine)


@pytest.fixture(scope="module")
def base_url(demo_runtime: SupportRuntime,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    runtime = shop_runtime(demo_runtime, tmp_path_factory.mktemp("streaming"), [SHOP_ORIGIN])
    with serve_app(create_app(runtime, help_dir=DEMO_HELPCENTER, demo=True)) as base:
        yield base
    runtime.engine.dispose()


def events(response: httpx.Response | str) -> list[tuple[str, Any]]:
    """The (event, data) pairs of a server-sent-events body; comments are skipped."""
    text = response if isinstance(response, str) else response.text
    parsed = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            if field == "event":
                name = value.strip()
            elif field == "data":
                data.append(value.removeprefix(" "))
        if data:
            parsed.append((name, json.loads("\n".join(data))))
    return parsed


def _as(customer: str, **body: Any) -> dict[str, Any]:
    return {**body, "customer_id": customer, "user_hash": sign_user(SECRET, customer)}


def test_word_chunks_join_back_to_the_text() -> None:
    text = "  Returns are free.\n\nYou have **30 days** [1].  "
    chunks = word_chunks(text)
    assert "".join(chunks) == text and len(chunks) == 9
    assert chunks[:2] == ["  ", "Returns "] and chunks[3] == "free.\n\n"
    assert word_chunks("") == []


def test_a_streamed_reply_is_tokens_then_the_final_json(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        cid = client.post("/v1/conversations").json()["conversation_id"]
        with client.stream("POST", f"/v1/conversations/{cid}/messages/stream",
                           json={"text": "How long do I have to return an item?"}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            lines, arrivals = [], []
            for line in response.iter_lines():
                lines.append(line)
                if line.startswith("event:"):
                    arrivals.append(time.monotonic())
        got = events("\n".join(lines))
        names = [name for name, _ in got]
        assert names[-1] == "final" and set(names[:-1]) == {"token"} and len(names) > 5
        final = got[-1][1]
        assert "".join(data["text"] for _, data in got[:-1]) == final["reply"]
        assert final["conversation_id"] == cid and final["answered"]
        assert "30 days" in final["reply"]
        assert final["citations"][0]["source"].startswith("/help/en/")
        assert {"reply", "citations", "action", "awaiting_confirmation", "intent",
                "language"} <= final.keys()
        assert final["language"] == "en" and final["awaiting_confirmation"] is False
        # The tokens were sent over time, not in one write at the end.
        assert arrivals[-1] - arrivals[0] > 0.2
        history = client.get(f"/v1/conversations/{cid}/messages").json()["messages"]
        assert [m["role"] for m in history] == ["customer", "assistant"]
        assert history[1]["text"] == final["reply"]
        assert history[1]["citations"] == final["citations"]


@pytest.mark.parametrize(
    ("path", "payload", "status", "code"),
    [("abc123", {"text": "x" * 5000}, 413, "message_too_long"),
     ("bad.id", {"text": "hello"}, 400, "invalid_conversation_id"),
     ("abc123", {"text": "refund CL-100101", "customer_id": "cus_001",
                 "user_hash": sign_user("wrong", "cus_001")}, 401, "identity_not_verified")],
)
def test_problems_before_the_turn_are_an_error_event(base_url: str, path: str,
                                                     payload: dict[str, Any], status: int,
                                                     code: str) -> None:
    response = httpx.post(f"{base_url}/v1/conversations/{path}/messages/stream",
                          json=payload, timeout=30)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/event-stream")
    [(name, problem)] = events(response)
    assert name == "error"
    assert problem["code"] == code and problem["status"] == status and problem["title"]


def test_an_invalid_body_is_a_json_problem(base_url: str) -> None:
    response = httpx.post(f"{base_url}/v1/conversations/abc123/messages/stream",
                          json={"text": ""}, timeout=30)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "invalid_request"


def test_a_streamed_action_is_confirmed_through_the_confirm_endpoint(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        nothing = client.post("/v1/conversations/conf1/confirm", json={"confirmed": True})
        assert nothing.status_code == 409 and nothing.json()["code"] == "nothing_to_confirm"
        asked = events(client.post(
            "/v1/conversations/conf1/messages/stream",
            json=_as("cus_001", text="I want a refund for order CL-100101")))
        final = asked[-1][1]
        assert asked[-1][0] == "final" and final["awaiting_confirmation"]
        assert final["action"]["tool"] == "refund_order"
        forged = client.post("/v1/conversations/conf1/confirm",
                             json={"confirmed": True, "customer_id": "cus_001",
                                   "user_hash": "00" * 32})
        assert forged.status_code == 401
        done = client.post("/v1/conversations/conf1/confirm",
                           json=_as("cus_001", confirmed=True))
        assert done.status_code == 200
        body = done.json()
        assert body["action"]["status"] == "executed" and "refunded" in body["reply"]
        assert not body["awaiting_confirmation"]
        history = client.get("/v1/conversations/conf1/messages").json()["messages"]
        assert [m["text"] for m in history if m["role"] == "customer"][-1] == "yes"
        again = client.post("/v1/conversations/conf1/confirm", json=_as("cus_001",
                                                                        confirmed=True))
        assert again.status_code == 409


def test_declining_in_french_says_non(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        asked = client.post("/v1/conversations/conf2/messages",
                            json=_as("cus_001", text="Je veux annuler la commande CL-100118"))
        assert asked.json()["awaiting_confirmation"] and asked.json()["language"] == "fr"
        declined = client.post("/v1/conversations/conf2/confirm",
                               json=_as("cus_001", confirmed=False, language="fr")).json()
        assert declined["action"]["status"] != "executed"
        assert not declined["awaiting_confirmation"]
        history = client.get("/v1/conversations/conf2/messages").json()["messages"]
        assert history[-2] == {"role": "customer", "text": "non", "citations": []}


@pytest.mark.parametrize(("language", "says"), [(None, "support team"), ("fr", "équipe")])
def test_handoff_asks_for_a_human(base_url: str, language: str | None, says: str) -> None:
    cid = f"human{language or ''}"
    body = {"language": language} if language else None
    response = httpx.post(f"{base_url}/v1/conversations/{cid}/handoff", json=body,
                          timeout=60)
    assert response.status_code == 200
    reply = response.json()
    assert reply["intent"]["route"] == "handoff" and reply["handoff_offered"]
    assert says in reply["reply"]
    bad = httpx.post(f"{base_url}/v1/conversations/bad.id/handoff", timeout=30)
    assert bad.status_code == 400


def test_cors_allows_the_configured_origin_only(base_url: str) -> None:
    url = f"{base_url}/v1/conversations/abc123/messages/stream"
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}
    allowed = httpx.options(url, headers={"Origin": SHOP_ORIGIN, **preflight}, timeout=10)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == SHOP_ORIGIN
    other = httpx.options(url, headers={"Origin": "https://evil.example", **preflight},
                          timeout=10)
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers
    simple = httpx.post(f"{base_url}/v1/conversations", headers={"Origin": SHOP_ORIGIN},
                        timeout=10)
    assert simple.headers["access-control-allow-origin"] == SHOP_ORIGIN


def test_the_widget_store_page_and_openapi_are_served(base_url: str) -> None:
    widget = httpx.get(f"{base_url}/widget.js", timeout=10)
    assert widget.status_code == 200
    assert widget.headers["content-type"].startswith("text/javascript")
    assert "/messages/stream" in widget.text and "attachShadow" in widget.text
    store = httpx.get(f"{base_url}/", timeout=10)
    assert '<script id="supportgraph" src="/widget.js"' in store.text
    assert "/v1/conversations" in httpx.get(f"{base_url}/chat", timeout=10).text
    paths = httpx.get(f"{base_url}/openapi.json", timeout=10).json()["paths"]
    stream = paths["/v1/conversations/{conversation_id}/messages/stream"]["post"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    assert "event: final" in stream["description"]
    assert {"/v1/conversations/{conversation_id}/confirm",
            "/v1/conversations/{conversation_id}/handoff"} <= paths.keys()


def test_without_cors_origins_no_cors_headers(demo_runtime: SupportRuntime,
                                              tmp_path: Path) -> None:
    runtime = shop_runtime(demo_runtime, tmp_path)
    with serve_app(create_app(runtime)) as base:
        response = httpx.post(f"{base}/v1/conversations", headers={"Origin": SHOP_ORIGIN},
                              timeout=10)
        assert response.status_code == 201
        assert "access-control-allow-origin" not in response.headers
        runtime.engine.dispose()
