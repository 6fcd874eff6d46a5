"""The dated price lists as one compiled ``CASE`` expression.

A price lookup is a range condition (``from <= local date <= to``); as a join against the price
table DuckDB has to evaluate it as a range join, which at 10 M time entries costs several times
the rest of the reconciliation. The lists are tiny and known before any data is read, so the
engine compiles them — like the classification rules — into a ``CASE`` that picks the period id
(``pid`` of ``policy_prices``) or the price itself in whole cents, evaluated vectorised in the same
pass.

Override lists apply when the customer's contract has one (docs/semantics.md); a customer whose
list has no period for the date gets NULL (no price in force), never the default list's price.
"""

from __future__ import annotations

from sqlglot import exp

from audit.engine.policy_tables import DEFAULT_PRICE_LIST, price_periods
from audit.engine.sql import DIALECT, lit
from audit.policy.model import Bundle


def _value_sql(period, value: str) -> str:
    """The literal a price period contributes: its price in whole cents, or its id."""
    return lit(int(period.unit_price * 100)) if value == "cents" else lit(period.pid)


def _one_list(periods, date_sql: str, value: str) -> exp.Expression:
    case = exp.Case()
    for p in periods:
        cond = f"{date_sql} BETWEEN {lit(p.valid_from)} AND {lit(p.valid_to)}"
        then = _value_sql(p, value)
        case = case.when(exp.condition(cond, dialect=DIALECT), exp.condition(then, dialect=DIALECT))
    if not periods:
        return exp.Null()
    return case


def price_case(bundle: Bundle, date_sql: str, list_sql: str | None, value: str) -> str:
    """SQL for the price in whole cents (``value="cents"``, exact: a price has at most two
    decimals) or the period id (``"pid"``) in force on ``date_sql``.

    ``list_sql`` is the expression naming the price list (``''`` = default, else a contract with
    an override); it may be None when the policy has no overrides.
    """
    if value not in ("cents", "pid"):
        raise ValueError(value)
    by_list: dict[str, list] = {}
    for p in price_periods(bundle):
        by_list.setdefault(p.price_list, []).append(p)
    default = _one_list(by_list.pop(DEFAULT_PRICE_LIST, []), date_sql, value)
    if not by_list:
        return default.sql(dialect=DIALECT)
    if list_sql is None:
        raise ValueError("the policy has contract overrides: give the price-list expression")
    outer = exp.Case()
    for name, periods in by_list.items():
        outer = outer.when(
            exp.condition(f"{list_sql} = {lit(name)}", dialect=DIALECT), _one_list(periods, date_sql, value)
        )
    return outer.else_(default).sql(dialect=DIALECT)
