"""The files of ``support-audit run`` (docs/outputs.md): written atomically, byte-deterministic.

Determinism: rows arrive sorted from the engine, JSON keys are sorted, no timestamp is written,
and Parquet is written by pyarrow with fixed settings (one row group, zstd, fixed schema types),
so the same inputs and policy give the same bytes and a diff of two runs shows real changes only.

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
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def _arrow(df: pl.DataFrame | pa.Table) -> pa.Table:
    """An Arrow table with plain (non-large, non-view) types, so the Parquet schema is fixed."""
    table = df.to_arrow() if isinstance(df, pl.DataFrame) else df
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_large_string(t) or pa.types.is_string_view(t):
            t = pa.string()
        elif pa.types.is_integer(t):
            t = pa.int64()
        fields.append(pa.field(f.name, t))
    return table.cast(pa.schema(fields))


_PARQUET_SETTINGS = dict(
    compression="zstd",
    compression_level=3,
    version="2.6",
    use_dictionary=True,
    write_statistics=True,
    store_schema=True,
)


def write_parquet(df: pl.DataFrame | pa.Table, fh: BinaryIO) -> None:
    """Parquet with fixed settings (one row group): the same table gives the same bytes."""
    table = _arrow(df)
    pq.write_table(table, fh, row_group_size=max(table.num_rows, 1), **_PARQUET_SETTINGS)


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


#: The CSV/JSON Lines writer's DuckDB memory cap when the run sets none: it streams from Parquet
#: and needs little, and it runs beside the report (``run``), whose memory it must not add to.
WRITER_MEMORY = "300MB"


class _DuckWriter:
    """CSV and JSON Lines files written by DuckDB's own (parallel) writers from the Parquet files
    of the same output set, to a temp file in the target directory that is moved into place when
    complete.

    Streaming: DuckDB reads the Parquet file as it writes, in the file's order (one row group:
    one scanning thread), so neither the writer nor the caller holds the table's texts:
    the audit's result tables can be freed as soon as the Parquet files are written. A
    connection of its own: the audit's connection is locked down (no file access) before any
    policy SQL runs, and this one only ever runs the fixed statements below."""

    def __init__(self, memory_limit: str | None = None):
        from audit.db import connect

        self.con = connect(memory_limit=memory_limit)

    def copy(self, source: Path, path: Path, cell: Callable[[pa.DataType, str], str | None],
             options: str) -> None:
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(source).metadata
        select = _select(meta.schema.to_arrow_schema(), f"read_parquet({_sql_string(str(source))}"
                         f", file_row_number = true)", cell)
        # One row group (as write_parquet writes) is scanned by one thread, in order; several
        # are scanned in parallel and COPY does not keep their order, so they are sorted back.
        order = " ORDER BY file_row_number" if meta.num_row_groups > 1 else ""
        with atomic_path(path) as tmp:
            self.con.execute(f"COPY ({select}{order}) TO {_sql_string(str(tmp))} ({options})")

    def csv(self, source: Path, path: Path) -> None:
        """CSV like :func:`write_csv`: UTF-8, ``,``, ``\\n``, a header, ``"`` quoting where needed."""
        self.copy(source, path, _csv_cell,
                  "FORMAT csv, DELIMITER ',', QUOTE '\"', ESCAPE '\"', NEW_LINE '\\n', HEADER true")

    def jsonl(self, source: Path, path: Path) -> None:
        """JSON Lines: one object per row, keys in column order."""
        self.copy(source, path, _json_cell, "FORMAT json")

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
    # Parquet is written by pyarrow (one row group, fixed settings: the same bytes as before) in
    # a thread while this one writes the JSON documents; then DuckDB streams the CSV and JSON
    # Lines files from those Parquet files on a thread of its own (neither holds the GIL while
    # it encodes).
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
    findings = _arrow(result.findings)
    texts = [(fmt, name) for fmt, name in (("csv", "findings"), ("csv", "quarantine"),
                                           ("json", "findings")) if fmt in formats]
    try:
        put("findings.parquet", lambda fh: write_parquet(findings, fh))
        put("classifications.parquet", lambda fh: write_parquet(result.classifications, fh))
        put("reconciliation.parquet", lambda fh: write_parquet(result.reconciliation, fh))
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
