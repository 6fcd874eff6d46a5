"""The rendered report page (no browser): safety, self-containment, determinism, formatting,
the findings bound and the files it writes. The browser's view is in test_browser_report.py."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import shutil
import time
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest
from fixtures.report.make_fixture import FORMULA_NAME, XSS_IMG, XSS_SCRIPT, make_fixture
from plotly.offline import get_plotlyjs, get_plotlyjs_version

from audit.errors import DataError, UsageError
from reports import render_report
from reports.actions import write_actions_csv
from reports.render import _context as render_context
from reports.render import generated_at, json_for_script

EPOCH = "1775000000"  # 2026-03-31 23:33:20 UTC
NBSP = "\xa0"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Page(HTMLParser):
    """Every tag with its attributes, and the text inside each <script>."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in_script: dict[str, str | None] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = dict(attrs)
            self.scripts.append((self._in_script, ""))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def csp(self) -> dict[str, list[str]]:
        content = next(a["content"] for t, a in self.tags
                       if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
        return {d.split()[0]: d.split()[1:] for d in content.split(";") if d.strip()}


def _render(out: Path, monkeypatch: pytest.MonkeyPatch, **kw) -> str:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    return render_report(out, **kw).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The fixture run rendered in English and German (inline plotly)."""
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        for lang in ("en", "de"):
            run = make_fixture(tmp_path_factory.mktemp(lang))
            out[lang] = (run, _render(run, mp, lang=lang))
    return out


def _visible_text(html: str) -> str:
    """The page without its <script> blocks (what Jinja wrote)."""
    return re.sub(r"<script\b[^>]*>.*?</script>", "", html, flags=re.S)


# --- safety -----------------------------------------------------------------------------------

def test_xss_probes_are_escaped_text_and_inject_no_markup(pages):
    run, html = pages["en"]
    page = Page(html)
    # Only our three scripts exist; no <img>, no event-handler attribute anywhere.
    assert [a.get("type") for a, _ in page.scripts] == ["application/json", None, None]
    assert not [t for t, _ in page.tags if t == "img"]
    assert not [(t, k) for t, a in page.tags for k in a if k.startswith("on")]
    body = _visible_text(html)
    assert XSS_SCRIPT not in body and "<img" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in body
    assert "Schmidt &amp; Söhne KG" in body


def test_page_data_is_json_with_markup_characters_escaped(pages):
    _, html = pages["en"]
    raw = next(text for a, text in Page(html).scripts if a.get("type") == "application/json")
    assert "<" not in raw and ">" not in raw and "&" not in raw
    data = json.loads(raw)
    trace = next(c for c in data["charts"] if c["id"] == "chart-top-customers")["data"][0]
    # Plotly shows it as text: shortened on the axis, in full on hover
    assert "&lt;script&gt;alert(1)&lt;/script&gt; (K-…" in trace["y"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; (K-10002)" in trace["customdata"]
    assert json_for_script({"x": "</script><!--"}) == '{"x":"\\u003c/script\\u003e\\u003c!--"}'


def test_csp_allows_only_the_page_own_scripts_and_no_connections(pages):
    _, html = pages["en"]
    page = Page(html)
    csp = page.csp()
    assert csp["default-src"] == ["'none'"]
    assert csp["img-src"] == ["data:", "blob:"]
    assert csp["base-uri"] == ["'none'"] and csp["form-action"] == ["'none'"]
    inline = [text for a, text in page.scripts if a.get("type") is None]
    expected = sorted("'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
                      for s in inline)
    assert sorted(csp["script-src"]) == expected  # no 'unsafe-inline', no host
    assert "http" not in " ".join(v for vs in csp.values() for v in vs)


def test_no_external_resource_is_referenced(pages):
    _, html = pages["en"]
    for tag, attrs in Page(html).tags:
        for key in ("src", "href"):
            value = attrs.get(key)
            if tag == "a" and key == "href" and value is not None:
                # links a reader follows: anchors, the run's own files beside the report, or the
                # policy's source document — navigation, never a resource the page loads
                assert (value.startswith(("#", "https://"))
                        or re.fullmatch(r"[a-z_]+\.(csv|json)", value)), (tag, key, value)
                continue
            assert value is None or value.startswith("#"), (tag, key, value)
    assert "@font-face" not in html and "@import" not in html


def test_plotly_js_is_embedded_exactly_once(pages):
    _, html = pages["en"]
    js = get_plotlyjs()
    assert html.count(js[:2000]) == 1
    assert html.count(f"plotly.js v{get_plotlyjs_version()}") == 1
    assert len(js) < len(html) < len(js) + 400_000


def test_cdn_option_links_plotly_with_integrity(tmp_path, monkeypatch):
    html = _render(make_fixture(tmp_path), monkeypatch, lang="en", plotly="cdn")
    page = Page(html)
    src = [a for a, _ in page.scripts if a.get("src")]
    digest = base64.b64encode(hashlib.sha384(get_plotlyjs().encode()).digest()).decode()
    assert src == [{"src": f"https://cdn.plot.ly/plotly-{get_plotlyjs_version()}.min.js",
                    "integrity": f"sha384-{digest}", "crossorigin": "anonymous",
                    "referrerpolicy": "no-referrer"}]
    assert "https://cdn.plot.ly" in page.csp()["script-src"]
    assert len(html) < 300_000


# --- determinism ------------------------------------------------------------------------------

def test_same_run_and_source_date_epoch_give_identical_bytes(tmp_path, monkeypatch):
    a = make_fixture(tmp_path / "a")
    b = shutil.copytree(a, tmp_path / "elsewhere" / "b")
    first = _render(a, monkeypatch, lang="de").encode()
    again = _render(a, monkeypatch, lang="de").encode()
    moved = _render(b, monkeypatch, lang="de").encode()
    assert first == again == moved
    assert (a / "actions.csv").read_bytes() == (b / "actions.csv").read_bytes()
    assert not UUID.search(_visible_text(first.decode()))
    assert str(tmp_path) not in first.decode()


def test_generated_at_comes_from_source_date_epoch(pages):
    assert '<time datetime="2026-03-31T23:33:20Z">31 Mar 2026, 23:33:20 UTC</time>' in pages["en"][1]
    assert '<time datetime="2026-03-31T23:33:20Z">31.03.2026, 23:33:20 UTC</time>' in pages["de"][1]


def test_bad_source_date_epoch_is_a_usage_error():
    with pytest.raises(UsageError, match=r"SOURCE_DATE_EPOCH='yesterday' is not a whole number of seconds"):
        generated_at({"SOURCE_DATE_EPOCH": "yesterday"})
    assert generated_at({"SOURCE_DATE_EPOCH": "0"}).isoformat() == "1970-01-01T00:00:00+00:00"


# --- content ----------------------------------------------------------------------------------

def _data_values(html: str) -> dict[str, tuple[str, str]]:
    return {m[0]: (m[1], m[2]) for m in re.findall(
        r'data-testid="([\w-]+)" data-value="([^"]*)">([^<]*)<', html)}


def test_summary_totals_equal_summary_json_in_both_languages(pages):
    # amounts without a sign: the label says the direction ("Over-billed", "Balance: under-billed")
    for lang, money in (("en", {"under_billed_eur": "€192.50", "over_billed_eur": "€184.50",
                               "net_eur": "€8.00", "waived_eur": "€70.00"}),
                        ("de", {"under_billed_eur": f"192,50{NBSP}€", "over_billed_eur": f"184,50{NBSP}€",
                               "net_eur": f"8,00{NBSP}€", "waived_eur": f"70,00{NBSP}€"})):
        run, html = pages[lang]
        summary = json.loads((run / "summary.json").read_text())
        values = _data_values(html)
        for key, shown in money.items():
            assert values[key] == (summary["money"][key], shown)
        assert values["tickets_audited"][0] == str(summary["tickets"]["audited"])
        assert values["open-error"][0] == str(summary["findings"]["by_severity"]["error"]["open"])


def test_labels_are_translated(pages):
    assert "<h2 id=\"actions-h\">3. Action list for billing</h2>" in pages["en"][1]
    assert "<h2 id=\"actions-h\">3. Aufgabenliste für die Buchhaltung</h2>" in pages["de"][1]
    assert '<html lang="de">' in pages["de"][1]
    assert "Erweiterter Kundensupport" in pages["de"][1]  # tier label from the policy
    assert "Extended support" in pages["en"][1]


def test_language_defaults_to_the_policy_setting(tmp_path, monkeypatch):
    assert '<html lang="de">' in _render(make_fixture(tmp_path), monkeypatch)


def test_sections_come_in_order_with_semantic_tables(pages):
    _, html = pages["en"]
    ids = [a["id"] for t, a in Page(html).tags if t == "section"]
    assert ids == ["summary", "charts", "actions", "findings", "quality", "appendix", "proof"]
    assert html.index('class="report-header"') < html.index('id="summary"')
    tags = [t for t, _ in Page(html).tags]
    assert tags.count("thead") >= 10 and 'scope="col"' in html and 'scope="row"' in html


def test_every_chart_has_a_caption_and_a_table_of_its_numbers(pages):
    _, html = pages["en"]
    for chart_id in ("chart-money-by-kind", "chart-top-customers", "chart-tier-mix", "chart-units",
                     "chart-agents"):
        block = html[html.index(f'id="{chart_id}-title"'):]
        block = block[: block.index("</figure>")]
        assert '<figcaption class="caption">' in block and "<details" in block and "<table>" in block
    assert '<th scope="row">Extended support not invoiced</th><td class="num">1</td><td class="num">€70.00</td><td class="num">2</td><td class="num">€70.00</td>' in html


def test_findings_rows_carry_message_and_deciding_rule(pages):
    _, html = pages["en"]
    assert html.count('<tbody class="finding"') == 15
    section = html[html.index('id="findings"'):]
    row = section[section.rindex("<tbody", 0, section.index('data-ticket="T-1003"')):]
    row = row[: row.index("</tbody>")]
    assert "data-kind=\"extended_unbilled\"" in row
    assert "4 units × 17.50 € = 70.00 €; nothing invoiced; under-billed 70.00 €" in row
    assert "<code>billing</code> — <code>billing.yaml:3</code>" in row


def test_findings_are_bounded_with_a_note(tmp_path, monkeypatch):
    html = _render(make_fixture(tmp_path, extra=3000), monkeypatch, lang="en", top_n=100)
    assert html.count('<tbody class="finding"') == 100
    assert '<p class="more-note" data-testid="findings-more">2,915 more in findings.csv</p>' in html
    deltas = [Decimal(d) for d in re.findall(r'<tbody class="finding"[^>]* data-delta="([^"]*)"', html)]
    assert deltas == sorted(deltas, key=abs, reverse=True)
    assert len(_visible_text(html)) < 700_000


def test_action_list_groups_by_customer_with_subtotals(pages):
    _, html = pages["en"]
    actions = html[html.index('id="actions"'):html.index('id="findings"')]
    assert actions.count('<tbody class="group"') == 7
    assert '<span class="card-value" data-testid="actions-invoice" data-value="122.50">€122.50</span>' in actions
    assert '<span class="card-value" data-testid="actions-credit" data-value="-184.50">€184.50</span>' in actions
    assert "invoice €17.50, credit €74.50" in actions  # K-10004's subtotal
    assert "=HYPERLINK(&#34;http://example.invalid&#34;,&#34;Rabatt&#34;)" in actions


def test_data_quality_and_appendix_show_counts_and_failures(pages):
    _, html = pages["en"]
    quality = html[html.index('id="quality"'):html.index('id="appendix"')]
    assert '<th scope="row">tickets</th><td class="num">22</td><td class="num">20</td><td class="num">2</td>' in quality
    assert "≠ differs" in quality
    assert "<code class=\"example\">premium_plus</code>" in quality
    assert re.search(r"\d of \d quarantined records \(5 reasons\); all are in quarantine.csv.", quality)
    appendix = html[html.index('id="appendix"'):]
    assert re.search(r'data-testid="decided-documentation">0 <span class="mark">none</span>', appendix)
    assert 'data-testid="decided-customer-center-usage">8<' in appendix
    assert '<tr data-waiver="W-2025-009" class="expired">' in appendix


def test_previous_run_adds_changes(tmp_path, monkeypatch):
    prev = make_fixture(tmp_path / "prev", variant="previous")
    cur = make_fixture(tmp_path / "cur")
    html = _render(cur, monkeypatch, lang="en", previous=prev)
    before = json.loads((prev / "summary.json").read_text())["money"]
    now = json.loads((cur / "summary.json").read_text())["money"]
    change = Decimal(now["under_billed_eur"]) - Decimal(before["under_billed_eur"])
    assert change != 0
    sign = "+" if change > 0 else ""
    assert f"{sign}€{change:.2f} vs. previous (€{Decimal(before['under_billed_eur']):.2f})" in html
    assert "<dt>Compared with</dt><dd>October 2025 – December 2025</dd>" in html


# --- files and errors -------------------------------------------------------------------------

def test_writes_report_and_actions_csv_and_no_temp_files(tmp_path, monkeypatch):
    out = make_fixture(tmp_path)
    path = render_report(out, lang="en")
    assert path == (out / "report.en.html").resolve()  # the fixture policy speaks German
    rows = list(csv.DictReader(io.StringIO((out / "actions.csv").read_text(encoding="utf-8"))))
    assert [r["customer_name"] for r in rows if r["customer_id"] == "K-10005"] == ["'" + FORMULA_NAME]
    assert [r["customer_name"] for r in rows if r["customer_id"] == "K-10003"] == [XSS_IMG]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def _downloads_of(html: str) -> dict:
    raw = next(text for a, text in Page(html).scripts if a.get("type") == "application/json")
    return json.loads(raw)["downloads"]


def _write_findings_csv(out: Path) -> None:
    from audit.outputs import _DuckWriter

    writer = _DuckWriter()
    try:
        writer.csv(out / "findings.parquet", out / "findings.csv")
    finally:
        writer.close()


def test_page_embeds_a_findings_csv_that_is_written_beside_it(tmp_path, monkeypatch):
    """``run`` writes findings.csv while the report renders: the page waits for it before it
    reads the files it embeds, so it holds the file however late the writer finishes."""
    out = make_fixture(tmp_path)
    calls = []

    def written() -> None:  # the CSV writer finishing only when asked
        calls.append(1)
        _write_findings_csv(out)

    html = _render(out, monkeypatch, lang="en", csv_written=written)
    downloads = _downloads_of(html)
    assert calls == [1]
    assert downloads["findings"] == (out / "findings.csv").read_text(encoding="utf-8")
    assert downloads["actions"] == (out / "actions.csv").read_text(encoding="utf-8")
    assert downloads["findings"].startswith("finding_id,")


def test_a_run_too_big_to_embed_renders_without_waiting_for_its_csv(tmp_path, monkeypatch):
    """When the row and column counts say that neither CSV can be embedded, the page is built
    while actions.csv is written and never waits for findings.csv; actions.csv is the same."""
    out = make_fixture(tmp_path)
    _write_findings_csv(out)
    small = _render(out, monkeypatch, lang="en")
    actions = (out / "actions.csv").read_bytes()
    assert _downloads_of(small).keys() == {"actions", "findings"}

    def never() -> None:
        raise AssertionError("waited for findings.csv")

    def fewest(text: str) -> int:  # a header and a line per row, a character per column each
        rows = list(csv.reader(io.StringIO(text)))
        return len(rows) * len(rows[0])

    bound = min(fewest(actions.decode("utf-8")), fewest((out / "findings.csv").read_text("utf-8")))
    monkeypatch.setattr("reports.render.DOWNLOAD_LIMIT", bound - 1)
    big = _render(out, monkeypatch, lang="en", csv_written=never)
    assert _downloads_of(big) == {}
    assert (out / "actions.csv").read_bytes() == actions
    # at the bound itself the smaller file may fit: the page waits and embeds what fits
    monkeypatch.setattr("reports.render.DOWNLOAD_LIMIT", bound)
    with pytest.raises(AssertionError, match="waited for findings.csv"):
        _render(out, monkeypatch, lang="en", csv_written=never)


def test_actions_csv_is_written_beside_the_page_with_the_same_bytes(tmp_path, monkeypatch):
    """actions.csv is written on a thread while the page is built, whatever the list's length
    (the page reads its tables as scans, so the two memories are small side by side); a slow
    writer changes neither file."""
    out = make_fixture(tmp_path)
    _write_findings_csv(out)
    first = _render(out, monkeypatch, lang="en")
    actions = (out / "actions.csv").read_bytes()
    order = []

    def slow_writer(*args):  # still writing when the page is started
        time.sleep(0.5)
        write_actions_csv(*args)
        order.append("csv")

    monkeypatch.setattr("reports.render.write_actions_csv", slow_writer)
    monkeypatch.setattr("reports.render._context",
                        lambda *a, _c=render_context: (order.append("page"), _c(*a))[1])
    assert _render(out, monkeypatch, lang="en") == first
    assert order == ["page", "csv"]
    assert (out / "actions.csv").read_bytes() == actions


def test_write_actions_false_leaves_actions_csv_alone(tmp_path):
    out = make_fixture(tmp_path)
    render_report(out, lang="en", write_actions=False)
    assert not (out / "actions.csv").exists()


def test_failed_render_keeps_the_previous_report(tmp_path):
    out = make_fixture(tmp_path)
    (out / "report.html").write_text("old report", encoding="utf-8")
    (out / "reconciliation.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"reconciliation.parquet: not a readable Parquet file"):
        render_report(out, lang="en")
    assert (out / "report.html").read_text(encoding="utf-8") == "old report"
    assert not (out / "actions.csv").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lang": "fr"}, r"--lang 'fr': not a report language \(use one of: de, en\)"),
        ({"plotly": "local"}, r"plotly='local': use 'inline' \(offline, default\) or 'cdn'"),
        ({"top_n": -1}, r"top_n=-1: give a whole number ≥ 0"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path, kwargs, message):
    with pytest.raises(UsageError, match=message) as e:
        render_report(tmp_path, **kwargs)
    assert e.value.exit_code == 4


def test_previous_that_is_no_run_is_a_data_error(tmp_path):
    out = make_fixture(tmp_path / "run")
    with pytest.raises(DataError, match=r"summary.json: file not found") as e:
        render_report(out, previous=tmp_path)
    assert e.value.exit_code == 3


def test_a_run_without_findings_renders_with_empty_notes(tmp_path, monkeypatch):
    out = make_fixture(tmp_path)
    for name in ("findings", "reconciliation", "classifications", "quarantine"):
        pl.read_parquet(out / f"{name}.parquet").clear().write_parquet(out / f"{name}.parquet")
    html = _render(out, monkeypatch, lang="en")
    assert "No findings in this period." in html
    assert "Nothing to invoice or credit in this period." in html
    assert "No row was quarantined." in html
    assert html.count("Nothing to draw for this period.") == 4  # the units chart still has its months
    assert (out / "actions.csv").read_text(encoding="utf-8").count("\n") == 1  # the header only


def test_top_n_zero_lists_nothing_but_says_where_everything_is(tmp_path, monkeypatch):
    html = _render(make_fixture(tmp_path), monkeypatch, lang="en", top_n=0)
    assert '<tbody class="finding"' not in html and "No findings in this period." not in html
    assert "15 more in findings.csv" in html
    assert "12 more lines in actions.csv" in html
    assert len(list(csv.DictReader(io.StringIO((tmp_path / "actions.csv").read_text())))) == 12


def test_money_that_is_not_decimal_is_refused(tmp_path):
    out = make_fixture(tmp_path)
    df = pl.read_parquet(out / "reconciliation.parquet")
    df.with_columns(pl.col("delta_eur").cast(pl.Float64)).write_parquet(out / "reconciliation.parquet")
    with pytest.raises(DataError, match=r"reconciliation.parquet: column delta_eur is Float64, not decimal\(18,2\)"):
        render_report(out, lang="en")


def test_policy_snapshot_of_the_wrong_shape_is_a_data_error(tmp_path):
    out = make_fixture(tmp_path)
    (out / "policy.json").write_text(json.dumps({"rules": [{"tier": "standard"}]}))
    with pytest.raises(DataError, match=r"policy.json: 'rules' must be a list of objects with an 'id'"):
        render_report(out, lang="en")


REAL_DATA = {
    "customers.csv": "customer_id,name,contract\nK-1,<script>alert(1)</script>,basic\n"
                     "K-2,=HYPERLINK(1),basic\n",
    "services.csv": "service_id,customer_id,product,managed\nS-1,K-1,webhosting,true\n",
    "tickets.csv": "ticket_id,customer_id,service_id,opened_at,priority,category,subject,cause,tier\n"
                   "T-1,K-1,S-1,2026-01-05 09:00,normal,webdesign,Layout,,extended\n"
                   "T-2,K-2,,2026-02-05 09:00,normal,customer_center_usage,Hilfe,,standard\n"
                   "T-3,K-2,,2026-02-06 09:00,low,webdesign,x,,premium\n",
    "time_entries.csv": "entry_id,ticket_id,agent,started_at,minutes\n"
                        "E-1,T-1,anna,2026-01-05 10:00,47\nE-2,T-2,ben,2026-02-05 10:00,20\n",
    "invoice_lines.csv": "line_id,invoice_id,customer_id,ticket_id,service_date,quantity,unit_price,amount\n"
                         "L-1,R-1,K-1,T-1,2026-01-31,3,17.50,52.50\n"
                         "L-2,R-2,K-2,T-2,2026-02-28,1,17.50,17.50\n",
}


def test_renders_the_output_of_a_real_audit_run(tmp_path, monkeypatch):
    """End to end with the engine (GX off for speed): the report reads what `run` writes."""
    from audit.api import run_audit

    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    for name, text in REAL_DATA.items():
        (data / name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    run_audit(Path(__file__).parents[1] / "policies", data, out, gx="off")
    html = render_report(out, lang="en").read_text(encoding="utf-8")
    summary = json.loads((out / "summary.json").read_text())
    values = _data_values(html)
    for key in ("under_billed_eur", "over_billed_eur", "net_eur"):
        assert values[key][0] == summary["money"][key]
    assert values["under_billed_eur"][1] == "€17.50"  # 47 min → 4 units, 3 invoiced
    actions = {r["ticket_id"]: r for r in csv.DictReader(io.StringIO((out / "actions.csv").read_text()))}
    assert (actions["T-1"]["action"], actions["T-1"]["delta_eur"]) == ("invoice", "17.50")
    assert (actions["T-2"]["action"], actions["T-2"]["customer_name"]) == ("credit", "'=HYPERLINK(1)")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "premium" in html[html.index('id="quality"'):]  # the quarantined ticket, with its reason


@pytest.fixture
def template_cache(tmp_path, monkeypatch):
    """A fresh template environment whose compiled templates go to ``tmp_path/cache``."""
    from reports import render

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SUPPORT_AUDIT_NO_CACHE", raising=False)
    render._environment.cache_clear()
    yield tmp_path / "cache" / "support-audit" / "templates"
    render._environment.cache_clear()


def test_compiled_templates_are_kept_for_the_next_run(tmp_path, monkeypatch, template_cache):
    import jinja2

    from reports import render

    out = make_fixture(tmp_path / "run")
    first = _render(out, monkeypatch, lang="en")
    entries = sorted(template_cache.iterdir())
    assert entries and all(p.name.endswith(".cache") for p in entries)
    assert (template_cache.stat().st_mode & 0o777) == 0o700
    assert (template_cache.parent.stat().st_mode & 0o777) == 0o700

    def no_compiling(*args, **kwargs):
        raise AssertionError("compiled a template the cache holds")

    render._environment.cache_clear()  # as a new process: nothing compiled in memory
    monkeypatch.setattr(jinja2.Environment, "compile", no_compiling)
    assert _render(out, monkeypatch, lang="en") == first


def test_a_broken_cache_entry_is_compiled_afresh(tmp_path, monkeypatch, template_cache):
    from reports import render

    out = make_fixture(tmp_path / "run")
    first = _render(out, monkeypatch, lang="en")
    for entry in template_cache.iterdir():
        entry.write_bytes(entry.read_bytes()[:40])  # cut short
    render._environment.cache_clear()
    assert _render(out, monkeypatch, lang="en") == first


def test_no_template_cache_where_others_could_write_or_when_switched_off(tmp_path, template_cache):
    from reports.render import template_cache_dir

    assert template_cache_dir({"XDG_CACHE_HOME": str(tmp_path / "cache")}) == template_cache
    assert template_cache_dir({"XDG_CACHE_HOME": str(tmp_path / "cache"),
                               "SUPPORT_AUDIT_NO_CACHE": "1"}) is None
    shared = tmp_path / "shared"
    (shared / "support-audit" / "templates").mkdir(parents=True)
    (shared / "support-audit").chmod(0o777)
    assert template_cache_dir({"XDG_CACHE_HOME": str(shared)}) is None
    (shared / "support-audit").chmod(0o700)
    (shared / "support-audit" / "templates").chmod(0o775)
    assert template_cache_dir({"XDG_CACHE_HOME": str(shared)}) is None
