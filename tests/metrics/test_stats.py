"""Distribution functions and interval formulas against independent references."""

from __future__ import annotations

import math

import mpmath
import pytest

from carekit import CareKitError
from carekit.metrics import _stats


# Student t critical values, two-sided 95 % and 99 %, from the NIST/SEMATECH
# e-Handbook of Statistical Methods, table 1.3.6.7.2 (upper critical values of t).
@pytest.mark.parametrize(
    ("df", "t975", "t995"),
    [
        (1, 12.706, 63.657),
        (2, 4.303, 9.925),
        (3, 3.182, 5.841),
        (5, 2.571, 4.032),
        (10, 2.228, 3.169),
        (30, 2.042, 2.750),
        (100, 1.984, 2.626),
    ],
)
def test_t_quantile_matches_published_table(df: int, t975: float, t995: float) -> None:
    assert _stats.t_quantile(0.975, df) == pytest.approx(t975, abs=6e-4)
    assert _stats.t_quantile(0.995, df) == pytest.approx(t995, abs=6e-4)


@pytest.mark.parametrize("df", [1, 2, 3, 4, 7, 15, 60, 500])
@pytest.mark.parametrize("p", [0.6, 0.9, 0.975, 0.999, 0.1])
def test_t_quantile_inverts_mpmath_cdf(df: int, p: float) -> None:
    # Independent reference: the t CDF through mpmath's regularized incomplete beta.
    t = _stats.t_quantile(p, df)
    x = mpmath.mpf(df) / (df + mpmath.mpf(t) ** 2)
    tail = mpmath.betainc(mpmath.mpf(df) / 2, 0.5, 0, x, regularized=True) / 2
    cdf = 1 - tail if t > 0 else tail
    assert float(cdf) == pytest.approx(p, abs=1e-11)


@pytest.mark.parametrize(("a", "b", "x"), [(0.5, 0.5, 0.3), (2.5, 0.5, 0.9), (30, 4, 0.8),
                                            (1, 1, 0.42), (200, 0.5, 0.999)])
def test_betainc_matches_mpmath(a: float, b: float, x: float) -> None:
    expected = float(mpmath.betainc(a, b, 0, x, regularized=True))
    assert _stats.betainc(a, b, x) == pytest.approx(expected, rel=1e-12)


def test_t_quantile_refuses_p_outside_0_1() -> None:
    with pytest.raises(CareKitError, match=r"p must lie in \(0, 1\) \(got 1.0\)"):
        _stats.t_quantile(1.0, 5)


def test_z_for_refuses_a_confidence_whose_quantile_level_rounds_to_1() -> None:
    # 0.5 + c / 2 rounds to 1.0 for c = 1 - 2**-53: statistics.NormalDist would raise
    # StatisticsError; the helper raises CareKitError naming the confidence instead.
    with pytest.raises(CareKitError, match=r"confidence must lie in \(0, 1\).*0\.9999999999999999"):
        _stats.z_for(1 - 2**-53)
    assert _stats.z_for(1 - 2**-52) > 8.0


@pytest.mark.parametrize("df", [1, 2, 3, 5, 30, 1000, 100_000])
def test_t_quantile_at_the_highest_level_a_confidence_allows(df: int) -> None:
    # The largest accepted confidence, 1 - 2**-52, asks for p = 1 - 2**-53: still finite.
    t = _stats.t_quantile(0.5 + (1 - 2**-52) / 2, df)
    assert math.isfinite(t) and t > 8.0


# Wilson score intervals from Newcombe, R. G. (1998), "Two-sided confidence intervals for
# the single proportion: comparison of seven methods", Statistics in Medicine 17: 857-872,
# Table II, method 3 (score method without continuity correction), 95 % level.
@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        (29, 29, 0.8830, 1.0),
    ],
)
def test_wilson_matches_newcombe_1998(k: int, n: int, low: float, high: float) -> None:
    lo, hi = _stats.wilson(k, n, 0.95)
    assert lo == pytest.approx(low, abs=6e-5)
    assert hi == pytest.approx(high, abs=6e-5)


# Hybrid score interval for a difference of proportions from Newcombe, R. G. (1998),
# "Interval estimation for the difference between independent proportions: comparison of
# eleven methods", Statistics in Medicine 17: 873-890, Table II, method 10, examples (a)-(h).
# Every value was also checked by evaluating the paper's method-10 formula (Wilson limits
# combined as p1 - p2 -/+ sqrt(...)) independently with 40-digit decimal arithmetic.
@pytest.mark.parametrize(
    ("s1", "n1", "s2", "n2", "low", "high"),
    [
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (0, 10, 0, 10, -0.2775, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0),
        (10, 10, 0, 10, 0.6075, 1.0),
    ],
)
def test_newcombe_difference_matches_published(
    s1: int, n1: int, s2: int, n2: int, low: float, high: float
) -> None:
    lo, hi = _stats.newcombe_difference(s1, n1, s2, n2, 0.95)
    assert lo == pytest.approx(low, abs=6e-5)
    assert hi == pytest.approx(high, abs=6e-5)


def test_z_for_95_percent() -> None:
    assert _stats.z_for(0.95) == pytest.approx(1.959963984540054, rel=1e-12)


def test_t_with_astronomical_degrees_of_freedom_is_the_normal() -> None:
    # Huge merged samples reach df where the series would overflow; t is then the normal
    # distribution (the first correction is of order 1/df).
    from statistics import NormalDist

    from carekit.metrics import _stats

    for df in (1e13, 1e160, 1e300):
        assert _stats.t_quantile(0.975, df) == pytest.approx(NormalDist().inv_cdf(0.975))
        assert _stats.t_cdf(-3.0, df) == pytest.approx(NormalDist().cdf(-3.0), rel=1e-12)



@pytest.mark.parametrize("df", [999.0, 1e3, 1e4, 1e5, 1e7, 1e9, 1e11])
@pytest.mark.parametrize("p", [0.975, 0.995, 0.9995])
def test_t_quantile_stays_exact_for_large_degrees_of_freedom(p: float, df: float) -> None:
    # Against the quantile of the exact CDF (regularized incomplete beta) in 50 digits.
    mpmath.mp.dps = 50
    nu = mpmath.mpf(df)

    def cdf(t: object) -> object:
        x = nu / (nu + t * t)  # type: ignore[operator]
        return 1 - mpmath.betainc(nu / 2, mpmath.mpf(1) / 2, 0, x, regularized=True) / 2

    exact = mpmath.findroot(lambda t: cdf(t) - mpmath.mpf(p), 2)
    assert _stats.t_quantile(p, df) == pytest.approx(float(exact), rel=1e-12)
