"""Finding the export of each table, fingerprinting it, and matching its header to the contract.

Everything here runs before a single row is loaded, and reports every problem of every table in
one :class:`~audit.errors.DataError` (a user fixes the export once, not once per run).
"""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass
from pathlib import Path

from audit.contract import Table
from audit.errors import DataError, Diagnostic, DiagnosticCollector, Location, did_you_mean

#: File name suffix -> format. JSON is an array of objects or JSON Lines (one object a line).
SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}

#: Codec names we report in the dialect line, in words a user knows.
ENCODING_LABELS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with BOM",
    "utf-16": "UTF-16",
    "cp1252": "Windows-1252",
}

_BLOCK = 1 << 20


@dataclass(frozen=True)
class InputFile:
    """The one export of a table: where it is, what format, its identity and its text encoding."""

    table: str
    path: Path
    format: str
    sha256: str
    encoding: str = ""  # Python codec of a text file; "" for Parquet

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def label(self) -> str:
        """The file as the user named it (data dir included), for messages."""
        return str(self.path)


@dataclass(frozen=True)
class ColumnMatch:
    """How a file's columns map onto a table: canonical name -> position (CSV) or key (others)."""

    positions: dict[str, int | str]
    extra: tuple[str, ...]  # columns the contract does not know (ignored, mentioned in warnings)
    derived: tuple[str, ...]  # contract columns that are computed, not read (ignored if present)


def normalise_name(name: str) -> str:
    """Header names match case-insensitively after trimming; a stray BOM is not part of a name."""
    return name.replace("\ufeff", "").strip().lower()


def locate_inputs(
    data_dir: Path, tables: list[str], optional: tuple[str, ...] = ()
) -> tuple[dict[str, Path], list[Diagnostic], list[str]]:
    """The export file of each table in ``data_dir``, diagnostics for tables without exactly one.

    A table's file is ``<table>.<csv|tsv|parquet|json|jsonl|ndjson>`` (name and suffix in any
    case); a table in ``optional`` may have none. Also returns warnings about data-looking files that belong to no table. A missing
    directory raises DataError at once.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(
            diagnostics=[Diagnostic(Location(str(data_dir)), "data directory not found",
                                    "pass the directory that holds the exports")]
        )
    candidates = sorted(
        p for p in data_dir.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES
    )
    found: dict[str, Path] = {}
    problems = DiagnosticCollector()
    claimed: set[Path] = set()
    for table in tables:
        mine = [p for p in candidates if p.stem.lower() == table]
        claimed.update(mine)
        if len(mine) == 1:
            found[table] = mine[0]
        elif not mine and table in optional:
            continue
        elif not mine:
            others = [p.name for p in candidates if p.stem.lower() not in tables]
            guess = did_you_mean(f"{table}.csv", others) or did_you_mean(table, [Path(o).stem for o in others])
            hint = f"export the {table} table as {table}.csv, {table}.parquet or {table}.json"
            problems.add(Location(str(data_dir / f"{table}.csv")), "file not found",
                         f"{hint}; {guess}" if guess else hint)
        else:
            names = ", ".join(p.name for p in mine)
            problems.add(Location(str(mine[0])), f"{table} has more than one export: {names}",
                         "keep exactly one file per table")
    # a file named almost like a table is probably meant to be its export: say it was not read
    warnings = [
        f"{p.name}: ignored, it is not the export of a table ({', '.join(tables)})"
        for p in candidates
        if p not in claimed and did_you_mean(p.stem.lower(), tables)
    ]
    return found, problems.diagnostics, warnings


def fingerprint(path: Path, *, text: bool) -> tuple[str, str]:
    """(sha256, encoding) of a file in one pass over its bytes.

    Text encodings, in this order: a BOM decides (UTF-8 or UTF-16); else strict UTF-8 if every
    byte sequence is valid; else Windows-1252 (spreadsheet exports on German Windows), which must
    then decode strictly too. A file that is neither is unusable: DataError with its line.
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    head = b""
    utf8_ok = True
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
            if len(head) < 4:
                head += block[:4]
            if text and utf8_ok:
                try:
                    decoder.decode(block)
                except UnicodeDecodeError:
                    utf8_ok = False
    if not text:
        return digest.hexdigest(), ""
    utf8_ok = utf8_ok and _utf8_complete(decoder)
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
        if not utf8_ok:
            # (plain UTF-8 for the check: the BOM is valid UTF-8, and offsets stay file offsets)
            _check_decodes(path, "utf-8", "is not UTF-8 although the file starts with a UTF-8 BOM")
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
        _check_decodes(path, encoding, "is not valid UTF-16 text")
    elif utf8_ok:
        encoding = "utf-8"
    else:
        encoding = "cp1252"
        _check_decodes(path, encoding, "is neither UTF-8 nor Windows-1252 text")
    return digest.hexdigest(), encoding


def _utf8_complete(decoder: codecs.IncrementalDecoder) -> bool:
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _check_decodes(path: Path, encoding: str, what: str) -> None:
    """Raise a DataError at the first byte that does not decode (``what`` says why it matters)."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    offset = 0
    newlines = 0
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                line = newlines + block.count(b"\n", 0, exc.start) + 1
                byte = block[exc.start]
                raise DataError(
                    diagnostics=[Diagnostic(
                        Location(str(path), line),
                        f"byte 0x{byte:02X} (file offset {offset + exc.start}) {what}",
                        "save the export as UTF-8",
                    )]
                ) from None
            offset += len(block)
            newlines += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise DataError(diagnostics=[Diagnostic(
                Location(str(path), newlines + 1), f"the file ends in the middle of a character: it {what}",
                "save the export as UTF-8",
            )]) from None


def describe_encoding(encoding: str) -> str:
    return ENCODING_LABELS.get(encoding, encoding)


def match_columns(
    table: Table,
    names: list[str],
    file_label: str,
    *,
    derived: frozenset[str],
    positional: bool,
    line: int = 1,
) -> tuple[ColumnMatch | None, list[Diagnostic]]:
    """Map a file's column names onto ``table``; diagnostics for missing or doubled columns.

    ``positional``: positions are indexes into ``names`` (CSV) rather than the names themselves.
    """
    wanted = {c.name: c for c in table.columns}
    positions: dict[str, int | str] = {}
    extra: list[str] = []
    seen_derived: list[str] = []
    problems: list[Diagnostic] = []
    first_at: dict[str, int] = {}
    for i, raw in enumerate(names):
        key = normalise_name(raw)
        if key in wanted and key not in derived:
            if key in first_at:
                problems.append(Diagnostic(
                    Location(file_label, line),
                    f"column '{key}' appears twice (columns {first_at[key] + 1} and {i + 1})",
                    "keep one of them",
                ))
                continue
            first_at[key] = i
            positions[key] = i if positional else raw
        elif key in derived:
            seen_derived.append(raw)
        else:
            extra.append(raw)
    missing = [c for c in table.required_columns if c not in positions and c not in derived]
    if missing:
        have = ", ".join(n.strip() or "''" for n in names) or "(nothing)"
        guesses = []
        for m in missing:
            guess = did_you_mean(m, [normalise_name(e) for e in extra])
            if guess:
                guesses.append(f"for '{m}' {guess}")
        hint = f"the file has: {have}"
        if guesses:
            hint += "; " + "; ".join(guesses)
        hint += "; add or rename the columns in the export"
        label = "column" if len(missing) == 1 else "columns"
        problems.append(Diagnostic(
            Location(file_label, line),
            f"missing required {label} " + ", ".join(f"'{m}'" for m in missing),
            hint,
        ))
    if problems:
        return None, problems
    return ColumnMatch(positions, tuple(extra), tuple(seen_derived)), []


def column_warnings(file_name: str, match: ColumnMatch) -> list[str]:
    """Warnings for columns that were present but not read."""
    out = []
    named = [e.replace("\ufeff", "").strip() for e in match.extra if e.strip()]
    if named:
        out.append(f"{file_name}: ignored columns the contract does not know: "
                   + ", ".join(f"'{e}'" for e in named))
    if len(named) < len(match.extra):
        out.append(f"{file_name}: ignored {len(match.extra) - len(named)} column(s) without a name")
    if match.derived:
        out.append(f"{file_name}: ignored column(s) "
                   + ", ".join(f"'{d.strip()}'" for d in match.derived)
                   + ": they are computed by the audit, not read")
    return out
