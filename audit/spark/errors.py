"""Spark failures a user can act on, as :class:`~audit.errors.UsageError` (exit 4).

Spark's errors arrive as Py4J or PySpark exceptions whose text is a Java stack trace. The ones
with a remedy on the user's side — Spark cannot start (no Java, too little driver memory, a bad
master URL), it runs out of memory, its JVM dies during the run, its local disk is full — become
one line saying what happened and what to do, with the path of Spark's log
(:func:`audit.spark.session._launch_jvm`). Anything else stays an internal error.

This module does not import PySpark: the CLI asks it about every unexpected exception.
"""

from __future__ import annotations

import re

from audit.errors import UsageError


class JVM:
    """What this process knows about the Spark JVM it started (for the messages below)."""

    #: the file the JVM's stdout and stderr go to, when this process started it
    log: str | None = None
    #: the driver's maximum heap in bytes, read once Spark started
    heap: int | None = None
    #: logs an error message named: kept at exit
    kept: set[str] = set()


_OOM = re.compile(r"(?:java\.lang\.|org\.apache\.spark\.memory\.Spark)?OutOfMemoryError\b[^\n]{0,120}"
                  r"|GC overhead limit exceeded")
#: the same with its reason ("…OutOfMemoryError: Java heap space"): preferred, wherever it is,
#: to a thread's "OutOfMemoryError thrown from the UncaughtExceptionHandler in thread …"
_OOM_REASON = re.compile(r"(?:java\.lang\.|org\.apache\.spark\.memory\.Spark)?OutOfMemoryError: [^\n]{1,120}")
#: what Py4J and Spark say when the JVM went away under a running command
_DEAD = re.compile(r"Answer from Java side is empty|Error while sending or receiving"
                   r"|Error while receiving|SparkContext was shut down|stopped SparkContext")
_DISK = re.compile(r"No space left on device")

MEMORY_HINT = ("Give Spark more memory: local Spark (--spark-master local[*]) keeps all the data in "
               "the driver's heap, so e.g. --spark-conf spark.driver.memory=10g; on a cluster "
               "also spark.executor.memory. Or use a bigger cluster, or the default --engine "
               "duckdb, which spills to disk (docs/scale-out.md).")


def gib(size: int | None) -> str:
    return "unknown" if size is None else f"{size / 2**30:.1f} GiB"


def _chain(e: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    while e is not None and e not in out:
        out.append(e)
        e = e.__cause__ or e.__context__
    return out


def _text(e: BaseException) -> str:
    """What an exception says: for a Java exception its Java text (stack trace included),
    which asks the JVM; when the JVM is gone, what Python kept of it."""
    try:
        return str(e)
    except Exception:  # Py4JJavaError.__str__ asks the JVM, which may have died
        pass
    parts = [getattr(e, "errmsg", None)] + [a for a in e.args if isinstance(a, str)]
    return " ".join(dict.fromkeys(p for p in parts if p)) or type(e).__name__


def _is_spark(chain: list[BaseException]) -> bool:
    return any(type(x).__module__.split(".")[0] in ("py4j", "pyspark") for x in chain)


def _log_text() -> str:
    if JVM.log is None:
        return ""
    try:
        with open(JVM.log, encoding="utf-8", errors="replace") as fh:
            return fh.read()[-200_000:]
    except OSError:
        return ""


def keep_log() -> str | None:
    """The path of the log of the Spark JVM this process started, now kept at exit (an error
    message names it), or ``None``."""
    if JVM.log is not None:
        JVM.kept.add(JVM.log)
    return JVM.log


def _log_note() -> str:
    """`` Spark's log: PATH.``, or "" when there is none."""
    log = keep_log()
    return f" Spark's log: {log}" if log else ""


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0][:300] if lines else ""


def _java_message(e: BaseException) -> str:
    """The Java exception's own first line (``java.lang.IllegalArgumentException: …``) rather
    than Py4J's "An error occurred while calling …"."""
    for x in _chain(e):
        java = getattr(x, "java_exception", None)
        if java is not None:
            try:
                return _first_line(str(java.toString()))
            except Exception:
                pass
        cause = re.search(r"^(?:Caused by: )?([\w.$]+(?:Exception|Error)(?::[^\n]*)?)$", _text(x), re.M)
        if cause:
            return cause.group(1).strip()[:300]
    return _first_line(_text(e)) or type(e).__name__


def start_error(e: BaseException, where: str) -> UsageError:
    """Spark could not start (``where``: the master or remote asked for)."""
    text = "\n".join(_text(x) for x in _chain(e))
    if re.search(r"JAVA_GATEWAY_EXITED|Java gateway process exited", text):
        said = _first_line(_log_text())  # e.g. "…/bin/java: No such file or directory"
        return UsageError(
            f"cannot start Spark ({where}): its Java process exited before it started"
            f"{f' ({said})' if said else ''}. Local Spark needs a Java runtime, version 17 or "
            "newer: install one (Debian: apt-get install default-jre-headless) or set JAVA_HOME; "
            f"or use a Spark Connect server (--spark-remote sc://HOST:15002).{_log_note()}")
    hint = ("Give the driver more memory, e.g. --spark-conf spark.driver.memory=2g."
            if "driver.memory" in text or "driver-memory" in text
            else "Check --spark-master, --spark-remote and --spark-conf (docs/scale-out.md).")
    return UsageError(f"cannot start Spark ({where}): {_java_message(e)}. {hint}{_log_note()}")


def spark_error(e: BaseException) -> UsageError | None:
    """A failure of a running Spark the user can remedy, as a :class:`UsageError`; ``None`` for
    anything else (a bug, to be reported as one)."""
    chain = _chain(e)
    if not _is_spark(chain):
        return None
    text = "\n".join(_text(x) for x in chain)
    dead = _DEAD.search(text)
    died = dead.group(0) if dead else next(
        (type(x).__name__ for x in chain if type(x).__name__ == "Py4JNetworkError"), None)
    # After an OutOfMemoryError local Spark shuts its context down, and the command that was
    # running fails with whatever that left behind (the context shut down, a null scheduler, no
    # answer from the JVM): the JVM's log says that memory ran out.
    log = _log_text()
    oom = next((m for pattern in (_OOM_REASON, _OOM) for source in (text, log)
                if (m := pattern.search(source))), None)
    heap = f"; the driver's heap was {gib(JVM.heap)}" if JVM.heap else ""
    if oom:
        return UsageError(f"Spark ran out of memory ({oom.group(0).strip()}{heap}). "
                          f"{MEMORY_HINT}{_log_note()}")
    if died:
        return UsageError(f"Spark's JVM stopped during the run ({died}{heap}); most often "
                          f"it ran out of memory. {MEMORY_HINT}{_log_note()}")
    if _DISK.search(text):
        return UsageError("Spark's local disk is full (No space left on device). Free space in "
                          "its scratch directory (spark.local.dir, by default the system's temp "
                          "directory) or point it elsewhere, e.g. --spark-conf "
                          f"spark.local.dir=/big/disk.{_log_note()}")
    return None
