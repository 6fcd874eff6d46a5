#!/usr/bin/env python3
"""Copied unchanged (but for this note) from the shared performance kit of issue 13
(``../shared/perf/floor_audit.py``), so that bench/whole.py needs nothing outside the repository.

The performance floor: a hand-written DuckDB audit under the default policy of
../domain/support-rules.md, in one process with plain SQL.

It reconciles per (ticket, month) with simplifications (tier and unclassified findings per
ticket-month, price findings per ticket-month, no messages, no contract checks, no report), so its
finding counts differ from the project's by definition; it exists to time the work that cannot be
avoided: load the files, reconcile, write the findings (JSON and Parquet).

floor_audit.py DATA_DIR OUT_DIR   (canonical CSV or Parquet files, e.g. from scale_data.py)
"""
import json
import sys
import time
from pathlib import Path

import duckdb

RULES = """
CREATE TEMP TABLE price AS SELECT * FROM (VALUES
  (DATE '1900-01-01', DATE '2026-06-30', 17.50::DECIMAL(18,2)),
  (DATE '2026-07-01', DATE '9999-12-31', 19.00::DECIMAL(18,2))) p(valid_from, valid_to, unit_price);

CREATE TEMP TABLE tier AS
SELECT t.ticket_id, t.customer_id, t.tier AS recorded,
  CASE
    WHEN t.category = 'documentation' THEN 'standard'
    WHEN t.cause = 'customer' THEN 'extended'
    WHEN t.category IN ('webdesign', 'customer_center_data', 'misconfiguration', 'data_loss') THEN 'extended'
    WHEN t.category = 'service_fault' AND coalesce(s.managed, false) THEN 'standard'
    WHEN t.category = 'service_fault' THEN 'extended'
    WHEN t.category IN ('customer_center_usage', 'software_usage') THEN 'standard'
  END AS derived
FROM tickets t LEFT JOIN services s USING (service_id);

CREATE TEMP TABLE work AS
SELECT e.ticket_id,
  strftime(timezone('Europe/Berlin', e.started_at), '%Y-%m') AS month,
  sum(ceil(epoch(e.ended_at - e.started_at) / 900)::BIGINT) AS units,
  sum(ceil(epoch(e.ended_at - e.started_at) / 900)::BIGINT * p.unit_price) AS expected_if_extended
FROM time_entries e
JOIN price p ON CAST(timezone('Europe/Berlin', e.started_at) AS DATE) BETWEEN p.valid_from AND p.valid_to
GROUP BY ALL;

CREATE TEMP TABLE billed AS
SELECT ticket_id, strftime(service_date, '%Y-%m') AS month,
  sum(quantity) AS units, sum(amount) AS eur, count(DISTINCT invoice_id) FILTER (WHERE quantity > 0) AS invoices,
  bool_or(amount <> quantity * l.unit_price) AS bad_amount,
  bool_or(l.unit_price <> p.unit_price) AS bad_price
FROM invoice_lines l JOIN price p ON service_date BETWEEN p.valid_from AND p.valid_to
GROUP BY ALL;

CREATE TEMP TABLE tm AS
SELECT coalesce(w.ticket_id, b.ticket_id) AS ticket_id, coalesce(w.month, b.month) AS month,
  coalesce(w.units, 0) AS tracked_units, coalesce(b.units, 0) AS billed_units,
  CASE WHEN t.derived = 'extended' THEN coalesce(w.expected_if_extended, 0) ELSE 0 END AS expected_eur,
  coalesce(b.eur, 0) AS billed_eur, b.invoices, b.bad_amount, b.bad_price, t.derived, t.recorded, t.customer_id
FROM work w FULL JOIN billed b USING (ticket_id, month) JOIN tier t ON t.ticket_id = coalesce(w.ticket_id, b.ticket_id);

CREATE TEMP TABLE findings AS
SELECT 'unclassified_ticket' AS kind, * FROM tm WHERE derived IS NULL
UNION ALL SELECT 'tier_mismatch', * FROM tm WHERE derived IS NOT NULL AND derived <> recorded
UNION ALL SELECT 'standard_billed', * FROM tm WHERE derived = 'standard' AND billed_eur <> 0
UNION ALL SELECT 'billed_without_time', * FROM tm WHERE derived = 'extended' AND tracked_units = 0 AND billed_eur <> 0
UNION ALL SELECT 'extended_unbilled', * FROM tm WHERE derived = 'extended' AND tracked_units > 0 AND billed_units = 0
UNION ALL SELECT 'duplicate_billing', * FROM tm WHERE derived = 'extended' AND invoices > 1
UNION ALL SELECT 'units_mismatch', * FROM tm WHERE derived = 'extended' AND tracked_units > 0 AND billed_units <> 0
  AND billed_units <> tracked_units AND coalesce(invoices, 0) <= 1
UNION ALL SELECT 'amount_mismatch', * FROM tm WHERE bad_amount AND derived = 'extended'
UNION ALL SELECT 'price_mismatch', * FROM tm WHERE bad_price AND derived = 'extended';
"""


def load(con, data):
    for name in ("customers", "services", "tickets", "time_entries", "invoice_lines"):
        pq, cs = data / f"{name}.parquet", data / f"{name}.csv"
        src = f"read_parquet('{pq}')" if pq.exists() else f"read_csv('{cs}', header=true, all_varchar=true)"
        con.execute(f"CREATE TABLE raw_{name} AS SELECT * FROM {src}")
    con.execute("CREATE TABLE customers AS SELECT * FROM raw_customers")
    con.execute("CREATE TABLE services AS SELECT service_id, customer_id, product, managed::BOOLEAN AS managed FROM raw_services")
    con.execute("""CREATE TABLE tickets AS SELECT ticket_id, customer_id, nullif(service_id, '') AS service_id,
        category, nullif(cause, '') AS cause, tier FROM raw_tickets""")
    con.execute("""CREATE TABLE time_entries AS SELECT entry_id, ticket_id,
        started_at::TIMESTAMPTZ AS started_at, ended_at::TIMESTAMPTZ AS ended_at FROM raw_time_entries""")
    con.execute("""CREATE TABLE invoice_lines AS SELECT line_id, invoice_id, ticket_id, service_date::DATE AS service_date,
        quantity::DECIMAL(18,2) AS quantity, unit_price::DECIMAL(18,2) AS unit_price, amount::DECIMAL(18,2) AS amount
        FROM raw_invoice_lines""")


def main(data, out):
    data, out = Path(data), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    t0 = time.perf_counter()
    load(con, data)
    t1 = time.perf_counter()
    con.execute(RULES)
    n = con.execute("SELECT count(*) FROM findings").fetchone()[0]
    t2 = time.perf_counter()
    select = """SELECT kind, ticket_id, month, customer_id, expected_eur::VARCHAR AS expected_eur,
        billed_eur::VARCHAR AS billed_eur, (expected_eur - billed_eur)::VARCHAR AS delta_eur FROM findings ORDER BY ALL"""
    con.execute(f"COPY ({select}) TO '{out / 'findings.json'}' (FORMAT JSON, ARRAY true)")
    con.execute(f"COPY ({select}) TO '{out / 'findings.parquet'}' (FORMAT PARQUET)")
    t3 = time.perf_counter()
    print(json.dumps({"findings": n, "load_s": round(t1 - t0, 3), "rules_s": round(t2 - t1, 3),
                      "write_s": round(t3 - t2, 3)}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
