"""Fixtures shared by several test files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from browser_support import ARGS, CHROMIUM, skip_or_fail

#: A small, clean export of every required canonical table (tests/fixtures/ingest/clean).
CLEAN = Path(__file__).parent / "fixtures" / "ingest" / "clean"


@pytest.fixture
def data(tmp_path) -> Path:
    """A writable copy of the clean export, for tests that break one file of it."""
    target = tmp_path / "data"
    shutil.copytree(CLEAN, target)
    return target


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module (see tests/browser_support.py for the skip rule)."""
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} not found: install chromium (apt-get install chromium) "
                     "to run the browser tests")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()
