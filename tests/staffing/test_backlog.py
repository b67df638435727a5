"""Deferred work: the backlog plan meets every deadline, never works ahead, and spreads the
overnight pile instead of making a phantom peak at opening.

Reference: a plain first-in-first-out replay of the work, written here with no code shared
with carekit's, in exact fractions; the rates are checked by hand on a small case.
"""

from __future__ import annotations

import datetime as dt
import math
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests._extras import requires

from carekit import CareKitError
from carekit.calendar import BusinessCalendar
from carekit.staffing import (
    Roster,
    ServiceTarget,
    Shift,
    ShiftTemplate,
    backlog,
    coverage,
    plan,
    schedule,
)

UTC = dt.timezone.utc
MIDNIGHT = dt.datetime(2025, 3, 3, tzinfo=UTC)  # a Monday
HOUR = dt.timedelta(hours=1)


def inbox(volumes: list[int]) -> list[tuple[dt.datetime, float]]:
    return [(MIDNIGHT + i * HOUR, v) for i, v in enumerate(volumes)]


def test_the_overnight_pile_is_spread_over_the_morning_by_hand() -> None:
    # 8 hours closed x 30 mails x 4 minutes = 16 hours of work due by 12:00 (4 open hours),
    # plus 10 mails an hour from 08:00. At 08:00: (16 + 2/3) / 4 hours = 4.17 -> 5 agents.
    # At 09:00: 11 2/3 hours due by 12:00 over 3 hours -> 4; at 10:00 7 2/3 over 2 -> 4;
    # at 11:00 3 2/3 over 1 -> 4; at 12:00 the 09:00 mail (due 13:00) and the rest: 1.
    p = backlog(inbox([30] * 8 + [10] * 6), aht=240, within=4 * HOUR,
                hours=("08:00", "18:00"), interval=HOUR)
    assert [r.agents for r in p if r.open] == [5, 4, 4, 4, 1, 0]
    assert [r.open for r in p] == [False] * 8 + [True] * 6
    assert p.intervals[0].due == MIDNIGHT.replace(hour=11)
    assert p.intervals[8].carried_in == pytest.approx(16.0)
    assert p.work_hours == pytest.approx(16 + 4)
    # the last hours' mail is due after the forecast: carried out, not forced in
    assert p.intervals[-1].carried_out == pytest.approx(2.0)
    # planned as calls (Erlang C, answer within 4 hours), the 08:00 interval alone would
    # need every overnight mail done in that hour: 17 agents, a phantom peak
    phantom = plan([(MIDNIGHT.replace(hour=8), 250)], aht=240,
                   target=ServiceTarget(service_level=0.99, answer_within=4 * 3600),
                   interval=HOUR)
    assert phantom.requirements[0].agents >= 17


def _replay(volumes: list[int], aht: int, open_: list[bool], k: int,
            agents: list[int]) -> tuple[bool, bool]:
    """Independent FIFO replay: (every deadline met, never worked on what had not arrived)."""
    length = 3600
    queue: list[list[Fraction]] = []  # [due index, work]
    opens = [i for i, o in enumerate(open_) if o]
    met, ahead_ok = True, True
    for i, v in enumerate(volumes):
        later = [j for j in opens if j >= i]
        due = later[k - 1] if len(later) >= k else None
        if v:
            queue.append([Fraction(len(volumes) if due is None else due), Fraction(v * aht)])
        capacity = Fraction(agents[i] * length)
        available = sum(w for _, w in queue)
        if capacity > available + length:  # more than one agent idle: worked ahead
            ahead_ok = ahead_ok and agents[i] <= math.ceil(available / length)
        while queue and capacity > 0:
            take = min(capacity, queue[0][1])
            queue[0][1] -= take
            capacity -= take
            if queue[0][1] == 0:
                queue.pop(0)
        if any(d <= i for d, _ in queue):
            met = False
    return met, ahead_ok


@settings(max_examples=60, deadline=None)
@given(volumes=st.lists(st.integers(0, 40), min_size=1, max_size=48),
       within=st.integers(1, 6), opens=st.integers(0, 12), closes=st.integers(13, 24))
def test_every_deadline_is_met_without_working_ahead(
    volumes: list[int], within: int, opens: int, closes: int,
) -> None:
    hours = (dt.time(opens), dt.time(0) if closes == 24 else dt.time(closes))
    p = backlog(inbox(volumes), aht=300, within=within * HOUR, hours=hours, interval=HOUR)
    open_ = [r.open for r in p]
    assert open_ == [opens <= (i % 24) < closes for i in range(len(volumes))]
    agents = [r.agents for r in p]
    assert all(a == 0 for a, o in zip(agents, open_, strict=True) if not o)
    met, ahead_ok = _replay(volumes, 300, open_, within, agents)
    assert met and ahead_ok
    assert all(share == 1.0 for share in p.on_time(agents))


def test_a_calendar_closes_whole_days_and_shrinkage_grosses_up() -> None:
    friday = dt.datetime(2025, 3, 7, 16, tzinfo=UTC)
    fc = [(friday + i * HOUR, 12) for i in range(24 * 3 + 20)]
    shop = BusinessCalendar(workdays=range(5), tz=UTC)
    p = backlog(fc, aht=300, within=2 * HOUR, hours=("09:00", "17:00"), calendar=shop,
                shrinkage=0.25, interval=HOUR)
    weekend = [r for r in p if r.start.weekday() >= 5]
    assert weekend and not any(r.open for r in weekend) and not any(r.agents for r in weekend)
    for r in p:
        assert r.scheduled == -(-r.agents * 4 // 3)  # ceil(agents / 0.75)
    monday_nine = next(r for r in p if r.start.weekday() == 0 and r.start.hour == 9)
    # the whole weekend's mail is due by Monday 11:00: two hours to do it
    assert monday_nine.agents >= math.ceil(monday_nine.carried_in / 2)


@requires("highspy", extra="schedule")
def test_coverage_and_schedule_of_a_backlog() -> None:
    p = backlog(inbox([30] * 8 + [10] * 10), aht=240, within=4 * HOUR,
                hours=("08:00", "18:00"), interval=HOUR)
    late = Roster(shifts=[Shift(name="x", start=MIDNIGHT.replace(hour=8), duration=10 * HOUR,
                                agents=2)])
    cov = coverage(p, late)
    assert cov.target == 1.0 and cov.service_level < 1.0 and cov.intervals_under_target > 0
    sched = schedule(p, [ShiftTemplate("four", 4 * HOUR, earliest="08:00", latest="14:00",
                                       step=HOUR)])
    assert sched.status == "optimal" and sched.short == ()
    assert sched.coverage.service_level == 1.0
    with pytest.raises(CareKitError, match="budget_hours needs a StaffingPlan"):
        schedule(p, [ShiftTemplate("four", 4 * HOUR)], budget_hours=10)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"within": 0}, "within must be a positive duration"),
        ({"aht": -1}, "aht must be a positive duration"),
        ({"hours": "9-5"}, "hours must be an (opens, closes) pair"),
        ({"hours": ("9am", "17:00")}, "hours times must look like '08:00' (got '9am')"),
        ({"hours": ("17:00", "09:00")}, "hours must open before it closes"),
        ({"shrinkage": 1}, "shrinkage must lie in [0, 1)"),
        ({"calendar": "weekdays"}, "calendar must be a carekit.calendar.BusinessCalendar"),
        ({"forecast": [(MIDNIGHT, 1), (MIDNIGHT + 2 * HOUR, 1)]},
         "forecast[1] interval_start must be one interval (1:00:00) after the previous one"),
        ({"forecast": [(MIDNIGHT, -1)]}, "forecast[0] volume must be >= 0"),
        ({"forecast": [(dt.datetime(2025, 3, 3), 1)]}, "timezone-aware"),
        ({"forecast": [MIDNIGHT]}, "forecast[0] must be an (interval_start, volume) pair"),
        ({"forecast": 3}, "forecast must be an iterable"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], fragment: str) -> None:
    call: dict[str, object] = {"forecast": inbox([5, 5]), "aht": 240, "within": HOUR,
                               "interval": HOUR, **kwargs}
    with pytest.raises(CareKitError, match=fragment.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[")):
        backlog(call.pop("forecast"), **call)  # type: ignore[arg-type]


def test_a_forecast_in_local_time_across_the_autumn_change_is_one_interval_apart() -> None:
    # Hours stepped in UTC, shown in London time: 01:00 comes twice on 26 October 2025.
    london = ZoneInfo("Europe/London")
    eleven = dt.datetime(2025, 10, 25, 22, tzinfo=UTC)
    in_utc = [(eleven + i * HOUR, 30.0 if i < 4 else 10.0) for i in range(12)]
    local = [(start.astimezone(london), v) for start, v in in_utc]
    assert [s.hour for s, _ in local][:5] == [23, 0, 1, 1, 2]
    assert [r.agents for r in backlog(local, aht=240, within=4 * HOUR, interval=HOUR)] == [
        r.agents for r in backlog(in_utc, aht=240, within=4 * HOUR, interval=HOUR)]
    # Stepped on the wall clock across the spring change, 01:00 (which does not exist) is
    # the instant 02:00 is: the message says so in UTC.
    wall = [(dt.datetime(2025, 3, 30, tzinfo=london) + i * HOUR, 10.0) for i in range(4)]
    with pytest.raises(CareKitError, match=(
        r"forecast\[2\] .* \(in UTC 2025-03-30 01:00 against 2025-03-30 01:00: across a "
        r"daylight-saving change, step the starts on a UTC time")):
        backlog(wall, aht=240, within=4 * HOUR, interval=HOUR)


def test_on_time_refuses_a_wrong_agents_list() -> None:
    p = backlog(inbox([5, 5]), aht=240, within=HOUR, interval=HOUR)
    with pytest.raises(CareKitError, match="agents must be one whole number >= 0 per interval"):
        p.on_time([1])
    with pytest.raises(CareKitError, match="agents must be one whole number >= 0 per interval"):
        p.on_time(None)  # type: ignore[arg-type]
    assert p.to_csv().splitlines()[0].startswith("interval_start,volume,open,due")
