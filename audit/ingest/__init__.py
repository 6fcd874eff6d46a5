"""Ingestion: exports (CSV, Parquet, JSON) -> the canonical DuckDB tables, the quarantine, and the
data contract's evidence (Great Expectations results next to DuckDB's own counts).

The one entry point is :func:`load_data`; docs/data-contract.md describes what it accepts.

The names below are imported on first use (PEP 562): the Great Expectations worker process
(:mod:`audit.ingest.gx_worker`) lives in this package and imports none of the loader's DuckDB and
polars machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audit.ingest.load import load_data
    from audit.ingest.result import QUARANTINE_SCHEMA, IngestResult, TableCounts

__all__ = ["QUARANTINE_SCHEMA", "IngestResult", "TableCounts", "load_data"]


def __getattr__(name: str) -> Any:
    if name == "load_data":
        from audit.ingest.load import load_data

        return load_data
    if name in __all__:
        from audit.ingest import result

        return getattr(result, name)
    raise AttributeError(f"module 'audit.ingest' has no attribute {name!r}")
