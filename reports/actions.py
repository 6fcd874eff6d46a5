"""The billing action list: what to invoice and what to credit, per customer and ticket-month.

One row per reconciliation row (ticket-month) that needs billing to act:

- ``invoice``: ``delta_eur > 0`` (revenue not invoiced),
- ``credit``: ``delta_eur < 0`` (over-billed, refund),
- ``waived``: the money is covered by an approved waiver (every finding with money on that
  ticket-month is waived); listed so nothing is silent, excluded from the amounts to act on,
- ``review``: ``delta_eur`` is NULL (unclassified or unpriced ticket-month): a person decides.

Two further kinds of row stand beside them, each with its own total, never in the billing totals
(invoice, credit, waived) nor in the bridge:

- ``check``: one per open signal finding with money at stake (``at_stake_eur > 0``), worded as a
  check ("check: possibly 4 units = 76.00 € not invoiced …"); ``at_stake_units`` /
  ``at_stake_eur`` hold the amount, ``delta_eur`` stays NULL (a signal is a hint, not a
  difference);
- ``sla_credit``: one per customer and month with open SLA breach findings that owe a credit
  (``delta_eur < 0``): the credits after the monthly cap, summed (``delta_eur`` = −Σ credits, like
  over-billing), with the arithmetic (tickets, targets, measured minutes, due instants).

Amounts of the billing rows are the reconciliation's ``delta_eur`` (never sums of findings,
docs/semantics.md), so a ticket-month with two findings is one action. Their texts come from the
texts layer (``audit/texts``: ``action.check``, ``action.sla_credit``) in every text language. ``actions.csv`` holds every row; the HTML page
shows the biggest customers first and may stop after ``limit`` rows. The CSV is written by
:func:`audit.outputs.csv_text`, so it neutralises formula text exactly as findings.csv does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa

from audit.outputs import csv_text, parquet_rows, write_csv_query
from audit.policy.model import SLA_KINDS
from audit.texts import LANGUAGES as TEXT_LANGUAGES
from audit.texts import column
from audit.texts.actions import SIGNAL_ACTION, SLA_ACTION, signal_and_sla_rows
from reports.load import Frame, RunOutputs, Table, collect, height, names, with_text

CSV_COLUMNS = (
    "customer_id", "customer_name", "ticket_id", "month", "action", "agent", "policy_tier",
    "recorded_tier", "expected_units", "expected_eur", "billed_units", "billed_eur", "delta_eur",
    "at_stake_units", "at_stake_eur", "invoice_ids", "waiver_ids", "finding_ids", "explanation",
)
#: The actions of billing rows (they make the totals and the bridge), then the other two.
BILLING_ACTIONS = ("invoice", "credit", "waived", "review")
ZERO = Decimal("0.00")


def billing_money(findings: Frame) -> Frame:
    """The findings that move billing money: a non-zero ``delta_eur``, SLA kinds left out. An
    SLA credit is owed on top of the billing (expected −credit, billed 0.00): it moves no euro
    between Σ expected and Σ billed, and neither opens nor waives a ticket-month's action (the
    SLA section lists it)."""
    return findings.filter(pl.col("delta_eur").is_not_null() & (pl.col("delta_eur") != 0)
                           & ~pl.col("kind").is_in(list(SLA_KINDS)))


def action_rows(reconciliation: Table, findings: Table,
                lang: str = "en", classifications: Table | None = None, *,
                timezone: str = "UTC", credit_cap: Decimal | None = None,
                run: RunOutputs | None = None) -> pl.DataFrame:
    """Ticket-months billing must act on, with their action, then the signal checks and the SLA
    credits per customer-month; sorted by customer, ticket (SLA rows last), month, action.

    Besides the English ``explanation`` each row keeps the run's further text languages
    (``explanation_de`` …) and ``text``: the explanation in ``lang`` (English when the run has
    no text in that language). ``timezone`` writes the SLA due instants in local time;
    ``credit_cap`` (the policy's monthly cap per customer) is named where a month reaches it.

    ``run``: the tables are that run's lean scans (``load_outputs(lean=True)``, no texts): the
    billing rows' explanations (and ``text``) stay NULL, to be read for the rows that are shown
    (:func:`explained`) or written (:func:`write_actions_csv`); the check rows' messages are
    read for their findings.

    The rows are made :data:`PART_ROWS` reconciliation rows at a time, in ranges of customers
    (the list's first sort key, so the parts in order are the sorted whole): a run with
    millions of ticket-months never holds the intermediate tables of all of them at once."""
    pieces = list(action_parts(reconciliation, findings, lang, classifications, timezone=timezone,
                               credit_cap=credit_cap, run=run))
    return pl.concat(pieces) if len(pieces) > 1 else pieces[0]


def action_parts(reconciliation: Table, findings: Table, lang: str,
                 classifications: Table | None, *, timezone: str,
                 credit_cap: Decimal | None, run: RunOutputs | None) -> Iterator[pl.DataFrame]:
    """The rows of :func:`action_rows` in parts, in order: one range of customers each. The
    tables are frames, or scans of the run's files (reports.load): a part reads its customers'
    rows as it is made, so the list of any size is made in the memory of one part."""
    parts = max(1, -(-height(reconciliation) // PART_ROWS))
    bounds: list[str] = []
    if parts > 1:  # as many customers in each range (a range may hold no rows: harmless)
        customers = collect(pl.concat([reconciliation.lazy().select("customer_id"),
                                       findings.lazy().select("customer_id")])
                            .drop_nulls().unique().sort("customer_id"))[0].get_column("customer_id")
        bounds = sorted({customers[i * customers.len() // parts] for i in range(1, parts)}
                        if customers.len() else set())
    customer = pl.col("customer_id")
    codes = [c for c in TEXT_LANGUAGES if c == "en" or column("explanation", c) in (
        run.text_columns("reconciliation.parquet") if run is not None else names(reconciliation))]
    # the check and SLA credit rows (their texts read once, for all parts)
    others = signal_and_sla_rows(findings, codes, timezone, credit_cap,
                                 texts=run.findings_in_full if run is not None else None)
    tables = (reconciliation, findings, classifications, others)
    per_customer = [f is not None and "customer_id" in names(f) for f in tables]
    for lo, hi in zip([None, *bounds], [*bounds, None], strict=True):
        if lo is None and hi is None:
            frames = tables
        else:
            if lo is None:
                inside = customer < hi
            elif hi is None:
                inside = (customer >= lo) | customer.is_null()  # NULL sorts last
            else:
                inside = (customer >= lo) & (customer < hi)
            frames = tuple(f.filter(inside) if by_customer else f
                           for f, by_customer in zip(tables, per_customer, strict=True))
        yield _action_rows(*frames, lang, run=run)


def spool_action_rows(directory: Path, reconciliation: Table, findings: Table,
                      lang: str, classifications: Table | None, *, timezone: str,
                      credit_cap: Decimal | None, run: RunOutputs | None) -> pl.LazyFrame:
    """:func:`action_rows` written part by part to Parquet files in ``directory`` (with each
    row's position in ``_pos``; files in name order are the list), returned as a scan of them
    (without ``_pos``): the
    list of a run with millions of ticket-months is never in memory whole
    (:func:`action_list` and :func:`write_actions_csv` read it from the files)."""
    directory.mkdir(parents=True, exist_ok=True)
    pos, schema = 0, None
    for i, part in enumerate(action_parts(reconciliation, findings, lang, classifications,
                                          timezone=timezone, credit_cap=credit_cap, run=run)):
        schema = schema or part.schema  # every part in the types of the first
        part.cast(dict(schema)).with_row_index("_pos", offset=pos).write_parquet(
            directory / f"part-{i:05d}.parquet", compression="lz4", row_group_size=65_536)
        pos += part.height
    return pl.scan_parquet(directory / SPOOL_GLOB).drop("_pos")


#: The files of a spooled action list, in order (:func:`spool_action_rows`).
SPOOL_GLOB = "part-*.parquet"


#: Reconciliation rows per part of :func:`action_rows` (its peak memory, not its result).
PART_ROWS = 500_000


def _action_rows(reconciliation: Table, findings: Table,
                 classifications: Table | None, others: pl.DataFrame, lang: str, *,
                 run: RunOutputs | None) -> pl.DataFrame:
    """:func:`action_rows` of one range of customers (``others``: its check and SLA credit
    rows, :func:`~audit.texts.actions.signal_and_sla_rows`)."""
    recon = reconciliation.lazy()  # one plan, collected once: no intermediate copies
    if run is not None:
        texts = run.text_columns("reconciliation.parquet")
        recon = recon.with_columns(pl.lit(None, pl.String).alias(c) for c in texts)
    money = billing_money(findings.lazy())  # they decide a ticket-month's action
    # Sorted once, then joined per group in that order: a sort inside each group's aggregation
    # costs polars microseconds per group (1.2 s against 0.3 s for 130k ticket-months).
    key = ["ticket_id", "month"]
    waivers = (money.filter(pl.col("waiver_id").is_not_null()).select(*key, "waiver_id").unique()
               .sort(*key, "waiver_id").group_by(key, maintain_order=True)
               .agg(pl.col("waiver_id").str.join(",").alias("waiver_ids")))
    per_tm = (money.sort(*key, "finding_id").group_by(key, maintain_order=True).agg(
        (pl.col("status") == "open").any().alias("has_open"),
        pl.col("finding_id").str.join(",").alias("finding_ids"),
    ).join(waivers, on=key, how="left"))
    delta = pl.col("delta_eur")
    action = (
        pl.when(delta.is_null()).then(pl.lit("review"))
        .when(pl.col("waiver_ids").is_not_null() & ~pl.col("has_open").fill_null(False))
        .then(pl.lit("waived"))
        .when(delta > 0).then(pl.lit("invoice"))
        .otherwise(pl.lit("credit"))
    )
    extra = [c for c in recon.collect_schema().names() if c.startswith("explanation_")]
    # who should act: the agent with the most time on the ticket (classifications.parquet)
    agents = None
    if classifications is not None and "agent" in names(classifications):
        agents = classifications.lazy().select("ticket_id", "month", "agent").unique(["ticket_id", "month"])
        recon = recon.join(agents, on=["ticket_id", "month"], how="left")
    else:
        recon = recon.with_columns(pl.lit(None, pl.String).alias("agent"))
    billing = (
        recon.filter(delta.is_null() | (delta != 0))
        .join(per_tm, on=["ticket_id", "month"], how="left")
        .with_columns(action.alias("action"), pl.lit(None, pl.Decimal(18, 2)).alias("at_stake_units"),
                      pl.lit(None, pl.Decimal(18, 2)).alias("at_stake_eur"))
        .select(*CSV_COLUMNS, *extra)
    )
    others = others.lazy()
    if agents is not None:
        others = (others.join(agents.rename({"agent": "_agent"}), on=["ticket_id", "month"], how="left")
                  .with_columns(pl.coalesce("agent", "_agent").alias("agent")).drop("_agent"))
    rows = pl.concat([billing, others.select(*CSV_COLUMNS, *extra)], how="vertical_relaxed")
    return (
        with_text(rows, "explanation", lang)
        .sort(pl.col("customer_id"), pl.col("ticket_id"), pl.col("month"),
              pl.col("action").is_in([SIGNAL_ACTION, SLA_ACTION]), pl.col("finding_ids"), nulls_last=True)
        .collect(engine="streaming")
    )


def explained(rows: pl.DataFrame, run: RunOutputs, lang: str) -> pl.DataFrame:
    """Action ``rows`` with the explanations of their ticket-months (and ``text`` in ``lang``)
    read from the run for these rows alone (:func:`action_rows` with ``run`` left them NULL);
    the check and SLA credit rows keep their own."""
    texts = run.text_columns("reconciliation.parquet")
    found = run.explanations(rows.select("ticket_id", "month").unique())
    found = found.rename({c: f"_r_{c}" for c in texts})
    billing = pl.col("action").is_in(BILLING_ACTIONS)
    rows = (rows.join(found, on=["ticket_id", "month"], how="left", maintain_order="left")
            .with_columns(pl.when(billing).then(pl.col(f"_r_{c}")).otherwise(pl.col(c)).alias(c)
                          for c in texts)
            .drop(f"_r_{c}" for c in texts))
    return with_text(rows, "explanation", lang)


#: The memory of the DuckDB that writes actions.csv: it joins the explanations and sorts the
#: rows back into the list's order a chunk of rows at a time (the report runs beside it).
ACTIONS_MEMORY = "1GB"
ACTIONS_CHUNK = 500_000


def write_actions_csv(spool: Path, path: Path, run: RunOutputs) -> None:
    """Write ``actions.csv`` to ``path`` atomically, byte for byte as :func:`actions_csv` writes
    it, from the list :func:`spool_action_rows` wrote to the directory ``spool`` with ``run``:
    DuckDB reads the billing rows' explanations from the run's reconciliation.parquet while it
    writes, :data:`ACTIONS_CHUNK` rows at a time, so the texts of a million ticket-months are
    never in memory at once."""
    import pyarrow.parquet as pq

    from audit.db import connect

    texts = run.text_columns("reconciliation.parquet")
    files = sorted(spool.glob(SPOOL_GLOB))
    schema = pq.read_schema(files[0])
    rows = parquet_rows(files)
    scan = f"read_parquet('{str(spool / SPOOL_GLOB).replace(chr(39), chr(39) * 2)}')"
    columns = [*CSV_COLUMNS, *(c for c in schema.names if c.startswith("explanation_"))]
    schema = pa.schema([schema.field(c) for c in columns])
    billing = ", ".join(f"'{a}'" for a in BILLING_ACTIONS)
    picked = ", ".join(f"CASE WHEN a.action IN ({billing}) THEN r.{c} ELSE a.{c} END AS {c}"
                       if c in texts else f"a.{c}" for c in columns)
    recon = str(run.root / "reconciliation.parquet").replace("'", "''")

    def source(lo: int, hi: int) -> str:
        return (f"(SELECT a._pos, {picked} FROM (SELECT * FROM {scan} WHERE _pos >= {lo} AND _pos < {hi}) a"
                f" LEFT JOIN (SELECT ticket_id, month, {', '.join(texts)} FROM read_parquet('{recon}')) r"
                " ON r.ticket_id = a.ticket_id AND r.month = a.month)")

    con = connect(threads=2, memory_limit=ACTIONS_MEMORY)
    try:
        write_csv_query(con, schema, source, path, order="_pos", rows=rows, chunk=ACTIONS_CHUNK)
    finally:
        con.close()


def actions_csv(actions: pl.DataFrame) -> str:
    """The action list as CSV, written like findings.csv (UTF-8, ``,``, ``\\n``, money with a
    decimal point, text cells that a spreadsheet would run as a formula prefixed with ``'``)."""
    extra = [c for c in actions.columns if c.startswith("explanation_")]
    return csv_text(actions.select(*CSV_COLUMNS, *extra))


@dataclass(frozen=True)
class CustomerActions:
    """One customer's block in the HTML action list, with its subtotals over *all* its rows."""

    customer_id: str
    customer_name: str
    rows: list[dict]
    hidden_rows: int
    invoice_eur: Decimal
    credit_eur: Decimal
    waived_eur: Decimal
    review: int
    sla_credit_eur: Decimal = Decimal("0.00")  # negative: credits owed for SLA breaches
    check_eur: Decimal = Decimal("0.00")  # money at stake of the signal checks (not a total)


@dataclass(frozen=True)
class ActionList:
    customers: list[CustomerActions]
    invoice_eur: Decimal
    credit_eur: Decimal
    waived_eur: Decimal
    review: int
    total_rows: int
    shown_rows: int
    choices: dict[str, list] = field(default_factory=dict)  # filter values of the shown rows
    sla_credit_eur: Decimal = Decimal("0.00")  # Σ of the sla_credit rows (negative), apart
    checks: int = 0  # signal checks, and their money at stake (never part of a total)
    check_eur: Decimal = Decimal("0.00")


def _sums(frame: Table, *by: str) -> pl.DataFrame:
    """Row count, invoice/credit/waived sums and review count (per ``by``, or overall)."""
    delta, action = pl.col("delta_eur"), pl.col("action")

    def money(kind: str) -> pl.Expr:
        return delta.filter(action == kind).sum().fill_null(0).alias(f"{kind}_eur")

    aggs = [pl.len().cast(pl.Int64).alias("n"), money("invoice"), money("credit"), money("waived"),
            (action == "review").sum().alias("review"), money(SLA_ACTION),
            pl.col("at_stake_eur").filter(action == SIGNAL_ACTION).sum().fill_null(0).alias("check_eur"),
            (action == SIGNAL_ACTION).sum().alias("checks")]
    lazy = frame.lazy()
    return (lazy.group_by(*by, maintain_order=True).agg(aggs) if by else lazy.select(aggs)).collect()


def _dec(value) -> Decimal:
    """A polars Decimal sum as a Decimal with cents (a sum of no rows is 0.00)."""
    return ZERO if value is None else Decimal(value).quantize(ZERO)


def action_list(actions: Table, limit: int,
                fill: Callable[[pl.DataFrame], pl.DataFrame] | None = None) -> ActionList:
    """Group by customer, biggest money first (invoice + |credit| + |SLA credits| + the signal
    checks' money at stake: every row's money ranks), at most ``limit`` rows shown.

    ``actions``: a frame, or the scan of :func:`spool_action_rows`. The subtotals and
    totals are polars aggregations over every row; only the rows the page shows become Python
    objects, so a run with a million ticket-months renders in seconds.
    ``fill`` adds what the shown rows need beyond ``actions`` (their texts, :func:`explained`).
    """
    per_customer = (
        _sums(actions, "customer_id")
        .with_columns((pl.col("invoice_eur") - pl.col("credit_eur") - pl.col(f"{SLA_ACTION}_eur")
                       + pl.col("check_eur")).alias("_money"))
        .sort(["_money", "customer_id"], descending=[True, False])
        .with_columns((pl.col("n").cum_sum() - pl.col("n")).alias("_before"))
        .with_columns(pl.min_horizontal(pl.col("n"), (limit - pl.col("_before")).clip(0)).alias("_visible"))
        .filter(pl.col("_visible") > 0)
    )
    shown_rows = (
        actions.lazy()
        .join(per_customer.lazy().select("customer_id", "_visible"), on="customer_id",
              how="inner", maintain_order="left")
        .filter(pl.int_range(pl.len()).over("customer_id") < pl.col("_visible"))
        .drop("_visible")
        .collect()
    )
    if fill is not None:
        shown_rows = fill(shown_rows)
    rows_of: dict[str, list[dict]] = {}
    for row in shown_rows.iter_rows(named=True):
        rows_of.setdefault(row["customer_id"], []).append(row)

    customers = [
        CustomerActions(
            customer_id=c["customer_id"], customer_name=rows_of[c["customer_id"]][0]["customer_name"],
            rows=rows_of[c["customer_id"]], hidden_rows=c["n"] - c["_visible"],
            invoice_eur=_dec(c["invoice_eur"]), credit_eur=_dec(c["credit_eur"]),
            waived_eur=_dec(c["waived_eur"]), review=c["review"],
            sla_credit_eur=_dec(c[f"{SLA_ACTION}_eur"]), check_eur=_dec(c["check_eur"]),
        )
        for c in per_customer.iter_rows(named=True)
    ]
    total = _sums(actions).row(0, named=True)
    return ActionList(
        customers=customers,
        invoice_eur=_dec(total["invoice_eur"]),
        credit_eur=_dec(total["credit_eur"]),
        waived_eur=_dec(total["waived_eur"]),
        review=total["review"],
        sla_credit_eur=_dec(total[f"{SLA_ACTION}_eur"]),
        checks=total["checks"],
        check_eur=_dec(total["check_eur"]),
        total_rows=total["n"],
        shown_rows=sum(len(c.rows) for c in customers),
        choices={
            "action": sorted({r["action"] for c in customers for r in c.rows}),
            "tier": sorted({r["policy_tier"] or "" for c in customers for r in c.rows if r["action"] != SLA_ACTION}),
            "month": sorted({r["month"] for c in customers for r in c.rows}),
            "agent": sorted({r["agent"] for c in customers for r in c.rows if r.get("agent")}),
        },
    )
