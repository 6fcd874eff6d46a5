"""A German spreadsheet export, warts and all (tests/fixtures/ingest/messy), loaded end to end.

The fixture files are hand-made:
- customers.csv: Windows-1252, ';', CRLF, header with spaces and mixed case, an unknown column,
  a doubled key, a malformed id, an empty name;
- services.csv: UTF-8 with BOM, ',', booleans as ja/NEIN/Wahr/1, an orphan, a child of a
  quarantined customer, an unreadable boolean;
- tickets.csv: Windows-1252, German and ISO timestamps (with offset, naive, ambiguous,
  non-existent), a subject with a quoted line break, a broken quote, too few fields, cascades;
- time_entries.csv: decimal comma minutes, ends vs minutes, too many decimals, a 26 h entry;
- invoice_lines.csv: decimal comma money, thousands separators, a credit line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from pathlib import Path

import pytest

from audit.db import connect
from audit.ingest import QUARANTINE_SCHEMA, load_data

MESSY = Path(__file__).parent / "fixtures" / "ingest" / "messy"
UTC = dt.UTC
TIERS = ["standard", "extended"]


@pytest.fixture(scope="module")
def messy():
    con = connect()
    result = load_data(con, MESSY, timezone="Europe/Berlin", tier_ids=TIERS, gx="off")
    yield con, result
    con.close()


def rows(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def quarantined(result, table: str) -> dict[int, list[tuple[str, str | None]]]:
    """line -> [(expectation, column), ...] for one table."""
    out: dict[int, list[tuple[str, str | None]]] = {}
    for r in result.quarantine.to_pylist():
        if r["table"] == table:
            out.setdefault(r["line"], []).append((r["expectation"], r["column"]))
    return out


def q_row(result, table: str, line: int) -> dict:
    [row] = [r for r in result.quarantine.to_pylist() if r["table"] == table and r["line"] == line]
    return row


# -- counts -------------------------------------------------------------------------------------

def test_every_table_reconciles_rows_in_with_loaded_plus_quarantined(messy):
    con, result = messy
    expected = {  # rows_in, loaded, quarantined
        "customers": (6, 3, 3),
        "services": (7, 4, 3),
        "tickets": (14, 5, 9),
        "time_entries": (12, 5, 7),
        "invoice_lines": (7, 4, 3),
    }
    for table, (rows_in, loaded, quarantined_n) in expected.items():
        counts = result.tables[table]
        assert (counts.rows_in, counts.loaded, counts.quarantined) == (rows_in, loaded, quarantined_n), table
        assert counts.rows_in == counts.loaded + counts.quarantined
        assert rows(con, f"SELECT count(*) FROM {table}") == [(loaded,)]
        assert len({r["line"] for r in result.quarantine.to_pylist() if r["table"] == table}) == quarantined_n


def test_dialects_and_hashes_are_reported(messy):
    _, result = messy
    assert result.tables["customers"].dialect == "Windows-1252, ';'-separated"
    assert result.tables["services"].dialect == "UTF-8 with BOM, ','-separated"
    assert result.tables["time_entries"].dialect == "UTF-8, ';'-separated"
    assert result.input_hashes["tickets.csv"] == hashlib.sha256((MESSY / "tickets.csv").read_bytes()).hexdigest()
    assert set(result.input_hashes) == {f"{t}.csv" for t in result.tables}


# -- encodings, delimiters, headers -------------------------------------------------------------

def test_windows_1252_umlauts_and_euro_sign_come_out_right(messy):
    con, _ = messy
    assert rows(con, "SELECT customer_id, name FROM customers ORDER BY _line") == [
        ("C-001", "Müller Webdesign GmbH"),
        ("C-002", "Bäckerei Schröder"),
        ("C-003", 'Café "Zur Größe"'),
    ]
    assert rows(con, "SELECT subject FROM tickets WHERE ticket_id = 'T-1'") == [("Größe des Postfachs",)]


def test_header_is_matched_case_insensitively_and_unknown_columns_are_warned_about(messy):
    con, result = messy
    assert "customers.csv: ignored columns the contract does not know: 'Notiz'" in result.warnings
    columns = [r[0] for r in rows(con, "SELECT column_name FROM information_schema.columns "
                                       "WHERE table_name = 'customers' ORDER BY ordinal_position")]
    assert columns == ["customer_id", "name", "contract", "_source_file", "_line"]


def test_utf8_bom_file_and_german_booleans(messy):
    con, _ = messy
    assert rows(con, "SELECT service_id, managed FROM services ORDER BY _line") == [
        ("S-1", True), ("S-2", False), ("S-3", True), ("S-4", True),
    ]


def test_loaded_tables_have_the_contract_types_and_provenance(messy):
    con, _ = messy
    types = dict(rows(con, "SELECT column_name, data_type FROM information_schema.columns "
                           "WHERE table_name = 'time_entries'"))
    assert types == {
        "entry_id": "VARCHAR", "ticket_id": "VARCHAR", "agent": "VARCHAR",
        "started_at": "TIMESTAMP WITH TIME ZONE", "ended_at": "TIMESTAMP WITH TIME ZONE",
        "minutes": "DECIMAL(18,4)", "duration_seconds": "BIGINT",
        "_source_file": "VARCHAR", "_line": "BIGINT",
    }
    types = dict(rows(con, "SELECT column_name, data_type FROM information_schema.columns "
                           "WHERE table_name = 'invoice_lines'"))
    assert types["amount"] == "DECIMAL(18,2)" and types["service_date"] == "DATE"
    assert rows(con, "SELECT DISTINCT _source_file FROM tickets") == [("tickets.csv",)]


# -- timestamps --------------------------------------------------------------------------------

def test_german_iso_offset_and_naive_timestamps(messy):
    con, _ = messy
    got = dict((r[0], r[1:]) for r in rows(
        con, "SELECT ticket_id, opened_at, first_response_at, resolved_at FROM tickets"))
    # 05.03.2026 14:30 Berlin (CET, +01:00) -> 13:30 UTC; seconds are kept
    assert got["T-1"] == (dt.datetime(2026, 3, 5, 13, 30, tzinfo=UTC),
                          dt.datetime(2026, 3, 5, 14, 0, 5, tzinfo=UTC),
                          dt.datetime(2026, 3, 6, 8, 0, tzinfo=UTC))
    # an explicit offset wins over the policy's time zone
    assert got["T-2"][0] == dt.datetime(2026, 3, 5, 13, 30, tzinfo=UTC)
    assert got["T-6"][0] == dt.datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # ...Z
    # naive ISO in summer time (CEST, +02:00)
    assert rows(con, "SELECT started_at FROM time_entries WHERE entry_id = 'E-3'") == [
        (dt.datetime(2026, 3, 5, 9, 0, tzinfo=UTC),)]


def test_ambiguous_local_time_is_read_as_first_occurrence(messy):
    con, result = messy
    # 2026-10-25 02:30 happens twice in Berlin; the first time is 00:30 UTC (+02:00)
    assert rows(con, "SELECT opened_at, first_response_at FROM tickets WHERE ticket_id = 'T-3'") == [
        (dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC), dt.datetime(2026, 10, 25, 0, 45, tzinfo=UTC))]
    # and an entry inside the repeated hour lasts 15 minutes, not 75
    assert rows(con, "SELECT duration_seconds FROM time_entries WHERE entry_id = 'E-7'") == [(900,)]
    assert any(w.startswith("tickets.csv: 2 ambiguous local time(s)") and "line 5" in w
               for w in result.warnings)


def test_nonexistent_local_time_is_quarantined(messy):
    con, result = messy
    row = q_row(result, "tickets", 6)
    assert (row["expectation"], row["column"], row["value"]) == (
        "nonexistent_local_time", "opened_at", "2026-03-29 02:30")
    assert "does not exist in Europe/Berlin" in row["reason"]
    assert row["raw"] == "T-4;C-001;;2026-03-29 02:30;;;normal;email;webdesign;Nonexistent;;extended"
    assert rows(con, "SELECT count(*) FROM tickets WHERE ticket_id = 'T-4'") == [(0,)]


# -- CSV structure -----------------------------------------------------------------------------

def test_quoted_line_break_stays_in_the_value_and_the_record_keeps_its_first_line(messy):
    con, _ = messy
    assert rows(con, "SELECT subject, _line FROM tickets WHERE ticket_id = 'T-2'") == [
        ("Mail kommt nicht an\r\nseit gestern", 3)]
    # the next record starts on physical line 5
    assert rows(con, "SELECT _line FROM tickets WHERE ticket_id = 'T-3'") == [(5,)]


def test_broken_quote_costs_one_line_and_the_next_record_is_read(messy):
    con, result = messy
    row = q_row(result, "tickets", 7)
    assert row["expectation"] == "broken_quoting"
    assert row["raw"].startswith('T-5;C-001;S-1;25.11.2026 10:00;;;normal;email;webdesign;"Broken subject')
    assert rows(con, "SELECT subject, _line FROM tickets WHERE ticket_id = 'T-6'") == [
        ('Quoted "fine"', 8)]


def test_wrong_column_count_is_quarantined_with_its_line(messy):
    _, result = messy
    row = q_row(result, "tickets", 9)
    assert row["expectation"] == "wrong_column_count"
    assert row["reason"].startswith("the record has 10 fields but the header has 12")
    assert row["raw"] == "T-7;C-001;S-1;25.11.2026 10:00;;;normal;email;webdesign;too few fields"


# -- numbers -------------------------------------------------------------------------------------

def test_decimal_comma_and_thousands_separators_are_exact(messy):
    con, _ = messy
    assert rows(con, "SELECT line_id, quantity, unit_price, amount FROM invoice_lines ORDER BY _line") == [
        ("L-1", Decimal("4.00"), Decimal("17.50"), Decimal("70.00")),
        ("L-2", Decimal("58.00"), Decimal("17.50"), Decimal("1015.00")),
        ("L-6", Decimal("-1.00"), Decimal("17.50"), Decimal("-17.50")),
        ("L-7", Decimal("2.00"), Decimal("19.00"), Decimal("38.00")),
    ]
    assert rows(con, "SELECT service_date FROM invoice_lines WHERE line_id IN ('L-1', 'L-2') ORDER BY _line") == [
        (dt.date(2026, 3, 5),), (dt.date(2026, 3, 6),)]


def test_too_many_decimals_is_quarantined_not_rounded(messy):
    _, result = messy
    row = q_row(result, "invoice_lines", 4)
    assert (row["expectation"], row["column"], row["value"]) == ("too_many_decimals", "quantity", "1,255")
    row = q_row(result, "time_entries", 9)
    assert (row["expectation"], row["column"], row["value"]) == ("too_many_decimals", "minutes", "12,34567")
    assert "more than 4 decimal places" in row["reason"]


def test_unreadable_values_are_parse_errors_with_the_raw_text(messy):
    _, result = messy
    row = q_row(result, "invoice_lines", 6)
    assert (row["expectation"], row["column"], row["value"]) == ("parse_error", "unit_price", "abc")
    assert row["reason"].startswith("unit_price: 'abc' is not a number")
    row = q_row(result, "services", 8)
    assert (row["expectation"], row["column"], row["value"]) == ("parse_error", "managed", "vielleicht")


def test_durations_from_ends_or_minutes(messy):
    con, _ = messy
    assert rows(con, "SELECT entry_id, minutes, duration_seconds FROM time_entries ORDER BY _line") == [
        ("E-1", Decimal("47.0000"), 2820),   # minutes x 60
        ("E-2", None, 750),                  # 09:00 -> 09:12:30
        ("E-3", Decimal("1.5000"), 90),      # decimal comma
        ("E-7", None, 900),
        ("E-12", Decimal("20.5000"), 1200),  # both given, 30 s apart: the ends win
    ]


def test_minutes_disagreeing_with_the_ends_are_quarantined(messy):
    _, result = messy
    row = q_row(result, "time_entries", 5)
    assert (row["expectation"], row["column"], row["value"]) == (
        "expect_column_pair_values_to_be_equal", "minutes", "20")
    assert row["reason"].startswith("minutes (20) and ended_at - started_at (1800 s) disagree by more than 60 seconds")


# -- the contract ----------------------------------------------------------------------------------

def test_contract_failures_name_expectation_column_and_value(messy):
    _, result = messy
    assert quarantined(result, "customers") == {
        5: [("expect_column_values_to_be_unique", "customer_id")],
        6: [("expect_column_values_to_match_regex", "customer_id")],
        7: [("expect_column_values_to_not_be_null", "name")],
    }
    assert quarantined(result, "tickets") == {
        6: [("nonexistent_local_time", "opened_at")],
        7: [("broken_quoting", None)],
        9: [("wrong_column_count", None)],
        10: [("expect_column_values_to_be_in_table", "customer_id")],
        11: [("expect_column_values_to_be_in_table", "service_id")],
        12: [("expect_column_values_to_be_in_set", "priority")],
        13: [("expect_column_pair_values_a_to_be_greater_than_b", "resolved_at")],
        14: [("expect_column_values_to_be_in_set", "tier")],
        15: [("expect_column_values_to_be_unique", "ticket_id")],
    }
    row = q_row(result, "tickets", 13)
    assert row["reason"] == "resolved_at 2026-03-09 09:00:00 is before opened_at 2026-03-10 09:00:00"
    row = q_row(result, "tickets", 14)
    assert row["reason"] == "tier 'premium' is not one of: standard, extended"


def test_duplicate_keeps_the_first_occurrence(messy):
    con, result = messy
    assert rows(con, "SELECT name, _line FROM customers WHERE customer_id = 'C-002'") == [("Bäckerei Schröder", 3)]
    assert rows(con, "SELECT subject FROM tickets WHERE ticket_id = 'T-1'") == [("Größe des Postfachs",)]
    assert q_row(result, "tickets", 15)["reason"] == (
        "ticket_id 'T-1' appears more than once: the first occurrence (line 2) is loaded, this one is set aside")


def test_referential_cascade_follows_quarantined_parents(messy):
    con, result = messy
    # customer C-006 (no name) -> service S-6 -> ticket T-9; ticket T-4 (bad time) -> E-5 and L-4
    assert "itself quarantined" in q_row(result, "services", 7)["reason"]
    assert q_row(result, "services", 6)["reason"] == "customer_id 'C-999' does not exist in customers.csv"
    assert q_row(result, "tickets", 11)["reason"] == (
        "service_id 'S-6' refers to a row of services.csv that was itself quarantined (see its entry there)")
    assert q_row(result, "time_entries", 6)["value"] == "T-4"
    assert "itself quarantined" in q_row(result, "time_entries", 6)["reason"]
    assert q_row(result, "time_entries", 7)["reason"] == "ticket_id 'T-99' does not exist in tickets.csv"
    assert "itself quarantined" in q_row(result, "invoice_lines", 5)["reason"]
    assert rows(con, "SELECT count(*) FROM time_entries WHERE ticket_id NOT IN (SELECT ticket_id FROM tickets)") == [(0,)]


def test_range_and_not_null_on_the_derived_duration(messy):
    _, result = messy
    assert quarantined(result, "time_entries")[11] == [("expect_column_values_to_not_be_null", "duration_seconds")]
    row = q_row(result, "time_entries", 12)
    assert (row["expectation"], row["value"]) == ("expect_column_values_to_be_between", "93600")


def test_quarantine_has_the_documented_schema_and_order(messy):
    _, result = messy
    assert result.quarantine.schema == QUARANTINE_SCHEMA
    keys = [(r["table"], r["line"]) for r in result.quarantine.to_pylist()]
    order = ["customers", "services", "tickets", "time_entries", "invoice_lines"]
    assert keys == sorted(keys, key=lambda k: (order.index(k[0]), k[1]))
    assert all(r["raw"] for r in result.quarantine.to_pylist())
    assert all(r["source_file"] == f"{r['table']}.csv" for r in result.quarantine.to_pylist())


def test_only_the_canonical_tables_remain_on_the_connection(messy):
    con, _ = messy
    names = sorted(r[0] for r in rows(con, "SELECT table_name FROM information_schema.tables"))
    # the optional tables are there too, empty when their export is absent (docs/data-contract.md)
    assert names == ["agents", "customers", "invoice_lines", "services", "ticket_status_history",
                     "tickets", "time_entries"]
