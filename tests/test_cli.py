"""The command line as a user meets it: messages, documented exit codes, no tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from audit.cli import main

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
SAMPLE = ROOT / "sample_data"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_help_lists_commands_and_exit_codes(capsys):
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    for command in ("run", "explain", "report", "check", "schema", "sample-data"):
        assert command in out
    assert "2 invalid policy" in out and "3" in out


def test_version(capsys):
    from audit import __version__

    code, out, _ = run_cli(capsys, "--version")
    assert code == 0
    assert __version__ in out


def test_unknown_option_is_usage_error_4(capsys):
    code, _, err = run_cli(capsys, "run", "--bogus")
    assert code == 4
    assert "No such option" in err
    assert "Traceback" not in err


def test_missing_data_dir_is_usage_error(capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o"))
    assert code == 4
    assert "does not exist" in err


def test_check_default_policy_ok(capsys):
    code, out, _ = run_cli(capsys, "check", "--policy", str(POLICIES))
    assert code == 0
    assert out.startswith("ok: euserv-support 1.0.0: 2 tiers, 10 rules")


def test_check_bad_policy_exit_2_with_location(capsys, tmp_path):
    bundle = tmp_path / "p"
    shutil.copytree(POLICIES, bundle)
    cls = bundle / "classification.yaml"
    text = cls.read_text()
    cls.write_text(text.replace("when: category = 'webdesign'", "when: categroy = 'webdesign'"))
    line = next(i for i, ln in enumerate(cls.read_text().splitlines(), 1) if "categroy" in ln)
    code, _, err = run_cli(capsys, "check", "--policy", str(bundle))
    assert code == 2
    assert f"classification.yaml:{line}:" in err
    assert "categroy" in err and "did you mean 'category'" in err
    assert "Traceback" not in err


def test_hostile_condition_rejected_before_duckdb(capsys, tmp_path, monkeypatch):
    import duckdb

    def no_duckdb(*a, **k):  # pragma: no cover - must not be reached
        raise AssertionError("a hostile policy reached DuckDB")

    monkeypatch.setattr(duckdb, "connect", no_duckdb)
    bundle = tmp_path / "p"
    shutil.copytree(POLICIES, bundle)
    cls = bundle / "classification.yaml"
    cls.write_text(
        cls.read_text().replace(
            "when: category = 'documentation'",
            "when: category IN (SELECT * FROM read_csv('/etc/passwd'))",
        )
    )
    code, _, err = run_cli(
        capsys, "run", "--policy", str(bundle), "--data", str(SAMPLE), "--out", str(tmp_path / "o")
    )
    assert code == 2
    assert "classification.yaml:" in err
    assert not (tmp_path / "o" / "findings.csv").exists()


def test_missing_table_file_exit_3(capsys, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    next(data.glob("invoice_lines.*")).unlink()
    code, _, err = run_cli(
        capsys, "run", "--data", str(data), "--out", str(tmp_path / "o"), "--no-report", "-q"
    )
    assert code == 3
    assert "invoice_lines" in err
    assert "Traceback" not in err


def test_schema_command_prints_json_schema(capsys):
    code, out, _ = run_cli(capsys, "schema")
    assert code == 0
    schema = json.loads(out)
    assert "classification" in json.dumps(schema)


def test_python_dash_m_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "audit", "check", "--policy", str(POLICIES)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok: euserv-support")
