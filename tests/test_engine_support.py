"""Shared builders for the engine tests: a few rows in, the engine's answer out.

Not a test module by itself (pytest collects nothing here); the engine tests import it. Rows go
straight into DuckDB through :func:`audit.engine.testing.load_rows`; the policy is the shipped
``policies/`` bundle, copied and edited as *text* when a test needs another rule — the same edit a
finance user would make — and loaded by the real loader.
"""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from audit.engine import EngineResult, run_engine
from audit.engine.testing import load_rows
from audit.policy.loader import load_policy

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"

CUSTOMERS = [
    {"customer_id": "K-1", "name": "Muster GmbH", "contract": "basic"},
    {"customer_id": "K-2", "name": '=HYPERLINK("http://evil.example","click")', "contract": "premium"},
    {"customer_id": "K-10007", "name": "Kulanz AG", "contract": "basic"},
]
SERVICES = [
    {"service_id": "S-1", "customer_id": "K-1", "product": "vserver", "managed": "false"},
    {"service_id": "S-2", "customer_id": "K-1", "product": "managed_server", "managed": "true"},
]


def D(text: str) -> Decimal:
    return Decimal(text)


def ticket(tid: str, category: str, tier: str, **kw: Any) -> dict[str, Any]:
    row = {
        "ticket_id": tid,
        "customer_id": "K-1",
        "service_id": None,
        "opened_at": "2026-03-02 09:00:00",
        "priority": "normal",
        "category": category,
        "tier": tier,
        "subject": "Anfrage",
        "cause": None,
    }
    row.update(kw)
    return row


def entry(eid: str, tid: str, start: str, *, minutes: str | int | None = None, end: str | None = None,
          agent: str = "anna") -> dict[str, Any]:
    return {"entry_id": eid, "ticket_id": tid, "agent": agent, "started_at": start, "ended_at": end,
            "minutes": None if minutes is None else str(minutes)}


def line(lid: str, invoice: str, tid: str, service_date: str, quantity: str, unit_price: str,
         amount: str | None = None, customer: str = "K-1") -> dict[str, Any]:
    if amount is None:
        amount = str((D(quantity) * D(unit_price)).quantize(D("0.01")))
    return {"line_id": lid, "invoice_id": invoice, "customer_id": customer, "ticket_id": tid,
            "service_date": service_date, "quantity": quantity, "unit_price": unit_price, "amount": amount}


def edited_policy(tmp_path: Path, edits: dict[str, list[tuple[str, str]]] | None = None,
                  *, sla: bool = False, files: dict[str, str] | None = None) -> Path:
    """A copy of ``policies/`` with textual edits ``{file: [(old, new), …]}`` (each old must exist)
    and ``files`` ({name: text}) written into it.

    Without ``sla`` the copy has no ``sla.yaml``: these rows are about billing, and tickets
    without response times would otherwise be overdue under the SLA (tests/test_sla.py)."""
    target = tmp_path / "policy"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(POLICIES, target)
    if not sla:
        (target / "sla.yaml").unlink()
    for name, replacements in (edits or {}).items():
        path = target / name
        text = path.read_text(encoding="utf-8")
        for old, new in replacements:
            assert old in text, f"{name}: {old!r} not found (the default policy changed?)"
            text = text.replace(old, new, 1)
        path.write_text(text, encoding="utf-8")
    for name, text in (files or {}).items():
        (target / name).write_text(text, encoding="utf-8")
    return target


def audit(
    tmp_path: Path,
    *,
    tickets: list[dict[str, Any]],
    entries: list[dict[str, Any]] = (),  # type: ignore[assignment]
    lines: list[dict[str, Any]] = (),  # type: ignore[assignment]
    edits: dict[str, list[tuple[str, str]]] | None = None,
    period: str | None = None,
    customers: list[dict[str, Any]] | None = None,
    optional: dict[str, list[dict[str, Any]]] | None = None,
    files: dict[str, str] | None = None,
) -> EngineResult:
    """Run the engine on these rows under the (edited) default policy (``optional``: rows of
    the optional tables, agents and ticket_status_history; ``files``: files added to it)."""
    bundle = load_policy(edited_policy(tmp_path, edits, files=files))
    con = duckdb.connect()
    load_rows(
        con,
        {
            "customers": customers or CUSTOMERS,
            "services": SERVICES,
            "tickets": list(tickets),
            "time_entries": list(entries),
            "invoice_lines": list(lines),
            **(optional or {}),
        },
        timezone=bundle.settings.timezone,
    )
    try:
        return run_engine(con, bundle, period=period)
    finally:
        con.close()


def one(df: pl.DataFrame, **where: Any) -> dict[str, Any]:
    """The single row of ``df`` matching ``where`` (fails loudly when there are 0 or 2+)."""
    sub = df
    for col, value in where.items():
        sub = sub.filter(pl.col(col).is_null() if value is None else pl.col(col) == value)
    assert sub.height == 1, f"expected one row for {where}, got {sub.height}:\n{sub}"
    return sub.row(0, named=True)


def kinds(df: pl.DataFrame, ticket_id: str | None = None) -> list[str]:
    """The sorted finding kinds (of one ticket)."""
    if ticket_id is not None:
        df = df.filter(pl.col("ticket_id") == ticket_id)
    return sorted(df.get_column("kind").to_list())


def count_parts(monkeypatch, table: str) -> list[None]:
    """A list that grows by one for each part of ``table`` the engine writes in parts
    (:func:`audit.db.write_in_parts`, which the engine modules call through ``audit.db``); the
    compression after each part still runs."""
    import audit.db

    parts: list[None] = []
    write = audit.db.write_in_parts

    def counted(con, name, queries):
        if name == table and len(queries) > 1:
            parts.extend(None for _ in queries)
        return write(con, name, queries)

    for module in ("audit.engine.findings", "audit.engine.sla"):
        monkeypatch.setattr(f"{module}.write_in_parts", counted)
    return parts
