"""The audit on Apache Spark: the engine's SQL carried to Spark SQL (docs/scale-out.md).

:mod:`~audit.spark.dialect` (the DuckDB → Spark SQL rewrite, every tweak in one place),
:mod:`~audit.spark.connection` (a SparkSession behind the engine's connection methods),
:mod:`~audit.spark.session` (the session and its settings), :mod:`~audit.spark.run` (a whole
audit on Spark).
"""
