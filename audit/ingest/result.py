"""What :func:`audit.ingest.load_data` hands back besides the loaded tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

#: Columns of the quarantine, as documented in docs/outputs.md ("quarantine").
QUARANTINE_SCHEMA = pa.schema(
    [
        ("table", pa.string()),
        ("source_file", pa.string()),
        ("line", pa.int64()),
        ("expectation", pa.string()),
        ("column", pa.string()),
        ("value", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),
    ]
)


@dataclass(frozen=True)
class TableCounts:
    """Row accounting of one canonical table: ``rows_in = loaded + quarantined`` always holds.

    ``rows_in`` counts records (blank lines are not records); a record that fails several checks
    appears several times in the quarantine but counts once in ``quarantined``.
    """

    rows_in: int
    loaded: int
    quarantined: int
    source_file: str
    sha256: str
    format: str = ""  # csv / parquet / json
    dialect: str = ""  # how the file was read, e.g. "utf-8, ';'-separated" (for the report)


@dataclass
class IngestResult:
    """Everything ingestion knows besides the loaded tables (docs/data-contract.md).

    ``quarantine``: one row per problem, columns :data:`QUARANTINE_SCHEMA`, sorted by table (load
    order), line, stage. ``gx_results``: per table, Great Expectations' validation result
    (``to_json_dict()``, made deterministic); empty with ``gx="off"``. ``contract_checks``: per
    table and expectation, DuckDB's failing-row count next to GX's ``unexpected_count``.
    ``input_hashes``: file name -> sha256. ``warnings``: sentences for the user.
    """

    tables: dict[str, TableCounts]
    quarantine: pa.Table
    gx_results: dict[str, dict]
    contract_checks: list[dict]
    input_hashes: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    #: seconds per stage: read (reading + typing), contract (DuckDB checks), gx (the wait for
    #: Great Expectations at the end: it runs in a worker process beside the loading, so this is
    #: the time it adds, not its own), quarantine (fetching raw records). Not deterministic:
    #: for progress and benchmarks, never for output files.
    timings: dict[str, float] = field(default_factory=dict)
    #: per source file of a ``sources.yaml`` run (audit.adapters): table, file, adapter, rows_in,
    #: loaded, quarantined — ``rows_in = loaded + quarantined`` per file. Empty for a folder.
    source_files: list[dict] = field(default_factory=list)
    #: per table, the optional columns its export does not have at all (not known for a
    #: ``sources.yaml`` run: empty there)
    absent_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def finish_later(self, finish: Callable[[IngestResult], None]) -> None:
        """Let ``finish(self)`` complete the GX evidence and the warnings on their first read
        (:func:`~audit.ingest.load_data` with ``gx_late``): Great Expectations then runs on
        beside the rules instead of holding up the ingestion."""
        object.__setattr__(self, "_finish", finish)

    def __getattribute__(self, name: str) -> Any:
        if name in _LATE and object.__getattribute__(self, "__dict__").get("_finish") is not None:
            finish = object.__getattribute__(self, "_finish")
            object.__setattr__(self, "_finish", None)
            finish(self)
        return object.__getattribute__(self, name)


#: What a late Great Expectations run completes (see IngestResult.finish_later).
_LATE = frozenset({"warnings", "gx_results", "contract_checks"})
