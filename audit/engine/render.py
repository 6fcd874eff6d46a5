"""Render the engine's results: the arithmetic as text, the output tables, the export to polars.

The judgement (tiers, numbers, findings, waivers) is complete before this stage; here the
numbers are turned into what a clerk reads — the reconciliation's ``explanation`` and every
finding's ``message`` — and the three result tables of docs/outputs.md are assembled. Texts are
built only where they are read: for the requested period, and the per-entry arithmetic only for
billable ticket-months (a standard ticket-month's explanation needs no unit prices).

Relations created: ``tm_text`` (entry arithmetic per billable ticket-month), ``recon_inv``
(the invoices of a duplicate), the views ``recon_full`` (recon + texts + ``explanation``) and
``finding_messages`` (computed as they are exported), ``classifications``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import duckdb
import polars as pl
import pyarrow as pa

from audit.engine.classify import opened_month_sql
from audit.engine.findings import FINDING_COLUMNS, SOURCES, enabled_kinds
from audit.engine.policy_tables import section_loc
from audit.engine.sla import create_sla_text, sla_compliance
from audit.engine.spans import ALL_MONTHS, Span, counts_sql, cut_spans, span_filter, span_params
from audit.engine.sql import in_period, lit, on_spark, shared_relation
from audit.policy.model import Bundle
from audit.texts import LANGUAGES as TEXT_LANGUAGES
from audit.texts import Lang, column
from audit.texts import install as install_languages
from audit.texts import languages as text_languages

CLASSIFICATION_COLUMNS = (
    "ticket_id", "customer_id", "month", "recorded_tier", "policy_tier", "rule_id", "rule_clause",
    "policy_file", "policy_line", "agent", "tracked_seconds", "expected_units",
)

RECONCILIATION_COLUMNS = (
    "ticket_id", "customer_id", "customer_name", "month", "policy_tier", "recorded_tier", "rule_id",
    "entries", "tracked_seconds", "expected_units", "expected_eur", "billed_units", "billed_eur",
    "invoice_ids", "delta_eur", "explanation",
)


def _calc_sql(b, L: Lang) -> tuple[str, str, str, str]:
    """(entry item, calc, price term, weighted term) of the entry arithmetic in ``L``."""
    if b.scope == "entry":
        entry_text = f"{L.minutes('seconds')} || ' → ' || {L.units('CAST(units AS BIGINT)')}"
        calc = f"""
            {L.entries('t.entries')} || ': ' || array_to_string(x.{column('entry_list', L.code)}, ', ') || '; '
            || coalesce(CASE WHEN t.min_price = t.max_price
                             THEN {L.units('t.units')} || ' × ' || {L.money('t.min_price')}
                             ELSE m.{column('price_terms', L.code)} END
                        || ' = ' || {L.money('t.amount_if_priced')}, '')
        """
    else:
        entry_text = L.minutes("seconds")
        calc = f"""
            {L.entries('t.entries')} || ': ' || array_to_string(x.{column('entry_list', L.code)}, ', ')
            || CASE WHEN t.entries > 1 THEN ' = ' || {L.minutes('t.tracked_seconds')} ELSE '' END
            || ' → ' || {L.units('t.units')} || '; '
            || CASE WHEN t.min_price = t.max_price
                    THEN {L.units('t.units')} || ' × ' || {L.money('t.min_price')} || ' = '
                         || {L.money('t.amount_if_priced')}
                    WHEN t.min_price IS NOT NULL
                    THEN {L.units('t.units')} || ' × (' || m.{column('weighted_terms', L.code)} || ') ÷ '
                         || {L.minutes('t.tracked_seconds')} || ' = ' || {L.money('t.amount_if_priced')}
                    ELSE '' END
        """
    price_term = f"{L.units('units')} || ' × ' || {L.money('unit_price')}"
    weighted_term = f"{L.minutes('secs')} || ' × ' || {L.money('unit_price')}"
    return entry_text, calc, price_term, weighted_term


def create_tm_text(con: duckdb.DuckDBPyConnection, bundle: Bundle, period: str | None,
                   langs: list[Lang] | None = None) -> None:
    """Create ``tm_text(ticket_id, month, calc, calc_de …)``: e.g. ``3 entries: 47 min → 4 units,
    …; 6 units × 17.50 € = 105.00 €`` for each billable ticket-month with time, in every text
    language (``calc`` English, ``calc_<lang>`` the others).

    The entries of those ticket-months are read from ``entry_facts`` once (``tm_entries``,
    sorted by month, so each month's pass below reads only its own blocks); an entry's text
    (``47 min → 4 units``) is formatted once per distinct duration and unit count
    (``entry_text``: thousands of rows, not millions) and joined in. One ordered pass per month
    gives the entry lists; only ticket-months with more than one price in force (a price change
    inside the month) take a second, per-price pass.
    """
    langs = langs or [Lang("en")]
    parts = [_calc_sql(bundle.billing, L) for L in langs]
    keys = ["seconds", "units"] if bundle.billing.scope == "entry" else ["seconds"]
    lists = ", ".join(
        f"list(et.{column('entry', L.code)} ORDER BY e.started_at, e.entry_id) AS {column('entry_list', L.code)}"
        for L in langs)
    terms = ", ".join(
        f"string_agg({p[2]}, ' + ' ORDER BY first_date) AS {column('price_terms', L.code)}, "
        f"string_agg({p[3]}, ' + ' ORDER BY first_date) AS {column('weighted_terms', L.code)}"
        for L, p in zip(langs, parts, strict=True))
    calcs = ", ".join(
        f"""regexp_replace({p[1]}, '; $', '')
               || CASE WHEN t.unpriced_from IS NOT NULL
                       THEN {L.t('calc.no_price', date='t.unpriced_from')}
                       ELSE '' END AS {column('calc', L.code)}"""
        for L, p in zip(langs, parts, strict=True))
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE tm_entries AS
        SELECT e.ticket_id, e.month, e.entry_id, e.started_at, e.local_date, e.seconds, e.units,
               e.unit_price
        FROM entry_facts e
        SEMI JOIN (SELECT ticket_id, month FROM recon
                   WHERE billable AND entries > 0 AND {in_period(period)}) w USING (ticket_id, month)
        ORDER BY e.month
        """
    )
    texts = ", ".join(f"{p[0]} AS {column('entry', L.code)}" for L, p in zip(langs, parts, strict=True))
    con.execute(f"""CREATE OR REPLACE TEMP TABLE entry_text AS
                    SELECT {", ".join(keys)}, {texts}
                    FROM (SELECT DISTINCT {", ".join(keys)} FROM tm_entries)""")
    same_key = " AND ".join(f"et.{k} = e.{k}" for k in keys)
    query = f"""
        WITH x AS (
            SELECT e.ticket_id, e.month, {lists}
            FROM tm_entries e JOIN entry_text et ON {same_key}
            WHERE e.month BETWEEN $first AND $last
            GROUP BY e.ticket_id, e.month
        ),
        per_price AS (
            SELECT e.ticket_id, e.month, e.unit_price, min(e.local_date) AS first_date,
                   sum(e.seconds) AS secs, sum(e.units) AS units
            FROM tm_entries e
            SEMI JOIN (SELECT ticket_id, month FROM recon
                       WHERE billable AND entries > 0 AND min_price <> max_price
                             AND month BETWEEN $first AND $last) mp
                USING (ticket_id, month)
            WHERE e.unit_price IS NOT NULL AND e.month BETWEEN $first AND $last
            GROUP BY e.ticket_id, e.month, e.unit_price
        ),
        m AS (
            SELECT ticket_id, month, {terms}
            FROM per_price GROUP BY ticket_id, month
        ),
        t AS (
            SELECT ticket_id, month, entries, tracked_seconds, expected_units AS units, min_price,
                   max_price, unpriced_from, expected_eur AS amount_if_priced
            FROM recon WHERE billable AND entries > 0 AND month BETWEEN $first AND $last
        )
        SELECT t.ticket_id, t.month, {calcs}
        FROM t JOIN x USING (ticket_id, month) LEFT JOIN m USING (ticket_id, month)
    """
    # One month at a time on DuckDB: the ordered entry lists of a whole year at 10 M entries
    # would hold gigabytes at once; per month the peak is a fraction, and the result is the
    # same. Spark partitions the work itself and would pay a job and a checkpoint of the
    # growing table per month, so it gets all months in one statement.
    months = [period] if period else [
        m for (m,) in con.execute(
            "SELECT DISTINCT month FROM recon WHERE billable AND entries > 0 ORDER BY month"
        ).fetchall()
    ]
    spans = [(m, m) for m in months]
    if on_spark(con) and months:
        spans = [(months[0], months[-1])]
    cols = ", ".join(f"{column('calc', L.code)} VARCHAR" for L in langs)
    con.execute(f"CREATE OR REPLACE TABLE tm_text (ticket_id VARCHAR, month VARCHAR, {cols})")
    for span in spans:
        con.execute(f"INSERT INTO tm_text {query}", {"first": span[0], "last": span[1]})
    for name in ("tm_entries", "entry_text"):
        con.execute(f"DROP TABLE {name}")


def _explanation_sql(L: Lang) -> str:
    """The reconciliation's ``explanation`` of a ticket-month ``r`` (with ``tc``, ``pr``, ``t``)
    in ``L``."""
    return f"""concat_ws('; ',
                   CASE WHEN r.entries = 0 THEN {L.t('expl.no_time', month='r.month')}
                        WHEN r.billable THEN t.{column('calc', L.code)}
                        ELSE {L.t('expl.total', n='r.entries', seconds='r.tracked_seconds')} END,
                   CASE WHEN r.billable IS NULL THEN {L.t('expl.unclassified')}
                        WHEN NOT r.billable THEN {L.t('expl.not_billable', tier='tc.policy_tier',
                                                      rule='pr.rule_id', zero='0')} END,
                   CASE WHEN r.lines = 0 THEN {L.t('expl.nothing_invoiced')}
                        ELSE {L.t('expl.invoiced', units='r.billed_units', eur='r.billed_eur',
                                  invoices="replace(r.invoice_ids, ',', ', ')")} END,
                   CASE WHEN r.billable IS NOT NULL THEN {L.delta('r.delta_eur')} END
               ) AS {column('explanation', L.code)}"""


def create_recon_full(con: duckdb.DuckDBPyConnection, period: str | None,
                      langs: list[Lang] | None = None) -> None:
    """Create the view ``recon_full``: ``recon`` with the rule id, the customer's name, the
    entry arithmetic (``calc``), the invoices of a duplicate (``per_invoice``) and the
    ``explanation`` of docs/outputs.md, each text in every language of ``langs`` (English
    ``explanation``, ``explanation_de`` …).

    A view, not a table: the explanation of every ticket-month is computed while it is exported
    (and for the few a message needs), never stored — at 10 M entries a stored copy would add a
    gigabyte to the peak. Only the per-invoice texts of duplicates are stored (``recon_inv``).
    On Spark it is a table (:func:`~audit.engine.sql.shared_relation`)."""
    langs = langs or [Lang("en")]
    per_invoice = ", ".join(
        f"string_agg(invoice_id || ' ' || {L.units('units')} || ' = ' || {L.money('eur')}, ', '"
        f" ORDER BY invoice_id) AS {column('per_invoice', L.code)}"
        for L in langs)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE recon_inv AS
        WITH d AS (
            SELECT ticket_id, month FROM recon WHERE positive_invoices > 1 AND {in_period(period)}
        ),
        per_invoice AS (
            SELECT l.ticket_id, l.month, l.invoice_id, sum(l.quantity) AS units, sum(l.amount) AS eur
            FROM line_facts l SEMI JOIN d USING (ticket_id, month)
            WHERE l.quantity > 0
            GROUP BY l.ticket_id, l.month, l.invoice_id
        )
        SELECT ticket_id, month, {per_invoice}
        FROM per_invoice GROUP BY ticket_id, month
        """
    )
    texts = ", ".join(
        f"t.{column('calc', L.code)}, inv.{column('per_invoice', L.code)}, {_explanation_sql(L)}"
        for L in langs)
    con.execute(
        f"""
        CREATE OR REPLACE {shared_relation(con)} recon_full AS
        SELECT r.*, tc.customer_id, tc.policy_tier, tc.recorded_tier, tc.rule_idx, pr.rule_id,
               c.name AS customer_name, {texts}
        FROM (SELECT *, CAST(expected_eur - billed_eur AS DECIMAL(18, 2)) AS delta_eur FROM recon) r
        JOIN ticket_class tc USING (ticket_id)
        LEFT JOIN policy_rules pr ON pr.idx = tc.rule_idx
        LEFT JOIN customers c ON c.customer_id = tc.customer_id
        LEFT JOIN tm_text t USING (ticket_id, month)
        LEFT JOIN recon_inv inv USING (ticket_id, month)
        """
    )


#: How the renderer joins a finding back to its kind's source relation (``r`` has the texts).
# Every finding carries its ticket's customer (audit.engine.findings), so the joins below name
# it too: the export reads the messages a span of customers at a time, and with the customer in
# the join condition that span's filter reaches the scans of the tickets and the
# reconciliation's (``ticket_info``, stored sorted by customer, is then read only where the
# span's tickets are).
_TICKET = "ticket_info tc ON tc.ticket_id = f.ticket_id AND tc.customer_id = f.customer_id"
_MESSAGE_SOURCES = {
    "ticket": f"findings f JOIN {_TICKET}",
    "ticket_rule": f"findings f JOIN {_TICKET}",
    "recon": "findings f JOIN recon_full r ON r.ticket_id = f.ticket_id AND r.month = f.month"
             " AND r.customer_id = f.customer_id",
    # (a line's finding has the line's month: the month joins too, so that an export span's
    # filter on the findings' month reaches the stored line texts, which are sorted by it)
    "line": "findings f JOIN line_texts l ON l.line_id = f.line_id AND l.month = f.month",
    "line_price": "findings f JOIN line_texts l ON l.line_id = f.line_id AND l.month = f.month"
                  " JOIN policy_prices p ON p.pid = l.price_pid",
    "signal_ticket": f"findings f JOIN {_TICKET} JOIN signal_ticket s ON s.ticket_id = f.ticket_id",
    "signal_month": f"findings f JOIN {_TICKET}"
                    " JOIN signal_month s ON s.ticket_id = f.ticket_id AND s.month = f.month",
    "sla": "sla_text s",  # stored with the finding's keys (audit.engine.sla.create_sla_text)
}
assert set(_MESSAGE_SOURCES) == set(SOURCES)
#: Where a kind's messages take the finding's id, kind, rule, month and customer from, when not
#: from the findings (``f``): the stored SLA texts carry them, so a span reads its own texts
#: and no join is made.
_KEYS = {"sla": "s"}


def create_ticket_info(con: duckdb.DuckDBPyConnection, bundle: Bundle, period: str | None) -> None:
    """Create ``ticket_texts`` and over it ``ticket_info``: of each ticket with a finding in
    ``period``, its ``ticket_class`` row with the customer's name and the ticket's category
    (``ticket_texts``), and the deciding rule's id, clause, condition and place in the policy
    (``ticket_info``) — what the findings' messages say of a ticket.

    ``ticket_texts`` is stored, not a view (texts only where read, computed once): every message
    source that names the ticket reads it, and as a view it joined ``tickets`` again in each, a
    whole range of customers at a time. On DuckDB it is stored sorted by customer, so the
    export's span of customers finds its tickets together (the scan skips the rest); the rule's
    texts, the same for many tickets, are joined where read (``policy_rules`` is small), which
    keeps that sort narrow (at 10 M entries 0.7 GB of working memory instead of 1.3)."""
    cls = section_loc(bundle, "classification")  # where an unclassified ticket points
    order = "" if on_spark(con) else "ORDER BY tc.customer_id, tc.ticket_id"
    con.execute(
        f"""
        CREATE OR REPLACE TABLE ticket_texts AS
        SELECT tc.*, c.name AS customer_name, t.category
        FROM ticket_class tc
        JOIN tickets t USING (ticket_id)
        LEFT JOIN customers c ON c.customer_id = tc.customer_id
        WHERE tc.ticket_id IN (SELECT ticket_id FROM findings WHERE {in_period(period)})
        {order}
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE {shared_relation(con)} ticket_info AS
        SELECT tt.*, r.rule_id, r.clause AS rule_clause, r.condition AS rule_condition,
               coalesce(r.policy_file, {lit(cls.file)}) AS policy_file,
               coalesce(r.policy_line, {lit(cls.line)}) AS policy_line
        FROM ticket_texts tt
        LEFT JOIN policy_rules r ON r.idx = tt.rule_idx
        """
    )


def create_line_texts(con: duckdb.DuckDBPyConnection, period: str | None) -> None:
    """Create ``line_texts``: the ``line_facts`` rows (invoice, date, quantity, prices) of the
    invoice lines with a finding in ``period`` — what the findings' messages say of a line.

    Stored, like ``ticket_texts``, and on DuckDB sorted by month: an export span's messages read
    the lines of its own months. Over the ``line_facts`` view every span read every invoice
    line of the run and built its join on them again (at 10 M entries 1.25 M lines in each of
    38 spans, about a quarter of a span's time)."""
    order = "" if on_spark(con) else "ORDER BY l.month, l.line_id"
    con.execute(
        f"""
        CREATE OR REPLACE TABLE line_texts AS
        SELECT l.*
        FROM line_facts l
        WHERE l.line_id IN (SELECT line_id FROM findings
                            WHERE line_id IS NOT NULL AND {in_period(period)})
        {order}
        """
    )


def create_finding_messages(con: duckdb.DuckDBPyConnection, bundle: Bundle, period: str | None,
                            langs: list[Lang] | None = None) -> None:
    """Create the view ``finding_messages(finding_id, month, customer_id, message, message_de …)`` for the
    findings of the period, one text column per language of ``langs``.

    A view, like ``recon_full``: the messages are computed while the findings are exported,
    a span at a time (the export filters the view on ``month`` and ``customer_id``, which
    reaches every kind's scan of the findings), so a large run never holds every finding's
    texts at once. On Spark
    it is a table, computed once (:func:`~audit.engine.sql.shared_relation`)."""
    langs = langs or [Lang("en")]
    english = next(L for L in langs if L.code == "en")
    # One part per source, not per kind: a span's findings of every kind of a source are joined
    # to it once and each takes its kind's wording (CASE), where one part per kind joined the
    # source again for each kind (five kinds read the reconciliation with its texts; at 10 M
    # entries that was most of an export span's time).
    # (kinds whose sources join alike, "ticket" and "ticket_rule", share their part)
    by_source: dict[tuple[str, str], list] = {}
    for k in enabled_kinds(bundle):
        by_source.setdefault((_MESSAGE_SOURCES[k.source], _KEYS.get(k.source, "f")), []).append(k)
    parts = []
    for (source, f), kinds in by_source.items():

        def match(k, f: str = f) -> str:
            if k.rule is None:
                return f"{f}.kind = {lit(k.kind)}"
            # several signals may share a kind: tell them apart by rule
            return f"({f}.kind = {lit(k.kind)} AND {f}.rule_id = {lit(k.rule[0])})"

        texts = ", ".join(
            "CASE " + " ".join(f"WHEN {match(k)} THEN ({_kind_message(k, L, english)})" for k in kinds)
            + f" END AS {column('message', L.code)}"
            for L in langs)
        parts.append(
            f"SELECT {f}.finding_id, {f}.month, {f}.customer_id, {texts}"
            f" FROM {source}"
            f" WHERE ({' OR '.join(match(k) for k in kinds)}) AND {in_period(period, f + '.month')}"
        )
    empty = ", ".join(f"'' AS {column('message', L.code)}" for L in langs)
    union = "\nUNION ALL\n".join(parts) or (
        "SELECT CAST(NULL AS VARCHAR) AS finding_id, CAST(NULL AS VARCHAR) AS month,"
        f" CAST(NULL AS VARCHAR) AS customer_id, {empty} WHERE false")
    con.execute(f"CREATE OR REPLACE {shared_relation(con)} finding_messages AS {union}")


def _kind_message(kind, L: Lang, english: Lang) -> str:
    """A kind's message in ``L``; its English message when the kind's wording is plain SQL or a
    template it uses is missing in ``L`` (a kind added with English wording only still reads)."""
    try:
        return kind.message_sql(L)
    except KeyError:
        return kind.message_sql(english)


def create_classifications(con: duckdb.DuckDBPyConnection, bundle: Bundle, period: str | None) -> None:
    """One row per ticket-month of ``recon``, plus one (opened month) per ticket without any;
    ``agent`` is the agent with the most tracked seconds on the ticket (ties by name)."""
    cls = section_loc(bundle, "classification")  # where an unclassified ticket points
    con.execute(
        f"""
        CREATE OR REPLACE TABLE classifications AS
        WITH months AS (
            SELECT ticket_id, month, tracked_seconds, expected_units FROM recon
            UNION ALL
            SELECT tc.ticket_id, {opened_month_sql("tc")}, 0, CASE WHEN tc.billable IS NOT NULL THEN 0 END
            FROM ticket_class tc ANTI JOIN recon r USING (ticket_id)
        ),
        m AS (SELECT * FROM months WHERE {in_period(period)}),
        per_agent AS (
            SELECT e.ticket_id, e.agent, sum(e.seconds) AS secs
            FROM entry_facts e {"SEMI JOIN m USING (ticket_id)" if period else ""}
            GROUP BY e.ticket_id, e.agent
        ),
        top_agent AS (
            SELECT ticket_id, first(agent ORDER BY secs DESC, agent) AS agent
            FROM per_agent GROUP BY ticket_id
        )
        SELECT m.ticket_id, tc.customer_id, m.month, tc.recorded_tier, tc.policy_tier, pr.rule_id,
               pr.clause AS rule_clause, coalesce(pr.policy_file, {lit(cls.file)}) AS policy_file,
               CAST(coalesce(pr.policy_line, {lit(cls.line)}) AS BIGINT) AS policy_line,
               a.agent, CAST(m.tracked_seconds AS BIGINT) AS tracked_seconds,
               CAST(m.expected_units AS DECIMAL(18, 2)) AS expected_units
        FROM m
        JOIN ticket_class tc USING (ticket_id)
        LEFT JOIN policy_rules pr ON pr.idx = tc.rule_idx
        LEFT JOIN top_agent a USING (ticket_id)
        """
    )


def render_texts(con: duckdb.DuckDBPyConnection, bundle: Bundle, period: str | None, *,
                 release: Callable[[tuple[str, ...]], None] | None = None,
                 languages: tuple[str, ...] = TEXT_LANGUAGES) -> None:
    """Create every text and output relation for ``period`` (all months when None), the texts
    in English (``message``, ``explanation``) and each other language of ``languages``
    (``message_de`` …; see audit/texts).

    ``release`` is called with the loaded tables no later step reads (the time entries once the
    entry texts and agents are done), so a one-shot run can free them early (peak memory)."""
    langs = text_languages(bundle, languages)
    install_languages(con, langs)
    create_tm_text(con, bundle, period, langs)
    create_classifications(con, bundle, period)
    if release is not None:
        release(("time_entries",))
    create_recon_full(con, period, langs)
    create_sla_text(con, bundle, period, langs)
    create_ticket_info(con, bundle, period)
    if release is not None:
        release(("tickets",))  # its category is in ticket_texts now
    create_line_texts(con, period)
    if release is not None:
        release(("invoice_lines",))  # what the messages say of a line is in line_texts now
    create_finding_messages(con, bundle, period, langs)


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> pl.DataFrame:
    """A query's result as polars, via one Arrow table (faster than ``.pl()`` on wide text)."""
    frame = pl.from_arrow(con.sql(sql, params=params).to_arrow_table(), rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    return frame


#: About how many rows one export query covers: consecutive months are taken together up to
#: this many rows, a larger month is cut into ranges of customers. One query per span: a small
#: run is exported in one pass (each text's joins built once), a large one a few months or a
#: few thousand customers at a time (what is sorted and held at once stays bounded).
SPAN_ROWS = 100_000


def _by_span(con: duckdb.DuckDBPyConnection, sql: str, spans: list[Span]) -> pl.DataFrame:
    """``sql`` (which filters on :func:`span_filter` and sorts within it) run span by span, in
    order.

    Every output sorts by month first, so the concatenation is the sorted whole; but only one
    span's rows are sorted and converted at a time, which keeps the peak memory of a 10 M-entry
    export to a fraction."""
    return pl.concat([_frame(con, sql, span_params(s)) for s in spans], rechunk=False)


#: Rows per batch when a table is streamed to a sink (a span's sorted rows are read this many
#: at a time): the Parquet writer's row group, so a batch is mostly written as it comes.
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class TableQuery:
    """One result table as :func:`export` hands it to a :class:`Sink`: its SQL (filtering on
    :func:`span_filter` and sorted), the spans to run it over, and the
    connection. A sink either streams it span by span (:meth:`batches`) or, where the engine
    writes files itself, runs it once over every month (:meth:`all_months`)."""

    con: Any
    sql: str
    #: the spans of months to stream it in (they are counted when asked for)
    spans: Callable[[], list[Span]]
    period: str | None

    def all_months(self) -> dict[str, str | None]:
        """The parameters of one statement over every month of the period (no count needed)."""
        return span_params((self.period, self.period, None, None) if self.period else ALL_MONTHS)

    def batches(self) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """The rows span by span (as :func:`_by_span`) in Arrow batches, in order: the schema,
        and the batches (each span's result is read when the previous one is done)."""
        def reader(span: Span) -> pa.RecordBatchReader:
            result = self.con.sql(self.sql, params=span_params(span))
            if hasattr(result, "to_arrow_reader"):
                return result.to_arrow_reader(BATCH_ROWS)
            return result.to_arrow_table().to_reader(max_chunksize=BATCH_ROWS)  # Spark

        spans = self.spans()
        first = reader(spans[0])

        def batches() -> Iterator[pa.RecordBatch]:
            for r in itertools.chain([first], (reader(span) for span in spans[1:])):
                with r:  # closed when read: DuckDB frees the span's result only then
                    yield from r

        return first.schema, batches()


class Sink(Protocol):
    """Receives the result tables of :func:`export` instead of it returning them
    (:class:`audit.outputs.ParquetSink` writes ``<name>.parquet`` from the batches;
    :class:`audit.spark.outputs.DatasetSink` has Spark write a Parquet dataset)."""

    files: dict[str, Any]

    def write(self, name: str, table: TableQuery) -> None: ...


def text_columns(base: str, languages: tuple[str, ...] = TEXT_LANGUAGES) -> tuple[str, ...]:
    """The extra text columns of ``base`` (``message_de`` …) after the English one."""
    return tuple(column(base, code) for code in languages if code != "en")


def findings_query(period: str | None, month_param: bool = False,
                   languages: tuple[str, ...] = TEXT_LANGUAGES) -> str:
    """SQL of the exported findings (docs/outputs.md columns, messages with the expiry note,
    then one ``message_<lang>`` per further language).

    ``month_param``: the span in parameters (:func:`span_filter`) instead of ``period``."""
    def message(code: str) -> str:
        name = column("message", code)
        note = Lang(code).t("waiver_expired", id="f.expired_id", date="f.expired_on")
        return f"f.{name} || CASE WHEN f.expired_id IS NOT NULL THEN {note} ELSE '' END AS {name}"

    cols = ", ".join(
        [message("en") if c == "message" else f"f.{c}" for c in FINDING_COLUMNS]
        + [message(code) for code in languages if code != "en"]
    )
    texts = ", ".join(dict.fromkeys(f"finding_messages.{column('message', c)}"
                                    for c in ("en", *languages)))

    def where(table: str) -> str:
        if month_param:
            return span_filter(f"{table}month", f"{table}customer_id")
        return in_period(period, f"{table}month")

    return f"""SELECT {cols}
        FROM (SELECT findings.*, {texts}, c.name AS customer_name
              FROM findings
              LEFT JOIN (SELECT * FROM finding_messages WHERE {where("")}) finding_messages
                  USING (finding_id)
              LEFT JOIN customers c ON c.customer_id = findings.customer_id
              WHERE {where("findings.")}) f
        ORDER BY f.month, f.customer_id, f.ticket_id, f.kind, f.line_id NULLS FIRST, f.finding_id"""


def export(con: duckdb.DuckDBPyConnection, period: str | None, *, drop: bool = False,
           languages: tuple[str, ...] = TEXT_LANGUAGES, sink: Sink | None = None,
           texts_read: Callable[[], None] | None = None) -> dict[str, pl.DataFrame | None]:
    """The result tables for ``period``, sorted as docs/semantics.md says.

    ``drop=True`` frees each table's relations as soon as it is exported (peak memory).
    ``sink``: findings, classifications and reconciliation are handed to ``sink`` instead of
    being returned (None in their place): a large run writes its texts to Parquet without ever
    holding them all, and its summary comes from :func:`audit.engine.summary.summary_facts`,
    computed before this. ``texts_read``
    is called once the findings are exported: the loaded tables only their messages read can
    go then."""

    def done(*names: str) -> None:
        if drop:
            for name in names:
                con.execute(f"DROP TABLE IF EXISTS {name}")

    def spans(table: str) -> list[Span]:
        return cut_spans(con.execute(counts_sql(table, in_period(period))).fetchall(),
                         SPAN_ROWS)  # read when called (tests set it)

    def table(name: str, sql: str, source: str) -> pl.DataFrame | None:
        if sink is None:
            return _by_span(con, sql, spans(source))
        sink.write(name, TableQuery(con, sql, partial(spans, source), period))
        return None

    sla = sla_compliance(con, period)
    findings = table("findings", findings_query(period, month_param=True, languages=languages),
                     "findings")
    if texts_read is not None:
        texts_read()
    done("findings")
    classifications = table(
        "classifications",
        f"""SELECT {", ".join(CLASSIFICATION_COLUMNS)} FROM classifications
            WHERE {span_filter("month", "customer_id")}
            ORDER BY month, customer_id, ticket_id""",
        "classifications",
    )
    done("classifications")
    reconciliation = table(
        "reconciliation",
        f"""SELECT {", ".join(RECONCILIATION_COLUMNS + text_columns("explanation", languages))}
            FROM recon_full WHERE {span_filter("month", "customer_id")}
            ORDER BY month, customer_id, ticket_id""",
        "recon JOIN ticket_class USING (ticket_id)",  # the customer is the ticket's
    )
    done("tm_text", "recon_inv", "ticket_class")
    return {"findings": findings, "classifications": classifications, "reconciliation": reconciliation,
            "sla": sla}
