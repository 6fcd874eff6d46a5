"""The findings table: the top N findings by money, and the choices for its filters.

A run can have 100 000 findings; a page with all of them would take a browser minutes to draw
and nobody reads it. The page carries the ``top_n`` findings with the largest ``|delta_eur|``
(then the most severe), and says how many more are in findings.csv. The order is total — ties
are broken down to ``finding_id`` — so two renders of the same run list the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from audit.policy.model import SEVERITY_ORDER
from reports.load import Table, collect

SORT_KEYS = ("_abs", "_sev", "month", "customer_id", "ticket_id", "kind", "finding_id")


@dataclass(frozen=True)
class FindingsView:
    rows: list[dict]
    total: int
    kinds: list[str]
    severities: list[str]
    statuses: list[str]
    customers: list[tuple[str, str]]  # (customer_id, customer_name)

    @property
    def hidden(self) -> int:
        return self.total - len(self.rows)


def top_findings(findings: Table, top_n: int,
                 fill: Callable[[pl.DataFrame], pl.DataFrame] | None = None) -> FindingsView:
    """The ``top_n`` findings by ``|delta_eur|`` desc (NULL last), severity desc, then identity.

    ``fill``: adds what the shown rows need beyond ``findings`` (their ``text``, read for them
    alone when the run was loaded without its messages)."""
    money = pl.col("delta_eur").abs()
    # First the |delta_eur| of the top_n-th finding with money (one column read): no finding
    # below it can be shown, so the sort sees the few findings at or above it, not every one.
    first = findings.lazy().select(pl.len().alias("total"), money.count().alias("with_money"),
                                   money.top_k(max(top_n, 1)).min().alias("least"))
    total, with_money, least = collect(first)[0].row(0)
    ranked = findings.lazy()
    if 0 < top_n <= with_money:
        ranked = ranked.filter(money >= least)
    top = ranked.with_columns(
        money.alias("_abs"),
        pl.col("severity").replace_strict(SEVERITY_ORDER, default=-1, return_dtype=pl.Int8)
        .alias("_sev"),
    ).sort(  # sort + head in one plan: a top-k, not a sorted copy
        list(SORT_KEYS),
        descending=[True, True, False, False, False, False, False],
        nulls_last=True,
    ).head(top_n).drop("_abs", "_sev")
    top = collect(top)[0]
    rows = (fill(top) if fill is not None else top).to_dicts()
    severities = sorted({r["severity"] for r in rows}, key=lambda s: -SEVERITY_ORDER.get(s, -1))
    return FindingsView(
        rows=rows,
        total=int(total),
        kinds=sorted({r["kind"] for r in rows}),
        severities=severities,
        statuses=sorted({r["status"] for r in rows}),
        customers=sorted({(r["customer_id"], r["customer_name"]) for r in rows}),
    )
