"""The pages under /ui/ in a real browser: Playwright driving Debian's chromium (Playwright cannot
download its own browsers here) against a real `recommender serve` on 127.0.0.1. Each test writes
a screenshot of its page to build/screenshots/ for a reviewer to look at."""
from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from recommender.merchant_tokens import issue_token
from serving.routes.admin import ADMIN_KEY_ENV
from tests.live_server import ServerProcess

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[1] / "build" / "screenshots"
ADMIN = "pages-admin-key"
MERCHANT = "M1"


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium (scripts/system-packages.sh installs it when missing), driven by Playwright for
    this module only: Playwright's synchronous API runs an event loop in the test thread until it
    stops, which later tests' ``asyncio.run`` could not share."""
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("RECOMMENDER_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, "no chromium on PATH: run scripts/system-packages.sh (or set RECOMMENDER_CHROMIUM)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def site(small_model, published_forecasts, tmp_path_factory):
    work = tmp_path_factory.mktemp("pages")
    token = issue_token(work / "tokens.json", MERCHANT)
    with ServerProcess(small_model, 1, "--forecasts", str(published_forecasts), "--merchant-tokens",
                       str(work / "tokens.json"), "--store", f"sqlite:///{work / 'events.sqlite3'}",
                       env={ADMIN_KEY_ENV: ADMIN}) as server:
        yield server.url, token


@pytest.fixture
def errors(page):
    """The page's console errors and uncaught exceptions (each test asserts there are none)."""
    found: list[str] = []
    page.on("console", lambda message: found.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: found.append(str(error)))
    return found


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def shown_ids(page, list_id: str) -> list[str]:
    return page.locator(f"#{list_id} li.card").evaluate_all("cards => cards.map(card => card.dataset.itemId)")


def test_the_preview_shows_a_buyers_list_in_the_apis_order_and_the_slider_reranks(site, page, errors):
    base, _ = site
    buyer = "U0000001" if httpx.get(f"{base}/v1/users/U0000001/recommendations").json()["personalized"] else None
    assert buyer is not None
    page.goto(f"{base}/ui/")
    page.get_by_label("Buyer id").fill(buyer)
    page.get_by_role("button", name="Show").click()
    page.wait_for_function("document.querySelectorAll('#chosen li.card').length > 0")
    knob = page.locator("#niche").input_value()
    expected = [item["item_id"] for item in httpx.get(f"{base}/v1/users/{buyer}/recommendations",
                                                      params={"k": 12, "niche": knob}).json()["items"]]
    assert shown_ids(page, "chosen") == expected
    zero = [item["item_id"] for item in httpx.get(f"{base}/v1/users/{buyer}/recommendations",
                                                  params={"k": 12, "niche": 0}).json()["items"]]
    assert shown_ids(page, "zero") == zero
    page.locator("#niche").fill("1")  # the slider, moved to the end: the list is re-ranked live
    page.wait_for_function("document.body.dataset.shownNiche === '1'")
    at_one = [item["item_id"] for item in httpx.get(f"{base}/v1/users/{buyer}/recommendations",
                                                    params={"k": 12, "niche": 1}).json()["items"]]
    assert shown_ids(page, "chosen") == at_one and at_one != zero
    page.locator("#chosen li.card button.title").first.click()
    page.wait_for_function("document.querySelectorAll('#similar li.card').length > 0")
    shot(page, "preview")
    assert errors == []


def test_the_merchant_page_refuses_a_wrong_token_and_shows_the_right_merchants_forecast(site, page, errors):
    base, token = site
    page.goto(f"{base}/ui/merchant.html")
    page.get_by_label("Merchant id").fill(MERCHANT)
    page.get_by_label("Token").fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_function("document.getElementById('message').textContent.length > 0")
    assert "does not open" in page.locator("#message").text_content()
    assert page.locator("#dashboard").is_hidden()
    errors.clear()  # the browser logs the refused request (401) as a console error: expected here
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#dashboard:not([hidden])")
    forecast = httpx.get(f"{base}/v1/merchants/{MERCHANT}/forecast", headers={"Authorization": f"Bearer {token}"}).json()
    items = {row["item_id"] for row in forecast["rows"]}
    shown = set(page.locator("#items tbody td:first-child").all_text_contents())
    assert shown == items and page.locator("#total-chart .main-svg").count() > 0
    titles = page.locator("#items tbody tr").evaluate_all("rows => rows.map(row => [row.cells[0].textContent, "
                                                           "row.cells[1].textContent])")
    assert dict(titles) == forecast["titles"]  # each item's catalog title next to its id
    assert "all items sold" in page.locator("#total-chart .legendtext").all_text_contents()  # the year before
    assert token not in page.url
    shot(page, "merchant")
    assert errors == []


def test_the_operator_console_shows_the_model_traffic_and_campaigns(site, page, errors):
    base, _ = site
    now = datetime.now(timezone.utc)
    created = httpx.post(f"{base}/v1/admin/campaigns", headers={"X-API-Key": ADMIN}, json={
        "campaign_id": "craft", "name": "Craft week", "select": {"tags": ["handmade"]}, "impressions": 100,
        "start": (now - timedelta(minutes=1)).isoformat(), "end": (now + timedelta(hours=1)).isoformat()})
    assert created.status_code == 201
    for user in ("U0000001", "U0000002", "U0000003"):  # some traffic (and perhaps impressions) to show
        httpx.get(f"{base}/v1/users/{user}/recommendations")
    page.goto(f"{base}/ui/admin.html")
    page.wait_for_function("document.querySelectorAll('#search tbody tr').length > 0")
    version = httpx.get(f"{base}/v1/model").json()["model_version"]
    assert version in page.locator("#model").text_content()
    page.get_by_label("Admin key").fill(ADMIN)
    page.get_by_role("button", name="Open").click()
    page.wait_for_selector("#campaign-chart .main-svg")
    page.wait_for_selector("#region-chart .main-svg")
    assert "/v1/users/{user_id}/recommendations" in page.locator("#traffic").text_content()
    assert "Craft week" in page.locator("#campaigns tbody").text_content()
    baselines = page.locator("#baselines tbody").text_content()
    assert "served blend" in baselines and "popularity alone" in baselines
    assert page.locator("#niche-chart .main-svg").count() > 0
    exposure = httpx.get(f"{base}/v1/admin/exposure", headers={"X-API-Key": ADMIN}).json()
    most_exposed = exposure["merchant"]["groups"][0]
    assert page.locator("#merchants tbody tr").first.locator("td").first.text_content() == most_exposed["group"]
    assert f"{exposure['merchant']['gini']:.3f}" in page.locator("#exposure").text_content()
    legend = page.locator("#campaign-chart .legendtext").all_text_contents()
    assert {"craft plan", "craft delivered"} <= set(legend)  # the delivery curve against the plan
    shot(page, "admin")
    assert errors == []


def test_the_pages_fetch_nothing_from_elsewhere(site, page):
    base, _ = site
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    for path in ("/ui/", "/ui/merchant.html", "/ui/admin.html"):
        page.goto(f"{base}{path}")
        page.wait_for_load_state("networkidle")
    assert requested and all(url.startswith(base) for url in requested), requested


@pytest.mark.parametrize("path, name", [("/ui/", "preview"), ("/ui/merchant.html", "merchant"),
                                        ("/ui/admin.html", "admin")])
def test_each_page_fits_a_phones_width(site, browser, path, name):
    base, _ = site
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        phone.goto(f"{base}{path}")
        phone.wait_for_load_state("networkidle")
        width = phone.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"{path} scrolls sideways at 390 px: {width}"
        shot(phone, f"phone-{name}")
    finally:
        context.close()


def test_the_preview_works_from_the_keyboard(site, page, errors):
    base, _ = site
    page.goto(f"{base}/ui/")
    for _ in range(10):  # from the top of the page, Tab reaches the buyer field
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "buyer":
            break
    assert page.evaluate("document.activeElement.id") == "buyer"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"  # focus is visible
    page.keyboard.type("U0000001")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelectorAll('#chosen li.card').length > 0")
    first = page.locator("#chosen li.card button.title").first
    first.focus()
    page.keyboard.press("Enter")  # a title is a button: Enter shows its similar items
    page.wait_for_function("document.querySelectorAll('#similar li.card').length > 0")
    assert errors == []


def test_the_api_docs_work_with_no_network(site, browser):
    """/docs is Swagger UI from the installed packages: with every request outside the server
    refused (no internet), it renders every route of the OpenAPI document."""
    base, _ = site
    context = browser.new_context()
    outside: list[str] = []

    def only_the_server(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_server)
    try:
        docs = context.new_page()
        failures: list[str] = []
        docs.on("requestfailed", lambda request: failures.append(request.url))
        docs.goto(f"{base}/docs")
        docs.wait_for_selector(".opblock-summary-path")
        shown = set(docs.locator(".opblock-summary-path").evaluate_all(
            "paths => paths.map(path => path.dataset.path || path.textContent.replace(/\\u200b/g, ''))"))
        published = set(httpx.get(f"{base}/openapi.json").json()["paths"])
        assert shown == published
        assert outside == [] and failures == []
        shot(docs, "docs")
    finally:
        context.close()
