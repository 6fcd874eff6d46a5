"""The sample-data generator: determinism, chunking, file dialects, probes, edge cases, errors.

Whether the ground truth is *right* is tested in test_sample_oracle.py against an independent
audit; this file tests what the files look like and that the generator behaves.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.contract import TABLES
from audit.errors import EXIT_USAGE, UsageError
from audit.policy.model import FINDING_KINDS
from audit.sample import generate, vocab
from audit.sample.writers import ParquetTable

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
FILES = ("customers.csv", "services.csv", "tickets.csv", "time_entries.csv", "invoice_lines.csv",
         "agents.csv", "ground_truth.json")
DIALECTS = {  # file -> (encoding, delimiter, line terminator)
    "customers": ("utf-8", ",", "\n"),
    "services": ("utf-8", ",", "\n"),
    "tickets": ("utf-8-sig", ",", "\r\n"),
    "time_entries": ("utf-8", ",", "\n"),
    "invoice_lines": ("utf-8", ";", "\r\n"),
    "agents": ("utf-8", ",", "\n"),
}


def truth(directory: Path = SAMPLE) -> dict:
    return json.loads((directory / "ground_truth.json").read_text(encoding="utf-8"))


def rows(table: str, directory: Path = SAMPLE) -> list[dict]:
    """Records that parse with the stated dialect (dirty ones that do not are skipped)."""
    encoding, delimiter, _ = DIALECTS[table]
    with open(directory / f"{table}.csv", encoding=encoding, newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        header = next(reader)
        return [dict(zip(header, r, strict=True)) for r in reader if len(r) == len(header)]


def file_bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


# --- determinism and chunking ------------------------------------------------------------------


def test_committed_sample_is_what_the_default_arguments_generate(tmp_path):
    generate(tmp_path)
    assert file_bytes(tmp_path) == {n: (SAMPLE / n).read_bytes() for n in FILES}


def test_same_arguments_give_identical_bytes_and_other_seeds_differ(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, seed=3, tickets=230)
    generate(b, seed=3, tickets=230)
    generate(c, seed=4, tickets=230)
    assert file_bytes(a) == file_bytes(b)
    assert file_bytes(a)["tickets.csv"] != file_bytes(c)["tickets.csv"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_chunked_output_equals_unchunked(tmp_path, monkeypatch, fmt):
    monkeypatch.setattr(ParquetTable, "ROW_GROUP", 500)  # several row groups in the small run
    whole, chunked = tmp_path / "whole", tmp_path / "chunked"
    messages: list[str] = []
    generate(whole, tickets=1030, fmt=fmt, chunk_tickets=100_000)
    generate(chunked, tickets=1030, fmt=fmt, chunk_tickets=1, progress=messages.append)
    assert file_bytes(whole) == file_bytes(chunked)
    assert messages == [f"{n}/1030 tickets" for n in (200, 400, 600, 800, 1000, 1030)]


def test_stats_report_what_was_written(tmp_path):
    stats = generate(tmp_path, tickets=300)
    gt = truth(tmp_path)
    assert stats["files"] == list(FILES)
    assert stats["rows"] == {t: r["in"] for t, r in gt["rows"].items()}
    assert stats["rows"]["tickets"] == 300 + stats["quarantined"]["tickets"]
    for table, n in stats["rows"].items():  # every record counts, also those that are bad
        encoding, delimiter, _ = DIALECTS[table]
        with open(tmp_path / f"{table}.csv", encoding=encoding, newline="") as f:
            assert sum(1 for _ in csv.reader(f, delimiter=delimiter)) == n + 1, table
    assert stats["planted"] == gt["planted"]
    assert sum(stats["findings"].values()) == len(gt["findings"])
    assert isinstance(stats["seconds"], float)


# --- the committed sample's ground truth -------------------------------------------------------


def test_every_finding_kind_is_planted_at_least_twice():
    kinds = Counter(f["kind"] for f in truth()["findings"] if f["status"] == "open")
    for kind in (*FINDING_KINDS, "suspected_misclassification"):
        assert kinds[kind] >= 2, kind
    assert len(truth()["findings"]) == sum(
        v["open"] + v["waived"] for v in truth()["counts"].values()
    )


def test_waived_and_signal_cases_are_in_the_sample():
    findings = truth()["findings"]
    waived = [f for f in findings if f["status"] == "waived"]
    assert waived and all(f["customer_id"] == "K-10007" and f["kind"] == "extended_unbilled" for f in waived)
    by_ticket: dict[str, set[str]] = {}
    for f in findings:
        by_ticket.setdefault(f["ticket_id"], set()).add(f["kind"])
    signal_only = [t for t, k in by_ticket.items() if k == {"suspected_misclassification"}]
    with_mismatch = [t for t, k in by_ticket.items() if {"suspected_misclassification", "tier_mismatch"} <= k]
    assert len(signal_only) >= 2 and len(with_mismatch) >= 2
    both_ways = Counter(frozenset(k) for k in by_ticket.values())
    assert both_ways[frozenset({"tier_mismatch", "standard_billed"})] >= 2
    assert both_ways[frozenset({"tier_mismatch", "extended_unbilled"})] >= 2


def test_credited_tickets_net_to_zero_and_raise_nothing():
    lines = rows("invoice_lines")
    credited = {ln["ticket_id"] for ln in lines if ln["invoice_id"].startswith("GS-")}
    assert len(credited) >= 2
    flagged = {f["ticket_id"] for f in truth()["findings"]}
    quarantined = {q["key"] for q in truth()["quarantine"]}
    for ticket in credited:
        mine = [ln for ln in lines if ln["ticket_id"] == ticket and ln["line_id"] not in quarantined]
        assert sum(Decimal(ln["amount"].replace(",", ".")) for ln in mine) == 0
        assert len({ln["invoice_id"] for ln in mine}) == 2
        assert ticket not in flagged


def test_every_id_in_the_ground_truth_exists_in_the_files():
    gt = truth()
    tickets = {r["ticket_id"]: r for r in rows("tickets")}
    lines = {r["line_id"] for r in rows("invoice_lines")}
    customers = {r["customer_id"] for r in rows("customers")}
    for f in gt["findings"]:
        assert tickets[f["ticket_id"]]["customer_id"] == f["customer_id"]
        assert f["customer_id"] in customers
        assert f["line_id"] is None or f["line_id"] in lines
    assert "K-10007" in customers
    for q in gt["quarantine"]:
        encoding, _, eol = DIALECTS[q["table"]]
        text = (SAMPLE / f"{q['table']}.csv").read_text(encoding=encoding).replace(eol, "\n")
        assert text.split("\n")[q["line"] - 1].startswith(q["key"]), q


def test_dirty_rows_are_about_one_percent_and_cover_every_kind():
    gt = truth()
    kinds = Counter(q["planted"] for q in gt["quarantine"])
    assert set(kinds) == {
        "wrong_column_count", "broken_quoting", "unparseable_date", "unknown_priority",
        "tier_not_in_policy", "duplicate_entry_id", "ended_before_started", "unknown_ticket",
        "amount_three_decimals", "agent_login_not_an_id",
    }
    total = sum(r["in"] for r in gt["rows"].values())
    assert 0.005 < len(gt["quarantine"]) / total < 0.02


def test_dirty_rows_change_no_finding(tmp_path):
    """Without dirty rows the same tickets and errors are made (ids shift by the dirty rows)."""
    generate(tmp_path / "clean", tickets=450, dirty=False)
    generate(tmp_path / "dirty", tickets=450, dirty=True)
    clean, dirty = truth(tmp_path / "clean"), truth(tmp_path / "dirty")
    assert clean["quarantine"] == [] and all(r["quarantined"] == 0 for r in clean["rows"].values())
    assert len(dirty["quarantine"]) > 0

    def shape(gt):
        return Counter((f["kind"], f["month"], f["status"], f["delta_eur"]) for f in gt["findings"])

    assert shape(clean) == shape(dirty)
    assert clean["money"] == dirty["money"]


# --- what the files look like ------------------------------------------------------------------


def test_csv_files_have_the_stated_dialects_and_contract_columns():
    for table, (encoding, delimiter, eol) in DIALECTS.items():
        raw = (SAMPLE / f"{table}.csv").read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig"), table
        first = raw.decode(encoding).split("\n", 1)[0] + "\n"
        assert first.endswith(eol), table
        header = next(csv.reader([first.rstrip("\r\n")], delimiter=delimiter))
        expected = [c for c in TABLES[table].column_names if c != "duration_seconds"]
        assert header == expected, table


def test_ticket_timestamps_are_naive_local_and_entries_carry_offsets():
    naive = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
    for r in rows("tickets"):
        if r["opened_at"][8:10] != "32":  # the planted unparseable date
            assert naive.match(r["opened_at"]) and (not r["resolved_at"] or naive.match(r["resolved_at"]))
    offsets = Counter()
    for r in rows("time_entries"):
        start = dt.datetime.fromisoformat(r["started_at"])
        offsets[r["started_at"][-6:]] += 1
        assert start.utcoffset() is not None
        assert (r["ended_at"] == "") != (r["minutes"] == "")  # one way to give the duration
    assert set(offsets) == {"+02:00"}  # May–July: summer time only


def test_invoice_lines_are_german_accounting_style():
    lines = rows("invoice_lines")
    assert all(re.match(r"^\d{2}\.\d{2}\.\d{4}$", ln["service_date"]) for ln in lines)
    prices = Counter(ln["unit_price"] for ln in lines)
    assert set(prices) == {"17,50", "19,00"}
    assert any(ln["amount"].startswith("-") for ln in lines)  # credit notes
    assert all(re.match(r"^R-2026-0[5-7]-\d{4}$|^GS-2026-0[5-7]-\d{4}$", ln["invoice_id"]) for ln in lines)


def test_names_subjects_and_probes_look_like_real_exports():
    customers = {r["customer_id"]: r["name"] for r in rows("customers")}
    assert any(ch in "".join(customers.values()) for ch in "äöüßÄÖÜ")
    assert customers["K-10013"] == vocab.XSS_SCRIPT and customers["K-10021"] == vocab.XSS_IMG
    assert any(re.search(r"GmbH|e\.K\.|UG", n) for n in customers.values())
    subjects = {r["subject"]: r for r in rows("tickets")}
    for special in (vocab.MULTILINE_SUBJECT, vocab.SEMICOLON_QUOTE_SUBJECT, vocab.FORMULA_SUBJECT,
                    vocab.XSS_SCRIPT, vocab.XSS_IMG):
        assert subjects[special]["tier"] == "standard", special
    flagged = {f["ticket_id"] for f in truth()["findings"]}
    assert not {subjects[s]["ticket_id"] for s in (vocab.FORMULA_SUBJECT, vocab.XSS_SCRIPT)} & flagged
    products = {r["product"]: r["managed"] for r in rows("services")}
    assert products == {p: "true" if m else "false" for p, m in vocab.PRODUCTS.items()}


def test_durations_cover_the_rounding_edges():
    seconds = Counter()
    crossing_month_end = 0
    for r in rows("time_entries"):
        start = dt.datetime.fromisoformat(r["started_at"])
        if r["ended_at"]:
            end = dt.datetime.fromisoformat(r["ended_at"])
            seconds[int((end - start).total_seconds())] += 1
            nxt = start + dt.timedelta(days=1)
            if end.date() > start.date() and nxt.month != start.month:
                crossing_month_end += 1
        else:
            seconds[int(Decimal(r["minutes"]) * 60)] += 1
    assert seconds[900] >= 5 and seconds[901] >= 5
    assert sum(n for s, n in seconds.items() if s % 900 == 0 and s > 900) >= 20
    assert crossing_month_end >= 2
    short = sum(n for s, n in seconds.items() if 300 <= s <= 1200)
    assert short / sum(seconds.values()) > 0.35  # many 5–20 minute entries
    assert max(seconds) > 3 * 3600  # a long tail


def test_entries_on_dst_change_days_cross_the_clock_change(tmp_path):
    generate(tmp_path, start="2026-10", months=1, tickets=400)
    crossing = []
    for r in rows("time_entries", tmp_path):
        if r["ended_at"] and r["started_at"][-6:] != r["ended_at"][-6:]:
            start, end = (dt.datetime.fromisoformat(r[k]) for k in ("started_at", "ended_at"))
            crossing.append((start, end))
    assert len(crossing) >= 2
    # wall clock and real duration differ by the hour the clocks went back
    start, end = crossing[0]
    assert start.date() == dt.date(2026, 10, 25)
    wall = end.replace(tzinfo=None) - start.replace(tzinfo=None)
    assert (end - start) - wall == dt.timedelta(hours=1)


# --- Parquet -----------------------------------------------------------------------------------


def test_parquet_holds_the_same_data_with_types(tmp_path):
    generate(tmp_path / "csv", tickets=260)
    generate(tmp_path / "pq", tickets=260, fmt="parquet")
    entries = pq.read_table(tmp_path / "pq" / "time_entries.parquet")
    lines = pq.read_table(tmp_path / "pq" / "invoice_lines.parquet")
    tickets = pq.read_table(tmp_path / "pq" / "tickets.parquet")
    assert entries.schema.field("started_at").type == pa.timestamp("us", tz="Europe/Berlin")
    assert entries.schema.field("minutes").type == pa.decimal128(18, 4)
    assert tickets.schema.field("opened_at").type == pa.timestamp("us")
    assert lines.schema.field("amount").type == pa.decimal128(18, 2)
    assert lines.schema.field("service_date").type == pa.date32()
    assert pq.read_table(tmp_path / "pq" / "services.parquet").schema.field("managed").type == pa.bool_()

    csv_gt, pq_gt = truth(tmp_path / "csv"), truth(tmp_path / "pq")
    assert csv_gt["findings"] == pq_gt["findings"]
    csv_only = {"wrong_column_count", "broken_quoting", "unparseable_date", "amount_three_decimals"}
    assert [q["planted"] for q in pq_gt["quarantine"]] == [
        q["planted"] for q in csv_gt["quarantine"] if q["planted"] not in csv_only
    ]
    by_id = {r["entry_id"]: r for r in rows("time_entries", tmp_path / "csv")}
    for e in entries.to_pylist()[:200]:
        assert e["started_at"] == dt.datetime.fromisoformat(by_id[e["entry_id"]]["started_at"])
    by_line = {r["line_id"]: r for r in rows("invoice_lines", tmp_path / "csv")}
    for ln in lines.to_pylist():
        assert f"{ln['amount']:.2f}".replace(".", ",") == by_line[ln["line_id"]]["amount"]
    naive = {r["ticket_id"]: r["opened_at"] for r in rows("tickets", tmp_path / "csv")}
    for t in tickets.to_pylist()[:200]:
        assert t["opened_at"].isoformat(" ") == naive[t["ticket_id"]]


# --- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"start": "2026-13"}, "--start 2026-13: not a month (write YYYY-MM, e.g. 2026-05)"),
        ({"start": "2019-12"}, "--start 2019-12: the default price list starts on 2020-01-01 (use --start 2020-01 or later)"),
        ({"months": 0}, "--months 0: must be between 1 and 120"),
        ({"tickets": 0}, "--tickets 0: must be at least 1"),
        ({"fmt": "xlsx"}, "--format xlsx: unknown format (use csv or parquet)"),
        ({"seed": -1}, "--seed -1: must be a whole number ≥ 0"),
    ],
)
def test_impossible_arguments_are_usage_errors(tmp_path, kwargs, message):
    with pytest.raises(UsageError) as err:
        generate(tmp_path / "out", **kwargs)
    assert str(err.value) == message
    assert err.value.exit_code == EXIT_USAGE
    assert not (tmp_path / "out").exists()


def test_out_must_not_be_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        generate(target)


def test_a_failed_run_leaves_no_half_written_tables(tmp_path, monkeypatch):
    import audit.sample.generator as generator

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(generator, "write_atomic", boom)
    with pytest.raises(RuntimeError):
        generate(tmp_path, tickets=50)
    assert list(tmp_path.iterdir()) == []
