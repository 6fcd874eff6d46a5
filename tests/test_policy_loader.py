"""The policy loader: the default bundle, positions, and every problem reported where it is.

Bad bundles live in tests/fixtures/policies/bad/<case>/: each case overlays one or two files on
the small valid bundle in tests/fixtures/policies/valid/ and states the exact error text the
user must see in expected.txt (paths as the user typed them: ``policies/…``).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import textwrap
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from audit.errors import EXIT_POLICY, Location, PolicyError
from audit.policy.loader import load_policy

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "policies"
BAD_CASES = sorted(p.name for p in (FIXTURES / "bad").iterdir() if p.is_dir())


def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str | None = None) -> Path:
    """The valid fixture bundle copied to ``tmp_path/policies``, with a bad case laid over it."""
    target = tmp_path / "policies"
    shutil.copytree(FIXTURES / "valid", target)
    if case:
        for overlay in (FIXTURES / "bad" / case).glob("*.y*ml"):
            shutil.copy(overlay, target / overlay.name)
    monkeypatch.chdir(tmp_path)
    return Path("policies")


def problems(path: Path | str) -> list[str]:
    with pytest.raises(PolicyError) as raised:
        load_policy(path)
    assert raised.value.exit_code == EXIT_POLICY
    return str(raised.value).splitlines()


# --------------------------------------------------------------------------------------------
# The default bundle


def test_default_bundle_loads_with_its_rules_in_order() -> None:
    b = load_policy(POLICIES)
    assert b.metadata.name == "euserv-support"
    assert [(t.id, t.billable) for t in b.tiers] == [("standard", False), ("extended", True)]
    assert [r.id for r in b.classification.rules] == [
        "documentation",
        "customer-caused",
        "customer-center-usage",
        "software-usage",
        "managed-service-fault",
        "unmanaged-service-fault",
        "webdesign",
        "customer-center-data",
        "misconfiguration",
        "data-loss",
    ]
    assert b.classification.default_tier is None
    assert b.settings.timezone == "Europe/Berlin"
    assert [(p.valid_from, p.valid_to, p.unit_price) for p in b.billing.prices] == [
        (date(2020, 1, 1), date(2026, 6, 30), Decimal("17.50")),
        (date(2026, 7, 1), None, Decimal("19.00")),
    ]
    assert b.finding_setting("tier_mismatch").severity == "warning"
    assert [s.id for s in b.signals] == [
        "extended-keywords-on-standard", "long-howto-help", "specialist-on-standard"]
    assert [w.id for w in b.waivers] == ["W-2026-001"]


def test_default_bundle_items_know_where_they_are_written() -> None:
    b = load_policy(POLICIES)
    rules = {r.id: r for r in b.classification.rules}
    # "    - id: managed-service-fault" is line 34 of classification.yaml; the item starts at "id".
    assert rules["managed-service-fault"].loc == Location("classification.yaml", 34, 7)
    assert rules["documentation"].loc == Location("classification.yaml", 8, 7)
    assert b.tiers[1].loc == Location("bundle.yaml", 22, 5)
    assert [p.loc for p in b.billing.prices] == [
        Location("billing.yaml", 8, 7),
        Location("billing.yaml", 11, 7),
    ]
    assert b.findings["units_mismatch"].loc == Location("findings.yaml", 7, 3)
    assert b.signals[0].loc == Location("findings.yaml", 16, 5)
    assert b.waivers[0].loc == Location("waivers.yaml", 5, 5)
    assert b.waivers[0].scope.loc == Location("waivers.yaml", 6, 5)
    for section in (b.metadata, b.settings, b.classification, b.billing):
        assert section.loc is not None and section.loc.line > 0
    assert b.section_locs["billing"] == Location("billing.yaml", 3, 1)
    assert b.section_locs["metadata"] == Location("bundle.yaml", 4, 1)
    assert b.section_locs["signals"] == Location("findings.yaml", 15, 1)


def test_default_bundle_records_root_and_file_hashes() -> None:
    b = load_policy(POLICIES)
    assert b.root == str(POLICIES)
    files = sorted(p.name for p in POLICIES.glob("*.yaml"))
    assert sorted(b.file_hashes) == files
    for name in files:
        assert b.file_hashes[name] == hashlib.sha256((POLICIES / name).read_bytes()).hexdigest()
    assert len(b.digest) == 64


def test_the_schema_comment_of_the_default_files_is_allowed() -> None:
    for path in POLICIES.glob("*.yaml"):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../audit/schema/policy.schema.json"
        assert (path.parent / first.split("=", 1)[1]).resolve().is_file()
    load_policy(POLICIES)


# --------------------------------------------------------------------------------------------
# Bad bundles: exact messages and positions


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_bundle_reports_every_problem_at_its_place(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = (FIXTURES / "bad" / case / "expected.txt").read_text(encoding="utf-8").splitlines()
    assert problems(bundle(tmp_path, monkeypatch, case)) == expected


def test_the_valid_fixture_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    b = load_policy(bundle(tmp_path, monkeypatch))
    assert [r.id for r in b.classification.rules] == [
        "documentation",
        "managed-service-fault",
        "customer-caused",
    ]
    assert b.billing.overrides[0].prices[0].unit_price == Decimal("15.00")


def test_problems_are_sorted_by_file_line_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = problems(bundle(tmp_path, monkeypatch, "many-problems"))
    keys = []
    for line in lines:
        file, row, col = line.split(": ", 1)[0].split(":")
        keys.append((file, int(row), int(col)))
    assert keys == sorted(keys) and len(keys) == 4


def test_each_problem_is_a_diagnostic_with_location_and_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(PolicyError) as raised:
        load_policy(bundle(tmp_path, monkeypatch, "unknown-column"))
    (diagnostic,) = raised.value.diagnostics
    assert diagnostic.location == Location("policies/classification.yaml", 5, 13)
    assert diagnostic.message == "unknown column 'categroy'"
    assert diagnostic.hint == "did you mean 'category'?"


def test_a_wrong_field_in_one_rule_does_not_hide_a_bad_condition_in_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = problems(bundle(tmp_path, monkeypatch, "many-problems"))
    assert any("unknown field 'colour'" in line for line in lines)
    assert any("unknown column 'webdesign'" in line for line in lines)


# --------------------------------------------------------------------------------------------
# Paths and files


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


SINGLE_FILE = """\
    metadata: {name: one, version: "1", effective_from: 2026-01-01}
    tiers: [{id: standard, billable: false}]
    classification:
      default_tier: standard
      rules: [{id: all, tier: standard, when: "true"}]
    billing: {prices: []}
    waivers:
"""


def test_a_single_file_is_a_bundle(tmp_path: Path) -> None:
    path = write(tmp_path / "policy.yml", SINGLE_FILE)
    b = load_policy(path)
    assert b.root == str(tmp_path)
    assert list(b.file_hashes) == ["policy.yml"]
    # a rule in a flow list starts at its "{"
    assert b.classification.rules[0].loc == Location("policy.yml", 5, 11)
    assert b.waivers == []  # an empty section (entries commented out) means: none


def test_a_bundle_directory_reads_yaml_and_yml_but_not_subdirectories(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    (policies / "old").mkdir(parents=True)
    write(policies / "a.yaml", SINGLE_FILE.replace("    waivers:\n", ""))
    write(policies / "b.yml", "waivers: []\n")
    write(policies / "notes.txt", "not: [yaml\n")
    write(policies / "old" / "c.yaml", "broken: [\n")
    assert sorted(load_policy(policies).file_hashes) == ["a.yaml", "b.yml"]


def test_a_missing_path_or_an_empty_directory_is_a_policy_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    assert problems("nowhere") == [
        "nowhere: no such file or directory (give the policy bundle directory or one YAML file)"
    ]
    assert problems("empty") == [
        "empty: no policy files (*.yaml, *.yml) in this directory "
        "(give the policy bundle directory or one YAML file)"
    ]


def test_a_file_that_is_not_utf8_or_not_a_mapping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = bundle(tmp_path, monkeypatch)
    (path / "latin1.yaml").write_bytes(b"# ok\nwaivers:\n  - reason: Gr\xfc\xdfe\n")
    write(path / "list.yaml", "- tiers\n")
    assert problems(path) == [
        "policies/latin1.yaml:3: the file is not UTF-8 text (save it as UTF-8)",
        "policies/list.yaml:1:1: a policy file is a mapping of sections "
        "(start with a section name, e.g. 'tiers:')",
    ]


def test_a_utf8_bom_is_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = bundle(tmp_path, monkeypatch)
    text = (path / "bundle.yaml").read_bytes()
    (path / "bundle.yaml").write_bytes(b"\xef\xbb\xbf" + text)
    assert load_policy(path).metadata.name == "test-bundle"


def test_loc_cannot_be_set_from_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = bundle(tmp_path, monkeypatch)
    write(
        path / "waivers.yaml", "waivers: []\nsignals:\n  - {id: s, when: 'true', loc: {file: x}}\n"
    )
    write(path / "findings.yaml", "findings: {}\n")
    assert problems(path) == ["policies/waivers.yaml:3:27: unknown field 'loc'"]


# --------------------------------------------------------------------------------------------
# Nothing reaches DuckDB


def test_loading_a_hostile_policy_never_opens_the_data_connection(tmp_path: Path) -> None:
    """The loader only parses conditions; it cannot run them, good or hostile. (It compiles
    regular expressions and looks up time zones on a private locked-down in-memory DuckDB
    connection, audit.policy.duckrules, which never sees data or policy conditions.)"""
    target = tmp_path / "policies"
    shutil.copytree(FIXTURES / "valid", target)
    shutil.copy(FIXTURES / "bad" / "hostile-read-csv" / "classification.yaml", target)
    script = textwrap.dedent(
        f"""
        import sys
        from audit.errors import PolicyError
        from audit.policy.loader import load_policy
        load_policy({str(POLICIES)!r})
        try:
            load_policy({str(target)!r})
        except PolicyError as error:
            print(error)
        print("audit.db" in sys.modules)
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "function 'read_csv' is not allowed" in run.stdout
    assert run.stdout.splitlines()[-1] == "False"
