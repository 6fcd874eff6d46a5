"""Ingestion on Spark: Parquet exports at a URI read by Spark, the data contract run as Spark SQL.

When ``--data`` is a URI that Spark reads (``s3a://``, ``abfss://``, ``hdfs://``, ``file://`` …),
``run --engine spark`` does not load the data through DuckDB on the driver. The steps are those
of :func:`audit.ingest.load.load_tables`, on two connections:

- Spark reads each export: a file ``<table>.parquet``, or a directory ``<table>.parquet/`` or
  ``<table>/`` of part files. A record's line is its position in the export, the files taken in
  path order and the rows in file order, from Spark's hidden ``_metadata`` columns
  (``file_path``, ``row_index``): for one file that is the row number DuckDB gives it.
- The cheap typing (:mod:`audit.ingest.fasttype`), the contract's checks
  (:mod:`audit.ingest.checks`) and the Great Expectations sample run as Spark SQL, carried over
  by :mod:`audit.spark.dialect` like the engine's statements; the loaded tables stay on Spark.
- Only the rows the cheap pass cannot type (German dates, local times, ``1.234,56``: the careful
  parser, :mod:`audit.ingest.parse`) and the rows set aside travel to the driver, where a
  DuckDB of its own types them and keeps the quarantine, exactly as for ``--engine duckdb``.
  A clean export sends nothing but numbers to the driver.
- ``--gx sample`` (the default) hands Great Expectations at most 2,000 rows per table, taken
  on Spark; ``--gx full`` collects every row to the driver for it.
- ``summary.json``'s ``inputs``: the driver does not read the files' bytes, so an input's
  fingerprint is the SHA-256 of its listing (each part file's path, size and modification time).

A local directory keeps the DuckDB loader (:mod:`audit.spark.run`), also for Parquet: with
local Spark it is the faster way (docs/scale-out.md), and a cluster cannot see the driver's
files. ``load_on_spark`` itself also takes a local directory (the tests compare the two loaders
on it; the inputs are then fingerprinted by their bytes, as with DuckDB).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from audit.contract import Table, contract_for
from audit.errors import DataError, Diagnostic, Location
from audit.ingest.files import (
    ColumnMatch,
    column_warnings,
    fingerprint,
    is_uri,
    locate_inputs,
    match_columns,
)
from audit.ingest.parquetread import float_warnings, raw_json
from audit.ingest.parse import DEFAULT_DATES, derived_columns
from audit.ingest.result import IngestResult
from audit.spark.connection import SparkConnection


@dataclass(frozen=True)
class SparkFile:
    """The export of a table as Spark reads it (the attributes of ``InputFile`` the loader
    uses)."""

    table: str
    location: str  # a local path or a URI
    sha256: str
    format: str = "parquet"
    encoding: str = ""

    @property
    def name(self) -> str:
        return self.location.rstrip("/").rsplit("/", 1)[-1]

    @property
    def label(self) -> str:
        return self.location


class SparkParquetReader:
    """A Parquet export read by Spark: the loader's ``Reader`` with a Spark relation."""

    dialect = "Parquet"

    def __init__(self, file: SparkFile, table: Table, match: ColumnMatch, df,
                 files: list[tuple[str, int]], floating: set[str]) -> None:
        self.file = file
        self.table = table
        self.match = match
        self.rows_in = sum(n for _, n in files)
        self.warnings = column_warnings(file.name, match) + float_warnings(file.name, table, match, floating)
        self._df = df
        self._files = files

    def view(self) -> str:
        return f"_ingest_source_{self.table.name}"

    def _with_lines(self):
        """Every column of the export and ``_line``."""
        from pyspark.sql import functions as F

        index = F.col("_metadata.row_index") + F.lit(1)
        if len(self._files) == 1:
            return self._df.select("*", index.alias("_line"))
        offsets, total = [], 0
        for path, n in self._files:
            offsets.append((path, total))
            total += n
        spark = self._df.sparkSession
        starts = spark.createDataFrame(offsets, "`__file` STRING, `__offset` BIGINT")
        df = self._df.select("*", F.col("_metadata.file_path").alias("__file"), index.alias("__index"))
        return (df.join(F.broadcast(starts), "__file")
                .select(*[F.col(f"`{c}`") for c in self._df.columns],
                        (F.col("__offset") + F.col("__index")).alias("_line")))

    def relation(self, con: SparkConnection) -> str:
        """The export's canonical columns and ``_line`` as a view on ``con``."""
        from pyspark.sql import functions as F

        df = self._with_lines()
        columns = [F.col(f"`{source}`").alias(name) for name, source in self.match.positions.items()]
        con.register_table(self.view(), df.select(*columns, "_line"))
        return self.view()

    def raw_records(self, lines: Collection[int]) -> dict[int, str]:
        """Each wanted row as a JSON object of all its columns (as the DuckDB loader shows a
        Parquet row)."""
        wanted = sorted(set(lines))
        if not wanted:
            return {}
        spark = self._df.sparkSession
        keys = spark.createDataFrame([(n,) for n in wanted], "_line BIGINT")
        rows = self._with_lines().join(keys, "_line").toArrow().sort_by("_line").to_pylist()
        names = self._df.columns
        return {row["_line"]: raw_json({n: row[n] for n in names}) for row in rows}


def _read(spark, location: str):
    """``spark.read.parquet(location)`` with its schema known, or the exception Spark raised."""
    df = spark.read.parquet(location)
    df.schema  # noqa: B018 - Spark Connect resolves the path only when asked
    return df


def _listing(df) -> list[tuple[str, int, int, dt.datetime]]:
    """(path, rows, size, modification time) of each file of ``df``, in path order."""
    from pyspark.sql import functions as F

    rows = (df.select(F.col("_metadata.file_path").alias("p"), F.col("_metadata.file_size").alias("s"),
                      F.col("_metadata.file_modification_time").alias("m"))
            .groupBy("p", "s", "m").count().collect())
    return sorted((r["p"], r["count"], r["s"], r["m"]) for r in rows)


def _exports(spark, data: str | Path, contract: dict[str, Table], *,
             follow_symlinks: bool) -> tuple[dict[str, tuple[str, object]], list[Diagnostic], list[str]]:
    """``table -> (location, DataFrame)`` of each export found, the problems, the warnings."""
    problems: list[Diagnostic] = []
    found: dict[str, tuple[str, object]] = {}
    optional = {name for name, t in contract.items() if t.optional}
    if not is_uri(data):
        paths, missing, warnings = locate_inputs(Path(data), list(contract), optional,
                                                 follow_symlinks=follow_symlinks)
        problems.extend(missing)
        for name, path in paths.items():
            try:
                found[name] = (str(path), _read(spark, str(path.resolve())))
            except Exception as exc:  # noqa: BLE001 - Spark's reading errors have many types
                problems.append(_unreadable(str(path), exc))
        return found, problems, warnings
    base = str(data).rstrip("/")
    for name in contract:
        here = []
        for location in (f"{base}/{name}.parquet", f"{base}/{name}"):
            try:
                here.append((location, _read(spark, location)))
            except Exception as exc:  # noqa: BLE001
                if "PATH_NOT_FOUND" not in str(exc):
                    problems.append(_unreadable(location, exc))
                    here.append((location, None))
        if len(here) == 1 and here[0][1] is not None:
            found[name] = here[0]
        elif len(here) > 1:
            problems.append(Diagnostic(Location(here[0][0]), f"{name} has more than one export: "
                                       + ", ".join(loc for loc, _ in here), "keep exactly one per table"))
        elif not here and name not in optional:
            problems.append(Diagnostic(Location(f"{base}/{name}.parquet"), "not found",
                                       f"export the {name} table as {name}.parquet (a file or a "
                                       "directory of Parquet files)"))
    return found, problems, []


def _unreadable(location: str, exc: Exception) -> Diagnostic:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return Diagnostic(Location(location), f"Spark cannot read it as Parquet: {first}",
                      "export it again as Parquet, or as CSV and run without a URI")


def open_spark_readers(spark, data: str | Path, contract: dict[str, Table], *,
                       follow_symlinks: bool = False) -> tuple[dict[str, SparkParquetReader], list[str]]:
    """A reader per export found, and the warnings; one DataError with every problem."""
    from pyspark.sql import types as T

    found, problems, warnings = _exports(spark, data, contract, follow_symlinks=follow_symlinks)
    readers: dict[str, SparkParquetReader] = {}
    for name, (location, df) in found.items():
        table = contract[name]
        match, found_problems = match_columns(table, list(df.columns), location,
                                              derived=derived_columns(table), positional=False)
        problems.extend(found_problems)
        if match is None:
            continue
        listing = _listing(df)
        if is_uri(data):
            text = "".join(f"{p}\t{s}\t{m.isoformat()}\n" for p, _, s, m in listing)
            sha = hashlib.sha256(text.encode()).hexdigest()
        else:
            sha = fingerprint(Path(location), text=False)[0]
        floating = {f.name for f in df.schema.fields
                    if isinstance(f.dataType, T.DoubleType | T.FloatType)}
        readers[name] = SparkParquetReader(SparkFile(name, location, sha), table, match, df,
                                           [(p, n) for p, n, _, _ in listing], floating)
    if problems:
        raise DataError(diagnostics=sorted(problems, key=lambda d: (d.location.file, d.location.line)))
    return readers, warnings


def load_on_spark(sc: SparkConnection, data: str | Path, *, timezone: str, tier_ids: list[str],
                  gx: str = "sample", gx_sample_rows: int | None = None,
                  progress: Callable[[str], None] | None = None,
                  dates: tuple[dt.date, dt.date] = DEFAULT_DATES, follow_symlinks: bool = False,
                  gx_late: bool = True) -> IngestResult:
    """The canonical tables of the Parquet exports in ``data`` on ``sc``, with the quarantine
    and the contract's evidence of :func:`audit.ingest.load_data` (see the module docstring)."""
    from audit.db import connect
    from audit.ingest.load import GX_SAMPLE_ROWS, check_load_args, load_tables

    check_load_args(gx, timezone)
    contract = contract_for(tier_ids)
    readers, warnings = open_spark_readers(sc.spark, data, contract, follow_symlinks=follow_symlinks)
    local = connect()
    try:
        return load_tables(sc, local, contract, readers, warnings, timezone=timezone, gx=gx,
                           gx_sample_rows=gx_sample_rows or GX_SAMPLE_ROWS,
                           say=progress or (lambda _m: None), dates=dates, careful=False,
                           gx_late=gx_late)
    finally:
        local.close()
        for reader in readers.values():
            sc.execute(f"DROP VIEW IF EXISTS {reader.view()}")
