"""Interval plans from a forecast: requirements, totals, exports and bad forecasts."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from zoneinfo import ZoneInfo

import pytest

from carekit import CareKitError, InfeasibleTarget
from carekit.staffing import ServiceTarget, Workload, plan, required_agents

LONDON = ZoneInfo("Europe/London")
NINE = dt.datetime(2025, 3, 3, 9, tzinfo=LONDON)
HALF = dt.timedelta(minutes=30)
TARGET = ServiceTarget(service_level=0.8, answer_within=20, max_occupancy=0.85)


def forecast(*volumes: float) -> list[tuple[dt.datetime, float]]:
    return [(NINE + i * HALF, v) for i, v in enumerate(volumes)]


def test_one_requirement_per_interval_matching_required_agents() -> None:
    p = plan(forecast(100, 140.5, 0, 100), aht=180, target=TARGET, shrinkage=0.3)
    assert len(p) == 4
    for r, (start, volume) in zip(p, forecast(100, 140.5, 0, 100), strict=True):
        alone = required_agents(Workload(volume=volume, aht=180, interval=HALF), TARGET, 0.3)
        assert (r.start, r.volume, r.agents, r.scheduled) == (
            start, volume, alone.agents, alone.scheduled)
    assert p.agent_hours == sum(r.agents for r in p) / 2
    assert p.scheduled_hours == sum(r.scheduled for r in p) / 2
    assert p.volume == pytest.approx(340.5)
    assert p.peak.volume == 140.5


def test_interval_length_changes_the_load() -> None:
    hourly = plan(forecast(200), aht=180, target=TARGET, interval=dt.timedelta(hours=1))
    half = plan(forecast(100), aht=180, target=TARGET, interval=1800)
    assert hourly.requirements[0].agents == half.requirements[0].agents
    assert hourly.agent_hours == 2 * half.agent_hours


def test_csv_export_round_trips() -> None:
    p = plan(forecast(100, 150), aht=180, target=TARGET, shrinkage=0.3)
    rows = list(csv.DictReader(io.StringIO(p.to_csv())))
    assert [int(r["scheduled"]) for r in rows] == [r.scheduled for r in p]
    assert rows[0]["interval_start"] == NINE.isoformat()
    assert float(rows[1]["volume"]) == 150


def test_json_export_has_settings_totals_and_intervals() -> None:
    p = plan(forecast(100, 150), aht=180, target=TARGET, shrinkage=0.3, patience=90)
    doc = json.loads(p.to_json())
    assert doc["scheduled_hours"] == p.scheduled_hours
    assert doc["shrinkage"] == 0.3
    assert doc["patience_seconds"] == 90
    assert [i["agents"] for i in doc["intervals"]] == [r.agents for r in p]
    for row in doc["intervals"]:
        assert all(v is None or not (isinstance(v, float) and math.isnan(v)) for v in row.values())


def test_empty_forecast_is_an_empty_plan() -> None:
    p = plan([], aht=180, target=TARGET)
    assert len(p) == 0
    assert p.agent_hours == 0
    assert p.to_csv().startswith("interval_start")
    with pytest.raises(CareKitError, match="empty plan"):
        _ = p.peak


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        ([(dt.datetime(2025, 3, 3, 9), 10)], "timezone-aware"),
        ([(NINE, -1)], r"forecast\[0\] volume must be >= 0"),
        ([(NINE, math.nan)], r"forecast\[0\] volume must be a finite number"),
        ([(NINE, 5), (NINE, 6)], r"forecast\[1\] interval_start must be at least one interval"),
        ([(NINE + HALF, 5), (NINE, 6)], "at least one interval"),
        # starts 7 minutes apart cannot be 30-minute intervals
        ([(NINE, 5), (NINE + dt.timedelta(minutes=7), 6)], r"at least one interval \(0:30:00\)"),
        ([(NINE,)], r"forecast\[0\] must be an \(interval_start, volume\) pair"),
        ([42], "pair"),
    ],
)
def test_bad_forecasts(rows: list[object], fragment: str) -> None:
    with pytest.raises(CareKitError, match=fragment):
        plan(rows, aht=180, target=TARGET)  # type: ignore[arg-type]


def test_a_forecast_that_is_not_iterable_is_named() -> None:
    with pytest.raises(CareKitError, match="forecast must be an iterable .* \\(got None\\)"):
        plan(None, aht=180, target=TARGET)  # type: ignore[arg-type]


def test_gaps_between_intervals_are_allowed() -> None:
    # A shop closed over lunch: 09:00 and 13:00 are fine with 30-minute intervals.
    p = plan([(NINE, 10), (NINE + dt.timedelta(hours=4), 10)], aht=180, target=TARGET)
    assert len(p.requirements) == 2


def test_bad_settings() -> None:
    with pytest.raises(CareKitError, match="aht must be a positive duration"):
        plan(forecast(10), aht=0, target=TARGET)
    with pytest.raises(CareKitError, match="shrinkage must lie in"):
        plan(forecast(10), aht=60, target=TARGET, shrinkage=1)
    with pytest.raises(CareKitError, match="shrinkage must lie in"):
        plan([], aht=60, target=TARGET, shrinkage=1.5)
    with pytest.raises(CareKitError, match="interval must be a positive duration"):
        plan(forecast(10), aht=60, target=TARGET, interval=0)
    with pytest.raises(InfeasibleTarget):
        plan(forecast(10), aht=60, target=ServiceTarget(service_level=1, answer_within=0))


def test_a_volume_too_large_to_staff_is_refused_naming_the_interval() -> None:
    # 1e200 calls in a half-hour used to end in a ZeroDivisionError
    with pytest.raises(CareKitError, match=(
        r"forecast\[1\] volume must make an offered load \(volume x aht / interval\) of at "
        r"most 1e\+15 Erlangs \(got forecast\[1\] volume=1e\+200, a load of 1e\+199 Erlangs\)"
    )):
        plan(forecast(100, 1e200), aht=180, target=TARGET)
    biggest = plan(forecast(1e16), aht=180, target=TARGET)  # 1e15 Erlangs exactly
    assert biggest.peak.agents == -(-(10**15) * 20 // 17)  # occupancy <= 0.85, exactly


def test_an_interval_running_past_the_year_9999_is_refused() -> None:
    # NINE + timedelta.max used to raise OverflowError: date value out of range.
    rows = [(NINE, 5), (NINE + HALF, 5)]
    with pytest.raises(CareKitError, match=r"forecast\[0\] interval_start plus the interval "
                       r"\(999999999 days, 23:59:59.999999\) must fall within the years 1 to "
                       "9999"):
        plan(rows, aht=300, target=ServiceTarget(0.8, 20), interval=dt.timedelta.max)
    last = dt.datetime(9999, 12, 31, 23, 45, tzinfo=dt.timezone.utc)
    with pytest.raises(CareKitError, match=r"forecast\[1\] interval_start plus the interval"):
        plan([(last - HALF, 5), (last, 5)], aht=300, target=TARGET, interval=HALF)
    assert len(plan([(last - HALF, 5)], aht=300, target=TARGET, interval=HALF)) == 1


@pytest.mark.parametrize("minutes", [1, 15, 30, 45.5, 59])
def test_a_bare_number_of_minutes_for_an_interval_is_refused_with_a_hint(minutes: float) -> None:
    # interval=30 reads 30 seconds: 1,216 agents instead of 25 for 100 calls of 3 minutes.
    from carekit.staffing import Workload, backlog, capacity

    hint = (
        rf"interval={minutes:g} is {minutes:g} seconds, too short for an interval \(a bare "
        rf"number is seconds\); pass timedelta\(minutes={minutes:g}\) or {minutes * 60:g} "
    )
    with pytest.raises(CareKitError, match=hint):
        Workload(volume=100, aht=180, interval=minutes)
    with pytest.raises(CareKitError, match=hint):
        plan(forecast(10), aht=180, target=TARGET, interval=minutes)
    with pytest.raises(CareKitError, match=hint):
        capacity(14, TARGET, aht=180, interval=minutes)
    with pytest.raises(CareKitError, match=hint):
        backlog([(NINE, 10)], aht=180, within=3600, interval=minutes)
    # The half-hour example is given once: not again when it is the advice itself.
    with pytest.raises(CareKitError) as refused:
        Workload(volume=100, aht=180, interval=minutes)
    assert str(refused.value).count("timedelta(minutes=30)") == 1


def test_an_interval_of_a_minute_or_more_or_any_timedelta_is_taken_as_given() -> None:
    from carekit.staffing import Workload

    assert Workload(volume=100, aht=180, interval=1800).interval == HALF
    assert Workload(volume=100, aht=180, interval=60).interval == dt.timedelta(minutes=1)
    short = dt.timedelta(seconds=30)
    assert Workload(volume=1, aht=1, interval=short).interval == short
    assert plan(forecast(10), aht=180, target=TARGET, interval=1800).interval == HALF


def test_a_plan_its_coverage_and_a_backlog_index_like_the_tuples_they_hold() -> None:
    # Regression: len(plan) and iteration worked, plan[0] was a TypeError.
    from carekit.staffing import Roster, Shift, backlog, coverage

    t0 = dt.datetime(2025, 3, 3, 8, tzinfo=dt.timezone.utc)
    half = dt.timedelta(minutes=30)
    day = plan([(t0 + i * half, 50) for i in range(4)], aht=300,
               target=ServiceTarget(service_level=0.8, answer_within=20))
    assert day[0] is day.requirements[0] and day[-1].start == t0 + 3 * half
    assert day[1:3] == day.requirements[1:3]
    roster = Roster(shifts=[Shift(name="day", start=t0, duration=8 * 3600, agents=20)])
    cov = coverage(day, roster)
    assert cov[0] is cov.intervals[0] and cov[-2:] == cov.intervals[-2:]
    desk = backlog([(t0 + i * half, 10) for i in range(4)], aht=240,
                   within=dt.timedelta(hours=1), hours=("08:00", "10:00"))
    assert desk[0] is desk.intervals[0]
    with pytest.raises(IndexError):
        day[4]


def test_starts_across_a_daylight_saving_change_are_compared_as_instants() -> None:
    # Autumn: half-hours stepped in UTC and shown in London time repeat 01:00 and 01:30.
    eleven = dt.datetime(2025, 10, 25, 23, tzinfo=dt.timezone.utc)
    autumn = [((eleven + i * HALF).astimezone(LONDON), 40.0) for i in range(8)]
    assert [r.start for r in plan(autumn, aht=300, target=TARGET)] == [s for s, _ in autumn]
    in_utc = plan([(s.astimezone(dt.timezone.utc), v) for s, v in autumn], aht=300, target=TARGET)
    assert plan(autumn, aht=300, target=TARGET).scheduled_hours == in_utc.scheduled_hours == 40
    # Spring: stepping the wall clock gives 01:00 and 01:30, which do not exist: they are the
    # instants 02:00 and 02:30 are, so the intervals overlap.
    midnight = dt.datetime(2025, 3, 30, tzinfo=LONDON)
    wall = [(midnight + i * HALF, 40.0) for i in range(6)]
    with pytest.raises(
        CareKitError,
        match=r"forecast\[4\] interval_start must be at least one interval .* in UTC it starts "
              r"at 2025-03-30 01:00 and the previous one at 2025-03-30 01:30; across a "
              r"daylight-saving change, step the starts on a UTC time",
    ):
        plan(wall, aht=300, target=TARGET)
