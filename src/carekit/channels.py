"""Channels through which carekit reaches customers, and the outcome of a delivery.

A :class:`Channel` describes *how* a touchpoint travels (email, phone, a WhatsApp gateway…);
plugins add channels through the ``carekit_register_channels`` hook and deliver touchpoints
through ``carekit_deliver_touchpoint`` (whose ``sent_keys`` argument, a :class:`SentKeys`,
keeps the keys a plugin sent durably in the journey store). The built-in channels are
registered by a built-in plugin, the same way a third party registers its own.

Examples:
    >>> from carekit.channels import Channel
    >>> Channel("whatsapp").response_target is None
    True
    >>> Channel(name="chat_plus", live=True, concurrency=4).concurrency
    4
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from carekit import _validate
from carekit._sent import SentKeys
from carekit.errors import CareKitError
from carekit.hookspecs import hookimpl

__all__ = ["BUILTIN_CHANNELS", "Channel", "DeliveryResult", "SentKeys"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _check_name(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not _NAME.match(value):
        msg = (
            f"Channel name must be a lowercase identifier such as 'sms' or 'whatsapp' "
            f"(letters, digits, underscores; got {value!r})"
        )
        raise CareKitError(msg)


def _check_concurrency(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    _validate.positive_int("concurrency", value)


def _to_target(value: object) -> dt.timedelta | None:
    return None if value is None else _validate.positive_duration("response_target", value)


def _check_live(instance: object, attribute: attrs.Attribute[bool], value: object) -> None:
    if not isinstance(value, bool):
        msg = f"live must be True or False (got {value!r})"
        raise CareKitError(msg)


def _to_quiet_hours(value: object) -> tuple[dt.time, dt.time] | None:
    if value is None:
        return None
    if isinstance(value, (tuple, list)) and len(value) == 2:
        times = [_local_time(t) for t in value]
        if times[0] is not None and times[1] is not None and times[0] != times[1]:
            return (times[0], times[1])
    msg = (
        "quiet_hours must be (start, end) as two different naive datetime.time values or "
        "'HH:MM' texts, such as (time(21, 0), time(8, 0)) or ('21:00', '08:00'), or None "
        f"(got {value!r})"
    )
    raise CareKitError(msg)


def _local_time(value: object) -> dt.time | None:
    """A naive time, or ISO 8601 text for one (``"21:00"``, as a config file gives it)."""
    try:
        value = _validate.time_text("quiet_hours", value)
    except CareKitError:
        return None
    if isinstance(value, dt.time) and value.tzinfo is None:
        return value
    return None


def _to_zone(value: object) -> str | None:
    if value is None:
        return None
    from carekit.journeys.journey import zone_name

    return zone_name(value)


@attrs.frozen
class Channel:
    """A way of reaching a customer.

    Args:
        name: unique lowercase identifier (``"email"``, ``"whatsapp"``).
        description: one line for humans.
        live: ``True`` for real-time conversations (phone, chat, in store), ``False`` for
            asynchronous ones (email, SMS, web).
        concurrency: how many conversations one agent can hold at once (chat: often 2–4);
            the asyncio worker also delivers at most this many touchpoints on the channel
            at once.
        response_target: how quickly a contact on this channel should be answered (a
            ``timedelta`` or seconds), or ``None``.
        quiet_hours: ``(start, end)`` local times between which nothing is sent on this
            channel (``(time(21, 0), time(8, 0))``, or ``("21:00", "08:00")``, spans
            midnight); a touchpoint that becomes sendable inside the window is sent when it
            ends. ``None``: never quiet.
        tz: the zone quiet hours are kept in (an IANA name) when the journey does not
            carry the customer's own zone, which wins; default UTC.

    Raises:
        CareKitError: a name that is not a lowercase identifier, a concurrency below 1, a
            response target that is not a positive duration, quiet hours that are not two
            different naive times, an unknown zone.

    Examples:
        >>> import datetime as dt
        >>> sms = Channel("sms", quiet_hours=(dt.time(21), dt.time(8)), tz="Europe/London")
        >>> late = dt.datetime(2026, 3, 28, 23, 30, tzinfo=dt.timezone.utc)   # a Saturday
        >>> sms.quiet_until(late).isoformat()    # the clocks go forward that night
        '2026-03-29T08:00:00+01:00'
    """

    name: str = attrs.field(validator=_check_name)
    description: str = attrs.field(default="", kw_only=True)
    live: bool = attrs.field(default=False, validator=_check_live, kw_only=True)
    concurrency: int = attrs.field(default=1, validator=_check_concurrency, kw_only=True)
    response_target: dt.timedelta | None = attrs.field(
        default=None, converter=_to_target, kw_only=True
    )
    quiet_hours: tuple[dt.time, dt.time] | None = attrs.field(
        default=None, converter=_to_quiet_hours, kw_only=True
    )
    tz: str | None = attrs.field(default=None, converter=_to_zone, kw_only=True)

    def quiet_until(self, now: dt.datetime, tz: str | None = None) -> dt.datetime | None:
        """When the quiet window ``now`` falls in ends, or ``None`` when it is not quiet.

        Args:
            now: the moment to check (timezone-aware).
            tz: the customer's zone (an IANA name), which wins over the channel's own.

        Returns:
            The end of the window as an aware datetime in the zone used (the first moment
            at or after the end's wall time, across daylight-saving changes), or ``None``.

        Raises:
            CareKitError: a naive ``now``, an unknown ``tz``, a ``now`` so near year 1 or
                9999 that the window's end lies beyond the datetime range.
        """
        _validate.aware("now", now)
        if self.quiet_hours is None:
            return None
        zone = ZoneInfo(_to_zone(tz) or self.tz or "UTC")
        start, end = self.quiet_hours
        try:
            local = now.astimezone(zone)
            clock = local.time().replace(tzinfo=None)
            day = local.date()
            if start < end:
                if not start <= clock < end:
                    return None
            elif clock >= start:
                day += dt.timedelta(days=1)
            elif clock >= end:
                return None
            wall = dt.datetime.combine(day, end, tzinfo=zone)
            # A wall time inside a spring-forward gap does not exist: take the instant it
            # names in the zone's offset before the change, which lies just after the gap.
            return wall.astimezone(dt.timezone.utc).astimezone(zone)
        except OverflowError:
            raise _validate.beyond_range(
                "now", now, f"finding the end of channel {self.name!r}'s quiet window"
            ) from None


def _check_delivered(instance: object, attribute: attrs.Attribute[bool], value: object) -> None:
    if not isinstance(value, bool):
        msg = f"DeliveryResult delivered must be True or False (got {value!r})"
        raise CareKitError(msg)


def _to_reference(value: object) -> str | None:
    # Provider SDKs hand back UUIDs, ints and the like: keep their text, the same in every
    # store.
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _check_retry_at(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    _validate.aware("DeliveryResult retry_at", value)
    if getattr(instance, "delivered", False):
        msg = (
            "DeliveryResult retry_at asks to try later, so delivered must be False "
            f"(got delivered=True, retry_at={value!r})"
        )
        raise CareKitError(msg)


@attrs.frozen
class DeliveryResult:
    """What a channel plugin reports after handling a touchpoint.

    Args:
        delivered: ``True`` if the message left (or was already sent under the same
            idempotency key); ``False`` if the plugin did not send it: given up on
            (dead-lettered, not retried), or put off when ``retry_at`` is given.
        reference: the provider's message id, for tracing (a UUID or number is kept as
            its text).
        retry_at: with ``delivered=False``: not now, try again at this time ("not before
            08:00", a provider's rate limit). Not a failure: no attempt is used, and the
            outbox shows the touchpoint ``deferred`` until then.

    Raises:
        CareKitError: ``delivered`` that is not a bool, a naive ``retry_at``, ``retry_at``
            with ``delivered=True``.

    Examples:
        >>> import datetime as dt
        >>> at = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.timezone.utc)
        >>> DeliveryResult(delivered=False, retry_at=at).retry_at == at
        True
    """

    delivered: bool = attrs.field(default=True, validator=_check_delivered)
    reference: str | None = attrs.field(default=None, converter=_to_reference)
    retry_at: dt.datetime | None = attrs.field(
        default=None, validator=_check_retry_at, kw_only=True
    )


BUILTIN_CHANNELS: tuple[Channel, ...] = (
    Channel(
        name="email",
        description="Email; answer within one hour",
        response_target=dt.timedelta(hours=1),
    ),
    Channel(
        name="phone",
        description="Voice calls; 80 % answered within 20 seconds",
        live=True,
        response_target=dt.timedelta(seconds=20),
    ),
    Channel(
        name="sms", description="Text messages", response_target=dt.timedelta(hours=1)
    ),
    Channel(
        name="chat",
        description="Web or app chat; one agent holds several conversations",
        live=True,
        concurrency=3,
        response_target=dt.timedelta(seconds=60),
    ),
    Channel(
        name="web",
        description="Notices in the customer's account or order page",
        response_target=dt.timedelta(hours=24),
    ),
    Channel(
        name="in_store",
        description="Face to face on the shop floor; acknowledge within a minute",
        live=True,
        response_target=dt.timedelta(seconds=60),
    ),
)


class BuiltinChannels:
    """The built-in plugin that registers carekit's own channels."""

    @hookimpl
    def carekit_register_channels(self) -> list[Channel]:
        return list(BUILTIN_CHANNELS)
