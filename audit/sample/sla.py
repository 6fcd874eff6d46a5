"""The sample's SLA side: a status history with pauses, and the SLA findings it must raise.

The generator's own reading of the shipped SAMPLE SLA (policies/sla.yaml; docs/semantics.md
"SLA"), in plain Python: calendars walked day by day with zoneinfo, holidays from the
``holidays`` package, pauses cut out of the business intervals, the target consumed interval by
interval. Nothing here shares code with the engine's SQL (audit/engine/sla.py), so the ground
truth it writes is an independent check of it.

Planted: every loaded ticket gets a history (``open`` at opening, ``in_progress`` at the first
response, ``resolved`` at resolution); about a quarter of the tickets worked on for more than
an hour wait for the customer in between (a pause of the resolution clock), and some unresolved
tickets are still waiting at the end. The breaches come from the tickets' own response and
resolution times (slow answers on premium's 24×7 calendar, weekends and the Thuringian holidays
on the office calendar); the pauses turn some would-be resolution breaches into met targets.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

from audit.sample.euserv import TIMEZONE

UTC = dt.UTC
TZ = ZoneInfo(TIMEZONE)
PAUSED = "waiting_for_customer"
PAUSE_RATE = 0.25
OPEN_PAUSE_RATE = 0.3

#: calendar -> (business weekdays 0=Mon, local start, local end (24:00 = next midnight), holidays)
CALENDARS = {
    "always": (range(7), dt.time(0, 0), None, False),
    "office": (range(5), dt.time(8, 0), dt.time(18, 0), True),
}
#: contract -> (calendar, {priority: (first response, resolution)} in business minutes)
TARGETS = {
    "premium": ("always", {"urgent": (30, 240), "high": (60, 480), "normal": (120, 1440), "low": (240, 2880)}),
    "business": ("office", {"urgent": (60, 480), "high": (120, 960), "normal": (240, 1800), "low": (480, 3000)}),
    "basic": ("office", dict.fromkeys(("urgent", "high", "normal", "low"), (600, 6000))),
}
#: contract -> credit per (first response, resolution) breach; per customer and month at most CAP
CREDITS = {"premium": (Decimal("10.00"), Decimal("50.00")), "business": (Decimal("0.00"), Decimal("20.00"))}
CAP = Decimal("200.00")


@cache
def _closed(year: int) -> frozenset[dt.date]:
    import holidays

    public = holidays.country_holidays("DE", subdiv="TH", years=[year], categories=(holidays.PUBLIC,))
    return frozenset(public) | {dt.date(year, 12, 24), dt.date(year, 12, 31)}


def _intervals(calendar: str, start: dt.datetime, stop: dt.datetime):
    """The calendar's business intervals (UTC instants) overlapping [start, stop), clipped."""
    weekdays, opens, closes, with_holidays = CALENDARS[calendar]
    day = start.astimezone(TZ).date() - dt.timedelta(days=1)
    last = stop.astimezone(TZ).date()
    while day <= last:
        if day.weekday() in weekdays and not (with_holidays and day in _closed(day.year)):
            a = dt.datetime.combine(day, opens, tzinfo=TZ).astimezone(UTC)
            end_day, end_time = (day + dt.timedelta(days=1), dt.time(0)) if closes is None else (day, closes)
            b = dt.datetime.combine(end_day, end_time, tzinfo=TZ).astimezone(UTC)
            a, b = max(a, start), min(b, stop)
            if a < b:
                yield a, b
        day += dt.timedelta(days=1)


def _minus(spans: list[tuple[dt.datetime, dt.datetime]], cut: list[tuple[dt.datetime, dt.datetime]]):
    """``spans`` without the parts inside ``cut``."""
    for a, b in spans:
        pieces = [(a, b)]
        for c, d in cut:
            pieces = [p for x, y in pieces for p in ((x, min(y, c)), (max(x, d), y)) if p[0] < p[1]]
        yield from pieces


def _seconds(spans) -> int:
    return sum(int((b - a).total_seconds()) for a, b in spans)


def clock(calendar: str, opened: dt.datetime, end: dt.datetime, target_min: int,
          pauses: list[tuple[dt.datetime, dt.datetime]]) -> tuple[int, dt.datetime]:
    """(business seconds from ``opened`` to ``end`` outside ``pauses``, the due instant)."""
    measured = _seconds(_minus(list(_intervals(calendar, opened, end)), pauses))
    left = target_min * 60
    horizon = opened + dt.timedelta(days=30)
    while True:  # consume the target on the paused-out intervals, a month at a time
        for a, b in _minus(list(_intervals(calendar, opened, horizon)), pauses):
            if (b - a).total_seconds() >= left:
                return measured, a + dt.timedelta(seconds=left)
            left -= int((b - a).total_seconds())
        opened, horizon = horizon, horizon + dt.timedelta(days=30)


def history(rng: random.Random, tickets: list[tuple]) -> list[tuple]:
    """Status history rows ``(ticket_id, status, changed_at)`` for the loaded ``tickets`` rows."""
    rows = []
    for t in tickets:
        tid, opened, first, resolved = t[0], t[3], t[4], t[5]
        rows.append((tid, "open", opened))
        if first is not None:
            rows.append((tid, "in_progress", first))
        if resolved is not None and first is not None and (resolved - first).total_seconds() > 3600:
            if rng.random() < PAUSE_RATE:
                gap = int((resolved - first).total_seconds())
                start = first + dt.timedelta(seconds=rng.randrange(60, gap // 2))
                end = start + dt.timedelta(seconds=rng.randrange(60, int((resolved - start).total_seconds())))
                rows += [(tid, PAUSED, start), (tid, "in_progress", end)]
        elif resolved is None and first is not None and rng.random() < OPEN_PAUSE_RATE:
            rows.append((tid, PAUSED, first + dt.timedelta(seconds=rng.randrange(60, 7200))))
        if resolved is not None:
            rows.append((tid, "resolved", resolved))
    return [(tid, status, at.astimezone(TZ)) for tid, status, at in rows]


def pauses_of(rows: list[tuple]) -> dict[str, list[tuple[dt.datetime, dt.datetime | None]]]:
    """ticket -> paused spans (a status holds until the ticket's next change; None: still)."""
    by_ticket: dict[str, list[tuple]] = defaultdict(list)
    for tid, status, at in rows:
        by_ticket[tid].append((at, status))
    spans: dict[str, list] = defaultdict(list)
    for tid, changes in by_ticket.items():
        changes.sort(key=lambda c: c[0])
        for (at, status), nxt in zip(changes, [*changes[1:], None], strict=True):
            if status == PAUSED:
                spans[tid].append((at, nxt[0] if nxt else None))
    return spans


def sla_findings(tickets: list[tuple], contracts: dict[str, str], history_rows: list[tuple],
                 as_of: dt.datetime) -> list[dict]:
    """The SLA findings (ground-truth records) of the loaded ``tickets`` rows, credits capped
    per customer and month of the due instant in due order."""
    paused = pauses_of(history_rows)
    found = []
    for t in tickets:
        tid, customer, opened, first, resolved, priority = t[0], t[1], t[3], t[4], t[5], t[6]
        contract = contracts[customer]
        if contract not in TARGETS:
            continue
        calendar, per_priority = TARGETS[contract]
        fr_min, res_min = per_priority[priority]
        credit_fr, credit_res = CREDITS.get(contract, (Decimal("0.00"), Decimal("0.00")))
        for which, done, target, credit in (("first_response", first, fr_min, credit_fr),
                                            ("resolution", resolved, res_min, credit_res)):
            end = done if done is not None else as_of
            if done is None and opened >= as_of:
                continue
            cut = [(max(a, opened), min(b or end, end)) for a, b in paused.get(tid, [])] if which == "resolution" else []
            cut = [(a, b) for a, b in cut if a < b]
            measured, due = clock(calendar, opened, end, target, cut)
            if measured <= target * 60:
                continue
            kind = f"sla_{which}_breach" if done is not None else "sla_overdue_open"
            found.append({
                "kind": kind, "ticket_id": tid, "customer_id": customer,
                "month": due.astimezone(TZ).strftime("%Y-%m"), "line_id": None, "status": "open",
                "credit": credit if done is not None else Decimal("0.00"), "due": due,
                "planted": f"SLA {which.replace('_', ' ')}: {measured // 60}:{measured % 60:02d} business min "
                           f"> {target} ({contract}, {priority}, calendar {calendar})",
            })
    spent: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for f in sorted(found, key=lambda f: (f["due"], f["ticket_id"], f["kind"])):
        key = (f["customer_id"], f["month"])
        f["credit"] = min(f["credit"], max(CAP - spent[key], Decimal("0.00")))
        spent[key] += f["credit"]
    return [
        {**{k: v for k, v in f.items() if k not in ("credit", "due")},
         "delta_eur": f"{-f['credit'] if f['credit'] else Decimal('0.00'):.2f}", "at_stake_eur": None}
        for f in found
    ]
