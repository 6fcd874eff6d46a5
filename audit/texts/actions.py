"""The texts of the action list's signal and SLA rows (reports/actions.py), compiled to SQL.

``check`` rows: one per open signal finding with money at stake, worded as a check
(``action.check``: "check: possibly 4 units = 76.00 € not invoiced …", followed by the finding's
message with its arithmetic). ``sla_credit`` rows: one per customer and month with open SLA breach
findings that owe a credit (``action.sla_credit``: each breach's ticket, target, measured minutes,
local due instant and credit, the total, and the monthly cap when the month reaches it). Like the
finding messages, each text is a template of ``audit/texts/<lang>.json`` compiled by
:class:`audit.texts.Lang` into one SQL expression, evaluated set-based.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import duckdb
import polars as pl

from audit.engine.sql import install_macros, lit
from audit.policy.model import SLA_KINDS
from audit.texts import Lang, column, install

SIGNAL_ACTION, SLA_ACTION = "check", "sla_credit"


def signal_and_sla_rows(findings: pl.DataFrame | pl.LazyFrame, codes: list[str], timezone: str,
                        credit_cap: Decimal | None,
                        texts: Callable[[pl.DataFrame], pl.DataFrame] | None = None) -> pl.DataFrame:
    """The ``check`` rows (open signal findings with money at stake) and the ``sla_credit`` rows
    (open SLA breaches owing a credit, per customer and month), with the columns of the action
    list (reports.actions) and their texts in each text language of ``codes`` (``explanation``,
    ``explanation_de`` …), in one DuckDB query over the findings. ``texts``: adds the message
    (and any other missing) columns to the findings these rows are made of (``findings`` was
    read lean, without them). ``findings`` may be a scan of the run's file: only these rows are
    read into memory."""
    need = {"at_stake_units": pl.Decimal(18, 2), "at_stake_eur": pl.Decimal(18, 2),
            "target_minutes": pl.Int64, "measured_minutes": pl.Decimal(18, 2),
            "due_at": pl.Datetime("us", "UTC")}
    has_stake = "at_stake_eur" in findings.collect_schema().names()
    stake = pl.col("at_stake_eur") if has_stake else pl.lit(None, pl.Decimal(18, 2))
    frame = findings.lazy().filter((pl.col("status") == "open") & (
        (stake > 0) | (pl.col("kind").is_in(list(SLA_KINDS)) & (pl.col("delta_eur") < 0)))
    ).collect(engine="streaming")
    if texts is not None:
        frame = texts(frame)
    frame = frame.with_columns(pl.lit(None, t).alias(c) for c, t in need.items() if c not in frame.columns)
    messages = {c: column("message", c) if column("message", c) in frame.columns else "message" for c in codes}
    frame = frame.select("finding_id", "kind", "customer_id", "customer_name", "ticket_id", "month",
                         "recorded_tier", "policy_tier", "delta_eur", *need, *sorted(set(messages.values())))
    con = duckdb.connect()
    try:
        install_macros(con)
        langs = [Lang(c) for c in codes]
        install(con, langs)
        con.register("f", frame.to_arrow())
        rows = pl.from_arrow(con.sql(_rows_sql(langs, messages, timezone, credit_cap)).to_arrow_table())
    finally:
        con.close()
    assert isinstance(rows, pl.DataFrame)
    return rows.rename({column("text", L.code): column("explanation", L.code) for L in langs})


def _rows_sql(langs: list[Lang], messages: dict[str, str], timezone: str, credit_cap: Decimal | None) -> str:
    """SQL of the check and SLA credit rows over the findings ``f`` (see :func:`signal_and_sla_rows`)."""
    check = ", ".join(
        f"{L.t('action.check', units='at_stake_units', eur='at_stake_eur', message=messages[L.code])}"
        f" AS {column('text', L.code)}" for L in langs)
    due = f"timezone({lit(timezone)}, due_at)"

    def item(L: Lang) -> str:
        target = (f"CASE kind WHEN 'sla_first_response_breach' THEN {L.t('sla.target.first_response')}"
                  f" ELSE {L.t('sla.target.resolution')} END")
        return L.t("action.sla_credit.item", ticket="ticket_id", target=target,
                   target_min="CAST(target_minutes AS VARCHAR)", measured="measured_minutes",
                   due=f"strftime({due}, {lit(L.date_format + ' %H:%M')})", credit="-delta_eur")

    total = "-sum(delta_eur)"
    cap = "''"
    credit_texts = []
    for L in langs:
        if credit_cap is not None:
            cap = (f"CASE WHEN {total} >= {lit(credit_cap)} THEN "
                   f"{L.t('action.sla_credit.cap', cap=f'CAST({lit(credit_cap)} AS DECIMAL(18, 2))')} ELSE '' END")
        items = f"string_agg({item(L)}, '; ' ORDER BY due_at, ticket_id, kind)"
        credit_texts.append(f"{L.t('action.sla_credit', month='month', items=items, total=total, cap=cap)}"
                            f" AS {column('text', L.code)}")
    null_money = "CAST(NULL AS DECIMAL(18, 2))"
    return f"""
        SELECT customer_id, customer_name, ticket_id, month, {lit(SIGNAL_ACTION)} AS action,
               CAST(NULL AS VARCHAR) AS agent, policy_tier, recorded_tier,
               {null_money} AS expected_units, {null_money} AS expected_eur, {null_money} AS billed_units,
               {null_money} AS billed_eur, {null_money} AS delta_eur,
               at_stake_units, at_stake_eur, CAST(NULL AS VARCHAR) AS invoice_ids,
               CAST(NULL AS VARCHAR) AS waiver_ids, finding_id AS finding_ids, {check}
        FROM f WHERE at_stake_eur > 0
        UNION ALL
        SELECT customer_id, min(customer_name), CAST(NULL AS VARCHAR), month, {lit(SLA_ACTION)},
               CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR),
               {null_money}, CAST(sum(delta_eur) AS DECIMAL(18, 2)), {null_money},
               CAST(0 AS DECIMAL(18, 2)), CAST(sum(delta_eur) AS DECIMAL(18, 2)),
               {null_money}, {null_money}, CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR),
               string_agg(finding_id, ',' ORDER BY finding_id), {", ".join(credit_texts)}
        FROM f WHERE kind IN ({", ".join(lit(k) for k in sorted(SLA_KINDS))}) AND delta_eur < 0
        GROUP BY customer_id, month
    """
