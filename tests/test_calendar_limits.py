"""BusinessCalendar's bounds: which holiday rules it takes, how far one call reaches, and that
every call returns promptly whatever the rules and dates (no hangs)."""

from __future__ import annotations

import datetime as dt

import pytest
from dateutil.relativedelta import MO
from dateutil.rrule import (
    DAILY,
    HOURLY,
    MINUTELY,
    MONTHLY,
    SECONDLY,
    WEEKLY,
    YEARLY,
    rrule,
    rruleset,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.strategies_calendar import holiday_rules
from tests.timebox import finishes_within

from carekit import CareKitError
from carekit._calendar_rules import MAX_COUNT, rule_dates
from carekit.calendar import MAX_SPAN_YEARS, BusinessCalendar
from carekit.promises import PaddedEstimator

UTC = dt.timezone.utc
D = dt.date
T0 = dt.datetime(2026, 3, 2, 9, tzinfo=UTC)
RULES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _dateutil_dates(rule: rrule | rruleset, first: int, last: int) -> set[int]:
    """The reference: dateutil's own walk from the rule's start (slow, but exact)."""
    tz = rule._tzinfo if isinstance(rule, rrule) else None
    lo = dt.datetime.combine(D.fromordinal(first), dt.time.min, tzinfo=tz)
    hi = dt.datetime.combine(D.fromordinal(last), dt.time.max, tzinfo=tz)
    return {o.toordinal() for o in rule.between(lo, hi, inc=True)}


# -- rules that are refused -----------------------------------------------------------------


@pytest.mark.parametrize(("freq", "name"), [(HOURLY, "HOURLY"), (MINUTELY, "MINUTELY"),
                                            (SECONDLY, "SECONDLY")])
def test_a_rule_repeating_more_often_than_daily_is_refused(freq: int, name: str) -> None:
    # Regression: a holiday every minute from 2026 kept next_business_day busy for over
    # 90 s. A holiday closes whole days, so a sub-daily rule is refused when the calendar is
    # made, alone or inside an rruleset (as a rule or an exclusion).
    rule = rrule(freq, dtstart=dt.datetime(2026, 1, 1))
    with finishes_within(5), pytest.raises(CareKitError, match=f"daily or less often.*{name}"):
        BusinessCalendar(holidays=[rule])
    for part in ("rrule", "exrule"):
        rules = rruleset()
        rules.rrule(rrule(YEARLY, dtstart=dt.datetime(2026, 1, 1)))
        getattr(rules, part)(rule)
        with pytest.raises(CareKitError, match=f"FREQ={name}"):
            BusinessCalendar(holidays=rules)


def test_rules_the_calendar_could_not_expand_in_bounded_time_are_refused() -> None:
    start = dt.datetime(2026, 1, 1)
    cases = {
        "at most once a day": rrule(YEARLY, dtstart=start, byhour=range(24), byminute=range(60)),
        f"COUNT at most {MAX_COUNT:,}": rrule(DAILY, dtstart=start, count=MAX_COUNT + 1),
        "BYWEEKNO only with FREQ=YEARLY": rrule(WEEKLY, dtstart=start, byweekno=20),
        "BYEASTER only with FREQ=YEARLY": rrule(DAILY, dtstart=start, byeaster=0),
        r"BYEASTER offsets must lie in -80\.\.250": rrule(YEARLY, dtstart=start, byeaster=300),
    }
    for message, rule in cases.items():
        with pytest.raises(CareKitError, match=message):
            BusinessCalendar(holidays=rule)
    # A COUNT of exactly the limit, and the widest Easter offsets, are fine.
    BusinessCalendar(holidays=rrule(DAILY, dtstart=start, count=MAX_COUNT))
    easter = BusinessCalendar(holidays=rrule(YEARLY, dtstart=start, byeaster=(-80, 250)))
    # Easter Sunday 2027 is 28 March (dateutil.easter): -80 days is 7 January, a Thursday.
    assert not easter.is_business_day(D(2027, 1, 7))


def test_an_rruleset_must_hold_dates_and_not_itself() -> None:
    rules = rruleset()
    rules.rdate("2026-12-24")  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="rdate and exdate values must be datetime.date"):
        BusinessCalendar(holidays=rules)
    loop = rruleset()
    loop.rrule(loop)  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="must not contain itself"):
        BusinessCalendar(holidays=loop)


# -- rules that are accepted: same days as dateutil, in bounded time ------------------------


@RULES
@given(rule=holiday_rules(8400, 9000), years=st.tuples(st.integers(8900, 9550),
                                                       st.integers(0, 60)))
def test_rule_days_agree_with_dateutil(rule: rrule, years: tuple[int, int]) -> None:
    # Near the year 9999 dateutil's own walk (the reference) is short even for a rule that
    # never occurs; windows a few centuries after the start make the calendar restart the
    # rule near them, skip whole 400-year cycles of a counted rule and move the walk
    # forward by whole cycles, so each rewrite is compared with dateutil here.
    first = D(years[0], 1, 1).toordinal()
    last = D(min(9999, years[0] + years[1]), 12, 31).toordinal()
    try:
        BusinessCalendar(holidays=rule)
    except CareKitError:
        return
    assert rule_dates(rule, first, last) == _dateutil_dates(rule, first, last)


@RULES
@given(rules=st.lists(holiday_rules(8400, 9000), min_size=1, max_size=3),
       dates=st.lists(st.datetimes(dt.datetime(8400, 1, 1), dt.datetime(9500, 1, 1)),
                      max_size=3),
       year=st.integers(8900, 9500))
def test_rrulesets_agree_with_dateutil(rules: list[rrule], dates: list[dt.datetime],
                                       year: int) -> None:
    rules = [r for r in rules if r._tzinfo is None]  # dateutil cannot order naive with aware
    combined = rruleset()
    for i, rule in enumerate(rules):
        (combined.rrule if i % 2 == 0 else combined.exrule)(rule)
    for i, day in enumerate(dates):
        (combined.rdate if i % 2 == 0 else combined.exdate)(day.replace(microsecond=0))
    first, last = D(year, 1, 1).toordinal(), D(year + 20, 12, 31).toordinal()
    try:
        BusinessCalendar(holidays=combined)
    except CareKitError:
        return
    assert rule_dates(combined, first, last) == _dateutil_dates(combined, first, last)


def test_far_windows_agree_with_dateutil_for_rules_that_keep_occurring() -> None:
    # Far from 9999 dateutil is only quick for rules that occur after the window; these do.
    rules = [
        rrule(YEARLY, bymonth=12, bymonthday=25, dtstart=dt.datetime(1, 1, 1)),
        rrule(DAILY, byweekday=MO, bymonth=(1, 7), dtstart=dt.datetime(1600, 3, 1, 18)),
        rrule(WEEKLY, interval=3, dtstart=dt.datetime(1700, 1, 6)),
        rrule(MONTHLY, interval=5, bymonthday=-1, dtstart=dt.datetime(1950, 1, 31)),
        rrule(DAILY, interval=2, count=5000, bymonthday=(1, 15), dtstart=dt.datetime(1900, 1, 1)),
        rrule(YEARLY, count=900, byeaster=-2, dtstart=dt.datetime(1583, 1, 1)),
    ]
    first, last = D(2020, 1, 1).toordinal(), D(2030, 12, 31).toordinal()
    for rule in rules:
        expected = _dateutil_dates(rule, first, last)
        assert expected, rule
        assert rule_dates(rule, first, last) == expected


IMPOSSIBLE_OR_FAR = [
    # Before the fix each of these walked day by day up to the year 9999 on every table
    # built (a daily rule with no occurrence: about 4 s each time; every minute: forever).
    rrule(DAILY, bymonth=2, bymonthday=30, dtstart=dt.datetime(1, 1, 1)),
    rrule(DAILY, interval=2, bymonth=4, bymonthday=31, count=50, dtstart=dt.datetime(1, 1, 1)),
    rrule(WEEKLY, interval=2, bysetpos=2, bymonthday=31, bymonth=4, dtstart=dt.datetime(1, 1, 1)),
    rrule(DAILY, dtstart=dt.datetime(1, 1, 1), byweekday=MO),
    rrule(DAILY, dtstart=dt.datetime(1, 1, 1), count=MAX_COUNT, bymonth=2, bymonthday=29),
    rrule(YEARLY, byweekno=53, bymonth=6, dtstart=dt.datetime(1, 1, 1)),
]


@pytest.mark.parametrize("rule", IMPOSSIBLE_OR_FAR, ids=str)
def test_every_call_returns_promptly_with_sparse_impossible_and_ancient_rules(rule: rrule) -> None:
    cal = BusinessCalendar(holidays=[rule], tz="Europe/London")
    with finishes_within(20):
        for day in (D(2026, 3, 2), D(9998, 6, 1), D(3, 6, 1), D(5000, 1, 1)):
            cal.next_business_day(day)
            cal.add_business_days(day, 30)
            cal.add_business_hours(dt.datetime.combine(day, dt.time(12), tzinfo=UTC), 3600 * 24)
        cal.business_days_between(D(2026, 1, 1), D(2425, 12, 31))
        cal.business_hours_between(dt.datetime(9600, 1, 1, tzinfo=UTC),
                                   dt.datetime(9999, 12, 30, tzinfo=UTC))


# -- how far one call reaches ---------------------------------------------------------------


def test_far_future_spans_are_refused_quickly_with_the_limit_named() -> None:
    # Regression: business_hours_between up to 9999 built a table of opening hours for
    # 8,000 years (9-20 s); business_days_between from 9999 back to 2026 and promises that far
    # out likewise. One call now covers at most MAX_SPAN_YEARS calendar years.
    assert MAX_SPAN_YEARS == 400
    london = BusinessCalendar(tz="Europe/London")
    far = dt.datetime(9999, 12, 31, tzinfo=UTC)
    with finishes_within(5):
        with pytest.raises(CareKitError, match=r"business_hours_between: .* span the years "
                                               r"2026\.\.9999, more than the 400"):
            BusinessCalendar().business_hours_between(T0, far)
        with pytest.raises(CareKitError, match="more than the 400 calendar years"):
            london.business_hours_between(T0, dt.datetime(7449, 5, 22, 19, tzinfo=UTC))
        with pytest.raises(CareKitError, match="business_days_between"):
            london.business_days_between(D(9999, 12, 31), D(2026, 4, 1))
        with pytest.raises(CareKitError):
            PaddedEstimator().promise(T0, expected=D(8192, 3, 6))
        with pytest.raises(CareKitError, match=r"after 2426-12-31, more than 400 years after "
                                               r"2026-03-02"):
            london.add_business_days(D(2026, 3, 2), 10**6)
        with pytest.raises(CareKitError, match=r"before 1626-01-01, more than 400 years before"):
            london.add_business_days(D(2026, 3, 2), -200_000)  # about 766 years
        with pytest.raises(CareKitError, match="add_business_hours: the result would fall after"):
            london.add_business_hours(T0, dt.timedelta(days=10**6))
        # The bounds of the date range keep their own message.
        with pytest.raises(CareKitError, match="after 9999-12-31"):
            london.add_business_days(D(9990, 3, 2), 10**6)


def _weekdays(first: D, last: D) -> list[D]:
    """Mon-Fri days from ``first`` to ``last`` inclusive, one by one (the reference)."""
    days = (D.fromordinal(o) for o in range(first.toordinal(), last.toordinal() + 1))
    return [d for d in days if d.weekday() < 5]


def test_spans_within_the_limit_are_exact() -> None:
    cal = BusinessCalendar(tz="America/New_York")
    start = dt.datetime(2026, 1, 5, 9, tzinfo=cal.tz)  # a Monday, at opening time
    end = dt.datetime(2425, 1, 5, 9, tzinfo=cal.tz)
    open_days = _weekdays(D(2026, 1, 5), D(2425, 1, 4))  # each open 09:00-17:00 before `end`
    assert cal.business_hours_between(start, end) == dt.timedelta(hours=8 * len(open_days))
    last_close = dt.datetime.combine(open_days[-1], dt.time(17), tzinfo=cal.tz)
    assert cal.add_business_hours(start, dt.timedelta(hours=8 * len(open_days))) == last_close
    assert cal.add_business_days(D(2026, 1, 5), len(open_days) - 1) == open_days[-1]
    # A calendar first used far away, then near: each gets a table of its own.
    back = _weekdays(D(8620, 1, 1), D(8999, 12, 31))
    assert cal.add_business_days(back[-1], -(len(back) - 1)) == back[0]
    assert cal.business_days_between(back[0], back[-1]) == len(back) - 1
