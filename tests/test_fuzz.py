"""Fuzzing (hypothesis): hostile and odd inputs never crash ingestion, ``check`` or ``run``.

Properties:

* random bytes, and random well-formed but odd CSV / JSON Lines / Parquet exports, through
  ingestion: either a DataError (exit 3) or every row accounted for, rows in = loaded +
  quarantined, and the number of rows read is the number written;
* random edits of the default policy (values of every kind in every field): ``check`` either
  accepts the bundle or refuses it with a PolicyError (exit 2) — and a bundle ``check`` accepts
  always runs (exit 0 or 1): "check ok ⇒ run ok";
* the CLI on random inputs exits with a documented code in {0, 1, 2, 3, 4}, never 5, never with a
  traceback.

Profiles: ``ci`` (default; derandomised, a few examples per property so the suite stays fast) and
``long`` (``SUPPORT_AUDIT_FUZZ=long``: 300 random examples per property, or
``SUPPORT_AUDIT_FUZZ_EXAMPLES``, for a local run before a release:
``SUPPORT_AUDIT_FUZZ=long .venv/bin/python -m pytest tests/test_fuzz.py``).
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import os
import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from audit.api import run_audit
from audit.cli import main
from audit.contract import TABLES as CONTRACT
from audit.db import connect
from audit.errors import DataError, PolicyError
from audit.ingest import load_data
from audit.policy.loader import load_policy

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
TIERS = ["standard", "extended"]

settings.register_profile(
    "ci", max_examples=4, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large],
)
settings.register_profile(
    "long", max_examples=int(os.environ.get("SUPPORT_AUDIT_FUZZ_EXAMPLES", "300")), deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large],
)
PROFILE = "long" if os.environ.get("SUPPORT_AUDIT_FUZZ") == "long" else "ci"
fuzz = settings.get_profile(PROFILE)


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    """A small generated export (a dozen tickets, one month, planted errors)."""
    from audit.sample import generate

    data = tmp_path_factory.mktemp("fuzz") / "data"
    generate(data, seed=3, months=1, tickets=12, start="2026-05", fmt="csv", dirty=True,
             progress=lambda _m: None)
    (data / "ground_truth.json").unlink()
    return data


def fresh(small_data: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(small_data, target)
    return target


def ingest(data: Path) -> object | None:
    """load_data: None for a DataError; else the result, whose counts must reconcile."""
    con = connect()
    try:
        result = load_data(con, data, timezone="Europe/Berlin", tier_ids=TIERS, gx="off")
    except DataError as error:
        assert error.exit_code == 3 and str(error)
        return None
    finally:
        con.close()
    for name, counts in result.tables.items():
        assert counts.rows_in == counts.loaded + counts.quarantined, name
    quarantined = {(r["table"], r["line"]) for r in result.quarantine.to_pylist()}
    assert len(quarantined) == sum(c.quarantined for c in result.tables.values())
    return result


# --- ingestion ----------------------------------------------------------------------------------

TABLE_FILES = ["tickets.csv", "customers.csv", "time_entries.csv", "services.json",
               "invoice_lines.jsonl", "tickets.parquet", "customers.parquet"]


@fuzz
@given(name=st.sampled_from(TABLE_FILES), content=st.binary(max_size=2000))
def test_random_bytes_as_an_export(small_data, tmp_path, name, content):
    data = fresh(small_data, tmp_path, "bytes")
    table = name.split(".")[0]
    (data / f"{table}.csv").unlink()
    (data / name).write_bytes(content)
    ingest(data)


ODD_TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "NULL", "null", "=HYPERLINK(\"x\")", "+1", "-0", "1e309", "NaN",
                     "17,50", "1.234,56", "0001-01-01", "31.02.2026 10:00", "2026-03-29 02:30",
                     "2026-10-25 02:30", "9999-12-31T23:59:59+14:00", "\x1b]0;x\x07", "\"", "\"\"",
                     "a\nb", "a\r\nb", ";", ",", "\t", "\ufeff", "ä€", "true", "ja", "T-1", "K-1"]),
)


def _rows(table: str, draw_rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    columns = [c.name for c in CONTRACT[table].columns if c.name != "duration_seconds"]
    return columns, [(row + [""] * len(columns))[: len(columns)] for row in draw_rows]


@fuzz
@given(table=st.sampled_from(["tickets", "customers", "time_entries", "invoice_lines", "services"]),
       rows=st.lists(st.lists(ODD_TEXT, max_size=14), max_size=12),
       delimiter=st.sampled_from([",", ";", "\t"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]),
       newline=st.sampled_from(["\n", "\r\n"]))
def test_odd_csv_exports_reconcile(small_data, tmp_path, table, rows, delimiter, encoding, newline):
    data = fresh(small_data, tmp_path, "csv")
    columns, body = _rows(table, rows)
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=newline)
    writer.writerow(columns)
    writer.writerows(body)
    try:
        raw = buf.getvalue().encode(encoding)
    except UnicodeEncodeError:
        assume(False)
    (data / f"{table}.csv").write_bytes(raw)
    result = ingest(data)
    if result is not None:
        assert result.tables[table].rows_in >= len([r for r in body if any(c.strip() for c in r)])


JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), ODD_TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6,
)


@fuzz
@given(table=st.sampled_from(["customers", "services", "invoice_lines"]),
       records=st.lists(st.dictionaries(
           st.one_of(st.sampled_from(["customer_id", "name", "name ", "Name", "contract", "service_id",
                                      "product", "managed", "line_id", "amount", "quantity"]),
                     st.text(max_size=8)),
           JSON_VALUE, max_size=8), max_size=10),
       lines=st.booleans())
def test_odd_json_exports_reconcile(small_data, tmp_path, table, records, lines):
    data = fresh(small_data, tmp_path, "json")
    (data / f"{table}.csv").unlink()
    if lines:
        text = "".join(json.dumps(r, allow_nan=True) + "\n" for r in records)
        (data / f"{table}.jsonl").write_text(text, encoding="utf-8")
    else:
        (data / f"{table}.json").write_text(json.dumps(records, allow_nan=True), encoding="utf-8")
    result = ingest(data)
    if result is not None:
        assert result.tables[table].rows_in == len(records)


PARQUET_COLUMN = st.one_of(
    st.lists(st.one_of(st.none(), ODD_TEXT), min_size=3, max_size=3).map(lambda v: pa.array(v, pa.string())),
    st.lists(st.one_of(st.none(), st.integers(-2**62, 2**62)), min_size=3, max_size=3).map(lambda v: pa.array(v, pa.int64())),
    st.lists(st.one_of(st.none(), st.floats()), min_size=3, max_size=3).map(lambda v: pa.array(v, pa.float64())),
    st.lists(st.one_of(st.none(), st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30))),
             min_size=3, max_size=3).map(lambda v: pa.array(v, pa.timestamp("us"))),
    st.lists(st.one_of(st.none(), st.decimals(min_value=-10**9, max_value=10**9, places=3)),
             min_size=3, max_size=3).map(lambda v: pa.array(v, pa.decimal128(18, 3))),
    st.lists(st.one_of(st.none(), st.dates(min_value=dt.date(1, 1, 1))), min_size=3, max_size=3)
    .map(lambda v: pa.array(v, pa.date32())),
    st.lists(st.one_of(st.none(), st.booleans()), min_size=3, max_size=3).map(lambda v: pa.array(v, pa.bool_())),
)


@fuzz
@given(table=st.sampled_from(["tickets", "customers", "time_entries", "invoice_lines"]),
       types=st.lists(PARQUET_COLUMN, min_size=12, max_size=12))
def test_odd_parquet_exports_reconcile(small_data, tmp_path, table, types):
    data = fresh(small_data, tmp_path, "parquet")
    (data / f"{table}.csv").unlink()
    columns = [c.name for c in CONTRACT[table].columns if c.name != "duration_seconds"]
    pq.write_table(pa.table(dict(zip(columns, types, strict=False))), data / f"{table}.parquet")
    result = ingest(data)
    if result is not None:
        assert result.tables[table].rows_in == 3


# --- policies: check ok => run ok ---------------------------------------------------------------

def _policy_documents() -> dict[str, object]:
    yaml = YAML(typ="safe")
    return {p.name: yaml.load(p.read_text(encoding="utf-8")) for p in sorted(POLICIES.glob("*.yaml"))}


BASE = _policy_documents()


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


PLACES = [(name, path) for name, doc in BASE.items() for path in _paths(doc)]

ODD_POOL = [
        "0", "0.00", "-0.01", "1e309", "99999999999999999.99", "9999999999999999.99", "0.001",
        "posixrules", "localtime", "right/UTC", "UTC", "Europe/Berlin", "America/St_Johns",
        "2026-02-30", "0000-01-01", "1900-01-01", "2999-12-31", "2026-06-30", "2026-07-01",
        "regexp_matches(subject, 'a{1001}')", "regexp_matches(subject, '(a*)*')",
        r"regexp_matches(subject, '\p{Greek}', 'i')", "category IN ('a', 'b')",
        "category = 'x' OR " * 30 + "true", "subject LIKE '%\\_%'", "NOT (tier IS NULL)",
        "read_csv('/etc/passwd') IS NULL", "1 = 1; DROP TABLE tickets", "priority = 'urgent'",
        "service.managed", "customer.contract = 'premium'", "opened_at > resolved_at",
        "ceil", "nearest", "floor", "entry", "ticket_month", "extended", "standard", "error",
        "warning", "info", "T-100001", "K-10007", "2026-05", "units_mismatch", "de", "en",
        "EUR", "month", 15, 1, 1440, 1441, 0, -15, True, [], {},
]
TEXT_POOL = [v for v in ODD_POOL if isinstance(v, str)]
ODD_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False),
    st.dates(min_value=dt.date(1, 1, 1)), st.text(max_size=20),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10**18, max_value=10**18).map(str),
    st.sampled_from(ODD_POOL),
)


def _has(node: dict | list, step: object) -> bool:
    return step in node if isinstance(node, dict) else isinstance(step, int) and step < len(node)


def _like(value: object) -> st.SearchStrategy:
    """Values of the same kind as ``value``: most edits should still pass ``check``, so that
    ``run`` gets to see them."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.one_of(st.integers(-2, 1500), st.sampled_from([1, 15, 30, 60, 1440, 1441]))
    if isinstance(value, dt.date):
        return st.one_of(st.dates(min_value=dt.date(1899, 12, 1), max_value=dt.date(3000, 1, 31)),
                         st.sampled_from([dt.date(2026, 6, 30), dt.date(2026, 7, 1), dt.date(2026, 1, 1)]))
    if isinstance(value, str):
        return st.one_of(st.sampled_from(TEXT_POOL), st.text(max_size=12))
    return ODD_VALUE


def write_bundle(target: Path, docs: dict[str, object]) -> Path:
    """A fresh bundle directory ``target`` with the documents ``{file name: document}`` as YAML."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    for name, doc in docs.items():
        with open(target / name, "w", encoding="utf-8") as fh:
            yaml.dump(doc, fh)
    return target


@fuzz
@given(data=st.data(), places=st.lists(st.sampled_from(PLACES), min_size=1, max_size=3))
def test_check_ok_implies_run_ok(small_data, tmp_path, data, places):
    edits = []
    for name, path in places:
        current: object = BASE[name]
        for step in path:
            current = current[step]  # type: ignore[index]
        value = data.draw(st.one_of(_like(current), _like(current), ODD_VALUE), label=f"{name}:{path}")
        edits.append(((name, path), value))
    docs = copy.deepcopy(BASE)
    for (name, path), value in edits:
        node = docs[name]
        for step in path[:-1]:  # an earlier edit may have replaced a parent: skip this one then
            node = node[step] if isinstance(node, (dict, list)) and _has(node, step) else None
        if isinstance(node, (dict, list)) and _has(node, path[-1]):
            node[path[-1]] = value
    target = write_bundle(tmp_path / "policy", docs)
    try:
        load_policy(target)
    except PolicyError as error:
        assert error.exit_code == 2 and str(error)
        event("check refused the policy")
        return
    event("check accepted the policy: run")
    result = run_audit(target, small_data, None, gx="off")  # must not raise: check said ok
    assert result.exit_code in (0, 1)


# --- the CLI end to end -------------------------------------------------------------------------

@fuzz
@given(name=st.sampled_from(["tickets.csv", "invoice_lines.csv", "bundle.yaml", "billing.yaml"]),
       content=st.one_of(st.binary(max_size=600), st.text(max_size=600).map(str.encode)))
def test_cli_exit_codes_are_documented(small_data, tmp_path, capsys, name, content):
    data = fresh(small_data, tmp_path, "cli-data")
    policy = tmp_path / "cli-policy"
    if policy.exists():
        shutil.rmtree(policy)
    shutil.copytree(POLICIES, policy)
    (data / name if name.endswith(".csv") else policy / name).write_bytes(content)
    with pytest.raises(SystemExit) as exc:
        main(["run", "--policy", str(policy), "--data", str(data), "--out", str(tmp_path / "out"),
              "-q", "--gx", "off", "--no-report"])
    _, err = capsys.readouterr()
    assert exc.value.code in (0, 1, 2, 3, 4), err
    assert "Traceback" not in err and "internal error" not in err


def test_profile_is_bounded_in_ci():
    """The default profile keeps the suite fast; the long one is opt-in."""
    assert PROFILE == "long" or settings.get_profile("ci").max_examples <= 10
    assert Decimal("0.00") == 0  # money in the fuzzed policies is compared exactly
