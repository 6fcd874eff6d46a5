"""``summary.json``: counts, totals, row counts and hashes of one run (docs/outputs.md).

Money totals are sums of the **ticket-month deltas** of the reconciliation, never of findings, so
a ticket-month with two findings is not counted twice (docs/semantics.md). Money is formatted as
a string with two decimals; nothing here goes through a float.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import polars as pl

from audit import __version__
from audit.engine.findings import TICKET_MONTH_KINDS
from audit.engine.sql import in_period, lit
from audit.policy.model import SEVERITY_ORDER, SLA_KINDS, Bundle

CENT = Decimal("0.01")
UNCLASSIFIED = "unclassified"


def money(value: Decimal | int | None) -> str:
    """A money amount as the JSON string of docs/outputs.md (``"17.50"``); None counts as 0."""
    return str(Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True)
class SummaryFacts:
    """What ``summary.json`` and the exit code say about the result tables: aggregates, never
    the tables. :func:`summary_facts` computes them on the engine's connection (DuckDB or Spark:
    one SQL definition, :func:`_fact_queries`) before the tables are exported, so a run need not
    hold, or collect to the driver, any result table to write its summary; :func:`frame_facts`
    runs the same SQL over result tables already in memory."""

    #: ``(kind, severity, status, findings, sum delta_eur, sum at_stake_eur)``
    findings: tuple[tuple[str, str, str, int, Decimal | None, Decimal | None], ...]
    #: ``(policy_tier or "unclassified", tickets, tracked seconds)`` of the classifications
    tiers: tuple[tuple[str, int, int | None], ...]
    #: the months of the classifications and the reconciliation
    months: tuple[str, ...]
    #: the reconciliation's ``(under-billed, over-billed, expected, billed)`` euros
    recon: tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None]
    #: ``(month, kind, findings)`` of the SLA kinds
    sla_by_month: tuple[tuple[str, str, int], ...]
    #: ``(customer_id, customer_name, breaches, sum delta_eur)`` of open SLA findings owing a credit
    credits: tuple[tuple[str, str | None, int, Decimal], ...]
    #: the first :data:`OVERDUE_LISTED` tickets (by id) with an ``sla_overdue_open`` finding
    overdue_tickets: tuple[str, ...]
    #: how many tickets have an ``sla_overdue_open`` finding
    overdue_count: int


#: The overdue open tickets summary.json names (the first, by id) and the report lists; every one
#: of them is a finding of kind ``sla_overdue_open`` in findings.csv. A count says how many.
OVERDUE_LISTED = 100


def _fact_queries(findings: str, classifications: str, reconciliation: str) -> dict[str, str]:
    """The SQL of :class:`SummaryFacts`, one query per field, over three relations with the
    result tables' columns (``findings``: kind, severity, status, delta_eur, at_stake_eur, month,
    customer_id, customer_name, ticket_id; ``classifications``: ticket_id, month, policy_tier,
    tracked_seconds; ``reconciliation``: month, expected_eur, billed_eur). Portable SQL: the
    Spark dialect carries it over unchanged."""
    sla = ", ".join(lit(k) for k in SLA_KINDS)
    f, c, r = findings, classifications, reconciliation
    return {
        "findings": f"""SELECT kind, severity, status, count(*), sum(delta_eur), sum(at_stake_eur)
                        FROM {f} GROUP BY kind, severity, status""",
        "tiers": f"""SELECT coalesce(policy_tier, {lit(UNCLASSIFIED)}) AS tier,
                            count(DISTINCT ticket_id), sum(tracked_seconds)
                     FROM {c} GROUP BY coalesce(policy_tier, {lit(UNCLASSIFIED)})""",
        "months": f"SELECT month FROM {c} UNION SELECT month FROM {r}",
        "recon": f"""SELECT sum(CASE WHEN d > 0 THEN d END), sum(CASE WHEN d < 0 THEN d END),
                            sum(expected_eur), sum(billed_eur)
                     FROM (SELECT CAST(expected_eur - billed_eur AS DECIMAL(18, 2)) AS d,
                                  expected_eur, billed_eur FROM {r}) x""",
        "sla_by_month": f"""SELECT month, kind, count(*) FROM {f}
                            WHERE kind IN ({sla}) GROUP BY month, kind""",
        "credits": f"""SELECT customer_id, customer_name, count(*), sum(delta_eur) FROM {f}
                       WHERE kind IN ({sla}) AND status = 'open' AND delta_eur < 0
                       GROUP BY customer_id, customer_name""",
        "overdue_tickets": f"""SELECT DISTINCT ticket_id FROM {f} WHERE kind = 'sla_overdue_open'
                               ORDER BY ticket_id LIMIT {OVERDUE_LISTED}""",
        "overdue_count": f"""SELECT count(DISTINCT ticket_id) FROM {f}
                             WHERE kind = 'sla_overdue_open'""",
    }


def _facts(con: Any, queries: dict[str, str]) -> SummaryFacts:
    def rows(name: str) -> list[tuple]:
        return [tuple(row) for row in con.execute(queries[name]).fetchall()]

    return SummaryFacts(
        findings=tuple(sorted(rows("findings"), key=lambda r: r[:3])),
        tiers=tuple(sorted(rows("tiers"), key=lambda r: r[0])),
        months=tuple(sorted(m for (m,) in rows("months") if m is not None)),
        recon=rows("recon")[0],
        sla_by_month=tuple(sorted(rows("sla_by_month"), key=lambda r: r[:2])),
        credits=tuple(sorted(rows("credits"), key=lambda r: (r[0] is not None, r[0] or ""))),
        overdue_tickets=tuple(sorted(t for (t,) in rows("overdue_tickets"))),
        overdue_count=int(rows("overdue_count")[0][0]),
    )


def summary_facts(con: Any, period: str | None) -> SummaryFacts:
    """:class:`SummaryFacts` of the engine's relations for ``period`` (after ``render_texts``,
    before ``export`` frees them): the rows ``export`` writes, aggregated where they are."""
    return _facts(con, _fact_queries(
        findings=f"""(SELECT f.kind, f.severity, f.status, f.delta_eur, f.at_stake_eur, f.month,
                             f.customer_id, c.name AS customer_name, f.ticket_id
                      FROM findings f LEFT JOIN customers c ON c.customer_id = f.customer_id
                      WHERE {in_period(period, "f.month")}) f""",
        classifications="classifications",
        # the exported reconciliation: ticket-months of classified tickets (recon_full's join)
        reconciliation=f"""(SELECT r.month, r.expected_eur, r.billed_eur
                            FROM recon r SEMI JOIN ticket_class tc USING (ticket_id)
                            WHERE {in_period(period, "r.month")}) r""",
    ))


def frame_facts(findings: pl.DataFrame, classifications: pl.DataFrame,
                reconciliation: pl.DataFrame) -> SummaryFacts:
    """:class:`SummaryFacts` of result tables in memory (the same SQL, on a DuckDB of its own)."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        for name, frame in (("findings", findings), ("classifications", classifications),
                            ("reconciliation", reconciliation)):
            con.register(name, frame.to_arrow())
        return _facts(con, _fact_queries("findings", "classifications", "reconciliation"))
    finally:
        con.close()


def exit_code_for(facts: SummaryFacts, fail_on: str) -> int:
    """1 when an open finding has severity ``fail_on`` or higher, else 0 (``never``: always 0)."""
    if fail_on == "never":
        return 0
    floor = SEVERITY_ORDER[fail_on]
    hit = any(status == "open" and SEVERITY_ORDER.get(severity, -1) >= floor and n
              for _kind, severity, status, n, _d, _a in facts.findings)
    return 1 if hit else 0


def _total(values) -> Decimal:
    """Exact sum of decimals (None counts as 0)."""
    return sum((Decimal(v) for v in values if v is not None), Decimal(0))


def _findings_block(facts: SummaryFacts, bundle: Bundle) -> dict[str, Any]:
    signal_kinds = {s.kind for s in bundle.signals}
    kinds = {k for k, s in bundle.findings.items() if s.enabled} | signal_kinds
    kinds |= {row[0] for row in facts.findings}
    by_kind: dict[str, Any] = {}
    for kind in sorted(kinds):
        of_kind = [r for r in facts.findings if r[0] == kind]
        open_ = [r for r in of_kind if r[2] == "open"]
        by_kind[kind] = {
            "open": sum(r[3] for r in open_),
            "waived": sum(r[3] for r in of_kind) - sum(r[3] for r in open_),
            "delta_eur": money(_total(r[4] for r in open_)),
        }
        if kind in signal_kinds:  # what the open signals' tickets would bill if extended
            by_kind[kind]["at_stake_eur"] = money(_total(r[5] for r in open_))
    by_severity = {}
    for sev in sorted(SEVERITY_ORDER, key=SEVERITY_ORDER.get, reverse=True):
        of_sev = [r for r in facts.findings if r[1] == sev]
        waived = sum(r[3] for r in of_sev if r[2] == "waived")
        by_severity[sev] = {"open": sum(r[3] for r in of_sev) - waived, "waived": waived}
    total = sum(r[3] for r in facts.findings)
    waived = sum(r[3] for r in facts.findings if r[2] == "waived")
    return {
        "total": total,
        "open": total - waived,
        "waived": waived,
        "by_kind": by_kind,
        "by_severity": by_severity,
    }


def _tickets_and_hours(facts: SummaryFacts, bundle: Bundle) -> tuple[dict, dict]:
    tiers = [*bundle.tier_ids, UNCLASSIFIED]
    n_by = {t: n for t, n, _s in facts.tiers}
    s_by = {t: s for t, _n, s in facts.tiers}
    by_tier = {t: int(n_by.get(t, 0)) for t in tiers}
    hours = {
        t: str((Decimal(int(s_by.get(t, 0) or 0)) / 3600).quantize(CENT, rounding=ROUND_HALF_EVEN))
        for t in tiers
    }
    # a ticket has one policy tier in every month: the tickets audited are the tiers' sum
    return {"audited": sum(int(n) for _t, n, _s in facts.tiers), "by_policy_tier": by_tier}, hours


def build_summary(
    *,
    bundle: Bundle,
    ingest: Any,
    facts: SummaryFacts,
    period: str | None,
    fail_on: str,
    exit_code: int,
    sla: pl.DataFrame | None = None,
    out_of_period: dict[str, int] | None = None,
    notes: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The ``summary.json`` document (keys as in docs/outputs.md) from the result tables'
    ``facts`` (:func:`summary_facts`, :func:`frame_facts`). ``out_of_period``: per table,
    the loaded rows ``--period`` set aside (:mod:`audit.engine.period`); given, every table's
    ``rows`` entry says how many (``in = loaded + quarantined`` either way). ``notes``: the
    engine's warnings about what the data let it judge (after the data's own warnings)."""
    under, over, expected, billed = (_total([v]) for v in facts.recon)
    waived = _total(r[4] for r in facts.findings
                    if r[2] == "waived" and r[0] in TICKET_MONTH_KINDS)
    tickets, hours = _tickets_and_hours(facts, bundle)
    months = list(facts.months)
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
        "findings": _findings_block(facts, bundle),
        "money": {
            "under_billed_eur": money(under),
            "over_billed_eur": money(over),
            "net_eur": money(under + over),
            "waived_eur": money(waived),
            "expected_eur": money(expected),
            "billed_eur": money(billed),
        },
        "warnings": [_text(w) for w in (*ingest.warnings, *notes,
                                         *coverage_warnings(period, months))],
        **({"sla": sla_block(sla, facts)} if sla is not None else {}),
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


def sla_block(sla: pl.DataFrame, facts: SummaryFacts) -> dict[str, Any]:
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
    by_month: dict[str, dict[str, int]] = {}
    for month, kind, n in facts.sla_by_month:
        by_month.setdefault(month, {k: 0 for k in SLA_KINDS})[kind] = int(n)
    credits = [{"customer_id": customer, "customer_name": name, "breaches": int(n),
                "credit_eur": money(-Decimal(d))} for customer, name, n, d in facts.credits]
    as_of = sla.get_column("as_of").drop_nulls().min() if sla.height else None
    return {
        "as_of": as_of.isoformat() if as_of is not None else None,
        "compliance": compliance,
        "breaches_by_month": by_month,
        "credits_owed": credits,
        "credits_owed_eur": money(sum((Decimal(c["credit_eur"]) for c in credits), Decimal(0))),
        "overdue_open": {"findings": sum(int(n) for _m, kind, n in facts.sla_by_month
                                         if kind == "sla_overdue_open"),
                         "tickets": list(facts.overdue_tickets),
                         "ticket_count": facts.overdue_count},
    }
