"""The transition-table conversion to local time equals DuckDB's ``timezone()`` (ICU) exactly."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from audit.db import connect
from audit.engine.localtime import MAX_YEARS, local_timestamp_sql, offset_transitions

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC",
         "America/St_Johns", "Pacific/Chatham"]


def _instants() -> list[dt.datetime]:
    """Random instants over three years, plus every second-ish around the Berlin and
    New York changes of 2026 (and microseconds either side of the exact second)."""
    rng = random.Random(5)
    base = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    out = [base + dt.timedelta(seconds=rng.randrange(3 * 366 * 86400), microseconds=rng.randrange(10**6))
           for _ in range(3000)]
    for change in (dt.datetime(2026, 3, 29, 1, tzinfo=dt.UTC), dt.datetime(2026, 10, 25, 1, tzinfo=dt.UTC),
                   dt.datetime(2026, 3, 8, 7, tzinfo=dt.UTC), dt.datetime(2026, 11, 1, 6, tzinfo=dt.UTC)):
        for delta_us in (-3_600_000_001, -1_000_000, -1, 0, 1, 999_999, 1_000_000, 3_600_000_000):
            out.append(change + dt.timedelta(microseconds=delta_us))
    return out


@pytest.mark.parametrize("tz", ZONES)
def test_equals_icu_for_every_value(tz):
    con = connect()
    con.execute("CREATE TABLE t (ts TIMESTAMPTZ)")
    con.executemany("INSERT INTO t VALUES (?)", [[v] for v in _instants()] + [[None]])
    sql = local_timestamp_sql(con, tz, "t", "ts")
    assert "timezone(" not in sql  # the fast path was taken
    wrong = con.execute(
        f"SELECT count(*) FROM t WHERE ({sql}) IS DISTINCT FROM timezone('{tz}', ts)"
    ).fetchall()[0][0]
    assert wrong == 0


def test_transitions_of_berlin_2026_are_the_known_instants():
    con = connect()
    con.execute("CREATE TABLE t AS SELECT TIMESTAMPTZ '2026-01-15 00:00:00+00' AS ts "
                "UNION ALL SELECT TIMESTAMPTZ '2026-12-15 00:00:00+00'")
    first, transitions = offset_transitions(con, "Europe/Berlin", "t", "ts")
    hour = 3_600_000_000
    assert first == hour
    assert transitions == [
        (int(dt.datetime(2026, 3, 29, 1, tzinfo=dt.UTC).timestamp()), 2 * hour),
        (int(dt.datetime(2026, 10, 25, 1, tzinfo=dt.UTC).timestamp()), hour),
    ]


def test_empty_or_very_long_ranges_fall_back_to_icu():
    con = connect()
    con.execute("CREATE TABLE e (ts TIMESTAMPTZ)")
    assert local_timestamp_sql(con, "Europe/Berlin", "e", "ts") == "timezone('Europe/Berlin', \"ts\")"
    con.execute("CREATE TABLE w AS SELECT TIMESTAMPTZ '1950-01-01 00:00:00+00' AS ts "
                f"UNION ALL SELECT TIMESTAMPTZ '{1950 + MAX_YEARS + 2}-01-01 00:00:00+00'")
    assert local_timestamp_sql(con, "Europe/Berlin", "w", "ts").startswith("timezone(")
