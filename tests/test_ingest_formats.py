"""Parquet and JSON exports go through the same typed parsing as CSV.

tests/fixtures/ingest/formats holds hand-written JSON (an array with a pretty-printed element and
JSON Lines with a blank line, a malformed line and a non-object); the Parquet files are written
by the tests with pyarrow, since their point is the column *types* (timestamps with and without
a zone, decimals, floats).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.db import connect
from audit.errors import DataError
from audit.ingest import load_data

FORMATS = Path(__file__).parent / "fixtures" / "ingest" / "formats"
UTC = dt.UTC


def write_tickets(path: Path) -> None:
    pq.write_table(pa.table({
        "ticket_id": ["T-1", "T-2", "T-3"],
        "customer_id": ["C-1", "C-2", "C-1"],
        "service_id": pa.array(["S-1", None, None], pa.string()),
        "opened_at": pa.array([dt.datetime(2026, 3, 5, 13, 30), dt.datetime(2026, 3, 6, 9, 0),
                               dt.datetime(2026, 3, 7, 9, 0)], pa.timestamp("us", tz="UTC")),
        # naive: local time in the policy's zone
        "resolved_at": pa.array([dt.datetime(2026, 3, 5, 15, 0), None, None], pa.timestamp("us")),
        "priority": ["normal", "low", "hihg"],
        "category": ["webdesign", "software_usage", "webdesign"],
        "tier": ["extended", "standard", "extended"],
    }), path)


def write_time_entries(path: Path) -> None:
    pq.write_table(pa.table({
        "entry_id": ["E-1", "E-2"],
        "ticket_id": ["T-1", "T-2"],
        "agent": ["anna", "bernd"],
        "started_at": ["05.03.2026 14:30", "2026-03-06 10:00"],
        "minutes": pa.array([Decimal("20.50"), Decimal("5.00")], pa.decimal128(10, 2)),
    }), path)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    data = tmp_path_factory.mktemp("formats") / "data"
    shutil.copytree(FORMATS, data)
    write_tickets(data / "tickets.parquet")
    write_time_entries(data / "time_entries.parquet")
    con = connect()
    result = load_data(con, data, timezone="Europe/Berlin", tier_ids=["standard", "extended"], gx="off")
    yield con, result
    con.close()


def qrows(result, table: str) -> list[dict]:
    return [r for r in result.quarantine.to_pylist() if r["table"] == table]


def test_counts_reconcile_for_every_format(loaded):
    _, result = loaded
    assert {t: (c.rows_in, c.loaded, c.quarantined, c.format) for t, c in result.tables.items()} == {
        "customers": (3, 2, 1, "json"),
        "services": (3, 3, 0, "json"),
        "tickets": (3, 2, 1, "parquet"),
        "time_entries": (2, 2, 0, "parquet"),
        "invoice_lines": (6, 3, 3, "json"),
    }
    assert result.tables["customers"].dialect == "JSON array, UTF-8"
    assert result.tables["services"].dialect == "JSON Lines, UTF-8"
    assert result.tables["tickets"].dialect == "Parquet"


def test_json_array_rows_are_numbered_and_keys_matched_case_insensitively(loaded):
    con, result = loaded
    assert con.execute("SELECT customer_id, name, _line FROM customers ORDER BY _line").fetchall() == [
        ("C-1", "Müller Webdesign GmbH", 1), ("C-2", "Beta AG", 2)]
    [row] = qrows(result, "customers")
    assert (row["line"], row["expectation"], row["column"]) == (3, "expect_column_values_to_not_be_null", "name")
    assert json.loads(row["raw"]) == {"customer_id": "C-3", "name": None, "contract": "basic"}
    assert "customers.json: ignored columns the contract does not know: 'crm_note'" in result.warnings


def test_json_lines_keep_physical_lines_and_json_booleans(loaded):
    con, _ = loaded
    assert con.execute("SELECT service_id, managed, _line FROM services ORDER BY _line").fetchall() == [
        ("S-1", True, 1), ("S-2", False, 2), ("S-3", True, 4)]


def test_json_numbers_are_read_from_their_text_never_as_floats(loaded):
    con, _ = loaded
    assert con.execute("SELECT line_id, quantity, unit_price, amount FROM invoice_lines ORDER BY _line").fetchall() == [
        ("L-1", Decimal("2.00"), Decimal("17.50"), Decimal("35.00")),
        ("L-2", Decimal("0.10"), Decimal("17.50"), Decimal("1.75")),
        ("L-6", Decimal("1.00"), Decimal("17.50"), Decimal("17.50")),
    ]


def test_broken_json_lines_are_quarantined_one_by_one(loaded):
    _, result = loaded
    got = [(r["line"], r["expectation"], r["column"], r["value"]) for r in qrows(result, "invoice_lines")]
    assert got == [
        (3, "too_many_decimals", "unit_price", "17.505"),
        (4, "parse_error", None, None),
        (5, "parse_error", None, None),
    ]
    rows = qrows(result, "invoice_lines")
    assert rows[1]["reason"].startswith("the record is not valid JSON (Expecting ',' delimiter")
    assert rows[1]["raw"].startswith('{"line_id": "L-4"')
    assert rows[2]["reason"].startswith("the record is not a JSON object")
    assert rows[2]["raw"] == '["L-5", "R-1"]'


def test_parquet_timestamps_with_and_without_zone(loaded):
    con, _ = loaded
    assert con.execute("SELECT opened_at, resolved_at FROM tickets WHERE ticket_id = 'T-1'").fetchall() == [
        (dt.datetime(2026, 3, 5, 13, 30, tzinfo=UTC), dt.datetime(2026, 3, 5, 14, 0, tzinfo=UTC))]
    assert con.execute("SELECT _line FROM tickets ORDER BY _line").fetchall() == [(1,), (2,)]


def test_parquet_decimals_and_text_dates(loaded):
    con, _ = loaded
    assert con.execute("SELECT entry_id, started_at, minutes, duration_seconds FROM time_entries ORDER BY _line").fetchall() == [
        ("E-1", dt.datetime(2026, 3, 5, 13, 30, tzinfo=UTC), Decimal("20.5000"), 1230),
        ("E-2", dt.datetime(2026, 3, 6, 9, 0, tzinfo=UTC), Decimal("5.0000"), 300),
    ]


def test_quarantined_parquet_row_shows_all_its_values(loaded):
    _, result = loaded
    [row] = qrows(result, "tickets")
    assert (row["line"], row["expectation"], row["value"]) == (3, "expect_column_values_to_be_in_set", "hihg")
    raw = json.loads(row["raw"])
    assert raw["ticket_id"] == "T-3" and raw["priority"] == "hihg" and raw["opened_at"].startswith("2026-03-07 09:00:00")


def test_float_money_in_parquet_is_read_by_its_shortest_text_with_a_warning(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(FORMATS, data)
    write_tickets(data / "tickets.parquet")
    write_time_entries(data / "time_entries.parquet")
    (data / "invoice_lines.jsonl").unlink()
    pq.write_table(pa.table({
        "line_id": ["L-1"], "invoice_id": ["R-1"], "customer_id": ["C-1"], "ticket_id": ["T-1"],
        "service_date": pa.array([dt.date(2026, 3, 5)], pa.date32()),
        "quantity": pa.array([0.1], pa.float64()),
        "unit_price": pa.array([17.5], pa.float64()),
        "amount": pa.array([1.75], pa.float64()),
    }), data / "invoice_lines.parquet")
    con = connect()
    result = load_data(con, data, timezone="Europe/Berlin", tier_ids=["standard", "extended"], gx="off")
    assert con.execute("SELECT service_date, quantity, unit_price, amount FROM invoice_lines").fetchall() == [
        (dt.date(2026, 3, 5), Decimal("0.10"), Decimal("17.50"), Decimal("1.75"))]
    assert any(w.startswith("invoice_lines.parquet: column 'amount' is binary floating point") for w in result.warnings)


def test_json_without_a_required_key_in_any_record_is_a_data_error(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(FORMATS, data)
    write_tickets(data / "tickets.parquet")
    write_time_entries(data / "time_entries.parquet")
    (data / "services.jsonl").write_text('{"service_id": "S-1", "customer_id": "C-1", "produkt": "x"}\n',
                                         encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_data(connect(), data, timezone="Europe/Berlin", tier_ids=["standard", "extended"], gx="off")
    assert err.value.exit_code == 3
    assert str(err.value) == (
        f"{data / 'services.jsonl'}:1: missing required columns 'product', 'managed' (the file has: "
        "service_id, customer_id, produkt; for 'product' did you mean 'produkt'?; add or rename the "
        "columns in the export)"
    )
