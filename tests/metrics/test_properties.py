"""Merge is associative and commutative; any split merged back equals one pass; pickling."""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Callable
from functools import reduce
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.strategies_metrics import (
    ces_scores,
    csat_scores,
    customer_ids,
    flags,
    nps_scores,
    splits,
    waits,
)

from carekit import CareKitError
from carekit.metrics import (
    CES,
    CSAT,
    NPS,
    Accumulator,
    FirstContactResolution,
    RepeatCustomers,
    ResponseTime,
    ServiceLevel,
)

CASES: list[tuple[Callable[[], Accumulator], st.SearchStrategy[list[Any]]]] = [
    (NPS, nps_scores),
    (CSAT, csat_scores),
    (CES, ces_scores),
    (FirstContactResolution, flags),
    (lambda: ServiceLevel(dt.timedelta(seconds=20)), waits),
    (lambda: ResponseTime(target=dt.timedelta(minutes=5)), waits),
    (RepeatCustomers, customer_ids),
]
IDS = ["nps", "csat", "ces", "fcr", "service_level", "response_time", "repeat"]

quick = settings(max_examples=40, deadline=None)


@pytest.mark.parametrize(("make", "values"), CASES, ids=IDS)
def test_merge_is_associative_and_commutative(make: Any, values: Any) -> None:
    @quick
    @given(values, values, values)
    def check(x: list[Any], y: list[Any], z: list[Any]) -> None:
        a, b, c = make().extend(x), make().extend(y), make().extend(z)
        assert a.merge(b) == b.merge(a)
        assert a.merge(b).merge(c) == a.merge(b.merge(c))
        assert a.merge(b).result() == b.merge(a).result()

    check()


@pytest.mark.parametrize(("make", "values"), CASES, ids=IDS)
def test_any_split_merged_equals_one_pass(make: Any, values: Any) -> None:
    @quick
    @given(st.data())
    def check(data: st.DataObject) -> None:
        xs = data.draw(values)
        parts = data.draw(splits(xs))
        one = make().extend(xs)
        merged = reduce(lambda acc, part: acc.merge(make().extend(part)), parts, make())
        assert merged == one
        assert merged.result() == one.result()
        # add one by one equals extend
        single = make()
        for x in xs:
            single.add(x)
        assert single == one

    check()


@pytest.mark.parametrize(("make", "values"), CASES, ids=IDS)
def test_accumulators_pickle(make: Any, values: Any) -> None:
    @settings(max_examples=10, deadline=None)
    @given(values)
    def check(xs: list[Any]) -> None:
        acc = make().extend(xs)
        back = pickle.loads(pickle.dumps(acc))
        assert back == acc and back.result() == acc.result()
        assert back.merge(acc).n == 2 * acc.n or isinstance(acc, RepeatCustomers)

    check()


def test_merge_returns_a_new_accumulator_and_leaves_inputs_alone() -> None:
    a, b = NPS().extend([10, 9]), NPS().extend([0])
    merged = a.merge(b)
    assert merged is not a and merged is not b
    assert (a.n, b.n, merged.n) == (2, 1, 3)


def test_merge_refuses_other_kinds() -> None:
    with pytest.raises(CareKitError, match="must be a NPS"):
        NPS().merge(CSAT())  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="different settings"):
        ServiceLevel(20).merge(ServiceLevel(30))


def test_copy_is_independent() -> None:
    a = NPS().extend([10])
    b = a.copy()
    b.add(0)
    assert (a.n, b.n) == (1, 2)
    assert "NPS n=1" in repr(a)


@quick
@given(ces_scores, ces_scores, st.sampled_from([0.5, 0.8, 0.95, 0.999]))
def test_ces_comparisons_are_sound_or_refused_clearly(a: list[int], b: list[int],
                                                     confidence: float) -> None:
    # Welch's comparison never crashes: too few answers is a CareKitError; otherwise the
    # interval holds the difference, stays within the scale's widest gap, and a / b mirror.
    from carekit.metrics import compare

    left, right = CES().extend(a), CES().extend(b)
    if len(a) < 2 or len(b) < 2:
        with pytest.raises(CareKitError):
            compare(left, right, confidence)
        return
    c = compare(left, right, confidence)
    assert -6.0 <= c.low <= c.difference <= c.high <= 6.0
    assert 0.0 <= c.p_value <= 1.0
    mirror = compare(right, left, confidence)
    assert mirror.difference == pytest.approx(-c.difference)
    assert mirror.p_value == pytest.approx(c.p_value)
