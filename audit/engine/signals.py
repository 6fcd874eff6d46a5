"""Signal facts: the work behind each ticket (and ticket-month), its status history, the
classification's decision, and the money at stake — set-based, after the billing stage.

A signal whose condition reads only the ticket's own columns (and ``policy_tier``) is judged with
the classification, in ``ticket_class`` (:mod:`audit.engine.classify`). A signal that reads a
fact of :data:`audit.policy.expr.SIGNAL_FACTS` (``work.*``, ``history.*``, ``decision.*``) or has
``scope: ticket_month`` is judged here, over ``ticket_facts`` joined with the facts.

Relations created (only when the bundle has signals):

``signal_ticket``  one row per ticket: the facts over all its months, ``at_stake_units`` /
                   ``at_stake_eur`` (what it would bill if it were extended), ``min_price`` /
                   ``max_price``, and ``signal_<i>`` for each late ticket-scope signal.
``signal_month``   one row per ticket-month of ``recon`` (only when a signal has
                   ``scope: ticket_month``): the same facts for that month.

The facts come in *parts* (:data:`FACT_PARTS`), each a SELECT grouped by ticket (and month);
a part is joined only when a condition reads one of its columns, or for ``explain``, which asks
for every fact of one ticket. The ``sla`` part reads the SLA clocks (``sla_clock``,
:mod:`audit.engine.sla`, which therefore runs before this stage).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
from sqlglot import exp

from audit.contract import CLOSED_STATUSES, TABLES, duckdb_type
from audit.engine.classify import (
    SIGNAL_COLUMNS,
    compile_rule,
    facts_for,
    is_late,
    referenced_columns,
    signal_column,
)
from audit.engine.localtime import local_timestamp_sql
from audit.engine.policy_tables import DEFAULT_TIER_RULE
from audit.engine.sql import DIALECT, lit
from audit.policy.expr import SIGNAL_FACTS
from audit.policy.model import Bundle, Signal

FACT_COLUMNS = tuple(f.column for f in SIGNAL_FACTS.values())
#: the ``recon`` part's columns besides the facts (money at stake and its prices)
MONEY_COLUMNS = ("at_stake_units", "at_stake_eur", "min_price", "max_price")


@dataclass(frozen=True)
class Part:
    """A group of facts: its columns, and SQL grouped by ``ticket_id`` (+ ``month`` when
    ``by_month``) given the connection and the bundle."""

    columns: tuple[str, ...]
    #: (connection, bundle, by_month, keep: a predicate on ``ticket_id`` limiting the rows read)
    sql: Callable[[duckdb.DuckDBPyConnection, Bundle, bool, str], str]


def _optional(con, name: str) -> str:
    """An optional canonical table, or an empty relation of its columns when the connection has
    none (ingestion always creates it; a connection filled by hand may not)."""
    if con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchone()[0]:
        return name
    table = TABLES[name]
    cols = ", ".join(f"CAST(NULL AS {duckdb_type(c)}) AS {c.name}" for c in table.columns)
    return f"(SELECT {cols}, CAST(NULL AS BIGINT) AS _line WHERE false)"


def _group(by_month: bool) -> str:
    return "ticket_id, month" if by_month else "ticket_id"


def _recon_part(con, bundle: Bundle, by_month: bool, keep: str) -> str:
    """Entries, seconds, units and the money at stake, from the reconciliation (which prices
    every ticket-month's tracked time as if billable: ``units_if_billed``/``amount_if_billed``).
    A ticket's amount is NULL when one of its months has time without a price in force."""
    return f"""
        SELECT {_group(by_month)}, sum(entries) AS work_entries,
               CAST(sum(tracked_seconds) AS BIGINT) AS work_seconds,
               CAST(sum(units_if_billed) AS DECIMAL(18, 2)) AS work_units,
               CAST(sum(units_if_billed) AS DECIMAL(18, 2)) AS at_stake_units,
               CAST(CASE WHEN count(*) FILTER (WHERE amount_if_billed IS NULL) = 0
                         THEN sum(amount_if_billed) END AS DECIMAL(18, 2)) AS at_stake_eur,
               min(min_price) AS min_price, max(max_price) AS max_price
        FROM recon WHERE {keep} GROUP BY {_group(by_month)}
    """


def _agents_part(con, bundle: Bundle, by_month: bool, keep: str) -> str:
    """Distinct agents, those missing from ``agents``, and the known roles (sorted, comma-joined;
    NULL when no agent has a role). Per ticket straight from ``time_entries``: the view
    ``entry_facts`` would compute local dates and prices nobody reads here."""
    source = "entry_facts" if by_month else "time_entries"
    return f"""
        SELECT {_group(by_month)}, count(*) AS work_agents,
               count(*) FILTER (WHERE a.agent IS NULL) AS work_unknown_agents,
               {_roles_sql(con)} AS work_roles
        FROM (SELECT DISTINCT {_group(by_month)}, agent FROM {source} WHERE {keep}) e
        LEFT JOIN {_optional(con, "agents")} a ON a.agent = e.agent
        GROUP BY {", ".join("e." + c for c in _group(by_month).split(", "))}
    """


def _roles_sql(con) -> str:
    """The sorted, comma-joined distinct roles of a group's agents (``a``). The roles are few and
    known once the agents are loaded: one ``bool_or`` per role costs half of a distinct list
    aggregate (measured); with many roles, the list."""
    roles = [r for (r,) in con.execute(
        f"SELECT DISTINCT role FROM {_optional(con, 'agents')} WHERE role IS NOT NULL ORDER BY role").fetchall()]
    if len(roles) > _MAX_ROLE_COLUMNS:
        return ("nullif(array_to_string(list_sort(list(DISTINCT a.role) FILTER (WHERE a.role IS NOT NULL)),"
                " ','), '')")
    if not roles:
        return "CAST(NULL AS VARCHAR)"
    present = ", ".join(f"CASE WHEN bool_or(a.role = {lit(r)}) THEN {lit(r)} END" for r in roles)
    return f"nullif(concat_ws(',', {present}), '')"


_MAX_ROLE_COLUMNS = 32


def _history_part(con, bundle: Bundle, by_month: bool, keep: str) -> str:
    """Status changes and reopenings (a change from a closed status to any other; changes of a
    ticket in order of ``changed_at``, ties in file order). By month: the local month of the
    change."""
    closed = ", ".join(lit(s) for s in CLOSED_STATUSES)
    history = _optional(con, "ticket_status_history")
    month = ""
    if by_month:
        local = (local_timestamp_sql(con, bundle.settings.timezone, "ticket_status_history", "changed_at")
                 if history == "ticket_status_history" else f"timezone({lit(bundle.settings.timezone)}, changed_at)")
        month = f", strftime(CAST({local} AS DATE), '%Y-%m') AS month"
    return f"""
        SELECT {_group(by_month)}, count(*) AS history_status_changes,
               count(*) FILTER (WHERE lower(previous) IN ({closed}) AND lower(status) NOT IN ({closed}))
                   AS history_reopenings
        FROM (SELECT ticket_id, status{month},
                     lag(status) OVER (PARTITION BY ticket_id ORDER BY changed_at, _line) AS previous
              FROM {history} WHERE {keep})
        GROUP BY {_group(by_month)}
    """


def _decision_part(con, bundle: Bundle, by_month: bool, keep: str = "true") -> str:
    """The deciding rule and its clause (NULL when unclassified; the clause NULL when empty).
    Per ticket; the month relation takes it from the ticket."""
    return f"""
        SELECT tc.ticket_id, CASE WHEN r.idx = 0 THEN {lit(DEFAULT_TIER_RULE)} ELSE r.rule_id END AS decision_rule,
               nullif(r.clause, '') AS decision_clause
        FROM ticket_class tc LEFT JOIN policy_rules r ON r.idx = tc.rule_idx
        WHERE {keep}
    """


def _minutes_sql(seconds: str) -> str:
    """Whole ``seconds`` as minutes: exact integer arithmetic, cut (not rounded) to 4 decimals."""
    return (f"CAST(CAST({seconds} * 10000 // 60 AS DECIMAL(18, 0))"
            " * CAST(0.0001 AS DECIMAL(5, 4)) AS DECIMAL(18, 4))")


def _has_view(con, name: str) -> bool:
    return con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [name]).fetchone()[0] > 0


def _sla_part(con, bundle: Bundle, by_month: bool, keep: str = "true") -> str:
    """Per ticket under an SLA target: the business minutes to the first response and to the
    resolution (pauses subtracted; NULL while not answered / not resolved) and whether each
    target is breached (measured > target, an open ticket measured to the as-of instant; NULL
    without a target). Per ticket; the month relation takes it from the ticket."""
    if not _has_view(con, "sla_clock"):  # no sla section: every SLA fact is NULL
        return ("SELECT CAST(NULL AS VARCHAR) AS ticket_id, CAST(NULL AS DECIMAL(18, 4)) AS sla_first_response_minutes,"
                " CAST(NULL AS DECIMAL(18, 4)) AS sla_resolution_minutes, CAST(NULL AS BOOLEAN) AS sla_first_response_breached,"
                " CAST(NULL AS BOOLEAN) AS sla_resolution_breached WHERE false")

    def of(target: str) -> tuple[str, str]:
        done = f"target = {lit(target)} AND done_at IS NOT NULL"
        minutes = _minutes_sql(f"max(measured_secs) FILTER (WHERE {done})")
        breached = (f"CASE WHEN count(*) FILTER (WHERE target = {lit(target)}) > 0 THEN "
                    f"coalesce(bool_or(measured_secs > target_min * 60) FILTER (WHERE target = {lit(target)}), false) END")
        return minutes, breached

    fr, res = of("first_response"), of("resolution")
    return f"""
        SELECT ticket_id, {fr[0]} AS sla_first_response_minutes, {res[0]} AS sla_resolution_minutes,
               {fr[1]} AS sla_first_response_breached, {res[1]} AS sla_resolution_breached
        FROM (SELECT b.ticket_id, 'first_response' AS target, b.first_response_min AS target_min,
                     b.first_response_at AS done_at
              FROM sla_base b WHERE {keep}
              UNION ALL
              SELECT b.ticket_id, 'resolution', b.resolution_min, b.resolved_at
              FROM sla_base b WHERE {keep}) t
        LEFT JOIN (SELECT ticket_id AS c_ticket, target AS c_target, measured_secs FROM sla_clock
                   WHERE {keep}) c ON c.c_ticket = t.ticket_id AND c.c_target = t.target
        GROUP BY ticket_id
    """


#: name -> part. Zero when absent (a ticket without entries has 0 entries), except the texts.
FACT_PARTS: dict[str, Part] = {
    "recon": Part(("work_entries", "work_seconds", "work_units", *MONEY_COLUMNS), _recon_part),
    "agents": Part(("work_agents", "work_unknown_agents", "work_roles"), _agents_part),
    "history": Part(("history_status_changes", "history_reopenings"), _history_part),
    "decision": Part(("decision_rule", "decision_clause"), _decision_part),
    "sla": Part(("sla_first_response_minutes", "sla_resolution_minutes", "sla_first_response_breached",
                 "sla_resolution_breached"), _sla_part),
}
_PER_TICKET_ONLY = {"decision", "sla"}
_NULLABLE = {"work_roles", "decision_rule", "decision_clause", "min_price", "max_price", "at_stake_eur",
             *FACT_PARTS["sla"].columns}


def facts_sql(con: duckdb.DuckDBPyConnection, bundle: Bundle, by_month: bool,
              parts: set[str] | None = None, where: str = "", only: str | None = None) -> str:
    """SELECT of the facts, one row per ticket (``by_month``: per ticket-month of ``recon``),
    with every column of :data:`FACT_COLUMNS` (a part not asked for gives NULLs) and
    :data:`MONEY_COLUMNS`. ``where`` filters the base rows (``b.ticket_id = …``); ``only`` names
    a relation of the tickets wanted (every part then reads only their rows)."""
    wanted = set(FACT_PARTS) if parts is None else parts | {"recon"}
    keep = f"ticket_id IN (SELECT ticket_id FROM {only})" if only else "true"
    base = (f"SELECT ticket_id, month FROM recon WHERE {keep}" if by_month
            else f"SELECT ticket_id FROM ticket_class WHERE {keep}")
    keys = _group(by_month).split(", ")
    cols, joins = [], []
    for name, part in FACT_PARTS.items():
        alias = f"p_{name}"
        if name in wanted:
            on = ["ticket_id"] if name in _PER_TICKET_ONLY else keys
            joins.append(f"LEFT JOIN ({part.sql(con, bundle, by_month and name not in _PER_TICKET_ONLY, keep)}) {alias} "
                         f"ON {' AND '.join(f'{alias}.{k} = b.{k}' for k in on)}")
        for c in part.columns:
            if name not in wanted:
                value = "CAST(NULL AS VARCHAR)" if c in _NULLABLE else "CAST(NULL AS BIGINT)"
            elif c == "at_stake_eur":  # 0 without time; NULL: time without a price in force
                value = f"CASE WHEN {alias}.ticket_id IS NULL THEN 0 ELSE {alias}.{c} END"
            elif c in _NULLABLE:
                value = f"{alias}.{c}"
            else:
                value = f"coalesce({alias}.{c}, 0)"
            cols.append(f"{value} AS {c}")
    cols.append(f"{_minutes_sql('coalesce(p_recon.work_seconds, 0)')} AS work_minutes")
    return (f"SELECT b.*, {', '.join(cols)} FROM ({base}) b {' '.join(joins)}"
            + (f" WHERE {where}" if where else ""))


# --------------------------------------------------------------------------------------------
# Which signals are judged here


def signal_condition(signal: Signal) -> exp.Expression:
    return compile_rule(signal.when, signal.loc, SIGNAL_COLUMNS)


def parts_read(condition: exp.Expression) -> set[str]:
    """The fact parts a compiled condition reads."""
    cols = referenced_columns(condition)
    out = {name for name, part in FACT_PARTS.items() if cols & set(part.columns)}
    if "work_minutes" in cols:
        out.add("recon")
    return out


def _cheap(condition: exp.Expression) -> exp.Expression | None:
    """The top-level ``AND`` terms of ``condition`` that read no work or history fact (the
    ticket's columns, ``policy_tier``, the decision): a test every ticket can take before any
    fact is aggregated. None when there is no such term."""
    condition = condition.unnest()
    terms = condition.flatten() if isinstance(condition, exp.And) else [condition]
    costly = set(FACT_COLUMNS) - set(FACT_PARTS["decision"].columns)
    cheap = [t for t in terms if not referenced_columns(t) & costly]
    return exp.and_(*cheap) if cheap else None


def _candidates(con, bundle: Bundle, name: str, signals: list[tuple[int, Signal]],
                early: list[int]) -> str | None:
    """Create ``name``: the tickets a late signal of ``signals`` may fire on (those passing its
    cheap terms) and those an early signal (``early``: their indexes) fired on. None when every
    ticket may matter (a signal has no cheap term)."""
    tests = []
    for _, signal in signals:
        cheap = _cheap(signal_condition(signal))
        if cheap is None:
            return None
        tests.append(f"({cheap.sql(dialect=DIALECT)})")
    tests += [f"_early_{i}" for i in early]
    if not tests:
        return None
    wanted = set().union(*(referenced_columns(signal_condition(s)) for _, s in signals))
    early_cols = "".join(f", tc.{signal_column(i)} AS _early_{i}" for i in early)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {name} AS
        SELECT ticket_id FROM (
            SELECT t.*, tc.policy_tier{early_cols}, d.decision_rule, d.decision_clause
            FROM {facts_for(con, wanted)} t JOIN ticket_class tc USING (ticket_id)
            LEFT JOIN ({_decision_part(con, bundle, False)}) d USING (ticket_id)
        ) AS ticket_facts
        WHERE {" OR ".join(f"coalesce({t}, false)" for t in tests)}
    """)
    return name


def _judged(con, bundle: Bundle, by_month: bool, signals: list[tuple[int, Signal]],
            only: str | None) -> str:
    """The facts relation with a ``signal_<i>`` column per signal of ``signals``."""
    conditions = [(i, signal_condition(s)) for i, s in signals]
    parts: set[str] = set()
    wanted: set[str] = set()
    for _, cond in conditions:
        parts |= parts_read(cond)
        wanted |= referenced_columns(cond)
    facts = facts_sql(con, bundle, by_month, parts, only=only)
    if not conditions:
        return facts
    fired = "".join(
        f", coalesce(({cond.sql(dialect=DIALECT)}), false) AS {signal_column(i)}" for i, cond in conditions
    )
    return f"""
        SELECT f.*{fired}
        FROM ({facts}) f
        JOIN (SELECT t.*, tc.policy_tier FROM {facts_for(con, wanted)} t
              JOIN ticket_class tc USING (ticket_id)) AS ticket_facts USING (ticket_id)
    """


def create_signal_facts(con: duckdb.DuckDBPyConnection, bundle: Bundle) -> None:
    """Create ``signal_ticket`` (and ``signal_month``) when the bundle has signals.

    Only for the tickets that can matter: a late signal's cheap terms (:func:`_cheap`) pick its
    candidates, an early signal's hits need their money at stake; the facts of every other
    ticket are never aggregated (with the default policy: the how-to tickets, a fifth)."""
    if not bundle.signals:
        return
    late = [(i, s) for i, s in enumerate(bundle.signals) if is_late(s)]
    early = [i for i, s in enumerate(bundle.signals) if not is_late(s)]
    per_ticket = [(i, s) for i, s in late if s.scope == "ticket"]
    per_month = [(i, s) for i, s in late if s.scope == "ticket_month"]
    only = _candidates(con, bundle, "signal_candidates", per_ticket, early)
    con.execute(f"CREATE OR REPLACE TABLE signal_ticket AS {_judged(con, bundle, False, per_ticket, only)}")
    if per_month:
        only = _candidates(con, bundle, "signal_month_candidates", per_month, [])
        con.execute(f"CREATE OR REPLACE TABLE signal_month AS {_judged(con, bundle, True, per_month, only)}")
    for name in ("signal_candidates", "signal_month_candidates"):
        con.execute(f"DROP TABLE IF EXISTS {name}")
