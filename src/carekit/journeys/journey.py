"""Journey instances: immutable, driven by events, always knowing what is owed next.

Examples:
    >>> import datetime as dt
    >>> from carekit.journeys import Event, order_journey
    >>> t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
    >>> order = order_journey().start("order-42", at=t0, channel="email")
    >>> step = order.apply(Event("place", at=t0, id="e1"))
    >>> step.journey.state, step.journey.version
    ('placed', 1)
    >>> step = step.journey.apply(Event("acknowledge", at=t0 + dt.timedelta(minutes=5)))
    >>> [(tp.name, tp.channel, tp.idempotency_key) for tp in step.touchpoints]
    [('order_thanks', 'email', 'order-42/order_thanks/2')]
"""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any, Literal

import attrs

from carekit import _validate
from carekit.errors import CareKitError, InvalidTransition
from carekit.journeys._fast import positional_constructor
from carekit.journeys._seen import SEEN_AS_TUPLE, add_seen
from carekit.journeys.definition import JourneyDefinition, Transition
from carekit.journeys.events import EMPTY, Event, EventData

if TYPE_CHECKING:
    from carekit.plugins import CareKit, ObserverFailure

__all__ = [
    "ActiveDeadline",
    "DeadLetter",
    "Journey",
    "Overdue",
    "OwedTouchpoint",
    "RecoveryNeeded",
    "Step",
    "TouchpointWithdrawn",
]

@attrs.frozen(kw_only=True, weakref_slot=False)
class OwedTouchpoint:
    """A touchpoint a journey owes its customer: what, on which channel, due when.

    Args:
        journey_id: the journey that owes it.
        name: the touchpoint's name (``"shipped_with_tracking"``).
        state: the state the journey was in when it became owed.
        channel: the touchpoint's own channel, else the customer's preferred one
            (``None`` when neither is known: the dispatcher picks a default).
        due: when it must be delivered by.
        version: the journey version whose event made it owed (0: the start).
        owed_at: when it became owed.
        data: the triggering event's data (e.g. ``{"tracking_number": "1Z999"}``).
        customer_id: the journey's customer (``None`` when the journey was started without
            one): a channel plugin looks up where to reach them by it.
        not_before: the earliest moment it may be sent (``owed_at`` plus the touchpoint's
            ``delay``); ``None`` when it may be sent as soon as it is owed.
        tz: the journey's (the customer's) time zone name, when known: quiet hours are kept
            in it, and a channel plugin may format dates in it.
    """

    journey_id: str
    name: str
    state: str
    channel: str | None
    due: dt.datetime
    version: int
    owed_at: dt.datetime
    data: EventData = attrs.field(default=EMPTY, hash=False)
    # The journey's, copied for channel plugins: journeys compare by their own customer_id.
    customer_id: str | None = attrs.field(default=None, eq=False)
    not_before: dt.datetime | None = None
    tz: str | None = attrs.field(default=None, eq=False)

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _OWED_FIELDS}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Pickles from carekit 0.1.0 have no customer_id: a missing field takes its default.
        for field in attrs.fields(OwedTouchpoint):
            if field.name in state:
                value = state[field.name]
            elif field.default is not attrs.NOTHING:
                value = field.default
            else:
                msg = f"cannot unpickle an OwedTouchpoint without {field.name!r}"
                raise CareKitError(msg)
            object.__setattr__(self, field.name, value)

    @property
    def idempotency_key(self) -> str:
        """Stable and deterministic, ``"{journey_id}/{name}/{version}"``."""
        return f"{self.journey_id}/{self.name}/{self.version}"

    @property
    def sendable_at(self) -> dt.datetime:
        """The earliest moment it may be sent, ``not_before`` or else ``owed_at``."""
        return self.owed_at if self.not_before is None else self.not_before

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields (datetimes as ISO 8601 strings)."""
        return {
            "journey_id": self.journey_id,
            "name": self.name,
            "state": self.state,
            "channel": self.channel,
            "due": self.due.isoformat(),
            "version": self.version,
            "owed_at": self.owed_at.isoformat(),
            "not_before": None if self.not_before is None else self.not_before.isoformat(),
            "idempotency_key": self.idempotency_key,
            "data": dict(self.data),
            "customer_id": self.customer_id,
            "tz": self.tz,
        }


_OWED_FIELDS = tuple(f.name for f in attrs.fields(OwedTouchpoint))


@attrs.frozen(kw_only=True, weakref_slot=False)
class ActiveDeadline:
    """A running deadline: leave ``state`` by ``due`` or ``breach_event`` is owed.

    Args:
        journey_id: the journey it runs for.
        state: the state the clock runs in.
        breach_event: the event name that reports the breach.
        due: when the deadline passes.
        version: the journey version that entered the state.
    """

    journey_id: str
    state: str
    breach_event: str
    due: dt.datetime
    version: int

    @property
    def idempotency_key(self) -> str:
        """``"{journey_id}/{breach_event}/{version}"``: also the breach event's id."""
        return f"{self.journey_id}/{self.breach_event}/{self.version}"

    def breach(self) -> Event:
        """The breach event, dated at the deadline, with a deterministic id."""
        return Event(
            self.breach_event, at=self.due, id=self.idempotency_key, journey_id=self.journey_id
        )


@attrs.frozen(kw_only=True)
class DeadLetter:
    """An owed touchpoint that could not be delivered and was given up on."""

    touchpoint: OwedTouchpoint
    at: dt.datetime
    reason: str


@attrs.frozen(kw_only=True, weakref_slot=False)
class TouchpointWithdrawn:
    """Effect: a touchpoint owed but not yet sent no longer makes sense (see ``State.withdraws``).

    A store marks it ``withdrawn`` in its outbox; it is never sent, unless a delivery already
    in flight reports it sent (the store then records it ``sent``).
    """

    touchpoint: OwedTouchpoint


@attrs.frozen(kw_only=True)
class RecoveryNeeded:
    """Effect: friction crossed the definition's threshold; make it right.

    :func:`carekit.journeys.advance` asks the ``carekit_recovery_action`` plugins for
    touchpoints when it sees this effect.
    """

    journey_id: str
    friction: float
    threshold: float
    at: dt.datetime


@attrs.frozen(kw_only=True, weakref_slot=False)
class DeadlineSet:
    """Effect: a deadline started running."""

    deadline: ActiveDeadline


@attrs.frozen(kw_only=True, weakref_slot=False)
class DeadlineCleared:
    """Effect: the journey left a state in time; its deadline no longer runs."""

    deadline: ActiveDeadline


@attrs.frozen(kw_only=True)
class Overdue:
    """Something late: a breached deadline or a touchpoint not delivered in time.

    Args:
        kind: ``"deadline"`` or ``"touchpoint"``.
        journey_id: the journey.
        name: the breach event (deadlines) or the touchpoint name.
        state: the state it belongs to.
        due: when it was due.
        idempotency_key: the touchpoint's key, or the breach event's id.
        dead: the touchpoint was dead-lettered (it will not be retried).
        reason: why it was dead-lettered.
    """

    kind: Literal["deadline", "touchpoint"]
    journey_id: str
    name: str
    state: str
    due: dt.datetime
    idempotency_key: str
    dead: bool = False
    reason: str | None = None

    def late_by(self, now: dt.datetime) -> dt.timedelta:
        """How late it is at ``now``."""
        return _validate.aware("now", now) - self.due


#: An effect in a :class:`Step`: an :class:`OwedTouchpoint`, :class:`DeadlineSet`,
#: :class:`DeadlineCleared`, :class:`TouchpointWithdrawn`, :class:`RecoveryNeeded` or (from
#: ``advance``) an ``ObserverFailure``.
Effect = Any


@attrs.frozen(weakref_slot=False)
class Step:
    """The result of applying one event: the new journey and what it now requires.

    ``Step(journey, effects)`` may be built positionally, as the journey engine's contract
    writes it; ``transition`` and ``duplicate`` are keyword-only.

    Args:
        journey: the journey after the event.
        effects: touchpoints now owed (:class:`OwedTouchpoint`), deadlines set or cleared
            (:class:`DeadlineSet`, :class:`DeadlineCleared`), touchpoints withdrawn
            (:class:`TouchpointWithdrawn`), :class:`RecoveryNeeded`, and, from
            :func:`~carekit.journeys.advance`, observer failures.
        transition: the transition taken (``None`` for a repeated event).
        duplicate: the event's id had already been applied; nothing changed.
    """

    journey: Journey
    effects: tuple[Effect, ...] = ()
    transition: Transition | None = attrs.field(default=None, kw_only=True)
    duplicate: bool = attrs.field(default=False, kw_only=True)

    @property
    def touchpoints(self) -> tuple[OwedTouchpoint, ...]:
        """The touchpoints this event made owed."""
        return tuple(e for e in self.effects if isinstance(e, OwedTouchpoint))

    @property
    def deadlines_set(self) -> tuple[ActiveDeadline, ...]:
        """Deadlines that started running."""
        return tuple(e.deadline for e in self.effects if isinstance(e, DeadlineSet))

    @property
    def deadlines_cleared(self) -> tuple[ActiveDeadline, ...]:
        """Deadlines that stopped running because the journey left their state."""
        return tuple(e.deadline for e in self.effects if isinstance(e, DeadlineCleared))

    @property
    def withdrawn(self) -> tuple[OwedTouchpoint, ...]:
        """Touchpoints this event withdrew (owed, not sent, no longer making sense)."""
        return tuple(e.touchpoint for e in self.effects if isinstance(e, TouchpointWithdrawn))

    @property
    def recovery(self) -> RecoveryNeeded | None:
        """The recovery effect, when friction crossed the threshold."""
        for e in self.effects:
            if isinstance(e, RecoveryNeeded):
                return e
        return None

    @property
    def errors(self) -> tuple[ObserverFailure, ...]:
        """Observers that raised (reported by :func:`~carekit.journeys.advance`)."""
        from carekit.plugins import ObserverFailure

        return tuple(e for e in self.effects if isinstance(e, ObserverFailure))


def _owed_tuple(owed: Iterable[OwedTouchpoint]) -> tuple[OwedTouchpoint, ...]:
    if type(owed) is tuple:
        return owed
    if isinstance(owed, (str, bytes)) or not isinstance(owed, Iterable):
        msg = f"Journey owed must be a tuple of OwedTouchpoint objects (got {owed!r})"
        raise CareKitError(msg)
    return tuple(owed)


@attrs.frozen(kw_only=True, weakref_slot=False)
class Journey:
    """One customer's journey through a definition; immutable.

    Build one with :meth:`JourneyDefinition.start` or :func:`~carekit.journeys.replay`;
    drive it with :meth:`apply`.

    Attributes:
        journey_id: its identifier.
        definition: the :class:`~carekit.journeys.JourneyDefinition` it follows.
        state: the current state's name.
        version: the number of events applied.
        started_at: when it started.
        updated_at: the time of the latest event applied (``started_at`` before any).
        customer_id: who it is for.
        channel: the customer's preferred channel.
        friction: the friction score as of ``updated_at`` (see :meth:`friction_at`).
        owed: touchpoints owed and not yet delivered or dead-lettered, oldest first.
        deadlines: deadlines running in the current state.
        dead: touchpoints given up on (still reported by :meth:`overdue`).
        seen_event_ids: ids of the events applied, in the order applied (a tuple while
            short, else an immutable ordered collection sharing storage between versions).
        tz: the customer's time zone name (``None``: not known); quiet hours are kept in it.
    """

    journey_id: str
    definition: JourneyDefinition = attrs.field(repr=False)
    state: str
    version: int
    started_at: dt.datetime
    updated_at: dt.datetime
    customer_id: str | None = None
    channel: str | None = None
    friction: float = 0.0
    # (an OwedLog or list in the slot holds replay's or apply's records: see OwedLog)
    owed: tuple[OwedTouchpoint, ...] = attrs.field(default=(), converter=_owed_tuple)
    deadlines: tuple[ActiveDeadline, ...] = ()
    dead: tuple[DeadLetter, ...] = ()
    seen_event_ids: Collection[str] = attrs.field(default=(), repr=False)
    tz: str | None = None

    @property
    def finished(self) -> bool:
        """Whether the journey is in a final state."""
        return self.definition.state(self.state).final

    @property
    def phase(self) -> Any:
        """The :class:`~carekit.journeys.Phase` of the current state."""
        return self.definition.state(self.state).phase

    def allowed_events(self) -> tuple[str, ...]:
        """The events allowed in the current state, sorted."""
        return self.definition.allowed_events(self.state)

    def apply(self, event: Event, *, kit: CareKit | None = None) -> Step:
        """Apply ``event`` and return the new journey with its effects.

        A repeated event id is a no-op (``step.duplicate``, no effects). With ``kit``, this
        is :func:`carekit.journeys.advance`: recovery plugins and transition observers run.

        Args:
            event: what happened.
            kit: a :class:`~carekit.CareKit` whose plugins should take part.

        Returns:
            A :class:`Step`.

        Raises:
            InvalidTransition: the event is not allowed in the current state (the message
                lists the allowed events), fails the transition's guard or required data,
                belongs to another journey, or is older than the journey's latest event.
            CareKitError: ``event`` is not an :class:`~carekit.journeys.Event`.
        """
        if kit is not None:
            from carekit.journeys.advance import advance

            return advance(kit, self, event)
        if type(event) is not Event and not isinstance(event, Event):
            msg = f"event must be a carekit.journeys.Event (got {event!r})"
            raise CareKitError(msg)
        jid = self.journey_id
        eid = event.id
        seen = self.seen_event_ids
        if eid is not None and eid in seen:
            return _new_step(self, (), None, True)
        state = self.state
        if event.journey_id is not None and event.journey_id != jid:
            msg = (
                f"event {event.name!r} belongs to journey {event.journey_id!r}, "
                f"not to journey {jid!r}"
            )
            raise InvalidTransition(msg, journey_id=jid, state=state, event=event.name)
        at = event.at
        last = self.updated_at
        definition = self.definition
        if at < last:
            if last - at > definition.clock_tolerance:
                raise _too_old(jid, state, event, last, definition.clock_tolerance)
            at = last  # within the tolerance: taken as happening with the latest event
        entry = definition._rows[state].get(event.name)
        if entry is None:
            raise _not_allowed(jid, state, event.name, definition._allowed[state])
        transition, target, moves, check, tps, dls, weight, owes, withdraws, stops = entry
        if check:
            _check_entry(jid, state, transition, event)
        version = self.version + 1
        data = event.data
        channel = self.channel
        deadlines = self.deadlines
        owed = _owed_slot(self, Journey)
        # Plain loops, not comprehensions: most lists here hold one item or none.
        effects: list[Effect] = []
        if withdraws is not None:
            owed = self._withdraw(withdraws, effects)
        try:
            if tps:
                customer_id = self.customer_id
                tz = self.tz
                for name, tp_channel, within, delay, calendar in tps:
                    not_before, due = _owed_times(at, within, delay, calendar)
                    effects.append(
                        _new_owed(
                            jid, name, target, tp_channel or channel, due, version, at, data,
                            customer_id, not_before, tz,
                        )
                    )
                # The journey keeps what the touchpoints are built from, not the objects
                # (see _build_pending_owed): fewer objects for the garbage collector to walk,
                # and a shared log, so owing one more costs O(1) however many are owed.
                if type(owed) is OwedLog:
                    owed = owed.plus(owes, version, at, data)
                elif not owed:  # nothing owed yet (a journey read from a store, say)
                    owed = OwedLog([owes, version, at, data], 4)
                else:
                    owed = OwedLog.of(owed).plus(owes, version, at, data)
            if stops and deadlines:
                # The deadline's breach was reported: it stops, so it is never reported again.
                name = event.name
                for d in deadlines:
                    if d.breach_event == name:
                        effects.append(_new_cleared(d))
                deadlines = tuple([d for d in deadlines if d.breach_event != name])
            if moves and (deadlines or dls):
                for d in deadlines:
                    effects.append(_new_cleared(d))
                entered: list[ActiveDeadline] = []
                for breach, within, calendar in dls:
                    d = _new_deadline(
                        jid, target, breach,
                        at + within if calendar is None
                        else calendar.add_business_hours(at, within),
                        version,
                    )
                    entered.append(d)
                    effects.append(_new_set(d))
                deadlines = tuple(entered)
        except OverflowError:
            raise _past_the_end(jid, state, event) from None
        friction = self.friction
        if data and ("moment" in data or "sentiment" in data):
            weight += definition.friction._from_data(data)
        if friction or weight:
            policy = definition.friction
            before = policy._decay(friction, at - last)
            friction = max(0.0, before + weight)
            if before < policy.threshold <= friction:
                effects.append(
                    RecoveryNeeded(
                        journey_id=jid, friction=friction, threshold=policy.threshold, at=at
                    )
                )
        if eid is not None:
            if type(seen) is tuple and len(seen) < SEEN_AS_TUPLE:
                seen = seen + (eid,)  # noqa: RUF005 - concatenation: one allocation
            else:
                seen = add_seen(seen, eid)
        new = _new_journey(
            jid, definition, target, version, self.started_at, at, self.customer_id, channel,
            friction, owed, deadlines, self.dead, seen, self.tz,
        )
        return _new_step(new, tuple(effects) if effects else (), transition, False)

    def _withdraw(self, which: bool | frozenset[str], effects: list[Effect]) -> Any:
        """The owed touchpoints left after withdrawing ``which``; effects for those withdrawn."""
        kept: list[OwedTouchpoint] = []
        for tp in self.owed:
            if which is True or tp.name in which:  # type: ignore[operator]
                effects.append(_new_withdrawn(tp))
            else:
                kept.append(tp)
        return tuple(kept)

    def friction_at(self, now: dt.datetime) -> float:
        """The friction score at ``now``, decayed since the latest event."""
        _validate.aware("now", now)
        return self.definition.friction._decay(self.friction, now - self.updated_at)

    def overdue(self, now: dt.datetime) -> list[Overdue]:
        """Deadlines breached and touchpoints not delivered in time, as of ``now``.

        Dead-lettered touchpoints are always included (``dead=True``). Sorted by due time.

        Raises:
            CareKitError: ``now`` is naive.
        """
        _validate.aware("now", now)
        late: list[Overdue] = [
            Overdue(
                kind="deadline",
                journey_id=self.journey_id,
                name=d.breach_event,
                state=d.state,
                due=d.due,
                idempotency_key=d.idempotency_key,
            )
            for d in self.deadlines
            if d.due < now
        ]
        late.extend(
            Overdue(
                kind="touchpoint",
                journey_id=self.journey_id,
                name=tp.name,
                state=tp.state,
                due=tp.due,
                idempotency_key=tp.idempotency_key,
            )
            for tp in self.owed
            if tp.due < now
        )
        late.extend(
            Overdue(
                kind="touchpoint",
                journey_id=self.journey_id,
                name=d.touchpoint.name,
                state=d.touchpoint.state,
                due=d.touchpoint.due,
                idempotency_key=d.touchpoint.idempotency_key,
                dead=True,
                reason=d.reason,
            )
            for d in self.dead
        )
        late.sort(key=lambda o: (o.due, o.idempotency_key))
        return late

    def breaches(self, now: dt.datetime) -> list[Event]:
        """Breach events of the deadlines passed by ``now`` (deterministic ids)."""
        _validate.aware("now", now)
        return [d.breach() for d in self.deadlines if d.due < now]

    def delivered(self, idempotency_key: str, *, at: dt.datetime) -> Journey:
        """The journey with the owed touchpoint ``idempotency_key`` marked delivered.

        Delivering a key that is no longer owed (already delivered) changes nothing, so a
        retried delivery report is harmless. A dead-lettered touchpoint that is delivered
        after all leaves the dead letters.

        Raises:
            CareKitError: ``at`` is naive; ``idempotency_key`` cannot be one of this
                journey's (keys read ``"{journey_id}/{name}/{version}"``, the version at
                most the journey's).
        """
        _validate.aware("at", at)
        self._check_key(idempotency_key)
        owed = tuple(tp for tp in self.owed if tp.idempotency_key != idempotency_key)
        if len(owed) != len(self.owed):
            return attrs.evolve(self, owed=owed)
        dead = tuple(d for d in self.dead if d.touchpoint.idempotency_key != idempotency_key)
        if len(dead) != len(self.dead):
            return attrs.evolve(self, dead=dead)
        return self

    def dead_lettered(self, idempotency_key: str, *, at: dt.datetime, reason: str) -> Journey:
        """The journey with the owed touchpoint ``idempotency_key`` given up on.

        It leaves :attr:`owed` and stays in :meth:`overdue` (``dead=True``). A key that is
        no longer owed changes nothing.

        Raises:
            CareKitError: ``at`` is naive, ``reason`` is not a string, or
                ``idempotency_key`` cannot be one of this journey's (as in :meth:`delivered`).
        """
        _validate.aware("at", at)
        self._check_key(idempotency_key)
        if not isinstance(reason, str):
            msg = f"reason must be a string (got {reason!r})"
            raise CareKitError(msg)
        for tp in self.owed:
            if tp.idempotency_key == idempotency_key:
                owed = tuple(o for o in self.owed if o is not tp)
                dead = (*self.dead, DeadLetter(touchpoint=tp, at=at, reason=reason))
                return attrs.evolve(self, owed=owed, dead=dead)
        return self

    def _check_key(self, key: object) -> None:
        """Refuse a key no touchpoint of this journey can have (a typo, another journey's)."""
        prefix = f"{self.journey_id}/"
        if isinstance(key, str) and key.startswith(prefix):
            name, slash, version = key[len(prefix):].rpartition("/")
            if (
                name and slash and version.isascii() and version.isdigit()
                and len(version) < 20 and int(version) <= self.version
            ):
                return
        form = _validate.short(f"{self.journey_id}/NAME/VERSION")
        msg = (
            f"idempotency_key {_validate.short(key)} is not a key of journey "
            f"{_validate.short(self.journey_id)}: its keys read {form}, with VERSION at most "
            f"{self.version}"
        )
        raise CareKitError(msg)


_new_journey = positional_constructor(Journey)
_new_owed = positional_constructor(OwedTouchpoint)
_new_withdrawn = positional_constructor(TouchpointWithdrawn)
_new_deadline = positional_constructor(ActiveDeadline)
_new_step = positional_constructor(Step)
_new_set = positional_constructor(DeadlineSet)
_new_cleared = positional_constructor(DeadlineCleared)


def _build_pending_owed(
    records: list[Any],
    journey_id: str,
    channel: str | None,
    customer_id: str | None,
    tz: str | None = None,
) -> tuple[OwedTouchpoint, ...]:
    """The owed touchpoints :func:`~carekit.journeys.replay` recorded but did not build.

    Replay builds thousands of journeys whose owed touchpoints are often never read. It
    stores them in the ``owed`` slot as a *list* (the built value is always a tuple) of
    four-item records, flattened and in order: ``((touchpoint specs, state), version, at,
    data)`` for an event whose touchpoints need no business calendar, ``(None, touchpoint,
    None, None)`` for an :class:`OwedTouchpoint` already built. :attr:`Journey.owed` builds
    the objects (with their due times) on first read. The list is never changed once stored.
    """
    built: list[OwedTouchpoint] = []
    fields = iter(records)
    for owes, version, at, data in zip(fields, fields, fields, fields, strict=True):
        if owes is None:
            built.append(version)
            continue
        tps, state = owes
        for name, tp_channel, within, delay, calendar in tps:
            not_before, due = _owed_times(at, within, delay, calendar)
            built.append(_new_owed(
                journey_id, name, state, tp_channel or channel, due, version, at, data,
                customer_id, not_before, tz,
            ))
    return tuple(built)


def _owed_times(
    at: dt.datetime, within: dt.timedelta, delay: dt.timedelta, calendar: Any
) -> tuple[dt.datetime | None, dt.datetime]:
    """``(not_before, due)`` of a touchpoint owed at ``at`` (``not_before`` is None without
    a delay); ``within`` and ``delay`` count business hours when there is a calendar."""
    if calendar is None:
        not_before = at + delay if delay else None
        return not_before, (not_before or at) + within
    not_before = calendar.add_business_hours(at, delay) if delay else None
    return not_before, calendar.add_business_hours(not_before or at, within)


class OwedLog:
    """Replay's and apply's records of owed touchpoints, in a log shared between versions.

    A view of the first ``n`` items of a flat list of records (see
    :func:`_build_pending_owed`). Adding the records of one more event to the newest view
    appends to the shared list in O(1); adding them to an older view (a branch) copies the
    list first. A view never sees items added after it was made, so it behaves as a value.
    """

    __slots__ = ("log", "n")

    def __init__(self, log: list[Any], n: int) -> None:
        self.log = log
        self.n = n

    @staticmethod
    def of(owed: Any) -> OwedLog:
        """A log holding ``owed``: a flat list of records, a tuple of touchpoints, or ()."""
        if type(owed) is list:
            return OwedLog(list(owed), len(owed))
        flat: list[Any] = []
        for tp in owed:
            flat += (None, tp, None, None)
        return OwedLog(flat, len(flat))

    def plus(self, owes: Any, version: int, at: dt.datetime, data: Any) -> OwedLog:
        """A view with one more event's records."""
        log = self.log
        with _LOG_LOCK:
            if len(log) == self.n:
                log += (owes, version, at, data)
                return OwedLog(log, self.n + 4)
        fresh = log[: self.n]
        fresh += (owes, version, at, data)
        return OwedLog(fresh, self.n + 4)

    def records(self) -> list[Any]:
        """The flat records this view sees."""
        return self.log if len(self.log) == self.n else self.log[: self.n]


#: Serialises appends to shared owed logs (two views must never both extend the same tip).
_LOG_LOCK = threading.Lock()


def owed_records(slot: Any) -> list[Any]:
    """The flat records (see :func:`_build_pending_owed`) an ``owed`` slot holds."""
    if type(slot) is OwedLog:
        return slot.records()
    if type(slot) is list:
        return slot
    return OwedLog.of(slot).log


class _OwedField:
    """The ``Journey.owed`` slot, building replay's pending records on first read (cached).

    Everything (attrs' ``__eq__``, ``__hash__``, ``__repr__``, pickling, ``attrs.evolve``)
    reads the field by name, so it only ever sees the built tuple.
    """

    __slots__ = ("_get", "_set")

    def __init__(self, member: Any) -> None:
        self._get = member.__get__
        self._set = member.__set__

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        value = self._get(obj, owner)
        kind = type(value)
        if kind is OwedLog or kind is list:  # see _build_pending_owed
            value = _build_pending_owed(
                value.records() if kind is OwedLog else value,
                obj.journey_id, obj.channel, obj.customer_id, obj.tz,
            )
            self._set(obj, value)
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        self._set(obj, value)


# After _new_journey took the slot's own setter: replay may store pending records there.
#: Reads the ``owed`` slot as stored (possibly a list of pending records).
_owed_slot: Callable[[Journey, type[Journey]], Any] = Journey.__dict__["owed"].__get__
type.__setattr__(Journey, "owed", _OwedField(Journey.__dict__["owed"]))


def _check_text(name: str, value: Any, *, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        what = "a non-empty string or None" if optional else "a non-empty string"
        msg = f"{name} must be {what} (got {value!r})"
        raise CareKitError(msg)


def _start(
    definition: JourneyDefinition,
    journey_id: str,
    *,
    at: dt.datetime,
    customer_id: str | None,
    channel: str | None,
    tz: Any = None,
) -> Journey:
    if type(journey_id) is not str or not journey_id:
        _check_text("journey_id", journey_id, optional=False)
    _validate.aware("at", at)
    if customer_id is not None:
        _check_text("customer_id", customer_id, optional=True)
    if channel is not None:
        _check_text("channel", channel, optional=True)
    if tz is not None:
        tz = zone_name(tz)
    initial = definition.initial
    tps = definition._enter_touchpoints[initial]
    dls = definition._enter_deadlines[initial]
    try:
        owed = tuple(
            [
                _new_owed(
                    journey_id, tp.name, initial, tp.channel or channel, tp.due(at), 0, at, EMPTY,
                    customer_id, tp.not_before(at) if tp.delay else None, tz,
                )
                for tp in tps
            ]
        ) if tps else ()
        deadlines = tuple(
            [_new_deadline(journey_id, initial, d.breach_event, d.due(at), 0) for d in dls]
        ) if dls else ()
    except OverflowError:
        msg = (
            f"journey {journey_id!r} starting at {at.isoformat()} would make something due "
            "after the last date Python can represent (year 9999)"
        )
        raise CareKitError(msg) from None
    return _new_journey(
        journey_id, definition, initial, 0, at, at, customer_id, channel, 0.0, owed, deadlines,
        (), (), tz,
    )


def zone_name(tz: object) -> str:
    """The IANA name of a time zone given by name or as a :class:`zoneinfo.ZoneInfo`.

    Raises:
        CareKitError: not a time zone this machine knows.
    """
    if isinstance(tz, zoneinfo.ZoneInfo) and tz.key:
        return str(tz.key)
    if isinstance(tz, str) and tz:
        try:
            zoneinfo.ZoneInfo(tz)
        except (ValueError, zoneinfo.ZoneInfoNotFoundError, OSError):
            pass
        else:
            return tz
    msg = (
        "tz must be an IANA time zone name such as 'Europe/Paris' or a zoneinfo.ZoneInfo "
        f"(got {tz!r})"
    )
    raise CareKitError(msg)


def _not_allowed(
    journey_id: str, state: str, event: str, allowed: tuple[str, ...]
) -> InvalidTransition:
    msg = (
        f"journey {journey_id!r} is {state!r}; allowed events there: {list(allowed)} "
        f"(got {event!r})"
    )
    return InvalidTransition(msg, journey_id=journey_id, state=state, event=event, allowed=allowed)


def _past_the_end(journey_id: str, state: str, event: Event) -> InvalidTransition:
    msg = (
        f"journey {journey_id!r}: event {event.name!r} at {event.at.isoformat()} would make "
        "something due after the last date Python can represent (year 9999)"
    )
    return InvalidTransition(msg, journey_id=journey_id, state=state, event=event.name)


def _too_old(
    journey_id: str,
    state: str,
    event: Event,
    last: dt.datetime,
    tolerance: dt.timedelta = dt.timedelta(0),
) -> InvalidTransition:
    msg = (
        f"journey {journey_id!r}: event {event.name!r} at {event.at.isoformat()} is older than "
        f"the journey's latest event at {last.isoformat()} by more than the definition's "
        f"clock_tolerance ({tolerance}); events must arrive in time order"
    )
    return InvalidTransition(msg, journey_id=journey_id, state=state, event=event.name)


def _check_entry(journey_id: str, state: str, transition: Transition, event: Event) -> None:
    t = transition
    data = event.data
    for key in t.requires:
        value = data.get(key)
        if value is None or value == "":
            msg = (
                f"journey {journey_id!r}: event {event.name!r} requires data[{key!r}] "
                f"(got data={dict(data)!r})"
            )
            raise InvalidTransition(msg, journey_id=journey_id, state=state, event=event.name)
    if t.guard is not None:
        try:
            ok = t.guard(data)
        except Exception as exc:
            msg = (
                f"journey {journey_id!r}: the guard of event {event.name!r} in state "
                f"{state!r} raised {exc!r} on data={dict(data)!r}"
            )
            raise InvalidTransition(
                msg, journey_id=journey_id, state=state, event=event.name
            ) from exc
        if not ok:
            guard_name = getattr(t.guard, "__name__", repr(t.guard))
            msg = (
                f"journey {journey_id!r}: guard {guard_name!r} rejected event {event.name!r} "
                f"in state {state!r} (data={dict(data)!r})"
            )
            raise InvalidTransition(msg, journey_id=journey_id, state=state, event=event.name)


_apply = Journey.apply
