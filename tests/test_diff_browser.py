"""diff.html in headless Chromium: what a reviewer opening the page sees, and that nothing in the
data runs or loads (same skip rules as tests/test_browser_report.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_engine_support import edited_policy
from test_sample_oracle import POLICY, SAMPLE

from audit.diff import diff_policies
from audit.diff.write import render_html

pytestmark = pytest.mark.browser
EVIL = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


@pytest.fixture(scope="module")
def page_file(tmp_path_factory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("diff")
    head = edited_policy(tmp, {"classification.yaml": [
        ("- id: webdesign\n      tier: extended", "- id: webdesign\n      tier: standard")]})
    doc = diff_policies(POLICY, head, SAMPLE, gx="off").doc
    doc = json.loads(json.dumps(doc))
    doc["money"]["by_customer"][0]["customer_name"] = EVIL
    doc["money"]["by_month"][0]["examples"][0]["explanation"]["head"] = EVIL
    path = tmp / "diff.html"
    path.write_text(render_html(doc), encoding="utf-8")
    return path, doc


def test_diff_page_shows_the_change_and_runs_nothing(browser, page_file):
    path, doc = page_file
    page = browser.new_page()
    errors, requests, dialogs = [], [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    change = doc["money"]["total"]["expected_eur"]["change"]
    assert page.get_by_test_id("headline").inner_text() == f"expected revenue {change} EUR"
    assert page.get_by_test_id("expected_eur").get_attribute("data-value") == change
    assert page.get_by_test_id("tier_changes").inner_text() == str(doc["tiers"]["changed"])
    assert EVIL in page.locator("#by-customer tbody tr").first.inner_text()
    page.locator("#by-month details").first.click()
    assert EVIL in page.locator("#by-month details").first.inner_text()
    page.close()
    assert dialogs == [] and requests == [path.as_uri()]
    assert errors == [], errors
