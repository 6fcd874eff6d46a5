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
@click.option("--data", "data", type=click.Path(exists=True, path_type=Path), default=Path("sample_data"),
              show_default=True,
              help="Directory with one export per table (CSV, Parquet or JSON), or a sources.yaml "
                   "naming foreign exports and their adapters (docs/adapters.md).")
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
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def run(policy: Path, data: Path, out: Path, period: str | None, fail_on: str, gx: str,
        report: bool, lang: str | None, previous: Path | None, quiet: bool) -> None:
    """Run the audit and write findings, summary, quarantine and the HTML report."""
    from audit.api import run_audit

    progress = _Progress(quiet)
    result = run_audit(policy, data, out, period=period, fail_on=fail_on, gx=gx, progress=progress)
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
@click.option("--data", type=click.Path(exists=True, path_type=Path), default=Path("sample_data"),
              show_default=True, help="Data directory or sources.yaml.")
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
              show_default=True, help="Policy bundle directory (or one YAML file).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text",
              show_default=True, help="text for people, json (a list of problems) or sarif (SARIF 2.1.0).")
@click.option("--strict", is_flag=True, help="Warnings fail too (exit 2).")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, metavar="YYYY-MM-DD",
              help="Date waivers are checked against (default: today).")
def check(policy: Path, fmt: str, strict: bool, as_of: object) -> None:
    """Check a policy bundle without data: every problem with a code (docs/check.md), a severity
    and file:line:col. Exit 2 on an error (with --strict also on a warning), else 0."""
    from audit.policy.check import check_policy
    from audit.policy.check_output import render

    report = check_policy(policy, as_of=as_of.date() if as_of is not None else None)  # type: ignore[attr-defined]
    click.echo(render(report, fmt, strict), nl=False)
    sys.exit(report.exit_code(strict))


@cli.command("test")
@click.option("--policy", type=click.Path(exists=True, path_type=Path), default=Path("policies"),
              show_default=True, help="Policy bundle directory; its cases are in <bundle>/tests/*.yaml.")
@click.option("--junit", "junit", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write JUnit XML (one testcase per case) to this file.")
@click.option("--min-coverage", type=click.FloatRange(0, 100), default=None, metavar="PCT",
              help="Exit 1 when the policy coverage is below PCT percent.")
@click.option("--fail-on-empty", is_flag=True, help="Exit 1 when no case ran.")
@click.option("-k", "pattern", default=None, metavar="PATTERN",
              help="Run only cases whose file::id or name contains PATTERN (case-insensitive).")
@click.option("-v", "--verbose", is_flag=True, help="List every case, also the ones that pass.")
def test_command(policy: Path, junit: Path | None, min_coverage: float | None, fail_on_empty: bool,
                 pattern: str | None, verbose: bool) -> None:
    """Run the policy's test cases through the engine; report failures and rule coverage.

    Exit 0 all cases pass, 1 a case failed (or coverage below --min-coverage, or no case with
    --fail-on-empty), 2 invalid policy or case file.
    """
    from audit.policytests import run_policy_tests
    from audit.policytests.report import text_report, write_junit

    result = run_policy_tests(policy, pattern=pattern)
    click.echo(text_report(result, verbose=verbose), nl=False)
    if junit is not None:
        write_junit(result, junit)
        click.echo(f"junit: {junit}")
    code = 0 if result.ok else 1
    if not result.results:
        where = f"matching -k {pattern!r} " if pattern else ""
        click.echo(f"{'error' if fail_on_empty else 'warning'}: no test case {where}in "
                   f"{result.suite.directory}", err=True)
        code = 1 if fail_on_empty else code
    if min_coverage is not None and result.coverage.percent < min_coverage:
        click.echo(f"error: coverage {result.coverage.percent:.1f} % is below --min-coverage "
                   f"{min_coverage:g} %", err=True)
        code = 1
    sys.exit(code)


@cli.command()
@click.option("--base", required=True, metavar="POLICY",
              help="The policy before the change: a bundle directory, a YAML file, or git:REV:PATH "
                   "(e.g. git:origin/main:policies).")
@click.option("--head", required=True, metavar="POLICY", help="The policy after the change (same forms).")
@click.option("--data", "data", type=_dir(), required=True, help="Directory with one export per table.")
@click.option("--out", "out", type=_dir(must_exist=False), required=True,
              help="Output directory for diff.json, diff.md and diff.html.")
@click.option("--period", default=None, metavar="YYYY-MM", help=PERIOD_HELP)
@click.option("--fail-if-revenue-delta-above", "revenue_limit", default=None, metavar="EUR",
              help="Exit 1 when the expected revenue changes by more than this amount (either way).")
@click.option("--fail-if-tier-changes-above", "tier_limit", type=click.IntRange(0), default=None,
              metavar="N", help="Exit 1 when more than N tickets change their policy tier.")
@click.option("--gx", type=click.Choice(["full", "sample", "off"]), default="sample", show_default=True,
              help="Great Expectations validation of the data, as for run.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def diff(base: str, head: str, data: Path, out: Path, period: str | None, revenue_limit: str | None,
         tier_limit: int | None, gx: str, quiet: bool) -> None:
    """Show what a policy change does to tiers, findings and money (the data is loaded once).

    Exit codes: 0 no gate exceeded, 1 a gate exceeded, 2 invalid or incompatible policy,
    3 unusable data, 4 bad command line (also: unknown git revision or path).
    """
    from audit.diff import diff_policies

    result = diff_policies(base, head, data, out, period=period, gx=gx,
                           fail_if_revenue_delta_above=revenue_limit,
                           fail_if_tier_changes_above=tier_limit, progress=_Progress(quiet))
    doc = result.doc
    total, cur = doc["money"]["total"], doc["currency"]
    exp = total["expected_eur"]
    click.echo(f"expected revenue: {exp['base']} -> {exp['head']} {cur} (change {exp['change']} {cur})")
    click.echo(f"under-billed change {total['under_billed_eur']['change']} {cur}, over-billed change "
               f"{total['over_billed_eur']['change']} {cur}")
    f = doc["findings"]
    click.echo(f"tickets changing tier: {doc['tiers']['changed']}; findings: {f['appeared']} new, "
               f"{f['disappeared']} gone, {f['amount_changed']} changed amount")
    for g in doc["gates"]:
        click.echo(f"gate {g['gate']}: {g['value']} (limit {g['limit']}): "
                   f"{'EXCEEDED' if g['exceeded'] else 'ok'}")
    click.echo(f"outputs: {(out / 'diff.md').resolve()} (+ diff.json, diff.html)")
    sys.exit(result.exit_code)


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


@cli.command("import")
@click.option("--from", "product", required=True,
              type=click.Choice(["zammad", "znuny", "jira", "freshdesk", "kimai", "redmine", "generic"]),
              help="The product that wrote the exports.")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="YAML of adapter options and columns (docs/adapters.md).")
@click.option("--policy", type=click.Path(exists=True, path_type=Path), default=None,
              help="Policy bundle: its time zone and value maps (mappings:). Default: ./policies when "
                   "it exists, else no value maps and the config's timezone (or Europe/Berlin).")
@click.option("--out", "out", type=_dir(must_exist=False), required=True, help="Where the canonical CSVs go.")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_(product: str, config: Path | None, policy: Path, out: Path, files: tuple[Path, ...]) -> None:
    """Map a product's exports to the canonical tables (CSV) and what was set aside."""
    from audit.adapters.commands import import_files, summary_lines
    from audit.policy.loader import load_policy

    if policy is None and Path("policies").is_dir():
        policy = Path("policies")
    bundle = load_policy(policy) if policy is not None else None
    mapped, written = import_files(product, list(files), out, config=config,
                                   timezone=bundle.settings.timezone if bundle else "Europe/Berlin",
                                   mappings=bundle.mappings if bundle else [])
    for line in summary_lines(mapped, Path.cwd()):
        click.echo(line)
    for path in written:
        click.echo(f"wrote {path}")


@cli.group()
def sources() -> None:
    """Inspect a sources.yaml (which files and adapters feed each table)."""


@sources.command("check")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--policy", type=click.Path(exists=True, path_type=Path), default=Path("policies"),
              show_default=True, help="Policy bundle: its time zone and value maps (mappings:).")
@click.option("--rows", type=click.IntRange(0), default=3, show_default=True, help="Rows previewed per table.")
def sources_check(path: Path, policy: Path, rows: int) -> None:
    """Per table: files, column mapping, values no mapping knows, the first rows."""
    from audit.adapters.commands import check_sources
    from audit.policy.loader import load_policy

    bundle = load_policy(policy)
    click.echo(check_sources(path, timezone=bundle.settings.timezone, mappings=bundle.mappings, preview=rows),
               nl=False)


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
