"""docs/data-contract.md describes the contract the code enforces (no drift)."""

from __future__ import annotations

import re
from pathlib import Path

from audit.contract import TABLES, duckdb_type

DOC = (Path(__file__).parent.parent / "docs" / "data-contract.md").read_text(encoding="utf-8")


def section(table: str) -> str:
    match = re.search(rf"^### {table} — .*?(?=^### |^## )", DOC, flags=re.S | re.M)
    assert match, f"no section for {table}"
    return match.group(0)


def test_every_column_is_documented_with_its_type_and_requiredness():
    for name, table in TABLES.items():
        text = section(name)
        for column in table.columns:
            row = re.search(rf"^\| {column.name} \| ([^|]+) \| ([^|]+) \| ([^|]+) \|", text, flags=re.M)
            assert row, f"{name}.{column.name} is not in the table of {name}"
            assert row.group(1).strip() == duckdb_type(column), (name, column.name)
            required = row.group(2).strip()
            if required != "—":  # computed columns are not read
                assert required == ("yes" if column.required else "no"), (name, column.name)
            assert row.group(3).strip() == ("yes" if column.nullable else "no"), (name, column.name)


def test_every_expectation_kind_of_a_table_is_named_in_its_section():
    for name, table in TABLES.items():
        text = section(name)
        for e in table.expectations:
            assert e.type in text, (name, e.type)
            assert (e.kwargs.get("column") or e.kwargs["column_A"]) in text, (name, e.id)
