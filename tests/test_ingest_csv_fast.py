"""The CSV fast path (Arrow as line splitter, csv module for special records) reads every file
exactly as the csv module alone does: same text, same lines, same problems, same raw records."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

import audit.ingest.csvread as csvread
from audit.contract import contract_for
from audit.ingest.files import InputFile, fingerprint
from audit.ingest.parse import derived_columns
from audit.ingest.readers import open_reader

TABLE = contract_for(["standard", "extended"])["tickets"]
HEADER = "ticket_id;customer_id;service_id;opened_at;priority;category;subject;tier"


def read(path: Path, fast: bool, chunk_rows: int, monkeypatch) -> tuple:
    sha, encoding = fingerprint(path, text=True)
    reader, _ = open_reader(InputFile("tickets", path, "csv", sha, encoding), TABLE,
                            derived_columns(TABLE), chunk_rows)
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(csvread, "_file_shape", lambda file: None)
        chunks = list(reader.chunks())
    data = pa.concat_tables([c.data for c in chunks]).combine_chunks()
    problems = sorted((p.line, p.expectation, p.reason, p.raw) for c in chunks for p in c.problems)
    raw = reader.raw_records(list(range(1, 40)))
    return data.to_pylist(), problems, reader.rows_in, reader.blank_lines, reader.warnings, raw


ROWS = [
    "T-1;C-1;;2026-03-05 10:00;normal;webdesign;plain;extended",
    'T-2;C-1;;2026-03-05 10:00;normal;webdesign;"quoted; with separator";extended',
    'T-3;C-1;;2026-03-05 10:00;normal;webdesign;"spans\r\ntwo lines";extended',
    'T-4;C-1;;2026-03-05 10:00;normal;webdesign;"spans\nwith LF";extended',
    'T-5;C-1;;2026-03-05 10:00;normal;webdesign;"broken "quote" here";extended',
    "T-6;C-1;;2026-03-05 10:00;normal;webdesign;one;field;too many;extended",
    "",
    "   ",
    'T-7;C-1;;2026-03-05 10:00;normal;webdesign;a "literal" quote;extended',
    'T-8;C-1;;2026-03-05 10:00;normal;webdesign;"never closed;extended',
    "T-9;C-1;;2026-03-05 10:00;normal;webdesign;after;extended",
    "T-10;too;few",
]


@pytest.mark.parametrize("ending", ["\n", "\r\n", "mixed", "no final newline"])
@pytest.mark.parametrize("chunk_rows", [1, 3, 1000])
def test_fast_path_equals_csv_module(tmp_path, monkeypatch, ending, chunk_rows):
    sep = "\r\n" if ending in ("\r\n", "mixed") else "\n"
    rows = ROWS if ending in ("\r\n", "mixed") else [r.replace("\r\n", "\n") for r in ROWS]
    if ending in ("\n", "no final newline"):
        rows = [r for r in rows if "\r" not in r]
    if ending == "\r\n":
        rows = [r.replace('"spans\nwith LF"', '"spans\r\nwith CRLF"') for r in rows]
    text = HEADER + sep + sep.join(rows) + ("" if ending == "no final newline" else sep)
    path = tmp_path / "tickets.csv"
    path.write_bytes(text.encode("utf-8"))
    assert csvread._file_shape(InputFile("tickets", path, "csv", "", "utf-8")) is not None
    fast = read(path, True, chunk_rows, monkeypatch)
    assert fast == read(path, False, chunk_rows, monkeypatch)
    assert fast[1] and fast[3] == 2  # the problems and blank lines are really there


def test_files_the_fast_path_cannot_read_exactly_take_the_csv_module(tmp_path):
    path = tmp_path / "tickets.csv"
    for text in (HEADER + "\nT-1;a\rb\n", HEADER + "\nT-1;a\x00\n", HEADER + "\nT-1;\x1f\n"):
        path.write_bytes(text.encode("utf-8"))
        assert csvread._file_shape(InputFile("tickets", path, "csv", "", "utf-8")) is None


@pytest.mark.parametrize("block", [1, 5, 64, 1 << 24])
@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_raw_records_by_blocks_equal_the_text_reading(tmp_path, monkeypatch, block, ending):
    """The byte-block search for raw records returns what the line-by-line text reading does,
    whatever the block size: records spanning lines across a block border, the last line
    without a line end, non-ASCII text split by a border, a BOM."""
    rows = [r for r in ROWS if "\r" not in r] + ["T-11;C-1;;2026-03-05 10:00;normal;webdesign;Grüße €;extended"]
    text = "\ufeff" + HEADER + ending + ending.join(r.replace("\n", ending) for r in rows)
    path = tmp_path / "tickets.csv"
    path.write_bytes(text.encode("utf-8"))
    sha, encoding = fingerprint(path, text=True)
    reader, _ = open_reader(InputFile("tickets", path, "csv", sha, encoding), TABLE,
                            derived_columns(TABLE), 1000)
    list(reader.chunks())
    assert reader._lf_lines
    wanted = [1, 2, 4, 5, 7, 12, 13, 14, 15, 16, 17, 99]
    monkeypatch.setattr(csvread, "_RAW_BLOCK", block)
    fast = reader.raw_records(wanted)
    reader._lf_lines = False
    slow = reader.raw_records(wanted)
    assert fast == slow
    assert ending in fast[4]  # the record spanning two lines (4-5), with its line end
    assert fast[max(fast)].endswith("Grüße €;extended")

