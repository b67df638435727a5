"""A journey store in memory: same behaviour as the SQLite store, for tests and one process.

Examples:
    >>> import datetime as dt
    >>> from carekit.journeys import Event, MemoryJourneyStore, order_journey
    >>> at = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
    >>> store = MemoryJourneyStore()
    >>> _ = store.create(order_journey(), "order-1", at=at)
    >>> store.append("order-1", Event("place", at=at, id="e1"), expected_version=0).version
    1
    >>> store.append("order-1", Event("place", at=at, id="e1")).version  # same id: ignored
    1
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from carekit.errors import CareKitError, ConcurrencyError, StoreError, UnknownJourney
from carekit.journeys.stores import _timers
from carekit.journeys.stores._shared import (
    Applied,
    Definitions,
    DefinitionsArg,
    apply_events,
    check_claim,
    check_expected_version,
    check_filters,
    check_fresh,
    check_holding,
    check_journey_id,
    check_journey_ids,
    check_lease,
    check_limit,
    check_outcomes,
    check_sent_key,
    notify,
    to_events,
)
from carekit.journeys.stores._timers import retry_later
from carekit.journeys.stores.protocol import (
    OUTBOX_STATUSES,
    AttemptOutcome,
    ClaimedTouchpoint,
    Fired,
    JourneySummary,
    OutboxEntry,
    OutboxStatus,
    SentKey,
)

if TYPE_CHECKING:
    from carekit.journeys import Event, Journey, JourneyDefinition
    from carekit.plugins import CareKit

__all__ = ["MemoryJourneyStore"]

#: Statuses a worker may still claim.
_OPEN = frozenset({"pending", "failed", "deferred"})
#: Settled statuses a late "sent" report still overrides (the message left).
_OVERRIDDEN = frozenset({"dead", "withdrawn"})


@attrs.define
class _Entry:
    touchpoint: Any
    channel: str | None
    next_attempt: dt.datetime
    status: OutboxStatus = "pending"
    attempts: int = 0
    claimed_by: str | None = None
    claim_until: float = 0.0
    last_error: str | None = None
    settled_at: dt.datetime | None = None
    reference: str | None = None
    settled_no: int = 0


@attrs.define
class _Record:
    """A journey, its events and its outbox keys (in the order owed).

    ``stale``: outcomes were recorded since ``journey`` was last built; its owed and dead
    touchpoints are rebuilt from the outbox when next read (recording stays O(1)).
    """

    journey: Journey
    events: list[Event]
    keys: list[str] = attrs.field(factory=list)
    stale: bool = False


@attrs.define
class _Timer:
    kind: str
    due: dt.datetime
    payload: str | None = None


class MemoryJourneyStore:
    """Journeys, their events, outbox and timers in this process's memory (thread-safe).

    Behaves like :class:`~carekit.journeys.SQLiteJourneyStore` (same optimistic
    concurrency, idempotent event ids, all-or-nothing appends, outbox, claims and timer
    index) but keeps nothing after the process ends.

    Args:
        definitions: journey definitions to know by name besides the built-ins (an
            iterable, a mapping of name to definition, or a :class:`~carekit.CareKit`).
        clock: the clock claims are timed by, in seconds (default :func:`time.time`); a
            test may pass a fake one to see a crashed worker's claims expire at once.
    """

    def __init__(
        self, *, definitions: DefinitionsArg = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._definitions = Definitions(definitions)
        self._clock = clock
        self._lock = threading.RLock()
        self._journeys: dict[str, _Record] = {}
        self._outbox: dict[str, _Entry] = {}
        # Claimable touchpoints and due timers, by time (entries checked when popped).
        self._ready: list[tuple[dt.datetime, int, str]] = []
        self._timers: dict[tuple[str, str], _Timer] = {}
        self._due: list[tuple[dt.datetime, int, str, str]] = []
        self._tick = itertools.count()
        self._sent: dict[str, SentKey] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"MemoryJourneyStore({len(self._journeys)} journeys)"

    def __contains__(self, journey_id: object) -> bool:
        return journey_id in self._journeys

    def __len__(self) -> int:
        return len(self._journeys)

    def close(self) -> None:
        """Forget nothing, but refuse further use (like a closed SQLite store)."""
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            msg = "this MemoryJourneyStore is closed"
            raise StoreError(msg)

    def _record(self, journey_id: str) -> _Record:
        check_journey_id(journey_id)
        self._check_open()
        try:
            record = self._journeys[journey_id]
        except KeyError:
            raise UnknownJourney(journey_id) from None
        if record.stale:
            self._refresh(record)
        return record

    def _refresh(self, record: _Record) -> None:
        """Fold the recorded outcomes into the journey: owed and dead as the outbox says."""
        from carekit.journeys.journey import DeadLetter

        entries = [self._outbox[key] for key in record.keys]
        owed = tuple(e.touchpoint for e in entries if e.status in _OPEN)
        dead = sorted((e for e in entries if e.status == "dead"), key=lambda e: e.settled_no)
        record.journey = attrs.evolve(
            record.journey,
            owed=owed,
            dead=tuple(
                DeadLetter(touchpoint=e.touchpoint, at=e.settled_at or e.next_attempt,
                           reason=e.last_error or "dead-lettered")
                for e in dead
            ),
        )
        record.stale = False

    # -- writing ------------------------------------------------------------------------

    def create(
        self,
        definition: JourneyDefinition | str,
        journey_id: str,
        *,
        at: dt.datetime,
        customer_id: str | None = None,
        channel: str | None = None,
        tz: str | None = None,
        exist_ok: bool = False,
    ) -> Journey:
        """Start a journey and keep it (version 0) with the touchpoints its start owes.

        Args:
            definition: the definition, or the name of one the store knows.
            journey_id: the new journey's id.
            at: when it starts.
            customer_id: who it is for.
            channel: the customer's preferred channel.
            tz: the customer's time zone (quiet hours are kept in it).
            exist_ok: return the stored journey when one has this id already.

        Raises:
            StoreError: a journey with this id exists already (and ``exist_ok`` is false).
        """
        check_journey_id(journey_id)
        resolved = self._definitions.resolve(definition)
        journey = resolved.start(
            journey_id, at=at, customer_id=customer_id, channel=channel, tz=tz
        )
        with self._lock:
            if exist_ok and journey_id in self._journeys:
                return self._record(journey_id).journey
            self.create_many([journey])
        return journey

    def create_many(self, journeys: Iterable[Journey], *, exist_ok: bool = False) -> int:
        """Keep many freshly started journeys (version 0) at once; all or nothing.

        Returns:
            How many journeys were kept (with ``exist_ok``, ids already kept are skipped).

        Raises:
            StoreError: one of the ids exists already (nothing is kept), unless ``exist_ok``.
            CareKitError: a journey is not at version 0 or is not a Journey.
        """
        items = check_fresh(journeys, self._definitions)
        with self._lock:
            self._check_open()
            seen: set[str] = set()
            fresh: list[Journey] = []
            for j in items:
                if j.journey_id in self._journeys or j.journey_id in seen:
                    if exist_ok:
                        continue
                    msg = (
                        f"a journey with journey_id {j.journey_id!r} already exists in this store"
                    )
                    raise StoreError(msg)
                seen.add(j.journey_id)
                fresh.append(j)
            for j in fresh:
                self._journeys[j.journey_id] = _Record(journey=j, events=[])
                self._owe(j, j.owed)
                self._set_deadlines(j.journey_id, j.deadlines)
        return len(fresh)

    def _owe(self, journey: Journey, touchpoints: Iterable[Any]) -> None:
        keys = self._journeys[journey.journey_id].keys
        for tp in touchpoints:
            keys.append(tp.idempotency_key)
            when = tp.sendable_at
            self._outbox[tp.idempotency_key] = _Entry(
                touchpoint=tp,
                channel=tp.channel if tp.channel is not None else journey.channel,
                next_attempt=when,
            )
            heapq.heappush(self._ready, (when, next(self._tick), tp.idempotency_key))

    def _set_timer(self, journey_id: str, key: str, timer: _Timer) -> None:
        self._timers[(journey_id, key)] = timer
        heapq.heappush(self._due, (timer.due, next(self._tick), journey_id, key))

    def _set_deadlines(self, journey_id: str, deadlines: Iterable[Any]) -> None:
        for d in deadlines:
            self._set_timer(journey_id, d.idempotency_key, _Timer("deadline", d.due))

    def append(
        self,
        journey_id: str,
        events: Event | Iterable[Event],
        *,
        expected_version: int | None = None,
        kit: CareKit | None = None,
    ) -> Journey:
        """Apply ``events`` and keep them with the touchpoints and timers they set.

        ``kit``: let a :class:`~carekit.CareKit`'s recovery plugins and observers take part.

        Raises:
            UnknownJourney: no journey has this id.
            ConcurrencyError: the journey is not at ``expected_version``.
            InvalidTransition: an event is not allowed; none of the batch is kept.
        """
        batch = to_events(journey_id, events)
        expected = check_expected_version(expected_version)
        with self._lock:
            record = self._record(journey_id)
            if expected is not None and expected != record.journey.version:
                raise ConcurrencyError(journey_id, expected, record.journey.version)
            journey, notices = self._apply(record, batch, kit)
        notify(kit, notices)
        return journey

    def _apply(
        self, record: _Record, batch: list[Event], kit: CareKit | None
    ) -> tuple[Journey, list[Any]]:
        """Apply and keep ``batch`` (the lock held); the journey and observer calls owed."""
        before = record.journey
        journey, applied, notices = apply_events(before, batch, kit=kit)
        if not applied:
            return journey, notices
        promise = _timers.promise_payload(applied)  # checked before anything is kept
        self._keep(record, before, journey, applied, promise)
        return journey, notices

    def _keep(
        self,
        record: _Record,
        before: Journey,
        journey: Journey,
        applied: list[Applied],
        promise: tuple[str, dt.datetime] | None,
    ) -> None:
        jid = journey.journey_id
        for item in applied:
            # Kept as the other stores give it back: naming its journey.
            event = item.event
            record.events.append(
                event if event.journey_id == jid else attrs.evolve(event, journey_id=jid)
            )
            self._owe(journey, item.owed)
            for key in item.withdrawn:
                entry = self._outbox.get(key)
                if entry is not None and entry.status in _OPEN:
                    entry.status = "withdrawn"
                    entry.settled_at = item.at
                    entry.claimed_by = None
        gone, added = _timers.deadline_changes(before, journey)
        for key in gone:
            self._timers.pop((jid, key), None)
        self._set_deadlines(jid, added)
        if promise is not None:
            timer = _Timer("promise", promise[1], promise[0])
            self._set_timer(jid, _timers.promise_key(jid), timer)
        if not _timers.keeps_promise_check(journey):
            self._timers.pop((jid, _timers.promise_key(jid)), None)
        record.journey = journey

    # -- reading ------------------------------------------------------------------------

    def load(self, journey_id: str) -> Journey:
        """The journey as it stands.

        Raises:
            UnknownJourney: no journey has this id.
        """
        with self._lock:
            return self._record(journey_id).journey

    def load_many(self, journey_ids: Iterable[str] | None = None) -> Iterator[Journey]:
        """Several journeys (all, ordered by id, when ``journey_ids`` is ``None``).

        Raises:
            UnknownJourney: one of ``journey_ids`` does not exist (when it is reached).
            CareKitError: ``journey_ids`` is not None or an iterable of journey ids.
        """
        ids = check_journey_ids(journey_ids)
        if ids is None:
            with self._lock:
                ids = sorted(self._journeys)
        return map(self.load, ids)

    def journeys(
        self, *, definition: str | None = None, state: str | None = None
    ) -> Iterator[JourneySummary]:
        """The current state of every journey, ordered by id.

        Raises:
            CareKitError: a filter that is not a string.
        """
        check_filters(definition=definition, state=state)
        return self._summaries(definition, state)

    def _summaries(
        self, definition: str | None, state: str | None
    ) -> Iterator[JourneySummary]:
        with self._lock:
            self._check_open()
            pending: dict[str, int] = {}
            for entry in self._outbox.values():
                if entry.status in _OPEN:
                    jid = entry.touchpoint.journey_id
                    pending[jid] = pending.get(jid, 0) + 1
            records = sorted(self._journeys.items())
        for journey_id, record in records:
            j = record.journey
            if definition is not None and j.definition.name != definition:
                continue
            if state is not None and j.state != state:
                continue
            yield JourneySummary(
                journey_id=journey_id,
                definition=j.definition.name,
                state=j.state,
                version=j.version,
                started_at=j.started_at,
                updated_at=j.updated_at,
                customer_id=j.customer_id,
                channel=j.channel,
                pending=pending.get(journey_id, 0),
                tz=j.tz,
            )

    def events(self, journey_id: str) -> list[Event]:
        """The kept events of one journey, in the order they were applied.

        Raises:
            UnknownJourney: no journey has this id.
        """
        with self._lock:
            return list(self._record(journey_id).events)

    def outbox(
        self, journey_id: str | None = None, *, status: OutboxStatus | None = None
    ) -> list[OutboxEntry]:
        """The outbox entries, in the order they were owed.

        Raises:
            CareKitError: a ``status`` that is not an outbox status, a ``journey_id`` that
                is not a string.
        """
        check_filters(journey_id=journey_id, status=status)
        with self._lock:
            self._check_open()
            return [
                OutboxEntry(
                    idempotency_key=key,
                    journey_id=e.touchpoint.journey_id,
                    name=e.touchpoint.name,
                    channel=e.channel,
                    due=e.touchpoint.due,
                    status=e.status,
                    attempts=e.attempts,
                    next_attempt_at=e.next_attempt if e.status in _OPEN else None,
                    last_error=e.last_error,
                    settled_at=e.settled_at,
                    reference=e.reference,
                    not_before=e.touchpoint.not_before,
                )
                for key, e in self._outbox.items()
                if (journey_id is None or e.touchpoint.journey_id == journey_id)
                and (status is None or e.status == status)
            ]

    def outbox_counts(self) -> dict[str, int]:
        """How many outbox entries have each status (every status listed)."""
        with self._lock:
            self._check_open()
            counts = dict.fromkeys(OUTBOX_STATUSES, 0)
            for e in self._outbox.values():
                counts[e.status] += 1
            return counts

    # -- the worker's side --------------------------------------------------------------

    def _claimable(self, entry: _Entry, clock: float) -> bool:
        return entry.status in _OPEN and (entry.claimed_by is None or entry.claim_until <= clock)

    def claim_due(
        self, *, now: dt.datetime, limit: int, lease: dt.timedelta, claimant: str
    ) -> list[ClaimedTouchpoint]:
        """Claim up to ``limit`` touchpoints that may be sent at ``now``, longest waiting first.

        Raises:
            CareKitError: a naive ``now``, a ``limit`` outside [1, 1,000,000], a ``lease``
                that is not a positive duration, no claimant.
        """
        span = check_claim(now, limit, lease, claimant)
        with self._lock:
            self._check_open()
            clock = self._clock()
            until = clock + span.total_seconds()
            claimed: list[ClaimedTouchpoint] = []
            held: list[tuple[dt.datetime, int, str]] = []
            ready = self._ready
            while ready and len(claimed) < limit and ready[0][0] <= now:
                item = heapq.heappop(ready)
                entry = self._outbox.get(item[2])
                if entry is None or entry.status not in _OPEN or entry.next_attempt != item[0]:
                    continue  # stale: settled, withdrawn or rescheduled since
                if not self._claimable(entry, clock):
                    held.append(item)  # another worker's live claim: look again later
                    continue
                entry.attempts += 1
                entry.claimed_by = claimant
                entry.claim_until = until
                held.append(item)  # kept until the outcome is recorded
                claimed.append(
                    ClaimedTouchpoint(
                        touchpoint=entry.touchpoint, channel=entry.channel,
                        attempt=entry.attempts, claim=claimant,
                    )
                )
            for item in held:
                heapq.heappush(ready, item)
            return claimed

    def record(
        self,
        outcomes: Sequence[AttemptOutcome],
        *,
        lease: dt.timedelta | None = None,
        claimant: str | None = None,
        holding: Collection[str] | None = None,
    ) -> frozenset[str]:
        """Record the outcomes of claimed attempts; optionally extend ``claimant``'s claims.

        With ``holding`` (and ``claimant``), only those keys are looked up.

        Returns:
            The keys ``claimant`` still holds after the extension (empty without ``lease``
            or ``holding``); with ``holding``, only those of ``holding``.

        Raises:
            CareKitError: ``outcomes`` holds something other than an ``AttemptOutcome``;
                ``holding`` that is not a collection of keys, or without a ``claimant``.
        """
        checked = check_outcomes(outcomes)
        span = None if lease is None else check_lease(lease)
        asked = check_holding(holding, claimant)
        with self._lock:
            self._check_open()
            for outcome in checked:
                self._record_one(outcome)
            clock = self._clock()
            still: list[str] = []
            if span is not None and claimant is not None:
                until = clock + span.total_seconds()
                for key, e in self._outbox.items():
                    if (e.claimed_by == claimant and e.status in _OPEN
                            and e.claim_until > clock):
                        e.claim_until = until
                        still.append(key)
            if asked is not None:
                return frozenset(key for key in asked if self._held(key, claimant, clock))
            return frozenset(still)

    def _held(self, key: str, claimant: str | None, clock: float) -> bool:
        entry = self._outbox.get(key)
        return (entry is not None and entry.claimed_by == claimant and entry.status in _OPEN
                and entry.claim_until > clock)

    def _record_one(self, outcome: AttemptOutcome) -> None:
        claimed = outcome.claimed
        key = claimed.idempotency_key
        entry = self._outbox.get(key)
        if entry is None:
            return
        # A late success report settles a touchpoint a rival dead-lettered or a later event
        # withdrew while it was in flight: the message left, the journey must not deny it.
        if entry.status not in _OPEN and not (
            entry.status in _OVERRIDDEN and outcome.status == "sent"
        ):
            return
        if outcome.status != "sent" and entry.claimed_by != claimed.claim:
            return
        entry.claimed_by = None
        entry.claim_until = 0.0
        if outcome.status in ("retry", "defer", "release"):
            if outcome.status == "retry":
                entry.status = "failed"
                entry.last_error = outcome.error
            else:
                entry.attempts = max(0, entry.attempts - 1)  # the attempt does not count
                if outcome.status == "defer":
                    entry.status = "deferred"
                    entry.last_error = outcome.error
            when = outcome.retry_at if outcome.retry_at is not None else entry.next_attempt
            entry.next_attempt = when
            heapq.heappush(self._ready, (when, next(self._tick), key))
            return
        entry.last_error = outcome.error
        entry.settled_at = outcome.at
        entry.settled_no = next(self._tick)
        if outcome.status == "sent":
            entry.status = "sent"
            entry.reference = outcome.reference
        else:
            entry.status = "dead"
        self._journeys[entry.touchpoint.journey_id].stale = True

    def fire_due(
        self, *, now: dt.datetime, limit: int, kit: CareKit | None = None, checks: Any = None
    ) -> list[Fired]:
        """Fire up to ``limit`` timers due at ``now`` (see :meth:`JourneyStore.fire_due`).

        Raises:
            CareKitError: a naive ``now``, a ``limit`` outside [1, 1,000,000].
        """
        from carekit import _validate

        _validate.aware("now", now)
        check_limit("limit", limit)
        fired: list[Fired] = []
        owed_notices: list[Any] = []
        with self._lock:
            self._check_open()
            skipped: list[tuple[dt.datetime, int, str, str]] = []
            due = self._due
            while due and len(fired) < limit and due[0][0] <= now:
                item = heapq.heappop(due)
                _, _, jid, key = item
                timer = self._timers.get((jid, key))
                if timer is None or timer.due != item[0]:
                    continue  # stale
                if timer.kind == "promise" and checks is None:
                    skipped.append(item)
                    continue
                record = self._record(jid)
                try:
                    hit, event, next_due = _decide(
                        timer, key, record.journey, record.events, now, checks
                    )
                    if event is not None:
                        owed_notices.extend(self._apply(record, [event], kit)[1])
                except CareKitError as exc:
                    hit, event, next_due = False, None, retry_later(now)
                    _timers.log_failure(jid, key, exc)
                if next_due is None:
                    if self._timers.get((jid, key)) is timer:
                        del self._timers[(jid, key)]
                else:
                    self._set_timer(jid, key, _Timer(timer.kind, next_due, timer.payload))
                if hit:
                    kind: Any = timer.kind
                    fired.append(
                        Fired(journey_id=jid, kind=kind, key=key, due=timer.due, event=event)
                    )
            for item in skipped:
                heapq.heappush(due, item)
        notify(kit, owed_notices)
        return fired

    def remember_sent(
        self,
        idempotency_key: str,
        *,
        at: dt.datetime,
        channel: str | None = None,
        reference: str | None = None,
    ) -> bool:
        """Note that ``idempotency_key`` was handed to a provider (see the protocol).

        Raises:
            CareKitError: an empty key, a naive ``at``, a non-string channel or reference.
        """
        note = check_sent_key(idempotency_key, at, channel, reference)
        with self._lock:
            self._check_open()
            if idempotency_key in self._sent:
                return False
            self._sent[idempotency_key] = note
            return True

    def sent_key(self, idempotency_key: str) -> SentKey | None:
        """The note kept for ``idempotency_key``, or ``None``."""
        check_journey_id(idempotency_key)
        with self._lock:
            self._check_open()
            return self._sent.get(idempotency_key)

    def oldest_due(self, *, now: dt.datetime) -> dt.datetime | None:
        """When the longest-waiting claimable touchpoint or due timer became due.

        Read from the tops of the two time-ordered heaps (stale entries dropped), so it
        costs about the same however many journeys are open.
        """
        with self._lock:
            self._check_open()
            clock = self._clock()
            ready = self._ready
            while ready:
                entry = self._outbox.get(ready[0][2])
                if entry is None or entry.status not in _OPEN or entry.next_attempt != ready[0][0]:
                    heapq.heappop(ready)  # stale: settled, withdrawn or rescheduled
                    continue
                break
            times = []
            for when, _, key in _in_order(ready):
                if when > now:
                    break
                entry = self._outbox.get(key)
                if entry is None or entry.status not in _OPEN or entry.next_attempt != when:
                    continue  # stale (below the top): settled, withdrawn or rescheduled
                if self._claimable(entry, clock):
                    times.append(when)
                    break
            due = self._due
            while due:
                timer = self._timers.get((due[0][2], due[0][3]))
                if timer is None or timer.due != due[0][0]:
                    heapq.heappop(due)
                    continue
                if due[0][0] <= now:
                    times.append(due[0][0])
                break
            return min(times, default=None)


def _in_order(heap: list[Any]) -> Iterator[Any]:
    """A heap's items, smallest first, walking down from its root (O(log k) per item read)."""
    frontier = [(heap[0], 0)] if heap else []
    while frontier:
        item, i = heapq.heappop(frontier)
        yield item
        for child in (2 * i + 1, 2 * i + 2):
            if child < len(heap):
                heapq.heappush(frontier, (heap[child], child))


def _decide(
    timer: _Timer,
    key: str,
    journey: Journey,
    events: Sequence[Event],
    now: dt.datetime,
    checks: Any,
) -> tuple[bool, Event | None, dt.datetime | None]:
    """What firing ``timer`` does: whether it fired, the event to apply, when it is next due."""
    if timer.kind == "deadline":
        return _timers.decide_deadline(key, journey, now)
    promise = _timers.parse_payload(timer.payload or "null")
    return _timers.decide_promise(checks, journey, promise, lambda: events, now)
