"""The monthly HTML report of an audit run (Jinja2 + Plotly + Babel), and its billing action list.

Public API: :func:`render_report` reads an audit output directory (docs/outputs.md) and writes
``report.html`` (one self-contained, offline file) and ``actions.csv`` into it. See docs/report.md.
The engine does not import this package; the CLI calls it after ``run`` and for ``report``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

__all__ = ["render_report"]


def render_report(out_dir: Path, *, lang: str | None = None, previous: Path | None = None,
                  plotly: Literal["inline", "cdn"] = "inline", top_n: int = 500,
                  write_actions: bool = True, output: Path | None = None,
                  csv_written: Callable[[], None] | None = None) -> Path:
    """Write the report (``out_dir/report.html``, ``report.<lang>.html`` in a language other than
    the policy's, or ``output``) and ``actions.csv``; see :func:`reports.render.render_report`.

    ``csv_written``: waits for the run's findings.csv when it is still being written (``run``).
    Imported lazily so that ``import reports`` (e.g. by the CLI for ``--help``) stays cheap.
    """
    from reports.render import render_report as _render

    return _render(out_dir, lang=lang, previous=previous, plotly=plotly, top_n=top_n,
                   write_actions=write_actions, output=output, csv_written=csv_written)
