"""What a policy change does to tickets and money: two policies over the same loaded data.

    >>> from audit.diff import diff_policies
    >>> d = diff_policies("git:origin/main:policies", "policies", "sample_data", out="diff")
    >>> d.doc["money"]["total"]["expected_eur"]      # {"base": "…", "head": "…", "change": "…"}
    >>> d.exit_code                                   # 1 when a gate was exceeded

The data is read, checked and quarantined once (:func:`audit.api.open_audit_db`); each policy
is then evaluated on the same connection with the engine of ``run`` (evaluate, texts, export),
its relations dropped before the other runs. The two sets of result tables are compared in
:mod:`audit.diff.compare`; :mod:`audit.diff.write` writes diff.json, diff.md and diff.html.
docs/diff.md describes every field.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from audit.api import check_period
from audit.diff.source import load_source, policy_source
from audit.errors import EXIT_FINDINGS, EXIT_OK, Diagnostic, Location, PolicyError, UsageError
from audit.timing import timed


@dataclass
class PolicyDiff:
    """The result of :func:`diff_policies`: the diff document and the exit code of its gates."""

    doc: dict[str, Any]
    exit_code: int
    out_dir: Path | None = None
    #: Seconds per stage (``policy``, ``ingest``, ``base``, ``head``, ``compare``, ``outputs``);
    #: not deterministic, never written to the files.
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.doc["changed"])


def _compatible(base, head, base_spec: str, head_spec: str) -> None:
    """Both bundles must read the data the same way, since it is loaded once."""
    problems = []
    for what, b, h in (
        ("settings.timezone", base.settings.timezone, head.settings.timezone),
        ("settings.currency", base.settings.currency, head.settings.currency),
        ("tier ids", ", ".join(sorted(base.tier_ids)), ", ".join(sorted(head.tier_ids))),
    ):
        if b != h:
            problems.append(Diagnostic(
                Location(head_spec), f"{what} differs from the base policy ({base_spec}): {b!r} "
                f"vs {h!r}",
                "diff loads the data once, so both policies must read it alike; change one "
                "of them, or compare two separate runs instead"))
    if problems:
        raise PolicyError(diagnostics=problems)


def gate_limits(revenue: Decimal | str | None, tiers: int | None) -> tuple[Decimal | None, int | None]:
    """Validated gate limits (a :class:`UsageError` for a negative or malformed one)."""
    rev = None
    if revenue is not None:
        try:
            rev = Decimal(str(revenue))
        except InvalidOperation:
            rev = None
        if rev is None or not rev.is_finite() or rev < 0:
            raise UsageError(f"--fail-if-revenue-delta-above {revenue!r}: give an amount ≥ 0, "
                             "e.g. 100 or 99.50")
    if tiers is not None and (isinstance(tiers, bool) or not isinstance(tiers, int) or tiers < 0):
        raise UsageError(f"--fail-if-tier-changes-above {tiers!r}: give a whole number ≥ 0")
    return rev, tiers


def _gates(doc: dict[str, Any], revenue: Decimal | None, tiers: int | None) -> list[dict[str, Any]]:
    gates = []
    if revenue is not None:
        change = Decimal(doc["money"]["total"]["expected_eur"]["change"])
        gates.append({"gate": "revenue_delta_above", "limit": f"{revenue:.2f}",
                      "value": f"{abs(change):.2f}", "exceeded": abs(change) > revenue})
    if tiers is not None:
        n = doc["tiers"]["changed"]
        gates.append({"gate": "tier_changes_above", "limit": tiers, "value": n,
                      "exceeded": n > tiers})
    return gates


def _evaluate(con, bundle, period: str | None):
    """One policy over the loaded tables: the result tables of ``run``, relations dropped."""
    from audit.engine import EngineResult, drop_relations, evaluate
    from audit.engine.render import export, render_texts

    try:
        evaluate(con, bundle)
        render_texts(con, bundle, period)
        return EngineResult(**export(con, period, drop=True))
    finally:
        drop_relations(con)


def _policy_info(source, bundle) -> dict[str, Any]:
    md = bundle.metadata
    return {**source.describe(), "name": md.name, "version": md.version, "digest": bundle.digest,
            "files": dict(sorted(bundle.file_hashes.items()))}


def diff_policies(
    base: str | Path,
    head: str | Path,
    data: str | Path,
    out: str | Path | None = None,
    *,
    period: str | None = None,
    fail_if_revenue_delta_above: Decimal | str | None = None,
    fail_if_tier_changes_above: int | None = None,
    gx: str = "sample",
    repo: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    memory_limit: str | None = None,
    engine: str = "duckdb",
    spark_master: str | None = None,
    spark_remote: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
) -> PolicyDiff:
    """Compare policy ``base`` with ``head`` over ``data``; write the files into ``out`` if given.

    ``base``/``head``: a bundle directory, a YAML file, or ``git:REV:PATH`` (read from the git
    repository ``repo``, default the current directory). ``exit_code`` is 1 when a gate is
    exceeded (|Δ expected revenue| > ``fail_if_revenue_delta_above``; tickets whose tier changes
    > ``fail_if_tier_changes_above``), else 0. Raises :class:`PolicyError` (invalid or
    incompatible policies, exit 2), :class:`~audit.errors.DataError` (exit 3) or
    :class:`UsageError` (exit 4: bad period, gate, path or git revision). ``memory_limit``:
    DuckDB's memory cap (``4GB`` …; :func:`audit.db.connect`). ``engine``, ``spark_master``,
    ``spark_remote``, ``spark_conf``: as for :func:`audit.api.run_audit`.
    """
    from audit import __version__
    from audit.api import open_audit_db
    from audit.db import check_memory_limit
    from audit.diff.compare import compare

    check_period(period)
    check_memory_limit(memory_limit)
    revenue_limit, tier_limit = gate_limits(fail_if_revenue_delta_above, fail_if_tier_changes_above)
    say = progress or (lambda _msg: None)
    timings: dict[str, float] = {}

    with contextlib.ExitStack() as stack:
        with timed(timings, "policy"):
            say(f"loading policies {base} and {head}")
            bsrc = stack.enter_context(policy_source(base, repo))
            hsrc = stack.enter_context(policy_source(head, repo))
            bundles = {}
            errors: list[Diagnostic] = []
            for side, src in (("base", bsrc), ("head", hsrc)):
                try:
                    bundles[side] = load_source(src)
                except PolicyError as e:  # report both bundles' problems in one go
                    errors.extend(e.diagnostics or [Diagnostic(Location(src.spec), str(e))])
            if errors:
                raise PolicyError(diagnostics=errors)
            _compatible(bundles["base"], bundles["head"], bsrc.spec, hsrc.spec)
            info = {"base": _policy_info(bsrc, bundles["base"]),
                    "head": _policy_info(hsrc, bundles["head"])}

    with timed(timings, "ingest"):
        say(f"loading data from {data}")
        con, ingest = open_audit_db(bundles["base"], data, gx=gx, progress=progress,
                                    memory_limit=memory_limit, engine=engine,
                                    spark_master=spark_master, spark_remote=spark_remote,
                                    spark_conf=spark_conf)
    from audit.engine.sla import without_unjudgeable_sla

    for side in ("base", "head"):  # as in a run: no SLA judged without the clocks' columns
        bundles[side] = without_unjudgeable_sla(bundles[side], ingest.absent_columns)[0]
    try:
        results = {}
        for side in ("base", "head"):
            with timed(timings, side):
                say(f"running the {side} policy ({info[side]['source']})")
                results[side] = _evaluate(con, bundles[side], period)
        import polars as pl

        contracts = pl.from_arrow(con.sql(
            "SELECT customer_id, contract FROM customers ORDER BY customer_id").to_arrow_table())
    finally:
        con.close()

    with timed(timings, "compare"):
        say("comparing")
        parts = compare(results["base"], results["head"], contracts)
    del results
    total = parts["money"]["total"]
    changed = bool(parts["tiers"]["changed"] or parts["money"]["ticket_months_changed"]
                   or any(parts["findings"][k] for k in ("appeared", "disappeared", "amount_changed",
                                                           "status_changed", "severity_changed")))
    st = bundles["head"].settings
    doc: dict[str, Any] = {
        "tool": {"name": "support-audit", "version": __version__},
        "period": period,
        "currency": st.currency,
        "timezone": st.timezone,
        "base": info["base"],
        "head": info["head"],
        "same_policy": info["base"]["digest"] == info["head"]["digest"],
        "inputs": dict(sorted(ingest.input_hashes.items())),
        "rows": {name: {"in": c.rows_in, "loaded": c.loaded, "quarantined": c.quarantined}
                 for name, c in ingest.tables.items()},
        "changed": changed,
        "headline": {
            "expected_revenue_change_eur": total["expected_eur"]["change"],
            "under_billed_change_eur": total["under_billed_eur"]["change"],
            "over_billed_change_eur": total["over_billed_eur"]["change"],
            "tickets_changing_tier": parts["tiers"]["changed"],
            "findings_appeared": parts["findings"]["appeared"],
            "findings_disappeared": parts["findings"]["disappeared"],
            "findings_amount_changed": parts["findings"]["amount_changed"],
        },
        **parts,
    }
    doc["gates"] = _gates(doc, revenue_limit, tier_limit)
    exit_code = EXIT_FINDINGS if any(g["exceeded"] for g in doc["gates"]) else EXIT_OK
    result = PolicyDiff(doc=doc, exit_code=exit_code, out_dir=Path(out) if out else None,
                        timings=timings)
    if out is not None:
        from audit.diff.write import write_diff

        with timed(timings, "outputs"):
            say(f"writing diff.json, diff.md and diff.html to {out}")
            write_diff(doc, Path(out))
    return result


__all__ = ["PolicyDiff", "diff_policies", "gate_limits"]
