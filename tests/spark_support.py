"""When the Spark tests can run (shared by the tests/test_spark_*.py files).

Not a test module by itself. Without PySpark or a Java runtime the Spark tests are skipped,
unless SUPPORT_AUDIT_REQUIRE_SPARK=1 (CI, .ci/run), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def spark_missing() -> str | None:
    """Why local Spark cannot run here, or ``None``."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'support-audit[spark]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime for local Spark (Debian: apt-get install default-jre-headless)"
    return None


def connect_client_missing() -> str | None:
    """Why the Spark Connect client cannot run here (its gRPC and zstandard), or ``None``."""
    try:
        import grpc  # noqa: F401
        import zstandard  # noqa: F401
    except ImportError as e:
        return f"the Spark Connect client needs {e.name} (pip install 'support-audit[spark]')"
    return None


def require_spark(connect: bool = False) -> None:
    """Skip the calling test without local Spark, or with ``connect`` also without the Spark
    Connect client (fail instead under SUPPORT_AUDIT_REQUIRE_SPARK=1)."""
    reason = spark_missing() or (connect_client_missing() if connect else None)
    if reason:
        if os.environ.get("SUPPORT_AUDIT_REQUIRE_SPARK") == "1":
            pytest.fail(f"{reason} (SUPPORT_AUDIT_REQUIRE_SPARK=1 requires the Spark tests)")
        pytest.skip(reason)


#: a line the tool itself writes to stderr: progress ("[  12.3s] …") or a warning about the data
TOOL_LINE = re.compile(r"^(\[\s*\d+\.\d+s\] |warning: )")


ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, env: dict[str, str] | None = None,
        tmp: Path | None = None) -> subprocess.CompletedProcess:
    """``support-audit ARGS`` as a new process (its own JVM) in the project's root, without a
    ``SPARK_REMOTE`` of the environment; ``tmp``: its temp directory; ``env``: more variables."""
    base = {k: v for k, v in os.environ.items() if k != "SPARK_REMOTE"}
    if tmp is not None:
        base["TMPDIR"] = str(tmp)
    return subprocess.run([sys.executable, "-m", "audit", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=900, env={**base, **(env or {})})
