"""The report's SLA section in a real browser (headless Chromium via Playwright), on the bundled
sample audited with the shipped policy: what a finance user sees matches summary.json's ``sla``.
Skipped (or failed with SUPPORT_AUDIT_REQUIRE_BROWSER=1) like tests/test_browser_report.py.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from audit.api import run_audit
from reports import render_report

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sla_report")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", "1775000000")
        run_audit(ROOT / "policies", ROOT / "sample_data", out, gx="off")
        render_report(out, lang="en")
    return out


def _open(browser, run: Path):  # noqa: F811
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto((run / "report.en.html").as_uri())  # English beside the policy's German
    return page, errors


def test_sla_section_shows_the_summary_figures(browser, sample_run):  # noqa: F811
    sla = json.loads((sample_run / "summary.json").read_text(encoding="utf-8"))["sla"]
    page, errors = _open(browser, sample_run)
    section = page.locator("#sla")
    section.scroll_into_view_if_needed()
    assert section.is_visible()
    assert section.locator("h2").inner_text() == "Service levels (SLA)"
    rows = page.locator("#sla-compliance tbody tr")
    assert rows.count() == len(sla["compliance"]) > 0
    # the worst row as the user reads it: contract, priority, target, counts, percentage
    worst = min(sla["compliance"], key=lambda c: (Decimal(c["compliance_pct"]), c["contract"], c["priority"]))
    target = {"first_response": "First response", "resolution": "Resolution"}[worst["target"]]
    cells = [c.strip() for c in rows.nth(sla["compliance"].index(worst)).locator("th, td").all_inner_texts()]
    assert cells == [worst["contract"], worst["priority"], target, str(worst["measured"]), str(worst["met"]),
                     str(worst["breached"]), f"{worst['compliance_pct']}%", str(worst["overdue_open"])]
    assert "bad" in (rows.nth(sla["compliance"].index(worst)).get_attribute("class") or "")
    # breaches by month, credits per customer with their total, the overdue tickets
    months = page.locator("#sla-months tbody tr")
    assert months.count() == len(sla["breaches_by_month"])
    credits = page.locator("#sla-credits tbody tr")
    assert credits.count() == len(sla["credits_owed"])
    shown = sum(Decimal(t.replace("€", "").replace(",", "")) for t in
                page.locator("#sla-credits tbody td:last-child").all_inner_texts())
    assert shown == Decimal(sla["credits_owed_eur"]) > 0
    assert page.locator("#sla-credits tfoot td").inner_text() == f"€{Decimal(sla['credits_owed_eur']):,.2f}"
    overdue = page.locator("#sla-overdue code").all_inner_texts()
    assert overdue == sla["overdue_open"]["tickets"] and overdue
    assert errors == []
