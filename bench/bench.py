"""Benchmark: the audit end to end at stated data sizes, per stage, with peak memory, and the rules
stage against a hand-written DuckDB query that computes the same reconciliation.

    .venv/bin/python bench/bench.py --entries 1000000 --entries 10000000

Each size is generated once with the sample generator (cached in bench/data/) and each
measurement runs in a fresh child process, so peak memory (max RSS of the child, from
``wait4``) is that run's alone. The per-stage figures are one cold run of ``run_audit``; the
rules stage is then compared with the hand-written query like for like: in one process over the
same loaded tables, both run ``--rounds`` times alternately, and the medians are compared.
Prints a Markdown table; ``--markdown FILE`` also writes it.
Nothing here asserts a time: the numbers go into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENTRIES_PER_TICKET = 3.1  # measured: the generator averages about 3.1 entries per ticket

# The floor the engine should approach: the same per-(ticket, month) reconciliation written by
# hand for the default policy's semantics (entry scope, ceil to 15 min, dated price list),
# materialised as a table like the engine's reconciliation (the findings are then filters on it).
HAND_WRITTEN = """
WITH tier AS (
  SELECT t.ticket_id, t.customer_id,
         CASE
           WHEN t.category = 'documentation' THEN 'standard'
           WHEN t.cause = 'customer' THEN 'extended'
           WHEN t.category IN ('customer_center_usage', 'software_usage') THEN 'standard'
           WHEN t.category = 'service_fault' AND s.managed THEN 'standard'
           WHEN t.category IN ('service_fault', 'webdesign', 'customer_center_data',
                               'misconfiguration', 'data_loss') THEN 'extended'
         END AS policy_tier
  FROM tickets t LEFT JOIN services s USING (service_id)
),
e AS (
  SELECT ticket_id,
         strftime(timezone('Europe/Berlin', started_at), '%Y-%m') AS month,
         CAST(ceil(duration_seconds / 900.0) AS DECIMAL(18,2)) AS units,
         CASE WHEN CAST(timezone('Europe/Berlin', started_at) AS DATE) <= DATE '2026-06-30'
              THEN 17.50::DECIMAL(18,2) ELSE 19.00::DECIMAL(18,2) END AS price
  FROM time_entries
),
expected AS (
  SELECT ticket_id, month, sum(units) AS units, sum(units * price) AS eur FROM e GROUP BY ALL
),
billed AS (
  SELECT ticket_id, strftime(service_date, '%Y-%m') AS month,
         sum(quantity) AS units, sum(amount) AS eur, count(DISTINCT invoice_id) AS invoices
  FROM invoice_lines GROUP BY ALL
)
SELECT coalesce(x.ticket_id, b.ticket_id) AS ticket_id, coalesce(x.month, b.month) AS month,
       tier.customer_id, tier.policy_tier,
       coalesce(x.units, 0) AS expected_units, coalesce(x.eur, 0) AS expected_eur,
       coalesce(b.units, 0) AS billed_units, coalesce(b.eur, 0) AS billed_eur,
       coalesce(b.invoices, 0) AS invoices,
       CASE WHEN tier.policy_tier = 'extended' THEN coalesce(x.eur, 0) ELSE 0 END
         - coalesce(b.eur, 0) AS delta_eur
FROM expected x FULL JOIN billed b USING (ticket_id, month)
JOIN tier ON tier.ticket_id = coalesce(x.ticket_id, b.ticket_id)
"""

CHILD_AUDIT = """
import json, sys, time
from audit.api import run_audit
t0 = time.perf_counter()
r = run_audit(sys.argv[1], sys.argv[2], sys.argv[3], gx=sys.argv[4], fail_on="never")
timings = dict(r.timings); timings["total"] = time.perf_counter() - t0
print(json.dumps({"timings": timings, "findings": r.findings.height,
                  "sla_findings": r.findings.filter(r.findings["kind"].str.starts_with("sla_")).height,
                  "rows": r.summary["rows"]}))
"""

CHILD_RULES = """
import json, statistics, sys, time
from audit.db import connect, lock_down
from audit.engine import drop_relations, evaluate
from audit.ingest import load_data
from audit.policy.loader import load_policy
bundle = load_policy("policies")
con = connect()
load_data(con, sys.argv[1], timezone=bundle.settings.timezone, tier_ids=bundle.tier_ids, gx="off")
lock_down(con)
engine, hand = [], []
for _ in range(int(sys.argv[3])):  # alternate, so both see the same state of the machine
    t0 = time.perf_counter()
    evaluate(con, bundle)
    engine.append(time.perf_counter() - t0)
    drop_relations(con)
    t0 = time.perf_counter()
    con.execute("CREATE OR REPLACE TEMP TABLE hand_reconciliation AS " + sys.argv[2])
    hand.append(time.perf_counter() - t0)
    con.execute("DROP TABLE hand_reconciliation")
print(json.dumps({"engine": [min(engine), statistics.median(engine)],
                  "hand": [min(hand), statistics.median(hand)]}))
"""


def run_child(code: str, *args: str) -> tuple[dict, float, float]:
    """Run code in a fresh interpreter; return its JSON output, wall seconds and peak RSS in MiB.

    ``os.wait4`` gives the resource usage of exactly that child, so peak memory is its own.
    """
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                                stderr=err, text=True, cwd=ROOT)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            err.seek(0)
            sys.exit(f"benchmark child failed:\n{err.read()[-3000:]}")
    return json.loads(out.strip().splitlines()[-1]), wall, usage.ru_maxrss / 1024


def ensure_data(entries: int, fmt: str, seed: int) -> Path:
    target = ROOT / "bench" / "data" / f"{entries}-{fmt}-s{seed}"
    if (target / "ground_truth.json").exists() or (target / "tickets.csv").exists() or (
        target / "tickets.parquet"
    ).exists():
        return target
    tickets = max(1, int(entries / ENTRIES_PER_TICKET))
    print(f"generating ~{entries:,} time entries ({tickets:,} tickets, {fmt}) in {target}", file=sys.stderr)
    from audit.sample import generate

    t0 = time.perf_counter()
    generate(target, seed=seed, months=3, tickets=tickets, start="2026-05", fmt=fmt, dirty=True)
    print(f"  generated in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return target


def _without_sla(data: Path, out: Path, gx: str, entries: int, with_sla: dict, peak_with: float) -> str:
    """One cold audit with the default policy minus sla.yaml, as a table row beside ``with_sla``."""
    import shutil

    with tempfile.TemporaryDirectory() as tmp:
        policy = Path(tmp) / "policies"
        shutil.copytree(ROOT / "policies", policy)
        (policy / "sla.yaml").unlink()
        res, _, peak = run_child(CHILD_AUDIT, str(policy), str(data), str(out) + "-nosla", gx)
    a, b = with_sla["timings"], res["timings"]
    return (f"| {entries:,} | {with_sla['rows']['tickets']['in']:,} | {with_sla['sla_findings']:,} | "
            f"{a['rules']:.2f} / {b['rules']:.2f} | {a['outputs']:.2f} / {b['outputs']:.2f} | "
            f"{a['total']:.2f} / {b['total']:.2f} | {peak_with:,.0f} / {peak:,.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, action="append", help="time entries per dataset (repeatable)")
    ap.add_argument("--format", choices=["csv", "parquet"], default="csv")
    ap.add_argument("--gx", choices=["full", "sample", "off"], default="sample")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--rounds", type=int, default=5,
                    help="warm runs of the rules stage and of the hand-written query (alternating)")
    ap.add_argument("--markdown", type=Path, help="also write the table to this file")
    ap.add_argument("--tickets", type=int, action="append",
                    help="size a dataset by tickets instead (≈ 3.1 entries each; repeatable)")
    ap.add_argument("--no-sla-too", action="store_true",
                    help="also run the audit with the policy minus sla.yaml: what the SLA costs")
    args = ap.parse_args()
    if args.tickets:
        args.entries = [*(args.entries or []), *(round(t * ENTRIES_PER_TICKET) for t in args.tickets)]
    sizes = args.entries or [1_000_000]

    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"input {args.format}, GX mode {args.gx}.",
        "",
        "| time entries | rows in (all tables) | findings | policy s | ingest s | gx s | rules s | "
        "outputs s | total s | peak RSS MiB | rules warm s (min / median) | hand-written s "
        "(min / median) | rules / hand (median) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    sla_rows: list[str] = []
    for entries in sizes:
        data = ensure_data(entries, args.format, args.seed)
        out = ROOT / "bench" / "data" / f"out-{entries}"
        res, _wall, peak = run_child(CHILD_AUDIT, "policies", str(data), str(out), args.gx)
        rules, _, _ = run_child(CHILD_RULES, str(data), HAND_WRITTEN, str(args.rounds))
        t = res["timings"]
        rows_in = sum(r["in"] for r in res["rows"].values())
        real_entries = res["rows"]["time_entries"]["in"]
        (e_min, e_med), (h_min, h_med) = rules["engine"], rules["hand"]
        lines.append(
            f"| {real_entries:,} | {rows_in:,} | {res['findings']:,} | {t.get('policy', 0):.2f} | "
            f"{t.get('ingest', 0):.2f} | {t.get('gx', 0):.2f} | {t.get('rules', 0):.2f} | "
            f"{t.get('outputs', 0):.2f} | {t['total']:.2f} | {peak:,.0f} | "
            f"{e_min:.2f} / {e_med:.2f} | {h_min:.2f} / {h_med:.2f} | {e_med / h_med:.2f}× |"
        )
        print(lines[-1], file=sys.stderr)
        if args.no_sla_too:
            sla_rows.append(_without_sla(data, out, args.gx, real_entries, res, peak))
            print(sla_rows[-1], file=sys.stderr)
    if sla_rows:
        lines += ["", "SLA on (the default policy) against the same policy without `sla.yaml`, one cold run each:", "",
                  "| time entries | tickets | SLA findings | rules s with / without | outputs s with / without | "
                  "total s with / without | peak RSS MiB with / without |",
                  "|---:|---:|---:|---:|---:|---:|---:|", *sla_rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
