"""Optional canonical tables (agents, ticket_status_history): a missing export is an empty
typed table; a present one is read, checked and quarantined like every other table."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from audit.db import connect
from audit.ingest import load_data

CLEAN = Path(__file__).parent / "fixtures" / "ingest" / "clean"


def _load(data_dir: Path):
    con = connect()
    result = load_data(con, data_dir, timezone="Europe/Berlin", tier_ids=["standard", "extended"], gx="full")
    return con, result


def test_missing_optional_exports_become_empty_typed_tables(tmp_path: Path) -> None:
    shutil.copytree(CLEAN, tmp_path / "data")
    con, result = _load(tmp_path / "data")
    assert "ticket_status_history" not in result.tables and "agents" not in result.tables
    types = dict(con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'ticket_status_history'"
    ).fetchall())
    assert types["changed_at"] == "TIMESTAMP WITH TIME ZONE" and types["status"] == "VARCHAR"
    assert con.execute("SELECT count(*) FROM ticket_status_history").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM agents").fetchone() == (0,)


def test_a_present_status_history_is_checked_and_quarantined_like_the_others(tmp_path: Path) -> None:
    shutil.copytree(CLEAN, tmp_path / "data")
    (tmp_path / "data" / "ticket_status_history.csv").write_text(
        "ticket_id,status,changed_at\n"
        "T-1,open,2026-03-05 10:00\n"
        "T-1,waiting_for_customer,2026-03-05 11:00\n"
        "T-404,open,2026-03-05 12:00\n"          # unknown ticket
        "T-2,,2026-03-06 11:00\n",               # no status
        encoding="utf-8",
    )
    con, result = _load(tmp_path / "data")
    counts = result.tables["ticket_status_history"]
    assert (counts.rows_in, counts.loaded, counts.quarantined) == (4, 2, 2)
    q = pl.from_arrow(result.quarantine).filter(pl.col("table") == "ticket_status_history")
    assert sorted(zip(q["line"].to_list(), q["expectation"].to_list(), strict=True)) == [
        (4, "expect_column_values_to_be_in_table"), (5, "expect_column_values_to_not_be_null")]
    rows = con.execute(
        "SELECT status, strftime(changed_at AT TIME ZONE 'UTC', '%H:%M') FROM ticket_status_history ORDER BY _line"
    ).fetchall()
    assert rows == [("open", "09:00"), ("waiting_for_customer", "10:00")]  # CET read as local
    checks = [c for c in result.contract_checks if c["table"] == "ticket_status_history"]
    assert checks and all(c["agree"] for c in checks)
