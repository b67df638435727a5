"""Journeys in PostgreSQL: many processes on many hosts write, deliver and fire at once.

:class:`PostgresJourneyStore` (blocking, psycopg 3 with a ``psycopg_pool`` connection pool)
and :class:`AsyncPostgresJourneyStore` (the same methods as coroutines, on psycopg's
``AsyncConnection``) keep the same :class:`~carekit.journeys.JourneyStore` contract as
:class:`~carekit.journeys.SQLiteJourneyStore`, in tables of their own PostgreSQL schema
(created on first use and migrated forward by version; see ``_postgres_schema``). Install
them with ``pip install 'carekit[postgres]'``.

How the two stores share their code
    Every operation is written once, *sans I/O*: a generator that yields the statements of
    one network round trip and receives their rows (``_pgsans``, ``_postgres_core``). The
    blocking and the asyncio store each have a short driver that sends those statements with
    their own kind of connection, wraps them in ``BEGIN`` … ``COMMIT``, retries after a
    deadlock or a connection lost before the commit, and turns driver errors into
    :class:`~carekit.StoreError`. This was chosen over the two usual alternatives: writing
    the SQL twice (the two copies drift), and running the blocking store in threads under
    the asyncio one (every call would hold a thread, and cancelling a coroutine could not
    cancel its statement). A generator also makes each round trip visible: statements that
    do not depend on each other's results are sent together in psycopg's pipeline mode, so
    recording a delivery is one round trip and appending events usually two.

Waking workers: LISTEN/NOTIFY with polling as the fallback
    A write that makes a touchpoint sendable at once (a new order's "thank you") wakes the
    workers: :meth:`PostgresJourneyStore.wait` (which :class:`~carekit.journeys.Worker`
    calls instead of sleeping its ``poll`` interval) returns as soon as a notification
    arrives on the store's channel. Two traps are avoided:

    * a ``NOTIFY`` inside a writing transaction takes a database-wide lock at commit, which
      serialises every such commit; so the store never notifies inside a transaction.
      After the commit it sets a flag that a background thread (a task, for the asyncio
      store) turns into at most one ``NOTIFY`` per ``notify_interval`` per store: a burst
      of ten thousand appends sends a handful of notifications, never one per event;
    * a notification can be missed (a worker between two waits, a connection lost in a
      restart): workers still poll every ``poll``; a notification only makes them earlier.

Finding work without a global position
    Workers never read "everything after position N" of a sequence: a sequence number is
    taken before its transaction commits, so a reader can pass a number whose row commits
    later and miss that row for good. Claims go by outbox status and due time, and take
    rows with ``FOR UPDATE SKIP LOCKED``; timers likewise (see ``_postgres_core``).

Faults
    A wrong DSN, a refused connection, a bad password or a missing database raise one
    :class:`~carekit.StoreError` naming the URL without its password; a missing psycopg
    raises :class:`~carekit.CareKitError` saying what to install. When the server restarts,
    the connections in the pool break: an operation that lost its connection before its
    ``COMMIT`` was sent is run again on a fresh connection (nothing of it was kept); one
    that lost it while committing raises a :class:`~carekit.StoreError` saying the outcome is
    unknown (appending again is safe for events with ids). The pool reconnects by itself. An
    operation that finds every pooled connection busy for ``pool_timeout`` seconds raises a
    :class:`~carekit.StoreError` instead of waiting for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import math
import re
import threading
import time
import urllib.parse
from collections.abc import Collection, Generator, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from carekit import _validate
from carekit.errors import CareKitError, StoreError, UnknownJourney
from carekit.journeys.stores._pgsans import COMMIT, Op, Round, Stmt, Tx, opening
from carekit.journeys.stores._postgres_core import CHUNK, LIST_CHUNK, LIST_PAGES, Core
from carekit.journeys.stores._postgres_schema import check_schema_name, migrate
from carekit.journeys.stores._shared import (
    DefinitionsArg,
    check_filters,
    check_journey_id,
    notify,
)
from carekit.journeys.stores.protocol import (
    AttemptOutcome,
    ClaimedTouchpoint,
    Fired,
    JourneySummary,
    OutboxEntry,
    OutboxStatus,
    SentKey,
)
from carekit.journeys.stores.urls import query_items, redact

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

    from carekit.journeys import Event, Journey, JourneyDefinition
    from carekit.plugins import CareKit

__all__ = ["AsyncPostgresJourneyStore", "PostgresJourneyStore", "split_schema"]

_log = logging.getLogger("carekit.journeys")

T = TypeVar("T")

#: How many times an operation runs when it meets a deadlock or a lost connection.
_TRIES = 4
#: SQLSTATEs after which the transaction was rolled back and may simply be run again.
_TRANSIENT = frozenset({"40P01", "40001"})
#: SQLSTATEs of a server shutting down or gone (the connection is lost).
_GONE = ("08", "57P01", "57P02", "57P03")
#: The most connections a pool may hold (PostgreSQL allows 100 by default).
_MAX_POOL = 1000


def split_schema(url: str) -> tuple[str, str | None]:
    """Split a ``?schema=`` parameter off a PostgreSQL URL: ``(dsn for psycopg, schema)``.

    ``postgres://`` and ``postgresql+driver://`` are read as ``postgresql://``; every other
    query parameter stays in the DSN for libpq.

    Examples:
        >>> split_schema("postgresql://shop@db:5432/orders?schema=care&sslmode=require")
        ('postgresql://shop@db:5432/orders?sslmode=require', 'care')
        >>> split_schema("postgres://db/orders")
        ('postgresql://db/orders', None)

    Raises:
        CareKitError: ``url`` is not a string, or names the schema twice.
    """
    if not isinstance(url, str):
        msg = f"url must be a postgresql:// URL (got {url!r})"
        raise CareKitError(msg)
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:  # such as an unclosed "[" of an IPv6 host
        msg = f"{redact(url)!r} is not a valid PostgreSQL URL: {exc}"
        raise CareKitError(msg) from None
    scheme = parts.scheme.lower()
    if scheme in ("postgres",) or scheme.startswith("postgresql+"):
        scheme = "postgresql"
    # The other parameters go to libpq exactly as written: libpq decodes %XX but not "+",
    # so decoding and encoding them again would turn "options=-c%20..." into "-c+...".
    items = query_items(parts.query)
    schemas = [urllib.parse.unquote(value) for key, value, _ in items if key == "schema"]
    if len(schemas) > 1:
        msg = f"a PostgreSQL URL names its schema once (got {redact(url)!r})"
        raise CareKitError(msg)
    rest = "&".join(item for key, _, item in items if key != "schema")
    dsn = urllib.parse.urlunsplit(parts._replace(scheme=scheme, query=rest))
    return dsn, (schemas[0] if schemas else None)


_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def _redacted(dsn: str) -> str:
    """``dsn`` (a URL or ``key=value`` pairs) without its password."""
    if "://" in dsn:
        return redact(dsn)
    return _PASSWORD.sub(r"\1***", dsn)


def _import(label: str) -> tuple[Any, Any]:
    """``(psycopg, psycopg_pool)``, or one clear error saying what to install."""
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:
        missing = exc.name or "psycopg"
        msg = (
            f"PostgreSQL journey store {label!r} needs psycopg 3 and psycopg_pool, and "
            f"{missing!r} is not installed: pip install 'carekit[postgres]'"
        )
        raise CareKitError(msg) from None
    return psycopg, psycopg_pool


#: What a server says while it cannot take connections for a moment (a restart, a failover).
_RESTARTING = (
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "the database system is not accepting connections",
)


class _Unreachable(StoreError):
    """A PostgreSQL store could not connect; ``transient``: the server may soon answer."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class _Settings:
    """A PostgreSQL store's checked options (shared by the blocking and asyncio stores)."""

    def __init__(
        self,
        dsn: object,
        schema: object,
        pool_size: object,
        pool_timeout: object,
        connect_timeout: object,
        synchronous_commit: object,
        notify_interval: object,
        prepare_threshold: object,
    ) -> None:
        if not isinstance(dsn, str) or not dsn.strip():
            msg = (
                "dsn must be a PostgreSQL connection string such as "
                f"'postgresql://user@host:5432/dbname' (got {dsn!r})"
            )
            raise CareKitError(msg)
        self.label = _redacted(dsn)
        self.schema = check_schema_name(schema)
        self.pool_size = _validate.positive_int("pool_size", pool_size)
        if self.pool_size > _MAX_POOL:
            msg = f"pool_size must be at most {_MAX_POOL} connections (got {pool_size!r})"
            raise CareKitError(msg)
        self.pool_timeout = _positive_seconds("pool_timeout", pool_timeout)
        self.connect_timeout = _positive_seconds("connect_timeout", connect_timeout)
        if not isinstance(synchronous_commit, bool):
            msg = f"synchronous_commit must be True or False (got {synchronous_commit!r})"
            raise CareKitError(msg)
        self.synchronous_commit = synchronous_commit
        self.notify_interval = (
            None if notify_interval is None
            else _positive_seconds("notify_interval", notify_interval)
        )
        if prepare_threshold is not None:
            _validate.positive_int("prepare_threshold", prepare_threshold, minimum=0)
        self.prepare_threshold = prepare_threshold
        self.psycopg, self.pool_module = _import(self.label)
        psycopg = self.psycopg
        try:
            given = psycopg.conninfo.conninfo_to_dict(dsn)
            extra: dict[str, Any] = {"fallback_application_name": "carekit"}
            if "connect_timeout" not in given:
                # libpq counts whole seconds and treats less than 2 as 2.
                extra["connect_timeout"] = max(2, math.ceil(self.connect_timeout))
            self.conninfo: str = psycopg.conninfo.make_conninfo(dsn, **extra)
        except psycopg.Error as exc:
            msg = f"{self.label!r} is not a valid PostgreSQL DSN: {self.reason(exc)}"
            raise StoreError(msg) from None
        self.password = str(given.get("password") or "")
        digest = hashlib.blake2b(self.schema.encode(), digest_size=8).hexdigest()
        #: The LISTEN/NOTIFY channel of this schema's stores (per database).
        self.channel = f"carekit_{digest}"

    def reason(self, exc: BaseException) -> str:
        """An error's text on one line, never showing the password."""
        text = " ".join(str(exc).split())[:400]
        if getattr(self, "password", ""):
            text = text.replace(self.password, "***")
        return text

    def unreachable(self, exc: BaseException) -> StoreError:
        """The error for a server that cannot be connected to.

        Its ``transient`` attribute says whether the server did not answer, or answered
        that it is starting or stopping (worth trying again: a restart), rather than
        refusing the login or the database name (a mistake in the URL).
        """
        reason = self.reason(exc)
        msg = (
            f"cannot connect to PostgreSQL journey store {self.label!r}: {reason}; "
            "check that the server runs and the URL's host, port, user, password and "
            "database name"
        )
        return _Unreachable(msg, transient="FATAL" not in reason or any(
            words in reason for words in _RESTARTING
        ))

    def kwargs(self) -> dict[str, Any]:
        """What every connection is opened with."""
        return {"autocommit": True, "prepare_threshold": self.prepare_threshold}

    def session(self) -> str:
        """The settings every pooled connection starts with.

        The store's statements are prepared (psycopg does it after ``prepare_threshold``
        runs) and always have the same shape: a generic plan serves them all, where
        PostgreSQL's default would plan its bigger statements afresh on most runs (their
        arrays' lengths change). Writes skip the WAL flush when asked to.
        """
        sql = "SET plan_cache_mode = force_generic_plan"
        if not self.synchronous_commit:
            sql += "; SET synchronous_commit = off"
        return sql

    def configure(self, conn: Any) -> None:
        """Start a new pooled connection (see :meth:`session`)."""
        conn.execute(self.session())

    async def configure_async(self, conn: Any) -> None:
        """:meth:`configure` for an ``AsyncConnection``."""
        await conn.execute(self.session())


def _wait_seconds(timeout: object) -> float:
    secs = _validate.duration("timeout", timeout).total_seconds()
    if secs > 86_400:
        msg = f"timeout must be at most a day (got {timeout!r})"
        raise CareKitError(msg)
    return secs


def _positive_seconds(name: str, value: object) -> float:
    secs = _validate.positive_duration(name, value).total_seconds()
    if secs > 86_400:
        msg = f"{name} must be at most a day (got {value!r})"
        raise CareKitError(msg)
    return secs


class _Failed(Exception):
    """A driver error, classified: ``error`` to raise, ``retry`` whether to run again."""

    def __init__(self, error: Exception, *, retry: bool, lost: bool) -> None:
        super().__init__(error)
        self.error = error
        self.retry = retry
        self.lost = lost


def _failure(
    settings: _Settings, exc: BaseException, *, broken: bool, op: Op[Any], committing: bool
) -> _Failed:
    """Classify a psycopg error (or a text that cannot be encoded) met running ``op``."""
    psycopg = settings.psycopg
    label, doing = settings.label, op.doing
    if isinstance(exc, UnicodeEncodeError):
        bad = exc.object[exc.start : exc.end] if isinstance(exc.object, str) else ""
        msg = (
            f"a PostgreSQL journey store holds only valid Unicode text; {bad!r} (a lone "
            f"surrogate) cannot be stored or looked up (while {doing})"
        )
        return _Failed(CareKitError(msg), retry=False, lost=False)
    sqlstate = getattr(exc, "sqlstate", None) or ""
    if isinstance(exc, psycopg.DataError) and "NUL" in str(exc):
        msg = (
            "a PostgreSQL journey store holds only text without NUL characters ('\\x00'); "
            f"remove them from ids and names (while {doing})"
        )
        return _Failed(CareKitError(msg), retry=False, lost=False)
    lost = broken or (
        isinstance(exc, psycopg.OperationalError)
        and (not sqlstate or sqlstate.startswith(_GONE))
    )
    reason = settings.reason(exc)
    if lost:
        if committing and not op.idempotent and op.mode != "read":
            msg = (
                f"PostgreSQL journey store {label!r} lost its connection while committing "
                f"({doing}): the write may or may not have been kept ({reason}); retry it "
                "(events with ids are applied once)"
            )
            return _Failed(StoreError(msg), retry=False, lost=True)
        msg = (
            f"PostgreSQL journey store {label!r} lost its connection while {doing} "
            f"({reason}); nothing was written: retry it"
        )
        return _Failed(StoreError(msg), retry=True, lost=True)
    if sqlstate in _TRANSIENT:
        msg = f"PostgreSQL journey store {label!r} kept meeting conflicts while {doing} ({reason})"
        return _Failed(StoreError(msg), retry=True, lost=False)
    if sqlstate == "57014":
        msg = (
            f"PostgreSQL journey store {label!r}: a statement was cancelled or timed out "
            f"while {doing} ({reason}); nothing was written"
        )
        return _Failed(StoreError(msg), retry=False, lost=False)
    if sqlstate in ("3F000", "42P01"):
        msg = (
            f"PostgreSQL journey store {label!r}: its tables are gone while {doing} "
            f"({reason}); was schema {settings.schema!r} dropped? Open the store again to "
            "create them"
        )
        return _Failed(StoreError(msg), retry=False, lost=False)
    msg = f"PostgreSQL journey store {label!r} failed while {doing}: {reason}"
    return _Failed(StoreError(msg), retry=False, lost=False)


def _closed_error(label: str) -> StoreError:
    msg = f"journey store {label!r} is closed"
    return StoreError(msg)


def _returns_rows(cursor: Any) -> bool:
    # cursor.description would build a Column per field: the result's field count will do.
    result = cursor.pgresult
    return result is not None and result.nfields > 0


def _results(cursors: Sequence[Any]) -> list[Any]:
    return [c.fetchall() if _returns_rows(c) else c.rowcount for c in cursors]


# -- the blocking driver ------------------------------------------------------------------


#: The attribute holding a pooled connection's reused cursor (see ``_execute``).
_CURSOR = "_carekit_cursor"
#: Results longer than this are not kept alive by a reused cursor (see ``_execute``).
_KEPT_ROWS = 256


def _execute(conn: psycopg.Connection[Any], statements: Sequence[Stmt]) -> list[Any]:
    if len(statements) == 1:
        # One statement (a worker's record, every claim) runs on a cursor kept with its
        # connection: making a cursor per statement costs as much processor time as
        # sending it. A long result is not kept alive by the cursor until the next one.
        s = statements[0]
        cursor = getattr(conn, _CURSOR, None)
        if cursor is None or cursor.closed:
            cursor = conn.cursor()
            setattr(conn, _CURSOR, cursor)
        cursor.execute(s.sql, s.params)
        if not _returns_rows(cursor):
            return [cursor.rowcount]
        rows = cursor.fetchall()
        if len(rows) > _KEPT_ROWS:
            setattr(conn, _CURSOR, None)
            cursor.close()
        return [rows]
    with conn.pipeline():
        cursors = [conn.execute(s.sql, s.params) for s in statements]
    return _results(cursors)


def _drive(settings: _Settings, conn: psycopg.Connection[Any], op: Op[T], tx: Tx) -> T:
    """Run ``op`` on ``conn`` (see ``_pgsans``); errors come out as :class:`_Failed`."""
    psycopg = settings.psycopg
    gen = op.start(tx)
    before = opening(op)
    committing = False
    # Statements a round sent ahead (see ``Round.ahead``): in flight on a pipeline that
    # stays open until the operation ends (made only then: a worker's record is hot).
    pipeline: contextlib.ExitStack | None = None
    piped: Any = None  # the open pipeline
    pending: list[Any] = []
    try:
        try:
            step = next(gen)
            while True:
                closing = (COMMIT,) if step.commit and op.mode != "auto" else ()
                mine: list[Any] = []
                if pending:  # an earlier round's statements sent ahead: wait for them
                    piped.sync()
                    mine, pending = _results(pending), []
                if before or closing:
                    sent = (*before, *step.statements, *closing)
                    committing = op.writes or any(s.sql == "COMMIT" for s in sent)
                    results = (_execute(conn, sent) if piped is None
                               else _on_pipeline(conn, piped, sent))
                    mine += results[len(before) : len(before) + len(step.statements)]
                    before = ()
                elif step.statements:  # an "auto" operation's round (a worker's record)
                    committing = op.writes or any(s.sql == "COMMIT" for s in step.statements)
                    mine += (_execute(conn, step.statements) if piped is None
                             else _on_pipeline(conn, piped, step.statements))
                if step.ahead:
                    if piped is None:
                        pipeline = contextlib.ExitStack()
                        piped = pipeline.enter_context(conn.pipeline())
                    for s in step.ahead:
                        cursor = conn.cursor()
                        cursor.execute(s.sql, s.params)
                        pending.append(cursor)
                step = gen.send(mine)
        except StopIteration as stop:
            value: T = stop.value
        if pipeline is not None:
            pipeline.close()
        if conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
            committing = True
            conn.execute("COMMIT")
        return value
    except (psycopg.Error, UnicodeEncodeError) as exc:
        _leave(settings, pipeline)
        _rollback(settings, conn)
        raise _failure(settings, exc, broken=conn.broken, op=op, committing=committing) from exc
    except BaseException:
        _leave(settings, pipeline)
        _rollback(settings, conn)
        raise
    finally:
        gen.close()


def _on_pipeline(conn: psycopg.Connection[Any], pipeline: Any,
                 statements: Sequence[Stmt]) -> list[Any]:
    """Run ``statements`` while a pipeline is open: results come once it is synced."""
    cursors = [conn.execute(s.sql, s.params) for s in statements]
    pipeline.sync()
    return _results(cursors)


def _leave(settings: _Settings, pipeline: contextlib.ExitStack | None) -> None:
    """Close an operation's pipeline after an error (what it reports then is moot)."""
    if pipeline is not None:
        with contextlib.suppress(settings.psycopg.Error):
            pipeline.close()


def _rollback(settings: _Settings, conn: psycopg.Connection[Any]) -> None:
    status = settings.psycopg.pq.TransactionStatus
    if conn.broken or conn.info.transaction_status not in (status.INTRANS, status.INERROR):
        return
    with contextlib.suppress(settings.psycopg.Error):
        conn.execute("ROLLBACK")


class PostgresJourneyStore:
    """Journeys in a PostgreSQL database, shared by any number of processes and hosts.

    Args:
        dsn: the database, as a libpq URL (``postgresql://user:password@host:5432/dbname``)
            or ``key=value`` string. Its password never appears in messages.
        schema: the PostgreSQL schema holding the store's tables (created on first use).
            Stores with different schemas in one database do not see each other.
        definitions: the journey definitions to know by name besides the built-ins (as
            for :class:`~carekit.journeys.SQLiteJourneyStore`).
        pool_size: the most connections the store opens at once (the pool keeps one open
            when idle). Threads sharing the store share them.
        pool_timeout: seconds an operation waits for a free connection (or for the server
            to come back) before raising :class:`~carekit.StoreError`.
        connect_timeout: seconds to wait for the server when connecting.
        synchronous_commit: ``True`` (default): a write returns once it is on disk.
            ``False``: it returns before the WAL flush (several times faster on slow disks);
            a crash of the server may then lose the last fraction of a second of writes,
            never leave them half done. Claims and delivery outcomes never wait for the
            flush: losing one in a crash costs what a worker crash costs (the touchpoint is
            re-sent with the same idempotency key).
        notify_interval: the shortest time between two wake-up notifications this store
            sends (``None``: never send any; workers then only poll).
        prepare_threshold: after how many runs psycopg prepares a statement on the server
            (``None``: never, for PgBouncer in transaction mode before version 1.21).

    Raises:
        CareKitError: a bad argument; psycopg is not installed.
        StoreError: the DSN is not valid, the server cannot be reached or refuses the
            login, the database does not exist, the schema belongs to another application
            or was written by a newer carekit.

    Examples::

        store = PostgresJourneyStore("postgresql://shop@db.internal:5432/orders",
                                     schema="care", pool_size=20)
        store.create("order", "order-1", at=now, channel="email")
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "carekit",
        definitions: DefinitionsArg = None,
        pool_size: int = 10,
        pool_timeout: float | dt.timedelta = 10.0,
        connect_timeout: float | dt.timedelta = 10.0,
        synchronous_commit: bool = True,
        notify_interval: float | dt.timedelta | None = 0.05,
        prepare_threshold: int | None = 5,
    ) -> None:
        self._closed = True
        settings = _Settings(dsn, schema, pool_size, pool_timeout, connect_timeout,
                             synchronous_commit, notify_interval, prepare_threshold)
        self._settings = settings
        self._core = Core(settings.schema, settings.label, definitions)
        driver = settings.psycopg
        try:
            conn = driver.connect(settings.conninfo, **settings.kwargs())
        except driver.Error as exc:
            raise settings.unreachable(exc) from None
        try:
            self._migrated = _drive(settings, conn, _migration(settings), Tx())
        except _Failed as failed:
            if failed.lost:  # the server went away while the tables were checked
                raise _Unreachable(str(failed.error), transient=True) from failed.__cause__
            raise failed.error from failed.__cause__
        finally:
            conn.close()
        self._pool = settings.pool_module.ConnectionPool(
            settings.conninfo,
            min_size=1,
            max_size=settings.pool_size,
            timeout=settings.pool_timeout,
            open=False,
            kwargs=settings.kwargs(),
            configure=settings.configure,
            name=f"carekit-{settings.schema}",
        )
        try:
            self._pool.open(wait=True, timeout=settings.connect_timeout)
        except settings.pool_module.PoolTimeout as exc:
            self._pool.close()
            raise settings.unreachable(exc) from None
        self._closed = False
        self._pins = threading.local()  # see _pinned
        self._close_lock = threading.Lock()
        self._closing = threading.Event()
        self._wanted = threading.Event()
        self._notifier: threading.Thread | None = None
        self._listen_lock = threading.Lock()
        self._listener: psycopg.Connection[Any] | None = None

    # -- properties and lifecycle -------------------------------------------------------

    @property
    def url(self) -> str:
        """The database's DSN without its password."""
        return self._settings.label

    @property
    def schema(self) -> str:
        """The PostgreSQL schema holding the store's tables."""
        return self._settings.schema

    @property
    def pool_size(self) -> int:
        """The most connections the store opens at once."""
        return self._settings.pool_size

    @property
    def channel(self) -> str:
        """The LISTEN/NOTIFY channel its wake-ups travel on (one per schema and database).

        Another application may wake the workers too: ``SELECT pg_notify(channel, '')``.
        """
        return self._settings.channel

    @property
    def schema_version(self) -> int:
        """The schema version of the store's tables."""
        version: int = self._run(self._core.schema_version_op())
        return version

    def close(self) -> None:
        """Close the pool and the listening connection (idempotent)."""
        if self._closed:
            return
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._closing.set()
        self._wanted.set()
        if self._notifier is not None:
            self._notifier.join(timeout=5)
        if self._listen_lock.acquire(timeout=5):
            try:
                if self._listener is not None:
                    self._listener.close()
                    self._listener = None
            finally:
                self._listen_lock.release()
        self._pool.close()

    def __enter__(self) -> PostgresJourneyStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"PostgresJourneyStore({self.url!r}, schema={self.schema!r}, {state})"

    def __contains__(self, journey_id: object) -> bool:
        if not isinstance(journey_id, str):
            return False
        found = self._run(self._core.scalar_op(
            "SELECT 1 FROM {s}.journeys WHERE journey_id = %s", (journey_id,),
            "looking up a journey",
        ))
        return found is not None

    def __len__(self) -> int:
        count: int = self._run(self._core.scalar_op(
            "SELECT count(*) FROM {s}.journeys", None, "counting journeys"
        ))
        return count

    # -- the driver ---------------------------------------------------------------------

    def _run(self, op: Op[T]) -> T:
        settings = self._settings
        pool_errors = settings.pool_module
        pin = self._pins.__dict__  # this thread's pinned connection, if it holds one
        for attempt in range(1, _TRIES + 1):
            if self._closed:
                raise _closed_error(self.url)
            conn = pin.get("conn")
            if conn is None:
                try:
                    conn = self._pool.getconn(timeout=settings.pool_timeout)
                except pool_errors.PoolTimeout:
                    raise StoreError(_pool_message(self._pool, settings, op.doing)) from None
                except pool_errors.PoolClosed:
                    raise _closed_error(self.url) from None
                if "conn" in pin:  # pinning: keep it until the pin ends
                    pin["conn"] = conn
            tx = Tx()
            try:
                value = _drive(settings, conn, op, tx)
            except _Failed as failed:
                self._give_back(conn)
                if "conn" in pin:
                    pin["conn"] = None  # the next attempt takes a fresh one
                if not failed.retry or attempt == _TRIES:
                    raise failed.error from failed.__cause__
                _log.info("PostgreSQL journey store %r: %s; trying again", self.url, failed.error)
                if failed.lost:  # the server restarted: drop every broken connection
                    with contextlib.suppress(pool_errors.PoolClosed):
                        self._pool.check()
                else:
                    time.sleep(0.01 * attempt)
                continue
            except BaseException:
                self._give_back(conn)
                if "conn" in pin:
                    pin["conn"] = None
                raise
            if "conn" not in pin:
                self._give_back(conn)
            self._core.committed(tx)
            if tx.wake:
                self._wake()
            return value
        raise AssertionError  # pragma: no cover - the loop returns or raises

    def _give_back(self, conn: Any) -> None:
        with contextlib.suppress(self._settings.pool_module.PoolClosed):
            self._pool.putconn(conn)

    @contextlib.contextmanager
    def _pinned(self) -> Iterator[None]:
        """Run this thread's operations on one pooled connection until the block ends.

        A worker pins one for a batch (its claim and a record per delivery): taking a
        connection from the pool and giving it back around each statement costs about as
        much processor time as the statement. Other threads share the rest of the pool
        (a pool of one connection is never pinned); a connection that fails is given
        back and the next operation takes another.
        """
        pin = self._pins.__dict__
        if "conn" in pin or self._settings.pool_size < 2:
            # Already pinned (nested: the outer block gives it back), or a pool of one,
            # whose connection a plugin's thread may need meanwhile (its sent keys).
            yield
            return
        pin["conn"] = None
        try:
            yield
        finally:
            conn = pin.pop("conn", None)
            if conn is not None:
                self._give_back(conn)

    def _flow(self, flow: Generator[Op[Any], Any, T]) -> T:
        """Run a flow: operations one after another, each in its own transaction."""
        try:
            op = next(flow)
            while True:
                op = flow.send(self._run(op))
        except StopIteration as stop:
            value: T = stop.value
            return value

    # -- waking workers -----------------------------------------------------------------

    def _wake(self) -> None:
        """Have the notifier thread send one notification soon (see the module docs)."""
        if self._settings.notify_interval is None:
            return
        self._wanted.set()
        if self._notifier is None:
            with self._close_lock:
                if self._notifier is None and not self._closed:
                    self._notifier = threading.Thread(
                        target=self._notify_loop, name="carekit-notify", daemon=True
                    )
                    self._notifier.start()

    def _notify_loop(self) -> None:
        interval = self._settings.notify_interval or 0.05
        while True:
            self._wanted.wait()
            if self._closing.is_set():
                return
            self._wanted.clear()
            try:
                with self._pool.connection(timeout=self._settings.pool_timeout) as conn:
                    conn.execute("SELECT pg_notify(%s, '')", (self._settings.channel,))
            except Exception as exc:  # a hint only: workers poll anyway
                _log.debug("PostgreSQL journey store %r could not notify: %s", self.url, exc)
            if self._closing.wait(interval):
                return

    def wait(self, timeout: float | dt.timedelta) -> bool:
        """Wait up to ``timeout`` for work to become due; return early when notified.

        A worker calls it instead of sleeping between passes: it returns ``True`` as soon
        as another process (or this one) stored something that may be sent at once, and
        ``False`` after ``timeout`` otherwise. Notifications can be missed, so callers
        keep polling (see the module docs); a server that cannot be reached makes it
        simply sleep.

        Args:
            timeout: the longest wait, in seconds or as a duration (at most a day).

        Returns:
            Whether a notification arrived.

        Raises:
            CareKitError: a negative or too long ``timeout``.
            StoreError: the store is closed.
        """
        secs = _wait_seconds(timeout)
        if self._closed:
            raise _closed_error(self.url)
        deadline = time.monotonic() + secs
        if not self._listen_lock.acquire(timeout=secs):
            return False  # another thread is listening for this store
        try:
            if self._closed:
                raise _closed_error(self.url)
            return self._listen(deadline)
        finally:
            self._listen_lock.release()

    def _listen(self, deadline: float) -> bool:
        psycopg = self._settings.psycopg
        try:
            if self._listener is None:
                conn = psycopg.connect(self._settings.conninfo, **self._settings.kwargs())
                conn.execute(f"LISTEN {self._settings.channel}")
                self._listener = conn
            left = max(0.0, deadline - time.monotonic())
            got = False
            for _ in self._listener.notifies(timeout=left, stop_after=1):
                got = True
            if got:  # one wake-up is enough: drop the others already queued
                for _ in self._listener.notifies(timeout=0.0):
                    pass
            return got
        except psycopg.Error as exc:
            _log.debug("PostgreSQL journey store %r: listening failed: %s", self.url, exc)
            if self._listener is not None:
                with contextlib.suppress(psycopg.Error):
                    self._listener.close()
                self._listener = None
            self._closing.wait(max(0.0, deadline - time.monotonic()))
            return False

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
            exist_ok: return the stored journey when one has this id already.

        Raises:
            StoreError: a journey with this id exists already (and ``exist_ok`` is false),
                or the store cannot be written.
            CareKitError: bad arguments (see ``JourneyDefinition.start``).
        """
        return self._flow(_create_flow(self._core, definition, journey_id, at=at,
                                       customer_id=customer_id, channel=channel, tz=tz,
                                       exist_ok=exist_ok))

    def create_many(self, journeys: Iterable[Journey], *, exist_ok: bool = False) -> int:
        """Store many freshly started journeys (version 0) in one transaction.

        Returns:
            How many journeys were stored.

        Raises:
            StoreError: one of the ids exists already (nothing is stored), unless
                ``exist_ok``.
            CareKitError: a journey is not at version 0 or is not a Journey.
        """
        return self._run(self._core.create_many_op(journeys, exist_ok=exist_ok))

    def append(
        self,
        journey_id: str,
        events: Event | Iterable[Event],
        *,
        expected_version: int | None = None,
        kit: CareKit | None = None,
    ) -> Journey:
        """Apply ``events`` and store them with the touchpoints and timers they set.

        The journey's row is locked for the transaction, so appends to one journey from
        any number of processes take turns; appends to different journeys do not wait
        for each other.

        Args:
            journey_id: the journey.
            events: one :class:`~carekit.journeys.Event` or several, applied in order.
            expected_version: the version the caller last saw; ``None`` skips the check.
            kit: let this :class:`~carekit.CareKit`'s plugins take part (recovery
                touchpoints, ``carekit_on_transition`` observers called once stored).

        Returns:
            The journey after the events.

        Raises:
            UnknownJourney: no journey has this id.
            ConcurrencyError: the stored journey is not at ``expected_version``.
            InvalidTransition: an event is not allowed; none of the batch is stored.
            StoreError: the store cannot be written.
        """
        journey, notices = self._run(self._core.append_op(
            journey_id, events, expected_version=expected_version, kit=kit
        ))
        notify(kit, notices)
        return journey

    # -- reading ------------------------------------------------------------------------

    def load(self, journey_id: str) -> Journey:
        """The journey as its stored state and outbox outcomes make it.

        Raises:
            UnknownJourney: no journey has this id.
            StoreError: the store cannot be read, the journey's definition is unknown, or
                its rows are damaged.
        """
        return self._flow(_load_flow(self._core, journey_id))

    def load_many(self, journey_ids: Iterable[str] | None = None) -> Iterator[Journey]:
        """Load several journeys, a thousand per query.

        Args:
            journey_ids: the journeys to load, in this order; ``None`` loads every journey
                (ordered by id).

        Raises:
            UnknownJourney: one of ``journey_ids`` does not exist (when it is reached).
            CareKitError: ``journey_ids`` is not None or an iterable of journey ids.
        """
        ids = self._core.check_ids(journey_ids)
        return self._load_chunks(ids)

    def _load_chunks(self, ids: list[str] | None) -> Iterator[Journey]:
        for chunk in self._chunks(ids):
            found = self._run(self._core.load_op(chunk, doing="loading journeys"))
            yield from _in_order(chunk, found)

    def _chunks(self, ids: list[str] | None) -> Iterator[list[str]]:
        if ids is not None:
            for start in range(0, len(ids), CHUNK):
                yield ids[start : start + CHUNK]
            return
        after = None
        while True:
            chunk = self._run(self._core.ids_after_op(after, CHUNK))
            if not chunk:
                return
            yield chunk
            after = chunk[-1]

    def journeys(
        self, *, definition: str | None = None, state: str | None = None
    ) -> Iterator[JourneySummary]:
        """The current state of every journey, read from the ``journeys`` table (no replay).

        Ten thousand journeys are read per query, in journey id order, and ten queries
        per transaction (one snapshot), each sent before the records of the one before
        are built, so the server finds the next page meanwhile; listing a million
        journeys holds at most a hundred thousand records at once.

        Args:
            definition: only journeys of this definition name.
            state: only journeys in this state.

        Raises:
            CareKitError: a filter that is not a string.
        """
        check_filters(definition=definition, state=state)
        return self._summaries(definition, state)

    def _summaries(self, definition: str | None, state: str | None) -> Iterator[JourneySummary]:
        after = None
        while True:
            rows = self._run(self._core.summaries_op(definition, state, after, LIST_CHUNK,
                                                      LIST_PAGES))
            yield from rows
            if len(rows) < LIST_CHUNK * LIST_PAGES:
                return
            after = rows[-1].journey_id

    def events(self, journey_id: str) -> list[Event]:
        """The stored events of one journey, in the order they were applied.

        Raises:
            UnknownJourney: no journey has this id.
            StoreError: an event row is damaged (it is named).
        """
        return self._run(self._core.events_op(journey_id))

    def outbox(
        self, journey_id: str | None = None, *, status: OutboxStatus | None = None
    ) -> list[OutboxEntry]:
        """The outbox entries, in the order they were owed.

        Raises:
            CareKitError: another ``status``, a ``journey_id`` that is not a string.
            StoreError: a row is damaged (it is named).
        """
        return self._run(self._core.outbox_op(journey_id, status))

    def outbox_counts(self) -> dict[str, int]:
        """How many outbox entries have each status, counted in SQL (no rows loaded)."""
        return self._run(self._core.outbox_counts_op())

    # -- the worker's side --------------------------------------------------------------

    def claim_due(
        self, *, now: dt.datetime, limit: int, lease: dt.timedelta, claimant: str
    ) -> list[ClaimedTouchpoint]:
        """Claim up to ``limit`` touchpoints that may be sent at ``now``, longest waiting first.

        One statement picks due rows with ``FOR UPDATE SKIP LOCKED`` and marks them
        claimed until the server's clock plus ``lease``: workers on any number of hosts get
        different touchpoints, and none waits for another. A row that cannot be read is
        dead-lettered with the reason instead of blocking the others.

        Raises:
            CareKitError: a naive ``now``, a ``limit`` outside [1, 1,000,000], a ``lease``
                that is not a positive duration, no claimant.
            StoreError: the store cannot be written.
        """
        return self._flow(_claim_flow(self._core, now=now, limit=limit, lease=lease,
                                      claimant=claimant))

    def record(
        self,
        outcomes: Sequence[AttemptOutcome],
        *,
        lease: dt.timedelta | None = None,
        claimant: str | None = None,
        holding: Collection[str] | None = None,
    ) -> frozenset[str]:
        """Record the outcome of claimed attempts, all in one transaction (one round trip).

        As :meth:`SQLiteJourneyStore.record <carekit.journeys.SQLiteJourneyStore.record>`.
        With ``lease`` and ``claimant``, every claim the claimant still holds is made to
        last ``lease`` from now on the server's clock; a claim that already has more than
        nine tenths of that left is left as it is, so recording after each delivery does
        not rewrite every claim of the batch. With ``holding``, only those keys are looked
        up (by key, in the same statement).

        Returns:
            The keys ``claimant`` still holds (empty without ``lease`` or ``holding``);
            with ``holding``, only those of ``holding``.

        Raises:
            CareKitError: ``outcomes`` holds something other than an ``AttemptOutcome``; a
                bad ``lease``; ``holding`` that is not a collection of keys, or without a
                ``claimant``.
            StoreError: the store cannot be written.
        """
        return self._run(self._core.record_op(outcomes, lease=lease, claimant=claimant,
                                              holding=holding))

    def fire_due(
        self, *, now: dt.datetime, limit: int, kit: CareKit | None = None, checks: Any = None
    ) -> list[Fired]:
        """Fire up to ``limit`` timers due at ``now``, in one transaction.

        See :meth:`carekit.journeys.JourneyStore.fire_due`. Timers and their journeys are
        locked with ``SKIP LOCKED``: workers firing at once split the timers between them,
        and a journey being appended to right now is left for the next pass.

        Raises:
            CareKitError: a naive ``now``, a ``limit`` outside [1, 1,000,000].
            StoreError: the store cannot be written.
        """
        fired, notices = self._run(self._core.fire_op(now=now, limit=limit, kit=kit,
                                                      checks=checks))
        notify(kit, notices)
        return fired

    def oldest_due(self, *, now: dt.datetime) -> dt.datetime | None:
        """When the longest-waiting claimable touchpoint or due timer became due.

        Raises:
            CareKitError: a naive ``now``.
        """
        return self._run(self._core.oldest_due_op(now))

    def remember_sent(
        self,
        idempotency_key: str,
        *,
        at: dt.datetime,
        channel: str | None = None,
        reference: str | None = None,
    ) -> bool:
        """Note durably that a channel plugin handed ``idempotency_key`` to its provider.

        Returns:
            ``True`` when the key was new, ``False`` when it was noted already (the first
            note is kept, ``INSERT … ON CONFLICT DO NOTHING``).

        Raises:
            CareKitError: an empty key, a naive ``at``, a non-string channel or reference.
            StoreError: the store cannot be written (after a connection lost while the
                note was being kept, whether it was is unknown).
        """
        return self._run(self._core.remember_sent_op(
            idempotency_key, at=at, channel=channel, reference=reference
        ))

    def sent_key(self, idempotency_key: str) -> SentKey | None:
        """The note :meth:`remember_sent` kept for ``idempotency_key``, or ``None``.

        Raises:
            StoreError: the store cannot be read.
        """
        return self._run(self._core.sent_key_op(idempotency_key))


def _migration(settings: _Settings) -> Op[tuple[int, int]]:
    from carekit import __version__

    def run(tx: Tx) -> Generator[Round, list[Any], tuple[int, int]]:
        return (yield from migrate(settings.schema, settings.label,
                                   applied_by=f"carekit {__version__}"))

    return Op("creating or migrating its tables", "auto", run)


def _pool_message(pool: Any, settings: _Settings, doing: str) -> str:
    stats = pool.get_stats()
    size, available = stats.get("pool_size", 0), stats.get("pool_available", 0)
    if size >= settings.pool_size and not available:
        return (
            f"PostgreSQL journey store {settings.label!r}: all {settings.pool_size} pooled "
            f"connections stayed busy for {settings.pool_timeout:g} s while {doing}; raise "
            "pool_size (the server's max_connections allowing) or pool_timeout, or look for "
            "a transaction holding a lock"
        )
    return (
        f"PostgreSQL journey store {settings.label!r} could not get a connection within "
        f"{settings.pool_timeout:g} s while {doing}: the server may be down or restarting "
        "(retry later)"
    )


def _in_order(chunk: list[str], found: dict[str, Journey]) -> Iterator[Journey]:
    for journey_id in chunk:
        if journey_id not in found:
            raise UnknownJourney(journey_id)
        yield found[journey_id]


# -- flows: several operations, shared by both stores ---------------------------------------


def _create_flow(
    core: Core,
    definition: JourneyDefinition | str,
    journey_id: str,
    *,
    at: dt.datetime,
    customer_id: str | None,
    channel: str | None,
    tz: str | None,
    exist_ok: bool,
) -> Generator[Op[Any], Any, Journey]:
    journey = core.start(definition, journey_id, at=at, customer_id=customer_id,
                         channel=channel, tz=tz)
    stored = yield core.create_many_op([journey], exist_ok=exist_ok)
    if stored == 0:
        return (yield from _load_flow(core, journey_id))
    return journey


def _load_flow(core: Core, journey_id: str) -> Generator[Op[Any], Any, Journey]:
    check_journey_id(journey_id)
    found = yield core.load_op([journey_id], doing="loading a journey")
    if journey_id not in found:
        raise UnknownJourney(journey_id)
    journey: Journey = found[journey_id]
    return journey


def _claim_flow(
    core: Core, *, now: dt.datetime, limit: int, lease: dt.timedelta, claimant: str
) -> Generator[Op[Any], Any, list[ClaimedTouchpoint]]:
    claimed, poison = yield core.claim_op(now=now, limit=limit, lease=lease, claimant=claimant)
    if poison:
        for key, reason in poison:
            _log.error("journey store %r: dead-lettering outbox row %r: %s",
                       core.label, key, reason)
        yield core.dead_letter_op(poison, now)
    result: list[ClaimedTouchpoint] = claimed
    return result


# -- the asyncio driver -------------------------------------------------------------------


async def _execute_async(
    conn: psycopg.AsyncConnection[Any], statements: Sequence[Stmt]
) -> list[Any]:
    if len(statements) == 1:  # on a reused cursor, as in ``_execute``
        s = statements[0]
        cursor = getattr(conn, _CURSOR, None)
        if cursor is None or cursor.closed:
            cursor = conn.cursor()
            setattr(conn, _CURSOR, cursor)
        await cursor.execute(s.sql, s.params)
        if not _returns_rows(cursor):
            return [cursor.rowcount]
        rows = await cursor.fetchall()
        if len(rows) > _KEPT_ROWS:
            setattr(conn, _CURSOR, None)
            await cursor.close()
        return [rows]
    async with conn.pipeline():
        cursors = [await conn.execute(s.sql, s.params) for s in statements]
    return [
        await c.fetchall() if _returns_rows(c) else c.rowcount for c in cursors
    ]


async def _drive_async(
    settings: _Settings, conn: psycopg.AsyncConnection[Any], op: Op[T], tx: Tx
) -> T:
    """:func:`_drive` for an ``AsyncConnection``."""
    psycopg = settings.psycopg
    gen = op.start(tx)
    before = opening(op)
    committing = False
    carried: tuple[Stmt, ...] = ()  # a round's statements sent ahead: go with the next
    try:
        try:
            step = next(gen)
            while True:
                closing = (COMMIT,) if step.commit and op.mode != "auto" else ()
                sent = (*before, *carried, *step.statements, *closing)
                committing = op.writes or any(s.sql == "COMMIT" for s in sent)
                results = await _execute_async(conn, sent) if sent else []
                mine = results[len(before) : len(before) + len(carried) + len(step.statements)]
                before, carried = (), step.ahead
                step = gen.send(mine)
        except StopIteration as stop:
            value: T = stop.value
        if conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
            committing = True
            await conn.execute("COMMIT")
        return value
    except (psycopg.Error, UnicodeEncodeError) as exc:
        await _rollback_async(settings, conn)
        raise _failure(settings, exc, broken=conn.broken, op=op, committing=committing) from exc
    except BaseException:
        await _rollback_async(settings, conn)
        raise
    finally:
        gen.close()


async def _rollback_async(settings: _Settings, conn: psycopg.AsyncConnection[Any]) -> None:
    status = settings.psycopg.pq.TransactionStatus
    if conn.broken or conn.info.transaction_status not in (status.INTRANS, status.INERROR):
        return
    with contextlib.suppress(settings.psycopg.Error):
        await conn.execute("ROLLBACK")


class AsyncPostgresJourneyStore:
    """:class:`PostgresJourneyStore` for asyncio: the same methods, as coroutines.

    Every method of the blocking store is here with the same name, arguments and result,
    to be awaited (``await store.append(...)``); ``journeys()`` and ``load_many()`` return
    lists. The SQL and the logic are the blocking store's (see the module docs), sent on
    psycopg's ``AsyncConnection`` from a ``psycopg_pool.AsyncConnectionPool``.

    Making the store connects nothing: it opens on first use, or with ``await
    store.open()`` (which reports a wrong DSN or an unreachable server at once), or
    ``async with AsyncPostgresJourneyStore(...) as store``. Use it from one event loop.

    Args:
        dsn: as for :class:`PostgresJourneyStore`, and every other argument too.

    Raises:
        CareKitError: a bad argument; psycopg is not installed.

    Examples::

        async with AsyncPostgresJourneyStore("postgresql://shop@db/orders") as store:
            journey = await store.create("order", "order-1", at=now, channel="email")
            journey = await store.append("order-1", Event("place", at=now, id="m-1"))
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "carekit",
        definitions: DefinitionsArg = None,
        pool_size: int = 10,
        pool_timeout: float | dt.timedelta = 10.0,
        connect_timeout: float | dt.timedelta = 10.0,
        synchronous_commit: bool = True,
        notify_interval: float | dt.timedelta | None = 0.05,
        prepare_threshold: int | None = 5,
    ) -> None:
        settings = _Settings(dsn, schema, pool_size, pool_timeout, connect_timeout,
                             synchronous_commit, notify_interval, prepare_threshold)
        self._settings = settings
        self._core = Core(settings.schema, settings.label, definitions)
        self._pool: psycopg_pool.AsyncConnectionPool[Any] | None = None
        self._opening = asyncio.Lock()
        self._closed = False
        self._wanted = asyncio.Event()
        self._notifier: asyncio.Task[None] | None = None
        self._listen_lock = asyncio.Lock()
        self._listener: psycopg.AsyncConnection[Any] | None = None

    @property
    def url(self) -> str:
        """The database's DSN without its password."""
        return self._settings.label

    @property
    def schema(self) -> str:
        """The PostgreSQL schema holding the store's tables."""
        return self._settings.schema

    @property
    def channel(self) -> str:
        """The LISTEN/NOTIFY channel its wake-ups travel on (see the blocking store's)."""
        return self._settings.channel

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("open" if self._pool is not None else "not open")
        return f"AsyncPostgresJourneyStore({self.url!r}, schema={self.schema!r}, {state})"

    async def open(self) -> AsyncPostgresJourneyStore:
        """Connect, create or migrate the tables, and open the pool (once; idempotent).

        Raises:
            StoreError: as :class:`PostgresJourneyStore`'s constructor does, or the store
                is closed.
        """
        if self._closed:
            raise _closed_error(self.url)
        if self._pool is not None:
            return self
        async with self._opening:
            if self._pool is not None:
                return self
            settings = self._settings
            psycopg = settings.psycopg
            try:
                conn = await psycopg.AsyncConnection.connect(
                    settings.conninfo, **settings.kwargs()
                )
            except psycopg.Error as exc:
                raise settings.unreachable(exc) from None
            try:
                await _drive_async(settings, conn, _migration(settings), Tx())
            except _Failed as failed:
                raise failed.error from failed.__cause__
            finally:
                await conn.close()
            pool = settings.pool_module.AsyncConnectionPool(
                settings.conninfo,
                min_size=1,
                max_size=settings.pool_size,
                timeout=settings.pool_timeout,
                open=False,
                kwargs=settings.kwargs(),
                configure=settings.configure_async,
                name=f"carekit-{settings.schema}",
            )
            try:
                await pool.open(wait=True, timeout=settings.connect_timeout)
            except settings.pool_module.PoolTimeout as exc:
                await pool.close()
                raise settings.unreachable(exc) from None
            self._pool = pool
        return self

    async def close(self) -> None:
        """Close the pool and the listening connection (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._notifier is not None:
            self._notifier.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._notifier
        async with self._listen_lock:
            if self._listener is not None:
                with contextlib.suppress(Exception):
                    await self._listener.close()
                self._listener = None
        if self._pool is not None:
            await self._pool.close()

    def __await__(self) -> Generator[Any, None, AsyncPostgresJourneyStore]:
        # `store = await aio.open_store(url)` opens it; using it without the await works too.
        return self.open().__await__()

    async def __aenter__(self) -> AsyncPostgresJourneyStore:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _run(self, op: Op[T]) -> T:
        settings = self._settings
        pool_errors = settings.pool_module
        if self._pool is None:
            await self.open()
        pool = self._pool
        assert pool is not None
        for attempt in range(1, _TRIES + 1):
            if self._closed:
                raise _closed_error(self.url)
            try:
                conn = await pool.getconn(timeout=settings.pool_timeout)
            except pool_errors.PoolTimeout:
                raise StoreError(_pool_message(pool, settings, op.doing)) from None
            except pool_errors.PoolClosed:
                raise _closed_error(self.url) from None
            tx = Tx()
            try:
                value = await _drive_async(settings, conn, op, tx)
            except _Failed as failed:
                await self._give_back(pool, conn)
                if not failed.retry or attempt == _TRIES:
                    raise failed.error from failed.__cause__
                _log.info("PostgreSQL journey store %r: %s; trying again", self.url, failed.error)
                if failed.lost:  # the server restarted: drop every broken connection
                    with contextlib.suppress(pool_errors.PoolClosed):
                        await pool.check()
                else:
                    await asyncio.sleep(0.01 * attempt)
                continue
            except BaseException:
                await self._give_back(pool, conn)
                raise
            await self._give_back(pool, conn)
            self._core.committed(tx)
            if tx.wake:
                self._wake()
            return value
        raise AssertionError  # pragma: no cover - the loop returns or raises

    async def _give_back(self, pool: Any, conn: Any) -> None:
        with contextlib.suppress(self._settings.pool_module.PoolClosed):
            await pool.putconn(conn)

    async def _flow(self, flow: Generator[Op[Any], Any, T]) -> T:
        try:
            op = next(flow)
            while True:
                op = flow.send(await self._run(op))
        except StopIteration as stop:
            value: T = stop.value
            return value

    # -- waking workers -----------------------------------------------------------------

    def _wake(self) -> None:
        if self._settings.notify_interval is None or self._closed:
            return
        self._wanted.set()
        if self._notifier is None or self._notifier.done():
            self._notifier = asyncio.get_running_loop().create_task(self._notify_loop())

    async def _notify_loop(self) -> None:
        interval = self._settings.notify_interval or 0.05
        while not self._closed:
            await self._wanted.wait()
            self._wanted.clear()
            pool = self._pool
            if pool is None:
                return
            try:
                async with pool.connection(timeout=self._settings.pool_timeout) as conn:
                    await conn.execute("SELECT pg_notify(%s, '')", (self._settings.channel,))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a hint only: workers poll anyway
                _log.debug("PostgreSQL journey store %r could not notify: %s", self.url, exc)
            await asyncio.sleep(interval)

    async def wait(self, timeout: float | dt.timedelta) -> bool:
        """Wait up to ``timeout`` for work to become due; see :meth:`PostgresJourneyStore.wait`.

        Raises:
            CareKitError: a negative or too long ``timeout``.
            StoreError: the store is closed.
        """
        secs = _wait_seconds(timeout)
        if self._closed:
            raise _closed_error(self.url)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + secs
        try:
            await asyncio.wait_for(self._listen_lock.acquire(), timeout=secs)
        except asyncio.TimeoutError:
            return False
        try:
            return await self._listen(deadline)
        finally:
            self._listen_lock.release()

    async def _listen(self, deadline: float) -> bool:
        psycopg = self._settings.psycopg
        loop = asyncio.get_running_loop()
        try:
            if self._listener is None:
                conn = await psycopg.AsyncConnection.connect(
                    self._settings.conninfo, **self._settings.kwargs()
                )
                await conn.execute(f"LISTEN {self._settings.channel}")
                self._listener = conn
            left = max(0.0, deadline - loop.time())
            got = False
            async for _ in self._listener.notifies(timeout=left, stop_after=1):
                got = True
            if got:
                async for _ in self._listener.notifies(timeout=0.0):
                    pass
            return got
        except psycopg.Error as exc:
            _log.debug("PostgreSQL journey store %r: listening failed: %s", self.url, exc)
            if self._listener is not None:
                with contextlib.suppress(Exception):
                    await self._listener.close()
                self._listener = None
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            return False

    # -- the store's methods, as coroutines ---------------------------------------------

    async def schema_version(self) -> int:
        """The schema version of the store's tables."""
        version: int = await self._run(self._core.schema_version_op())
        return version

    async def contains(self, journey_id: str) -> bool:
        """Whether a journey with this id is stored (``journey_id in store``)."""
        check_journey_id(journey_id)
        found = await self._run(self._core.scalar_op(
            "SELECT 1 FROM {s}.journeys WHERE journey_id = %s", (journey_id,),
            "looking up a journey",
        ))
        return found is not None

    async def count(self) -> int:
        """How many journeys are stored (``len(store)``)."""
        count: int = await self._run(self._core.scalar_op(
            "SELECT count(*) FROM {s}.journeys", None, "counting journeys"
        ))
        return count

    async def create(
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
        """See :meth:`PostgresJourneyStore.create`."""
        return await self._flow(_create_flow(self._core, definition, journey_id, at=at,
                                             customer_id=customer_id, channel=channel, tz=tz,
                                             exist_ok=exist_ok))

    async def create_many(self, journeys: Iterable[Journey], *, exist_ok: bool = False) -> int:
        """See :meth:`PostgresJourneyStore.create_many`."""
        return await self._run(self._core.create_many_op(journeys, exist_ok=exist_ok))

    async def append(
        self,
        journey_id: str,
        events: Event | Iterable[Event],
        *,
        expected_version: int | None = None,
        kit: CareKit | None = None,
    ) -> Journey:
        """See :meth:`PostgresJourneyStore.append`."""
        journey, notices = await self._run(self._core.append_op(
            journey_id, events, expected_version=expected_version, kit=kit
        ))
        notify(kit, notices)
        return journey

    async def load(self, journey_id: str) -> Journey:
        """See :meth:`PostgresJourneyStore.load`."""
        return await self._flow(_load_flow(self._core, journey_id))

    async def load_many(self, journey_ids: Iterable[str] | None = None) -> list[Journey]:
        """The journeys, as a list (see :meth:`PostgresJourneyStore.load_many`)."""
        ids = self._core.check_ids(journey_ids)
        loaded: list[Journey] = []
        if ids is not None:
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                found = await self._run(self._core.load_op(chunk, doing="loading journeys"))
                loaded.extend(_in_order(chunk, found))
            return loaded
        after = None
        while True:
            chunk = await self._run(self._core.ids_after_op(after, CHUNK))
            if not chunk:
                return loaded
            found = await self._run(self._core.load_op(chunk, doing="loading journeys"))
            loaded.extend(_in_order(chunk, found))
            after = chunk[-1]

    async def journeys(
        self, *, definition: str | None = None, state: str | None = None
    ) -> list[JourneySummary]:
        """The current state of every journey, as a list (see ``journeys``)."""
        check_filters(definition=definition, state=state)
        summaries: list[JourneySummary] = []
        after = None
        while True:
            rows = await self._run(self._core.summaries_op(definition, state, after, LIST_CHUNK))
            summaries.extend(rows)
            if len(rows) < LIST_CHUNK:
                return summaries
            after = rows[-1].journey_id

    async def events(self, journey_id: str) -> list[Event]:
        """See :meth:`PostgresJourneyStore.events`."""
        return await self._run(self._core.events_op(journey_id))

    async def outbox(
        self, journey_id: str | None = None, *, status: OutboxStatus | None = None
    ) -> list[OutboxEntry]:
        """See :meth:`PostgresJourneyStore.outbox`."""
        return await self._run(self._core.outbox_op(journey_id, status))

    async def outbox_counts(self) -> dict[str, int]:
        """See :meth:`PostgresJourneyStore.outbox_counts`."""
        return await self._run(self._core.outbox_counts_op())

    async def claim_due(
        self, *, now: dt.datetime, limit: int, lease: dt.timedelta, claimant: str
    ) -> list[ClaimedTouchpoint]:
        """See :meth:`PostgresJourneyStore.claim_due`."""
        return await self._flow(_claim_flow(self._core, now=now, limit=limit, lease=lease,
                                            claimant=claimant))

    async def record(
        self,
        outcomes: Sequence[AttemptOutcome],
        *,
        lease: dt.timedelta | None = None,
        claimant: str | None = None,
        holding: Collection[str] | None = None,
    ) -> frozenset[str]:
        """See :meth:`PostgresJourneyStore.record`."""
        return await self._run(self._core.record_op(outcomes, lease=lease, claimant=claimant,
                                                    holding=holding))

    async def fire_due(
        self, *, now: dt.datetime, limit: int, kit: CareKit | None = None, checks: Any = None
    ) -> list[Fired]:
        """See :meth:`PostgresJourneyStore.fire_due`."""
        fired, notices = await self._run(self._core.fire_op(now=now, limit=limit, kit=kit,
                                                            checks=checks))
        notify(kit, notices)
        return fired

    async def oldest_due(self, *, now: dt.datetime) -> dt.datetime | None:
        """See :meth:`PostgresJourneyStore.oldest_due`."""
        return await self._run(self._core.oldest_due_op(now))

    async def remember_sent(
        self,
        idempotency_key: str,
        *,
        at: dt.datetime,
        channel: str | None = None,
        reference: str | None = None,
    ) -> bool:
        """See :meth:`PostgresJourneyStore.remember_sent`."""
        return await self._run(self._core.remember_sent_op(
            idempotency_key, at=at, channel=channel, reference=reference
        ))

    async def sent_key(self, idempotency_key: str) -> SentKey | None:
        """See :meth:`PostgresJourneyStore.sent_key`."""
        return await self._run(self._core.sent_key_op(idempotency_key))
