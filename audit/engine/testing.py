"""Build canonical tables from a few Python rows: for tests, notebooks and bug reports.

The engine reads the tables :mod:`audit.ingest` loads; this helper creates the same tables (the
contract's columns and DuckDB types, plus the ``_source_file``/``_line`` bookkeeping columns)
straight from dicts, so a test can state "this ticket, these two entries, this invoice line" and
check the audit's answer without writing export files.

Naive timestamps are read in ``timezone`` (as ingestion does); an explicit offset is kept.
``duration_seconds`` is derived as ingestion derives it: from ``ended_at`` when given, else
``minutes × 60``.
"""

from __future__ import annotations

from typing import Any

import duckdb

from audit.contract import TABLES, duckdb_type
from audit.engine.sql import ident, lit


def _cast(col, tz: str) -> str:
    v = ident(col.name)
    if col.type == "timestamp":
        return (
            f"CASE WHEN regexp_matches({v}, '(Z|[+-]\\d\\d:?\\d\\d)$') THEN CAST({v} AS TIMESTAMPTZ) "
            f"ELSE timezone({lit(tz)}, CAST({v} AS TIMESTAMP)) END"
        )
    return f"CAST({v} AS {duckdb_type(col)})"


def load_rows(
    con: duckdb.DuckDBPyConnection,
    rows: dict[str, list[dict[str, Any]]],
    *,
    timezone: str,
) -> None:
    """Create every canonical table on ``con`` from ``rows`` (missing tables are created empty)."""
    con.execute("SET TimeZone = 'UTC'")
    for name, table in TABLES.items():
        cols = [c for c in table.columns if c.name != "duration_seconds"]
        staging = f"_stage_{name}"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {ident(staging)} ("
            + ", ".join(f"{ident(c.name)} VARCHAR" for c in cols)
            + ", _line BIGINT)"
        )
        data = rows.get(name, [])
        for row in data:
            unknown = set(row) - {c.name for c in cols}
            if unknown:
                raise KeyError(f"{name}: unknown column(s) {sorted(unknown)}")
        if data:
            con.executemany(
                f"INSERT INTO {ident(staging)} VALUES ({', '.join('?' for _ in cols)}, ?)",
                [
                    [None if r.get(c.name) is None else str(r[c.name]) for c in cols] + [i]
                    for i, r in enumerate(data, start=2)
                ],
            )
        select = ", ".join(f"{_cast(c, timezone)} AS {ident(c.name)}" for c in cols)
        derived = ""
        if name == "time_entries":
            derived = (
                ", CAST(CASE WHEN ended_at IS NOT NULL THEN date_diff('second', started_at, ended_at)"
                " ELSE minutes * 60 END AS BIGINT) AS duration_seconds"
            )
        con.execute(
            f"""
            CREATE OR REPLACE TABLE {ident(name)} AS
            WITH typed AS (SELECT {select}, _line FROM {ident(staging)})
            SELECT * EXCLUDE (_line){derived}, {lit(name + ".csv")} AS _source_file, _line
            FROM typed ORDER BY _line
            """
        )
        con.execute(f"DROP TABLE {ident(staging)}")
