"""Typed parsing of text columns, vectorised in DuckDB SQL.

:func:`parse_query` compiles a table's contract into one ``SELECT`` over a chunk of text columns.
For every input column ``c`` it yields the typed value (named ``c``), an error code
(``__e_c``: NULL, ``parse_error``, ``too_many_decimals`` or ``nonexistent_local_time``) and the
text as read (``__r_c``, for the quarantine). Every value is parsed the same way whatever the
file format: Parquet and JSON values are cast to text first.

Accepted spellings (docs/data-contract.md lists them for users):

- decimals: ``1234.5``, ``1234,5``, ``1.234,56``, ``1,234.56``, ``-1,5``, ``.5``; one separator
  alone is the decimal separator. A value with more non-zero decimals than the column's scale is
  ``too_many_decimals`` (quarantined, not rounded). Text goes straight to ``DECIMAL``: no float.
- timestamps: ISO with offset (``2026-03-05T14:30:00+01:00``, ``…Z``, ``+0100``, ``+01``) is an
  instant; naive ISO (``2026-03-05 14:30[:00[.fff]]``, ``T`` or space) and German
  (``25.11.2026[ 14:30[:05]]``) are local times in the policy's time zone. A date alone is
  midnight. Ambiguous local times (the repeated hour in autumn) are read as the first occurrence;
  non-existent ones (the skipped hour in spring) are ``nonexistent_local_time``.
- dates: ISO or German, optionally with a ``00:00[:00]`` time.
- booleans: true/false, 1/0, yes/no, y/n, ja/nein, j, wahr/falsch, t/f (any case).

Why the time zone is done by hand: DuckDB's ``timezone(tz, TIMESTAMP …)`` picks the *second*
occurrence of an ambiguous time and shifts a non-existent one forward. Here the two candidate
offsets are the zone's offset one day before and two days after the value's day (looked up in a
per-day table, :func:`create_zone_days`, so that ICU runs per day, not per value). Equal offsets:
no clock change near the value, it is that offset. Different: a candidate is valid when
converting it back gives the same wall-clock time; two valid candidates mean ambiguous (take the
earlier instant, Python's ``fold=0``), none means the time does not exist. This is exact for
every zone whose clock changes are more than three days apart, i.e. all of them; the tests hold
it against :mod:`zoneinfo` for every quarter hour of a year.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import pyarrow as pa

from audit.contract import Column, Table, duckdb_type
from audit.sql import ident, lit

#: Columns the audit computes instead of reading (docs/semantics.md, "Time").
DERIVED: dict[str, frozenset[str]] = {"time_entries": frozenset({"duration_seconds"})}

#: Tolerance between ``minutes`` and ``ended_at − started_at`` (docs/semantics.md).
DURATION_TOLERANCE_SECONDS = 60

TRUE_WORDS = ("true", "t", "1", "yes", "y", "ja", "j", "wahr")
FALSE_WORDS = ("false", "f", "0", "no", "n", "nein", "falsch")

# Patterns are matched against the whole trimmed value (regexp_full_match).
OFFSET_RE = (  # UTC offsets exist from -12:00 to +14:00
    r"\d{4}-\d{1,2}-\d{1,2}[T ]\d{1,2}:\d{2}(:\d{2}(\.\d{1,9})?)? ?([Zz]|[+-](0\d|1[0-4])(:?[0-5]\d)?)"
)
NAIVE_ISO_RE = r"\d{4}-\d{1,2}-\d{1,2}([T ]\d{1,2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?"
GERMAN_RE = r"\d{1,2}\.\d{1,2}\.\d{4}( \d{1,2}:\d{2}(:\d{2})?)?"
INTEGER_RE = r"[+-]?\d+"
_DECIMAL_FORMS = (  # (pattern, SQL turning the text into a plain "-1234.5")
    (r"[+-]?\d+", "{s}"),
    (r"[+-]?\d*[.,]\d+", "replace({s}, ',', '.')"),  # one separator: it is the decimal point
    (r"[+-]?\d{1,3}(\.\d{3})+(,\d+)?", "replace(replace({s}, '.', ''), ',', '.')"),  # 1.234,56
    (r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", "replace({s}, ',', '')"),  # 1,234.56
)
#: Whitespace trimmed from every value (incl. the no-break space spreadsheets like to add).
_TRIM = " \t\r\n\u00a0"

EXAMPLES = {
    "timestamp": "2026-03-05 14:30, 05.03.2026 14:30 or 2026-03-05T14:30:00+01:00",
    "date": "2026-03-05 or 05.03.2026",
    "decimal": "1,5 or 1.234,56 or 1234.56",
    "integer": "42",
    "boolean": "ja/nein, true/false, yes/no or 1/0",
}
WHAT = {
    "timestamp": "a date and time",
    "date": "a date",
    "decimal": "a number",
    "integer": "a whole number",
    "boolean": "a yes/no value",
}


def derived_columns(table: Table) -> frozenset[str]:
    return DERIVED.get(table.name, frozenset())


def input_columns(table: Table) -> list[Column]:
    derived = derived_columns(table)
    return [c for c in table.columns if c.name not in derived]


@dataclass(frozen=True)
class ParseQuery:
    sql: str
    errors: dict[str, str]  # error column -> the contract column it reports on
    ambiguous: list[str]  # flag columns: this timestamp was an ambiguous local time


def _n(prefix: str, column: str) -> str:
    return ident(f"__{prefix}_{column}")


def pretrim(data: pa.Table) -> tuple[pa.Table, frozenset[str]]:
    """``data`` with a trimmed copy ``__t_<col>`` of every text column (:data:`_TRIM` off both
    ends, empty → NULL), and the names of those columns, for :func:`parse_query`'s ``trimmed``.

    The same as the SQL of :func:`_trimmed`, done by Arrow's C++ kernels: several times faster
    than DuckDB's string functions, and in the reader's thread."""
    import pyarrow.compute as pc

    names = []
    for name in data.column_names:
        column = data.column(name)
        if name == "_line" or not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        trimmed = pc.utf8_trim(column, characters=_TRIM)
        trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, trimmed.type), trimmed)
        data = data.append_column(f"__t_{name}", trimmed)
        names.append(name)
    return data, frozenset(names)


#: Dates a data value may have unless the policy says otherwise (settings.earliest_date and
#: latest_date): a year-1 date is a typo, and it broke Python's datetime downstream.
DEFAULT_DATES = (dt.date(1970, 1, 1), dt.date(2100, 12, 31))


def parse_query(table: Table, present: set[str], timezone: str, relation: str,
                trimmed: frozenset[str] = frozenset(),
                dates: tuple[dt.date, dt.date] = DEFAULT_DATES) -> ParseQuery:
    """The ``SELECT`` that types one chunk (``relation``) of ``table``'s text columns.

    ``trimmed``: columns whose trimmed text the chunk already has as ``__t_<col>``
    (:func:`pretrim`). Needs the zone's day table (:func:`create_zone_days`) on the connection
    when ``table`` has timestamps. Rows come out in ``_line`` order.
    """
    tz = lit(timezone)
    levels: dict[int, list[str]] = defaultdict(list)
    errors: dict[str, str] = {}
    ambiguous: list[str] = []
    first = ["_line"]
    for col in input_columns(table):
        r, s = _n("r", col.name), _n("s", col.name)
        text = f"CAST({ident(col.name)} AS VARCHAR)" if col.name in present else "CAST(NULL AS VARCHAR)"
        first.append(f"{text} AS {r}")
        if col.name in trimmed:  # pretrim's columns are the chunk's, so present too
            first.append(f"{_n('t', col.name)} AS {s}")
        else:
            first.append(f"NULLIF({_trimmed(r)}, '') AS {s}")
        for depth, exprs in enumerate(_typed(col, tz, dates), start=2):
            levels[depth].extend(exprs)
        errors[f"__e_{col.name}"] = col.name
        if col.type == "timestamp":
            ambiguous.append(f"__a_{col.name}")
    derived = _derived(table)
    if derived:
        depth = max(levels) + 1
        for offset, exprs in enumerate(derived):
            levels[depth + offset].extend(exprs)
        errors.update(DERIVED_ERRORS.get(table.name, {}))
    sql = f"SELECT {', '.join(first)} FROM {relation}"
    timestamps = [c.name for c in input_columns(table) if c.type == "timestamp"]
    for depth in sorted(levels):
        sql = f"SELECT *, {', '.join(levels[depth])} FROM ({sql})"
        if depth == _NAIVE_DEPTH and timestamps:
            sql = _join_zone_days(sql, timestamps)
    # Keep what the loader needs (not the intermediates); the zone-day join may reorder rows.
    keep = ["_line", *(ident(c.name) for c in table.columns), *map(ident, errors),
            *(_n("r", c.name) for c in input_columns(table)), *map(ident, ambiguous)]
    return ParseQuery(f"SELECT {', '.join(keep)} FROM ({sql}) ORDER BY _line", errors, ambiguous)


def _trimmed(text: str) -> str:
    # trim() with a character list is slow; most values need no trimming at all
    ends = ", ".join(lit(c) for c in _TRIM)
    return (f"CASE WHEN left({text}, 1) IN ({ends}) OR right({text}, 1) IN ({ends}) "
            f"THEN trim({text}, {lit(_TRIM)}) ELSE {text} END")


def _full(value: str, pattern: str) -> str:
    return f"regexp_full_match({value}, {lit(pattern)})"


def _bounds(dates: tuple[dt.date, dt.date]) -> tuple[str, str]:
    """SQL literals of the first allowed instant and the first one after the range."""
    return f"'{dates[0].isoformat()}'", f"'{(dates[1] + dt.timedelta(days=1)).isoformat()}'"


def _typed(col: Column, tz: str, dates: tuple[dt.date, dt.date] = DEFAULT_DATES) -> list[list[str]]:
    """Expression levels (each may use the previous ones) ending in the column and its error."""
    name = col.name
    v, s, e = ident(name), _n("s", name), _n("e", name)
    if col.type == "string":
        return [[f"{s} AS {v}", f"CAST(NULL AS VARCHAR) AS {e}"]]
    if col.type == "boolean":
        yes = ", ".join(lit(w) for w in TRUE_WORDS)
        no = ", ".join(lit(w) for w in FALSE_WORDS)
        return [
            [f"CASE WHEN lower({s}) IN ({yes}) THEN true WHEN lower({s}) IN ({no}) THEN false END AS {v}"],
            [f"CASE WHEN {s} IS NOT NULL AND {v} IS NULL THEN 'parse_error' END AS {e}"],
        ]
    if col.type == "integer":
        whole = _full(s, INTEGER_RE)
        return [
            [f"CASE WHEN {whole} THEN TRY_CAST({s} AS BIGINT) END AS {v}"],
            [f"CASE WHEN {s} IS NOT NULL AND {v} IS NULL THEN 'parse_error' END AS {e}"],
        ]
    if col.type == "decimal":
        return _decimal(col)
    if col.type == "date":
        ts = _n("t", name)
        return [
            [f"{_naive(s)} AS {ts}"],
            [f"CASE WHEN {ts} = date_trunc('day', {ts}) THEN CAST({ts} AS DATE) END AS {v}",
             f"CASE WHEN {s} IS NOT NULL AND ({ts} IS NULL OR {ts} <> date_trunc('day', {ts})) "
             f"THEN 'parse_error' WHEN {_outside(ts, 'TIMESTAMP', dates)} "
             f"THEN '{OUT_OF_RANGE}' END AS {e}"],
        ]
    if col.type == "timestamp":
        return _timestamp(col, tz, dates)
    raise NotImplementedError(col.type)  # pragma: no cover - the contract's types are fixed


def _naive(s: str) -> str:
    """A naive ISO or German date/time as TIMESTAMP (German is rewritten to ISO, then cast)."""
    german = f"regexp_replace({s}, '^(\\d{{1,2}})\\.(\\d{{1,2}})\\.(\\d{{4}})', '\\3-\\2-\\1')"
    return (f"CASE WHEN {_full(s, NAIVE_ISO_RE)} THEN TRY_CAST({s} AS TIMESTAMP) "
            f"WHEN {_full(s, GERMAN_RE)} THEN TRY_CAST({german} AS TIMESTAMP) END")


def _decimal(col: Column) -> list[list[str]]:
    name = col.name
    v, s, e = ident(name), _n("s", name), _n("e", name)
    plain, digits = _n("p", name), _n("d", name)
    scale = col.scale if col.scale is not None else 2
    sql_type = duckdb_type(col)
    forms = " ".join(f"WHEN {_full(s, pattern)} THEN {rewrite.format(s=s)}" for pattern, rewrite in _DECIMAL_FORMS)
    return [
        [f"CASE {forms} END AS {plain}"],
        # decimals that carry information (trailing zeros do not: 1.500 is 1.50 exactly)
        [f"length(rtrim(regexp_extract({plain}, '\\.(\\d*)$', 1), '0')) AS {digits}"],
        [f"CASE WHEN {digits} <= {scale} THEN TRY_CAST({plain} AS {sql_type}) END AS {v}",
         f"CASE WHEN {s} IS NULL THEN NULL WHEN {plain} IS NULL THEN 'parse_error' "
         f"WHEN {digits} > {scale} THEN 'too_many_decimals' "
         f"WHEN TRY_CAST({plain} AS {sql_type}) IS NULL THEN 'parse_error' END AS {e}"],
    ]


#: Level at which the naive local value of every timestamp column exists (see _timestamp).
_NAIVE_DEPTH = 2

#: The zone's UTC offsets around every day from 1900 to 2100 (a few ten thousand rows, made once
#: per load): day -> offset one day before it (``oa``) and two days after it (``ob``). A local
#: time on that day has the offset ``oa`` when both are equal (no transition near it); only the
#: rare rows near a transition need ICU per row. Days outside the table fall back to ICU too.
ZONE_DAYS = "_ingest_zone_days"
_ZONE_DAYS_SPAN = ("1900-01-01", "2101-01-01")


def _offset_at(tz: str, probe: str) -> str:
    """The zone's UTC offset (INTERVAL) at the instant whose UTC wall clock is ``probe``."""
    return f"(timezone({tz}, timezone('UTC', {probe})) - {probe})"


def _probes(day: str) -> tuple[str, str]:
    return f"({day} - INTERVAL 1 DAY)", f"({day} + INTERVAL 2 DAY)"


def create_zone_days(con, timezone: str) -> None:
    """(Re)create the day table of ``timezone`` on ``con`` (see :data:`ZONE_DAYS`)."""
    tz = lit(timezone)
    before, after = _probes("d")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {ZONE_DAYS} AS SELECT CAST(d AS DATE) AS day, "
        f"{_offset_at(tz, before)} AS oa, {_offset_at(tz, after)} AS ob "
        f"FROM range(TIMESTAMP '{_ZONE_DAYS_SPAN[0]}', TIMESTAMP '{_ZONE_DAYS_SPAN[1]}', INTERVAL 1 DAY) t(d)"
    )


def _join_zone_days(sql: str, columns: list[str]) -> str:
    picks = ", ".join(f"{ident('__zd_' + c)}.oa AS {_n('ja', c)}, {ident('__zd_' + c)}.ob AS {_n('jb', c)}"
                      for c in columns)
    joins = " ".join(
        f"LEFT JOIN {ZONE_DAYS} {ident('__zd_' + c)} ON {ident('__zd_' + c)}.day = CAST(__p.{_n('n', c)} AS DATE)"
        for c in columns
    )
    return f"SELECT __p.*, {picks} FROM ({sql}) __p {joins}"


OUT_OF_RANGE = "date_out_of_range"


def _outside(value: str, sql_type: str, dates: tuple[dt.date, dt.date]) -> str:
    lo, hi = _bounds(dates)
    return f"({value} < CAST({lo} AS {sql_type}) OR {value} >= CAST({hi} AS {sql_type}))"


def _timestamp(col: Column, tz: str, dates: tuple[dt.date, dt.date] = DEFAULT_DATES) -> list[list[str]]:
    """Levels 2..5 of a timestamp column; the zone-day join happens after level 2."""
    name = col.name
    v, s, e, amb = ident(name), _n("s", name), _n("e", name), _n("a", name)
    off, inst, naive = _n("o", name), _n("z", name), _n("n", name)
    ja, jb, oa, ob = _n("ja", name), _n("jb", name), _n("oa", name), _n("ob", name)
    ua, ub, va, vb = _n("ua", name), _n("ub", name), _n("va", name), _n("vb", name)
    before, after = _probes(f"date_trunc('day', {naive})")

    def roundtrips(candidate: str) -> str:
        return f"CASE WHEN {oa} = {ob} THEN true ELSE timezone({tz}, timezone('UTC', {candidate})) = {naive} END"

    return [
        [f"{_full(s, OFFSET_RE)} AS {off}",
         f"CASE WHEN {_full(s, OFFSET_RE)} THEN TRY_CAST({s} AS TIMESTAMPTZ) END AS {inst}",
         f"{_naive(s)} AS {naive}"],
        [f"CASE WHEN {ja} IS NULL THEN {_offset_at(tz, before)} ELSE {ja} END AS {oa}",
         f"CASE WHEN {jb} IS NULL THEN {_offset_at(tz, after)} ELSE {jb} END AS {ob}"],
        [f"{naive} - {oa} AS {ua}", f"{naive} - {ob} AS {ub}"],
        [f"{roundtrips(ua)} AS {va}", f"{roundtrips(ub)} AS {vb}"],
        [f"CASE WHEN {off} THEN {inst} "
         f"WHEN {va} AND {vb} THEN timezone('UTC', least({ua}, {ub})) "
         f"WHEN {va} THEN timezone('UTC', {ua}) WHEN {vb} THEN timezone('UTC', {ub}) END AS {v}",
         f"coalesce({va} AND {vb} AND {ua} <> {ub}, false) AS {amb}",
         f"CASE WHEN {s} IS NULL THEN NULL "
         f"WHEN {off} THEN CASE WHEN {inst} IS NULL THEN 'parse_error' "
         f"WHEN {_outside(inst, 'TIMESTAMPTZ', dates)} THEN '{OUT_OF_RANGE}' END "
         f"WHEN {naive} IS NULL THEN 'parse_error' "
         f"WHEN {_outside(naive, 'TIMESTAMP', dates)} THEN '{OUT_OF_RANGE}' "
         f"WHEN NOT ({va} OR {vb}) THEN 'nonexistent_local_time' END AS {e}"],
    ]


# -- derived columns -----------------------------------------------------------------------------

#: Error columns of derived checks -> the column the quarantine row names.
DERIVED_ERRORS: dict[str, dict[str, str]] = {"time_entries": {"__e_duration": "minutes"}}
DURATION_MISMATCH = "expect_column_pair_values_to_be_equal"


def _derived(table: Table) -> list[list[str]]:
    if table.name != "time_entries":
        return []
    us = ident("__us")
    start, end, minutes = ident("started_at"), ident("ended_at"), ident("minutes")
    tolerance_us = DURATION_TOLERANCE_SECONDS * 1_000_000
    return [
        [f"CASE WHEN {start} IS NOT NULL AND {end} IS NOT NULL "
         f"THEN epoch_us({end}) - epoch_us({start}) END AS {us}"],
        # seconds from the two ends, rounded half away from zero; else minutes x 60, rounded
        [f"CASE WHEN {us} >= 0 THEN ({us} + 500000) // 1000000 "
         f"WHEN {us} < 0 THEN -((-{us} + 500000) // 1000000) "
         f"WHEN {minutes} IS NOT NULL THEN CAST(round({minutes} * 60) AS BIGINT) "
         f"END AS {ident('duration_seconds')}",
         f"CASE WHEN {us} IS NOT NULL AND {minutes} IS NOT NULL AND "
         f"abs({us} - CAST({minutes} AS DECIMAL(38, 4)) * 60000000) > {tolerance_us} "
         f"THEN '{DURATION_MISMATCH}' END AS {ident('__e_duration')}"],
    ]


# -- quarantine reasons ----------------------------------------------------------------------------

def quoted_sql(text: str) -> str:
    """SQL for ``text`` (an SQL string expression) in single quotes, for messages."""
    return f"'''' || {text} || ''''"


def reason_sql(table: Table, error_column: str, column: str, timezone: str,
               dates: tuple[dt.date, dt.date] = DEFAULT_DATES) -> str:
    """SQL for the sentence that explains ``error_column``'s code, as a clerk would want it."""
    e = ident(error_column)
    if error_column == "__e_duration":
        return (
            f"'minutes (' || {_n('r', 'minutes')} || ') and ended_at - started_at (' || "
            f"CAST(duration_seconds AS VARCHAR) || ' s) disagree by more than "
            f"{DURATION_TOLERANCE_SECONDS} seconds: give only one of them, or correct the other'"
        )
    col = table.column(column)
    raw = quoted_sql(_n("r", column))
    examples = EXAMPLES.get(col.type, "")
    cases = [
        f"WHEN {e} = 'parse_error' THEN {lit(column + ': ')} || {raw} || "
        f"{lit(f' is not {WHAT.get(col.type, col.type)} this tool can read (write e.g. {examples})')}",
    ]
    if col.type == "decimal":
        cases.append(
            f"WHEN {e} = 'too_many_decimals' THEN {lit(column + ': ')} || {raw} || "
            f"{lit(f' has more than {col.scale} decimal places; it is set aside rather than rounded (correct the export)')}"
        )
    if col.type in ("date", "timestamp"):
        lo, hi = dates
        cases.append(
            f"WHEN {e} = '{OUT_OF_RANGE}' THEN {lit(column + ': ')} || {raw} || "
            f"{lit(f' is outside the dates this audit accepts ({lo} to {hi}; settings.earliest_date and latest_date of the policy)')}"
        )
    if col.type == "timestamp":
        cases.append(
            f"WHEN {e} = 'nonexistent_local_time' THEN {lit(column + ': ')} || {raw} || "
            f"{lit(f' does not exist in {timezone}: the clocks skip that hour when summer time starts (check the time)')}"
        )
    return f"CASE {' '.join(cases)} END"
