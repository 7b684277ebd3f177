"""Actions over the real HTTP API: signed identities, confirmation, the approvals API,
and conversations that survive a restart while waiting for a confirmation or a human."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from channels.app import create_app, sign_user
from conftest import serve_app
from knowledge.embeddings import Embedder
from supportgraph.runtime import DEMO_BOT_CONFIG, SupportRuntime
from supportgraph.settings import Settings
from tools.shop.models import Order, Refund
from tools.shop.seed import seed_demo_shop

SMALL = Path(__file__).parent / "data" / "helpcenter_small"
SECRET, ADMIN = "site-secret", "admin-key"


@pytest.fixture
def settings(tmp_path: Path, intent_cache: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", bot_config=DEMO_BOT_CONFIG,
                    identity_secret=SECRET, admin_api_key=ADMIN, intent_cache_dir=intent_cache)


def _runtime(settings: Settings, embedder: Embedder, seed: bool = False) -> SupportRuntime:
    runtime = SupportRuntime(settings, embedder=embedder)
    if seed:
        runtime.knowledge.ingestor.ingest_paths([SMALL])
        with Session(runtime.engine) as session:
            seed_demo_shop(session)
            session.commit()
    return runtime


def _as(customer: str, text: str) -> dict[str, str]:
    return {"text": text, "customer_id": customer, "user_hash": sign_user(SECRET, customer)}


def _refund_total(runtime: SupportRuntime, number: str) -> float:
    with Session(runtime.engine) as session:
        order = session.exec(select(Order).where(Order.number == number)).one()
        return float(sum(r.amount for r in session.exec(
            select(Refund).where(Refund.order_id == order.id))))


def test_a_forged_or_missing_signature_is_rejected(settings: Settings,
                                                   embedder: Embedder) -> None:
    runtime = _runtime(settings, embedder, seed=True)
    with serve_app(create_app(runtime, demo=True)) as base:
        forged = httpx.post(f"{base}/v1/conversations/c1/messages", timeout=30,
                            json={"text": "refund CL-100101", "customer_id": "cus_001",
                                  "user_hash": sign_user("wrong", "cus_001")})
        assert forged.status_code == 401 and forged.json()["code"] == "identity_not_verified"
        missing = httpx.post(f"{base}/v1/conversations/c1/messages", timeout=30,
                             json={"text": "refund CL-100101", "customer_id": "cus_001"})
        assert missing.status_code == 401
        server_side = httpx.post(f"{base}/v1/conversations/c1/messages", timeout=30,
                                 json={"text": "where is my order CL-100101?",
                                       "customer_id": "cus_001"},
                                 headers={"Authorization": f"Bearer {ADMIN}"})
        assert server_side.status_code == 200
        assert server_side.json()["action"]["status"] == "executed"
    runtime.close()


def test_a_pending_confirmation_survives_a_restart(settings: Settings,
                                                   embedder: Embedder) -> None:
    first = _runtime(settings, embedder, seed=True)
    with serve_app(create_app(first, demo=True)) as base:
        asked = httpx.post(f"{base}/v1/conversations/r1/messages", timeout=30,
                           json=_as("cus_001", "Please cancel my order CL-100118")).json()
    first.close()
    assert asked["awaiting_confirmation"]
    second = _runtime(settings, embedder)
    try:
        with serve_app(create_app(second, demo=True)) as base:
            done = httpx.post(f"{base}/v1/conversations/r1/messages", timeout=30,
                              json=_as("cus_001", "yes")).json()
        assert done["action"]["status"] == "executed"
        with Session(second.engine) as session:
            order = session.exec(select(Order).where(Order.number == "CL-100118")).one()
        assert order.status == "cancelled"
    finally:
        second.close()


def test_an_approval_decided_after_a_restart_resumes_the_conversation(
        settings: Settings, embedder: Embedder) -> None:
    first = _runtime(settings, embedder, seed=True)
    with serve_app(create_app(first, demo=True)) as base:
        httpx.post(f"{base}/v1/conversations/a1/messages", timeout=30,
                   json=_as("cus_008", "I want a refund for order CL-100111"))
        waiting = httpx.post(f"{base}/v1/conversations/a1/messages", timeout=30,
                             json=_as("cus_008", "yes")).json()
        assert waiting["action"]["status"] == "pending_approval"
        assert httpx.get(f"{base}/v1/approvals", timeout=30).status_code == 401
    first.close()
    assert _refund_total(first, "CL-100111") == 0

    second = _runtime(settings, embedder)
    try:
        with serve_app(create_app(second, demo=True)) as base:
            auth = {"Authorization": f"Bearer {ADMIN}"}
            pending = httpx.get(f"{base}/v1/approvals", headers=auth, timeout=30).json()
            assert [p["order_number"] for p in pending] == ["CL-100111"]
            url = f"{base}/v1/approvals/{pending[0]['approval_id']}/approve"
            decided = httpx.post(url, headers=auth, timeout=30,
                                 json={"reviewer": "maria@cedarlane"}).json()
            again = httpx.post(url, headers=auth, timeout=30,
                               json={"reviewer": "maria@cedarlane"}).json()
            history = httpx.get(f"{base}/v1/conversations/a1/messages",
                                timeout=30).json()["messages"]
        assert decided["status"] == "executed" and decided["customer_notified"]
        assert not again["customer_notified"]
        assert "approved" in history[-1]["text"]
        assert sum(1 for m in history if "approved" in m["text"]) == 1
        assert _refund_total(second, "CL-100111") > 500
    finally:
        second.close()
