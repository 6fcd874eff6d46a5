"""The CI recipes: .github/workflows/policy.yml and .pre-commit-hooks.yaml parse, trigger on
policy changes, and run the very command lines README.md shows in "Changing a policy safely"."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
from ruamel.yaml import YAML

from audit.cli import cli

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "policy.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"


def _yaml(path: Path):
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Changing a policy safely\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, "README.md has no section 'Changing a policy safely'"
    return match.group(1)


def readme_commands() -> list[str]:
    """The support-audit lines of the section's first bash block."""
    block = re.search(r"```bash\n(.*?)```", readme_section(), re.S).group(1)
    return [line for line in block.splitlines() if line.startswith("support-audit ")]


def workflow_commands() -> list[str]:
    steps = _yaml(WORKFLOW)["jobs"]["policy"]["steps"]
    return [line.strip() for s in steps for line in s.get("run", "").splitlines()
            if line.strip().startswith("support-audit ")]


def test_workflow_parses_and_triggers_on_policy_pull_requests():
    doc = _yaml(WORKFLOW)
    assert doc["on"] == {"pull_request": {"paths": ["policies/**"]}}
    assert doc["permissions"]["security-events"] == "write"
    steps = doc["jobs"]["policy"]["steps"]
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    assert "actions/checkout" in uses and "github/codeql-action/upload-sarif" in uses
    checkout = steps[uses.index("actions/checkout")]
    assert checkout["with"]["fetch-depth"] == 0  # the base branch must be there for git:
    assert doc["jobs"]["policy"]["env"]["BASE_REF"] == "${{ github.base_ref }}"


def test_workflow_runs_the_three_commands_exactly_as_the_readme_shows():
    readme, workflow = readme_commands(), workflow_commands()
    assert [c.split()[1] for c in workflow] == ["check", "test", "diff"]
    assert workflow == readme


def test_the_workflow_wires_the_outputs_of_the_commands():
    doc = _yaml(WORKFLOW)
    steps = doc["jobs"]["policy"]["steps"]
    check, test, diff = (shlex.split(c) for c in workflow_commands())
    sarif = check[check.index(">") + 1]
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif"))
    assert upload["with"]["sarif_file"] == sarif and "always()" in upload["if"]
    assert check[check.index("--format") + 1] == "sarif" and "--strict" in check
    assert test[test.index("--junit") + 1] == "policy-tests.xml"
    assert test[test.index("--min-coverage") + 1] == "100" and "--fail-on-empty" in test
    out = diff[diff.index("--out") + 1]
    assert diff[diff.index("--base") + 1] == "git:origin/$BASE_REF:policies"
    summary = [s["run"].strip() for s in steps if "GITHUB_STEP_SUMMARY" in s.get("run", "")]
    assert summary == [f'cat {out}/diff.md >> "$GITHUB_STEP_SUMMARY"']
    # later steps still run when check fails, so the diff reaches the summary
    later = [s for s in steps if s.get("name", "").startswith(("Test", "Diff", "Post"))]
    assert len(later) == 3 and all("always()" in s["if"] for s in later)


#: The options of check and test as issue 9 fixes them (their commands come from other
#: branches); diff's are read from the CLI itself.
SPEC_OPTIONS = {
    "check": {"--policy", "--format", "--strict"},
    "test": {"--policy", "--junit", "--min-coverage", "--fail-on-empty"},
}


def _parses(argv: list[str]) -> None:
    """Every option of ``argv`` exists; diff's line is parsed by the CLI itself."""
    args = argv[2:argv.index(">")] if ">" in argv else argv[2:]
    used = {a for a in args if a.startswith("--")}
    if argv[1] == "diff":
        command = cli.commands["diff"]
        ctx = command.make_context("diff", list(args))
        assert isinstance(ctx, click.Context)
        used_names = {p.name for p in command.params if set(p.opts) & used}
        assert {"base", "head", "data", "out"} <= used_names
    else:
        assert used <= SPEC_OPTIONS[argv[1]], argv


def test_the_commands_are_valid_for_the_cli(monkeypatch):
    monkeypatch.chdir(ROOT)  # --data sample_data must exist
    for line in workflow_commands():
        _parses(shlex.split(line))
    assert "diff" in cli.commands


def test_pre_commit_hooks_run_check_and_test_as_the_readme_says(monkeypatch):
    monkeypatch.chdir(ROOT)
    hooks = {h["id"]: h for h in _yaml(HOOKS)}
    assert set(hooks) == {"support-audit-check", "support-audit-test"}
    section = readme_section()
    for hook_id, hook in hooks.items():
        assert hook["language"] == "python" and hook["pass_filenames"] is False
        assert hook["files"] == "^policies/"
        line = " ".join([hook["entry"], *hook["args"]])
        assert f"- id: {hook_id}   # {line}" in section or f"- id: {hook_id}    # {line}" in section
        _parses(shlex.split(line))
    assert hooks["support-audit-check"]["args"] == ["--policy", "policies", "--strict"]
