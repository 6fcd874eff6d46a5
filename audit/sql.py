"""SQL literals and identifiers rendered through sqlglot, for every stage that writes SQL.

Values reach DuckDB only through :func:`lit` (a Python value as a typed, escaped literal) and names
through :func:`ident` (a quoted identifier), so a quote in a policy value, a header or a data value
cannot change a query. Ingestion and the engine both use them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlglot import exp

DIALECT = "duckdb"


def lit(value: Any) -> str:
    """``value`` as a DuckDB SQL literal (strings quoted and escaped, dates typed, NULL for None)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        node: exp.Expression = exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    elif isinstance(value, Decimal):
        node = exp.cast(exp.Literal.number(str(value)), "DECIMAL(18, 2)")
    elif isinstance(value, bool) or value is None:
        node = exp.convert(value)
    elif isinstance(value, int | str):
        node = exp.convert(value)
    else:  # pragma: no cover - a programming error, not user input
        raise TypeError(f"no SQL literal for {type(value).__name__}")
    return node.sql(dialect=DIALECT)


def ident(name: str) -> str:
    """A quoted SQL identifier (column names come from loaded tables, never trusted blindly)."""
    return exp.to_identifier(name, quoted=True).sql(dialect=DIALECT)
