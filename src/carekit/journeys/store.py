"""What every journey store promises: the :class:`JourneyStore` protocol and its records.

A store keeps each journey as an append-only log of events plus an *outbox* of the
touchpoints those events made owed. Appending events and owing their touchpoints happen in
one transaction, so a touchpoint is never owed for an event that was not stored, and never
lost for one that was. :func:`carekit.journeys.dispatch` (``CareKit.dispatch``) then claims
touchpoints from the outbox, hands them to channel plugins and records the outcome.

Two stores ship with carekit: :class:`~carekit.journeys.MemoryJourneyStore` (tests, one
process) and :class:`~carekit.journeys.SQLiteJourneyStore` (the embedded default, several
processes). Both pass the same test suite.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from carekit.journeys import Event, Journey, JourneyDefinition
    from carekit.plugins import CareKit

__all__ = [
    "AttemptOutcome",
    "ClaimedTouchpoint",
    "JourneyStore",
    "JourneySummary",
    "OutboxEntry",
    "OutboxStatus",
]

#: Where a touchpoint stands in the outbox: waiting to be sent, sent, given up on
#: (dead-lettered), or no longer owed because the journey moved on before it was sent.
OutboxStatus = Literal["pending", "sent", "dead", "withdrawn"]


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
        pending: how many touchpoints the outbox still has to send.
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


@attrs.frozen(kw_only=True)
class OutboxEntry:
    """One touchpoint in a store's outbox and what happened to it so far.

    Args:
        idempotency_key: the touchpoint's key; the same for every attempt.
        journey_id: the journey that owes it.
        name: the touchpoint's name (``"order_thanks"``).
        channel: the channel it travels on (``None``: the journey names none).
        due: when it is due.
        status: ``"pending"``, ``"sent"``, ``"dead"`` or ``"withdrawn"``.
        attempts: delivery attempts made so far.
        next_attempt_at: when a dispatcher may try it next (pending only).
        last_error: the last failed attempt's error, if any.
        settled_at: when it was sent, dead-lettered or withdrawn.
        reference: the provider's message id reported on delivery.
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


@attrs.frozen(kw_only=True)
class ClaimedTouchpoint:
    """A touchpoint a dispatcher has claimed for one delivery attempt.

    Args:
        touchpoint: the owed touchpoint (``.name``, ``.channel``, ``.due``,
            ``.idempotency_key``, ``.data``, ``.journey_id``, ``.state``).
        channel: the channel to deliver on: the touchpoint's own, else the journey's
            preferred channel; ``None`` when neither names one.
        attempt: the number of this attempt (1 for the first).
        claim: the claim token; recording the outcome needs it.
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


@attrs.frozen(kw_only=True)
class AttemptOutcome:
    """What a store records for one claimed attempt (what dispatchers pass to ``store.record``).

    Args:
        claimed: the claimed touchpoint.
        status: ``"sent"``, ``"retry"`` (failed; try again at ``retry_at``) or ``"dead"``.
        at: when the attempt ended.
        reference: the provider's message id (sent only).
        error: why the attempt failed or the touchpoint was given up on.
        retry_at: when to try again (``"retry"`` only).
    """

    claimed: ClaimedTouchpoint
    status: Literal["sent", "retry", "dead"]
    at: dt.datetime
    reference: str | None = None
    error: str | None = None
    retry_at: dt.datetime | None = None


@runtime_checkable
class JourneyStore(Protocol):
    """A durable home for journeys: an event log per journey plus an outbox of touchpoints.

    Implementations: :class:`~carekit.journeys.MemoryJourneyStore`,
    :class:`~carekit.journeys.SQLiteJourneyStore`.
    """

    def create(
        self,
        definition: JourneyDefinition | str,
        journey_id: str,
        *,
        at: dt.datetime,
        customer_id: str | None = None,
        channel: str | None = None,
    ) -> Journey:
        """Start a journey and store it at version 0.

        Raises:
            StoreError: a journey with this id already exists.
        """
        ...

    def create_many(self, journeys: Iterable[Journey]) -> int:
        """Store many journeys started with ``definition.start(...)`` (version 0) at once.

        Raises:
            StoreError: one of the ids exists already (nothing is stored).
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
        """Apply ``events`` in order and store them with the touchpoints they make owed.

        With ``kit``, the kit's plugins take part as in :func:`~carekit.journeys.advance`:
        recovery touchpoints are owed and kept in the outbox, observers are called.

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
        """Load several journeys (every journey when ``journey_ids`` is ``None``)."""
        ...

    def journeys(
        self, *, definition: str | None = None, state: str | None = None
    ) -> Iterator[JourneySummary]:
        """The current state of every journey (optionally of one definition or state).

        Raises:
            CareKitError: a filter that is not a string.
        """
        ...

    def outbox(
        self, journey_id: str | None = None, *, status: OutboxStatus | None = None
    ) -> list[OutboxEntry]:
        """The outbox's entries, oldest first, optionally for one journey or status.

        Raises:
            CareKitError: a ``status`` other than ``"pending"``, ``"sent"``, ``"dead"`` and
                ``"withdrawn"``.
        """
        ...

    def claim_due(
        self, *, now: dt.datetime, limit: int, lease: dt.timedelta, claimant: str
    ) -> Sequence[ClaimedTouchpoint]:
        """Claim up to ``limit`` pending touchpoints whose next attempt is due at ``now``.

        A claimed touchpoint is invisible to other dispatchers until ``now + lease``; if
        the claimant crashes, it becomes claimable again after that, with the same key.
        """
        ...

    def record(self, outcomes: Sequence[AttemptOutcome]) -> None:
        """Record the outcomes of claimed attempts, all in one transaction.

        ``"sent"`` marks the touchpoint delivered (even if its claim expired meanwhile: the
        message left); ``"retry"`` releases the claim until ``retry_at``; ``"dead"``
        dead-letters it. Failures are only recorded by the claim's current holder.
        """
        ...

    def close(self) -> None:
        """Release the store's resources; further calls raise :class:`StoreError`."""
        ...
