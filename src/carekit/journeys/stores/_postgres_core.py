"""The PostgreSQL stores' SQL and logic, written once for the blocking and the asyncio store.

Each public store method has an operation here (``*_op``): argument checks happen when it
is made, then a driver runs its generator (see ``_pgsans``). The tables are those of
``_postgres_schema``; what the rows mean is the SQLite store's (``journeys`` keeps each
journey's current state, ``events`` its log, ``outbox`` its owed touchpoints, ``timers`` its
running deadlines and promise checks).

Concurrency, on PostgreSQL's READ COMMITTED:

* appends lock their journey row (``SELECT … FOR UPDATE``) before reading its version, so
  two writers never both append to one version; ``UNIQUE (journey_id, event_id)`` backs the
  duplicate check durably;
* claims take due outbox rows with ``FOR UPDATE SKIP LOCKED`` in the same statement that
  marks them claimed, so any number of workers on any number of hosts each get different
  touchpoints, and nobody waits for anybody; leases are timed by the server's
  ``clock_timestamp()``, the one clock every host shares;
* ``fire_due`` takes due timer rows with ``FOR UPDATE SKIP LOCKED``, then their journeys'
  rows with ``FOR UPDATE SKIP LOCKED`` (a journey being appended to right now is left for
  the next pass, so a worker never waits for a writer and no lock cycle can form), applies
  the breach events under those locks and commits the batch at once;
* locks are always taken journey row first, outbox rows second (appends, settling an
  outcome); claims take outbox rows only;
* nothing is ever read "after position N" of a global sequence (a sequence value is taken
  before its transaction commits, so a reader could skip a row committed late): workers
  find work by status and due time only.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import gc
import logging
import threading
import time
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from carekit import _validate
from carekit.errors import CareKitError, ConcurrencyError, StoreError, UnknownJourney
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
from carekit.journeys.stores._pgsans import COMMIT, Op, Round, Stmt, Tx
from carekit.journeys.stores._postgres_schema import quote
from carekit.journeys.stores._shared import (
    Applied,
    Definitions,
    DefinitionsArg,
    Notice,
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
    to_events,
)
from carekit.journeys.stores.protocol import (
    OUTBOX_STATUSES,
    AttemptOutcome,
    ClaimedTouchpoint,
    Fired,
    JourneySummary,
    OutboxEntry,
    SentKey,
)
from carekit.journeys.stores.sqlite import (
    _DAMAGE,
    _damage,
    _damaged,
    _first,
    _first_of_each,
    _first_repeat,
    _owed,
)

if TYPE_CHECKING:
    from carekit.journeys import Event, Journey, JourneyDefinition
    from carekit.plugins import CareKit

__all__ = ["CHUNK", "Core"]

_log = logging.getLogger("carekit.journeys")

T = TypeVar("T")

#: Journeys loaded, listed or created per statement.
CHUNK = 1000
#: Journeys listed per query by ``journeys()``.
LIST_CHUNK = 10_000
#: Pages of ``journeys()`` the blocking store reads per operation (one snapshot; each page
#: found by the server while the one before is built; the first page of each operation
#: is not, so more pages overlap more, at the cost of the records held at once).
LIST_PAGES = 10
_CACHE_SIZE = 1024
_OPEN = "('pending', 'failed', 'deferred')"
_OPEN_SET = frozenset({"pending", "failed", "deferred"})
#: Settled statuses a late "sent" report still overrides: a rival dead-lettered the
#: touchpoint, or a later event withdrew it while it was in flight; the message left.
_OVERRIDDEN = "('dead', 'withdrawn')"
_OWED = "idempotency_key, journey_id, seq, name, channel, state, due, data, owed_at, not_before"
_HEAD = (
    "journey_id, definition, customer_id, channel, started_at, state, version, updated_at,"
    " tz, body, settled"
)
# Every LIMIT is written into its statement (a checked int), never sent as a parameter:
# psycopg prepares a statement after a few runs, and the generic plan PostgreSQL then
# keeps cannot see the limit; it plans for a tenth of the table, so a claim, a firing pass
# or a page of journeys read and sorted the whole table instead of walking the index in
# order (measured: every claim of a 20,000-row outbox read all of it).

#: The server's clock in microseconds since the epoch, evaluated once per statement.
NOW_US = "(SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)"
_US = dt.timedelta(microseconds=1)

class Change:
    """One journey's events applied in a transaction: before and after them, the items
    applied, and what becomes of its promise-check timer."""

    __slots__ = ("after", "applied", "before", "promise")

    def __init__(self, before: Journey, after: Journey, applied: list[Applied],
                 promise: tuple[str, dt.datetime] | str | None) -> None:
        self.before = before
        self.after = after
        self.applied = applied
        #: ``(payload, due)`` to set, ``"delete"``, or ``None`` (leave it).
        self.promise = promise

    def then(self, after: Journey, applied: list[Applied],
             promise: tuple[str, dt.datetime] | None) -> None:
        """Fold in more events applied to the same journey (later in the transaction)."""
        state = self.after.state
        self.after = after
        self.applied.extend(applied)
        self.promise = _promise_action(self.promise, state, after, promise)


def _promise_action(
    action: tuple[str, dt.datetime] | str | None,
    state: str,
    after: Journey,
    promise: tuple[str, dt.datetime] | None,
) -> tuple[str, dt.datetime] | str | None:
    """The promise-check timer's fate after events took a journey from ``state`` to
    ``after``, one carrying ``promise`` (as the SQLite store does it, write by write)."""
    if promise is not None:
        action = promise
    if after.state != state and not _timers.keeps_promise_check(after):
        action = "delete"
    return action


def changed(before: Journey, after: Journey, applied: list[Applied]) -> Change:
    """A :class:`Change` for one batch of events.

    Raises:
        CareKitError: an event carries a ``data["promise"]`` that is not a promise.
    """
    promise = _timers.promise_payload(applied)  # checked before anything is written
    return Change(before, after, applied, _promise_action(None, before.state, after, promise))


def array(values: Sequence[Any]) -> str | list[Any]:
    """``values`` as a parameter for a ``%s::text[]`` (or ``::integer[]``, ``::bigint[]``)
    placeholder: PostgreSQL's array literal when every value is a string or every value
    is an integer, else the list itself (psycopg then sends it as an array).

    psycopg checks and quotes each string of a list on its own (thousands of regular
    expression calls for a thousand JSON texts); the literal is built by a few passes over
    one joined string. Every element is quoted, so nothing in a value can be read as
    ``NULL``, a separator or a brace. A value holding NUL (which no PostgreSQL text holds)
    leaves the list to psycopg, which refuses it.
    """
    try:
        joined = "\0".join(values)
    except TypeError:  # not all strings
        if values and set(map(type, values)) == {int}:
            return "{" + ",".join(map(str, values)) + "}"
        return list(values)
    if not values:
        return "{}"
    if joined.count("\0") != len(values) - 1:
        return list(values)
    escaped = joined.replace("\\", "\\\\").replace('"', '\\"')
    return '{"' + escaped.replace("\0", '","') + '"}'


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[str | list[Any]]:
    """Rows as columns (for ``unnest``): one array parameter per column, ``width`` of them."""
    if not rows:
        return ["{}" for _ in range(width)]
    return [array(column) for column in zip(*rows, strict=True)]


def _now_us() -> int:
    return time.time_ns() // 1000


def _nothing(value: T) -> Callable[[Tx], Generator[Round, list[Any], T]]:
    """An operation's generator that sends nothing and returns ``value``."""

    def run(tx: Tx) -> Generator[Round, list[Any], T]:
        return value
        yield  # pragma: no cover - makes this a generator

    return run


#: ``JourneySummary``'s slots, in field order: listing builds a million summaries by
#: setting their slots, as attrs' ``__init__`` does, without its keyword arguments (twice
#: as fast). Right while the class has no default factory, validator, converter or
#: ``__attrs_post_init__`` (a test checks).
_SUMMARY_SLOTS = tuple(
    getattr(JourneySummary, f.name).__set__ for f in attrs.fields(JourneySummary)
)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Hold Python's cyclic garbage collector off while building many records.

    Ten thousand summaries (each with its datetimes) are objects the collector would walk
    again and again as they are made, finding no cycle: a third of the time of building
    them. It runs as usual afterwards; a collector already off is left off.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _summaries(rows: Sequence[Any]) -> list[JourneySummary]:
    """``JourneySummary`` records from rows (a million of them, so: no per-row overhead).

    Raises:
        ValueError: a row holds a time that cannot be read.
    """
    fromiso = dt.datetime.fromisoformat
    new = object.__new__
    cls = JourneySummary
    (journey_id, definition, state, version, started_at, updated_at, customer_id, channel,
     pending, tz) = _SUMMARY_SLOTS
    summaries: list[JourneySummary] = []
    add = summaries.append
    for r in rows:
        summary = new(cls)
        journey_id(summary, r[0])
        definition(summary, r[1])
        state(summary, r[2])
        version(summary, r[3])
        # decode_dt, inline: most times carry no zone name, and a journey that took no
        # event since it started was updated when it started.
        started, updated = r[4], r[5]
        started_value = decode_dt(started) if started.endswith("]") else fromiso(started)
        started_at(summary, started_value)
        updated_at(summary, started_value if updated == started
                   else decode_dt(updated) if updated.endswith("]") else fromiso(updated))
        customer_id(summary, r[6])
        channel(summary, r[7])
        pending(summary, r[8])
        tz(summary, r[9])
        add(summary)
    return summaries


class Core:
    """A store's SQL, cache and definitions; its ``*_op`` methods make operations.

    Args:
        schema: the PostgreSQL schema holding the tables.
        label: the store's URL without its password, for messages.
        definitions: the journey definitions it knows besides the built-ins.
    """

    def __init__(self, schema: str, label: str, definitions: DefinitionsArg) -> None:
        self.schema = schema
        self.label = label
        self.q = quote(schema)
        self.definitions = Definitions(definitions)
        self._cache: collections.OrderedDict[str, tuple[int, int, Journey]] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()
        self._sql: dict[tuple[str, bool, str], str] = {}  # statements built once

    # -- the cache ----------------------------------------------------------------------

    def _peek(self, journey_id: str) -> bool:
        with self._lock:
            return journey_id in self._cache

    def _hit(self, journey_id: str, version: int, settled: int) -> Journey | None:
        with self._lock:
            hit = self._cache.get(journey_id)
            if hit is not None and hit[0] == version and hit[1] == settled:
                self._cache.move_to_end(journey_id)
                return hit[2]
        return None

    def committed(self, tx: Tx) -> None:
        """Keep what a committed operation asked to remember."""
        if not tx.remembered:
            return
        with self._lock:
            for journey_id, version, settled, journey in tx.remembered[-_CACHE_SIZE:]:
                self._cache[journey_id] = (version, settled, journey)
                self._cache.move_to_end(journey_id)
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)

    def forget(self, journey_id: str) -> None:
        """Drop a journey from the cache."""
        with self._lock:
            self._cache.pop(journey_id, None)

    # -- loading journeys from rows -----------------------------------------------------

    def _heads(self, ids: list[str], *, lock: str = "") -> Stmt:
        return Stmt(
            f"SELECT {_HEAD} FROM {self.q}.journeys WHERE journey_id = ANY(%s::text[]){lock}",
            (array(ids),),
        )

    def _owned(self, ids: list[str]) -> tuple[Stmt, Stmt]:
        """The statements reading the journeys' open and dead touchpoints and event ids."""
        return (
            Stmt(
                f"SELECT {_OWED}, status, settled_at, last_error, settled_no FROM {self.q}.outbox"
                " WHERE journey_id = ANY(%s::text[])"
                " AND status IN ('pending', 'failed', 'deferred', 'dead')"
                " ORDER BY journey_id, no",
                (array(ids),),
            ),
            Stmt(
                f"SELECT journey_id, event_id FROM {self.q}.events"
                " WHERE journey_id = ANY(%s::text[]) AND event_id IS NOT NULL"
                " ORDER BY journey_id, seq",
                (array(ids),),
            ),
        )

    def _build(
        self, heads: Sequence[Any], owed_rows: Sequence[Any], seen_rows: Sequence[Any]
    ) -> dict[str, Journey]:
        """Journeys from their rows (no replay: each row keeps the whole current state)."""
        from carekit.journeys._seen import compact_seen
        from carekit.journeys.journey import DeadLetter, _new_journey

        customers = {h[0]: (h[2], h[8]) for h in heads}
        owed: dict[str, list[Any]] = {}
        dead: dict[str, list[tuple[int, Any]]] = {}
        for r in owed_rows:
            if r[1] not in customers:
                continue
            customer_id, tz = customers[r[1]]
            try:  # (a try per row, not a context manager: a firing pass builds thousands)
                tp = _owed(r, customer_id, tz)
                if r[10] == "dead":
                    letter = DeadLetter(
                        touchpoint=tp, at=decode_dt(r[11]), reason=r[12] or "dead-lettered"
                    )
                    dead.setdefault(r[1], []).append((r[13] or 0, letter))
                else:
                    owed.setdefault(r[1], []).append(tp)
            except _DAMAGE as exc:
                raise _damage(self.label, "outbox", r[0], exc) from exc
        seen: dict[str, list[str]] = {}
        for journey_id, event_id in seen_rows:
            seen.setdefault(journey_id, []).append(event_id)
        result: dict[str, Journey] = {}
        for (journey_id, name, customer_id, channel, started_at, state, version, updated_at,
             tz, body, _) in heads:
            definition = self.definitions.get(name, journey_id)
            check_state(definition, journey_id, state, "row")
            try:
                friction, deadlines = decode_body(body, journey_id)
                letters = dead.get(journey_id)
                if letters is not None:
                    letters.sort(key=_first)
                result[journey_id] = _new_journey(
                    journey_id, definition, state, version, decode_dt(started_at),
                    decode_dt(updated_at), customer_id, channel, friction,
                    tuple(owed.get(journey_id, ())), deadlines,
                    tuple([letter for _, letter in letters]) if letters else (),
                    compact_seen(seen.get(journey_id, ())), tz,
                )
            except _DAMAGE as exc:
                raise _damage(self.label, "journeys", journey_id, exc) from exc
        return result

    def _current(
        self, tx: Tx, heads: Sequence[Any], owed_rows: Sequence[Any], seen_rows: Sequence[Any]
    ) -> dict[str, Journey]:
        """The journeys ``heads`` name: cached when current, else built (and remembered)."""
        found: dict[str, Journey] = {}
        todo = []
        for head in heads:
            hit = self._hit(head[0], head[6], head[10])
            if hit is None:
                todo.append(head)
            else:
                found[head[0]] = hit
        if todo:
            built = self._build(todo, owed_rows, seen_rows)
            for head in todo:
                tx.remember(head[0], head[6], head[10], built[head[0]])
            found.update(built)
        return found

    # -- what appending writes ----------------------------------------------------------

    def _insert_owed(self, rows: list[tuple[Any, ...]]) -> Stmt:
        """Insert outbox rows: (key, journey, seq, name, channel, state, due, data, owed_at,
        not_before, next attempt µs)."""
        return Stmt(
            f"INSERT INTO {self.q}.outbox ({_OWED}, next_attempt_us)"
            " SELECT u.k, u.j, u.sq, u.n, u.c, u.st, u.d, u.da, u.o, u.nb, u.na FROM unnest("
            "%s::text[], %s::text[], %s::integer[], %s::text[], %s::text[], %s::text[],"
            " %s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[])"
            " WITH ORDINALITY AS u(k, j, sq, n, c, st, d, da, o, nb, na, i) ORDER BY u.i",
            tuple(_columns(rows, 11)),
        )

    @staticmethod
    def _owed_rows(journey: Journey, touchpoints: Iterable[Any], seq: int) -> list[tuple[Any, ...]]:
        return [owed_row(journey, tp, seq) for tp in touchpoints]

    def _set_deadlines(self, rows: list[tuple[str, str, int]]) -> Stmt:
        """Upsert deadline timers: (journey, key, due µs)."""
        return Stmt(
            f"INSERT INTO {self.q}.timers (journey_id, key, kind, due_us)"
            " SELECT u.j, u.k, 'deadline', u.d FROM unnest(%s::text[], %s::text[], %s::bigint[])"
            " AS u(j, k, d) ON CONFLICT (journey_id, key) DO UPDATE SET kind = excluded.kind,"
            " due_us = excluded.due_us, payload = excluded.payload",
            tuple(_columns(rows, 3)),
        )

    def _delete_timers(self, pairs: list[tuple[str, str]]) -> Stmt:
        """Delete timers: (journey, key)."""
        return Stmt(
            f"DELETE FROM {self.q}.timers t USING unnest(%s::text[], %s::text[]) AS u(j, k)"
            " WHERE t.journey_id = u.j AND t.key = u.k",
            tuple(_columns(pairs, 2)),
        )

    def _writes(
        self, changes: Sequence[Change], *, gone: list[tuple[str, str]] | None = None
    ) -> tuple[list[Stmt], bool]:
        """What the changes write, a few statements for any number of journeys, and
        whether work became due at once. The deadline timers they delete are added to
        ``gone`` (journey, key) when given.

        Raises:
            CareKitError: event or touchpoint data that cannot be stored as JSON.
        """
        q = self.q
        events: list[tuple[Any, ...]] = []
        owed: list[tuple[Any, ...]] = []
        withdrawn: list[tuple[str, str]] = []
        heads: list[tuple[Any, ...]] = []
        gone = [] if gone is None else gone
        start = len(gone)
        added: list[tuple[str, str, int]] = []
        promises: list[tuple[str, str, int, str]] = []
        unpromised: list[str] = []
        for change in changes:
            before, journey = change.before, change.after
            journey_id = journey.journey_id
            for item in change.applied:
                events.append((
                    journey_id, item.version, item.event.id, item.event.name,
                    encode_dt(item.event.at),
                    encode_data(item.event.data, "Event data") if item.event.data else None,
                ))
                if item.owed:
                    owed.extend(self._owed_rows(journey, item.owed, item.version))
                withdrawn.extend((key, encode_dt(item.at)) for key in item.withdrawn)
            changed = (
                journey.friction != before.friction or journey.deadlines != before.deadlines
            )
            heads.append((
                journey_id, journey.state, journey.version, encode_dt(journey.updated_at),
                encode_body(journey.friction, journey.deadlines) if changed else None,
            ))
            if journey.deadlines != before.deadlines:
                lost, new = _timers.deadline_changes(before, journey)
                gone.extend((journey_id, key) for key in lost)
                added.extend((journey_id, d.idempotency_key, micros(d.due)) for d in new)
            key = _timers.promise_key(journey_id)
            if isinstance(change.promise, tuple):
                text, due = change.promise
                promises.append((journey_id, key, micros(due), text))
            elif change.promise == "delete":
                unpromised.append(journey_id)
        statements = [Stmt(
            f"INSERT INTO {q}.events (journey_id, seq, event_id, name, at, data)"
            " SELECT * FROM unnest(%s::text[], %s::integer[], %s::text[], %s::text[],"
            " %s::text[], %s::text[])",
            tuple(_columns(events, 6)),
        )]
        # Owed before withdrawn: a key is only ever withdrawn after it was owed.
        for start in range(0, len(owed), CHUNK):
            statements.append(self._insert_owed(owed[start : start + CHUNK]))
        if withdrawn:
            statements.append(Stmt(
                f"UPDATE {q}.outbox o SET status = 'withdrawn', settled_at = u.at,"
                " claimed_by = NULL, claim_until_us = NULL"
                " FROM unnest(%s::text[], %s::text[]) AS u(k, at)"
                f" WHERE o.idempotency_key = u.k AND o.status IN {_OPEN}",
                tuple(_columns(withdrawn, 2)),
            ))
        # Columns whose value does not change are written as they were: PostgreSQL then
        # keeps the (definition, state) index as it is (a HOT update).
        statements.append(Stmt(
            f"UPDATE {q}.journeys j SET state = u.st, version = u.v, updated_at = u.ua,"
            " body = coalesce(u.b, j.body) FROM unnest(%s::text[], %s::text[],"
            " %s::integer[], %s::text[], %s::text[]) AS u(j, st, v, ua, b)"
            " WHERE j.journey_id = u.j",
            tuple(_columns(heads, 5)),
        ))
        if len(gone) > start:
            statements.append(self._delete_timers(gone[start:]))
        if added:
            statements.append(self._set_deadlines(added))
        if promises:
            statements.append(Stmt(
                f"INSERT INTO {q}.timers (journey_id, key, kind, due_us, payload)"
                " SELECT u.j, u.k, 'promise', u.d, u.p FROM unnest(%s::text[], %s::text[],"
                " %s::bigint[], %s::text[]) AS u(j, k, d, p) ON CONFLICT (journey_id, key)"
                " DO UPDATE SET kind = excluded.kind, due_us = excluded.due_us,"
                " payload = excluded.payload",
                tuple(_columns(promises, 4)),
            ))
        if unpromised:
            statements.append(Stmt(
                f"DELETE FROM {q}.timers WHERE key = ANY(%s::text[])"
                " AND journey_id = ANY(%s::text[])",
                (array([_timers.promise_key(j) for j in unpromised]), array(unpromised)),
            ))
        now = _now_us()
        return statements, any(row[10] <= now for row in owed)

    # -- operations: writing ------------------------------------------------------------

    def start(
        self,
        definition: JourneyDefinition | str,
        journey_id: str,
        *,
        at: dt.datetime,
        customer_id: str | None,
        channel: str | None,
        tz: str | None,
    ) -> Journey:
        """A journey started (not stored) as ``create`` would store it."""
        check_journey_id(journey_id)
        resolved = self.definitions.resolve(definition)
        return resolved.start(journey_id, at=at, customer_id=customer_id, channel=channel, tz=tz)

    def create_many_op(self, journeys: Iterable[Journey], *, exist_ok: bool) -> Op[int]:
        """Store freshly started journeys, all or nothing (see ``create_many``)."""
        items = check_fresh(journeys, self.definitions)
        ids = [j.journey_id for j in items]
        q = self.q

        def run(tx: Tx) -> Generator[Round, list[Any], int]:
            if not items:
                return 0
            inserts = []
            for start in range(0, len(items), CHUNK):
                chunk = items[start : start + CHUNK]
                rows = [
                    (j.journey_id, j.definition.name, j.customer_id, j.channel, j.tz,
                     encode_dt(j.started_at), j.state, encode_dt(j.updated_at),
                     encode_body(j.friction, j.deadlines))
                    for j in chunk
                ]
                inserts.append(Stmt(
                    f"INSERT INTO {q}.journeys (journey_id, definition, customer_id, channel,"
                    " tz, started_at, state, version, updated_at, body)"
                    " SELECT u.j, u.d, u.cu, u.ch, u.tz, u.sa, u.st, 0, u.ua, u.b FROM unnest("
                    "%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
                    " %s::text[], %s::text[], %s::text[])"
                    " AS u(j, d, cu, ch, tz, sa, st, ua, b)"
                    " ON CONFLICT (journey_id) DO NOTHING RETURNING journey_id",
                    tuple(_columns(rows, 9)),
                ))
            results = yield Round(tuple(inserts))
            inserted = {r[0] for rows in results for r in rows}
            taken = {i for i in ids if i not in inserted}
            kept = items
            if taken and not exist_ok:
                msg = f"a journey with journey_id {min(taken)!r} already exists in this store"
                raise StoreError(msg)
            if len(inserted) != len(items):
                if not exist_ok:
                    twice = _first_repeat(ids)
                    msg = f"a journey with journey_id {twice!r} already exists in this store"
                    raise StoreError(msg)
                kept = _first_of_each(j for j in items if j.journey_id in inserted)
            writes: list[Stmt] = []
            owed = [row for j in kept if j.owed for row in self._owed_rows(j, j.owed, 0)]
            for start in range(0, len(owed), CHUNK):
                writes.append(self._insert_owed(owed[start : start + CHUNK]))
            deadlines = [
                (j.journey_id, d.idempotency_key, micros(d.due)) for j in kept for d in j.deadlines
            ]
            for start in range(0, len(deadlines), CHUNK):
                writes.append(self._set_deadlines(deadlines[start : start + CHUNK]))
            for j in kept[-_CACHE_SIZE:]:
                tx.remember(j.journey_id, 0, 0, j)
            now = _now_us()
            tx.wake = any(row[10] <= now for row in owed)
            yield Round(tuple(writes), commit=True)
            return len(kept)

        # With exist_ok, running it again after a commit whose answer was lost stores
        # nothing more and reports nothing new: safe to retry.
        return Op("creating journeys", "write", run, idempotent=exist_ok)

    def append_op(
        self,
        journey_id: str,
        events: Event | Iterable[Event],
        *,
        expected_version: int | None,
        kit: CareKit | None,
    ) -> Op[tuple[Journey, list[Notice]]]:
        """Apply and store events (see ``append``); the observer calls are returned."""
        check_journey_id(journey_id)
        batch = to_events(journey_id, events)
        expected = check_expected_version(expected_version)
        lock = self._heads([journey_id], lock=" FOR UPDATE")

        def run(tx: Tx) -> Generator[Round, list[Any], tuple[Journey, list[Notice]]]:
            # The row lock first; the rest of the journey in the same round trip unless a
            # copy is cached (then only when the copy turns out stale).
            if self._peek(journey_id):
                [heads] = yield Round((lock,))
                owed_rows = seen_rows = None
            else:
                heads, owed_rows, seen_rows = yield Round((lock, *self._owned([journey_id])))
            if not heads:
                raise UnknownJourney(journey_id)
            version, settled = heads[0][6], heads[0][10]
            if expected is not None and expected != version:
                raise ConcurrencyError(journey_id, expected, version)
            before = self._hit(journey_id, version, settled)
            if before is None:
                if owed_rows is None or seen_rows is None:
                    owed_rows, seen_rows = yield Round(self._owned([journey_id]))
                before = self._current(tx, heads, owed_rows, seen_rows)[journey_id]
            journey, applied, notices = apply_events(before, batch, kit=kit)
            if not applied:
                return journey, notices
            statements, wake = self._writes([changed(before, journey, applied)])
            tx.remember(journey_id, journey.version, settled, journey)
            tx.wake = wake
            yield Round(tuple(statements), commit=True)
            return journey, notices

        # Events that all have ids and no version check: running it again after a commit
        # whose answer was lost applies nothing twice, so it is safe to retry.
        again = expected is None and all(e.id is not None for e in batch)
        return Op("appending events", "write", run, idempotent=again)

    # -- operations: reading ------------------------------------------------------------

    def load_op(self, journey_ids: list[str], *, doing: str) -> Op[dict[str, Journey]]:
        """The journeys with these ids that exist, by id (one snapshot)."""

        def run(tx: Tx) -> Generator[Round, list[Any], dict[str, Journey]]:
            heads, owed_rows, seen_rows = yield Round(
                (self._heads(journey_ids), *self._owned(journey_ids)), commit=True
            )
            return self._current(tx, heads, owed_rows, seen_rows)

        return Op(doing, "read", run)

    def ids_after_op(self, after: str | None, limit: int) -> Op[list[str]]:
        """Up to ``limit`` journey ids after ``after``, in order."""
        # Two statements, not one with "after IS NULL OR …": a prepared statement's generic
        # plan could not then start its index scan at ``after``. The limit is written in
        # (see the note on LIMIT at the top).
        if after is None:
            stmt = Stmt(
                f"SELECT journey_id FROM {self.q}.journeys ORDER BY journey_id"
                f" LIMIT {int(limit)}", None
            )
        else:
            stmt = Stmt(
                f"SELECT journey_id FROM {self.q}.journeys WHERE journey_id > %s"
                f" ORDER BY journey_id LIMIT {int(limit)}",
                (after,),
            )

        def run(tx: Tx) -> Generator[Round, list[Any], list[str]]:
            [rows] = yield Round((stmt,))
            return [r[0] for r in rows]

        return Op("listing journeys", "auto", run)

    @staticmethod
    def check_ids(journey_ids: object) -> list[str] | None:
        """``load_many``'s argument, checked."""
        return check_journey_ids(journey_ids)

    def summaries_op(
        self, definition: str | None, state: str | None, after: str | None, limit: int,
        pages: int = 1,
    ) -> Op[list[JourneySummary]]:
        """Up to ``pages`` pages of ``limit`` journeys' current state after id ``after``.

        Several pages are read in one snapshot, each page's statement sent ahead of the
        work on the page before (see ``Round.ahead``): the server finds the next page
        while this one's records are built.
        """
        check_filters(definition=definition, state=state)
        q = self.q
        filters = "".join(
            f" AND j.{name} = %({name})s"
            for name, value in (("definition", definition), ("state", state))
            if value is not None
        )
        sql = (
            "SELECT j.journey_id, j.definition, j.state, j.version, j.started_at,"
            " j.updated_at, j.customer_id, j.channel,"
            f" (SELECT count(*) FROM {q}.outbox o WHERE o.journey_id = j.journey_id"
            f" AND o.status IN {_OPEN}), j.tz FROM {q}.journeys j"
            f" WHERE {{}}{filters} ORDER BY j.journey_id LIMIT {int(limit)}"
        )

        def page(start: str | None) -> Stmt:
            return Stmt(
                sql.format("TRUE" if start is None else "j.journey_id > %(after)s"),
                {"after": start, "definition": definition, "state": state},
            )

        def run(tx: Tx) -> Generator[Round, list[Any], list[JourneySummary]]:
            [rows] = yield Round((page(after),))
            summaries: list[JourneySummary] = []
            for left in range(pages - 1, -1, -1):
                more = left > 0 and len(rows) == limit
                if more:  # the server finds the next page meanwhile
                    yield Round((), ahead=(page(rows[-1][0]),))
                summaries += self._built_summaries(rows)
                if not more:
                    break
                [rows] = yield Round(())
            return summaries

        return Op("listing journeys", "read" if pages > 1 else "auto", run)

    def _built_summaries(self, rows: Sequence[Any]) -> list[JourneySummary]:
        """``JourneySummary`` records from rows; a damaged row is named."""
        try:
            with _collector_paused():
                return _summaries(rows)
        except (ValueError, TypeError, KeyError, IndexError, OverflowError):
            for r in rows:  # name the damaged row
                with _damaged(self.label, "journeys", r[0]):
                    decode_dt(r[4])
                    decode_dt(r[5])
            raise

    def events_op(self, journey_id: str) -> Op[list[Event]]:
        """The journey's stored events, in order (see ``events``)."""
        check_journey_id(journey_id)
        q = self.q

        def run(tx: Tx) -> Generator[Round, list[Any], list[Event]]:
            from carekit.journeys import Event

            known, rows = yield Round((
                Stmt(f"SELECT 1 FROM {q}.journeys WHERE journey_id = %s", (journey_id,)),
                Stmt(
                    f"SELECT name, at, event_id, data, seq FROM {q}.events"
                    " WHERE journey_id = %s ORDER BY seq",
                    (journey_id,),
                ),
            ), commit=True)
            if not known:
                raise UnknownJourney(journey_id)
            events = []
            for r in rows:
                with _damaged(self.label, "events", f"{journey_id} #{r[4]}"):
                    events.append(Event(
                        r[0], at=decode_dt(r[1]), id=r[2], journey_id=journey_id,
                        data=decode_data(r[3]),
                    ))
            return events

        return Op("reading events", "read", run)

    def outbox_op(self, journey_id: str | None, status: str | None) -> Op[list[OutboxEntry]]:
        """The outbox's entries (see ``outbox``)."""
        check_filters(journey_id=journey_id, status=status)
        conditions = []
        if journey_id is not None:
            conditions.append("journey_id = %(journey_id)s")
        if status is not None:
            conditions.append("status = %(status)s")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        stmt = Stmt(
            "SELECT idempotency_key, journey_id, name, channel, due, status, attempts,"
            f" next_attempt_us, last_error, settled_at, reference, not_before FROM {self.q}.outbox"
            f"{where} ORDER BY no",
            {"journey_id": journey_id, "status": status},
        )

        def run(tx: Tx) -> Generator[Round, list[Any], list[OutboxEntry]]:
            [rows] = yield Round((stmt,))
            entries = []
            for r in rows:
                with _damaged(self.label, "outbox", r[0]):
                    entries.append(OutboxEntry(
                        idempotency_key=r[0], journey_id=r[1], name=r[2], channel=r[3],
                        due=None if r[4] is None else decode_dt(r[4]), status=r[5],
                        attempts=r[6],
                        next_attempt_at=from_micros(r[7]) if r[5] in _OPEN_SET else None,
                        last_error=r[8], settled_at=None if r[9] is None else decode_dt(r[9]),
                        reference=r[10], not_before=None if r[11] is None else decode_dt(r[11]),
                    ))
            return entries

        return Op("reading the outbox", "auto", run)

    def outbox_counts_op(self) -> Op[dict[str, int]]:
        """How many outbox entries have each status."""
        stmt = Stmt(f"SELECT status, count(*) FROM {self.q}.outbox GROUP BY status")

        def run(tx: Tx) -> Generator[Round, list[Any], dict[str, int]]:
            [rows] = yield Round((stmt,))
            counts = dict.fromkeys(OUTBOX_STATUSES, 0)
            for status, n in rows:
                counts[status] = n
            return counts

        return Op("counting the outbox", "auto", run)

    def scalar_op(self, sql: str, params: Any, doing: str) -> Op[Any]:
        """The first column of the first row of one query (``None`` without rows)."""
        stmt = Stmt(sql.replace("{s}", self.q), params)

        def run(tx: Tx) -> Generator[Round, list[Any], Any]:
            [rows] = yield Round((stmt,))
            return rows[0][0] if rows else None

        return Op(doing, "auto", run)

    def schema_version_op(self) -> Op[Any]:
        """The schema version of the store's tables."""
        return self.scalar_op(
            "SELECT coalesce(max(version), 0) FROM {s}.schema_versions", None,
            "reading its schema version",
        )

    # -- operations: the worker's side --------------------------------------------------

    def claim_op(
        self, *, now: dt.datetime, limit: int, lease: dt.timedelta, claimant: str
    ) -> Op[tuple[list[ClaimedTouchpoint], list[tuple[str, str]]]]:
        """Claim due touchpoints: the claims, and the rows that cannot be read (key, why)."""
        span = check_claim(now, limit, lease, claimant)
        q = self.q
        stmt = Stmt(
            f"WITH due AS (SELECT idempotency_key FROM {q}.outbox"
            f" WHERE status IN {_OPEN} AND next_attempt_us <= %(now)s"
            f" AND (claim_until_us IS NULL OR claim_until_us <= {NOW_US})"
            # The limit is written in (see the note on LIMIT at the top).
            f" ORDER BY next_attempt_us, no LIMIT {int(limit)} FOR UPDATE SKIP LOCKED)"
            f" UPDATE {q}.outbox o SET claimed_by = %(claimant)s,"
            f" claim_until_us = {NOW_US} + %(span)s, attempts = o.attempts + 1"
            # A claim need not wait for the WAL flush: lost in a crash, it is taken again.
            f" FROM due, {q}.journeys j,"
            " (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed"
            " WHERE o.idempotency_key = due.idempotency_key AND j.journey_id = o.journey_id"
            f" RETURNING o.{_OWED.replace(', ', ', o.')}, o.attempts, j.customer_id, j.tz,"
            " o.next_attempt_us, o.no",
            {"now": micros(now), "claimant": claimant, "span": span // _US},
        )

        def run(tx: Tx) -> Generator[
            Round, list[Any], tuple[list[ClaimedTouchpoint], list[tuple[str, str]]]
        ]:
            [rows] = yield Round((stmt,))
            rows.sort(key=lambda r: (r[13], r[14]))
            claimed: list[ClaimedTouchpoint] = []
            poison: list[tuple[str, str]] = []
            for r in rows:
                try:
                    tp = _owed(r, r[11], r[12])
                except (StoreError, ValueError, TypeError, KeyError, OverflowError) as exc:
                    poison.append((r[0], f"the outbox row cannot be read: {exc}"))
                    continue
                claimed.append(ClaimedTouchpoint(
                    touchpoint=tp, channel=r[4], attempt=r[10], claim=claimant
                ))
            return claimed, poison

        return Op("claiming touchpoints", "auto", run, idempotent=True, writes=True)

    def _settle(self, key: str, status: str, at: str, error: str | None,
                reference: str | None, condition: str, claim: str | None,
                *, unclaimed: bool = False) -> Stmt:
        """Mark ``key`` sent or dead when ``condition`` holds; its journey counts it.

        The journey row is locked before the outbox row, as appends lock them. With
        ``unclaimed``, the attempt its claim counted is taken back (it was never tried).
        """
        q = self.q
        undo = ", attempts = greatest(attempts - 1, 0)" if unclaimed else ""
        return Stmt(
            f"WITH target AS (SELECT journey_id FROM {q}.outbox WHERE idempotency_key = %(key)s"
            f" AND {condition}), counted AS (UPDATE {q}.journeys SET settled = settled + 1"
            " WHERE journey_id = (SELECT journey_id FROM target) RETURNING version, settled)"
            f" UPDATE {q}.outbox SET status = %(status)s, claimed_by = NULL,"
            " claim_until_us = NULL, last_error = %(error)s, reference = %(reference)s,"
            " settled_at = %(at)s, settled_seq = counted.version, settled_no = counted.settled"
            f"{undo} FROM counted WHERE idempotency_key = %(key)s AND {condition}",
            {"key": key, "status": status, "at": at, "error": error, "reference": reference,
             "claim": claim},
        )

    def dead_letter_op(self, poison: list[tuple[str, str]], now: dt.datetime) -> Op[None]:
        """Dead-letter outbox rows that cannot be read."""
        at = encode_dt(now)
        statements = tuple(
            self._settle(key, "dead", at, reason, None, f"status IN {_OPEN}", None,
                         unclaimed=True)
            for key, reason in poison
        )

        def run(tx: Tx) -> Generator[Round, list[Any], None]:
            yield Round(statements, commit=True)

        return Op("dead-lettering unreadable touchpoints", "write", run, idempotent=True)

    def record_op(
        self,
        outcomes: Sequence[AttemptOutcome],
        *,
        lease: dt.timedelta | None,
        claimant: str | None,
        holding: Collection[str] | None = None,
    ) -> Op[frozenset[str]]:
        """Record attempts' outcomes, extend the claims still held (see ``record``).

        One statement (one round trip, its own transaction): a worker records after every
        delivery, so this is the store's hottest write.
        """
        checked = check_outcomes(outcomes)
        span = None if lease is None else check_lease(lease)
        asked = check_holding(holding, claimant)
        extend = span is not None and claimant is not None
        if asked is not None:
            # Only the keys asked about are read back (a worker asks about the next one).
            hold = "none" if not asked else "one" if len(asked) == 1 else "some"
        else:
            hold = "all" if extend else "none"
        if not checked and not extend and hold == "none":
            return Op("recording deliveries", "auto", _nothing(frozenset()))
        if len(checked) == 1:
            # One outcome (a worker's usual call) goes as plain values: arrays cost more to
            # send than the statement costs to run. A delivery (nearly every call) has a
            # statement of its own, its kind written in: the server runs it for less than
            # the statement taking any kind, whose kind is a parameter of every CASE.
            o = checked[0]
            key = o.claimed.idempotency_key
            settling: Collection[str] = (key,)
            params: dict[str, Any]
            if o.status == "sent":
                shape = "sent"
                params = {"keys": key, "errors": o.error, "refs": o.reference,
                          "ats": encode_dt(o.at)}
            else:
                shape = "one"
                params = {
                    "keys": key, "kinds": o.status,
                    "claims": o.claimed.claim, "errors": o.error, "refs": o.reference,
                    "ats": encode_dt(o.at),
                    "retry": None if o.retry_at is None else micros(o.retry_at),
                }
            wake = o.status == "release"
        else:
            # One outcome per key, as if recorded one after another: a delivery reported at
            # any point wins; otherwise the first report gives the claim up, so later ones
            # for the same key would change nothing.
            chosen: dict[str, AttemptOutcome] = {}
            for outcome in checked:
                key = outcome.claimed.idempotency_key
                if key not in chosen or (
                    outcome.status == "sent" and chosen[key].status != "sent"
                ):
                    chosen[key] = outcome
            settling = chosen.keys()
            rows = [
                (key, o.status, o.claimed.claim, o.error, o.reference, encode_dt(o.at),
                 None if o.retry_at is None else micros(o.retry_at))
                for key, o in chosen.items()
            ]
            names = ("keys", "kinds", "claims", "errors", "refs", "ats", "retry")
            shape = "one" if len(rows) == 1 else "many"
            values = rows[0] if shape == "one" else _columns(rows, 7)
            params = dict(zip(names, values, strict=True))
            wake = any(o.status == "release" for o in checked)
        params["claimant"] = claimant
        if span is not None:
            span_us = span // _US
            params.update(span=span_us, slack=span_us // 10)
        if asked:
            params["holding"] = asked[0] if hold == "one" else list(asked)
        sql = self._record_sql(extend, shape, hold)
        stmt = Stmt(sql, params)
        # The statement's snapshot predates its own changes: a key asked about that it
        # settled is no longer held, whatever the snapshot says.
        settled = frozenset(settling) if hold in ("one", "some") else frozenset()

        def run(tx: Tx) -> Generator[Round, list[Any], frozenset[str]]:
            [[(_, held)]] = yield Round((stmt,))
            tx.wake = wake
            if hold == "none" or not held:  # (for "one", ``held`` is a flag)
                return frozenset()
            if hold == "one":
                return frozenset(asked) - settled if asked else frozenset()
            return frozenset(held) - settled

        return Op("recording deliveries", "auto", run, idempotent=True, writes=True)

    def _record_sql(self, extend: bool, shape: str, hold: str) -> str:
        """The statement recording outcomes (and extending the claimant's claims)."""
        known = self._sql.get((shape, extend, hold))
        if known is None:
            known = self._sql[(shape, extend, hold)] = self._make_record_sql(extend, shape,
                                                                              hold)
        return known

    def _make_record_sql(self, extend: bool, shape: str, hold: str) -> str:
        q = self.q
        if shape == "sent":
            # One delivery: the "one" statement below with its kind written in. Its journey
            # always counts it (a journey row is never deleted, and the outbox row's key
            # holds its journey), so the outbox row is joined to the count alone.
            condition = f"(o.status IN {_OPEN} OR o.status IN {_OVERRIDDEN})"
            sql = (
                f"WITH target AS (SELECT o.journey_id FROM {q}.outbox o"
                f" WHERE o.idempotency_key = %(keys)s::text AND {condition}),"
                # The journey row is locked (counted) before the outbox row (changed), in
                # the order appends lock them.
                f" counted AS (UPDATE {q}.journeys j SET settled = j.settled + 1 FROM target t"
                " WHERE j.journey_id = t.journey_id RETURNING j.version, j.settled),"
                f" changed AS (UPDATE {q}.outbox o SET status = 'sent',"
                " claimed_by = NULL, claim_until_us = NULL, last_error = %(errors)s::text,"
                " reference = %(refs)s::text, settled_at = %(ats)s::text,"
                " settled_seq = c.version, settled_no = c.settled FROM counted c"
                f" WHERE o.idempotency_key = %(keys)s::text AND {condition}"
                " RETURNING o.idempotency_key)"
            )
            recorded = "o.idempotency_key <> %(keys)s::text"
        elif shape == "one":
            # One outcome (a worker's usual call): plain values, no window or grouping.
            settles = "%(kinds)s::text IN ('sent', 'dead')"
            condition = (
                f"CASE WHEN %(kinds)s::text = 'sent'"
                f" THEN o.status IN {_OPEN} OR o.status IN {_OVERRIDDEN}"
                f" ELSE o.status IN {_OPEN} AND o.claimed_by = %(claims)s::text END"
            )
            sql = (
                f"WITH target AS (SELECT o.journey_id FROM {q}.outbox o"
                f" WHERE o.idempotency_key = %(keys)s::text AND {condition}),"
                # The journey row is locked (counted) before the outbox row (changed), in
                # the order appends lock them.
                f" counted AS (UPDATE {q}.journeys j SET settled = j.settled + 1 FROM target t"
                f" WHERE j.journey_id = t.journey_id AND {settles}"
                " RETURNING j.version, j.settled),"
                f" changed AS (UPDATE {q}.outbox o SET"
                " status = CASE %(kinds)s::text WHEN 'sent' THEN 'sent' WHEN 'dead' THEN 'dead'"
                " WHEN 'retry' THEN 'failed' WHEN 'defer' THEN 'deferred' ELSE o.status END,"
                " claimed_by = NULL, claim_until_us = NULL,"
                " attempts = CASE WHEN %(kinds)s::text IN ('defer', 'release')"
                " THEN greatest(o.attempts - 1, 0) ELSE o.attempts END,"
                " last_error = CASE WHEN %(kinds)s::text = 'release' THEN o.last_error"
                " ELSE %(errors)s::text END,"
                " next_attempt_us = CASE WHEN %(kinds)s::text IN ('retry', 'defer')"
                " THEN %(retry)s::bigint ELSE o.next_attempt_us END,"
                f" reference = CASE WHEN {settles} THEN %(refs)s::text ELSE o.reference END,"
                f" settled_at = CASE WHEN {settles} THEN %(ats)s::text ELSE o.settled_at END,"
                f" settled_seq = CASE WHEN {settles} THEN c.version ELSE o.settled_seq END,"
                f" settled_no = CASE WHEN {settles} THEN c.settled ELSE o.settled_no END"
                " FROM target t LEFT JOIN counted c ON true"
                f" WHERE o.idempotency_key = %(keys)s::text AND {condition}"
                " RETURNING o.idempotency_key)"
            )
            recorded = "o.idempotency_key <> %(keys)s::text"
        else:
            sql = self._record_many_sql()
            recorded = "o.idempotency_key NOT IN (SELECT k FROM u)"
        # The server's time, read once: shared by the claims extended and those read back,
        # or written in where one expression alone reads it (a CTE less to run).
        now = NOW_US
        if extend or hold in ("all", "some"):
            sql += f", clock AS MATERIALIZED (SELECT {NOW_US} AS now_us)"
            now = "(SELECT now_us FROM clock)"
        if extend:
            # Only the claims that need it are rewritten, found in the claims index by
            # their expiry: a claim with more than 90 % of the lease left is left alone (a
            # worker records after every delivery, and rewriting every claim of its batch
            # each time would cost a row version per claim per delivery), one with more
            # than the lease left is brought back to the lease. The server's time is a
            # scalar subquery, so the expiry bounds are index conditions.
            for cte, bounds in (
                ("extended", f"o.claim_until_us > {now}"
                             f" AND o.claim_until_us < {now} + %(span)s - %(slack)s"),
                ("shortened", f"o.claim_until_us > {now} + %(span)s"),
            ):
                sql += (
                    f", {cte} AS (UPDATE {q}.outbox o SET claim_until_us = {now} + %(span)s"
                    f" WHERE o.claimed_by = %(claimant)s AND {bounds} AND {recorded}"
                    " RETURNING 1)"
                )
        # Outcomes need not wait for the WAL flush (see the class docs). The claims held
        # are read from the claims index, or by key when the caller asks about some (a
        # claimed row is always one that may still be sent: see the outbox's CHECK
        # constraint).
        relaxed = " SELECT set_config('synchronous_commit', 'off', true),"
        held = (f" ARRAY(SELECT o.idempotency_key FROM {q}.outbox o"
                f" WHERE o.claimed_by = %(claimant)s AND o.claim_until_us > {now}")
        if hold == "all":
            # The statement's snapshot predates its own changes: what it settled is left
            # out by hand.
            return sql + relaxed + held + (
                " AND o.idempotency_key NOT IN (SELECT idempotency_key FROM changed))"
            )
        if hold == "one":
            # A flag costs the server less than an array. The row is found by its key
            # alone: with the claim in the WHERE clause the planner may walk the claims
            # index instead, past the entries every earlier claim of this claimant left.
            return sql + relaxed + (
                f" (SELECT o.claimed_by = %(claimant)s AND o.claim_until_us > {now}"
                f" FROM {q}.outbox o WHERE o.idempotency_key = %(holding)s::text)"
            )
        if hold == "some":  # found by key alone too (a CASE is no index condition)
            return sql + relaxed + (
                f" ARRAY(SELECT o.idempotency_key FROM {q}.outbox o"
                " WHERE o.idempotency_key = ANY(%(holding)s::text[])"
                " AND CASE WHEN o.claimed_by = %(claimant)s"
                f" THEN o.claim_until_us > {now} ELSE false END)"
            )
        return sql + relaxed + " NULL"

    def _record_many_sql(self) -> str:
        """The CTEs recording several outcomes at once (``u``, ``changed`` among them)."""
        q = self.q
        condition = (
            f"CASE WHEN t.kind = 'sent' THEN o.status IN {_OPEN} OR o.status IN {_OVERRIDDEN}"
            f" ELSE o.status IN {_OPEN} AND o.claimed_by = t.claim END"
        )
        settles = "t.kind IN ('sent', 'dead')"
        outcomes = (
            "SELECT * FROM unnest(%(keys)s::text[], %(kinds)s::text[], %(claims)s::text[],"
            " %(errors)s::text[], %(refs)s::text[], %(ats)s::text[], %(retry)s::bigint[])"
            " AS u(k, kind, claim, err, ref, at, retry)"
        )
        return (
            f"WITH u AS ({outcomes}),"
            # The journey rows are locked (counted) before the outbox rows (changed), in
            # the order appends lock them.
            " target AS (SELECT t.*, o.journey_id, row_number() OVER (PARTITION BY"
            f" o.journey_id, {settles} ORDER BY t.k) AS rank"
            f" FROM u AS t JOIN {q}.outbox o ON o.idempotency_key = t.k WHERE {condition}),"
            f" counted AS (UPDATE {q}.journeys j SET settled = j.settled + n.n"
            " FROM (SELECT journey_id, count(*) AS n FROM target t"
            f" WHERE {settles} GROUP BY journey_id) AS n WHERE j.journey_id = n.journey_id"
            " RETURNING j.journey_id, j.version, j.settled - n.n AS base),"
            f" changed AS (UPDATE {q}.outbox o SET"
            " status = CASE t.kind WHEN 'sent' THEN 'sent' WHEN 'dead' THEN 'dead'"
            " WHEN 'retry' THEN 'failed' WHEN 'defer' THEN 'deferred' ELSE o.status END,"
            " claimed_by = NULL, claim_until_us = NULL,"
            " attempts = CASE WHEN t.kind IN ('defer', 'release')"
            " THEN greatest(o.attempts - 1, 0) ELSE o.attempts END,"
            " last_error = CASE WHEN t.kind = 'release' THEN o.last_error ELSE t.err END,"
            " next_attempt_us = CASE WHEN t.kind IN ('retry', 'defer') THEN t.retry"
            " ELSE o.next_attempt_us END,"
            f" reference = CASE WHEN {settles} THEN t.ref ELSE o.reference END,"
            f" settled_at = CASE WHEN {settles} THEN t.at ELSE o.settled_at END,"
            f" settled_seq = CASE WHEN {settles} THEN c.version ELSE o.settled_seq END,"
            f" settled_no = CASE WHEN {settles} THEN c.base + t.rank ELSE o.settled_no END"
            " FROM target t LEFT JOIN counted c ON c.journey_id = t.journey_id"
            f" WHERE o.idempotency_key = t.k AND {condition} RETURNING o.idempotency_key)"
        )

    def fire_op(
        self, *, now: dt.datetime, limit: int, kit: CareKit | None, checks: Any
    ) -> Op[tuple[list[Fired], list[Notice]]]:
        """Fire due timers in one transaction (see ``fire_due``)."""
        _validate.aware("now", now)
        check_limit("limit", limit)
        q = self.q
        kinds = "('deadline', 'promise')" if checks is not None else "('deadline')"
        now_us = micros(now)
        where = f"WHERE due_us <= %s AND kind IN {kinds}"

        def run(tx: Tx) -> Generator[Round, list[Any], tuple[list[Fired], list[Notice]]]:
            [due] = yield Round((Stmt(f"SELECT 1 FROM {q}.timers {where} LIMIT 1", (now_us,)),))
            if not due:
                return [], []
            _, rows = yield Round((
                Stmt("BEGIN"),
                Stmt(
                    f"SELECT journey_id, key, kind, due_us, payload FROM {q}.timers {where}"
                    f" ORDER BY due_us LIMIT {int(limit)} FOR UPDATE SKIP LOCKED",
                    (now_us,),
                ),
            ))
            ids = list(dict.fromkeys(r[0] for r in rows))
            if not ids:
                return [], []
            unknown = [i for i in ids if not self._peek(i)]
            lock = self._heads(ids, lock=" FOR UPDATE SKIP LOCKED")
            if unknown:
                heads, owed_rows, seen_rows = yield Round((lock, *self._owned(unknown)))
            else:
                [heads] = yield Round((lock,))
                owed_rows = seen_rows = []
            read = set(unknown)  # (a set: a pass may fire for thousands of journeys)
            stale = [
                h[0] for h in heads if h[0] not in read and self._hit(h[0], h[6], h[10]) is None
            ]
            if stale:
                more_owed, more_seen = yield Round(self._owned(stale))
                owed_rows, seen_rows = [*owed_rows, *more_owed], [*seen_rows, *more_seen]
            journeys = self._current(tx, heads, owed_rows, seen_rows)
            settled = {h[0]: h[10] for h in heads}
            # Journeys a writer holds right now are skipped: their timers wait for the next
            # pass (locked by this transaction until it ends, so no other worker takes them).
            rows = [r for r in rows if r[0] in journeys]
            history: dict[str, list[Event]] = {}
            asking = list(dict.fromkeys(r[0] for r in rows if r[2] == "promise"))
            if asking:
                [event_rows] = yield Round((Stmt(
                    f"SELECT journey_id, name, at, event_id, data FROM {q}.events"
                    " WHERE journey_id = ANY(%s::text[]) ORDER BY journey_id, seq",
                    (array(asking),),
                ),))
                history = self._histories(event_rows)
            fired: list[Fired] = []
            notices: list[Notice] = []
            changes: dict[str, Change] = {}
            delete: list[tuple[str, str]] = []
            later: list[tuple[str, str, int]] = []
            for journey_id, key, kind, due_us, payload in rows:
                journey = journeys[journey_id]
                try:
                    if kind == "deadline":
                        hit, event, next_due = _timers.decide_deadline(key, journey, now)
                    else:
                        promise = _timers.parse_payload(payload)
                        hit, event, next_due = _timers.decide_promise(
                            checks, journey, promise, history.get(journey_id, []).copy, now
                        )
                    if event is not None:
                        after, applied, owed_notices = apply_events(journey, [event], kit=kit)
                        if applied:
                            change = changed(journey, after, applied)
                            if kit is not None:  # plugins' touchpoints: JSON-able data?
                                self._writes([change])
                            if journey_id in changes:
                                changes[journey_id].then(after, applied, _timers.promise_payload(
                                    applied
                                ))
                            else:
                                changes[journey_id] = change
                            history.setdefault(journey_id, []).extend(
                                item.event for item in applied
                            )
                            tx.remember(journey_id, after.version, settled[journey_id], after)
                        journeys[journey_id] = after
                        notices.extend(owed_notices)
                except CareKitError as exc:
                    self.forget(journey_id)
                    tx.remembered = [t for t in tx.remembered if t[0] != journey_id]
                    hit, event, next_due = False, None, _timers.retry_later(now)
                    _timers.log_failure(journey_id, key, exc)
                if next_due is None:
                    delete.append((journey_id, key))
                else:
                    later.append((journey_id, key, micros(next_due)))
                if hit:
                    fired.append(Fired(
                        journey_id=journey_id, kind=kind, key=key, due=from_micros(due_us),
                        event=event,
                    ))
            statements: list[Stmt] = []
            if changes:
                # A breach applied ends its deadline: the writes delete that timer (and
                # never write it again in the same statements), so it is not deleted twice.
                gone: list[tuple[str, str]] = []
                statements, tx.wake = self._writes(list(changes.values()), gone=gone)
                if gone:
                    ended = set(gone)
                    delete = [pair for pair in delete if pair not in ended]
            if delete:
                statements.append(self._delete_timers(delete))
            if later:
                statements.append(Stmt(
                    f"UPDATE {q}.timers t SET due_us = u.d"
                    " FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS u(j, k, d)"
                    " WHERE t.journey_id = u.j AND t.key = u.k",
                    tuple(_columns(later, 3)),
                ))
            yield Round((*statements, COMMIT))
            return fired, notices

        return Op("firing timers", "auto", run, idempotent=True)

    def _histories(self, rows: Sequence[Any]) -> dict[str, list[Event]]:
        from carekit.journeys import Event

        history: dict[str, list[Event]] = {}
        for journey_id, name, at, event_id, data in rows:
            with _damaged(self.label, "events", journey_id):
                history.setdefault(journey_id, []).append(Event(
                    name, at=decode_dt(at), id=event_id, journey_id=journey_id,
                    data=decode_data(data),
                ))
        return history

    def remember_sent_op(
        self, idempotency_key: str, *, at: dt.datetime, channel: str | None,
        reference: str | None,
    ) -> Op[bool]:
        """Note that a key was handed to a provider (see ``remember_sent``)."""
        note = check_sent_key(idempotency_key, at, channel, reference)
        stmt = Stmt(
            f"INSERT INTO {self.q}.sent_keys (idempotency_key, channel, reference, sent_us)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (idempotency_key) DO NOTHING",
            (note.idempotency_key, note.channel, note.reference, micros(note.at)),
        )

        def run(tx: Tx) -> Generator[Round, list[Any], bool]:
            [inserted] = yield Round((stmt,))
            return bool(inserted)

        # Not idempotent: run again after a commit whose answer was lost, it would say the
        # key was noted already, and the plugin would not send.
        return Op("noting a sent key", "auto", run, writes=True)

    def sent_key_op(self, idempotency_key: str) -> Op[SentKey | None]:
        """The note kept for a key (see ``sent_key``)."""
        check_journey_id(idempotency_key)
        stmt = Stmt(
            f"SELECT channel, reference, sent_us FROM {self.q}.sent_keys"
            " WHERE idempotency_key = %s",
            (idempotency_key,),
        )

        def run(tx: Tx) -> Generator[Round, list[Any], SentKey | None]:
            [rows] = yield Round((stmt,))
            if not rows:
                return None
            channel, reference, sent_us = rows[0]
            with _damaged(self.label, "sent_keys", idempotency_key):
                at = from_micros(sent_us)
            return SentKey(idempotency_key=idempotency_key, channel=channel,
                           reference=reference, at=at)

        return Op("looking up a sent key", "auto", run)

    def oldest_due_op(self, now: dt.datetime) -> Op[dt.datetime | None]:
        """When the longest-waiting claimable touchpoint or due timer became due."""
        _validate.aware("now", now)
        q = self.q
        stmt = Stmt(
            f"SELECT (SELECT next_attempt_us FROM {q}.outbox WHERE status IN {_OPEN}"
            " AND next_attempt_us <= %(now)s"
            f" AND (claim_until_us IS NULL OR claim_until_us <= {NOW_US})"
            " ORDER BY next_attempt_us LIMIT 1),"
            f" (SELECT due_us FROM {q}.timers WHERE due_us <= %(now)s ORDER BY due_us LIMIT 1)",
            {"now": micros(now)},
        )

        def run(tx: Tx) -> Generator[Round, list[Any], dt.datetime | None]:
            [[row]] = yield Round((stmt,))
            found = [value for value in row if value is not None]
            return from_micros(min(found)) if found else None

        return Op("looking for the oldest item due", "auto", run)

