"""The SparkSession an audit runs on, with the settings that make it judge like DuckDB.

- ``spark.sql.session.timeZone = UTC``: instants are stored as UTC, conversions to the policy's
  zone are explicit (as in :mod:`audit.db`); a wall-clock ``TIMESTAMP`` is kept as the UTC
  instant with the same digits.
- ``spark.sql.ansi.enabled = true``: a failing cast or an overflow is an error, not a NULL — the
  same as DuckDB, so money can never silently vanish.
- ``spark.sql.decimalOperations.allowPrecisionLoss = false``: decimal products and sums keep
  their scale (the engine casts every amount to ``DECIMAL(18, 2)`` explicitly, as in DuckDB).
"""

from __future__ import annotations

import os

from audit.errors import UsageError

INSTALL_HINT = ("--engine spark needs PySpark: pip install 'support-audit[spark]' "
                "(from a checkout: .venv/bin/pip install -e '.[spark]') "
                "(and a Java runtime for local Spark, e.g. Debian's default-jre-headless)")

_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
    "spark.ui.showConsoleProgress": "false",
}


def require_pyspark():
    """The ``pyspark.sql`` module, or a :class:`UsageError` with the install hint."""
    import warnings

    # PySpark warns about the pandas version on import; the audit hands Spark Arrow, not pandas.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                            category=FutureWarning)
    try:
        import pyspark.sql
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return pyspark.sql


def spark_session(master: str | None = None, remote: str | None = None, *,
                  shuffle_partitions: int | None = None):
    """A SparkSession: Spark Connect at ``remote`` (or ``$SPARK_REMOTE``), else a local/cluster
    session with ``master`` (default ``local[*]``)."""
    sql = require_pyspark()
    builder = sql.SparkSession.builder.appName("support-audit")
    remote = remote or os.environ.get("SPARK_REMOTE")
    if remote:
        builder = builder.remote(remote)
    else:
        builder = builder.master(master or "local[*]").config("spark.ui.enabled", "false")
    for key, value in _CONF.items():
        builder = builder.config(key, value)
    if shuffle_partitions is not None:
        builder = builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions))
    try:
        spark = builder.getOrCreate()
    except Exception as e:  # no Java, a bad master URL, an unreachable Spark Connect server
        raise UsageError(f"cannot start Spark ({'remote ' + remote if remote else master or 'local[*]'}): "
                         f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    for key, value in _CONF.items():  # an existing session keeps its settings: set them again
        if key.startswith("spark.sql."):
            spark.conf.set(key, value)
    if not remote:
        spark.sparkContext.setLogLevel("ERROR")
    return spark
