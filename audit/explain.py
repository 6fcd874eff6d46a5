"""``support-audit explain``: how one ticket was judged, step by step, in plain text.

It runs the same engine as ``run`` (so it can never disagree with it) and then reads the engine's
relations for the one ticket: the facts the rules saw, every classification rule in order with its
condition and its value (TRUE / FALSE / NULL) up to the deciding one, the recorded versus the
policy tier, per month each time entry's seconds → units → price → amount, the invoice lines, the
reconciliation and the findings with their status and waiver.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from audit.engine import evaluate
from audit.engine.classify import SIGNAL_COLUMNS, compile_rule
from audit.engine.render import findings_query, render_texts
from audit.engine.sql import DIALECT
from audit.errors import UsageError
from audit.policy.model import Bundle


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _truth(value: Any) -> str:
    return "NULL" if value is None else ("TRUE" if value else "FALSE")


def _v(value: Any, tz: str | None = None) -> str:
    """A fact as text; instants are shown in the policy's time zone (what the months use)."""
    if value is None:
        return "NULL"
    if isinstance(value, dt.datetime) and value.tzinfo is not None and tz:
        return f"{value.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M:%S} {tz}"
    return str(value)


def _eur(value: Any) -> str:
    return "n/a" if value is None else f"{value} €"


def _unknown_ticket(con, ingest, ticket_id: str) -> UsageError:
    """An actionable error: was the ticket quarantined, or is the id simply not there?"""
    hint = ""
    quarantine = getattr(ingest, "quarantine", None)
    if quarantine is not None and quarantine.num_rows:
        import polars as pl

        q = pl.from_arrow(quarantine)
        hit = q.filter((pl.col("table") == "tickets") & pl.col("raw").str.contains(ticket_id, literal=True))
        if hit.height:
            r = hit.row(0, named=True)
            hint = f"it was quarantined: {r['source_file']}:{r['line']}: {r['reason']}"
    if not hint:
        sample = [r[0] for r in con.execute("SELECT ticket_id FROM tickets ORDER BY ticket_id LIMIT 3").fetchall()]
        hint = "check the id" + (f"; loaded tickets look like {', '.join(sample)}" if sample else "")
    return UsageError(f"ticket {ticket_id!r} is not in the loaded data ({hint})")


def _classification_lines(con, bundle: Bundle, ticket_id: str, tc: dict[str, Any]) -> list[str]:
    rules = bundle.classification.rules
    out = ["", "Classification (rules in order; the first TRUE decides, NULL counts as false):"]
    values: list[Any] = []
    if rules:
        cols = ", ".join(
            f"({compile_rule(r.when, r.loc).sql(dialect=DIALECT)}) AS r{i}" for i, r in enumerate(rules)
        )
        values = list(con.execute(f"SELECT {cols} FROM ticket_facts WHERE ticket_id = ?", [ticket_id]).fetchall()[0])
    decided = False
    for i, (rule, value) in enumerate(zip(rules, values, strict=True), start=1):
        where = f"{rule.loc}" if rule.loc else ""
        head = f"  {i:>2}. {rule.id}" + (f" ({rule.clause})" if rule.clause else "") + f" → {rule.tier}"
        if decided:
            out.append(f"{head}: not evaluated, an earlier rule decided")
            continue
        out.append(f"{head}  [{where}]")
        out.append(f"      when {rule.when.strip()}  ⇒ {_truth(value)}" + ("  ← decides" if value else ""))
        decided = bool(value)
    if not decided:
        default = bundle.classification.default_tier
        out.append(
            f"  no rule matched: default_tier {default} applies" if default
            else "  no rule matched and there is no default_tier: the ticket is unclassified"
        )
    billable = {True: "billable", False: "not billable", None: "—"}[tc["billable"]]
    out.append(
        f"Recorded tier: {tc['recorded_tier']}; policy tier: {_v(tc['policy_tier'])} ({billable})"
        + ("  → differs" if tc["policy_tier"] and tc["policy_tier"] != tc["recorded_tier"] else "")
    )
    out += _signal_lines(con, bundle, ticket_id)
    return out


def _signal_lines(con, bundle: Bundle, ticket_id: str) -> list[str]:
    """The facts the signals see (per ticket, and per ticket-month when a signal is judged so),
    and each signal's condition with its value."""
    if not bundle.signals:
        return []
    from audit.engine.signals import FACT_COLUMNS, MONEY_COLUMNS, facts_sql
    from audit.policy.expr import SIGNAL_FACTS

    names = {f.column: name for name, f in SIGNAL_FACTS.items()}
    shown = [*(c for c in FACT_COLUMNS), *MONEY_COLUMNS[:2]]

    def facts(by_month: bool) -> list[dict[str, Any]]:
        sql = facts_sql(con, bundle, by_month, where="b.ticket_id = ?")
        return _rows(con, f"SELECT * FROM ({sql}) ORDER BY {'month' if by_month else 'ticket_id'}", [ticket_id])

    def judge(signal, by_month: bool, month: str | None) -> Any:
        cond = compile_rule(signal.when, signal.loc, SIGNAL_COLUMNS).sql(dialect=DIALECT)
        sql = facts_sql(con, bundle, by_month, where="b.ticket_id = ?")
        params: list[Any] = [ticket_id]
        if by_month:
            sql, params = f"SELECT * FROM ({sql}) WHERE month = ?", [ticket_id, month]
        return con.execute(
            f"""SELECT ({cond}) FROM ({sql}) f JOIN (SELECT t.*, tc.policy_tier FROM ticket_facts t
                JOIN ticket_class tc USING (ticket_id)) AS ticket_facts USING (ticket_id)""",
            params,
        ).fetchone()[0]

    out = ["", "Facts the signals see (docs/semantics.md, \"Signal facts\"):"]
    (ticket,) = facts(False)
    out += [f"  {names.get(c, c)} = {_v(ticket[c])}" for c in shown]
    months = facts(True) if any(s.scope == "ticket_month" for s in bundle.signals) else []
    for m in months:
        out.append(f"  {m['month']}: " + ", ".join(f"{names.get(c, c)} = {_v(m[c])}" for c in shown))
    for sig in bundle.signals:
        head = f"Signal {sig.id} ({sig.kind}, per {sig.scope.replace('_', '-')}): when {sig.when.strip()}"
        if sig.scope == "ticket":
            out.append(f"{head}  ⇒ {_truth(judge(sig, False, None))}")
        else:
            values = ", ".join(f"{m['month']} {_truth(judge(sig, True, m['month']))}" for m in months)
            out.append(f"{head}  ⇒ {values or 'no ticket-month'}")
    return out


def _billing_lines(con, bundle: Bundle, ticket_id: str, month: str | None) -> list[str]:
    b = bundle.billing
    tz = bundle.settings.timezone
    out = [
        "",
        f"Billing: unit {b.unit_minutes} min, rounding {b.rounding}, scope {b.scope}, "
        f"months and dates local to {tz}",
    ]
    month_filter = "AND month = ?" if month else ""
    params = [ticket_id, month] if month else [ticket_id]
    recon = _rows(con, f"SELECT * FROM recon_full WHERE ticket_id = ? {month_filter} ORDER BY month", params)
    if not recon:
        out.append("  no time entries and no invoice lines" + (f" in {month}" if month else ""))
    for r in recon:
        out.append(f"  {r['month']}:")
        entries = _rows(
            con,
            """SELECT e.entry_id, e.agent,
                      strftime(timezone(?, e.started_at), '%Y-%m-%d %H:%M:%S') AS local_start,
                      e.seconds, audit_min(e.seconds) AS minutes, audit_units(e.units) AS units_text,
                      e.units, e.unit_price, p.rule_id AS price_rule_id,
                      CAST(e.units * e.unit_price AS DECIMAL(18, 2)) AS amount
               FROM entry_facts e
               LEFT JOIN policy_prices p
                 ON p.price_list = e.price_list AND e.local_date BETWEEN p.valid_from AND p.valid_to
               WHERE e.ticket_id = ? AND e.month = ? ORDER BY e.started_at, e.entry_id""",
            [tz, ticket_id, r["month"]],
        )
        for e in entries:
            price = f"{e['unit_price']} € ({e['price_rule_id']})" if e["unit_price"] is not None else "no price in force"
            if e["units"] is not None:
                amount = f" = {e['amount']} €" if e["amount"] is not None else ""
                calc = f"→ {e['units_text']} × {price}{amount}"
            else:
                calc = f"price {price}"
            out.append(
                f"    entry {e['entry_id']} {e['local_start']} {e['agent']}: {e['seconds']} s = {e['minutes']} {calc}"
            )
        lines = _rows(
            con,
            """SELECT line_id, invoice_id, service_date, quantity, unit_price, amount, list_price
               FROM line_facts WHERE ticket_id = ? AND month = ? ORDER BY invoice_id, line_id""",
            [ticket_id, r["month"]],
        )
        for ln in lines:
            listed = f", list price {ln['list_price']} €" if ln["list_price"] is not None else ", no list price"
            out.append(
                f"    line {ln['line_id']} on {ln['invoice_id']} ({ln['service_date']}): "
                f"{ln['quantity']} × {ln['unit_price']} € = {ln['amount']} €{listed}"
            )
        out.append(
            f"    expected {_v(r['expected_units'])} units = {_eur(r['expected_eur'])}; "
            f"billed {r['billed_units']} units = {_eur(r['billed_eur'])}; delta {_eur(r['delta_eur'])}"
        )
        out.append(f"    {r['explanation']}")
    return out


def _finding_lines(con, ticket_id: str, month: str | None) -> list[str]:
    rows = _rows(con, f"SELECT * FROM ({findings_query(month)}) WHERE ticket_id = ?", [ticket_id])
    out = ["", f"Findings ({len(rows)}):"]
    for f in rows:
        waiver = f" by {f['waiver_id']}" if f["waiver_id"] else ""
        where = f"{f['policy_file']}:{f['policy_line']}" if f["policy_file"] else ""
        out.append(
            f"  {f['finding_id']} {f['month']} {f['kind']} [{f['severity']}, {f['status']}{waiver}] "
            f"rule {f['rule_id']} {where}".rstrip()
        )
        stake = f", at stake {_eur(f['at_stake_eur'])}" if f["at_stake_eur"] is not None else ""
        out.append(f"    delta {_eur(f['delta_eur'])}{stake}: {f['message']}")
    if not rows:
        out.append("  none")
    return out


def _sla_lines(con, bundle: Bundle, ticket_id: str) -> list[str]:
    """The ticket's SLA clocks: target, measured business time, due instant, verdict."""
    if bundle.sla is None:
        return []
    has_clock = con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'sla_clock'").fetchall()[0][0]
    rows = _rows(con, "SELECT * FROM sla_clock WHERE ticket_id = ? ORDER BY target", [ticket_id]) if has_clock else []
    if not rows:
        return ["", "SLA: none (the customer's contract and the ticket's priority have no target)"]
    r0 = rows[0]
    (tz,) = con.execute("SELECT timezone FROM policy_sla_calendars WHERE calendar = ?", [r0["calendar"]]).fetchall()[0]
    out = ["", f"SLA: contract {r0['contract']}, priority {r0['priority']}, calendar {r0['calendar']} ({tz}), "
               f"as of {_v(r0['as_of'], tz)}"]
    for r in rows:
        secs, target = r["measured_secs"], r["target_min"] * 60
        state = ("BREACHED" if secs > target else "met") if r["done_at"] is not None else (
            "OVERDUE (open)" if secs > target else "open, not yet due")
        end = _v(r["done_at"], tz) if r["done_at"] is not None else f"still open at {_v(r['as_of'], tz)}"
        paused = (f" (after {r['paused_secs'] // 60}:{r['paused_secs'] % 60:02d} paused)"
                  if r["paused_secs"] else "")
        out.append(
            f"  {r['target']} (rule {r['rule_id']}): target {r['target_min']} business min; "
            f"{_v(r['opened_at'], tz)} → {end}: {secs // 60}:{secs % 60:02d} business min{paused} "
            f"→ {state}; due {_v(r['due_at'], tz)}"
        )
    out.append("  (each breach's finding below lists the business days counted)")
    return out



def explain_evaluated(con: duckdb.DuckDBPyConnection, bundle: Bundle, ticket_id: str,
                      month: str | None = None) -> str:
    """The judgement of a loaded ``ticket_id`` as text, on a connection where
    :func:`~audit.engine.evaluate` and :func:`~audit.engine.render.render_texts` (for ``month``,
    or all months) have run. ``support-audit test`` shows it under a failing case."""
    facts = _rows(con, "SELECT * FROM ticket_facts WHERE ticket_id = ?", [ticket_id])
    (tc,) = _rows(con, "SELECT * FROM ticket_class WHERE ticket_id = ?", [ticket_id])
    md = bundle.metadata
    out = [
        f"Ticket {ticket_id} — policy {md.name} {md.version} (sha256 {bundle.digest[:12]})"
        + (f", month {month}" if month else ""),
        "Facts the rules see (ticket_facts):",
    ]
    tz = bundle.settings.timezone
    out += [f"  {k} = {_v(v, tz)}" for k, v in facts[0].items()]
    out += _classification_lines(con, bundle, ticket_id, tc)
    out += _billing_lines(con, bundle, ticket_id, month)
    out += _sla_lines(con, bundle, ticket_id)
    out += _finding_lines(con, ticket_id, month)
    return "\n".join(out) + "\n"


def explain(policy: str | Path, data: str | Path, ticket_id: str, month: str | None = None, *,
            follow_symlinks: bool = False) -> str:
    """The judgement of ``ticket_id`` as text (all months, or only ``month``)."""
    from audit.api import check_period, open_audit_db
    from audit.policy.loader import load_policy

    check_period(month)
    bundle = load_policy(policy)
    con, ingest = open_audit_db(bundle, data, gx="off", follow_symlinks=follow_symlinks)
    from audit.engine.sla import without_unjudgeable_sla

    bundle = without_unjudgeable_sla(bundle, ingest.absent_columns)[0]  # as in a run
    try:
        evaluate(con, bundle)
        render_texts(con, bundle, month)
        if not _rows(con, "SELECT ticket_id FROM ticket_facts WHERE ticket_id = ?", [ticket_id]):
            raise _unknown_ticket(con, ingest, ticket_id)
        return explain_evaluated(con, bundle, ticket_id, month)
    finally:
        con.close()
