"""``--engine spark`` when Spark cannot do the work: ``--spark-conf``, resource errors (exit 4 with
what to do, never an internal error), and a terminal free of the JVM's own lines
(docs/scale-out.md).

The option parsing and the error mapping are tested on their own (no Spark needed); the tests
marked ``spark`` start real local Spark in a subprocess, each with its own JVM, so that its
settings (driver memory, a missing Java) and its fate (out of memory) are its own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from spark_support import TOOL_LINE, cli, require_spark

from audit.cli import main
from audit.errors import EXIT_USAGE, UsageError
from audit.spark.errors import JVM, spark_error, start_error
from audit.spark.session import parse_spark_conf

ROOT = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------------------------
# --spark-conf KEY=VALUE


def test_spark_conf_pairs_are_parsed_in_order():
    conf = parse_spark_conf(["spark.driver.memory=4g", "spark.executor.extraJavaOptions=-Da=b -Dc=d",
                             "spark.driver.memory=10g", " spark.local.dir = /big"])
    assert conf == {"spark.driver.memory": "10g",  # the later one wins, as in spark-submit
                    "spark.executor.extraJavaOptions": "-Da=b -Dc=d",  # "=" in a value is kept
                    "spark.local.dir": " /big"}  # the key is trimmed, the value is not


@pytest.mark.parametrize(("item", "says"), [
    ("spark.driver.memory", "is not KEY=VALUE"),
    ("=10g", "is not KEY=VALUE"),
    ("driver.memory=10g", "not a Spark setting"),
    ("spark.sql.ansi.enabled=false", "never a silent NULL"),
    ("spark.sql.session.timeZone=Europe/Berlin", "UTC"),
    ("spark.sql.decimalOperations.AllowPrecisionLoss=true", "every cent"),
    ("spark.master=local[1]", "--spark-master"),
])
def test_a_bad_spark_conf_is_a_usage_error_before_any_work(item, says, tmp_path, capsys):
    with pytest.raises(UsageError, match=re.escape(says)):
        parse_spark_conf([item])
    for command in (["run", "--out", str(tmp_path / "out")],
                    ["diff", "--base", "policies", "--head", "policies", "--data", "sample_data",
                     "--out", str(tmp_path / "diff")]):
        with pytest.raises(SystemExit) as e:
            main([*command, "--engine", "spark", "--spark-conf", item, "-q"])
        assert e.value.code == EXIT_USAGE
        err = capsys.readouterr().err
        assert "--spark-conf" in err and says in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "diff").exists()


def test_the_api_refuses_a_reserved_setting_before_reading_data(tmp_path):
    from audit.api import run_audit

    with pytest.raises(UsageError, match="spark.sql.ansi.enabled cannot be changed"):
        run_audit("policies", tmp_path / "no-such-data", engine="spark",
                  spark_conf={"spark.sql.ansi.enabled": "false"})


# --------------------------------------------------------------------------------------------
# Spark's failures as resource errors (without Spark: exceptions shaped like Py4J's)


def _py4j(name: str, text: str, *, broken_str: bool = False) -> Exception:
    """An exception of class ``py4j.protocol.<name>`` saying ``text`` (``broken_str``: its
    ``str()`` fails, as Py4JJavaError's does once the JVM it asks is gone)."""
    def __str__(self):
        if broken_str:
            raise ConnectionRefusedError(111, "Connection refused")
        return text

    cls = type(name, (Exception,), {"__module__": "py4j.protocol", "__str__": __str__})
    return cls(text)


JAVA_OOM = ("An error occurred while calling o847.localCheckpoint.\n"
            ": java.util.concurrent.ExecutionException: Boxed Exception\n"
            "\tat scala.concurrent.impl.Promise$.resolve(Promise.scala:99)\n"
            "Caused by: java.lang.OutOfMemoryError: Java heap space\n"
            "\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)\n")


@pytest.fixture
def jvm_state(monkeypatch, tmp_path):
    """A fresh record of "the JVM this process started", with a log file in ``tmp_path``."""
    log = tmp_path / "spark.log"
    monkeypatch.setattr(JVM, "log", str(log))
    monkeypatch.setattr(JVM, "heap", 2**30)
    monkeypatch.setattr(JVM, "kept", set())
    return log


def test_java_out_of_memory_is_a_resource_error_with_what_to_do(jvm_state):
    error = spark_error(_py4j("Py4JJavaError", JAVA_OOM))
    assert isinstance(error, UsageError) and error.exit_code == EXIT_USAGE
    text = str(error)
    assert text.startswith("Spark ran out of memory (java.lang.OutOfMemoryError: Java heap space; "
                           "the driver's heap was 1.0 GiB)")
    assert "--spark-conf spark.driver.memory=10g" in text and "spark.executor.memory" in text
    assert f"Spark's log: {jvm_state}" in text and str(jvm_state) in JVM.kept  # kept at exit
    # Spark's own out-of-memory error (a task could not get execution memory)
    spark_oom = _py4j("Py4JJavaError", "org.apache.spark.memory.SparkOutOfMemoryError: Unable to "
                                       "acquire 65536 bytes of memory, got 0")
    assert "SparkOutOfMemoryError: Unable to acquire" in str(spark_error(spark_oom))


def test_a_jvm_that_died_of_memory_is_told_apart_by_its_log(jvm_state):
    """After an OutOfMemoryError Spark shuts its context down: the exception only says the
    context stopped, or the scheduler is null, or the gateway does not answer (and its str()
    fails); the JVM's log says why."""
    shut_down = _py4j("Py4JJavaError", "An error occurred while calling o86.collectToPython.\n: "
                      "org.apache.spark.SparkException: Job 0 cancelled because SparkContext "
                      "was shut down", broken_str=True)
    shut_down.args = ("An error occurred while calling o86.collectToPython. SparkContext was shut down",)
    network = _py4j("Py4JNetworkError", "Answer from Java side is empty")
    no_scheduler = _py4j("Py4JJavaError", "An error occurred while calling o86.collectToPython.\n: "
                         "java.lang.NullPointerException: Cannot invoke \"org.apache.spark.scheduler."
                         "DAGScheduler.cleanupQueryJobs(long)\" because the return value of "
                         "\"org.apache.spark.SparkContext.dagScheduler()\" is null")
    jvm_state.write_text("26/12/05 ERROR Executor: Exception in task 0.0\n"
                         'Exception in thread "Spark Context Cleaner" java.lang.OutOfMemoryError: '
                         "Java heap space\n")
    for e in (shut_down, network, no_scheduler):
        assert str(spark_error(e)).startswith("Spark ran out of memory (java.lang.OutOfMemoryError")
    jvm_state.write_text("26/12/05 ERROR SparkContext: something else\n")
    text = str(spark_error(network))
    assert text.startswith("Spark's JVM stopped during the run (Answer from Java side is empty; "
                           "the driver's heap was 1.0 GiB)")
    assert "spark.driver.memory=10g" in text and str(jvm_state) in text


def test_the_reason_of_an_out_of_memory_is_named_wherever_it_was_said(jvm_state):
    """A thread's uncaught OutOfMemoryError reaches the command without its reason ("Java heap
    space"); the reason is taken from the JVM's log then (seen in a real local run)."""
    thread = _py4j("Py4JJavaError", 'java.lang.OutOfMemoryError thrown from the '
                   'UncaughtExceptionHandler in thread "RemoteBlock-temp-file-clean-thread"')
    jvm_state.write_text('Exception in thread "Executor task launch worker" '
                         "java.lang.OutOfMemoryError: Java heap space\n")
    assert str(spark_error(thread)).startswith(
        "Spark ran out of memory (java.lang.OutOfMemoryError: Java heap space; the driver's heap")
    jvm_state.write_text("")  # no reason anywhere: the thread's words are named
    assert "UncaughtExceptionHandler" in str(spark_error(thread))


def test_py4j_root_logging_goes_to_the_jvm_log_not_to_stderr(tmp_path, monkeypatch, capsys):
    """Py4J logs a dead JVM with ``logging.exception`` on the root logger, which would set up
    logging to stderr in a process that has none; the tool's JVM log takes those lines."""
    import logging

    from audit.spark.session import route_root_logging

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    log = tmp_path / "spark.log"
    route_root_logging(str(log))
    try:
        raise ConnectionError("Answer from Java side is empty")
    except ConnectionError:
        logging.exception("Exception while sending command.")
    for handler in root.handlers:
        handler.flush()
    assert capsys.readouterr().err == ""
    text = log.read_text(encoding="utf-8")
    assert text.startswith("ERROR:root:Exception while sending command.")
    assert "ConnectionError: Answer from Java side is empty" in text
    for handler in root.handlers:
        handler.close()
    # a process that set up logging itself keeps it
    mine = logging.StreamHandler()
    monkeypatch.setattr(root, "handlers", [mine])
    route_root_logging(str(log))
    assert root.handlers == [mine]


def test_other_errors_stay_internal_errors(jvm_state):
    assert spark_error(ValueError("java.lang.OutOfMemoryError")) is None  # not from Spark
    assert spark_error(_py4j("Py4JJavaError", "org.apache.spark.sql.AnalysisException: "
                             "[UNRESOLVED_COLUMN] a column")) is None  # a bug: stays exit 5
    assert JVM.kept == set()
    disk = spark_error(_py4j("Py4JJavaError", "java.io.IOException: No space left on device"))
    assert "spark.local.dir" in str(disk)


def test_the_cli_maps_a_spark_out_of_memory_to_exit_4(monkeypatch, jvm_state, tmp_path, capsys):
    """The message and exit 4 instead of "internal error" and a crash log (the 1 M-entry run
    with Spark's default heap ended that way before)."""
    import audit.api

    def out_of_memory(*_args, **_kwargs):
        raise _py4j("Py4JJavaError", JAVA_OOM)

    monkeypatch.setattr(audit.api, "run_audit", out_of_memory)
    with pytest.raises(SystemExit) as e:
        main(["run", "--engine", "spark", "--out", str(tmp_path / "out"), "-q"])
    assert e.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: Spark ran out of memory (java.lang.OutOfMemoryError: Java heap space")
    assert "internal error" not in err and "Traceback" not in err


def test_a_java_gateway_that_never_started_says_to_install_java(jvm_state):
    jvm_state.write_text(".../pyspark/bin/spark-class: line 71: /opt/jdk/bin/java: No such file or directory\n"
                         ".../pyspark/bin/spark-class: line 97: CMD: bad array subscript\n")
    gateway = type("PySparkRuntimeError", (Exception,), {"__module__": "pyspark.errors.exceptions.base"})
    text = str(start_error(gateway("[JAVA_GATEWAY_EXITED] Java gateway process exited before "
                                   "sending its port number."), "local[*]"))
    assert text.startswith("cannot start Spark (local[*]): its Java process exited before it "
                           "started (.../pyspark/bin/spark-class: line 71: /opt/jdk/bin/java: "
                           "No such file or directory)")
    assert "default-jre-headless" in text and "JAVA_HOME" in text and str(jvm_state) in text


# --------------------------------------------------------------------------------------------
# Real local Spark, one JVM per subprocess


@pytest.mark.spark
@pytest.mark.slow
def test_a_spark_run_prints_only_its_own_lines_and_gets_its_driver_memory(tmp_path):
    """``run --engine spark`` on the sample data: the JVM's start-up lines (log4j's profile,
    NativeCodeLoader, the incubator-module warning) do not reach the terminal; the progress
    says Spark starts and what heap ``--spark-conf spark.driver.memory`` gave the driver, read
    back from the JVM; Spark's log file is removed after a successful run."""
    require_spark()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    done = cli("run", "--engine", "spark", "--spark-master", "local[2]", "--spark-conf",
                "spark.driver.memory=1536m", "--spark-conf", "spark.sql.shuffle.partitions=2",
                "--no-report", "--gx", "off", "--out", str(tmp_path / "out"), tmp=tmp)
    assert done.returncode == 1, done.stderr  # the sample has open errors
    lines = done.stderr.splitlines()
    foreign = [ln for ln in lines if not TOOL_LINE.match(ln)]
    assert foreign == [], "lines on stderr that are not the tool's:\n" + "\n".join(foreign)
    assert any(ln.endswith("starting Spark (local[2])") for ln in lines), lines
    assert any(ln.endswith("Spark started: driver heap 1.5 GiB") for ln in lines), lines
    assert done.stdout.startswith("rows: 3448 in, 3429 loaded, 19 quarantined\n")
    assert (tmp_path / "out" / "findings.csv").is_file()
    assert list(tmp.glob("support-audit-spark-*.log")) == []


@pytest.mark.spark
@pytest.mark.slow
def test_too_little_driver_memory_and_no_java_are_exit_4(tmp_path):
    """``spark.driver.memory`` reaches the JVM (100m is below Spark's minimum and Spark says so);
    a JAVA_HOME without Java stops before Spark starts. Both exit 4 with what to do, nothing
    written, no traceback, and the log kept for the details."""
    require_spark()
    for env, conf, says in (
        ({}, ["--spark-conf", "spark.driver.memory=100m"],
         ["Insufficient driver memory", "--spark-conf spark.driver.memory=2g"]),
        ({"JAVA_HOME": str(tmp_path / "no-jdk")}, [],
         ["its Java process exited before it started", f"{tmp_path / 'no-jdk'}/bin/java",
          "default-jre-headless"]),
    ):
        tmp = tmp_path / f"tmp{len(env)}"
        tmp.mkdir()
        done = cli("run", "--engine", "spark", *conf, "--out", str(tmp_path / "out"), "-q",
                    env=env, tmp=tmp)
        assert done.returncode == EXIT_USAGE, done.stderr
        assert done.stderr.startswith("error: cannot start Spark (local[*]): "), done.stderr
        assert all(s in done.stderr for s in says), done.stderr
        assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
        (log,) = tmp.glob("support-audit-spark-*.log")
        assert f"Spark's log: {log}" in done.stderr
        assert not (tmp_path / "out" / "findings.csv").exists()


OOM_SCRIPT = """
from audit.spark.errors import spark_error
from audit.spark.session import spark_session

spark = spark_session("local[1]", conf={"spark.driver.memory": "512m"})
try:  # one task collects ~4 GB of strings in the 512 MiB driver heap
    spark.sql("SELECT size(collect_list(repeat('x', 200))) FROM range(0, 20000000)").collect()
except Exception as e:
    print(spark_error(e))
"""


@pytest.mark.spark
@pytest.mark.slow
def test_a_real_out_of_memory_is_recognised(tmp_path):
    """A real java.lang.OutOfMemoryError in local Spark (which then shuts its context down, so
    the exception itself only says the context stopped) becomes the out-of-memory message."""
    require_spark()
    done = subprocess.run([sys.executable, "-c", OOM_SCRIPT], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert done.stdout.startswith("Spark ran out of memory (java.lang.OutOfMemoryError: Java heap "
                                  "space; the driver's heap was 0.5 GiB)"), (done.stdout, done.stderr)
    assert "--spark-conf spark.driver.memory=10g" in done.stdout
    assert done.stderr == ""  # the JVM's dying words went to its log
