#!/usr/bin/env python3
"""Canonical tables at scale, as Parquet, for the performance floor and for timing the project.

scale_data.py OUT_DIR N_TIME_ENTRIES [--csv] [--months M]
    (tickets = N/5, invoice lines ~ N/8, customers = N/100)
With --csv the same tables are written as canonical CSV (ISO timestamps, '.' decimals) instead of Parquet.

Copied from the shared performance kit of issue 13 (``../shared/perf/scale_data.py``) so that
bench/whole.py needs nothing outside the repository; the one addition is ``--months M``. Without
it the tickets open over 480,000 minutes from 2026-01-01 08:00 UTC (333 days: January to
November 2026) and the files are the kit's, byte for byte; with it they open over the M calendar
months from January 2026 (``--months 12``: the whole of 2026, the ``--period`` benchmark's
year), every entry ending inside the last month.
"""
import sys
from pathlib import Path

import duckdb

out, n = Path(sys.argv[1]), int(sys.argv[2])
as_csv = "--csv" in sys.argv[3:]
span = 480000  # minutes over which the tickets open (the kit's default)
if "--months" in sys.argv[3:]:
    import datetime as dt

    months = int(sys.argv[sys.argv.index("--months") + 1])
    end = dt.datetime(2026 + months // 12, months % 12 + 1, 1)  # the first instant after the M months
    # from 2026-01-01 08:00 UTC to 3 hours before the end (an entry starts up to 10 minutes and
    # lasts up to 2 hours after its ticket opened): every row stays inside the M months
    span = int((end - dt.datetime(2026, 1, 1, 8)).total_seconds() // 60) - 180
ext, opts = ("csv", "(HEADER, TIMESTAMPFORMAT '%Y-%m-%dT%H:%M:%S%z')") if as_csv else ("parquet", "")
out.mkdir(parents=True, exist_ok=True)
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'; SELECT setseed(0.42)")
nt, nc = max(n // 5, 1), max(n // 100, 1)
cats = "['customer_center_usage','software_usage','documentation','service_fault','webdesign','customer_center_data','misconfiguration','data_loss','other']"
con.execute(f"""COPY (SELECT 'K-' || i AS customer_id, 'Kunde ' || i AS name,
  (['basic','business','premium'])[1 + i % 3] AS contract FROM range({nc}) r(i)) TO '{out}/customers.{ext}' {opts}""")
con.execute(f"""COPY (SELECT 'S-' || i AS service_id, 'K-' || (i % {nc}) AS customer_id,
  (['webhosting','vserver','root_server','managed_server','mailserver'])[1 + i % 5] AS product, i % 2 = 0 AS managed
  FROM range({nc * 2}) r(i)) TO '{out}/services.{ext}' {opts}""")
con.execute(f"""COPY (SELECT 'T-' || i AS ticket_id, 'K-' || (i % {nc}) AS customer_id, 'S-' || (i % {nc * 2}) AS service_id,
  TIMESTAMPTZ '2026-01-01 08:00:00+00' + to_minutes((i * 7919) % {span}) AS opened_at,
  NULL::TIMESTAMPTZ AS first_response_at, NULL::TIMESTAMPTZ AS resolved_at,
  (['low','normal','high','urgent'])[1 + i % 4] AS priority, 'email' AS channel,
  ({cats})[1 + (i * 31) % 9] AS category, 'Betreff ' || i AS subject,
  (['provider','customer','unknown'])[1 + (i * 13) % 3] AS cause,
  (['standard','extended'])[1 + (i * 17) % 2] AS tier FROM range({nt}) r(i)) TO '{out}/tickets.{ext}' {opts}""")
con.execute(f"""COPY (SELECT 'E-' || i AS entry_id, 'T-' || (i % {nt}) AS ticket_id, 'agent' || (i % 40) AS agent,
  TIMESTAMPTZ '2026-01-01 08:00:00+00' + to_minutes(((i % {nt}) * 7919) % {span} + 10) AS started_at,
  TIMESTAMPTZ '2026-01-01 08:00:00+00' + to_minutes(((i % {nt}) * 7919) % {span} + 10) + to_seconds(60 + (i * 7) % 7200) AS ended_at,
  NULL::INTEGER AS minutes FROM range({n}) r(i)) TO '{out}/time_entries.{ext}' {opts}""")
con.execute(f"""COPY (SELECT 'L-' || i AS line_id, 'INV-' || (i % {nc}) AS invoice_id, 'K-' || ((i * 8) % {nt} % {nc}) AS customer_id,
  'T-' || ((i * 8) % {nt}) AS ticket_id,
  CAST(TIMESTAMPTZ '2026-01-01 08:00:00+00' + to_minutes((((i * 8) % {nt}) * 7919) % {span} + 10) AS DATE) AS service_date,
  (1 + i % 6)::DECIMAL(18,2) AS quantity, 19.00::DECIMAL(18,2) AS unit_price, ((1 + i % 6) * 19.00)::DECIMAL(18,2) AS amount
  FROM range({max(n // 8, 1)}) r(i)) TO '{out}/invoice_lines.{ext}' {opts}""")
print(f"{n} time entries, {nt} tickets, {nc} customers in {out}")
