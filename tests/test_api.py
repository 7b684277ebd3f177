"""The chat API over real HTTP: a uvicorn server on 127.0.0.1 serving the demo runtime."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest

from channels.app import create_app
from conftest import serve_app
from supportgraph.runtime import DEMO_HELPCENTER, SupportRuntime


@pytest.fixture(scope="module")
def base_url(demo_runtime: SupportRuntime) -> Iterator[str]:
    with serve_app(create_app(demo_runtime, help_dir=DEMO_HELPCENTER)) as url:
        yield url


def test_a_conversation_gets_a_cited_reply_and_keeps_its_history(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        created = client.post("/v1/conversations")
        assert created.status_code == 201
        cid = created.json()["conversation_id"]
        reply = client.post(f"/v1/conversations/{cid}/messages",
                            json={"text": "How long do I have to return an item?"})
        assert reply.status_code == 200
        body = reply.json()
        assert body["conversation_id"] == cid and body["answered"]
        assert "30 days" in body["reply"]
        assert body["citations"] and body["citations"][0]["doc_id"].startswith("en/")
        history = client.get(f"/v1/conversations/{cid}/messages").json()["messages"]
        assert [m["role"] for m in history] == ["customer", "assistant"]
        assert history[1]["citations"] == body["citations"]


def test_the_chat_page_and_openapi_are_served(base_url: str) -> None:
    page = httpx.get(f"{base_url}/", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/v1/conversations" in page.text
    spec = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
    assert "/v1/conversations/{conversation_id}/messages" in spec["paths"]


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [({"text": ""}, 422, "invalid_request"),
     ({}, 422, "invalid_request"),
     ({"text": "x" * 5000}, 413, "message_too_long")],
)
def test_bad_messages_get_problem_documents(base_url: str, payload: dict, status: int,
                                            code: str) -> None:
    response = httpx.post(f"{base_url}/v1/conversations/abc123/messages", json=payload,
                          timeout=10)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == code and problem["status"] == status and problem["title"]


def test_malformed_json_and_unknown_conversations_are_problems(base_url: str) -> None:
    broken = httpx.post(f"{base_url}/v1/conversations/abc123/messages", content=b"{not json",
                        headers={"content-type": "application/json"}, timeout=10)
    assert broken.status_code == 422 and broken.json()["code"] == "invalid_request"
    missing = httpx.get(f"{base_url}/v1/conversations/doesnotexist/messages", timeout=10)
    assert missing.status_code == 404 and missing.json()["code"] == "conversation_not_found"
    bad_id = httpx.post(f"{base_url}/v1/conversations/..%2Fetc/messages", json={"text": "hi"},
                        timeout=10)
    assert bad_id.status_code in {400, 404}
    assert bad_id.json()["code"] in {"invalid_conversation_id", "not_found"}


def test_citations_link_to_the_served_article_that_contains_the_quote(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        body = client.post("/v1/conversations/linktest/messages",
                           json={"text": "Which countries do you not deliver to?"}).json()
        citation = body["citations"][0]
        assert citation["source"].startswith("/help/en/")
        page = client.get(citation["source"])
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())
        first_line = " ".join(citation["quote"].splitlines()[0].split())
        assert first_line in text
        assert client.get("/help/../secrets").status_code == 404
        assert client.get("/help/en/no-such-article").json()["code"] == "article_not_found"
