#!/usr/bin/env bash
# README command 1: set up, then audit the bundled sample data with the default policy.
# Writes out/ (findings, summary, quarantine, report.html) and prints where they are.
# Exit status: the audit's (1 = open findings at or above --fail-on, which the sample has on purpose).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
set +e
.venv/bin/support-audit run --policy policies --data sample_data --out out "$@"
code=$?
set -e
if [ "$code" -eq 1 ]; then
  echo "(exit 1: the sample data has planted findings; see out/report.html)" >&2
  exit 0
fi
exit "$code"
