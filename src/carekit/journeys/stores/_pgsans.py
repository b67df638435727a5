"""The sans-IO core's vocabulary: statements, round trips, operations (private).

Every operation of the PostgreSQL stores is a generator that *yields* a :class:`Round` (the
statements to send together, in one network round trip) and *receives* their results (for
each statement, its rows, or its row count when it returns none). It never touches a
connection: a driver does, the blocking one in :class:`~carekit.journeys.PostgresJourneyStore`
with psycopg's ``Connection``, the asyncio one in
:class:`~carekit.journeys.AsyncPostgresJourneyStore` with ``AsyncConnection``. The two drivers
are short loops; the SQL, the decisions between round trips, the checks and the errors
exist once.

An :class:`Op` says how its generator runs: ``"write"`` inside ``BEGIN`` … ``COMMIT``
(READ COMMITTED, with row locks where it matters), ``"read"`` inside one ``REPEATABLE READ
READ ONLY`` snapshot, or ``"auto"``: statement by statement, the generator opening and
committing a transaction itself when it needs one (so an idle check costs no transaction).
The driver sends ``BEGIN`` with the first round and ``COMMIT`` with the round marked
``commit=True`` (or alone, after the generator returns), so a short write is one round trip.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Generator
from typing import Any, Generic, Literal, TypeVar

import attrs

__all__ = ["Mode", "Op", "Round", "Stmt", "Tx"]

T = TypeVar("T")

#: How a driver wraps an operation (see the module docs).
Mode = Literal["write", "read", "auto"]


@attrs.frozen(slots=True)
class Stmt:
    """One SQL statement and its parameters (psycopg's ``%s`` / ``%(name)s`` style)."""

    sql: str
    params: Any = None


@attrs.frozen(slots=True)
class Round:
    """Statements sent together in one round trip (pipelined when there are several).

    Args:
        statements: the statements, run in order.
        commit: this is the operation's last round: the driver sends ``COMMIT`` with it.
        ahead: statements sent after this round's, whose results come back with the next
            round's (first): the server runs them while the operation works on this
            round's results (the blocking driver pipelines them; the asyncio one sends
            them with the next round). The operation must collect them with a next round.
    """

    statements: tuple[Stmt, ...]
    commit: bool = False
    ahead: tuple[Stmt, ...] = ()


class Tx:
    """What an operation leaves for its driver to do once its transaction has committed.

    Args:
        remember: journeys to keep in the store's cache: ``(journey_id, version, settled,
            journey)``.
        wake: work became due now: tell the workers waiting for it (LISTEN/NOTIFY).
    """

    __slots__ = ("remembered", "wake")

    def __init__(self) -> None:
        self.remembered: list[tuple[str, int, int, Any]] = []
        self.wake = False

    def remember(self, journey_id: str, version: int, settled: int, journey: Any) -> None:
        """Keep ``journey`` (at ``version``/``settled``) in the cache after the commit."""
        self.remembered.append((journey_id, version, settled, journey))


@attrs.frozen(slots=True)
class Op(Generic[T]):
    """An operation for a driver to run.

    Args:
        doing: what it does, for error messages (``"appending events"``).
        mode: ``"write"``, ``"read"`` or ``"auto"`` (see the module docs).
        start: makes a fresh generator (an operation retried after a deadlock or a lost
            connection starts again from scratch).
        idempotent: running it twice does no harm, so it may be retried even when the
            connection broke while its ``COMMIT`` was under way.
        writes: an ``"auto"`` operation whose statements write (each commits as it runs,
            so a connection lost during one leaves its outcome unknown).
    """

    doing: str
    mode: Mode
    start: Callable[[Tx], Generator[Round, list[Any], T]]
    idempotent: bool = False
    writes: bool = False


#: The statement that opens each mode's transaction (``"auto"``: none).
BEGIN: dict[Mode, tuple[Stmt, ...]] = {
    "write": (Stmt("BEGIN"),),
    "read": (Stmt("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),),
    "auto": (),
}
COMMIT = Stmt("COMMIT")


def opening(op: Op[Any]) -> tuple[Stmt, ...]:
    """The statements a driver sends before the operation's first round."""
    return BEGIN[op.mode]


def seconds(value: float | dt.timedelta) -> float:
    """``value`` (seconds or a duration) in seconds."""
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
