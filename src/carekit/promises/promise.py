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
import math
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import attrs

from carekit import _validate
from carekit.errors import CareKitError

__all__ = ["HistoryError", "Order", "Promise", "PromiseCosts", "StageForecast"]


class HistoryError(CareKitError):
    """A row of an order history is malformed; ``row`` is its position (0 for the first).

    Raised for the first bad row found, so fixing rows one error at a time always terminates.
    """

    def __init__(self, message: str, *, row: int | None = None) -> None:
        self.row = row
        super().__init__(message)


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
        reliable: False when the estimator had too little recent history of this segment to
            stand behind the date (it then rests on a broader segment, see ``basis``, or on
            the fixed ``fallback`` lead): show it as provisional, or confirm it later.
        basis: the segment path whose own recent history the promise rests on: the
            segment's own path (``("SP",)``), a broader one it fell back to (``()`` is all
            orders), or None for a rule-based promise or the fixed ``fallback`` lead.

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
    reliable: bool = attrs.field(default=True, kw_only=True)
    basis: tuple[Hashable, ...] | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.reliable is not True and self.reliable is not False:
            msg = f"reliable must be True or False (got {self.reliable!r})"
            raise CareKitError(msg)
        if self.basis is not None and not isinstance(self.basis, tuple):
            msg = f"basis must be None or a segment path (a tuple) (got {self.basis!r})"
            raise CareKitError(msg)
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

    def to_dict(self) -> dict[str, Any]:
        """The promise as JSON-safe data (ISO dates), to carry in journey event data.

        :meth:`from_dict` rebuilds an equal promise, with its stage distributions and its
        business calendar (kept as its workdays, cut-off, zone, hours and the holidays it
        closes on from the order's year to the year after the promised date).

        Raises:
            CareKitError: the segment is not a string, number, bool, None or a tuple of
                those; the calendar is not a :class:`~carekit.calendar.BusinessCalendar`.

        Examples:
            >>> import datetime as dt, json
            >>> at = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone.utc)
            >>> p = Promise(ordered_at=at, expected=dt.date(2026, 3, 20),
            ...             promised=dt.date(2026, 3, 27), padding=5, confidence=0.95)
            >>> data = json.loads(json.dumps(p.to_dict()))
            >>> data["promised"], Promise.from_dict(data) == p
            ('2026-03-27', True)
        """
        from carekit.promises._json import promise_to_dict

        return promise_to_dict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Promise:
        """The promise :meth:`to_dict` described.

        Raises:
            CareKitError: ``data`` is not a dict :meth:`to_dict` made (or it was edited into
                an impossible promise).
        """
        from carekit.promises._json import promise_from_dict

        return promise_from_dict(data)


_SETTERS = tuple(
    Promise.__dict__[name].__set__
    for name in ("ordered_at", "expected", "promised", "padding", "confidence", "earliest",
                 "segment", "stages", "calendar", "reliable", "basis")
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
    reliable: bool = True,
    basis: tuple[Hashable, ...] | None = None,
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
    _s[9](p, reliable)
    _s[10](p, basis)
    return p


def _positive_cost(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    _validate.positive(attribute.name, value)


@attrs.frozen(kw_only=True)
class PromiseCosts:
    """What a late delivery costs against each day of padding, to choose promises by cost.

    A promise ``k`` business days out costs ``per_day * k`` (a later date loses
    conversions) plus ``late`` when the order arrives after it. Given a segment's lead-time
    distribution ``F``, the cheapest promise minimises ``per_day * k + late * (1 - F(k))``:
    it sits where one more day of padding would buy less than ``per_day / late`` of
    probability, so each segment gets its own quantile: high where lead times are tight
    (a day buys a lot), lower where they have a long tail (a day buys little).

    Args:
        late: the cost of one late delivery (complaint, contact, refund, churn), > 0.
        per_day: the cost of promising one business day later (lost conversion), > 0;
            only the ratio ``late / per_day`` matters.

    Raises:
        CareKitError: a cost that is not a positive finite number.

    Examples:
        >>> PromiseCosts(late=30.0).ratio
        30.0
    """

    late: float = attrs.field(validator=_positive_cost)
    per_day: float = attrs.field(default=1.0, validator=_positive_cost)

    @property
    def ratio(self) -> float:
        """``late / per_day``: how many days of padding one late delivery is worth."""
        return float(self.late) / float(self.per_day)


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
        cancelled: True for an order that was cancelled (never to be delivered): it is left
            out of lead times altogether, neither delivered nor censored, and counted apart.
        order_id: an optional identifier; a history holding the same id twice is refused.

    Raises:
        CareKitError: naive datetimes, ``delivered_at`` before ``ordered_at``, a
            ``cancelled`` that is not True or False, an unhashable segment or id.

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
    cancelled: bool = False
    order_id: Hashable | None = None

    def __attrs_post_init__(self) -> None:
        if self.cancelled is not True and self.cancelled is not False:
            msg = f"cancelled must be True or False (got {self.cancelled!r})"
            raise CareKitError(msg)
        if self.delivered_at is not None and self.delivered_at < self.ordered_at:
            msg = (
                f"delivered_at must not be before ordered_at (got delivered_at "
                f"{self.delivered_at.isoformat()}, ordered_at {self.ordered_at.isoformat()})"
            )
            raise CareKitError(msg)
        try:
            hash(self.segment)
        except TypeError:
            msg = f"segment must be hashable, e.g. a string or a tuple (got {self.segment!r})"
            raise CareKitError(msg) from None
        try:
            hash(self.order_id)
        except TypeError:
            msg = f"order_id must be hashable, e.g. a string (got {self.order_id!r})"
            raise CareKitError(msg) from None


_TRUE = frozenset({"1", "true", "yes", "y", "t"})
_FALSE = frozenset({"", "0", "false", "no", "n", "f"})


def parse_cancelled(value: Any, where: str) -> bool:
    """``value`` read as a cancelled flag: a bool, 0/1, None or a yes/no word (as in CSVs)."""
    if value is True or value is False:
        return value
    if value is None:
        return False
    if value.__class__.__name__ == "bool_":  # NumPy's bool, as pandas rows hold it
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    msg = (
        f"{where}: cancelled must be True or False (or 1/0, 'yes'/'no', 'true'/'false', "
        f"empty for not cancelled) (got {_validate.short(value)})"
    )
    raise HistoryError(msg, row=_row_of(where))


def _cell(value: Any) -> Any:
    """``value``, or None for an empty cell as pandas gives it: ``NaT``, ``NA`` or ``NaN``.

    ``DataFrame.to_dict("records")`` fills a missing datetime with ``NaT`` (a naive
    datetime to the standard library) and a missing number or text with ``NaN``.
    """
    if type(value).__name__ in ("NaTType", "NAType"):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _row_of(where: str) -> int | None:
    start = where.rfind("[")
    if start < 0 or not where.endswith("]"):
        return None
    text = where[start + 1:-1]
    return int(text) if text.isdigit() else None


def _zone_state(value: Any) -> bool | None:
    """True for an aware datetime, False for a naive one, None for anything else."""
    if not isinstance(value, dt.datetime):
        return None
    return value.tzinfo is not None and value.utcoffset() is not None


def read_history(history: Any, segment: Any = None, name: str = "history") -> list[Order]:
    """Read an order history into :class:`Order` objects, sorted by ``ordered_at``.

    Rows may be Orders, ``(ordered_at, delivered_at[, segment])`` tuples, or mappings with
    the keys ``ordered_at``, ``delivered_at`` and optionally ``segment`` (or the column
    ``segment`` names, when it is a string), ``cancelled`` and ``order_id``. A callable
    ``segment`` is applied to every row's segment. Cancelled orders are kept (flagged).

    Raises:
        HistoryError: the first bad row, named by its position: a naive time among aware
            ones, a delivery before its order, a repeated order id, an unknown cancelled
            value, a row of the wrong shape, a mapping without the column ``segment`` names.
    """
    if isinstance(history, Mapping):
        msg = f"{name} must be an iterable of orders, not a mapping"
        raise HistoryError(msg)
    if isinstance(history, (str, bytes, type)) or not isinstance(history, Iterable):
        msg = (
            f"{name} must be an iterable of Order or (ordered_at, delivered_at, segment) "
            f"tuples (got {history!r})"
        )
        raise HistoryError(msg)
    orders: list[Order] = []
    seen_ids: dict[Hashable, int] = {}
    aware_row: int | None = None  # the first row with an aware time, to name in a mix-up
    column = segment if isinstance(segment, str) else "segment"
    for i, item in enumerate(history):
        where = f"{name}[{i}]"
        if isinstance(item, Order):
            order = item
        else:
            cancelled = False
            order_id = None
            if isinstance(item, Mapping):
                if "ordered_at" not in item:
                    msg = f"{where} has no 'ordered_at' key (got {_validate.short(item)})"
                    raise HistoryError(msg, row=i)
                if isinstance(segment, str) and segment not in item:
                    # A misspelt column would put every order in one segment without a word.
                    keys = sorted(map(str, item))
                    more = f" and {len(keys) - 20} more" if len(keys) > 20 else ""
                    msg = (
                        f"{where} has no {segment!r} key, the column segment={segment!r} "
                        f"names (its keys: {keys[:20]}{more})"
                    )
                    raise HistoryError(msg, row=i)
                ordered, delivered = item["ordered_at"], item.get("delivered_at")
                seg = item.get(column)
                cancelled = parse_cancelled(_cell(item.get("cancelled")), where)
                order_id = _cell(item.get("order_id"))
            elif isinstance(item, (tuple, list)) and len(item) in (2, 3):
                ordered, delivered = item[0], item[1]
                seg = item[2] if len(item) == 3 else None
            else:
                msg = (
                    f"{where} must be an Order, an (ordered_at, delivered_at, segment) "
                    f"tuple or a mapping with those keys (got {_validate.short(item)})"
                )
                raise HistoryError(msg, row=i)
            if _cell(ordered) is None:
                msg = f"{where}: ordered_at is missing (got {ordered!r}); every order needs one"
                raise HistoryError(msg, row=i)
            delivered, seg = _cell(delivered), _cell(seg)
            for label, value in (("ordered_at", ordered), ("delivered_at", delivered)):
                state = _zone_state(value)
                if state is False and aware_row is not None:
                    first = "this row's ordered_at" if aware_row == i else f"{name}[{aware_row}]"
                    msg = (
                        f"{where}: {label} is naive ({value!r}) but {first} is timezone-aware; "
                        "a history must not mix naive and aware times (hint: attach the "
                        "shop's zone to every time, e.g. value.replace(tzinfo=ZoneInfo(...)))"
                    )
                    raise HistoryError(msg, row=i)
                if state and aware_row is None:
                    aware_row = i
            try:
                order = Order(ordered_at=ordered, delivered_at=delivered, segment=seg,
                              cancelled=cancelled, order_id=order_id)
            except CareKitError as exc:
                msg = f"{where}: {exc}"
                raise HistoryError(msg, row=i) from None
        if order.order_id is not None:
            first_row = seen_ids.setdefault(order.order_id, i)
            if first_row != i:
                msg = (
                    f"{where}: order_id {order.order_id!r} repeats {name}[{first_row}]; each "
                    "order must appear once (keep its latest state, e.g. "
                    "drop_duplicates('order_id', keep='last'))"
                )
                raise HistoryError(msg, row=i)
        if callable(segment):
            order = attrs.evolve(order, segment=call_segment(segment, order.segment))
        orders.append(order)
    orders.sort(key=_placed)
    return orders


def _placed(order: Order) -> dt.datetime:
    return order.ordered_at


def call_segment(fn: Any, value: Any) -> Hashable:
    """``fn(value)``, a failure or an unhashable result turned into a CareKitError."""
    try:
        result = fn(value)
        hash(result)
    except CareKitError:
        raise
    except Exception as exc:
        msg = f"segment function failed on {value!r}: {exc!r}"
        raise CareKitError(msg) from exc
    seg: Hashable = result
    return seg


def as_orders(history: Any, name: str = "history") -> list[Order]:
    """Read ``history`` (Orders, tuples or mappings), in the order given (see read_history)."""
    if isinstance(history, (str, bytes, type)) or not isinstance(history, Iterable):
        msg = (
            f"{name} must be an iterable of Order or (ordered_at, delivered_at, segment) "
            f"tuples (got {history!r})"
        )
        raise HistoryError(msg)
    return read_history(list(history), None, name)
