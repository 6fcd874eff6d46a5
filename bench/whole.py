"""Benchmark: the whole ``support-audit run`` against the performance floor (issue 13).

    .venv/bin/python bench/whole.py --sizes 100000,1000000 --formats parquet,csv --pairs 3
    .venv/bin/python bench/whole.py --sizes 1000000,10000000 --pairs 5 --out whole.md
    .venv/bin/python bench/whole.py --sizes 1000000 --period-bench 2026-06 --no-messy

The data is generated once per size and format with ``bench/scale_data.py`` (clean canonical
tables: N time entries, N/5 tickets, N/8 invoice lines; cached in ``bench/data/``). Per size and
format, ``support-audit run`` (every output file and report.html, GX mode ``sample``, as a user
runs it) and ``bench/floor_audit.py`` (a hand-written DuckDB audit of the same rules: load,
reconcile, write findings as JSON and Parquet) run as whole processes **alternately**
(``--pairs`` pairs; the order within a pair alternates too), so both see the same state of a
shared machine. Each process is measured by the operating system: wall seconds around it, cpu
seconds (user + sys) and peak RSS from ``os.wait4`` (that child alone). The table gives the
medians of each command and the **median of the per-pair ratios**.

Also, unless ``--no-messy``: the messy CSV export of bench/bench.py (the sample generator with
dirty rows and planted errors) against clean CSV of the same number of time entries, alternately:
the messy path's extra cost. ``--period-bench YYYY-MM``: a 12-month dataset per size
(``--period-data scale``: ``scale_data.py --months 12``, Parquet; ``sample``: the sample
generator's messy CSV) audited whole and for that one month, alternately.

The scaling chart (``--svg``, default ``docs/whole-scaling.svg``) plots the median wall time of
``run`` and of the floor per format over the sizes measured, on log-log axes; it is plain SVG
written here from the measured figures. Prints a Markdown table; ``--out FILE`` also writes it.
Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_diff import timed_process  # noqa: E402  (same directory; measures one child by wait4)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
CLI = [sys.executable, "-m", "audit", "run", "--policy", "policies", "--fail-on", "never", "-q"]


def billing_only(tmp: Path) -> str:
    """A copy of policies/ without its SLA section (sla.yaml and the sla_* finding kinds): the
    billing and classification rules the floor judges too."""
    target = tmp / "policy-billing-only"
    shutil.copytree(ROOT / "policies", target, ignore=shutil.ignore_patterns("sla.yaml", "tests"))
    findings = target / "findings.yaml"
    findings.write_text("".join(line for line in findings.read_text(encoding="utf-8")
                                .splitlines(keepends=True) if not line.strip().startswith("sla_")),
                        encoding="utf-8")
    return str(target)


def scale_data(entries: int, fmt: str, months: int | None = None) -> Path:
    """The clean canonical tables of ``entries`` time entries (generated once, then cached)."""
    target = DATA / (f"whole-{entries}-{fmt}" + ("" if months is None else f"-{months}m"))
    if not (target / f"time_entries.{fmt}").exists():
        argv = [sys.executable, str(ROOT / "bench" / "scale_data.py"), str(target), str(entries)]
        argv += ["--csv"] if fmt == "csv" else []
        argv += [] if months is None else ["--months", str(months)]
        print(f"generating {target.name}", file=sys.stderr)
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return target


def messy_data(entries: int) -> Path:
    """bench/bench.py's messy CSV export of about ``entries`` time entries (cached there)."""
    from bench import ensure_data

    return ensure_data(entries, "csv", 11)


def year_data(entries: int, generator: str) -> Path:
    """A year (2026) of about ``entries`` time entries: clean tables from scale_data.py
    (``--months 12``), or the sample generator's messy export (tickets answered and resolved,
    status history, dirty rows) sized like bench/bench.py's."""
    if generator == "scale":
        return scale_data(entries, "parquet", months=12)
    target = DATA / f"whole-year-sample-{entries}"
    if not (target / "tickets.csv").exists():
        from audit.sample import generate
        from bench import ENTRIES_PER_TICKET

        print(f"generating {target.name}", file=sys.stderr)
        generate(target, seed=11, months=12, tickets=max(1, int(entries / ENTRIES_PER_TICKET)),
                 start="2026-01", fmt="csv", dirty=True)
    return target


def alternate(a: list[str], b: list[str], pairs: int, tmp: Path, label: str) -> list[tuple]:
    """Run ``a`` and ``b`` (each given a fresh ``OUT`` directory as its last argument) ``pairs``
    times alternately; per pair: (a, b) as (wall s, cpu s, peak RSS MiB)."""
    results = []
    for i in range(pairs):
        order = [("a", a), ("b", b)] if i % 2 == 0 else [("b", b), ("a", a)]
        got = {}
        for key, argv in order:
            out = tmp / f"{key}-{i}"
            got[key] = timed_process([*argv, str(out)])[:3]
            shutil.rmtree(out, ignore_errors=True)
        results.append((got["a"], got["b"]))
        print(f"  {label} pair {i + 1}: {got['a'][0]:.2f} s / {got['b'][0]:.2f} s, "
              f"{got['a'][2]:,.0f} / {got['b'][2]:,.0f} MiB", file=sys.stderr)
    return results


def summarise(pairs: list[tuple]) -> dict[str, float]:
    """Medians of each side and of the per-pair ratios (a / b) for wall, cpu and peak RSS."""
    med = statistics.median
    out = {}
    for i, name in enumerate(("wall", "cpu", "rss")):
        out[f"a_{name}"] = med(p[0][i] for p in pairs)
        out[f"b_{name}"] = med(p[1][i] for p in pairs)
        out[f"ratio_{name}"] = med(p[0][i] / p[1][i] for p in pairs)
        out[f"ratio_{name}_min"] = min(p[0][i] / p[1][i] for p in pairs)
        out[f"ratio_{name}_max"] = max(p[0][i] / p[1][i] for p in pairs)
    return out


def row(label: str, s: dict[str, float]) -> str:
    return (f"| {label} | {s['a_wall']:.2f} | {s['b_wall']:.2f} | **{s['ratio_wall']:.2f}×** "
            f"({s['ratio_wall_min']:.2f}–{s['ratio_wall_max']:.2f}) | {s['a_cpu']:.2f} | {s['b_cpu']:.2f} | "
            f"{s['a_rss']:,.0f} | {s['b_rss']:,.0f} | {s['ratio_rss']:.2f}× |")


def scaling_svg(series: dict[str, list[tuple[int, float]]], title: str) -> str:
    """A small log-log line chart (SVG text) of seconds over time entries, one line per series."""
    w, h, left, right, top, bottom = 560, 320, 60, 150, 30, 40
    xs = sorted({x for pts in series.values() for x, _ in pts})
    ys = [y for pts in series.values() for _, y in pts]
    x0, x1 = math.log10(min(xs)), math.log10(max(xs))
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 if y1 > y0 else y0 + 1

    def px(x: float) -> float:
        return left + (math.log10(x) - x0) / (x1 - x0) * (w - left - right)

    def py(y: float) -> float:
        return h - bottom - (math.log10(y) - y0) / (y1 - y0) * (h - top - bottom)

    colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
             f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<text x="{left}" y="18" font-size="13">{title}</text>']
    for e in range(y0, y1 + 1):
        y = py(10 ** e)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{w - right}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{10 ** e:g} s</text>')
    for x in xs:
        parts.append(f'<line x1="{px(x):.1f}" y1="{top}" x2="{px(x):.1f}" y2="{h - bottom}" stroke="#eee"/>')
        parts.append(f'<text x="{px(x):.1f}" y="{h - bottom + 16}" text-anchor="middle">{x:,}</text>')
    parts.append(f'<text x="{(left + w - right) / 2:.0f}" y="{h - 6}" text-anchor="middle">'
                 'time entries (log scale)</text>')
    for i, (name, pts) in enumerate(series.items()):
        colour = colours[i % len(colours)]
        line = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in sorted(pts))
        dash = ' stroke-dasharray="5,3"' if name.startswith("floor") else ""
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        for x, y in pts:
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        ly = top + 10 + 18 * i
        parts.append(f'<line x1="{w - right + 10}" y1="{ly}" x2="{w - right + 30}" y2="{ly}" '
                     f'stroke="{colour}" stroke-width="2"{dash}/>')
        parts.append(f'<text x="{w - right + 35}" y="{ly + 4}">{name}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000",
                    help="time entries per dataset, comma-separated (default: 100000,1000000)")
    ap.add_argument("--formats", default="parquet,csv", help="parquet, csv or both (comma-separated)")
    ap.add_argument("--pairs", type=int, default=3, help="alternating pairs per comparison (≥ 3)")
    ap.add_argument("--out", type=Path, help="also write the Markdown to this file")
    ap.add_argument("--svg", type=Path, default=ROOT / "docs" / "whole-scaling.svg",
                    help="where the scaling chart goes (default: docs/whole-scaling.svg)")
    ap.add_argument("--no-messy", action="store_true", help="skip the messy-CSV comparison")
    ap.add_argument("--no-sla", action="store_true",
                    help="audit with the shipped bundle minus its SLA section (a copy made here), "
                         "the rules the floor judges: the kit's tickets are all open and never "
                         "answered, so with the SLA every one of them is also judged overdue")
    ap.add_argument("--period-bench", metavar="YYYY-MM",
                    help="also time one month against the whole year of a 12-month dataset")
    ap.add_argument("--period-data", choices=["scale", "sample"], default="scale",
                    help="the year for --period-bench: scale_data.py --months 12 (clean Parquet, "
                         "every ticket still open) or the sample generator (messy CSV)")
    ap.add_argument("--memory-limit", metavar="SIZE",
                    help="pass --memory-limit SIZE to every `support-audit run` (DuckDB's cap: "
                         "a smaller machine's budget; without it DuckDB takes 80 %% of the RAM)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    formats = [f for f in args.formats.split(",") if f]
    if args.pairs < 1 or not sizes or any(f not in ("parquet", "csv") for f in formats):
        ap.error("--pairs ≥ 1, at least one size, formats from parquet,csv")

    head = ("| data | run wall s | floor wall s | run / floor wall (median of pairs; range) | "
            "run cpu s | floor cpu s | run peak MiB | floor peak MiB | run / floor peak |")
    lines = [f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}, load average "
             f"{os.getloadavg()[0]:.1f} at the start; {args.pairs} alternating pairs each, medians"
             + (f"; `run --memory-limit {args.memory_limit}`." if args.memory_limit else "."),
             "", head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    series: dict[str, list[tuple[int, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-whole-") as tmp_name:
        cli = [*CLI[:4], "--policy", billing_only(Path(tmp_name)) if args.no_sla else "policies",
               *CLI[6:], *(["--memory-limit", args.memory_limit] if args.memory_limit else [])]
        tmp = Path(tmp_name)
        for fmt in formats:
            for n in sizes:
                data = scale_data(n, fmt)
                s = summarise(alternate([*cli, "--data", str(data), "--out"],
                                        [sys.executable, str(ROOT / "bench" / "floor_audit.py"), str(data)],
                                        args.pairs, tmp, f"{n:,} {fmt}"))
                lines.append(row(f"{n:,} clean {fmt}", s))
                series.setdefault(f"run {fmt}", []).append((n, s["a_wall"]))
                series.setdefault(f"floor {fmt}", []).append((n, s["b_wall"]))
        extra = []
        if not args.no_messy:
            extra += ["", "Messy CSV (bench/bench.py's generator: dirty rows, planted errors, status history, "
                      "agents) against clean CSV of the same nominal number of time entries (the generator "
                      "sizes by tickets: ±1 %), both `run`:", "",
                      "| time entries | messy wall s | clean wall s | messy / clean wall | messy cpu s | "
                      "clean cpu s | messy peak MiB | clean peak MiB |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for n in sizes:
                messy = messy_data(n)
                clean = scale_data(n, "csv")
                s = summarise(alternate([*cli, "--data", str(messy), "--out"],
                                        [*cli, "--data", str(clean), "--out"], args.pairs, tmp, f"{n:,} messy"))
                extra.append(f"| ≈{n:,} | {s['a_wall']:.2f} | {s['b_wall']:.2f} | "
                             f"**{s['ratio_wall']:.2f}×** ({s['ratio_wall_min']:.2f}–{s['ratio_wall_max']:.2f}) | "
                             f"{s['a_cpu']:.2f} | {s['b_cpu']:.2f} | {s['a_rss']:,.0f} | {s['b_rss']:,.0f} |")
        if args.period_bench:
            source = ("clean Parquet, `scale_data.py --months 12`" if args.period_data == "scale"
                      else "the sample generator's messy CSV, 2026-01 to 2026-12")
            extra += ["", f"`--period {args.period_bench}` against the whole year ({source}), both `run`:", "",
                      "| time entries | one month wall s | whole year wall s | month / year wall | "
                      "month cpu s | year cpu s | month peak MiB | year peak MiB |",
                      "|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for n in sizes:
                data = year_data(n, args.period_data)
                s = summarise(alternate([*cli, "--data", str(data), "--period", args.period_bench, "--out"],
                                        [*cli, "--data", str(data), "--out"], args.pairs, tmp, f"{n:,} period"))
                extra.append(f"| {n:,} | {s['a_wall']:.2f} | {s['b_wall']:.2f} | **{s['ratio_wall']:.0%}** "
                             f"({s['ratio_wall_min']:.0%}–{s['ratio_wall_max']:.0%}) | {s['a_cpu']:.2f} | "
                             f"{s['b_cpu']:.2f} | {s['a_rss']:,.0f} | {s['b_rss']:,.0f} |")
    lines += extra
    if len(sizes) > 1:
        args.svg.write_text(scaling_svg(series, "support-audit run vs floor: median wall seconds"),
                            encoding="utf-8")
        lines += ["", f"Scaling chart written to {args.svg.relative_to(ROOT) if args.svg.is_relative_to(ROOT) else args.svg}."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
