"""The money headline and the bridge from Σ expected to Σ billed.

Tiles: the amounts to act on, each a positive figure with a direction word, open and waived
never mixed — *to invoice (open)*, *to credit (open)*, *waived*, and the open balance with its
direction. They are the action list's totals (ticket-month deltas of the reconciliation, the
same rows summary.json sums), so the headline and the list below it cannot disagree.

Bridge: Σ expected (summary.json ``expected_eur``) minus each finding kind's open deltas, minus
the waived deltas, plus what was billed on ticket-months without an expected amount (review),
gives Σ billed (``billed_eur``). Should the kinds overlap or leave a gap, a *rest* step shows it
(and the test that the sample's bridge has none fails); the bridge always closes to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl

from reports.actions import ActionList, billing_money
from reports.charts import plotly_text
from reports.i18n import Formatter
from reports.load import Table, collect

ZERO = Decimal("0.00")


def _dec(value: Any) -> Decimal:
    return ZERO if value is None else Decimal(str(value)).quantize(ZERO)


@dataclass(frozen=True)
class Tile:
    key: str
    label: str
    value: str  # formatted, positive
    raw: str  # signed, two decimals (data-value)
    note: str


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    amount: Decimal  # signed: how the step moves expected towards billed
    kind: str  # "start", "step", "end"


def tiles(actions: ActionList, fmt: Formatter) -> list[Tile]:
    balance = actions.invoice_eur + actions.credit_eur  # credit_eur is negative
    direction = ("balance_under" if balance > 0 else "balance_over" if balance < 0
                 else "balance_zero")
    return [
        Tile("to_invoice", fmt.t("tile.to_invoice"), fmt.money(actions.invoice_eur),
             f"{actions.invoice_eur:.2f}", fmt.t("tile.note.to_invoice")),
        Tile("to_credit", fmt.t("tile.to_credit"), fmt.money(-actions.credit_eur),
             f"{actions.credit_eur:.2f}", fmt.t("tile.note.to_credit")),
        Tile("waived", fmt.t("tile.waived"), fmt.money(abs(actions.waived_eur)),
             f"{actions.waived_eur:.2f}", fmt.t("tile.note.waived")),
        Tile("balance", fmt.t("tile.balance"), fmt.money(abs(balance)), f"{balance:.2f}",
             fmt.t(f"tile.note.{direction}")),
    ]


def bridge(findings: Table, reconciliation: Table, fmt: Formatter) -> list[Step]:
    """Steps from Σ expected to Σ billed (signed amounts; start + steps = end, to the cent).
    ``findings``/``reconciliation``: frames or scans (reports.load), aggregated as they are read."""
    review = pl.col("delta_eur").is_null()
    money = reconciliation.lazy().select(
        pl.col("expected_eur").sum().alias("expected"), pl.col("billed_eur").sum().alias("billed"),
        (pl.col("billed_eur").filter(review).sum() - pl.col("expected_eur").filter(review).sum())
        .alias("unexpected"),
    )
    per_kind = billing_money(findings.lazy()).group_by("status", "kind").agg(pl.col("delta_eur").sum())
    totals, per_kind = collect(money, per_kind)
    expected, billed, unexpected = (_dec(v) for v in totals.row(0))
    sums = {(r["status"], r["kind"]): _dec(r["delta_eur"]) for r in per_kind.iter_rows(named=True)}
    steps = [Step("expected", fmt.t("bridge.expected"), expected, "start")]
    for kind in sorted(k for status, k in sums if status == "open"):
        steps.append(Step(kind, fmt.label("kind", kind), -sums["open", kind], "step"))
    waived = sum((v for (status, _), v in sums.items() if status == "waived"), ZERO)
    if waived:
        steps.append(Step("waived", fmt.t("bridge.waived"), -waived, "step"))
    if unexpected:
        steps.append(Step("review", fmt.t("bridge.review"), unexpected, "step"))
    rest = billed - expected - sum((s.amount for s in steps[1:]), ZERO)
    if rest:
        steps.append(Step("rest", fmt.t("bridge.rest"), rest, "step"))
    steps.append(Step("billed", fmt.t("bridge.billed"), billed, "end"))
    return steps


def bridge_rows(steps: list[Step], fmt: Formatter) -> list[dict[str, str]]:
    """The bridge as table rows: each step's amount with its direction word."""
    rows = []
    for s in steps:
        if s.kind == "step":
            word = fmt.t("bridge.more_billed" if s.amount > 0 else "bridge.less_billed")
            text = f"{'+' if s.amount > 0 else '−'} {fmt.money(abs(s.amount))}"
        else:
            word, text = "", fmt.money(s.amount)
        rows.append({"key": s.key, "label": s.label, "amount": text, "raw": f"{s.amount:.2f}",
                     "word": word, "kind": s.kind})
    return rows


def bridge_figure(steps: list[Step], fmt: Formatter) -> dict[str, Any]:
    """A horizontal Plotly waterfall of the steps (bar lengths as floats; every label from the
    Decimal). The value axis starts just below the lowest level, so steps of a few euros stay
    visible next to totals of tens of thousands (the table has the exact figures)."""
    measure = {"start": "absolute", "step": "relative", "end": "total"}
    levels, level = [], ZERO
    for s in steps:
        level = s.amount if s.kind != "step" else level + s.amount
        levels.append(level)
    low, high = min(levels), max(levels)
    pad = max((high - low) * Decimal("0.35"), Decimal(1))
    return {
        "data": [{
            "type": "waterfall", "orientation": "h",
            "y": [plotly_text(s.label, 32) for s in steps], "x": [float(s.amount) for s in steps],
            "measure": [measure[s.kind] for s in steps],
            "text": [fmt.money(s.amount) if s.kind != "step" else
                     ("+" if s.amount > 0 else "−") + fmt.money(abs(s.amount)) for s in steps],
            "hovertext": [s.label for s in steps],
            "textposition": "auto", "cliponaxis": False,
            "hovertemplate": "%{hovertext}: %{text}<extra></extra>",
            "connector": {"line": {"color": "#7a7a7a"}},
            "increasing": {"marker": {"color": "#D55E00"}},
            "decreasing": {"marker": {"color": "#0072B2"}},
            "totals": {"marker": {"color": "#7a7a7a"}},
        }],
        "layout": {
            "template": "none", "height": 60 + 30 * len(steps), "showlegend": False,
            "separators": fmt.plotly_separators,
            "margin": {"l": 10, "r": 10, "t": 10, "b": 30},
            "xaxis": {"automargin": True, "separatethousands": True, "gridcolor": "#d9d9d9",
                      "range": [float(max(low - pad, ZERO)), float(high + pad / 2)],
                      "title": {"text": fmt.currency}},
            "yaxis": {"automargin": True, "type": "category", "autorange": "reversed"},
            "font": {"family": "system-ui, sans-serif", "size": 12},
        },
    }
