"""The pages under /ui/ in a real browser: Playwright driving Debian's chromium (Playwright cannot
download its own browsers here) against a real `recommender serve` on 127.0.0.1. Each test writes
a screenshot of its page to build/screenshots/ for a reviewer to look at."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
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


def test_the_preview_opens_on_the_served_models_buyer_and_knob_and_the_slider_reranks(site, page, errors):
    base, _ = site
    model = httpx.get(f"{base}/v1/model").json()
    buyer = model["example_buyer"]
    page.goto(f"{base}/ui/")  # no buyer typed: the page opens on the model's example buyer at its default knob
    page.wait_for_function(f"document.body.dataset.shownBuyer === {buyer!r}")
    assert page.get_by_label("Buyer id").input_value() == buyer
    knob = page.locator("#niche").input_value()
    assert float(knob) == model["default_niche"] and page.locator("#niche-value").text_content() == knob
    served = httpx.get(f"{base}/v1/users/{buyer}/recommendations", params={"k": 12}).json()  # the API's default
    assert served["personalized"] and served["niche"] == model["default_niche"]
    assert shown_ids(page, "chosen") == [item["item_id"] for item in served["items"]]
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


def test_the_preview_shows_a_knob_between_the_sliders_steps_exactly(site, page, errors):
    """A model whose default knob is not on the slider's 0.05 steps (GET /v1/model's answer changed
    on its way to the page): the knob still reads the served value, not the nearest step."""
    base, _ = site

    def knob_of_a_third(route):
        answer = route.fetch()
        route.fulfill(response=answer, json={**answer.json(), "default_niche": 0.333})

    page.route(f"{base}/v1/model", knob_of_a_third)
    page.goto(f"{base}/ui/")
    page.wait_for_function("document.body.dataset.shownNiche !== undefined")
    assert page.locator("#niche").input_value() == "0.333" == page.locator("#niche-value").text_content()
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
    signed_in = {"Authorization": f"Bearer {token}"}
    forecast = httpx.get(f"{base}/v1/merchants/{MERCHANT}/forecast", headers=signed_in).json()
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


def readme_campaign(folder: Path) -> dict:
    """The campaign the README's example writes (its shell block run as written, dates from today)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    start = readme.index("cat > campaign.json <<EOF")
    block = readme[start:readme.index("\nEOF\n", start) + len("\nEOF\n")]
    subprocess.run(["bash", "-c", block], cwd=folder, check=True)
    return json.loads((folder / "campaign.json").read_text(encoding="utf-8"))


def test_the_operator_console_shows_the_model_traffic_and_campaigns(site, page, errors, tmp_path):
    base, _ = site
    now = datetime.now(UTC)
    admin = {"X-API-Key": ADMIN}
    created = httpx.post(f"{base}/v1/admin/campaigns", headers=admin, json={
        "campaign_id": "craft", "name": "Craft week", "select": {"tags": ["handmade"]}, "impressions": 100,
        "start": (now - timedelta(minutes=1)).isoformat(), "end": (now + timedelta(hours=1)).isoformat()})
    assert created.status_code == 201
    readme = httpx.post(f"{base}/v1/admin/campaigns", headers=admin, json=readme_campaign(tmp_path))
    assert readme.status_code == 201 and readme.json()["status"] == "running", readme.text  # runs as written
    finished = httpx.post(f"{base}/v1/admin/campaigns", headers=admin, json={
        "campaign_id": "last-harvest", "name": "Last harvest", "select": {"tags": ["handmade"]}, "impressions": 50,
        "start": (now - timedelta(days=90)).isoformat(), "end": (now - timedelta(days=60)).isoformat()})
    assert finished.status_code == 201 and finished.json()["status"] == "ended"
    for user in ("U0000001", "U0000002", "U0000003"):  # some traffic (and perhaps impressions) to show
        httpx.get(f"{base}/v1/users/{user}/recommendations")
    page.goto(f"{base}/ui/admin.html")
    page.wait_for_function("document.querySelectorAll('#search tbody tr').length > 0")
    model = httpx.get(f"{base}/v1/model").json()
    assert model["model_version"] in page.locator("#model").text_content()
    candidates = page.locator("#search tbody tr").evaluate_all(
        "rows => rows.map(row => [...row.cells].map(cell => cell.textContent))")
    assert len({(name, weighting) for name, weighting, *_ in candidates}) == len(candidates)  # each once
    assert all(weighting for _, weighting, *_ in candidates)
    best = max(model["validation"]["search"]["trials"], key=lambda trial: trial["ndcg"])
    assert candidates[0][2] == f"{best['ndcg']:.4f}" and best["weighting"]["scheme"] in candidates[0][1]
    page.get_by_label("Admin key").fill(ADMIN)
    page.get_by_role("button", name="Open").click()
    page.wait_for_selector("#campaign-chart .main-svg")
    page.wait_for_selector("#region-chart .main-svg")
    assert "/v1/users/{user_id}/recommendations" in page.locator("#traffic").text_content()
    assert "Craft week" in page.locator("#campaigns tbody").text_content()
    baselines = page.locator("#baselines tbody").text_content()
    assert "served blend" in baselines and "popularity alone" in baselines
    assert page.locator("#niche-chart .main-svg").count() > 0
    exposure = httpx.get(f"{base}/v1/admin/exposure", headers=admin).json()
    most_exposed = exposure["merchant"]["groups"][0]
    assert page.locator("#merchants tbody tr").first.locator("td").first.text_content() == most_exposed["group"]
    assert f"{exposure['merchant']['gini']:.3f}" in page.locator("#exposure").text_content()
    assert_labels_inside(page, "#region-chart", [region["group"] for region in exposure["region"]["groups"]])
    legend = page.locator("#campaign-chart .legendtext").all_text_contents()
    assert {"craft plan", "craft delivered", "new-craft plan", "new-craft delivered"} <= set(legend)
    assert not any(name.startswith("last-harvest") for name in legend)  # the finished one is in the table only
    axis = page.locator("#campaign-chart").evaluate(
        "(chart, finishedEnd) => { const ax = chart._fullLayout.xaxis; return {range: ax.range.map(ax.r2l), "
        "finished: ax.d2l(finishedEnd), starts: chart.data.map(trace => ax.d2l(trace.x[0])), "
        "ends: chart.data.map(trace => ax.d2l(trace.x[trace.x.length - 1]))}; }", finished.json()["campaign"]["end"])
    low, high = axis["range"]
    assert axis["finished"] < low <= min(axis["starts"]) and high >= max(axis["ends"])  # spans the running ones
    assert high - low < 60 * 60 * 1000  # minutes of running campaigns, not squeezed by months
    shot(page, "admin")
    assert errors == []


def assert_labels_inside(page, chart: str, names: list[str]) -> None:
    """Every one of ``names`` labels the y axis of ``chart``, whole (lines joined) and drawn inside it."""
    outer, labels = page.locator(f"{chart} .main-svg").first.evaluate(
        "svg => [svg.getBoundingClientRect().toJSON(), [...svg.querySelectorAll('.ytick text')]"
        ".map(label => ({text: label.textContent, ...label.getBoundingClientRect().toJSON()}))]")
    assert sorted(box["text"].replace(" ", "") for box in labels) == sorted(name.replace(" ", "") for name in names)
    for box in labels:
        assert outer["left"] <= box["left"] and box["right"] <= outer["right"], (outer, box)
        assert outer["top"] <= box["top"] and box["bottom"] <= outer["bottom"], (outer, box)


def test_the_pages_fetch_nothing_from_elsewhere(site, page):
    base, _ = site
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    for path in ("/ui/", "/ui/merchant.html", "/ui/admin.html"):
        page.goto(f"{base}{path}")
        page.wait_for_load_state("networkidle")
    assert requested and all(url.startswith(base) for url in requested), requested


# every element whose box runs past the screen's right edge (or left of 0), unless a box around it
# scrolls or clips it (then that box is the one checked)
OFF_SCREEN = """width => [...document.querySelectorAll("body *")].filter(element => {
  const box = element.getBoundingClientRect();
  if (box.width === 0 || (box.left >= -0.5 && box.right <= width + 0.5)) return false;
  if (box.right <= 0 || box.bottom <= 0) return false;  // parked above or left of the page: Plotly's text tester
  for (let around = element.parentElement; around && around !== document.body; around = around.parentElement)
    if (getComputedStyle(around).overflowX !== "visible") return false;
  return true;
}).map(element => `${element.tagName.toLowerCase()}#${element.id}.${element.className.baseVal ?? element.className}`)"""


def assert_fits(page, where: str) -> None:
    """Nothing on the page runs off the screen's width (the viewport's: a phone's browser widens the
    page's own to its content): no sideways scrolling, no control past the edge."""
    screen = page.viewport_size["width"]
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= screen, f"{where} is {width} px wide"
    assert page.evaluate(OFF_SCREEN, screen) == [], f"{where}: off the screen"


@pytest.mark.parametrize("path, name", [("/ui/", "preview"), ("/ui/merchant.html", "merchant"),
                                        ("/ui/admin.html", "admin")])
def test_each_page_fits_a_phones_width(site, browser, path, name):
    base, _ = site
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        phone.goto(f"{base}{path}")
        phone.wait_for_load_state("networkidle")
        if name == "preview":  # its lists shown, the filters' longest region name among the options
            phone.wait_for_function("document.body.dataset.shownBuyer !== undefined")
            assert phone.locator("#region option").count() > 1
        if name == "admin":  # signed in: the exposure and campaign charts drawn
            phone.get_by_label("Admin key").fill(ADMIN)
            phone.get_by_role("button", name="Open").click()
            phone.wait_for_selector("#region-chart .main-svg")
            phone.wait_for_selector("#campaign-chart .main-svg")
            exposure = httpx.get(f"{base}/v1/admin/exposure", headers={"X-API-Key": ADMIN}).json()
            assert_labels_inside(phone, "#region-chart", [region["group"] for region in exposure["region"]["groups"]])
        assert_fits(phone, f"{path} at 390 px")
        shot(phone, f"phone-{name}")
    finally:
        context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_the_evaluation_reports_tables_fit_or_scroll(browser, tmp_path, width):
    """The evaluation report (`recommender evaluate --report`), every metric column filled: at a desktop's
    and a phone's width the page does not scroll sideways and each table either fits or scrolls in its
    own box, its last column reachable."""
    from tests.test_reports import ROWS, evaluation_of
    from training.evaluate import COLUMNS
    from training.report import report_html

    metrics = {key.format(k=10): 0.12345 for key, _, _ in COLUMNS}
    evaluation = evaluation_of([replace(row, metrics=metrics) for row in ROWS])
    (tmp_path / "report.html").write_text(report_html(evaluation), encoding="utf-8")
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        report = context.new_page()
        report.goto((tmp_path / "report.html").as_uri())
        assert_fits(report, f"the report at {width} px")
        tables = report.locator("table").evaluate_all(
            "tables => tables.map(table => { const box = table.parentElement; return {"
            "fits: table.getBoundingClientRect().right <= box.getBoundingClientRect().right + 0.5,"
            "scrolls: getComputedStyle(box).overflowX === 'auto' && box.scrollWidth > box.clientWidth,"
            "columns: table.rows[0].cells.length}; })")
        assert tables[0]["columns"] == len(COLUMNS) + 1  # the metrics table, every column
        assert all(table["fits"] or table["scrolls"] for table in tables), tables
        shot(report, f"report-{width}")
    finally:
        context.close()


def test_the_preview_works_from_the_keyboard(site, page, errors):
    base, _ = site
    page.goto(f"{base}/ui/")
    page.wait_for_function("document.body.dataset.shownBuyer !== undefined")  # opened on the example buyer
    for _ in range(10):  # from the top of the page, Tab reaches the buyer field
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "buyer":
            break
    assert page.evaluate("document.activeElement.id") == "buyer"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"  # focus is visible
    page.keyboard.press("Control+A")  # over the example buyer the page opened on
    page.keyboard.type("U0000001")
    page.keyboard.press("Enter")
    page.wait_for_function("document.body.dataset.shownBuyer === 'U0000001'")
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


# --- harvest lots: the merchant page's lots and the console's lots at risk ----------------------------

@pytest.fixture(scope="module")
def lot_site(small_model, small_market, small_forecasts, tmp_path_factory):
    """A server of the small marketplace's model with its forecasts (the same catalog, so lots have
    projections), and a token of its merchant with the most purchases."""
    import pandas as pd

    purchases, catalog = small_market
    owner = pd.read_csv(catalog).set_index("item_id").merchant_id
    merchant = str(pd.read_csv(purchases).item_id.map(owner).value_counts().index[0])
    work = tmp_path_factory.mktemp("lot-pages")
    token = issue_token(work / "tokens.json", merchant)
    with ServerProcess(small_model, 1, "--forecasts", str(small_forecasts), "--merchant-tokens",
                       str(work / "tokens.json"), "--store", f"sqlite:///{work / 'events.sqlite3'}",
                       env={ADMIN_KEY_ENV: ADMIN}) as server:
        yield server.url, merchant, token


def merchant_api(base: str, merchant: str, token: str, path: str, method: str = "GET", **options) -> httpx.Response:
    return httpx.request(method, f"{base}/v1/merchants/{merchant}{path}", headers={"Authorization": f"Bearer {token}"},
                         **options)


def forecast_items(base: str, merchant: str, token: str) -> list[str]:
    return sorted({row["item_id"] for row in merchant_api(base, merchant, token, "/forecast?by=item").json()["rows"]})


def declare(base: str, merchant: str, token: str, lot_id: str, units: int, days: int = 60) -> dict:
    today = datetime.now(UTC).replace(microsecond=0)
    answer = merchant_api(base, merchant, token, "/lots", "POST", json={
        "lot_id": lot_id, "items": forecast_items(base, merchant, token)[:3], "units": units,
        "available_from": today.isoformat(), "sell_by": (today + timedelta(days=days)).isoformat()})
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def sign_in(page, base: str, merchant: str, token: str) -> None:
    page.goto(f"{base}/ui/merchant.html")
    page.get_by_label("Merchant id").fill(merchant)
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#lots-section:not([hidden]) #lot-items input")


def test_a_merchant_declares_a_lot_reads_its_projection_and_withdraws_it(lot_site, page, errors):
    base, merchant, token = lot_site
    sign_in(page, base, merchant, token)
    offered = page.locator("#lot-items input").evaluate_all("boxes => boxes.map(box => box.value)")
    assert set(forecast_items(base, merchant, token)) <= set(offered)  # the items the page knows
    today = datetime.now(UTC).date()
    page.get_by_label("Lot id", exact=True).fill("harvest-page")
    for box in page.locator("#lot-items input").all()[:2]:
        box.check()
    page.get_by_label("Units", exact=True).fill("40")
    page.get_by_label("Available from", exact=True).fill(today.isoformat())
    page.get_by_label("Sell by", exact=True).fill((today - timedelta(days=5)).isoformat())  # too early: a 422
    page.get_by_role("button", name="Declare").click()
    page.wait_for_function("document.getElementById('lot-error-sell_by').textContent.length > 0")
    assert "after" in page.locator("#lot-error-sell_by").text_content()
    assert page.get_by_label("Sell by", exact=True).get_attribute("aria-invalid") == "true"
    assert page.locator("#lot-error-units").text_content() == ""
    assert "harvest-page" not in {lot["lot_id"] for lot in merchant_api(base, merchant, token, "/lots").json()["lots"]}
    errors.clear()  # the browser logs the refused request (422) as a console error: expected here

    page.get_by_label("Sell by", exact=True).fill((today + timedelta(days=60)).isoformat())
    page.get_by_role("button", name="Declare").click()
    lot = page.locator('.lot[data-lot-id="harvest-page"]')
    lot.locator(".js-plotly-plot").wait_for()
    assert page.locator("#lot-error-sell_by").text_content() == ""
    listed = {row["lot_id"]: row for row in merchant_api(base, merchant, token, "/lots").json()["lots"]}
    stored = listed["harvest-page"]
    assert stored["units"] == 40 and len(stored["items"]) == 2 and stored["projection"] is not None
    projection = stored["projection"]
    facts = dict(zip(lot.locator(".facts dt").all_text_contents(), lot.locator(".facts dd").all_text_contents()))
    assert facts == {"units": "40", "sold": str(stored["units_sold"]), "remaining": str(stored["remaining"]),
                     "available from": stored["available_from"][:10], "sell by": stored["sell_by"][:10],
                     "expected sales to come (P50)": f"{projection['expected']['p50']:.1f}",
                     "P10 - P90": f"{projection['expected']['p10']:.1f} - {projection['expected']['p90']:.1f}",
                     "shortfall (P50)": f"{projection['shortfall']['p50']:.1f}", "city tiers": "all"}
    traces = {trace["name"]: trace for trace in lot.locator(".js-plotly-plot").evaluate(
        "chart => chart.data.map(trace => ({name: trace.name, x: trace.x, y: trace.y}))")}
    assert traces["expected P50"]["y"] == pytest.approx([point["p50"] for point in projection["curve"]])
    assert traces["expected P10-P90"]["y"] == pytest.approx([point["p10"] for point in projection["curve"]])
    assert traces["units"]["y"] == [40, 40]
    assert traces["sell-by"]["x"] == [stored["sell_by"]] * 2
    assert traces["sold so far"]["y"] == [projection["sold"]]
    assert lot.locator("table.audience tbody tr").count() == len(stored["audience"]) > 0
    shot(page, "merchant-lots")

    page.get_by_label("Lot id", exact=True).fill("harvest-page")  # the same id, another definition: a 409
    page.locator("#lot-items input").first.check()
    page.get_by_label("Units", exact=True).fill("41")
    page.get_by_role("button", name="Declare").click()
    page.wait_for_function("document.getElementById('lot-error-lot_id').textContent.length > 0")
    assert "harvest-page" in page.locator("#lot-error-lot_id").text_content()
    errors.clear()  # the refused request (409), logged by the browser

    lot.get_by_role("button", name="Withdraw").click()
    lot.locator(".withdrawn").wait_for()
    after = {row["lot_id"]: row for row in merchant_api(base, merchant, token, "/lots").json()["lots"]}
    assert after["harvest-page"]["withdrawn_at"] is not None
    assert lot.get_by_role("button", name="Withdraw").count() == 0
    assert errors == []


def test_a_merchant_starts_a_clearance_campaign_for_a_lot_at_risk(lot_site, page, errors):
    base, merchant, token = lot_site
    declare(base, merchant, token, "glut-to-clear", units=10**6)
    declare(base, merchant, token, "on-track", units=1)
    sign_in(page, base, merchant, token)
    assert page.locator('.lot[data-lot-id="on-track"] [data-clear]').count() == 0  # no shortfall, no button
    glut = page.locator('.lot[data-lot-id="glut-to-clear"]')
    glut.get_by_role("button", name="Start a clearance campaign").click()
    page.wait_for_function("document.getElementById('message').textContent.includes('started')")
    campaigns = httpx.get(f"{base}/v1/admin/campaigns", headers={"X-API-Key": ADMIN}).json()["campaigns"]
    said = page.locator("#message").text_content()
    clearance = [report for report in campaigns if f"campaign {report['campaign']['campaign_id']} started" in said]
    assert len(clearance) == 1 and clearance[0]["status"] == "running"
    glut.get_by_role("button", name="Start a clearance campaign").click()  # one runs already: a 409, said
    page.wait_for_function("document.getElementById('message').textContent.startsWith('No clearance campaign')")
    assert "already" in page.locator("#message").text_content()
    errors.clear()  # the refused request (409), logged by the browser
    assert len(httpx.get(f"{base}/v1/admin/campaigns", headers={"X-API-Key": ADMIN}).json()["campaigns"]) == len(
        campaigns)


def test_the_operator_console_lists_the_lots_at_risk_by_shortfall(lot_site, page, errors):
    base, merchant, token = lot_site
    declare(base, merchant, token, "glut", units=10**6)
    declare(base, merchant, token, "sells-out", units=1)
    at_risk = httpx.get(f"{base}/v1/admin/lots", params={"at_risk": "true"},
                        headers={"X-API-Key": ADMIN}).json()["lots"]
    assert "glut" in {lot["lot_id"] for lot in at_risk} and "sells-out" not in {lot["lot_id"] for lot in at_risk}
    page.goto(f"{base}/ui/admin.html")
    page.get_by_label("Admin key").fill(ADMIN)
    page.get_by_role("button", name="Open").click()
    page.wait_for_function("document.querySelectorAll('#lots-at-risk tbody tr').length > 0")
    rows = page.locator("#lots-at-risk tbody tr").evaluate_all(
        "rows => rows.map(row => [...row.cells].map(cell => cell.textContent))")
    by_shortfall = sorted(at_risk, key=lambda lot: -lot["projection"]["shortfall"]["p50"])
    assert [row[:2] for row in rows] == [[lot["merchant_id"], lot["lot_id"]] for lot in by_shortfall]
    shown = next(row for row in rows if row[1] == "glut")
    glut = next(lot for lot in at_risk if lot["lot_id"] == "glut")
    projection = glut["projection"]
    assert shown[2:] == [str(len(glut["items"])), str(10**6), str(glut["units_sold"]), str(glut["remaining"]),
                         glut["sell_by"][:10], f"{projection['expected']['p50']:.1f}",
                         f"{projection['shortfall']['p50']:.1f}"]
    shot(page, "admin-lots")
    assert errors == []


def test_the_merchant_lots_fit_a_phones_width(lot_site, browser):
    base, merchant, token = lot_site
    declare(base, merchant, token, "phone-lot", units=500)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        phone = context.new_page()
        sign_in(phone, base, merchant, token)
        phone.locator('.lot[data-lot-id="phone-lot"] .js-plotly-plot').wait_for()
        width = phone.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], f"the lots scroll sideways at 390 px: {width}"
        shot(phone, "phone-merchant-lots")
    finally:
        context.close()


def test_a_lot_without_a_projection_shows_why(lot_site, page, errors):
    """A server without published forecasts answers each lot with no projection and a note (see
    test_serving_lots.py); here the lots' answer is changed so, on its way to the page."""
    base, merchant, token = lot_site
    declare(base, merchant, token, "no-forecast", units=30)
    note = "no forecasts published: run `recommender forecast-publish` and serve them (--forecasts)"

    def without_projections(route):
        answer = route.fetch()
        body = answer.json()
        for lot in body["lots"]:
            lot.update(projection=None, note=note)
        route.fulfill(response=answer, json=body)

    page.route(f"{base}/v1/merchants/{merchant}/lots", without_projections)
    sign_in(page, base, merchant, token)
    lot = page.locator('.lot[data-lot-id="no-forecast"]')
    assert lot.locator(".note").text_content() == note
    assert lot.locator(".chart").count() == 0 and "no projection" in lot.locator("h3").text_content()
    assert lot.locator(".facts dd").nth(5).text_content() == "n/a"
    assert errors == []
