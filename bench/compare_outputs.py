"""Compare two output sets of ``support-audit run`` by content (not bytes).

    python bench/compare_outputs.py OLD_OUT NEW_OUT

Findings, classifications, reconciliation and quarantine (Parquet) must have the same rows in
the same order with the same values; text columns that only one side has (``message_de`` when one
run wrote another report language) are listed, not compared. findings.csv and quarantine.csv
must be the same text when both sides wrote them; the findings as JSON (``findings.json`` of older
runs, ``findings.jsonl`` now) must hold the same rows. summary.json must be equal. Exit 0 when
everything matches, 1 with the differences on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl

TABLES = ("findings", "classifications", "reconciliation", "quarantine")


def _json_findings(out: Path) -> list[dict] | None:
    if (out / "findings.jsonl").exists():
        with open(out / "findings.jsonl", encoding="utf-8") as fh:
            return [json.loads(line) for line in fh]
    if (out / "findings.json").exists():
        return json.loads((out / "findings.json").read_text(encoding="utf-8"))["findings"]
    return None


def compare(old: Path, new: Path) -> list[str]:
    problems: list[str] = []
    for table in TABLES:
        a = pl.read_parquet(old / f"{table}.parquet")
        b = pl.read_parquet(new / f"{table}.parquet")
        common = [c for c in a.columns if c in b.columns]
        only = sorted(set(a.columns) ^ set(b.columns))
        if only:
            print(f"{table}: columns on one side only (not compared): {', '.join(only)}")
        if a.height != b.height:
            problems.append(f"{table}: {a.height} rows before, {b.height} after")
            continue
        if a.schema != b.schema and {c: a.schema[c] for c in common} != {c: b.schema[c] for c in common}:
            problems.append(f"{table}: column types differ")
        for c in common:
            if not a.get_column(c).equals(b.get_column(c)):
                problems.append(f"{table}.{c}: values differ")
        print(f"{table}: {a.height} rows, {len(common)} columns compared")
    for name in ("findings.csv", "quarantine.csv"):
        if (old / name).exists() and (new / name).exists():
            same = (old / name).read_bytes() == (new / name).read_bytes()
            print(f"{name}: {'identical' if same else 'DIFFERENT'}")
            if not same:
                problems.append(f"{name}: bytes differ")
    ja, jb = _json_findings(old), _json_findings(new)
    if ja is not None and jb is not None:
        keys = [k for k in (ja[0] if ja else {}) if k in (jb[0] if jb else {})]
        differ = len(ja) != len(jb) or any(
            {k: x[k] for k in keys if k != "due_at"} != {k: y[k] for k in keys if k != "due_at"}
            for x, y in zip(ja, jb, strict=False))
        print(f"findings JSON: {len(ja)} / {len(jb)} rows, {'same' if not differ else 'DIFFERENT'}")
        if differ:
            problems.append("findings JSON rows differ")
    sa = json.loads((old / "summary.json").read_text(encoding="utf-8"))
    sb = json.loads((new / "summary.json").read_text(encoding="utf-8"))
    if sa != sb:
        problems.append("summary.json differs: " + ", ".join(k for k in sa if sa.get(k) != sb.get(k)))
    print("summary.json:", "identical" if sa == sb else "DIFFERENT")
    return problems


def main() -> int:
    problems = compare(Path(sys.argv[1]), Path(sys.argv[2]))
    for p in problems:
        print("DIFF:", p)
    print("identical in content" if not problems else f"{len(problems)} difference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
