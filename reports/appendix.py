"""Section 7: the policy appendix — every rule with its clause, condition and how often it decided.

Read from ``policy.json`` (the snapshot of the validated policy bundle the run used, with
``file``/``line`` for each rule, signal and waiver) and counted from this run's outputs:

- a classification rule's count is the number of distinct tickets it decided
  (``classifications.parquet``); a rule that decided nothing shows 0 on purpose — it is either
  dead or waiting for its case, and finance should see which;
- a signal's count is the number of findings it raised;
- a waiver shows the findings it waived (and their money), and the findings it matched but no
  longer covered because it had expired (the engine says so at the end of the message).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl

from audit.texts import localized
from reports.i18n import Formatter
from reports.load import RunOutputs

ZERO = Decimal("0.00")


def _where(item: dict[str, Any]) -> str:
    if not item.get("file"):
        return "–"
    return f"{item['file']}:{item['line']}" if item.get("line") else str(item["file"])


def _rules(run: RunOutputs, fmt: Formatter, tier_names: dict[str, str]) -> list[dict[str, Any]]:
    decided: dict[str, int] = {}
    if run.classifications is not None:
        decided = dict(
            run.classifications.filter(pl.col("rule_id").is_not_null())
            .group_by("rule_id").agg(pl.col("ticket_id").n_unique()).iter_rows()
        )
    return [
        {"order": i, "id": r["id"], "clause": r.get("clause") or "–",
         "tier": tier_names.get(r.get("tier", ""), r.get("tier", "")), "when": r.get("when", ""),
         "description": localized(r.get("description"), fmt.lang), "where": _where(r),
         "tickets": decided.get(r["id"], 0) if run.classifications is not None else None}
        for i, r in enumerate(run.policy.get("rules") or [], start=1)
    ]


def _unclassified(run: RunOutputs) -> int | None:
    if run.classifications is None:
        return None
    return run.classifications.filter(pl.col("policy_tier").is_null())["ticket_id"].n_unique()


def _signals(run: RunOutputs, fmt: Formatter) -> list[dict[str, Any]]:
    raised = dict(run.findings.group_by("rule_id").len().iter_rows())
    return [
        {"id": s["id"], "kind": fmt.label("kind", s.get("kind")),
         "severity": fmt.label("severity", s.get("severity")), "when": s.get("when", ""),
         "description": localized(s.get("description"), fmt.lang), "where": _where(s),
         "findings": raised.get(s["id"], 0)}
        for s in run.policy.get("signals") or []
    ]


def _waivers(run: RunOutputs, fmt: Formatter) -> list[dict[str, Any]]:
    f = run.findings
    last_month = max(run.months) if run.months else None
    waivers = run.policy.get("waivers") or []
    # findings a waiver matched after it expired: their message says so (one pass over the
    # messages, read from the file when the run was loaded without them)
    matched = [pl.col("message").str.contains(f"(waiver {w['id']} expired on", literal=True)
               .sum().alias(str(i)) for i, w in enumerate(waivers)]
    source = f.lazy() if "message" in f.columns else pl.scan_parquet(run.root / "findings.parquet")
    expired_matches = source.select(matched).collect(engine="streaming").row(0) if matched else ()
    out = []
    for w, expired in zip(waivers, expired_matches, strict=True):
        applied = f.filter(pl.col("waiver_id") == w["id"])
        expires = str(w.get("expires_on") or "")
        still_covers = last_month is None or not expires or f"{last_month}-01" <= expires
        scope = w.get("scope") or {}
        out.append({
            "id": w["id"],
            "scope": [(fmt.t(f"waiver_scope.{k}"), fmt.label("kind", v) if k == "kind" else v)
                      for k, v in sorted(scope.items()) if v],
            "reason": w.get("reason", ""), "approved_by": w.get("approved_by", ""),
            "approved_on": fmt.date(w.get("approved_on")), "expires_on": fmt.date(expires or None),
            "where": _where(w), "applied": applied.height,
            "applied_eur": applied["delta_eur"].sum() if applied.height else ZERO,
            "expired_matches": int(expired or 0),
            "state": fmt.t("waiver.active") if still_covers else fmt.t("waiver.expired"),
            "expired": not still_covers,
        })
    return out


def _prices(fmt: Formatter, periods: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"from": fmt.date(p.get("from")), "to": fmt.date(p.get("to")),
             "price": fmt.money(p.get("unit_price"))} for p in periods]


def appendix_view(run: RunOutputs, fmt: Formatter,
                  tiers: list[tuple[str, str]]) -> dict[str, Any] | None:
    """None when the run has no policy.json (the section then says so)."""
    if run.policy is None:
        return None
    meta = run.policy.get("metadata") or {}
    billing = run.policy.get("billing") or {}
    tier_names = dict(tiers)
    return {
        "meta": meta,
        "tiers": [{"id": t["id"], "label": tier_names.get(t["id"], t["id"]),
                   "billable": bool(t.get("billable")),
                   "description": localized(t.get("description"), fmt.lang)}
                  for t in run.policy.get("tiers") or []],
        "billing": {
            "unit_minutes": billing.get("unit_minutes"),
            "rounding": fmt.label("rounding", billing.get("rounding")),
            "scope": fmt.label("billing_scope", billing.get("scope")),
            "prices": _prices(fmt, billing.get("prices") or []),
            "overrides": [{"contract": o.get("contract", ""), "prices": _prices(fmt, o.get("prices") or [])}
                          for o in billing.get("overrides") or []],
        },
        "rules": _rules(run, fmt, tier_names),
        "default_tier": run.policy.get("default_tier"),
        "unclassified": _unclassified(run),
        "signals": _signals(run, fmt),
        "waivers": _waivers(run, fmt),
        "findings": sorted((run.policy.get("findings") or {}).items()),
    }
