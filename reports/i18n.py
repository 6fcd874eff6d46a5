"""Labels and number/date formatting for one report language.

The words live in ``reports/locales/<lang>.json`` (flat ``key -> text`` with ``{name}``
placeholders), so a translator edits data, not code. Each catalogue also names the Babel locale
that formats its numbers (``_babel_locale``): ``de`` gives ``1.234,56 €`` and ``05.03.2026``,
``en`` gives ``€1,234.56`` and ``5 Mar 2026``.

Money arrives as :class:`~decimal.Decimal` (or the two-decimal strings of summary.json) and is
formatted from that exact value; nothing here goes through ``float``.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime, format_skeleton
from babel.numbers import format_currency, format_decimal, parse_pattern

from audit.errors import UsageError

LANGUAGES = ("de", "en")

Number = Decimal | int | str


@cache
def _catalogue(lang: str) -> dict[str, str]:
    text = (Path(__file__).parent / "locales" / f"{lang}.json").read_text(encoding="utf-8")
    return json.loads(text)


def catalogue_keys(lang: str) -> set[str]:
    """The message keys of one language (for the completeness test)."""
    return {k for k in _catalogue(lang) if not k.startswith("_")}


def _dec(value: Number) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


class Formatter:
    """Translates labels and formats values for one language; templates call it as ``fmt``."""

    def __init__(self, lang: str, currency: str = "EUR"):
        if lang not in LANGUAGES:
            raise UsageError(
                f"report language '{lang}' is not available (use one of: {', '.join(LANGUAGES)})"
            )
        self.lang = lang
        self.currency = currency
        self._messages = _catalogue(lang)
        self.locale = Locale.parse(self._messages["_babel_locale"])
        # Plotly's axis tick format: decimal mark, then thousands separator.
        self.plotly_separators = self.locale.number_symbols["latn"]["decimal"] + (
            self.locale.number_symbols["latn"]["group"]
        )

    def t(self, key: str, **params: object) -> str:
        """The label ``key`` in this language, with ``{name}`` placeholders filled in."""
        text = self._messages[key]
        return text.format(**params) if params else text

    def has(self, key: str) -> bool:
        return key in self._messages

    def label(self, group: str, value: str | None) -> str:
        """A translated vocabulary word (finding kind, severity, status), else the raw value.

        Signal kinds are named by the policy, so an unknown value is shown as written.
        """
        if value is None:
            return "–"
        return self._messages.get(f"{group}.{value}", value)

    def money(self, value: Number | None) -> str:
        if value is None:
            return "–"
        return format_currency(_dec(value), self.currency, locale=self.locale)

    def signed_money(self, value: Number | None) -> str:
        """Money with an explicit sign, for changes: ``+12,00 €`` / ``-3,50 €`` / ``±0,00 €``."""
        if value is None:
            return "–"
        d = _dec(value)
        text = self.money(d)
        return ("+" + text) if d > 0 else ("±" + text) if d == 0 else text

    def number(self, value: Number | None, decimals: int | None = None) -> str:
        """``decimals`` fixes the digits after the mark (hours: ``2,50``); without it trailing
        zeros go (units ``4.00`` → ``4``, ``1.50`` → ``1,5``)."""
        if value is None:
            return "–"
        d = _dec(value)
        if decimals is not None:
            d = d.quantize(Decimal(1).scaleb(-decimals))
            fmt = "#,##0" + ("." + "0" * decimals if decimals else "")
            return format_decimal(d, format=fmt, locale=self.locale, decimal_quantization=False)
        return format_decimal(d, locale=self.locale)

    def signed_number(self, value: Number | None, decimals: int | None = None) -> str:
        if value is None:
            return "–"
        d = _dec(value)
        text = self.number(d, decimals)
        return ("+" + text) if d > 0 else ("±" + text) if d == 0 else text

    def percent(self, value: Decimal | None) -> str:
        """A share (0.125) as ``12,5 %`` / ``12.5%``, one decimal."""
        if value is None:
            return "–"
        pattern = parse_pattern(self.locale.percent_formats[None].pattern)
        pattern.frac_prec = (1, 1)  # the locale's own spacing and sign, one decimal
        return pattern.apply(value, self.locale)

    def date(self, value: str | dt.date | None) -> str:
        if value in (None, ""):
            return "–"
        d = dt.date.fromisoformat(value) if isinstance(value, str) else value
        return format_date(d, "medium", locale=self.locale)

    def month(self, value: str) -> str:
        """``2026-03`` as ``März 2026`` / ``March 2026``."""
        year, month = value.split("-")
        return format_skeleton("yMMMM", dt.date(int(year), int(month), 1), locale=self.locale)

    def month_short(self, value: str) -> str:
        year, month = value.split("-")
        return format_skeleton("yMMM", dt.date(int(year), int(month), 1), locale=self.locale)

    def datetime_utc(self, value: dt.datetime) -> str:
        text = format_datetime(value, "medium", tzinfo=dt.UTC, locale=self.locale)
        return f"{text} UTC"
