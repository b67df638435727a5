"""Real worker processes on one SQLite store: SIGKILL at random moments, SIGTERM, two racing."""

from __future__ import annotations

import collections
import os
import pathlib
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from tests.journeys._store_helpers import T0

from carekit.journeys import Event, SQLiteJourneyStore, order_journey

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals"),
]

# A worker process: delivers through a plugin that appends each key to a log (after a short
# pause, so a kill can land mid-delivery), until nothing is left to send, or until SIGTERM.
_WORKER = """
import datetime as dt, os, sys, time
from carekit import hookimpl
from carekit.channels import DeliveryResult
from carekit.journeys import SQLiteJourneyStore, Worker
from carekit.testing import make_carekit

path, log, pause, mode = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]

class Logger:
    @hookimpl
    def carekit_deliver_touchpoint(self, idempotency_key):
        time.sleep(pause)
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, (idempotency_key + "\\n").encode())
        os.close(fd)
        return DeliveryResult(reference=str(os.getpid()))

store = SQLiteJourneyStore(path, busy_timeout=30)
worker = Worker(make_carekit(Logger()), store, lease=dt.timedelta(seconds=1), batch_size=10,
                poll=dt.timedelta(milliseconds=50), timeout=None)
print("ready", flush=True)
if mode == "forever":
    worker.run()
    print("stopped", flush=True)
else:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        report = worker.run_once(dt.datetime.now(dt.timezone.utc))
        counts = store.outbox_counts()
        if counts["pending"] + counts["failed"] + counts["deferred"] == 0:
            break
        if report.idle:
            time.sleep(0.05)
    print("done", flush=True)
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(pathlib.Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _setup(db: pathlib.Path, n: int, *, placed_only: int = 0) -> None:
    with SQLiteJourneyStore(db) as store:
        for i in range(n):
            store.create(order_journey(), f"o-{i}", at=T0, channel="email")
            events = [Event("place", at=T0, id=f"p-{i}")]
            if i >= placed_only:
                events.append(Event("acknowledge", at=T0, id=f"a-{i}"))
            store.append(f"o-{i}", events)


def _start(script: pathlib.Path, db: pathlib.Path, log: pathlib.Path, pause: float,
           mode: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db), str(log), str(pause), mode],
        stdout=subprocess.PIPE, text=True, env=_env(),
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _finish(proc: subprocess.Popen[str]) -> str:
    """The rest of a process's output once it has exited (read through the same buffer
    `readline` used: ``communicate`` could miss what that buffer already holds)."""
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.stdout.close()
    proc.wait(timeout=120)
    return out.strip()


def _keys(log: pathlib.Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def test_sigkill_at_random_moments_loses_nothing_and_resends_at_most_what_was_in_flight(
    tmp_path: pathlib.Path,
) -> None:
    db, log = tmp_path / "kill.db", tmp_path / "sent.log"
    _setup(db, 200)
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(_WORKER))
    rng = random.Random(20261207)
    kills = 0
    for _ in range(6):
        proc = _start(script, db, log, 0.004, "until-done")
        time.sleep(rng.uniform(0.05, 0.4))
        if proc.poll() is not None:
            _finish(proc)
            break
        proc.send_signal(signal.SIGKILL)
        _finish(proc)
        kills += 1
    proc = _start(script, db, log, 0.0, "until-done")
    assert _finish(proc) == "done"
    keys = _keys(log)
    expected = {f"o-{i}/order_thanks/2" for i in range(200)}
    assert set(keys) == expected  # every touchpoint delivered at least once
    twice = sum(n - 1 for n in collections.Counter(keys).values())
    assert kills >= 3
    assert twice <= kills  # at most the one delivery in flight at each kill
    with SQLiteJourneyStore(db) as store:
        assert store.outbox_counts()["sent"] == 200
    conn = __import__("sqlite3").connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_sigterm_stops_cleanly_and_nothing_is_sent_twice(tmp_path: pathlib.Path) -> None:
    db, log = tmp_path / "term.db", tmp_path / "sent.log"
    _setup(db, 120)
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(_WORKER))
    proc = _start(script, db, log, 0.01, "forever")
    deadline = time.monotonic() + 30
    while len(_keys(log)) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out = _finish(proc)
    assert proc.returncode == 0 and out == "stopped"
    stopped_at = len(_keys(log))
    assert 20 <= stopped_at < 120
    with SQLiteJourneyStore(db) as store:
        counts = store.outbox_counts()
    # Everything delivered was recorded; the rest was released (claimable at once).
    assert counts["sent"] == stopped_at and counts["pending"] == 120 - stopped_at
    proc = _start(script, db, log, 0.0, "until-done")
    assert _finish(proc) == "done"
    keys = _keys(log)
    assert len(keys) == len(set(keys)) == 120


def test_two_worker_processes_fire_each_breach_once_and_send_each_touchpoint_once(
    tmp_path: pathlib.Path,
) -> None:
    db, log = tmp_path / "two.db", tmp_path / "sent.log"
    _setup(db, 150, placed_only=50)  # 50 orders never acknowledged: their deadline breaches
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(_WORKER))
    procs = [_start(script, db, log, 0.002, "until-done") for _ in range(2)]
    for proc in procs:
        assert _finish(proc) == "done"
    keys = _keys(log)
    assert len(keys) == len(set(keys)) == 100
    with SQLiteJourneyStore(db) as store:
        breaches = collections.Counter(
            e.id for i in range(50) for e in store.events(f"o-{i}")
            if e.name == "acknowledgement_overdue"
        )
    assert len(breaches) == 50 and set(breaches.values()) == {1}
