"""Parquet exports read by Spark give what the DuckDB loader gives (audit/spark/ingest.py):
the canonical tables row by row, the quarantine (lines, reasons, values, raw text), the counts,
the warnings and the contract evidence; and a whole audit over them gives DuckDB's findings.

The fixtures are the DuckDB loader's own (tests/fixtures/ingest, the sample data) written as
Parquet, once with every column as text (so the cheap typing and the careful parser both have
work: German dates, local times, ``1.234,56``, broken values) and once with the native edge
values of tests/test_ingest_fast_typing.py. A URI export (``file://``, a directory of part
files) is read the same way; ``run --engine spark`` reads a URI with Spark and a local
directory with the DuckDB loader.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from spark_support import require_spark
from test_ingest_fast_typing import evidence

from audit.db import connect
from audit.ingest import load_data

pytestmark = [pytest.mark.spark, pytest.mark.slow]

FIXTURES = Path(__file__).parent / "fixtures" / "ingest"
SAMPLE = Path(__file__).parent.parent / "sample_data"
TIERS = ["standard", "extended"]
TZ = "Europe/Berlin"


@pytest.fixture(scope="module")
def sc():
    require_spark()
    from audit.spark.connection import SparkConnection
    from audit.spark.session import spark_session

    session = spark_session("local[2]", shuffle_partitions=2)
    con = SparkConnection(session)
    yield con
    con.close()
    session.stop()


def as_text_parquet(source: Path, target: Path) -> Path:
    """Every CSV export of ``source`` as a Parquet file of text columns in ``target``: the
    records the CSV reader splits into fields, as it reads them (encodings, quoting), with the
    contract's column names; a record that does not split has no Parquet form and is left out."""
    from audit.contract import contract_for
    from audit.ingest.files import InputFile, fingerprint
    from audit.ingest.parse import derived_columns
    from audit.ingest.readers import open_reader

    target.mkdir(parents=True, exist_ok=True)
    contract = contract_for(TIERS)
    for csv in sorted(source.glob("*.csv")):
        table = contract[csv.stem]
        sha, encoding = fingerprint(csv, text=True)
        reader, problems = open_reader(InputFile(csv.stem, csv, "csv", sha, encoding), table,
                                       derived_columns(table))
        assert reader is not None, problems
        chunks = [c.data.drop_columns(["_line"]) for c in reader.chunks()]
        pq.write_table(pa.concat_tables(chunks), target / f"{csv.stem}.parquet")
    return target


def rows(con, name: str) -> list[dict]:
    """A loaded table's rows in line order, through Arrow on both engines (instants in UTC)."""
    return con.sql(f'SELECT * FROM "{name}" ORDER BY _line').to_arrow_table().to_pylist()


def duckdb_load(data: Path, gx: str = "off") -> tuple[dict, dict]:
    con = connect()
    try:
        result = load_data(con, data, timezone=TZ, tier_ids=TIERS, gx=gx)
        tables = {name: rows(con, name) for name in result.tables}
    finally:
        con.close()
    return tables, evidence(result)


def spark_load(sc, data, gx: str = "off") -> tuple[dict, dict]:
    from audit.spark.ingest import load_on_spark

    result = load_on_spark(sc, data, timezone=TZ, tier_ids=TIERS, gx=gx)
    tables = {name: rows(sc, name) for name in result.tables}
    return tables, evidence(result)


def assert_same(duck: tuple[dict, dict], spark: tuple[dict, dict]) -> None:
    assert spark[0].keys() == duck[0].keys()
    for name, rows in duck[0].items():
        assert len(spark[0][name]) == len(rows), name
        for d, s in zip(rows, spark[0][name], strict=True):
            assert s == d, f"{name}: spark {s} != duckdb {d}"
    for key in duck[1]:
        assert spark[1][key] == duck[1][key], key


@pytest.mark.parametrize("fixture", ["messy", "clean"])
def test_text_parquet_fixtures_load_alike(sc, tmp_path, fixture):
    data = as_text_parquet(FIXTURES / fixture, tmp_path / fixture)
    duck = duckdb_load(data)
    spark = spark_load(sc, data)
    assert_same(duck, spark)
    if fixture == "messy":  # the careful parser and the contract both had work
        reasons = {q["expectation"] for q in duck[1]["quarantine"]}
        assert len(duck[1]["quarantine"]) > 20 and "parse_error" in reasons
        assert any(r.startswith("expect_") for r in reasons)


def test_native_parquet_edges_load_alike(sc, tmp_path):
    from test_ingest_fast_typing import edge_parquet

    data = tmp_path / "edges"
    edge_parquet(data)
    as_text_parquet(data, data)  # the fixture's CSV tables too
    for csv in data.glob("*.csv"):
        csv.unlink()
    duck, spark = duckdb_load(data), spark_load(sc, data)
    assert_same(duck, spark)
    assert duck[1]["counts"]["time_entries"].loaded == 2


def test_the_sample_with_great_expectations_loads_alike(sc, tmp_path):
    data = as_text_parquet(SAMPLE, tmp_path / "sample")
    duck, spark = duckdb_load(data, gx="sample"), spark_load(sc, data, gx="sample")
    assert_same(duck, spark)
    assert sum(c.loaded for c in duck[1]["counts"].values()) > 3000
    assert all(c["agree"] for c in spark[1]["checks"])


def test_a_uri_with_a_directory_of_part_files(sc, tmp_path):
    """``file://`` stands for ``s3a://``: the exports are found by name, a table may be a
    directory of part files (lines run on across them in path order), and the inputs are
    fingerprinted by their listing."""
    data = as_text_parquet(FIXTURES / "messy", tmp_path / "flat")
    uri_dir = tmp_path / "lake"
    shutil.copytree(data, uri_dir)
    entries = pq.read_table(uri_dir / "time_entries.parquet")
    (uri_dir / "time_entries.parquet").unlink()
    parts = uri_dir / "time_entries"
    parts.mkdir()
    half = entries.num_rows // 2
    pq.write_table(entries.slice(0, half), parts / "part-00000.parquet")
    pq.write_table(entries.slice(half), parts / "part-00001.parquet")
    duck = duckdb_load(data)
    spark = spark_load(sc, f"file://{uri_dir}")
    renamed = {"time_entries.parquet": "time_entries"}  # the export is now a directory
    for rows in [*duck[0].values(), duck[1]["quarantine"]]:
        for row in rows:
            for key in ("_source_file", "source_file"):
                if key in row:
                    row[key] = renamed.get(row[key], row[key])
    duck[1]["warnings"] = [w.replace("time_entries.parquet:", "time_entries:") for w in duck[1]["warnings"]]
    assert spark[0] == duck[0]
    for key in ("quarantine", "warnings", "checks"):
        assert spark[1][key] == duck[1][key], key
    assert [q["line"] for q in spark[1]["quarantine"] if q["table"] == "time_entries"
            and q["line"] > half]  # a quarantined row of the second part file, lines run on
    assert spark[1]["counts"]["time_entries"].rows_in == entries.num_rows
    # each input fingerprinted by its listing, not by bytes the driver would have to read
    assert spark[1]["hashes"]["time_entries"] != duck[1]["hashes"]["time_entries.parquet"]
    assert len(spark[1]["hashes"]["time_entries"]) == 64


def test_a_missing_export_and_an_unreadable_file_are_data_errors(sc, tmp_path):
    from audit.errors import DataError

    data = as_text_parquet(FIXTURES / "clean", tmp_path / "broken")
    (data / "tickets.parquet").unlink()
    (data / "services.parquet").write_bytes(b"PAR1 not really")
    from audit.spark.ingest import load_on_spark

    with pytest.raises(DataError) as info:
        load_on_spark(sc, data, timezone=TZ, tier_ids=TIERS, gx="off")
    text = str(info.value)
    assert "tickets.csv: file not found" in text
    assert "services.parquet: Spark cannot read it as Parquet" in text


def test_a_whole_run_over_parquet_read_by_spark_equals_duckdb(sc, tmp_path):  # noqa: ARG001 - sc: Spark is required
    """``run --engine spark --data file://…``: Spark reads the exports (no DuckDB hand-over), and
    the audit's results and summary are DuckDB's over the same files, but for the inputs'
    fingerprints (a URI's listing, not its bytes)."""
    from test_spark_equivalence import assert_same_rows

    from audit.api import run_audit

    data = as_text_parquet(SAMPLE, tmp_path / "sample")
    progress: list[str] = []
    duck = run_audit("policies", data, gx="off")
    on_spark = run_audit("policies", f"file://{data}", gx="off", engine="spark",
                         spark_master="local[2]", progress=progress.append)
    assert "reading the Parquet exports with Spark" in progress
    assert not any("handing the loaded tables to Spark" in p for p in progress)
    assert duck.findings.height > 100
    for name in ("findings", "reconciliation", "classifications"):
        assert_same_rows(name, getattr(duck, name), getattr(on_spark, name))
    spark_summary, duck_summary = dict(on_spark.summary), dict(duck.summary)
    assert spark_summary.pop("inputs").keys() == duck_summary.pop("inputs").keys()
    assert spark_summary == duck_summary


def test_a_local_directory_keeps_the_duckdb_loader(sc, tmp_path):  # noqa: ARG001
    """Local Parquet with local Spark: the DuckDB loader and the hand-over (faster on one
    machine, docs/scale-out.md), so the inputs are fingerprinted by their bytes as with DuckDB."""
    from audit.api import open_audit_db
    from audit.policy.loader import load_policy

    data = as_text_parquet(FIXTURES / "clean", tmp_path / "clean")
    progress: list[str] = []
    con, ingest = open_audit_db(load_policy("policies"), data, gx="off", engine="spark",
                                spark_master="local[2]", progress=progress.append)
    try:
        assert "handing the loaded tables to Spark" in progress
        assert "reading the Parquet exports with Spark" not in progress
        assert ingest.input_hashes == duckdb_load(data)[1]["hashes"]
        assert con.execute("SELECT count(*) FROM time_entries").fetchone()[0] > 0
    finally:
        con.close()
