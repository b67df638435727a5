"""``carekit promise`` and the promises section of ``carekit demo``."""

from __future__ import annotations

import csv
import io
import json
import pathlib

import pytest
from tests._extras import need, requires

from carekit.cli import main

HEADER = "order_id,ordered_at,delivered_at,region\n"


def write(tmp_path: pathlib.Path, lines: list[str]) -> pathlib.Path:
    path = tmp_path / "orders.csv"
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


def history(n: int = 60) -> list[str]:
    lines = []
    for i in range(n):
        day = 1 + i % 28
        region = "north" if i % 2 else "south"
        lead = 3 if region == "south" else 6
        lines.append(f"o{i},2026-01-{day:02d}T10:00:00+00:00,"
                     f"2026-02-{min(28, day + lead - 1):02d}T12:00:00+00:00,{region}\n")
    lines.append("open,2026-02-27T10:00:00+00:00,,north\n")  # undelivered
    return lines


def test_promise_table_and_backtest(tmp_path):
    out = io.StringIO()
    status = main(["promise", str(write(tmp_path, history())), "--segment", "region",
                   "--backtest", "--target", "0.9", "--workdays", "Mon,Tue,Wed,Thu,Fri,Sat,Sun"],
                  out=out)
    text = out.getvalue()
    assert status == 0
    assert "Promises at 90% from 61 orders" in text
    assert "north" in text and "south" in text
    # one table style: plain aligned columns, no Markdown pipes
    assert "|" not in text
    backtest = text.split("Walk-forward backtest")[1].splitlines()[1:]
    assert backtest[0].split() == ["target", "on", "time", "early", "mean", "padding", "mean",
                                   "lateness", "orders"]
    assert {len(line) for line in backtest} == {len(backtest[0])}



def _csv_tables(text: str) -> list[list[dict[str, str]]]:
    """CSV output with one table after another, split where a header row starts a table."""
    tables: list[list[dict[str, str]]] = []
    header: list[str] = []
    for row in csv.reader(io.StringIO(text, newline="")):
        if row and row[0] in ("segment", "target"):
            header = row
            tables.append([])
        else:
            tables[-1].append(dict(zip(header, row, strict=True)))
    return tables


@pytest.mark.parametrize("backtest", [[], ["--backtest"]])
def test_promise_csv_has_the_rows_and_values_of_the_json(tmp_path, backtest):
    path = str(write(tmp_path, history()))
    args = ["promise", path, "--segment", "region", "--target", "0.9", *backtest]
    as_json, as_csv = io.StringIO(), io.StringIO()
    assert main([*args, "--format", "json"], out=as_json) == 0
    assert main([*args, "--format", "csv"], out=as_csv) == 0
    data = json.loads(as_json.getvalue())
    tables = _csv_tables(as_csv.getvalue())
    expected = [[{k: str(v) for k, v in row.items()} for row in data["segments"]]]
    if backtest:
        expected.append([{k: str(v) for k, v in row.items()} for row in data["backtest"]])
    assert tables == expected
    assert [row["segment"] for row in tables[0]] == ["(all)", "north", "south"]
    assert len(tables) == 1 + bool(backtest)

def test_promise_json(tmp_path):
    out = io.StringIO()
    assert main(["promise", str(write(tmp_path, history())), "--format", "json"], out=out) == 0
    data = json.loads(out.getvalue())
    assert data["target"] == 0.95
    assert data["segments"][0]["segment"] == "(all)"
    seg = data["segments"][0]
    assert seg["promised_days"] - seg["expected_days"] == seg["padding_days"] >= 0


@pytest.mark.parametrize(
    ("lines", "args", "message"),
    [
        (["x,yesterday,,north\n"], [], "ordered_at must be an ISO 8601 time"),
        # The file and line, and both times as the file holds them (no Python reprs).
        (["x,2026-01-02T10:00:00+00:00,2026-01-01T10:00:00+00:00,n\n"], [],
         "orders.csv line 2: delivered_at must not be before ordered_at (got delivered_at "
         "2026-01-01T10:00:00+00:00, ordered_at 2026-01-02T10:00:00+00:00)"),
        ([], [], "has 0 delivered order(s) to learn from, fewer than the 30 a promise needs"),
        (history(), ["--segment", "carrier"], "no 'carrier' column"),
        # A blank segment is a bad row (it made a segment without a name).
        ([*history(3), "x,2026-01-02T10:00:00+00:00,,\n"], ["--segment", "region"],
         "orders.csv line 6: column 'region' (--segment) must name the order's segment "
         "(got '')"),
        (["x,2026-01-02T10:00:00+00:00,, \n"], ["--segment", "region"],
         "orders.csv line 2: column 'region' (--segment) must name the order's segment "
         "(got ' ')"),
        (history(), ["--target", "1.5"],
         "argument --target: expected a probability of beating the promise between 0 and 1, "
         "such as 0.95 (got '1.5')"),
        (history(), ["--tz", "Mars/Olympus"],
         "--tz must be a time zone name such as Europe/London or UTC (got 'Mars/Olympus')"),
        (["x,2026-01-02T10:00:00,,north\n"], [],
         "orders.csv line 2: ordered_at must carry a UTC offset such as +00:00 (got naive "
         "'2026-01-02T10:00:00'); or pass --tz ZONE to read times without one in that zone"),
        (history(), ["--cutoff", "late"], "--cutoff"),
        (history(), ["--holidays", "2026-12-25,Boxing Day"],
         "--holidays must be ISO dates like 2026-12-24 (got 'Boxing Day')"),
        pytest.param(history(), ["--country", "XX"], "--country 'XX': Country XX not available",
                     marks=requires("holidays", extra="holidays")),
        pytest.param(history(), ["--country", "US-ZZ"], "--country 'US-ZZ'",
                     marks=requires("holidays", extra="holidays")),
    ],
)
def test_promise_errors(tmp_path, capsys, lines, args, message):
    try:
        status = main(["promise", str(write(tmp_path, lines)), *args], out=io.StringIO())
    except SystemExit as done:  # a bad option's value, refused by the argument parser
        status = done.code
    assert status == 2
    err = capsys.readouterr().err
    assert message in err
    assert "quantile" not in err and "datetime.tzinfo" not in err and "min_samples" not in err


def test_demo_section(tmp_path):
    from carekit.promises import _cli

    out = io.StringIO()
    _cli.demo(out, tmp_path)
    text = out.getvalue()
    assert text.startswith("== Promises ==\n")
    assert "A sofa ordered" in text and "Backtest on" in text


def christmas_history() -> list[str]:
    # Ordered Thursday 24 December 2026, delivered Tuesday 29 December. On a Mon-Fri calendar
    # that is 3 business days (Fri 25, Mon 28, Tue 29); closed on Christmas Day and on Boxing
    # Day's substitute Monday (England's bank holidays), 1 day.
    return [f"o{i},2026-12-24T10:00:00+00:00,2026-12-29T12:00:00+00:00,north\n"
            for i in range(40)]


@pytest.mark.parametrize(("args", "days"), [
    ([], 3),
    (["--holidays", "2026-12-25, 2026-12-28"], 1),
    (["--country", "GB"], 1),
    (["--country", "us-ny"], 2),  # New York closes on Christmas Day only
    (["--country", "DE-augsburg"], 2),  # the package spells it "Augsburg"; 25 Dec closed
])
def test_promise_holidays(tmp_path, args, days):
    need("holidays", "holidays")
    out = io.StringIO()
    path = write(tmp_path, christmas_history())
    assert main(["promise", str(path), "--format", "json", *args], out=out) == 0
    (everyone,) = json.loads(out.getvalue())["segments"]
    assert everyone["expected_days"] == days


def test_shrinkage_in_the_tail_as_the_docs_tell_it():
    # docs/promises-explained.md: on the bundled sample, the lamps' 95 % promise is 13
    # business days with the default shrinkage and 8 (their own 95th percentile) without.
    import datetime as dt
    import importlib.resources

    from carekit.calendar import BusinessCalendar
    from carekit.promises import QuantileEstimator, _cli

    cal = BusinessCalendar(tz="Europe/London", cutoff=dt.time(14))
    sample = importlib.resources.files("carekit") / "data" / "promises_orders.csv"
    with sample.open(encoding="utf-8", newline="") as fh:
        orders = _cli.read_history(fh, "product", cal)
    assert sum(o.segment == "lamp" for o in orders) == 181
    shrunk = QuantileEstimator(calendar=cal).fit(orders)
    own = QuantileEstimator(calendar=cal, shrinkage=0, calibration=0).fit(orders)
    assert shrunk.lead_times("lamp")[1] == 13
    assert own.lead_times("lamp")[1] == 8
    assert (own.lead_times("sofa")[0], own.lead_times("sofa")[1]) == (19, 30)


def real_table() -> str:
    # 60 delivered orders, two cancelled (one of them delivered nonetheless: cancelled wins)
    # and one never delivered, placed long before the end: lost.
    lines = ["order_id,ordered_at,delivered_at,region,status\n"]
    lines += [f"o{i},2026-01-{1 + i % 28:02d}T10:00:00+00:00,"
              f"2026-02-{min(28, 1 + i % 28 + 2):02d}T12:00:00+00:00,north,no\n"
              for i in range(60)]
    lines.append("c1,2026-01-03T11:00:00+00:00,,north,yes\n")
    lines.append("c2,2026-01-04T11:00:00+00:00,2026-01-09T11:00:00+00:00,north,TRUE\n")
    lines.append("lost,2026-01-02T11:00:00+00:00,,north,\n")
    return "".join(lines)


def test_promise_reads_cancelled_and_order_ids(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(real_table(), encoding="utf-8")
    out = io.StringIO()
    args = ["promise", str(path), "--segment", "region", "--cancelled", "status",
            "--order-id", "order_id", "--format", "json", "--backtest"]
    assert main(args, out=out) == 0
    data = json.loads(out.getvalue())
    assert (data["cancelled"], data["lost"]) == (2, 1)
    assert all(row["cancelled"] == 2 for row in data["backtest"])
    north = next(s for s in data["segments"] if s["segment"] == "north")
    assert north["reliable"] is True
    text = io.StringIO()
    assert main(args[:-3], out=text) == 0
    assert "Left out: 2 cancelled, 1 lost" in text.getvalue()


@pytest.mark.parametrize(
    ("change", "args", "message"),
    [(("c1,", "o5,"), ["--order-id", "order_id"], "line 62: order id 'o5' repeats line 7"),
     ((",yes\n", ",perhaps\n"), ["--cancelled", "status"],
      "line 62: cancelled must be True or False"),
     (("", ""), ["--cancelled", "state"], "no 'state' column")],
)
def test_promise_table_errors_name_the_line(tmp_path, capsys, change, args, message):
    path = tmp_path / "orders.csv"
    path.write_text(real_table().replace(*change), encoding="utf-8")
    assert main(["promise", str(path), *args], out=io.StringIO()) == 2
    assert message in capsys.readouterr().err


def test_times_without_an_offset_are_read_in_the_zone_tz_names(tmp_path):
    # Without --tz a naive time is refused, as every other command refuses it; with --tz
    # it is read in that zone (and the calendar is that zone's).
    lines = [line.replace("+00:00", "") for line in history()]
    path = write(tmp_path, lines)
    assert main(["promise", str(path)], out=io.StringIO()) == 2
    utc = io.StringIO()
    assert main(["promise", str(write(tmp_path, history())), "--format", "json"], out=utc) == 0
    path = write(tmp_path, lines)
    naive = io.StringIO()
    assert main(["promise", str(path), "--tz", "UTC", "--format", "json"], out=naive) == 0
    assert json.loads(naive.getvalue()) == json.loads(utc.getvalue())


def test_workdays_as_a_range(tmp_path, capsys):
    # The help says the default is Mon-Fri; that text was refused.
    path = write(tmp_path, history())
    outputs = []
    for workdays in ("Mon,Tue,Wed,Thu,Fri", "Mon-Fri"):
        out = io.StringIO()
        assert main(["promise", str(path), "--workdays", workdays, "--format", "json"],
                    out=out) == 0
        outputs.append(json.loads(out.getvalue()))
    assert outputs[0] == outputs[1]
    assert main(["promise", str(path), "--workdays", "Mon-Fry"], out=io.StringIO()) == 2
    assert "--workdays must be weekdays such as 'Mon-Fri', 'Sat,Sun' or '0-4' (0 is Monday) " \
           "(got 'Mon-Fry')" in capsys.readouterr().err


def test_a_delivery_centuries_away_is_named_by_its_line(tmp_path, capsys):
    # Regression: refused inside the engine, naming business_days_between and no row.
    lines = [*history(), "late,2026-02-02T10:00:00+00:00,9999-12-30T10:00:00+00:00,north\n"]
    path = write(tmp_path, lines)
    for extra in ([], ["--backtest"]):
        assert main(["promise", str(path), *extra], out=io.StringIO()) == 2
        assert capsys.readouterr().err == (
            f"carekit promise: error: {path} line 63: delivered_at "
            "9999-12-30T10:00:00+00:00 is in 9999, 7,973 years after the first order "
            "(line 2, placed 2026-01-01T10:00:00+00:00); a history may span at most 398 "
            "calendar years: is the year right?\n"
        )
    # a cancelled order is left out of the history, so it is not held against it
    path.write_text(
        "order_id,ordered_at,delivered_at,region,cancelled\n"
        + "".join(line.rstrip("\n") + ",\n" for line in history())
        + "late,2026-02-02T10:00:00+00:00,9999-12-30T10:00:00+00:00,north,yes\n",
        encoding="utf-8",
    )
    assert main(["promise", str(path), "--cancelled", "cancelled"], out=io.StringIO()) == 0
