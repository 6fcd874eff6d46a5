"""The shared adapter machinery: records, value maps, lookups, timestamps."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest

from audit.adapters.core import Builder, ColumnSpec, Context, MapError, combine, lookup, parse_time
from audit.adapters.records import Record, read_csv


def _mapping(column: str, values: dict, field: str | None = None, default: str | None = None, source=None):
    return SimpleNamespace(column=column, source=source, field=field, values=values, default=default)


def _record(**fields) -> Record:
    return Record(Path("x.json"), 1, "$[0]", fields, "{}")


def test_value_maps_match_exactly_then_folded_then_without_the_number() -> None:
    ctx = Context("Europe/Berlin", [
        _mapping("tickets.category", {"Support::Webdesign": "webdesign", "hosting": "service_fault"}, field="group"),
        _mapping("tickets.priority", {"normal": "normal", "very high": "urgent"}),
        _mapping("tickets.tier", {"extended-support": "extended"}, field="tags", default="standard"),
        _mapping("tickets.channel", {"x": "y"}, source="kimai"),  # another adapter's: ignored here
    ])
    b = Builder(ctx, "zammad", "tickets", {"priority": ColumnSpec(field="priority"),
                                           "channel": ColumnSpec(field="channel")}, {}, {})
    assert b.text(_record(group="Support::Webdesign"), "category") == "webdesign"
    assert b.text(_record(group="HOSTING"), "category") == "service_fault"
    assert b.text(_record(priority="5 very high"), "priority") == "urgent"
    assert b.text(_record(tags=["vip", "extended-support"]), "tier") == "extended"  # first mapped tag
    assert b.text(_record(tags=["vip"]), "tier") == "standard"  # default
    assert b.text(_record(tags=[]), "tier") == "standard"
    assert b.text(_record(channel="x"), "channel") == "x"
    assert b.text(_record(group="Sonstiges"), "category") == "Sonstiges"  # kept ...
    assert ctx.out.unmapped == {("tickets", "category"): {"Sonstiges": 1}}  # ... and reported


def test_lookup_by_name_folded_name_alternatives_and_path() -> None:
    fields = {"Ticket#": "1", "author": {"displayName": "Mia"}, "Dauer": "0:30"}
    assert lookup(fields, "ticket#") == "1"
    assert lookup(fields, "Duration|Dauer") == "0:30"
    assert lookup(fields, "author.displayName") == "Mia"
    assert lookup(fields, "nothing|author.accountId") is None


@pytest.mark.parametrize(("text", "iso"), [
    ("2021-01-17T12:34:00.000+0000", "2021-01-17T12:34:00+00:00"),  # Jira
    ("2026-06-01T06:00:00.123Z", "2026-06-01T06:00:00.123000+00:00"),  # Zammad
    ("2026-06-02 10:00:00", "2026-06-02T10:00:00"),  # Znuny: naive
    ("02.06.2026 10:00", "2026-06-02T10:00:00"),
])
def test_timestamps(text: str, iso: str) -> None:
    assert parse_time(text, None, "started_at").isoformat() == iso


def test_a_timestamp_of_another_form_names_the_format_to_set() -> None:
    with pytest.raises(MapError, match="set the column's format"):
        parse_time("06/02/2026 10:00", None, "started_at")
    assert parse_time("06/02/2026 10:00", "%m/%d/%Y %H:%M", "x") == dt.datetime(2026, 6, 2, 10, 0)


def test_clock_times_on_a_date() -> None:
    day = dt.date(2026, 6, 2)
    assert combine(day, "9:05", "started_at") == dt.datetime(2026, 6, 2, 9, 5)
    assert combine(day, dt.datetime(1899, 12, 31, 23, 30), "x") == dt.datetime(2026, 6, 2, 23, 30)  # XLSX time
    with pytest.raises(MapError, match="is not a clock time"):
        combine(day, "25:00", "ended_at")


def test_csv_records_keep_lines_and_repeated_names(tmp_path: Path) -> None:
    path = tmp_path / "k.csv"
    path.write_bytes('sep=;\r\nDatum;Beschreibung;Ort;Ort\r\n2026-06-02;"zwei\r\nZeilen";A;B\r\n\r\n2026-06-03;x;C\r\n'
                     .encode("cp1252"))
    records = list(read_csv(path))
    assert [(r.line, r.fields.get("Ort"), r.fields.get("Ort#2")) for r in records] == [(3, "A", "B"), (6, "C", None)]
    assert records[0].raw == '2026-06-02;"zwei\r\nZeilen";A;B'
    assert records[1].fields["__problem__"].startswith("the record has 3 fields but the header has 4")
