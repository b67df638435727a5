"""``carekit metrics`` and the metrics section of ``carekit demo``."""

from __future__ import annotations

import importlib.resources
import io
import json
import pathlib

import pytest

from carekit.cli import main
from carekit.metrics import NPS, _cli

DATA = pathlib.Path(str(importlib.resources.files("carekit") / "data" / "metrics_responses.csv"))


def _run(*argv: str) -> str:
    out = io.StringIO()
    assert main(["metrics", *argv], out=out) == 0
    return out.getvalue()


def test_nps_table_overall() -> None:
    text = _run(str(DATA), "--score-column", "nps")
    lines = text.splitlines()
    assert lines[0].split() == ["segment", "n", "value", "low", "high", "method"]
    assert lines[1].startswith("all") and "adjusted_wald" in lines[1]


def test_by_store_and_compare_periods_json_matches_library(tmp_path: pathlib.Path) -> None:
    data = json.loads(_run(str(DATA), "--score-column", "nps", "--by", "store",
                           "--compare-periods", "--format", "json"))
    south = [e for e in data["estimates"] if e["segment"] == "south"]
    assert [e["period"] for e in south] == ["2026-02", "2026-03"]
    import csv
    with DATA.open() as f:
        rows = [r for r in csv.DictReader(f) if r["store"] == "south" and r["date"] < "2026-03"]
    expected = NPS().extend(int(r["nps"]) for r in rows).result()
    assert south[0]["value"] == pytest.approx(expected.value)
    assert south[0]["low"] == pytest.approx(expected.low)
    change = next(c for c in data["changes"] if c["segment"] == "south")
    assert change["significant"] is True and change["period"] == "2026-03 vs 2026-02"


def test_other_metrics_and_csv_output(tmp_path: pathlib.Path) -> None:
    text = _run(str(DATA), "--score-column", "csat", "--metric", "csat", "--format", "csv")
    assert text.splitlines()[0] == "segment,n,value,low,high,method"
    assert "wilson" in text
    assert "student_t" in _run(str(DATA), "--score-column", "ces", "--metric", "ces")
    weekly = _run(str(DATA), "--score-column", "resolved_first_contact", "--metric", "fcr",
                  "--compare-periods", "--period", "week")
    assert "2026-W06" in weekly and "change against the previous period" in weekly
    ces = json.loads(_run(str(DATA), "--score-column", "ces", "--metric", "ces", "--by", "store",
                          "--compare-periods", "--format", "json"))
    assert ces["changes"] and all(
        abs(c["difference"]) <= 6 and 0 <= c["p_value"] <= 1 for c in ces["changes"]
    )
    thin = tmp_path / "thin.csv"  # one answer in February: no spread, so no change row
    thin.write_text("date,ces\n2026-02-03,5\n2026-03-02,6\n2026-03-03,4\n")
    assert json.loads(_run(str(thin), "--score-column", "ces", "--metric", "ces",
                           "--compare-periods", "--format", "json"))["changes"] == []


def test_errors_exit_2_with_a_message(tmp_path: pathlib.Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("date,score\n2026-01-01,9\n2026-01-02,12\n")
    assert main(["metrics", str(bad), "--score-column", "score"], out=io.StringIO()) == 2
    assert "0..10 scale (got 12)" in capsys.readouterr().err
    assert main(["metrics", str(bad), "--score-column", "nope"], out=io.StringIO()) == 2
    assert "no column(s) ['nope']" in capsys.readouterr().err
    bad.write_text("date,score\nyesterday,9\n")
    assert main(["metrics", str(bad), "--score-column", "score", "--compare-periods"],
                out=io.StringIO()) == 2
    assert "bad.csv line 2: column 'date' must be an ISO date" in capsys.readouterr().err
    bad.write_text("date,score\n2026-01-01,\n")
    assert main(["metrics", str(bad), "--score-column", "score"], out=io.StringIO()) == 2
    assert "no scores" in capsys.readouterr().err
    bad.write_text("date,score\n2026-01-01,maybe\n")
    assert main(["metrics", str(bad), "--score-column", "score", "--metric", "fcr"],
                out=io.StringIO()) == 2
    assert "bad.csv line 2: column 'score' must be yes/no" in capsys.readouterr().err
    assert main(["metrics", str(bad), "--score-column", "score"], out=io.StringIO()) == 2
    # The file and its line, as the other commands name a row.
    assert "bad.csv line 2: column 'score' must hold numbers" in capsys.readouterr().err
    assert main(["metrics", str(DATA), "--score-column", "nps", "--confidence", "2"],
                out=io.StringIO()) == 2
    assert "--confidence must lie in (0, 1) (got 2.0)" in capsys.readouterr().err
    assert main(["metrics", str(DATA), "--score-column", "nps",
                 "--confidence", "0.9999999999999999"], out=io.StringIO()) == 2
    assert "--confidence must lie in (0, 1) and be at most 0.9999999999999998" in (
        capsys.readouterr().err)


def test_demo_section(tmp_path: pathlib.Path) -> None:
    out = io.StringIO()
    _cli.demo(out, tmp_path)
    text = out.getvalue()
    assert text.startswith("== Metrics ==\n")
    assert "NPS" in text and "95% CI" in text and "a real change" in text
    assert "median" in text and "p99" in text
    assert "touchpoint coverage" in text and "promises kept" in text


def test_nps_over_a_one_to_five_column_is_refused_naming_csat_and_ces(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The bundled csat column holds 1-5 answers: as NPS every one is a detractor (-100).
    status = main(["metrics", str(DATA), "--score-column", "csat", "--metric", "nps"],
                  out=io.StringIO())
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1
    assert "carekit metrics: error: column 'csat' holds answers from 1 to 5, which looks " \
           "like a 1-5 scale, not NPS's 0-10" in err
    assert "--metric csat" in err and "--metric ces --scale 5" in err
    # the same column is fine as what it is
    assert _run(str(DATA), "--score-column", "csat", "--metric", "csat").startswith("segment")


def test_scale_ten_confirms_nps_answers_that_are_all_low(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "angry.csv"
    path.write_text("nps\n" + "0\n3\n5\n" * 10, encoding="utf-8")
    assert main(["metrics", str(path), "--score-column", "nps"], out=io.StringIO()) == 2
    assert "looks like a 1-5 scale" in capsys.readouterr().err
    data = json.loads(_run(str(path), "--score-column", "nps", "--scale", "10",
                           "--format", "json"))
    assert data["estimates"][0]["value"] == -100.0
    # one answer above 5 is enough to show a 0-10 question
    path.write_text("nps\n" + "0\n3\n5\n" * 10 + "6\n", encoding="utf-8")
    assert json.loads(_run(str(path), "--score-column", "nps", "--format", "json")
                      )["estimates"][0]["value"] == -100.0
    # --scale names another scale than NPS's
    assert main(["metrics", str(path), "--score-column", "nps", "--scale", "5"],
                out=io.StringIO()) == 2
    assert "--scale 5 does not fit --metric nps, which is always asked on 0-10" in (
        capsys.readouterr().err
    )



def test_csat_on_a_seven_point_scale_with_no_answer_above_five_warns(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # Regression: answers of 1-5 read with --scale 7 reported 0.0 without a word.
    path = tmp_path / "csat.csv"
    path.write_text("score\n1\n2\n3\n4\n5\n5\n", encoding="utf-8")
    text = _run(str(path), "--score-column", "score", "--metric", "csat", "--scale", "7")
    assert text == (
        "segment  n  value  low    high   method\n"
        "all      6  0.000  0.000  0.390  wilson\n"
    )
    assert capsys.readouterr().err == (
        "carekit metrics: warning: no answer above 5 on a 7-point scale (CSAT counts 6 and 7 "
        "as satisfied): is --scale right?\n"
    )
    # Valid answers, so not refused; and no warning where the scale fits the answers.
    _run(str(path), "--score-column", "score", "--metric", "csat")
    _run(str(path), "--score-column", "score", "--metric", "csat", "--scale", "5")
    path.write_text("score\n1\n2\n3\n4\n5\n6\n", encoding="utf-8")
    _run(str(path), "--score-column", "score", "--metric", "csat", "--scale", "7")
    assert capsys.readouterr().err == ""


def test_a_blank_by_value_is_refused_with_its_file_and_line(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # Regression: it made a segment with an empty name.
    path = tmp_path / "answers.csv"
    for blank in ("", "  "):
        path.write_text(f"store,score\nnorth,9\n{blank},10\nsouth,3\n", encoding="utf-8")
        out = io.StringIO()
        assert main(["metrics", str(path), "--score-column", "score", "--by", "store"],
                    out=out) == 2
        assert out.getvalue() == ""
        assert capsys.readouterr().err == (
            "carekit metrics: error: answers.csv line 3: column 'store' (--by) must name the "
            f"row's segment (got {blank!r})\n"
        )


@pytest.mark.parametrize(
    ("metric", "cells", "line", "message"),
    [
        ("nps", ["9", "10", "11"], 4, "NPS scores must be whole numbers on the 0..10 scale "
         "(got 11)"),
        ("nps", ["9.5"], 2, "NPS scores must be whole numbers on the 0..10 scale (got 9.5)"),
        ("csat", ["4", "0", "5"], 3, "CSAT scores must be whole numbers on the 1..5 scale "
         "(got 0)"),
        ("ces", ["4", "5", "8"], 4, "CES scores must be whole numbers on the 1..7 scale (got 8)"),
    ],
)
def test_a_score_off_the_scale_names_its_file_and_line(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], metric: str,
    cells: list[str], line: int, message: str,
) -> None:
    # Regression: the scale was checked a whole column at once, and the error named neither
    # the file nor the row, as every other refused cell is named.
    path = tmp_path / "answers.csv"
    path.write_text("store,score\n" + "".join(f"north,{c}\n" for c in cells), encoding="utf-8")
    argv = ["metrics", str(path), "--score-column", "score", "--metric", metric, "--by", "store"]
    assert main(argv, out=io.StringIO()) == 2
    assert capsys.readouterr().err == (
        f"carekit metrics: error: answers.csv line {line}: column 'score': {message}\n")


def test_compare_periods_with_nothing_to_compare_says_why(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # Regression: --compare-periods printed the estimates and no change, without a word.
    path = tmp_path / "answers.csv"
    path.write_text("date,store,score\n2026-03-02,north,9\n2026-03-09,north,3\n"
                    "2026-04-01,south,10\n", encoding="utf-8")
    base = ["metrics", str(path), "--score-column", "score", "--compare-periods"]
    out = io.StringIO()
    assert main([*base, "--by", "store"], out=out) == 0
    assert "change against" not in out.getvalue()
    assert capsys.readouterr().err == (
        "carekit metrics: warning: nothing to compare: no segment has answers in two "
        "periods\n")
    path.write_text("date,score\n2026-03-02,9\n2026-03-09,3\n", encoding="utf-8")
    assert main(base, out=io.StringIO()) == 0
    assert capsys.readouterr().err == (
        "carekit metrics: warning: nothing to compare: every answer falls in one month "
        "(2026-03); try --period week\n")
    out = io.StringIO()
    assert main([*base, "--period", "week"], out=out) == 0  # two weeks: a change, no warning
    assert "2026-W11 vs 2026-W10" in out.getvalue() and capsys.readouterr().err == ""
