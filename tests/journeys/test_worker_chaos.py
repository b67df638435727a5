"""What a chaos run of the worker found: each test pins one defect it showed."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import os
import pathlib
import signal
import socket
import socketserver
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest
from tests._extras import need
from tests.journeys._store_helpers import T0

from carekit.journeys import Event, SQLiteJourneyStore, Worker, order_journey
from carekit.promises import Promise
from carekit.testing import RecordingChannel, make_carekit


def _promise(day: dt.date) -> dict[str, object]:
    return Promise(ordered_at=T0, expected=day, promised=day, padding=0,
                   confidence=0.9).to_dict()


def test_a_promise_found_at_risk_carried_again_is_not_fired_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # An order whose promise was found at risk; a later event carries the same promise
    # again (an app that copies it onto every event). promise_at_risk is applied once per
    # promised date, so the worker neither counts nor logs a second one.
    caplog.set_level(logging.INFO, logger="carekit.worker")
    store = SQLiteJourneyStore(":memory:")
    store.create(order_journey(), "o1", at=T0, channel="email")
    late = _promise(dt.date(2026, 3, 3))
    store.append("o1", Event("place", at=T0, id="p", data={"promise": late}))
    worker = Worker(make_carekit(RecordingChannel("email", register=False)), store)
    now = T0 + dt.timedelta(days=3)
    first = worker.run_once(now)
    assert sorted(t.kind for t in first.timers) == ["deadline", "promise"]
    store.append("o1", Event("acknowledge", at=now, id="a", data={"promise": late}))
    caplog.clear()
    again = worker.run_once(now + dt.timedelta(minutes=1))
    assert again.fired == 0
    assert not any("promise_at_risk" in r.getMessage() for r in caplog.records
                   if r.getMessage().startswith("fired"))
    assert [e.name for e in store.events("o1")].count("promise_at_risk") == 1
    store.close()


class _Forwarder:
    """A TCP forwarder on 127.0.0.1 to the test server, started late (the server "returns")."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()  # nothing listens there until start()
        self._server: socketserver.ThreadingTCPServer | None = None

    def start(self) -> None:
        target = self.target

        class Pipe(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                upstream = socket.create_connection(target, timeout=10)
                done = threading.Event()

                def copy(src: socket.socket, dst: socket.socket) -> None:
                    with contextlib.suppress(OSError):
                        while data := src.recv(65536):
                            dst.sendall(data)
                    done.set()

                threading.Thread(target=copy, args=(upstream, self.request), daemon=True).start()
                copy(self.request, upstream)
                done.wait(10)
                upstream.close()

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Pipe)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _worker(url: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "carekit", "worker", "--store", url, "--lease", "5s", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_worker_started_while_postgresql_is_down_waits_for_it() -> None:
    # A worker (re)started by its supervisor during a database restart exited at once with
    # "cannot connect", and a supervisor that restarts quickly gives up after a few tries:
    # no worker once the database was back. It now waits for the server, as a running
    # worker rides out an outage.
    from tests.journeys._postgres import fresh_schema, server_url, with_schema

    with fresh_schema() as schema:
        server = urllib.parse.urlsplit(server_url())
        forwarder = _Forwarder((server.hostname or "127.0.0.1", server.port or 5432))
        parts = server._replace(netloc=f"{server.username or 'postgres'}@127.0.0.1:"
                                       f"{forwarder.port}")
        proc = _worker(with_schema(urllib.parse.urlunsplit(parts), schema))
        try:
            time.sleep(2.5)  # the server "is down": nothing listens on the port
            assert proc.poll() is None, proc.communicate(timeout=10)
            forwarder.start()
            time.sleep(6)  # the next try (at most 5 s later) connects, and the worker runs
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            forwarder.stop()
    assert proc.returncode == 0, err
    assert "cannot open the store yet, trying again" in err
    assert " started on PostgresJourneyStore(" in err
    assert out.startswith("worker stopped: ")


@pytest.mark.slow
def test_a_postgresql_login_refused_is_not_waited_for() -> None:
    from tests.journeys._postgres import require_server, server_url

    require_server()
    url = urllib.parse.urlsplit(server_url())
    wrong = urllib.parse.urlunsplit(url._replace(path="/carekit_no_such_database"))
    started = time.monotonic()
    proc = _worker(wrong, "--once")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "cannot connect" in err
    assert "trying again" not in err
    assert time.monotonic() - started < 20


def test_a_single_pass_on_an_unreachable_server_fails_at_once() -> None:
    # --once is a cron job's pass, or someone trying a URL: the first error is the answer,
    # not a minute of tries (a running worker waits; see above).
    need("psycopg", "postgres")
    need("psycopg_pool", "postgres")
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    proc = _worker(f"postgresql://postgres@127.0.0.1:{port}/test", "--once")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "cannot connect" in err, err
    assert "trying again" not in err
    assert time.monotonic() - started < 20


def test_the_database_drivers_warnings_come_out_in_the_workers_log_format() -> None:
    # While PostgreSQL was unreachable, the driver's pool warned ("error connecting in
    # ...", over two lines) straight to stderr, breaking `--log-format json`'s one JSON
    # object per line.
    from carekit.journeys._worker_cli import configure_logging, remove_logging

    stream = io.StringIO()
    handler = configure_logging("info", "json", stream)
    try:
        logging.getLogger("psycopg.pool").warning(
            "error connecting in 'carekit-shop': connection failed: Connection refused\n"
            "\tIs the server running on that host and accepting TCP/IP connections?"
        )
    finally:
        remove_logging(handler)
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert (record["logger"], record["level"]) == ("psycopg.pool", "warning")
    assert handler not in logging.getLogger("psycopg").handlers


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_worker_started_on_a_sqlite_file_locked_by_a_migration_waits_for_it(
    tmp_path: pathlib.Path,
) -> None:
    # A file written by an older carekit is migrated by the first process to open it, in
    # one write transaction; a worker started meanwhile waited busy_timeout (10 s), then
    # exited with "stayed locked by another writer". It now tries again.
    from carekit.journeys.stores import _sqlite_schema

    db = tmp_path / "old.db"
    conn = sqlite3.connect(db, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode = WAL")
    _sqlite_schema.migrate(conn, str(db), target=3)
    conn.execute("BEGIN EXCLUSIVE")  # another process migrating a large file
    proc = _worker(f"sqlite:///{db}")
    try:
        time.sleep(12)  # longer than the store's busy_timeout
        assert proc.poll() is None, proc.communicate(timeout=10)
        conn.execute("COMMIT")
        time.sleep(3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        conn.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stayed locked by another writer" in err and "trying again" in err
    assert out.startswith("worker stopped: ")
    with SQLiteJourneyStore(db) as store:
        assert store.schema_version == _sqlite_schema.SCHEMA_VERSION
