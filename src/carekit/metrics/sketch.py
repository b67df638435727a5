"""A mergeable quantile sketch with a guaranteed relative error (DDSketch-style).

Values go into logarithmic buckets: with ``alpha`` the relative accuracy and
``gamma = (1 + alpha) / (1 - alpha)``, a positive value ``x`` lands in bucket
``k = ceil(log_gamma(x))``, which covers ``(gamma^(k-1), gamma^k]``. A bucket is reported
as ``2 gamma^k / (gamma + 1)``, which is within a factor ``alpha`` of every value in it.
The ``q`` quantile is the bucket holding the item of rank ``floor(q (n - 1))`` in sorted
order, so the answer ``v`` satisfies ``|v - x| <= alpha x`` for that item ``x``
(Masson, Rim and Lee (2019), "DDSketch: A fast and fully-mergeable quantile sketch with
relative-error guarantees", *PVLDB* 12(12): 2195-2205, Theorem 1).

Merging adds bucket counts, so it is exact, associative and commutative. The number of
buckets is at most ``log(max / min) / log(gamma) + 2``: about 1,150 buckets for values from
a millisecond to 4 months at ``alpha = 0.01``. Buckets are never collapsed, so the error
bound holds at every quantile.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections import Counter
from collections.abc import Iterable
from typing import Any

from carekit import _validate
from carekit.errors import CareKitError
from carekit.metrics._base import plain_numbers, require_iterable

__all__ = ["QuantileSketch"]

#: The smallest ``relative_accuracy`` accepted. Below it the rounding of ``log(x)`` in
#: floating point is no longer negligible against the bucket width (at 1e-12 the error
#: bound already fails for large values, at 1e-17 ``gamma`` rounds to exactly 1), and
#: the sketch would keep one bucket per distinct value anyway.
MIN_RELATIVE_ACCURACY = 1e-6

_FLOAT_MAX = sys.float_info.max


class QuantileSketch:
    """Quantiles of non-negative numbers within a relative error ``relative_accuracy``.

    Values are finite non-negative real numbers; each is read as its ``float`` value (so a
    positive ``Fraction`` smaller than the smallest float counts as 0.0).

    Args:
        relative_accuracy: The guaranteed relative error ``alpha``, from 1e-6
            (:data:`MIN_RELATIVE_ACCURACY`) to 0.5.

    Raises:
        CareKitError: ``relative_accuracy`` is not a number from 1e-6 to 0.5.

    Examples:
        >>> from carekit.metrics import QuantileSketch
        >>> sk = QuantileSketch(relative_accuracy=0.01).extend(range(1, 1001))
        >>> abs(sk.quantile(0.5) - 500) <= 0.01 * 500
        True
    """

    __slots__ = ("_alpha", "_buckets", "_count", "_gamma", "_inv_log_gamma", "_max", "_min",
                 "_zeros")

    def __init__(self, relative_accuracy: float = 0.01) -> None:
        alpha = _validate.probability("relative_accuracy", relative_accuracy, allow_one=False)
        if not MIN_RELATIVE_ACCURACY <= alpha <= 0.5:
            msg = (f"relative_accuracy must lie in [{MIN_RELATIVE_ACCURACY:g}, 0.5] "
                   f"(got {relative_accuracy!r})")
            raise CareKitError(msg)
        self._alpha = alpha
        self._gamma = (1.0 + alpha) / (1.0 - alpha)
        self._inv_log_gamma = 1.0 / math.log(self._gamma)
        self._buckets: Counter[int] = Counter()
        self._zeros = 0
        self._count = 0
        self._min = math.inf
        self._max = -math.inf

    @property
    def relative_accuracy(self) -> float:
        """The guaranteed relative error ``alpha``."""
        return self._alpha

    @property
    def count(self) -> int:
        """How many values were added."""
        return self._count

    @property
    def min(self) -> float | None:
        """The smallest value added (exact), ``None`` when empty."""
        return None if self._count == 0 else self._min

    @property
    def max(self) -> float | None:
        """The largest value added (exact), ``None`` when empty."""
        return None if self._count == 0 else self._max

    @property
    def bucket_count(self) -> int:
        """Buckets in use (memory grows with this, not with the number of values)."""
        return len(self._buckets) + (self._zeros > 0)

    def _check(self, value: Any) -> float:
        return _validate.non_negative("value", value)

    def add(self, value: float) -> QuantileSketch:
        """Add one non-negative finite number; returns the sketch.

        Raises:
            CareKitError: ``value`` is not a finite real number >= 0.
        """
        x = self._check(value)
        if x > 0.0:
            self._buckets[math.ceil(math.log(x) * self._inv_log_gamma)] += 1
        else:
            self._zeros += 1
        self._count += 1
        self._min = min(self._min, x)
        self._max = max(self._max, x)
        return self

    def extend(self, values: Iterable[float]) -> QuantileSketch:
        """Add many numbers; a list of floats takes a fast path, validation included.

        Raises:
            CareKitError: ``values`` is not iterable, or holds a value :meth:`add` refuses
                (the values before it are added).
        """
        require_iterable("values", values)
        items = values if isinstance(values, list) else list(values)
        if not items:
            return self
        if plain_numbers(items):
            try:
                total = sum(items)
            except OverflowError:  # an int too large for a float beside a float
                total = math.nan
            # False for NaN, infinities and ints too large for a float; a float sum that
            # overflows takes the checked path too, which accepts every finite value.
            if total <= _FLOAT_MAX:
                lowest = min(items)
                if lowest >= 0:
                    self._extend_checked(items, lowest)
                    return self
        for value in items:
            self.add(value)
        return self

    def _extend_checked(self, items: list[Any], lowest: float) -> None:
        """Add finite ints and floats, all >= 0 (``lowest`` the smallest), unchecked."""
        highest = max(items)
        log, ceil, k = math.log, math.ceil, self._inv_log_gamma
        # Chained C-level maps: no Python bytecode runs per value.
        positive = items if lowest > 0 else [x for x in items if x > 0]
        self._buckets.update(map(ceil, map(k.__mul__, map(log, positive))))
        self._zeros += len(items) - len(positive)
        self._count += len(items)
        self._min = min(self._min, float(lowest))
        self._max = max(self._max, float(highest))

    def _bucket_value(self, key: int) -> float:
        """The value reported for bucket ``key``: ``2 gamma^key / (gamma + 1)``."""
        g = self._gamma
        with contextlib.suppress(OverflowError):
            value = 2.0 * g**key / (g + 1.0)
            if value < math.inf:
                return value
        # Near the largest float, gamma^key overflows: (1 + alpha) gamma^(key - 1) is the
        # same number; if that overflows too it is above every value and gets clamped.
        with contextlib.suppress(OverflowError):
            return g ** (key - 1) * (2.0 * g / (g + 1.0))
        return math.inf

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0 <= q <= 1) within the relative accuracy; ``None`` if empty.

        Raises:
            CareKitError: ``q`` outside [0, 1].
        """
        q = _validate.probability("q", q, allow_zero=True)
        if self._count == 0:
            return None
        rank = q * (self._count - 1)
        if rank < self._zeros:
            return 0.0
        seen = self._zeros
        for key in sorted(self._buckets):
            seen += self._buckets[key]
            if seen > rank:
                return min(max(self._bucket_value(key), self._min), self._max)
        return self._max  # pragma: no cover - rank < count always finds a bucket

    def merge(self, other: QuantileSketch) -> QuantileSketch:
        """A new sketch holding both sketches' values (exact, associative, commutative).

        Raises:
            CareKitError: the sketches have different relative accuracies.
        """
        if not isinstance(other, QuantileSketch):
            msg = f"other must be a QuantileSketch (got {type(other).__name__})"
            raise CareKitError(msg)
        if other._alpha != self._alpha:
            msg = (
                "cannot merge sketches with different relative_accuracy "
                f"({self._alpha!r} vs {other._alpha!r})"
            )
            raise CareKitError(msg)
        new = QuantileSketch(self._alpha)
        for sketch in (self, other):
            new._buckets.update(sketch._buckets)
            new._zeros += sketch._zeros
            new._count += sketch._count
            new._min = min(new._min, sketch._min)
            new._max = max(new._max, sketch._max)
        return new

    def copy(self) -> QuantileSketch:
        """An independent copy."""
        return self.merge(QuantileSketch(self._alpha))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QuantileSketch):
            return NotImplemented
        return (
            self._alpha == other._alpha
            and self._count == other._count
            and self._zeros == other._zeros
            and +self._buckets == +other._buckets
            and (self._count == 0 or (self._min, self._max) == (other._min, other._max))
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"<QuantileSketch relative_accuracy={self._alpha} count={self._count} "
                f"buckets={self.bucket_count}>")
