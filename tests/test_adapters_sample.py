"""The sample scenario read from product exports: Zammad tickets, Kimai time, accounting CSV
invoice lines (one sources.yaml) audits to the same findings as the canonical sample data."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from product_exports import (
    MAPPINGS_YAML,
    accounting_csv,
    kimai_xlsx,
    loaded_tables,
    write_json,
    zammad_tickets,
)

ROOT = Path(__file__).parent.parent
SAMPLE = ROOT / "sample_data"

SOURCES = """\
tables:
  customers: {sample}/customers.csv
  services: {sample}/services.csv
  tickets:
    - adapter: zammad
      files: zammad/tickets.json
      ticket_prefix: T-
      columns:
        customer_id: customer_number
        service_id: service_number
  time_entries:
    - adapter: kimai
      files: kimai/**/*.xlsx
      ticket_prefix: T-
  invoice_lines:
    - adapter: generic
      files: buchhaltung/rechnungspositionen.csv
      columns:
        line_id: Position
        invoice_id: Belegnummer
        customer_id: Kundennummer
        ticket_id: {{field: Buchungstext, regex: 'T-\\d+'}}
        service_date: {{field: Leistungsdatum, format: '%d.%m.%Y'}}
        quantity: Menge
        unit_price: Einzelpreis
        amount: Betrag
"""

#: finding columns that name the export's own ids (Kimai has no entry id: file and row instead)
IDS = ("finding_id", "entry_id")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from audit.api import run_audit

    tmp = tmp_path_factory.mktemp("mixed")
    tables = loaded_tables(SAMPLE)
    for folder in ("zammad", "kimai", "buchhaltung"):
        (tmp / folder).mkdir()
    write_json(tmp / "zammad" / "tickets.json", zammad_tickets(tables["tickets"]))
    entries = tables["time_entries"]
    half = len(entries) // 2  # two Kimai exports, as a glob picks them up
    kimai_xlsx(entries[:half], tmp / "kimai" / "kimai-1.xlsx")
    kimai_xlsx(entries[half:], tmp / "kimai" / "kimai-2.xlsx")
    accounting_csv(tables["invoice_lines"], tmp / "buchhaltung" / "rechnungspositionen.csv")
    # the optional canonical tables the sample has (agents, status history) are read as they are
    optional = "".join(f"  {name}: {SAMPLE.as_posix()}/{name}.csv\n"
                       for name in ("agents", "ticket_status_history") if (SAMPLE / f"{name}.csv").exists())
    sources = SOURCES.format(sample=SAMPLE.as_posix()).replace("tables:\n", "tables:\n" + optional, 1)
    (tmp / "sources.yaml").write_text(sources, encoding="utf-8")
    policy = tmp / "policy"
    shutil.copytree(ROOT / "policies", policy)
    (policy / "mappings.yaml").write_text(MAPPINGS_YAML, encoding="utf-8")
    mixed = run_audit(policy, tmp / "sources.yaml", tmp / "out", gx="off")
    canonical = run_audit(ROOT / "policies", SAMPLE, tmp / "out0", gx="off")
    return tmp, mixed, canonical, tables


def _rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return [{k: v for k, v in row.items() if k not in IDS} for row in csv.DictReader(f)]


def test_the_mixed_sources_give_the_same_findings(runs) -> None:
    tmp, mixed, canonical, _ = runs
    assert len(canonical.findings) > 100
    assert _rows(tmp / "out" / "findings.csv") == _rows(tmp / "out0" / "findings.csv")
    assert mixed.summary["money"] == canonical.summary["money"]


def test_every_exported_row_is_loaded_and_counted_per_file(runs) -> None:
    tmp, mixed, _, tables = runs
    per_file = {f["file"]: f for f in mixed.summary["source_files"]}
    assert per_file["zammad/tickets.json"]["rows_in"] == len(tables["tickets"])
    kimai = [f for name, f in per_file.items() if name.startswith("kimai/")]
    assert [f["file"] for f in kimai] == ["kimai/kimai-1.xlsx", "kimai/kimai-2.xlsx"]
    assert sum(f["rows_in"] for f in kimai) == len(tables["time_entries"])
    for f in per_file.values():
        assert f["rows_in"] == f["loaded"] + f["quarantined"]
    assert sum(f["quarantined"] for f in per_file.values() if f["adapter"] != "canonical") == 0
