"""The JSON Schema for editors and the field reference in docs/policy.md: generated, never drifting."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from audit.policy.expr import FUNCTIONS
from audit.policy.schema import (
    DOCS_PATH,
    SCHEMA_PATH,
    docs_text,
    policy_json_schema,
    schema_text,
    write_schema,
)

POLICIES = Path(__file__).resolve().parent.parent / "policies"


def as_editor_sees_it(path: Path) -> Any:
    """A policy file as JSON data: YAML dates are plain strings to an editor's schema check."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value.isoformat() if isinstance(value, dt.date) else value

    return plain(YAML(typ="safe").load(path.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_shipped_schema_is_the_generated_one(tmp_path: Path) -> None:
    """If this fails, run: .venv/bin/python -m audit.policy.schema"""
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text()
    written = write_schema(tmp_path / "policy.schema.json")
    assert written.read_bytes() == SCHEMA_PATH.read_bytes()


@pytest.mark.parametrize("name", sorted(p.name for p in POLICIES.glob("*.yaml")))
def test_every_default_policy_file_validates(
    name: str, validator: jsonschema.Draft202012Validator
) -> None:
    assert [e.message for e in validator.iter_errors(as_editor_sees_it(POLICIES / name))] == []


def test_any_subset_of_sections_is_a_valid_file(validator: jsonschema.Draft202012Validator) -> None:
    assert validator.is_valid({})
    assert validator.is_valid({"waivers": []})
    assert validator.is_valid(
        {"billing": {"prices": [{"from": "2026-01-01", "unit_price": "17.50"}]}}
    )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"tarifs": {}}, "Additional properties are not allowed ('tarifs' was unexpected)"),
        (
            {"billing": {"prices": [{"from": "2026-01-01", "unit_price": 17.5}]}},
            "17.5 is not of type 'string'",
        ),
        (
            {"billing": {"prices": [{"valid_from": "2026-01-01", "unit_price": "1"}]}},
            "'from' is a required property",
        ),
        ({"findings": {"tier_mismach": {}}}, "'tier_mismach' is not one of"),
        (
            {"billing": {"prices": [], "rounding": "up"}},
            "'up' is not one of ['ceil', 'nearest', 'floor']",
        ),
        (
            {"tiers": [{"id": "standard", "billable": False, "loc": {}}]},
            "Additional properties are not allowed ('loc' was unexpected)",
        ),
    ],
)
def test_the_schema_flags_what_the_loader_refuses(
    document: dict, message: str, validator: jsonschema.Draft202012Validator
) -> None:
    assert any(e.message.startswith(message) for e in validator.iter_errors(document))


def test_the_schema_has_no_loader_internals() -> None:
    text = json.dumps(policy_json_schema())
    for internal in ('"loc"', '"root"', '"file_hashes"', '"section_locs"', '"valid_from"'):
        assert internal not in text


def test_the_field_reference_in_the_docs_is_current() -> None:
    """If this fails, run: .venv/bin/python -m audit.policy.schema"""
    document = DOCS_PATH.read_text(encoding="utf-8")
    assert docs_text(document) == document
    assert '| `unit_price` | decimal, quoted ("17.50") | required |' in document
    assert "| `service.managed` | true/false |" in document


def test_every_function_is_documented() -> None:
    document = DOCS_PATH.read_text(encoding="utf-8")
    for name in FUNCTIONS:
        assert f"`{name}(" in document
