"""Shared argument checks: every message names the argument and the value."""

from __future__ import annotations

import datetime as dt
import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carekit import CareKitError
from carekit import _validate as v
from carekit.metrics import NPS
from carekit.promises import QuantileEstimator
from carekit.staffing import ServiceTarget, plan


def test_aware_accepts_aware_and_rejects_naive() -> None:
    at = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    assert v.aware("at", at) is at
    with pytest.raises(CareKitError, match=r"at must be a timezone-aware datetime \(got naive"):
        v.aware("at", dt.datetime(2026, 1, 1))
    with pytest.raises(CareKitError, match="at must be a timezone-aware datetime"):
        v.aware("at", dt.date(2026, 1, 1))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "3", None, True])
def test_finite_rejects_non_numbers(bad: object) -> None:
    with pytest.raises(CareKitError, match="volume must be a"):
        v.finite("volume", bad)


def test_finite_rejects_numbers_too_large_for_a_float() -> None:
    from decimal import Decimal
    from fractions import Fraction

    for huge in (10**400, -(10**400), Fraction(10**400, 3)):
        with pytest.raises(CareKitError, match="volume must be a finite number"):
            v.finite("volume", huge)
    with pytest.raises(CareKitError, match=r"\(401 characters\)"):
        v.finite("volume", 10**400)
    assert v.finite("volume", 10**300) == 1e300
    with pytest.raises(CareKitError, match="volume must be a real number"):
        v.finite("volume", Decimal("1e400"))  # not a numbers.Real


def test_sign_checks() -> None:
    assert v.non_negative("x", 0) == 0.0
    assert v.positive("x", 0.5) == 0.5
    with pytest.raises(CareKitError, match=r"x must be >= 0 \(got -1\)"):
        v.non_negative("x", -1)
    with pytest.raises(CareKitError, match=r"x must be > 0 \(got 0\)"):
        v.positive("x", 0)


def test_positive_int() -> None:
    assert v.positive_int("agents", 3) == 3
    assert v.positive_int("n", 0, minimum=0) == 0
    for bad in (0, 2.0, True, "1"):
        with pytest.raises(CareKitError, match="agents must be an integer >= 1"):
            v.positive_int("agents", bad)


def test_probability_bounds() -> None:
    assert v.probability("service_level", 1) == 1.0
    with pytest.raises(CareKitError, match=r"service_level must lie in \(0, 1\] \(got 0\)"):
        v.probability("service_level", 0)
    with pytest.raises(CareKitError, match=r"shrinkage must lie in \[0, 1\) \(got 1\)"):
        v.probability("shrinkage", 1, allow_zero=True, allow_one=False)


def test_durations() -> None:
    assert v.duration("aht", 300) == dt.timedelta(seconds=300)
    assert v.duration("aht", dt.timedelta(minutes=5)) == dt.timedelta(seconds=300)
    assert v.optional_duration("patience", None) is None
    with pytest.raises(CareKitError, match="answer_within must be a non-negative duration"):
        v.duration("answer_within", dt.timedelta(seconds=-20))
    with pytest.raises(CareKitError, match="aht must be a positive duration"):
        v.positive_duration("aht", 0)
    with pytest.raises(CareKitError, match="aht must be a datetime.timedelta or a number"):
        v.duration("aht", "5 minutes")


@given(st.one_of(st.floats(allow_nan=True), st.integers(), st.text(), st.none(), st.booleans()))
def test_checks_raise_only_carekit_errors(value: object) -> None:
    for check in (v.finite, v.non_negative, v.positive, v.probability, v.duration):
        try:
            check("value", value)
        except CareKitError:
            pass


def test_positive_int_with_a_maximum() -> None:
    assert v.positive_int("agents", 10**15, maximum=10**15) == 10**15
    with pytest.raises(CareKitError, match=r"agents must be an integer from 1 to 1,000 \(got 10"):
        v.positive_int("agents", 1001, maximum=1000)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ServiceTarget(80, 20),
         "service_level must lie in (0, 1] (got 80); a share, not a percent: pass 0.8 for 80 %"),
        (lambda: ServiceTarget(0.8, 20, max_occupancy=85),
         "max_occupancy must lie in (0, 1] (got 85); a share, not a percent: pass 0.85 for 85 %"),
        (lambda: plan([], aht=300, target=ServiceTarget(0.8, 20), shrinkage=30),
         "shrinkage must lie in [0, 1) (got 30); a share, not a percent: pass 0.3 for 30 %"),
        (lambda: QuantileEstimator(quantile=95),
         "quantile must lie in (0, 1) (got 95); a share, not a percent: pass 0.95 for 95 %"),
        (lambda: NPS().result(confidence=99.5),
         "confidence must lie in (0, 1) (got 99.5); a share, not a percent: pass 0.995 for "
         "99.5 %"),
        # no hint where no percent is likely meant
        (lambda: ServiceTarget(1.5, 20),
         "service_level must lie in (0, 1] (got 1.5)"),
        (lambda: ServiceTarget(800, 20),
         "service_level must lie in (0, 1] (got 800)"),
    ],
)
def test_a_percent_where_a_share_belongs_gets_a_hint(call, message) -> None:
    # Regression: ServiceTarget(80, 20) said only "must lie in (0, 1] (got 80)".
    with pytest.raises(CareKitError) as err:
        call()
    assert str(err.value) == message


def test_a_decimal_or_numpy_number_is_told_how_to_pass() -> None:
    # Regression: "agents must be an integer >= 0 (got np.int64(14))" and "must be a real
    # number (got Decimal('12.5'))" read as contradictions; a database or pandas gives these.
    from decimal import Decimal

    with pytest.raises(CareKitError) as err:
        v.finite("volume", Decimal("12.5"))
    assert str(err.value) == (
        "volume must be a real number (got Decimal('12.5')), a decimal.Decimal: pass "
        "float(value)")
    with pytest.raises(CareKitError) as err:
        v.positive_int("agents", Decimal(3))
    assert str(err.value).endswith("(got Decimal('3')), a decimal.Decimal: pass int(value)")
    with pytest.raises(CareKitError) as err:
        v.positive_int("agents", 3.0)  # a float says nothing more
    assert str(err.value) == "agents must be an integer >= 1 (got 3.0)"
    from tests._extras import need

    np = need("numpy", "test-extras")
    with pytest.raises(CareKitError) as err:
        v.positive_int("agents", np.int64(14), minimum=0)
    assert str(err.value).endswith(", a numpy.int64: pass int(value)")


def test_pandas_empty_time_is_missing_not_naive() -> None:
    # Regression: NaT is a datetime with no zone, so it was "naive" with advice to attach a
    # time zone; plan() let pandas' own ValueError out ("NaTType does not support utcoffset").
    from tests._extras import need

    pd = need("pandas", "test-extras")
    from carekit.metrics import ResponseTime

    missing = "is missing (got NaT, an empty cell of a pandas datetime column)"
    with pytest.raises(CareKitError, match=rf"^at {re.escape(missing)}$"):
        v.aware("at", pd.NaT)
    with pytest.raises(CareKitError, match=rf"^forecast\[0\] interval_start {re.escape(missing)}$"):
        plan([(pd.NaT, 5)], aht=300, target=ServiceTarget(0.8, 20))
    start = pd.Timestamp("2026-01-05 09:00", tz="UTC")
    with pytest.raises(CareKitError, match=rf"^responded_at {re.escape(missing)}$"):
        ResponseTime().add((start, pd.NaT))
    assert v.aware("at", start) is start  # an aware Timestamp is a datetime like any other


def test_a_time_given_as_text_is_told_to_parse_it() -> None:
    # Regression: a CSV cell passed as it is read said only "must be a timezone-aware
    # datetime (got '2026-02-01T17:35:00+00:00')", which looks like one.
    from carekit.metrics import ResponseTime

    with pytest.raises(CareKitError) as err:
        ResponseTime().add(("2026-02-01T17:35:00+00:00", "2026-02-01T17:53:48+00:00"))
    assert str(err.value) == (
        "received_at must be a timezone-aware datetime (got '2026-02-01T17:35:00+00:00'); "
        "it is text: parse it first, e.g. datetime.fromisoformat(value)")
    with pytest.raises(CareKitError, match=r"must be a timezone-aware datetime \(got 5\)$"):
        v.aware("at", 5)
