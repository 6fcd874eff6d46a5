"""Benchmark: ``support-audit check`` of a bundle with many waivers, YAML against waivers.csv.

    .venv/bin/python bench/bench_waivers.py [--waivers 60000] [--repeat 3] [--yaml-src DIR]

The shipped bundle gets ``--waivers`` generated waivers (one ticket each, a third with a kind,
a reason with a comma), once as ``waivers.yaml`` and once as ``waivers.csv``. Each measurement
runs the whole command in a fresh child process (imports count, as they do for a user); the
variants alternate round by round, and the medians of wall time and of the child's CPU time
(user + system, from ``resource.getrusage``) are printed. The YAML variant lifts the size and
entry limits in the child (a YAML file of 60,000 waivers is over them); ``--yaml-src`` runs it on
another source tree (e.g. ``git archive`` of an older commit), to measure before and after.
Nothing here asserts a time: the numbers go into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIFTED = """
import sys
from audit.policy import loader
loader.MAX_FILE_BYTES = loader.MAX_BUNDLE_BYTES = 1 << 40
loader.MAX_ENTRIES[("waivers",)] = 10 ** 7
from audit.cli import main
main(sys.argv[1:])
"""


def bundles(directory: Path, n: int) -> dict[str, Path]:
    kinds = ("extended_unbilled", "standard_billed", "")
    yaml_dir, csv_dir = directory / "yaml", directory / "csv"
    for target in (yaml_dir, csv_dir):
        shutil.copytree(ROOT / "policies", target, ignore=shutil.ignore_patterns("tests"))
        (target / "waivers.yaml").write_text("waivers:\n", encoding="utf-8")
    rows, entries = [], []
    for i in range(n):
        kind = kinds[i % 3]
        scope = f"ticket: T-{100000 + i}" + (f", kind: {kind}" if kind else "")
        entries.append(f"  - id: W-{i:06d}\n    scope: {{{scope}}}\n"
                       f"    reason: \"Kulanz, Ticket {i} – vereinbart\"\n    approved_by: Leitung Support\n"
                       f"    approved_on: 2026-01-05\n    expires_on: 2026-12-31\n")
        rows.append(f'W-{i:06d},T-{100000 + i},,{kind},,"Kulanz, Ticket {i} – vereinbart",'
                    f"Leitung Support,2026-01-05,2026-12-31\n")
    (yaml_dir / "waivers.yaml").write_text("waivers:\n" + "".join(entries), encoding="utf-8")
    (csv_dir / "waivers.csv").write_text(
        "id,ticket,customer,kind,month,reason,approved_by,approved_on,expires_on\n" + "".join(rows),
        encoding="utf-8")
    return {"yaml": yaml_dir, "csv": csv_dir}


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one child run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} … exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--waivers", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--yaml-src", type=Path, help="source tree the YAML variant runs on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = bundles(Path(tmp), args.waivers)
        check = ["check", "--as-of", "2026-06-01", "--policy"]
        yaml_env = {**os.environ}
        if args.yaml_src:
            yaml_env["PYTHONPATH"] = str(args.yaml_src.resolve())
        variants = {
            "yaml": ([sys.executable, "-c", LIFTED, *check, str(paths["yaml"])], yaml_env),
            "csv": ([sys.executable, "-m", "audit", *check, str(paths["csv"])], {**os.environ}),
        }
        sizes = {"yaml": (paths["yaml"] / "waivers.yaml").stat().st_size,
                 "csv": (paths["csv"] / "waivers.csv").stat().st_size}
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for _ in range(args.repeat):  # alternating: both see the same load of the machine
            for name, (command, env) in variants.items():
                times[name].append(measure(command, env))
                print(f"{name}: wall {times[name][-1][0]:.1f} s, CPU {times[name][-1][1]:.1f} s",
                      file=sys.stderr, flush=True)
    print(f"`check` of {args.waivers:,} waivers, {args.repeat} alternating runs each "
          f"(Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)\n")
    print("| waivers in | file size | median wall s | median CPU s | runs (wall) |")
    print("|---|---|---|---|---|")
    for name, runs in times.items():
        label = "waivers.yaml (limits lifted)" + (f", {args.yaml_src}" if args.yaml_src else "") \
            if name == "yaml" else "waivers.csv"
        print(f"| {label} | {sizes[name] / 1e6:.1f} MB | {statistics.median(w for w, _ in runs):.1f} "
              f"| {statistics.median(c for _, c in runs):.1f} | {', '.join(f'{w:.1f}' for w, _ in runs)} |")


if __name__ == "__main__":
    main()
