"""The one DuckDB connection an audit runs on, and how it is locked before policy SQL runs.

Why these settings:

- The database is in memory: an audit is a pure function of its input files and policy, nothing
  is meant to persist between runs.
- ``TimeZone = 'UTC'``: every timestamp is stored as an instant (``TIMESTAMPTZ``); conversions to
  local time are always explicit (``timezone(<policy tz>, ts)``), never a side effect of a session
  setting, so a run on a laptop in Berlin and on a CI runner in UTC give the same bytes.
- ``checkpoint_threshold``: automatic checkpoints are off (see :func:`connect`).
- ``preserve_insertion_order``: tables keep the order in which ingestion loaded them (input line
  order), which keeps outputs deterministic even before an explicit ``ORDER BY``.
- ``lock_down`` runs after the data is loaded and before any SQL compiled from a policy: the policy
  can then neither read nor write files nor change settings, whatever its conditions contain.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

__all__ = ["compact", "check_memory_limit", "connect", "lock_down"]

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


def check_memory_limit(limit: str | None) -> str | None:
    """``limit`` when it is an amount DuckDB understands (``4GB``, ``1.5GiB``, ``800MB``), else a
    :class:`~audit.errors.UsageError` saying how to write it."""
    if limit is None:
        return None
    m = _MEMORY.match(limit)
    if not m or float(m.group(1)) <= 0:
        from audit.errors import UsageError

        raise UsageError(f"--memory-limit {limit!r} is not an amount of memory (write it like 4GB, "
                         "1.5GiB or 800MB: a positive number and KB, MB, GB, TB, KiB, MiB, GiB or TiB)")
    return f"{m.group(1)}{m.group(2)}"


def connect(threads: int | None = None, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB connection with deterministic settings.

    ``threads`` limits DuckDB's worker threads (``None``: DuckDB's default, one per core).
    ``memory_limit`` (``4GB`` …, :func:`check_memory_limit`) caps DuckDB's memory; operators
    that would exceed it (sorts, joins, aggregates) spill to a private directory in the system's
    temp directory (``$TMPDIR``), which DuckDB removes again. Without it DuckDB's default applies
    (80 % of the RAM).
    """
    memory_limit = check_memory_limit(memory_limit)
    con = duckdb.connect(":memory:")
    if memory_limit is not None:
        con.execute(f"SET memory_limit = '{memory_limit}'")
        spill = Path(tempfile.gettempdir()) / f"support-audit-spill-{os.getpid()}-{secrets.token_hex(4)}"
        con.execute(f"SET temp_directory = '{str(spill).replace(chr(39), chr(39) * 2)}'")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET default_order = 'ASC'")
    con.execute("SET default_null_order = 'NULLS LAST'")
    con.execute("SET enable_progress_bar = false")
    # No automatic checkpoints: in an in-memory database they only recompress tables, and the
    # first commit after a large CREATE TABLE paid ~0.2 s for it (a third of the 1M-entry rules
    # stage) without lowering the peak memory measurably (bench/, docs/benchmarks.md).
    con.execute("SET checkpoint_threshold = '100GB'")
    # Results leave as Arrow string views, the layout polars keeps strings in: the export of a
    # 10 M-entry run then needs no second copy of every text (peak memory -0.2 to -0.3 GB).
    con.execute("SET produce_arrow_string_view = true")
    con.execute("SET arrow_output_version = '1.5'")
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        con.execute(f"SET threads = {int(threads)}")
    # Time zone conversions need ICU; make sure it is there before external access is switched off.
    con.execute("SELECT timezone('Europe/Berlin', TIMESTAMPTZ '2026-01-01 00:00:00+00')").fetchall()
    return con


#: From how many bytes of stored tables on :func:`compact` compresses them.
COMPACT_FROM = 512 * 2**20


def stored_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """Bytes of memory DuckDB holds for stored tables (in the main and temp schemas)."""
    return int(fetch_row(con, "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()"
                              " WHERE tag = 'IN_MEMORY_TABLE'")[0])


def compact(con: duckdb.DuckDBPyConnection, at_least: int | None = None) -> tuple[int, int] | None:
    """Compress the stored tables when they hold ``at_least`` bytes (default
    :data:`COMPACT_FROM`): their bytes before and after, or None when they hold fewer.

    An in-memory DuckDB database keeps a new table uncompressed until a checkpoint compresses
    it (dictionary, FSST, bit-packing …): at 10 M time entries the loaded and engine tables are
    gigabytes plain and a fraction of that compressed. Automatic checkpoints are off
    (:func:`connect`): a small run would pay for them and gain nothing measurable. Instead a run
    calls this at its stage boundaries: below ``at_least`` nothing happens, above it one
    checkpoint compresses the tables made since the last one (tables already compressed cost
    nothing again). Only tables of the main schema are compressed, never ``TEMP`` ones: the
    engine makes the tables that outlive a stage there (docs/benchmarks.md, issue 13).
    """
    before = stored_bytes(con)
    if before < (COMPACT_FROM if at_least is None else at_least):
        return None
    con.execute("CHECKPOINT")
    return before, stored_bytes(con)


def compact_as_it_grows(con: duckdb.DuckDBPyConnection) -> Callable[[], None]:
    """For a table written in parts: a function to call after each part, which compresses the
    stored tables (:func:`compact`) once they hold :data:`COMPACT_FROM` bytes more than at the
    start or at the last compression — not after every part: each checkpoint costs a second or
    more at 10 M entries, and DuckDB keeps new rows plain until one."""
    stored = stored_bytes(con)

    def after_part() -> None:
        nonlocal stored
        sizes = compact(con, stored + COMPACT_FROM)
        if sizes is not None:
            stored = sizes[1]

    return after_part


def write_in_parts(con: Any, table: str, parts: list[tuple[str, dict | None]]) -> None:
    """Create ``table`` from the first query of ``parts`` and append the rows of the others
    (each a query with its parameters), in order; with more than one part the stored tables are
    compressed as they grow (:func:`compact_as_it_grows`)."""
    after_part = compact_as_it_grows(con) if len(parts) > 1 else None
    for i, (query, params) in enumerate(parts):
        start = f"CREATE OR REPLACE TABLE {table} AS" if i == 0 else f"INSERT INTO {table}"
        con.execute(f"{start}\n{query}", params)
        if after_part is not None:
            after_part()


def lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """Forbid file/network access and any later change of settings on ``con``.

    Call it after loading the data and before running SQL compiled from a policy. Registered
    Python objects (``con.register``) keep working; replacement scans of Python variables by name
    and ``read_csv``/``COPY``/``ATTACH`` do not.
    """
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def fetch_row(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple:
    """The single row of ``sql``, with the result fully consumed.

    ``execute(...).fetchone()`` leaves the result open, and DuckDB 2 then refuses any other work
    on the connection; this reads to the end.
    """
    rows = con.execute(sql, params or []).fetchall()
    if len(rows) != 1:  # pragma: no cover - callers pass aggregate queries
        raise ValueError(f"expected one row, got {len(rows)}: {sql}")
    return rows[0]


def carry(source: Any, query: str, target: Any, name: str, *, append: bool = False) -> None:
    """The rows of ``query`` on the connection ``source`` as the temp table ``name`` on
    ``target`` (``append``: added to the existing table ``name``): one statement when they are
    the same connection, else the rows through Arrow (the Spark loader's two connections,
    :func:`audit.ingest.load.load_tables`; a target only needs
    ``register``/``execute``/``unregister``, which a Spark connection has too)."""
    into = f'INSERT INTO "{name}"' if append else f'CREATE OR REPLACE TEMP TABLE "{name}" AS'
    if source is target:
        target.execute(f"{into} {query}")
        return
    rows = source.sql(query).to_arrow_table()
    target.register("_carried", rows)
    try:
        target.execute(f"{into} SELECT * FROM _carried")
    finally:
        target.unregister("_carried")
