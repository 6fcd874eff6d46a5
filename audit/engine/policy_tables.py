"""The policy bundle as small DuckDB relations the set-based stages join against.

Everything EUserv-specific (tiers and whether they are billable, rules, price lists, contract
overrides, waivers) enters the engine here, as rows of temp tables filled with bound parameters,
or — where a per-row lookup would cost a join over millions of rows — as ``CASE`` expressions
whose values are literals rendered by :func:`~audit.engine.sql.lit` (the rules' conditions, the
price lists in :mod:`~audit.engine.prices`, the waivers in :mod:`~audit.engine.findings`).
Either way the SQL of the later stages only knows the *shape* of the policy.

Relations created:

``policy_tiers(tier_id, billable)``
``policy_rules(idx, rule_id, tier, clause, condition, policy_file, policy_line)`` in rule order;
    idx 0 is the ``default_tier`` (no condition) when the policy sets one
``policy_prices(pid, price_list, valid_from, valid_to, unit_price, rule_id, policy_file, policy_line)``
    ``price_list`` is ``''`` for the default list, else the contract name of an override
``policy_waivers(ord, waiver_id, ticket, customer, kind, month, expires_on)`` in policy order
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb

from audit.engine.sql import OPEN_END, create_values_table
from audit.errors import Location
from audit.policy.model import Bundle, PricePeriod

#: Key of the default price list in ``policy_prices.price_list``.
DEFAULT_PRICE_LIST = ""

#: ``rule_id`` a ticket gets when the policy's ``default_tier`` decided it (no rule matched).
DEFAULT_TIER_RULE = "classification.default_tier"


def where(item: Any, bundle: Bundle, section: str) -> Location:
    """The location of a policy item, falling back to its section, then to the bundle root."""
    loc = getattr(item, "loc", None)
    if loc is not None:
        return loc
    return bundle.section_locs.get(section) or Location(file="", line=0)


def section_loc(bundle: Bundle, section: str) -> Location:
    """Location of a top-level section (``billing``, ``classification`` …)."""
    return bundle.section_locs.get(section) or Location(file="", line=0)


def price_rule_id(period: PricePeriod, contract: str | None) -> str:
    """A stable, readable id of a price period: stays the same when other periods are added."""
    base = "billing.prices" if contract is None else f"billing.overrides[{contract}].prices"
    return f"{base}@{period.valid_from.isoformat()}"


@dataclass(frozen=True)
class PriceRow:
    """One price period of one list, numbered (``pid``) in policy order."""

    pid: int
    price_list: str
    valid_from: dt.date
    valid_to: dt.date
    unit_price: Decimal
    rule_id: str
    policy_file: str
    policy_line: int


def price_periods(bundle: Bundle) -> list[PriceRow]:
    """Every price period of the default list and the contract overrides."""
    lists: list[tuple[str | None, list[PricePeriod]]] = [(None, list(bundle.billing.prices))]
    lists += [(o.contract, list(o.prices)) for o in bundle.billing.overrides]
    rows = []
    for contract, periods in lists:
        for p in periods:
            loc = where(p, bundle, "billing")
            rows.append(
                PriceRow(
                    pid=len(rows) + 1,
                    price_list=DEFAULT_PRICE_LIST if contract is None else contract,
                    valid_from=p.valid_from,
                    valid_to=p.valid_to or OPEN_END,
                    unit_price=p.unit_price,
                    rule_id=price_rule_id(p, contract),
                    policy_file=loc.file,
                    policy_line=loc.line,
                )
            )
    return rows


def create_policy_tables(con: duckdb.DuckDBPyConnection, bundle: Bundle) -> None:
    """Create the ``policy_*`` temp tables for ``bundle`` on ``con``."""
    create_values_table(
        con,
        "policy_tiers",
        [("tier_id", "VARCHAR"), ("billable", "BOOLEAN")],
        [(t.id, t.billable) for t in bundle.tiers],
    )

    rules = []
    for i, r in enumerate(bundle.classification.rules, start=1):
        loc = where(r, bundle, "classification")
        rules.append((i, r.id, r.tier, r.clause, r.when, loc.file, loc.line))
    if bundle.classification.default_tier is not None:  # idx 0: "no rule matched, default applies"
        loc = section_loc(bundle, "classification")
        rules.append((0, DEFAULT_TIER_RULE, bundle.classification.default_tier, "", None, loc.file, loc.line))
    create_values_table(
        con,
        "policy_rules",
        [
            ("idx", "INTEGER"),
            ("rule_id", "VARCHAR"),
            ("tier", "VARCHAR"),
            ("clause", "VARCHAR"),
            ("condition", "VARCHAR"),
            ("policy_file", "VARCHAR"),
            ("policy_line", "INTEGER"),
        ],
        rules,
    )

    create_values_table(
        con,
        "policy_prices",
        [
            ("pid", "INTEGER"),
            ("price_list", "VARCHAR"),
            ("valid_from", "DATE"),
            ("valid_to", "DATE"),
            ("unit_price", "DECIMAL(18, 2)"),
            ("rule_id", "VARCHAR"),
            ("policy_file", "VARCHAR"),
            ("policy_line", "INTEGER"),
        ],
        [
            (p.pid, p.price_list, p.valid_from, p.valid_to, p.unit_price, p.rule_id, p.policy_file, p.policy_line)
            for p in price_periods(bundle)
        ],
    )

    create_values_table(
        con,
        "policy_waivers",
        [
            ("ord", "INTEGER"),
            ("waiver_id", "VARCHAR"),
            ("ticket", "VARCHAR"),
            ("customer", "VARCHAR"),
            ("kind", "VARCHAR"),
            ("month", "VARCHAR"),
            ("expires_on", "DATE"),
        ],
        [
            (i, w.id, w.scope.ticket, w.scope.customer, w.scope.kind, w.scope.month, w.expires_on)
            for i, w in enumerate(bundle.waivers, start=1)
        ],
    )
