"""The ``carekit`` command: version, help, demo, errors."""

from __future__ import annotations

import io
import pathlib
import subprocess
import sys

import pytest

import carekit
from carekit.cli import main


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"carekit {carekit.__version__}"


def test_no_command_prints_the_usage_on_stderr_and_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, text = _run()
    assert status == 2
    assert text == ""
    err = capsys.readouterr().err
    assert err.startswith("usage: carekit")
    assert "demo" in err and "staffing schedule" in err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("demo", "staffing", "promise", "metrics", "journey"):
        assert command in text


def test_every_option_of_every_command_has_a_help_text() -> None:
    # `carekit staffing --help` listed --format with nothing to say what it writes.
    import argparse

    from carekit.cli import build_parser

    bare = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif action.option_strings and not action.help:
                bare.append(f"{path} {action.option_strings[-1]}")

    walk(build_parser(), "carekit")
    walk(build_parser("staffing schedule"), "carekit")
    walk(build_parser("worker"), "carekit")
    assert bare == []


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["forecast"])
    assert done.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_demo_shows_channels_and_the_calendar(tmp_path: pathlib.Path) -> None:
    status, text = _run("demo", "--workdir", str(tmp_path))
    assert status == 0
    assert "== carekit" in text
    for channel in ("email", "phone", "sms", "chat", "web", "in_store"):
        assert channel in text
    assert "== Business calendar ==" in text
    # described in words, not as a repr
    assert "BusinessCalendar(" not in text
    assert ("open Mon-Fri (Europe/London time), closed on Fri 25 Dec 2026, Mon 28 Dec 2026; "
            "orders after 14:00 count from the next business day") in text
    # Wed 23 Dec 15:30 UTC is after the 14:00 London cut-off: counts from Thu 24 Dec;
    # Christmas (Fri), the weekend and the Boxing Day holiday (Mon 28) are skipped.
    assert "counts from        Thu 24 Dec" in text
    assert "+3  business days  Thu 31 Dec" in text
    assert "by Tue 29 Dec 09:30" in text


def test_demo_leaves_the_sample_files_for_the_other_commands(tmp_path: pathlib.Path) -> None:
    status, text = _run("demo", "--workdir", str(tmp_path))
    assert status == 0
    samples = tmp_path / "samples"
    assert sorted(p.name for p in samples.iterdir()) == [
        "journeys_events.csv", "metrics_responses.csv", "promises_orders.csv",
        "staffing_forecast.csv", "staffing_roster.csv",
    ]
    assert f"The sample data is in {samples}" in text
    # The journey store was closed cleanly: no write-ahead log left beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "journeys.db", "samples", "staffing_plan.csv", "worker-demo.db"]
    # The commands the docs show run on them.
    status, text = _run("promise", str(samples / "promises_orders.csv"), "--segment",
                        "product", "--backtest")
    assert status == 0 and "Walk-forward backtest" in text
    status, text = _run("metrics", str(samples / "metrics_responses.csv"), "--score-column",
                        "nps", "--by", "store", "--compare-periods")
    assert status == 0 and "east" in text
    status, text = _run("staffing", str(samples / "staffing_forecast.csv"), "--aht", "300",
                        "--service-level", "80/20", "--roster",
                        str(samples / "staffing_roster.csv"))
    assert status == 0 and "coverage:" in text
    status, text = _run("journey", "replay", str(samples / "journeys_events.csv"))
    assert status == 0
    # Running it again into the same folder is fine.
    assert _run("demo", "--workdir", str(tmp_path))[0] == 0


@pytest.mark.slow
def test_the_installed_command_runs_the_demo_from_any_folder(tmp_path: pathlib.Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "carekit.cli", "demo"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "== Business calendar ==" in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_a_closed_pipe_ends_the_command_quietly(capsys: pytest.CaptureFixture[str]) -> None:
    # `carekit demo | head -3`: once the reader goes away every write raises BrokenPipeError;
    # the command stops with status 0 and no error message.
    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            if self.tell() > 200:
                raise BrokenPipeError(32, "Broken pipe")
            return super().write(text)

    assert main(["demo"], out=ClosedPipe()) == 0
    assert capsys.readouterr().err == ""


def test_demo_in_a_temporary_folder_says_so() -> None:
    status, text = _run("demo")
    assert status == 0
    assert "--workdir DIR" in text.splitlines()[-1]


@pytest.mark.parametrize(("argv", "header"), [
    (["staffing", "--aht", "300", "--service-level", "80/20"], "interval_start;volume"),
    (["promise"], "ordered_at;delivered_at"),
    (["metrics", "--score-column", "nps"], "date\tnps"),
    (["journey", "replay"], "journey_id;event;at"),
])
def test_a_semicolon_or_tab_separated_file_is_named_as_such(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], argv: list[str], header: str,
) -> None:
    # Regression: Excel's "CSV" where the decimal mark is a comma uses semicolons, and the
    # error said the columns were missing, showing one column named 'date;nps'.
    path = tmp_path / "export.csv"
    path.write_text(f"{header}\nx\n", encoding="utf-8")
    assert main([argv[0], *(argv[1:2] if argv[0] == "journey" else []), str(path),
                 *(argv[1:] if argv[0] != "journey" else [])], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    word = "tabs" if "\t" in header else "semicolons"
    assert f"export.csv line 1: the header {header!r} is separated by {word}, not commas; " \
        "carekit reads comma-separated CSV (in Excel: save as CSV UTF-8 (Comma delimited))" in err
    assert err.count("\n") == 1


def test_demo_workdir_that_is_a_file_is_named_as_such(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Regression: "cannot open 'notes.txt': File exists", as if the file were to be opened.
    path = tmp_path / "notes.txt"
    path.write_text("keep me\n", encoding="utf-8")
    status, text = _run("demo", "--workdir", str(path))
    assert (status, text) == (2, "")
    assert capsys.readouterr().err == (
        f"carekit demo: error: --workdir {str(path)!r} is a file; give a folder (created if "
        "missing) for the demo's store, outputs and samples\n")
    assert path.read_text(encoding="utf-8") == "keep me\n"


@pytest.mark.parametrize("command", [
    ["staffing", "--aht", "180", "--service-level", "80/20"],
    ["promise"],
    ["metrics", "--score-column", "nps"],
    ["journey", "replay"],
])
def test_unreadable_csv_is_an_error_not_a_traceback(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"\xff\xfe\x00")
    assert main([*command, str(latin)]) == 2
    assert "latin.csv: the file is not UTF-8 text" in capsys.readouterr().err
    huge = tmp_path / "huge.csv"
    huge.write_text("interval_start,volume,nps,journey_id,event,at,ordered_at,delivered_at\n"
                    + "x" * 200_000 + "\n",
                    encoding="utf-8")
    assert main([*command, str(huge)]) == 2
    assert "huge.csv line 2: a field is longer than 131,072 characters" in capsys.readouterr().err
