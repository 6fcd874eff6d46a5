"""Rows the ingestion must quarantine, each an *extra* row that changes no finding.

Every kind names the reason the contract (audit/contract.py) or the parser gives, so the ground
truth can list ``(table, physical line, expectation)`` for each. Dirty tickets are fresh tickets
without time or invoices (quarantining them cascades to nothing); dirty time entries and invoice
lines sit next to real ones, and the real ones stay exactly as the clean data needs them: a
duplicated ``entry_id`` comes *after* the entry it copies (the first occurrence is loaded).

A kind that a typed Parquet file cannot hold (text that does not parse, a third decimal) is written
in CSV only (``cells`` or ``raw``); the writers skip it for Parquet.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from audit.sample import vocab
from audit.sample.clock import to_local
from audit.sample.formats import CSV_FORMATS

PARSE_ERROR = "parse_error"


@dataclass(frozen=True, slots=True)
class Dirty:
    """A row to quarantine: its typed values plus, for CSV, the text that makes it bad."""

    row: tuple
    kind: str
    expectation: str
    column: str | None
    cells: tuple[str, ...] | None = None  # CSV cells written instead of formatting ``row``
    raw: str | None = None  # verbatim CSV record (no line terminator)

    @property
    def csv_only(self) -> bool:
        return self.cells is not None or self.raw is not None

    def record(self, table: str, line: int) -> dict:
        return {
            "table": table, "line": line, "key": self.row[0], "expectation": self.expectation,
            "column": self.column, "planted": self.kind,
        }


def dirty_tickets(rng: random.Random, new_id, base: tuple) -> list[Dirty]:
    """Five bad ticket rows modelled on ``base`` (a clean ticket row), each with a fresh id."""
    cells = CSV_FORMATS["tickets"].cells

    def fresh(**changes) -> tuple:
        row = list(base)
        row[0] = new_id()
        row[9] = rng.choice(vocab.CUSTOMER_CENTER_USAGE_SUBJECTS)
        for i, v in changes.items():
            row[int(i[1:])] = v
        return tuple(row)

    out = []
    row = fresh(c9=vocab.UNQUOTED_COMMA_SUBJECT)  # the subject's comma splits it: 13 cells
    out.append(Dirty(row, "wrong_column_count", PARSE_ERROR, None, raw=",".join(cells(row))))
    row = fresh()
    text = cells(row)
    text[9] = f'"{vocab.BROKEN_QUOTE_SUBJECT}"'  # inner quotes not doubled
    out.append(Dirty(row, "broken_quoting", PARSE_ERROR, "subject", raw=",".join(text)))
    row = fresh()
    text = cells(row)
    opened = row[3]
    text[3] = f"{opened.year:04d}-{opened.month:02d}-32 {opened:%H:%M:%S}"  # no 32nd day
    out.append(Dirty(row, "unparseable_date", PARSE_ERROR, "opened_at", cells=tuple(text)))
    out.append(Dirty(fresh(c6=vocab.UNKNOWN_PRIORITY), "unknown_priority",
                     "expect_column_values_to_be_in_set", "priority"))
    out.append(Dirty(fresh(c11=vocab.UNKNOWN_TIER), "tier_not_in_policy",
                     "expect_column_values_to_be_in_set", "tier"))
    return out


def duplicate_entry(rng: random.Random, original: tuple, agents: tuple[str, ...]) -> Dirty:
    """The same entry_id exported again with a different agent and end (a re-export)."""
    eid, tid, agent, start, end, minutes = original
    other = rng.choice([a for a in agents if a != agent])
    if end is not None:
        end = to_local(int(end.timestamp()) + 300)
    else:
        minutes = minutes + 5
    return Dirty((eid, tid, other, start, end, minutes), "duplicate_entry_id",
                 "expect_column_values_to_be_unique", "entry_id")


def reversed_entry(entry_id: str, ticket_id: str, agent: str, start: int) -> Dirty:
    """An entry that ends 15 minutes before it starts."""
    row = (entry_id, ticket_id, agent, to_local(start), to_local(start - 900), None)
    return Dirty(row, "ended_before_started",
                 "expect_column_pair_values_a_to_be_greater_than_b", "ended_at")


def orphan_entry(rng: random.Random, entry_id: str, agent: str, start: int) -> Dirty:
    """An entry of a ticket that does not exist (ids of real tickets never start with ``T-0``)."""
    row = (entry_id, f"T-0{rng.randint(10000, 99999)}", agent, to_local(start),
           to_local(start + 600), None)
    return Dirty(row, "unknown_ticket", "expect_column_values_to_be_in_table", "ticket_id")


def three_decimal_line(line_row: tuple, line_id: str) -> Dirty:
    """An extra line on a real invoice whose amount has a third decimal (``70,005``)."""
    row = (line_id, *line_row[1:])
    text = CSV_FORMATS["invoice_lines"].cells(row)
    text[7] += "5"
    return Dirty(row, "amount_three_decimals", PARSE_ERROR, "amount", cells=tuple(text))
