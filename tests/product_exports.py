"""Renders canonical tables into the products' real export shapes, for the adapter tests.

Derived from the canonical sample data *as the audit loads it* (``sample_data/`` is regenerated
by others; the test follows it): tickets as Zammad's API JSON (``expand=true``), time entries as
Kimai's XLSX export, invoice lines as an accounting system's CSV (German number and date format).
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from decimal import Decimal
from pathlib import Path

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")

#: Zammad group names of the canonical categories (two planted unknown categories stay as they are)
GROUPS = {
    "customer_center_data": "Support::Kundencenter Daten",
    "customer_center_usage": "Support::Kundencenter Bedienung",
    "data_loss": "Support::Datenverlust",
    "documentation": "Intern::Dokumentation",
    "misconfiguration": "Support::Fehlkonfiguration",
    "service_fault": "Technik::Störung",
    "software_usage": "Support::Software",
    "webdesign": "Agentur::Webdesign",
}
LEVELS = {"standard": "Standard", "extended": "Erweitert"}
PRIORITIES = {"low": "1 low", "normal": "2 normal", "high": "3 high", "urgent": "4 urgent"}
ARTICLE_TYPES = {"email": "email", "portal": "web", "phone": "phone", "chat": "chat"}

MAPPINGS_YAML = """\
mappings:
  - column: tickets.category
    source: zammad
    field: group
    values:
{groups}
  - column: tickets.tier
    source: zammad
    field: support_level
    values: {{Standard: standard, Erweitert: extended}}
  - column: tickets.channel
    source: zammad
    field: create_article_type
    values: {{email: email, web: portal, phone: phone, chat: chat}}
""".format(groups="\n".join(f'      "{g}": {c}' for c, g in GROUPS.items()))


def zulu(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def loaded_tables(data_dir: Path) -> dict[str, list[dict]]:
    """The canonical tables as the audit loads them (quarantined rows left out)."""
    from audit.api import open_audit_db
    from audit.policy.loader import load_policy

    bundle = load_policy(Path(__file__).parent.parent / "policies")
    con, _ = open_audit_db(bundle, data_dir, gx="off")
    try:
        out = {}
        for table in ("tickets", "time_entries", "invoice_lines"):
            cur = con.execute(f"SELECT * FROM {table} ORDER BY _line")
            names = [d[0] for d in cur.description]
            out[table] = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        return out
    finally:
        con.close()


def zammad_tickets(tickets: list[dict], *, first_id: int = 900) -> list[dict]:
    out = []
    for i, t in enumerate(tickets):
        number = t["ticket_id"].removeprefix("T-")
        out.append({
            "id": first_id + i,
            "number": number,
            "title": t["subject"],
            "group": GROUPS.get(t["category"], t["category"]),
            "state": "closed" if t["resolved_at"] else "open",
            "priority": PRIORITIES[t["priority"]],
            "customer": f"kunde{i}@example.org",
            "organization": t["customer_id"] and f"Org {t['customer_id']}",
            "customer_number": t["customer_id"],
            "service_number": t["service_id"],
            "support_level": LEVELS.get(t["tier"], t["tier"]),
            "cause": t["cause"],
            "create_article_type": ARTICLE_TYPES.get(t["channel"]) if t["channel"] else None,
            "created_at": zulu(t["opened_at"]),
            "first_response_at": zulu(t["first_response_at"]),
            "close_at": zulu(t["resolved_at"]),
            "tags": ["sample"],
        })
    return out


KIMAI_EN = ["Date", "From", "To", "Duration", "Currency", "Price", "Internal price", "Hourly price",
            "Fixed price", "Name", "User", "E-mail", "Staff number", "Customer", "Project", "Activity",
            "Description", "Billable", "Tags", "Type", "category", "Account", "Project number",
            "VAT-ID", "Order number", "Location", "Location"]  # meta fields may repeat a name


def kimai_xlsx(entries: list[dict], path: Path) -> None:
    """Kimai's XLSX export: a date cell, From/To as date-time cells shown H:i, Duration as a
    duration cell ([h]:mm), the ticket only in the description."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Export")
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    clock = book.add_format({"num_format": "hh:mm"})
    span = book.add_format({"num_format": "[h]:mm"})
    sheet.write_row(0, 0, KIMAI_EN)
    for r, e in enumerate(entries, start=1):
        start = e["started_at"].astimezone(BERLIN).replace(tzinfo=None)
        seconds = int(e["duration_seconds"])
        end = start + dt.timedelta(seconds=seconds)
        sheet.write_datetime(r, 0, start.replace(hour=0, minute=0, second=0), day)
        sheet.write_datetime(r, 1, start, clock)
        sheet.write_datetime(r, 2, end, clock)
        sheet.write_number(r, 3, seconds / 86400, span)
        sheet.write_row(r, 4, ["EUR", 0, 0, 0, 0, e["agent"], e["agent"], f"{e['agent']}@example.org", "",
                               "Kunden", "Support", "Support"])
        sheet.write_string(r, 16, f"Ticket#{e['ticket_id'].removeprefix('T-')} bearbeitet")
        sheet.write_row(r, 17, ["yes", "support", "timesheet", "work", "", "", "", "", "Büro", "Remote"])
    book.close()


def _de(value: Decimal) -> str:
    return format(value, "f").replace(".", ",")


def accounting_csv(lines: list[dict], path: Path) -> None:
    """An accounting system's line export: German header, ';', decimal commas, dd.mm.yyyy."""
    out = ["Belegnummer;Position;Kundennummer;Leistungsdatum;Menge;Einzelpreis;Betrag;Buchungstext"]
    for x in lines:
        out.append(";".join([
            x["invoice_id"], x["line_id"], x["customer_id"], x["service_date"].strftime("%d.%m.%Y"),
            _de(x["quantity"]), _de(x["unit_price"]), _de(x["amount"]),
            f"Erweiterter Support, Ticket {x['ticket_id']}",
        ]))
    path.write_text("\r\n".join(out) + "\r\n", encoding="cp1252")


def write_json(path: Path, document: object) -> None:
    path.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
