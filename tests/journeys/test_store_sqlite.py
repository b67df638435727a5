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
    MINUTE,
    T0,
    notes,
    order_events,
    same_journey,
    ticket_journey,
)

from carekit import CareKitError, ConcurrencyError, StoreError
from carekit.journeys import Event, SQLiteJourneyStore, _schema, order_journey


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


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores file permissions"
)
def test_a_read_only_file_is_a_store_error(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "locked.db"
    with _open(db) as store:
        store.create("ticket", "t-1", at=T0)
    db.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(StoreError, match="read-only|cannot open"), _open(db) as store:
            store.append("t-1", notes(1))
    finally:
        tmp_path.chmod(0o755)
        db.chmod(0o644)


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


def test_events_a_changed_definition_refuses_are_a_store_error(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "j.db"
    with _open(db) as store:
        store.create("ticket", "t-1", at=T0)
        store.append("t-1", [Event("nudge", at=T0)])
    stricter = ticket_journey()
    stricter = type(stricter)(
        name="ticket", states=stricter.states,
        transitions=[t for t in stricter.transitions if t.event != "nudge"],
        touchpoints=[t for t in stricter.touchpoints if t.on_event != "nudge"],
    )
    with SQLiteJourneyStore(db, definitions=[stricter]) as store, pytest.raises(
        StoreError, match=r"'t-1'.*event #1 does not replay on definition 'ticket'"
    ):
        store.load("t-1")


def test_a_hand_edited_row_is_a_store_error(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "j.db"
    with _open(db) as store:
        store.create("ticket", "t-1", at=T0)
        store.append("t-1", notes(1))
    conn = sqlite3.connect(db)
    conn.execute("UPDATE events SET at = 'yesterday'")
    conn.commit()
    conn.close()
    with _open(db) as store, pytest.raises(StoreError, match="cannot be rebuilt"):
        store.load("t-1")


def test_snapshots_load_the_same_journey_as_a_full_replay(tmp_path: pathlib.Path) -> None:
    from carekit.journeys import AttemptOutcome

    db = tmp_path / "snap.db"
    with _open(db, snapshot_every=3) as store:
        store.create("ticket", "t-1", at=T0, customer_id="cust-1", channel="email")
        clock = T0
        for round_ in range(6):
            clock += MINUTE
            names = ["note", "nudge"] if round_ % 2 else ["nudge", "note", "note", "nudge"]
            store.append("t-1", [Event(n, at=clock, id=f"r{round_}-{i}")
                                 for i, n in enumerate(names)])
            claimed = store.claim_due(now=clock, limit=2, lease=MINUTE, claimant="x")
            outcomes = [AttemptOutcome(claimed=c, status="sent" if k == 0 else "dead", at=clock,
                                       error=None if k == 0 else "bounced")
                        for k, c in enumerate(claimed)]
            store.record(outcomes)
        store.append("t-1", Event("nudge", at=clock + MINUTE, id="last"))  # the tail
        [(version, fmt)] = store._conn.execute("SELECT version, format FROM snapshots").fetchall()
        assert version == 18 and fmt.startswith("2;")
        final = store.load("t-1")
    with _open(db) as cold:
        from_snapshot = cold.load("t-1")
        same_journey(from_snapshot, final)
        assert from_snapshot.dead and from_snapshot.owed
        touchpoints = [*from_snapshot.owed, *(d.touchpoint for d in from_snapshot.dead)]
        assert {tp.customer_id for tp in touchpoints} == {"cust-1"}
        # An unreadable snapshot format is ignored: the journey is replayed in full.
        cold._conn.execute("UPDATE snapshots SET format = 'from another carekit'")
    with _open(db) as cold:
        same_journey(cold.load("t-1"), final)
        cold._conn.execute("DELETE FROM snapshots")
    with _open(db) as cold:
        same_journey(cold.load("t-1"), final)
    with pytest.raises(CareKitError, match="snapshot_every"):
        _open(db, snapshot_every=-1)


def test_a_journey_from_a_snapshot_equals_the_replayed_one(tmp_path: pathlib.Path) -> None:
    # Ids that do not sort in the order applied ("/10" < "/2"): a snapshot must keep
    # the applied order, or the restored journey compares unequal to a replayed one.
    definition = ticket_journey()
    short = [Event("note", at=T0 + k * MINUTE, id=f"/{k}") for k in range(12)]
    long = [Event("note", at=T0 + k * MINUTE, id=f"/{k}") for k in range(12, 42)]
    db = tmp_path / "order.db"
    with _open(db, snapshot_every=5) as store:
        store.create("ticket", "t-1", at=T0, channel="email")
        for e in short:
            store.append("t-1", e)
    expected = definition.start("t-1", at=T0, channel="email")
    for e in short:
        expected = expected.apply(e).journey
    with _open(db, snapshot_every=5) as cold:
        assert cold._conn.execute("SELECT version FROM snapshots").fetchone()[0] == 10
        assert cold.load("t-1") == expected
        for e in long:  # past the short-tuple stage too
            cold.append("t-1", e)
            expected = expected.apply(e).journey
    with _open(db) as cold:
        assert cold._conn.execute("SELECT version FROM snapshots").fetchone()[0] == 40
        assert cold.load("t-1") == expected
        assert list(cold.load("t-1").seen_event_ids) == [f"/{k}" for k in range(42)]


def test_a_long_journey_loads_fast_from_its_snapshot(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "long.db"
    with _open(db, synchronous="NORMAL") as store:
        store.create("ticket", "t-1", at=T0)
        for b in range(20):
            store.append("t-1", notes(250, start=b * 250))
    with _open(db) as cold:
        tail = cold._conn.execute(
            "SELECT count(*) FROM events e JOIN snapshots s USING (journey_id)"
            " WHERE e.seq > s.version"
        ).fetchone()[0]
        assert tail < 100
        assert cold.load("t-1").version == 5000


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
