"""The output files: deterministic bytes, CSV formula neutralisation, JSON money as strings."""

from __future__ import annotations

import csv
import io
import json

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_engine_support import D, audit, edited_policy, entry, line, ticket

from audit.api import AuditResult
from audit.engine.summary import build_summary, exit_code_for, frame_facts
from audit.ingest.result import QUARANTINE_SCHEMA, IngestResult, TableCounts
from audit.outputs import atomic_write_text, neutralise_csv_cell, start_outputs, write_outputs
from audit.policy.loader import load_policy

WEB = "webdesign"


def _ingest() -> IngestResult:
    quarantine = pa.table(
        {
            "table": ["tickets", "customers"],
            "source_file": ["tickets.csv", "customers.csv"],
            "line": [7, 3],
            "expectation": ["parse_error", "expect_column_values_to_not_be_null"],
            "column": ["opened_at", "name"],
            "value": ["31.02.2026", ""],
            "reason": ["not a date", "name is empty"],
            "raw": ["T-9,K-1,,31.02.2026", "=cmd|' /C calc'!A0,,basic"],
        },
        schema=QUARANTINE_SCHEMA,
    )
    return IngestResult(
        tables={
            "customers": TableCounts(4, 3, 1, "customers.csv", "c" * 64),
            "tickets": TableCounts(4, 3, 1, "tickets.csv", "t" * 64),
        },
        quarantine=quarantine,
        gx_results={"tickets": {"success": False, "results": [{"expectation": "x", "unexpected": 1}]}},
        contract_checks=[
            {"table": "tickets", "expectation": "b", "duckdb_failing": 1, "gx_unexpected": 1},
            {"table": "customers", "expectation": "a", "duckdb_failing": 1, "gx_unexpected": 1},
        ],
        input_hashes={"tickets.csv": "t" * 64, "customers.csv": "c" * 64},
    )


def _result(tmp_path, period=None) -> AuditResult:
    tables = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended", customer_id="K-2"), ticket("T-2", "customer_center_usage", "standard")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes=47),
                 entry("E-2", "T-2", "2026-03-10 10:00", minutes=20)],
        lines=[line("L-1", "=R-1", "T-1", "2026-03-31", "3", "15.00", customer="K-2"),
               line("L-2", "R-2", "T-2", "2026-03-31", "1", "17.50")],
        period=period,
    )
    bundle = load_policy(edited_policy(tmp_path))
    ingest = _ingest()
    facts = frame_facts(tables.findings, tables.classifications, tables.reconciliation)
    code = exit_code_for(facts, "error")
    summary = build_summary(bundle=bundle, ingest=ingest, facts=facts,
                            period=period, fail_on="error", exit_code=code)
    return AuditResult(tables.findings, tables.classifications, tables.reconciliation, summary, ingest,
                       bundle, code, None, {})


def test_two_runs_give_identical_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    files_a = write_outputs(_result(tmp_path / "ra"), a, formats="parquet,csv,json")
    files_b = write_outputs(_result(tmp_path / "rb"), b, formats="parquet,csv,json")
    names = sorted(p.relative_to(a).as_posix() for p in files_a)
    assert names == sorted(p.relative_to(b).as_posix() for p in files_b)
    assert {"findings.parquet", "findings.csv", "findings.jsonl", "classifications.parquet",
            "reconciliation.parquet", "summary.json", "quarantine.parquet", "quarantine.csv",
            "data_quality/gx_tickets.json", "data_quality/contract_checks.json"} <= set(names)
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert not list(a.glob("**/*.tmp")), "temp files left behind"


def test_start_outputs_writes_what_the_report_reads_first_and_the_same_files(tmp_path):
    """start_outputs returns with the Parquet and JSON files complete while the CSV and JSON
    Lines files may still be written; finish() gives the same files, byte for byte, as
    write_outputs."""
    ref = tmp_path / "ref"
    ref_files = write_outputs(_result(tmp_path / "r1"), ref, formats="parquet,csv,json")
    out = tmp_path / "out"
    writing = start_outputs(_result(tmp_path / "r2"), out, formats="parquet,csv,json")
    for name in ("findings.parquet", "reconciliation.parquet", "classifications.parquet",
                 "quarantine.parquet", "summary.json", "policy.json"):
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name
    files = writing.finish()
    assert sorted(p.relative_to(out).as_posix() for p in files) == sorted(
        p.relative_to(ref).as_posix() for p in ref_files)
    for path in files:
        assert path.read_bytes() == (ref / path.relative_to(out)).read_bytes(), path.name
    assert not list(out.glob("**/*.tmp")), "temp files left behind"


def test_a_failing_csv_writer_is_raised_by_finish(tmp_path):
    out = tmp_path / "out"
    (out / "findings.csv").mkdir(parents=True)  # the CSV cannot be moved into place
    writing = start_outputs(_result(tmp_path), out)
    assert (out / "findings.parquet").exists()
    with pytest.raises(OSError):
        writing.finish()
    again = start_outputs(_result(tmp_path / "again"), out)
    assert again.finish(raise_errors=False)  # the caller's own error wins: nothing raised here


def test_csv_neutralises_formula_text_but_not_money(tmp_path):
    out = tmp_path / "out"
    write_outputs(_result(tmp_path), out)
    rows = list(csv.DictReader(io.StringIO((out / "findings.csv").read_text(encoding="utf-8"))))
    names = {r["customer_name"] for r in rows if r["customer_id"] == "K-2"}
    assert names == {"'=HYPERLINK(\"http://evil.example\",\"click\")"}
    t1 = [r for r in rows if r["ticket_id"] == "T-1"]
    assert {r["kind"] for r in t1} == {"price_mismatch", "units_mismatch"}
    assert {r["delta_eur"] for r in t1} == {"7.50", "25.00"}
    assert {r["message"][:8] for r in t1} == {"line L-1", "1 entry:"}
    # money is a number, not text: a negative delta keeps its plain minus sign
    assert [r["delta_eur"] for r in rows if r["kind"] == "standard_billed"] == ["-17.50"]
    quarantine = (out / "quarantine.csv").read_text(encoding="utf-8")
    assert "\"'=cmd|' /C calc'!A0,,basic\"" in quarantine


@pytest.mark.parametrize(
    ("value", "expected"),
    [("=1+2", "'=1+2"), ("+49 30", "'+49 30"), ("-x", "'-x"), ("@SUM(A1)", "'@SUM(A1)"),
     ("\tx", "'\tx"), ("\rx", "'\rx"), ("Muster GmbH", "Muster GmbH"), ("", "")],
)
def test_neutralise_csv_cell(value, expected):
    assert neutralise_csv_cell(value) == expected


def test_json_money_is_strings(tmp_path):
    out = tmp_path / "out"
    write_outputs(_result(tmp_path), out, formats="json")
    lines = (out / "findings.jsonl").read_text(encoding="utf-8").splitlines()
    findings = [json.loads(line) for line in lines]
    assert len(findings) == pq.read_metadata(out / "findings.parquet").num_rows
    um = next(f for f in findings if f["kind"] == "units_mismatch")
    assert (um["expected_eur"], um["billed_eur"], um["delta_eur"], um["expected_units"]) == ("70.00", "45.00", "25.00", "4.00")
    assert isinstance(um["policy_line"], int)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    money = summary["money"]
    assert all(isinstance(v, str) for v in money.values())
    # T-1: 4 units × 17.50 = 70.00 expected, 45.00 billed → +25.00; T-2 is standard, billed 17.50
    assert money == {"under_billed_eur": "25.00", "over_billed_eur": "-17.50", "net_eur": "7.50",
                     "waived_eur": "0.00", "expected_eur": "70.00", "billed_eur": "62.50"}
    assert summary["rows"]["tickets"] == {"in": 4, "loaded": 3, "quarantined": 1}
    assert summary["findings"]["by_kind"]["units_mismatch"] == {"open": 1, "waived": 0, "delta_eur": "25.00"}
    assert summary["hours"] == {"standard": "0.33", "extended": "0.78", "unclassified": "0.00"}
    assert summary["tickets"] == {"audited": 2, "by_policy_tier": {"standard": 1, "extended": 1, "unclassified": 0}}
    assert summary["exit_code"] == 1 and summary["fail_on"] == "error"


def test_parquet_keeps_decimal_types_and_order(tmp_path):
    out = tmp_path / "out"
    res = _result(tmp_path)
    write_outputs(res, out)
    table = pq.read_table(out / "findings.parquet")
    assert table.schema.field("delta_eur").type == pa.decimal128(18, 2)
    assert table.schema.field("policy_line").type == pa.int64()
    assert table.column("finding_id").to_pylist() == res.findings.get_column("finding_id").to_list()
    rec = pl.read_parquet(out / "reconciliation.parquet")
    assert rec.filter(pl.col("ticket_id") == "T-1").get_column("delta_eur").to_list() == [D("25.00")]


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "x.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["x.txt"]


@pytest.fixture(scope="module")
def sample_written(tmp_path_factory):
    """The sample audit (every finding kind, SLA instants, quarantined rows) written in every
    format by the DuckDB writers."""
    from pathlib import Path

    from audit.api import run_audit

    root = Path(__file__).resolve().parent.parent
    result = run_audit(root / "policies", root / "sample_data", gx="off")
    out = tmp_path_factory.mktemp("sample-out")
    write_outputs(result, out, formats="parquet,csv,json")
    return result, out


def test_duckdb_csv_is_byte_identical_to_the_polars_writer(sample_written):
    """findings.csv and quarantine.csv as DuckDB writes them (neutralised in SQL) are the bytes
    the polars writer (:func:`audit.outputs.csv_text`, still used by actions.csv) gives."""
    from audit.outputs import _sorted_quarantine, csv_text

    result, out = sample_written
    assert result.findings.get_column("due_at").null_count() < result.findings.height
    expected = csv_text(result.findings)
    assert (out / "findings.csv").read_text(encoding="utf-8") == expected
    quarantine = csv_text(_sorted_quarantine(result.ingest.quarantine))
    assert (out / "quarantine.csv").read_text(encoding="utf-8") == quarantine


def test_jsonl_has_every_finding_with_exact_money(sample_written):
    result, out = sample_written
    rows = [json.loads(line) for line in (out / "findings.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["finding_id"] for r in rows] == result.findings.get_column("finding_id").to_list()
    assert list(rows[0]) == result.findings.columns
    for row, want in zip(rows, result.findings.iter_rows(named=True), strict=True):
        assert row["delta_eur"] == (None if want["delta_eur"] is None else f"{want['delta_eur']:.2f}")
        assert row["message"] == want["message"]
        assert (row["due_at"] is None) == (want["due_at"] is None)


def test_compare_outputs_finds_a_changed_amount(sample_written, tmp_path):
    """bench/compare_outputs.py (the before/after check of docs/outputs.md's writers): two sets
    of the same run match; one changed delta_eur is reported."""
    import shutil
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from compare_outputs import compare

    result, out = sample_written
    again = tmp_path / "again"
    write_outputs(result, again)
    assert compare(out, again) == []
    changed = tmp_path / "changed"
    shutil.copytree(again, changed)
    findings = pl.read_parquet(changed / "findings.parquet")
    findings = findings.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.col("delta_eur") + D("0.01"))
        .otherwise(pl.col("delta_eur")).alias("delta_eur"))
    findings.write_parquet(changed / "findings.parquet")
    assert "findings.delta_eur: values differ" in compare(out, changed)


def test_text_files_stream_from_parquet_in_order(tmp_path):
    """findings.csv / findings.jsonl are written by DuckDB from the Parquet file: across many
    row groups (scanned in parallel) the rows keep the file's order, the header comes once and
    formula text is neutralised everywhere."""
    import decimal

    import audit.outputs as outputs

    n = 50_000
    df = pl.DataFrame({"a": [f"=x{i}" if i % 3 == 0 else f"r{i}" for i in range(n)],
                       "d": [decimal.Decimal(i) / 4 for i in range(n)]}
                      ).with_columns(pl.col("d").cast(pl.Decimal(18, 2)))
    source = tmp_path / "t.parquet"
    pq.write_table(outputs._arrow(df), source, row_group_size=1_000)
    assert pq.ParquetFile(source).metadata.num_row_groups == 50
    writer = outputs._DuckWriter()
    try:
        writer.csv(source, tmp_path / "t.csv")
        writer.jsonl(source, tmp_path / "t.jsonl")
    finally:
        writer.close()
    assert (tmp_path / "t.csv").read_text(encoding="utf-8") == outputs.csv_text(df)
    rows = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["a"] for r in rows] == df.get_column("a").to_list()
    assert rows[29]["d"] == "7.25"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.jsonl", "t.parquet"]
