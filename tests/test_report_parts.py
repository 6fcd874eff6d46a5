"""The report's building blocks on their own: formatting, the action list, the top-N findings,
data quality and the policy appendix, read from the fixture run (tests/fixtures/report)."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from fixtures.report.make_fixture import FORMULA_NAME, XSS_SCRIPT, make_fixture

import reports
from audit.errors import DataError, UsageError
from audit.policy.model import FINDING_KINDS
from reports.actions import BILLING_ACTIONS, action_list, action_rows, actions_csv
from reports.appendix import appendix_view
from reports.charts import build_charts, plotly_text
from reports.findings import top_findings
from reports.i18n import Formatter, catalogue_keys
from reports.load import load_outputs
from reports.quality import quality_view

NBSP = "\xa0"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return load_outputs(make_fixture(tmp_path_factory.mktemp("run")))


# --- formatting -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("lang", "value", "expected"),
    [
        ("de", Decimal("1234.56"), f"1.234,56{NBSP}€"),
        ("en", Decimal("1234.56"), "€1,234.56"),
        ("de", Decimal("-184.50"), f"-184,50{NBSP}€"),
        ("en", Decimal("-184.50"), "-€184.50"),
        ("de", "0.10", f"0,10{NBSP}€"),  # summary.json's money strings
        ("en", Decimal("1000000.05"), "€1,000,000.05"),
    ],
)
def test_money_is_formatted_per_language_from_decimal(lang, value, expected):
    assert Formatter(lang).money(value) == expected


def test_money_keeps_every_cent_of_a_large_decimal():
    # A float would print 12345678901234.57 as ...234.56 or lose the cent entirely.
    assert Formatter("en").money(Decimal("12345678901234.57")) == "€12,345,678,901,234.57"


def test_numbers_dates_months_and_percent_per_language():
    de, en = Formatter("de"), Formatter("en")
    assert (de.number(Decimal("512.25"), 2), en.number(Decimal("512.25"), 2)) == ("512,25", "512.25")
    assert (de.number(Decimal("4.00")), en.number(Decimal("1.50"))) == ("4", "1.5")
    assert (de.number(12345), en.number(12345)) == ("12.345", "12,345")
    assert (de.date("2026-03-05"), en.date("2026-03-05")) == ("05.03.2026", "5 Mar 2026")
    assert (de.month("2026-03"), en.month("2026-03")) == ("März 2026", "March 2026")
    assert (de.percent(Decimal("0.125")), en.percent(Decimal("0.125"))) == (f"12,5{NBSP}%", "12.5%")
    assert de.signed_money(Decimal("12")) == f"+12,00{NBSP}€"
    assert en.signed_money(Decimal("0")) == "±€0.00"
    assert en.money(None) == "–"


def test_plotly_axis_separators_follow_the_language():
    assert Formatter("de").plotly_separators == ",."
    assert Formatter("en").plotly_separators == ".,"


def test_unknown_language_is_a_usage_error_that_lists_the_choices():
    with pytest.raises(UsageError, match=r"report language 'fr' is not available \(use one of: de, en\)"):
        Formatter("fr")


def test_catalogues_have_the_same_keys_and_cover_every_finding_kind():
    de, en = catalogue_keys("de"), catalogue_keys("en")
    assert de == en
    assert {f"kind.{k}" for k in FINDING_KINDS} <= de


def test_every_label_key_used_by_templates_and_code_exists():
    root = Path(reports.__file__).parent
    used = set()
    for path in [*root.glob("templates/*.j2"), *root.glob("*.py")]:
        # static keys only; dynamic ones ("summary.note." ~ key) are covered by the render tests
        used |= set(re.findall(r"\bt\(\s*[\"']((?:[a-z_]+\.)+[a-z_]+|yes|no)[\"']", path.read_text()))
    assert len(used) > 100
    assert used - catalogue_keys("en") == set()


def test_money_labels_of_charts_come_from_decimals(run):
    chart = next(c for c in build_charts(Formatter("de"), run.findings, run.reconciliation,
                                         run.classifications, run.months, run.tiers("de"))
                 if c.id == "chart-money-by-kind")
    labels = {t: chart.figure["data"][i]["text"] for i, t in enumerate(("open", "waived"))}
    assert f"-70,00{NBSP}€" in labels["open"]
    assert f"70,00{NBSP}€" in labels["waived"]


def test_plotly_labels_show_markup_as_text():
    assert plotly_text(XSS_SCRIPT) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert plotly_text("Schmidt & Söhne") == "Schmidt &amp; Söhne"
    assert plotly_text("x" * 50, limit=10) == "x" * 9 + "…"


# --- action list ------------------------------------------------------------------------------

def test_action_rows_invoice_credit_waived_and_review(run):
    actions = action_rows(run.reconciliation, run.findings)
    got = {(r["ticket_id"], r["month"]): (r["action"], r["delta_eur"], r["waiver_ids"])
           for r in actions.iter_rows(named=True)}
    assert got[("T-1001", "2026-01")] == ("invoice", Decimal("35.00"), None)
    assert got[("T-1005", "2026-02")] == ("credit", Decimal("-70.00"), None)
    assert got[("T-1008", "2026-01")] == ("waived", Decimal("52.50"), "W-2026-001")
    assert got[("T-1010", "2026-02")] == ("review", None, None)
    # A ticket-month whose credit line cancels the extra unit needs nothing: not listed.
    assert ("T-1014", "2026-03") not in got
    # The open units finding of T-1013 matched an *expired* waiver: still an invoice.
    assert got[("T-1013", "2026-02")] == ("invoice", Decimal("17.50"), None)
    assert actions["customer_id"].to_list() == sorted(actions["customer_id"].to_list())


def test_action_rows_list_finding_and_waiver_ids_sorted_and_once(run):
    """A ticket-month's finding ids and waiver ids are listed sorted, each waiver once, however
    the findings come: here T-1008 2026-01's waived finding three times over (ids Z…, A…, M…),
    two of them under a second waiver W-0 and in reversed row order."""
    base = run.findings.filter((pl.col("ticket_id") == "T-1008") & (pl.col("month") == "2026-01")
                               & (pl.col("waiver_id") == "W-2026-001"))
    assert base.height == 1
    copies = [base.with_columns(pl.lit(fid).alias("finding_id"), pl.lit(w).alias("waiver_id"))
              for fid, w in (("F-Z", "W-2026-001"), ("F-A", "W-0"), ("F-M", "W-0"))]
    others = run.findings.filter(~pl.col("finding_id").is_in(base["finding_id"].implode()))
    findings = pl.concat([*copies[::-1], others], how="vertical_relaxed")
    row = action_rows(run.reconciliation, findings).filter(
        (pl.col("ticket_id") == "T-1008") & (pl.col("month") == "2026-01")).row(0, named=True)
    assert (row["action"], row["finding_ids"], row["waiver_ids"]) == (
        "waived", "F-A,F-M,F-Z", "W-0,W-2026-001")


def test_action_totals_leave_waived_money_out(run):
    al = action_list(action_rows(run.reconciliation, run.findings), limit=500)
    assert (al.invoice_eur, al.credit_eur, al.waived_eur, al.review) == (
        Decimal("122.50"), Decimal("-184.50"), Decimal("70.00"), 1)
    summary_under = Decimal(run.summary["money"]["under_billed_eur"])
    assert al.invoice_eur + al.waived_eur == summary_under
    assert al.credit_eur == Decimal(run.summary["money"]["over_billed_eur"])
    # Biggest money first: K-10002 has 70.00 to invoice and 52.50 to credit.
    assert [c.customer_id for c in al.customers][:2] == ["K-10002", "K-10004"]


def test_action_list_limit_keeps_subtotals_over_all_rows(run):
    al = action_list(action_rows(run.reconciliation, run.findings), limit=4)
    assert al.shown_rows == 4 and al.total_rows == 12
    k4 = next(c for c in al.customers if c.customer_id == "K-10004")
    assert (len(k4.rows), k4.hidden_rows) == (2, 1)
    assert (k4.invoice_eur, k4.credit_eur) == (Decimal("17.50"), Decimal("-74.50"))
    assert [c.customer_id for c in al.customers] == ["K-10002", "K-10004"]


def test_actions_csv_neutralises_formula_text_but_not_money(run):
    text = actions_csv(action_rows(run.reconciliation, run.findings))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 12
    formula = next(r for r in rows if r["customer_id"] == "K-10005")
    assert formula["customer_name"] == "'" + FORMULA_NAME
    assert formula["delta_eur"] == "-5.00"  # a number, not text: no quote
    assert formula["action"] == "credit"
    first = rows[0]
    assert (first["ticket_id"], first["month"], first["expected_units"], first["expected_eur"],
            first["billed_eur"], first["delta_eur"]) == ("T-1001", "2026-01", "6.00", "105.00",
                                                        "70.00", "35.00")
    assert first["explanation"].startswith("3 entries: 47 min → 4 units")
    review = next(r for r in rows if r["action"] == "review")
    assert review["delta_eur"] == "" and review["expected_eur"] == ""
    assert text.startswith("customer_id,customer_name,ticket_id,month,action,")
    assert "\r" not in text


# --- findings table ---------------------------------------------------------------------------

def test_top_findings_orders_by_absolute_money_then_severity(run):
    view = top_findings(run.findings, top_n=5)
    assert [r["delta_eur"] for r in view.rows] == [
        Decimal("70.00"), Decimal("-70.00"), Decimal("-52.50"), Decimal("52.50"), Decimal("35.00")]
    assert (view.total, view.hidden) == (15, 10)
    tail = top_findings(run.findings, top_n=100).rows[-4:]
    # Same money (0.00 / none): warnings by identity; findings without money come last.
    assert [r["kind"] for r in tail][-2:] == ["suspected_misclassification", "unclassified_ticket"]


def test_top_findings_of_any_size_are_the_head_of_the_whole_order(run, tmp_path):
    """Whatever ``top_n`` — none, within the findings with money, at ties of the same money,
    past them into the findings without — the rows are the first of the whole table in the
    page's order, from the frame or from a scan of the file."""
    sev = {"error": 2, "warning": 1, "info": 0}

    def last(v):  # NULL after every value, ascending
        return (v is None, v if v is not None else "")

    def key(r):
        money = None if r["delta_eur"] is None else -abs(r["delta_eur"])
        return (last(money), -sev.get(r["severity"], -1),
                *(last(r[c]) for c in ("month", "customer_id", "ticket_id", "kind", "finding_id")))

    order = [r["finding_id"] for r in sorted(run.findings.to_dicts(), key=key)]
    with_money = run.findings["delta_eur"].count()
    assert 0 < with_money < len(order)
    scan = load_outputs(run.root, lean=True).findings
    for n in range(len(order) + 2):
        for findings in (run.findings, scan):
            assert [r["finding_id"] for r in top_findings(findings, n).rows] == order[:n], n


def test_top_findings_is_bounded_for_large_runs(tmp_path):
    big = load_outputs(make_fixture(tmp_path, extra=20_000))
    view = top_findings(big.findings, top_n=500)
    assert (len(view.rows), view.total, view.hidden) == (500, 20_015, 19_515)
    biggest = big.findings["delta_eur"].abs().max()
    assert abs(view.rows[0]["delta_eur"]) == biggest
    assert min(abs(r["delta_eur"]) for r in view.rows) >= sorted(
        big.findings["delta_eur"].drop_nulls().abs().to_list(), reverse=True)[499]


def test_filter_choices_list_what_the_page_shows(run):
    view = top_findings(run.findings, top_n=500)
    assert view.severities == ["error", "warning"]
    assert view.statuses == ["open", "waived"]
    assert ("K-10002", XSS_SCRIPT) in view.customers
    assert "suspected_misclassification" in view.kinds


# --- data quality -----------------------------------------------------------------------------

def test_quality_rows_balance_and_checks_pair_gx_with_duckdb(run):
    q = quality_view(run, sample=3)
    tickets = next(r for r in q["rows"] if r["table"] == "tickets")
    assert (tickets["in"], tickets["loaded"], tickets["quarantined"], tickets["balanced"]) == (
        22, 20, 2, True)
    assert [r["table"] for r in q["rows"]][:3] == ["customers", "services", "tickets"]
    t = next(tb for tb in q["tables"] if tb["table"] == "tickets")
    tier = next(c for c in t["checks"] if c["columns"] == "tier"
                and c["expectation"] == "expect_column_values_to_be_in_set")
    assert (tier["success"], tier["unexpected"], tier["duckdb"], tier["examples"]) == (
        False, 1, 1, ["premium_plus"])
    ref = next(c for c in t["checks"] if c["expectation"] == "expect_column_values_to_be_in_table")
    assert (ref["columns"], ref["examples"]) == ("customer_id", ["K-99999"])
    te = next(tb for tb in q["tables"] if tb["table"] == "time_entries")
    assert [c["agree"] for c in te["checks"] if c["columns"] == "ticket_id"] == [True, False]
    # a record failing two checks is one record (as summary.json counts), with both reasons
    assert q["quarantine"]["problems"] == 5 and len(q["quarantine"]["records"]) == 3
    assert q["quarantine"]["total"] == sum(r["quarantined"] for r in q["rows"])
    assert q["quarantine"]["records"][0]["table"] == "tickets"  # contract order, then file and line


def test_quality_with_gx_off_shows_duckdb_counts(tmp_path):
    out = make_fixture(tmp_path)
    for p in (out / "data_quality").glob("gx_*.json"):
        p.unlink()
    q = quality_view(load_outputs(out))
    t = next(tb for tb in q["tables"] if tb["table"] == "tickets")
    assert (t["gx_ran"], t["evaluated"], t["failed"]) == (False, 9, 2)
    failed = sorted((c["expectation"], c["columns"], c["duckdb"]) for c in t["checks"] if not c["success"])
    assert failed == [("expect_column_values_to_be_in_set", "tier", 1),
                      ("expect_column_values_to_be_in_table", "customer_id", 1)]


def test_quality_without_data_quality_files(tmp_path):
    out = make_fixture(tmp_path)
    for p in (out / "data_quality").iterdir():
        p.unlink()
    (out / "quarantine.parquet").unlink()
    q = quality_view(load_outputs(out))
    assert (q["has_gx"], q["tables"], q["quarantine"]) == (False, [], None)


# --- policy appendix --------------------------------------------------------------------------

def test_appendix_counts_decisions_signals_and_waivers(run):
    ap = appendix_view(run, Formatter("en"), run.tiers("en"))
    decided = {r["id"]: r["tickets"] for r in ap["rules"]}
    assert decided["customer-center-usage"] == 8
    assert decided["webdesign"] == 4
    assert decided["documentation"] == 0  # shown, not hidden
    assert ap["unclassified"] == 1
    assert [(s["id"], s["findings"]) for s in ap["signals"]] == [("extended-keywords-on-standard", 1)]
    w = {x["id"]: x for x in ap["waivers"]}
    assert (w["W-2026-001"]["applied"], w["W-2026-001"]["applied_eur"],
            w["W-2026-001"]["expired"]) == (2, Decimal("70.00"), False)
    assert (w["W-2025-009"]["applied"], w["W-2025-009"]["expired_matches"],
            w["W-2025-009"]["state"]) == (0, 1, "expired")
    assert ap["rules"][0]["where"] == "classification.yaml:8"


# --- reading the run --------------------------------------------------------------------------

def test_missing_directory_and_summary_are_data_errors(tmp_path):
    with pytest.raises(DataError) as e:
        load_outputs(tmp_path / "nope")
    assert str(e.value) == f"{tmp_path / 'nope'}: not a directory (give the --out directory of an audit run)"
    assert e.value.exit_code == 3
    with pytest.raises(DataError, match=r"summary.json: file not found: this is not the output directory"):
        load_outputs(tmp_path)


def test_broken_json_names_file_line_and_column(tmp_path):
    out = make_fixture(tmp_path)
    (out / "summary.json").write_text('{\n  "tool": {"name": "x",}\n}\n', encoding="utf-8")
    with pytest.raises(DataError) as e:
        load_outputs(out)
    assert str(e.value).startswith(f"{out / 'summary.json'}:2:24: not valid JSON: ")
    assert "re-run `support-audit run --out DIR`" in str(e.value)


def test_parquet_without_a_required_column_is_named(tmp_path):
    out = make_fixture(tmp_path)
    pl.read_parquet(out / "findings.parquet").drop("delta_eur").write_parquet(out / "findings.parquet")
    with pytest.raises(DataError, match=r"findings.parquet: missing column\(s\) delta_eur \(the file was written by another version"):
        load_outputs(out)


def test_malformed_contract_checks_is_a_data_error(tmp_path):
    out = make_fixture(tmp_path)
    (out / "data_quality" / "contract_checks.json").write_text(json.dumps({"tables": {}}))
    with pytest.raises(DataError, match=r'contract_checks.json: expected \{"checks": '):
        load_outputs(out)


def test_an_sla_credit_neither_opens_nor_waives_a_billing_action(run):
    """T-1008 2026-01's money is waived; an open SLA breach on the same ticket-month (a credit
    owed on top of the billing) leaves it waived, and a ticket-month with only an SLA credit is
    no billing action."""
    sla = run.findings.filter((pl.col("ticket_id") == "T-1008") & (pl.col("month") == "2026-01")).head(1)
    sla = sla.with_columns(pl.lit("sla_resolution_breach").alias("kind"), pl.lit("open").alias("status"),
                           pl.lit(None, pl.String).alias("waiver_id"),
                           pl.lit(Decimal("-50.00")).cast(sla.schema["delta_eur"]).alias("delta_eur"))
    only_sla = sla.with_columns(pl.lit("T-1001").alias("ticket_id"), pl.lit("2026-02").alias("month"))
    findings = pl.concat([run.findings, sla, only_sla], how="vertical_relaxed")
    rows = action_rows(run.reconciliation, findings)
    got = {(r["ticket_id"], r["month"]): (r["action"], r["waiver_ids"])
           for r in rows.filter(pl.col("action").is_in(BILLING_ACTIONS)).iter_rows(named=True)}
    assert got[("T-1008", "2026-01")] == ("waived", "W-2026-001")
    assert ("T-1001", "2026-02") not in got
    assert got == {(r["ticket_id"], r["month"]): (r["action"], r["waiver_ids"])
                   for r in action_rows(run.reconciliation, run.findings).iter_rows(named=True)}
    # the credits are rows of their own, one per customer-month (tests/test_report_actions.py)
    credits = rows.filter(pl.col("action") == "sla_credit")
    assert credits.select("month", "delta_eur", "ticket_id").sort("month").rows() == [
        ("2026-01", Decimal("-50.00"), None), ("2026-02", Decimal("-50.00"), None)]
