"""Classification: which tier the policy gives each ticket, and which rule decided it.

``ticket_facts`` is the relation the policy's conditions are compiled against
(:func:`audit.policy.expr.compile_condition`): one row per ticket, the ticket's own columns
unprefixed, ``service_<col>`` for its service and ``customer_<col>`` for its customer (LEFT JOINs,
so a ticket without a service sees NULLs, and a NULL condition counts as false).

All rules become **one** ``CASE`` expression evaluated in a single pass: the first rule whose
condition is TRUE wins, exactly the "first match" semantics of docs/semantics.md, and DuckDB
evaluates it vectorised instead of one query per rule.
"""

from __future__ import annotations

import functools

import duckdb
import sqlglot
from sqlglot import exp

from audit.engine.localtime import local_timestamp_sql
from audit.engine.sql import DIALECT, ident, shared_relation
from audit.errors import Location
from audit.policy.expr import SIGNAL_FACTS
from audit.policy.model import Bundle

#: Extra columns the signals' conditions may use on top of ``ticket_facts`` (the facts are
#: computed by :mod:`audit.engine.signals`).
SIGNAL_COLUMNS = ("policy_tier", *SIGNAL_FACTS)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The user-visible columns of a loaded table (bookkeeping columns start with ``_``)."""
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index",
        [table],
    ).fetchall()
    return [r[0] for r in rows if not r[0].startswith("_")]


def _facts_select(con: duckdb.DuckDBPyConnection, wanted: set[str] | None = None) -> str:
    """``SELECT … FROM tickets t [LEFT JOIN services s] [LEFT JOIN customers c]`` with the
    ``ticket_facts`` column names; ``wanted`` limits the prefixed columns (and so the joins) to
    the ones a condition reads, None takes them all."""
    cols = [f"t.{ident(c)}" for c in _columns(con, "tickets")]
    joins = []
    for prefix, table, alias, key in (("service_", "services", "s", "service_id"),
                                      ("customer_", "customers", "c", "customer_id")):
        picked = [c for c in _columns(con, table) if wanted is None or prefix + c in wanted]
        if picked:
            cols += [f"{alias}.{ident(c)} AS {ident(prefix + c)}" for c in picked]
            joins.append(f"LEFT JOIN {table} {alias} ON {alias}.{key} = t.{key}")
    return f"SELECT {', '.join(cols)} FROM tickets t {' '.join(joins)}"


def create_ticket_facts(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``ticket_facts`` view: tickets joined with their service and customer, prefixed.

    ``explain`` reads it; the classification and the signals read narrower versions of it
    (:func:`facts_for`) that join only the tables their conditions use.
    """
    con.execute(f"CREATE OR REPLACE {shared_relation(con)} ticket_facts AS {_facts_select(con)}")


def referenced_columns(*conditions: exp.Expression) -> set[str]:
    """The ``ticket_facts`` columns the compiled conditions read."""
    return {col.name for cond in conditions for col in cond.find_all(exp.Column)}


def facts_for(con: duckdb.DuckDBPyConnection, wanted: set[str]) -> str:
    """A subquery with the ``ticket_facts`` columns in ``wanted`` (plus every ticket column),
    joining services/customers only when a wanted column comes from them: skipping a join
    nobody reads makes the classification pass several times cheaper."""
    return f"({_facts_select(con, wanted)})"


def compile_rule(text: str, loc: Location | None, extra_columns: tuple[str, ...] = ()) -> exp.Expression:
    """A policy condition as a sqlglot boolean expression over ``ticket_facts`` (a fresh copy:
    the stages ask for the same conditions several times, the checking and parsing is done once)."""
    return _compiled(text, loc, tuple(extra_columns)).copy()


@functools.lru_cache(maxsize=1024)
def _compiled(text: str, loc: Location | None, extra_columns: tuple[str, ...]) -> exp.Expression:
    from audit.policy.expr import compile_condition

    sql = compile_condition(text, loc=loc or Location(""), extra_columns=extra_columns)
    return sqlglot.parse_one(sql, read=DIALECT)


def decision_expression(bundle: Bundle) -> exp.Expression:
    """``CASE WHEN <rule 1> THEN 1 WHEN <rule 2> THEN 2 … ELSE 0 END``: the index of the deciding
    rule in ``policy_rules``; the ``ELSE`` is 0 (the default tier) or NULL (unclassified)."""
    otherwise = exp.Literal.number(0) if bundle.classification.default_tier is not None else exp.Null()
    rules = bundle.classification.rules
    if not rules:
        return exp.cast(otherwise, "INTEGER")
    case = exp.Case()
    for i, rule in enumerate(rules, start=1):
        case = case.when(exp.paren(compile_rule(rule.when, rule.loc)), exp.Literal.number(i))
    return case.else_(otherwise)


def is_late(signal) -> bool:
    """Whether a signal is judged after billing by :mod:`audit.engine.signals` (it reads a work,
    history or decision fact, or is judged per ticket-month) rather than here, with the rules."""
    if signal.scope == "ticket_month":
        return True
    condition = compile_rule(signal.when, signal.loc, SIGNAL_COLUMNS)
    return bool(referenced_columns(condition) & {f.column for f in SIGNAL_FACTS.values()})


def opened_month_sql(alias: str) -> str:
    """The ``YYYY-MM`` of the local month a ``ticket_class`` row (``alias``) was opened in."""
    return f"strftime({alias}.opened_month_start, '%Y-%m')"


def signal_column(index: int) -> str:
    """The ``ticket_class`` column telling whether signal ``index`` (its place in the bundle)
    fires on the ticket."""
    return f"signal_{index}"


def fires_sql(condition: exp.Expression) -> str:
    """SQL that is TRUE where ``condition`` is TRUE and FALSE otherwise (NULL included), as a
    projection. Its top-level ``AND`` becomes nested ``CASE``s: DuckDB evaluates a ``THEN`` only
    on the rows its ``WHEN`` let through, as a ``WHERE`` would, so a cheap first test (``tier =
    'standard'``) spares the costly ones (a regular expression) on the rows it rules out."""
    condition = condition.unnest()  # without enclosing parentheses
    *tests, last = condition.flatten() if isinstance(condition, exp.And) else [condition]
    sql = f"coalesce(({last.sql(dialect=DIALECT)}), false)"
    for test in reversed(tests):
        sql = f"CASE WHEN ({test.sql(dialect=DIALECT)}) THEN {sql} ELSE false END"
    return sql


def create_ticket_class(con: duckdb.DuckDBPyConnection, bundle: Bundle) -> None:
    """Create ``ticket_class`` (one row per ticket, narrow: it is read by every later stage; the
    messages read it with the rule's and the customer's texts, ``ticket_info`` of
    :mod:`audit.engine.render`).

    ``ticket_class``: ticket_id, customer_id, recorded_tier, policy_tier, billable (NULL when
    unclassified), rule_idx (into ``policy_rules``; NULL when unclassified), opened_month_start
    (first day of the local month the ticket was opened in, a DATE: cheaper to store than its
    text), ``signal_<i>`` (BOOLEAN) per signal of the bundle that reads no work fact (the others
    are judged by :mod:`audit.engine.signals`), and price_list (only when contracts
    have price lists of their own; ``''`` = the default list). The signals are judged
    in the same pass as the rules (their conditions may read ``policy_tier``): one read of the
    tickets instead of one per signal.
    """
    opened_local = local_timestamp_sql(con, bundle.settings.timezone, "tickets", "opened_at", "d.opened_at")
    decision = decision_expression(bundle)
    # signals reading work facts (or per ticket-month) are judged after billing (engine.signals)
    early = [(i, compile_rule(s.when, s.loc, SIGNAL_COLUMNS)) for i, s in enumerate(bundle.signals)
             if not is_late(s)]
    wanted = referenced_columns(decision, *(cond for _, cond in early))
    if bundle.billing.overrides:
        wanted |= {"customer_contract"}
        contract = "customer_contract"
        price_list = ",\n            coalesce(d._override, '') AS price_list"
    else:
        # No contract has its own price list: no price_list column (every one would be ''), and
        # no join with customers that only fetched the contract (unless a rule reads customers).
        contract, price_list = "CAST(NULL AS VARCHAR)", ""
    fired = "".join(f",\n            {fires_sql(cond)} AS {signal_column(i)}" for i, cond in early)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE ticket_class AS
        WITH decided AS (
            SELECT *, {contract} AS _contract, {decision.sql(dialect=DIALECT)} AS _rule_idx
            FROM {facts_for(con, wanted)} AS ticket_facts
        ),
        overrides AS (
            SELECT DISTINCT price_list FROM policy_prices WHERE price_list <> ''
        ),
        judged AS (
            SELECT d.*, r.tier AS policy_tier, pt.billable AS _billable, o.price_list AS _override
            FROM decided d
            LEFT JOIN policy_rules r ON r.idx = d._rule_idx
            LEFT JOIN policy_tiers pt ON pt.tier_id = r.tier
            LEFT JOIN overrides o ON o.price_list = d._contract
        )
        SELECT
            d.ticket_id,
            d.customer_id,
            d.tier AS recorded_tier,
            d.policy_tier,
            d._billable AS billable,
            d._rule_idx AS rule_idx,
            date_trunc('month', CAST({opened_local} AS DATE)) AS opened_month_start{fired}{price_list}
        FROM judged d
        """
    )
