"""The canonical tables: the data contract every importer maps onto and the audit reads.

One definition serves three readers:
- ingestion parses raw text into the declared types (``Column.type``),
- the row-level checker compiles each :class:`Expectation` to DuckDB SQL that names the failing rows,
- the Great Expectations bridge builds the same expectations as GX 1.x objects and runs them.

Expectation names are Great Expectations' own (``expect_column_values_to_not_be_null`` …) so that a
user who knows GX reads the contract without a glossary. ``expect_column_values_to_be_in_table``
is our one addition (referential integrity): GX runs it as ``..._to_be_in_set`` with the parent
table's loaded keys as the set.

Value sets that belong to the policy (the tier names) are not fixed here: :func:`contract_for`
fills them in from the policy bundle.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

ColumnType = Literal["string", "integer", "decimal", "timestamp", "date", "boolean"]

PRIORITIES = ("low", "normal", "high", "urgent")
CAUSES = ("provider", "customer", "unknown")


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    description: str
    required: bool = True  # the file must have this column (header)
    nullable: bool = False  # an empty cell is allowed
    scale: int | None = None  # decimals: digits after the point that are allowed


@dataclass(frozen=True)
class Expectation:
    """One clause of the contract, in Great Expectations' vocabulary.

    ``kwargs`` are GX's own keyword arguments (``column``, ``value_set``, ``min_value`` …).
    ``expect_column_values_to_be_in_table`` takes ``column``, ``table`` and ``table_column``.
    """

    type: str
    kwargs: dict[str, Any]
    description: str = ""

    @property
    def id(self) -> str:
        col = self.kwargs.get("column") or "{}/{}".format(
            self.kwargs.get("column_A", ""), self.kwargs.get("column_B", "")
        )
        return f"{self.type}({col})"


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    key: str
    columns: tuple[Column, ...]
    expectations: tuple[Expectation, ...] = field(default=())
    parents: tuple[str, ...] = field(default=())  # tables that must be loaded first
    #: an export may be absent: the table is then created empty (docs/data-contract.md)
    optional: bool = False

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


def _not_null(col: str) -> Expectation:
    return Expectation("expect_column_values_to_not_be_null", {"column": col})


def _unique(col: str) -> Expectation:
    return Expectation("expect_column_values_to_be_unique", {"column": col})


def _in_set(col: str, values: tuple[str, ...]) -> Expectation:
    return Expectation("expect_column_values_to_be_in_set", {"column": col, "value_set": list(values)})


def _in_table(col: str, table: str, table_column: str) -> Expectation:
    return Expectation(
        "expect_column_values_to_be_in_table",
        {"column": col, "table": table, "table_column": table_column},
        f"every {col} refers to a loaded row of {table}",
    )


def _regex(col: str, regex: str) -> Expectation:
    return Expectation("expect_column_values_to_match_regex", {"column": col, "regex": regex})


def _between(col: str, lo: Any, hi: Any) -> Expectation:
    return Expectation(
        "expect_column_values_to_be_between", {"column": col, "min_value": lo, "max_value": hi}
    )


def _a_ge_b(a: str, b: str) -> Expectation:
    return Expectation(
        "expect_column_pair_values_a_to_be_greater_than_b",
        {"column_A": a, "column_B": b, "or_equal": True, "ignore_row_if": "either_value_is_missing"},
        f"{a} is not before {b}",
    )


ID_REGEX = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$"

CUSTOMERS = Table(
    name="customers",
    description="One row per customer account.",
    key="customer_id",
    columns=(
        Column("customer_id", "string", "Customer number, unique."),
        Column("name", "string", "Customer or company name as on the invoice."),
        Column("contract", "string", "Contract / service level, e.g. basic, business, premium."),
    ),
    expectations=(
        _not_null("customer_id"),
        _unique("customer_id"),
        _regex("customer_id", ID_REGEX),
        _not_null("name"),
        _not_null("contract"),
    ),
)

SERVICES = Table(
    name="services",
    description="One row per product instance a customer has.",
    key="service_id",
    parents=("customers",),
    columns=(
        Column("service_id", "string", "Service (contract item) id, unique."),
        Column("customer_id", "string", "Owner of the service."),
        Column("product", "string", "webhosting, vserver, root_server, dedicated, mailserver, managed_server, domain, …"),
        Column("managed", "boolean", "True when the provider operates the service for the customer."),
    ),
    expectations=(
        _not_null("service_id"),
        _unique("service_id"),
        _regex("service_id", ID_REGEX),
        _not_null("customer_id"),
        _in_table("customer_id", "customers", "customer_id"),
        _not_null("product"),
        _not_null("managed"),
    ),
)

TICKETS = Table(
    name="tickets",
    description="One row per support ticket, with the tier the agent recorded.",
    key="ticket_id",
    parents=("customers", "services"),
    columns=(
        Column("ticket_id", "string", "Ticket number, unique."),
        Column("customer_id", "string", "Customer who opened the ticket."),
        Column("service_id", "string", "Service the ticket is about; empty when none.", nullable=True),
        Column("opened_at", "timestamp", "When the ticket was opened."),
        Column("first_response_at", "timestamp", "First agent response; empty while none.", required=False, nullable=True),
        Column("resolved_at", "timestamp", "When it was resolved; empty while open.", required=False, nullable=True),
        Column("priority", "string", "low, normal, high or urgent."),
        Column("channel", "string", "email, phone, portal, chat …", required=False, nullable=True),
        Column("category", "string", "Helpdesk category; the policy maps categories to tiers."),
        Column("subject", "string", "Ticket subject as the customer wrote it.", required=False, nullable=True),
        Column("cause", "string", "provider, customer or unknown; empty when not recorded.", required=False, nullable=True),
        Column("tier", "string", "The support tier the agent recorded (a tier id of the policy)."),
    ),
    expectations=(
        _not_null("ticket_id"),
        _unique("ticket_id"),
        _regex("ticket_id", ID_REGEX),
        _not_null("customer_id"),
        _in_table("customer_id", "customers", "customer_id"),
        _in_table("service_id", "services", "service_id"),
        _not_null("opened_at"),
        _a_ge_b("first_response_at", "opened_at"),
        _a_ge_b("resolved_at", "opened_at"),
        _not_null("priority"),
        _in_set("priority", PRIORITIES),
        _not_null("category"),
        _in_set("cause", CAUSES),
        _not_null("tier"),
        _in_set("tier", ()),  # filled from the policy's tiers by contract_for()
    ),
)

TIME_ENTRIES = Table(
    name="time_entries",
    description="Tracked work on a ticket. Give `minutes`, or `ended_at`, or both.",
    key="entry_id",
    parents=("tickets",),
    columns=(
        Column("entry_id", "string", "Time entry id, unique."),
        Column("ticket_id", "string", "Ticket the time was spent on."),
        Column("agent", "string", "Agent login or name."),
        Column("started_at", "timestamp", "Start of the work."),
        Column("ended_at", "timestamp", "End of the work; exact to the second.", required=False, nullable=True),
        Column("minutes", "decimal", "Duration in minutes when no end is given.", required=False, nullable=True, scale=4),
        Column(
            "duration_seconds",
            "integer",
            "Derived, not read: ended_at - started_at in seconds when both ends are given, else minutes × 60.",
            required=False,
            nullable=True,
        ),
    ),
    expectations=(
        _not_null("entry_id"),
        _unique("entry_id"),
        _regex("entry_id", ID_REGEX),
        _not_null("ticket_id"),
        _in_table("ticket_id", "tickets", "ticket_id"),
        _not_null("agent"),
        _not_null("started_at"),
        _a_ge_b("ended_at", "started_at"),
        Expectation(
            "expect_column_values_to_not_be_null",
            {"column": "duration_seconds"},
            "a duration is known: minutes or ended_at is given",
        ),
        _between("duration_seconds", 0, 86400),
    ),
)

INVOICE_LINES = Table(
    name="invoice_lines",
    description="Support lines of issued invoices and credit notes (negative quantity).",
    key="line_id",
    parents=("customers", "tickets"),
    columns=(
        Column("line_id", "string", "Invoice line id, unique."),
        Column("invoice_id", "string", "Invoice (or credit note) number."),
        Column("customer_id", "string", "Invoiced customer."),
        Column("ticket_id", "string", "Ticket the line bills."),
        Column("service_date", "date", "Date of the service billed (local date)."),
        Column("quantity", "decimal", "Billed units (negative on a credit line).", scale=2),
        Column("unit_price", "decimal", "Net price per unit, EUR.", scale=2),
        Column("amount", "decimal", "Net line amount, EUR.", scale=2),
    ),
    expectations=(
        _not_null("line_id"),
        _unique("line_id"),
        _regex("line_id", ID_REGEX),
        _not_null("invoice_id"),
        _not_null("customer_id"),
        _in_table("customer_id", "customers", "customer_id"),
        _not_null("ticket_id"),
        _in_table("ticket_id", "tickets", "ticket_id"),
        _not_null("service_date"),
        _not_null("quantity"),
        _not_null("unit_price"),
        _not_null("amount"),
    ),
)

AGENTS = Table(
    name="agents",
    description="Optional. One row per agent login, with the agent's role.",
    key="agent",
    optional=True,
    columns=(
        Column("agent", "string", "Agent login, as in time_entries.agent; unique."),
        Column("name", "string", "Display name.", required=False, nullable=True),
        Column("role", "string", "Role, e.g. generalist or specialist (signals read it).", required=False, nullable=True),
        Column("team", "string", "Team or support level.", required=False, nullable=True),
    ),
    expectations=(
        _not_null("agent"),
        _unique("agent"),
        _regex("agent", ID_REGEX),
    ),
)

#: Statuses after which a ticket is done: a change from one of them to any other status is a
#: reopening (compared case-insensitively, docs/semantics.md).
CLOSED_STATUSES = ("resolved", "closed")

TICKET_STATUS_HISTORY = Table(
    name="ticket_status_history",
    description="Optional. Every status change of a ticket; a status holds until the next change.",
    key="ticket_id",
    optional=True,
    parents=("tickets",),
    columns=(
        Column("ticket_id", "string", "Ticket whose status changed."),
        Column("status", "string", "The new status, e.g. open, pending, resolved, closed."),
        Column("changed_at", "timestamp", "When the status changed."),
    ),
    expectations=(
        _not_null("ticket_id"),
        _in_table("ticket_id", "tickets", "ticket_id"),
        _not_null("status"),
        _not_null("changed_at"),
    ),
)

#: Load order: parents before children, so referential checks see the loaded parents.
#: Optional tables come last (their exports may be absent).
TABLES: dict[str, Table] = {
    t.name: t
    for t in (CUSTOMERS, SERVICES, TICKETS, TIME_ENTRIES, INVOICE_LINES, AGENTS, TICKET_STATUS_HISTORY)
}

#: DuckDB types of the loaded canonical tables.
DUCKDB_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "decimal": "DECIMAL(18,{scale})",
    "timestamp": "TIMESTAMPTZ",
    "date": "DATE",
    "boolean": "BOOLEAN",
}


def duckdb_type(column: Column) -> str:
    t = DUCKDB_TYPES[column.type]
    return t.format(scale=column.scale if column.scale is not None else 2)


def contract_for(tier_ids: list[str] | tuple[str, ...]) -> dict[str, Table]:
    """The contract with policy-owned value sets filled in (today: the recorded tier)."""
    out: dict[str, Table] = {}
    for name, table in TABLES.items():
        exps = tuple(
            replace(e, kwargs={**e.kwargs, "value_set": list(tier_ids)})
            if e.type == "expect_column_values_to_be_in_set" and e.kwargs.get("column") == "tier"
            else e
            for e in table.expectations
        )
        out[name] = replace(table, expectations=exps)
    return out
