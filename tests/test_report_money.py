"""The money headline and the bridge: every euro from Σ expected to Σ billed accounted for, and
the report's counts read from the same numbers as summary.json and the CLI line.

On the committed sample and on a generated run of ~100k time entries (slow)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_report_language import leftovers

from audit.api import run_audit
from audit.cli import cli
from reports.render import render_html

ROOT = Path(__file__).resolve().parent.parent
STEP = re.compile(r'<tr class="bridge-(\w+)" data-step="([^"]+)" data-value="([^"]+)">')
TILE = re.compile(r'data-testid="tile-(\w+)" data-value="([^"]+)"')


def _bridge(html: str) -> list[tuple[str, str, Decimal]]:
    return [(kind, key, Decimal(v)) for kind, key, v in STEP.findall(html)]


def check_money(out: Path, lang: str = "de") -> dict:
    summary = json.loads((out / "summary.json").read_text())
    html, _ = render_html(out, lang=lang, plotly="cdn")
    steps = _bridge(html)
    assert steps[0][:2] == ("start", "expected") and steps[-1][:2] == ("end", "billed")
    assert steps[0][2] == Decimal(summary["money"]["expected_eur"])
    assert steps[-1][2] == Decimal(summary["money"]["billed_eur"])
    # closes to the cent, and the finding kinds explain the whole gap (no unexplained rest)
    assert steps[0][2] + sum(s[2] for s in steps[1:-1]) == steps[-1][2]
    assert "rest" not in [s[1] for s in steps]
    tiles = {k: Decimal(v) for k, v in TILE.findall(html)}
    m = summary["money"]
    assert tiles["to_invoice"] + tiles["to_credit"] + tiles["waived"] == Decimal(m["net_eur"])
    assert tiles["balance"] == tiles["to_invoice"] + tiles["to_credit"]
    assert tiles["to_invoice"] >= 0 >= tiles["to_credit"]
    return {"summary": summary, "html": html, "steps": steps, "tiles": tiles}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    result = CliRunner().invoke(cli, ["run", "--policy", str(ROOT / "policies"), "--data",
                                       str(ROOT / "sample_data"), "--out", str(out)])
    assert result.exit_code == 1, result.output
    return out, result.output


def test_bridge_closes_on_the_sample(sample):
    out, _ = sample
    got = check_money(out)
    kinds = [s[1] for s in got["steps"] if s[0] == "step"]
    assert {"standard_billed", "extended_unbilled", "duplicate_billing", "waived"} <= set(kinds)
    # the sample's ground truth (written by the generator, checked by an independent oracle)
    truth = json.loads((ROOT / "sample_data" / "ground_truth.json").read_text())["money"]
    under, over, waived = (Decimal(truth[k]) for k in ("under_billed_eur", "over_billed_eur", "waived_eur"))
    assert got["tiles"] == {"to_invoice": under - waived, "to_credit": over, "waived": waived,
                            "balance": under - waived + over}
    assert got["tiles"] == {"to_invoice": Decimal("4724.35"), "to_credit": Decimal("-5079.50"),
                            "waived": Decimal("175.00"), "balance": Decimal("-355.15")}


def test_headline_tiles_are_positive_with_direction_words(sample):
    out, _ = sample
    html, _ = render_html(out, lang="de", plotly="cdn")
    assert 'data-testid="tile-to_credit" data-value="-5079.50">5.079,50\xa0€<' in html
    assert 'data-testid="tile-balance" data-value="-355.15">355,15\xa0€<' in html
    assert "insgesamt zu viel berechnet" in html


def test_counts_agree_between_report_summary_and_cli_line(sample):
    out, cli = sample
    summary = json.loads((out / "summary.json").read_text())
    html, _ = render_html(out, lang="en", plotly="cdn")
    f = summary["findings"]
    assert f"findings: {f['open']} open, {f['waived']} waived" in cli
    quarantined = sum(t["quarantined"] for t in summary["rows"].values())
    assert f'data-testid="quarantine-count" data-value="{quarantined}"' in html
    assert re.search(rf"\d+ of {quarantined} quarantined records", html)
    assert f'data-testid="findings_open" data-value="{f["open"]}"' in html
    assert f'data-testid="findings_waived" data-value="{f["waived"]}"' in html


@pytest.mark.slow
def test_bridge_closes_on_a_generated_100k_entry_run(tmp_path):
    data = tmp_path / "data"
    gen = CliRunner().invoke(cli, ["sample-data", "--seed", "11", "--months", "3", "--tickets",
                                    "38000", "--out", str(data), "-q"])
    assert gen.exit_code == 0, gen.output
    entries = sum(1 for _ in (data / "time_entries.csv").open(encoding="utf-8", errors="replace")) - 1
    assert entries >= 90_000
    out = tmp_path / "out"
    run_audit(ROOT / "policies", data, out, gx="off")
    check_money(out, lang="en")
    german = check_money(out, lang="de")
    assert leftovers(german["html"]) == []  # the German texts of a bigger run, every variant
