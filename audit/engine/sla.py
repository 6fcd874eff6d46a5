"""SLA: first-response and resolution times in business time, set-based (docs/semantics.md, "SLA").

The policy's calendars become a generated relation of **business intervals** over the data's
date range: every local date × the weekday's time frames, minus holidays and closing days, each
frame's local wall-clock start and end converted to instants in the calendar's zone (so 08:00–18:00
stays 08:00–18:00 across a DST switch; a 00:00–24:00 day lasts 23 or 25 hours then). Each interval
carries the business seconds of the calendar before it (``cum_before``), which turns "business
seconds between two instants" into two look-ups: ``B(t)`` = business seconds of the calendar up to
instant ``t`` = ``cum_before + min(secs, t − start)`` of the last interval starting at or before
``t``; the measured time of a ticket is ``B(end) − B(opened_at)`` (a ticket opened outside business
time thus starts at the next business minute). The due instant is the inverse look-up: the
interval where ``B`` reaches ``B(opened_at) + target`` (plus, for resolution, the business time
of the pauses that began before the clock reached the target).

Every step is a join or a window over whole relations (no per-ticket Python); the SQL is plain
(``generate_series``, ``date_diff``, window sums, range joins) so that sqlglot can carry it to
other engines.

Relations created: ``policy_sla_calendars``, ``policy_sla_frames``, ``policy_sla_closed``,
``policy_sla_targets``, ``sla_intervals``, ``sla_base`` (one row per ticket under an SLA with its
business-clock readings), ``sla_pauses`` (paused spans in business time), the view ``sla_clock``
(every target of every ticket: measured seconds and due instant; ``explain`` reads it) and
``sla_facts`` (one row per SLA finding, with the month and the capped credit).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import duckdb
import polars as pl

from audit.contract import PRIORITIES
from audit.db import write_in_parts
from audit.engine.policy_tables import where
from audit.engine.spans import span_parts
from audit.engine.sql import create_values_table, lit, on_spark
from audit.policy.model import WEEKDAYS, Bundle, frame_minutes
from audit.texts import Lang, column, languages

#: Relations this module creates, in creation order.
RELATIONS = ("policy_sla_calendars", "policy_sla_frames", "policy_sla_closed", "policy_sla_targets",
             "sla_intervals", "sla_hours", "sla_cum_hours", "sla_base", "sla_pauses", "sla_clock", "sla_facts")

#: Business seconds beyond the data's last instant are generated for this many days at least.
_SLACK_DAYS = 40

_FAR = "TIMESTAMPTZ '9999-12-31 00:00:00+00'"
_HOUR_US = 3_600_000_000  # microseconds per hour


#: The tickets' columns the SLA clocks read. An export without one of them says nothing about
#: when tickets were answered or resolved: judged anyway, every ticket would look overdue and
#: owe credits, so the SLA is then not audited at all (:func:`without_unjudgeable_sla`).
CLOCK_COLUMNS = ("first_response_at", "resolved_at")


def without_unjudgeable_sla(bundle: Bundle, absent_columns: dict[str, tuple[str, ...]]
                            ) -> tuple[Bundle, list[str]]:
    """``bundle`` without its ``sla`` section when the tickets' export lacks a column of
    :data:`CLOCK_COLUMNS` (``absent_columns``: per table, the optional columns an export does
    not have, :class:`~audit.ingest.result.IngestResult`), and the warning that says so;
    else ``bundle`` unchanged and no warning. Empty values in a present column are evidence
    (not answered yet) and are judged as such."""
    missing = [c for c in CLOCK_COLUMNS if c in absent_columns.get("tickets", ())]
    if bundle.sla is None or not missing:
        return bundle, []
    return bundle.model_copy(update={"sla": None}), [
        f"tickets: the export has no {' and no '.join(repr(c) for c in missing)} column, so the "
        "SLA targets were not audited (an absent column says nothing about when tickets were "
        "answered or resolved); export the column to audit them"]


def target_rule_id(contract: str, priority: str, which: str) -> str:
    """``sla.targets[premium].urgent.resolution``: the target a finding measures."""
    return f"sla.targets[{contract}].{priority}.{which}"


def _closed_days(bundle: Bundle, years: range) -> list[tuple[str, dt.date, str, str]]:
    """(calendar, date, reason, German reason) of every holiday and closing day in ``years``
    (the holiday's name as the ``holidays`` package gives it in English and in German)."""
    import holidays

    rows: dict[tuple[str, dt.date], tuple[str, str]] = {}
    assert bundle.sla is not None
    for name, cal in bundle.sla.calendars.items():
        if cal.holidays is not None:
            names = {
                lang: holidays.country_holidays(
                    cal.holidays.country, subdiv=cal.holidays.subdivision, years=list(years),
                    categories=(holidays.PUBLIC,), language=lang,
                )
                for lang in ("en_US", "de")
            }
            for day, label in sorted(names["en_US"].items()):
                german = names["de"].get(day) or label
                rows.setdefault((name, day), (f"holiday: {label}", f"Feiertag: {german}"))
        for spec in cal.closed:
            days = [dt.date.fromisoformat(spec)] if len(spec) == 10 else [
                dt.date(y, int(spec[:2]), int(spec[3:])) for y in years
                if spec != "02-29" or (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0))
            ]
            for day in days:
                rows.setdefault((name, day), ("closed", "Schließtag"))
    return [(c, d, en, de) for (c, d), (en, de) in sorted(rows.items())]


def create_sla_policy_tables(con: duckdb.DuckDBPyConnection, bundle: Bundle, years: range) -> None:
    """The ``sla`` section as small relations (bound parameters, see audit.engine.sql)."""
    sla = bundle.sla
    assert sla is not None
    create_values_table(con, "policy_sla_calendars", [("calendar", "VARCHAR"), ("timezone", "VARCHAR")],
                        [(n, c.timezone) for n, c in sla.calendars.items()])
    frames = []
    for name, cal in sla.calendars.items():
        for day, spans in cal.hours.items():
            for frame in spans:
                start, end = frame_minutes(frame)
                frames.append((name, WEEKDAYS.index(day) + 1, start, end))
    create_values_table(con, "policy_sla_frames", [("calendar", "VARCHAR"), ("isodow", "INTEGER"),
                                                   ("start_min", "INTEGER"), ("end_min", "INTEGER")], frames)
    create_values_table(con, "policy_sla_closed", [("calendar", "VARCHAR"), ("day", "DATE"), ("reason", "VARCHAR"),
                                                   ("reason_de", "VARCHAR")],
                        _closed_days(bundle, years))
    credit = {c.contract: c for c in (sla.credits.per_breach if sla.credits else [])}
    targets = []
    for entry in sla.targets:
        for prio in PRIORITIES:
            key = prio if prio in entry.priorities else "*" if "*" in entry.priorities else None
            if key is None:
                continue  # no target for this priority: no SLA
            target = entry.priorities[key]
            loc = where(target, bundle, "sla")
            c = credit.get(entry.contract)
            targets.append((
                entry.contract, prio, entry.calendar, target.first_response, target.resolution,
                target_rule_id(entry.contract, key, "first_response"),
                target_rule_id(entry.contract, key, "resolution"), loc.file, loc.line,
                c.first_response if c and c.first_response is not None else Decimal("0.00"),
                c.resolution if c and c.resolution is not None else Decimal("0.00"),
            ))
    create_values_table(con, "policy_sla_targets", [
        ("contract", "VARCHAR"), ("priority", "VARCHAR"), ("calendar", "VARCHAR"),
        ("first_response_min", "BIGINT"), ("resolution_min", "BIGINT"), ("fr_rule_id", "VARCHAR"),
        ("res_rule_id", "VARCHAR"), ("policy_file", "VARCHAR"), ("policy_line", "BIGINT"),
        ("fr_credit", "DECIMAL(18, 2)"), ("res_credit", "DECIMAL(18, 2)"),
    ], targets)


def _slack_days(bundle: Bundle) -> int:
    """Calendar days after the data's last instant that the longest target (plus pauses that
    end by then) can need: its business days at the calendar's shortest business day, spread over
    the calendar's business weekdays, plus room for holidays."""
    sla = bundle.sla
    assert sla is not None
    days = _SLACK_DAYS
    for entry in sla.targets:
        cal = sla.calendars.get(entry.calendar)
        if cal is None:
            continue
        per_day = [sum(b - a for a, b in map(frame_minutes, spans)) for spans in cal.hours.values()]
        per_day = [m for m in per_day if m > 0]
        if not per_day:
            continue
        longest = max(max(t.first_response, t.resolution) for t in entry.priorities.values())
        business_days = math.ceil(longest / min(per_day))
        days = max(days, math.ceil(business_days * 7 / len(per_day)) + _SLACK_DAYS)
    return days


def default_as_of(con: duckdb.DuckDBPyConnection, timezone: str, period: str | None) -> dt.datetime | None:
    """The end of the audited period: the first instant after ``period`` (YYYY-MM), or after the
    last local month a ticket was opened in; None without tickets."""
    if period is None:
        (period,) = con.execute(
            f"SELECT strftime(max(timezone({lit(timezone)}, opened_at)), '%Y-%m') FROM tickets"
        ).fetchall()[0]
        if period is None:
            return None
    year, month = int(period[:4]), int(period[5:])
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    (instant,) = con.execute(
        f"SELECT timezone({lit(timezone)}, CAST({lit(nxt)} AS TIMESTAMP))"
    ).fetchall()[0]
    return instant


def create_sla(con: duckdb.DuckDBPyConnection, bundle: Bundle, as_of: dt.datetime | None) -> None:
    """Create the SLA relations (see the module docstring). Without an ``sla`` section, or
    without tickets, ``sla_facts`` is created empty."""
    sla = bundle.sla
    lo, hi = con.execute(
        "SELECT min(opened_at), max(greatest(opened_at, coalesce(first_response_at, opened_at),"
        " coalesce(resolved_at, opened_at))) FROM tickets"
    ).fetchall()[0]
    if sla is None or lo is None:
        _empty_facts(con)
        return
    if as_of is None:
        as_of = default_as_of(con, bundle.settings.timezone, None)
    (h_hi,) = con.execute("SELECT max(changed_at) FROM ticket_status_history").fetchall()[0]
    hi = max(x for x in (hi, h_hi, as_of) if x is not None)
    first = lo.date() - dt.timedelta(days=2)
    last = hi.date() + dt.timedelta(days=_slack_days(bundle))
    create_sla_policy_tables(con, bundle, range(first.year, last.year + 1))
    create_intervals(con, first, last)
    create_base(con, bundle, as_of)
    create_facts(con, bundle)


def create_intervals(con: duckdb.DuckDBPyConnection, first: dt.date, last: dt.date) -> None:
    """``sla_intervals(calendar, day, end_min, start_at, end_at, secs, cum_before, next_start)``:
    the business intervals of every calendar from ``first`` to ``last`` (local dates).

    Instants are compared and subtracted as ``epoch_us`` integers: DuckDB's ``date_diff`` and
    interval arithmetic on ``TIMESTAMPTZ`` go through the ICU calendar per row (seconds at a
    million tickets); the local wall clock is only needed for the few generated intervals."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE sla_intervals AS
        WITH days AS (
            SELECT CAST(d AS DATE) AS day
            FROM generate_series(CAST({lit(first)} AS TIMESTAMP), CAST({lit(last)} AS TIMESTAMP),
                                 INTERVAL 1 DAY) AS g(d)
        ),
        local_frames AS (
            SELECT f.calendar, days.day, f.start_min, f.end_min
            FROM days JOIN policy_sla_frames f ON f.isodow = isodow(days.day)
            WHERE NOT EXISTS (SELECT 1 FROM policy_sla_closed c
                              WHERE c.calendar = f.calendar AND c.day = days.day)
        ),
        instants AS (
            SELECT l.calendar, l.day, l.end_min,
                   timezone(c.timezone, CAST(l.day AS TIMESTAMP) + INTERVAL 1 MINUTE * l.start_min) AS start_at,
                   timezone(c.timezone, CAST(l.day AS TIMESTAMP) + INTERVAL 1 MINUTE * l.end_min) AS end_at
            FROM local_frames l JOIN policy_sla_calendars c USING (calendar)
        ),
        sized AS (SELECT *, CAST(date_diff('second', start_at, end_at) AS BIGINT) AS secs FROM instants)
        SELECT calendar, day, end_min, start_at, end_at, secs,
               CAST(coalesce(sum(secs) OVER (PARTITION BY calendar ORDER BY start_at
                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS BIGINT) AS cum_before,
               coalesce(lead(start_at) OVER (PARTITION BY calendar ORDER BY start_at), {_FAR}) AS next_start
        FROM sized WHERE secs > 0
        """
    )
    # Look-up tables keyed by whole numbers, so that every reading is an equality join (a hash
    # join) with a one-row residual test instead of a range join over all intervals:
    # sla_hours: every UTC hour (epoch_us // 3.6e9) of [start_at, next_start) of an interval
    # (its gap after it included) -> that interval; sla_cum_hours: every business hour
    # ((business second - 1) // 3600) an interval holds -> that interval.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE sla_hours AS
        SELECT calendar, hour, start_at, next_start, cum_before, secs
        FROM (SELECT i.*, unnest(generate_series(epoch_us(i.start_at) // {_HOUR_US},
                   (epoch_us(least(i.next_start, CAST({lit(last + dt.timedelta(days=2))} AS TIMESTAMPTZ))) - 1)
                   // {_HOUR_US})) AS hour
              FROM sla_intervals i)
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE sla_cum_hours AS
        SELECT calendar, bucket, day, end_min, start_at, cum_before, secs
        FROM (SELECT i.*, unnest(generate_series(i.cum_before // 3600, (i.cum_before + i.secs - 1) // 3600)) AS bucket
              FROM sla_intervals i)
        """
    )


def _reading(instant: str, alias: str) -> str:
    """SQL for ``B(instant)`` given the interval ``alias`` joined by :func:`_reading_join`
    (NULL interval: no business time before the instant, B = 0)."""
    return (f"coalesce({alias}.cum_before + least({alias}.secs, "
            f"(epoch_us({instant}) - epoch_us({alias}.start_at)) // 1000000), 0)")


def _reading_join(instant: str, alias: str, calendar: str) -> str:
    """The interval whose ``[start_at, next_start)`` holds ``instant``: found by the instant's
    UTC hour (an equality), then the one row of that hour that holds it."""
    return (f"LEFT JOIN sla_hours {alias} ON {alias}.calendar = {calendar} "
            f"AND {alias}.hour = epoch_us({instant}) // {_HOUR_US} "
            f"AND {alias}.start_at <= {instant} AND {instant} < {alias}.next_start")


def create_base(con: duckdb.DuckDBPyConnection, bundle: Bundle, as_of: dt.datetime | None) -> None:
    """``sla_base``: one row per ticket under an SLA, with its target and the business-clock
    readings ``b_open``, ``b_fr``, ``b_res``, ``b_asof``; ``sla_pauses``: its paused spans
    (clipped to the open clock) read on the same clock, with the pause time before each."""
    sla = bundle.sla
    assert sla is not None
    as_of_sql = f"CAST({lit(as_of.isoformat())} AS TIMESTAMPTZ)" if as_of else _FAR
    paused = ", ".join(lit(s) for s in sla.paused_statuses) or "NULL"
    con.execute(
        f"""
        CREATE OR REPLACE TABLE sla_base AS
        WITH t AS (
            SELECT t.ticket_id, t.customer_id, t.priority, t.opened_at, t.first_response_at,
                   t.resolved_at, {as_of_sql} AS as_of, g.*
            FROM tickets t
            JOIN customers c USING (customer_id)
            JOIN policy_sla_targets g ON g.contract = c.contract AND g.priority = t.priority
        )
        SELECT t.*, {_reading('t.opened_at', 'o')} AS b_open,
               CASE WHEN t.first_response_at IS NOT NULL THEN {_reading('t.first_response_at', 'f')} END AS b_fr,
               CASE WHEN t.resolved_at IS NOT NULL THEN {_reading('t.resolved_at', 'r')} END AS b_res,
               {_reading('t.as_of', 'a')} AS b_asof
        FROM t
        {_reading_join('t.opened_at', 'o', 't.calendar')}
        {_reading_join('t.first_response_at', 'f', 't.calendar')}
        {_reading_join('t.resolved_at', 'r', 't.calendar')}
        {_reading_join('t.as_of', 'a', 't.calendar')}
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE sla_pauses AS
        WITH h AS (  -- only the tickets that were ever paused need their next changes
            SELECT ticket_id, status, changed_at,
                   lead(changed_at) OVER (PARTITION BY ticket_id ORDER BY changed_at, _line) AS until
            FROM ticket_status_history
            WHERE ticket_id IN (SELECT ticket_id FROM ticket_status_history WHERE status IN ({paused}))
        ),
        spans AS (
            SELECT b.ticket_id, b.calendar, h.status, b.b_open, b.resolution_min,
                   greatest(h.changed_at, b.opened_at) AS ps,
                   least(coalesce(h.until, {_FAR}), coalesce(b.resolved_at, b.as_of)) AS pe
            FROM h JOIN sla_base b USING (ticket_id)
            WHERE h.status IN ({paused})
        ),
        read AS (
            SELECT s.*, {_reading('s.ps', 'i')} AS b_ps, {_reading('s.pe', 'j')} AS b_pe
            FROM spans s
            {_reading_join('s.ps', 'i', 's.calendar')}
            {_reading_join('s.pe', 'j', 's.calendar')}
            WHERE s.ps < s.pe
        )
        SELECT ticket_id, status, resolution_min, ps, pe, b_ps, b_pe, b_pe - b_ps AS secs,
               b_ps - b_open - coalesce(sum(b_pe - b_ps) OVER (PARTITION BY ticket_id ORDER BY ps
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS active_before
        FROM read
        """
    )


def create_facts(con: duckdb.DuckDBPyConnection, bundle: Bundle) -> None:
    """``sla_facts``: one row per breached or overdue target, with its month and capped credit.

    ``measured_secs``: business seconds from opening to the response/resolution (or to the as-of
    instant for an open ticket), pauses subtracted for resolution; ``due_at``: the instant the
    target's business minutes are used up; ``credit``: the credit owed after the monthly cap."""
    sla = bundle.sla
    assert sla is not None
    cap = sla.credits.monthly_cap_per_customer if sla.credits else None
    capped = ("c.credit" if cap is None else
              f"least(c.credit, greatest({lit(cap)} - coalesce(sum(c.credit) OVER (PARTITION BY c.customer_id, c.month"
              f" ORDER BY c.due_at, c.ticket_id, c.kind ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0), 0))")
    con.execute(
        """
        CREATE OR REPLACE TEMP VIEW sla_clock AS
        WITH paused AS (
            SELECT p.ticket_id, CAST(sum(p.secs) AS BIGINT) AS paused_secs,
                   CAST(coalesce(sum(p.secs) FILTER (WHERE p.active_before < p.resolution_min * 60), 0)
                        AS BIGINT) AS shift_secs
            FROM sla_pauses p
            GROUP BY p.ticket_id
        ),
        targets AS (
            SELECT b.*, 'first_response' AS target, b.first_response_min AS target_min, b.fr_rule_id AS rule_id,
                   b.fr_credit AS per_breach, b.first_response_at AS done_at, b.b_fr AS b_done,
                   0 AS paused_secs, b.b_open + b.first_response_min * 60 AS b_due
            FROM sla_base b
            UNION ALL
            SELECT b.*, 'resolution', b.resolution_min, b.res_rule_id, b.res_credit, b.resolved_at, b.b_res,
                   coalesce(p.paused_secs, 0), b.b_open + b.resolution_min * 60 + coalesce(p.shift_secs, 0)
            FROM sla_base b LEFT JOIN paused p USING (ticket_id)
        ),
        judged AS (
            SELECT t.*,
                   CASE WHEN t.done_at IS NOT NULL THEN 'sla_' || t.target || '_breach'
                        ELSE 'sla_overdue_open' END AS kind,
                   coalesce(t.b_done, t.b_asof) - t.b_open - t.paused_secs AS measured_secs
            FROM targets t
            WHERE t.done_at IS NOT NULL OR t.opened_at < t.as_of
        )
        SELECT j.*,
               CAST(make_timestamp(CAST(epoch_us(i.start_at) + (j.b_due - i.cum_before) * 1000000 AS BIGINT))
                    AS TIMESTAMPTZ) AS due_at,
               -- the local date of due_at: its interval's day, or the next one when it is the
               -- end of a frame that ends at midnight (24:00)
               CASE WHEN j.b_due = i.cum_before + i.secs AND i.end_min = 1440 THEN i.day + 1 ELSE i.day END
                   AS due_day
        FROM judged j
        LEFT JOIN sla_cum_hours i ON i.calendar = j.calendar AND i.bucket = (j.b_due - 1) // 3600
            AND i.cum_before < j.b_due AND j.b_due <= i.cum_before + i.secs
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE sla_facts AS
        WITH c AS (
            SELECT b.*, strftime(b.due_day, '%Y-%m') AS month,
                   CASE WHEN b.kind = 'sla_overdue_open' THEN CAST(0 AS DECIMAL(18, 2))
                        ELSE b.per_breach END AS credit
            FROM sla_clock b
            WHERE b.measured_secs > b.target_min * 60
        )
        SELECT c.ticket_id, c.customer_id, c.kind, c.target, c.rule_id, c.policy_file, c.policy_line,
               c.month, c.calendar, c.contract, c.priority, c.opened_at, c.done_at, c.as_of,
               c.target_min, c.measured_secs, c.paused_secs, c.due_at, c.credit AS per_breach,
               CAST({capped} AS DECIMAL(18, 2)) AS credit
        FROM c
        """
    )


def _empty_facts(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE OR REPLACE TABLE sla_facts (
            ticket_id VARCHAR, customer_id VARCHAR, kind VARCHAR, target VARCHAR, rule_id VARCHAR,
            policy_file VARCHAR, policy_line BIGINT, month VARCHAR, calendar VARCHAR, contract VARCHAR,
            priority VARCHAR, opened_at TIMESTAMPTZ, done_at TIMESTAMPTZ, as_of TIMESTAMPTZ,
            target_min BIGINT, measured_secs BIGINT, paused_secs BIGINT, due_at TIMESTAMPTZ,
            per_breach DECIMAL(18, 2), credit DECIMAL(18, 2))
        """
    )


#: At most this many day entries are listed in a message (the first ones and the last ones).
_HEAD, _TAIL = 10, 3
#: SLA findings whose messages DuckDB writes in one statement (:func:`create_sla_text`).
SLA_TEXT_PART = 50_000


def _weekday(L: Lang, x: str) -> str:
    """The short weekday name of the local timestamp or date ``x`` in ``L``."""
    names = L.words["_weekdays"]
    assert isinstance(names, list) and len(names) == 7
    return f"CASE isodow({x}) " + " ".join(f"WHEN {i} THEN {lit(n)}" for i, n in enumerate(names, start=1)) + " END"


def _interval_text(L: Lang, tz: str, start: str, end: str, whole_end: str) -> str:
    """A business interval's entry in a message, ``Mo 02.03. 09:00–12:00 180 min``: from
    ``start`` to ``end`` (instants) in the time zone ``tz``; ``whole_end``: the interval ends at
    ``end`` (not cut by the span), when a midnight end reads ``24:00``."""
    local = f"timezone({tz}, {start})"
    return f"""{_weekday(L, local)} || ' ' || strftime({local}, '%d.%m. %H:%M') || '–'
               || CASE WHEN {whole_end} AND strftime(timezone({tz}, {end}), '%H:%M') = '00:00'
                       THEN '24:00' ELSE strftime(timezone({tz}, {end}), '%H:%M') END || ' '
               || {L.minutes(f"date_diff('second', {start}, {end})")}"""


def _stamp(L: Lang, x: str) -> str:
    """An instant ``x`` as local weekday, date and time of its calendar (``s.timezone``)."""
    local = f"timezone(s.timezone, {x})"
    return f"({_weekday(L, local)} || ' ' || strftime({local}, {lit(L.word('sla._stamp'))}))"


def _sla_message(L: Lang) -> str:
    """The calendar arithmetic of one SLA finding in ``L`` (over ``s``, ``l``, ``p`` below)."""
    target = (f"CASE s.target WHEN 'first_response' THEN {L.t('sla.target.first_response')} "
              f"ELSE {L.t('sla.target.resolution')} END")
    end = (f"CASE WHEN s.done_at IS NULL THEN {L.t('sla.still_open', at=_stamp(L, 's.as_of'))} "
           f"WHEN s.target = 'first_response' THEN {L.t('sla.first_response_at', at=_stamp(L, 's.done_at'))} "
           f"ELSE {L.t('sla.resolved_at', at=_stamp(L, 's.done_at'))} END")
    spans = "coalesce(p.spans, '')"
    paused_text = L.t("sla.paused", paused="s.paused_secs", spans=spans, measured="s.measured_secs")
    paused = f"CASE WHEN s.paused_secs > 0 THEN {paused_text} ELSE '' END"
    credit = (f"CASE WHEN s.kind = 'sla_overdue_open' THEN {L.t('sla.credit.open')} "
              f"WHEN s.per_breach = 0 THEN {L.t('sla.credit.none')} "
              f"WHEN s.credit = s.per_breach THEN {L.t('sla.credit.owed', credit='s.credit')} "
              f"ELSE {L.t('sla.credit.capped', per='s.per_breach', credit='s.credit')} END")
    return L.t("sla.message", target=target, target_min="CAST(s.target_min AS VARCHAR)",
               contract="s.contract", priority="s.priority", calendar="s.calendar",
               timezone="s.timezone", opened=_stamp(L, "s.opened_at"), end=end,
               days=f"coalesce(l.days{L.suffix}, {L.t('sla.no_days')})",
               total="s.measured_secs + s.paused_secs", paused=paused,
               due=_stamp(L, "s.due_at"), credit=credit)


def create_sla_text(con: duckdb.DuckDBPyConnection, bundle: Bundle, period: str | None,
                    langs: list[Lang] | None = None) -> None:
    """``sla_text(finding_id, ticket_id, kind, rule_id, month, customer_id, message,
    message_<lang> …)``: the calendar arithmetic of every SLA finding of ``period`` (the SLA facts
    the findings report) in each text language (audit.texts) — each business day's
    counted span in local time, the holidays and closing days in between, the pauses, the sum
    against the target, the due instant, the credit."""
    langs = langs or languages(bundle)
    extra = "".join(f", {column('message', L.code)} VARCHAR" for L in langs if L.code != "en")
    if bundle.sla is None or not _exists(con, "policy_sla_calendars"):
        con.execute("CREATE OR REPLACE TABLE sla_text (finding_id VARCHAR, ticket_id VARCHAR, kind VARCHAR,"
                    f" rule_id VARCHAR, month VARCHAR, customer_id VARCHAR, message VARCHAR{extra})")
        return
    month = f"s.month = {lit(period)}" if period else "true"
    # DuckDB writes the messages SLA_TEXT_PART findings at a time, in spans of the export's order
    # (month, customer): a statement's working set is several kB per finding, its result about
    # 1.4 kB, and as the parts are stored one after the other, a span of the export finds its
    # messages together (the scan skips the rest by the row groups' minimum and maximum)
    # instead of reading every message. Spark writes them in one job and spills.
    parts = [(month, None)] if on_spark(con) else span_parts(con, "sla_facts", "s", month, SLA_TEXT_PART)
    write_in_parts(con, "sla_text", [(_sla_text_sql(facts, langs), params) for facts, params in parts])


def _sla_text_sql(where: str, langs: list[Lang]) -> str:
    """The statement of :func:`create_sla_text` for the SLA facts ``where`` says (over ``s``)."""
    # an interval's entry for a span: clipped to the span where the span starts or ends inside
    # it; an interval the span covers whole reads the same for every span, so its text is
    # made once per calendar (iv_text) and only the clipped first and last ones per span
    clipped = {L.code: _interval_text(L, "s.timezone", "greatest(k.start_at, s.opened_at)",
                                      "least(k.end_at, s.end_at)", "k.end_at <= s.end_at")
               for L in langs}
    whole = ", ".join(
        f"{_interval_text(L, 'c.timezone', 'i.start_at', 'i.end_at', 'true')} AS item{L.suffix}"
        for L in langs)
    item = {
        L.code: f"""CASE WHEN k.day IS NOT NULL
                         THEN {_weekday(L, 'k.day')} || ' ' || strftime(k.day, '%d.%m.')
                              || {L.t('sla.closed', reason=f"k.reason{L.suffix}")}
                         WHEN k.start_at >= s.opened_at AND k.end_at <= s.end_at THEN t.item{L.suffix}
                         ELSE {clipped[L.code]} END"""
        for L in langs
    }
    reasons = ", ".join(f"d.reason{L.suffix}" for L in langs)
    no_reasons = ", ".join(f"CAST(NULL AS VARCHAR) AS reason{L.suffix}" for L in langs)
    items = ", ".join(f"{item[L.code]} AS item{L.suffix}" for L in langs)
    more = _HEAD + _TAIL
    # A message lists at most `more` entries: slot 1 … _HEAD the first ones, then, when there
    # are more, "… n more" and the last _TAIL ones. One max() per slot (no ordered aggregate,
    # which holds every group's rows to sort them).
    def slot(L: Lang, pos: int) -> str:
        text = f"item{L.suffix}"
        if pos == _HEAD + 1:
            text = (f"CASE WHEN n > {more} THEN {L.t('sla.more', n=f'CAST(n - {more} AS VARCHAR)')}"
                    f" ELSE '' END || {text}")
        return f"max(CASE WHEN pos = {pos} THEN {text} END)"

    listed = ", ".join(
        f"concat_ws(', ', {', '.join(slot(L, pos) for pos in range(1, more + 1))}) AS days{L.suffix}"
        for L in langs
    )
    messages = ", ".join(f"{_sla_message(L)} AS {column('message', L.code)}" for L in langs)
    head = " UNION ALL ".join(f"SELECT {k}" for k in range(_HEAD))
    tail = " UNION ALL ".join(f"SELECT {k}" for k in range(_TAIL))
    # Texts only where read: a message lists the first and last day entries of a span, which at
    # months of open tickets is a few of hundreds. The business intervals are numbered once per
    # calendar; a span's first and last number come from the intervals of its first and last
    # day (equi-joins, no join of every span with every interval it covers), and only the
    # intervals that can be listed are fetched and formatted. Closed days (holidays) are few
    # and all taken; an entry's place is its interval number plus the closed days before it.
    return f"""
        WITH s AS MATERIALIZED (  -- the findings' facts; their number sid keys the steps below
            SELECT s.*, f.finding_id, c.timezone, coalesce(s.done_at, s.as_of) AS end_at,
                   row_number() OVER (ORDER BY s.ticket_id, s.kind, s.rule_id) AS sid
            FROM sla_facts s JOIN policy_sla_calendars c USING (calendar)
            JOIN findings f ON f.ticket_id = s.ticket_id AND f.kind = s.kind AND f.rule_id = s.rule_id
            WHERE {where}
        ),
        iv AS (
            SELECT calendar, day, start_at, end_at,
                   row_number() OVER (PARTITION BY calendar ORDER BY start_at) AS idx
            FROM sla_intervals
        ),
        lim AS (SELECT calendar, min(day) AS lo, max(day) AS hi FROM iv GROUP BY calendar),
        cal_days AS (
            SELECT calendar, day, min(idx) AS first_idx, max(idx) AS last_idx
            FROM iv GROUP BY calendar, day
        ),
        iv_text AS (  -- each business interval's entry, for the spans that cover it whole
            SELECT i.calendar, i.idx, {whole}
            FROM iv i JOIN policy_sla_calendars c USING (calendar)
        ),
        dense AS (
            SELECT calendar, unnest(generate_series(CAST(lo AS TIMESTAMP), CAST(hi AS TIMESTAMP),
                                                    INTERVAL 1 DAY)) AS d
            FROM lim
        ),
        day_idx AS (  -- per local date: the first interval on or after it, the last on or before
            SELECT d.calendar, CAST(d.d AS DATE) AS day,
                   min(cd.first_idx) OVER (PARTITION BY d.calendar ORDER BY d.d
                                           ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS next_idx,
                   max(cd.last_idx) OVER (PARTITION BY d.calendar ORDER BY d.d
                                          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS prev_idx
            FROM dense d LEFT JOIN cal_days cd ON cd.calendar = d.calendar AND cd.day = CAST(d.d AS DATE)
        ),
        ends AS (
            SELECT s.sid, s.calendar, s.opened_at, s.end_at,
                   greatest(CAST(timezone(s.timezone, s.opened_at) AS DATE), l.lo) AS d_o,
                   least(CAST(timezone(s.timezone, s.end_at) AS DATE), l.hi) AS d_e
            FROM s JOIN lim l USING (calendar)
        ),
        firsts AS (
            SELECT e.sid, min(i.idx) AS idx
            FROM ends e JOIN iv i ON i.calendar = e.calendar AND i.day = e.d_o AND i.end_at > e.opened_at
            GROUP BY e.sid
        ),
        lasts AS (
            SELECT e.sid, max(i.idx) AS idx
            FROM ends e JOIN iv i ON i.calendar = e.calendar AND i.day = e.d_e AND i.start_at < e.end_at
            GROUP BY e.sid
        ),
        bounds AS (  -- the business intervals a span overlaps are the numbers first_idx .. last_idx
            SELECT e.sid, e.calendar,
                   coalesce(f.idx, nx.next_idx) AS first_idx, coalesce(la.idx, pv.prev_idx) AS last_idx
            FROM ends e
            LEFT JOIN firsts f ON f.sid = e.sid
            LEFT JOIN lasts la ON la.sid = e.sid
            LEFT JOIN day_idx nx ON nx.calendar = e.calendar AND nx.day = CAST(e.d_o + INTERVAL 1 DAY AS DATE)
            LEFT JOIN day_idx pv ON pv.calendar = e.calendar AND pv.day = CAST(e.d_e - INTERVAL 1 DAY AS DATE)
        ),
        picked AS (  -- only the first and the last intervals can be listed
            SELECT b.sid, b.calendar, b.first_idx, b.first_idx + o.k AS idx
            FROM bounds b CROSS JOIN ({head}) o(k) WHERE b.first_idx + o.k <= b.last_idx
            UNION
            SELECT b.sid, b.calendar, b.first_idx, b.last_idx - o.k
            FROM bounds b CROSS JOIN ({tail}) o(k) WHERE b.last_idx - o.k >= b.first_idx
        ),
        spans AS (
            SELECT p.sid, p.calendar, p.idx, i.start_at AS sort_at,
                   i.start_at, i.end_at, CAST(NULL AS DATE) AS day, {no_reasons},
                   p.idx - p.first_idx + 1 AS intervals_upto
            FROM picked p JOIN iv i ON i.calendar = p.calendar AND i.idx = p.idx
            UNION ALL
            SELECT s.sid, s.calendar, CAST(NULL AS BIGINT),
                   timezone(s.timezone, CAST(d.day AS TIMESTAMP)),
                   CAST(NULL AS TIMESTAMPTZ), CAST(NULL AS TIMESTAMPTZ), d.day, {reasons},
                   CASE WHEN b.first_idx IS NULL OR b.last_idx IS NULL OR b.last_idx < b.first_idx THEN 0
                        ELSE least(greatest(coalesce(pv.prev_idx, CASE WHEN d.day > l.lo THEN b.last_idx ELSE 0 END),
                                            b.first_idx - 1), b.last_idx) - b.first_idx + 1 END
            FROM s JOIN policy_sla_closed d ON d.calendar = s.calendar
                AND d.day BETWEEN CAST(timezone(s.timezone, s.opened_at) AS DATE)
                              AND CAST(timezone(s.timezone, s.end_at) AS DATE)
            LEFT JOIN bounds b ON b.sid = s.sid
            LEFT JOIN lim l ON l.calendar = s.calendar
            LEFT JOIN day_idx pv ON pv.calendar = s.calendar AND pv.day = CAST(d.day - INTERVAL 1 DAY AS DATE)
            WHERE EXISTS (SELECT 1 FROM policy_sla_frames f  -- a closed day that would be open
                          WHERE f.calendar = s.calendar AND f.isodow = isodow(d.day))
        ),
        numbered AS (
            SELECT spans.*,
                   intervals_upto + count(day) OVER (PARTITION BY sid
                                                     ORDER BY sort_at, day NULLS FIRST, reason
                                                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS rn,
                   coalesce(b.n_intervals, 0) + count(day) OVER (PARTITION BY sid) AS n
            FROM spans
            LEFT JOIN (SELECT sid,
                              CASE WHEN last_idx >= first_idx THEN last_idx - first_idx + 1 ELSE 0 END AS n_intervals
                       FROM bounds) b USING (sid)
        ),
        kept AS (
            SELECT k.sid, k.n, CASE WHEN k.n > {more} AND k.rn > {_HEAD}
                                    THEN k.rn - k.n + {more} ELSE k.rn END AS pos, {items}
            FROM numbered k
            JOIN s ON s.sid = k.sid
            LEFT JOIN iv_text t ON t.calendar = k.calendar AND t.idx = k.idx
            WHERE k.rn <= {_HEAD} OR k.rn > k.n - {_TAIL} OR k.n <= {more}
        ),
        listed AS (
            SELECT sid, {listed}
            FROM kept
            GROUP BY sid
        ),
        pauses AS (
            SELECT p.ticket_id, string_agg(p.status || ' ' || strftime(timezone(c.timezone, p.ps), '%d.%m. %H:%M')
                                           || '–' || strftime(timezone(c.timezone, p.pe), '%d.%m. %H:%M'), ', '
                                           ORDER BY p.ps) AS spans
            FROM sla_pauses p JOIN sla_base b USING (ticket_id) JOIN policy_sla_calendars c USING (calendar)
            WHERE p.secs > 0 AND p.ticket_id IN (SELECT ticket_id FROM s) GROUP BY p.ticket_id
        )
        SELECT s.finding_id, s.ticket_id, s.kind, s.rule_id, s.month, s.customer_id, {messages}
        FROM s
        JOIN policy_sla_calendars c USING (calendar)
        LEFT JOIN listed l ON l.sid = s.sid
        LEFT JOIN pauses p ON p.ticket_id = s.ticket_id AND s.target = 'resolution'
        """


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]).fetchall()[0][0] > 0


def sla_compliance(con: duckdb.DuckDBPyConnection, period: str | None) -> pl.DataFrame | None:
    """Per local month of ``due_at``, contract, priority and target: how many targets were
    measured to the end (answered / resolved), met, breached, and how many are overdue while
    open; ``as_of`` on every row. None when the bundle has no SLA."""
    has_clock = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = 'sla_clock'").fetchall()[0][0]
    if not has_clock:
        return None
    where = f"WHERE month = {lit(period)}" if period else ""
    frame = pl.from_arrow(con.sql(
        f"""
        WITH c AS (
            SELECT *, strftime(due_day, '%Y-%m') AS month,
                   measured_secs > target_min * 60 AS late
            FROM sla_clock
        )
        SELECT month, contract, priority, target,
               count(*) FILTER (WHERE done_at IS NOT NULL) AS measured,
               count(*) FILTER (WHERE done_at IS NOT NULL AND NOT late) AS met,
               count(*) FILTER (WHERE done_at IS NOT NULL AND late) AS breached,
               count(*) FILTER (WHERE done_at IS NULL AND late) AS overdue_open,
               min(as_of) AS as_of
        FROM c {where}
        GROUP BY month, contract, priority, target
        ORDER BY month, contract, priority, target
        """
    ).to_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame
