"""The in-memory journey store (kept at this path; it lives in :mod:`carekit.journeys.stores`)."""

from carekit.journeys.stores.memory import MemoryJourneyStore

__all__ = ["MemoryJourneyStore"]
