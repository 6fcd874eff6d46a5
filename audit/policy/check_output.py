"""The three formats of ``support-audit check``: text for people, JSON for scripts, SARIF for
code-review tools (GitHub code scanning annotates the policy lines from it).

SARIF 2.1.0 (OASIS): one run, the tool's every code as ``tool.driver.rules`` (id, name,
descriptions, help link, default level), one result per problem with its file relative to the
directory ``check`` ran in (``uriBaseId`` ``%SRCROOT%``: the repository root in CI) and its
line and column. ``tests/test_check.py`` validates it against the official schema.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath
from typing import Any

from audit import __version__
from audit.policy.check import CODES, DOCS_PAGE, CheckReport, Problem

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def render(report: CheckReport, fmt: str = "text", strict: bool = False) -> str:
    if fmt == "json":
        return json.dumps([_json(p) for p in report.problems], indent=2, ensure_ascii=False) + "\n"
    if fmt == "sarif":
        return json.dumps(sarif(report), indent=2, ensure_ascii=False) + "\n"
    return text(report, strict)


def text(report: CheckReport, strict: bool = False) -> str:
    lines = [str(p) for p in report.problems]
    counts = ", ".join(
        f"{report.count(s)} {s}{'s' if s != 'info' and report.count(s) != 1 else ''}"
        for s in ("error", "warning", "info")
    )
    verdict = "ok" if report.exit_code(strict) == 0 else "failed"
    b = report.bundle
    if b is not None:
        lines.append(
            f"{verdict}: {b.metadata.name} {b.metadata.version}: {len(b.tiers)} tiers, "
            f"{len(b.classification.rules)} rules, {len(b.billing.prices)} price periods, "
            f"{len(b.signals)} signals, {len(b.waivers)} waivers (sha256 {b.digest[:12]}); "
            f"{counts} (as of {report.as_of}{', strict' if strict else ''})"
        )
    else:
        lines.append(f"{verdict}: {report.policy}: {counts}; the bundle did not load")
    return "\n".join(lines) + "\n"


def _json(p: Problem) -> dict[str, Any]:
    return {
        "code": p.code,
        "name": p.name,
        "severity": p.severity,
        "file": p.location.file,
        "line": p.location.line or None,
        "column": p.location.col or None,
        "message": p.message,
        "hint": p.hint,
    }


def docs_url() -> str | None:
    """The absolute URI of docs/check.md (SARIF's helpUri must be absolute): from
    $SUPPORT_AUDIT_DOCS_URL, else the repository of a GitHub Actions run (the policy CI of this
    repository), else the file in this checkout; None when none is known."""
    if base := os.environ.get("SUPPORT_AUDIT_DOCS_URL"):
        return base
    server, repo = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    if server and repo:
        return f"{server}/{repo}/blob/{os.environ.get('GITHUB_SHA') or 'HEAD'}/{DOCS_PAGE}"
    local = Path(__file__).resolve().parents[2] / DOCS_PAGE
    return local.as_uri() if local.is_file() else None


def _uri(file: str) -> tuple[str, bool]:
    """(URI, relative?) of a policy file: relative to the working directory when inside it."""
    path = Path(file)
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            return path.as_uri(), False
    return PurePosixPath(*path.parts).as_posix(), True


def sarif(report: CheckReport) -> dict[str, Any]:
    base = docs_url()
    ids = list(CODES)
    rules = []
    for c in CODES.values():
        rule: dict[str, Any] = {
            "id": c.id,
            "name": c.name,
            "shortDescription": {"text": c.summary},
            "fullDescription": {"text": f"{c.id} {c.name} ({c.severity}): {c.summary}"},
            "help": {"text": f"{c.summary} See {DOCS_PAGE}#{c.id.lower()}."},
            "defaultConfiguration": {"level": _LEVEL[c.severity]},
            "properties": {"tags": ["policy"], "severity": c.severity},
        }
        if base:
            rule["helpUri"] = f"{base}#{c.id.lower()}"
        rules.append(rule)
    results = []
    for p in report.problems:
        uri, relative = _uri(p.location.file)
        artifact: dict[str, Any] = {"uri": uri}
        if relative:
            artifact["uriBaseId"] = "%SRCROOT%"
        physical: dict[str, Any] = {"artifactLocation": artifact}
        if p.location.line:
            region: dict[str, Any] = {"startLine": p.location.line}
            if p.location.col:
                region["startColumn"] = p.location.col
            physical["region"] = region
        message = f"{p.message} ({p.hint})" if p.hint else p.message
        results.append(
            {
                "ruleId": p.code,
                "ruleIndex": ids.index(p.code),
                "level": _LEVEL[p.severity],
                "message": {"text": message},
                "locations": [{"physicalLocation": physical}],
            }
        )
    driver: dict[str, Any] = {"name": "support-audit", "version": __version__, "rules": rules}
    if base:
        driver["informationUri"] = base
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
