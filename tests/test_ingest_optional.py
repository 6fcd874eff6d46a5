"""Optional canonical tables (agents, ticket_status_history): absent exports are no error, present
ones get the same contract, quarantine and Great Expectations as every other table."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.contract import TABLES
from audit.db import connect
from audit.ingest import load_data


def load(data_dir: Path, gx="off"):
    con = connect()
    result = load_data(con, data_dir, timezone="Europe/Berlin", tier_ids=["standard", "extended"], gx=gx)
    return con, result


def test_the_optional_tables_come_last_in_load_order():
    assert [n for n, t in TABLES.items() if t.optional] == ["agents", "ticket_status_history"]
    assert list(TABLES)[-2:] == ["agents", "ticket_status_history"]


def test_absent_optional_exports_give_empty_typed_tables_and_no_counts(data):
    con, result = load(data)
    assert "agents" not in result.tables and "ticket_status_history" not in result.tables
    assert not any(name.startswith(("agents", "ticket_status")) for name in result.input_hashes)
    assert con.execute("SELECT count(*) FROM agents").fetchone() == (0,)
    types = dict(con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'ticket_status_history'"
    ).fetchall())
    assert types["changed_at"] == "TIMESTAMP WITH TIME ZONE" and types["status"] == "VARCHAR"


def test_present_optional_exports_are_checked_and_quarantined(data):
    (data / "agents.csv").write_text(
        "agent;name;role\nanna;Anna K.;specialist\nanna;again;generalist\nbad login;X;generalist\nbernd;;\n",
        encoding="utf-8")
    (data / "ticket_status_history.csv").write_text(
        "ticket_id,status,changed_at\nT-1,open,2026-03-05 10:00\nT-404,closed,2026-03-05 11:00\n"
        "T-1,,2026-03-05 12:00\n", encoding="utf-8")
    con, result = load(data, gx="full")
    agents = result.tables["agents"]
    assert (agents.rows_in, agents.loaded, agents.quarantined) == (4, 2, 2)
    history = result.tables["ticket_status_history"]
    assert (history.rows_in, history.loaded, history.quarantined) == (3, 1, 2)
    q = {(r["table"], r["line"], r["expectation"]) for r in result.quarantine.to_pylist()}
    assert ("agents", 3, "expect_column_values_to_be_unique") in q
    assert ("agents", 4, "expect_column_values_to_match_regex") in q
    assert ("ticket_status_history", 3, "expect_column_values_to_be_in_table") in q
    assert ("ticket_status_history", 4, "expect_column_values_to_not_be_null") in q
    assert con.execute("SELECT agent, role FROM agents ORDER BY agent").fetchall() == [
        ("anna", "specialist"), ("bernd", None)]
    checks = [c for c in result.contract_checks if c["table"] in ("agents", "ticket_status_history")]
    assert checks and all(c["agree"] for c in checks)
    assert set(result.gx_results) >= {"agents", "ticket_status_history"}


def test_an_agents_export_without_the_agent_column_is_unusable(data):
    from audit.errors import DataError

    (data / "agents.csv").write_text("login,role\nanna,specialist\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        load(data)
    assert "missing required column 'agent'" in str(err.value)


def test_reopenings_from_an_exported_history_reach_a_month_signal(data, tmp_path):
    """End to end through the files: naive local times, the local month of each change."""
    from test_engine_support import edited_policy

    from audit.api import run_audit
    from audit.explain import explain

    (data / "ticket_status_history.csv").write_text(
        "ticket_id;status;changed_at\n"
        "T-2;open;06.03.2026 11:00\nT-2;Resolved;06.03.2026 12:00\nT-2;open;31.03.2026 23:30\n"
        "T-2;closed;01.04.2026 00:30\nT-2;pending;01.04.2026 09:00\n", encoding="utf-8")
    signal = ("\n  - id: reopened\n    kind: suspected_misclassification\n    scope: ticket_month\n"
              "    when: history.reopenings > 0\n")
    policy = edited_policy(tmp_path, {"findings.yaml": [("gelöscht|webdesign')", "gelöscht|webdesign')" + signal)]})
    result = run_audit(policy, data, gx="off")
    hits = result.findings.filter(rule_id="reopened")
    # T-2's time is in March only: the April reopening has no ticket-month of the reconciliation
    assert hits.select("ticket_id", "month").rows() == [("T-2", "2026-03")]
    text = explain(policy, data, "T-2")
    assert "Signal reopened (suspected_misclassification, per ticket-month): when history.reopenings > 0  ⇒ 2026-03 TRUE" in text
    assert "  history.reopenings = 2" in text


def test_a_month_signal_on_history_works_without_the_history_export(data, tmp_path):
    from test_engine_support import edited_policy

    from audit.api import run_audit

    signal = ("\n  - id: reopened\n    kind: suspected_misclassification\n    scope: ticket_month\n"
              "    when: history.reopenings > 0 OR history.status_changes > 0\n")
    policy = edited_policy(tmp_path, {"findings.yaml": [("gelöscht|webdesign')", "gelöscht|webdesign')" + signal)]})
    result = run_audit(policy, data, gx="off")
    assert result.findings.filter(rule_id="reopened").height == 0
    assert "ticket_status_history" not in result.summary["rows"]
