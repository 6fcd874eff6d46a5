"""SQL building blocks shared by the engine stages.

Policy values (prices, dates, tier ids, time zone …) reach DuckDB only through :func:`lit`, which
renders a Python value as a SQL literal with sqlglot, or through the small relations built by
:func:`create_values_table`. No stage pastes a policy value into SQL text by hand, so a quote in a
waiver reason or a tier label cannot change a query.

The formatting macros (:data:`MACROS`) keep the finding messages' number formats in one place:
minutes as ``m:ss`` when not whole, units without ``.00`` when whole, euros with two decimals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import duckdb

from audit.sql import DIALECT, ident, lit  # noqa: F401 - the engine's SQL vocabulary

#: Upper bound used for open-ended price periods (``to`` left empty in the policy).
OPEN_END = dt.date(9999, 12, 31)


def in_period(period: str | None, column: str = "month") -> str:
    """The SQL condition that ``column`` is the month ``period`` (``true`` for all months)."""
    return f"{column} = {lit(period)}" if period else "true"


#: More rows than this enter a values table as one Arrow table (still no value spliced into SQL).
BULK_ROWS = 256


def create_values_table(
    con: duckdb.DuckDBPyConnection,
    name: str,
    columns: Sequence[tuple[str, str]],
    rows: Iterable[Sequence[Any]],
) -> None:
    """(Re)create temp table ``name`` with typed ``columns`` holding ``rows`` (bound parameters).

    Used for the policy's small relations (rules, price periods, waivers): a handful of rows,
    inserted with parameters so that no value is ever spliced into SQL.
    """
    cols = ", ".join(f"{ident(c)} {t}" for c, t in columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {ident(name)} ({cols})")
    rows = [list(r) for r in rows]
    if len(rows) > BULK_ROWS:  # executemany binds row by row: 60,000 waivers took 47 s
        import pyarrow as pa

        bulk = pa.table({f"c{i}": pa.array([r[i] for r in rows]) for i in range(len(columns))})
        con.register("_audit_values", bulk)
        try:
            con.execute(f"INSERT INTO {ident(name)} SELECT * FROM _audit_values")
        finally:
            con.unregister("_audit_values")
    elif rows:
        marks = ", ".join("?" for _ in columns)
        con.executemany(f"INSERT INTO {ident(name)} VALUES ({marks})", rows)


#: Formatting macros used by the explanation and message builders.
MACROS = """
CREATE OR REPLACE TEMP MACRO audit_plural(n, word) AS
    CASE WHEN n = 1 THEN word ELSE word || 's' END;
CREATE OR REPLACE TEMP MACRO audit_num(x) AS
    CASE WHEN x IS NULL THEN 'NULL'
         WHEN x = trunc(x) THEN CAST(CAST(trunc(x) AS HUGEINT) AS VARCHAR)
         ELSE CAST(x AS VARCHAR) END;
CREATE OR REPLACE TEMP MACRO audit_units(u) AS
    audit_num(u) || ' ' || audit_plural(u, 'unit');
CREATE OR REPLACE TEMP MACRO audit_eur(x) AS
    CASE WHEN x IS NULL THEN 'n/a' ELSE CAST(CAST(x AS DECIMAL(18, 2)) AS VARCHAR) || ' €' END;
CREATE OR REPLACE TEMP MACRO audit_min(s) AS
    CASE WHEN s % 60 = 0 THEN CAST(s // 60 AS VARCHAR)
         ELSE CAST(s // 60 AS VARCHAR) || ':' || lpad(CAST(s % 60 AS VARCHAR), 2, '0') END
    || ' min';
CREATE OR REPLACE TEMP MACRO audit_delta_words(d) AS
    CASE WHEN d IS NULL THEN 'difference not computed'
         WHEN d > 0 THEN 'under-billed ' || audit_eur(d)
         WHEN d < 0 THEN 'over-billed ' || audit_eur(-d)
         ELSE 'no difference' END;
CREATE OR REPLACE TEMP MACRO audit_cents_to_eur(c) AS
    CAST(CAST(c AS DECIMAL(38, 0)) * CAST(0.01 AS DECIMAL(3, 2)) AS DECIMAL(18, 2));
CREATE OR REPLACE TEMP MACRO audit_div_half_even(n, d) AS
    n // d + CASE WHEN 2 * (n % d) > d OR (2 * (n % d) = d AND (n // d) % 2 = 1) THEN 1 ELSE 0 END;
"""


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create the formatting macros on ``con`` (idempotent)."""
    con.execute(MACROS)


def on_spark(con: Any) -> bool:
    """Whether ``con`` runs the engine's SQL on Spark (:class:`audit.spark.connection.
    SparkConnection` says so in its ``dialect``; a DuckDB connection has none). The one place
    the engine asks; docs/scale-out.md lists what it changes."""
    return getattr(con, "dialect", "duckdb") == "spark"


def shared_relation(con: Any) -> str:
    """What to create for an intermediate result that several later queries read: a view on
    DuckDB (computed where it is read and never stored, which keeps a large run's peak memory
    down), a table on Spark (:func:`on_spark`), which would otherwise plan and run the view's
    joins again for every query reading it; there the table is computed once and
    checkpointed, and Spark spills what does not fit in memory."""
    return "TABLE" if on_spark(con) else "TEMP VIEW"
