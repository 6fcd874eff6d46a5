"""The validated policy model: what a bundle of YAML files means once it has been checked.

The loader (``audit.policy.loader``) reads the YAML with line numbers, validates it against these
models and attaches a :class:`~audit.errors.Location` to every item a finding can point back to
(``loc`` fields; never part of the YAML, never in the JSON Schema).

The JSON Schema shipped for editors is generated from these models
(``audit.policy.schema``), so the two cannot drift.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from audit.errors import Location

#: Finding kinds the engine implements. A policy enables them and sets their severity;
#: what they *mean* for money is documented in docs/semantics.md.
FINDING_KINDS = (
    "tier_mismatch",
    "standard_billed",
    "extended_unbilled",
    "units_mismatch",
    "price_mismatch",
    "amount_mismatch",
    "duplicate_billing",
    "billed_without_time",
    "unclassified_ticket",
    "sla_first_response_breach",
    "sla_resolution_breach",
    "sla_overdue_open",
)

#: The SLA kinds (raised from the ``sla`` section; see docs/semantics.md "SLA").
SLA_KINDS = ("sla_first_response_breach", "sla_resolution_breach", "sla_overdue_open")

Severity = Literal["error", "warning", "info"]

#: Dates a policy may name (docs/policy.md): DuckDB, Python and the report all handle these.
MIN_POLICY_DATE, MAX_POLICY_DATE = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
#: The largest unit price: money is DECIMAL(18,2) in DuckDB.
MAX_UNIT_PRICE = Decimal("9999999999999999.99")


def _sane_date(value: dt.date) -> dt.date:
    if not MIN_POLICY_DATE <= value <= MAX_POLICY_DATE:
        raise ValueError(f"{value} is outside {MIN_POLICY_DATE} … {MAX_POLICY_DATE}")
    return value


PolicyDate = Annotated[dt.date, AfterValidator(_sane_date)]
SEVERITY_ORDER = {"info": 0, "warning": 1, "error": 2}


#: A text given once or per report language (``{de: …, en: …}``), like tier labels.
Text = str | dict[str, str]


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)
    loc: SkipJsonSchema[Location | None] = Field(default=None, exclude=True)


class Metadata(_Item):
    """What the bundle is; shown in every report."""

    name: str = Field(description="Short machine name of the policy bundle.")
    version: str = Field(description="Version of the bundle; shown in every report.")
    title: str = Field(default="", description="Human title of the bundle.")
    source: str = Field(default="", description="Document the rules come from (URL or citation).")
    effective_from: PolicyDate = Field(description="Date from which the bundle applies.")


class Settings(_Item):
    """Time zone, currency and language of the audit."""

    timezone: str = Field(
        default="Europe/Berlin",
        description="IANA time zone: naive timestamps are read in it; months and dates are local to it.",
    )
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$", description="ISO 4217 code of the prices.")
    billing_cycle: Literal["month"] = Field(default="month", description="Reconciliation period.")
    language: Literal["de", "en"] = Field(default="de", description="Default report language.")
    earliest_date: PolicyDate = Field(
        default=dt.date(1970, 1, 1),
        description="Dates and times in the data before this day are quarantined (date_out_of_range).",
    )
    latest_date: PolicyDate = Field(
        default=dt.date(2100, 12, 31),
        description="Dates and times in the data after this day are quarantined (date_out_of_range).",
    )

    @model_validator(mode="after")
    def _date_order(self) -> Settings:
        if self.latest_date < self.earliest_date:
            raise ValueError(f"latest_date {self.latest_date} is before earliest_date {self.earliest_date}")
        return self


class Tier(_Item):
    """A support tier an agent can record and a rule can assign."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Tier id, as recorded in tickets.tier.")
    billable: bool = Field(description="Work in this tier is invoiced (per the billing rules).")
    label: dict[str, str] = Field(default_factory=dict, description="Display name per language.")
    description: Text = Field(default="", description="What the tier covers (a string, or per language: {de: …, en: …}).")


class Rule(_Item):
    """A classification rule: when its condition holds, the ticket gets its tier."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="Stable rule id, cited by findings.")
    tier: str = Field(description="Tier id this rule assigns when its condition holds.")
    clause: str = Field(default="", description="Clause of the source document, e.g. STD-4 or EXT-3.")
    description: Text = Field(default="", description="Why the rule exists; shown in the report (a string, or per language).")
    when: str = Field(
        description=(
            "Condition: a SQL boolean expression over ticket columns (category, cause, priority, "
            "channel, subject, tier, …), service.<column> and customer.<column>."
        )
    )


class Classification(_Item):
    """How a ticket's tier is derived."""

    rules: list[Rule] = Field(description="Ordered; the first rule whose condition holds decides the tier.")
    default_tier: str | None = Field(
        default=None,
        description="Tier for tickets no rule matches; null means: leave unclassified (a finding).",
    )


class PricePeriod(_Item):
    """A net unit price valid for a range of local dates."""

    valid_from: PolicyDate = Field(alias="from", description="First local date the price applies (inclusive).")
    valid_to: PolicyDate | None = Field(default=None, alias="to", description="Last date (inclusive); open when empty.")
    unit_price: Decimal = Field(description="Net price per billing unit, exact decimal (write it quoted).")

    @field_validator("unit_price", mode="before")
    @classmethod
    def _no_float(cls, v: object) -> object:
        if isinstance(v, float):
            raise ValueError("write the price as a quoted string, e.g. \"17.50\": a float is not exact")
        if isinstance(v, bool):
            raise ValueError(f"expected a price, got {v}")
        return v

    @field_validator("unit_price")
    @classmethod
    def _money_range(cls, v: Decimal) -> Decimal:
        if v.is_finite() and v < 0:
            raise ValueError(f"a unit price is not negative, got {v} (credits are invoice lines)")
        if v.is_finite() and v > MAX_UNIT_PRICE:
            raise ValueError(f"{v} is larger than the largest amount, {MAX_UNIT_PRICE} (DECIMAL(18,2))")
        return v

    @model_validator(mode="after")
    def _order(self) -> PricePeriod:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError(f"'to' {self.valid_to} is before 'from' {self.valid_from}")
        if self.unit_price.as_tuple().exponent < -2:  # type: ignore[operator]
            raise ValueError("a price has at most 2 decimal places")
        return self


class ContractOverride(_Item):
    """A price list that replaces the default one for customers with this contract."""

    contract: str = Field(description="Contract level (customers.contract) this price list applies to.")
    prices: list[PricePeriod] = Field(description="Dated price list; periods must not overlap.")


class Billing(_Item):
    """How tracked time becomes billable units and money."""

    unit_minutes: Annotated[int, Strict()] = Field(default=15, gt=0, le=1440, description="Length of one billing unit.")
    rounding: Literal["ceil", "nearest", "floor"] = Field(
        default="ceil", description="ceil: a unit counts from its first second ('je angefangene')."
    )
    scope: Literal["entry", "ticket_month"] = Field(
        default="entry", description="Round each time entry, or the ticket-month's total."
    )
    prices: list[PricePeriod] = Field(description="Dated price list; periods must not overlap.")
    overrides: list[ContractOverride] = Field(
        default_factory=list, description="Price lists per customer contract level."
    )


class FindingSetting(_Item):
    """Whether a finding kind is raised, and how severe it is."""

    enabled: bool = Field(default=True, description="Raise findings of this kind.")
    severity: Severity = Field(default="error", description="error, warning or info; --fail-on compares it.")


class Signal(_Item):
    """A hint worth a look (not a billing error): a finding whenever its condition holds."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="Stable signal id, cited by findings.")
    kind: str = Field(
        default="suspected_misclassification",
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Finding kind the signal raises (not one of the built-in kinds).",
    )
    severity: Severity = Field(default="warning", description="error, warning or info.")
    description: Text = Field(default="", description="What the signal hints at; shown in the report and its findings' messages (a string, or per language).")
    scope: Literal["ticket", "ticket_month"] = Field(
        default="ticket",
        description=(
            "ticket: judged once per ticket (facts over all its months; month = opened month); "
            "ticket_month: per ticket-month of the reconciliation (facts of that month)."
        ),
    )
    when: str = Field(
        description=(
            "Condition as in classification rules; may also use policy_tier and the work, "
            "history, decision and SLA facts (work.minutes, work.roles, history.reopenings, "
            "decision.clause, sla.resolution_breached, …)."
        )
    )


class WaiverScope(_Item):
    """Which findings a waiver covers: every field given must match."""

    ticket: str | None = Field(default=None, description="Ticket id.")
    customer: str | None = Field(default=None, description="Customer id.")
    kind: str | None = Field(default=None, description="Finding kind.")
    month: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}$", description="Month YYYY-MM.")

    @model_validator(mode="after")
    def _not_empty(self) -> WaiverScope:
        if not any((self.ticket, self.customer, self.kind, self.month)):
            raise ValueError("a waiver scope names at least one of ticket, customer, kind, month")
        return self


class Waiver(_Item):
    """An approved exception: matching findings are reported as waived, not open."""

    id: str = Field(description="Stable waiver id, shown on every finding it waives.")
    scope: WaiverScope = Field(description="Which findings it covers.")
    reason: str = Field(min_length=3, description="Why the exception was granted.")
    approved_by: str = Field(min_length=1, description="Who approved it.")
    approved_on: PolicyDate = Field(description="When it was approved.")
    expires_on: PolicyDate = Field(description="Last day of the findings' month the waiver still covers.")


class ValueMapping(_Item):
    """How a field of a foreign export becomes a canonical value (audit.adapters): a policy
    decision, e.g. which Zammad group means which category, which attribute records the tier."""

    column: str = Field(
        pattern=r"^[a-z_]+\.[a-z_]+$",
        description="Canonical column it fills, as table.column, e.g. tickets.category.",
    )
    source: str | None = Field(
        default=None, description="Adapter it applies to (zammad, znuny, jira, freshdesk, kimai, redmine, generic); every one when empty."
    )
    field: str | None = Field(
        default=None,
        description="Field of the export the value is read from (default: the adapter's own for the column); a list field such as tags takes its first mapped element.",
    )
    values: dict[str, str] = Field(default_factory=dict, description="Export value -> canonical value (matched exactly, then case-insensitively).")
    default: str | None = Field(default=None, description="Value for an empty field or an export value the map does not know; without it such a value is kept and reported as unmapped.")


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOSED = r"^(\d{4}-)?(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


def frame_minutes(frame: str) -> tuple[int, int]:
    """``"08:00-18:00"`` -> (480, 1080): minutes after local midnight, end exclusive."""
    start, end = frame.split("-")
    return tuple(int(t[:2]) * 60 + int(t[3:]) for t in (start, end))  # type: ignore[return-value]


class Holidays(_Item):
    """Public holidays from the ``holidays`` package (its PUBLIC category)."""

    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country, e.g. DE.")
    subdivision: str | None = Field(
        default=None, description="State/subdivision code of the holidays package, e.g. TH or BY."
    )


class Calendar(_Item):
    """When the SLA clock runs: weekly local business hours minus holidays and closing days."""

    timezone: str = Field(description="IANA time zone the business hours are local to.")
    hours: dict[str, list[str]] = Field(
        description=(
            "Time frames per weekday (mon … sun), local wall-clock 'HH:MM-HH:MM' (end may be "
            "24:00); a day left out is closed. 24×7: every day ['00:00-24:00']."
        )
    )
    holidays: Holidays | None = Field(default=None, description="Public holidays that close the calendar.")
    closed: list[str] = Field(
        default_factory=list,
        description="Extra closing days: 'YYYY-MM-DD' once, or 'MM-DD' every year (e.g. '12-24').",
    )

    @field_validator("closed")
    @classmethod
    def _closed(cls, v: list[str]) -> list[str]:
        for day in v:
            if not re.match(_CLOSED, str(day)):
                raise ValueError(f"closing day {day!r} is not 'YYYY-MM-DD' or 'MM-DD'")
        return v


class SlaTarget(_Item):
    """Targets in business minutes for one ticket priority."""

    first_response: int = Field(gt=0, description="Business minutes until the first response.")
    resolution: int = Field(gt=0, description="Business minutes until resolution (pauses excluded).")


class SlaContract(_Item):
    """The SLA of one customer contract level."""

    contract: str = Field(description="Contract level (customers.contract).")
    calendar: str = Field(description="Name of the calendar the minutes are counted on.")
    priorities: dict[str, SlaTarget] = Field(
        description="Targets per ticket priority (low, normal, high, urgent); '*' is the fallback."
    )


class SlaCredit(_Item):
    """Credit owed per breached target of one contract level."""

    contract: str = Field(description="Contract level (customers.contract).")
    first_response: Decimal | None = Field(default=None, description="Per first-response breach (quoted).")
    resolution: Decimal | None = Field(default=None, description="Per resolution breach (quoted).")

    @field_validator("first_response", "resolution", mode="before")
    @classmethod
    def _no_float(cls, v: object) -> object:
        if isinstance(v, float):
            raise ValueError("write the amount as a quoted string, e.g. \"50.00\": a float is not exact")
        return v


class SlaCredits(_Item):
    """Credits for breaches, capped per customer and local month."""

    per_breach: list[SlaCredit] = Field(default_factory=list, description="Amounts per contract level.")
    monthly_cap_per_customer: Decimal | None = Field(
        default=None, description="At most this much per customer and month (applied in order of due_at)."
    )

    @field_validator("monthly_cap_per_customer", mode="before")
    @classmethod
    def _no_float(cls, v: object) -> object:
        if isinstance(v, float):
            raise ValueError("write the amount as a quoted string, e.g. \"200.00\": a float is not exact")
        return v


class Sla(_Item):
    """Service levels: first-response and resolution targets counted in business time."""

    calendars: dict[str, Calendar] = Field(description="Named business-time calendars.")
    targets: list[SlaContract] = Field(
        default_factory=list, description="Targets per contract level; a contract not listed has no SLA."
    )
    paused_statuses: list[str] = Field(
        default_factory=list,
        description="Statuses (ticket_status_history.status) that stop the resolution clock.",
    )
    credits: SlaCredits | None = Field(default=None, description="Optional credits for breaches.")


class Bundle(BaseModel):
    """A whole, validated policy bundle."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metadata: Metadata = Field(description="Name, version and source of the bundle.")
    settings: Settings = Field(default_factory=Settings, description="Time zone, currency, language.")
    tiers: list[Tier] = Field(description="The support tiers.")
    classification: Classification = Field(description="Rules that derive a ticket's tier.")
    billing: Billing = Field(description="Units, rounding and prices.")
    findings: dict[str, FindingSetting] = Field(
        default_factory=dict, description="Finding kinds to raise and their severity; a kind left out is off."
    )
    signals: list[Signal] = Field(default_factory=list, description="Hints of misclassification.")
    waivers: list[Waiver] = Field(default_factory=list, description="Approved exceptions.")
    vocabularies: dict[str, list[str]] = Field(
        default_factory=dict,
        description=(
            "Allowed values of condition columns (e.g. category: [webdesign, …]); "
            "`support-audit check` flags conditions comparing with any other value."
        ),
    )
    mappings: list[ValueMapping] = Field(
        default_factory=list, description="Value maps for foreign exports read by the adapters (sources.yaml, import)."
    )
    sla: Sla | None = Field(default=None, description="Service levels (optional): calendars, targets, credits.")

    # Filled by the loader, not from YAML:
    root: SkipJsonSchema[str] = Field(default="", exclude=True)
    file_hashes: SkipJsonSchema[dict[str, str]] = Field(default_factory=dict, exclude=True)
    section_locs: SkipJsonSchema[dict[str, Location]] = Field(default_factory=dict, exclude=True)

    @property
    def tier_ids(self) -> list[str]:
        return [t.id for t in self.tiers]

    def tier(self, tier_id: str) -> Tier:
        for t in self.tiers:
            if t.id == tier_id:
                return t
        raise KeyError(tier_id)

    def finding_setting(self, kind: str) -> FindingSetting:
        """A kind not listed in the policy is disabled."""
        return self.findings.get(kind, FindingSetting(enabled=False))

    @property
    def digest(self) -> str:
        """sha256 over the bundle's files (sorted by name): the policy's identity in reports."""
        import hashlib

        h = hashlib.sha256()
        for name in sorted(self.file_hashes):
            h.update(f"{name}\0{self.file_hashes[name]}\n".encode())
        return h.hexdigest()
