"""Where a policy bundle for ``diff`` comes from: a directory (or YAML file), or a git revision.

``git:REV:PATH`` names the tree (or file) ``PATH`` at revision ``REV`` of the git repository the
command runs in, exactly as ``git show REV:PATH`` would: ``PATH`` is relative to the
repository's top directory (``git:origin/main:policies``, ``git:HEAD~1:policies``). The tree is
read with ``git ls-tree`` and ``git cat-file`` into a temporary directory that is removed
afterwards: no second checkout, nothing in the work tree changes, and only regular files are
written (symlinks and submodules in the tree are skipped, names that would leave the directory
are refused).

Errors: a missing directory, a missing ``git``, a directory that is no git repository, an
unknown revision or a path the revision does not have are usage errors (exit 4); a bundle read
from a revision that is invalid is a policy error (exit 2) whose messages name the file as
``git:REV:PATH/file.yaml:line:col``.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from audit.errors import Diagnostic, Location, PolicyError, UsageError

GIT_PREFIX = "git:"


@dataclass(frozen=True)
class PolicySource:
    """A bundle as the user named it, and where it can be read now."""

    spec: str  # as given on the command line
    path: Path  # a directory or YAML file on disk (temporary for git revisions)
    commit: str | None = None  # the full commit id of a git revision

    def describe(self) -> dict[str, str | None]:
        return {"source": self.spec, "commit": self.commit}


def parse_git_spec(spec: str) -> tuple[str, str]:
    """``git:REV:PATH`` -> ``(REV, PATH)``; a :class:`UsageError` saying how to write it else."""
    body = spec[len(GIT_PREFIX):]
    rev, sep, path = body.partition(":")
    path = path.strip("/")
    if (sep and not rev) or rev.endswith("/"):
        raise UsageError(f"{spec!r}: the revision is empty or ends in '/' (an unset shell "
                         "variable, such as BASE_REF?); write git:REV:PATH, e.g. "
                         "git:origin/main:policies")
    if not sep or not rev or not path:
        raise UsageError(
            f"{spec!r}: write a git revision as git:REV:PATH, e.g. git:origin/main:policies "
            "(PATH relative to the repository's top directory)"
        )
    return rev, path


def _git(repo: Path, *args: str, binary: bool = False) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, check=False,
            text=not binary,
        )
    except FileNotFoundError:
        raise UsageError("git revisions need the 'git' program, which is not installed "
                         "(install git, or pass a policy directory)") from None


def _git_ok(repo: Path, spec: str, *args: str, binary: bool = False):
    proc = _git(repo, *args, binary=binary)
    if proc.returncode != 0:
        err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode("utf-8", "replace")
        raise UsageError(f"{spec}: git {args[0]} failed: {err.strip() or 'no message'}")
    return proc.stdout


def _extract(repo: Path, spec: str, rev: str, path: str, into: Path) -> tuple[str, Path]:
    """Write ``rev:path`` below ``into``; return the commit id and the bundle's path."""
    top = _git(repo, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise UsageError(f"{spec}: {repo.resolve()} is not inside a git repository "
                         "(run the command in the repository, or pass a policy directory)")
    found = _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    if found.returncode != 0:
        hint = " (in CI, fetch it first: git fetch origin <branch>)" if "/" in rev else ""
        raise UsageError(f"{spec}: unknown git revision {rev!r}{hint}")
    commit = found.stdout.strip()
    kind = _git(repo, "cat-file", "-t", f"{commit}:{path}")
    if kind.returncode != 0:
        raise UsageError(f"{spec}: revision {rev!r} ({commit[:12]}) has no {path!r} "
                         "(PATH is relative to the repository's top directory)")
    kind = kind.stdout.strip()
    if kind == "blob":
        target = into / PurePosixPath(path).name
        target.write_bytes(_git_ok(repo, spec, "cat-file", "blob", f"{commit}:{path}", binary=True))
        return commit, target
    if kind != "tree":
        raise UsageError(f"{spec}: {path!r} at {rev!r} is a {kind}, not a policy directory or file")
    listing = _git_ok(repo, spec, "ls-tree", "-r", "-z", "--full-tree", f"{commit}:{path}")
    bundle = into / PurePosixPath(path).name
    bundle.mkdir()
    for item in filter(None, listing.split("\0")):
        meta, _, name = item.partition("\t")
        mode, otype, oid = meta.split()
        rel = PurePosixPath(name)
        if otype != "blob" or mode not in ("100644", "100755"):
            continue  # symlinks, submodules: a policy bundle consists of regular files
        if rel.is_absolute() or ".." in rel.parts:
            raise UsageError(f"{spec}: refusing the tree entry {name!r}")
        target = bundle.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_git_ok(repo, spec, "cat-file", "blob", oid, binary=True))
    return commit, bundle


@contextlib.contextmanager
def policy_source(spec: str | Path, repo: str | Path | None = None) -> Iterator[PolicySource]:
    """The bundle ``spec`` names, readable on disk for the duration of the ``with`` block."""
    text = str(spec)
    if not text.startswith(GIT_PREFIX):
        path = Path(text)
        if not path.exists():
            raise UsageError(f"policy {text!r} does not exist (give a bundle directory, a YAML "
                             "file, or a git revision as git:REV:PATH)")
        yield PolicySource(text, path)
        return
    rev, rel = parse_git_spec(text)
    tmp = Path(tempfile.mkdtemp(prefix="support-audit-policy-"))
    try:
        commit, path = _extract(Path(repo) if repo is not None else Path.cwd(), text, rev, rel, tmp)
        yield PolicySource(text, path, commit)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_source(source: PolicySource):
    """:func:`audit.policy.loader.load_policy` of ``source``; a git revision's policy errors
    name its files as ``git:REV:PATH/file`` instead of the temporary directory."""
    from audit.policy.loader import load_policy

    try:
        return load_policy(source.path)
    except PolicyError as e:
        if source.commit is None or not e.diagnostics:
            raise
        shown = str(source.path)
        renamed = [
            Diagnostic(Location(d.location.file.replace(shown, source.spec.rstrip("/"), 1),
                                d.location.line, d.location.col), d.message, d.hint)
            for d in e.diagnostics
        ]
        raise PolicyError(diagnostics=renamed) from None
