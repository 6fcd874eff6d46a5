"""Random policies from the JSON Schema (issue 14): ``check`` accepts them or refuses them with
``file:line`` and exit 2 — never a traceback, a hang or a crash — and the engine runs on every
bundle ``check`` accepts.

The bundles are drawn from ``audit/schema/policy.schema.json`` (what an editor with the schema
lets a user write): each drawn section replaces the default policy's section, so the required
sections are there and the rest of the bundle is sane. The strategy is built from the schema by
:func:`from_schema` below, which covers the keywords pydantic writes (``$ref``, ``anyOf``,
``enum``, ``const``, ``type``, ``properties``/``required``/``additionalProperties``,
``propertyNames``, ``items``, ``pattern``, ``minLength``, ``format: date``, numeric bounds) —
hypothesis-jsonschema 0.23.1, the latest release, fails on the first object with the installed
Hypothesis (it calls the removed private ``many.more()``).

The profiles of tests/test_fuzz.py: ``ci`` (derandomised, a few examples) or
``SUPPORT_AUDIT_FUZZ=long`` (``SUPPORT_AUDIT_FUZZ_EXAMPLES`` examples).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from ruamel.yaml import YAML
from test_engine_support import CUSTOMERS, SERVICES, entry, line, ticket
from test_fuzz import fuzz, write_bundle

from audit.cli import main
from audit.engine import run_engine
from audit.engine.testing import load_rows
from audit.errors import PolicyError
from audit.policy.loader import load_policy

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
SCHEMA = json.loads((ROOT / "audit" / "schema" / "policy.schema.json").read_text(encoding="utf-8"))

#: Texts a user might type into a free-text field: conditions, ids, kinds, zones, hostile ones.
TEXTS = ["category = 'webdesign'", "cause = 'customer' AND priority = 'urgent'",
         "regexp_matches(subject, 'a{1001}')", "read_csv('/etc/passwd') IS NULL", "true",
         "customer.contract = 'premium'", "standard", "extended", "extended_unbilled",
         "Europe/Berlin", "posixrules", "K-10007", "T-1", "2026-02-30", "<script>x</script>",
         "=HYPERLINK(\"x\")", "", " "]


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = {**SCHEMA["$defs"][name], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def from_schema(node: dict[str, Any], depth: int = 0) -> st.SearchStrategy:
    """Values valid under the JSON-Schema ``node`` (the subset pydantic emits)."""
    node = _resolve(node)
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    if "anyOf" in node:
        return st.one_of([from_schema(n, depth) for n in node["anyOf"]])
    kind = node.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**node, "type": k}, depth) for k in kind])
    if kind == "object":
        props = node.get("properties", {})
        required = set(node.get("required", ()))
        fixed = st.fixed_dictionaries(
            {k: from_schema(v, depth + 1) for k, v in props.items() if k in required},
            optional={k: from_schema(v, depth + 1) for k, v in props.items() if k not in required},
        )
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and depth < 4:
            keys = from_schema({"type": "string", **node.get("propertyNames", {})}, depth + 1)
            more = st.dictionaries(keys, from_schema(extra, depth + 1), max_size=3)
            return st.tuples(fixed, more).map(lambda pair: {**pair[1], **pair[0]})
        return fixed
    if kind == "array":
        return st.lists(from_schema(node.get("items", {}), depth + 1), max_size=3 if depth < 4 else 0)
    if kind == "string":
        if node.get("format") == "date":
            dates = st.dates(min_value=dt.date(1899, 1, 1), max_value=dt.date(3001, 1, 1))
            return st.one_of(dates, dates.map(dt.date.isoformat))
        if "pattern" in node:
            return st.from_regex(node["pattern"], fullmatch=True)
        texts = st.one_of(st.sampled_from(TEXTS), st.text(max_size=12))
        return texts.filter(lambda s: len(s) >= node.get("minLength", 0))
    if kind == "integer":
        low = node.get("minimum", node.get("exclusiveMinimum", -10**6 - 1) + 1)
        return st.integers(low, node.get("maximum", 10**6))
    if kind == "number":
        return st.one_of(st.integers(-10**4, 10**4), st.floats(-1e6, 1e6, allow_nan=False))
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return st.one_of(st.none(), st.booleans(), st.integers(), st.sampled_from(TEXTS))


SECTIONS = SCHEMA["properties"]
#: Which file of the default bundle holds which section.
_yaml = YAML(typ="safe")
HOME = {section: p.name for p in sorted(POLICIES.glob("*.yaml"))
        for section in (_yaml.load(p.read_text(encoding="utf-8")) or {})}


@st.composite
def bundles(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    """{file name: document}: the default bundle with one to three sections drawn from the schema."""
    chosen = draw(st.lists(st.sampled_from(sorted(SECTIONS)), min_size=1, max_size=3, unique=True))
    docs = {p.name: _yaml.load(p.read_text(encoding="utf-8")) or {}
            for p in sorted(POLICIES.glob("*.yaml"))}
    for section in chosen:
        value = draw(from_schema(SECTIONS[section]), label=section)
        docs.setdefault(HOME.get(section, "extra.yaml"), {})[section] = value
    return docs


FIXTURE = {
    "customers": CUSTOMERS,
    "services": SERVICES,
    "tickets": [ticket("T-1", "webdesign", "extended"), ticket("T-2", "documentation", "standard"),
                ticket("T-3", "service_fault", "standard", customer_id="K-2", cause="provider")],
    "time_entries": [entry("E-1", "T-1", "2026-03-10 10:00", minutes=20),
                     entry("E-2", "T-2", "2026-03-11 10:00", minutes=7),
                     entry("E-3", "T-3", "2026-04-01 00:10", minutes=45)],
    "invoice_lines": [line("L-1", "I-1", "T-1", "2026-03-31", "1", "17.50")],
}


@fuzz
@given(docs=bundles())
def test_schema_bundles_are_accepted_and_run_or_refused_at_a_line(tmp_path, capsys, docs):
    target = write_bundle(tmp_path / "policy", docs)
    with pytest.raises(SystemExit) as e:
        main(["check", "--policy", str(target), "--as-of", "2026-06-01"])
    out, err = capsys.readouterr()
    assert e.value.code in (0, 2), out + err
    assert "Traceback" not in out + err and "internal error" not in out + err
    try:
        bundle = load_policy(target)
    except PolicyError as error:
        assert error.exit_code == 2 and e.value.code == 2
        for d in error.diagnostics:  # each problem at a file of the bundle and a line in it
            assert Path(d.location.file).parent == target and (d.location.line or 0) >= 1, str(d)
        event("refused at file:line")
        return
    event("accepted: the engine runs it")
    con = duckdb.connect()
    try:
        load_rows(con, FIXTURE, timezone=bundle.settings.timezone)
        result = run_engine(con, bundle)
    finally:
        con.close()
    # nothing lost: every ticket has its classification, every time entry is reconciled
    assert set(result.classifications["ticket_id"]) == {"T-1", "T-2", "T-3"}
    assert result.reconciliation["entries"].sum() == 3
