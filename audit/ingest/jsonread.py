"""Reading JSON exports: an array of objects, or JSON Lines (one object per line).

Numbers are kept as the text the file wrote (``parse_float=str``): ``17.50`` stays ``"17.50"``
and never passes through a binary float. A record's line is its row number: the element's
position in an array, or the physical line in JSON Lines (the same thing unless blank lines).

Since a JSON object may leave out a key whose value is null, a required column is missing only
when *no* record has it; that is checked after the file has been read.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator

from audit.contract import Table
from audit.errors import DataError, Diagnostic, Location
from audit.ingest.files import (
    InputFile,
    column_warnings,
    describe_encoding,
    match_columns,
    normalise_name,
)
from audit.ingest.readers import Chunk, Problem, text_columns


class _Object(dict):
    """A JSON object that remembers its keys as written, duplicates included."""

    __slots__ = ("pairs",)


def _object(pairs: list[tuple[str, object]]) -> _Object:
    obj = _Object(pairs)
    obj.pairs = pairs
    return obj


_DECODER = json.JSONDecoder(parse_float=str, parse_int=str, parse_constant=str,
                            object_pairs_hook=_object)
_WS = " \t\r\n"


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)  # an object or array where a value belongs


class JsonReader:
    def __init__(self, file: InputFile, table: Table, derived: frozenset[str], lines_format: bool,
                 chunk_rows: int):
        self.file = file
        self.table = table
        self.derived = derived
        self.lines_format = lines_format
        self.chunk_rows = chunk_rows
        self.rows_in = 0
        self.warnings: list[str] = []
        kind = "JSON Lines" if lines_format else "JSON array"
        self.dialect = f"{kind}, {describe_encoding(file.encoding)}"
        self._inputs = [c.name for c in table.columns if c.name not in derived]
        self._keys: dict[str, str | None] = {}  # key as written -> canonical column or None
        self._seen_keys: dict[str, None] = {}  # every key in file order (for messages)

    @classmethod
    def open(cls, file: InputFile, table: Table, derived: frozenset[str],
             chunk_rows: int) -> tuple[JsonReader | None, list[Diagnostic]]:
        with open(file.path, encoding=file.encoding) as f:
            head = f.read(4096).lstrip(_WS)
        if not head:
            return None, [Diagnostic(Location(file.label, 1), "the file is empty",
                                     "export the table as a JSON array or JSON Lines")]
        if head[0] not in "[{":
            return None, [Diagnostic(Location(file.label, 1),
                                     "not JSON: expected '[' (an array of objects) or '{' (JSON Lines)",
                                     "export the table as a JSON array or JSON Lines")]
        return cls(file, table, derived, head[0] == "{", chunk_rows), []

    # -- records -----------------------------------------------------------------------------

    def _records(self) -> Iterator[tuple[int, object, str]]:
        """(line, parsed value or a JSONDecodeError, raw text) per record."""
        with open(self.file.path, encoding=self.file.encoding) as f:
            if self.lines_format:
                for number, text in enumerate(f, 1):
                    if not text.strip(_WS):
                        continue
                    try:
                        value: object = _DECODER.decode(text.lstrip("\ufeff"))
                    except json.JSONDecodeError as exc:
                        value = exc
                    yield number, value, text.rstrip("\r\n")
                return
            text = f.read()
        yield from _array_elements(text, self.file.label)

    def chunks(self) -> Iterator[Chunk]:
        columns: list[list[str | None]] = [[] for _ in self._inputs]
        lines: list[int] = []
        problems: list[Problem] = []
        for line, value, raw in self._records():
            if isinstance(value, json.JSONDecodeError):
                problems.append(Problem(line, "parse_error", f"the record is not valid JSON "
                                        f"({value.msg} at column {value.colno})", raw))
                continue
            if not isinstance(value, dict):
                problems.append(Problem(line, "parse_error", "the record is not a JSON object "
                                        "(expected {\"column\": value, …})", raw))
                continue
            row = dict.fromkeys(self._inputs)
            given: dict[str, str] = {}
            clash = ""
            for key, v in getattr(value, "pairs", value.items()):
                name = self._canonical(key)
                if name is None:
                    continue
                text = _text(v)
                if name in given and row[name] != text and not clash:
                    clash = (f"the keys {json.dumps(given[name], ensure_ascii=False)} and "
                             f"{json.dumps(key, ensure_ascii=False)} both give column {name}, with "
                             "different values: the record is ambiguous (keep one key)")
                given.setdefault(name, key)
                row[name] = text
            if clash:
                problems.append(Problem(line, "parse_error", clash, raw))
                continue
            for i, name in enumerate(self._inputs):
                columns[i].append(row[name])
            lines.append(line)
            if len(lines) >= self.chunk_rows:
                yield self._chunk(columns, lines, problems)
                columns, lines, problems = [[] for _ in self._inputs], [], []
        if lines or problems:
            yield self._chunk(columns, lines, problems)
        self._check_columns()

    def _canonical(self, key: str) -> str | None:
        try:
            return self._keys[key]
        except KeyError:
            self._seen_keys[key] = None
            name = normalise_name(key)
            self._keys[key] = name if name in self._inputs else None
            return self._keys[key]

    def _chunk(self, columns: list[list[str | None]], lines: list[int],
               problems: list[Problem]) -> Chunk:
        self.rows_in += len(lines) + len(problems)
        return Chunk(text_columns(self._inputs, columns, lines), problems)

    def _check_columns(self) -> None:
        """A required column that no record has is a missing column (as a CSV header would be)."""
        if not self._seen_keys:
            return  # no records at all: nothing to check the keys of
        # records may spell a key differently ("Name", "name"): one spelling per column suffices
        spellings = {normalise_name(k): k for k in reversed(list(self._seen_keys))}
        keys = [k for k in self._seen_keys if spellings[normalise_name(k)] == k]
        match, problems = match_columns(self.table, keys, self.file.label,
                                        derived=self.derived, positional=False)
        if match is None:
            raise DataError(diagnostics=problems)
        self.match = match
        self.warnings.extend(column_warnings(self.file.name, match))

    def raw_records(self, lines: Collection[int]) -> dict[int, str]:
        wanted = set(lines)
        out: dict[int, str] = {}
        for line, _, raw in self._records():
            if line in wanted:
                out[line] = raw
                if len(out) == len(wanted):
                    break
        return out


def _array_elements(text: str, label: str) -> Iterator[tuple[int, object, str]]:
    """The elements of a JSON array with their ordinal and exact source text."""
    pos = len(text) - len(text.lstrip(_WS + "\ufeff")) + 1  # after '['
    number = 0
    while True:
        while pos < len(text) and text[pos] in _WS:
            pos += 1
        if pos < len(text) and text[pos] == "]" and number == 0:
            return
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise _bad_array(label, exc) from None
        number += 1
        yield number, value, text[pos:end]
        pos = end
        while pos < len(text) and text[pos] in _WS:
            pos += 1
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        if pos < len(text) and text[pos] == "]":
            return
        raise _bad_array(label, json.JSONDecodeError("expected ',' or ']' after an element", text, pos))


def _bad_array(label: str, exc: json.JSONDecodeError) -> DataError:
    return DataError(diagnostics=[Diagnostic(
        Location(label, exc.lineno, exc.colno),
        f"the JSON array is malformed: {exc.msg}",
        "fix the file, or export it as JSON Lines so that one bad record does not spoil the rest",
    )])
