"""A JSON snapshot of a policy bundle, saved beside a run's outputs as ``policy.json``.

The report's policy appendix reads it, so a report re-rendered months later shows the rules that
were in force for that run, not whatever the policy folder says today.
"""

from __future__ import annotations

from typing import Any

from audit.policy.model import Bundle


def _where(item: Any) -> dict[str, Any]:
    loc = getattr(item, "loc", None)
    return {"file": loc.file if loc else None, "line": loc.line if loc else None}


def policy_snapshot(bundle: Bundle) -> dict[str, Any]:
    """Everything a reader of the report needs to see of the policy, JSON-ready (money as strings)."""
    billing = bundle.billing

    def prices(periods: list) -> list[dict[str, Any]]:
        return [
            {
                "from": p.valid_from.isoformat(),
                "to": p.valid_to.isoformat() if p.valid_to else None,
                "unit_price": f"{p.unit_price:.2f}",
                **_where(p),
            }
            for p in periods
        ]

    return {
        "metadata": bundle.metadata.model_dump(mode="json"),
        "settings": bundle.settings.model_dump(mode="json"),
        "digest": bundle.digest,
        "files": dict(sorted(bundle.file_hashes.items())),
        "tiers": [
            {"id": t.id, "billable": t.billable, "label": dict(t.label), "description": t.description}
            for t in bundle.tiers
        ],
        "rules": [
            {
                "id": r.id,
                "tier": r.tier,
                "clause": r.clause,
                "description": r.description,
                "when": r.when,
                **_where(r),
            }
            for r in bundle.classification.rules
        ],
        "default_tier": bundle.classification.default_tier,
        "billing": {
            "unit_minutes": billing.unit_minutes,
            "rounding": billing.rounding,
            "scope": billing.scope,
            "prices": prices(billing.prices),
            "overrides": [
                {"contract": o.contract, "prices": prices(o.prices), **_where(o)}
                for o in billing.overrides
            ],
            **_where(billing),
        },
        "findings": {
            kind: {"enabled": s.enabled, "severity": s.severity, **_where(s)}
            for kind, s in sorted(bundle.findings.items())
        },
        "signals": [
            {
                "id": s.id,
                "kind": s.kind,
                "severity": s.severity,
                "description": s.description,
                "when": s.when,
                **_where(s),
            }
            for s in bundle.signals
        ],
        "waivers": [
            {
                "id": w.id,
                "scope": w.scope.model_dump(mode="json", exclude_none=True),
                "reason": w.reason,
                "approved_by": w.approved_by,
                "approved_on": w.approved_on.isoformat(),
                "expires_on": w.expires_on.isoformat(),
                **_where(w),
            }
            for w in bundle.waivers
        ],
        # the SLA as it was in force (calendars, targets with file and line, pauses, credits)
        "sla": None if bundle.sla is None else {
            **bundle.sla.model_dump(mode="json", exclude={"targets"}),
            "targets": [
                {"contract": t.contract, "calendar": t.calendar, **_where(t),
                 "priorities": {p: {**v.model_dump(mode="json"), **_where(v)} for p, v in t.priorities.items()}}
                for t in bundle.sla.targets
            ],
        },
    }
