"""``--engine spark --spark-remote sc://…``: the audit through a real Spark Connect server.

The server is PySpark's own (``org.apache.spark.sql.connect.service.SparkConnectServer`` from the
jars PySpark ships), started once for this module on a free port. Over it the sample audit gives
the DuckDB run's results, the terminal carries only the tool's lines, and a ``--spark-conf``
setting the server fixes when it starts is refused with exit 4 instead of being dropped with a
warning (docs/scale-out.md).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from spark_support import TOOL_LINE, cli, require_spark

ROOT = Path(__file__).resolve().parent.parent
SERVER = "org.apache.spark.sql.connect.service.SparkConnectServer"

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(tmp_path_factory, *, hide: Path | None = None):
    """``sc://127.0.0.1:PORT`` of a Spark Connect server running while the generator is open.
    ``hide``: the server sees an empty directory of its own there (a file system mounted over it
    in a mount namespace of its own), as a cluster's machines see their own disks at the paths
    of this one's: it writes under ``hide`` where this process never sees it."""
    require_spark(connect=True)
    import pyspark

    home = Path(pyspark.__file__).parent
    port = _free_port()
    log = tmp_path_factory.mktemp("connect") / "server.log"
    argv = [str(home / "bin" / "spark-submit"), "--class", SERVER, "--name", "test-connect",
            "--master", "local[2]", "--driver-memory", "2g",
            "--conf", f"spark.connect.grpc.binding.port={port}",
            "--conf", "spark.ui.enabled=false", "spark-internal"]
    if hide is not None:
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount -t tmpfs tmpfs "$0" && exec "$@"', str(hide), *argv]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "SPARK_HOME": str(home)})
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"the Spark Connect server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            pytest.fail(f"the Spark Connect server did not listen within 180 s:\n{log.read_text()[-3000:]}")
        yield f"sc://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A Spark Connect server on this machine: it sees this machine's files."""
    yield from _serve(tmp_path_factory)


@pytest.fixture(scope="module")
def server_apart(tmp_path_factory):
    """A Spark Connect server that does not see this test run's temporary directories (pytest's
    base temp, where every test's output directory is), though it sees the rest of the machine
    (the project, its .venv, /tmp). Needs root and ``unshare`` (util-linux) for the mount
    namespace."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a server with a directory of its own needs root and unshare")
    yield from _serve(tmp_path_factory, hide=tmp_path_factory.getbasetemp())


def test_the_sample_audit_over_spark_connect_is_the_duckdb_audit(server, tmp_path):
    spark, duck = tmp_path / "spark", tmp_path / "duck"
    done = cli("run", "--engine", "spark", "--spark-remote", server,
                "--spark-conf", "spark.sql.shuffle.partitions=2", "--gx", "off", "--out", str(spark))
    assert done.returncode == 1, done.stderr  # the sample has open errors
    foreign = [ln for ln in done.stderr.splitlines() if not TOOL_LINE.match(ln)]
    assert foreign == [], "lines on stderr that are not the tool's:\n" + "\n".join(foreign)
    assert any(ln.endswith(f"starting Spark (remote {server})") for ln in done.stderr.splitlines())
    # the server sees the output directory: it writes the result tables there itself
    assert "Spark's executors write the result tables into the output directory" in done.stderr
    for name in ("findings", "classifications", "reconciliation"):
        assert (spark / f"{name}.parquet").is_dir(), name
    assert cli("run", "--gx", "off", "--out", str(duck)).returncode == 1
    for name in ("findings.csv", "quarantine.csv", "actions.csv", "summary.json"):
        assert (spark / name).read_bytes() == (duck / name).read_bytes(), name
    assert (spark / "report.html").is_file()


def test_a_server_that_does_not_see_the_output_directory_sends_the_tables_back(server_apart, tmp_path):
    """The server writes the output directory's path on a disk of its own, as a cluster without
    a shared file system would: the probe finds nothing of its write here, so the tables come
    back span by span and are written here, and the results are DuckDB's."""
    spark, duck = tmp_path / "spark", tmp_path / "duck"
    done = cli("run", "--engine", "spark", "--spark-remote", server_apart, "--no-report",
                "--gx", "off", "--out", str(spark))
    assert done.returncode == 1, done.stderr
    assert "do not see the output directory (not shared with them)" in done.stderr
    for name in ("findings", "classifications", "reconciliation"):
        assert (spark / f"{name}.parquet").is_file(), name
    assert cli("run", "--no-report", "--gx", "off", "--out", str(duck)).returncode == 1
    for name in ("findings.csv", "findings.parquet", "reconciliation.parquet", "summary.json"):
        assert (spark / name).read_bytes() == (duck / name).read_bytes(), name


def test_a_setting_the_server_fixes_at_start_is_refused(server, tmp_path):
    """``spark.driver.memory`` is the server's: Spark Connect would only warn and run on without
    it; the tool stops before reading any data and says where the setting belongs."""
    done = cli("run", "--engine", "spark", "--spark-remote", server,
                "--spark-conf", "spark.driver.memory=10g", "--gx", "off", "--out", str(tmp_path / "out"))
    assert done.returncode == 4, done.stderr
    assert "--spark-conf spark.driver.memory=10g" in done.stderr
    assert "server's own configuration" in done.stderr and "Traceback" not in done.stderr
    assert "UserWarning" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_an_absent_optional_export_reaches_the_server_as_an_empty_table(server, tmp_path):
    """Without ``ticket_status_history.csv`` the loader makes that table with its columns and no
    rows; Spark Connect cannot infer a schema from no rows, so it is sent with its own."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(ROOT / "sample_data", data,
                    ignore=shutil.ignore_patterns("ticket_status_history.csv"))
    spark, duck = tmp_path / "spark", tmp_path / "duck"
    done = cli("run", "--engine", "spark", "--spark-remote", server, "--data", str(data),
                "--no-report", "--gx", "off", "--out", str(spark))
    assert done.returncode == 1, done.stderr
    assert cli("run", "--data", str(data), "--no-report", "--gx", "off",
                "--out", str(duck)).returncode == 1
    for name in ("findings.csv", "summary.json"):
        assert (spark / name).read_bytes() == (duck / name).read_bytes(), name


def test_parquet_at_a_uri_is_read_by_the_server(server, tmp_path):
    """``--data file://…`` stands for ``s3a://…``: the server reads the Parquet exports and runs
    the data contract itself (nothing is loaded on this side); the results are DuckDB's over the
    same files, and an absent optional export is an empty table there too."""
    import json

    from test_spark_ingest import as_text_parquet

    data = as_text_parquet(ROOT / "sample_data", tmp_path / "lake")
    (data / "ticket_status_history.parquet").unlink()
    spark, duck = tmp_path / "spark", tmp_path / "duck"
    done = cli("run", "--engine", "spark", "--spark-remote", server, "--data", f"file://{data}",
                "--no-report", "--gx", "off", "--out", str(spark))
    assert done.returncode == 1, done.stderr
    assert "reading the Parquet exports with Spark" in done.stderr
    assert "handing the loaded tables to Spark" not in done.stderr
    assert cli("run", "--data", str(data), "--no-report", "--gx", "off",
                "--out", str(duck)).returncode == 1
    for name in ("findings.csv", "quarantine.csv"):
        assert (spark / name).read_bytes() == (duck / name).read_bytes(), name
    on_spark, on_duck = (json.loads((d / "summary.json").read_text()) for d in (spark, duck))
    assert on_spark.pop("inputs").keys() == on_duck.pop("inputs").keys()  # (a listing's hashes)
    assert on_spark == on_duck
