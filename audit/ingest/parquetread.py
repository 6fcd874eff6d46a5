"""Reading Parquet exports; a record's line is its row number (1-based).

DuckDB reads the file itself when it can (:meth:`ParquetReader.relation`): one set-based pass,
no Python in between. Otherwise it is read in Arrow record batches (:meth:`ParquetReader.chunks`).

Values keep their Parquet types in the chunk; the parser casts every column to text first
(``CAST(x AS VARCHAR)``) and then applies the same typed parsing as for CSV, so a decimal column,
a text column with ``"1,5"`` and a timestamp column all end up under the same rules.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from audit.contract import Table
from audit.errors import Diagnostic, Location
from audit.ingest.files import ColumnMatch, InputFile, column_warnings, match_columns
from audit.ingest.readers import Chunk
from audit.sql import ident, lit


def raw_json(row: dict) -> str:
    """A quarantined Parquet row's raw text: all its columns as a JSON object (values without a
    JSON form, such as instants and decimals, as their text)."""
    return json.dumps(row, ensure_ascii=False, default=str)


def float_warnings(file_name: str, table: Table, match: ColumnMatch, floating: set[str]) -> list[str]:
    """A warning per money column that the file stores as binary floating point (``floating``:
    the file's columns of such a type)."""
    return [f"{file_name}: column '{source}' is binary floating point; its values were "
            "read from their shortest decimal text (export it as decimal or text to be sure)"
            for name, source in match.positions.items()
            if table.column(name).type == "decimal" and str(source) in floating]


class ParquetReader:
    def __init__(self, file: InputFile, table: Table, match: ColumnMatch, parquet: pq.ParquetFile,
                 chunk_rows: int):
        self.file = file
        self.match = match
        self.chunk_rows = chunk_rows
        self.rows_in = 0
        self.dialect = "Parquet"
        self._parquet = parquet
        schema = parquet.schema_arrow
        floating = {f.name for f in schema if pa.types.is_floating(f.type)}
        self.warnings = column_warnings(file.name, match) + float_warnings(file.name, table, match, floating)

    @classmethod
    def open(cls, file: InputFile, table: Table, derived: frozenset[str],
             chunk_rows: int) -> tuple[ParquetReader | None, list[Diagnostic]]:
        try:
            parquet = pq.ParquetFile(file.path)
        except (OSError, pa.ArrowException) as exc:
            return None, [Diagnostic(Location(file.label), f"cannot read the Parquet file: {exc}",
                                     "export it again, or as CSV")]
        names = list(parquet.schema_arrow.names)
        match, problems = match_columns(table, names, file.label, derived=derived, positional=False)
        if match is None:
            return None, problems
        return cls(file, table, match, parquet, chunk_rows), []

    def relation(self, con) -> str | None:  # noqa: ANN001 - a DuckDB connection
        """The file as an SQL relation read by DuckDB's own Parquet reader (canonical columns and
        ``_line``), or None when its columns would not come out as the Arrow chunks'
        (then :meth:`chunks` reads it): the types must be equal, so every value reads the same."""
        canonical = list(self.match.positions)
        sources = [str(self.match.positions[n]) for n in canonical]
        columns = ", ".join(f"{ident(s)} AS {ident(n)}" for n, s in zip(canonical, sources, strict=True))
        relation = (f"(SELECT {columns}, file_row_number + 1 AS _line "
                    f"FROM read_parquet({lit(str(self.file.path))}, file_row_number = true))")
        try:
            native = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        except duckdb.Error:
            return None
        empty = self._parquet.schema_arrow.empty_table().select(sources).rename_columns(canonical)
        con.register("_ingest_parquet_schema", empty)
        try:
            arrow = con.execute("DESCRIBE SELECT * FROM _ingest_parquet_schema").fetchall()
        finally:
            con.unregister("_ingest_parquet_schema")
        if [r[:2] for r in native[:-1]] != [r[:2] for r in arrow]:
            return None
        self.rows_in = self._parquet.metadata.num_rows
        return relation

    def chunks(self) -> Iterator[Chunk]:
        canonical = list(self.match.positions)
        sources = [str(self.match.positions[n]) for n in canonical]
        line = 0
        for batch in self._parquet.iter_batches(batch_size=self.chunk_rows, columns=sources):
            n = batch.num_rows
            arrays = [batch.column(s) for s in sources]
            arrays.append(pa.array(range(line + 1, line + n + 1), type=pa.int64()))
            line += n
            self.rows_in += n
            yield Chunk(pa.Table.from_arrays(arrays, names=[*canonical, "_line"]))

    def raw_records(self, lines: Collection[int]) -> dict[int, str]:
        """Each wanted row as a JSON object of all its columns."""
        wanted = sorted(set(lines))
        out: dict[int, str] = {}
        offset = 0
        i = 0
        for batch in self._parquet.iter_batches(batch_size=self.chunk_rows):
            n = batch.num_rows
            take = []
            while i < len(wanted) and wanted[i] <= offset + n:
                take.append(wanted[i] - offset - 1)
                i += 1
            if take:
                for index, row in zip(take, batch.take(pa.array(take)).to_pylist(), strict=True):
                    out[offset + index + 1] = raw_json(row)
            offset += n
            if i >= len(wanted):
                break
        return out
