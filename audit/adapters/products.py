"""The product adapters: each reads one product's real export and builds canonical rows.

Every adapter states its defaults as :class:`~audit.adapters.core.ColumnSpec` (the product's
own field names); a source's ``columns:`` and the policy's ``mappings:`` override them. What an
adapter cannot map is set aside with file, line (or JSON path) and reason.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from audit.adapters.core import Builder, ColumnSpec, Context, MapError, combine, lookup
from audit.adapters.durations import DEFAULT_REF_PATTERNS, DurationFormat, StartRule, TicketRefs
from audit.adapters.records import (
    FileCount,
    Record,
    field_text,
    json_records,
    read_csv,
    read_json,
    read_xlsx,
)
from audit.errors import DataError, Diagnostic, Location


@dataclass
class Source:
    """One source: files of one product feeding one canonical table."""

    table: str
    adapter: str
    files: list[Path]
    options: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, ColumnSpec] = field(default_factory=dict)
    origin: Location | None = None  # where sources.yaml declares it

    def option_path(self, key: str) -> list[Path]:
        value = self.options.get(key)
        if not value:
            return []
        base = Path(self.options.get("_base", "."))
        items = value if isinstance(value, list) else [value]
        out: list[Path] = []
        for item in items:
            out.extend(expand(base, str(item)) or [base / str(item)])
        return out


#: The ticket timestamps every ticket adapter reads as instants.
TICKET_TIMES = ("opened_at", "first_response_at", "resolved_at")


def _ticket_values(b: Builder, r: Record) -> dict[str, str | None]:
    """A ticket's canonical values: the text columns as mapped, the timestamps as instants."""
    values = {c: b.text(r, c) for c in b.specs if c not in TICKET_TIMES}
    for c in TICKET_TIMES:
        t = b.timestamp(r, c)
        values[c] = b.time_text(t) if t else None
    return values


def expand(base: Path, pattern: str) -> list[Path]:
    """The files a path or glob names, relative to ``base`` (``**`` and wildcards in folders
    too), sorted; an absolute pattern stays absolute."""
    p = Path(pattern)
    if not any(c in pattern for c in "*?["):
        path = p if p.is_absolute() else base / p
        return [path] if path.is_file() else []
    root, rel = (Path(p.anchor), str(p.relative_to(p.anchor))) if p.is_absolute() else (base, pattern)
    return sorted(x for x in root.glob(rel) if x.is_file())


def _spec(**columns: str | ColumnSpec) -> dict[str, ColumnSpec]:
    return {k: (v if isinstance(v, ColumnSpec) else ColumnSpec(field=v)) for k, v in columns.items()}


def _records(path: Path, source: Source, json_key: str | None = None) -> Iterator[Record]:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls", ".ods"):
        yield from read_xlsx(path, source.options.get("sheet", 0))
    elif suffix in (".json", ".jsonl", ".ndjson"):
        data = read_json(path)
        items, json_path = data, "$"
        if isinstance(data, dict):
            key = json_key if json_key and json_key in data else next(
                (k for k, v in data.items() if isinstance(v, list)), None)
            if key is None:
                items, json_path = [data], "$"
            else:
                items, json_path = data[key], f"$.{key}"
        if not isinstance(items, list):
            raise DataError(diagnostics=[Diagnostic(Location(str(path)), "is not a JSON array of records",
                                                    "export the list (an array of objects)")])
        yield from json_records(path, items, json_path)
    else:
        yield from read_csv(path, encoding=source.options.get("encoding"),
                            delimiter=source.options.get("delimiter"))


def _count(ctx: Context, source: Source, path: Path, n: int) -> None:
    ctx.out.files.append(FileCount(source.table, path, source.adapter, n))


def _refs(source: Source) -> TicketRefs:
    patterns = source.options.get("ticket_patterns") or DEFAULT_REF_PATTERNS
    return TicketRefs(list(patterns), str(source.options.get("ticket_prefix") or ""))


def _rule(source: Source, default: str) -> StartRule:
    try:
        return StartRule.parse(str(source.options.get("started_at") or default))
    except ValueError as exc:
        raise DataError(diagnostics=[Diagnostic(source.origin or Location("sources"), str(exc))]) from None


def _entry_id(record: Record, prefix: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", record.file.stem).strip("-") or "file"
    return f"{prefix}{stem}:{record.line}"


def _unsupported(source: Source, tables: tuple[str, ...]) -> DataError:
    return DataError(diagnostics=[Diagnostic(
        source.origin or Location(source.adapter),
        f"the {source.adapter} adapter does not feed the {source.table} table",
        f"it reads: {', '.join(tables)}; use the generic adapter with columns: for other files")])


# -- generic and canonical ---------------------------------------------------------------------

def generic(ctx: Context, source: Source) -> None:
    """Any CSV/XLSX/JSON file: ``columns:`` maps every canonical column (rename, constant,
    format, regex, value map, duration); a column not listed is read under its canonical name."""
    from audit.contract import TABLES

    table = TABLES[source.table]
    defaults = {c.name: ColumnSpec(field=c.name) for c in table.columns if c.name != "duration_seconds"}
    b = Builder(ctx, source.adapter, source.table, defaults, source.columns, source.options)
    refs_wanted = "ticket_patterns" in source.options
    refs = _refs(source)

    def make(r: Record) -> dict[str, str | None]:
        values: dict[str, str | None] = {}
        for column in b.specs:
            spec = b.specs[column]
            if source.table == "time_entries" and column == "minutes" and spec.duration:
                seconds = b.seconds(r, "minutes")
                values["minutes"] = None if seconds is None else _minutes(seconds, b, r)
                continue
            kind = table.column(column).type if column in table.column_names else None
            if spec.format and kind in ("timestamp", "date"):
                if kind == "date":
                    d = b.date(r, column)
                    values[column] = d.isoformat() if d else None
                else:
                    t = b.timestamp(r, column)
                    values[column] = b.time_text(t) if t else None
                continue
            values[column] = b.text(r, column)
        if refs_wanted and "ticket_id" in table.column_names and not source.columns.get("ticket_id"):
            values["ticket_id"] = refs.find(*(field_text(v) for v in r.fields.values()))
        return values

    for path in source.files:
        _count(ctx, source, path, b.run(_records(path, source), make))


def _minutes(seconds: Decimal, b: Builder, r: Record) -> str:
    from audit.adapters.durations import minutes_text

    text = minutes_text(seconds)
    if text is None:
        raise MapError("minutes", str(seconds), f"minutes: {seconds} seconds is not a whole number of "
                       "ten-thousandths of a minute; map an end time instead")
    return text


# -- Zammad ------------------------------------------------------------------------------------

ZAMMAD_PRIORITY_IDS = {"1": "1 low", "2": "2 normal", "3": "3 high"}


def zammad(ctx: Context, source: Source) -> None:
    """Zammad 6.x: API JSON tickets (plain or ``expand=true``), API JSON time accountings (the
    internal ticket id joined to the ticket number), or the XLSX time-accounting report."""
    if source.table == "tickets":
        return _zammad_tickets(ctx, source)
    if source.table == "time_entries":
        return _zammad_time(ctx, source)
    raise _unsupported(source, ("tickets", "time_entries"))


def _zammad_tickets(ctx: Context, source: Source) -> None:
    prefix = str(source.options.get("ticket_prefix") or "")
    defaults = _spec(
        ticket_id=ColumnSpec(field="number", prefix=prefix),
        customer_id="organization|organization_id",
        service_id="service",
        opened_at="created_at",
        first_response_at="first_response_at",
        resolved_at="close_at",
        priority=ColumnSpec(field="priority|priority_id", strip_number=True),
        channel="create_article_type|create_article_type_id",
        category="group|group_id",
        subject="title",
        cause="cause",
        tier="tier",
    )
    b = Builder(ctx, "zammad", "tickets", defaults, source.columns, source.options)

    def make(r: Record) -> dict[str, str | None]:
        fields = r.fields
        if "priority" not in fields and "priority_id" in fields and "priority" in b.specs:
            fields = {**fields, "priority": ZAMMAD_PRIORITY_IDS.get(str(fields["priority_id"]), fields["priority_id"])}
            r = Record(r.file, r.line, r.where, fields, r.raw)
        return _ticket_values(b, r)

    for path in source.files:
        _count(ctx, source, path, b.run(_records(path, source), make))


def zammad_ticket_numbers(source: Source) -> dict[str, str]:
    """Internal id -> number, from the ticket files named by the ``tickets`` option."""
    out: dict[str, str] = {}
    for path in source.option_path("tickets"):
        if not path.is_file():
            raise DataError(diagnostics=[Diagnostic(source.origin or Location(str(path)),
                                                    f"tickets: {path} not found",
                                                    "name the ticket export the time accountings refer to")])
        for r in _records(path, source):
            if "id" in r.fields and "number" in r.fields:
                out[str(r.fields["id"])] = str(r.fields["number"])
    return out


def _zammad_time(ctx: Context, source: Source) -> None:
    prefix = str(source.options.get("ticket_prefix") or "")
    numbers = zammad_ticket_numbers(source)
    units = DurationFormat("units", minutes_per_unit=Decimal(str(source.options.get("time_unit_minutes", 1))))
    rule = _rule(source, "booking_minus_duration")
    agents = {str(k): str(v) for k, v in (source.options.get("agents") or {}).items()}
    json_defaults = _spec(entry_id="id", ticket_id="ticket_id", agent="created_by|created_by_id",
                          minutes="time_unit", booked="created_at")
    xlsx_defaults = _spec(ticket_id=ColumnSpec(field="Ticket#", prefix=prefix),
                          agent="Agent - Login|Agent - Name|Agent", minutes="Time Units",
                          booked="Created at")
    for path in source.files:
        xlsx = path.suffix.lower() != ".json"
        b = Builder(ctx, "zammad", "time_entries", xlsx_defaults if xlsx else json_defaults,
                    source.columns, source.options)
        b.note(started_at=f"booking time (created_at) by the rule {rule}",
               minutes=f"time units x {units.minutes_per_unit} min")

        def make(r: Record, b: Builder = b, xlsx: bool = xlsx) -> dict[str, str | None]:
            if xlsx:
                ticket = b.text(r, "ticket_id")
                entry = _entry_id(r, "zammad-")
            else:
                internal = field_text(b.raw(r, "ticket_id"))
                if internal is None:
                    raise MapError("ticket_id", None, "ticket_id: the time accounting names no ticket")
                if internal not in numbers:
                    hint = ("name the ticket export in the source's 'tickets' option" if not numbers
                            else "the ticket is not in the ticket export named by 'tickets'")
                    raise MapError("ticket_id", internal,
                                   f"ticket_id: internal ticket id {internal} has no ticket number ({hint})")
                number = numbers[internal]
                ticket = number if number.startswith(prefix) else prefix + number
                entry = b.text(r, "entry_id")
            agent = b.text(r, "agent")
            agent = agents.get(agent or "", agent)
            seconds = b.seconds(r, "minutes", units)
            booked = b.timestamp(r, "booked")
            return {"entry_id": entry, "ticket_id": ticket, "agent": agent,
                    **b.time_values(start=None, end=None, seconds=seconds, booked=booked, rule=rule)}

        _count(ctx, source, path, b.run(_records(path, source), make))


# -- Znuny / OTRS ------------------------------------------------------------------------------

def znuny(ctx: Context, source: Source) -> None:
    """Znuny/OTRS: the ``time_accounting`` table as CSV (``ticket_id, article_id, time_unit,
    create_time, create_by``; naive server-local times) and ticket lists (``tn`` or ``Ticket#``)."""
    prefix = str(source.options.get("ticket_prefix") or "")
    if source.table == "tickets":
        defaults = _spec(
            ticket_id=ColumnSpec(field="tn|Ticket#|TicketNumber", prefix=prefix),
            customer_id="customer_id|CustomerID|Customer ID", service_id="service|Service",
            opened_at="create_time|Created", first_response_at="first_response|FirstResponse",
            resolved_at="close_time|Closed", priority=ColumnSpec(field="priority|Priority", strip_number=True),
            channel="channel|Channel", category="queue|Queue", subject="title|Title",
            cause="cause", tier="tier")
        b = Builder(ctx, "znuny", "tickets", defaults, source.columns, source.options)

        for path in source.files:
            _count(ctx, source, path, b.run(_records(path, source), partial(_ticket_values, b)))
        return
    if source.table != "time_entries":
        raise _unsupported(source, ("tickets", "time_entries"))
    numbers: dict[str, str] = {}
    for path in source.option_path("tickets"):
        for r in _records(path, source):
            tid, tn = lookup(r.fields, "id"), lookup(r.fields, "tn")
            if tid is not None and tn is not None:
                numbers[str(tid)] = str(tn)
    units = DurationFormat("units", minutes_per_unit=Decimal(str(source.options.get("time_unit_minutes", 1))))
    rule = _rule(source, "booking_minus_duration")
    agents = {str(k): str(v) for k, v in (source.options.get("agents") or {}).items()}
    defaults = _spec(entry_id="id", ticket_id="ticket_id", agent="create_by", minutes="time_unit",
                     booked="create_time")
    b = Builder(ctx, "znuny", "time_entries", defaults, source.columns, source.options)
    b.note(started_at=f"create_time by the rule {rule}", minutes=f"time_unit x {units.minutes_per_unit} min")

    def make(r: Record) -> dict[str, str | None]:
        internal = field_text(b.raw(r, "ticket_id"))
        if internal is None:
            raise MapError("ticket_id", None, "ticket_id: the time accounting names no ticket")
        number = numbers.get(internal, internal) if numbers else internal
        if numbers and internal not in numbers:
            raise MapError("ticket_id", internal, f"ticket_id: internal ticket id {internal} is not in the ticket list")
        entry = b.text(r, "entry_id") or _entry_id(r, "znuny-")
        agent = b.text(r, "agent")
        return {"entry_id": entry, "ticket_id": number if number.startswith(prefix) else prefix + number,
                "agent": agents.get(agent or "", agent),
                **b.time_values(start=None, end=None, seconds=b.seconds(r, "minutes", units),
                                booked=b.timestamp(r, "booked"), rule=rule)}

    for path in source.files:
        _count(ctx, source, path, b.run(_records(path, source), make))


# -- Jira --------------------------------------------------------------------------------------

def _adf_text(node: Any) -> str:
    """The plain text of an Atlassian Document Format comment (v3), or the v2 string."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node
    if isinstance(node, dict):
        own = node.get("text", "") if node.get("type") == "text" else ""
        return own + " ".join(_adf_text(c) for c in node.get("content", []) or [])
    if isinstance(node, list):
        return " ".join(_adf_text(c) for c in node)
    return ""


def jira(ctx: Context, source: Source) -> None:
    """Jira REST worklogs (``{"worklogs": [...]}``, v2 or v3). The issue key comes from an
    ``issueKey`` field, the file name (``SUP-12.json``, pattern ``issue_from_filename``), the
    ``issue_keys`` option (issueId -> key) or a reference in the comment."""
    if source.table != "time_entries":
        raise _unsupported(source, ("time_entries",))
    fmt = DurationFormat("jira", hours_per_day=Decimal(str(source.options.get("hours_per_day", 8))),
                         days_per_week=Decimal(str(source.options.get("days_per_week", 5))))
    keys = {str(k): str(v) for k, v in (source.options.get("issue_keys") or {}).items()}
    name_re = re.compile(str(source.options.get("issue_from_filename") or r"([A-Z][A-Z0-9_]+-\d+)"))
    refs = _refs(source)
    prefix = str(source.options.get("ticket_prefix") or "")
    defaults = _spec(entry_id="id", agent="author.displayName|author.accountId|author.name",
                     started_at="started", seconds="timeSpentSeconds", time_spent="timeSpent")
    b = Builder(ctx, "jira", "time_entries", defaults, source.columns, source.options)
    b.note(ticket_id="issueKey, issue_keys[issueId], the file name or a reference in the comment",
           minutes=f"timeSpentSeconds, else timeSpent (1d = {fmt.hours_per_day} h, 1w = {fmt.days_per_week} d)")
    for path in source.files:
        from_name = name_re.search(path.name)

        def make(r: Record, from_name: re.Match | None = from_name) -> dict[str, str | None]:
            key = field_text(lookup(r.fields, "issueKey|issue.key"))
            issue_id = field_text(lookup(r.fields, "issueId"))
            if key is None and issue_id in keys:
                key = keys[issue_id]
            if key is None and from_name:
                key = from_name.group(1) if from_name.re.groups else from_name.group(0)
            if key is None:
                key = refs.find(_adf_text(r.fields.get("comment")))
            if key is None:
                raise MapError("ticket_id", issue_id, f"ticket_id: no issue key for issueId {issue_id} "
                               "(name the file after the issue, e.g. SUP-12.json, or set issue_keys)")
            raw_seconds = b.raw(r, "seconds")
            seconds = (b.seconds(r, "seconds", DurationFormat("seconds"), raw_seconds)
                       if raw_seconds is not None else b.seconds(r, "time_spent", fmt))
            return {"entry_id": b.text(r, "entry_id"), "ticket_id": key if key.startswith(prefix) else prefix + key,
                    "agent": b.text(r, "agent"),
                    **b.time_values(start=b.timestamp(r, "started_at"), end=None, seconds=seconds)}

        _count(ctx, source, path, b.run(_records(path, source, "worklogs"), make))


# -- Freshdesk ---------------------------------------------------------------------------------

#: Freshdesk's numeric codes (API v2): priority 1–4 and the ticket's source (channel).
FRESHDESK_PRIORITIES = (("1", "low"), ("2", "normal"), ("3", "high"), ("4", "urgent"))
FRESHDESK_SOURCES = (("1", "email"), ("2", "portal"), ("3", "phone"), ("7", "chat"),
                     ("9", "portal"), ("10", "email"))


def freshdesk(ctx: Context, source: Source) -> None:
    """Freshdesk: tickets (``GET /api/v2/tickets?include=stats``; priority 1–4, source codes,
    ``custom_fields``) and time entries (``GET /api/v2/time_entries``): ``time_spent`` is
    ``hh:mm``; the start is ``start_time`` (else ``executed_at``); ``agent_id`` is named by the
    ``agents`` option."""
    if source.table == "tickets":
        return _freshdesk_tickets(ctx, source)
    if source.table != "time_entries":
        raise _unsupported(source, ("tickets", "time_entries"))
    prefix = str(source.options.get("ticket_prefix") or "")
    agents = {str(k): str(v) for k, v in (source.options.get("agents") or {}).items()}
    defaults = _spec(entry_id="id", ticket_id=ColumnSpec(field="ticket_id", prefix=prefix),
                     agent="agent_id", started_at="start_time|executed_at",
                     minutes=ColumnSpec(field="time_spent", duration="h:mm"))
    b = Builder(ctx, "freshdesk", "time_entries", defaults, source.columns, source.options)
    b.note(agent="agent_id, named by the agents option")

    def make(r: Record) -> dict[str, str | None]:
        agent = b.text(r, "agent")
        b.entry_tier(r, b.text(r, "ticket_id"), "billable")
        return {"entry_id": b.text(r, "entry_id"), "ticket_id": b.text(r, "ticket_id"),
                "agent": agents.get(agent or "", agent),
                **b.time_values(start=b.timestamp(r, "started_at"), end=None, seconds=b.seconds(r, "minutes"))}

    for path in source.files:
        _count(ctx, source, path, b.run(_records(path, source), make))


def _freshdesk_tickets(ctx: Context, source: Source) -> None:
    prefix = str(source.options.get("ticket_prefix") or "")
    defaults = _spec(
        ticket_id=ColumnSpec(field="id", prefix=prefix), customer_id="company_id|requester_id",
        service_id="custom_fields.cf_service", opened_at="created_at",
        first_response_at="stats.first_responded_at", resolved_at="stats.resolved_at|stats.closed_at",
        priority=ColumnSpec(field="priority", values=FRESHDESK_PRIORITIES),
        channel=ColumnSpec(field="source", values=FRESHDESK_SOURCES),
        category="type", subject="subject", cause="custom_fields.cf_cause", tier="custom_fields.cf_tier")
    b = Builder(ctx, "freshdesk", "tickets", defaults, source.columns, source.options)

    for path in source.files:
        _count(ctx, source, path, b.run(_records(path, source), partial(_ticket_values, b)))


# -- Kimai -------------------------------------------------------------------------------------

#: Kimai's export headers, English and German (the user's language decides).
KIMAI_HEADERS = {
    "date": ("Date", "Datum"), "from": ("From", "Von"), "to": ("To", "Bis"),
    "duration": ("Duration", "Dauer"), "user": ("User", "Benutzer", "Name"),
    "description": ("Description", "Beschreibung"), "tags": ("Tags", "Schlagworte"),
    "billable": ("Billable", "Abrechenbar"),
}


def kimai(ctx: Context, source: Source) -> None:
    """Kimai's CSV/XLSX timesheet export (en or de header). No ticket column: the ticket is found
    in the description or the tags by ``ticket_patterns``. Duration is ``h:mm`` or decimal hours
    (``duration_format``); ``prefer: duration`` (default) keeps Kimai's rounded duration,
    ``span`` takes To − From."""
    if source.table != "time_entries":
        raise _unsupported(source, ("time_entries",))
    refs = _refs(source)
    kind = str(source.options.get("duration_format") or "h:mm")
    fmt = DurationFormat(kind)
    date_format = source.options.get("date_format")
    alt = {k: "|".join(v) for k, v in KIMAI_HEADERS.items()}
    defaults = _spec(agent=alt["user"], date=ColumnSpec(field=alt["date"], format=date_format),
                     start=alt["from"], end=alt["to"], minutes=alt["duration"])
    b = Builder(ctx, "kimai", "time_entries", defaults, source.columns, source.options)
    b.note(entry_id="file name and row", ticket_id=f"a reference in Description/Tags ({len(refs.patterns)} patterns, prefix '{refs.prefix}')",
           started_at="Date + From", ended_at=f"Date + To (past midnight: the next day); prefer {source.options.get('prefer') or 'duration'}")

    def make(r: Record) -> dict[str, str | None]:
        text = [field_text(lookup(r.fields, alt["description"])), field_text(lookup(r.fields, alt["tags"]))]
        ticket = refs.find(*text)
        if ticket is None:
            raise MapError("ticket_id", " / ".join(t for t in text if t) or None,
                           "ticket_id: no ticket reference in the description or the tags "
                           "(e.g. #67321, Ticket#67321, ticket:67321; see ticket_patterns)")
        day = b.date(r, "date")
        start_raw, end_raw = b.raw(r, "start"), b.raw(r, "end")
        start = combine(day, start_raw, "started_at")
        end = combine(day, end_raw, "ended_at")
        if start and end and end < start:  # past midnight
            end += dt.timedelta(days=1)
        seconds = b.seconds(r, "minutes", fmt)
        b.entry_tier(r, ticket, alt["billable"])
        return {"entry_id": _entry_id(r, str(source.options.get("entry_prefix") or "kimai-")),
                "ticket_id": ticket, "agent": b.text(r, "agent"),
                **b.time_values(start=start, end=end, seconds=seconds)}

    for path in source.files:
        _count(ctx, source, path, b.run(_records(path, source), make))


# -- Redmine -----------------------------------------------------------------------------------

def redmine(ctx: Context, source: Source) -> None:
    """Redmine's time-log CSV (``Project, Date, User, Activity, Issue, Comment, Hours``): Issue
    ``Bug #1: subject``, Hours decimal with the locale's mark, the user's date format
    (``date_format``), ISO-8859-1 unless ``encoding`` says otherwise. No start: ``started_at``
    rule ``date_at 09:00`` by default."""
    if source.table != "time_entries":
        raise _unsupported(source, ("time_entries",))
    options = {"encoding": "iso-8859-1", **source.options}
    source = Source(source.table, source.adapter, source.files, options, source.columns, source.origin)
    prefix = str(options.get("ticket_prefix") or "")
    rule = _rule(source, "date_at 09:00")
    defaults = _spec(
        ticket_id=ColumnSpec(field="Issue|Ticket|Aufgabe", regex=r"#(\d+)", prefix=prefix),
        agent="User|Benutzer", date=ColumnSpec(field="Date|Datum", format=options.get("date_format")),
        minutes=ColumnSpec(field="Hours|Stunden", duration="hours"))
    b = Builder(ctx, "redmine", "time_entries", defaults, source.columns, options)
    b.note(entry_id="file name and line", started_at=f"the date by the rule {rule}")

    def make(r: Record) -> dict[str, str | None]:
        day = b.date(r, "date")
        if day is None:
            raise MapError("started_at", None, "started_at: the entry has no date")
        return {"entry_id": _entry_id(r, str(options.get("entry_prefix") or "redmine-")),
                "ticket_id": b.text(r, "ticket_id"), "agent": b.text(r, "agent"),
                **b.time_values(start=None, end=None, seconds=b.seconds(r, "minutes"), booked=day, rule=rule)}

    for path in source.files:
        _count(ctx, source, path, b.run(_records(path, source), make))


ADAPTERS: dict[str, Callable[[Context, Source], None]] = {
    "zammad": zammad,
    "znuny": znuny,
    "jira": jira,
    "freshdesk": freshdesk,
    "kimai": kimai,
    "redmine": redmine,
    "generic": generic,
}
