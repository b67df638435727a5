"""Journey stores side by side: what a store must do, and where each one does it.

* :mod:`~carekit.journeys.stores.protocol` — the :class:`JourneyStore` contract and the
  records stores return (:class:`JourneySummary`, :class:`OutboxEntry`,
  :class:`ClaimedTouchpoint`, :class:`AttemptOutcome`, :class:`Fired`);
* :mod:`~carekit.journeys.stores.memory` — :class:`MemoryJourneyStore` (tests, one process);
* :mod:`~carekit.journeys.stores.sqlite` — :class:`SQLiteJourneyStore` (the embedded default);
* :mod:`~carekit.journeys.stores.postgres` — :class:`PostgresJourneyStore` (extra
  ``carekit[postgres]``; many processes on many hosts);
* :mod:`~carekit.journeys.stores.urls` — :func:`open_store` (``sqlite:///…``,
  ``postgresql://…``, ``memory://``);
* what they share, privately: checking arguments and applying events (``_shared``), the
  text forms of times, data and journey state (``_codec``), the timer index's logic that is
  not SQL (``_timers``), the SQLite schema and its migrations (``_sqlite_schema``).

:class:`carekit.testing.JourneyStoreContract` is the conformance suite every built-in store
passes and a third-party store can run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carekit.journeys.stores.memory import MemoryJourneyStore
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
from carekit.journeys.stores.sqlite import SQLiteJourneyStore
from carekit.journeys.stores.urls import open_store

if TYPE_CHECKING:
    from carekit.journeys.stores.postgres import AsyncPostgresJourneyStore, PostgresJourneyStore

__all__ = [
    "OUTBOX_STATUSES",
    "AsyncPostgresJourneyStore",
    "AttemptOutcome",
    "ClaimedTouchpoint",
    "Fired",
    "JourneyStore",
    "JourneySummary",
    "MemoryJourneyStore",
    "OutboxEntry",
    "OutboxStatus",
    "PostgresJourneyStore",
    "SQLiteJourneyStore",
    "SentKey",
    "open_store",
]


def __getattr__(name: str) -> Any:
    # PostgresJourneyStore needs psycopg (carekit[postgres]): imported on first use only.
    if name in ("PostgresJourneyStore", "AsyncPostgresJourneyStore"):
        from carekit.journeys.stores import postgres

        return getattr(postgres, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
