"""Typed durations, ticket references and the start of undated work (audit.adapters.durations)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest

from audit.adapters.durations import (
    DurationError,
    DurationFormat,
    StartRule,
    TicketRefs,
    minutes_text,
)


@pytest.mark.parametrize(
    ("kind", "text", "seconds"),
    [
        ("seconds", "4800", 4800),
        ("minutes", "80", 4800),
        ("minutes", "12,5", 750),
        ("hours", "0.33", Decimal("1188.00")),  # Redmine's 20 minutes, exactly as written
        ("hours", "4,25", 15300),
        ("h:mm", "1:20", 4800),
        ("h:mm", "01:20", 4800),  # Freshdesk
        ("h:mm:ss", "1:20:05", 4805),
        ("iso8601", "PT1H20M", 4800),
        ("iso8601", "P1DT2H", 93600),
        ("iso8601", "PT90S", 90),
        ("jira", "3h 20m", 12000),
        ("jira", "1w 2d 3h 20m", (5 * 8 + 2 * 8 + 3) * 3600 + 1200),
        ("jira", "1d", 8 * 3600),
    ],
)
def test_durations_parse_exactly(kind: str, text: str, seconds) -> None:
    assert DurationFormat(kind).seconds(text) == Decimal(seconds)


def test_units_need_their_length_and_jira_days_are_settings() -> None:
    quarter = DurationFormat("units", minutes_per_unit=Decimal(15))
    assert quarter.seconds("12.3") == Decimal("11070.0")  # 12.3 quarter hours = 184.5 min
    assert DurationFormat("units").seconds("12.3") == Decimal("738.0")  # minutes by default
    six_hour_days = DurationFormat("jira", hours_per_day=Decimal(6), days_per_week=Decimal(4))
    assert six_hour_days.seconds("1w 1d") == Decimal((4 * 6 + 6) * 3600)


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("minutes", "1:20"),  # an h:mm value where minutes are declared: never guessed
        ("hours", "1:20"),
        ("h:mm", "1.33"),  # Kimai's decimal-hours setting read as h:mm: an error, not 1.33 h
        ("h:mm", "1:75"),
        ("iso8601", "PT"),
        ("iso8601", "1H20M"),
        ("jira", "20m 3h"),  # out of order
        ("jira", "3 hours"),
        ("seconds", "1e3"),
        ("minutes", ""),
    ],
)
def test_a_value_of_another_form_is_an_error_not_a_guess(kind: str, text: str) -> None:
    with pytest.raises(DurationError) as exc:
        DurationFormat(kind).seconds(text)
    assert "expected" in str(exc.value) or "empty" in str(exc.value)


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown duration format 'hrs'"):
        DurationFormat("hrs")


def test_minutes_text_is_exact_or_nothing() -> None:
    assert minutes_text(Decimal(1188)) == "19.8"
    assert minutes_text(Decimal(4800)) == "80"
    assert minutes_text(Decimal(100)) is None  # 1.6666… minutes: the caller writes an end time


def test_ticket_references_by_pattern() -> None:
    refs = TicketRefs()
    assert refs.find("Mailserver #67321 geprüft") == "67321"
    assert refs.find("Ticket#67321: DNS") == "67321"
    assert refs.find(None, "kunde, ticket:67321") == "67321"
    assert refs.find("no reference, &#39; html entity") is None
    assert TicketRefs(prefix="T-").find("#100042") == "T-100042"
    assert TicketRefs([r"(SUP-\d+)"]).find("work on SUP-12") == "SUP-12"


BERLIN = "Europe/Berlin"


def test_start_rules() -> None:
    booked = dt.datetime(2026, 7, 1, 0, 10, tzinfo=dt.UTC)  # 02:10 local on 1 July
    assert StartRule.parse("booking").start(booked, Decimal(1800), BERLIN) == booked
    back = StartRule.parse("booking_minus_duration").start(booked, Decimal(1800), BERLIN)
    assert back == dt.datetime(2026, 6, 30, 23, 40, tzinfo=dt.UTC)  # 01:40 local: still July
    # one hour earlier it crosses into June: the month (and the price) follow the rule
    june = StartRule.parse("booking_minus_duration").start(booked, Decimal(3 * 3600), BERLIN)
    assert june.astimezone(zoneinfo.ZoneInfo(BERLIN)).isoformat() == "2026-06-30T23:10:00+02:00"
    nine = StartRule.parse("date_at 09:00").start(dt.date(2026, 3, 12), Decimal(0), BERLIN)
    assert nine.isoformat() == "2026-03-12T09:00:00+01:00"
    naive = StartRule.parse("booking_minus_duration").start(dt.datetime(2026, 3, 29, 3, 30), Decimal(3600), BERLIN)
    assert naive.isoformat() == "2026-03-29T01:30:00+01:00"  # across the spring clock change: 1 h of work


@pytest.mark.parametrize("text", ["", "bookings", "date_at", "date_at 25:00", "date_at 9"])
def test_bad_start_rules(text: str) -> None:
    with pytest.raises(ValueError, match="is not a start rule"):
        StartRule.parse(text)
