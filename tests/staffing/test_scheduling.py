"""schedule(): the cheapest roster of whole shifts, checked against brute force.

The references share no code with the integer program: every roster a template set can make
on a small day is enumerated, its coverage computed by :func:`coverage` (the people on the
floor interval by interval), and the cheapest one that covers the plan (or, with a budget, the
one with the best volume-weighted service level) is the answer the solver must match.
"""

from __future__ import annotations

import builtins
import datetime as dt
import itertools
import math
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests._extras import need

from carekit import CareKitError
from carekit.staffing import (
    Break,
    Roster,
    Schedule,
    ServiceTarget,
    Shift,
    ShiftTemplate,
    Workload,
    _highs,
    coverage,
    performance,
    plan,
    schedule,
    scheduling,
)

need("highspy", "schedule")

LONDON = ZoneInfo("Europe/London")
UTC = dt.timezone.utc
MONDAY = dt.datetime(2025, 3, 3, tzinfo=LONDON)
HALF = dt.timedelta(minutes=30)
HOUR = dt.timedelta(hours=1)
TARGET = ServiceTarget.parse("80/20")


EIGHT = MONDAY.replace(hour=8)


def day_plan(volumes: list[float], *, start: dt.datetime = EIGHT,
             shrinkage: float = 0.0) -> Any:
    return plan([(start + i * HALF, v) for i, v in enumerate(volumes)], aht=180,
                target=TARGET, shrinkage=shrinkage)


def covers(p: Any, roster: Roster, shrinkage: float | None = None) -> bool:
    return all(c.gap >= 0 for c in coverage(p, roster, shrinkage=shrinkage))


# --- the integer program against brute force --------------------------------------------


def _rosters(p: Any, templates: list[ShiftTemplate], most: int) -> Any:
    """Every roster of up to ``most`` people per start (and break place) the templates allow."""
    starts = []
    first = p.requirements[0].start
    end = p.requirements[-1].start + p.interval
    for t in templates:
        base = dt.datetime.combine(first.date(), t.earliest, tzinfo=first.tzinfo)
        k = 0
        while k * t.step <= t.window:
            s = base + k * t.step
            if s < end and s + t.duration > first:
                places = [[b.after + j * t.step for j in range(
                    int((b.last_start - b.after) / t.step) + 1)] for b in t.breaks]
                for chosen in itertools.product(*places):
                    breaks = [Break(after=a, length=b.length)
                              for a, b in zip(chosen, t.breaks, strict=True)]
                    starts.append((t, s, breaks))
            k += 1
    for counts in itertools.product(range(most + 1), repeat=len(starts)):
        shifts = [Shift(name=t.name, start=s, duration=t.duration, agents=n, breaks=b)
                  for (t, s, b), n in zip(starts, counts, strict=True) if n]
        cost = sum(n * t.cost_per_hour * t.paid_hours
                   for (t, _, _), n in zip(starts, counts, strict=True))
        yield Roster(shifts=shifts), cost


def brute_force_cost(p: Any, templates: list[ShiftTemplate], most: int) -> float:
    return min(cost for roster, cost in _rosters(p, templates, most) if covers(p, roster))


def test_a_small_day_matches_brute_force() -> None:
    p = day_plan([20, 40, 60, 60, 40, 20])
    assert [r.scheduled for r in p] == [4, 7, 9, 9, 7, 4]
    templates = [ShiftTemplate("two", 2 * HOUR, earliest="08:00", latest="09:00",
                               cost_per_hour=1.0),
                 ShiftTemplate("three", 3 * HOUR, earliest="08:00", latest="08:00",
                               cost_per_hour=0.9)]
    result = schedule(p, templates)
    assert result.status == "optimal"
    assert result.short == () and covers(p, result.roster)
    assert result.cost == pytest.approx(brute_force_cost(p, templates, most=9))
    assert result.lower_bound == pytest.approx(result.cost) and result.gap == 0.0
    assert result.paid_hours == sum(s.agents * s.duration.total_seconds() / 3600
                                    for s in result.roster)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    volumes=st.lists(st.integers(0, 30), min_size=3, max_size=5),
    hours=st.sampled_from([1, 2]),
    window=st.integers(0, 2),
)
def test_random_days_match_brute_force(volumes: list[int], hours: int, window: int) -> None:
    p = day_plan(volumes)
    latest = (MONDAY.replace(hour=8) + window * HALF).time()
    templates = [ShiftTemplate("t", hours * HOUR, earliest="08:00", latest=latest)]
    most = max(r.scheduled for r in p)
    start_of_last = p.requirements[-1].start
    reachable = start_of_last < MONDAY.replace(hour=8) + window * HALF + hours * HOUR
    result = schedule(p, templates)
    if not reachable and p.requirements[-1].scheduled > 0:
        assert result.status == "infeasible"
        assert start_of_last in result.short
        return
    assert result.status == "optimal" and result.short == ()
    assert result.cost == pytest.approx(brute_force_cost(p, templates, most))


def test_breaks_are_placed_where_coverage_can_spare_them() -> None:
    # Two people from 08:00 to 12:00 must keep one on the floor at all times: with a fixed
    # break at the same offset both would leave at once, so the solver staggers them.
    p = day_plan([1] * 8)
    assert {r.scheduled for r in p} == {1}
    lunch = Break(after=HOUR, length=HALF, latest=2 * HOUR + HALF)
    four = ShiftTemplate("four", 4 * HOUR, earliest="08:00", latest="08:00", breaks=[lunch])
    result = schedule(p, [four])
    assert result.status == "optimal" and result.paid_hours == 8.0
    breaks = sorted(b.after for s in result.roster for b in s.breaks for _ in range(s.agents))
    assert len(breaks) == 2 and breaks[0] != breaks[1]
    assert all(HOUR <= b <= 2 * HOUR + HALF for b in breaks)
    assert covers(p, result.roster)
    fixed = ShiftTemplate("four", 4 * HOUR, earliest="08:00", latest="08:00",
                          breaks=[Break(after=2 * HOUR, length=HALF)])
    # Fixed breaks coincide: nobody is left on the floor at 10:00, however many start.
    stuck = schedule(p, [fixed])
    assert stuck.status == "infeasible" and stuck.short == (MONDAY.replace(hour=10),)
    assert brute_force_cost(p, [four], most=3) == 8.0


def test_many_break_places_use_the_per_place_formulation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Three windowed breaks of five places each: 125 combinations, more than the 64 that get
    # a column each, so each break gets a column per place tied to the count of shifts.
    p = day_plan([20] * 16)
    breaks = [Break(after=HOUR, length=dt.timedelta(minutes=30), latest=3 * HOUR),
              Break(after=3 * HOUR + HALF, length=HALF, latest=5 * HOUR + HALF),
              Break(after=6 * HOUR, length=HALF, latest=7 * HOUR)]
    t = ShiftTemplate("long", 8 * HOUR, earliest="08:00", latest="08:00", breaks=breaks)
    result = schedule(p, [t])
    assert {r.scheduled for r in p} == {4}
    assert result.status == "optimal" and covers(p, result.roster)
    # By hand: 4 on the floor all day from people on 08:00-16:00 shifts. Five people would
    # put five third breaks in three places (14:00, 14:30, 15:00), two in one half-hour,
    # leaving three on the floor; six people take them two by two.
    assert sum(s.agents for s in result.roster) == 6
    monkeypatch.setattr(scheduling, "MAX_COMBINATIONS", 1000)  # a column per combination
    assert schedule(p, [t]).cost == result.cost
    for shift in result.roster:
        assert [b.after for b in shift.breaks] == sorted(b.after for b in shift.breaks)
        for b, window in zip(shift.breaks, breaks, strict=True):
            assert window.after <= b.after <= window.last_start


def test_days_max_count_and_costs_are_respected() -> None:
    week = [(MONDAY + d * dt.timedelta(days=1) + dt.timedelta(hours=9) + i * HALF, 40)
            for d in range(7) for i in range(8)]
    p = plan(week, aht=180, target=TARGET)
    weekday = ShiftTemplate("weekday", 4 * HOUR, earliest="09:00", latest="09:00",
                            days=range(5), cost_per_hour=1.0)
    weekend = ShiftTemplate("weekend", 4 * HOUR, earliest="09:00", latest="09:00",
                            days=[5, 6], cost_per_hour=1.5)
    result = schedule(p, [weekday, weekend])
    assert result.status == "optimal" and result.short == ()
    need = p.requirements[0].scheduled
    assert result.cost == need * 4 * (5 * 1.0 + 2 * 1.5)
    for shift in result.roster:
        for occurrence in shift.occurrences(MONDAY, MONDAY + dt.timedelta(days=7)):
            assert (occurrence.weekday() < 5) == (shift.name == "weekday")
    # A weekly rule per repeated shift: one shift for the five weekdays, one for the weekend.
    rules = sorted(s.recurrence or "" for s in result.roster)
    assert rules == ["FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;COUNT=5", "FREQ=WEEKLY;BYDAY=SA,SU;COUNT=2"]
    # At most 3 weekday shifts a day leaves the rest of each weekday short.
    capped = schedule(p, [ShiftTemplate("weekday", 4 * HOUR, earliest="09:00",
                                        latest="09:00", max_count=3), weekend])
    assert capped.status == "infeasible"
    assert len(capped.short) == 5 * 8 and need > 3


def test_templates_that_cannot_cover_the_opening_hours_name_the_intervals() -> None:
    p = day_plan([30] * 12)  # 08:00 to 14:00
    late = ShiftTemplate("late", 3 * HOUR, earliest="10:00", latest="10:00")
    result = schedule(p, [late])
    assert result.status == "infeasible"
    uncovered = [MONDAY.replace(hour=8) + i * HALF for i in [0, 1, 2, 3, 10, 11]]
    assert list(result.short) == uncovered
    # the rest is still covered, at least cost
    on = [c for c in result.coverage if c.start not in uncovered]
    assert all(c.gap >= 0 for c in on)
    assert result.paid_hours == 3 * p.requirements[4].scheduled


@pytest.mark.parametrize("budget_hours", [None, 40.0])
def test_templates_that_place_no_shift_in_the_plan_leave_every_interval_short(
    budget_hours: float | None,
) -> None:
    # Every start falls after the plan's last interval: no roster but the empty one exists.
    # That is the documented infeasible result, not a solver time-out to retry with more time.
    p = day_plan([30] * 6)  # 08:00 to 11:00
    evening = ShiftTemplate("evening", 4 * HOUR, earliest="20:00", latest="22:00")
    result = schedule(p, [evening], budget_hours=budget_hours)
    assert result.status == "infeasible"
    assert list(result.short) == [r.start for r in p]
    assert list(result.roster) == []
    assert (result.paid_hours, result.cost, result.gap) == (0.0, 0.0, 0.0)
    assert isinstance(result.paid_hours, float) and isinstance(result.cost, float)
    quiet = day_plan([0] * 6)  # nothing to cover: the empty roster is the optimal one
    assert schedule(quiet, [evening]).status == "optimal"


def test_a_time_zone_and_daylight_saving() -> None:
    # Sunday 30 March 2025: London moves from 01:00 GMT to 02:00 BST. The template's 08:00 is
    # local time on both days, so the UTC start moves by an hour.
    saturday = dt.datetime(2025, 3, 29, 8, tzinfo=LONDON)
    fc = [(saturday + d * dt.timedelta(days=1) + i * HALF, 40) for d in range(2)
          for i in range(8)]
    p = plan(fc, aht=180, target=TARGET)
    t = ShiftTemplate("four", 4 * HOUR, earliest="08:00", latest="08:00")
    result = schedule(p, [t])
    assert result.status == "optimal" and result.short == ()
    starts = sorted(o.astimezone(UTC).hour for s in result.roster
                    for o in s.occurrences(saturday, saturday + dt.timedelta(days=2)))
    assert starts == [7, 8]
    # The same templates read in New York time start at 13:00 and 12:00 UTC: off this plan.
    ny = schedule(p, [t], tz="America/New_York")
    assert ny.status == "infeasible"


def test_shrinkage_the_roster_does_not_model() -> None:
    p = day_plan([60] * 4, shrinkage=0.3)
    t = ShiftTemplate("two", 2 * HOUR, earliest="08:00", latest="08:00")
    plain = schedule(p, [t])
    assert sum(s.agents for s in plain.roster) == p.requirements[0].scheduled
    own = schedule(p, [t], shrinkage=0.1)
    agents = p.requirements[0].agents
    assert sum(s.agents for s in own.roster) == math.ceil(agents / 0.9 - 1e-9)
    assert own.coverage == coverage(p, own.roster, shrinkage=0.1)


def test_a_window_past_midnight() -> None:
    night = dt.datetime(2025, 3, 3, 22, tzinfo=UTC)
    p = plan([(night + i * HALF, 30) for i in range(12)], aht=180, target=TARGET)
    t = ShiftTemplate("night", 4 * HOUR, earliest="22:00", latest="00:00")
    result = schedule(p, [t])
    assert result.status == "optimal" and result.short == ()
    starts = {s.start for s in result.roster}
    assert starts <= {night, night + HOUR, night + 2 * HOUR}


# --- budgets ------------------------------------------------------------------------------


def _volume_weighted(p: Any, roster: Roster) -> float:
    """Each interval's service level with the agents on the floor, capped at its need."""
    total = 0.0
    for c, r in zip(coverage(p, roster), p, strict=True):
        w = Workload(volume=c.volume, aht=p.aht, interval=p.interval)
        total += c.volume * performance(w, min(c.agents, r.agents), 20).service_level
    return total / p.volume


def test_a_budget_maximises_the_service_level_as_brute_force_does() -> None:
    p = day_plan([20, 40, 60, 40])
    t = ShiftTemplate("one", HOUR, earliest="08:00", latest="09:00")
    full = schedule(p, [t])
    budget = full.paid_hours - 3
    result = schedule(p, [t], budget_hours=budget)
    assert result.paid_hours <= budget and result.lower_bound == result.cost
    assert result.status == "optimal"
    best = max(_volume_weighted(p, roster) for roster, cost in _rosters(p, [t], 9)
               if cost <= budget)
    assert _volume_weighted(p, result.roster) == pytest.approx(best, abs=1e-9)
    assert result.short  # holding staff back leaves intervals short, now visible
    # A budget that covers everything gives the cheapest full cover.
    generous = schedule(p, [t], budget_hours=full.paid_hours + 10)
    assert generous.paid_hours == full.paid_hours and generous.short == ()


# --- results that the time limit cuts short ------------------------------------------------


def test_a_time_limit_returns_the_best_roster_with_its_gap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = day_plan([20, 40, 60, 60, 40, 20])
    t = ShiftTemplate("two", 2 * HOUR, earliest="08:00", latest="09:00")
    real = _highs.solve

    def cut_short(model: _highs.Model, **kwargs: Any) -> _highs.Solution:
        found = real(model, **kwargs)
        # as if the limit came first, with the bound one shift below the roster found
        return _highs.Solution(status="feasible", values=found.values,
                               objective=found.objective, bound=found.objective - 2.0,
                               gap=2.0 / found.objective, seconds=kwargs["seconds"])

    monkeypatch.setattr(_highs, "solve", cut_short)
    result = schedule(p, [t], max_seconds=0.5)
    assert result.status == "feasible" and result.short == ()
    assert result.lower_bound == result.cost - 2.0
    assert result.gap == pytest.approx(2.0 / result.cost)

    def nothing(model: _highs.Model, **kwargs: Any) -> _highs.Solution:
        return _highs.Solution(status="none", values=(), objective=math.nan,
                               bound=math.nan, gap=math.inf, seconds=0.5)

    monkeypatch.setattr(_highs, "solve", nothing)
    with pytest.raises(CareKitError, match=r"no roster was found within max_seconds=0.5"):
        schedule(p, [t], max_seconds=0.5)


def test_the_solver_output_stays_off_standard_output(capfd: pytest.CaptureFixture[str]) -> None:
    schedule(day_plan([10, 20]), [ShiftTemplate("one", HOUR, earliest="08:00")])
    out, _ = capfd.readouterr()
    assert out == ""


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"duration": -HOUR}, "duration must be a positive duration"),
        ({"duration": 0}, "duration must be a positive duration"),
        ({"duration": 8}, "duration=8 is 8 seconds (a bare number is seconds); pass "
         "timedelta(hours=8) or 28800 for 8 hours"),
        ({"name": ""}, "a template's name must be a non-empty string"),
        ({"earliest": "8 o'clock"}, "earliest must be a time of day such as '08:00'"),
        ({"latest": dt.time(9, tzinfo=UTC)}, "latest must be a local time of day"),
        ({"earliest": 8}, "earliest must be a datetime.time or 'HH:MM' text (got 8)"),
        ({"step": 0}, "step must be a positive duration"),
        # In words, not Break(after=datetime.timedelta(...)) reprs.
        ({"breaks": [Break(after=3 * HOUR, length=2 * HOUR)]},
         "the break after 3h (120 min) of template 't' ends at 5h, after the shift's 4h; "
         "a break must end within its shift"),
        ({"breaks": [Break(after=HOUR, length=HALF, latest=3.75 * HOUR)]},
         "the break after 1h-3h45m (30 min) of template 't' ends at 4h15m when it starts at "
         "its latest, after the shift's 4h"),
        ({"breaks": [Break(after=HOUR, length=HALF, latest=2 * HOUR),
                     Break(after=2 * HOUR, length=HALF)]},
         "the breaks of template 't' must not overlap: the break after 2h (30 min) may start "
         "before the break after 1h-2h (30 min) ends (at 2h30m)"),
        ({"days": [7]}, "days must be weekday numbers 0 (Monday) to 6 (Sunday)"),
        ({"days": []}, "days must name at least one weekday"),
        ({"days": "MO"}, "days must be weekday numbers"),
        ({"cost_per_hour": 0}, "cost_per_hour must be > 0"),
        ({"max_count": 0}, "max_count must be an integer >= 1"),
    ],
)
def test_bad_templates(kwargs: dict[str, Any], fragment: str) -> None:
    base: dict[str, Any] = {"name": "t", "duration": 4 * HOUR}
    with pytest.raises(CareKitError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        ShiftTemplate(**{**base, **kwargs})


def test_a_break_window_must_not_start_before_it_opens() -> None:
    with pytest.raises(CareKitError, match=r"latest must be at or after after \(2h\): the "
                       r"window in which the break may start \(got latest 1h\)"):
        Break(after=2 * HOUR, length=HALF, latest=HOUR)
    with pytest.raises(CareKitError, match="a shift's breaks start at a fixed time"):
        Shift(name="x", start=MONDAY, duration=4 * HOUR,
              breaks=[Break(after=HOUR, length=HALF, latest=2 * HOUR)])


@pytest.mark.parametrize(
    ("args", "kwargs", "fragment"),
    [
        ((), {"templates": []}, "templates must name at least one ShiftTemplate (got none)"),
        ((), {"templates": ["early"]}, "templates must be carekit.staffing.ShiftTemplate"),
        ((), {"templates": "early"}, "templates must be a list of"),
        ((), {"templates": [ShiftTemplate("a", HOUR), ShiftTemplate("a", 2 * HOUR)]},
         "templates must have distinct names (got 'a' 2 times)"),
        ((), {"templates": [ShiftTemplate("a", HOUR, step=dt.timedelta(minutes=20))]},
         "step must divide the plan's interval (0:30:00) or be a whole multiple of it"),
        ((), {"templates": [ShiftTemplate("a", HOUR, earliest="08:10", latest="09:10")]},
         "off the plan's grid of 0:30:00"),
        ((), {"tz": "Mars/Olympus"}, "tz must be a time zone name such as 'Europe/London'"),
        ((), {"tz": 3}, "tz must be a datetime.tzinfo"),
        ((), {"shrinkage": 1.0}, "shrinkage must lie in [0, 1)"),
        ((), {"max_seconds": 0}, "max_seconds must be > 0"),
        ((), {"budget_hours": -5}, "budget_hours must be > 0"),
        ((), {"plan": "plan"}, "plan must be a carekit.staffing.StaffingPlan"),
    ],
)
def test_bad_schedule_arguments(args: tuple[Any, ...], kwargs: dict[str, Any],
                                fragment: str) -> None:
    call: dict[str, Any] = {"plan": day_plan([10, 20]),
                            "templates": [ShiftTemplate("t", HOUR, earliest="08:00")]}
    call.update(kwargs)
    with pytest.raises(CareKitError, match=fragment.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[")):
        schedule(call.pop("plan"), call.pop("templates"), **call)


def test_an_empty_plan_is_refused() -> None:
    with pytest.raises(CareKitError, match="plan must have at least one interval"):
        schedule(plan([], aht=180, target=TARGET), [ShiftTemplate("t", HOUR)])


def test_without_highspy_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_highspy(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "highspy":
            raise ImportError("No module named 'highspy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_highspy)
    with pytest.raises(CareKitError, match=r'pip install "carekit\[schedule\]"'):
        schedule(day_plan([10]), [ShiftTemplate("t", HOUR, earliest="08:00")])


def test_schedule_is_a_value() -> None:
    p = day_plan([10, 20])
    t = ShiftTemplate("t", HOUR, earliest="08:00")
    a, b = schedule(p, [t]), schedule(p, [t])
    assert isinstance(a, Schedule) and a == b  # deterministic; the solver's time is not compared


# --- cyclic plans: one period of a repeating pattern ----------------------------------------


def _requirement_plan(demand: list[int], start: dt.datetime, slot: dt.timedelta) -> Any:
    """A plan whose requirement per slot is ``demand`` (as another tool would give it)."""
    from carekit.staffing import Performance, Requirement, StaffingPlan

    perf = Performance(agents=0, traffic=0.0, wait_probability=0.0, service_level=1.0,
                       asa=0.0, occupancy=0.0, abandon_rate=0.0)
    return StaffingPlan(
        requirements=tuple(Requirement(agents=d, scheduled=d, performance=perf,
                                       start=(start.astimezone(UTC) + i * slot).astimezone(
                                           start.tzinfo), volume=0.0)
                           for i, d in enumerate(demand)),
        interval=slot, target=TARGET, shrinkage=0.0, aht=dt.timedelta(minutes=3))


def test_a_cyclic_week_covers_its_start_with_the_last_night() -> None:
    # Demand made from a known weekly pattern of 8-hour shifts: 3 people 06:00-14:00,
    # 2 people 14:00-22:00 and 1 person 22:00-06:00, every day. The night shift that starts
    # on Sunday covers Monday 00:00-06:00 of the same pattern.
    monday = dt.datetime(2025, 6, 2, tzinfo=UTC)
    demand = [([1] * 6 + [3] * 8 + [2] * 8 + [1] * 2)[h] for _ in range(7) for h in range(24)]
    p = _requirement_plan(demand, monday, HOUR)
    templates = [ShiftTemplate("eight", 8 * HOUR, earliest="06:00", latest="22:00",
                               step=8 * HOUR)]
    cyclic = schedule(p, templates, cyclic=True)
    assert cyclic.cyclic and cyclic.status == "optimal" and cyclic.short == ()
    # a perfect cover: every paid hour is a demanded hour, the least any cover can pay
    assert cyclic.paid_hours == sum(demand) == 7 * 48
    assert all(c.gap == 0 for c in cyclic.coverage)
    for shift in cyclic.roster:
        assert shift.recurrence is not None and shift.recurrence.startswith("FREQ=WEEKLY;BYDAY=")
        assert "COUNT" not in shift.recurrence
    # the wrapping night shift starts the Sunday before, so its first occurrence covers
    # Monday 00:00-06:00
    nights = sorted((s.start, s.recurrence) for s in cyclic.roster if s.start.hour == 22)
    assert nights == [(monday - 2 * HOUR, "FREQ=WEEKLY;BYDAY=SU"),
                      (monday + 22 * HOUR, "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA")]
    # as a linear week, Monday's first hours need a shift from the Sunday before, paid too
    linear = schedule(p, templates)
    assert linear.paid_hours == cyclic.paid_hours + 8


def test_a_cyclic_day_repeats_daily() -> None:
    day = dt.datetime(2025, 6, 2, tzinfo=UTC)
    p = _requirement_plan([2] * 24, day, HOUR)
    result = schedule(p, [ShiftTemplate("eight", 8 * HOUR, step=HOUR)], cyclic=True)
    assert result.paid_hours == 48 and result.short == ()
    assert {s.recurrence for s in result.roster} == {"FREQ=DAILY;INTERVAL=1"}


@pytest.mark.parametrize(
    ("demand_hours", "gap", "zone", "template_hours", "fragment"),
    [
        (24, True, "UTC", 8, "must follow each other without gaps"),
        (30, False, "UTC", 8, "must span whole days"),
        (24 * 7, False, "Europe/London", 8, "must not span a daylight-saving change"),
        (24, False, "UTC", 30, "is longer (1 day, 6:00:00) than the cyclic plan's period"),
    ],
)
def test_bad_cyclic_plans(demand_hours: int, gap: bool, zone: str, template_hours: int,
                          fragment: str) -> None:
    start = dt.datetime(2025, 3, 27, tzinfo=ZoneInfo(zone))  # London changes on the 30th
    p = _requirement_plan([1] * demand_hours, start, HOUR)
    if gap:
        reqs = p.requirements[:5] + p.requirements[6:]
        p = type(p)(requirements=reqs, interval=p.interval, target=p.target,
                    shrinkage=0.0, aht=p.aht)
    t = ShiftTemplate("t", template_hours * HOUR, step=HOUR)
    with pytest.raises(CareKitError, match=re.escape(fragment)):
        schedule(p, [t], cyclic=True)
    with pytest.raises(CareKitError, match="cyclic must be True or False"):
        schedule(p, [t], cyclic="yes")  # type: ignore[arg-type]


def test_a_template_that_would_build_a_huge_program_is_refused() -> None:
    second = dt.timedelta(seconds=1)
    fine = ShiftTemplate("fine", 4 * HOUR, step=second,
                         breaks=[Break(after=HOUR, length=HALF, latest=2 * HOUR)])
    with pytest.raises(CareKitError, match="template 'fine' offers more than 200,000 start "
                       "times and break places around the plan"):
        schedule(day_plan([10] * 4), [fine])
