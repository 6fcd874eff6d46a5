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
import re
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
    terminal_safe,
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


class _DataLocation(click.ParamType):
    """``--data`` of run and diff: a local path that must exist (as ``path``), or a URI
    (``s3a://…``) that only Spark reads, kept as text (``run --engine spark``)."""

    name = "path"

    def __init__(self, path: click.Path) -> None:
        self.path = path

    def convert(self, value, param, ctx):  # noqa: ANN001 - click's signature
        from audit.ingest.files import is_uri

        if isinstance(value, str) and is_uri(value):
            return value
        return self.path.convert(value, param, ctx)


def _utf8(ctx: click.Context, param: click.Parameter, value: Path | str | None) -> Path | str | None:
    """A path option, refused clearly when its name is not valid UTF-8: the Parquet, DuckDB and
    report layers cannot name such files, so it would fail later, after minutes of work."""
    if value is None:
        return None
    text = os.fspath(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        from audit.outputset import show_path

        raise click.BadParameter(f"'{show_path(text)}' is not valid UTF-8 (bytes shown as \\xNN); "
                                 "rename it or choose another path", ctx=ctx, param=param) from None
    from audit.ingest.files import is_uri

    return value if isinstance(value, str) and is_uri(value) else Path(value)


def _out_dir(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """``--out``: an empty string is refused (it used to mean the current directory)."""
    if value is not None and not value.strip():
        raise click.BadParameter("give a directory (write --out . for the current directory)",
                                 ctx=ctx, param=param)
    return _utf8(ctx, param, value)


WAIT_HELP = ("When another run is writing into the output directory, wait up to this many "
             "seconds for it before giving up (exit 4).")
MEMORY_HELP = ("Cap DuckDB's memory, e.g. 4GB (default: 80 % of the RAM); sorts, joins and "
               "aggregates beyond it spill to the system's temp directory.")


def _data_bytes(data: Path) -> int:
    """Size of the export files in ``data`` (the free-space preflight asks for as much)."""
    total = 0
    try:
        for entry in os.scandir(data):
            if entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
    except OSError:
        return 0
    return total


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="support-audit")
def cli() -> None:
    """Audit support tiers and billing against a declarative policy.

    Exit codes: 0 ok, 1 open findings at or above --fail-on, 2 invalid policy,
    3 unusable input data, 4 bad command line, 5 internal error.
    """


def _spark_conf(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    """``--spark-conf KEY=VALUE`` (repeatable) as a dict; a malformed one is a usage error."""
    from audit.errors import UsageError
    from audit.spark.session import parse_spark_conf

    try:
        return parse_spark_conf(values)
    except UsageError as e:
        raise click.BadParameter(str(e), ctx=ctx, param=param) from None


def _engine_options(command):
    """``--engine``, ``--spark-master``, ``--spark-remote``, ``--spark-conf`` (run and diff;
    docs/scale-out.md)."""
    for option in reversed((
        click.option("--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True,
                      help="Where the rules run: in-process DuckDB, or Apache Spark (pip install "
                           "'support-audit[spark]'; docs/scale-out.md)."),
        click.option("--spark-master", default=None, metavar="URL",
                      help="Spark master for --engine spark (default local[*])."),
        click.option("--spark-remote", default=None, metavar="sc://HOST:PORT",
                      help="Spark Connect server for --engine spark (default: $SPARK_REMOTE)."),
        click.option("--spark-conf", "spark_conf", multiple=True, metavar="KEY=VALUE", callback=_spark_conf,
                      help="A Spark setting for --engine spark, given to the session before Spark "
                           "starts; repeatable. E.g. spark.driver.memory=10g (local Spark keeps "
                           "the data in the driver's heap, 1 GiB by default)."),
    )):
        command = option(command)
    return command


@cli.command()
@click.option("--policy", "policy", type=click.Path(exists=True, path_type=Path), default=Path("policies"),
              show_default=True, callback=_utf8, help="Policy bundle directory (or one YAML file).")
@click.option("--data", "data", type=_DataLocation(click.Path(exists=True, path_type=Path)),
              default=Path("sample_data"), show_default=True, callback=_utf8,
              help="Directory with one export per table (CSV, Parquet or JSON), or a sources.yaml "
                   "naming foreign exports and their adapters (docs/adapters.md); with --engine "
                   "spark also a URI of Parquet exports (s3a://…; docs/scale-out.md).")
@click.option("--out", "out", type=click.Path(file_okay=False), callback=_out_dir, required=True,
              help="Output directory. The files of a run appear in it together, with run.json "
                   "written last, or not at all (docs/outputs.md).")
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
@click.option("--previous", type=_dir(), default=None, callback=_utf8,
              help="Output directory of the previous period, for the change in the report "
                   "(must be a complete output set).")
@click.option("--wait", type=click.FloatRange(0), default=0, show_default=True, metavar="SECONDS",
              help=WAIT_HELP)
@click.option("--follow-symlinks", is_flag=True,
              help="Read export files that are symbolic links to files outside --data "
                   "(refused by default).")
@click.option("--strict-data", is_flag=True,
              help="Treat data warnings (ignored columns, ambiguous local times, mixed encodings, "
                   "a month without data …) as unusable data: exit 3, nothing written.")
@click.option("--as-of", "as_of", default=None, metavar="TIMESTAMP",
              help="Judge open tickets' SLA at this instant, e.g. 2026-07-01T00:00 (local time of the "
                   "policy unless an offset is given; default: the end of the audited period).")
@click.option("--format", "formats", default="parquet,csv", show_default=True, metavar="LIST",
              help="Files to write besides the report: parquet (always: the report reads it), "
                   "csv (findings.csv, quarantine.csv), json (findings.jsonl) (docs/outputs.md).")
@click.option("--memory-limit", "memory_limit", default=None, metavar="SIZE", help=MEMORY_HELP)
@_engine_options
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def run(policy: Path, data: Path, out: Path, period: str | None, fail_on: str, gx: str,
        report: bool, lang: str | None, previous: Path | None, wait: float, follow_symlinks: bool,
        strict_data: bool, as_of: str | None, formats: str, memory_limit: str | None,
        engine: str, spark_master: str | None, spark_remote: str | None, spark_conf: dict[str, str],
        quiet: bool) -> None:
    """Run the audit and write findings, summary, quarantine and the HTML report."""
    from audit.api import check_fail_on, check_period, run_audit
    from audit.db import check_memory_limit
    from audit.outputs import check_formats, start_outputs
    from audit.outputset import OutputTransaction, open_output_set

    progress = _Progress(quiet)
    check_period(period)
    check_fail_on(fail_on)
    check_memory_limit(memory_limit)
    file_formats = check_formats(formats)
    if previous is not None:  # before any work: a bad --previous is found now, not after the audit
        open_output_set(previous, only=("summary.json",))
    report_path: Path | None = None
    # Everything is written into a staging directory inside --out and committed as one set.
    with OutputTransaction(out, command="run", wait=wait, need_bytes=_data_bytes(data)) as tx:
        result = run_audit(policy, data, None, period=period, fail_on=fail_on, gx=gx,
                           progress=progress, strict_data=strict_data,
                           follow_symlinks=follow_symlinks, as_of=as_of,
                           memory_limit=memory_limit, languages=(lang,) if lang else None,
                           engine=engine, spark_master=spark_master, spark_remote=spark_remote,
                           spark_conf=spark_conf, tables_dir=tx.path)
        progress(f"writing outputs to {out}")
        # The result tables went to Parquet as the engine read them out (tables_dir). The report
        # reads the Parquet and JSON files, which are complete when start_outputs returns;
        # DuckDB writes the CSV files meanwhile on its own thread, beside the report.
        writing = start_outputs(result, tx.path, formats=file_formats, memory_limit=memory_limit)
        # What the result still holds (the summary's columns) is not needed any more (the CSV
        # writer reads the Parquet files), so it goes before the report's own copies are loaded.
        summary, exit_code = result.summary, result.exit_code
        del result
        gc.collect()
        try:
            if report:
                from reports import render_report

                progress("rendering the report")
                # the page embeds findings.csv when it is small: it waits for the writer then
                report_path = out / render_report(tx.path, lang=lang, previous=previous,
                                                  csv_written=writing.finish).name
        except BaseException:
            writing.finish(raise_errors=False)  # the report's error is the one to show
            raise
        writing.finish()
    _print_run_summary(summary, out, report_path)
    sys.exit(exit_code)


def _print_run_summary(summary: dict, out: Path, report: Path | None) -> None:
    for warning in summary.get("warnings", []):  # even with -q: they are about the result
        click.echo(terminal_safe(f"warning: {warning}"), err=True)
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
    from audit.outputset import show_path

    click.echo(f"outputs: {show_path(out.resolve())}")
    if report is not None:
        click.echo(f"report:  {show_path(report.resolve())}")


@cli.command()
@click.option("--ticket", required=True, help="Ticket id to explain.")
@click.option("--month", default=None, metavar="YYYY-MM", help="Only this month's billing.")
@click.option("--policy", type=click.Path(exists=True, path_type=Path), default=Path("policies"),
              show_default=True, callback=_utf8)
@click.option("--data", type=click.Path(exists=True, path_type=Path), default=Path("sample_data"),
              show_default=True, callback=_utf8, help="Data directory or sources.yaml.")
@click.option("--follow-symlinks", is_flag=True,
              help="Read export files that are symbolic links to files outside --data.")
def explain(ticket: str, month: str | None, policy: Path, data: Path, follow_symlinks: bool) -> None:
    """Show how one ticket was judged: rules tried, billing arithmetic, findings."""
    from audit.explain import explain as explain_ticket

    # Subjects, names and agents come from the data: no control character reaches the terminal.
    click.echo(terminal_safe(explain_ticket(policy, data, ticket, month, follow_symlinks=follow_symlinks)))


@cli.command()
@click.option("--from", "out", type=_dir(), required=True, callback=_utf8,
              help="Output directory of a run (a complete output set).")
@click.option("--lang", type=click.Choice(["de", "en"]), default=None)
@click.option("--previous", type=_dir(), default=None, callback=_utf8,
              help="Output directory of the previous period (a complete output set).")
@click.option("--cdn", is_flag=True, help="Link plotly.js from a CDN instead of embedding it (smaller file, needs internet).")
@click.option("--top", "top_n", type=click.IntRange(1), default=500, show_default=True,
              help="Findings listed in the page (the rest are in findings.csv).")
@click.option("--wait", type=click.FloatRange(0), default=0, show_default=True, metavar="SECONDS",
              help=WAIT_HELP)
@click.option("--output", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the report to this file, outside the output set (default: report.html "
                   "in the policy's language, report.<lang>.html in another one, in the --from "
                   "directory, committed with the set).")
def report(out: Path, lang: str | None, previous: Path | None, cdn: bool, top_n: int,
           wait: float, output: Path | None) -> None:
    """Re-render the report from a run's saved outputs (no re-audit)."""
    from audit.outputset import REPORT_FILES, OutputTransaction, open_output_set, show_path
    from reports import render_report
    from reports.load import read_summary
    from reports.render import report_filename

    open_output_set(out, missing_ok=REPORT_FILES)  # refuse an incomplete set before any work
    if previous is not None:
        open_output_set(previous, only=("summary.json",))
    plotly = "cdn" if cdn else "inline"
    if output is not None:  # a file of its own, outside the set (written atomically)
        existed = output.exists()
        path = render_report(out, lang=lang, previous=previous, plotly=plotly, top_n=top_n,
                             write_actions=False, output=output)
        click.echo(f"report: {show_path(path)}" + (" (replaced the earlier file)" if existed else ""))
        return
    name = report_filename(lang, (read_summary(out).get("policy") or {}).get("language"))
    existed = (out / name).exists()
    with OutputTransaction(out, command="report", wait=wait) as tx:
        tx.link_from(open_output_set(out, missing_ok=REPORT_FILES))
        render_report(tx.path, lang=lang, previous=previous, plotly=plotly, top_n=top_n,
                      output=tx.path / name)
    click.echo(f"report: {show_path((out / name).resolve())}"
               + (" (replaced the earlier file)" if existed else ""))


@cli.command()
@click.option("--policy", type=click.Path(exists=True, path_type=Path), default=Path("policies"),
              show_default=True, callback=_utf8, help="Policy bundle directory (or one YAML file).")
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
@click.option("--data", "data", type=_DataLocation(_dir()), required=True, callback=_utf8,
              help="Directory with one export per table; with --engine spark also a URI of Parquet "
                   "exports (s3a://…).")
@click.option("--out", "out", type=_dir(must_exist=False), required=True,
              help="Output directory for diff.json, diff.md and diff.html.")
@click.option("--period", default=None, metavar="YYYY-MM", help=PERIOD_HELP)
@click.option("--fail-if-revenue-delta-above", "revenue_limit", default=None, metavar="EUR",
              help="Exit 1 when the expected revenue changes by more than this amount (either way).")
@click.option("--fail-if-tier-changes-above", "tier_limit", type=click.IntRange(0), default=None,
              metavar="N", help="Exit 1 when more than N tickets change their policy tier.")
@click.option("--gx", type=click.Choice(["full", "sample", "off"]), default="sample", show_default=True,
              help="Great Expectations validation of the data, as for run.")
@click.option("--memory-limit", "memory_limit", default=None, metavar="SIZE", help=MEMORY_HELP)
@_engine_options
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def diff(base: str, head: str, data: Path, out: Path, period: str | None, revenue_limit: str | None,
         tier_limit: int | None, gx: str, memory_limit: str | None,
         engine: str, spark_master: str | None, spark_remote: str | None, spark_conf: dict[str, str],
         quiet: bool) -> None:
    """Show what a policy change does to tiers, findings and money (the data is loaded once).

    Exit codes: 0 no gate exceeded, 1 a gate exceeded, 2 invalid or incompatible policy,
    3 unusable data, 4 bad command line (also: unknown git revision or path).
    """
    from audit.diff import diff_policies

    result = diff_policies(base, head, data, out, period=period, gx=gx,
                           fail_if_revenue_delta_above=revenue_limit,
                           fail_if_tier_changes_above=tier_limit, progress=_Progress(quiet),
                           memory_limit=memory_limit, engine=engine, spark_master=spark_master,
                           spark_remote=spark_remote, spark_conf=spark_conf)
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
@click.option("--out", "out", type=_dir(must_exist=False), required=True, callback=_utf8)
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


def disk_full(e: BaseException) -> str | None:
    """What to say when DuckDB could not write a file because its disk is full (an output being
    written, or what it spills beyond --memory-limit): not a bug, the machine's state."""
    if type(e).__name__ != "IOException" or "No space left on device" not in str(e):
        return None
    from audit.outputset import show_path

    written = re.search(r'Could not write file \\*"(.+?)\\*"', str(e))
    where = f" ({show_path(written.group(1))})" if written else ""
    return (f"the disk is full: DuckDB could not write a file{where}. Free some space, or write "
            "--out to another file system; what DuckDB spills beyond --memory-limit goes to the "
            "system's temp directory (TMPDIR)")


def command_line() -> None:
    """The ``support-audit`` program (and ``python -m audit``): one command per process, so the
    Great Expectations worker ends as soon as the command's one ingestion has its results
    (audit.ingest.load.KEEP_GX_PROCESS) instead of holding its memory to the end. :func:`main`
    alone, called in a process that goes on (tests, a notebook), keeps it for the next one."""
    import audit.ingest.load as load

    load.KEEP_GX_PROCESS = False
    main()


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
        click.echo(terminal_safe(f"error: {e}"), err=True)
        sys.exit(e.exit_code)
    except SystemExit:
        raise
    except OSError as e:  # the file system said no (full, read-only, gone …): not a bug
        from audit.outputset import show_path

        where = f"{show_path(e.filename)}: " if e.filename else ""
        click.echo(terminal_safe(f"error: {where}{e.strerror or e} (check the path and its file "
                                 "system, then run again)"), err=True)
        sys.exit(EXIT_USAGE)
    except Exception as e:  # a bug (but for DuckDB or Spark running out of memory …)
        from audit.spark.errors import keep_log, spark_error

        resource = spark_error(e)  # Spark out of memory, its JVM gone, its disk full
        if resource is not None:
            click.echo(terminal_safe(f"error: {resource}"), err=True)
            sys.exit(resource.exit_code)
        if type(e).__name__ == "OutOfMemoryException":  # DuckDB hit --memory-limit (or the RAM)
            click.echo(terminal_safe(f"error: out of memory: {str(e).splitlines()[0]} (give DuckDB "
                                     "more with --memory-limit, e.g. 8GB, audit one --period at a "
                                     "time, or free memory)"), err=True)
            sys.exit(EXIT_USAGE)
        full = disk_full(e)
        if full is not None:
            click.echo(terminal_safe(f"error: {full}"), err=True)
            sys.exit(EXIT_USAGE)
        fd, log = tempfile.mkstemp(prefix="support-audit-crash-", suffix=".log")
        with os.fdopen(fd, "w") as fh:
            traceback.print_exc(file=fh)
            spark_log = keep_log()  # a Spark run: its JVM's log may say more
            if spark_log is not None:
                fh.write(f"\nSpark's log: {spark_log}\n")
        click.echo(terminal_safe(
            f"internal error: {sys.exc_info()[1]!r}. This is a bug in support-audit {__version__}; "
            f"the details are in {log}. Please report it with that file."),
            err=True,
        )
        sys.exit(EXIT_INTERNAL)
    sys.exit(0)
