"""Running the data contract through Great Expectations 1.x, for real, next to the DuckDB checks.

Why both: DuckDB names the failing rows at any scale (the quarantine needs them); GX is the
vocabulary and the validation report data teams already know. Running both and comparing the
counts (``contract_checks``) shows that our SQL means what the GX name says.

GX sees the rows that parsed (before the contract removes any), as a pandas frame built from
Arrow: money stays ``Decimal`` objects (never float), whole numbers use pandas' nullable
``Int64``, and the frame's index is the record's line, so GX's ``partial_unexpected_index_list``
points at lines of the export.

``expect_column_values_to_be_in_table`` runs as ``expect_column_values_to_not_be_in_set`` whose set
is the child's values that are not loaded parent keys (see
:func:`audit.ingest.checks.orphan_value_set`): the same unexpected rows as "in the parent's keys".

The stored result is GX's own ``to_json_dict()`` made deterministic: run and load times are set to
``SOURCE_DATE_EPOCH`` (or the Unix epoch), random ids are replaced by ``<table>:<n>`` and results
are in contract order, so the same inputs give byte-identical files.

Great Expectations takes seconds to import: it is imported here only, on first use.
"""

from __future__ import annotations

import datetime as dt
import os
import warnings
from typing import Any

import pyarrow as pa

from audit.contract import Expectation

#: GX class for each contract expectation type (the one addition maps onto not_in_set).
GX_TYPES = {"expect_column_values_to_be_in_table": "expect_column_values_to_not_be_in_set"}
RESULT_FORMAT = "SUMMARY"


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _fixed_time() -> dt.datetime:
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "0")
    try:
        seconds = int(epoch)
    except ValueError:
        seconds = 0
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def gx_kwargs(e: Expectation, value_set: list[Any] | None = None) -> dict[str, Any]:
    """GX's keyword arguments for ``e`` (``value_set``, the orphan values, replaces an in_table's
    parent reference)."""
    if e.type == "expect_column_values_to_be_in_table":
        return {"column": e.kwargs["column"], "value_set": list(value_set or [])}
    return dict(e.kwargs)


def to_pandas(table: pa.Table, index_column: str = "_line"):
    """Arrow -> pandas for GX: nullable integers and booleans, Decimal objects, line as index."""
    import pandas as pd

    mapping = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    frame = table.to_pandas(types_mapper=mapping.get)
    if index_column in frame.columns:
        frame = frame.set_index(index_column)
        frame.index.name = None
    return frame


class GxValidator:
    """One ephemeral GX context per ingestion; one suite and validation definition per table."""

    def __init__(self) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self._gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        self.source = self.context.data_sources.add_pandas("support_audit_ingest")

    def validate(self, table: str, expectations: list[tuple[Expectation, dict[str, Any]]],
                 rows: pa.Table) -> tuple[dict, list[dict[str, Any]]]:
        """Run ``expectations`` (contract expectation, GX kwargs) on ``rows`` (Arrow, with the
        ``_line`` column; GX gets them as :func:`to_pandas` makes them).

        Returns GX's result document (deterministic, see the module doc) and, per expectation in
        the given order, ``{"unexpected_count", "element_count", "error"}``.
        """
        gx = self._gx
        from great_expectations.core.run_identifier import RunIdentifier

        frame = to_pandas(rows)
        asset = self.source.add_dataframe_asset(name=table)
        batch = asset.add_batch_definition_whole_dataframe(f"{table}_rows")
        suite = self.context.suites.add(gx.ExpectationSuite(name=f"{table}_contract"))
        added = []
        for e, kwargs in expectations:
            cls = getattr(gx.expectations, _camel(GX_TYPES.get(e.type, e.type)))
            added.append(suite.add_expectation(cls(**kwargs, meta={"contract": e.id})))
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{table}_contract", data=batch, suite=suite)
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = definition.run(
                batch_parameters={"dataframe": frame},
                result_format=RESULT_FORMAT,
                run_id=RunIdentifier(run_name="support-audit ingest", run_time=_fixed_time()),
            )
        doc = result.to_json_dict()
        order = {str(x.id): i for i, x in enumerate(added)}
        outcomes: list[dict[str, Any]] = [{} for _ in added]
        for r in doc["results"]:
            i = order[str(r["expectation_config"]["id"])]
            info = r.get("exception_info") or {}
            outcomes[i] = {
                "unexpected_count": r["result"].get("unexpected_count"),
                "element_count": r["result"].get("element_count"),
                "error": info.get("exception_message") if info.get("raised_exception") else None,
            }
            r["expectation_config"]["id"] = f"{table}:{i + 1}"
        doc["results"].sort(key=lambda r: int(r["expectation_config"]["id"].rsplit(":", 1)[1]))
        _make_deterministic(doc, table)
        return doc, outcomes


def _make_deterministic(doc: dict, table: str) -> None:
    when = _fixed_time()
    meta = doc.get("meta", {})
    if "run_id" in meta:
        meta["run_id"] = {"run_name": "support-audit ingest", "run_time": when.isoformat()}
    if "validation_time" in meta:
        meta["validation_time"] = when.isoformat()
    if "validation_id" in meta:
        meta["validation_id"] = f"support-audit:{table}"
    markers = meta.get("batch_markers")
    if isinstance(markers, dict) and "ge_load_time" in markers:
        markers["ge_load_time"] = when.strftime("%Y%m%dT%H%M%S.%fZ")
