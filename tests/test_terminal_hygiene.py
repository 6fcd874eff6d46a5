"""Terminal and file-system hygiene (issue 14): no control character from the data reaches the
terminal; export files that are symbolic links leaving the data directory are refused unless
``--follow-symlinks``, and nothing of such a file appears in a message."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from audit.cli import main
from audit.errors import terminal_safe

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
SAMPLE = ROOT / "sample_data"
OSC = "\x1b]0;pwned\x07"  # an OSC sequence: retitles the terminal window
CSI = "\x1b[2J"  # clears the screen


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_terminal_safe_escapes_controls_and_keeps_newlines():
    assert terminal_safe(f"a{OSC}b\n\tc{CSI}\x9b\u202ed") == "a\\x1b]0;pwned\\x07b\n\tc\\x1b[2J\\x9b\\u202ed"
    assert terminal_safe("Bäckerei € ok") == "Bäckerei € ok"
    assert terminal_safe("bad-\udcff") == "bad-\\xff"


def test_explain_does_not_print_control_characters_from_a_subject(tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    path = data / "tickets.csv"
    text = path.read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.startswith("T-100001,"))
    fields = line.split(",")
    fields[9] = f"Hilfe{OSC}{CSI}"
    path.write_text(text.replace(line, ",".join(fields)), encoding="utf-8")
    code, out, err = run_cli(capsys, "explain", "--ticket", "T-100001", "--policy", str(POLICIES),
                             "--data", str(data))
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out
    assert "Hilfe\\x1b]0;pwned\\x07\\x1b[2J" in out


def test_error_messages_do_not_print_control_characters(tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    path = data / "services.csv"
    text = path.read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    path.write_text(header.replace("product", f"pro{CSI}duct") + "\n" + rest, encoding="utf-8")
    code, _, err = run_cli(capsys, "run", "--policy", str(POLICIES), "--data", str(data),
                           "--out", str(tmp_path / "o"), "-q", "--gx", "off")
    assert code == 3
    assert "\x1b" not in err and "pro\\x1b[2Jduct" in err


def _linked(tmp_path: Path, target_text: str) -> Path:
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    outside = tmp_path / "elsewhere" / "tickets.csv"
    outside.parent.mkdir()
    outside.write_text(target_text, encoding="utf-8")
    (data / "tickets.csv").unlink()
    os.symlink(outside, data / "tickets.csv")
    return data


def test_a_symlink_leaving_the_data_directory_is_refused_unread(tmp_path, capsys):
    data = _linked(tmp_path, "root:x:0:0:SECRET-FIRST-LINE\nmore\n")
    code, _, err = run_cli(capsys, "run", "--policy", str(POLICIES), "--data", str(data),
                           "--out", str(tmp_path / "o"), "-q", "--gx", "off")
    assert code == 3
    assert "tickets.csv: is a symbolic link to a file outside the data directory" in err
    assert "--follow-symlinks" in err
    assert "SECRET" not in err


def test_follow_symlinks_reads_it(tmp_path, capsys):
    data = _linked(tmp_path, (SAMPLE / "tickets.csv").read_text(encoding="utf-8"))
    code, out, err = run_cli(capsys, "run", "--policy", str(POLICIES), "--data", str(data),
                             "--out", str(tmp_path / "o"), "-q", "--gx", "off", "--no-report",
                             "--follow-symlinks")
    assert code == 1, err
    assert "rows:" in out


def test_a_symlink_inside_the_data_directory_is_fine(tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(SAMPLE, data)
    (data / "exports").mkdir()
    shutil.move(data / "tickets.csv", data / "exports" / "tickets-2026.csv")
    os.symlink(Path("exports") / "tickets-2026.csv", data / "tickets.csv")
    code, _, err = run_cli(capsys, "run", "--policy", str(POLICIES), "--data", str(data),
                           "--out", str(tmp_path / "o"), "-q", "--gx", "off", "--no-report")
    assert code == 1, err
