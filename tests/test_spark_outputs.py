"""Result tables written by Spark (audit/spark/outputs.py, docs/scale-out.md "Outputs on Spark").

With local Spark and ``--out``, findings, classifications and reconciliation are written by the
executors as Parquet datasets (``findings.parquet/part-00000.parquet`` …), never collected to the
driver; the summary comes from aggregates. Everything a user reads from the output set — the
CSV and JSON Lines files, actions.csv, the report, summary.json — must be byte for byte what
DuckDB writes, and the datasets row for row DuckDB's files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from spark_support import require_spark

from audit.outputs import ParquetSink, table_sink
from audit.spark.outputs import DatasetSink, executors_write_here, finish_dataset

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("findings", "classifications", "reconciliation")
SAME_BYTES = ("findings.csv", "findings.jsonl", "quarantine.csv", "quarantine.parquet",
              "actions.csv", "report.html", "summary.json", "policy.json",
              "data_quality/contract_checks.json")


def test_a_spark_output_directory_becomes_part_files_in_partition_order(tmp_path):
    """Spark's part names carry the partition number and a job id; the dataset keeps the parts
    in partition order as ``part-NNNNN.parquet`` and nothing else (no _SUCCESS, checksums)."""
    tmp = tmp_path / ".t.writing"
    tmp.mkdir()
    for n in (2, 0, 11):  # partition 1 wrote no rows: no file
        (tmp / f"part-{n:05d}-1b2c-c000.zstd.parquet").write_bytes(f"p{n}".encode())
        (tmp / f".part-{n:05d}-1b2c-c000.zstd.parquet.crc").write_bytes(b"crc")
    (tmp / "_SUCCESS").write_bytes(b"")
    (tmp / "._SUCCESS.crc").write_bytes(b"")
    path = finish_dataset(tmp, tmp_path / "t.parquet")
    assert not tmp.exists()
    assert sorted(p.name for p in path.iterdir()) == [
        "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert [(path / f"part-{i:05d}.parquet").read_bytes() for i in range(3)] == [b"p0", b"p2", b"p11"]


class _ProbeSpark:
    """Stands for a SparkSession in the probe of whether the executors write this machine's
    directory: ``range(...).write.parquet(uri)`` writes as the executors of ``kind`` would be
    seen from here: ``shared`` every part, ``apart`` only Spark's ``_SUCCESS`` (the job
    committed on the driver, the parts stayed on the executors' disks), ``some`` half the
    parts, ``failing`` an error of the write."""

    def __init__(self, kind: str):
        self.kind = kind
        self.written: list[Path] = []

    def range(self, start, end, step, parts):
        assert (start, step) == (0, 1) and parts > 1
        spark = self

        class _Write:
            def parquet(self, uri: str) -> None:
                from urllib.parse import unquote, urlparse

                import pyarrow as pa

                if spark.kind == "failing":
                    raise RuntimeError("java.io.IOException: Mkdirs failed to create file:/nowhere")
                path = Path(unquote(urlparse(uri).path))
                path.mkdir(parents=True)
                (path / "_SUCCESS").write_bytes(b"")
                spark.written.append(path)
                chunks = [list(range(end))[i::parts] for i in range(parts)]
                if spark.kind == "some":
                    chunks = chunks[: parts // 2]
                if spark.kind == "apart":
                    chunks = []
                for i, chunk in enumerate(chunks):
                    pq.write_table(pa.table({"id": pa.array(chunk, pa.int64())}),
                                   path / f"part-{i:05d}-x-c000.zstd.parquet")

        class _Frame:
            write = _Write()

        return _Frame()


@pytest.mark.parametrize(("kind", "shared"), [("shared", True), ("apart", False),
                                              ("some", False), ("failing", False)])
def test_the_probe_trusts_the_directory_only_when_every_row_arrives_here(tmp_path, kind, shared):
    spark = _ProbeSpark(kind)
    assert executors_write_here(spark, tmp_path) is shared
    assert list(tmp_path.iterdir()) == []  # the probe is removed either way
    assert kind == "failing" or spark.written[0].parent == tmp_path


@pytest.mark.parametrize(("kind", "sink"), [("shared", DatasetSink), ("apart", ParquetSink)])
def test_a_cluster_writes_the_tables_itself_only_where_its_executors_write_here(tmp_path, kind, sink):
    """Not local Spark (a cluster master or Spark Connect): the probe decides, and says so."""

    class _Connection:
        dialect = "spark"
        local_files = False
        spark = _ProbeSpark(kind)

    said: list[str] = []
    assert type(table_sink(_Connection(), tmp_path, said.append)) is sink
    assert said[0] == "checking whether Spark's executors can write the output directory"
    assert ("come back here" in said[1]) is (sink is ParquetSink)


def test_local_spark_writes_the_tables_without_a_probe(tmp_path):
    class _Connection:
        dialect = "spark"
        local_files = True
        spark = None  # a probe would fail on it

    said: list[str] = []
    assert type(table_sink(_Connection(), tmp_path, said.append)) is DatasetSink
    assert said == []


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The sample audited with --out by DuckDB and by local Spark (four shuffle partitions,
    not coalesced, so that every table is written in several parts)."""
    require_spark()
    import audit.engine.render as render
    from audit.api import run_audit

    base = tmp_path_factory.mktemp("spark-outputs")
    formats = ("parquet", "csv", "json")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", "1780000000")
        duck = run_audit(ROOT / "policies", ROOT / "sample_data", base / "duck", gx="off",
                         fail_on="never", formats=formats)

        def collected(*_args, **_kwargs):
            raise AssertionError("a result table was read out to the driver")

        mp.setattr(render.TableQuery, "batches", collected)
        spark = run_audit(ROOT / "policies", ROOT / "sample_data", base / "spark", gx="off",
                          fail_on="never", formats=formats, engine="spark",
                          spark_master="local[2]",
                          spark_conf={"spark.sql.shuffle.partitions": "4",
                                      "spark.sql.adaptive.coalescePartitions.enabled": "false"})
        from reports import render_report

        for run in (duck, spark):  # as `run` does after the output set is written
            render_report(run.out_dir)
        render_report(base / "spark", output=base / "again.html", write_actions=False)
    return duck, spark, base


def test_the_tables_are_datasets_of_ordered_parts_equal_to_duckdbs_files(runs):
    duck, spark, _base = runs
    for name in TABLES:
        dataset = spark.out_dir / f"{name}.parquet"
        parts = sorted(p.name for p in dataset.iterdir())
        assert dataset.is_dir() and parts == [f"part-{i:05d}.parquet" for i in range(len(parts))]
        assert len(parts) > 1, f"{name}: one part only, the order across parts is not tested"
        want = pq.read_table(duck.out_dir / f"{name}.parquet")
        got = ds.dataset(dataset, format="parquet").to_table()  # the parts in name order
        assert got.schema.remove_metadata().names == want.schema.names
        assert [f.type for f in got.schema] == [f.type for f in want.schema], name
        assert got.cast(want.schema).equals(want), f"{name}: rows differ from DuckDB's"
        assert spark.table_file(name) == dataset
        assert getattr(spark, name).equals(getattr(duck, name))  # read back through polars


def test_every_file_a_user_reads_is_byte_identical(runs):
    duck, spark, base = runs
    for name in SAME_BYTES:
        assert (spark.out_dir / name).read_bytes() == (duck.out_dir / name).read_bytes(), name
    assert (spark.out_dir / "actions.csv").stat().st_size > 10_000
    # the report drawn again from the Spark output set (report --from)
    assert (base / "again.html").read_bytes() == (duck.out_dir / "report.html").read_bytes()


def test_the_session_keeps_its_own_parquet_settings(runs):  # noqa: ARG001 - after the runs
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    assert spark.conf.get("spark.sql.parquet.outputTimestampType", None) in (None, "INT96")


def test_the_manifest_lists_every_part_and_the_set_verifies(runs):
    from audit.outputset import open_output_set

    _duck, spark, _base = runs
    listed = json.loads((spark.out_dir / "run.json").read_text())["files"]
    for name in TABLES:
        parts = sorted((spark.out_dir / f"{name}.parquet").iterdir())
        assert {f"{name}.parquet/{p.name}" for p in parts} <= set(listed)
    assert not [n for n in listed if "_SUCCESS" in n or n.endswith(".crc")]
    assert not [p for p in spark.out_dir.iterdir() if p.name.endswith(".writing")]
    open_output_set(spark.out_dir, verify="sha256")
