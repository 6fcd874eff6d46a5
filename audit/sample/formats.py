"""How each table looks on disk: CSV dialect and cell text, or Parquet types.

The CSV files imitate the exports they stand for (docs/sample-data.md):

=================  =========  =====  ======  ======================================================
file               encoding   delim  EOL     values
=================  =========  =====  ======  ======================================================
customers.csv      UTF-8      ``,``  LF      names with umlauts
services.csv       UTF-8      ``,``  LF      ``managed`` as ``true``/``false``
tickets.csv        UTF-8+BOM  ``,``  CRLF    naive local timestamps ``YYYY-MM-DD HH:MM:SS``
time_entries.csv   UTF-8      ``,``  LF      ISO 8601 with offset, ``minutes`` with a point
invoice_lines.csv  UTF-8      ``;``  CRLF    German: ``31.05.2026``, ``17,50``, ``-70,00``
agents.csv         UTF-8      ``,``  LF      logins, names, roles (an empty role cell)
=================  =========  =====  ======  ======================================================

Rows are tuples in the column order of :mod:`audit.contract` (without the derived
``duration_seconds``); timestamps in them are aware ``datetime`` objects in the policy's zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from audit.contract import TABLES
from audit.sample.euserv import TIMEZONE

TABLE_ORDER = ("customers", "services", "tickets", "time_entries", "invoice_lines", "agents")
#: the tables written block by block (invoice lines wait for their month; agents are fixed)
BLOCK_TABLES = TABLE_ORDER[:4]


def columns(table: str) -> tuple[str, ...]:
    """The columns the generator writes: the contract's, minus derived ones."""
    return tuple(c for c in TABLES[table].column_names if c != "duration_seconds")


def _text(v: str | None) -> str:
    return "" if v is None else v


def _naive(t: dt.datetime | None) -> str:
    return "" if t is None else t.isoformat(" ")[:19]


def _iso(t: dt.datetime | None) -> str:
    return "" if t is None else t.isoformat()


def de_decimal(x: Decimal) -> str:
    """German decimal text as invoice_lines.csv writes it (``-70,00``)."""
    return f"{x:.2f}".replace(".", ",")


def _de_date(d: dt.date) -> str:
    return f"{d.day:02d}.{d.month:02d}.{d.year:04d}"


def _customer(r: tuple) -> list[str]:
    return [r[0], r[1], r[2]]


def _service(r: tuple) -> list[str]:
    return [r[0], r[1], r[2], "true" if r[3] else "false"]


def _ticket(r: tuple) -> list[str]:
    return [
        r[0], r[1], _text(r[2]), _naive(r[3]), _naive(r[4]), _naive(r[5]), r[6], _text(r[7]),
        r[8], _text(r[9]), _text(r[10]), r[11],
    ]


def _entry(r: tuple) -> list[str]:
    return [r[0], r[1], r[2], _iso(r[3]), _iso(r[4]), "" if r[5] is None else str(r[5])]


def _agent(r: tuple) -> list[str]:
    return [r[0], _text(r[1]), _text(r[2]), _text(r[3])]


def _line(r: tuple) -> list[str]:
    return [r[0], r[1], r[2], r[3], _de_date(r[4]), de_decimal(r[5]), de_decimal(r[6]), de_decimal(r[7])]


@dataclass(frozen=True)
class CsvFormat:
    cells: Callable[[tuple], list[str]]
    delimiter: str = ","
    lineterminator: str = "\n"
    encoding: str = "utf-8"
    #: cells that may hold a newline (physical line numbers must count it)
    text_columns: tuple[int, ...] = ()


CSV_FORMATS = {
    "customers": CsvFormat(_customer, text_columns=(1,)),
    "services": CsvFormat(_service),
    "tickets": CsvFormat(_ticket, lineterminator="\r\n", encoding="utf-8-sig", text_columns=(9,)),
    "time_entries": CsvFormat(_entry),
    "invoice_lines": CsvFormat(_line, delimiter=";", lineterminator="\r\n"),
    "agents": CsvFormat(_agent),
}


def arrow_schema(table: str):
    """Parquet types: strings, booleans, DECIMAL(18,2|4), DATE, TIMESTAMP (µs).

    Ticket timestamps are naive local (as in the helpdesk CSV); time entries are instants
    (UTC-adjusted, zone ``Europe/Berlin`` in the schema).
    """
    import pyarrow as pa

    s, ts_naive, ts_tz = pa.string(), pa.timestamp("us"), pa.timestamp("us", tz=TIMEZONE)
    money = pa.decimal128(18, 2)
    types = {
        "customers": [s, s, s],
        "services": [s, s, s, pa.bool_()],
        "tickets": [s, s, s, ts_naive, ts_naive, ts_naive, s, s, s, s, s, s],
        "time_entries": [s, s, s, ts_tz, ts_tz, pa.decimal128(18, 4)],
        "invoice_lines": [s, s, s, s, pa.date32(), money, money, money],
        "agents": [s, s, s, s],
    }[table]
    return pa.schema(list(zip(columns(table), types, strict=True)))


def arrow_columns(table: str, rows: list[tuple]) -> list[list]:
    """Column lists for :func:`arrow_schema` (naive ticket timestamps lose their zone)."""
    cols = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in columns(table)]
    if table == "tickets":
        for i in (3, 4, 5):
            cols[i] = [None if t is None else t.replace(tzinfo=None) for t in cols[i]]
    return cols
