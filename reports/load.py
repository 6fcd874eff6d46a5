"""Read an audit output directory (docs/outputs.md) into memory for the report.

The report never recomputes the audit: it reads what ``support-audit run`` wrote. Required are
``summary.json``, ``findings.parquet`` and ``reconciliation.parquet``; the other files make their
section richer, and when one is missing the section says so instead of failing, so that a report
can still be drawn from a partial run. Anything present but unreadable is a :class:`DataError`
that names the file (and line:column for JSON) and says what to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from audit.errors import DataError, Diagnostic, Location
from audit.outputs import parquet_files, parquet_schema
from audit.texts import column

#: An eager or a lazy polars frame (helpers that work on both return what they were given).
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)
#: A result table in memory, or a scan of its file (:func:`load_outputs` ``lean=True``).
Table = pl.DataFrame | pl.LazyFrame

RERUN = "re-run `support-audit run --out DIR` to write it again"


def names(frame: Table) -> list[str]:
    """The column names of a frame or a scan (a scan's from its files' schema)."""
    return frame.collect_schema().names()


def collect(*frames: pl.LazyFrame) -> list[pl.DataFrame]:
    """The queries over the run's tables (frames, or scans of their files) computed in one call
    by polars' streaming engine, which reads a scan a batch at a time: an aggregate holds its
    groups, not the table it reads."""
    return pl.collect_all(frames, engine="streaming")


def height(frame: Table) -> int:
    """The rows of a frame or a scan (a Parquet scan counts them from the files' footers)."""
    if isinstance(frame, pl.DataFrame):
        return frame.height
    return int(frame.select(pl.len()).collect().item())


def scan_table(path: Path) -> pl.LazyFrame:
    """A scan of the result table ``path``: its file, or a dataset's part files in order."""
    return pl.scan_parquet(parquet_files(path))


REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "findings.parquet": (
        "finding_id", "kind", "severity", "status", "rule_id", "policy_file", "policy_line",
        "ticket_id", "customer_id", "customer_name", "month", "delta_eur", "waiver_id", "message",
    ),
    "reconciliation.parquet": (
        "ticket_id", "customer_id", "customer_name", "month", "policy_tier", "recorded_tier",
        "expected_units", "expected_eur", "billed_units", "billed_eur", "invoice_ids", "delta_eur",
        "explanation",
    ),
    "classifications.parquet": (
        "ticket_id", "month", "recorded_tier", "policy_tier", "rule_id", "agent",
    ),
    "quarantine.parquet": ("table", "source_file", "line", "expectation", "column", "value", "reason"),
}


MONEY_COLUMNS = {"expected_units", "billed_units", "expected_eur", "billed_eur", "delta_eur"}
DECIMAL_FILES = {"findings.parquet", "reconciliation.parquet"}  # decimal(18,2) per docs/outputs.md


@dataclass(frozen=True)
class RunOutputs:
    """Everything one audit run wrote that the report shows. The result tables are frames in
    memory, or scans of their files when the run was loaded lean (:func:`load_outputs`)."""

    root: Path
    summary: dict[str, Any]
    findings: Table
    reconciliation: Table
    classifications: Table | None = None
    quarantine: pl.DataFrame | None = None
    policy: dict[str, Any] | None = None
    gx: dict[str, dict[str, Any]] = field(default_factory=dict)
    contract_checks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _schemas: dict[str, list[str]] = field(default_factory=dict, repr=False, compare=False)

    def columns(self, name: str) -> list[str]:
        """The column names of the run's file ``name`` (``findings.parquet`` …), whether or
        not they were loaded; each file's schema is read once."""
        if name not in self._schemas:
            self._schemas[name] = parquet_schema(self.root / name).names
        return self._schemas[name]

    def text_columns(self, name: str) -> list[str]:
        """The text columns of ``findings.parquet`` or ``reconciliation.parquet`` (every
        language the run wrote), whether or not they were loaded."""
        return [c for c in self.columns(name) if is_text_column(c, TEXT_BASES[name])]

    def findings_in_full(self, rows: pl.DataFrame) -> pl.DataFrame:
        """``rows`` (findings) with every column of ``findings.parquet`` (their messages, the
        policy location, the amounts …), read for those rows only when the run was loaded
        lean (:func:`load_outputs`)."""
        texts = self.text_columns("findings.parquet")
        return self._with_columns(rows, "findings.parquet", ["finding_id"],
                                  [c for c in self.columns("findings.parquet")
                                   if c in texts or c not in rows.columns])

    def explanations(self, rows: pl.DataFrame) -> pl.DataFrame:
        """``rows`` (with ``ticket_id`` and ``month``) with the explanation columns of their
        ticket-month (NULL where the reconciliation has none), read for those rows only."""
        return self._with_columns(rows, "reconciliation.parquet", ["ticket_id", "month"],
                                  self.text_columns("reconciliation.parquet"))

    def _with_columns(self, rows: pl.DataFrame, name: str, key: list[str],
                      columns: list[str]) -> pl.DataFrame:
        """``rows`` with ``columns`` of their rows in file ``name`` (joined on ``key``; columns
        of that name in ``rows`` are replaced), from memory when loaded, else from the file."""
        columns = [c for c in columns if c not in key]
        frame = self.findings if name == "findings.parquet" else self.reconciliation
        rows = rows.drop([c for c in columns if c in rows.columns])
        if isinstance(frame, pl.DataFrame) and all(c in frame.columns for c in columns):
            source = frame.lazy()
        else:  # these rows only: a predicate on the first key column is pushed into the scan
            wanted = rows.get_column(key[0]).unique()
            source = self.scan(name).filter(pl.col(key[0]).is_in(wanted.implode()))
        found = source.select(*key, *columns).join(rows.lazy().select(key).unique(), on=key,
                                                   how="semi").collect()
        return rows.join(found, on=key, how="left", maintain_order="left")

    def scan(self, name: str) -> pl.LazyFrame:
        """A scan of the run's result table ``name`` (``findings.parquet`` …), every column."""
        return scan_table(self.root / name)

    @property
    def months(self) -> list[str]:
        return list(self.summary.get("months") or [])

    def tiers(self, lang: str) -> list[tuple[str, str]]:
        """(tier id, display name) in policy order; names come from the policy's labels.

        Without policy.json the tiers are the ones summary.json counts, named by their ids.
        """
        if self.policy and self.policy.get("tiers"):
            return [(t["id"], (t.get("label") or {}).get(lang) or t["id"])
                    for t in self.policy["tiers"]]
        counted = (self.summary.get("tickets") or {}).get("by_policy_tier") or {}
        return [(t, t) for t in sorted(counted) if t != "unclassified"]


def _error(path: Path, message: str, hint: str = RERUN, line: int = 0, col: int = 0) -> DataError:
    return DataError(diagnostics=[Diagnostic(Location(str(path), line, col), message, hint)])


def read_json(path: Path) -> Any:
    """Parse a JSON file; a syntax error names ``file:line:col``."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _error(path, "file not found") from None
    except json.JSONDecodeError as e:
        raise _error(path, f"not valid JSON: {e.msg}", line=e.lineno, col=e.colno) from None
    except (OSError, UnicodeDecodeError) as e:
        raise _error(path, f"cannot be read: {e}") from None


def read_summary(out_dir: Path) -> dict[str, Any]:
    """The run's summary.json, checked to be an audit summary."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise _error(out_dir, "not a directory", "give the --out directory of an audit run")
    path = out_dir / "summary.json"
    if not path.exists():
        raise _error(path, "file not found: this is not the output directory of an audit run",
                     "give the --out directory of `support-audit run`")
    summary = read_json(path)
    missing = [k for k in ("tool", "policy", "months", "findings", "money", "rows")
               if not isinstance(summary, dict) or k not in summary]
    if missing:
        raise _error(path, f"missing key(s) {', '.join(missing)}", RERUN)
    return summary


#: The text columns of a result file (every language): ``message``, ``message_de`` …
TEXT_BASES = {"findings.parquet": "message", "reconciliation.parquet": "explanation"}


def is_text_column(name: str, base: str) -> bool:
    """``name`` is ``base`` or ``base`` in another language (``explanation_de``)."""
    return name == base or name.startswith(base + "_")


#: The columns a lean load keeps (:func:`load_outputs`): what the report aggregates over. The
#: rest of a row (texts, policy location, amounts behind the delta …) is read for the rows the
#: page shows (:meth:`RunOutputs.findings_in_full`, :meth:`RunOutputs.explanations`).
LEAN_COLUMNS: dict[str, tuple[str, ...]] = {
    "findings.parquet": (
        "finding_id", "kind", "severity", "status", "rule_id", "ticket_id", "customer_id",
        "customer_name", "month", "delta_eur", "at_stake_eur", "waiver_id",
    ),
    "classifications.parquet": (
        "ticket_id", "customer_id", "month", "recorded_tier", "policy_tier", "rule_id", "agent",
    ),
}


def _read_parquet(path: Path, required: bool, lean: bool = False) -> Table | None:
    """The result table ``path`` (a file, or a dataset's directory of parts), checked against
    its documented columns and types: read into memory, or with ``lean`` a scan of the lean
    columns (:data:`LEAN_COLUMNS`, or every column but the texts) that reads nothing yet."""
    if not path.exists():
        if required:
            raise _error(path, "file not found")
        return None
    try:
        stored = parquet_schema(path).names
        base = TEXT_BASES.get(path.name)
        columns = None
        if lean and path.name in LEAN_COLUMNS:
            columns = [c for c in stored if c in LEAN_COLUMNS[path.name]]
        elif lean and base is not None:
            columns = [c for c in stored if not is_text_column(c, base)]
        df: Table = (scan_table(path).select(columns or stored) if lean
                     else pl.read_parquet(path, columns=columns))
        schema = df.collect_schema()
    except Exception as e:  # any reader failure means the same to the user
        raise _error(path, f"not a readable Parquet file ({type(e).__name__})") from None
    missing = [c for c in REQUIRED_COLUMNS[path.name] if c not in stored]
    if missing:
        raise _error(path, f"missing column(s) {', '.join(missing)}",
                     "the file was written by another version of support-audit; " + RERUN)
    for col in MONEY_COLUMNS.intersection(schema.names()) if path.name in DECIMAL_FILES else ():
        if not isinstance(schema[col], pl.Decimal):
            raise _error(path, f"column {col} is {schema[col]}, not decimal(18,2)",
                         "money must be exact decimals; " + RERUN)
    return df


def _read_policy(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    policy = read_json(path)
    if not isinstance(policy, dict):
        raise _error(path, "expected a JSON object (the policy snapshot)")
    for key in ("tiers", "rules", "signals", "waivers"):
        items = policy.get(key) or []
        if not isinstance(items, list) or not all(isinstance(i, dict) and "id" in i for i in items):
            raise _error(path, f"'{key}' must be a list of objects with an 'id'")
    return policy


def _read_quality(dq_dir: Path) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    gx: dict[str, dict] = {}
    for path in sorted(dq_dir.glob("gx_*.json")):
        result = read_json(path)
        if not isinstance(result, dict) or not isinstance(result.get("results"), list):
            raise _error(path, "not a Great Expectations validation result (no 'results' list)")
        gx[path.stem.removeprefix("gx_")] = result
    checks: dict[str, list[dict]] = {}
    path = dq_dir / "contract_checks.json"
    if path.exists():
        data = read_json(path)
        rows = data.get("checks") if isinstance(data, dict) else None
        if not isinstance(rows, list) or not all(isinstance(r, dict) and "table" in r for r in rows):
            raise _error(path, 'expected {"checks": [{"table": …, "expectation": …}, …]}')
        for row in rows:
            checks.setdefault(str(row["table"]), []).append(row)
    return gx, checks


def load_outputs(out_dir: Path, *, lean: bool = False) -> RunOutputs:
    """Read one audit output directory. Raises :class:`DataError` when it cannot be used.

    ``lean``: the findings, reconciliation and classifications as scans of their files
    (``pl.LazyFrame``), of only what the report aggregates over — the findings and
    classifications in the columns of :data:`LEAN_COLUMNS`, the reconciliation without its
    explanations (a large run's texts are gigabytes). Each part of the report reads the columns
    it needs as it aggregates, so no table is ever in memory whole, whatever its size (a
    Spark run's datasets included); :meth:`RunOutputs.findings_in_full` and
    :meth:`RunOutputs.explanations` read the rest for the rows shown."""
    out_dir = Path(out_dir)
    summary = read_summary(out_dir)
    gx, checks = _read_quality(out_dir / "data_quality")
    return RunOutputs(
        root=out_dir,
        summary=summary,
        findings=_read_parquet(out_dir / "findings.parquet", required=True, lean=lean),
        reconciliation=_read_parquet(out_dir / "reconciliation.parquet", required=True, lean=lean),
        classifications=_read_parquet(out_dir / "classifications.parquet", required=False,
                                      lean=lean),
        quarantine=_read_parquet(out_dir / "quarantine.parquet", required=False),
        policy=_read_policy(out_dir / "policy.json"),
        gx=gx,
        contract_checks=checks,
    )


def with_text(frame: Frame, base: str, lang: str) -> Frame:
    """``frame`` with a ``text`` column: its ``base`` text (``message``, ``explanation``) in
    ``lang`` (``message_de`` …, docs/outputs.md), or the English one where the run has no text
    in that language (an older run, or a finding kind without wording in that language)."""
    own, names = column(base, lang), frame.collect_schema().names()
    text = pl.col(own) if own in names else pl.col(base)
    if own in names and own != base:
        text = pl.coalesce(pl.col(own), pl.col(base))
    return frame.with_columns(text.alias("text"))
