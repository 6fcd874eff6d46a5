"""The committed sample (sample_data/) audited with the default policy (policies/) against the
generator's ground truth (sample_data/ground_truth.json): every planted finding is found, nothing
else is, with the same money and status; the quarantine holds exactly the planted bad records;
and no row is lost.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from audit.api import run_audit

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
POLICIES = ROOT / "policies"

pytestmark = pytest.mark.skipif(
    not (SAMPLE / "ground_truth.json").exists(), reason="no committed sample with ground truth"
)


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads((SAMPLE / "ground_truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample_out")
    return run_audit(POLICIES, SAMPLE, out, gx="full")


def _key(f: dict) -> tuple:
    return (f["kind"], f["ticket_id"], f["month"], f["line_id"])


def test_findings_precision_and_recall_are_100_percent(run, truth):
    expected = {_key(f) for f in truth["findings"]}
    found = {_key(f) for f in run.findings.iter_rows(named=True)}
    assert found - expected == set(), "false positives"
    assert expected - found == set(), "missed findings"
    assert run.findings.height == len(truth["findings"])  # and no finding twice


def test_findings_have_the_planted_delta_and_status(run, truth):
    got = {_key(f): (f["delta_eur"], f["status"]) for f in run.findings.iter_rows(named=True)}
    for f in truth["findings"]:
        delta = None if f["delta_eur"] is None else Decimal(f["delta_eur"])
        assert got[_key(f)] == (delta, f["status"]), f


def test_counts_by_kind_and_money_totals(run, truth):
    by_kind = {k: {"open": v["open"], "waived": v["waived"]} for k, v in run.summary["findings"]["by_kind"].items()
               if v["open"] or v["waived"]}
    assert by_kind == truth["counts"]
    money = run.summary["money"]
    for key, value in truth["money"].items():
        assert money[key] == value, key


def test_quarantine_is_exactly_the_planted_bad_records(run, truth):
    q = pl.from_arrow(run.ingest.quarantine)
    assert set(q.select("table", "line").rows()) == {(r["table"], r["line"]) for r in truth["quarantine"]}


def test_no_row_is_lost(run, truth):
    rows = run.summary["rows"]
    for table, counts in rows.items():
        assert counts["in"] == counts["loaded"] + counts["quarantined"], table
    assert rows == truth["rows"]
    q = pl.from_arrow(run.ingest.quarantine)
    quarantined = {t: len(set(q.filter(pl.col("table") == t).get_column("line"))) for t in rows}
    assert quarantined == {t: c["quarantined"] for t, c in rows.items()}


def test_outputs_on_disk_agree_with_the_result(run):
    out = run.out_dir
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary == json.loads(json.dumps(run.summary))
    assert pl.read_parquet(out / "findings.parquet").get_column("finding_id").to_list() == \
        run.findings.get_column("finding_id").to_list()
    assert summary["exit_code"] == run.exit_code == 1  # open errors exist
    assert set(summary["inputs"]) == {f"{t}.csv" for t in summary["rows"]}
    assert (out / "data_quality" / "gx_tickets.json").exists()


def test_signal_findings_carry_the_planted_money_at_stake(run, truth):
    got = {_key(f): f["at_stake_eur"] for f in run.findings.iter_rows(named=True)}
    signals = [f for f in truth["findings"] if f["kind"] == "suspected_misclassification"]
    assert signals and all(f["at_stake_eur"] is not None for f in signals)
    for f in truth["findings"]:
        expected = None if f["at_stake_eur"] is None else Decimal(f["at_stake_eur"])
        assert got[_key(f)] == expected, f


def test_each_work_signal_fires_exactly_on_its_planted_tickets(run, truth):
    from audit.sample.agents import DESCRIPTIONS

    def planted(scenario: str) -> set[str]:
        what = DESCRIPTIONS[scenario].split(") ")[1]  # "with more than 30 tracked minutes", …
        return {f["ticket_id"] for f in truth["findings"] if what in f["planted"]}

    fired = {rule: set(run.findings.filter(pl.col("rule_id") == rule).get_column("ticket_id"))
             for rule in ("long-howto-help", "specialist-on-standard")}
    assert fired["long-howto-help"] == planted("long_howto") and len(fired["long-howto-help"]) == 8
    assert fired["specialist-on-standard"] == planted("specialist_howto") and len(fired["specialist-on-standard"]) == 8
    # and what they saw: more than 30 minutes; a specialist among the roles
    for f in run.findings.filter(pl.col("rule_id") == "specialist-on-standard").iter_rows(named=True):
        assert "(roles: " in f["message"] and "specialist" in f["message"].split("(roles: ")[1]


def test_the_report_shows_each_signals_money_at_stake(run):
    import re

    from reports import render_report

    html = render_report(run.out_dir).read_text(encoding="utf-8").replace("\u00a0", " ")
    shown = re.findall(r'data-testid="at-stake">([^<]*)<', html)
    signals = run.findings.filter(pl.col("at_stake_eur").is_not_null())
    assert len(shown) == signals.height > 0  # the sample's findings all fit on the page
    # German report (the policy's language): "70,00 € (Einheiten: 4)"
    expected = sorted(f"{str(r['at_stake_eur']).replace('.', ',')} €" for r in signals.iter_rows(named=True))
    assert sorted(s.split(" (")[0] for s in shown) == expected
