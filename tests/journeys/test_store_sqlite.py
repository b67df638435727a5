"""What only the SQLite store does: survive reopening, schema versions, bad files, threads."""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import sqlite3
import threading
import zoneinfo

import pytest
from tests.journeys._store_helpers import (
    HOUR,
    MINUTE,
    T0,
    notes,
    order_events,
    same_journey,
    ticket_journey,
)

from carekit import CareKitError, ConcurrencyError, StoreError
from carekit.journeys import Event, SQLiteJourneyStore, State, Transition, order_journey
from carekit.journeys.stores import _sqlite_schema as _schema


def _open(path: pathlib.Path, **options: object) -> SQLiteJourneyStore:
    return SQLiteJourneyStore(path, definitions=[ticket_journey()], **options)  # type: ignore[arg-type]


def test_everything_survives_reopening(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "j.db"
    london = zoneinfo.ZoneInfo("Europe/London")
    with _open(db) as store:
        store.create(order_journey(), "order-1", at=T0.astimezone(london), channel="email")
        before = store.append("order-1", order_events(T0.astimezone(london))[:5])
    with _open(db) as store:
        after = store.load("order-1")
        same_journey(after, before)
        assert after.started_at.tzinfo == london
        assert store.events("order-1")[4].data == {"tracking_number": "1Z999"}
        # Ids stay known after a restart: the UNIQUE constraint, not a memory set.
        assert store.append("order-1", order_events()[:5]).version == 5
        assert store.schema_version == _schema.SCHEMA_VERSION


def test_wal_and_synchronous_modes(tmp_path: pathlib.Path) -> None:
    with _open(tmp_path / "full.db") as store:
        conn = store._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with _open(tmp_path / "normal.db", synchronous="normal") as store:
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    with pytest.raises(CareKitError, match="synchronous"):
        _open(tmp_path / "x.db", synchronous="OFF")
    with pytest.raises(CareKitError, match="busy_timeout"):
        _open(tmp_path / "x.db", busy_timeout=-1)
    with pytest.raises(CareKitError, match="path"):
        SQLiteJourneyStore(42)  # type: ignore[arg-type]


def test_a_file_of_garbage_is_a_store_error(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "garbage.db"
    db.write_bytes(os.urandom(8192))
    with pytest.raises(StoreError, match="corrupt or is not a SQLite database"):
        _open(db)


def test_a_text_file_is_a_store_error(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "notes.txt"
    db.write_text("order_id,placed_at\n42,2026-03-02\n" * 200)
    with pytest.raises(StoreError, match="not a SQLite database"):
        _open(db)


def test_a_damaged_store_is_a_store_error_not_a_partial_journey(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "damaged.db"
    with _open(db) as store:
        store.create("ticket", "t-1", at=T0)
        store.append("t-1", notes(400))
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db.read_bytes())
    page = 4096
    # Overwrite every page after the first (schema) page with noise.
    data[page:] = os.urandom(len(data) - page)
    db.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="corrupt|not a readable"), _open(db) as store:
        store.load("t-1")


def test_another_applications_database_is_refused(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "shop.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total REAL)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="another application"):
        _open(db)
    # It was not touched.
    conn = sqlite3.connect(db)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_schema")]
    conn.close()
    assert tables == ["orders"]


def test_a_newer_schema_is_refused_with_a_hint(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "new.db"
    with _open(db) as store:
        store.create("ticket", "t-1", at=T0)
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {_schema.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer carekit.*upgrade carekit"):
        _open(db)
    with pytest.raises(StoreError, match="newer carekit"):
        _open(db, read_only=True)


def test_an_older_schema_is_migrated_and_keeps_its_journeys(tmp_path: pathlib.Path) -> None:
    # Write a store the way schema version 1 did, then open it with this carekit.
    db = tmp_path / "v1.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    _schema.migrate(conn, str(db), target=1)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.execute(
        "INSERT INTO journeys (journey_id, definition, started_at, state, version, updated_at)"
        " VALUES ('order-1', 'order', ?, 'placed', 1, ?)",
        (T0.isoformat(), T0.isoformat()),
    )
    conn.execute(
        "INSERT INTO events (journey_id, seq, event_id, name, at) VALUES"
        " ('order-1', 1, 'e1', 'place', ?)",
        (T0.isoformat(),),
    )
    conn.close()
    with _open(db) as store:
        assert store.schema_version == _schema.SCHEMA_VERSION
        assert store.load("order-1").state == "placed"
        journey = store.append("order-1", order_events()[:2])
        assert journey.version == 2
        assert [e.reference for e in store.outbox("order-1")] == [None]


def test_read_only_opening(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "ro.db"
    with _open(db) as store:
        store.create("ticket", "t-1", at=T0)
    with _open(db, read_only=True) as store:
        assert store.load("t-1").state == "open"
        assert [s.journey_id for s in store.journeys()] == ["t-1"]
        with pytest.raises(StoreError, match="read_only=True"):
            store.append("t-1", notes(1))
    with pytest.raises(StoreError, match="does not exist"):
        _open(tmp_path / "missing.db", read_only=True)


def test_a_read_only_file_is_a_store_error(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "locked.db"
    with _open(db) as store:
        store.create("ticket", "t-1", at=T0)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Root ignores file modes: make the folder read-only with a private bind mount.
        _a_read_only_file_as_root(tmp_path, db)
        return
    db.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(StoreError, match="read-only|cannot open"), _open(db) as store:
            store.append("t-1", notes(1))
    finally:
        tmp_path.chmod(0o755)
        db.chmod(0o644)


def _a_read_only_file_as_root(folder: pathlib.Path, db: pathlib.Path) -> None:
    import subprocess
    import sys

    if not _can_mount_read_only(folder):
        pytest.skip("as root, needs unshare and a private read-only bind mount")
    script = (
        "import datetime as dt\n"
        "from carekit import StoreError\n"
        "from carekit.journeys import Event, SQLiteJourneyStore\n"
        "from tests.journeys._store_helpers import ticket_journey\n"
        "at = dt.datetime(2026, 3, 2, 9, tzinfo=dt.timezone.utc)\n"
        "try:\n"
        f"    s = SQLiteJourneyStore({str(db)!r}, definitions=[ticket_journey()])\n"
        "    s.append('t-1', Event('note', at=at, id='n1'))\n"
        "except StoreError as exc:\n"
        "    print('StoreError', exc)\n"
        "else:\n"
        "    print('written')\n"
    )
    run = ["unshare", "-m", "sh", "-c",
           f"mount --bind -o ro {folder} {folder} && {sys.executable} -c \"$CODE\""]
    env = {**os.environ, "CODE": script, "PYTHONPATH": str(pathlib.Path(__file__).parents[2])}
    done = subprocess.run(run, capture_output=True, text=True, env=env, check=False)
    assert done.stdout.startswith("StoreError"), (done.stdout, done.stderr)
    assert "read-only" in done.stdout or "cannot open" in done.stdout
    with _open(db, read_only=True) as store:
        assert store.load("t-1").version == 0


def test_an_unwritable_path_is_a_store_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        _open(tmp_path / "no" / "such" / "folder" / "j.db")
    with pytest.raises(StoreError, match="is a folder"):
        _open(tmp_path)


def test_a_failing_outbox_write_stores_none_of_the_events(tmp_path: pathlib.Path) -> None:
    # The transactional outbox: events and the touchpoints they owe commit together.
    db = tmp_path / "j.db"
    with _open(db) as store:
        store.create(order_journey(), "order-1", at=T0)
        store._conn.execute(
            "CREATE TRIGGER full_disk BEFORE INSERT ON outbox"
            " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
        with pytest.raises(StoreError, match="disk is full"):
            store.append("order-1", order_events()[:2])  # acknowledge owes order_thanks
        assert store.load("order-1").version == 0
        assert store.events("order-1") == []
        store._conn.execute("DROP TRIGGER full_disk")
        assert store.append("order-1", order_events()[:2]).version == 2
        assert [e.name for e in store.outbox("order-1")] == ["order_thanks"]


def test_a_journey_whose_definition_is_unknown_says_so(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "j.db"
    with _open(db) as store:
        store.create("ticket", "t-1", at=T0)
    with SQLiteJourneyStore(db) as plain, pytest.raises(StoreError, match="'ticket'.*definitions="):
        plain.load("t-1")


def test_threads_racing_on_one_journey_never_lose_an_event(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "j.db"
    with _open(db) as store:
        store.create("ticket", "t-1", at=T0)
    conflicts: list[int] = []
    lock = threading.Lock()

    def writer(name: str) -> None:
        with _open(db) as mine:
            for i in range(25):
                while True:
                    current = mine.load("t-1")
                    event = Event("note", at=T0 + current.version * MINUTE, id=f"{name}-{i}")
                    try:
                        mine.append("t-1", event, expected_version=current.version)
                        break
                    except ConcurrencyError:
                        with lock:
                            conflicts.append(1)

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with _open(db) as store:
        ids = [e.id for e in store.events("t-1")]
        assert store.load("t-1").version == 75
    assert sorted(ids) == sorted(f"{n}-{i}" for n in "abc" for i in range(25))


def test_one_store_object_is_safe_across_threads(tmp_path: pathlib.Path) -> None:
    with _open(tmp_path / "j.db") as store:
        def work(n: int) -> None:
            store.create("ticket", f"t-{n}", at=T0)
            store.append(f"t-{n}", notes(20))

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted((s.journey_id, s.version) for s in store.journeys()) == [
            (f"t-{n}", 20) for n in range(4)
        ]


def test_cache_never_hides_another_processs_write(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "j.db"
    with _open(db) as a, _open(db) as b:
        a.create("ticket", "t-1", at=T0)
        a.append("t-1", notes(2))
        b.append("t-1", notes(1, start=2))
        assert a.load("t-1").version == 3
        assert a.append("t-1", notes(1, start=3), expected_version=3).version == 4


def test_in_memory_sqlite_store() -> None:
    with SQLiteJourneyStore(":memory:") as store:
        store.create(order_journey(), "order-1", at=T0)
        assert store.append("order-1", order_events()).state == "closed"
        assert repr(store) == "SQLiteJourneyStore(':memory:', open)"
        assert store.path == ":memory:"


def test_timestamps_keep_their_zone_and_offset(tmp_path: pathlib.Path) -> None:
    fixed = dt.timezone(dt.timedelta(hours=5, minutes=30))
    with _open(tmp_path / "j.db") as store:
        store.create("ticket", "t-1", at=T0.astimezone(fixed))
        store.append("t-1", Event("note", at=T0.astimezone(fixed) + MINUTE))
    with _open(tmp_path / "j.db") as store:
        journey = store.load("t-1")
        assert journey.started_at.utcoffset() == dt.timedelta(hours=5, minutes=30)
        assert journey.updated_at == T0 + MINUTE


@pytest.mark.skipif(not pathlib.Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_a_path_nobody_may_write_is_a_store_error() -> None:
    # Even root cannot create files in /proc: the same error a read-only mount gives.
    with pytest.raises(StoreError, match="cannot open|read-only"):
        SQLiteJourneyStore("/proc/carekit-journeys.db")


def test_a_state_the_definition_no_longer_has_is_a_store_error(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "j.db"
    with _open(db) as store:
        store.create("ticket", "t-1", at=T0)
        store.append("t-1", [Event("close", at=T0)])
    renamed = ticket_journey()
    renamed = type(renamed)(
        name="ticket",
        states=[State(name="open"), State(name="done", final=True)],
        transitions=[Transition(event="close", source="open", target="done")],
    )
    with SQLiteJourneyStore(db, definitions=[renamed]) as store, pytest.raises(
        StoreError, match=r"journey 't-1' is in state 'closed', which definition 'ticket' "
        r"does not have"
    ):
        store.load("t-1")


def test_hand_edited_rows_are_store_errors_naming_the_row(tmp_path: pathlib.Path) -> None:
    # Regression (r15): a damaged row reached callers as a raw ValueError / RecursionError.
    db = tmp_path / "j.db"
    with _open(db) as store:
        store.create(order_journey(), "o-1", at=T0, channel="email")
        store.append("o-1", [Event("place", at=T0, id="p"), Event("acknowledge", at=T0, id="a")])
    for sql, call, match in [
        ("UPDATE outbox SET due = 'soon'", "outbox", r"the outbox row 'o-1/order_thanks/2' is"),
        ("UPDATE journeys SET updated_at = 'yesterday'", "load", r"the journeys row 'o-1' is"),
        ("UPDATE events SET data = '" + "[" * 5000 + "]" * 5000 + "' WHERE seq = 1", "events",
         # Python 3.13 decodes 5,000 nested arrays (a list, not an object); 3.12 and
         # earlier run out of recursion: either way, one StoreError naming the row.
         r"the events row 'o-1 #1' is damaged: stored data (is not valid JSON|must be a JSON "
         r"object)"),
        ("UPDATE events SET data = '[1, 2]' WHERE seq = 1", "events",
         r"stored data must be a JSON object"),
    ]:
        copy = tmp_path / f"{call}.db"
        copy.write_bytes(db.read_bytes())
        conn = sqlite3.connect(copy)
        conn.execute(sql)
        conn.commit()
        conn.close()
        with _open(copy) as store, pytest.raises(StoreError, match=match):
            {"outbox": lambda s: s.outbox(), "load": lambda s: s.load("o-1"),
             "events": lambda s: s.events("o-1")}[call](store)


def test_a_poison_outbox_row_is_dead_lettered_and_the_others_go_out(
    tmp_path: pathlib.Path,
) -> None:
    # Regression (r19): one undecodable row made every dispatch raise after claiming the
    # whole batch: 0 of 5 delivered, attempts burnt past max_attempts.
    from carekit.journeys import dispatch
    from carekit.testing import RecordingChannel, make_carekit

    db = tmp_path / "j.db"
    with _open(db) as store:
        for i in range(5):
            store.create(order_journey(), f"o-{i}", at=T0, channel="email")
            store.append(f"o-{i}", [Event("place", at=T0), Event("acknowledge", at=T0)])
    conn = sqlite3.connect(db)
    conn.execute("UPDATE outbox SET due = '2026-03-02T10:2O' WHERE journey_id = 'o-3'")
    conn.execute("UPDATE outbox SET data = '[1,2]' WHERE journey_id = 'o-1'")
    conn.commit()
    conn.close()
    email = RecordingChannel("email", register=False)
    with _open(db) as store:
        report = dispatch(make_carekit(email), store, now=T0 + HOUR)
        assert sorted(d.touchpoint.journey_id for d in email.deliveries) == ["o-0", "o-2", "o-4"]
        assert len(report.sent) == 3
        rows = store._conn.execute(
            "SELECT journey_id, status, attempts, last_error FROM outbox ORDER BY journey_id"
        ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("o-0", "sent", 1), ("o-1", "dead", 0), ("o-2", "sent", 1), ("o-3", "dead", 0),
        ("o-4", "sent", 1),
    ]
    assert "cannot be read" in rows[1][3] and "cannot be read" in rows[3][3]


def test_loading_replays_nothing_the_row_keeps_the_whole_state(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carekit.journeys import AttemptOutcome, Journey

    db = tmp_path / "j.db"
    with _open(db) as store:
        store.create("ticket", "t-1", at=T0, customer_id="cust-1", channel="email")
        clock = T0
        for round_ in range(6):
            clock += MINUTE
            names = ["note", "nudge"] if round_ % 2 else ["nudge", "note", "note", "nudge"]
            store.append("t-1", [Event(n, at=clock, id=f"/{round_}-{i}")
                                 for i, n in enumerate(names)])
            claimed = store.claim_due(now=clock, limit=2, lease=MINUTE, claimant="x")
            store.record([
                AttemptOutcome(claimed=c, status="sent" if k == 0 else "dead", at=clock,
                               error=None if k == 0 else "bounced")
                for k, c in enumerate(claimed)
            ])
        store.append("t-1", Event("nudge", at=clock + MINUTE, id="last"))  # owed, unsent
        final = store.load("t-1")
    pure = ticket_journey().start("t-1", at=T0, customer_id="cust-1", channel="email")
    with _open(db) as cold:
        calls: list[object] = []
        real = Journey.apply
        monkeypatch.setattr(Journey, "apply", lambda self, *a, **k: calls.append(a) or real(
            self, *a, **k))
        loaded = cold.load("t-1")
        assert calls == []  # nothing replayed
        monkeypatch.undo()
        same_journey(loaded, final)
        assert loaded == final
        assert loaded.dead and loaded.owed
        touchpoints = [*loaded.owed, *(d.touchpoint for d in loaded.dead)]
        assert {tp.customer_id for tp in touchpoints} == {"cust-1"}
        for e in cold.events("t-1"):
            pure = pure.apply(e).journey
        assert (pure.state, pure.version, pure.friction) == (
            loaded.state, loaded.version, loaded.friction
        )
        assert list(loaded.seen_event_ids) == list(pure.seen_event_ids)
    with pytest.raises(CareKitError, match="snapshot_every"):
        _open(db, snapshot_every=-1)


def test_a_schema_3_store_is_brought_up_to_date_and_its_deadlines_fire(
    tmp_path: pathlib.Path,
) -> None:
    # A store as carekit 0.1 (schema 3) left it: no kept state, no timers, a snapshot and an
    # outbox with a retried touchpoint. Opening it migrates the schema, keeps each journey's
    # state (replayed once) and indexes its running deadlines, so a worker fires them.
    db = tmp_path / "v3.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    _schema.migrate(conn, str(db), target=3)
    at = T0.isoformat()
    conn.execute(
        "INSERT INTO journeys (journey_id, definition, customer_id, channel, started_at,"
        " state, version, updated_at) VALUES ('o-1', 'order', 'c-1', 'email', ?, 'placed', 1, ?),"
        " ('o-2', 'order', NULL, 'email', ?, 'acknowledged', 2, ?)",
        (at, at, at, at),
    )
    conn.execute(
        "INSERT INTO events (journey_id, seq, event_id, name, at) VALUES"
        " ('o-1', 1, 'p1', 'place', ?), ('o-2', 1, 'p2', 'place', ?),"
        " ('o-2', 2, 'a2', 'acknowledge', ?)",
        (at, at, at),
    )
    conn.execute(
        "INSERT INTO outbox (idempotency_key, journey_id, seq, name, channel, state, due,"
        " owed_at, status, attempts, next_attempt_us, last_error) VALUES"
        " ('o-2/order_thanks/2', 'o-2', 2, 'order_thanks', 'email', 'acknowledged', ?, ?,"
        " 'pending', 2, 0, 'timeout')",
        ((T0 + HOUR).isoformat(), at),
    )
    conn.execute(
        "INSERT INTO snapshots (journey_id, version, format, body) VALUES ('o-2', 2, 'x', '{}')"
    )
    conn.close()
    with _open(db) as store:
        assert store.schema_version == _schema.SCHEMA_VERSION == 5
        [entry] = store.outbox("o-2")
        assert (entry.status, entry.attempts, entry.last_error) == ("failed", 2, "timeout")
        assert store.load("o-1").deadlines[0].due == T0 + HOUR
        [fired] = store.fire_due(now=T0 + 2 * HOUR, limit=10)
        assert (fired.journey_id, fired.event.name if fired.event else None) == (
            "o-1", "acknowledgement_overdue"
        )
        assert store.append("o-2", Event("start_production", at=T0 + HOUR)).version == 3
        tables = {r[0] for r in store._conn.execute("SELECT name FROM sqlite_schema")}
        assert "snapshots" not in tables and {"timers", "sent_keys"} <= tables


@pytest.mark.parametrize("read_only", [False, True])
def test_unusable_paths_are_store_errors(tmp_path: pathlib.Path, read_only: bool) -> None:
    # Regression: OSError (File name too long) and ValueError (embedded null byte).
    with pytest.raises(StoreError, match=r"open journey store '.*a{300}': File name too long"):
        _open(tmp_path / ("a" * 300), read_only=read_only)
    with pytest.raises(StoreError, match=r"cannot open journey store .*File name too long"):
        _open(tmp_path / ("a" * 300) / "j.db", read_only=read_only)
    with pytest.raises(
        StoreError, match=r"journey store path '\\x00' contains a NUL character"
    ):
        _open("\x00", read_only=read_only)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match=r"contains a NUL character"):
        _open(tmp_path / "a\x00b.db", read_only=read_only)


def test_a_path_that_cannot_be_encoded_is_a_store_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(StoreError, match=r"cannot open journey store .*surrogates not allowed"):
        _open(tmp_path / "\ud800.db")


class _PathLike:
    def __init__(self, value: object) -> None:
        self.value = value

    def __fspath__(self) -> object:
        return self.value

    def __repr__(self) -> str:
        return "<path>"


@pytest.mark.parametrize(("named", "shown"), [(b"/tmp/j.db", "b'/tmp/j.db'"), (5, "None")])
def test_a_path_like_must_name_a_text_path(named: object, shown: str) -> None:
    with pytest.raises(
        CareKitError,
        match=rf"path must be a file path or ':memory:' \(got <path>, which names {shown}\)",
    ):
        SQLiteJourneyStore(_PathLike(named))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("timeout", "match"),
    [
        (1e308, r"busy_timeout must be at most 86400 seconds, a day \(got 1e\+308\)"),
        (86_400.5, r"busy_timeout must be at most 86400 seconds, a day \(got 86400.5\)"),
        (float("inf"), "busy_timeout must be a finite number"),
        (10**400, "busy_timeout must be a finite number"),
        ("10", r"busy_timeout must be a real number \(got '10'\)"),
    ],
)
def test_busy_timeout_is_bounded(tmp_path: pathlib.Path, timeout: object, match: str) -> None:
    # Regression: 1e308 raised OverflowError (cannot convert float infinity to integer).
    with pytest.raises(CareKitError, match=match):
        _open(tmp_path / "j.db", busy_timeout=timeout)
    with pytest.raises(CareKitError, match=match):
        SQLiteJourneyStore(":memory:", busy_timeout=timeout)  # type: ignore[arg-type]
    assert not (tmp_path / "j.db").exists()
    with _open(tmp_path / "j.db", busy_timeout=86_400) as store:
        assert store.schema_version == _schema.SCHEMA_VERSION


def test_text_sqlite_cannot_hold_is_a_clear_error(tmp_path: pathlib.Path) -> None:
    # A lone surrogate cannot be encoded as UTF-8: UnicodeEncodeError escaped before.
    lone = "\ud800"
    message = (
        r"a SQLite journey store holds only valid Unicode text; '\\ud800' \(a lone "
        r"surrogate\) cannot be stored or looked up \(while {}\)"
    )
    with _open(tmp_path / "j.db") as store:
        store.create(order_journey(), "order-1", at=T0)
        with pytest.raises(CareKitError, match=message.format("creating journeys")):
            store.create(order_journey(), lone, at=T0)
        with pytest.raises(CareKitError, match=message.format("creating journeys")):
            store.create(order_journey(), "order-2", at=T0, customer_id=lone)
        with pytest.raises(CareKitError, match=message.format("appending events")):
            store.append("order-1", [Event("place", at=T0, id=lone)])
        with pytest.raises(CareKitError, match=message.format("loading a journey")):
            store.load(lone)
        with pytest.raises(CareKitError, match=message.format("reading events")):
            store.events(lone)
        with pytest.raises(CareKitError, match=message.format("listing journeys")):
            list(store.journeys(state=lone))
        # Nothing was half-written, and the store still works.
        assert [j.journey_id for j in store.journeys()] == ["order-1"]
        assert store.append("order-1", [Event("place", at=T0, id="e1")]).version == 1
        # In data, JSON escapes it: stored and read back as it was.
        store.append("order-1", [Event("acknowledge", at=T0, id="e2", data={"note": lone})])
        assert store.events("order-1")[-1].data == {"note": lone}


def test_a_hand_edited_next_attempt_out_of_range_is_a_store_error(
    tmp_path: pathlib.Path,
) -> None:
    db = tmp_path / "j.db"
    with _open(db) as store:
        store.create("ticket", "t-1", at=T0)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE outbox SET next_attempt_us = ?", (2**62,))
    conn.commit()
    conn.close()
    with _open(db) as store, pytest.raises(
        StoreError,
        match=r"journey store holds an instant outside the datetime range "
        r"\(4611686018427387904 µs\)",
    ):
        store.outbox("t-1")


def _can_mount_read_only(tmp_path: pathlib.Path) -> bool:
    import shutil
    import subprocess

    if shutil.which("unshare") is None:
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount --bind -o ro {probe} {probe}"],
        capture_output=True, check=False,
    )
    return done.returncode == 0


def test_read_only_opens_a_store_in_a_folder_nobody_may_write(tmp_path: pathlib.Path) -> None:
    # Regression (r11): read_only=True could not open a store in a read-only folder (SQLite
    # could not create the -shm file) and its message said "pass read_only=True".
    import subprocess
    import sys

    if not _can_mount_read_only(tmp_path):
        pytest.skip("needs unshare and a private read-only bind mount")
    folder = tmp_path / "shop"
    folder.mkdir()
    with _open(folder / "j.db") as store:
        store.create(order_journey(), "o-1", at=T0, channel="email")
        store.append("o-1", order_events()[:2])
    script = (
        "from carekit.journeys import SQLiteJourneyStore\n"
        f"s = SQLiteJourneyStore({str(folder / 'j.db')!r}, read_only=True)\n"
        "print(s.load('o-1').state, s.outbox('o-1')[0].name)\n"
    )
    wal = folder / "j.db-wal"
    run = ["unshare", "-m", "sh", "-c",
           f"mount --bind -o ro {folder} {folder} && {sys.executable} -c \"$CODE\""]
    env = {**__import__("os").environ, "CODE": script}
    done = subprocess.run(run, capture_output=True, text=True, env=env, check=False)
    assert done.stdout.split() == ["acknowledged", "order_thanks"], done.stderr
    # A write-ahead log left behind (a writer still at work) cannot be read there: a clear
    # error, not a contradictory hint.
    wal.write_bytes(b"x" * 32)
    done = subprocess.run(run, capture_output=True, text=True, env=env, check=False)
    assert "its folder cannot be written" in done.stderr
    assert "pass read_only=True" not in done.stderr


def _statements_of(store: SQLiteJourneyStore) -> list[str]:
    """The statements ``store`` runs from now on (a trace of its connection)."""
    seen: list[str] = []
    store._conn.set_trace_callback(seen.append)
    return seen


def _kept(db: pathlib.Path, journey_id: str) -> tuple[str | None, int | None]:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute(
            "SELECT ids, owing FROM journeys WHERE journey_id = ?", (journey_id,)
        ).fetchone()
    finally:
        conn.close()
    return row[0], row[1]


def test_an_append_outside_the_cache_reads_only_the_journeys_row(tmp_path: pathlib.Path) -> None:
    # The row keeps the event ids and how many touchpoints are owed: with none owed, the
    # outbox and the events are not read (the journey is the same as one read whole).
    db = tmp_path / "j.db"
    with _open(db) as store:
        store.create(order_journey(), "order-1", at=T0, channel="email")
        store.append("order-1", Event("place", at=T0, id="e1"))
    assert _kept(db, "order-1") == (',"e1"', 0)
    with _open(db) as store:  # nothing cached
        run = _statements_of(store)
        after = store.append("order-1", Event("acknowledge", at=T0 + MINUTE, id="e2"))
        store._conn.set_trace_callback(None)
        assert not [sql for sql in run if "FROM outbox" in sql or "FROM events" in sql]
        same_journey(after, store.load("order-1"))
        assert list(after.seen_event_ids) == ["e1", "e2"]
        assert [tp.name for tp in after.owed] == ["order_thanks"]
    assert _kept(db, "order-1") == (',"e1","e2"', 1)
    with _open(db) as store:  # one owed: the outbox is read; a repeated id changes nothing
        again = store.append("order-1", Event("acknowledge", at=T0 + MINUTE, id="e2"))
        same_journey(again, after)


def test_the_owed_count_follows_every_outcome(tmp_path: pathlib.Path) -> None:
    from carekit.journeys import AttemptOutcome

    db = tmp_path / "j.db"
    with _open(db) as store:
        for name in ("order-1", "order-2", "order-3"):
            store.create(order_journey(), name, at=T0, channel="email")
            store.append(name, order_events()[:2])  # owes order_thanks
        assert [_kept(db, n)[1] for n in ("order-1", "order-2", "order-3")] == [1, 1, 1]
        claimed = {c.touchpoint.journey_id: c for c in store.claim_due(
            now=T0 + HOUR, limit=10, lease=dt.timedelta(minutes=1), claimant="w")}
        store.record([
            AttemptOutcome(claimed=claimed["order-1"], status="sent", at=T0 + HOUR),
            AttemptOutcome(claimed=claimed["order-2"], status="dead", at=T0 + HOUR,
                           error="gave up"),
        ])
        # Sent: owed no more. Dead-lettered: still counted (the journey keeps the letter).
        assert [_kept(db, n)[1] for n in ("order-1", "order-2", "order-3")] == [0, 1, 1]
        store.record([AttemptOutcome(claimed=claimed["order-2"], status="sent",
                                     at=T0 + HOUR)])  # it went out after all
        assert _kept(db, "order-2")[1] == 0
        store.append("order-3", Event("cancel", at=T0 + HOUR))  # withdraws order_thanks
        assert _kept(db, "order-3")[1] == 0
    with _open(db) as store:  # outside the cache, each journey is the one read whole
        for name in ("order-1", "order-2", "order-3"):
            run = _statements_of(store)
            after = (
                store.load(name) if name == "order-3"  # cancelled: nothing more to append
                else store.append(name, Event("start_production", at=T0 + 2 * HOUR))
            )
            store._conn.set_trace_callback(None)
            assert not [sql for sql in run if "FROM outbox" in sql]
            assert after.owed == () and after.dead == ()
            assert [entry.status for entry in store.outbox(name)] == [
                {"order-1": "sent", "order-2": "sent", "order-3": "withdrawn"}[name]
            ]


def test_a_late_sent_after_a_withdrawal_leaves_the_owed_count(tmp_path: pathlib.Path) -> None:
    # Regression: a touchpoint withdrawn while in flight and then reported sent counted as
    # owed no more twice (at the withdrawal and at the report), so a journey that still owed
    # another touchpoint kept a count of 0 and an append outside the cache lost it.
    from carekit.journeys import AttemptOutcome, JourneyDefinition, Touchpoint

    definition = JourneyDefinition(
        name="two_owed",
        states=[State(name="open"), State(name="changed", withdraws=("first",)),
                State(name="done", final=True)],
        transitions=[Transition(event="change", source="open", target="changed"),
                     Transition(event="note", source="changed", target="changed"),
                     Transition(event="finish", source="changed", target="done")],
        touchpoints=[Touchpoint(name="first", on_enter="open", within=HOUR),
                     Touchpoint(name="second", on_enter="changed", within=HOUR)],
    )
    db = tmp_path / "j.db"
    with SQLiteJourneyStore(db, definitions=[definition]) as store:
        store.create(definition, "j-1", at=T0, channel="email")
        [claimed] = store.claim_due(now=T0, limit=10, lease=dt.timedelta(minutes=1),
                                    claimant="w")
        store.append("j-1", Event("change", at=T0 + MINUTE))  # withdraws first, owes second
        assert _kept(db, "j-1")[1] == 1
        store.record([AttemptOutcome(claimed=claimed, status="sent", at=T0 + MINUTE)])
        assert {e.name: e.status for e in store.outbox("j-1")} == {
            "first": "sent", "second": "pending"}
        assert _kept(db, "j-1")[1] == 1  # second is still owed
    with SQLiteJourneyStore(db, definitions=[definition]) as store:  # nothing cached
        after = store.append("j-1", Event("note", at=T0 + 2 * MINUTE))
        assert [tp.name for tp in after.owed] == ["second"]
        same_journey(after, store.load("j-1"))


def test_a_journey_with_many_ids_keeps_them_in_the_events_table(tmp_path: pathlib.Path) -> None:
    definition = ticket_journey()
    db = tmp_path / "j.db"
    with _open(db) as store:
        store.create(definition, "t-1", at=T0)
        events = notes(30)
        store.append("t-1", events[:24])
        assert _kept(db, "t-1")[0] == "".join(f',"{e.id}"' for e in events[:24])
        store.append("t-1", events[24])
        assert _kept(db, "t-1")[0] is None  # 25 ids: too many for the row
    with _open(db) as store:
        after = store.append("t-1", events[25:])
        assert list(after.seen_event_ids) == [e.id for e in events]
        same_journey(after, store.load("t-1"))
        assert store.append("t-1", events[3]).version == 30  # a repeated id, found
    assert _kept(db, "t-1")[0] is None


def test_a_row_that_keeps_nothing_yet_is_read_whole_then_kept(tmp_path: pathlib.Path) -> None:
    # Rows an older carekit wrote (schema 4) have neither column: the first append outside
    # the cache reads the outbox and the events, and writes both whole.
    db = tmp_path / "j.db"
    with _open(db) as store:
        store.create(order_journey(), "order-1", at=T0, channel="email")
        store.append("order-1", order_events()[:2])
    conn = sqlite3.connect(db)
    conn.execute("UPDATE journeys SET ids = NULL, owing = NULL")
    conn.commit()
    conn.close()
    with _open(db) as store:
        run = _statements_of(store)
        after = store.append("order-1", order_events()[2])
        store._conn.set_trace_callback(None)
        assert [sql for sql in run if "FROM outbox" in sql or "FROM events" in sql]
        same_journey(after, store.load("order-1"))
    assert _kept(db, "order-1") == (',"e1","e2","e3"', 1)


def test_damaged_kept_ids_are_a_store_error_naming_the_row(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "j.db"
    with _open(db) as store:
        store.create(order_journey(), "order-1", at=T0, channel="email")
    for damaged in ('"e1"', ',"e1', ',"', ",[1]", ',"e\\u00e9",2'):
        conn = sqlite3.connect(db)
        conn.execute("UPDATE journeys SET ids = ?", (damaged,))
        conn.commit()
        conn.close()
        with _open(db) as store, pytest.raises(StoreError, match="journeys row 'order-1'"):
            store.append("order-1", Event("place", at=T0))
    conn = sqlite3.connect(db)
    conn.execute("UPDATE journeys SET ids = ?", (',"\\u00e9\\"x","a,b"',))
    conn.commit()
    conn.close()
    with _open(db) as store:  # escapes are read as JSON reads them
        assert list(store.append("order-1", Event("place", at=T0, id="z")).seen_event_ids) == [
            'é"x', "a,b", "z"
        ]
