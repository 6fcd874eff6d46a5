"""``support-audit import`` and ``support-audit sources check``: look before auditing.

:func:`import_files` runs one product's adapter over export files and writes the canonical tables
they yield (CSV, UTF-8) plus ``set_aside.csv``; :func:`check_sources` describes a sources.yaml:
per table the files, the column mapping, the values no value map knows and the first rows.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from audit.adapters.core import ColumnSpec
from audit.adapters.products import ADAPTERS, Source
from audit.adapters.records import Mapped, read_json
from audit.adapters.sources import CANONICAL, OPTIONS, read_sources
from audit.adapters.stage import label, map_sources
from audit.errors import DataError, Diagnostic, Location, UsageError, did_you_mean

SET_ASIDE_COLUMNS = ("table", "source_file", "line", "where", "column", "value", "reason", "raw")


def _config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    except (OSError, YAMLError) as exc:
        raise DataError(diagnostics=[Diagnostic(Location(str(path)), f"cannot read the config: {exc}",
                                                "write a YAML mapping of adapter options")]) from None
    if not isinstance(data, dict):
        raise DataError(diagnostics=[Diagnostic(Location(str(path), 1), "expected a mapping of options")])
    problems = []
    for key in data:
        if key not in OPTIONS and key not in ("columns", "table"):
            hint = did_you_mean(str(key), [*OPTIONS, "columns", "table"]) or "see docs/adapters.md"
            problems.append(Diagnostic(Location(str(path)), f"unknown option '{key}'", hint))
    if problems:
        raise DataError(diagnostics=problems)
    return data


def _table_of(product: str, path: Path, config: dict[str, Any]) -> str:
    """Which canonical table a file of ``product`` feeds."""
    if config.get("table"):
        return str(config["table"])
    if product == "generic":
        raise UsageError("--from generic needs a --config naming the table (table: invoice_lines) and its columns")
    if product in ("zammad", "freshdesk") and path.suffix.lower() == ".json":
        data = read_json(path)
        first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        if "time_unit" in first or "time_spent" in first:
            return "time_entries"
        if "number" in first or "subject" in first:
            return "tickets"
        what = "Zammad tickets nor time accountings" if product == "zammad" else "Freshdesk tickets nor time entries"
        raise DataError(diagnostics=[Diagnostic(Location(str(path)), f"is neither {what}",
                                                "export the tickets or the time records as a JSON array")])
    if product == "znuny" and path.suffix.lower() in (".csv", ".tsv"):
        head = path.read_bytes()[:4096].decode("utf-8", "replace").splitlines()[0].lower()
        return "time_entries" if "time_unit" in head else "tickets"
    return "time_entries"


def import_files(product: str, files: list[Path], out: Path, *, config: Path | None = None,
                 timezone: str = "Europe/Berlin", mappings: list[Any] | None = None) -> tuple[Mapped, list[Path]]:
    """Map ``files`` (exports of ``product``) to canonical CSVs in ``out``; returns what was
    mapped and the files written."""
    from audit.contract import TABLES
    from audit.outputs import atomic_write_text, neutralise_csv_cell

    if product not in ADAPTERS:
        raise UsageError(f"--from {product!r} is not one of {', '.join(ADAPTERS)}")
    options = _config(config)
    columns = {str(k): ColumnSpec.parse(v) for k, v in (options.pop("columns", None) or {}).items()}
    by_table: dict[str, list[Path]] = {}
    for f in files:
        by_table.setdefault(_table_of(product, f, options), []).append(f)
    options.pop("table", None)
    if product in ("zammad", "znuny") and "tickets" in by_table and "tickets" not in options:
        options["tickets"] = [str(p.resolve()) for p in by_table["tickets"]]  # join internal ids
    options["_base"] = "/"
    sources = [Source(t, product, fs, dict(options), columns, Location(str(config or product)))
               for t, fs in sorted(by_table.items(), key=lambda kv: list(TABLES).index(kv[0]))]
    mapped, _ = map_sources(sources, timezone=timezone, mappings=mappings, passthrough=False)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    base = Path.cwd()
    for table, rows in mapped.rows.items():
        names = [c.name for c in TABLES[table].columns if c.name != "duration_seconds"]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(names)
        for row in rows:
            w.writerow(["" if row.values.get(n) is None else row.values[n] for n in names])
        written.append(atomic_write_text(out / f"{table}.csv", buf.getvalue()))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SET_ASIDE_COLUMNS)
    for s in mapped.set_aside:
        w.writerow([neutralise_csv_cell(str(v)) if v is not None else "" for v in (
            s.table, label(s.file, base), s.line, s.where, s.column, s.value, s.reason, s.raw)])
    written.append(atomic_write_text(out / "set_aside.csv", buf.getvalue()))
    return mapped, written


def summary_lines(mapped: Mapped, base: Path) -> list[str]:
    lines = []
    for fc in mapped.files:
        lab = label(fc.file, base)
        aside = sum(1 for s in mapped.set_aside if s.file == fc.file and s.table == fc.table)
        lines.append(f"{lab}: {fc.rows_in} records -> {fc.table}: {fc.rows_in - aside} mapped, {aside} set aside")
    for (table, column), values in sorted(mapped.unmapped.items()):
        shown = ", ".join(f"'{v}' ({n}x)" for v, n in sorted(values.items()))
        lines.append(f"{table}.{column}: values no mapping knows (kept as they are): {shown}")
    return lines


def check_sources(path: Path, *, timezone: str, mappings: list[Any] | None = None, preview: int = 3) -> str:
    """The report of ``support-audit sources check``."""
    from audit.contract import TABLES

    sources = read_sources(path)
    mapped, direct = map_sources(sources, timezone=timezone, mappings=mappings, passthrough=False)
    base = path.parent
    out: list[str] = []
    for table in TABLES:
        mine = [s for s in sources if s.table == table]
        out.append(f"{table}:")
        if not mine:
            out.append("  no source (every table needs one)")
            continue
        for s in mine:
            files = ", ".join(label(f, base) for f in s.files)
            out.append(f"  {s.adapter}: {files}")
        if all(s.adapter == CANONICAL for s in mine):
            out.append("  columns: read under their canonical names")
        else:
            out.append("  columns:")
            for column, how in mapped.mapping.get(table, []):
                out.append(f"    {column} <- {how}")
        for (t, column), values in sorted(mapped.unmapped.items()):
            if t == table:
                shown = ", ".join(f"'{v}' ({n}x)" for v, n in sorted(values.items()))
                out.append(f"  values no mapping knows ({column}, kept as they are): {shown}")
        aside = [s for s in mapped.set_aside if s.table == table]
        rows_in = sum(fc.rows_in for fc in mapped.files if fc.table == table)
        out.append(f"  records: {rows_in} in, {rows_in - len(aside)} mapped, {len(aside)} set aside")
        for s in aside[:preview]:
            out.append(f"    set aside {label(s.file, base)}:{s.line}: {s.reason}")
        rows = mapped.rows.get(table, [])
        if rows:
            names = [c.name for c in TABLES[table].columns if c.name != "duration_seconds"]
            out.append("  first rows:")
            for row in rows[:preview]:
                shown = json.dumps({n: row.values.get(n) for n in names}, ensure_ascii=False)
                out.append(f"    {label(row.record.file, base)}:{row.record.line} {shown}")
    del direct
    return "\n".join(out) + "\n"
