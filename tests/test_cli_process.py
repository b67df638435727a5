"""The ``carekit`` command as a process: what it imports to start, Ctrl-C, usage errors,
progress on a terminal."""

from __future__ import annotations

import io
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import pytest
from tests._extras import need

from carekit import _cli_io
from carekit.cli import main

POSIX = pytest.mark.skipif(os.name != "posix", reason="signals, FIFOs and ptys are POSIX")

#: Runs the command as the installed script does, then prints the modules it imported.
_IMPORTS = (
    "import json, sys\n"
    "from carekit.cli import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "except SystemExit:\n"
    "    pass\n"
    "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
)
#: modules that only running a command may import
_HEAVY = (
    "carekit.staffing", "carekit.journeys", "carekit.promises", "carekit.metrics",
    "carekit.plugins", "carekit.calendar", "carekit.channels", "pluggy", "attrs", "attr",
    "dateutil", "sqlite3", "numpy", "asyncio", "importlib.metadata", "csv", "tqdm",
    "zoneinfo", "decimal", "fractions", "typing",
)


def _imported(*argv: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTS, *argv], capture_output=True, text=True, timeout=60,
        check=False,
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("argv", [
    ["--version"], ["--help"], [], ["staffing", "--help"], ["staffing", "schedule", "--help"],
    ["metrics", "--help"], ["promise", "--help"], ["journey", "replay", "--help"],
    ["worker", "--help"], ["demo", "--help"],
])
def test_version_and_help_import_no_capability(argv: list[str]) -> None:
    # About 200 ms of CPU for --version, when every command imported everything; the
    # timing is in benchmarks/cli.py, the import graph here.
    modules = _imported(*argv)
    assert "carekit.cli" in modules and "carekit._cli_args" in modules
    heavy = sorted(m for m in modules if m in _HEAVY or m.startswith(tuple(
        f"{h}." for h in _HEAVY)))
    assert heavy == [], heavy


def test_running_a_command_imports_only_that_capability(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "responses.csv"
    path.write_text("nps\n9\n10\n3\n", encoding="utf-8")
    modules = _imported("metrics", str(path), "--score-column", "nps")
    assert "carekit.metrics" in modules
    assert not {"carekit.staffing", "carekit.promises", "carekit.journeys.worker"} & modules


def test_no_arguments_is_the_usage_on_stderr_and_status_2() -> None:
    done = subprocess.run([sys.executable, "-m", "carekit.cli"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("usage: carekit [-h] [--version] COMMAND ...")


def test_python_dash_m_carekit_is_the_command() -> None:
    # Regression: "No module named carekit.__main__" for `python -m carekit`.
    done = subprocess.run([sys.executable, "-m", "carekit", "--version"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("carekit ")
    done = subprocess.run([sys.executable, "-m", "carekit"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: carekit [-h] [--version] COMMAND ...")


@pytest.mark.parametrize(("argv", "prog"), [
    (["metrics", "x.csv", "--score-column", "nps", "--bogus"], "carekit metrics"),
    (["staffing", "schedule", "f.csv", "--aht", "300", "--service-level", "80/20",
      "--templates", "t.csv", "--nope", "1"], "carekit staffing schedule"),
    (["journey", "replay", "e.csv", "--bogus"], "carekit journey replay"),
    (["worker", "--store", "x.db", "--bogus"], "carekit worker"),
])
def test_an_unknown_option_shows_its_subcommands_usage(
    argv: list[str], prog: str, capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv, out=io.StringIO())
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: {prog} [-h]")
    assert "usage: carekit [-h] [--version] COMMAND" not in err
    assert err.splitlines()[-1].startswith(f"{prog}: error: unrecognized arguments: ")
    assert err.splitlines()[-1].endswith(f"; see {prog} --help")


def _default_sigint() -> None:  # pragma: no cover - runs in the child
    # A child of a shell without job control inherits SIGINT ignored: restore the default,
    # which Python turns into KeyboardInterrupt, as in an interactive terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@POSIX
@pytest.mark.parametrize("command", ["metrics", "promise", "journey"])
def test_ctrl_c_is_one_line_and_exit_status_130(tmp_path: pathlib.Path, command: str) -> None:
    # The command reads a FIFO we hold open: it is inside its work, waiting for more rows,
    # when SIGINT arrives (the docs promise one line and 130, no traceback).
    fifo = tmp_path / "rows.csv"
    os.mkfifo(fifo)
    argv = {
        "metrics": ["metrics", str(fifo), "--score-column", "nps"],
        "promise": ["promise", str(fifo)],
        "journey": ["journey", "replay", str(fifo)],
    }[command]
    header, row = {
        "metrics": ("nps\n", "9\n"),
        "promise": ("ordered_at,delivered_at\n",
                    "2026-01-05T10:00:00+00:00,2026-01-07T10:00:00+00:00\n"),
        "journey": ("journey_id,event,at\n", "o-1,place,2026-03-02T09:00:00+00:00\n"),
    }[command]
    child = subprocess.Popen(
        [sys.executable, "-m", "carekit.cli", *argv], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint,  # noqa: PLW1509
    )
    try:
        deadline = time.monotonic() + 30
        fd = None
        while fd is None:  # opening for writing waits until the command opened the file
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                assert child.poll() is None, child.communicate(timeout=10)
                assert time.monotonic() < deadline, "the command never opened its input"
                time.sleep(0.02)
        with os.fdopen(fd, "w") as writer:
            writer.write(header + row * 50)
            writer.flush()
            time.sleep(0.3)  # the command is reading, waiting for the rest
            child.send_signal(signal.SIGINT)
            out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=10)
    assert child.returncode == 130, err
    assert out == ""
    assert err == f"carekit {argv[0]}: interrupted\n"


@POSIX
def test_progress_on_a_terminal_with_tqdm(tmp_path: pathlib.Path) -> None:
    need("tqdm", "progress")
    import fcntl
    import pty
    import struct
    import termios

    path = tmp_path / "big.csv"
    path.write_text("nps,note\n" + f"9,{'x' * 90}\n" * 12_000, encoding="utf-8")
    leader, follower = pty.openpty()
    # a terminal of 24 x 100 characters (a new pty has none, and tqdm fits the bar to it)
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    chunks: list[bytes] = []

    def drain() -> None:  # read the terminal while the command writes to it
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other end is closed
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "carekit.cli", "metrics", str(path), "--score-column",
             "nps"], stdout=subprocess.PIPE, stderr=follower, timeout=120, check=False,
        )
    finally:
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    assert done.returncode == 0
    assert b"reading big.csv" in b"".join(chunks)
    assert b"reading" not in done.stdout and b"\r" not in done.stdout


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_without_tqdm_is_silent_on_a_terminal(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm raises ImportError
    path = tmp_path / "big.csv"
    path.write_text("x" * 1_100_000, encoding="utf-8")
    terminal = _Terminal()
    with _cli_io.file_progress(path, "auto", terminal) as advance:
        assert advance is None
    assert terminal.getvalue() == ""
    with pytest.raises(_cli_io.CareKitError, match=r'progress needs tqdm: pip install '
                       r'"carekit\[progress\]"'), _cli_io.file_progress(path, "always", terminal):
        pass


def test_progress_is_only_for_large_files_and_never_when_told(tmp_path: pathlib.Path) -> None:
    need("tqdm", "progress")
    small = tmp_path / "small.csv"
    small.write_text("nps\n9\n", encoding="utf-8")
    terminal = _Terminal()
    with _cli_io.file_progress(small, "auto", terminal) as advance:
        assert advance is None
    big = tmp_path / "big.csv"
    big.write_text("x" * 1_100_000, encoding="utf-8")
    with _cli_io.file_progress(big, "never", terminal) as advance:
        assert advance is None
    with _cli_io.file_progress(big, "auto", terminal) as advance:
        assert advance is not None
        advance(1_100_000)
    assert "reading big.csv" in terminal.getvalue()
