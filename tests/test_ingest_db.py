"""The audit's DuckDB connection (audit.db): settings, and what lock_down forbids."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from audit.db import compact, connect, fetch_row, lock_down, stored_bytes


def setting(con, name: str):
    return fetch_row(con, f"SELECT current_setting('{name}')")[0]


def test_connect_is_utc_in_memory_and_ordered():
    con = connect(threads=1)
    assert setting(con, "TimeZone") == "UTC"
    assert setting(con, "threads") == 1
    assert setting(con, "preserve_insertion_order") is True
    assert fetch_row(con, "SELECT current_database()")[0] == "memory"


def test_connect_rejects_zero_threads():
    with pytest.raises(ValueError, match="threads must be at least 1"):
        connect(threads=0)


def test_lock_down_forbids_files_and_settings_but_keeps_registered_arrow(tmp_path):
    (tmp_path / "x.csv").write_text("a\n1\n", encoding="utf-8")
    con = connect()
    lock_down(con)
    with pytest.raises(duckdb.PermissionException):
        con.execute(f"SELECT * FROM read_csv('{tmp_path / 'x.csv'}')")
    with pytest.raises(duckdb.Error, match="locked"):
        con.execute("SET enable_external_access = true")
    with pytest.raises(duckdb.PermissionException):
        con.execute(f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'")
    con.register("rows", pa.table({"a": [1, 2]}))
    assert con.execute("SELECT sum(a) FROM rows").fetchall() == [(3,)]
    # time zone conversions still work (ICU was loaded before the lock)
    assert fetch_row(con, "SELECT strftime(timezone('Europe/Berlin', TIMESTAMPTZ '2026-07-01 00:00+00'), '%H')")[0] == "02"


def test_fetch_row_leaves_the_connection_usable():
    con = connect()
    assert fetch_row(con, "SELECT 1, 'a'") == (1, "a")
    assert con.execute("SELECT 2").fetchall() == [(2,)]


def texts_table(con, name: str = "t", temp: bool = False) -> list:
    con.execute(f"""CREATE {'TEMP ' if temp else ''}TABLE {name} AS
                    SELECT i, 'ticket ' || (i % 1000) || ': ' || (i % 7) || ' entries' AS text,
                           CAST(i % 900 AS DECIMAL(18, 2)) AS eur
                    FROM range(300000) r(i)""")
    return con.execute(f"SELECT sum(i), sum(length(text)), sum(eur), min(text), max(text) FROM {name}").fetchall()


def test_compact_compresses_large_tables_and_changes_no_value():
    con = connect()
    totals = texts_table(con)
    lock_down(con)  # a run compacts after the lock: a checkpoint is neither a file nor a setting
    before, after = compact(con, at_least=1)
    assert before == stored_bytes(con) + (before - after) and after < before / 2, (before, after)
    assert con.execute("SELECT sum(i), sum(length(text)), sum(eur), min(text), max(text) FROM t").fetchall() == totals
    assert compact(con, at_least=1) == (after, after)  # nothing new: nothing changes


def test_compact_leaves_small_tables_alone():
    con = connect()
    texts_table(con)
    size = stored_bytes(con)
    assert compact(con, at_least=size + 1) is None
    assert stored_bytes(con) == size


def test_compact_cannot_compress_temp_tables():
    # why the engine makes its long-lived tables in the main schema
    con = connect()
    texts_table(con, temp=True)
    size = stored_bytes(con)
    assert compact(con, at_least=1) == (size, size)
