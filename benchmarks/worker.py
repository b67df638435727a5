"""Benchmark: the runtime on SQLite — firing deadlines, delivering, idle passes, crashes.

All stores use SQLite's ``synchronous=FULL`` (carekit's default: every commit survives a
power cut) unless a row says otherwise. Measured side by side in one run:

* **breaches fired per second**: orders placed and never acknowledged, their one-hour
  deadline fired by ``Worker.run_once`` (batched: ``fire_limit`` timers per transaction);
* **touchpoints delivered per second** by one and by two workers with a recording channel,
  beside a hand-written ``sqlite3`` claim/update loop doing the same statements (claim a
  batch; per touchpoint, record the outcome and check that the next one is still held, one
  commit),
  rounds alternating between the two, at ``FULL`` and at ``NORMAL`` on both sides;
* **appends to journeys outside the store's cache**, beside hand-written ``sqlite3`` doing
  the same writes (read the version, insert the event and the touchpoint it owes, update
  the journey's row and its timers), rounds alternating between the two, at ``FULL`` and
  at ``NORMAL`` on both sides;
* **an idle pass** (``run_once`` with nothing due) at 200 to 1,000,000 open journeys
  (``--max-open``), beside the same index lookups written by hand with ``sqlite3`` on the
  same file: whether the pass grows with the number of open journeys;
* **delay from due to delivered** (p50, p99) for a worker polling every second, while
  touchpoints become due at random moments;
* **crash recovery**: worker processes SIGKILLed at random moments during a long dispatch:
  duplicates (at most one in flight per kill) and the time to drain after the last kill.

Run: ``python benchmarks/worker.py [--quick] [--max-open N] [--idle-only] [--appends-only]
[--breaches-only] [--delivery-only] [--append-rounds N]``.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import pathlib
import platform
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from typing import Any

from carekit import hookimpl
from carekit.channels import DeliveryResult
from carekit.journeys import (
    Event,
    JourneyDefinition,
    SQLiteJourneyStore,
    State,
    Touchpoint,
    Transition,
    Worker,
    order_journey,
)
from carekit.testing import RecordingChannel, make_carekit

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
SECOND = dt.timedelta(seconds=1)
HOUR = dt.timedelta(hours=1)
#: When the delivery rows run the worker: the acknowledgements are due, no deadline is.
DELIVER_AT = T0 + 2 * HOUR


def waiting_journey() -> JourneyDefinition:
    """An open journey with a deadline and a delayed touchpoint a day away (nothing due)."""
    return JourneyDefinition(
        name="waiting",
        states=[State(name="open"), State(name="done", final=True)],
        transitions=[Transition(event="finish", source="open", target="done")],
        touchpoints=[Touchpoint(name="reminder", on_enter="open", within=HOUR,
                                delay=dt.timedelta(days=1))],
        deadlines=[__import__("carekit.journeys", fromlist=["Deadline"]).Deadline(
            state="open", within=dt.timedelta(days=2), breach_event="late")],
    )


def _placed(store: SQLiteJourneyStore, n: int, *, acknowledge: bool) -> None:
    order = order_journey()
    store.create_many(order.start(f"o-{i}", at=T0, channel="email") for i in range(n))
    for i in range(n):
        events = [Event("place", at=T0, id=f"p-{i}")]
        if acknowledge:
            events.append(Event("acknowledge", at=T0, id=f"a-{i}"))
        store.append(f"o-{i}", events)


def _best(runs: list[float]) -> float:
    return min(runs)


# -- breaches ---------------------------------------------------------------------------


def breaches_per_second(folder: pathlib.Path, n: int, rounds: int) -> float:
    times = []
    for r in range(rounds):
        db = folder / f"breach-{r}.db"
        with SQLiteJourneyStore(db, synchronous="NORMAL") as setup:
            _placed(setup, n, acknowledge=False)
        with SQLiteJourneyStore(db) as store:
            worker = Worker(make_carekit(), store, promise_checks=None)
            start = time.perf_counter()
            report = worker.run_once(T0 + 2 * HOUR)
            times.append(time.perf_counter() - start)
            assert report.fired == n
    return n / _best(times)


# -- deliveries -------------------------------------------------------------------------


def carekit_delivery(db: pathlib.Path, n: int, workers: int, synchronous: str) -> float:
    """Seconds for ``workers`` carekit workers (threads, a store each) to deliver ``n``."""
    stores = [SQLiteJourneyStore(db, busy_timeout=30, synchronous=synchronous)
              for _ in range(workers)]
    recorders = [RecordingChannel("email", register=False) for _ in range(workers)]
    ws = [Worker(make_carekit(rec), s, timeout=None, promise_checks=None)
          for rec, s in zip(recorders, stores, strict=True)]
    reports: list[Any] = []
    start = time.perf_counter()
    threads = [threading.Thread(target=lambda w=w: reports.append(w.run_once(DELIVER_AT)))
               for w in ws]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    assert sum(len(rec.deliveries) for rec in recorders) == n
    assert sum(r.fired for r in reports) == 0  # delivery alone: nothing due to fire
    for s in stores:
        s.close()
    return elapsed


def hand_delivery(db: pathlib.Path, n: int, workers: int, synchronous: str) -> float:
    """Seconds for a hand-written claim/update loop (carekit's schema and statements)."""
    if True:
        sent = [0] * workers

        def work(k: int, db: pathlib.Path = db, sent: list[int] = sent) -> None:
            conn = sqlite3.connect(db, isolation_level=None, timeout=30)
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            me = f"hand-{k}"
            deliver = RecordingChannel("email", register=False)
            while True:
                now_us = int(time.time() * 1e6)
                conn.execute("BEGIN IMMEDIATE")
                rows = conn.execute(
                    "SELECT o.idempotency_key, o.journey_id, o.name, o.channel, o.due, o.data,"
                    " o.attempts, j.customer_id FROM outbox o JOIN journeys j"
                    " ON j.journey_id = o.journey_id WHERE o.status IN"
                    " ('pending', 'failed', 'deferred') AND o.next_attempt_us <= ?"
                    " AND (o.claim_until_us IS NULL OR o.claim_until_us <= ?)"
                    " ORDER BY o.next_attempt_us LIMIT 100",
                    (int(DELIVER_AT.timestamp() * 1e6), now_us),
                ).fetchall()
                conn.executemany(
                    "UPDATE outbox SET claimed_by = ?, claim_until_us = ?,"
                    " attempts = attempts + 1 WHERE idempotency_key = ?",
                    [(me, now_us + 30_000_000, row[0]) for row in rows],
                )
                conn.execute("COMMIT")
                if not rows:
                    break
                for i, row in enumerate(rows):
                    deliver.carekit_deliver_touchpoint(row, deliver.channel_def, row[0])
                    conn.execute("BEGIN IMMEDIATE")
                    journey_id, version, settled = conn.execute(
                        "SELECT j.journey_id, j.version, j.settled FROM outbox o JOIN journeys j"
                        " ON j.journey_id = o.journey_id WHERE o.idempotency_key = ?",
                        (row[0],),
                    ).fetchone()
                    conn.execute(
                        "UPDATE outbox SET status = 'sent', claimed_by = NULL,"
                        " claim_until_us = NULL, settled_at = ?, settled_seq = ?,"
                        " settled_no = ? WHERE idempotency_key = ?",
                        (T0.isoformat(), version, settled + 1, row[0]),
                    )
                    conn.execute("UPDATE journeys SET settled = settled + 1 WHERE journey_id = ?",
                                 (journey_id,))
                    if i + 1 < len(rows):  # is the next one still ours?
                        conn.execute(
                            "SELECT 1 FROM outbox WHERE idempotency_key = ? AND claimed_by = ?"
                            " AND status IN ('pending', 'failed', 'deferred')"
                            " AND claim_until_us > ?",
                            (rows[i + 1][0], me, int(time.time() * 1e6)),
                        ).fetchone()
                    conn.execute("COMMIT")
                    sent[k] += 1
            conn.close()

        start = time.perf_counter()
        threads = [threading.Thread(target=work, args=(k,)) for k in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        assert sum(sent) == n
    return elapsed


def deliveries(
    folder: pathlib.Path, n: int, workers: int, rounds: int, synchronous: str
) -> tuple[float, float, float]:
    """Touchpoints delivered per second by carekit and by hand, and the rounds' median ratio."""

    def files(r: int) -> tuple[pathlib.Path, pathlib.Path]:
        a = folder / f"deliver-{synchronous}-{workers}-{r}.db"
        b = folder / f"hand-{synchronous}-{workers}-{r}.db"
        for db in (a, b):
            with SQLiteJourneyStore(db, synchronous="NORMAL") as setup:
                _placed(setup, n, acknowledge=True)
        return a, b

    return _alternated(
        n, rounds, files,
        lambda db, r: carekit_delivery(db, n, workers, synchronous),
        lambda db, r: hand_delivery(db, n, workers, synchronous),
    )


def _alternated(
    n: int,
    rounds: int,
    files: Callable[[int], tuple[pathlib.Path, pathlib.Path]],
    ours: Callable[[pathlib.Path, int], float],
    hand: Callable[[pathlib.Path, int], float],
) -> tuple[float, float, float]:
    """Rates of ``n`` items by carekit and by hand, best round each, and the median ratio.

    Each round runs both on fresh files (``files(round)``), carekit first in even rounds
    and the hand-written loop first in odd ones, so that both meet the same disk.
    """
    ours_s: list[float] = []
    hand_s: list[float] = []
    for r in range(rounds):
        a, b = files(r)
        if r % 2:
            hand_s.append(hand(b, r))
            ours_s.append(ours(a, r))
        else:
            ours_s.append(ours(a, r))
            hand_s.append(hand(b, r))
        for db in (a, b):
            for path in db.parent.glob(db.name + "*"):
                path.unlink()
    ratio = statistics.median(h / o for o, h in zip(ours_s, hand_s, strict=True))
    return n / _best(ours_s), n / _best(hand_s), ratio


def delivery_rows(folder: pathlib.Path, n: int, rounds: int) -> None:
    """Print the delivery rows for 1 and 2 workers at ``FULL`` and ``NORMAL`` (both sides)."""
    for mode in ("FULL", "NORMAL"):
        for workers in (1, 2):
            ours, hand, ratio = deliveries(folder, n, workers, rounds, mode)
            print(f"| touchpoints delivered per second, {workers} worker(s), {mode} "
                  f"| {ours:,.0f} | {hand:,.0f} | {ratio:.2f}x | >= 0.8x |")


# -- appends outside the cache ------------------------------------------------------------


def _append_file(folder: pathlib.Path, name: str, n: int) -> pathlib.Path:
    db = folder / f"{name}.db"
    with SQLiteJourneyStore(db, synchronous="NORMAL") as setup:
        _placed(setup, n, acknowledge=False)
    return db


def carekit_cold_appends(db: pathlib.Path, n: int, seed: int, synchronous: str) -> float:
    """Seconds for ``n`` appends, one per journey, by a store that has none of them cached."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    with SQLiteJourneyStore(db, synchronous=synchronous) as store:  # a new store: nothing cached
        start = time.perf_counter()
        for i in order:
            store.append(f"o-{i}", Event("acknowledge", at=T0 + SECOND, id=f"a-{i}"))
        return time.perf_counter() - start


def hand_cold_appends(db: pathlib.Path, n: int, seed: int, synchronous: str) -> float:
    """The same writes by hand: version check, event, owed touchpoint, journey row (with the
    event id and owed count it keeps), timers.

    A repeated event id would be refused by the events table's unique constraint alone.
    """
    order = list(range(n))
    random.Random(seed).shuffle(order)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")  # as the store does: the same checks on write
    at = (T0 + SECOND).isoformat()
    start = time.perf_counter()
    for i in order:
        jid = f"o-{i}"
        conn.execute("BEGIN IMMEDIATE")
        version, _ = conn.execute(
            "SELECT version, settled FROM journeys WHERE journey_id = ?", (jid,)
        ).fetchone()
        conn.execute(
            "INSERT INTO events (journey_id, seq, event_id, name, at, data)"
            " VALUES (?, ?, ?, 'acknowledge', ?, NULL)",
            (jid, version + 1, f"a-{i}", at),
        )
        conn.execute(
            "INSERT INTO outbox (idempotency_key, journey_id, seq, name, channel, state,"
            " due, data, owed_at, not_before, next_attempt_us) VALUES"
            " (?, ?, ?, 'order_thanks', 'email', 'acknowledged', ?, NULL, ?, NULL, ?)",
            (f"{jid}/order_thanks/{version + 1}", jid, version + 1,
             (T0 + SECOND + HOUR).isoformat(), at, int((T0 + SECOND).timestamp() * 1e6)),
        )
        conn.execute(  # the row keeps the journey's event ids and how many it owes
            "UPDATE journeys SET state = 'acknowledged', version = ?, updated_at = ?,"
            " body = ?, ids = coalesce(?, ids || ?), owing = coalesce(?, owing + ?)"
            " WHERE journey_id = ?",
            (version + 1, at, '{"f":0.0,"d":[]}', None, f',"a-{i}"', None, 1, jid),
        )
        conn.execute("DELETE FROM timers WHERE journey_id = ? AND key = ?",
                     (jid, f"{jid}/acknowledgement_overdue/1"))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def cold_appends(
    folder: pathlib.Path, n: int, rounds: int, synchronous: str
) -> tuple[float, float, float]:
    """Appends per second by carekit and by hand, and the median ratio of the rounds."""
    return _alternated(
        n, rounds,
        lambda r: (_append_file(folder, f"append-{synchronous}-{r}", n),
                   _append_file(folder, f"hand-append-{synchronous}-{r}", n)),
        lambda db, r: carekit_cold_appends(db, n, r, synchronous),
        lambda db, r: hand_cold_appends(db, n, r, synchronous),
    )


def appends_rows(folder: pathlib.Path, n: int, rounds: int) -> None:
    """Print the appends row at ``synchronous=FULL`` and at ``NORMAL`` (both sides alike)."""
    for mode in ("FULL", "NORMAL"):
        ours, hand, ratio = cold_appends(folder, n, rounds, mode)
        print(f"| appends to journeys outside the cache per second, {mode} | {ours:,.0f} "
              f"| {hand:,.0f} | {ratio:.2f}x | >= 0.8x |")


# -- idle passes --------------------------------------------------------------------------


#: The statements an idle pass cannot do without, written by hand: is a timer due, is a
#: touchpoint due (both through their indices), and the oldest item due (for the lag gauge).
_IDLE_SQL = (
    "SELECT journey_id FROM timers WHERE due_us <= ? AND kind IN ('deadline') "
    "ORDER BY due_us LIMIT 1",
    "SELECT idempotency_key FROM outbox WHERE status IN ('pending', 'failed', 'deferred') "
    "AND next_attempt_us <= ? AND (claim_until_us IS NULL OR claim_until_us <= ?) "
    "ORDER BY next_attempt_us LIMIT 1",
    "SELECT due_us FROM timers WHERE due_us <= ? ORDER BY due_us LIMIT 1",
)


def idle_pass_ms(folder: pathlib.Path, n: int, passes: int = 1_000) -> dict[str, float]:
    """``run_once`` with nothing due among ``n`` open journeys, against the bare index reads.

    Returns the median and p99 of carekit's pass and the median of the hand-written one (the
    same lookups through ``sqlite3`` on the same file, nothing else), in milliseconds.
    """
    db = folder / f"idle-{n}.db"
    definition = waiting_journey()
    with SQLiteJourneyStore(db, synchronous="NORMAL", definitions=[definition]) as setup:
        chunk = 50_000
        for start in range(0, n, chunk):
            setup.create_many(
                definition.start(f"w-{i}", at=T0, channel="email")
                for i in range(start, min(n, start + chunk))
            )
    ours: list[float] = []
    hand: list[float] = []
    with SQLiteJourneyStore(db, definitions=[definition]) as store:
        worker = Worker(make_carekit(), store)
        conn = sqlite3.connect(db)
        try:
            # Both read the same file: every journey has its timer, and nothing is due for a day.
            assert conn.execute("SELECT count(*) FROM timers").fetchone()[0] == n
            for k in range(passes):
                now = T0 + k * SECOND
                start = time.perf_counter()
                report = worker.run_once(now)
                ours.append((time.perf_counter() - start) * 1000)
                assert report.idle
                now_us = int((now - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc))
                             / dt.timedelta(microseconds=1))
                start = time.perf_counter()
                found = [conn.execute(_IDLE_SQL[0], (now_us,)).fetchone(),
                         conn.execute(_IDLE_SQL[1], (now_us, now_us)).fetchone(),
                         conn.execute(_IDLE_SQL[2], (now_us,)).fetchone()]
                hand.append((time.perf_counter() - start) * 1000)
                assert found == [None, None, None]
        finally:
            conn.close()
    ours.sort()
    return {"median": statistics.median(ours), "p99": ours[int(len(ours) * 0.99) - 1],
            "hand": statistics.median(hand)}


# -- delay from due to delivered ----------------------------------------------------------


class Stamper:
    """Records, for each delivery, how long after its touchpoint became sendable it left."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    @hookimpl
    def carekit_deliver_touchpoint(self, touchpoint: Any) -> DeliveryResult:
        now = dt.datetime.now(dt.timezone.utc)
        self.delays.append((now - touchpoint.sendable_at).total_seconds())
        return DeliveryResult()


def delivery_delay(folder: pathlib.Path, n: int, spread: float) -> tuple[float, float, float]:
    """p50, p99 and max seconds from sendable to delivered, ``poll=1s``."""
    db = folder / "delay.db"
    stamper = Stamper()
    with SQLiteJourneyStore(db) as store:
        order = order_journey()
        store.create_many(order.start(f"o-{i}", at=T0, channel="email") for i in range(n))
        worker_store = SQLiteJourneyStore(db, busy_timeout=30)
        worker = Worker(make_carekit(stamper), worker_store, poll=SECOND, timeout=None)
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,),
                                  kwargs={"handle_signals": False})
        thread.start()
        rng = random.Random(7)
        moments = sorted(rng.uniform(0, spread) for _ in range(n))
        began = time.monotonic()
        for i, moment in enumerate(moments):
            pause = began + moment - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            at = dt.datetime.now(dt.timezone.utc)
            store.append(f"o-{i}", [Event("place", at=at), Event("acknowledge", at=at)])
        deadline = time.monotonic() + 30
        while len(stamper.delays) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        thread.join()
        worker_store.close()
    delays = sorted(stamper.delays)
    assert len(delays) == n
    return statistics.median(delays), delays[int(n * 0.99) - 1], delays[-1]


# -- crash recovery -----------------------------------------------------------------------

_CRASH_WORKER = """
import datetime as dt, os, sys, time
from carekit import hookimpl
from carekit.channels import DeliveryResult
from carekit.journeys import SQLiteJourneyStore, Worker
from carekit.testing import make_carekit
path, log = sys.argv[1], sys.argv[2]
class Logger:
    @hookimpl
    def carekit_deliver_touchpoint(self, idempotency_key):
        time.sleep(0.002)
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, (idempotency_key + "\\n").encode())
        os.close(fd)
        return DeliveryResult()
store = SQLiteJourneyStore(path, busy_timeout=30)
worker = Worker(make_carekit(Logger()), store, lease=dt.timedelta(seconds=2), timeout=None,
                poll=dt.timedelta(milliseconds=50))
print("ready", flush=True)
while True:
    worker.run_once(dt.datetime.now(dt.timezone.utc))
    c = store.outbox_counts()
    if c["pending"] + c["failed"] + c["deferred"] == 0:
        break
print("done", flush=True)
"""


def crash_recovery(folder: pathlib.Path, n: int, kills: int) -> dict[str, float]:
    db, log = folder / "crash.db", folder / "crash.log"
    with SQLiteJourneyStore(db, synchronous="NORMAL") as setup:
        _placed(setup, n, acknowledge=True)
    script = folder / "crash_worker.py"
    script.write_text(textwrap.dedent(_CRASH_WORKER))
    rng = random.Random(11)
    done = 0
    for _ in range(kills):
        proc = subprocess.Popen([sys.executable, str(script), str(db), str(log)],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        proc.stdout.readline()
        time.sleep(rng.uniform(0.2, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        done += 1
    start = time.monotonic()
    subprocess.run([sys.executable, str(script), str(db), str(log)], check=True,
                   capture_output=True, timeout=600)
    drain = time.monotonic() - start
    keys = log.read_text().split()
    counts = collections.Counter(keys)
    assert len(counts) == n
    return {"kills": done, "duplicates": sum(v - 1 for v in counts.values()), "drain": drain}


# -- report -------------------------------------------------------------------------------


def idle_table(folder: pathlib.Path, sizes: tuple[int, ...]) -> None:
    """Print the idle pass at each number of open journeys, beside the bare index reads."""
    print("| open journeys | idle `run_once` median (µs) | p99 (µs) "
          "| hand-written index reads, median (µs) | carekit / hand |")
    print("|---:|---:|---:|---:|---:|")
    for n in dict.fromkeys(sizes):
        idle = idle_pass_ms(folder, n)
        print(f"| {n:,} | {idle['median'] * 1000:.1f} | {idle['p99'] * 1000:.1f} "
              f"| {idle['hand'] * 1000:.1f} | {idle['median'] / idle['hand']:.1f}x |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--max-open", type=int, default=1_000_000,
                        help="the largest number of open journeys for the idle pass")
    parser.add_argument("--idle-only", action="store_true",
                        help="measure only the idle pass (200 to --max-open open journeys)")
    parser.add_argument("--appends-only", action="store_true",
                        help="measure only the appends rows (FULL and NORMAL)")
    parser.add_argument("--breaches-only", action="store_true",
                        help="measure only the breaches row")
    parser.add_argument("--delivery-only", action="store_true",
                        help="measure only the delivery rows (FULL and NORMAL)")
    parser.add_argument("--append-rounds", type=int, default=None,
                        help="rounds of the appends and delivery rows, carekit and hand "
                             "alternating (default: 2 with --quick, else 6)")
    args = parser.parse_args()
    quick = args.quick
    n_fire = 2_000 if quick else 20_000
    n_deliver = 1_000 if quick else 5_000
    n_append = 2_000 if quick else 20_000
    rounds = 1 if quick else 3
    append_rounds = args.append_rounds or (2 if quick else 6)
    with tempfile.TemporaryDirectory(prefix=".carekit-bench-", dir=".") as tmp:
        folder = pathlib.Path(tmp)
        if args.idle_only:
            print(f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
                  f"{os.cpu_count()} CPUs; 1,000 idle passes per size\n")
            sizes = (200, 2_000, 20_000, 200_000, args.max_open)
            idle_table(folder, tuple(n for n in sizes if n <= max(args.max_open, 200)))
            return
        print(f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
              f"{os.cpu_count()} CPUs; best of {rounds} round(s) ({append_rounds} alternated "
              "for delivery and appends, ratio: median of the rounds); synchronous=FULL "
              "unless named\n")
        print("| what | carekit | hand-written sqlite3 | carekit / hand | goal |")
        print("|---|---:|---:|---:|---|")
        if args.appends_only:
            appends_rows(folder, n_append, append_rounds)
            return
        if args.delivery_only:
            delivery_rows(folder, n_deliver, append_rounds)
            return
        fired = breaches_per_second(folder, n_fire, rounds)
        print(f"| breaches fired per second ({n_fire:,} due) | {fired:,.0f} | | | >= 10,000 |")
        if args.breaches_only:
            return
        delivery_rows(folder, n_deliver, append_rounds)
        appends_rows(folder, n_append, append_rounds)
        print()
        sizes = (200, 2_000, 20_000) if quick else (200, 2_000, 20_000, 200_000, args.max_open)
        idle_table(folder, tuple(n for n in sizes if n <= max(args.max_open, 200)))
        n_delay, spread = (200, 5.0) if quick else (2_000, 30.0)
        p50, p99, worst = delivery_delay(folder, n_delay, spread)
        print(f"Due to delivered, poll=1s, {n_delay:,} touchpoints over {spread:.0f} s: "
              f"p50 {p50:.2f} s, p99 {p99:.2f} s, max {worst:.2f} s (goal p99 < 2 s)\n")
        n_crash, kills = (500, 3) if quick else (3_000, 8)
        crash = crash_recovery(folder, n_crash, kills)
        print(f"Crash recovery: {n_crash:,} touchpoints, {crash['kills']:.0f} SIGKILLs at random "
              f"moments: {crash['duplicates']:.0f} sent twice (at most one in flight per kill), "
              f"drained {crash['drain']:.1f} s after the last kill (lease 2 s)")


if __name__ == "__main__":
    main()
