"""The engine against docs/semantics.md, with hand-computed expectations.

Default policy unless a test edits it: 15-minute units, ceil, scope entry, 17.50 € per unit until
2026-06-30 and 19.00 € from 2026-07-01, Europe/Berlin. Figures marked "Kimai" come from
kimai/kimai tests/Timesheet/Rounding/*Test.php (see shared/reference/external-reference-cases.md).
"""

from __future__ import annotations

import hashlib

import polars as pl
import pytest
from test_engine_support import D, audit, entry, kinds, line, one, ticket

WEB = "webdesign"  # an extended category of the default policy
USAGE = "customer_center_usage"  # a standard one


# --- rounding ----------------------------------------------------------------------------------


def test_ceil_counts_every_started_quarter_hour(tmp_path):
    # Kimai "ceil" on duration, step 15: 0 s → 0, 900 s → 1, 901 s → 2, 9001 s → 11 units.
    durations = {"T-0": ("10:00:00", "10:00:00"), "T-900": ("10:00:00", "10:15:00"),
                 "T-901": ("10:00:00", "10:15:01"), "T-9001": ("12:10:51", "14:40:52")}
    res = audit(
        tmp_path,
        tickets=[ticket(t, WEB, "extended") for t in durations],
        entries=[entry(f"E{t}", t, f"2026-03-10 {a}", end=f"2026-03-10 {b}") for t, (a, b) in durations.items()],
    )
    rec = res.reconciliation
    got = {t: (one(rec, ticket_id=t)["tracked_seconds"], one(rec, ticket_id=t)["expected_units"]) for t in durations}
    assert got == {"T-0": (0, D("0")), "T-900": (900, D("1")), "T-901": (901, D("2")), "T-9001": (9001, D("11"))}
    assert one(rec, ticket_id="T-9001")["expected_eur"] == D("192.50")  # 11 × 17.50
    # a zero-length entry is tracked but expects nothing: no extended_unbilled for it
    assert "extended_unbilled" not in kinds(res.findings, "T-0")
    assert one(res.findings, ticket_id="T-901")["delta_eur"] == D("35.00")


@pytest.mark.parametrize(
    ("rounding", "units"),
    [("ceil", "6"), ("nearest", "5"), ("floor", "5")],  # Kimai: 9001 s at 30 min → 10800/9000/9000 s
)
def test_rounding_modes_on_kimai_case_with_30_minute_units(tmp_path, rounding, units):
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended")],
        entries=[entry("E-1", "T-1", "2026-03-10 12:10:51", end="2026-03-10 14:40:52")],
        edits={"billing.yaml": [("unit_minutes: 15", "unit_minutes: 30"),
                                ("rounding: ceil", f"rounding: {rounding}")]},
    )
    row = one(res.reconciliation, ticket_id="T-1")
    assert row["expected_units"] == D(units)
    assert row["expected_eur"] == D(units) * D("17.50")


def test_nearest_rounds_an_exact_half_down(tmp_path):
    # Kimai "closest": exactly half rounds down. 15-minute units: 450 s → 0, 451 s → 1,
    # 1350 s (1.5 units) → 1, 1351 s → 2.
    secs = {"T-a": 450, "T-b": 451, "T-c": 1350, "T-d": 1351}
    res = audit(
        tmp_path,
        tickets=[ticket(t, WEB, "extended") for t in secs],
        entries=[entry(f"E{t}", t, "2026-03-10 10:00:00", end=f"2026-03-10 10:{s // 60:02d}:{s % 60:02d}")
                 for t, s in secs.items()],
        edits={"billing.yaml": [("rounding: ceil", "rounding: nearest")]},
    )
    units = {t: one(res.reconciliation, ticket_id=t)["expected_units"] for t in secs}
    assert units == {"T-a": D("0"), "T-b": D("1"), "T-c": D("1"), "T-d": D("2")}


def test_minutes_column_is_used_when_there_is_no_end(tmp_path):
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes="15.5")],  # 930 s → 2 units
    )
    row = one(res.reconciliation, ticket_id="T-1")
    assert (row["tracked_seconds"], row["expected_units"]) == (930, D("2"))
    assert "15:30 min → 2 units" in row["explanation"]


# --- time: local dates, month ends, DST -------------------------------------------------------------


def test_entry_across_midnight_at_month_end_belongs_to_its_start_month(tmp_path):
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended", opened_at="2026-01-31 23:00")],
        entries=[entry("E-1", "T-1", "2026-01-31 23:50", end="2026-02-01 00:20")],
    )
    row = one(res.reconciliation, ticket_id="T-1")
    assert row["month"] == "2026-01"
    assert (row["tracked_seconds"], row["expected_units"], row["expected_eur"]) == (1800, D("2"), D("35.00"))
    assert res.reconciliation.height == 1


def test_local_month_not_utc_month(tmp_path):
    # 2026-03-31 22:30 UTC is 2026-04-01 00:30 in Berlin (summer time, +02:00): April.
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended")],
        entries=[entry("E-1", "T-1", "2026-03-31T22:30:00+00:00", minutes=10)],
    )
    assert one(res.reconciliation, ticket_id="T-1")["month"] == "2026-04"


def test_dst_days_local_dates_pick_the_price_and_durations_are_exact(tmp_path):
    # Price periods switch exactly on the two DST days (2026-03-29 and 2026-10-25).
    edits = {"billing.yaml": [
        ("      to: 2026-06-30\n      unit_price: \"17.50\"",
         "      to: 2026-03-28\n      unit_price: \"17.50\"\n"
         "    - from: 2026-03-29\n      to: 2026-10-24\n      unit_price: \"18.00\"\n"
         "    - from: 2026-10-25\n      to: 2026-12-31\n      unit_price: \"20.00\""),
        ("    - from: 2026-07-01\n      unit_price: \"19.00\"", "    - from: 2027-01-01\n      unit_price: \"19.00\""),
    ]}
    res = audit(
        tmp_path,
        tickets=[ticket(t, WEB, "extended", opened_at="2026-03-01 09:00") for t in ("T-mar", "T-oct", "T-utc")],
        entries=[
            # 01:30 CET → 03:30 CEST on 2026-03-29: one real hour (4 units), local date 03-29 → 18.00
            entry("E-1", "T-mar", "2026-03-29T01:30:00+01:00", end="2026-03-29T03:30:00+02:00"),
            # 01:30 CEST → 02:30 CET on 2026-10-25: two real hours (8 units), local date 10-25 → 20.00
            entry("E-2", "T-oct", "2026-10-25T01:30:00+02:00", end="2026-10-25T02:30:00+01:00"),
            # 2026-03-28 23:30 UTC is already 2026-03-29 00:30 local → 18.00, not 17.50
            entry("E-3", "T-utc", "2026-03-28T23:30:00Z", minutes=15),
        ],
        edits=edits,
    )
    mar = one(res.reconciliation, ticket_id="T-mar")
    assert (mar["tracked_seconds"], mar["expected_units"], mar["expected_eur"]) == (3600, D("4"), D("72.00"))
    oct_ = one(res.reconciliation, ticket_id="T-oct")
    assert (oct_["month"], oct_["tracked_seconds"], oct_["expected_units"], oct_["expected_eur"]) == (
        "2026-10", 7200, D("8"), D("160.00"))
    utc = one(res.reconciliation, ticket_id="T-utc")
    assert (utc["month"], utc["expected_eur"]) == ("2026-03", D("18.00"))


# --- prices ------------------------------------------------------------------------------------------

MID_MARCH_PRICE = {"billing.yaml": [
    ("      to: 2026-06-30\n      unit_price: \"17.50\"",
     "      to: 2026-03-15\n      unit_price: \"17.50\"\n    - from: 2026-03-16\n      to: 2026-06-30\n"
     "      unit_price: \"19.00\""),
    ("    - from: 2026-07-01\n      unit_price: \"19.00\"", "    - from: 2026-07-01\n      unit_price: \"19.50\""),
]}


def test_price_change_mid_month_entry_scope_prices_each_entry_on_its_date(tmp_path):
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes=47),   # 4 units × 17.50 = 70.00
                 entry("E-2", "T-1", "2026-03-20 10:00", minutes=20)],  # 2 units × 19.00 = 38.00
        edits=MID_MARCH_PRICE,
    )
    row = one(res.reconciliation, ticket_id="T-1")
    assert (row["expected_units"], row["expected_eur"]) == (D("6"), D("108.00"))
    f = one(res.findings, kind="extended_unbilled")
    assert f["delta_eur"] == D("108.00")
    assert f["message"] == (
        "2 entries: 47 min → 4 units, 20 min → 2 units; 4 units × 17.50 € + 2 units × 19.00 € = 108.00 €; "
        "nothing invoiced; under-billed 108.00 €"
    )


def test_price_change_mid_month_ticket_month_scope_uses_time_weighted_price(tmp_path):
    # 2820 s + 1200 s = 4020 s → ⌈4020/900⌉ = 5 units; time-weighted price
    # (17.50 × 2820 + 19.00 × 1200) / 4020 = 17.9477…; × 5 = 89.7388… → 89.74 €
    edits = {"billing.yaml": MID_MARCH_PRICE["billing.yaml"] + [("scope: entry", "scope: ticket_month")]}
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes=47),
                 entry("E-2", "T-1", "2026-03-20 10:00", minutes=20)],
        edits=edits,
    )
    row = one(res.reconciliation, ticket_id="T-1")
    assert (row["expected_units"], row["expected_eur"]) == (D("5"), D("89.74"))
    assert row["explanation"].startswith(
        "2 entries: 47 min, 20 min = 67 min → 5 units; 5 units × (47 min × 17.50 € + 20 min × 19.00 €) ÷ 67 min = 89.74 €"
    )


def test_ticket_month_scope_with_one_price_is_units_times_price(tmp_path):
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes=47),
                 entry("E-2", "T-1", "2026-03-11 10:00", minutes=12),
                 entry("E-3", "T-1", "2026-03-12 10:00", minutes=5)],  # 64 min → 5 units (entry scope: 6)
        edits={"billing.yaml": [("scope: entry", "scope: ticket_month")]},
    )
    row = one(res.reconciliation, ticket_id="T-1")
    assert (row["expected_units"], row["expected_eur"]) == (D("5"), D("87.50"))


def test_no_price_in_force_leaves_money_uncomputed(tmp_path):
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended", opened_at="2019-12-01 09:00")],
        entries=[entry("E-1", "T-1", "2019-12-10 10:00", minutes=20)],
    )
    row = one(res.reconciliation, ticket_id="T-1")
    assert row["expected_units"] == D("2")
    assert row["expected_eur"] is None and row["delta_eur"] is None
    assert "no price in force on 2019-12-10" in row["explanation"]
    assert one(res.findings, kind="extended_unbilled")["delta_eur"] is None


# --- reconciliation and every finding kind -----------------------------------------------------------


def test_units_mismatch_message_shows_the_arithmetic(tmp_path):
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes=47),
                 entry("E-2", "T-1", "2026-03-11 10:00", minutes=12),
                 entry("E-3", "T-1", "2026-03-12 10:00", end="2026-03-12 10:05:30")],
        lines=[line("L-1", "R-100", "T-1", "2026-03-31", "4", "17.50")],
    )
    f = one(res.findings, kind="units_mismatch")
    assert f["message"] == (
        "3 entries: 47 min → 4 units, 12 min → 1 unit, 5:30 min → 1 unit; 6 units × 17.50 € = 105.00 €; "
        "invoiced 4 units = 70.00 € (R-100); under-billed 35.00 €"
    )
    assert (f["expected_units"], f["billed_units"], f["expected_eur"], f["billed_eur"], f["delta_eur"]) == (
        D("6"), D("4"), D("105.00"), D("70.00"), D("35.00"))
    assert (f["severity"], f["status"], f["rule_id"], f["policy_file"]) == ("error", "open", "billing", "billing.yaml")
    assert f["policy_line"] == 3


def test_standard_billed_is_minus_billed(tmp_path):
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", USAGE, "standard")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes=20)],
        lines=[line("L-1", "R-1", "T-1", "2026-03-31", "2", "17.50")],
    )
    assert kinds(res.findings) == ["standard_billed"]
    f = one(res.findings, kind="standard_billed")
    assert (f["expected_eur"], f["billed_eur"], f["delta_eur"]) == (D("0.00"), D("35.00"), D("-35.00"))
    assert "is not billable" in f["message"] and f["message"].endswith("over-billed 35.00 €")
    row = one(res.reconciliation, ticket_id="T-1")
    assert (row["expected_units"], row["delta_eur"]) == (D("0"), D("-35.00"))


def test_extended_unbilled_is_plus_expected(tmp_path):
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended")],
        entries=[entry("E-1", "T-1", "2026-07-02 10:00", minutes=31)],  # 3 units × 19.00 (July price)
    )
    f = one(res.findings, kind="extended_unbilled")
    assert (f["month"], f["expected_units"], f["delta_eur"]) == ("2026-07", D("3"), D("57.00"))
    assert f["message"] == "1 entry: 31 min → 3 units; 3 units × 19.00 € = 57.00 €; nothing invoiced; under-billed 57.00 €"


def test_billed_without_time(tmp_path):
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes=15)],
        lines=[line("L-1", "R-1", "T-1", "2026-03-31", "1", "17.50"),
               line("L-2", "R-2", "T-1", "2026-04-30", "2", "17.50")],  # April has no time
    )
    assert kinds(res.findings) == ["billed_without_time"]
    f = one(res.findings, kind="billed_without_time")
    assert (f["month"], f["delta_eur"]) == ("2026-04", D("-35.00"))
    assert f["message"] == "no time tracked in 2026-04; invoiced 2 units = 35.00 € (R-2); over-billed 35.00 €"


def test_price_mismatch_per_line(tmp_path):
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes=47)],
        lines=[line("L-1", "R-1", "T-1", "2026-03-31", "4", "15.00")],  # list price 17.50
    )
    f = one(res.findings, kind="price_mismatch")
    # units agree (4 = 4), so the money is in the price finding only: 4 × (17.50 − 15.00)
    assert kinds(res.findings) == ["price_mismatch"]
    assert (f["line_id"], f["delta_eur"], f["rule_id"]) == ("L-1", D("10.00"), "billing.prices@2020-01-01")
    assert (f["policy_file"], f["policy_line"]) == ("billing.yaml", 8)
    assert f["message"] == (
        "line L-1 (R-1, 2026-03-31): 4 units × 15.00 € invoiced, price list billing.prices@2020-01-01 says "
        "17.50 €: 4 units × 2.50 € = 10.00 €; under-billed 10.00 €"
    )
    assert one(res.reconciliation, ticket_id="T-1")["delta_eur"] == D("10.00")


def test_amount_mismatch_per_line(tmp_path):
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes=47)],
        lines=[line("L-1", "R-1", "T-1", "2026-03-31", "4", "17.50", amount="80.00")],
    )
    f = one(res.findings, kind="amount_mismatch")
    assert (f["delta_eur"], f["rule_id"], f["policy_file"]) == (D("-10.00"), "findings.amount_mismatch", "findings.yaml")
    assert f["message"] == "line L-1 (R-1): 4 units × 17.50 € = 70.00 €, but the line amount is 80.00 €; over-billed 10.00 €"
    # the ticket-month is over-billed by the same 10.00 €; units agree, so no units_mismatch
    assert kinds(res.findings) == ["amount_mismatch"]
    assert one(res.reconciliation, ticket_id="T-1")["delta_eur"] == D("-10.00")


def test_line_messages_are_those_of_their_own_lines_in_every_export_span(tmp_path, monkeypatch):
    """The line kinds' messages read the lines with findings from ``line_texts``, joined on the
    line and its month: with one export span per month and customer, each message still names
    its own line, date and prices, whichever span it is written in."""
    import audit.engine.render as render

    monkeypatch.setattr(render, "SPAN_ROWS", 1)
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended"), ticket("T-2", WEB, "extended", customer_id="K-2")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes=47),
                 entry("E-2", "T-1", "2026-04-10 10:00", minutes=47),
                 entry("E-3", "T-2", "2026-03-11 10:00", minutes=47)],
        lines=[line("L-1", "R-1", "T-1", "2026-03-31", "4", "15.00"),
               line("L-2", "R-2", "T-1", "2026-04-30", "4", "16.00"),
               line("L-3", "R-3", "T-2", "2026-03-31", "4", "17.50", amount="80.00", customer="K-2")],
    )
    found = {f["line_id"]: (f["kind"], f["month"], f["message"])
             for f in res.findings.iter_rows(named=True) if f["line_id"]}
    assert found == {
        "L-1": ("price_mismatch", "2026-03",
                "line L-1 (R-1, 2026-03-31): 4 units × 15.00 € invoiced, price list "
                "billing.prices@2020-01-01 says 17.50 €: 4 units × 2.50 € = 10.00 €; under-billed 10.00 €"),
        "L-2": ("price_mismatch", "2026-04",
                "line L-2 (R-2, 2026-04-30): 4 units × 16.00 € invoiced, price list "
                "billing.prices@2020-01-01 says 17.50 €: 4 units × 1.50 € = 6.00 €; under-billed 6.00 €"),
        "L-3": ("amount_mismatch", "2026-03",
                "line L-3 (R-3): 4 units × 17.50 € = 70.00 €, but the line amount is 80.00 €; "
                "over-billed 10.00 €"),
    }


def test_duplicate_invoices(tmp_path):
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes=47)],  # 4 units = 70.00
        lines=[line("L-1", "R-1", "T-1", "2026-03-31", "4", "17.50"),
               line("L-2", "R-2", "T-1", "2026-03-31", "4", "17.50")],
    )
    assert kinds(res.findings) == ["duplicate_billing"]  # not also units_mismatch: one cause, one finding
    f = one(res.findings, kind="duplicate_billing")
    assert (f["delta_eur"], f["rule_id"]) == (D("-70.00"), "findings.duplicate_billing")
    assert f["message"] == (
        "billed on 2 invoices: R-1 4 units = 70.00 €, R-2 4 units = 70.00 €; "
        "every invoice after R-1 repeats the bill: over-billed 70.00 €"
    )
    assert one(res.reconciliation, ticket_id="T-1")["delta_eur"] == D("-70.00")


def test_duplicate_plus_short_first_invoice(tmp_path):
    # expected 6 units; R-1 bills 4, R-2 repeats 2: duplicate −35.00, and units compare R-1 only: +35.00
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes=90)],
        lines=[line("L-1", "R-1", "T-1", "2026-03-31", "4", "17.50"),
               line("L-2", "R-2", "T-1", "2026-03-31", "2", "17.50")],
    )
    assert one(res.findings, kind="duplicate_billing")["delta_eur"] == D("-35.00")
    um = one(res.findings, kind="units_mismatch")
    assert (um["billed_units"], um["billed_eur"], um["delta_eur"]) == (D("4"), D("70.00"), D("35.00"))
    assert "on the first invoice R-1 (and credit lines) invoiced 4 units = 70.00 €" in um["message"]
    assert one(res.reconciliation, ticket_id="T-1")["delta_eur"] == D("0.00")


def test_credit_line_nets_out(tmp_path):
    # 6 units invoiced, 2 credited on a credit note: 4 net = the 4 expected → no finding
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes=47)],
        lines=[line("L-1", "R-1", "T-1", "2026-03-31", "6", "17.50"),
               line("L-2", "GS-1", "T-1", "2026-03-31", "-2", "17.50")],
    )
    assert res.findings.height == 0
    row = one(res.reconciliation, ticket_id="T-1")
    assert (row["billed_units"], row["billed_eur"], row["delta_eur"], row["invoice_ids"]) == (
        D("4"), D("70.00"), D("0.00"), "GS-1,R-1")



@pytest.mark.parametrize(("lines", "billed_units", "invoice_ids", "found"), [
    # one invoice, every line positive: 4 units as expected
    ([("R-1", "3"), ("R-1", "1")], "4", "R-1", []),
    # one invoice with its own credit line: 6 − 2 = 4, no repeat
    ([("R-1", "6"), ("R-1", "-2")], "4", "R-1", []),
    # only a credit note: no positive invoice, −2 billed against 4 expected
    ([("GS-1", "-2")], "-2", "GS-1", ["units_mismatch"]),
    # a zero line on a second invoice repeats nothing
    ([("R-2", "4"), ("R-1", "0")], "4", "R-1,R-2", []),
    # the lowest invoice with a positive line is the first; the higher one repeats the bill
    ([("R-3", "4"), ("R-2", "4"), ("GS-9", "-4")], "4", "GS-9,R-2,R-3", ["duplicate_billing", "units_mismatch"]),
])
def test_billed_side_of_a_ticket_month(tmp_path, lines, billed_units, invoice_ids, found):
    """Invoices and credit lines of one ticket-month against 47 min tracked (4 units = 70.00 €)."""
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes=47)],
        lines=[line(f"L-{i}", inv, "T-1", "2026-03-31", qty, "17.50") for i, (inv, qty) in enumerate(lines)],
    )
    row = one(res.reconciliation, ticket_id="T-1")
    assert (row["billed_units"], row["invoice_ids"]) == (D(billed_units), invoice_ids)
    assert kinds(res.findings) == found

def test_tier_mismatch_names_the_deciding_rule(tmp_path):
    res = audit(tmp_path, tickets=[ticket("T-1", WEB, "standard")])
    f = one(res.findings, kind="tier_mismatch")
    assert (f["recorded_tier"], f["policy_tier"], f["delta_eur"], f["month"]) == ("standard", "extended", D("0.00"), "2026-03")
    assert (f["rule_id"], f["policy_file"], f["policy_line"]) == ("webdesign", "classification.yaml", 46)
    assert f["message"] == "recorded tier standard, policy tier extended: rule webdesign (EXT-1) matched: category = 'webdesign'"


def test_first_matching_rule_decides_and_null_is_false(tmp_path):
    # cause=customer beats category (rule 2 before the category rules); service_fault without a
    # service: service.managed is NULL → the managed rule is not true → unmanaged rule (extended).
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", "customer_center_usage", "standard", cause="customer"),
                 ticket("T-2", "service_fault", "extended"),
                 ticket("T-3", "service_fault", "standard", service_id="S-2")],
    )
    cls = res.classifications
    assert (one(cls, ticket_id="T-1")["policy_tier"], one(cls, ticket_id="T-1")["rule_id"]) == ("extended", "customer-caused")
    assert one(cls, ticket_id="T-2")["rule_id"] == "unmanaged-service-fault"
    assert (one(cls, ticket_id="T-3")["rule_id"], one(cls, ticket_id="T-3")["rule_clause"]) == ("managed-service-fault", "STD-4")


def test_unclassified_ticket_gets_no_billing_findings(tmp_path):
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", "hardware_order", "extended")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes=20)],
        lines=[line("L-1", "R-1", "T-1", "2026-03-31", "1", "15.00")],
    )
    f = one(res.findings, kind="unclassified_ticket")
    assert f["delta_eur"] is None and f["policy_tier"] is None
    assert (f["rule_id"], f["policy_file"]) == ("classification", "classification.yaml")
    assert "category 'hardware_order'" in f["message"]
    # the invoice-line arithmetic check still applies; nothing else does
    assert kinds(res.findings) == ["unclassified_ticket"]
    row = one(res.reconciliation, ticket_id="T-1")
    assert row["expected_eur"] is None and row["delta_eur"] is None and row["billed_eur"] == D("15.00")


def test_signal_uses_subject_and_recorded_tier(tmp_path):
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", USAGE, "standard", subject="Firewall blockiert alles"),
                 ticket("T-2", USAGE, "standard", subject="Passwort vergessen")],
    )
    f = one(res.findings, kind="suspected_misclassification")
    assert (f["ticket_id"], f["severity"], f["rule_id"], f["delta_eur"]) == (
        "T-1", "warning", "extended-keywords-on-standard", None)
    assert f["policy_file"] == "findings.yaml"
    assert f["message"].startswith("The subject mentions work that is usually extended support")



FIRST_SIGNAL_END = "AND regexp_matches(lower(subject), 'iptables|firewall|backup|gelöscht|webdesign')"


def test_signals_fire_only_where_every_part_is_true(tmp_path):
    """Signals are judged with the classification: a NULL part (no subject) never fires, a second
    signal may read policy_tier and OR, and each fires on its own tickets."""
    second = (  # appended after the shipped signal
        "\n  - id: extended-work-recorded-standard\n    kind: suspected_misclassification\n"
        "    severity: info\n    when: >-\n      tier = 'standard' AND (policy_tier = 'extended'"
        " OR subject LIKE '%dringend%')\n"
    )
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", USAGE, "standard", subject="Backup weg"),         # signal 1
                 ticket("T-2", USAGE, "standard", subject=None),                 # none: NULL subject
                 ticket("T-3", WEB, "standard", subject="Neue Startseite"),      # signal 2 (policy tier)
                 ticket("T-4", USAGE, "standard", subject="dringend: Passwort"),  # signal 2 (subject)
                 ticket("T-5", WEB, "extended", subject="Firewall dringend")],   # none: recorded extended
        edits={"findings.yaml": [(FIRST_SIGNAL_END, FIRST_SIGNAL_END + second)]},
    )
    hits = sorted((r["rule_id"], r["ticket_id"]) for r in
                  res.findings.filter(kind="suspected_misclassification").iter_rows(named=True))
    assert hits == [("extended-keywords-on-standard", "T-1"),
                    ("extended-work-recorded-standard", "T-3"),
                    ("extended-work-recorded-standard", "T-4")]


# --- waivers -----------------------------------------------------------------------------------------


def _waiver_case(tmp_path, expires_on: str):
    return audit(
        tmp_path,
        tickets=[ticket("T-feb", WEB, "extended", customer_id="K-10007", opened_at="2026-02-02 09:00"),
                 ticket("T-mar", WEB, "extended", customer_id="K-10007")],
        entries=[entry("E-1", "T-feb", "2026-02-10 10:00", minutes=15),
                 entry("E-2", "T-mar", "2026-03-10 10:00", minutes=15)],
        edits={"waivers.yaml": [("expires_on: 2026-12-31", f"expires_on: {expires_on}")]},
    )


def test_waiver_before_and_after_expiry(tmp_path):
    res = _waiver_case(tmp_path, "2026-02-28")
    feb = one(res.findings, ticket_id="T-feb")
    mar = one(res.findings, ticket_id="T-mar")
    assert (feb["status"], feb["waiver_id"], feb["delta_eur"]) == ("waived", "W-2026-001", D("17.50"))
    assert (mar["status"], mar["waiver_id"]) == ("open", None)
    assert mar["message"].endswith("(waiver W-2026-001 expired on 2026-02-28)")
    assert not feb["message"].endswith(")")


def test_waiver_covers_a_month_that_starts_before_expiry(tmp_path):
    res = _waiver_case(tmp_path, "2026-03-15")
    assert one(res.findings, ticket_id="T-mar")["status"] == "waived"


def test_waiver_scope_must_match_every_field(tmp_path):
    # W-2026-001 is for extended_unbilled of K-10007: a units_mismatch of that customer stays open
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended", customer_id="K-10007")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes=47)],
        lines=[line("L-1", "R-1", "T-1", "2026-03-31", "3", "17.50", customer="K-10007")],
    )
    assert one(res.findings, kind="units_mismatch")["status"] == "open"



def _waiver(wid: str, scope: str, expires_on: str) -> str:
    return (f"\n  - id: {wid}\n    scope: {scope}\n    reason: Test exception\n"
            f"    approved_by: Test\n    approved_on: 2026-01-01\n    expires_on: {expires_on}")


def test_first_covering_waiver_in_policy_order_wins(tmp_path):
    """Waivers are tried in policy order: a finding takes the first that covers it; one that
    only had expired notes the first expired waiver; quotes in a scope value are data."""
    extra = (_waiver("W-exp", "{ticket: T-1}", "2026-01-31")             # T-1: matches, expired
             + _waiver("W-t1", "{ticket: T-1, month: '2026-03'}", "2026-12-31")  # T-1: covers
             + _waiver("W-late", "{kind: extended_unbilled}", "2026-12-31")      # covers, but later
             + _waiver("W-quote", "{ticket: \"T-2' OR '1'='1\"}", "2026-12-31"))  # matches nothing
    res = audit(
        tmp_path,
        tickets=[ticket(t, WEB, "extended") for t in ("T-1", "T-2", "T-3")],
        entries=[entry(f"E-{t}", t, "2026-03-10 10:00", minutes=15) for t in ("T-1", "T-2", "T-3")],
        edits={"waivers.yaml": [("expires_on: 2026-12-31", "expires_on: 2026-12-31" + extra)]},
    )
    got = {r["ticket_id"]: (r["status"], r["waiver_id"], r["message"].endswith("expired on 2026-01-31)"))
           for r in res.findings.filter(kind="extended_unbilled").iter_rows(named=True)}
    assert got == {"T-1": ("waived", "W-t1", False), "T-2": ("waived", "W-late", False),
                   "T-3": ("waived", "W-late", False)}
    only_expired = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes=15)],
        edits={"waivers.yaml": [("expires_on: 2026-12-31", "expires_on: 2026-12-31"
                                 + _waiver("W-exp", "{ticket: T-1}", "2026-01-31")
                                 + _waiver("W-exp2", "{ticket: T-1}", "2026-02-28"))]},
    )
    f = one(only_expired.findings, kind="extended_unbilled")
    assert (f["status"], f["waiver_id"]) == ("open", None)
    assert f["message"].endswith("(waiver W-exp expired on 2026-01-31)")

# --- identity, order, period ------------------------------------------------------------------------


def test_finding_id_is_the_documented_hash(tmp_path):
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes=47)],
        lines=[line("L-1", "R-1", "T-1", "2026-03-31", "4", "15.00")],
    )
    f = one(res.findings, kind="price_mismatch")
    raw = "price_mismatch|T-1|2026-03|L-1||billing.prices@2020-01-01"
    assert f["finding_id"] == "F-" + hashlib.sha256(raw.encode()).hexdigest()[:16]


def test_findings_are_sorted_month_customer_ticket_kind_line(tmp_path):
    res = audit(
        tmp_path,
        tickets=[ticket("T-2", WEB, "standard"), ticket("T-1", WEB, "extended", customer_id="K-2"),
                 ticket("T-3", WEB, "standard", opened_at="2026-02-01 09:00")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes=47),
                 entry("E-2", "T-2", "2026-03-10 10:00", minutes=47)],
        lines=[line("L-2", "R-1", "T-1", "2026-03-31", "2", "15.00", customer="K-2"),
               line("L-1", "R-1", "T-1", "2026-03-31", "2", "15.00", customer="K-2")],
    )
    keys = res.findings.select("month", "customer_id", "ticket_id", "kind", "line_id").rows()
    assert keys == [
        ("2026-02", "K-1", "T-3", "tier_mismatch", None),
        ("2026-03", "K-1", "T-2", "extended_unbilled", None),
        ("2026-03", "K-1", "T-2", "tier_mismatch", None),
        ("2026-03", "K-2", "T-1", "price_mismatch", "L-1"),
        ("2026-03", "K-2", "T-1", "price_mismatch", "L-2"),
    ]


def test_period_restricts_outputs_but_not_the_computation(tmp_path):
    tickets = [ticket("T-1", WEB, "extended", opened_at="2026-02-20 09:00")]
    entries = [entry("E-1", "T-1", "2026-02-27 10:00", minutes=15), entry("E-2", "T-1", "2026-03-02 10:00", minutes=15)]
    lines = [line("L-1", "R-1", "T-1", "2026-03-31", "1", "17.50")]
    res = audit(tmp_path, tickets=tickets, entries=entries, lines=lines, period="2026-03")
    assert res.reconciliation.get_column("month").to_list() == ["2026-03"]
    assert res.classifications.get_column("month").to_list() == ["2026-03"]
    assert res.findings.height == 0  # February's extended_unbilled is outside the period
    full = audit(tmp_path, tickets=tickets, entries=entries, lines=lines)
    assert kinds(full.findings) == ["extended_unbilled"]


def test_classifications_have_a_row_per_ticket_month_and_top_agent(tmp_path):
    res = audit(
        tmp_path,
        tickets=[ticket("T-1", WEB, "extended"), ticket("T-2", USAGE, "standard", opened_at="2026-01-05 08:00")],
        entries=[entry("E-1", "T-1", "2026-03-10 10:00", minutes=20, agent="bert"),
                 entry("E-2", "T-1", "2026-03-11 10:00", minutes=10, agent="anna"),
                 entry("E-3", "T-1", "2026-04-01 10:00", minutes=15, agent="anna"),
                 entry("E-4", "T-1", "2026-04-02 10:00", minutes=5, agent="carl")],
    )
    cls = res.classifications
    assert cls.select("ticket_id", "month").rows() == [("T-2", "2026-01"), ("T-1", "2026-03"), ("T-1", "2026-04")]
    # anna and bert both have 25 min on the ticket: ties go by name
    assert set(cls.filter(pl.col("ticket_id") == "T-1").get_column("agent")) == {"anna"}
    t2 = one(cls, ticket_id="T-2")
    assert (t2["agent"], t2["tracked_seconds"], t2["expected_units"]) == (None, 0, D("0"))
