"""A run with ``out`` streams its result tables to Parquet and renders the report from them
without their texts in memory (issue 13): the files are the same as the in-memory path writes,
whatever the row groups, spans and batches, and the report's texts are read for its rows."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import audit.engine.render as render
import audit.outputs as outputs
import reports.actions as actions_module
from audit.api import run_audit
from audit.engine.spans import Span, cut_spans, span_filter, span_params
from audit.outputs import ParquetSink, write_parquet, write_parquet_batches
from reports.actions import (
    action_list,
    action_parts,
    action_rows,
    actions_csv,
    spool_action_rows,
    write_actions_csv,
)
from reports.load import height, load_outputs, names
from reports.render import render_html

ROOT = Path(__file__).resolve().parent.parent
FILES = ("findings.parquet", "classifications.parquet", "reconciliation.parquet",
         "findings.csv", "findings.jsonl", "quarantine.csv", "summary.json")


def _table(n: int) -> pa.Table:
    return pa.table({"id": pa.array(range(n), pa.int32()),
                     "text": [f"row {i} " + "x" * (i % 7) for i in range(n)],
                     "eur": pa.array([i * 100 + 5 for i in range(n)], pa.decimal128(18, 2))})


def _bytes(schema: pa.Schema, batches) -> bytes:
    buf = io.BytesIO()
    write_parquet_batches(schema, batches, buf)
    return buf.getvalue()


def test_parquet_bytes_do_not_depend_on_how_the_rows_arrive(monkeypatch):
    monkeypatch.setattr(outputs, "ROW_GROUP_ROWS", 10)
    table = _table(47)
    whole = _bytes(table.schema, [table])
    assert _bytes(table.schema, table.to_batches(max_chunksize=3)) == whole
    assert _bytes(table.schema, [table.slice(0, 9), table.slice(9, 0), table.slice(9, 38)]) == whole
    file = pq.ParquetFile(io.BytesIO(whole))
    assert [file.metadata.row_group(i).num_rows for i in range(file.metadata.num_row_groups)] \
        == [10, 10, 10, 10, 7]
    # integers are written 64-bit, as write_parquet writes a polars frame of the same rows
    assert file.schema_arrow.field("id").type == pa.int64()
    buf = io.BytesIO()
    write_parquet(pl.from_arrow(table), buf)
    assert buf.getvalue() == whole


def test_an_empty_table_keeps_its_columns():
    table = _table(0)
    read = pq.read_table(io.BytesIO(_bytes(table.schema, [])))
    assert read.num_rows == 0 and read.column_names == ["id", "text", "eur"]


def test_a_failed_stream_leaves_no_file(tmp_path):
    table = _table(20)

    def batches():
        yield from table.to_batches(max_chunksize=5)[:2]
        raise RuntimeError("the query failed")

    with pytest.raises(RuntimeError, match="the query failed"):
        ParquetSink(tmp_path)("findings", table.schema, batches())
    assert list(tmp_path.iterdir()) == []


def test_csv_of_a_file_with_many_row_groups_keeps_the_file_order(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "ROW_GROUP_ROWS", 1000)
    n = 30_000
    source = tmp_path / "findings.parquet"
    with outputs.atomic_writer(source) as fh:
        write_parquet(_table(n), fh)
    assert pq.ParquetFile(source).metadata.num_row_groups == 30
    writer = outputs._DuckWriter("300MB")
    try:
        writer.csv(source, tmp_path / "findings.csv")
    finally:
        writer.close()
    ids = [int(line.split(",", 1)[0]) for line in
           (tmp_path / "findings.csv").read_text(encoding="utf-8").splitlines()[1:]]
    assert ids == list(range(n))


def test_csv_and_json_lines_of_a_dataset_keep_the_order_of_its_parts(tmp_path):
    """A table Spark wrote as a dataset (audit/spark/outputs.py): large parts of one row group
    each. DuckDB's scan of the parts as one source wrote the last 49 rows of a part after rows
    of the next (seen at 10 M entries); each part is now written in turn."""
    source, start = tmp_path / "findings.parquet", 0
    source.mkdir()
    for i, n in enumerate((276_529, 277_256, 5_000)):
        rows = _table(n).set_column(0, "id", pa.array(range(start, start + n), pa.int64()))
        pq.write_table(rows, source / f"part-{i:05d}.parquet", row_group_size=1 << 20)
        start += n
    writer = outputs._DuckWriter("300MB")
    try:
        writer.csv(source, tmp_path / "findings.csv")
        writer.jsonl(source, tmp_path / "findings.jsonl")
    finally:
        writer.close()
    lines = (tmp_path / "findings.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,text,eur"  # one header
    assert [int(line.split(",", 1)[0]) for line in lines[1:]] == list(range(start))
    with (tmp_path / "findings.jsonl").open(encoding="utf-8") as fh:
        assert [json.loads(line)["id"] for line in fh] == list(range(start))
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob("*.tmp"))


def _months(*sizes: tuple[str, int]) -> list[tuple[str, str | None, int]]:
    """Row counts of months with one customer each."""
    return [(month, "c1", n) for month, n in sizes]


@pytest.mark.parametrize(("counts", "limit", "spans"), [
    ([], 10, [(None, None, None, None)]),
    (_months(("2026-01", 3)), 10, [("2026-01", "2026-01", None, None)]),
    (_months(("2026-01", 3), ("2026-02", 4), ("2026-03", 5)), 10,
     [("2026-01", "2026-02", None, None), ("2026-03", "2026-03", None, None)]),
    (_months(("2026-01", 30), ("2026-02", 4), ("2026-03", 5)), 10,
     [("2026-01", "2026-01", None, None), ("2026-02", "2026-03", None, None)]),
    (_months(("2026-01", 3), ("2026-02", 7), ("2026-03", 5)), 10,
     [("2026-01", "2026-02", None, None), ("2026-03", "2026-03", None, None)]),
    # a month over the limit is cut into ranges of customers; one customer over it stays whole;
    # the rows without a customer (NULL sorts last) go with the last range
    ([("2026-01", "a", 4), ("2026-02", "a", 6), ("2026-02", "b", 3), ("2026-02", "c", 2),
      ("2026-02", "d", 12), ("2026-02", "e", 1), ("2026-02", None, 9), ("2026-03", "a", 2)], 10,
     [("2026-01", "2026-01", None, None), ("2026-02", "2026-02", None, "c"),
      ("2026-02", "2026-02", "c", "d"), ("2026-02", "2026-02", "d", "e"),
      ("2026-02", "2026-02", "e", None), ("2026-03", "2026-03", None, None)]),
])
def test_rows_are_exported_in_spans_of_bounded_rows(counts, limit, spans):
    assert cut_spans(counts, limit) == spans


@pytest.mark.parametrize("limit", [1, 3, 10, 100])
def test_the_spans_cover_every_row_once_in_order(limit):
    con = duckdb.connect()
    con.execute("""CREATE TABLE t AS SELECT range AS n, '2026-0' || (1 + range // 40) AS month,
                   CASE WHEN range % 7 = 0 THEN NULL ELSE 'c' || (range % 5) END AS customer_id
                   FROM range(100)""")
    counts = con.execute("SELECT month, customer_id, count(*) FROM t GROUP BY ALL"
                         " ORDER BY month, customer_id NULLS LAST").fetchall()
    sql = (f"SELECT n FROM t WHERE {span_filter('month', 'customer_id')}"
           " ORDER BY month, customer_id NULLS LAST, n")
    got = [n for span in cut_spans(counts, limit)
           for (n,) in con.execute(sql, span_params(span)).fetchall()]
    assert got == [n for (n,) in con.execute("SELECT n FROM t ORDER BY month, customer_id NULLS LAST, n").fetchall()]
    assert len(cut_spans(counts, limit)) > (1 if limit < 40 else 0)


def test_a_table_query_streams_its_spans_in_order_and_runs_once_over_all_months():
    con = duckdb.connect()
    sql = ("SELECT range AS n, '2026-0' || (1 + range // 40) AS month, 'c' AS customer_id FROM range(100)"
           f" WHERE {span_filter('month', 'customer_id')} ORDER BY n")
    spans = [("2026-01", "2026-01", None, None), ("2026-02", "2026-03", None, None)]
    table = render.TableQuery(con, sql, lambda: spans, None)
    schema, batches = table.batches()
    rows = pa.Table.from_batches(list(batches), schema=schema)
    assert rows.column("n").to_pylist() == list(range(100))
    months = rows.column("month").to_pylist()
    assert con.sql(sql, params=table.all_months()).fetchall() == [(n, m, "c") for n, m in zip(range(100), months, strict=True)]
    may = render.TableQuery(con, sql, lambda: [("2026-02", "2026-02", None, None)], "2026-02")
    assert [r[0] for r in con.sql(sql, params=may.all_months()).fetchall()] == list(range(40, 80))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The sample audited twice: with the defaults, and with tiny spans, batches and row groups
    (every table streamed in many pieces)."""
    base = tmp_path_factory.mktemp("streamed")
    spans: list[Span] = []  # those of the second run: months cut into customer ranges
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", "1780000000")
        default = run_audit(ROOT / "policies", ROOT / "sample_data", base / "default", gx="off",
                            fail_on="never", formats=("parquet", "csv", "json"))
        mp.setattr(outputs, "ROW_GROUP_ROWS", 50)
        mp.setattr(render, "BATCH_ROWS", 7)
        mp.setattr(render, "SPAN_ROWS", 40)
        cut = render.cut_spans
        mp.setattr(render, "cut_spans", lambda counts, limit: spans.extend(cut(counts, limit)) or cut(counts, limit))
        pieces = run_audit(ROOT / "policies", ROOT / "sample_data", base / "pieces", gx="off",
                           fail_on="never", formats=("parquet", "csv", "json"))
    assert any(lo is not None for _f, _l, lo, _h in spans) and len(spans) > 20
    return default, pieces


def test_streamed_tables_are_the_same_however_they_are_cut(runs):
    default, pieces = runs
    for name in FILES:
        a, b = default.out_dir / name, pieces.out_dir / name
        if name.endswith(".parquet"):
            assert pl.read_parquet(a).equals(pl.read_parquet(b)), name
            assert pq.ParquetFile(b).metadata.num_row_groups > 1, name
        else:
            assert a.read_bytes() == b.read_bytes(), name


def test_the_result_reads_its_streamed_tables_back(runs):
    default, _ = runs
    assert default.table_file("findings") == default.out_dir / "findings.parquet"
    findings = default.findings  # read back on first use
    assert findings.equals(pl.read_parquet(default.out_dir / "findings.parquet"))
    assert default.table_file("findings") is None  # now held
    assert {"message", "message_de"} <= set(findings.columns)
    assert findings.height == default.summary["findings"]["total"]


def test_the_in_memory_path_writes_the_same_bytes(runs, tmp_path):
    default, _ = runs
    held = run_audit(ROOT / "policies", ROOT / "sample_data", gx="off", fail_on="never")
    outputs.write_outputs(held, tmp_path, formats=("parquet", "csv"))
    for name in ("findings.parquet", "classifications.parquet", "reconciliation.parquet",
                 "findings.csv"):
        assert (tmp_path / name).read_bytes() == (default.out_dir / name).read_bytes(), name


def test_actions_csv_from_a_run_without_texts_is_byte_identical(runs, tmp_path):
    default, pieces = runs
    full = load_outputs(default.out_dir)
    expected = actions_csv(action_rows(full.reconciliation, full.findings, "de",
                                       full.classifications, timezone="Europe/Berlin"))
    for out in (default.out_dir, pieces.out_dir):  # one row group, and many
        lean = load_outputs(out, lean=True)  # scans of the files, without the texts
        assert isinstance(lean.findings, pl.LazyFrame)
        assert "explanation" not in names(lean.reconciliation)
        assert "message" not in names(lean.findings)
        spool = tmp_path / out.name / "spool"
        spool_action_rows(spool, lean.reconciliation, lean.findings, "de", lean.classifications,
                          timezone="Europe/Berlin", credit_cap=None, run=lean)
        write_actions_csv(spool, tmp_path / "actions.csv", lean)
        assert (tmp_path / "actions.csv").read_text(encoding="utf-8") == expected


def test_the_action_list_made_in_parts_of_customers_is_the_whole_list(runs, tmp_path, monkeypatch):
    default, _ = runs
    lean = load_outputs(default.out_dir, lean=True)
    args = (lean.reconciliation, lean.findings, "de", lean.classifications)
    whole = action_rows(*args, timezone="Europe/Berlin", run=lean)
    full = load_outputs(default.out_dir)
    expected = actions_csv(action_rows(full.reconciliation, full.findings, "de",
                                       full.classifications, timezone="Europe/Berlin"))
    monkeypatch.setattr(actions_module, "PART_ROWS", 7)  # ~20 parts, each a range of customers
    parts = list(action_parts(*args, timezone="Europe/Berlin", credit_cap=None, run=lean))
    assert len(parts) == -(-height(lean.reconciliation) // 7)
    # each part's customers come after the previous part's: the parts in order are the list
    ranges = [(p["customer_id"].min(), p["customer_id"].max()) for p in parts if p.height]
    assert len(ranges) > 5
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))
    assert pl.concat(parts).equals(whole)
    monkeypatch.setattr(actions_module, "PART_ROWS", 1)  # more parts asked than there are customers
    assert height(lean.reconciliation) > full.reconciliation["customer_id"].n_unique()
    assert action_rows(*args, timezone="Europe/Berlin", run=lean).equals(whole)
    monkeypatch.setattr(actions_module, "PART_ROWS", 7)
    # spooled to Parquet files, then written as actions.csv from them: the same bytes
    spooled = spool_action_rows(tmp_path / "spool", *args, timezone="Europe/Berlin",
                                credit_cap=None, run=lean)
    assert spooled.collect().equals(whole)
    positions = pl.scan_parquet(tmp_path / "spool" / actions_module.SPOOL_GLOB).select("_pos")
    assert positions.collect()["_pos"].to_list() == list(range(whole.height))
    for limit in (3, 40, 10_000):  # the page's list from the scan of the files: the same
        assert action_list(spooled, limit) == action_list(whole, limit)
    monkeypatch.setattr(actions_module, "ACTIONS_CHUNK", 11)  # DuckDB writes 11 rows at a time
    write_actions_csv(tmp_path / "spool", tmp_path / "actions.csv", lean)
    assert (tmp_path / "actions.csv").read_text(encoding="utf-8") == expected


def test_a_csv_written_in_pieces_is_one_file_or_none(tmp_path):
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT range AS _pos, '=1+' || range AS cell FROM range(25)")
    schema = pa.schema([("cell", pa.string())])
    target = tmp_path / "out" / "t.csv"

    def source(lo: int, hi: int) -> str:
        return f"(SELECT _pos, cell FROM t WHERE _pos >= {lo} AND _pos < {hi})"

    outputs.write_csv_query(con, schema, source, target, order="_pos", rows=25, chunk=10)
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines == ["cell", *(f"'=1+{i}" for i in range(25))]  # one header, order, neutralised

    def broken(lo: int, hi: int) -> str:  # the second piece fails
        return source(lo, hi) if lo == 0 else "(SELECT no_such_column FROM t)"

    with pytest.raises(duckdb.Error):
        outputs.write_csv_query(con, schema, broken, tmp_path / "out" / "u.csv", order="_pos",
                                rows=25, chunk=10)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["t.csv"]  # no piece left


def test_the_page_shows_the_texts_it_read_for_its_rows(runs):
    default, _ = runs
    html, actions = render_html(default.out_dir, lang="en", plotly="cdn", top_n=5)
    findings = pl.read_parquet(default.out_dir / "findings.parquet")
    top = findings.sort(pl.col("delta_eur").abs(), descending=True, nulls_last=True).head(1)
    message = top["message"][0]
    assert message and message.split(";")[0].replace("&", "&amp;") in html
    assert actions.startswith("customer_id,customer_name,ticket_id,month,action,")
