"""The engine's DuckDB SQL carried to Spark SQL: every dialect tweak of the Spark engine is here.

The engine writes its SQL once, in DuckDB's dialect (audit/engine/*). For Spark each statement is
parsed by sqlglot (``read="duckdb"``), rewritten where the two engines differ in meaning or
where sqlglot's stock Spark generator has no equivalent, and generated as Spark SQL
(:func:`to_spark`). No rule, finding kind or price is written a second time: what changes is
only how a function is spelled.

What is rewritten, and why:

- **Macros** (``CREATE TEMP MACRO``, :data:`audit.engine.sql.MACROS`, the texts' formats) are
  inlined at every call (:class:`Macros`): a DuckDB macro is untyped (``audit_num`` formats an
  integer and a decimal differently), a Spark SQL function is not.
- **Time zones**: DuckDB's ``timezone(tz, x)`` turns an instant into the local wall clock, or a
  wall-clock ``TIMESTAMP`` into an instant. Spark has both as ``from_utc_timestamp`` /
  ``to_utc_timestamp``; which one is decided by the argument's spelling (a ``CAST(… AS
  TIMESTAMP)``, possibly plus an interval, is a wall clock — the engine writes it no other way).
  Both ``TIMESTAMP`` and ``TIMESTAMPTZ`` become Spark's ``TIMESTAMP``: the session time zone is
  UTC (:mod:`audit.spark.session`), so a wall clock is stored as the UTC instant with its digits.
- **Integers beyond BIGINT** (``HUGEINT``) are ``DECIMAL(38, 0)``: exact, as money needs.
- **Ordered aggregates**: ``list(x ORDER BY k)`` is a sorted ``collect_list`` of structs,
  ``first(x ORDER BY k DESC, j)`` a ``min_by`` over a struct key (descending keys negated: the
  engine orders descending only by numbers).
- **Generated rows**: ``generate_series`` in ``FROM`` becomes an ``explode(sequence(…))``
  subquery; ``unnest(generate_series(…))`` in a projection an ``explode``.
- ``isodow`` (sqlglot's Spark output is off by one on Sundays), ``epoch_us`` →
  ``unix_micros``, ``to_timestamp(s)`` → ``timestamp_seconds``, ``make_timestamp(us)`` →
  ``timestamp_micros``, ``round_even`` → ``bround``, ``sha256`` → ``sha2(…, 256)``,
  ``regexp_full_match(x, p)`` → ``x RLIKE '^(?:p)\\z'`` (the ingestion's typing),
  ``format('{:,}', n)`` (group marks of a whole number) → ``format_number(n, 0)``; ``WITH …
  AS MATERIALIZED`` loses the hint here (the connection computes such a CTE once,
  :meth:`audit.spark.connection.SparkConnection._materialized_ctes`).
- Parameters (``?``, ``$name``) are bound as literals rendered by :func:`audit.sql.lit` (Spark
  Connect has no positional parameters for DDL).
"""

from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.spark import Spark

from audit.sql import lit

READ = "duckdb"


class AuditSpark(Spark):
    """sqlglot's Spark dialect with the generator changes the engine's SQL needs."""

    class Generator(Spark.Generator):
        TYPE_MAPPING = {
            **Spark.Generator.TYPE_MAPPING,
            exp.DataType.Type.INT128: "DECIMAL(38, 0)",
            exp.DataType.Type.TIMESTAMP: "TIMESTAMP",
            exp.DataType.Type.TIMESTAMPNTZ: "TIMESTAMP",
            exp.DataType.Type.TIMESTAMPTZ: "TIMESTAMP",
            exp.DataType.Type.TEXT: "STRING",
        }
        TRANSFORMS = {
            **Spark.Generator.TRANSFORMS,
            exp.DayOfWeekIso: lambda self, e: f"(WEEKDAY({self.sql(e, 'this')}) + 1)",
        }


class Macros:
    """DuckDB ``TEMP MACRO`` definitions, inlined into the statements that call them."""

    def __init__(self) -> None:
        self._defs: dict[str, tuple[list[str], exp.Expression]] = {}

    def define(self, create: exp.Create) -> None:
        udf = create.this
        name = udf.this.name.lower()
        params = [p.name for p in udf.expressions]
        self._defs[name] = (params, create.expression)

    def expand(self, tree: exp.Expression) -> exp.Expression:
        """``tree`` with every macro call replaced by the macro's body (arguments substituted,
        each in parentheses); repeated until no call is left (macros call macros)."""
        if not self._defs:
            return tree
        for _ in range(20):
            calls = [n for n in tree.find_all(exp.Anonymous) if n.name.lower() in self._defs]
            if not calls:
                return tree
            for call in calls:
                params, body = self._defs[call.name.lower()]
                if len(params) != len(call.expressions):  # pragma: no cover - engine bug
                    raise ValueError(f"macro {call.name} takes {len(params)} arguments")
                args = dict(zip(params, call.expressions, strict=True))
                new = body.copy().transform(
                    lambda n, args=args: exp.paren(args[n.name].copy())
                    if isinstance(n, exp.Column) and not n.table and n.name in args else n)
                replacement = exp.paren(new)
                if call is tree:
                    tree = replacement
                else:
                    call.replace(replacement)
        raise ValueError("macro expansion does not terminate")  # pragma: no cover


def bind(tree: exp.Expression, params: Any) -> exp.Expression:
    """``tree`` with its ``?`` (a list of values) or ``$name`` (a dict) parameters replaced by
    literals."""
    if not params:
        return tree
    positional = list(params) if isinstance(params, list | tuple) else None
    index = 0

    def value(node: exp.Expression) -> exp.Expression:
        nonlocal index
        if isinstance(node, exp.Placeholder | exp.Parameter):
            name = node.name if isinstance(node, exp.Parameter) else node.args.get("this")
            if positional is not None and not name:
                v = positional[index]
                index += 1
            elif isinstance(params, dict) and name in params:
                v = params[name]
            else:  # pragma: no cover - engine bug
                raise ValueError(f"no value for parameter {node.sql()}")
            return sqlglot.parse_one(lit(v), read=READ)
        return node

    return tree.transform(value)


def _wall_clock(node: exp.Expression) -> bool:
    """Whether ``node`` is a wall-clock ``TIMESTAMP`` as the engine spells one."""
    node = node.unnest()
    if isinstance(node, exp.Add | exp.Sub):
        return _wall_clock(node.this)
    return isinstance(node, exp.Cast) and node.to.this in (exp.DataType.Type.TIMESTAMP,
                                                          exp.DataType.Type.TIMESTAMPNTZ)


def _struct(keys: list[exp.Expression], value: exp.Expression | None) -> exp.Expression:
    args: list[exp.Expression] = []
    for i, k in enumerate(keys):
        args += [exp.Literal.string(f"k{i}"), k]
    if value is not None:
        args += [exp.Literal.string("v"), value]
    return exp.Anonymous(this="named_struct", expressions=args)


def _sort_keys(order: exp.Order) -> list[exp.Expression]:
    keys = []
    for o in order.expressions:
        key = o.this.copy()
        keys.append(exp.Neg(this=exp.paren(key)) if o.args.get("desc") else key)
    return keys


def _rewrite(node: exp.Expression) -> exp.Expression:
    """One node's DuckDB-only spelling as Spark SQL (see the module docstring)."""
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        args = node.expressions
        if name == "timezone" and len(args) == 2:
            fn = "to_utc_timestamp" if _wall_clock(args[1]) else "from_utc_timestamp"
            return exp.Anonymous(this=fn, expressions=[args[1], args[0]])
        if name == "epoch_us":
            return exp.Anonymous(this="unix_micros", expressions=args)
        if name == "round_even":
            return exp.Anonymous(this="bround", expressions=args)
        if name == "sha256":
            return exp.Anonymous(this="sha2", expressions=[*args, exp.Literal.number(256)])
    if (isinstance(node, exp.Format) and node.this.is_string and node.this.name == "{:,}"
            and len(node.expressions) == 1):
        return exp.Anonymous(this="format_number", expressions=[node.expressions[0], exp.Literal.number(0)])
    if isinstance(node, exp.RegexpFullMatch) and node.expression.is_string:
        # anchored; Java's ``$`` would also match before a final line break, ``\z`` does not
        whole = exp.Literal.string(f"^(?:{node.expression.name})\\z")
        return exp.RegexpLike(this=node.this, expression=whole)
    if isinstance(node, exp.UnixToTime):
        fn = "timestamp_micros" if node.args.get("scale") is not None else "timestamp_seconds"
        return exp.Anonymous(this=fn, expressions=[node.this])
    if isinstance(node, exp.First) and isinstance(node.this, exp.Order):
        order = node.this
        return exp.Anonymous(this="min_by", expressions=[order.this, _struct(_sort_keys(order), None)])
    if isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Order):
        order = node.this
        packed = exp.ArrayAgg(this=_struct(_sort_keys(order), order.this))
        lam = exp.Lambda(this=exp.Dot(this=exp.column("_s"), expression=exp.to_identifier("v")),
                         expressions=[exp.to_identifier("_s")])
        return exp.Anonymous(this="transform", expressions=[
            exp.Anonymous(this="array_sort", expressions=[packed]), lam])
    if isinstance(node, exp.Table) and isinstance(node.this, exp.GenerateSeries):
        alias = node.args.get("alias")
        name = alias.name if alias else "_g"
        col = alias.columns[0].name if alias and alias.columns else "generate_series"
        sub = exp.select(exp.alias_(exp.Explode(this=_sequence(node.this)), col))
        return sub.subquery(name)
    if isinstance(node, exp.Explode) and isinstance(node.this, exp.GenerateSeries):
        return exp.Explode(this=_sequence(node.this))
    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        node.set("materialized", None)
    return node


def _sequence(series: exp.GenerateSeries) -> exp.Expression:
    start, end, step = series.args["start"], series.args["end"], series.args.get("step")
    if series.args.get("is_end_exclusive"):  # range(a, b): b excluded
        end = exp.Sub(this=exp.paren(end.copy()), expression=exp.Literal.number(1))
    return exp.Anonymous(this="sequence", expressions=[start, end, *([step] if step else [])])


def rewrite(tree: exp.Expression, macros: Macros | None = None, params: Any = None) -> exp.Expression:
    """A parsed DuckDB statement made ready for :class:`AuditSpark` generation."""
    tree = bind(tree, params)
    if macros is not None:
        tree = macros.expand(tree)
    # Bottom-up, so that what a rewrite builds from its arguments is already rewritten.
    for node in reversed(list(tree.dfs())):
        new = _rewrite(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


def generate(tree: exp.Expression) -> str:
    return tree.sql(dialect=AuditSpark)


def to_spark(sql: str, params: Any = None, macros: Macros | None = None) -> list[str]:
    """The Spark SQL statements of the DuckDB ``sql`` (one per statement)."""
    return [generate(rewrite(t, macros, params)) for t in sqlglot.parse(sql, read=READ) if t is not None]
