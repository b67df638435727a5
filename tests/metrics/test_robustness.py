"""Edge inputs: every bad input is a CareKitError naming it, every odd-but-valid one works."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from carekit import CareKitError
from carekit.journeys import MemoryJourneyStore
from carekit.metrics import (
    CES,
    CSAT,
    NPS,
    Estimate,
    FirstContactResolution,
    PromiseKept,
    QuantileSketch,
    RepeatCustomers,
    ResponseTime,
    ServiceLevel,
    compare,
)
from carekit.metrics._base import MAX_CONFIDENCE, check_confidence
from carekit.metrics.proportions import MAX_SECONDS
from carekit.metrics.sketch import MIN_RELATIVE_ACCURACY

UTC = dt.timezone.utc
NOW = dt.datetime(2024, 3, 4, 10, tzinfo=UTC)

#: The float just below 1: (1 + c) / 2 rounds to 1.0, so no normal quantile exists.
JUST_BELOW_1 = 1 - 2**-53
TOO_CLOSE_TO_1 = (
    r"confidence must lie in \(0, 1\) and be at most 0\.9999999999999998 \(1 - 2\*\*-52\), "
    r"the closest to 1 at which an interval can be computed \(got 0\.9999999999999999\)"
)

# --- 1. confidence levels too close to 1 -------------------------------------------------

FILLED: dict[str, Callable[[], Any]] = {
    "nps": lambda: NPS().extend([9, 10, 0]),
    "ces": lambda: CES().extend([1, 5]),
    "csat": lambda: CSAT().extend([5, 4, 1]),
    "fcr": lambda: FirstContactResolution().extend([True, False]),
    "response_time": lambda: ResponseTime().extend([30, 7200]),
    "promise_kept": lambda: PromiseKept().extend([True, False, True]),
    "service_level": lambda: ServiceLevel(20).extend([5, 30]),
    "repeat": lambda: RepeatCustomers().extend(["ann", "ann", "bob"]),
}


@pytest.mark.parametrize("make", FILLED.values(), ids=FILLED.keys())
def test_confidence_just_below_1_is_refused_by_name(make: Callable[[], Any]) -> None:
    with pytest.raises(CareKitError, match=TOO_CLOSE_TO_1):
        make().result(confidence=JUST_BELOW_1)


@pytest.mark.parametrize("make", FILLED.values(), ids=FILLED.keys())
def test_the_highest_accepted_confidence_gives_an_interval(make: Callable[[], Any]) -> None:
    assert MAX_CONFIDENCE == 1 - 2**-52
    e = make().result(confidence=MAX_CONFIDENCE)
    assert e.low is not None and e.high is not None
    assert math.isfinite(e.low) and math.isfinite(e.high) and e.low <= e.high


def test_segmented_result_refuses_a_confidence_too_close_to_1() -> None:
    seg = NPS().by(lambda r: r % 2).extend([9, 10, 0])
    with pytest.raises(CareKitError, match=TOO_CLOSE_TO_1):
        seg.result(JUST_BELOW_1)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (NPS().extend([9, 10, 0]), NPS().extend([9, 1, 1])),
        (CSAT().extend([5, 4, 1]), CSAT().extend([5, 1, 1])),
        (CES().extend([7, 6, 2]), CES().extend([1, 2, 6, 1])),
    ],
    ids=["nps", "proportion", "ces"],
)
def test_compare_uses_the_same_confidence_check(a: Any, b: Any) -> None:
    with pytest.raises(CareKitError, match=TOO_CLOSE_TO_1):
        compare(a, b, confidence=JUST_BELOW_1)
    c = compare(a, b, confidence=MAX_CONFIDENCE)
    assert math.isfinite(c.low) and math.isfinite(c.high) and c.low <= c.high


@pytest.mark.parametrize("bad", [0, 1, 1.0, -0.5, 2, math.nan, math.inf, "0.95", None, True])
def test_check_confidence_refuses_what_cannot_be_a_level(bad: object) -> None:
    with pytest.raises(CareKitError, match="confidence must"):
        check_confidence(bad)


def test_check_confidence_names_the_argument_it_is_given() -> None:
    with pytest.raises(CareKitError, match=r"^--confidence must lie in \(0, 1\) and be at most"):
        check_confidence(JUST_BELOW_1, "--confidence")
    assert check_confidence(Fraction(19, 20)) == 0.95


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0, max_value=1))
@example(0.0)
@example(1.0)
@example(JUST_BELOW_1)
@example(MAX_CONFIDENCE)
def test_any_confidence_gives_an_estimate_or_a_carekit_error(c: float) -> None:
    for acc in (NPS().extend([9, 10, 0, 7]), CES().extend([1, 5, 7, 6])):
        try:
            e = acc.result(confidence=c)
        except CareKitError:
            continue
        assert isinstance(e, Estimate)
        assert e.low is not None and e.high is not None and e.low <= e.high


@pytest.mark.parametrize("c", [0.0, 1.0, JUST_BELOW_1, MAX_CONFIDENCE, 5e-324])
def test_confidence_endpoints_and_the_two_floats_below_1(c: float) -> None:
    for acc in (NPS().extend([9, 10, 0, 7]), CES().extend([1, 5, 7, 6])):
        if 0 < c <= MAX_CONFIDENCE:
            assert isinstance(acc.result(confidence=c), Estimate)
        else:
            with pytest.raises(CareKitError, match="confidence must lie in"):
                acc.result(confidence=c)


# --- 2. relative accuracies too small for the sketch's arithmetic ------------------------

@pytest.mark.parametrize("alpha", [1e-17, 1e-320, 5e-324, 1e-12, 9.99e-7])
def test_tiny_relative_accuracy_is_refused_with_the_bound(alpha: float) -> None:
    msg = rf"relative_accuracy must lie in \[1e-06, 0\.5\] \(got {alpha!r}\)"
    with pytest.raises(CareKitError, match=msg):
        QuantileSketch(alpha)
    with pytest.raises(CareKitError, match=msg):
        ResponseTime(relative_accuracy=alpha)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(min_value=1e-300, max_value=1e300), min_size=1, max_size=50),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_the_smallest_relative_accuracy_keeps_its_promise(values: list[float], q: float) -> None:
    assert MIN_RELATIVE_ACCURACY == 1e-6
    sketch = QuantileSketch(MIN_RELATIVE_ACCURACY).extend(values)
    exact = sorted(values)[math.floor(q * (len(values) - 1))]
    got = sketch.quantile(q)
    assert got is not None
    assert abs(got - exact) <= MIN_RELATIVE_ACCURACY * exact * (1 + 1e-9)


# --- 3. numbers at the edges of float, Decimal and Fraction ------------------------------

def test_sketch_takes_values_whose_sum_overflows() -> None:
    values = [1.7e308, 1.6e308, 1e308, 1.7976931348623157e308]
    sketch = QuantileSketch().extend(values)
    assert sketch.count == 4 and sketch == QuantileSketch().extend(values[::-1])
    for q in (0.0, 0.4, 0.7, 1.0):
        exact = sorted(values)[math.floor(q * 3)]
        got = sketch.quantile(q)
        assert got is not None and abs(got - exact) <= 0.01 * exact


def test_sketch_quantile_near_the_largest_float_stays_within_its_bound() -> None:
    # 2 gamma^k overflows here; the bucket value is computed without the overflow.
    values = [1.7976931348623157e308, 1.5e308]
    sketch = QuantileSketch(0.5).extend(values)
    assert sketch.quantile(0.0) == pytest.approx(1.5e308, rel=0.5)
    assert sketch.quantile(1.0) == 1.7976931348623157e308


def test_sketch_reads_a_tiny_positive_fraction_as_its_float_value() -> None:
    tiny = Fraction(1, 10**400)  # float(tiny) == 0.0
    assert QuantileSketch().extend([tiny]) == QuantileSketch().add(0.0)
    assert QuantileSketch().extend([tiny, 3]) == QuantileSketch().extend([0.0, 3])
    assert QuantileSketch().add(tiny).quantile(0.5) == 0.0


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([Decimal("NaN"), 1], r"value must be a real number \(got Decimal\('NaN'\)\)"),
        ([1.0, 10**400], r"value must be a finite number \(got 1000000000000000000000000"),
        ([math.inf, -math.inf], r"value must be a finite number \(got inf\)"),
        ([0, True], r"value must be a real number \(got True\)"),
    ],
    ids=["decimal_nan", "huge_int", "infinities", "bool"],
)
def test_sketch_extend_refuses_what_add_refuses(values: list[Any], message: str) -> None:
    with pytest.raises(CareKitError, match=message):
        QuantileSketch().extend(values)


@pytest.mark.parametrize("seconds", [1e308, 10**20, math.nextafter(MAX_SECONDS, math.inf)])
def test_response_times_longer_than_a_timedelta_are_refused(seconds: float) -> None:
    msg = re.escape("response_time is too long for a duration: at most 86399999999999.98 "
                    f"seconds (got {float(seconds)!r} seconds)")
    with pytest.raises(CareKitError, match=msg):
        ResponseTime().add(seconds)
    with pytest.raises(CareKitError, match=msg):
        ResponseTime().extend([seconds])
    with pytest.raises(CareKitError, match=msg.replace("response_time", "wait")):
        ServiceLevel(20).extend([1, seconds])


def test_the_longest_durations_still_give_timedeltas() -> None:
    # timedelta.max in float seconds rounds up past timedelta.max; it is read as the
    # float just below, so the mean and quantiles stay representable.
    rt = ResponseTime().extend([dt.timedelta.max, MAX_SECONDS]).add(dt.timedelta.max)
    assert rt.n == 3 and rt.within_target == 0
    for got in (rt.mean, rt.median, rt.p99):
        assert got is not None and dt.timedelta.max - got < dt.timedelta(milliseconds=20)


def test_a_bad_wait_in_extend_adds_nothing() -> None:
    rt = ResponseTime()
    with pytest.raises(CareKitError, match="too long"):
        rt.extend([5, 1e308])
    assert rt.n == 0 and rt == ResponseTime()


@pytest.mark.parametrize(
    ("make", "name"),
    [(lambda: ServiceLevel(20), "wait"), (ResponseTime, "response_time")],
    ids=["service_level", "response_time"],
)
def test_decimal_nan_wait_is_refused_by_value(make: Callable[[], Any], name: str) -> None:
    msg = re.escape(f"{name} must be a datetime.timedelta or a number of seconds "
                    "(got Decimal('NaN'))")
    with pytest.raises(CareKitError, match=msg):
        make().extend([Decimal("NaN"), 1])
    with pytest.raises(CareKitError, match=msg):
        make().add(Decimal("NaN"))


def test_fractions_are_seconds_like_other_real_numbers() -> None:
    half = Fraction(1, 2)
    assert ResponseTime().add(half) == ResponseTime().add(0.5)
    assert ResponseTime().extend([half, 2]) == ResponseTime().extend([0.5, 2])
    assert ServiceLevel(20).add(half).proportion_counts() == (1, 1)


def test_a_calendar_must_return_a_timedelta() -> None:
    class Broken:
        def business_hours_between(self, a: dt.datetime, b: dt.datetime) -> Any:
            return 3600

    with pytest.raises(CareKitError, match=r"business_hours_between must return a timedelta "
                                           r"\(got 3600\)"):
        ResponseTime(calendar=Broken()).add((NOW, NOW + dt.timedelta(hours=1)))


# --- 4. customer ids that only look hashable ---------------------------------------------

@pytest.mark.parametrize("bad", [(1, [2]), [1], {"a": 1}, None])
def test_unhashable_customer_id_is_refused_by_value(bad: Any) -> None:
    msg = re.escape(f"customer_id must be a hashable id, not None (got {bad!r})")
    with pytest.raises(CareKitError, match=msg):
        RepeatCustomers().add(bad)
    rc = RepeatCustomers().extend(["ann"])
    with pytest.raises(CareKitError, match=msg):
        rc.extend(["bob", bad])
    assert rc.orders == 1


# --- 5. segment keys ----------------------------------------------------------------------

def test_a_key_returning_an_unhashable_value_is_refused() -> None:
    msg = (r"key must map each record to a hashable segment such as a str, int or tuple "
           r"\(got \[9\] for record 9\)")
    seg = NPS().by(lambda r: [r])
    with pytest.raises(CareKitError, match=msg):
        seg.add(9)
    with pytest.raises(CareKitError, match=msg):
        seg.extend([9])
    assert len(seg) == 0


def test_looking_up_a_missing_or_unhashable_segment() -> None:
    seg = NPS().by(lambda r: r % 2).extend([9, 10])
    with pytest.raises(CareKitError, match=r"no segment \[1\] in this Segmented accumulator"):
        seg[[1]]
    with pytest.raises(KeyError, match="no segment 7"):
        seg[7]
    assert [1] not in seg and 7 not in seg and seg.get(7) is None
    assert str(seg[1].result().n) == "1"


# --- 6. PromiseKept.from_journeys ---------------------------------------------------------

@pytest.mark.parametrize("bad", [None, [("o1", NOW)], "o1"])
def test_promise_kept_from_journeys_needs_a_mapping(bad: Any) -> None:
    msg = re.escape("promises must be a mapping of journey id to promise, such as a dict "
                    f"(got {bad!r})")
    with pytest.raises(CareKitError, match=msg):
        PromiseKept.from_journeys(MemoryJourneyStore(), bad, now=NOW)
    assert PromiseKept.from_journeys(MemoryJourneyStore(), {}, now=NOW).n == 0


# --- found while fixing the above: values that broke comparisons or float() ----------------

@pytest.mark.parametrize("make", [NPS, CSAT, CES], ids=["nps", "csat", "ces"])
def test_a_fraction_too_large_for_a_float_is_not_a_score(make: Callable[[], Any]) -> None:
    huge = Fraction(10**400, 3)
    msg = r"scores must be whole numbers on the \d+\.\.\d+ scale \(got Fraction\(1000"
    with pytest.raises(CareKitError, match=msg):
        make().add(huge)
    with pytest.raises(CareKitError, match=r"\(got Fraction\(1000"):
        make().extend([1, huge])


@pytest.mark.parametrize("make", [FirstContactResolution, PromiseKept], ids=["fcr", "pk"])
def test_a_signalling_decimal_nan_is_not_a_flag(make: Callable[[], Any]) -> None:
    with pytest.raises(CareKitError, match=r"must be True or False \(got Decimal\('sNaN'\)\)"):
        make().extend([True, Decimal("sNaN")])


def test_nps_scale_must_be_a_number() -> None:
    acc = NPS().extend([9, 10, 0])
    for bad in (Decimal("sNaN"), "100", math.nan):
        msg = rf"scale must be 1 .* \(got {re.escape(repr(bad))}\)"
        with pytest.raises(CareKitError, match=msg):
            acc.result(scale=bad)  # type: ignore[arg-type]
    assert acc.result(scale=Fraction(1)).value == pytest.approx(1 / 3)  # type: ignore[arg-type]
