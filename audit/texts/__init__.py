"""The texts layer: what a reader sees, per language, compiled into SQL over the engine's facts.

The engine keeps facts (entries with seconds and units, prices, invoices, deltas); the words are
templates per finding kind and language in ``audit/texts/<lang>.json`` (``{name}`` or
``{name:format}`` placeholders). :class:`Lang` compiles a template into one SQL string expression
over the fact columns — literal text concatenated with the facts, each formatted by a
per-language macro whose symbols (decimal and group mark, currency pattern, date pattern) come
from Babel's locale data. The expression is evaluated only for the rows that are written (the
findings of the period), set-based, with no per-row Python; it uses plain SQL (``||``, ``CASE``,
``substr``, ``length``, ``replace``) that sqlglot transpiles.

English is the stable machine text (findings.csv ``message``): its catalogue keeps the historic
plain formats (``1234.50 €``, ISO dates). Every other language adds a column (``message_de`` …).

Adding a finding kind's wording: one template entry per language (the kind's name as key) and a
``Kind(message=lambda L: L.t("my_kind", …))``; a kind whose message is plain SQL, or a language
without the kind's template, falls back to the English message (:meth:`Lang.has`).
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path

from babel import Locale
from babel.numbers import parse_pattern

from audit.sql import lit

#: Languages the engine writes texts in; ``en`` is the stable ``message`` column.
LANGUAGES = ("en", "de")
#: Languages written as extra columns (``message_de``, ``explanation_de``).
EXTRA_LANGUAGES = tuple(lang for lang in LANGUAGES if lang != "en")

_FORMATTER = string.Formatter()


@cache
def catalogue(lang: str) -> dict[str, object]:
    path = Path(__file__).parent / f"{lang}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def column(base: str, lang: str) -> str:
    """Output column of a text in ``lang``: ``message`` (en), ``message_de`` …"""
    return base if lang == "en" else f"{base}_{lang}"


def localized(value: str | Mapping[str, str] | None, lang: str) -> str:
    """A policy text given as a string or per language (``{de: …, en: …}``), in ``lang``:
    the language's own text, else English, else the first one given."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return value.get(lang) or value.get("en") or next(iter(value.values()), "")


def _strftime_from_babel(pattern: str) -> str | None:
    """A Babel/CLDR date pattern (``dd.MM.y``) as a strftime format, or None when it needs more
    than numeric day, month and year."""
    out, i = [], 0
    tokens = {"dd": "%d", "MM": "%m", "yyyy": "%Y", "y": "%Y"}
    while i < len(pattern):
        for tok, rep in tokens.items():
            if pattern.startswith(tok, i) and not pattern.startswith(tok + tok[0], i):
                out.append(rep)
                i += len(tok)
                break
        else:
            if pattern[i].isalpha():
                return None
            out.append(pattern[i])
            i += 1
    return "".join(out)


class Lang:
    """One text language: its catalogue, its formatting macros and the template compiler.

    ``tiers`` maps tier ids to this language's labels (``{tier:tier}``); ``currency`` is the
    policy's ISO code (its symbol comes from Babel)."""

    def __init__(self, code: str, *, tiers: Mapping[str, str] | None = None,
                 currency: str = "EUR"):
        self.code = code
        self.words = catalogue(code)
        self.tiers = dict(tiers or {})
        self.currency = currency
        self.plain = bool(self.words.get("_plain_numbers"))
        self.locale = Locale.parse(str(self.words["_babel_locale"]))
        symbols = self.locale.number_symbols["latn"]
        self.decimal, self.group = symbols["decimal"], symbols["group"]
        pattern = parse_pattern(self.locale.currency_formats["standard"].pattern)
        symbol = self.locale.currency_symbols.get(currency, currency)
        self.money_prefix = pattern.prefix[0].replace("¤", symbol)
        self.money_suffix = pattern.suffix[0].replace("¤", symbol)
        babel_date = _strftime_from_babel(self.locale.date_formats["medium"].pattern)
        self.date_format = str(self.words["_date"]) if self.plain or not babel_date else babel_date
        self.suffix = "" if code == "en" else f"_{code}"

    # --- the catalogue -------------------------------------------------------------------------

    def has(self, key: str) -> bool:
        return key in self.words

    def word(self, key: str) -> str:
        value = self.words[key]
        assert isinstance(value, str), key
        return value

    def t(self, key: str, **facts: str) -> str:
        """Template ``key`` compiled into a SQL string expression over ``facts`` (SQL)."""
        return self.compile(self.word(key), facts)

    def compile(self, template: str, facts: Mapping[str, str]) -> str:
        parts: list[str] = []
        for text, name, spec, _conv in _FORMATTER.parse(template):
            if text:
                parts.append(lit(text))
            if name is None:
                continue
            if name not in facts:
                raise KeyError(f"template {template!r}: no fact {name!r}")
            parts.append(self.format(spec or "text", facts[name]))
        if not parts:
            return "''"
        return parts[0] if len(parts) == 1 else "(" + " || ".join(parts) + ")"

    # --- formats (SQL) ---------------------------------------------------------------------------

    def format(self, spec: str, sql: str) -> str:
        fmt: dict[str, Callable[[str], str]] = {
            "text": lambda x: x, "money": self.money, "units": self.units, "min": self.minutes,
            "date": self.date, "month": self.month, "delta": self.delta, "tier": self.tier,
            "entries": self.entries, "num": self.num,
        }
        if spec not in fmt:
            raise KeyError(f"unknown text format {spec!r} (use one of: {', '.join(fmt)})")
        return fmt[spec](sql)

    def money(self, x: str) -> str:
        return f"audit_eur{self.suffix}({x})"

    def units(self, x: str) -> str:
        return f"audit_units{self.suffix}({x})"

    def minutes(self, x: str) -> str:
        return f"audit_min{self.suffix}({x})"

    def delta(self, x: str) -> str:
        return f"audit_delta_words{self.suffix}({x})"

    def num(self, x: str) -> str:
        return f"audit_num{self.suffix}({x})"

    def date(self, x: str) -> str:
        return f"strftime({x}, {lit(self.date_format)})"

    def month(self, x: str) -> str:
        pattern = str(self.words["_month"])
        if pattern == "{yyyy}-{mm}":
            return x
        return self.compile(pattern, {"yyyy": f"substr({x}, 1, 4)", "mm": f"substr({x}, 6, 2)"})

    def entries(self, n: str) -> str:
        return (f"CASE WHEN {n} = 1 THEN {lit(self.word('entries.one'))} "
                f"ELSE {self.compile(self.word('entries.other'), {'n': f'CAST({n} AS VARCHAR)'})} END")

    def tier(self, x: str) -> str:
        """A tier id as this language's label (the id itself in English, the stable text)."""
        if self.code == "en" or not self.tiers:
            return x
        arms = " ".join(f"WHEN {lit(tid)} THEN {lit(label)}" for tid, label in self.tiers.items())
        return f"CASE {x} {arms} ELSE {x} END"

    # --- the macros --------------------------------------------------------------------------------

    def _grouped(self, n: str) -> str:
        """The whole number ``n`` (BIGINT, ≥ 0) with this language's group mark every three
        digits. The one dialect-specific piece of the texts: DuckDB's ``format('{:,}', n)``
        (Spark: ``format_number(n, 0)``), on integers only, so no float touches an amount."""
        return f"translate(format('{{:,}}', {n}), ',', {lit(self.group)})"

    def macros(self) -> str:
        """``CREATE MACRO`` statements for this language's formats (English: the engine's own
        :data:`audit.engine.sql.MACROS`, kept as they are)."""
        if self.code == "en":
            return ""
        s, w = self.suffix, self.word
        whole = "CAST(trunc(abs(x)) AS BIGINT)"
        cents = "lpad(CAST(CAST(abs(x) * 100 AS BIGINT) % 100 AS VARCHAR), 2, '0')"
        unit_one, unit_other = lit(w("unit.one")), lit(w("unit.other"))
        return f"""
CREATE OR REPLACE TEMP MACRO audit_num{s}(x) AS
    CASE WHEN x IS NULL THEN 'NULL'
         ELSE CASE WHEN x < 0 THEN '-' ELSE '' END || {self._grouped(whole)}
              || CASE WHEN x = trunc(x) THEN ''
                      ELSE {lit(self.decimal)}
                           || substr(CAST(abs(x) AS VARCHAR), strpos(CAST(abs(x) AS VARCHAR), '.') + 1) END
    END;
CREATE OR REPLACE TEMP MACRO audit_units{s}(u) AS
    audit_num{s}(u) || ' ' || CASE WHEN u = 1 THEN {unit_one} ELSE {unit_other} END;
CREATE OR REPLACE TEMP MACRO audit_eur_cents{s}(x) AS
    CASE WHEN x < 0 THEN '-' ELSE '' END || {lit(self.money_prefix)} || {self._grouped(whole)}
    || {lit(self.decimal)} || {cents} || {lit(self.money_suffix)};
CREATE OR REPLACE TEMP MACRO audit_eur{s}(x) AS
    CASE WHEN x IS NULL THEN {lit(w("money.null"))}
         ELSE audit_eur_cents{s}(CAST(x AS DECIMAL(18, 2))) END;
CREATE OR REPLACE TEMP MACRO audit_min{s}(s) AS
    CASE WHEN s % 60 = 0 THEN CAST(s // 60 AS VARCHAR)
         ELSE CAST(s // 60 AS VARCHAR) || ':' || lpad(CAST(s % 60 AS VARCHAR), 2, '0') END
    || {lit(w("minutes"))};
CREATE OR REPLACE TEMP MACRO audit_delta_words{s}(d) AS
    CASE WHEN d IS NULL THEN {lit(w("delta.null"))}
         WHEN d > 0 THEN {self.t("delta.under", eur="d")}
         WHEN d < 0 THEN {self.t("delta.over", eur="-d")}
         ELSE {lit(w("delta.zero"))} END;
"""


def languages(bundle, codes: tuple[str, ...] = LANGUAGES) -> list[Lang]:
    """The text languages for ``bundle`` (tier labels and currency from the policy)."""
    out = []
    for code in codes:
        tiers = {t.id: (t.label or {}).get(code) or t.id for t in bundle.tiers}
        out.append(Lang(code, tiers=tiers, currency=bundle.settings.currency))
    return out


def install(con, langs: list[Lang]) -> None:
    """Create every language's formatting macros on ``con`` (idempotent)."""
    for lang in langs:
        sql = lang.macros()
        if sql.strip():
            con.execute(sql)


__all__ = ["EXTRA_LANGUAGES", "LANGUAGES", "Lang", "catalogue", "column", "install", "languages",
           "localized"]

