"""Streaming table writers (CSV or Parquet) that know the physical line of every row, and a
disk spool for rows that must be written later in another order.

A writer hands back a quarantine record (:meth:`Dirty.record`) for every dirty row it writes,
with the line the ingestion will report: for CSV the physical line where the record starts
(header = line 1, a quoted newline counts), for Parquet the 1-based row number. Files are
written under a temporary name and renamed by :meth:`TableSet.commit`, so an interrupted run
leaves no half-written table behind.
"""

from __future__ import annotations

import csv
import os
import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path

from audit.sample.dirty import Dirty
from audit.sample.formats import CSV_FORMATS, TABLE_ORDER, arrow_columns, arrow_schema, columns


def _tmp(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


class CsvTable:
    def __init__(self, path: Path, table: str):
        fmt = CSV_FORMATS[table]
        self.table, self.path = table, path
        self._cells, self._text_columns, self._eol = fmt.cells, fmt.text_columns, fmt.lineterminator
        self._file = open(_tmp(path), "w", encoding=fmt.encoding, newline="")  # noqa: SIM115
        self._csv = csv.writer(self._file, delimiter=fmt.delimiter, lineterminator=fmt.lineterminator)
        self._csv.writerow(columns(table))
        self.rows = 0  # records written (dirty ones included)
        self.line = 2  # physical line where the next record starts

    def write(self, rows: Iterable) -> list[dict]:
        quarantine = []
        cells_of, text_columns, writerow = self._cells, self._text_columns, self._csv.writerow
        for row in rows:
            if type(row) is Dirty:
                quarantine.append(row.record(self.table, self.line))
                if row.raw is not None:
                    self._file.write(row.raw + self._eol)
                    self.line += 1 + row.raw.count("\n")
                    self.rows += 1
                    continue
                cells = list(row.cells) if row.cells is not None else cells_of(row.row)
            else:
                cells = cells_of(row)
            writerow(cells)
            self.rows += 1
            self.line += 1
            for i in text_columns:
                self.line += cells[i].count("\n")
        return quarantine

    def close(self) -> None:
        self._file.close()


class ParquetTable:
    """Buffers rows into row groups of ``ROW_GROUP`` rows (so output is independent of how the
    caller batches its writes). Dirty rows that only CSV can express are skipped."""

    ROW_GROUP = 100_000

    def __init__(self, path: Path, table: str):
        import pyarrow.parquet as pq

        self.table, self.path = table, path
        self.schema = arrow_schema(table)
        self._writer = pq.ParquetWriter(_tmp(path), self.schema)
        self._buffer: list[tuple] = []
        self.rows = 0

    def write(self, rows: Iterable) -> list[dict]:
        quarantine = []
        for row in rows:
            if type(row) is Dirty:
                if row.csv_only:
                    continue
                quarantine.append(row.record(self.table, self.rows + 1))
                row = row.row
            self._buffer.append(row)
            self.rows += 1
            if len(self._buffer) >= self.ROW_GROUP:
                self._flush()
        return quarantine

    def _flush(self) -> None:
        import pyarrow as pa

        if self._buffer:
            cols = arrow_columns(self.table, self._buffer)
            arrays = [pa.array(c, type=f.type) for c, f in zip(cols, self.schema, strict=True)]
            self._writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))
            self._buffer = []

    def close(self) -> None:
        self._flush()
        self._writer.close()


class TableSet:
    """The table files of one output directory, committed together."""

    def __init__(self, out_dir: Path, fmt: str):
        cls = CsvTable if fmt == "csv" else ParquetTable
        self.tables = {t: cls(out_dir / f"{t}.{fmt}", t) for t in TABLE_ORDER}
        self._closed = False

    def __getitem__(self, table: str) -> CsvTable | ParquetTable:
        return self.tables[table]

    def close(self) -> None:
        if not self._closed:
            for t in self.tables.values():
                t.close()
            self._closed = True

    def commit(self) -> list[Path]:
        self.close()
        for t in self.tables.values():
            os.replace(_tmp(t.path), t.path)
        return [t.path for t in self.tables.values()]

    def abort(self) -> None:
        self.close()
        for t in self.tables.values():
            _tmp(t.path).unlink(missing_ok=True)


def write_atomic(path: Path, chunks: Iterable[str]) -> None:
    """Write text chunks to ``path`` via a temporary file and a rename.

    Streaming, unlike :func:`audit.outputs.atomic_write_text`: a ground truth of millions of
    findings is never held as one string."""
    tmp = _tmp(path)
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for chunk in chunks:
                f.write(chunk)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class Spool:
    """Batches of picklable items put aside under a key, read back key by key.

    Invoice lines are made per block but belong in the file month by month; findings and
    quarantine records are only written once all tables are done. Keeping them on disk keeps
    memory bounded however many tickets are generated.
    """

    def __init__(self, directory: Path):
        self._dir = directory
        self._files: dict[str, Path] = {}

    def add(self, key: str, items: list) -> None:
        if not items:
            return
        path = self._files.setdefault(key, self._dir / f"spool-{len(self._files)}.pkl")
        with open(path, "ab") as f:
            pickle.dump(items, f, protocol=pickle.HIGHEST_PROTOCOL)

    def keys(self) -> list[str]:
        return sorted(self._files)

    def items(self, key: str) -> Iterator:
        path = self._files.get(key)
        if path is None:
            return
        with open(path, "rb") as f:
            while True:
                try:
                    batch = pickle.load(f)
                except EOFError:
                    return
                yield from batch
