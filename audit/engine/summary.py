"""``summary.json``: counts, totals, row counts and hashes of one run (docs/outputs.md).

Money totals are sums of the **ticket-month deltas** of the reconciliation, never of findings, so
a ticket-month with two findings is not counted twice (docs/semantics.md). Money is formatted as
a string with two decimals; nothing here goes through a float.
"""

from __future__ import annotations

from collections import Counter
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import polars as pl

from audit import __version__
from audit.engine.findings import TICKET_MONTH_KINDS
from audit.policy.model import SEVERITY_ORDER, Bundle

CENT = Decimal("0.01")
UNCLASSIFIED = "unclassified"


def money(value: Decimal | int | None) -> str:
    """A money amount as the JSON string of docs/outputs.md (``"17.50"``); None counts as 0."""
    return str(Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_EVEN))


def _sum(df: pl.DataFrame, col: str) -> Decimal:
    """Exact sum of a decimal column (nulls skipped)."""
    if df.height == 0:
        return Decimal(0)
    value = df.get_column(col).drop_nulls().sum()
    return Decimal(value) if value is not None else Decimal(0)


#: The columns of each result table that :func:`build_summary` and :func:`exit_code_for` read:
#: what a run that streams its tables to Parquet keeps in memory.
SUMMARY_COLUMNS = {
    "findings": ("kind", "status", "severity", "delta_eur", "at_stake_eur", "month", "customer_id",
                 "customer_name", "ticket_id"),
    "classifications": ("ticket_id", "month", "policy_tier", "tracked_seconds"),
    "reconciliation": ("month", "delta_eur", "expected_eur", "billed_eur"),
}


def exit_code_for(findings: pl.DataFrame, fail_on: str) -> int:
    """1 when an open finding has severity ``fail_on`` or higher, else 0 (``never``: always 0)."""
    if fail_on == "never":
        return 0
    floor = SEVERITY_ORDER[fail_on]
    bad = [s for s, rank in SEVERITY_ORDER.items() if rank >= floor]
    hit = findings.filter((pl.col("status") == "open") & pl.col("severity").is_in(bad))
    return 1 if hit.height else 0


def _findings_block(findings: pl.DataFrame, bundle: Bundle) -> dict[str, Any]:
    signal_kinds = {s.kind for s in bundle.signals}
    kinds = {k for k, s in bundle.findings.items() if s.enabled} | signal_kinds
    kinds |= set(findings.get_column("kind").to_list())
    by_kind: dict[str, Any] = {}
    for kind in sorted(kinds):
        of_kind = findings.filter(pl.col("kind") == kind)
        open_ = of_kind.filter(pl.col("status") == "open")
        by_kind[kind] = {
            "open": open_.height,
            "waived": of_kind.height - open_.height,
            "delta_eur": money(_sum(open_, "delta_eur")),
        }
        if kind in signal_kinds:  # what the open signals' tickets would bill if extended
            by_kind[kind]["at_stake_eur"] = money(_sum(open_, "at_stake_eur"))
    by_severity = {}
    for sev in sorted(SEVERITY_ORDER, key=SEVERITY_ORDER.get, reverse=True):
        of_sev = findings.filter(pl.col("severity") == sev)
        waived = of_sev.filter(pl.col("status") == "waived").height
        by_severity[sev] = {"open": of_sev.height - waived, "waived": waived}
    waived = findings.filter(pl.col("status") == "waived").height
    return {
        "total": findings.height,
        "open": findings.height - waived,
        "waived": waived,
        "by_kind": by_kind,
        "by_severity": by_severity,
    }


def _tickets_and_hours(classifications: pl.DataFrame, bundle: Bundle) -> tuple[dict, dict]:
    tiers = [*bundle.tier_ids, UNCLASSIFIED]
    cls = classifications.with_columns(pl.col("policy_tier").fill_null(UNCLASSIFIED))
    tickets = cls.group_by("policy_tier").agg(pl.col("ticket_id").n_unique().alias("n"))
    seconds = cls.group_by("policy_tier").agg(pl.col("tracked_seconds").sum().alias("s"))
    n_by = dict(zip(tickets["policy_tier"].to_list(), tickets["n"].to_list(), strict=True))
    s_by = dict(zip(seconds["policy_tier"].to_list(), seconds["s"].to_list(), strict=True))
    by_tier = {t: int(n_by.get(t, 0)) for t in tiers}
    hours = {
        t: str((Decimal(int(s_by.get(t, 0) or 0)) / 3600).quantize(CENT, rounding=ROUND_HALF_EVEN))
        for t in tiers
    }
    audited = cls.get_column("ticket_id").n_unique() if cls.height else 0
    return {"audited": audited, "by_policy_tier": by_tier}, hours


def build_summary(
    *,
    bundle: Bundle,
    ingest: Any,
    findings: pl.DataFrame,
    classifications: pl.DataFrame,
    reconciliation: pl.DataFrame,
    period: str | None,
    fail_on: str,
    exit_code: int,
    sla: pl.DataFrame | None = None,
    out_of_period: dict[str, int] | None = None,
    notes: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The ``summary.json`` document (keys as in docs/outputs.md). ``out_of_period``: per table,
    the loaded rows ``--period`` set aside (:mod:`audit.engine.period`); given, every table's
    ``rows`` entry says how many (``in = loaded + quarantined`` either way). ``notes``: the
    engine's warnings about what the data let it judge (after the data's own warnings)."""
    under = _sum(reconciliation.filter(pl.col("delta_eur") > 0), "delta_eur")
    over = _sum(reconciliation.filter(pl.col("delta_eur") < 0), "delta_eur")
    waived = findings.filter((pl.col("status") == "waived") & pl.col("kind").is_in(TICKET_MONTH_KINDS))
    tickets, hours = _tickets_and_hours(classifications, bundle)
    months = sorted(set(classifications.get_column("month").to_list()) | set(reconciliation.get_column("month").to_list()))
    md, st = bundle.metadata, bundle.settings
    return {
        "tool": {"name": "support-audit", "version": __version__},
        "period": period,
        "months": months,
        "policy": {
            "name": md.name,
            "version": md.version,
            "title": md.title,
            "digest": bundle.digest,
            "files": dict(sorted(bundle.file_hashes.items())),
            "timezone": st.timezone,
            "currency": st.currency,
            "language": st.language,
        },
        "inputs": dict(sorted(ingest.input_hashes.items())),
        "rows": {
            name: {"in": c.rows_in, "loaded": c.loaded, "quarantined": c.quarantined,
                   **({} if out_of_period is None else {"out_of_period": out_of_period.get(name, 0)})}
            for name, c in ingest.tables.items()
        },
        # a sources.yaml run: rows in = loaded + quarantined per source file (docs/adapters.md)
        **({"source_files": ingest.source_files} if getattr(ingest, "source_files", None) else {}),
        "tickets": tickets,
        "hours": hours,
        "findings": _findings_block(findings, bundle),
        "money": {
            "under_billed_eur": money(under),
            "over_billed_eur": money(over),
            "net_eur": money(under + over),
            "waived_eur": money(_sum(waived, "delta_eur")),
            "expected_eur": money(_sum(reconciliation, "expected_eur")),
            "billed_eur": money(_sum(reconciliation, "billed_eur")),
        },
        "warnings": [_text(w) for w in (*ingest.warnings, *notes,
                                         *coverage_warnings(period, months))],
        **({"sla": sla_block(sla, findings)} if sla is not None else {}),
        "fail_on": fail_on,
        "exit_code": exit_code,
    }


def _text(value: str) -> str:
    """Valid UTF-8 text for JSON: a file name that is not UTF-8 is shown with \\xNN escapes."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def coverage_warnings(period: str | None, months: list[str]) -> list[str]:
    """A month without any data is said so, rather than reported as a clean "0 findings"."""
    if months:
        return []
    if period is not None:
        return [f"no data in {period}: no ticket, time entry or invoice line falls in this month "
                "(check --period and the exports)"]
    return ["the exports hold no ticket, time entry or invoice line that could be audited"]


def _pct(part: int, whole: int) -> str | None:
    """``part / whole`` in percent with one decimal (half-even), None when nothing was measured."""
    if not whole:
        return None
    return str((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN))


def sla_block(sla: pl.DataFrame, findings: pl.DataFrame) -> dict[str, Any]:
    """The ``sla`` section: compliance per contract × priority (targets measured to the end, by
    the local month of their due instant), breaches by month, credits owed per customer (open
    breach findings), overdue open tickets (docs/outputs.md)."""
    compliance = []
    if sla.height:
        per = (sla.group_by("contract", "priority", "target")
               .agg(pl.col("measured").sum(), pl.col("met").sum(), pl.col("breached").sum(),
                    pl.col("overdue_open").sum())
               .sort("contract", "priority", "target"))
        for r in per.iter_rows(named=True):
            compliance.append({**{k: r[k] for k in ("contract", "priority", "target")},
                               "measured": int(r["measured"]), "met": int(r["met"]),
                               "breached": int(r["breached"]), "overdue_open": int(r["overdue_open"]),
                               "compliance_pct": _pct(int(r["met"]), int(r["measured"]))})
    kinds = ("sla_first_response_breach", "sla_resolution_breach", "sla_overdue_open")
    of_sla = findings.filter(pl.col("kind").is_in(kinds))
    by_month: dict[str, dict[str, int]] = {}
    for (month, kind), n in sorted(Counter(zip(of_sla["month"].to_list(), of_sla["kind"].to_list(),
                                                strict=True)).items()):
        by_month.setdefault(month, {k: 0 for k in kinds})[kind] = n
    owed = of_sla.filter((pl.col("status") == "open") & (pl.col("delta_eur") < 0))
    credits = []
    if owed.height:
        per_customer = (owed.group_by("customer_id", "customer_name")
                        .agg(pl.col("delta_eur").sum().alias("d"), pl.len().alias("n"))
                        .sort("customer_id"))
        for r in per_customer.iter_rows(named=True):
            credits.append({"customer_id": r["customer_id"], "customer_name": r["customer_name"],
                            "breaches": int(r["n"]), "credit_eur": money(-Decimal(r["d"]))})
    overdue = of_sla.filter(pl.col("kind") == "sla_overdue_open")
    as_of = sla.get_column("as_of").drop_nulls().min() if sla.height else None
    return {
        "as_of": as_of.isoformat() if as_of is not None else None,
        "compliance": compliance,
        "breaches_by_month": by_month,
        "credits_owed": credits,
        "credits_owed_eur": money(sum((Decimal(c["credit_eur"]) for c in credits), Decimal(0))),
        "overdue_open": {"findings": overdue.height,
                         "tickets": sorted(set(overdue.get_column("ticket_id").to_list()))},
    }
