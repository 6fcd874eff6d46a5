"""Dates outside the sane range are quarantined (date_out_of_range), never a crash (issue 14).

A naive ``0001-01-01 00:00`` in Europe/Berlin is year 0 in UTC: it used to reach Great
Expectations' pandas bridge and the report's month formatting and end the run with exit 5.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from audit.api import check_period, run_audit
from audit.cli import main
from audit.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
SAMPLE = ROOT / "sample_data"

BAD_TICKETS = [
    # ticket id, opened_at as written
    ("T-900001", "0001-01-01 00:00:00"),  # year 0 in UTC
    ("T-900002", "1969-12-31 23:59:59"),  # the day before the default range
    ("T-900003", "2101-01-01 00:00:00"),  # the day after it
    ("T-900004", "0001-01-01T00:00:00+01:00"),  # with an offset
    ("T-900005", "9999-12-31 23:59:59"),
]


def data_with_bad_dates(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    tickets = data / "tickets.csv"
    lines = tickets.read_text(encoding="utf-8").splitlines(keepends=True)
    for ticket, opened in BAD_TICKETS:
        lines.append(f"{ticket},K-10061,,{opened},,,high,portal,webdesign,Year test,,extended\n")
    lines.append("T-900010,K-10061,,1970-01-01 00:00:00,,,high,portal,webdesign,First day,,extended\n")
    tickets.write_text("".join(lines), encoding="utf-8")
    entries = data / "time_entries.csv"
    entries.write_text(entries.read_text(encoding="utf-8")
                       + "E-9000001,T-100001,katrin.r,0001-01-01T00:00:00+00:00,0001-01-01T00:15:00+00:00,\n",
                       encoding="utf-8")
    lines_csv = data / "invoice_lines.csv"
    lines_csv.write_text(lines_csv.read_text(encoding="utf-8")
                         + "L-9;R-9;K-10004;T-100099;01.01.0001;1,00;17,50;17,50\n", encoding="utf-8")
    return data


def test_out_of_range_dates_are_quarantined_with_a_reason_and_the_run_completes(tmp_path):
    data = data_with_bad_dates(tmp_path)
    result = run_audit(POLICIES, data, tmp_path / "out", gx="full")
    q = result.ingest.quarantine.to_pylist()
    reasons = {(r["table"], r["value"]): r for r in q if r["expectation"] == "date_out_of_range"}
    for _, opened in BAD_TICKETS:
        row = reasons[("tickets", opened)]
        assert row["column"] == "opened_at"
        assert "is outside the dates this audit accepts (1970-01-01 to 2100-12-31" in row["reason"]
    assert ("time_entries", "0001-01-01T00:00:00+00:00") in reasons
    assert ("invoice_lines", "01.01.0001") in reasons
    assert not any(r["value"] == "1970-01-01 00:00:00" for r in q)  # the first day is inside
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    for table, counts in summary["rows"].items():
        assert counts["in"] == counts["loaded"] + counts["quarantined"], table


def test_the_range_is_a_policy_setting(tmp_path):
    data = data_with_bad_dates(tmp_path)
    policy = tmp_path / "policy"
    shutil.copytree(POLICIES, policy)
    bundle = policy / "bundle.yaml"
    bundle.write_text(bundle.read_text(encoding="utf-8").replace(
        "  language: de\n", "  language: de\n  earliest_date: 1900-01-01\n  latest_date: 9999-12-31\n"),
        encoding="utf-8")
    with pytest.raises(Exception, match="latest_date: 9999-12-31 is outside"):
        run_audit(policy, data, None, gx="off")
    bundle.write_text(bundle.read_text(encoding="utf-8").replace("9999-12-31", "2999-12-31"),
                      encoding="utf-8")
    result = run_audit(policy, data, None, gx="off")
    values = {r["value"] for r in result.ingest.quarantine.to_pylist()
              if r["expectation"] == "date_out_of_range"}
    assert "1969-12-31 23:59:59" not in values and "2101-01-01 00:00:00" not in values
    assert "0001-01-01 00:00:00" in values and "9999-12-31 23:59:59" in values


def test_cli_run_with_year_one_dates_and_report_exits_normally(tmp_path, capsys):
    data = data_with_bad_dates(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["run", "--policy", str(POLICIES), "--data", str(data), "--out", str(tmp_path / "o"),
              "-q", "--gx", "full"])
    err = capsys.readouterr().err
    assert e.value.code in (0, 1), err
    assert "internal error" not in err
    assert (tmp_path / "o" / "report.html").is_file()


@pytest.mark.parametrize("period", ["0000-01", "0001-01", "1899-12", "3000-01", "9999-12"])
def test_periods_outside_the_range_are_usage_errors(period, capsys):
    with pytest.raises(UsageError, match="is not a month from 1900-01 to 2999-12"):
        check_period(period)
    with pytest.raises(SystemExit) as e:
        main(["run", "--out", "/nonexistent-never-created", "--period", period, "-q"])
    assert e.value.code == 4
    assert "Traceback" not in capsys.readouterr().err
