"""What every store shares: definitions by name, argument checks, applying events (private)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from operator import attrgetter
from typing import TYPE_CHECKING, Any, NoReturn

import attrs

from carekit import _validate
from carekit.errors import CareKitError, StoreError
from carekit.journeys._fast import positional_constructor
from carekit.journeys.advance import _advance, check_kit
from carekit.journeys.events import Event as _Event
from carekit.journeys.journey import OwedTouchpoint, TouchpointWithdrawn
from carekit.journeys.stores._timers import breach_event
from carekit.journeys.stores.protocol import OUTBOX_STATUSES, AttemptOutcome

_log = logging.getLogger("carekit.journeys")

if TYPE_CHECKING:
    from carekit.journeys import Event, Journey, JourneyDefinition
    from carekit.plugins import CareKit

__all__ = [
    "MAX_CLAIM",
    "Applied",
    "Definitions",
    "apply_events",
    "check_claim",
    "check_expected_version",
    "check_fresh",
    "check_journey_id",
    "check_limit",
    "later_by",
    "notify",
    "to_events",
]

#: The most touchpoints one ``claim_due`` call (one dispatch batch) may claim.
MAX_CLAIM = 1_000_000

DefinitionsArg = Any  # Iterable[JourneyDefinition] | Mapping[str, JourneyDefinition] | CareKit


def _builtins() -> dict[str, JourneyDefinition]:
    from carekit.journeys import order_journey, service_case_journey, visit_journey

    return {d.name: d for d in (order_journey(), service_case_journey(), visit_journey())}


class Definitions:
    """The journey definitions a store knows, by name.

    ``definitions`` may be ``None`` (the built-in journeys), an iterable of definitions, a
    mapping of name to definition, or a :class:`~carekit.CareKit` (its ``.journeys``, which
    include the built-ins and every plugin's). Creating a journey with a definition the store
    did not know adds it.
    """

    def __init__(self, definitions: DefinitionsArg = None) -> None:
        from carekit.journeys import JourneyDefinition

        self._kind = JourneyDefinition
        known: dict[str, JourneyDefinition] = _builtins()
        if definitions is None:
            pass
        elif hasattr(definitions, "journeys") and hasattr(definitions, "hook"):
            known.update(definitions.journeys)
        elif isinstance(definitions, Mapping):
            known.update(self._checked(definitions.values()))
        elif isinstance(definitions, Iterable) and not isinstance(definitions, (str, bytes)):
            known.update(self._checked(definitions))
        else:
            msg = (
                "definitions must be JourneyDefinition objects, a mapping of name to "
                f"JourneyDefinition, or a CareKit (got {definitions!r})"
            )
            raise CareKitError(msg)
        self._known = known

    def _checked(self, items: Iterable[Any]) -> dict[str, JourneyDefinition]:
        found: dict[str, JourneyDefinition] = {}
        for item in items:
            if not isinstance(item, self._kind):
                msg = f"definitions must hold JourneyDefinition objects (got {item!r})"
                raise CareKitError(msg)
            found[item.name] = item
        return found

    def resolve(self, definition: JourneyDefinition | str) -> JourneyDefinition:
        """The definition object for ``definition`` (an object is learnt, a name looked up)."""
        if isinstance(definition, self._kind):
            self._known[definition.name] = definition
            return definition
        if isinstance(definition, str):
            return self.get(definition)
        msg = f"definition must be a JourneyDefinition or a known name (got {definition!r})"
        raise CareKitError(msg)

    def get(self, name: str, journey_id: str | None = None) -> JourneyDefinition:
        """The definition called ``name``.

        Raises:
            StoreError: the store was not told about it.
        """
        try:
            return self._known[name]
        except KeyError:
            whose = f"journey {journey_id!r} uses " if journey_id is not None else ""
            msg = (
                f"{whose}journey definition {name!r}, which this store does not know "
                f"(known: {sorted(self._known)}); pass definitions=[...] or a CareKit "
                "whose plugins register it"
            )
            raise StoreError(msg) from None

    def learn(self, definitions: Iterable[JourneyDefinition]) -> None:
        """Know ``definitions`` too, by name; a name already known keeps its definition."""
        for definition in definitions:
            if isinstance(definition, self._kind):
                self._known.setdefault(definition.name, definition)

    @property
    def names(self) -> list[str]:
        """The names known, sorted."""
        return sorted(self._known)


def learn_definitions(store: Any, kit: Any) -> None:
    """Teach a built-in store the journeys ``kit``'s plugins register that it does not know.

    A worker or ``dispatch`` is handed the kit that carries the plugins, journeys included,
    so a store opened without ``definitions=`` still rebuilds the journeys of every
    definition the kit knows. Names the store already knows keep their definitions; a store
    of another kind (a third party's) is left as it is.
    """
    journeys = getattr(kit, "journeys", None)
    if not isinstance(journeys, Mapping):
        return
    for target in (store, getattr(store, "store", None)):  # an aio ThreadedStore wraps one
        known = getattr(target, "_definitions", None)
        if known is None:
            known = getattr(getattr(target, "_core", None), "definitions", None)
        if isinstance(known, Definitions):
            known.learn(journeys.values())


def check_state(definition: JourneyDefinition, journey_id: str, state: str, edited: str) -> None:
    """Refuse a stored journey whose state its definition does not have.

    ``edited`` names what may have been edited by hand ("file", "row").
    """
    if state not in definition._by_name:
        msg = (
            f"journey {journey_id!r} is in state {state!r}, which definition "
            f"{definition.name!r} does not have (states: "
            f"{[s.name for s in definition.states]}); was the definition changed "
            f"incompatibly, or the {edited} edited by hand?"
        )
        raise StoreError(msg)


def check_journey_id(journey_id: object) -> str:
    """``journey_id`` if it is a non-empty string."""
    if not isinstance(journey_id, str) or not journey_id:
        msg = f"journey_id must be a non-empty string (got {journey_id!r})"
        raise CareKitError(msg)
    return journey_id


def check_journey_ids(journey_ids: object) -> list[str] | None:
    """``journey_ids`` (None, or an iterable of journey ids) as a checked list."""
    if journey_ids is None:
        return None
    if isinstance(journey_ids, (str, bytes, Mapping)) or not isinstance(journey_ids, Iterable):
        msg = f"journey_ids must be an iterable of journey ids, or None (got {journey_ids!r})"
        raise CareKitError(msg)
    return [check_journey_id(j) for j in journey_ids]


def check_outcomes(outcomes: object) -> list[AttemptOutcome]:
    """``outcomes`` as a list of :class:`~carekit.journeys.AttemptOutcome`."""
    items = outcomes
    if type(items) is not list and (  # a worker's list skips the (slower) abstract checks
        isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable)
    ):
        items = [outcomes]  # reported as the item below
    checked: list[AttemptOutcome] = []
    for outcome in items:  # checked one by one: range(10**12) fails at its first item
        if not isinstance(outcome, AttemptOutcome):
            msg = (
                "outcomes must be an iterable of carekit.journeys.AttemptOutcome "
                f"objects, as a worker makes them (got {outcome!r})"
            )
            raise CareKitError(msg)
        checked.append(outcome)
    return checked


def check_holding(holding: object, claimant: object) -> tuple[str, ...] | None:
    """``record``'s ``holding`` as a tuple of keys (None when not given).

    Raises:
        CareKitError: ``holding`` is a string or not an iterable of strings, or comes
            without a ``claimant`` (the claims asked about are someone's).
    """
    if holding is None:
        return None
    if type(holding) is tuple and claimant is not None and (  # a worker's (next key,)
        not holding or (len(holding) == 1 and type(holding[0]) is str)
    ):
        return holding
    if isinstance(holding, (str, bytes)) or not isinstance(holding, Iterable):
        raise CareKitError("holding must be a collection of idempotency keys, such as a "
                           f"tuple of strings (got {holding!r})")
    keys = tuple(holding)
    odd = [key for key in keys if not isinstance(key, str)]
    if odd:
        msg = f"holding must hold idempotency keys as strings (got {odd[0]!r})"
        raise CareKitError(msg)
    if claimant is None:
        msg = "holding asks which claims a claimant still holds: give the claimant too"
        raise CareKitError(msg)
    return keys


def check_filters(**filters: object) -> None:
    """Each listing filter is None or a string; ``status`` one of :data:`OUTBOX_STATUSES`."""
    for name, value in filters.items():
        if value is not None and not isinstance(value, str):
            msg = f"{name} must be a string or None (got {value!r})"
            raise CareKitError(msg)
    status = filters.get("status")
    if status is not None and status not in OUTBOX_STATUSES:
        msg = f"status must be one of {', '.join(map(repr, OUTBOX_STATUSES))} (got {status!r})"
        raise CareKitError(msg)


def to_events(journey_id: str, events: Any) -> list[Event]:
    """``events`` as a list, checked to be :class:`Event` objects meant for ``journey_id``."""
    if type(events) is _Event:  # one event, the usual call
        if events.journey_id is not None and events.journey_id != journey_id:
            _elsewhere(events, journey_id)
        return [events]
    items = [events] if isinstance(events, _Event) else events
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        msg = f"events must be an Event or an iterable of Event objects (got {events!r})"
        raise CareKitError(msg)
    checked: list[Event] = []
    for event in items:
        if not isinstance(event, _Event):
            msg = f"events must hold Event objects (got {event!r})"
            raise CareKitError(msg)
        if event.journey_id is not None and event.journey_id != journey_id:
            _elsewhere(event, journey_id)
        checked.append(event)
    return checked


def _elsewhere(event: Event, journey_id: str) -> NoReturn:
    msg = (
        f"event {event.name!r} belongs to journey_id {event.journey_id!r}, "
        f"not to {journey_id!r}"
    )
    raise CareKitError(msg)


def check_fresh(journeys: Iterable[Any], definitions: Definitions) -> list[Journey]:
    """``journeys`` as a list of version-0 journeys with distinct ids; definitions learnt."""
    from carekit.journeys import Journey

    if isinstance(journeys, (str, bytes, Mapping)) or not isinstance(journeys, Iterable):
        msg = f"journeys must be an iterable of started Journey objects (got {journeys!r})"
        raise CareKitError(msg)
    items = list(journeys)
    for j in items:
        if not isinstance(j, Journey):
            msg = f"journeys must hold Journey objects from definition.start(...) (got {j!r})"
            raise CareKitError(msg)
        if j.version != 0:
            msg = (
                f"journey {j.journey_id!r} is at version {j.version}; create_many stores "
                "journeys at version 0 (append their events afterwards)"
            )
            raise CareKitError(msg)
        definitions.resolve(j.definition)
    # A journey given another customer_id after start (attrs.evolve) still owes its first
    # touchpoints under the old one: every store tells channel plugins the journey's own.
    return [
        j if all(tp.customer_id == j.customer_id and tp.tz == j.tz for tp in j.owed)
        else attrs.evolve(
            j,
            owed=tuple(
                attrs.evolve(tp, customer_id=j.customer_id, tz=j.tz) for tp in j.owed
            ),
        )
        for j in items
    ]


def check_expected_version(expected_version: object) -> int | None:
    """``expected_version`` if it is ``None`` or an int >= 0."""
    if expected_version is None:
        return None
    return _validate.positive_int("expected_version", expected_version, minimum=0)


@attrs.frozen
class Applied:
    """An event that changed the journey, and what it changed (for the store to write).

    Args:
        event: the event.
        version: the journey version it produced.
        owed: the touchpoints it made owed (recovery touchpoints included).
        withdrawn: the keys of the touchpoints it withdrew.
        at: the time the journey took it at (``event.at``, or the latest event's time when
            the event was within the clock tolerance before it).
    """

    event: Event
    version: int
    owed: tuple[Any, ...]
    withdrawn: tuple[str, ...]
    at: dt.datetime


_new_applied = positional_constructor(Applied)

#: An observer call owed once the batch is kept: ``(journey after the event, transition)``.
Notice = tuple["Journey", Any]


def apply_events(
    journey: Journey, events: list[Event], *, kit: CareKit | None = None
) -> tuple[Journey, list[Applied], list[Notice]]:
    """Apply ``events`` in order; an id the journey has seen (stored or in this batch) is skipped.

    The journey's own record of applied ids is complete (a stored journey is rebuilt with
    all its event ids), so no extra lookup is needed; the store's unique constraint on
    ``(journey_id, event_id)`` is the durable backstop.

    With ``kit``, recovery plugins take part (their touchpoints are owed) once the whole
    batch is known to be allowed, so a refused batch calls no plugin; the observer calls
    are returned, for the store to make once the batch is kept (:func:`notify`).

    Returns:
        The resulting journey, the events that changed it, and the observer calls owed.

    Raises:
        InvalidTransition: an event is not allowed (nothing of the batch should be kept).
        PluginError: a recovery plugin failed (nothing of the batch should be kept).
    """
    if kit is not None:
        check_kit(kit)
    if kit is not None and len(events) > 1:
        probe = journey
        for event in events:  # raises on the first event refused
            probe = probe.apply(event).journey
    applied: list[Applied] = []
    notices: list[Notice] = []
    for given in events:
        # Nearly always the event alone; the breaches it would clear unrecorded come first.
        missed = _with_missed_breaches(journey, given) if journey.deadlines else None
        for event in missed or (given,):
            step = journey.apply(event) if kit is None else _advance(kit, journey, event)
            new = step.journey
            if step.duplicate or new is journey:
                continue
            journey = new
            owed: tuple[Any, ...] = ()
            withdrawn: tuple[str, ...] = ()
            if step.effects:
                owes: list[Any] = []
                gone: list[str] = []
                for e in step.effects:  # one pass: most steps have one effect or two
                    kind = type(e)
                    if kind is OwedTouchpoint:
                        owes.append(e)
                    elif kind is TouchpointWithdrawn:
                        gone.append(e.touchpoint.idempotency_key)
                if owes:
                    owed = tuple(owes)
                if gone:
                    withdrawn = tuple(gone)
            applied.append(_new_applied(event, new.version, owed, withdrawn, new.updated_at))
            if kit is not None and step.transition is not None:
                notices.append((new, step.transition))
    return journey, applied, notices


def _with_missed_breaches(journey: Journey, event: Event) -> list[Event] | None:
    """The breach events ``event`` would clear unrecorded, then ``event``; None if none.

    An event that leaves a state after the state's deadline passed (an order acknowledged
    two hours after it was placed, under a one-hour deadline, before any worker fired the
    breach) clears the deadline: its breach would be lost to time order. Its breach event
    comes first instead, as the worker's would have: the deadline's key as its id (so no
    worker fires it again), the due time in its data, dated with the late event. A breach
    the state does not allow, or after which the late event would not be allowed, is left
    out. An event that keeps the state leaves the deadline running: the worker fires it.
    """
    if event.id is not None and event.id in journey.seen_event_ids:
        return None
    rows = journey.definition._rows
    entry = rows[journey.state].get(event.name)
    if entry is None or not entry[2]:  # refused (apply says why), or the state stays
        return None
    at = event.at
    name = event.name
    for d in journey.deadlines:  # nearly always none passed: stop at the first that has
        if d.due < at and d.breach_event != name:
            break
    else:
        return None
    due = [d for d in journey.deadlines if d.due < at and d.breach_event != name]
    due.sort(key=attrgetter("due"))
    breaches: list[Event] = []
    ahead = journey
    for deadline in due:
        breach = breach_event(deadline, journey, at)
        try:
            ahead = ahead.apply(breach).journey
        except CareKitError:  # the state has no transition for it: nothing to record
            continue
        breaches.append(breach)
    if not breaches or rows[ahead.state].get(event.name) is None:
        return None
    return [*breaches, event]


def notify(kit: CareKit | None, notices: list[Notice]) -> None:
    """Call the ``carekit_on_transition`` observers for a batch the store has kept.

    An observer that raises is logged as a warning on the ``carekit.journeys`` logger,
    with its traceback; it never stops the others.
    """
    if kit is None:
        return
    for journey, transition in notices:
        for failure in kit.notify_transition(journey, transition):
            _log.warning(
                "carekit_on_transition observer %r failed on journey %r (event %r): %r",
                failure.plugin, journey.journey_id, transition.event, failure.error,
                exc_info=failure.error,
            )


def latest(a: dt.datetime, b: dt.datetime) -> dt.datetime:
    """The later of two aware datetimes."""
    return a if a >= b else b


def check_limit(name: str, value: object) -> int:
    """``value`` if it is an int in [1, :data:`MAX_CLAIM`] (how many touchpoints to claim).

    Raises:
        CareKitError: naming ``name``, for anything else.
    """
    limit = _validate.positive_int(name, value)
    if limit > MAX_CLAIM:
        shown = str(limit) if limit < 10**30 else "an integer of more than 30 digits"
        msg = f"{name} must be at most {MAX_CLAIM:,} touchpoints (got {shown})"
        raise CareKitError(msg)
    return limit


def later_by(now: dt.datetime, span: dt.timedelta, name: str) -> dt.datetime:
    """``now + span``, the argument called ``name`` being ``span``.

    Raises:
        CareKitError: the sum is past the end of the datetime range (year 9999).
    """
    try:
        return now + span
    except OverflowError:
        msg = (
            f"now + {name} is past the last datetime Python can represent (year 9999; "
            f"now={now.isoformat()}, {name}={span}); pass an earlier now or a shorter {name}"
        )
        raise CareKitError(msg) from None


def check_claim(now: object, limit: object, lease: object, claimant: object) -> dt.timedelta:
    """Check ``claim_due``'s arguments; return the lease as a duration.

    Raises:
        CareKitError: a naive ``now``, a ``limit`` outside [1, :data:`MAX_CLAIM`], a
            ``lease`` that is not a positive duration or is longer than a year, an empty
            ``claimant``.
    """
    _validate.aware("now", now)
    check_limit("limit", limit)
    span = check_lease(lease)
    if not isinstance(claimant, str) or not claimant:
        msg = f"claimant must be a non-empty string (got {claimant!r})"
        raise CareKitError(msg)
    return span


#: The longest lease a claim may have.
MAX_LEASE = dt.timedelta(days=366)


def check_lease(lease: object) -> dt.timedelta:
    """``lease`` as a positive duration of at most :data:`MAX_LEASE`."""
    span = _validate.positive_duration("lease", lease)
    if span > MAX_LEASE:
        msg = f"lease must be at most {MAX_LEASE.days} days (got {span})"
        raise CareKitError(msg)
    return span


def check_sent_key(key: object, at: object, channel: object, reference: object) -> Any:
    """A :class:`~carekit.journeys.SentKey` from ``remember_sent``'s checked arguments."""
    from carekit.journeys.stores.protocol import SentKey

    if not isinstance(key, str) or not key:
        msg = f"idempotency_key must be a non-empty string (got {key!r})"
        raise CareKitError(msg)
    when = _validate.aware("at", at)
    for name, value in (("channel", channel), ("reference", reference)):
        if value is not None and not isinstance(value, str):
            msg = f"{name} must be a string or None (got {value!r})"
            raise CareKitError(msg)
    return SentKey(idempotency_key=key, channel=channel, reference=reference,  # type: ignore[arg-type]
                   at=when)
