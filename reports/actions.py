"""The billing action list: what to invoice and what to credit, per customer and ticket-month.

One row per reconciliation row (ticket-month) that needs billing to act:

- ``invoice``: ``delta_eur > 0`` (revenue not invoiced),
- ``credit``: ``delta_eur < 0`` (over-billed, refund),
- ``waived``: the money is covered by an approved waiver (every finding with money on that
  ticket-month is waived); listed so nothing is silent, excluded from the amounts to act on,
- ``review``: ``delta_eur`` is NULL (unclassified or unpriced ticket-month): a person decides.

Amounts are the reconciliation's ``delta_eur`` (never sums of findings, docs/semantics.md), so a
ticket-month with two findings is one action. ``actions.csv`` holds every row; the HTML page
shows the biggest customers first and may stop after ``limit`` rows. The CSV is written by
:func:`audit.outputs.csv_text`, so it neutralises formula text exactly as findings.csv does.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from audit.outputs import csv_text

CSV_COLUMNS = (
    "customer_id", "customer_name", "ticket_id", "month", "action", "policy_tier",
    "recorded_tier", "expected_units", "expected_eur", "billed_units", "billed_eur", "delta_eur",
    "invoice_ids", "waiver_ids", "explanation",
)
ZERO = Decimal("0.00")


def action_rows(reconciliation: pl.DataFrame, findings: pl.DataFrame) -> pl.DataFrame:
    """Ticket-months billing must act on, with their action, sorted by customer, ticket, month."""
    money = findings.filter(pl.col("delta_eur").is_not_null() & (pl.col("delta_eur") != 0))
    waivers = pl.col("waiver_id").drop_nulls().unique().sort().str.join(",")
    per_tm = money.group_by("ticket_id", "month").agg(
        (pl.col("status") == "open").any().alias("has_open"),
        pl.when(waivers != "").then(waivers).alias("waiver_ids"),
    )
    delta = pl.col("delta_eur")
    action = (
        pl.when(delta.is_null()).then(pl.lit("review"))
        .when(pl.col("waiver_ids").is_not_null() & ~pl.col("has_open").fill_null(False))
        .then(pl.lit("waived"))
        .when(delta > 0).then(pl.lit("invoice"))
        .otherwise(pl.lit("credit"))
    )
    return (
        reconciliation.filter(delta.is_null() | (delta != 0))
        .join(per_tm, on=["ticket_id", "month"], how="left")
        .with_columns(action.alias("action"))
        .select(CSV_COLUMNS)
        .sort("customer_id", "ticket_id", "month")
    )


def actions_csv(actions: pl.DataFrame) -> str:
    """The action list as CSV, written like findings.csv (UTF-8, ``,``, ``\\n``, money with a
    decimal point, text cells that a spreadsheet would run as a formula prefixed with ``'``)."""
    return csv_text(actions.select(CSV_COLUMNS))


@dataclass(frozen=True)
class CustomerActions:
    """One customer's block in the HTML action list, with its subtotals over *all* its rows."""

    customer_id: str
    customer_name: str
    rows: list[dict]
    hidden_rows: int
    invoice_eur: Decimal
    credit_eur: Decimal
    waived_eur: Decimal
    review: int


@dataclass(frozen=True)
class ActionList:
    customers: list[CustomerActions]
    invoice_eur: Decimal
    credit_eur: Decimal
    waived_eur: Decimal
    review: int
    total_rows: int
    shown_rows: int


def _total(rows: list[dict], action: str) -> Decimal:
    return sum((r["delta_eur"] for r in rows if r["action"] == action), ZERO)


def action_list(actions: pl.DataFrame, limit: int) -> ActionList:
    """Group by customer, biggest money first (invoice + |credit|), at most ``limit`` rows shown."""
    by_customer: dict[str, list[dict]] = {}
    for row in actions.iter_rows(named=True):
        by_customer.setdefault(row["customer_id"], []).append(row)

    blocks = []
    for cid, rows in by_customer.items():
        inv, cred = _total(rows, "invoice"), _total(rows, "credit")
        blocks.append((-(inv - cred), cid, rows, inv, cred))
    blocks.sort(key=lambda b: (b[0], b[1]))

    customers, shown = [], 0
    for _, cid, rows, inv, cred in blocks:
        visible = rows[: max(0, limit - shown)]
        shown += len(visible)
        if not visible:
            continue
        customers.append(CustomerActions(
            customer_id=cid, customer_name=rows[0]["customer_name"], rows=visible,
            hidden_rows=len(rows) - len(visible), invoice_eur=inv, credit_eur=cred,
            waived_eur=_total(rows, "waived"),
            review=sum(1 for r in rows if r["action"] == "review"),
        ))
    all_rows = actions.to_dicts()
    return ActionList(
        customers=customers,
        invoice_eur=_total(all_rows, "invoice"),
        credit_eur=_total(all_rows, "credit"),
        waived_eur=_total(all_rows, "waived"),
        review=sum(1 for r in all_rows if r["action"] == "review"),
        total_rows=actions.height,
        shown_rows=shown,
    )
