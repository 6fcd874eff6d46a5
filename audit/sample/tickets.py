"""One ticket: what it is about (category, cause, service, subject) and when work happened.

Attributes are drawn so that they fit together (a mail fault on a mail server, an iptables
lock-out on a customer-run server). A caller that needs a given *policy* tier asks for it and
the draw is repeated until the default policy's rules give that tier, so planted errors start
from an otherwise ordinary ticket.

Times are integer epoch seconds. Work happens mostly in business hours; durations follow a
support desk's shape: many 5–20 minute entries, a tail to a few hours, some exact quarter hours
and the 900 s / 901 s edge of "je angefangene 1/4h".
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from dataclasses import dataclass, field
from decimal import Decimal

from audit.sample import vocab
from audit.sample.clock import Window, local_epoch, month_key, to_local
from audit.sample.draw import Weights, between
from audit.sample.euserv import (
    EXTENDED,
    SIGNAL_KEYWORDS,
    STANDARD,
    UNKNOWN_CATEGORIES,
    policy_tier,
    price_on,
    units,
)
from audit.sample.people import Customer, Service

ANY = "any"
UNCLASSIFIED = "unclassified"

CATEGORIES = Weights.of({
    "customer_center_usage": 18, "software_usage": 12, "documentation": 3, "service_fault": 25,
    "webdesign": 8, "customer_center_data": 9, "misconfiguration": 10, "data_loss": 8,
})
# "" = cause not recorded (an empty cell).
_CAUSES = {category: Weights.of(w) for category, w in {
    "misconfiguration": {"customer": 85, "unknown": 10, "": 5},
    "data_loss": {"customer": 85, "unknown": 10, "": 5},
    "webdesign": {"customer": 40, "": 60},
    "customer_center_data": {"customer": 50, "": 50},
    "service_fault": {"provider": 60, "unknown": 15, "": 15, "customer": 10},
    "customer_center_usage": {"": 75, "unknown": 22, "customer": 3},
    "software_usage": {"": 75, "unknown": 22, "customer": 3},
    "documentation": {"": 1},
}.items()}
_UNKNOWN_CAUSES = Weights.of({"provider": 30, "unknown": 30, "": 40})  # never "customer": it decides
_SUBJECTS = {
    "customer_center_usage": vocab.CUSTOMER_CENTER_USAGE_SUBJECTS,
    "software_usage": vocab.SOFTWARE_USAGE_SUBJECTS,
    "documentation": vocab.DOCUMENTATION_SUBJECTS,
    "webdesign": vocab.WEBDESIGN_SUBJECTS,
    "customer_center_data": vocab.CUSTOMER_CENTER_DATA_SUBJECTS,
    "misconfiguration": vocab.MISCONFIGURATION_SUBJECTS,
    "data_loss": vocab.DATA_LOSS_SUBJECTS,
    **vocab.UNKNOWN_CATEGORY_SUBJECTS,
}
#: products a ticket of the category is about (service faults: any service)
_SERVICE_PRODUCTS = {
    "webdesign": ("webhosting",),
    "data_loss": ("webhosting", "mailserver", "vserver"),
    "misconfiguration": ("vserver", "root_server", "dedicated"),
    "customer_center_data": ("domain",),
    "domain_transfer": ("domain",),
    "software_usage": ("webhosting", "mailserver"),
}
_RESPONSE = {"urgent": (300, 1800), "high": (900, 7200), "normal": (1800, 18000), "low": (3600, 86400)}
_N_ENTRIES = Weights.of({1: 15, 2: 22, 3: 22, 4: 18, 5: 13, 6: 10})


@dataclass(slots=True)
class Ticket:
    ticket_id: str
    customer: Customer
    service: Service | None
    category: str
    cause: str | None
    subject: str
    policy: str | None  # tier the default policy derives; None = unclassified
    recorded: str
    priority: str
    channel: str | None
    agent: str
    opened: int = 0
    first_response: int | None = None
    resolved: int | None = None
    #: (start epoch, seconds, given as minutes only)
    entries: list[tuple[int, int, bool]] = field(default_factory=list)
    scenario: str | None = None


@dataclass(slots=True)
class TicketMonth:
    """The tracked side of one ticket-month, as the default policy prices it."""

    month: str
    entries: int = 0
    seconds: int = 0
    units: int = 0
    expected: Decimal = Decimal("0.00")
    last_day: dt.date | None = None
    price: Decimal | None = None


def draw_attributes(
    rng: random.Random, customer: Customer, want: str, keyword: bool | None = None
) -> tuple[Service | None, str, str | None, str, str | None]:
    """(service, category, cause, subject, policy tier) for a ticket of ``customer``.

    ``want``: STANDARD / EXTENDED (redraw until the policy gives that tier), UNCLASSIFIED (a
    category no rule knows) or ANY. ``keyword``: the subject must (True) / must not (False)
    match the signal's keywords; None: either.
    """
    for _ in range(200):
        if want == UNCLASSIFIED:
            category = rng.choice(UNKNOWN_CATEGORIES)
            cause = _UNKNOWN_CAUSES.draw(rng) or None
        else:
            category = CATEGORIES.draw(rng)
            cause = _CAUSES[category].draw(rng) or None
        service = _service_for(rng, customer, category)
        tier = policy_tier(category, cause, service.managed if service else None)
        if want in (STANDARD, EXTENDED) and tier != want:
            continue
        pool = _subject_pool(category, service)
        if keyword is not None:
            pool = tuple(s for s in pool if bool(SIGNAL_KEYWORDS.search(s.lower())) == keyword)
        if pool:
            return service, category, cause, rng.choice(pool), tier
    raise RuntimeError(f"no ticket attributes for want={want} keyword={keyword}")  # pragma: no cover


def _subject_pool(category: str, service: Service | None) -> tuple[str, ...]:
    if category == "service_fault":
        return vocab.FAULT_SUBJECTS[service.product if service else None]
    return _SUBJECTS[category]


def _service_for(rng: random.Random, customer: Customer, category: str) -> Service | None:
    """The service a ticket of this category is plausibly about (None: the account itself)."""
    if category == "service_fault":
        return rng.choice(customer.services) if rng.random() < 0.9 else None
    wanted = _SERVICE_PRODUCTS.get(category)
    if not wanted or (category in ("customer_center_data", "software_usage") and rng.random() < 0.5):
        return None
    candidates = customer.services_of(wanted)
    if candidates:
        return rng.choice(candidates)
    return rng.choice(customer.services) if category in ("misconfiguration", "data_loss") else None


class Calendar:
    """Which local days tickets are opened on: weekdays mostly, weekends less."""

    def __init__(self, window: Window):
        self.window = window
        self._all = self._weighted(window.days)
        self._month = {
            m: self._weighted([d for d in window.days if month_key(d) == m][:-1] or [window.first_day(m)])
            for m in window.month_keys
        }

    @staticmethod
    def _weighted(days: list[dt.date] | tuple[dt.date, ...]) -> Weights[dt.date]:
        return Weights((d, 10 if d.weekday() < 5 else (3 if d.weekday() == 5 else 2)) for d in days)

    def day(self, rng: random.Random, month: str | None = None) -> dt.date:
        """A day of the window (or of ``month``, never its last day: planted work fits inside)."""
        return (self._all if month is None else self._month[month]).draw(rng)

    @staticmethod
    def time_of_day(rng: random.Random, day: dt.date) -> int:
        """Seconds after local midnight; never 02:00–03:59, so no DST gap or fold is hit."""
        if day.weekday() >= 5:
            return between(rng, 9 * 3600, 22 * 3600 - 1)
        u = rng.random()
        if u < 0.9:
            return between(rng, 8 * 3600, 18 * 3600 - 1)
        if u < 0.95:
            return between(rng, 18 * 3600, 23 * 3600 - 1)
        return between(rng, 6 * 3600, 8 * 3600 - 1)

    def opened(self, rng: random.Random, month: str | None = None) -> int:
        day = self.day(rng, month)
        return local_epoch(day, self.time_of_day(rng, day))


def response_seconds(rng: random.Random, priority: str) -> int:
    return between(rng, *_RESPONSE[priority])


def entry_seconds(rng: random.Random) -> int:
    """Duration of one time entry."""
    u = rng.random()
    if u < 0.04:
        return 900
    if u < 0.08:
        return 901
    if u < 0.18:
        return 900 * between(rng, 1, 8)
    if u < 0.60:
        return between(rng, 300, 1200)
    if u < 0.85:
        return between(rng, 1201, 3600)
    if u < 0.97:
        return between(rng, 3601, 10800)
    return between(rng, 10801, 21600)


def _gap_seconds(rng: random.Random) -> int:
    u = rng.random()
    if u < 0.55:
        return between(rng, 120, 3600)
    if u < 0.85:
        return between(rng, 3600, 86400)
    return between(rng, 86400, 4 * 86400)


def n_entries(rng: random.Random) -> int:
    return _N_ENTRIES.draw(rng)


def draw_entries(
    rng: random.Random, first_start: int, limit: int, n: int, first_seconds: int | None = None
) -> list[tuple[int, int, bool]]:
    """Up to ``n`` entries, the first at ``first_start``; none starts at or after ``limit``.

    About one in eight is recorded as whole (or half) minutes without an end, as a time tracker
    that only knows durations would export it.
    """
    out: list[tuple[int, int, bool]] = []
    for i in range(n):
        special = i == 0 and first_seconds is not None
        start = first_start if i == 0 else out[-1][0] + out[-1][1] + _gap_seconds(rng)
        if not special:
            start = _daytime(rng, start)
        if i == 0:
            start = min(start, limit - 60)
        elif start >= limit:
            break
        seconds = first_seconds if special else entry_seconds(rng)
        minutes_only = not special and rng.random() < 0.12
        if minutes_only:
            seconds = max(1, round(seconds / 60)) * 60 + (30 if rng.random() < 0.1 else 0)
        out.append((start, seconds, minutes_only))
    return out


def _daytime(rng: random.Random, start: int) -> int:
    """Work that would start at night mostly waits for the morning (some on-call work stays)."""
    local = to_local(start)
    if 7 <= local.hour < 20 or rng.random() < 0.15:
        return start
    day = local.date() + dt.timedelta(days=1 if local.hour >= 20 else 0)
    return local_epoch(day, 8 * 3600 + between(rng, 0, 3600))


@functools.lru_cache(maxsize=4096)
def _month_and_price(day: dt.date) -> tuple[str, Decimal]:
    return month_key(day), price_on(day)


def month_summaries(starts: list[dt.datetime], seconds: list[int]) -> dict[str, TicketMonth]:
    """Tracked side per local month of each entry's start (docs/semantics.md): units, money.

    ``starts`` are the entries' local start times, ``seconds`` their durations.
    """
    out: dict[str, TicketMonth] = {}
    for start, secs in zip(starts, seconds, strict=True):
        day = start.date()
        key, price = _month_and_price(day)
        tm = out.get(key)
        if tm is None:
            tm = out[key] = TicketMonth(key)
        if tm.price is not None and tm.price != price:
            raise AssertionError("a price change inside a month cannot be billed as one line")
        u = units(secs)
        tm.entries += 1
        tm.seconds += secs
        tm.units += u
        tm.expected += u * price
        tm.price = price
        tm.last_day = day if tm.last_day is None else max(tm.last_day, day)
    return out
