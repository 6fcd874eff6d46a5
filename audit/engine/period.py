"""``--period``: keep only the loaded rows that the audited month's results can depend on.

Run after ingestion (every row of every month has been read, typed, checked and quarantined
as without a period, so the quarantine and the row counts of the loading are unchanged) and
before the rules. The results for the month are then computed from fewer rows and are the
same as from all of them, because every relation the engine builds is a function of one
ticket's rows, with one exception (the SLA credit cap, below):

- **A ticket with anything in the month** — opened in it (its ticket-level findings and signals
  carry the opening month), a time entry starting in it (local month) or an invoice line with
  a service date in it (the ticket-months of the reconciliation) — keeps *all* its rows in
  every month: its time entries and invoice lines (signals read a ticket's facts over all its
  months; the classification's agent is the one with the most time on the ticket; a ticket
  with no ticket-month at all gets one in its opening month), its status history.
- **A ticket whose SLA targets may fall due in the month** keeps its ticket row and status
  history (the SLA clocks read nothing else): a target falls due after the opening (targets
  are positive), and without pauses within :func:`audit.engine.sla._slack_days` calendar days
  of it — the same bound the engine uses to generate business intervals beyond the data; a
  ticket ever in a paused status is kept whenever it opened before the month ended. The credit
  cap per customer and month sums the credits of that month's SLA findings, which all belong
  to these tickets.
- Customers, services and agents are small reference tables and stay whole.

Month edges are compared on UTC instants widened by a day (a local month in any zone lies
within it) and on service dates exactly: keeping a ticket too many changes nothing in the
month's results, only costs its rows. docs/outputs.md ("Rows and --period") describes the
counts; tests/test_period.py compares every month of the sample and of a generated year with
the unrestricted run.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from audit.engine.sla import _slack_days as slack_days  # the engine's own bound
from audit.engine.sql import lit
from audit.policy.model import Bundle

#: Loaded tables restricted to the tickets they need, and by which ticket set.
_BY_TICKET = {
    "tickets": "period_keep_all",
    "time_entries": "period_keep_full",
    "invoice_lines": "period_keep_full",
    "ticket_status_history": "period_keep_all",
}


def month_bounds(period: str) -> tuple[dt.date, dt.date]:
    """The first day of ``period`` (YYYY-MM) and the first day after it."""
    year, month = int(period[:4]), int(period[5:])
    return dt.date(year, month, 1), dt.date(year + month // 12, month % 12 + 1, 1)


def _instant(day: dt.date, days: int = 0) -> str:
    """SQL for midnight UTC of ``day`` shifted by ``days`` days."""
    value = dt.datetime.combine(day + dt.timedelta(days=days), dt.time(), dt.UTC)
    return f"CAST({lit(value.isoformat())} AS TIMESTAMPTZ)"


def _sla_tickets(bundle: Bundle, start: dt.date, end: dt.date, has_history: bool) -> str:
    """SELECT of the tickets whose SLA targets may fall due between ``start`` and ``end``."""
    if bundle.sla is None:
        return "SELECT ticket_id FROM tickets WHERE false"
    paused = ", ".join(lit(s) for s in bundle.sla.paused_statuses) if has_history else ""
    # due_day is a local date of the calendar's zone (or the day after a frame ending at 24:00):
    # two days either side cover any zone
    return f"""
        SELECT ticket_id FROM tickets
        WHERE opened_at < {_instant(end, 2)}
          AND (opened_at >= {_instant(start, -2 - slack_days(bundle))}
               {f"OR ticket_id IN (SELECT ticket_id FROM ticket_status_history WHERE status IN ({paused}))"
                if paused else ""})
    """


def restrict_to_period(con: duckdb.DuckDBPyConnection, bundle: Bundle, period: str) -> dict[str, int]:
    """Drop the loaded rows ``period``'s results do not depend on (see the module docstring);
    return per canonical table the rows set aside (0 for the tables kept whole)."""
    start, end = month_bounds(period)
    tables = [name for (name,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY table_name").fetchall()]
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE period_keep_full AS
        SELECT ticket_id FROM tickets WHERE opened_at >= {_instant(start, -1)} AND opened_at < {_instant(end, 1)}
        UNION
        SELECT ticket_id FROM time_entries
        WHERE started_at >= {_instant(start, -1)} AND started_at < {_instant(end, 1)}
        UNION
        SELECT ticket_id FROM invoice_lines
        WHERE service_date >= CAST({lit(start)} AS DATE) AND service_date < CAST({lit(end)} AS DATE)
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE period_keep_all AS
        SELECT ticket_id FROM period_keep_full UNION {_sla_tickets(bundle, start, end, "ticket_status_history" in tables)}
    """)
    set_aside = {}
    for name in tables:
        keep = _BY_TICKET.get(name)
        if keep is None:
            continue
        (before,) = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0]
        con.execute(f"CREATE TABLE period_{name} AS SELECT * FROM {name} "
                    f"WHERE ticket_id IN (SELECT ticket_id FROM {keep})")
        con.execute(f"DROP TABLE {name}")
        con.execute(f"ALTER TABLE period_{name} RENAME TO {name}")
        (after,) = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0]
        set_aside[name] = before - after
    con.execute("DROP TABLE period_keep_full")
    con.execute("DROP TABLE period_keep_all")
    return set_aside
