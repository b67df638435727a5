"""The embedded journey store: one SQLite file, safe for several processes at once.

Every journey is an append-only log of events (``events``), its whole current state
(``journeys``: state, version, friction and running deadlines, kept in the same transaction
as the events, so appending or reading a journey replays nothing), an outbox of the
touchpoints it owes (``outbox``) and a timer index (``timers``: running deadlines and
promise checks, so a worker finds what is due by an index range scan). Appending events,
owing their touchpoints and setting their timers is one ``BEGIN IMMEDIATE`` transaction: a
crash leaves either all of it or none of it. A repeated event id is refused by a
``UNIQUE (journey_id, event_id)`` constraint, so idempotency survives restarts.

Examples:
    >>> import datetime as dt
    >>> from carekit.journeys import Event, SQLiteJourneyStore, order_journey
    >>> at = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
    >>> store = SQLiteJourneyStore(":memory:")
    >>> journey = store.create(order_journey(), "order-1", at=at, channel="email")
    >>> journey = store.append("order-1", [Event("place", at=at, id="e1"),
    ...                                    Event("acknowledge", at=at, id="e2")])
    >>> store.load("order-1").state, store.load("order-1").version
    ('acknowledged', 2)
    >>> [entry.name for entry in store.outbox("order-1")]
    ['order_thanks']
    >>> store.close()
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import functools
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from carekit import _validate
from carekit.errors import CareKitError, ConcurrencyError, StoreError, UnknownJourney
from carekit.journeys._seen import SEEN_AS_TUPLE, compact_seen
from carekit.journeys.events import EMPTY, EventData
from carekit.journeys.journey import DeadLetter, _new_journey, _new_owed
from carekit.journeys.stores import _sqlite_schema as _schema
from carekit.journeys.stores import _timers
from carekit.journeys.stores._codec import (
    decode_body,
    decode_data,
    decode_dt,
    encode_body,
    encode_data,
    encode_dt,
    from_micros,
    micros,
    owed_row,
)
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
    check_state,
    notify,
    to_events,
)
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

__all__ = ["MAX_BUSY_TIMEOUT", "SQLiteJourneyStore"]

_log = logging.getLogger("carekit.journeys")

#: The longest ``busy_timeout`` a store accepts, in seconds (SQLite counts it in
#: milliseconds in a C int, which a few weeks would overflow).
MAX_BUSY_TIMEOUT = 86_400.0
_MEMORY = ":memory:"
_CACHE_SIZE = 1024
# SQLite's default limit on host parameters is 999 in old builds; stay well below it.
_CHUNK = 500
#: Outbox statuses a worker may still claim (SQL).
_OPEN = "('pending', 'failed', 'deferred')"
_OWED_COLUMNS = (
    "idempotency_key, journey_id, seq, name, channel, state, due, data, owed_at, not_before"
)


class SQLiteJourneyStore:
    """Journeys in one SQLite file (WAL mode), shared safely by threads and processes.

    Args:
        path: the database file (created when missing), or ``":memory:"`` for a private
            in-memory database.
        definitions: the journey definitions to know by name besides the built-ins: an
            iterable of :class:`~carekit.journeys.JourneyDefinition`, a mapping of name to
            definition, or a :class:`~carekit.CareKit` (its plugins' journeys).
        synchronous: ``"FULL"`` (default: a commit survives power loss) or ``"NORMAL"``
            (faster; in WAL mode a power cut may lose the last commits, never corrupt).
        busy_timeout: seconds to wait for another process's write lock before raising
            :class:`~carekit.StoreError` (at most :data:`MAX_BUSY_TIMEOUT`, a day).
        read_only: open an existing store without ever writing to it.
        snapshot_every: accepted for compatibility and ignored: every append now keeps the
            journey's whole current state, so loading never replays its events.
        clock: the clock claims are timed by, in seconds since the epoch (default
            :func:`time.time`; every process on the machine shares it). Tests may pass a
            fake one.

    Raises:
        CareKitError: a bad argument (a path that is not a path, an unknown
            ``synchronous``, a negative or too long ``busy_timeout``).
        StoreError: the file is corrupt, not a SQLite database, another application's
            database, written by a newer carekit, or cannot be created or written; the
            path is unusable (too long, holding a NUL character).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        definitions: DefinitionsArg = None,
        synchronous: str = "FULL",
        busy_timeout: float = 10.0,
        read_only: bool = False,
        snapshot_every: int = 100,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)):
            msg = f"path must be a file path or ':memory:' (got {path!r})"
            raise CareKitError(msg)
        mode = str(synchronous).upper()
        if mode not in ("FULL", "NORMAL"):
            msg = f"synchronous must be 'FULL' or 'NORMAL' (got {synchronous!r})"
            raise CareKitError(msg)
        timeout = _validate.non_negative("busy_timeout", busy_timeout)
        if timeout > MAX_BUSY_TIMEOUT:
            msg = (
                f"busy_timeout must be at most {MAX_BUSY_TIMEOUT:g} seconds, a day "
                f"(got {busy_timeout!r})"
            )
            raise CareKitError(msg)
        _validate.positive_int("snapshot_every", snapshot_every, minimum=0)
        if not callable(clock):
            msg = f"clock must be a callable returning seconds, such as time.time (got {clock!r})"
            raise CareKitError(msg)
        try:
            shown: object = os.fspath(path)
        except TypeError:  # a PathLike whose __fspath__ returns neither str nor bytes
            shown = None
        if not isinstance(shown, str):
            msg = f"path must be a file path or ':memory:' (got {path!r}, which names {shown!r})"
            raise CareKitError(msg)
        self._path = shown
        self._read_only = bool(read_only)
        self._definitions = Definitions(definitions)
        self._clock = clock
        if self._path == _MEMORY:
            self._conn = self._memory_connection(mode)
        else:
            self._conn = _schema.connect(
                self._path,
                synchronous=mode,  # type: ignore[arg-type]
                busy_timeout=timeout,
                read_only=self._read_only,
            )
        # One cursor for the statements that return no rows or one (begin, commit, an
        # append's reads and writes): conn.execute makes a cursor per statement. Never
        # iterated, so a statement run on it cannot cut another's rows short.
        self._cur = self._conn.cursor()
        self._lock = threading.RLock()
        self._closed = False
        self._cache: collections.OrderedDict[str, tuple[int, int, Journey]] = (
            collections.OrderedDict()
        )
        if not self._read_only:
            try:
                self._fill_bodies()
            except BaseException:
                self.close()
                raise

    def _memory_connection(self, mode: str) -> sqlite3.Connection:
        with _schema.translated(_MEMORY, "opening it"):
            conn = sqlite3.connect(_MEMORY, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA synchronous = {mode}")
            conn.execute("PRAGMA foreign_keys = ON")
            _schema.migrate(conn, _MEMORY)
        return conn

    def _now_us(self) -> int:
        """The store's clock (for claims), in microseconds since the epoch."""
        return int(self._clock() * 1_000_000)

    # -- properties and lifecycle -------------------------------------------------------

    @property
    def path(self) -> str:
        """The database file's path (``":memory:"`` for an in-memory store)."""
        return self._path

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        with self._reading("reading its schema version"):
            version: int = self._conn.execute("PRAGMA user_version").fetchone()[0]
        return version

    def close(self) -> None:
        """Close the database connection (idempotent)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> SQLiteJourneyStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"SQLiteJourneyStore({self._path!r}, {state})"

    def __contains__(self, journey_id: object) -> bool:
        if not isinstance(journey_id, str):
            return False
        with self._reading("looking up a journey"):
            row = self._conn.execute(
                "SELECT 1 FROM journeys WHERE journey_id = ?", (journey_id,)
            ).fetchone()
        return row is not None

    def __len__(self) -> int:
        with self._reading("counting journeys"):
            count: int = self._conn.execute("SELECT count(*) FROM journeys").fetchone()[0]
        return count

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
        """Start a journey and store it (version 0) with the touchpoints its start owes.

        Args:
            definition: the definition, or the name of one the store knows.
            journey_id: the new journey's id.
            at: when it starts.
            customer_id: who it is for.
            channel: the customer's preferred channel.
            tz: the customer's time zone (quiet hours are kept in it).
            exist_ok: return the stored journey when one has this id already (a retried
                request is harmless) instead of raising.

        Raises:
            StoreError: a journey with this id exists already (and ``exist_ok`` is false),
                or the store cannot be written.
            CareKitError: bad arguments (see ``JourneyDefinition.start``).
        """
        check_journey_id(journey_id)
        resolved = self._definitions.resolve(definition)
        journey = resolved.start(
            journey_id, at=at, customer_id=customer_id, channel=channel, tz=tz
        )
        if self.create_many([journey], exist_ok=exist_ok) == 0:
            return self.load(journey_id)
        return journey

    def create_many(self, journeys: Iterable[Journey], *, exist_ok: bool = False) -> int:
        """Store many freshly started journeys (version 0) in one transaction.

        The bulk form of :meth:`create`, for importing open orders or cases: start each
        journey with ``definition.start(...)`` and hand them over together. All or nothing.

        Args:
            journeys: journeys at version 0 (no event applied yet).
            exist_ok: skip journeys whose id is already stored instead of raising.

        Returns:
            How many journeys were stored.

        Raises:
            StoreError: one of the ids exists already (nothing is stored), unless
                ``exist_ok``.
            CareKitError: a journey is not at version 0 or is not a Journey.
        """
        items = check_fresh(journeys, self._definitions)
        with self._writing("creating journeys") as conn:
            taken = self._taken(conn, [j.journey_id for j in items])
            if taken and not exist_ok:
                msg = f"a journey with journey_id {min(taken)!r} already exists in this store"
                raise StoreError(msg)
            if taken:
                items = _first_of_each(j for j in items if j.journey_id not in taken)
            elif len({j.journey_id for j in items}) != len(items):
                twice = _first_repeat([j.journey_id for j in items])
                msg = f"a journey with journey_id {twice!r} already exists in this store"
                raise StoreError(msg)
            conn.executemany(
                "INSERT INTO journeys (journey_id, definition, customer_id, channel, tz,"
                " started_at, state, version, updated_at, body, ids, owing)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, '', ?)",
                [
                    (
                        j.journey_id,
                        j.definition.name,
                        j.customer_id,
                        j.channel,
                        j.tz,
                        encode_dt(j.started_at),
                        j.state,
                        encode_dt(j.updated_at),
                        encode_body(j.friction, j.deadlines),
                        len(j.owed),
                    )
                    for j in items
                ],
            )
            for j in items:
                if j.owed:
                    self._owe(conn, j, j.owed, seq=0)
                if j.deadlines:
                    self._set_deadlines(conn, j.journey_id, j.deadlines)
        for j in items[-_CACHE_SIZE:]:
            self._remember(j.journey_id, 0, 0, j)
        return len(items)

    @staticmethod
    def _taken(conn: sqlite3.Connection, ids: Sequence[str]) -> set[str]:
        taken: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            taken.update(r[0] for r in conn.execute(
                f"SELECT journey_id FROM journeys WHERE journey_id IN ({marks})", chunk
            ))
        return taken

    def append(
        self,
        journey_id: str,
        events: Event | Iterable[Event],
        *,
        expected_version: int | None = None,
        kit: CareKit | None = None,
    ) -> Journey:
        """Apply ``events`` and store them with the touchpoints and timers they set.

        Args:
            journey_id: the journey.
            events: one :class:`~carekit.journeys.Event` or several, applied in order.
            expected_version: the version the caller last saw; ``None`` skips the check.
            kit: let this :class:`~carekit.CareKit`'s plugins take part, as
                :func:`~carekit.journeys.advance` does: touchpoints from
                ``carekit_recovery_action`` are owed (and kept in the outbox), and
                ``carekit_on_transition`` observers are called once the batch is stored
                (a failing observer is logged on the ``carekit.journeys`` logger).

        Returns:
            The journey after the events.

        Raises:
            UnknownJourney: no journey has this id.
            ConcurrencyError: the stored journey is not at ``expected_version``.
            InvalidTransition: an event is not allowed; none of the batch is stored.
            StoreError: the store cannot be written.
        """
        check_journey_id(journey_id)
        batch = to_events(journey_id, events)
        expected = None if expected_version is None else check_expected_version(expected_version)
        with self._writing("appending events") as conn:
            version, settled, before, kept = self._for_append(conn, journey_id, expected)
            journey, applied, notices = apply_events(before, batch, kit=kit)
            if applied:
                promise = _timers.promise_payload(applied)  # checked before anything is written
                _write_changes(self._cur, _changes(before, journey, applied, promise, kept,
                                                   plain=True))
                version = journey.version
            self._remember(journey_id, version, settled, journey)
        notify(kit, notices)
        return journey

    def _for_append(
        self, conn: sqlite3.Connection, journey_id: str, expected: int | None
    ) -> tuple[int, int, Journey, bool]:
        """The journey's version, settled count and current journey (inside the write), and
        whether its row keeps its event ids and owing count (see :data:`_HEAD_SQL`).

        A cached journey needs only its version checked (two integers read); any other is
        read whole, :data:`_HEAD_SQL` giving the version check and its row at once. The
        caller holds the store's lock (the write transaction's).
        """
        hit = self._cache.get(journey_id)
        cur = self._cur
        if hit is not None:
            row = cur.execute(_VERSION_SQL, (journey_id,)).fetchone()
            if row is None:
                raise UnknownJourney(journey_id)
            version, settled = row
            if expected is not None and expected != version:
                raise ConcurrencyError(journey_id, expected, version)
            if hit[0] == version and hit[1] == settled:
                self._cache.move_to_end(journey_id)
                return version, settled, hit[2], True
        head = cur.execute(_HEAD_SQL, (journey_id,)).fetchone()
        if head is None:
            raise UnknownJourney(journey_id)
        version, settled = head[6], head[10]
        if expected is not None and expected != version:
            raise ConcurrencyError(journey_id, expected, version)
        kept = head[11] is not None and head[12] is not None
        return version, settled, self._built_from(conn, journey_id, head), kept

    def _apply(
        self,
        before: Journey,
        batch: list[Event],
        kit: CareKit | None,
        settled: int,
        writes: _Writes,
    ) -> tuple[Journey, list[Any]]:
        """Apply ``batch`` to ``before`` and collect the rows it changes in ``writes`` (the
        caller writes them all at once, inside its transaction)."""
        journey, applied, notices = apply_events(before, batch, kit=kit)
        if not applied:
            return journey, notices
        promise = _timers.promise_payload(applied)  # checked before anything is written
        writes.add(before, journey, applied, promise)
        self._remember(journey.journey_id, journey.version, settled, journey)
        return journey, notices

    @staticmethod
    def _set_deadlines(conn: sqlite3.Connection, journey_id: str, deadlines: Any) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO timers (journey_id, key, kind, due_us)"
            " VALUES (?, ?, 'deadline', ?)",
            [(journey_id, d.idempotency_key, micros(d.due)) for d in deadlines],
        )

    @staticmethod
    def _owe(
        conn: sqlite3.Connection, journey: Journey, touchpoints: Iterable[Any], *, seq: int
    ) -> None:
        conn.executemany(_OWE_SQL, [owed_row(journey, tp, seq) for tp in touchpoints])

    # -- reading ------------------------------------------------------------------------

    def load(self, journey_id: str) -> Journey:
        """The journey as its stored state and outbox outcomes make it.

        Raises:
            UnknownJourney: no journey has this id.
            StoreError: the store cannot be read, the journey's definition is unknown, or
                its rows are damaged.
        """
        check_journey_id(journey_id)
        with self._reading("loading a journey"):
            head = self._conn.execute(_HEAD_SQL, (journey_id,)).fetchone()
            if head is None:
                raise UnknownJourney(journey_id)
            return self._current(self._conn, journey_id, head[6], head[10], head)

    def load_many(self, journey_ids: Iterable[str] | None = None) -> Iterator[Journey]:
        """Load several journeys, reading their rows in bulk.

        Args:
            journey_ids: the journeys to load, in this order; ``None`` loads every journey
                (ordered by id).

        Raises:
            UnknownJourney: one of ``journey_ids`` does not exist (when it is reached).
            CareKitError: ``journey_ids`` is not None or an iterable of journey ids.
        """
        ids = check_journey_ids(journey_ids)
        if ids is None:
            with self._reading("listing journeys"):
                ids = [r[0] for r in self._conn.execute(
                    "SELECT journey_id FROM journeys ORDER BY journey_id"
                )]
        return self._load_chunks(ids)

    def _load_chunks(self, ids: list[str]) -> Iterator[Journey]:
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            with self._reading("loading journeys"):
                journeys = self._load_many(self._conn, chunk)
            for journey_id in chunk:
                if journey_id not in journeys:
                    raise UnknownJourney(journey_id)
                yield journeys[journey_id]

    def journeys(
        self, *, definition: str | None = None, state: str | None = None
    ) -> Iterator[JourneySummary]:
        """The current state of every journey, read from the ``journeys`` table (no replay).

        Args:
            definition: only journeys of this definition name.
            state: only journeys in this state.

        Raises:
            CareKitError: a filter that is not a string.
        """
        check_filters(definition=definition, state=state)
        return self._summaries(definition, state)

    def _summaries(
        self, definition: str | None, state: str | None
    ) -> Iterator[JourneySummary]:
        sql = (
            "SELECT j.journey_id, j.definition, j.state, j.version, j.started_at, j.updated_at,"
            " j.customer_id, j.channel, (SELECT count(*) FROM outbox o WHERE o.journey_id ="
            f" j.journey_id AND o.status IN {_OPEN}), j.tz FROM journeys j"
        )
        sql, params = _filtered(
            sql, "j.journey_id", [("j.definition", definition), ("j.state", state)]
        )
        with self._reading("listing journeys"):
            rows = self._conn.execute(sql, params).fetchall()
        cache: dict[str, dt.datetime] = {}

        def when(text: str) -> dt.datetime:
            value = cache.get(text)
            if value is None:
                value = cache[text] = decode_dt(text)
            return value

        for r in rows:
            yield JourneySummary(
                journey_id=r[0],
                definition=r[1],
                state=r[2],
                version=r[3],
                started_at=when(r[4]),
                updated_at=when(r[5]),
                customer_id=r[6],
                channel=r[7],
                pending=r[8],
                tz=r[9],
            )

    def outbox(
        self, journey_id: str | None = None, *, status: OutboxStatus | None = None
    ) -> list[OutboxEntry]:
        """The outbox entries, in the order they were owed.

        Args:
            journey_id: only this journey's entries.
            status: only entries with this status (one of :data:`OUTBOX_STATUSES`).

        Raises:
            CareKitError: another ``status``, a ``journey_id`` that is not a string.
            StoreError: a row is damaged (it is named).
        """
        check_filters(journey_id=journey_id, status=status)
        sql = (
            "SELECT idempotency_key, journey_id, name, channel, due, status, attempts,"
            " next_attempt_us, last_error, settled_at, reference, not_before FROM outbox"
        )
        sql, params = _filtered(sql, "rowid", [("journey_id", journey_id), ("status", status)])
        with self._reading("reading the outbox"):
            rows = self._conn.execute(sql, params).fetchall()
        entries = []
        for r in rows:
            with _damaged(self._path, "outbox", r[0]):
                entries.append(OutboxEntry(
                    idempotency_key=r[0],
                    journey_id=r[1],
                    name=r[2],
                    channel=r[3],
                    due=None if r[4] is None else decode_dt(r[4]),
                    status=r[5],
                    attempts=r[6],
                    next_attempt_at=from_micros(r[7]) if r[5] in _OPEN_SET else None,
                    last_error=r[8],
                    settled_at=None if r[9] is None else decode_dt(r[9]),
                    reference=r[10],
                    not_before=None if r[11] is None else decode_dt(r[11]),
                ))
        return entries

    def outbox_counts(self) -> dict[str, int]:
        """How many outbox entries have each status, counted in SQL (no rows loaded)."""
        counts = dict.fromkeys(OUTBOX_STATUSES, 0)
        with self._reading("counting the outbox"):
            for status, n in self._conn.execute(
                "SELECT status, count(*) FROM outbox GROUP BY status"
            ):
                counts[status] = n
        return counts

    def events(self, journey_id: str) -> list[Event]:
        """The stored events of one journey, in the order they were applied.

        Raises:
            UnknownJourney: no journey has this id.
            StoreError: an event row is damaged (it is named).
        """
        from carekit.journeys import Event

        check_journey_id(journey_id)
        with self._reading("reading events"):
            known = self._conn.execute(
                "SELECT 1 FROM journeys WHERE journey_id = ?", (journey_id,)
            ).fetchone()
            if known is None:
                raise UnknownJourney(journey_id)
            rows = self._conn.execute(
                "SELECT name, at, event_id, data, seq FROM events WHERE journey_id = ?"
                " ORDER BY seq",
                (journey_id,),
            ).fetchall()
        events = []
        for r in rows:
            with _damaged(self._path, "events", f"{journey_id} #{r[4]}"):
                events.append(Event(
                    r[0], at=decode_dt(r[1]), id=r[2], journey_id=journey_id,
                    data=decode_data(r[3]),
                ))
        return events

    def _current(
        self,
        conn: sqlite3.Connection,
        journey_id: str,
        version: int,
        settled: int,
        head: Sequence[Any],
        *,
        keep: bool = True,
    ) -> Journey:
        """The journey whose row is ``head`` (:data:`_HEAD_SQL`): cached, or built from it.

        With ``keep``, a journey built is kept in the cache.
        """
        with self._lock:
            hit = self._cache.get(journey_id)
            if hit is not None and hit[0] == version and hit[1] == settled:
                self._cache.move_to_end(journey_id)
                return hit[2]
        journey = self._built_from(conn, journey_id, head)
        if keep:
            self._remember(journey_id, version, settled, journey)
        return journey

    def _built_from(
        self, conn: sqlite3.Connection, journey_id: str, head: Sequence[Any]
    ) -> Journey:
        """The journey a row of :data:`_HEAD_SQL` makes, with its open and dead touchpoints
        and its event ids (read from the outbox and the events unless the row keeps them:
        no touchpoint owing, the ids written in the row)."""
        owed: list[Any] = []
        dead: list[tuple[int, Any]] = []
        if head[12] != 0:  # some owed or dead-lettered, or not counted (NULL)
            customer_id, tz = head[2], head[8]
            for r in conn.execute(_OWN_OUTBOX_SQL, (journey_id,)):
                self._outbox_row(r, customer_id, tz, owed, dead)
        ids = head[11]
        if ids is None:
            seen = [r[0] for r in conn.execute(_OWN_IDS_SQL, (journey_id,))]
        else:
            try:
                seen = _decode_ids(ids)
            except _DAMAGE as exc:
                raise _damage(self._path, "journeys", journey_id, exc) from exc
        return self._built(conn, head, owed, dead, seen)

    def _remember(self, journey_id: str, version: int, settled: int, journey: Journey) -> None:
        with self._lock:
            self._cache[journey_id] = (version, settled, journey)
            self._cache.move_to_end(journey_id)
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)

    def _load_many(self, conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, Journey]:
        """Build journeys from their rows: current state, outbox, event ids (no replay).

        A journey whose state the store has not kept yet (a store written by an older
        carekit, opened read-only) is replayed from its events.
        """
        marks = ",".join("?" * len(ids))
        heads = conn.execute(
            f"SELECT {_HEAD_COLUMNS} FROM journeys WHERE journey_id IN ({marks})", tuple(ids)
        ).fetchall()
        owed: dict[str, list[Any]] = {}
        dead: dict[str, list[tuple[int, Any]]] = {}
        customers = {h[0]: (h[2], h[8]) for h in heads}
        for r in conn.execute(
            f"SELECT {_OWED_COLUMNS}, status, settled_at, last_error, settled_no FROM outbox"
            f" WHERE journey_id IN ({marks})"
            " AND status IN ('pending', 'failed', 'deferred', 'dead') ORDER BY rowid",
            tuple(ids),
        ):
            customer_id, tz = customers[r[1]]
            self._outbox_row(
                r, customer_id, tz, owed.setdefault(r[1], []), dead.setdefault(r[1], [])
            )
        seen: dict[str, list[str]] = {}
        for journey_id, event_id in conn.execute(
            f"SELECT journey_id, event_id FROM events WHERE journey_id IN ({marks})"
            " AND event_id IS NOT NULL ORDER BY journey_id, seq",
            tuple(ids),
        ):
            seen.setdefault(journey_id, []).append(event_id)
        return {
            h[0]: self._built(conn, h, owed.get(h[0], []), dead.get(h[0], []), seen.get(h[0], []))
            for h in heads
        }

    def _outbox_row(
        self,
        r: Sequence[Any],
        customer_id: str | None,
        tz: str | None,
        owed: list[Any],
        dead: list[tuple[int, Any]],
    ) -> None:
        """Add the touchpoint an open or dead outbox row holds to ``owed`` or ``dead``."""
        try:
            tp = _owed(r, customer_id, tz)
            if r[10] == "dead":
                letter = DeadLetter(
                    touchpoint=tp, at=decode_dt(r[11]), reason=r[12] or "dead-lettered"
                )
                dead.append((r[13] or 0, letter))
            else:
                owed.append(tp)
        except _DAMAGE as exc:
            raise _damage(self._path, "outbox", r[0], exc) from exc

    def _built(
        self,
        conn: sqlite3.Connection,
        head: Sequence[Any],
        owed: list[Any],
        dead: list[tuple[int, Any]],
        seen: list[str],
    ) -> Journey:
        """The journey a row of :data:`_HEAD_COLUMNS`, its open and dead touchpoints and its
        event ids make (replayed from its events when the row keeps no state yet)."""
        journey_id, name, customer_id, channel, started_at, state, version, updated_at, tz, body = (
            head[:10]
        )
        definition = self._definitions.get(name, journey_id)
        check_state(definition, journey_id, state, "file")
        if body is None:
            core = self._replay(conn, definition, journey_id)
            friction, deadlines = core.friction, core.deadlines
        try:
            if body is not None:
                friction, deadlines = decode_body(body, journey_id)
            if len(dead) > 1:
                dead.sort(key=_first)
            return _new_journey(
                journey_id, definition, state, version, decode_dt(started_at),
                decode_dt(updated_at), customer_id, channel, friction, tuple(owed), deadlines,
                tuple([letter for _, letter in dead]) if dead else (),
                tuple(seen) if len(seen) <= SEEN_AS_TUPLE else compact_seen(seen), tz,
            )
        except _DAMAGE as exc:
            raise _damage(self._path, "journeys", journey_id, exc) from exc

    def _replay(
        self, conn: sqlite3.Connection, definition: JourneyDefinition, journey_id: str
    ) -> Journey:
        """A journey rebuilt from its events alone (for rows an older carekit wrote)."""
        from carekit.journeys import Event

        head = conn.execute(
            "SELECT customer_id, channel, started_at, tz FROM journeys WHERE journey_id = ?",
            (journey_id,),
        ).fetchone()
        seq = 0
        try:
            journey = definition.start(
                journey_id, at=decode_dt(head[2]), customer_id=head[0], channel=head[1],
                tz=head[3],
            )
            for seq, name, at, event_id, data in conn.execute(  # noqa: B007 - seq: for errors
                "SELECT seq, name, at, event_id, data FROM events WHERE journey_id = ?"
                " ORDER BY seq",
                (journey_id,),
            ):
                event = Event(
                    name, at=decode_dt(at), id=event_id, journey_id=journey_id,
                    data=decode_data(data),
                )
                journey = journey.apply(event).journey
        except (ValueError, TypeError, KeyError) as exc:
            # CareKitError is a ValueError: an event the definition now refuses lands here.
            msg = (
                f"journey {journey_id!r} in store {self._path!r} cannot be rebuilt: "
                f"stored event #{seq} does not replay on definition {definition.name!r} "
                f"({exc}); was the definition changed incompatibly, or the file edited by hand?"
            )
            raise StoreError(msg) from exc
        return journey

    def _fill_bodies(self) -> None:
        """Keep the current state of journeys an older carekit stored (once, on opening).

        Journeys whose definition this store does not know are left for a later opening.
        """
        known = set(self._definitions.names)
        with self._reading("looking for journeys to bring up to date"):
            todo = [
                r[0] for r in self._conn.execute(
                    "SELECT journey_id, definition FROM journeys WHERE body IS NULL"
                )
                if r[1] in known
            ]
        for start in range(0, len(todo), _CHUNK):
            with self._writing("bringing journeys up to date") as conn:
                for journey_id in todo[start : start + _CHUNK]:
                    row = conn.execute(
                        "SELECT definition FROM journeys WHERE journey_id = ? AND body IS NULL",
                        (journey_id,),
                    ).fetchone()
                    if row is None:
                        continue
                    journey = self._replay(conn, self._definitions.get(row[0]), journey_id)
                    conn.execute(
                        "UPDATE journeys SET body = ?, tz = ? WHERE journey_id = ?",
                        (encode_body(journey.friction, journey.deadlines), journey.tz,
                         journey_id),
                    )
                    self._set_deadlines(conn, journey_id, journey.deadlines)
                    if _timers.keeps_promise_check(journey):
                        events = [e for e in self._events_in(conn, journey_id)
                                  if e.data and "promise" in e.data]
                        if events:
                            last = events[-1]
                            applied = [Applied(last, 0, (), (), last.at)]
                            payload = _timers.promise_payload(applied)
                            if payload is not None:
                                conn.execute(
                                    "INSERT OR REPLACE INTO timers"
                                    " (journey_id, key, kind, due_us, payload)"
                                    " VALUES (?, ?, 'promise', ?, ?)",
                                    (journey_id, _timers.promise_key(journey_id),
                                     micros(payload[1]), payload[0]),
                                )

    def _events_in(self, conn: sqlite3.Connection, journey_id: str) -> list[Event]:
        from carekit.journeys import Event

        return [
            Event(r[0], at=decode_dt(r[1]), id=r[2], journey_id=journey_id,
                  data=decode_data(r[3]))
            for r in conn.execute(
                "SELECT name, at, event_id, data FROM events WHERE journey_id = ? ORDER BY seq",
                (journey_id,),
            )
        ]

    # -- the worker's side --------------------------------------------------------------

    def claim_due(
        self, *, now: dt.datetime, limit: int, lease: dt.timedelta, claimant: str
    ) -> list[ClaimedTouchpoint]:
        """Claim up to ``limit`` touchpoints that may be sent at ``now``, longest waiting first.

        The claim and the attempt count are committed before anything is delivered, so two
        workers (threads or processes) never hold the same touchpoint at once. A row that
        cannot be read (damaged by hand or by another tool) is dead-lettered with the
        reason instead of blocking the others.

        Raises:
            CareKitError: a naive ``now``, a ``limit`` outside [1, 1,000,000], a ``lease``
                that is not a positive duration, no claimant.
            StoreError: the store cannot be written.
        """
        span = check_claim(now, limit, lease, claimant)
        now_us = micros(now)
        select = (
            f"SELECT o.{_OWED_COLUMNS.replace(', ', ', o.')}, o.attempts, j.customer_id, j.tz"
            " FROM outbox o JOIN journeys j ON j.journey_id = o.journey_id"
            f" WHERE o.status IN {_OPEN} AND o.next_attempt_us <= ?"
            " AND (o.claim_until_us IS NULL OR o.claim_until_us <= ?)"
            " ORDER BY o.next_attempt_us LIMIT ?"
        )
        # Look first without the write lock: a worker with nothing to do never takes it.
        with self._reading("looking for touchpoints due"):
            if not self._conn.execute(select, (now_us, self._now_us(), 1)).fetchone():
                return []
        claimed: list[ClaimedTouchpoint] = []
        with self._writing("claiming touchpoints") as conn:
            clock = self._now_us()
            until = clock + span // dt.timedelta(microseconds=1)
            rows = conn.execute(select, (now_us, clock, limit)).fetchall()
            poison: list[tuple[str, str]] = []
            for r in rows:
                try:
                    tp = _owed(r, r[11], r[12])
                except (StoreError, ValueError, TypeError, KeyError, OverflowError) as exc:
                    poison.append((r[0], f"the outbox row cannot be read: {exc}"))
                    continue
                claimed.append(
                    ClaimedTouchpoint(touchpoint=tp, channel=r[4], attempt=r[10] + 1,
                                      claim=claimant)
                )
            conn.executemany(
                "UPDATE outbox SET claimed_by = ?, claim_until_us = ?, attempts = attempts + 1"
                " WHERE idempotency_key = ?",
                [(claimant, until, c.idempotency_key) for c in claimed],
            )
            for key, reason in poison:
                _log.error("journey store %r: dead-lettering outbox row %r: %s",
                           self._path, key, reason)
                self._settle(conn, key, "dead", encode_dt(now), reason, None)
        return claimed

    def record(
        self,
        outcomes: Sequence[AttemptOutcome],
        *,
        lease: dt.timedelta | None = None,
        claimant: str | None = None,
        holding: Collection[str] | None = None,
    ) -> frozenset[str]:
        """Record the outcome of claimed attempts, all in one transaction.

        A delivery is recorded even when the claim has meanwhile expired (the message left;
        a second worker resends it with the same idempotency key). A failure is only
        recorded by the worker that still holds the claim. With ``lease`` and
        ``claimant``, the same transaction extends every claim ``claimant`` still holds.
        With ``holding`` (and ``claimant``), only those keys are looked up: a worker asks
        about the next touchpoint it will send, not every claim of its batch.

        Returns:
            The keys ``claimant`` still holds after the extension (empty without ``lease``
            or ``holding``); with ``holding``, only those of ``holding``.

        Raises:
            CareKitError: ``outcomes`` holds something other than an ``AttemptOutcome``;
                a bad ``lease``; ``holding`` that is not a collection of keys, or without
                a ``claimant``.
            StoreError: the store cannot be written.
        """
        checked = check_outcomes(outcomes)
        span = None if lease is None else check_lease(lease)
        asked = check_holding(holding, claimant)
        span_us = None if span is None or claimant is None else span // _MICROSECOND
        extend = span_us is not None
        if not checked and not extend and not asked:
            return frozenset()
        with self._writing("recording deliveries") as conn:
            for outcome in checked:
                self._record_one(conn, outcome)
            clock = self._now_us()
            if span_us is not None:
                conn.execute(
                    "UPDATE outbox SET claim_until_us = ? WHERE claimed_by = ?"
                    f" AND status IN {_OPEN} AND claim_until_us > ?",
                    (clock + span_us, claimant, clock),
                )
            if asked is not None:
                return frozenset([key for key in asked if conn.execute(
                    _HELD_SQL, (key, claimant, clock)
                ).fetchone()])
            if not extend:
                return frozenset()
            return frozenset([r[0] for r in conn.execute(
                "SELECT idempotency_key FROM outbox WHERE claimed_by = ?"
                f" AND status IN {_OPEN} AND claim_until_us > ?",
                (claimant, clock),
            ).fetchall()])

    def _record_one(self, conn: sqlite3.Connection, outcome: AttemptOutcome) -> None:
        claimed = outcome.claimed
        key = claimed.idempotency_key
        # One read for the checks and for settling (the journey's version and count).
        row = conn.execute(
            "SELECT o.status, o.claimed_by, j.journey_id, j.version, j.settled FROM outbox o"
            " JOIN journeys j ON j.journey_id = o.journey_id WHERE o.idempotency_key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return
        status, claimed_by, journey_id, version, settled = row
        kind = outcome.status
        # A late success report still counts when a rival worker dead-lettered the
        # touchpoint meanwhile, or a later event withdrew it while it was in flight: the
        # message left, the journey must not call it lost or unsent.
        if status not in _OPEN_SET and not (status in _OVERRIDDEN and kind == "sent"):
            return
        if kind != "sent" and claimed_by != claimed.claim:
            return
        if kind == "retry":
            assert outcome.retry_at is not None
            conn.execute(
                "UPDATE outbox SET status = 'failed', claimed_by = NULL, claim_until_us = NULL,"
                " last_error = ?, next_attempt_us = ? WHERE idempotency_key = ?",
                (outcome.error, micros(outcome.retry_at), key),
            )
            return
        if kind == "defer":
            assert outcome.retry_at is not None
            conn.execute(
                "UPDATE outbox SET status = 'deferred', claimed_by = NULL,"
                " claim_until_us = NULL, attempts = max(attempts - 1, 0), last_error = ?,"
                " next_attempt_us = ? WHERE idempotency_key = ?",
                (outcome.error, micros(outcome.retry_at), key),
            )
            return
        if kind == "release":
            conn.execute(
                "UPDATE outbox SET claimed_by = NULL, claim_until_us = NULL,"
                " attempts = max(attempts - 1, 0) WHERE idempotency_key = ?",
                (key,),
            )
            return
        _settle_row(
            conn, key, journey_id, version, settled, "sent" if kind == "sent" else "dead",
            encode_dt(outcome.at), outcome.error, outcome.reference, status,
        )

    @staticmethod
    def _settle(
        conn: sqlite3.Connection,
        key: str,
        status: str,
        at: str,
        error: str | None,
        reference: str | None,
    ) -> None:
        """Mark ``key`` sent or dead; the journey counts one more settled touchpoint."""
        row = conn.execute(
            "SELECT j.journey_id, j.version, j.settled FROM outbox o JOIN journeys j"
            " ON j.journey_id = o.journey_id WHERE o.idempotency_key = ?",
            (key,),
        ).fetchone()
        journey_id, version, settled = row
        _settle_row(conn, key, journey_id, version, settled, status, at, error, reference)

    def fire_due(
        self, *, now: dt.datetime, limit: int, kit: CareKit | None = None, checks: Any = None
    ) -> list[Fired]:
        """Fire up to ``limit`` timers due at ``now``, in one transaction.

        See :meth:`carekit.journeys.JourneyStore.fire_due`. A timer whose firing fails (a
        recovery plugin raised, say) is logged on the ``carekit.worker`` logger and tried
        again a minute later; the others are not held up.

        Raises:
            CareKitError: a naive ``now``, a ``limit`` outside [1, 1,000,000].
            StoreError: the store cannot be written.
        """
        _validate.aware("now", now)
        check_limit("limit", limit)
        kinds = "('deadline', 'promise')" if checks is not None else "('deadline')"
        select = (
            "SELECT journey_id, key, kind, due_us, payload FROM timers"
            f" WHERE due_us <= ? AND kind IN {kinds} ORDER BY due_us LIMIT ?"
        )
        now_us = micros(now)
        with self._reading("looking for timers due"):
            if not self._conn.execute(select, (now_us, 1)).fetchone():
                return []
        fired: list[Fired] = []
        notices: list[Any] = []
        with self._writing("firing timers") as conn:
            rows = conn.execute(select, (now_us, limit)).fetchall()
            ids = list(dict.fromkeys(r[0] for r in rows))
            heads = {
                r[0]: (r[1], r[2]) for r in conn.execute(
                    f"SELECT journey_id, version, settled FROM journeys WHERE journey_id IN"
                    f" ({','.join('?' * len(ids))})",
                    ids,
                )
            }
            journeys = self._cached_or_loaded(conn, heads)
            writes = _Writes()
            delete: list[tuple[str, str]] = []
            later: list[tuple[int, str, str]] = []
            for journey_id, key, kind, due_us, payload in rows:
                journey = journeys[journey_id]
                try:
                    if kind == "deadline":
                        hit, event, next_due = _timers.decide_deadline(key, journey, now)
                    else:
                        promise = _timers.parse_payload(payload)
                        hit, event, next_due = _timers.decide_promise(
                            checks, journey, promise,
                            functools.partial(self._events_in, conn, journey_id), now,
                        )
                    if event is not None:
                        journey, owed_notices = self._apply(
                            journey, [event], kit, heads[journey_id][1], writes
                        )
                        journeys[journey_id] = journey
                        notices.extend(owed_notices)
                except CareKitError as exc:
                    with self._lock:
                        self._cache.pop(journey_id, None)
                    hit, event, next_due = False, None, _timers.retry_later(now)
                    _timers.log_failure(journey_id, key, exc)
                if next_due is None:
                    delete.append((journey_id, key))
                else:
                    later.append((micros(next_due), journey_id, key))
                if hit:
                    fired.append(Fired(
                        journey_id=journey_id, kind=kind, key=key, due=from_micros(due_us),
                        event=event,
                    ))
            writes.flush(conn)
            conn.executemany("DELETE FROM timers WHERE journey_id = ? AND key = ?", delete)
            conn.executemany(
                "UPDATE timers SET due_us = ? WHERE journey_id = ? AND key = ?", later
            )
        notify(kit, notices)
        return fired

    def _cached_or_loaded(
        self, conn: sqlite3.Connection, heads: dict[str, tuple[int, int]]
    ) -> dict[str, Journey]:
        journeys: dict[str, Journey] = {}
        missing: list[str] = []
        with self._lock:
            for journey_id, (version, settled) in heads.items():
                hit = self._cache.get(journey_id)
                if hit is not None and hit[0] == version and hit[1] == settled:
                    journeys[journey_id] = hit[2]
                else:
                    missing.append(journey_id)
        for start in range(0, len(missing), _CHUNK):
            journeys.update(self._load_many(conn, missing[start : start + _CHUNK]))
        return journeys

    def oldest_due(self, *, now: dt.datetime) -> dt.datetime | None:
        """When the longest-waiting claimable touchpoint or due timer became due.

        Raises:
            CareKitError: a naive ``now``.
        """
        _validate.aware("now", now)
        now_us = micros(now)
        with self._reading("looking for the oldest item due"):
            touchpoint = self._conn.execute(
                f"SELECT next_attempt_us FROM outbox WHERE status IN {_OPEN}"
                " AND next_attempt_us <= ? AND (claim_until_us IS NULL OR claim_until_us <= ?)"
                " ORDER BY next_attempt_us LIMIT 1",
                (now_us, self._now_us()),
            ).fetchone()
            timer = self._conn.execute(
                "SELECT due_us FROM timers WHERE due_us <= ? ORDER BY due_us LIMIT 1", (now_us,)
            ).fetchone()
        found = [r[0] for r in (touchpoint, timer) if r is not None]
        return from_micros(min(found)) if found else None

    def remember_sent(
        self,
        idempotency_key: str,
        *,
        at: dt.datetime,
        channel: str | None = None,
        reference: str | None = None,
    ) -> bool:
        """Note that ``idempotency_key`` was handed to a provider (``INSERT OR IGNORE``).

        Raises:
            CareKitError: an empty key, a naive ``at``, a non-string channel or reference.
            StoreError: the store cannot be written.
        """
        check_sent_key(idempotency_key, at, channel, reference)
        with self._writing("noting a sent key") as conn:
            done = conn.execute(
                "INSERT OR IGNORE INTO sent_keys (idempotency_key, channel, reference, sent_us)"
                " VALUES (?, ?, ?, ?)",
                (idempotency_key, channel, reference, micros(at)),
            )
            return bool(done.rowcount)

    def sent_key(self, idempotency_key: str) -> SentKey | None:
        """The note kept for ``idempotency_key``, or ``None``.

        Raises:
            StoreError: the store cannot be read.
        """
        check_journey_id(idempotency_key)
        with self._reading("looking up a sent key"):
            row = self._conn.execute(
                "SELECT channel, reference, sent_us FROM sent_keys WHERE idempotency_key = ?",
                (idempotency_key,),
            ).fetchone()
        if row is None:
            return None
        return SentKey(idempotency_key=idempotency_key, channel=row[0], reference=row[1],
                       at=from_micros(row[2]))

    # -- plumbing -----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            msg = f"journey store {self._path!r} is closed"
            raise StoreError(msg)

    def _reading(self, doing: str) -> _Reading:
        return _Reading(self, doing)

    def _writing(self, doing: str) -> _Writing:
        if self._read_only:
            msg = f"journey store {self._path!r} was opened read_only=True (while {doing})"
            raise StoreError(msg)
        return _Writing(self, doing)


class _Reading:
    """Hold the store's lock and translate sqlite3 errors while reading."""

    def __init__(self, store: SQLiteJourneyStore, doing: str) -> None:
        self._store = store
        self._doing = doing

    def __enter__(self) -> None:
        # One read transaction: every statement sees the same snapshot of the file.
        _begin(self._store, "BEGIN", self._doing)

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        store = self._store
        try:
            _rollback(store._conn)
        finally:
            store._lock.release()
        if isinstance(exc, sqlite3.Error):
            raise _schema.translate(exc, store._path, self._doing) from exc
        if isinstance(exc, UnicodeEncodeError):
            raise _not_unicode(exc, self._doing) from exc


def _not_unicode(exc: UnicodeEncodeError, doing: str) -> CareKitError:
    """The error for text SQLite cannot store: a lone surrogate such as ``"\\ud800"``."""
    bad = exc.object[exc.start : exc.end] if isinstance(exc.object, str) else ""
    msg = (
        f"a SQLite journey store holds only valid Unicode text; {bad!r} (a lone surrogate) "
        f"cannot be stored or looked up (while {doing})"
    )
    return CareKitError(msg)


def _begin(store: SQLiteJourneyStore, statement: str, doing: str) -> None:
    """Take the store's lock and open a transaction; release the lock if that fails."""
    store._lock.acquire()
    try:
        store._check_open()
        store._cur.execute(statement)
    except sqlite3.Error as exc:
        store._lock.release()
        raise _schema.translate(exc, store._path, doing) from exc
    except BaseException:
        store._lock.release()
        raise


class _Writing:
    """Hold the store's lock inside ``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on error)."""

    def __init__(self, store: SQLiteJourneyStore, doing: str) -> None:
        self._store = store
        self._doing = doing

    def __enter__(self) -> sqlite3.Connection:
        _begin(self._store, "BEGIN IMMEDIATE", self._doing)
        return self._store._conn

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        store = self._store
        try:
            if exc is None:
                try:
                    store._cur.execute("COMMIT")
                except sqlite3.Error as error:
                    _rollback(store._conn)
                    raise _schema.translate(error, store._path, self._doing) from error
            else:
                _rollback(store._conn)
                with store._lock:
                    store._cache.clear()
                if isinstance(exc, sqlite3.Error):
                    raise _schema.translate(exc, store._path, self._doing) from exc
                if isinstance(exc, UnicodeEncodeError):
                    raise _not_unicode(exc, self._doing) from exc
        finally:
            store._lock.release()


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):  # a broken connection cannot roll back
            conn.execute("ROLLBACK")


def _settle_row(
    conn: sqlite3.Connection,
    key: str,
    journey_id: str,
    version: int,
    settled: int,
    status: str,
    at: str,
    error: str | None,
    reference: str | None,
    previous: str = "pending",
) -> None:
    """Mark ``key`` (of ``journey_id``, read at ``version`` with ``settled`` settled) sent or
    dead; the journey counts one more settled touchpoint.

    ``previous`` is the row's status before: the journey's ``owing`` count holds the rows
    still owed or dead-lettered, so a row withdrawn (no longer counted) that a late report
    says was sent leaves it as it is.
    """
    conn.execute(
        "UPDATE outbox SET status = ?, claimed_by = NULL, claim_until_us = NULL,"
        " last_error = ?, reference = ?, settled_at = ?, settled_seq = ?, settled_no = ?"
        " WHERE idempotency_key = ?",
        (status, error, reference, at, version, settled + 1, key),
    )
    # A touchpoint sent is owed no more; one dead-lettered is still counted (the journey
    # keeps it as a dead letter).
    conn.execute(
        "UPDATE journeys SET settled = settled + 1, owing = owing - ? WHERE journey_id = ?",
        (1 if status == "sent" and previous != "withdrawn" else 0, journey_id),
    )


#: One microsecond (claims are timed in whole microseconds).
_MICROSECOND = dt.timedelta(microseconds=1)

#: Outbox statuses a worker may still claim.
_OPEN_SET = frozenset({"pending", "failed", "deferred"})
#: Settled outbox statuses a late "sent" report still overrides (the message left).
_OVERRIDDEN = frozenset({"dead", "withdrawn"})


class _Writes:
    """The rows one transaction writes for the journeys it changed, written together.

    Firing a thousand timers collects each journey's changes (:func:`_changes`) per kind
    and writes each kind with one ``executemany``, in an order that keeps every constraint
    (a touchpoint is owed before it can be withdrawn). One journey's append writes its
    changes as they come (:func:`_write_changes`), in that same order.
    """

    __slots__ = ("groups",)

    def __init__(self) -> None:
        self.groups: list[list[tuple[Any, ...]]] = [[] for _ in _STATEMENTS]

    def add(
        self,
        before: Journey,
        journey: Journey,
        applied: list[Applied],
        promise: tuple[str, dt.datetime] | None,
        *,
        kept: bool = True,
    ) -> None:
        """Collect the rows ``applied`` (taking ``before`` to ``journey``) writes."""
        groups = self.groups
        for kind, row in _changes(before, journey, applied, promise, kept):
            groups[kind].append(row)

    def flush(self, conn: sqlite3.Connection) -> None:
        for sql, rows in zip(_STATEMENTS, self.groups, strict=True):
            if len(rows) == 1:  # execute costs less than executemany
                conn.execute(sql, rows[0])
            elif rows:
                conn.executemany(sql, rows)


def _write_changes(cur: sqlite3.Cursor, changes: list[tuple[int, tuple[Any, ...]]]) -> None:
    """Write one journey's :func:`_changes`, statement by statement, in their order."""
    execute = cur.execute
    for kind, row in changes:
        execute(_STATEMENTS[kind], row)


def _changes(
    before: Journey,
    journey: Journey,
    applied: list[Applied],
    promise: tuple[str, dt.datetime] | None,
    kept: bool,
    *,
    plain: bool = False,
) -> list[tuple[int, tuple[Any, ...]]]:
    """The rows ``applied`` (taking ``before`` to ``journey``) writes, as ``(statement, row)``
    pairs (indices into :data:`_STATEMENTS`), in the order of the statements.

    ``kept``: the journey's row keeps its event ids and owing count, so the new ones are
    added to them; otherwise (``before`` was read whole) they are written whole.
    ``plain``: events without data and touchpoints without data or ``not_before`` use the
    statements with NULL written in. Only for rows written one by one, in this order
    (:func:`_write_changes`): :class:`_Writes` groups rows by statement, and outbox rows
    must keep the order they were owed in (their rowid).
    """
    journey_id = journey.journey_id
    changes: list[tuple[int, tuple[Any, ...]]] = []
    later: list[tuple[int, tuple[Any, ...]]] = []  # touchpoints owed and withdrawn, in order
    new_ids = ""
    owing = 0
    at_text = ""
    for item in applied:
        event = item.event
        eid = event.id
        at_text = encode_dt(event.at)
        if event.data or not plain:
            changes.append((_EVENT, (
                journey_id, item.version, eid, event.name, at_text,
                encode_data(event.data, "Event data") if event.data else None,
            )))
        else:
            changes.append((_EVENT_PLAIN, (journey_id, item.version, eid, event.name, at_text)))
        if eid is not None:
            new_ids += "," + _json_str(eid)
        if item.owed:
            version = item.version
            for tp in item.owed:
                row = owed_row(journey, tp, version)
                if plain and row[7] is None and row[9] is None:  # no data, no not_before
                    later.append((_OWE_PLAIN, (*row[:7], row[8], row[10])))
                else:
                    later.append((_OWE, row))
            owing += len(item.owed)
        if item.withdrawn:
            at = encode_dt(item.at)
            for key in item.withdrawn:
                later.append((_WITHDRAW, (at, key)))
            owing -= len(item.withdrawn)
    if later:
        changes += later
    # The row keeps the ids while there are few; None makes the column NULL (not kept).
    few = len(journey.seen_event_ids) <= _KEPT_IDS
    if kept:
        ids_whole, ids_added, owing_whole = None, new_ids if few else None, None
    else:
        ids_whole = _encode_ids(journey.seen_event_ids) if few else None
        ids_added, owing_whole = None, len(before.owed) + len(before.dead) + owing
    # The journey's time is its latest event's (unless that one came within the tolerance).
    updated_at = at_text if journey.updated_at is event.at else encode_dt(journey.updated_at)
    moved = journey.state != before.state
    deadlines = journey.deadlines
    other_deadlines = deadlines != before.deadlines
    if other_deadlines or journey.friction != before.friction:
        changes.append((_ROW_BODY, (
            journey.state, journey.version, updated_at, encode_body(journey.friction, deadlines),
            ids_whole, ids_added, owing_whole, owing, journey_id,
        )))
    elif moved:
        changes.append((_ROW_STATE, (
            journey.state, journey.version, updated_at, ids_whole, ids_added, owing_whole, owing,
            journey_id,
        )))
    else:  # leave the (definition, state) index alone: one page less per commit
        changes.append((_ROW_PLAIN, (
            journey.version, updated_at, ids_whole, ids_added, owing_whole, owing, journey_id,
        )))
    if other_deadlines:
        gone, added = _timers.deadline_changes(before, journey)
        for key in gone:
            changes.append((_TIMER_GONE, (journey_id, key)))
        for d in added:
            changes.append((_TIMER_NEW, (journey_id, d.idempotency_key, micros(d.due))))
    if promise is not None:
        changes.append((_PROMISE_SET, (
            journey_id, _timers.promise_key(journey_id), micros(promise[1]), promise[0]
        )))
    if moved and not _timers.keeps_promise_check(journey):
        changes.append((_PROMISE_GONE, (journey_id, _timers.promise_key(journey_id))))
    return changes


#: The event ids and owing count an append writes in the journey's row: whole (the first two
#: parameters), or added to what the row keeps (the last two; NULL stays NULL, not kept).
_KEEP_SQL = "ids = coalesce(?, ids || ?), owing = coalesce(?, owing + ?)"
#: A journey's row after an append that changed its body (friction, deadlines), only its
#: state, or neither (the ``(definition, state)`` index is left alone: one page less).
_ROW_BODY_SQL = (
    "UPDATE journeys SET state = ?, version = ?, updated_at = ?, body = ?,"
    f" {_KEEP_SQL} WHERE journey_id = ?"
)
_ROW_STATE_SQL = (
    f"UPDATE journeys SET state = ?, version = ?, updated_at = ?, {_KEEP_SQL}"
    " WHERE journey_id = ?"
)
_ROW_PLAIN_SQL = (
    f"UPDATE journeys SET version = ?, updated_at = ?, {_KEEP_SQL} WHERE journey_id = ?"
)


#: A journey's row, as :meth:`SQLiteJourneyStore._built` reads it.
_HEAD_COLUMNS = (
    "journey_id, definition, customer_id, channel, started_at, state, version, updated_at,"
    " tz, body"
)
#: Whether a claimant still holds a claim (``record``'s ``holding``).
_HELD_SQL = (
    "SELECT 1 FROM outbox WHERE idempotency_key = ? AND claimed_by = ?"
    f" AND status IN {_OPEN} AND claim_until_us > ?"
)
#: A journey's row, its ``settled`` count (the cache is keyed by version and settled), its
#: event ids as the row keeps them (:func:`_encode_ids`; NULL: not kept) and how many of its
#: touchpoints are owed or dead-lettered (NULL: not counted).
_HEAD_SQL = f"SELECT {_HEAD_COLUMNS}, settled, ids, owing FROM journeys WHERE journey_id = ?"
#: The most event ids a journey's row keeps (more are read from the events table).
_KEPT_IDS = SEEN_AS_TUPLE
#: A journey's version and ``settled`` count: enough to tell that a cached journey is current.
_VERSION_SQL = "SELECT version, settled FROM journeys WHERE journey_id = ?"
#: A journey's open and dead touchpoints, in the order they were owed.
_OWN_OUTBOX_SQL = (
    f"SELECT {_OWED_COLUMNS}, status, settled_at, last_error, settled_no FROM outbox"
    " WHERE journey_id = ? AND status IN ('pending', 'failed', 'deferred', 'dead')"
    " ORDER BY rowid"
)
#: A journey's event ids, in the order applied.
_OWN_IDS_SQL = (
    "SELECT event_id FROM events WHERE journey_id = ? AND event_id IS NOT NULL ORDER BY seq"
)

#: What ``json.dumps`` writes a string as (ensure_ascii).
_json_str = json.encoder.encode_basestring_ascii

_OWE_SQL = (
    f"INSERT INTO outbox ({_OWED_COLUMNS}, next_attempt_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?,"
    " ?, ?)"
)

#: What an append or a fired timer writes, in the order written (see :class:`_Writes`).
#: An event without data and a touchpoint without data or ``not_before`` (nearly all) have
#: statements of their own with NULL written in: Python's sqlite3 binds ``None`` through
#: its adaptation protocol, at several times the cost of a string.
_STATEMENTS = (
    "INSERT INTO events (journey_id, seq, event_id, name, at, data) VALUES (?, ?, ?, ?, ?, ?)",
    "INSERT INTO events (journey_id, seq, event_id, name, at, data) VALUES (?, ?, ?, ?, ?, NULL)",
    _OWE_SQL,
    f"INSERT INTO outbox ({_OWED_COLUMNS}, next_attempt_us) VALUES (?, ?, ?, ?, ?, ?, ?, NULL,"
    " ?, NULL, ?)",
    "UPDATE outbox SET status = 'withdrawn', settled_at = ?, claimed_by = NULL,"
    f" claim_until_us = NULL WHERE idempotency_key = ? AND status IN {_OPEN}",
    _ROW_BODY_SQL,
    _ROW_STATE_SQL,
    _ROW_PLAIN_SQL,
    "DELETE FROM timers WHERE journey_id = ? AND key = ?",
    "INSERT OR REPLACE INTO timers (journey_id, key, kind, due_us) VALUES (?, ?, 'deadline', ?)",
    "INSERT OR REPLACE INTO timers (journey_id, key, kind, due_us, payload)"
    " VALUES (?, ?, 'promise', ?, ?)",
    "DELETE FROM timers WHERE journey_id = ? AND key = ?",
)
(_EVENT, _EVENT_PLAIN, _OWE, _OWE_PLAIN, _WITHDRAW, _ROW_BODY, _ROW_STATE, _ROW_PLAIN,
 _TIMER_GONE, _TIMER_NEW, _PROMISE_SET, _PROMISE_GONE) = range(len(_STATEMENTS))


#: What decoding a damaged row raises (StoreError is a CareKitError, a ValueError).
_DAMAGE = (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError)


def _damage(path: str, table: str, what: object, exc: BaseException) -> StoreError:
    """The :class:`StoreError` naming a row that decoding failed on with ``exc``."""
    if isinstance(exc, CareKitError):  # StoreError included: its message says it all
        reason = str(exc)
    else:
        reason = f"{type(exc).__name__}: {str(exc)[:120]}"
    msg = f"journey store {path!r}: the {table} row {what!r} is damaged: {reason}"
    return StoreError(msg)


@contextlib.contextmanager
def _damaged(path: str, table: str, what: object) -> Iterator[None]:
    """Turn a row that cannot be decoded into a :class:`StoreError` naming it."""
    try:
        yield
    except _DAMAGE as exc:
        raise _damage(path, table, what, exc) from exc


def _first(item: tuple[int, Any]) -> int:
    return item[0]


def _owed(row: Sequence[Any], customer_id: str | None, tz: str | None) -> Any:
    """The owed touchpoint an outbox row holds (columns as :data:`_OWED_COLUMNS`)."""
    _, journey_id, seq, name, channel, state, due, data, owed_at, not_before = row[:10]
    return _new_owed(
        journey_id, name, state, channel, decode_dt(due), seq, decode_dt(owed_at),
        _event_data(data), customer_id, None if not_before is None else decode_dt(not_before),
        tz,
    )


def _encode_ids(ids: Iterable[str]) -> str:
    """Event ids as a journey's row keeps them: each a comma, then its JSON string."""
    return "".join(["," + _json_str(eid) for eid in ids])


def _decode_ids(text: str) -> list[str]:
    """Inverse of :func:`_encode_ids`.

    Raises:
        ValueError: the text is not what :func:`_encode_ids` writes (a damaged row).
    """
    if not text:
        return []
    if text[0] != ",":
        raise ValueError(text[:80])
    if "\\" not in text:  # no escapes, so no quote inside an id: the quotes delimit them
        if len(text) < 3 or text[1] != '"' or text[-1] != '"':
            raise ValueError(text[:80])
        return text[2:-1].split('","')
    ids = json.loads(f"[{text[1:]}]")
    for eid in ids:
        if type(eid) is not str:
            raise TypeError(f"event id {eid!r} is not a string")
    return ids  # type: ignore[no-any-return]


def _event_data(text: str | None) -> Any:
    data = decode_data(text)
    return EMPTY if not data else EventData(data)


def _first_of_each(journeys: Iterable[Journey]) -> list[Journey]:
    """``journeys`` keeping the first of each id."""
    seen: dict[str, Journey] = {}
    for j in journeys:
        seen.setdefault(j.journey_id, j)
    return list(seen.values())


def _first_repeat(ids: Sequence[str]) -> str:
    seen: set[str] = set()
    for journey_id in ids:
        if journey_id in seen:
            return journey_id
        seen.add(journey_id)
    raise AssertionError  # pragma: no cover - only called when there is a repeat


def _filtered(
    sql: str, order_by: str, conditions: list[tuple[str, str | None]]
) -> tuple[str, list[str]]:
    """``sql`` narrowed by the ``column = ?`` conditions whose value is given, then ordered."""
    given = [(column, value) for column, value in conditions if value is not None]
    if given:
        sql += " WHERE " + " AND ".join(f"{column} = ?" for column, _ in given)
    return f"{sql} ORDER BY {order_by}", [value for _, value in given]
