"""``carekit worker``: one pass, bad stores, logs."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import os
import pathlib
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from tests.journeys._store_helpers import T0

from carekit.cli import main
from carekit.journeys import Event, SQLiteJourneyStore, order_journey
from carekit.journeys.stores import _sqlite_schema


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue()


def _orders(db: pathlib.Path) -> None:
    with SQLiteJourneyStore(db) as store:
        store.create(order_journey(), "o-1", at=T0, channel="email")
        store.append("o-1", Event("place", at=T0, id="p"))   # never acknowledged


def test_once_fires_what_is_due_and_reports(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "j.db"
    _orders(db)
    status, text = _run("worker", "--store", f"sqlite:///{db}", "--once",
                        "--now", "2026-03-02T11:00+00:00", "--log-level", "error")
    assert (status, text) == (0, "2026-03-02T11:00:00+00:00 fired 1, sent 0, failed 0, dead 0, "
                                 "deferred 0, withdrawn 0\n")
    with SQLiteJourneyStore(db) as store:
        assert [e.name for e in store.events("o-1")] == ["place", "acknowledgement_overdue"]
    # a plain path names a SQLite store too; nothing more is due
    status, text = _run("worker", "--store", str(db), "--once", "--now",
                        "2026-03-02T12:00+00:00", "--log-level", "error")
    assert status == 0 and "fired 0" in text


@pytest.mark.parametrize("lease", ["5s", "20s", "1s"])
def test_a_short_lease_needs_no_timeout(tmp_path: pathlib.Path, lease: str) -> None:
    # Regression: the default --timeout (20s) refused every --lease of 20s or less.
    db = tmp_path / "j.db"
    _orders(db)
    status, text = _run("worker", "--store", f"sqlite:///{db}", "--once", "--lease", lease,
                        "--now", "2026-03-02T11:00+00:00", "--log-level", "error")
    assert status == 0 and "fired 1" in text


def test_the_log_level_is_the_callers_again_after_the_command(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "j.db"
    _orders(db)
    logger = logging.getLogger("carekit")
    before, handlers = logger.level, list(logger.handlers)
    logger.setLevel(logging.WARNING)
    try:
        status, _ = _run("worker", "--store", str(db), "--once", "--now",
                         "2026-03-02T11:00+00:00", "--log-level", "error")
        assert status == 0
        assert logger.level == logging.WARNING  # not left at ERROR by --log-level error
        assert logger.handlers == handlers  # its stderr handler is gone too
    finally:
        logger.setLevel(before)


def _foreign_database(path: pathlib.Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE orders (id)")
        conn.commit()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"not a database\n" * 100), "is not a readable carekit store"),
        (_foreign_database, "is a SQLite database of another application"),
        (None, "was written by a newer carekit"),
    ],
)
def test_a_bad_store_is_one_clear_line(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], make: object, message: str
) -> None:
    db = tmp_path / "bad.db"
    if make is None:
        _orders(db)
        conn = sqlite3.connect(db)
        conn.execute(f"PRAGMA user_version = {_sqlite_schema.SCHEMA_VERSION + 1}")
        conn.close()
    else:
        make(db)  # type: ignore[operator]
    status, _ = _run("worker", "--store", f"sqlite:///{db}", "--once")
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("carekit worker: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--store", "memory://", "--now", "2026-03-02T11:00+00:00"], "--now needs --once"),
        (["--store", "ftp://x", "--once"], "unknown journey store URL scheme 'ftp'"),
        (["--store", "STORE", "--once", "--lease", "5s", "--timeout", "10s"],
         "--timeout (0:00:10) must be shorter than --lease (0:00:05)"),
        (["--store", "STORE", "--once", "--lease", "20s", "--timeout", "20s"],
         "--timeout (0:00:20) must be shorter than --lease (0:00:20)"),
        # Regression: a store in memory was taken, and the worker waited on it for ever.
        (["--store", "memory://", "--once"], "a memory:// store lives inside one process"),
        (["--store", "sqlite:///:memory:", "--once"],
         "a SQLite store in memory (:memory:) lives inside one process"),
    ],
)
def test_bad_options_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path, argv: list[str], message: str
) -> None:
    db = tmp_path / "j.db"
    with SQLiteJourneyStore(db) as store:
        store.create(order_journey(), "o-1", at=T0, channel="email")
    argv = [f"sqlite:///{db}" if a == "STORE" else a for a in argv]
    status, _ = _run("worker", *argv)
    assert status == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ftp://u@h/x?password=s3cret", "'ftp://u@h/x?password=***'"),
        ("postgresql://u@h/db?schema=a&schema=b&sslpassword=s3cret",
         "names its schema once (got 'postgresql://u@h/db?schema=a&schema=b&sslpassword=***')"),
        ("postgresql://u:s3cret@[::1/db", "is not a valid PostgreSQL URL"),
    ],
)
def test_a_bad_url_is_one_line_without_its_password(
    capsys: pytest.CaptureFixture[str], url: str, shown: str
) -> None:
    status, _ = _run("worker", "--store", url, "--once")
    err = capsys.readouterr().err
    assert status == 2
    assert shown in err and "s3cret" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["worker", "--once", "--store"],
        ["journey", "load", "events.csv", "--store"],
        ["journey", "dispatch", "--db"],
    ],
)
def test_a_libpq_key_value_store_is_one_line_without_its_password(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], argv: list[str],
) -> None:
    # Regression: it was taken as a SQLite file name, created (journey load) or shown in
    # a "does not exist" error (worker, dispatch), password and all.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "events.csv").write_text(
        "journey_id,event,at,id\no-1,place,2026-03-02T09:00:00+00:00,p\n", encoding="utf-8")
    try:
        status, _ = _run(*argv, "host=127.0.0.1 password=s3cret")
    except SystemExit as exc:  # dispatch --db: refused by its option type
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2
    assert "libpq key=value connection string (host=..., password=...)" in err
    assert "postgresql://USER:PASSWORD@HOST:PORT/DBNAME" in err
    assert "s3cret" not in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.csv"]


@pytest.mark.parametrize("text", ["0s", "-1s", "soon", "400d"])
def test_durations_are_checked(capsys: pytest.CaptureFixture[str], text: str) -> None:
    with pytest.raises(SystemExit) as info:
        _run("worker", "--store", "memory://", "--once", f"--lease={text.lstrip('=')}")
    assert info.value.code == 2
    assert "expected a duration" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--lease", "--poll", "--backoff", "--timeout"])
def test_a_negative_duration_after_a_space_gets_the_durations_message(
    capsys: pytest.CaptureFixture[str], option: str
) -> None:
    # Regression: `--lease -5s` got argparse's "expected one argument" (it took -5s for an
    # option), which hid what was wrong.
    with pytest.raises(SystemExit) as info:
        _run("worker", "--store", "memory://", "--once", option, "-5s")
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert f"argument {option}: expected a duration above zero and at most a year " \
        "(got '-5s')" in err
    assert "expected one argument" not in err


def test_json_logs_carry_the_structured_fields(tmp_path: pathlib.Path) -> None:
    from carekit.journeys._worker_cli import JsonFormatter, configure_logging, remove_logging

    stream = io.StringIO()
    handler = configure_logging("info", "json", stream)
    try:
        logging.getLogger("carekit.worker").info(
            "sent k via email", extra={"key": "o-1/order_thanks/2", "outcome": "sent",
                                       "attempt": 1, "latency_ms": 1.5, "channel": "email"})
    finally:
        remove_logging(handler)
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["message"] == "sent k via email" and record["level"] == "info"
    assert (record["key"], record["outcome"], record["attempt"]) == ("o-1/order_thanks/2",
                                                                     "sent", 1)
    assert isinstance(JsonFormatter(), logging.Formatter)


@pytest.mark.parametrize("empty", [True, False])
def test_a_missing_or_empty_sqlite_file_is_refused_not_turned_into_a_store(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], empty: bool
) -> None:
    # Regression (r16): an existing empty file was silently turned into a store.
    db = tmp_path / "typo.db"
    if empty:
        db.write_bytes(b"")
    for argv in (["worker", "--store", f"sqlite:///{db}", "--once"],
                 ["journey", "dispatch", "--db", str(db)]):
        status, _ = _run(*argv)
        err = capsys.readouterr().err
        assert status == 2
        assert ("is empty" in err or "is an empty file" in err) if empty else (
            "does not exist" in err)
    assert db.exists() == empty and (not empty or db.stat().st_size == 0)


def test_a_sqlite_url_is_read_as_open_store_reads_it(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Regression: the existence check read the path itself, so a percent-encoded path was
    # "missing" though open_store opens it, and sqlite://x.db was reported as '.db'.
    monkeypatch.chdir(tmp_path)
    _orders(tmp_path / "my shop.db")
    status, text = _run("worker", "--store", "sqlite:///my%20shop.db", "--once",
                        "--now", "2026-03-02T11:00+00:00", "--log-level", "error")
    assert status == 0 and "fired 1" in text
    capsys.readouterr()
    status, _ = _run("worker", "--store", "sqlite://x.db", "--once")
    err = capsys.readouterr().err
    assert status == 2
    assert "a SQLite URL reads sqlite:///relative/path.db" in err and "'.db'" not in err


# `carekit worker --once` in a process of its own, its plugin found through a stand-in entry
# point: each delivery notes its key, then (for the first) waits to be stopped.
_ONCE = """
import importlib.metadata, os, sys, time
from carekit import hookimpl
from carekit.channels import DeliveryResult
from carekit.cli import main

log = sys.argv[2]

class Slow:
    @hookimpl
    def carekit_deliver_touchpoint(self, idempotency_key):
        with open(log, "a") as fh:
            fh.write(idempotency_key + "\\n")
        time.sleep(1.0)
        return DeliveryResult(reference="r")

class EntryPoint:
    name, value = "slow", "slow:Slow"
    def load(self):
        return Slow()

importlib.metadata.entry_points = lambda *, group: [EntryPoint()] if group == "carekit" else []
sys.exit(main(["worker", "--store", sys.argv[1], "--once", "--log-level", "error",
               "--now", "2026-03-02T09:05+00:00"]))
"""


def _start_script(
    tmp_path: pathlib.Path, source: str, db: pathlib.Path, log: pathlib.Path
) -> subprocess.Popen[str]:
    """Run ``source`` (a script like :data:`_ONCE`) in a process of its own on ``db``."""
    script = tmp_path / "worker_script.py"
    script.write_text(source)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(pathlib.Path(__file__).resolve().parents[2] / "src") + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.Popen([sys.executable, str(script), f"sqlite:///{db}", str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or sys.platform == "win32",
                    reason="needs POSIX signals")
def test_sigterm_during_once_records_the_delivery_and_gives_the_claims_back(
    tmp_path: pathlib.Path,
) -> None:
    # Regression: SIGTERM killed a --once pass outright (exit 143), its batch left claimed
    # for the whole lease, though a running worker stops cleanly on it.
    db, log = tmp_path / "j.db", tmp_path / "sent.log"
    with SQLiteJourneyStore(db) as store:
        for i in range(5):
            store.create(order_journey(), f"o-{i}", at=T0, channel="email")
            store.append(f"o-{i}", [Event("place", at=T0, id=f"p{i}"),
                                    Event("acknowledge", at=T0, id=f"a{i}")])
    proc = _start_script(tmp_path, _ONCE, db, log)
    deadline = time.monotonic() + 30
    while not (log.exists() and log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "sent 1," in out
    with SQLiteJourneyStore(db) as store:
        assert store.outbox_counts()["sent"] == 1
        # the other four were given back: claimable at once, not after the 30 s lease
        later = dt.datetime(2026, 3, 2, 9, 6, tzinfo=dt.timezone.utc)
        assert len(store.claim_due(now=later, limit=10, lease=dt.timedelta(seconds=5),
                                   claimant="next")) == 4


def test_the_worker_page_lists_every_option() -> None:
    # Regression: the option table of "Run the worker in production" left out --now.
    import argparse

    from carekit.journeys._worker_cli import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    page = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "worker.md").read_text()
    table = [line for line in page.splitlines() if line.startswith("| `--")]
    listed = {line.split("`")[1].split()[0] for line in table}
    assert sorted(set(options) - {"--help"} - listed) == []


@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_claimant_is_refused_in_the_options_words(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    # Regression: the library's words came through, "--claimant must be a non-empty string
    # or None", and a name of spaces was taken.
    with pytest.raises(SystemExit) as info:
        _run("worker", "--store", "memory://", "--once", f"--claimant={name}")
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert f"argument --claimant: expected a worker name, not an empty one (got {name!r})" in err
    assert "None" not in err


def test_a_new_postgres_schema_is_named_in_a_warning_and_a_used_one_is_not(
    postgres_url: str, postgres_schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A mistyped ?schema= makes a new, empty store that a worker would wait on forever.
    from carekit.journeys import PostgresJourneyStore

    url = f"{postgres_url}?schema={postgres_schema}"
    with caplog.at_level(logging.WARNING, logger="carekit.worker"):
        status, _ = _run("worker", "--store", url, "--once")
    assert status == 0
    warned = [r.getMessage() for r in caplog.records if r.name == "carekit.worker"]
    assert len(warned) == 1
    assert f"schema {postgres_schema!r}" in warned[0]
    assert "held no carekit store" in warned[0] and "?schema=" in warned[0]
    caplog.clear()
    with PostgresJourneyStore(postgres_url, schema=postgres_schema) as store:
        store.create(order_journey(), "o-1", at=T0, channel="email")
    with caplog.at_level(logging.WARNING, logger="carekit.worker"):
        status, _ = _run("worker", "--store", url, "--once", "--now", T0.isoformat())
    assert status == 0
    assert not [r for r in caplog.records if r.name == "carekit.worker"]


_HANGS = _ONCE.replace("time.sleep(1.0)", "time.sleep(60)").replace(
    '"--once", "--log-level", "error",', '"--once", "--log-level", "info", "--timeout", "20s",')


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or sys.platform == "win32",
                    reason="needs POSIX signals")
def test_a_second_ctrl_c_stops_at_once(tmp_path: pathlib.Path) -> None:
    # Regression: a second Ctrl-C did nothing; the worker still waited for the delivery in
    # flight (up to --timeout) before it stopped.
    db, log = tmp_path / "j.db", tmp_path / "sent.log"
    with SQLiteJourneyStore(db) as store:
        store.create(order_journey(), "o-0", at=T0, channel="email")
        store.append("o-0", [Event("place", at=T0, id="p0"), Event("acknowledge", at=T0, id="a0")])
    proc = _start_script(tmp_path, _HANGS, db, log)
    try:
        deadline = time.monotonic() + 30
        while not (log.exists() and log.read_text()) and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert proc.poll() is None  # the first one waits for the delivery in flight
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:  # pragma: no cover - only when the test fails
            proc.kill()
            proc.communicate()
    assert time.monotonic() - started < 10
    assert proc.returncode == 130
    assert "SIGINT again stops at once" in err
    assert "got SIGINT again: stopping now" in err
    # As the line says: the delivery in flight is recorded as interrupted, to be tried again.
    assert "in flight recorded as interrupted (tried again later)" in err
    with SQLiteJourneyStore(db) as store:
        [entry] = store.outbox()
    assert (entry.status, entry.last_error, entry.attempts) == ("failed", "interrupted", 1)
    assert err.strip().splitlines()[-1] == "carekit worker: interrupted"
