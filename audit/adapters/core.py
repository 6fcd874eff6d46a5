"""The mapping machinery every adapter shares: column specs, value maps, times and durations.

A source (one entry of ``sources.yaml``, or the files of ``support-audit import``) names a
canonical table, an adapter and options. The adapter reads the product's records and builds each
canonical column from a :class:`ColumnSpec` — its own defaults (the product's field names),
overridden by the source's ``columns:`` and by the policy's ``mappings:`` (value maps are policy
decisions: which group means which category, which attribute records the tier).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from audit.adapters.durations import DurationError, DurationFormat, StartRule, minutes_text
from audit.adapters.records import Mapped, Record, Row, SetAside, field_text


class MapError(ValueError):
    """A value an adapter cannot map: the record is set aside with this reason."""

    def __init__(self, column: str | None, value: str | None, reason: str):
        super().__init__(reason)
        self.column = column
        self.value = value
        self.reason = reason


@dataclass(frozen=True)
class ColumnSpec:
    """How one canonical column is made from a record.

    ``field``: the product's field (a dotted path into JSON objects; several separated by ``|``:
    the first non-empty one); ``const``: a fixed value; ``regex``: extract the first group (or
    the match) from the field's text; ``prefix``: put in front of the value; ``values``: a value
    map (a list value — tags — takes its first element the map knows); ``default``: the value
    when the map does not know it (else the value is kept and reported as unmapped); ``format``:
    a ``strptime`` format for a date or timestamp; ``duration``: the duration format of a
    ``minutes`` column (see :data:`audit.adapters.durations.FORMATS`).
    """

    field: str | None = None
    const: str | None = None
    regex: str | None = None
    prefix: str = ""
    values: tuple[tuple[str, str], ...] = ()
    default: str | None = None
    format: str | None = None
    duration: str | None = None
    strip_number: bool = False  # "2 normal" -> "normal" when the value map does not know it

    def describe(self) -> str:
        if self.const is not None:
            return f"constant '{self.const}'"
        parts = [f"'{self.field}'" if self.field else "(nothing)"]
        if self.regex:
            parts.append(f"regex {self.regex}")
        if self.prefix:
            parts.append(f"prefix '{self.prefix}'")
        if self.format:
            parts.append(f"format {self.format}")
        if self.duration:
            parts.append(f"as {self.duration}")
        if self.values:
            parts.append(f"value map ({len(self.values)} values)")
        return ", ".join(parts)

    @classmethod
    def parse(cls, value: Any) -> ColumnSpec:
        """From sources.yaml: a field name, or a mapping of the attributes above."""
        if isinstance(value, str):
            return cls(field=value)
        if not isinstance(value, dict):
            raise ValueError("write a field name or a mapping (field, const, regex, prefix, values, default, format, duration)")
        known = {"field", "const", "regex", "prefix", "values", "default", "format", "duration"}
        unknown = set(value) - known
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))} (known: {', '.join(sorted(known))})")
        values = value.get("values") or {}
        if not isinstance(values, dict):
            raise ValueError("values: write a mapping 'source value: canonical value'")
        if value.get("regex"):
            re.compile(str(value["regex"]))
        if value.get("duration"):
            DurationFormat(str(value["duration"]))
        return cls(
            field=_opt(value.get("field")), const=_opt(value.get("const")),
            regex=_opt(value.get("regex")), prefix=str(value.get("prefix") or ""),
            values=tuple((str(k), str(v)) for k, v in values.items()),
            default=_opt(value.get("default")), format=_opt(value.get("format")),
            duration=_opt(value.get("duration")),
        )


def _opt(v: Any) -> str | None:
    return None if v is None else str(v)


def lookup(fields: dict[str, Any], path: str) -> Any:
    """A field by name, or by a dotted path into nested objects (``author.displayName``);
    names match exactly first, then case-insensitively."""
    for alternative in path.split("|"):
        alternative = alternative.strip()
        value = _lookup_one(fields, alternative)
        if value not in (None, "", []):
            return value
    return None


@functools.lru_cache(maxsize=256)
def _folded(keys: tuple[Any, ...]) -> dict[str, Any]:
    """Lower-cased name -> name as written, once per header (records of a file share it)."""
    out: dict[str, Any] = {}
    for k in keys:
        out.setdefault(str(k).strip().lower(), k)
    return out


def _lookup_one(fields: dict[str, Any], path: str) -> Any:
    if path in fields:
        return fields[path]
    key = _folded(tuple(fields)).get(path.lower())
    if key is not None:
        return fields[key]
    node: Any = fields
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


@dataclass
class Context:
    """What adapters need from the run: the policy's time zone and value maps, the output."""

    timezone: str
    mappings: list[Any] = field(default_factory=list)  # audit.policy.model.ValueMapping
    out: Mapped = field(default_factory=Mapped)


class Builder:
    """Builds the canonical rows of one table from one source's records."""

    def __init__(self, ctx: Context, adapter: str, table: str, defaults: dict[str, ColumnSpec],
                 overrides: dict[str, ColumnSpec], options: dict[str, Any]):
        self.ctx = ctx
        self.adapter = adapter
        self.table = table
        self.options = options
        self.zone = str(options.get("timezone") or ctx.timezone)
        specs = {**defaults, **overrides}
        for m in ctx.mappings:
            t, _, column = m.column.partition(".")
            if t != table or (m.source and m.source != adapter):
                continue
            base = specs.get(column, ColumnSpec())
            specs[column] = ColumnSpec(
                field=m.field or base.field, const=None, regex=base.regex, prefix=base.prefix,
                values=tuple(m.values.items()), default=m.default, format=base.format,
                duration=base.duration, strip_number=base.strip_number,
            )
        self.specs = specs
        ctx.out.mapping.setdefault(table, [])
        listed = {c for c, _ in ctx.out.mapping[table]}
        for column, spec in specs.items():
            if column not in listed:
                ctx.out.mapping[table].append((column, f"{adapter}: {spec.describe()}"))

    def note(self, **how: str) -> None:
        """Describe computed columns for ``sources check`` (column=how it is made)."""
        listed = {c for c, _ in self.ctx.out.mapping[self.table]}
        for column, text in how.items():
            if column not in listed:
                self.ctx.out.mapping[self.table].append((column, f"{self.adapter}: {text}"))

    # -- values --------------------------------------------------------------------------------

    def raw(self, record: Record, column: str) -> Any:
        spec = self.specs.get(column)
        if spec is None:
            return None
        if spec.const is not None:
            return spec.const
        return lookup(record.fields, spec.field) if spec.field else None

    def text(self, record: Record, column: str) -> str | None:
        """The column's text after regex, value map and prefix."""
        spec = self.specs.get(column)
        if spec is None:
            return None
        value = self.raw(record, column)
        if value is None or value == [] or value == "":
            return spec.default  # an empty field takes the default (None without one)
        if spec.values:
            return self._mapped(spec, column, value)
        text = field_text(value)
        if text is None:
            return None
        if spec.regex:
            m = re.search(spec.regex, text)
            if not m:
                raise MapError(column, text, f"{column}: '{text}' does not match the pattern {spec.regex}")
            text = m.group(1) if m.re.groups else m.group(0)
        if spec.strip_number and not spec.values:
            text = _strip_number(text)
        if spec.prefix and not text.startswith(spec.prefix):
            text = spec.prefix + text
        return text

    def _mapped(self, spec: ColumnSpec, column: str, value: Any) -> str | None:
        table = dict(spec.values)
        folded = {k.strip().lower(): v for k, v in table.items()}
        candidates = value if isinstance(value, list) else [value]
        texts = [t for t in (field_text(v) for v in candidates) if t is not None]
        for t in texts:
            for key in (t, t.lower(), _strip_number(t).lower()):
                if key in table:
                    return table[key]
                if key in folded:
                    return folded[key]
        if spec.default is not None:
            return spec.default
        shown = ", ".join(texts) if texts else ""
        if shown:
            self.ctx.out.note_unmapped(self.table, column, shown)
        if isinstance(value, list):
            return None  # tags none of which is mapped: the column stays empty (reported)
        return _strip_number(shown) if spec.strip_number else shown or None

    def timestamp(self, record: Record, column: str, value: Any = None) -> dt.datetime | None:
        """A timestamp (aware, or naive local time of the source's zone)."""
        spec = self.specs.get(column, ColumnSpec())
        if value is None:
            value = self.raw(record, column)
        return parse_time(value, spec.format, column)

    def date(self, record: Record, column: str, value: Any = None) -> dt.date | None:
        spec = self.specs.get(column, ColumnSpec())
        if value is None:
            value = self.raw(record, column)
        return parse_date(value, spec.format, column)

    def seconds(self, record: Record, column: str = "minutes", fmt: DurationFormat | None = None,
                value: Any = None) -> Decimal | None:
        spec = self.specs.get(column, ColumnSpec())
        if value is None:
            value = self.raw(record, column)
        if value is None:
            return None
        if isinstance(value, dt.timedelta):  # an XLSX duration cell
            return Decimal(round(value.total_seconds()))
        if isinstance(value, dt.time):  # an XLSX time cell used as a duration
            return Decimal(value.hour * 3600 + value.minute * 60 + value.second)
        kind = fmt or DurationFormat(spec.duration or "minutes", **self.duration_settings())
        try:
            return kind.seconds(field_text(value) or "")
        except DurationError as exc:
            raise MapError(column, field_text(value), f"{column}: {exc}") from None

    def duration_settings(self) -> dict[str, Decimal]:
        out = {}
        for key in ("minutes_per_unit", "hours_per_day", "days_per_week"):
            if self.options.get(key) is not None:
                out[key] = Decimal(str(self.options[key]))
        if "time_unit_minutes" in self.options:
            out["minutes_per_unit"] = Decimal(str(self.options["time_unit_minutes"]))
        return out

    def entry_tier(self, record: Record, ticket: str | None, default_field: str) -> None:
        """Note the tier a time entry records (Kimai's or Freshdesk's billable flag) when the
        policy maps ``tickets.tier`` with this adapter as its source."""
        for m in self.ctx.mappings:
            if m.column != "tickets.tier" or m.source != self.adapter or ticket is None:
                continue
            text = field_text(lookup(record.fields, m.field or default_field))
            folded = {k.strip().lower(): v for k, v in m.values.items()}
            tier = m.default if text is None else folded.get(text.lower(), m.default)
            if tier is None:
                if text is not None:
                    self.ctx.out.note_unmapped("tickets", "tier", text)
                return
            seen = self.ctx.out.entry_tiers.setdefault(ticket, {})
            seen[tier] = seen.get(tier, 0) + 1
            return

    # -- time entries ----------------------------------------------------------------------------

    def time_values(self, *, start: dt.datetime | None, end: dt.datetime | None,
                    seconds: Decimal | None, booked: dt.datetime | dt.date | None = None,
                    rule: StartRule | None = None) -> dict[str, str | None]:
        """started_at / ended_at / minutes of a time entry.

        ``prefer`` (the source option): ``duration`` — the stored duration wins when both it and
        the two ends exist (Kimai's rounding, breaks); ``span`` — end − start wins. An entry with
        a booking time or a date but no start gets its start from ``rule``."""
        prefer = str(self.options.get("prefer") or "duration")
        if start is None and booked is not None and seconds is not None:
            start = (rule or StartRule()).start(booked, seconds, self.zone)
        if start is None:
            raise MapError("started_at", None, "started_at: the record has no start, booking time or date")
        if end is not None and seconds is not None:
            if prefer == "span":
                seconds = None
            else:
                end = None
        if end is not None:
            return {"started_at": self.time_text(start), "ended_at": self.time_text(end), "minutes": None}
        if seconds is None:
            raise MapError("minutes", None, "minutes: the record has neither a duration nor an end")
        text = minutes_text(seconds)
        if text is not None:
            return {"started_at": self.time_text(start), "ended_at": None, "minutes": text}
        # not exact in 4 decimals of a minute (e.g. 100 s): the end, exact to the second
        aware = self.aware(start)
        end = (aware.astimezone(dt.UTC) + dt.timedelta(seconds=int(seconds.to_integral_value()))).astimezone(aware.tzinfo)
        return {"started_at": aware.isoformat(), "ended_at": end.isoformat(), "minutes": None}

    def aware(self, value: dt.datetime) -> dt.datetime:
        return value if value.tzinfo else value.replace(tzinfo=zoneinfo.ZoneInfo(self.zone))

    def time_text(self, value: dt.datetime) -> str:
        """Aware: ISO with offset. Naive: local wall-clock text when the source's zone is the
        policy's (ingestion reads it there, DST included), else converted with the source's zone."""
        if value.tzinfo is None and self.zone == self.ctx.timezone:
            return value.isoformat(sep=" ")
        return self.aware(value).isoformat()

    # -- records ---------------------------------------------------------------------------------

    def emit(self, record: Record, values: dict[str, str | None]) -> None:
        self.ctx.out.rows.setdefault(self.table, []).append(Row(values, record))

    def set_aside(self, record: Record, column: str | None, value: str | None, reason: str) -> None:
        self.ctx.out.set_aside.append(SetAside(
            self.table, record.file, record.line, record.where, column, value,
            f"{self.adapter}: {reason}", record.raw))

    def run(self, records, make) -> int:
        """``make(record) -> values`` for every record; problems set the record aside. Returns
        the number of records (rows in)."""
        n = 0
        for record in records:
            n += 1
            problem = record.fields.get("__problem__") if isinstance(record.fields, dict) else None
            if problem:
                self.set_aside(record, None, None, f"{record.where}: {problem}")
                continue
            try:
                values = make(record)
            except MapError as exc:
                self.set_aside(record, exc.column, exc.value, f"{record.where}: {exc.reason}")
                continue
            if values is not None:  # the row keeps where it came from, not the record's fields
                self.emit(Record(record.file, record.line, record.where, {}, record.raw), values)
        return n


def _strip_number(text: str) -> str:
    """Zammad's and Znuny's priorities: "2 normal" -> "normal"."""
    m = re.fullmatch(r"\s*\d+\s+(.+)", text)
    return m.group(1).strip() if m else text


_ISO_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?")


def parse_time(value: Any, fmt: str | None, column: str) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(0, 0))
    text = str(value).strip()
    if fmt:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            raise MapError(column, text, f"{column}: '{text}' does not have the format {fmt}") from None
    m = _ISO_RE.fullmatch(text)
    if m:
        y, mo, d, h, mi, s, frac, off = m.groups()
        try:
            micro = int((frac or "0")[:6].ljust(6, "0"))
            tz = None
            if off:
                if off in ("Z", "z"):
                    tz = dt.UTC
                else:
                    sign = 1 if off[0] == "+" else -1
                    digits = off[1:].replace(":", "")
                    minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
                    tz = dt.timezone(sign * dt.timedelta(minutes=minutes))
            return dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), micro, tzinfo=tz)
        except ValueError:
            pass
    for pattern in ("%Y-%m-%d", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y"):
        try:
            return dt.datetime.strptime(text, pattern)
        except ValueError:
            continue
    raise MapError(column, text, f"{column}: '{text}' is not a date and time this adapter can read "
                                 "(set the column's format, e.g. %m/%d/%Y %H:%M)")


def parse_date(value: Any, fmt: str | None, column: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    patterns = (fmt,) if fmt else ("%Y-%m-%d", "%d.%m.%Y")
    for pattern in patterns:
        try:
            return dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    hint = f"the format {fmt}" if fmt else "a date this adapter reads (2026-03-05 or 05.03.2026); set date_format, e.g. %m/%d/%Y"
    raise MapError(column, text, f"{column}: '{text}' is not {hint}")


def combine(day: dt.date | None, clock: Any, column: str) -> dt.datetime | None:
    """A date and a clock time (``14:30``, ``14:30:05``, an XLSX time or datetime)."""
    if day is None or clock in (None, ""):
        return None
    if isinstance(clock, dt.datetime):  # an XLSX cell: a date and time, or a time of 1899-12-31
        return dt.datetime.combine(day, clock.time()) if clock.year < 1901 else clock
    if isinstance(clock, dt.time):
        return dt.datetime.combine(day, clock)
    text = str(clock).strip()
    m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", text)
    if not m or int(m[1]) > 23:
        raise MapError(column, text, f"{column}: '{text}' is not a clock time (H:i, e.g. 14:30)")
    return dt.datetime.combine(day, dt.time(int(m[1]), int(m[2]), int(m[3] or 0)))
