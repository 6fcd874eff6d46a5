"""Benchmark: ``support-audit diff`` against one ``support-audit run`` on the same data.

    .venv/bin/python bench/bench_diff.py --entries 1000000 --rounds 3
    .venv/bin/python bench/bench_diff.py --generator path/to/scale_data.py --entries 1000000
    .venv/bin/python bench/bench_diff.py --data DIR

The data is, in order of preference: ``--data DIR`` (any export directory); or the output of
``--generator SCRIPT`` run as ``python SCRIPT OUT_DIR N`` (a generator of canonical tables with
that calling convention, e.g. a performance-floor script, writing Parquet); or, by default, the
project's own sample generator (as bench/bench.py, cached in bench/data/). The head policy is a
copy of ``policies/`` with one change (``--change``: the July price +1.00, web design moved to
standard, or a 30-minute unit).

``run`` (with its report.html, as a user runs it), ``run --no-report`` and ``diff`` run as whole
CLI processes, alternately, ``--rounds`` times each, so all three see the
same state of a shared machine; the table gives wall and cpu seconds (user + sys; steadier than
wall time on a busy machine), min / median, the peak RSS of each process (``wait4``) and the
ratios of the medians. A final child runs ``diff_policies``
once for its per-stage seconds. Nothing here asserts a time: the numbers go into
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "audit"]
CHANGES = {
    "price": ("billing.yaml", 'unit_price: "19.00"', 'unit_price: "20.00"'),
    "webdesign": ("classification.yaml", "- id: webdesign\n      tier: extended",
                  "- id: webdesign\n      tier: standard"),
    "unit": ("billing.yaml", "unit_minutes: 15", "unit_minutes: 30"),
}
CHILD_STAGES = """
import json, sys
from audit.diff import diff_policies
d = diff_policies(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], gx=sys.argv[5])
print(json.dumps({"timings": d.timings, "tickets_changing_tier": d.doc["tiers"]["changed"],
                  "ticket_months_changed": d.doc["money"]["ticket_months_changed"],
                  "ticket_months": d.doc["money"]["ticket_months"],
                  "expected_change": d.doc["money"]["total"]["expected_eur"]["change"],
                  "rows_in": sum(r["in"] for r in d.doc["rows"].values()),
                  "time_entries": d.doc["rows"]["time_entries"]["in"]}))
"""


def timed_process(argv: list[str]) -> tuple[float, float, float, str]:
    """Run ``argv``; wall seconds, cpu seconds (user + sys), peak RSS MiB (of exactly that
    child, from ``wait4``) and its stdout."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        if code not in (0, 1):
            err.seek(0)
            sys.exit(f"{' '.join(argv[:4])} … failed with exit {code}:\n{err.read()[-3000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out


def get_data(args: argparse.Namespace) -> Path:
    if args.data:
        return args.data
    if args.generator:
        target = ROOT / "bench" / "data" / f"scale-{args.entries}"
        if not (target / "time_entries.parquet").exists() and not (target / "time_entries.csv").exists():
            print(f"generating {args.entries:,} time entries with {args.generator}", file=sys.stderr)
            subprocess.run([sys.executable, str(args.generator), str(target), str(args.entries)],
                           check=True)
        return target
    sys.path.insert(0, str(ROOT / "bench"))
    from bench import ensure_data  # the project's sample generator, cached like bench.py's

    return ensure_data(args.entries, "csv", 11)


def head_policy(change: str, into: Path) -> Path:
    name, old, new = CHANGES[change]
    target = into / "head-policy"
    shutil.copytree(ROOT / "policies", target)
    path = target / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{name}: {old!r} not found"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=1_000_000, help="time entries to generate")
    ap.add_argument("--data", type=Path, help="an existing export directory (no generation)")
    ap.add_argument("--generator", type=Path, help="python SCRIPT OUT_DIR N writes the data")
    ap.add_argument("--change", choices=sorted(CHANGES), default="price")
    ap.add_argument("--gx", choices=["full", "sample", "off"], default="sample")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = ap.parse_args()
    data = get_data(args)
    with tempfile.TemporaryDirectory(prefix="bench-diff-") as tmp:
        tmp = Path(tmp)
        head = head_policy(args.change, tmp)
        run_cmd = [*CLI, "run", "--policy", "policies", "--data", str(data), "--out",
                   str(tmp / "run"), "--fail-on", "never", "--gx", args.gx, "-q"]
        diff_cmd = [*CLI, "diff", "--base", "policies", "--head", str(head), "--data", str(data),
                    "--out", str(tmp / "diff"), "--gx", args.gx, "-q"]
        bare_cmd = [*run_cmd, "--no-report"]
        runs, bares, diffs = [], [], []
        for i in range(args.rounds):  # alternate: all see the same state of the machine
            runs.append(timed_process(run_cmd)[:3])
            bares.append(timed_process(bare_cmd)[:3])
            diffs.append(timed_process(diff_cmd)[:3])
            print(f"round {i + 1}: run {runs[-1][0]:.2f}s, run --no-report {bares[-1][0]:.2f}s, "
                  f"diff {diffs[-1][0]:.2f}s", file=sys.stderr)
        _, _, _, out = timed_process([sys.executable, "-c", CHILD_STAGES, "policies", str(head),
                                   str(data), str(tmp / "stages"), args.gx])
        stages = json.loads(out.strip().splitlines()[-1])
    med = statistics.median

    def row(label: str, xs: list) -> str:
        wall, cpu = [x[0] for x in xs], [x[1] for x in xs]
        return (f"| {label} | {min(wall):.2f} | {med(wall):.2f} | {min(cpu):.2f} | {med(cpu):.2f} | "
                f"{max(x[2] for x in xs):,.0f} |")

    def ratio(i: int, a: list, b: list) -> str:
        return f"{med([x[i] for x in a]) / med([x[i] for x in b]):.2f}×"

    t = stages["timings"]
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"data {data.name}: {stages['time_entries']:,} time entries, {stages['rows_in']:,} rows in; "
        f"head = policies with change '{args.change}'; GX mode {args.gx}; {args.rounds} rounds.",
        "",
        "| command | wall s min | wall s median | cpu s min | cpu s median | peak RSS MiB (max) |",
        "|---|---:|---:|---:|---:|---:|",
        row("run (with report.html)", runs),
        row("run --no-report", bares),
        row("diff (json, md, html)", diffs),
        "",
        f"diff / run, medians: wall {ratio(0, diffs, runs)}, cpu {ratio(1, diffs, runs)}; "
        f"diff / run --no-report: wall {ratio(0, diffs, bares)}, cpu {ratio(1, diffs, bares)}",
        "",
        "diff stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in t.items())
        + f"; {stages['ticket_months_changed']:,} of {stages['ticket_months']:,} ticket-months "
        f"change, {stages['tickets_changing_tier']:,} tickets change tier, expected revenue "
        f"{stages['expected_change']} EUR.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
