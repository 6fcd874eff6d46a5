"""Adapters: foreign helpdesk, time-tracking and accounting exports -> the canonical tables.

They run at the edge, before the data contract: the engine never learns a product's column
names. Entry points: :func:`load_sources` (``support-audit run --data sources.yaml``),
:func:`import_files` (``support-audit import``), :func:`check_sources` (``sources check``).
See docs/adapters.md.
"""

from audit.adapters.products import ADAPTERS, Source
from audit.adapters.sources import is_sources_file, read_sources
from audit.adapters.stage import load_sources, map_sources

__all__ = ["ADAPTERS", "Source", "is_sources_file", "load_sources", "map_sources", "read_sources"]
