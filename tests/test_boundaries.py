"""Tests that guard the boundaries a mutation run found unguarded (issue 14).

Each test fails under one deliberate bug: a waiver's ``expires_on`` compared with ``<`` instead
of ``<=``; a ticket's opened month taken in UTC instead of local time; an internal error exiting
with another code than 5 or without its log; a price period's last day priced by the next period.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_engine_support import D, audit, entry, one, ticket

from audit.cli import main

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
SAMPLE = ROOT / "sample_data"
WEB = "webdesign"


def _waiver(tmp_path, expires_on: str):
    return audit(
        tmp_path,
        tickets=[ticket("T-mar", WEB, "extended", customer_id="K-10007", opened_at="2026-03-02 09:00")],
        entries=[entry("E-1", "T-mar", "2026-03-10 10:00", minutes=15)],
        edits={"waivers.yaml": [("expires_on: 2026-12-31", f"expires_on: {expires_on}")]},
    )


def test_a_waiver_expiring_on_the_first_day_of_the_month_still_covers_it(tmp_path):
    f = one(_waiver(tmp_path, "2026-03-01").findings, ticket_id="T-mar")
    assert (f["kind"], f["status"], f["waiver_id"], f["delta_eur"]) == (
        "extended_unbilled", "waived", "W-2026-001", D("17.50"))


def test_a_waiver_expiring_the_day_before_the_month_does_not(tmp_path):
    f = one(_waiver(tmp_path, "2026-02-28").findings, ticket_id="T-mar")
    assert (f["status"], f["waiver_id"]) == ("open", None)
    assert f["message"].endswith("(waiver W-2026-001 expired on 2026-02-28)")


@pytest.mark.parametrize("opened_at", [
    "2026-06-01 00:30",            # naive: Berlin local time, 2026-05-31 22:30 UTC
    "2026-05-31T22:30:00+00:00",   # the same instant written in UTC
    "2026-06-01T00:00:00+02:00",   # local midnight exactly
])
def test_a_ticket_opened_just_after_local_midnight_on_the_first_belongs_to_that_month(tmp_path, opened_at):
    # no time entries: the ticket's one classification row is in its opened month (local)
    res = audit(tmp_path, tickets=[ticket("T-1", WEB, "extended", opened_at=opened_at)])
    assert one(res.classifications, ticket_id="T-1")["month"] == "2026-06"


def test_a_ticket_opened_just_before_local_midnight_stays_in_the_earlier_month(tmp_path):
    res = audit(tmp_path, tickets=[ticket("T-1", WEB, "extended", opened_at="2026-05-31T23:59:59+02:00")])
    assert one(res.classifications, ticket_id="T-1")["month"] == "2026-05"


def test_the_last_day_of_a_price_period_has_its_price(tmp_path):
    # 17.50 € until 2026-06-30 and 19.00 € from 2026-07-01 (the default policy)
    res = audit(
        tmp_path,
        tickets=[ticket(t, WEB, "extended", opened_at="2026-06-01 09:00") for t in ("T-last", "T-next", "T-utc")],
        entries=[entry("E-1", "T-last", "2026-06-30 23:50", minutes=15),          # last day, local
                 entry("E-2", "T-next", "2026-07-01 00:05", minutes=15),          # first day of the next
                 entry("E-3", "T-utc", "2026-06-30T22:10:00+00:00", minutes=15)],  # 07-01 00:10 local
    )
    last, nxt, utc = (one(res.reconciliation, ticket_id=t) for t in ("T-last", "T-next", "T-utc"))
    assert (last["month"], last["expected_units"], last["expected_eur"]) == ("2026-06", D("1"), D("17.50"))
    assert (nxt["month"], nxt["expected_eur"]) == ("2026-07", D("19.00"))
    assert (utc["month"], utc["expected_eur"]) == ("2026-07", D("19.00"))


def _run_raising(error: BaseException, out: Path, capsys, monkeypatch) -> tuple[int, str]:
    """``run`` on the sample with the audit raising ``error``: (exit code, what it printed on stderr)."""
    import audit.api

    def raising(*_a, **_k):
        raise error

    monkeypatch.setattr(audit.api, "run_audit", raising)
    with pytest.raises(SystemExit) as e:
        main(["run", "--policy", str(POLICIES), "--data", str(SAMPLE), "--out", str(out), "-q"])
    return e.value.code, capsys.readouterr().err


def test_an_internal_error_exits_5_and_leaves_its_traceback_in_a_log(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    code, err = _run_raising(RuntimeError("deliberate bug for the test"), out, capsys, monkeypatch)
    assert code == 5
    assert "internal error: RuntimeError('deliberate bug for the test')" in err
    assert "This is a bug in support-audit" in err and "Traceback" not in err
    log = Path(re.search(r"the details are in (\S+support-audit-crash-\S+\.log)", err).group(1))
    try:
        text = log.read_text()
        assert "Traceback (most recent call last)" in text and "deliberate bug for the test" in text
    finally:
        log.unlink()
    assert not (out / "run.json").exists()  # a crashed run commits nothing


def test_a_full_disk_is_exit_4_with_what_to_do_not_a_bug(tmp_path, capsys, monkeypatch):
    # DuckDB's own words when its disk fills while it writes an output (seen at 10 M entries)
    import duckdb

    full = duckdb.IOException(
        'IO Error: Async write failed for range [offset=236629634, size=78871915]: '
        '{"exception_type":"IO","exception_message":"Could not write file '
        '\\"/data/out/.staging-1/actions.csv.tmp\\": No space left on device","errno":"28"}')
    out = tmp_path / "out"
    code, err = _run_raising(full, out, capsys, monkeypatch)
    assert code == 4
    assert err.startswith("error: the disk is full: DuckDB could not write a file "
                          "(/data/out/.staging-1/actions.csv.tmp). Free some space")
    assert "TMPDIR" in err and "bug" not in err and "crash" not in err
    assert not (out / "run.json").exists()
