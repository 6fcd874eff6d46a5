"""One language throughout: the German report of the sample contains no English sentence and no
amount written the English way, and the texts layer formats with Babel's German symbols.

The sample is audited once (the real engine, not the report fixture), then rendered in German and
English; the visible text of each page (without scripts, styles and ``<code>``, which hold
identifiers such as ``findings.yaml:16`` or a rule's SQL condition) is checked.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import polars as pl
import pytest

from audit.api import run_audit
from audit.engine.sql import install_macros
from audit.texts import Lang, catalogue
from reports.render import render_html

ROOT = Path(__file__).resolve().parent.parent

#: English words that no German sentence of the report uses (case-sensitive, whole words).
ENGLISH = re.compile(
    r"\b(the|and|of|is|are|not|entry|entries|invoiced|units?|under-billed|over-billed|expected|"
    r"matched|nothing|none|difference|in total|says|repeats|every|billed on|appears|more than|"
    r"set aside|does not|before|outside|allowed|record|header|quoted|read|rows|findings|shown|"
    r"waiver|expired|price list|line amount|signal|with|from|for|to|of|this)\b(?!\.csv)"
)
#: An amount written the English way: 779.00 €, €779.00, 1,234.56 €.
ENGLISH_AMOUNT = re.compile(r"\d\.\d{2}\s?€|€\s?\d|\d,\d{3}\.\d{2}")


class _Text(HTMLParser):
    SKIP = {"script", "style", "code"}

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth and data.strip():
            self.parts.append(data.strip())


def visible_texts(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.parts


def leftovers(html: str) -> list[str]:
    return [t for t in visible_texts(html) if ENGLISH.search(t) or ENGLISH_AMOUNT.search(t)]


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", "1775000000")
        run_audit(ROOT / "policies", ROOT / "sample_data", out, gx="off")
    return out


def test_the_checker_finds_english_leftovers():
    page = ("<p>Saldo 5.070,05 €</p><p class='m'>2 entries: 358:11 min → 24 units</p>"
            "<td>779.00 €</td><code>findings.yaml:16 the</code>")
    assert leftovers(page) == ["2 entries: 358:11 min → 24 units", "779.00 €"]


def test_german_report_of_the_sample_has_no_english(sample_run):
    html, actions = render_html(sample_run, lang="de", plotly="cdn")
    assert leftovers(html) == []
    texts = visible_texts(html)
    assert not [t for t in texts if re.search(r"\bNone\b|\bnan\b|NULL", t)]  # empty is "–"
    assert any("Zeiteinträge" in t and "Einheiten × 17,50\xa0€" in t for t in texts)
    assert "explanation_de" in actions.splitlines()[0]


def test_english_report_keeps_the_english_messages(sample_run):
    html, _ = render_html(sample_run, lang="en", plotly="cdn")
    assert any(re.search(r"\d+ entries: .* units × 17\.50 € = ", t) for t in visible_texts(html))
    assert not any("Zeiteinträge" in t for t in visible_texts(html))


def test_findings_carry_english_and_german_texts_for_every_row(sample_run):
    f = pl.read_parquet(sample_run / "findings.parquet")
    assert f.columns[-2:] == ["message", "message_de"]
    assert f.filter(pl.col("message").is_null() | pl.col("message_de").is_null()).height == 0
    r = pl.read_parquet(sample_run / "reconciliation.parquet")
    assert r.columns[-2:] == ["explanation", "explanation_de"]
    for text in f["message_de"].to_list() + r["explanation_de"].to_list():
        assert not ENGLISH_AMOUNT.search(text), text


def test_german_formats_come_from_babel():
    con = duckdb.connect()
    install_macros(con)
    de = Lang("de", tiers={"extended": "Erweiterter Kundensupport"})
    con.execute(de.macros())
    rows = con.sql(
        "SELECT audit_eur_de(x), audit_units_de(x), audit_delta_words_de(x) FROM (VALUES "
        "(CAST(1234567.5 AS DECIMAL(18, 2))), (CAST(-0.05 AS DECIMAL(18, 2))), (CAST(1 AS DECIMAL(18, 2))), "
        "(CAST(NULL AS DECIMAL(18, 2)))) t(x)"
    ).fetchall()
    assert rows == [
        ("1.234.567,50\xa0€", "1.234.567,50 Einheiten", "zu wenig berechnet: 1.234.567,50\xa0€"),
        ("-0,05\xa0€", "-0,05 Einheiten", "zu viel berechnet: 0,05\xa0€"),
        ("1,00\xa0€", "1 Einheit", "zu wenig berechnet: 1,00\xa0€"),
        ("k. A.", "NULL Einheiten", "Differenz nicht berechnet"),
    ]
    tier = con.execute(f"SELECT {de.tier(chr(39) + 'extended' + chr(39))}").fetchall()
    assert tier == [("Erweiterter Kundensupport",)]
    day = con.execute(f"SELECT {de.date('DATE ' + chr(39) + '2026-07-01' + chr(39))}").fetchall()
    assert day == [("01.07.2026",)]


def test_every_language_has_the_same_templates_and_placeholders():
    def shape(lang):
        fields = re.compile(r"\{(\w+)(?::(\w+))?\}")
        return {k: sorted(set(fields.findall(v))) for k, v in catalogue(lang).items()
                if not k.startswith("_") and isinstance(v, str)}
    en, de = shape("en"), shape("de")
    assert en.keys() == de.keys()
    assert {k: v for k, v in en.items() if de[k] != v} == {}


def test_a_kind_without_german_wording_falls_back_to_english():
    from audit.engine.findings import Kind
    from audit.engine.render import _kind_message

    english, german = Lang("en"), Lang("de")
    plain = Kind("sla_breach", "error", "ticket", "true", None, message="'late by ' || 5")
    assert _kind_message(plain, german, english) == "'late by ' || 5"
    english.words = {**english.words, "sla_breach": "late by {minutes} min"}  # English only
    templated = Kind("sla_breach", "error", "ticket", "true", None,
                     message=lambda L: L.t("sla_breach", minutes="5"))
    assert _kind_message(templated, german, english) == "('late by ' || 5 || ' min')"
    german.words = {**german.words, "sla_breach": "{minutes} Min. zu spät"}
    assert _kind_message(templated, german, english) == "(5 || ' Min. zu spät')"
