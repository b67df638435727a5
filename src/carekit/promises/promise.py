"""The :class:`Promise` value object and the :class:`Order` history record.

Examples:
    >>> import datetime as dt
    >>> from carekit.promises import Promise
    >>> at = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone.utc)
    >>> p = Promise(ordered_at=at, expected=dt.date(2026, 3, 20), promised=dt.date(2026, 3, 27),
    ...             padding=5, confidence=0.95)
    >>> p.promised - p.expected
    datetime.timedelta(days=7)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable
from typing import Any

import attrs

from carekit import _validate
from carekit.errors import CareKitError

__all__ = ["Order", "Promise", "StageForecast"]


def _check_date(name: str, value: Any) -> None:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        msg = f"{name} must be a datetime.date (got {value!r})"
        raise CareKitError(msg)


def _aware(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    _validate.aware(attribute.name, value)


def _date(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    _check_date(attribute.name, value)


def _optional_date(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _check_date(attribute.name, value)


def _padding(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    _validate.positive_int("padding", value, minimum=0)


def _confidence(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    _validate.probability("confidence", value, allow_one=False)


@attrs.frozen(kw_only=True)
class StageForecast:
    """The lead-time distribution of one stage (production, carrier) behind a promise.

    Args:
        name: the stage name (``"delivery"`` for single-stage promises).
        cdf: ``cdf[k]`` is the probability that the stage takes at most ``k`` business days;
            nondecreasing, in [0, 1]. Past its end the stage takes at least ``len(cdf)`` days.
    """

    name: str
    cdf: tuple[float, ...] = attrs.field(repr=False)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            msg = f"name must be a non-empty string (got {self.name!r})"
            raise CareKitError(msg)
        if self.cdf.__class__ is not tuple:
            if isinstance(self.cdf, (str, bytes)) or not isinstance(self.cdf, Iterable):
                msg = f"cdf must be a sequence of probabilities (got {self.cdf!r})"
                raise CareKitError(msg)
            object.__setattr__(self, "cdf", tuple(self.cdf))
        prev = 0.0
        for k, value in enumerate(self.cdf):
            f = _validate.finite(f"cdf[{k}]", value)
            if not prev - 1e-12 <= f <= 1 + 1e-12:
                msg = f"cdf must be nondecreasing within [0, 1] (got cdf[{k}]={value!r})"
                raise CareKitError(msg)
            prev = f


@attrs.frozen
class Promise:
    """A delivery promise: the internal estimate and the date shown to the customer.

    Args:
        ordered_at: when the order was placed (timezone-aware).
        expected: the internal best estimate of the delivery date (not shown).
        promised: the date promised to the customer, never before ``expected``.
        padding: business days between ``expected`` and ``promised``. carekit's estimators
            and :meth:`carekit.CareKit.adjust_promise` count it on the promise's calendar; a
            promise built by hand is taken as given (only a negative padding is refused).
        confidence: the target probability of delivering on or before ``promised``, in (0, 1).
        earliest: optional start of a delivery window "between ``earliest`` and ``promised``".
        segment: the segment (region, carrier, product line) the promise was made for.
        stages: the lead-time distributions the promise came from, used by
            :func:`carekit.promises.at_risk` (empty for rule-based promises).
        calendar: the :class:`~carekit.calendar.BusinessCalendar` the dates are on.

    Raises:
        CareKitError: a naive ``ordered_at``, ``promised`` before ``expected``, a negative
            padding, ``confidence`` outside (0, 1), ``earliest`` after ``promised``.

    Examples:
        >>> import datetime as dt
        >>> at = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone.utc)
        >>> Promise(ordered_at=at, expected=dt.date(2026, 3, 27), promised=dt.date(2026, 3, 20),
        ...         padding=0, confidence=0.9)
        Traceback (most recent call last):
        ...
        carekit.errors.CareKitError: promised must not be before expected ...
    """

    ordered_at: dt.datetime = attrs.field(validator=_aware)
    expected: dt.date = attrs.field(validator=_date)
    promised: dt.date = attrs.field(validator=_date)
    padding: int = attrs.field(validator=_padding)
    confidence: float = attrs.field(validator=_confidence)
    earliest: dt.date | None = attrs.field(default=None, validator=_optional_date, kw_only=True)
    segment: Hashable | None = attrs.field(default=None, kw_only=True)
    stages: tuple[StageForecast, ...] = attrs.field(
        default=(), eq=False, repr=False, kw_only=True
    )
    calendar: Any = attrs.field(default=None, eq=False, repr=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.promised < self.expected:
            msg = (
                f"promised must not be before expected (got promised={self.promised!r}, "
                f"expected={self.expected!r})"
            )
            raise CareKitError(msg)
        if self.earliest is not None and self.earliest > self.promised:
            msg = (
                f"earliest must not be after promised (got earliest={self.earliest!r}, "
                f"promised={self.promised!r})"
            )
            raise CareKitError(msg)
        if not isinstance(self.stages, tuple) or not all(
            isinstance(s, StageForecast) for s in self.stages
        ):
            msg = f"stages must be a tuple of StageForecast (got {self.stages!r})"
            raise CareKitError(msg)


_SETTERS = tuple(
    Promise.__dict__[name].__set__
    for name in ("ordered_at", "expected", "promised", "padding", "confidence", "earliest",
                 "segment", "stages", "calendar")
)


def make_promise(
    ordered_at: dt.datetime,
    expected: dt.date,
    promised: dt.date,
    padding: int,
    confidence: float,
    earliest: dt.date | None,
    segment: Hashable | None,
    stages: tuple[StageForecast, ...],
    calendar: Any,
    _new: Any = object.__new__,
    _s: tuple[Any, ...] = _SETTERS,
) -> Promise:
    """Build a :class:`Promise` from values the estimators already checked (hot path).

    Writes the slots directly: the values were validated where they were computed.
    """
    p: Promise = _new(Promise)
    _s[0](p, ordered_at)
    _s[1](p, expected)
    _s[2](p, promised)
    _s[3](p, padding)
    _s[4](p, confidence)
    _s[5](p, earliest)
    _s[6](p, segment)
    _s[7](p, stages)
    _s[8](p, calendar)
    return p


def _optional_aware(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _validate.aware(attribute.name, value)


@attrs.frozen(kw_only=True)
class Order:
    """One order of the history estimators learn from.

    Args:
        ordered_at: when the order was placed (timezone-aware).
        delivered_at: when it was delivered, or None while it is on its way (censored: it
            counts as "at least this long").
        segment: what the lead time depends on: None, a label (``"SP"``) or a tuple going from
            the broadest to the narrowest level (``("north", "carrier-a")``).

    Raises:
        CareKitError: naive datetimes, or ``delivered_at`` before ``ordered_at``.

    Examples:
        >>> import datetime as dt
        >>> utc = dt.timezone.utc
        >>> Order(ordered_at=dt.datetime(2026, 3, 2, tzinfo=utc),
        ...       delivered_at=dt.datetime(2026, 3, 1, tzinfo=utc))
        Traceback (most recent call last):
        ...
        carekit.errors.CareKitError: delivered_at must not be before ordered_at ...
    """

    ordered_at: dt.datetime = attrs.field(validator=_aware)
    delivered_at: dt.datetime | None = attrs.field(default=None, validator=_optional_aware)
    segment: Hashable | None = None

    def __attrs_post_init__(self) -> None:
        if self.delivered_at is not None and self.delivered_at < self.ordered_at:
            msg = (
                f"delivered_at must not be before ordered_at (got delivered_at="
                f"{self.delivered_at!r}, ordered_at={self.ordered_at!r})"
            )
            raise CareKitError(msg)
        try:
            hash(self.segment)
        except TypeError:
            msg = f"segment must be hashable, e.g. a string or a tuple (got {self.segment!r})"
            raise CareKitError(msg) from None


def as_orders(history: Any, name: str = "history") -> list[Order]:
    """Read ``history`` (Orders or ``(ordered_at, delivered_at[, segment])`` tuples)."""
    if isinstance(history, (str, bytes)) or not isinstance(history, Iterable):
        msg = (
            f"{name} must be an iterable of Order or (ordered_at, delivered_at, segment) "
            f"tuples (got {history!r})"
        )
        raise CareKitError(msg)
    orders: list[Order] = []
    for i, item in enumerate(history):
        if isinstance(item, Order):
            orders.append(item)
            continue
        if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
            msg = (
                f"{name}[{i}] must be an Order or an (ordered_at, delivered_at, segment) "
                f"tuple (got {item!r})"
            )
            raise CareKitError(msg)
        segment = item[2] if len(item) == 3 else None
        try:
            orders.append(Order(ordered_at=item[0], delivered_at=item[1], segment=segment))
        except CareKitError as exc:
            msg = f"{name}[{i}]: {exc}"
            raise CareKitError(msg) from None
    return orders
