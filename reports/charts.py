"""The report's charts: Plotly figure specs plus the same numbers as a table.

Each chart is a plain ``{"data", "layout"}`` dict (validated through ``plotly.graph_objects``)
that the page draws with the single embedded plotly.js. Design choices, all for finance readers:

- Okabe–Ito colours (safe for colour-blind readers) *and* bar patterns, so a black-and-white
  print still tells the series apart; every bar carries its value as a label.
- Labels and tables are formatted from :class:`~decimal.Decimal` by Babel; ``float`` is used only
  for the bar lengths Plotly needs.
- Text that came from the data (customer names) is entity-escaped for Plotly, whose labels
  understand a few HTML tags: ``<script>`` must show as text, not vanish.
- Fixed ids, sorted data, no timestamps: the same run gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl

from reports.i18n import Formatter
from reports.load import Table, collect

# Okabe & Ito (2008), "Color Universal Design".
BLUE, VERMILLION, ORANGE, SKY, GREEN, PURPLE, YELLOW, GREY = (
    "#0072B2", "#D55E00", "#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#F0E442", "#7a7a7a",
)
SERIES_COLOURS = (SKY, ORANGE, GREEN, BLUE, PURPLE, YELLOW, VERMILLION)
PATTERNS = ("", "/", ".", "x", "\\", "+", "-")
TOP_CUSTOMERS = 10
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class ChartTable:
    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool]  # right-align these columns


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    caption: str
    figure: dict[str, Any] | None  # None: nothing to draw (the table says so)
    table: ChartTable
    bars: int  # bars drawn, for the accessible description and the browser test
    wide: bool = False  # horizontal bars with long names get the full page width


def plotly_text(text: str, limit: int = 40) -> str:
    """Data text for a Plotly label: shortened, with ``& < >`` as entities Plotly decodes."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _num(value: Decimal | None, keep_zero: bool = False) -> float | None:
    """Bar length for Plotly (coordinates only; every shown number comes from the Decimal).

    A zero is no bar (None) unless ``keep_zero``: where 0 is the good news, it gets its label.
    """
    if value is None or (value == 0 and not keep_zero):
        return None
    return float(value)


def _layout(fmt: Formatter, *, height: int, horizontal: bool, barmode: str, value_title: str,
            category_title: str = "") -> dict[str, Any]:
    axis = {"gridcolor": "#d9d9d9", "zerolinecolor": "#444", "automargin": True,
            "linecolor": "#444", "tickfont": {"size": 12}}
    value_axis = {**axis, "title": {"text": value_title}, "separatethousands": True}
    cat_axis = {**axis, "title": {"text": category_title}, "showgrid": False, "type": "category"}
    if horizontal:
        cat_axis["autorange"] = "reversed"
    return {
        "template": "none",
        "height": height,
        "barmode": barmode,
        "separators": fmt.plotly_separators,
        "font": {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif",
                 "size": 13, "color": "#1a1a1a"},
        "margin": {"l": 10, "r": 30, "t": 40, "b": 10},
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        "uniformtext": {"minsize": 10, "mode": "show"},
        "xaxis": value_axis if horizontal else cat_axis,
        "yaxis": cat_axis if horizontal else value_axis,
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
    }


def _bar(name: str, categories: list[str], values: list[Decimal | None], labels: list[str], *,
         colour: str, pattern: str = "", horizontal: bool, position: str = "auto",
         keep_zero: bool = False, hover: list[str] | None = None) -> dict:
    """One bar trace; ``hover``: the categories' full names (the axis may show them shortened)."""
    lengths = [_num(v, keep_zero) for v in values]
    trace: dict[str, Any] = {
        "type": "bar",
        "name": name,
        "orientation": "h" if horizontal else "v",
        "x": lengths if horizontal else categories,
        "y": categories if horizontal else lengths,
        "text": [lab if n is not None else "" for lab, n in zip(labels, lengths, strict=True)],
        "textposition": position,
        "cliponaxis": False,
        "customdata": hover or categories,
        "hovertemplate": "%{customdata}: %{text}<extra>" + name + "</extra>",
        "marker": {"color": colour, "line": {"color": "#1a1a1a", "width": 0.6},
                   "pattern": {"shape": pattern, "fillmode": "overlay",
                               "fgcolor": "rgba(0,0,0,0.55)", "solidity": 0.18}},
    }
    return trace


def _room_for_labels(traces: list[dict], layout: dict) -> None:
    """Widen the value axis of a horizontal stacked chart so outside labels fit on both sides.

    Plotly does not make room for text outside horizontal bars: without this a label left of a
    negative bar runs into the category names, and one right of the longest bar is cut off.
    """
    n = len(traces[0]["y"])
    pos = [sum(t["x"][i] for t in traces if (t["x"][i] or 0) > 0) for i in range(n)]
    neg = [sum(t["x"][i] for t in traces if (t["x"][i] or 0) < 0) for i in range(n)]
    lo, hi = min([0.0, *neg]), max([0.0, *pos])
    pad = 0.4 * ((hi - lo) or 1.0)
    layout["xaxis"]["range"] = [lo - pad if lo < 0 else -0.02 * pad, hi + pad if hi > 0 else 0.02 * pad]


def _figure(traces: list[dict], layout: dict) -> tuple[dict, int]:
    import plotly.graph_objects as go  # heavy: only when a report is drawn

    if traces and traces[0]["orientation"] == "h":
        _room_for_labels(traces, layout)
    fig = go.Figure(data=traces, layout=layout).to_plotly_json()
    bars = sum(1 for t in traces for v in (t["x"] if t["orientation"] == "h" else t["y"])
               if v)  # bars with a length; a kept zero shows only its label
    return {"data": fig["data"], "layout": fig["layout"]}, bars


def _kind_sums(findings: Table) -> pl.LazyFrame:
    return (
        findings.lazy().filter(pl.col("delta_eur").is_not_null())
        .group_by("kind")
        .agg(
            pl.col("delta_eur").filter(pl.col("status") == "open").sum().alias("open_eur"),
            pl.col("delta_eur").filter(pl.col("status") == "waived").sum().alias("waived_eur"),
            (pl.col("status") == "open").sum().alias("open_n"),
            (pl.col("status") == "waived").sum().alias("waived_n"),
        )
    )


def _money_by_kind(fmt: Formatter, sums: pl.DataFrame) -> Chart:
    per = [r for r in sums.to_dicts() if r["open_eur"] != 0 or r["waived_eur"] != 0]
    per.sort(key=lambda r: (-abs(r["open_eur"] + r["waived_eur"]), r["kind"]))
    cats = [fmt.label("kind", r["kind"]) for r in per]
    opened = [r["open_eur"] for r in per]
    waived = [r["waived_eur"] for r in per]
    table = ChartTable(
        [fmt.t("col.kind"), fmt.t("col.open_findings"), fmt.t("col.open_eur"),
         fmt.t("col.waived_findings"), fmt.t("col.waived_eur")],
        [[c, fmt.number(r["open_n"]), fmt.money(r["open_eur"]), fmt.number(r["waived_n"]),
          fmt.money(r["waived_eur"])] for c, r in zip(cats, per, strict=True)],
        [False, True, True, True, True],
    )
    figure, bars = _money_bars(fmt, cats, [(fmt.t("status.open"), opened, BLUE, ""),
                                           (fmt.t("status.waived"), waived, PURPLE, "/")])
    return Chart("chart-money-by-kind", fmt.t("chart.kind.title"), fmt.t("chart.kind.caption"),
                 figure, table, bars, wide=True)


def _money_bars(fmt: Formatter, cats: list[str],
                series: list[tuple[str, list[Decimal | None], str, str]],
                hover: list[str] | None = None) -> tuple[dict | None, int]:
    """A horizontal money chart, one row of bars per category, EUR on the x axis, each bar
    labelled with its amount: ``series`` is (name, values, colour, pattern) per trace.
    ``(None, 0)`` when there is no category."""
    if not cats:
        return None, 0
    traces = [_bar(name, cats, values, [fmt.money(v) for v in values], colour=colour,
                   pattern=pattern, horizontal=True, position="outside", hover=hover)
              for name, values, colour, pattern in series]
    return _figure(traces, _layout(fmt, height=110 + 44 * len(cats), horizontal=True,
                                   barmode="relative",
                                   value_title=fmt.t("axis.eur", currency=fmt.currency)))


def _customer_sums(recon: Table) -> pl.LazyFrame:
    delta = pl.col("delta_eur")
    return (
        recon.lazy().filter(delta.is_not_null() & (delta != 0))
        .group_by("customer_id")
        .agg(
            pl.col("customer_name").min(),
            delta.filter(delta > 0).sum().alias("under"),
            delta.filter(delta < 0).sum().alias("over"),
        )
        .with_columns(pl.col("under").fill_null(0), pl.col("over").fill_null(0))
        .sort(pl.col("under") - pl.col("over"), "customer_id", descending=[True, False])
        .head(TOP_CUSTOMERS)
    )


def _top_customers(fmt: Formatter, top: pl.DataFrame) -> Chart:
    per = top.to_dicts()
    cats = [plotly_text(f"{r['customer_name']} ({r['customer_id']})", 30) for r in per]
    full = [plotly_text(f"{r['customer_name']} ({r['customer_id']})", 200) for r in per]
    under = [r["under"] for r in per]
    over = [r["over"] for r in per]
    table = ChartTable(
        [fmt.t("col.customer"), fmt.t("col.under_billed"), fmt.t("col.over_billed"),
         fmt.t("col.net")],
        [[f"{r['customer_name']} ({r['customer_id']})", fmt.money(r["under"]),
          fmt.money(r["over"]), fmt.money(r["under"] + r["over"])] for r in per],
        [False, True, True, True],
    )
    figure, bars = _money_bars(fmt, cats, [(fmt.t("money.under"), under, BLUE, ""),
                                           (fmt.t("money.over"), over, VERMILLION, "x")],
                               hover=full)
    return Chart("chart-top-customers", fmt.t("chart.customers.title", n=TOP_CUSTOMERS),
                 fmt.t("chart.customers.caption"), figure, table, bars, wide=True)


def _tier_counts(classes: Table) -> pl.LazyFrame:
    return classes.lazy().group_by("month", "policy_tier").len()


def _tier_mix(fmt: Formatter, counted: pl.DataFrame, months: list[str],
              tiers: list[tuple[str, str]]) -> Chart:
    counts = {(m, t): n for m, t, n in counted.iter_rows()}
    series = [*tiers, (None, fmt.t("tier.unclassified"))]
    series = [(tid, name) for tid, name in series if any((m, tid) in counts for m in months)]
    cats = [fmt.month_short(m) for m in months]
    traces = []
    for i, (tid, name) in enumerate(series):
        values = [Decimal(counts.get((m, tid), 0)) for m in months]
        colour = GREY if tid is None else SERIES_COLOURS[i % len(SERIES_COLOURS)]
        traces.append(_bar(name, cats, values, [fmt.number(v) for v in values], colour=colour,
                           pattern=PATTERNS[i % len(PATTERNS)], horizontal=False,
                           position="inside"))
    rows = []
    for m in months:
        values = [counts.get((m, tid), 0) for tid, _ in series]
        rows.append([fmt.month(m), *(fmt.number(v) for v in values), fmt.number(sum(values))])
    table = ChartTable([fmt.t("col.month"), *(name for _, name in series), fmt.t("col.total")],
                       rows, [False, *(True for _ in series), True])
    figure, bars = None, 0
    if traces:
        figure, bars = _figure(traces, _layout(fmt, height=380, horizontal=False,
                                               barmode="stack", value_title=fmt.t("axis.tickets")))
    return Chart("chart-tier-mix", fmt.t("chart.tiers.title"), fmt.t("chart.tiers.caption"),
                 figure, table, bars)


def _unit_sums(recon: Table) -> pl.LazyFrame:
    return recon.lazy().group_by("month").agg(pl.col("expected_units").sum(),
                                              pl.col("billed_units").sum())


def _units(fmt: Formatter, sums: pl.DataFrame, months: list[str]) -> Chart:
    per = {m: (e or ZERO, b or ZERO) for m, e, b in sums.iter_rows()}
    expected = [per.get(m, (ZERO, ZERO))[0] for m in months]
    billed = [per.get(m, (ZERO, ZERO))[1] for m in months]
    cats = [fmt.month_short(m) for m in months]
    table = ChartTable(
        [fmt.t("col.month"), fmt.t("units.expected"), fmt.t("units.billed"),
         fmt.t("col.difference")],
        [[fmt.month(m), fmt.number(e), fmt.number(b), fmt.signed_number(e - b)]
         for m, e, b in zip(months, expected, billed, strict=True)],
        [False, True, True, True],
    )
    figure, bars = _figure(
        [_bar(fmt.t("units.expected"), cats, expected, [fmt.number(v) for v in expected],
              colour=ORANGE, horizontal=False, position="outside"),
         _bar(fmt.t("units.billed"), cats, billed, [fmt.number(v) for v in billed],
              colour=BLUE, pattern="/", horizontal=False, position="outside")],
        _layout(fmt, height=380, horizontal=False, barmode="group",
                value_title=fmt.t("axis.units")),
    )
    return Chart("chart-units", fmt.t("chart.units.title"), fmt.t("chart.units.caption"),
                 figure, table, bars)


def _agent_counts(classes: Table) -> pl.LazyFrame:
    # Each ticket once, in its first month (classifications has one row per ticket-month).
    classes = classes.lazy()
    first = classes.group_by("ticket_id").agg(pl.col("month").min())
    return (
        classes.join(first, on=["ticket_id", "month"], how="semi")
        .filter(pl.col("agent").is_not_null() & pl.col("policy_tier").is_not_null())
        .group_by("agent")
        .agg(pl.len().alias("n"),
             (pl.col("recorded_tier") != pl.col("policy_tier")).sum().alias("wrong"))
    )


def _agents(fmt: Formatter, counted: pl.DataFrame) -> Chart:
    per = counted.to_dicts()
    for r in per:
        r["rate"] = Decimal(r["wrong"]) / Decimal(r["n"])
    per.sort(key=lambda r: (-r["rate"], r["agent"]))
    cats = [plotly_text(r["agent"]) for r in per]
    pct = [r["rate"] * 100 for r in per]
    labels = [f"{fmt.percent(r['rate'])} ({r['wrong']}/{r['n']})" for r in per]
    table = ChartTable(
        [fmt.t("col.agent"), fmt.t("col.tickets"), fmt.t("col.mismatched"), fmt.t("col.rate")],
        [[r["agent"], fmt.number(r["n"]), fmt.number(r["wrong"]), fmt.percent(r["rate"])]
         for r in per],
        [False, True, True, True],
    )
    figure, bars = None, 0
    if per:
        # horizontal: agent names are read level, never rotated into each other
        layout = _layout(fmt, height=90 + 30 * len(per), horizontal=True, barmode="group",
                         value_title=fmt.t("axis.percent"))
        figure, bars = _figure(
            [_bar(fmt.t("col.rate"), cats, pct, labels, colour=VERMILLION, horizontal=True,
                  position="outside", keep_zero=True)],
            layout,
        )
        figure["layout"]["showlegend"] = False
    return Chart("chart-agents", fmt.t("chart.agents.title"), fmt.t("chart.agents.caption"),
                 figure, table, bars)


def build_charts(fmt: Formatter, findings: Table, reconciliation: Table,
                 classifications: Table | None, months: list[str],
                 tiers: list[tuple[str, str]]) -> list[Chart]:
    """All charts of section 3, in page order. ``tiers``: (tier id, label) in policy order.

    The tables are frames or scans of the run's files (reports.load): every chart's aggregate
    is computed, streaming, in one call (:func:`reports.load.collect`) before any figure is
    drawn."""
    queries = [_kind_sums(findings), _customer_sums(reconciliation), _unit_sums(reconciliation)]
    if classifications is not None:
        queries += [_tier_counts(classifications), _agent_counts(classifications)]
    kinds, customers, units, *classes = collect(*queries)
    charts = [_money_by_kind(fmt, kinds), _top_customers(fmt, customers)]
    if classes:
        charts.append(_tier_mix(fmt, classes[0], months, tiers))
    charts.append(_units(fmt, units, months))
    if classes:
        charts.append(_agents(fmt, classes[1]))
    return charts
