"""Compare two audits of the same loaded data: pure polars over the engine's result tables.

Inputs are the three result tables of docs/outputs.md per policy (classifications,
reconciliation, findings) and the customers' contracts; the output is the ``diff.json``
document (docs/diff.md). Money stays Decimal throughout and is written as strings.

Definitions (the same as summary.json's ``money``):
- expected revenue = Σ ``expected_eur`` of the reconciliation;
- under-billed = Σ ``delta_eur`` over ticket-months with ``delta_eur > 0``, over-billed = Σ over
  those with ``delta_eur < 0`` (a negative amount), net = under + over;
- a ticket-month that one policy leaves out of the reconciliation (e.g. its ticket became
  unclassified) counts 0.00 expected and 0.00 delta on that side.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl

ZERO = Decimal("0.00")
MONEY = pl.Decimal(38, 2)
#: Example tickets listed for each row of a breakdown.
EXAMPLES = 3
#: The money measures of each breakdown row, as (name, column of a ticket-month).
MEASURES = (("expected_eur", "expected"), ("under_billed_eur", "under"),
            ("over_billed_eur", "over"), ("net_eur", "delta"))
#: The breakdowns: name -> grouping columns of a ticket-month.
BREAKDOWNS = {
    "by_customer": ("customer_id", "customer_name"),
    "by_contract": ("contract",),
    "by_rule": ("base_rule", "head_rule"),
    "by_month": ("month",),
}
FINDING_CHANGES = ("appeared", "disappeared", "amount_changed", "status_changed",
                   "severity_changed")


def money(value: Decimal | None) -> str:
    """A money amount as a JSON string with two decimals (None counts as 0)."""
    return f"{(value if value is not None else ZERO):.2f}"


def _sum(frame: pl.DataFrame, column: str) -> Decimal:
    value = frame.get_column(column).sum() if frame.height else None
    return Decimal(value) if value is not None else ZERO


def _triple(base: Decimal, head: Decimal) -> dict[str, str]:
    return {"base": money(base), "head": money(head), "change": money(head - base)}


def _zero_if_null(column: str) -> pl.Expr:
    return pl.col(column).cast(MONEY).fill_null(pl.lit(ZERO, dtype=MONEY))


def _positive(column: str) -> pl.Expr:
    return pl.when(pl.col(column) > 0).then(pl.col(column)).otherwise(pl.lit(ZERO, dtype=MONEY))


def _negative(column: str) -> pl.Expr:
    return pl.when(pl.col(column) < 0).then(pl.col(column)).otherwise(pl.lit(ZERO, dtype=MONEY))


def _sides(base: pl.DataFrame, head: pl.DataFrame, key: list[str], cols: list[str]) -> pl.DataFrame:
    """Full outer join of ``base`` and ``head`` on ``key``; ``cols`` become base_*/head_*."""
    b = base.select(*key, *(pl.col(c).alias(f"base_{c}") for c in cols))
    h = head.select(*key, *(pl.col(c).alias(f"head_{c}") for c in cols))
    return b.join(h, on=key, how="full", coalesce=True, nulls_equal=True)


# --------------------------------------------------------------------------------------------
# Tiers


def ticket_tiers(classifications: pl.DataFrame) -> pl.DataFrame:
    """One row per ticket: its customer, policy tier and deciding rule (the same in every month
    of the ticket; the first month's row is taken)."""
    return (
        classifications.sort("ticket_id", "month")
        .unique(subset="ticket_id", keep="first", maintain_order=True)
        .select("ticket_id", "customer_id", "recorded_tier", "policy_tier", "rule_id")
    )


def compare_tiers(base: pl.DataFrame, head: pl.DataFrame) -> tuple[dict[str, Any], pl.DataFrame]:
    """The from->to matrix of policy tiers per ticket, and the tickets whose tier changes."""
    b, h = ticket_tiers(base), ticket_tiers(head)
    both = _sides(b, h, ["ticket_id"], ["customer_id", "recorded_tier", "policy_tier", "rule_id"])
    both = both.with_columns(
        customer_id=pl.coalesce("base_customer_id", "head_customer_id"),
        recorded_tier=pl.coalesce("base_recorded_tier", "head_recorded_tier"),
        changed=pl.col("base_policy_tier").ne_missing(pl.col("head_policy_tier")),
    ).sort("ticket_id")
    cells = (
        both.group_by("base_policy_tier", "head_policy_tier")
        .agg(pl.len().alias("tickets"), pl.col("ticket_id").head(EXAMPLES).alias("examples"),
             pl.col("changed").first())
        .sort("base_policy_tier", "head_policy_tier", nulls_last=True)
    )
    matrix = [
        {"from": r["base_policy_tier"], "to": r["head_policy_tier"], "tickets": r["tickets"],
         "changed": r["changed"], "examples": r["examples"]}
        for r in cells.iter_rows(named=True)
    ]
    changed = both.filter("changed").select(
        "ticket_id", "customer_id", "recorded_tier",
        pl.col("base_policy_tier").alias("from"), pl.col("head_policy_tier").alias("to"),
        "base_rule_id", "head_rule_id",
    )
    return {"tickets": both.height, "changed": changed.height, "matrix": matrix}, changed


# --------------------------------------------------------------------------------------------
# Money per ticket-month

RECON_COLS = ["customer_id", "customer_name", "policy_tier", "rule_id", "expected_eur",
              "billed_eur", "delta_eur", "explanation"]


def ticket_months(base: pl.DataFrame, head: pl.DataFrame, contracts: pl.DataFrame) -> pl.DataFrame:
    """Every ticket-month of either reconciliation, both sides' numbers side by side."""
    tm = _sides(base.with_columns(present=pl.lit(True)), head.with_columns(present=pl.lit(True)),
                ["ticket_id", "month"], [*RECON_COLS, "present"])
    tm = tm.with_columns(
        customer_id=pl.coalesce("base_customer_id", "head_customer_id"),
        customer_name=pl.coalesce("base_customer_name", "head_customer_name"),
        base_rule=pl.col("base_rule_id"),
        head_rule=pl.col("head_rule_id"),
        billed=pl.coalesce(pl.col("head_billed_eur").cast(MONEY), pl.col("base_billed_eur").cast(MONEY)),
        **{f"{side}_expected": _zero_if_null(f"{side}_expected_eur") for side in ("base", "head")},
        **{f"{side}_delta": _zero_if_null(f"{side}_delta_eur") for side in ("base", "head")},
    ).with_columns(
        **{f"{side}_under": _positive(f"{side}_delta") for side in ("base", "head")},
        **{f"{side}_over": _negative(f"{side}_delta") for side in ("base", "head")},
        change_expected=pl.col("head_expected") - pl.col("base_expected"),
        change_delta=pl.col("head_delta") - pl.col("base_delta"),
    )
    tm = tm.join(contracts, on="customer_id", how="left").with_columns(
        changed=(pl.col("change_expected") != 0) | (pl.col("change_delta") != 0)
        | pl.col("base_policy_tier").ne_missing(pl.col("head_policy_tier"))
        | pl.col("base_rule_id").ne_missing(pl.col("head_rule_id"))
        | pl.col("base_present").is_null() | pl.col("head_present").is_null(),
        magnitude=pl.max_horizontal(pl.col("change_expected").abs(), pl.col("change_delta").abs()),
    )
    return tm.sort("month", "customer_id", "ticket_id")


def _example(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "ticket_id": row["ticket_id"],
        "month": row["month"],
        "tier": {"base": row["base_policy_tier"], "head": row["head_policy_tier"]},
        "expected_eur": _triple(row["base_expected"], row["head_expected"]),
        "delta_eur": _triple(row["base_delta"], row["head_delta"]),
        "explanation": {"base": row["base_explanation"], "head": row["head_explanation"]},
    }


def _examples(changed: pl.DataFrame, keys: tuple[str, ...]) -> dict[tuple, list[dict]]:
    """Up to :data:`EXAMPLES` ticket-months per group, the largest change first."""
    ranked = changed.sort(pl.col("magnitude"), "ticket_id", "month",
                          descending=[True, False, False], nulls_last=True)
    top = ranked.group_by(keys, maintain_order=True).head(EXAMPLES)
    out: dict[tuple, list[dict]] = {}
    for row in top.iter_rows(named=True):
        out.setdefault(tuple(row[k] for k in keys), []).append(_example(row))
    return out


def breakdown(tm: pl.DataFrame, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """The money change per group of ``keys``: only groups with a changed ticket-month, the
    largest change of expected revenue first (months in calendar order)."""
    changed = tm.filter("changed")
    if not changed.height:
        return []
    wanted = changed.select(keys).unique()
    rows = tm.join(wanted, on=list(keys), how="semi", nulls_equal=True)
    sums = rows.group_by(keys).agg(
        *(pl.col(f"{side}_{col}").sum().alias(f"{side}_{col}")
          for _, col in MEASURES for side in ("base", "head")),
        pl.col("changed").sum().alias("ticket_months_changed"),
        pl.len().alias("ticket_months"),
    ).with_columns(change=(pl.col("head_expected") - pl.col("base_expected")).abs())
    if keys == ("month",):  # a time line reads best in order
        sums = sums.sort("month")
    else:
        sums = sums.sort(pl.col("change"), *keys, descending=[True, *([False] * len(keys))],
                         nulls_last=True)
    examples = _examples(changed, keys)
    out = []
    for r in sums.iter_rows(named=True):
        item: dict[str, Any] = {k: r[k] for k in keys}
        for name, col in MEASURES:
            item[name] = _triple(r[f"base_{col}"], r[f"head_{col}"])
        item["ticket_months"] = r["ticket_months"]
        item["ticket_months_changed"] = r["ticket_months_changed"]
        item["examples"] = examples.get(tuple(r[k] for k in keys), [])
        out.append(item)
    return out


def money_totals(tm: pl.DataFrame) -> dict[str, Any]:
    totals = {name: _triple(_sum(tm, f"base_{col}"), _sum(tm, f"head_{col}"))
              for name, col in MEASURES}
    totals["billed_eur"] = _triple(_sum(tm, "billed"), _sum(tm, "billed"))
    return totals


def _text(column: str) -> pl.Expr:
    """A money column as the JSON string (two decimals), computed by polars for whole lists."""
    return pl.col(column).cast(MONEY).cast(pl.Utf8)


def ticket_month_rows(tm: pl.DataFrame) -> list[dict[str, Any]]:
    """The changed ticket-months, numbers only (their texts are in the examples and in
    each run's reconciliation)."""
    changed = tm.filter("changed").select(
        "ticket_id", "month", "customer_id", "base_policy_tier", "head_policy_tier", "base_rule",
        "head_rule", *(_text(c).alias(c) for c in (
            "billed", "base_expected", "head_expected", "change_expected", "base_delta",
            "head_delta", "change_delta")),
    )
    return [
        {"ticket_id": r[0], "month": r[1], "customer_id": r[2],
         "tier": {"base": r[3], "head": r[4]}, "rule": {"base": r[5], "head": r[6]},
         "billed_eur": r[7] if r[7] is not None else "0.00",
         "expected_eur": {"base": r[8], "head": r[9], "change": r[10]},
         "delta_eur": {"base": r[11], "head": r[12], "change": r[13]}}
        for r in changed.iter_rows()
    ]


# --------------------------------------------------------------------------------------------
# Findings

FINDING_COLS = ["kind", "severity", "status", "ticket_id", "customer_id", "month", "line_id",
                "rule_id", "delta_eur", "message"]


def compare_findings(base: pl.DataFrame, head: pl.DataFrame) -> tuple[dict[str, Any], list[dict]]:
    """Findings matched by ``finding_id``: which appear, disappear or change amount, status or
    severity; per kind the counts and the open findings' Σ delta_eur on each side."""
    both = _sides(base, head, ["finding_id"], FINDING_COLS)
    change = (
        pl.when(pl.col("base_kind").is_null()).then(pl.lit("appeared"))
        .when(pl.col("head_kind").is_null()).then(pl.lit("disappeared"))
        .when(pl.col("base_delta_eur").ne_missing(pl.col("head_delta_eur"))).then(pl.lit("amount_changed"))
        .when(pl.col("base_status") != pl.col("head_status")).then(pl.lit("status_changed"))
        .when(pl.col("base_severity") != pl.col("head_severity")).then(pl.lit("severity_changed"))
        .otherwise(pl.lit(None, dtype=pl.Utf8))
    )
    both = both.with_columns(
        change=change,
        **{c: pl.coalesce(f"head_{c}", f"base_{c}") for c in ("kind", "ticket_id", "customer_id", "month", "line_id")},
        **{f"{side}_open": pl.when(pl.col(f"{side}_status") == "open")
           .then(_zero_if_null(f"{side}_delta_eur")).otherwise(pl.lit(ZERO, dtype=MONEY))
           for side in ("base", "head")},
    ).sort("month", "customer_id", "ticket_id", "kind", "line_id", "finding_id", nulls_last=False)
    counts = {name: 0 for name in FINDING_CHANGES}
    counts.update(dict(both.filter(pl.col("change").is_not_null()).group_by("change").len().iter_rows()))
    by_kind = []
    per_kind = both.group_by("kind").agg(
        pl.col("base_kind").is_not_null().sum().alias("base"),
        pl.col("head_kind").is_not_null().sum().alias("head"),
        *(pl.col("change").eq(name).sum().alias(name) for name in FINDING_CHANGES),
        pl.col("base_open").sum(), pl.col("head_open").sum(),
    ).sort("kind")
    listed = both.filter(pl.col("change").is_not_null()).select(
        "finding_id", "change", "kind", "ticket_id", "customer_id", "month", "line_id",
        "base_status", "head_status", "base_severity", "head_severity",
        _text("base_delta_eur"), _text("head_delta_eur"), "base_message", "head_message",
        (_zero_if_null("head_delta_eur") - _zero_if_null("base_delta_eur")).abs().alias("magnitude"),
    )
    examples: dict[str, list[dict]] = {}
    top = (listed.sort(pl.col("magnitude"), "finding_id", descending=[True, False])
           .group_by("kind", maintain_order=True).head(EXAMPLES))
    for r in top.iter_rows(named=True):
        examples.setdefault(r["kind"], []).append(
            {"finding_id": r["finding_id"], "change": r["change"], "ticket_id": r["ticket_id"],
             "month": r["month"], "delta_eur": {"base": r["base_delta_eur"], "head": r["head_delta_eur"]}})
    for r in per_kind.iter_rows(named=True):
        if not any(r[name] for name in FINDING_CHANGES):
            continue
        by_kind.append({"kind": r["kind"], "findings": {"base": r["base"], "head": r["head"]},
                        **{name: r[name] for name in FINDING_CHANGES},
                        "open_delta_eur": _triple(r["base_open"], r["head_open"]),
                        "examples": examples.get(r["kind"], [])})
    rows = [
        {"finding_id": r[0], "change": r[1], "kind": r[2], "ticket_id": r[3], "customer_id": r[4],
         "month": r[5], "line_id": r[6], "status": {"base": r[7], "head": r[8]},
         "severity": {"base": r[9], "head": r[10]}, "delta_eur": {"base": r[11], "head": r[12]},
         "message": {"base": r[13], "head": r[14]}}
        for r in listed.iter_rows()
    ]
    summary = {"base": base.height, "head": head.height, **counts, "by_kind": by_kind}
    return summary, rows


# --------------------------------------------------------------------------------------------
# The whole comparison


def compare(base: Any, head: Any, contracts: pl.DataFrame) -> dict[str, Any]:
    """The diff document's comparison part for two :class:`~audit.engine.EngineResult`."""
    tiers, tier_rows = compare_tiers(base.classifications, head.classifications)
    tm = ticket_months(base.reconciliation, head.reconciliation, contracts)
    findings, finding_rows = compare_findings(base.findings, head.findings)
    money_part: dict[str, Any] = {
        "total": money_totals(tm),
        "ticket_months": tm.height,
        "ticket_months_changed": int(tm.get_column("changed").sum() or 0),
    }
    for name, keys in BREAKDOWNS.items():
        money_part[name] = breakdown(tm, keys)
    tier_list = [
        {"ticket_id": r["ticket_id"], "customer_id": r["customer_id"],
         "recorded_tier": r["recorded_tier"], "tier": {"base": r["from"], "head": r["to"]},
         "rule": {"base": r["base_rule_id"], "head": r["head_rule_id"]}}
        for r in tier_rows.iter_rows(named=True)
    ]
    return {
        "money": money_part,
        "tiers": tiers,
        "findings": findings,
        "changes": {
            "tickets": tier_list,
            "ticket_months": ticket_month_rows(tm),
            "findings": finding_rows,
        },
    }
