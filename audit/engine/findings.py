"""Findings: each kind of docs/semantics.md as one set-based query, then waivers, ids and order.

A kind is one :class:`Kind`: the relation it is raised over (``ticket``: ``ticket_class tc``;
``recon``: ``recon r``; ``line``: ``line_facts l``, ``line_price`` with ``tc`` and the price period ``p``), its condition,
its numbers, and its message template. :func:`create_findings` runs the numbers of the enabled
kinds as a ``UNION ALL`` (on DuckDB two: the SLA kinds apart, each stored sorted by month and
customer), adds the ticket's customer and tiers (:data:`TICKET_COLUMNS`) with one join, stamps
the stable ``finding_id`` and matches the waivers; the message templates
are applied later by :mod:`audit.engine.render` (texts are presentation, and only the findings
that are exported need them). A kind the policy leaves out (or disables) is not queried.

Which rule a finding names (``rule_id``/``policy_file``/``policy_line``):
classification kinds the deciding rule (``unclassified_ticket``: the ``classification``
section), ``price_mismatch`` the price period, the other billing kinds the ``billing`` section,
``amount_mismatch`` and ``duplicate_billing`` their entry in ``findings``, signals the signal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import duckdb

from audit.db import write_in_parts
from audit.engine.classify import is_late, opened_month_sql, signal_column
from audit.engine.policy_tables import section_loc, where
from audit.engine.spans import span_parts
from audit.engine.sql import lit, on_spark
from audit.policy.model import SLA_KINDS, Bundle
from audit.texts import Lang, column, localized

#: Output columns of ``findings``, as in docs/outputs.md.
FINDING_COLUMNS = (
    "finding_id", "kind", "severity", "status", "rule_id", "policy_file", "policy_line",
    "ticket_id", "customer_id", "customer_name", "month", "line_id", "entry_id", "recorded_tier",
    "policy_tier", "expected_units", "billed_units", "expected_eur", "billed_eur", "delta_eur",
    "at_stake_units", "at_stake_eur", "target_minutes", "measured_minutes", "due_at", "waiver_id",
    "message",
)

#: The columns every kind's query produces (``customer_name`` is added on export).
RAW_COLUMNS = (
    "kind", "severity", "rule_id", "policy_file", "policy_line", "ticket_id", "month", "line_id",
    "entry_id", "expected_units", "billed_units", "expected_eur", "billed_eur", "delta_eur",
    "at_stake_units", "at_stake_eur", "target_minutes", "measured_minutes", "due_at",
)
#: The SLA columns' types (NULL for the other kinds).
_SLA_TYPES = {"target_minutes": "BIGINT", "measured_minutes": "DECIMAL(18, 2)", "due_at": "TIMESTAMPTZ"}
#: The columns every finding takes from its ticket's ``ticket_class`` row, whatever its kind
#: (one join for all findings, so ``recon`` need not carry them).
TICKET_COLUMNS = ("customer_id", "recorded_tier", "policy_tier")
_MONEY = ("expected_units", "billed_units", "expected_eur", "billed_eur", "delta_eur",
          "at_stake_units", "at_stake_eur")

#: Kinds raised per ticket-month; their waived deltas make up ``waived_eur``.
TICKET_MONTH_KINDS = (
    "standard_billed", "extended_unbilled", "units_mismatch", "billed_without_time",
    "duplicate_billing",
)

_TICKET = dict(ticket_id="tc.ticket_id", month=opened_month_sql("tc"))
_LINE = dict(ticket_id="l.ticket_id", month="l.month", line_id="l.line_id")

#: How each source relation is read, and the columns every finding over it shares.
SOURCES = {
    "ticket": ("ticket_class tc", _TICKET),
    "ticket_rule": ("ticket_class tc JOIN policy_rules pr ON pr.idx = tc.rule_idx", _TICKET),  # + the rule
    "recon": ("recon r", dict(ticket_id="r.ticket_id", month="r.month")),
    "line": ("line_facts l", _LINE),
    "sla": ("sla_facts s", dict(ticket_id="s.ticket_id", month="s.month")),
    "line_price": (  # with the ticket's class (billable) and the list price's period
        "line_facts l JOIN ticket_class tc USING (ticket_id) JOIN policy_prices p ON p.pid = l.price_pid",
        _LINE,
    ),
    # signals: with the facts and the money at stake of the ticket (``s``: signal_ticket) or of
    # the ticket-month (``s``: signal_month)
    "signal_ticket": ("ticket_class tc JOIN signal_ticket s ON s.ticket_id = tc.ticket_id", _TICKET),
    "signal_month": ("signal_month s JOIN ticket_class tc ON tc.ticket_id = s.ticket_id",
                     dict(ticket_id="s.ticket_id", month="s.month")),
}


#: SLA facts whose findings DuckDB writes in one statement (:func:`create_findings`): at 10 M
#: entries with every ticket overdue, 5 parts of the 4 M; a 1 M-entry run stays one statement.
SLA_FINDINGS_PART = 1_000_000


@dataclass(frozen=True)
class Kind:
    """One finding kind as the engine raises it (see the module docstring)."""

    kind: str
    severity: str
    source: str  # key of SOURCES
    where: str
    rule: tuple[str, str, int] | None  # literal (rule_id, file, line); None: in ``columns``
    columns: dict[str, str] = field(default_factory=dict)
    #: SQL of the message: a function of the text language (audit.texts), or plain English SQL
    #: used for every language (a kind without templates falls back to its English message).
    message: str | Callable[[Lang], str] = "''"

    def message_sql(self, L: Lang) -> str:
        """The message in ``L`` (the English SQL when the kind has no templates)."""
        if callable(self.message):
            return self.message(L)
        return self.message

    def select(self, where: str = "true") -> str:
        """The SELECT that raises this kind's findings (without message); ``where``: a further
        condition on its source's rows."""
        relation, common = SOURCES[self.source]
        values = {"kind": lit(self.kind), "severity": lit(self.severity)}
        if self.rule is not None:
            rid, file, line = self.rule
            values |= {"rule_id": lit(rid), "policy_file": lit(file), "policy_line": lit(line)}
        values |= common | self.columns
        for money in _MONEY:
            values[money] = f"CAST({values.get(money, 'NULL')} AS DECIMAL(18, 2))"
        for opt in ("line_id", "entry_id"):
            values.setdefault(opt, "CAST(NULL AS VARCHAR)")
        for name, sql_type in _SLA_TYPES.items():
            values[name] = f"CAST({values.get(name, 'NULL')} AS {sql_type})"
        values["policy_line"] = f"CAST({values['policy_line']} AS BIGINT)"
        return (
            "SELECT " + ", ".join(f"{values[c]} AS {c}" for c in RAW_COLUMNS)
            + f"\nFROM {relation}\nWHERE {self.where}" + ("" if where == "true" else f" AND {where}")
        )


# --- message templates: SQL over the kind's source in a text language (audit/texts) ----------
# ``r`` is recon with its texts (``calc``/``per_invoice`` in English, ``calc_de`` … per language).


def _tier_mismatch_message(L: Lang) -> str:
    why = (
        "CASE WHEN tc.rule_condition IS NOT NULL THEN "
        + L.t("tier_mismatch.rule", rule="tc.rule_id", condition="tc.rule_condition",
              clause="CASE WHEN tc.rule_clause <> '' THEN "
                     + L.t("tier_mismatch.clause", clause="tc.rule_clause") + " ELSE '' END")
        + " ELSE " + L.t("tier_mismatch.default", tier="tc.policy_tier") + " END"
    )
    return L.t("tier_mismatch", recorded="tc.recorded_tier", policy="tc.policy_tier", why=why)


def _unclassified_message(L: Lang, n: int) -> str:
    return L.t("unclassified_ticket", n=lit(n),
               category="coalesce(chr(39) || tc.category || chr(39), 'NULL')")


def _units_message(L: Lang, dup: str, units: str, eur: str) -> str:
    invoices = L.t("units_mismatch.invoices", invoices="replace(r.invoice_ids, ',', ', ')")
    first = L.t("units_mismatch.first", invoice="r.first_invoice")
    return L.t(
        "units_mismatch", calc=f"r.{column('calc', L.code)}",
        first=f"CASE WHEN {dup} THEN {first} ELSE '' END", units=units, eur=eur,
        invoices=f"CASE WHEN {dup} THEN '' ELSE {invoices} END", delta=f"r.expected_eur - {eur}",
    )


def _duplicate_message(L: Lang) -> str:
    return L.t("duplicate_billing", n="r.positive_invoices",
               per_invoice=f"r.{column('per_invoice', L.code)}", first="r.first_invoice",
               delta="-r.dup_eur")


def _price_message(L: Lang, diff: str) -> str:
    return L.t("price_mismatch", line="l.line_id", invoice="l.invoice_id", date="l.service_date",
               qty="l.quantity", price="l.unit_price", rule="p.rule_id", list="l.list_price",
               step="l.list_price - l.unit_price", diff=diff)


def _amount_message(L: Lang, product: str) -> str:
    return L.t("amount_mismatch", line="l.line_id", invoice="l.invoice_id", qty="l.quantity",
               price="l.unit_price", product=product, amount="l.amount", diff=f"{product} - l.amount")


def _explanation(L: Lang) -> str:
    return f"r.{column('explanation', L.code)}"


def _signal_seen(L: Lang) -> str:
    """What a signal saw and what is at stake (``s``: the signal's facts row)."""
    work = (f"CASE WHEN s.work_entries = 0 THEN {L.t('signal.no_time')} "
            f"ELSE {L.t('signal.work', n='s.work_entries', seconds='s.work_seconds')} END")
    agents = (f"CASE WHEN s.work_agents = 1 THEN {L.t('signal.agents.one')} "
              f"WHEN s.work_agents > 1 THEN {L.t('signal.agents.other', n='CAST(s.work_agents AS VARCHAR)')} "
              "ELSE '' END")
    listed = "replace(s.work_roles, ',', ', ')"
    roles = f"CASE WHEN s.work_roles IS NOT NULL THEN {L.t('signal.roles', roles=listed)} ELSE '' END"
    reopened = (f"CASE WHEN s.history_reopenings > 0 THEN "
                f"{L.t('signal.reopened', n='CAST(s.history_reopenings AS VARCHAR)')} ELSE '' END")
    stake = (f"CASE WHEN s.at_stake_eur IS NULL THEN {L.t('signal.stake.unpriced')} "
             f"WHEN s.min_price = s.max_price THEN "
             f"{L.t('signal.stake.one_price', price='s.min_price', eur='s.at_stake_eur')} "
             f"WHEN s.min_price IS NOT NULL THEN "
             f"{L.t('signal.stake.prices', eur='s.at_stake_eur', min='s.min_price', max='s.max_price')} "
             f"ELSE {L.t('signal.stake.total', eur='s.at_stake_eur')} END")
    return L.t("signal.seen", work=work, agents=agents, roles=roles, reopened=reopened,
               units="s.at_stake_units", stake=stake)


def _signal_message(signal) -> Callable[[Lang], str]:
    def message(L: Lang) -> str:
        text = localized(signal.description, L.code).strip()
        description = lit(text) if text else L.t("signal.no_description", id=lit(signal.id))
        head = L.t("signal", description=description, id=lit(signal.id), when=lit(signal.when.strip()))
        return f"({head} || {_signal_seen(L)})"
    return message


def enabled_kinds(bundle: Bundle) -> list[Kind]:
    """Every kind the policy enables (built-ins in a fixed order, then its signals)."""
    kinds: list[Kind] = []

    def on(kind: str) -> str | None:
        setting = bundle.finding_setting(kind)
        return setting.severity if setting.enabled else None

    def rule_of(item, section: str, rule_id: str) -> tuple[str, str, int]:
        loc = where(item, bundle, section)
        return rule_id, loc.file, loc.line

    billing = section_loc(bundle, "billing")
    billing_rule = ("billing", billing.file, billing.line)
    money = dict(expected_units="r.expected_units", billed_units="r.billed_units",
                 expected_eur="r.expected_eur", billed_eur="r.billed_eur")

    if sev := on("tier_mismatch"):
        kinds.append(Kind(
            "tier_mismatch", sev, "ticket_rule", "tc.policy_tier IS NOT NULL AND tc.policy_tier <> tc.recorded_tier",
            None, dict(rule_id="pr.rule_id", policy_file="pr.policy_file", policy_line="pr.policy_line",
                       delta_eur="0"),
            _tier_mismatch_message,
        ))
    if sev := on("unclassified_ticket"):
        cls = section_loc(bundle, "classification")
        kinds.append(Kind(
            "unclassified_ticket", sev, "ticket", "tc.policy_tier IS NULL", ("classification", cls.file, cls.line),
            message=partial(_unclassified_message, n=len(bundle.classification.rules)),
        ))
    if sev := on("standard_billed"):
        kinds.append(Kind(
            "standard_billed", sev, "recon", "r.billable = false AND r.billed_eur <> 0", billing_rule,
            money | dict(delta_eur="-r.billed_eur"), _explanation,
        ))
    if sev := on("extended_unbilled"):
        kinds.append(Kind(
            "extended_unbilled", sev, "recon", "r.billable AND r.expected_units > 0 AND r.lines = 0",
            billing_rule, money | dict(delta_eur="r.expected_eur"), _explanation,
        ))
    if sev := on("units_mismatch"):
        # With a duplicate reported, only the first invoice (plus credit lines) is compared.
        dup = "(r.positive_invoices > 1)" if on("duplicate_billing") else "false"
        units = f"CASE WHEN {dup} THEN r.billed_units - r.dup_units ELSE r.billed_units END"
        eur = f"CASE WHEN {dup} THEN r.billed_eur - r.dup_eur ELSE r.billed_eur END"
        kinds.append(Kind(
            "units_mismatch", sev, "recon",
            f"r.billable AND r.lines > 0 AND r.entries > 0 AND {units} <> r.expected_units", billing_rule,
            dict(expected_units="r.expected_units", billed_units=units, expected_eur="r.expected_eur",
                 billed_eur=eur, delta_eur=f"r.expected_eur - {eur}"),
            partial(_units_message, dup=dup, units=units, eur=eur),
        ))
    if sev := on("billed_without_time"):
        kinds.append(Kind(
            "billed_without_time", sev, "recon", "r.billable AND r.billed_eur <> 0 AND r.entries = 0",
            billing_rule, money | dict(delta_eur="-r.billed_eur"), _explanation,
        ))
    if sev := on("duplicate_billing"):
        kinds.append(Kind(
            "duplicate_billing", sev, "recon", "r.billable AND r.positive_invoices > 1",
            rule_of(bundle.findings.get("duplicate_billing"), "findings", "findings.duplicate_billing"),
            dict(expected_units="0", billed_units="r.dup_units", expected_eur="0", billed_eur="r.dup_eur",
                 delta_eur="-r.dup_eur"),
            _duplicate_message,
        ))
    if sev := on("price_mismatch"):
        diff = "round_even(l.quantity * (l.list_price - l.unit_price), 2)"
        kinds.append(Kind(
            "price_mismatch", sev, "line_price",
            "tc.billable AND l.quantity > 0 AND l.list_price IS NOT NULL AND l.unit_price <> l.list_price",
            None,
            dict(rule_id="p.rule_id", policy_file="p.policy_file", policy_line="p.policy_line",
                 expected_units="l.quantity", billed_units="l.quantity",
                 expected_eur="round_even(l.quantity * l.list_price, 2)",
                 billed_eur="round_even(l.quantity * l.unit_price, 2)", delta_eur=diff),
            partial(_price_message, diff=diff),
        ))
    if sev := on("amount_mismatch"):
        product = "round_even(l.quantity * l.unit_price, 2)"
        kinds.append(Kind(
            "amount_mismatch", sev, "line", "l.amount <> l.quantity * l.unit_price",
            rule_of(bundle.findings.get("amount_mismatch"), "findings", "findings.amount_mismatch"),
            dict(expected_units="l.quantity", billed_units="l.quantity", expected_eur=product,
                 billed_eur="l.amount", delta_eur=f"{product} - l.amount"),
            partial(_amount_message, product=product),
        ))
    for kind in SLA_KINDS:  # see audit.engine.sla; the message is its sla_text
        if (sev := on(kind)) and bundle.sla is not None:
            kinds.append(Kind(
                kind, sev, "sla", f"s.kind = {lit(kind)}", None,
                dict(rule_id="s.rule_id", policy_file="s.policy_file", policy_line="s.policy_line",
                     expected_eur="-s.credit", billed_eur="0", delta_eur="-s.credit",
                     target_minutes="s.target_min",
                     measured_minutes="audit_cents_to_eur(audit_div_half_even(s.measured_secs * 100, 60))",
                     due_at="s.due_at"),
                lambda L: f"s.{column('message', L.code)}",  # sla_text has every language
            ))
    for i, signal in enumerate(bundle.signals):
        # judged with the classification (``tc``) or after billing (``s``: engine.signals)
        judged = "s" if is_late(signal) else "tc"
        kinds.append(Kind(
            signal.kind, signal.severity, "signal_month" if signal.scope == "ticket_month" else "signal_ticket",
            f"{judged}.{signal_column(i)}", rule_of(signal, "signals", signal.id),
            dict(at_stake_units="s.at_stake_units", at_stake_eur="s.at_stake_eur"),
            message=_signal_message(signal),
        ))
    return kinds


def waiver_cases(bundle: Bundle) -> tuple[str, str, str]:
    """SQL over a finding ``f`` for the waiver that covers it (``waiver_id``), else the first one
    matching it that had expired (``expired_id``, ``expired_on``) — each the first in policy order.

    A waiver matches when every field of its scope equals the finding's; it covers the finding
    while the finding's month starts on or before ``expires_on``. The waivers are compiled into
    ``CASE`` expressions (their values as literals, like the price list): a few comparisons per
    finding instead of a join, a grouping and a join back.
    """
    covered, expired_id, expired_on = [], [], []
    for w in bundle.waivers:
        sc = w.scope
        match = " AND ".join(
            f"f.{column} = {lit(value)}"
            for column, value in (("ticket_id", sc.ticket), ("customer_id", sc.customer),
                                  ("kind", sc.kind), ("month", sc.month))
            if value is not None
        )
        in_time = f"CAST(f.month || '-01' AS DATE) <= {lit(w.expires_on)}"
        covered.append(f"WHEN {match} AND {in_time} THEN {lit(w.id)}")
        expired_id.append(f"WHEN {match} AND NOT ({in_time}) THEN {lit(w.id)}")
        expired_on.append(f"WHEN {match} AND NOT ({in_time}) THEN {lit(w.expires_on)}")

    def first(whens: list[str], cast: str) -> str:  # the first arm that holds, in policy order
        return f"CAST(CASE {' '.join(whens)} END AS {cast})" if whens else f"CAST(NULL AS {cast})"

    return first(covered, "VARCHAR"), first(expired_id, "VARCHAR"), first(expired_on, "DATE")


#: Up to this many waivers are compiled into CASE arms; more are matched by joins with the
#: ``policy_waivers`` table (60,000 CASE arms take DuckDB minutes to bind).
WAIVER_CASE_LIMIT = 64
_SCOPE = (("ticket", "ticket_id"), ("customer", "customer_id"), ("kind", "kind"), ("month", "month"))


def _waived_select(bundle: Bundle) -> str:
    """The findings of ``ided f`` with ``waiver_id``, ``status``, ``expired_id``, ``expired_on``."""
    if len(bundle.waivers) <= WAIVER_CASE_LIMIT:
        waiver_id, expired_id, expired_on = waiver_cases(bundle)
        return f"""
        SELECT f.*,
               CASE WHEN f.waiver_id IS NOT NULL THEN 'waived' ELSE 'open' END AS status,
               CASE WHEN f.waiver_id IS NULL THEN {expired_id} END AS expired_id,
               CASE WHEN f.waiver_id IS NULL THEN {expired_on} END AS expired_on
        FROM (SELECT f.*, {waiver_id} AS waiver_id FROM ided f) f"""
    return f"""
        SELECT f.*, wc.waiver_id AS waiver_id,
               CASE WHEN wc.waiver_id IS NOT NULL THEN 'waived' ELSE 'open' END AS status,
               CASE WHEN wc.waiver_id IS NULL THEN we.waiver_id END AS expired_id,
               CASE WHEN wc.waiver_id IS NULL THEN we.expires_on END AS expired_on
        FROM ided f
        LEFT JOIN ({waiver_matches(bundle)}) m ON m.finding_id = f.finding_id
        LEFT JOIN policy_waivers wc ON wc.ord = m.cover_ord
        LEFT JOIN policy_waivers we ON we.ord = m.expired_ord"""


def waiver_matches(bundle: Bundle) -> str:
    """SQL over ``ided f`` and ``policy_waivers``: per finding with a matching waiver, the
    policy order (``ord``) of the first covering one (``cover_ord``) and of the first expired one
    (``expired_ord``) — the semantics of :func:`waiver_cases` for many waivers.

    One equi-join per scope shape used (which of ticket, customer, kind, month a waiver names),
    so each is a hash join, not a comparison of every finding with every waiver."""
    shapes = sorted({tuple(getattr(w.scope, field) is not None for field, _ in _SCOPE)
                     for w in bundle.waivers})
    joins = []
    for shape in shapes:
        on = " AND ".join(f"w.{field} = f.{column}"
                          for (field, column), given in zip(_SCOPE, shape, strict=True) if given)
        which = " AND ".join(f"w.{field} IS {'NOT ' if given else ''}NULL"
                             for (field, _), given in zip(_SCOPE, shape, strict=True))
        joins.append(f"SELECT f.finding_id, w.ord, CAST(f.month || '-01' AS DATE) <= w.expires_on AS in_time "
                     f"FROM ided f JOIN policy_waivers w ON {on} WHERE {which}")
    return (
        "SELECT finding_id, min(CASE WHEN in_time THEN ord END) AS cover_ord, "
        "min(CASE WHEN NOT in_time THEN ord END) AS expired_ord "
        f"FROM ({' UNION ALL '.join(joins)}) matches GROUP BY finding_id"
    )


def create_findings(con: duckdb.DuckDBPyConnection, bundle: Bundle) -> None:
    """Create ``findings`` (without messages): every finding with id and waiver status.

    Extra columns for the renderer: ``expired_id``/``expired_on`` (a matching waiver that had
    expired, for the message's note).
    """
    kinds = enabled_kinds(bundle)
    if not kinds:  # nothing enabled: an empty relation of the right shape
        kinds = [Kind("", "info", "ticket", "false", None,
                      {c: "CAST(NULL AS VARCHAR)" for c in ("rule_id", "policy_file", "policy_line")})]
    waived = _waived_select(bundle)
    # DuckDB writes the SLA findings in statements of their own: they grow with the open
    # tickets, not with the work billed (at 10 M entries with the SLA judged 4 M of 7 M
    # findings). One statement for all held its materialised union beside the whole result,
    # about 2 GB plain until a checkpoint compresses it, and one for the SLA kinds alone still
    # took 2.8 GB of working memory, the run's peak (docs/benchmarks.md); so they are written
    # SLA_FINDINGS_PART of their facts at a time, in spans of the export's order (``sla_facts``
    # has the month and the customer). Every further statement costs (at 1 M entries, one per
    # kind took a second more than one for all), so the other kinds stay together. Each part is
    # stored sorted as the export reads it (month, then customer): a span of the export then
    # finds its findings together (the scan skips the rest). Spark writes them all in one job,
    # unsorted.
    spark = on_spark(con)
    order = "" if spark else "ORDER BY f.month, f.customer_id"
    parts: list[tuple[list[Kind], str, dict | None]] = [(kinds, "true", None)]
    if not spark:
        other = [k for k in kinds if k.kind not in SLA_KINDS]
        sla = [k for k in kinds if k.kind in SLA_KINDS]
        parts = [(other, "true", None)] if other else []
        if sla:
            parts += [(sla, cond, params) for cond, params
                      in span_parts(con, "sla_facts", "s", "true", SLA_FINDINGS_PART)]
    # The union is materialised once: fed straight into the table, its many small pipelines
    # made the ordered insert measurably slower (bench/, 1 M entries). The tickets joined to it
    # are first narrowed to those with a finding: a hash table of a quarter of the tickets
    # instead of all of them (findings −7 % at 1 M entries).
    tickets = ", ".join(f"tc.{c}" for c in TICKET_COLUMNS)

    def statement(part: list[Kind], cond: str) -> str:
        union = "\nUNION ALL\n".join(f"({k.select(cond)})" for k in part)
        return f"""
            WITH raw AS MATERIALIZED ({union}),
            ided AS (
                SELECT 'F-' || substr(sha256(concat_ws('|',  -- one string built, not six
                           raw.kind, coalesce(raw.ticket_id, ''), coalesce(raw.month, ''),
                           coalesce(raw.line_id, ''), coalesce(raw.entry_id, ''),
                           coalesce(raw.rule_id, ''))), 1, 16) AS finding_id,
                       raw.*, {tickets}
                FROM raw JOIN (SELECT * FROM ticket_class WHERE ticket_id IN (SELECT ticket_id FROM raw)) tc
                    USING (ticket_id)
            )
            {waived}
            {order}
            """

    write_in_parts(con, "findings", [(statement(part, cond), params) for part, cond, params in parts])
