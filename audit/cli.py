"""The ``support-audit`` command line: thin click commands over the library.

Every command is a few lines that call a function a notebook user could call too
(``audit.api.run_audit``, ``audit.explain.explain``, ``reports.render_report`` …). Heavy modules
(duckdb, great_expectations, plotly) are imported inside the commands, so ``--help`` and
``check`` stay fast.

Exit codes are documented in :mod:`audit.errors` and the README.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import click

from audit import __version__
from audit.errors import (
    EXIT_INTERNAL,
    EXIT_USAGE,
    AuditError,
)

PERIOD_HELP = "Audit one local calendar month, YYYY-MM (default: every month in the data)."


class _Progress:
    """Progress lines on stderr with the elapsed time, so long runs show they are alive."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            click.echo(f"[{time.perf_counter() - self.t0:6.1f}s] {message}", err=True)


def _dir(must_exist: bool = True) -> click.Path:
    return click.Path(file_okay=False, dir_okay=True, exists=must_exist, path_type=Path)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="support-audit")
def cli() -> None:
    """Audit support tiers and billing against a declarative policy.

    Exit codes: 0 ok, 1 open findings at or above --fail-on, 2 invalid policy,
    3 unusable input data, 4 bad command line, 5 internal error.
    """


@cli.command()
@click.option("--policy", "policy", type=click.Path(exists=True, path_type=Path), default=Path("policies"),
              show_default=True, help="Policy bundle directory (or one YAML file).")
@click.option("--data", "data", type=_dir(), default=Path("sample_data"), show_default=True,
              help="Directory with one export per table (CSV, Parquet or JSON).")
@click.option("--out", "out", type=_dir(must_exist=False), required=True, help="Output directory.")
@click.option("--period", default=None, metavar="YYYY-MM", help=PERIOD_HELP)
@click.option("--fail-on", type=click.Choice(["error", "warning", "never"]), default="error",
              show_default=True, help="Exit 1 when an open finding has this severity or higher.")
@click.option("--gx", type=click.Choice(["full", "sample", "off"]), default="sample", show_default=True,
              help="Great Expectations validation: 'sample' runs it on every row of tables up to "
                   "2,000 rows and on a deterministic 2,000-row sample of larger ones; 'full' on "
                   "every row (slow on millions); 'off' skips it. The row-level contract checks and "
                   "the quarantine always cover every row.")
@click.option("--report/--no-report", default=True, show_default=True, help="Also write report.html.")
@click.option("--lang", type=click.Choice(["de", "en"]), default=None,
              help="Report language (default: the policy's).")
@click.option("--previous", type=_dir(), default=None,
              help="Output directory of the previous period, for the change in the report.")
@click.option("--as-of", "as_of", default=None, metavar="TIMESTAMP",
              help="Judge open tickets' SLA at this instant, e.g. 2026-07-01T00:00 (local time of the "
                   "policy unless an offset is given; default: the end of the audited period).")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def run(policy: Path, data: Path, out: Path, period: str | None, fail_on: str, gx: str,
        report: bool, lang: str | None, previous: Path | None, as_of: str | None, quiet: bool) -> None:
    """Run the audit and write findings, summary, quarantine and the HTML report."""
    from audit.api import run_audit

    progress = _Progress(quiet)
    result = run_audit(policy, data, out, period=period, fail_on=fail_on, gx=gx, progress=progress,
                       as_of=as_of)
    # The report reads the files just written; the result's tables (gigabytes on a large run)
    # are not needed any more, so they go before the report's own copies are loaded.
    summary, exit_code = result.summary, result.exit_code
    del result
    gc.collect()
    if report:
        from reports import render_report

        progress("rendering report.html")
        render_report(out, lang=lang, previous=previous)
    _print_run_summary(summary, out, report)
    sys.exit(exit_code)


def _print_run_summary(summary: dict, out: Path, report: bool) -> None:
    money = summary["money"]
    findings = summary["findings"]
    rows = summary["rows"]
    rows_in = sum(r["in"] for r in rows.values())
    quarantined = sum(r["quarantined"] for r in rows.values())
    cur = summary["policy"].get("currency", "EUR")
    click.echo(f"rows: {rows_in} in, {rows_in - quarantined} loaded, {quarantined} quarantined")
    click.echo(f"findings: {findings['open']} open, {findings['waived']} waived")
    click.echo(
        f"under-billed {money['under_billed_eur']} {cur}, over-billed {money['over_billed_eur']} {cur}, "
        f"net {money['net_eur']} {cur}"
    )
    click.echo(f"outputs: {out.resolve()}")
    if report:
        click.echo(f"report:  {(out / 'report.html').resolve()}")


@cli.command()
@click.option("--ticket", required=True, help="Ticket id to explain.")
@click.option("--month", default=None, metavar="YYYY-MM", help="Only this month's billing.")
@click.option("--policy", type=click.Path(exists=True, path_type=Path), default=Path("policies"),
              show_default=True)
@click.option("--data", type=_dir(), default=Path("sample_data"), show_default=True)
def explain(ticket: str, month: str | None, policy: Path, data: Path) -> None:
    """Show how one ticket was judged: rules tried, billing arithmetic, findings."""
    from audit.explain import explain as explain_ticket

    click.echo(explain_ticket(policy, data, ticket, month))


@cli.command()
@click.option("--from", "out", type=_dir(), required=True, help="Output directory of a run.")
@click.option("--lang", type=click.Choice(["de", "en"]), default=None)
@click.option("--previous", type=_dir(), default=None, help="Output directory of the previous period.")
@click.option("--cdn", is_flag=True, help="Link plotly.js from a CDN instead of embedding it (smaller file, needs internet).")
@click.option("--top", "top_n", type=click.IntRange(1), default=500, show_default=True,
              help="Findings listed in the page (the rest are in findings.csv).")
def report(out: Path, lang: str | None, previous: Path | None, cdn: bool, top_n: int) -> None:
    """Re-render report.html from a run's saved outputs (no re-audit)."""
    from reports import render_report

    path = render_report(out, lang=lang, previous=previous, plotly="cdn" if cdn else "inline", top_n=top_n)
    click.echo(f"report: {path}")


@cli.command()
@click.option("--policy", type=click.Path(exists=True, path_type=Path), default=Path("policies"),
              show_default=True)
def check(policy: Path) -> None:
    """Validate a policy bundle (syntax, schema, conditions, price periods). Exit 2 when invalid."""
    from audit.policy.loader import load_policy

    bundle = load_policy(policy)
    md = bundle.metadata
    click.echo(
        f"ok: {md.name} {md.version}: {len(bundle.tiers)} tiers, {len(bundle.classification.rules)} rules, "
        f"{len(bundle.billing.prices)} price periods, {len(bundle.signals)} signals, "
        f"{len(bundle.waivers)} waivers (sha256 {bundle.digest[:12]})"
    )


@cli.command()
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of stdout.")
def schema(out: Path | None) -> None:
    """Print the JSON Schema of policy files (for editors and CI)."""
    import json

    from audit.policy.schema import policy_json_schema

    text = json.dumps(policy_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        from audit.outputs import atomic_write_text

        atomic_write_text(out, text)
        click.echo(f"schema: {out}")


@cli.command("sample-data")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--months", type=click.IntRange(1, 36), default=3, show_default=True)
@click.option("--tickets", type=click.IntRange(1), default=400, show_default=True)
@click.option("--start", default="2026-05", show_default=True, metavar="YYYY-MM", help="First month.")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option("--dirty/--no-dirty", default=True, show_default=True,
              help="Plant unparseable and contract-violating rows for the quarantine.")
@click.option("--out", "out", type=_dir(must_exist=False), required=True)
@click.option("-q", "--quiet", is_flag=True)
def sample_data(seed: int, months: int, tickets: int, start: str, fmt: str, dirty: bool, out: Path,
                quiet: bool) -> None:
    """Generate believable sample exports with planted errors and a ground-truth file."""
    from audit.sample import generate

    stats = generate(out, seed=seed, months=months, tickets=tickets, start=start, fmt=fmt, dirty=dirty,
                     progress=_Progress(quiet))
    rows = stats.get("rows", {})
    click.echo(", ".join(f"{t}: {n}" for t, n in rows.items()) if rows else "done")
    click.echo(f"sample data: {out}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the CLI and turns every error into a message and a documented exit code."""
    try:
        cli.main(args=argv, prog_name="support-audit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as e:  # bad option, missing argument, nonexistent path …
        e.show()
        sys.exit(EXIT_USAGE)
    except AuditError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except SystemExit:
        raise
    except Exception:  # a bug: keep the traceback for a report, show the user where it is
        fd, log = tempfile.mkstemp(prefix="support-audit-crash-", suffix=".log")
        with os.fdopen(fd, "w") as fh:
            traceback.print_exc(file=fh)
        click.echo(
            f"internal error: {sys.exc_info()[1]!r}. This is a bug in support-audit {__version__}; "
            f"the details are in {log}. Please report it with that file.",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)
    sys.exit(0)
