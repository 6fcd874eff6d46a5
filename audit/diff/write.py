"""Write a policy diff: ``diff.json`` (everything), ``diff.md`` (a pull-request comment or
``$GITHUB_STEP_SUMMARY``: the euro headline first, tables after, at most :data:`MD_LIMIT` bytes)
and ``diff.html`` (the report's look and safety: its stylesheet, Jinja2 environment with
autoescaping, a Content-Security-Policy that lets nothing load or run; offline).

Every file is written atomically; ``diff.json`` and ``diff.md`` are byte-identical for the same
inputs, ``diff.html`` too when ``SOURCE_DATE_EPOCH`` is set (its only timestamp).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from audit.outputs import atomic_write_text

#: diff.md stays below this many bytes (GitHub: 65,536 characters per comment, 1 MiB per
#: step summary).
MD_LIMIT = 60_000
#: Rows per table in diff.md / diff.html (the rest are in diff.json).
MD_ROWS = 15
HTML_ROWS = 200
UNCLASSIFIED = "unclassified"
CSP = ("default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; "
       "base-uri 'none'; form-action 'none'")

BREAKDOWN_TITLES = {
    "by_month": ("Money by month", ("month",)),
    "by_rule": ("Money by rule (base → head)", ("base_rule", "head_rule")),
    "by_customer": ("Money by customer", ("customer_id", "customer_name")),
    "by_contract": ("Money by contract", ("contract",)),
}
FINDING_CHANGE_TITLES = {"appeared": "new", "disappeared": "gone", "amount_changed": "amount changed",
                         "status_changed": "status changed", "severity_changed": "severity changed"}


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)


def json_text(doc: dict[str, Any]) -> str:
    """diff.json: indented, except one line per item of the long lists under ``changes`` (a
    diff of a million entries lists hundreds of thousands; indenting them all would take
    Python's slow encoder and triple the file)."""
    changes = doc.get("changes") or {}
    marks = {name: f"\u0000changes:{name}\u0000" for name in changes}
    shell = {**doc, "changes": dict(marks)} if changes else doc
    text = json.dumps(shell, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    for name, mark in marks.items():
        items = changes[name]
        body = ("[\n" + ",\n".join("      " + _compact(i) for i in items) + "\n    ]") if items else "[]"
        text = text.replace(json.dumps(mark), body, 1)
    return text + "\n"


def signed(amount: str | Decimal) -> str:
    """``"+12.50"``, ``"-3.00"``, ``"0.00"``."""
    value = Decimal(amount)
    return f"+{value:.2f}" if value > 0 else f"{value:.2f}"


def tier_name(tier: str | None) -> str:
    return tier if tier is not None else UNCLASSIFIED


def group_label(row: dict[str, Any], keys: tuple[str, ...]) -> str:
    if keys == ("base_rule", "head_rule"):
        b, h = row["base_rule"] or "(none)", row["head_rule"] or "(none)"
        return b if b == h else f"{b} → {h}"
    if keys == ("customer_id", "customer_name"):
        return f"{row['customer_id']} {row['customer_name'] or ''}".strip()
    value = row[keys[0]]
    return value if value is not None else "(none)"


def finding_label(ex: dict[str, Any]) -> str:
    """``T-1 2026-07 12.00→14.00`` (``–`` for the side without the finding)."""
    b, h = ex["delta_eur"]["base"] or "–", ex["delta_eur"]["head"] or "–"
    return f"{ex['ticket_id']} {ex['month']} {b}→{h}"


def example_label(ex: dict[str, Any]) -> str:
    return f"{ex['ticket_id']} {ex['month']} {signed(ex['expected_eur']['change'])}"


# --------------------------------------------------------------------------------------------
# Markdown

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def md_text(value: Any) -> str:
    """A data string safe in a Markdown table cell: no markup, no HTML, no mention, one line."""
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("@", "&#64;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_table(head: list[str], rows: list[list[str]], total: int, what: str) -> list[str]:
    align = ["---" if h in ("", "from", "to", "kind", "examples") else "---:" for h in head]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if total > len(rows):
        lines.append(f"\n… and {total - len(rows)} more {what} in diff.json / diff.html.")
    return lines


def _md_breakdown(doc: dict[str, Any], name: str, rows_limit: int) -> list[str]:
    title, keys = BREAKDOWN_TITLES[name]
    rows = doc["money"][name]
    if not rows:
        return []
    out = [f"### {title}", ""]
    body = []
    for r in rows[:rows_limit]:
        body.append([
            md_text(group_label(r, keys)),
            r["expected_eur"]["base"], r["expected_eur"]["head"], f"**{signed(r['expected_eur']['change'])}**",
            signed(r["under_billed_eur"]["change"]), signed(r["over_billed_eur"]["change"]),
            str(r["ticket_months_changed"]),
            ", ".join(md_text(example_label(e)) for e in r["examples"]),
        ])
    out += _md_table(["", "base expected", "head expected", "Δ expected", "Δ under-billed",
                      "Δ over-billed", "# ticket-months changed", "examples"], body, len(rows), "rows")
    return [*out, ""]


def _headline(doc: dict[str, Any]) -> str:
    cur = doc["currency"]
    t = doc["money"]["total"]
    return (f"**Expected revenue {signed(t['expected_eur']['change'])} {cur}** "
            f"({t['expected_eur']['base']} → {t['expected_eur']['head']} {cur})")


def _gate_lines(doc: dict[str, Any]) -> list[str]:
    names = {"revenue_delta_above": ("|Δ expected revenue|", doc["currency"]),
             "tier_changes_above": ("tickets changing tier", "")}
    out = []
    for g in doc["gates"]:
        label, unit = names[g["gate"]]
        mark = "❌ exceeded" if g["exceeded"] else "✅ within"
        out.append(f"- {mark}: {label} {g['value']}{' ' + unit if unit else ''} "
                   f"(limit {g['limit']}{' ' + unit if unit else ''})")
    return out


def render_markdown(doc: dict[str, Any], limit: int = MD_LIMIT) -> str:
    """diff.md: headline, gates, tables; cut at a section boundary to stay within ``limit``."""
    cur = doc["currency"]
    t, h, tiers, f = doc["money"]["total"], doc["headline"], doc["tiers"], doc["findings"]
    base, head = doc["base"], doc["head"]
    rows_in = sum(r["in"] for r in doc["rows"].values())
    quarantined = sum(r["quarantined"] for r in doc["rows"].values())
    lines = [
        "## Policy diff",
        "",
        _headline(doc) if doc["changed"] else f"**No change**: the head policy gives the same "
        f"tiers, findings and money as the base ({t['expected_eur']['base']} {cur} expected).",
        "",
        f"- under-billed {signed(t['under_billed_eur']['change'])} {cur} "
        f"({t['under_billed_eur']['base']} → {t['under_billed_eur']['head']}), over-billed "
        f"{signed(t['over_billed_eur']['change'])} {cur} ({t['over_billed_eur']['base']} → "
        f"{t['over_billed_eur']['head']}), net {signed(t['net_eur']['change'])} {cur}",
        f"- {tiers['changed']} of {tiers['tickets']} tickets change tier; "
        f"{doc['money']['ticket_months_changed']} of {doc['money']['ticket_months']} ticket-months "
        "change",
        f"- findings: {h['findings_appeared']} new, {h['findings_disappeared']} gone, "
        f"{h['findings_amount_changed']} with a changed amount ({f['base']} → {f['head']})",
        f"- base {md_text(base['source'])} ({md_text(base['name'])} {md_text(base['version'])}, "
        f"{base['digest'][:12]}{', commit ' + base['commit'][:12] if base['commit'] else ''}) → "
        f"head {md_text(head['source'])} ({md_text(head['name'])} {md_text(head['version'])}, "
        f"{head['digest'][:12]}{', commit ' + head['commit'][:12] if head['commit'] else ''})",
        f"- data: {rows_in} rows read, {quarantined} quarantined; "
        f"{'period ' + doc['period'] if doc['period'] else 'all months'}",
    ]
    if doc["gates"]:
        lines += ["", "Gates:", *_gate_lines(doc)]
    lines.append("")
    sections: list[list[str]] = []
    if tiers["changed"]:
        body = [[md_text(tier_name(c["from"])), md_text(tier_name(c["to"])), str(c["tickets"]),
                 ", ".join(md_text(x) for x in c["examples"])]
                for c in tiers["matrix"] if c["changed"]]
        sections.append(["### Tier changes (from → to)", "",
                         *_md_table(["from", "to", "tickets", "examples"], body, len(body), "rows"), ""])
    for name in ("by_month", "by_rule", "by_contract", "by_customer"):
        sections.append(_md_breakdown(doc, name, MD_ROWS))
    if f["by_kind"]:
        body = [[md_text(k["kind"]), *(str(k[c]) for c in FINDING_CHANGE_TITLES),
                 k["open_delta_eur"]["base"], k["open_delta_eur"]["head"],
                 signed(k["open_delta_eur"]["change"]),
                 ", ".join(md_text(finding_label(e)) for e in k["examples"])] for k in f["by_kind"]]
        sections.append(["### Findings by kind", "",
                         *_md_table(["kind", *FINDING_CHANGE_TITLES.values(), "base open Δ",
                                     "head open Δ", "Δ", "examples"], body, len(body), "kinds"), ""])
    pointer = ("Full details — every changed ticket, ticket-month and finding with its "
               "arithmetic — are in diff.json and diff.html, written next to this file (in CI: "
               "the job's artifacts).")
    text = "\n".join(lines)
    for section in sections:
        if not section:
            continue
        chunk = "\n".join(section)
        if len((text + chunk + pointer).encode("utf-8")) + 200 > limit:
            text += "\n_(cut here to fit the length limit of a pull-request comment.)_\n"
            break
        text += "\n" + chunk
    return text.rstrip("\n") + "\n\n" + pointer + "\n"


# --------------------------------------------------------------------------------------------
# HTML


def _html_context(doc: dict[str, Any], when) -> dict[str, Any]:
    breakdowns = []
    for name, (title, keys) in BREAKDOWN_TITLES.items():
        rows = doc["money"][name]
        breakdowns.append({
            "id": name.replace("_", "-"), "title": title, "total": len(rows),
            "rows": [{**r, "label": group_label(r, keys)} for r in rows[:HTML_ROWS]],
        })
    changes = doc["changes"]
    return {
        "doc": doc,
        "cur": doc["currency"],
        "signed": signed,
        "tier_name": tier_name,
        "rows_in": sum(r["in"] for r in doc["rows"].values()),
        "quarantined": sum(r["quarantined"] for r in doc["rows"].values()),
        "breakdowns": breakdowns,
        "tickets": changes["tickets"][:HTML_ROWS],
        "findings": changes["findings"][:HTML_ROWS],
        "limit": HTML_ROWS,
        "finding_changes": FINDING_CHANGE_TITLES,
        "finding_label": finding_label,
        "generated_at": when.strftime("%Y-%m-%d %H:%M UTC"),
        "generated_iso": when.isoformat(),
    }


def render_html(doc: dict[str, Any]) -> str:
    """diff.html, rendered with the report's Jinja2 environment (autoescaping) and stylesheet."""
    from markupsafe import Markup

    from reports.render import _environment, _static, generated_at

    ctx = _html_context(doc, generated_at())
    return _environment().get_template("diff.html.j2").render(
        **ctx, csp=CSP, css=Markup(_static("report.css")))


def write_diff(doc: dict[str, Any], out: Path) -> dict[str, Path]:
    """Write diff.json, diff.md and diff.html into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    texts = {"diff.json": json_text(doc), "diff.md": render_markdown(doc),
             "diff.html": render_html(doc)}
    return {name: atomic_write_text(out / name, text) for name, text in texts.items()}
