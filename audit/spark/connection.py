"""A Spark session behind the few connection methods the engine calls on DuckDB.

The engine (audit/engine/*) runs its stages as SQL on a connection: ``execute`` (DDL, and
queries whose rows it fetches), ``executemany`` (the policy's small relations), ``sql(…)``
(results exported through Arrow). :class:`SparkConnection` offers the same methods on a
``SparkSession``; each statement is carried to Spark SQL by :mod:`audit.spark.dialect`, so the
engine modules are not written a second time.

How DuckDB's objects map:

- a ``TEMP TABLE`` is a temp view of a **checkpointed** DataFrame (computed once, its lineage
  cut, like DuckDB's materialised table); a ``TEMP VIEW`` a temp view of the query;
- a table created from a column list and filled with ``INSERT`` is a DataFrame of the inserted
  rows (bound values, never SQL text) or queries (``unionByName``);
- ``DROP TABLE``/``DROP VIEW`` drop the temp view;
- a ``WITH name AS MATERIALIZED (…)`` CTE (DuckDB computes it once) is computed once here too,
  as a checkpointed temp view the statement reads, instead of once per reference;
- duplicate column names of a stored result are renamed as DuckDB renames them (``a_1``);
- the catalog functions ``duckdb_tables()``/``duckdb_views()``/``duckdb_columns()`` are answered from the session's
  temp views;
- for the loader (:mod:`audit.spark.ingest`): ``DESCRIBE SELECT …`` answers DuckDB's type names,
  ``DELETE FROM t WHERE …`` re-stores ``t`` without those rows, ``ALTER TABLE a RENAME TO b``
  renames the view, and :meth:`SparkConnection.register` makes an Arrow table a view, as
  DuckDB's ``register`` does.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from audit.spark.dialect import READ, AuditSpark, Macros, generate, rewrite
from audit.sql import lit

_CATALOG = ("duckdb_tables", "duckdb_views", "duckdb_columns")


def _unique(columns: list[str]) -> list[str]:
    """Column names made unique as DuckDB does when it stores a result (``a``, ``a_1`` …):
    Spark would keep the duplicates and reject every later reference as ambiguous."""
    seen: set[str] = set()
    out = []
    for c in columns:
        name, n = c, 0
        while name.lower() in seen:
            n += 1
            name = f"{c}_{n}"
        seen.add(name.lower())
        out.append(name)
    return out


def plain_strings(table: pa.Table) -> pa.Table:
    """Arrow string views (DuckDB's export) as plain strings, which Spark reads."""
    fields = [pa.field(f.name, pa.string() if pa.types.is_string_view(f.type) else f.type)
              for f in table.schema]
    return table.cast(pa.schema(fields))


def spark_schema(table: pa.Table):
    """The Spark schema of an Arrow table (an empty table has no rows or files Spark could
    infer it from)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(table.schema)


def duckdb_type_name(data_type) -> str:
    """DuckDB's name of a Spark SQL type, as ``DESCRIBE`` shows it (the loader decides by it
    which values it may take as they are; :mod:`audit.ingest.fasttype`)."""
    from pyspark.sql import types as t

    if isinstance(data_type, t.DecimalType):
        return f"DECIMAL({data_type.precision},{data_type.scale})"
    names = {t.StringType: "VARCHAR", t.LongType: "BIGINT", t.IntegerType: "INTEGER",
             t.ShortType: "SMALLINT", t.ByteType: "TINYINT", t.BooleanType: "BOOLEAN",
             t.DateType: "DATE", t.TimestampType: "TIMESTAMP WITH TIME ZONE",
             t.TimestampNTZType: "TIMESTAMP", t.DoubleType: "DOUBLE", t.FloatType: "FLOAT",
             t.BinaryType: "BLOB"}
    for kind, name in names.items():
        if isinstance(data_type, kind):
            return name
    return data_type.simpleString().upper()


class SparkResult:
    """A query's DataFrame (or rows already known) with the fetch methods of a DuckDB result."""

    def __init__(self, df, rows: list[tuple] | None = None) -> None:
        self.df = df
        self._rows = rows

    def fetchall(self) -> list[tuple]:
        if self._rows is not None:
            return list(self._rows)
        return [tuple(r) for r in self.df.collect()] if self.df is not None else []

    def fetchone(self) -> tuple | None:
        if self._rows is not None:
            return self._rows[0] if self._rows else None
        rows = self.df.take(1) if self.df is not None else []
        return tuple(rows[0]) if rows else None

    def to_arrow_table(self) -> pa.Table:
        return self.df.toArrow()

    def arrow(self) -> pa.Table:
        return self.to_arrow_table()

    def pl(self):
        import polars as pl

        return pl.from_arrow(self.to_arrow_table())


class SparkConnection:
    """The engine's connection interface over a ``SparkSession`` (see the module docstring)."""

    #: The SQL dialect the engine may ask about (``getattr(con, "dialect", "duckdb")``).
    dialect = "spark"

    def __init__(self, spark, cleanup=None, *, local_files: bool = False) -> None:
        self.spark = spark
        self._cleanup = cleanup
        #: whether Spark's executors surely read and write this machine's files (local Spark);
        #: elsewhere a probe asks before they write the output set (audit.outputs.table_sink)
        self.local_files = local_files
        self.macros = Macros()
        #: temp views this connection created (only these are dropped or listed)
        self._views: set[str] = set()
        self._columns: dict[str, list[str]] = {}
        #: the temp views that stand for DuckDB views (the others for tables)
        self._plain_views: set[str] = set()
        self._checkpoints: dict[str, Any] = {}
        #: temp views of ``MATERIALIZED`` CTEs not yet dropped (:meth:`_materialized_ctes`)
        self._hoisted: list[str] = []
        self._hoisted_count = 0

    # --- the DuckDB connection methods the engine uses ----------------------------------

    def execute(self, sql: str, params: Any = None) -> SparkResult:
        result = SparkResult(None)
        for tree in sqlglot.parse(sql, read=READ):
            if tree is not None:
                result = self._run(tree, params)
        return result

    def sql(self, sql: str, params: Any = None) -> SparkResult:
        return self.execute(sql, params)

    def executemany(self, sql: str, rows: list) -> None:
        tree = sqlglot.parse_one(sql, read=READ)
        if not isinstance(tree, exp.Insert) or not isinstance(tree.expression, exp.Values):
            raise NotImplementedError(f"executemany supports INSERT … VALUES only: {sql}")
        name = tree.this.name
        current = self.spark.table(name)
        new = self.spark.createDataFrame([tuple(r) for r in rows], schema=current.schema)
        self._register(name, current.unionByName(new), materialize=True)

    def register(self, name: str, table: pa.Table) -> None:
        """The Arrow ``table`` as the view ``name`` (DuckDB's ``register``)."""
        table = plain_strings(table)
        self._register(name, self.spark.createDataFrame(table, schema=spark_schema(table)),
                       materialize=False, table=False)

    def unregister(self, name: str) -> None:
        self._drop(name)

    def close(self) -> None:
        self._drop_hoisted()
        for name in list(self._views):
            self.spark.catalog.dropTempView(name)
        self._views.clear()
        if self._cleanup is not None:
            self._cleanup()
            self._cleanup = None

    # --- statements -----------------------------------------------------------------------

    def _query(self, tree: exp.Expression, params: Any):
        self._catalog_views(tree)
        self._materialized_ctes(tree, params)
        return self.spark.sql(generate(rewrite(tree, self.macros, params)))

    def _materialized_ctes(self, tree: exp.Expression, params: Any) -> None:
        """Compute each ``WITH name AS MATERIALIZED (…)`` once, as DuckDB does: Spark would
        inline the CTE at every reference and run its query that many times. Its query becomes
        a checkpointed temp view that the CTE then reads. A CTE reading another CTE of its
        ``WITH`` cannot run on its own and keeps Spark's inlining (the hint is dropped by the
        dialect). The temp views live until the statement's own result is stored
        (:meth:`_run`) or the connection closes: Spark Connect resolves names only when a
        DataFrame is used."""
        for cte in list(tree.find_all(exp.CTE)):
            if cte.args.get("materialized") is None:
                continue
            siblings = {c.alias_or_name.lower() for c in cte.parent.expressions} \
                if isinstance(cte.parent, exp.With) else set()
            if any(t.name.lower() in siblings for t in cte.this.find_all(exp.Table)):
                continue
            self._hoisted_count += 1
            name = f"__materialized_{self._hoisted_count}_{cte.alias_or_name}"
            # (its catalog calls, if any, were replaced with the whole statement's in _query)
            df = self.spark.sql(generate(rewrite(cte.this.copy(), self.macros, params)))
            df.toDF(*_unique(df.columns)).localCheckpoint(eager=True).createOrReplaceTempView(name)
            self._hoisted.append(name)
            cte.set("this", exp.select("*").from_(name))
            cte.set("materialized", None)

    def _drop_hoisted(self, start: int = 0) -> None:
        """Drop the CTEs' temp views made since the ``start``-th."""
        for name in self._hoisted[start:]:
            self.spark.catalog.dropTempView(name)
        del self._hoisted[start:]

    def _run(self, tree: exp.Expression, params: Any) -> SparkResult:
        if isinstance(tree, exp.Create):
            kind = (tree.args.get("kind") or "").upper()
            if kind == "MACRO":
                self.macros.define(tree)
                return SparkResult(None)
            target = tree.this
            if isinstance(target, exp.Schema):  # CREATE TABLE t (col type, …): empty
                columns = ", ".join(
                    f"`{c.name}` {c.args['kind'].sql(dialect=AuditSpark)}" for c in target.expressions)
                df = self.spark.createDataFrame([], schema=columns)
                self._register(target.this.name, df, materialize=False)
                return SparkResult(None)
            before = len(self._hoisted)
            df = self._query(tree.expression, params)
            self._register(target.name, df, materialize=kind == "TABLE")
            if kind == "TABLE":  # computed now: its CTEs' views are read no more
                self._drop_hoisted(before)
            return SparkResult(None)
        if isinstance(tree, exp.Drop):
            for table in tree.args.get("tables") or [tree.this]:
                self._drop(table.name)
            return SparkResult(None)
        if isinstance(tree, exp.Describe):
            df = self._query(tree.this, params)
            return SparkResult(None, [(f.name, duckdb_type_name(f.dataType), "YES")
                                      for f in df.schema.fields])
        if isinstance(tree, exp.Delete):  # the table again, without the rows
            name = tree.this.name
            keep = exp.select("*").from_(exp.to_identifier(name)).where(
                exp.not_(exp.Coalesce(this=tree.args["where"].this.copy(),
                                      expressions=[exp.false()])))
            table = name not in self._plain_views
            self._register(name, self._query(keep, params), materialize=True, table=table)
            return SparkResult(None)
        if isinstance(tree, exp.Alter) and len(tree.args.get("actions") or []) == 1 \
                and isinstance(tree.args["actions"][0], exp.AlterRename):
            old, new = tree.this.name, tree.args["actions"][0].this.name
            table = old not in self._plain_views
            self._register(new, self.spark.table(old), materialize=False, table=table)
            self._drop(old)
            return SparkResult(None)
        if isinstance(tree, exp.Insert):
            name = tree.this.name
            new = self._query(tree.expression, params)
            current = self.spark.table(name)
            self._register(name, current.unionByName(new.toDF(*current.columns)), materialize=True)
            return SparkResult(None)
        if isinstance(tree, exp.Set | exp.Command):  # session settings: DuckDB's own
            return SparkResult(None)
        return SparkResult(self._query(tree, params))

    def _drop(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)
        self._views.discard(name)
        self._plain_views.discard(name)
        self._columns.pop(name, None)

    def _register(self, name: str, df, *, materialize: bool, table: bool | None = None) -> None:
        """``df`` as temp view ``name``; ``materialize``: computed now, once; ``table``: listed
        by ``duckdb_tables()`` (default: when materialised), else by ``duckdb_views()``."""
        df = df.toDF(*_unique(df.columns))
        if materialize:
            # Computed once and its lineage cut: later stages read it like a stored table.
            df = df.localCheckpoint(eager=True)
        df.createOrReplaceTempView(name)
        self._views.add(name)
        self._columns[name] = list(df.columns)
        if materialize if table is None else table:
            self._plain_views.discard(name)
        else:
            self._plain_views.add(name)

    def _catalog_views(self, tree: exp.Expression) -> None:
        """Answer ``duckdb_tables()``/``duckdb_columns()`` from this connection's temp views:
        the calls are replaced by temp views of the same name and columns."""
        calls = [t for t in tree.find_all(exp.Table)
                 if isinstance(t.this, exp.Anonymous) and t.this.name.lower() in _CATALOG]
        if not calls:
            return
        names = sorted(self._views)
        tables = " UNION ALL ".join(f"SELECT {lit(n)} AS table_name" for n in names
                                    if n not in self._plain_views)
        views = " UNION ALL ".join(f"SELECT {lit(n)} AS view_name" for n in sorted(self._plain_views))
        columns = " UNION ALL ".join(
            f"SELECT {lit(n)} AS table_name, {lit(c)} AS column_name, {i} AS column_index"
            for n in names for i, c in enumerate(self._columns[n]))
        self.spark.sql(tables or "SELECT CAST(NULL AS STRING) AS table_name WHERE false") \
            .createOrReplaceTempView("__duckdb_tables")
        self.spark.sql(views or "SELECT CAST(NULL AS STRING) AS view_name WHERE false") \
            .createOrReplaceTempView("__duckdb_views")
        self.spark.sql(columns or "SELECT CAST(NULL AS STRING) AS table_name, CAST(NULL AS STRING)"
                       " AS column_name, 0 AS column_index WHERE false") \
            .createOrReplaceTempView("__duckdb_columns")
        for call in calls:
            alias = call.args.get("alias")
            call.replace(exp.Table(this=exp.to_identifier(f"__{call.this.name.lower()}"),
                                   alias=alias))

    # --- loading ----------------------------------------------------------------------------

    def register_table(self, name: str, df) -> None:
        """Make ``df`` (a canonical input table) the table ``name`` of this connection."""
        self._register(name, df, materialize=False, table=True)
