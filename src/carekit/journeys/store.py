"""The journey-store contract (kept at this path; it lives in :mod:`carekit.journeys.stores`)."""

from carekit.journeys.stores.protocol import (
    OUTBOX_STATUSES,
    AttemptOutcome,
    ClaimedTouchpoint,
    Fired,
    JourneyStore,
    JourneySummary,
    OutboxEntry,
    OutboxStatus,
    SentKey,
)

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
