"""``generate()``: the seeded sample export with planted errors and its ground truth.

Streaming: blocks of tickets are made and written a chunk at a time; invoice lines, findings and
quarantine records wait in a disk spool until the tables they follow are written. Memory stays
bounded by the chunk size, whatever the number of tickets.

The output depends only on the arguments (not on the chunk size, the clock or hash seeds): the
same call gives byte-identical files.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Literal

from audit.errors import UsageError
from audit.sample.agents import agent_rows
from audit.sample.block import BLOCK_TICKETS, PLANT_RATE, Context, build_block
from audit.sample.clock import Window, parse_month
from audit.sample.euserv import FIRST_PRICED_DATE
from audit.sample.formats import BLOCK_TABLES, TABLE_ORDER
from audit.sample.writers import Spool, TableSet, write_atomic

GROUND_TRUTH = "ground_truth.json"
FORMAT_VERSION = 1


def generate(
    out_dir: Path,
    *,
    seed: int = 7,
    months: int = 3,
    tickets: int = 400,
    start: str = "2026-05",
    fmt: Literal["csv", "parquet"] = "csv",
    dirty: bool = True,
    progress: Callable[[str], None] | None = None,
    chunk_tickets: int = 50_000,
) -> dict:
    """Write the six tables and ``ground_truth.json`` into ``out_dir``; return statistics.

    ``chunk_tickets``: tickets made before they are written (the memory bound; rounded up to
    whole blocks of 200). Raises :class:`~audit.errors.UsageError` for impossible arguments.
    """
    began = time.perf_counter()
    out = Path(out_dir)
    window = _validate(out, seed, months, tickets, start, fmt, chunk_tickets)
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(seed, window, dirty)
    n_blocks = math.ceil(tickets / BLOCK_TICKETS)
    per_chunk = max(1, math.ceil(chunk_tickets / BLOCK_TICKETS))
    planted: Counter[str] = Counter()
    money = dict.fromkeys(("under", "over", "waived"), Decimal("0.00"))

    tables = TableSet(out, fmt)
    try:
        with tempfile.TemporaryDirectory(dir=out, prefix=".sample-") as tmp:
            spool = Spool(Path(tmp))
            for first in range(0, n_blocks, per_chunk):
                blocks = [
                    build_block(ctx, k, min(BLOCK_TICKETS, tickets - k * BLOCK_TICKETS))
                    for k in range(first, min(n_blocks, first + per_chunk))
                ]
                for table in BLOCK_TABLES:
                    rows = [row for b in blocks for row in getattr(b, table)]
                    spool.add(f"quarantine/{table}", tables[table].write(rows))
                for b in blocks:
                    for month, rows in b.lines.items():
                        spool.add(f"lines/{month}", rows)
                    spool.add("findings", b.findings)
                    planted.update(b.planted)
                    money["under"] += b.under_eur
                    money["over"] += b.over_eur
                    money["waived"] += b.waived_eur
                if progress:
                    done = min(tickets, (first + len(blocks)) * BLOCK_TICKETS)
                    progress(f"{done}/{tickets} tickets")
            for key in spool.keys():
                if key.startswith("lines/"):
                    lines = tables["invoice_lines"].write(spool.items(key))
                    spool.add("quarantine/invoice_lines", lines)
            spool.add("quarantine/agents", tables["agents"].write(agent_rows(dirty)))
            tables.close()

            findings = Counter()
            for f in spool.items("findings"):
                findings[(f["kind"], f["status"])] += 1
            quarantined = Counter(q["table"] for t in TABLE_ORDER for q in spool.items(f"quarantine/{t}"))
            rows = {
                t: {"in": tables[t].rows, "loaded": tables[t].rows - quarantined[t], "quarantined": quarantined[t]}
                for t in TABLE_ORDER
            }
            header = {
                "generator": {
                    "name": "support-audit sample-data", "version": FORMAT_VERSION, "seed": seed,
                    "months": months, "tickets": tickets, "start": start, "format": fmt,
                    "dirty": dirty, "block_tickets": BLOCK_TICKETS, "plant_rate": str(PLANT_RATE),
                    "policy": "policies/ (euserv-support 1.0.0)",
                },
                "rows": rows,
                "money": {
                    "under_billed_eur": f"{money['under']:.2f}",
                    "over_billed_eur": f"{money['over']:.2f}",
                    "net_eur": f"{money['under'] + money['over']:.2f}",
                    "waived_eur": f"{money['waived']:.2f}",
                },
                "planted": dict(sorted(planted.items())),
                "counts": {
                    kind: {"open": findings[(kind, "open")], "waived": findings[(kind, "waived")]}
                    for kind in sorted({k for k, _ in findings})
                },
            }
            write_atomic(out / GROUND_TRUTH, _ground_truth_json(header, spool))
        files = [p.name for p in tables.commit()] + [GROUND_TRUTH]
    except BaseException:
        tables.abort()
        raise
    return {
        "out_dir": str(out),
        "files": files,
        "rows": {t: r["in"] for t, r in rows.items()},
        "quarantined": {t: r["quarantined"] for t, r in rows.items()},
        "planted": dict(sorted(planted.items())),
        "findings": {k: v["open"] + v["waived"] for k, v in header["counts"].items()},
        "money": header["money"],
        "seconds": round(time.perf_counter() - began, 3),
    }


def _ground_truth_json(header: dict, spool: Spool) -> Iterator[str]:
    """The ground truth as JSON text: the header keys, then one finding / quarantine record a
    line (readable in a diff, streamable for millions of rows)."""
    def dump(obj) -> str:
        return json.dumps(obj, ensure_ascii=False)

    yield "{\n"
    for key, value in header.items():
        yield f"  {dump(key)}: {dump(value)},\n"
    for key, items, last in (
        ("findings", spool.items("findings"), False),
        ("quarantine", (q for t in TABLE_ORDER for q in spool.items(f"quarantine/{t}")), True),
    ):
        yield f"  {dump(key)}: ["
        sep = "\n    "
        for item in items:
            yield sep + dump(item)
            sep = ",\n    "
        yield ("\n  ]" if sep != "\n    " else "]") + ("\n" if last else ",\n")
    yield "}\n"


def _validate(out: Path, seed, months, tickets, start, fmt, chunk_tickets) -> Window:
    def bad(option: str, value, what: str) -> UsageError:
        return UsageError(f"{option} {value}: {what}")

    if not isinstance(seed, int) or seed < 0:
        raise bad("--seed", seed, "must be a whole number ≥ 0")
    if not isinstance(months, int) or not 1 <= months <= 120:
        raise bad("--months", months, "must be between 1 and 120")
    if not isinstance(tickets, int) or tickets < 1:
        raise bad("--tickets", tickets, "must be at least 1")
    if not isinstance(chunk_tickets, int) or chunk_tickets < 1:
        raise bad("chunk_tickets", chunk_tickets, "must be at least 1")
    if fmt not in ("csv", "parquet"):
        raise bad("--format", fmt, "unknown format (use csv or parquet)")
    try:
        year, month = parse_month(start)
    except (TypeError, ValueError):
        raise bad("--start", start, "not a month (write YYYY-MM, e.g. 2026-05)") from None
    if (year, month) < (FIRST_PRICED_DATE.year, FIRST_PRICED_DATE.month):
        raise bad("--start", start, f"the default price list starts on {FIRST_PRICED_DATE} "
                  f"(use --start {FIRST_PRICED_DATE:%Y-%m} or later)")
    if out.exists() and not out.is_dir():
        raise bad("--out", out, "is a file (give a directory)")
    return Window(start, months)
