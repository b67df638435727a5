"""Fold event logs into journeys, fast and deterministically.

Examples:
    >>> import datetime as dt
    >>> from carekit.journeys import Event, order_journey, replay
    >>> t = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
    >>> events = [
    ...     Event("place", at=t, id="a1", journey_id="A", data={"channel": "sms"}),
    ...     Event("place", at=t, id="b1", journey_id="B"),
    ...     Event("acknowledge", at=t, id="a2", journey_id="A"),
    ... ]
    >>> journeys = replay(order_journey(), events)
    >>> {k: (j.state, j.channel) for k, j in journeys.items()}
    {'A': ('acknowledged', 'sms'), 'B': ('placed', None)}
"""

from __future__ import annotations

import gc
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from carekit.errors import CareKitError
from carekit.journeys._seen import SEEN_AS_TUPLE, SeenIds
from carekit.journeys.definition import JourneyDefinition, _due
from carekit.journeys.events import Event
from carekit.journeys.journey import (
    ActiveDeadline,
    DeadLetter,
    Journey,
    _apply,
    _check_entry,
    _new_deadline,
    _new_journey,
    _not_allowed,
    _owed_slot,
    _past_the_end,
    _start,
    _too_old,
    owed_records,
)

__all__ = ["replay"]

def replay(
    definition: JourneyDefinition,
    events: Iterable[Event],
    *,
    starts: Mapping[str, Journey] | None = None,
) -> dict[str, Journey]:
    """Fold events for many journeys, in any interleaving, into one journey each.

    Events are grouped by ``event.journey_id`` (required) and each journey's events are
    applied in the order given, exactly as :meth:`Journey.apply` would one by one (repeated
    ids ignored, out-of-order or disallowed events rejected). The result does not depend on
    how different journeys' events are interleaved.

    A journey not in ``starts`` starts implicitly at its first event's time, in the
    definition's initial state, with ``customer_id`` and ``channel`` taken from that first
    event's data keys ``"customer_id"`` and ``"channel"`` when present.

    Replay creates no reference cycles, so Python's cyclic garbage collector is paused
    while it runs (it would otherwise spend about a third of a large replay walking live
    objects) and restored when it returns or raises.

    Args:
        definition: the journey definition every event follows.
        events: the events, each with a ``journey_id``.
        starts: journeys to continue from, by id (e.g. loaded from a store).

    Returns:
        ``{journey_id: Journey}``, in order of first appearance (``starts`` first).

    Raises:
        InvalidTransition: an event is not allowed, fails its guard, or is out of order
            (the message names the journey).
        CareKitError: an event has no ``journey_id`` or is not an
            :class:`~carekit.journeys.Event`; ``events`` is not iterable; ``starts`` is not
            a mapping of journey id to :class:`~carekit.journeys.Journey`.
    """
    if not isinstance(definition, JourneyDefinition):
        msg = f"definition must be a JourneyDefinition (got {definition!r})"
        raise CareKitError(msg)
    try:
        iter(events)
    except TypeError:
        msg = f"events must be an iterable of Event objects (got {events!r})"
        raise CareKitError(msg) from None
    if starts is not None and not isinstance(starts, Mapping):
        msg = f"starts must be a mapping of journey id to Journey, or None (got {starts!r})"
        raise CareKitError(msg)
    # Replay builds many small objects and no reference cycles: the cyclic garbage collector
    # would spend a third of the time walking them (and the caller's events) for nothing.
    # Pause it while folding and restore it after (nothing here is freed by it anyway).
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return _replay(definition, events, starts)
    finally:
        if paused:
            gc.enable()


def _replay(
    definition: JourneyDefinition,
    events: Iterable[Event],
    starts: Mapping[str, Journey] | None,
) -> dict[str, Journey]:
    # Each journey's events, later replaced by its journey in place (order of appearance).
    groups: dict[Any, Any] = {}
    group_of = groups.get
    for ev in events:
        if type(ev) is not Event and not isinstance(ev, Event):
            msg = f"replay needs carekit.journeys.Event objects (got {ev!r})"
            raise CareKitError(msg)
        jid = ev.journey_id
        group = group_of(jid)
        if group is None:
            groups[jid] = [ev]
        else:
            group.append(ev)
    if None in groups:
        msg = f"replay needs events with a journey_id (got {groups[None][0]!r})"
        raise CareKitError(msg)
    if starts:
        ordered: dict[Any, Any] = {}
        for jid, journey in starts.items():
            if not isinstance(journey, Journey):
                msg = f"starts[{jid!r}] must be a Journey (got {journey!r})"
                raise CareKitError(msg)
            if journey.definition is not definition and journey.definition != definition:
                msg = (
                    f"starts[{jid!r}] follows journey definition {journey.definition.name!r}, "
                    f"not {definition.name!r}"
                )
                raise CareKitError(msg)
            ordered[jid] = groups.pop(jid, None)  # (None: no new events)
        ordered.update(groups)
        groups = ordered
    _fold_groups(definition, groups, starts or None)
    return groups


def _fold(definition: JourneyDefinition, journey: Journey | None, events: list[Event]) -> Journey:
    """``events`` (one journey's, at least one) applied to ``journey`` (None: start one)."""
    jid: Any = events[0].journey_id if journey is None else journey.journey_id
    groups: dict[Any, Any] = {jid: events}
    _fold_groups(definition, groups, None if journey is None else {jid: journey})
    return groups[jid]  # type: ignore[no-any-return]


def _fold_groups(
    definition: JourneyDefinition,
    groups: dict[Any, Any],
    starts: Mapping[str, Journey] | None,
) -> None:
    """Replace each ``groups[journey_id]`` (that journey's events) by the journey they make.

    Each journey's events are applied in a tight loop, exactly as :meth:`Journey.apply`
    would one by one, and the :class:`Journey` is built once at the end. A journey in
    ``starts`` continues from there (its group may be None: no new events); any other
    starts at its first event, in the initial state.
    """
    initial = definition.initial
    plain_start = not definition._enter_touchpoints[initial] and not (
        definition._enter_deadlines[initial]
    )
    fold_rows = definition._fold_rows
    first_row = fold_rows[initial]
    enter_deadlines = definition._enter_deadlines
    policy = definition.friction
    lazy_until = definition._lazy_until
    tolerance = definition.clock_tolerance
    # Only values are replaced while iterating (never keys), so the iterator stays valid; a
    # journey with an event the fold leaves to Journey.apply is redone one by one, and the
    # loop resumes with the next journey.
    items = iter(groups.items())
    while True:
        try:
            _fold_items(
                definition, groups, items, starts, initial, plain_start, fold_rows, first_row,
                enter_deadlines, policy, lazy_until, tolerance,
            )
            return
        except _OneByOne as redo:
            jid, events = redo.args
            groups[jid] = _one_by_one(
                definition, jid, events, None if starts is None else starts.get(jid)
            )


class _OneByOne(Exception):
    """Raised by the fold for a journey whose events it leaves to :meth:`Journey.apply`."""


def _one_by_one(
    definition: JourneyDefinition, jid: Any, events: list[Event], journey: Journey | None
) -> Journey:
    """``events`` applied one by one with :meth:`Journey.apply`, as the fold would."""
    if journey is None:
        first = events[0]
        data = first.data
        customer_id = data.get("customer_id") if data else None
        if customer_id is not None and not isinstance(customer_id, str):
            customer_id = str(customer_id)
        journey = _start(
            definition, jid, at=first.at, customer_id=customer_id,
            channel=data.get("channel") if data else None,
            tz=data.get("tz") if data else None,
        )
    for ev in events:
        journey = _apply(journey, ev).journey
    return journey


def _fold_items(
    definition: JourneyDefinition,
    groups: dict[Any, Any],
    items: Any,
    starts: Mapping[str, Journey] | None,
    initial: str,
    plain_start: bool,
    fold_rows: Any,
    first_row: Any,
    enter_deadlines: Any,
    policy: Any,
    lazy_until: Any,
    tolerance: Any,
) -> None:
    """The fold's loop over ``items`` (see :func:`_fold_groups`)."""
    for jid, group in items:
        journey = None if starts is None else starts.get(jid)
        if group is None:
            groups[jid] = journey
            continue
        events: list[Event] = group
        first = events[0]
        if journey is None:
            # A new journey. It starts in the initial state, which usually owes nothing on
            # entry: then no starting Journey object is needed (the common case).
            data = first.data
            if data:
                customer_id = data.get("customer_id")
                channel = data.get("channel")
                tz = data.get("tz")
                if customer_id is not None and not isinstance(customer_id, str):
                    customer_id = str(customer_id)
                plain = (
                    plain_start
                    and (channel is None or (isinstance(channel, str) and channel != ""))
                    and customer_id != ""
                    and tz is None
                )
            else:
                customer_id = channel = tz = None
                plain = plain_start
            if not plain:
                journey = _start(
                    definition, jid, at=first.at, customer_id=customer_id, channel=channel,
                    tz=tz,
                )
        if journey is None:
            prior: Collection[str] = ()
        else:
            if journey.journey_id != jid or (
                journey.deadlines and not enter_deadlines[journey.state]
            ):
                # Filed under another journey's id (apply refuses the events), or deadlines
                # the definition would not have set here (a hand-built journey; the loop
                # below only tracks deadlines of states that have some): go one by one.
                for ev in events:
                    journey = _apply(journey, ev).journey
                groups[jid] = journey
                continue
            prior = journey.seen_event_ids
        # A repeated id is a no-op: drop repeats first (rare), so the loop needs no id checks.
        ids: Any = [ev.id for ev in events]
        unique = set(ids)
        if (
            len(unique) != len(ids)
            or None in unique
            or (prior and not unique.isdisjoint(prior))
        ):
            events, ids = _first_of_each_id(events, prior)
            if not events:  # (only a continued journey: a new one keeps its first event)
                groups[jid] = journey
                continue
        if journey is None:
            state = initial
            row = first_row
            version = 0
            started_at = last = first.at
            friction = 0.0
            owed: list[Any] = []  # flat records (see _build_pending_owed)
            start_deadlines: tuple[ActiveDeadline, ...] = ()
            dead: tuple[DeadLetter, ...] = ()
        else:
            channel = journey.channel
            customer_id = journey.customer_id
            tz = journey.tz
            state = journey.state
            row = fold_rows[state]
            version = journey.version
            started_at = journey.started_at
            last = journey.updated_at
            friction = journey.friction
            owed = list(owed_records(_owed_slot(journey, Journey)))
            start_deadlines = journey.deadlines
            dead = journey.dead
            ids = (*prior, *ids)
        # The running deadlines; None while unchanged, a list while due times wait (below).
        active: tuple[ActiveDeadline, ...] | list[Any] | None = None
        for ev in events:
            at = ev.at
            if at < last:
                if last - at > tolerance:
                    raise _too_old(jid, state, ev, last, tolerance)
                at = last  # within the clock tolerance: as Journey.apply takes it
            try:
                row, state, special = row[ev.name]
            except KeyError:
                raise _not_allowed(jid, state, ev.name, definition._allowed[state]) from None
            version += 1
            data = ev.data
            if special is None:
                if not data and not friction:
                    last = at  # the common case: the event only moves the journey
                    continue
                weight = 0.0
            elif special[0] and at < lazy_until:
                # The usual work: owe touchpoints, start or stop deadlines. No calendar, far
                # from the end of time: nothing can fail, so keep what the due times need
                # and compute them when read (see _build_pending_owed).
                _, sets, owes, _ = special
                if sets is not None:
                    active = [sets, state, at, version] if sets else ()
                if owes is not None:
                    owed += (owes, version, at, data)
                if not data and not friction:
                    last = at
                    continue
                weight = 0.0
            else:
                source, transition, checks, tps, dls, deadlines_change, weight, lazy, owes = (
                    special[3]
                )
                if checks == 3:  # withdraws touchpoints or stops a deadline: Journey.apply
                    raise _OneByOne(jid, group)
                if checks == 1:
                    for needed in transition.requires:
                        value = data.get(needed)
                        if value is None or value == "":
                            _check_entry(jid, source, transition, ev)  # raises
                elif checks:
                    _check_entry(jid, source, transition, ev)
                if lazy and at < lazy_until:  # as above
                    if deadlines_change:
                        active = [dls, state, at, version] if dls else ()
                else:  # compute the due times now: an error is this event's
                    try:
                        if deadlines_change:
                            active = tuple([
                                _new_deadline(jid, state, b, _due(at, w, c), version)
                                for b, w, c in dls
                            ])
                        for _, _, within, delay, calendar in tps:
                            _due(_due(at, delay, calendar), within, calendar)
                    except OverflowError:
                        raise _past_the_end(jid, source, ev) from None
                if tps:  # built when read (see _build_pending_owed)
                    owed += (owes, version, at, data)
            if data and ("moment" in data or "sentiment" in data):
                weight += policy._from_data(data)
            if friction or weight:
                friction = max(0.0, policy._decay(friction, at - last) + weight)
            last = at
        if active is None:
            deadlines = start_deadlines
        elif type(active) is list:
            dls, target, at, entered_version = active
            deadlines = tuple([
                _new_deadline(jid, target, b, at + w, entered_version) for b, w, _ in dls
            ])
        else:
            deadlines = active  # type: ignore[assignment]
        groups[jid] = _new_journey(
            jid, definition, state, version, started_at, last, customer_id, channel,
            friction, owed or (), deadlines, dead,
            tuple(ids) if len(ids) <= SEEN_AS_TUPLE else SeenIds(ids), tz,
        )


def _first_of_each_id(
    events: list[Event], prior: Collection[str]
) -> tuple[list[Event], tuple[str, ...]]:
    """``events`` without those whose id was applied before (in ``prior`` or earlier here).

    Events without an id are kept; the ids returned are the kept events' ids, without None.
    """
    seen = set(prior)
    kept: list[Event] = []
    ids: list[str] = []
    for ev in events:
        eid = ev.id
        if eid is None:
            kept.append(ev)
        elif eid not in seen:
            seen.add(eid)
            kept.append(ev)
            ids.append(eid)
    return kept, tuple(ids)
