"""Benchmark: ``support-audit check`` on the shipped bundle and on generated bundles of many rules.

    .venv/bin/python bench/bench_check.py [--rules 30 --rules 100] [--categories 18] [--repeat 5]

Each measurement runs the real command in a fresh child process (so imports count, as they do
for a user) and reports the median wall time and the child's CPU time. A generated bundle has
``--rules`` classification rules, each reading seven columns (category from a declared
vocabulary of ``--categories`` values, channel, priority, cause, service.product,
service.managed, customer.contract), so the rule analysis evaluates every rule over the product
of their domains (stated in the output). Nothing here asserts a time: the numbers go into
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def generated_bundle(directory: Path, rules: int, categories: int) -> Path:
    cats = [f"k{i}" for i in range(categories)]
    lines = []
    for i in range(rules):
        lines.append(
            f"    - id: r{i}\n"
            f"      tier: {'standard' if i % 2 else 'extended'}\n"
            f"      when: category IN ('{cats[i % categories]}', '{cats[(i + 7) % categories]}') "
            f"AND (channel = 'ch{i % 9}' OR priority = 'high') AND customer.contract <> 'c{i % 5}' "
            f"AND service.product = 'p{i % 7}' AND cause IS DISTINCT FROM 'customer' "
            f"AND coalesce(service.managed, false)\n"
        )
    path = directory / f"rules-{rules}.yaml"
    path.write_text(
        'metadata: {name: bench, version: "1", effective_from: 2026-01-01}\n'
        "tiers: [{id: standard, billable: false}, {id: extended, billable: true}]\n"
        "classification:\n  rules:\n" + "".join(lines) +
        'billing: {prices: [{from: 2026-01-01, unit_price: "17.50"}]}\n'
        f"vocabularies:\n  category: [{', '.join(cats)}]\n",
        encoding="utf-8",
    )
    return path


def combinations(categories: int) -> int:
    """The analysis' space: (categories + any other) × channel (9 + other + NULL) × priority (4)
    × cause (3 + NULL) × product (7 + other + NULL) × managed (true, false, NULL) × contract
    (5 + other)."""
    return (categories + 1) * 11 * 4 * 4 * 9 * 3 * 6


def measure(policy: Path, repeat: int) -> tuple[float, float, str]:
    """Median wall seconds, median child CPU seconds, and the summary line of the output."""
    walls, cpus, last = [], [], ""
    exe = ROOT / ".venv" / "bin" / "support-audit"
    for _ in range(repeat):
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [str(exe), "check", "--policy", str(policy), "--as-of", "2026-07-01"],
            stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )
        out = proc.stdout.read()  # type: ignore[union-attr]
        _, status, usage = os.wait4(proc.pid, 0)  # reaped here, so the CPU time is the child's
        proc.returncode = os.waitstatus_to_exitcode(status)
        walls.append(time.perf_counter() - t0)
        cpus.append(usage.ru_utime + usage.ru_stime)
        last = out.strip().splitlines()[-1]
    return statistics.median(walls), statistics.median(cpus), last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rules", type=int, action="append", help="rules per generated bundle (repeatable)")
    ap.add_argument("--categories", type=int, default=18)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rules = args.rules or [30, 100]
    combos = combinations(args.categories)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cpus, python {platform.python_version()}")
    print("| bundle | rules | combinations | wall (median) | cpu | result |")
    print("|---|---|---|---|---|---|")
    wall, cpu, last = measure(ROOT / "policies", args.repeat)
    print(f"| shipped `policies/` | 10 | 144 | {wall:.2f} s | {cpu:.2f} s | {last.split(';')[-1].strip()} |")
    with tempfile.TemporaryDirectory() as tmp:
        for n in rules:
            wall, cpu, last = measure(generated_bundle(Path(tmp), n, args.categories), args.repeat)
            print(f"| generated | {n} | {combos:,} | {wall:.2f} s | {cpu:.2f} s | {last.split(';')[-1].strip()} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
