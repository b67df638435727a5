"""BusinessCalendar: behaviour, errors, properties and agreement with a day-by-day reference."""

from __future__ import annotations

import datetime as dt
import pickle
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import FR, MO, SA, SU, TH, TU, WE
from dateutil.rrule import DAILY, YEARLY, rrule, rruleset
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tests._extras import need
from tests.strategies_calendar import ZONES, Reference, Spec, instants, specs

from carekit import CareKitError
from carekit.calendar import BusinessCalendar

NY = ZoneInfo("America/New_York")
UTC = dt.timezone.utc
D = dt.date
H = dt.timedelta(hours=1)

# US Thanksgiving: the fourth Thursday of November (5 U.S.C. 6103).
THANKSGIVING = rrule(YEARLY, bymonth=11, byweekday=TH(4), dtstart=dt.datetime(1942, 1, 1))

PROPS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- construction ---------------------------------------------------------------------------


def test_defaults() -> None:
    cal = BusinessCalendar()
    assert cal.workdays == frozenset({0, 1, 2, 3, 4})
    assert cal.cutoff is None
    assert cal.tz == ZoneInfo("UTC")
    assert dict(cal.hours) == {d: (dt.time(9), dt.time(17)) for d in range(5)}


@pytest.mark.parametrize(
    "workdays",
    [
        (0, 1, 2, 3, 4),
        (MO, TU, WE, TH, FR),
        ("Mon", "tue", "WED", "Thursday", "fri"),
        [MO(+1), 1, "Wed", TH, 4],
        iter(range(5)),
    ],
)
def test_workdays_forms(workdays: object) -> None:
    assert BusinessCalendar(workdays=workdays).workdays == frozenset(range(5))  # type: ignore[arg-type]


def test_weekend_workdays() -> None:
    cal = BusinessCalendar(workdays=[SA, SU])
    assert cal.is_business_day(D(2024, 5, 4))
    assert not cal.is_business_day(D(2024, 5, 6))


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"workdays": ()}, r"workdays must name at least one weekday \(got \(\)\)"),
        ({"workdays": (7,)}, r"workdays must hold .* \(got 7\)"),
        ({"workdays": (True,)}, r"workdays must hold .* \(got True\)"),
        ({"workdays": ("Moonday",)}, r"workdays must hold .* \(got 'Moonday'\)"),
        ({"workdays": b"Mon"}, r"workdays must be an iterable of weekdays .* \(got b'Mon'\)"),
        ({"workdays": 3}, r"workdays must be an iterable .* or text naming .* \(got 3\)"),
        # Text as the command line takes it, malformed.
        ({"workdays": "Mon-Fry"}, r"workdays must be weekdays such as 'Mon-Fri', 'Sat,Sun' "
                                  r"or '0-4' \(0 is Monday\) \(got 'Mon-Fry'\)$"),
        ({"workdays": "Mon,Sun-Funday"}, r"\(got 'Sun-Funday' in 'Mon,Sun-Funday'\)$"),
        ({"workdays": "Mon-Wed-Fri"}, r"\(got 'Mon-Wed-Fri'\)$"),
        ({"workdays": "0-7"}, r"\(got '0-7'\)$"),
        ({"workdays": "Mon--Fri"}, r"\(got 'Mon--Fri'\)$"),
        ({"workdays": " , "}, r"workdays must name at least one weekday \(got ' , '\)"),
        (
            {"tz": "Mars/Olympus"},
            r"tz must be a datetime.tzinfo or an IANA .* \(got 'Mars/Olympus'\)",
        ),
        ({"tz": 5}, r"tz must be .* \(got 5\)"),
        ({"cutoff": "2pm"}, r"cutoff must be a time of day such as '14:00' \(got '2pm'\)"),
        ({"cutoff": "24:00"}, r"cutoff must be a time of day such as '14:00' \(got '24:00'\)"),
        ({"cutoff": "14:00+01:00"},
         r"cutoff must be a naive datetime.time .* \(got '14:00\+01:00'\)"),
        ({"cutoff": 14}, r"cutoff must be a naive datetime.time .* \(got 14\)"),
        ({"cutoff": dt.time(14, tzinfo=UTC)}, r"cutoff must be a naive datetime.time"),
        ({"hours": {0: (dt.time(17), dt.time(9))}}, r"hours\[0\] must open before it closes"),
        ({"hours": {0: (dt.time(9), dt.time(9))}}, r"hours\[0\] must open before it closes"),
        ({"hours": {5: (dt.time(9), dt.time(17))}}, r"hours must only name workdays .* \(got 5"),
        ({"hours": {0: ("9", "17")}},
         r"hours\[0\] must be a time of day such as '09:00' \(got '9'\)"),
        ({"hours": {0: ("9:", "17:00")}},
         r"hours\[0\] must be a time of day such as '09:00' \(got '9:'\)"),
        ({"cutoff": "9:75"}, r"cutoff must be a time of day such as '14:00' \(got '9:75'\)"),
        ({"hours": {"Funday": (dt.time(9), dt.time(17))}}, r"hours must hold .*'Funday'"),
        ({"hours": [(dt.time(9), dt.time(17))]}, r"hours must be a mapping"),
        ({"hours": {}}, r"hours must open on at least one workday \(got \{\}\)"),
        ({"holidays": ["2024-12-25"]}, r"holidays must hold datetime.date .* \(got '2024-12-25'"),
        ({"holidays": "2024-12-25"}, r"holidays must be datetime.date objects"),
        ({"holidays": 20241225}, r"holidays must be .* \(got 20241225\)"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], pattern: str) -> None:
    with pytest.raises(CareKitError, match=pattern):
        BusinessCalendar(**kwargs)  # type: ignore[arg-type]


def test_times_of_day_may_have_a_one_digit_hour() -> None:
    cal = BusinessCalendar(cutoff="9:30", hours={d: ("8:00", "17:30") for d in range(5)})
    assert cal.cutoff == dt.time(9, 30)
    assert cal.hours[0] == (dt.time(8), dt.time(17, 30))
    assert cal == BusinessCalendar(
        cutoff="09:30", hours={d: ("08:00", "17:30") for d in range(5)})


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("Mon-Fri", [0, 1, 2, 3, 4]),
        ("Sat,Sun", [5, 6]),
        ("0-4", [0, 1, 2, 3, 4]),
        ("Fri-Mon", [0, 4, 5, 6]),  # over the weekend
        (" mo-we; Saturday ", [0, 1, 2, 5]),
        ("Mon", [0]),
    ],
)
def test_workdays_and_cutoff_as_text(text: str, days: list[int]) -> None:
    # Regression: the command line and shift templates took such text; the calendar refused it.
    cal = BusinessCalendar(workdays=text, cutoff="14:00")
    assert sorted(cal.workdays) == days
    assert cal.cutoff == dt.time(14)
    same = BusinessCalendar(workdays=days, cutoff=dt.time(14))
    friday = dt.datetime(2024, 5, 3, 14, 5, tzinfo=UTC)  # after the cut-off
    assert cal.start_day(friday) == same.start_day(friday)


def test_tzinfo_object_and_name() -> None:
    assert BusinessCalendar(tz=NY).tz is NY
    assert BusinessCalendar(tz="America/New_York").tz == NY
    assert BusinessCalendar(tz=UTC).tz is UTC


def test_immutable_and_picklable() -> None:
    holidays_pkg = need("holidays", "holidays")
    cal = BusinessCalendar(
        holidays=[D(2024, 12, 25), THANKSGIVING, holidays_pkg.US()],
        cutoff=dt.time(14),
        tz="America/New_York",
    )
    with pytest.raises(AttributeError, match="immutable"):
        cal.cutoff = dt.time(9)  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        cal._tz = UTC  # type: ignore[misc]
    assert cal.add_business_days(D(2024, 11, 27), 1) == D(2024, 11, 29)
    copy = pickle.loads(pickle.dumps(cal))
    assert copy.add_business_days(D(2024, 11, 27), 1) == D(2024, 11, 29)
    assert copy.workdays == cal.workdays and copy.cutoff == cal.cutoff and copy.tz == cal.tz
    with pytest.raises(TypeError):
        cal.hours[0] = (dt.time(8), dt.time(9))  # type: ignore[index]


def test_calendars_built_alike_are_equal_and_hash_alike() -> None:
    xmas = rrule(YEARLY, bymonth=12, bymonthday=25, dtstart=dt.datetime(2000, 1, 1))
    hours = {0: (dt.time(9), dt.time(17)), 1: (dt.time(9), dt.time(17))}

    def make(**changes: object) -> BusinessCalendar:
        given: dict[str, object] = {
            "workdays": ("Mon", "Tue"), "holidays": [D(2025, 1, 1), xmas],
            "cutoff": dt.time(14), "tz": "Europe/Paris", "hours": hours}
        return BusinessCalendar(**(given | changes))  # type: ignore[arg-type]

    a = make()
    # the same settings spelled differently, holiday dates in another order
    b = BusinessCalendar(workdays="Mon-Tue", holidays=(xmas, D(2025, 1, 1), D(2025, 1, 1)),
                         cutoff="14:00", tz=ZoneInfo("Europe/Paris"),
                         hours={"Tue": ("09:00", "17:00"), "Mon": ("09:00", "17:00")})
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    plain = BusinessCalendar(holidays=[D(2025, 1, 1)])
    assert pickle.loads(pickle.dumps(plain)) == plain == BusinessCalendar(holidays=D(2025, 1, 1))
    for different in (make(workdays=("Mon", "Wed"), hours=None), make(cutoff=dt.time(15)),
                      make(cutoff=None), make(tz="Europe/Berlin"),
                      make(hours={0: (dt.time(9), dt.time(17))}),
                      make(holidays=[D(2025, 1, 2), xmas]), make(holidays=[D(2025, 1, 1)])):
        assert a != different and hash(a) != hash(different)
    # a rule is compared as the object given: an equal rule made separately is not expanded
    again = rrule(YEARLY, bymonth=12, bymonthday=25, dtstart=dt.datetime(2000, 1, 1))
    assert make(holidays=[D(2025, 1, 1), again]) != a
    assert a != "Mon-Tue" and a != None  # noqa: E711


def test_repr_is_readable() -> None:
    cal = BusinessCalendar(
        holidays=[D(2024, 12, 25), THANKSGIVING],
        cutoff=dt.time(14),
        tz="America/New_York",
        hours={0: (dt.time(8), dt.time(12))},
    )
    text = repr(cal)
    assert text.startswith("BusinessCalendar(workdays=('Mon', 'Tue', 'Wed', 'Thu', 'Fri')")
    assert "1 date(s), 1 rule(s)" in text
    assert "cutoff=datetime.time(14, 0)" in text
    assert "tz='America/New_York'" in text
    assert "Mon 08:00-12:00" in text


# -- business days ----------------------------------------------------------------------------


def test_business_day_navigation() -> None:
    cal = BusinessCalendar(holidays=[D(2024, 12, 25), D(2024, 12, 26)])
    assert cal.is_business_day(D(2024, 12, 24))
    assert not cal.is_business_day(D(2024, 12, 25))
    assert not cal.is_business_day(D(2024, 12, 28))
    assert cal.next_business_day(D(2024, 12, 24)) == D(2024, 12, 27)
    assert cal.next_business_day(D(2024, 12, 27)) == D(2024, 12, 30)
    assert cal.previous_business_day(D(2024, 12, 27)) == D(2024, 12, 24)
    assert cal.previous_business_day(D(2024, 12, 30)) == D(2024, 12, 27)
    assert cal.roll_forward(D(2024, 12, 25)) == D(2024, 12, 27)
    assert cal.roll_forward(D(2024, 12, 24)) == D(2024, 12, 24)


def test_datetimes_are_judged_on_their_local_date() -> None:
    cal = BusinessCalendar(tz="Asia/Tokyo")
    friday_night_utc = dt.datetime(2024, 5, 3, 20, tzinfo=UTC)  # Saturday 05:00 in Tokyo
    assert not cal.is_business_day(friday_night_utc)
    assert cal.next_business_day(friday_night_utc) == D(2024, 5, 6)
    assert cal.roll_forward(friday_night_utc) == D(2024, 5, 6)


def test_cutoff_rule() -> None:
    cal = BusinessCalendar(cutoff=dt.time(14), tz=NY)
    friday = D(2024, 5, 3)
    at = lambda h, m=0: dt.datetime(2024, 5, 3, h, m, tzinfo=NY)  # noqa: E731
    assert cal.start_day(at(9)) == friday
    assert cal.start_day(at(14)) == friday  # at the cut-off still counts
    assert cal.start_day(dt.datetime(2024, 5, 3, 14, 0, 0, 1, tzinfo=NY)) == D(2024, 5, 6)
    assert cal.start_day(at(23, 59)) == D(2024, 5, 6)
    assert cal.start_day(dt.datetime(2024, 5, 4, 9, tzinfo=NY)) == D(2024, 5, 6)  # Saturday
    assert cal.start_day(friday) == friday
    assert cal.start_day(D(2024, 5, 4)) == D(2024, 5, 6)
    # 18:30 UTC is 14:30 in New York (EDT): after the cut-off.
    assert cal.start_day(dt.datetime(2024, 5, 3, 18, 30, tzinfo=UTC)) == D(2024, 5, 6)
    assert cal.start_day(dt.datetime(2024, 5, 3, 17, 30, tzinfo=UTC)) == friday


def test_no_cutoff_counts_the_whole_business_day() -> None:
    cal = BusinessCalendar(tz=NY)
    assert cal.start_day(dt.datetime(2024, 5, 3, 23, 59, tzinfo=NY)) == D(2024, 5, 3)


def test_add_business_days_dates() -> None:
    cal = BusinessCalendar(holidays=[D(2024, 12, 25)])
    assert cal.add_business_days(D(2024, 12, 23), 2) == D(2024, 12, 26)
    assert cal.add_business_days(D(2024, 12, 23), 0) == D(2024, 12, 23)
    assert cal.add_business_days(D(2024, 12, 25), 0) == D(2024, 12, 26)
    assert cal.add_business_days(D(2024, 12, 26), -1) == D(2024, 12, 24)
    assert cal.add_business_days(D(2024, 12, 28), -1) == D(2024, 12, 27)  # from Monday 30th
    assert cal.add_business_days(D(2024, 1, 1), 260) == D(2024, 12, 31)  # 261 in 2024
    assert type(cal.add_business_days(D(2024, 1, 1), 3)) is dt.date


def test_add_business_days_at_exactly_the_cutoff() -> None:
    # An order at 14:00 sharp counts from that day; a microsecond later, from the next. The
    # same datetime twice: the second call takes the calendar's cached fast path.
    cal = BusinessCalendar(cutoff=dt.time(14), tz=NY)
    sharp = dt.datetime(2024, 5, 3, 14, 0, tzinfo=NY)  # a Friday
    after = sharp + dt.timedelta(microseconds=1)
    for _ in range(2):
        assert cal.add_business_days(sharp, 1) == dt.datetime(2024, 5, 6, 14, 0, tzinfo=NY)
        assert cal.add_business_days(after, 1) == after.replace(day=7)
        assert cal.add_business_days(sharp, 0) == sharp


def test_opening_hours_inside_a_dst_gap_count_nothing() -> None:
    # 10 March 2024, New York: clocks jump from 02:00 to 03:00. Hours of 02:30-03:10 open
    # at a wall time that does not exist; the day's real open time is 03:00-03:10 at most,
    # never negative: across the day it adds up to 0 or more, and the other days' 40
    # minutes each are counted in full.
    cal = BusinessCalendar(workdays=range(7), tz=NY,
                           hours={d: (dt.time(2, 30), dt.time(3, 10)) for d in range(7)})
    gap_day = cal.business_hours_between(dt.datetime(2024, 3, 10, tzinfo=NY),
                                         dt.datetime(2024, 3, 11, tzinfo=NY))
    assert dt.timedelta(0) <= gap_day <= dt.timedelta(minutes=10)
    plain_day = cal.business_hours_between(dt.datetime(2024, 3, 12, tzinfo=NY),
                                           dt.datetime(2024, 3, 13, tzinfo=NY))
    assert plain_day == dt.timedelta(minutes=40)


def test_add_business_days_datetimes_keep_wall_time_and_zone() -> None:
    cal = BusinessCalendar(cutoff=dt.time(14), tz=NY)
    ordered = dt.datetime(2024, 5, 3, 10, 15, tzinfo=UTC)  # 06:15 in New York
    due = cal.add_business_days(ordered, 1)
    assert due == dt.datetime(2024, 5, 6, 6, 15, tzinfo=NY)
    assert due.tzinfo is NY
    late = dt.datetime(2024, 5, 3, 15, 0, tzinfo=NY)
    assert cal.add_business_days(late, 0) == dt.datetime(2024, 5, 6, 15, 0, tzinfo=NY)
    assert cal.add_business_days(late, 1) == dt.datetime(2024, 5, 7, 15, 0, tzinfo=NY)


def test_add_business_days_across_dst() -> None:
    cal = BusinessCalendar(workdays=range(7), tz=NY)
    # 2024-03-10: New York springs forward from 02:00 to 03:00; 02:30 does not exist.
    before = dt.datetime(2024, 3, 9, 2, 30, tzinfo=NY)
    moved = cal.add_business_days(before, 1)
    assert moved == dt.datetime(2024, 3, 10, 3, 30, tzinfo=NY)
    assert moved.utcoffset() == dt.timedelta(hours=-4)
    assert cal.add_business_days(before, 2) == dt.datetime(2024, 3, 11, 2, 30, tzinfo=NY)
    # Wall time is kept across the change: 09:00 EST -> 09:00 EDT, one real hour less.
    nine = dt.datetime(2024, 3, 8, 9, tzinfo=NY)
    later = cal.add_business_days(nine, 3)
    assert later == dt.datetime(2024, 3, 11, 9, tzinfo=NY)
    assert later.astimezone(UTC) - nine.astimezone(UTC) == dt.timedelta(days=3, hours=-1)
    # 2024-11-03: 01:30 happens twice; the second one (fold=1) keeps its wall time.
    second = dt.datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=NY)
    assert cal.add_business_days(second, 1) == dt.datetime(2024, 11, 4, 1, 30, tzinfo=NY)
    assert cal.add_business_days(dt.datetime(2024, 11, 2, 1, 30, tzinfo=NY), 1).utcoffset() == (
        dt.timedelta(hours=-4)
    )
    # A fold=1 wall time (as astimezone gives for the second 01:30) moved onto a
    # spring-forward day, 2025-03-09, where 02:30 does not exist: it moves forward by the gap
    # to 03:30 EDT, as with fold=0 (fold=1 used to read it an hour back: 01:30 EST).
    spring = cal.business_days_between(second, dt.date(2025, 3, 9))
    assert cal.add_business_days(second.replace(hour=2), spring) == dt.datetime(
        2025, 3, 9, 3, 30, tzinfo=NY)
    # n = 0 keeps the second 01:30 itself, never an earlier instant.
    assert cal.add_business_days(second, 0).astimezone(UTC) == second.astimezone(UTC)


def test_business_days_between() -> None:
    cal = BusinessCalendar(holidays=[D(2024, 12, 25)], cutoff=dt.time(14), tz=UTC)
    assert cal.business_days_between(D(2024, 12, 23), D(2024, 12, 27)) == 3
    assert cal.business_days_between(D(2024, 12, 27), D(2024, 12, 23)) == -3
    assert cal.business_days_between(D(2024, 12, 23), D(2024, 12, 23)) == 0
    late = dt.datetime(2024, 12, 23, 15, tzinfo=UTC)
    assert cal.business_days_between(late, D(2024, 12, 27)) == 2
    assert cal.business_days_between(late, dt.datetime(2024, 12, 27, 23, tzinfo=UTC)) == 2


def test_n_must_be_an_int() -> None:
    cal = BusinessCalendar()
    np = need("numpy", "test-extras")
    assert cal.add_business_days(D(2024, 5, 3), np.int64(2)) == D(2024, 5, 7)  # any Integral
    moved = cal.add_business_days(dt.datetime(2024, 5, 3, tzinfo=UTC), np.int32(-1))
    assert moved == dt.datetime(2024, 5, 2, tzinfo=ZoneInfo("UTC"))
    for bad in (True, 1.0, "1", None):
        with pytest.raises(CareKitError, match=rf"n must be an int .* \(got {bad!r}\)"):
            cal.add_business_days(D(2024, 1, 1), bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.is_business_day(dt.datetime(2024, 1, 1)),
        lambda c: c.next_business_day(dt.datetime(2024, 1, 1)),
        lambda c: c.previous_business_day(dt.datetime(2024, 1, 1)),
        lambda c: c.roll_forward(dt.datetime(2024, 1, 1)),
        lambda c: c.start_day(dt.datetime(2024, 1, 1)),
        lambda c: c.add_business_days(dt.datetime(2024, 1, 1), 1),
        lambda c: c.business_days_between(D(2024, 1, 1), dt.datetime(2024, 1, 1)),
        lambda c: c.add_business_hours(dt.datetime(2024, 1, 1), H),
        lambda c: c.business_hours_between(dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)),
    ],
)
def test_naive_datetimes_are_refused(call: object) -> None:
    cal = BusinessCalendar(tz=NY)
    with pytest.raises(CareKitError, match="must be a timezone-aware datetime .*naive"):
        call(cal)  # type: ignore[operator]


def test_wrong_types_are_refused() -> None:
    cal = BusinessCalendar()
    with pytest.raises(CareKitError, match=r"d must be a datetime.date .* \(got '2024-01-01'\)"):
        cal.is_business_day("2024-01-01")  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match=r"at must be a timezone-aware datetime \(got "):
        cal.add_business_hours(D(2024, 1, 1), H)  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="duration must be a non-negative duration"):
        cal.add_business_hours(dt.datetime(2024, 1, 1, tzinfo=UTC), -H)


def _walk(cal: BusinessCalendar, day: dt.date, n: int) -> dt.date:
    # Thanksgiving is the only holiday: a plain day-by-day walk over weekdays.
    step = dt.timedelta(days=1 if n > 0 else -1)
    for _ in range(abs(n)):
        day += step
        while day.weekday() >= 5 or day in THANKSGIVING_DATES:
            day += step
    return day


THANKSGIVING_DATES = {
    d.date() for d in THANKSGIVING.between(dt.datetime(1950, 1, 1), dt.datetime(2200, 1, 1))
}


def test_far_dates_grow_the_table_and_stop_at_year_bounds() -> None:
    cal = BusinessCalendar(holidays=[THANKSGIVING])
    assert cal.add_business_days(D(2024, 11, 27), 1) == D(2024, 11, 29)
    far = cal.add_business_days(D(2024, 1, 1), 260 * 100)
    assert far == _walk(cal, D(2024, 1, 1), 260 * 100)
    assert cal.is_business_day(D(2999, 11, 29))  # the day after Thanksgiving 2999
    assert not cal.is_business_day(D(2999, 11, 28))
    assert cal.add_business_days(D(2024, 1, 2), -260 * 50) == _walk(cal, D(2024, 1, 2), -260 * 50)
    with pytest.raises(CareKitError, match="after 9999"):
        cal.add_business_days(D(2024, 1, 1), 10**9)
    with pytest.raises(CareKitError, match="before 0001"):
        cal.add_business_days(D(2024, 1, 1), -(10**9))
    edge = BusinessCalendar()
    assert edge.add_business_days(D(9999, 12, 30), 1) == D(9999, 12, 31)
    with pytest.raises(CareKitError, match="add_business_days: the result would fall after 9999"):
        edge.add_business_days(D(9999, 12, 30), 2)
    with pytest.raises(CareKitError, match="next_business_day: the result would fall after"):
        edge.next_business_day(D(9999, 12, 31))
    start = BusinessCalendar()
    assert start.add_business_days(D(1, 1, 3), -2) == D(1, 1, 1)
    with pytest.raises(CareKitError, match="the result would fall before 0001-01-01"):
        start.add_business_days(D(1, 1, 3), -5)


def test_far_apart_calls_each_get_a_table_of_their_own() -> None:
    # A call near year 2 and then one near 9998 used to widen one cached table across the
    # whole span (millions of days, and of DST look-ups for business hours); each now gets a
    # table of its own, and the answers are those of a calendar that never saw the other.
    hours = {d: (dt.time(9), dt.time(17)) for d in range(5)}
    cal = BusinessCalendar(tz="America/New_York", hours=hours, holidays=[THANKSGIVING])
    early = dt.datetime(2, 1, 1, tzinfo=dt.timezone.utc)
    late = dt.datetime(9998, 11, 25, 12, tzinfo=dt.timezone.utc)
    one_hour = dt.timedelta(hours=1)
    assert cal.add_business_hours(early, one_hour) == BusinessCalendar(
        tz="America/New_York", hours=hours, holidays=[THANKSGIVING]
    ).add_business_hours(early, one_hour)
    fresh = BusinessCalendar(tz="America/New_York", hours=hours, holidays=[THANKSGIVING])
    assert cal.add_business_hours(late, dt.timedelta(hours=20)) == fresh.add_business_hours(
        late, dt.timedelta(hours=20)
    )
    assert cal.add_business_days(D(3, 5, 1), 10) == _walk(cal, D(3, 5, 1), 10)
    table = cal._table
    assert table is not None and table.years < 10
    # Years a few centuries apart still share one table, so alternating between them
    # does not rebuild it each time.
    near = BusinessCalendar()
    near.is_business_day(D(1900, 1, 1))
    near.is_business_day(D(2026, 1, 1))
    shared = near._table
    near.is_business_day(D(1900, 6, 1))
    assert near._table is shared and shared is not None and shared.first_year <= 1900
    # A thread still growing the old table after another replaced it by a far one gets a
    # table near its own, not one spanning both (the check is made under the lock).
    racer = BusinessCalendar()
    racer.is_business_day(D(2024, 1, 1))
    old = racer._table
    racer.is_business_day(D(5000, 1, 1))
    assert racer._table is old and racer._other is not None and racer._other.first_year > 4000
    grown = racer._grow(old, D(2024, 1, 1).toordinal(), True, 1000, "test")
    assert grown.first_year <= 2024 and grown.last_year < 2100
    # A question spanning both is refused: one call covers at most MAX_SPAN_YEARS years.
    with pytest.raises(CareKitError, match=r"span the years 3\.\.9998, more than the 400"):
        cal.business_days_between(D(3, 1, 1), D(9998, 1, 1))
    # One spanning 400 years gets one table that covers it.
    assert cal.business_days_between(D(1625, 1, 1), D(2024, 12, 31)) == (
        fresh.business_days_between(D(1625, 1, 1), D(1800, 1, 1))
        + fresh.business_days_between(D(1800, 1, 1), D(2024, 12, 31))
    )


def test_a_far_sentinel_date_keeps_its_own_table_and_the_fast_path() -> None:
    # Alternating between this year and a "no deadline" date in 9999 builds each table
    # once, and the fast path, which reads the main table, stays on.
    cal = BusinessCalendar(holidays=[THANKSGIVING])
    assert cal.add_business_days(D(2024, 11, 27), 1) == D(2024, 11, 29)
    main = cal._table
    assert cal.is_business_day(D(9999, 12, 31))
    far = cal._other
    for _ in range(3):
        assert cal.is_business_day(D(9999, 12, 30))
        assert cal.add_business_days(D(2024, 11, 27), 1) == D(2024, 11, 29)
    assert (cal._table, cal._other) == (main, far) and cal._fast is not None
    assert far is not None and far.last_year == 9999
    # A question 430 years away does not widen the main table past the fast path's limit.
    assert not cal.is_business_day(D(2454, 11, 26))  # Thanksgiving 2454
    assert cal._table is main and main is not None and main.years < 400
    assert cal.add_business_days(D(2024, 11, 27), 1) == D(2024, 11, 29)
    assert cal._fast is not None


def test_a_calendar_without_business_days_says_so() -> None:
    cal = BusinessCalendar(
        workdays=[MO], holidays=rrule(YEARLY, byweekday=MO, dtstart=dt.datetime(2000, 1, 1))
    )
    with pytest.raises(CareKitError, match="no business day in the years"):
        cal.next_business_day(D(2024, 1, 1))
    every_day = BusinessCalendar(holidays=rrule(DAILY, dtstart=dt.datetime(2020, 1, 1)))
    with pytest.raises(CareKitError, match=r"no business day in the years 2025\.\.24"):
        every_day.add_business_days(D(2026, 1, 1), 1)


def test_business_hours_on_a_calendar_never_open_say_so() -> None:
    every_day = BusinessCalendar(holidays=rrule(DAILY, dtstart=dt.datetime(2000, 1, 1)))
    at = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    for duration in (1, 60, dt.timedelta(hours=8)):
        with pytest.raises(CareKitError, match=r"never open in the years 2023\.\.2424"):
            every_day.add_business_hours(at, duration)
    # Closed for 76 years, then open: found, however long the closed stretch.
    until_2100 = BusinessCalendar(
        holidays=rrule(DAILY, dtstart=dt.datetime(2000, 1, 1), until=dt.datetime(2100, 1, 1))
    )
    assert until_2100.add_business_hours(at, 60) == dt.datetime(
        2100, 1, 4, 9, 1, tzinfo=dt.timezone.utc
    )


# -- holiday sources --------------------------------------------------------------------------


def test_rrule_holidays_thanksgiving() -> None:
    cal = BusinessCalendar(holidays=THANKSGIVING)
    for day in (D(2023, 11, 23), D(2024, 11, 28), D(2025, 11, 27), D(2030, 11, 28)):
        assert not cal.is_business_day(day)
        assert cal.is_business_day(day + dt.timedelta(days=1))
    assert cal.add_business_days(D(2024, 11, 27), 1) == D(2024, 11, 29)


def test_rruleset_and_aware_rules_and_mixes() -> None:
    rules = rruleset()
    rules.rrule(rrule(YEARLY, bymonth=12, bymonthday=25, dtstart=dt.datetime(2000, 1, 1)))
    rules.exdate(dt.datetime(2024, 12, 25))
    aware = rrule(YEARLY, bymonth=7, bymonthday=4, dtstart=dt.datetime(2000, 1, 1, tzinfo=NY))
    cal = BusinessCalendar(holidays=[rules, aware, D(2024, 1, 2), THANKSGIVING])
    assert not cal.is_business_day(D(2023, 12, 25))
    assert cal.is_business_day(D(2024, 12, 25))  # excluded from the set
    assert not cal.is_business_day(D(2024, 7, 4))
    assert not cal.is_business_day(D(2024, 1, 2))
    assert not cal.is_business_day(D(2024, 11, 28))
    # A finite daily rule closes exactly its occurrences.
    short = BusinessCalendar(holidays=rrule(DAILY, count=3, dtstart=dt.datetime(2024, 5, 6)))
    assert short.add_business_days(D(2024, 5, 3), 1) == D(2024, 5, 9)


def test_holidays_package_calendar() -> None:
    holidays_pkg = need("holidays", "holidays")
    us = holidays_pkg.US()
    cal = BusinessCalendar(holidays=us)
    # Every day of 2022-2026 agrees with the package (observed days included).
    day = D(2022, 1, 1)
    while day <= D(2026, 12, 31):
        expected = day.weekday() < 5 and day not in holidays_pkg.US(years=day.year)
        assert cal.is_business_day(day) == expected, day
        day += dt.timedelta(days=1)
    assert not cal.is_business_day(D(2021, 12, 31))  # New Year 2022 observed on Friday
    assert not cal.is_business_day(D(2022, 12, 26))  # Christmas 2022 observed on Monday
    assert not cal.is_business_day(D(2024, 7, 4))
    assert cal.add_business_days(D(2024, 7, 3), 1) == D(2024, 7, 5)


def test_holidays_package_calendar_with_explicit_years() -> None:
    holidays_pkg = need("holidays", "holidays")
    fixed = holidays_pkg.country_holidays("GB", subdiv="ENG", years=2024, expand=False)
    cal = BusinessCalendar(holidays=[fixed])
    assert not cal.is_business_day(D(2024, 12, 26))  # Boxing Day
    # expand=False is respected: 2025 was not asked for, so Boxing Day 2025 stays open.
    assert cal.is_business_day(D(2025, 12, 26))


# -- business hours ---------------------------------------------------------------------------


def test_business_hours_weekend_and_holiday() -> None:
    cal = BusinessCalendar(holidays=[D(2024, 5, 6)], tz=NY)
    friday = dt.datetime(2024, 5, 3, 16, 30, tzinfo=NY)
    assert cal.add_business_hours(friday, H) == dt.datetime(2024, 5, 7, 9, 30, tzinfo=NY)
    assert cal.add_business_hours(friday, dt.timedelta(minutes=30)) == friday.replace(
        hour=17, minute=0
    )
    assert cal.add_business_hours(friday, dt.timedelta(0)) == friday
    assert cal.add_business_hours(friday, 1800) == friday.replace(hour=17, minute=0)
    early = dt.datetime(2024, 5, 3, 6, tzinfo=NY)
    assert cal.add_business_hours(early, H) == dt.datetime(2024, 5, 3, 10, tzinfo=NY)
    assert cal.business_hours_between(friday, dt.datetime(2024, 5, 7, 9, 30, tzinfo=NY)) == H
    assert cal.business_hours_between(dt.datetime(2024, 5, 7, 9, 30, tzinfo=NY), friday) == -H
    # A long duration: 1,000 eight-hour business days.
    far = cal.add_business_hours(friday, dt.timedelta(hours=8000))
    assert cal.business_hours_between(friday, far) == dt.timedelta(hours=8000)
    assert far.tzinfo is NY


def test_business_hours_across_dst() -> None:
    hours = {d: (dt.time(0, 30), dt.time(4)) for d in range(7)}
    cal = BusinessCalendar(workdays=range(7), hours=hours, tz=NY)
    # On 2024-03-10 the 02:00-03:00 hour does not exist: 00:30-04:00 is 2.5 real hours.
    day = dt.datetime(2024, 3, 10, 0, 30, tzinfo=NY)
    close = dt.datetime(2024, 3, 10, 4, tzinfo=NY)
    assert cal.business_hours_between(day, close) == dt.timedelta(hours=2.5)
    assert cal.add_business_hours(day, dt.timedelta(hours=2.5)) == close
    # On 2024-11-03 01:00-02:00 happens twice: 00:30-04:00 is 4.5 real hours.
    back = dt.datetime(2024, 11, 3, 0, 30, tzinfo=NY)
    assert cal.business_hours_between(back, back.replace(hour=4)) == dt.timedelta(hours=4.5)


def test_hours_restricted_to_some_days() -> None:
    cal = BusinessCalendar(hours={0: (dt.time(9), dt.time(12))}, tz=UTC)
    monday = dt.datetime(2024, 5, 6, 11, tzinfo=UTC)
    assert cal.add_business_hours(monday, H * 2) == dt.datetime(2024, 5, 13, 10, tzinfo=UTC)



def test_hours_as_text_as_the_cutoff_takes_it() -> None:
    # Regression: cutoff="14:00" worked beside it, hours={"Mon": ("09:00", "12:00")} was
    # refused as "must be a tuple of datetime.time"; a list comes from JSON or TOML.
    for span in (("09:00", "12:00"), ["09:00", dt.time(12)]):
        cal = BusinessCalendar(hours={"Mon": span}, tz=UTC)
        assert cal.hours[0] == (dt.time(9), dt.time(12))
        monday = dt.datetime(2024, 5, 6, 11, tzinfo=UTC)
        assert cal.add_business_hours(monday, H * 2) == dt.datetime(2024, 5, 13, 10, tzinfo=UTC)
    with pytest.raises(CareKitError, match=r"hours\['Mon'\] must be a time of day such as "
                       r"'09:00' \(got '9am'\)"):
        BusinessCalendar(hours={"Mon": ("9am", "5pm")})
    with pytest.raises(CareKitError, match=r"hours\['Mon'\] must open before it closes"):
        BusinessCalendar(hours={"Mon": ("17:00", "09:00")})
    with pytest.raises(CareKitError, match=r"hours\['Mon'\] must be a tuple \(open, close\)"):
        BusinessCalendar(hours={"Mon": "09:00-17:00"})


# -- properties and agreement with the reference ----------------------------------------------

dates = st.dates(D(2018, 6, 1), D(2019, 6, 1))
steps = st.integers(-80, 80)


@PROPS
@given(spec=specs(), day=dates, n=steps)
def test_dates_agree_with_reference(spec: Spec, day: dt.date, n: int) -> None:
    cal, ref = spec.calendar(), Reference(spec)
    assert cal.is_business_day(day) == ref.is_business_day(day)
    assert cal.start_day(day) == ref.start_day(day)
    assert cal.roll_forward(day) == ref.start_day(day)
    assert cal.next_business_day(day) == ref.start_day(day + dt.timedelta(days=1))
    before = day - dt.timedelta(days=1)
    while not ref.is_business_day(before):
        before -= dt.timedelta(days=1)
    assert cal.previous_business_day(day) == before
    assert cal.add_business_days(day, n) == ref.add_business_days(day, n)
    other = day + dt.timedelta(days=n)
    assert cal.business_days_between(day, other) == ref.business_days_between(day, other)


@PROPS
@given(spec=specs(), data=st.data(), n=steps)
def test_datetimes_agree_with_reference(spec: Spec, data: st.DataObject, n: int) -> None:
    cal, ref = spec.calendar(), Reference(spec)
    at = data.draw(instants(data.draw(st.sampled_from(ZONES))))
    assert cal.is_business_day(at) == ref.is_business_day(ref.local_date(at))
    assert cal.start_day(at) == ref.start_day(at)
    moved = cal.add_business_days(at, n)
    assert moved.tzinfo is cal.tz
    assert moved.date() == ref.add_business_days(at, n)
    local = at.astimezone(cal.tz)
    naive_wall = dt.datetime.combine(moved.date(), local.time())
    # The wall time is kept unless it fell into a DST gap (then it moves forward).
    assert moved.replace(tzinfo=None) >= naive_wall.replace(fold=0)
    assert moved.replace(tzinfo=None) - naive_wall < dt.timedelta(hours=2)
    b = data.draw(instants(spec.tz))
    assert cal.business_days_between(at, b) == ref.business_days_between(at, b)


@PROPS
@given(spec=specs(), data=st.data(), n=steps)
def test_between_inverts_add(spec: Spec, data: st.DataObject, n: int) -> None:
    cal = spec.calendar()
    at = data.draw(instants(spec.tz) | dates)
    assert cal.business_days_between(at, cal.add_business_days(at, n)) == n


@PROPS
@given(spec=specs(), day=dates, n=steps, minute=st.integers(0, 24 * 60 - 1))
def test_round_trip_from_a_business_day_before_cutoff(
    spec: Spec, day: dt.date, n: int, minute: int
) -> None:
    cal = spec.calendar()
    assume(cal.is_business_day(day))
    assert cal.add_business_days(cal.add_business_days(day, n), -n) == day
    wall = dt.time(minute // 60, minute % 60)
    assume(spec.cutoff is None or wall <= spec.cutoff)
    at = dt.datetime.combine(day, wall, tzinfo=cal.tz)
    moved = cal.add_business_days(at, n)
    # A wall time pushed out of a DST gap may pass the cut-off; that is the one exception.
    assume(moved.time() == wall)
    assert cal.add_business_days(moved, -n).date() == day


@PROPS
@given(spec=specs(), data=st.data(), minutes=st.integers(0, 60 * 120))
def test_business_hours_agree_with_reference(spec: Spec, data: st.DataObject, minutes: int) -> None:
    cal, ref = spec.calendar(), Reference(spec)
    at = data.draw(instants(data.draw(st.sampled_from(ZONES))))
    duration = dt.timedelta(minutes=minutes)
    got = cal.add_business_hours(at, duration)
    assert got.tzinfo is cal.tz
    assert got == ref.add_business_hours(at, duration)
    assert cal.business_hours_between(at, got) == duration
    other = data.draw(instants(spec.tz))
    assert cal.business_hours_between(at, other) == ref.business_hours_between(at, other)


@PROPS
@given(
    spec=specs(),
    data=st.data(),
    calls=st.lists(
        st.tuples(st.sampled_from(ZONES), steps, st.booleans()), min_size=2, max_size=25
    ),
)
def test_repeated_calls_agree_with_reference(
    spec: Spec, data: st.DataObject, calls: list[tuple[str, int, bool]]
) -> None:
    # The first call builds the tables; later ones take the precomputed fast paths.
    cal, ref = spec.calendar(), Reference(spec)
    for zone, n, as_date in calls:
        at = data.draw(instants(zone))
        if as_date:
            assert cal.add_business_days(at.date(), n) == ref.add_business_days(at.date(), n)
            continue
        moved = cal.add_business_days(at, n)
        assert moved.tzinfo is cal.tz
        assert moved.date() == ref.add_business_days(at, n)
        assert cal.business_days_between(at, moved) == n


def test_add_business_days_takes_the_design_keywords() -> None:
    # The public contract writes add_business_days(dt, n).
    cal = BusinessCalendar()
    friday = dt.date(2026, 11, 20)
    assert cal.add_business_days(dt=friday, n=1) == dt.date(2026, 11, 23)
    with pytest.raises(CareKitError, match="dt must be a timezone-aware datetime"):
        cal.add_business_days(dt=dt.datetime(2026, 11, 20, 9), n=1)


def test_a_business_day_count_too_large_for_a_float_is_refused() -> None:
    cal = BusinessCalendar()
    day = dt.date(2024, 1, 1)
    with pytest.raises(CareKitError, match="would fall after 9999-12-31"):
        cal.add_business_days(day, 10**400)
    with pytest.raises(CareKitError, match="would fall before 0001-01-01"):
        cal.add_business_days(day, -(10**400))


def test_a_result_that_cannot_be_expressed_in_utc_is_refused() -> None:
    # 00:00 UTC on 31 Dec 9999 is 19:00 the day before in New York, after the 14:00 cut-off:
    # the start day is 31 Dec 9999 at 19:00 local, which is already the year 10000 in UTC.
    cal = BusinessCalendar(tz="America/New_York", cutoff=dt.time(14))
    with pytest.raises(CareKitError, match=r"9999-12-31T19:00:00 in America/New_York, would fall "
                                           r"outside the years 1\.\.9999 in UTC"):
        cal.add_business_days(dt.datetime(9999, 12, 31, tzinfo=dt.timezone.utc), 0)
    assert cal.add_business_days(dt.datetime(9999, 12, 30, 12, tzinfo=cal.tz), 0) == (
        dt.datetime(9999, 12, 30, 12, tzinfo=cal.tz))


def test_an_instant_the_zone_cannot_show_is_refused_warm_or_cold() -> None:
    # 0001-01-01 00:00 UTC is before the year 1 in London's local time. A calendar that has
    # already built its tables (the fast path) must say so exactly as a fresh one does.
    earliest = dt.datetime.min.replace(tzinfo=UTC)
    for warm in (False, True):
        cal = BusinessCalendar(cutoff=dt.time(14), tz="Europe/London")
        if warm:
            cal.add_business_days(dt.datetime(2026, 1, 5, 9, tzinfo=UTC), 3)
        with pytest.raises(CareKitError, match="dt cannot be expressed in"):
            cal.add_business_days(earliest, 3)
