"""``audit.api.run_audit``: stage order, exit codes, --period, --fail-on, errors a user can act on."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

import audit.db
from audit.api import run_audit
from audit.errors import EXIT_DATA, EXIT_POLICY, EXIT_USAGE, DataError, PolicyError, UsageError

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
POLICIES = ROOT / "policies"

needs_sample = pytest.mark.skipif(not (SAMPLE / "tickets.csv").exists(), reason="no committed sample")


@pytest.fixture(scope="module")
def full():
    return run_audit(POLICIES, SAMPLE, gx="off")


def test_invalid_policy_fails_before_duckdb_is_touched(tmp_path, monkeypatch):
    policy = tmp_path / "policy"
    shutil.copytree(POLICIES, policy)
    path = policy / "billing.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("rounding: ceil", "rounding: up"), encoding="utf-8")

    def no_db(*a, **kw):
        raise AssertionError("DuckDB was touched although the policy is invalid")

    monkeypatch.setattr(audit.db, "connect", no_db)
    with pytest.raises(PolicyError) as exc:
        run_audit(policy, SAMPLE, tmp_path / "out")
    assert exc.value.exit_code == EXIT_POLICY
    assert "billing.yaml:5" in str(exc.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("period", ["2026-13", "2026-5", "May 2026", "2026-05-01"])
def test_malformed_period_is_a_usage_error(period):
    with pytest.raises(UsageError) as exc:
        run_audit(POLICIES, SAMPLE, period=period)
    assert exc.value.exit_code == EXIT_USAGE
    assert "YYYY-MM" in str(exc.value)


def test_unknown_fail_on_is_a_usage_error():
    with pytest.raises(UsageError, match="error, warning, info, never"):
        run_audit(POLICIES, SAMPLE, fail_on="critical")  # type: ignore[arg-type]


def test_missing_data_is_a_data_error(tmp_path):
    with pytest.raises(DataError) as exc:
        run_audit(POLICIES, tmp_path / "nowhere")
    assert exc.value.exit_code == EXIT_DATA


@needs_sample
def test_result_without_out_writes_nothing(full, tmp_path):
    assert full.out_dir is None
    assert set(full.timings) == {"policy", "ingest", "gx", "rules", "outputs"}
    assert all(v >= 0 for v in full.timings.values())
    assert full.exit_code == 1
    assert full.summary["exit_code"] == 1
    assert full.summary["months"] == sorted(set(full.reconciliation.get_column("month")))


@needs_sample
def test_fail_on_never_and_warning(full):
    never = run_audit(POLICIES, SAMPLE, fail_on="never", gx="off")
    assert never.exit_code == 0 and never.summary["fail_on"] == "never"
    assert never.findings.equals(full.findings)


@needs_sample
def test_period_restricts_every_table_and_the_summary(full, tmp_path):
    res = run_audit(POLICIES, SAMPLE, tmp_path / "out", period="2026-06", gx="off")
    for df in (res.findings, res.classifications, res.reconciliation):
        assert set(df.get_column("month")) == {"2026-06"}
    assert res.summary["period"] == "2026-06" and res.summary["months"] == ["2026-06"]
    # the same ticket-months as in the full run, with the same numbers
    june = full.reconciliation.filter(pl.col("month") == "2026-06")
    assert res.reconciliation.equals(june)
    # Open tickets' SLA is judged at the end of the audited period (docs/semantics.md "SLA"):
    # 1 July 00:00 here, 1 August in the full run; every other finding is the same.
    settled = pl.col("kind") != "sla_overdue_open"
    assert res.findings.filter(settled).equals(full.findings.filter((pl.col("month") == "2026-06") & settled))
    assert res.summary["sla"]["as_of"] == "2026-06-30T22:00:00+00:00"
    assert full.summary["sla"]["as_of"] == "2026-07-31T22:00:00+00:00"
    assert (tmp_path / "out" / "summary.json").exists()
    assert res.timings["outputs"] > 0


@needs_sample
def test_money_totals_are_sums_of_ticket_month_deltas(full):
    deltas = full.reconciliation.get_column("delta_eur").drop_nulls()
    money = full.summary["money"]
    assert money["under_billed_eur"] == str(deltas.filter(deltas > 0).sum())
    assert money["over_billed_eur"] == str(deltas.filter(deltas < 0).sum())
    # a ticket-month with two findings (e.g. duplicate + units) is counted once in the totals
    findings_sum = full.findings.filter(pl.col("status") == "open").get_column("delta_eur").drop_nulls().sum()
    assert money["net_eur"] == str(deltas.sum())
    assert findings_sum != deltas.sum()


@needs_sample
def test_compressing_the_stored_tables_between_stages_changes_no_result(full, monkeypatch):
    # a large run compresses its tables at each stage boundary (audit.db.compact); here every
    # boundary does, on the sample with its SLA and signals, and every result is the same
    monkeypatch.setattr(audit.db, "COMPACT_FROM", 0)
    said: list[str] = []
    compacted = run_audit(POLICIES, SAMPLE, gx="off", progress=said.append)
    assert sum("compressed the stored tables" in line for line in said) == 3, said
    for name in ("findings", "classifications", "reconciliation"):
        assert getattr(compacted, name).equals(getattr(full, name)), name
    assert compacted.summary == full.summary


@needs_sample
def test_the_findings_written_in_two_parts_are_those_of_one_statement(full, monkeypatch):
    # DuckDB writes the SLA findings in a statement of their own and compresses the findings
    # as they grow (peak memory at 10 M entries); Spark writes them in one statement. Both give
    # the same findings.
    from test_engine_support import count_parts

    from audit.engine import findings

    parts = count_parts(monkeypatch, "findings")
    monkeypatch.setattr(audit.db, "COMPACT_FROM", 0)  # a checkpoint after every part
    in_parts = run_audit(POLICIES, SAMPLE, gx="off")
    assert len(parts) == 2
    monkeypatch.setattr(findings, "on_spark", lambda con: True)  # one statement, as on Spark
    parts.clear()
    in_one = run_audit(POLICIES, SAMPLE, gx="off")
    assert parts == []
    for result in (in_parts, in_one):
        assert result.findings.equals(full.findings)
        assert result.summary == full.summary
    assert full.findings.get_column("kind").n_unique() > 10


@pytest.mark.parametrize("stage", ["period", "compact", "rules", "texts"])
def test_a_failing_stage_after_the_load_closes_the_connection(monkeypatch, stage):
    """Whatever fails between the load and the end of the export, the DuckDB connection (and
    the memory it holds) is closed before the error reaches the caller."""
    import duckdb

    import audit.engine
    import audit.engine.period
    import audit.engine.render

    opened = []
    connect = audit.db.connect

    def recording_connect(*args, **kwargs):
        opened.append(connect(*args, **kwargs))
        return opened[-1]

    def fail(*_args, **_kwargs):
        raise RuntimeError(f"{stage} failed")

    monkeypatch.setattr(audit.db, "connect", recording_connect)
    target = {"period": (audit.engine.period, "restrict_to_period"), "compact": (audit.db, "compact"),
              "rules": (audit.engine, "evaluate"), "texts": (audit.engine.render, "render_texts")}[stage]
    monkeypatch.setattr(*target, fail)
    with pytest.raises(RuntimeError, match=f"{stage} failed"):
        run_audit(POLICIES, SAMPLE, period="2026-05", gx="off")
    assert len(opened) == 1
    with pytest.raises(duckdb.ConnectionException, match="closed"):
        opened[0].execute("SELECT 1")
