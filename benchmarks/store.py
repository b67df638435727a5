"""Benchmark: the durable journey store against the event stores a user would otherwise pick.

Measures, on this machine's disk, with SQLite ``synchronous=FULL`` (every commit survives a
power cut; carekit's default) and ``NORMAL``:

* events appended per second, one event per call and in batches of 100 (each call one
  transaction: events, the touchpoints they owe and the journey's current state);
* the time to load one journey with 1,000 events (a cold store object: nothing cached);
* dispatch throughput: owed touchpoints claimed, delivered through a recording channel and
  recorded, per second;
* the time to read 100,000 journeys' current state (``store.journeys()``).

Compared side by side, in the same run, with

* ``eventsourcing`` (the Python event-sourcing library; ``Application`` + ``Aggregate`` on its
  SQLite persistence module, WAL, SQLite's default ``synchronous``) when installed;
* a hand-rolled ``sqlite3`` event table (``INSERT`` with a unique event id, nothing else):
  the ceiling a store with no state machine, no outbox and no checks could reach.

With ``--postgres URL`` the PostgreSQL store's tables follow (``store_postgres.py``: the
same measures beside a hand-written psycopg loop and eventsourcing's PostgreSQL recorder,
plus delivery by several worker processes); ``--postgres-only`` skips SQLite.

Run: ``python benchmarks/store.py [--journeys N] [--quick] [--postgres URL]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import gc
import pathlib
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from carekit.journeys import (
    Event,
    JourneyDefinition,
    SQLiteJourneyStore,
    State,
    Touchpoint,
    Transition,
    order_journey,
)
from carekit.testing import RecordingChannel, make_carekit

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
SECOND = dt.timedelta(seconds=1)


def ticket_journey() -> JourneyDefinition:
    """A journey that takes any number of ``note`` events (so long logs are possible)."""
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


# -- carekit ------------------------------------------------------------------------------


def carekit_rates(folder: pathlib.Path, sync: str, sizes: dict[str, int]) -> dict[str, float]:
    definitions = [ticket_journey()]
    db = folder / f"carekit-{sync}.db"
    store = SQLiteJourneyStore(db, definitions=definitions, synchronous=sync)
    out: dict[str, float] = {}

    singles = sizes["single"]
    store.create_many(ticket_journey().start(f"s{j}", at=T0) for j in range(10))

    def single() -> None:
        for i in range(singles):
            store.append(f"s{i % 10}", Event("note", at=T0 + i * SECOND, id=f"s{i}"))

    out["single"] = singles / _timed(single)

    batches = sizes["batches"]
    per_journey = 5  # 500 events per journey, like a long-running service case
    store.create_many(
        ticket_journey().start(f"b{j}", at=T0) for j in range(batches // per_journey + 1)
    )
    work = [(f"b{b // per_journey}", _notes(100, start=b * 100)) for b in range(batches)]

    def batched() -> None:
        for journey_id, events in work:
            store.append(journey_id, events)

    out["batch"] = batches * 100 / _timed(batched)

    store.create("ticket", "long", at=T0)
    for b in range(10):
        store.append("long", _notes(100, start=b * 100))
    store.close()
    # The same journey once more, written without snapshots (its current-state row still
    # holds its state, so loading it no longer replays its 1,000 events).
    plain = SQLiteJourneyStore(db, definitions=definitions, synchronous=sync, snapshot_every=0)
    plain.create("ticket", "long-plain", at=T0)
    for b in range(10):
        plain.append("long-plain", _notes(100, start=b * 100))
    plain.close()
    for journey_id, key in (("long", "load_ms"), ("long-plain", "replay_ms")):
        loads = []
        for _ in range(5):
            cold = SQLiteJourneyStore(db, definitions=definitions, synchronous=sync)
            loads.append(_timed(lambda: cold.load(journey_id)))  # noqa: B023 - called at once
            cold.close()
        out[key] = statistics.median(loads) * 1000

    store = SQLiteJourneyStore(folder / f"dispatch-{sync}.db", definitions=definitions,
                               synchronous=sync)
    n = sizes["dispatch"]
    store.create_many(ticket_journey().start(f"d{j}", at=T0, channel="email") for j in range(n))
    email = RecordingChannel("email", register=False)
    kit = make_carekit(email)
    report: list[Any] = []
    elapsed = _timed(lambda: report.append(kit.dispatch(store, now=T0 + SECOND)))
    assert len(report[0].sent) == n == len(email.deliveries)
    out["dispatch"] = n / elapsed
    store.close()
    return out


def carekit_current_state(folder: pathlib.Path, n: int) -> tuple[float, float, int]:
    """Seconds to read ``n`` journeys' current state, and to fully load 10,000 of them."""
    db = folder / "many.db"
    store = SQLiteJourneyStore(db, synchronous="NORMAL")
    order = order_journey()
    chunk = 10_000
    for start in range(0, n, chunk):
        store.create_many(
            order.start(f"order-{i:07d}", at=T0 + i * SECOND, channel="email")
            for i in range(start, min(n, start + chunk))
        )
    # Move a sample along so states differ.
    for i in range(0, n, max(1, n // 500)):
        at = T0 + i * SECOND
        store.append(f"order-{i:07d}", [Event("place", at=at), Event("acknowledge", at=at)])
    store.close()
    store = SQLiteJourneyStore(db)
    rows: list[Any] = []
    summary = _timed(lambda: rows.extend(store.journeys()))
    assert len(rows) == n
    k = min(n, 10_000)
    loaded: list[Any] = []
    full = _timed(lambda: loaded.extend(store.load_many(r.journey_id for r in rows[:k])))
    store.close()
    return summary, full, k


# -- hand-rolled sqlite3 -----------------------------------------------------------------


def plain_rates(folder: pathlib.Path, sync: str, sizes: dict[str, int]) -> dict[str, float]:
    conn = sqlite3.connect(folder / f"plain-{sync}.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {sync}")
    conn.execute(
        "CREATE TABLE events (stream TEXT, seq INTEGER, event_id TEXT, name TEXT, at TEXT,"
        " PRIMARY KEY (stream, seq), UNIQUE (stream, event_id)) WITHOUT ROWID"
    )
    versions: dict[str, int] = {}

    def append(stream: str, events: list[Event]) -> None:
        v = versions.get(stream, 0)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
            [(stream, v + k + 1, e.id, e.name, e.at.isoformat()) for k, e in enumerate(events)],
        )
        conn.execute("COMMIT")
        versions[stream] = v + len(events)

    out: dict[str, float] = {}
    singles = sizes["single"]

    def single() -> None:
        for i in range(singles):
            append(f"s{i % 10}", _notes(1, start=i))

    out["single"] = singles / _timed(single)
    batches = sizes["batches"]
    work = [(f"b{b // 5}", _notes(100, start=b * 100)) for b in range(batches)]

    def batched() -> None:
        for stream, events in work:
            append(stream, events)

    out["batch"] = batches * 100 / _timed(batched)
    for b in range(10):
        append("long", _notes(100, start=b * 100))

    def load() -> None:
        rows = conn.execute(
            "SELECT name, at, event_id FROM events WHERE stream = 'long' ORDER BY seq"
        ).fetchall()
        [Event(r[0], at=dt.datetime.fromisoformat(r[1]), id=r[2]) for r in rows]

    out["load_ms"] = statistics.median(_timed(load) for _ in range(5)) * 1000
    conn.close()
    return out


# -- eventsourcing ------------------------------------------------------------------------


@functools.cache
def _eventsourcing_ticket() -> Any:
    # eventsourcing registers aggregate classes by topic: define the class once.
    from eventsourcing.domain import Aggregate, event

    class Ticket(Aggregate):
        @event("Opened")
        def __init__(self) -> None:
            self.notes = 0

        @event("Noted")
        def note(self) -> None:
            self.notes += 1

    return Ticket


def eventsourcing_rates(
    folder: pathlib.Path, sizes: dict[str, int], n_state: int
) -> dict[str, float] | None:
    try:
        from eventsourcing.application import Application
    except ImportError:
        return None
    ticket_class = _eventsourcing_ticket()

    db = folder / "eventsourcing.db"
    app: Application[Any] = Application(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                           "SQLITE_DBNAME": str(db), "IS_SNAPSHOTTING_ENABLED": "n"})
    out: dict[str, float] = {}
    tickets = [ticket_class() for _ in range(10)]
    app.save(*tickets)
    singles = sizes["single"]

    def single() -> None:
        for i in range(singles):
            t = tickets[i % 10]
            t.note()
            app.save(t)

    out["single"] = singles / _timed(single)
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
    long = ticket_class()
    for _ in range(999):
        long.note()
    app.save(long)
    out["load_ms"] = statistics.median(
        _timed(lambda: app.repository.get(long.id)) for _ in range(5)
    ) * 1000
    # No current-state table: reading a state means replaying the aggregate.
    ids = [t.id for t in many[: min(len(many), 1000)]]
    sample = [ticket_class() for _ in range(min(n_state, 2000))]
    app.save(*sample)
    elapsed = _timed(lambda: [app.repository.get(t.id) for t in sample])
    out["state_s_per_100k"] = elapsed / len(sample) * 100_000
    del ids
    app.close()
    return out


# -- report -------------------------------------------------------------------------------


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}{unit}"
    return f"{value:,.2f}{unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=100_000,
                        help="journeys whose current state is read (default 100,000)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds to take medians over")
    parser.add_argument("--postgres", metavar="URL",
                        help="also measure the PostgreSQL store on this server")
    parser.add_argument("--postgres-only", action="store_true",
                        help="measure only the PostgreSQL store")
    args = parser.parse_args()
    if args.postgres or args.postgres_only:
        import store_postgres

        url = args.postgres or store_postgres.DEFAULT_URL
        if not args.postgres_only:
            sqlite_tables(args)
            print()
        states = [min(args.journeys, 5_000)] if args.quick else [args.journeys, 1_000_000]
        store_postgres.run(url, quick=args.quick, rounds=args.rounds, states=states)
        return
    sqlite_tables(args)


def sqlite_tables(args: argparse.Namespace) -> None:
    """The SQLite tables (see the module docs)."""
    if args.quick:
        sizes = {"single": 100, "batches": 20, "dispatch": 500}
        n_state = min(args.journeys, 5_000)
    else:
        sizes = {"single": 1_000, "batches": 200, "dispatch": 5_000}
        n_state = args.journeys

    runs: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix=".carekit-bench-", dir=".") as tmp:
        # Other work on the machine makes fsync times drift: alternate the stores, three
        # rounds, and report each figure's median.
        for round_ in range(args.rounds):
            for sync in ("FULL", "NORMAL"):
                for name, rates in (("carekit", carekit_rates), ("sqlite3 by hand", plain_rates)):
                    folder = pathlib.Path(tmp) / f"{round_}-{name.replace(' ', '-')}-{sync}"
                    folder.mkdir()
                    runs.setdefault(f"{name} {sync}", []).append(rates(folder, sync, sizes))
            folder = pathlib.Path(tmp) / f"{round_}-eventsourcing"
            folder.mkdir()
            es = eventsourcing_rates(folder, sizes, n_state)
            if es is not None:
                runs.setdefault("eventsourcing (default sync)", []).append(es)
        folder = pathlib.Path(tmp) / "state"
        folder.mkdir()
        summary_s, full_s, k = carekit_current_state(folder, n_state)
    results: dict[str, dict[str, float] | None] = {
        name: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
        for name, rs in runs.items()
    }
    results.setdefault("eventsourcing (default sync)", None)

    print(f"Journey store, {sizes['single']:,} single appends, {sizes['batches']} batches of 100, "
          f"{sizes['dispatch']:,} touchpoints dispatched; SQLite {sqlite3.sqlite_version}; "
          f"medians of {args.rounds} alternating rounds\n")
    print("| store | events/s, single | events/s, batches of 100 | load 1,000 events (ms) "
          "| same, `snapshot_every=0` (ms) | dispatched touchpoints/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        if r is None:
            print(f"| {name} | not installed | | | | |")
            continue
        print(f"| {name} | {_fmt(r['single'])} | {_fmt(r['batch'])} | {_fmt(r['load_ms'])} "
              f"| {_fmt(r.get('replay_ms', r['load_ms']))} | {_fmt(r.get('dispatch'))} |")
    print()
    print(f"| current state of {n_state:,} journeys | seconds |")
    print("|---|---:|")
    print(f"| carekit `store.journeys()` (current-state table, no replay) | {summary_s:.2f} |")
    print(f"| carekit `store.load_many()` (whole journeys from their rows), per {n_state:,} "
          f"(measured on {k:,}) | {full_s / k * n_state:.2f} |")
    es = results.get("eventsourcing (default sync)")
    if es is not None:
        print(f"| eventsourcing `repository.get` per aggregate, per {n_state:,} "
              f"(measured on 2,000) | {es['state_s_per_100k'] / 100_000 * n_state:.2f} |")


if __name__ == "__main__":
    main()
