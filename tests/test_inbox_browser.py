"""The agent inbox and the widget in a real browser (Debian's Chromium via Playwright): a
customer asks for a human in the widget, an agent answers from /inbox and the customer's
widget shows the reply; a refund above the approval threshold is approved in the inbox.

Skipped where the `playwright` package or a Chromium binary is missing, like the widget
tests. Screenshots go to test-artifacts/inbox-*.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import Session, select

from agents.support_agent import SupportAgent
from channels.app import create_app
from conftest import seeded_shop_agent, serve_app
from supportgraph.conversations import Conversation, ConversationStatus, ConversationStore
from supportgraph.runtime import DEMO_HELPCENTER, SupportRuntime
from tools.shop.models import Order, Refund

sync_api = pytest.importorskip("playwright.sync_api",
                               reason="the playwright package is not installed")
from test_streaming import SECRET  # noqa: E402
from test_widget_browser import ARTIFACTS, CHROMIUM, expect, open_widget  # noqa: E402

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}")
ADMIN_KEY = "inbox-test-key"


@pytest.fixture(scope="module")
def shop(demo_runtime: SupportRuntime,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """The demo agent over its own seeded shop, storing conversations in that database."""
    seeded = seeded_shop_agent(demo_runtime, tmp_path_factory.mktemp("inbox"))
    agent = SupportAgent(seeded.agent.graph, seeded.agent.context,
                         ConversationStore(seeded.engine))
    agent.ask("Hello")  # a warm server: models and classifiers that load on first use
    settings = SimpleNamespace(max_message_chars=demo_runtime.settings.max_message_chars,
                               admin_api_key=ADMIN_KEY, identity_secret=SECRET, cors_origins=[])
    runtime = SimpleNamespace(agent=agent, settings=settings, actions=seeded.actions,
                              engine=seeded.engine)
    with serve_app(create_app(runtime, help_dir=DEMO_HELPCENTER, demo=True)) as base:
        yield SimpleNamespace(base=base, engine=seeded.engine)
    seeded.engine.dispose()


@pytest.fixture(scope="module")
def chromium(browser: Any) -> Any:
    ARTIFACTS.mkdir(exist_ok=True)
    expect.set_options(timeout=30_000)  # turns are slow on a loaded 2-core machine
    return browser


@pytest.fixture
def pages(chromium: Any) -> Iterator[Any]:
    """A factory of pages, each in its own browser context (the customer, the agent)."""
    contexts: list[Any] = []
    errors: list[str] = []

    def new_page() -> Any:
        context = chromium.new_context(locale="en-US", viewport={"width": 1280, "height": 800})
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield new_page
    for context in contexts:
        context.close()
    assert not errors, errors


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"inbox-{name}.png"), full_page=True)


def customer_page(new_page: Any, base: str, customer_id: str) -> Any:
    page = new_page()
    page.goto(f"{base}/")
    page.locator("#demo-customer").select_option(customer_id)
    page.wait_for_function(
        f"() => window.SupportGraphWidget.widget.userId === '{customer_id}'")
    open_widget(page)
    return page


def open_inbox(new_page: Any, base: str) -> Any:
    page = new_page()
    page.goto(f"{base}/inbox")
    page.get_by_label("Admin API key").fill(ADMIN_KEY)
    page.get_by_label("Your name").fill("Sam")
    page.get_by_role("button", name="Open the inbox").click()
    expect(page.get_by_role("heading", name=re.compile("Waiting for a human"))).to_be_visible()
    expect(page.get_by_text("Signed in as Sam")).to_be_visible()
    return page


def test_an_agent_answers_a_handed_off_customer_from_the_inbox(pages: Any,
                                                               shop: SimpleNamespace) -> None:
    customer = customer_page(pages, shop.base, "cus_001")
    customer.locator("#sg-input").fill("My lamp arrived with a broken lamp shade")
    customer.keyboard.press("Enter")
    expect(customer.locator(".msg.assistant:not(.welcome)")).to_have_count(1)
    expect(customer.locator(".msg[aria-busy]")).to_have_count(0)
    customer.get_by_role("button", name="Talk to a human").click()
    expect(customer.locator(".msg.assistant .text").last).to_contain_text("team")
    cid = customer.evaluate("() => window.SupportGraphWidget.widget.state.conversationId")

    agent = open_inbox(pages, shop.base)
    entry = agent.locator(f"#conversations button[data-id='{cid}']")
    expect(entry).to_contain_text("cus_001 · web")
    entry.click()
    expect(agent.get_by_role("heading", name="Conversation with cus_001")).to_be_visible()
    expect(agent.locator("#summary")).to_contain_text("The customer wants to")
    transcript = agent.locator("#transcript li")
    expect(transcript.first).to_contain_text("broken lamp shade")
    expect(agent.locator("#suggestions li").first).to_be_visible()
    shot(agent, "1-conversation")

    agent.get_by_role("button", name="Use suggestion 1").click()
    reply = agent.get_by_label("Your reply")
    suggested = reply.input_value()
    assert suggested, "the suggestion did not fill the reply box"
    reply.fill("Sorry about the lamp shade! I have sent a replacement today. — Sam")
    agent.get_by_role("button", name="Send reply").click()
    expect(agent.get_by_role("status")).to_have_text("Reply sent to the chat.")
    expect(transcript.last).to_contain_text("Agent (Sam):")

    answer = customer.locator(".msg.agent .text")
    expect(answer).to_have_text("Sorry about the lamp shade! I have sent a replacement today. "
                                "— Sam")
    expect(customer.locator(".msg.agent .sr")).to_have_text("Support team: ")
    shot(customer, "2-widget-shows-agent-reply")
    with Session(shop.engine) as session:
        conversation = session.get(Conversation, cid)
    assert conversation and conversation.status == ConversationStatus.WAITING_HUMAN

    agent.get_by_role("button", name="Close conversation").click()
    expect(agent.get_by_role("status")).to_have_text("Conversation closed.")
    expect(entry).to_have_count(0)


def test_an_agent_approves_a_large_refund_in_the_inbox(pages: Any,
                                                       shop: SimpleNamespace) -> None:
    customer = customer_page(pages, shop.base, "cus_008")
    customer.locator("#sg-input").fill("I want my money back for order CL-100111")
    customer.keyboard.press("Enter")
    customer.get_by_role("button", name="Confirm").click()
    expect(customer.locator(".msg.assistant .text").last).to_contain_text("review")

    agent = open_inbox(pages, shop.base)
    approve = agent.get_by_role("button", name="Approve the refund on CL-100111")
    expect(approve).to_be_visible()
    expect(agent.locator("#approvals li").first).to_contain_text("for cus_008")
    shot(agent, "3-pending-refund")
    assert refunds(shop, "CL-100111") == []
    approve.click()
    expect(agent.get_by_role("status")).to_contain_text("Approved: CL-100111")
    expect(agent.get_by_role("status")).to_contain_text("The customer was told.")
    expect(approve).to_have_count(0)
    assert refunds(shop, "CL-100111"), "no refund row after the approval"

    expect(customer.locator(".msg.assistant .text").last).to_contain_text("approved")
    shot(customer, "4-widget-told-approved")


def refunds(shop: SimpleNamespace, number: str) -> list[Refund]:
    with Session(shop.engine) as session:
        order = session.exec(select(Order).where(Order.number == number)).one()
        return list(session.exec(select(Refund).where(Refund.order_id == order.id)))


def test_the_inbox_page_asks_again_for_a_refused_key(pages: Any,
                                                     shop: SimpleNamespace) -> None:
    page = pages()
    page.goto(f"{shop.base}/inbox")
    page.get_by_label("Admin API key").fill("wrong")
    page.get_by_label("Your name").fill("Sam")
    page.get_by_role("button", name="Open the inbox").click()
    expect(page.get_by_role("status")).to_have_text("The API key was refused. Sign in again.")
    expect(page.get_by_label("Admin API key")).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('supportgraph:inbox:key')") is None
