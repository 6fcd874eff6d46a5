"""The quarantine while it is being collected: a DuckDB temp table, filled by every stage.

Rows arrive from three places: the readers (records that could not be split into fields), the
typed parsing (values that could not be read) and the contract checks (rows that break an
expectation). Each carries the table's load order and a stage sequence number so that the final
quarantine is sorted deterministically: by table (load order), line, stage, column.

The raw text of a record is filled in at the end (:meth:`Quarantine.fill_raw`) from the reader,
only for the lines that are actually quarantined.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from audit.db import carry, fetch_row
from audit.engine.sql import lit
from audit.ingest.readers import Problem
from audit.ingest.result import QUARANTINE_SCHEMA

TABLE = "_ingest_quarantine"
RAW = "_ingest_quarantine_raw"  # (table, line, raw) of records whose text the reader fetched

#: Stage sequence numbers (the sort key inside a line).
SEQ_STRUCTURE = 0
SEQ_PARSE = 1
SEQ_DERIVED = 2
SEQ_CONTRACT = 3  # + the expectation's index in the contract


class Quarantine:
    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {TABLE} (table_order INTEGER, seq INTEGER, "
            '"table" VARCHAR, source_file VARCHAR, line BIGINT, expectation VARCHAR, '
            '"column" VARCHAR, value VARCHAR, reason VARCHAR, raw VARCHAR)'
        )
        con.execute(f'CREATE OR REPLACE TEMP TABLE {RAW} ("table" VARCHAR, line BIGINT, raw VARCHAR)')

    def add_problems(self, order: int, table: str, source_file: str, problems: list[Problem]) -> None:
        if not problems:
            return
        rows = pa.table({
            "line": pa.array([p.line for p in problems], pa.int64()),
            "expectation": [p.expectation for p in problems],
            "column": pa.array([p.column for p in problems], pa.string()),
            "value": pa.array([p.value for p in problems], pa.string()),
            "reason": [p.reason for p in problems],
            "raw": [p.raw for p in problems],
        })
        self.con.register("_ingest_problems", rows)
        try:
            self.con.execute(
                f"INSERT INTO {TABLE} SELECT {order}, {SEQ_STRUCTURE}, {lit(table)}, {lit(source_file)}, "
                'line, expectation, "column", value, reason, raw FROM _ingest_problems'
            )
        finally:
            self.con.unregister("_ingest_problems")

    def add_rows(self, order: int, table: str, source_file: str,
                 parts: list[tuple[int, str, str]], source=None) -> None:  # noqa: ANN001
        """Quarantine the rows of each ``(seq, column, select)`` in one statement.

        Each ``select`` yields ``_line``, ``expectation``, ``value`` and ``reason``. ``source``:
        the connection the selects run on, when it is not the quarantine's own (the Spark
        loader's data); their rows are fetched from it (as few as are set aside).
        """
        if not parts:
            return
        union = " UNION ALL ".join(
            f"SELECT {seq} AS seq, {lit(column)} AS column_name, * FROM ({select})"
            for seq, column, select in parts
        )
        foreign = source is not None and source is not self.con
        if foreign:
            carry(source, union, self.con, "_ingest_found")
            union = "SELECT * FROM _ingest_found"
        self.con.execute(
            f"INSERT INTO {TABLE} SELECT {order}, seq, {lit(table)}, {lit(source_file)}, _line, "
            f"expectation, column_name, value, reason, NULL FROM ({union})"
        )
        if foreign:
            self.con.execute("DROP TABLE _ingest_found")

    def lines_of(self, table: str) -> str:
        """SQL relation of the quarantined lines of ``table``."""
        return f'(SELECT line FROM {TABLE} WHERE "table" = {lit(table)})'

    def count(self, table: str) -> int:
        return fetch_row(
            self.con, f'SELECT count(DISTINCT line) FROM {TABLE} WHERE "table" = ?', [table]
        )[0]

    def lines_without_raw(self, table: str) -> list[int]:
        rows = self.con.execute(
            f'SELECT DISTINCT line FROM {TABLE} WHERE "table" = ? AND raw IS NULL ORDER BY line', [table]
        ).fetchall()
        return [r[0] for r in rows]

    def fill_raw(self, table: str, raw: dict[int, str]) -> None:
        """Record the raw text of ``table``'s quarantined ``line`` → text (for rows without one).

        Kept beside the quarantine and joined in :meth:`to_arrow`: an ``UPDATE`` of the
        quarantine's text column took seconds on a large run, an insert takes milliseconds."""
        if not raw:
            return
        lines = pa.table({"line": pa.array(list(raw), pa.int64()), "raw": list(raw.values())})
        self.con.register("_ingest_raw", lines)
        try:
            self.con.execute(f"INSERT INTO {RAW} SELECT ?, line, raw FROM _ingest_raw", [table])
        finally:
            self.con.unregister("_ingest_raw")

    def to_arrow(self) -> pa.Table:
        columns = ", ".join(
            'coalesce(q.raw, r.raw) AS raw' if name == "raw" else f'q."{name}"'
            for name in QUARANTINE_SCHEMA.names
        )
        table = self.con.sql(
            f'SELECT {columns} FROM {TABLE} q LEFT JOIN {RAW} r ON r."table" = q."table" AND r.line = q.line '
            'ORDER BY q.table_order, q.line, q.seq, q."column" NULLS FIRST, q.expectation'
        ).to_arrow_table()
        return table.cast(QUARANTINE_SCHEMA)

    def drop(self) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {TABLE}")
        self.con.execute(f"DROP TABLE IF EXISTS {RAW}")
