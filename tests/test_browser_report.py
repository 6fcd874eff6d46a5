"""The report in a real browser (headless Chromium via Playwright): what a finance user sees.

Skipped with a reason when /usr/bin/chromium or Playwright is missing, unless
SUPPORT_AUDIT_REQUIRE_BROWSER=1 (CI), which turns the skip into a failure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from fixtures.report.make_fixture import XSS_IMG, XSS_SCRIPT, make_fixture

from reports import render_report
from reports.i18n import Formatter

pytestmark = pytest.mark.browser

# Bars with a length per chart in the fixture run (zero-length bars only carry a label).
EXPECTED_BARS = {"chart-money-by-kind": 8, "chart-top-customers": 9, "chart-tier-mix": 7,
                 "chart-units": 6, "chart-agents": 2,
                 "chart-bridge": 10}  # expected, 8 steps (kinds, waived, review), billed
ALL_DRAWN = "[...document.querySelectorAll('.plot')].every(p => p.querySelector('svg.main-svg'))"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The fixture run rendered per language (and with the CDN option), SOURCE_DATE_EPOCH set."""
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", "1775000000")
        for name, kw in (("en", {"lang": "en"}), ("de", {"lang": "de"}),
                         ("cdn", {"lang": "en", "plotly": "cdn"})):
            run = make_fixture(tmp_path_factory.mktemp(name))
            render_report(run, output=run / "report.html", **kw)
            out[name] = run
    return out


@dataclass
class Loaded:
    page: object
    summary: dict
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


def _load(browser, run: Path, wait_for_charts: bool = True):
    """Open ``run``/report.html in a fresh context; record errors, requests and dialogs."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    loaded = Loaded(page, json.loads((run / "summary.json").read_text()))
    page.on("console", lambda m: m.type == "error" and loaded.errors.append(m.text))
    page.on("pageerror", lambda e: loaded.errors.append(f"pageerror: {e}"))
    page.on("dialog", lambda d: (loaded.dialogs.append(d.message), d.dismiss()))

    def route(r):  # air-gapped: record every request, let only the file itself through
        loaded.requests.append(r.request.url)
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            r.abort()

    page.route("**/*", route)
    page.goto((run / "report.html").as_uri())
    if wait_for_charts:
        page.wait_for_function(ALL_DRAWN)
    return ctx, loaded


@pytest.fixture(scope="module")
def shown(browser, runs):
    """One loaded page per language for the tests that only look (loading takes ~2 s)."""
    opened = {lang: _load(browser, runs[lang]) for lang in ("en", "de")}
    yield {lang: loaded for lang, (_, loaded) in opened.items()}
    for ctx, _ in opened.values():
        ctx.close()


@pytest.fixture
def open_report(browser, runs):
    """A fresh page, for tests that click, filter or change the media."""
    contexts = []

    def _open(name: str, wait_for_charts: bool = True) -> Loaded:
        ctx, loaded = _load(browser, runs[name], wait_for_charts)
        contexts.append(ctx)
        return loaded

    yield _open
    for ctx in contexts:
        ctx.close()


def _visible_findings(page) -> list[dict]:
    return page.eval_on_selector_all(
        "#findings-table tbody.finding",
        "bs => bs.filter(b => !b.hidden).map(b => ({...b.dataset}))")


@pytest.mark.parametrize("lang", ["en", "de"])
def test_loads_without_errors_requests_or_dialogs(shown, lang):
    r = shown[lang]
    assert r.errors == []
    assert all(u.startswith(("file://", "data:", "blob:")) for u in r.requests), r.requests
    assert r.dialogs == []


def test_every_chart_draws_its_bars(shown):
    r = shown["en"]
    bars = r.page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('.plot')].map(p =>
        [p.id, [...p.querySelectorAll('g.point path')].filter(x => {
            const b = x.getBBox(); return b.width > 0.5 && b.height > 0.5; }).length]))""")
    assert bars == EXPECTED_BARS
    declared = r.page.eval_on_selector_all(".plot", "ps => ps.map(p => [p.id, +p.dataset.bars])")
    assert dict(declared) == EXPECTED_BARS
    labels = r.page.locator("#chart-money-by-kind").inner_text()
    assert "€70.00" in labels and "-€4.50" in labels
    # Customer names reach the SVG as text: markup shows, nothing runs.
    # (shortened on the axis; the full name is the hover text)
    assert XSS_SCRIPT + " (K-…" in r.page.locator("#chart-top-customers").inner_text()


@pytest.mark.parametrize("lang", ["en", "de"])
def test_totals_shown_equal_summary_json(shown, lang):
    r = shown[lang]
    fmt = Formatter(lang)
    for key in ("under_billed_eur", "over_billed_eur", "net_eur", "waived_eur"):
        card = r.page.locator(f".cards [data-testid='{key}']")
        assert Decimal(card.get_attribute("data-value")) == Decimal(r.summary["money"][key])
        assert card.inner_text() == fmt.money(abs(Decimal(r.summary["money"][key])))
    audited = r.page.locator("[data-testid='tickets_audited']").inner_text()
    assert audited == str(r.summary["tickets"]["audited"])


def test_filtering_by_kind_shows_only_that_kind(open_report):
    r = open_report("en")
    page = r.page
    assert len(_visible_findings(page)) == 15
    page.select_option("#filter-kind", "standard_billed")
    rows = _visible_findings(page)
    assert [x["kind"] for x in rows] == ["standard_billed", "standard_billed"]
    assert page.locator("#findings-count").inner_text() == "2 of 15 shown"
    assert page.locator("tbody.finding:visible").count() == 2
    page.select_option("#filter-status", "waived")
    assert _visible_findings(page) == []
    page.select_option("#filter-kind", "")
    assert {x["ticket"] for x in _visible_findings(page)} == {"T-1008"}
    page.select_option("#filter-status", "")
    page.select_option("#filter-customer", "K-10002")
    assert {x["ticket"] for x in _visible_findings(page)} == {"T-1003", "T-1012"}
    page.select_option("#filter-severity", "warning")
    assert [x["kind"] for x in _visible_findings(page)] == ["tier_mismatch", "tier_mismatch"]


def test_sorting_by_clicking_headings(open_report):
    page = open_report("en").page
    page.click("th[data-sort='ticket'] button")
    tickets = [x["ticket"] for x in _visible_findings(page)]
    assert tickets == sorted(tickets)
    assert page.get_attribute("th[data-sort='ticket']", "aria-sort") == "ascending"
    page.click("th[data-sort='ticket'] button")
    assert [x["ticket"] for x in _visible_findings(page)] == sorted(tickets, reverse=True)
    page.click("th[data-sort='delta'] button")
    deltas = [x["delta"] for x in _visible_findings(page)]
    amounts = [Decimal(d) for d in deltas if d]
    assert amounts == sorted(amounts, reverse=True)
    assert deltas[-2:] == ["", ""]  # findings without money stay last


def test_xss_payloads_show_as_text_and_do_not_run(open_report):
    r = open_report("en")
    page = r.page
    assert r.dialogs == [] and r.errors == []
    assert page.evaluate("() => document.querySelectorAll('img').length") == 0
    for cid, name in (("K-10002", XSS_SCRIPT), ("K-10003", XSS_IMG)):
        group = page.locator(f"#actions tbody.group[data-customer='{cid}'] th")
        assert group.is_visible() and group.inner_text().startswith(f"{name} ({cid}) — ")
    page.select_option("#filter-customer", "K-10003")
    assert page.locator("tbody.finding:visible td").nth(3).inner_text() == f"{XSS_IMG} (K-10003)"


def test_german_and_english_formatting_is_visible(shown):
    de, en = shown["de"].page, shown["en"].page
    assert de.locator(".cards [data-testid='under_billed_eur']").inner_text() == "192,50\xa0€"
    assert en.locator(".cards [data-testid='under_billed_eur']").inner_text() == "€192.50"
    assert de.locator("[data-testid='hours-extended']").inner_text() == "6,07"
    assert en.locator("[data-testid='hours-extended']").inner_text() == "6.07"
    assert "März 2026" in de.locator("[data-testid='period']").inner_text()
    assert "March 2026" in en.locator("[data-testid='period']").inner_text()
    assert de.locator("#findings-count").inner_text() == "15 von 15 angezeigt"
    assert "70,00\xa0€" in de.locator("#chart-money-by-kind").inner_text()


def test_details_open_to_the_explanation_and_rule(open_report):
    page = open_report("en").page
    first = page.locator("tbody.finding").first
    message = first.locator(".message")
    assert not message.is_visible()
    first.locator("summary").click()
    assert message.is_visible()
    assert "nothing invoiced; under-billed 70.00 €" in message.inner_text()
    assert "billing.yaml:3" in first.locator(".detail-facts").inner_text()


def test_print_layout_is_compact_and_breaks_pages(open_report):
    page = open_report("en").page
    page.emulate_media(media="print")
    # printed: one line per finding (the arithmetic is in the action list), every action row
    assert page.locator("tbody.finding .row").first.is_visible()
    assert not page.locator("tbody.finding .message").first.is_visible()
    assert not page.locator("#findings .filters").is_visible()
    assert not page.locator("#action-tools").is_visible()
    breaks = page.evaluate("""() => [...document.querySelectorAll('main > section')].map(s =>
        getComputedStyle(s).breakBefore)""")
    assert breaks == ["auto", "auto", "page", "page", "auto", "auto", "auto"]
    overflow = page.evaluate("""() => [...document.querySelectorAll('table')].filter(t =>
        t.getBoundingClientRect().right > document.documentElement.clientWidth + 1).length""")
    assert overflow == 0


def test_cdn_option_offline_keeps_the_numbers_readable(open_report):
    r = open_report("cdn", wait_for_charts=False)
    r.page.wait_for_selector("#no-plotly", state="visible")
    assert [u for u in r.requests if not u.startswith("file://")] == [
        u for u in r.requests if u.startswith("https://cdn.plot.ly/plotly-")]
    assert not [e for e in r.errors if e.startswith("pageerror")]
    assert r.page.locator("#findings-table tbody.finding").count() == 15
    r.page.select_option("#filter-kind", "price_mismatch")  # the table works without plotly
    assert len(_visible_findings(r.page)) == 1
