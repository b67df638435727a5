"""Promises kept and touchpoints delivered, from plain outcomes or from journeys."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from carekit import _validate
from carekit.errors import CareKitError
from carekit.metrics._base import require_iterable
from carekit.metrics.proportions import Proportion, check_flag

__all__ = ["PromiseKept", "TouchpointCoverage"]


def _optional_now(now: Any) -> dt.datetime | None:
    return None if now is None else _validate.aware("now", now)


class TouchpointCoverage(Proportion):
    """Touchpoint coverage: the share of owed touchpoints that reached the customer.

    Add ``True`` (delivered) or ``False`` (not delivered) per owed touchpoint, or a journey
    store's outbox entries (:class:`carekit.journeys.OutboxEntry`), or build it straight
    from a store with :meth:`from_journeys`. An outbox entry counts as:

    * ``"sent"``: delivered (with ``on_time=True``: only if sent by its due time);
    * ``"dead"``: not delivered;
    * ``"pending"``, and ``"failed"`` (an attempt failed, it will be retried) or
      ``"deferred"`` (put off by quiet hours or a plugin's ``retry_at``): not delivered once
      its due time is before ``now``; left out while it can still be delivered in time (or
      when no ``now`` is given);
    * ``"withdrawn"``: left out (no longer owed).

    Args:
        now: The cut-off for pending touchpoints (timezone-aware), or ``None``.
        on_time: Count a touchpoint as delivered only if it was sent by its due time.

    Examples:
        >>> from carekit.metrics import TouchpointCoverage
        >>> TouchpointCoverage().extend([True, True, True, False]).result().value
        0.75
    """

    __slots__ = ("_now", "_on_time")
    _flag = "delivered"

    def __init__(self, *, now: dt.datetime | None = None, on_time: bool = False) -> None:
        super().__init__()
        self._now = _optional_now(now)
        self._on_time = check_flag("on_time", on_time)

    def _outcome(self, entry: Any) -> bool | None:
        status = entry.status
        due = getattr(entry, "due", None)
        if status == "sent":
            settled = getattr(entry, "settled_at", None)
            if self._on_time and due is not None and settled is not None:
                return bool(settled <= due)
            return True
        if status == "dead":
            return False
        if status in ("pending", "failed", "deferred"):
            if self._now is not None and due is not None and due < self._now:
                return False
            return None
        if status == "withdrawn":
            return None
        msg = (
            "outbox entry status must be pending, failed, deferred, sent, dead or withdrawn "
            f"(got {status!r})"
        )
        raise CareKitError(msg)

    def add(self, value: Any) -> TouchpointCoverage:
        """Add one owed touchpoint: ``True``/``False`` or an outbox entry."""
        if hasattr(value, "status"):
            outcome = self._outcome(value)
            if outcome is not None:
                super().add(outcome)
            return self
        super().add(value)
        return self

    def extend(self, values: Iterable[Any]) -> TouchpointCoverage:
        """Add many touchpoints (booleans take the ``list.count`` fast path)."""
        require_iterable("values", values)
        items = values if isinstance(values, list) else list(values)
        if any(hasattr(v, "status") for v in items):
            for v in items:
                self.add(v)
            return self
        super().extend(items)
        return self

    @classmethod
    def from_journeys(
        cls,
        store: Any,
        *,
        now: dt.datetime,
        definition: str | None = None,
        on_time: bool = False,
    ) -> TouchpointCoverage:
        """Coverage of every touchpoint a journey store's journeys owed.

        Args:
            store: A journey store (:class:`carekit.journeys.MemoryJourneyStore`,
                :class:`carekit.journeys.SQLiteJourneyStore`); its outbox is read.
            now: Pending touchpoints due before ``now`` count as not delivered.
            definition: Only journeys of this definition (e.g. ``"order"``).
            on_time: Count only touchpoints sent by their due time.

        Returns:
            A new :class:`TouchpointCoverage`.
        """
        if not callable(getattr(store, "outbox", None)):
            msg = f"store must be a journey store with an outbox (got {store!r})"
            raise CareKitError(msg)
        entries = store.outbox()
        if definition is not None:
            ids = {s.journey_id for s in store.journeys(definition=definition)}
            entries = [e for e in entries if e.journey_id in ids]
        return cls(now=now, on_time=on_time).extend(entries)

    def empty_like(self) -> TouchpointCoverage:
        """A new, empty accumulator with the same ``now`` and ``on_time``."""
        return TouchpointCoverage(now=self._now, on_time=self._on_time)

    def _settings(self) -> tuple[Any, ...]:
        return (self._now, self._on_time)


def _promised_of(promise: Any) -> dt.date | dt.datetime:
    promised = getattr(promise, "promised", promise)
    if not isinstance(promised, dt.date):
        msg = f"promise must be a Promise, a date or a datetime (got {promise!r})"
        raise CareKitError(msg)
    if isinstance(promised, dt.datetime):
        _validate.aware("promised", promised)
    return promised


def _past(promised: dt.date | dt.datetime, now: dt.datetime) -> bool:
    if isinstance(promised, dt.datetime):
        return now > promised
    return now.date() > promised


def _kept(promised: dt.date | dt.datetime, delivered: dt.date | dt.datetime) -> bool:
    if isinstance(promised, dt.datetime):
        if not isinstance(delivered, dt.datetime):
            msg = (f"delivered_at must be a datetime when the promise is one "
                   f"(got {delivered!r})")
            raise CareKitError(msg)
        return _validate.aware("delivered_at", delivered) <= promised
    if isinstance(delivered, dt.datetime):
        # A promised day is kept by a delivery on that day, in the delivery's own time zone.
        _validate.aware("delivered_at", delivered)
        delivered = delivered.date()
    return delivered <= promised


class PromiseKept(Proportion):
    """Promises kept: the share of delivery promises met or beaten.

    Add ``True``/``False`` per promise, or a ``(promise, delivered_at)`` pair where
    ``promise`` is a :class:`carekit.promises.Promise` (its ``promised`` date or datetime
    is used) or a plain ``date``/``datetime``. A delivery on or before the promised date is
    kept. ``delivered_at=None`` means not delivered yet: late once ``now`` is past the
    promise, left out before that (or when no ``now`` is given).

    Args:
        now: The cut-off for undelivered promises (timezone-aware), or ``None``.

    Examples:
        >>> import datetime as dt
        >>> from carekit.metrics import PromiseKept
        >>> pk = PromiseKept().extend([
        ...     (dt.date(2026, 3, 20), dt.date(2026, 3, 18)),
        ...     (dt.date(2026, 3, 20), dt.date(2026, 3, 23)),
        ...     True,
        ... ])
        >>> round(pk.result().value, 3)
        0.667
    """

    __slots__ = ("_now",)
    _flag = "kept"

    def __init__(self, *, now: dt.datetime | None = None) -> None:
        super().__init__()
        self._now = _optional_now(now)

    def add(self, value: Any) -> PromiseKept:
        """Add one promise's outcome: ``True``/``False`` or ``(promise, delivered_at)``."""
        if isinstance(value, tuple):
            if len(value) != 2:
                msg = f"a promise outcome must be a (promise, delivered_at) pair (got {value!r})"
                raise CareKitError(msg)
            promised = _promised_of(value[0])
            delivered = value[1]
            if delivered is None:
                if self._now is not None and _past(promised, self._now):
                    super().add(False)
                return self
            if not isinstance(delivered, dt.date):
                msg = f"delivered_at must be a date, a datetime or None (got {delivered!r})"
                raise CareKitError(msg)
            super().add(_kept(promised, delivered))
            return self
        super().add(value)
        return self

    def extend(self, values: Iterable[Any]) -> PromiseKept:
        """Add many outcomes (booleans take the ``list.count`` fast path)."""
        require_iterable("values", values)
        items = values if isinstance(values, list) else list(values)
        if any(isinstance(v, tuple) for v in items):
            for v in items:
                self.add(v)
            return self
        super().extend(items)
        return self

    @classmethod
    def from_journeys(
        cls,
        store: Any,
        promises: Mapping[str, Any],
        *,
        now: dt.datetime,
        delivered_event: str = "deliver",
    ) -> PromiseKept:
        """Promises kept, reading delivery times from a journey store's event logs.

        Args:
            store: A journey store with ``events(journey_id)``
                (:class:`carekit.journeys.MemoryJourneyStore`,
                :class:`carekit.journeys.SQLiteJourneyStore`).
            promises: Journey id -> the promise made for it (a
                :class:`carekit.promises.Promise`, a date or a datetime).
            now: Undelivered orders count as late once ``now`` is past their promise.
            delivered_event: The event that marks delivery (``"deliver"`` in the built-in
                order journey).

        Returns:
            A new :class:`PromiseKept`.

        Raises:
            CareKitError: ``store`` has no ``events()``, ``promises`` is not a mapping,
                ``now`` is not timezone-aware, or a promise or delivery is invalid.
        """
        if not callable(getattr(store, "events", None)):
            msg = f"store must be a journey store with events() (got {store!r})"
            raise CareKitError(msg)
        if not isinstance(promises, Mapping):
            msg = ("promises must be a mapping of journey id to promise, such as a dict "
                   f"(got {promises!r})")
            raise CareKitError(msg)
        acc = cls(now=now)
        for journey_id, promise in promises.items():
            delivered = next(
                (e.at for e in store.events(journey_id) if e.name == delivered_event), None)
            acc.add((promise, delivered))
        return acc

    def empty_like(self) -> PromiseKept:
        """A new, empty accumulator with the same ``now``."""
        return PromiseKept(now=self._now)

    def _settings(self) -> tuple[Any, ...]:
        return (self._now,)
