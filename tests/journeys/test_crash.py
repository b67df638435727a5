"""Real processes: a writer killed with SIGKILL mid-stream, two processes racing on one store."""

from __future__ import annotations

import os
import pathlib
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
from tests.journeys._store_helpers import T0, order_events

from carekit.journeys import SQLiteJourneyStore, order_journey, service_case_journey

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals"),
]

_PRELUDE = """
import datetime as dt
import sys
from carekit import ConcurrencyError
from carekit.journeys import Event, SQLiteJourneyStore
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
"""

# Appends customer contacts c{start}, c{start+1}… in batches; prints "ack N" once the batch
# ending with contact N has been committed.
_WRITER = _PRELUDE + """
path, start, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = SQLiteJourneyStore(path)
k = start
while True:
    events = [
        Event("customer_contact", at=T0 + dt.timedelta(seconds=n), id=f"c{n}")
        for n in range(k, k + batch)
    ]
    store.append("case-1", events)
    k += batch
    print(f"ack {k - 1}", flush=True)
"""

# Appends `count` notes with ids {name}-0… to one journey, retrying on ConcurrencyError.
_RACER = _PRELUDE + """
path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = SQLiteJourneyStore(path)
conflicts = 0
for i in range(count):
    while True:
        journey = store.load("case-1")
        event = Event("customer_contact", at=T0 + dt.timedelta(seconds=journey.version),
                      id=f"{name}-{i}")
        try:
            store.append("case-1", event, expected_version=journey.version)
            break
        except ConcurrencyError:
            conflicts += 1
print(conflicts, flush=True)
"""

# Owes a promise_at_risk_notice per event: order-0 is placed, then `count` risk events.
_OWER = _PRELUDE + """
path, count = sys.argv[1], int(sys.argv[2])
store = SQLiteJourneyStore(path)
for i in range(count):
    store.append("order-0", Event("promise_at_risk", at=T0 + dt.timedelta(seconds=i + 1),
                                  id=f"risk-{i}"))
print("done", flush=True)
"""

# Dispatches with a channel plugin that appends every key it is given to a log file.
_DISPATCHER = _PRELUDE + """
import os
from carekit import hookimpl
from carekit.channels import DeliveryResult
from carekit.testing import make_carekit

import time
path, log, now = sys.argv[1], sys.argv[2], dt.datetime.fromisoformat(sys.argv[3])
pause = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0

class Logger:
    @hookimpl
    def carekit_deliver_touchpoint(self, touchpoint, channel, idempotency_key):
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, (idempotency_key + "\\n").encode())
        os.close(fd)
        time.sleep(pause)
        return DeliveryResult(reference=str(os.getpid()))

store = SQLiteJourneyStore(path)
rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 1
lease = float(sys.argv[6]) if len(sys.argv) > 6 else 300.0
sent = 0
for _ in range(rounds):
    report = make_carekit(Logger()).dispatch(store, now=now, batch_size=5, lease=lease)
    sent += len(report.sent)
    if rounds > 1:
        time.sleep(0.01)
print(sent, flush=True)
"""


def _script(tmp_path: pathlib.Path, name: str, text: str) -> pathlib.Path:
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(text))
    return script


def _env() -> dict[str, str]:
    env = dict(os.environ)
    root = str(pathlib.Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _stored_ids(db: pathlib.Path) -> list[str]:
    with SQLiteJourneyStore(db) as store:
        journey = store.load("case-1")
        ids = [e.id or "" for e in store.events("case-1")]
        assert journey.version == len(ids)
    return ids


def _kill_writer_after(db: pathlib.Path, script: pathlib.Path, start: int, acks: int) -> int:
    """Run the writer from contact ``start``; SIGKILL it after ``acks`` acks; last acked."""
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db), str(start), "7"],
        stdout=subprocess.PIPE, text=True, env=_env(),
    )
    assert proc.stdout is not None
    last = start - 1
    try:
        for _ in range(acks):
            line = proc.stdout.readline()
            assert line.startswith("ack "), line
            last = int(line.split()[1])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    return last


def test_sigkilled_writer_loses_no_acknowledged_event_and_duplicates_none(
    tmp_path: pathlib.Path,
) -> None:
    db = tmp_path / "crash.db"
    with SQLiteJourneyStore(db) as store:
        store.create(service_case_journey(), "case-1", at=T0)
    script = _script(tmp_path, "writer", _WRITER)
    start = 0
    for round_, acks in enumerate((40, 113, 71)):
        acked = _kill_writer_after(db, script, start, acks)
        ids = _stored_ids(db)
        # Every acknowledged event is there, once, in order; at most a few unacknowledged
        # ones after it (committed just before the kill), never half a batch.
        assert len(ids) == len(set(ids))
        assert ids == [f"c{n}" for n in range(len(ids))]
        assert len(ids) - 1 >= acked
        assert len(ids) % 7 == 0, f"round {round_}: a batch was half written"
        # The next writer restarts a little before the end, resending stored ids.
        start = max(0, len(ids) - 14)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with SQLiteJourneyStore(db) as store:
        journey = store.load("case-1")
        [summary] = store.journeys()
        assert summary.version == journey.version
        assert store.append("case-1", order_events()[:0]).version == journey.version


def test_two_processes_racing_on_one_journey(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "race.db"
    with SQLiteJourneyStore(db) as store:
        store.create(service_case_journey(), "case-1", at=T0)
    script = _script(tmp_path, "racer", _RACER)
    procs = [
        subprocess.Popen([sys.executable, str(script), str(db), name, "60"],
                         stdout=subprocess.PIPE, text=True, env=_env())
        for name in ("a", "b")
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    ids = _stored_ids(db)
    assert sorted(ids) == sorted(f"{n}-{i}" for n in "ab" for i in range(60))


def test_two_dispatcher_processes_send_each_touchpoint_once(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "outbox.db"
    with SQLiteJourneyStore(db) as store:
        for i in range(120):
            store.create(order_journey(), f"order-{i}", at=T0, channel="email")
            store.append(f"order-{i}", order_events()[:2])
    script = _script(tmp_path, "dispatcher", _DISPATCHER)
    log = tmp_path / "sent.log"
    now = (T0.replace(hour=12)).isoformat()
    procs = [
        subprocess.Popen([sys.executable, str(script), str(db), str(log), now],
                         stdout=subprocess.PIPE, text=True, env=_env())
        for _ in range(2)
    ]
    sent = [int(p.communicate(timeout=120)[0]) for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    keys = log.read_text().split()
    assert sum(sent) == 120
    assert sorted(keys) == sorted(f"order-{i}/order_thanks/2" for i in range(120))
    with SQLiteJourneyStore(db) as store:
        assert {e.status for e in store.outbox()} == {"sent"}
        assert all(j.owed == () for j in store.load_many())


def test_a_sigkilled_dispatcher_loses_nothing_and_resends_with_the_same_key(
    tmp_path: pathlib.Path,
) -> None:
    db = tmp_path / "outbox.db"
    with SQLiteJourneyStore(db) as store:
        for i in range(60):
            store.create(order_journey(), f"order-{i}", at=T0, channel="email")
            store.append(f"order-{i}", order_events()[:2])
    script = _script(tmp_path, "dispatcher", _DISPATCHER)
    log = tmp_path / "sent.log"
    now = T0.replace(hour=12)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db), str(log), now.isoformat(), "0.01", "1", "1"],
        stdout=subprocess.PIPE, text=True, env=_env(),
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if log.exists() and len(log.read_text().split()) >= 17:
                break
            time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    before = log.read_text().split()
    assert 17 <= len(before) < 60, "the dispatcher was not killed mid-stream"

    def rerun() -> None:
        subprocess.run(
            [sys.executable, str(script), str(db), str(log), now.isoformat(), "0", "1", "1"],
            capture_output=True, text=True, env=_env(), timeout=120, check=True,
        )

    # Within the lease (1 s, on the store's clock) nobody touches what the dead dispatcher
    # still held: the rest of its batch of 5…
    rerun()
    with SQLiteJourneyStore(db) as store:
        held = [e for e in store.outbox() if e.status != "sent"]
    assert len(held) <= 5
    # …after it, those are sent; each outcome was recorded as soon as it was known, so only
    # the delivery in flight at the kill is sent twice (with the same key).
    time.sleep(1.2)
    rerun()
    keys = log.read_text().split()
    expected = {f"order-{i}/order_thanks/2" for i in range(60)}
    assert set(keys) == expected
    resent = [k for k in set(keys) if keys.count(k) > 1]
    assert len(resent) <= 1
    with SQLiteJourneyStore(db) as store:
        assert {e.status for e in store.outbox()} == {"sent"}
        assert {e.attempts for e in store.outbox() if e.idempotency_key in resent} == (
            {2} if resent else set()
        )


def test_one_process_appends_while_another_dispatches(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "busy.db"
    with SQLiteJourneyStore(db) as store:
        store.create(order_journey(), "order-0", at=T0, channel="email")
        store.append("order-0", order_events()[:1])
    ower = _script(tmp_path, "ower", _OWER)
    dispatcher = _script(tmp_path, "dispatcher", _DISPATCHER)
    log = tmp_path / "sent.log"
    later = T0.replace(hour=20).isoformat()
    procs = [
        subprocess.Popen([sys.executable, str(ower), str(db), "150"],
                         stdout=subprocess.PIPE, text=True, env=_env()),
        subprocess.Popen([sys.executable, str(dispatcher), str(db), str(log), later, "0", "40"],
                         stdout=subprocess.PIPE, text=True, env=_env()),
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    # Whatever the dispatcher did not see while the writer ran, a last round delivers.
    subprocess.run([sys.executable, str(dispatcher), str(db), str(log), later],
                   capture_output=True, env=_env(), timeout=120, check=True)
    keys = log.read_text().split()
    assert sorted(keys) == sorted(f"order-0/promise_at_risk_notice/{v}" for v in range(2, 152))
    with SQLiteJourneyStore(db) as store:
        journey = store.load("order-0")
        assert journey.version == 151 and journey.owed == ()
        assert {e.status for e in store.outbox()} == {"sent"}
