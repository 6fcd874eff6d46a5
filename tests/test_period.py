"""``--period`` prunes early (audit.engine.period): the month's results from the rows it needs
are the results from all rows, month by month, on the sample and on a generated year."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import audit.engine.period
from audit.api import open_audit_db, run_audit
from audit.policy.loader import load_policy
from audit.policy.model import SLA_KINDS
from audit.sample import generate

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
POLICIES = ROOT / "policies"
SAMPLE_MONTHS = ["2026-04", "2026-05", "2026-06", "2026-07", "2026-08"]  # the sample's, with a month either side


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    """A generated year (Jan–Dec 2026) with dirty rows, status history and SLA findings."""
    out = tmp_path_factory.mktemp("year")
    generate(out, seed=5, months=12, tickets=900, start="2026-01")
    return out


def unpruned(monkeypatch, data: Path, period: str):
    """The ``--period`` run as before the pruning: every loaded row reaches the rules."""
    with monkeypatch.context() as m:
        m.setattr(audit.engine.period, "restrict_to_period", lambda con, bundle, period: {})
        return run_audit(POLICIES, data, period=period, gx="off", fail_on="never")


def assert_same_month(pruned, full, period: str) -> None:
    """Every result table, the quarantine and the summary of the month are identical."""
    for name in ("findings", "classifications", "reconciliation"):
        a, b = getattr(pruned, name), getattr(full, name)
        assert a.equals(b), f"{period}: {name} differ ({a.height} vs {b.height} rows)"
    assert pruned.ingest.quarantine.equals(full.ingest.quarantine)
    for name, counts in pruned.summary["rows"].items():
        assert counts["in"] == counts["loaded"] + counts["quarantined"], name
        assert 0 <= counts.pop("out_of_period") <= counts["loaded"], name
        assert full.summary["rows"][name].pop("out_of_period") == 0  # nothing set aside there
    assert pruned.summary == full.summary, period


@pytest.mark.parametrize("period", SAMPLE_MONTHS)
def test_every_month_of_the_sample_is_unchanged(monkeypatch, period):
    pruned = run_audit(POLICIES, SAMPLE, period=period, gx="off", fail_on="never")
    assert_same_month(pruned, unpruned(monkeypatch, SAMPLE, period), period)


@pytest.mark.parametrize("period", [f"2026-{m:02d}" for m in range(1, 13)])
def test_every_month_of_a_generated_year_is_unchanged(monkeypatch, year, period):
    pruned = run_audit(POLICIES, year, period=period, gx="off", fail_on="never")
    full = unpruned(monkeypatch, year, period)
    # the month has findings of the kinds that reach across months: SLA clocks, signals
    assert full.findings.height > 0
    set_aside = {name: c["out_of_period"] for name, c in pruned.summary["rows"].items()}
    assert_same_month(pruned, full, period)
    # and the pruning did prune: most of the year's time entries never reached the rules
    loaded = pruned.summary["rows"]["time_entries"]["loaded"]
    assert set_aside["time_entries"] > loaded // 2, set_aside
    assert set_aside["customers"] == 0 and set_aside["services"] == 0


def test_the_year_has_findings_that_reach_across_months(monkeypatch, year):
    """The generated year exercises what the pruning must keep: June findings of tickets opened
    weeks earlier (an SLA clock, a ticket-month billed later), paused tickets."""
    june = unpruned(monkeypatch, year, "2026-06")
    con, _ = open_audit_db(load_policy(POLICIES), year, gx="off")
    try:
        early = pl.from_arrow(con.sql(
            "SELECT ticket_id FROM tickets WHERE opened_at < TIMESTAMPTZ '2026-05-25 00:00:00+00'").to_arrow_table())
        (paused,) = con.execute(
            "SELECT count(*) FROM ticket_status_history WHERE status = 'waiting_for_customer'").fetchall()[0]
    finally:
        con.close()
    kinds = set(june.findings.join(early, on="ticket_id").get_column("kind"))
    assert any(k.startswith("sla_") for k in kinds) and kinds - set(SLA_KINDS), kinds
    assert paused > 0


def test_without_period_the_rows_have_no_out_of_period_count():
    res = run_audit(POLICIES, SAMPLE, gx="off", fail_on="never")
    assert all(set(c) == {"in", "loaded", "quarantined"} for c in res.summary["rows"].values())
