"""Coverage of a policy by its test cases, like ``opa test --coverage``: which parts of the policy
at least one case exercised.

Items (each with the ``file:line:col`` it is written at):

``rule``      each classification rule that decided at least one ticket (and ``default_tier``, when
              the policy sets one, when it decided one);
``rounding``  the rounding mode: a billable entry (scope ``entry``) or ticket-month (scope
              ``ticket_month``) whose seconds are not a whole number of units, so the mode changed
              the result;
``price``     each price period of each list: a billable ticket's time entry priced by it, or an
              invoice line of a billable ticket checked against it;
``override``  each contract override: a billable ticket of a customer with that contract;
``finding``   each enabled finding kind, raised at least once;
``signal``    each signal, fired at least once;
``waiver``    each waiver, waiving at least one finding.

The percentage is covered items ÷ items over all kinds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from audit.engine.policy_tables import price_periods, section_loc
from audit.errors import Location
from audit.policy.model import Bundle

KINDS = ("rule", "rounding", "price", "override", "finding", "signal", "waiver")


@dataclass
class CoverageFacts:
    """What the evaluated cases exercised (collected per batch, then added up)."""

    rule_idx: set[int] = field(default_factory=set)
    price_pids: set[int] = field(default_factory=set)
    rounded: bool = False
    overrides: set[str] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)
    signals: set[tuple[str, str]] = field(default_factory=set)  # (kind, rule_id) of findings
    waivers: set[str] = field(default_factory=set)

    def add(self, other: CoverageFacts) -> None:
        self.rule_idx |= other.rule_idx
        self.price_pids |= other.price_pids
        self.rounded |= other.rounded
        self.overrides |= other.overrides
        self.kinds |= other.kinds
        self.signals |= other.signals
        self.waivers |= other.waivers


def _values(con: duckdb.DuckDBPyConnection, sql: str) -> set[Any]:
    return {r[0] for r in con.execute(sql).fetchall() if r[0] is not None}


def coverage_facts(con: duckdb.DuckDBPyConnection, bundle: Bundle, findings: list[dict[str, Any]]) -> CoverageFacts:
    """Read what was exercised from an evaluated connection and its findings."""
    b = bundle.billing
    unit = b.unit_minutes * 60
    if b.scope == "entry":
        rounded = """SELECT count(*) FROM entry_facts e JOIN ticket_class tc USING (ticket_id)
                     WHERE tc.billable AND e.seconds % {unit} <> 0"""
    else:
        rounded = "SELECT count(*) FROM recon WHERE billable AND tracked_seconds % {unit} <> 0"
    facts = CoverageFacts(
        rule_idx=_values(con, "SELECT DISTINCT rule_idx FROM ticket_class"),
        price_pids=_values(con, """
            SELECT DISTINCT p.pid FROM entry_facts e JOIN ticket_class tc USING (ticket_id)
            JOIN policy_prices p ON p.price_list = e.price_list AND e.local_date BETWEEN p.valid_from AND p.valid_to
            WHERE tc.billable
            UNION
            SELECT DISTINCT l.price_pid FROM line_facts l JOIN ticket_class tc USING (ticket_id) WHERE tc.billable"""),
        rounded=bool(con.execute(rounded.format(unit=unit)).fetchall()[0][0]),
        kinds={f["kind"] for f in findings},
        signals={(f["kind"], f["rule_id"]) for f in findings},
        waivers={f["waiver_id"] for f in findings if f["waiver_id"]},
    )
    if b.overrides:
        facts.overrides = _values(con, "SELECT DISTINCT price_list FROM ticket_class WHERE billable")
    return facts


@dataclass(frozen=True)
class Item:
    kind: str
    name: str
    where: str
    covered: bool


@dataclass
class Coverage:
    items: list[Item]

    @property
    def covered(self) -> int:
        return sum(i.covered for i in self.items)

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / len(self.items) if self.items else 100.0

    def by_kind(self) -> dict[str, tuple[int, int]]:
        """kind → (covered, total), for the kinds the policy has."""
        out: dict[str, tuple[int, int]] = {}
        for kind in KINDS:
            mine = [i for i in self.items if i.kind == kind]
            if mine:
                out[kind] = (sum(i.covered for i in mine), len(mine))
        return out

    @property
    def uncovered(self) -> list[Item]:
        return [i for i in self.items if not i.covered]


def _rounding_loc(bundle: Bundle) -> Location:
    """Where ``rounding:`` is written (else the billing section)."""
    from ruamel.yaml import YAML

    loc = section_loc(bundle, "billing")
    try:
        data = YAML(typ="rt").load((Path(bundle.root) / loc.file).read_text(encoding="utf-8-sig"))
        line, col = data["billing"].lc.key("rounding")
        return Location(loc.file, line + 1, col + 1)
    except Exception:  # no rounding key (the default applies), or an unreadable file: the section
        return loc


def measure(bundle: Bundle, policy: Path, facts: CoverageFacts) -> Coverage:
    """Every item of the policy, covered or not."""
    base = policy if policy.is_dir() else policy.parent

    def at(loc: Location | None) -> str:
        if loc is None:
            return str(base)
        return str(Location(str(base / loc.file), loc.line, loc.col))

    items: list[Item] = []
    for i, rule in enumerate(bundle.classification.rules, start=1):
        name = rule.id + (f" ({rule.clause})" if rule.clause else "") + f" → {rule.tier}"
        items.append(Item("rule", name, at(rule.loc), i in facts.rule_idx))
    if bundle.classification.default_tier is not None:
        items.append(Item("rule", f"default_tier → {bundle.classification.default_tier}",
                          at(section_loc(bundle, "classification")), 0 in facts.rule_idx))
    b = bundle.billing
    if any(t.billable for t in bundle.tiers):
        items.append(Item("rounding", f"rounding {b.rounding}, unit {b.unit_minutes} min, scope {b.scope}",
                          at(_rounding_loc(bundle)), facts.rounded))
    for p in price_periods(bundle):
        items.append(Item("price", f"{p.rule_id} ({p.unit_price})", at(Location(p.policy_file, p.policy_line)),
                          p.pid in facts.price_pids))
    for o in b.overrides:
        items.append(Item("override", f"contract {o.contract}", at(o.loc), o.contract in facts.overrides))
    for kind, setting in bundle.findings.items():
        if setting.enabled:
            items.append(Item("finding", kind, at(setting.loc), kind in facts.kinds))
    for s in bundle.signals:
        items.append(Item("signal", f"{s.id} ({s.kind})", at(s.loc), (s.kind, s.id) in facts.signals))
    for w in bundle.waivers:
        items.append(Item("waiver", w.id, at(w.loc), w.id in facts.waivers))
    return Coverage(items)
