"""Load a policy bundle: YAML files -> a validated :class:`~audit.policy.model.Bundle`.

A bundle is a directory of YAML files, each holding some of the top-level sections (metadata,
tiers, classification, billing, …). The loader reads them with ruamel's round-trip parser, which
keeps the line and column of every node, so that every problem can be reported where it is
written and every rule, price period or waiver carries a ``loc`` a finding can cite. A long list
of waivers may instead be a ``waivers.csv`` (:func:`_read_waiver_csv`): read by the C csv module
with the line and column of every cell, it loads in a fraction of the YAML parser's time.

Problems are collected, never raised one by one: a user fixing a policy sees all of them in one
run. That is why each section is validated on its own (a typo in ``billing`` does not hide one in
``classification``) and why the cross-checks (tier names, unique ids, price periods, conditions)
run on every entry that is valid on its own, even when its section has errors elsewhere. The loader never imports DuckDB: conditions are only parsed and checked
(:mod:`audit.policy.expr`); nothing in a policy is executed here.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import hashlib
import itertools
import re
import types
import typing
import zoneinfo
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from audit.errors import Diagnostic, DiagnosticCollector, Location, PolicyError, did_you_mean
from audit.policy.expr import (
    CONDITION_COLUMN_INFO,
    CONTRACT_VOCABULARIES,
    SIGNAL_FACTS,
    compile_condition,
)
from audit.policy.model import (
    FINDING_KINDS,
    WEEKDAYS,
    Billing,
    Bundle,
    Calendar,
    PricePeriod,
    Rule,
    Signal,
    Sla,
    SlaContract,
    SlaCredits,
    Tier,
    ValueMapping,
    Waiver,
    frame_minutes,
)

#: The top-level sections a policy file may hold (the Bundle fields read from YAML).
SECTIONS: dict[str, Any] = {
    n: f.annotation for n, f in Bundle.model_fields.items() if not f.exclude
}
REQUIRED_SECTIONS = tuple(n for n in SECTIONS if Bundle.model_fields[n].is_required())
POLICY_SUFFIXES = (".yaml", ".yml")
#: The bundle file that lists waivers as CSV rows (docs/policy.md, "Waivers as CSV").
WAIVER_CSV = "waivers.csv"
#: Extra columns a signal's condition may use (see docs/semantics.md).
SIGNAL_COLUMNS = ("policy_tier", *SIGNAL_FACTS)

# Limits (docs/policy.md): a policy is a document a person writes; these bound the time and
# memory ``check`` may take on a hostile or broken one, each with a clear exit-2 message.
MAX_FILE_BYTES = 2 * 1024 * 1024  # one YAML file (10,000 waivers take about 1.5 MB)
MAX_BUNDLE_BYTES = 8 * 1024 * 1024  # all YAML files of a bundle together
MAX_CSV_BYTES = 32 * 1024 * 1024  # waivers.csv (200,000 waivers of ~110 bytes each fit)
MAX_FILES = 200
MAX_DEPTH = 20  # nesting of mappings and lists (the deepest field is 4 levels down)
MAX_ALIAS_NODES = 10_000  # nodes YAML aliases (*name) may add when expanded
#: Entries per list section (a classification rule, a waiver …).
MAX_ENTRIES = {
    ("tiers",): 100,
    ("classification", "rules"): 2_000,
    ("billing", "prices"): 1_000,
    ("billing", "overrides"): 1_000,
    ("signals",): 2_000,
    ("waivers",): 200_000,  # more than ~13,000 only fit in waivers.csv (2 MiB per YAML file)
}

YamlPath = tuple[str | int, ...]


def load_policy(path: str | Path) -> Bundle:
    """Read, validate and cross-check a bundle directory (or one YAML file).

    Raises :class:`PolicyError` listing every problem found, each with ``file:line:col``.
    """
    return load_policy_sources(path)[0]


def load_policy_sources(path: str | Path) -> tuple[Bundle, PolicySources]:
    """:func:`load_policy`, and where each section is written (for ``support-audit check``)."""
    path = Path(path)
    out = DiagnosticCollector()
    root, files = _bundle_files(path)
    _check_sizes(path, files, out)
    docs = [_read(f, root, path, out) for f in files]
    sections = _sections(docs, out)
    for name in REQUIRED_SECTIONS:
        if name not in sections and not any(doc.broken for doc in docs):  # it may be in there
            out.add(
                Location(str(path)),
                f"missing required section '{name}'",
                f"add '{name}:' to one of the bundle's files",
            )
    for section in sections.values():
        section.validate(out)
    _Checks(sections, out).run()
    out.raise_if_any()
    bundle = Bundle(
        **{name: section.value for name, section in sections.items()},
        root=str(root.resolve()),
        file_hashes={doc.name: doc.sha256 for doc in docs},
        section_locs={name: section.doc.loc((name,)) for name, section in sections.items()},
    )
    return bundle, PolicySources({name: section.doc for name, section in sections.items()})


@dataclass(frozen=True)
class PolicySources:
    """Where the sections of a loaded bundle are written: positions for later checks."""

    docs: dict[str, _Doc]

    def at(self, section: str, *path: str | int, key: bool = False) -> Location:
        """``file:line:col`` (the file as the user named it) of the node at ``section.path``."""
        return self.docs[section].at((section, *path), key=key)

    def condition(self, section: str, *path: str | int) -> tuple[Location, list[tuple[int, int]]]:
        """Where a condition's text starts, and the (line, col) of each of its characters."""
        doc = self.docs[section]
        node: Any = doc.data
        for step in (section, *path):
            node = node[step]
        line, col = _position(doc.data, (section, *path), key=False)
        return Location(doc.shown, line + 1, col + 1), _scalar_positions(doc, line, col, str(node))


# --------------------------------------------------------------------------------------------
# Files


@dataclass
class _Doc:
    """One YAML file of the bundle."""

    name: str  # relative to the bundle directory: what the model's ``loc`` cites
    shown: str  # as the user named it: what error messages cite
    sha256: str = ""
    text: str = ""
    data: Any = None  # the round-trip document: CommentedMap with ``.lc`` positions
    broken: bool = False  # unreadable: its sections are unknown

    def at(self, path: YamlPath, *, key: bool = False) -> Location:
        """Where ``path`` is, for an error message."""
        line, col = _position(self.data, path, key=key)
        return Location(self.shown, line + 1, col + 1)

    def loc(self, path: YamlPath) -> Location:
        """Where the item at ``path`` is, for the model (its key, or its list entry)."""
        line, col = _position(self.data, path, key=True)
        return Location(self.name, line + 1, col + 1)

    @cached_property
    def line_starts(self) -> list[int]:
        return [0, *itertools.accumulate(len(line) + 1 for line in self.text.split("\n"))]


def _bundle_files(path: Path) -> tuple[Path, list[Path]]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir()
                       if (p.suffix in POLICY_SUFFIXES or p.name == WAIVER_CSV) and p.is_file())
        if any(p.suffix in POLICY_SUFFIXES for p in files):
            return path, files
        problem = "no policy files (*.yaml, *.yml) in this directory"
    elif path.is_file():
        return path.parent, [path]
    else:
        problem = "no such file or directory"
    hint = "give the policy bundle directory or one YAML file"
    raise PolicyError(diagnostics=[Diagnostic(Location(str(path)), problem, hint)])


def _check_sizes(given: Path, files: list[Path], out: DiagnosticCollector) -> None:
    """Refuse bundles too large to be a policy before reading them (exit 2)."""
    if len(files) > MAX_FILES:
        raise PolicyError(diagnostics=[Diagnostic(
            Location(str(given)), f"{len(files)} policy files (at most {MAX_FILES})",
            "a bundle is a handful of YAML files; is this the right directory?")])
    total = 0
    for file in files:
        try:
            total += 0 if file.name == WAIVER_CSV else file.stat().st_size
        except OSError:
            continue  # reported when it is read
    if total > MAX_BUNDLE_BYTES:
        raise PolicyError(diagnostics=[Diagnostic(
            Location(str(given)), f"the bundle's YAML files hold {total:,} bytes (at most "
                                  f"{MAX_BUNDLE_BYTES:,})",
            f"shorten the policy; list many waivers in {WAIVER_CSV} (docs/policy.md)")])


def _read(file: Path, root: Path, given: Path, out: DiagnosticCollector) -> _Doc:
    doc = _Doc(str(file.relative_to(root)), str(given if given.is_file() else given / file.name))
    is_csv = file.name == WAIVER_CSV
    limit = MAX_CSV_BYTES if is_csv else MAX_FILE_BYTES
    try:
        if (size := file.stat().st_size) > limit:
            hint = ("split the waivers over several bundles, or remove expired ones" if is_csv else
                    f"split it into several files of the bundle, or remove padding; list many "
                    f"waivers in {WAIVER_CSV} (up to {MAX_CSV_BYTES:,} bytes, docs/policy.md)")
            out.add(Location(doc.shown), f"the file is {size:,} bytes long (at most "
                                         f"{limit:,} per {'waiver list' if is_csv else 'policy file'})",
                    hint)
            doc.broken = True
            return doc
        raw = file.read_bytes()
        doc.text = raw.decode("utf-8-sig")
    except OSError as error:
        out.add(Location(doc.shown), f"cannot read the file: {error.strerror}")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        out.add(Location(doc.shown, line), "the file is not UTF-8 text", "save it as UTF-8")
    else:
        doc.sha256 = hashlib.sha256(raw).hexdigest()
        doc.data = _read_waiver_csv(doc, out) if is_csv else _parse_yaml(doc, out)
    if doc.data is not None and not isinstance(doc.data, (CommentedMap, _Cells)):
        out.add(
            Location(doc.shown, 1, 1),
            "a policy file is a mapping of sections",
            "start with a section name, e.g. 'tiers:'",
        )
        doc.data = None
        doc.broken = True
    return doc


class _TooBig(Exception):
    """The YAML node graph is over a limit; ``mark`` is where."""

    def __init__(self, message: str, hint: str, mark: Any):
        super().__init__(message)
        self.message, self.hint, self.mark = message, hint, mark


class _Constructor(RoundTripConstructor):
    """ruamel's round-trip constructor, hardened: the node graph is measured before anything is
    built (nesting depth, what aliases expand to), and a timestamp that is no date (2026-02-30,
    year 0) stays text, so the model reports it at its line instead of the loader crashing."""

    def construct_document(self, node: Any) -> Any:
        _measure(node)
        return super().construct_document(node)

    def construct_yaml_timestamp(self, node: Any, values: Any = None) -> Any:
        try:
            return super().construct_yaml_timestamp(node, values)
        except (ValueError, OverflowError):
            return str(node.value)


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_timestamp)


def _measure(root: Any) -> None:
    """Depth and expanded size of a composed YAML graph, without recursion and in linear time:
    an alias is the same node object reached again, so each node's expanded size is computed
    once (memo by identity); a nine-level alias bomb is refused before it is built."""
    sizes: dict[int, int] = {}
    seen_once: set[int] = set()
    first_alias: Any = None
    stack: list[tuple[Any, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            continue
        if key in sizes or key in seen_once:
            if first_alias is None:
                first_alias = node
            continue  # an alias of a node measured (or being measured) already
        if depth > MAX_DEPTH:
            raise _TooBig(f"the YAML nests more than {MAX_DEPTH} levels deep",
                          "a policy's deepest field is 4 levels down; flatten the document",
                          node.start_mark)
        seen_once.add(key)
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children)
    expanded, distinct = sizes.get(id(root), 1), len(sizes)
    if expanded - distinct > MAX_ALIAS_NODES:
        mark = (first_alias or root).start_mark
        raise _TooBig(f"YAML aliases expand this document to {expanded:,} nodes "
                      f"(aliases may add at most {MAX_ALIAS_NODES:,})",
                      "write the values out instead of repeating them with *aliases", mark)


def _children(node: Any) -> list[Any]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


_FLOW = re.compile(r"[\[\]{}'\"\n#]")
#: Flow nesting refused before parsing: the YAML parser recurses over it (slowly, then fails).
MAX_FLOW_PRESCAN = 200


def _deep_at(text: str, limit: int = MAX_DEPTH) -> tuple[int, int] | None:
    """0-based (line, col) where ``[``/``{`` nesting first exceeds ``limit``, or None
    (approximately: quoted strings are skipped; only the special characters are visited)."""
    depth = line = line_start = 0
    quote = ""
    comment = False
    for found in _FLOW.finditer(text):
        ch, at = found.group(), found.start()
        if ch == "\n":
            line, line_start, comment = line + 1, found.end(), False
            if quote == "'":  # a single-quoted scalar may span lines; a broken one must not
                continue
            continue
        if comment:
            continue
        if quote:
            quote = "" if ch == quote else quote
        elif ch == "#":
            comment = at == line_start or text[at - 1] in " \t"
        elif ch in "'\"":
            before = text[line_start:at].rstrip(" \t")
            if not before or before[-1] in ":-[{,?":  # a quoted scalar starts here
                quote = ch
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return line, at - line_start
        else:
            depth -= 1
    return None


def _mark(line: int, column: int) -> Any:
    return types.SimpleNamespace(line=line, column=column)


def _new_yaml(constructor: type[_Constructor] | None = None, **flags: Any) -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = constructor or _Constructor
    for name, value in flags.items():
        setattr(yaml, name, value)
    return yaml


def _parse_yaml(doc: _Doc, out: DiagnosticCollector,
                constructor: type[_Constructor] | None = None) -> Any:
    """The round-trip document (None for an empty file); marks ``doc`` broken when unreadable.

    ``constructor``: a subclass of the hardened constructor (the policy tests read dates and
    decimals as text)."""
    try:
        return _parse_yaml_checked(doc, out, constructor)
    except _TooBig as error:
        where = Location(doc.shown, error.mark.line + 1, error.mark.column + 1)
        out.add(where, error.message, error.hint)
    except RecursionError:  # nested so deeply that the YAML parser itself gave up
        line, col = _deep_at(doc.text) or (0, 0)
        out.add(Location(doc.shown, line + 1, col + 1),
                f"the YAML nests more than {MAX_DEPTH} levels deep",
                "a policy's deepest field is 4 levels down; flatten the document")
    doc.broken = True
    return None


def _parse_yaml_checked(doc: _Doc, out: DiagnosticCollector,
                        constructor: type[_Constructor] | None) -> Any:
    if doc.text.count("[") + doc.text.count("{") > MAX_FLOW_PRESCAN and (
        deep := _deep_at(doc.text, MAX_FLOW_PRESCAN)
    ):
        raise _TooBig(f"the YAML nests more than {MAX_DEPTH} levels deep",
                      "a policy's deepest field is 4 levels down; flatten the document",
                      _mark(*(_deep_at(doc.text) or deep)))
    yaml = _new_yaml(constructor)
    try:
        return yaml.load(doc.text)
    except DuplicateKeyError:
        for key, first, again in _duplicate_keys(yaml.compose(doc.text)):
            out.add(
                Location(doc.shown, again.line + 1, again.column + 1),
                f"duplicate key '{key}'",
                f"it is already set at line {first.line + 1}; keep one",
            )
        lenient = _new_yaml(constructor, allow_duplicate_keys=True)  # go on: check the rest too
        return lenient.load(doc.text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        hint = ""
        if error.context and error.context_mark and error.context_mark is not mark:
            cm = error.context_mark
            hint = f"{error.context} at line {cm.line + 1}, column {cm.column + 1}"
        if "\\t" in (error.problem or "") or "\t" in (error.problem or ""):
            hint = "indent with spaces, not tabs"
        elif "<block end>" in (error.problem or ""):
            hint = "; ".join(filter(None, ("check the indentation of this line", hint)))
        where = Location(doc.shown, mark.line + 1, mark.column + 1) if mark else Location(doc.shown)
        out.add(where, f"YAML syntax error: {error.problem or error.context}", hint)
    except YAMLError as error:
        out.add(Location(doc.shown), f"YAML syntax error: {error}")
    doc.broken = True
    return None


def _duplicate_keys(node: Node | None) -> list[tuple[str, Any, Any]]:
    """(key, first mark, repeated mark) for every key set twice in one mapping, at any depth.

    Walked without recursion, each node once (an alias reaches a node again)."""
    found: list[tuple[str, Any, Any]] = []
    stack, seen = [node], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            first: dict[str, Any] = {}
            for key, _ in node.value:
                if isinstance(key, ScalarNode):
                    if key.value in first:
                        found.append((key.value, first[key.value], key.start_mark))
                    first.setdefault(key.value, key.start_mark)
            stack.extend(value for _, value in reversed(node.value))
        elif isinstance(node, SequenceNode):
            stack.extend(reversed(node.value))
    return sorted(found, key=lambda f: (f[2].line, f[2].column))


# --------------------------------------------------------------------------------------------
# Waivers as CSV

#: The columns of waivers.csv: the Waiver fields, its scope's fields flattened.
WAIVER_CSV_COLUMNS = ("id", "ticket", "customer", "kind", "month", "reason", "approved_by",
                      "approved_on", "expires_on")
_SCOPE_COLUMNS = ("ticket", "customer", "kind", "month")
#: One cell of a CSV record (quoted with doubled quotes inside, or bare), for cell positions.
_CELL = {d: re.compile(rf'"(?:[^"]|"")*"|[^{d}"\r\n]*') for d in ",;"}


class _CellPositions:
    """Where the cells of one CSV row are: ruamel's ``lc`` interface (0-based line, column).

    Found only when a message needs one (the row's own position needs no scan)."""

    __slots__ = ("lines", "start", "end", "delimiter", "columns", "cells")

    def __init__(self, lines: list[str], start: int, end: int, delimiter: str, columns: list[str]):
        self.lines, self.start, self.end = lines, start, end
        self.delimiter, self.columns = delimiter, columns
        self.cells: dict[str, tuple[int, int]] | None = None

    def key(self, name: str) -> tuple[int, int]:
        if name not in self.columns:
            return self.start, 0
        if self.cells is None:
            starts = _cell_starts(self.lines, self.start, self.end, self.delimiter)
            self.cells = dict(zip(self.columns, starts, strict=False))
        return self.cells.get(name) or (self.start, 0)

    value = key


class _RowPositions:
    """Where each row of a CSV list starts (``lc.item``), and the section key (the header)."""

    __slots__ = ("lines",)

    def __init__(self, lines: list[int]):
        self.lines = lines

    def item(self, i: int) -> tuple[int, int]:
        return self.lines[i], 0


class _Cells(dict):
    """A mapping read from CSV that knows where its cells are, like ruamel's CommentedMap."""

    __slots__ = ("lc",)


class _Rows(list):
    """A list read from CSV that knows where its rows start, like ruamel's CommentedSeq."""

    __slots__ = ("lc",)


def _read_waiver_csv(doc: _Doc, out: DiagnosticCollector) -> _Cells | None:
    """``{"waivers": [...]}`` from waivers.csv: one waiver a row, the header naming the columns
    (any order, ``,`` or ``;``), empty cells left out, ``#`` lines skipped. Every row and cell
    keeps its line and column, so the model's messages point into the CSV like into YAML."""
    lines = doc.text.splitlines(keepends=True)
    header_at = next((i for i, line in enumerate(lines)
                      if line.strip() and not line.lstrip().startswith("#")), None)
    if header_at is None:
        return None  # an empty file: no waivers
    first = lines[header_at]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(lines[header_at:], delimiter=delimiter, strict=True)
    rows, row_lines = _Rows(), []
    try:
        header = next(reader)
        columns = _csv_header(doc, header, header_at, delimiter, out)
        if columns is None:
            doc.broken = True
            return None
        end = header_at + reader.line_num
        for record in reader:
            start, end = end, header_at + reader.line_num
            if not any(record) or record[0].lstrip().startswith("#"):
                continue
            if len(record) > len(columns):
                line, col = _cell_starts(lines, start, end, delimiter)[len(columns)]
                out.add(Location(doc.shown, line + 1, col + 1),
                        f"{len(record)} values in a row of {len(columns)} columns",
                        "quote values that contain the delimiter")
                continue
            waiver, scope = _Cells(), _Cells()
            for name, cell in zip(columns, record, strict=False):
                if value := cell.strip():
                    (scope if name in _SCOPE_COLUMNS else waiver)[name] = value
            waiver.lc = scope.lc = _CellPositions(lines, start, end, delimiter, columns)
            waiver["scope"] = scope
            rows.append(waiver)
            row_lines.append(start)
    except csv.Error as error:
        line = header_at + reader.line_num
        out.add(Location(doc.shown, line), f"CSV syntax error: {error}",
                'a value with a quote or a line break is written in double quotes, "" for a quote')
        doc.broken = True
        return None
    rows.lc = _RowPositions(row_lines)
    data = _Cells(waivers=rows)
    data.lc = _CellPositions(lines, header_at, header_at + 1, delimiter, [])
    return data


def _csv_header(doc: _Doc, header: list[str], at: int, delimiter: str,
                out: DiagnosticCollector) -> list[str] | None:
    """The column names, or None (reported) when one is unknown, repeated or missing."""
    columns = [c.strip().lower() for c in header]
    starts = list(itertools.accumulate((len(c) + 1 for c in header[:-1]), initial=0))
    ok = True
    for i, name in enumerate(columns):
        where = Location(doc.shown, at + 1, starts[i] + 1)
        if name not in WAIVER_CSV_COLUMNS:
            hint = did_you_mean(name, WAIVER_CSV_COLUMNS) or f"columns: {', '.join(WAIVER_CSV_COLUMNS)}"
            out.add(where, f"unknown column '{header[i].strip()}' in the waiver list", hint)
            ok = False
        elif name in columns[:i]:
            out.add(where, f"column '{name}' is named twice", "keep one")
            ok = False
    required = [c for c in WAIVER_CSV_COLUMNS if c not in _SCOPE_COLUMNS and c not in columns]
    if required:
        out.add(Location(doc.shown, at + 1, 1), f"the waiver list has no column {', '.join(map(repr, required))}",
                f"the header names the columns, e.g. {delimiter.join(WAIVER_CSV_COLUMNS)}")
        ok = False
    return columns if ok else None


def _cell_starts(lines: list[str], start: int, end: int, delimiter: str) -> list[tuple[int, int]]:
    """0-based (line, col) of each cell of the record on ``lines[start:end]`` (quotes honoured)."""
    text, cell = "".join(lines[start:end]), _CELL[delimiter]
    found, pos = [], 0
    while True:
        before = text.count("\n", 0, pos)
        col = pos - (text.rfind("\n", 0, pos) + 1)
        found.append((start + before, col))
        pos = cell.match(text, pos).end()
        if pos >= len(text) or text[pos] != delimiter:
            return found
        pos += 1


def _position(data: Any, path: YamlPath, *, key: bool) -> tuple[int, int]:
    """0-based (line, col) of the node at ``path``, or of the deepest part of it that exists.

    A node reached through a mapping is located at its key when ``key`` is set or when it is a
    mapping or list itself (``rules:`` reads better than the first rule); a scalar at its value.
    """
    line = col = 0
    node = data
    for step in path:
        if isinstance(node, (CommentedMap, _Cells)) and step in node:
            child = node[step]
            at_key = key or isinstance(child, (CommentedMap, CommentedSeq, _Cells, _Rows))
            pos = _lc(node, "key" if at_key else "value", step)
        elif isinstance(node, (CommentedSeq, _Rows)) and isinstance(step, int) and 0 <= step < len(node):
            child = node[step]
            pos = _lc(node, "item", step)
        else:
            break
        line, col = pos or (line, col)
        node = child
    return line, col


def _lc(node: Any, kind: str, step: Any) -> tuple[int, int] | None:
    try:
        return getattr(node.lc, kind)(step)
    except (KeyError, IndexError, TypeError):  # e.g. a key merged in with '<<:' has no position
        return None


def _scalar_positions(doc: _Doc, line: int, col: int, value: str) -> list[tuple[int, int]]:
    """1-based (line, col) in the file of each character of a string scalar starting at (line, col).

    YAML folds lines, strips indentation and unescapes quotes, so the value is aligned with the
    source greedily: a blank matches the next blank (a folded line break is one), any other
    character the next equal character.
    """
    src, i = doc.text, doc.line_starts[line] + col
    out: list[tuple[int, int]] = []
    for ch in value:
        while i < len(src) and not (src[i] == ch or (ch.isspace() and src[i].isspace())):
            i += 1
        if i >= len(src):
            i = doc.line_starts[line] + col  # not found (an escape sequence): point at the start
        row = _row(doc.line_starts, i)
        out.append((row + 1, i - doc.line_starts[row] + 1))
        i += 1
    return out


def _row(starts: list[int], offset: int) -> int:
    return bisect.bisect_right(starts, offset) - 1


# --------------------------------------------------------------------------------------------
# Sections and their validation


@dataclass
class _Section:
    """One top-level section: where it is, its plain data, and its model once it validated."""

    name: str
    doc: _Doc
    data: Any = None  # plain Python, with ``loc`` set on every item
    value: Any = None  # the validated model; None while (or when) it has errors

    def validate(self, out: DiagnosticCollector) -> None:
        """Validate, reporting every problem pydantic finds at the YAML node it is about."""
        self.data = _plain(self.doc.data[self.name])
        for path, limit in MAX_ENTRIES.items():
            if path[0] != self.name:
                continue
            entries: Any = self.data
            for step in path[1:]:
                entries = entries.get(step) if isinstance(entries, dict) else None
            if isinstance(entries, list) and len(entries) > limit:
                out.add(self.doc.at(path, key=True),
                        f"{len(entries):,} entries in '{'.'.join(path)}' (at most {limit:,})",
                        "split the policy, or merge entries (a waiver scope can name a customer "
                        "or a month instead of single tickets)")
                return
        _attach_locs(SECTIONS[self.name], self.data, (self.name,), self.doc, out)
        try:
            self.value = _adapter(self.name).validate_python(self.data)
        except ValidationError as error:
            for problem in error.errors(include_url=False):
                _report(problem, self.name, self.doc, out)


def _sections(docs: list[_Doc], out: DiagnosticCollector) -> dict[str, _Section]:
    """Which file defines which section; unknown and twice-defined sections are reported."""
    found: dict[str, _Section] = {}
    for doc in docs:
        for name in doc.data or ():
            where = doc.at((name,), key=True)
            if name not in SECTIONS:
                hint = did_you_mean(str(name), SECTIONS) or f"sections are: {', '.join(SECTIONS)}"
                out.add(where, f"unknown section '{name}'", hint)
            elif doc.data[name] is None and name not in REQUIRED_SECTIONS:
                continue  # 'waivers:' with every entry commented out: the default (none)
            elif name in found:
                other = found[name].doc.at((name,), key=True)
                out.add(
                    where,
                    f"section '{name}' is defined twice",
                    f"it is already defined at {other}; keep one",
                )
            else:
                found[name] = _Section(name, doc)
    return found


@cache
def _adapter(section: str) -> TypeAdapter:
    return TypeAdapter(SECTIONS[section])


def _plain(value: Any) -> Any:
    """ruamel's round-trip types -> plain Python (dict, list, str, int, float, bool, date)."""
    if isinstance(value, _Rows):  # waivers.csv: text cells already, one level of nesting
        return [{**row, "scope": dict(row["scope"])} for row in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    for plain in (bool, int, float, str):
        if isinstance(value, plain):
            return plain(value)
    return value


def _attach_locs(tp: Any, value: Any, path: YamlPath, doc: _Doc, out: DiagnosticCollector) -> None:
    """Set ``loc`` on every mapping that becomes a model with a ``loc`` field, following the types."""
    tp = _unoptional(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(value, dict):
        if "loc" in tp.model_fields:
            if "loc" in value:
                out.add(doc.at((*path, "loc"), key=True), "unknown field 'loc'")
            value["loc"] = doc.loc(path)
        for key, annotation in _model_fields_with_models(tp):
            if key in value:
                _attach_locs(annotation, value[key], (*path, key), doc, out)
    elif origin is list and isinstance(value, list):
        for i, item in enumerate(value):
            _attach_locs(args[0], item, (*path, i), doc, out)
    elif origin is dict and isinstance(value, dict):
        for k, item in value.items():
            _attach_locs(args[1], item, (*path, k), doc, out)


@cache
def _model_fields_with_models(model: type[BaseModel]) -> list[tuple[str, Any]]:
    """(YAML key, annotation) of the fields of ``model`` that may hold a model (which gets a
    ``loc``): the only ones :func:`_attach_locs` has to follow."""
    return [(info.alias or name, info.annotation) for name, info in model.model_fields.items()
            if (info.alias or name) != "loc" and _holds_models(info.annotation)]


def _holds_models(tp: Any) -> bool:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return True
    return any(_holds_models(arg) for arg in typing.get_args(tp))


def _unoptional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return inner[0] if len(inner) == 1 else tp
    return tp


def _fields_at(tp: Any, path: YamlPath) -> list[str]:
    """The YAML keys the model at ``path`` (inside a section of type ``tp``) accepts."""
    for step in path:
        tp = _unoptional(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = next((f for n, f in tp.model_fields.items() if step in (n, f.alias)), None)
            tp = info.annotation if info else None
        else:
            args = typing.get_args(tp)
            tp = args[-1] if args else None
    tp = _unoptional(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items() if not f.exclude]
    return []


_EXPECTED = {
    "string_type": ("expected text", "put the value in quotes"),
    "bool_type": ("expected true or false", ""),
    "bool_parsing": ("expected true or false", ""),
    "int_type": ("expected a whole number", ""),
    "int_parsing": ("expected a whole number", ""),
    "int_from_float": ("expected a whole number", ""),
    "decimal_type": ("expected a decimal number", 'write it in quotes, e.g. "17.50"'),
    "decimal_parsing": ("expected a decimal number", 'write it in quotes, e.g. "17.50"'),
    "date_type": ("expected a date", "write it like 2026-01-31"),
    "date_parsing": ("expected a date", "write it like 2026-01-31"),
    "date_from_datetime_parsing": ("expected a date", "write it like 2026-01-31"),
    "date_from_datetime_inexact": ("expected a date without a time", "write it like 2026-01-31"),
    "list_type": ("expected a list", "write one entry per line, each starting with '- '"),
    "dict_type": ("expected a mapping", "write 'key: value' lines"),
    "model_type": ("expected a mapping", "write 'key: value' lines"),
}


def _report(problem: dict[str, Any], section: str, doc: _Doc, out: DiagnosticCollector) -> None:
    """Turn one pydantic error into a diagnostic at the YAML node it is about."""
    kind, steps, ctx = problem["type"], tuple(problem["loc"]), problem.get("ctx") or {}
    if steps and steps[-1] == "[key]":  # a mapping key of the wrong type
        steps = steps[:-1]
    path = (section, *steps)
    field = steps[-1] if steps else section
    name = f"{field}: " if isinstance(field, str) else ""  # a list entry needs no name
    if kind == "missing":
        out.add(doc.at(path[:-1]), f"missing required field '{steps[-1]}'", "")
        return
    if kind == "extra_forbidden":
        choices = _fields_at(SECTIONS[section], steps[:-1])
        hint = did_you_mean(str(steps[-1]), choices) or f"allowed fields: {', '.join(choices)}"
        out.add(doc.at(path, key=True), f"unknown field '{steps[-1]}'", hint)
        return
    given = problem.get("input")
    if kind in _EXPECTED:
        expected, hint = _EXPECTED[kind]
        message = f"{name}{expected}, got {_shown(given)}"
    elif kind == "literal_error":
        message = f"{name}{_shown(given)} is not allowed"
        options = [o.strip(" '") for o in ctx.get("expected", "").replace(" or ", ", ").split(",")]
        hint = did_you_mean(str(given), options) or f"use {ctx.get('expected', '')}"
    elif kind == "string_pattern_mismatch":
        message = f"{name}{_shown(given)} does not match the pattern {ctx.get('pattern')}"
        hint = "use lower-case letters and digits, no spaces" if field == "id" else ""
    elif kind == "value_error":
        message, hint = f"{name}{ctx.get('error', problem['msg'])}", ""
    else:
        message, hint = f"{name}{problem['msg'][:1].lower()}{problem['msg'][1:]}", ""
    out.add(doc.at(path), message, hint)


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value) if isinstance(value, str) else str(value)


# --------------------------------------------------------------------------------------------
# Cross-checks: what one field cannot know alone


@dataclass
class _Checks:
    """Checks across fields and sections, run on every part that validated."""

    sections: dict[str, _Section]
    out: DiagnosticCollector
    tier_ids: list[str] | None = field(default=None, init=False)

    def at(self, section: str, *path: str | int, key: bool = False) -> Location:
        return self.sections[section].doc.at((section, *path), key=key)

    def value(self, section: str) -> Any:
        """The validated section, or None when it is absent or has errors."""
        return self.sections[section].value if section in self.sections else None

    def raw(self, section: str) -> dict:
        """The section's plain data when it is a mapping (to check a field of an invalid section)."""
        data = self.sections[section].data if section in self.sections else None
        return data if isinstance(data, dict) else {}

    def items(self, section: str, model: type[BaseModel], *path: str) -> list[tuple[int, Any]]:
        """(index in the YAML list, validated item) for the list at ``path`` of ``section``.

        When the section has errors, its entries that are valid on their own are returned, so
        that a wrong field in one rule does not hide an unknown column in another.
        """
        if section not in self.sections:
            return []
        sec = self.sections[section]
        if sec.value is not None:
            found = sec.value
            for step in path:
                found = getattr(found, step)
            return list(enumerate(found))
        raw = sec.data
        for step in path:
            raw = raw.get(step) if isinstance(raw, dict) else None
        valid = []
        for i, entry in enumerate(raw if isinstance(raw, list) else ()):
            try:
                valid.append((i, model.model_validate(entry)))
            except ValidationError:
                pass  # reported when the section was validated
        return valid

    def run(self) -> None:
        if isinstance(timezone := self.raw("settings").get("timezone"), str):
            self.timezone(timezone)  # checked even when another setting is wrong
        tiers = self.items("tiers", Tier)
        self.unique("tiers", [(i, t.id) for i, t in tiers], "tier", lambda i: (i, "id"))
        if self.value("tiers") is not None:  # a partial list would make known tiers look unknown
            self.tier_ids = [t.id for _, t in tiers]
        self.classification()
        if (billing := self.value("billing")) is not None:
            self.billing(billing)
        for kind in self.raw("findings"):
            if kind not in FINDING_KINDS:
                hint = (
                    did_you_mean(str(kind), FINDING_KINDS)
                    or f"kinds are: {', '.join(FINDING_KINDS)}"
                )
                self.out.add(
                    self.at("findings", kind, key=True), f"unknown finding kind '{kind}'", hint
                )
        self.signals()
        self.waivers()
        self.vocabularies()
        self.mappings()
        if "sla" in self.sections:
            self.sla()

    def mappings(self) -> None:
        """Value maps name a real column and adapter; tier and priority values are known ones."""
        from audit.contract import PRIORITIES, TABLES

        adapters = ("zammad", "znuny", "jira", "freshdesk", "kimai", "redmine", "generic")
        for i, m in self.items("mappings", ValueMapping):
            table, _, column = m.column.partition(".")
            if table not in TABLES:
                hint = did_you_mean(table, list(TABLES)) or f"tables: {', '.join(TABLES)}"
                self.out.add(self.at("mappings", i, "column"), f"unknown table '{table}'", hint)
                continue
            if column not in TABLES[table].column_names:
                hint = did_you_mean(column, TABLES[table].column_names) or f"{table} has: {', '.join(TABLES[table].column_names)}"
                self.out.add(self.at("mappings", i, "column"), f"{table} has no column '{column}'", hint)
            if m.source is not None and m.source not in adapters:
                hint = did_you_mean(m.source, adapters) or f"adapters: {', '.join(adapters)}"
                self.out.add(self.at("mappings", i, "source"), f"unknown adapter '{m.source}'", hint)
            allowed = (self.tier_ids if m.column == "tickets.tier" else
                       PRIORITIES if m.column == "tickets.priority" else None)
            if allowed is None:
                continue
            for key, value in [*m.values.items(), *([("default", m.default)] if m.default else [])]:
                if value not in allowed:
                    where = self.at("mappings", i, "default") if key == "default" and m.default == value \
                        else self.at("mappings", i, "values", key)
                    hint = did_you_mean(value, allowed) or f"one of: {', '.join(allowed)}"
                    self.out.add(where, f"'{value}' is not a value of {m.column}", hint)

    def unique(
        self,
        section: str,
        ids: list[tuple[int, str]],
        what: str,
        path: typing.Callable[[int], YamlPath],
    ) -> None:
        """Each id of ``ids`` ((index in the YAML list, id)) is used once (positions are looked
        up for the duplicates only: 60,000 waivers cost no 60,000 lookups)."""
        first: dict[str, int] = {}
        for i, ident in ids:
            if ident in first:
                self.out.add(
                    self.at(section, *path(i)),
                    f"duplicate {what} '{ident}'",
                    f"it is already used at line {self.at(section, *path(first[ident])).line}",
                )
            first.setdefault(ident, i)

    def tier_ref(self, tier: str, where: Location) -> None:
        if self.tier_ids is not None and tier not in self.tier_ids:
            hint = (
                did_you_mean(tier, self.tier_ids) or f"declared tiers: {', '.join(self.tier_ids)}"
            )
            self.out.add(where, f"unknown tier '{tier}'", hint)

    def condition(
        self, section: str, path: YamlPath, text: str, extra: tuple[str, ...] = ()
    ) -> None:
        doc = self.sections[section].doc
        line, col = _position(doc.data, (section, *path), key=False)
        try:
            compile_condition(
                text,
                loc=Location(doc.shown, line + 1, col + 1),
                extra_columns=extra,
                positions=_scalar_positions(doc, line, col, text),
            )
        except PolicyError as error:
            self.out.diagnostics.extend(error.diagnostics)

    def timezone(self, name: str) -> None:
        """Python's zoneinfo and DuckDB's ICU must both know the zone (ICU lacks some tzdata
        files, e.g. posixrules, localtime, right/UTC), written as ICU writes it."""
        from audit.policy.duckrules import timezone_names

        icu = timezone_names()
        try:
            zoneinfo.ZoneInfo(name)
            known = name in icu
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            known = False
        if not known:
            hint = did_you_mean(name, icu) or "use an IANA name such as Europe/Berlin"
            self.out.add(self.at("settings", "timezone"), f"unknown time zone '{name}'", hint)

    def classification(self) -> None:
        rules = self.items("classification", Rule, "rules")
        self.unique(
            "classification", [(i, r.id) for i, r in rules], "rule id", lambda i: ("rules", i, "id")
        )
        for i, rule in rules:
            self.tier_ref(rule.tier, self.at("classification", "rules", i, "tier"))
            self.condition("classification", ("rules", i, "when"), rule.when)
        if isinstance(default := self.raw("classification").get("default_tier"), str):
            self.tier_ref(default, self.at("classification", "default_tier"))

    def billing(self, billing: Billing) -> None:
        self.price_list(billing.prices, ("prices",))
        self.unique(
            "billing",
            [(i, o.contract) for i, o in enumerate(billing.overrides)],
            "price override for contract",
            lambda i: ("overrides", i, "contract"),
        )
        for i, override in enumerate(billing.overrides):
            if not override.prices:
                self.out.add(
                    self.at("billing", "overrides", i, "prices"),
                    "an override needs at least one price period",
                )
            self.price_list(override.prices, ("overrides", i, "prices"))
        if (tiers := self.value("tiers")) is None:
            return
        billable = [t.id for t in tiers if t.billable]
        if billing.prices and not billable:
            self.out.add(
                self.at("billing", "prices"),
                "prices are set but no tier is billable",
                "set 'billable: true' on the tier that is invoiced",
            )
        if billable and not billing.prices:
            self.out.add(
                self.at("billing", "prices"),
                f"tier '{billable[0]}' is billable but there is no price",
                'add a period, e.g. - {from: 2026-01-01, unit_price: "17.50"}',
            )

    def price_list(self, periods: list[PricePeriod], path: YamlPath) -> None:
        """Periods sorted by start must neither overlap nor leave a gap (docs/semantics.md)."""
        order = sorted(range(len(periods)), key=lambda i: periods[i].valid_from)
        for a, b in itertools.pairwise(order):
            pa, pb = periods[a], periods[b]
            la, lb = self.at("billing", *path, a), self.at("billing", *path, b)
            if pa.valid_to is None or pa.valid_to >= pb.valid_from:
                self.out.add(
                    lb,
                    f"price periods overlap: line {la.line} ({_period(pa)}) and line {lb.line} ({_period(pb)})",
                    "let each period end the day before the next one starts",
                )
            elif pa.valid_to + dt.timedelta(days=1) < pb.valid_from:
                gap = f"{pa.valid_to + dt.timedelta(days=1)} to {pb.valid_from - dt.timedelta(days=1)}"
                self.out.add(
                    lb,
                    f"no price from {gap}: gap between the periods at line {la.line} and line {lb.line}",
                    "let each period start the day after the previous one ends",
                )

    def signals(self) -> None:
        signals = self.items("signals", Signal)
        self.unique("signals", [(i, s.id) for i, s in signals], "signal id", lambda i: (i, "id"))
        for i, signal in signals:
            if signal.kind in FINDING_KINDS:
                self.out.add(
                    self.at("signals", i, "kind"),
                    f"signal kind '{signal.kind}' is a built-in finding kind",
                    "give the signal its own kind, e.g. suspected_misclassification",
                )
            self.condition("signals", (i, "when"), signal.when, SIGNAL_COLUMNS)

    def waivers(self) -> None:
        waivers = self.items("waivers", Waiver)
        self.unique("waivers", [(i, w.id) for i, w in waivers], "waiver id", lambda i: (i, "id"))
        signals = self.value("signals")
        known = None  # unknown while the signals (which add kinds) have errors
        if "signals" not in self.sections or signals is not None:
            known = [*FINDING_KINDS, *dict.fromkeys(s.kind for s in signals or ())]
        for i, waiver in waivers:
            scope = waiver.scope
            if scope.kind is not None and known is not None and scope.kind not in known:
                hint = did_you_mean(scope.kind, known) or f"kinds are: {', '.join(known)}"
                self.out.add(
                    self.at("waivers", i, "scope", "kind"),
                    f"unknown finding kind '{scope.kind}'",
                    hint,
                )
            if scope.month is not None and not 1 <= int(scope.month[5:]) <= 12:
                self.out.add(
                    self.at("waivers", i, "scope", "month"),
                    f"'{scope.month}' is not a month",
                    "write it like 2026-03",
                )
            if waiver.expires_on < waiver.approved_on:
                self.out.add(
                    self.at("waivers", i, "expires_on"),
                    f"the waiver expires ({waiver.expires_on}) before it was approved ({waiver.approved_on})",
                    "check both dates",
                )

    def vocabularies(self) -> None:
        """Each key names a text column once; a column the contract or the tiers fix is not redeclared."""
        seen: dict[str, str] = {}
        for name, values in self.raw("vocabularies").items():
            where = self.at("vocabularies", name, key=True)
            info = CONDITION_COLUMN_INFO.get(str(name).lower())
            if info is None:
                hint = did_you_mean(str(name).lower(), CONDITION_COLUMN_INFO) or (
                    "see the column list in docs/policy.md"
                )
                self.out.add(where, f"vocabulary for unknown column '{name}'", hint)
                continue
            if info.type != "text":
                self.out.add(
                    where,
                    f"vocabulary for column '{name}', which is not text",
                    "a vocabulary lists the text values a column may hold",
                )
            elif info.column == "tier" or info.column in CONTRACT_VOCABULARIES:
                known = CONTRACT_VOCABULARIES.get(info.column)
                source = f"the data contract ({', '.join(known)})" if known else "the tiers section"
                self.out.add(
                    where, f"vocabulary for '{name}' is already known from {source}", "remove it"
                )
            elif info.column in seen:
                self.out.add(
                    where,
                    f"vocabulary for '{name}' is declared twice (also as '{seen[info.column]}')",
                    "keep one",
                )
            seen.setdefault(info.column, str(name))
            if isinstance(values, list):
                if not values:
                    self.out.add(
                        where, f"vocabulary for '{name}' is empty", "list the values, or remove it"
                    )
                first: dict[str, int] = {}
                for i, value in enumerate(values):
                    if not isinstance(value, str):
                        continue  # reported by the schema: expected text
                    if value in first:
                        self.out.add(
                            self.at("vocabularies", name, i),
                            f"vocabulary value '{value}' is listed twice",
                            "keep one",
                        )
                    first.setdefault(value, i)


    def valid_parts(self, raw: Any, model: type[BaseModel]) -> list[tuple[Any, Any]]:
        """(key or index, validated item) of the entries of ``raw`` (a mapping or a list) that
        are valid on their own (the others were reported when the section was validated)."""
        pairs = raw.items() if isinstance(raw, dict) else enumerate(raw if isinstance(raw, list) else ())
        valid = []
        for key, entry in pairs:
            try:
                valid.append((key, model.model_validate(entry)))
            except ValidationError:
                pass
        return valid

    def sla(self) -> None:
        """Calendars (zones, frames, holiday regions), targets and credits of the ``sla`` section,
        checked entry by entry, so that a wrong field in one target does not hide another's."""
        from audit.contract import PRIORITIES

        sla: Sla | None = self.value("sla")
        raw = self.raw("sla")
        if sla is not None:
            calendars, targets = list(sla.calendars.items()), list(enumerate(sla.targets))
            credits = sla.credits
        else:
            calendars = self.valid_parts(raw.get("calendars"), Calendar)
            targets = self.valid_parts(raw.get("targets"), SlaContract)
            credits = next(iter(self.valid_parts([raw.get("credits")], SlaCredits)), (0, None))[1]
        for name, cal in calendars:
            path = ("calendars", name)
            try:
                zoneinfo.ZoneInfo(cal.timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                hint = (did_you_mean(cal.timezone, zoneinfo.available_timezones())
                        or "use an IANA name such as Europe/Berlin")
                self.out.add(self.at("sla", *path, "timezone"), f"unknown time zone '{cal.timezone}'", hint)
            for day, frames in cal.hours.items():
                if day not in WEEKDAYS:
                    hint = did_you_mean(str(day), WEEKDAYS) or f"weekdays are: {', '.join(WEEKDAYS)}"
                    self.out.add(self.at("sla", *path, "hours", day, key=True), f"unknown weekday '{day}'", hint)
                    continue
                spans = []
                for i, frame in enumerate(frames):
                    where = self.at("sla", *path, "hours", day, i)
                    if not re.match(_FRAME_RE, frame):
                        self.out.add(where, f"time frame {frame!r} is not 'HH:MM-HH:MM'",
                                     "write it like '08:00-18:00': local wall-clock time, 24:00 ends the day")
                        continue
                    start, end = frame_minutes(frame)
                    if end <= start:
                        self.out.add(where, f"time frame {frame!r} ends before it starts",
                                     "a frame lies within one day; split a night shift into two days")
                        continue
                    for other_start, other_end, other in spans:
                        if start < other_end and other_start < end:
                            self.out.add(where, f"time frame {frame!r} overlaps {other!r}",
                                         "merge the two frames into one")
                    spans.append((start, end, frame))
            if cal.holidays is not None:
                self.holiday_region(cal.holidays.country, cal.holidays.subdivision, path)
            for i, day in enumerate(cal.closed):
                try:
                    if len(day) == 10:
                        dt.date.fromisoformat(day)
                    else:
                        dt.date(2024, int(day[:2]), int(day[3:]))  # a leap year: 02-29 is a day
                except ValueError:
                    self.out.add(self.at("sla", *path, "closed", i), f"'{day}' is not a date",
                                 "write 'YYYY-MM-DD' for one day or 'MM-DD' for every year")
        self.unique("sla", [(i, t.contract) for i, t in targets],
                    "SLA for contract", lambda i: ("targets", i, "contract"))
        known = [str(k) for k in (raw.get("calendars") or {})] if sla is None else list(sla.calendars)
        for i, target in targets:
            if target.calendar not in known:
                hint = did_you_mean(target.calendar, known) or f"calendars: {', '.join(known) or 'none'}"
                self.out.add(self.at("sla", "targets", i, "calendar"), f"unknown calendar '{target.calendar}'", hint)
            for prio in target.priorities:
                if prio not in (*PRIORITIES, "*"):
                    hint = did_you_mean(str(prio), PRIORITIES) or f"priorities are: {', '.join(PRIORITIES)} or '*'"
                    self.out.add(self.at("sla", "targets", i, "priorities", prio, key=True),
                                 f"unknown priority '{prio}'", hint)
        if credits is not None:
            self.unique("sla", [(i, c.contract) for i, c in enumerate(credits.per_breach)],
                        "credit for contract", lambda i: ("credits", "per_breach", i, "contract"))
            amounts = [(("credits", "monthly_cap_per_customer"), credits.monthly_cap_per_customer)]
            for i, c in enumerate(credits.per_breach):
                amounts += [(("credits", "per_breach", i, k), getattr(c, k)) for k in ("first_response", "resolution")]
            for path, amount in amounts:
                if amount is not None and (amount < 0 or amount.as_tuple().exponent < -2):  # type: ignore[operator]
                    self.out.add(self.at("sla", *path), f"amount {amount} is not a non-negative amount with at most 2 decimals",
                                 'write it like "50.00"')

    def holiday_region(self, country: str, subdivision: str | None, path: YamlPath) -> None:
        import holidays

        supported = holidays.list_supported_countries()
        if country not in supported:
            hint = did_you_mean(country, supported) or "use an ISO 3166 code the holidays package knows, e.g. DE"
            self.out.add(self.at("sla", *path, "holidays", "country"), f"unknown holiday country '{country}'", hint)
        elif subdivision is not None and subdivision not in supported[country]:
            subs = supported[country]
            hint = did_you_mean(subdivision, subs) or f"subdivisions of {country}: {', '.join(subs)}"
            self.out.add(self.at("sla", *path, "holidays", "subdivision"),
                         f"unknown subdivision '{subdivision}' of {country}", hint)


_FRAME_RE = r"^([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"


def _period(p: PricePeriod) -> str:
    return f"{p.valid_from} to {p.valid_to or 'open end'}"
