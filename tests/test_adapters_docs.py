"""The sources.yaml snippets of the README and docs/adapters.md use real adapters and options."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from audit.adapters.products import ADAPTERS
from audit.adapters.sources import CANONICAL, OPTIONS
from audit.contract import TABLES

ROOT = Path(__file__).parent.parent


def _snippets() -> list[tuple[str, str]]:
    out = []
    for doc in ("README.md", "docs/adapters.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
            if block.startswith("  ") and re.match(r"  (tickets|time_entries|invoice_lines):", block):
                block = "tables:\n" + block
            if block.startswith(("tables:", "# sources.yaml")):
                out.append((doc, block))
    return out


@pytest.mark.parametrize(("doc", "block"), _snippets())
def test_sources_snippets_are_valid(doc: str, block: str) -> None:
    tables = YAML(typ="safe").load(block)["tables"]
    for table, entries in tables.items():
        assert table in TABLES, (doc, table)
        for entry in entries if isinstance(entries, list) else [entries]:
            if isinstance(entry, str):
                continue
            assert entry.get("adapter", CANONICAL) in (*ADAPTERS, CANONICAL), (doc, entry)
            unknown = set(entry) - {"adapter", "files", "columns"} - set(OPTIONS)
            assert not unknown, (doc, unknown)


def test_there_is_a_snippet_per_product() -> None:
    text = "\n".join(block for _, block in _snippets())
    for product in ADAPTERS:
        assert f"adapter: {product}" in text, product
