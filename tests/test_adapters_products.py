"""Each adapter end to end: a product's export as it comes -> canonical tables -> findings.

The world is small and computed by hand: customer K-1 with ticket T-1 (web design: extended,
17.50 € per started quarter hour until 30 June 2026, 19.00 € from 1 July), invoiced for one
quarter hour in June. The product's time becomes a units_mismatch (June) and, for July work, an
extended_unbilled finding whose units and euros are asserted.
"""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from audit.api import run_audit
from audit.errors import DataError

ROOT = Path(__file__).parent.parent

CUSTOMERS = "customer_id,name,contract\nK-1,Bäckerei Fischer,basic\n"
SERVICES = "service_id,customer_id,product,managed\nS-1,K-1,vserver,false\n"
TICKETS = (
    "ticket_id,customer_id,service_id,opened_at,priority,category,subject,tier\n"
    "{t},K-1,S-1,2026-06-01 08:00,normal,webdesign,Webseite kaputt,extended\n"
)
INVOICES = (
    "line_id;invoice_id;customer_id;ticket_id;service_date;quantity;unit_price;amount\n"
    "L-1;R-1;K-1;{t};15.06.2026;1,00;17,50;17,50\n"
)


def world(tmp: Path, time_source: str, files: dict[str, bytes | str], *, ticket: str = "T-1",
          tickets_source: str | None = None, mappings: str = "") -> object:
    """Write the canonical files, the product files and sources.yaml; audit them."""
    (tmp / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    (tmp / "services.csv").write_text(SERVICES, encoding="utf-8")
    (tmp / "tickets.csv").write_text(TICKETS.format(t=ticket), encoding="utf-8")
    (tmp / "invoice_lines.csv").write_text(INVOICES.format(t=ticket), encoding="utf-8")
    for name, content in files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    tickets = tickets_source or "  tickets: tickets.csv\n"
    (tmp / "sources.yaml").write_text(
        "tables:\n  customers: customers.csv\n  services: services.csv\n" + tickets
        + "  time_entries:\n" + time_source + "  invoice_lines: invoice_lines.csv\n", encoding="utf-8")
    policy = tmp / "policy"
    if not policy.exists():
        shutil.copytree(ROOT / "policies", policy)
    if mappings:
        (policy / "mappings.yaml").write_text(mappings, encoding="utf-8")
    return run_audit(policy, tmp / "sources.yaml", tmp / "out", gx="off")


def money_findings(result) -> dict[tuple[str, str], tuple[Decimal, Decimal, Decimal]]:
    """(kind, month) -> (expected units, billed units, expected €) of the billing findings."""
    out = {}
    for f in result.findings.iter_rows(named=True):
        if f["kind"] in ("units_mismatch", "extended_unbilled"):
            out[(f["kind"], f["month"])] = (f["expected_units"], f["billed_units"], f["expected_eur"])
    return out


def set_aside(result) -> list[tuple[str, int, str]]:
    q = result.ingest.quarantine.to_pylist()
    return [(r["source_file"], r["line"], r["reason"]) for r in q if r["expectation"] == "not_mappable"]


def per_file(result) -> dict[str, tuple[int, int, int]]:
    return {f["file"]: (f["rows_in"], f["loaded"], f["quarantined"]) for f in result.summary["source_files"]}


# -- Kimai --------------------------------------------------------------------------------------

KIMAI_DE_HEADER = (
    "Datum;Von;Bis;Dauer;Währung;Preis;Interner Preis;Stundenpreis;Festpreis;Name;Benutzer;E-Mail;"
    "Personalnummer;Kunde;Projekt;Tätigkeit;Beschreibung;Abrechenbar;Schlagworte;Typ;Kategorie;"
    "Konto;Projektnummer;USt-ID;Bestellnummer;Standort;Standort\n"
)


def kimai_row(day: str, start: str, end: str, duration: str, description: str, tags: str = "") -> str:
    return (f"{day};{start};{end};{duration};EUR;0;0;0;;Anna Schmidt;anna;anna@example.org;;Kunden;"
            f"Support;Support;{description};ja;{tags};timesheet;work;;;;;Büro;Remote\n")


KIMAI_CSV = KIMAI_DE_HEADER + "".join([
    kimai_row("2026-06-02", "09:00", "09:31", "0:30", "#1 Webseite geprüft"),  # rounded down by Kimai
    kimai_row("2026-06-02", "10:00", "11:10", "1:00", "Fehlersuche", "ticket:1"),  # a 10-minute break
    kimai_row("2026-06-03", "13:00", "13:05", "0:15", "Ticket#1 Rückruf"),  # rounded up
    kimai_row("2026-06-03", "14:00", "14:20", "0:20", "Teammeeting"),  # no ticket: set aside
    kimai_row("2026-07-01", "23:30", "00:15", "0:45", "#1 Nachtschicht"),  # past midnight, July
])


@pytest.mark.parametrize(("prefer", "june_units", "july_units"), [("duration", 7, 3), ("span", 9, 3)])
def test_kimai_csv_with_rounded_durations(tmp_path: Path, prefer: str, june_units: int, july_units: int) -> None:
    source = f"    - adapter: kimai\n      files: kimai.csv\n      ticket_prefix: T-\n      prefer: {prefer}\n"
    result = world(tmp_path, source, {"kimai.csv": KIMAI_CSV.encode("utf-8")})
    # duration: 30 min -> 2, 60 -> 4, 15 -> 1 = 7 units; span: 31 -> 3, 70 -> 5, 5 -> 1 = 9 units
    assert money_findings(result) == {
        ("units_mismatch", "2026-06"): (Decimal(june_units), Decimal(1), Decimal(june_units) * Decimal("17.50")),
        ("extended_unbilled", "2026-07"): (Decimal(july_units), Decimal(0), Decimal("57.00")),
    }
    assert set_aside(result) == [("kimai.csv", 5, "kimai: line 5: ticket_id: no ticket reference in the "
                                  "description or the tags (e.g. #67321, Ticket#67321, ticket:67321; see ticket_patterns)")]
    assert per_file(result)["kimai.csv"] == (5, 4, 1)


def test_kimai_decimal_hours_must_be_declared(tmp_path: Path) -> None:
    text = KIMAI_DE_HEADER + kimai_row("2026-06-02", "09:00", "09:31", "0,50", "#1 x")
    source = "    - adapter: kimai\n      files: k.csv\n      ticket_prefix: T-\n"
    result = world(tmp_path, source, {"k.csv": text})
    (file, line, reason), = set_aside(result)
    assert (file, line) == ("k.csv", 2)
    assert "'0,50' is not a duration h:mm" in reason  # never read as minutes or guessed as hours
    source += "      duration_format: hours\n"
    result = world(tmp_path, source, {"k.csv": text})
    assert money_findings(result)[("units_mismatch", "2026-06")][0] == Decimal(2)  # 30 min


# -- Redmine ------------------------------------------------------------------------------------

REDMINE_DE = (
    "Projekt;Datum;Benutzer;Aktivität;Ticket;Kommentar;Stunden\n"
    "Kundensupport;03.06.2026;Jürgen Müller;Support;Bug #1: Webseite lädt nicht;Überprüft;0,33\n"
    "Kundensupport;30.06.2026;Jürgen Müller;Support;Bug #1: Webseite lädt nicht;Plugin repariert;4,25\n"
    "Kundensupport;01.07.2026;Jürgen Müller;Support;Bug #1: Webseite lädt nicht;Nachkontrolle;1,00\n"
    "Kundensupport;01.07.2026;Jürgen Müller;Support;;Teammeeting;0,50\n"
)


def test_redmine_german_decimals_in_iso_8859_1(tmp_path: Path) -> None:
    source = "    - adapter: redmine\n      files: zeiten.csv\n      ticket_prefix: T-\n"
    result = world(tmp_path, source, {"zeiten.csv": REDMINE_DE.encode("iso-8859-1")})
    # 0,33 h = 19.8 min -> 2 units; 4,25 h = 255 min -> 17 units (June, 09:00 local); 1,00 h -> 4 (July)
    assert money_findings(result) == {
        ("units_mismatch", "2026-06"): (Decimal(19), Decimal(1), Decimal("332.50")),
        ("extended_unbilled", "2026-07"): (Decimal(4), Decimal(0), Decimal("76.00")),
    }
    (q,) = result.ingest.quarantine.to_pylist()  # no issue: the contract sets it aside, with its line
    assert (q["source_file"], q["line"], q["reason"]) == ("zeiten.csv", 5, "ticket_id is empty, but it is required")
    assert q["raw"] == "Kundensupport;01.07.2026;Jürgen Müller;Support;;Teammeeting;0,50"
    assert per_file(result)["zeiten.csv"] == (4, 3, 1)
    message = next(f["message"] for f in result.findings.iter_rows(named=True)
                   if f["month"] == "2026-06" and not f["kind"].startswith("sla_"))  # the billing one
    assert "19:48 min" in message  # 0.33 h exactly, not 0.33 minutes


# -- Zammad -------------------------------------------------------------------------------------

ZAMMAD_MAPPINGS = """\
mappings:
  - column: tickets.category
    source: zammad
    field: group_id
    values: {"3": webdesign}
  - column: tickets.tier
    source: zammad
    field: support_level
    values: {Erweitert: extended, Standard: standard}
"""

ZAMMAD_TICKETS = [
    {"id": 900, "number": "1", "title": "Webseite kaputt", "group_id": 3, "state_id": 4,
     "priority_id": 2, "customer_id": 12, "organization_id": 5, "owner_id": 3,
     "customer_number": "K-1", "service_number": "S-1", "support_level": "Erweitert",
     "created_at": "2026-06-01T06:00:00.000Z", "first_response_at": "2026-06-01T06:30:00.000Z",
     "close_at": None},
    {"id": 901, "number": "2", "title": "Frage", "group_id": 9, "state_id": 2, "priority_id": 1,
     "customer_id": 12, "organization_id": 5, "owner_id": 3, "customer_number": "K-1",
     "service_number": None, "support_level": "Standard",
     "created_at": "2026-06-05T06:00:00.000Z", "first_response_at": None, "close_at": None},
]
ZAMMAD_TIME = [
    {"id": 1, "ticket_id": 900, "ticket_article_id": 11, "time_unit": "2.0", "type_id": None,
     "created_by_id": 3, "created_at": "2026-06-02T08:00:00.000Z", "updated_at": "2026-06-02T08:00:00.000Z"},
    {"id": 2, "ticket_id": 900, "ticket_article_id": 12, "time_unit": "0.5", "type_id": 1,
     "created_by_id": 3, "created_at": "2026-06-03T08:00:00.000Z", "updated_at": "2026-06-03T08:00:00.000Z"},
    {"id": 3, "ticket_id": 999, "ticket_article_id": 13, "time_unit": "1.0", "type_id": 1,
     "created_by_id": 3, "created_at": "2026-06-03T09:00:00.000Z", "updated_at": "2026-06-03T09:00:00.000Z"},
    # booked 00:10 local on 1 July for 30 minutes: the work was done on 30 June (June's price)
    {"id": 4, "ticket_id": 900, "ticket_article_id": 14, "time_unit": "2", "type_id": 1,
     "created_by_id": 3, "created_at": "2026-06-30T22:10:00.000Z", "updated_at": "2026-06-30T22:10:00.000Z"},
]
ZAMMAD_TICKET_SOURCE = """\
  tickets:
    - adapter: zammad
      files: zammad/tickets.json
      ticket_prefix: T-
      columns: {customer_id: customer_number, service_id: service_number}
"""


def test_zammad_api_json_in_quarter_hours(tmp_path: Path) -> None:
    source = ("    - adapter: zammad\n      files: zammad/time_accountings.json\n"
              "      tickets: zammad/tickets.json\n      ticket_prefix: T-\n      time_unit_minutes: 15\n"
              "      agents: {3: anna}\n")
    result = world(tmp_path, source, {"zammad/tickets.json": json.dumps(ZAMMAD_TICKETS),
                                      "zammad/time_accountings.json": json.dumps(ZAMMAD_TIME)},
                   tickets_source=ZAMMAD_TICKET_SOURCE, mappings=ZAMMAD_MAPPINGS)
    # 2.0 units = 30 min -> 2; 0.5 = 7.5 min -> 1; 2 = 30 min -> 2 (30 June, booked 1 July): 5 units
    assert money_findings(result) == {
        ("units_mismatch", "2026-06"): (Decimal(5), Decimal(1), Decimal("87.50")),
    }
    assert set_aside(result) == [(
        "zammad/time_accountings.json", 3,
        "zammad: $[2]: ticket_id: internal ticket id 999 has no ticket number "
        "(the ticket is not in the ticket export named by 'tickets')")]
    assert per_file(result)["zammad/time_accountings.json"] == (4, 3, 1)
    # group 9 has no mapping: reported, and the ticket stays unclassified instead of vanishing
    assert "tickets.category: value(s) no mapping knows: '9' (1×)" in result.ingest.warnings
    kinds = {(f["ticket_id"], f["kind"]) for f in result.findings.iter_rows(named=True)}
    assert ("T-2", "unclassified_ticket") in kinds


def test_zammad_xlsx_time_accounting_report(tmp_path: Path) -> None:
    import datetime as dt

    import xlsxwriter

    path = tmp_path / "report.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Time Accounting")
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    sheet.write_row(0, 0, ["Ticket#", "Title", "Customer - Name", "Organization", "Agent - Name",
                           "Agent - Login", "Time Units", "Activity Type", "Created at"])
    for r, (units, booked) in enumerate([(3, dt.datetime(2026, 6, 10, 12, 0)), (1.5, dt.datetime(2026, 7, 2, 9, 0))], 1):
        sheet.write_row(r, 0, ["1", "Webseite kaputt", "Fischer", "Bäckerei Fischer", "Anna Schmidt", "anna", units, "Support"])
        sheet.write_datetime(r, 8, booked, stamp)
    book.close()
    source = ("    - adapter: zammad\n      files: report.xlsx\n      ticket_prefix: T-\n      time_unit_minutes: 15\n")
    result = world(tmp_path, source, {})
    # 3 units = 45 min -> 3 units (June); 1.5 units = 22.5 min -> 2 units at 19.00 (July)
    assert money_findings(result) == {
        ("units_mismatch", "2026-06"): (Decimal(3), Decimal(1), Decimal("52.50")),
        ("extended_unbilled", "2026-07"): (Decimal(2), Decimal(0), Decimal("38.00")),
    }


# -- Znuny --------------------------------------------------------------------------------------

def test_znuny_time_accounting_csv_naive_server_time(tmp_path: Path) -> None:
    accounting = ("ticket_id;article_id;time_unit;create_time;create_by\n"
                  "7;70;45.00;2026-06-02 10:00:00;2\n"
                  "7;71;20.00;2026-07-01 00:10:00;2\n")  # naive server time: 20 min before = June
    tickets = "id;tn;title\n7;1;Webseite kaputt\n"
    source = ("    - adapter: znuny\n      files: time_accounting.csv\n      tickets: ticket.csv\n"
              "      ticket_prefix: T-\n      agents: {2: jonas}\n")
    result = world(tmp_path, source, {"time_accounting.csv": accounting, "ticket.csv": tickets})
    # 45 min -> 3 units, 20 min -> 2 units, both June
    assert money_findings(result) == {("units_mismatch", "2026-06"): (Decimal(5), Decimal(1), Decimal("87.50"))}


# -- Jira ---------------------------------------------------------------------------------------

def _adf(text: str) -> dict:
    return {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]}


JIRA_WORKLOGS = {
    "startAt": 0, "maxResults": 1048576, "total": 4,
    "worklogs": [
        {"id": "10001", "issueId": "10010", "author": {"accountId": "5b10a", "displayName": "Mia Wagner"},
         "comment": _adf("Analyse"), "started": "2026-06-02T12:34:00.000+0000", "timeSpent": "3h 20m",
         "timeSpentSeconds": 12000},
        {"id": "10002", "issueId": "10010", "author": {"accountId": "5b10a", "displayName": "Mia Wagner"},
         "comment": _adf("Fix"), "started": "2026-06-03T08:00:00.000+0000", "timeSpent": "1h 1m"},
        {"id": "10003", "issueId": "10010", "author": {"accountId": "5b10a", "displayName": "Mia Wagner"},
         "comment": "v2 comment", "started": "2026-06-04T08:00:00.000+0000", "timeSpentSeconds": 100},
        {"id": "10004", "issueId": "10010", "author": {"accountId": "5b10a", "displayName": "Mia Wagner"},
         "started": "2026-06-05T08:00:00.000+0000", "timeSpent": "2 hours"},
    ],
}


def test_jira_worklogs(tmp_path: Path) -> None:
    source = "    - adapter: jira\n      files: worklogs/SUP-1.json\n"
    result = world(tmp_path, source, {"worklogs/SUP-1.json": json.dumps(JIRA_WORKLOGS)}, ticket="SUP-1")
    # 12000 s = 200 min -> 14 units; "1h 1m" = 61 min -> 5; 100 s -> 1 (an end time, exact): 20
    assert money_findings(result) == {("units_mismatch", "2026-06"): (Decimal(20), Decimal(1), Decimal("350.00"))}
    (file, line, reason), = set_aside(result)
    assert (file, line) == ("worklogs/SUP-1.json", 4)
    assert "$.worklogs[3]" in reason and "'2 hours' is not a Jira duration" in reason


# -- Freshdesk ----------------------------------------------------------------------------------

def test_freshdesk_time_entries(tmp_path: Path) -> None:
    entries = [
        {"id": 1, "ticket_id": 1, "agent_id": 77, "billable": True, "note": "", "time_spent": "01:20",
         "timer_running": False, "executed_at": "2026-06-03T10:00:00Z", "start_time": "2026-06-03T10:00:00Z",
         "created_at": "2026-06-03T11:20:05Z", "updated_at": "2026-06-03T11:20:05Z"},
        {"id": 2, "ticket_id": 1, "agent_id": 77, "billable": True, "note": "", "time_spent": "1.5",
         "timer_running": False, "executed_at": "2026-06-04T10:00:00Z", "start_time": "2026-06-04T10:00:00Z",
         "created_at": "2026-06-04T11:00:00Z", "updated_at": "2026-06-04T11:00:00Z"},
    ]
    source = "    - adapter: freshdesk\n      files: time_entries.json\n      ticket_prefix: T-\n      agents: {77: lena}\n"
    result = world(tmp_path, source, {"time_entries.json": json.dumps(entries)})
    assert money_findings(result) == {("units_mismatch", "2026-06"): (Decimal(6), Decimal(1), Decimal("105.00"))}
    (file, line, reason), = set_aside(result)
    assert (file, line) == ("time_entries.json", 2) and "'1.5' is not a duration h:mm" in reason


# -- sources.yaml errors ------------------------------------------------------------------------

def test_sources_yaml_errors_have_file_line_col(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x\n1\n", encoding="utf-8")
    (tmp_path / "sources.yaml").write_text(
        "tables:\n"
        "  tickets:\n"
        "    - adapter: zamad\n"
        "      files: a.csv\n"
        "  time_entry: a.csv\n"
        "  time_entries:\n"
        "    - adapter: kimai\n"
        "      files: nothing/*.csv\n"
        "      ticket_prefx: T-\n", encoding="utf-8")
    from audit.adapters import read_sources

    with pytest.raises(DataError) as exc:
        read_sources(tmp_path / "sources.yaml")
    text = str(exc.value)
    label = str(tmp_path / "sources.yaml")
    assert f"{label}:3:16: unknown adapter 'zamad' (did you mean 'zammad'?)" in text
    assert f"{label}:5:3: unknown table 'time_entry' (did you mean 'time_entries'?)" in text
    assert f"{label}:8:14: time_entries: no file matches 'nothing/*.csv'" in text
    assert f"{label}:9:7: unknown option 'ticket_prefx' (did you mean 'ticket_prefix'?)" in text


# -- hints for a raw export given as a canonical table --------------------------------------------

def test_a_raw_product_export_gets_product_hints(tmp_path: Path) -> None:
    """Zammad's time-accounting report dropped in as time_entries.csv: the hints name Zammad's
    columns and the adapter; no loose guess such as ticket_id -> article_ids."""
    from audit.db import connect
    from audit.ingest import load_data

    for name, text in (("customers.csv", CUSTOMERS), ("services.csv", SERVICES),
                       ("tickets.csv", TICKETS.format(t="T-1")), ("invoice_lines.csv", INVOICES.format(t="T-1"))):
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "time_entries.csv").write_text(
        "Ticket#,Title,Customer - Name,Organization,Agent - Name,Agent - Login,Time Units,Activity Type,Created at\n"
        "1,x,y,z,Anna,anna,2.0,Support,2026-06-02 10:00\n", encoding="utf-8")
    with pytest.raises(DataError) as exc:
        load_data(connect(), tmp_path, timezone="Europe/Berlin", tier_ids=["standard", "extended"], gx="off")
    text = str(exc.value)
    assert "for 'ticket_id': 'ticket#' is zammad, znuny's column for it" in text
    assert "for 'agent': 'agent - login' is zammad's column for it" in text
    assert "this looks like a zammad export: read it with 'support-audit import --from zammad'" in text
    (tmp_path / "time_entries.csv").write_text(
        "id,ticket_id_x,article_ids,agent,started_at,minutes\n1,1,2,a,2026-06-02 10:00,5\n", encoding="utf-8")
    with pytest.raises(DataError) as exc:
        load_data(connect(), tmp_path, timezone="Europe/Berlin", tier_ids=["standard", "extended"], gx="off")
    assert "article_ids'?" not in str(exc.value)
    assert "for 'ticket_id' did you mean 'ticket_id_x'?" in str(exc.value)


# -- generic --------------------------------------------------------------------------------------

def test_generic_mapping_with_typed_durations_and_formats(tmp_path: Path) -> None:
    """Any CSV: rename, a constant, a strptime format, a regex and a declared duration unit."""
    export = ("Nr|Vorgang|Mitarbeiter|Beginn|Aufwand\n"
              "a1|Ticket T-1 Webseite|anna|06/02/2026 09:00|PT1H20M\n"
              "a2|Ticket T-1 Mail|anna|06/03/2026 09:00|PT20M\n"
              "a3|Ticket T-1 Rückruf|anna|06/31/2026 09:00|PT5M\n")  # no 31 June: set aside
    source = ("    - adapter: generic\n      files: zeit.txt.csv\n      columns:\n"
              "        entry_id: Nr\n        ticket_id: {field: Vorgang, regex: 'T-\\d+'}\n"
              "        agent: Mitarbeiter\n        started_at: {field: Beginn, format: '%m/%d/%Y %H:%M'}\n"
              "        minutes: {field: Aufwand, duration: iso8601}\n"
              "        ended_at: {const: ''}\n")
    result = world(tmp_path, source, {"zeit.txt.csv": export})
    # 80 min -> 6 units, 20 min -> 2 units
    assert money_findings(result) == {("units_mismatch", "2026-06"): (Decimal(8), Decimal(1), Decimal("140.00"))}
    (file, line, reason), = set_aside(result)
    assert (file, line) == ("zeit.txt.csv", 4) and "'06/31/2026 09:00' does not have the format" in reason


def test_a_table_whose_every_record_is_set_aside(tmp_path: Path) -> None:
    text = KIMAI_DE_HEADER + kimai_row("2026-06-02", "09:00", "09:31", "0:30", "ohne Bezug")
    source = "    - adapter: kimai\n      files: k.csv\n"
    result = world(tmp_path, source, {"k.csv": text})
    assert result.summary["rows"]["time_entries"] == {"in": 1, "loaded": 0, "quarantined": 1}
    assert [r[:2] for r in set_aside(result)] == [("k.csv", 2)]
    assert per_file(result)["k.csv"] == (1, 0, 1)


def test_an_adapter_that_does_not_feed_the_table(tmp_path: Path) -> None:
    source = "    - adapter: kimai\n      files: k.csv\n"
    with pytest.raises(DataError, match="the kimai adapter does not feed the tickets table"):
        world(tmp_path, source, {"k.csv": KIMAI_CSV},
              tickets_source="  tickets:\n    - adapter: kimai\n      files: k.csv\n")


def test_freshdesk_tickets_and_time(tmp_path: Path) -> None:
    tickets = [
        {"id": 1, "subject": "Webseite kaputt", "priority": 2, "status": 4, "source": 3, "type": "Webdesign",
         "group_id": 5, "requester_id": 900, "company_id": 44, "created_at": "2026-06-01T06:00:00Z",
         "updated_at": "2026-06-02T06:00:00Z", "tags": [], "custom_fields": {"cf_tier": "Erweitert", "cf_service": "S-1"},
         "stats": {"first_responded_at": "2026-06-01T07:00:00Z", "resolved_at": None}},
    ]
    entries = [{"id": 1, "ticket_id": 1, "agent_id": 77, "billable": True, "note": "", "time_spent": "00:40",
                "executed_at": "2026-06-03T10:00:00Z", "start_time": "2026-06-03T10:00:00Z",
                "created_at": "2026-06-03T10:40:00Z"}]
    mappings = ("mappings:\n  - column: tickets.category\n    source: freshdesk\n    values: {Webdesign: webdesign}\n"
                "  - column: tickets.tier\n    source: freshdesk\n    values: {Erweitert: extended}\n"
                "  - column: tickets.customer_id\n    source: freshdesk\n    field: company_id\n    values: {\"44\": K-1}\n")
    source = "    - adapter: freshdesk\n      files: fd/time_entries.json\n      ticket_prefix: T-\n"
    tickets_source = "  tickets:\n    - adapter: freshdesk\n      files: fd/tickets.json\n      ticket_prefix: T-\n"
    result = world(tmp_path, source, {"fd/time_entries.json": json.dumps(entries), "fd/tickets.json": json.dumps(tickets)},
                   tickets_source=tickets_source, mappings=mappings)
    # 40 min -> 3 units, invoiced 1
    assert money_findings(result) == {("units_mismatch", "2026-06"): (Decimal(3), Decimal(1), Decimal("52.50"))}
    cls = result.classifications.row(0, named=True)
    assert (cls["ticket_id"], cls["recorded_tier"], cls["policy_tier"]) == ("T-1", "extended", "extended")


def test_duplicates_across_two_files_name_the_first_file_and_line(tmp_path: Path) -> None:
    worklog = {"worklogs": [{"id": "10001", "issueId": "1", "author": {"displayName": "Mia"},
                             "started": "2026-06-02T12:34:00.000+0000", "timeSpentSeconds": 600}]}
    source = "    - adapter: jira\n      files: [a/SUP-1.json, b/SUP-1.json]\n"
    result = world(tmp_path, source, {"a/SUP-1.json": json.dumps(worklog), "b/SUP-1.json": json.dumps(worklog)},
                   ticket="SUP-1")
    (q,) = result.ingest.quarantine.to_pylist()
    assert (q["source_file"], q["line"], q["expectation"]) == ("b/SUP-1.json", 1, "expect_column_values_to_be_unique")
    assert "the first occurrence (a/SUP-1.json:1) is loaded" in q["reason"]
    assert (per_file(result)["a/SUP-1.json"], per_file(result)["b/SUP-1.json"]) == ((1, 1, 0), (1, 0, 1))


def test_znuny_tickets_with_five_level_priorities_mapped_in_the_policy(tmp_path: Path) -> None:
    tickets = ("tn;title;create_time;customer_id;queue;priority\n"
               "1;Webseite kaputt;2026-06-01 08:00:00;K-1;Webdesign;5 very high\n"
               "2;Frage;2026-06-02 08:00:00;K-1;Webdesign;2 low\n")
    mappings = ("mappings:\n  - column: tickets.priority\n    source: znuny\n"
                "    values: {'1 very low': low, '2 low': low, '3 normal': normal, '4 high': high, '5 very high': urgent}\n"
                "  - column: tickets.category\n    source: znuny\n    values: {Webdesign: webdesign}\n"
                "  - column: tickets.tier\n    source: znuny\n    default: extended\n")
    tickets_source = "  tickets:\n    - adapter: znuny\n      files: ticket.csv\n      ticket_prefix: T-\n"
    source = "    - adapter: znuny\n      files: ta.csv\n      ticket_prefix: T-\n"
    result = world(tmp_path, source, {"ticket.csv": tickets,
                                      "ta.csv": "ticket_id;article_id;time_unit;create_time;create_by\n1;9;15.00;2026-06-02 10:00:00;2\n"},
                   tickets_source=tickets_source, mappings=mappings)
    assert result.summary["rows"]["tickets"] == {"in": 2, "loaded": 2, "quarantined": 0}
    assert money_findings(result) == {}  # 15.00 minutes = 1 unit, invoiced 1 unit: billed right
    (rec,) = result.reconciliation.iter_rows(named=True)
    assert (rec["ticket_id"], rec["expected_units"], rec["billed_units"]) == ("T-1", Decimal(1), Decimal(1))
    tiers = {r["ticket_id"]: r["recorded_tier"] for r in result.classifications.iter_rows(named=True)}
    assert tiers == {"T-1": "extended", "T-2": "extended"}


def test_bad_value_maps_are_policy_errors_with_their_place(tmp_path: Path) -> None:
    from audit.errors import PolicyError
    from audit.policy.loader import load_policy

    policy = tmp_path / "policy"
    shutil.copytree(ROOT / "policies", policy)
    (policy / "mappings.yaml").write_text(
        "mappings:\n"
        "  - column: tickets.categroy\n"
        "    values: {a: b}\n"
        "  - column: tickets.tier\n"
        "    source: zamad\n"
        "    values: {Erweitert: extendd}\n"
        "  - column: tickets.priority\n"
        "    values: {'2 normal': medium}\n", encoding="utf-8")
    with pytest.raises(PolicyError) as exc:
        load_policy(policy)
    text = str(exc.value)
    assert "mappings.yaml:2:13: tickets has no column 'categroy' (did you mean 'category'?)" in text
    assert "mappings.yaml:5:13: unknown adapter 'zamad' (did you mean 'zammad'?)" in text
    assert "mappings.yaml:6:25: 'extendd' is not a value of tickets.tier (did you mean 'extended'?)" in text
    assert "mappings.yaml:8:26: 'medium' is not a value of tickets.priority" in text


def test_a_value_map_for_an_unknown_table(tmp_path: Path) -> None:
    from audit.errors import PolicyError
    from audit.policy.loader import load_policy

    policy = tmp_path / "policy"
    shutil.copytree(ROOT / "policies", policy)
    (policy / "mappings.yaml").write_text("mappings:\n  - column: ticket.category\n    values: {a: b}\n",
                                          encoding="utf-8")
    with pytest.raises(PolicyError, match=r"mappings.yaml:2:13: unknown table 'ticket' \(did you mean 'tickets'\?\)"):
        load_policy(policy)


def test_kimai_billable_as_the_recorded_tier(tmp_path: Path) -> None:
    """Tickets from Zammad carry no tier; the agents record billable work in Kimai. A ticket
    whose entries all agree takes their tier; one whose entries disagree keeps none (warning,
    quarantined by the contract, never guessed)."""
    tickets = [{**ZAMMAD_TICKETS[0], "support_level": None},
               {**ZAMMAD_TICKETS[1], "support_level": None, "group_id": 3}]
    kimai = KIMAI_DE_HEADER + "".join([
        kimai_row("2026-06-02", "09:00", "09:31", "0:30", "#1 Webseite"),
        kimai_row("2026-06-03", "09:00", "09:10", "0:15", "#2 Frage"),
        kimai_row("2026-06-04", "09:00", "09:10", "0:15", "#2 Frage"),
    ]).replace(";ja;;timesheet", ";{b};;timesheet")
    kimai = kimai.replace("{b}", "ja", 2).replace("{b}", "nein", 1)
    mappings = ZAMMAD_MAPPINGS + ("  - column: tickets.tier\n    source: kimai\n"
                                  "    values: {ja: extended, nein: standard}\n")
    source = "    - adapter: kimai\n      files: kimai.csv\n      ticket_prefix: T-\n"
    result = world(tmp_path, source, {"zammad/tickets.json": json.dumps(tickets), "kimai.csv": kimai},
                   tickets_source=ZAMMAD_TICKET_SOURCE, mappings=mappings)
    tiers = {r["ticket_id"]: r["recorded_tier"] for r in result.classifications.iter_rows(named=True)}
    assert tiers == {"T-1": "extended"}
    assert ("tickets: T-2: its time entries record different tiers (extended (1x), standard (1x)): "
            "the ticket keeps no tier") in result.ingest.warnings
    q = {(r["source_file"], r["line"], r["column"]) for r in result.ingest.quarantine.to_pylist()}
    assert ("zammad/tickets.json", 2, "tier") in q
