"""Rules are data: the same tickets under edited policies give the hand-computed other answer.

Each test edits the shipped YAML as text — the edit a finance user makes — and compares the
complete set of findings ``{(kind, ticket): delta_eur}`` with the figures worked out by hand.

The data (March 2026, all prices 17.50 € per 15 min unless edited):
- T-1 webdesign (extended), customer K-1: 47 + 12 + 5 min; invoiced 4 units × 17.50 = 70.00
- T-2 customer_center_usage (standard), K-1: 20 min, not invoiced
- T-3 data_loss (extended), K-2 with contract "premium": 31 min, not invoiced
- T-4 category "hardware_order" (no rule), recorded standard: 10 min
"""

from __future__ import annotations

from decimal import Decimal

from test_engine_support import D, audit, entry, line, one, ticket

from audit.engine.summary import exit_code_for, frame_facts

TICKETS = [
    ticket("T-1", "webdesign", "extended"),
    ticket("T-2", "customer_center_usage", "standard"),
    ticket("T-3", "data_loss", "extended", customer_id="K-2"),
    ticket("T-4", "hardware_order", "standard"),
]
ENTRIES = [
    entry("E-1", "T-1", "2026-03-10 10:00", minutes=47),
    entry("E-2", "T-1", "2026-03-11 10:00", minutes=12),
    entry("E-3", "T-1", "2026-03-12 10:00", minutes=5),
    entry("E-4", "T-2", "2026-03-10 10:00", minutes=20),
    entry("E-5", "T-3", "2026-03-05 10:00", minutes=31),
    entry("E-6", "T-4", "2026-03-05 10:00", minutes=10),
]
LINES = [line("L-1", "R-1", "T-1", "2026-03-31", "4", "17.50")]


def run(tmp_path, edits=None):
    return audit(tmp_path, tickets=TICKETS, entries=ENTRIES, lines=LINES, edits=edits)


def outcome(res) -> dict[tuple[str, str], Decimal | None]:
    return {(f["kind"], f["ticket_id"]): f["delta_eur"] for f in res.findings.iter_rows(named=True)}


#: Default policy: T-1 6 units (4+1+1) = 105.00 vs 70.00 billed; T-3 3 units = 52.50 unbilled.
BASELINE = {
    ("units_mismatch", "T-1"): D("35.00"),
    ("extended_unbilled", "T-3"): D("52.50"),
    ("unclassified_ticket", "T-4"): None,
}


def test_baseline(tmp_path):
    assert outcome(run(tmp_path)) == BASELINE


def test_price_changed(tmp_path):
    res = run(tmp_path, {"billing.yaml": [('unit_price: "17.50"', 'unit_price: "20.00"')]})
    # T-1: 6 × 20.00 = 120.00 − 70.00; line L-1 at 17.50 is now 4 × 2.50 under list; T-3: 3 × 20.00
    assert outcome(res) == {
        ("units_mismatch", "T-1"): D("50.00"),
        ("price_mismatch", "T-1"): D("10.00"),
        ("extended_unbilled", "T-3"): D("60.00"),
        ("unclassified_ticket", "T-4"): None,
    }


def test_unit_of_30_minutes(tmp_path):
    res = run(tmp_path, {"billing.yaml": [("unit_minutes: 15", "unit_minutes: 30")]})
    # T-1: 47 → 2, 12 → 1, 5 → 1 = 4 units = what was invoiced (units agree, price unchanged)
    # T-3: 31 min → 2 units × 17.50 = 35.00
    assert outcome(res) == {("extended_unbilled", "T-3"): D("35.00"), ("unclassified_ticket", "T-4"): None}


def test_rounding_nearest(tmp_path):
    res = run(tmp_path, {"billing.yaml": [("rounding: ceil", "rounding: nearest")]})
    # T-1: 47 min = 3.13 → 3, 12 = 0.8 → 1, 5 = 0.33 → 0: 4 units, as invoiced; T-3: 2.07 → 2
    assert outcome(res) == {("extended_unbilled", "T-3"): D("35.00"), ("unclassified_ticket", "T-4"): None}
    assert one(res.reconciliation, ticket_id="T-1")["explanation"].startswith(
        "3 entries: 47 min → 3 units, 12 min → 1 unit, 5 min → 0 units; 4 units × 17.50 € = 70.00 €")


def test_scope_ticket_month(tmp_path):
    res = run(tmp_path, {"billing.yaml": [("scope: entry", "scope: ticket_month")]})
    # T-1: 64 min → ⌈4.27⌉ = 5 units = 87.50 − 70.00; T-3 alone is unchanged: 3 units
    assert outcome(res) == BASELINE | {("units_mismatch", "T-1"): D("17.50")}


def test_category_moved_to_another_tier(tmp_path):
    res = run(tmp_path, {"classification.yaml": [
        ("    - id: data-loss\n      tier: extended", "    - id: data-loss\n      tier: standard")]})
    # T-3 is now standard: nothing to invoice, but the agent recorded extended
    assert outcome(res) == {
        ("units_mismatch", "T-1"): D("35.00"),
        ("tier_mismatch", "T-3"): D("0.00"),
        ("unclassified_ticket", "T-4"): None,
    }


def test_default_tier_classifies_the_rest(tmp_path):
    res = run(tmp_path, {"classification.yaml": [("default_tier: null", "default_tier: extended")]})
    # T-4 becomes extended by the default: recorded standard (tier_mismatch), 10 min = 1 unit unbilled
    assert outcome(res) == {
        ("units_mismatch", "T-1"): D("35.00"),
        ("extended_unbilled", "T-3"): D("52.50"),
        ("tier_mismatch", "T-4"): D("0.00"),
        ("extended_unbilled", "T-4"): D("17.50"),
    }
    tm = one(res.findings, kind="tier_mismatch")
    assert (tm["rule_id"], tm["policy_file"]) == ("classification.default_tier", "classification.yaml")
    assert tm["message"].endswith("no rule matched, default_tier extended applies")


def _facts(res):
    return frame_facts(res.findings, res.classifications, res.reconciliation)


def test_severity_changed_changes_the_exit_code(tmp_path):
    base = run(tmp_path)
    assert exit_code_for(_facts(base), "error") == 1
    res = run(tmp_path, {"findings.yaml": [
        ("units_mismatch:       {severity: error}", "units_mismatch:       {severity: warning}"),
        ("extended_unbilled:    {severity: error}", "extended_unbilled:    {severity: info}"),
    ]})
    assert outcome(res) == BASELINE
    assert one(res.findings, kind="units_mismatch")["severity"] == "warning"
    assert exit_code_for(_facts(res), "error") == 0
    assert exit_code_for(_facts(res), "warning") == 1
    assert exit_code_for(_facts(res), "never") == 0


def test_kind_left_out_is_not_raised(tmp_path):
    res = run(tmp_path, {"findings.yaml": [("  units_mismatch:       {severity: error}\n", "")]})
    assert outcome(res) == {k: v for k, v in BASELINE.items() if k[0] != "units_mismatch"}


def test_contract_override(tmp_path):
    res = run(tmp_path, {"billing.yaml": [
        ("  overrides: []", '  overrides:\n    - contract: premium\n      prices:\n'
                            '        - {from: 2026-01-01, unit_price: "15.00"}')]})
    # T-3's customer K-2 has contract premium: 3 units × 15.00 = 45.00; K-1 keeps the list price
    assert outcome(res) == BASELINE | {("extended_unbilled", "T-3"): D("45.00")}
    assert "3 units × 15.00 € = 45.00 €" in one(res.findings, ticket_id="T-3")["message"]


def test_contract_override_applies_to_invoice_prices_too(tmp_path):
    res = audit(
        tmp_path,
        tickets=[ticket("T-3", "data_loss", "extended", customer_id="K-2")],
        entries=[entry("E-5", "T-3", "2026-03-05 10:00", minutes=31)],
        lines=[line("L-9", "R-9", "T-3", "2026-03-31", "3", "17.50", customer="K-2")],
        edits={"billing.yaml": [
            ("  overrides: []", '  overrides:\n    - contract: premium\n      prices:\n'
                                '        - {from: 2026-01-01, unit_price: "15.00"}')]},
    )
    f = one(res.findings, kind="price_mismatch")
    # invoiced at 17.50 where the premium list says 15.00: 3 × −2.50 = −7.50 (over-billed)
    assert (f["delta_eur"], f["rule_id"]) == (D("-7.50"), "billing.overrides[premium].prices@2026-01-01")
    assert outcome(res) == {("price_mismatch", "T-3"): D("-7.50")}


def test_contract_override_has_no_fallback_to_the_default_list(tmp_path):
    # premium's list starts 2026-04-01: a premium entry in March has no price in force (NULL),
    # it does not silently take the default list's 17.50
    res = run(tmp_path, {"billing.yaml": [
        ("  overrides: []", '  overrides:\n    - contract: premium\n      prices:\n'
                            '        - {from: 2026-04-01, unit_price: "15.00"}')]})
    t3 = one(res.reconciliation, ticket_id="T-3")
    assert (t3["expected_units"], t3["expected_eur"]) == (D("3"), None)
    assert "no price in force on 2026-03-05" in t3["explanation"]
    assert outcome(res)[("extended_unbilled", "T-3")] is None


def test_two_signals_of_one_kind_keep_their_own_rule_and_message(tmp_path):
    signal = (
        "\n  - id: unbilled-webdesign-words\n    kind: suspected_misclassification\n    severity: info\n"
        "    description: Web design words in a standard ticket.\n"
        "    when: tier = 'standard' AND contains(lower(subject), 'menü')\n"
    )
    tickets = [ticket("T-9", "customer_center_usage", "standard", subject="Webdesign Menü kaputt")]
    res = audit(tmp_path, tickets=tickets, edits={"findings.yaml": [
        ("gelöscht|webdesign')\n", "gelöscht|webdesign')\n" + signal)]})
    got = sorted((f["rule_id"], f["severity"], f["message"][:20]) for f in res.findings.iter_rows(named=True))
    assert got == [
        ("extended-keywords-on-standard", "warning", "The subject mentions"),
        ("unbilled-webdesign-words", "info", "Web design words in "),
    ]
    assert len(set(res.findings.get_column("finding_id"))) == 2
