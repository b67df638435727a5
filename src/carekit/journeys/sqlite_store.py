"""The SQLite journey store (kept at this path; it lives in :mod:`carekit.journeys.stores`)."""

from carekit.journeys.stores.sqlite import MAX_BUSY_TIMEOUT, SQLiteJourneyStore

__all__ = ["MAX_BUSY_TIMEOUT", "SQLiteJourneyStore"]
