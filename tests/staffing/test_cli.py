"""The ``carekit staffing`` command and the staffing demo section."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import pathlib
import sys

import pytest
from tests._extras import need

from carekit.cli import main
from carekit.errors import CareKitError
from carekit.staffing import ServiceTarget, plan, save_chart
from carekit.staffing._cli import read_roster

DATA = pathlib.Path(__file__).resolve().parents[2] / "src" / "carekit" / "data"
FORECAST = DATA / "staffing_forecast.csv"
ROSTER = DATA / "staffing_roster.csv"
BASE = ["staffing", str(FORECAST), "--aht", "300", "--service-level", "80/20",
        "--shrinkage", "0.3", "--max-occupancy", "0.85"]


def run(*extra: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main([*BASE, *extra], out=out)
    return status, out.getvalue()


def test_table() -> None:
    status, text = run()
    assert status == 0
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["interval", "volume", "agents", "sched"]
    assert len(lines) == 1 + 24 + 1
    assert "scheduled agent-hours" in lines[-1]


def test_aht_and_patience_take_seconds_or_a_length_with_its_unit() -> None:
    def plan_with(aht: str, patience: str) -> str:
        out = io.StringIO()
        argv = ["staffing", str(FORECAST), "--aht", aht, "--service-level", "80/20",
                "--patience", patience, "--format", "json"]
        assert main(argv, out=out) == 0
        return out.getvalue()

    # 5 minutes is 300 seconds, 2 minutes 120: the same plan whichever way it is written.
    seconds = plan_with("300", "120")
    assert plan_with("5min", "2min") == seconds
    assert plan_with("PT5M", "PT2M") == seconds
    assert plan_with("300s", "120s") == seconds
    assert plan_with("400", "120") != seconds


def test_a_handle_time_that_is_no_length_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for bad in ("ten", "5 parsecs", "min"):
        with pytest.raises(SystemExit) as exit_info:
            main(["staffing", str(FORECAST), "--aht", bad, "--service-level", "80/20"])
        assert exit_info.value.code == 2
        assert "expected seconds (300) or a length with its unit" in capsys.readouterr().err


def test_csv_and_json_agree() -> None:
    _, text = run("--format", "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    _, doc_text = run("--format", "json")
    doc = json.loads(doc_text)
    assert len(rows) == len(doc["intervals"]) == 24
    assert [int(r["scheduled"]) for r in rows] == [i["scheduled"] for i in doc["intervals"]]
    assert doc["max_occupancy"] == 0.85
    assert doc["scheduled_hours"] == sum(i["scheduled"] for i in doc["intervals"]) / 2



def test_schedule_csv_has_the_shifts_and_coverage_of_the_json(tmp_path: pathlib.Path) -> None:
    need("highspy", "schedule")
    templates = tmp_path / "t.csv"
    templates.write_text(
        "name,hours,earliest,latest,step_minutes,breaks,days\n"
        "full,8,07:00,14:00,30,0:30@3:00-5:00,Mon-Sat\n"
        "part,4,08:00,18:00,30,,\n", encoding="utf-8")
    args = ["staffing", "schedule", *BASE[1:], "--templates", str(templates)]
    as_json, as_csv = io.StringIO(), io.StringIO()
    assert main([*args, "--format", "json"], out=as_json) == 0
    assert main([*args, "--format", "csv"], out=as_csv) == 0
    data = json.loads(as_json.getvalue())
    # two tables, each with its header row: the roster (the columns --roster reads), then
    # the coverage per interval
    tables: list[list[dict[str, str]]] = []
    header: list[str] = []
    for row in csv.reader(io.StringIO(as_csv.getvalue(), newline="")):
        if row[0] in ("shift", "interval_start"):
            header = row
            tables.append([])
        else:
            tables[-1].append(dict(zip(header, row, strict=True)))
    shifts, cover = tables
    assert len(shifts) == len(data["shifts"]) > 0
    for got, want in zip(shifts, data["shifts"], strict=True):
        start = dt.datetime.fromisoformat(want["start"])
        spans = " ".join(
            f"{start + dt.timedelta(minutes=b['after_minutes']):%H:%M}-"
            f"{start + dt.timedelta(minutes=b['after_minutes'] + b['minutes']):%H:%M}"
            for b in want["breaks"])
        assert (got["shift"], got["start"], float(got["hours"]), int(got["agents"]),
                got["breaks"], got["recurrence"] or None) == (
            want["shift"], want["start"], want["hours"], want["agents"], spans,
            want["recurrence"])
    assert len(cover) == len(data["coverage"]) == 24
    for got, want in zip(cover, data["coverage"], strict=True):
        assert (got["interval_start"], int(got["required"]), got["meets_target"]) == (
            want["interval_start"], want["required"], str(want["meets_target"]))
        for column in ("scheduled", "gap", "service_level"):
            assert float(got[column]) == pytest.approx(want[column], rel=1e-5, abs=1e-9)
    # the roster table reads back as a roster, as the file --csv writes does
    roster = tmp_path / "r.csv"
    roster.write_text(as_csv.getvalue().split("interval_start,")[0], encoding="utf-8")
    assert len(read_roster(roster).shifts) == len(data["shifts"])

def test_roster_coverage_in_every_format() -> None:
    status, text = run("--roster", str(ROSTER))
    assert status == 0
    assert "coverage:" in text and "under target" in text
    # The figures the staffing tutorial quotes for the sample roster (and its chart).
    assert text.rstrip().endswith(
        "coverage: 9 of 24 intervals under target, worst gap -16 at 17:30, "
        "day's service level 67.8% (target 80%)")
    _, doc_text = run("--roster", str(ROSTER), "--format", "json")
    cov = json.loads(doc_text)["coverage"]
    assert cov["intervals_under_target"] == sum(not i["meets_target"] for i in cov["intervals"])
    assert cov["worst_gap"] < 0
    _, csv_text = run("--roster", str(ROSTER), "--format", "csv")
    assert csv_text.splitlines()[0].startswith("interval_start,volume,required,scheduled,gap")


def test_roster_shrinkage_counts_the_rosters_breaks_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, plain = run("--roster", str(ROSTER), "--format", "json")
    _, fair = run("--roster", str(ROSTER), "--format", "json", "--roster-shrinkage", "0.15")
    plan_doc, cov = json.loads(fair), json.loads(fair)["coverage"]
    for interval, req in zip(cov["intervals"], plan_doc["intervals"], strict=True):
        assert interval["required"] == -(-req["agents"] * 20 // 17)  # ceil(agents / 0.85)
        assert interval["agents"] == int(interval["scheduled"] * 17 / 20 + 1e-9)
    assert cov["service_level"] > json.loads(plain)["coverage"]["service_level"]
    status, _ = run("--roster", str(ROSTER), "--roster-shrinkage", "1.5")
    assert status == 2
    assert "shrinkage must lie in [0, 1)" in capsys.readouterr().err


def test_patience_and_concurrency_options() -> None:
    _, plain = run("--format", "json")
    _, chat = run("--format", "json", "--concurrency", "2", "--patience", "60")
    assert json.loads(chat)["scheduled_hours"] < json.loads(plain)["scheduled_hours"]


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_chart(tmp_path: pathlib.Path, suffix: str) -> None:
    need("matplotlib", "plot")
    chart = tmp_path / f"coverage{suffix}"
    status, text = run("--roster", str(ROSTER), "--chart", str(chart))
    assert status == 0
    head = chart.read_bytes()[:200]
    assert head.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in chart.read_bytes()
    # it says where the file went: after the table, or on stderr beside CSV or JSON
    assert text.endswith(f"chart written to {chart.resolve()}\n")


def test_chart_beside_json_is_announced_on_stderr(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
) -> None:
    need("matplotlib", "plot")
    chart = tmp_path / "plan.svg"
    status, text = run("--chart", str(chart), "--format", "json")
    assert status == 0
    assert json.loads(text)["intervals"]
    assert capsys.readouterr().err == f"chart written to {chart.resolve()}\n"


def test_chart_without_matplotlib_is_a_clear_error(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    target = ServiceTarget.parse("80/20")
    p = plan([], aht=300, target=target)
    one = plan([(dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc), 5)], aht=300, target=target)
    with pytest.raises(CareKitError, match=r"pip install 'carekit\[plot\]'"):
        save_chart(tmp_path / "x.png", one)
    with pytest.raises(CareKitError, match="empty plan"):
        save_chart(tmp_path / "x.png", p)
    with pytest.raises(CareKitError, match=r"must end in .png or .svg"):
        save_chart(tmp_path / "x.pdf", p)


def write(tmp_path: pathlib.Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("forecast", "fragment"),
    [
        ("start,volume\n", "must have columns"),
        ("interval_start,volume\n2025-03-03T09:00:00,5\n", "UTC offset"),
        ("interval_start,volume\nyesterday,5\n", "ISO 8601"),
        ("interval_start,volume\n2025-03-03T09:00:00+00:00,lots\n", "volume must be a number"),
        # Named by the file and its line, not by the row's index in the forecast.
        ("interval_start,volume\n2025-03-03T09:00:00+00:00,-4\n",
         "f.csv line 2 volume must be a number of contacts, 0 or more (got '-4')"),
        ("interval_start,volume\n2025-03-03T09:00:00+00:00,nan\n",
         "f.csv line 2 volume must be a number of contacts, 0 or more (got 'nan')"),
        ("interval_start,volume\n2025-03-03T09:00:00+00:00,5\n2025-03-03T09:30:00+00:00,inf\n",
         "f.csv line 3 volume must be a number of contacts, 0 or more (got 'inf')"),
    ],
)
def test_bad_forecast_files(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], forecast: str, fragment: str
) -> None:
    path = write(tmp_path, "f.csv", forecast)
    status = main(["staffing", path, "--aht", "300", "--service-level", "80/20"],
                  out=io.StringIO())
    assert status == 2
    assert fragment in capsys.readouterr().err


def test_roster_shrinkage_without_a_roster_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    # It used to be ignored without a word: there is no roster coverage for it to apply to.
    status = main([*BASE, "--roster-shrinkage", "0.2"], out=io.StringIO())
    assert status == 2
    assert "--roster-shrinkage applies to a --roster's coverage" in capsys.readouterr().err
    status, text = run("--roster", str(ROSTER), "--roster-shrinkage", "0.2")
    assert status == 0 and "coverage" in text.lower()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--service-level", "100/0"], "cannot be met"),
        (["--service-level", "80-20"], "PERCENT/SECONDS"),
        (["--shrinkage", "1"], "shrinkage must lie in [0, 1)"),
        (["--aht", "0"], "aht must be a positive duration"),
    ],
)
def test_bad_options(capsys: pytest.CaptureFixture[str], args: list[str], fragment: str) -> None:
    argv = ["staffing", str(FORECAST), "--aht", "300", "--service-level", "80/20", *args]
    assert main(argv, out=io.StringIO()) == 2
    assert fragment in capsys.readouterr().err


def test_bad_roster_file(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    roster = write(tmp_path, "r.csv", "shift,start,hours,agents,breaks\n"
                   "a,2025-03-03T08:00:00+00:00,8,5,noon\n")
    assert main([*BASE, "--roster", roster], out=io.StringIO()) == 2
    assert "breaks must look like 12:00-12:30" in capsys.readouterr().err


def test_demo_section(tmp_path: pathlib.Path) -> None:
    from carekit.staffing._cli import demo

    out = io.StringIO()
    demo(out, tmp_path)
    text = out.getvalue()
    assert text.startswith("== Staffing ==\n")
    assert "coverage:" in text and "worst gap" in text
    assert (tmp_path / "staffing_plan.csv").exists()


def test_an_interval_that_disagrees_with_the_forecast_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The bundled forecast has a volume every 30 minutes; reading it as 7-minute volumes
    # would staff four times too many people.
    status, _ = run("--interval", "7min")
    assert status == 2
    assert "--interval is 7 minutes but the forecast's intervals start every 30" in (
        capsys.readouterr().err
    )
    for same in ("30min", "30m", "1800s", "0.5h", "PT30M", "pt1800s", "25min 300s"):
        assert run("--interval", same)[0] == 0, same


@pytest.mark.parametrize(("given", "message"), [
    ("30", "argument --interval: '30' has no unit: write 30min for 30 minutes or 30s for 30 "
           "seconds (also 1h or ISO 8601 PT30M)"),
    ("0.5", "'0.5' has no unit: write 0.5min for 0.5 minutes or 0.5s for 0.5 seconds"),
    ("30 fortnights", "expected an interval length with its unit, such as 30min, 1800s, 1h "
                      "or PT30M (got '30 fortnights')"),
    ("P1D", "expected an interval length with its unit"),
    ("0min", "expected an interval length above zero, such as 30min (got '0min')"),
    ("1e400s", "expected an interval length with its unit"),
])
def test_a_bare_or_unknown_interval_unit_is_refused(
    capsys: pytest.CaptureFixture[str], given: str, message: str,
) -> None:
    # --interval 30 used to read minutes while the library's interval=30 reads seconds.
    with pytest.raises(SystemExit) as done:
        run("--interval", given)
    err = capsys.readouterr().err
    assert done.value.code == 2
    assert message in err, err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        # the same interval twice
        ("2025-03-03T09:00:00+00:00,5\n2025-03-03T09:30:00+00:00,6\n"
         "2025-03-03T09:30:00+00:00,7\n",
         "f.csv line 4 interval_start '2025-03-03T09:30:00+00:00' repeats the previous row's "
         "'2025-03-03T09:30:00+00:00'; the rows must be in time order, one per interval"),
        # out of order
        ("2025-03-03T10:00:00+00:00,5\n2025-03-03T09:00:00+00:00,6\n",
         "f.csv line 3 interval_start '2025-03-03T09:00:00+00:00' is before the previous "
         "row's '2025-03-03T10:00:00+00:00'; the rows"),
        # offsets mixed: 10:30+01:00 is 09:30 UTC
        ("2025-03-03T10:00:00+00:00,5\n2025-03-03T10:30:00+01:00,6\n",
         "f.csv line 3 interval_start '2025-03-03T10:30:00+01:00' is before the previous "
         "row's '2025-03-03T10:00:00+00:00' (in UTC 2025-03-03 09:30 against 2025-03-03 "
         "10:00); the rows"),
        # the same instant written with two offsets
        ("2025-03-03T10:00:00+00:00,5\n2025-03-03T11:00:00+01:00,6\n",
         "f.csv line 3 interval_start '2025-03-03T11:00:00+01:00' repeats the previous row's"),
    ],
)
def test_forecast_rows_out_of_order_name_the_line(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], rows: str, fragment: str
) -> None:
    # These used to end in "interval must be a non-negative duration (got -3600.0)".
    path = write(tmp_path, "f.csv", "interval_start,volume\n" + rows)
    status = main(["staffing", path, "--aht", "300", "--service-level", "80/20"],
                  out=io.StringIO())
    assert status == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert "non-negative duration" not in err


def test_a_forecast_volume_too_large_to_staff(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "f.csv", "interval_start,volume\n2025-03-03T09:00:00+00:00,1e300\n")
    status = main(["staffing", path, "--aht", "300", "--service-level", "80/20"],
                  out=io.StringIO())
    assert status == 2
    assert "forecast[0] volume must make an offered load" in capsys.readouterr().err


def test_chart_in_a_missing_folder_is_refused_and_not_created(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The folder used to be created, parents and all.
    chart = tmp_path / "no" / "such" / "folder" / "coverage.png"
    status, _ = run("--chart", str(chart))
    assert status == 2
    assert (
        f"chart path must be in an existing folder, and {str(chart.parent)!r} is not one "
        f"(got {str(chart)!r}); create the folder first"
    ) in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_save_chart_refuses_a_missing_folder(tmp_path: pathlib.Path) -> None:
    one = plan([(dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc), 5)], aht=300,
               target=ServiceTarget.parse("80/20"))
    with pytest.raises(CareKitError, match="chart path must be in an existing folder"):
        save_chart(tmp_path / "missing" / "x.svg", one)
    assert not (tmp_path / "missing").exists()
    a_file = tmp_path / "file"
    a_file.write_text("", encoding="utf-8")
    with pytest.raises(CareKitError, match="chart path must be in an existing folder"):
        save_chart(a_file / "x.svg", one)


def test_save_chart_that_cannot_be_written_is_a_carekit_error(tmp_path: pathlib.Path) -> None:
    need("matplotlib", "plot")
    one = plan([(dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc), 5)], aht=300,
               target=ServiceTarget.parse("80/20"))
    folder = tmp_path / "x.png"
    folder.mkdir()  # a folder where the file should go
    with pytest.raises(CareKitError, match=r"cannot write the chart to '.*x\.png'"):
        save_chart(folder, one)


@pytest.mark.parametrize(
    ("roster", "fragment"),
    [
        # These used to end in a traceback (ValueError, OverflowError).
        ("a,2025-03-03T08:00:00+00:00,nan,5,\n",
         "r.csv line 2 hours must be a number of hours above 0 and at most 23,999,999,976 "
         "(got 'nan')"),
        ("a,2025-03-03T08:00:00+00:00,inf,5,\n", "hours must be a number of hours above 0"),
        ("a,2025-03-03T08:00:00+00:00,1e400,5,\n", "(got '1e400')"),
        ("a,2025-03-03T08:00:00+00:00,0,5,\n", "(got '0')"),
        ("a,2025-03-03T08:00:00+00:00,8,99999999999999999999999999,\n",
         "r.csv line 2: agents must be an integer from 1 to 1,000,000,000,000,000 "
         "(got 99999999999999999999999999)"),
        ("a,9999-12-31T23:59:59+00:00,8,5,11:00-11:30\n",
         "r.csv line 2 break '11:00-11:30' must fall within the years 1 to 9999"),
        ("a,9999-12-31T20:00:00+00:00,8,5,\n",
         "r.csv line 2: start must leave room for the shift 'a'"),
    ],
)
def test_roster_values_out_of_range_are_one_line_errors(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], roster: str, fragment: str
) -> None:
    path = write(tmp_path, "r.csv", "shift,start,hours,agents,breaks\n" + roster)
    assert main([*BASE, "--roster", path], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize("late", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_forecast_time_outside_the_utc_years_is_a_one_line_error(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], late: str
) -> None:
    # Formatting the "is before ... in UTC" message used to raise OverflowError.
    path = write(tmp_path, "f.csv", f"interval_start,volume\n2025-03-03T08:00:00+00:00,5\n"
                 f"{late},5\n")
    status = main(["staffing", path, "--aht", "300", "--service-level", "80/20"],
                  out=io.StringIO())
    assert status == 2
    err = capsys.readouterr().err
    assert f"f.csv line 3 interval_start must fall within the years 1 to 9999 in UTC " \
        f"(got {late!r})" in err
    assert err.count("\n") == 1


def test_a_concurrency_too_large_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, _ = run("--concurrency", "9" * 400)
    assert status == 2
    err = capsys.readouterr().err
    assert "concurrency must be an integer from 1 to 1,000,000,000,000,000 (got 99999" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        # r01: this roster used to make `carekit staffing --roster` run forever
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be a whole number >= 1 (got '0')"),
        # r02: and these took tens of seconds per interval
        ("FREQ=SECONDLY", "a shift recurs at most daily"),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "the rule never produces an occurrence"),
    ],
)
def test_a_degenerate_roster_rule_is_a_one_line_error(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], rule: str, fragment: str
) -> None:
    forecast = write(tmp_path, "fc.csv", "interval_start,volume\n2025-03-03T08:00:00+00:00,50\n")
    roster = write(tmp_path, "ro.csv", "shift,start,hours,agents,breaks,recurrence\n"
                   f"early,2025-03-03T08:00:00+00:00,8,10,,{rule}\n")
    argv = ["staffing", forecast, "--aht", "300", "--service-level", "80/20", "--roster", roster]
    assert main(argv, out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert "ro.csv line 2: recurrence must be a valid RFC 5545 RRULE" in err and fragment in err
    assert err.count("\n") == 1


def test_a_misspelt_roster_column_is_refused_not_ignored(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Ignored, 'recurence' would make a weekday shift a one-off and Tuesday look unstaffed.
    forecast = write(tmp_path, "fc.csv", "interval_start,volume\n2025-03-04T08:00:00+00:00,50\n")
    roster = write(tmp_path, "ro.csv", "shift,start,hours,agents,breaks,recurence\n"
                   "early,2025-03-03T08:00:00+00:00,8,10,,FREQ=DAILY\n")
    argv = ["staffing", forecast, "--aht", "300", "--service-level", "80/20", "--roster", roster]
    assert main(argv, out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert "ro.csv has unknown column(s) ['recurence'], which would be ignored" in err
    assert "(did you mean 'recurrence' for 'recurence'?)" in err and err.count("\n") == 1
    # every column Roster.to_csv writes is still read
    full = read_roster(pathlib.Path(write(
        tmp_path, "ok.csv", "shift,start,hours,agents,breaks,recurrence,tz\n"
        "early,2025-03-03T08:00:00+00:00,8,10,09:30-10:00,FREQ=DAILY,Europe/London\n")))
    again = read_roster(pathlib.Path(write(tmp_path, "again.csv", full.to_csv())))
    assert list(again) == list(full)


@pytest.mark.parametrize(
    ("forecast", "roster", "fragment"),
    [
        # a blank line, then a bad volume on line 4
        ("interval_start,volume\n2025-03-03T08:00:00+00:00,5\n\n2025-03-03T08:30:00+00:00,x\n",
         None, "f.csv line 4 volume must be a number"),
        # a quoted cell spanning two lines, then a bad start on line 4
        ('interval_start,volume,note\n2025-03-03T08:00:00+00:00,5,"two\nlines"\nsoon,6,\n',
         None, "f.csv line 4 interval_start must be an ISO 8601 datetime"),
        ("interval_start,volume\n2025-03-03T08:00:00+00:00,5\n",
         "shift,start,hours,agents\n\nearly,2025-03-03T08:00:00+00:00,8,many\n",
         "r.csv line 3 hours must be a number and agents an integer"),
    ],
)
def test_line_numbers_count_blank_lines_and_quoted_line_breaks(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], forecast: str,
    roster: str | None, fragment: str,
) -> None:
    args = ["staffing", write(tmp_path, "f.csv", forecast), "--aht", "300",
            "--service-level", "80/20"]
    if roster is not None:
        args += ["--roster", write(tmp_path, "r.csv", roster)]
    assert main(args, out=io.StringIO()) == 2
    assert fragment in capsys.readouterr().err


def test_the_interval_is_the_shortest_step_so_a_first_gap_is_a_gap(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 08:30 is missing; the intervals are still half-hours, not the first step's hour.
    path = write(tmp_path, "f.csv", "interval_start,volume\n2025-03-03T08:00:00+00:00,40\n"
                 "2025-03-03T09:00:00+00:00,40\n2025-03-03T09:30:00+00:00,40\n")
    out = io.StringIO()
    assert main(["staffing", path, "--aht", "300", "--service-level", "80/20",
                 "--format", "json"], out=out) == 0, capsys.readouterr().err
    half_hour = main(["staffing", path, "--aht", "300", "--service-level", "80/20",
                      "--interval", "30min", "--format", "json"], out=(expected := io.StringIO()))
    assert half_hour == 0
    assert json.loads(out.getvalue()) == json.loads(expected.getvalue())


def test_rows_under_a_minute_apart_are_refused_unless_the_interval_says_so(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Times off by a unit (seconds written for minutes) made 20-second intervals silently.
    path = write(tmp_path, "f.csv", "interval_start,volume\n2025-03-03T08:00:00+00:00,40\n"
                 "2025-03-03T08:00:20+00:00,40\n2025-03-03T08:00:40+00:00,40\n")
    args = ["staffing", path, "--aht", "300", "--service-level", "80/20", "--format", "json"]
    assert main(args, out=io.StringIO()) == 2
    assert ("f.csv: rows start 20 s apart, shorter than any staffing interval: are the "
            "interval_start times right? (if the volumes really are per 20 seconds, say so "
            "with --interval 20s)") in capsys.readouterr().err
    out = io.StringIO()
    assert main([*args, "--interval", "20s"], out=out) == 0, capsys.readouterr().err
    assert len(json.loads(out.getvalue())["intervals"]) == 3
