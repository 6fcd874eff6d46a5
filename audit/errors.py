"""Errors a user can act on, and the documented exit codes.

Every error the CLI prints comes from here: it names the place (``file:line:col`` for a policy,
``file:line`` for a data file) and says what to do. The CLI maps each class to its exit code and
prints ``str(error)``; it never shows a traceback for these.

Exit codes (stable, documented in the README):

====  ===========================================================================
0     success: no open finding at or above ``--fail-on``
1     the audit ran and found open findings at or above ``--fail-on``
2     the policy bundle is invalid (nothing reached DuckDB)
3     the input data is unusable (missing file, missing required columns, unreadable)
4     the command line is wrong or cannot be carried out (unknown option, bad value, an --out
      that cannot be written, is full or is locked by another run; a disk DuckDB writes or
      spills to that is full)
5     internal error: a bug in support-audit; the message says where the details went
====  ===========================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_POLICY = 2
EXIT_DATA = 3
EXIT_USAGE = 4
EXIT_INTERNAL = 5


@dataclass(frozen=True)
class Location:
    """A place in a file. ``line`` and ``col`` are 1-based; 0 means unknown."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        out = self.file
        if self.line:
            out += f":{self.line}"
            if self.col:
                out += f":{self.col}"
        return out


@dataclass(frozen=True)
class Diagnostic:
    """One problem: where, what, and what to do about it."""

    location: Location
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class AuditError(Exception):
    """Base class: an error with an exit code and a message meant for the user."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str = "", diagnostics: list[Diagnostic] | None = None):
        self.diagnostics: list[Diagnostic] = list(diagnostics or [])
        if not message and self.diagnostics:
            message = "\n".join(str(d) for d in self.diagnostics)
        super().__init__(message)


class PolicyError(AuditError):
    """The policy bundle is invalid. Carries one diagnostic per problem found."""

    exit_code = EXIT_POLICY


class DataError(AuditError):
    """The input data cannot be used at all (rows that are merely bad go to quarantine)."""

    exit_code = EXIT_DATA


class UsageError(AuditError):
    """The command line asks for something impossible (e.g. a malformed --period)."""

    exit_code = EXIT_USAGE


@dataclass
class DiagnosticCollector:
    """Collects diagnostics so that a user sees every problem in one run, not one per run."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def add(self, location: Location, message: str, hint: str = "") -> None:
        self.diagnostics.append(Diagnostic(location, message, hint))

    def raise_if_any(self, error_class: type[AuditError] = PolicyError) -> None:
        if self.diagnostics:
            ordered = sorted(
                self.diagnostics,
                key=lambda d: (d.location.file, d.location.line, d.location.col, d.message),
            )
            raise error_class(diagnostics=ordered)


def did_you_mean(word: str, choices: list[str] | set[str] | tuple[str, ...]) -> str:
    """A hint like "did you mean 'category'?" or "" when nothing is close."""
    import difflib

    match = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean '{match[0]}'?" if match else ""


#: Characters a terminal acts on instead of showing: C0/C1 controls (ESC starts colour, cursor and
#: OSC sequences that can retitle a window or write the clipboard), DEL, and the bidirectional
#: overrides that make text read differently from its bytes. Newline and tab stay.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """``text`` with control characters shown as ``\\x1b``-style escapes (and bytes that are
    not UTF-8 as ``\\xff``), so data printed to a terminal can never drive it."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                       else f"\\u{ord(m.group()):04x}", text)
