"""Billing: units and prices per time entry, and the reconciliation per ticket-month (numbers).

Relations created (set-based, one pass each; the texts are added later by
:mod:`audit.engine.render`):

``entry_facts``  VIEW, one row per time entry: local date and month of its start, seconds, the
                 price in force on that local date (override-aware), rounded units (scope
                 ``entry``). A view, not a table: at 10 M entries a copy would cost more memory
                 than recomputing the two cheap expressions in the passes that read it.
``line_facts``   VIEW, one row per invoice line: month of its service date, list price on that
                 date (and ``price_pid``, the period of ``policy_prices`` it comes from).
                 On Spark both are tables (:func:`~audit.engine.sql.shared_relation`): it
                 would plan and run a view again in every statement that reads it.
``recon``        per ticket-month: the tracked side (entries, seconds, expected units/amount) ⟗
                 the billed side (units, amount, invoices, and the split the duplicate rule needs:
                 first invoice + credit lines vs. the repeated invoices), with the policy tier
                 and expected/billed/delta.

The policy's unit length, rounding mode and scope select the SQL expressions below; they are the
rule *kinds* docs/semantics.md defines, the values come from the bundle via :func:`lit`.
"""

from __future__ import annotations

import duckdb

from audit.engine.localtime import local_timestamp_sql
from audit.engine.prices import price_case
from audit.engine.sql import lit, shared_relation
from audit.policy.model import Bundle


def rounded_units_sql(seconds: str, unit_seconds: int, rounding: str) -> str:
    """Integer SQL for the number of units of ``seconds`` (a non-negative integer expression).

    ``ceil`` counts a unit from its first second; ``nearest`` rounds an exact half down
    (⌈d/u − ½⌉ = ⌊(2d + u − 1) / 2u⌋); ``floor`` drops the started unit.
    """
    u = lit(unit_seconds)
    if rounding == "ceil":
        return f"(({seconds}) + {u} - 1) // {u}"
    if rounding == "floor":
        return f"({seconds}) // {u}"
    if rounding == "nearest":
        return f"(2 * ({seconds}) + {u} - 1) // (2 * {u})"
    raise ValueError(f"unknown rounding mode {rounding!r}")  # the model's Literal forbids it


def create_entry_facts(con: duckdb.DuckDBPyConnection, bundle: Bundle) -> None:
    """Create the ``entry_facts`` view (see the module docstring)."""
    b = bundle.billing
    units = rounded_units_sql("seconds", b.unit_minutes * 60, b.rounding)
    count = f"CAST({units} AS BIGINT)" if b.scope == "entry" else "CAST(NULL AS BIGINT)"
    if b.overrides:  # the customer's contract picks the list: needs the ticket's customer
        source = """SELECT te.*, tc.price_list FROM time_entries te JOIN ticket_class tc USING (ticket_id)"""
        price_list = "price_list"
    else:
        source, price_list = "SELECT * FROM time_entries", None
    local_start = local_timestamp_sql(con, bundle.settings.timezone, "time_entries", "started_at")
    con.execute(
        f"""
        CREATE OR REPLACE {shared_relation(con)} entry_facts AS
        WITH e AS (
            SELECT entry_id, ticket_id, agent, started_at, duration_seconds AS seconds,
                   CAST({local_start} AS DATE) AS local_date
                   {", price_list" if price_list else ", '' AS price_list"}
            FROM ({source})
        )
        SELECT entry_id, ticket_id, agent, started_at, seconds, local_date, price_list,
               strftime(local_date, '%Y-%m') AS month,
               audit_cents_to_eur(unit_cents) AS unit_price, unit_cents,
               CAST(unit_count AS DECIMAL(18, 2)) AS units, unit_count
        FROM (SELECT *, {price_case(bundle, "local_date", price_list, "cents")} AS unit_cents,
                     {count} AS unit_count
              FROM e)
        """
    )


def tm_time_sql(bundle: Bundle) -> str:
    """The tracked side of each ticket-month (a SELECT, inlined into ``recon``).

    Columns: ticket_id, month_start (the first day of the local month: a DATE groups and joins
    faster than its ``YYYY-MM`` text, which ``recon`` formats once per ticket-month), entries,
    tracked_seconds, units, amount (NULL when an entry has no price in force), unpriced_from
    (first local date without a price), min_price/max_price (equal unless the price changed
    inside the month).
    """
    b = bundle.billing
    # Whole units and whole cents: integer sums are exact and several times cheaper than
    # DECIMAL sums (which DuckDB accumulates in 128 bits) over millions of entries.
    if b.scope == "entry":
        units = "CAST(unit_sum AS DECIMAL(18, 2))"
        amount = "audit_cents_to_eur(amount_cents)"
        money = "sum(unit_count) AS unit_sum, sum(unit_count * unit_cents) AS amount_cents"
    else:
        units = f"CAST({rounded_units_sql('tracked_seconds', b.unit_minutes * 60, b.rounding)} AS DECIMAL(18, 2))"
        # Σ price × seconds / Σ seconds × units, rounded half-even to cents (exact integers).
        amount = f"""
            CASE WHEN tracked_seconds = 0 THEN CAST(0 AS DECIMAL(18, 2))
                 ELSE audit_cents_to_eur(audit_div_half_even(
                        CAST(cent_seconds AS HUGEINT) * CAST({units} * 100 AS HUGEINT),
                        CAST(tracked_seconds AS HUGEINT) * 100)) END
        """
        money = "sum(unit_cents * seconds) AS cent_seconds"
    return f"""
        SELECT ticket_id, month_start, entries, CAST(tracked_seconds AS BIGINT) AS tracked_seconds,
               {units} AS units,
               CASE WHEN unpriced_from IS NULL THEN {amount} END AS amount,
               unpriced_from, audit_cents_to_eur(min_cents) AS min_price,
               audit_cents_to_eur(max_cents) AS max_price
        FROM (
            SELECT ticket_id, date_trunc('month', local_date) AS month_start, count(*) AS entries,
                   sum(seconds) AS tracked_seconds, {money},
                   min(unit_cents) AS min_cents, max(unit_cents) AS max_cents,
                   min(local_date) FILTER (WHERE unit_cents IS NULL) AS unpriced_from
            FROM entry_facts GROUP BY ALL
        )
    """


def create_line_facts(con: duckdb.DuckDBPyConnection, bundle: Bundle) -> None:
    """Create the ``line_facts`` view: invoice lines with their month and the list price on the
    service date (and ``price_pid``, its period in ``policy_prices``).

    A view, like ``entry_facts``: each reader computes the few columns it reads (the
    reconciliation only the month), which costs less than storing a copy of every line."""
    overrides = bool(bundle.billing.overrides)
    price_list = "tc.price_list" if overrides else None
    cents = price_case(bundle, "il.service_date", price_list, "cents")
    pid = price_case(bundle, "il.service_date", price_list, "pid")
    # The ticket's price list is needed only when contracts have their own; the contract makes
    # every line's ticket a loaded ticket, so without overrides the join would change nothing.
    ticket = "JOIN ticket_class tc USING (ticket_id)" if overrides else ""
    con.execute(
        f"""
        CREATE OR REPLACE {shared_relation(con)} line_facts AS
        SELECT il.line_id, il.invoice_id, il.customer_id, il.ticket_id, il.service_date,
               strftime(il.service_date, '%Y-%m') AS month,
               date_trunc('month', il.service_date) AS month_start,
               il.quantity, il.unit_price, il.amount,
               audit_cents_to_eur({cents}) AS list_price, {pid} AS price_pid
        FROM invoice_lines il
        {ticket}
        """
    )


def tm_bill_sql() -> str:
    """The billed side of each ticket-month (a SELECT, inlined into ``recon``).

    ``first_invoice`` is the lowest invoice_id with a positive-quantity line, kept only when
    there are several (``positive_invoices > 1``: the only months whose texts name it); ``dup_*``
    sum the positive-quantity lines of every *other* invoice (the repeats ``duplicate_billing``
    reports).
    Most ticket-months are billed on one invoice: one aggregation answers them, and only the
    few that may have several take a second pass over their lines. "May": when every line is
    positive, the month has one invoice exactly when its lowest positive invoice is also its
    highest; a month with a credit (or zero) line takes the second pass whatever its invoices
    (one string minimum fewer per ticket-month; the second pass gives a one-invoice month the
    same answer).
    """
    return """
        WITH one AS (
            SELECT ticket_id, month_start, count(*) AS lines,
                   count(*) FILTER (WHERE quantity > 0) AS positive_lines,
                   sum(quantity) AS units, sum(amount) AS eur, max(invoice_id) AS max_invoice,
                   min(invoice_id) FILTER (WHERE quantity > 0) AS first_invoice
            FROM line_facts GROUP BY ticket_id, month_start
        ),
        several AS (
            SELECT l.ticket_id, l.month_start,
                   array_to_string(list_sort(list(DISTINCT l.invoice_id)), ',') AS invoice_ids,
                   count(DISTINCT l.invoice_id) FILTER (WHERE l.quantity > 0) AS positive_invoices,
                   sum(l.quantity) FILTER (WHERE l.quantity > 0 AND l.invoice_id <> o.first_invoice) AS dup_units,
                   sum(l.amount) FILTER (WHERE l.quantity > 0 AND l.invoice_id <> o.first_invoice) AS dup_eur
            FROM line_facts l
            JOIN (SELECT ticket_id, month_start, first_invoice FROM one
                  WHERE positive_lines < lines OR first_invoice <> max_invoice) o
                USING (ticket_id, month_start)
            GROUP BY l.ticket_id, l.month_start
        )
        SELECT o.ticket_id, o.month_start, o.lines,
               CAST(o.units AS DECIMAL(18, 2)) AS billed_units,
               CAST(o.eur AS DECIMAL(18, 2)) AS billed_eur,
               coalesce(s.invoice_ids, o.max_invoice) AS invoice_ids,
               CASE WHEN s.positive_invoices > 1 THEN o.first_invoice END AS first_invoice,
               coalesce(s.positive_invoices, CASE WHEN o.first_invoice IS NULL THEN 0 ELSE 1 END)
                   AS positive_invoices,
               CAST(coalesce(s.dup_units, 0) AS DECIMAL(18, 2)) AS dup_units,
               CAST(coalesce(s.dup_eur, 0) AS DECIMAL(18, 2)) AS dup_eur
        FROM one o LEFT JOIN several s USING (ticket_id, month_start)
    """


def create_recon(con: duckdb.DuckDBPyConnection, bundle: Bundle) -> None:
    """Create ``recon``: one row per ticket-month with tracked time or invoice lines (numbers).

    One statement: the tracked and the billed side are aggregated and joined without being
    materialised. Only what cannot be derived from the row is stored (every column costs at
    millions of rows): ``delta_eur`` (expected − billed) is added by ``recon_full``, the tiers
    and customer come from ``ticket_class``. ``dup_units``/``dup_eur``: the repeated invoices
    ``duplicate_billing`` reports (so ``billed − dup`` is the first invoice plus credit lines).
    ``units_if_billed``/``amount_if_billed``: the tracked side priced as if the tier were
    billable, whatever it is (the signals' money at stake; NULL amount: no price in force).
    """
    con.execute(
        f"""
        CREATE OR REPLACE TABLE recon AS
        WITH tm_time AS ({tm_time_sql(bundle)}),
        tm_bill AS ({tm_bill_sql()}),
        j AS (
            SELECT coalesce(t.ticket_id, b.ticket_id) AS ticket_id,
                   strftime(coalesce(t.month_start, b.month_start), '%Y-%m') AS month,
                   t.entries, t.tracked_seconds, t.units, t.amount, t.unpriced_from,
                   t.min_price, t.max_price,
                   b.lines, b.billed_units, b.billed_eur, b.invoice_ids, b.first_invoice,
                   b.positive_invoices, b.dup_units, b.dup_eur
            FROM tm_time t FULL JOIN tm_bill b USING (ticket_id, month_start)
        )
        SELECT j.ticket_id, j.month, tc.billable,
               coalesce(j.entries, 0) AS entries,
               coalesce(j.tracked_seconds, 0) AS tracked_seconds,
               CAST(CASE WHEN tc.billable THEN coalesce(j.units, 0)
                         WHEN NOT tc.billable THEN 0 END AS DECIMAL(18, 2)) AS expected_units,
               CAST(CASE WHEN tc.billable AND j.entries IS NULL THEN 0
                         WHEN tc.billable THEN j.amount
                         WHEN NOT tc.billable THEN 0 END AS DECIMAL(18, 2)) AS expected_eur,
               CAST(coalesce(j.billed_units, 0) AS DECIMAL(18, 2)) AS billed_units,
               CAST(coalesce(j.billed_eur, 0) AS DECIMAL(18, 2)) AS billed_eur,
               j.invoice_ids, coalesce(j.lines, 0) AS lines, j.first_invoice,
               coalesce(j.positive_invoices, 0) AS positive_invoices,
               coalesce(j.dup_units, 0) AS dup_units, coalesce(j.dup_eur, 0) AS dup_eur,
               j.unpriced_from, j.min_price, j.max_price,
               CAST(coalesce(j.units, 0) AS DECIMAL(18, 2)) AS units_if_billed,
               CAST(CASE WHEN j.entries IS NULL THEN 0 ELSE j.amount END AS DECIMAL(18, 2)) AS amount_if_billed
        FROM j JOIN ticket_class tc USING (ticket_id)
        """
    )


def create_billing(con: duckdb.DuckDBPyConnection, bundle: Bundle) -> None:
    """Run the billing stage: entry_facts, line_facts → recon."""
    create_entry_facts(con, bundle)
    create_line_facts(con, bundle)
    create_recon(con, bundle)
