"""The Great Expectations worker process (``python -m audit.ingest.gx_worker``).

Why a process: GX costs about ten seconds of pure-Python work per audit (the import, the
context, each table's validation), which in the loading process competes for the GIL with the
loader. In its own process it runs on the other core while the data is read and typed; see
:class:`audit.ingest.load._GxWorker`. Not :mod:`multiprocessing`: its ``spawn`` re-runs the
caller's ``__main__``, which a script calling :func:`audit.api.run_audit` without a main guard
does not expect.

Protocol: pickled requests on stdin, one pickled ``(ok, result)`` reply each on the original
stdout (``result``: the value or the exception); anything GX prints goes to stderr. Requests:
``("start", environ)``: the loader's environment and a fresh GX context for the next
ingestion (a validator that has not validated anything yet is fresh already: the first one is
made at once, as the import takes seconds);
``("validate", table, expectations, rows)`` (rows: Arrow): ``(doc, outcomes)`` of
:meth:`~audit.ingest.gx.GxValidator.validate`.
"""

from __future__ import annotations

import os
import pickle
import sys


def main() -> None:
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints must not corrupt the replies
    source = sys.stdin.buffer
    validator, used = None, False
    try:
        validator = _new_validator()
    except Exception:  # noqa: S110 - retried (and reported) on the first request
        pass
    while True:
        try:
            request = pickle.load(source)
        except EOFError:
            # The loader is done: leave without the interpreter's teardown of GX and pandas
            # (about a second of cpu that the loader's exit would wait for). Nothing is left
            # to write: every reply was flushed, and GX's contexts here are in memory.
            out.close()
            os._exit(0)
        try:
            if request[0] == "start":
                os.environ.clear()  # the loader's environment now (SOURCE_DATE_EPOCH, GX_*)
                os.environ.update(request[1])
                if validator is None or used:
                    validator, used = _new_validator(), False
                reply = (True, None)
            else:
                _, table, expectations, rows = request
                if validator is None:
                    validator = _new_validator()
                used = True
                reply = (True, validator.validate(table, expectations, rows))
        except BaseException as exc:  # handed to the loader, raised there
            reply = (False, exc)
        try:
            data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # an exception that does not pickle: its text still does
            data = pickle.dumps((False, RuntimeError(repr(reply[1]))))
        out.write(data)
        out.flush()


def _new_validator():
    from audit.ingest.gx import GxValidator

    return GxValidator()


if __name__ == "__main__":
    main()
