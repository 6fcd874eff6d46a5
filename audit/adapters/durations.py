"""Typed durations, ticket references and the start of undated work.

A duration column of a foreign export always has a declared format (:data:`FORMATS`): the value
``0.33`` is 0.33 *hours* only because the source says ``hours``, never because it looks like
hours. Every parse is exact (:class:`~decimal.Decimal` seconds); a value that does not have the
declared form is an error with a message that names the form, never a guess.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

#: Duration formats a source can declare, with an example for messages.
FORMATS: dict[str, str] = {
    "seconds": "4800",
    "minutes": "80 or 80,5",
    "hours": "1.33 or 1,33 (decimal hours, either decimal mark)",
    "h:mm": "1:20",
    "h:mm:ss": "1:20:00",
    "iso8601": "PT1H20M",
    "jira": "1w 2d 3h 20m",
    "units": "12.3 (time units of the helpdesk, times minutes_per_unit)",
}


class DurationError(ValueError):
    """A value that does not have the declared duration format (the message says which)."""


@dataclass(frozen=True)
class DurationFormat:
    """A declared duration format and its settings.

    ``minutes_per_unit``: length of one product time unit (Zammad, Znuny); ``hours_per_day`` and
    ``days_per_week``: Jira's ``1d`` and ``1w`` (instance settings, 8 and 5 by default).
    """

    kind: str
    minutes_per_unit: Decimal = Decimal(1)
    hours_per_day: Decimal = Decimal(8)
    days_per_week: Decimal = Decimal(5)

    def __post_init__(self) -> None:
        if self.kind not in FORMATS:
            raise ValueError(
                f"unknown duration format '{self.kind}' (one of: {', '.join(FORMATS)})"
            )

    def seconds(self, text: str) -> Decimal:
        """Exact seconds of ``text``; :class:`DurationError` when it is not in this format."""
        return parse_duration(text, self)


_NUMBER = re.compile(r"[+]?(\d+|\d*[.,]\d+)")
_HMM = re.compile(r"(\d+):([0-5]\d)")
_HMMSS = re.compile(r"(\d+):([0-5]\d):([0-5]\d)")
_ISO = re.compile(
    r"P(?:(?P<d>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:[.,]\d+)?)H)?(?:(?P<m>\d+(?:[.,]\d+)?)M)?(?:(?P<s>\d+(?:[.,]\d+)?)S)?)?"
)
_JIRA_PART = re.compile(r"(\d+(?:[.,]\d+)?)\s*([wdhm])")


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation as exc:  # pragma: no cover - the patterns only let numbers through
        raise DurationError(f"'{text}' is not a number") from exc


def parse_duration(text: str, fmt: DurationFormat) -> Decimal:
    value = (text or "").strip().replace("\u00a0", "")
    if not value:
        raise DurationError("the duration is empty")
    kind = fmt.kind
    want = f"expected {kind} such as {FORMATS[kind]}"
    if kind in ("seconds", "minutes", "hours", "units"):
        if not _NUMBER.fullmatch(value):
            raise DurationError(f"'{value}' is not a duration in {kind} ({want})")
        n = _decimal(value)
        factor = {"seconds": Decimal(1), "minutes": Decimal(60), "hours": Decimal(3600),
                  "units": fmt.minutes_per_unit * 60}[kind]
        return n * factor
    if kind == "h:mm":
        m = _HMM.fullmatch(value)
        if not m:
            raise DurationError(f"'{value}' is not a duration h:mm ({want})")
        return Decimal(int(m[1]) * 3600 + int(m[2]) * 60)
    if kind == "h:mm:ss":
        m = _HMMSS.fullmatch(value)
        if not m:
            raise DurationError(f"'{value}' is not a duration h:mm:ss ({want})")
        return Decimal(int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3]))
    if kind == "iso8601":
        m = _ISO.fullmatch(value.upper())
        if not m or value.upper() in ("P", "PT") or value.upper().endswith("T"):
            raise DurationError(f"'{value}' is not an ISO 8601 duration ({want})")
        parts = {k: _decimal(v) if v else Decimal(0) for k, v in m.groupdict().items()}
        return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
    # jira: "1w 2d 3h 20m", parts in this order, each at most once
    pos = 0
    total = Decimal(0)
    seen: list[str] = []
    order = "wdhm"
    for m in _JIRA_PART.finditer(value):
        if value[pos:m.start()].strip():
            break
        unit = m[2]
        if seen and order.index(unit) <= order.index(seen[-1]):
            raise DurationError(f"'{value}': the parts must be in the order w d h m, each once ({want})")
        seen.append(unit)
        n = _decimal(m[1])
        hour = Decimal(3600)
        total += n * {"w": fmt.days_per_week * fmt.hours_per_day * hour,
                      "d": fmt.hours_per_day * hour, "h": hour, "m": Decimal(60)}[unit]
        pos = m.end()
    if not seen or value[pos:].strip():
        raise DurationError(f"'{value}' is not a Jira duration ({want})")
    return total


def minutes_text(seconds: Decimal) -> str | None:
    """``seconds`` as the canonical ``minutes`` text when it fits 4 decimals exactly, else None
    (the caller then writes an end time, exact to the second)."""
    minutes = seconds / 60
    if minutes == minutes.quantize(Decimal("0.0001")):
        text = format(minutes.normalize(), "f")
        return text
    return None


# -- ticket references -------------------------------------------------------------------------

#: Default patterns: ``#67321``, ``Ticket#67321``, ``Ticket 67321``, ``ticket:67321``, and
#: Redmine's ``Bug #1: subject``. The first group is the ticket number.
DEFAULT_REF_PATTERNS = (
    r"(?i)\bticket\s*[#:]\s*([A-Za-z0-9][A-Za-z0-9._-]*)",
    r"(?<![\w&])#((?:[A-Za-z][A-Za-z0-9_]*-)?\d+)\b",
)


class TicketRefs:
    """Finds a ticket reference in free text by the configured patterns (first match wins).

    Each pattern's first capturing group is the reference (the whole match when it has none);
    ``prefix`` is put in front (Kimai's ``#67321`` -> ``T-67321`` with prefix ``T-``).
    """

    def __init__(self, patterns: list[str] | tuple[str, ...] = DEFAULT_REF_PATTERNS, prefix: str = ""):
        self.patterns = [re.compile(p) for p in patterns]
        self.prefix = prefix

    def find(self, *texts: str | None) -> str | None:
        for pattern in self.patterns:
            for text in texts:
                if not text:
                    continue
                m = pattern.search(text)
                if m:
                    ref = m.group(1) if pattern.groups else m.group(0)
                    if ref.startswith(self.prefix):
                        return ref
                    return self.prefix + ref
        return None


# -- the start of undated work -----------------------------------------------------------------

START_RULES = ("booking", "booking_minus_duration", "date_at")


@dataclass(frozen=True)
class StartRule:
    """How ``started_at`` is derived where a product records a booking time or a date, no start.

    - ``booking``: the booking time is the start;
    - ``booking_minus_duration``: the work ended when it was booked;
    - ``date_at``: the booking's (local) date at ``hour`` (``"09:00"``), for date-only exports.
    """

    rule: str = "booking"
    hour: dt.time = dt.time(9, 0)

    @classmethod
    def parse(cls, text: str) -> StartRule:
        """``booking``, ``booking_minus_duration`` or ``date_at HH:MM``."""
        words = (text or "").split()
        if words and words[0] in ("booking", "booking_minus_duration") and len(words) == 1:
            return cls(words[0])
        if words and words[0] == "date_at" and len(words) == 2 and re.fullmatch(r"\d{1,2}:\d{2}", words[1]):
            h, m = (int(x) for x in words[1].split(":"))
            if h < 24 and m < 60:
                return cls("date_at", dt.time(h, m))
        raise ValueError(
            f"'{text}' is not a start rule (write booking, booking_minus_duration or date_at 09:00)"
        )

    def start(self, booked: dt.datetime | dt.date, seconds: Decimal, zone: str) -> dt.datetime:
        """The start of the work, timezone-aware. A naive ``booked`` is local time in ``zone``."""
        tz = zoneinfo.ZoneInfo(zone)
        if self.rule == "date_at":
            day = booked.astimezone(tz).date() if isinstance(booked, dt.datetime) and booked.tzinfo \
                else (booked.date() if isinstance(booked, dt.datetime) else booked)
            return dt.datetime.combine(day, self.hour, tz)
        if not isinstance(booked, dt.datetime):
            booked = dt.datetime.combine(booked, dt.time(0, 0))
        if booked.tzinfo is None:
            booked = booked.replace(tzinfo=tz)
        if self.rule == "booking":
            return booked
        # subtract in absolute time (across a clock change the wall clock jumps, the work does not)
        utc = booked.astimezone(dt.UTC) - dt.timedelta(seconds=int(seconds.to_integral_value()))
        return utc.astimezone(tz)

    def __str__(self) -> str:
        return f"date_at {self.hour:%H:%M}" if self.rule == "date_at" else self.rule
