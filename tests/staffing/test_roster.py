"""Shifts, recurring rosters, breaks and coverage of a plan."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule
from hypothesis import given, settings
from hypothesis import strategies as st

from carekit import CareKitError
from carekit.staffing import (
    Break,
    Roster,
    ServiceTarget,
    Shift,
    Workload,
    coverage,
    performance,
    plan,
)

LONDON = ZoneInfo("Europe/London")
MONDAY = dt.datetime(2025, 3, 3, 8, tzinfo=LONDON)
HALF = dt.timedelta(minutes=30)
HOUR = dt.timedelta(hours=1)


def test_single_shift_with_a_break() -> None:
    s = Shift(name="early", start=MONDAY, duration=8 * HOUR, agents=6,
              breaks=[Break(after=3 * HOUR, length=HALF)])
    r = Roster(shifts=[s])
    assert r.on_duty(MONDAY, MONDAY + HALF) == 6.0
    assert r.on_duty(MONDAY + 3 * HOUR, MONDAY + 3 * HOUR + HALF) == 0.0
    assert r.on_duty(MONDAY + 3 * HOUR, MONDAY + 4 * HOUR) == 3.0  # half the hour on break
    assert r.on_duty(MONDAY + 8 * HOUR, MONDAY + 9 * HOUR) == 0.0
    assert r.on_duty(MONDAY - HOUR, MONDAY) == 0.0


def test_a_roster_has_a_length_and_indexes_like_its_shifts() -> None:
    early = Shift(name="early", start=MONDAY, duration=8 * HOUR, agents=6)
    late = Shift(name="late", start=MONDAY + 8 * HOUR, duration=8 * HOUR, agents=3,
                 recurrence="FREQ=DAILY;COUNT=5")
    r = Roster(shifts=[early, late])
    assert len(r) == 2  # shifts (rules), however often the late one recurs
    assert (r[0], r[-1], r[0:1], r[5:]) == (early, late, (early,), ())
    assert list(r) == [early, late]
    assert len(Roster(shifts=[])) == 0
    with pytest.raises(IndexError):
        r[2]


def test_recurring_weekday_shift_via_rrule_string_and_object() -> None:
    text = Shift(name="day", start=MONDAY, duration=8 * HOUR, agents=2,
                 recurrence="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR")
    obj = Shift(name="day", start=MONDAY, duration=8 * HOUR, agents=2,
                recurrence=rrule.rrule(rrule.WEEKLY, byweekday=range(5), dtstart=MONDAY))
    for shift in (text, obj):
        r = Roster(shifts=[shift])
        week = [r.on_duty(MONDAY + d * dt.timedelta(days=1), MONDAY + d * dt.timedelta(days=1)
                          + HALF) for d in range(7)]
        assert week == [2.0, 2.0, 2.0, 2.0, 2.0, 0.0, 0.0]


def test_a_roster_on_a_calendar_is_closed_on_its_holidays_and_non_workdays() -> None:
    from carekit.calendar import BusinessCalendar

    daily = Shift(name="day", start=MONDAY, duration=8 * HOUR, agents=2, recurrence="FREQ=DAILY")
    # Closed on Wednesday 5 March (a holiday) and on Sundays (not a workday).
    shop = BusinessCalendar(workdays=range(6), holidays=[dt.date(2025, 3, 5)], tz=LONDON)
    r = Roster(shifts=[daily], calendar=shop)
    days = [MONDAY + d * dt.timedelta(days=1) for d in range(7)]
    assert [r.on_duty(day, day + HALF) for day in days] == [2.0, 2.0, 0.0, 2.0, 2.0, 2.0, 0.0]
    assert [Roster(shifts=[daily]).on_duty(day, day + HALF) for day in days] == [2.0] * 7
    # An overnight shift belongs to the day it starts on.
    night = Shift(name="night", start=MONDAY.replace(hour=22), duration=8 * HOUR,
                  recurrence="FREQ=DAILY")
    wednesday_five = dt.datetime(2025, 3, 5, 5, tzinfo=LONDON)  # Tuesday night's shift
    thursday_five = dt.datetime(2025, 3, 6, 5, tzinfo=LONDON)  # Wednesday night's: closed
    nights = Roster.from_shifts([night], calendar=shop)
    assert nights.on_duty(wednesday_five, wednesday_five + HALF) == 1.0
    assert nights.on_duty(thursday_five, thursday_five + HALF) == 0.0
    assert nights.calendar is shop


def test_a_roster_refuses_a_calendar_of_the_wrong_type() -> None:
    with pytest.raises(CareKitError, match="calendar must be a carekit.calendar.BusinessCalendar"):
        Roster(shifts=[], calendar="Mon-Fri")  # type: ignore[arg-type]


def test_recurring_shift_keeps_wall_clock_across_dst() -> None:
    # British Summer Time starts on 30 March 2025: the 08:00 shift is still at 08:00 local.
    s = Shift(name="day", start=MONDAY, duration=HOUR, recurrence="FREQ=DAILY")
    after = dt.datetime(2025, 3, 31, 8, tzinfo=LONDON)
    assert Roster(shifts=[s]).on_duty(after, after + HALF) == 1.0
    utc_eight = dt.datetime(2025, 3, 31, 8, tzinfo=dt.timezone.utc)  # 09:00 local
    assert Roster(shifts=[s]).on_duty(utc_eight, utc_eight + HALF) == 0.0


def test_overnight_shift_overlaps_two_days() -> None:
    night = Shift(name="night", start=MONDAY.replace(hour=22), duration=8 * HOUR,
                  recurrence="FREQ=DAILY;COUNT=2")
    r = Roster(shifts=[night])
    tuesday_five = dt.datetime(2025, 3, 4, 5, tzinfo=LONDON)
    assert r.on_duty(tuesday_five, tuesday_five + HALF) == 1.0
    assert len(list(night.occurrences(MONDAY, MONDAY + 3 * dt.timedelta(days=1)))) == 2


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"start": dt.datetime(2025, 3, 3, 8)}, "timezone-aware"),
        ({"duration": 0}, "duration must be a positive duration"),
        ({"duration": -HOUR}, "duration must be a positive duration"),
        # a bare number is seconds: 8 is a slip for 8 hours, not an 8-second shift
        ({"duration": 8},
         r"^duration=8 is 8 seconds \(a bare number is seconds\); pass timedelta\(hours=8\) "
         r"or 28800 for 8 hours, or timedelta\(seconds=8\) if you do mean seconds$"),
        ({"agents": 0}, "agents must be an integer >= 1"),
        ({"breaks": [Break(after=7 * HOUR, length=2 * HOUR)]},
         r"^the break after 7h \(120 min\) of shift 'x' ends at 9h, after the shift's 8h; "
         r"a break must end within its shift$"),
        ({"breaks": ["12:00"]}, "breaks must be carekit.staffing.Break"),
        ({"breaks": None}, "breaks must be a list of carekit.staffing.Break objects"),
        ({"name": None}, "a shift's name must be a non-empty string"),
        ({"name": ""}, "a shift's name must be a non-empty string"),
        ({"recurrence": "FREQ=SOMETIMES"}, "recurrence must be a valid RFC 5545 RRULE"),
        ({"recurrence": 7}, "recurrence must be an RRULE string"),
    ],
)
def test_bad_shifts(kwargs: dict[str, object], fragment: str) -> None:
    base: dict[str, object] = {"name": "x", "start": MONDAY, "duration": 8 * HOUR}
    with pytest.raises(CareKitError, match=fragment):
        Shift(**{**base, **kwargs})  # type: ignore[arg-type]


def test_bad_break_and_roster() -> None:
    with pytest.raises(CareKitError, match="length must be a positive duration"):
        Break(after=HOUR, length=0)
    with pytest.raises(CareKitError, match=r"length=30 is 30 seconds .* pass "
                       r"timedelta\(minutes=30\) or 1800 for 30 minutes"):
        Break(after=HOUR, length=30)
    # seconds as numbers still work from 60 on, and a timedelta of any length
    assert Break(after=HOUR, length=1800).length == HALF
    assert Shift(name="x", start=MONDAY, duration=8 * 3600, agents=1).duration == 8 * HOUR
    assert Shift(name="x", start=MONDAY, duration=dt.timedelta(seconds=8),
                 agents=1).duration.total_seconds() == 8
    with pytest.raises(CareKitError, match="after must be a non-negative duration"):
        Break(after=-HOUR, length=HALF)
    with pytest.raises(CareKitError, match="shifts must be carekit.staffing.Shift"):
        Roster(shifts=["early"])  # type: ignore[list-item]
    for not_a_list in (None, "early", 3):
        with pytest.raises(CareKitError, match="shifts must be a list of carekit.staffing.Shift"):
            Roster(shifts=not_a_list)  # type: ignore[arg-type]
    r = Roster(shifts=[])
    with pytest.raises(CareKitError, match="end must be after start"):
        r.on_duty(MONDAY, MONDAY)
    with pytest.raises(CareKitError, match="timezone-aware"):
        r.on_duty(dt.datetime(2025, 1, 1), MONDAY)


TARGET = ServiceTarget(service_level=0.8, answer_within=20)


def _two_hour_day() -> tuple[Any, Roster]:
    """Four half-hours planned at 30 % shrinkage, and two shifts, one with a break."""
    fc = [(MONDAY + i * HALF, v) for i, v in enumerate([60, 100, 160, 100])]
    p = plan(fc, aht=180, target=TARGET, shrinkage=0.3)
    roster = Roster(shifts=[
        Shift(name="a", start=MONDAY, duration=2 * HOUR, agents=20,
              breaks=[Break(after=HOUR, length=HALF)]),
        Shift(name="b", start=MONDAY + HALF, duration=2 * HOUR, agents=8),
    ])
    return p, roster


def test_coverage_gaps_service_level_and_summary() -> None:
    p, roster = _two_hour_day()
    c = coverage(p, roster)
    assert [i.scheduled for i in c] == [20.0, 28.0, 8.0, 28.0]
    assert [i.gap for i in c] == [i.scheduled - r.scheduled for i, r in zip(c, p, strict=True)]
    for interval, req in zip(c, p, strict=True):
        agents = int(interval.scheduled * 0.7 + 1e-9)
        assert interval.agents == agents
        expected = performance(Workload(volume=req.volume or 0, aht=180, interval=HALF), agents,
                               answer_within=20).service_level
        assert interval.service_level == pytest.approx(expected)
        assert interval.meets_target == (interval.service_level >= 0.8)
    assert c.intervals_under_target == sum(not i.meets_target for i in c)
    assert c.worst_gap == min(i.gap for i in c)
    assert c.worst_interval == MONDAY + 2 * HALF
    weighted = sum(i.service_level * i.volume for i in c) / sum(i.volume for i in c)
    assert c.service_level == pytest.approx(weighted)
    assert c.to_csv().count("\n") == 5



def test_coverage_summary_on_a_hand_checked_day() -> None:
    p, roster = _two_hour_day()
    assert [r.scheduled for r in p] == [13, 20, 29, 20]  # the plan's people to schedule
    c = coverage(p, roster)
    # on the floor: a (20); a + b (28); b alone, a on its break (8); a + b (28)
    assert [i.gap for i in c] == [7.0, 8.0, -21.0, 8.0]
    s = c.summary
    assert (s.intervals, s.intervals_short, s.intervals_under_target) == (4, 1, 1)
    assert (s.shortfall, s.surplus) == (21.0, 7.0 + 8.0 + 8.0)
    assert (s.worst_gap, s.worst_interval) == (-21.0, MONDAY + 2 * HALF)
    assert (s.service_level, s.target) == (c.service_level, 0.8)
    assert s.service_level == pytest.approx(0.6174, abs=1e-4)  # 09:00 answers nothing in time
    assert s.meets_target is False
    assert s == c.summary  # a value: equal each time it is read


def test_coverage_summary_adds_up_every_short_interval() -> None:
    p, _ = _two_hour_day()
    thin = coverage(p, Roster(shifts=[Shift(name="thin", start=MONDAY, duration=2 * HOUR,
                                            agents=15)]))
    s = thin.summary
    assert [i.gap for i in thin] == [2.0, -5.0, -14.0, -5.0]
    assert (s.intervals_short, s.shortfall, s.surplus) == (3, 24.0, 2.0)
    assert (s.worst_gap, s.worst_interval) == (-14.0, MONDAY + 2 * HALF)
    fc = [(MONDAY + i * HALF, 50) for i in range(4)]
    covered = plan(fc, aht=180, target=TARGET, shrinkage=0.3)
    full = coverage(covered, Roster(shifts=[Shift(
        name="all", start=MONDAY, duration=2 * HOUR,
        agents=max(r.scheduled for r in covered))])).summary
    assert (full.intervals_short, full.shortfall, full.worst_gap, full.worst_interval) == (
        0, 0.0, 0.0, None)
    assert full.meets_target is True

def test_fully_covered_plan_has_no_gap() -> None:
    fc = [(MONDAY + i * HALF, 50) for i in range(4)]
    p = plan(fc, aht=180, target=TARGET, shrinkage=0.3)
    c = coverage(p, Roster(shifts=[Shift(name="all", start=MONDAY, duration=2 * HOUR,
                                         agents=max(r.scheduled for r in p))]))
    assert (c.intervals_under_target, c.worst_gap, c.worst_interval) == (0, 0.0, None)
    assert c.service_level >= 0.8


def test_coverage_rejects_wrong_types() -> None:
    p = plan([(MONDAY, 5)], aht=180, target=TARGET)
    with pytest.raises(CareKitError, match="plan must be"):
        coverage("plan", Roster(shifts=[]))  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="roster must be"):
        coverage(p, [])  # type: ignore[arg-type]


def test_coverage_with_its_own_shrinkage_counts_breaks_once() -> None:
    # The plan's 30 % shrinkage includes breaks; the roster models its break, so only the
    # 10 % it does not model (absence, training) applies on the floor.
    p, roster = _two_hour_day()
    c = coverage(p, roster, shrinkage=0.1)
    assert [i.scheduled for i in c] == [20.0, 28.0, 8.0, 28.0]
    for interval, req in zip(c, p, strict=True):
        # ceil(agents / 0.9) and floor(on floor * 0.9), by hand in integers
        assert interval.required == -(-req.agents * 10 // 9)
        assert interval.gap == interval.scheduled - interval.required
        assert interval.agents == int(interval.scheduled) * 9 // 10
        expected = performance(Workload(volume=req.volume or 0, aht=180, interval=HALF),
                               interval.agents, answer_within=20).service_level
        assert interval.service_level == pytest.approx(expected)
    # Less shrinkage on the floor: never fewer productive agents than the default gives.
    default = coverage(p, roster)
    assert all(a.agents >= b.agents for a, b in zip(c, default, strict=True))
    assert all(a.required <= b.required for a, b in zip(c, default, strict=True))
    # Naming the plan's own shrinkage is the default.
    assert coverage(p, roster, shrinkage=0.3) == default


@pytest.mark.parametrize("bad", [1.0, -0.1, float("nan"), "0.1"])
def test_coverage_rejects_bad_shrinkage(bad: object) -> None:
    p = plan([(MONDAY, 5)], aht=180, target=TARGET)
    with pytest.raises(CareKitError, match="shrinkage"):
        coverage(p, Roster(shifts=[]), shrinkage=bad)  # type: ignore[arg-type]


def test_productive_agents_are_counted_exactly() -> None:
    # 90 rostered at 30 % shrinkage keep 90 * 7/10 = 63 on the phones, exactly; in floating
    # point 90 * (1 - 0.3) is 62.99999999999999, which a float floor would make 62.
    p = plan([(MONDAY, 500)], aht=180, target=TARGET, shrinkage=0.3)
    c = coverage(p, Roster(shifts=[Shift(name="a", start=MONDAY, duration=3600, agents=90)]))
    assert c.intervals[0].agents == 63


def test_a_day_without_calls_meets_its_service_level() -> None:
    # No volume: nobody waits, as performance() says at volume 0 (service level 1).
    quiet = plan([(MONDAY, 0), (MONDAY + HALF, 0)], aht=180, target=TARGET)
    c = coverage(quiet, Roster(shifts=[Shift(name="a", start=MONDAY, duration=3600, agents=3)]))
    assert c.service_level == 1.0
    assert performance(Workload(volume=0, aht=180, interval=HALF), 3, 20).service_level == 1.0


UTC = dt.timezone.utc
FIRST = dt.datetime.min.replace(tzinfo=UTC)
LAST = dt.datetime.max.replace(tzinfo=UTC)


def test_agents_above_the_bound_are_refused_and_the_bound_is_counted_exactly() -> None:
    # 10**26 agents used to overflow a timedelta in on_duty ("int too large to convert").
    with pytest.raises(CareKitError, match=r"agents must be an integer from 1 to 1,000,000,"):
        Shift(name="x", start=MONDAY, duration=HOUR, agents=99999999999999999999999999)
    most = Shift(name="x", start=MONDAY, duration=HOUR, agents=10**15)
    assert Roster(shifts=[most]).on_duty(MONDAY, MONDAY + HALF) == 1e15
    assert Roster(shifts=[most]).on_duty(MONDAY, MONDAY + 2 * HOUR) == 5e14


@pytest.mark.parametrize(
    ("occurrence", "fragment"),
    [
        (None, "occurrence must be a timezone-aware datetime (got None)"),
        ("2026-01-01", "occurrence must be a timezone-aware datetime (got '2026-01-01')"),
        (dt.datetime(2025, 3, 3, 8), "occurrence must be a timezone-aware datetime (got naive"),
        (LAST, "occurrence must leave room for the shift 'x' (duration 8:00:00) to begin and "
               "end within the years 1 to 9999 in UTC (got datetime.datetime(9999"),
    ],
)
def test_on_floor_refuses_a_bad_occurrence(occurrence: object, fragment: str) -> None:
    shift = Shift(name="x", start=MONDAY, duration=8 * HOUR)
    with pytest.raises(CareKitError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        shift.on_floor(occurrence)  # type: ignore[arg-type]


def test_a_shift_that_ends_after_the_year_9999_is_refused() -> None:
    with pytest.raises(CareKitError, match="start must leave room for the shift 'x'"):
        Shift(name="x", start=LAST - HOUR, duration=8 * HOUR)
    plus14 = dt.timezone(dt.timedelta(hours=14))
    with pytest.raises(CareKitError, match="within the years 1 to 9999 in UTC"):
        Shift(name="x", start=dt.datetime.min.replace(tzinfo=plus14), duration=HOUR)


def test_windows_at_the_ends_of_time() -> None:
    daily = Shift(name="x", start=MONDAY, duration=8 * HOUR, agents=3, recurrence="FREQ=DAILY")
    once = Shift(name="y", start=MONDAY, duration=8 * HOUR)
    # start - duration used to overflow before datetime.min
    assert list(daily.occurrences(FIRST, MONDAY)) == []
    assert list(daily.occurrences(FIRST, MONDAY + HOUR)) == [MONDAY]
    assert list(once.occurrences(FIRST, MONDAY + HOUR)) == [MONDAY]
    assert Roster(shifts=[daily, once]).on_duty(FIRST, MONDAY) == 0.0
    assert Roster(shifts=[daily]).on_duty(LAST - 2 * HOUR, LAST) == 0.0  # after 16:00
    plus14 = dt.timezone(dt.timedelta(hours=14))
    with pytest.raises(CareKitError, match=r"start must fall within the years 1 to 9999 in UTC"):
        Roster(shifts=[daily]).on_duty(dt.datetime.min.replace(tzinfo=plus14), MONDAY)


# --- recurrence rules: refused when degenerate, evaluated with bounded work ------------------


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        # r01: INTERVAL=0 used to be accepted, then on_duty/coverage never returned
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be a whole number >= 1 (got '0')"),
        ("FREQ=DAILY;INTERVAL=-2", "INTERVAL must be a whole number >= 1 (got '-2')"),
        # r02: rules finer than daily made each call take 10-80 s
        ("FREQ=SECONDLY", "a shift recurs at most daily (got FREQ=SECONDLY)"),
        ("FREQ=MINUTELY", "a shift recurs at most daily (got FREQ=MINUTELY)"),
        ("FREQ=HOURLY;INTERVAL=36", "hint: several starts a day are FREQ=DAILY with BYHOUR"),
        # r02: rules that never match walked to the year 9999 on every call
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "the rule never produces an occurrence"),
        ("FREQ=DAILY;BYSETPOS=5", "the rule never produces an occurrence"),
        ("FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=31", "the rule never produces an occurrence"),
        ("FREQ=DAILY;INTERVAL=7;BYDAY=TU", "the rule never produces an occurrence"),
        ("FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23;"
         "BYMINUTE=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,"
         "28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,"
         "56,57,58,59;BYSECOND=0,30", "at most 1440 starts a day"),
        ("FREQ=DAILY;COUNT=3;UNTIL=20250310T000000Z", "COUNT and UNTIL must not both"),
        ("FREQ=DAILY;COUNT=0", "COUNT must be a whole number >= 1"),
        ("FREQ=YEARLY;BYEASTER=0", "BYEASTER is a dateutil extension"),
        ("FREQ=DAILY;UNTIL=20250310T000000", "write UNTIL in UTC"),
        ("FREQ=DAILY;BYDAY", "each part must look like NAME=VALUE"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ must appear once"),
        ("FREQ=DAILY;COLOUR=RED", "unknown part 'COLOUR'"),
        ("INTERVAL=2", "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY (got None)"),
    ],
)
def test_degenerate_rules_are_refused_with_the_reason(rule: str, fragment: str) -> None:
    with pytest.raises(CareKitError, match=re.escape(fragment)) as info:
        Shift(name="early", start=dt.datetime(2025, 3, 3, 8, tzinfo=UTC),
              duration=8 * HOUR, agents=10, recurrence=rule)
    assert f"(got {rule!r})" in str(info.value)


def test_until_in_utc_is_accepted_and_ends_the_rule() -> None:
    s = Shift(name="x", start=MONDAY, duration=HOUR, recurrence="FREQ=DAILY;UNTIL=20250305T235959Z")
    days = [o.day for o in s.occurrences(MONDAY, MONDAY + 10 * dt.timedelta(days=1))]
    assert days == [3, 4, 5]


class _WalkLimit:
    """Counts the dates dateutil's rule iterator produces, failing past ``limit`` of them.

    The bound is on work, not on time: before the fix one window years after a daily shift's
    start walked every day in between (about 9,500 from 2000 to 2026).
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
        self.most = 0
        original = rrule.rrule._iter  # type: ignore[attr-defined]

        def counted(rule: rrule.rrule) -> Any:
            for n, value in enumerate(original(rule), start=1):
                self.most = max(self.most, n)
                if n > limit:
                    msg = f"dateutil produced more than {limit} dates for one window"
                    raise AssertionError(msg)
                yield value

        monkeypatch.setattr(rrule.rrule, "_iter", counted)


def test_a_window_far_from_the_start_walks_only_near_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = dt.datetime(2000, 1, 3, 8, tzinfo=LONDON)
    shifts = [
        Shift(name="daily", start=start, duration=8 * HOUR, agents=2, recurrence="FREQ=DAILY"),
        Shift(name="weekdays", start=start, duration=8 * HOUR, agents=3,
              recurrence="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
        Shift(name="first-monday", start=start, duration=8 * HOUR, agents=5,
              recurrence="FREQ=MONTHLY;BYDAY=1MO"),
        Shift(name="counted", start=start, duration=8 * HOUR, agents=7,
              recurrence="FREQ=DAILY;COUNT=100000"),
    ]
    limit = _WalkLimit(monkeypatch, limit=100)
    roster = Roster(shifts=shifts)
    # Monday 2 March 2026 is the first Monday of the month: every shift is on.
    nine = dt.datetime(2026, 3, 2, 9, tzinfo=LONDON)
    assert roster.on_duty(nine, nine + HALF) == 2 + 3 + 5 + 7
    saturday = dt.datetime(2026, 3, 7, 9, tzinfo=LONDON)
    assert roster.on_duty(saturday, saturday + HALF) == 2 + 7
    # ... and at the far end of time as well
    late = dt.datetime(9999, 12, 6, 9, tzinfo=dt.timezone.utc)
    assert Roster(shifts=shifts[:1]).on_duty(late, late + HALF) == 2
    assert limit.most <= 100


def test_sparse_rules_are_found_without_walking_from_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 29 February on a Monday: 2016, 2044, 2072, ... (every 28 years in this century)
    leap_monday = Shift(name="x", start=dt.datetime(2016, 2, 29, 8, tzinfo=UTC), duration=HOUR,
                        recurrence="FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO")
    _WalkLimit(monkeypatch, limit=100)
    window = (dt.datetime(2040, 1, 1, tzinfo=UTC), dt.datetime(2050, 1, 1, tzinfo=UTC))
    assert list(leap_monday.occurrences(*window)) == [dt.datetime(2044, 2, 29, 8, tzinfo=UTC)]


@st.composite
def _rules(draw: st.DrawFn) -> str:
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]))
    parts = [f"FREQ={freq}"]
    days = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.integers(1, 5))}")
    if draw(st.booleans()):
        chosen = draw(st.lists(st.sampled_from(days), min_size=1, max_size=3, unique=True))
        if freq in {"MONTHLY", "YEARLY"} and draw(st.booleans()):
            chosen = [f"{draw(st.sampled_from([1, 2, -1]))}{chosen[0]}"]
        parts.append("BYDAY=" + ",".join(chosen))
    elif draw(st.booleans()):
        monthdays = draw(st.lists(st.sampled_from([1, 5, 15, 28, 29, 30, 31, -1]),
                                  min_size=1, max_size=2, unique=True))
        parts.append("BYMONTHDAY=" + ",".join(map(str, monthdays)))
    if draw(st.integers(0, 4)) == 0:
        parts.append(f"BYMONTH={draw(st.integers(1, 12))}")
    if draw(st.integers(0, 4)) == 0:
        # (BYSETPOS=2 of a daily rule with one start a day never matches: such rules are
        # refused, and the refusals have their own test above)
        parts.append(f"BYSETPOS={draw(st.sampled_from([1, -1]))}")
    if draw(st.integers(0, 3)) == 0:
        hours = draw(st.lists(st.integers(0, 23), min_size=1, max_size=2, unique=True))
        parts.append("BYHOUR=" + ",".join(map(str, hours)))
    ending = draw(st.integers(0, 5))
    if ending == 0:
        parts.append(f"COUNT={draw(st.integers(1, 60))}")
    elif ending == 1:
        parts.append("UNTIL=20270101T000000Z")
    if draw(st.booleans()):
        parts.append(f"WKST={draw(st.sampled_from(days))}")
    return ";".join(parts)


@settings(max_examples=100, deadline=None)
@given(
    rule=_rules(),
    zone=st.sampled_from([UTC, LONDON, ZoneInfo("America/New_York")]),
    start_days=st.integers(0, 6 * 365),
    hour=st.integers(0, 23),
    offset_hours=st.integers(-24 * 30, 24 * 900),
    span_hours=st.integers(1, 24 * 14),
)
def test_occurrences_match_dateutil_walking_from_the_start(
    rule: str, zone: dt.tzinfo, start_days: int, hour: int, offset_hours: int,
    span_hours: int,
) -> None:
    """The bounded evaluation gives exactly what dateutil gives walking from the start."""
    start = dt.datetime(2020, 1, 1, hour, 30, tzinfo=zone) + dt.timedelta(days=start_days)
    try:
        shift = Shift(name="x", start=start, duration=HOUR, recurrence=rule)
    except CareKitError as exc:
        # Only rules that never match are refused here; dateutil agrees over 400 years.
        assert "never produces an occurrence" in str(exc)
        reference = rrule.rrulestr(rule, dtstart=start).replace(count=None, until=None)
        assert reference.between(start, start.replace(year=start.year + 400), inc=True) == []
        return
    wkst = rule.split("WKST=")[1][:2] if "WKST=" in rule else "MO"
    reference = rrule.rrulestr(rule, dtstart=start).replace(
        wkst=["MO", "TU", "WE", "TH", "FR", "SA", "SU"].index(wkst))
    window_start = start + dt.timedelta(hours=offset_hours)
    window_end = window_start + dt.timedelta(hours=span_hours)
    expected = [o for o in reference.between(window_start - HOUR, window_end, inc=True)
                if o < window_end and o + HOUR > window_start]
    assert list(shift.occurrences(window_start, window_end)) == expected


@settings(max_examples=60, deadline=None)
@given(
    shifts=st.lists(
        st.tuples(st.integers(0, 47), st.integers(1, 20), st.integers(1, 9),
                  st.sampled_from([None, "FREQ=DAILY", "FREQ=WEEKLY;BYDAY=MO,WE,SA",
                                   "FREQ=DAILY;COUNT=3"]),
                  st.one_of(st.none(), st.integers(1, 12))),
        min_size=0, max_size=6),
    first=st.integers(0, 96),
    count=st.integers(1, 60),
    closed=st.booleans(),
)
def test_coverage_counts_the_floor_as_on_duty_does_interval_by_interval(
    shifts: list[tuple[int, int, int, str | None, int | None]], first: int, count: int,
    closed: bool,
) -> None:
    """coverage walks each rule once for the whole plan; on_duty per interval is the reference."""
    from carekit.calendar import BusinessCalendar

    made = []
    for k, (slot, halves, agents, rule, break_at) in enumerate(shifts):
        breaks = ([Break(after=break_at * dt.timedelta(minutes=15), length=HALF)]
                  if break_at is not None and break_at * 15 + 30 <= halves * 30 else [])
        made.append(Shift(name=f"s{k}", start=MONDAY + slot * HALF, duration=halves * HALF,
                          agents=agents, breaks=breaks, recurrence=rule))
    calendar = BusinessCalendar(workdays=range(5), tz=LONDON) if closed else None
    roster = Roster(shifts=made, calendar=calendar)
    starts = [MONDAY + (first + i) * HALF for i in range(count)]
    p = plan([(s, 10) for s in starts], aht=180, target=TARGET)
    expected = [roster.on_duty(s, s + HALF) for s in starts]
    assert [c.scheduled for c in coverage(p, roster)] == expected


def test_a_window_longer_than_400_years_is_refused_not_walked() -> None:
    # Regression (r12, the roster part): a daily shift's on_duty from 2026 to 9999 walked
    # three million occurrences (15 s). Like the calendar, one call covers 400 years.
    import datetime as dt

    from carekit import CareKitError
    from carekit.staffing import Roster, Shift

    t0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.timezone.utc)
    shift = Shift(name="d", start=t0, duration=8 * 3600, agents=2, recurrence="FREQ=DAILY")
    far = dt.datetime(9999, 12, 31, tzinfo=dt.timezone.utc)
    with pytest.raises(CareKitError, match="spans more than 400 years"):
        Roster(shifts=[shift]).on_duty(t0, far)
    with pytest.raises(CareKitError, match="spans more than 400 years"):
        list(shift.occurrences(t0, far))
    assert Roster(shifts=[shift]).on_duty(far - dt.timedelta(days=30), far) == pytest.approx(2 / 3)


def test_a_recurring_night_shift_across_the_autumn_change_counts_as_a_single_one() -> None:
    # 22:00 to 06:00 on the night the clocks go back is nine hours, 21:00 to 06:00 in UTC.
    start = dt.datetime(2025, 10, 25, 22, tzinfo=LONDON)
    once = Roster(shifts=[Shift(name="night", start=start, duration=8 * HOUR)])
    daily = Roster(shifts=[Shift(name="night", start=start, duration=8 * HOUR,
                                 recurrence="FREQ=DAILY;COUNT=3")])
    nine_pm = dt.datetime(2025, 10, 25, 21, tzinfo=dt.timezone.utc)
    starts = [nine_pm + i * HALF for i in range(20)]
    for roster in (once, daily):
        assert [roster.on_duty(s, s + HALF) for s in starts] == [1.0] * 18 + [0.0] * 2
        assert roster._on_duty_many(starts[16:], HALF) == [1.0, 1.0, 0.0, 0.0]
    assert list(daily.shifts[0].occurrences(starts[17], starts[18])) == [start]
