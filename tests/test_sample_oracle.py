"""An independent audit of generated sample data, to hold the generator's ground truth against.

Written from docs/semantics.md, audit/contract.py and the policy files, not from the generator's
code: the CSVs are read with the csv module in the dialects docs/sample-data.md states, the
policy's classification and signal conditions run in DuckDB straight from ``policies/*.yaml``,
durations and local dates come from zoneinfo, money is Decimal. When generator and oracle
disagree, one of them misreads the semantics, and the ground truth the audit engine is scored
against would be wrong.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
from ruamel.yaml import YAML

from audit.contract import CAUSES, PRIORITIES
from audit.sample import generate

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
POLICY = ROOT / "policies"

IN_SET = "expect_column_values_to_be_in_set"
IN_TABLE = "expect_column_values_to_be_in_table"
UNIQUE = "expect_column_values_to_be_unique"
A_GE_B = "expect_column_pair_values_a_to_be_greater_than_b"
PARSE = "parse_error"
_DE_NUMBER = re.compile(r"^-?\d+(,\d{1,2})?$")


def load_policy(root: Path = POLICY) -> dict:
    yaml = YAML(typ="safe", pure=True)
    doc: dict = {}
    for path in sorted(root.glob("*.yaml")):
        doc.update(yaml.load(path.read_text(encoding="utf-8")))
    return doc


def records(path: Path, encoding: str, delimiter: str):
    """(physical start line, header-keyed record or None when it does not parse)."""
    with open(path, encoding=encoding, newline="") as f:
        reader = csv.reader(f, delimiter=delimiter, strict=True)
        header = next(reader)
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error:
                yield start, None
                continue
            yield start, (dict(zip(header, row, strict=True)) if len(row) == len(header) else None)


@dataclass
class Loaded:
    customers: dict = field(default_factory=dict)
    services: dict = field(default_factory=dict)
    tickets: dict = field(default_factory=dict)
    entries: list = field(default_factory=list)
    lines: list = field(default_factory=list)
    quarantine: set = field(default_factory=set)  # (table, line, key or None, expectation)
    rows: dict = field(default_factory=dict)
    roles: dict = field(default_factory=dict)  # agent login -> role ("" when empty)


def load(directory: Path, tz: ZoneInfo, tier_ids: set[str]) -> Loaded:
    """Read the five CSVs and quarantine what the contract rejects (first reason only)."""
    data = Loaded()

    def run(name, check, encoding="utf-8", delimiter=","):
        n = q = 0
        for line, rec in records(directory / f"{name}.csv", encoding, delimiter):
            n += 1
            reason = PARSE if rec is None else check(rec)
            if reason:
                q += 1
                data.quarantine.add((name, line, rec and next(iter(rec.values())), reason))
        data.rows[name] = {"in": n, "loaded": n - q, "quarantined": q}

    def customer(rec):
        data.customers[rec["customer_id"]] = rec

    def service(rec):
        if rec["customer_id"] not in data.customers:
            return IN_TABLE
        data.services[rec["service_id"]] = {**rec, "managed": rec["managed"] == "true"}

    def ticket(rec):
        try:
            ts = {k: _naive(rec[k], tz) for k in ("opened_at", "first_response_at", "resolved_at")}
        except ValueError:
            return PARSE
        if rec["ticket_id"] in data.tickets:
            return UNIQUE
        if rec["customer_id"] not in data.customers or (rec["service_id"] and rec["service_id"] not in data.services):
            return IN_TABLE
        if rec["priority"] not in PRIORITIES or rec["tier"] not in tier_ids or (rec["cause"] and rec["cause"] not in CAUSES):
            return IN_SET
        data.tickets[rec["ticket_id"]] = {**rec, **ts}

    seen_entries: set[str] = set()

    def entry(rec):
        try:
            start = dt.datetime.fromisoformat(rec["started_at"])
            end = dt.datetime.fromisoformat(rec["ended_at"]) if rec["ended_at"] else None
            minutes = Decimal(rec["minutes"]) if rec["minutes"] else None
        except ValueError:
            return PARSE
        if rec["entry_id"] in seen_entries:
            return UNIQUE
        seen_entries.add(rec["entry_id"])
        if rec["ticket_id"] not in data.tickets:
            return IN_TABLE
        if end is not None and end < start:
            return A_GE_B
        seconds = int((end - start).total_seconds()) if end is not None else int(minutes * 60)
        data.entries.append({**rec, "start": start, "seconds": seconds})

    seen_lines: set[str] = set()

    def line(rec):
        if not all(_DE_NUMBER.match(rec[k]) for k in ("quantity", "unit_price", "amount")):
            return PARSE
        try:
            day = dt.datetime.strptime(rec["service_date"], "%d.%m.%Y").date()
        except ValueError:
            return PARSE
        if rec["line_id"] in seen_lines:
            return UNIQUE
        seen_lines.add(rec["line_id"])
        if rec["ticket_id"] not in data.tickets or rec["customer_id"] not in data.customers:
            return IN_TABLE
        num = {k: Decimal(rec[k].replace(",", ".")) for k in ("quantity", "unit_price", "amount")}
        data.lines.append({**rec, **num, "service_date": day})

    run("customers", customer)
    run("services", service)
    run("tickets", ticket, encoding="utf-8-sig")
    run("time_entries", entry)
    run("invoice_lines", line, delimiter=";")

    def agent(rec):
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$", rec["agent"]):
            return "expect_column_values_to_match_regex"
        if rec["agent"] in data.roles:
            return UNIQUE
        data.roles[rec["agent"]] = rec["role"]

    if (directory / "agents.csv").exists():  # optional table
        run("agents", agent)
    return data


def _naive(text: str, tz: ZoneInfo) -> dt.datetime | None:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz) if text else None


def classify(data: Loaded, policy: dict) -> tuple[dict[str, str | None], set[tuple[str, str, str]]]:
    """Policy tier per ticket, and the tickets a signal fires on, evaluated by DuckDB from the
    conditions as written in the policy files."""
    con = duckdb.connect()
    con.execute("CREATE TABLE customers (customer_id VARCHAR, name VARCHAR, contract VARCHAR)")
    con.execute("CREATE TABLE services (service_id VARCHAR, customer_id VARCHAR, product VARCHAR, managed BOOLEAN)")
    con.execute(
        "CREATE TABLE tickets (ticket_id VARCHAR, customer_id VARCHAR, service_id VARCHAR, priority VARCHAR,"
        " channel VARCHAR, category VARCHAR, subject VARCHAR, cause VARCHAR, tier VARCHAR)"
    )
    con.executemany("INSERT INTO customers VALUES (?, ?, ?)",
                    [(c["customer_id"], c["name"], c["contract"]) for c in data.customers.values()])
    con.executemany("INSERT INTO services VALUES (?, ?, ?, ?)",
                    [(s["service_id"], s["customer_id"], s["product"], s["managed"]) for s in data.services.values()])
    cols = ("ticket_id", "customer_id", "service_id", "priority", "channel", "category", "subject", "cause", "tier")
    con.executemany(f"INSERT INTO tickets VALUES ({', '.join('?' * len(cols))})",
                    [tuple(t[c] or None for c in cols) for t in data.tickets.values()])
    rules = policy["classification"]["rules"]
    default = policy["classification"].get("default_tier")
    case = " ".join(f"WHEN ({r['when']}) THEN '{r['tier']}'" for r in rules)
    joins = ("LEFT JOIN services service ON service.service_id = t.service_id "
             "LEFT JOIN customers customer ON customer.customer_id = t.customer_id")
    tier_sql = f"SELECT t.ticket_id, CASE {case} ELSE {repr(default) if default else 'NULL'} END AS policy_tier FROM tickets t {joins}"
    tiers = dict(con.execute(tier_sql).fetchall())
    # the facts the work signals read, as relations named like the condition's prefixes
    con.execute("CREATE TABLE work (ticket_id VARCHAR, minutes DECIMAL(38, 10), roles VARCHAR)")
    seconds: dict[str, int] = defaultdict(int)
    roles: dict[str, set[str]] = defaultdict(set)
    for e in data.entries:
        seconds[e["ticket_id"]] += e["seconds"]
        if data.roles.get(e["agent"]):
            roles[e["ticket_id"]].add(data.roles[e["agent"]])
    con.executemany("INSERT INTO work VALUES (?, ?, ?)", [
        (tid, Decimal(seconds[tid]) / 60, ",".join(sorted(roles[tid])) or None) for tid in data.tickets])
    rule_case = " ".join(f"WHEN ({r['when']}) THEN '{r['id']}'" for r in rules)
    clause_case = " ".join(f"WHEN ({r['when']}) THEN {repr(r['clause']) if r.get('clause') else 'NULL'}"
                           for r in rules)
    con.execute(f"CREATE TABLE decision AS SELECT t.ticket_id, CASE {rule_case} END AS rule,"
                f" CASE {clause_case} END AS clause FROM tickets t {joins}")
    fired: set[tuple[str, str]] = set()
    for signal in policy.get("signals", []):
        assert signal.get("scope", "ticket") == "ticket"
        sql = (f"WITH c AS ({tier_sql}) SELECT t.ticket_id FROM tickets t JOIN c USING (ticket_id) "
               f"{joins} JOIN work USING (ticket_id) JOIN decision USING (ticket_id) WHERE ({signal['when']})")
        fired |= {(signal.get("kind", "suspected_misclassification"), r[0], signal["id"])
                  for r in con.execute(sql).fetchall()}
    return tiers, fired


def audit(directory: Path, policy_dir: Path = POLICY) -> dict:
    """Findings, quarantine, rows and money of ``directory`` per docs/semantics.md; also the
    policy tier per ticket and (expected, billed) per classified ticket-month, for the diff's
    oracle (tests/test_diff.py)."""
    policy = load_policy(policy_dir)
    tz = ZoneInfo(policy["settings"]["timezone"])
    billing = policy["billing"]
    assert (billing["rounding"], billing["scope"], billing["overrides"]) == ("ceil", "entry", [])
    unit = billing["unit_minutes"] * 60
    billable = {t["id"]: t["billable"] for t in policy["tiers"]}
    data = load(directory, tz, set(billable))
    tiers, signals = classify(data, policy)

    def price(day: dt.date) -> Decimal:
        for p in billing["prices"]:
            if p["from"] <= day and (p.get("to") is None or day <= p["to"]):
                return Decimal(p["unit_price"])
        raise AssertionError(f"unpriced {day}")

    def month(day) -> str:
        return f"{day.year:04d}-{day.month:02d}"

    tracked = defaultdict(lambda: {"units": 0, "eur": Decimal("0.00"), "n": 0})
    for e in data.entries:
        day = e["start"].astimezone(tz).date()
        u = -(-e["seconds"] // unit)
        tm = tracked[(e["ticket_id"], month(day))]
        tm["units"] += u
        tm["eur"] += u * price(day)
        tm["n"] += 1
    billed = defaultdict(list)
    for ln in data.lines:
        billed[(ln["ticket_id"], month(ln["service_date"]))].append(ln)

    findings = []

    stake: dict[str, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for e in data.entries:
        day = e["start"].astimezone(tz).date()
        stake[e["ticket_id"]] += -(-e["seconds"] // unit) * price(day)

    def add(kind, tid, mon, delta, line_id=None, at_stake=None):
        cid = data.tickets[tid]["customer_id"]
        status = "open"
        for w in policy.get("waivers", []):
            scope = w["scope"]
            if (scope.get("ticket") in (None, tid) and scope.get("customer") in (None, cid)
                    and scope.get("kind") in (None, kind) and scope.get("month") in (None, mon)
                    and dt.date.fromisoformat(mon + "-01") <= w["expires_on"]):
                status = "waived"
        findings.append((kind, tid, mon, line_id, status, None if delta is None else f"{delta:.2f}",
                         None if at_stake is None else f"{at_stake:.2f}"))

    for tid, t in data.tickets.items():
        opened = month(t["opened_at"].astimezone(tz))
        ptier = tiers[tid]
        if ptier is None:
            add("unclassified_ticket", tid, opened, None)
        elif ptier != t["tier"]:
            add("tier_mismatch", tid, opened, Decimal("0.00"))
        for kind, fired_tid, _signal in sorted(signals):  # two signals of one kind: two findings
            if fired_tid == tid:  # every signal finding: what the ticket would bill if extended
                add(kind, tid, opened, None, at_stake=stake[tid])

    money = {"under": Decimal("0.00"), "over": Decimal("0.00"), "waived": Decimal("0.00")}
    recon: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
    for key in sorted(set(tracked) | set(billed)):
        tid, mon = key
        ptier = tiers[tid]
        if ptier is None:
            continue  # unclassified: listed for review, no billing findings
        tm, lines = tracked.get(key), billed.get(key, [])
        billed_eur = sum((ln["amount"] for ln in lines), Decimal("0.00"))
        n_before = len(findings)
        if not billable[ptier]:
            expected = Decimal("0.00")
            if billed_eur != 0:
                add("standard_billed", tid, mon, -billed_eur)
        else:
            expected = tm["eur"] if tm else Decimal("0.00")
            positive = sorted({ln["invoice_id"] for ln in lines if ln["quantity"] > 0})
            considered = lines
            if len(positive) > 1:
                others = [ln for ln in lines if ln["invoice_id"] in positive[1:]]
                add("duplicate_billing", tid, mon, -sum(ln["amount"] for ln in others))
                considered = [ln for ln in lines if ln["invoice_id"] == positive[0] or ln["quantity"] < 0]
            if tm and tm["units"] > 0 and not lines:
                add("extended_unbilled", tid, mon, expected)
            if tm and lines and sum(ln["quantity"] for ln in considered) != tm["units"]:
                add("units_mismatch", tid, mon, expected - sum(ln["amount"] for ln in considered))
            if not tm and billed_eur != 0:
                add("billed_without_time", tid, mon, -billed_eur)
            for ln in lines:
                if ln["quantity"] > 0 and ln["unit_price"] != price(ln["service_date"]):
                    add("price_mismatch", tid, mon, ln["quantity"] * (price(ln["service_date"]) - ln["unit_price"]), ln["line_id"])
        for ln in lines:
            if ln["amount"] != ln["quantity"] * ln["unit_price"]:
                add("amount_mismatch", tid, mon, ln["quantity"] * ln["unit_price"] - ln["amount"], ln["line_id"])
        delta = expected - billed_eur
        recon[key] = (expected, billed_eur)
        money["under" if delta > 0 else "over"] += delta
        for f in findings[n_before:]:
            if f[4] == "waived" and f[3] is None:
                money["waived"] += Decimal(f[5])
    return {"findings": findings, "quarantine": data.quarantine, "rows": data.rows, "money": money,
            "tiers": tiers, "recon": recon, "data": data}


def compare(directory: Path) -> None:
    truth = json.loads((directory / "ground_truth.json").read_text(encoding="utf-8"))
    got = audit(directory)
    expected = sorted(
        (f["kind"], f["ticket_id"], f["month"], f["line_id"], f["status"], f["delta_eur"], f["at_stake_eur"])
        for f in truth["findings"]
    )
    assert sorted(got["findings"], key=str) == sorted(expected, key=str)
    assert got["rows"] == truth["rows"]
    listed = {(q["table"], q["line"]): (q["key"], q["expectation"]) for q in truth["quarantine"]}
    found = {(t, ln): (k, e) for t, ln, k, e in got["quarantine"]}
    assert {k: e for k, (_, e) in found.items()} == {k: e for k, (_, e) in listed.items()}
    # keys too, where the record parses at all
    assert {k: v for k, v in found.items() if v[0]} == {k: v for k, v in listed.items() if found[k][0]}
    m = got["money"]
    assert truth["money"] == {
        "under_billed_eur": f"{m['under']:.2f}", "over_billed_eur": f"{m['over']:.2f}",
        "net_eur": f"{m['under'] + m['over']:.2f}", "waived_eur": f"{m['waived']:.2f}",
    }


def test_committed_sample_agrees_with_an_independent_audit():
    compare(SAMPLE)


@pytest.mark.parametrize(
    "seed, start, months, tickets, dirty",
    [
        (11, "2026-03", 2, 420, True),  # spring DST change (29 Mar), price 17.50 only
        (5, "2026-09", 3, 260, True),  # autumn DST change (25 Oct), price 19.00 only
        (3, "2026-06", 1, 150, False),  # one month: no "next month" for duplicates and credits
        (8, "2026-06", 2, 230, True),  # price change between the two months
    ],
)
def test_generated_variants_agree_with_an_independent_audit(tmp_path, seed, start, months, tickets, dirty):
    generate(tmp_path, seed=seed, start=start, months=months, tickets=tickets, dirty=dirty)
    compare(tmp_path)


def test_clean_invoiced_quantities_are_started_quarter_hours():
    """For every invoiced ticket-month the ground truth calls clean, the billed quantity is
    Σ ⌈seconds / 900⌉ over the entries that start in that local month, recomputed here."""
    truth = json.loads((SAMPLE / "ground_truth.json").read_text(encoding="utf-8"))
    flagged = {(f["ticket_id"], f["month"]) for f in truth["findings"]}
    tz = ZoneInfo("Europe/Berlin")
    data = load(SAMPLE, tz, {"standard", "extended"})
    units: dict[tuple[str, str], int] = defaultdict(int)
    for e in data.entries:
        units[(e["ticket_id"], f"{e['start'].astimezone(tz):%Y-%m}")] += -(-e["seconds"] // 900)
    checked = 0
    for ln in data.lines:
        key = (ln["ticket_id"], f"{ln['service_date']:%Y-%m}")
        if key not in flagged and ln["quantity"] > 0 and not ln["invoice_id"].startswith("GS"):
            assert ln["quantity"] == units[key], key
            checked += 1
    assert checked > 100


def test_generator_mirror_of_the_policy_agrees_with_the_policy_files():
    """audit/sample/euserv.py restates the default policy for the generator; hold it to the YAML."""
    from audit.sample import euserv
    from audit.sample.tickets import CATEGORIES

    policy = load_policy()
    assert policy["settings"]["timezone"] == euserv.TIMEZONE
    billing = policy["billing"]
    assert (billing["unit_minutes"] * 60, billing["rounding"], billing["scope"]) == (euserv.UNIT_SECONDS, "ceil", "entry")
    prices = [(p["from"], p.get("to"), Decimal(p["unit_price"])) for p in billing["prices"]]
    assert prices == list(euserv.PRICES)
    (waiver,) = policy["waivers"]
    assert waiver["scope"] == {"customer": euserv.WAIVER_CUSTOMER, "kind": euserv.WAIVER_KIND}
    assert waiver["expires_on"] == euserv.WAIVER_EXPIRES
    signals = {s["id"]: s for s in policy["signals"]}
    assert {s["kind"] for s in signals.values()} == {euserv.SIGNAL_KIND}
    assert f"'{euserv.SIGNAL_KEYWORDS.pattern}'" in signals["extended-keywords-on-standard"]["when"]
    assert f"work.minutes > {euserv.HOWTO_MAX_SECONDS // 60}" in signals["long-howto-help"]["when"]
    assert f"contains(work.roles, '{euserv.SPECIALIST_ROLE}')" in signals["specialist-on-standard"]["when"]

    data = Loaded()
    data.customers["K-1"] = {"customer_id": "K-1", "name": "x", "contract": "basic"}
    for sid, managed in (("S-M", True), ("S-U", False)):
        data.services[sid] = {"service_id": sid, "customer_id": "K-1", "product": "p", "managed": managed}
    expected = {}
    categories = (*CATEGORIES.items, *euserv.UNKNOWN_CATEGORIES)
    for i, (category, cause, sid) in enumerate(
        (c, cause, s) for c in categories for cause in ("", *CAUSES) for s in ("", "S-M", "S-U")
    ):
        tid = f"T-{i}"
        data.tickets[tid] = {"ticket_id": tid, "customer_id": "K-1", "service_id": sid, "priority": "low",
                             "channel": "", "category": category, "subject": "x", "cause": cause, "tier": "standard"}
        managed = None if not sid else data.services[sid]["managed"]
        expected[tid] = euserv.policy_tier(category, cause or None, managed)
    tiers, _ = classify(data, policy)
    assert tiers == expected
    assert {t for t in expected.values()} == {"standard", "extended", None}
    # the work signals' set of tickets (decision.clause, policy_tier): euserv.is_howto
    data.entries = [{"ticket_id": tid, "agent": "x", "seconds": 3600} for tid in data.tickets]
    data.roles = {"x": euserv.SPECIALIST_ROLE}
    _, fired = classify(data, policy)
    howto = {tid for tid, t in data.tickets.items() if euserv.is_howto(
        t["category"], t["cause"] or None, None if not t["service_id"] else data.services[t["service_id"]]["managed"])}
    assert {tid for _, tid, _signal in fired} == howto and howto


def test_subject_pools_respect_the_signal_keywords():
    """Pools used on clean tickets recorded ``standard`` must not trip the keyword signal (it
    would be a finding on clean data); the planted false-alarm pool must trip it."""
    from audit.sample import vocab

    signal = next(s for s in load_policy()["signals"] if s["id"] == "extended-keywords-on-standard")
    keywords = re.compile(re.search(r"regexp_matches\(lower\(subject\), '([^']*)'\)", signal["when"]).group(1))
    keyword_free = [
        *vocab.CUSTOMER_CENTER_USAGE_SUBJECTS, *vocab.SOFTWARE_USAGE_SUBJECTS, *vocab.DOCUMENTATION_SUBJECTS,
        *(s for pool in vocab.FAULT_SUBJECTS.values() for s in pool),
        *(s for pool in vocab.UNKNOWN_CATEGORY_SUBJECTS.values() for s in pool),
        vocab.MULTILINE_SUBJECT, vocab.SEMICOLON_QUOTE_SUBJECT, vocab.FORMULA_SUBJECT, vocab.XSS_SCRIPT, vocab.XSS_IMG,
    ]
    assert [s for s in keyword_free if keywords.search(s.lower())] == []
    howto = [s for pool in vocab.KEYWORD_HOWTO_SUBJECTS.values() for s in pool]
    assert all(keywords.search(s.lower()) for s in howto)
    # the extended pools offer both, so a mis-recorded ticket may or may not look suspicious
    extended = [*vocab.MISCONFIGURATION_SUBJECTS, *vocab.DATA_LOSS_SUBJECTS, *vocab.WEBDESIGN_SUBJECTS]
    assert {bool(keywords.search(s.lower())) for s in extended} == {True, False}
