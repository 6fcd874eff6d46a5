"""The command line as a user meets it: messages, documented exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
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
    for command in ("run", "explain", "report", "check", "test", "schema", "sample-data"):
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


def test_a_data_uri_needs_the_spark_engine(capsys, tmp_path):
    """``--data s3a://…`` is Spark's to read (docs/scale-out.md): without ``--engine spark`` it
    is refused (exit 4) before any data is read or output written."""
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "run", "--data", "s3a://bucket/exports", "--out", str(out))
    assert code == 4
    assert "a URI is read by Spark only; add --engine spark" in err
    assert not out.exists()


def test_check_default_policy_ok(capsys):
    code, out, _ = run_cli(capsys, "check", "--policy", str(POLICIES), "--as-of", "2026-07-01")
    assert code == 0
    assert out.splitlines()[-1].startswith("ok: euserv-support 1.0.0: 2 tiers, 10 rules")


def test_check_bad_policy_exit_2_with_location(capsys, tmp_path):
    bundle = tmp_path / "p"
    shutil.copytree(POLICIES, bundle)
    cls = bundle / "classification.yaml"
    text = cls.read_text()
    cls.write_text(text.replace("when: category = 'webdesign'", "when: categroy = 'webdesign'"))
    line = next(i for i, ln in enumerate(cls.read_text().splitlines(), 1) if "categroy" in ln)
    code, out, err = run_cli(capsys, "check", "--policy", str(bundle))
    assert code == 2
    assert f"classification.yaml:{line}:13: SA122 [error] unknown column 'categroy'" in out
    assert "did you mean 'category'" in out
    assert "Traceback" not in out + err


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
    assert proc.stdout.splitlines()[-1].startswith("ok: euserv-support")


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    """The README's main job, through the CLI: audit the sample and write every output."""
    out = tmp_path_factory.mktemp("run") / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "audit", "run", "--policy", str(POLICIES), "--data", str(SAMPLE),
         "--out", str(out), "-q"],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "SOURCE_DATE_EPOCH": "1790000000"},
    )
    return proc, out


def test_run_on_sample_exits_1_and_writes_every_output(sample_run):
    proc, out = sample_run
    assert proc.returncode == 1, proc.stderr  # the sample has planted open errors
    for name in ("findings.parquet", "findings.csv", "classifications.parquet",
                 "reconciliation.parquet", "summary.json", "policy.json", "quarantine.parquet",
                 "quarantine.csv", "actions.csv", "report.html"):
        assert (out / name).is_file(), name
    assert not (out / "findings.jsonl").exists()  # JSON Lines only with --format …,json
    summary = json.loads((out / "summary.json").read_text())
    rows_in = sum(r["in"] for r in summary["rows"].values())
    quarantined = sum(r["quarantined"] for r in summary["rows"].values())
    assert f"rows: {rows_in} in, {rows_in - quarantined} loaded, {quarantined} quarantined" in proc.stdout
    assert f"net {summary['money']['net_eur']} EUR" in proc.stdout
    assert str((out / "report.html").resolve()) in proc.stdout
    assert "Traceback" not in proc.stderr


def test_fail_on_never_exits_0(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "run", "--data", str(SAMPLE), "--policy", str(POLICIES),
                           "--out", str(tmp_path / "o"), "--no-report", "--fail-on", "never", "-q")
    assert code == 0
    assert not (tmp_path / "o" / "report.html").exists()
    assert "findings:" in out


def test_report_rerenders_from_saved_outputs_in_english(capsys, sample_run, tmp_path):
    _, out = sample_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    german = (copy / "report.html").read_bytes()
    code, stdout, _ = run_cli(capsys, "report", "--from", str(copy), "--lang", "en")
    assert code == 0
    # another language than the policy's goes beside the German report, never over it
    html = (copy / "report.en.html").read_text()
    assert 'lang="en"' in html
    assert "Action list" in html
    assert (copy / "report.html").read_bytes() == german
    assert f"report: {(copy / 'report.en.html').resolve()}\n" == stdout
    code, stdout, _ = run_cli(capsys, "report", "--from", str(copy), "--lang", "en")
    assert stdout.endswith("(replaced the earlier file)\n")
    target = tmp_path / "elsewhere.html"
    code, stdout, _ = run_cli(capsys, "report", "--from", str(copy), "--output", str(target))
    assert code == 0 and 'lang="de"' in target.read_text() and str(target.resolve()) in stdout


def test_explain_cli_shows_rules_and_arithmetic(capsys):
    truth = json.loads((SAMPLE / "ground_truth.json").read_text())
    planted = next(f for f in truth["findings"] if f["kind"] == "extended_unbilled" and f["status"] == "open")
    code, out, _ = run_cli(capsys, "explain", "--ticket", planted["ticket_id"], "--month", planted["month"],
                           "--policy", str(POLICIES), "--data", str(SAMPLE))
    assert code == 0
    assert planted["ticket_id"] in out
    assert "extended_unbilled" in out
    assert "units" in out and "€" in out


def test_explain_unknown_ticket_is_usage_error(capsys):
    code, _, err = run_cli(capsys, "explain", "--ticket", "T-NOPE", "--policy", str(POLICIES),
                           "--data", str(SAMPLE))
    assert code == 4
    assert "T-NOPE" in err


@pytest.mark.parametrize(("option", "value", "said"), [
    ("--format", "parquet,xml", "--format 'parquet,xml'"),
    ("--memory-limit", "lots", "--memory-limit 'lots' is not an amount of memory"),
    ("--memory-limit", "0GB", "--memory-limit '0GB'"),
])
def test_bad_format_or_memory_limit_is_exit_4_before_any_work(capsys, tmp_path, option, value, said):
    code, _, err = run_cli(capsys, "run", "--data", str(SAMPLE), "--policy", str(POLICIES),
                           "--out", str(tmp_path / "o"), option, value, "-q")
    assert code == 4
    assert said in err and "Traceback" not in err
    assert not (tmp_path / "o" / "run.json").exists()


def test_format_json_and_memory_limit_write_jsonl_and_english_only(capsys, tmp_path):
    """--format parquet,json: no CSV, findings.jsonl; --lang en: texts in English only; the
    memory limit reaches DuckDB and the run completes under it."""
    out = tmp_path / "o"
    code, _, err = run_cli(capsys, "run", "--data", str(SAMPLE), "--policy", str(POLICIES),
                           "--out", str(out), "--format", "parquet,json", "--memory-limit", "1GB",
                           "--lang", "en", "--fail-on", "never", "-q")
    assert code == 0, err
    assert (out / "findings.jsonl").is_file() and not (out / "findings.csv").exists()
    assert not (out / "quarantine.csv").exists() and (out / "quarantine.parquet").is_file()
    lines = (out / "findings.jsonl").read_text(encoding="utf-8").splitlines()
    findings = pl.read_parquet(out / "findings.parquet")
    assert len(lines) == findings.height > 0
    assert "message_de" not in findings.columns and "message" in findings.columns
    manifest = json.loads((out / "run.json").read_text())
    assert "findings.jsonl" in manifest["files"] and "findings.csv" not in manifest["files"]


def test_memory_limit_reaches_duckdb_and_spills_to_tmp():
    from audit.db import connect

    con = connect(memory_limit="300MB")
    try:
        limit, temp = con.execute("SELECT current_setting('memory_limit'), "
                                  "current_setting('temp_directory')").fetchall()[0]
    finally:
        con.close()
    assert limit == "286.1 MiB"
    assert "support-audit-spill-" in temp and temp.startswith(__import__("tempfile").gettempdir())
