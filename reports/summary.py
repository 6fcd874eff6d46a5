"""Sections 1 and 2: the header (what was audited, with which policy) and the summary figures.

Every figure comes from summary.json as the engine wrote it; the report re-formats, it does not
re-add. With ``previous`` (an earlier run's summary.json) each figure gets its change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from audit.policy.model import SEVERITY_ORDER
from reports.i18n import Formatter
from reports.load import RunOutputs

MONEY_KEYS = ("under_billed_eur", "over_billed_eur", "net_eur", "waived_eur")


@dataclass(frozen=True)
class Figure:
    """One summary figure, formatted, with the raw value kept for ``data-value`` (tests, tools)."""

    key: str
    label: str
    value: str
    raw: str
    previous: str | None = None
    change: str | None = None


def period_label(summary: dict[str, Any], fmt: Formatter) -> str:
    if summary.get("period"):
        return fmt.month(summary["period"])
    months = summary.get("months") or []
    if not months:
        return "–"
    if len(months) == 1:
        return fmt.month(months[0])
    return f"{fmt.month(months[0])} – {fmt.month(months[-1])}"


def header_view(run: RunOutputs, fmt: Formatter, generated_at: dt.datetime,
                previous: dict[str, Any] | None) -> dict[str, Any]:
    policy = run.summary.get("policy") or {}
    tool = run.summary.get("tool") or {}
    return {
        "period": period_label(run.summary, fmt),
        "months": [fmt.month(m) for m in run.months],
        "policy": {
            "name": policy.get("name", "–"),
            "title": policy.get("title") or policy.get("name", ""),
            "version": policy.get("version", "–"),
            "digest": policy.get("digest", "–"),
            "timezone": policy.get("timezone", "–"),
            "files": sorted((policy.get("files") or {}).items()),
        },
        "inputs": sorted((run.summary.get("inputs") or {}).items()),
        "tool": f"{tool.get('name', 'support-audit')} {tool.get('version', '')}".strip(),
        "generated_at": fmt.datetime_utc(generated_at),
        "generated_iso": generated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "previous_period": period_label(previous, fmt) if previous else None,
    }


def _dig(data: dict[str, Any] | None, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _figure(fmt: Formatter, key: str, label: str, now: Any, before: Any, money: bool,
            compare: bool, decimals: int | None = None, absolute: bool = False) -> Figure:
    """``absolute``: show the amount without its sign (the label says the direction)."""
    value = Decimal(str(now)) if now is not None else Decimal(0)
    show = ((lambda v: fmt.money(abs(v))) if absolute else fmt.money) if money else (
        lambda v: fmt.number(v, decimals))
    signed = fmt.signed_money if money else (lambda v: fmt.signed_number(v, decimals))
    raw = f"{value:.2f}" if money else str(value)
    if not compare:
        return Figure(key, label, show(value), raw)
    prev = Decimal(str(before)) if before is not None else Decimal(0)
    return Figure(key, label, show(value), raw, show(prev), signed(value - prev))


def summary_view(run: RunOutputs, fmt: Formatter, tiers: list[tuple[str, str]],
                 previous: dict[str, Any] | None) -> dict[str, Any]:
    s, p, cmp = run.summary, previous, previous is not None
    net = Decimal(str(_dig(s, "money", "net_eur") or 0))
    labels = {k: fmt.t(f"summary.{k}") for k in MONEY_KEYS}
    labels["net_eur"] = fmt.t("summary.net_under" if net > 0 else "summary.net_over" if net < 0
                              else "summary.net_eur")
    money = [
        _figure(fmt, k, labels[k], _dig(s, "money", k), _dig(p, "money", k),
                money=True, compare=cmp, absolute=k in ("over_billed_eur", "net_eur"))
        for k in MONEY_KEYS
    ]
    counted = _dig(s, "tickets", "by_policy_tier") or {}
    tier_ids = [t for t, _ in tiers] + sorted(
        t for t in counted if t not in {tid for tid, _ in tiers} | {"unclassified"})
    names = dict(tiers) | {"unclassified": fmt.t("tier.unclassified")}
    tier_rows = []
    for tid in [*tier_ids, "unclassified"]:
        tickets = _dig(s, "tickets", "by_policy_tier", tid)
        hours = _dig(s, "hours", tid)
        if tid == "unclassified" and not tickets and not hours:
            continue
        tier_rows.append({
            "label": names.get(tid, tid),
            "tickets": _figure(fmt, f"tickets-{tid}", "", tickets,
                               _dig(p, "tickets", "by_policy_tier", tid), False, cmp),
            "hours": _figure(fmt, f"hours-{tid}", "", hours, _dig(p, "hours", tid), False, cmp,
                             decimals=2),
        })
    severities = sorted(_dig(s, "findings", "by_severity") or {},
                        key=lambda k: -SEVERITY_ORDER.get(k, -1))
    severity_rows = [
        {
            "label": fmt.label("severity", sev),
            "severity": sev,
            "open": _figure(fmt, f"open-{sev}", "", _dig(s, "findings", "by_severity", sev, "open"),
                            _dig(p, "findings", "by_severity", sev, "open"), False, cmp),
            "waived": _figure(fmt, f"waived-{sev}", "",
                              _dig(s, "findings", "by_severity", sev, "waived"),
                              _dig(p, "findings", "by_severity", sev, "waived"), False, cmp),
        }
        for sev in severities
    ]
    totals = {
        k: _figure(fmt, k, fmt.t(f"summary.{k}"), _dig(s, *path), _dig(p, *path), False, cmp)
        for k, path in (("tickets_audited", ("tickets", "audited")),
                        ("findings_open", ("findings", "open")),
                        ("findings_waived", ("findings", "waived")))
    }
    return {"money": money, "tiers": tier_rows, "severities": severity_rows, "totals": totals,
            "compare": cmp, "exit_code": s.get("exit_code"), "fail_on": s.get("fail_on")}
