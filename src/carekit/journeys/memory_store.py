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
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from carekit.errors import ConcurrencyError, StoreError, UnknownJourney
from carekit.journeys._store_base import (
    Definitions,
    DefinitionsArg,
    apply_events,
    check_claim,
    check_expected_version,
    check_filters,
    check_fresh,
    check_journey_id,
    check_journey_ids,
    check_outcomes,
    notify,
    to_events,
)
from carekit.journeys.store import (
    AttemptOutcome,
    ClaimedTouchpoint,
    JourneySummary,
    OutboxEntry,
    OutboxStatus,
)

if TYPE_CHECKING:
    from carekit.journeys import Event, Journey, JourneyDefinition
    from carekit.plugins import CareKit

__all__ = ["MemoryJourneyStore"]


@attrs.define
class _Entry:
    touchpoint: Any
    channel: str | None
    next_attempt: dt.datetime
    status: OutboxStatus = "pending"
    attempts: int = 0
    claimed_by: str | None = None
    claim_until: dt.datetime | None = None
    last_error: str | None = None
    settled_at: dt.datetime | None = None
    reference: str | None = None


@attrs.define
class _Record:
    journey: Journey
    events: list[Event]


class MemoryJourneyStore:
    """Journeys, their events and their outbox in this process's memory (thread-safe).

    Behaves like :class:`~carekit.journeys.SQLiteJourneyStore` (same optimistic
    concurrency, idempotent event ids, all-or-nothing appends, outbox and claims) but
    keeps nothing after the process ends.

    Args:
        definitions: journey definitions to know by name besides the built-ins (an
            iterable, a mapping of name to definition, or a :class:`~carekit.CareKit`).
    """

    def __init__(self, *, definitions: DefinitionsArg = None) -> None:
        self._definitions = Definitions(definitions)
        self._lock = threading.RLock()
        self._journeys: dict[str, _Record] = {}
        self._outbox: dict[str, _Entry] = {}
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
            return self._journeys[journey_id]
        except KeyError:
            raise UnknownJourney(journey_id) from None

    def create(
        self,
        definition: JourneyDefinition | str,
        journey_id: str,
        *,
        at: dt.datetime,
        customer_id: str | None = None,
        channel: str | None = None,
    ) -> Journey:
        """Start a journey and keep it (version 0) with the touchpoints its start owes.

        Raises:
            StoreError: a journey with this id exists already.
        """
        check_journey_id(journey_id)
        resolved = self._definitions.resolve(definition)
        journey = resolved.start(journey_id, at=at, customer_id=customer_id, channel=channel)
        self.create_many([journey])
        return journey

    def create_many(self, journeys: Iterable[Journey]) -> int:
        """Keep many freshly started journeys (version 0) at once; all or nothing.

        Raises:
            StoreError: one of the ids exists already (nothing is kept).
            CareKitError: a journey is not at version 0 or is not a Journey.
        """
        items = check_fresh(journeys, self._definitions)
        with self._lock:
            self._check_open()
            seen: set[str] = set()
            for j in items:
                if j.journey_id in self._journeys or j.journey_id in seen:
                    msg = (
                        f"a journey with journey_id {j.journey_id!r} already exists in this store"
                    )
                    raise StoreError(msg)
                seen.add(j.journey_id)
            for j in items:
                self._journeys[j.journey_id] = _Record(journey=j, events=[])
                self._owe(j, j.owed)
        return len(items)

    def _owe(self, journey: Journey, touchpoints: Iterable[Any]) -> None:
        for tp in touchpoints:
            self._outbox[tp.idempotency_key] = _Entry(
                touchpoint=tp,
                channel=tp.channel if tp.channel is not None else journey.channel,
                next_attempt=tp.owed_at,
            )

    def append(
        self,
        journey_id: str,
        events: Event | Iterable[Event],
        *,
        expected_version: int | None = None,
        kit: CareKit | None = None,
    ) -> Journey:
        """Apply ``events`` and keep them with the touchpoints they owe (all or nothing).

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
            journey = record.journey
            if expected is not None and expected != journey.version:
                raise ConcurrencyError(journey_id, expected, journey.version)
            owed_count = len(journey.owed)
            journey, applied, notices = apply_events(journey, batch, kit=kit)
            for event, _, touchpoints in applied:
                record.events.append(event)
                owed_count += len(touchpoints)
                self._owe(journey, touchpoints)
            if len(journey.owed) != owed_count:
                owed = {tp.idempotency_key for tp in journey.owed}
                for entry in self._outbox.values():
                    key = entry.touchpoint.idempotency_key
                    if (entry.touchpoint.journey_id == journey_id and entry.status == "pending"
                            and key not in owed):
                        entry.status = "withdrawn"
                        entry.settled_at = applied[-1][0].at
            record.journey = journey
        notify(kit, notices)
        return journey

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
                if entry.status == "pending":
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
            )

    def events(self, journey_id: str) -> list[Event]:
        """The kept events of one journey, in the order they were applied."""
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
                    next_attempt_at=e.next_attempt if e.status == "pending" else None,
                    last_error=e.last_error,
                    settled_at=e.settled_at,
                    reference=e.reference,
                )
                for key, e in self._outbox.items()
                if (journey_id is None or e.touchpoint.journey_id == journey_id)
                and (status is None or e.status == status)
            ]

    def claim_due(
        self, *, now: dt.datetime, limit: int, lease: dt.timedelta, claimant: str
    ) -> list[ClaimedTouchpoint]:
        """Claim up to ``limit`` pending touchpoints due for an attempt at ``now``.

        Raises:
            CareKitError: a naive ``now``, a ``limit`` outside [1, 1,000,000], a ``lease``
                that is not a positive duration or ends past the year 9999, no claimant.
        """
        until = check_claim(now, limit, lease, claimant)
        with self._lock:
            self._check_open()
            ready = [
                e
                for e in self._outbox.values()
                if e.status == "pending"
                and e.next_attempt <= now
                and (e.claim_until is None or e.claim_until <= now)
            ]
            ready.sort(key=lambda e: e.next_attempt)
            claimed: list[ClaimedTouchpoint] = []
            for e in ready[:limit]:
                e.attempts += 1
                e.claimed_by = claimant
                e.claim_until = until
                claimed.append(
                    ClaimedTouchpoint(
                        touchpoint=e.touchpoint, channel=e.channel, attempt=e.attempts,
                        claim=claimant,
                    )
                )
            return claimed

    def record(self, outcomes: Sequence[AttemptOutcome]) -> None:
        """Record the outcomes of claimed attempts.

        Raises:
            CareKitError: ``outcomes`` holds something other than an ``AttemptOutcome``.
        """
        checked = check_outcomes(outcomes)
        with self._lock:
            self._check_open()
            for outcome in checked:
                self._record_one(outcome)

    def _record_one(self, outcome: AttemptOutcome) -> None:
        claimed = outcome.claimed
        key = claimed.idempotency_key
        entry = self._outbox.get(key)
        if entry is None:
            return
        if entry.status != "pending" and not (entry.status == "dead" and outcome.status == "sent"):
            return
        if outcome.status != "sent" and entry.claimed_by != claimed.claim:
            return
        entry.claimed_by = None
        entry.claim_until = None
        entry.last_error = outcome.error
        if outcome.status == "retry":
            assert outcome.retry_at is not None
            entry.next_attempt = outcome.retry_at
            return
        entry.settled_at = outcome.at
        record = self._journeys[entry.touchpoint.journey_id]
        if outcome.status == "sent":
            entry.status = "sent"
            entry.reference = outcome.reference
            record.journey = record.journey.delivered(key, at=outcome.at)
        else:
            entry.status = "dead"
            reason = outcome.error or "dead-lettered"
            record.journey = record.journey.dead_lettered(key, at=outcome.at, reason=reason)
