"""Finding the export of each table, fingerprinting it, and matching its header to the contract.

Everything here runs before a single row is loaded, and reports every problem of every table in
one :class:`~audit.errors.DataError` (a user fixes the export once, not once per run).
"""

from __future__ import annotations

import codecs
import hashlib
import re
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

#: A UTF-8 file with some Windows-1252 lines (a spreadsheet row pasted in): read with this codec,
#: every valid UTF-8 sequence is UTF-8 and every byte that is not is Windows-1252, so each line
#: comes out as its writer meant it instead of the whole file turning into mojibake.
MIXED_ENCODING = "utf_8_or_cp1252"
ENCODING_LABELS[MIXED_ENCODING] = "UTF-8 with Windows-1252 lines"
_MIXED_ERRORS = "support_audit_cp1252"


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return bytes(exc.object[exc.start:exc.end]).decode("cp1252", "replace"), exc.end


class _MixedDecoder(codecs.BufferedIncrementalDecoder):
    def _buffer_decode(self, data, errors, final):  # noqa: ANN001 - the codecs protocol
        return codecs.utf_8_decode(data, _MIXED_ERRORS, final)


def _mixed_decode(data: bytes, errors: str = "strict") -> tuple[str, int]:
    return codecs.utf_8_decode(data, _MIXED_ERRORS, True)


def _find_mixed(name: str) -> codecs.CodecInfo | None:
    if name != MIXED_ENCODING:
        return None
    utf8 = codecs.lookup("utf-8")
    return codecs.CodecInfo(name=MIXED_ENCODING, encode=utf8.encode, decode=_mixed_decode,
                            incrementalencoder=utf8.incrementalencoder,
                            incrementaldecoder=_MixedDecoder,
                            streamreader=utf8.streamreader, streamwriter=utf8.streamwriter)


codecs.register_error(_MIXED_ERRORS, _cp1252_fallback)
codecs.register(_find_mixed)


def cp1252_lines(path: Path, limit: int = 5) -> tuple[list[int], int]:
    """(the first ``limit`` line numbers that are not UTF-8, how many there are) of a file."""
    first: list[int] = []
    count = 0
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if line.isascii():
                continue
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                count += 1
                if len(first) < limit:
                    first.append(number)
    return first, count


def _has_utf8_text(path: Path) -> bool:
    """Some line with non-ASCII characters is valid UTF-8 (then bad lines are the exception)."""
    with open(path, "rb") as f:
        for line in f:
            if not line.isascii():
                try:
                    line.decode("utf-8")
                    return True
                except UnicodeDecodeError:
                    continue
    return False


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
    #: optional contract columns the file does not have at all (loaded as empty; an absent
    #: column is not the same evidence as empty values: see audit.engine.sla.unjudged)
    absent: tuple[str, ...] = ()


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(data: str | Path) -> bool:
    """``data`` names a location by URI (``s3a://…``, ``file://…``), which only Spark reads
    (``--engine spark``, :mod:`audit.spark.ingest`)."""
    return bool(_URI.match(str(data)))


def normalise_name(name: str) -> str:
    """Header names match case-insensitively after trimming; a stray BOM is not part of a name."""
    return name.replace("\ufeff", "").strip().lower()


def _leaves(path: Path, data_dir: Path) -> bool:
    """``path`` is a symbolic link whose target is not inside ``data_dir``."""
    if not path.is_symlink():
        return False
    try:
        return data_dir.resolve() not in path.resolve(strict=True).parents
    except (OSError, RuntimeError):  # a loop or a dangling link
        return True


def locate_inputs(
    data_dir: Path, tables: list[str], optional: frozenset[str] | set[str] = frozenset(), *,
    follow_symlinks: bool = False
) -> tuple[dict[str, Path], list[Diagnostic], list[str]]:
    """The export file of each table in ``data_dir``, diagnostics for tables without exactly one
    (an ``optional`` table may have none: it is then simply not in the result).

    A table's file is ``<table>.<csv|tsv|parquet|json|jsonl|ndjson>`` (name and suffix in any
    case). Also returns warnings about data-looking files that belong to no table. A missing
    directory raises DataError at once. A table's file that is a symbolic link to a file outside
    ``data_dir`` is refused unless ``follow_symlinks`` (it is not opened: nothing of it can appear
    in a message).
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
        if len(mine) == 1 and not follow_symlinks and _leaves(mine[0], data_dir):
            problems.add(Location(str(mine[0])),
                         "is a symbolic link to a file outside the data directory",
                         "copy the file into the data directory, or pass --follow-symlinks")
        elif len(mine) == 1:
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
    byte sequence is valid; else, when some lines are valid non-ASCII UTF-8, UTF-8 with
    Windows-1252 lines (:data:`MIXED_ENCODING`); else Windows-1252 (spreadsheet exports on
    German Windows), which must then decode strictly too. A file that is neither is unusable: DataError with its line.
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
    elif _has_utf8_text(path):
        encoding = MIXED_ENCODING  # each line in its own encoding; ingestion warns
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
        from audit.adapters.hints import guess_product, product_hint

        have = ", ".join(n.strip() or "''" for n in names) or "(nothing)"
        present = [normalise_name(e) for e in extra]
        guesses = []
        for m in missing:
            # a product's own column first (Ticket# -> ticket_id), then a close spelling; a
            # loose match (ticket_id -> article_ids) is no help
            guess = product_hint(m, present) or _close(m, present)
            if guess:
                guesses.append(guess)
        hint = f"the file has: {have}"
        if guesses:
            hint += "; " + "; ".join(guesses)
        product = guess_product(present)
        if product:
            hint += (f"; this looks like a {product} export: read it with 'support-audit import --from "
                     f"{product}' or a sources.yaml with 'adapter: {product}'")
        else:
            hint += "; add or rename the columns in the export"
        label = "column" if len(missing) == 1 else "columns"
        problems.append(Diagnostic(
            Location(file_label, line),
            f"missing required {label} " + ", ".join(f"'{m}'" for m in missing),
            hint,
        ))
    if problems:
        return None, problems
    absent = tuple(c.name for c in table.columns
                   if c.name not in positions and c.name not in derived)
    return ColumnMatch(positions, tuple(extra), tuple(seen_derived), absent), []


def _close(missing: str, present: list[str]) -> str:
    import difflib

    match = difflib.get_close_matches(missing, sorted(present), n=1, cutoff=0.8)
    return f"for '{missing}' did you mean '{match[0]}'?" if match else ""


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
