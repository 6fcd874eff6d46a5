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
def atomic_writer(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file handle whose content appears at ``path`` only when the block succeeds.

    The data goes to a temp file in the same directory, is flushed to disk and moved into place
    with ``os.replace``; on an error the temp file is removed and ``path`` is left as it was.
    Writers stream into the handle, so a 3 M-row table never sits in memory as one bytes object.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def write_json_rows(key: str, df: pl.DataFrame, fh: BinaryIO, batch_rows: int = 100_000) -> None:
    """``{"<key>": [row, …]}`` with one row object per line, keys in column order, decimals as
    strings (``"17.50"``: JSON money is never a float).

    Serialised by polars (NDJSON) in batches, not row by row in Python; rows are joined with
    ``",\\n"``: the encoder escapes newlines inside strings, so every newline ends a row."""
    decimals = [c for c, t in df.schema.items() if isinstance(t, pl.Decimal)]
    rows = df.with_columns(pl.col(c).cast(pl.String) for c in decimals)
    fh.write(f'{{"{key}": ['.encode())
    for start in range(0, rows.height, batch_rows):
        chunk = rows.slice(start, batch_rows).write_ndjson().encode("utf-8").rstrip(b"\n")
        fh.write((b"\n" if start == 0 else b",\n") + chunk.replace(b"\n", b",\n"))
    fh.write(b"\n]}\n" if rows.height else b"]}\n")


def json_rows_document(key: str, df: pl.DataFrame) -> str:
    """:func:`write_json_rows` into a string."""
    buf = io.BytesIO()
    write_json_rows(key, df, buf)
    return buf.getvalue().decode("utf-8")


def _sorted_quarantine(quarantine: pa.Table) -> pl.DataFrame:
    df = pl.from_arrow(quarantine)
    assert isinstance(df, pl.DataFrame)
    keys = [c for c in ("table", "source_file", "line", "expectation", "column", "value") if c in df.columns]
    return df.sort(keys, nulls_last=False) if keys and df.height else df


def write_outputs(result: AuditResult, out_dir: str | Path) -> list[Path]:
    """Write every file of docs/outputs.md except report.html/actions.csv; return their paths."""
    from audit.policy.snapshot import policy_snapshot

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # The big files are written two at a time: zstd, CSV and JSON encoding run in pyarrow and
    # polars without the GIL, so at 10 M entries this halves the wall time of this step. Each
    # file is written alone and whole, so the bytes are the same as when written in turn.
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="write-outputs")
    pending: list[tuple[Path, Any]] = []
    written: list[Path] = []

    def put_text(name: str, text: str) -> None:
        pending.append((out / name, None))
        atomic_write_text(out / name, text)

    def put(name: str, writer: Callable[[BinaryIO], None]) -> None:
        def job() -> None:
            with atomic_writer(out / name) as fh:
                writer(fh)

        pending.append((out / name, pool.submit(job)))

    quarantine = _sorted_quarantine(result.ingest.quarantine)
    try:
        put("findings.parquet", lambda fh: write_parquet(result.findings, fh))
        put("findings.csv", lambda fh: write_csv(result.findings, fh))
        put("findings.json", lambda fh: write_json_rows("findings", result.findings, fh))
        put("classifications.parquet", lambda fh: write_parquet(result.classifications, fh))
        put("reconciliation.parquet", lambda fh: write_parquet(result.reconciliation, fh))
        put_text("summary.json", json_text(result.summary))
        put_text("policy.json", json_text(policy_snapshot(result.bundle)))
        put("quarantine.parquet", lambda fh: write_parquet(quarantine, fh))
        put("quarantine.csv", lambda fh: write_csv(quarantine, fh))
        for table, gx in sorted(result.ingest.gx_results.items()):
            put_text(f"data_quality/gx_{table}.json", json_text(gx))
        checks = sorted(
            result.ingest.contract_checks,
            key=lambda c: (str(c.get("table", "")), str(c.get("expectation", "")), json_text(c)),
        )
        put_text("data_quality/contract_checks.json", json_text({"checks": checks}))
        for path, job in pending:  # in order; the first error is raised
            if job is not None:
                job.result()
            written.append(path)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return written
