"""Run policy test cases through the real audit: the same ingestion and the same engine as ``run``.

How many cases share one evaluation: the cases' rows are written as one set of CSV exports and
loaded with :func:`audit.ingest.load_data` (typing and the data contract, Great Expectations
off), then :func:`audit.engine.evaluate` judges them all at once on one DuckDB connection, and
each case reads its own tickets' answers back. Ids are kept exactly as a case writes them (so a
waiver or a condition that names a customer or a ticket works as in production); ids a case
leaves out are generated per case and never collide. Cases that write the same id (two cases with
customer ``K-10007``) are put into different *batches*, each evaluated on its own connection.
Every judgement in the engine is per ticket or per ticket-month, so cases in one batch cannot
influence each other.

Measured (docs/benchmarks.md): one batch costs about a third of a second whatever its size up
to hundreds of cases, while one connection per case cost half a second per case.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import duckdb

from audit.contract import TABLES
from audit.errors import Location
from audit.policy.model import Bundle
from audit.policytests.cases import (
    MONTH_FIELDS,
    FindingExpect,
    PreparedCase,
    Suite,
    load_cases,
    matches,
)
from audit.policytests.coverage import Coverage, CoverageFacts, coverage_facts, measure

Outcome = Literal["passed", "failed", "error"]


@dataclass
class CaseResult:
    """What one case gave: its outcome, each problem (``file:line:col: …``) and, for a case that
    did not pass, the ``explain`` text of its tickets (the arithmetic)."""

    case: PreparedCase
    outcome: Outcome
    problems: list[str] = field(default_factory=list)
    explanation: str = ""
    seconds: float = 0.0


@dataclass
class TestRun:
    """The result of ``support-audit test``."""

    policy: Path
    bundle: Bundle
    suite: Suite
    pattern: str | None
    results: list[CaseResult]
    coverage: Coverage
    batches: int
    seconds: float

    def count(self, outcome: Outcome) -> int:
        return sum(r.outcome == outcome for r in self.results)

    @property
    def ok(self) -> bool:
        return all(r.outcome == "passed" for r in self.results)


def run_policy_tests(policy: str | Path, *, pattern: str | None = None,
                     progress: Callable[[str], None] | None = None) -> TestRun:
    """Load the bundle and its cases (``PolicyError``, exit 2, when either is invalid), run the
    cases whose ``file::id`` or name contains ``pattern``, and measure the coverage."""
    from audit.policy.loader import load_policy

    say = progress or (lambda _m: None)
    t0 = time.perf_counter()
    policy = Path(policy)
    bundle = load_policy(policy)
    suite = load_cases(policy, bundle)
    selected = [c for c in suite.cases if matches(c, pattern)]
    batches = pack(selected)
    results: list[CaseResult] = []
    facts = CoverageFacts()
    for n, batch in enumerate(batches, start=1):
        say(f"batch {n}/{len(batches)}: {len(batch)} cases")
        batch_results, batch_facts = run_batch(bundle, batch)
        results += batch_results
        facts.add(batch_facts)
    order = {c.number: i for i, c in enumerate(selected)}
    results.sort(key=lambda r: order[r.case.number])
    return TestRun(policy, bundle, suite, pattern, results, measure(bundle, policy, facts),
                   len(batches), time.perf_counter() - t0)


def pack(cases: list[PreparedCase]) -> list[list[PreparedCase]]:
    """Cases in batches whose ids do not collide (first fit, in order)."""
    batches: list[tuple[list[PreparedCase], set]] = []
    for case in cases:
        for members, keys in batches:
            if not keys & case.keys:
                members.append(case)
                keys |= case.keys
                break
        else:
            batches.append(([case], set(case.keys)))
    return [members for members, _ in batches]


# --------------------------------------------------------------------------------------------
# One batch


def _write_exports(directory: Path, cases: list[PreparedCase]) -> dict[tuple[str, int], tuple[PreparedCase, Location]]:
    """One CSV per table; returns where each record (table, physical line) came from."""
    origin: dict[tuple[str, int], tuple[PreparedCase, Location]] = {}
    for table in TABLES.values():
        columns = [c.name for c in table.columns if c.name != "duration_seconds"]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        line = 2
        for case in cases:
            for row in case.rows:
                if row.table != table.name:
                    continue
                start = buffer.tell()
                writer.writerow(["" if row.values.get(c) is None else row.values[c] for c in columns])
                origin[(table.name, line)] = (case, row.at)
                line += buffer.getvalue()[start:].count("\n")
        (directory / f"{table.name}.csv").write_text(buffer.getvalue(), encoding="utf-8")
    return origin


def run_batch(bundle: Bundle, cases: list[PreparedCase]) -> tuple[list[CaseResult], CoverageFacts]:
    """Load the cases' rows, evaluate them once, and check every case."""
    from audit.db import connect, lock_down
    from audit.engine import evaluate
    from audit.engine.render import render_texts
    from audit.ingest import load_data

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="support-audit-test-") as tmp:
        origin = _write_exports(Path(tmp), cases)
        con = connect()
        try:
            ingest = load_data(con, Path(tmp), timezone=bundle.settings.timezone,
                               tier_ids=bundle.tier_ids, gx="off")
            lock_down(con)
            _recorded_tiers(con, bundle, [r.values["ticket_id"] for c in cases for r in c.rows
                                          if r.tier_follows_policy])
            evaluate(con, bundle)
            render_texts(con, bundle, None)
            actual = Actual.read(con)
            facts = coverage_facts(con, bundle, actual.all_findings)
            quarantined: dict[int, list[str]] = defaultdict(list)
            for q in ingest.quarantine.to_pylist():
                value = f" ({q['column']} = {q['value']!r})" if q["column"] else ""
                found = origin.get((q["table"], q["line"]))
                # A record the writer did not start on that line cannot happen with csv.writer;
                # should it, every case of the batch says so rather than one being blamed.
                for case, at in [found] if found else [(c, c.at) for c in cases]:
                    quarantined[case.number].append(f"{at}: {q['table']} row not loaded: {q['reason']}{value}")
            results = []
            for case in cases:
                problems = quarantined.get(case.number)
                if problems:
                    result = CaseResult(case, "error", problems)
                else:
                    problems = Checker(case, actual).run()
                    result = CaseResult(case, "failed" if problems else "passed", problems)
                if result.outcome != "passed":
                    result.explanation = _explain(con, bundle, case, actual)
                results.append(result)
        finally:
            con.close()
    each = (time.perf_counter() - t0) / max(len(cases), 1)
    for r in results:
        r.seconds = each
    return results, facts


def _recorded_tiers(con: duckdb.DuckDBPyConnection, bundle: Bundle, tickets: list[str]) -> None:
    """Tickets whose case leaves the recorded tier out were recorded in the tier the policy
    gives them (an unclassified one keeps the bundle's first tier): a case about billing does not
    raise a tier mismatch it never asked about. The same CASE expression as the classification
    decides; a rule that reads ``tier`` itself sees the first tier here."""
    from audit.engine.classify import decision_expression, facts_for, referenced_columns
    from audit.engine.sql import DIALECT

    if not tickets:
        return
    decision = decision_expression(bundle)
    tier_of = {i: r.tier for i, r in enumerate(bundle.classification.rules, start=1)}
    if bundle.classification.default_tier is not None:
        tier_of[0] = bundle.classification.default_tier
    rows = con.execute(
        f"""SELECT ticket_id, {decision.sql(dialect=DIALECT)}
            FROM {facts_for(con, referenced_columns(decision))} AS ticket_facts
            WHERE ticket_id IN (SELECT unnest(?))""", [tickets]).fetchall()
    updates = [(tier_of[idx], tid) for tid, idx in rows if idx in tier_of]
    if updates:
        con.executemany("UPDATE tickets SET tier = ? WHERE ticket_id = ?", updates)


def _explain(con: duckdb.DuckDBPyConnection, bundle: Bundle, case: PreparedCase, actual: Actual) -> str:
    from audit.explain import explain_evaluated

    return "\n".join(explain_evaluated(con, bundle, t) for t in case.tickets if t in actual.classes)


# --------------------------------------------------------------------------------------------
# What the audit said, and the comparison


@dataclass
class Actual:
    """The engine's answers, by ticket: read from the relations ``run`` exports and ``explain``
    shows (the findings with their messages, ``recon_full`` with its explanation), in one query
    each rather than the month-by-month export a large run needs."""

    classes: dict[str, dict[str, Any]]
    months: dict[str, list[dict[str, Any]]]
    findings: dict[str, list[dict[str, Any]]]
    all_findings: list[dict[str, Any]]

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection) -> Actual:
        from audit.engine.render import findings_query

        classes = {r["ticket_id"]: r for r in _dicts(con, """
            SELECT tc.ticket_id, tc.policy_tier, tc.recorded_tier, pr.rule_id, pr.policy_file, pr.policy_line
            FROM ticket_class tc LEFT JOIN policy_rules pr ON pr.idx = tc.rule_idx""")}
        months: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in _dicts(con, f"SELECT ticket_id, month, {', '.join(MONTH_FIELDS)}, explanation "
                             "FROM recon_full ORDER BY ticket_id, month"):
            months[r["ticket_id"]].append(r)
        all_findings = _dicts(con, findings_query(None))
        findings: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for f in all_findings:
            findings[f["ticket_id"]].append(f)
        return cls(classes, dict(months), dict(findings), all_findings)


def _dicts(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _shown(value: Any) -> str:
    return "null" if value is None else str(value)


def _same(expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, Decimal) or isinstance(actual, Decimal):
        return Decimal(str(expected)) == Decimal(str(actual))
    return expected == actual


#: FindingExpect field → findings column.
_FINDING_COLUMNS = {"ticket": "ticket_id", "waiver": "waiver_id", "rule": "rule_id", "line": "line_id"}


def finding_text(f: dict[str, Any]) -> str:
    """One finding in a line: kind, ticket, month, status, numbers and its message."""
    status = f["status"] + (f" by {f['waiver_id']}" if f["waiver_id"] else "")
    money = ", ".join(f"{k} {f[k]}" for k in ("expected_eur", "billed_eur", "delta_eur") if f[k] is not None)
    return (f"{f['kind']} {f['ticket_id']} {f['month']} [{f['severity']}, {status}] rule {f['rule_id']}"
            + (f"; {money}" if money else "") + f": {f['message']}")


def _listed(findings: list[dict[str, Any]]) -> str:
    """Findings one per line under a problem (or " none")."""
    return "".join(f"\n    - {finding_text(f)}" for f in findings) or " none"


class Checker:
    """Compares one case's expectations with the engine's answers."""

    def __init__(self, case: PreparedCase, actual: Actual):
        self.case, self.actual = case, actual
        self.problems: list[str] = []
        self.only = case.tickets[0] if len(case.tickets) == 1 else None

    def problem(self, path: tuple, text: str) -> None:
        self.problems.append(f"{self.case.where(*path)}: {text}")

    def run(self) -> list[str]:
        e = self.case.model.expect
        given = e.model_fields_set
        if given & {"tier", "rule"}:
            self.classification(self.only, e, given & {"tier", "rule"}, ())
        for i, t in enumerate(e.tickets):
            self.classification(t.ticket or self.only, t, t.model_fields_set & {"tier", "rule"}, ("tickets", i))
        if given & set(MONTH_FIELDS):
            self.month(self.only, None, e, given & set(MONTH_FIELDS), ())
        for i, m in enumerate(e.months):
            self.month(m.ticket or self.only, m.month, m, m.model_fields_set & set(MONTH_FIELDS), ("months", i))
        self.findings()
        return self.problems

    def classification(self, ticket: str | None, spec: Any, fields: set[str], path: tuple) -> None:
        got = self.actual.classes.get(ticket or "")
        if got is None:
            self.problem(path, f"ticket {ticket} was not audited")
            return
        decided = (f"rule {got['rule_id']} ({got['policy_file']}:{got['policy_line']})" if got["rule_id"]
                   else "no rule matched")
        if "tier" in fields and not _same(spec.tier, got["policy_tier"]):
            self.problem((*path, "tier"), f"ticket {ticket}: policy tier: expected {_shown(spec.tier)}, "
                                          f"got {_shown(got['policy_tier'])} ({decided})")
        if "rule" in fields and not _same(spec.rule, got["rule_id"]):
            self.problem((*path, "rule"), f"ticket {ticket}: deciding rule: expected {_shown(spec.rule)}, "
                                          f"got {decided}")

    def month(self, ticket: str | None, month: str | None, spec: Any, fields: set[str], path: tuple) -> None:
        rows = self.actual.months.get(ticket or "", [])
        have = ", ".join(r["month"] for r in rows) or "none"
        if month is not None:
            rows = [r for r in rows if r["month"] == month]
            if not rows:
                self.problem(path, f"ticket {ticket}: no ticket-month {month} in the reconciliation (months: {have})")
                return
        elif len(rows) != 1:
            self.problem(path, f"ticket {ticket} has {len(rows)} ticket-months ({have}): say which month")
            return
        (row,) = rows
        for name in sorted(fields, key=MONTH_FIELDS.index):
            expected = getattr(spec, name)
            if not _same(expected, row[name]):
                self.problem((*path, name), f"ticket {ticket} {row['month']}: {name}: expected "
                                            f"{_shown(expected)}, got {_shown(row[name])} ({row['explanation']})")

    def findings(self) -> None:
        e = self.case.model.expect
        mine = [f for t in self.case.tickets for f in self.actual.findings.get(t, [])]
        matched: set[str] = set()
        for i, item in enumerate(e.findings):
            spec = FindingExpect(kind=item) if isinstance(item, str) else item
            fields = spec.model_fields_set - {"count"} | {"kind"}
            hits = [f for f in mine if all(self.field_matches(spec, name, f) for name in fields)]
            matched |= {f["finding_id"] for f in hits}
            want = f"exactly {spec.count}" if spec.count is not None else "a"
            if (len(hits) != spec.count) if spec.count is not None else not hits:
                wanted = ", ".join(f"{n}={_shown(getattr(spec, n))}" for n in sorted(fields))
                same_kind = [f for f in mine if f["kind"] == spec.kind]
                self.problem(("findings", i), f"expected {want} finding with {wanted}, got {len(hits)}; "
                                              f"{spec.kind} findings raised:{_listed(same_kind)}")
        for i, kind in enumerate(e.no_findings):
            hits = [f for f in mine if f["kind"] == kind]
            if hits:
                self.problem(("no_findings", i), f"expected no {kind} finding, got {len(hits)}:{_listed(hits)}")
        if e.no_other_findings:
            extra = [f for f in mine if f["finding_id"] not in matched]
            if extra:
                self.problem(("no_other_findings",),
                             f"{len(extra)} finding(s) not listed under findings:{_listed(extra)}")

    @staticmethod
    def field_matches(spec: FindingExpect, name: str, finding: dict[str, Any]) -> bool:
        if name == "message_contains":
            return (spec.message_contains or "") in (finding["message"] or "")
        return _same(getattr(spec, name), finding[_FINDING_COLUMNS.get(name, name)])


def junit_time(seconds: float) -> str:
    """A JUnit ``time``: measured, or ``0.000`` when ``SOURCE_DATE_EPOCH`` asks for reproducible files."""
    return "0.000" if os.environ.get("SOURCE_DATE_EPOCH") else f"{seconds:.3f}"
