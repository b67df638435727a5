"""What every journey store promises: the :class:`JourneyStore` protocol and its records.

A store keeps each journey as an append-only log of events, its current state, an *outbox*
of the touchpoints those events made owed and a *timer index* (running deadlines, promise
checks). Appending events, owing their touchpoints and setting their timers happen in one
transaction, so a touchpoint is never owed for an event that was not stored, and never lost
for one that was. A :class:`~carekit.journeys.Worker` then fires the timers that are due
(:meth:`JourneyStore.fire_due`), claims touchpoints from the outbox
(:meth:`JourneyStore.claim_due`), hands them to channel plugins and records each outcome
(:meth:`JourneyStore.record`).

Three stores ship with carekit: :class:`~carekit.journeys.MemoryJourneyStore` (tests, one
process), :class:`~carekit.journeys.SQLiteJourneyStore` (the embedded default, several
processes on one machine) and :class:`~carekit.journeys.PostgresJourneyStore` (many
processes on many machines). All pass :class:`carekit.testing.JourneyStoreContract`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from carekit.journeys import Event, Journey, JourneyDefinition
    from carekit.plugins import CareKit

__all__ = [
    "OUTBOX_STATUSES",
    "AttemptOutcome",
    "ClaimedTouchpoint",
    "Fired",
    "JourneyStore",
    "JourneySummary",
    "OutboxEntry",
    "OutboxStatus",
    "SentKey",
]

#: Where a touchpoint stands in the outbox:
#:
#: * ``pending``: owed, not tried yet (or tried and in flight);
#: * ``failed``: the last attempt failed; it is tried again at ``next_attempt_at``;
#: * ``deferred``: a channel plugin or the channel's quiet hours put it off until
#:   ``next_attempt_at`` (no attempt used);
#: * ``sent``: delivered;
#: * ``dead``: given up on (dead-lettered);
#: * ``withdrawn``: no longer owed (the journey moved where it makes no sense); never sent
#:   unless a delivery already in flight reports it sent (the entry is then ``sent``).
OutboxStatus = Literal["pending", "failed", "deferred", "sent", "dead", "withdrawn"]

#: Every outbox status, in the order :meth:`JourneyStore.outbox_counts` lists them.
OUTBOX_STATUSES: tuple[str, ...] = ("pending", "failed", "deferred", "sent", "dead", "withdrawn")


@attrs.frozen(kw_only=True)
class JourneySummary:
    """The current state of one journey, read without replaying its events.

    Args:
        journey_id: the journey's id.
        definition: the name of its :class:`~carekit.journeys.JourneyDefinition`.
        state: the name of the state it is in.
        version: how many events it has applied.
        started_at: when it started.
        updated_at: when its last event happened.
        customer_id: the customer, when known.
        channel: the customer's preferred channel, when known.
        pending: how many touchpoints the outbox still has to send (pending, failed or
            deferred).
        tz: the customer's time zone name, when known.
    """

    journey_id: str
    definition: str
    state: str
    version: int
    started_at: dt.datetime
    updated_at: dt.datetime
    customer_id: str | None = None
    channel: str | None = None
    pending: int = 0
    tz: str | None = None


@attrs.frozen(kw_only=True)
class OutboxEntry:
    """One touchpoint in a store's outbox and what happened to it so far.

    Args:
        idempotency_key: the touchpoint's key; the same for every attempt.
        journey_id: the journey that owes it.
        name: the touchpoint's name (``"order_thanks"``).
        channel: the channel it travels on (``None``: the journey names none).
        due: when it is due.
        status: one of :data:`OUTBOX_STATUSES`.
        attempts: delivery attempts made so far.
        next_attempt_at: when a worker may try it next (pending, failed or deferred only).
        last_error: the last failed attempt's error (or why it was deferred), if any.
        settled_at: when it was sent, dead-lettered or withdrawn.
        reference: the provider's message id reported on delivery.
        not_before: the earliest moment it may be sent (``None``: as soon as owed).
    """

    idempotency_key: str
    journey_id: str
    name: str
    channel: str | None
    due: dt.datetime | None
    status: OutboxStatus
    attempts: int = 0
    next_attempt_at: dt.datetime | None = None
    last_error: str | None = None
    settled_at: dt.datetime | None = None
    reference: str | None = None
    not_before: dt.datetime | None = None


@attrs.frozen(kw_only=True)
class ClaimedTouchpoint:
    """A touchpoint a worker has claimed for one delivery attempt.

    Args:
        touchpoint: the owed touchpoint (an :class:`~carekit.journeys.OwedTouchpoint`:
            ``.name``, ``.channel``, ``.due``, ``.idempotency_key``, ``.data``,
            ``.journey_id``, ``.customer_id``, ``.tz``).
        channel: the channel to deliver on: the touchpoint's own, else the journey's
            preferred channel; ``None`` when neither names one.
        attempt: the number of this attempt (1 for the first).
        claim: the claim token (the claimant's name); recording the outcome needs it.
    """

    touchpoint: Any
    channel: str | None
    attempt: int
    claim: str

    @property
    def idempotency_key(self) -> str:
        """The touchpoint's idempotency key."""
        key: str = self.touchpoint.idempotency_key
        return key


#: What a worker reports for one claimed attempt.
AttemptStatus = Literal["sent", "retry", "dead", "defer", "release"]


@attrs.frozen(kw_only=True)
class AttemptOutcome:
    """What a store records for one claimed attempt (what workers pass to ``store.record``).

    Args:
        claimed: the claimed touchpoint.
        status: ``"sent"``; ``"retry"`` (failed; try again at ``retry_at``); ``"dead"``;
            ``"defer"`` (put off until ``retry_at``; the attempt does not count); or
            ``"release"`` (not tried at all: the worker is stopping; the attempt does not
            count and the touchpoint is claimable again at once).
        at: when the attempt ended.
        reference: the provider's message id (sent only).
        error: why the attempt failed, was deferred or the touchpoint was given up on.
        retry_at: when to try again (``"retry"`` and ``"defer"``).
    """

    claimed: ClaimedTouchpoint
    status: AttemptStatus
    at: dt.datetime
    reference: str | None = None
    error: str | None = None
    retry_at: dt.datetime | None = None


@attrs.frozen(kw_only=True)
class Fired:
    """A timer a store fired (see :meth:`JourneyStore.fire_due`).

    Args:
        journey_id: the journey.
        kind: ``"deadline"`` (a deadline breached: its breach event was applied, when the
            journey allows it there) or ``"promise"`` (a promise found at risk:
            ``promise_at_risk`` was applied).
        key: the timer's key (a deadline's: the breach event's id).
        due: when the timer was due.
        event: the event applied, or ``None`` when the journey does not take one there
            (the breach is then only reported by ``journey.overdue``).
    """

    journey_id: str
    kind: Literal["deadline", "promise"]
    key: str
    due: dt.datetime
    event: Event | None = None


@attrs.frozen(kw_only=True)
class SentKey:
    """A channel plugin's durable note that it handed a touchpoint to its provider.

    Args:
        idempotency_key: the touchpoint's key.
        channel: the channel it went out on.
        reference: the provider's message id, when known.
        at: when it was noted.
    """

    idempotency_key: str
    channel: str | None
    reference: str | None
    at: dt.datetime


@runtime_checkable
class JourneyStore(Protocol):
    """A durable home for journeys: event logs, current state, an outbox and a timer index.

    Implementations: :class:`~carekit.journeys.MemoryJourneyStore`,
    :class:`~carekit.journeys.SQLiteJourneyStore`,
    :class:`~carekit.journeys.PostgresJourneyStore`. :class:`carekit.testing.JourneyStoreContract`
    checks a store against this contract.
    """

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
        """Start a journey and store it at version 0.

        With ``exist_ok=True`` a journey that already has this id is returned as stored
        (a retried ``POST /orders`` is harmless).

        Raises:
            StoreError: a journey with this id already exists (and ``exist_ok`` is false).
        """
        ...

    def create_many(self, journeys: Iterable[Journey], *, exist_ok: bool = False) -> int:
        """Store many journeys started with ``definition.start(...)`` (version 0) at once.

        Returns:
            How many journeys were stored (with ``exist_ok``, those already stored are
            skipped and not counted).

        Raises:
            StoreError: one of the ids exists already (nothing is stored), unless
                ``exist_ok``.
        """
        ...

    def append(
        self,
        journey_id: str,
        events: Event | Iterable[Event],
        *,
        expected_version: int | None = None,
        kit: CareKit | None = None,
    ) -> Journey:
        """Apply ``events`` in order and store them with the touchpoints and timers they set.

        With ``kit``, the kit's plugins take part as in :func:`~carekit.journeys.advance`:
        recovery touchpoints are owed and kept in the outbox, observers are called once
        the batch is stored.

        All or nothing: when one event is refused, none is stored. An event whose ``id``
        the journey has already stored is skipped.

        Raises:
            UnknownJourney: no journey has this id.
            ConcurrencyError: ``expected_version`` is given and the stored journey is at
                another version.
            InvalidTransition: an event is not allowed where the journey is.
        """
        ...

    def load(self, journey_id: str) -> Journey:
        """The journey as its stored events and outbox outcomes make it.

        Raises:
            UnknownJourney: no journey has this id.
        """
        ...

    def load_many(self, journey_ids: Iterable[str] | None = None) -> Iterator[Journey]:
        """Load several journeys (every journey, ordered by id, when ``journey_ids`` is None)."""
        ...

    def journeys(
        self, *, definition: str | None = None, state: str | None = None
    ) -> Iterator[JourneySummary]:
        """The current state of every journey (optionally of one definition or state).

        Raises:
            CareKitError: a filter that is not a string.
        """
        ...

    def events(self, journey_id: str) -> list[Event]:
        """The journey's event log, in the order the events were applied.

        Raises:
            UnknownJourney: no journey has this id.
        """
        ...

    def outbox(
        self, journey_id: str | None = None, *, status: OutboxStatus | None = None
    ) -> list[OutboxEntry]:
        """The outbox's entries, oldest first, optionally for one journey or status.

        Raises:
            CareKitError: a ``status`` that is not one of :data:`OUTBOX_STATUSES`.
        """
        ...

    def outbox_counts(self) -> dict[str, int]:
        """How many outbox entries have each status (every status listed, zeros included)."""
        ...

    def claim_due(
        self, *, now: dt.datetime, limit: int, lease: dt.timedelta, claimant: str
    ) -> Sequence[ClaimedTouchpoint]:
        """Claim up to ``limit`` touchpoints that may be sent at ``now``, longest waiting first.

        A claimed touchpoint is invisible to other workers for ``lease``, timed on the
        store's own clock (not ``now``, which may be simulated or skewed); if the claimant
        crashes, it becomes claimable again after that, with the same key. Claiming counts
        an attempt.
        """
        ...

    def record(
        self,
        outcomes: Sequence[AttemptOutcome],
        *,
        lease: dt.timedelta | None = None,
        claimant: str | None = None,
        holding: Collection[str] | None = None,
    ) -> frozenset[str]:
        """Record the outcomes of claimed attempts, all in one transaction.

        ``"sent"`` marks the touchpoint delivered (even if its claim expired meanwhile, a
        rival dead-lettered it or a later event withdrew it: the message left);
        ``"retry"``, ``"defer"`` and ``"release"`` give the claim up until ``retry_at`` (at
        once for ``"release"``); ``"dead"`` dead-letters it. Failures are only recorded by
        the claim's current holder.

        With ``lease`` and ``claimant``, the same transaction extends every claim the
        claimant still holds by ``lease`` (a worker working through a batch keeps its
        claims alive while a slow provider answers).

        With ``holding`` and ``claimant``, the same transaction looks up only those keys
        (the worker asks about the next touchpoint it will send, so a store need not read
        every claim of the batch after each delivery); the lease is then extended only
        when ``lease`` is given. Optional: a store whose ``record`` does not take
        ``holding`` is called without it (the worker looks at the signature), and
        :class:`~carekit.testing.JourneyStoreContract` tests it only where it is taken.

        Returns:
            The keys ``claimant`` still holds after the extension (empty without ``lease``
            or ``holding``); with ``holding``, only those of ``holding``. A touchpoint
            claimed but missing here was withdrawn or taken over meanwhile and must not
            be delivered.
        """
        ...

    def fire_due(
        self, *, now: dt.datetime, limit: int, kit: CareKit | None = None, checks: Any = None
    ) -> list[Fired]:
        """Fire up to ``limit`` timers due at ``now``, in one transaction.

        A deadline breached is applied as its breach event (id: the deadline's key; dated
        ``now``, or the journey's latest event if that is later, with the due time in its
        data), so it is never lost to time order and never applied twice, however many
        workers fire at once. ``checks`` (a :class:`~carekit.journeys.PromiseChecks`)
        decides due promise checks; without it they wait.
        """
        ...

    def oldest_due(self, *, now: dt.datetime) -> dt.datetime | None:
        """When the longest-waiting due item (claimable touchpoint or due timer) became due."""
        ...

    def remember_sent(
        self,
        idempotency_key: str,
        *,
        at: dt.datetime,
        channel: str | None = None,
        reference: str | None = None,
    ) -> bool:
        """Note durably that a channel plugin handed ``idempotency_key`` to its provider.

        For providers that do not deduplicate: a plugin notes each key it sends (before
        sending: at most once per key; after: at least once, a crash in between aside) and
        skips keys already noted.

        Returns:
            ``True`` when the key was new, ``False`` when it was noted already (the first
            note is kept).
        """
        ...

    def sent_key(self, idempotency_key: str) -> SentKey | None:
        """The note :meth:`remember_sent` kept for ``idempotency_key``, or ``None``."""
        ...

    def close(self) -> None:
        """Release the store's resources; further calls raise :class:`~carekit.StoreError`."""
        ...
