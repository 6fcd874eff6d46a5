"""Policy test cases: ``<bundle>/tests/*.yaml`` → validated cases, their rows and their places.

A case file holds ``cases:`` (and optional ``defaults:`` per table). Each case states a few rows
of the five canonical tables, only the columns it cares about, and what the audit must say about
them (``expect``). Everything a case leaves out gets a default (see docs/policy-tests.md); ids a
case does not give are generated from the case's number (``c7-T1``), so they never collide with
another case's.

Dates, times and decimals are read as the text written (``17.50`` stays ``"17.50"``, never a
binary float; ``2026-06-10`` stays text): rows are written to CSV and go through the same
ingestion as ``run`` (typing, data contract), and expected euros are compared as exact decimals.

Every problem a case file has (YAML syntax, unknown field, a ticket, tier, rule, finding kind or
waiver the case or the policy does not know) is reported with ``file:line:col`` as
:class:`~audit.errors.PolicyError` (exit 2), all at once, like the policy loader does.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator
from ruamel.yaml.comments import CommentedMap

from audit.contract import TABLES
from audit.engine.policy_tables import DEFAULT_TIER_RULE
from audit.errors import DiagnosticCollector, Location, did_you_mean
from audit.policy.loader import POLICY_SUFFIXES, YamlPath, _Constructor, _Doc, _parse_yaml, _plain
from audit.policy.model import FINDING_KINDS, Bundle

#: The folder of a bundle that holds its test cases (the policy loader reads only top-level files).
TESTS_DIR = "tests"
#: Local date of a time entry (and opening date of a ticket) a case does not give.
DEFAULT_DATE = "2026-06-10"
DEFAULT_START = "10:00:00"
DEFAULT_OPENED = "09:00:00"

Scalar = str | int | float | bool | None  # floats only from Python: YAML keeps them as text
MONEY_FIELDS = ("expected_units", "expected_eur", "billed_units", "billed_eur", "delta_eur")
MONTH_FIELDS = ("entries", "tracked_seconds", *MONEY_FIELDS)
_MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


class _Text(_Constructor):
    """The policy loader's hardened YAML, with dates, timestamps and floats kept as written."""


_Text.add_constructor("tag:yaml.org,2002:timestamp", lambda self, node: self.construct_scalar(node))
_Text.add_constructor("tag:yaml.org,2002:float", lambda self, node: self.construct_scalar(node))


# --------------------------------------------------------------------------------------------
# The format (pydantic models; the JSON Schema of case files is generated from them)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: Row fields that are not columns of the contract.
SHORTHANDS: dict[str, dict[str, str]] = {
    "time_entries": {
        "date": "Local date the entry starts on, at 10:00 (instead of started_at).",
        "seconds": "Duration in seconds: ended_at = started_at + seconds (exact elapsed time).",
    },
}


def _row_model(table: str) -> type[BaseModel]:
    fields: dict[str, Any] = {
        c.name: (Scalar, Field(default=None, description=c.description))
        for c in TABLES[table].columns if c.name != "duration_seconds"
    }
    fields |= {name: (Scalar, Field(default=None, description=text))
               for name, text in SHORTHANDS.get(table, {}).items()}
    name = "".join(part.title() for part in table.split("_")) + "Row"
    return create_model(name, __config__=ConfigDict(extra="forbid", frozen=True),
                        __doc__=f"A row of {table}: any of its columns; the rest get defaults.", **fields)


ROW_MODELS = {table: _row_model(table) for table in TABLES}
CustomersRow, ServicesRow, TicketsRow = ROW_MODELS["customers"], ROW_MODELS["services"], ROW_MODELS["tickets"]
TimeEntriesRow, InvoiceLinesRow = ROW_MODELS["time_entries"], ROW_MODELS["invoice_lines"]
AgentsRow, StatusRow = ROW_MODELS["agents"], ROW_MODELS["ticket_status_history"]


class _Money(_Model):
    @field_validator(*MONEY_FIELDS, mode="before", check_fields=False)
    @classmethod
    def _exact(cls, v: object) -> object:
        if isinstance(v, float):  # only reachable from Python: the YAML reader keeps text
            raise ValueError("write the amount as text, e.g. 17.50: a float is not exact")
        return v


class MonthExpect(_Money):
    """The reconciliation of one ticket-month (reconciliation.parquet's numbers)."""

    ticket: str | None = Field(default=None, description="Ticket id; may be left out when the case has one ticket.")
    month: str | None = Field(default=None, pattern=_MONTH, description="YYYY-MM, local; may be left out when the ticket has one month.")
    entries: int | None = Field(default=None, description="Number of time entries in the month.")
    tracked_seconds: int | None = Field(default=None, description="Tracked seconds in the month.")
    expected_units: Decimal | None = Field(default=None, description="Units the policy expects to be billed.")
    expected_eur: Decimal | None = Field(default=None, description="Expected amount, EUR (null: unclassified).")
    billed_units: Decimal | None = Field(default=None, description="Units on the invoice lines.")
    billed_eur: Decimal | None = Field(default=None, description="Invoiced amount, EUR.")
    delta_eur: Decimal | None = Field(default=None, description="expected_eur − billed_eur.")


class TicketExpect(_Model):
    """How one ticket is classified."""

    ticket: str | None = Field(default=None, description="Ticket id; may be left out when the case has one ticket.")
    tier: str | None = Field(default=None, description="Policy tier; null: unclassified.")
    rule: str | None = Field(default=None, description=f"Deciding rule id ({DEFAULT_TIER_RULE} for the default tier); null: none.")


class FindingExpect(_Money):
    """A finding that must be raised (every field given must match)."""

    kind: str = Field(description="Finding kind (or a signal's kind).")
    ticket: str | None = Field(default=None, description="Ticket id.")
    month: str | None = Field(default=None, pattern=_MONTH, description="Month of the finding, YYYY-MM.")
    status: Literal["open", "waived"] | None = Field(default=None, description="open or waived.")
    waiver: str | None = Field(default=None, description="Id of the waiver that covers it; null: none.")
    severity: Literal["error", "warning", "info"] | None = Field(default=None, description="Severity.")
    rule: str | None = Field(default=None, description="rule_id the finding names.")
    line: str | None = Field(default=None, description="Invoice line id at fault.")
    expected_units: Decimal | None = Field(default=None, description="As in findings.csv.")
    expected_eur: Decimal | None = Field(default=None, description="As in findings.csv.")
    billed_units: Decimal | None = Field(default=None, description="As in findings.csv.")
    billed_eur: Decimal | None = Field(default=None, description="As in findings.csv.")
    delta_eur: Decimal | None = Field(default=None, description="expected − billed, as in findings.csv.")
    message_contains: str | None = Field(default=None, description="Text the finding's message contains.")
    count: int | None = Field(default=None, ge=0, description="How many findings match (default: at least one).")


class Expect(_Money):
    """What the audit must say about the case's rows. Shorthands (tier, rule, the month's
    numbers) apply to the case's only ticket and its only ticket-month."""

    tier: str | None = Field(default=None, description="Policy tier of the only ticket; null: unclassified.")
    rule: str | None = Field(default=None, description="Deciding rule of the only ticket; null: none.")
    entries: int | None = Field(default=None, description="Of the only ticket-month.")
    tracked_seconds: int | None = Field(default=None, description="Of the only ticket-month.")
    expected_units: Decimal | None = Field(default=None, description="Of the only ticket-month.")
    expected_eur: Decimal | None = Field(default=None, description="Of the only ticket-month.")
    billed_units: Decimal | None = Field(default=None, description="Of the only ticket-month.")
    billed_eur: Decimal | None = Field(default=None, description="Of the only ticket-month.")
    delta_eur: Decimal | None = Field(default=None, description="Of the only ticket-month.")
    tickets: list[TicketExpect] = Field(default_factory=list, description="Classification per ticket.")
    months: list[MonthExpect] = Field(default_factory=list, description="Reconciliation per ticket-month.")
    findings: list[str | FindingExpect] = Field(
        default_factory=list, description="Findings that must be raised: a kind, or a mapping of fields.")
    no_findings: list[str] = Field(default_factory=list, description="Finding kinds that must not be raised.")
    no_other_findings: bool = Field(default=False, description="Every finding raised is listed in findings.")


class Case(_Model):
    """One test case: a few rows and what the audit must say about them."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Unique id of the case in the bundle.")
    name: str = Field(default="", description="What the case shows, in words.")
    clauses: list[str] = Field(default_factory=list, description="Clauses of the rules document it exercises.")
    customers: list[CustomersRow] = Field(default_factory=list, description="Default: one customer.")  # type: ignore[valid-type]
    services: list[ServicesRow] = Field(default_factory=list, description="Default: none.")  # type: ignore[valid-type]
    tickets: list[TicketsRow] = Field(min_length=1, description="At least one; each needs its category.")  # type: ignore[valid-type]
    time_entries: list[TimeEntriesRow] = Field(default_factory=list, description="Each needs minutes, seconds or ended_at.")  # type: ignore[valid-type]
    invoice_lines: list[InvoiceLinesRow] = Field(default_factory=list, description="Each needs quantity and unit_price.")  # type: ignore[valid-type]
    agents: list[AgentsRow] = Field(default_factory=list, description="Optional: agents with their role (each needs agent).")  # type: ignore[valid-type]
    ticket_status_history: list[StatusRow] = Field(default_factory=list, description="Optional: status changes (each needs status and changed_at; ticket_id defaults to the case's first ticket).")  # type: ignore[valid-type]
    expect: Expect = Field(description="What the audit must say.")


class Defaults(_Model):
    """Column values every row of a table in this file gets unless it sets them."""

    customers: CustomersRow | None = None  # type: ignore[valid-type]
    services: ServicesRow | None = None  # type: ignore[valid-type]
    tickets: TicketsRow | None = None  # type: ignore[valid-type]
    time_entries: TimeEntriesRow | None = None  # type: ignore[valid-type]
    invoice_lines: InvoiceLinesRow | None = None  # type: ignore[valid-type]
    agents: AgentsRow | None = None  # type: ignore[valid-type]
    ticket_status_history: StatusRow | None = None  # type: ignore[valid-type]


class CaseFile(_Model):
    """A file of policy test cases (``<bundle>/tests/<topic>.yaml``)."""

    defaults: Defaults | None = Field(default=None, description="Column defaults per table for this file.")
    cases: list[Case] = Field(description="The test cases.")


# --------------------------------------------------------------------------------------------
# Prepared cases


@dataclass
class Row:
    """A row as written to the CSV export (column → text) and where the case wrote it."""

    table: str
    values: dict[str, str]
    at: Location
    #: A ticket whose recorded tier the case left out: it gets the tier the policy decides.
    tier_follows_policy: bool = False


@dataclass
class PreparedCase:
    """A validated case with its rows completed by the defaults."""

    number: int  # 1-based over the whole suite (the prefix of generated ids)
    id: str
    name: str
    file: str  # as shown to the user, e.g. policies/tests/billing.yaml
    rel: str  # relative to the bundle, e.g. tests/billing.yaml (JUnit classname)
    at: Location
    model: Case
    rows: list[Row]
    tickets: list[str]  # ticket ids, in order
    expect_at: dict[YamlPath, Location]  # location of every expectation node, by its path under expect
    keys: set[tuple[str, str]]  # ids a case shares with the others' tables (batches keep them apart)

    @property
    def title(self) -> str:
        return f"{self.rel}::{self.id}"

    def where(self, *path: str | int) -> Location:
        """Where the expectation at ``path`` (under ``expect``) is written (else the case)."""
        while path:
            if path in self.expect_at:
                return self.expect_at[path]
            path = path[:-1]
        return self.expect_at.get((), self.at)


@dataclass
class Suite:
    directory: Path
    cases: list[PreparedCase] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def tests_dir(policy: Path, bundle: Bundle) -> Path:
    """``<bundle>/tests`` as the user named the bundle (messages cite it as given)."""
    base = policy if policy.is_dir() else policy.parent
    return base / TESTS_DIR


def load_cases(policy: str | Path, bundle: Bundle) -> Suite:
    """Read and check every case file of the bundle; raises :class:`PolicyError` listing every problem."""
    directory = tests_dir(Path(policy), bundle)
    suite = Suite(directory)
    out = DiagnosticCollector()
    if not directory.is_dir():
        return suite
    files = sorted(p for p in directory.iterdir() if p.suffix in POLICY_SUFFIXES and p.is_file())
    seen: dict[str, Location] = {}
    for file in files:
        doc = _Doc(f"{TESTS_DIR}/{file.name}", str(file))
        try:
            doc.text = file.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError:
            out.add(Location(doc.shown), "the file is not UTF-8 text", "save it as UTF-8")
            continue
        doc.data = _parse_yaml(doc, out, _Text)
        if doc.data is None:
            if not doc.broken:
                out.add(Location(doc.shown, 1, 1), "empty case file", "add 'cases:' with at least one case")
            continue
        if not isinstance(doc.data, CommentedMap):
            out.add(Location(doc.shown, 1, 1), "a case file is a mapping", "start it with 'cases:'")
            continue
        suite.files.append(doc.name)
        for i, case, defaults in _validated(doc, out):
            at = doc.at(("cases", i), key=True)
            if case.id in seen:
                out.add(doc.at(("cases", i, "id")), f"duplicate case id '{case.id}'",
                        f"it is already used at {seen[case.id]}")
                continue
            seen[case.id] = at
            prepared = _Preparer(doc, i, len(suite.cases) + 1, case, defaults, bundle, out).run()
            if prepared is not None:
                suite.cases.append(prepared)
    out.raise_if_any()
    return suite


class _FileShape(_Model):
    defaults: Defaults | None = None
    cases: list[dict[str, Any]]


def _validated(doc: _Doc, out: DiagnosticCollector) -> list[tuple[int, Case, Defaults | None]]:
    """(index, case, the file's defaults) for every case that is valid on its own; the problems
    of the file and of every other case are reported (one case's typo hides nothing else)."""
    plain = _plain(doc.data)
    reported: set[tuple] = set()
    try:
        shape = _FileShape.model_validate(plain)
    except ValidationError as error:
        for problem in error.errors(include_url=False):
            _report(problem, doc, out, reported)
        return []
    valid = []
    for i, raw in enumerate(shape.cases):
        try:
            valid.append((i, Case.model_validate(raw), shape.defaults))
        except ValidationError as error:
            for problem in error.errors(include_url=False):
                _report({**problem, "loc": ("cases", i, *problem["loc"])}, doc, out, reported)
    return valid


_TAGS = ("str", "int", "float", "bool", "none", "[key]")


def _report(problem: dict[str, Any], doc: _Doc, out: DiagnosticCollector, reported: set[tuple]) -> None:
    """One pydantic error as a diagnostic at the YAML node it is about (one per node: a value
    that fits no member of a union gets one message, not one per member)."""
    loc, kind, given = problem["loc"], problem["type"], problem.get("input")
    if kind == "string_type" and isinstance(given, dict) and "str" in loc:
        return  # a mapping where text or a mapping may stand: the mapping's own errors say more
    steps = tuple(s for s in loc if not (isinstance(s, str) and (s[:1].isupper() or s in _TAGS)))
    if steps in reported:
        return
    reported.add(steps)
    if kind == "missing":
        out.add(doc.at(steps[:-1]), f"missing required field '{steps[-1]}'")
        return
    if kind == "extra_forbidden":
        table = next((s for s in reversed(steps[:-1]) if isinstance(s, str) and s in TABLES), None)
        if table:
            choices = list(ROW_MODELS[table].model_fields)
            what = f"unknown column '{steps[-1]}' of {table}"
        else:
            choices = _fields_at(steps[:-1])
            what = f"unknown field '{steps[-1]}'"
        hint = did_you_mean(str(steps[-1]), choices) or f"allowed: {', '.join(choices)}"
        out.add(doc.at(steps, key=True), what, hint)
        return
    name = f"{steps[-1]}: " if steps and isinstance(steps[-1], str) else ""
    shown = "a mapping" if isinstance(given, dict) else "a list" if isinstance(given, list) else repr(given)
    in_row = len(steps) == 5 and steps[0] == "cases" and steps[2] in TABLES and isinstance(given, dict | list)
    if in_row:  # a row's column holds one value, whatever its type
        message = f"{name}expected one value (text, a number, true or false), got {shown}"
    elif kind in ("string_type", "int_type", "int_parsing", "decimal_parsing", "decimal_type", "bool_type",
                "list_type", "model_type", "dict_type", "literal_error", "string_pattern_mismatch",
                "too_short", "value_error", "greater_than_equal"):
        message = f"{name}{problem['msg'][:1].lower()}{problem['msg'][1:]}, got {shown}"
    else:
        message = f"{name}{problem['msg']}"
    out.add(doc.at(steps), message)


def _fields_at(steps: tuple) -> list[str]:
    model: Any = CaseFile
    for step in steps:
        if isinstance(step, int):
            continue
        info = getattr(model, "model_fields", {}).get(step)
        if info is None:
            return []
        ann = info.annotation
        inner = [a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        for arg in getattr(ann, "__args__", ()):
            inner += [a for a in getattr(arg, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
        model = inner[0] if inner else None
    return list(getattr(model, "model_fields", {}))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Preparer:
    """Completes one case's rows with defaults and checks its references."""

    def __init__(self, doc: _Doc, index: int, number: int, case: Case, defaults: Defaults | None,
                 bundle: Bundle, out: DiagnosticCollector):
        self.doc, self.index, self.number, self.case = doc, index, number, case
        self.defaults = defaults
        self.bundle, self.out = bundle, out
        self.raw = doc.data["cases"][index]
        self.errors_before = len(out.diagnostics)

    def at(self, *path: str | int, key: bool = False) -> Location:
        return self.doc.at(("cases", self.index, *path), key=key)

    def error(self, where: Location, message: str, hint: str = "") -> None:
        self.out.add(where, message, hint)

    def given(self, table: str, *, implicit: int = 0) -> list[dict[str, Any]]:
        """The rows of ``table`` as written (else ``implicit`` rows), under the file's defaults
        for that table."""
        base = {}
        if self.defaults is not None and getattr(self.defaults, table) is not None:
            base = getattr(self.defaults, table).model_dump(exclude_unset=True)
        rows = [row.model_dump(exclude_unset=True) for row in getattr(self.case, table)] or [{}] * implicit
        return [{**base, **row} for row in rows]

    def auto(self, letter: str, i: int) -> str:
        return f"c{self.number}-{letter}{i}"

    def run(self) -> PreparedCase | None:
        tz = ZoneInfo(self.bundle.settings.timezone)
        rows: list[Row] = []
        keys: set[tuple[str, str]] = set()

        def ids(table: str, letter: str, given: list[dict[str, Any]], key: str) -> list[str]:
            out, seen = [], set()
            for i, row in enumerate(given, start=1):
                value = _text(row.get(key)) or self.auto(letter, i)
                if value in seen:
                    self.error(self.at(table, i - 1, key), f"duplicate {key} '{value}' in this case")
                seen.add(value)
                keys.add((table, value))
                out.append(value)
            return out

        customers = self.given("customers", implicit=1)
        customer_ids = ids("customers", "K", customers, "customer_id")
        services = self.given("services")
        service_ids = ids("services", "S", services, "service_id")
        tickets = self.given("tickets")
        ticket_ids = ids("tickets", "T", tickets, "ticket_id")
        entries = self.given("time_entries")
        entry_ids = ids("time_entries", "E", entries, "entry_id")
        lines = self.given("invoice_lines")
        line_ids = ids("invoice_lines", "L", lines, "line_id")

        def ref(table: str, i: int, column: str, value: Any, known: list[str], what: str) -> str | None:
            text = _text(value)
            if text is not None and text not in known:
                hint = did_you_mean(text, known) or (f"this case's {what}s: {', '.join(known)}" if known else f"add {what}s to the case")
                self.error(self.at(table, i, column), f"{column} '{text}' is not a {what} of this case", hint)
            return text

        for i, (row, cid) in enumerate(zip(customers, customer_ids, strict=True)):
            rows.append(Row("customers", {"customer_id": cid, "name": _text(row.get("name")) or f"Customer {cid}",
                                          "contract": _text(row.get("contract", "basic")) or ""},
                            self.at("customers", i) if self.case.customers else self.at(key=True)))
        for i, (row, sid) in enumerate(zip(services, service_ids, strict=True)):
            owner = ref("services", i, "customer_id", row.get("customer_id"), customer_ids, "customer")
            rows.append(Row("services", {"service_id": sid, "customer_id": owner or customer_ids[0],
                                         "product": _text(row.get("product", "webhosting")) or "",
                                         "managed": _text(row.get("managed", False)) or ""},
                            self.at("services", i)))

        # Time entries first: a ticket's default opening time is its first entry's start.
        starts: dict[str, str] = {}
        entry_rows: list[Row] = []
        for i, (row, eid) in enumerate(zip(entries, entry_ids, strict=True)):
            tid = ref("time_entries", i, "ticket_id", row.get("ticket_id"), ticket_ids, "ticket") or ticket_ids[0]
            values = {k: _text(v) for k, v in row.items() if k not in ("date", "seconds")}
            if row.get("date") is not None and row.get("started_at") is not None:
                self.error(self.at("time_entries", i, "date"), "give either date or started_at, not both")
            start = _text(row.get("started_at")) or f"{_text(row.get('date')) or DEFAULT_DATE} {DEFAULT_START}"
            values |= {"entry_id": eid, "ticket_id": tid, "agent": values.get("agent") or "agent",
                       "started_at": start}
            if row.get("seconds") is not None:
                if row.get("ended_at") is not None or row.get("minutes") is not None:
                    self.error(self.at("time_entries", i, "seconds"),
                               "give one of seconds, minutes and ended_at")
                values["ended_at"] = self.end(start, row["seconds"], tz, ("time_entries", i, "seconds"))
            elif row.get("minutes") is None and row.get("ended_at") is None:
                self.error(self.at("time_entries", i), "a time entry needs minutes, seconds or ended_at")
            starts.setdefault(tid, start)
            entry_rows.append(Row("time_entries", values, self.at("time_entries", i)))

        line_dates: dict[str, str] = {}
        line_rows: list[Row] = []
        for i, (row, lid) in enumerate(zip(lines, line_ids, strict=True)):
            tid = ref("invoice_lines", i, "ticket_id", row.get("ticket_id"), ticket_ids, "ticket") or ticket_ids[0]
            values = {k: _text(v) for k, v in row.items()}
            for need in ("quantity", "unit_price"):
                if row.get(need) is None:
                    self.error(self.at("invoice_lines", i), f"an invoice line needs {need}")
            date = values.get("service_date") or starts.get(tid, f"{DEFAULT_DATE} ")[:10]
            if values.get("amount") is None and row.get("quantity") is not None and row.get("unit_price") is not None:
                try:
                    values["amount"] = str(Decimal(str(row["quantity"])) * Decimal(str(row["unit_price"])))
                except InvalidOperation:
                    self.error(self.at("invoice_lines", i), "quantity and unit_price must be decimals",
                               "write them like 2 and 17.50")
            invoice = values.get("invoice_id") or self.auto("R", 1)
            keys.add(("invoice", invoice))
            ref("invoice_lines", i, "customer_id", row.get("customer_id"), customer_ids, "customer")
            values |= {"line_id": lid, "ticket_id": tid, "service_date": date, "invoice_id": invoice}
            line_dates.setdefault(tid, date)
            line_rows.append(Row("invoice_lines", values, self.at("invoice_lines", i)))

        first_tier = self.bundle.tiers[0].id if self.bundle.tiers else ""
        for i, (row, tid) in enumerate(zip(tickets, ticket_ids, strict=True)):
            if row.get("category") is None:
                self.error(self.at("tickets", i), "a ticket needs its category")
            cid = ref("tickets", i, "customer_id", row.get("customer_id"), customer_ids, "customer") or customer_ids[0]
            sid = ref("tickets", i, "service_id", row.get("service_id"), service_ids, "service")
            if "service_id" not in row:
                sid = service_ids[0] if service_ids else None
            opened = starts.get(tid) or f"{line_dates.get(tid, DEFAULT_DATE)} {DEFAULT_OPENED}"
            values = {k: _text(v) for k, v in row.items()}
            opened_at = values.get("opened_at") or opened
            # A ticket the case says nothing of was answered and resolved at once: no SLA clock
            # runs unless the case gives (or empties) first_response_at / resolved_at.
            for clock in ("first_response_at", "resolved_at"):
                if clock not in row:
                    values[clock] = opened_at
            values |= {"ticket_id": tid, "customer_id": cid, "service_id": sid,
                       "opened_at": opened_at,
                       "priority": values.get("priority") or "normal",
                       "channel": values.get("channel", "email"),
                       "tier": values.get("tier") or first_tier}
            rows.append(Row("tickets", values, self.at("tickets", i), tier_follows_policy=not row.get("tier")))
        customer_of = {r.values["ticket_id"]: r.values["customer_id"] for r in rows if r.table == "tickets"}
        for r in line_rows:
            r.values.setdefault("customer_id", customer_of.get(r.values["ticket_id"], customer_ids[0]))
            if r.values["customer_id"] is None:
                r.values["customer_id"] = customer_of.get(r.values["ticket_id"], customer_ids[0])
        rows += entry_rows + line_rows
        for i, row in enumerate(self.given("agents")):
            if _text(row.get("agent")) is None:
                self.error(self.at("agents", i), "an agent row needs agent")
            keys.add(("agents", _text(row.get("agent")) or ""))
            rows.append(Row("agents", {k: _text(v) for k, v in row.items()}, self.at("agents", i)))
        for i, row in enumerate(self.given("ticket_status_history")):
            tid = ref("ticket_status_history", i, "ticket_id", row.get("ticket_id"), ticket_ids, "ticket") or ticket_ids[0]
            for need in ("status", "changed_at"):
                if row.get(need) is None:
                    self.error(self.at("ticket_status_history", i), f"a status change needs {need}")
            rows.append(Row("ticket_status_history", {k: _text(v) for k, v in row.items()} | {"ticket_id": tid},
                            self.at("ticket_status_history", i)))

        self.check_expect(ticket_ids)
        if len(self.out.diagnostics) > self.errors_before:
            return None
        return PreparedCase(
            number=self.number, id=self.case.id, name=self.case.name, file=self.doc.shown,
            rel=self.doc.name, at=self.at(key=True), model=self.case, rows=rows, tickets=ticket_ids,
            expect_at=self.expect_locations(), keys=keys,
        )

    def end(self, start: str, seconds: Any, tz: ZoneInfo, path: YamlPath) -> str:
        """``start`` + ``seconds`` as an instant with its offset (naive starts are local)."""
        try:
            begin = dt.datetime.fromisoformat(start)
            secs = int(seconds)
        except (TypeError, ValueError):
            self.error(self.at(*path), f"cannot add {seconds!r} seconds to started_at '{start}'",
                       "write started_at like 2026-06-10 10:00:00 and seconds as a whole number")
            return ""
        if begin.tzinfo is None:
            begin = begin.replace(tzinfo=tz)  # fold=0: an ambiguous time is its first occurrence
        end = (begin.astimezone(dt.UTC) + dt.timedelta(seconds=secs)).astimezone(begin.tzinfo)
        return end.isoformat()

    # -- the expectations -------------------------------------------------------------------

    def check_expect(self, ticket_ids: list[str]) -> None:
        e = self.case.expect
        b = self.bundle
        tiers = b.tier_ids
        rules = [r.id for r in b.classification.rules]
        if b.classification.default_tier is not None:
            rules.append(DEFAULT_TIER_RULE)
        kinds = [*FINDING_KINDS, *dict.fromkeys(s.kind for s in b.signals)]
        waivers = [w.id for w in b.waivers]

        def one_ticket(path: YamlPath) -> None:
            if len(ticket_ids) != 1:
                self.error(self.at("expect", *path, key=True),
                           f"'{path[-1]}' is about the case's only ticket, but it has {len(ticket_ids)}",
                           "list them under expect.tickets with their ticket ids")

        def known(value: str | None, choices: list[str], what: str, path: YamlPath) -> None:
            if value is not None and value not in choices:
                hint = did_you_mean(value, choices) or f"{what}s: {', '.join(choices) or 'none'}"
                self.error(self.at("expect", *path), f"unknown {what} '{value}'", hint)

        def ticket(value: str | None, path: YamlPath) -> None:
            if value is not None and value not in ticket_ids:
                self.error(self.at("expect", *path), f"ticket '{value}' is not a ticket of this case",
                           did_you_mean(value, ticket_ids) or f"its tickets: {', '.join(ticket_ids)}")

        for name in ("tier", "rule", *MONTH_FIELDS):
            if name in e.model_fields_set:
                one_ticket((name,))
        known(e.tier, tiers, "tier", ("tier",))
        known(e.rule, rules, "rule", ("rule",))
        for i, t in enumerate(e.tickets):
            if t.ticket is None:
                one_ticket(("tickets", i))
            ticket(t.ticket, ("tickets", i, "ticket"))
            known(t.tier, tiers, "tier", ("tickets", i, "tier"))
            known(t.rule, rules, "rule", ("tickets", i, "rule"))
        for i, m in enumerate(e.months):
            if m.ticket is None:
                one_ticket(("months", i))
            ticket(m.ticket, ("months", i, "ticket"))
        for i, f in enumerate(e.findings):
            kind = f if isinstance(f, str) else f.kind
            known(kind, kinds, "finding kind", ("findings", i) if isinstance(f, str) else ("findings", i, "kind"))
            if isinstance(f, FindingExpect):
                ticket(f.ticket, ("findings", i, "ticket"))
                known(f.waiver, waivers, "waiver", ("findings", i, "waiver"))
        for i, kind in enumerate(e.no_findings):
            known(kind, kinds, "finding kind", ("no_findings", i))

    def expect_locations(self) -> dict[YamlPath, Location]:
        """Location of every node under ``expect`` (keys and list items), by path."""
        found: dict[YamlPath, Location] = {}

        def walk(node: Any, path: YamlPath) -> None:
            found[path] = self.at("expect", *path, key=True) if path else self.at("expect", key=True)
            if isinstance(node, dict):
                for k, v in node.items():
                    walk(v, (*path, k))
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, (*path, i))

        walk(self.raw.get("expect"), ())
        return found


def matches(case: PreparedCase, pattern: str | None) -> bool:
    """``-k``: the pattern is a case-insensitive substring of ``file::id`` or the case's name."""
    if not pattern:
        return True
    needle = pattern.lower()
    return needle in case.title.lower() or needle in case.name.lower()


def month_of(text: str) -> bool:
    return bool(re.match(_MONTH, text))
