"""`support-audit diff`: two policies over the same data, checked against a hand computation.

The oracle is tests/test_sample_oracle.py's independent audit (csv module, Decimal, zoneinfo,
the policy YAML read with ruamel): it is run once per policy copy over sample_data/, and the tier
changes, the money per month/customer/contract and the finding changes are recomputed here from
its per-ticket tiers and per-ticket-month (expected, billed) amounts, never from the engine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from test_engine_support import edited_policy
from test_sample_oracle import POLICY, SAMPLE, classify, load_policy
from test_sample_oracle import audit as oracle_audit

from audit.cli import main
from audit.diff import diff_policies
from audit.diff.write import md_text, render_html, render_markdown
from audit.errors import PolicyError, UsageError

ZERO = Decimal("0.00")

VARIANTS = {
    # (a) the July price raised by 1.00 EUR
    "july_price_plus_1": {"billing.yaml": [('unit_price: "19.00"', 'unit_price: "20.00"')]},
    # (b) web design moved to standard support
    "webdesign_standard": {"classification.yaml": [
        ("- id: webdesign\n      tier: extended", "- id: webdesign\n      tier: standard")]},
    # (c) a 30-minute billing unit
    "unit_30_minutes": {"billing.yaml": [("unit_minutes: 15", "unit_minutes: 30")]},
}


def run_cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    return exc.value.code


@pytest.fixture(scope="module")
def base_oracle():
    return oracle_audit(SAMPLE, POLICY)


def _policy(tmp_path_factory, name: str) -> Path:
    return edited_policy(tmp_path_factory.mktemp(name), VARIANTS[name], sla=True)  # as shipped, SLA on


# --------------------------------------------------------------------------------------------
# The hand computation


def _sides(recon: dict, key: tuple) -> tuple[Decimal, Decimal]:
    expected, billed = recon.get(key, (ZERO, ZERO))
    return expected, expected - billed


def deciding_rules(data, policy_dir: Path) -> dict[str, str | None]:
    """The rule that decides each ticket: the oracle's classification with every rule's tier
    replaced by the rule's id (None when no rule matches and there is no default)."""
    policy = load_policy(policy_dir)
    rules = policy["classification"]["rules"]
    policy["classification"] = {**policy["classification"], "default_tier": None,
                                "rules": [{**r, "tier": r["id"]} for r in rules]}
    return classify(data, policy)[0]


def hand_diff(base: dict, head: dict, rules: tuple[dict, dict] | None = None) -> dict:
    """Tier changes, money totals and breakdowns, finding changes from two oracle audits
    (and per pair of deciding rules, when ``rules`` gives them per ticket)."""
    data = base["data"]
    changed_tickets = {t for t in base["tiers"] if base["tiers"][t] != head["tiers"][t]}
    matrix = Counter((base["tiers"][t], head["tiers"][t]) for t in changed_tickets)
    keys = set(base["recon"]) | set(head["recon"])
    totals = defaultdict(lambda: [ZERO, ZERO])  # measure -> [base, head]
    groups = {name: defaultdict(lambda: [ZERO, ZERO]) for name in ("month", "customer", "contract", "rule")}
    changed_tm = 0
    for key in keys:
        tid, month = key
        (be, bd), (he, hd) = _sides(base["recon"], key), _sides(head["recon"], key)
        cid = data.tickets[tid]["customer_id"]
        for name, value in (("expected", (be, he)), ("under", (max(bd, ZERO), max(hd, ZERO))),
                            ("over", (min(bd, ZERO), min(hd, ZERO)))):
            totals[name][0] += value[0]
            totals[name][1] += value[1]
        if (be, bd) != (he, hd) or tid in changed_tickets:
            changed_tm += 1
        pair = (rules[0][tid], rules[1][tid]) if rules else None
        for name, group in (("month", month), ("customer", cid), ("rule", pair),
                            ("contract", data.customers[cid]["contract"])):
            groups[name][group][0] += be
            groups[name][group][1] += he
    by = {name: {g: v[1] - v[0] for g, v in grp.items() if v[1] != v[0]} for name, grp in groups.items()}
    bf = {f[:4]: f[4:] for f in base["findings"]}
    hf = {f[:4]: f[4:] for f in head["findings"]}
    # a multiset: two signals of one kind on a ticket are two findings with the same key here
    bc, hc = Counter(f[:4] for f in base["findings"]), Counter(f[:4] for f in head["findings"])
    findings = {
        "appeared": sum((hc - bc).values()),
        "disappeared": sum((bc - hc).values()),
        "amount_changed": sum(1 for k in bf.keys() & hf.keys() if bf[k][1] != hf[k][1]),
    }
    return {"changed_tickets": changed_tickets, "matrix": matrix,
            "total": {k: v[1] - v[0] for k, v in totals.items()},
            "base_expected": totals["expected"][0], "by": by, "findings": findings,
            "changed_tm": changed_tm}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_diff_agrees_with_a_hand_computation(tmp_path_factory, base_oracle, variant):
    head_dir = _policy(tmp_path_factory, variant)
    head_oracle = oracle_audit(SAMPLE, head_dir)
    rules = (deciding_rules(base_oracle["data"], POLICY), deciding_rules(head_oracle["data"], head_dir))
    want = hand_diff(base_oracle, head_oracle, rules)
    out = tmp_path_factory.mktemp("out")
    got = diff_policies(POLICY, head_dir, SAMPLE, out, gx="off").doc
    assert got["changed"]

    # tier changes: the matrix and the very tickets
    assert {(c["from"], c["to"]): c["tickets"] for c in got["tiers"]["matrix"] if c["changed"]} \
        == dict(want["matrix"])
    assert {t["ticket_id"] for t in got["changes"]["tickets"]} == want["changed_tickets"]
    assert got["tiers"]["changed"] == len(want["changed_tickets"])

    # money: totals and the breakdowns
    total = got["money"]["total"]
    assert Decimal(total["expected_eur"]["base"]) == want["base_expected"]
    assert Decimal(total["expected_eur"]["change"]) == want["total"]["expected"]
    assert Decimal(total["under_billed_eur"]["change"]) == want["total"]["under"]
    assert Decimal(total["over_billed_eur"]["change"]) == want["total"]["over"]
    assert Decimal(total["net_eur"]["change"]) == want["total"]["under"] + want["total"]["over"]
    assert got["money"]["ticket_months_changed"] == want["changed_tm"]
    for name, key in (("by_month", "month"), ("by_customer", "customer_id"), ("by_contract", "contract")):
        short = key.split("_")[0] if key != "month" else "month"
        rows = {r[key]: Decimal(r["expected_eur"]["change"]) for r in got["money"][name]
                if Decimal(r["expected_eur"]["change"]) != 0}
        assert rows == want["by"][short], name
    by_rule = {(r["base_rule"], r["head_rule"]): Decimal(r["expected_eur"]["change"])
               for r in got["money"]["by_rule"] if Decimal(r["expected_eur"]["change"]) != 0}
    assert by_rule == want["by"]["rule"]

    # findings matched by id
    for change, n in want["findings"].items():
        assert got["findings"][change] == n, change

    # each change comes with example tickets that carry their arithmetic
    for row in got["money"]["by_month"]:
        assert row["examples"]
        for ex in row["examples"]:
            assert ex["month"] == row["month"]
            assert ex["explanation"]["head"] or ex["explanation"]["base"]
    md = (out / "diff.md").read_text(encoding="utf-8")
    assert md.startswith("## Policy diff\n\n**Expected revenue ")
    assert json.loads((out / "diff.json").read_text(encoding="utf-8")) == json.loads(json.dumps(got))


def test_variant_figures_are_the_expected_ones(tmp_path_factory, base_oracle):
    """Plain facts of the three changes, readable without the oracle."""
    a = hand_diff(base_oracle, oracle_audit(SAMPLE, _policy(tmp_path_factory, "july_price_plus_1")))
    assert set(a["by"]["month"]) == {"2026-07"} and not a["changed_tickets"]
    # +1.00 per July quarter hour: the change is a whole number of euros, one per unit
    assert a["total"]["expected"] > 0 and a["total"]["expected"] == a["total"]["expected"].to_integral()
    b = hand_diff(base_oracle, oracle_audit(SAMPLE, _policy(tmp_path_factory, "webdesign_standard")))
    assert set(b["matrix"]) == {("extended", "standard")} and b["total"]["expected"] < 0
    c = hand_diff(base_oracle, oracle_audit(SAMPLE, _policy(tmp_path_factory, "unit_30_minutes")))
    assert not c["changed_tickets"] and c["total"]["expected"] < 0


# --------------------------------------------------------------------------------------------
# No change, determinism, gates, CLI


def test_a_policy_diffed_with_itself_reports_no_change(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1780000000")
    out1, out2 = tmp_path / "one", tmp_path / "two"
    code = run_cli("diff", "--base", str(POLICY), "--head", str(POLICY), "--data", str(SAMPLE),
                   "--out", str(out1), "--gx", "off", "-q",
                   "--fail-if-revenue-delta-above", "0", "--fail-if-tier-changes-above", "0")
    assert code == 0
    doc = json.loads((out1 / "diff.json").read_text(encoding="utf-8"))
    assert doc["changed"] is False and doc["same_policy"] is True
    assert doc["tiers"]["changed"] == 0 and doc["money"]["ticket_months_changed"] == 0
    assert doc["changes"] == {"tickets": [], "ticket_months": [], "findings": []}
    assert all(doc["money"][k] == [] for k in ("by_customer", "by_contract", "by_rule", "by_month"))
    assert {v["change"] for v in doc["money"]["total"].values()} == {"0.00"}
    assert [g["exceeded"] for g in doc["gates"]] == [False, False]
    assert "**No change**" in (out1 / "diff.md").read_text(encoding="utf-8")
    # same inputs, same bytes
    diff_policies(POLICY, POLICY, SAMPLE, out2, gx="off",
                  fail_if_revenue_delta_above="0", fail_if_tier_changes_above=0)
    for name in ("diff.json", "diff.md", "diff.html"):
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes(), name


def test_gates_exit_1_when_exceeded(tmp_path, capsys):
    head = edited_policy(tmp_path, VARIANTS["july_price_plus_1"], sla=True)
    code = run_cli("diff", "--base", str(POLICY), "--head", str(head), "--data", str(SAMPLE),
                   "--out", str(tmp_path / "out"), "--gx", "off", "-q",
                   "--fail-if-revenue-delta-above", "100", "--fail-if-tier-changes-above", "0")
    assert code == 1
    doc = json.loads((tmp_path / "out" / "diff.json").read_text(encoding="utf-8"))
    gates = {g["gate"]: g for g in doc["gates"]}
    assert gates["revenue_delta_above"]["exceeded"] is True
    assert gates["revenue_delta_above"]["value"] == doc["money"]["total"]["expected_eur"]["change"]
    assert gates["tier_changes_above"] == {"gate": "tier_changes_above", "limit": 0, "value": 0,
                                           "exceeded": False}
    out = capsys.readouterr().out
    assert "gate revenue_delta_above" in out and "EXCEEDED" in out
    assert "❌ exceeded" in (tmp_path / "out" / "diff.md").read_text(encoding="utf-8")


def test_bad_gate_and_period_are_usage_errors(tmp_path, capsys):
    args = ["diff", "--base", str(POLICY), "--head", str(POLICY), "--data", str(SAMPLE),
            "--out", str(tmp_path / "o")]
    assert run_cli(*args, "--fail-if-revenue-delta-above", "lots") == 4
    assert "--fail-if-revenue-delta-above" in capsys.readouterr().err
    assert run_cli(*args, "--period", "2026-13") == 4
    assert run_cli(*args, "--fail-if-tier-changes-above", "-1") == 4
    assert run_cli("diff", "--base", str(tmp_path / "nope"), "--head", str(POLICY), "--data",
                   str(SAMPLE), "--out", str(tmp_path / "o")) == 4
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_incompatible_policies_are_refused_before_reading_data(tmp_path, capsys):
    head = edited_policy(tmp_path, {"bundle.yaml": [("timezone: Europe/Berlin", "timezone: UTC")]})
    code = run_cli("diff", "--base", str(POLICY), "--head", str(head), "--data", str(SAMPLE),
                   "--out", str(tmp_path / "o"))
    assert code == 2
    err = capsys.readouterr().err
    assert "settings.timezone differs from the base policy" in err and "'UTC'" in err
    with pytest.raises(PolicyError):
        diff_policies(POLICY, head, tmp_path / "no-data-needed")


# --------------------------------------------------------------------------------------------
# git revisions


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org",
                    "-c", "commit.gpgsign=false", *args], check=True, capture_output=True)


@pytest.fixture
def policy_repo(tmp_path):
    """A git repository with two commits: the shipped policy, then the July price + 1.00."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    shutil.copytree(POLICY, repo / "policies")
    _git(repo, "add", "policies")
    _git(repo, "commit", "-q", "-m", "shipped policy")
    path = repo / "policies" / "billing.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace('unit_price: "19.00"', 'unit_price: "20.00"'),
                    encoding="utf-8")
    # a symlink in the tree is not followed (it would read a file outside the bundle)
    (repo / "policies" / "secrets.yaml").symlink_to("/etc/hostname")
    _git(repo, "add", "policies")
    _git(repo, "commit", "-q", "-m", "July price + 1.00")
    return repo


def test_git_revisions_are_read_without_a_checkout(policy_repo, tmp_path, monkeypatch):
    monkeypatch.chdir(policy_repo)
    (policy_repo / "policies" / "billing.yaml").write_text("not: [valid", encoding="utf-8")  # work tree ignored
    code = run_cli("diff", "--base", "git:HEAD~1:policies", "--head", "git:main:policies",
                   "--data", str(SAMPLE), "--out", str(tmp_path / "out"), "--gx", "off", "-q")
    assert code == 0
    doc = json.loads((tmp_path / "out" / "diff.json").read_text(encoding="utf-8"))
    assert doc["base"]["source"] == "git:HEAD~1:policies" and len(doc["base"]["commit"]) == 40
    assert doc["base"]["digest"] != doc["head"]["digest"]
    # the same answer as comparing the directories
    plain = diff_policies(POLICY, edited_policy(tmp_path, VARIANTS["july_price_plus_1"], sla=True),
                          SAMPLE,
                          gx="off").doc
    assert doc["money"] == plain["money"] and doc["findings"] == plain["findings"]
    assert doc["money"]["total"]["expected_eur"]["change"] != "0.00"
    assert doc["base"]["files"] == plain["base"]["files"]
    assert set(doc["head"]["files"]) == set(plain["head"]["files"])  # no secrets.yaml


def test_git_revision_errors(policy_repo, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(policy_repo)
    common = ["--head", "policies", "--data", str(SAMPLE), "--out", str(tmp_path / "o")]
    assert run_cli("diff", "--base", "git:no-such-branch:policies", *common) == 4
    assert "unknown git revision 'no-such-branch'" in capsys.readouterr().err
    assert run_cli("diff", "--base", "git:HEAD:nowhere", *common) == 4
    assert "has no 'nowhere'" in capsys.readouterr().err
    assert run_cli("diff", "--base", "git:HEAD", *common) == 4
    assert "git:REV:PATH" in capsys.readouterr().err
    assert run_cli("diff", "--base", "git:origin/:policies", *common) == 4  # "git:origin/$UNSET:…"
    assert "an unset shell variable" in capsys.readouterr().err
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(UsageError, match="not inside a git repository"):
        diff_policies("git:HEAD:policies", POLICY, SAMPLE, repo=plain)
    # an invalid policy in a revision names the revision's file, not a temporary directory
    (policy_repo / "policies" / "billing.yaml").write_text("billing:\n  unit_minutes: -5\n", encoding="utf-8")
    _git(policy_repo, "commit", "-q", "-am", "broken")
    assert run_cli("diff", "--base", "git:HEAD:policies", "--head", str(POLICY), "--data", str(SAMPLE),
                   "--out", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert "git:HEAD:policies/billing.yaml:" in err and "support-audit-policy-" not in err


# --------------------------------------------------------------------------------------------
# Rendering: length cap, escaping


@pytest.fixture(scope="module")
def webdesign_doc(tmp_path_factory):
    return diff_policies(POLICY, _policy(tmp_path_factory, "webdesign_standard"), SAMPLE, gx="off").doc


def test_markdown_is_capped_headline_first(webdesign_doc):
    full = render_markdown(webdesign_doc)
    short = render_markdown(webdesign_doc, limit=2500)
    assert len(short.encode("utf-8")) <= 2500 < len(full.encode("utf-8"))
    assert short.splitlines()[2] == full.splitlines()[2]
    assert short.splitlines()[2].startswith("**Expected revenue -")
    assert "cut here" in short and short.rstrip().endswith("(in CI: the job's artifacts).")


def test_data_strings_are_escaped_in_markdown_and_html(webdesign_doc):
    doc = json.loads(json.dumps(webdesign_doc))
    evil = "<script>alert(1)</script> | @everyone [x](http://e.vil) `rm`"
    doc["money"]["by_customer"][0]["customer_name"] = evil
    doc["changes"]["findings"][0]["message"]["head"] = evil
    doc["changes"]["findings"][0]["message"]["base"] = evil
    md = render_markdown(doc)
    assert "<script" not in md and "@everyone" not in md and "](http" not in md
    assert md_text("a|b") == "a\\|b"
    html = render_html(doc)
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "default-src &#39;none&#39;; script-src &#39;none&#39;" in html
    assert "http://e.vil" in html  # as text only
    assert 'href="http://e.vil' not in html and "<link" not in html


def test_period_restricts_the_comparison(tmp_path):
    head = edited_policy(tmp_path, VARIANTS["july_price_plus_1"], sla=True)
    june = diff_policies(POLICY, head, SAMPLE, period="2026-06", gx="off").doc
    assert june["period"] == "2026-06" and june["changed"] is False
    july = diff_policies(POLICY, head, SAMPLE, period="2026-07", gx="off").doc
    assert [r["month"] for r in july["money"]["by_month"]] == ["2026-07"]
    assert {r["month"] for r in july["changes"]["ticket_months"]} == {"2026-07"}
    assert july["money"]["total"]["expected_eur"]["change"] == july["money"]["by_month"][0]["expected_eur"]["change"]
