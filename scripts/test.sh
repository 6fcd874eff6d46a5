#!/usr/bin/env bash
# README command 2: set up (with test extras) and run the whole test suite.
# Browser tests need Debian's chromium at /usr/bin/chromium; as root this script installs it.
# Without it they are skipped, unless SUPPORT_AUDIT_REQUIRE_BROWSER=1 (as in CI), when they fail.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "test: installing Debian's chromium for the browser tests" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
bash scripts/setup.sh test
exec .venv/bin/python -m pytest "$@"
