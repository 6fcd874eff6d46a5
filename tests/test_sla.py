"""SLA audit: business time, holidays, DST, pauses, due instants, credits (docs/semantics.md, "SLA").

Every expected figure is computed by hand in the comment beside it, or taken from another
project's public test suite (cited), never from the engine's own output.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import pytest
from test_engine_support import count_parts

from audit import db as audit_db
from audit.engine import run_engine
from audit.engine.spans import cut_spans
from audit.engine.testing import load_rows
from audit.policy.loader import load_policy

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")

SLA_KINDS_ON = """
  sla_first_response_breach: {severity: warning}
  sla_resolution_breach: {severity: error}
  sla_overdue_open: {severity: warning}
"""

CUSTOMERS = [
    {"customer_id": "K-B", "name": "Business GmbH", "contract": "business"},
    {"customer_id": "K-P", "name": "Premium AG", "contract": "premium"},
    {"customer_id": "K-S", "name": "Basic e.K.", "contract": "basic"},
    {"customer_id": "K-E", "name": "Ohne SLA", "contract": "enterprise"},
    {"customer_id": "K-T", "name": "Test", "contract": "test"},
]


def policy(tmp_path: Path, sla_yaml: str | None = None, edits: list[tuple[str, str]] = (),
           waivers: str | None = None) -> Path:
    """The default bundle with the SLA kinds switched on; ``sla_yaml`` replaces policies/sla.yaml."""
    target = tmp_path / "policy"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(POLICIES, target)
    findings = target / "findings.yaml"
    text = findings.read_text(encoding="utf-8")
    if "sla_first_response_breach" not in text:
        text = text.replace("\n\n# Hints", SLA_KINDS_ON + "\n# Hints", 1)
    findings.write_text(text, encoding="utf-8")
    sla = target / "sla.yaml"
    text = sla_yaml if sla_yaml is not None else sla.read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    sla.write_text(text, encoding="utf-8")
    if waivers is not None:
        (target / "waivers.yaml").write_text(waivers, encoding="utf-8")
    return target


def ticket(tid: str, customer: str, opened: str, fr: str | None = None, res: str | None = None,
           priority: str = "normal") -> dict[str, Any]:
    return {"ticket_id": tid, "customer_id": customer, "service_id": None, "opened_at": opened,
            "first_response_at": fr, "resolved_at": res, "priority": priority,
            "category": "documentation", "tier": "standard", "subject": "Frage", "cause": None}


def audit(policy_dir: Path, tickets: list[dict], history: list[dict] = (), *,
          period: str | None = None, as_of: dt.datetime | None = None, sla_only: bool = True) -> pl.DataFrame:
    bundle = load_policy(policy_dir)
    con = duckdb.connect()
    load_rows(con, {"customers": CUSTOMERS, "services": [], "tickets": tickets, "time_entries": [],
                    "invoice_lines": [], "ticket_status_history": list(history)},
              timezone=bundle.settings.timezone)
    try:
        findings = run_engine(con, bundle, period=period, as_of=as_of).findings
    finally:
        con.close()
    return findings.filter(pl.col("kind").str.starts_with("sla_")) if sla_only else findings


def only(df: pl.DataFrame, **where: Any) -> dict[str, Any]:
    sub = df
    for col, value in where.items():
        sub = sub.filter(pl.col(col) == value)
    assert sub.height == 1, f"expected one row for {where}, got {sub.height}:\n{sub}"
    return sub.row(0, named=True)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=BERLIN).astimezone(UTC)


# --------------------------------------------------------------------------------------------
# External reference cases (/work/shared/reference: facts from other projects' public tests)

NINE_TO_FIVE_UTC = """
sla:
  calendars:
    work:
      timezone: UTC
      hours: {mon: ["09:00-17:00"], tue: ["09:00-17:00"], wed: ["09:00-17:00"],
              thu: ["09:00-17:00"], fri: ["09:00-17:00"]}
  targets:
    - contract: test
      calendar: work
      priorities:
        low: {first_response: 120, resolution: 720}
        normal: {first_response: 479, resolution: 480}
"""


def test_businesstimedelta_reference_cases(tmp_path: Path) -> None:
    # seppemans/businesstimedelta, businesstimedelta/test/businesstimedelta_tests.py, working
    # hours Mon-Fri 09:00-17:00 UTC:
    #   Saturday 2016-01-23 13:14 + 2 business hours  -> Monday 2016-01-25 11:00
    #   Saturday 2016-01-23 13:14 + 12 business hours -> Tuesday 2016-01-26 13:00
    #   Friday 2016-01-22 18:00 - 8 business hours    -> Friday 2016-01-22 09:00
    found = audit(policy(tmp_path, NINE_TO_FIVE_UTC), [
        ticket("T-SAT", "K-T", "2016-01-23T13:14:00Z", "2016-01-27T09:00:00Z", "2016-01-27T09:00:00Z",
               priority="low"),
        # opened Friday 09:00, answered and resolved Friday 18:00: 8 business hours = 480 min
        ticket("T-FRI", "K-T", "2016-01-22T09:00:00Z", "2016-01-22T18:00:00Z", "2016-01-22T18:00:00Z"),
    ])
    fr = only(found, ticket_id="T-SAT", kind="sla_first_response_breach")
    assert fr["due_at"] == utc("2016-01-25 11:00")
    res = only(found, ticket_id="T-SAT", kind="sla_resolution_breach")
    assert res["due_at"] == utc("2016-01-26 13:00")
    # Sat 13:14 -> Wed 09:00: Mon + Tue = 16 business hours
    assert (fr["measured_minutes"], res["measured_minutes"]) == (Decimal("960.00"), Decimal("960.00"))
    # Friday 09:00-18:00 holds exactly 480 business minutes: target 480 is met (not exceeded), the
    # first-response target of 479 is missed, due one minute before the clock stops at 17:00.
    assert found.filter(pl.col("ticket_id") == "T-FRI").get_column("kind").to_list() == [
        "sla_first_response_breach"]
    fri = only(found, ticket_id="T-FRI")
    assert fri["measured_minutes"] == Decimal("480.00") and fri["due_at"] == utc("2016-01-22 16:59")


ZAMMAD = """
sla:
  calendars:
    zammad:
      timezone: Europe/Berlin
      hours: {mon: ["09:00-17:00"], tue: ["09:00-17:00"], wed: ["09:00-17:00"],
              thu: ["09:00-17:00"], fri: ["09:00-17:00"]}
  targets:
    - contract: test
      calendar: zammad
      priorities:
        "*": {first_response: 60, resolution: 240}
"""


def test_zammad_reference_case(tmp_path: Path) -> None:
    # zammad/zammad, test/unit/ticket_sla_test.rb: calendar Mon-Fri 09:00-17:00 Europe/Berlin,
    # first response 60 min, solution 240 min; ticket created 2013-03-21 09:30 UTC ->
    # first response due 10:30 UTC, solution due 13:30 UTC. Never answered: both overdue.
    found = audit(policy(tmp_path, ZAMMAD), [ticket("T-Z", "K-T", "2013-03-21T09:30:00Z")],
                  as_of=utc("2013-03-22 12:00"))
    fr = only(found, rule_id="sla.targets[test].*.first_response")
    res = only(found, rule_id="sla.targets[test].*.resolution")
    assert (fr["kind"], res["kind"]) == ("sla_overdue_open", "sla_overdue_open")
    assert fr["due_at"] == utc("2013-03-21 10:30") and res["due_at"] == utc("2013-03-21 13:30")
    # 10:30-17:00 local Thursday (390 min) + 09:00-13:00 local Friday (240 min) at the as-of
    assert fr["measured_minutes"] == Decimal("630.00")


# --------------------------------------------------------------------------------------------
# Hand-computed cases on the shipped SAMPLE policy (office = Mon-Fri 08:00-18:00 Berlin, TH)


def test_opened_friday_evening(tmp_path: Path) -> None:
    # business/high: first response 120. Fri 17:40-18:00 = 20 min, Mon 08:00-09:50 = 110 min:
    # 130 > 120; due when 100 more minutes are used on Monday: 09:40.
    found = audit(policy(tmp_path), [
        ticket("T-1", "K-B", "2026-03-06 17:40:00", "2026-03-09 09:50:00", "2026-03-09 10:00:00", "high")])
    f = only(found, kind="sla_first_response_breach")
    assert f["measured_minutes"] == Decimal("130.00") and f["target_minutes"] == 120
    assert f["due_at"] == local("2026-03-09 09:40")
    assert f["month"] == "2026-03" and f["rule_id"] == "sla.targets[business].high.first_response"
    assert "Fri 06.03. 17:40–18:00 20 min, Mon 09.03. 08:00–09:50 110 min = 130 min > 120 min" in f["message"]
    # business has no first-response credit: the finding owes nothing
    assert (f["expected_eur"], f["billed_eur"], f["delta_eur"]) == (Decimal("0.00"),) * 3


def _by(state: str) -> list[tuple[str, str]]:
    return [("subdivision: TH", f"subdivision: {state}")]


HOLIDAY_TICKETS = [
    # Thu 30.10.2025 17:00 (business/urgent, first response 60), answered Mon 03.11. 08:30.
    # TH: Reformationstag Fri 31.10. closed: 60 (Thu) + 30 (Mon) = 90. BY: + 600 (Fri) = 690.
    ticket("T-REF", "K-B", "2025-10-30 17:00:00", "2025-11-03 08:30:00", None, "urgent"),
    # Mon 05.01.2026 17:00 (basic, 600), answered Wed 07.01. 09:00. Heilige Drei Könige, Tue
    # 06.01., closes BY only. TH: 60 + 600 + 60 = 720 > 600. BY: 60 + 60 = 120.
    ticket("T-EPI", "K-S", "2026-01-05 17:00:00", "2026-01-07 09:00:00", None, "low"),
    # Wed 03.06.2026 17:00 (basic), answered Fri 05.06. 09:00. Fronleichnam, Thu 04.06., closes
    # BY only (in TH it is not in the PUBLIC category). TH: 720 > 600. BY: 120.
    ticket("T-FRO", "K-S", "2026-06-03 17:00:00", "2026-06-05 09:00:00", None, "normal"),
]


def test_holidays_differ_between_thueringen_and_bayern(tmp_path: Path) -> None:
    as_of = local("2026-06-05 09:00")  # resolution not due yet for any of them
    th = audit(policy(tmp_path), HOLIDAY_TICKETS, as_of=as_of)
    th_fr = th.filter(pl.col("kind") == "sla_first_response_breach")
    assert dict(zip(th_fr["ticket_id"], th_fr["measured_minutes"], strict=True)) == {
        "T-REF": Decimal("90.00"), "T-EPI": Decimal("720.00"), "T-FRO": Decimal("720.00")}
    ref = only(th, ticket_id="T-REF", kind="sla_first_response_breach")
    assert ref["due_at"] == local("2025-10-30 18:00")  # Thursday's last hour is the whole target
    assert "Fri 31.10. closed (holiday: Reformation Day)" in ref["message"]
    assert only(th, ticket_id="T-EPI", kind="sla_first_response_breach")["due_at"] == local("2026-01-06 17:00")

    by = audit(policy(tmp_path / "by", edits=_by("BY")), HOLIDAY_TICKETS, as_of=as_of)
    by_fr = by.filter(pl.col("kind") == "sla_first_response_breach")
    assert dict(zip(by_fr["ticket_id"], by_fr["measured_minutes"], strict=True)) == {"T-REF": Decimal("690.00")}


def test_both_dst_switches(tmp_path: Path) -> None:
    tickets = [
        # premium/urgent on 24×7, resolution 240. Spring: Sun 29.03.2026 00:30 -> 05:31 local is
        # 5:01 on the wall clock but 4:01 real (02:00-03:00 does not exist): 241 > 240, due 05:30.
        ticket("T-SPRING", "K-P", "2026-03-29 00:30:00", "2026-03-29 00:40:00", "2026-03-29 05:31:00", "urgent"),
        # Autumn: Sun 25.10.2026 00:30 -> 03:30 local is 4 real hours (02:00-03:00 twice): 240,
        # met; the due instant is 01:30 UTC... +240 min = 02:30 UTC = 03:30 CET.
        ticket("T-AUTUMN", "K-P", "2026-10-25 00:30:00", "2026-10-25 00:40:00", "2026-10-25 03:30:00", "urgent"),
        ticket("T-AUTUMN2", "K-P", "2026-10-25 00:30:00", "2026-10-25 00:40:00", "2026-10-25 03:31:00", "urgent"),
        # office frames stay local: business/urgent (60) opened Fri 27.03. 17:00 (CET), answered
        # Mon 30.03. 08:30 (CEST): 60 + 30 = 90; due Fri 18:00 CET = 17:00 UTC; Monday's frame
        # starts 08:00 CEST = 06:00 UTC.
        ticket("T-OFFICE", "K-B", "2026-03-27 17:00:00", "2026-03-30 08:30:00", None, "urgent"),
    ]
    found = audit(policy(tmp_path), tickets, as_of=local("2026-03-30 08:30"))
    spring = only(found, ticket_id="T-SPRING")
    assert spring["kind"] == "sla_resolution_breach"
    assert spring["measured_minutes"] == Decimal("241.00") and spring["due_at"] == local("2026-03-29 05:30")
    assert spring["due_at"] == utc("2026-03-29 03:30")
    assert found.filter(pl.col("ticket_id") == "T-AUTUMN").height == 0
    autumn = only(found, ticket_id="T-AUTUMN2")
    assert autumn["measured_minutes"] == Decimal("241.00") and autumn["due_at"] == utc("2026-10-25 02:30")
    office = only(found, ticket_id="T-OFFICE")
    assert office["measured_minutes"] == Decimal("90.00") and office["due_at"] == utc("2026-03-27 17:00")
    assert "Mon 30.03. 08:00–08:30 30 min" in office["message"]


def test_a_pause_stops_the_resolution_clock_but_not_the_first_response_clock(tmp_path: Path) -> None:
    # business/high: first response 120, resolution 960. Opened Mon 02.03.2026 08:00, waiting for
    # the customer Mon 10:00 -> Tue 10:00 (8 h Mon + 2 h Tue = 600 business min paused).
    history = [
        {"ticket_id": t, "status": s, "changed_at": at}
        for t in ("T-P1", "T-P2")
        for s, at in (("open", "2026-03-02 08:00:00"), ("waiting_for_customer", "2026-03-02 10:00:00"),
                      ("open", "2026-03-03 10:00:00"))
    ]
    found = audit(policy(tmp_path), [
        # resolved Wed 14:00: 600 + 600 + 360 = 1560 − 600 = 960: met. First response at 10:30:
        # 150 > 120 (the pause does not count for it).
        ticket("T-P1", "K-B", "2026-03-02 08:00:00", "2026-03-02 10:30:00", "2026-03-04 14:00:00", "high"),
        # resolved Wed 14:01: 961 > 960; due Wed 14:00 (the pause began at 120 active minutes).
        ticket("T-P2", "K-B", "2026-03-02 08:00:00", "2026-03-02 09:00:00", "2026-03-04 14:01:00", "high"),
    ], history)
    assert only(found, ticket_id="T-P1")["kind"] == "sla_first_response_breach"
    p2 = only(found, ticket_id="T-P2")
    assert p2["kind"] == "sla_resolution_breach"
    assert p2["measured_minutes"] == Decimal("961.00") and p2["due_at"] == local("2026-03-04 14:00")
    assert "− 600 min paused (waiting_for_customer 02.03. 10:00–03.03. 10:00) = 961 min > 960 min" in p2["message"]
    assert p2["delta_eur"] == Decimal("-20.00")  # business: 20.00 € per resolution breach


def test_opened_outside_hours_and_answered_before_they_start(tmp_path: Path) -> None:
    found = audit(policy(tmp_path), [
        # Sat 10:00 opened, Sun answered, Mon 07:30 resolved: 0 business minutes, no finding
        ticket("T-W", "K-S", "2026-03-07 10:00:00", "2026-03-08 12:00:00", "2026-03-09 07:30:00"),
        # a contract without targets has no SLA at all
        ticket("T-E", "K-E", "2026-03-02 08:00:00", "2026-03-30 08:00:00", "2026-03-30 08:00:00"),
    ])
    assert found.height == 0


def test_breach_belongs_to_the_month_of_its_due_instant(tmp_path: Path) -> None:
    # business/normal (240): Fri 30.01.2026 16:00 -> 120 min Friday, due Mon 02.02. 10:00
    found = audit(policy(tmp_path), [
        ticket("T-M", "K-B", "2026-01-30 16:00:00", "2026-02-03 09:00:00", None)], as_of=local("2026-02-03 09:00"))
    f = only(found, kind="sla_first_response_breach")
    assert f["month"] == "2026-02" and f["due_at"] == local("2026-02-02 10:00")
    assert audit(policy(tmp_path), [ticket("T-M", "K-B", "2026-01-30 16:00:00", "2026-02-03 09:00:00")],
                 period="2026-01").height == 0


def test_the_monthly_credit_cap_is_applied_in_order_of_due_at(tmp_path: Path) -> None:
    # premium/urgent on 24×7: first response 30, resolution 240; credits 10.00 / 50.00, cap 200.00
    tickets = [ticket(f"T-C{i}", "K-P", f"2026-03-0{i + 1} 10:00:00", f"2026-03-0{i + 1} 10:20:00",
                      f"2026-03-0{i + 1} 15:00:00", "urgent") for i in range(5)]
    # one first-response breach first (due 02.03... no: 01.03. 09:30): 10.00 €
    tickets.append(ticket("T-CF", "K-P", "2026-03-01 09:00:00", "2026-03-01 09:31:00", "2026-03-01 09:40:00", "urgent"))
    found = audit(policy(tmp_path), tickets).sort("due_at")
    credits = [(r["ticket_id"], -r["delta_eur"]) for r in found.iter_rows(named=True)]
    # in due order: 10 + 50 + 50 + 50 = 160, the 5th breach gets the remaining 40, the 6th 0
    assert credits == [("T-CF", Decimal("10.00")), ("T-C0", Decimal("50.00")), ("T-C1", Decimal("50.00")),
                       ("T-C2", Decimal("50.00")), ("T-C3", Decimal("40.00")), ("T-C4", Decimal("0.00"))]
    assert sum(c for _, c in credits) == Decimal("200.00")
    assert "credit 50.00 € capped to 40.00 € (monthly cap per customer reached)" in only(found, ticket_id="T-C3")["message"]
    c4 = only(found, ticket_id="T-C4")
    assert (c4["expected_eur"], c4["billed_eur"]) == (Decimal("0.00"), Decimal("0.00"))


def test_overdue_open_tickets_at_the_as_of_instant_and_waivers(tmp_path: Path) -> None:
    waivers = """waivers:
  - id: W-SLA
    scope: {ticket: T-O2, kind: sla_overdue_open}
    reason: Kunde hat um Aufschub gebeten.
    approved_by: Leitung Support
    approved_on: 2026-03-01
    expires_on: 2026-12-31
"""
    tickets = [
        # basic (600/6000) opened Mon 02.03.2026 08:00, never answered. As of Tue 03.03. 12:00:
        # 600 + 240 = 840 > 600 -> first response overdue, due Mon 18:00; resolution not yet.
        ticket("T-O1", "K-S", "2026-03-02 08:00:00"),
        ticket("T-O2", "K-S", "2026-03-02 08:00:00"),
    ]
    found = audit(policy(tmp_path, waivers=waivers), tickets, as_of=local("2026-03-03 12:00"))
    o1 = only(found, ticket_id="T-O1")
    assert (o1["kind"], o1["status"], o1["measured_minutes"]) == ("sla_overdue_open", "open", Decimal("840.00"))
    assert o1["due_at"] == local("2026-03-02 18:00") and o1["delta_eur"] == Decimal("0.00")
    assert "still open at Tue 2026-03-03 12:00" in o1["message"]
    o2 = only(found, ticket_id="T-O2")
    assert (o2["status"], o2["waiver_id"]) == ("waived", "W-SLA")
    # before the due instant nothing is overdue
    assert audit(policy(tmp_path, waivers=waivers), tickets, as_of=local("2026-03-02 17:59")).height == 0


def test_a_long_span_lists_its_first_and_last_days_and_says_how_many_are_left_out(tmp_path: Path) -> None:
    # basic (resolution 6000) opened Mon 02.03.2026 08:00, never answered; as of Fri 20.03.
    # 18:00 that is 15 business days of 600 min (no holiday in March in TH) = 9000 > 6000.
    # The message lists the first 10 days, "… 2 more" (Mon 16.03., Tue 17.03.), the last 3.
    found = audit(policy(tmp_path), [ticket("T-L", "K-S", "2026-03-02 08:00:00")],
                  as_of=local("2026-03-20 18:00"))
    f = only(found, kind="sla_overdue_open", rule_id="sla.targets[basic].*.resolution")
    assert f["measured_minutes"] == Decimal("9000.00")
    first = ", ".join(f"{d} 08:00–18:00 600 min" for d in (
        "Mon 02.03.", "Tue 03.03.", "Wed 04.03.", "Thu 05.03.", "Fri 06.03.",
        "Mon 09.03.", "Tue 10.03.", "Wed 11.03.", "Thu 12.03.", "Fri 13.03."))
    last = ", ".join(f"{d} 08:00–18:00 600 min" for d in ("Wed 18.03.", "Thu 19.03.", "Fri 20.03."))
    assert f"business time: {first}, … 2 more, {last} = 9000 min > 6000 min" in f["message"]
    assert "16.03." not in f["message"] and "17.03." not in f["message"]


# --------------------------------------------------------------------------------------------
# The command line: --as-of, explain --ticket, a bad policy


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    from audit.cli import main

    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


SAMPLE = ROOT / "sample_data"


def test_as_of_on_the_command_line(capsys, tmp_path: Path) -> None:
    code, _, err = _cli(capsys, "run", "--out", str(tmp_path / "bad"), "--as-of", "next tuesday", "-q")
    assert code == 4 and "--as-of 'next tuesday' is not a timestamp" in err and "Traceback" not in err
    # judged on 15 July: fewer tickets are overdue than at the end of July (the default)
    code, _, _ = _cli(capsys, "run", "--policy", str(POLICIES), "--data", str(SAMPLE), "--out",
                      str(tmp_path / "mid"), "--as-of", "2026-07-15T00:00", "--no-report", "--fail-on", "never", "-q")
    assert code == 0
    import json

    mid = json.loads((tmp_path / "mid" / "summary.json").read_text(encoding="utf-8"))["sla"]
    assert mid["as_of"] == "2026-07-14T22:00:00+00:00"
    findings = pl.read_parquet(tmp_path / "mid" / "findings.parquet")
    overdue = findings.filter(pl.col("kind") == "sla_overdue_open")
    assert overdue.height == mid["overdue_open"]["findings"]
    assert all("still open at Wed 2026-07-15 00:00" in m for m in overdue["message"])
    tickets = sorted(overdue["ticket_id"].unique())
    assert mid["overdue_open"]["ticket_count"] == len(tickets) > 0
    assert mid["overdue_open"]["tickets"] == tickets[:100]


def test_summary_and_report_name_the_first_overdue_tickets_and_count_them_all(
        capsys, tmp_path: Path, monkeypatch) -> None:
    """At 10M entries two million tickets may be overdue: summary.json names the first
    OVERDUE_LISTED by id and counts every one; the page lists those and says how many more are
    in findings.csv."""
    import json

    from audit.engine import summary

    monkeypatch.setattr(summary, "OVERDUE_LISTED", 2)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1775000000")
    code, _, _ = _cli(capsys, "run", "--policy", str(POLICIES), "--data", str(SAMPLE), "--out",
                      str(tmp_path / "out"), "--lang", "en", "--fail-on", "never", "-q")
    assert code == 0
    overdue = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))["sla"]["overdue_open"]
    findings = pl.read_parquet(tmp_path / "out" / "findings.parquet")
    every = sorted(findings.filter(pl.col("kind") == "sla_overdue_open")["ticket_id"].unique())
    assert overdue["ticket_count"] == len(every) > 2
    assert overdue["tickets"] == every[:2]
    html = (tmp_path / "out" / "report.en.html").read_text(encoding="utf-8")
    listed = re.search(r'<p id="sla-overdue">(.*?)</p>', html).group(1)
    assert re.findall(r"<code>(.*?)</code>", listed) == every[:2]
    assert (f'<p class="more-note" id="sla-overdue-more">{len(every) - 2} more in findings.csv '
            "(“Open ticket past its SLA due time”, sla_overdue_open)</p>") in html
    assert f"Overdue open tickets ({len(every)})" in html


def test_explain_shows_the_sla_clocks(capsys) -> None:
    # T-100067 (sample): business/high, opened Tue 07.07.2026 17:11:26, resolved Thu 09.07.
    # 18:12:05 (after hours): Tue 17:11:26-18:00 = 48:34 + Wed 600 + Thu 08:00-18:00 600 ->
    # 1248:34 > 960; due: 960 - 648:34 = 311:26 into Thu -> 13:11:26. First response at Tue
    # 18:03:29, after hours: 48:34 business min, within its 120.
    code, out, _ = _cli(capsys, "explain", "--ticket", "T-100067", "--policy", str(POLICIES), "--data", str(SAMPLE))
    assert code == 0
    assert "SLA: contract business, priority high, calendar office (Europe/Berlin)" in out
    assert ("resolution (rule sla.targets[business].high.resolution): target 960 business min; "
            "2026-07-07 17:11:26 Europe/Berlin → 2026-07-09 18:12:05 Europe/Berlin: 1248:34 business min → BREACHED; "
            "due 2026-07-09 13:11:26 Europe/Berlin") in out
    assert "48:34 business min → met" in out
    assert "sla_resolution_breach" in out and "Tue 07.07. 17:11–18:00 48:34 min" in out


def test_the_sla_sql_transpiles_to_spark(tmp_path: Path) -> None:
    """Portable SQL: every statement of the SLA stage parses as DuckDB and is generated for Spark
    by sqlglot without an unsupported construct (a later issue runs the engine on Spark)."""
    import sqlglot

    import audit.engine.sla as sla_engine

    bundle = load_policy(policy(tmp_path))
    con = duckdb.connect()
    load_rows(con, {"customers": CUSTOMERS, "services": [], "time_entries": [], "invoice_lines": [],
                    "tickets": [ticket("T-1", "K-B", "2026-03-02 08:00:00")]}, timezone="Europe/Berlin")
    statements: list[str] = []

    class Recording:
        def __getattr__(self, name: str):
            return getattr(con, name)

        def execute(self, sql: str, *args: Any, **kwargs: Any):
            statements.append(sql)
            return con.execute(sql, *args, **kwargs)

    sla_engine.create_sla(Recording(), bundle, None)  # type: ignore[arg-type]
    created = [s for s in statements if s.lstrip().startswith("CREATE")]
    assert len(created) >= 10
    for sql in created:
        assert sqlglot.transpile(sql, read="duckdb", write="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)
    con.close()


def _sample_tickets_without(tmp_path: Path, drop: tuple[str, ...], blank: tuple[str, ...] = ()) -> Path:
    """A copy of the sample data whose tickets.csv lacks the columns ``drop`` and has the columns
    ``blank`` present but empty."""
    import csv

    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    path = data / "tickets.csv"
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    keep = [c for c in rows[0] if c not in drop]
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, keep, extrasaction="ignore")
        w.writeheader()
        w.writerows({**r, **{c: "" for c in blank}} for r in rows)
    return data


def _summary_and_sla_findings(capsys, data: Path, out: Path) -> tuple[dict, pl.DataFrame]:
    import json

    code, _, err = _cli(capsys, "run", "--policy", str(POLICIES), "--data", str(data), "--out",
                        str(out), "--no-report", "--fail-on", "never", "-q")
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    findings = pl.read_parquet(out / "findings.parquet")
    return summary, findings.filter(pl.col("kind").str.starts_with("sla_"))


def test_no_sla_judged_when_the_export_has_no_clock_columns(capsys, tmp_path: Path) -> None:
    # An export without first_response_at/resolved_at says nothing about answers: judged anyway,
    # all 410 sample tickets would look unanswered and overdue and owe credits.
    data = _sample_tickets_without(tmp_path, drop=("first_response_at", "resolved_at"))
    summary, sla = _summary_and_sla_findings(capsys, data, tmp_path / "out")
    assert sla.height == 0
    assert any("no 'first_response_at' and no 'resolved_at' column, so the SLA targets were not "
               "audited" in w for w in summary["warnings"])
    assert summary["rows"]["tickets"]["loaded"] == 410 - summary["rows"]["tickets"]["quarantined"]


def test_empty_clock_values_in_a_present_column_are_judged(capsys, tmp_path: Path) -> None:
    # The same tickets with the columns present but empty: not answered yet, so overdue.
    data = _sample_tickets_without(tmp_path, drop=(), blank=("first_response_at", "resolved_at"))
    summary, sla = _summary_and_sla_findings(capsys, data, tmp_path / "out")
    assert sla.filter(pl.col("kind") == "sla_overdue_open").height > 0
    assert not any("SLA targets were not audited" in w for w in summary["warnings"])


def test_the_messages_written_a_part_of_the_findings_at_a_time_are_the_same(monkeypatch) -> None:
    # DuckDB writes the SLA messages of SLA_TEXT_PART findings per statement (peak memory): cut
    # into parts of 7, the sample's SLA findings read exactly as when written in one statement
    from audit.api import run_audit
    from audit.engine import sla

    def sla_findings() -> pl.DataFrame:
        found = run_audit(POLICIES, ROOT / "sample_data", gx="off", fail_on="never").findings
        return found.filter(pl.col("kind").str.starts_with("sla_")).sort("finding_id")

    whole = sla_findings()
    parts: list[str] = []
    statement = sla._sla_text_sql
    monkeypatch.setattr(sla, "_sla_text_sql", lambda where, langs: parts.append(where)
                        or statement(where, langs))
    monkeypatch.setattr(sla, "SLA_TEXT_PART", 7)
    # and the stored messages compressed after every part (a large run: every 512 MiB)
    compressed: list[tuple[int, int] | None] = []
    compact = audit_db.compact
    monkeypatch.setattr(audit_db, "COMPACT_FROM", 0)
    monkeypatch.setattr(audit_db, "compact", lambda con, at_least=None: compressed.append(
        compact(con, at_least)) or compressed[-1])
    after_parts = count_parts(monkeypatch, "sla_text")
    cut = sla_findings()
    # the parts are spans of the export's order (month, customer) of up to 7 findings
    counts = whole.group_by("month", "customer_id").len().sort("month", "customer_id").rows()
    assert len(parts) == len(cut_spans(counts, 7)) == len(after_parts) > whole.height // 7
    assert len(compressed) > len(after_parts) and all(c is not None for c in compressed)
    assert cut.equals(whole)
    assert cut.get_column("message").str.contains("business time").all()


def test_the_findings_written_a_span_of_sla_facts_at_a_time_are_the_same(monkeypatch) -> None:
    # DuckDB writes the SLA findings SLA_FINDINGS_PART of their facts per statement (peak
    # memory at 10M): cut into spans of 5, every finding of the sample is as in one statement
    from audit.api import run_audit
    from audit.engine import findings as engine_findings

    def every_finding() -> pl.DataFrame:
        return run_audit(POLICIES, ROOT / "sample_data", gx="off", fail_on="never").findings.sort("finding_id")

    whole = every_finding()
    monkeypatch.setattr(engine_findings, "SLA_FINDINGS_PART", 5)
    parts = count_parts(monkeypatch, "findings")
    cut = every_finding()
    sla = whole.filter(pl.col("kind").str.starts_with("sla_"))
    counts = sla.group_by("month", "customer_id").len().sort("month", "customer_id").rows()
    # the other kinds in one statement, then the SLA kinds a span of the export's order each
    assert len(parts) == 1 + len(cut_spans(counts, 5)) and sla.height > 5 * 10
    assert cut.equals(whole)


def test_the_page_names_at_most_as_many_overdue_tickets_as_summary_json() -> None:
    """A run written before ``ticket_count`` named every overdue ticket: the page still lists
    the first OVERDUE_LISTED and counts the rest."""
    from types import SimpleNamespace

    from audit.engine.summary import OVERDUE_LISTED
    from reports import sla
    from reports.i18n import Formatter

    assert sla.OVERDUE_LISTED == OVERDUE_LISTED
    every = [f"T-{i:06d}" for i in range(OVERDUE_LISTED + 7)]
    old = SimpleNamespace(summary={"sla": {"overdue_open": {"findings": 250, "tickets": every}}})
    view = sla.sla_view(old, Formatter("en"))
    assert view["overdue_tickets"] == every[:OVERDUE_LISTED]
    assert (view["overdue_count"], view["overdue_more"]) == (str(OVERDUE_LISTED + 7), "7")
    new = SimpleNamespace(summary={"sla": {"overdue_open": {
        "findings": 3, "tickets": every[:2], "ticket_count": 2}}})
    view = sla.sla_view(new, Formatter("en"))
    assert (view["overdue_tickets"], view["overdue_count"], view["overdue_more"]) == (every[:2], "2", None)
