"""Drive a journey with a :class:`~carekit.CareKit`: recovery plugins and observers take part.

Examples:
    >>> import datetime as dt
    >>> from carekit.journeys import Event, advance, order_journey
    >>> from carekit.testing import make_carekit
    >>> kit = make_carekit()
    >>> t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
    >>> journey = order_journey().start("order-7", at=t0)
    >>> advance(kit, journey, Event("place", at=t0)).journey.state
    'placed'
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import attrs

from carekit.errors import CareKitError, PluginError
from carekit.journeys.definition import Touchpoint
from carekit.journeys.events import Event
from carekit.journeys.journey import Journey, OwedTouchpoint, Step, _apply

if TYPE_CHECKING:
    from carekit.plugins import CareKit

__all__ = ["advance"]


def advance(kit: CareKit, journey: Journey, event: Event) -> Step:
    """Apply ``event`` to ``journey`` and let ``kit``'s plugins take part.

    1. The pure :meth:`Journey.apply` runs first; if it raises, nothing else happens.
    2. If friction crossed the threshold (a ``RecoveryNeeded`` effect),
       ``carekit_recovery_action(journey, friction)`` is called and every touchpoint the
       plugins return is owed at once (due ``within`` after the event, on its channel or the
       customer's preferred one) and added to the step's effects.
    3. ``carekit_on_transition(journey, transition)`` observers are called with the new
       journey; an observer that raises does not change the journey: its failure is put in
       the step's effects (``step.errors``) instead.

    Args:
        kit: the :class:`~carekit.CareKit` whose plugins take part.
        journey: the journey before the event.
        event: what happened.

    Returns:
        The :class:`Step`, including recovery touchpoints and observer failures.

    Raises:
        InvalidTransition: as :meth:`Journey.apply`.
        CareKitError: ``kit`` is not a :class:`~carekit.CareKit`, ``journey`` not a
            :class:`Journey` or ``event`` not an :class:`Event`.
        PluginError: a recovery plugin raised or returned something other than touchpoints,
            or two recovery touchpoints (or one and a touchpoint the journey already owes)
            share a name, or a recovery touchpoint cannot be due (``within`` past the year
            9999); the message names the plugins. The event is then not applied:
            a store keeps none of the batch, so the caller can retry it.
    """
    check_kit(kit)
    if not isinstance(journey, Journey):
        msg = f"journey must be a carekit.journeys.Journey (got {journey!r:.200})"
        raise CareKitError(msg)
    step = _advance(kit, journey, event)
    failures = kit.notify_transition(step.journey, step.transition) if step.transition else ()
    if failures:
        step = Step(
            journey=step.journey, effects=(*step.effects, *failures), transition=step.transition
        )
    return step


def check_kit(kit: Any) -> None:
    """Refuse a ``kit`` that is not a :class:`~carekit.CareKit` (before anything is applied)."""
    if not isinstance(kit, _care_kit()):
        msg = f"kit must be a carekit.CareKit (got {kit!r})"
        raise CareKitError(msg)


@functools.cache
def _care_kit() -> type[CareKit]:
    """:class:`~carekit.CareKit`, imported once (`import carekit.journeys` needs no plugin host)."""
    from carekit.plugins import CareKit

    return CareKit


def _advance(kit: CareKit, journey: Journey, event: Event) -> Step:
    """:func:`advance` without the observers (a store calls them after its commit)."""
    step = _apply(journey, event)
    if step.duplicate or step.transition is None:
        return step
    new = step.journey
    recovery = step.recovery
    if recovery is not None:
        extra: list[OwedTouchpoint] = []
        by_plugin: dict[str, str] = {}  # recovery touchpoint name -> the plugin it came from
        for plugin, tp in kit._recovery_touchpoints(new, recovery.friction):
            if not isinstance(tp, Touchpoint):
                msg = (
                    f"plugin {plugin!r} returned {tp!r} from carekit_recovery_action; "
                    "expected carekit.journeys.Touchpoint objects"
                )
                raise PluginError(msg, plugins=[plugin])
            if tp.name in by_plugin:
                first = by_plugin[tp.name]
                source = (
                    f"twice by plugin {plugin!r}" if first == plugin
                    else f"by plugin {first!r} and by plugin {plugin!r}"
                )
                msg = (
                    f"recovery touchpoint {tp.name!r} is returned {source}; each recovery "
                    "touchpoint needs a name of its own"
                )
                raise PluginError(msg, plugins=sorted({first, plugin}), name=tp.name)
            by_plugin[tp.name] = plugin
            at = new.updated_at  # the event's time (as the journey took it)
            try:
                due = tp.due(at)
                not_before = tp.not_before(at) if tp.delay else None
            except (OverflowError, CareKitError):
                msg = (
                    f"plugin {plugin!r} returned recovery touchpoint {tp.name!r} with "
                    f"within={tp.within!r} and delay={tp.delay!r}, which cannot be due after "
                    f"{at.isoformat()}: that falls after the last date Python can represent "
                    "(year 9999)"
                )
                raise PluginError(msg, plugins=[plugin], name=tp.name) from None
            extra.append(
                OwedTouchpoint(
                    journey_id=new.journey_id,
                    name=tp.name,
                    state=new.state,
                    channel=tp.channel or new.channel,
                    due=due,
                    version=new.version,
                    owed_at=at,
                    data=event.data,
                    customer_id=new.customer_id,
                    not_before=not_before,
                    tz=new.tz,
                )
            )
        keys = {o.idempotency_key for o in new.owed}
        clash = [o.name for o in extra if o.idempotency_key in keys]
        if clash:
            plugins = sorted({by_plugin[name] for name in clash})
            msg = (
                f"recovery touchpoints {clash} (from plugin {', '.join(map(repr, plugins))}) "
                "clash with touchpoints the journey already owes under the same name; give "
                "recovery touchpoints their own names"
            )
            raise PluginError(msg, plugins=plugins)
        if extra:
            new = attrs.evolve(new, owed=new.owed + tuple(extra))
            return Step(
                journey=new, effects=(*step.effects, *extra), transition=step.transition
            )
    return step
