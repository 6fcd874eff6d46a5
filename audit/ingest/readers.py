"""The common shape of the format readers (CSV, JSON, Parquet) and the factory that picks one.

A reader turns one export into chunks of *text*: an Arrow table per chunk with one string column
per contract column it found (named canonically) and ``_line``, the record's line (CSV: the
physical line where the record starts, header = line 1; JSON Lines: the physical line; a JSON
array or Parquet: the row number). Typing happens later, vectorised in DuckDB
(:mod:`audit.ingest.parse`), the same way for every format.

Records whose *structure* is broken (wrong column count, broken quoting, a line that is not JSON)
never reach DuckDB: the reader reports them as :class:`Problem` rows for the quarantine.
The raw text of records that fail later is fetched afterwards with :meth:`Reader.raw_records`,
a second pass over the file for just those lines, so the common case keeps no raw text in memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import pyarrow as pa

from audit.contract import Table
from audit.errors import Diagnostic
from audit.ingest.files import InputFile

#: Records per chunk: bounds memory (a chunk of text columns is tens of MB) and keeps DuckDB's
#: per-query overhead negligible.
CHUNK_ROWS = 200_000


@dataclass(frozen=True)
class Problem:
    """A record that could not be split into fields: goes to the quarantine as is."""

    line: int
    expectation: str  # wrong_column_count / broken_quoting / parse_error
    reason: str
    raw: str
    column: str | None = None
    value: str | None = None


@dataclass
class Chunk:
    data: pa.Table  # canonical string columns + "_line" (int64)
    problems: list[Problem] = field(default_factory=list)


class Reader(Protocol):
    file: InputFile
    rows_in: int  # records read so far (good + problems), final after chunks() is exhausted
    warnings: list[str]
    dialect: str

    def chunks(self) -> Iterator[Chunk]: ...

    def raw_records(self, lines: Collection[int]) -> dict[int, str]: ...


def open_reader(
    file: InputFile, table: Table, derived: frozenset[str], chunk_rows: int = CHUNK_ROWS
) -> tuple[Reader | None, list[Diagnostic]]:
    """A reader for ``file`` with its header checked, or the diagnostics that prevent reading it."""
    # imported here: the format modules import this one (Chunk, Problem)
    if file.format == "csv":
        from audit.ingest.csvread import CsvReader

        return CsvReader.open(file, table, derived, chunk_rows)
    if file.format == "parquet":
        from audit.ingest.parquetread import ParquetReader

        return ParquetReader.open(file, table, derived, chunk_rows)
    from audit.ingest.jsonread import JsonReader

    return JsonReader.open(file, table, derived, chunk_rows)


def text_columns(names: list[str], columns: list[list[str | None]], lines: list[int]) -> pa.Table:
    """An Arrow chunk from Python column lists (strings) and their line numbers."""
    arrays = [pa.array(col, type=pa.string()) for col in columns]
    arrays.append(pa.array(lines, type=pa.int64()))
    return pa.Table.from_arrays(arrays, names=[*names, "_line"])


T = TypeVar("T")


def prefetch(chunks: Iterator[T], depth: int = 2) -> Iterator[T]:
    """``chunks``, read ahead in a background thread.

    Splitting CSV records is Python work, typing them is DuckDB work (which releases the GIL), so
    reading the next chunk while DuckDB types this one uses two cores instead of one. At most
    ``depth`` chunks wait in memory. An exception in the reader is raised here, in the caller.
    """
    ready: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for chunk in chunks:
                if not put(chunk):
                    return
            put(done)
        except BaseException as exc:  # handed to the caller, raised there
            put(exc)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # closes the file even when the caller stopped early

    thread = threading.Thread(target=work, name="ingest-reader", daemon=True)
    thread.start()
    try:
        while (item := ready.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
