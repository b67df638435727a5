"""Promise and Order value objects: validation and error messages."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from carekit import CareKitError
from carekit.promises import Order, Promise, StageForecast

UTC = dt.timezone.utc
AT = dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def make(**kw):
    base = dict(ordered_at=AT, expected=dt.date(2026, 3, 9), promised=dt.date(2026, 3, 13),
                padding=4, confidence=0.95)
    base.update(kw)
    return Promise(**base)


def test_promise_fields_and_window():
    p = make(earliest=dt.date(2026, 3, 5))
    assert (p.expected, p.promised, p.padding, p.earliest) == (
        dt.date(2026, 3, 9), dt.date(2026, 3, 13), 4, dt.date(2026, 3, 5))
    assert hash(p) == hash(make(earliest=dt.date(2026, 3, 5)))


@pytest.mark.parametrize(
    ("kw", "argument"),
    [
        ({"ordered_at": dt.datetime(2026, 3, 2)}, "ordered_at"),
        ({"promised": dt.date(2026, 3, 1)}, "promised"),
        ({"padding": -1}, "padding"),
        ({"confidence": 1.0}, "confidence"),
        ({"confidence": 0}, "confidence"),
        ({"earliest": dt.date(2026, 4, 1)}, "earliest"),
        ({"expected": "soon"}, "expected"),
    ],
)
def test_promise_rejects_bad_values_naming_the_argument(kw, argument):
    with pytest.raises(CareKitError, match=argument):
        make(**kw)


def test_a_window_may_start_between_expected_and_promised():
    # "Between 24 and 27 March": earliest after the internal estimate is allowed; only
    # after the promised day is it refused.
    p = make(expected=dt.date(2026, 3, 20), promised=dt.date(2026, 3, 27), padding=5,
             earliest=dt.date(2026, 3, 24))
    assert p.earliest == dt.date(2026, 3, 24)
    assert make(expected=dt.date(2026, 3, 20), promised=dt.date(2026, 3, 27), padding=5,
                earliest=dt.date(2026, 3, 27)).earliest == dt.date(2026, 3, 27)


def test_evolve_revalidates():
    with pytest.raises(CareKitError, match="promised"):
        attrs.evolve(make(), promised=dt.date(2026, 3, 8))


def test_order_checks():
    with pytest.raises(CareKitError, match="delivered_at must not be before ordered_at") as late:
        Order(ordered_at=AT, delivered_at=AT - dt.timedelta(seconds=1))
    # Both times in ISO 8601, as a CSV holds them (no datetime.datetime repr for CLI users).
    assert f"delivered_at {(AT - dt.timedelta(seconds=1)).isoformat()}, ordered_at " \
        f"{AT.isoformat()})" in str(late.value)
    with pytest.raises(CareKitError, match="delivered_at"):
        Order(ordered_at=AT, delivered_at=dt.datetime(2026, 3, 3))
    with pytest.raises(CareKitError, match="segment"):
        Order(ordered_at=AT, segment=["not", "hashable"])
    assert Order(ordered_at=AT).delivered_at is None


def test_stage_forecast_checks():
    with pytest.raises(CareKitError, match="nondecreasing"):
        StageForecast(name="carrier", cdf=(0.5, 0.2))
    with pytest.raises(CareKitError, match="name"):
        StageForecast(name="", cdf=(1.0,))
    for cdf in (None, 5, "0.5"):
        with pytest.raises(CareKitError, match="cdf must be a sequence of probabilities"):
            StageForecast(name="carrier", cdf=cdf)
    listed = StageForecast(name="carrier", cdf=[0.5, 1.0])  # a list is kept as a tuple
    assert listed.cdf == (0.5, 1.0)
    assert hash(listed) == hash(StageForecast(name="carrier", cdf=(0.5, 1.0)))
