"""Local wall-clock time of stored instants, without a time-zone lookup per row.

The engine needs the policy time zone's local date of every time entry (price in force, month)
and the local month of every ticket. DuckDB's ``timezone(tz, ts)`` asks ICU for every value,
which costs about as much as the rest of the billing aggregation; the time entries are read
several times (reconciliation, entry texts, agents), so at ten million entries that is seconds.

A zone's UTC offset only changes at a few instants a year. :func:`local_timestamp_sql` asks ICU
(the same zone rules as ``timezone()``) for those instants inside the column's range once, and
turns the per-row conversion into integer arithmetic::

    make_timestamp(epoch_us(ts) + CASE WHEN ts < T1 THEN o0 WHEN ts < T2 THEN o1 … ELSE on END)

Finding the transitions: the offset is probed every hour from a day before the column's
minimum to a day after its maximum; where two probes differ, every second of that hour is probed
and the first second with the new offset is the transition. That assumes a zone does not change
its offset twice within one hour (no zone in the tz database does). Columns spanning more than
:data:`MAX_YEARS` years fall back to ``timezone()`` per row, as does an empty column.
"""

from __future__ import annotations

import duckdb

from audit.engine.sql import ident, lit, on_spark

#: Longest range (years) converted with the transition table; longer ranges use ICU per row.
MAX_YEARS = 40


def offset_transitions(con: duckdb.DuckDBPyConnection, tz: str, table: str,
                       column: str) -> tuple[int, list[tuple[int, int]]] | None:
    """``(first offset, [(transition epoch second, offset after it), …])`` in microseconds of
    offset, covering the range of ``table.column``; None when the column is empty or its range
    is longer than :data:`MAX_YEARS`."""
    col = ident(column)
    lo, hi = con.execute(
        f"SELECT epoch(min({col}))::BIGINT, epoch(max({col}))::BIGINT FROM {ident(table)}"
    ).fetchall()[0]
    if lo is None or hi - lo > MAX_YEARS * 366 * 86400:
        return None
    start, stop = (lo // 3600 - 24) * 3600, (hi // 3600 + 25) * 3600
    offset = f"epoch_us(timezone({lit(tz)}, to_timestamp(s))) - s * 1000000"
    hours = con.execute(
        f"SELECT s, {offset} AS o FROM (SELECT unnest(range(?, ?, 3600)) AS s) ORDER BY s",
        [start, stop],
    ).fetchall()
    first = hours[0][1]
    transitions = []
    for (s0, o0), (_, o1) in zip(hours, hours[1:], strict=False):
        if o0 == o1:
            continue
        second = con.execute(
            f"SELECT min(s) FROM (SELECT unnest(range(?, ?)) AS s) WHERE {offset} <> ?",
            [s0 + 1, s0 + 3601, o0],
        ).fetchall()[0][0]
        transitions.append((second, o1))
    return first, transitions


def local_timestamp_sql(con: duckdb.DuckDBPyConnection, tz: str, table: str, column: str,
                        expr: str | None = None) -> str:
    """SQL for the local ``TIMESTAMP`` (wall clock in ``tz``) of the instants in ``table.column``.

    ``expr`` is how the column is spelled where the SQL is used (default: the quoted column).
    Equal to ``timezone(tz, column)`` for every value of the column as it is now loaded; the
    connection's tables do not change after loading, so views may use it too.
    """
    expr = expr or ident(column)
    if on_spark(con):  # Spark converts natively (audit.spark.dialect)
        return f"timezone({lit(tz)}, {expr})"
    found = offset_transitions(con, tz, table, column)
    if found is None:
        return f"timezone({lit(tz)}, {expr})"
    first, transitions = found
    if not transitions:
        shift = lit(first)
    else:
        bounds = [f"WHEN {expr} < to_timestamp({lit(t)}) THEN {lit(o)}"
                  for (t, _), o in zip(transitions, [first, *(o for _, o in transitions)], strict=False)]
        shift = f"CASE {' '.join(bounds)} ELSE {lit(transitions[-1][1])} END"
    return f"make_timestamp(epoch_us({expr}) + {shift})"
