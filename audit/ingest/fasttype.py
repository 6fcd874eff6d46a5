"""Typing the rows that need no care: a cheap set-based pass in front of :mod:`~audit.ingest.parse`.

:func:`~audit.ingest.parse.parse_query` reads every spelling the contract accepts (German dates,
local times with their daylight-saving traps, ``1.234,56``); that costs several regular
expressions, a time-zone join and a dozen intermediate columns per value, for every row.
Well-formed exports do not need it: their values are canonical (ISO instants with an offset,
``1234.56``, Parquet's own types). :func:`fast_query` types a relation with one cheap test and
one cast per value, and flags each row ``__clean`` when *every* value took the cheap form. Only
the other rows go through ``parse_query`` (the careful path), so a clean file pays nothing for
the messy-file machinery and a messy file pays only for its messy rows.

The cheap forms are a *subset* of the careful path's rules, chosen so that a clean row gets
exactly the values the careful path would give it and no error (the careful path would not
quarantine it either); anything else is simply "not clean" and typed carefully:

- text values (CSV, JSON, or a Parquet type without a native form, cast to text as the careful
  path does): ISO timestamps with an offset (a narrower form than the careful path's
  ``OFFSET_RE``, with the same cast),
  plain decimals ``[+-]digits[.digits]`` with no more decimals than the column's scale, ISO
  dates ``YYYY-MM-DD``, and the careful expressions themselves for integers, booleans and
  strings (they are cheap already);
- native Parquet/JSON types: ``TIMESTAMP WITH TIME ZONE`` (the connection runs in UTC, so the
  careful path's text ``2026-03-05 14:30:00+00`` reads back as the same instant), ``DECIMAL``
  with at most the column's scale, integers, ``BOOLEAN`` and ``DATE`` are taken as they are;
- a date or instant outside the accepted dates is not clean (the careful path words the error).

``tests/test_ingest_fast_typing.py`` holds the two paths together on messy fixtures.
"""

from __future__ import annotations

import datetime as dt
import re

from audit.contract import Column, Table, duckdb_type
from audit.ingest.parse import (
    DEFAULT_DATES,
    DERIVED_ERRORS,
    FALSE_WORDS,
    INTEGER_RE,
    TRUE_WORDS,
    _derived,
    _full,
    _outside,
    _trimmed,
    input_columns,
)
from audit.sql import ident, lit

#: DuckDB types whose values the cheap forms take as they are (see the module doc).
_INTEGERS = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
                       "UINTEGER", "UBIGINT", "HUGEINT", "UHUGEINT"})
_TEXT = frozenset({"VARCHAR"})
_DECIMAL_TYPE = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")
_ISO_DATE_RE = r"\d{4}-\d{2}-\d{2}"
#: The instants taken cheaply: ISO 8601 with two-digit fields, at most microseconds and an
#: offset right after the time. Narrower than the careful path's ``OFFSET_RE`` on purpose: in
#: this form DuckDB's and Spark's casts read every value alike (the Spark loader types with this
#: query too; docs/scale-out.md), and the other spellings are the careful path's anyway.
_ISO_INSTANT_RE = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-](0\d|1[0-4])(:?[0-5]\d)?)"

#: Name of the flag column of :func:`fast_query`.
CLEAN = "__clean"


def _scale(col: Column) -> int:
    return col.scale if col.scale is not None else 2


def _plain_decimal_re(scale: int) -> str:
    return r"[+-]?\d+" + (rf"(\.\d{{1,{scale}}})?" if scale > 0 else "")


def _column(col: Column, source: str | None, text: str, tz_utc: bool,
            dates: tuple[dt.date, dt.date]) -> tuple[str, str]:
    """(typed value, clean flag) of one column. ``source``: its DuckDB type in the relation
    (None: the file lacks it); ``text``: SQL of its trimmed text (NULL when empty)."""
    x = ident(col.name)
    kind = col.type
    sql_type = duckdb_type(col)
    if source is None:
        return f"CAST(NULL AS {sql_type})", "true"
    if kind == "string":
        return text, "true"
    if kind == "boolean":
        if source == "BOOLEAN":
            return x, "true"
        yes = ", ".join(lit(w) for w in TRUE_WORDS)
        no = ", ".join(lit(w) for w in FALSE_WORDS)
        value = f"CASE WHEN lower({text}) IN ({yes}) THEN true WHEN lower({text}) IN ({no}) THEN false END"
        return value, f"({text} IS NULL OR {value} IS NOT NULL)"
    if kind == "integer":
        if source in _INTEGERS:
            value = f"TRY_CAST({x} AS BIGINT)"
            return value, f"({x} IS NULL OR {value} IS NOT NULL)"
        value = f"CASE WHEN {_full(text, INTEGER_RE)} THEN TRY_CAST({text} AS BIGINT) END"
        return value, f"({text} IS NULL OR {value} IS NOT NULL)"
    if kind == "decimal":
        native = _DECIMAL_TYPE.fullmatch(source)
        if source in _INTEGERS or (native and int(native.group(2)) <= _scale(col)):
            value = f"TRY_CAST({x} AS {sql_type})"
            return value, f"({x} IS NULL OR {value} IS NOT NULL)"
        value = (f"CASE WHEN {_full(text, _plain_decimal_re(_scale(col)))} "
                 f"THEN TRY_CAST({text} AS {sql_type}) END")
        return value, f"({text} IS NULL OR {value} IS NOT NULL)"
    if kind == "date":
        if source == "DATE":
            return x, f"({x} IS NULL OR NOT {_outside(f'CAST({x} AS TIMESTAMP)', 'TIMESTAMP', dates)})"
        value = f"CASE WHEN {_full(text, _ISO_DATE_RE)} THEN TRY_CAST({text} AS DATE) END"
        inside = f"NOT {_outside(f'CAST({value} AS TIMESTAMP)', 'TIMESTAMP', dates)}"
        return value, f"({text} IS NULL OR ({value} IS NOT NULL AND {inside}))"
    if kind == "timestamp":
        if source == "TIMESTAMP WITH TIME ZONE" and tz_utc:
            return x, f"({x} IS NULL OR NOT {_outside(x, 'TIMESTAMPTZ', dates)})"
        value = f"CASE WHEN {_full(text, _ISO_INSTANT_RE)} THEN TRY_CAST({text} AS TIMESTAMPTZ) END"
        return value, f"({text} IS NULL OR ({value} IS NOT NULL AND NOT {_outside(value, 'TIMESTAMPTZ', dates)}))"
    raise NotImplementedError(kind)  # pragma: no cover - the contract's types are fixed


def fast_query(table: Table, types: dict[str, str], relation: str, *,
               trimmed: frozenset[str] = frozenset(), tz_utc: bool = True,
               dates: tuple[dt.date, dt.date] = DEFAULT_DATES) -> str:
    """The ``SELECT`` typing ``relation`` (canonical columns of DuckDB type ``types[name]``, and
    ``_line``) cheaply: ``_line``, every column of ``table`` typed, and :data:`CLEAN` (the row's
    values are exactly what :func:`~audit.ingest.parse.parse_query` gives, without an error).

    ``trimmed``: columns whose trimmed text the relation has as ``__t_<col>``
    (:func:`~audit.ingest.parse.pretrim`). ``tz_utc``: the connection's TimeZone is UTC (the
    condition for taking ``TIMESTAMP WITH TIME ZONE`` values as they are). Rows come out in
    ``_line`` order.
    """
    values, flags = ["_line"], []
    for col in input_columns(table):
        source = types.get(col.name)
        if col.name in trimmed:
            text = ident(f"__t_{col.name}")
        else:
            raw = ident(col.name) if source in _TEXT else f"CAST({ident(col.name)} AS VARCHAR)"
            text = f"NULLIF({_trimmed(raw)}, '')"
        value, clean = _column(col, source, text, tz_utc, dates)
        values.append(f"{value} AS {ident(col.name)}")
        flags.append(clean)
    sql = f"SELECT {', '.join(values)}, {' AND '.join(flags) or 'true'} AS {CLEAN} FROM {relation}"
    derived = _derived(table)
    if derived:
        for exprs in derived:
            sql = f"SELECT *, {', '.join(exprs)} FROM ({sql})"
        errors = [ident(e) for e in DERIVED_ERRORS.get(table.name, {})]
        clean = " AND ".join([CLEAN, *(f"{e} IS NULL" for e in errors)])
        keep = ", ".join(["_line", *(ident(c.name) for c in table.columns)])
        sql = f"SELECT {keep}, {clean} AS {CLEAN} FROM ({sql})"
    # DuckDB's parallel scan may hand rows on out of order; the staging table gets them in order
    return f"{sql} ORDER BY _line"

