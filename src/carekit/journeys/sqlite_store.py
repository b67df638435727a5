"""The embedded journey store: one SQLite file, safe for several processes at once.

Every journey is an append-only log of events (``events``), its current state
(``journeys``, kept in the same transaction so reading 100,000 journeys' state needs no
replay) and an outbox of the touchpoints it owes (``outbox``). Appending events and owing
their touchpoints is one ``BEGIN IMMEDIATE`` transaction: a crash leaves either all of it or
none of it. A repeated event id is refused by a ``UNIQUE (journey_id, event_id)`` constraint,
so idempotency survives restarts.

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
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from carekit import _validate
from carekit.errors import CareKitError, ConcurrencyError, StoreError, UnknownJourney
from carekit.journeys import _schema
from carekit.journeys import _store_snapshot as _snapshot
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
from carekit.journeys._store_codec import (
    decode_data,
    decode_dt,
    encode_data,
    encode_dt,
    micros,
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

__all__ = ["MAX_BUSY_TIMEOUT", "SQLiteJourneyStore"]

#: The longest ``busy_timeout`` a store accepts, in seconds (SQLite counts it in
#: milliseconds in a C int, which a few weeks would overflow).
MAX_BUSY_TIMEOUT = 86_400.0
_MEMORY = ":memory:"
_CACHE_SIZE = 256
# SQLite's default limit on host parameters is 999 in old builds; stay well below it.
_CHUNK = 500


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
        snapshot_every: keep a snapshot of a journey every this many events (written in
            the same transaction), so loading it replays only the events after the latest
            snapshot; ``0`` never snapshots.

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
        self._snapshot_every = _validate.positive_int("snapshot_every", snapshot_every, minimum=0)
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
        if self._path == _MEMORY:
            self._conn = self._memory_connection(mode)
        else:
            self._conn = _schema.connect(
                self._path,
                synchronous=mode,  # type: ignore[arg-type]
                busy_timeout=timeout,
                read_only=self._read_only,
            )
        self._lock = threading.RLock()
        self._closed = False
        self._cache: collections.OrderedDict[str, tuple[int, int, Journey]] = (
            collections.OrderedDict()
        )

    def _memory_connection(self, mode: str) -> sqlite3.Connection:
        with _schema.translated(_MEMORY, "opening it"):
            conn = sqlite3.connect(_MEMORY, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA synchronous = {mode}")
            _schema.migrate(conn, _MEMORY)
        return conn

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
    ) -> Journey:
        """Start a journey and store it (version 0) with the touchpoints its start owes.

        Raises:
            StoreError: a journey with this id exists already, or the store cannot be written.
            CareKitError: bad arguments (see ``JourneyDefinition.start``).
        """
        check_journey_id(journey_id)
        resolved = self._definitions.resolve(definition)
        journey = resolved.start(journey_id, at=at, customer_id=customer_id, channel=channel)
        self.create_many([journey])
        return journey

    def create_many(self, journeys: Iterable[Journey]) -> int:
        """Store many freshly started journeys (version 0) in one transaction.

        The bulk form of :meth:`create`, for importing open orders or cases: start each
        journey with ``definition.start(...)`` and hand them over together. All or nothing.

        Args:
            journeys: journeys at version 0 (no event applied yet).

        Returns:
            How many journeys were stored.

        Raises:
            StoreError: one of the ids exists already (nothing is stored).
            CareKitError: a journey is not at version 0 or is not a Journey.
        """
        items = check_fresh(journeys, self._definitions)
        with self._writing("creating journeys") as conn:
            taken = self._taken(conn, [j.journey_id for j in items])
            if taken is not None:
                msg = f"a journey with journey_id {taken!r} already exists in this store"
                raise StoreError(msg)
            conn.executemany(
                "INSERT INTO journeys (journey_id, definition, customer_id, channel,"
                " started_at, state, version, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                [
                    (
                        j.journey_id,
                        j.definition.name,
                        j.customer_id,
                        j.channel,
                        encode_dt(j.started_at),
                        j.state,
                        encode_dt(j.updated_at),
                    )
                    for j in items
                ],
            )
            for j in items:
                if j.owed:
                    self._owe(conn, j, j.owed, seq=0, at=j.started_at)
        for j in items[-_CACHE_SIZE:]:
            self._remember(j.journey_id, 0, 0, j)
        return len(items)

    @staticmethod
    def _taken(conn: sqlite3.Connection, ids: Sequence[str]) -> str | None:
        seen: set[str] = set()
        for journey_id in ids:
            if journey_id in seen:
                return journey_id
            seen.add(journey_id)
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            row = conn.execute(
                f"SELECT journey_id FROM journeys WHERE journey_id IN ({marks}) LIMIT 1", chunk
            ).fetchone()
            if row is not None:
                found: str = row[0]
                return found
        return None

    def append(
        self,
        journey_id: str,
        events: Event | Iterable[Event],
        *,
        expected_version: int | None = None,
        kit: CareKit | None = None,
    ) -> Journey:
        """Apply ``events`` and store them with the touchpoints they owe, in one transaction.

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
        expected = check_expected_version(expected_version)
        with self._writing("appending events") as conn:
            row = conn.execute(
                "SELECT version, settled FROM journeys WHERE journey_id = ?", (journey_id,)
            ).fetchone()
            if row is None:
                raise UnknownJourney(journey_id)
            version, settled = row
            if expected is not None and expected != version:
                raise ConcurrencyError(journey_id, expected, version)
            before = self._current(conn, journey_id, version, settled)
            journey, applied, notices = apply_events(before, batch, kit=kit)
            if not applied:
                return journey
            conn.executemany(
                "INSERT INTO events (journey_id, seq, event_id, name, at, data)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        journey_id,
                        seq,
                        event.id,
                        event.name,
                        encode_dt(event.at),
                        encode_data(event.data, "Event data") if event.data else None,
                    )
                    for event, seq, _ in applied
                ],
            )
            owed_count = len(before.owed)
            for event, seq, touchpoints in applied:
                if touchpoints:
                    owed_count += len(touchpoints)
                    self._owe(conn, journey, touchpoints, seq=seq, at=event.at)
            if journey.state == before.state:
                # Leave the (definition, state) index alone: one page less per commit.
                conn.execute(
                    "UPDATE journeys SET version = ?, updated_at = ? WHERE journey_id = ?",
                    (journey.version, encode_dt(journey.updated_at), journey_id),
                )
            else:
                conn.execute(
                    "UPDATE journeys SET state = ?, version = ?, updated_at = ?"
                    " WHERE journey_id = ?",
                    (journey.state, journey.version, encode_dt(journey.updated_at), journey_id),
                )
            if len(journey.owed) != owed_count:
                self._withdraw(conn, journey, at=applied[-1][0].at)
            every = self._snapshot_every
            if every and _snapshot.FORMAT and journey.version // every > before.version // every:
                conn.execute(
                    "INSERT OR REPLACE INTO snapshots (journey_id, version, format, body)"
                    " VALUES (?, ?, ?, ?)",
                    (journey_id, journey.version, _snapshot.FORMAT, _snapshot.encode(journey)),
                )
        self._remember(journey_id, journey.version, settled, journey)
        notify(kit, notices)
        return journey

    def _owe(
        self,
        conn: sqlite3.Connection,
        journey: Journey,
        touchpoints: Iterable[Any],
        *,
        seq: int,
        at: dt.datetime,
    ) -> None:
        rows = []
        for tp in touchpoints:
            rows.append(
                (
                    tp.idempotency_key,
                    journey.journey_id,
                    seq,
                    tp.name,
                    tp.channel if tp.channel is not None else journey.channel,
                    tp.state,
                    encode_dt(tp.due),
                    encode_data(tp.data or None, "touchpoint data"),
                    encode_dt(tp.owed_at),
                    micros(at),
                )
            )
        if rows:
            conn.executemany(
                "INSERT INTO outbox (idempotency_key, journey_id, seq, name, channel, state, due,"
                " data, owed_at, next_attempt_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def _withdraw(self, conn: sqlite3.Connection, journey: Journey, *, at: dt.datetime) -> None:
        # A touchpoint the journey no longer owes (it moved on before it was sent) must
        # never be dispatched.
        owed = {tp.idempotency_key for tp in journey.owed}
        pending = [
            key
            for (key,) in conn.execute(
                "SELECT idempotency_key FROM outbox WHERE journey_id = ? AND status = 'pending'",
                (journey.journey_id,),
            )
            if key not in owed
        ]
        if pending:
            conn.executemany(
                "UPDATE outbox SET status = 'withdrawn', settled_at = ?, claimed_by = NULL,"
                " claim_until_us = NULL WHERE idempotency_key = ?",
                [(encode_dt(at), key) for key in pending],
            )

    # -- reading ------------------------------------------------------------------------

    def load(self, journey_id: str) -> Journey:
        """The journey rebuilt from its stored events and its outbox's outcomes.

        Raises:
            UnknownJourney: no journey has this id.
            StoreError: the store cannot be read, or the journey's definition is unknown.
        """
        check_journey_id(journey_id)
        with self._reading("loading a journey"):
            row = self._conn.execute(
                "SELECT version, settled FROM journeys WHERE journey_id = ?", (journey_id,)
            ).fetchone()
            if row is None:
                raise UnknownJourney(journey_id)
            return self._current(self._conn, journey_id, row[0], row[1])

    def load_many(self, journey_ids: Iterable[str] | None = None) -> Iterator[Journey]:
        """Load several journeys, reading their events in bulk.

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
                journeys = self._replay_many(self._conn, chunk)
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
            " j.journey_id AND o.status = 'pending') FROM journeys j"
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
            )

    def outbox(
        self, journey_id: str | None = None, *, status: OutboxStatus | None = None
    ) -> list[OutboxEntry]:
        """The outbox entries, in the order they were owed.

        Args:
            journey_id: only this journey's entries.
            status: only entries with this status: ``"pending"``, ``"sent"``, ``"dead"`` or
                ``"withdrawn"``.

        Raises:
            CareKitError: another ``status``, a ``journey_id`` that is not a string.
        """
        check_filters(journey_id=journey_id, status=status)
        sql = (
            "SELECT idempotency_key, journey_id, name, channel, due, status, attempts,"
            " next_attempt_us, last_error, settled_at, reference FROM outbox"
        )
        sql, params = _filtered(sql, "rowid", [("journey_id", journey_id), ("status", status)])
        with self._reading("reading the outbox"):
            rows = self._conn.execute(sql, params).fetchall()
        return [
            OutboxEntry(
                idempotency_key=r[0],
                journey_id=r[1],
                name=r[2],
                channel=r[3],
                due=None if r[4] is None else decode_dt(r[4]),
                status=r[5],
                attempts=r[6],
                next_attempt_at=_from_micros(r[7]) if r[5] == "pending" else None,
                last_error=r[8],
                settled_at=None if r[9] is None else decode_dt(r[9]),
                reference=r[10],
            )
            for r in rows
        ]

    def events(self, journey_id: str) -> list[Event]:
        """The stored events of one journey, in the order they were applied.

        Raises:
            UnknownJourney: no journey has this id.
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
                "SELECT name, at, event_id, data FROM events WHERE journey_id = ? ORDER BY seq",
                (journey_id,),
            ).fetchall()
        return [
            Event(r[0], at=decode_dt(r[1]), id=r[2], journey_id=journey_id, data=decode_data(r[3]))
            for r in rows
        ]

    def _current(
        self, conn: sqlite3.Connection, journey_id: str, version: int, settled: int
    ) -> Journey:
        with self._lock:
            hit = self._cache.get(journey_id)
            if hit is not None and hit[0] == version and hit[1] == settled:
                self._cache.move_to_end(journey_id)
                return hit[2]
        journey = self._replay_many(conn, [journey_id])[journey_id]
        self._remember(journey_id, version, settled, journey)
        return journey

    def _remember(self, journey_id: str, version: int, settled: int, journey: Journey) -> None:
        with self._lock:
            self._cache[journey_id] = (version, settled, journey)
            self._cache.move_to_end(journey_id)
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)

    def _replay_many(self, conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, Journey]:
        from carekit.journeys import Event

        marks = ",".join("?" * len(ids))
        heads = conn.execute(
            "SELECT journey_id, definition, customer_id, channel, started_at FROM journeys"
            f" WHERE journey_id IN ({marks})",
            tuple(ids),
        ).fetchall()
        snapshots: dict[str, tuple[int, str]] = {}
        if _snapshot.FORMAT:
            for journey_id, version, body in conn.execute(
                "SELECT journey_id, version, body FROM snapshots"
                f" WHERE journey_id IN ({marks}) AND format = ?",
                (*ids, _snapshot.FORMAT),
            ):
                snapshots[journey_id] = (version, body)
        events: dict[str, list[tuple[Any, ...]]] = {}
        for r in conn.execute(
            "SELECT e.journey_id, e.seq, e.name, e.at, e.event_id, e.data FROM events e"
            " LEFT JOIN snapshots s ON s.journey_id = e.journey_id AND s.format = ?"
            f" WHERE e.journey_id IN ({marks}) AND e.seq > coalesce(s.version, 0)"
            " ORDER BY e.journey_id, e.seq",
            (_snapshot.FORMAT or "", *ids),
        ):
            events.setdefault(r[0], []).append(r)
        settlements: dict[str, dict[int, list[tuple[Any, ...]]]] = {}
        for r in conn.execute(
            "SELECT journey_id, settled_seq, idempotency_key, status, settled_at, last_error"
            f" FROM outbox WHERE journey_id IN ({marks}) AND status IN ('sent', 'dead')"
            " ORDER BY journey_id, settled_no",
            tuple(ids),
        ):
            settlements.setdefault(r[0], {}).setdefault(r[1], []).append(r)
        # Touchpoints only the outbox knows: owed by recovery plugins (append(kit=...)),
        # which a pure replay cannot ask again.
        unsettled: dict[str, dict[int, list[tuple[Any, ...]]]] = {}
        for r in conn.execute(
            "SELECT idempotency_key, journey_id, seq, name, channel, state, due, data, owed_at,"
            f" attempts FROM outbox WHERE journey_id IN ({marks})"
            " AND status IN ('pending', 'dead')",
            tuple(ids),
        ):
            unsettled.setdefault(r[1], {}).setdefault(r[2], []).append(r)
        result: dict[str, Journey] = {}
        for journey_id, name, customer_id, channel, started_at in heads:
            definition = self._definitions.get(name, journey_id)
            seq = 0
            try:
                settled = settlements.get(journey_id, {})
                extra = unsettled.get(journey_id, {})
                snapshot = snapshots.get(journey_id)
                if snapshot is None:
                    journey = definition.start(
                        journey_id, at=decode_dt(started_at), customer_id=customer_id,
                        channel=channel,
                    )
                    if 0 in extra:
                        journey = _owe_missing(journey, extra[0])
                else:
                    # The snapshot holds everything up to and including its version's event
                    # (recovery touchpoints too); outcomes recorded after it come next.
                    seq = snapshot[0]
                    journey = _snapshot.decode(
                        snapshot[1], definition, journey_id, started_at=decode_dt(started_at),
                        customer_id=customer_id, channel=channel,
                    )
                journey = _settle(journey, settled.get(seq, ()))
                for _, seq, ev_name, at, event_id, data in events.get(journey_id, ()):
                    event = Event(
                        ev_name, at=decode_dt(at), id=event_id, journey_id=journey_id,
                        data=decode_data(data),
                    )
                    journey = journey.apply(event).journey
                    if seq in extra:
                        journey = _owe_missing(journey, extra[seq])
                    if seq in settled:
                        journey = _settle(journey, settled[seq])
            except StoreError:
                raise
            except (ValueError, TypeError, KeyError) as exc:
                # CareKitError is a ValueError: an event the definition now refuses lands here.
                msg = (
                    f"journey {journey_id!r} in store {self._path!r} cannot be rebuilt: "
                    f"stored event #{seq} does not replay on definition {name!r} ({exc}); "
                    "was the definition changed incompatibly, or the file edited by hand?"
                )
                raise StoreError(msg) from exc
            result[journey_id] = journey
        return result

    # -- the dispatcher's side ----------------------------------------------------------

    def claim_due(
        self, *, now: dt.datetime, limit: int, lease: dt.timedelta, claimant: str
    ) -> list[ClaimedTouchpoint]:
        """Claim up to ``limit`` pending touchpoints due for an attempt at ``now``.

        The claim and the attempt count are committed before anything is delivered, so two
        dispatchers (threads or processes) never hold the same touchpoint at once.

        Raises:
            CareKitError: a naive ``now``, a ``limit`` outside [1, 1,000,000], a ``lease``
                that is not a positive duration or ends past the year 9999, no claimant.
            StoreError: the store cannot be written.
        """
        until_us = micros(check_claim(now, limit, lease, claimant))
        now_us = micros(now)
        with self._writing("claiming touchpoints") as conn:
            rows = conn.execute(
                "SELECT o.idempotency_key, o.journey_id, o.seq, o.name, o.channel, o.state,"
                " o.due, o.data, o.owed_at, o.attempts, j.customer_id FROM outbox o"
                " JOIN journeys j ON j.journey_id = o.journey_id"
                " WHERE o.status = 'pending' AND o.next_attempt_us <= ?"
                " AND (o.claim_until_us IS NULL OR o.claim_until_us <= ?)"
                " ORDER BY o.next_attempt_us LIMIT ?",
                (now_us, now_us, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE outbox SET claimed_by = ?, claim_until_us = ?, attempts = attempts + 1"
                " WHERE idempotency_key = ?",
                [(claimant, until_us, r[0]) for r in rows],
            )
        return [
            ClaimedTouchpoint(
                touchpoint=_owed(r, r[10]),
                channel=r[4],
                attempt=r[9] + 1,
                claim=claimant,
            )
            for r in rows
        ]

    def record(self, outcomes: Sequence[AttemptOutcome]) -> None:
        """Record the outcome of claimed attempts, all in one transaction.

        A delivery is recorded even when the claim has meanwhile expired (the message left;
        a second dispatcher resends it with the same idempotency key). A failure is only
        recorded by the dispatcher that still holds the claim.

        Raises:
            CareKitError: ``outcomes`` holds something other than an ``AttemptOutcome``.
        """
        checked = check_outcomes(outcomes)
        if not checked:
            return
        with self._writing("recording deliveries") as conn:
            for outcome in checked:
                self._record_one(conn, outcome)

    def _record_one(self, conn: sqlite3.Connection, outcome: AttemptOutcome) -> None:
        claimed = outcome.claimed
        key = claimed.idempotency_key
        row = conn.execute(
            "SELECT o.status, o.claimed_by, o.journey_id, j.version, j.settled FROM outbox o"
            " JOIN journeys j ON j.journey_id = o.journey_id WHERE o.idempotency_key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return
        status, claimed_by, journey_id, version, settled = row
        # A late success report still counts when a rival dispatcher dead-lettered the
        # touchpoint meanwhile: the message left, the journey must not call it lost.
        if status != "pending" and not (status == "dead" and outcome.status == "sent"):
            return
        at = encode_dt(outcome.at)
        if outcome.status == "retry":
            if claimed_by != claimed.claim:
                return
            assert outcome.retry_at is not None
            conn.execute(
                "UPDATE outbox SET claimed_by = NULL, claim_until_us = NULL, last_error = ?,"
                " next_attempt_us = ? WHERE idempotency_key = ?",
                (outcome.error, micros(outcome.retry_at), key),
            )
            return
        if outcome.status == "dead" and claimed_by != claimed.claim:
            return
        conn.execute(
            "UPDATE outbox SET status = ?, claimed_by = NULL, claim_until_us = NULL,"
            " last_error = ?, reference = ?, settled_at = ?, settled_seq = ?, settled_no = ?"
            " WHERE idempotency_key = ?",
            (
                "sent" if outcome.status == "sent" else "dead",
                outcome.error,
                outcome.reference,
                at,
                version,
                settled + 1,
                key,
            ),
        )
        conn.execute(
            "UPDATE journeys SET settled = settled + 1 WHERE journey_id = ?", (journey_id,)
        )

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
        store._conn.execute(statement)
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
                    store._conn.execute("COMMIT")
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


#: The furthest offsets Python allows: an instant of an aware datetime near the end (or the
#: start) of the datetime range may lie past it in UTC, but never in one of these.
_FAR_WEST = dt.timezone(dt.timedelta(microseconds=1) - dt.timedelta(hours=24))
_FAR_EAST = dt.timezone(dt.timedelta(hours=24) - dt.timedelta(microseconds=1))
_UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _from_micros(value: int) -> dt.datetime:
    """The instant ``value`` microseconds after the Unix epoch (in UTC when it fits).

    Raises:
        StoreError: the instant is outside every datetime's range (a hand-edited row).
    """
    try:
        return _UNIX_EPOCH + dt.timedelta(microseconds=value)
    except OverflowError:
        pass
    try:  # e.g. 9999-12-31T20:00-14:00, whose UTC instant is in the year 10000
        far = _FAR_WEST if value > 0 else _FAR_EAST
        return _UNIX_EPOCH.astimezone(far) + dt.timedelta(microseconds=value)
    except OverflowError:
        msg = f"journey store holds an instant outside the datetime range ({value} µs)"
        raise StoreError(msg) from None


def _settle(journey: Journey, rows: Iterable[tuple[Any, ...]]) -> Journey:
    for _, _, key, status, settled_at, error in rows:
        at = decode_dt(settled_at)
        if status == "sent":
            journey = journey.delivered(key, at=at)
        else:
            journey = journey.dead_lettered(key, at=at, reason=error or "dead-lettered")
    return journey


def _owe_missing(journey: Journey, rows: Iterable[tuple[Any, ...]]) -> Journey:
    keys = {tp.idempotency_key for tp in journey.owed}
    missing = tuple(_owed(r, journey.customer_id) for r in rows if r[0] not in keys)
    return attrs.evolve(journey, owed=journey.owed + missing) if missing else journey


def _owed(row: tuple[Any, ...], customer_id: str | None) -> Any:
    from carekit.journeys import OwedTouchpoint

    _, journey_id, seq, name, channel, state, due, data, owed_at, _ = row[:10]
    return OwedTouchpoint(
        journey_id=journey_id,
        name=name,
        state=state,
        channel=channel,
        due=decode_dt(due),
        version=seq,
        owed_at=decode_dt(owed_at),
        data=_event_data(data),
        customer_id=customer_id,
    )


def _event_data(text: str | None) -> Any:
    from carekit.journeys.events import EMPTY, EventData

    data = decode_data(text)
    return EMPTY if not data else EventData(data)


def _filtered(
    sql: str, order_by: str, conditions: list[tuple[str, str | None]]
) -> tuple[str, list[str]]:
    """``sql`` narrowed by the ``column = ?`` conditions whose value is given, then ordered."""
    given = [(column, value) for column, value in conditions if value is not None]
    if given:
        sql += " WHERE " + " AND ".join(f"{column} = ?" for column, _ in given)
    return f"{sql} ORDER BY {order_by}", [value for _, value in given]
