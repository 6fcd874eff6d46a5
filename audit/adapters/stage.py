"""Foreign exports -> canonical tables -> the ordinary ingestion, and back to the user's files.

:func:`map_sources` runs the adapters. :func:`load_sources` writes what they made into a staging
directory as JSON Lines — each row on the physical line of its record in the export, so the
ingestion's line numbers, duplicate messages and quarantine already speak of the export's lines —
runs :func:`audit.ingest.load_data` on it, and puts the user's file names, lines and raw records
back into the quarantine and the counts. Rows an adapter set aside join the quarantine
(expectation ``not_mappable``). ``rows in = loaded + quarantined`` holds per source file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from audit.adapters.core import Context
from audit.adapters.products import ADAPTERS, Source, generic
from audit.adapters.records import Mapped, Row
from audit.adapters.sources import CANONICAL, read_sources
from audit.errors import DataError, Diagnostic, Location

NOT_MAPPABLE = "not_mappable"


def label(path: Path, base: Path) -> str:
    """A file as the user names it: relative to the sources file when inside its folder."""
    try:
        relative = os.path.relpath(path, base)
    except ValueError:  # another drive
        return str(path)
    return str(path) if relative.startswith("..") else Path(relative).as_posix()


def map_sources(sources: list[Source], *, timezone: str, mappings: list[Any] | None = None,
                passthrough: bool = True) -> tuple[Mapped, dict[str, Path]]:
    """Run every source's adapter. Returns what they made and the canonical exports that are
    read as they are (one canonical file for a table: the ingestion reads it itself)."""
    ctx = Context(timezone=timezone, mappings=list(mappings or []))
    by_table: dict[str, list[Source]] = {}
    for s in sources:
        by_table.setdefault(s.table, []).append(s)
    direct: dict[str, Path] = {}
    for table, group in by_table.items():
        if passthrough and len(group) == 1 and group[0].adapter == CANONICAL and len(group[0].files) == 1:
            direct[table] = group[0].files[0]
            continue
        for s in group:
            if s.adapter == CANONICAL:
                generic(ctx, s)
            else:
                ADAPTERS[s.adapter](ctx, s)
    _tiers_from_entries(ctx.out)
    return ctx.out, direct


def _tiers_from_entries(out: Mapped) -> None:
    """A ticket without a recorded tier takes the one its time entries record (a time tracker's
    billable flag mapped in the policy) when they all agree; when they disagree it stays empty
    (the contract quarantines it) and a warning names the values."""
    if not out.entry_tiers:
        return
    for row in out.rows.get("tickets", []):
        ticket = row.values.get("ticket_id")
        seen = out.entry_tiers.get(ticket or "")
        if row.values.get("tier") is not None or not seen:
            continue
        if len(seen) == 1:
            row.values["tier"] = next(iter(seen))
        else:
            shown = ", ".join(f"{t} ({n}x)" for t, n in sorted(seen.items()))
            out.warnings.append(f"tickets: {ticket}: its time entries record different tiers ({shown}): "
                                "the ticket keeps no tier")


def _hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def load_sources(con, sources_file: str | Path, *, timezone: str, tier_ids: list[str],
                 mappings: list[Any] | None = None, progress: Callable[[str], None] | None = None,
                 **load_kwargs: Any):
    """Like :func:`audit.ingest.load_data`, for a ``sources.yaml`` instead of a folder."""
    from audit.contract import TABLES
    from audit.ingest import load_data

    say = progress or (lambda _m: None)
    sources_file = Path(sources_file)
    base = sources_file.parent
    sources = read_sources(sources_file)
    missing = [t for t, spec in TABLES.items() if not spec.optional and t not in {s.table for s in sources}]
    if missing:
        raise DataError(diagnostics=[Diagnostic(
            Location(str(sources_file)), f"no source for the table(s) {', '.join(missing)}",
            "list each under 'tables:', every required canonical table needs at least one file")])
    say(f"mapping {len(sources)} source(s) of {sources_file}")
    mapped, direct = map_sources(sources, timezone=timezone, mappings=mappings)
    with tempfile.TemporaryDirectory(prefix="support-audit-sources-") as tmp:
        staged = Path(tmp)
        placed: dict[str, dict[int, Row]] = {}
        for table, path in direct.items():
            target = staged / f"{table}{path.suffix.lower()}"
            try:
                os.symlink(path.resolve(), target)
            except OSError:  # pragma: no cover - a file system without symlinks
                shutil.copyfile(path, target)
        for table in TABLES:
            if table not in direct:
                placed[table] = _write_staged(staged / f"{table}.jsonl", TABLES[table], mapped.rows.get(table, []))
        # The staging folder links to the files sources.yaml names (paths the user wrote on
        # purpose, wherever they are): those links are followed, whatever --follow-symlinks says.
        load_kwargs["follow_symlinks"] = True
        result = load_data(con, staged, timezone=timezone, tier_ids=tier_ids, progress=progress, **load_kwargs)
    return _remap(result, mapped, direct, placed, base)


def _write_staged(path: Path, table, rows: list[Row]) -> dict[int, Row]:
    """JSON Lines, each row on its record's line when one file feeds the table (blank lines in
    between), else after the previous row. Returns staged line -> row."""
    columns = [c.name for c in table.columns if c.name != "duration_seconds"]
    placed: dict[int, Row] = {}
    line = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        if not rows:  # every record set aside: a row of nulls would be a record; write the keys only
            f.write(json.dumps(dict.fromkeys(columns, None)) + "\n")
            return {1: None}  # type: ignore[dict-item]
        one_file = len({r.record.file for r in rows}) == 1
        for row in rows:
            target = row.record.line if one_file and row.record.line > line else line + 1
            f.write("\n" * (target - line - 1))
            f.write(json.dumps({c: row.values.get(c) for c in columns}, ensure_ascii=False) + "\n")
            placed[target] = row
            line = target
    return placed


def _remap(result, mapped: Mapped, direct: dict[str, Path], placed: dict[str, dict[int, Row]], base: Path):
    from audit.contract import TABLES
    from audit.ingest.result import QUARANTINE_SCHEMA, TableCounts

    order = {t: i for i, t in enumerate(TABLES)}
    staged_names = {f"{t}.jsonl": t for t in placed} | {f"{t}{p.suffix.lower()}": t for t, p in direct.items()}
    files_of: dict[str, list[str]] = {}
    for fc in mapped.files:
        files_of.setdefault(fc.table, []).append(label(fc.file, base))
    for t, p in direct.items():
        files_of[t] = [label(p, base)]

    def rename(text: str | None, table: str | None = None) -> str | None:
        if text is None:
            return None
        if table in placed:  # "the first occurrence (line 7)": the staged line -> file and line
            def where(m: re.Match) -> str:
                row = placed[table].get(int(m.group(1)))
                return m.group(0) if row is None else f"({label(row.record.file, base)}:{row.record.line})"
            text = re.sub(r"\(line (\d+)\)", where, text)
        for staged, table in staged_names.items():
            if staged in text:
                text = text.replace(staged, ", ".join(files_of.get(table, [staged])))
        return text

    rows: list[dict[str, Any]] = []
    for q in result.quarantine.to_pylist():
        table = q["table"]
        if table in placed:
            row = placed[table].get(q["line"])
            if row is None:  # the placeholder record of a table whose every record was set aside
                continue
            q = {**q, "source_file": label(row.record.file, base), "line": row.record.line, "raw": row.record.raw}
        elif table in direct:
            q = {**q, "source_file": label(direct[table], base)}
        q["reason"] = rename(q["reason"], table)
        rows.append(q)
    for s in mapped.set_aside:
        rows.append({"table": s.table, "source_file": label(s.file, base), "line": s.line,
                     "expectation": NOT_MAPPABLE, "column": s.column, "value": s.value,
                     "reason": s.reason, "raw": s.raw})
    rows.sort(key=lambda q: (order[q["table"]], q["source_file"], q["line"]))
    quarantine = pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA)

    tables: dict[str, TableCounts] = {}
    per_file: list[dict[str, Any]] = []
    hashes: dict[str, str] = {}
    for name, counts in result.tables.items():
        if name in direct:
            lab = label(direct[name], base)
            tables[name] = replace(counts, source_file=lab)
            hashes[lab] = counts.sha256
            per_file.append({"table": name, "file": lab, "adapter": CANONICAL, "rows_in": counts.rows_in,
                             "loaded": counts.loaded, "quarantined": counts.quarantined})
            continue
        placeholder = 1 if placed[name].get(1, "x") is None else 0
        set_aside = [s for s in mapped.set_aside if s.table == name]
        labels = []
        for fc in (f for f in mapped.files if f.table == name):
            lab = label(fc.file, base)
            labels.append(lab)
            hashes[lab] = _hash(fc.file)
            bad = {q["line"] for q in rows if q["table"] == name and q["source_file"] == lab}
            per_file.append({"table": name, "file": lab, "adapter": fc.adapter, "rows_in": fc.rows_in,
                             "loaded": fc.rows_in - len(bad), "quarantined": len(bad)})
        digest = hashlib.sha256("".join(f"{lab}\0{hashes[lab]}\n" for lab in labels).encode()).hexdigest()
        rows_in = counts.rows_in - placeholder + len(set_aside)
        quarantined = counts.quarantined - placeholder + len(set_aside)
        adapters = sorted({f["adapter"] for f in per_file if f["table"] == name})
        tables[name] = replace(counts, rows_in=rows_in, quarantined=quarantined,
                               source_file=", ".join(labels) or "(no file)", sha256=digest,
                               format="+".join(adapters), dialect=f"{'+'.join(adapters)} adapter, {len(labels)} file(s)")
        if sum(f["rows_in"] for f in per_file if f["table"] == name) != rows_in:  # pragma: no cover
            raise AssertionError(f"internal error: {name}: rows per file do not add up")
    for s in mapped.files:  # the ticket files a time source only joins on are inputs too
        hashes.setdefault(label(s.file, base), _hash(s.file))
    result.tables = tables
    result.quarantine = quarantine
    result.input_hashes = dict(sorted(hashes.items()))
    result.warnings = [rename(w) for w in result.warnings] + mapped.warnings + [
        f"{t}.{c}: value(s) no mapping knows: " + ", ".join(f"'{v}' ({n}×)" for v, n in sorted(vals.items()))
        for (t, c), vals in sorted(mapped.unmapped.items())
    ]
    result.source_files = per_file
    return result
