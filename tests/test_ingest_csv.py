"""CSV structure: line numbers, broken quoting, column counts, delimiters, encodings, chunking.

Each test copies the small valid dataset (tests/fixtures/ingest/clean) and replaces one file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.db import connect
from audit.ingest import load_data

TICKETS_HEADER = "ticket_id;customer_id;service_id;opened_at;priority;category;subject;tier\n"


def load(data_dir: Path, **kwargs):
    con = connect()
    kwargs.setdefault("gx", "off")
    result = load_data(con, data_dir, timezone="Europe/Berlin", tier_ids=["standard", "extended"], **kwargs)
    return con, result


def q(result, table: str = "tickets") -> list[tuple]:
    return [(r["line"], r["expectation"], r["raw"]) for r in result.quarantine.to_pylist() if r["table"] == table]


def ticket(n: int, subject: str = "ok", priority: str = "normal") -> str:
    return f"T-{n};C-1;;2026-03-05 10:00;{priority};webdesign;{subject};extended\n"


def test_clean_dataset_loads_completely(data):
    con, result = load(data)
    assert {t: (c.rows_in, c.loaded, c.quarantined) for t, c in result.tables.items()} == {
        "customers": (2, 2, 0), "services": (1, 1, 0), "tickets": (2, 2, 0),
        "time_entries": (2, 2, 0), "invoice_lines": (1, 1, 0)}
    assert result.quarantine.num_rows == 0
    # optional columns absent from the file are NULL
    assert con.execute("SELECT count(*) FROM tickets WHERE resolved_at IS NULL AND subject IS NULL").fetchall() == [(2,)]


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 1000])
def test_broken_quotes_resynchronise_across_chunks(data, chunk_rows):
    (data / "tickets.csv").write_text(
        TICKETS_HEADER
        + ticket(1)
        + ticket(2, '"unterminated')           # line 3: the quote swallows line 4 ...
        + ticket(3, '"quoted"')                 # ... until this quote, then fails
        + ticket(4, '"two\nlines"')             # lines 5-6: a real multi-line value
        + ticket(5, 'bad"quote"inside')         # line 7: quote inside an unquoted field is text
        + ticket(6, '"closed"then text')        # line 8: text after a closing quote
        + ticket(7)                             # line 9
        + ticket(8, '"never closed')            # line 10: open until the end of the file
        + ticket(9),                            # line 11: swallowed, then re-read
        encoding="utf-8",
    )
    con, result = load(data, chunk_rows=chunk_rows)
    assert con.execute("SELECT ticket_id, _line FROM tickets ORDER BY _line").fetchall() == [
        ("T-1", 2), ("T-3", 4), ("T-4", 5), ("T-5", 7), ("T-7", 9), ("T-9", 11)]
    assert con.execute("SELECT subject FROM tickets WHERE ticket_id IN ('T-4', 'T-5') ORDER BY _line").fetchall() == [
        ("two\nlines",), ('bad"quote"inside',)]
    assert q(result) == [
        (3, "broken_quoting", 'T-2;C-1;;2026-03-05 10:00;normal;webdesign;"unterminated;extended'),
        (8, "broken_quoting", 'T-6;C-1;;2026-03-05 10:00;normal;webdesign;"closed"then text;extended'),
        (10, "broken_quoting", 'T-8;C-1;;2026-03-05 10:00;normal;webdesign;"never closed;extended'),
    ]
    counts = result.tables["tickets"]
    assert (counts.rows_in, counts.loaded, counts.quarantined) == (9, 6, 3)


def test_wrong_column_counts(data):
    (data / "tickets.csv").write_text(
        TICKETS_HEADER
        + "T-1;C-1;;2026-03-05 10:00;normal;webdesign;ok;extended;surplus\n"
        + "T-2;C-1;;2026-03-05 10:00;normal;webdesign;extended\n"
        + "T-3;C-1;;2026-03-05 10:00;normal;webdesign;\"multi\nline\";extended;surplus\n"
        + ticket(4),
        encoding="utf-8",
    )
    con, result = load(data)
    assert q(result) == [
        (2, "wrong_column_count", "T-1;C-1;;2026-03-05 10:00;normal;webdesign;ok;extended;surplus"),
        (3, "wrong_column_count", "T-2;C-1;;2026-03-05 10:00;normal;webdesign;extended"),
        (4, "wrong_column_count", 'T-3;C-1;;2026-03-05 10:00;normal;webdesign;"multi\nline";extended;surplus'),
    ]
    reasons = [r["reason"] for r in result.quarantine.to_pylist()]
    assert reasons[0] == ("the record has 9 fields but the header has 8: a ';' too many or too few, "
                          "or an unquoted ';' inside a value")
    assert con.execute("SELECT ticket_id, _line FROM tickets").fetchall() == [("T-4", 6)]


def test_raw_text_of_a_multiline_record_that_fails_later(data):
    (data / "tickets.csv").write_text(
        TICKETS_HEADER + ticket(1) + ticket(2, '"first\nsecond\nthird"', priority="hihg") + ticket(3),
        encoding="utf-8",
    )
    con, result = load(data, chunk_rows=1)
    [row] = [r for r in result.quarantine.to_pylist() if r["table"] == "tickets"]
    assert (row["line"], row["expectation"], row["value"]) == (3, "expect_column_values_to_be_in_set", "hihg")
    assert row["raw"] == 'T-2;C-1;;2026-03-05 10:00;hihg;webdesign;"first\nsecond\nthird";extended'
    assert con.execute("SELECT _line FROM tickets WHERE ticket_id = 'T-3'").fetchall() == [(6,)]


def test_blank_lines_are_skipped_and_keep_physical_line_numbers(data):
    (data / "tickets.csv").write_text(TICKETS_HEADER + "\n" + ticket(1) + "   \n\n" + ticket(2) + "\n",
                                      encoding="utf-8")
    con, result = load(data)
    assert con.execute("SELECT ticket_id, _line FROM tickets").fetchall() == [("T-1", 3), ("T-2", 6)]
    assert result.tables["tickets"].rows_in == 2
    assert "tickets.csv: 4 blank line(s) skipped" in result.warnings


def test_excel_sep_line_and_tab_delimiter(data):
    (data / "tickets.csv").write_text(
        "sep=\t\n" + TICKETS_HEADER.replace(";", "\t") + ticket(1).replace(";", "\t"), encoding="utf-8")
    con, result = load(data)
    assert con.execute("SELECT ticket_id, _line FROM tickets").fetchall() == [("T-1", 3)]
    assert result.tables["tickets"].dialect == "UTF-8, tab-separated"


def test_delimiter_is_detected_from_the_header_even_with_commas_in_values(data):
    (data / "tickets.csv").write_text(TICKETS_HEADER + ticket(1, "Hallo, Welt, wie geht's"), encoding="utf-8")
    con, _ = load(data)
    assert con.execute("SELECT subject FROM tickets").fetchall() == [("Hallo, Welt, wie geht's",)]


def test_utf16_export_from_excel(data):
    text = TICKETS_HEADER.replace(";", "\t") + ticket(1, "Größe").replace(";", "\t")
    (data / "tickets.csv").write_bytes(text.encode("utf-16"))  # with BOM, as Excel writes it
    con, result = load(data)
    assert con.execute("SELECT subject FROM tickets").fetchall() == [("Größe",)]
    assert result.tables["tickets"].dialect == "UTF-16, tab-separated"


def test_windows_1252_is_chosen_only_when_utf8_fails(data):
    (data / "customers.csv").write_bytes(
        "customer_id;name;contract\nC-1;Grüße € GmbH;basic\nC-2;Beta AG;basic\n".encode("cp1252"))
    con, result = load(data)
    assert con.execute("SELECT name FROM customers ORDER BY _line").fetchall() == [("Grüße € GmbH",), ("Beta AG",)]
    assert result.tables["customers"].dialect == "Windows-1252, ';'-separated"
    (data / "customers.csv").write_text("customer_id;name;contract\nC-1;Grüße € GmbH;basic\nC-2;Beta AG;basic\n",
                                        encoding="utf-8")
    con, result = load(data)
    assert con.execute("SELECT name FROM customers ORDER BY _line").fetchall() == [("Grüße € GmbH",), ("Beta AG",)]
    assert result.tables["customers"].dialect == "UTF-8, ';'-separated"


def test_computed_column_in_the_export_is_ignored_with_a_warning(data):
    (data / "time_entries.csv").write_text(
        "entry_id,ticket_id,agent,started_at,minutes,Duration_Seconds\nE-1,T-1,anna,2026-03-05 10:00,20,9999\n",
        encoding="utf-8")
    con, result = load(data)
    assert con.execute("SELECT duration_seconds FROM time_entries").fetchall() == [(1200,)]
    assert ("time_entries.csv: ignored column(s) 'Duration_Seconds': they are computed by the audit, not read"
            in result.warnings)


def test_other_files_in_the_data_directory_are_mentioned(data):
    (data / "tickets_old.csv").write_text("x\n", encoding="utf-8")
    (data / "README.txt").write_text("notes\n", encoding="utf-8")
    _, result = load(data)
    assert any(w.startswith("tickets_old.csv: ignored, it is not the export of a table") for w in result.warnings)
    assert not any("README" in w for w in result.warnings)


def test_loading_twice_replaces_the_tables(data):
    con = connect()
    for _ in range(2):
        load_data(con, data, timezone="Europe/Berlin", tier_ids=["standard", "extended"], gx="off")
    assert con.execute("SELECT count(*) FROM tickets").fetchall() == [(2,)]


def test_prefetch_hands_over_chunks_in_order_and_reraises_reader_errors():
    from audit.ingest.readers import prefetch

    assert list(prefetch(iter(range(7)), depth=2)) == list(range(7))

    def failing():
        yield 1
        raise ValueError("disk on fire")

    got = []
    with pytest.raises(ValueError, match="disk on fire"):
        for item in prefetch(failing()):
            got.append(item)
    assert got == [1]


def test_prefetch_closes_the_reader_when_the_caller_stops_early():
    from audit.ingest.readers import prefetch

    closed = []

    def endless():
        try:
            n = 0
            while True:
                n += 1
                yield n
        finally:
            closed.append(True)

    chunks = prefetch(endless(), depth=1)
    assert next(chunks) == 1
    chunks.close()
    assert closed == [True]
