"""Properties: promises never before the estimate, monotonic in the quantile, and no input
makes the estimators fail with anything but CareKitError."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.strategies_promises import histories, order_times, quantiles

from carekit import CareKitError
from carekit.calendar import BusinessCalendar
from carekit.promises import PaddedEstimator, QuantileEstimator, at_risk, backtest

CALENDARS = [
    BusinessCalendar(workdays=range(7), tz="UTC"),
    BusinessCalendar(cutoff=dt.time(14), tz="Europe/London"),
    BusinessCalendar(workdays=range(6), holidays=[dt.date(2025, 1, 20)], cutoff=dt.time(11),
                     tz="America/Sao_Paulo"),
]
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(histories(min_size=1), order_times, quantiles, st.sampled_from(CALENDARS),
       st.sampled_from([None, "north", "south", ("north", "van"), "elsewhere"]))
def test_promises_never_before_the_estimate(history, at, q, cal, segment):
    est = QuantileEstimator(quantile=q, min_samples=1, fallback=3, earliest=0.1).fit(
        history, calendar=cal)
    p = est.promise(at, segment=segment)
    assert p.promised >= p.expected
    assert p.earliest is None or p.earliest <= p.expected
    assert p.padding >= 0
    assert cal.is_business_day(p.promised)
    assert p.promised >= cal.start_day(at)


@FAST
@given(histories(min_size=1), order_times, quantiles, quantiles, st.sampled_from(CALENDARS))
def test_monotonic_in_the_quantile(history, at, q1, q2, cal):
    lo, hi = sorted((q1, q2))
    common = dict(min_samples=1, fallback=2, calibration=0)
    a = QuantileEstimator(quantile=lo, **common).fit(history, calendar=cal)
    b = QuantileEstimator(quantile=hi, **common).fit(history, calendar=cal)
    for segment in (None, "north", ("north", "van")):
        assert a.promise(at, segment=segment).promised <= b.promise(at, segment=segment).promised


@FAST
@given(st.integers(min_value=0, max_value=200), st.floats(min_value=1, max_value=3),
       order_times, st.sampled_from(CALENDARS))
def test_padded_never_before_the_estimate(expected, factor, at, cal):
    p = PaddedEstimator(factor=factor).promise(at, calendar=cal, expected=expected)
    assert p.promised >= p.expected
    assert p.padding == cal.business_days_between(p.expected, p.promised)


junk = st.one_of(
    st.none(), st.integers(), st.floats(allow_nan=True), st.text(max_size=5),
    st.datetimes(), st.dates(), st.timedeltas(), st.lists(st.integers(), max_size=2),
    st.datetimes(timezones=st.just(dt.timezone.utc)),
)


@settings(max_examples=80, deadline=None)
@given(junk, junk, junk, junk)
def test_junk_gives_only_careKitError(a, b, c, d):
    attempts = [
        lambda: QuantileEstimator(quantile=a),
        lambda: QuantileEstimator(window=b, fallback=c, min_samples=d),
        lambda: PaddedEstimator(factor=a, minimum=b, round_to=c),
        lambda: QuantileEstimator(fallback=1).fit([(a, b, 0)]),
        lambda: QuantileEstimator(fallback=1).fit(a),
        lambda: PaddedEstimator().promise(a, calendar=None, expected=b),
        lambda: PaddedEstimator().promise(
            dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc), calendar=c, expected=d),
        lambda: QuantileEstimator(fallback=2).fit([]).promise(a, segment=b, expected=c),
        lambda: backtest(QuantileEstimator(), a),
        lambda: at_risk(PaddedEstimator().promise(
            dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc), expected=2), a, b),
    ]
    for attempt in attempts:
        try:
            attempt()
        except CareKitError:
            pass


@FAST
@given(histories(min_size=1), order_times, quantiles, st.sampled_from(CALENDARS),
       st.sampled_from([None, "north", "elsewhere"]))
def test_a_promise_counts_on_its_own_calendar(history, at, q, cal, segment):
    # Fitted on the default calendar and promised on another, or fitted on that one: the same.
    est = QuantileEstimator(quantile=q, min_samples=1, fallback=3)
    at = at.astimezone(cal.tz)
    assert est.fit(history).promise(at, calendar=cal, segment=segment) == est.fit(
        history, calendar=cal).promise(at, segment=segment)
