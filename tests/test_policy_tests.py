"""``support-audit test``: the shipped cases, broken policies, coverage, JUnit, bad case files.

The broken copies are the default bundle with one edit a policy author could make by mistake;
which cases must then fail, and with which numbers, is worked out by hand in each test.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from audit.cli import main
from audit.policy.loader import load_policy
from audit.policytests import run_policy_tests
from audit.policytests.runner import pack

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
CLAUSES = {"STD-1", "STD-2", "STD-3", "STD-4", "EXT-1", "EXT-2", "EXT-3", "BILL-1", "BILL-2", "BILL-3"}


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def copy_bundle(tmp_path: Path, edit: tuple[str, str, str] | None = None) -> Path:
    """The default bundle with its cases, optionally with ``old`` replaced by ``new`` once in ``file``."""
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    if edit:
        file, old, new = edit
        text = (target / file).read_text(encoding="utf-8")
        assert text.count(old) == 1, old
        (target / file).write_text(text.replace(old, new), encoding="utf-8")
    return target


def write_cases(bundle: Path, name: str, text: str) -> Path:
    path = bundle / "tests" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def shipped():
    return run_policy_tests(POLICIES)


# --------------------------------------------------------------------------------------------
# The shipped cases


def test_shipped_cases_pass_at_full_coverage(shipped):
    failed = [(r.case.title, r.problems) for r in shipped.results if r.outcome != "passed"]
    assert failed == []
    assert len(shipped.results) >= 30
    assert shipped.coverage.percent == 100.0
    assert shipped.coverage.uncovered == []
    kinds = shipped.coverage.by_kind()
    assert kinds["rule"] == (10, 10) and kinds["price"] == (2, 2) and kinds["finding"] == (12, 12)
    assert kinds["waiver"] == (1, 1) and kinds["rounding"] == (1, 1) and kinds["signal"] == (3, 3)
    # one evaluation for all of them: no two shipped cases write the same id
    assert shipped.batches == 1


def test_shipped_cases_name_every_clause_and_the_rounding_edges(shipped):
    clauses = {c for r in shipped.results for c in r.case.model.clauses}
    assert CLAUSES <= clauses
    seconds = {e.model_dump(exclude_unset=True).get("seconds")
               for r in shipped.results for e in r.case.model.time_entries}
    assert {0, 1, 900, 901} <= seconds
    starts = {e.model_dump(exclude_unset=True).get("started_at")
              for r in shipped.results for e in r.case.model.time_entries}
    # across midnight into the new price, and both DST switches of Europe/Berlin in 2026
    assert {"2026-06-30 23:50:00", "2026-03-29 01:50:00", "2026-10-25 01:50:00"} <= starts


def test_cli_passes_shipped_policy_and_writes_junit(capsys, tmp_path):
    junit = tmp_path / "junit.xml"
    code, out, _ = run_cli(capsys, "test", "--policy", str(POLICIES), "--min-coverage", "100",
                           "--fail-on-empty", "--junit", str(junit))
    assert code == 0, out
    assert "coverage: 100.0 %" in out
    assert re.search(r"^policy-tests: \d+ passed, 0 failed$", out, re.M)
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert {s.get("name") for s in suites} == {"tests/billing.yaml", "tests/classification.yaml",
                                               "tests/signals.yaml", "tests/sla.yaml",
                                               "tests/waivers.yaml"}
    total = 0
    for suite in suites:
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases) > 0
        assert suite.get("failures") == "0" and suite.get("errors") == "0"
        assert all(c.get("classname") == suite.get("name") and c.get("name") for c in cases)
        assert all(c.find("failure") is None and c.find("error") is None for c in cases)
        float(suite.get("time"))
        total += len(cases)
    assert int(root.get("tests")) == total
    names = {c.get("name") for c in root.iter("testcase")}
    assert {"bill2-901-seconds", "std4-managed-service-fault", "w-2026-001-scope-and-expiry"} <= names


def test_junit_is_reproducible_with_source_date_epoch(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1780000000")
    first, second = tmp_path / "a.xml", tmp_path / "b.xml"
    for path in (first, second):
        assert run_cli(capsys, "test", "--policy", str(POLICIES), "-k", "bill2", "--junit", str(path))[0] == 0
    assert first.read_bytes() == second.read_bytes()
    assert b'timestamp="2026-05-28T20:26:40"' in first.read_bytes()


# --------------------------------------------------------------------------------------------
# Deliberately broken policies


def test_flipped_tier_fails_with_expected_vs_actual_and_the_arithmetic(capsys, tmp_path):
    # webdesign's rule now says standard: every web design case expecting extended money fails
    bundle = copy_bundle(tmp_path, ("classification.yaml",
                                    "    - id: webdesign\n      tier: extended",
                                    "    - id: webdesign\n      tier: standard"))
    junit = tmp_path / "junit.xml"
    code, out, _ = run_cli(capsys, "test", "--policy", str(bundle), "-k", "ext1-webdesign",
                           "--junit", str(junit))
    assert code == 1
    case_file = bundle / "tests" / "classification.yaml"
    assert "FAIL tests/classification.yaml::ext1-webdesign" in out
    assert re.search(rf"{re.escape(str(case_file))}:\d+:7: ticket c\d+-T1: policy tier: expected extended, "
                     r"got standard \(rule webdesign \(classification.yaml:\d+\)\)", out)
    # 25 minutes are 2 units × 17.50 € = 35.00 € expected, but standard support expects 0.00
    assert "expected_eur: expected 35.00, got 0.00" in out
    # the billed line is now a standard_billed finding the case did not list
    assert "standard_billed" in out and "over-billed 35.00" in out
    # the explain text of the ticket follows: the rules in order and the billing arithmetic
    assert "the arithmetic (support-audit explain):" in out
    assert "when category = 'webdesign'  ⇒ TRUE  ← decides" in out
    assert "tier standard (rule webdesign) is not billable: expected 0.00 €" in out
    assert "policy-tests: 0 passed, 1 failed" in out
    (case,) = ET.parse(junit).getroot().iter("testcase")
    failure = case.find("failure")
    assert failure is not None
    assert "policy tier: expected extended, got standard" in failure.get("message")
    assert "Classification (rules in order" in failure.text


def test_changed_price_fails_exactly_the_cases_priced_after_june(tmp_path):
    # 19.00 → 19.50 from 1 July 2026: by hand, the cases with an entry or line on or after 1 Jul
    bundle = copy_bundle(tmp_path, ("billing.yaml", 'unit_price: "19.00"', 'unit_price: "19.50"'))
    run = run_policy_tests(bundle)
    failed = {r.case.id: r for r in run.results if r.outcome != "passed"}
    assert set(failed) == {
        "bill2-price-change",  # July: 2 units × 19.50 = 39.00, not 38.00
        "bill2-price-mismatch",  # 39.00 expected, price mismatch 2 × 2.00 = 4.00
        "bill2-dst-fall-back",  # October: 6 × 19.50 = 117.00, and the line's 19.00 mismatches
        "bill2-dst-ambiguous-start",  # October: 4 × 19.50 = 78.00
        "w-2026-001-scope-and-expiry",  # December and January: 2 × 19.50 = 39.00
    }
    text = "\n".join(failed["bill2-price-change"].problems)
    assert "2026-07: expected_eur: expected 38.00, got 39.00" in text
    assert "2 units × 19.50 € = 39.00 €" in text
    mismatch = "\n".join(failed["bill2-price-mismatch"].problems)
    assert "delta_eur: expected 3.00, got 4.00" in mismatch
    assert "expected a finding with billed_eur=35.00, delta_eur=3.00, expected_eur=38.00, " \
           "kind=price_mismatch, month=2026-07, rule=billing.prices@2026-07-01, got 0" in mismatch
    assert "price list billing.prices@2026-07-01 says 19.50 €: 2 units × 2.00 € = 4.00 €" in mismatch
    assert "billing.prices@2026-07-01" in failed["bill2-price-change"].explanation


def test_coverage_names_what_no_case_exercises(capsys, tmp_path):
    bundle = copy_bundle(tmp_path)
    (bundle / "tests" / "waivers.yaml").unlink()
    code, out, err = run_cli(capsys, "test", "--policy", str(bundle), "--min-coverage", "100")
    assert code == 1
    assert "coverage: 96.6 % (28/29 items" in out  # every item but the waiver
    assert re.search(rf"{re.escape(str(bundle / 'waivers.yaml'))}:5:5 +waiver W-2026-001", out)
    assert "below --min-coverage 100 %" in err
    # the same run without the threshold passes
    assert run_cli(capsys, "test", "--policy", str(bundle))[0] == 0
    assert run_cli(capsys, "test", "--policy", str(bundle), "--min-coverage", "95")[0] == 0


def test_uncovered_rule_is_listed_with_its_line(tmp_path):
    bundle = copy_bundle(tmp_path)
    run = run_policy_tests(bundle, pattern="ext3-data-loss")
    assert [r.case.id for r in run.results] == ["ext3-data-loss"]
    rules = {i.name.split()[0]: i for i in run.coverage.items if i.kind == "rule"}
    assert rules["data-loss"].covered and not rules["webdesign"].covered
    assert rules["webdesign"].where == f"{bundle / 'classification.yaml'}:46:7"


# --------------------------------------------------------------------------------------------
# Empty suites, selection, usage


def test_no_cases_fails_only_with_fail_on_empty(capsys, tmp_path):
    bundle = copy_bundle(tmp_path)
    shutil.rmtree(bundle / "tests")
    code, out, err = run_cli(capsys, "test", "--policy", str(bundle), "--fail-on-empty")
    assert code == 1
    assert f"error: no test case in {bundle / 'tests'}" in err
    assert "policy-tests: 0 passed, 0 failed" in out
    code, _, err = run_cli(capsys, "test", "--policy", str(bundle))
    assert code == 0 and "warning: no test case" in err
    code, _, err = run_cli(capsys, "test", "--policy", str(POLICIES), "-k", "no-such-case", "--fail-on-empty")
    assert code == 1 and "matching -k 'no-such-case'" in err


def test_k_selects_by_id_file_or_name(shipped):
    assert {r.case.id for r in run_policy_tests(POLICIES, pattern="DST").results} == {
        "bill2-dst-spring-forward", "bill2-dst-fall-back", "bill2-dst-ambiguous-start"}
    by_file = run_policy_tests(POLICIES, pattern="waivers.yaml::")
    assert [r.case.id for r in by_file.results] == ["w-2026-001-scope-and-expiry"]


def test_bad_min_coverage_is_usage_error(capsys):
    code, _, err = run_cli(capsys, "test", "--policy", str(POLICIES), "--min-coverage", "101")
    assert code == 4 and "Traceback" not in err


def test_policy_loader_ignores_the_tests_folder(tmp_path):
    bundle = copy_bundle(tmp_path)
    # a case file would be an unknown section ('cases') if the loader read it
    loaded = load_policy(bundle)
    assert not any(name.startswith("tests") for name in loaded.file_hashes)
    assert loaded.digest == load_policy(POLICIES).digest


# --------------------------------------------------------------------------------------------
# Bad case files: exit 2, every problem at file:line:col


def test_bad_case_files_report_every_problem_where_it_is(capsys, tmp_path):
    bundle = copy_bundle(tmp_path)
    bad = write_cases(bundle, "bad.yaml", """\
        cases:
          - id: one
            tickets: [{categroy: webdesign}]
            expect: {tier: extended}
          - id: two
            tickets: [{category: webdesign}]
            time_entries: [{minutes: 20}, {date: 2026-06-01}]
            expect:
              rule: web-design
              findings: [{kind: extended_unbiled}, {kind: units_mismatch, ticket: T-9}]
          - id: two
            tickets: [{category: webdesign}]
            expect: {tier: extended, money: 1}
        """)
    write_cases(bundle, "broken.yaml", "cases:\n  - id: x\n    tickets: [{category: a}\n    expect: {}\n")
    code, out, err = run_cli(capsys, "test", "--policy", str(bundle))
    assert code == 2 and out == ""
    f = str(bad)
    assert err.splitlines() == [
        f"error: {f}:3:16: unknown column 'categroy' of tickets (did you mean 'category'?)",
        f"{f}:7:35: a time entry needs minutes, seconds or ended_at",
        f"{f}:9:13: unknown rule 'web-design' (did you mean 'webdesign'?)",
        f"{f}:10:25: unknown finding kind 'extended_unbiled' (did you mean 'extended_unbilled'?)",
        f"{f}:10:75: ticket 'T-9' is not a ticket of this case (its tickets: c1-T1)",
        f"{f}:13:30: unknown field 'money' (allowed: tier, rule, entries, tracked_seconds, expected_units, "
        "expected_eur, billed_units, billed_eur, delta_eur, tickets, months, findings, no_findings, "
        "no_other_findings)",
        f"{bundle / 'tests' / 'broken.yaml'}:4:5: YAML syntax error: expected ',' or ']', but got "
        "'<scalar>' (while parsing a flow sequence at line 3, column 14)",
    ]


def test_duplicate_case_id_and_unknown_waiver(capsys, tmp_path):
    bundle = copy_bundle(tmp_path)
    path = write_cases(bundle, "dup.yaml", """\
        cases:
          - id: bill1-extended-unbilled
            tickets: [{category: webdesign}]
            expect: {tier: extended}
          - id: waived
            tickets: [{category: webdesign}]
            expect:
              findings: [{kind: extended_unbilled, waiver: W-2026-01}]
        """)
    code, _, err = run_cli(capsys, "test", "--policy", str(bundle))
    assert code == 2
    assert f"{path}:2:9: duplicate case id 'bill1-extended-unbilled' (it is already used at " \
           f"{bundle / 'tests' / 'billing.yaml'}:10:5)" in err
    assert f"{path}:8:52: unknown waiver 'W-2026-01' (did you mean 'W-2026-001'?)" in err


def test_row_the_contract_rejects_is_a_case_error_at_its_line(capsys, tmp_path):
    bundle = copy_bundle(tmp_path)
    shutil.rmtree(bundle / "tests")
    path = write_cases(bundle, "rows.yaml", """\
        cases:
          - id: backwards
            tickets: [{category: webdesign}]
            time_entries:
              - {started_at: "2026-06-10 10:00:00", ended_at: "2026-06-10 09:00:00"}
            expect: {tier: extended}
          - id: fine
            tickets: [{category: webdesign}]
            time_entries: [{minutes: 20}]
            expect: {tier: extended, expected_eur: 35.00, findings: [extended_unbilled]}
        """)
    junit = tmp_path / "j.xml"
    code, out, _ = run_cli(capsys, "test", "--policy", str(bundle), "--junit", str(junit))
    assert code == 1
    assert "ERROR tests/rows.yaml::backwards" in out
    assert f"{path}:5:9: time_entries row not loaded: ended_at 2026-06-10 09:00:00 is before started_at " \
           "2026-06-10 10:00:00" in out
    assert "policy-tests: 1 passed, 1 failed" in out
    root = ET.parse(junit).getroot()
    assert root.get("errors") == "1" and root.get("failures") == "0"
    (error,) = root.iter("error")
    assert "row not loaded" in error.get("message")


# --------------------------------------------------------------------------------------------
# Ids: kept as written, cases that share one run apart


def test_cases_sharing_an_id_run_in_separate_batches_and_waivers_still_match(tmp_path):
    bundle = copy_bundle(tmp_path)
    shutil.rmtree(bundle / "tests")
    write_cases(bundle, "w.yaml", """\
        cases:
          - id: waived-june
            customers: [{customer_id: K-10007}]
            tickets: [{category: webdesign}]
            time_entries: [{minutes: 20}]
            expect: {findings: [{kind: extended_unbilled, status: waived, waiver: W-2026-001}], no_other_findings: true}
          - id: waived-july
            customers: [{customer_id: K-10007}]
            tickets: [{category: webdesign}]
            time_entries: [{date: 2026-07-02, minutes: 20}]
            expect: {findings: [{kind: extended_unbilled, status: waived, delta_eur: 38.00}], no_other_findings: true}
          - id: other
            tickets: [{category: webdesign}]
            time_entries: [{minutes: 20}]
            expect: {findings: [{kind: extended_unbilled, status: open, waiver: null}]}
        """)
    run = run_policy_tests(bundle)
    assert [r.outcome for r in run.results] == ["passed"] * 3
    assert run.batches == 2
    assert [[c.id for c in b] for b in pack(run.suite.cases)] == [["waived-june", "other"], ["waived-july"]]


def test_a_rule_reading_an_id_sees_the_id_as_written(tmp_path):
    bundle = copy_bundle(tmp_path, ("classification.yaml", "  rules:\n",
                                    "  rules:\n    - {id: vip, tier: standard, when: \"customer.customer_id = 'K-VIP'\"}\n"))
    shutil.rmtree(bundle / "tests")
    write_cases(bundle, "vip.yaml", """\
        cases:
          - id: vip-is-free
            customers: [{customer_id: K-VIP, contract: premium}]
            tickets: [{category: webdesign}]
            expect: {tier: standard, rule: vip}
        """)
    (result,) = run_policy_tests(bundle).results
    assert result.outcome == "passed", result.problems


# --------------------------------------------------------------------------------------------
# The format's JSON Schema


def test_case_schema_is_current_and_accepts_the_shipped_cases():
    from audit.policytests.schema import SCHEMA_PATH, case_json_schema, schema_text

    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), \
        "regenerate: .venv/bin/python -m audit.policytests.schema"
    validator = jsonschema.Draft202012Validator(case_json_schema())
    yaml = YAML(typ="safe")
    for path in sorted((POLICIES / "tests").glob("*.yaml")):
        document = json.loads(json.dumps(yaml.load(path.read_text(encoding="utf-8")), default=str))
        assert list(validator.iter_errors(document)) == [], path
    assert list(validator.iter_errors({"cases": [{"id": "x", "tickets": [{"categroy": "a"}], "expect": {}}]}))


# --------------------------------------------------------------------------------------------
# Other policy shapes: contract overrides, ticket-month rounding, an invalid policy


def test_contract_override_and_its_prices_are_coverage_items(tmp_path):
    bundle = copy_bundle(tmp_path, ("billing.yaml", "  overrides: []",
                                    '  overrides:\n    - contract: premium\n      prices: [{from: 2026-01-01, unit_price: "15.00"}]'))
    shutil.rmtree(bundle / "tests")
    write_cases(bundle, "premium.yaml", """\
        defaults:
          customers: {contract: premium}   # also for the customer a case does not list
        cases:
          - id: premium-price
            tickets: [{category: webdesign}]
            time_entries: [{minutes: 20}]
            invoice_lines: [{quantity: 2, unit_price: 17.50}]
            expect:
              expected_eur: 30.00
              findings: [{kind: price_mismatch, rule: "billing.overrides[premium].prices@2026-01-01", delta_eur: -5.00}]
        """)
    run = run_policy_tests(bundle)
    assert [r.outcome for r in run.results] == ["passed"], run.results[0].problems
    items = {(i.kind, i.name): i.covered for i in run.coverage.items if i.kind in ("override", "price")}
    assert items == {
        ("override", "contract premium"): True,
        ("price", "billing.overrides[premium].prices@2026-01-01 (15.00)"): True,
        ("price", "billing.prices@2020-01-01 (17.50)"): False,
        ("price", "billing.prices@2026-07-01 (19.00)"): False,
    }


def test_ticket_month_scope_rounds_the_month_and_covers_rounding(tmp_path):
    bundle = copy_bundle(tmp_path, ("billing.yaml", "scope: entry", "scope: ticket_month"))
    shutil.rmtree(bundle / "tests")
    write_cases(bundle, "scope.yaml", """\
        cases:
          - id: two-short-entries
            tickets: [{category: webdesign}]
            time_entries: [{minutes: 5}, {minutes: 5}]
            expect: {tracked_seconds: 600, expected_units: 1, expected_eur: 17.50}
        """)
    run = run_policy_tests(bundle)
    assert run.results[0].outcome == "passed", run.results[0].problems
    (rounding,) = [i for i in run.coverage.items if i.kind == "rounding"]
    assert rounding.covered and rounding.name == "rounding ceil, unit 15 min, scope ticket_month"
    assert rounding.where == f"{bundle / 'billing.yaml'}:5:3"


def test_invalid_policy_is_exit_2_before_any_case(capsys, tmp_path):
    bundle = copy_bundle(tmp_path, ("classification.yaml", "      tier: standard\n      clause: STD-3",
                                    "      tier: standrd\n      clause: STD-3"))
    code, out, err = run_cli(capsys, "test", "--policy", str(bundle))
    assert code == 2 and out == ""
    assert f"{bundle / 'classification.yaml'}:9:13: unknown tier 'standrd' (did you mean 'standard'?)" in err


def test_default_tier_decides_and_is_a_coverage_item(tmp_path):
    bundle = copy_bundle(tmp_path, ("classification.yaml", "default_tier: null", "default_tier: standard"))
    shutil.rmtree(bundle / "tests")
    write_cases(bundle, "default.yaml", """\
        cases:
          - id: unknown-category-falls-to-default
            tickets: [{category: billing_question}]
            time_entries: [{minutes: 20}]
            expect: {tier: standard, rule: classification.default_tier, expected_eur: 0.00, no_other_findings: true}
        """)
    run = run_policy_tests(bundle)
    assert run.results[0].outcome == "passed", run.results[0].problems
    (default,) = [i for i in run.coverage.items if i.name.startswith("default_tier")]
    assert default.covered and default.name == "default_tier → standard"


def test_junit_escapes_markup_and_drops_control_characters_of_data(tmp_path):
    from audit.policytests.report import junit_xml

    bundle = copy_bundle(tmp_path)
    shutil.rmtree(bundle / "tests")
    write_cases(bundle, "t.yaml", """\
        cases:
          - id: ctl
            tickets: [{category: webdesign, subject: "<b>&\\x01\\"x"}]
            time_entries: [{minutes: 20}]
            expect: {tier: standard}
        """)
    root = ET.fromstring(junit_xml(run_policy_tests(bundle)))
    (failure,) = root.iter("failure")
    assert "subject = <b>&\N{REPLACEMENT CHARACTER}\"x" in failure.text
    assert "policy tier: expected standard, got extended" in failure.get("message")
