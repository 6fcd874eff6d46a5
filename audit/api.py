"""The Python API: one call runs an audit, the same call the CLI makes.

    >>> from audit.api import run_audit
    >>> result = run_audit("policies", "sample_data", period="2026-05")
    >>> result.findings.filter(pl.col("kind") == "units_mismatch")

Order of the stages matters for the user: the policy is loaded and validated first, so an invalid
policy (exit 2) is reported before any data is read and nothing touches DuckDB; then the data is
ingested (bad rows quarantined), the connection is locked down, and only then the rules run.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, Literal

import polars as pl

from audit.errors import UsageError
from audit.policy.model import SEVERITY_ORDER, Bundle
from audit.timing import timed

FailOn = Literal["error", "warning", "never"]
_PERIOD = re.compile(r"^(19\d\d|2\d\d\d)-(0[1-9]|1[0-2])$")


#: The result tables of an :class:`AuditResult`, in the order of its constructor.
RESULT_TABLES = ("findings", "classifications", "reconciliation")


class AuditResult:
    """Everything one audit run produced (tables already restricted to ``period``).

    ``findings``, ``classifications`` and ``reconciliation`` are polars frames. A run that
    streamed them straight to Parquet (``out`` given) holds only their paths and reads a table
    back the first time it is asked for (:meth:`table_file` says where it is), so a large run
    never holds its texts twice."""

    def __init__(self, findings: pl.DataFrame | Path, classifications: pl.DataFrame | Path,
                 reconciliation: pl.DataFrame | Path, summary: dict[str, Any], ingest: Any,
                 bundle: Bundle, exit_code: int, out_dir: Path | None = None,
                 timings: dict[str, float] | None = None):
        self._tables: dict[str, pl.DataFrame | Path] = dict(
            zip(RESULT_TABLES, (findings, classifications, reconciliation), strict=True))
        self.summary = summary
        self.ingest = ingest  # audit.ingest.IngestResult
        self.bundle = bundle
        self.exit_code = exit_code
        self.out_dir = out_dir
        #: Seconds per stage: ``policy`` (load + validate), ``ingest`` (read, parse, contract
        #: checks, quarantine), ``gx`` (Great Expectations, when ingestion reports it), ``rules``
        #: (the judgement: tiers, reconciliation numbers, findings, waivers), ``outputs``
        #: (explanations and messages, the result tables, and the files when ``out`` is given).
        self.timings = timings if timings is not None else {}

    def _table(self, name: str) -> pl.DataFrame:
        table = self._tables[name]
        if isinstance(table, Path):
            table = self._tables[name] = pl.read_parquet(table)
        return table

    @property
    def findings(self) -> pl.DataFrame:
        return self._table("findings")

    @property
    def classifications(self) -> pl.DataFrame:
        return self._table("classifications")

    @property
    def reconciliation(self) -> pl.DataFrame:
        return self._table("reconciliation")

    def table_file(self, name: str) -> Path | None:
        """The Parquet file the table ``name`` was written to and not read back, else None."""
        table = self._tables[name]
        return table if isinstance(table, Path) else None

    def moved_to(self, out_dir: Path) -> None:
        """The output files now live in ``out_dir`` (the output set was committed)."""
        self.out_dir = Path(out_dir)
        for name, table in self._tables.items():
            if isinstance(table, Path):
                self._tables[name] = self.out_dir / table.name


def check_period(period: str | None) -> str | None:
    """``period`` when it is ``YYYY-MM`` (or None); else a :class:`UsageError` saying so."""
    if period is not None and not _PERIOD.match(period):
        raise UsageError(f"--period {period!r} is not a month from 1900-01 to 2999-12 "
                         "(write it as YYYY-MM, e.g. 2026-05)")
    return period


def check_fail_on(fail_on: str) -> str:
    """``fail_on`` when it is a severity or ``never``; else a :class:`UsageError`."""
    allowed = [*sorted(SEVERITY_ORDER, key=SEVERITY_ORDER.get, reverse=True), "never"]
    if fail_on not in allowed:
        raise UsageError(f"--fail-on {fail_on!r} is not one of {', '.join(allowed)}")
    return fail_on


def check_as_of(as_of: str | dt.datetime | None, timezone: str) -> dt.datetime | None:
    """``as_of`` as an aware instant (a naive value is local to ``timezone``), or a UsageError."""
    if as_of is None or isinstance(as_of, dt.datetime) and as_of.tzinfo is not None:
        return as_of
    try:
        value = as_of if isinstance(as_of, dt.datetime) else dt.datetime.fromisoformat(as_of.strip())
    except ValueError:
        raise UsageError(f"--as-of {as_of!r} is not a timestamp (write it like 2026-07-01T00:00 "
                         "or 2026-07-01T00:00+02:00)") from None
    if value.tzinfo is None:
        from zoneinfo import ZoneInfo

        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value


def text_languages(bundle: Bundle, languages: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The languages a run writes its texts in: English (the stable ``message`` and
    ``explanation``) first, then ``languages`` (default: the policy's language, the report's
    default), each once. Texts cost time per language, so a run builds only those it writes."""
    from audit.texts import LANGUAGES

    wanted = languages if languages is not None else (bundle.settings.language,)
    unknown = [code for code in wanted if code not in LANGUAGES]
    if unknown:
        raise UsageError(f"text language {unknown[0]!r} is not one of {', '.join(LANGUAGES)}")
    return tuple(dict.fromkeys(("en", *wanted)))


ENGINES = ("duckdb", "spark")


def check_engine(engine: str) -> str:
    """``engine`` when it is one of :data:`ENGINES`; else a :class:`UsageError`."""
    if engine not in ENGINES:
        raise UsageError(f"--engine {engine!r} is not one of {', '.join(ENGINES)}")
    return engine


def open_audit_db(bundle: Bundle, data: str | Path, *, gx: str = "sample",
                  progress: Callable[[str], None] | None = None, follow_symlinks: bool = False,
                  memory_limit: str | None = None, engine: str = "duckdb",
                  spark_master: str | None = None, spark_remote: str | None = None,
                  spark_conf: Mapping[str, str] | None = None):
    """Connect, ingest ``data`` for ``bundle`` and lock the connection down.

    Returns ``(con, ingest_result)``; the caller closes ``con``. Shared by :func:`run_audit` and
    :func:`audit.explain.explain` so both read the data the same way. ``memory_limit``: DuckDB's
    memory cap (``4GB`` …; :func:`audit.db.connect`), spilling beyond it. ``engine="spark"``: the
    data is ingested the same way, then handed to Spark; ``con`` is then a
    :class:`~audit.spark.connection.SparkConnection` (docs/scale-out.md); ``spark_conf``: further
    Spark settings (``--spark-conf``).
    """
    check_engine(engine)
    if engine == "spark":
        from audit.spark.session import check_spark_conf, require_pyspark

        check_spark_conf(spark_conf)  # before any data is read: a setting it cannot take
        require_pyspark()  # and say how to install it

    from audit.adapters import is_sources_file, load_sources
    from audit.db import connect, lock_down
    from audit.ingest import load_data
    from audit.ingest.files import is_uri

    dates = (bundle.settings.earliest_date, bundle.settings.latest_date)
    if is_uri(data):  # Parquet exports where Spark reads them (s3a://, file://): Spark's to read
        if engine != "spark":
            raise UsageError(f"--data {data}: a URI is read by Spark only; add --engine spark "
                             "(docs/scale-out.md)")
        return _open_on_spark(bundle, data, gx=gx, progress=progress, dates=dates,
                              master=spark_master, remote=spark_remote, conf=spark_conf)
    con = connect(memory_limit=memory_limit)
    try:
        if is_sources_file(data):  # a sources.yaml: foreign exports through the adapters
            ingest = load_sources(con, Path(data), timezone=bundle.settings.timezone,
                                  tier_ids=bundle.tier_ids, mappings=bundle.mappings,
                                  gx=gx, progress=progress, dates=dates,
                                  follow_symlinks=follow_symlinks)
        else:
            ingest = load_data(
                con,
                Path(data),
                timezone=bundle.settings.timezone,
                tier_ids=bundle.tier_ids,
                gx=gx,
                progress=progress,
                dates=dates,
                follow_symlinks=follow_symlinks,
            )
        lock_down(con)
    except BaseException:
        con.close()
        raise
    if engine == "spark":
        from audit.spark.run import to_spark

        say = progress or (lambda _msg: None)
        say("handing the loaded tables to Spark")
        try:
            return to_spark(con, master=spark_master, remote=spark_remote, conf=spark_conf,
                            progress=progress), ingest
        finally:
            con.close()
    return con, ingest


def _open_on_spark(bundle: Bundle, data: str | Path, *, gx: str,
                   progress: Callable[[str], None] | None, dates: tuple[dt.date, dt.date],
                   master: str | None,
                   remote: str | None, conf: Mapping[str, str] | None):
    """:func:`open_audit_db` for Parquet exports on Spark: Spark reads and checks them
    (:mod:`audit.spark.ingest`)."""
    from audit.spark.ingest import load_on_spark
    from audit.spark.run import spark_connection

    sc = spark_connection(master=master, remote=remote, conf=conf, progress=progress)
    try:
        (progress or (lambda _msg: None))("reading the Parquet exports with Spark")
        ingest = load_on_spark(sc, data, timezone=bundle.settings.timezone,
                               tier_ids=bundle.tier_ids, gx=gx, progress=progress, dates=dates)
    except BaseException:
        sc.close()
        raise
    return sc, ingest


def run_audit(
    policy: str | Path,
    data: str | Path,
    out: str | Path | None = None,
    *,
    period: str | None = None,
    fail_on: FailOn = "error",
    gx: str = "sample",
    progress: Callable[[str], None] | None = None,
    strict_data: bool = False,
    follow_symlinks: bool = False,
    as_of: str | dt.datetime | None = None,
    memory_limit: str | None = None,
    languages: tuple[str, ...] | None = None,
    formats: tuple[str, ...] | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
    spark_remote: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
    tables_dir: str | Path | None = None,
) -> AuditResult:
    """Audit ``data`` against the ``policy`` bundle; write the outputs into ``out`` when given.

    ``exit_code`` is 0 when no *open* finding has severity ``fail_on`` or higher, else 1
    (``never``: always 0). ``as_of``: the instant open tickets' SLA clocks are read at
    (default: the end of ``period``, else of the last local month a ticket was opened in). Raises :class:`~audit.errors.PolicyError` (invalid policy; no data
    read), :class:`~audit.errors.DataError` (unusable input) or :class:`UsageError`.
    ``follow_symlinks``: read export files that are symbolic links leaving ``data`` (refused by
    default). ``strict_data``: ingest warnings (summary ``warnings``) are a DataError too, before any output
    is written. ``memory_limit``: DuckDB's memory cap (``4GB`` …), spilling to the system's temp
    directory beyond it. ``languages``: the text languages of messages and explanations
    (:func:`text_languages`; default English and the policy's language). ``formats``: the file
    formats written into ``out`` (:func:`audit.outputs.check_formats`; default ``parquet,csv``).
    ``engine``: ``duckdb`` (in process) or ``spark`` (``spark_master``, default
    ``local[*]``, or Spark Connect at ``spark_remote``/``$SPARK_REMOTE``, with the further Spark
    settings ``spark_conf``, e.g. ``{"spark.driver.memory": "10g"}``; docs/scale-out.md).
    ``tables_dir``: stream findings, classifications and reconciliation to Parquet files there
    (the files of ``out``; :meth:`AuditResult.table_file`) instead of holding them in memory;
    the result reads a table back when it is asked for. ``out`` does this inside its output set.
    """
    from audit.db import check_memory_limit
    from audit.engine import (
        EngineResult,
        drop_relations,
        evaluate,
        release_inputs,
        release_text_inputs,
    )
    from audit.engine.render import export, render_texts
    from audit.engine.sla import without_unjudgeable_sla
    from audit.engine.summary import build_summary, exit_code_for, summary_facts
    from audit.policy.loader import load_policy

    check_period(period)
    check_fail_on(fail_on)
    check_memory_limit(memory_limit)
    check_engine(engine)
    engine_opts = dict(engine=engine, spark_master=spark_master, spark_remote=spark_remote,
                       spark_conf=spark_conf)
    if out is not None:
        # The files appear in ``out`` as one set with its run.json, or not at all
        # (audit.outputset); the directory is checked and locked before any work.
        from audit.outputs import check_formats, write_outputs
        from audit.outputset import OutputTransaction

        formats = check_formats(formats)
        with OutputTransaction(out, command="run_audit") as tx:
            result = run_audit(policy, data, None, period=period, fail_on=fail_on, gx=gx,
                               progress=progress, strict_data=strict_data,
                               follow_symlinks=follow_symlinks, as_of=as_of,
                               memory_limit=memory_limit, languages=languages,
                               tables_dir=tx.path, **engine_opts)
            with timed(result.timings, "outputs"):
                (progress or (lambda _msg: None))(f"writing outputs to {out}")
                write_outputs(result, tx.path, formats=formats, memory_limit=memory_limit)
        result.moved_to(Path(out))
        return result
    say = progress or (lambda _msg: None)
    timings: dict[str, float] = {}

    with timed(timings, "policy"):
        say(f"loading policy {policy}")
        bundle = load_policy(policy)
    as_of = check_as_of(as_of, bundle.settings.timezone)

    def compact() -> None:
        """Between stages: compress the stored tables once they are large (DuckDB only)."""
        if engine == "duckdb":
            from audit.db import compact as compress

            sizes = compress(con)
            if sizes is not None:
                say("compressed the stored tables: {:,} MiB → {:,} MiB".format(
                    *(n // 2**20 for n in sizes)))

    with timed(timings, "ingest"):
        say(f"loading data from {data}")
        con, ingest = open_audit_db(bundle, data, gx=gx, progress=progress,
                                    follow_symlinks=follow_symlinks, memory_limit=memory_limit,
                                    **engine_opts)
    # From here to the end of the export, one guard: whatever fails, the connection is closed.
    try:
        out_of_period = None
        with timed(timings, "ingest"):
            if period is not None and engine == "duckdb":
                # every row was read and checked; the rules see only the rows the month needs
                # (on Spark the whole year is judged and the period selected at the export)
                from audit.engine.period import restrict_to_period

                say(f"keeping the rows {period} depends on")
                out_of_period = restrict_to_period(con, bundle, period)
            compact()
        bundle, notes = without_unjudgeable_sla(bundle, ingest.absent_columns)
        languages = text_languages(bundle, languages)
        # Ingestion runs the Great Expectations contract inside load_data; report it separately
        # when ingestion measured it.
        gx_seconds = float(getattr(ingest, "timings", {}).get("gx", 0.0) or 0.0)
        timings["gx"] = gx_seconds
        timings["ingest"] = max(timings["ingest"] - gx_seconds, 0.0)

        with timed(timings, "rules"):
            say("running the policy rules")
            if as_of is None and period is not None and bundle.sla is not None:
                from audit.engine.sla import default_as_of

                as_of = default_as_of(con, bundle.settings.timezone, period)
            evaluate(con, bundle, as_of=as_of)
            compact()
        # The connection is ours and closed below: loaded tables go as soon as nothing reads
        # them any more, which keeps the peak memory of a large audit down.
        release = partial(release_inputs, con)
        release(("services",))
        # Rendering (explanations, messages, the result tables) is presentation: it counts
        # towards the outputs stage, so "rules" measures the judgement alone.
        with timed(timings, "outputs"):
            say("writing explanations and messages")
            render_texts(con, bundle, period, release=release, languages=languages)
            compact()
            # once the findings' messages are written, what only they read goes (the tickets
            # and invoice lines went in render_texts, their texts kept in ticket_/line_texts)
            texts_read = partial(release_text_inputs, con)

            # summary.json and the exit code from aggregates the engine computes where the
            # rows are, before the export frees them: no result table is held for them
            facts = summary_facts(con, period)
            sink = None
            if tables_dir is not None:
                from audit.outputs import table_sink

                sink = table_sink(con, tables_dir, progress)
            # with a sink the tables go to Parquet as they are read out (where Spark's executors
            # write the output directory, Spark writes them), and nothing of them stays in memory
            tables = EngineResult(**export(con, period, drop=True, languages=languages,
                                           sink=sink, texts_read=texts_read))
            drop_relations(con)
    finally:
        con.close()

    exit_code = exit_code_for(facts, fail_on)
    summary = build_summary(
        bundle=bundle,
        ingest=ingest,
        facts=facts,
        sla=tables.sla,
        period=period,
        fail_on=fail_on,
        exit_code=exit_code,
        out_of_period=out_of_period,
        notes=tuple(notes),
    )
    # Great Expectations ran on beside the rules; the summary (it reads the warnings) waited for it
    timings["gx"] = float(getattr(ingest, "timings", {}).get("gx", 0.0) or 0.0)
    if strict_data and summary["warnings"]:
        from audit.errors import DataError

        raise DataError("--strict-data: the data has warnings, so nothing was written:\n"
                        + "\n".join(f"  warning: {w}" for w in summary["warnings"]))
    files = sink.files if sink is not None else {}
    result = AuditResult(
        findings=files.get("findings", tables.findings),
        classifications=files.get("classifications", tables.classifications),
        reconciliation=files.get("reconciliation", tables.reconciliation),
        summary=summary,
        ingest=ingest,
        bundle=bundle,
        exit_code=exit_code,
        out_dir=Path(out) if out is not None else None,
        timings=timings,
    )
    return result


def explain(policy: str | Path, data: str | Path, ticket_id: str, month: str | None = None) -> str:
    """How one ticket was judged (see :func:`audit.explain.explain`)."""
    from audit.explain import explain as _explain

    return _explain(policy, data, ticket_id, month)
