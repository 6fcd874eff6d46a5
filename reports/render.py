"""Render an audit output directory into one self-contained, offline HTML report.

Pipeline: read the run (:mod:`reports.load`) → build one view per section (pure functions over
the run, in their own modules) → one Jinja2 template with autoescaping → write ``report.html``
and ``actions.csv`` atomically (temp file + rename), only after everything rendered.

Safety and reproducibility are properties of this module:
- every data string reaches the page through Jinja's autoescaping, or as JSON inside
  ``<script type="application/json">`` with ``<``, ``>``, ``&`` escaped; the page's own script
  reads it with ``JSON.parse`` and writes text with ``textContent`` only;
- a Content-Security-Policy meta allows only the page's own inline scripts, by their sha256
  hashes: an injected ``<script>`` or ``onerror=`` would not run even if escaping failed;
  no connection leaves the file (``default-src 'none'``);
- no clock, random id or dict order reaches the bytes: with ``SOURCE_DATE_EPOCH`` set, two
  renders of the same run are identical.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import cache, partial
from pathlib import Path
from typing import Any, Literal

import polars as pl
from jinja2 import Environment, FileSystemBytecodeCache, FileSystemLoader, StrictUndefined
from jinja2.bccache import Bucket
from markupsafe import Markup

from audit.errors import UsageError
from audit.outputs import (
    atomic_path,
    atomic_write_text,
    parquet_files,
    parquet_rows,
    parquet_schema,
)
from audit.policy.model import SEVERITY_ORDER
from reports.actions import CSV_COLUMNS as ACTIONS_CSV_COLUMNS
from reports.actions import (
    SPOOL_GLOB,
    action_list,
    explained,
    spool_action_rows,
    write_actions_csv,
)
from reports.appendix import appendix_view
from reports.bridge import bridge, bridge_figure, bridge_rows, tiles
from reports.charts import build_charts
from reports.findings import top_findings
from reports.i18n import LANGUAGES, Formatter
from reports.load import RunOutputs, load_outputs, read_summary, with_text
from reports.quality import quality_view
from reports.sla import sla_view
from reports.summary import header_view, summary_view

HERE = Path(__file__).parent  # templates, static assets (package data, see pyproject.toml)
PlotlyMode = Literal["inline", "cdn"]
PLOTLY_CONFIG = {"displayModeBar": False, "responsive": True, "displaylogo": False}
QUARANTINE_SAMPLE = 50
DOWNLOAD_LIMIT = 1_000_000


def generated_at(environ: Mapping[str, str] = os.environ) -> dt.datetime:
    """``SOURCE_DATE_EPOCH`` (reproducible-builds.org) when set, else now; always UTC."""
    raw = environ.get("SOURCE_DATE_EPOCH")
    if raw is None or raw == "":
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    try:
        return dt.datetime.fromtimestamp(int(raw), dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise UsageError(
            f"SOURCE_DATE_EPOCH={raw!r} is not a whole number of seconds since 1970-01-01 "
            "(unset it, or set e.g. SOURCE_DATE_EPOCH=$(git log -1 --format=%ct))"
        ) from None


def json_for_script(data: Any) -> Markup:
    """JSON safe inside ``<script type="application/json">``: no ``</script>``, no ``<!--``."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      allow_nan=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return Markup(text)


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(inline_scripts: list[str], script_hosts: tuple[str, ...] = ()) -> str:
    """Nothing may load or connect; only these exact inline scripts (and hosts) may run.

    Plotly draws inline SVG and sets inline styles (``style-src 'unsafe-inline'``); its image
    export would use ``data:``/``blob:`` URLs (``img-src``). Nothing else is needed: the browser
    test checks that the page logs no CSP violation.
    """
    scripts = " ".join([*(_csp_hash(s) for s in inline_scripts), *script_hosts])
    return (
        "default-src 'none'; "
        f"script-src {scripts}; "
        "style-src 'unsafe-inline'; "
        "img-src data: blob:; "
        "base-uri 'none'; form-action 'none'"
    )


@cache
def _static(name: str) -> str:
    text = (HERE / "static" / name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():
        raise AssertionError(f"reports/static/{name} must not close its own tag")
    return text


@cache
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs()
    if "</script" in js.lower():  # would end the inline <script> early
        raise AssertionError("the bundled plotly.js contains '</script'; use plotly='cdn'")
    return js


def _plotly_cdn() -> tuple[str, str]:
    """(URL, Subresource-Integrity hash) of the CDN copy of the bundled plotly.js version."""
    from plotly.offline import get_plotlyjs_version

    digest = hashlib.sha384(_plotly_js().encode("utf-8")).digest()
    url = f"https://cdn.plot.ly/plotly-{get_plotlyjs_version()}.min.js"
    return url, "sha384-" + base64.b64encode(digest).decode("ascii")


def css_string(text: str) -> Markup:
    """``text`` as a quoted CSS string (for the printed footer): quotes, backslashes, line ends
    and ``<`` escaped, so no data can end the string or the ``<style>`` element."""
    out = []
    for ch in str(text):
        if ch in '\\"<>&' or ord(ch) < 32:
            out.append(f"\\{ord(ch):X} ")
        else:
            out.append(ch)
    return Markup('"' + "".join(out) + '"')


class _TemplateCache(FileSystemBytecodeCache):
    """Jinja's bytecode cache of the compiled templates (a template's entry is keyed by its
    name and checked against its source's checksum and the Python version, so an edited
    template or another Python compiles afresh). Caching is only ever a shortcut: an entry
    that cannot be read or written is compiled instead, never an error."""

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # noqa: BLE001 - unreadable (cut short, another format): compile
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def template_cache_dir(environ: Mapping[str, str] = os.environ) -> Path | None:
    """Where the compiled templates are kept between runs: ``support-audit/templates`` in the
    user's cache directory (``$XDG_CACHE_HOME``, else ``~/.cache``), created for this user
    alone. None — every run compiles them, ~0.4 s — when ``SUPPORT_AUDIT_NO_CACHE`` is set
    (to anything but empty) or there is no such directory that only this user can write to
    (compiled code is only read from where no one else could have put it)."""
    if environ.get("SUPPORT_AUDIT_NO_CACHE"):
        return None
    base = environ.get("XDG_CACHE_HOME") or ""
    try:
        root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
        path = root / "support-audit" / "templates"
        root.mkdir(parents=True, exist_ok=True)
        for part in (path.parent, path):
            part.mkdir(mode=0o700, exist_ok=True)
            st = part.lstat()
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
                return None
    except (OSError, RuntimeError):  # RuntimeError: no home directory
        return None
    return path


@cache
def _environment() -> Environment:
    cache_dir = template_cache_dir()
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        bytecode_cache=_TemplateCache(str(cache_dir)) if cache_dir is not None else None,
    )
    env.filters["css_string"] = css_string
    return env


def _validate(lang: str | None, plotly: str, top_n: int) -> None:
    if lang is not None and lang not in LANGUAGES:
        raise UsageError(f"--lang {lang!r}: not a report language (use one of: {', '.join(LANGUAGES)})")
    if plotly not in ("inline", "cdn"):
        raise UsageError(f"plotly={plotly!r}: use 'inline' (offline, default) or 'cdn'")
    if not isinstance(top_n, int) or top_n < 0:
        raise UsageError(f"top_n={top_n!r}: give a whole number ≥ 0 of findings to show")


def _context(run: RunOutputs, fmt: Formatter, previous: dict[str, Any] | None, top_n: int,
             when: dt.datetime, actions: pl.LazyFrame) -> dict[str, Any]:
    """The page's context; its ``downloads`` are set by the caller (:func:`_render`)."""
    tiers = run.tiers(fmt.lang)
    action_view = action_list(actions, limit=top_n, fill=lambda rows: explained(rows, run, fmt.lang))
    names = dict(tiers)
    action_view.choices["tier"] = [
        (tid, names.get(tid, tid) if tid else fmt.t("tier.unclassified"))
        for tid in action_view.choices.get("tier", [])]
    steps = bridge(run.findings, run.reconciliation, fmt)
    charts = build_charts(fmt, run.findings, run.reconciliation, run.classifications,
                          run.months, tiers)
    return {
        "fmt": fmt,
        "t": fmt.t,
        "lang": fmt.lang,
        "header": header_view(run, fmt, when, previous),
        "summary": summary_view(run, fmt, tiers, previous),
        "charts": charts,
        "actions": action_view,
        "money": {"tiles": tiles(action_view, fmt), "bridge": bridge_rows(steps, fmt)},
        "findings": top_findings(run.findings, top_n,
                                 fill=lambda top: with_text(run.findings_in_full(top), "message", fmt.lang)),
        "quality": quality_view(run, QUARANTINE_SAMPLE, fmt),
        "sla": sla_view(run, fmt),
        "appendix": appendix_view(run, fmt, tiers),
        "tier_names": dict(tiers),
        "downloads": False,
        "severity_rank": SEVERITY_ORDER,
        "page_data": {
            "charts": [{"id": "chart-bridge", **bridge_figure(steps, fmt)}]
            + [{"id": c.id, **c.figure} for c in charts if c.figure],
            "config": PLOTLY_CONFIG,
            "text": {"shown": fmt.t("findings.shown_js"), "rows": fmt.t("actions.rows_js"),
                     "page": fmt.t("actions.page_js"), "subtotal": fmt.t("actions.subtotal_js"),
                     "no_agent": fmt.t("actions.no_agent")},
            "currency": fmt.currency,
            "downloads": {},
        },
    }


def _credit_cap(run: RunOutputs) -> Decimal | None:
    """The policy's monthly SLA credit cap per customer (policy.json), None without one."""
    sla = (run.policy or {}).get("sla") or {}
    cap = (sla.get("credits") or {}).get("monthly_cap_per_customer")
    return Decimal(cap) if cap is not None else None


def _downloads(out_dir: Path, actions: Path) -> dict[str, str]:
    """The CSV files a reader can download from inside the offline page (exact file bytes as
    text), each only while it is at most :data:`DOWNLOAD_LIMIT` characters (the page stays
    small; a bigger run links the files beside the report instead)."""
    files = {}
    for name, path in (("actions", actions), ("findings", out_dir / "findings.csv")):
        if path.is_file() and path.stat().st_size <= 4 * DOWNLOAD_LIMIT:  # ≤ 4 bytes a character
            files[name] = path.read_text(encoding="utf-8")
    return {k: v for k, v in files.items() if len(v) <= DOWNLOAD_LIMIT}


def _may_download(out_dir: Path, actions_rows: int, actions_columns: int) -> bool:
    """Whether either CSV could be small enough to embed (:func:`_downloads`), judged from the
    row and column counts of what they are written from (the action list's spool, and
    findings.parquet), before they are written: a CSV has at least a character per column on
    its header and on each row (a separator or the newline). When neither can fit, the page is
    built without waiting for them, and what the page holds never depends on which writer
    finished first."""
    fewest = (actions_rows + 1) * actions_columns
    findings = parquet_files(out_dir / "findings.parquet")  # findings.csv: every column
    if findings and findings[0].exists():
        columns = len(parquet_schema(out_dir / "findings.parquet").names)
        fewest = min(fewest, (parquet_rows(findings) + 1) * columns)
    return fewest <= DOWNLOAD_LIMIT


def _render(out_dir: Path, actions_path: Path, *, lang: str | None, previous: Path | None,
            plotly: PlotlyMode, top_n: int, when: dt.datetime | None,
            csv_written: Callable[[], None] | None = None) -> str:
    """The report page of one run; writes its actions.csv to ``actions_path`` on the way.

    The run is read lean (:func:`load_outputs` ``lean=True``, without its texts): the page
    reads the messages, explanations and other details of the rows it shows, and DuckDB joins
    the explanations into actions.csv as it writes it, so a run with millions of findings
    renders in bounded memory: its tables are read as scans, each part of the page aggregating
    what it needs as it reads (10M time entries with the SLA judged: 7 M findings, a page
    peak of about 1.6 GiB with actions.csv written beside it). actions.csv is written on a
    thread of its own while the page is built.

    ``csv_written``: waits until the run's CSV files (findings.csv) are complete, when they
    are still being written beside the report (``support-audit run``); it is called before
    they are read for the page's downloads, so the page never depends on timing."""
    from concurrent.futures import ThreadPoolExecutor

    _validate(lang, plotly, top_n)
    run = load_outputs(out_dir, lean=True)
    prev = read_summary(previous) if previous is not None else None
    policy = run.summary.get("policy") or {}
    fmt = Formatter(lang or policy.get("language") or "en", currency=policy.get("currency") or "EUR")
    # the pool is shut down (its writer waited for) before the spool directory is removed
    with tempfile.TemporaryDirectory(prefix="support-audit-actions-") as tmp, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="actions-csv") as pool:
        spool = Path(tmp) / "actions"
        actions = spool_action_rows(spool, run.reconciliation, run.findings, fmt.lang,
                                    run.classifications, timezone=policy.get("timezone") or "UTC",
                                    credit_cap=_credit_cap(run), run=run)
        writing = pool.submit(write_actions_csv, spool, actions_path, run)
        parts = sorted(spool.glob(SPOOL_GLOB))
        rows = parquet_rows(parts)
        columns = len(ACTIONS_CSV_COLUMNS) + sum(  # as write_actions_csv writes them
            c.startswith("explanation_") for c in parquet_schema(parts[0]).names)
        ctx = _context(run, fmt, prev, top_n, when or generated_at(), actions)
        downloads: dict[str, str] = {}
        if _may_download(out_dir, rows, columns):  # a small run: wait for both, then read them
            writing.result()
            if csv_written is not None:
                csv_written()
            downloads = _downloads(out_dir, actions_path)
        ctx["downloads"] = bool(downloads)
        ctx["page_data"]["downloads"] = downloads
        html = _page(ctx, plotly)
        writing.result()
    return html


def _page(ctx: dict[str, Any], plotly: PlotlyMode) -> str:
    """The report page from its context (:func:`_context`)."""
    page_js = _static("report.js")
    if plotly == "inline":
        plotly_js, cdn = _plotly_js(), None
        csp = content_security_policy([plotly_js, page_js])
    else:
        plotly_js, cdn = None, _plotly_cdn()
        csp = content_security_policy([page_js], ("https://cdn.plot.ly",))
    return _environment().get_template("report.html.j2").render(
        **ctx,
        csp=csp,
        css=Markup(_static("report.css")),
        page_js=Markup(page_js),
        plotly_js=Markup(plotly_js) if plotly_js else None,
        plotly_cdn=cdn,
        data_json=json_for_script(ctx["page_data"]),
    )


def render_html(out_dir: Path, *, lang: str | None = None, previous: Path | None = None,
                plotly: PlotlyMode = "inline", top_n: int = 500,
                when: dt.datetime | None = None) -> tuple[str, str]:
    """The report page and the actions.csv text for one run, without writing anything into
    ``out_dir``."""
    with tempfile.TemporaryDirectory(prefix="support-audit-report-") as tmp:
        actions = Path(tmp) / "actions.csv"
        html = _render(Path(out_dir), actions, lang=lang, previous=previous, plotly=plotly,
                       top_n=top_n, when=when)
        return html, actions.read_text(encoding="utf-8")


def report_filename(lang: str | None, policy_language: str | None) -> str:
    """``report.html`` in the policy's language (the default), ``report.<lang>.html`` in any
    other, so that rendering a second language never replaces the first."""
    if lang is None or lang == (policy_language or lang):
        return "report.html"
    return f"report.{lang}.html"


def render_report(out_dir: Path, *, lang: str | None = None, previous: Path | None = None,
                  plotly: PlotlyMode = "inline", top_n: int = 500,
                  write_actions: bool = True, output: Path | None = None,
                  csv_written: Callable[[], None] | None = None) -> Path:
    """Write the report (and ``out_dir/actions.csv``); return the report's absolute path.

    The report goes to ``output`` when given, else ``out_dir/report.html`` in the policy's
    language and ``out_dir/report.<lang>.html`` in another one (:func:`report_filename`).
    ``lang``: ``de`` or ``en``; None takes the policy's ``settings.language`` (summary.json).
    ``previous``: an earlier run's output directory, for the change of each summary figure.
    ``plotly``: ``inline`` embeds plotly.js (offline, ~4.8 MB); ``cdn`` links it from
    cdn.plot.ly with Subresource Integrity (small file, needs the internet to draw charts).
    ``top_n``: findings listed in the page (largest money first); the rest are in findings.csv.
    ``csv_written``: when the run's findings.csv is still being written beside the report, a
    call that waits for it (:func:`_render`).
    Raises :class:`~audit.errors.DataError` (unusable run) or :class:`~audit.errors.UsageError`.
    """
    out_dir = Path(out_dir)
    render = partial(_render, out_dir, lang=lang, previous=previous, plotly=plotly, top_n=top_n,
                     when=None, csv_written=csv_written)
    if write_actions:
        with atomic_path(out_dir / "actions.csv") as actions:  # in place once the page is made
            html = render(actions)
    else:
        with tempfile.TemporaryDirectory(prefix="support-audit-report-") as tmp:
            html = render(Path(tmp) / "actions.csv")
    if output is None:
        policy = read_summary(out_dir).get("policy") or {}
        output = out_dir / report_filename(lang, policy.get("language"))
    return atomic_write_text(Path(output), html).resolve()
