"""Helpers for testing carekit plugins and apps that use carekit.

Examples:
    >>> from carekit.testing import RecordingChannel, make_carekit
    >>> recorder = RecordingChannel("pigeon")
    >>> kit = make_carekit(recorder)
    >>> "pigeon" in kit.channels
    True
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from carekit import _validate
from carekit.channels import Channel, DeliveryResult, SentKeys
from carekit.errors import CareKitError
from carekit.hookspecs import hookimpl
from carekit.plugins import CareKit

__all__ = [  # noqa: F822 - the store contracts are imported on first use (module __getattr__)
    "AsyncJourneyStoreContract",
    "Delivery",
    "JourneyStoreContract",
    "RecordingChannel",
    "aware",
    "deliver",
    "make_carekit",
    "owed_touchpoint",
    "sent_keys",
]


def __getattr__(name: str) -> Any:
    # The store conformance suites need pytest: imported only when asked for.
    if name == "JourneyStoreContract":
        from carekit.journeys.stores._contract import JourneyStoreContract

        return JourneyStoreContract
    if name == "AsyncJourneyStoreContract":
        from carekit.journeys.stores._async_contract import AsyncJourneyStoreContract

        return AsyncJourneyStoreContract
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def make_carekit(*plugins: object, load_entrypoints: bool = False) -> CareKit:
    """A :class:`~carekit.CareKit` with only the built-ins and ``plugins`` registered.

    Entry-point plugins installed in the environment are left out unless
    ``load_entrypoints=True``, so a test sees exactly the plugins it names.
    """
    return CareKit(load_entrypoints=load_entrypoints, plugins=plugins)


@attrs.frozen(kw_only=True)
class Delivery:
    """One delivery a :class:`RecordingChannel` received."""

    touchpoint: Any
    channel: Channel
    idempotency_key: str


class RecordingChannel:
    """A channel plugin that records what it is asked to deliver instead of sending it.

    Args:
        name: the channel name to register, or an existing channel's name with
            ``register=False`` to take over delivery for a built-in channel.
        fail_times: raise on the first ``fail_times`` attempts (to test retries).
        register: register a :class:`~carekit.channels.Channel` called ``name``.
        channel: the full channel to register (overrides ``name``'s defaults).

    Deliveries are recorded once per idempotency key, as a well-behaved provider would:
    a repeated key is acknowledged but not recorded again (see ``attempts`` for every
    call).
    """

    def __init__(
        self,
        name: str = "recorder",
        *,
        fail_times: int = 0,
        register: bool = True,
        channel: Channel | None = None,
    ) -> None:
        if channel is not None and not isinstance(channel, Channel):
            msg = f"channel must be a carekit.channels.Channel or None (got {channel!r})"
            raise CareKitError(msg)
        self.channel_def = channel if channel is not None else Channel(name=name)
        self.name = self.channel_def.name
        self.fail_times = fail_times
        self._register = register
        self.deliveries: list[Delivery] = []
        self.attempts: list[Delivery] = []
        self._keys: set[str] = set()

    @hookimpl
    def carekit_register_channels(self) -> list[Channel]:
        return [self.channel_def] if self._register else []

    @hookimpl
    def carekit_deliver_touchpoint(
        self, touchpoint: Any, channel: Channel, idempotency_key: str
    ) -> DeliveryResult | None:
        if channel.name != self.name:
            return None
        delivery = Delivery(touchpoint=touchpoint, channel=channel, idempotency_key=idempotency_key)
        self.attempts.append(delivery)
        if len(self.attempts) <= self.fail_times:
            msg = f"{self.name}: simulated failure {len(self.attempts)} of {self.fail_times}"
            raise ConnectionError(msg)
        if idempotency_key not in self._keys:
            self._keys.add(idempotency_key)
            self.deliveries.append(delivery)
        return DeliveryResult(delivered=True, reference=f"{self.name}-{len(self.deliveries)}")

    @property
    def names(self) -> list[str]:
        """The touchpoint names delivered, in order."""
        return [getattr(d.touchpoint, "name", repr(d.touchpoint)) for d in self.deliveries]

    def clear(self) -> None:
        """Forget every recorded delivery and attempt."""
        self.deliveries.clear()
        self.attempts.clear()
        self._keys.clear()


def aware(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    *,
    tz: dt.tzinfo = dt.timezone.utc,
) -> dt.datetime:
    """A timezone-aware datetime (UTC by default), for short test code.

    Raises:
        CareKitError: not a valid date and time, or ``tz`` is not a ``datetime.tzinfo``.
    """
    if not isinstance(tz, dt.tzinfo):
        msg = f"tz must be a datetime.tzinfo such as zoneinfo.ZoneInfo('UTC') (got {tz!r})"
        raise CareKitError(msg)
    try:
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=tz)
    except (TypeError, ValueError, OverflowError) as exc:
        parts = ", ".join(map(_validate.short, (year, month, day, hour, minute, second)))
        msg = f"aware({parts}) is not a date and time: {exc}"
        raise CareKitError(msg) from None


def sent_keys(
    store: Any = None, *, channel: str | None = None, at: dt.datetime | None = None
) -> SentKeys:
    """A :class:`~carekit.channels.SentKeys` for a plugin's tests, as the worker makes one.

    Args:
        store: the journey store to keep notes in (default: a new
            :class:`~carekit.journeys.MemoryJourneyStore`); pass the same store to two
            calls to see the second find the first's note.
        channel: the channel notes are made for.
        at: when notes are dated (default: now, in UTC).

    Raises:
        CareKitError: a naive ``at``.

    Examples:
        >>> from carekit.testing import sent_keys
        >>> sent = sent_keys(channel="sms")
        >>> sent.remember("order-1/order_thanks/2"), sent.remember("order-1/order_thanks/2")
        (True, False)
    """
    if store is None:
        from carekit.journeys import MemoryJourneyStore

        store = MemoryJourneyStore()
    when = dt.datetime.now(dt.timezone.utc) if at is None else at
    return SentKeys(store, at=when, channel=channel)


def owed_touchpoint(
    name: str,
    *,
    journey_id: str = "order-1",
    data: Any = None,
    customer_id: str | None = None,
    channel: str | None = None,
    tz: str | None = None,
    version: int = 1,
    at: dt.datetime | None = None,
    state: str = "",
) -> Any:
    """An :class:`~carekit.journeys.OwedTouchpoint` as a worker hands it to a plugin.

    Args:
        name: the touchpoint's name (``"shipped_with_tracking"``).
        journey_id: the journey that owes it.
        data: the triggering event's data (``{"tracking_number": "1Z999"}``).
        customer_id: the journey's customer.
        channel: the touchpoint's channel.
        tz: the customer's zone (an IANA name).
        version: the journey version that owed it (part of the idempotency key).
        at: when it became owed (default: 2026-03-02 09:00 UTC); due an hour later.
        state: the state the journey was in (default: ``name``'s, unknown: empty).

    Raises:
        CareKitError: a naive ``at``, data that is not a mapping of JSON values, an
            unknown zone, an ``at`` within an hour of the end of the datetime range.

    Examples:
        >>> from carekit.testing import owed_touchpoint
        >>> owed_touchpoint("shipped_with_tracking", version=5).idempotency_key
        'order-1/shipped_with_tracking/5'
    """
    from carekit.journeys import OwedTouchpoint
    from carekit.journeys.events import Event
    from carekit.journeys.journey import zone_name

    when = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc) if at is None else at
    _validate.aware("at", when)
    checked = Event("owed", at=when, data=data).data  # the checks event data gets
    try:
        due = when + dt.timedelta(hours=1)
    except OverflowError:
        raise _validate.beyond_range("at", when, "a touchpoint due an hour later") from None
    return OwedTouchpoint(
        journey_id=journey_id, name=name, state=state, channel=channel,
        due=due, version=version, owed_at=when, data=checked,
        customer_id=customer_id, tz=None if tz is None else zone_name(tz),
    )


def deliver(
    kit: CareKit,
    touchpoint: Any,
    *,
    channel: str | Channel,
    idempotency_key: str | None = None,
    sent_keys: SentKeys | None = None,
) -> DeliveryResult | None:
    """Call ``carekit_deliver_touchpoint`` as the worker does: first answer wins, coroutine
    plugins run to their answer, ``sent_keys`` passed to the plugins that declare it.

    Args:
        kit: the :class:`~carekit.CareKit` holding the plugins.
        touchpoint: what to deliver (see :func:`owed_touchpoint`).
        channel: the channel's name (one of ``kit.channels``) or the channel.
        idempotency_key: the key (default: the touchpoint's own).
        sent_keys: the durable notes to hand over (see :func:`sent_keys`); ``None`` as
            when the hook is called without a worker.

    Returns:
        The first plugin's answer, or ``None`` when no plugin delivers ``channel``.

    Raises:
        CareKitError: an unknown channel; whatever a plugin raised, as it raised it.

    Examples:
        >>> from carekit.testing import RecordingChannel, deliver, make_carekit, owed_touchpoint
        >>> kit = make_carekit(RecordingChannel("pigeon"))
        >>> deliver(kit, owed_touchpoint("order_thanks"), channel="pigeon").delivered
        True
    """
    from carekit.journeys.advance import check_kit
    from carekit.journeys.worker import _first_answer, _Raised

    check_kit(kit)
    found = channel if isinstance(channel, Channel) else kit.channel(channel)
    if idempotency_key is None:
        key = getattr(touchpoint, "idempotency_key", None)
        if not isinstance(key, str):
            msg = (
                "touchpoint must be an owed touchpoint with an idempotency_key (see "
                f"owed_touchpoint), or pass idempotency_key= (got {touchpoint!r:.200})"
            )
            raise CareKitError(msg)
    elif not isinstance(idempotency_key, str) or not idempotency_key:
        msg = f"idempotency_key must be a non-empty string or None (got {idempotency_key!r})"
        raise CareKitError(msg)
    else:
        key = idempotency_key
    try:
        _, answer = _first_answer(kit, touchpoint, found, key, sent_keys)
    except _Raised as exc:
        raise exc.error from None
    result: DeliveryResult | None = answer
    return result
