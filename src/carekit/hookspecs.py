# mypy: disable-error-code="empty-body"
"""Hook specifications: how plugins extend carekit.

Implement any of these in a plugin (a module or an object) with the :data:`hookimpl` marker
and register it with :meth:`carekit.CareKit.register`, or publish it under the ``carekit``
entry-point group so :class:`carekit.CareKit` finds it on its own. carekit always calls hooks
with keyword arguments, so an implementation may accept only the arguments it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from carekit.channels import Channel, DeliveryResult, SentKeys
    from carekit.journeys import Journey, JourneyDefinition, OwedTouchpoint, Touchpoint
    from carekit.promises import Promise

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "carekit"

hookspec = pluggy.HookspecMarker(PROJECT)
#: Decorate plugin functions with this marker (also ``from carekit import hookimpl``).
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def carekit_register_channels() -> list[Channel]:
    """Add channels (SMS gateways, WhatsApp, a kiosk…).

    Called once per :class:`~carekit.CareKit` when :attr:`~carekit.CareKit.channels` is
    first read after a plugin was registered.

    Returns:
        A list of :class:`carekit.channels.Channel`. Two plugins returning the same channel
        name is a :class:`carekit.PluginError` naming both plugins.
    """


@hookspec(firstresult=True)
def carekit_deliver_touchpoint(
    touchpoint: OwedTouchpoint,
    channel: Channel,
    idempotency_key: str,
    sent_keys: SentKeys | None = None,
) -> DeliveryResult | None:
    """Deliver one owed touchpoint on ``channel``.

    Called by :meth:`carekit.CareKit.dispatch` for each touchpoint that is due. The first
    plugin that returns a result wins.

    Args:
        touchpoint: the :class:`~carekit.journeys.OwedTouchpoint` (``.name``, ``.data``,
            ``.customer_id`` to look up whom to reach, ``.journey_id``, ``.due``…).
        channel: the :class:`~carekit.channels.Channel` it travels on.
        idempotency_key: stable for this touchpoint; pass it to your provider so a retry
            after a crash never sends twice.
        sent_keys: a :class:`~carekit.channels.SentKeys` bound to the worker's journey
            store, for providers that do not deduplicate: ``seen(key)`` and
            ``remember(key, reference=...)`` (``await seen_async``/``remember_async`` in a
            coroutine). Declare the argument to get it; ``None`` when the hook is called
            without a worker.

    Returns:
        ``None`` when the channel is not yours; a :class:`~carekit.channels.DeliveryResult`
        otherwise. Raise to report a failed attempt: it is retried later with backoff.
    """


@hookspec
def carekit_register_journeys() -> list[JourneyDefinition]:
    """Add journey definitions.

    Called when :attr:`carekit.CareKit.journeys` is first read after a plugin was registered.

    Returns:
        A list of :class:`carekit.journeys.JourneyDefinition`; names must be unique across
        plugins.
    """


@hookspec
def carekit_on_transition(journey: Journey, transition: Any) -> None:
    """Observe a journey transition (analytics, logging, CRM sync).

    Called after each transition, with the new journey and the transition that was taken,
    when a journey is advanced through a :class:`~carekit.CareKit` (``advance``,
    ``journey.apply(event, kit=kit)``, or a store's ``append(..., kit=kit)``, which calls
    observers once the batch is stored). An observer that raises never changes the
    journey's state; the error is reported (``step.errors``, or a warning on the
    ``carekit.journeys`` logger from a store).
    """


@hookspec
def carekit_adjust_promise(promise: Promise, context: dict[str, Any]) -> Promise | None:
    """Adjust a delivery promise (peak-season padding, a carrier strike).

    Called by :meth:`carekit.CareKit.adjust_promise`. ``context`` is the dict its caller
    passed (carekit adds nothing); the promise itself carries ``ordered_at``, ``segment`` and
    ``calendar``.

    Returns:
        ``None`` to leave the promise alone, or a new :class:`~carekit.promises.Promise` with
        a later ``promised`` date (``attrs.evolve(promise, promised=...)``; ``padding`` is
        recounted). Every plugin sees the same promise and the latest date wins; an earlier
        date than the promise's is ignored, one earlier than the internal estimate refused.
    """


@hookspec
def carekit_recovery_action(journey: Journey, friction: float) -> list[Touchpoint]:
    """Offer "make it right" touchpoints when a journey's friction crosses its threshold.

    Called by the journey engine with the journey and its friction score, each time the
    score crosses the threshold from below. Return touchpoints rather than act: they are
    stored with the event and sent by the dispatcher. A plugin that raises stops the event
    (a :class:`~carekit.PluginError`; a store keeps none of the batch).

    Returns:
        A list of :class:`carekit.journeys.Touchpoint` to owe the customer (an apology call,
        an upgrade, a free replacement), each with a name of its own, a ``within`` and
        usually a ``channel``; an empty list for none.
    """
