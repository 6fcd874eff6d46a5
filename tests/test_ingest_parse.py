"""Typed parsing of single values, as the vectorised SQL does it (audit.ingest.parse)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pyarrow as pa
import pytest

from audit.contract import contract_for
from audit.db import connect
from audit.ingest.parse import create_zone_days, parse_query, pretrim

CONTRACT = contract_for(["standard", "extended"])
UTC = dt.UTC
_zone_days: dict[int, str] = {}  # connection -> zone whose day table it holds


@pytest.fixture(scope="module")
def con():
    c = connect()
    yield c
    c.close()


def parse(con, table: str, column: str, values: list[str | None], tz: str = "Europe/Berlin",
          extra: dict[str, list] | None = None,
          dates: tuple[dt.date, dt.date] = (dt.date(1900, 1, 1), dt.date(2999, 12, 31))) -> list[tuple]:
    """(typed value, error code) for each text value of ``table.column``."""
    if _zone_days.get(id(con)) != tz:
        create_zone_days(con, tz)
        _zone_days[id(con)] = tz
    data = {column: pa.array(values, pa.string()), **(extra or {}),
            "_line": pa.array(range(len(values)), pa.int64())}
    con.register("_t_chunk", pa.table(data))
    try:
        q = parse_query(CONTRACT[table], set(data) - {"_line"}, tz, "_t_chunk", dates=dates)
        return con.execute(f'SELECT "{column}", "__e_{column}" FROM ({q.sql}) ORDER BY _line').fetchall()
    finally:
        con.unregister("_t_chunk")


@pytest.mark.parametrize(("text", "expected"), [
    ("17,50", Decimal("17.50")),
    ("17.50", Decimal("17.50")),
    ("1.234,56", Decimal("1234.56")),
    ("1,234.56", Decimal("1234.56")),
    ("1.234.567", Decimal("1234567.00")),
    ("-1,5", Decimal("-1.50")),
    ("+2", Decimal("2.00")),
    (",5", Decimal("0.50")),
    ("  12,00\u00a0", Decimal("12.00")),  # spaces and a no-break space around it
    ("1,500", Decimal("1.50")),  # one separator is the decimal one; the extra 0 carries nothing
])
def test_decimal_spellings(con, text, expected):
    [(value, error)] = parse(con, "invoice_lines", "amount", [text])
    assert (value, error) == (expected, None)


@pytest.mark.parametrize(("text", "error"), [
    ("1,255", "too_many_decimals"),
    ("0.001", "too_many_decimals"),
    ("abc", "parse_error"),
    ("1.2.3", "parse_error"),
    ("12,50 €", "parse_error"),
    ("1e3", "parse_error"),
    ("12345678901234567", "parse_error"),  # does not fit DECIMAL(18,2)
])
def test_decimals_that_are_not_loaded(con, text, error):
    assert parse(con, "invoice_lines", "amount", [text]) == [(None, error)]


def test_minutes_allow_four_decimals(con):
    assert parse(con, "time_entries", "minutes", ["12,3456", "12,34567", None, ""]) == [
        (Decimal("12.3456"), None), (None, "too_many_decimals"), (None, None), (None, None)]


def test_booleans(con):
    words = ["true", "FALSE", "1", "0", "yes", "No", "ja", "NEIN", "Wahr", "falsch", "j", "n", "t", "f"]
    got = parse(con, "services", "managed", [*words, "maybe", ""])
    assert [v for v, _ in got[:-2]] == [True, False, True, False, True, False, True, False,
                                       True, False, True, False, True, False]
    assert got[-2:] == [(None, "parse_error"), (None, None)]


@pytest.mark.parametrize(("text", "expected_utc"), [
    ("25.11.2026", dt.datetime(2026, 11, 24, 23, 0)),
    ("25.11.2026 14:30", dt.datetime(2026, 11, 25, 13, 30)),
    ("25.11.2026 14:30:05", dt.datetime(2026, 11, 25, 13, 30, 5)),
    ("5.3.2026 9:05", dt.datetime(2026, 3, 5, 8, 5)),
    ("2026-03-05 14:30", dt.datetime(2026, 3, 5, 13, 30)),
    ("2026-03-05 14:30:00", dt.datetime(2026, 3, 5, 13, 30)),
    ("2026-03-05T14:30:00.250", dt.datetime(2026, 3, 5, 13, 30, 0, 250000)),
    ("2026-07-05 14:30", dt.datetime(2026, 7, 5, 12, 30)),  # summer time: +02:00
    ("2026-03-05T14:30:00+01:00", dt.datetime(2026, 3, 5, 13, 30)),
    ("2026-03-05T14:30:00-05:00", dt.datetime(2026, 3, 5, 19, 30)),
    ("2026-03-05 14:30:00Z", dt.datetime(2026, 3, 5, 14, 30)),
    ("2026-03-05T14:30+0100", dt.datetime(2026, 3, 5, 13, 30)),
    ("2026-03-05 13:30:00+00", dt.datetime(2026, 3, 5, 13, 30)),  # how DuckDB prints TIMESTAMPTZ
])
def test_timestamp_spellings(con, text, expected_utc):
    assert parse(con, "tickets", "opened_at", [text]) == [(expected_utc.replace(tzinfo=UTC), None)]


@pytest.mark.parametrize("text", ["31.02.2026 10:00", "05.03.26", "2026-03-05 25:00", "yesterday",
                                  "2026-03-05T14:30:00+25:00", "03/05/2026"])
def test_unreadable_timestamps(con, text):
    assert parse(con, "tickets", "opened_at", [text]) == [(None, "parse_error")]


def test_dst_edges_in_berlin(con):
    got = parse(con, "tickets", "opened_at",
                ["2026-10-25 01:59", "2026-10-25 02:00", "2026-10-25 02:30", "2026-10-25 03:00",
                 "2026-03-29 01:59", "2026-03-29 02:00", "2026-03-29 02:59", "2026-03-29 03:00"])
    assert got == [
        (dt.datetime(2026, 10, 24, 23, 59, tzinfo=UTC), None),
        (dt.datetime(2026, 10, 25, 0, 0, tzinfo=UTC), None),   # first of the two 02:00
        (dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC), None),  # the semantics.md example
        (dt.datetime(2026, 10, 25, 2, 0, tzinfo=UTC), None),
        (dt.datetime(2026, 3, 29, 0, 59, tzinfo=UTC), None),
        (None, "nonexistent_local_time"),
        (None, "nonexistent_local_time"),
        (dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC), None),
    ]


@pytest.mark.parametrize(("zone", "year"), [
    ("Europe/Berlin", 2026), ("America/New_York", 2026), ("Australia/Lord_Howe", 2026), ("UTC", 2026),
    ("Europe/Berlin", 2150),  # beyond the precomputed day table: the per-row fallback
])
def test_local_times_match_python_zoneinfo_fold_0_for_a_whole_year(con, zone, year):
    """Every quarter hour of a year (Lord Howe shifts by 30 minutes) against the standard library."""
    z = zoneinfo.ZoneInfo(zone)
    start = dt.datetime(year, 1, 1)
    naive = [start + dt.timedelta(minutes=15 * i) for i in range(365 * 96)]
    got = parse(con, "tickets", "opened_at", [t.strftime("%Y-%m-%d %H:%M") for t in naive], tz=zone)
    mismatches = []
    for t, (value, error) in zip(naive, got, strict=True):
        local = t.replace(tzinfo=z)  # fold=0: the first occurrence
        exists = local.astimezone(UTC).astimezone(z).replace(tzinfo=None) == t
        expected = (local.astimezone(UTC), None) if exists else (None, "nonexistent_local_time")
        if (value, error) != expected:
            mismatches.append((t, value, error, expected))
    assert mismatches == []


def test_dates_outside_the_range_are_date_out_of_range(con):
    """Default 1970-01-01 … 2100-12-31: naive values as local time, offset values as UTC."""
    default = (dt.date(1970, 1, 1), dt.date(2100, 12, 31))
    got = parse(con, "tickets", "opened_at",
                ["1969-12-31 23:59", "1970-01-01 00:00", "2100-12-31 23:59", "2101-01-01 00:00",
                 "0001-01-01 00:00", "0001-01-01T00:00:00+01:00", "1970-01-01T00:30:00+01:00"],
                dates=default)
    assert [e for _, e in got] == ["date_out_of_range", None, None, "date_out_of_range",
                                   "date_out_of_range", "date_out_of_range", "date_out_of_range"]
    got = parse(con, "invoice_lines", "service_date", ["31.12.1969", "01.01.1970", "2100-12-31",
                                                       "2101-01-01", "0001-01-01"], dates=default)
    assert [e for _, e in got] == ["date_out_of_range", None, None, "date_out_of_range",
                                   "date_out_of_range"]


def test_dates_accept_iso_german_and_midnight_times(con):
    got = parse(con, "invoice_lines", "service_date",
                ["2026-03-05", "05.03.2026", "5.3.2026", "2026-03-05 00:00:00", "2026-03-05T00:00",
                 "2026-03-05 10:00", "2026-02-30", "5.3.26"])
    d = dt.date(2026, 3, 5)
    assert got == [(d, None)] * 5 + [(None, "parse_error")] * 3


def test_duration_is_rounded_to_whole_seconds(con):
    data = {"started_at": ["2026-03-05 10:00:00", "2026-03-05 10:00:00", "2026-03-05 10:00:00.600"],
            "ended_at": [None, None, "2026-03-05 10:00:01"]}
    got = parse(con, "time_entries", "minutes", ["1,3333", "0,0083", None],
                extra={k: pa.array(v, pa.string()) for k, v in data.items()})
    assert [v for v, _ in got] == [Decimal("1.3333"), Decimal("0.0083"), None]
    create_zone_days(con, "UTC")
    _zone_days[id(con)] = "UTC"
    con.register("_t_chunk", pa.table({"minutes": ["1,3333", "0,0083", None], **data, "_line": [0, 1, 2]}))
    try:
        q = parse_query(CONTRACT["time_entries"], {"minutes", "started_at", "ended_at"}, "UTC", "_t_chunk")
        durations = [r[0] for r in con.execute(f"SELECT duration_seconds FROM ({q.sql}) ORDER BY _line").fetchall()]
    finally:
        con.unregister("_t_chunk")
    # 1.3333 min = 79.998 s -> 80 s; 0.0083 min = 0.498 s -> 0 s; 0.4 s between the ends -> 0 s
    assert durations == [80, 0, 0]


@pytest.mark.parametrize(("table", "column"), [("tickets", "subject"), ("tickets", "opened_at"),
                                               ("invoice_lines", "quantity"), ("services", "managed")])
def test_arrow_pretrim_equals_sql_trim(con, table, column):
    """Trimming in Arrow (pretrim, the loader's path) types every value as the SQL trim does."""
    ws = [" ", "\t", "\r", "\n", "\u00a0"]
    cores = ["x", "2026-03-05 14:30", "1,5", "ja", "a b", "\u00a0a\u00a0b", "", "Grüße"]
    values = [None, "", " ", "\u00a0\t", *cores]
    values += [f"{a}{c}{b}" for a in ws for b in ["", *ws] for c in cores]
    create_zone_days(con, "Europe/Berlin")
    _zone_days[id(con)] = "Europe/Berlin"
    data = pa.table({column: pa.array(values, pa.string()), "_line": pa.array(range(len(values)), pa.int64())})
    results = []
    for use_arrow in (False, True):
        chunk, trimmed = pretrim(data) if use_arrow else (data, frozenset())
        assert trimmed == (frozenset({column}) if use_arrow else frozenset())
        con.register("_t_chunk", chunk)
        try:
            q = parse_query(CONTRACT[table], {column}, "Europe/Berlin", "_t_chunk", trimmed)
            results.append(con.execute(
                f'SELECT "{column}", "__e_{column}", "__r_{column}" FROM ({q.sql}) ORDER BY _line').fetchall())
        finally:
            con.unregister("_t_chunk")
    assert results[0] == results[1]
    assert len(results[0]) == len(values)

