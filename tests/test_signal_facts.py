"""The facts signals see (docs/semantics.md, "Signal facts"), hand-computed on small fixtures:
entries across months, unknown agents, a ticket without entries, reopenings, a price change;
and the money at stake every signal finding carries."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from test_engine_support import D, audit, edited_policy, entry, one, ticket
from test_sla import CUSTOMERS as SLA_CUSTOMERS
from test_sla import POLICIES
from test_sla import audit as sla_audit
from test_sla import policy as sla_policy
from test_sla import ticket as sla_ticket

from audit.engine import evaluate
from audit.engine.signals import facts_sql
from audit.engine.testing import load_rows
from audit.errors import PolicyError
from audit.policy.loader import load_policy

USAGE = "customer_center_usage"  # standard, STD-1
WEB = "webdesign"  # extended, EXT-1

TICKETS = [
    ticket("T-1", USAGE, "standard", opened_at="2026-03-02 09:00:00"),
    ticket("T-2", USAGE, "standard"),  # no entries at all
    ticket("T-3", WEB, "extended", opened_at="2026-06-29 09:00:00"),
    ticket("T-4", "sonstiges", "standard"),  # no rule decides it
]
ENTRIES = [
    # T-1: 20 min by anna (specialist); 30 min from 31 March 23:50 (a March entry) by bernd;
    # 7.5 min in April by ghost, who is not in the agents table
    entry("E-1", "T-1", "2026-03-10 10:00:00", end="2026-03-10 10:20:00", agent="anna"),
    entry("E-2", "T-1", "2026-03-31 23:50:00", end="2026-04-01 00:20:00", agent="bernd"),
    entry("E-3", "T-1", "2026-04-02 10:00:00", minutes="7.5", agent="ghost"),
    # T-3: across the price change (17.50 until 30 June, 19.00 from 1 July), by carla (no role)
    entry("E-4", "T-3", "2026-06-30 10:00:00", end="2026-06-30 10:15:00", agent="carla"),
    entry("E-5", "T-3", "2026-07-01 10:00:00", end="2026-07-01 10:16:00", agent="carla"),
]
AGENTS = [
    {"agent": "anna", "name": "Anna", "role": "specialist", "team": "2nd level"},
    {"agent": "bernd", "name": "Bernd", "role": "generalist", "team": "1st level"},
    {"agent": "carla", "name": "Carla", "role": None, "team": None},
]
HISTORY = [  # T-1: reopened once in March (resolved → open) and once in April (closed → pending)
    {"ticket_id": "T-1", "status": "open", "changed_at": "2026-03-02 09:00:00"},
    {"ticket_id": "T-1", "status": "resolved", "changed_at": "2026-03-05 12:00:00"},
    {"ticket_id": "T-1", "status": "open", "changed_at": "2026-03-06 08:00:00"},
    {"ticket_id": "T-1", "status": "closed", "changed_at": "2026-03-20 17:00:00"},
    {"ticket_id": "T-1", "status": "pending", "changed_at": "2026-04-02 09:30:00"},
    {"ticket_id": "T-1", "status": "Resolved", "changed_at": "2026-04-03 10:00:00"},
    {"ticket_id": "T-1", "status": "closed", "changed_at": "2026-04-04 10:00:00"},  # closed → closed
]
FACTS = ("work_entries", "work_seconds", "work_minutes", "work_units", "work_agents",
         "work_unknown_agents", "work_roles", "history_status_changes", "history_reopenings",
         "decision_rule", "decision_clause", "at_stake_units", "at_stake_eur")


@pytest.fixture(scope="module")
def facts(tmp_path_factory):
    """Every fact of every ticket (``None`` key) and ticket-month, as the engine computes them."""
    bundle = load_policy(edited_policy(tmp_path_factory.mktemp("facts")))
    con = duckdb.connect()
    load_rows(con, {"customers": [{"customer_id": "K-1", "name": "M", "contract": "basic"}],
                    "tickets": TICKETS, "time_entries": ENTRIES, "agents": AGENTS,
                    "ticket_status_history": HISTORY}, timezone="Europe/Berlin")
    evaluate(con, bundle)
    out = {}
    for by_month in (False, True):
        cur = con.execute(facts_sql(con, bundle, by_month))
        names = [d[0] for d in cur.description]
        for row in cur.fetchall():
            r = dict(zip(names, row, strict=True))
            out[(r["ticket_id"], r.get("month"))] = tuple(r[f] for f in FACTS)
    con.close()
    return out


def test_ticket_facts_sum_over_months_with_unknown_agents_and_reopenings(facts):
    # 1200 + 1800 + 450 = 3450 s = 57.5 min; units ⌈1200/900⌉ + ⌈1800/900⌉ + ⌈450/900⌉ = 2 + 2 + 1
    # at stake 5 × 17.50; reopenings: resolved→open (March), closed→pending (April)
    assert facts[("T-1", None)] == (3, 3450, D("57.5"), D("5"), 3, 1, "generalist,specialist", 7, 2,
                                    "customer-center-usage", "STD-1", D("5"), D("87.50"))


def test_ticket_month_facts_split_at_the_local_month_of_each_start(facts):
    # the 23:50 entry of 31 March is March's, although it ends in April
    assert facts[("T-1", "2026-03")] == (2, 3000, D("50"), D("4"), 2, 0, "generalist,specialist", 4, 1,
                                         "customer-center-usage", "STD-1", D("4"), D("70.00"))
    # ghost is unknown: counted as an agent, no role
    assert facts[("T-1", "2026-04")] == (1, 450, D("7.5"), D("1"), 1, 1, None, 3, 1,
                                         "customer-center-usage", "STD-1", D("1"), D("17.50"))


def test_a_ticket_without_entries_or_history_has_zeros_and_nothing_at_stake(facts):
    assert facts[("T-2", None)] == (0, 0, D("0"), D("0"), 0, 0, None, 0, 0,
                                    "customer-center-usage", "STD-1", D("0"), D("0.00"))
    assert not any(t == "T-2" and m for t, m in facts)  # no ticket-month without time or lines


def test_money_at_stake_uses_the_price_in_force_on_each_entry(facts):
    # 900 s on 30 June → 1 × 17.50; 960 s on 1 July → 2 × 19.00; carla is known without a role
    assert facts[("T-3", None)][:7] == (2, 1860, D("31"), D("3"), 1, 0, None)
    assert facts[("T-3", None)][-2:] == (D("3"), D("55.50"))
    assert facts[("T-3", "2026-06")][-2:] == (D("1"), D("17.50"))
    assert facts[("T-3", "2026-07")][-2:] == (D("2"), D("38.00"))


def test_decision_facts_of_an_unclassified_ticket_are_null(facts):
    assert facts[("T-4", None)][9:11] == (None, None)
    assert facts[("T-3", None)][9:11] == ("webdesign", "EXT-1")


def test_minutes_are_cut_not_rounded_to_four_decimals(tmp_path):
    # 1801 s = 30.01666… min → 30.0166: above 30; 1800 s is exactly 30, not above
    signal = ("\n  - id: over-30\n    kind: suspected_misclassification\n"
              "    when: work.minutes > 30\n")
    res = audit(
        tmp_path,
        tickets=[ticket("T-a", USAGE, "standard", subject="a"), ticket("T-b", USAGE, "standard", subject="b")],
        entries=[entry("E-a", "T-a", "2026-03-10 10:00:00", end="2026-03-10 10:30:01"),
                 entry("E-b", "T-b", "2026-03-10 10:00:00", end="2026-03-10 10:30:00")],
        edits={"findings.yaml": [("gelöscht|webdesign')", "gelöscht|webdesign')" + signal)]},
    )
    f = one(res.findings, rule_id="over-30")
    assert f["ticket_id"] == "T-a"
    assert (f["at_stake_units"], f["at_stake_eur"]) == (D("3"), D("52.50"))
    assert "; seen: 1 entry, 30:01 min" in f["message"]
    assert f["message"].endswith("if billed as extended: 3 units × 17.50 € = 52.50 €")


MONTH_SIGNAL = (
    "\n  - id: reopened-with-work\n    kind: suspected_misclassification\n    severity: info\n"
    "    scope: ticket_month\n    when: history.reopenings > 0 AND contains(work.roles, 'specialist')\n"
    "  - id: role-ticket\n    kind: suspected_misclassification\n"
    "    when: policy_tier = 'standard' AND work.unknown_agents > 0\n"
)


def test_ticket_month_signals_fire_per_month_with_that_months_money(tmp_path):
    res = audit(
        tmp_path, tickets=TICKETS, entries=ENTRIES,
        optional={"agents": AGENTS, "ticket_status_history": HISTORY},
        edits={"findings.yaml": [("gelöscht|webdesign')", "gelöscht|webdesign')" + MONTH_SIGNAL)]},
    )
    month = res.findings.filter(rule_id="reopened-with-work")
    # April was reopened too, but no specialist worked in April
    assert month.select("ticket_id", "month", "at_stake_units", "at_stake_eur", "severity").rows() == [
        ("T-1", "2026-03", D("4"), D("70.00"), "info")]
    assert "seen: 2 entries, 50 min by 2 agents (roles: generalist, specialist), reopened 1×" in \
        month.row(0, named=True)["message"]
    ticket_hit = one(res.findings, rule_id="role-ticket")
    assert (ticket_hit["ticket_id"], ticket_hit["month"], ticket_hit["at_stake_eur"]) == ("T-1", "2026-03", D("87.50"))
    # the other findings carry no money at stake
    others = res.findings.filter(~res.findings["kind"].is_in(["suspected_misclassification"]))
    assert others.height and others.get_column("at_stake_eur").null_count() == others.height


def test_a_price_change_inside_the_signal_scope_is_shown_as_a_range(tmp_path):
    signal = "\n  - id: any-web\n    kind: suspected_misclassification\n    when: decision.rule = 'webdesign'\n"
    res = audit(tmp_path, tickets=TICKETS, entries=ENTRIES,
                edits={"findings.yaml": [("gelöscht|webdesign')", "gelöscht|webdesign')" + signal)]})
    f = one(res.findings, rule_id="any-web")
    assert f["message"].endswith("if billed as extended: 3 units = 55.50 € (prices 17.50 € to 19.00 €)")


def test_the_finding_id_formula_is_unchanged_for_signals(tmp_path):
    import hashlib

    signal = "\n  - id: any-web\n    kind: suspected_misclassification\n    when: decision.rule = 'webdesign'\n"
    res = audit(tmp_path, tickets=TICKETS, entries=ENTRIES,
                edits={"findings.yaml": [("gelöscht|webdesign')", "gelöscht|webdesign')" + signal)]})
    f = one(res.findings, rule_id="any-web")
    digest = hashlib.sha256(b"suspected_misclassification|T-3|2026-06|||any-web").hexdigest()
    assert f["finding_id"] == "F-" + digest[:16]


@pytest.mark.parametrize(("where", "text", "message"), [
    ("signals", "work.minuts > 30", "unknown column 'work.minuts' (did you mean 'work.minutes'?)"),
    ("signals", "work.roles > 3", "cannot compare work.roles (text) with 3 (a number)"),
    ("rule", "work.minutes > 30", "unknown column 'work.minutes' (work, history, decision and sla facts are "
                                  "for signals only (signals[].when))"),
    ("signals", "sla.resolution_breachd", "unknown column 'sla.resolution_breachd' "
                                          "(did you mean 'sla.resolution_breached'?)"),
    ("signals", "sla.first_response_minutes > 'x'",
     "cannot compare sla.first_response_minutes (a number) with 'x' (text)"),
])
def test_the_loader_knows_the_fact_names_and_types(tmp_path, where, text, message):
    if where == "signals":
        edits = {"findings.yaml": [("gelöscht|webdesign')", f"gelöscht|webdesign') AND {text}")]}
    else:
        edits = {"classification.yaml": [("when: category = 'webdesign'", f"when: {text}")]}
    with pytest.raises(PolicyError) as err:
        load_policy(edited_policy(tmp_path, edits))
    assert message in str(err.value)


def test_roles_are_the_same_with_many_roles(facts, monkeypatch, tmp_path):
    """Beyond 32 roles the roles come from a distinct list instead of one test per role."""
    import audit.engine.signals as signals

    monkeypatch.setattr(signals, "_MAX_ROLE_COLUMNS", 0)
    bundle = load_policy(edited_policy(tmp_path))
    con = duckdb.connect()
    load_rows(con, {"customers": [{"customer_id": "K-1", "name": "M", "contract": "basic"}],
                    "tickets": TICKETS, "time_entries": ENTRIES, "agents": AGENTS}, timezone="Europe/Berlin")
    evaluate(con, bundle)
    rows = con.execute(f"SELECT ticket_id, month, work_roles FROM ({facts_sql(con, bundle, True)})").fetchall()
    assert {(t, m): r for t, m, r in rows} == {(t, m): f[6] for (t, m), f in facts.items() if m}


def test_default_work_signals_spare_provider_faults_and_documentation(tmp_path):
    """The shipped signals: how-to help over 30 minutes, or with a specialist, is flagged; a fault
    of a managed service (STD-4) and documentation (STD-3) are not, however long and whoever."""
    fault = ticket("T-fault", "service_fault", "standard", service_id="S-2")  # S-2 is managed: STD-4
    docs = ticket("T-docs", "documentation", "standard")
    howto = ticket("T-howto", USAGE, "standard")
    quick = ticket("T-quick", "software_usage", "standard")
    long_entries = [entry(f"E-{t}", t, "2026-03-10 10:00:00", end="2026-03-10 12:00:00", agent="anna")
                    for t in ("T-fault", "T-docs")]
    res = audit(
        tmp_path, tickets=[fault, docs, howto, quick],
        entries=[*long_entries,
                 entry("E-h", "T-howto", "2026-03-10 10:00:00", end="2026-03-10 10:31:00", agent="bernd"),
                 entry("E-q", "T-quick", "2026-03-10 10:00:00", end="2026-03-10 10:10:00", agent="anna")],
        optional={"agents": AGENTS},
    )
    hits = sorted(res.findings.filter(kind="suspected_misclassification").select("rule_id", "ticket_id").rows())
    assert hits == [("long-howto-help", "T-howto"), ("specialist-on-standard", "T-quick")]
    assert one(res.findings, ticket_id="T-howto")["at_stake_eur"] == D("52.50")  # 1860 s → 3 × 17.50
    assert one(res.findings, ticket_id="T-quick")["at_stake_eur"] == D("17.50")


ANY_WEB = "\n  - id: any-web\n    kind: suspected_misclassification\n    when: decision.rule = 'webdesign'\n"


def _with_any_web(edits: dict | None = None) -> dict:
    return {"findings.yaml": [("gelöscht|webdesign')", "gelöscht|webdesign')" + ANY_WEB)], **(edits or {})}


def test_money_at_stake_follows_the_contract_override(tmp_path):
    # K-2 has contract premium; its price list is 15.00 from 2026-01-01: 2 units × 15.00
    res = audit(
        tmp_path, tickets=[ticket("T-p", WEB, "extended", customer_id="K-2")],
        entries=[entry("E-p", "T-p", "2026-03-10 10:00:00", end="2026-03-10 10:20:00")],
        edits=_with_any_web({"billing.yaml": [
            ("overrides: []", 'overrides:\n    - contract: premium\n      prices: [{from: 2026-01-01, unit_price: "15.00"}]\n  #')]}),
    )
    f = one(res.findings, rule_id="any-web")
    assert (f["at_stake_units"], f["at_stake_eur"]) == (D("2"), D("30.00"))
    assert f["message"].endswith("if billed as extended: 2 units × 15.00 € = 30.00 €")


def test_money_at_stake_without_a_price_in_force_is_not_computed(tmp_path):
    res = audit(
        tmp_path, tickets=[ticket("T-old", WEB, "extended", opened_at="2019-12-30 09:00:00")],
        entries=[entry("E-old", "T-old", "2019-12-30 10:00:00", end="2019-12-30 10:20:00")],
        edits=_with_any_web(),
    )
    f = one(res.findings, rule_id="any-web")
    assert (f["at_stake_units"], f["at_stake_eur"]) == (D("2"), None)
    assert f["message"].endswith("if billed as extended: 2 units, no price in force: amount not computed")


def test_work_units_follow_the_billing_scope(tmp_path):
    # three 5-minute entries: scope entry 3 units; scope ticket_month ⌈900 s / 900⌉ = 1 unit
    entries = [entry(f"E-{i}", "T-3", f"2026-06-2{i} 10:00:00", end=f"2026-06-2{i} 10:05:00") for i in (1, 2, 3)]
    for scope, units, eur in (("entry", "3", "52.50"), ("ticket_month", "1", "17.50")):
        res = audit(tmp_path, tickets=[TICKETS[2]], entries=entries,
                    edits=_with_any_web({"billing.yaml": [("scope: entry", f"scope: {scope}")]}))
        f = one(res.findings, rule_id="any-web")
        assert (f["at_stake_units"], f["at_stake_eur"]) == (D(units), D(eur)), scope


def test_a_connection_without_the_optional_tables_still_gets_every_fact(tmp_path):
    """A notebook user may fill the canonical tables by hand and leave the optional ones out."""
    signal = ("\n  - id: month-facts\n    kind: suspected_misclassification\n    scope: ticket_month\n"
              "    when: work.unknown_agents > 0 AND history.reopenings = 0 AND work.roles IS NULL\n")
    bundle = load_policy(edited_policy(tmp_path, {"findings.yaml": [
        ("gelöscht|webdesign')", "gelöscht|webdesign')" + signal)]}))
    con = duckdb.connect()
    load_rows(con, {"customers": [{"customer_id": "K-1", "name": "M", "contract": "basic"}],
                    "tickets": TICKETS, "time_entries": ENTRIES}, timezone="Europe/Berlin")
    con.execute("DROP TABLE agents")
    con.execute("DROP TABLE ticket_status_history")
    from audit.engine import run_engine

    res = run_engine(con, bundle)
    assert sorted(res.findings.filter(rule_id="month-facts").select("ticket_id", "month").rows()) == [
        ("T-1", "2026-03"), ("T-1", "2026-04"), ("T-3", "2026-06"), ("T-3", "2026-07")]


# --- SLA facts (docs/semantics.md, "Signal facts": sla.*) -------------------------------------

SLA_TICKETS = [
    # premium (24×7), urgent: first response 30, resolution 240. Answered after 45 min (breach),
    # resolved after 3 h (met)
    sla_ticket("T-P", "K-P", "2026-03-02 10:00:00", "2026-03-02 10:45:00", "2026-03-02 13:00:00", "urgent"),
    # premium, normal (120 / 1440): answered after 30.5 min; resolved after 28 h = 1680 min, of which
    # 6 h waiting for the customer: 1320 ≤ 1440 (met)
    sla_ticket("T-Q", "K-P", "2026-03-10 08:00:00", "2026-03-10 08:30:30", "2026-03-11 12:00:00"),
    # business (office, Mon–Fri 08:00–18:00), normal (240 / 1800): opened Fri 06.03. 17:40,
    # answered Mon 09.03. 09:10: 20 + 70 = 90 min (met); never resolved: at the default as-of
    # instant (01.04. 00:00) 20 min + 17 business days × 600 = 10220 min > 1800 (overdue)
    sla_ticket("T-B", "K-B", "2026-03-06 17:40:00", "2026-03-09 09:10:00", None),
    # enterprise has no SLA targets: every sla fact is NULL
    sla_ticket("T-E", "K-E", "2026-03-02 10:00:00", "2026-03-09 10:00:00", "2026-03-20 10:00:00"),
]
SLA_HISTORY = [
    {"ticket_id": "T-Q", "status": "open", "changed_at": "2026-03-10 08:00:00"},
    {"ticket_id": "T-Q", "status": "waiting_for_customer", "changed_at": "2026-03-10 12:00:00"},
    {"ticket_id": "T-Q", "status": "open", "changed_at": "2026-03-10 18:00:00"},
]
SLA_FACTS = ("sla_first_response_minutes", "sla_resolution_minutes", "sla_first_response_breached",
             "sla_resolution_breached")


def _sla_facts(bundle_dir, by_month: bool = False) -> dict:
    bundle = load_policy(bundle_dir)
    con = duckdb.connect()
    load_rows(con, {"customers": SLA_CUSTOMERS, "tickets": SLA_TICKETS, "ticket_status_history": SLA_HISTORY},
              timezone=bundle.settings.timezone)
    evaluate(con, bundle)
    cur = con.execute(facts_sql(con, bundle, by_month))
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    con.close()
    return {r["ticket_id"]: tuple(r[f] for f in SLA_FACTS) for r in rows}


def test_sla_facts_are_the_business_minutes_and_breaches_of_each_target(tmp_path):
    got = _sla_facts(sla_policy(tmp_path))
    assert got["T-P"] == (D("45"), D("180"), True, False)
    assert got["T-Q"] == (D("30.5"), D("1320"), False, False)
    assert got["T-B"] == (D("90"), None, False, True)
    assert got["T-E"] == (None, None, None, None)


def test_sla_facts_are_null_without_an_sla_section(tmp_path):
    bundle_dir = sla_policy(tmp_path)
    (bundle_dir / "sla.yaml").unlink()
    text = (bundle_dir / "findings.yaml").read_text(encoding="utf-8")
    (bundle_dir / "findings.yaml").write_text("".join(
        line for line in text.splitlines(keepends=True) if not line.lstrip().startswith("sla_")), encoding="utf-8")
    assert set(_sla_facts(bundle_dir).values()) == {(None, None, None, None)}


SLA_SIGNAL = (
    "\n  - id: slow-help\n    kind: slow_help\n    severity: info\n"
    "    when: sla.first_response_breached OR sla.resolution_minutes > 1000\n"
)


def test_a_signal_on_sla_facts_fires_on_the_tickets_whose_facts_match(tmp_path):
    bundle_dir = sla_policy(tmp_path)
    path = bundle_dir / "findings.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("gelöscht|webdesign')", "gelöscht|webdesign')" + SLA_SIGNAL, 1), encoding="utf-8")
    found = sla_audit(bundle_dir, SLA_TICKETS, SLA_HISTORY, sla_only=False).filter(pl.col("kind") == "slow_help")
    # T-P: first response breached; T-Q: 1320 > 1000; T-B: first response met, resolution NULL
    # (an unknown is not true); T-E: no SLA
    assert sorted(found.get_column("ticket_id").to_list()) == ["T-P", "T-Q"]


FIXTURE = Path(__file__).parent / "fixtures" / "policies" / "sla-signal"


def test_the_sla_signal_fixture_passes_check_and_its_policy_tests(tmp_path, capsys):
    """The fixture signal on SLA facts (tests/fixtures/policies/sla-signal) spliced into a copy of
    the shipped bundle: ``check --strict`` is clean and ``test`` passes every case at 100 %
    coverage, its own cases included (they set the SLA facts up through the tickets' clocks)."""
    from audit.cli import main

    bundle = tmp_path / "policy"
    shutil.copytree(POLICIES, bundle)
    findings = bundle / "findings.yaml"
    findings.write_text(findings.read_text(encoding="utf-8").rstrip("\n") + "\n"
                        + (FIXTURE / "signal.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    shutil.copy(FIXTURE / "cases.yaml", bundle / "tests" / "slow-help.yaml")

    def cli(*argv: str) -> tuple[int, str]:
        with pytest.raises(SystemExit) as exc:
            main(list(argv))
        out, err = capsys.readouterr()
        return exc.value.code, out + err

    code, out = cli("check", "--policy", str(bundle), "--strict")
    assert code == 0, out
    code, out = cli("test", "--policy", str(bundle), "--min-coverage", "100", "--fail-on-empty")
    assert code == 0, out
    assert "signal 4/4" in out  # the three shipped signals and slow-help
    # the cases test the signal: without it they name a finding kind the bundle does not raise
    shutil.copy(POLICIES / "findings.yaml", findings)
    code, out = cli("test", "--policy", str(bundle))
    assert code == 2 and "slow-help.yaml:14:18: unknown finding kind" in out
