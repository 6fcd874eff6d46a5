"""The generated period, in local time: months, days, DST change days, epoch conversions.

The generator does its arithmetic on integer epoch seconds (an instant plus a duration is
exact, also across a DST change) and converts to local wall-clock time only to pick a date, a
month or to print a timestamp. Aware ``datetime`` arithmetic would be wall-clock arithmetic
across DST and is avoided on purpose.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cached_property

from audit.sample.euserv import TZ

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(text: str) -> tuple[int, int]:
    """``"2026-05"`` → ``(2026, 5)``; ValueError for anything else."""
    m = _MONTH.match(text)
    if not m:
        raise ValueError(text)
    return int(m.group(1)), int(m.group(2))


def add_months(year: int, month: int, k: int) -> tuple[int, int]:
    i = year * 12 + (month - 1) + k
    return i // 12, i % 12 + 1


def month_key(day: dt.date | dt.datetime) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def local_epoch(day: dt.date, seconds_of_day: int) -> int:
    """Epoch of a local wall-clock time; the first occurrence when it is ambiguous (fold=0)."""
    h, rest = divmod(seconds_of_day, 3600)
    t = dt.datetime(day.year, day.month, day.day, h, rest // 60, rest % 60, tzinfo=TZ)
    return int(t.timestamp())


def to_local(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, TZ)


def unambiguous(epoch: int) -> int:
    """Move an instant out of the repeated hour of a DST end (read back as a *naive* local time,
    ``02:30`` means the first occurrence, so an instant in the second one would not round-trip)."""
    return epoch + 3600 if to_local(epoch).fold else epoch


@dataclass(frozen=True)
class Window:
    """``months`` consecutive local calendar months starting at ``start`` (``YYYY-MM``)."""

    start: str
    months: int

    @cached_property
    def month_keys(self) -> tuple[str, ...]:
        y, m = parse_month(self.start)
        return tuple("{:04d}-{:02d}".format(*add_months(y, m, k)) for k in range(self.months))

    def first_day(self, month: str) -> dt.date:
        y, m = parse_month(month)
        return dt.date(y, m, 1)

    def next_month(self, month: str) -> str | None:
        """The following month when it is inside the window."""
        i = self.month_keys.index(month) + 1
        return self.month_keys[i] if i < len(self.month_keys) else None

    def month_end_day(self, month: str) -> dt.date:
        y, m = add_months(*parse_month(month), 1)
        return dt.date(y, m, 1) - dt.timedelta(days=1)

    def month_bounds(self, month: str) -> tuple[int, int]:
        """Epochs of the month's first local midnight and of the next month's."""
        y, m = add_months(*parse_month(month), 1)
        return local_epoch(self.first_day(month), 0), local_epoch(dt.date(y, m, 1), 0)

    @cached_property
    def end_epoch(self) -> int:
        return self.month_bounds(self.month_keys[-1])[1]

    @cached_property
    def days(self) -> tuple[dt.date, ...]:
        first = self.first_day(self.month_keys[0])
        last = self.month_end_day(self.month_keys[-1])
        return tuple(first + dt.timedelta(days=i) for i in range((last - first).days + 1))

    @cached_property
    def dst_changes(self) -> tuple[tuple[dt.date, int], ...]:
        """(local date, epoch of the change) for each change of the UTC offset in the window."""
        out = []
        for day in self.days:
            lo, hi = local_epoch(day, 0), local_epoch(day + dt.timedelta(days=1), 0)
            if to_local(lo).utcoffset() != to_local(hi).utcoffset():
                while hi - lo > 1:  # first second with the new offset
                    mid = (lo + hi) // 2
                    lo, hi = (mid, hi) if to_local(mid).utcoffset() == to_local(lo).utcoffset() else (lo, mid)
                out.append((day, hi))
        return tuple(out)
