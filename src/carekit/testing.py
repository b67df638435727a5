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
from carekit.channels import Channel, DeliveryResult
from carekit.errors import CareKitError
from carekit.hookspecs import hookimpl
from carekit.plugins import CareKit

__all__ = [  # noqa: F822 - JourneyStoreContract is imported on first use (module __getattr__)
    "Delivery",
    "JourneyStoreContract",
    "RecordingChannel",
    "aware",
    "make_carekit",
]


def __getattr__(name: str) -> Any:
    # The store conformance suite needs pytest: imported only when asked for.
    if name == "JourneyStoreContract":
        from carekit.journeys.stores._contract import JourneyStoreContract

        return JourneyStoreContract
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
    a repeated key is acknowledged but not recorded again (see :attr:`attempts` for every
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
