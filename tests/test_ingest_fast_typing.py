"""The fast path (DuckDB's Parquet reader, cheap typing of clean rows) gives exactly what the
careful path (chunks, every row through the careful parser) gives: same tables in the same row
order, same quarantine (raw text, reasons, lines), counts, warnings and contract evidence.

If a change to either path makes them diverge, these tests fail; each also checks that both
kinds of rows really occur, so they cannot pass by one path doing all the work.
"""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.contract import Column, Table
from audit.db import connect
from audit.ingest import load_data
from audit.ingest.fasttype import CLEAN, fast_query
from audit.ingest.parse import DEFAULT_DATES, create_zone_days, parse_query

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
SAMPLE = Path(__file__).parent.parent / "sample_data"
TIERS = ["standard", "extended"]
TZ = "Europe/Berlin"
UTC = dt.UTC


def load(data: Path, careful: bool) -> tuple[dict, dict]:
    """Everything a load produces, as plain values."""
    con = connect()
    try:
        result = load_data(con, data, timezone=TZ, tier_ids=TIERS, gx="off", careful=careful)
        # rows as stored (insertion order matters to nothing documented, but keep it equal too)
        tables = {name: con.execute(f'SELECT * FROM "{name}"').fetchall() for name in result.tables}
    finally:
        con.close()
    return tables, evidence(result)


def evidence(result) -> dict:
    """A load's evidence as plain values: counts, quarantine, warnings, contract checks, input
    fingerprints (tests/test_spark_ingest.py compares the two engines' loads by it too)."""
    return {
        "counts": result.tables,
        "quarantine": result.quarantine.to_pylist(),
        "warnings": result.warnings,
        "checks": result.contract_checks,
        "hashes": result.input_hashes,
    }


def assert_same(data: Path) -> dict:
    fast = load(data, careful=False)
    careful = load(data, careful=True)
    assert fast[0].keys() == careful[0].keys()
    for name in fast[0]:
        assert fast[0][name] == careful[0][name], name
    assert fast[1] == careful[1]
    return fast[1]


@pytest.mark.parametrize("fixture", ["messy", "clean", "formats"])
def test_fast_path_equals_careful_path_on_the_fixtures(tmp_path, fixture):
    data = tmp_path / fixture
    shutil.copytree(FIXTURES / fixture, data)
    if fixture == "formats":  # the formats test writes its Parquet files itself
        from tests.test_ingest_formats import write_tickets, write_time_entries

        write_tickets(data / "tickets.parquet")
        write_time_entries(data / "time_entries.parquet")
    evidence = assert_same(data)
    if fixture == "messy":
        assert len(evidence["quarantine"]) > 20  # the careful path really had work


def test_fast_path_equals_careful_path_on_the_sample(tmp_path):
    shutil.copytree(SAMPLE, tmp_path / "sample")
    evidence = assert_same(tmp_path / "sample")
    assert evidence["quarantine"] and sum(c.loaded for c in evidence["counts"].values()) > 3000


def edge_parquet(data: Path) -> None:
    """Parquet exports whose native values sit on every edge of the cheap forms."""
    shutil.copytree(FIXTURES / "clean", data)
    (data / "time_entries.csv").unlink()
    (data / "invoice_lines.csv").unlink()
    ts = pa.timestamp("us", tz="UTC")
    pq.write_table(pa.table({
        "entry_id": ["E-1", " E-2 ", "E-3", "E-4", "E-5", "E-6", "E-7", "E-1"],
        "ticket_id": ["T-1"] * 8,
        "agent": ["anna", "anna\u00a0", "", None, "bernd", "bernd", "bernd", "anna"],
        "started_at": pa.array([dt.datetime(2026, 3, 5, 9, tzinfo=UTC), dt.datetime(2026, 3, 5, 9, tzinfo=UTC),
                                dt.datetime(1960, 1, 1, tzinfo=UTC), dt.datetime(2026, 3, 5, 9, 0, 0, 123456, tzinfo=UTC),
                                None, dt.datetime(2200, 1, 1, tzinfo=UTC), dt.datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
                                dt.datetime(2026, 3, 5, 9, tzinfo=UTC)], ts),
        "ended_at": pa.array([dt.datetime(2026, 3, 5, 10, tzinfo=UTC)] * 8, ts),
        # 4 decimals allowed: 6 are read as text and set aside when they carry information
        "minutes": pa.array([Decimal("60.000000"), Decimal("59.500000"), Decimal("1.000001"), None,
                             Decimal("-5"), Decimal("60"), Decimal("60"), Decimal("60")], pa.decimal128(18, 6)),
    }), data / "time_entries.parquet")
    pq.write_table(pa.table({
        "line_id": ["L-1", "L-2", "L-3", "L-4", "L-5"],
        "invoice_id": ["I-1"] * 5,
        "customer_id": ["C-1"] * 5,
        "ticket_id": ["T-1"] * 5,
        "service_date": pa.array([dt.date(2026, 3, 5), dt.date(1900, 1, 1), None, dt.date(2026, 3, 6),
                                  dt.date(2101, 1, 1)], pa.date32()),
        "quantity": pa.array([1, 2, None, -1, 3], pa.int64()),  # integers as money
        "unit_price": pa.array([Decimal("17.5"), Decimal("17.5"), Decimal("-17.5"), None, Decimal("17.5")],
                               pa.decimal128(9, 1)),
        "amount": pa.array([Decimal("17.50"), Decimal("35.00"), None, Decimal("99999999999999999.99"),
                            Decimal("52.50")], pa.decimal128(38, 2)),
    }), data / "invoice_lines.parquet")


def test_fast_path_equals_careful_path_on_native_parquet_edges(tmp_path):
    data = tmp_path / "edges"
    edge_parquet(data)
    evidence = assert_same(data)
    found = {(q["table"], q["line"], q["expectation"]) for q in evidence["quarantine"]}
    # instants and dates out of range, a decimal too precise or too large for the column take
    # the careful path and are quarantined for it; rows 1-2 of each file load (fast)
    assert {("time_entries", 3, "too_many_decimals"), ("time_entries", 3, "date_out_of_range"),
            ("time_entries", 6, "date_out_of_range"), ("time_entries", 8, "expect_column_values_to_be_unique"),
            ("invoice_lines", 2, "date_out_of_range"), ("invoice_lines", 4, "parse_error"),
            ("invoice_lines", 5, "date_out_of_range")} <= found
    assert evidence["counts"]["time_entries"].loaded == 2
    assert evidence["counts"]["invoice_lines"].loaded == 1


# -- the cheap forms, value by value ---------------------------------------------------------------

KINDS = {
    "s": Column("s", "string", "", nullable=True),
    "b": Column("b", "boolean", "", nullable=True),
    "i": Column("i", "integer", "", nullable=True),
    "d": Column("d", "decimal", "", nullable=True, scale=2),
    "d0": Column("d0", "decimal", "", nullable=True, scale=0),
    "day": Column("day", "date", "", nullable=True),
    "ts": Column("ts", "timestamp", "", nullable=True),
}

TEXTS = {
    "s": ["x", " x ", "\u00a0x", "", "  ", "x\t", "\u00e9", "a\u0301 ", None],
    "b": ["ja", "NEIN", "true", "1", "0", "y", "maybe", "", " ja ", None],
    "i": ["5", "+5", "-5", "05", "5.0", "1e3", "99999999999999999999", " 7 ", "", None],
    "d": ["1", "1.5", "1.50", "1.500", "1.505", "+1.5", "-0.01", ".5", "1.", "1,5", "1.234,56",
          "1,234.56", "1e2", "0x10", "99999999999999999.99", "999999999999999999.99", " 2.5 ", "", None],
    "d0": ["1", "1.0", "1.5", "-3", None],
    "day": ["2026-03-05", "2026-3-5", "05.03.2026", "2026-02-30", "1969-12-31", "1970-01-01",
            "2100-12-31", "2101-01-01", "2026-03-05 00:00", "2026-03-05T00:00:00", "20260305", None],
    "ts": ["2026-03-05T14:30:00+01:00", "2026-03-05 14:30:00Z", "2026-03-05T14:30:00+0100",
           "2026-03-05T14:30:00+01", "2026-03-05T14:30:00.123456+00", "2026-03-05T14:30:00+15",
           "2026-03-05T14:30:00+14", "2026-02-30T10:00:00Z", "2026-03-05 14:30", "05.03.2026 14:30",
           "2026-03-29 02:30", "2026-10-25 02:30", "1969-12-31T23:59:59Z", "2101-01-01T00:00:00Z",
           "2100-12-31T23:00:00-01:00", "  2026-03-05T14:30:00Z ", "2026-03-05T14:30:00 +01:00", None],
}


def checked(kind: str, make) -> list[bool]:
    """Type the one-column relation ``rel`` that ``make(con)`` creates both ways; assert that
    every row the fast path calls clean has the careful path's values and no error there.
    Returns the clean flags, in line order."""
    con = connect()
    create_zone_days(con, TZ)
    table = Table("t", "", kind, (KINDS[kind],))
    make(con)
    types = {r[0]: r[1] for r in con.execute("DESCRIBE SELECT * FROM rel").fetchall()}
    fast = con.execute(f"SELECT {kind}, {CLEAN} FROM ({fast_query(table, types, 'rel')}) ORDER BY _line").fetchall()
    careful = parse_query(table, {kind}, TZ, "rel")
    error = ", ".join(f'"{e}"' for e in careful.errors)
    slow = con.execute(f"SELECT {kind}, coalesce({error}) FROM ({careful.sql}) ORDER BY _line").fetchall()
    con.close()
    for (value, clean), (careful_value, careful_error) in zip(fast, slow, strict=True):
        if clean:
            assert careful_error is None and value == careful_value, (value, careful_value, careful_error)
    return [clean for _, clean in fast]


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_clean_text_value_is_typed_as_the_careful_path_types_it(kind):
    values = TEXTS[kind]
    clean = checked(kind, lambda con: con.execute(
        f"CREATE TABLE rel AS SELECT unnest(?::VARCHAR[]) AS {kind}, "
        f"unnest(range(1, {len(values) + 1})) AS _line", [values]))
    # the cheap forms take the canonical spellings, and leave the rest to the careful path
    assert any(clean) and (kind == "s" or not all(clean))


NATIVE = {
    "b": pa.array([True, False, None]),
    "i": pa.array([5, None, 2**62, 2**63 + 5], pa.uint64()),  # the last does not fit a BIGINT
    "d": pa.array([Decimal("1.5"), Decimal("-0.01"), None, Decimal("1.10"), Decimal("1.11")], pa.decimal128(5, 2)),
    "d0": pa.array([Decimal("1.5"), Decimal("2.0"), None], pa.decimal128(5, 1)),
    "day": pa.array([dt.date(2026, 3, 5), dt.date(1969, 12, 31), dt.date(2101, 1, 1), None, dt.date(1, 1, 1)]),
    "ts": pa.array([dt.datetime(2026, 3, 5, 14, 30, tzinfo=UTC), dt.datetime(1960, 1, 1, tzinfo=UTC),
                    dt.datetime(2101, 1, 1, tzinfo=UTC), dt.datetime(2100, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                    dt.datetime(1, 1, 1, tzinfo=UTC), None], pa.timestamp("us", tz="UTC")),
}


@pytest.mark.parametrize("kind", list(NATIVE))
def test_a_clean_native_value_is_typed_as_the_careful_path_types_it(kind):
    values = NATIVE[kind]
    frame = pa.table({kind: values, "_line": pa.array(range(1, len(values) + 1), pa.int64())})
    clean = checked(kind, lambda con: con.register("rel", frame))
    assert any(clean)
    if kind not in ("b", "d"):  # out-of-range and too-precise values take the careful path
        assert not all(clean)


def test_out_of_range_dates_follow_the_policys_bounds():
    con = connect()
    table = Table("t", "", "day", (KINDS["day"],))
    con.execute("CREATE TABLE rel AS SELECT * FROM (VALUES ('2026-03-05', 1), ('2027-01-01', 2)) v(day, _line)")
    dates = (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    rows = con.execute(f"SELECT {CLEAN} FROM ({fast_query(table, {'day': 'VARCHAR'}, 'rel', dates=dates)}) "
                       "ORDER BY _line").fetchall()
    assert rows == [(True,), (False,)]
    assert DEFAULT_DATES[0] < dates[0]


def test_late_great_expectations_gives_the_same_evidence_on_first_read():
    def evidence(gx_late: bool) -> tuple:
        con = connect()
        try:
            result = load_data(con, FIXTURES / "messy", timezone=TZ, tier_ids=TIERS, gx="full",
                               gx_late=gx_late)
            waited_before = "gx" in result.timings
            got = (result.warnings, result.contract_checks, result.gx_results)
            return waited_before, "gx" in result.timings, got
        finally:
            con.close()

    late, on_time = evidence(True), evidence(False)
    assert late[:2] == (False, True)  # returned before GX answered; the first read waited
    assert on_time[:2] == (True, True)
    assert late[2] == on_time[2]
    assert late[2][2] and any(c["agree"] for c in late[2][1])  # GX really ran and compared
