"""What ``support-audit test`` prints, and its JUnit XML."""

from __future__ import annotations

import datetime as dt
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from audit.policytests.runner import CaseResult, TestRun, junit_time

_LABEL = {"passed": "PASS", "failed": "FAIL", "error": "ERROR"}
#: Characters XML 1.0 cannot carry (a data string may hold them).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _indent(text: str, pad: str) -> str:
    return "\n".join(pad + line if line else line for line in text.rstrip("\n").split("\n"))


def case_text(result: CaseResult) -> str:
    """A failed or broken case: its problems (expected vs actual) and the arithmetic."""
    c = result.case
    lines = [f"{_LABEL[result.outcome]} {c.title}" + (f" — {c.name}" if c.name else "") + f"  [{c.at}]"]
    lines += [f"  {p}" for p in result.problems]
    if result.explanation:
        lines += ["  the arithmetic (support-audit explain):", _indent(result.explanation, "    ")]
    return "\n".join(lines)


def text_report(run: TestRun, *, verbose: bool = False) -> str:
    """The whole console output; its last line is ``policy-tests: N passed, N failed``."""
    out: list[str] = []
    files = len({r.case.rel for r in run.results})
    selected = f", -k {run.pattern!r}" if run.pattern else ""
    out.append(f"policy tests in {run.suite.directory}: {len(run.results)} cases from {files} files"
               f"{selected}, {run.batches} batch{'es' if run.batches != 1 else ''}, {run.seconds:.2f} s")
    for r in run.results:
        if r.outcome != "passed":
            out += ["", case_text(r)]
        elif verbose:
            out.append(f"PASS {r.case.title}" + (f" — {r.case.name}" if r.case.name else ""))
    cov = run.coverage
    kinds = ", ".join(f"{k} {a}/{n}" for k, (a, n) in cov.by_kind().items())
    out += ["", f"coverage: {cov.percent:.1f} % ({cov.covered}/{len(cov.items)} items: {kinds})"]
    if cov.uncovered:
        out.append("not covered by any case:")
        width = max(len(i.where) for i in cov.uncovered)
        out += [f"  {i.where:<{width}}  {i.kind} {i.name}" for i in cov.uncovered]
    errors = run.count("error")
    if errors:
        out.append(f"{errors} case(s) could not run: a row did not pass the data contract")
    out.append(f"policy-tests: {run.count('passed')} passed, {run.count('failed') + errors} failed")
    return "\n".join(out) + "\n"


def _clean(text: str) -> str:
    return _NOT_XML.sub("\N{REPLACEMENT CHARACTER}", text)


def junit_xml(run: TestRun) -> bytes:
    """JUnit XML: ``<testsuites>``, one ``<testsuite>`` per case file, one ``<testcase>`` per case
    (``classname`` = the file relative to the bundle, ``name`` = the case id); a failed case has a
    ``<failure>``, a case whose rows did not load an ``<error>``, each with the first problem as
    ``message`` and everything (problems and arithmetic) as text."""
    root = ET.Element("testsuites", {
        "name": f"support-audit policy tests ({run.bundle.metadata.name} {run.bundle.metadata.version})",
        "tests": str(len(run.results)), "failures": str(run.count("failed")),
        "errors": str(run.count("error")), "skipped": "0", "time": junit_time(run.seconds),
    })
    stamp = os.environ.get("SOURCE_DATE_EPOCH")
    when = (dt.datetime.fromtimestamp(int(stamp), dt.UTC) if stamp and stamp.isdigit()
            else dt.datetime.now(dt.UTC)).replace(microsecond=0, tzinfo=None).isoformat()
    by_file: dict[str, list[CaseResult]] = {}
    for r in run.results:
        by_file.setdefault(r.case.rel, []).append(r)
    for rel, results in by_file.items():
        suite = ET.SubElement(root, "testsuite", {
            "name": rel, "tests": str(len(results)),
            "failures": str(sum(r.outcome == "failed" for r in results)),
            "errors": str(sum(r.outcome == "error" for r in results)), "skipped": "0",
            "time": junit_time(sum(r.seconds for r in results)), "timestamp": when,
            "file": results[0].case.file,
        })
        props = ET.SubElement(suite, "properties")
        for name, value in (("policy", str(run.policy)), ("policy.digest", run.bundle.digest),
                            ("coverage.percent", f"{run.coverage.percent:.1f}")):
            ET.SubElement(props, "property", {"name": name, "value": value})
        for r in results:
            case = ET.SubElement(suite, "testcase", {
                "name": r.case.id, "classname": rel, "time": junit_time(r.seconds),
                "file": r.case.file, "line": str(r.case.at.line),
            })
            if r.outcome != "passed":
                tag = "failure" if r.outcome == "failed" else "error"
                node = ET.SubElement(case, tag, {
                    "message": _clean(r.problems[0] if r.problems else r.outcome),
                    "type": "PolicyTestFailure" if tag == "failure" else "CaseDataRejected",
                })
                node.text = _clean(case_text(r))
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


def write_junit(run: TestRun, path: str | Path) -> Path:
    from audit.outputs import atomic_write_bytes

    return atomic_write_bytes(path, junit_xml(run))
