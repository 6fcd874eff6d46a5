"""Invoicing a ticket, the planted billing errors, and the findings the semantics raise for them.

Clean billing does what a billing clerk does with a correct record: every ticket-month the agent
recorded as ``extended`` becomes one line (units = Σ ⌈s/900⌉, the list price of the month, amount
= units × price) on the customer's invoice of that month. Standard work is never invoiced. So a
planted *tier* error needs no billing trick: a ticket recorded ``standard`` that the policy calls
extended is simply not invoiced (``extended_unbilled``), and the reverse is invoiced
(``standard_billed``).

Every planted scenario touches exactly one ticket-month (the month the ticket was opened); the
finding records it yields follow docs/semantics.md's table, with ``delta_eur`` = expected −
billed. Per-ticket kinds (``tier_mismatch``, ``unclassified_ticket`` and the keyword signal) are
derived for every ticket by :func:`ticket_findings`, not only for planted ones, so the ground
truth would also show a clean ticket that accidentally looked wrong.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

from audit.sample.clock import Window, month_key, to_local
from audit.sample.euserv import (
    EXTENDED,
    SIGNAL_KEYWORDS,
    SIGNAL_KIND,
    STANDARD,
    other_price,
    price_on,
    units,
    waived,
)
from audit.sample.tickets import Ticket, TicketMonth

ZERO = Decimal("0.00")

#: Planted scenarios: name -> (policy tier the ticket must have, tier the agent records).
#: ``None`` as policy tier: a category no rule knows. ``None`` as recorded: either.
SCENARIOS: dict[str, tuple[str | None, str | None]] = {
    "tier_extended_recorded_standard": (EXTENDED, STANDARD),
    "tier_standard_recorded_extended": (STANDARD, EXTENDED),
    "standard_billed": (STANDARD, STANDARD),
    "extended_unbilled": (EXTENDED, EXTENDED),
    "units_mismatch": (EXTENDED, EXTENDED),
    "price_mismatch": (EXTENDED, EXTENDED),
    "amount_mismatch": (EXTENDED, EXTENDED),
    "duplicate_billing": (EXTENDED, EXTENDED),
    "billed_without_time": (EXTENDED, EXTENDED),
    "unclassified": (None, None),
    "signal_false_alarm": (STANDARD, STANDARD),
    "credited": (STANDARD, STANDARD),
}
#: Planted once, on the waived customer (K-10007), in the first block.
WAIVER_SCENARIOS: dict[str, tuple[str | None, str | None]] = {
    "waived_unbilled": (EXTENDED, EXTENDED),
    "waived_tier_mismatch": (EXTENDED, STANDARD),
}


@dataclass(slots=True)
class PendingLine:
    """An invoice line before its invoice and line numbers are handed out (per block)."""

    issue_month: str
    prefix: str  # "R": invoice, "GS": credit note (Gutschrift)
    seq: int  # 0: the customer's invoice of the month, 1: a second one in the same month
    customer_id: str
    ticket_id: str
    service_date: dt.date
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    invoice_id: str = ""
    line_id: str = ""

    def row(self) -> tuple:
        return (
            self.line_id, self.invoice_id, self.customer_id, self.ticket_id, self.service_date,
            self.quantity, self.unit_price, self.amount,
        )


@dataclass(slots=True)
class Finding:
    kind: str
    ticket_id: str
    customer_id: str
    month: str
    delta: Decimal | None
    planted: str
    line: PendingLine | None = None
    #: signals: what the ticket would bill if it were extended (docs/semantics.md)
    at_stake: Decimal | None = None

    @property
    def waived(self) -> bool:
        return waived(self.customer_id, self.kind, self.month)

    def record(self) -> dict:
        return {
            "kind": self.kind,
            "ticket_id": self.ticket_id,
            "customer_id": self.customer_id,
            "month": self.month,
            "line_id": self.line.line_id if self.line else None,
            "status": "waived" if self.waived else "open",
            "delta_eur": None if self.delta is None else f"{self.delta:.2f}",
            "at_stake_eur": None if self.at_stake is None else f"{self.at_stake:.2f}",
            "planted": self.planted,
        }


def _line(t: Ticket, day: dt.date, qty: int, price: Decimal, amount: Decimal, **kw) -> PendingLine:
    kw.setdefault("issue_month", month_key(day))
    kw.setdefault("prefix", "R")
    kw.setdefault("seq", 0)
    return PendingLine(
        customer_id=t.customer.customer_id, ticket_id=t.ticket_id, service_date=day,
        quantity=Decimal(qty), unit_price=price, amount=amount, **kw,
    )


def _correct_line(t: Ticket, tm: TicketMonth) -> PendingLine:
    assert tm.last_day is not None and tm.price is not None
    return _line(t, tm.last_day, tm.units, tm.price, tm.expected)


def opened_month(t: Ticket) -> str:
    return month_key(to_local(t.opened))


_DESCRIPTIONS = {
    "tier_extended_recorded_standard": "extended work ({c}) recorded standard, so not invoiced",
    "waived_tier_mismatch": "extended work ({c}) recorded standard, not invoiced; customer waived",
    "tier_standard_recorded_extended": "standard work ({c}) recorded extended and invoiced",
    "standard_billed": "standard ticket ({c}) invoiced anyway",
    "extended_unbilled": "extended ticket-month ({c}) never invoiced",
    "waived_unbilled": "extended ticket-month ({c}) not invoiced; customer waived (goodwill)",
    "units_mismatch": "invoiced units differ from tracked started quarter hours",
    "price_mismatch": "invoiced at the wrong price-list price",
    "amount_mismatch": "typo in the line amount",
    "duplicate_billing": "the same line again on a second invoice",
    "billed_without_time": "invoiced in a month without tracked time",
    "unclassified": "category '{c}' that no policy rule knows",
    "signal_false_alarm": "how-to question mentioning a keyword: rightly standard",
    "credited": "standard ticket invoiced and fully credited: raises nothing",
}


def describe(t: Ticket) -> str:
    """The ``planted`` text of a ticket's findings ("clean ticket" would be a generator bug)."""
    return _DESCRIPTIONS.get(t.scenario or "", "clean ticket").format(c=t.category)


def at_stake(t: Ticket) -> Decimal:
    """Σ units × price in force over all the ticket's entries: what it would bill if extended."""
    return sum((units(secs) * price_on(to_local(start).date()) for start, secs, _ in t.entries), ZERO)


def ticket_findings(t: Ticket) -> list[Finding]:
    """Per-ticket kinds, for any ticket; month = local month of opened_at."""
    out = []
    month, cid, text = opened_month(t), t.customer.customer_id, describe(t)
    if t.policy is None:
        out.append(Finding("unclassified_ticket", t.ticket_id, cid, month, None, text))
    elif t.policy != t.recorded:
        out.append(Finding("tier_mismatch", t.ticket_id, cid, month, ZERO, text))
    if t.recorded == STANDARD and SIGNAL_KEYWORDS.search(t.subject.lower()):
        out.append(Finding(SIGNAL_KIND, t.ticket_id, cid, month, None, text, at_stake=at_stake(t)))
    return out


def _typo(amount: Decimal, rng: random.Random) -> Decimal:
    """A clerk's typo: two neighbouring digits swapped, else one digit off by one."""
    text = f"{amount:.2f}"
    digits = [i for i, ch in enumerate(text) if ch.isdigit()]
    pairs = [(a, b) for a, b in zip(digits, digits[1:], strict=False) if text[a] != text[b] and (a or text[b] != "0")]
    chars = list(text)
    if pairs:
        a, b = rng.choice(pairs)
        chars[a], chars[b] = chars[b], chars[a]
    else:
        i = digits[-1]
        chars[i] = str((int(chars[i]) + 1) % 10)
    return Decimal("".join(chars))


def bill(
    t: Ticket, tms: dict[str, TicketMonth], window: Window, rng: random.Random
) -> tuple[list[PendingLine], list[Finding]]:
    """Invoice lines of ``t`` and the billing findings its planted scenario (if any) yields."""
    scenario = t.scenario
    lines = [_correct_line(t, tms[m]) for m in sorted(tms)] if t.recorded == EXTENDED else []
    if scenario is None:
        return lines, []
    month = opened_month(t)
    tm = tms.get(month)
    cid, text = t.customer.customer_id, describe(t)

    def finding(kind: str, delta: Decimal, line: PendingLine | None = None, at: str = month,
                detail: str = ""):
        return Finding(kind, t.ticket_id, cid, at, delta, f"{text}: {detail}" if detail else text, line)

    if scenario in ("tier_extended_recorded_standard", "waived_tier_mismatch", "extended_unbilled", "waived_unbilled"):
        return [], [finding("extended_unbilled", tm.expected)]  # recorded standard, or forgotten
    if scenario == "tier_standard_recorded_extended":
        return lines, [finding("standard_billed", -tm.expected)]
    if scenario == "standard_billed":
        line = _correct_line(t, tm)
        return [line], [finding("standard_billed", -line.amount)]
    if scenario == "units_mismatch":
        k = rng.randint(1, 3)
        qty = tm.units - k if tm.units - k >= 1 and rng.random() < 0.5 else tm.units + k
        line = _line(t, tm.last_day, qty, tm.price, qty * tm.price)
        return [line], [finding("units_mismatch", tm.expected - line.amount,
                                detail=f"{qty} units invoiced, {tm.units} tracked")]
    if scenario == "price_mismatch":
        wrong = other_price(tm.price)
        line = _line(t, tm.last_day, tm.units, wrong, tm.units * wrong)
        return [line], [finding("price_mismatch", tm.units * (tm.price - wrong), line,
                                detail=f"{wrong} instead of {tm.price}")]
    if scenario == "amount_mismatch":
        line = _correct_line(t, tm)
        line.amount = _typo(line.amount, rng)
        return [line], [finding("amount_mismatch", tm.expected - line.amount, line,
                                detail=f"{line.amount} instead of {tm.expected}")]
    if scenario == "duplicate_billing":
        first = lines[0]
        nxt = window.next_month(month)
        again = _line(t, first.service_date, tm.units, tm.price, first.amount,
                      issue_month=nxt or month, seq=0 if nxt else 1)
        where = "next month's invoice" if nxt else "a second invoice of the month"
        return [first, again], [finding("duplicate_billing", -again.amount, detail=where)]
    if scenario == "billed_without_time":
        qty = rng.randint(1, 4)
        if tm is None:  # no time tracked at all: a flat "support" line on the opened day
            day = to_local(t.opened).date()
            line = _line(t, day, qty, price_on(day), qty * price_on(day))
            return [line], [finding("billed_without_time", -line.amount, detail="no time tracked at all")]
        nxt = window.next_month(month)
        day = window.first_day(nxt) + dt.timedelta(days=rng.randint(0, 9))
        extra = _line(t, day, qty, price_on(day), qty * price_on(day))
        return [*lines, extra], [finding("billed_without_time", -extra.amount, at=nxt,
                                         detail=f"time in {month}, extra line dated {day}")]
    if scenario == "credited":
        line = _correct_line(t, tm)
        nxt = window.next_month(month)
        credit = _line(t, line.service_date, -tm.units, tm.price, -line.amount,
                       issue_month=nxt or month, prefix="GS")
        return [line, credit], []
    # unclassified, signal_false_alarm: billing as recorded; their findings are per ticket
    return lines, []


def month_deltas(t: Ticket, tms: dict[str, TicketMonth], lines: list[PendingLine]) -> dict[str, Decimal]:
    """delta = expected − billed per ticket-month (none for unclassified tickets)."""
    if t.policy is None:
        return {}
    billed: dict[str, Decimal] = {}
    for line in lines:
        key = month_key(line.service_date)
        billed[key] = billed.get(key, ZERO) + line.amount
    out = {}
    for key in sorted(set(tms) | set(billed)):
        expected = tms[key].expected if (t.policy == EXTENDED and key in tms) else ZERO
        out[key] = expected - billed.get(key, ZERO)
    return out
