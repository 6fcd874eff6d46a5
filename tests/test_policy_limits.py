"""Hostile and absurd policies: each refused at load with a clear exit-2 message (issue: limits).

Values ``check`` accepts must never crash ``run``: everything that reaches DuckDB is validated
with DuckDB's own rules at load time (regular expressions, time zones), numbers refuse booleans,
money and dates have ranges. A nine-level alias bomb, deep flow nesting and padded files are
refused before they cost time or memory.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from audit.cli import main
from audit.errors import PolicyError
from audit.policy import loader
from audit.policy.loader import load_policy

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"


def bundle(tmp_path: Path, file: str, old: str, new: str) -> Path:
    target = tmp_path / "policies"
    if not target.exists():
        shutil.copytree(POLICIES, target)
    path = target / file
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


def refused(target: Path, *patterns: str) -> str:
    with pytest.raises(PolicyError) as e:
        load_policy(target)
    text = str(e.value)
    for pattern in patterns:
        assert pattern in text, text
    assert e.value.exit_code == 2
    return text


ALIAS_BOMB = "metadata:\n  a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  {chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
)


def test_alias_bomb_under_metadata_is_refused_before_it_is_built(tmp_path):
    target = bundle(tmp_path, "bundle.yaml", "metadata:\n", ALIAS_BOMB)
    refused(target, "bundle.yaml:5:", "YAML aliases expand this document to 490,329,122 nodes",
            "aliases may add at most 10,000")


def test_a_few_aliases_are_fine(tmp_path):
    target = bundle(tmp_path, "waivers.yaml", "approved_by: Leitung Support",
                    "approved_by: &boss Leitung Support")
    assert load_policy(target).waivers[0].approved_by == "Leitung Support"


@pytest.mark.parametrize("depth", [25, 5000])
def test_deeply_nested_flow_collections_are_refused(tmp_path, depth):
    target = bundle(tmp_path, "bundle.yaml", "  source:",
                    "  extra: " + "[" * depth + "]" * depth + "\n  source:")
    text = refused(target, "bundle.yaml:", "the YAML nests more than 20 levels deep")
    assert "RecursionError" not in text


def test_apostrophes_and_brackets_in_comments_and_text_do_not_count_as_nesting(tmp_path):
    target = bundle(tmp_path, "waivers.yaml", "reason: Kulanz",
                    "reason: \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\" # it's [[[[[[[[[[[[[[[[[[[[[[[[[[[[\n    x_reason: Kulanz")
    refused(target, "unknown field 'x_reason'")  # parsed: the brackets were no nesting


def test_file_over_the_size_limit_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(loader, "MAX_FILE_BYTES", 64 * 1024)
    target = bundle(tmp_path, "waivers.yaml", "waivers:", ("# " + "x" * 78 + "\n") * 1000 + "waivers:")
    refused(target, "waivers.yaml: the file is 8", "at most 65,536 per policy file")


def test_comment_padding_under_the_limit_still_loads(tmp_path):
    target = bundle(tmp_path, "waivers.yaml", "waivers:", ("# " + "x" * 78 + "\n") * 2000 + "waivers:")
    assert len(load_policy(target).waivers) == 1


def test_bundle_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(loader, "MAX_BUNDLE_BYTES", 1024)
    target = bundle(tmp_path, "waivers.yaml", "waivers:", "waivers:")
    refused(target, "the bundle's YAML files hold", "at most 1,024", "waivers.csv")


def test_too_many_waivers_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(loader.MAX_ENTRIES, ("waivers",), 3)
    entry = ("  - id: W-{i}\n    scope: {{ticket: T-{i}}}\n    reason: many waivers\n"
             "    approved_by: x\n    approved_on: 2026-01-05\n    expires_on: 2026-12-31\n")
    (target := tmp_path / "policies").mkdir()
    shutil.copytree(POLICIES, target, dirs_exist_ok=True)
    (target / "waivers.yaml").write_text("waivers:\n" + "".join(entry.format(i=i) for i in range(4)))
    text = refused(target, "waivers.yaml:1:1: 4 entries in 'waivers' (at most 3)")
    assert text.count("\n") == 0  # one message, not one per waiver


def test_rule_limit(tmp_path, monkeypatch):
    monkeypatch.setitem(loader.MAX_ENTRIES, ("classification", "rules"), 5)
    refused(bundle(tmp_path, "bundle.yaml", "name: euserv-support", "name: euserv-support"),
            "entries in 'classification.rules' (at most 5)")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("category = 'webdesign'", "(" + " OR ".join(f"category = 'c{i}'" for i in range(400)) + ")",
         "the condition nests 40"),
        ("category = 'webdesign'", "category IN (" + ", ".join(f"'{i:05}'" for i in range(1300)) + ")",
         "characters long (at most 10,000)"),
        ("category = 'webdesign'", "regexp_matches(subject, 'a{1001}')",
         "invalid regular expression 'a{1001}': invalid repetition size: {1001}"),
        ("category = 'webdesign'", "regexp_matches(subject, '((a{100}){100}){100}')",
         "invalid regular expression '((a{100}){100}){100}'"),
        ("category = 'webdesign'", r"regexp_matches(subject, '\p{Foo}')",
         r"invalid regular expression '\p{Foo}': invalid character class range"),
        ("category = 'webdesign'", r"regexp_matches(subject, '(?<n>x)')",
         "invalid regular expression '(?<n>x)'"),
    ],
)
def test_conditions_duckdb_would_refuse_are_refused_at_load(tmp_path, old, new, message):
    text = refused(bundle(tmp_path, "classification.yaml", old, new), "classification.yaml:", message)
    assert "RecursionError" not in text


def test_a_chain_of_sixty_ors_and_an_re2_pattern_are_fine(tmp_path):
    chain = "(" + " OR ".join(f"category = 'c{i}'" for i in range(60)) + ")"
    target = bundle(tmp_path, "classification.yaml", "category = 'webdesign'",
                    f"{chain} OR regexp_matches(subject, '(a*)*|\\pN')")
    assert load_policy(target)


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("billing.yaml", '"17.50"', '"1e309"', "unit_price: 1E+309 is larger than the largest amount"),
        ("billing.yaml", '"17.50"', "1e309", "a float is not exact"),
        ("billing.yaml", '"17.50"', '"12345678901234567.00"', "larger than the largest amount, 9999999999999999.99"),
        ("billing.yaml", '"17.50"', '"-17.50"', "a unit price is not negative, got -17.50"),
        ("billing.yaml", '"17.50"', "true", "expected a price, got True"),
        ("billing.yaml", "unit_minutes: 15", "unit_minutes: true", "unit_minutes: expected a whole number, got True"),
        ("billing.yaml", "to: 2026-06-30", "to: 2026-02-30", "billing.yaml:9:11: to: expected a date, got '2026-02-30'"),
        ("billing.yaml", "from: 2020-01-01", "from: 0000-01-01", "from: expected a date, got '0000-01-01'"),
        ("billing.yaml", "from: 2020-01-01", "from: 0001-01-01", "from: 0001-01-01 is outside 1900-01-01 … 2999-12-31"),
        ("waivers.yaml", "expires_on: 2026-12-31", "expires_on: 9999-12-31", "expires_on: 9999-12-31 is outside"),
        ("bundle.yaml", "timezone: Europe/Berlin", "timezone: posixrules", "unknown time zone 'posixrules'"),
        ("bundle.yaml", "timezone: Europe/Berlin", "timezone: localtime", "unknown time zone 'localtime'"),
        ("bundle.yaml", "timezone: Europe/Berlin", "timezone: right/UTC", "unknown time zone 'right/UTC'"),
    ],
)
def test_values_run_could_not_use_are_refused(tmp_path, file, old, new, message):
    refused(bundle(tmp_path, file, old, new), f"{file}:", message)


def test_zero_price_and_utc_are_fine(tmp_path):
    target = bundle(tmp_path, "billing.yaml", '"17.50"', '"0.00"')
    target = bundle(tmp_path, "bundle.yaml", "timezone: Europe/Berlin", "timezone: UTC")
    assert load_policy(target).settings.timezone == "UTC"


def test_cli_check_on_an_alias_bomb_is_exit_2_without_traceback(tmp_path, capsys):
    target = bundle(tmp_path, "bundle.yaml", "metadata:\n", ALIAS_BOMB)
    with pytest.raises(SystemExit) as e:
        main(["check", "--policy", str(target)])
    captured = capsys.readouterr()  # check lists the problems on stdout (its report)
    err = captured.out + captured.err
    assert e.value.code == 2
    assert "YAML aliases expand" in err and "Traceback" not in err


def test_private_regex_connection_is_locked_down():
    from audit.policy.duckrules import _connection, regex_error

    assert regex_error("a{1001}")
    con = _connection()
    with pytest.raises(Exception, match="(?i)disabled|permission"):
        con.execute("SELECT * FROM read_csv('/etc/passwd')").fetchall()
    with pytest.raises(Exception, match="(?i)lock|configuration"):
        con.execute("SET enable_external_access = true")
