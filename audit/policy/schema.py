"""The policy format for editors and readers: a JSON Schema and a field reference, both generated.

Both come from :class:`~audit.policy.model.Bundle`, the same model the loader validates with, so
neither can drift from what the loader accepts. The schema is shipped as
``audit/schema/policy.schema.json``; policy files point at it with a
``# yaml-language-server: $schema=…`` comment, so an editor completes field names and flags a
wrong value while the file is being written. A bundle is split over several files, so the schema
describes one *file*: any subset of the top-level sections, and nothing else.

Regenerate both after changing the model (a test fails until you do)::

    .venv/bin/python -m audit.policy.schema
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from audit.policy.model import FINDING_KINDS, Bundle

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "policy.schema.json"
DOCS_PATH = Path(__file__).resolve().parents[2] / "docs" / "policy.md"
#: docs/policy.md has blocks ``<!-- BEGIN generated NAME … -->`` … ``<!-- END generated NAME -->``.
_MARKER = re.compile(
    r"(<!-- BEGIN generated (\w+)[^>]*-->\n).*?(<!-- END generated \2 -->)", re.DOTALL
)
#: Decimals (prices) are written as quoted strings: YAML would read 17.50 as a binary float.
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"


class _PolicySchema(GenerateJsonSchema):
    def decimal_schema(self, schema: Any) -> dict[str, Any]:
        return {"type": "string", "pattern": DECIMAL_PATTERN}


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one policy file."""
    generated = Bundle.model_json_schema(by_alias=True, schema_generator=_PolicySchema)
    generated.pop("required", None)  # any subset of the sections: the loader checks the whole
    generated["properties"]["findings"]["propertyNames"] = {"enum": list(FINDING_KINDS)}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **generated,
        "title": "support-audit policy file",
        "description": (
            "One file of a support-audit policy bundle: any of its top-level sections. "
            "The bundle as a whole needs metadata, tiers, classification and billing."
        ),
    }


def schema_text() -> str:
    """The schema as shipped: sorted keys, 2-space indent, final newline (byte-deterministic)."""
    return json.dumps(policy_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schema(path: str | Path = SCHEMA_PATH) -> Path:
    """Write the schema to ``path`` (atomically)."""
    from audit.outputs import atomic_write_text

    return atomic_write_text(path, schema_text())


# --------------------------------------------------------------------------------------------
# The field reference in docs/policy.md


def field_reference() -> str:
    """Markdown tables of every section and field, from the schema."""
    schema = policy_json_schema()
    defs = schema["$defs"]
    lines = ["| section | type | description |", "|---|---|---|"]
    for name, prop in schema["properties"].items():
        lines.append(f"| `{name}` | {_type(prop)} | {_cell(prop.get('description', ''))} |")
    for name in _defs_in_order(schema):
        model = defs[name]
        lines += ["", f"#### {name}", "", _cell(model.get("description", "")), ""]
        lines += ["| field | type | default | description |", "|---|---|---|---|"]
        for field, prop in model["properties"].items():
            default = "required" if field in model.get("required", ()) else _default(prop)
            lines.append(
                f"| `{field}` | {_type(prop)} | {default} | {_cell(prop.get('description', ''))} |"
            )
    return "\n".join(lines) + "\n"


def _defs_in_order(schema: dict[str, Any]) -> list[str]:
    """Model names in the order a reader meets them: each right after the field that uses it."""
    order: list[str] = []

    def visit(node: Any) -> None:
        for name in re.findall(r'"#/\$defs/(\w+)"', json.dumps(node)):
            if name not in order:
                order.append(name)
                visit(schema["$defs"][name])

    visit(list(schema["properties"].values()))
    return order


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in prop:
        return " or ".join(_type(p) for p in prop["anyOf"])
    if "enum" in prop:
        return " or ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    kind = prop.get("type")
    if kind == "array":
        return f"list of {_type(prop['items'])}"
    if kind == "object":
        keys = "finding kind" if "propertyNames" in prop else "text"
        return f"mapping of {keys} to {_type(prop.get('additionalProperties', {}))}"
    if kind == "string" and prop.get("pattern") == DECIMAL_PATTERN:
        return 'decimal, quoted ("17.50")'
    if kind == "string" and prop.get("format") == "date":
        return "date (YYYY-MM-DD)"
    if kind == "string" and "pattern" in prop:
        return f"text matching `{prop['pattern']}`"
    return {
        "string": "text",
        "integer": "whole number",
        "boolean": "true/false",
        "null": "null",
    }.get(kind, "any")


def _default(prop: dict[str, Any]) -> str:
    if "default" not in prop:
        return ""
    return f"`{json.dumps(prop['default'], ensure_ascii=False)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def column_reference() -> str:
    """Markdown table of the columns a condition may name."""
    from audit.policy.expr import CONDITION_COLUMN_INFO

    names: dict[str, list[str]] = {}
    for name, info in CONDITION_COLUMN_INFO.items():
        names.setdefault(info.column, []).append(f"`{name}`")
    lines = ["| write | type | meaning |", "|---|---|---|"]
    for name, info in CONDITION_COLUMN_INFO.items():
        if name.startswith("ticket."):
            continue  # listed with its short form
        written = " or ".join(names[info.column])
        typ = "true/false" if info.type == "boolean" else info.type
        lines.append(f"| {written} | {typ} | {_cell(info.description)} |")
    return "\n".join(lines) + "\n"


def fact_reference() -> str:
    """Markdown table of the facts only a signal's condition may name."""
    from audit.policy.expr import SIGNAL_FACTS

    lines = ["| write | type | meaning |", "|---|---|---|"]
    for name, info in SIGNAL_FACTS.items():
        lines.append(f"| `{name}` | {info.type} | {_cell(info.description)} |")
    return "\n".join(lines) + "\n"


#: The generated blocks of docs/policy.md, by name.
DOCS_BLOCKS = {"fields": field_reference, "columns": column_reference, "facts": fact_reference}


def docs_text(document: str) -> str:
    """``document`` (docs/policy.md) with every generated block brought up to date."""
    found = {m.group(2) for m in _MARKER.finditer(document)}
    if found != set(DOCS_BLOCKS):
        raise ValueError(
            f"{DOCS_PATH.name}: expected generated blocks {sorted(DOCS_BLOCKS)}, found {sorted(found)}"
        )
    return _MARKER.sub(
        lambda m: f"{m.group(1)}\n{DOCS_BLOCKS[m.group(2)]()}\n{m.group(3)}", document
    )


def main() -> int:
    """Regenerate the shipped schema and the field reference in docs/policy.md."""
    from audit.outputs import atomic_write_text

    print(f"wrote {write_schema()}")
    if DOCS_PATH.exists():
        atomic_write_text(DOCS_PATH, docs_text(DOCS_PATH.read_text(encoding="utf-8")))
        print(f"updated {DOCS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
