"""First-response times: SLA attainment and quantiles from a mergeable sketch."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, Protocol

from carekit import _validate
from carekit.errors import CareKitError
from carekit.metrics._base import Accumulator, require_iterable
from carekit.metrics.estimate import Estimate
from carekit.metrics.proportions import fast_seconds, seconds_of
from carekit.metrics.scores import proportion_estimate
from carekit.metrics.sketch import QuantileSketch

__all__ = ["BusinessHours", "ResponseTime"]


class BusinessHours(Protocol):
    """What :class:`ResponseTime` needs from a calendar (a ``BusinessCalendar`` has it)."""

    def business_hours_between(self, a: dt.datetime, b: dt.datetime) -> dt.timedelta:
        """Business time from ``a`` to ``b``."""


def _to_micro(seconds: float) -> int:
    return round(seconds * 1e6)


class ResponseTime(Accumulator):
    """First-response times: the share answered within ``target`` plus median, p90, p99.

    Add a response time as a ``timedelta`` (or seconds), or a ``(received_at,
    responded_at)`` pair of timezone-aware datetimes. With a ``calendar`` (a
    :class:`carekit.calendar.BusinessCalendar`), a pair is measured in business hours
    through ``calendar.business_hours_between(received_at, responded_at)``, so an email
    received on Friday evening and answered Monday at 09:30 took 30 business minutes.

    :meth:`result` is the SLA attainment (share within ``target``, inclusive) on 0..1 with a
    Wilson interval. Quantiles come from a :class:`QuantileSketch`: each is within
    ``relative_accuracy`` (1 % by default) of the exact order statistic of rank
    ``floor(q * (n - 1))`` (0-based): the lower order statistic, as in DDSketch, so the
    median of an even count is near the lower of the two middle values, not their mean.
    Being ``timedelta`` objects, they are rounded to the microsecond (half a microsecond more).

    Args:
        target: The response-time target, > 0 (``timedelta`` or seconds). Default 1 hour.
        calendar: Optional business calendar for ``(received_at, responded_at)`` pairs.
        relative_accuracy: The sketch's guaranteed relative error for quantiles, from 1e-6
            to 0.5.

    Raises:
        CareKitError: a ``target`` that is not a positive duration, a ``calendar``
            without ``business_hours_between``, or a ``relative_accuracy`` out of range.

    Examples:
        >>> import datetime as dt
        >>> from carekit.metrics import ResponseTime
        >>> rt = ResponseTime(target=dt.timedelta(minutes=30))
        >>> rt = rt.extend([dt.timedelta(minutes=m) for m in (5, 12, 20, 25, 31, 45, 90)])
        >>> round(rt.result().value, 3)
        0.571
        >>> round(rt.median.total_seconds() / 60, 1)  # exact median: 25 minutes
        24.9
    """

    __slots__ = ("_calendar", "_micros", "_sketch", "_target", "_within")

    def __init__(
        self,
        target: dt.timedelta | float = dt.timedelta(hours=1),
        calendar: BusinessHours | None = None,
        *,
        relative_accuracy: float = 0.01,
    ) -> None:
        self._target = _validate.positive_duration("target", target)
        if calendar is not None and not callable(getattr(calendar, "business_hours_between", None)):
            msg = (
                "calendar must be a BusinessCalendar (with business_hours_between) or None "
                f"(got {calendar!r})"
            )
            raise CareKitError(msg)
        self._calendar = calendar
        self._sketch = QuantileSketch(relative_accuracy)
        self._within = 0
        self._micros = 0

    @property
    def target(self) -> dt.timedelta:
        """The response-time target."""
        return self._target

    @property
    def calendar(self) -> BusinessHours | None:
        """The business calendar pairs are measured in, if any."""
        return self._calendar

    @property
    def sketch(self) -> QuantileSketch:
        """A copy of the quantile sketch (seconds)."""
        return self._sketch.copy()

    def _elapsed(self, value: Any) -> float:
        if isinstance(value, tuple):
            if len(value) != 2:
                msg = ("a response time must be a timedelta, seconds or a "
                       f"(received_at, responded_at) pair (got {value!r})")
                raise CareKitError(msg)
            received = _validate.aware("received_at", value[0])
            responded = _validate.aware("responded_at", value[1])
            if responded < received:
                msg = (f"responded_at must not be before received_at (got received_at="
                       f"{received.isoformat()}, responded_at={responded.isoformat()})")
                raise CareKitError(msg)
            if self._calendar is not None:
                elapsed = self._calendar.business_hours_between(received, responded)
                if not isinstance(elapsed, dt.timedelta):
                    msg = ("calendar.business_hours_between must return a timedelta "
                           f"(got {elapsed!r})")
                    raise CareKitError(msg)
            else:
                elapsed = responded - received
            return seconds_of("response_time", elapsed)
        return seconds_of("response_time", value)

    def add(self, value: Any) -> ResponseTime:
        """Add one response time (``timedelta``, seconds or a datetime pair).

        Raises:
            CareKitError: ``value`` is not a non-negative duration a ``datetime.timedelta``
                can hold, or not a ``(received_at, responded_at)`` pair of aware datetimes
                in that order.
        """
        seconds = self._elapsed(value)
        self._sketch.add(seconds)
        self._within += seconds <= self._target.total_seconds()
        self._micros += _to_micro(seconds)
        return self

    def extend(self, values: Iterable[Any]) -> ResponseTime:
        """Add many response times; a list of numbers (seconds) takes a fast path.

        Raises:
            CareKitError: ``values`` is not iterable or holds a value :meth:`add` refuses;
                nothing is added then.
        """
        require_iterable("values", values)
        items = values if isinstance(values, list) else list(values)
        seconds = fast_seconds("response_time", items)
        if seconds is None:
            seconds = [self._elapsed(v) for v in items]
        target = self._target.total_seconds()
        self._sketch.extend(seconds)
        self._within += sum(1 for s in seconds if s <= target)
        self._micros += sum(map(_to_micro, seconds))
        return self

    @property
    def n(self) -> int:
        """How many response times were added."""
        return self._sketch.count

    @property
    def within_target(self) -> int:
        """How many responses met the target."""
        return self._within

    @property
    def relative_accuracy(self) -> float:
        """The quantile sketch's guaranteed relative error."""
        return self._sketch.relative_accuracy

    def quantile(self, q: float) -> dt.timedelta | None:
        """The ``q`` quantile of response times (``None`` when empty)."""
        value = self._sketch.quantile(q)
        return None if value is None else dt.timedelta(seconds=value)

    @property
    def median(self) -> dt.timedelta | None:
        """The median response time."""
        return self.quantile(0.5)

    @property
    def p90(self) -> dt.timedelta | None:
        """The 90th percentile response time."""
        return self.quantile(0.9)

    @property
    def p99(self) -> dt.timedelta | None:
        """The 99th percentile response time."""
        return self.quantile(0.99)

    @property
    def mean(self) -> dt.timedelta | None:
        """The mean response time (exact to the microsecond)."""
        n = self.n
        return None if n == 0 else dt.timedelta(microseconds=self._micros / n)

    def proportion_counts(self) -> tuple[int, int]:
        """``(within target, n)``, for :func:`carekit.metrics.compare`."""
        return (self._within, self.n)

    def result(self, confidence: float = 0.95) -> Estimate:
        """SLA attainment on 0..1 with a Wilson score interval."""
        return proportion_estimate(self._within, self.n, confidence)

    def empty_like(self) -> ResponseTime:
        """A new, empty accumulator with the same target, calendar and accuracy."""
        return ResponseTime(self._target, self._calendar,
                            relative_accuracy=self._sketch.relative_accuracy)

    def _settings(self) -> tuple[Any, ...]:
        calendar = None if self._calendar is None else _SameCalendar(self._calendar)
        return (self._target, self._sketch.relative_accuracy, calendar)

    def _state(self) -> tuple[Any, ...]:
        return (self._within, self._micros, self._sketch)

    def _absorb(self, other: Any) -> None:
        self._sketch = self._sketch.merge(other._sketch)
        self._within += other._within
        self._micros += other._micros


class _SameCalendar:
    """A calendar as merge compares it: by the days it closes and its hours, not identity.

    A :class:`~carekit.calendar.BusinessCalendar` compares by its holidays' dates (from
    1970 to 2100) and its other settings, so an equal calendar built in another process, or
    pickled to a Dask worker and back, still matches; another calendar compares by ``repr``.
    """

    __slots__ = ("key", "text")

    def __init__(self, calendar: Any) -> None:
        key = getattr(calendar, "_key", None)
        self.text = repr(calendar)
        self.key = key() if callable(key) else self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _SameCalendar) and self.key == other.key

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"calendar {self.text}"
