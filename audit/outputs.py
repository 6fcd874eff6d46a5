"""The files of ``support-audit run`` (docs/outputs.md): written atomically, byte-deterministic.

Determinism: rows arrive sorted from the engine, JSON keys are sorted, no timestamp is written,
and Parquet is written by pyarrow with fixed settings (row groups of a fixed number of rows, zstd,
fixed schema types), so the same inputs and policy give the same bytes and a diff of two runs
shows real changes only.

Atomicity: every file is written to a temp file in the target directory and moved into place with
``os.replace``; a crash leaves the previous file or the new one, never half of one.

CSV cells that are *text* and start with ``=``, ``+``, ``-``, ``@``, tab or CR get a leading ``'``
(:func:`neutralise_csv_cell`) so a spreadsheet shows them instead of executing them: a customer
name like ``=HYPERLINK(...)`` in an export must not become a live formula in finance's Excel.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from audit.api import AuditResult

#: First characters that make a spreadsheet treat a cell as a formula (OWASP "CSV injection").
CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_REGEX_CLASS_ESCAPES = {"\t": r"\t", "\r": r"\r", "-": r"\-", "\\": r"\\", "]": r"\]", "^": r"\^"}
#: The same prefixes as a regex character class (Rust regex syntax, for polars).
_FORMULA_RE = "^[" + "".join(_REGEX_CLASS_ESCAPES.get(c, c) for c in CSV_FORMULA_PREFIXES) + "]"


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temp file's path next to ``path`` for a writer that names its target (DuckDB's
    ``COPY``); when the block succeeds the file is flushed to disk and moved to ``path`` with
    ``os.replace``, on an error it is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_writer(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file handle whose content appears at ``path`` only when the block succeeds
    (:func:`atomic_path`). Writers stream into the handle, so a 3 M-row table never sits in
    memory as one bytes object.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        yield fh


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_write_bytes` for UTF-8 text (newlines written as given)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def neutralise_csv_cell(value: str) -> str:
    """``value`` prefixed with ``'`` when a spreadsheet would read it as a formula."""
    if value and value[0] in CSV_FORMULA_PREFIXES:
        return "'" + value
    return value


def json_text(document: Any) -> str:
    """Deterministic JSON: sorted keys, 2-space indent, UTF-8 characters kept, final newline."""
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False, default=str) + "\n"


def plain_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with plain types (strings neither large nor views, integers 64-bit, decimals
    128-bit), so the Parquet schema of a table does not depend on who produced it (DuckDB,
    polars, Spark)."""
    fields = []
    for f in schema:
        t = f.type
        if pa.types.is_large_string(t) or pa.types.is_string_view(t):
            t = pa.string()
        elif pa.types.is_integer(t):
            t = pa.int64()
        elif pa.types.is_decimal(t):  # DuckDB hands out decimal64 for DECIMAL(18, 2), polars 128
            t = pa.decimal128(t.precision, t.scale)
        fields.append(pa.field(f.name, t))
    return pa.schema(fields)


def _arrow(df: pl.DataFrame | pa.Table) -> pa.Table:
    """An Arrow table with :func:`plain_schema` types."""
    table = df.to_arrow() if isinstance(df, pl.DataFrame) else df
    return table.cast(plain_schema(table.schema))


_PARQUET_SETTINGS = dict(
    compression="zstd",
    compression_level=3,
    version="2.6",
    use_dictionary=True,
    write_statistics=True,
    store_schema=True,
)


#: Rows per Parquet row group. Readers stream a file a row group at a time (the report, the CSV
#: writer), so a group is what they hold of it at once.
ROW_GROUP_ROWS = 65_536


def write_parquet_batches(schema: pa.Schema, batches: Iterable[pa.RecordBatch | pa.Table],
                          fh: BinaryIO) -> int:
    """Parquet with fixed settings from a stream of ``batches`` (of ``schema``, cast to
    :func:`plain_schema`); returns the number of rows.

    The bytes depend on the rows only, never on how they were cut into batches: rows are
    regrouped into row groups of exactly :data:`ROW_GROUP_ROWS` (the last one smaller), each
    written as one contiguous array per column. So a table streamed out of the engine month by
    month and the same table written whole give the same file."""
    target = plain_schema(schema)
    rows = 0
    with pq.ParquetWriter(fh, target, **_PARQUET_SETTINGS) as writer:
        pending: list[pa.Table] = []
        held = 0

        def flush(n: int) -> None:
            nonlocal pending, held
            table = pa.concat_tables(pending)
            writer.write_table(table.slice(0, n).combine_chunks(), row_group_size=ROW_GROUP_ROWS)
            rest = table.slice(n)
            pending, held = ([rest] if rest.num_rows else []), rest.num_rows

        for batch in batches:
            part = (batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])).cast(target)
            if not part.num_rows:
                continue
            pending.append(part)
            held += part.num_rows
            rows += part.num_rows
            while held >= ROW_GROUP_ROWS:
                flush(ROW_GROUP_ROWS)
        if held or not rows:  # an empty table still has its schema and one empty row group
            if not pending:
                pending = [target.empty_table()]
            flush(held)
    return rows


def write_parquet(df: pl.DataFrame | pa.Table, fh: BinaryIO) -> None:
    """Parquet with fixed settings: the same table gives the same bytes
    (:func:`write_parquet_batches`)."""
    table = _arrow(df)
    write_parquet_batches(table.schema, [table], fh)


class ParquetSink:
    """Receives result tables streamed out of the engine (``export(..., sink=)``) and writes
    each to ``out_dir/<name>.parquet`` atomically, a row group at a time, so a 3 M-row table
    with its texts is never whole in memory; ``files`` lists what it wrote.

    The encoding runs on a thread of its own while the caller reads the next batches out of
    DuckDB (neither holds the GIL while it works), at most :data:`QUEUED` batches apart."""

    QUEUED = 1

    def __init__(self, out_dir: str | Path):
        self.out = Path(out_dir)
        self.files: dict[str, Path] = {}

    def write(self, name: str, table: Any) -> None:
        """Write the result table ``table`` (:class:`audit.engine.render.TableQuery`) as it is
        read out span by span."""
        self(name, *table.batches())

    def __call__(self, name: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> None:
        import queue
        from concurrent.futures import ThreadPoolExecutor

        path = self.out / f"{name}.parquet"
        handoff: queue.Queue = queue.Queue(maxsize=self.QUEUED)
        end, abort = object(), object()

        def received() -> Iterator[pa.RecordBatch]:
            while (item := handoff.get()) is not end:
                if item is abort:
                    raise RuntimeError(f"{name}: the rows stopped coming")  # the file is not kept
                yield item

        def write() -> None:
            with atomic_writer(path) as fh:
                write_parquet_batches(schema, received(), fh)

        def put(item: object) -> None:
            while True:
                try:
                    handoff.put(item, timeout=0.2)
                    return
                except queue.Full:
                    if writing.done():  # the writer failed: its error is raised below
                        return

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"parquet-{name}") as pool:
            writing = pool.submit(write)
            try:
                for batch in batches:
                    if writing.done():
                        break
                    put(batch)
            except BaseException:
                put(abort)
                raise
            put(end)
            writing.result()
        self.files[name] = path


def table_sink(con: Any, out_dir: str | Path,
               progress: Callable[[str], None] | None = None) -> Any:
    """Where ``run_audit`` streams its result tables (:class:`~audit.engine.render.Sink`):
    Spark writes them as Parquet datasets itself (:class:`audit.spark.outputs.DatasetSink`)
    when its executors write ``out_dir``: local Spark always; a cluster or a Spark Connect
    server when the directory is shared with them, which a probe finds out
    (:func:`audit.spark.outputs.executors_write_here`). Otherwise they are read out of the
    engine span by span and written here (:class:`ParquetSink`)."""
    from audit.engine.sql import on_spark  # (the engine is loaded: it made ``con``)

    if on_spark(con):
        from audit.spark.outputs import DatasetSink, executors_write_here

        if con.local_files:
            return DatasetSink(out_dir)
        say = progress or (lambda _msg: None)
        say("checking whether Spark's executors can write the output directory")
        if executors_write_here(con.spark, out_dir):
            say("Spark's executors write the result tables into the output directory")
            return DatasetSink(out_dir)
        say("Spark's executors do not see the output directory (not shared with them): the "
            "result tables come back here span by span")
    return ParquetSink(out_dir)


def parquet_files(path: str | Path) -> list[Path]:
    """The files of a result table: ``path`` itself, or the part files of the dataset
    directory ``path`` in name order (which is the table's order; audit.spark.outputs)."""
    path = Path(path)
    return sorted(path.glob("*.parquet")) if path.is_dir() else [path]


def parquet_rows(files: list[Path]) -> int:
    """The rows of the Parquet ``files``, from their footers (nothing else is read)."""
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def parquet_schema(path: str | Path) -> pa.Schema:
    """The Arrow schema of a result table's file or dataset (:func:`parquet_files`)."""
    files = parquet_files(path)
    if not files:
        raise FileNotFoundError(f"{path}: a Parquet dataset without part files")
    return pq.read_schema(files[0])


def parquet_bytes(df: pl.DataFrame | pa.Table) -> bytes:
    """:func:`write_parquet` into memory."""
    buf = io.BytesIO()
    write_parquet(df, buf)
    return buf.getvalue()


def _neutralised(df: pl.DataFrame) -> pl.DataFrame:
    text_cols = [c for c, t in df.schema.items() if t == pl.String]
    return df.with_columns(
        pl.when(pl.col(c).str.contains(_FORMULA_RE))
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in text_cols
    )


def write_csv(df: pl.DataFrame, fh: BinaryIO) -> None:
    """CSV (UTF-8, ``,``, ``\\n``) with text cells neutralised; numbers and money as they are."""
    _neutralised(df).write_csv(fh, line_terminator="\n")


def csv_text(df: pl.DataFrame) -> str:
    """:func:`write_csv` into a string."""
    buf = io.BytesIO()
    write_csv(df, buf)
    return buf.getvalue().decode("utf-8")


def _sorted_quarantine(quarantine: pa.Table) -> pl.DataFrame:
    df = pl.from_arrow(quarantine)
    assert isinstance(df, pl.DataFrame)
    keys = [c for c in ("table", "source_file", "line", "expectation", "column", "value") if c in df.columns]
    return df.sort(keys, nulls_last=False) if keys and df.height else df


#: File formats ``--format`` chooses from; Parquet is always written (the report, ``report
#: --from`` and ``--previous`` read it), ``csv`` adds findings.csv and quarantine.csv, ``json``
#: findings.jsonl.
FORMATS = ("parquet", "csv", "json")
#: What finance (the CSV, the report) and engineers (Parquet) need; JSON Lines on request.
DEFAULT_FORMATS = ("parquet", "csv")


def check_formats(formats: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """``formats`` (``"parquet,csv,json"`` or a sequence) as a tuple in :data:`FORMATS` order,
    always with ``parquet``; a :class:`~audit.errors.UsageError` for an unknown name."""
    if formats is None:
        return DEFAULT_FORMATS
    names = [f.strip().lower() for f in (formats.split(",") if isinstance(formats, str) else formats)]
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not any(names):
        from audit.errors import UsageError

        raise UsageError(f"--format {','.join(names)!r}: use a comma-separated list of "
                         f"{', '.join(FORMATS)} (e.g. parquet,csv,json)")
    return tuple(f for f in FORMATS if f == "parquet" or f in names)


def _sql_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _select(schema: pa.Schema, source: str, cell: Callable[[pa.DataType, str], str | None]) -> str:
    """Every column of ``schema`` as ``cell(type, column)`` writes it (None: as it is), the rows
    in the order of ``source``."""
    cols = []
    for f in schema:
        c = _sql_name(f.name)
        cols.append(f"{expr} AS {c}" if (expr := cell(f.type, c)) is not None else c)
    return f"SELECT {', '.join(cols)} FROM {source}"


def _csv_cell(t: pa.DataType, c: str) -> str | None:
    """A CSV cell, set-based: text starting with a formula character gets a leading ``'`` (the
    rule of :func:`neutralise_csv_cell`), instants are written as
    ``2026-03-02T10:15:00.000000+0000`` (UTC), everything else as DuckDB writes it."""
    if _is_text(t):
        prefixes = ", ".join(_sql_string(ch) for ch in CSV_FORMULA_PREFIXES)
        return f"CASE WHEN substr({c}, 1, 1) IN ({prefixes}) THEN '''' || {c} ELSE {c} END"
    if pa.types.is_timestamp(t):
        return f"strftime({c}, '%Y-%m-%dT%H:%M:%S.%f+0000')"
    return None


def _json_cell(t: pa.DataType, c: str) -> str | None:
    """A JSON value: decimals as strings (``"17.50"``: JSON money is never a float), instants as
    ISO 8601 UTC text."""
    if pa.types.is_decimal(t):
        return f"CAST({c} AS VARCHAR)"
    if pa.types.is_timestamp(t):
        return f"strftime({c}, '%Y-%m-%dT%H:%M:%S.%f+00:00')"
    return None


#: DuckDB's CSV options for files like :func:`write_csv` writes (``HEADER`` given where used).
CSV_OPTIONS = "FORMAT csv, DELIMITER ',', QUOTE '\"', ESCAPE '\"', NEW_LINE '\\n'"


def _copy(con: Any, schema: pa.Schema, source: str, path: Path,
          cell: Callable[[pa.DataType, str], str | None], options: str, order: str = "") -> None:
    """The rows of the SQL table expression ``source`` (columns as ``schema``, each written as
    ``cell`` says), in the order ``order`` (else as ``source`` yields them), written by DuckDB's
    ``con`` to ``path`` atomically (a connection that may read files: not the audit's)."""
    select = _select(schema, source, cell) + (f" ORDER BY {order}" if order else "")
    with atomic_path(path) as tmp:
        con.execute(f"COPY ({select}) TO {_sql_string(str(tmp))} ({options})")


def _copy_pieces(con: Any, schema: pa.Schema, sources: list[str], path: Path,
                 cell: Callable[[pa.DataType, str], str | None],
                 options: Callable[[bool], str], order: str = "") -> None:
    """The rows of each SQL table expression of ``sources`` in turn (each sorted by ``order``
    if given), written by DuckDB one after the other and joined into ``path`` atomically;
    ``options(first)``: the COPY options of the first piece and of the others (a CSV header
    once). One source is written straight to ``path``."""
    if len(sources) == 1:
        _copy(con, schema, sources[0], path, cell, options(True), order)
        return
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        part = tmp.with_name(f"{tmp.name}.part")
        try:
            for i, source in enumerate(sources):
                _copy(con, schema, source, part, cell, options(i == 0), order)
                with open(part, "rb") as piece:
                    shutil.copyfileobj(piece, out, 1 << 20)
        finally:
            part.unlink(missing_ok=True)


def _csv_options(header: bool) -> str:
    return f"{CSV_OPTIONS}, HEADER {'true' if header else 'false'}"


def write_csv_query(con: Any, schema: pa.Schema, source: Callable[[int, int], str], path: Path,
                    *, order: str, rows: int, chunk: int) -> None:
    """CSV like :func:`write_csv` (text cells neutralised) of ``rows`` rows numbered by the
    integer column ``order`` from 0, sorted by it. ``source(lo, hi)`` is the SQL table
    expression of the rows ``lo <= order < hi``: DuckDB writes ``chunk`` rows at a time, so
    its sort (and any join in ``source``) holds one chunk, not the table; the pieces are
    joined into ``path`` atomically."""
    sources = [source(lo, lo + chunk) for lo in range(0, max(rows, 1), chunk)]
    _copy_pieces(con, schema, sources, path, _csv_cell, _csv_options, order)


#: The CSV/JSON Lines writer's DuckDB memory cap when the run sets none: it streams from Parquet
#: and needs little, and it runs beside the report (``run``), whose memory it must not add to.
WRITER_MEMORY = "300MB"


class _DuckWriter:
    """CSV and JSON Lines files written by DuckDB's own (parallel) writers from the Parquet files
    of the same output set, to a temp file in the target directory that is moved into place when
    complete.

    Streaming: DuckDB reads the Parquet file a row group at a time as it writes, in the file's
    order: one thread (a parallel scan of several row groups is written in the order the groups
    finish, not in the file's, and sorting them back would hold the table), so neither the
    writer nor the caller holds the table's texts:
    the audit's result tables can be freed as soon as the Parquet files are written. A
    connection of its own: the audit's connection is locked down (no file access) before any
    policy SQL runs, and this one only ever runs the fixed statements below."""

    def __init__(self, memory_limit: str | None = None):
        from audit.db import connect

        self.con = connect(threads=1, memory_limit=memory_limit)

    def copy(self, source: Path, path: Path, cell: Callable[[pa.DataType, str], str | None],
             options: Callable[[bool], str]) -> None:
        # a dataset's parts one after the other: DuckDB's scan of several files, even on one
        # thread, may write the last rows of a file after the first rows of the next
        files = [f"read_parquet({_sql_string(str(f))})" for f in parquet_files(source)]
        _copy_pieces(self.con, parquet_schema(source), files, path, cell, options)

    def csv(self, source: Path, path: Path) -> None:
        """CSV like :func:`write_csv`: UTF-8, ``,``, ``\\n``, a header, ``"`` quoting where needed."""
        self.copy(source, path, _csv_cell, _csv_options)

    def jsonl(self, source: Path, path: Path) -> None:
        """JSON Lines: one object per row, keys in column order."""
        self.copy(source, path, _json_cell, lambda _first: "FORMAT json")

    def close(self) -> None:
        self.con.close()


def write_outputs(result: AuditResult, out_dir: str | Path, *,
                  formats: str | tuple[str, ...] | None = None,
                  memory_limit: str | None = None) -> list[Path]:
    """Write every file of docs/outputs.md except report.html/actions.csv; return their paths.

    ``formats``: :func:`check_formats` (default ``parquet,csv``: findings.csv and quarantine.csv
    besides the Parquet files; ``json`` adds findings.jsonl). ``memory_limit``: the cap of the
    DuckDB writer (:func:`audit.db.connect`)."""
    return start_outputs(result, out_dir, formats=formats, memory_limit=memory_limit).finish()


class OutputsWriting:
    """Outputs being written: what :func:`start_outputs` returns. Every file the report reads
    (the Parquet files, the JSON documents) is complete when it is returned; the CSV and JSON
    Lines files may still be being written (``texts``, a future). :meth:`finish` waits for them
    (raising the writer's error) and returns every path; call it also when the work in between
    fails, with ``raise_errors=False`` (then that work's error is the one to raise)."""

    def __init__(self, paths: list[Path], texts: Any = None):
        self._paths, self._texts = paths, texts

    def finish(self, *, raise_errors: bool = True) -> list[Path]:
        if self._texts is not None:
            error = self._texts.exception()  # waits
            if error is not None and raise_errors:
                raise error
        return self._paths


def _write_table(result: AuditResult, name: str, fh: BinaryIO) -> None:
    write_parquet(getattr(result, name), fh)


def start_outputs(result: AuditResult, out_dir: str | Path, *,
                  formats: str | tuple[str, ...] | None = None,
                  memory_limit: str | None = None) -> OutputsWriting:
    """:func:`write_outputs` that returns once the files the report reads are written, while
    DuckDB goes on writing findings.csv, quarantine.csv and findings.jsonl (it does not hold the
    GIL while it encodes, so the report's Python work and the CSV writer share the cores).

    The result's tables may be dropped by the caller after this returns: the CSV and JSON Lines
    files are read from the Parquet files, so nothing of the result is kept."""
    from concurrent.futures import ThreadPoolExecutor

    from audit.policy.snapshot import policy_snapshot

    formats = check_formats(formats)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Parquet is written by pyarrow (fixed settings; the result tables may have been streamed
    # here by the run already) in a thread while this one writes the JSON documents; then DuckDB
    # streams the CSV and JSON Lines files from those Parquet files on a thread of its own
    # (neither holds the GIL while it encodes).
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write-outputs")
    pending: list[tuple[Path, Any]] = []

    def put_text(name: str, text: str) -> None:
        pending.append((out / name, None))
        atomic_write_text(out / name, text)

    def put(name: str, writer: Callable[[BinaryIO], None]) -> None:
        def job() -> None:
            with atomic_writer(out / name) as fh:
                writer(fh)

        pending.append((out / name, pool.submit(job)))

    quarantine = _arrow(_sorted_quarantine(result.ingest.quarantine))
    texts = [(fmt, name) for fmt, name in (("csv", "findings"), ("csv", "quarantine"),
                                           ("json", "findings")) if fmt in formats]
    try:
        for name in ("findings", "classifications", "reconciliation"):
            streamed = result.table_file(name)
            if streamed is not None and streamed.parent.resolve() == out.resolve():
                pending.append((streamed, None))  # the run streamed it here already
            else:
                put(f"{name}.parquet", partial(_write_table, result, name))
        put("quarantine.parquet", lambda fh: write_parquet(quarantine, fh))
        put_text("summary.json", json_text(result.summary))
        put_text("policy.json", json_text(policy_snapshot(result.bundle)))
        for table, gx in sorted(result.ingest.gx_results.items()):
            put_text(f"data_quality/gx_{table}.json", json_text(gx))
        checks = sorted(
            result.ingest.contract_checks,
            key=lambda c: (str(c.get("table", "")), str(c.get("expectation", "")), json_text(c)),
        )
        put_text("data_quality/contract_checks.json", json_text({"checks": checks}))
        for _path, job in pending:  # the first error is raised
            if job is not None:
                job.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    paths = [path for path, _job in pending]
    if not texts:
        return OutputsWriting(paths)
    files = [out / f"{name}.{'jsonl' if fmt == 'json' else fmt}" for fmt, name in texts]

    def write_texts() -> None:
        duck = _DuckWriter(memory_limit or WRITER_MEMORY)
        try:
            for (fmt, name), path in zip(texts, files, strict=True):
                (duck.csv if fmt == "csv" else duck.jsonl)(out / f"{name}.parquet", path)
        finally:
            duck.close()

    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write-texts")
    try:
        return OutputsWriting(paths + files, writer.submit(write_texts))
    finally:
        writer.shutdown(wait=False)  # the job runs on; finish() waits for it
