"""The Spark connection of ``run --engine spark``, and the hand-over of tables loaded on the driver
(docs/scale-out.md).

A ``--data`` URI is read by Spark itself (:mod:`audit.spark.ingest`, on a
:func:`spark_connection`). A local directory or a ``sources.yaml`` is ingested through the DuckDB
loader (the data contract, Great Expectations and the quarantine exactly as for ``--engine
duckdb``, so rows in = loaded + quarantined holds the same way), and :func:`to_spark` gives Spark
the loaded tables: local Spark reads them as Parquet files from a temporary directory; a cluster's
executors and a Spark Connect server, which cannot see this machine's files, receive them through
Arrow. The rules, texts and result tables then run as Spark SQL (:mod:`audit.spark.connection`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping

import pyarrow.parquet as pq

from audit.spark.connection import SparkConnection, plain_strings, spark_schema
from audit.spark.session import sees_local_files, spark_session


def loaded_tables(con) -> list[str]:
    """The canonical tables ingestion left on the DuckDB connection ``con``."""
    return [name for (name,) in con.execute(
        "SELECT table_name FROM duckdb_tables() ORDER BY table_name").fetchall()]


def spark_connection(*, master: str | None = None, remote: str | None = None,
                     shuffle_partitions: int | None = None, conf: Mapping[str, str] | None = None,
                     progress: Callable[[str], None] | None = None) -> SparkConnection:
    """A :class:`SparkConnection` with no tables yet (Spark reads the exports itself:
    :mod:`audit.spark.ingest`)."""
    return SparkConnection(spark_session(master, remote, shuffle_partitions=shuffle_partitions,
                                         conf=conf, progress=progress),
                           local_files=sees_local_files(master, remote))


def to_spark(con, *, master: str | None = None, remote: str | None = None,
             shuffle_partitions: int | None = None, conf: Mapping[str, str] | None = None,
             progress: Callable[[str], None] | None = None, spark=None) -> SparkConnection:
    """A :class:`SparkConnection` holding the tables loaded on the DuckDB connection ``con``
    (which the caller may close afterwards). ``conf``: further Spark settings
    (:func:`~audit.spark.session.spark_session`)."""
    spark = spark or spark_session(master, remote, shuffle_partitions=shuffle_partitions,
                                   conf=conf, progress=progress)
    # local Spark reads Parquet files of the tables; a cluster or a Connect server cannot see
    # them and gets the tables through Arrow
    staging = tempfile.mkdtemp(prefix="support-audit-spark-") \
        if sees_local_files(master, remote) else None
    sc = SparkConnection(spark, cleanup=(lambda: shutil.rmtree(staging, ignore_errors=True))
                         if staging else None, local_files=staging is not None)
    try:
        for name in loaded_tables(con):
            table = plain_strings(con.sql(f'SELECT * FROM "{name}"').to_arrow_table())
            if staging is None:  # with its schema: Spark infers none from no rows
                df = spark.createDataFrame(table, schema=spark_schema(table))
            else:
                path = os.path.join(staging, f"{name}.parquet")
                pq.write_table(table, path)
                df = spark.read.schema(spark_schema(table)).parquet(path)
            sc.register_table(name, df)
    except BaseException:
        sc.close()
        raise
    return sc
