"""The chat widget in a real browser: Debian's Chromium driven by Playwright, on the demo
shop page served by uvicorn (demo help centre, a freshly seeded demo shop).

Skipped where the `playwright` package or a Chromium binary is missing. Install with
`apt-get install -y chromium` and `pip install playwright` (no `playwright install`:
the system Chromium is used). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channels.app import create_app
from conftest import CHROMIUM
from supportgraph.runtime import DEMO_HELPCENTER, SupportRuntime

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason=f"no Chromium at {CHROMIUM} (apt-get install chromium "
                                       "or set SUPPORTGRAPH_CHROMIUM)")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="the playwright package is not installed "
                                      "(pip install playwright)")
expect = sync_api.expect

# The same server set-up as the streaming API tests: an own shop, an identity secret.
from test_streaming import shop_runtime  # noqa: E402

from conftest import serve_app  # noqa: E402

# Records the length of the newest reply's text at every change, to see it grow.
WATCH_REPLY = """() => {
  window.__lengths = [];
  const root = document.getElementById("supportgraph-widget").shadowRoot;
  new MutationObserver(() => {
    const texts = root.querySelectorAll(".msg.assistant .text");
    if (texts.length) window.__lengths.push(texts[texts.length - 1].textContent.length);
  }).observe(root, {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture(scope="module")
def base_url(demo_runtime: SupportRuntime,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    runtime = shop_runtime(demo_runtime, tmp_path_factory.mktemp("widget"))
    with serve_app(create_app(runtime, help_dir=DEMO_HELPCENTER, demo=True)) as base:
        yield base
    runtime.engine.dispose()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    ARTIFACTS.mkdir(exist_ok=True)
    locale = getattr(request, "param", "en-US")
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, errors


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"widget-{name}.png"))


def open_widget(page: Any) -> None:
    launcher = page.get_by_role("button", name="Open the support chat")
    launcher.click()
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.locator("#sg-input")).to_be_focused()


def signed_in(page: Any, base_url: str, customer: str) -> None:
    """The demo page, signed in as `customer` (the page signs the widget's identity)."""
    page.goto(f"{base_url}/")
    page.locator("#demo-customer").select_option(customer)
    page.wait_for_function(f"() => window.SupportGraphWidget.widget.userId === '{customer}'")
    open_widget(page)


def test_a_question_streams_in_with_a_citation_that_opens_the_article(page: Any,
                                                                      base_url: str) -> None:
    page.goto(f"{base_url}/")
    expect(page.get_by_role("heading", name="Cedar Lane Goods")).to_be_visible()
    shot(page, "1-closed")
    launcher = page.get_by_role("button", name="Open the support chat")
    launcher.focus()
    page.keyboard.press("Enter")  # a real <button>: the keyboard opens it
    expect(page.get_by_role("dialog")).to_be_visible()
    expect(page.locator("#sg-input")).to_be_focused()
    page.evaluate(WATCH_REPLY)

    page.keyboard.type("How long do I have to return an item?")
    page.keyboard.press("Enter")
    expect(page.locator(".msg.customer .text")).to_have_text(
        "How long do I have to return an item?")
    expect(page.locator("#sg-input")).to_have_value("")
    link = page.locator(".msg.assistant .sources a").first
    expect(link).to_be_visible()
    reply = page.locator(".msg.assistant .text").last
    expect(reply).to_contain_text("30 days")
    final = len(reply.text_content() or "")
    lengths = page.evaluate("window.__lengths")
    assert any(0 < n < final for n in lengths), "the reply did not stream in"
    assert page.locator("[role=log][aria-live=polite]").count() == 1
    shot(page, "2-cited-answer")

    href = link.get_attribute("href")
    assert href and href.startswith(f"{base_url}/help/en/")
    with page.context.expect_page() as opened:
        link.click()
    article = opened.value
    article.wait_for_load_state()
    assert article.url == href
    expect(article.locator("article h1")).to_be_visible()
    article.close()

    page.locator("#sg-input").focus()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(launcher).to_be_focused()


def test_a_signed_in_customer_confirms_a_refund_and_finds_it_after_a_reload(
        page: Any, base_url: str) -> None:
    signed_in(page, base_url, "cus_001")
    page.locator("#sg-input").fill("I want a refund for order CL-100101")
    page.keyboard.press("Enter")
    confirm = page.get_by_role("button", name="Confirm")
    expect(confirm).to_be_visible()
    expect(page.get_by_role("button", name="Decline")).to_be_visible()
    expect(page.locator(".msg.assistant .text").last).to_contain_text("CL-100101")
    shot(page, "3-confirm")
    confirm.click()
    expect(page.locator(".msg.assistant .text").last).to_contain_text("refunded")
    expect(confirm).to_have_count(0)
    shot(page, "4-refunded")

    page.reload()
    expect(page.get_by_role("dialog")).to_be_visible()  # it was left open
    texts = page.locator(".msg .text")
    expect(texts.first).to_have_text("I want a refund for order CL-100101")
    expect(texts.last).to_contain_text("refunded")
    expect(page.locator(".msg.customer .text").nth(1)).to_have_text("yes")
    assert page.evaluate(
        "() => window.SupportGraphWidget.widget.state.messages.every(m => m.id[0] === 'h')"
    ), "the messages were not re-fetched from the history"
    shot(page, "5-after-reload")


def test_a_message_sent_offline_is_kept_and_sent_when_back_online(page: Any,
                                                                  base_url: str) -> None:
    page.goto(f"{base_url}/")
    open_widget(page)
    page.context.set_offline(True)
    page.locator("#sg-input").fill("Which countries do you not deliver to?")
    page.keyboard.press("Enter")
    expect(page.locator(".msg.customer .meta")).to_contain_text(re.compile("retrying in"))
    expect(page.get_by_role("status").filter(has_text="Connection lost")).to_be_visible()
    saved = page.evaluate("() => JSON.stringify(localStorage)")
    assert "Which countries do you not deliver to?" in saved
    shot(page, "6-offline")
    page.context.set_offline(False)
    expect(page.locator(".msg.assistant .sources a").first).to_be_visible()
    expect(page.locator(".msg.customer .meta")).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="Connection lost")).to_be_hidden()
    assert page.locator(".msg.customer").count() == 1  # sent once


@pytest.mark.parametrize("page", ["fr-FR"], indirect=True)
def test_french_ui_and_talking_to_a_human(page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/")
    page.get_by_role("button", name="Ouvrir le chat d'assistance").click()
    expect(page.locator("#sg-input")).to_have_attribute("placeholder", "Posez votre question…")
    human = page.get_by_role("button", name="Parler à un humain")
    human.click()
    expect(page.locator(".msg.customer .text")).to_have_text("Je veux parler à un humain")
    expect(page.locator(".msg.assistant .text").last).to_contain_text("équipe")
    expect(page.get_by_role("status").filter(has_text="prendre le relais")).to_be_visible()
    expect(human).to_have_attribute("aria-pressed", "true")
    shot(page, "7-handoff-fr")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()


def test_suggested_answers_pick_an_order_and_accept_a_human(page: Any, base_url: str) -> None:
    signed_in(page, base_url, "cus_001")
    page.locator("#sg-input").fill("where is my order?")
    page.keyboard.press("Enter")
    choices = page.get_by_role("group", name="Suggested answers")
    expect(choices).to_be_visible()
    first = choices.get_by_role("button").first
    label = first.text_content() or ""
    number = label.split(" ")[0]
    assert number.startswith("CL-"), label
    shot(page, "7-order-choices")
    first.click()
    expect(page.locator(".msg.customer .text").last).to_have_text(number)
    expect(page.locator(".msg.assistant .text").last).to_contain_text(f"Order {number} is")
    expect(choices).to_have_count(0)  # answered: the buttons go

    page.locator("#sg-input").fill("Do you sell bicycles?")
    page.keyboard.press("Enter")
    offer = page.get_by_role("group", name="Suggested answers")
    expect(offer.get_by_role("button", name="No thanks")).to_be_visible()
    offer.get_by_role("button", name="Yes, connect me").click()
    expect(page.locator(".msg.customer .text").last).to_have_text("Yes, connect me")
    expect(page.locator(".msg.assistant .text").last).to_contain_text(
        "passing your conversation to a member of our support team")
    shot(page, "8-handoff-accepted")
