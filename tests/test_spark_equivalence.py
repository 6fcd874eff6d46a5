"""The same policy judged by Spark and by DuckDB: findings, reconciliation, classifications and
the summary compared row by row (docs/scale-out.md).

Spark runs in local mode (``local[2]``, two shuffle partitions), one session for the whole test
session. Without PySpark or a Java runtime these tests are skipped, unless
SUPPORT_AUDIT_REQUIRE_SPARK=1 (CI, .ci/run), which turns the skip into a failure
(tests/spark_support.py).
"""

from __future__ import annotations

import duckdb
import polars as pl
import pytest
from spark_support import require_spark
from test_engine_support import CUSTOMERS, SERVICES, edited_policy, entry, line, ticket

from audit.engine import run_engine
from audit.engine.testing import load_rows
from audit.policy.loader import load_policy

pytestmark = [pytest.mark.spark, pytest.mark.slow]

WEB, USAGE = "webdesign", "customer_center_usage"


@pytest.fixture(scope="session")
def spark():
    require_spark()
    from audit.spark.session import spark_session

    session = spark_session("local[2]", shuffle_partitions=2)
    yield session
    session.stop()


def assert_same_rows(name: str, duck: pl.DataFrame, spark: pl.DataFrame) -> None:
    """Same columns, same number of rows, and row i of one equal to row i of the other (the
    values as Python objects: Decimal money, strings, instants)."""
    assert spark.columns == duck.columns, f"{name}: columns differ"
    assert spark.height == duck.height, f"{name}: {spark.height} rows on Spark, {duck.height} on DuckDB"
    spark = spark.cast(dict(duck.schema))  # Int32 vs Int64 and the like; a value that does not fit fails
    for i, (d, s) in enumerate(zip(duck.iter_rows(named=True), spark.iter_rows(named=True), strict=True)):
        assert s == d, f"{name} row {i} differs:\n  duckdb {d}\n  spark  {s}"


def test_sample_data_same_findings_reconciliation_and_summary(spark):
    from audit.api import run_audit

    duck = run_audit("policies", "sample_data", gx="off")
    on_spark = run_audit("policies", "sample_data", gx="off", engine="spark", spark_master="local[2]")
    assert duck.findings.height > 100  # the sample has every kind of finding
    assert set(duck.findings["kind"]) >= {"units_mismatch", "duplicate_billing", "price_mismatch",
                                          "standard_billed", "tier_mismatch"}
    for name in ("findings", "reconciliation", "classifications"):
        assert_same_rows(name, getattr(duck, name), getattr(on_spark, name))
    assert on_spark.summary == duck.summary
    assert on_spark.exit_code == duck.exit_code


def test_engine_fixtures_same_results(spark, tmp_path):
    """The engine tests' hand-computed cases (tests/test_engine.py) in one data set: rounding,
    a DST day, a price change inside the month, duplicates, a credit note, line arithmetic, a
    standard ticket billed, an unclassified ticket, and a waiver."""
    from audit.spark.run import to_spark

    bundle = load_policy(edited_policy(tmp_path))
    tickets = [
        ticket("T-1", WEB, "extended"),
        ticket("T-2", WEB, "extended", opened_at="2026-06-20 09:00:00"),
        ticket("T-3", WEB, "extended"),
        ticket("T-4", USAGE, "standard"),
        ticket("T-5", WEB, "standard", customer_id="K-2"),
        ticket("T-6", "no_such_category", "extended"),
        ticket("T-7", WEB, "extended", opened_at="2026-10-25 01:30:00"),
    ]
    entries = [
        entry("E-1", "T-1", "2026-03-10 10:00", minutes=47),
        entry("E-2", "T-1", "2026-03-11 10:00", end="2026-03-11 10:16"),
        entry("E-3", "T-2", "2026-06-30 23:50", minutes=20),  # 17.50 € on its local date
        entry("E-4", "T-2", "2026-07-01 00:10", minutes=31, agent="bert"),  # 19.00 € from July
        entry("E-5", "T-3", "2026-03-10 10:00", minutes=90),
        entry("E-6", "T-4", "2026-03-12 08:00", minutes=10),
        entry("E-7", "T-6", "2026-03-12 08:00", minutes=5),
        entry("E-8", "T-7", "2026-10-25 01:30", end="2026-10-25 02:45"),  # the DST night
        entry("E-9", "T-5", "2026-03-13 09:00", minutes=61, agent="carla"),
    ]
    lines = [
        line("L-1", "R-1", "T-1", "2026-03-31", "4", "17.50"),
        line("L-2", "R-2", "T-1", "2026-03-31", "4", "17.50"),  # a duplicate invoice
        line("L-3", "R-3", "T-3", "2026-03-31", "6", "17.50", amount="110.00"),  # amount ≠ qty × price
        line("L-4", "R-4", "T-3", "2026-03-31", "-1", "17.50"),  # a credit line
        line("L-5", "R-5", "T-4", "2026-03-31", "1", "17.50"),  # a standard ticket billed
        line("L-6", "R-6", "T-2", "2026-07-31", "3", "18.00"),  # not the list price
        line("L-7", "R-7", "T-5", "2026-03-31", "5", "17.50", customer="K-2"),
    ]
    con = duckdb.connect()
    load_rows(con, {"customers": CUSTOMERS, "services": SERVICES, "tickets": tickets,
                    "time_entries": entries, "invoice_lines": lines}, timezone=bundle.settings.timezone)
    sc = to_spark(con, spark=spark)
    try:
        duck = run_engine(con, bundle)
        on_spark = run_engine(sc, bundle)
    finally:
        sc.close()
        con.close()
    kinds = set(duck.findings["kind"])
    assert {"duplicate_billing", "amount_mismatch", "standard_billed", "price_mismatch",
            "unclassified_ticket"} <= kinds, kinds
    for name in ("findings", "reconciliation", "classifications"):
        assert_same_rows(name, getattr(duck, name), getattr(on_spark, name))


@pytest.mark.parametrize("value", ["x' OR '1'='1", "Müller\\'; DROP TABLE t; --", "a\\nb", "tab\there"])
def test_bound_values_reach_spark_unchanged(spark, value):
    """A policy value with quotes or backslashes is one literal to Spark's own parser (whose
    string escapes differ from DuckDB's), never SQL."""
    from audit.spark.connection import SparkConnection

    con = SparkConnection(spark)
    assert con.execute("SELECT ? AS v", [value]).fetchall() == [(value,)]
    assert con.execute("SELECT $w AS w", {"w": value}).fetchall() == [(value,)]


def test_without_pyspark_the_cli_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    """``--engine spark`` without PySpark: the install hint and exit 4, before any data is read."""
    import builtins

    from audit import cli

    real = builtins.__import__

    def no_pyspark(name, *args, **kwargs):
        if name == "pyspark" or name.startswith("pyspark."):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyspark)
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "--engine", "spark", "--out", str(tmp_path / "out"), "-q"])
    assert e.value.code == 4
    err = capsys.readouterr().err
    assert "pip install 'support-audit[spark]'" in err
    assert not (tmp_path / "out" / "findings.csv").exists()


def test_diff_on_spark_equals_the_duckdb_diff(spark, tmp_path):
    """``diff --engine spark``: a price change (July 19.00 → 20.00 EUR) and a tier change (web
    design to standard support) over the sample data give the same diff.json document — money
    table per month, customer, contract and rule, tier matrix, finding changes, gates — and the
    same diff.json and diff.md bytes as the DuckDB diff."""
    from audit.diff import diff_policies

    head = edited_policy(tmp_path, {
        "billing.yaml": [('unit_price: "19.00"', 'unit_price: "20.00"')],
        "classification.yaml": [("- id: webdesign\n      tier: extended",
                                 "- id: webdesign\n      tier: standard")],
    }, sla=True)
    args = ("policies", head, "sample_data")
    opts = dict(gx="off", fail_if_revenue_delta_above="100")
    duck = diff_policies(*args, tmp_path / "duckdb", **opts)
    on_spark = diff_policies(*args, tmp_path / "spark", **opts, engine="spark", spark_master="local[2]")
    doc = duck.doc
    # the change does something on every axis the comparison covers
    assert doc["money"]["total"]["expected_eur"]["change"] != "0.00"
    assert doc["money"]["ticket_months_changed"] > 0 and doc["tiers"]["changed"] > 0
    assert doc["findings"]["appeared"] and doc["findings"]["disappeared"] and doc["findings"]["amount_changed"]
    assert duck.exit_code == 1  # the revenue gate is exceeded
    for part in ("money", "tiers", "findings", "changes", "headline", "gates", "rows"):
        assert on_spark.doc[part] == doc[part], f"diff.json {part!r} differs between the engines"
    assert on_spark.doc == doc
    assert on_spark.exit_code == duck.exit_code
    for name in ("diff.json", "diff.md"):
        assert (tmp_path / "spark" / name).read_bytes() == (tmp_path / "duckdb" / name).read_bytes(), name
