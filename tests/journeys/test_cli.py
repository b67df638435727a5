"""carekit journey list | diagram | replay, and the journeys demo section."""

from __future__ import annotations

import csv
import io
import json
import pathlib

import pytest
from tests._extras import need

from carekit.cli import main
from carekit.journeys import _cli as journeys_cli
from carekit.journeys import order_journey


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(["journey", *argv], out=out)
    return status, out.getvalue()


def test_list() -> None:
    status, text = run("list")
    assert status == 0
    for name in ("order", "service_case", "visit"):
        assert name in text



def test_list_as_csv_and_json_has_the_same_rows() -> None:
    status, as_csv = run("list", "--format", "csv")
    assert status == 0
    status, as_json = run("list", "--format", "json")
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(as_csv, newline="")))
    journeys = json.loads(as_json)["journeys"]
    assert rows == [{k: str(v) for k, v in j.items()} for j in journeys]
    order = next(j for j in journeys if j["journey"] == "order")
    assert (order["states"], order["touchpoints"]) == (
        len(order_journey().states), len(order_journey().touchpoints))
    _, table = run("list")
    assert [line.split()[0] for line in table.splitlines()] == [
        j["journey"] for j in journeys]

def test_diagram_formats() -> None:
    status, text = run("diagram", "order")
    assert status == 0 and text == order_journey().to_mermaid()
    status, text = run("diagram", "order", "--format", "dot")
    assert status == 0 and text == order_journey().to_dot()
    # the picture the docs page shows (definition.to_svg()) is a format of the command too
    status, text = run("diagram", "order", "--format", "svg")
    assert status == 0 and text == order_journey().to_svg()
    assert text.startswith("<svg") and text.endswith("</svg>\n")


def test_unknown_journey(capsys: pytest.CaptureFixture[str]) -> None:
    status, _ = run("diagram", "nope")
    assert status == 2
    assert "no journey named 'nope'" in capsys.readouterr().err


HEADER = "journey_id,event,at,id,tracking_number,sentiment\n"


def test_replay_report(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "events.csv"
    csv.write_text(
        HEADER
        + "o1,place,2026-03-02T09:00:00+00:00,1,,\n"
        + "o1,acknowledge,2026-03-02T09:10:00+00:00,2,,\n"
        + "o2,place,2026-03-02T09:00:00Z,3,,\n"
        + "o1,delivered:order_thanks,2026-03-02T09:20:00+00:00,,,\n"
        + "o3,place,2026-03-02T09:00:00+00:00,4,,-0.9\n",
        encoding="utf-8",
    )
    status, text = run("replay", str(csv), "--now", "2026-03-02T12:00:00+00:00")
    assert status == 0
    assert "3 journeys, 4 events" in text
    assert "touchpoints delivered: 1 (0 after their due time)" in text
    assert "placed" in text and "acknowledged" in text
    assert "overdue as of 2026-03-02T12:00:00+00:00: 2" in text
    assert "acknowledgement_overdue" in text
    assert "o3" in text and "watch" in text  # friction 1.8 >= half the threshold
    assert "high friction (threshold 3): 0 need recovery, 1 to watch (above 1.5)" in text
    assert capsys.readouterr().err == ""  # small file: no progress bar



def _three_orders(tmp_path: pathlib.Path) -> pathlib.Path:
    """o1 acknowledged and thanked, o2 placed, o3 placed with a refused ship (line 7)."""
    events = tmp_path / "events.csv"
    events.write_text(
        HEADER
        + "o1,place,2026-03-02T09:00:00+00:00,1,,\n"
        + "o1,acknowledge,2026-03-02T09:10:00+00:00,2,,\n"
        + "o2,place,2026-03-02T09:00:00Z,3,,\n"
        + "o1,delivered:order_thanks,2026-03-02T09:20:00+00:00,,,\n"
        + "o3,place,2026-03-02T09:00:00+00:00,4,,-0.9\n"
        + "o3,ship,2026-03-02T09:30:00+00:00,5,,\n",  # refused: not allowed in 'placed'
        encoding="utf-8",
    )
    return events


def test_replay_as_csv_one_row_per_journey(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = _three_orders(tmp_path)
    status, text = run("replay", str(events), "--now", "2026-03-02T12:00:00+00:00",
                       "--format", "csv")
    assert status == 1  # the refused row, as with the table
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    by_id = {row["journey_id"]: row for row in rows}
    assert list(by_id) == ["o1", "o2", "o3"]
    assert [(r["state"], r["phase"], r["version"]) for r in rows] == [
        ("acknowledged", "during", "2"), ("placed", "during", "1"), ("placed", "during", "1")]
    assert by_id["o1"]["started_at"] == "2026-03-02T09:00:00+00:00"
    assert by_id["o1"]["updated_at"] == "2026-03-02T09:10:00+00:00"
    # the table's figures, journey by journey: 2 overdue in all, o3 to watch (friction 1.8)
    assert sum(int(r["overdue"]) for r in rows) == 2
    assert float(by_id["o3"]["friction"]) == pytest.approx(1.8)
    assert {r["needs_recovery"] for r in rows} == {"False"}
    err = capsys.readouterr().err
    assert "problems: 1 (rows skipped)" in err and "line 7: journey 'o3'" in err
    _, table = run("replay", str(events), "--now", "2026-03-02T12:00:00+00:00")
    assert "overdue as of 2026-03-02T12:00:00+00:00: 2" in table


def test_replay_as_json_holds_the_tables_figures_and_every_row(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # design.md: the CLI reads CSV and writes a table, CSV or JSON; replay wrote no JSON.
    events = _three_orders(tmp_path)
    status, text = run("replay", str(events), "--now", "2026-03-02T12:00:00+00:00",
                       "--format", "json")
    assert status == 1  # the refused row, as with the table and CSV
    assert capsys.readouterr().err == ""  # the problems are in the document
    doc = json.loads(text)
    assert {k: doc[k] for k in ("journey", "source", "now", "journeys", "events", "delivered",
                                "delivered_late", "states", "friction_threshold")} == {
        "journey": "order", "source": str(events), "now": "2026-03-02T12:00:00+00:00",
        "journeys": 3, "events": 5, "delivered": 1, "delivered_late": 0,
        "states": {"placed": 2, "acknowledged": 1}, "friction_threshold": 3.0,
    }
    # the rows are the CSV's, typed
    _, as_csv = run("replay", str(events), "--now", "2026-03-02T12:00:00+00:00",
                    "--format", "csv")
    capsys.readouterr()
    assert [{k: str(v) for k, v in row.items()} for row in doc["rows"]] == list(
        csv.DictReader(io.StringIO(as_csv, newline=""))
    )
    # o2's and o3's acknowledgement deadlines (placed 09:00, one hour) are two hours late
    assert [(o["journey_id"], o["kind"], o["due"], o["late_by_seconds"])
            for o in doc["overdue"]] == [
        ("o2", "deadline", "2026-03-02T10:00:00+00:00", 7200.0),
        ("o3", "deadline", "2026-03-02T10:00:00+00:00", 7200.0),
    ]
    assert len(doc["problems"]) == 1 and doc["problems"][0].startswith("line 7: journey 'o3'")
    # an empty log: nothing to judge overdue by, an empty document, status 0
    empty = tmp_path / "empty.csv"
    empty.write_text(HEADER, encoding="utf-8")
    status, text = run("replay", str(empty), "--format", "json")
    assert status == 0
    doc = json.loads(text)
    assert (doc["now"], doc["journeys"], doc["rows"], doc["overdue"], doc["problems"]) == (
        None, 0, [], [], []
    )


def test_malformed_rows_are_reported_with_line_numbers(tmp_path: pathlib.Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(
        HEADER
        + "o1,place,2026-03-02T09:00:00+00:00,1,,\n"
        + "o1,acknowledge,not-a-date,2,,\n"
        + "o1,ship,2026-03-02T10:00:00+00:00,3,,\n"
        + ",place,2026-03-02T09:00:00+00:00,4,,\n"
        + "o2,place,2026-03-02T09:00:00,5,,\n"
        + "o3,place,2026-03-02T09:00:00+00:00,6,,lots\n"
        + "o4,place,2026-03-02T09:00:00+00:00,7,,,extra\n"
        + "o1,delivered:order_thanks,2026-03-02T09:20:00+00:00,,,\n"
        + "o1,acknowledge,2026-03-02T11:00:00+00:00,8,,\n",
        encoding="utf-8",
    )
    status, text = run("replay", str(csv))
    assert status == 1
    assert "line 3: at 'not-a-date' is not an ISO 8601 datetime" in text
    assert "line 4: journey 'o1' is 'placed'" in text
    assert "line 5: column 'journey_id' is empty" in text
    assert "line 6: at '2026-03-02T09:00:00' has no UTC offset" in text
    assert "line 7: sentiment 'lots' is not a number" in text
    assert "line 8: more fields than columns" in text
    assert "line 9: journey 'o1' owes no touchpoint 'order_thanks'" in text
    assert "Traceback" not in text
    assert "acknowledged" in text  # the good rows were replayed


def test_missing_columns(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "cols.csv"
    csv.write_text("journey,when\no1,2026\n", encoding="utf-8")
    status, _ = run("replay", str(csv))
    assert status == 2
    assert "missing ['journey_id', 'event', 'at']" in capsys.readouterr().err


def test_data_column_json(tmp_path: pathlib.Path) -> None:
    csv = tmp_path / "json.csv"
    csv.write_text(
        "journey_id,event,at,data\n"
        'o1,place,2026-03-02T09:00:00+00:00,"{""channel"": ""sms""}"\n'
        "o2,place,2026-03-02T09:00:00+00:00,[1]\n"
        "o3,place,2026-03-02T09:00:00+00:00,{oops\n",
        encoding="utf-8",
    )
    status, text = run("replay", str(csv))
    assert status == 1
    assert "line 3: data '[1]' must be a JSON object" in text
    assert "line 4: data '{oops' is not JSON" in text


def test_progress_always_goes_to_stderr_through_tqdm(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
) -> None:
    need("tqdm", "progress")
    csv = tmp_path / "big.csv"
    rows = [f"o{i},place,2026-03-02T09:00:00+00:00,{i}\n" for i in range(3000)]
    csv.write_text("journey_id,event,at,id\n" + "".join(rows), encoding="utf-8")
    status, text = run("replay", str(csv), "--progress", "always")
    assert status == 0 and "3,000 journeys" in text
    err = capsys.readouterr().err
    assert "reading big.csv" in err
    assert "reading" not in text


def test_progress_auto_writes_nothing_when_stderr_is_not_a_terminal(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
) -> None:
    # The hand-written bar used to write 101 frames into redirected logs.
    csv = tmp_path / "big.csv"
    pad = "x" * 60
    rows = [f"o{i},place,2026-03-02T09:00:00+00:00,{i},{pad}\n" for i in range(12_000)]
    csv.write_text("journey_id,event,at,id,note\n" + "".join(rows), encoding="utf-8")
    assert csv.stat().st_size > 1_000_000
    status, _ = run("replay", str(csv))
    assert status == 0
    assert capsys.readouterr().err == ""


def test_demo_shows_every_touchpoint_owed(tmp_path: pathlib.Path) -> None:
    out = io.StringIO()
    journeys_cli.demo(out, tmp_path)
    text = out.getvalue()
    assert text.startswith("== Journeys ==")
    for name in ("order_thanks", "production_update", "shipped_with_tracking",
                 "satisfaction_check", "promise_at_risk_notice"):
        assert f"owes {name}" in text
    assert "tracking 1Z999AA10123456784" in text
    assert "from the bundled journeys_events.csv" in text


def test_bundled_sample_replays_cleanly() -> None:
    lines = iter(journeys_cli._sample_lines())
    report = journeys_cli.replay_csv(order_journey(), lines)
    assert report.problems == ()
    assert len(report.journeys) == 60


def test_deeply_nested_data_is_a_malformed_row(tmp_path: pathlib.Path) -> None:
    # Regression: json.loads raised RecursionError on 5000 nested lists, ending the replay.
    deep = "[" * 5000 + "]" * 5000
    fairly_deep = "[" * 500 + "]" * 500
    csv = tmp_path / "deep.csv"
    csv.write_text(
        "journey_id,event,at,data\n"
        f'o1,place,2026-03-02T09:00:00+00:00,"{{""a"": {deep}}}"\n'
        f'o2,place,2026-03-02T09:00:00+00:00,"{{""a"": {fairly_deep}}}"\n'
        f'o3,place,2026-03-02T09:00:00+00:00,"{{""n"": 1{"0" * 5000}}}"\n'
        'o4,place,2026-03-02T09:00:00+00:00,"{""a"": [[1]]}"\n',
        encoding="utf-8",
    )
    status, text = run("replay", str(csv))
    assert status == 1
    # The same message whether the JSON parser gives up (Python 3.11) or Event does (3.13).
    for line in (2, 3):
        assert (
            f"line {line}: Event data is nested too deeply or refers to itself "
            "(lists and mappings may nest at most 100 levels deep)"
        ) in text
    assert (
        "line 4: data '{\"n\": 100000000000000000...00000000}' (5008 characters) is not JSON"
    ) in text
    assert "Traceback" not in text
    assert "problems: 3 (rows skipped)" in text
    assert "1 journeys, 1 events" in text  # o4 was replayed


def test_load_creates_a_journey_only_with_an_event_it_stores(tmp_path: pathlib.Path) -> None:
    # Regression: a journey was created at its first row even when every row was refused,
    # left in state 'new' at version 0, which replay of the same file does not count.
    from carekit.journeys import SQLiteJourneyStore

    events = tmp_path / "events.csv"
    events.write_text(
        "journey_id,event,at,id,data\n"
        "o-1,place,2026-03-02T09:00:00+00:00,p1,\n"
        "o-2,ship,2026-03-02T09:00:00+00:00,s2,\n"
        "o-2,deliver,2026-03-02T10:00:00+00:00,d2,\n"
        'o-3,ship,2026-03-02T08:00:00+00:00,s3,"{""channel"": ""sms""}"\n'
        'o-3,place,2026-03-02T09:00:00+00:00,p3,"{""channel"": ""email""}"\n',
        encoding="utf-8",
    )
    db = tmp_path / "j.db"
    status, text = run("load", str(events), "--store", f"sqlite:///{db}")
    assert status == 1
    assert text.splitlines()[0] == (
        f"{events}: 5 events read, 2 stored, 2 journeys created, 3 problem(s)"
    )
    assert [line.split(":")[0] for line in text.splitlines()[1:]] == [
        "  line 3", "  line 4", "  line 5"
    ]
    with SQLiteJourneyStore(db) as store:
        summaries = {s.journey_id: s for s in store.journeys()}
    assert sorted(summaries) == ["o-1", "o-3"]
    # o-3 starts, as replay starts it, at the row it takes, with that row's data.
    o3 = summaries["o-3"]
    assert (o3.state, o3.version, o3.channel) == ("placed", 1, "email")
    assert o3.started_at.isoformat() == "2026-03-02T09:00:00+00:00"
    _, replayed = run("replay", str(events), "--format", "csv")
    assert [row["journey_id"] for row in csv.DictReader(io.StringIO(replayed))] == [
        "o-1", "o-3"
    ]
