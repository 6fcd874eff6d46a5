"""Ingestion: exports (CSV, Parquet, JSON) -> the canonical DuckDB tables, the quarantine, and the
data contract's evidence (Great Expectations results next to DuckDB's own counts).

The one entry point is :func:`load_data`; docs/data-contract.md describes what it accepts.
"""

from audit.ingest.load import load_data
from audit.ingest.result import QUARANTINE_SCHEMA, IngestResult, TableCounts

__all__ = ["QUARANTINE_SCHEMA", "IngestResult", "TableCounts", "load_data"]
