"""``sources.yaml``: which files, read by which adapter, feed each canonical table.

```yaml
tables:
  customers: customers.csv                 # a canonical export, read as it is
  services: services.csv
  tickets:
    - adapter: zammad
      files: zammad/tickets*.json          # paths and globs, relative to this file
      ticket_prefix: T-
  time_entries:
    - adapter: kimai
      files: kimai/*.xlsx
      ticket_prefix: T-
  invoice_lines:
    - adapter: generic
      files: accounting/lines.csv
      columns: {line_id: Pos, invoice_id: Rechnung, ticket_id: {field: Text, regex: 'T-\\d+'}}
```

Problems are reported with ``file:line:col`` (a :class:`~audit.errors.DataError`, exit code 3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit.adapters.core import ColumnSpec
from audit.adapters.products import ADAPTERS, Source, expand
from audit.errors import DataError, DiagnosticCollector, Location, did_you_mean

#: Options an adapter understands (besides adapter, files and columns).
OPTIONS = {
    "ticket_prefix": "put in front of ticket numbers (Zammad 31001 -> T-31001)",
    "ticket_patterns": "regexes finding a ticket reference in free text (first group)",
    "entry_prefix": "prefix of the entry ids made from file and line (Kimai, Redmine)",
    "started_at": "start of undated work: booking, booking_minus_duration or date_at HH:MM",
    "prefer": "when both a duration and start/end exist: duration (default) or span",
    "timezone": "time zone of naive times in the export (default: the policy's)",
    "encoding": "text encoding of a CSV export (default: detected; Redmine: iso-8859-1)",
    "delimiter": "CSV delimiter (default: detected)",
    "date_format": "strptime format of dates, e.g. %m/%d/%Y",
    "duration_format": "Kimai: h:mm (default) or hours",
    "time_unit_minutes": "Zammad/Znuny: minutes per time unit (default 1; 15 = quarter hours)",
    "hours_per_day": "Jira: hours of 1d (default 8)",
    "days_per_week": "Jira: days of 1w (default 5)",
    "tickets": "Zammad/Znuny: the ticket export(s) that turn internal ids into numbers",
    "agents": "agent id -> name (Zammad, Znuny, Freshdesk)",
    "issue_keys": "Jira: issueId -> issue key",
    "issue_from_filename": "Jira: regex finding the issue key in the file name",
    "sheet": "XLSX: the sheet's name or position (default: the first)",
}
CANONICAL = "canonical"


def _lc(node: Any, key: Any = None) -> tuple[int, int]:
    try:
        if key is not None:
            line, col = node.lc.key(key) if hasattr(node.lc, "key") else node.lc.item(key)[:2]
            return line + 1, col + 1
        return node.lc.line + 1, node.lc.col + 1
    except Exception:
        return 0, 0


def _lcv(node: Any, key: Any) -> tuple[int, int]:
    """Where the value of ``key`` is written."""
    try:
        line, col = node.lc.value(key)
        return line + 1, col + 1
    except Exception:
        return _lc(node, key)


def read_sources(path: str | Path) -> list[Source]:
    """Parse and check ``sources.yaml``; every problem at once, with file:line:col."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    path = Path(path)
    label = str(path)
    out = DiagnosticCollector()
    try:
        doc = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        out.add(Location(label), "sources file not found", "pass the path of sources.yaml")
        out.raise_if_any(DataError)
        raise AssertionError from None  # unreachable
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        out.add(Location(label, (mark.line + 1) if mark else 0, (mark.column + 1) if mark else 0),
                f"is not valid YAML: {getattr(exc, 'problem', exc)}", "fix the YAML syntax")
        out.raise_if_any(DataError)
        raise AssertionError from None
    from audit.contract import TABLES

    base = path.parent
    if not isinstance(doc, dict) or not isinstance(doc.get("tables"), dict):
        out.add(Location(label, 1), "expected a mapping with 'tables:'",
                "write tables: and under it one entry per canonical table")
        out.raise_if_any(DataError)
    for key in doc:
        if key != "tables":
            out.add(Location(label, *_lc(doc, key)), f"unknown key '{key}'", "only 'tables:' is read")
    tables = doc["tables"]
    sources: list[Source] = []
    for table in tables:
        where = Location(label, *_lc(tables, table))
        if table not in TABLES:
            hint = did_you_mean(str(table), list(TABLES)) or f"the tables are {', '.join(TABLES)}"
            out.add(where, f"unknown table '{table}'", hint)
            continue
        entries = tables[table]
        entries = entries if isinstance(entries, list) else [entries]
        for i, entry in enumerate(entries):
            at = Location(label, *_lc(entries, i)) if isinstance(tables[table], list) else where
            if isinstance(entry, str):
                entry = {"files": entry}
            if not isinstance(entry, dict):
                out.add(at, "expected a file name or a mapping (adapter, files, columns, options)")
                continue
            adapter = str(entry.get("adapter") or CANONICAL)
            if adapter not in ADAPTERS and adapter != CANONICAL:
                hint = did_you_mean(adapter, [*ADAPTERS, CANONICAL]) or f"adapters: {', '.join([*ADAPTERS, CANONICAL])}"
                out.add(Location(label, *_lcv(entry, "adapter")), f"unknown adapter '{adapter}'", hint)
                continue
            files_value = entry.get("files")
            patterns = files_value if isinstance(files_value, list) else [files_value] if files_value else []
            if not patterns:
                out.add(at, f"{table}: no files", "write files: a path or glob relative to sources.yaml")
                continue
            files: list[Path] = []
            for pattern in patterns:
                matched = expand(base, str(pattern))
                if not matched:
                    out.add(Location(label, *_lcv(entry, "files")), f"{table}: no file matches '{pattern}'",
                            f"paths are relative to {base}")
                files.extend(matched)
            columns: dict[str, ColumnSpec] = {}
            for column, spec in (entry.get("columns") or {}).items():
                cat = Location(label, *_lc(entry["columns"], column))
                if adapter in ("generic", CANONICAL) and column not in TABLES[table].column_names:
                    hint = did_you_mean(str(column), list(TABLES[table].column_names))
                    out.add(cat, f"{table} has no column '{column}'", hint)
                    continue
                try:
                    columns[str(column)] = ColumnSpec.parse(_plain(spec))
                except Exception as exc:  # noqa: BLE001 - re, DurationFormat, our own checks
                    out.add(cat, f"column '{column}': {exc}")
            options = {k: _plain(v) for k, v in entry.items() if k not in ("adapter", "files", "columns")}
            for key in options:
                if key not in OPTIONS:
                    hint = did_you_mean(str(key), list(OPTIONS)) or "see docs/adapters.md"
                    out.add(Location(label, *_lc(entry, key)), f"unknown option '{key}'", hint)
            options["_base"] = str(base)
            sources.append(Source(str(table), adapter, files, options, columns, at))
    out.raise_if_any(DataError)
    return sources


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def is_sources_file(path: str | Path) -> bool:
    p = Path(path)
    return p.suffix.lower() in (".yaml", ".yml") and not p.is_dir()
