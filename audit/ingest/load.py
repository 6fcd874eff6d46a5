"""``load_data``: exports in, canonical tables + quarantine + data-contract evidence out.

Per table, in the contract's load order (parents first):

1. read the export: Parquet as one DuckDB relation (``read_parquet``), CSV and JSON in chunks of
   text (:mod:`~audit.ingest.readers`); structurally broken records go to the quarantine;
2. type the rows in DuckDB: clean rows cheaply (:mod:`~audit.ingest.fasttype`), the others with
   the careful parser (:mod:`~audit.ingest.parse`); rows with unreadable values go to the
   quarantine, the rest into a staging table;
3. run the contract's expectations as SQL over the staging table (:mod:`~audit.ingest.checks`);
   failing rows go to the quarantine; referential checks look at the parents as loaded;
4. hand the same expectations and rows to Great Expectations (a worker process) to compare the
   counts; its answers are collected on the result's first read (see ``gx_late``);
5. delete the quarantined rows and rename the staging table to the canonical name.

At the end the raw text of every quarantined record is fetched from its file, and every helper
table is dropped: the connection holds exactly the canonical tables (an optional table whose
export is absent is created empty).
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import os
import subprocess
import threading
import zoneinfo
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import duckdb

from audit.contract import Table, contract_for, duckdb_type
from audit.db import carry, fetch_row
from audit.engine.sql import ident, lit
from audit.errors import AuditError, DataError, Diagnostic, PolicyError
from audit.ingest.checks import Check, Parent, compile_checks, orphan_value_set
from audit.ingest.fasttype import CLEAN, fast_query
from audit.ingest.files import (
    MIXED_ENCODING,
    SUFFIXES,
    InputFile,
    cp1252_lines,
    fingerprint,
    locate_inputs,
)
from audit.ingest.parse import (
    DEFAULT_DATES,
    DERIVED_ERRORS,
    ZONE_DAYS,
    create_zone_days,
    derived_columns,
    parse_query,
    pretrim,
    reason_sql,
)
from audit.ingest.quarantine import SEQ_CONTRACT, SEQ_DERIVED, SEQ_PARSE, Quarantine
from audit.ingest.readers import CHUNK_ROWS, Reader, open_reader, prefetch
from audit.ingest.result import IngestResult, TableCounts
from audit.timing import timed

GxMode = Literal["full", "sample", "off"]

#: Rows per table Great Expectations sees in "sample" mode. GX 1.x costs about 0.2 ms per row and
#: referential expectation (its pydantic models copy the value set on every access): 10,000 rows
#: kept the 1 M-entry audit waiting ~2 s for GX and competing with the loader for the cores, 2,000
#: rows cost ~1.5 s in the background. Every table of the bundled sample data fits whole; the
#: DuckDB checks that decide the quarantine always cover every row.
GX_SAMPLE_ROWS = 2_000


#: The order the "sample" rows are taken in: a multiplicative hash of the line (MINSTD's), so
#: the sample spreads over the whole file, and every SQL engine computes it alike (no overflow).
_SPREAD = "((_line % 2147483647) * 48271) % 2147483647"


def _staging(name: str) -> str:
    return f"_ingest_typed_{name}"


def _quarantined_keys(name: str) -> str:
    return f"_ingest_qkeys_{name}"


def load_data(
    con: duckdb.DuckDBPyConnection,
    data_dir: Path,
    *,
    timezone: str,
    tier_ids: list[str],
    gx: GxMode = "full",
    gx_sample_rows: int = GX_SAMPLE_ROWS,
    progress: Callable[[str], None] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    dates: tuple[dt.date, dt.date] = DEFAULT_DATES,
    follow_symlinks: bool = False,
    careful: bool = False,
    gx_late: bool = True,
) -> IngestResult:
    """Load the canonical tables from ``data_dir`` into ``con``; see docs/data-contract.md.

    Raises :class:`~audit.errors.DataError` (exit code 3) when an export is missing, doubled,
    unreadable or lacks required columns; every problem of every file is listed at once.
    ``gx``: run Great Expectations on all parsed rows, on a deterministic sample of at most
    ``gx_sample_rows`` rows per table, or not at all (the DuckDB checks always cover every row).
    ``dates``: the first and last date a value may have; others are quarantined
    (``date_out_of_range``). ``follow_symlinks``: read export files that are symbolic links to
    files outside ``data_dir`` (refused by default, without opening them). ``careful``: type
    every row with the careful parser and read every file in chunks (no fast path); the result
    is the same, only slower (tests hold the two paths together). ``gx_late``: return without
    waiting for Great Expectations; the first read of the result's ``warnings``,
    ``gx_results`` or ``contract_checks`` waits for it (and raises if GX failed), so GX keeps
    running beside whatever the caller does next (the rules).
    """
    check_load_args(gx, timezone)
    say = progress or (lambda message: None)
    contract = contract_for(tier_ids)
    optional = {name for name, table in contract.items() if table.optional}
    paths, missing, warnings = locate_inputs(Path(data_dir), list(contract), optional,
                                             follow_symlinks=follow_symlinks)
    readers = _open_readers(contract, paths, missing, chunk_rows)
    return load_tables(con, con, contract, readers, warnings, timezone=timezone, gx=gx,
                       gx_sample_rows=gx_sample_rows, say=say, dates=dates, careful=careful,
                       gx_late=gx_late)


def load_tables(con: Any, local: duckdb.DuckDBPyConnection, contract: dict[str, Table],
                readers: dict[str, Reader], warnings: list[str], *, timezone: str, gx: GxMode,
                gx_sample_rows: int, say: Callable[[str], None], dates: tuple[dt.date, dt.date],
                careful: bool, gx_late: bool) -> IngestResult:
    """The steps of :func:`load_data` after the exports are found and opened (``readers``).

    ``con``: where the canonical tables are built; ``local``: the DuckDB connection that holds
    the quarantine while it is collected and types the rows the cheap pass could not (the
    careful parser). They are one connection for ``--engine duckdb``; the Spark loader
    (:mod:`audit.spark.ingest`) passes its Spark connection and a DuckDB of its own, and only
    the rows that need care or are set aside travel between the two.
    """
    timings: dict[str, float] = {}
    validator = None
    if gx != "off":
        # Great Expectations runs beside the loading (see _GxWorker): its import and start take
        # seconds, and so does each table's validation.
        say("starting Great Expectations")
        validator = _GxWorker()

    for name in contract:
        con.execute(f"DROP TABLE IF EXISTS {ident(name)}")
    store = Quarantine(local)
    create_zone_days(local, timezone)
    loader = _TableLoader(con, store, timezone, validator, gx, gx_sample_rows, say, timings)
    loader.dates = dates
    loader.careful = careful and not loader.split
    # (a Spark session runs in UTC: audit.spark.session)
    loader.tz_utc = loader.split or fetch_row(con, "SELECT current_setting('TimeZone')")[0] == "UTC"
    counts: dict[str, TableCounts] = {}
    try:
        for order, (name, table) in enumerate(contract.items()):
            reader = readers.get(name)
            if reader is None:  # an optional table without an export: empty, with its columns
                _create_empty(con, table)
                continue
            loader.load(order, table, reader)
            warnings.extend(reader.warnings)
        if validator is not None:
            validator.submitted()
        say("quarantine: fetching the raw text of set-aside records")
        with timed(timings, "quarantine"):
            for name, reader in readers.items():
                if lines := store.lines_without_raw(name):  # (no second pass for nothing)
                    store.fill_raw(name, reader.raw_records(lines))
        for name, reader in readers.items():
            counts[name] = _counts(con, store, name, reader)
        quarantine = store.to_arrow()
    except BaseException:
        for name in contract:  # no half-loaded data set stays behind
            con.execute(f"DROP TABLE IF EXISTS {ident(_staging(name))}")
            con.execute(f"DROP TABLE IF EXISTS {ident(name)}")
        if validator is not None:
            validator.close()
        raise
    finally:
        store.drop()
        for c in dict.fromkeys((con, local)):
            for name in contract:
                c.execute(f"DROP TABLE IF EXISTS {ident(_quarantined_keys(name))}")
            for helper in ("_ingest_parsed", "_ingest_fast", "_ingest_messy", "_ingest_careful",
                           "_ingest_qlines", "_ingest_gx_rows", ZONE_DAYS):
                c.execute(f"DROP TABLE IF EXISTS {ident(helper)}")

    def finish(result: IngestResult) -> None:
        """Wait for GX (it ran beside everything above) and complete the evidence."""
        try:
            if validator is not None:
                say("waiting for Great Expectations")
                with timed(timings, "gx"):
                    loader.finish_gx()
        finally:
            if validator is not None:
                validator.close()
        warnings.extend(loader.all_warnings())

    result = IngestResult(
        tables=counts,
        quarantine=quarantine,
        gx_results=loader.gx_results,
        contract_checks=loader.contract_checks,
        input_hashes={r.file.name: r.file.sha256 for r in readers.values()},
        warnings=warnings,
        timings=timings,
        absent_columns={name: match.absent for name, reader in readers.items()
                        if (match := getattr(reader, "match", None)) is not None},
    )
    if validator is None or not gx_late:
        finish(result)
    else:  # the audit goes on; the first read of the GX evidence or the warnings waits for it
        result.finish_later(finish)
    return result


def _create_empty(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """The canonical table ``table`` with its typed columns and no rows (an optional table whose
    export is absent), so the engine can always read it."""
    columns = ", ".join(f"{ident(c.name)} {duckdb_type(c)}" for c in table.columns)
    con.execute(f"CREATE OR REPLACE TABLE {ident(table.name)} ({columns}, _source_file VARCHAR, _line BIGINT)")


def check_load_args(gx: str, timezone: str) -> None:
    """A ``gx`` mode and a time zone a load can use (before any file is opened)."""
    if gx not in ("full", "sample", "off"):
        raise ValueError(f"gx must be 'full', 'sample' or 'off', not {gx!r}")
    _check_timezone(timezone)


def _check_timezone(timezone: str) -> None:
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PolicyError(
            f"settings.timezone: unknown time zone '{timezone}' (use an IANA name such as Europe/Berlin)"
        ) from None


def _encoding_warning(name: str, path: Path, encoding: str) -> list[str]:
    if encoding != MIXED_ENCODING:
        return []
    first, count = cp1252_lines(path)
    shown = ", ".join(map(str, first)) + (f" and {count - len(first)} more" if count > len(first) else "")
    which = f"line {shown} is" if count == 1 else f"{count} lines ({shown}) are"
    return [f"{path.name}: {which} Windows-1252 in a UTF-8 file; each line was read in its own "
            "encoding (check those lines, and save the export as UTF-8)"]


def _open_readers(contract: dict[str, Table], paths: dict[str, Path], missing: list[Diagnostic],
                  chunk_rows: int) -> dict[str, Reader]:
    """A checked reader per table, or one DataError with the problems of every file."""
    readers: dict[str, Reader] = {}
    problems = list(missing)
    for name, table in contract.items():
        path = paths.get(name)
        if path is None:
            continue
        fmt = SUFFIXES[path.suffix.lower()]
        try:
            sha, encoding = fingerprint(path, text=fmt != "parquet")
        except DataError as exc:
            problems.extend(exc.diagnostics)
            continue
        reader, found = open_reader(InputFile(name, path, fmt, sha, encoding), table,
                                    derived_columns(table), chunk_rows)
        problems.extend(found)
        if reader is not None:
            reader.warnings[:0] = _encoding_warning(name, path, encoding)
            readers[name] = reader
    if problems:
        raise DataError(diagnostics=sorted(problems, key=lambda d: (d.location.file, d.location.line)))
    return readers


def _counts(con: duckdb.DuckDBPyConnection, store: Quarantine, name: str, reader: Reader) -> TableCounts:
    loaded = fetch_row(con, f"SELECT count(*) FROM {ident(name)}")[0]
    quarantined = store.count(name)
    if reader.rows_in != loaded + quarantined:  # pragma: no cover - a bug, not bad input
        raise AuditError(
            f"internal error: {name} has {reader.rows_in} records in, but {loaded} loaded + "
            f"{quarantined} quarantined"
        )
    return TableCounts(
        rows_in=reader.rows_in, loaded=loaded, quarantined=quarantined,
        source_file=reader.file.name, sha256=reader.file.sha256,
        format=reader.file.format, dialect=reader.dialect,
    )


class _GxProcess:
    """The worker process and the two threads that move pickles to and from it (so neither
    side ever waits for a full pipe)."""

    def __init__(self) -> None:
        import queue
        import sys

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "audit.ingest.gx_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        self.requests: queue.Queue = queue.Queue()
        self.replies: queue.Queue = queue.Queue()
        self.lock = threading.Lock()
        for target in (self._send, self._receive):
            threading.Thread(target=target, daemon=True, name=f"gx{target.__name__}").start()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _send(self) -> None:
        import pickle

        try:
            while (item := self.requests.get()) is not None:
                pickle.dump(item, self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        finally:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()

    def _receive(self) -> None:
        import pickle

        while True:
            try:
                self.replies.put(pickle.load(self.proc.stdout))
            except Exception:  # EOF: the worker ended (or died)
                self.replies.put((False, AuditError("the Great Expectations worker stopped")))
                return

    def stop(self) -> None:
        self.requests.put(None)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


#: The worker process, kept for the next ingestion in this interpreter (the GX import is paid
#: once); each ingestion still gets a fresh GX context.
_GX_PROCESS: _GxProcess | None = None
#: False: the worker ends as soon as it has answered an ingestion's validations
#: (:meth:`_GxWorker.submitted`): a process that ingests once (the ``support-audit`` program,
#: audit.cli.command_line) does not keep its memory, pandas and GX, to the end.
KEEP_GX_PROCESS = True


#: Workers told to end (:meth:`_GxWorker.submitted`), waited for at exit.
_ENDED: list[_GxProcess] = []


@atexit.register
def _stop_gx_process() -> None:
    for process in [*_ENDED, *([_GX_PROCESS] if _GX_PROCESS is not None else [])]:
        process.stop()


class _GxWorker:
    """Great Expectations in a worker process (:mod:`audit.ingest.gx_worker`), in order.

    Why a process: GX is about ten seconds of pure-Python work per audit; inline (or in a
    thread, fighting the loader for the GIL) it adds that to the ingestion, in a process it
    runs on the other core while the data is read and typed.

    The loader prepares each table's GX input (the value sets and the rows as Arrow, read from
    the connection) and hands the validation over; the results are collected in table order at
    the end, so every document, count and warning is the same as when GX ran inline: one fresh
    context per ingestion, the same calls in the same order.
    """

    def __init__(self) -> None:
        global _GX_PROCESS
        shared = _GX_PROCESS
        if shared is not None and shared.alive() and shared.lock.acquire(blocking=False):
            self._process, self._shared = shared, True
        else:  # first use, a dead worker, or another ingestion running in parallel
            self._process, self._shared = _GxProcess(), False
            if shared is None or not shared.alive():
                self._process.lock.acquire()
                _GX_PROCESS, self._shared = self._process, True
        self._waiting = 0
        self._ended = False
        self._start: Callable[[], Any] | None = self._call(("start", dict(os.environ)))

    def _call(self, request: tuple) -> Callable[[], Any]:
        self._process.requests.put(request)
        self._waiting += 1

        def result() -> Any:
            ok, value = self._process.replies.get()
            self._waiting -= 1
            if not ok:
                raise value
            return value

        return result

    def submit(self, table: str, expectations: list, rows: Any) -> Callable[[], Any]:
        """A function returning ``(doc, outcomes)`` (see :meth:`GxValidator.validate`); the
        start and these are answered in order, so call them in submission order."""
        fetch = self._call(("validate", table, expectations, rows))
        start, self._start = self._start, None
        if start is None:
            return fetch

        def result() -> Any:  # the start's reply comes first (and raises if GX failed)
            start()
            return fetch()

        return result

    def submitted(self) -> None:
        """Every validation of the ingestion is submitted. Unless the worker is kept
        (:data:`KEEP_GX_PROCESS`), it is told to end after answering them: its replies are read
        as before, and the next ingestion starts a new worker."""
        global _GX_PROCESS
        if KEEP_GX_PROCESS or self._ended:
            return
        self._process.requests.put(None)
        self._ended = True
        if _GX_PROCESS is self._process:
            _GX_PROCESS = None
        _ENDED.append(self._process)

    def close(self) -> None:
        global _GX_PROCESS
        if self._ended:  # it ends by itself once it has answered
            pass
        elif self._waiting:  # an ingestion that failed half-way: replies nobody reads
            self._process.stop()
            if _GX_PROCESS is self._process:
                _GX_PROCESS = None
        elif not self._shared:
            self._process.stop()
        if self._shared:
            self._process.lock.release()


class _TableLoader:
    """The per-table steps; keeps what the tables share (parents, GX, the evidence so far)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, store: Quarantine, timezone: str,
                 validator: Any, gx: GxMode, gx_sample_rows: int, say: Callable[[str], None],
                 timings: dict[str, float]):
        self.con = con  # where the tables are built
        self.local = store.con  # the quarantine and the careful parser (see load_tables)
        self.split = con is not store.con
        self.store = store
        self.timezone = timezone
        self.validator = validator
        self.gx = gx
        self.gx_sample_rows = gx_sample_rows
        self.say = say
        self.timings = timings
        self.parents: dict[str, Parent] = {}
        self.dates: tuple[dt.date, dt.date] = DEFAULT_DATES
        self.careful = False  # True: no fast path (see load_data)
        self.tz_utc = True  # the connection's TimeZone is UTC (see fast_query)
        self.gx_results: dict[str, dict] = {}
        self.contract_checks: list[dict] = []
        # Warnings in the order of the steps; a GX comparison reserves its place (a list
        # filled by finish_gx) because its result arrives later.
        self.warnings: list[str | list[str]] = []
        self._gx_pending: list[Callable[[], None]] = []

    def all_warnings(self) -> list[str]:
        return [w for item in self.warnings for w in ([item] if isinstance(item, str) else item)]

    def finish_gx(self) -> None:
        """Wait for every GX validation and record the comparisons, in table order."""
        for finish in self._gx_pending:
            finish()
        self._gx_pending = []

    def load(self, order: int, table: Table, reader: Reader) -> None:
        name = table.name
        source = reader.file.name
        staging = ident(_staging(name))
        columns = ", ".join(f"{ident(c.name)} {duckdb_type(c)}" for c in table.columns)
        self.con.execute(f"CREATE OR REPLACE TABLE {staging} ({columns}, _source_file VARCHAR, _line BIGINT)")
        self.local.execute(f"CREATE OR REPLACE TEMP TABLE {ident(_quarantined_keys(name))} (key VARCHAR)")

        self.say(f"{name}: reading {source} ({reader.dialect})")
        with timed(self.timings, "read"):
            self._read(order, table, reader)

        checks = compile_checks(table, staging, self.timezone, self.parents)
        self.say(f"{name}: checking the data contract ({len(checks)} expectations)")
        with timed(self.timings, "contract"):
            self.store.add_rows(order, name, source, [
                (SEQ_CONTRACT + i, check.column,
                 f"SELECT _line, {lit(check.expectation.type)} AS expectation, value, reason "
                 f"FROM ({check.quarantine_sql})")
                for i, check in enumerate(checks)
            ], source=self.con)
        self._compare_with_gx(table, staging, checks)

        if self.store.count(name):
            self._set_aside(table, staging)
        self.con.execute(f"ALTER TABLE {staging} RENAME TO {ident(name)}")
        if self.split:  # the children's referential checks read them beside the tables
            carry(self.local, f"SELECT * FROM {ident(_quarantined_keys(name))}", self.con,
                   _quarantined_keys(name))
        self.parents[name] = Parent(name, source, ident(_quarantined_keys(name)))
        loaded = fetch_row(self.con, f"SELECT count(*) FROM {ident(name)}")[0]
        self.say(f"{name}: {loaded} rows loaded, {self.store.count(name)} quarantined")

    def _set_aside(self, table: Table, staging: str) -> None:
        """Delete the quarantined lines from the staging table; their keys are recorded for the
        children's referential checks."""
        name = table.name
        lines = self.store.lines_of(name)
        key = ident(table.key)
        if self.split:  # the lines to the tables, their keys back to the quarantine
            carry(self.local, f"SELECT DISTINCT line FROM {lines}", self.con, "_ingest_qlines")
            lines = "(SELECT line FROM _ingest_qlines)"
        carry(self.con, f"SELECT DISTINCT {key} FROM {staging} WHERE _line IN {lines} "
              f"AND {key} IS NOT NULL", self.local, _quarantined_keys(name), append=True)
        self.con.execute(f"DELETE FROM {staging} WHERE _line IN {lines}")
        if self.split:
            self.con.execute("DROP TABLE IF EXISTS _ingest_qlines")

    # -- reading and typing --------------------------------------------------------------------

    def _read(self, order: int, table: Table, reader: Reader) -> None:
        source = reader.file.name
        ambiguous = 0
        example: tuple[int, str] | None = None
        # A reader that DuckDB can read natively (Parquet) hands over an SQL relation: the whole
        # file in one set-based pass, no Python chunks.
        native = None if self.careful else getattr(reader, "relation", None)
        relation = native(self.con) if native is not None else None
        if relation is not None:
            parts = [(relation, frozenset())]
        else:
            parts = self._chunks(order, name=table.name, source=source, reader=reader)
        for part, trimmed in parts:
            n, line, value = self._type(order, table, source, part, trimmed)
            ambiguous += n
            if n and example is None:
                example = (line, value)
        if ambiguous:
            assert example is not None
            self.warnings.append(
                f"{source}: {ambiguous} ambiguous local time(s) (the repeated hour when summer time "
                f"ends) read as the first occurrence, e.g. line {example[0]}: {example[1]}"
            )

    def _chunks(self, order: int, *, name: str, source: str,
                reader: Reader) -> Iterator[tuple[str, frozenset[str]]]:
        """The reader's chunks, each registered as ``_ingest_chunk`` while the caller types it;
        structurally broken records go to the quarantine on the way."""
        # The reader's thread also trims the text (Arrow), so DuckDB only types it.
        for chunk, data, trimmed in prefetch((c, *pretrim(c.data)) for c in reader.chunks()):
            self.store.add_problems(order, name, source, chunk.problems)
            if chunk.data.num_rows == 0:
                continue
            self.con.register("_ingest_chunk", data)
            try:
                yield "_ingest_chunk", trimmed
            finally:
                self.con.unregister("_ingest_chunk")

    def _type(self, order: int, table: Table, source: str, relation: str,
              trimmed: frozenset[str]) -> tuple[int, int | None, str | None]:
        """Type ``relation`` (canonical columns + ``_line``) into the staging table: the rows
        :func:`~audit.ingest.fasttype.fast_query` finds clean as it types them, the others with
        the careful parser (their unreadable values go to the quarantine). Returns the careful
        rows' ambiguous local times: (count, first line, its text)."""
        name = table.name
        staging = ident(_staging(name))
        typed = ", ".join(ident(c.name) for c in table.columns)
        types = {row[0]: row[1] for row in self.con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
        present = {c for c in types if c != "_line" and not c.startswith("__t_")}
        careful_rows = relation
        if not self.careful:
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE _ingest_fast AS "
                f"{fast_query(table, types, relation, trimmed=trimmed, tz_utc=self.tz_utc, dates=self.dates)}"
            )
            messy = fetch_row(self.con, f"SELECT count(*) FROM _ingest_fast WHERE NOT {CLEAN}")[0]
            if not messy:
                self.con.execute(f"INSERT INTO {staging} SELECT {typed}, {lit(source)}, _line FROM _ingest_fast")
                self.con.execute("DROP TABLE _ingest_fast")
                return 0, None, None
            # (the careful parser is DuckDB's: on Spark the rows that need it come over)
            carry(self.con, f"SELECT * FROM {relation} WHERE _line IN "
                  f"(SELECT _line FROM _ingest_fast WHERE NOT {CLEAN})", self.local, "_ingest_messy")
            careful_rows = "_ingest_messy"
        query = parse_query(table, present, self.timezone, careful_rows, trimmed, dates=self.dates)
        self.local.execute(f"CREATE OR REPLACE TEMP TABLE _ingest_parsed AS {query.sql}")
        failed = f"coalesce({', '.join(ident(e) for e in query.errors)})"
        good = f"SELECT {typed}, _line FROM _ingest_parsed WHERE {failed} IS NULL"
        if self.split:  # and the rows it typed go back
            carry(self.local, good, self.con, "_ingest_careful")
            good = "SELECT * FROM _ingest_careful"
        if not self.careful:  # both kinds of rows, in line order
            good = (f"SELECT * FROM (SELECT {typed}, _line FROM _ingest_fast WHERE {CLEAN} "
                    f"UNION ALL {good}) ORDER BY _line")
        self.con.execute(f"INSERT INTO {staging} SELECT {typed}, {lit(source)}, _line FROM ({good})")
        for helper in ("_ingest_fast", "_ingest_careful"):
            self.con.execute(f"DROP TABLE IF EXISTS {helper}")
        self.local.execute("DROP TABLE IF EXISTS _ingest_messy")
        derived_errors = DERIVED_ERRORS.get(name, {})
        self.store.add_rows(order, name, source, [
            (SEQ_DERIVED if error in derived_errors else SEQ_PARSE, column,
             f"SELECT _line, {ident(error)} AS expectation, {ident('__r_' + column)} AS value, "
             f"{reason_sql(table, error, column, self.timezone, self.dates)} AS reason "
             f"FROM _ingest_parsed WHERE {ident(error)} IS NOT NULL")
            for error, column in query.errors.items()
        ])
        self.local.execute(
            f"INSERT INTO {ident(_quarantined_keys(name))} SELECT DISTINCT {ident(table.key)} "
            f"FROM _ingest_parsed WHERE {failed} IS NOT NULL AND {ident(table.key)} IS NOT NULL"
        )
        if query.ambiguous:
            return self._ambiguous(query.ambiguous)
        return 0, None, None

    def _ambiguous(self, flags: list[str]) -> tuple[int, int, str]:
        total = " + ".join(f"CAST({ident(f)} AS INTEGER)" for f in flags)
        first = " ".join(f"WHEN {ident(f)} THEN {ident('__r_' + f[4:])}" for f in flags)
        n, line, value = fetch_row(
            self.local,
            f"SELECT sum({total}), min(_line) FILTER (WHERE {total} > 0), "
            f"arg_min(CASE {first} END, _line) FILTER (WHERE {total} > 0) FROM _ingest_parsed",
        )
        return int(n or 0), line, value

    # -- the contract in Great Expectations --------------------------------------------------------

    def _compare_with_gx(self, table: Table, staging: str, checks: list[Check]) -> None:
        name = table.name
        relation = staging
        rows = fetch_row(self.con, f"SELECT count(*) FROM {staging}")[0]
        if self.gx == "sample" and rows > self.gx_sample_rows:
            rows = self.gx_sample_rows
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE _ingest_gx_rows AS SELECT * FROM ("
                f"SELECT * FROM {staging} ORDER BY {_SPREAD}, _line LIMIT {int(self.gx_sample_rows)}"
                f") ORDER BY _line"
            )
            relation = "_ingest_gx_rows"
        duck = list(fetch_row(self.con, "SELECT " + ", ".join(
            f"({check.count_sql(relation)})" for check in checks)))
        if self.validator is not None:
            self.say(f"{name}: Great Expectations on {rows} rows (in the background)")
            future = self._submit_gx(table, relation, checks)
            place: list[str] = []
            self.warnings.append(place)

            def finish() -> None:
                doc, outcomes = future()
                self.gx_results[name] = doc
                self._record_checks(name, checks, duck, outcomes, place)

            self._gx_pending.append(finish)
        else:
            self._record_checks(name, checks, duck, [{} for _ in checks], self.warnings)
        if relation != staging:
            self.con.execute("DROP TABLE IF EXISTS _ingest_gx_rows")

    def _record_checks(self, name: str, checks: list[Check], duck: list[int],
                       outcomes: list[dict[str, Any]], warnings: list) -> None:
        for check, n, gx in zip(checks, duck, outcomes, strict=True):
            gx_n = gx.get("unexpected_count")
            agree = None if self.validator is None else gx_n == n
            self.contract_checks.append({
                "table": name,
                "expectation": check.expectation.type,
                "column": check.column,
                "duckdb_failing_rows": n,
                "gx_unexpected_count": gx_n,
                "gx_evaluated_rows": gx.get("element_count"),
                "agree": agree,
            })
            if agree is False:
                detail = f": {gx['error']}" if gx.get("error") else ""
                warnings.append(
                    f"{name}: {check.expectation.id}: Great Expectations counts {gx_n} failing rows, "
                    f"DuckDB {n}{detail}"
                )

    def _submit_gx(self, table: Table, relation: str, checks: list[Check]):
        """Read GX's input for ``table`` from the connection and hand the validation over."""
        from audit.ingest.gx import gx_kwargs

        expectations = []
        for check in checks:
            e = check.expectation
            value_set = None
            if e.type == "expect_column_values_to_be_in_table":
                value_set = [r[0] for r in self.con.execute(orphan_value_set(e, relation)).fetchall()]
            expectations.append((e, gx_kwargs(e, value_set)))
        columns = ", ".join(ident(c.name) for c in table.columns)
        # Arrow goes to the worker, which makes the pandas frame (off the loader's thread)
        rows = self.con.sql(f"SELECT {columns}, _line FROM {relation} ORDER BY _line").to_arrow_table()
        return self.validator.submit(table.name, expectations, rows)
