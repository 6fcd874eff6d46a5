"""The data contract runs twice, as DuckDB SQL and in Great Expectations, and the counts agree.

The messy fixture plants a failure for every expectation kind: not_null, unique, regex, in_set,
in_table (direct and cascaded), a >= b and between.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.contract import contract_for
from audit.db import connect
from audit.ingest import load_data

MESSY = Path(__file__).parent / "fixtures" / "ingest" / "messy"
TIERS = ["standard", "extended"]


def run(gx: str, **kwargs):
    con = connect()
    result = load_data(con, MESSY, timezone="Europe/Berlin", tier_ids=TIERS, gx=gx, **kwargs)
    return con, result


@pytest.fixture(autouse=True)
def _default_epoch(monkeypatch):
    """These tests compare GX run times with the default epoch, whatever the caller's shell has."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


@pytest.fixture(scope="module")
def full():
    with pytest.MonkeyPatch.context() as mp:  # the run time below is the default epoch's
        mp.delenv("SOURCE_DATE_EPOCH", raising=False)
        con, result = run("full")
    yield result
    con.close()


def check(result, table: str, expectation: str, column: str) -> dict:
    [c] = [c for c in result.contract_checks
           if (c["table"], c["expectation"], c["column"]) == (table, expectation, column)]
    return c


def present(contract):
    """The tables the fixture exports: the optional ones (agents, status history) it has not."""
    return {name: table for name, table in contract.items() if not table.optional}


def test_gx_and_duckdb_agree_on_every_expectation(full):
    contract = present(contract_for(TIERS))
    assert len(full.contract_checks) == sum(len(t.expectations) for t in contract.values())
    disagreements = [c for c in full.contract_checks if not c["agree"]]
    assert disagreements == []
    assert not any("Great Expectations counts" in w for w in full.warnings)


@pytest.mark.parametrize(("table", "expectation", "column", "failing"), [
    ("customers", "expect_column_values_to_be_unique", "customer_id", 2),  # both C-002 rows
    ("customers", "expect_column_values_to_match_regex", "customer_id", 1),
    ("customers", "expect_column_values_to_not_be_null", "name", 1),
    ("services", "expect_column_values_to_be_in_table", "customer_id", 2),  # C-999 and quarantined C-006
    ("tickets", "expect_column_values_to_be_unique", "ticket_id", 2),
    ("tickets", "expect_column_values_to_be_in_set", "priority", 1),
    ("tickets", "expect_column_values_to_be_in_set", "tier", 1),
    ("tickets", "expect_column_pair_values_a_to_be_greater_than_b", "resolved_at", 1),
    ("tickets", "expect_column_values_to_be_in_table", "service_id", 1),
    ("time_entries", "expect_column_values_to_be_in_table", "ticket_id", 2),
    ("time_entries", "expect_column_values_to_not_be_null", "duration_seconds", 1),
    ("time_entries", "expect_column_values_to_be_between", "duration_seconds", 1),
    ("invoice_lines", "expect_column_values_to_be_in_table", "ticket_id", 1),
])
def test_planted_failures_are_counted_by_both(full, table, expectation, column, failing):
    c = check(full, table, expectation, column)
    assert (c["duckdb_failing_rows"], c["gx_unexpected_count"], c["agree"]) == (failing, failing, True)


def test_gx_sees_the_rows_that_parsed(full):
    # tickets: 14 records, 3 did not parse (broken quote, wrong count, non-existent time)
    assert {c["gx_evaluated_rows"] for c in full.contract_checks if c["table"] == "tickets"} == {11}
    # time_entries: 12 records, 2 did not parse (too many decimals, minutes vs ends)
    assert {c["gx_evaluated_rows"] for c in full.contract_checks if c["table"] == "time_entries"} == {10}


def test_unique_quarantines_later_duplicates_but_gx_counts_all(full):
    assert check(full, "tickets", "expect_column_values_to_be_unique", "ticket_id")["gx_unexpected_count"] == 2
    dupes = [r for r in full.quarantine.to_pylist()
             if r["table"] == "tickets" and r["expectation"] == "expect_column_values_to_be_unique"]
    assert [r["line"] for r in dupes] == [15]


ORPHANS = ["T-4", "T-99"]  # T-99 is unknown, the row of T-4 was quarantined


def test_gx_result_documents(full):
    assert sorted(full.gx_results) == sorted(present(contract_for(TIERS)))
    doc = full.gx_results["time_entries"]
    assert doc["success"] is False
    types = [r["expectation_config"]["type"] for r in doc["results"]]
    expected = [e.type for e in contract_for(TIERS)["time_entries"].expectations]
    assert types == [t.replace("_be_in_table", "_not_be_in_set") for t in expected]
    assert [r["expectation_config"]["id"] for r in doc["results"]] == [
        f"time_entries:{i}" for i in range(1, len(expected) + 1)]
    # the referential check ran as not_in_set over the ticket ids the entries use that are not
    # loaded tickets: an unknown one and one whose ticket row was quarantined
    in_set = doc["results"][expected.index("expect_column_values_to_be_in_table")]
    assert in_set["expectation_config"]["kwargs"]["value_set"] == ORPHANS
    assert in_set["result"]["unexpected_count"] == 2
    assert in_set["expectation_config"]["meta"] == {"contract": "expect_column_values_to_be_in_table(ticket_id)"}
    # GX's row index is the line of the export
    assert sorted(in_set["result"]["partial_unexpected_index_list"]) == [6, 7]
    assert doc["meta"]["run_id"]["run_time"] == "1970-01-01T00:00:00+00:00"
    json.dumps(doc)  # serialisable as is


def test_two_runs_give_identical_evidence(full):
    _, again = run("full")
    assert json.dumps(again.gx_results, sort_keys=True) == json.dumps(full.gx_results, sort_keys=True)
    assert again.contract_checks == full.contract_checks
    assert again.quarantine.equals(full.quarantine)


def test_source_date_epoch_sets_the_gx_run_time(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    _, result = run("full")
    meta = result.gx_results["customers"]["meta"]
    assert meta["run_id"]["run_time"] == meta["validation_time"] == "2026-01-01T00:00:00+00:00"


def test_sample_mode_checks_a_bounded_sample_and_still_quarantines_everything(full):
    _, sampled = run("sample", gx_sample_rows=4)
    tickets = [c for c in sampled.contract_checks if c["table"] == "tickets"]
    assert {c["gx_evaluated_rows"] for c in tickets} == {4}
    assert all(c["agree"] for c in sampled.contract_checks)
    assert sampled.quarantine.equals(full.quarantine)
    _, again = run("sample", gx_sample_rows=4)
    assert again.contract_checks == sampled.contract_checks  # the sample is deterministic


def test_off_mode_skips_gx_but_not_the_contract(full):
    _, off = run("off")
    assert off.gx_results == {}
    assert all(c["gx_unexpected_count"] is None and c["agree"] is None for c in off.contract_checks)
    assert [c["duckdb_failing_rows"] for c in off.contract_checks] == [
        c["duckdb_failing_rows"] for c in full.contract_checks]
    assert off.quarantine.equals(full.quarantine)


def test_report_pairs_each_gx_result_with_its_duckdb_check(full):
    """The report's data-quality table puts GX's not_in_set result next to DuckDB's referential
    count, one row per contract expectation (nothing listed twice, nothing unpaired)."""
    from reports.quality import _gx_rows

    for table, doc in full.gx_results.items():
        checks = [c for c in full.contract_checks if c["table"] == table]
        rows = _gx_rows(doc, checks)
        assert len(rows) == len(checks), table
        assert all(r["duckdb"] is not None and r["agree"] is True for r in rows), table
    rows = _gx_rows(full.gx_results["time_entries"],
                    [c for c in full.contract_checks if c["table"] == "time_entries"])
    ref = next(r for r in rows if r["expectation"] == "expect_column_values_to_be_in_table")
    assert (ref["unexpected"], ref["duckdb"], sorted(ref["examples"])) == (2, 2, ["T-4", "T-99"])


def test_the_gx_worker_process_does_not_import_the_loader():
    """The worker runs on the second core beside the loader; importing the loader's DuckDB,
    polars and engine modules there would only cost it time before its first validation."""
    import subprocess
    import sys

    heavy = ("duckdb", "polars", "audit.engine", "audit.ingest.load")
    code = ("import sys, audit.ingest.gx_worker; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_a_one_ingestion_process_ends_the_gx_worker_once_its_results_are_in(full, monkeypatch):
    """``support-audit`` runs one command per process (audit.cli.command_line): the worker ends
    once it has answered the ingestion's validations, before they are read, instead of holding
    its memory to the end; a later ingestion starts a new worker and validates the same; by
    default the worker is kept."""
    import audit.ingest.load as load

    monkeypatch.setattr(load, "KEEP_GX_PROCESS", False)
    con, result = run("full")
    con.close()
    assert load._GX_PROCESS is None
    ended = load._ENDED[-1]
    assert ended.proc.wait(timeout=30) == 0  # it ended on its own, its results not yet read
    assert result.gx_results == full.gx_results
    monkeypatch.setattr(load, "KEEP_GX_PROCESS", True)
    con, again = run("full")
    con.close()
    assert again.gx_results == full.gx_results
    assert load._GX_PROCESS is not None and load._GX_PROCESS.alive()
