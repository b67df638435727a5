"""Promise.to_dict / from_dict: a JSON-safe round trip, so a promise can ride in event data."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carekit import CareKitError
from carekit.calendar import BusinessCalendar
from carekit.promises import Promise, QuantileEstimator, StageForecast

AT = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone.utc)


def _round_trip(p: Promise) -> Promise:
    return Promise.from_dict(json.loads(json.dumps(p.to_dict())))


def test_a_fitted_promise_round_trips_with_its_stages_and_calendar() -> None:
    calendar = BusinessCalendar(holidays=[dt.date(2026, 4, 3), dt.date(2026, 4, 6)],
                                cutoff=dt.time(14), tz="Europe/London")
    history = [(AT - dt.timedelta(days=d + 30), AT - dt.timedelta(days=30 - (d % 9) - 2), "N")
               for d in range(60)]
    promise = QuantileEstimator(quantile=0.9).fit(history).promise(AT, calendar=calendar,
                                                                   segment="N")
    back = _round_trip(promise)
    assert back == promise
    assert [s.cdf for s in back.stages] == [s.cdf for s in promise.stages]
    assert (back.reliable, back.basis) == (promise.reliable, promise.basis)
    # The calendar closes on the same days over the promise's span (Easter 2026 included).
    day = dt.date(2026, 3, 1)
    for _ in range(500):
        assert back.calendar.is_business_day(day) == calendar.is_business_day(day)
        day += dt.timedelta(days=1)
    assert back.calendar.cutoff == dt.time(14) and str(back.calendar.tz) == "Europe/London"


@settings(max_examples=60, deadline=None)
@given(
    lead=st.integers(0, 60),
    pad=st.integers(0, 20),
    confidence=st.floats(0.01, 0.99),
    segment=st.one_of(
        st.none(), st.text(max_size=5), st.tuples(st.text(max_size=3), st.integers())
    ),
    offset=st.integers(-14 * 60, 14 * 60),
)
def test_any_promise_round_trips(
    lead: int, pad: int, confidence: float, segment: object, offset: int
) -> None:
    ordered = AT.astimezone(dt.timezone(dt.timedelta(minutes=offset)))
    expected = ordered.date() + dt.timedelta(days=lead)
    p = Promise(ordered_at=ordered, expected=expected, promised=expected + dt.timedelta(days=pad),
                padding=pad, confidence=confidence, segment=segment,
                stages=(StageForecast(name="delivery", cdf=(0.0, 0.5, 1.0)),))
    back = _round_trip(p)
    assert back == p and back.ordered_at.utcoffset() == ordered.utcoffset()


def test_bad_dicts_are_clear_errors() -> None:
    with pytest.raises(CareKitError, match="reads format 1"):
        Promise.from_dict({"promised": "2026-03-05"})
    with pytest.raises(CareKitError, match="needs a mapping"):
        Promise.from_dict([1, 2])
    good = Promise(ordered_at=AT, expected=dt.date(2026, 3, 4), promised=dt.date(2026, 3, 5),
                   padding=1, confidence=0.9).to_dict()
    with pytest.raises(CareKitError, match="promised must not be before expected"):
        Promise.from_dict({**good, "promised": "2026-03-01"})
    with pytest.raises(CareKitError, match="KeyError"):
        Promise.from_dict({k: v for k, v in good.items() if k != "expected"})
    with pytest.raises(CareKitError, match="segment that is a string"):
        Promise(ordered_at=AT, expected=dt.date(2026, 3, 4), promised=dt.date(2026, 3, 5),
                padding=1, confidence=0.9, segment=frozenset({1})).to_dict()
