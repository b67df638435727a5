"""Customer journeys: where is this customer, what do we owe them next, and by when?

Declare a :class:`JourneyDefinition` (states in phases, transitions, touchpoints, deadlines),
start a :class:`Journey` and drive it with :class:`Event` objects: each
:meth:`Journey.apply` returns a :class:`Step` with the new, immutable journey and the
touchpoints now owed. :func:`replay` folds whole event logs; the built-ins
:func:`order_journey`, :func:`service_case_journey` and :func:`visit_journey` follow
established retail practice.

Examples:
    >>> import datetime as dt
    >>> from carekit.journeys import Event, order_journey
    >>> t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
    >>> journey = order_journey().start("order-1", at=t0, channel="email")
    >>> journey.apply(Event("place", at=t0)).journey.state
    'placed'
"""

from typing import TYPE_CHECKING, Any

from carekit.journeys.advance import advance
from carekit.journeys.builtins import order_journey, service_case_journey, visit_journey
from carekit.journeys.definition import (
    BusinessHours,
    Deadline,
    FrictionPolicy,
    JourneyDefinition,
    Phase,
    State,
    Touchpoint,
    Transition,
)
from carekit.journeys.dispatch import DispatchReport, dispatch
from carekit.journeys.events import Event, EventData
from carekit.journeys.journey import (
    ActiveDeadline,
    DeadLetter,
    DeadlineCleared,
    DeadlineSet,
    Journey,
    Overdue,
    OwedTouchpoint,
    RecoveryNeeded,
    Step,
    TouchpointWithdrawn,
)
from carekit.journeys.replay import replay
from carekit.journeys.stores import (
    OUTBOX_STATUSES,
    AttemptOutcome,
    ClaimedTouchpoint,
    Fired,
    JourneyStore,
    JourneySummary,
    MemoryJourneyStore,
    OutboxEntry,
    OutboxStatus,
    SentKey,
    SQLiteJourneyStore,
    open_store,
)
from carekit.journeys.worker import Attempt, PromiseChecks, Worker, WorkReport

if TYPE_CHECKING:
    from carekit.journeys.stores.postgres import AsyncPostgresJourneyStore, PostgresJourneyStore

__all__ = [
    "OUTBOX_STATUSES",
    "ActiveDeadline",
    "AsyncPostgresJourneyStore",
    "Attempt",
    "AttemptOutcome",
    "BusinessHours",
    "ClaimedTouchpoint",
    "DeadLetter",
    "Deadline",
    "DeadlineCleared",
    "DeadlineSet",
    "DispatchReport",
    "Event",
    "EventData",
    "Fired",
    "FrictionPolicy",
    "Journey",
    "JourneyDefinition",
    "JourneyStore",
    "JourneySummary",
    "MemoryJourneyStore",
    "OutboxEntry",
    "OutboxStatus",
    "Overdue",
    "OwedTouchpoint",
    "Phase",
    "PostgresJourneyStore",
    "PromiseChecks",
    "RecoveryNeeded",
    "SQLiteJourneyStore",
    "SentKey",
    "State",
    "Step",
    "Touchpoint",
    "TouchpointWithdrawn",
    "Transition",
    "WorkReport",
    "Worker",
    "advance",
    "dispatch",
    "open_store",
    "order_journey",
    "replay",
    "service_case_journey",
    "visit_journey",
]


def __getattr__(name: str) -> Any:
    # PostgresJourneyStore needs psycopg (carekit[postgres]): imported on first use only.
    if name in ("PostgresJourneyStore", "AsyncPostgresJourneyStore"):
        from carekit.journeys.stores import postgres

        return getattr(postgres, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
