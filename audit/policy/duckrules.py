"""DuckDB's own rules for the policy values that reach it: regular expressions and time zones.

A value ``check`` accepts must never make ``run`` fail, so the loader asks the engine itself:
each regular expression is compiled by DuckDB's RE2, and a time zone must be one of the names
DuckDB's ICU extension knows (``pg_timezone_names()``; ICU does not know every tzdata file, e.g.
``posixrules``, ``localtime`` or ``right/UTC``).

This is a private in-memory connection, locked down before use (no file or network access, the
configuration frozen), that never sees data; patterns reach it only as bound parameters. DuckDB is
imported on first use, so loading a policy without a regular expression stays cheap.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

_LOCK = threading.Lock()


@cache
def _connection() -> Any:
    import duckdb

    con = duckdb.connect(":memory:", config={
        "enable_external_access": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "lock_configuration": True,
    })
    return con


def regex_error(pattern: str, options: str = "") -> str:
    """DuckDB's message when its RE2 refuses ``pattern`` (with ``regexp_matches`` options), else ""."""
    import duckdb

    with _LOCK:
        try:
            if options:
                _connection().execute("SELECT regexp_matches('', ?, ?)", [pattern, options]).fetchall()
            else:
                _connection().execute("SELECT regexp_matches('', ?)", [pattern]).fetchall()
        except duckdb.Error as error:
            text = str(error).split("\n", 1)[0]
            return text.split("Error: ", 1)[-1].strip()
    return ""


@cache
def timezone_names() -> frozenset[str]:
    """The time-zone names DuckDB's ICU knows, as written in ``pg_timezone_names()``."""
    with _LOCK:
        rows = _connection().execute("SELECT name FROM pg_timezone_names()").fetchall()
    return frozenset(r[0] for r in rows)
