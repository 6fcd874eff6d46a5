"""Result tables written by Spark: ``findings.parquet/``, ``classifications.parquet/`` and
``reconciliation.parquet/`` as Parquet datasets (docs/scale-out.md, "Outputs on Spark").

The executors write each table into the output set's staging directory themselves: nothing of
it is collected to the driver. Local Spark always can; a cluster's executors or a Spark Connect
server can when the directory is shared with them (a network file system mounted at the same
path), which :func:`executors_write_here` finds out by trying, before the export.

The table's SQL sorts it by its documented keys (a range-partitioned sort), so part ``n`` holds
the rows after part ``n-1``; the part files are renamed ``part-00000.parquet``,
``part-00001.parquet`` … in that order (Spark's names carry a job id) and Spark's bookkeeping
files are removed, so that reading the parts in name order gives the table in order, as
``findings.parquet`` written by DuckDB would be. The column types are those of the
DuckDB-written file (integers 64-bit, instants as microseconds in UTC, money as
``DECIMAL(18, 2)``), so every reader (the report, the CSV writer, ``report --from``, polars,
DuckDB, pandas) reads either the same way.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

#: Spark's Parquet writer settings for result tables: instants as the standard microsecond
#: type (Spark's default INT96 is deprecated and read as a different type).
_SQL_CONF = {"spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS"}


def _plain_types(df):
    """``df`` with every integer column as ``bigint`` (DuckDB's files have 64-bit integers)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    small = (T.ByteType, T.ShortType, T.IntegerType)
    return df.select(*[F.col(f"`{f.name}`").cast("bigint").alias(f.name)
                       if isinstance(f.dataType, small) else F.col(f"`{f.name}`")
                       for f in df.schema.fields])


def finish_dataset(tmp: Path, path: Path) -> Path:
    """Spark's output directory ``tmp`` as the dataset ``path``: the part files renamed
    ``part-NNNNN.parquet`` in partition order, everything else (``_SUCCESS``, checksums)
    removed, then ``tmp`` moved to ``path``."""
    parts = sorted(p for p in tmp.iterdir() if p.name.startswith("part-") and p.suffix == ".parquet")
    for p in tmp.iterdir():
        if p not in parts:
            p.unlink()
    for i, part in enumerate(parts):
        part.rename(tmp / f"part-{i:05d}.parquet")
    tmp.rename(path)
    return path


#: The probe of :func:`executors_write_here`: its rows, and the parts they are written in (so
#: that a cluster spreads the tasks over its executors, as it will the result tables).
PROBE_ROWS, PROBE_PARTS = 64, 8


def executors_write_here(spark: Any, directory: str | Path) -> bool:
    """Whether what Spark's executors write into ``directory`` (as the ``file://`` URI of this
    machine's path) arrives here whole: Spark writes a small dataset (:data:`PROBE_ROWS` numbers
    in :data:`PROBE_PARTS` tasks) into a hidden subdirectory, and this process reads it back.

    True on local Spark, and on a cluster or a Spark Connect server that shares the directory
    with this machine (the same network file system at the same path). Otherwise the write
    fails, or Spark commits parts this machine never sees (each executor wrote to its own disk),
    or some of them: False, and the result tables come back to this process instead
    (:func:`audit.outputs.table_sink`). The probe is removed here; on executors that do not
    share the directory, what they wrote stays on their disks (a few empty directories and
    at most :data:`PROBE_PARTS` files of a few hundred bytes, under the same path)."""
    probe = Path(directory) / ".spark-probe.writing"  # hidden: no output set lists it
    shutil.rmtree(probe, ignore_errors=True)
    try:
        spark.range(0, PROBE_ROWS, 1, PROBE_PARTS).write.parquet(probe.resolve().as_uri())
        parts = sorted(probe.glob("part-*.parquet"))
        got = sorted(n for part in parts for n in pq.read_table(part).column(0).to_pylist())
        return got == list(range(PROBE_ROWS))
    except Exception:  # noqa: BLE001 - any failure to write there or to read it here: not shared
        return False
    finally:
        shutil.rmtree(probe, ignore_errors=True)


class DatasetSink:
    """A :class:`~audit.engine.render.Sink` for Spark whose executors write the output set's
    directory (:func:`executors_write_here`): each result table is written by Spark as the
    Parquet dataset ``out_dir/<name>.parquet/``; ``files`` lists the datasets."""

    def __init__(self, out_dir: str | Path):
        self.out = Path(out_dir)
        self.files: dict[str, Path] = {}

    def write(self, name: str, table: Any) -> None:
        """Write ``table`` (:class:`audit.engine.render.TableQuery`) over all its months in one
        Spark job."""
        conf = table.con.spark.conf
        path = self.out / f"{name}.parquet"
        tmp = self.out / f".{name}.parquet.writing"  # hidden: no output set lists it
        shutil.rmtree(tmp, ignore_errors=True)
        df = _plain_types(table.con.sql(table.sql, table.all_months()).df)
        before = {key: conf.get(key, None) for key in _SQL_CONF}
        try:
            for key, value in _SQL_CONF.items():  # for this write only: the session may be the user's
                conf.set(key, value)
            df.write.option("compression", "zstd").parquet(tmp.resolve().as_uri())
            self.files[name] = finish_dataset(tmp, path)
        finally:
            for key, value in before.items():
                if value is None:
                    conf.unset(key)
                else:
                    conf.set(key, value)
            shutil.rmtree(tmp, ignore_errors=True)
