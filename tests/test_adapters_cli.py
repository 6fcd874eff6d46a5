"""The adapter commands as a user runs them: import, sources check, run --data sources.yaml."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from test_adapters_products import (
    CUSTOMERS,
    INVOICES,
    KIMAI_CSV,
    SERVICES,
    ZAMMAD_MAPPINGS,
    ZAMMAD_TICKETS,
    ZAMMAD_TIME,
)

from audit.cli import main

ROOT = Path(__file__).parent.parent


class Result:
    def __init__(self, exit_code: int, output: str):
        self.exit_code, self.output = exit_code, output


def invoke(capsys, argv: list[str]) -> Result:
    """The command as a user runs it: main() maps every error to its documented exit code."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return Result(exc.value.code, out + err)


def _csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_import_zammad_joins_ids_and_reads_quarter_hours(tmp_path: Path, capsys) -> None:
    (tmp_path / "tickets.json").write_text(json.dumps(ZAMMAD_TICKETS), encoding="utf-8")
    (tmp_path / "time.json").write_text(json.dumps(ZAMMAD_TIME), encoding="utf-8")
    (tmp_path / "zammad.yaml").write_text(
        "ticket_prefix: T-\ntime_unit_minutes: 15\nstarted_at: booking\n"
        "columns: {customer_id: customer_number, service_id: service_number}\n", encoding="utf-8")
    policy = tmp_path / "policy"
    import shutil

    shutil.copytree(ROOT / "policies", policy)
    (policy / "mappings.yaml").write_text(ZAMMAD_MAPPINGS, encoding="utf-8")
    out = tmp_path / "canonical"
    result = invoke(capsys, [
        "import", "--from", "zammad", "--config", str(tmp_path / "zammad.yaml"), "--policy", str(policy),
        "--out", str(out), str(tmp_path / "tickets.json"), str(tmp_path / "time.json")])
    assert result.exit_code == 0, result.output
    assert "time.json: 4 records -> time_entries: 3 mapped, 1 set aside" in result.output
    assert "tickets.category: values no mapping knows (kept as they are): '9' (1x)" in result.output
    tickets = _csv(out / "tickets.csv")
    assert [(t["ticket_id"], t["category"], t["priority"], t["tier"]) for t in tickets] == [
        ("T-1", "webdesign", "normal", "extended"), ("T-2", "9", "low", "standard")]
    entries = _csv(out / "time_entries.csv")
    assert [(e["entry_id"], e["ticket_id"], e["started_at"], e["minutes"]) for e in entries] == [
        ("1", "T-1", "2026-06-02T08:00:00+00:00", "30"),  # 2.0 quarter hours, started when booked
        ("2", "T-1", "2026-06-03T08:00:00+00:00", "7.5"),
        ("4", "T-1", "2026-06-30T22:10:00+00:00", "30"),
    ]
    (aside,) = _csv(out / "set_aside.csv")
    assert (aside["table"], aside["line"], aside["where"], aside["value"]) == ("time_entries", "3", "$[2]", "999")
    assert json.loads(aside["raw"])["ticket_id"] == 999


def test_import_needs_a_known_product_and_generic_needs_a_table(tmp_path: Path, capsys) -> None:
    (tmp_path / "x.csv").write_text("a\n1\n", encoding="utf-8")
    result = invoke(capsys, ["import", "--from", "otrs", "--out", str(tmp_path / "o"), str(tmp_path / "x.csv")])
    assert result.exit_code == 4 and "'otrs' is not one of" in result.output
    result = invoke(capsys, ["import", "--from", "generic", "--out", str(tmp_path / "o"), str(tmp_path / "x.csv")])
    assert result.exit_code == 4 and "needs a --config naming the table" in result.output


def _world(tmp: Path) -> Path:
    for name, text in (("customers.csv", CUSTOMERS), ("services.csv", SERVICES),
                       ("invoice_lines.csv", INVOICES.format(t="T-1")), ("kimai.csv", KIMAI_CSV)):
        (tmp / name).write_text(text, encoding="utf-8")
    (tmp / "tickets.csv").write_text(
        "ticket_id,customer_id,service_id,opened_at,priority,category,subject,tier\n"
        "T-1,K-1,S-1,2026-06-01 08:00,normal,webdesign,Webseite kaputt,extended\n", encoding="utf-8")
    (tmp / "sources.yaml").write_text(
        "tables:\n  customers: customers.csv\n  services: services.csv\n  tickets: tickets.csv\n"
        "  time_entries:\n    - adapter: kimai\n      files: kimai.csv\n      ticket_prefix: T-\n"
        "  invoice_lines: invoice_lines.csv\n", encoding="utf-8")
    return tmp / "sources.yaml"


def test_sources_check_and_run(tmp_path: Path, capsys) -> None:
    sources = _world(tmp_path)
    result = invoke(capsys, ["sources", "check", str(sources), "--rows", "1"])
    assert result.exit_code == 0, result.output
    assert "  kimai: kimai.csv\n" in result.output
    assert "    ticket_id <- kimai: a reference in Description/Tags (2 patterns, prefix 'T-')" in result.output
    assert "  records: 5 in, 4 mapped, 1 set aside" in result.output
    assert "set aside kimai.csv:5: kimai: line 5: ticket_id: no ticket reference" in result.output
    assert ('kimai.csv:2 {"entry_id": "kimai-kimai:2", "ticket_id": "T-1", "agent": "anna", '
            '"started_at": "2026-06-02 09:00:00", "ended_at": null, "minutes": "30"}') in result.output
    out = tmp_path / "out"
    result = invoke(capsys, ["run", "--data", str(sources), "--out", str(out), "-q", "--gx", "off", "--no-report"])
    assert result.exit_code == 1, result.output  # findings at severity error
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["rows"]["time_entries"] == {"in": 5, "loaded": 4, "quarantined": 1}
    assert {"table": "time_entries", "file": "kimai.csv", "adapter": "kimai", "rows_in": 5, "loaded": 4,
            "quarantined": 1} in summary["source_files"]
    assert "kimai.csv" in summary["inputs"]
    q = _csv(out / "quarantine.csv")
    assert [(r["source_file"], r["line"], r["expectation"]) for r in q] == [("kimai.csv", "5", "not_mappable")]
    explain = invoke(capsys, ["explain", "--ticket", "T-1", "--data", str(sources)])
    assert explain.exit_code == 0 and "T-1" in explain.output


def test_a_broken_sources_yaml_is_exit_3(tmp_path: Path, capsys) -> None:
    (tmp_path / "sources.yaml").write_text("tables:\n  tickets: [\n", encoding="utf-8")
    result = invoke(capsys, ["run", "--data", str(tmp_path / "sources.yaml"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 3
    assert "sources.yaml:3:1: is not valid YAML" in result.output
