"""Benchmark: the PostgreSQL journey store beside a hand-written psycopg loop and eventsourcing.

Measures, on the PostgreSQL server of ``--postgres`` (default: ``CAREKIT_BENCH_POSTGRES`` or
``postgresql://postgres@127.0.0.1:5432/test``), each in a schema of its own that is dropped
afterwards:

* events appended per second, one event per call and in batches of 100 (a transaction
  each), with the server's ``synchronous_commit`` on (every commit waits for the disk) and
  off (carekit's ``synchronous_commit=False``);
* touchpoints delivered per second by 1, 2 and 4 worker processes (each claims batches
  with ``FOR UPDATE SKIP LOCKED`` and records every outcome at once; no deadline is due,
  so the worker's pass only delivers), and the workers' processor time per delivery (the
  least of the rounds: steadier than the rate on a busy machine);
* deadline breaches fired per second;
* the time to read the current state of 100,000 and 1,000,000 journeys.

Side by side, in the same run:

* a hand-written psycopg loop sending the same statements to the same tables (no state
  machine, no checks of its arguments, no outbox rows of its own): what carekit costs over
  the driver. For delivery it calls the recording channel itself and sends the worker's
  statements (the claim; per delivery, one statement that counts the touchpoint only if it
  is still open, marks it sent and says whether the next claim is still held); the lighter
  loop the rows were first measured against (the claim, and one statement per delivery
  with neither check, no channel called) is printed beside it;
* ``eventsourcing``'s PostgreSQL recorder (``Application`` + ``Aggregate``,
  ``PERSISTENCE_MODULE=eventsourcing.postgres``), when installed.

Every figure is the best of ``--rounds`` runs (the machine is shared: the best run is the
one least disturbed). Every row alternates which side runs first, round by round, and
each side's timed run starts after a ``CHECKPOINT`` (its set-up written out).

Run: ``python benchmarks/store_postgres.py [--quick] [--rows delivery]`` (``--rows`` picks
some of the tables: appends, delivery, fire, states), or as part of
``python benchmarks/store.py --postgres URL``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import gc
import json
import os
import pathlib
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg

from carekit.journeys import (
    Event,
    JourneyDefinition,
    PostgresJourneyStore,
    State,
    Touchpoint,
    Transition,
    order_journey,
    service_case_journey,
)

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
SECOND = dt.timedelta(seconds=1)
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
_OPEN = "('pending', 'failed', 'deferred')"


def ticket_journey() -> JourneyDefinition:
    """A journey that takes any number of ``note`` events."""
    return JourneyDefinition(
        name="ticket",
        states=[State(name="open"), State(name="closed", final=True)],
        transitions=[
            Transition(event="note", source="open", target="open"),
            Transition(event="close", source="open", target="closed"),
        ],
        touchpoints=[
            Touchpoint(name="ticket_opened", on_enter="open", within=dt.timedelta(hours=1))
        ],
    )


def _timed(fn: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _notes(n: int, start: int = 0) -> list[Event]:
    return [Event("note", at=T0 + (start + i) * SECOND, id=f"n{start + i}") for i in range(n)]


@contextlib.contextmanager
def _schema(url: str) -> Iterator[str]:
    name = f"carekit_bench_{uuid.uuid4().hex[:8]}"
    try:
        yield name
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _q(schema: str) -> str:
    return f'"{schema}"'


def _checkpoint(url: str) -> None:
    """Write out the set-up's pages (and an earlier row's) before a side is timed.

    Otherwise the server may still be writing them out while whichever side runs next is
    timed. Skipped when the role may not (``CHECKPOINT`` needs a superuser or
    ``pg_checkpoint``).
    """
    with (psycopg.connect(url, autocommit=True) as conn,
          contextlib.suppress(psycopg.errors.InsufficientPrivilege)):
        conn.execute("CHECKPOINT")


# -- appends --------------------------------------------------------------------------------


def carekit_appends(url: str, sync: bool, sizes: dict[str, int]) -> dict[str, float]:
    with _schema(url) as schema:
        store = PostgresJourneyStore(url, schema=schema, definitions=[ticket_journey()],
                                     synchronous_commit=sync)
        store.create_many(ticket_journey().start(f"s{j}", at=T0) for j in range(10))
        singles = sizes["single"]

        def single() -> None:
            for i in range(singles):
                store.append(f"s{i % 10}", Event("note", at=T0 + i * SECOND, id=f"s{i}"))

        _checkpoint(url)
        out = {"single": singles / _timed(single)}
        batches = sizes["batches"]
        store.create_many(ticket_journey().start(f"b{j}", at=T0) for j in range(batches // 5 + 1))
        work = [(f"b{b // 5}", _notes(100, start=b * 100)) for b in range(batches)]

        def batched() -> None:
            for journey_id, events in work:
                store.append(journey_id, events)

        _checkpoint(url)
        out["batch"] = batches * 100 / _timed(batched)
        store.close()
    return out


def by_hand_appends(url: str, sync: bool, sizes: dict[str, int]) -> dict[str, float]:
    """The statements carekit sends for an append, by hand: lock, insert, update."""
    with _schema(url) as schema:
        # carekit makes the tables (the same ones, with the same indexes and keys).
        store = PostgresJourneyStore(url, schema=schema, definitions=[ticket_journey()])
        store.create_many(ticket_journey().start(f"s{j}", at=T0) for j in range(10))
        batches = sizes["batches"]
        store.create_many(ticket_journey().start(f"b{j}", at=T0) for j in range(batches // 5 + 1))
        store.close()
        q = _q(schema)
        conn = psycopg.connect(url, autocommit=True)
        if not sync:
            conn.execute("SET synchronous_commit = off")

        def append(journey_id: str, events: list[Event]) -> None:
            with conn.transaction():
                [(version,)] = conn.execute(
                    f"SELECT version FROM {q}.journeys WHERE journey_id = %s FOR UPDATE",
                    (journey_id,),
                ).fetchall()
                ats = [e.at.isoformat() for e in events]
                conn.execute(
                    f"INSERT INTO {q}.events (journey_id, seq, event_id, name, at, data)"
                    " SELECT %s, u.* FROM unnest(%s::integer[], %s::text[], %s::text[],"
                    " %s::text[], %s::text[]) AS u",
                    (journey_id, list(range(version + 1, version + 1 + len(events))),
                     [e.id for e in events], [e.name for e in events], ats,
                     [None] * len(events)),
                )
                conn.execute(
                    f"UPDATE {q}.journeys SET version = %s, updated_at = %s"
                    " WHERE journey_id = %s",
                    (version + len(events), ats[-1], journey_id),
                )

        singles = sizes["single"]

        def single() -> None:
            for i in range(singles):
                append(f"s{i % 10}", [Event("note", at=T0 + i * SECOND, id=f"s{i}")])

        _checkpoint(url)
        out = {"single": singles / _timed(single)}
        work = [(f"b{b // 5}", _notes(100, start=b * 100)) for b in range(batches)]

        def batched() -> None:
            for journey_id, events in work:
                append(journey_id, events)

        _checkpoint(url)
        out["batch"] = batches * 100 / _timed(batched)
        conn.close()
    return out


@functools.cache
def _eventsourcing_ticket() -> Any:
    from eventsourcing.domain import Aggregate, event

    class Ticket(Aggregate):
        @event("Opened")
        def __init__(self) -> None:
            self.notes = 0

        @event("Noted")
        def note(self) -> None:
            self.notes += 1

    return Ticket


def _eventsourcing_app(url: str, schema: str) -> Any:
    from eventsourcing.application import Application

    parts = urllib.parse.urlsplit(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": parts.username or "postgres",
        "POSTGRES_PASSWORD": parts.password or "",
        "POSTGRES_SCHEMA": schema,
        "IS_SNAPSHOTTING_ENABLED": "n",
    }
    return Application(env=env)


def eventsourcing_appends(url: str, sizes: dict[str, int]) -> dict[str, float] | None:
    try:
        import eventsourcing.postgres  # noqa: F401
    except ImportError:
        return None
    ticket_class = _eventsourcing_ticket()
    with _schema(url) as schema:
        app = _eventsourcing_app(url, schema)
        tickets = [ticket_class() for _ in range(10)]
        app.save(*tickets)
        singles = sizes["single"]

        def single() -> None:
            for i in range(singles):
                t = tickets[i % 10]
                t.note()
                app.save(t)

        out = {"single": singles / _timed(single)}
        batches = sizes["batches"]
        many = [ticket_class() for _ in range(batches // 5 + 1)]
        app.save(*many)

        def batched() -> None:
            for b in range(batches):
                t = many[b // 5]
                for _ in range(100):
                    t.note()
                app.save(t)

        out["batch"] = batches * 100 / _timed(batched)
        app.close()
    return out


# -- delivery by worker processes ----------------------------------------------------------

_CAREKIT_WORKER = """
import datetime as dt, sys, time
from carekit.journeys import PostgresJourneyStore, Worker
from carekit.testing import RecordingChannel, make_carekit
url, schema = sys.argv[1:3]
email = RecordingChannel("email", register=False)
store = PostgresJourneyStore(url, schema=schema, pool_size=2)
worker = Worker(make_carekit(email), store, batch_size=100, timeout=None,
                promise_checks=None)
print("ready", flush=True)
sys.stdin.readline()
# 09:30: every "case received" may be sent and no first-response deadline is due yet, so
# the pass only delivers (firing breaches has a row of its own).
cpu = time.process_time()
report = worker.run_once(dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.timezone.utc))
cpu = time.process_time() - cpu
store.close()
print(report.sent, len(email.deliveries), cpu, flush=True)
"""

# What both hand-written delivery loops start with: the connection's arguments and carekit's
# claim statement (a batch of 100, leased for 30 s, without waiting for the WAL flush).
_HAND_CLAIM = """
import sys, time, psycopg
url, schema = sys.argv[1:3]
q = f'"{schema}"'
now_us = (
    "(SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)"
)
claim = (
    f"WITH due AS (SELECT idempotency_key FROM {q}.outbox"
    " WHERE status IN ('pending', 'failed', 'deferred') AND next_attempt_us <= %(now)s"
    f" AND (claim_until_us IS NULL OR claim_until_us <= {now_us})"
    " ORDER BY next_attempt_us, no LIMIT 100 FOR UPDATE SKIP LOCKED)"
    f" UPDATE {q}.outbox o SET claimed_by = %(me)s, claim_until_us = {now_us} + 30000000,"
    f" attempts = o.attempts + 1 FROM due, {q}.journeys j,"
    " (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed"
    " WHERE o.idempotency_key = due.idempotency_key AND j.journey_id = o.journey_id"
    " RETURNING o.idempotency_key, o.journey_id, o.name, o.channel, o.data, j.customer_id"
)
"""

# The loop the delivery rows were first measured against, kept beside the one doing
# carekit's statements: the same claim, then one statement per delivery marking it sent
# (and counting it on its journey), committed without waiting for the WAL flush, as
# carekit's outcomes are. No channel called, no check that the touchpoint is still open
# before its journey counts it, no check of the next claim, no lease extension.
_HAND_LIGHT_WORKER = _HAND_CLAIM + """
sent = (
    f"WITH j AS (UPDATE {q}.journeys SET settled = settled + 1 WHERE journey_id = %(j)s"
    " RETURNING version, settled),"
    f" s AS (UPDATE {q}.outbox SET status = 'sent', claimed_by = NULL,"
    " claim_until_us = NULL, reference = %(ref)s, settled_at = %(at)s,"
    " settled_seq = j.version, settled_no = j.settled FROM j"
    " WHERE idempotency_key = %(k)s AND claimed_by = %(me)s RETURNING 1)"
    " SELECT set_config('synchronous_commit', 'off', true)"
)
conn = psycopg.connect(url, autocommit=True)
me = f"hand-{time.monotonic_ns()}"
print("ready", flush=True)
sys.stdin.readline()
delivered = []
cpu = time.process_time()
while True:
    rows = conn.execute(claim, {"now": 1772443800000000, "me": me}).fetchall()  # 09:30
    if not rows:
        break
    for key, journey_id, name, channel, data, customer in rows:
        delivered.append(key)
        conn.execute(sent, {"j": journey_id, "ref": key, "at": "2026-03-02T09:30:00+00:00",
                            "k": key, "me": me})
cpu = time.process_time() - cpu
conn.close()
print(len(delivered), len(delivered), cpu, flush=True)
"""


# The statements carekit's worker sends, by hand: the same claim; per delivery, the
# recording channel called directly (no pluggy), then one statement that counts the
# touchpoint on its journey only if it is still open (the journey row locked first, as
# appends lock it), marks it sent, and says whether the next claim of the batch is still
# held, so a touchpoint withdrawn or taken over meanwhile is not sent. carekit's statement
# for one outcome of any kind, written for "sent" alone. No lease extension (carekit's
# worker extends its claims at most every tenth of the lease: a few times a run).
_HAND_WORKER = _HAND_CLAIM + """
from carekit.testing import RecordingChannel
settles = "(o.status IN ('pending', 'failed', 'deferred') OR o.status = 'dead')"
sent = (
    f"WITH target AS (SELECT o.journey_id FROM {q}.outbox o"
    f" WHERE o.idempotency_key = %(k)s AND {settles}),"
    f" counted AS (UPDATE {q}.journeys j SET settled = j.settled + 1 FROM target t"
    " WHERE j.journey_id = t.journey_id RETURNING j.version, j.settled),"
    f" changed AS (UPDATE {q}.outbox o SET status = 'sent', claimed_by = NULL,"
    " claim_until_us = NULL, last_error = NULL, reference = %(ref)s, settled_at = %(at)s,"
    " settled_seq = c.version, settled_no = c.settled FROM counted c"
    f" WHERE o.idempotency_key = %(k)s AND {settles} RETURNING 1)"
    " SELECT set_config('synchronous_commit', 'off', true),"
    f" (SELECT o.claimed_by = %(me)s AND o.claim_until_us > {now_us} FROM {q}.outbox o"
    " WHERE o.idempotency_key = %(next)s)"
)
email = RecordingChannel("email", register=False)
conn = psycopg.connect(url, autocommit=True)
me = f"hand-{time.monotonic_ns()}"
print("ready", flush=True)
sys.stdin.readline()
cpu = time.process_time()
while True:
    rows = conn.execute(claim, {"now": 1772443800000000, "me": me}).fetchall()  # 09:30
    if not rows:
        break
    held = True
    for i, row in enumerate(rows):
        if not held:  # withdrawn or taken over: not sent (never, in this run)
            continue
        key = row[0]
        email.carekit_deliver_touchpoint(row, email.channel_def, key)
        after = rows[i + 1][0] if i + 1 < len(rows) else None
        [(_, held)] = conn.execute(sent, {"k": key, "ref": key, "me": me, "next": after,
                                          "at": "2026-03-02T09:30:00+00:00"}).fetchall()
cpu = time.process_time() - cpu
conn.close()
print(len(email.deliveries), len(email.deliveries), cpu, flush=True)
"""

def _server_cpu() -> float | None:
    """Processor seconds used so far by every ``postgres`` process on this host.

    None when the server's processes cannot be read (a server on another host, or no
    ``/proc``): the column then says so.
    """
    total, found = 0.0, False
    tick = os.sysconf("SC_CLK_TCK")
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        if name == "postgres" or name.startswith("postgres:"):
            fields = stat[stat.rindex(")") + 2:].split()
            # utime + stime, and cutime + cstime: the server's connections that have
            # ended were children of the postmaster, which counts their time.
            total += sum(int(f) for f in fields[11:15]) / tick
            found = True
    return total if found else None


def delivery_rate(url: str, script: str, n: int, processes: int
                  ) -> tuple[float, float, float | None]:
    """Touchpoints delivered per second by ``processes`` processes running ``script``.

    Also the workers' processor time per delivery (µs), steadier than the rate on a busy
    machine: it tells a change in the worker's own work apart from the machine's load; and
    the server's (every ``postgres`` process of this host, µs per delivery; None when the
    server runs elsewhere).
    """
    with _schema(url) as schema:
        store = PostgresJourneyStore(url, schema=schema, synchronous_commit=False)  # set-up
        case = service_case_journey()
        for start in range(0, n, 10_000):
            store.create_many(
                case.start(f"c{i:07d}", at=T0, channel="email")
                for i in range(start, min(n, start + 10_000))
            )
        store.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'ANALYZE "{schema}".outbox')
            conn.execute(f'ANALYZE "{schema}".journeys')
        _checkpoint(url)
        procs = [
            subprocess.Popen([sys.executable, "-c", script, url, schema],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for _ in range(processes)
        ]
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        server = _server_cpu()
        start = time.perf_counter()
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = [p.communicate(timeout=3600)[0] for p in procs]
        elapsed = time.perf_counter() - start
        after = _server_cpu()
        served = None if server is None or after is None else (after - server) / n * 1e6
        total = sum(int(out.split()[0]) for out in outs)
        assert total == n, (total, n, outs)
        cpu = sum(float(out.split()[2]) for out in outs)
    return n / elapsed, cpu / n * 1e6, served


# -- firing breaches -------------------------------------------------------------------------


def _breach_store(url: str, schema: str, n: int) -> None:
    store = PostgresJourneyStore(url, schema=schema, synchronous_commit=False)  # set-up
    order = order_journey()
    for start in range(0, n, 5_000):
        ids = [f"o{i:07d}" for i in range(start, min(n, start + 5_000))]
        store.create_many(order.start(i, at=T0, channel="email") for i in ids)
        for journey_id in ids:
            store.append(journey_id, Event("place", at=T0, id=f"{journey_id}-p"))
    store.close()


def carekit_fire_rate(url: str, n: int) -> float:
    with _schema(url) as schema:
        _breach_store(url, schema, n)
        _checkpoint(url)
        store = PostgresJourneyStore(url, schema=schema)  # a cold cache, as a worker's
        fired: list[Any] = []

        def fire() -> None:
            while True:
                got = store.fire_due(now=T0 + 2 * dt.timedelta(hours=1), limit=1000)
                fired.extend(got)
                if len(got) < 1000:
                    return

        elapsed = _timed(fire)
        assert len(fired) == n, len(fired)
        store.close()
    return n / elapsed


def by_hand_fire_rate(url: str, n: int) -> float:
    """The statements carekit sends to fire breaches, by hand (no state machine).

    The same writes as carekit's: each breach event with its data, each journey's version,
    time and body (its friction up by the breach's 1.0, the deadline gone), the timer
    deleted. What the loop does not do: read the journeys' open touchpoints and event ids
    (carekit rebuilds each journey, so that the breach runs through its state machine).
    """
    with _schema(url) as schema:
        _breach_store(url, schema, n)
        _checkpoint(url)
        q = _q(schema)
        conn = psycopg.connect(url, autocommit=True)
        now = T0 + 2 * dt.timedelta(hours=1)
        now_us = (now - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(
            microseconds=1
        )
        done = 0

        def fire() -> None:
            nonlocal done
            while True:
                with conn.transaction():
                    timers = conn.execute(
                        f"SELECT journey_id, key, due_us FROM {q}.timers WHERE due_us <= %s"
                        " AND kind = 'deadline' ORDER BY due_us LIMIT 1000"
                        " FOR UPDATE SKIP LOCKED",
                        (now_us,),
                    ).fetchall()
                    if not timers:
                        return
                    ids = [t[0] for t in timers]
                    heads = {r[0]: r[1:] for r in conn.execute(
                        f"SELECT journey_id, state, version, body FROM {q}.journeys"
                        " WHERE journey_id = ANY(%s) FOR UPDATE SKIP LOCKED",
                        (ids,),
                    ).fetchall()}
                    at = now.isoformat()
                    events, journeys, gone = [], [], []
                    for journey_id, key, _ in timers:
                        if journey_id not in heads:
                            continue
                        state, version, body = heads[journey_id]
                        _, breach, entered = key.rsplit("/", 2)
                        parsed = json.loads(body)
                        [(_, deadline_state, due, _)] = [
                            d for d in parsed["d"] if d[0] == breach and d[3] == int(entered)
                        ]
                        data = {"due": due, "deadline_state": deadline_state}
                        parsed["f"] += 1.0
                        parsed["d"] = [d for d in parsed["d"] if d[0] != breach]
                        events.append((journey_id, version + 1, key, breach, at,
                                       json.dumps(data, sort_keys=True, separators=(",", ":"))))
                        journeys.append((journey_id, state, version + 1, at,
                                         json.dumps(parsed, separators=(",", ":"))))
                        gone.append((journey_id, key))
                    conn.execute(
                        f"INSERT INTO {q}.events (journey_id, seq, event_id, name, at, data)"
                        " SELECT * FROM unnest(%s::text[], %s::integer[], %s::text[],"
                        " %s::text[], %s::text[], %s::text[])",
                        [list(c) for c in zip(*events, strict=True)],
                    )
                    conn.execute(
                        f"UPDATE {q}.journeys j SET state = u.st, version = u.v,"
                        " updated_at = u.ua, body = u.b FROM unnest(%s::text[], %s::text[],"
                        " %s::integer[], %s::text[], %s::text[]) AS u(j, st, v, ua, b)"
                        " WHERE j.journey_id = u.j",
                        [list(c) for c in zip(*journeys, strict=True)],
                    )
                    conn.execute(
                        f"DELETE FROM {q}.timers t USING unnest(%s::text[], %s::text[])"
                        " AS u(j, k) WHERE t.journey_id = u.j AND t.key = u.k",
                        [list(c) for c in zip(*gone, strict=True)],
                    )
                    done += len(gone)

        elapsed = _timed(fire)
        assert done == n, done
        conn.close()
    return n / elapsed


# -- current state ---------------------------------------------------------------------------


def current_state(url: str, n: int) -> dict[str, float]:
    """Seconds to read ``n`` journeys' current state: carekit, by hand, eventsourcing."""
    out: dict[str, float] = {}
    with _schema(url) as schema:
        store = PostgresJourneyStore(url, schema=schema, synchronous_commit=False)
        order = order_journey()
        for start in range(0, n, 10_000):
            store.create_many(
                order.start(f"order-{i:07d}", at=T0 + i * SECOND, channel="email")
                for i in range(start, min(n, start + 10_000))
            )
        for i in range(0, n, max(1, n // 500)):  # move a sample along so states differ
            at = T0 + i * SECOND
            store.append(f"order-{i:07d}", [Event("place", at=at), Event("acknowledge", at=at)])
        store.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'VACUUM ANALYZE "{schema}".journeys')
            conn.execute(f'VACUUM ANALYZE "{schema}".outbox')
        store = PostgresJourneyStore(url, schema=schema)
        rows: list[Any] = []

        def ours() -> None:
            rows.clear()
            rows.extend(store.journeys())

        q = _q(schema)
        conn = psycopg.connect(url, autocommit=True)

        def by_hand() -> None:
            after = ""
            while True:
                chunk = conn.execute(
                    "SELECT j.journey_id, j.definition, j.state, j.version, j.started_at,"
                    " j.updated_at, j.customer_id, j.channel, (SELECT count(*) FROM"
                    f" {q}.outbox o WHERE o.journey_id = j.journey_id AND o.status IN"
                    f" {_OPEN}), j.tz FROM {q}.journeys j WHERE j.journey_id > %s"
                    " ORDER BY j.journey_id LIMIT 10000",
                    (after,),
                ).fetchall()
                rows.extend(chunk)
                if len(chunk) < 10_000:
                    return
                after = chunk[-1][0]

        def theirs() -> None:
            rows.clear()
            by_hand()

        # Three reads each, alternated, the best kept: a read takes a fraction of a second
        # and the machine's noise moves single reads by a third.
        out["carekit"] = out["by_hand"] = float("inf")
        for _ in range(3):
            out["carekit"] = min(out["carekit"], _timed(ours))
            assert len(rows) == n
            out["by_hand"] = min(out["by_hand"], _timed(theirs))
            assert len(rows) == n
        store.close()
        conn.close()
    out["eventsourcing"] = eventsourcing_state(url, n)
    return out


def eventsourcing_state(url: str, n: int) -> float:
    """eventsourcing has no current-state table: replay each aggregate (2,000, scaled)."""
    try:
        import eventsourcing.postgres  # noqa: F401
    except ImportError:
        return float("nan")
    ticket_class = _eventsourcing_ticket()
    with _schema(url) as schema:
        app = _eventsourcing_app(url, schema)
        sample = [ticket_class() for _ in range(2000)]
        for t in sample:
            t.note()
            t.note()
        app.save(*sample)
        elapsed = _timed(lambda: [app.repository.get(t.id) for t in sample])
        app.close()
    return elapsed / len(sample) * n


# -- report --------------------------------------------------------------------------------


def _best(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: max(r[key] for r in runs) for key in runs[0]}


def _fmt(value: float | None) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


ROWS = ("appends", "delivery", "fire", "states")


def run(url: str, *, quick: bool, rounds: int, states: list[int],
        rows: tuple[str, ...] = ROWS) -> None:
    """Print the tables of ``rows`` (all four unless told)."""
    if quick:
        sizes = {"single": 50, "batches": 10, "deliver": 2_000, "fire": 1_000}
    else:
        sizes = {"single": 500, "batches": 200, "deliver": 20_000, "fire": 10_000}
    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    print(f"PostgreSQL {version}\n")
    if "appends" in rows:
        _appends(url, sizes, rounds)
    if "delivery" in rows:
        _delivery(url, sizes, rounds)
    if "fire" in rows:
        _fire(url, sizes, rounds)
    if "states" in rows:
        _states(url, states, rounds)


def _appends(url: str, sizes: dict[str, int], rounds: int) -> None:
    appends: dict[str, list[dict[str, float]]] = {}
    for r in range(rounds):
        for sync in (True, False):
            label = "on" if sync else "off"
            sides = [(f"carekit, synchronous_commit {label}", carekit_appends),
                     (f"psycopg by hand, synchronous_commit {label}", by_hand_appends)]
            for name, side in sides if r % 2 == 0 else reversed(sides):  # who goes first
                appends.setdefault(name, []).append(side(url, sync, sizes))
        es = eventsourcing_appends(url, sizes)
        if es is not None:
            appends.setdefault("eventsourcing PostgreSQL recorder (server default: on)",
                               []).append(es)
    print(f"{sizes['single']:,} single appends, {sizes['batches']} "
          f"batches of 100; best of {rounds} rounds\n")
    print("| store | events/s, single | events/s, batches of 100 |")
    print("|---|---:|---:|")
    for name, runs in appends.items():
        best = _best(runs)
        print(f"| {name} | {_fmt(best['single'])} | {_fmt(best['batch'])} |")


def _delivery(url: str, sizes: dict[str, int], rounds: int) -> None:
    print(f"\nTouchpoints delivered per second ({sizes['deliver']:,} owed; each worker "
          f"process claims 100 at a time and records each outcome at once; best of "
          f"{rounds})\n")
    print("| worker processes | carekit `Worker` | psycopg by hand, carekit's statements "
          "| carekit / by hand | by hand, lighter loop (carekit / it) "
          "| worker µs per delivery, carekit / by hand / lighter "
          "| server µs per delivery, carekit / by hand / lighter |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    inf = float("inf")
    scripts = (_CAREKIT_WORKER, _HAND_WORKER, _HAND_LIGHT_WORKER)
    for processes in (1, 2, 4):
        rate = dict.fromkeys(scripts, 0.0)
        cpu = dict.fromkeys(scripts, inf)
        served = dict.fromkeys(scripts, inf)
        for r in range(rounds):
            # Each round in another order (carekit first, in the middle, last), so that a
            # slow spell of the machine, or the row before, hits every side.
            for script in scripts[r % 3:] + scripts[:r % 3]:
                got, used, server = delivery_rate(url, script, sizes["deliver"], processes)
                rate[script] = max(rate[script], got)
                cpu[script] = min(cpu[script], used)
                served[script] = min(served[script], inf if server is None else server)
        ours, hand, light = (rate[s] for s in scripts)
        server = ("server elsewhere" if inf in served.values()
                  else " / ".join(f"{served[s]:.0f}" for s in scripts))
        print(f"| {processes} | {_fmt(ours)} | {_fmt(hand)} | {ours / hand:.2f} "
              f"| {_fmt(light)} ({ours / light:.2f}) "
              f"| {' / '.join(f'{cpu[s]:.0f}' for s in scripts)} | {server} |")


def _fire(url: str, sizes: dict[str, int], rounds: int) -> None:
    ours = hand = 0.0
    for r in range(rounds):  # alternated, so a slow spell of the machine hits both
        if r % 2:
            hand = max(hand, by_hand_fire_rate(url, sizes["fire"]))
        ours = max(ours, carekit_fire_rate(url, sizes["fire"]))
        if not r % 2:
            hand = max(hand, by_hand_fire_rate(url, sizes["fire"]))
    print(f"\nDeadline breaches fired per second ({sizes['fire']:,} due, 1,000 per "
          f"transaction, one process; best of {rounds})\n")
    print("| carekit `fire_due` | psycopg by hand | carekit / by hand |")
    print("|---:|---:|---:|")
    print(f"| {_fmt(ours)} | {_fmt(hand)} | {ours / hand:.2f} |")


def _states(url: str, states: list[int], rounds: int) -> None:
    print("\nCurrent state of every journey, seconds (10,000 per query, in id order)\n")
    print("| journeys | carekit `store.journeys()` | psycopg by hand (tuples) | carekit / by hand "
          "(speed) | eventsourcing, replaying each aggregate (2,000 measured, scaled) |")
    print("|---:|---:|---:|---:|---:|")
    for n in states:
        best: dict[str, float] = {}
        for _ in range(1 if n > 100_000 else rounds):
            got = current_state(url, n)
            best = got if not best else {k: min(best[k], got[k]) for k in got}
        print(f"| {n:,} | {best['carekit']:.2f} | {best['by_hand']:.2f} "
              f"| {best['by_hand'] / best['carekit']:.2f} | {best['eventsourcing']:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("CAREKIT_BENCH_POSTGRES",
                                                             DEFAULT_URL))
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds to take the best of")
    parser.add_argument("--states", default="100000,1000000",
                        help="journey counts whose current state is read")
    parser.add_argument("--rows", default=",".join(ROWS),
                        help=f"the tables to measure, comma-separated (default: {','.join(ROWS)})")
    args = parser.parse_args()
    rows = tuple(r.strip() for r in args.rows.split(",") if r.strip())
    unknown = [r for r in rows if r not in ROWS]
    if unknown or not rows:
        parser.error(f"--rows takes some of {', '.join(ROWS)} (got {args.rows!r})")
    states = [int(s) for s in args.states.split(",")]
    if args.quick:
        states = [min(s, 5_000) for s in states[:1]]
    run(args.postgres, quick=args.quick, rounds=args.rounds, states=states, rows=rows)


if __name__ == "__main__":
    main()
