"""Output sets: the files of one run appear in ``--out`` together, or not at all.

A run (``support-audit run``, :func:`audit.api.run_audit` with ``out``, ``report --from``) writes
into a fresh staging directory *inside* the output directory, ``OUT/.staging-<token>/``. When
everything is written, ``run.json`` — the manifest: run id, start, finish, status, tool version,
and every file with its size and sha256 — is written last into the staging directory. Then the
set is committed:

1. ``OUT/.commit.json`` (the journal: which staging directory, which old files go) is written
   atomically. From this moment the new set wins: whoever finds the journal finishes the commit.
2. The old ``OUT/run.json`` is removed, every file of the new set is moved into ``OUT`` with
   ``os.replace``, files of the old set that are not in the new one are removed.
3. ``run.json`` is moved in, the journal and the staging directory are removed.

A run killed before step 1 leaves the previous set untouched (its staging directory is removed
by the next run); a run killed during steps 2–3 is *rolled forward* by the next reader or run, so
``OUT`` is always the previous complete set or the new complete set. Readers (``report --from``,
``--previous``, and :func:`open_output_set` for any other tool) refuse a directory without a
complete manifest, or whose files do not match it.

A lock (``OUT/.support-audit.lock``, an advisory ``flock`` that dies with its process) keeps two
runs out of one directory: the second waits ``wait`` seconds, then fails with exit 4 and a
message naming the other run.

Preflight (:func:`preflight_out`) runs before any work: ``--out`` must not be empty, must be
creatable and writable (not below a regular file, not read-only) and have some free space.
``OSError`` s from writing become :class:`OutputError` (exit 4) with the path.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit import __version__
from audit.errors import DataError, Diagnostic, Location, UsageError

MANIFEST = "run.json"
JOURNAL = ".commit.json"
LOCK = ".support-audit.lock"
STAGING_PREFIX = ".staging-"
MANIFEST_FORMAT = 1
#: Files a re-rendered report replaces; ``report --from`` accepts a set in which they are missing.
REPORT_FILES = ("report.html", "actions.csv")
#: Free space a run needs in ``--out`` at least, on top of the size of its inputs (MiB).
MIN_FREE_MIB = 64


class OutputError(UsageError):
    """``--out`` cannot be used: not creatable, not writable, full, or locked by another run
    (exit 4; the previous output set is left as it was)."""


def show_path(path: str | os.PathLike[str]) -> str:
    """``path`` as printable text: bytes that are not UTF-8 (kept by Python as surrogates) are
    shown as ``\\xNN`` escapes instead of crashing the terminal or a JSON writer."""
    text = os.fspath(path)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _now() -> dt.datetime:
    """Now, or ``SOURCE_DATE_EPOCH`` when set (reproducible manifests)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _oserror(path: Path, e: OSError, what: str) -> OutputError:
    reason = e.strerror or str(e)
    hint = {
        errno.ENOSPC: "free some space or choose another --out",
        errno.EDQUOT: "free some space or choose another --out",
        errno.EROFS: "the file system is read-only; choose another --out",
        errno.EACCES: "choose a directory you may write to",
        errno.EPERM: "choose a directory you may write to",
        errno.ENOTDIR: "a part of the path is a file, not a directory",
    }.get(e.errno or 0, "choose another --out")
    return OutputError(diagnostics=[Diagnostic(Location(show_path(path)), f"{what}: {reason}",
                                               f"{hint}; the previous output set is unchanged")])


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_json(path: Path, document: Any) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    data = (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- preflight ----------------------------------------------------------------------------------

def _existing_ancestor(path: Path) -> Path:
    probe = path
    while not probe.exists() and probe != probe.parent:
        if probe.is_symlink():  # a dangling symlink: its target's parent decides
            break
        probe = probe.parent
    return probe


def preflight_out(out: str | os.PathLike[str] | None, *, need_bytes: int = 0) -> Path:
    """Check ``out`` before any work: not empty, creatable, a directory, writable, with free space.

    Creates the directory (so a second run can lock it); raises :class:`OutputError` (exit 4).
    """
    if out is None or os.fspath(out).strip() == "":
        raise OutputError("--out '': give the directory to write the outputs into "
                          "(use --out . for the current directory)")
    path = Path(out)
    base = _existing_ancestor(path)
    if base.exists() and not base.is_dir():
        where = "is" if base == path else f"is below {show_path(base)}, which is"
        raise OutputError(diagnostics=[Diagnostic(
            Location(show_path(path)), f"--out {where} a file, not a directory",
            "choose a directory; the file is left as it is")])
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _oserror(path, e, "cannot create the output directory") from None
    # Really write: os.access says yes to root on a read-only mount, and no ACLs are guessed.
    probe = path / f".probe-{secrets.token_hex(4)}"
    try:
        with open(probe, "wb") as fh:
            fh.write(b"support-audit")
        probe.unlink()
    except OSError as e:
        with contextlib.suppress(OSError):
            probe.unlink()
        raise _oserror(path, e, "cannot write into the output directory") from None
    need = MIN_FREE_MIB * 1024 * 1024 + max(need_bytes, 0)
    try:
        free = shutil.disk_usage(path).free
    except OSError:  # not every file system reports it; the writes will tell
        free = need
    if free < need:
        raise OutputError(diagnostics=[Diagnostic(
            Location(show_path(path)),
            f"only {free // (1024 * 1024)} MiB free, a run needs about {need // (1024 * 1024)} MiB",
            "free some space or choose another --out; nothing was written")])
    return path


# --- the lock -----------------------------------------------------------------------------------

@contextlib.contextmanager
def locked(out: Path, *, wait: float = 0.0) -> Iterator[None]:
    """Hold the output directory's lock; another holder → wait up to ``wait`` s, then exit 4."""
    import fcntl

    path = out / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise _oserror(path, e, "cannot create the lock file") from None
    try:
        deadline = time.monotonic() + max(wait, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _lock_holder(path)
                    raise OutputError(diagnostics=[Diagnostic(
                        Location(show_path(out)),
                        f"another support-audit run is writing into this directory{holder}",
                        "wait for it to finish, pass --wait SECONDS, or choose another --out")
                    ]) from None
                time.sleep(0.2)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "since": _iso(_now())}).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the flock


def _lock_holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return f" (pid {int(info['pid'])}, since {str(info['since'])[:20]})"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


# --- reading a set ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Manifest:
    """The parsed ``run.json`` of a complete output set."""

    root: Path
    run_id: str
    status: str
    started: str
    finished: str
    command: str
    tool_version: str
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        return self.root / name


def _incomplete(out: Path, message: str, hint: str) -> DataError:
    return DataError(diagnostics=[Diagnostic(Location(show_path(out)), message, hint)])


def _parse_manifest(out: Path, document: Any) -> Manifest:
    rerun = "re-run `support-audit run --out DIR` to write a complete set"
    where = out / MANIFEST
    if not isinstance(document, dict) or not isinstance(document.get("files"), dict):
        raise _incomplete(where, "not a support-audit manifest (no 'files')", rerun)
    if document.get("status") != "complete":
        raise _incomplete(where, f"the output set is not complete (status {document.get('status')!r})",
                          rerun)
    files: dict[str, dict[str, Any]] = {}
    for name, entry in document["files"].items():
        if (not isinstance(name, str) or not isinstance(entry, dict) or name.startswith("/")
                or ".." in Path(name).parts or name == MANIFEST):
            raise _incomplete(where, f"bad file entry {name!r}", rerun)
        files[name] = entry
    tool = document.get("tool") if isinstance(document.get("tool"), dict) else {}
    return Manifest(root=out, run_id=str(document.get("run_id", "")), status="complete",
                    started=str(document.get("started", "")), finished=str(document.get("finished", "")),
                    command=str(document.get("command", "")), tool_version=str(tool.get("version", "")),
                    files=files)


def open_output_set(out: str | os.PathLike[str], *, verify: str = "size",
                    missing_ok: tuple[str, ...] = (), only: tuple[str, ...] | None = None) -> Manifest:
    """The manifest of the complete output set in ``out``; :class:`DataError` (exit 3) otherwise.

    An interrupted commit is finished first (when this process may take the lock). ``verify``:
    ``"size"`` checks that every listed file exists with its size, ``"sha256"`` also hashes them,
    ``"none"`` only reads the manifest. ``missing_ok``: listed files that are not checked at all
    (the report's own files, when the report is about to be re-rendered: they may be missing, or
    edited in a spreadsheet). ``only``: check just these files (``--previous`` reads only
    summary.json), each of which must be listed.
    """
    out = Path(out)
    if not out.is_dir():
        raise _incomplete(out, "not a directory", "give the --out directory of an audit run")
    if (out / JOURNAL).exists():
        _recover(out)
    path = out / MANIFEST
    hint = "re-run `support-audit run --out DIR` to write a complete set"
    if not path.is_file():
        if (out / "summary.json").exists():
            raise _incomplete(path, "missing: the output set is incomplete (a run was interrupted, "
                                    "or it was written by an older version)", hint)
        raise _incomplete(path, "missing: this is not the output directory of an audit run",
                          "give the --out directory of `support-audit run`")
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError) as e:
        raise _incomplete(path, f"cannot be read: {e}", hint) from None
    manifest = _parse_manifest(out, document)
    for name in only or ():
        if name not in manifest.files:
            raise _incomplete(path, f"does not list {name}: not the output set of an audit run", hint)
    if verify != "none":
        for name, entry in sorted(manifest.files.items()):
            file = out / name
            if name in missing_ok or (only is not None and name not in only):
                continue
            if not file.is_file():
                raise _incomplete(file, "listed in run.json but missing: the output set is incomplete",
                                  hint)
            if file.stat().st_size != entry.get("bytes"):
                raise _incomplete(file, "changed since the run (size differs from run.json)", hint)
            if verify == "sha256" and sha256_file(file) != entry.get("sha256"):
                raise _incomplete(file, "changed since the run (sha256 differs from run.json)", hint)
    return manifest


# --- writing a set ------------------------------------------------------------------------------

def _recover(out: Path) -> None:
    """Finish a commit whose journal is in ``out`` (roll forward), under the lock if we can."""
    import fcntl

    try:
        fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        raise _incomplete(out, "an interrupted run left this output set half-committed, and this "
                               "process cannot write here to finish it",
                          "run `support-audit report --from DIR` with write access") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _incomplete(out, "another support-audit run is committing its outputs here",
                              "try again in a moment") from None
        _roll_forward(out)
    finally:
        os.close(fd)


def _roll_forward(out: Path) -> None:
    """With the lock held: complete the commit described by ``out/.commit.json``, if any."""
    journal_path = out / JOURNAL
    try:
        journal = json.loads(journal_path.read_bytes())
    except FileNotFoundError:
        return
    except (OSError, ValueError):  # torn journal: written atomically, so this is not ours
        journal = {}
    stage_name = str(journal.get("staging", ""))
    stage = out / stage_name
    manifest_path = stage / MANIFEST
    if not stage_name.startswith(STAGING_PREFIX) or "/" in stage_name:
        journal_path.unlink(missing_ok=True)
        return
    if manifest_path.is_file():
        new = json.loads(manifest_path.read_bytes())
        (out / MANIFEST).unlink(missing_ok=True)
        for name in sorted(new["files"]):
            src = stage / name
            if src.exists():
                (out / name).parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, out / name)
        for name in journal.get("remove", []):
            if name not in new["files"] and isinstance(name, str) and ".." not in Path(name).parts:
                (out / name).unlink(missing_ok=True)
        _fsync_dir(out)
        os.replace(manifest_path, out / MANIFEST)
        _fsync_dir(out)
    journal_path.unlink(missing_ok=True)
    shutil.rmtree(stage, ignore_errors=True)


def _clean_stale(out: Path) -> None:
    """With the lock held: remove staging directories and temp files of killed runs."""
    for entry in out.iterdir():
        name = entry.name
        if name.startswith(STAGING_PREFIX) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        elif name.startswith(".") and name.endswith(".tmp") and entry.is_file():
            entry.unlink(missing_ok=True)
        elif name.startswith(".probe-") and entry.is_file():
            entry.unlink(missing_ok=True)
    dq = out / "data_quality"
    if dq.is_dir():
        for entry in dq.iterdir():
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                entry.unlink(missing_ok=True)


class OutputTransaction:
    """Stage an output set in ``out`` and commit it as a whole (module docstring).

    >>> with OutputTransaction(out, command="run") as tx:
    ...     write_outputs(result, tx.path)      # everything goes into the staging directory
    ... # leaving the block without an error commits; with an error, ``out`` is left as it was

    :meth:`link_from` starts the staging directory from an existing complete set (``report
    --from`` re-renders only the report's files and keeps the others).
    """

    def __init__(self, out: str | os.PathLike[str] | None, *, command: str, wait: float = 0.0,
                 need_bytes: int = 0):
        self._created = out is not None and os.fspath(out).strip() != "" and not Path(out).exists()
        self.out = preflight_out(out, need_bytes=need_bytes)
        self.command = command
        self.wait = wait
        self.path = self.out  # replaced by the staging directory on enter
        self.started = _now()
        self._lock: contextlib.ExitStack | None = None

    def __enter__(self) -> OutputTransaction:
        stack = contextlib.ExitStack()
        stack.enter_context(locked(self.out, wait=self.wait))
        self._lock = stack
        try:
            _roll_forward(self.out)
            _clean_stale(self.out)
            self.path = self.out / f"{STAGING_PREFIX}{secrets.token_hex(6)}"
            self.path.mkdir()
        except OSError as e:
            stack.close()
            raise _oserror(self.out, e, "cannot prepare the output directory") from None
        except BaseException:
            stack.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self._lock is not None
        try:
            if exc_type is None:
                try:
                    self._commit()
                except OSError as e:
                    raise _oserror(Path(e.filename or self.out), e, "cannot write the output set") from None
        finally:
            if not (self.out / JOURNAL).exists():  # a journal means: roll forward, keep the stage
                shutil.rmtree(self.path, ignore_errors=True)
            self._lock.close()
            if exc_type is not None and self._created:  # leave no empty directory behind
                with contextlib.suppress(OSError):
                    if [p.name for p in self.out.iterdir()] == [LOCK]:
                        (self.out / LOCK).unlink()
                        self.out.rmdir()
        if exc_type is not None and issubclass(exc_type, OSError) and exc is not None:
            raise _oserror(Path(exc.filename or self.out), exc, "cannot write the output set") from exc

    def link_from(self, manifest: Manifest) -> None:
        """Put the files of the complete set ``manifest`` into the staging directory (hard links,
        or copies where the file system has none), so a step can re-write some of them.

        A step must *replace* a file (write a new one and rename it over, as
        :func:`audit.outputs.atomic_writer` does), never write into it: a hard link shares its
        content with the committed set, which must stay as it is until the commit."""
        for name in manifest.files:
            src, dst = manifest.root / name, self.path / name
            if not src.is_file():
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)

    def _files(self) -> dict[str, dict[str, Any]]:
        files: dict[str, dict[str, Any]] = {}
        for path in sorted(self.path.rglob("*")):
            rel = path.relative_to(self.path).as_posix()
            if path.is_dir() or any(part.startswith(".") for part in Path(rel).parts):
                continue
            # every file is hashed, carried ones too: a file edited in place since its run
            # (same size) must not keep its old hash in the new manifest
            files[rel] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
        return dict(sorted(files.items()))

    def _commit(self) -> None:
        files = self._files()
        finished = _now()
        epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip().isdigit()
        digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
        manifest = {
            "format": MANIFEST_FORMAT,
            "run_id": digest[:32] if epoch else secrets.token_hex(16),
            "command": self.command,
            "status": "complete",
            "started": _iso(self.started),
            "finished": _iso(finished),
            "tool": {"name": "support-audit", "version": __version__},
            "files": files,
        }
        _write_json(self.path / MANIFEST, manifest)
        old: list[str] = []
        with contextlib.suppress(DataError, OSError, ValueError, KeyError):
            old = sorted(open_output_set(self.out, verify="none").files)
        _write_json(self.out / JOURNAL, {"staging": self.path.name, "remove": old})
        _roll_forward(self.out)
