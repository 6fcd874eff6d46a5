"""Benchmark: an adapter mapping a product export of a stated size (``support-audit import``).

    .venv/bin/python bench/bench_adapters.py --rows 100000 --rows 20000

Writes a Kimai CSV export (German header, 27 columns, a ticket reference in each description)
of each size into a temporary folder and runs ``support-audit import --from kimai`` on it in a
child process: wall time, CPU time and peak memory of the child (``wait4``). Prints a Markdown
table; nothing here asserts a time (the figures go into docs/adapters.md, "Scale").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = (
    "Datum;Von;Bis;Dauer;Währung;Preis;Interner Preis;Stundenpreis;Festpreis;Name;Benutzer;E-Mail;"
    "Personalnummer;Kunde;Projekt;Tätigkeit;Beschreibung;Abrechenbar;Schlagworte;Typ;Kategorie;"
    "Konto;Projektnummer;USt-ID;Bestellnummer;Standort;Standort\n"
)


def export(path: Path, rows: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(HEADER)
        for i in range(rows):
            start = 8 * 60 + (i * 7) % 540
            end = start + 5 + i % 90
            f.write(f"2026-06-{i % 28 + 1:02d};{start // 60:02d}:{start % 60:02d};{end // 60:02d}:{end % 60:02d};"
                    f"{(end - start) // 60}:{(end - start) % 60:02d};EUR;0;0;0;;Anna Schmidt;anna;a@example.org;;"
                    f"Kunden;Support;Support;Ticket#{100000 + i % 5000} bearbeitet;ja;;timesheet;work;;;;;Büro;Remote\n")


def measure(path: Path, out: Path) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "audit", "import", "--from", "kimai", "--out", str(out), str(path)],
                            stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"import failed on {path}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="rows of the export (repeatable)")
    sizes = parser.parse_args().rows or [20_000]
    print("| rows | wall s | CPU s | peak MB |\n|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for rows in sizes:
            path = Path(tmp) / f"kimai-{rows}.csv"
            export(path, rows)
            wall, cpu, mb = measure(path, Path(tmp) / f"out-{rows}")
            print(f"| {rows:,} | {wall:.1f} | {cpu:.1f} | {mb} |", flush=True)


if __name__ == "__main__":
    main()
