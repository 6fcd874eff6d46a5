"""The data contract's expectations compiled to DuckDB SQL that names the failing rows.

Each :class:`~audit.contract.Expectation` becomes a :class:`Check` with two queries:

- ``quarantine_sql``: the rows to set aside, each with the offending value and a sentence
  explaining why (what the clerk reads in the quarantine);
- ``count_sql(relation)``: how many rows fail *in Great Expectations' sense*, to compare with GX's
  ``unexpected_count`` on the same rows.

The two differ only for uniqueness: the quarantine keeps the first occurrence of a key (by line)
and sets aside the later ones, while GX counts every row whose value is duplicated. NULL passes
every check except ``not_null`` (as in GX). ``expect_column_values_to_be_in_table`` is
referential integrity against the *loaded* parent rows (after the parent's own quarantine), so a
quarantined ticket takes its time entries into the quarantine with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from audit.contract import Expectation, Table
from audit.engine.sql import ident, lit
from audit.ingest.parse import quoted_sql


@dataclass(frozen=True)
class Parent:
    """A loaded parent table, for referential checks and their explanations."""

    table: str  # the loaded canonical table
    source_file: str  # its export, named in the explanation
    quarantined_keys: str  # relation with column "key": keys of its quarantined rows


@dataclass(frozen=True)
class Check:
    expectation: Expectation
    column: str  # the column a quarantine row names (column_A for a pair)
    quarantine_sql: str  # SELECT _line, value, reason over the typed rows
    count_sql: Callable[[str], str]  # relation -> SELECT count(*) of failing rows, GX's definition


def column_of(expectation: Expectation) -> str:
    return expectation.kwargs.get("column") or expectation.kwargs["column_A"]


def compile_checks(table: Table, relation: str, timezone: str,
                   parents: dict[str, Parent]) -> list[Check]:
    return [_compile(e, table, relation, timezone, parents) for e in table.expectations]


def _text(table: Table, column: str, timezone: str) -> str:
    """A value as text for the quarantine: timestamps as local wall-clock time."""
    c = ident(column)
    kind = table.column(column).type
    if kind == "timestamp":
        return f"strftime(timezone({lit(timezone)}, {c}), '%Y-%m-%d %H:%M:%S')"
    if kind == "date":
        return f"strftime({c}, '%Y-%m-%d')"
    return f"CAST({c} AS VARCHAR)"


def _compile(e: Expectation, table: Table, relation: str, timezone: str,
             parents: dict[str, Parent]) -> Check:
    kw = e.kwargs
    column = column_of(e)
    c = ident(column)
    value = _text(table, column, timezone)
    why = f" ({e.description})" if e.description else ""

    def simple(predicate: str, reason: str, join: str = "") -> Check:
        """``join``: what the reason reads beside the row (never more rows than the relation's)."""
        return Check(
            e, column,
            f"SELECT _line, {value} AS value, {reason} AS reason FROM {relation}{join} WHERE {predicate}",
            lambda rel: f"SELECT count(*) FROM {rel} WHERE {predicate}",
        )

    if e.type == "expect_column_values_to_not_be_null":
        return simple(f"{c} IS NULL", lit(f"{column} is empty, but it is required{why}"))

    if e.type == "expect_column_values_to_be_unique":
        # Aggregate first: only duplicated keys are joined back (a window over every row of a
        # ten-million-row table would sort it all).
        def duplicated(rel: str) -> str:
            return (f"(SELECT {c}, min(_line) AS __first, count(*) AS __n FROM {rel} "
                    f"WHERE {c} IS NOT NULL GROUP BY {c} HAVING count(*) > 1)")

        reason = (f"{lit(column + ' ')} || {quoted_sql(value)} || ' appears more than once: the first "
                  f"occurrence (line ' || CAST(__first AS VARCHAR) || ') is loaded, this one is set aside'")
        return Check(
            e, column,
            f"SELECT _line, {value} AS value, {reason} AS reason "
            f"FROM {relation} JOIN {duplicated(relation)} USING ({c}) WHERE _line > __first",
            lambda rel: f"SELECT coalesce(sum(__n), 0) FROM {duplicated(rel)}",
        )

    if e.type == "expect_column_values_to_be_in_set":
        values = [str(v) for v in kw["value_set"]]
        predicate = (f"{c} IS NOT NULL AND {c} NOT IN ({', '.join(lit(v) for v in values)})"
                     if values else f"{c} IS NOT NULL")
        allowed = ", ".join(values) if values else "(no value is allowed)"
        return simple(predicate, f"{lit(column + ' ')} || {quoted_sql(value)} || {lit(' is not one of: ' + allowed)}")

    if e.type == "expect_column_values_to_match_regex":
        return simple(
            f"{c} IS NOT NULL AND NOT regexp_matches({c}, {lit(kw['regex'])})",
            f"{lit(column + ' ')} || {quoted_sql(value)} || {lit(' does not have the expected form (pattern ' + kw['regex'] + ')' + why)}",
        )

    if e.type == "expect_column_values_to_be_between":
        lo, hi = kw.get("min_value"), kw.get("max_value")
        bounds = [f"{c} < {lit(lo)}"] if lo is not None else []
        bounds += [f"{c} > {lit(hi)}"] if hi is not None else []
        return simple(
            f"{c} IS NOT NULL AND ({' OR '.join(bounds) or 'false'})",
            f"{lit(column + ' ')} || {value} || {lit(f' is outside the allowed range {lo} to {hi}{why}')}",
        )

    if e.type == "expect_column_pair_values_a_to_be_greater_than_b":
        b = kw["column_B"]
        op = "<" if kw.get("or_equal") else "<="
        word = "before" if kw.get("or_equal") else "not after"
        return simple(
            f"{c} IS NOT NULL AND {ident(b)} IS NOT NULL AND {c} {op} {ident(b)}",
            f"{lit(column + ' ')} || {value} || {lit(f' is {word} {b} ')} || {_text(table, b, timezone)}",
        )

    if e.type == "expect_column_values_to_be_in_table":
        parent = parents[kw["table"]]
        keys = f"(SELECT {ident(kw['table_column'])} FROM {ident(parent.table)})"
        # (the quarantined parent keys joined, not an IN in the projection: Spark SQL allows a
        # subquery predicate only in a filter, and the loader runs this on Spark too)
        reason = (
            f"CASE WHEN __quarantined.key IS NOT NULL "
            f"THEN {lit(column + ' ')} || {quoted_sql(value)} || "
            f"{lit(f' refers to a row of {parent.source_file} that was itself quarantined (see its entry there)')} "
            f"ELSE {lit(column + ' ')} || {quoted_sql(value)} || "
            f"{lit(f' does not exist in {parent.source_file}')} END"
        )
        return simple(f"{c} IS NOT NULL AND {c} NOT IN {keys}", reason,
                      f" LEFT JOIN (SELECT DISTINCT key FROM {parent.quarantined_keys}) AS __quarantined "
                      f"ON __quarantined.key = {c}")

    raise NotImplementedError(f"no SQL for expectation {e.type}")  # pragma: no cover


def orphan_value_set(e: Expectation, relation: str) -> str:
    """For GX: the child's distinct values that are *not* loaded parent keys (nulls aside).

    GX runs a referential check as ``expect_column_values_to_not_be_in_set`` over this set:
    row by row the same answer as ``value in <all parent keys>``, and the set is what is wrong
    (usually nothing) rather than every key the sample uses. GX deep-copies an expectation's
    value set many times per validation; with the keys of a 2,000-row sample that cost about
    0.3 s of CPU per referential check, with the orphans almost nothing.
    """
    c = ident(e.kwargs["column"])
    key = ident(e.kwargs["table_column"])
    keys = f"(SELECT {key} FROM {ident(e.kwargs['table'])} WHERE {key} IS NOT NULL)"
    return f"SELECT DISTINCT {c} FROM {relation} WHERE {c} IS NOT NULL AND {c} NOT IN {keys} ORDER BY {c}"
