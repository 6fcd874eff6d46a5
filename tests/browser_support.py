"""Headless Chromium for the browser tests: where it is, how it starts, and the skip rule.

A browser test is skipped with a reason when /usr/bin/chromium or Playwright is missing, unless
SUPPORT_AUDIT_REQUIRE_BROWSER=1 (CI), which turns the skip into a failure. The ``browser``
fixture itself is in ``tests/conftest.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def skip_or_fail(reason: str) -> None:
    """Skip the test, or fail it when the environment requires the browser tests."""
    if os.environ.get("SUPPORT_AUDIT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (SUPPORT_AUDIT_REQUIRE_BROWSER=1 requires the browser tests)")
    pytest.skip(reason)
