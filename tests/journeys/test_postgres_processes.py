"""Real processes on one PostgreSQL database: writers and workers at once, crashes, a restart.

Each worker is a ``carekit.journeys.Worker`` in its own process whose channel plugin appends
every idempotency key it is given to a shared log file (one ``write`` per line, in append
mode), so the test sees exactly what was delivered, by whom, and how often.
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.journeys._postgres import (
    drop_schema,
    new_schema,
    require_server,
    server_lock,
)

from carekit.journeys import PostgresJourneyStore, service_case_journey

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals"),
]

_WORKER = """
import datetime as dt, json, os, sys, time
from carekit import hookimpl
from carekit.channels import DeliveryResult
from carekit.journeys import PostgresJourneyStore, Worker
from carekit.testing import make_carekit

url, schema, log, delay, lease, batch, claimant = sys.argv[1:8]

class Log:
    @hookimpl
    def carekit_deliver_touchpoint(self, touchpoint, channel, idempotency_key):
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, f"{claimant} {idempotency_key}\\n".encode())
        os.close(fd)
        time.sleep(float(delay))
        return DeliveryResult(reference=idempotency_key)

store = PostgresJourneyStore(url, schema=schema, pool_size=2, pool_timeout=2)
worker = Worker(make_carekit(Log()), store, lease=dt.timedelta(seconds=float(lease)),
                poll=dt.timedelta(seconds=0.2), batch_size=int(batch), timeout=None,
                claimant=claimant)
print("ready", flush=True)
worker.run()
print(json.dumps(worker.counters), flush=True)
store.close()
"""

# Creates service cases (each owes case_received at once) and orders placed two hours ago
# (their acknowledgement deadline is already breached); prints "ack ID" once both writes of
# a journey are committed. Retries on StoreError (a server restarting), bounded.
_WRITER = """
import datetime as dt, sys, time
from carekit import StoreError
from carekit.journeys import Event, PostgresJourneyStore

url, schema, name, cases, orders, pause = sys.argv[1:7]
store = PostgresJourneyStore(url, schema=schema, pool_size=2, pool_timeout=1)
errors = 0

def retried(write):
    global errors
    for _ in range(600):
        try:
            return write()
        except StoreError as exc:
            errors += 1
            print("error", exc, flush=True)
            time.sleep(0.1)
    sys.exit(3)

now = dt.datetime.now(dt.timezone.utc)
past = now - dt.timedelta(hours=2)
for i in range(int(cases)):
    jid = f"{name}-case-{i}"
    retried(lambda: store.create("service_case", jid, at=now, channel="email", exist_ok=True))
    retried(lambda: store.append(jid, Event("customer_contact", at=now, id=f"{jid}-c")))
    print("ack", jid, flush=True)
    time.sleep(float(pause))
for i in range(int(orders)):
    jid = f"{name}-order-{i}"
    retried(lambda: store.create("order", jid, at=past, channel="email", exist_ok=True))
    retried(lambda: store.append(jid, Event("place", at=past, id=f"{jid}-p")))
    print("ack", jid, flush=True)
print("errors", errors, flush=True)
store.close()
"""


def _start(script: str, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {seconds:g} s waiting for {what}")


def _logged(log: pathlib.Path) -> list[tuple[str, str]]:
    if not log.exists():
        return []
    return [tuple(line.split(" ", 1)) for line in log.read_text().splitlines()]  # type: ignore[misc]


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return out, err


@pytest.fixture
def schema(postgres_url: str) -> Iterator[str]:
    with server_lock():
        name = new_schema()
        store = PostgresJourneyStore(postgres_url, schema=name)  # tables made before the race
        store.close()
        try:
            yield name
        finally:
            drop_schema(name)


def test_four_writers_and_four_workers_lose_nothing_and_repeat_nothing(
    postgres_url: str, schema: str, tmp_path: pathlib.Path
) -> None:
    log = tmp_path / "sent.log"
    workers = [_start(_WORKER, postgres_url, schema, log, 0, 30, 10, f"w{k}") for k in range(4)]
    writers = [_start(_WRITER, postgres_url, schema, f"p{k}", 25, 8, 0) for k in range(4)]
    try:
        results = [w.communicate(timeout=120) for w in writers]
        assert [w.returncode for w in writers] == [0] * 4, [err for _, err in results]
        acked = {line.split()[1] for out, _ in results for line in out.splitlines()
                 if line.startswith("ack ")}
        assert len(acked) == 4 * (25 + 8)
        with PostgresJourneyStore(postgres_url, schema=schema) as store:
            def settled() -> bool:
                counts = store.outbox_counts()
                return counts["sent"] == 4 * 25 and counts["pending"] == 0 and not (
                    store.oldest_due(now=_now())
                )

            _wait_for(settled, 90, "every touchpoint delivered and every deadline fired")
            assert store.outbox_counts() == {
                "pending": 0, "failed": 0, "deferred": 0, "sent": 100, "dead": 0, "withdrawn": 0
            }
            summaries = {s.journey_id: s for s in store.journeys()}
            assert set(summaries) == acked
            for journey_id in acked:
                names = [e.name for e in store.events(journey_id)]
                if "-order-" in journey_id:
                    assert names == ["place", "acknowledgement_overdue"], journey_id
                else:
                    assert names == ["customer_contact"], journey_id
            keys = {e.idempotency_key for e in store.outbox()}
    finally:
        outputs = [_stop(w) for w in workers]
    counters = [json.loads(out.splitlines()[-1]) for out, _ in outputs]
    assert sum(c["fired"] for c in counters) == 4 * 8  # each breach fired by one worker
    assert sum(c["sent"] for c in counters) == 100
    delivered = collections.Counter(key for _, key in _logged(log))
    assert set(delivered) == keys
    assert max(delivered.values()) == 1  # nothing delivered twice
    assert len({who for who, _ in _logged(log)}) >= 2  # the work was shared


def test_a_sigkilled_workers_claims_are_taken_over_after_the_lease(
    postgres_url: str, schema: str, tmp_path: pathlib.Path
) -> None:
    now = _now()
    with PostgresJourneyStore(postgres_url, schema=schema) as store:
        store.create_many(
            service_case_journey().start(f"case-{i:02d}", at=now, channel="email")
            for i in range(30)
        )
    log = tmp_path / "sent.log"
    lease = 3.0
    doomed = _start(_WORKER, postgres_url, schema, log, 0.05, lease, 10, "doomed")
    try:
        _wait_for(lambda: len(_logged(log)) >= 3, 60, "the first deliveries")
        doomed.send_signal(signal.SIGKILL)
        doomed.communicate(timeout=30)
        killed_at = time.monotonic()
        with PostgresJourneyStore(postgres_url, schema=schema) as store:
            held = [e.idempotency_key for e in store.outbox(status="pending") if e.attempts]
            assert held  # claimed, not recorded: the rest of its batch
            survivor = _start(_WORKER, postgres_url, schema, log, 0, lease, 10, "survivor")
            try:
                # The others go out at once; the claims of the dead worker wait for its lease.
                _wait_for(lambda: store.outbox_counts()["sent"] >= 30 - len(held), 60,
                          "the unclaimed touchpoints")
                if time.monotonic() - killed_at < lease * 0.8:
                    early = {key for who, key in _logged(log) if who == "survivor"}
                    assert not early & set(held)
                _wait_for(lambda: store.outbox_counts()["sent"] == 30, 60,
                          "the dead worker's claims, taken over")
                entries = {e.idempotency_key: e for e in store.outbox()}
            finally:
                _stop(survivor)
    finally:
        if doomed.poll() is None:
            doomed.kill()
    assert all(entries[key].attempts == 2 for key in held)
    delivered = collections.Counter(key for _, key in _logged(log))
    assert set(delivered) == set(entries)
    repeated = [key for key, n in delivered.items() if n > 1]
    # Only the delivery in flight when the worker died can go out twice (same key).
    assert len(repeated) <= 1
    assert set(repeated) <= {key for who, key in _logged(log) if who == "doomed"}


def _restartable(url: str) -> str | None:
    """Why this test cannot restart the server (``None``: it can)."""
    host = urllib.parse.urlsplit(url).hostname or "localhost"
    if host not in ("127.0.0.1", "localhost", "::1"):
        return f"the server at {host} is not on this machine"
    if shutil.which("pg_ctlcluster") is None or not pathlib.Path("/etc/postgresql").is_dir():
        return "pg_ctlcluster (Debian's postgresql-common) is not installed"
    if not os.listdir("/etc/postgresql"):
        return "no cluster under /etc/postgresql"
    return None


def _pg_ctl(action: str) -> subprocess.CompletedProcess[str]:
    versions = [v for v in os.listdir("/etc/postgresql") if v.replace(".", "").isdigit()]
    version = max(versions, key=lambda v: tuple(int(p) for p in v.split(".")))
    return subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        capture_output=True, text=True, timeout=120, check=False,
    )


def _ready(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def test_a_server_restart_mid_stream_loses_nothing_acknowledged(tmp_path: pathlib.Path) -> None:
    url = require_server()
    why = _restartable(url)
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the restart test: {why}", pytrace=False)
        pytest.skip(why)
    log = tmp_path / "sent.log"
    with server_lock(exclusive=True):  # no other test uses the server meanwhile
        schema = new_schema()
        PostgresJourneyStore(url, schema=schema).close()
        worker = _start(_WORKER, url, schema, log, 0, 5, 10, "w")
        writer = _start(_WRITER, url, schema, "p", 150, 0, 0.02)
        try:
            acks: list[str] = []
            assert writer.stdout is not None
            for line in writer.stdout:  # read until 40 journeys are acknowledged
                if line.startswith("ack "):
                    acks.append(line.split()[1])
                if len(acks) >= 40:
                    break
            restart = _pg_ctl("restart")
            assert restart.returncode == 0, restart.stderr
            out, err = writer.communicate(timeout=180)
            assert writer.returncode == 0, err
            acks += [line.split()[1] for line in out.splitlines() if line.startswith("ack ")]
            errors = int(out.splitlines()[-1].split()[1])
            assert len(acks) == 150
            with PostgresJourneyStore(url, schema=schema) as store:
                _wait_for(lambda: store.outbox_counts()["sent"] == 150, 120,
                          "every touchpoint delivered after the restart")
                for journey_id in acks:
                    assert [e.id for e in store.events(journey_id)] == [f"{journey_id}-c"]
                keys = {e.idempotency_key for e in store.outbox()}
            assert worker.poll() is None, "the worker died in the restart"
        finally:
            _stop(writer)
            worker_out, worker_err = _stop(worker)
            if not _ready(url):
                _pg_ctl("start")
                _wait_for(lambda: _ready(url), 60, "the server to come back")
            drop_schema(schema)
    assert json.loads(worker_out.splitlines()[-1])["sent"] >= 1, worker_err
    delivered = collections.Counter(key for _, key in _logged(log))
    assert set(delivered) == keys
    # A delivery whose outcome could not be recorded while the server was down is sent
    # again, with the same key: at most the few in flight then.
    assert sum(n - 1 for n in delivered.values()) <= 2
    print(f"writer retried {errors} time(s) across the restart")


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc)
