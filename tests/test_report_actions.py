"""The action list's signal checks and SLA credits (issues #16, #10): one ``check`` row per open
signal finding with money at stake, one ``sla_credit`` row per customer and month with the
credits owed after the monthly cap, both worded by the texts layer in English and German, kept
out of the billing totals and the bridge; CSV neutralised, HTML escaped.

The engine runs on small hand-made data under the default policy; every expected figure is
computed by hand in the comment beside it."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import duckdb
import polars as pl
import pytest
from fixtures.report.make_fixture import XSS_SCRIPT, make_fixture
from test_engine_support import CUSTOMERS, SERVICES, D, edited_policy, entry, line, ticket

from audit.engine import run_engine
from audit.engine.summary import frame_facts, sla_block
from audit.engine.testing import load_rows
from audit.policy.loader import load_policy
from reports.actions import BILLING_ACTIONS, action_list, action_rows, actions_csv
from reports.render import render_html

NBSP = "\xa0"
FORMULA = '=HYPERLINK("http://evil.example","click")'  # K-2's name (premium contract)


def _premium(tid: str, day: int, fr: str, res: str) -> dict:
    return ticket(tid, "customer_center_usage", "standard", customer_id="K-2", priority="urgent",
                  opened_at=f"2026-03-0{day} 10:00:00", first_response_at=f"2026-03-0{day} {fr}",
                  resolved_at=f"2026-03-0{day} {res}")


TICKETS = [
    # K-1 (basic): how-to help of 20 + 11 = 31 tracked minutes: the signal long-howto-help, at
    # stake ⌈20/15⌉ + ⌈11/15⌉ = 3 units × 17.50 = 52.50 €. Answered and resolved at once (no SLA).
    ticket("T-H", "customer_center_usage", "standard", first_response_at="2026-03-02 09:00:00",
           resolved_at="2026-03-02 09:00:00"),
    # K-1: web design (extended) 15 min, invoiced 0.5 units: invoice 17.50 − 8.75 = 8.75 €
    ticket("T-W", "webdesign", "extended", first_response_at="2026-03-02 09:00:00",
           resolved_at="2026-03-02 09:00:00"),
    # K-2 (premium, 24×7, urgent: first response 30 min / 10.00 €, resolution 240 min / 50.00 €,
    # cap 200.00 € per customer and month). T-CF answered after 31 min (due 01.03. 09:30);
    # T-C1…T-C5 resolved after 300 min (due 14:00 of their day), answered after 20 min.
    ticket("T-CF", "customer_center_usage", "standard", customer_id="K-2", priority="urgent",
           opened_at="2026-03-01 09:00:00", first_response_at="2026-03-01 09:31:00",
           resolved_at="2026-03-01 09:40:00"),
    *[_premium(f"T-C{d}", d, "10:20:00", "15:00:00") for d in range(1, 6)],
    # K-2 in April: one resolution breach, 50.00 €, below the cap
    ticket("T-A", "customer_center_usage", "standard", customer_id="K-2", priority="urgent",
           opened_at="2026-04-07 10:00:00", first_response_at="2026-04-07 10:10:00",
           resolved_at="2026-04-07 14:30:00"),
]
ENTRIES = [
    entry("E-1", "T-H", "2026-03-02 10:00:00", minutes=20),
    entry("E-2", "T-H", "2026-03-03 10:00:00", minutes=11),
    entry("E-3", "T-W", "2026-03-02 11:00:00", minutes=15),
]
LINES = [line("L-1", "R-1", "T-W", "2026-03-02", "0.5", "17.50")]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    """The engine's result under the default policy, its SLA section included."""
    bundle = load_policy(edited_policy(tmp_path_factory.mktemp("actions"), sla=True))
    con = duckdb.connect()
    load_rows(con, {"customers": CUSTOMERS, "services": SERVICES, "tickets": TICKETS,
                    "time_entries": ENTRIES, "invoice_lines": LINES}, timezone=bundle.settings.timezone)
    try:
        return run_engine(con, bundle)
    finally:
        con.close()


@pytest.fixture(scope="module")
def actions(result):
    return action_rows(result.reconciliation, result.findings, "de", result.classifications,
                       timezone="Europe/Berlin", credit_cap=D("200.00"))


def _rows(actions: pl.DataFrame, action: str) -> list[dict]:
    return actions.filter(pl.col("action") == action).to_dicts()


def test_one_check_row_per_signal_finding_with_money_at_stake(result, actions):
    (check,) = _rows(actions, "check")
    signal = result.findings.filter(pl.col("rule_id") == "long-howto-help").row(0, named=True)
    assert (check["ticket_id"], check["month"], check["customer_id"]) == ("T-H", "2026-03", "K-1")
    assert (check["at_stake_units"], check["at_stake_eur"]) == (D("3.00"), D("52.50"))
    assert check["finding_ids"] == signal["finding_id"]
    # a hint, not a difference: no expected, billed or delta amount
    assert (check["expected_eur"], check["billed_eur"], check["delta_eur"]) == (None, None, None)
    assert check["explanation"] == ("check: possibly 3 units = 52.50 € not invoiced (a signal, not counted in the "
                                    "totals): " + signal["message"])
    assert check["explanation_de"].startswith(
        f"prüfen: möglicherweise 3 Einheiten = 52,50{NBSP}€ nicht berechnet (ein Signal, nicht in den Summen): ")
    assert check["text"] == check["explanation_de"]  # the report's language
    assert check["explanation_de"].endswith(signal["message_de"])
    assert check["agent"] == "anna"  # like the billing rows: the agent with the most time


def test_one_sla_credit_row_per_customer_month_with_the_capped_arithmetic(actions):
    march, april = sorted(_rows(actions, "sla_credit"), key=lambda r: r["month"])
    # in order of due_at: 10 + 50 + 50 + 50 = 160, T-C4 gets the remaining 40, T-C5 nothing (left out)
    assert (march["customer_id"], march["month"], march["ticket_id"]) == ("K-2", "2026-03", None)
    assert (march["expected_eur"], march["billed_eur"], march["delta_eur"]) == (D("-200.00"), D("0.00"), D("-200.00"))
    assert len(march["finding_ids"].split(",")) == 5
    assert march["explanation"] == (
        "SLA credits owed for 2026-03: "
        "T-CF first response (target 30 min, measured 31 min, due 2026-03-01 09:30) 10.00 €; "
        "T-C1 resolution (target 240 min, measured 300 min, due 2026-03-01 14:00) 50.00 €; "
        "T-C2 resolution (target 240 min, measured 300 min, due 2026-03-02 14:00) 50.00 €; "
        "T-C3 resolution (target 240 min, measured 300 min, due 2026-03-03 14:00) 50.00 €; "
        "T-C4 resolution (target 240 min, measured 300 min, due 2026-03-04 14:00) 40.00 €; "
        "total 200.00 €, the monthly cap per customer (200.00 €): later breaches of the month owe nothing")
    assert march["explanation_de"].startswith(
        f"SLA-Gutschriften für 03/2026: T-CF Erstreaktion (Ziel 30 Min., gemessen 31 Min., fällig 01.03.2026 "
        f"09:30) 10,00{NBSP}€; T-C1 Lösung (Ziel 240 Min., gemessen 300 Min., fällig 01.03.2026 14:00) 50,00{NBSP}€")
    assert march["explanation_de"].endswith(
        f"Summe 200,00{NBSP}€, die Monatsobergrenze je Kunde (200,00{NBSP}€): weitere Verstöße des Monats ohne Gutschrift")
    # 07.04. 10:00 → 14:30 = 270 min > 240, due 14:00 (CEST); below the cap: no cap words
    assert april["delta_eur"] == D("-50.00")
    assert april["explanation"] == ("SLA credits owed for 2026-04: T-A resolution (target 240 min, measured 270 min, "
                                    "due 2026-04-07 14:00) 50.00 €; total 50.00 €")


def test_signals_and_sla_credits_stay_out_of_the_billing_totals(result, actions):
    billing = actions.filter(pl.col("action").is_in(BILLING_ACTIONS))
    al, only_billing = action_list(actions, limit=500), action_list(billing, limit=500)
    assert (al.invoice_eur, al.credit_eur, al.waived_eur, al.review) == (
        only_billing.invoice_eur, only_billing.credit_eur, only_billing.waived_eur, only_billing.review)
    assert al.invoice_eur == D("8.75") and al.credit_eur == D("0.00")  # T-W only
    assert (al.checks, al.check_eur) == (1, D("52.50"))
    # the SLA credits owed are summary.json's (docs/outputs.md, sla.credits_owed_eur)
    facts = frame_facts(result.findings, result.classifications, result.reconciliation)
    owed = sla_block(pl.DataFrame({"as_of": []}, schema={"as_of": pl.Datetime("us", "UTC")}), facts)
    assert al.sla_credit_eur == -Decimal(owed["credits_owed_eur"]) == D("-250.00")
    k2 = next(c for c in al.customers if c.customer_id == "K-2")
    assert (k2.invoice_eur, k2.credit_eur, k2.sla_credit_eur) == (D("0.00"), D("0.00"), D("-250.00"))
    # every row's money ranks the customers: K-2's 250.00 € of credits before K-1's 8.75 + 52.50
    assert [c.customer_id for c in al.customers] == ["K-2", "K-1"]


def test_the_billing_rows_are_the_same_with_and_without_the_other_rows(result, actions):
    """Nothing of the billing part changes: the rows a run without signals and SLA findings has."""
    plain = result.findings.filter(pl.col("at_stake_eur").is_null() & ~pl.col("kind").str.starts_with("sla_"))
    before = action_rows(result.reconciliation, plain, "de", result.classifications)
    assert actions.filter(pl.col("action").is_in(BILLING_ACTIONS)).equals(before)


def test_csv_has_every_row_with_formula_text_neutralised(actions):
    rows = list(csv.DictReader(io.StringIO(actions_csv(actions))))
    assert [r["action"] for r in rows].count("check") == 1 and [r["action"] for r in rows].count("sla_credit") == 2
    sla = [r for r in rows if r["action"] == "sla_credit"]
    assert {r["customer_name"] for r in sla} == {"'" + FORMULA}
    assert {(r["month"], r["delta_eur"], r["ticket_id"]) for r in sla} == {("2026-03", "-200.00", ""),
                                                                           ("2026-04", "-50.00", "")}
    check = next(r for r in rows if r["action"] == "check")
    assert (check["at_stake_units"], check["at_stake_eur"], check["delta_eur"]) == ("3.00", "52.50", "")
    # sorted by customer, ticket, month; the SLA rows (no ticket) last of their customer
    assert [(r["customer_id"], r["ticket_id"], r["action"]) for r in rows] == [
        ("K-1", "T-H", "check"), ("K-1", "T-W", "invoice"), ("K-2", "", "sla_credit"), ("K-2", "", "sla_credit")]


def test_the_report_escapes_and_marks_signal_and_sla_rows(tmp_path):
    """The report fixture run plus a signal finding with money at stake and an SLA breach of the
    customer whose name is a script: both rows are in the page, escaped, with their own totals."""
    out = make_fixture(tmp_path)
    findings = pl.read_parquet(out / "findings.parquet")
    base = findings.filter(pl.col("customer_id") == "K-10002").head(1)
    money = base.schema["delta_eur"]
    signal = base.with_columns(
        pl.lit("F-sig").alias("finding_id"), pl.lit("suspected_misclassification").alias("kind"),
        pl.lit("open").alias("status"), pl.lit(None, pl.String).alias("waiver_id"),
        pl.lit(None).cast(money).alias("delta_eur"), pl.lit(D("4.00")).cast(money).alias("at_stake_units"),
        pl.lit(D("76.00")).cast(money).alias("at_stake_eur"), pl.lit(XSS_SCRIPT).alias("message"),
        pl.lit(XSS_SCRIPT).alias("message_de"))
    breach = base.with_columns(
        pl.lit("F-sla").alias("finding_id"), pl.lit("sla_resolution_breach").alias("kind"),
        pl.lit("open").alias("status"), pl.lit(None, pl.String).alias("waiver_id"),
        pl.lit(D("-20.00")).cast(money).alias("delta_eur"), pl.lit(None).cast(money).alias("at_stake_units"),
        pl.lit(None).cast(money).alias("at_stake_eur"), pl.lit(960).alias("target_minutes"),
        pl.lit(D("1380.00")).cast(money).alias("measured_minutes"),
        pl.lit(dt.datetime(2026, 1, 14, 11, 0, tzinfo=dt.UTC)).alias("due_at"))
    others = findings.with_columns(pl.lit(None).cast(money).alias("at_stake_units"),
                                   pl.lit(None).cast(money).alias("at_stake_eur"))
    pl.concat([others, signal, breach], how="diagonal_relaxed").write_parquet(out / "findings.parquet")
    html, text = render_html(out, lang="de", when=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    section = html[html.index('id="actions"'):html.index('id="findings"')]
    assert XSS_SCRIPT not in section and "&lt;script&gt;alert(1)&lt;/script&gt;" in section
    assert 'class="arow action-check" id="' in section and 'data-delta="76.00"' in section
    assert 'data-testid="actions-sla-credit" data-value="-20.00">20,00' in section
    assert 'data-testid="actions-checks" data-value="76.00">1 · 76,00' in section
    assert "nicht in der Überleitung" in section  # the note says they are not in the bridge
    # the fixture run has English texts only (no explanation_de): the rows' texts are English too
    assert ("SLA credits owed for 2026-01: T-1012 resolution (target 960 min, measured 1380 min, due 2026-01-14 "
            "12:00) 20.00 €; total 20.00 €") in section
    assert 'id="sla-K-10002-2026-01"' in section
    # the bridge and the headline tiles are the billing's alone
    tiles = html[html.index('id="summary"'):html.index('id="bridge-h"')]
    assert "76,00" not in tiles and "Signale (Zeilen „prüfen (Signal)“" in html
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["action"] for r in rows} >= {"check", "sla_credit", "invoice", "credit"}
