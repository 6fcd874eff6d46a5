#!/usr/bin/env bash
# Creates .venv (Python >= 3.11) and installs support-audit into it, with the test extras when
# called with "test" (and PySpark for --engine spark when SUPPORT_AUDIT_SPARK=1). Safe to run again: it only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "support-audit needs Python >= 3.11 (set PYTHON=python3.11)")'
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PY" -m venv .venv
fi
extras=""
[ "${1:-}" = "test" ] && extras="test"
# the optional Spark engine (docs/scale-out.md): PySpark, several hundred MB
[ "${SUPPORT_AUDIT_SPARK:-}" = "1" ] && extras="${extras:+$extras,}spark"
extras="${extras:+[$extras]}"
stamp=".venv/.installed${extras}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing support-audit${extras} into .venv (first run takes a minute)" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".${extras}"
  touch "$stamp"
fi
