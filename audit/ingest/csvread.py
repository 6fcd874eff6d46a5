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
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

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
        self._lf_lines = False  # set by chunks(): every line ends in LF or CRLF, text is UTF-8

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
        shape = _file_shape(self.file) if self.file.encoding in ("utf-8", "utf-8-sig") else None
        self._lf_lines = shape is not None  # only LF/CRLF line ends: raw_records may use bytes
        if shape is not None:
            yield from self._read_fast(*shape)
        else:
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

    # -- the fast path ---------------------------------------------------------------------------
    #
    # Why: splitting 10 M records with the csv module and turning them into Arrow from Python
    # lists costs about 5 s per million records, most of the ingestion. Arrow's C++ CSV reader
    # splits lines 20x faster, in parallel, without the GIL. It is used as a *line* splitter
    # only (no quoting, a separator that does not occur), so that every Arrow row is exactly one
    # physical line and line numbers stay exact. A line is then either
    #
    # - plain: no quote character and exactly ncols - 1 separators. The csv module would give
    #   exactly ``line.split(delimiter)``, and so does Arrow's vectorised split;
    # - special (a quote, or a wrong number of separators): handled record by record with the
    #   csv module exactly as :meth:`_read` would, reading on across lines for quoted values
    #   that span lines. The csv reader has no state between records, so starting it afresh at
    #   each record boundary gives the same records, errors and line numbers.
    #
    # Lines longer than the csv module's field size limit are special too (it rejects them).
    # Files where this equivalence needs care take :meth:`_read`: not UTF-8, a NUL or a lone CR
    # anywhere, or mixed line ends (:func:`_file_shape`).

    def _read_fast(self, newline: Any, unterminated: int) -> Iterator[Chunk]:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pcsv

        ncols, delim = self.ncols, self.delimiter
        stream = pcsv.open_csv(
            self.file.path,
            read_options=pcsv.ReadOptions(column_names=["line"], skip_rows=self.data_start - 1,
                                          block_size=16 << 20),
            parse_options=pcsv.ParseOptions(delimiter=_NO_DELIMITER, quote_char=False,
                                            escape_char=False, newlines_in_values=False,
                                            ignore_empty_lines=False),
            convert_options=pcsv.ConvertOptions(column_types={"line": pa.string()},
                                                strings_can_be_null=False,
                                                quoted_strings_can_be_null=False),
        )
        # Batches of lines (first physical line, array); read ahead only when a quoted value
        # runs past the end of a batch.
        ahead: deque[tuple[int, pa.Array]] = deque()
        next_line = self.data_start

        def pull() -> bool:
            nonlocal next_line
            for batch in stream:
                if batch.num_rows:
                    ahead.append((next_line, batch.column(0)))
                    next_line += batch.num_rows
                    return True
            return False

        def lines_from(line: int) -> Iterator[str]:
            """The text of every physical line from ``line`` on, with its line end."""
            i = 0
            while True:
                if i == len(ahead) and not pull():
                    return
                first, arr = ahead[i]
                # small slices: a record rarely spans more than a line or two
                for k in range(max(line - first, 0), len(arr), 16):
                    for n, text in enumerate(arr[k:k + 16].to_pylist(), first + k):
                        if n == unterminated:
                            yield text
                        elif isinstance(newline, str):
                            yield text + newline
                        else:  # mixed line ends: this line's own
                            yield text + ("\r\n" if newline[n - 1] else "\n")
                i += 1

        names = list(self.match.positions)
        positions = [int(self.match.positions[n]) for n in names]
        resume = self.data_start  # lines before it belong to records already read
        limit = csv.field_size_limit()
        while ahead or pull():
            first, arr = ahead[0]  # stays in ``ahead`` while its special records are read
            n = len(arr)
            if first + n <= resume:
                ahead.popleft()
                continue
            # lines before ``resume`` belong to a record that started in an earlier batch
            usable = np.arange(n) >= resume - first
            plain = pc.and_(
                pc.and_(pc.invert(pc.match_substring(arr, '"')),
                        pc.equal(pc.count_substring(arr, delim), ncols - 1)),
                pc.less_equal(pc.utf8_length(arr), limit),
            )
            rows: list[list[str]] = []
            starts: list[int] = []
            problems: list[Problem] = []
            for i in pc.indices_nonzero(pc.invert(plain)).to_pylist():
                start = first + i
                if start < resume:
                    continue
                resume = self._special_record(lines_from(start), start, rows, starts, problems)
                # a quoted value that spans lines takes the (maybe plain) lines after it along
                usable[i + 1:min(resume - first, n)] = False
            ahead.popleft()
            keep = pc.and_(plain, pa.array(usable))
            fields = pc.split_pattern(pc.filter(arr, keep), delim)
            columns = [pc.list_element(fields, p) for p in positions]
            lines = pa.array(np.flatnonzero(keep.to_numpy(zero_copy_only=False)) + first, pa.int64())
            table = pa.Table.from_arrays([*columns, lines], names=[*names, "_line"])
            if rows:  # special records go in line order among the plain ones
                extra = text_columns(names, [[r[p] for r in rows] for p in positions], starts)
                table = pa.concat_tables([table, extra])
                table = table.take(pc.sort_indices(table.column("_line")))
            resume = max(resume, first + n)
            self.rows_in += table.num_rows + len(problems)
            for offset in range(0, max(table.num_rows, 1), self.chunk_rows):
                part = table.slice(offset, self.chunk_rows)
                yield Chunk(part, problems if offset == 0 else [])

    def _special_record(self, lines: Iterator[str], start: int, rows: list[list[str]],
                        starts: list[int], problems: list[Problem]) -> int:
        """Read the one record starting on physical line ``start`` as :meth:`_read` would;
        return the first line after it (or after the broken line)."""
        buf: list[str] = []
        reader = csv.reader(_lines(deque(), lines, buf), delimiter=self.delimiter,
                            quotechar='"', doublequote=True, strict=True)
        try:
            row = next(reader)
        except csv.Error as exc:
            problems.append(self._broken(start, buf[0], str(exc)))
            return start + 1
        end = start + reader.line_num - 1
        if len(row) == self.ncols:
            rows.append(row)
            starts.append(start)
            if end != start:
                self._multiline[start] = end
        elif not row or (len(row) == 1 and not row[0].strip()):
            self.blank_lines += 1
        else:
            problems.append(self._wrong_count(start, len(row), "".join(buf)))
        return end + 1

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
        """The exact text of the records starting on ``lines`` (several physical lines if quoted).

        Files the fast path read (UTF-8, LF/CRLF line ends only) are searched by byte blocks, and
        only the wanted lines are decoded: a quarantine of 1 % of ten million lines takes about a
        second instead of a Python loop over every line. Other files are read line by line as
        the csv module read them."""
        ranges = [(start, self._multiline.get(start, start)) for start in sorted(set(lines))]
        if self._lf_lines:
            encoding = self.file.encoding
            return _collect_records(ranges, _byte_line_batches(self.file.path),
                                    lambda parts: b"".join(parts).decode(encoding).rstrip("\r\n"))
        with _open_text(self.file.path, self.file.encoding) as f:
            return _collect_records(ranges, ((n, [text]) for n, text in enumerate(f, 1)),
                                    lambda parts: "".join(parts).rstrip("\r\n"))


def _collect_records(ranges: list[tuple[int, int]], batches: Iterator[tuple[int, list[Any]]],
                     finish: Callable[[list[Any]], str]) -> dict[int, str]:
    """``first line -> finish(its physical lines)`` for each ``(first, last)`` record range (in
    line order), from ``batches`` of consecutive physical lines ``(number of the first, lines)``.
    Stops reading once every range is complete."""
    parts: dict[int, list[Any]] = {}
    out: dict[int, str] = {}
    nxt = 0  # index of the first range not complete yet
    for first, lines in batches:
        if nxt == len(ranges):
            break
        last = first + len(lines) - 1
        i = nxt
        while i < len(ranges) and ranges[i][0] <= last:
            start, end = ranges[i]
            i += 1
            if start in out or end < first:
                continue
            parts.setdefault(start, []).extend(lines[max(start, first) - first:min(end, last) - first + 1])
            if end <= last:
                out[start] = finish(parts.pop(start))
        while nxt < len(ranges) and ranges[nxt][0] in out:
            nxt += 1
    return out


def _byte_line_batches(path: Path) -> Iterator[tuple[int, list[bytes]]]:
    """The file's physical lines (with their line ends) in blocks of :data:`_RAW_BLOCK` bytes,
    as ``(number of the block's first line, lines)``; LF ends a line (CR only before LF)."""
    first, carry = 1, b""
    with open(path, "rb") as f:
        while True:
            data = f.read(_RAW_BLOCK)
            if not data and not carry:
                return
            block = carry + data
            cut = len(block) if not data else block.rfind(b"\n") + 1
            if cut == 0:  # no line end yet: read on
                carry = block
                continue
            block, carry = block[:cut], block[cut:]
            lines = block.splitlines(keepends=True)
            yield first, lines
            first += len(lines)
            if not data:
                return


#: Bytes per read when fetching raw records (a module constant so tests can make it tiny).
_RAW_BLOCK = 1 << 24

#: The "delimiter" Arrow is given to read whole lines; files containing it take the slow path.
_NO_DELIMITER = "\x1f"


def _file_shape(file: InputFile) -> tuple[Any, int] | None:
    """(line ends, the last line when it has no line end, else 0) when the fast path reads
    ``file`` exactly as the csv module would; None when it must not be used (see
    ``CsvReader._read_fast``).

    One pass of C-speed byte counts: no NUL (the csv module rejects it), no unit separator (the
    fast path's pseudo-delimiter), every CR part of a CRLF. The line ends are LF or CRLF when
    the file uses one kind, else a boolean array (line n - 1: ends in CRLF), as spreadsheets
    write CRLF records with LF inside quoted values: a value spanning lines contains its line
    ends, so they must be known exactly."""
    cr = crlf = lf = 0
    last = b""
    with open(file.path, "rb") as f:
        while block := f.read(1 << 24):
            if b"\x00" in block or b"\x1f" in block:
                return None
            cr += block.count(b"\r")
            crlf += block.count(b"\r\n") + (last == b"\r" and block[:1] == b"\n")
            lf += block.count(b"\n")
            last = block[-1:]
    if cr != crlf:
        return None
    unterminated = lf + 1 if last not in (b"", b"\n") else 0
    if not cr or crlf == lf:
        return ("\r\n" if cr else "\n"), unterminated
    import numpy as np

    ends, before = [], 0
    with open(file.path, "rb") as f:
        while block := f.read(1 << 24):
            a = np.frombuffer(block, np.uint8)
            nl = np.flatnonzero(a == 10)
            prev = a[np.maximum(nl - 1, 0)] == 13
            if len(nl) and nl[0] == 0:
                prev[0] = before == 13
            ends.append(prev)
            before = int(a[-1])
    return np.concatenate(ends), unterminated


def _open_text(path: Path, encoding: str):
    # newline="" keeps line ends inside quoted values for the csv module, and makes iteration
    # split lines exactly as csv's line_num counts them.
    return open(path, encoding=encoding, newline="")
