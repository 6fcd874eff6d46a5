"""Reading messy CSV exports record by record, with the physical line of every record.

Python's :mod:`csv` (C-implemented) splits records; ``reader.line_num`` gives the physical line
each record ends on, so a record's line is the line after the previous record's end. The header
is line 1 (line 2 after an Excel ``sep=;`` line).

Structural damage is quarantined, never dropped and never allowed to swallow other rows:

- a record with more or fewer fields than the header: ``wrong_column_count``;
- a quote that is never closed properly: the csv module (in strict mode) stops at the first
  impossible character, possibly several lines later. The line the record started on is
  quarantined as ``broken_quoting`` and every line after it is read again as new records, so one
  stray quote costs one line, not the rest of the file.

Speed: the csv module splits ~1M records a second; fields are gathered into Python lists and
turned into Arrow string columns per chunk. The cyclic garbage collector is paused while a chunk
is built (millions of short-lived lists would otherwise trigger it over and over for nothing).
"""

from __future__ import annotations

import csv
import gc
import re
from collections import deque
from collections.abc import Collection, Iterator
from pathlib import Path

from audit.contract import Table
from audit.errors import Diagnostic, Location
from audit.ingest.files import (
    ColumnMatch,
    InputFile,
    column_warnings,
    describe_encoding,
    match_columns,
    normalise_name,
)
from audit.ingest.readers import Chunk, Problem, text_columns

DELIMITERS = (";", ",", "\t", "|")
_SEP_LINE = re.compile(r"sep=(.)\s*")
_DELIMITER_WORDS = {"\t": "tab", ";": "';'", ",": "','", "|": "'|'"}


def detect_delimiter(header_line: str, table: Table) -> str:
    """The delimiter that splits the header into the most known column names (then most fields)."""
    known = set(table.column_names)

    def score(delimiter: str) -> tuple[int, int]:
        names = next(csv.reader([header_line], delimiter=delimiter))
        return sum(normalise_name(n) in known for n in names), len(names)

    return max(DELIMITERS, key=score)  # max() keeps the first of equals: ';' before ','


def _lines(pending: deque[str], f: Iterator[str], buf: list[str]) -> Iterator[str]:
    """Lines to parse: re-read lines first, then the file; every line handed out lands in ``buf``."""
    while pending:
        line = pending.popleft()
        buf.append(line)
        yield line
    for line in f:
        buf.append(line)
        yield line


class CsvReader:
    def __init__(self, file: InputFile, match: ColumnMatch, header: list[str], delimiter: str,
                 data_start: int, chunk_rows: int):
        self.file = file
        self.match = match
        self.ncols = len(header)
        self.delimiter = delimiter
        self.data_start = data_start  # physical line of the first record
        self.chunk_rows = chunk_rows
        self.rows_in = 0
        self.blank_lines = 0
        self.warnings: list[str] = column_warnings(file.name, match)
        self.dialect = f"{describe_encoding(file.encoding)}, {_DELIMITER_WORDS[delimiter]}-separated"
        self._multiline: dict[int, int] = {}  # start line -> end line, for records spanning lines

    @classmethod
    def open(cls, file: InputFile, table: Table, derived: frozenset[str],
             chunk_rows: int) -> tuple[CsvReader | None, list[Diagnostic]]:
        with _open_text(file.path, file.encoding) as f:
            first = f.readline()
            line = 1
            delimiter = None
            sep = _SEP_LINE.fullmatch(first.lstrip("\ufeff"))
            if sep and sep.group(1) in DELIMITERS:
                delimiter = sep.group(1)
                first = f.readline()
                line = 2
        if not first.strip():
            what = "the file is empty" if line == 1 and not first else "the header line is empty"
            return None, [Diagnostic(Location(file.label, line), what,
                                     "export the table with a header line naming its columns")]
        delimiter = delimiter or detect_delimiter(first, table)
        header = next(csv.reader([first], delimiter=delimiter))
        match, problems = match_columns(table, header, file.label, derived=derived,
                                        positional=True, line=line)
        if match is None:
            return None, problems
        return cls(file, match, header, delimiter, line + 1, chunk_rows), []

    # -- reading -----------------------------------------------------------------------------

    def chunks(self) -> Iterator[Chunk]:
        with _open_text(self.file.path, self.file.encoding) as f:
            for _ in range(self.data_start - 1):
                f.readline()
            yield from self._read(f)
        if self.blank_lines:
            self.warnings.append(f"{self.file.name}: {self.blank_lines} blank line(s) skipped")

    def _read(self, f: Iterator[str]) -> Iterator[Chunk]:
        ncols = self.ncols
        rows: list[list[str]] = []
        starts: list[int] = []
        problems: list[Problem] = []
        pending: deque[str] = deque()
        base = self.data_start - 1  # physical line number just before the current reader's first
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            while True:
                buf: list[str] = []
                reader = csv.reader(_lines(pending, f, buf), delimiter=self.delimiter,
                                    quotechar='"', doublequote=True, strict=True)
                prev = 0  # reader.line_num at the end of the previous record
                add_row, add_start, clear = rows.append, starts.append, buf.clear
                try:
                    for row in reader:
                        end = reader.line_num
                        start = base + prev + 1
                        prev = end
                        if len(row) == ncols:
                            add_row(row)
                            add_start(start)
                            if base + end != start:
                                self._multiline[start] = base + end
                        elif not row or (len(row) == 1 and not row[0].strip()):
                            self.blank_lines += 1
                        else:
                            problems.append(self._wrong_count(start, len(row), "".join(buf)))
                        clear()
                        if len(rows) >= self.chunk_rows:
                            chunk = self._chunk(rows, starts, problems)
                            rows, starts, problems = [], [], []
                            add_row, add_start = rows.append, starts.append
                            if gc_was_enabled:
                                gc.enable()
                            yield chunk
                            gc.disable()
                except csv.Error as exc:
                    start = base + prev + 1
                    problems.append(self._broken(start, buf[0], str(exc)))
                    # Re-read every line after the broken one as fresh records.
                    pending.extendleft(reversed(buf[1:]))
                    base = start
                    continue
                break
            if rows or problems:
                chunk = self._chunk(rows, starts, problems)
                if gc_was_enabled:
                    gc.enable()
                yield chunk
        finally:
            if gc_was_enabled:
                gc.enable()

    def _chunk(self, rows: list[list[str]], starts: list[int], problems: list[Problem]) -> Chunk:
        self.rows_in += len(rows) + len(problems)
        columns = list(zip(*rows, strict=True)) if rows else [()] * self.ncols
        names = list(self.match.positions)
        data = text_columns(names, [list(columns[int(self.match.positions[n])]) for n in names], starts)
        return Chunk(data, problems)

    def _wrong_count(self, line: int, n: int, raw: str) -> Problem:
        d = _DELIMITER_WORDS[self.delimiter]
        return Problem(
            line=line,
            expectation="wrong_column_count",
            reason=(f"the record has {n} fields but the header has {self.ncols}: a {d} too many "
                    f"or too few, or an unquoted {d} inside a value"),
            raw=raw.rstrip("\r\n"),
        )

    def _broken(self, line: int, raw: str, message: str) -> Problem:
        return Problem(
            line=line,
            expectation="broken_quoting",
            reason=("a quoted value on this line is not closed properly (" + message + "); the "
                    "line is set aside and the lines after it are read as new records"),
            raw=raw.rstrip("\r\n"),
        )

    # -- raw text for the quarantine ---------------------------------------------------------

    def raw_records(self, lines: Collection[int]) -> dict[int, str]:
        """The exact text of the records starting on ``lines`` (several physical lines if quoted)."""
        wanted = iter(sorted(set(lines)))
        current = next(wanted, None)
        out: dict[int, str] = {}
        if current is None:
            return out
        collected: list[str] = []
        with _open_text(self.file.path, self.file.encoding) as f:
            for number, text in enumerate(f, 1):
                if number < current:
                    continue
                collected.append(text)
                if number >= self._multiline.get(current, current):
                    out[current] = "".join(collected).rstrip("\r\n")
                    collected = []
                    current = next(wanted, None)
                    if current is None:
                        break
        return out


def _open_text(path: Path, encoding: str):
    # newline="" keeps line ends inside quoted values for the csv module, and makes iteration
    # split lines exactly as csv's line_num counts them.
    return open(path, encoding=encoding, newline="")
