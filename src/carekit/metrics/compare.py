"""Is the change real? :func:`compare` tests two NPS, two proportions or two CES means."""

from __future__ import annotations

import math
from typing import Any, Literal

from carekit.errors import CareKitError
from carekit.metrics import _stats
from carekit.metrics._base import check_confidence
from carekit.metrics.estimate import Comparison
from carekit.metrics.scores import CES, NPS, adjusted_counts

__all__ = ["compare"]


def _nps_parts(acc: NPS, adjusted: bool) -> tuple[float, float, float]:
    """(NPS on -1..1, variance of one response, n), optionally with Rocks' pseudo-counts."""
    if adjusted:
        pr, de, n = adjusted_counts(acc.promoters, acc.detractors, acc.n)
    else:
        pr, de, n = float(acc.promoters), float(acc.detractors), float(acc.n)
    p, d = pr / n, de / n
    return (p - d, max(0.0, p + d - (p - d) ** 2), n)


def _compare_nps(a: NPS, b: NPS, confidence: float, method: str) -> Comparison:
    if method not in ("adjusted_wald", "wald"):
        msg = f"method must be 'adjusted_wald' or 'wald' for NPS (got {method!r})"
        raise CareKitError(msg)
    raw = (a.promoters - a.detractors) / a.n - (b.promoters - b.detractors) / b.n
    adjusted = method == "adjusted_wald"
    na, va, ca = _nps_parts(a, adjusted)
    nb, vb, cb = _nps_parts(b, adjusted)
    se = math.sqrt(va / ca + vb / cb)
    centre = na - nb if adjusted else raw
    half = _stats.z_for(confidence) * se
    # A zero standard error (plain Wald on one-sided samples) leaves no doubt either way.
    if se == 0:
        p_value = float(raw == 0)
    else:
        # Adjusted: both the observed difference and the interval's (adjusted) centre must
        # stand out from 0, an intersection-union test (Berger 1982), so a significant
        # change always has an interval that leaves out 0, and two equal scores never
        # differ significantly however unequal the samples. Wald: centre == raw.
        p_value = max(_stats.normal_two_sided_p(raw / se),
                      _stats.normal_two_sided_p(centre / se))
    return Comparison(
        100.0 * raw,
        100.0 * max(-2.0, centre - half),
        100.0 * min(2.0, centre + half),
        p_value,
        confidence=confidence,
        method=method,
        n=(a.n, b.n),
    )


def _compare_proportions(
    a: tuple[int, int], b: tuple[int, int], confidence: float
) -> Comparison:
    (s1, n1), (s2, n2) = a, b
    diff = s1 / n1 - s2 / n2
    low, high = _stats.newcombe_difference(s1, n1, s2, n2, confidence)
    pooled = (s1 + s2) / (n1 + n2)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    p_value = 1.0 if se == 0 else _stats.normal_two_sided_p(diff / se)
    return Comparison(diff, low, high, p_value, confidence=confidence,
                      method="newcombe_wilson", n=(n1, n2))


def _compare_means(a: CES, b: CES, confidence: float) -> Comparison:
    """Welch's unequal-variances t test and interval for the difference of two CES means."""
    if a.scale != b.scale:
        msg = f"a and b must use the same CES scale (got 1..{a.scale} and 1..{b.scale})"
        raise CareKitError(msg)
    na, ma, va = a.moments()
    nb, mb, vb = b.moments()
    if na < 2 or nb < 2:
        msg = (
            "comparing CES means needs at least two answers on each side, to know their "
            f"spread (got n = {na} and {nb})"
        )
        raise CareKitError(msg)
    diff = ma - mb
    wa, wb = va / na, vb / nb
    se = math.sqrt(wa + wb)
    widest = float(a.scale - 1)
    if se == 0.0:  # every answer the same on both sides: no doubt either way
        return Comparison(diff, diff, diff, float(diff == 0), confidence=confidence,
                          method="welch_t", n=(na, nb))
    # Welch-Satterthwaite, on the two shares scaled by the larger (no underflow when huge
    # samples make both tiny).
    top = max(wa, wb)
    ra, rb = wa / top, wb / top
    df = (ra + rb) ** 2 / (ra * ra / (na - 1) + rb * rb / (nb - 1))
    half = _stats.t_quantile(0.5 + confidence / 2.0, df) * se
    p_value = 2.0 * _stats.t_cdf(-abs(diff) / se, df)  # the lower tail: no cancellation
    return Comparison(diff, max(-widest, diff - half), min(widest, diff + half),
                      min(1.0, p_value), confidence=confidence, method="welch_t", n=(na, nb))


def compare(
    a: Any,
    b: Any,
    confidence: float = 0.95,
    *,
    method: Literal["adjusted_wald", "wald"] = "adjusted_wald",
) -> Comparison:
    """Test whether two NPS, two proportions or two CES means differ: ``a`` minus ``b``.

    NPS: the difference is in NPS points (-200..200). The interval is a Wald interval for
    the difference of two independent NPS, sum of the two variances (Rocks 2016); with the
    default ``method="adjusted_wald"`` each sample first gets Rocks' 3 pseudo-observations,
    which keeps the interval honest for small or one-sided samples. With ``"wald"`` the
    p-value is the two-sided z test of the observed difference against the standard error
    (Rocks' ``nps_test``). With ``"adjusted_wald"`` it is the larger of the z tests of the
    observed and of the adjusted difference, against the adjusted standard error (an
    intersection-union test, Berger 1982): a significant change then always has an interval
    that leaves out 0, and two equal scores are never significantly different.

    Proportions (CSAT, FCR, service level, SLA attainment, promises kept, touchpoint
    coverage, repeat customers, or any accumulator with ``proportion_counts()``): the
    difference is on 0..1; the interval is Newcombe's (1998) hybrid score interval built
    from the two Wilson intervals; the p-value is the pooled two-proportion z test.

    CES: the difference of the mean scores, with Welch's unequal-variances t interval and
    two-sided t test (Welch 1947; degrees of freedom by the Welch-Satterthwaite formula).
    Each side needs at least two answers, on the same scale.

    Args:
        a: The first accumulator (e.g. this month).
        b: The second accumulator of the same kind (e.g. last month).
        confidence: Confidence level of the interval.
        method: NPS only: ``"adjusted_wald"`` (default) or ``"wald"``.

    Returns:
        A :class:`Comparison`.

    Raises:
        CareKitError: the accumulators are of different kinds, cannot be compared, or one
            of them is empty.

    Examples:
        >>> from carekit.metrics import NPS, compare
        >>> this = NPS().extend([10] * 60 + [8] * 25 + [3] * 15)
        >>> last = NPS().extend([10] * 45 + [8] * 30 + [3] * 25)
        >>> c = compare(this, last)
        >>> round(c.difference, 1), c.significant
        (25.0, True)
    """
    confidence = check_confidence(confidence)
    if type(a) is not type(b):
        msg = (f"a and b must be the same kind of metric "
               f"(got {type(a).__name__} and {type(b).__name__})")
        raise CareKitError(msg)
    if not hasattr(a, "n") or a.n == 0 or b.n == 0:
        sizes = (getattr(a, "n", None), getattr(b, "n", None))
        msg = f"a and b must both hold data to compare (got n = {sizes[0]!r} and {sizes[1]!r})"
        raise CareKitError(msg)
    if isinstance(a, NPS):
        return _compare_nps(a, b, confidence, method)
    if isinstance(a, CES):
        return _compare_means(a, b, confidence)
    if callable(getattr(a, "proportion_counts", None)):
        return _compare_proportions(a.proportion_counts(), b.proportion_counts(), confidence)
    msg = (f"compare works on NPS, CES and proportions (CSAT, FCR, service level, ...); "
           f"got {type(a).__name__}")
    raise CareKitError(msg)
