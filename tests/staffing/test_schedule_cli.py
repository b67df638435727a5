"""The ``carekit staffing schedule`` command."""

from __future__ import annotations

import builtins
import io
import json
import pathlib
from typing import Any

import pytest
from tests._extras import need

from carekit.cli import main
from carekit.staffing._cli import read_roster

need("highspy", "schedule")
icalendar = need("icalendar", "test-extras")

DATA = pathlib.Path(__file__).resolve().parents[2] / "src" / "carekit" / "data"
FORECAST = DATA / "staffing_forecast.csv"
PLAN = ["staffing", "schedule", str(FORECAST), "--aht", "300", "--service-level", "80/20",
        "--shrinkage", "0.3", "--max-occupancy", "0.85"]
TEMPLATES = (
    "name,hours,earliest,latest,step_minutes,breaks,days,cost_per_hour,max_count\n"
    "full,8,07:00,14:00,30,0:30@3:00-5:00,Mon-Sat,1,\n"
    "part,4,08:00,18:00,30,,,1.05,\n"
)


def write(tmp_path: pathlib.Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_schedule_prints_the_roster_and_writes_csv_and_ics(tmp_path: pathlib.Path) -> None:
    templates = write(tmp_path, "t.csv", TEMPLATES)
    out = io.StringIO()
    status = main([*PLAN, "--templates", templates, "--roster-shrinkage", "0.15",
                   "--csv", str(tmp_path / "r.csv"), "--ics", str(tmp_path / "r.ics")], out=out)
    text = out.getvalue()
    assert status == 0
    assert text.splitlines()[0].split()[:4] == ["shift", "first", "start", "hours"]
    assert "proven optimal" in text and "lower bound" in text
    assert "coverage: 0 of 24 intervals short, 0 under target" in text
    # the CSV is the roster `carekit staffing --roster` reads: same coverage
    roster = read_roster(tmp_path / "r.csv")
    check = io.StringIO()
    assert main(["staffing", str(FORECAST), "--aht", "300", "--service-level", "80/20",
                 "--shrinkage", "0.3", "--max-occupancy", "0.85", "--roster",
                 str(tmp_path / "r.csv"), "--roster-shrinkage", "0.15"], out=check) == 0
    assert "0 of 24 intervals under target, no gaps" in check.getvalue()
    calendar = icalendar.Calendar.from_ical((tmp_path / "r.ics").read_bytes())
    events = calendar.walk("VEVENT")
    assert len(events) == len(roster.shifts)
    assert sum(int(e["X-CAREKIT-AGENTS"]) for e in events) == sum(s.agents for s in roster)
    paid = float(text.split(" paid hours")[0].rsplit(" ", 1)[1])
    assert paid == sum(s.agents * s.duration.total_seconds() / 3600 for s in roster)


def test_schedule_json_and_a_budget(tmp_path: pathlib.Path) -> None:
    templates = write(tmp_path, "t.csv", TEMPLATES)
    out = io.StringIO()
    assert main([*PLAN, "--templates", templates, "--format", "json"], out=out) == 0
    full = json.loads(out.getvalue())
    assert full["status"] == "optimal" and full["short"] == []
    assert len(full["coverage"]) == 24
    out = io.StringIO()
    budget = full["paid_hours"] - 40
    assert main([*PLAN, "--templates", templates, "--budget-hours", str(budget)],
                out=out) == 0
    text = out.getvalue()
    assert f"budget: {budget:g} hours, volume-weighted service level" in text
    assert "short:" in text


def test_templates_that_cannot_cover_exit_1_and_name_the_intervals(
    tmp_path: pathlib.Path,
) -> None:
    templates = write(tmp_path, "t.csv", "name,hours,earliest,latest\nlate,4,12:00,12:00\n")
    out = io.StringIO()
    assert main([*PLAN, "--templates", templates], out=out) == 1
    text = out.getvalue()
    assert "templates cannot cover every interval" in text
    assert "short: 16 intervals (Mon 08:00, Mon 08:30" in text


def test_templates_that_place_no_shift_exit_1_not_a_time_out(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
) -> None:
    templates = write(tmp_path, "t.csv", "name,hours,earliest,latest\nnight,4,23:00,23:30\n")
    out = io.StringIO()
    assert main([*PLAN, "--templates", templates], out=out) == 1
    text = out.getvalue()
    assert "roster: 0 shifts" in text and "templates cannot cover every interval" in text
    assert "short: 24 intervals (Mon 08:00" in text
    assert "max-seconds" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("templates", "fragment"),
    [
        ("name\nx\n", "t.csv must have columns ['name', 'hours'] (missing ['hours']"),
        ("name,hours\nx,eight\n", "t.csv line 2: hours must be a number of hours"),
        ("name,hours,breaks\nx,8,30min\n", "t.csv line 2: breaks must look like 0:30@3:00-5:00"),
        ("name,hours,days\nx,8,Funday\n", "t.csv line 2: days must be weekdays such as Mon-Fri"),
        ("name,hours,breaks\nx,8,0:30@9:30\n",
         "t.csv line 2: the break after 9h30m (30 min) of template 'x' ends at 10h, after the "
         "shift's 8h; a break must end within its shift"),
        ("name,hours,earliest\nx,8,noon\n", "t.csv line 2: earliest must be a time of day"),
        ("name,hours,step_minutes\nx,8,20\n",
         "template 'x' step must divide the plan's interval (0:30:00)"),
        ("name,hours,cost_per_hour\nx,8,cheap\n", "t.csv line 2: cost_per_hour must be a number"),
        ("name,hours,max_count\nx,8,lots\n", "t.csv line 2: max_count must be a whole number"),
        ("name,hours\nx,-8\n",
         "t.csv line 2: hours must be a number of hours above 0 such as 8 or 7.5 (got '-8')"),
        ("name,hours\nx,0\n", "t.csv line 2: hours must be a number of hours above 0"),
        ("name,hours\n", "t.csv holds no template: add a row such as 'day,8,08:00,12:00'"),
        # a bare number in a break is hours or minutes? (3 was read as 3 minutes)
        ("name,hours,breaks\nx,8,0:30@3-5\n",
         "t.csv line 2: breaks must give each time as H:MM (write 3:00 for 3 hours or 0:03 for "
         "3 minutes) (got '3' as the start in '0:30@3-5'); a break reads 0:30@3:00-5:00"),
        ("name,hours,breaks\nx,8,90@3:00\n",
         "(write 90:00 for 90 hours or 1:30 for 90 minutes) (got '90' as the length in"),
        ("name,hours,breaks\nx,8,0:30@3:00-x\n",
         "breaks must give each time as H:MM such as 3:30 (got 'x' as the latest start in"),
        # a misspelt optional column would be ignored: every shift would cost 1 an hour
        ("name,hours,cost\nx,8,2\n",
         "t.csv has unknown column(s) ['cost'], which would be ignored; the columns are "
         "['name', 'hours', 'earliest', 'latest', 'step_minutes', 'breaks', 'days', "
         "'cost_per_hour', 'max_count']"),
        ("name,hours,Breaks\nx,8,0:30@3:00\n", "(did you mean 'breaks' for 'Breaks'?)"),
        # a blank line does not shift the line number
        ("name,hours\nx,8\n\ny,eight\n", "t.csv line 4: hours must be a number of hours"),
    ],
)
def test_bad_template_files_are_one_line_errors(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], templates: str, fragment: str
) -> None:
    path = write(tmp_path, "t.csv", templates)
    assert main([*PLAN, "--templates", path], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err.startswith("carekit staffing schedule: error: ")
    assert fragment in err and err.count("\n") == 1


@pytest.mark.parametrize(("option", "value", "fragment"), [
    ("--max-seconds", "-1", "--max-seconds must be > 0 (got -1.0)"),
    ("--budget-hours", "-5", "--budget-hours must be > 0 (got -5.0)"),
    ("--roster-shrinkage", "2", "--roster-shrinkage must lie in [0, 1) (got 2.0)"),
])
def test_bad_options_are_named_as_typed(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], option: str, value: str,
    fragment: str,
) -> None:
    # The library's own names (max_seconds, budget_hours, shrinkage) are not what was typed.
    templates = write(tmp_path, "t.csv", TEMPLATES)
    assert main([*PLAN, "--templates", templates, option, value], out=io.StringIO()) == 2
    assert fragment in capsys.readouterr().err


def test_without_highspy_the_command_says_what_to_install(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_highspy(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "highspy":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_highspy)
    templates = write(tmp_path, "t.csv", TEMPLATES)
    assert main([*PLAN, "--templates", templates], out=io.StringIO()) == 2
    assert 'pip install "carekit[schedule]"' in capsys.readouterr().err


def test_help_names_the_two_word_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["staffing", "schedule", "--help"])
    text = capsys.readouterr().out
    assert text.startswith("usage: carekit staffing schedule")
    assert "--templates TEMPLATES.csv" in text and "--budget-hours H" in text
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "staffing schedule" in capsys.readouterr().out
