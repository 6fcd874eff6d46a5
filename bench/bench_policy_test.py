"""Benchmark: ``support-audit test`` on the shipped cases and on 100 generated cases, and the
alternative it was chosen over (one DuckDB connection per case).

    .venv/bin/python bench/bench_policy_test.py --rounds 5

Measures, each ``--rounds`` times after one warm-up (min and median, seconds):

1. the whole command as a user runs it, in a fresh process (``support-audit test --policy
   policies``): imports, policy, cases, ingestion, engine, checks, coverage;
2. ``run_policy_tests`` in one process on the shipped cases (all in one batch);
3. the same on 100 generated cases (one ticket each, categories and durations varied, with
   their expected tiers and units), also in one batch;
4. the shipped cases with one connection per case (each case its own batch): the design not
   taken.

Nothing here asserts a time: the numbers go into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Category → tier under the default policy (support-rules.md), for the generated cases.
TIERS = {
    "customer_center_usage": "standard", "software_usage": "standard", "documentation": "standard",
    "webdesign": "extended", "customer_center_data": "extended", "misconfiguration": "extended",
    "data_loss": "extended", "service_fault": "extended",
}


def generated_cases(n: int) -> str:
    """``n`` cases, each one ticket with one entry of 1…n minutes; billable ones are invoiced."""
    lines = ["cases:"]
    categories = list(TIERS)
    for i in range(1, n + 1):
        category = categories[i % len(categories)]
        minutes = i
        units = -(-minutes // 15)
        extended = TIERS[category] == "extended"
        lines += [
            f"  - id: gen-{i:03d}",
            f"    tickets: [{{category: {category}}}]",
            f"    time_entries: [{{minutes: {minutes}}}]",
        ]
        if extended:
            lines.append(f"    invoice_lines: [{{quantity: {units}, unit_price: 17.50}}]")
        expected = f"{units * 17.5:.2f}" if extended else "0.00"
        lines.append(f"    expect: {{tier: {TIERS[category]}, expected_units: {units if extended else 0}, "
                     f"expected_eur: {expected}, no_other_findings: true}}")
    return "\n".join(lines) + "\n"


def _cpu() -> float:
    """CPU seconds of this process and its finished children (every thread of DuckDB counts)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn, rounds: int) -> tuple[float, float, float]:
    """(min, median) wall-clock seconds and the median CPU seconds: on a machine shared with
    other work the CPU time is the steadier figure."""
    fn()  # warm-up
    times, cpu = [], []
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), _cpu()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(_cpu() - c0)
    return min(times), statistics.median(times), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", type=int, default=100, help="generated cases")
    args = parser.parse_args()
    load = os.getloadavg()

    from audit.policy.loader import load_policy
    from audit.policytests import run_policy_tests
    from audit.policytests.cases import load_cases
    from audit.policytests.runner import run_batch

    policies = ROOT / "policies"
    cli = [str(Path(sys.executable).parent / "support-audit"), "test", "--policy", str(policies)]

    def command() -> None:
        subprocess.run(cli, check=True, capture_output=True)

    shipped = run_policy_tests(policies)
    assert shipped.ok, "the shipped cases fail"
    rows = [("`support-audit test` (fresh process)", len(shipped.results), shipped.batches, timed(command, args.rounds))]
    rows.append(("`run_policy_tests`, shipped cases", len(shipped.results), shipped.batches,
                 timed(lambda: run_policy_tests(policies), args.rounds)))

    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "policies"
        shutil.copytree(policies, bundle)
        shutil.rmtree(bundle / "tests")
        (bundle / "tests").mkdir()
        (bundle / "tests" / "generated.yaml").write_text(generated_cases(args.cases), encoding="utf-8")
        generated = run_policy_tests(bundle)
        assert generated.ok, [r.problems for r in generated.results if not r.outcome == "passed"][:3]
        rows.append((f"`run_policy_tests`, {args.cases} generated cases", len(generated.results),
                     generated.batches, timed(lambda: run_policy_tests(bundle), args.rounds)))

    bundle_model = load_policy(policies)
    suite = load_cases(policies, bundle_model)

    def per_case() -> None:
        for case in suite.cases:
            run_batch(bundle_model, [case])

    rows.append(("one connection per case (not taken), shipped cases", len(suite.cases), len(suite.cases),
                 timed(per_case, max(1, args.rounds // 2))))

    import duckdb

    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"DuckDB {duckdb.__version__}, rounds {args.rounds}")
    print(f"load average before: {' / '.join(f'{x:.1f}' for x in load)}, after: "
          f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("| what | cases | batches | wall min s | wall median s | CPU median s |")
    print("|---|---:|---:|---:|---:|---:|")
    for what, cases, batches, (best, median, cpu) in rows:
        print(f"| {what} | {cases} | {batches} | {best:.2f} | {median:.2f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
