"""The SLA section: compliance per contract × priority, breaches by month, credits owed per
customer and the overdue open tickets, read from summary.json's ``sla`` block (docs/outputs.md).

A view of plain values for ``templates/_sla.html.j2``; absent (None) when the run's policy had
no ``sla`` section, and the template then renders nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from reports.i18n import Formatter
from reports.load import RunOutputs

KINDS = ("sla_first_response_breach", "sla_resolution_breach", "sla_overdue_open")
#: Overdue open tickets the page names: as many as summary.json names
#: (``audit.engine.summary.OVERDUE_LISTED``, not imported: the engine's imports are heavy).
OVERDUE_LISTED = 100


def sla_view(run: RunOutputs, fmt: Formatter) -> dict[str, Any] | None:
    block = run.summary.get("sla")
    if not isinstance(block, dict):
        return None
    rows = []
    for c in block.get("compliance") or []:
        pct = c.get("compliance_pct")
        rows.append({
            "contract": c["contract"],
            "priority": fmt.label("priority", c["priority"]),
            "target": fmt.t(f"sla.target.{c['target']}"),
            "measured": fmt.number(c["measured"]),
            "met": fmt.number(c["met"]),
            "breached": fmt.number(c["breached"]),
            "overdue": fmt.number(c["overdue_open"]),
            "pct": fmt.percent(Decimal(pct) / 100) if pct is not None else "–",
            "low": pct is not None and Decimal(pct) < 100,
        })
    months = [
        {"month": fmt.month(m), **{k: fmt.number(n.get(k, 0)) for k in KINDS}}
        for m, n in sorted((block.get("breaches_by_month") or {}).items())
    ]
    credits = [
        {"customer_id": c["customer_id"], "customer_name": c.get("customer_name") or "",
         "breaches": fmt.number(c["breaches"]), "credit": fmt.money(c["credit_eur"])}
        for c in block.get("credits_owed") or []
    ]
    as_of = block.get("as_of")
    overdue = block.get("overdue_open") or {}
    named = list(overdue.get("tickets") or [])  # a run before ticket_count named every one
    count = int(overdue.get("ticket_count", len(named)))
    tickets = named[:OVERDUE_LISTED]
    return {
        "as_of": fmt.datetime_utc(dt.datetime.fromisoformat(as_of)) if as_of else "–",
        "compliance": rows,
        "months": months,
        "kinds": [fmt.t(f"kind.{k}") for k in KINDS],
        "credits": credits,
        "credits_total": fmt.money(block.get("credits_owed_eur") or "0.00"),
        "overdue_count": fmt.number(count),
        "overdue_tickets": tickets,
        "overdue_more": fmt.number(count - len(tickets)) if count > len(tickets) else None,
    }
