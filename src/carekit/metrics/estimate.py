"""The value objects every metric returns: :class:`Estimate` and :class:`Comparison`."""

from __future__ import annotations

import attrs

__all__ = ["Comparison", "Estimate"]


def _fmt(*xs: float, sign: str = "") -> list[str]:
    """``xs`` in one style: one decimal when any is 10 or more in size, else 4 digits."""
    spec = f"{sign}.1f" if max(abs(x) for x in xs) >= 10 else f"{sign}.4g"
    return [f"{x:{spec}}" for x in xs]


@attrs.frozen
class Estimate:
    """A metric's value with a confidence interval and the sample size behind it.

    An empty accumulator gives ``n == 0`` and ``value``, ``low`` and ``high`` all ``None``:
    there is no number to show, and :attr:`empty` says so.

    Attributes:
        value: The point estimate (``None`` when ``n == 0``).
        low: Lower end of the confidence interval (``None`` when ``n == 0``).
        high: Upper end of the confidence interval (``None`` when ``n == 0``).
        n: How many observations the estimate rests on.
        confidence: The interval's confidence level, e.g. 0.95.
        method: How the interval was computed, e.g. ``"wilson"`` or ``"adjusted_wald"``.

    Examples:
        >>> from carekit.metrics import Estimate
        >>> e = Estimate(0.8, 0.7, 0.9, 50, confidence=0.95, method="wilson")
        >>> e.margin
        0.1
        >>> str(Estimate(None, None, None, 0))
        'no data (n = 0)'

        A format spec applies to the value and to both ends of the interval, in the layout
        ``str`` uses; an empty estimate formats as ``str`` does:

        >>> f"{e:.2f}"
        '0.80 (95% CI 0.70 to 0.90, n = 50)'
        >>> f"{e:.0%}"
        '80% (95% CI 70% to 90%, n = 50)'
        >>> f"{Estimate(None, None, None, 0):.1f}"
        'no data (n = 0)'
    """

    value: float | None
    low: float | None
    high: float | None
    n: int
    confidence: float = attrs.field(default=0.95, kw_only=True)
    method: str = attrs.field(default="", kw_only=True)

    @property
    def empty(self) -> bool:
        """True when there were no observations (``n == 0``)."""
        return self.n == 0

    @property
    def margin(self) -> float | None:
        """Half the interval's width, rounded to 12 digits (``None`` when empty)."""
        if self.low is None or self.high is None:
            return None
        return round((self.high - self.low) / 2.0, 12)

    def __str__(self) -> str:
        if self.value is None or self.low is None or self.high is None:
            return f"no data (n = {self.n})"
        pct = round(self.confidence * 100, 6)
        value, low, high = _fmt(self.value, self.low, self.high)
        return f"{value} ({pct:g}% CI {low} to {high}, n = {self.n})"

    def __format__(self, spec: str) -> str:
        """``spec`` (as for a float) applied to the value and the interval's ends.

        Raises:
            ValueError: a spec a float does not take (``"d"``, ``"s"``).
        """
        if not spec or self.value is None or self.low is None or self.high is None:
            return str(self)
        pct = round(self.confidence * 100, 6)
        value, low, high = (format(x, spec) for x in (self.value, self.low, self.high))
        return f"{value} ({pct:g}% CI {low} to {high}, n = {self.n})"


@attrs.frozen
class Comparison:
    """The difference between two metrics (first minus second), its interval and p-value.

    Attributes:
        difference: First metric minus second.
        low: Lower end of the confidence interval of the difference.
        high: Upper end of the confidence interval of the difference.
        p_value: Two-sided p-value for "no difference".
        confidence: The interval's confidence level.
        method: The test used.
        n: The two sample sizes ``(n_first, n_second)``.

    Examples:
        >>> from carekit.metrics import Comparison
        >>> c = Comparison(5.0, -1.0, 11.0, 0.12)
        >>> c.significant
        False
    """

    difference: float
    low: float
    high: float
    p_value: float
    confidence: float = attrs.field(default=0.95, kw_only=True)
    method: str = attrs.field(default="", kw_only=True)
    n: tuple[int, int] = attrs.field(default=(0, 0), kw_only=True)

    @property
    def significant(self) -> bool:
        """True when the p-value is below ``1 - confidence``.

        For NPS and CES the interval then leaves out 0 (an adjusted NPS interval may
        leave out 0 for a difference that is not significant: with very unequal samples,
        the pseudo-counts move the smaller sample's score). For proportions the interval
        (Newcombe's) and the test (pooled z) are different methods, which can disagree for
        a difference right at the margin.
        """
        return self.p_value < 1.0 - self.confidence

    def __str__(self) -> str:
        pct = round(self.confidence * 100, 6)
        difference, low, high = _fmt(self.difference, self.low, self.high, sign="+")
        return f"{difference} ({pct:g}% CI {low} to {high}, p = {self.p_value:.3g})"

    def __format__(self, spec: str) -> str:
        """``spec`` (as for a float) applied to the difference and the interval's ends, in
        the layout ``str`` uses: signed, as there, unless ``spec`` gives a sign of its own.

            >>> c = Comparison(0.052, -0.01, 0.114, 0.12)
            >>> f"{c:.1%}"
            '+5.2% (95% CI -1.0% to +11.4%, p = 0.12)'

        Raises:
            ValueError: a spec a float does not take (``"d"``, ``"s"``).
        """
        if not spec:
            return str(self)
        signed = spec if any(c in "+- " for c in spec[:3]) else "+" + spec
        pct = round(self.confidence * 100, 6)
        difference, low, high = (
            format(x, signed) for x in (self.difference, self.low, self.high)
        )
        return f"{difference} ({pct:g}% CI {low} to {high}, p = {self.p_value:.3g})"
