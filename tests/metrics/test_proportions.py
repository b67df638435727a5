"""First-contact resolution, service level and repeat customers."""

from __future__ import annotations

import datetime as dt

import pytest

from carekit import CareKitError
from carekit.metrics import (
    FirstContactResolution,
    PromiseKept,
    Proportion,
    RepeatCustomers,
    ServiceLevel,
    TouchpointCoverage,
)


# Worked example from customerfacing.io's glossary, "What Is First Contact Resolution
# Rate?": 13 tickets in December, 8 resolved on the first contact -> FCR 61.54 %.
def test_fcr_matches_vendor_worked_example() -> None:
    fcr = FirstContactResolution().extend([True] * 8 + [False] * 5)
    e = fcr.result()
    assert round(100 * e.value, 2) == 61.54
    assert e.n == 13 and e.method == "wilson"
    assert FirstContactResolution().add_counts(8, 13).result() == e


def test_flags_accept_bool_and_0_1_and_refuse_anything_else() -> None:
    assert FirstContactResolution().extend([1, 0, True]).successes == 2
    with pytest.raises(CareKitError, match=r"resolved must be True or False \(got 'yes'\)"):
        FirstContactResolution().add("yes")
    with pytest.raises(CareKitError, match=r"\(got 2\)"):
        FirstContactResolution().extend([True, 2])
    with pytest.raises(CareKitError, match="successes must be <= n"):
        Proportion().add_counts(5, 3)
    with pytest.raises(CareKitError, match="successes must be <= n"):
        Proportion().add_counts(4, 3)  # one too many
    assert Proportion().add_counts(3, 3).result().value == 1.0


def test_wilson_interval_starts_at_zero_with_no_successes() -> None:
    # Wilson (1927): at p = 0 the centre z^2/(2n) / (1 + z^2/n) equals the half-width, so
    # the lower bound is exactly 0 (not a rounding error above the estimate).
    for confidence in (0.8, 0.95, 0.99):
        e = Proportion().add_counts(0, 7).result(confidence)
        assert e.value == 0.0 and e.low == 0.0
        assert e.high is not None and e.high > 0


def test_empty_and_all_yes_proportions() -> None:
    assert FirstContactResolution().result().value is None
    e = FirstContactResolution().extend([True] * 3).result()
    assert e.value == 1.0 and e.high == 1.0
    assert e.low is not None and 0.3 < e.low < 0.5  # Wilson stays honest at 100 %


def test_service_level_threshold_is_inclusive() -> None:
    sl = ServiceLevel(dt.timedelta(seconds=20)).extend([20, 20.000001, dt.timedelta(seconds=3)])
    assert sl.proportion_counts() == (2, 3)
    assert sl.answer_within == dt.timedelta(seconds=20)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [("missed", (2, 6)), ("excluded", (2, 4)), ("short_excluded", (2, 5)),
     ("met_if_short", (3, 6))],
)
def test_service_level_abandoned_rules(rule: str, expected: tuple[int, int]) -> None:
    # answered: 5 s and 15 s in time, 25 s and 40 s late; abandoned at 8 s and at 60 s
    sl = ServiceLevel(20, abandoned=rule)  # type: ignore[arg-type]
    sl.extend([5, 15, 25, 40, (8, True), (60, True)])
    assert sl.proportion_counts() == expected
    assert sl.n == 6 and sl.abandoned == 2


@pytest.mark.parametrize(
    ("rule", "expected"),
    [("missed", (1, 5)), ("excluded", (1, 2)), ("short_excluded", (1, 3)),
     ("met_if_short", (3, 5))],
)
def test_service_level_rules_with_more_short_than_late_abandons(
    rule: str, expected: tuple[int, int]
) -> None:
    # answered at 5 s (in time) and 30 s (late); abandoned at 8 s and 10 s (within the
    # 20 s threshold) and at 50 s: the rules must tell short abandons from late ones.
    sl = ServiceLevel(20, abandoned=rule)  # type: ignore[arg-type]
    sl.extend([5, 30, (8, True), (10, True), (50, True)])
    assert sl.proportion_counts() == expected


def test_service_level_errors() -> None:
    with pytest.raises(CareKitError, match="answer_within"):
        ServiceLevel(0)
    with pytest.raises(CareKitError, match="abandoned must be one of"):
        ServiceLevel(20, abandoned="ignored")  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="wait"):
        ServiceLevel(20).add(-1)
    with pytest.raises(CareKitError, match="wait"):
        ServiceLevel(20).extend([1, "soon"])
    with pytest.raises(CareKitError, match="pair"):
        ServiceLevel(20).add((1, True, 3))


def test_repeat_customers() -> None:
    rc = RepeatCustomers().extend(["ann", "bob", "ann", "cy"]).add("bob")
    assert rc.proportion_counts() == (2, 3)
    assert rc.orders == 5 and rc.n == 3
    # partitions that share customers merge per customer
    a = RepeatCustomers().extend(["dee"])
    b = RepeatCustomers().extend(["dee"])
    assert a.merge(b).proportion_counts() == (1, 1)
    assert RepeatCustomers(min_orders=3).extend(["x", "x"]).result().value == 0.0
    with pytest.raises(CareKitError, match="customer_id"):
        RepeatCustomers().add(None)
    with pytest.raises(CareKitError, match="customer_id"):
        RepeatCustomers().extend(["a", None])
    with pytest.raises(CareKitError, match="customer_id"):
        RepeatCustomers().extend(iter([["unhashable"]]))


@pytest.mark.parametrize(
    "kind", [Proportion, FirstContactResolution, PromiseKept, TouchpointCoverage]
)
@pytest.mark.parametrize("count", [10**309, 10**400, 2**1024 - 2**970])
def test_counts_too_large_for_a_float_are_refused(kind: type[Proportion], count: int) -> None:
    # These used to be accepted, then result() raised OverflowError in the Wilson interval.
    with pytest.raises(CareKitError, match=r"n must keep the total count below 2\*\*1024 - "
                       r"2\*\*970 \(about 1.8e308\), the float limit \(got "):
        kind().add_counts(count, count)


def test_the_largest_total_count_still_gives_an_interval() -> None:
    most = 2**1024 - 2**970 - 1
    assert Proportion().add_counts(most, most).result().value == 1.0
    half = Proportion().add_counts(2**1022, 2**1023)
    with pytest.raises(CareKitError, match="on top of 8988465674311579538646525"):
        half.add_counts(0, 2**1023)  # the total, not each call, is bounded
    assert half.n == 2**1023


def test_a_merge_past_the_float_limit_is_refused() -> None:
    half = Proportion().add_counts(2**1022, 2**1023)
    with pytest.raises(CareKitError, match=r"the merged count would reach 2\*\*1024 - 2\*\*970"):
        half.merge(half)
    assert half.n == 2**1023  # both sides unchanged
    small = Proportion().add_counts(1, 2)
    assert half.merge(small).n == 2**1023 + 2
