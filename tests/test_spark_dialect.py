"""The DuckDB → Spark SQL rewrite (audit/spark/dialect.py), without Spark: what each DuckDB-only
spelling becomes, and that values can only arrive as escaped literals. The Spark results
themselves are compared with DuckDB's in tests/test_spark_equivalence.py."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
import sqlglot

from audit.engine.sql import MACROS
from audit.spark.dialect import Macros, to_spark


def spark(sql: str, params=None, macros: Macros | None = None) -> str:
    (out,) = to_spark(sql, params, macros)
    return out


def test_time_zone_conversions_keep_their_direction():
    # an instant to the local wall clock, and a wall clock (a CAST to TIMESTAMP) to an instant
    assert spark("SELECT timezone('Europe/Berlin', opened_at) FROM t") == \
        "SELECT FROM_UTC_TIMESTAMP(opened_at, 'Europe/Berlin') FROM t"
    assert spark("SELECT timezone(c.tz, CAST(d AS TIMESTAMP) + INTERVAL 1 MINUTE * m) FROM t") == \
        "SELECT TO_UTC_TIMESTAMP(CAST(d AS TIMESTAMP) + INTERVAL '1' MINUTE * m, c.tz) FROM t"


def test_isodow_is_monday_one_to_sunday_seven():
    # sqlglot's stock Spark output is off by one on Sundays; check ours against DuckDB on a week
    out = spark("SELECT isodow(d) FROM t")
    assert out == "SELECT (WEEKDAY(d) + 1) FROM t"
    days = [dt.date(2026, 3, 2) + dt.timedelta(days=i) for i in range(7)]  # Monday … Sunday
    con = duckdb.connect()
    assert [con.execute("SELECT isodow(?)", [d]).fetchone()[0] for d in days] == \
        [d.weekday() + 1 for d in days] == list(range(1, 8))


def test_exact_integers_and_ordered_aggregates():
    assert "DECIMAL(38, 0)" in spark("SELECT CAST(x AS HUGEINT) FROM t")
    assert spark("SELECT list(x ORDER BY a, b) FROM t") == (
        "SELECT TRANSFORM(ARRAY_SORT(COLLECT_LIST(NAMED_STRUCT('k0', a, 'k1', b, 'v', x))), _s -> _s.v) FROM t")
    assert spark("SELECT first(agent ORDER BY secs DESC, agent) FROM t") == \
        "SELECT MIN_BY(agent, NAMED_STRUCT('k0', -(secs), 'k1', agent)) FROM t"


def test_generated_rows_become_explode_of_sequence():
    assert spark("SELECT CAST(d AS DATE) FROM generate_series(CAST(a AS TIMESTAMP), CAST(b AS TIMESTAMP),"
                 " INTERVAL 1 DAY) AS g(d)") == (
        "SELECT CAST(d AS DATE) FROM (SELECT EXPLODE(SEQUENCE(CAST(a AS TIMESTAMP), CAST(b AS TIMESTAMP),"
        " INTERVAL '1' DAY)) AS d) AS g")
    # range(a, b) excludes b, sequence includes it
    assert spark("SELECT unnest(range(1, 5)) AS s") == "SELECT EXPLODE(SEQUENCE(1, (5) - 1)) AS s"


def test_macros_are_inlined_with_their_arguments_parenthesised():
    macros = Macros()
    for tree in sqlglot.parse(MACROS, read="duckdb"):
        macros.define(tree)
    out = spark("SELECT audit_units(a + b) FROM t", macros=macros)
    assert "audit_" not in out.lower()  # nested macros (audit_units → audit_num, audit_plural) too
    assert "(a + b) = 1" in out.replace("((a + b))", "(a + b)")


@pytest.mark.parametrize("value", ["x' OR '1'='1", "Müller\\'; DROP TABLE t; --", "2026-05"])
def test_parameters_arrive_as_escaped_literals(value):
    out = spark("SELECT * FROM t WHERE month = $month", {"month": value})
    (tree,) = sqlglot.parse(out, read="spark")
    literals = [lit.this for lit in tree.find_all(sqlglot.exp.Literal)]
    assert literals == [value]  # one string literal holding the value, whatever it contains
    assert spark("SELECT * FROM t WHERE a = ? AND b = ?", [value, 3]).endswith(
        f"WHERE a = {sqlglot.exp.Literal.string(value).sql(dialect='spark')} AND b = 3")
