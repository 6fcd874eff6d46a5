"""Unusable input: one DataError (exit code 3) that names the file, the place and what to do."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from audit.db import connect
from audit.errors import EXIT_DATA, DataError, PolicyError
from audit.ingest import load_data


def load_error(data_dir: Path, **kwargs) -> DataError:
    con = connect()
    with pytest.raises(DataError) as err:
        load_data(con, data_dir, timezone="Europe/Berlin", tier_ids=["standard", "extended"], gx="off", **kwargs)
    assert err.value.exit_code == EXIT_DATA == 3
    # nothing half-loaded stays behind
    assert con.execute("SELECT count(*) FROM information_schema.tables").fetchall() == [(0,)]
    return err.value


def test_missing_file(data):
    (data / "tickets.csv").rename(data / "ticket.csv")
    err = load_error(data)
    assert str(err) == (
        f"{data / 'tickets.csv'}: file not found (export the tickets table as tickets.csv, "
        "tickets.parquet or tickets.json; did you mean 'ticket.csv'?)"
    )


def test_missing_columns_name_the_file_the_columns_and_what_it_has(data):
    (data / "tickets.csv").write_text(
        "Ticket_ID;customer_id;opend_at;priority;category\nT-1;C-1;2026-03-05 10:00;normal;webdesign\n",
        encoding="utf-8")
    err = load_error(data)
    assert str(err) == (
        f"{data / 'tickets.csv'}:1: missing required columns 'service_id', 'opened_at', 'tier' "
        "(the file has: Ticket_ID, customer_id, opend_at, priority, category; for 'opened_at' did you "
        "mean 'opend_at'?; add or rename the columns in the export)"
    )
    [diagnostic] = err.diagnostics
    assert (diagnostic.location.file, diagnostic.location.line) == (str(data / "tickets.csv"), 1)


def test_every_unusable_file_is_reported_at_once(data):
    (data / "customers.csv").write_text("customer_id,contract\nC-1,basic\n", encoding="utf-8")
    (data / "services.csv").write_text("service_id,customer_id,product,managed,Product\n", encoding="utf-8")
    (data / "invoice_lines.csv").unlink()
    err = load_error(data)
    assert [str(d) for d in err.diagnostics] == [
        f"{data / 'customers.csv'}:1: missing required column 'name' (the file has: customer_id, "
        "contract; add or rename the columns in the export)",
        f"{data / 'invoice_lines.csv'}: file not found (export the invoice_lines table as "
        "invoice_lines.csv, invoice_lines.parquet or invoice_lines.json)",
        f"{data / 'services.csv'}:1: column 'product' appears twice (columns 3 and 5) (keep one of them)",
    ]
    assert str(err) == "\n".join(str(d) for d in err.diagnostics)


def test_missing_data_directory(data):
    err = load_error(data / "nowhere")
    assert str(err) == f"{data / 'nowhere'}: data directory not found (pass the directory that holds the exports)"


def test_two_exports_for_one_table(data):
    pq.write_table(pa.table({"ticket_id": ["T-1"]}), data / "tickets.parquet")
    err = load_error(data)
    assert str(err) == (
        f"{data / 'tickets.csv'}: tickets has more than one export: tickets.csv, tickets.parquet "
        "(keep exactly one file per table)"
    )


def test_empty_file(data):
    (data / "services.csv").write_bytes(b"")
    assert str(load_error(data)) == (
        f"{data / 'services.csv'}:1: the file is empty (export the table with a header line naming its columns)")


def test_bytes_that_are_neither_utf8_nor_windows_1252(data):
    (data / "customers.csv").write_bytes(b"customer_id;name;contract\nC-1;Alpha;basic\nC-2;Bad \x81 byte;basic\n")
    assert str(load_error(data)) == (
        f"{data / 'customers.csv'}:3: byte 0x81 (file offset 50) is neither UTF-8 nor Windows-1252 text "
        "(save the export as UTF-8)"
    )


def test_malformed_json_array_points_at_line_and_column(data):
    (data / "customers.csv").unlink()
    (data / "customers.json").write_text(
        '[\n  {"customer_id": "C-1", "name": "A", "contract": "basic"},\n  {"customer_id": "C-2",, }\n]\n',
        encoding="utf-8")
    err = load_error(data)
    assert str(err).startswith(f"{data / 'customers.json'}:3:25: the JSON array is malformed: Expecting")


def test_unreadable_parquet(data):
    (data / "services.csv").unlink()
    (data / "services.parquet").write_bytes(b"PAR1 this is not parquet")
    assert str(load_error(data)).startswith(f"{data / 'services.parquet'}: cannot read the Parquet file:")


def test_unknown_time_zone_is_a_policy_error(data):
    with pytest.raises(PolicyError) as err:
        load_data(connect(), data, timezone="Europe/Berlinn", tier_ids=["standard"], gx="off")
    assert err.value.exit_code == 2
    assert "unknown time zone 'Europe/Berlinn'" in str(err.value)


def test_a_data_error_found_while_loading_leaves_no_table_behind(data):
    # a JSON file's columns are only known once it has been read: customers are loaded by then
    (data / "tickets.csv").unlink()
    (data / "tickets.jsonl").write_text('{"ticket_id": "T-1", "customer_id": "C-1"}\n', encoding="utf-8")
    err = load_error(data)
    assert "tickets.jsonl:1: missing required columns 'service_id', 'opened_at'" in str(err)


def test_utf8_bom_with_invalid_bytes_is_a_data_error_not_a_crash(data):
    (data / "customers.csv").write_bytes(b"\xef\xbb\xbfcustomer_id;name;contract\nC-1;M\xfcller;basic\n")
    assert str(load_error(data)) == (
        f"{data / 'customers.csv'}:2: byte 0xFC (file offset 34) is not UTF-8 although the file starts "
        "with a UTF-8 BOM (save the export as UTF-8)"
    )
