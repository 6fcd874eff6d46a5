"""The JSON Schema of policy test case files (``<bundle>/tests/*.yaml``), generated from the
models in :mod:`audit.policytests.cases`, shipped as ``audit/schema/policy-tests.schema.json`` so
that an editor completes and checks a case file (``# yaml-language-server: $schema=…``).

Regenerate after changing the models (a test fails until you do)::

    .venv/bin/python -m audit.policytests.schema
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from audit.policy.schema import DECIMAL_PATTERN
from audit.policytests.cases import CaseFile

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "policy-tests.schema.json"


class _CaseSchema(GenerateJsonSchema):
    def decimal_schema(self, schema: Any) -> dict[str, Any]:
        # YAML reads 17.50 as a number, "17.50" as text: the case reader keeps both exact.
        return {"anyOf": [{"type": "number"}, {"type": "string", "pattern": DECIMAL_PATTERN}]}


def case_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one case file."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **CaseFile.model_json_schema(schema_generator=_CaseSchema),
        "title": "support-audit policy test cases",
        "description": "A file of test cases beside a policy bundle (<bundle>/tests/*.yaml); "
                       "see docs/policy-tests.md.",
    }


def schema_text() -> str:
    return json.dumps(case_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    from audit.outputs import atomic_write_text

    print(atomic_write_text(SCHEMA_PATH, schema_text()))
