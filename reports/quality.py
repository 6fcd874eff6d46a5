"""Section 6: data quality — what came in, what was loaded, what was set aside and why.

Three sources, each shown as its producer wrote it:
- ``summary.json`` ``rows``: per table ``in`` / ``loaded`` / ``quarantined`` (the report checks
  and shows that ``in = loaded + quarantined``: nothing was lost);
- ``data_quality/gx_<table>.json``: Great Expectations' validation result, one line per
  expectation; next to it, when ``contract_checks.json`` has it, DuckDB's own failing-row count
  for the same contract clause (the two engines should agree; a disagreement is flagged);
- ``quarantine.parquet``: a sample of set-aside rows with their reasons (all are in
  quarantine.csv).
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from audit.contract import TABLES
from audit.ingest.gx import GX_TYPES
from reports.i18n import Formatter
from reports.load import RunOutputs

#: Output sets written before 2026-12-05 ran the referential clause in GX as ``..._to_be_in_set``
#: (over the keys); since then as ``..._to_not_be_in_set`` (over the orphans, audit/ingest/gx.py).
EARLIER_GX_TYPES = {"expect_column_values_to_be_in_set": "expect_column_values_to_not_be_in_set"}
EXAMPLES = 5


def _table_order(name: str) -> tuple[int, str]:
    order = list(TABLES)
    return (order.index(name) if name in order else len(order), name)


def _columns(kwargs: dict[str, Any]) -> str:
    if kwargs.get("column"):
        return str(kwargs["column"])
    return " / ".join(str(kwargs[k]) for k in ("column_A", "column_B") if kwargs.get(k))


def _example(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _gx_key(expectation_type: str, column: Any) -> tuple[str, str]:
    """What ties a GX result to a contract check: GX's type and the first column."""
    return GX_TYPES.get(expectation_type, expectation_type), str(column or "")


def _gx_rows(result: dict[str, Any], checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per expectation GX evaluated, with DuckDB's count for the same contract clause.

    contract_checks.json rows (audit.ingest) carry ``expectation`` (our type), ``column``
    (``column_A`` for a pair), ``duckdb_failing_rows``, ``gx_unexpected_count`` and ``agree``.
    """
    pending: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in checks:
        pending.setdefault(_gx_key(str(c.get("expectation", "")), c.get("column")), []).append(c)
    rows = []
    for r in result.get("results", []):
        cfg = r.get("expectation_config") or {}
        kwargs = cfg.get("kwargs") or {}
        column = kwargs.get("column") or kwargs.get("column_A")
        matches = pending.get(_gx_key(cfg.get("type", ""), column))
        if not matches and cfg.get("type") in EARLIER_GX_TYPES:  # an older output set
            matches = pending.get(_gx_key(EARLIER_GX_TYPES[cfg["type"]], column))
        check = matches.pop(0) if matches else None
        res = r.get("result") or {}
        exc = r.get("exception_info") or {}
        rows.append({
            "expectation": (check or {}).get("expectation") or cfg.get("type", ""),
            "columns": _columns(kwargs),
            "success": bool(r.get("success")),
            "error": exc.get("exception_message") if exc.get("raised_exception") else None,
            "unexpected": res.get("unexpected_count"),
            "checked": res.get("element_count"),
            "examples": [_example(v) for v in (res.get("partial_unexpected_list") or [])[:EXAMPLES]],
            "duckdb": (check or {}).get("duckdb_failing_rows"),
            "agree": None if check is None or check.get("agree") is None else bool(check["agree"]),
        })
    for c in (c for left in pending.values() for c in left):  # checked by DuckDB only (GX off)
        rows.append({
            "expectation": c.get("expectation", ""), "columns": str(c.get("column") or ""),
            "success": not c.get("duckdb_failing_rows"), "error": None,
            "unexpected": c.get("gx_unexpected_count"), "checked": c.get("gx_evaluated_rows"),
            "examples": [], "duckdb": c.get("duckdb_failing_rows"),
            "agree": None if c.get("agree") is None else bool(c["agree"]),
        })
    return rows


def _reason(fmt: Formatter | None, problem: dict[str, Any]) -> str:
    """A quarantine reason in the report's language: a template per expectation over the
    column and value (English: the reason as ingest wrote it, with every detail)."""
    key = f"qreason.{problem.get('expectation')}"
    if fmt is None or fmt.lang == "en" or not fmt.has(key):
        return str(problem.get("reason") or "–")
    return fmt.t(key, column=problem.get("column") or "–", value=problem.get("value") or "–")


def _records(q: pl.DataFrame, sample: int, fmt: Formatter | None) -> list[dict[str, Any]]:
    """The first ``sample`` quarantined records (a record failing two checks is one record with
    two problems, as summary.json counts it)."""
    out: list[dict[str, Any]] = []
    index: dict[tuple, dict[str, Any]] = {}
    for r in q.iter_rows(named=True):
        key = (r["table"], r["source_file"], r["line"])
        rec = index.get(key)
        if rec is None:
            if len(out) >= sample:
                continue
            rec = index[key] = {"table": r["table"], "source_file": r["source_file"],
                                "line": r["line"], "problems": []}
            out.append(rec)
        rec["problems"].append({
            "column": r["column"] or "–", "value": "–" if r["value"] is None else r["value"],
            "expectation": r["expectation"] or "–", "reason": _reason(fmt, r),
            "check": fmt.label("expectation", r["expectation"]) if fmt else r["expectation"],
        })
    return out


def quality_view(run: RunOutputs, sample: int = 50, fmt: Formatter | None = None) -> dict[str, Any]:
    rows = []
    for name, counts in sorted((run.summary.get("rows") or {}).items(),
                               key=lambda kv: _table_order(kv[0])):
        n_in, loaded, quar = (counts.get(k) for k in ("in", "loaded", "quarantined"))
        balanced = None if None in (n_in, loaded, quar) else n_in == loaded + quar
        rows.append({"table": name, "in": n_in, "loaded": loaded, "quarantined": quar,
                     "balanced": balanced})

    tables = []
    for name in sorted(set(run.gx) | set(run.contract_checks), key=_table_order):
        result = run.gx.get(name, {"results": []})
        checks = run.contract_checks.get(name, [])
        rows_of_table = _gx_rows(result, checks)
        tables.append({
            "table": name,
            "gx_ran": name in run.gx,  # else the run was made with GX off: DuckDB's counts only
            "evaluated": len(rows_of_table),
            "failed": sum(1 for r in rows_of_table if not r["success"]),
            "checks": rows_of_table,
        })

    quarantine = None
    if run.quarantine is not None:
        order = {name: i for i, name in enumerate(TABLES)}
        q = run.quarantine.with_columns(
            pl.col("table").replace_strict(order, default=len(order), return_dtype=pl.Int64)
            .alias("_order")
        ).sort("_order", "table", "source_file", "line", "column", nulls_last=True)
        records = q.select("table", "source_file", "line").unique().height
        quarantine = {"records": _records(q.drop("_order"), sample, fmt), "total": records,
                      "problems": q.height}
    return {"rows": rows, "tables": tables, "quarantine": quarantine,
            "has_gx": bool(run.gx or run.contract_checks),
            "warnings": [str(w) for w in run.summary.get("warnings") or []]}
