"""The SparkSession an audit runs on, with the settings that make it judge like DuckDB.

- ``spark.sql.session.timeZone = UTC``: instants are stored as UTC, conversions to the policy's
  zone are explicit (as in :mod:`audit.db`); a wall-clock ``TIMESTAMP`` is kept as the UTC
  instant with the same digits.
- ``spark.sql.ansi.enabled = true``: a failing cast or an overflow is an error, not a NULL — the
  same as DuckDB, so money can never silently vanish.
- ``spark.sql.decimalOperations.allowPrecisionLoss = false``: decimal products and sums keep
  their scale (the engine casts every amount to ``DECIMAL(18, 2)`` explicitly, as in DuckDB).

These three cannot be changed with ``--spark-conf``; every other Spark setting can
(:func:`parse_spark_conf`). A local or cluster-client session started here runs its JVM with
its output (Spark's log lines, the JVM's own warnings) going to a log file instead of the
terminal (:func:`_launch_jvm`); an error names that file (:mod:`audit.spark.errors`).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Mapping

from audit.errors import UsageError
from audit.spark.errors import JVM, gib, start_error

INSTALL_HINT = ("--engine spark needs PySpark: pip install 'support-audit[spark]' "
                "(from a checkout: .venv/bin/pip install -e '.[spark]') "
                "(and a Java runtime for local Spark, e.g. Debian's default-jre-headless)")

_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
    "spark.ui.showConsoleProgress": "false",
}

#: Settings ``--spark-conf`` may not change, and why (compared case-insensitively).
RESERVED = {
    "spark.sql.session.timezone": "support-audit sets it to UTC so that Spark judges times as DuckDB does",
    "spark.sql.ansi.enabled": "support-audit sets it to true so that a bad cast or an overflow "
                              "is an error, never a silent NULL",
    "spark.sql.decimaloperations.allowprecisionloss": "support-audit sets it to false so that "
                                                      "money keeps every cent",
    "spark.master": "use --spark-master",
    "spark.remote": "use --spark-remote or SPARK_REMOTE",
}


def parse_spark_conf(items: Iterable[str]) -> dict[str, str]:
    """``--spark-conf KEY=VALUE`` options as a dict (a later one for the same key wins), checked
    by :func:`check_spark_conf`; a malformed one is a :class:`UsageError`."""
    conf: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--spark-conf {item!r} is not KEY=VALUE (write e.g. "
                             "--spark-conf spark.driver.memory=10g, one option per setting)")
        conf[key.strip()] = value
    return check_spark_conf(conf)


def check_spark_conf(conf: Mapping[str, str] | None) -> dict[str, str]:
    """``conf`` when every key is a Spark setting that may be changed; else a
    :class:`UsageError` saying why not."""
    for key in conf or {}:
        if not key.startswith("spark."):
            raise UsageError(f"--spark-conf {key}: not a Spark setting (Spark's settings start "
                             "with 'spark.', e.g. spark.driver.memory or spark.hadoop.fs.s3a.endpoint)")
        if key.lower() in RESERVED:
            raise UsageError(f"--spark-conf {key} cannot be changed: {RESERVED[key.lower()]}")
    return dict(conf or {})


def require_pyspark():
    """The ``pyspark.sql`` module, or a :class:`UsageError` with the install hint."""
    # PySpark warns about the pandas version on import; the audit hands Spark Arrow, not pandas.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                            category=FutureWarning)
    try:
        import pyspark.sql
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return pyspark.sql


def sees_local_files(master: str | None = None, remote: str | None = None) -> bool:
    """Whether Spark reads this machine's files: local Spark does; a cluster's executors and a
    Spark Connect server do not (they get a URI, or the tables through Arrow)."""
    if remote or os.environ.get("SPARK_REMOTE"):
        return False
    return (master or "local[*]").strip().lower().startswith("local")


def spark_session(master: str | None = None, remote: str | None = None, *,
                  shuffle_partitions: int | None = None, conf: Mapping[str, str] | None = None,
                  progress: Callable[[str], None] | None = None):
    """A SparkSession: Spark Connect at ``remote`` (or ``$SPARK_REMOTE``), else a local/cluster
    session with ``master`` (default ``local[*]``). ``conf``: further Spark settings
    (``--spark-conf``), given to the session builder before the JVM starts, so that
    ``spark.driver.memory`` takes effect; a JVM setting that cannot take effect because Spark
    already runs in this process is a :class:`UsageError`."""
    sql = require_pyspark()
    conf = check_spark_conf(conf)
    say = progress or (lambda _msg: None)
    remote = remote or os.environ.get("SPARK_REMOTE")
    where = f"remote {remote}" if remote else master or "local[*]"
    options = {"spark.app.name": "support-audit"}
    if not remote:
        options.update({"spark.master": master or "local[*]", "spark.ui.enabled": "false"})
    # a Connect server keeps its UI settings (its client shows no progress bar by default)
    options.update({k: v for k, v in _CONF.items() if not (remote and k.startswith("spark.ui."))})
    if shuffle_partitions is not None:
        options["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    options.update(conf)
    builder = sql.SparkSession.builder
    if remote:
        builder = builder.remote(remote)
    for key, value in options.items():
        builder = builder.config(key, value)
    say(f"starting Spark ({where})")
    try:
        if not remote:
            _launch_jvm(options)
        caught: list = []
        if remote:  # a Connect server answers a setting it will not take with a UserWarning
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                spark = builder.getOrCreate()
        else:
            spark = builder.getOrCreate()
    except Exception as e:  # no Java, a bad master URL or setting, an unreachable server
        raise start_error(e, where) from None
    _refused_settings(spark, caught, conf, where)
    for key, value in _CONF.items():  # an existing session keeps its settings: set them again
        if key.startswith("spark.sql."):
            spark.conf.set(key, value)
    if not remote:
        spark.sparkContext.setLogLevel("ERROR")
        _check_jvm_settings(spark, conf)
        JVM.heap = _driver_heap(spark)
        say(f"Spark started: driver heap {gib(JVM.heap)}")
    return spark


def _refused_settings(spark, caught: list, conf: Mapping[str, str], where: str) -> None:
    """The warnings of a session's start: a Spark Connect server answers a setting it fixes
    when it starts (``spark.driver.memory``, ``spark.executor.*`` …) with a warning, not an
    error, and the run would go on without it. A ``--spark-conf`` setting refused that way is a
    :class:`UsageError` naming it; any other warning is passed on."""
    import re

    refused = []
    for w in caught:
        found = re.search(r"Failed to set (\S+) to .*CANNOT_MODIFY_CONFIG", str(w.message))
        if found and found.group(1) in conf:
            refused.append(found.group(1))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if refused:
        with contextlib.suppress(Exception):
            spark.stop()
        settings = ", ".join(f"{k}={conf[k]}" for k in dict.fromkeys(refused))
        raise UsageError(
            f"--spark-conf {settings}: the Spark Connect server at {where.removeprefix('remote ')} "
            "fixes this when it starts, so it cannot take effect for this run; set it in the "
            "server's own configuration (e.g. start-connect-server.sh --conf KEY=VALUE), or "
            "pass only runtime settings (spark.sql.*) with --spark-remote")


def _launch_jvm(options: Mapping[str, str]) -> None:
    """Start the JVM this process's Spark runs in, with ``options`` on its command line (as
    ``spark-submit --conf``) and its stdout and stderr appended to a log file, unless a JVM
    already runs here (a notebook's, the test session's), which keeps its settings and output.

    PySpark would start it on the first session too, but with the terminal as its output:
    Spark's start-up log lines and the JVM's warnings would mix with the tool's own lines."""
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    with SparkContext._lock:
        if SparkContext._gateway is not None:
            return
        fd, log = tempfile.mkstemp(prefix="support-audit-spark-", suffix=".log")
        JVM.log = log
        atexit.register(_drop_log, log)
        route_root_logging(log)
        with os.fdopen(fd, "ab") as out:
            gateway = launch_gateway(SparkConf(loadDefaults=False).setAll(list(options.items())),
                                     popen_kwargs={"stdout": out, "stderr": out})
        SparkContext._gateway = gateway
        SparkContext._jvm = gateway.jvm


def route_root_logging(log: str) -> None:
    """Py4J reports a JVM that went away with ``logging.exception`` on the root logger; in a
    process that has not set up logging, that call sets it up to print on stderr
    (``logging.basicConfig``), so a dying JVM's traceback would land among the tool's own lines.
    Unless this process has configured logging itself, the root logger writes to the JVM's log
    instead (which an error message names, and which is kept then)."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.FileHandler(log, encoding="utf-8", delay=True)
        handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
        root.addHandler(handler)


def _drop_log(path: str) -> None:
    """At exit: the JVM's log goes unless an error message named it."""
    if path not in JVM.kept:
        try:
            os.unlink(path)
        except OSError:
            pass


def _check_jvm_settings(spark, conf: Mapping[str, str]) -> None:
    """A driver or executor setting asked for must be the one the running JVM has: it is read
    only when the JVM starts, so a session reused in the same process would silently ignore it."""
    running = spark.sparkContext.getConf()
    for key, value in conf.items():
        if key.startswith(("spark.driver.", "spark.executor.")) and running.get(key, None) != value:
            have = running.get(key, None)
            raise UsageError(
                f"--spark-conf {key}={value} cannot take effect: Spark already runs in this process "
                f"with {key + '=' + have if have is not None else 'its default'}; it is read when "
                "Spark's JVM starts (run support-audit in a new process)")


def _driver_heap(spark) -> int | None:
    """The driver JVM's maximum heap in bytes (what ``spark.driver.memory`` gave it)."""
    try:
        return int(spark.sparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory())
    except Exception:  # not a classic session: nothing to report
        return None

