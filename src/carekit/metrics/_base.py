"""The accumulator protocol shared by every metric, segmentation and score counting (private)."""

from __future__ import annotations

import abc
import math
import operator
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from numbers import Integral, Real
from typing import Any, TypeVar

from carekit import _validate
from carekit.errors import CareKitError
from carekit.metrics.estimate import Estimate

__all__ = ["Accumulator", "Segmented", "check_confidence", "count_scores"]

_A = TypeVar("_A", bound="Accumulator")


class UnknownSegment(CareKitError, KeyError):
    """A :class:`Segmented` accumulator has no such segment.

    Also a :class:`KeyError`, so ``segment in seg`` and ``seg.get(segment)`` work as on
    any mapping.
    """

    __str__ = BaseException.__str__  # the message as written, not quoted as KeyError does


def require_iterable(name: str, values: Any) -> None:
    """Raise a :class:`CareKitError` naming ``name`` unless ``values`` can be iterated."""
    try:
        iter(values)
    except TypeError:
        msg = f"{name} must be an iterable such as a list (got {values!r})"
        raise CareKitError(msg) from None


#: The largest confidence level accepted: ``1 - 2**-52``. Above it (the float
#: ``1 - 2**-53``) the two-sided quantile level ``(1 + confidence) / 2`` rounds to 1.0 and
#: the interval cannot be computed.
MAX_CONFIDENCE = 1.0 - 2.0**-52


def plain_numbers(items: list[Any]) -> bool:
    """True when every item is an ``int`` (not a bool) or a ``float`` (numpy's float64 too).

    One C-level pass over the items' types. A fast path that passed this check can use
    ``sum``, ``min`` and ``math.log`` on the items without meeting a ``Fraction`` (which
    may round to 0.0), a ``Decimal`` (whose NaN refuses to compare) or a ``bool``.
    """
    return all(t is int or issubclass(t, float) for t in set(map(type, items)))


def check_confidence(confidence: Any, name: str = "confidence") -> float:
    """Return ``confidence`` as a float if an interval can be computed at that level.

    The level must lie in (0, 1) and be at most :data:`MAX_CONFIDENCE` (``1 - 2**-52``),
    so that the two-sided quantile level ``0.5 + confidence / 2`` stays below 1 in floating
    point; every interval formula in :mod:`carekit.metrics` relies on that.

    Args:
        confidence: The confidence level, e.g. 0.95.
        name: The argument's name in error messages.

    Raises:
        CareKitError: ``confidence`` is not a number in (0, 1), or too close to 1.
    """
    c = _validate.probability(name, confidence, allow_one=False)
    if not 0.5 + c / 2.0 < 1.0:
        msg = (
            f"{name} must lie in (0, 1) and be at most {MAX_CONFIDENCE!r} (1 - 2**-52), "
            f"the closest to 1 at which an interval can be computed (got {confidence!r})"
        )
        raise CareKitError(msg)
    return c


class Accumulator(abc.ABC):
    """Base class of every metric: add observations, merge partial results, read an estimate.

    Accumulators are mutable while they collect (``add`` and ``extend`` return the
    accumulator itself, so calls chain) and combine with :meth:`merge`, which returns a new
    accumulator and is associative and commutative. They pickle, so they travel between
    processes (Dask, multiprocessing) unchanged.
    """

    __slots__ = ()

    @abc.abstractmethod
    def add(self: _A, value: Any) -> _A:
        """Add one observation; returns the accumulator."""

    def extend(self: _A, values: Iterable[Any]) -> _A:
        """Add many observations; returns the accumulator."""
        require_iterable("values", values)
        for value in values:
            self.add(value)
        return self

    @property
    @abc.abstractmethod
    def n(self) -> int:
        """How many observations were added."""

    @abc.abstractmethod
    def result(self, confidence: float = 0.95) -> Estimate:
        """The metric with its confidence interval."""

    @abc.abstractmethod
    def _settings(self) -> tuple[Any, ...]:
        """What must match for two accumulators to merge (scale, thresholds...)."""

    @abc.abstractmethod
    def _state(self) -> tuple[Any, ...]:
        """The collected data, for equality."""

    @abc.abstractmethod
    def empty_like(self: _A) -> _A:
        """A new, empty accumulator with the same settings."""

    @abc.abstractmethod
    def _absorb(self, other: Any) -> None:
        """Add ``other``'s data to this accumulator in place."""

    def copy(self: _A) -> _A:
        """An independent copy of this accumulator."""
        new = self.empty_like()
        new._absorb(self)
        return new

    def merge(self: _A, other: _A) -> _A:
        """A new accumulator holding the data of both (associative and commutative).

        Raises:
            CareKitError: ``other`` is another kind of metric or has different settings.
        """
        if type(other) is not type(self):
            msg = (
                f"other must be a {type(self).__name__} to merge with this one "
                f"(got {type(other).__name__})"
            )
            raise CareKitError(msg)
        if other._settings() != self._settings():
            msg = (
                f"cannot merge {type(self).__name__} accumulators with different settings "
                f"({self._settings()!r} vs {other._settings()!r})"
            )
            raise CareKitError(msg)
        new = self.copy()
        new._absorb(other)
        return new

    def by(
        self,
        key: Callable[[Any], Hashable],
        value: Callable[[Any], Any] | None = None,
    ) -> Segmented[Any]:
        """Segment records by ``key``: one accumulator (with these settings) per segment.

        Args:
            key: Maps a record to its segment, e.g. ``operator.itemgetter("store")``.
            value: Maps a record to the observation to add; ``None`` adds the record itself.

        Returns:
            An empty :class:`Segmented` accumulator; ``add`` and ``extend`` take records.
        """
        return Segmented(self.empty_like(), key, value)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Accumulator)
        return self._settings() == other._settings() and self._state() == other._state()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} n={self.n} {self.result()}>"


class Segmented(Mapping[Hashable, _A]):
    """One accumulator per segment (store, channel, month...), itself an accumulator of records.

    Made by :meth:`Accumulator.by`. It is a read-only mapping from segment to accumulator;
    ``add``/``extend`` route each record to its segment, ``merge`` merges segment by
    segment, ``result`` returns one :class:`Estimate` per segment. It pickles when ``key``
    and ``value`` do (module-level functions, :func:`operator.itemgetter`).

    Examples:
        >>> import operator
        >>> from carekit.metrics import NPS
        >>> rows = [("north", 10), ("north", 3), ("south", 9)]
        >>> seg = NPS().by(operator.itemgetter(0), value=operator.itemgetter(1)).extend(rows)
        >>> sorted(seg)
        ['north', 'south']
        >>> seg["north"].result().value
        0.0
    """

    __slots__ = ("_key", "_segments", "_template", "_value")

    def __init__(
        self,
        template: _A,
        key: Callable[[Any], Hashable],
        value: Callable[[Any], Any] | None = None,
    ) -> None:
        if not isinstance(template, Accumulator):
            msg = (
                "template must be a carekit.metrics accumulator such as NPS() or CSAT() "
                f"(got {template!r})"
            )
            raise CareKitError(msg)
        if not callable(key):
            msg = f"key must be a function of a record (got {key!r})"
            raise CareKitError(msg)
        if value is not None and not callable(value):
            msg = f"value must be a function of a record or None (got {value!r})"
            raise CareKitError(msg)
        self._template = template.empty_like()
        self._key = key
        self._value = value
        self._segments: dict[Hashable, _A] = {}

    def __getitem__(self, segment: Hashable) -> _A:
        try:
            return self._segments[segment]
        except (KeyError, TypeError):  # TypeError: an unhashable segment, e.g. a list
            msg = f"no segment {segment!r} in this Segmented accumulator"
            raise UnknownSegment(msg) from None

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._segments)

    def __len__(self) -> int:
        return len(self._segments)

    @staticmethod
    def _check_segment(segment: Any, record: Any) -> None:
        """Raise a :class:`CareKitError` unless ``key(record)`` gave a hashable segment."""
        try:
            hash(segment)
        except TypeError:
            msg = (f"key must map each record to a hashable segment such as a str, int or "
                   f"tuple (got {segment!r} for record {record!r})")
            raise CareKitError(msg) from None

    def _segment(self, segment: Hashable) -> _A:
        acc = self._segments.get(segment)
        if acc is None:
            acc = self._segments[segment] = self._template.empty_like()
        return acc

    def add(self, record: Any) -> Segmented[_A]:
        """Add one record to its segment; returns this object.

        Raises:
            CareKitError: ``key`` gave an unhashable segment, or the segment's accumulator
                refused the observation.
        """
        observation = record if self._value is None else self._value(record)
        segment = self._key(record)
        self._check_segment(segment, record)
        self._segment(segment).add(observation)
        return self

    def extend(self, records: Iterable[Any]) -> Segmented[_A]:
        """Add many records: grouped first, then each segment's fast ``extend`` runs once.

        Raises:
            CareKitError: ``records`` is not iterable, ``key`` gave an unhashable segment,
                or a segment's accumulator refused an observation.
        """
        require_iterable("records", records)
        groups: dict[Hashable, list[Any]] = {}
        key, value = self._key, self._value
        for record in records:
            observation = record if value is None else value(record)
            k = key(record)
            try:
                group = groups.get(k)
            except TypeError:
                self._check_segment(k, record)
                raise
            if group is None:
                groups[k] = [observation]
            else:
                group.append(observation)
        for k, observations in groups.items():
            self._segment(k).extend(observations)
        return self

    @property
    def n(self) -> int:
        """Observations over all segments."""
        return sum(acc.n for acc in self._segments.values())

    def total(self) -> _A:
        """One accumulator for all segments together."""
        total = self._template.empty_like()
        for acc in self._segments.values():
            total = total.merge(acc)
        return total

    def merge(self, other: Segmented[_A]) -> Segmented[_A]:
        """A new segmented accumulator with both sides' data, segment by segment.

        Segments are matched by their key value only: both sides should be split by the
        same ``key`` (carekit cannot compare functions, which differ after pickling), or
        a segment ``"north"`` by store and one ``"north"`` by region would be merged.
        The result keeps this side's ``key`` and ``value``.

        Raises:
            CareKitError: ``other`` is not a :class:`Segmented` accumulator, or its
                segments' settings differ from this side's.
        """
        if not isinstance(other, Segmented):
            msg = f"other must be a Segmented accumulator (got {type(other).__name__})"
            raise CareKitError(msg)
        template = self._template.merge(other._template)
        new: Segmented[_A] = Segmented(template, self._key, self._value)
        for k, acc in self._segments.items():
            new._segments[k] = acc.copy()
        for k, acc in other._segments.items():
            mine = new._segments.get(k)
            new._segments[k] = acc.copy() if mine is None else mine.merge(acc)
        return new

    def result(self, confidence: float = 0.95) -> dict[Hashable, Estimate]:
        """One estimate per segment, in the order segments were first seen."""
        return {k: acc.result(confidence) for k, acc in self._segments.items()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Segmented):
            return NotImplemented
        return self._segments == other._segments

    __hash__ = None  # type: ignore[assignment]

    def __getstate__(self) -> dict[str, Any]:
        return {"template": self._template, "key": self._key, "value": self._value,
                "segments": self._segments}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._template = state["template"]
        self._key = state["key"]
        self._value = state["value"]
        self._segments = state["segments"]

    def __repr__(self) -> str:
        return f"<Segmented {type(self._template).__name__}: {len(self)} segments, n={self.n}>"


def _score_error(name: str, score: Any, lo: int, hi: int) -> CareKitError:
    msg = (
        f"{name} scores must be whole numbers on the {lo}..{hi} scale "
        f"(got {_validate.short(score)})"
    )
    return CareKitError(msg + record_hint(score, f"int(r[{name.lower()!r}])"))


def record_hint(value: Any, convert: str) -> str:
    """A hint for the two usual slips: a CSV cell left as text, or a whole record passed."""
    if isinstance(value, str):
        return f"; it is text: convert each cell first, e.g. {convert}"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "; an empty answer? leave empty ones out (with pandas: .dropna())"
    if isinstance(value, (Mapping, tuple, list)):
        return (
            "; that is a whole record: pass each record's value, or segment records with "
            f"by(key, value=lambda r: {convert})"
        )
    return ""


def check_score(name: str, score: Any, lo: int, hi: int) -> int:
    """Return ``score`` as an int if it is a whole number in ``lo..hi`` (bool refused)."""
    if isinstance(score, bool):
        raise _score_error(name, score, lo, hi)
    if isinstance(score, Integral):
        s = int(score)
    elif isinstance(score, Real):
        try:
            f = float(score)
        except (ValueError, ArithmeticError):  # e.g. OverflowError for Fraction(10**400, 3)
            raise _score_error(name, score, lo, hi) from None
        if not f.is_integer():
            raise _score_error(name, score, lo, hi)
        s = int(f)
    else:
        raise _score_error(name, score, lo, hi)
    if not lo <= s <= hi:
        raise _score_error(name, score, lo, hi)
    return s


def _as_bytes(values: Any) -> tuple[bytes | None, Any]:
    """Turn ``values`` into one byte per score when that is cheap; also return the items."""
    if isinstance(values, (bytes, bytearray)):
        return bytes(values), values
    try:
        view = memoryview(values)
    except TypeError:
        items = values if isinstance(values, (list, tuple)) else list(values)
    else:
        if view.ndim == 1 and view.format in ("b", "B"):
            # Signed bytes: -1 reads as 255 and so fails the range check below.
            return view.tobytes(), values
        items = view.tolist()
    try:
        return bytes(items), items
    except (TypeError, ValueError):
        return None, items


def count_scores(name: str, values: Iterable[Any], lo: int, hi: int) -> list[int]:
    """Count scores ``lo..hi`` in ``values``; validates every score.

    The fast path packs the scores into ``bytes`` (one C loop that refuses anything that is
    not an int in 0..255), counts each scale point with ``bytes.count`` and proves that every
    score is valid by checking that the counts add up to the number of scores. Anything else
    (floats, numpy floats, bad values) falls back to a checked loop that names the bad score.
    """
    packed, items = _as_bytes(values)
    if packed is not None:
        counts = [packed.count(v) for v in range(lo, hi + 1)]
        # bytes() takes True and False as 1 and 0; add() refuses them, so must this.
        if sum(counts) == len(packed) and not (
            isinstance(items, (list, tuple))
            and lo <= 1
            and any(counts[: 2 - lo])
            and bool in set(map(type, items))
        ):
            return counts
    counts = [0] * (hi - lo + 1)
    for score in items:
        counts[check_score(name, score, lo, hi) - lo] += 1
    return counts


def as_index(name: str, value: Any) -> int:
    """Return ``value`` as a non-negative int (bool refused)."""
    if isinstance(value, bool):
        msg = f"{name} must be a non-negative integer (got {value!r})"
        raise CareKitError(msg)
    try:
        i = operator.index(value)
    except TypeError:
        msg = f"{name} must be a non-negative integer (got {value!r})"
        raise CareKitError(msg) from None
    if i < 0:
        msg = f"{name} must be a non-negative integer (got {value!r})"
        raise CareKitError(msg)
    return i
