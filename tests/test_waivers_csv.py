"""Long waiver lists as ``waivers.csv`` (issue 14: 60,000 waivers must load and check in seconds).

A year of a big desk's exceptions is tens of thousands of waivers: in YAML they are refused by
the 2 MiB file limit (and ruamel takes about 2.5 s per MB). Listed in ``waivers.csv`` they load
through the C csv module, every row and cell keeping its line and column for the messages, and
the engine matches them with joins instead of one CASE arm per waiver.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from test_engine_support import D, audit, entry, one, ticket
from test_policy_limits import refused

from audit.cli import main
from audit.engine import findings as findings_module
from audit.policy import loader
from audit.policy.loader import load_policy

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
HEADER = "id,ticket,customer,kind,month,reason,approved_by,approved_on,expires_on\n"
WEB = "webdesign"
N = 60_000


def filler(i: int) -> str:
    """A waiver for a ticket no test data has (a comma in the quoted reason, one in three with
    a kind)."""
    kind = ("extended_unbilled", "standard_billed", "")[i % 3]
    return (f'W-{i:06d},T-{100000 + i},,{kind},,"Kulanz, Ticket {i} – vereinbart",'
            f"Leitung Support,2026-01-05,2026-12-31\n")


def waiver_list(n: int, special: dict[int, str] | None = None) -> str:
    """``n`` waiver rows (row i on line i + 2), ``special`` replacing some of them."""
    special = special or {}
    return HEADER + "".join(special.get(i) or filler(i) for i in range(n))


def csv_bundle(tmp_path: Path, text: str) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    (target / "waivers.yaml").write_text("waivers:\n", encoding="utf-8")
    (target / "waivers.csv").write_text(text, encoding="utf-8")
    return target


def test_sixty_thousand_waivers_load_with_their_lines_and_check_ok(tmp_path, capsys):
    target = csv_bundle(tmp_path, waiver_list(N))
    assert target.joinpath("waivers.csv").stat().st_size > 3 * loader.MAX_FILE_BYTES
    bundle = load_policy(target)
    assert len(bundle.waivers) == N
    w = bundle.waivers[41_998]
    assert (w.id, w.scope.ticket, w.scope.kind, w.reason) == (
        "W-041998", "T-141998", "standard_billed", "Kulanz, Ticket 41998 – vereinbart")
    assert (w.loc.file, w.loc.line, w.loc.col) == ("waivers.csv", 42_000, 1)
    assert str(w.expires_on) == "2026-12-31" and bundle.waivers[2].scope.kind is None
    with pytest.raises(SystemExit) as e:
        main(["check", "--policy", str(target), "--as-of", "2026-06-01"])
    out = capsys.readouterr().out
    assert e.value.code == 0, out
    assert f"{N} waivers" in out


@pytest.mark.parametrize(
    ("row", "where", "message"),
    [
        ('W-x,T-1,,,,"Kulanz, kurz",Leitung Support,2026-01-05,2026-02-30\n',
         54, "expires_on: expected a date, got '2026-02-30'"),  # the cell after a quoted comma
        ("W-x,T-1,,extended_unbiled,,Kulanz,Leitung Support,2026-01-05,2026-12-31\n",
         10, "unknown finding kind 'extended_unbiled'"),
        ("W-x,,,,,Kulanz,Leitung Support,2026-01-05,2026-12-31\n",
         1, "a waiver scope names at least one of ticket, customer, kind, month"),
        ("W-x,T-1,,,,Kulanz,,2026-01-05,2026-12-31\n", 1, "missing required field 'approved_by'"),
        ("W-x,T-1,,,2026-13,Kulanz,Leitung Support,2026-01-05,2026-12-31\n",
         11, "'2026-13' is not a month"),
        ("W-x,T-1,,,,Kulanz,Leitung Support,2026-01-05,2026-12-31,zu viel\n",
         57, "10 values in a row of 9 columns"),
        ("W-000007,T-1,,,,Kulanz,Leitung Support,2026-01-05,2026-12-31\n",
         1, "duplicate waiver id 'W-000007' (it is already used at line 9)"),
    ],
)
def test_a_broken_waiver_is_reported_at_its_line_and_cell(tmp_path, row, where, message):
    # row 39,998 of 40,000 is broken: line 39,998 + 1 + 1 (the header)
    target = csv_bundle(tmp_path, waiver_list(40_000, {39_998: row}))
    text = refused(target, f"waivers.csv:40000:{where}: ", message)
    assert text.count("waivers.csv:") == 1, text  # the one broken row, none of the others


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,ticket,reason,aproved_by,approved_on,expires_on\n",
         "waivers.csv:1:18: unknown column 'aproved_by' in the waiver list (did you mean 'approved_by'?)"),
        ("id,ticket,reason,approved_on\n", "waivers.csv:1:1: the waiver list has no column "
                                           "'approved_by', 'expires_on'"),
        (HEADER + 'W-1,T-1,,,,"Kulanz "x,Leitung,2026-01-05,2026-12-31\n',
         "waivers.csv:2: CSV syntax error"),
    ],
)
def test_a_broken_header_or_quote_is_one_clear_error(tmp_path, text, message):
    refused(csv_bundle(tmp_path, text), message)


def test_semicolons_comments_blank_lines_and_a_quoted_line_break(tmp_path):
    text = ("# waivers 2026, Leitung Support\n"
            "ID;Ticket;Reason;Approved_By;Approved_On;Expires_On\n"
            "\n"
            'W-1;T-1;"Kulanz;\nzweite Zeile";Leitung;2026-01-05;2026-12-31\n'
            "# W-2;T-2;auskommentiert;Leitung;2026-01-05;2026-12-31\n"
            "W-3 ; T-3 ;Kulanz;Leitung;2026-01-05;2026-02-30\n")
    refused(csv_bundle(tmp_path / "bad", text), "waivers.csv:7:38: expires_on: expected a date")
    bundle = load_policy(csv_bundle(tmp_path / "ok", text.replace("2026-02-30", "2026-02-28")))
    assert [(w.id, w.scope.ticket, w.reason, w.loc.line) for w in bundle.waivers] == [
        ("W-1", "T-1", "Kulanz;\nzweite Zeile", 4), ("W-3", "T-3", "Kulanz", 7)]


def test_waivers_in_both_yaml_and_csv_is_a_clear_error(tmp_path):
    target = csv_bundle(tmp_path, waiver_list(3))
    shutil.copy(POLICIES / "waivers.yaml", target / "waivers.yaml")
    refused(target, "waivers.yaml:4:1: section 'waivers' is defined twice (it is already defined "
                    "at ", "waivers.csv:1:1; keep one)")


def test_size_limits_say_what_to_do(tmp_path, monkeypatch):
    target = csv_bundle(tmp_path, waiver_list(50))
    monkeypatch.setattr(loader, "MAX_CSV_BYTES", 1024)
    refused(target, "waivers.csv: the file is ", "at most 1,024 per waiver list")
    monkeypatch.setattr(loader, "MAX_FILE_BYTES", 256)
    (target / "waivers.csv").unlink()
    shutil.copy(POLICIES / "waivers.yaml", target / "waivers.yaml")
    refused(target, "waivers.yaml: the file is ", "at most 256 per policy file",
            "list many waivers in waivers.csv")


def test_sixty_thousand_waivers_apply_first_in_policy_order(tmp_path):
    """Four tickets with an unbilled extended quarter hour in March, among 60,000 waivers."""
    def row(wid: str, scope: str, expires: str = "2026-12-31") -> str:
        return f"{wid},{scope},Kulanz,Leitung Support,2026-01-05,{expires}\n"

    special = {
        100: row("W-b-expired", "T-b,,,", "2026-02-28"),
        30_000: row("W-a", "T-a,,extended_unbilled,"),
        40_000: row("W-d-customer", ",K-2,,2026-03"),
        50_000: row("W-b", "T-b,,extended_unbilled,"),
        55_000: row("W-d-ticket", "T-d,,,"),
        59_999: row("W-c", "T-c,,,", "2026-02-28"),
    }
    tickets = [ticket("T-a", WEB, "extended"), ticket("T-b", WEB, "extended"),
               ticket("T-c", WEB, "extended"), ticket("T-d", WEB, "extended", customer_id="K-2"),
               ticket("T-e", WEB, "extended")]
    entries = [entry(f"E-{t}", f"T-{t}", "2026-03-10 10:00", minutes=15) for t in "abcde"]
    res = audit(tmp_path, tickets=tickets, entries=entries,
                files={"waivers.yaml": "waivers:\n", "waivers.csv": waiver_list(N, special)})
    got = {t: one(res.findings, ticket_id=f"T-{t}", kind="extended_unbilled") for t in "abcde"}
    assert {t: (f["status"], f["waiver_id"]) for t, f in got.items()} == {
        "a": ("waived", "W-a"), "b": ("waived", "W-b"), "c": ("open", None),
        "d": ("waived", "W-d-customer"), "e": ("open", None)}
    assert got["c"]["message"].endswith("(waiver W-c expired on 2026-02-28)")
    assert got["a"]["delta_eur"] == D("17.50")


def test_the_join_and_the_case_form_of_waivers_give_the_same_findings(tmp_path, monkeypatch):
    """Above WAIVER_CASE_LIMIT waivers are joined; below they are CASE arms: same findings."""
    scopes = ["T-a,,,", ",K-2,,", "T-b,,extended_unbilled,", ",,extended_unbilled,2026-04",
              "T-c,K-1,,2026-03", ",K-1,standard_billed,", "T-x,,,"]
    expires = ["2026-12-31", "2026-02-28", "2026-03-01", "2026-03-31"]
    rows = [f"W-{i},{scopes[i % len(scopes)]},Kulanz,Leitung,2026-01-01,{expires[i % 4]}\n"
            for i in range(findings_module.WAIVER_CASE_LIMIT + 36)]
    rows.append("W-exp,T-d,,,,Kulanz,Leitung,2026-01-01,2026-02-28\n")  # T-d: expired only
    tickets = [ticket(t, WEB, "extended", customer_id=c)
               for t, c in (("T-a", "K-1"), ("T-b", "K-2"), ("T-c", "K-1"), ("T-d", "K-10007"))]
    tickets.append(ticket("T-s", "documentation", "extended"))  # standard work, invoiced below
    entries = [entry(f"E-{t}-{m}", t, f"2026-0{m}-10 10:00", minutes=20)
               for t in ("T-a", "T-b", "T-c", "T-d", "T-s") for m in (3, 4)]
    run = {"tickets": tickets, "entries": entries,
           "files": {"waivers.yaml": "waivers:\n", "waivers.csv": HEADER + "".join(rows)}}
    joined = audit(tmp_path / "join", **run).findings
    monkeypatch.setattr(findings_module, "WAIVER_CASE_LIMIT", 10_000)
    cased = audit(tmp_path / "case", **run).findings
    key = ["finding_id"]
    assert joined.height >= 8 and joined["status"].value_counts().height == 2
    assert joined.filter(pl.col("message").str.contains(r"\(waiver W-\w+ expired on")).height > 0
    assert joined.sort(key).equals(cased.sort(key))


def test_check_gives_the_csv_problems_their_codes(tmp_path):
    from audit.policy.check import check_policy

    text = ("id,ticket,reason,aproved_by,approved_by,approved_on,expires_on\n"
            "W-1,T-1,Kulanz,x,Leitung,2026-01-05,2026-12-31\n")
    report = check_policy(csv_bundle(tmp_path / "header", text))
    assert [(p.code, p.location.line) for p in report.problems] == [("SA104", 1)]
    text = HEADER + "W-1,T-1,,,,Kulanz,Leitung,2026-01-05,2026-12-31,x\nW-2,T-1,,,,Kulanz,,2026-01-05,2026-12-31\n"
    report = check_policy(csv_bundle(tmp_path / "rows", text))
    assert [(p.code, p.location.line) for p in report.problems] == [("SA101", 2), ("SA105", 3)]
