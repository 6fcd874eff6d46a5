"""Output sets (audit.outputset): staged, committed whole with run.json, locked, preflighted.

The kill tests run the CLI in a subprocess and SIGKILL it: at deterministic points of the commit
(a hook kills the process at the k-th file move) and at several moments of a generated
~100k-entry run. After every kill, ``--out`` must be the previous complete set or the new one.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from audit.cli import main
from audit.errors import DataError, UsageError
from audit.outputset import (
    JOURNAL,
    MANIFEST,
    OutputError,
    OutputTransaction,
    locked,
    open_output_set,
    preflight_out,
    sha256_file,
)

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
SAMPLE = ROOT / "sample_data"
EPOCH = {"SOURCE_DATE_EPOCH": "1790000000"}


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def write_set(out: Path, files: dict[str, str]) -> None:
    with OutputTransaction(out, command="test") as tx:
        for name, text in files.items():
            (tx.path / name).parent.mkdir(parents=True, exist_ok=True)
            (tx.path / name).write_text(text)


def set_files(out: Path) -> dict[str, str]:
    """name → sha256 of every file the complete set in ``out`` lists, checked against the disk."""
    manifest = open_output_set(out, verify="sha256")
    listed = {name: entry["sha256"] for name, entry in manifest.files.items()}
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*")
               if p.is_file() and not any(part.startswith(".") for part in p.relative_to(out).parts)}
    assert on_disk - {MANIFEST} == set(listed), "files on disk that the manifest does not list"
    return listed


# --- the transaction ----------------------------------------------------------------------------

def test_commit_writes_manifest_last_with_hashes(tmp_path):
    out = tmp_path / "o"
    write_set(out, {"a.txt": "one", "data_quality/b.json": "{}"})
    doc = json.loads((out / MANIFEST).read_text())
    assert doc["status"] == "complete" and doc["command"] == "test"
    assert doc["tool"]["name"] == "support-audit"
    assert doc["files"]["a.txt"] == {"bytes": 3, "sha256": sha256_file(out / "a.txt")}
    assert set(doc["files"]) == {"a.txt", "data_quality/b.json"}
    assert doc["started"] <= doc["finished"] and doc["finished"].endswith("Z")
    assert not [p.name for p in out.iterdir() if p.name.startswith(".staging-")]
    assert not (out / JOURNAL).exists()


def test_new_set_replaces_old_files_and_drops_those_it_no_longer_has(tmp_path):
    out = tmp_path / "o"
    write_set(out, {"a.txt": "one", "report.html": "old report"})
    write_set(out, {"a.txt": "two"})
    assert (out / "a.txt").read_text() == "two"
    assert not (out / "report.html").exists()  # a stale report never sits next to new findings
    assert set(set_files(out)) == {"a.txt"}


def test_failure_inside_the_block_leaves_the_previous_set(tmp_path):
    out = tmp_path / "o"
    write_set(out, {"a.txt": "one"})
    with pytest.raises(RuntimeError), OutputTransaction(out, command="test") as tx:
        (tx.path / "a.txt").write_text("half")
        raise RuntimeError("report failed")
    assert (out / "a.txt").read_text() == "one"
    assert set_files(out) == {"a.txt": sha256_file(out / "a.txt")}
    assert not [p for p in out.iterdir() if p.name.startswith(".staging-")]


def test_oserror_while_writing_is_exit_4_with_the_path_and_keeps_the_set(tmp_path):
    out = tmp_path / "o"
    write_set(out, {"a.txt": "one"})
    with pytest.raises(OutputError) as e, OutputTransaction(out, command="test") as tx:
        raise OSError(errno.ENOSPC, "No space left on device", str(tx.path / "findings.parquet"))
    assert e.value.exit_code == 4
    assert "findings.parquet: cannot write the output set: No space left on device" in str(e.value)
    assert "previous output set is unchanged" in str(e.value)
    assert (out / "a.txt").read_text() == "one"


def test_stale_staging_and_temp_files_are_cleaned_by_the_next_run(tmp_path):
    out = tmp_path / "o"
    write_set(out, {"a.txt": "one"})
    (out / ".staging-deadbeef").mkdir()
    (out / ".staging-deadbeef" / "findings.csv").write_text("x")
    (out / ".findings.csv.abc123.tmp").write_text("x")
    write_set(out, {"a.txt": "two"})
    assert sorted(p.name for p in out.iterdir()) == [".support-audit.lock", "a.txt", MANIFEST]


def test_interrupted_commit_is_rolled_forward_by_a_reader(tmp_path):
    out = tmp_path / "o"
    write_set(out, {"a.txt": "old", "gone.txt": "old"})
    # the state a kill leaves after the journal was written and one file moved
    stage = out / ".staging-0123456789ab"
    stage.mkdir()
    (stage / "b.txt").write_text("new b")
    new_a = out / "a.txt.new"
    new_a.write_text("new a")
    manifest = {"status": "complete", "files": {
        "a.txt": {"bytes": 5, "sha256": sha256_file(new_a)},
        "b.txt": {"bytes": 5, "sha256": sha256_file(stage / "b.txt")}}}
    os.replace(new_a, out / "a.txt")
    (stage / MANIFEST).write_text(json.dumps(manifest))
    (out / JOURNAL).write_text(json.dumps({"staging": stage.name, "remove": ["a.txt", "gone.txt"]}))
    (out / MANIFEST).unlink()
    assert set(set_files(out)) == {"a.txt", "b.txt"}
    assert (out / "b.txt").read_text() == "new b" and not (out / "gone.txt").exists()
    assert not stage.exists() and not (out / JOURNAL).exists()


# --- readers refuse incomplete sets -------------------------------------------------------------

def test_reader_refuses_a_directory_without_manifest(tmp_path):
    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(DataError, match=r"run.json: missing: the output set is incomplete") as e:
        open_output_set(tmp_path)
    assert e.value.exit_code == 3


def test_reader_refuses_a_missing_or_changed_file(tmp_path):
    out = tmp_path / "o"
    write_set(out, {"a.txt": "one", "b.txt": "two"})
    (out / "b.txt").write_text("three")
    with pytest.raises(DataError, match=r"b.txt: changed since the run \(size"):
        open_output_set(out)
    (out / "b.txt").write_text("owt")
    with pytest.raises(DataError, match=r"b.txt: changed since the run \(sha256"):
        open_output_set(out, verify="sha256")
    (out / "b.txt").unlink()
    with pytest.raises(DataError, match=r"b.txt: listed in run.json but missing"):
        open_output_set(out)
    assert open_output_set(out, missing_ok=("b.txt",)).files.keys() == {"a.txt", "b.txt"}
    assert open_output_set(out, only=("a.txt",)).run_id
    with pytest.raises(DataError, match=r"run.json: does not list summary.json"):
        open_output_set(out, only=("summary.json",))


def test_report_from_accepts_an_actions_csv_edited_in_a_spreadsheet(capsys, tmp_path):
    out = tmp_path / "o"
    code, _, err = run_cli(capsys, "run", "--out", str(out), "-q", "--gx", "off", "--period", "2026-06",
                           "--policy", str(POLICIES), "--data", str(SAMPLE))
    assert code == 1, err
    (out / "actions.csv").write_text("edited by finance\n")
    code, _, err = run_cli(capsys, "report", "--from", str(out), "--lang", "en")
    assert code == 0, err
    assert (out / "actions.csv").read_text() != "edited by finance\n"
    assert set(set_files(out)) >= {"report.html", "actions.csv", "findings.parquet"}
    assert json.loads((out / MANIFEST).read_text())["command"] == "report"
    (out / "findings.csv").write_text("edited\n")  # --previous reads only summary.json
    code, _, err = run_cli(capsys, "run", "--out", str(tmp_path / "o2"), "-q", "--gx", "off",
                           "--no-report", "--policy", str(POLICIES), "--data", str(SAMPLE),
                           "--previous", str(out), "--fail-on", "never")
    assert code == 0, err
    code, _, err = run_cli(capsys, "report", "--from", str(out))  # the report refuses the change
    assert code == 3 and "findings.csv: changed since the run" in err


def test_reader_refuses_a_manifest_that_is_not_complete(tmp_path):
    (tmp_path / MANIFEST).write_text(json.dumps({"status": "running", "files": {}}))
    with pytest.raises(DataError, match=r"not complete \(status 'running'\)"):
        open_output_set(tmp_path)
    (tmp_path / MANIFEST).write_text(json.dumps({"status": "complete", "files": {"../x": {}}}))
    with pytest.raises(DataError, match=r"bad file entry '../x'"):
        open_output_set(tmp_path)


def test_cli_report_from_an_incomplete_set_is_exit_3(capsys, tmp_path):
    (tmp_path / "summary.json").write_text("{}")
    code, _, err = run_cli(capsys, "report", "--from", str(tmp_path))
    assert code == 3
    assert "run.json: missing" in err and "Traceback" not in err


def test_cli_previous_must_be_a_complete_set_before_any_work(capsys, tmp_path):
    prev = tmp_path / "prev"
    prev.mkdir()
    (prev / "summary.json").write_text("{}")
    code, _, err = run_cli(capsys, "run", "--out", str(tmp_path / "o"), "--previous", str(prev), "-q")
    assert code == 3
    assert "run.json: missing" in err
    assert not (tmp_path / "o").exists()  # refused before the output directory was touched


# --- the lock -----------------------------------------------------------------------------------

def test_second_writer_fails_with_a_clear_message(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    with locked(out):
        with pytest.raises(OutputError, match=r"another support-audit run is writing into this "
                                              r"directory \(pid \d+") as e:
            write_set(out, {"a.txt": "x"})
        assert e.value.exit_code == 4
        assert "--wait SECONDS" in str(e.value)
    write_set(out, {"a.txt": "x"})


def test_second_writer_waits_when_asked(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    release = threading.Event()

    def hold() -> None:
        with locked(out):
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.2)
    threading.Timer(0.5, release.set).start()
    with OutputTransaction(out, command="test", wait=10) as tx:
        (tx.path / "a.txt").write_text("x")
    holder.join()
    assert set(set_files(out)) == {"a.txt"}


def test_cli_second_run_into_a_locked_directory_is_exit_4(capsys, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    with locked(out):
        code, _, err = run_cli(capsys, "run", "--out", str(out), "-q", "--no-report", "--gx", "off")
    assert code == 4
    assert "another support-audit run is writing into this directory" in err


# --- preflight ----------------------------------------------------------------------------------

def test_preflight_refuses_empty_out_and_out_below_a_file(tmp_path):
    with pytest.raises(UsageError, match=r"--out ''"):
        preflight_out("")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match=r"file/sub: --out is below .*file, which is a file"):
        preflight_out(tmp_path / "file" / "sub")
    with pytest.raises(OutputError, match=r"--out is a file, not a directory"):
        preflight_out(tmp_path / "file")


def test_cli_empty_out_is_a_usage_error(capsys):
    code, _, err = run_cli(capsys, "run", "--out", "", "-q")
    assert code == 4
    assert "--out" in err and "give a directory" in err


def test_preflight_refuses_too_little_free_space(tmp_path, monkeypatch):
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: usage(10**9, 10**9, 5 * 2**20))
    with pytest.raises(OutputError, match=r"only 5 MiB free, a run needs about 64 MiB"):
        preflight_out(tmp_path / "o")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_preflight_refuses_a_read_only_directory(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(OutputError, match=r"cannot (create|write into) the output directory"):
            preflight_out(ro / "o")
    finally:
        ro.chmod(0o700)


def test_unwritable_out_is_found_before_the_audit(capsys, tmp_path, monkeypatch):
    """A read-only file system (simulated: root ignores permissions) is exit 4 at once."""
    import builtins

    real_open = builtins.open

    def ro_open(file, mode="r", *a, **kw):
        if "w" in mode and ".probe-" in str(file):
            raise OSError(errno.EROFS, "Read-only file system", str(file))
        return real_open(file, mode, *a, **kw)

    monkeypatch.setattr(builtins, "open", ro_open)
    import audit.api

    monkeypatch.setattr(audit.api, "run_audit", lambda *a, **k: pytest.fail("audit started"))
    code, _, err = run_cli(capsys, "run", "--out", str(tmp_path / "o"), "-q")
    assert code == 4
    assert "cannot write into the output directory: Read-only file system" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("option", ["--out", "--data", "--previous"])
def test_non_utf8_paths_are_refused_clearly(tmp_path, option):
    bad = os.path.join(os.fsencode(tmp_path), b"dir-\xff")
    os.mkdir(bad)
    args = {"--out": str(tmp_path / "o"), "--data": str(SAMPLE)}
    args[option] = bad
    proc = subprocess.run(
        [sys.executable, "-m", "audit", "run", "--policy", str(POLICIES), *[x for kv in args.items() for x in kv],
         "-q"], capture_output=True, cwd=ROOT, env={**os.environ, **EPOCH},
    )
    assert proc.returncode == 4, proc.stderr
    assert b"dir-\\xff' is not valid UTF-8" in proc.stderr
    assert b"Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists() or option == "--out"


# --- kills --------------------------------------------------------------------------------------

KILL_AT_MOVE = r"""
import os, signal, sys
import audit.outputset as o
n = int(os.environ["KILL_AT_MOVE"])
real = os.replace
count = [0]
def replace(src, dst):
    # moves of the commit: from the staging directory into --out, and run.json last
    if ".staging-" in os.fspath(src) and ".staging-" not in os.fspath(dst):
        count[0] += 1
        if count[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst)
o.os.replace = replace
from audit.cli import main
main(sys.argv[1:])
"""


def _cli(args: list[str], env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", KILL_AT_MOVE, *args], cwd=ROOT,
                            env={**os.environ, **EPOCH, "KILL_AT_MOVE": "0", **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


#: Seconds one run of the CLI may take (a 1M-entry run on a busy machine: KILL_TEST_TIMEOUT=7200).
CHILD_TIMEOUT = int(os.environ.get("KILL_TEST_TIMEOUT", "600"))


def _wait(proc: subprocess.Popen) -> tuple[bytes, bytes]:
    """``proc.communicate()``; a child over the timeout is killed, not left running."""
    try:
        return proc.communicate(timeout=CHILD_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _reference(tmp_path: Path, name: str, args: list[str]) -> dict[str, str]:
    ref = tmp_path / name
    proc = _cli([*args, "--out", str(ref)])
    _, err = _wait(proc)
    assert proc.returncode in (0, 1), err
    return set_files(ref)


def _assert_old_or_new(out: Path, old: dict[str, str], new: dict[str, str]) -> str:
    files = set_files(out)  # a reader: finishes an interrupted commit, refuses a mixed set
    assert files in (old, new), "--out is neither the previous nor the new complete set"
    return "old" if files == old else "new"


def test_kill_during_the_commit_leaves_the_old_or_the_new_set(tmp_path):
    common = ["run", "--policy", str(POLICIES), "--data", str(SAMPLE), "--gx", "off", "-q"]
    old_args = [*common, "--no-report", "--period", "2026-05"]
    new_args = [*common, "--lang", "en", "--period", "2026-06"]
    old, new = _reference(tmp_path, "ref-old", old_args), _reference(tmp_path, "ref-new", new_args)
    assert old != new
    out = tmp_path / "out"
    seen = set()
    n = len(new) + 1  # the files' moves, then run.json's
    for k in (1, n // 2, n, n + 1):
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(tmp_path / "ref-old", out)
        proc = _cli([*new_args, "--out", str(out)], env={"KILL_AT_MOVE": str(k)})
        _wait(proc)
        assert (proc.returncode == -signal.SIGKILL) == (k <= n), f"kill at move {k}"
        seen.add(_assert_old_or_new(out, old, new))
    assert seen == {"new"}  # the journal is written before the first move: the new set wins


@pytest.mark.slow
def test_kill_at_several_moments_of_a_generated_run(tmp_path):
    """SIGKILL at several moments of a real run; after each kill ``--out`` is the previous or the
    new complete set. The suite uses ~12k time entries; ``KILL_TEST_TICKETS=32000`` gives the
    ~100k-entry run of docs/outputs.md (about two minutes), 320000 about 1M (with
    ``KILL_TEST_TIMEOUT`` raised on a busy machine)."""
    tickets = os.environ.get("KILL_TEST_TICKETS", "4000")
    data = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "audit", "sample-data", "--tickets", tickets, "--months", "2",
                    "--out", str(data), "-q"], cwd=ROOT, check=True, capture_output=True)
    entries = sum(1 for _ in (data / "time_entries.csv").open("rb")) - 1
    assert entries > 1000
    common = ["run", "--policy", str(POLICIES), "--data", str(data), "-q", "--gx", "off"]
    old_args, new_args = [*common, "--lang", "de", "--period", "2026-05"], [*common, "--lang", "en"]
    old = _reference(tmp_path, "ref-old", old_args)
    t0 = time.monotonic()
    new = _reference(tmp_path, "ref-new", new_args)
    duration = time.monotonic() - t0
    out = tmp_path / "out"
    shutil.copytree(tmp_path / "ref-old", out)
    outcomes = []
    for fraction in (0.25, 0.5, 0.75, 0.9, 1.1):
        proc = _cli([*new_args, "--out", str(out)])
        time.sleep(duration * fraction)
        proc.send_signal(signal.SIGKILL)
        _wait(proc)
        outcomes.append(_assert_old_or_new(out, old, new))
        if outcomes[-1] == "new":  # back to the old set for the next kill
            shutil.rmtree(out)
            shutil.copytree(tmp_path / "ref-old", out)
    print(f"{entries} time entries, run {duration:.1f} s, outcomes {outcomes}")
    assert "old" in outcomes
