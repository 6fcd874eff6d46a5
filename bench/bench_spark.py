"""Benchmark: ``support-audit run --engine spark`` (local Spark) next to ``--engine duckdb``.

    .venv/bin/python bench/bench_spark.py --data DIR [--rounds 2] [--master local[*]]
        [--policy DIR] [--spark-conf KEY=VALUE ...] [--engines duckdb,spark] [--logs DIR]

``DIR`` is an export directory, e.g. the output of a canonical-table generator at 100 k or 1 M
time entries. Both engines run as whole CLI processes (``run --no-report --gx off``),
alternately, ``--rounds`` times each, so they see the same state of a shared machine; the table
gives wall and cpu seconds (user + sys of the process and its children — the JVM is a child),
min / median, and the peak RSS (``wait4``; for Spark that of the Python driver, the JVM's is
reported by ``getrusage(RUSAGE_CHILDREN)`` as the largest child). Nothing here asserts a time:
the numbers go into docs/scale-out.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one_run(engine: str, data: Path, args: argparse.Namespace,
            log: Path | None) -> tuple[float, float, int]:
    """(wall s, cpu s incl. children, peak RSS MB of the largest process) of one CLI run.

    With ``log`` the run's progress lines (each stage with its elapsed seconds) are kept there,
    which is where a stage split of the wall time comes from."""
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as out, \
            tempfile.TemporaryFile() as err_file:
        cmd = [sys.executable, "-m", "audit", "run", "--policy", str(args.policy), "--data",
               str(data), "--out", out, "--no-report", "--gx", "off", "--fail-on", "never",
               "--engine", engine]
        if engine == "spark":
            cmd += ["--spark-master", args.master]
            for conf in args.spark_conf:
                cmd += ["--spark-conf", conf]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err_file)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        err_file.seek(0)
        err = err_file.read().decode(errors="replace")
        if log is not None:
            log.write_text(err, encoding="utf-8")
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{engine} run failed:\n{err[-2000:]}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        rss = max(usage.ru_maxrss, after.ru_maxrss) // 1024
        return wall, cpu, rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--master", default="local[*]")
    ap.add_argument("--policy", type=Path, default=ROOT / "policies",
                    help="policy bundle (default: the shipped one)")
    ap.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                    help="passed to run --spark-conf, e.g. spark.driver.memory=16g")
    ap.add_argument("--engines", default="duckdb,spark",
                    help="comma-separated, run alternately in this order")
    ap.add_argument("--logs", type=Path, help="keep each run's progress lines here")
    args = ap.parse_args()
    runs: dict[str, list[tuple[float, float, int]]] = {
        e: [] for e in args.engines.split(",") if e}
    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)
    for i in range(args.rounds):
        for engine in runs:  # alternating: both see the same machine
            log = args.logs / f"{engine}-{i + 1}.log" if args.logs else None
            runs[engine].append(one_run(engine, args.data, args, log))
            print(f"{engine}: wall {runs[engine][-1][0]:.1f} s", file=sys.stderr)
    print(f"data: {args.data}, policy {args.policy}, {args.rounds} rounds, {os.cpu_count()} cores, "
          f"master {args.master}, spark conf {args.spark_conf or 'default'}\n")
    print("| engine | wall s min / median | cpu s median | peak RSS MB |")
    print("|---|---|---|---|")
    for engine, rs in runs.items():
        walls, cpus, rss = [r[0] for r in rs], [r[1] for r in rs], [r[2] for r in rs]
        print(f"| {engine} | {min(walls):.1f} / {statistics.median(walls):.1f} | "
              f"{statistics.median(cpus):.1f} | {max(rss)} |")


if __name__ == "__main__":
    main()
