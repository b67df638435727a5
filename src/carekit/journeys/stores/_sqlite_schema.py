"""The SQLite journey store's schema, its migrations and connection handling (private).

A carekit store is an ordinary SQLite database marked with :data:`APPLICATION_ID`
(``PRAGMA application_id``) and a schema version (``PRAGMA user_version``). Opening a file
checks both: an empty file is initialised, an older schema is migrated forward step by step
inside one write transaction, a newer schema or a database that belongs to another
application is refused with a :class:`~carekit.errors.StoreError`, and so is anything that
is not a SQLite database at all.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import sqlite3
from collections.abc import Iterator
from typing import Final, Literal

from carekit.errors import StoreError

__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Synchronous",
    "connect",
    "migrate",
    "translate",
    "write_transaction",
]

#: ``PRAGMA application_id`` of every carekit journey store: ASCII "CkJS".
APPLICATION_ID: Final = 0x436B4A53

Synchronous = Literal["FULL", "NORMAL"]

# Each entry takes the schema from version ``index`` to ``index + 1``. Never edit a
# migration that has shipped: add a new one, so a store written by any earlier carekit
# opens in this one.
MIGRATIONS: Final[tuple[str, ...]] = (
    # 0 -> 1: the event log, the current state of each journey and the outbox.
    """
    CREATE TABLE journeys (
        journey_id  TEXT PRIMARY KEY NOT NULL,
        definition  TEXT NOT NULL,
        customer_id TEXT,
        channel     TEXT,
        started_at  TEXT NOT NULL,
        state       TEXT NOT NULL,
        version     INTEGER NOT NULL,
        updated_at  TEXT NOT NULL,
        settled     INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX journeys_by_definition ON journeys (definition, state);
    CREATE TABLE events (
        journey_id TEXT NOT NULL REFERENCES journeys (journey_id),
        seq        INTEGER NOT NULL,
        event_id   TEXT,
        name       TEXT NOT NULL,
        at         TEXT NOT NULL,
        data       TEXT,
        PRIMARY KEY (journey_id, seq),
        UNIQUE (journey_id, event_id)
    ) WITHOUT ROWID;
    CREATE TABLE outbox (
        idempotency_key TEXT PRIMARY KEY NOT NULL,
        journey_id      TEXT NOT NULL REFERENCES journeys (journey_id),
        seq             INTEGER NOT NULL,
        name            TEXT NOT NULL,
        channel         TEXT,
        state           TEXT,
        due             TEXT,
        data            TEXT,
        owed_at         TEXT NOT NULL,
        status          TEXT NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'sent', 'dead', 'withdrawn')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_us INTEGER NOT NULL,
        claimed_by      TEXT,
        claim_until_us  INTEGER,
        last_error      TEXT,
        settled_at      TEXT,
        settled_seq     INTEGER,
        settled_no      INTEGER
    );
    CREATE INDEX outbox_by_journey ON outbox (journey_id);
    """,
    # 1 -> 2: keep the provider's message reference; find ready touchpoints by index.
    """
    ALTER TABLE outbox ADD COLUMN reference TEXT;
    CREATE INDEX outbox_ready ON outbox (next_attempt_us) WHERE status = 'pending';
    """,
    # 2 -> 3: snapshots, so loading a long journey replays only the events after the last one.
    """
    CREATE TABLE snapshots (
        journey_id TEXT PRIMARY KEY NOT NULL REFERENCES journeys (journey_id),
        version    INTEGER NOT NULL,
        format     TEXT NOT NULL,
        body       TEXT NOT NULL
    );
    """,
    # 3 -> 4: the runtime. Each journey row keeps its whole current state (body: friction
    # and running deadlines; NULL until carekit fills it from the events), so nothing is
    # replayed to append; the customer's zone; outbox statuses for failed and deferred
    # attempts and a not-before time; the timer index (running deadlines, promise checks);
    # the keys channel plugins have sent (durable dedupe). Snapshots are no longer needed.
    """
    ALTER TABLE journeys ADD COLUMN tz TEXT;
    ALTER TABLE journeys ADD COLUMN body TEXT;
    CREATE TABLE outbox_v4 (
        idempotency_key TEXT PRIMARY KEY NOT NULL,
        journey_id      TEXT NOT NULL REFERENCES journeys (journey_id),
        seq             INTEGER NOT NULL,
        name            TEXT NOT NULL,
        channel         TEXT,
        state           TEXT,
        due             TEXT,
        data            TEXT,
        owed_at         TEXT NOT NULL,
        not_before      TEXT,
        status          TEXT NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'failed', 'deferred', 'sent', 'dead',
                                          'withdrawn')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_us INTEGER NOT NULL,
        claimed_by      TEXT,
        claim_until_us  INTEGER,
        last_error      TEXT,
        settled_at      TEXT,
        settled_seq     INTEGER,
        settled_no      INTEGER,
        reference       TEXT
    );
    INSERT INTO outbox_v4 (idempotency_key, journey_id, seq, name, channel, state, due, data,
        owed_at, status, attempts, next_attempt_us, last_error, settled_at, settled_seq,
        settled_no, reference)
        SELECT idempotency_key, journey_id, seq, name, channel, state, due, data, owed_at,
        CASE WHEN status = 'pending' AND attempts > 0 THEN 'failed' ELSE status END,
        attempts, next_attempt_us, last_error, settled_at, settled_seq, settled_no, reference
        FROM outbox ORDER BY rowid;
    DROP TABLE outbox;
    ALTER TABLE outbox_v4 RENAME TO outbox;
    CREATE INDEX outbox_by_journey ON outbox (journey_id);
    CREATE INDEX outbox_ready ON outbox (next_attempt_us)
        WHERE status IN ('pending', 'failed', 'deferred');
    CREATE INDEX outbox_claims ON outbox (claimed_by) WHERE claimed_by IS NOT NULL;
    CREATE TABLE timers (
        journey_id TEXT NOT NULL REFERENCES journeys (journey_id),
        key        TEXT NOT NULL,
        kind       TEXT NOT NULL CHECK (kind IN ('deadline', 'promise')),
        due_us     INTEGER NOT NULL,
        payload    TEXT,
        PRIMARY KEY (journey_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX timers_due ON timers (due_us);
    CREATE TABLE sent_keys (
        idempotency_key TEXT PRIMARY KEY NOT NULL,
        channel         TEXT,
        reference       TEXT,
        sent_us         INTEGER NOT NULL
    ) WITHOUT ROWID;
    DROP TABLE snapshots;
    """,
    # 4 -> 5: what an append to a journey outside the cache would otherwise read beside its
    # row. ids: the journey's event ids, each written as a comma then its JSON string
    # (",\"e1\",\"e2\"", "" for none), kept while the journey has at most 24; owing: how
    # many of its outbox rows are still owed or dead-lettered. NULL (rows written before this
    # version, or a journey with more ids) means "not kept": the events and outbox are read.
    """
    ALTER TABLE journeys ADD COLUMN ids TEXT;
    ALTER TABLE journeys ADD COLUMN owing INTEGER;
    """,
)

#: The schema version this carekit writes.
SCHEMA_VERSION: Final = len(MIGRATIONS)


def translate(
    exc: sqlite3.Error, path: str, doing: str, *, read_only: bool = False
) -> StoreError:
    """A :class:`StoreError` that explains ``exc`` in the store's own words."""
    text = str(exc)
    lowered = text.lower()
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        msg = (
            f"journey store {path!r} is not a readable carekit store while {doing}: "
            f"the file is corrupt or is not a SQLite database ({text})"
        )
    elif ("readonly" in lowered or "read-only" in lowered) and read_only:
        msg = (
            f"journey store {path!r} cannot be read while {doing} ({text}); check that its "
            "folder and files may be read"
        )
    elif "readonly" in lowered or "read-only" in lowered:
        msg = (
            f"journey store {path!r} is read-only while {doing} ({text}); "
            "open a writable path, or pass read_only=True to only read it"
        )
    elif "unable to open" in lowered or "disk i/o" in lowered:
        msg = (
            f"cannot open journey store {path!r} while {doing} ({text}); "
            "check that the folder exists and is writable"
        )
    elif "locked" in lowered or "busy" in lowered:
        msg = (
            f"journey store {path!r} stayed locked by another writer while {doing} ({text}); "
            "raise busy_timeout or retry"
        )
    else:
        msg = f"journey store {path!r} failed while {doing}: {text}"
    error = StoreError(msg)
    error.__cause__ = exc
    return error


@contextlib.contextmanager
def translated(path: str, doing: str, *, read_only: bool = False) -> Iterator[None]:
    """Turn any :class:`sqlite3.Error` raised inside the block into a :class:`StoreError`."""
    try:
        yield
    except sqlite3.Error as exc:
        raise translate(exc, path, doing, read_only=read_only) from exc


@contextlib.contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``; roll back on any exception.

    ``BEGIN IMMEDIATE`` takes the write lock up front, so two processes never both read a
    journey's version and then both write (the loser waits up to ``busy_timeout``).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def connect(
    path: str | os.PathLike[str],
    *,
    synchronous: Synchronous = "FULL",
    busy_timeout: float = 10.0,
    read_only: bool = False,
) -> sqlite3.Connection:
    """Open (creating and migrating when needed) the carekit store at ``path``.

    Raises:
        StoreError: the file is corrupt, not a SQLite database, belongs to another
            application, was written by a newer carekit, or cannot be opened or written;
            the path holds a NUL character, is too long or cannot be encoded.
    """
    shown = os.fspath(path)
    if "\x00" in shown:
        msg = f"journey store path {shown!r} contains a NUL character; no file can be named so"
        raise StoreError(msg)
    try:
        return _connect(shown, synchronous, busy_timeout, read_only)
    except (OSError, UnicodeError) as exc:  # a name too long, a lone surrogate, …
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        msg = f"cannot open journey store {shown!r}: {reason}; check the path"
        raise StoreError(msg) from exc


def _connect(
    shown: str, synchronous: Synchronous, busy_timeout: float, read_only: bool
) -> sqlite3.Connection:
    file = pathlib.Path(shown)
    if file.is_dir():
        msg = f"journey store path {shown!r} is a folder; expected a database file"
        raise StoreError(msg)
    if read_only and not file.exists():
        msg = f"journey store {shown!r} does not exist (read_only=True never creates one)"
        raise StoreError(msg)
    if not read_only and not file.parent.is_dir():
        msg = f"cannot create journey store {shown!r}: folder {str(file.parent)!r} does not exist"
        raise StoreError(msg)
    if read_only:
        return _connect_read_only(file, shown, synchronous, busy_timeout)
    with translated(shown, "opening it"):
        conn = sqlite3.connect(
            shown, isolation_level=None, check_same_thread=False, timeout=busy_timeout
        )
    try:
        with translated(shown, "opening it"):
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            _check_identity(conn, shown)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                msg = f"journey store {shown!r} could not switch to WAL mode (got {mode!r})"
                raise StoreError(msg)
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn, shown)
    except BaseException:
        conn.close()
        raise
    return conn


def _connect_read_only(
    file: pathlib.Path, shown: str, synchronous: Synchronous, busy_timeout: float
) -> sqlite3.Connection:
    """Open the store without writing; in a folder nobody may write, if it was closed cleanly.

    Reading a WAL-mode database needs its shared-memory file (``-shm``), which SQLite
    creates beside it. Where that is impossible (a read-only mount, another user's folder)
    and no write-ahead log is left (the last writer closed cleanly), the file is opened as
    immutable: nothing else can be writing it there.
    """
    base = file.resolve().as_uri()
    try:
        return _open_read_only(base + "?mode=ro", shown, busy_timeout)
    except StoreError as exc:
        if not isinstance(exc.__cause__, sqlite3.Error) or not _cannot_share(exc.__cause__):
            raise
        wal = pathlib.Path(f"{file}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            msg = (
                f"journey store {shown!r} cannot be read here: its folder cannot be written "
                "(SQLite needs to create a -shm file beside it) and a write-ahead log "
                f"({wal.name}) is left, so a writer is using it or did not close cleanly; read "
                "it where the folder is writable, or after the writers have closed it"
            )
            raise StoreError(msg) from exc
    return _open_read_only(base + "?mode=ro&immutable=1", shown, busy_timeout)


def _cannot_share(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "readonly" in text or "read-only" in text or "unable to open" in text


def _open_read_only(uri: str, shown: str, busy_timeout: float) -> sqlite3.Connection:
    with translated(shown, "opening it", read_only=True):
        conn = sqlite3.connect(
            uri, uri=True, isolation_level=None, check_same_thread=False, timeout=busy_timeout
        )
    try:
        with translated(shown, "opening it", read_only=True):
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            _check_identity(conn, shown)
            conn.execute("PRAGMA foreign_keys = ON")
            _check_version(conn, shown, allow_older=False)
    except BaseException:
        conn.close()
        raise
    return conn


def _check_identity(conn: sqlite3.Connection, path: str) -> None:
    app = conn.execute("PRAGMA application_id").fetchone()[0]
    if app == APPLICATION_ID:
        return
    tables = conn.execute(
        "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'"
    ).fetchone()[0]
    if app != 0 or tables:
        msg = (
            f"{path!r} is a SQLite database of another application (application_id={app:#x}, "
            f"{tables} table(s)), not a carekit journey store; choose another path"
        )
        raise StoreError(msg)


def _check_version(conn: sqlite3.Connection, path: str, *, allow_older: bool) -> int:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        msg = (
            f"journey store {path!r} was written by a newer carekit (schema version {version}; "
            f"this carekit reads up to {SCHEMA_VERSION}); upgrade carekit to open it"
        )
        raise StoreError(msg)
    if version < SCHEMA_VERSION and not allow_older:
        msg = (
            f"journey store {path!r} has schema version {version}, older than "
            f"{SCHEMA_VERSION}; open it once without read_only=True to migrate it"
        )
        raise StoreError(msg)
    return version


def migrate(conn: sqlite3.Connection, path: str, *, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema up to ``target`` in one write transaction; return the old version."""
    if _check_version(conn, path, allow_older=True) >= target:
        return target
    with write_transaction(conn):
        # Re-read under the write lock: another process may have migrated meanwhile.
        _check_identity(conn, path)
        version = _check_version(conn, path, allow_older=True)
        start = version
        while version < target:
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            version += 1
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {version}")
    return start


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT the surrounding transaction; run statements one by one.
    return [s.strip() for s in script.split(";") if s.strip()]
