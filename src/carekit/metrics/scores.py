"""Survey-score accumulators: :class:`NPS`, :class:`CSAT` and :class:`CES`.

Each keeps one count per scale point, so merging is exact integer addition and a split of
the data, merged back, equals one pass bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Real
from typing import Any, Literal, TypeVar

from carekit import _validate
from carekit.errors import CareKitError
from carekit.metrics import _stats
from carekit.metrics._base import (
    Accumulator,
    check_confidence,
    check_score,
    count_scores,
    require_iterable,
)
from carekit.metrics.estimate import Estimate

__all__ = ["CES", "CSAT", "NPS"]

_S = TypeVar("_S", bound="_ScaleCounts")

NPSMethod = Literal["adjusted_wald", "wald"]


class _ScaleCounts(Accumulator):
    """Counts of each whole-number score on the ``lo..hi`` scale."""

    __slots__ = ("_counts", "_hi", "_lo")
    _name = "survey"

    def __init__(self, lo: int, hi: int) -> None:
        self._lo = lo
        self._hi = hi
        self._counts = [0] * (hi - lo + 1)

    def add(self: _S, value: Any) -> _S:
        """Add one score; a score outside the scale is a :class:`~carekit.CareKitError`."""
        self._counts[check_score(self._name, value, self._lo, self._hi) - self._lo] += 1
        return self

    def extend(self: _S, values: Iterable[Any]) -> _S:
        """Add many scores at C speed (``bytes``, ``array('b')``, lists, numpy ints...).

        Every score is validated; on a bad score nothing is added and the error names it.
        """
        require_iterable("values", values)
        counts = count_scores(self._name, values, self._lo, self._hi)
        self._counts = [a + b for a, b in zip(self._counts, counts, strict=True)]
        return self

    @property
    def n(self) -> int:
        """How many scores were added."""
        return sum(self._counts)

    @property
    def counts(self) -> dict[int, int]:
        """How many times each score was given, for every point on the scale."""
        return {self._lo + i: c for i, c in enumerate(self._counts)}

    @property
    def mean(self) -> float | None:
        """The average score (``None`` when empty)."""
        n = self.n
        if n == 0:
            return None
        return sum((self._lo + i) * c for i, c in enumerate(self._counts)) / n

    def _state(self) -> tuple[Any, ...]:
        return tuple(self._counts)

    def _absorb(self, other: Any) -> None:
        self._counts = [a + b for a, b in zip(self._counts, other._counts, strict=True)]


class NPS(_ScaleCounts):
    """Net Promoter Score: share of promoters (9-10) minus share of detractors (0-6).

    Scores are whole numbers 0..10. :meth:`result` reports the score on the usual -100..100
    scale (``scale=1`` gives -1..1) with an adjusted Wald interval by default, which keeps
    sensible width for tiny samples and all-promoter months, or the plain Wald interval.

    Formulas (Rocks, B. (2016), "Interval Estimation for the 'Net Promoter Score'",
    *The American Statistician* 70(4): 365-372): with shares ``p`` of promoters and ``d`` of
    detractors among ``n``, NPS = p - d, variance = p + d - (p - d)^2, standard error =
    sqrt(variance / n). Adjusted Wald adds 3 pseudo-observations (3/4 promoter, 3/2 passive,
    3/4 detractor) before using the same formulas.

    Examples:
        >>> from carekit.metrics import NPS
        >>> nps = NPS().extend([10, 9, 9, 8, 7, 3, 10, 6, 9, 10])
        >>> nps.score
        40.0
        >>> e = nps.result()
        >>> round(e.low, 1), round(e.high, 1)
        (-12.6, 74.1)
    """

    __slots__ = ()
    _name = "NPS"

    def __init__(self) -> None:
        super().__init__(0, 10)

    def empty_like(self) -> NPS:
        """A new, empty NPS accumulator."""
        return NPS()

    def _settings(self) -> tuple[Any, ...]:
        return ()

    @property
    def promoters(self) -> int:
        """Scores of 9 or 10."""
        return self._counts[9] + self._counts[10]

    @property
    def detractors(self) -> int:
        """Scores of 0 to 6."""
        return sum(self._counts[:7])

    @property
    def passives(self) -> int:
        """Scores of 7 or 8."""
        return self._counts[7] + self._counts[8]

    @property
    def score(self) -> float | None:
        """NPS on -100..100 (``None`` when empty)."""
        n = self.n
        return None if n == 0 else 100.0 * (self.promoters - self.detractors) / n

    @property
    def variance(self) -> float | None:
        """Variance of one response's value (+1, 0 or -1), p + d - (p - d)^2 (Rocks 2016)."""
        return _nps_variance(self.promoters, self.detractors, self.n)

    @property
    def standard_error(self) -> float | None:
        """Standard error of NPS on -1..1, sqrt(variance / n) (Rocks 2016)."""
        v = self.variance
        return None if v is None else math.sqrt(v / self.n)

    def result(
        self,
        confidence: float = 0.95,
        *,
        method: NPSMethod = "adjusted_wald",
        scale: Literal[1, 100] = 100,
    ) -> Estimate:
        """NPS with its confidence interval.

        Args:
            confidence: Confidence level of the interval, in (0, 1).
            method: ``"adjusted_wald"`` (default) or ``"wald"`` (Rocks 2016).
            scale: 100 for -100..100 (default), 1 for -1..1.

        Returns:
            An :class:`Estimate`; the point value is the observed NPS, the interval is
            clipped to the scale. ``n == 0`` gives no value.

        Raises:
            CareKitError: a confidence outside (0, 1), an unknown method or scale.
        """
        confidence = check_confidence(confidence)
        # Real first: Decimal("sNaN") would signal when compared.
        if not isinstance(scale, Real) or scale not in (1, 100):
            msg = f"scale must be 1 (for -1..1) or 100 (for -100..100) (got {scale!r})"
            raise CareKitError(msg)
        interval = nps_interval(self.promoters, self.detractors, self.n, confidence, method)
        n = self.n
        if interval is None:
            return Estimate(None, None, None, 0, confidence=confidence, method=method)
        value = (self.promoters - self.detractors) / n
        low, high = interval
        return Estimate(value * scale, low * scale, high * scale, n,
                        confidence=confidence, method=method)


def _nps_variance(promoters: float, detractors: float, n: float) -> float | None:
    if n <= 0:
        return None
    p, d = promoters / n, detractors / n
    return max(0.0, p + d - (p - d) ** 2)


#: Rocks (2016) adjusted Wald: 3 pseudo-observations split 1/4, 1/2, 1/4.
PSEUDO_PROMOTERS = 0.75
PSEUDO_PASSIVES = 1.5
PSEUDO_DETRACTORS = 0.75


def adjusted_counts(promoters: int, detractors: int, n: int) -> tuple[float, float, float]:
    """Promoters, detractors and n after Rocks' (2016) pseudo-observations."""
    pseudo = PSEUDO_PROMOTERS + PSEUDO_PASSIVES + PSEUDO_DETRACTORS
    return (promoters + PSEUDO_PROMOTERS, detractors + PSEUDO_DETRACTORS, n + pseudo)


def nps_interval(
    promoters: int, detractors: int, n: int, confidence: float, method: str
) -> tuple[float, float] | None:
    """The NPS interval on -1..1, or ``None`` when ``n == 0``."""
    if method not in ("adjusted_wald", "wald"):
        msg = f"method must be 'adjusted_wald' or 'wald' (got {method!r})"
        raise CareKitError(msg)
    if n == 0:
        return None
    if method == "adjusted_wald":
        pr, de, nn = adjusted_counts(promoters, detractors, n)
    else:
        pr, de, nn = float(promoters), float(detractors), float(n)
    centre = (pr - de) / nn
    var = _nps_variance(pr, de, nn)
    assert var is not None
    half = _stats.z_for(confidence) * math.sqrt(var / nn)
    return (max(-1.0, centre - half), min(1.0, centre + half))


class CSAT(_ScaleCounts):
    """Customer satisfaction: the share of top-box answers ("top-two-box" by default).

    Scores are whole numbers ``1..scale``. By default a score counts as satisfied when it is
    one of the top two points (4 or 5 on a 5-point scale), as in the usual CSAT definition;
    ``satisfied_from`` moves the threshold. :meth:`result` is the share on 0..1 with a
    Wilson score interval.

    Args:
        scale: The highest score (2..100); the lowest is 1.
        satisfied_from: Lowest score counted as satisfied (default ``scale - 1``).

    Examples:
        >>> from carekit.metrics import CSAT
        >>> csat = CSAT(scale=5).extend([5, 4, 4, 3, 5, 2, 5, 4, 1, 5])
        >>> csat.result().value
        0.7
    """

    __slots__ = ("_satisfied_from",)
    _name = "CSAT"

    def __init__(self, scale: int = 5, *, satisfied_from: int | None = None) -> None:
        scale = _validate.positive_int("scale", scale, minimum=2)
        if scale > 100:
            msg = f"scale must be an integer from 2 to 100 (got {scale!r})"
            raise CareKitError(msg)
        if satisfied_from is None:
            satisfied_from = scale - 1
        satisfied_from = _validate.positive_int("satisfied_from", satisfied_from)
        if satisfied_from > scale:
            msg = f"satisfied_from must lie on the 1..{scale} scale (got {satisfied_from!r})"
            raise CareKitError(msg)
        super().__init__(1, scale)
        self._satisfied_from = satisfied_from

    @property
    def scale(self) -> int:
        """The highest score."""
        return self._hi

    @property
    def satisfied(self) -> int:
        """How many scores were at or above the satisfied threshold."""
        return sum(self._counts[self._satisfied_from - 1:])

    def empty_like(self) -> CSAT:
        """A new, empty CSAT accumulator with the same scale and threshold."""
        return CSAT(self._hi, satisfied_from=self._satisfied_from)

    def _settings(self) -> tuple[Any, ...]:
        return (self._hi, self._satisfied_from)

    def proportion_counts(self) -> tuple[int, int]:
        """``(satisfied, n)``, for :func:`carekit.metrics.compare`."""
        return (self.satisfied, self.n)

    def result(self, confidence: float = 0.95) -> Estimate:
        """The satisfied share on 0..1 with a Wilson score interval."""
        return proportion_estimate(self.satisfied, self.n, confidence)


class CES(_ScaleCounts):
    """Customer effort score: the mean answer on a ``1..scale`` scale (7 by default).

    :meth:`result` gives the mean with a Student t interval, clipped to the scale. One
    answer gives the whole scale as its interval: one answer says nothing about spread.

    Examples:
        >>> from carekit.metrics import CES
        >>> ces = CES().extend([6, 7, 5, 6, 7, 4, 6])
        >>> e = ces.result()
        >>> round(e.value, 3), round(e.low, 2), round(e.high, 2)
        (5.857, 4.87, 6.85)
    """

    __slots__ = ()
    _name = "CES"

    def __init__(self, scale: int = 7) -> None:
        scale = _validate.positive_int("scale", scale, minimum=2)
        if scale > 100:
            msg = f"scale must be an integer from 2 to 100 (got {scale!r})"
            raise CareKitError(msg)
        super().__init__(1, scale)

    @property
    def scale(self) -> int:
        """The highest score."""
        return self._hi

    def empty_like(self) -> CES:
        """A new, empty CES accumulator with the same scale."""
        return CES(self._hi)

    def _settings(self) -> tuple[Any, ...]:
        return (self._hi,)

    def moments(self) -> tuple[int, float, float]:
        """``(n, mean, sample variance)`` computed exactly from the counts."""
        n = self.n
        if n == 0:
            return (0, math.nan, math.nan)
        total = sum((self._lo + i) * c for i, c in enumerate(self._counts))
        squares = sum((self._lo + i) ** 2 * c for i, c in enumerate(self._counts))
        mean = total / n
        var = (squares * n - total * total) / (n * (n - 1)) if n > 1 else math.nan
        return (n, mean, max(0.0, var))

    def result(self, confidence: float = 0.95) -> Estimate:
        """The mean score with a Student t interval."""
        confidence = check_confidence(confidence)
        return mean_estimate(*self.moments(), confidence, float(self._lo), float(self._hi))


def proportion_estimate(successes: int, n: int, confidence: float) -> Estimate:
    """A proportion on 0..1 with its Wilson score interval (``n == 0``: no value)."""
    confidence = check_confidence(confidence)
    if n == 0:
        return Estimate(None, None, None, 0, confidence=confidence, method="wilson")
    low, high = _stats.wilson(successes, n, confidence)
    return Estimate(successes / n, low, high, n, confidence=confidence, method="wilson")


def mean_estimate(
    n: int, mean: float, var: float, confidence: float, lo: float, hi: float
) -> Estimate:
    """A mean with a Student t interval clipped to ``lo..hi``."""
    if n == 0:
        return Estimate(None, None, None, 0, confidence=confidence, method="student_t")
    if n == 1:
        return Estimate(mean, lo, hi, 1, confidence=confidence, method="student_t")
    t = _stats.t_quantile(0.5 + confidence / 2.0, n - 1)
    half = t * math.sqrt(var / n)
    return Estimate(mean, max(lo, mean - half), min(hi, mean + half), n,
                    confidence=confidence, method="student_t")
