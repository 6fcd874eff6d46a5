"""``explain``: how one ticket was judged, as a clerk reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.errors import EXIT_USAGE, UsageError
from audit.explain import explain

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
POLICIES = ROOT / "policies"

pytestmark = pytest.mark.skipif(not (SAMPLE / "tickets.csv").exists(), reason="no committed sample")


def _data(tmp_path: Path) -> Path:
    """A tiny export: one extended ticket recorded standard, two entries, one short invoice line."""
    d = tmp_path / "data"
    d.mkdir()
    files = {
        "customers.csv": "customer_id,name,contract\nK-1,Muster GmbH,basic\n",
        "services.csv": "service_id,customer_id,product,managed\nS-1,K-1,vserver,false\n",
        "tickets.csv": (
            "ticket_id,customer_id,service_id,opened_at,priority,category,subject,cause,tier\n"
            "T-1,K-1,S-1,2026-03-02 09:00,normal,webdesign,Webdesign kaputt,,standard\n"
            "T-2,K-1,,2026-03-02 09:00,normal,customer_center_usage,Passwort,,standard\n"
        ),
        "time_entries.csv": (
            "entry_id,ticket_id,agent,started_at,ended_at,minutes\n"
            "E-1,T-1,anna,2026-03-10 10:00,,47\n"
            "E-2,T-1,bert,2026-04-01 00:30,2026-04-01 00:35:30,\n"
        ),
        "invoice_lines.csv": (
            "line_id,invoice_id,customer_id,ticket_id,service_date,quantity,unit_price,amount\n"
            "L-1,R-1,K-1,T-1,2026-03-31,3,17.50,52.50\n"
        ),
    }
    for name, text in files.items():
        (d / name).write_text(text, encoding="utf-8")
    return d


def test_explain_walks_rules_billing_and_findings(tmp_path):
    text = explain(POLICIES, _data(tmp_path), "T-1")
    lines = text.splitlines()
    assert lines[0].startswith("Ticket T-1 — policy euserv-support 1.0.0")
    assert "  category = webdesign" in lines
    # rules in order, with their value, up to the deciding one
    assert "      when category = 'documentation'  ⇒ FALSE" in lines
    assert "      when cause = 'customer' AND category <> 'documentation'  ⇒ NULL" in lines  # no cause: NULL, false
    assert "      when category = 'webdesign'  ⇒ TRUE  ← decides" in lines
    assert any(ln.startswith("   8. customer-center-data") and "not evaluated" in ln for ln in lines)
    assert "Recorded tier: standard; policy tier: extended (billable)  → differs" in lines
    # per month: each entry's seconds → units → price → amount, the lines, the reconciliation
    assert ("    entry E-1 2026-03-10 10:00:00 anna: 2820 s = 47 min → 4 units × 17.50 € "
            "(billing.prices@2020-01-01) = 70.00 €") in lines
    assert "    line L-1 on R-1 (2026-03-31): 3.00 × 17.50 € = 52.50 €, list price 17.50 €" in lines
    assert "    expected 4.00 units = 70.00 €; billed 3.00 units = 52.50 €; delta 17.50 €" in lines
    assert "  2026-04:" in lines and "330 s = 5:30 min → 1 unit" in text
    # the findings with status and the rule behind them
    assert "units_mismatch [error, open] rule billing billing.yaml:3" in text
    assert "extended_unbilled [error, open]" in text  # April is not invoiced
    assert "tier_mismatch [warning, open] rule webdesign classification.yaml:46" in text


def test_explain_one_month(tmp_path):
    text = explain(POLICIES, _data(tmp_path), "T-1", "2026-04")
    assert "  2026-04:" in text and "  2026-03:" not in text
    assert "units_mismatch" not in text and "extended_unbilled" in text


def test_unknown_ticket_is_a_usage_error_with_a_hint(tmp_path):
    with pytest.raises(UsageError) as exc:
        explain(POLICIES, _data(tmp_path), "T-9")
    assert exc.value.exit_code == EXIT_USAGE
    assert str(exc.value) == "ticket 'T-9' is not in the loaded data (check the id; loaded tickets look like T-1, T-2)"


def test_quarantined_ticket_says_why(tmp_path):
    d = _data(tmp_path)
    with open(d / "tickets.csv", "a", encoding="utf-8") as fh:
        fh.write("T-3,K-1,,31.02.2026 25:00,normal,webdesign,x,,standard\n")
    with pytest.raises(UsageError) as exc:
        explain(POLICIES, d, "T-3")
    assert "it was quarantined: tickets.csv:4:" in str(exc.value)


def test_bad_month_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError):
        explain(POLICIES, _data(tmp_path), "T-1", "03/2026")


def test_explain_shows_the_facts_a_signal_saw(tmp_path):
    d = _data(tmp_path)
    (d / "agents.csv").write_text("agent,name,role\nanna,Anna,specialist\n", encoding="utf-8")
    (d / "time_entries.csv").write_text(
        "entry_id,ticket_id,agent,started_at,ended_at,minutes\n"
        "E-1,T-2,anna,2026-03-10 10:00,,20\nE-2,T-2,bert,2026-03-11 10:00,,15\n", encoding="utf-8")
    lines = explain(POLICIES, d, "T-2").splitlines()
    for fact in ("work.entries = 2", "work.seconds = 2100", "work.minutes = 35.0000", "work.units = 3.00",
                 "work.agents = 2", "work.unknown_agents = 1", "work.roles = specialist",
                 "history.reopenings = 0", "decision.rule = customer-center-usage",
                 "decision.clause = STD-1", "at_stake_eur = 52.50"):
        assert f"  {fact}" in lines, fact
    assert any(ln.startswith("Signal long-howto-help (suspected_misclassification, per ticket)")
               and ln.endswith("⇒ TRUE") for ln in lines)
    assert any(ln.startswith("Signal specialist-on-standard") and ln.endswith("⇒ TRUE") for ln in lines)
    assert any(ln.startswith("    delta n/a, at stake 52.50 €: How-to help") for ln in lines)
