"""``support-audit check``: codes, severities and exact positions of every defect, the three
output formats (SARIF validated against the official 2.1.0 schema), --strict, --as-of, and the
rule analysis checked against DuckDB's own evaluation of the same conditions.

Cases live in tests/fixtures/policies/check/<case>/: each overlays files on the clean bundle
in check/base/ and lists in expected.txt exactly what check reports with --as-of 2026-06-15
(paths as the user typed them: ``policies/…``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import shutil
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from audit.cli import main
from audit.errors import Location
from audit.policy.check import CODES, Problem, _eval, check_policy, code_of
from audit.policy.check_output import render

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "policies"
CHECK = FIXTURES / "check"
CASES = sorted(p.name for p in CHECK.iterdir() if p.is_dir() and p.name != "base")
AS_OF = dt.date(2026, 6, 15)
SARIF_SCHEMA = Path(__file__).resolve().parent / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<code>SA\d{3}) \[(?P<sev>\w+)\] ")


def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str | None = None) -> Path:
    """The clean check bundle copied to ``tmp_path/policies``, with a case laid over it."""
    target = tmp_path / "policies"
    shutil.copytree(CHECK / "base", target)
    if case:
        for overlay in (CHECK / case).glob("*.y*ml"):
            shutil.copy(overlay, target / overlay.name)
    monkeypatch.chdir(tmp_path)
    return Path("policies")


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


# --------------------------------------------------------------------------------------------
# Each defect: code, severity, file, line, column


@pytest.mark.parametrize("case", CASES)
def test_each_case_reports_its_defects_at_their_place(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = (CHECK / case / "expected.txt").read_text(encoding="utf-8").splitlines()
    report = check_policy(bundle(tmp_path, monkeypatch, case), as_of=AS_OF)
    assert [str(p) for p in report.problems] == expected
    for problem, line in zip(report.problems, expected, strict=True):
        m = LINE.match(line)
        assert m, line
        assert problem.location == Location(m["file"], int(m["line"]), int(m["col"]))
        assert (problem.code, problem.severity) == (m["code"], m["sev"])
        assert CODES[problem.code].severity == problem.severity


def test_the_cases_cover_every_analysis_code() -> None:
    found = {
        LINE.match(line)["code"]
        for case in CASES
        for line in (CHECK / case / "expected.txt").read_text(encoding="utf-8").splitlines()
    }
    analysis = {c for c in CODES if c >= "SA200"}
    assert analysis <= found, analysis - found


def test_the_clean_base_and_the_shipped_bundle_pass_strict(capsys, tmp_path, monkeypatch) -> None:
    assert check_policy(bundle(tmp_path, monkeypatch), as_of=AS_OF).problems == []
    code, out, _ = run_cli(capsys, "check", "--policy", str(POLICIES), "--strict", "--as-of", "2026-07-01")
    assert code == 0, out
    # the one thing worth knowing: managed-service-fault is a deliberate exception
    assert [ln.split(" ", 2)[1] for ln in out.splitlines()[:-1]] == ["SA208", "SA206"]
    assert "'managed-service-fault' (line 38, tier standard) is an exception" in out
    # what the policy leaves to a person: the helpdesk categories without a rule
    assert ("no rule decides some tickets (36 of 144 combinations of values), e.g. "
            "category = 'domain_transfer', cause = 'provider'; category = 'sonstiges', "
            "cause = 'provider'; category = 'vertragsfrage', cause = 'provider'") in out
    assert out.splitlines()[-1].startswith("ok: euserv-support 1.0.0: 2 tiers, 10 rules")
    # after the shipped waiver's end it still passes: an expired waiver is info (docs/check.md)
    code, out, _ = run_cli(capsys, "check", "--policy", str(POLICIES), "--strict", "--as-of", "2027-01-05")
    assert code == 0 and "SA220 [info] waiver 'W-2026-001' expired on 2026-12-31" in out


def test_the_shipped_vocabulary_holds_every_category_of_the_sample_data() -> None:
    import csv

    with open(ROOT / "sample_data" / "tickets.csv", encoding="utf-8-sig", newline="") as fh:
        used = {row["category"] for row in csv.DictReader(fh)}
    from audit.sample.vocab import UNKNOWN_CATEGORY_SUBJECTS

    vocabulary = set(check_policy(POLICIES, as_of=AS_OF).bundle.vocabularies["category"])
    assert used <= vocabulary
    assert set(UNKNOWN_CATEGORY_SUBJECTS) <= vocabulary  # what the generator may also write


def test_a_shipped_rule_with_a_typo_is_an_error_with_did_you_mean(capsys, tmp_path) -> None:
    target = tmp_path / "p"
    shutil.copytree(POLICIES, target)
    cls = target / "classification.yaml"
    cls.write_text(cls.read_text().replace("category = 'webdesign'", "category = 'webdesgin'"))
    code, out, _ = run_cli(capsys, "check", "--policy", str(target), "--as-of", "2026-07-01")
    assert code == 2
    assert f"{target}/classification.yaml:50:24: SA201 [error] 'webdesgin' is not in the vocabulary" in out
    assert "(did you mean 'webdesign'?)" in out


# --------------------------------------------------------------------------------------------
# The loader's problems keep their text and get codes


@pytest.mark.parametrize("case", sorted(p.name for p in (FIXTURES / "bad").iterdir() if p.is_dir()))
def test_every_loader_problem_has_a_specific_code(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "policies"
    shutil.copytree(FIXTURES / "valid", target)
    for overlay in (FIXTURES / "bad" / case).glob("*.y*ml"):
        shutil.copy(overlay, target / overlay.name)
    monkeypatch.chdir(tmp_path)
    report = check_policy(Path("policies"), as_of=AS_OF)
    expected = (FIXTURES / "bad" / case / "expected.txt").read_text(encoding="utf-8").splitlines()
    assert report.bundle is None
    # the same problems, in the same order, with the loader's exact text
    assert [str(Location(p.location.file, p.location.line, p.location.col)) + ": " + p.message
            + (f" ({p.hint})" if p.hint else "") for p in report.problems] == expected
    assert all(p.code != "SA199" and p.severity == "error" for p in report.problems)


@pytest.mark.parametrize(
    ("case", "codes"),
    [
        ("unknown-column", ["SA122"]),
        ("overlapping-prices", ["SA130"]),
        ("price-gap", ["SA131"]),
        ("yaml-syntax", ["SA101"]),
        ("hostile-read-csv", ["SA121"]),
        ("float-price", ["SA106"]),
        ("unknown-tier", ["SA108"]),
    ],
)
def test_loader_codes(case: str, codes: list[str], tmp_path, monkeypatch) -> None:
    target = tmp_path / "policies"
    shutil.copytree(FIXTURES / "valid", target)
    for overlay in (FIXTURES / "bad" / case).glob("*.y*ml"):
        shutil.copy(overlay, target / overlay.name)
    monkeypatch.chdir(tmp_path)
    assert sorted({p.code for p in check_policy(Path("policies")).problems}) == codes


def test_unmapped_messages_fall_back_to_sa199() -> None:
    from audit.errors import Diagnostic

    assert code_of(Diagnostic(Location("x"), "something new")) == "SA199"
    assert code_of(Diagnostic(Location("x"), "cannot compare a (text) with 1 (a number)")) == "SA123"


def test_run_still_refuses_an_invalid_bundle_with_exit_2(capsys, tmp_path) -> None:
    target = tmp_path / "p"
    shutil.copytree(POLICIES, target)
    (target / "vocabularies.yaml").write_text("vocabularies:\n  categroy: [x]\n")
    code, _, err = run_cli(capsys, "run", "--policy", str(target), "--out", str(tmp_path / "o"))
    assert code == 2
    assert "vocabularies.yaml:2:3: vocabulary for unknown column 'categroy' (did you mean 'category'?)" in err


# --------------------------------------------------------------------------------------------
# Exit codes, --strict, --as-of


def test_strict_turns_warnings_into_exit_2(capsys, tmp_path, monkeypatch) -> None:
    path = str(bundle(tmp_path, monkeypatch, "waivers"))
    code, out, _ = run_cli(capsys, "check", "--policy", path, "--as-of", "2026-06-15")
    assert code == 0 and out.splitlines()[-1].startswith("ok: ")
    code, out, _ = run_cli(capsys, "check", "--policy", path, "--as-of", "2026-06-15", "--strict")
    assert code == 2 and out.splitlines()[-1].startswith("failed: ")
    assert out.splitlines()[-1].endswith("0 errors, 1 warning, 2 info (as of 2026-06-15, strict)")


def test_info_never_fails_and_errors_always_do(capsys, tmp_path, monkeypatch) -> None:
    path = str(bundle(tmp_path, monkeypatch, "not-analysed"))
    assert run_cli(capsys, "check", "--policy", path, "--strict")[0] == 0
    path = str(bundle(tmp_path / "x", monkeypatch, "shadowed"))
    assert run_cli(capsys, "check", "--policy", path)[0] == 2


def test_as_of_decides_which_waivers_expired(tmp_path, monkeypatch) -> None:
    path = bundle(tmp_path, monkeypatch, "waivers")

    def codes(day: dt.date) -> list[tuple[str, str]]:
        return [(p.code, p.message.split("'")[1]) for p in check_policy(path, as_of=day).problems
                if p.code in ("SA220", "SA221")]

    assert codes(dt.date(2026, 3, 1)) == [("SA221", "W-old")]  # 30 days left
    assert codes(dt.date(2026, 3, 31)) == [("SA221", "W-old")]  # its last day
    assert codes(dt.date(2026, 4, 1)) == [("SA220", "W-old")]
    assert codes(dt.date(2026, 7, 16)) == [("SA220", "W-old"), ("SA220", "W-soon")]


def test_a_bad_as_of_is_a_usage_error(capsys) -> None:
    code, _, err = run_cli(capsys, "check", "--policy", str(POLICIES), "--as-of", "2026-02-30")
    assert code == 4 and "--as-of" in err


# --------------------------------------------------------------------------------------------
# JSON and SARIF


def test_json_is_a_list_of_problems(capsys, tmp_path, monkeypatch) -> None:
    path = str(bundle(tmp_path, monkeypatch, "prices"))
    code, out, _ = run_cli(capsys, "check", "--policy", path, "--format", "json", "--as-of", "2026-06-15")
    assert code == 2
    data = json.loads(out)
    assert data[1] == {
        "code": "SA201",
        "name": "unknown-value",
        "severity": "error",
        "file": "policies/billing.yaml",
        "line": 9,
        "column": 17,
        "message": "'premum' is not in the vocabulary of customer.contract: no customer has this price list",
        "hint": "did you mean 'premium'?",
    }
    assert [d["code"] for d in data] == ["SA210", "SA201", "SA211"]


@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


@pytest.mark.parametrize("case", ["shadowed", "prices", "bad-vocabulary", None])
def test_sarif_is_valid_and_annotates_the_policy_lines(
    case, capsys, tmp_path, monkeypatch, sarif_validator
) -> None:
    path = str(bundle(tmp_path, monkeypatch, case))
    code, out, _ = run_cli(capsys, "check", "--policy", path, "--format", "sarif", "--as-of", "2026-06-15")
    log = json.loads(out)
    errors = sorted(sarif_validator.iter_errors(log), key=str)
    assert not errors, errors[0]
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(CODES)
    for rule in rules:
        assert rule["helpUri"].endswith(f"docs/check.md#{rule['id'].lower()}")
        assert rule["helpUri"].split(":", 1)[0] in ("file", "https")  # SARIF wants it absolute
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
        assert rule["name"] and rule["shortDescription"]["text"]
    expected = check_policy(Path(path), as_of=AS_OF).problems
    assert len(run["results"]) == len(expected)
    for result, problem in zip(run["results"], expected, strict=True):
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == problem.code
        physical = result["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"] == {"uri": problem.location.file, "uriBaseId": "%SRCROOT%"}
        assert physical["region"] == {"startLine": problem.location.line, "startColumn": problem.location.col}
        assert result["level"] == {"error": "error", "warning": "warning", "info": "note"}[problem.severity]
    assert code == (0 if case is None else 2)


def test_sarif_help_links_point_at_the_repository_in_github_actions(monkeypatch) -> None:
    from audit.policy.check_output import sarif

    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/support-policies")
    monkeypatch.setenv("GITHUB_SHA", "abc123")
    monkeypatch.delenv("SUPPORT_AUDIT_DOCS_URL", raising=False)
    log = sarif(check_policy(POLICIES, as_of=AS_OF))
    rule = log["runs"][0]["tool"]["driver"]["rules"][0]
    assert rule["helpUri"] == "https://github.com/acme/support-policies/blob/abc123/docs/check.md#sa100"


def test_a_problem_without_a_line_has_no_region(tmp_path, monkeypatch) -> None:
    from audit.policy.check_output import sarif

    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    log = sarif(check_policy(Path("empty"), as_of=AS_OF))
    (result,) = log["runs"][0]["results"]
    assert result["ruleId"] == "SA100"
    assert "region" not in result["locations"][0]["physicalLocation"]


# --------------------------------------------------------------------------------------------
# Docs and speed


def test_every_code_is_documented() -> None:
    text = (ROOT / "docs" / "check.md").read_text(encoding="utf-8")
    for code in CODES.values():
        heading = f"### {code.id} {code.name}"
        assert heading in text, heading
        section = text.split(heading, 1)[1].split("\n### ", 1)[0]
        assert f"Severity: **{code.severity}**" in section, code.id


def test_check_never_imports_the_heavy_libraries() -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from audit.cli import main
        try:
            main(["check", "--policy", {str(POLICIES)!r}, "--format", "sarif", "--as-of", "2026-07-01"])
        except SystemExit as exit:
            assert exit.code == 0, exit.code
        # DuckDB itself is loaded on purpose (audit/policy/duckrules.py): its RE2 and ICU decide
        # which regular expressions and time zones the engine accepts (~0.07 s); nothing else.
        heavy = ("great_expectations", "plotly", "polars", "pyarrow", "pandas")
        print(sorted(m for m in heavy if m in sys.modules))
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout.splitlines()[-1] == "[]"


def test_output_is_deterministic(tmp_path, monkeypatch) -> None:
    path = bundle(tmp_path, monkeypatch, "overlap")
    first = render(check_policy(path, as_of=AS_OF), "sarif")
    assert render(check_policy(path, as_of=AS_OF), "sarif") == first


# --------------------------------------------------------------------------------------------
# The evaluator the analysis rests on agrees with DuckDB on every combination


CONDITIONS = [
    "cause = 'customer' AND category <> 'documentation'",
    "category = 'service_fault' AND service.managed AND cause IS DISTINCT FROM 'customer'",
    "NOT coalesce(service.managed, false) OR cause IS NOT DISTINCT FROM NULL",
    "category IN ('webdesign', 'data_loss') AND cause NOT IN ('customer')",
    "category NOT IN ('webdesign') OR service.managed IS TRUE",
    "service.managed IS FALSE AND NOT (cause IS NULL)",
    "category LIKE 'web%' OR category ILIKE '%LOSS'",
    "upper(category) = 'WEBDESIGN' OR length(category) BETWEEN 9 AND 13",
    "contains(category, 'fault') AND NOT starts_with(category, 'x') AND ends_with(category, 't')",
    "trim(coalesce(cause, ' none ')) = 'none' OR cause > 'p'",
    "service.managed = (cause = 'customer')",
    "NOT (category = 'webdesign' OR cause = 'unknown')",
]


def test_the_evaluator_agrees_with_duckdb() -> None:
    import duckdb

    from audit.policy.expr import checked_condition, compile_condition

    categories = ["webdesign", "data_loss", "service_fault", "documentation"]
    envs = [
        {"category": cat, "cause": cause, "service_managed": managed}
        for cat, cause, managed in itertools.product(
            categories, ["provider", "customer", "unknown", None], [True, False, None]
        )
    ]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (k INTEGER, category VARCHAR, cause VARCHAR, service_managed BOOLEAN)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)",
                    [(k, e["category"], e["cause"], e["service_managed"]) for k, e in enumerate(envs)])
    for text in CONDITIONS:
        sql = compile_condition(text, loc=Location("test"))
        duck = dict(con.execute(f"SELECT k, ({sql}) FROM t ORDER BY k").fetchall())
        tree = checked_condition(text)
        ours = {k: _eval(tree, env) for k, env in enumerate(envs)}
        ours = {k: v if not isinstance(v, Decimal) else int(v) for k, v in ours.items()}
        assert ours == duck, text


def test_problem_text_format() -> None:
    p = Problem("SA201", Location("policies/x.yaml", 3, 7), "bad", "fix it")
    assert str(p) == "policies/x.yaml:3:7: SA201 [error] bad (fix it)"


def test_the_bit_sets_agree_with_evaluating_each_combination() -> None:
    from audit.policy.check import _Space
    from audit.policy.expr import checked_condition

    columns = ["category", "cause", "service_managed"]
    domains = [["webdesign", "data_loss", "service_fault", "documentation"],
               ["provider", "customer", "unknown", None], [True, False, None]]
    space = _Space(columns, domains)
    assert space.size == 48
    for text in CONDITIONS:
        tree = checked_condition(text)
        expected = sum(1 << k for k in range(space.size) if _eval(tree, space.assignment(k)) is True)
        assert space.true(tree) == expected, text


def test_comparing_free_text_with_another_column_is_not_analysed(tmp_path, monkeypatch) -> None:
    """'channel' may hold any text, so 'channel = cause' cannot be decided from listed values."""
    path = bundle(tmp_path, monkeypatch)
    (path / "classification.yaml").write_text(textwrap.dedent("""\
        classification:
          rules:
            - id: odd
              tier: extended
              when: channel = cause
            - id: customer-caused
              tier: extended
              when: cause = 'customer'
            - id: customer-how-to
              tier: standard
              when: cause = 'customer' AND category = 'software_usage'
    """))
    problems = [(p.code, p.location.line) for p in check_policy(path, as_of=AS_OF).problems]
    # 'odd' is not analysed; the later rule is still shadowed by the analysed 'customer-caused'
    assert problems == [("SA207", 5), ("SA202", 11)]


def test_a_rule_after_an_unanalysed_one_names_who_shadows_it(tmp_path, monkeypatch) -> None:
    path = bundle(tmp_path, monkeypatch)
    (path / "classification.yaml").write_text(textwrap.dedent("""\
        classification:
          rules:
            - id: firewall
              tier: extended
              when: contains(subject, 'firewall')
            - id: web
              tier: extended
              when: category = 'webdesign'
            - id: web-by-customer
              tier: standard
              when: category = 'webdesign' AND cause = 'customer'
    """))
    messages = [(p.code, p.message) for p in check_policy(path, as_of=AS_OF).problems]
    assert messages == [
        ("SA207", "rule 'firewall' is not analysed for shadowing and overlaps: it applies an ordering, "
                  "a pattern or a function to a column whose values are not all known (free text, a "
                  "declared vocabulary, a timestamp)"),
        ("SA202", "rule 'web-by-customer' never decides: every ticket it matches is decided earlier "
                  "by 'web' (line 8)"),
    ]


def test_a_vocabulary_of_the_wrong_shape_is_reported_not_a_crash(tmp_path, monkeypatch) -> None:
    path = bundle(tmp_path, monkeypatch)
    (path / "vocabularies.yaml").write_text("vocabularies:\n  category: [{a: 1}, x, x]\n  channel: email\n")
    assert [str(p) for p in check_policy(path, as_of=AS_OF).problems] == [
        "policies/vocabularies.yaml:2:14: SA106 [error] expected text, got a mapping (put the value in quotes)",
        "policies/vocabularies.yaml:2:25: SA114 [error] vocabulary value 'x' is listed twice (keep one)",
        "policies/vocabularies.yaml:3:12: SA106 [error] channel: expected a list, got 'email' "
        "(write one entry per line, each starting with '- ')",
    ]


# --------------------------------------------------------------------------------------------
# Sound and complete on the finite fragment: random rule lists, every claim checked in DuckDB


def _random_condition(rng) -> str:
    cats = ["documentation", "software_usage", "webdesign", "data_loss"]
    atoms = [
        lambda: f"category = '{rng.choice(cats)}'",
        lambda: f"category <> '{rng.choice(cats)}'",
        lambda: "category IN ({})".format(", ".join(f"'{c}'" for c in rng.sample(cats, 2))),
        lambda: f"cause = '{rng.choice(['provider', 'customer', 'unknown'])}'",
        lambda: "cause IS NULL",
        lambda: f"cause IS DISTINCT FROM '{rng.choice(['customer', 'provider'])}'",
        lambda: "service.managed",
        lambda: "coalesce(service.managed, false)",
        lambda: "lower(cause) = 'customer'",
    ]

    def build(depth: int) -> str:
        if depth == 0 or rng.random() < 0.35:
            atom = rng.choice(atoms)()
            return f"NOT ({atom})" if rng.random() < 0.2 else atom
        op = rng.choice(["AND", "AND", "OR"])
        return f"({build(depth - 1)} {op} {build(depth - 1)})"

    return build(2)


def test_rule_analysis_claims_hold_in_duckdb_and_nothing_is_missed(tmp_path, monkeypatch) -> None:
    import random

    import duckdb

    from audit.policy.expr import compile_condition

    rng = random.Random(20261204)
    con = duckdb.connect()
    con.execute("CREATE TABLE t (category VARCHAR, cause VARCHAR, service_managed BOOLEAN)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", list(itertools.product(
        ["documentation", "software_usage", "webdesign", "data_loss", "zz_not_in_the_vocabulary"],
        ["provider", "customer", "unknown", None], [True, False, None])))
    path = bundle(tmp_path, monkeypatch)
    claims = {"SA202": 0, "SA203": 0, "SA204": 0, "SA205": 0, "SA206": 0}
    for _ in range(40):
        rules = [(f"r{i}", rng.choice(["standard", "extended"]), _random_condition(rng)) for i in range(5)]
        (path / "classification.yaml").write_text(
            "classification:\n  default_tier: standard\n  rules:\n" + "".join(
                f"    - id: {r}\n      tier: {tier}\n      when: \"{when}\"\n" for r, tier, when in rules))
        problems = check_policy(path, as_of=AS_OF).problems
        sql = [compile_condition(w, loc=Location("x")) for _, _, w in rules]
        first = "CASE " + " ".join(f"WHEN ({s}) IS TRUE THEN {i}" for i, s in enumerate(sql)) + " END"
        rows = con.execute(f"SELECT {first}, " + ", ".join(f"coalesce(({s}), false)" for s in sql)
                           + " FROM t").fetchall()
        decides = {i: sum(r[0] == i for r in rows) for i in range(5)}
        matches = {i: sum(r[1 + i] for r in rows) for i in range(5)}
        dead = {}
        for p in problems:
            assert p.code in claims, str(p)
            claims[p.code] += 1
            names = re.findall(r"'(r\d)'", p.message)
            if p.code in ("SA202", "SA203", "SA204"):
                i = int(names[0][1:])
                dead[i] = p.code
                assert decides[i] == 0, (rules, str(p))
                if p.code == "SA204":
                    assert matches[i] == 0, (rules, str(p))
            else:  # an overlap: A decides some ticket B matches; SA206: all of A's are B's
                a, b = int(names[0][1:]), int(names[1][1:])
                both = [r for r in rows if r[0] == a and r[1 + b]]
                assert both and rules[a][1] != rules[b][1], (rules, str(p))
                assert (p.code == "SA206") == all(r[1 + b] for r in rows if r[0] == a), (rules, str(p))
        # complete: every dead rule and every order-dependent pair is reported
        for i in range(5):
            assert (i in dead) == (decides[i] == 0), (rules, i, [str(p) for p in problems])
        for a, b in itertools.combinations(range(5), 2):
            overlap = any(r[0] == a and r[1 + b] for r in rows)
            expected = overlap and rules[a][1] != rules[b][1] and b not in dead
            reported = any(p.code in ("SA205", "SA206") and re.findall(r"'(r\d)'", p.message)[:2]
                           == [f"r{a}", f"r{b}"] for p in problems)
            assert reported == expected, (rules, a, b, [str(p) for p in problems])
    assert all(claims[c] > 0 for c in ("SA202", "SA204", "SA205", "SA206")), claims
