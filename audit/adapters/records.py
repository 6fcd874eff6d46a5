"""Reading foreign export files into records: named fields, where each record is, its raw text.

A *record* is one row of a CSV/XLSX export or one object of a JSON export, with its fields as
the product names them (``Ticket#``, ``timeSpentSeconds``, ``Dauer``). Adapters turn records
into canonical rows; a record they cannot map is *set aside* with its file, line (CSV/XLSX) or
JSON path and the reason, so that ``rows in = loaded + set aside`` holds per file.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from audit.errors import DataError, Diagnostic, Location


@dataclass
class Record:
    """One record of a foreign export."""

    file: Path
    line: int  # CSV/XLSX: the row's line (header = 1); JSON: the element's position (1-based)
    where: str  # "line 5" or "$.worklogs[3]", for messages
    fields: dict[str, Any]
    raw: str


@dataclass
class SetAside:
    """A record (or one of its values) an adapter could not map; goes to the quarantine."""

    table: str
    file: Path
    line: int
    where: str
    column: str | None
    value: str | None
    reason: str
    raw: str


@dataclass
class Row:
    """A canonical row made from a record: canonical column -> text (None = empty)."""

    values: dict[str, str | None]
    record: Record


@dataclass
class FileCount:
    """Rows in per source file; the quarantine and the loaded tables give the rest."""

    table: str
    file: Path
    adapter: str
    rows_in: int = 0


@dataclass
class Mapped:
    """What the adapters made of the sources of one run."""

    rows: dict[str, list[Row]] = field(default_factory=dict)
    set_aside: list[SetAside] = field(default_factory=list)
    files: list[FileCount] = field(default_factory=list)
    #: (table, column) -> {source value: count}: values no value map knows (reported, not dropped)
    unmapped: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    #: table -> [(canonical column, how it is made)] for `sources check`
    mapping: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: ticket -> {recorded tier: entries}, from a time tracker's billable flag (tickets.tier
    #: mapped with a time adapter as its source); fills tickets without a tier of their own
    entry_tiers: dict[str, dict[str, int]] = field(default_factory=dict)

    def note_unmapped(self, table: str, column: str, value: str) -> None:
        seen = self.unmapped.setdefault((table, column), {})
        seen[value] = seen.get(value, 0) + 1


# -- text files --------------------------------------------------------------------------------

def decode(path: Path, encoding: str | None) -> tuple[str, str]:
    """The text of ``path`` and the encoding used: the declared one, else detected (BOM, UTF-8,
    Windows-1252) like the canonical readers do."""
    data = path.read_bytes()
    if encoding:
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise DataError(diagnostics=[Diagnostic(
                Location(str(path)), f"cannot be read as {encoding}: {exc}",
                "set the source's encoding to the one the export was written in")]) from None
    from audit.ingest.files import fingerprint

    _, detected = fingerprint(path, text=True)
    return data.decode(detected), detected


def sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (";", ",", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_csv(path: Path, *, encoding: str | None = None, delimiter: str | None = None) -> Iterator[Record]:
    """Records of a CSV export. Header names are kept as written; a repeated name (Kimai's
    meta-field columns) gets ``#2``, ``#3`` … so no value is lost."""
    text, _ = decode(path, encoding)
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines(keepends=True)
    offset = 0
    if lines and lines[0].lower().startswith("sep=") and len(lines[0].strip()) == 5:
        delimiter = delimiter or lines[0].strip()[4]
        offset = 1
    body = "".join(lines[offset:])
    if not body.strip():
        raise DataError(diagnostics=[Diagnostic(Location(str(path)), "the file is empty",
                                                "export the data again")])
    delim = delimiter or sniff_delimiter(lines[offset])
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=delim)
    header = unique_names(next(reader))
    start = offset + 1  # 0-based line index of the next record
    for values in reader:
        first = reader.line_num + offset  # physical line where this record ended (1-based)
        line = start + 1
        raw = "".join(lines[start:first]).rstrip("\r\n")
        start = first
        if not any(v.strip() for v in values):
            continue
        fields = {name: (values[i] if i < len(values) else None) for i, name in enumerate(header)}
        if len(values) != len(header):
            fields["__problem__"] = (f"the record has {len(values)} fields but the header has "
                                     f"{len(header)}: a '{delim}' too many or too few")
        yield Record(path, line, f"line {line}", fields, raw)


def unique_names(names: list[str]) -> list[str]:
    out: list[str] = []
    seen: dict[str, int] = {}
    for raw in names:
        name = raw.replace("\ufeff", "").strip()
        if name in seen:
            seen[name] += 1
            name = f"{name}#{seen[name]}"
        else:
            seen[name] = 1
        out.append(name)
    return out


def read_xlsx(path: Path, sheet: str | int = 0) -> Iterator[Record]:
    """Records of the first (or the named) sheet of an XLSX workbook, read with python-calamine.

    Cells keep their types: a date cell is a ``datetime``/``date``, a duration cell (``[h]:mm``)
    a ``timedelta``, a number a ``Decimal`` of its shortest text (never a binary float)."""
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:  # pragma: no cover - a dependency of the package
        raise DataError(diagnostics=[Diagnostic(Location(str(path)), "reading XLSX needs python-calamine",
                                                "pip install python-calamine")]) from None
    try:
        book = CalamineWorkbook.from_path(str(path))
        name = sheet if isinstance(sheet, str) else book.sheet_names[sheet]
        rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except Exception as exc:  # calamine raises its own error types
        raise DataError(diagnostics=[Diagnostic(Location(str(path)), f"is not a readable XLSX workbook ({exc})",
                                                "export the file again as XLSX or CSV")]) from None
    if not rows:
        raise DataError(diagnostics=[Diagnostic(Location(str(path)), "the workbook's sheet is empty",
                                                "export the data again")])
    header = unique_names([cell_text(c) or "" for c in rows[0]])
    for i, values in enumerate(rows[1:], start=2):
        if all(v in ("", None) for v in values):
            continue
        fields = {name: cell_value(values[j]) if j < len(values) else None for j, name in enumerate(header)}
        raw = json.dumps({k: cell_text(v) for k, v in fields.items()}, ensure_ascii=False)
        yield Record(path, i, f"row {i}", fields, raw)


def cell_value(value: Any) -> Any:
    """A cell as the adapters use it. Spreadsheet times are fractions of a day in a binary
    float: datetimes and durations are rounded to the second (what Kimai and Zammad store)."""
    if isinstance(value, dt.datetime):
        return (value + dt.timedelta(microseconds=500_000)).replace(microsecond=0)
    if isinstance(value, dt.timedelta):
        return dt.timedelta(seconds=round(value.total_seconds()))
    if isinstance(value, float):
        return Decimal(repr(value)).normalize() if value != int(value) else Decimal(int(value))
    if value == "":
        return None
    return value


def cell_text(value: Any) -> str | None:
    """A cell as text: dates ISO, durations as seconds-exact ``h:mm:ss``, numbers exact."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.timedelta):
        total = int(round(value.total_seconds()))
        return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float):
        value = cell_value(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


# -- JSON --------------------------------------------------------------------------------------

def read_json(path: Path) -> Any:
    text, _ = decode(path, None)
    try:
        return json.loads(text.lstrip("\ufeff"), parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise DataError(diagnostics=[Diagnostic(Location(str(path), exc.lineno, exc.colno),
                                                f"is not valid JSON: {exc.msg}",
                                                "export the data again")]) from None


def json_records(path: Path, items: list[Any], json_path: str) -> Iterator[Record]:
    """Records of a JSON array at ``json_path`` (``$`` or ``$.worklogs``); the line is the
    element's position (1-based), the where its JSON path."""
    for i, item in enumerate(items):
        raw = json.dumps(item, ensure_ascii=False, default=str, sort_keys=True)
        fields = item if isinstance(item, dict) else {"__problem__": "is not a JSON object"}
        yield Record(path, i + 1, f"{json_path}[{i}]", fields, raw)


def field_text(value: Any) -> str | None:
    """A field as text; lists (tags) joined with ', '."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(t for t in (field_text(v) for v in value) if t)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    text = cell_text(value)
    return text.strip() if isinstance(text, str) and text.strip() else None
