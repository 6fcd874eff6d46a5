"""The audit engine: policy bundle + loaded canonical tables → classifications, reconciliation,
findings.

Two phases, each a few modules of set-based DuckDB SQL with no per-row Python:

*evaluate* — the judgement, all numbers:
  :mod:`~audit.engine.policy_tables` (the bundle as small ``policy_*`` relations),
  :mod:`~audit.engine.classify` (``ticket_facts``, the policy tier of every ticket),
  :mod:`~audit.engine.billing` (units, prices, the reconciliation per ticket-month),
  :mod:`~audit.engine.signals` (the work facts signals see, the money at stake),
  :mod:`~audit.engine.findings` (every finding kind, waivers, ids);
*render* — what a clerk reads: :mod:`~audit.engine.render` (explanations, messages, the output
  tables, the export to polars), only for the requested period.

:func:`evaluate` leaves every relation on the connection (``explain`` reads them);
:func:`run_engine` runs both phases and drops the relations afterwards.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import polars as pl

from audit.db import compact
from audit.engine.billing import create_billing
from audit.engine.classify import create_ticket_class, create_ticket_facts
from audit.engine.findings import create_findings
from audit.engine.policy_tables import create_policy_tables
from audit.engine.render import export, render_texts
from audit.engine.signals import create_signal_facts
from audit.engine.sla import RELATIONS as SLA_RELATIONS
from audit.engine.sla import create_sla
from audit.engine.sql import install_macros, on_spark
from audit.policy.model import Bundle

#: Every relation the engine creates, in creation order.
#: Its tables live in the main schema, not TEMP: only there does a checkpoint compress them
#: (``audit.db.compact``, called between a run's stages); scratch tables of one step stay TEMP.
RELATIONS = (
    "policy_tiers", "policy_rules", "policy_prices", "policy_waivers", "ticket_facts",
    "ticket_class", "entry_facts", "line_facts", "recon", *SLA_RELATIONS,
    "signal_ticket", "signal_month", "findings", "tm_text", "recon_inv", "recon_full",
    "sla_text", "ticket_texts", "ticket_info", "line_texts", "finding_messages", "classifications",
)
_VIEWS = {"ticket_facts", "ticket_info", "entry_facts", "line_facts", "recon_full", "sla_clock",
          "finding_messages"}


@dataclass
class EngineResult:
    """The engine's result tables (already restricted to the requested period); None for a
    table ``export`` handed to a sink instead."""

    findings: pl.DataFrame | None
    classifications: pl.DataFrame | None
    reconciliation: pl.DataFrame | None
    #: SLA targets per month × contract × priority × target (None without an ``sla`` section);
    #: see :func:`audit.engine.sla.sla_compliance`.
    sla: pl.DataFrame | None = None


def evaluate(con: duckdb.DuckDBPyConnection, bundle: Bundle, *, as_of: dt.datetime | None = None) -> None:
    """Judge every ticket and ticket-month of the loaded tables (all months): tiers, the
    reconciliation numbers, the SLA clocks, findings with ids and waivers.

    ``as_of``: the instant open tickets are judged at (``sla_overdue_open``); None: the end of
    the last local month a ticket was opened in."""
    install_macros(con)
    create_policy_tables(con, bundle)
    create_ticket_facts(con)
    create_ticket_class(con, bundle)
    create_billing(con, bundle)
    _compact(con)
    create_sla(con, bundle, as_of)  # before the signals: they may read the SLA clocks
    _compact(con)
    create_signal_facts(con, bundle)
    create_findings(con, bundle)


def _compact(con: duckdb.DuckDBPyConnection) -> None:
    """Between steps of :func:`evaluate` on DuckDB: compress the stored tables once they are
    large (:func:`audit.db.compact`; nothing below 512 MiB, so a small audit pays nothing). At
    10 M entries with the SLA judged, the reconciliation and the SLA facts were 2.5 GB plain
    when the findings were written beside them."""
    if not on_spark(con):
        compact(con)


def render_results(con: duckdb.DuckDBPyConnection, bundle: Bundle, period: str | None = None, *,
                   keep: bool = True) -> EngineResult:
    """Texts and output tables of an evaluated connection, for ``period`` or all months.

    ``keep=False`` frees relations as soon as they are no longer needed (for one-shot runs)."""
    render_texts(con, bundle, period)
    return EngineResult(**export(con, period, drop=not keep))


#: Views over the loaded tables, by the table they read.
_VIEWS_OVER = {
    "time_entries": ("entry_facts",),
    "tickets": ("ticket_facts",),
    "services": ("ticket_facts",),
    "customers": ("ticket_facts", "recon_full"),
    "invoice_lines": ("line_facts",),
}


def release_inputs(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...]) -> None:
    """Drop loaded canonical ``tables`` (and the engine's views over them) that no later step
    reads. For one-shot runs (``run_audit``), whose connection is closed afterwards: freeing
    the 10 M time entries as soon as the texts are built lowers the peak memory by gigabytes.
    """
    for table in tables:
        for view in _VIEWS_OVER[table]:
            con.execute(f"DROP VIEW IF EXISTS {view}")
        con.execute(f"DROP TABLE IF EXISTS {table}")


#: Relations only the findings' messages read: a one-shot run drops them once the findings are
#: exported (``ticket_class`` lives on until the reconciliation is exported: it has the
#: ticket's tiers).
TEXT_ONLY = ("finding_messages", "sla_text", "ticket_info", "ticket_texts", "line_texts")


def _drop(con: duckdb.DuckDBPyConnection, names: tuple[str, ...]) -> None:
    """Drop the engine relations ``names`` (views and tables alike), if they exist."""
    for name in names:
        con.execute(f"DROP {'VIEW' if name in _VIEWS else 'TABLE'} IF EXISTS {name}")


def release_text_inputs(con: duckdb.DuckDBPyConnection) -> None:
    """Drop :data:`TEXT_ONLY` (for one-shot runs; ``explain`` keeps every relation)."""
    _drop(con, TEXT_ONLY)


def drop_relations(con: duckdb.DuckDBPyConnection) -> None:
    """Free the engine's relations (the result tables live on in polars)."""
    _drop(con, tuple(reversed(RELATIONS)))


def run_engine(
    con: duckdb.DuckDBPyConnection, bundle: Bundle, *, period: str | None = None,
    as_of: dt.datetime | None = None,
) -> EngineResult:
    """Run the audit rules over the loaded tables; results for ``period`` (YYYY-MM) or all months."""
    if as_of is None and period is not None and bundle.sla is not None:
        from audit.engine.sla import default_as_of

        as_of = default_as_of(con, bundle.settings.timezone, period)
    evaluate(con, bundle, as_of=as_of)
    try:
        return render_results(con, bundle, period, keep=False)
    finally:
        drop_relations(con)


__all__ = ["EngineResult", "drop_relations", "evaluate", "release_inputs", "release_text_inputs",
           "render_results", "run_engine"]
