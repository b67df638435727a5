"""Share-of-yes accumulators: first-contact resolution, service level, repeat customers.

Each result is a proportion on 0..1 with a Wilson score interval (Wilson 1927; Newcombe
1998, method 3), which stays inside 0..1 and keeps an honest width for small samples and
for shares of 0 % or 100 %.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Hashable, Iterable
from numbers import Real
from typing import Any, Literal, TypeVar

from carekit import _validate
from carekit.errors import CareKitError
from carekit.metrics._base import Accumulator, record_hint, require_iterable
from carekit.metrics.estimate import Estimate
from carekit.metrics.scores import proportion_estimate

__all__ = [
    "FirstContactResolution",
    "Proportion",
    "RepeatCustomers",
    "ServiceLevel",
]

_P = TypeVar("_P", bound="Proportion")

#: The total count at which a proportion is refused, ``2**1024 - 2**970`` (about 1.8e308),
#: the first integer too large for a float (the Wilson interval divides by the count as a
#: float).
MAX_COUNT = 2**1024 - 2**970


def _flag_error(name: str, value: Any) -> CareKitError:
    msg = f"{name} must be True or False (got {_validate.short(value)})"
    return CareKitError(msg + record_hint(value, f"r[{name!r}] == 'yes'"))


def check_flag(name: str, value: Any) -> bool:
    """Return ``value`` as a bool if it is True/False (or 1/0)."""
    if value is True or value is False:
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise _flag_error(name, value)


def count_flags(name: str, values: Iterable[Any]) -> tuple[int, int]:
    """``(number of True, number of values)``, validated; ``list.count`` does the work."""
    items = values if isinstance(values, (list, tuple)) else list(values)
    try:
        yes = items.count(True)
        no = items.count(False)
    except ArithmeticError:  # Decimal("sNaN") == True signals; the loop below names it
        yes = no = -1
    if yes + no == len(items):
        return (yes, len(items))
    for value in items:
        check_flag(name, value)
    raise AssertionError("unreachable")  # pragma: no cover


class Proportion(Accumulator):
    """A count of successes out of ``n``; the base of every share-of-yes metric.

    ``add(True)``/``add(False)`` (1/0 are accepted too); :meth:`result` is the share with a
    Wilson score interval.

    Examples:
        >>> from carekit.metrics import Proportion
        >>> Proportion().extend([True, True, False, True]).result().value
        0.75
    """

    __slots__ = ("_n", "_successes")
    _flag = "value"

    def __init__(self) -> None:
        self._successes = 0
        self._n = 0

    def add(self: _P, value: Any) -> _P:
        """Add one yes/no observation."""
        self._successes += check_flag(self._flag, value)
        self._n += 1
        return self

    def extend(self: _P, values: Iterable[Any]) -> _P:
        """Add many yes/no observations; validated, counted with ``list.count``."""
        require_iterable("values", values)
        yes, n = count_flags(self._flag, values)
        self._successes += yes
        self._n += n
        return self

    def add_counts(self: _P, successes: int, n: int) -> _P:
        """Add pre-counted data: ``successes`` out of ``n``.

        Raises:
            CareKitError: a count that is not an int >= 0, ``successes`` above ``n``, or a
                total count (with what was added before) of :data:`MAX_COUNT` or more,
                too large for the float arithmetic of the interval.
        """
        successes = _validate.positive_int("successes", successes, minimum=0)
        n = _validate.positive_int("n", n, minimum=0)
        if successes > n:
            msg = (f"successes must be <= n (got successes={_validate.short(successes)}, "
                   f"n={_validate.short(n)})")
            raise CareKitError(msg)
        if self._n + n >= MAX_COUNT:
            msg = (f"n must keep the total count below 2**1024 - 2**970 (about 1.8e308), the "
                   f"float limit (got {_validate.short(n)} on top of {_validate.short(self._n)})")
            raise CareKitError(msg)
        self._successes += successes
        self._n += n
        return self

    @property
    def n(self) -> int:
        """How many observations were added."""
        return self._n

    @property
    def successes(self) -> int:
        """How many observations were a yes."""
        return self._successes

    def proportion_counts(self) -> tuple[int, int]:
        """``(successes, n)``, for :func:`carekit.metrics.compare`."""
        return (self._successes, self._n)

    def result(self, confidence: float = 0.95) -> Estimate:
        """The share of yes on 0..1 with a Wilson score interval."""
        return proportion_estimate(self._successes, self._n, confidence)

    def empty_like(self: _P) -> _P:
        """A new, empty accumulator of the same kind."""
        return type(self)()

    def _settings(self) -> tuple[Any, ...]:
        return ()

    def _state(self) -> tuple[Any, ...]:
        return (self._successes, self._n)

    def _absorb(self, other: Any) -> None:
        if self._n + other._n >= MAX_COUNT:
            msg = (f"the merged count would reach 2**1024 - 2**970 (about 1.8e308), the float "
                   f"limit ({_validate.short(self._n)} + {_validate.short(other._n)})")
            raise CareKitError(msg)
        self._successes += other._successes
        self._n += other._n


class FirstContactResolution(Proportion):
    """First-contact resolution (FCR): the share of issues resolved in the first contact.

    Add ``True`` for an issue solved in the customer's first contact, ``False`` for one that
    needed a repeat contact, a transfer or a callback.

    Examples:
        >>> from carekit.metrics import FirstContactResolution
        >>> fcr = FirstContactResolution().add_counts(successes=70, n=100)
        >>> round(fcr.result().value, 2)
        0.7
    """

    __slots__ = ()
    _flag = "resolved"


Abandoned = Literal["missed", "excluded", "short_excluded", "met_if_short"]
_ABANDONED = ("missed", "excluded", "short_excluded", "met_if_short")


#: The longest duration accepted as a number of seconds: the largest float that a
#: ``datetime.timedelta`` can hold (999,999,999 days and just under 86,400 seconds).
MAX_SECONDS = math.nextafter(dt.timedelta.max.total_seconds(), 0.0)


def seconds_of(name: str, value: Any) -> float:
    """A non-negative ``timedelta`` or number of seconds, as float seconds.

    Raises:
        CareKitError: ``value`` is not a duration, is negative, not finite, or longer than
            a ``datetime.timedelta`` can hold (:data:`MAX_SECONDS`).
    """
    if isinstance(value, dt.timedelta):
        # timedelta.max in float seconds rounds up past timedelta.max: take the float below.
        return min(_validate.duration(name, value).total_seconds(), MAX_SECONDS)
    if isinstance(value, bool) or not isinstance(value, Real):
        _validate.duration(name, value)  # raises with the house message
    seconds = _validate.non_negative(name, value)
    if seconds > MAX_SECONDS:
        msg = (f"{name} is too long for a duration: at most {MAX_SECONDS!r} seconds "
               f"(got {seconds!r} seconds)")
        raise CareKitError(msg)
    return seconds


def fast_seconds(name: str, items: list[Any]) -> list[float] | None:
    """``items`` if they are all numbers from 0 to :data:`MAX_SECONDS` seconds, else ``None``.

    ``None`` sends the caller to its checked path, which names the bad value.
    """
    if not items:
        return []
    try:
        total = sum(items)
        lowest = min(items)
    except (TypeError, ArithmeticError):  # e.g. Decimal("NaN") refuses to compare
        return None
    if not isinstance(total, (int, float)) or isinstance(lowest, bool):
        return None
    # NaN and infinities fail the bound on the total; with every item >= 0, so does any
    # item longer than MAX_SECONDS.
    if not (total <= MAX_SECONDS and lowest >= 0):
        return None
    return items


class ServiceLevel(Accumulator):
    """Service level: the share of contacts answered within ``answer_within``.

    A contact waiting exactly ``answer_within`` counts as answered in time. How abandoned
    contacts count is explicit, because the usual formulas differ only there:

    * ``"missed"`` (default): every abandoned contact is a miss —
      answered in time / offered.
    * ``"excluded"``: abandoned contacts are left out — answered in time / answered.
    * ``"short_excluded"``: contacts abandoned within the threshold are left out, later
      abandons are misses — answered in time / (answered + abandoned after the threshold).
    * ``"met_if_short"``: contacts abandoned within the threshold count as met.

    Args:
        answer_within: The threshold, a ``timedelta`` or seconds, > 0.
        abandoned: How abandoned contacts count (see above).

    Examples:
        >>> import datetime as dt
        >>> from carekit.metrics import ServiceLevel
        >>> sl = ServiceLevel(dt.timedelta(seconds=20))
        >>> sl.extend([5, 12, 30, 19, 41]).add(8, abandoned=True).result().value
        0.5
    """

    __slots__ = ("_abandoned", "_answer_within", "_counts")

    def __init__(self, answer_within: dt.timedelta | float, *,
                 abandoned: Abandoned = "missed") -> None:
        self._answer_within = _validate.positive_duration("answer_within", answer_within)
        if abandoned not in _ABANDONED:
            msg = f"abandoned must be one of {list(_ABANDONED)} (got {abandoned!r})"
            raise CareKitError(msg)
        self._abandoned: Abandoned = abandoned
        # answered in time, answered late, abandoned in time, abandoned late
        self._counts = [0, 0, 0, 0]

    @property
    def answer_within(self) -> dt.timedelta:
        """The threshold."""
        return self._answer_within

    def add(self, value: Any, *, abandoned: bool = False) -> ServiceLevel:
        """Add one contact's wait (``timedelta`` or seconds); ``abandoned=True`` if it hung up.

        A ``(wait, abandoned)`` tuple is accepted too, so :meth:`extend` can mix both.
        """
        if isinstance(value, tuple):
            if len(value) != 2:
                msg = f"a contact must be a wait or a (wait, abandoned) pair (got {value!r})"
                raise CareKitError(msg)
            value, abandoned = value
        seconds = seconds_of("wait", value)
        late = seconds > self._answer_within.total_seconds()
        self._counts[2 * check_flag("abandoned", abandoned) + late] += 1
        return self

    def extend(self, values: Iterable[Any]) -> ServiceLevel:
        """Add many waits (answered contacts) or ``(wait, abandoned)`` pairs."""
        require_iterable("values", values)
        items = values if isinstance(values, list) else list(values)
        seconds = fast_seconds("wait", items)
        if seconds is None:
            for value in items:
                self.add(value)
            return self
        threshold = self._answer_within.total_seconds()
        in_time = sum(1 for s in seconds if s <= threshold)
        self._counts[0] += in_time
        self._counts[1] += len(seconds) - in_time
        return self

    @property
    def n(self) -> int:
        """Contacts offered (answered and abandoned)."""
        return sum(self._counts)

    @property
    def abandoned(self) -> int:
        """Contacts abandoned."""
        return self._counts[2] + self._counts[3]

    def proportion_counts(self) -> tuple[int, int]:
        """``(met, counted)`` under the abandoned-contacts rule."""
        a_in, a_late, ab_in, ab_late = self._counts
        if self._abandoned == "missed":
            return (a_in, a_in + a_late + ab_in + ab_late)
        if self._abandoned == "excluded":
            return (a_in, a_in + a_late)
        if self._abandoned == "short_excluded":
            return (a_in, a_in + a_late + ab_late)
        return (a_in + ab_in, a_in + a_late + ab_in + ab_late)

    def result(self, confidence: float = 0.95) -> Estimate:
        """The service level on 0..1 with a Wilson score interval."""
        return proportion_estimate(*self.proportion_counts(), confidence)

    def empty_like(self) -> ServiceLevel:
        """A new, empty accumulator with the same threshold and rule."""
        return ServiceLevel(self._answer_within, abandoned=self._abandoned)

    def _settings(self) -> tuple[Any, ...]:
        return (self._answer_within, self._abandoned)

    def _state(self) -> tuple[Any, ...]:
        return tuple(self._counts)

    def _absorb(self, other: Any) -> None:
        self._counts = [a + b for a, b in zip(self._counts, other._counts, strict=True)]


class RepeatCustomers(Accumulator):
    """Repeat-customer rate: the share of customers who ordered more than once.

    Add one customer id per order (or visit). The accumulator keeps a count per customer,
    so partitions that share customers merge correctly; memory grows with the number of
    distinct customers.

    Args:
        min_orders: Orders that make a customer a repeat customer (default 2).

    Examples:
        >>> from carekit.metrics import RepeatCustomers
        >>> rc = RepeatCustomers().extend(["ann", "bob", "ann", "cy", "bob", "dee"])
        >>> rc.result().value
        0.5
    """

    __slots__ = ("_min_orders", "_orders")

    def __init__(self, *, min_orders: int = 2) -> None:
        self._min_orders = _validate.positive_int("min_orders", min_orders, minimum=2)
        self._orders: Counter[Hashable] = Counter()

    def add(self, value: Any) -> RepeatCustomers:
        """Add one order by customer ``value`` (any hashable id but ``None``).

        Raises:
            CareKitError: ``value`` is ``None`` or cannot be hashed (a list, a tuple
                holding a list...).
        """
        self._check(value)
        self._orders[value] += 1
        return self

    @staticmethod
    def _check(value: Any) -> None:
        # isinstance(value, Hashable) is not enough: a tuple holding a list passes it.
        try:
            hash(value)
        except TypeError:
            hashable = False
        else:
            hashable = value is not None
        if not hashable:
            msg = f"customer_id must be a hashable id, not None (got {value!r})"
            raise CareKitError(msg)

    def extend(self, values: Iterable[Any]) -> RepeatCustomers:
        """Add many orders, counted with :class:`collections.Counter`.

        Raises:
            CareKitError: ``values`` is not iterable or holds an id :meth:`add` refuses;
                nothing is added then.
        """
        require_iterable("values", values)
        items = values if isinstance(values, (list, tuple)) else list(values)
        batch: Counter[Hashable] = Counter()
        try:
            batch.update(items)
        except TypeError:
            for value in items:
                self._check(value)
            raise
        if None in batch:
            self._check(None)
        self._orders.update(batch)
        return self

    @property
    def n(self) -> int:
        """Distinct customers."""
        return len(self._orders)

    @property
    def orders(self) -> int:
        """Orders added."""
        return sum(self._orders.values())

    def proportion_counts(self) -> tuple[int, int]:
        """``(repeat customers, customers)``."""
        repeat = sum(1 for c in self._orders.values() if c >= self._min_orders)
        return (repeat, len(self._orders))

    def result(self, confidence: float = 0.95) -> Estimate:
        """The repeat-customer share on 0..1 with a Wilson score interval."""
        return proportion_estimate(*self.proportion_counts(), confidence)

    def empty_like(self) -> RepeatCustomers:
        """A new, empty accumulator with the same ``min_orders``."""
        return RepeatCustomers(min_orders=self._min_orders)

    def _settings(self) -> tuple[Any, ...]:
        return (self._min_orders,)

    def _state(self) -> tuple[Any, ...]:
        return (dict(self._orders),)

    def _absorb(self, other: Any) -> None:
        self._orders.update(other._orders)
