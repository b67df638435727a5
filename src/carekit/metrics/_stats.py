"""Distribution functions and interval formulas used by the accumulators (private).

Only the standard library is used: the normal distribution comes from
:class:`statistics.NormalDist`; Student's t is computed from the regularized incomplete
beta function, evaluated by its continued fraction (Press et al., *Numerical Recipes*,
3rd ed., 2007, section 6.4, modified Lentz's method).
"""

from __future__ import annotations

import math
from statistics import NormalDist

from carekit.errors import CareKitError

__all__ = [
    "betainc",
    "newcombe_difference",
    "normal_two_sided_p",
    "t_cdf",
    "t_quantile",
    "wilson",
    "z_for",
]

_NORMAL = NormalDist()
_TINY = 1e-300
_EPS = 1e-15


def z_for(confidence: float) -> float:
    """The two-sided normal critical value for ``confidence`` (1.959964... for 0.95).

    Raises:
        CareKitError: ``0.5 + confidence / 2`` is not strictly between 0 and 1 (callers
            check ``confidence`` first with :func:`carekit.metrics._base.check_confidence`).
    """
    p = 0.5 + confidence / 2.0
    if not 0.0 < p < 1.0:
        msg = f"confidence must lie in (0, 1) and be at most 1 - 2**-52 (got {confidence!r})"
        raise CareKitError(msg)
    return _NORMAL.inv_cdf(p)


def normal_two_sided_p(z: float) -> float:
    """Two-sided p-value of a standard normal statistic ``z``."""
    return min(1.0, 2.0 * _NORMAL.cdf(-abs(z)))


def _betacf(a: float, b: float, x: float) -> float:
    # Continued fraction for I_x(a, b) (Numerical Recipes 3rd ed., eq. 6.4.5, Lentz's method).
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < _TINY:
        d = _TINY
    d = 1.0 / d
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + aa / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < _TINY:
            d = _TINY
        c = 1.0 + aa / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
        + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    # The continued fraction converges fast for x < (a + 1) / (a + b + 2); use symmetry otherwise.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


#: Beyond this many degrees of freedom Student's t is the normal distribution to within
#: about 1e-12 (the first correction is of order 1/df).
_NORMAL_DF = 1e12
#: From this many degrees of freedom the Cornish-Fisher series alone is exact to about
#: 1e-15 (its next term is of order df**-5), better than Newton steps on the incomplete
#: beta function, whose log-gamma terms lose digits as df grows (1e-12 at df = 1e4).
_SERIES_DF = 1e3


def t_cdf(t: float, df: float) -> float:
    """Student's t cumulative distribution function with ``df`` degrees of freedom."""
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    if df > _NORMAL_DF:
        return 0.5 * math.erfc(-t / math.sqrt(2.0))
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def _t_pdf(t: float, df: float) -> float:
    log_c = math.lgamma((df + 1.0) / 2.0) - math.lgamma(df / 2.0) - 0.5 * math.log(df * math.pi)
    return math.exp(log_c - (df + 1.0) / 2.0 * math.log1p(t * t / df))


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` > 0 degrees of freedom.

    Closed forms for df = 1 and 2; otherwise a Cornish-Fisher start (Abramowitz and Stegun,
    *Handbook of Mathematical Functions*, 1964, eq. 26.7.5) polished by safeguarded Newton
    steps on the exact CDF, so the result is accurate to about 1e-12; from df = 1,000 the
    four-term series alone, accurate to about 1e-15 there and beyond.

    Raises:
        CareKitError: ``p`` is not strictly between 0 and 1.
    """
    if not 0.0 < p < 1.0:
        msg = f"p must lie in (0, 1) (got {p!r})"
        raise CareKitError(msg)
    if p == 0.5:
        return 0.0
    if df == 1.0:
        return math.tan(math.pi * (p - 0.5))
    if df == 2.0:
        alpha = 4.0 * p * (1.0 - p)
        return (2.0 * p - 1.0) * math.sqrt(2.0 / alpha)
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    z = _NORMAL.inv_cdf(p)
    z2 = z * z
    g1 = (z2 + 1.0) * z / 4.0
    g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0
    g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0
    if df >= _SERIES_DF:
        g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0
        return z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df  # (no overflow at any df)
    x = z + g1 / df + g2 / df**2 + g3 / df**3
    # Bracket the root, then Newton with bisection fallback.
    lo, hi = 0.0, max(2.0 * x, 1.0)
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    x = min(max(x, lo), hi)
    for _ in range(100):
        f = t_cdf(x, df) - p
        if f > 0:
            hi = x
        else:
            lo = x
        pdf = _t_pdf(x, df)
        # A density that underflowed to 0 gives no Newton step: bisect instead.
        candidate = x - f / pdf if pdf > 0.0 else math.nan
        if not lo < candidate < hi:
            candidate = 0.5 * (lo + hi)
        if abs(candidate - x) <= 1e-14 * max(1.0, abs(x)):
            return candidate
        x = candidate
    return x


def wilson(successes: float, n: float, confidence: float) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Wilson, E. B. (1927), "Probable inference, the law of succession, and statistical
    inference", *JASA* 22(158): 209-212; Newcombe (1998), *Statistics in Medicine* 17:
    857-872, method 3.
    """
    if n <= 0:
        return (0.0, 1.0)
    z = z_for(confidence)
    p = successes / n
    z2n = z * z / n
    denom = 1.0 + z2n
    centre = (p + z2n / 2.0) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return (low, high)


def newcombe_difference(
    s1: float, n1: float, s2: float, n2: float, confidence: float
) -> tuple[float, float]:
    """Interval for p1 - p2 from two Wilson intervals (Newcombe 1998b, method 10).

    Newcombe, R. G. (1998), "Interval estimation for the difference between independent
    proportions: comparison of eleven methods", *Statistics in Medicine* 17: 873-890.
    """
    p1, p2 = s1 / n1, s2 / n2
    l1, u1 = wilson(s1, n1, confidence)
    l2, u2 = wilson(s2, n2, confidence)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return (max(-1.0, low), min(1.0, high))
