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
from reports.load import RunOutputs, collect, names

ZERO = Decimal("0.00")


def _where(item: dict[str, Any]) -> str:
    if not item.get("file"):
        return "–"
    return f"{item['file']}:{item['line']}" if item.get("line") else str(item["file"])


def _rules(run: RunOutputs, fmt: Formatter, tier_names: dict[str, str],
           decided: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {"order": i, "id": r["id"], "clause": r.get("clause") or "–",
         "tier": tier_names.get(r.get("tier", ""), r.get("tier", "")), "when": r.get("when", ""),
         "description": localized(r.get("description"), fmt.lang), "where": _where(r),
         "tickets": decided.get(r["id"], 0) if run.classifications is not None else None}
        for i, r in enumerate(run.policy.get("rules") or [], start=1)
    ]


def _signals(run: RunOutputs, fmt: Formatter, raised: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {"id": s["id"], "kind": fmt.label("kind", s.get("kind")),
         "severity": fmt.label("severity", s.get("severity")), "when": s.get("when", ""),
         "description": localized(s.get("description"), fmt.lang), "where": _where(s),
         "findings": raised.get(s["id"], 0)}
        for s in run.policy.get("signals") or []
    ]


def _waivers(run: RunOutputs, fmt: Formatter, applied: dict[str, tuple[int, Decimal]],
             expired_matches: tuple[int, ...]) -> list[dict[str, Any]]:
    last_month = max(run.months) if run.months else None
    out = []
    for w, expired in zip(run.policy.get("waivers") or [], expired_matches, strict=True):
        n, eur = applied.get(w["id"], (0, ZERO))
        expires = str(w.get("expires_on") or "")
        still_covers = last_month is None or not expires or f"{last_month}-01" <= expires
        scope = w.get("scope") or {}
        out.append({
            "id": w["id"],
            "scope": [(fmt.t(f"waiver_scope.{k}"), fmt.label("kind", v) if k == "kind" else v)
                      for k, v in sorted(scope.items()) if v],
            "reason": w.get("reason", ""), "approved_by": w.get("approved_by", ""),
            "approved_on": fmt.date(w.get("approved_on")), "expires_on": fmt.date(expires or None),
            "where": _where(w), "applied": n, "applied_eur": eur if n else ZERO,
            "expired_matches": int(expired or 0),
            "state": fmt.t("waiver.active") if still_covers else fmt.t("waiver.expired"),
            "expired": not still_covers,
        })
    return out


def _counts(run: RunOutputs) -> tuple[dict[str, int], int | None, dict[str, int],
                                      dict[str, tuple[int, Decimal]], tuple[int, ...]]:
    """What the appendix counts, in one streaming call over the run's tables
    (:func:`reports.load.collect`): the distinct tickets each rule decided, the unclassified
    tickets, the findings of each rule or signal, each waiver's waived findings and money, and
    how often a waiver was matched after it had expired (said at the end of the finding's
    message, which only this reads)."""
    waivers = (run.policy or {}).get("waivers") or []
    f = run.findings.lazy()
    queries = [
        f.group_by("rule_id").len(),
        f.filter(pl.col("waiver_id").is_not_null()).group_by("waiver_id")
        .agg(pl.len(), pl.col("delta_eur").sum()),
    ]
    if waivers:
        source = f if "message" in names(f) else run.scan("findings.parquet")
        queries.append(source.select(
            pl.col("message").str.contains(f"(waiver {w['id']} expired on", literal=True)
            .sum().alias(str(i)) for i, w in enumerate(waivers)))
    if run.classifications is not None:
        c = run.classifications.lazy()
        queries += [
            c.filter(pl.col("rule_id").is_not_null()).group_by("rule_id")
            .agg(pl.col("ticket_id").n_unique()),
            c.filter(pl.col("policy_tier").is_null()).select(pl.col("ticket_id").n_unique()),
        ]
    raised, applied, *rest = collect(*queries)
    expired = tuple(rest.pop(0).row(0)) if waivers else ()
    decided, unclassified = ({}, None) if not rest else (dict(rest[0].iter_rows()),
                                                        int(rest[1].item()))
    return (decided, unclassified, dict(raised.iter_rows()),
            {w: (n, eur) for w, n, eur in applied.iter_rows()}, expired)


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
    decided, unclassified, raised, applied, expired = _counts(run)
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
        "rules": _rules(run, fmt, tier_names, decided),
        "default_tier": run.policy.get("default_tier"),
        "unclassified": unclassified,
        "signals": _signals(run, fmt, raised),
        "waivers": _waivers(run, fmt, applied, expired),
        "findings": sorted((run.policy.get("findings") or {}).items()),
    }
