"""The PostgreSQL journey store's schema and its migrations (private).

A store lives in its own PostgreSQL schema (``carekit`` unless told otherwise), so several
stores share a database without seeing each other, and no table of the application's is
touched. The schema's ``schema_versions`` table lists every migration applied to it; a store
opening the schema reads the highest version and

* creates the schema and its tables when they are missing (version 0),
* migrates an older schema forward, step by step, in one transaction,
* refuses a newer schema (written by a newer carekit) with one clear
  :class:`~carekit.errors.StoreError`, and a schema that holds other tables but no version
  table (it belongs to someone else).

Several processes may open a new store at once: the check-and-migrate transaction holds a
transaction-scoped advisory lock derived from the schema's name, so exactly one of them
creates the tables and the others find them made. A schema already at the current version
is recognised by one catalog query, without the lock.

Instants compared in SQL (when a touchpoint may next be tried, when a claim or a timer is
due) are ``bigint`` microseconds since the Unix epoch; datetimes handed back to callers are
kept as text with their offset and zone (see ``_codec``), so they come back exactly as they
were given.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from typing import Any, Final

from carekit.errors import CareKitError, StoreError
from carekit.journeys.stores._pgsans import Round, Stmt

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "check_schema_name", "lock_key", "migrate", "quote"]

#: The longest identifier PostgreSQL keeps (NAMEDATALEN - 1 bytes).
MAX_IDENTIFIER = 63

# Each entry takes the schema from version ``index`` to ``index + 1``; ``{s}`` is the quoted
# schema. Never edit a migration that has shipped: add a new one, so a schema written by any
# earlier carekit opens in this one.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    # 0 -> 1: the event log, the kept current state, the outbox, the timer index and the
    # keys channel plugins have sent.
    (
        """
        CREATE TABLE {s}.schema_versions (
            version    integer PRIMARY KEY,
            applied_at timestamptz NOT NULL DEFAULT now(),
            applied_by text
        )
        """,
        # body: friction and running deadlines (JSON text); settled: how many outbox
        # outcomes the journey has seen (with version, it says whether a cached copy of the
        # journey is current).
        """
        CREATE TABLE {s}.journeys (
            journey_id  text PRIMARY KEY,
            definition  text NOT NULL,
            customer_id text,
            channel     text,
            tz          text,
            started_at  text NOT NULL,
            state       text NOT NULL,
            version     integer NOT NULL,
            updated_at  text NOT NULL,
            settled     integer NOT NULL DEFAULT 0,
            body        text NOT NULL
        ) WITH (fillfactor = 90)
        """,
        "CREATE INDEX journeys_by_definition ON {s}.journeys (definition, state)",
        """
        CREATE TABLE {s}.events (
            journey_id text NOT NULL REFERENCES {s}.journeys (journey_id),
            seq        integer NOT NULL,
            event_id   text,
            name       text NOT NULL,
            at         text NOT NULL,
            data       text,
            PRIMARY KEY (journey_id, seq),
            UNIQUE (journey_id, event_id)
        )
        """,
        # no: the order touchpoints were owed in (a journey's are written under its row
        # lock, so its own are in order; across journeys it is only roughly the order of
        # commits and is never read as a position to resume from).
        """
        CREATE TABLE {s}.outbox (
            no              bigint GENERATED ALWAYS AS IDENTITY,
            idempotency_key text PRIMARY KEY,
            journey_id      text NOT NULL REFERENCES {s}.journeys (journey_id),
            seq             integer NOT NULL,
            name            text NOT NULL,
            channel         text,
            state           text,
            due             text,
            data            text,
            owed_at         text NOT NULL,
            not_before      text,
            status          text NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'failed', 'deferred', 'sent', 'dead',
                                              'withdrawn')),
            attempts        integer NOT NULL DEFAULT 0,
            next_attempt_us bigint NOT NULL,
            claimed_by      text,
            claim_until_us  bigint,
            last_error      text,
            settled_at      text,
            settled_seq     integer,
            settled_no      integer,
            reference       text,
            -- Only a touchpoint that may still be sent can be claimed: settling,
            -- withdrawing, retrying or deferring one gives its claim up.
            CHECK (claimed_by IS NULL OR status IN ('pending', 'failed', 'deferred'))
        ) WITH (fillfactor = 80)
        """,
        "CREATE INDEX outbox_by_journey ON {s}.outbox (journey_id, no)",
        "CREATE INDEX outbox_ready ON {s}.outbox (next_attempt_us, no)"
        " WHERE status IN ('pending', 'failed', 'deferred')",
        "CREATE INDEX outbox_claims ON {s}.outbox (claimed_by, claim_until_us)"
        " WHERE claimed_by IS NOT NULL",
        """
        CREATE TABLE {s}.timers (
            journey_id text NOT NULL REFERENCES {s}.journeys (journey_id),
            key        text NOT NULL,
            kind       text NOT NULL CHECK (kind IN ('deadline', 'promise')),
            due_us     bigint NOT NULL,
            payload    text,
            PRIMARY KEY (journey_id, key)
        )
        """,
        "CREATE INDEX timers_due ON {s}.timers (due_us)",
        """
        CREATE TABLE {s}.sent_keys (
            idempotency_key text PRIMARY KEY,
            channel         text,
            reference       text,
            sent_us         bigint NOT NULL
        )
        """,
    ),
)

#: The schema version this carekit writes.
SCHEMA_VERSION: Final = len(MIGRATIONS)


def check_schema_name(schema: object) -> str:
    """``schema`` if it can name a PostgreSQL schema.

    Raises:
        CareKitError: not a string, empty, longer than 63 bytes, holding a NUL character, or
            starting with ``pg_`` (reserved for the system).
    """
    if not isinstance(schema, str) or not schema:
        msg = f"schema must be a non-empty schema name such as 'carekit' (got {schema!r})"
        raise CareKitError(msg)
    if "\x00" in schema:
        msg = f"schema must not contain a NUL character (got {schema!r})"
        raise CareKitError(msg)
    try:
        size = len(schema.encode("utf-8"))
    except UnicodeEncodeError:
        msg = f"schema must be valid Unicode text (got {schema!r})"
        raise CareKitError(msg) from None
    if size > MAX_IDENTIFIER:
        msg = (
            f"schema must be at most {MAX_IDENTIFIER} bytes long, PostgreSQL's limit for "
            f"names (got {schema!r}, {size} bytes)"
        )
        raise CareKitError(msg)
    if schema.lower().startswith("pg_"):
        msg = f"schema names starting with 'pg_' are reserved by PostgreSQL (got {schema!r})"
        raise CareKitError(msg)
    return schema


def quote(identifier: str) -> str:
    """``identifier`` as a quoted SQL identifier (``"my ""odd"" schema"``)."""
    return '"' + identifier.replace('"', '""') + '"'


def lock_key(schema: str) -> int:
    """The advisory lock (a signed 64-bit key) that serialises migrations of ``schema``."""
    digest = hashlib.blake2b(f"carekit-journeys:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _probe(schema: str) -> Stmt:
    return Stmt(
        "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = %(schema)s),"
        " to_regclass(%(versions)s) IS NOT NULL,"
        " (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        "  WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f'))",
        {"schema": schema, "versions": f"{quote(schema)}.schema_versions"},
    )


def _version(q: str) -> Stmt:
    return Stmt(f"SELECT coalesce(max(version), 0) FROM {q}.schema_versions")


def migrate(
    schema: str, label: str, *, applied_by: str, target: int = SCHEMA_VERSION
) -> Generator[Round, list[Any], tuple[int, int]]:
    """Check the schema and migrate it to ``target``: ``(version found, version now)``.

    A sans-IO operation (see ``_pgsans``) run in autocommit mode: it opens and commits its
    own transaction when it has anything to do.

    Raises:
        StoreError: the schema is newer than this carekit, or belongs to someone else.
    """
    q = quote(schema)
    [[(exists, versioned, tables)]] = yield Round((_probe(schema),))
    if versioned:
        [[(found,)]] = yield Round((_version(q),))
        _check(found, schema, label)
        if found >= target:
            return found, found
    # Something to do: take the lock, then look again (another process may have done it).
    [_, _, [(exists, versioned, tables)]] = yield Round((
        Stmt("BEGIN"),
        Stmt("SELECT pg_advisory_xact_lock(%s)", (lock_key(schema),)),
        _probe(schema),
    ))
    version = 0
    if versioned:
        [[(version,)]] = yield Round((_version(q),))
        _check(version, schema, label)
    elif tables:
        msg = (
            f"schema {schema!r} of PostgreSQL journey store {label!r} holds {tables} "
            "table(s) but no carekit schema_versions table: it belongs to another "
            "application; choose another schema (schema=...)"
        )
        raise StoreError(msg)
    start = version
    statements: list[Stmt] = []
    if not exists:
        statements.append(Stmt(f"CREATE SCHEMA {q}"))
    while version < target:
        statements.extend(Stmt(sql.replace("{s}", q)) for sql in MIGRATIONS[version])
        version += 1
        statements.append(Stmt(
            f"INSERT INTO {q}.schema_versions (version, applied_by) VALUES (%s, %s)",
            (version, applied_by),
        ))
    yield Round((*statements, Stmt("COMMIT")))
    return start, version


def _check(version: int, schema: str, label: str) -> None:
    if version > SCHEMA_VERSION:
        msg = (
            f"schema {schema!r} of PostgreSQL journey store {label!r} was written by a newer "
            f"carekit (schema version {version}; this carekit reads up to {SCHEMA_VERSION}); "
            "upgrade carekit to open it"
        )
        raise StoreError(msg)
