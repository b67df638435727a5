"""compare(): two NPS, two proportions or two CES means."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carekit import CareKitError
from carekit.metrics import (
    CES,
    CSAT,
    NPS,
    FirstContactResolution,
    ServiceLevel,
    compare,
)

Z95 = 1.959963984540054


def test_nps_wald_matches_rocks_two_sample_test() -> None:
    # Rocks' R package NPS, nps_test(x, y, test = "wald"): delta = nps(x) - nps(y),
    # se = sqrt(var_x / n_x + var_y / n_y), p = 2 (1 - pnorm(|delta| / se)).
    x, y = [0, 7, 7, 9, 9, 9, 10, 10], [0, 1, 7, 9, 6, 10]
    a, b = NPS().extend(x), NPS().extend(y)
    c = compare(a, b, method="wald")
    na, nb = a.result(scale=1).value, b.result(scale=1).value
    assert na is not None and nb is not None
    delta = na - nb
    se = math.sqrt(a.variance / a.n + b.variance / b.n)  # type: ignore[operator]
    assert c.difference == pytest.approx(100 * delta)
    assert c.low == pytest.approx(100 * (delta - Z95 * se))
    assert c.high == pytest.approx(100 * (delta + Z95 * se))
    assert c.p_value == pytest.approx(2 * (1 - NormalDist().cdf(abs(delta) / se)))
    assert c.n == (8, 6) and c.method == "wald"


def test_nps_adjusted_comparison_detects_a_real_change() -> None:
    this = NPS().extend([10] * 60 + [8] * 25 + [3] * 15)
    last = NPS().extend([10] * 45 + [8] * 30 + [3] * 25)
    c = compare(this, last)
    assert c.difference == pytest.approx(25.0)
    assert c.low > 0 and c.significant and c.method == "adjusted_wald"
    same = compare(this, this.copy())
    assert same.difference == 0 and same.p_value == 1.0 and not same.significant
    assert "p = " in str(c)


def test_one_sided_tiny_samples_are_not_certain() -> None:
    c = compare(NPS().extend([10, 10]), NPS().extend([0, 0]))
    assert c.difference == 200.0
    assert c.low < 100 and c.p_value > 1e-6  # adjusted: two answers each prove little
    wald = compare(NPS().extend([10, 10]), NPS().extend([0, 0]), method="wald")
    assert wald.p_value == 0.0  # plain Wald has no doubt: the reason it is not the default


def test_adjusted_nps_test_and_interval_agree() -> None:
    # Two promoters against two detractors, worked by hand with Rocks' (2016) pseudo-counts:
    # each side becomes P = 2.75, D = 0.75 of n = 5 (or the reverse): NPS +-0.4, variance
    # 0.7 - 0.16 = 0.54; centre 0.8, SE = sqrt(2 * 0.54 / 5), z = 0.8 / SE = 1.7213.
    c = compare(NPS().extend([9, 10]), NPS().extend([0, 1]))
    se = math.sqrt(2 * 0.54 / 5)
    assert c.difference == 200.0  # the observed difference
    assert (c.low, c.high) == (pytest.approx(100 * (0.8 - Z95 * se)),
                               pytest.approx(100 * (0.8 + Z95 * se)))
    assert c.p_value == pytest.approx(2 * NormalDist().cdf(-0.8 / se))  # 0.0852
    assert c.low < 0 and not c.significant  # the interval holds 0: not significant


def test_equal_scores_are_not_a_significant_change() -> None:
    # One promoter against a thousand: both NPS 100. The pseudo-counts pull the single
    # answer's adjusted score to 25, so the adjusted interval leaves out 0, but the observed
    # difference is 0: the intersection-union test keeps p = 1 (Berger 1982).
    c = compare(NPS().extend([10]), NPS().extend([10] * 1000))
    assert c.difference == 0.0 and c.high < 0
    assert c.p_value == 1.0 and not c.significant
    assert not compare(NPS().extend([10] * 3), NPS().extend([10] * 1000), 0.9).significant


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 10), min_size=1, max_size=40),
       st.lists(st.integers(0, 10), min_size=1, max_size=40),
       st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_a_significant_nps_change_has_an_interval_without_zero(
    x: list[int], y: list[int], confidence: float
) -> None:
    a, b = NPS().extend(x), NPS().extend(y)
    c = compare(a, b, confidence)
    if c.significant and min(abs(c.low), abs(c.high)) > 1e-9:  # not on the boundary itself
        assert c.low > 0 or c.high < 0
    if c.significant:  # and the observed difference stands out too
        assert c.difference != 0


def test_nps_difference_below_minus_100_keeps_its_interval() -> None:
    # Rocks (2016), plain Wald: a = 30 detractors and 10 promoters (NPS -0.5, variance
    # p + d - (p - d)^2 = 1 - 0.25 = 0.75), b = 40 promoters (NPS 1, variance 0):
    # difference -1.5, SE = sqrt(0.75 / 40); the interval is not clipped at -100.
    c = compare(NPS().extend([0] * 30 + [10] * 10), NPS().extend([10] * 40), method="wald")
    half = Z95 * math.sqrt(0.75 / 40)
    assert c.difference == -150.0
    assert c.low == pytest.approx(100 * (-1.5 - half))  # -176.84
    assert c.high == pytest.approx(100 * (-1.5 + half))


def test_proportions_use_newcombe_interval_and_pooled_z() -> None:
    # Newcombe (1998), Statistics in Medicine 17: 873-890, Table II, example (a):
    # 56/70 vs 48/80, method 10 interval 0.0524 to 0.3339.
    a = FirstContactResolution().add_counts(56, 70)
    b = FirstContactResolution().add_counts(48, 80)
    c = compare(a, b)
    assert c.difference == pytest.approx(0.2)
    assert (c.low, c.high) == (pytest.approx(0.0524, abs=6e-5), pytest.approx(0.3339, abs=6e-5))
    pooled = 104 / 150
    z = 0.2 / math.sqrt(pooled * (1 - pooled) * (1 / 70 + 1 / 80))
    assert c.p_value == pytest.approx(2 * NormalDist().cdf(-z))
    assert c.method == "newcombe_wilson"
    csat = compare(CSAT().extend([5, 5, 1]), CSAT().extend([5, 1, 1]))
    assert csat.difference == pytest.approx(1 / 3)
    both_full = compare(ServiceLevel(20).extend([1, 2]), ServiceLevel(20).extend([3]))
    assert both_full.p_value == 1.0


def test_compare_errors() -> None:
    with pytest.raises(CareKitError, match="same kind"):
        compare(NPS().add(1), CSAT().add(1))
    with pytest.raises(CareKitError, match="hold data"):
        compare(NPS(), NPS().add(1))
    class Tally:
        n = 3

    with pytest.raises(CareKitError, match="NPS, CES and proportions"):
        compare(Tally(), Tally())
    with pytest.raises(CareKitError, match="at least two answers on each side"):
        compare(CES().add(1), CES().extend([2, 3]))
    with pytest.raises(CareKitError, match=r"same CES scale \(got 1\.\.7 and 1\.\.5\)"):
        compare(CES().extend([1, 2]), CES(5).extend([2, 3]))
    with pytest.raises(CareKitError, match="method"):
        compare(NPS().add(1), NPS().add(2), method="bayes")  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="confidence"):
        compare(NPS().add(1), NPS().add(2), confidence=95)


def test_printed_values_share_one_precision() -> None:
    from carekit.metrics import Comparison, Estimate

    c = Comparison(difference=16.0, low=-6.656, high=37.7, p_value=0.17)
    assert str(c) == "+16.0 (95% CI -6.7 to +37.7, p = 0.17)"
    small = Comparison(difference=0.05, low=-0.01234, high=0.1123, p_value=0.2)
    assert str(small) == "+0.05 (95% CI -0.01234 to +0.1123, p = 0.2)"
    e = Estimate(value=5.234, low=-4.123, high=14.6, n=40)
    assert str(e) == "5.2 (95% CI -4.1 to 14.6, n = 40)"
    assert str(Estimate(value=0.8571, low=0.4869, high=0.9743, n=7)) == (
        "0.8571 (95% CI 0.4869 to 0.9743, n = 7)")


def _welch_reference(a: list[int], b: list[int], confidence: float) -> tuple[float, ...]:
    """Welch (1947) from the raw answers, in 50-digit arithmetic: the t distribution's CDF
    is the regularized incomplete beta function, and its quantile is found by root search."""
    import mpmath as mp

    mp.mp.dps = 50

    def mean_var(xs: list[int]) -> tuple[Any, Any, int]:
        n = len(xs)
        m = mp.mpf(sum(xs)) / n
        return m, sum((x - m) ** 2 for x in xs) / (n - 1), n

    ma, va, na = mean_var(a)
    mb, vb, nb = mean_var(b)
    wa, wb = va / na, vb / nb
    se = mp.sqrt(wa + wb)
    df = (wa + wb) ** 2 / (wa**2 / (na - 1) + wb**2 / (nb - 1))

    def cdf(t: Any) -> Any:
        tail = mp.betainc(df / 2, mp.mpf(1) / 2, 0, df / (df + t * t), regularized=True) / 2
        return 1 - tail if t > 0 else tail

    q = mp.findroot(lambda t: cdf(t) - (mp.mpf(1) + confidence) / 2, 2)
    diff = ma - mb
    p = 2 * (1 - cdf(abs(diff) / se))
    return tuple(float(x) for x in (diff, diff - q * se, diff + q * se, p))


@pytest.mark.parametrize(
    ("a", "b", "confidence"),
    [
        ([6, 7, 5, 6, 7, 4, 6], [4, 5, 3, 5, 6, 4, 2, 5, 3], 0.95),
        ([2, 3, 2, 2, 3, 4, 1, 2] * 5, [3, 3, 4, 2, 5, 3, 4, 4, 3] * 3, 0.9),
        ([7, 7, 6], [1, 7, 1, 7, 4], 0.99),
    ],
)
def test_ces_means_use_welchs_t_against_a_50_digit_reference(
    a: list[int], b: list[int], confidence: float
) -> None:
    c = compare(CES().extend(a), CES().extend(b), confidence)
    diff, low, high, p = _welch_reference(a, b, confidence)
    ref = (diff, max(-6.0, low), min(6.0, high), p)  # clipped to the widest gap, 7 - 1
    assert c.method == "welch_t" and c.n == (len(a), len(b))
    assert (c.difference, c.low, c.high, c.p_value) == pytest.approx(ref, rel=1e-9, abs=1e-12)
    flipped = compare(CES().extend(b), CES().extend(a), confidence)
    assert (flipped.difference, flipped.low, flipped.high) == pytest.approx(
        (-c.difference, -c.high, -c.low)
    )


def test_identical_constant_ces_answers_leave_no_doubt() -> None:
    same = compare(CES().extend([5, 5]), CES().extend([5, 5, 5]))
    assert (same.difference, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    apart = compare(CES().extend([6, 6]), CES().extend([2, 2]))
    assert (apart.difference, apart.low, apart.high, apart.p_value) == (4.0, 4.0, 4.0, 0.0)


def test_ces_p_values_keep_their_precision_far_in_the_tail() -> None:
    # 2 * (1 - cdf) would round a p-value below about 1e-16 to 0; the lower tail keeps it.
    a = [2, 1, 2, 3, 1, 1, 1, 1, 4, 2, 2, 1, 1, 3, 3, 2, 3, 3, 2, 2, 2, 3, 4]
    b = [6, 7, 7, 6, 6, 7, 3, 7, 6, 7, 7, 7, 7, 7, 6, 7, 4, 7, 1, 4, 7, 6, 4, 7, 5, 7, 7, 3, 7,
         5, 3, 5, 6, 7, 7, 7, 7, 1, 7]
    c = compare(CES().extend(a), CES().extend(b))
    *_, p = _welch_reference(a, b, 0.95)
    assert p < 1e-15 and c.p_value == pytest.approx(p, rel=1e-6)


def test_ces_comparison_of_enormous_merged_samples_stays_finite() -> None:
    # Repeated merges can reach counts where the squared variance shares underflow.
    big = CES().extend([1, 7])
    big._counts = [c * 10**160 for c in big._counts]
    other = CES().extend([2, 6])
    other._counts = [c * 10**160 for c in other._counts]
    c = compare(big, other)
    assert c.difference == 0.0 and 0.0 <= c.p_value <= 1.0 and c.low <= 0.0 <= c.high
