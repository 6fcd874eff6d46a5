"""Warnings are first-class (issue 14): printed, in summary.json, in the report, and
``--strict-data`` makes them exit 3. Mixed encodings are decoded per line; a JSON record whose
keys collide (``"name"`` and ``"name "``) is quarantined; a month without data says so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from audit.cli import main
from audit.db import connect
from audit.ingest import load_data

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
SAMPLE = ROOT / "sample_data"
FORMATS = ROOT / "tests" / "fixtures" / "ingest" / "formats"
TIERS = ["standard", "extended"]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def mixed_sample(tmp_path: Path) -> Path:
    """The sample with one Windows-1252 line in the (UTF-8) customers export."""
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    path = data / "customers.csv"
    raw = path.read_bytes()
    assert "Bäckerei".encode() in raw  # the file has real UTF-8 text
    lines = raw.split(b"\n")
    lines.insert(3, "K-99999,Bäckerei Größe & Söhne €,basic".encode("cp1252"))
    path.write_bytes(b"\n".join(lines))
    return data


def test_a_cp1252_line_in_a_utf8_file_is_decoded_in_its_own_encoding(tmp_path):
    data = mixed_sample(tmp_path)
    con = connect()
    result = load_data(con, data, timezone="Europe/Berlin", tier_ids=TIERS, gx="off")
    names = dict(con.execute("SELECT customer_id, name FROM customers "
                             "WHERE customer_id IN ('K-99999', 'K-10001')").fetchall())
    assert names == {"K-99999": "Bäckerei Größe & Söhne €", "K-10001": "Bäckerei Fischer"}
    assert ("customers.csv: line 4 is Windows-1252 in a UTF-8 file; each line was read "
            "in its own encoding") in result.warnings[0]
    assert result.tables["customers"].dialect.startswith("UTF-8 with Windows-1252 lines")


def test_a_whole_cp1252_file_is_still_cp1252_without_a_warning(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    path = data / "customers.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("cp1252"))
    con = connect()
    result = load_data(con, data, timezone="Europe/Berlin", tier_ids=TIERS, gx="off")
    assert con.execute("SELECT name FROM customers WHERE customer_id = 'K-10001'").fetchone() == (
        "Bäckerei Fischer",)
    assert not [w for w in result.warnings if "Windows-1252" in w]


def test_json_keys_that_collide_after_trimming_quarantine_the_record(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(FORMATS, data)
    shutil.copy(SAMPLE / "tickets.csv", data)
    shutil.copy(SAMPLE / "time_entries.csv", data)
    (data / "customers.json").unlink()
    (data / "customers.jsonl").write_text(
        '{"customer_id": "C-1", "name": "Anna", "contract": "basic"}\n'
        '{"customer_id": "C-2", "name": "Bernd", "name ": "Carla", "contract": "basic"}\n'
        '{"customer_id": "C-3", "name": "Dora", "name": "Dora", "contract": "basic"}\n'
        '{"customer_id": "C-4", "name": "Eva", "name": "Frank", "contract": "basic"}\n',
        encoding="utf-8")
    con = connect()
    result = load_data(con, data, timezone="Europe/Berlin", tier_ids=TIERS, gx="off")
    q = {r["line"]: r for r in result.quarantine.to_pylist() if r["table"] == "customers"}
    assert set(q) == {2, 4}
    assert q[2]["reason"] == ('the keys "name" and "name " both give column name, with different '
                              "values: the record is ambiguous (keep one key)")
    assert q[4]["expectation"] == "parse_error"
    assert dict(con.execute("SELECT customer_id, name FROM customers").fetchall()) == {
        "C-1": "Anna", "C-3": "Dora"}
    c = result.tables["customers"]
    assert c.rows_in == c.loaded + c.quarantined == 4


def test_warnings_are_printed_in_summary_and_report(tmp_path, capsys):
    data = mixed_sample(tmp_path)
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "run", "--policy", str(POLICIES), "--data", str(data),
                           "--out", str(out), "-q", "--gx", "off", "--lang", "en")
    assert code == 1
    assert "warning: customers.csv: line 4 is Windows-1252" in err
    summary = json.loads((out / "summary.json").read_text())
    assert any("Windows-1252" in w for w in summary["warnings"])
    html = (out / "report.en.html").read_text()  # --lang en beside the policy's German
    assert "Data warnings" in html and "customers.csv: line 4 is Windows-1252" in html


def test_strict_data_turns_warnings_into_exit_3_and_writes_nothing(tmp_path, capsys):
    data = mixed_sample(tmp_path)
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "run", "--policy", str(POLICIES), "--data", str(data),
                           "--out", str(out), "-q", "--gx", "off", "--strict-data")
    assert code == 3
    assert "--strict-data: the data has warnings" in err and "Windows-1252" in err
    assert not (out / "run.json").exists() and not (out / "findings.csv").exists()


def test_clean_data_passes_strict_data(tmp_path, capsys):
    code, _, err = run_cli(capsys, "run", "--policy", str(POLICIES), "--data", str(SAMPLE),
                           "--out", str(tmp_path / "o"), "-q", "--gx", "off", "--no-report",
                           "--strict-data", "--fail-on", "never")
    assert code == 0, err
    assert "warning:" not in err


def test_a_month_without_data_says_so(tmp_path, capsys):
    out = tmp_path / "o"
    code, stdout, err = run_cli(capsys, "run", "--policy", str(POLICIES), "--data", str(SAMPLE),
                                "--out", str(out), "-q", "--gx", "off", "--period", "2030-01")
    assert code == 0
    assert "warning: no data in 2030-01: no ticket, time entry or invoice line falls in this month" in err
    assert "findings: 0 open" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["months"] == [] and summary["warnings"][-1].startswith("no data in 2030-01")
    code, _, err = run_cli(capsys, "run", "--policy", str(POLICIES), "--data", str(SAMPLE),
                           "--out", str(out), "-q", "--gx", "off", "--period", "2030-01",
                           "--strict-data")
    assert code == 3
