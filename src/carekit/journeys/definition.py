"""Journey definitions: states, transitions, touchpoints, deadlines and friction.

A :class:`JourneyDefinition` is validated once, on construction, and then compiled into
lookup tables keyed by ``(state, event)`` so that driving journeys through it is cheap.

Examples:
    >>> import datetime as dt
    >>> from carekit.journeys import JourneyDefinition, State, Transition, Touchpoint
    >>> visit = JourneyDefinition(
    ...     name="callback",
    ...     states=[State(name="requested"), State(name="called", final=True)],
    ...     transitions=[Transition(event="call", source="requested", target="called")],
    ...     touchpoints=[Touchpoint(name="callback_booked", on_enter="requested",
    ...                             within=dt.timedelta(minutes=5))],
    ... )
    >>> visit.initial, visit.allowed_events("requested")
    ('requested', ('call',))
"""

from __future__ import annotations

import datetime as dt
import enum
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from carekit import _validate
from carekit.errors import CareKitError, DefinitionError
from carekit.journeys.events import check_feelings

if TYPE_CHECKING:
    from carekit.journeys.journey import Journey

__all__ = [
    "BusinessHours",
    "Deadline",
    "FrictionPolicy",
    "JourneyDefinition",
    "Phase",
    "State",
    "Touchpoint",
    "Transition",
]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: Functions imported on first use (to avoid an import cycle), kept for speed.
_LAZY: dict[str, Callable[..., Any]] = {}

#: A guard: called with the event's data, returns whether the transition may be taken.
Guard = Callable[[Mapping[str, Any]], bool]


@runtime_checkable
class BusinessHours(Protocol):
    """What a deadline needs from a calendar (``carekit.calendar.BusinessCalendar`` fits)."""

    def add_business_hours(self, at: dt.datetime, duration: dt.timedelta) -> dt.datetime:
        """The moment ``duration`` of business time after ``at``."""
        ...  # pragma: no cover


class Phase(enum.Enum):
    """The three phases of a customer experience: before contact, during it, after it."""

    BEFORE = "before"
    DURING = "during"
    AFTER = "after"

    @classmethod
    def _missing_(cls, value: object) -> Phase:
        # Enum calls this for an unknown value; a CareKitError (a ValueError) replaces the
        # bare ValueError Enum would raise.
        msg = (
            "Phase must be one of 'before', 'during', 'after' (Phase.BEFORE, DURING or AFTER; "
            f"got {value!r})"
        )
        raise CareKitError(msg)

    @property
    def title(self) -> str:
        """A human label, ``"Before contact"``, ``"During"`` or ``"After"``."""
        return _PHASE_TITLES[self]


_PHASE_TITLES = {
    Phase.BEFORE: "Before contact",
    Phase.DURING: "During",
    Phase.AFTER: "After",
}


def _check_name(what: str) -> Callable[[Any, Any, Any], None]:
    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, str) or not _NAME.match(value):
            msg = (
                f"{what} must be an identifier such as 'placed' or 'start_production' "
                f"(a letter, then letters, digits or underscores; got {value!r})"
            )
            raise CareKitError(msg)

    return check


def _check_optional_name(what: str) -> Callable[[Any, Any, Any], None]:
    check = _check_name(what)

    def optional(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            check(instance, attribute, value)

    return optional


def _check_phase(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Phase):
        msg = f"State phase must be a Phase (Phase.BEFORE, DURING or AFTER; got {value!r})"
        raise CareKitError(msg)


def _check_within(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _validate.duration(f"{type(instance).__name__} within", value)


def _to_duration(value: Any) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        return value
    return _validate.duration("within", value)


def _to_delay(value: Any) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        return value
    return _validate.duration("Touchpoint delay", value)


def _check_delay(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _validate.duration("Touchpoint delay", value)


def _check_calendar(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not callable(getattr(value, "add_business_hours", None)):
        msg = (
            f"{type(instance).__name__} calendar must provide add_business_hours(at, duration) "
            f"(a carekit.calendar.BusinessCalendar; got {value!r})"
        )
        raise CareKitError(msg)


def _due(at: dt.datetime, within: dt.timedelta, calendar: BusinessHours | None) -> dt.datetime:
    if calendar is None:
        return at + within
    return calendar.add_business_hours(at, within)


def _checked_due(
    owner: str, at: Any, within: dt.timedelta, calendar: BusinessHours | None
) -> dt.datetime:
    """:func:`_due` for the public ``due`` methods: ``at`` checked, overflow explained."""
    _validate.aware(f"{owner}.due at", at)
    try:
        return _due(at, within, calendar)
    except OverflowError:
        msg = (
            f"{owner}.due: {at.isoformat()} plus within={within!r} falls after the last date "
            "Python can represent (year 9999)"
        )
        raise CareKitError(msg) from None


def _to_withdraws(value: Any) -> bool | tuple[str, ...]:
    """``withdraws`` as ``True``/``False`` or a tuple of touchpoint names."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return (value,)
    try:
        names = tuple(value)
    except TypeError:
        msg = (
            "State withdraws must be True, False or an iterable of touchpoint names, such as "
            f"('satisfaction_check',) (got {value!r})"
        )
        raise CareKitError(msg) from None
    for name in names:
        if not isinstance(name, str) or not _NAME.match(name):
            msg = f"State withdraws must list touchpoint names (got {name!r})"
            raise CareKitError(msg)
    return names


@attrs.frozen
class State:
    """A state a journey can be in.

    Args:
        name: identifier, unique within the definition (``"placed"``).
        phase: the phase of the experience it belongs to.
        final: the journey is complete here (it may still allow events, e.g. ``reopen``).
        withdraws: entering this state withdraws touchpoints owed but not yet sent, because
            they no longer make sense there: ``True`` withdraws every one (a cancelled order
            is owed no "thank you for your order"), a tuple of names only those. A store
            marks them ``withdrawn`` in its outbox and never sends them (one whose delivery
            was already in flight is recorded ``sent`` when it reports so).

    Raises:
        CareKitError: a name that is not an identifier, a phase that is not a
            :class:`Phase`, ``withdraws`` that is not a bool or touchpoint names.
    """

    name: str = attrs.field(validator=_check_name("State name"))
    phase: Phase = attrs.field(default=Phase.DURING, validator=_check_phase)
    final: bool = False
    withdraws: bool | tuple[str, ...] = attrs.field(
        default=False, converter=_to_withdraws, kw_only=True
    )


def _check_guard(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not callable(value):
        msg = f"Transition guard must be a callable taking the event data (got {value!r})"
        raise CareKitError(msg)
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):  # some builtins have none: they are called as they are
        return
    try:
        signature.bind({})
    except TypeError:
        # Called with the event's data alone, it would raise TypeError at every event,
        # which apply reports as the guard refusing: say it once, here.
        msg = (
            f"Transition guard must take one argument, the event's data (a mapping), as in "
            f"guard=lambda data: data.get('paid'); {value!r} takes {signature}"
        )
        raise CareKitError(msg) from None


def _to_names(value: Iterable[str] | str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    try:
        keys = iter(value)
    except TypeError:
        msg = (
            "Transition requires must be a data key or an iterable of data keys, such as "
            f"('tracking_number',) (got {value!r})"
        )
        raise CareKitError(msg) from None
    return tuple(keys)


def _check_requires(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    for key in value:  # type: ignore[attr-defined]
        if not isinstance(key, str) or not key:
            msg = f"Transition requires must list data keys as non-empty strings (got {key!r})"
            raise CareKitError(msg)


@attrs.frozen
class Transition:
    """An event that moves a journey from ``source`` to ``target``.

    A transition whose ``target`` is its ``source`` is a self-loop: the journey stays where
    it is, no ``on_enter`` touchpoints are owed again and deadlines keep running.

    Args:
        event: the event name (``"ship"``).
        source: the state the event is allowed in.
        target: the state it leads to.
        guard: optional callable on the event's data; returning ``False`` rejects the
            event with :class:`~carekit.InvalidTransition`.
        requires: data keys the event must carry (``("tracking_number",)``); a missing or
            empty one is rejected with an :class:`~carekit.InvalidTransition` naming it.

    Raises:
        CareKitError: a name that is not an identifier, a guard that is not callable,
            ``requires`` that is not a key or an iterable of non-empty string keys.
    """

    event: str = attrs.field(validator=_check_name("Transition event"))
    source: str = attrs.field(validator=_check_name("Transition source"))
    target: str = attrs.field(validator=_check_name("Transition target"))
    guard: Guard | None = attrs.field(default=None, validator=_check_guard, eq=False)
    requires: tuple[str, ...] = attrs.field(
        default=(), converter=_to_names, validator=_check_requires, kw_only=True
    )


@attrs.frozen
class Touchpoint:
    """Something the journey owes the customer: a message, a call, a check-in.

    In a definition a touchpoint is owed on entering a state (``on_enter``) or whenever an
    event is applied (``on_event``). A plugin's ``carekit_recovery_action`` returns
    touchpoints with neither: they are owed at once.

    Args:
        name: identifier (``"order_thanks"``); unique within a definition.
        on_enter: the state whose entry makes it owed.
        on_event: the event whose application makes it owed (for self-loops such as
            ``promise_at_risk``).
        within: how long after it may first be sent it is due.
        channel: the channel to use; ``None`` means the customer's preferred channel.
        delay: how long after the triggering event it may first be sent ("check
            satisfaction two days after delivery"): never sent before ``owed_at + delay``,
            due at ``owed_at + delay + within``.
        calendar: count ``within`` and ``delay`` in business hours on this calendar.

    Raises:
        CareKitError: a name that is not an identifier, a negative ``within`` or ``delay``,
            a calendar without ``add_business_hours``.

    Examples:
        >>> import datetime as dt
        >>> check = Touchpoint("satisfaction_check", "delivered", within=dt.timedelta(hours=4),
        ...                    delay=dt.timedelta(days=2))
        >>> delivered = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.timezone.utc)
        >>> check.not_before(delivered).isoformat(), check.due(delivered).isoformat()
        ('2026-03-04T15:00:00+00:00', '2026-03-04T19:00:00+00:00')
    """

    name: str = attrs.field(validator=_check_name("Touchpoint name"))
    on_enter: str | None = attrs.field(
        default=None, validator=_check_optional_name("Touchpoint on_enter")
    )
    within: dt.timedelta = attrs.field(
        default=dt.timedelta(0), converter=_to_duration, validator=_check_within
    )
    channel: str | None = attrs.field(
        default=None, validator=_check_optional_name("Touchpoint channel")
    )
    on_event: str | None = attrs.field(
        default=None, validator=_check_optional_name("Touchpoint on_event"), kw_only=True
    )
    calendar: BusinessHours | None = attrs.field(
        default=None, validator=_check_calendar, eq=False, kw_only=True
    )
    delay: dt.timedelta = attrs.field(
        default=dt.timedelta(0), converter=_to_delay, validator=_check_delay, kw_only=True
    )

    def not_before(self, at: dt.datetime) -> dt.datetime:
        """The earliest moment it may be sent if it became owed at ``at``.

        Raises:
            CareKitError: ``at`` is not an aware datetime, or the moment would fall after the
                year 9999.
        """
        if not self.delay:
            return _validate.aware("Touchpoint.not_before at", at)
        return _checked_due("Touchpoint", at, self.delay, self.calendar)

    def due(self, at: dt.datetime) -> dt.datetime:
        """When this touchpoint is due if it became owed at ``at`` (``delay`` + ``within``).

        Raises:
            CareKitError: ``at`` is not an aware datetime, or the due time would fall after
                the year 9999 (or is refused by the calendar).
        """
        _validate.aware("Touchpoint.due at", at)
        return _checked_due("Touchpoint", self.not_before(at), self.within, self.calendar)


@attrs.frozen
class Deadline:
    """The journey must leave ``state`` within ``within``, else ``breach_event`` is due.

    Args:
        state: the state the clock runs in; entering it starts the clock, leaving stops it.
        within: how long the journey may stay (business hours when ``calendar`` is given).
        breach_event: the event name reported by :meth:`Journey.overdue` when the deadline
            passes (apply it if the definition has a transition for it).
        calendar: count ``within`` in business hours on this calendar
            (e.g. ``carekit.calendar.BusinessCalendar``).
    """

    state: str = attrs.field(validator=_check_name("Deadline state"))
    within: dt.timedelta = attrs.field(converter=_to_duration, validator=_check_within)
    breach_event: str = attrs.field(validator=_check_name("Deadline breach_event"))
    calendar: BusinessHours | None = attrs.field(default=None, validator=_check_calendar, eq=False)

    def due(self, at: dt.datetime) -> dt.datetime:
        """When this deadline passes if its state was entered at ``at``.

        Raises:
            CareKitError: ``at`` is not an aware datetime, or the due time would fall after
                the year 9999 (or is refused by the calendar).
        """
        return _checked_due("Deadline", at, self.within, self.calendar)


def _to_moments(value: Mapping[str, float]) -> Mapping[str, float]:
    """Check and copy ``moments`` (a converter: it runs before any validator)."""
    if not isinstance(value, Mapping):
        msg = (
            "FrictionPolicy moments must be a mapping of moment name to weight, such as "
            f"{{'late_delivery': 2.0}} (got {value!r})"
        )
        raise CareKitError(msg)
    moments: dict[str, float] = {}
    for name, weight in value.items():
        if not isinstance(name, str) or not name:
            msg = f"FrictionPolicy moments must be keyed by name (got {name!r})"
            raise CareKitError(msg)
        moments[name] = _validate.finite(f"FrictionPolicy moments[{name!r}]", weight)
    return MappingProxyType(moments)


def _to_half_life(value: dt.timedelta | float) -> dt.timedelta:
    """``half_life`` as a timedelta; numbers are seconds, as for ``Touchpoint.within``."""
    return _validate.positive_duration("FrictionPolicy half_life", value)


#: Weights of the bad moments carekit knows by name.
DEFAULT_MOMENTS: Mapping[str, float] = MappingProxyType(
    {
        "late_delivery": 2.0,
        "long_wait": 1.0,
        "repeated_contact": 1.5,
        "promise_at_risk": 1.0,
        "missed_deadline": 1.0,
        "complaint": 2.0,
        "damaged_item": 2.5,
    }
)


@attrs.frozen(kw_only=True)
class FrictionPolicy:
    """How bad moments accumulate into a decaying friction score.

    Each event adds friction: the weight of ``data["moment"]`` (a named bad moment; an
    unknown name weighs ``default_weight``), the weight of the event's own name if it is
    listed in ``moments``, and ``-sentiment * sentiment_weight`` for a ``data["sentiment"]``
    in [-1, 1] (praise lowers friction). Between events the score decays exponentially with
    ``half_life``; it never drops below zero. Crossing ``threshold`` from below yields a
    recovery effect.

    Args:
        threshold: friction at which the journey needs service recovery.
        half_life: time for friction to halve (a timedelta, or a number of seconds as
            for ``Touchpoint.within``).
        moments: weight of each named bad moment (a mapping of name to finite number).
        default_weight: weight of a moment not listed in ``moments``.
        sentiment_weight: friction added by a sentiment of -1.

    Raises:
        CareKitError: a threshold that is not > 0, a half-life that is not a positive
            duration, moments that are not a mapping of names to finite numbers, a
            negative or non-finite weight.
    """

    threshold: float = attrs.field(default=3.0)
    half_life: dt.timedelta = attrs.field(default=dt.timedelta(days=14), converter=_to_half_life)
    moments: Mapping[str, float] = attrs.field(
        default=DEFAULT_MOMENTS, converter=_to_moments, eq=False
    )
    default_weight: float = 1.0
    sentiment_weight: float = 2.0

    def __attrs_post_init__(self) -> None:
        _validate.positive("FrictionPolicy threshold", self.threshold)
        _validate.non_negative("FrictionPolicy default_weight", self.default_weight)
        _validate.non_negative("FrictionPolicy sentiment_weight", self.sentiment_weight)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (FrictionPolicy, {**attrs.asdict(self, recurse=False),
                                            "moments": dict(self.moments)}))

    def decay(self, friction: float, elapsed: dt.timedelta) -> float:
        """``friction`` after ``elapsed`` time without new bad moments.

        Raises:
            CareKitError: ``friction`` is not a finite number >= 0, ``elapsed`` not a
                timedelta.
        """
        _validate.non_negative("friction", friction)
        if not isinstance(elapsed, dt.timedelta):
            msg = f"elapsed must be a datetime.timedelta (got {elapsed!r})"
            raise CareKitError(msg)
        return self._decay(friction, elapsed)

    def _decay(self, friction: float, elapsed: dt.timedelta) -> float:
        if friction == 0.0 or elapsed <= dt.timedelta(0):
            return friction
        factor: float = 0.5 ** (elapsed / self.half_life)
        return friction * factor

    def added(self, event_name: str, data: Mapping[str, Any]) -> float:
        """Friction an event with ``event_name`` and ``data`` adds (may be negative).

        Raises:
            CareKitError: ``event_name`` is not a string; ``data`` as for :meth:`from_data`.
        """
        if not isinstance(event_name, str):
            msg = f"event_name must be a string (got {event_name!r})"
            raise CareKitError(msg)
        return self.moments.get(event_name, 0.0) + self.from_data(data)

    def from_data(self, data: Mapping[str, Any]) -> float:
        """Friction from an event's ``moment`` and ``sentiment`` data alone.

        Raises:
            CareKitError: ``data`` is not a mapping, its ``"sentiment"`` is not a number in
                [-1, 1] or its ``"moment"`` not a non-empty string (as :class:`Event` checks).
        """
        if not isinstance(data, Mapping):
            msg = f"data must be a mapping such as an event's data (got {data!r})"
            raise CareKitError(msg)
        check_feelings("data", data)
        return self._from_data(data)

    def _from_data(self, data: Mapping[str, Any]) -> float:
        delta = 0.0
        moment = data.get("moment")
        if moment is not None:
            delta += self.moments.get(moment, self.default_weight)
        sentiment = data.get("sentiment")
        if sentiment is not None:
            delta -= float(sentiment) * self.sentiment_weight
        return delta


def _to_tolerance(value: Any) -> dt.timedelta:
    return _validate.duration("JourneyDefinition clock_tolerance", value)


def _to_tuple(value: Iterable[Any], field: str, kind: str) -> tuple[Any, ...]:
    """``value`` as a tuple, refusing ``None`` and other non-iterables naming ``field``."""
    try:
        items = iter(value)
    except TypeError:
        msg = (
            f"JourneyDefinition {field} must be an iterable of {kind} objects, "
            f"such as a list (got {value!r})"
        )
        raise CareKitError(msg) from None
    return tuple(items)


def _to_states(value: Iterable[State]) -> tuple[State, ...]:
    return _to_tuple(value, "states", "State")


def _to_transitions(value: Iterable[Transition]) -> tuple[Transition, ...]:
    return _to_tuple(value, "transitions", "Transition")


def _to_touchpoints(value: Iterable[Touchpoint]) -> tuple[Touchpoint, ...]:
    return _to_tuple(value, "touchpoints", "Touchpoint")


def _to_deadlines(value: Iterable[Deadline]) -> tuple[Deadline, ...]:
    return _to_tuple(value, "deadlines", "Deadline")


_LATEST = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
_EARLIEST = dt.datetime.min.replace(tzinfo=dt.timezone.utc)

#: A touchpoint, precompiled: (name, channel, within, delay, calendar).
_TouchpointSpec = tuple[str, "str | None", dt.timedelta, dt.timedelta, "BusinessHours | None"]
#: A deadline, precompiled: (breach_event, within, calendar).
_DeadlineSpec = tuple[str, dt.timedelta, "BusinessHours | None"]
#: What applying one event in one state does, precompiled as a tuple for speed:
#: (transition, target, moves, check, touchpoints, deadlines set on entry, friction weight,
#: the touchpoints with the state they are owed in, what entering the target withdraws
#: (None: nothing, True: every touchpoint owed, else a frozenset of names), whether the event
#: is the breach event of a deadline that keeps running in the state (it then stops)).
_Entry = tuple[
    Transition,
    str,
    bool,
    bool,
    tuple[_TouchpointSpec, ...],
    tuple[_DeadlineSpec, ...],
    float,
    tuple[tuple[_TouchpointSpec, ...], str],
    "bool | frozenset[str] | None",
    bool,
]


#: What :func:`~carekit.journeys.replay` does for one event beyond changing the state:
#: (source, transition, what to check (0:
#: nothing, 1: the required data keys, 2: those and the guard), touchpoints,
#: deadlines set on entry, whether running deadlines change, friction weight, whether the
#: due times may be computed later: no business calendar is involved, and the touchpoints
#: with the state they are owed in).
_Work = tuple[
    str,
    Transition,
    int,
    tuple[_TouchpointSpec, ...],
    tuple[_DeadlineSpec, ...],
    bool,
    float,
    bool,
    tuple[tuple[_TouchpointSpec, ...], str],
]
#: Replay's special work for one event, or ``None`` when the event only changes the state:
#: (whether it is only the usual work (owe touchpoints, start or stop deadlines, all without
#: a business calendar), the deadlines it starts (None: running deadlines do not change),
#: the touchpoints it owes with their state (None: none), all of the work).
_Special = tuple[bool, "tuple[_DeadlineSpec, ...] | None", "tuple[Any, str] | None", _Work]
#: One event in one state for replay's fold: (the target's row, the target, special work).
_FoldEntry = tuple[dict[str, Any], str, "_Special | None"]


@attrs.frozen(cache_hash=True)
class JourneyDefinition:
    """A customer journey: states in phases, transitions, touchpoints owed and deadlines.

    The definition is checked once, here; every problem found is listed in one
    :class:`~carekit.DefinitionError`: unknown states, unreachable states, non-final dead
    ends, duplicate ``(source, event)`` pairs, touchpoints or deadlines on unknown states,
    duplicate names, no initial state.

    Args:
        name: identifier of the journey (``"order"``).
        states: the states; the first one is the initial state unless ``initial`` is given.
        transitions: the allowed events.
        touchpoints: what is owed on entering states or on events.
        deadlines: how long the journey may stay in a state.
        initial: the initial state's name (default: the first state).
        friction: how bad moments accumulate (see :class:`FrictionPolicy`).
        description: one line for humans.
        clock_tolerance: how much older than the journey's latest event an event may be and
            still be taken (default 5 seconds): app servers' clocks differ a little. Such an
            event is applied as if it happened at the latest event's time (it keeps its own
            ``at`` in a store's log), so replay gives the same journey every time. An event
            older by more is refused; ``timedelta(0)`` refuses any older event.

    Raises:
        CareKitError: ``states``, ``transitions``, ``touchpoints`` or ``deadlines`` is not
            iterable (``None``, say).
        DefinitionError: the definition is inconsistent (all problems listed), or an item,
            ``friction``, ``initial`` or ``description`` has the wrong type.

    Examples:
        >>> from carekit.journeys import order_journey
        >>> order = order_journey()
        >>> order.initial, order.allowed_events("shipped")
        ('new', ('deliver', 'promise_at_risk'))
    """

    name: str = attrs.field(validator=_check_name("JourneyDefinition name"))
    states: tuple[State, ...] = attrs.field(converter=_to_states)
    transitions: tuple[Transition, ...] = attrs.field(converter=_to_transitions)
    touchpoints: tuple[Touchpoint, ...] = attrs.field(default=(), converter=_to_touchpoints)
    deadlines: tuple[Deadline, ...] = attrs.field(default=(), converter=_to_deadlines)
    initial: str = attrs.field(default="", kw_only=True)
    friction: FrictionPolicy = attrs.field(factory=FrictionPolicy, kw_only=True)
    description: str = attrs.field(default="", kw_only=True)
    clock_tolerance: dt.timedelta = attrs.field(
        default=dt.timedelta(seconds=5), converter=_to_tolerance, kw_only=True
    )
    _by_name: Mapping[str, State] = attrs.field(init=False, repr=False, eq=False)
    _table: dict[tuple[str, str], _Entry] = attrs.field(init=False, repr=False, eq=False)
    _rows: dict[str, dict[str, _Entry]] = attrs.field(init=False, repr=False, eq=False)
    _fold_rows: dict[str, dict[str, _FoldEntry]] = attrs.field(init=False, repr=False, eq=False)
    _allowed: Mapping[str, tuple[str, ...]] = attrs.field(init=False, repr=False, eq=False)
    _lazy_until: dt.datetime = attrs.field(init=False, repr=False, eq=False)
    _enter_touchpoints: Mapping[str, tuple[Touchpoint, ...]] = attrs.field(
        init=False, repr=False, eq=False
    )
    _enter_deadlines: Mapping[str, tuple[Deadline, ...]] = attrs.field(
        init=False, repr=False, eq=False
    )

    def __attrs_post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise DefinitionError(self.name, problems)
        if not self.initial:
            object.__setattr__(self, "initial", self.states[0].name)
        self._compile()

    def __reduce__(self) -> tuple[Any, ...]:
        fields = {
            "name": self.name,
            "states": self.states,
            "transitions": self.transitions,
            "touchpoints": self.touchpoints,
            "deadlines": self.deadlines,
            "initial": self.initial,
            "friction": self.friction,
            "description": self.description,
            "clock_tolerance": self.clock_tolerance,
        }
        return (_rebuild, (JourneyDefinition, fields))

    # -- validation ---------------------------------------------------------------------

    def _problems(self) -> list[str]:
        problems: list[str] = []
        for kind, items, cls in (
            ("states", self.states, State),
            ("transitions", self.transitions, Transition),
            ("touchpoints", self.touchpoints, Touchpoint),
            ("deadlines", self.deadlines, Deadline),
        ):
            for item in items:
                if not isinstance(item, cls):
                    problems.append(f"{kind} must hold {cls.__name__} objects (got {item!r})")
        if not isinstance(self.friction, FrictionPolicy):
            problems.append(f"friction must be a FrictionPolicy (got {self.friction!r})")
        if self.initial is not None and not isinstance(self.initial, str):
            problems.append(f"initial must be the name of a state (got {self.initial!r})")
        if not isinstance(self.description, str):
            problems.append(f"description must be a string (got {self.description!r})")
        if problems:
            return problems
        names: dict[str, State] = {}
        for state in self.states:
            if state.name in names:
                problems.append(f"duplicate state {state.name!r}")
            names[state.name] = state
        if not self.states:
            problems.append("no initial state: states is empty")
        initial = self.initial or (self.states[0].name if self.states else "")
        if self.initial and self.initial not in names:
            problems.append(f"initial state {self.initial!r} is not one of the states")
        pairs: set[tuple[str, str]] = set()
        edges: dict[str, set[str]] = {n: set() for n in names}
        events: set[str] = set()
        for t in self.transitions:
            for role, state_name in (("source", t.source), ("target", t.target)):
                if state_name not in names:
                    problems.append(
                        f"transition {t.event!r} ({t.source} -> {t.target}) has unknown "
                        f"{role} state {state_name!r}"
                    )
            if (t.source, t.event) in pairs:
                problems.append(
                    f"duplicate (source, event) pair ({t.source!r}, {t.event!r}): "
                    "one transition per event and state"
                )
            pairs.add((t.source, t.event))
            events.add(t.event)
            if t.source in edges and t.target in names:
                edges[t.source].add(t.target)
        if initial in names:
            seen = {initial}
            todo = [initial]
            while todo:
                for nxt in edges[todo.pop()]:
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
            for n in names:
                if n not in seen:
                    problems.append(
                        f"state {n!r} is unreachable from the initial state {initial!r}"
                    )
        for n, state in names.items():
            if not state.final and not (edges[n] - {n}):
                problems.append(
                    f"state {n!r} is a dead end: it is not final and no event leads out of it"
                )
        tp_names: set[str] = set()
        for tp in self.touchpoints:
            if tp.name in tp_names:
                problems.append(f"duplicate touchpoint {tp.name!r}")
            tp_names.add(tp.name)
            if tp.on_enter is None and tp.on_event is None:
                problems.append(
                    f"touchpoint {tp.name!r} needs on_enter (a state) or on_event (an event)"
                )
            if tp.on_enter is not None and tp.on_enter not in names:
                problems.append(f"touchpoint {tp.name!r} is on unknown state {tp.on_enter!r}")
            if tp.on_event is not None and tp.on_event not in events:
                problems.append(f"touchpoint {tp.name!r} is on unknown event {tp.on_event!r}")
        for state in self.states:
            if isinstance(state.withdraws, tuple):
                for tp_name in state.withdraws:
                    if tp_name not in tp_names:
                        problems.append(
                            f"state {state.name!r} withdraws unknown touchpoint {tp_name!r}"
                        )
        for d in self.deadlines:
            if d.state not in names:
                problems.append(
                    f"deadline {d.breach_event!r} is on unknown state {d.state!r}"
                )
        return problems

    def _compile(self) -> None:
        by_name = {s.name: s for s in self.states}
        enter_tps: dict[str, list[Touchpoint]] = {n: [] for n in by_name}
        event_tps: dict[str, list[Touchpoint]] = {}
        for tp in self.touchpoints:
            if tp.on_event is not None:
                event_tps.setdefault(tp.on_event, []).append(tp)
            if tp.on_enter is not None:
                enter_tps[tp.on_enter].append(tp)
        enter_dls: dict[str, list[Deadline]] = {n: [] for n in by_name}
        for d in self.deadlines:
            enter_dls[d.state].append(d)
        table: dict[tuple[str, str], _Entry] = {}
        rows: dict[str, dict[str, _Entry]] = {n: {} for n in by_name}
        allowed: dict[str, list[str]] = {n: [] for n in by_name}
        weights = self.friction.moments
        for t in self.transitions:
            moves = t.target != t.source
            tps = tuple(event_tps.get(t.event, ()))
            if moves:
                tps += tuple(enter_tps[t.target])
            owed = tuple((tp.name, tp.channel, tp.within, tp.delay, tp.calendar) for tp in tps)
            target_state = by_name[t.target]
            withdraws: bool | frozenset[str] | None = None
            if moves and target_state.withdraws is True:
                withdraws = True
            elif moves and target_state.withdraws:
                withdraws = frozenset(target_state.withdraws)  # type: ignore[arg-type]
            breach = not moves and any(d.breach_event == t.event for d in enter_dls[t.source])
            table[(t.source, t.event)] = (
                t,
                t.target,
                moves,
                t.guard is not None or bool(t.requires),
                owed,
                tuple((d.breach_event, d.within, d.calendar) for d in enter_dls[t.target])
                if moves
                else (),
                weights.get(t.event, 0.0),
                (owed, t.target),
                withdraws,
                breach,
            )
            rows[t.source][t.event] = table[(t.source, t.event)]
            allowed[t.source].append(t.event)
        # Replay's rows: an event that owes nothing, checks nothing, weighs nothing and
        # neither starts nor stops a deadline only moves the journey (no special work).
        fold_rows: dict[str, dict[str, _FoldEntry]] = {n: {} for n in by_name}
        for (source, event), entry in table.items():
            t, target, moves, check, tps_spec, dls_spec, weight, owes, withdraws, breach = entry
            deadlines_change = moves and bool(enter_dls[source] or enter_dls[target])
            special: _Special | None = None
            if check or tps_spec or deadlines_change or weight or withdraws or breach:
                lazy = all(spec[-1] is None for spec in (*tps_spec, *dls_spec))
                # what to check: nothing, only required keys (inline), or the guard too; 3:
                # the event withdraws touchpoints or stops a deadline, which replay leaves to
                # Journey.apply (rare events: a cancellation, a deadline's breach)
                checks = (
                    3 if withdraws or breach
                    else 0 if not check else 1 if t.guard is None else 2
                )
                full: _Work = (
                    source, t, checks, tps_spec, dls_spec, deadlines_change, weight, lazy, owes
                )
                special = (
                    lazy and not checks and not weight,
                    dls_spec if deadlines_change else None,
                    owes if tps_spec else None,
                    full,
                )
            fold_rows[source][event] = (fold_rows[target], target, special)
        object.__setattr__(self, "_by_name", MappingProxyType(by_name))
        object.__setattr__(self, "_table", table)
        object.__setattr__(self, "_rows", rows)
        object.__setattr__(self, "_fold_rows", fold_rows)
        # Replay may compute due times later (when read) only for events before this: no
        # due time of theirs can pass the end of the datetime range (two days spare for
        # time-zone offsets).
        longest = max(
            [tp[2] + tp[3] for entry in table.values() for tp in entry[4]]
            + [d[1] for entry in table.values() for d in entry[5]],
            default=dt.timedelta(0),
        )
        try:
            lazy_until = _LATEST - longest - dt.timedelta(days=2)
        except OverflowError:
            lazy_until = _EARLIEST
        object.__setattr__(self, "_lazy_until", lazy_until)
        object.__setattr__(
            self, "_allowed", MappingProxyType({k: tuple(sorted(v)) for k, v in allowed.items()})
        )
        object.__setattr__(
            self,
            "_enter_touchpoints",
            MappingProxyType({k: tuple(v) for k, v in enter_tps.items()}),
        )
        object.__setattr__(
            self, "_enter_deadlines", MappingProxyType({k: tuple(v) for k, v in enter_dls.items()})
        )

    # -- queries ------------------------------------------------------------------------

    def state(self, name: str) -> State:
        """The state called ``name``.

        Raises:
            CareKitError: the definition has no such state.
        """
        try:
            return self._by_name[name]
        except (KeyError, TypeError):  # (TypeError: an unhashable name)
            msg = (
                f"journey {self.name!r} has no state {name!r} "
                f"(states: {[s.name for s in self.states]})"
            )
            raise CareKitError(msg) from None

    def allowed_events(self, state: str) -> tuple[str, ...]:
        """The events allowed in ``state``, sorted.

        Raises:
            CareKitError: the definition has no such state.
        """
        self.state(state)
        return self._allowed[state]

    @property
    def events(self) -> tuple[str, ...]:
        """Every event name the definition knows, sorted."""
        return tuple(sorted({t.event for t in self.transitions}))

    @property
    def final_states(self) -> tuple[str, ...]:
        """Names of the final states, in definition order."""
        return tuple(s.name for s in self.states if s.final)

    # -- instances ----------------------------------------------------------------------

    def start(
        self,
        journey_id: str,
        *,
        at: dt.datetime,
        customer_id: str | None = None,
        channel: str | None = None,
        tz: str | None = None,
    ) -> Journey:
        """Start a journey in the initial state.

        Touchpoints on the initial state are owed and its deadlines start running.

        Args:
            journey_id: identifier of this journey (an order number, a case id).
            at: when the journey starts (timezone-aware).
            customer_id: who it is for.
            channel: the customer's preferred channel, used by touchpoints that name none.
            tz: the customer's time zone (an IANA name such as ``"Europe/Paris"``, or a
                :class:`zoneinfo.ZoneInfo`): channels' quiet hours are kept in it.

        Returns:
            A :class:`~carekit.journeys.Journey` at version 0.

        Raises:
            CareKitError: an empty journey id, a naive ``at``, a bad channel name, a time
                zone that is not known.
        """
        start = _LAZY.get("start")
        if start is None:  # imported on first use: journey.py imports this module
            from carekit.journeys.journey import _start

            start = _LAZY["start"] = _start
        journey: Journey = start(
            self, journey_id, at=at, customer_id=customer_id, channel=channel, tz=tz
        )
        return journey

    # -- diagrams -----------------------------------------------------------------------

    def to_mermaid(self) -> str:
        """A Mermaid flowchart: phases as subgraphs, touchpoints marked with ✉."""
        from carekit.journeys.diagrams import to_mermaid

        return to_mermaid(self)

    def to_dot(self) -> str:
        """A Graphviz DOT digraph: phases as clusters, touchpoints marked with ✉."""
        from carekit.journeys.diagrams import to_dot

        return to_dot(self)

    def to_svg(self) -> str:
        """An SVG picture laid out by carekit (no renderer, no network): ``diagrams.to_svg``."""
        from carekit.journeys.diagrams import to_svg

        return to_svg(self)


def _rebuild(cls: type[Any], fields: dict[str, Any]) -> Any:
    """Unpickle a definition or friction policy by constructing it again (validated)."""
    return cls(**fields)
