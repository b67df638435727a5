"""Response times: SLA attainment, quantiles and business hours."""

from __future__ import annotations

import datetime as dt
import pickle

import pytest
from tests._extras import need

from carekit import CareKitError
from carekit.calendar import BusinessCalendar
from carekit.metrics import ResponseTime

UTC = dt.timezone.utc


def test_sla_attainment_and_quantiles() -> None:
    minutes = [5, 12, 20, 25, 31, 45, 90, 60, 61, 8]
    rt = ResponseTime().extend([dt.timedelta(minutes=m) for m in minutes])
    assert rt.proportion_counts() == (8, 10)  # 60 minutes exactly meets the 1-hour target
    assert rt.result().value == 0.8
    exact = sorted(minutes)
    for q, got in ((0.5, rt.median), (0.9, rt.p90), (0.99, rt.p99)):
        want = dt.timedelta(minutes=exact[int(q * 9)])
        assert got is not None and abs(got - want) <= want * 0.01
    assert rt.mean == dt.timedelta(minutes=sum(minutes) / 10)
    assert rt.relative_accuracy == 0.01 and rt.target == dt.timedelta(hours=1)


def test_empty_response_time() -> None:
    rt = ResponseTime()
    assert rt.result().n == 0 and rt.median is None and rt.mean is None


def test_pairs_without_calendar_use_elapsed_time() -> None:
    received = dt.datetime(2026, 3, 6, 16, 30, tzinfo=UTC)
    rt = ResponseTime().add((received, received + dt.timedelta(hours=2)))
    assert rt.median is not None
    assert abs(rt.median - dt.timedelta(hours=2)) <= dt.timedelta(hours=2) * 0.01
    assert rt.within_target == 0


def test_business_hours_with_a_calendar() -> None:
    # Friday 16:30 to Monday 09:30 with 09:00-17:00 opening hours: one business hour.
    cal = BusinessCalendar(tz="UTC")
    received = dt.datetime(2026, 3, 6, 16, 30, tzinfo=UTC)
    responded = dt.datetime(2026, 3, 9, 9, 30, tzinfo=UTC)
    rt = ResponseTime(target=dt.timedelta(hours=1), calendar=cal).add((received, responded))
    assert rt.within_target == 1
    assert rt.mean == dt.timedelta(hours=1)
    assert rt.calendar is cal
    # a pickled copy (as on a Dask worker) still merges with the original
    back = pickle.loads(pickle.dumps(rt))
    assert back.merge(rt).n == 2


def test_calendars_merge_when_they_close_on_the_same_days() -> None:
    from dateutil.rrule import YEARLY, rrule, rruleset

    holidays = need("holidays", "holidays")
    # Same weekdays, hours and number of holidays, different days: their business hours
    # differ, so the accumulators must not be merged.
    boxing_day = BusinessCalendar(holidays=[dt.date(2026, 12, 25), dt.date(2026, 12, 26)])
    new_year = BusinessCalendar(holidays=[dt.date(2026, 12, 25), dt.date(2027, 1, 1)])
    with pytest.raises(CareKitError, match="different settings .*calendar BusinessCalendar"):
        ResponseTime(calendar=boxing_day).merge(ResponseTime(calendar=new_year))

    def yearly(day: int) -> rruleset:
        rules = rruleset()
        rules.rrule(rrule(YEARLY, bymonth=12, bymonthday=day, dtstart=dt.datetime(2000, 1, 1)))
        return rules

    with pytest.raises(CareKitError, match="different settings"):
        ResponseTime(calendar=BusinessCalendar(holidays=yearly(25))).merge(
            ResponseTime(calendar=BusinessCalendar(holidays=yearly(26))))
    scotland = ResponseTime(calendar=BusinessCalendar(holidays=holidays.GB(subdiv="SCT")))
    with pytest.raises(CareKitError, match="different settings"):
        scotland.merge(ResponseTime(calendar=BusinessCalendar(holidays=holidays.GB())))

    # Calendars closing on the same days merge, however they were built: apart, pickled,
    # from dates or from rules, or from a rule without a dtstart (dateutil's "now").
    def rich() -> BusinessCalendar:
        return BusinessCalendar(holidays=[holidays.GB(subdiv="SCT"), yearly(24),
                                          dt.date(2026, 1, 2)])

    one, two = ResponseTime(calendar=rich()), ResponseTime(calendar=rich())
    two.calendar.is_business_day(dt.date(2031, 1, 2))  # type: ignore[union-attr]
    assert one.merge(two).n == 0
    assert one.merge(pickle.loads(pickle.dumps(two))).n == 0
    as_dates = [dt.date(y, 12, 24) for y in range(2000, 2101)]
    assert ResponseTime(calendar=BusinessCalendar(holidays=yearly(24))).merge(
        ResponseTime(calendar=BusinessCalendar(holidays=as_dates))).n == 0
    christmas = rrule(YEARLY, bymonth=12, bymonthday=25)  # starts now
    a_second_later = christmas.replace(dtstart=christmas._dtstart + dt.timedelta(seconds=1))
    assert ResponseTime(calendar=BusinessCalendar(holidays=christmas)).merge(
        ResponseTime(calendar=BusinessCalendar(holidays=a_second_later))).n == 0


def test_response_time_errors() -> None:
    naive = dt.datetime(2026, 3, 6, 16, 30)
    with pytest.raises(CareKitError, match="received_at must be a timezone-aware"):
        ResponseTime().add((naive, naive))
    a = dt.datetime(2026, 3, 6, 16, 30, tzinfo=UTC)
    with pytest.raises(CareKitError, match="responded_at must not be before received_at"):
        ResponseTime().add((a, a - dt.timedelta(minutes=1)))
    with pytest.raises(CareKitError, match="pair"):
        ResponseTime().add((a,))
    with pytest.raises(CareKitError, match="response_time"):
        ResponseTime().add(-5)
    with pytest.raises(CareKitError, match="response_time"):
        ResponseTime().extend([1.0, "late"])
    with pytest.raises(CareKitError, match="calendar must be a BusinessCalendar"):
        ResponseTime(calendar="Mon-Fri")  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="target"):
        ResponseTime(target=dt.timedelta(0))
    with pytest.raises(CareKitError, match="different settings"):
        ResponseTime().merge(ResponseTime(target=60))


def test_quantiles_are_whole_microseconds_within_alpha_plus_half_a_microsecond() -> None:
    # The documented bound: |v - x| <= alpha x for the sketch, plus the timedelta's rounding
    # to the microsecond. The exact median of these three is 1.070 ms.
    median = ResponseTime().extend([0.000535, 0.00107, 0.00214]).median
    assert median is not None
    exact = 0.00107
    assert abs(median.total_seconds() - exact) <= 0.01 * exact + 0.5e-6
    assert median.total_seconds() * 1e6 == round(median.total_seconds() * 1e6)
