"""The PostgreSQL store against a real server: the store contract, and what is its own.

Needs the server of ``CAREKIT_TEST_POSTGRES`` (see ``_postgres``): skipped without one, a
failure under CI.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import threading
import time
import urllib.parse
import zoneinfo
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from tests._extras import need
from tests.journeys._postgres import (
    drop_schema,
    fresh_schema,
    new_schema,
    server_lock,
    server_url,
    with_schema,
)
from tests.journeys._store_helpers import (
    HOUR,
    MINUTE,
    T0,
    notes,
    order_events,
    same_journey,
    ticket_journey,
)

from carekit import CareKitError, ConcurrencyError, StoreError, hookimpl
from carekit.channels import DeliveryResult
from carekit.journeys import (
    AttemptOutcome,
    Event,
    JourneyDefinition,
    JourneySummary,
    MemoryJourneyStore,
    State,
    Transition,
    Worker,
    dispatch,
    open_store,
    order_journey,
    service_case_journey,
)
from carekit.journeys.stores._codec import decode_dt, encode_dt
from carekit.journeys.stores._postgres_schema import SCHEMA_VERSION
from carekit.journeys.stores.postgres import (
    AsyncPostgresJourneyStore,
    PostgresJourneyStore,
    split_schema,
)
from carekit.testing import (
    AsyncJourneyStoreContract,
    JourneyStoreContract,
    RecordingChannel,
    make_carekit,
)

try:
    import psycopg
except ImportError:  # the postgres_url fixture reports it (a failure under CI)
    psycopg = None


class TestPostgresStore(JourneyStoreContract):
    @pytest.fixture
    def store(self, postgres_url: str, postgres_schema: str) -> Iterator[Any]:
        s = PostgresJourneyStore(
            postgres_url, schema=postgres_schema, definitions=JourneyStoreContract.definitions()
        )
        yield s
        s.close()


class TestAsyncPostgresStore(AsyncJourneyStoreContract):
    @pytest.fixture
    def store(self, postgres_url: str, postgres_schema: str) -> Any:
        return AsyncPostgresJourneyStore(
            postgres_url, schema=postgres_schema,
            definitions=AsyncJourneyStoreContract.definitions(),
        )


# -- opening: URLs, errors, schemas ----------------------------------------------------------


def _open(url: str, schema: str, **options: Any) -> PostgresJourneyStore:
    return PostgresJourneyStore(url, schema=schema, definitions=[ticket_journey()], **options)


def _sql(schema: str, statement: str, params: Any = None) -> list[Any]:
    """Run one statement on the test server (outside any store) and return its rows."""
    with psycopg.connect(server_url(), autocommit=True) as conn:
        cursor = conn.execute(statement.replace("{s}", f'"{schema}"'), params)
        return cursor.fetchall() if cursor.description is not None else []


def test_a_store_opens_by_url_with_its_schema(postgres_url: str, postgres_schema: str) -> None:
    with open_store(with_schema(postgres_url, postgres_schema),
                    definitions=[ticket_journey()]) as store:
        assert isinstance(store, PostgresJourneyStore)
        assert (store.schema, store.url, store.pool_size) == (postgres_schema, postgres_url, 10)
        assert store.schema_version == SCHEMA_VERSION == 1
        assert repr(store) == (
            f"PostgresJourneyStore({postgres_url!r}, schema={postgres_schema!r}, open)"
        )
        store.create("ticket", "t-1", at=T0)
        assert ("t-1" in store, "t-2" in store, 7 in store, len(store)) == (
            True, False, False, 1
        )
    assert repr(store).endswith("closed)")
    rows = _sql(postgres_schema, "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = %s ORDER BY table_name", (postgres_schema,))
    assert [r[0] for r in rows] == [
        "events", "journeys", "outbox", "schema_versions", "sent_keys", "timers"
    ]


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("postgresql://shop:s3cret@127.0.0.1:1/test",
         r"cannot connect to PostgreSQL journey store 'postgresql://shop:\*\*\*@127.0.0.1:1/test'"
         r".*refused.*check that the server runs"),
        ("host=127.0.0.1 port=1 user=shop password=s3cret dbname=test",
         r"cannot connect to .*'host=127.0.0.1 port=1 user=shop password=\*\*\* dbname=test'"),
        ("host=127.0.0.1 password='s3cret' oops",
         r"'host=127.0.0.1 password=\*\*\* oops' is not a valid PostgreSQL DSN: missing \"=\""),
        ("postgresql://shop@127.0.0.1:1/test?sslpassword=s3cret",
         r"'postgresql://shop@127.0.0.1:1/test\?sslpassword=\*\*\*'"),
    ],
)
def test_an_unreachable_server_is_one_store_error_without_the_password(
    url: str, match: str
) -> None:
    need("psycopg", "postgres")
    with pytest.raises(StoreError, match=match) as info:
        PostgresJourneyStore(url, connect_timeout=2)
    assert "s3cret" not in str(info.value)


def test_a_missing_database_or_role_is_a_store_error(postgres_url: str) -> None:
    parts = urllib.parse.urlsplit(postgres_url)
    no_db = urllib.parse.urlunsplit(parts._replace(path="/carekit_no_such_database"))
    with pytest.raises(StoreError, match=r'database "carekit_no_such_database" does not exist'):
        PostgresJourneyStore(no_db)
    host = parts.netloc.rpartition("@")[2]
    no_role = urllib.parse.urlunsplit(parts._replace(netloc=f"carekit_nobody:pw@{host}"))
    with pytest.raises(StoreError, match=r'role "carekit_nobody" does not exist') as info:
        PostgresJourneyStore(no_role)
    assert "carekit_nobody:***@" in str(info.value)


def test_without_psycopg_the_message_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    message = (
        r"PostgreSQL journey store 'postgresql://shop:\*\*\*@db/orders' needs psycopg 3 and "
        r"psycopg_pool, and 'psycopg' is not installed: pip install 'carekit\[postgres\]'"
    )
    with pytest.raises(CareKitError, match=message):
        PostgresJourneyStore("postgresql://shop:pw@db/orders")
    with pytest.raises(CareKitError, match=message):
        open_store("postgresql://shop:pw@db/orders?schema=care")
    with pytest.raises(CareKitError, match=message):
        AsyncPostgresJourneyStore("postgresql://shop:pw@db/orders")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"schema": ""}, "schema must be a non-empty schema name"),
        ({"schema": 5}, r"schema must be a non-empty schema name .*\(got 5\)"),
        ({"schema": "x" * 64}, "schema must be at most 63 bytes long"),
        ({"schema": "pg_temp"}, "reserved by PostgreSQL"),
        ({"schema": "a\x00b"}, "NUL"),
        ({"pool_size": 0}, r"pool_size must be an integer >= 1 \(got 0\)"),
        ({"pool_size": 5000}, "pool_size must be at most 1000"),
        ({"pool_timeout": -1}, "pool_timeout must be a positive duration"),
        ({"pool_timeout": 0}, "pool_timeout must be a positive duration"),
        ({"connect_timeout": 10**9}, "connect_timeout must be at most a day"),
        ({"synchronous_commit": "off"}, r"synchronous_commit must be True or False \(got 'off'\)"),
        ({"notify_interval": 0}, "notify_interval must be a positive duration"),
        ({"prepare_threshold": -1}, "prepare_threshold must be an integer >= 0"),
    ],
)
def test_bad_options_are_refused_before_connecting(options: dict[str, Any], match: str) -> None:
    with pytest.raises(CareKitError, match=match):
        PostgresJourneyStore("postgresql://shop@127.0.0.1:1/test", **options)
    with pytest.raises(CareKitError, match=match):
        AsyncPostgresJourneyStore("postgresql://shop@127.0.0.1:1/test", **options)


@pytest.mark.parametrize("dsn", [None, "", 42])
def test_the_dsn_must_be_a_string(dsn: Any) -> None:
    with pytest.raises(CareKitError, match="dsn must be a PostgreSQL connection string"):
        PostgresJourneyStore(dsn)


def test_split_schema_keeps_the_rest_of_the_url() -> None:
    assert split_schema("postgresql+psycopg://u:p@h:5/db?schema=x&sslmode=require") == (
        "postgresql://u:p@h:5/db?sslmode=require", "x"
    )
    assert split_schema("postgresql://h/db") == ("postgresql://h/db", None)
    with pytest.raises(CareKitError, match=r"names its schema once \(got 'postgresql://u:\*\*\*"):
        split_schema("postgresql://u:p@h/db?schema=a&schema=b")
    with pytest.raises(CareKitError, match="url must be a postgresql:// URL"):
        split_schema(None)  # type: ignore[arg-type]


def test_split_schema_passes_the_other_parameters_on_as_written() -> None:
    # libpq decodes %XX but not "+": a space must stay %20, not become "+".
    url = "postgresql://u@h/db?options=-c%20statement_timeout%3D5000&schema=x&sslmode=require"
    assert split_schema(url) == (
        "postgresql://u@h/db?options=-c%20statement_timeout%3D5000&sslmode=require", "x"
    )


def test_keepalive_parameters_in_the_url_reach_the_pooled_connections(
    postgres_url: str, postgres_schema: str
) -> None:
    # postgres.md: libpq's keepalive and tcp_user_timeout parameters, written in the URL,
    # are how a dead server is found sooner; carekit passes them on and sets none itself.
    tuned = "keepalives_idle=30&keepalives_interval=10&keepalives_count=3&tcp_user_timeout=30000"
    sep = "&" if "?" in postgres_url else "?"
    with open_store(f"{with_schema(postgres_url, postgres_schema)}&{tuned}") as store:
        assert isinstance(store, PostgresJourneyStore)
        assert store.url == f"{postgres_url}{sep}{tuned}"
        with store._pool.connection() as conn:
            params = conn.pgconn.info
            given = {o.keyword.decode(): (o.val or b"").decode() for o in params}
    assert {k: given[k] for k in ("keepalives_idle", "keepalives_interval",
                                  "keepalives_count", "tcp_user_timeout")} == {
        "keepalives_idle": "30", "keepalives_interval": "10", "keepalives_count": "3",
        "tcp_user_timeout": "30000",
    }
    with open_store(with_schema(postgres_url, postgres_schema)) as plain, \
            plain._pool.connection() as conn:
        given = {o.keyword.decode(): (o.val or b"").decode() for o in conn.pgconn.info}
    assert (given["keepalives_idle"], given["tcp_user_timeout"]) == ("", "")


def test_split_schema_refuses_an_unreadable_url_in_one_line() -> None:
    with pytest.raises(CareKitError, match="is not a valid PostgreSQL URL") as caught:
        split_schema("postgresql://shop:s3cret@[::1:5432/orders")
    assert "s3cret" not in str(caught.value)


def test_a_schema_written_by_a_newer_carekit_is_refused(
    postgres_url: str, postgres_schema: str
) -> None:
    _open(postgres_url, postgres_schema).close()
    _sql(postgres_schema, "INSERT INTO {s}.schema_versions (version) VALUES (2)")
    message = (
        rf"schema '{postgres_schema}' of PostgreSQL journey store '{postgres_url}' was "
        r"written by a newer carekit \(schema version 2; this carekit reads up to 1\); "
        r"upgrade carekit to open it"
    )
    with pytest.raises(StoreError, match=message):
        _open(postgres_url, postgres_schema)

    async def opening() -> None:
        store = AsyncPostgresJourneyStore(postgres_url, schema=postgres_schema)
        with pytest.raises(StoreError, match=message):
            await store.open()
        await store.close()

    asyncio.run(opening())


def test_another_applications_schema_is_refused(postgres_url: str, postgres_schema: str) -> None:
    _sql(postgres_schema, "CREATE SCHEMA {s}")
    _sql(postgres_schema, "CREATE TABLE {s}.orders (id int)")
    with pytest.raises(StoreError, match=r"holds 1 table\(s\) but no carekit schema_versions "
                                         r"table: it belongs to another application"):
        _open(postgres_url, postgres_schema)
    assert _sql(postgres_schema, "SELECT count(*) FROM {s}.orders") == [(0,)]


def test_an_empty_existing_schema_is_taken(postgres_url: str, postgres_schema: str) -> None:
    _sql(postgres_schema, "CREATE SCHEMA {s}")
    with _open(postgres_url, postgres_schema) as store:
        assert store.schema_version == 1


def test_many_first_openings_at_once_migrate_once(postgres_url: str, postgres_schema: str) -> None:
    # Several processes starting together on a fresh database: one creates the tables
    # under the advisory lock, the others find them.
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            barrier.wait(timeout=10)
            with _open(postgres_url, postgres_schema) as store:
                store.create("ticket", f"t-{threading.get_ident()}", at=T0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert _sql(postgres_schema, "SELECT version FROM {s}.schema_versions") == [(1,)]
    assert _sql(postgres_schema, "SELECT count(*) FROM {s}.journeys") == [(6,)]


def test_a_dropped_schema_says_so(postgres_url: str, postgres_schema: str) -> None:
    with _open(postgres_url, postgres_schema) as store:
        store.create("ticket", "t-1", at=T0)
        _sql(postgres_schema, "DROP SCHEMA {s} CASCADE")
        with pytest.raises(StoreError, match=r"its tables are gone while loading a journey.*"
                                             r"was schema .* dropped"):
            store.load("t-1")


# -- what is stored --------------------------------------------------------------------------


def test_timestamps_keep_their_zone_and_offset(postgres_url: str, postgres_schema: str) -> None:
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    fixed = dt.timezone(dt.timedelta(hours=5, minutes=30))
    with _open(postgres_url, postgres_schema) as store:
        store.create("ticket", "t-1", at=T0.astimezone(paris))
        store.append("t-1", Event("note", at=T0.astimezone(fixed) + MINUTE, id="n"))
    with _open(postgres_url, postgres_schema) as store:
        journey = store.load("t-1")
        assert journey.started_at.tzinfo == paris
        assert journey.updated_at.utcoffset() == dt.timedelta(hours=5, minutes=30)
        assert journey.updated_at == T0 + MINUTE
        [event] = store.events("t-1")
        assert event.at.tzinfo == fixed


def test_text_postgresql_cannot_hold_is_a_clear_error(
    postgres_url: str, postgres_schema: str
) -> None:
    with _open(postgres_url, postgres_schema) as store:
        store.create(order_journey(), "order-1", at=T0)
        with pytest.raises(CareKitError, match=r"only text without NUL characters .* \(while "
                                               r"creating journeys\)"):
            store.create(order_journey(), "order\x002", at=T0)
        with pytest.raises(CareKitError, match=r"NUL characters .*\(while appending events\)"):
            store.append("order-1", [Event("place", at=T0, id="e\x001")])
        lone = "\ud800"
        with pytest.raises(CareKitError, match=r"holds only valid Unicode text; '\\ud800' \(a "
                                               r"lone surrogate\) .*\(while appending events\)"):
            store.append("order-1", [Event("place", at=T0, id=lone)])
        with pytest.raises(CareKitError, match=r"lone surrogate.*\(while loading a journey\)"):
            store.load(lone)
        # Nothing was half-written, and the store still works; in data, JSON escapes both.
        assert [j.journey_id for j in store.journeys()] == ["order-1"]
        store.append("order-1", [Event("place", at=T0, id="e1", data={"n": "a\x00b" + lone})])
        assert store.events("order-1")[0].data == {"n": "a\x00b" + lone}
        assert store.load("order-1").version == 1


# Text PostgreSQL can hold (no NUL, no lone surrogate), weighted toward what an array
# literal gives meaning to: quotes, backslashes, braces, commas, spaces, the word NULL.
_ARRAY_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from('"\\{},; \t\nNULnul\u00a0\u3000é'),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    ),
    max_size=8,
)


@given(
    texts=st.lists(st.one_of(_ARRAY_TEXT, st.sampled_from(["", "NULL", "null", '""'])),
                   max_size=12),
    numbers=st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=12),
)
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_array_parameters_reach_the_server_as_the_lists_they_were(
    postgres_url: str, texts: list[str], numbers: list[int]
) -> None:
    # The reference is the server's own array parser: what it reads back must be the list.
    from carekit.journeys.stores._postgres_core import array

    with psycopg.connect(server_url(), autocommit=True) as conn:
        text_back, numbers_back = conn.execute(
            "SELECT %s::text[], %s::bigint[]", (array(texts), array(numbers))
        ).fetchone()
    assert text_back == texts
    assert numbers_back == numbers


def test_array_parameters_with_nulls_or_nul_are_left_to_psycopg(postgres_url: str) -> None:
    from carekit.journeys.stores._postgres_core import array

    assert array(["a", None, "b"]) == ["a", None, "b"]
    assert array([1, None]) == [1, None]
    assert array([True, False]) == [True, False]  # not integers to PostgreSQL
    assert array(["a\x00b", "c"]) == ["a\x00b", "c"]
    with psycopg.connect(server_url(), autocommit=True) as conn:
        [row] = conn.execute("SELECT %s::text[]", (array(["a", None, '"'],),)).fetchall()
    assert row == (["a", None, '"'],)


_ZONES = st.sampled_from([dt.timezone.utc, dt.timezone(dt.timedelta(hours=-3, minutes=-30)),
                           zoneinfo.ZoneInfo("Europe/Paris"), zoneinfo.ZoneInfo("Asia/Tokyo")])
_TIMES = st.builds(
    lambda at, zone: encode_dt(at.astimezone(zone)),
    st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1),
                 timezones=st.just(dt.timezone.utc)),
    _ZONES,
)


@given(st.lists(st.tuples(
    st.text(max_size=5), st.text(max_size=5), st.text(max_size=5), st.integers(0, 10**6),
    _TIMES, st.one_of(_TIMES, st.none()), st.one_of(st.none(), st.text(max_size=5)),
    st.one_of(st.none(), st.text(max_size=5)), st.integers(0, 50),
    st.one_of(st.none(), st.text(max_size=5)),
), max_size=20))
def test_summaries_are_the_records_their_constructor_builds(rows: list[tuple[Any, ...]]) -> None:
    # The reference: JourneySummary's own constructor, with the codec's decode_dt.
    from carekit.journeys.stores._postgres_core import _summaries

    rows = [r if r[5] is not None else (*r[:5], r[4], *r[6:]) for r in rows]
    expected = [
        JourneySummary(
            journey_id=r[0], definition=r[1], state=r[2], version=r[3],
            started_at=decode_dt(r[4]), updated_at=decode_dt(r[5]), customer_id=r[6],
            channel=r[7], pending=r[8], tz=r[9],
        )
        for r in rows
    ]
    got = _summaries(rows)
    assert got == expected
    assert [repr(s) for s in got] == [repr(s) for s in expected]
    assert [s.started_at.tzinfo for s in got] == [s.started_at.tzinfo for s in expected]
    assert [hash(s) for s in got] == [hash(s) for s in expected]


def test_summaries_are_built_slot_by_slot_only_while_the_class_allows_it() -> None:
    # _summaries sets JourneySummary's slots itself: right only while attrs' __init__
    # does nothing more than set them.
    import attrs

    for field in attrs.fields(JourneySummary):
        assert field.validator is None and field.converter is None, field.name
        assert not isinstance(field.default, attrs.Factory), field.name
    assert not hasattr(JourneySummary, "__attrs_post_init__")
    assert not hasattr(JourneySummary, "__attrs_pre_init__")


def test_listing_leaves_the_garbage_collector_as_it_found_it(
    postgres_url: str, postgres_schema: str
) -> None:
    import gc

    with _open(postgres_url, postgres_schema) as store:
        store.create("ticket", "t-1", at=T0)
        assert gc.isenabled()
        assert [s.journey_id for s in store.journeys()] == ["t-1"]
        assert gc.isenabled()
        gc.disable()
        try:
            assert [s.journey_id for s in store.journeys()] == ["t-1"]
            assert not gc.isenabled()
        finally:
            gc.enable()
        _sql(postgres_schema, "UPDATE {s}.journeys SET started_at = 'soon'")
        with pytest.raises(StoreError, match="the journeys row 't-1' is damaged"):
            list(store.journeys())
        assert gc.isenabled()


def test_big_batches_and_many_journeys_go_in_chunks(
    postgres_url: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carekit.journeys.stores import postgres

    monkeypatch.setattr(postgres, "CHUNK", 7)
    monkeypatch.setattr(postgres, "LIST_CHUNK", 5)
    ticket = ticket_journey()
    with _open(postgres_url, postgres_schema) as store:
        assert store.create_many(ticket.start(f"t-{i:02d}", at=T0) for i in range(23)) == 23
        with pytest.raises(StoreError, match="'t-05' already exists"):
            store.create_many([ticket.start("t-99", at=T0), ticket.start("t-05", at=T0)])
        assert "t-99" not in store
        journey = store.append("t-00", notes(1500))
        assert journey.version == 1500
        assert store.load("t-00").version == 1500
        ids = [f"t-{i:02d}" for i in range(23)]
        assert [j.journey_id for j in store.load_many()] == ids
        assert [j.journey_id for j in store.load_many(reversed(ids))] == ids[::-1]
        assert [s.journey_id for s in store.journeys()] == ids
        assert [s.journey_id for s in store.journeys(state="open")] == ids
        assert len(store.outbox(status="pending")) == 23


def test_a_connection_keeps_one_cursor_but_not_a_long_result(
    postgres_url: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carekit.journeys.stores import postgres

    monkeypatch.setattr(postgres, "_KEPT_ROWS", 3)
    ticket = ticket_journey()
    with _open(postgres_url, postgres_schema, pool_size=1) as store:
        store.create_many(ticket.start(f"t-{i}", at=T0) for i in range(5))
        assert "t-1" in store
        with store._pool.connection() as conn:
            kept = getattr(conn, postgres._CURSOR)
        assert kept is not None
        assert "t-2" in store
        assert "t-9" not in store
        with store._pool.connection() as conn:
            assert getattr(conn, postgres._CURSOR) is kept
        assert len(store.outbox(status="pending")) == 5  # five rows: more than are kept
        with store._pool.connection() as conn:
            assert getattr(conn, postgres._CURSOR) is None
        assert kept.closed
        assert "t-3" in store
        assert [s.journey_id for s in store.journeys()] == [f"t-{i}" for i in range(5)]


@pytest.mark.parametrize(
    ("statement", "call", "match"),
    [
        ("UPDATE {s}.outbox SET due = 'soon'", "outbox",
         r"the outbox row 'o-1/order_thanks/2' is damaged"),
        ("UPDATE {s}.journeys SET updated_at = 'yesterday'", "load",
         r"the journeys row 'o-1' is damaged"),
        ("UPDATE {s}.journeys SET updated_at = 'yesterday'", "journeys",
         r"the journeys row 'o-1' is damaged"),
        ("UPDATE {s}.events SET data = '[1, 2]' WHERE seq = 1", "events",
         r"the events row 'o-1 #1' is damaged: stored data must be a JSON object"),
        ("UPDATE {s}.outbox SET next_attempt_us = 4611686018427387904", "outbox",
         r"journey store holds an instant outside the datetime range"),
    ],
)
def test_hand_edited_rows_are_store_errors_naming_the_row(
    postgres_url: str, postgres_schema: str, statement: str, call: str, match: str
) -> None:
    with _open(postgres_url, postgres_schema) as store:
        store.create(order_journey(), "o-1", at=T0, channel="email")
        store.append("o-1", [Event("place", at=T0, id="p"), Event("acknowledge", at=T0, id="a")])
    _sql(postgres_schema, statement)
    reads = {
        "outbox": lambda s: s.outbox(), "load": lambda s: s.load("o-1"),
        "events": lambda s: s.events("o-1"), "journeys": lambda s: list(s.journeys()),
    }
    with _open(postgres_url, postgres_schema) as store, pytest.raises(StoreError, match=match):
        reads[call](store)


def test_a_state_the_definition_no_longer_has_is_a_store_error(
    postgres_url: str, postgres_schema: str
) -> None:
    with _open(postgres_url, postgres_schema) as store:
        store.create("ticket", "t-1", at=T0)
        store.append("t-1", [Event("close", at=T0)])
    renamed = JourneyDefinition(
        name="ticket",
        states=[State(name="open"), State(name="done", final=True)],
        transitions=[Transition(event="close", source="open", target="done")],
    )
    store = PostgresJourneyStore(postgres_url, schema=postgres_schema, definitions=[renamed])
    with store, pytest.raises(
        StoreError, match=r"journey 't-1' is in state 'closed', which definition 'ticket' "
        r"does not have \(states: \['open', 'done'\]\); .* or the row edited by hand\?"
    ):
        store.load("t-1")


def test_a_poison_outbox_row_is_dead_lettered_and_the_others_go_out(
    postgres_url: str, postgres_schema: str
) -> None:
    with _open(postgres_url, postgres_schema) as store:
        for i in range(5):
            store.create(order_journey(), f"o-{i}", at=T0, channel="email")
            store.append(f"o-{i}", [Event("place", at=T0), Event("acknowledge", at=T0)])
        _sql(postgres_schema,
             "UPDATE {s}.outbox SET due = '2026-03-02T10:2O' WHERE journey_id = 'o-3'")
        _sql(postgres_schema, "UPDATE {s}.outbox SET data = '[1,2]' WHERE journey_id = 'o-1'")
        email = RecordingChannel("email", register=False)
        report = dispatch(make_carekit(email), store, now=T0 + HOUR)
        assert sorted(d.touchpoint.journey_id for d in email.deliveries) == ["o-0", "o-2", "o-4"]
        assert len(report.sent) == 3
        rows = _sql(postgres_schema, "SELECT journey_id, status, attempts, last_error"
                    " FROM {s}.outbox ORDER BY journey_id")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("o-0", "sent", 1), ("o-1", "dead", 0), ("o-2", "sent", 1), ("o-3", "dead", 0),
        ("o-4", "sent", 1),
    ]
    assert "cannot be read" in rows[1][3] and "cannot be read" in rows[3][3]


# -- many writers, many stores ---------------------------------------------------------------


def test_threads_racing_on_one_journey_never_lose_an_event(
    postgres_url: str, postgres_schema: str
) -> None:
    with _open(postgres_url, postgres_schema) as store:
        store.create("ticket", "t-1", at=T0)
    conflicts: list[int] = []

    def writer(name: str) -> None:
        with _open(postgres_url, postgres_schema) as mine:
            for i in range(20):
                for _ in range(500):
                    current = mine.load("t-1")
                    event = Event("note", at=T0 + current.version * MINUTE, id=f"{name}-{i}")
                    try:
                        mine.append("t-1", event, expected_version=current.version)
                        break
                    except ConcurrencyError:
                        conflicts.append(1)

    threads = [threading.Thread(target=writer, args=(n,)) for n in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    with _open(postgres_url, postgres_schema) as store:
        ids = [e.id for e in store.events("t-1")]
        assert store.load("t-1").version == 60
    assert sorted(ids) == sorted(f"{n}-{i}" for n in "abc" for i in range(20))


def test_one_store_object_is_shared_by_threads(postgres_url: str, postgres_schema: str) -> None:
    with _open(postgres_url, postgres_schema, pool_size=3) as store:
        def work(n: int) -> None:
            store.create("ticket", f"t-{n}", at=T0)
            for k in range(10):
                store.append(f"t-{n}", notes(2, start=2 * k))

        threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted((s.journey_id, s.version) for s in store.journeys()) == [
            (f"t-{n}", 20) for n in range(6)
        ]


def test_the_cache_never_hides_another_stores_write(
    postgres_url: str, postgres_schema: str
) -> None:
    with _open(postgres_url, postgres_schema) as a, _open(postgres_url, postgres_schema) as b:
        a.create("ticket", "t-1", at=T0, channel="email")
        a.append("t-1", notes(2))
        assert b.load("t-1").version == 2  # cached by b
        a.append("t-1", notes(3, start=2))
        assert b.append("t-1", notes(1, start=9), expected_version=5).version == 6
        [claimed] = a.claim_due(now=T0, limit=5, lease=MINUTE, claimant="w")
        a.record([AttemptOutcome(claimed=claimed, status="dead", at=T0, error="gave up")])
        assert [d.touchpoint.name for d in b.load("t-1").dead] == ["ticket_opened"]
        assert b.load("t-1").owed == ()


def test_all_pooled_connections_busy_is_a_store_error_not_a_hang(
    postgres_url: str, postgres_schema: str
) -> None:
    with _open(postgres_url, postgres_schema, pool_size=2, pool_timeout=0.5) as store:
        store.create("ticket", "t-1", at=T0)
        store.create("ticket", "t-2", at=T0)
        blocked: list[Any] = []
        with psycopg.connect(postgres_url, autocommit=True) as holder:
            holder.execute("BEGIN")
            holder.execute(f'SELECT 1 FROM "{postgres_schema}".journeys'
                           " WHERE journey_id = 't-1' FOR UPDATE")
            threads = [
                threading.Thread(target=lambda n=n: blocked.append(
                    store.append("t-1", Event("note", at=T0, id=f"n{n}"))
                ))
                for n in range(2)
            ]
            for t in threads:
                t.start()
            for _ in range(200):  # both pooled connections now wait on the lock
                waiting = holder.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND application_name = 'carekit' AND datname = current_database()"
                ).fetchone()
                if waiting and waiting[0] >= 2:
                    break
                time.sleep(0.02)
            started = time.monotonic()
            with pytest.raises(StoreError, match=r"all 2 pooled connections stayed busy for "
                                                 r"0.5 s while loading a journey; raise pool_size"):
                store.load("t-2")
            assert time.monotonic() - started < 5
            holder.execute("ROLLBACK")
        for t in threads:
            t.join(timeout=30)
        assert sorted(j.version for j in blocked) == [1, 2]
        assert store.load("t-2").version == 0


# -- waking workers --------------------------------------------------------------------------


def test_wait_returns_when_another_store_owes_something_now(
    postgres_url: str, postgres_schema: str
) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    with _open(postgres_url, postgres_schema) as writer, \
            _open(postgres_url, postgres_schema) as waiter:
        started = time.monotonic()
        assert waiter.wait(0.3) is False
        assert time.monotonic() - started >= 0.29
        woke: list[bool] = []
        thread = threading.Thread(target=lambda: woke.append(waiter.wait(20)))
        thread.start()
        time.sleep(0.3)  # the waiter listens by now
        started = time.monotonic()
        writer.create("ticket", "t-1", at=now)
        thread.join(timeout=20)
        assert woke == [True]
        assert time.monotonic() - started < 5
        # Something owed only tomorrow wakes nobody.
        writer.create("ticket", "t-2", at=now + dt.timedelta(days=1))
        assert waiter.wait(0.5) is False
        with pytest.raises(CareKitError, match="timeout must be a non-negative duration"):
            waiter.wait(-1)
    with pytest.raises(StoreError, match="closed"):
        waiter.wait(0)


def test_a_burst_of_writes_sends_a_few_notifications_not_one_each(
    postgres_url: str, postgres_schema: str
) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    with _open(postgres_url, postgres_schema, notify_interval=0.2) as store, \
            psycopg.connect(postgres_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {store.channel}")
        started = time.monotonic()
        for i in range(150):
            store.create("ticket", f"t-{i}", at=now)
        elapsed = time.monotonic() - started
        time.sleep(0.5)
        got = list(listener.notifies(timeout=0.5))
    # At most one per interval (and one more at either end), however many writes.
    assert 1 <= len(got) <= elapsed / 0.2 + 3
    assert len(got) < 150


def test_a_worker_sleeping_a_long_poll_wakes_for_new_work(
    postgres_url: str, postgres_schema: str
) -> None:
    email = RecordingChannel("email", register=False)
    stop = threading.Event()
    with _open(postgres_url, postgres_schema) as store, \
            _open(postgres_url, postgres_schema) as app:
        worker = Worker(make_carekit(email), store, poll=dt.timedelta(seconds=60))
        thread = threading.Thread(target=worker.run, kwargs={"stop": stop})
        thread.start()
        try:
            time.sleep(0.5)  # the worker found nothing and waits
            app.create("ticket", "t-1", at=dt.datetime.now(dt.timezone.utc), channel="email")
            for _ in range(100):
                if email.deliveries:
                    break
                time.sleep(0.05)
            assert [d.idempotency_key for d in email.deliveries] == ["t-1/ticket_opened/0"]
        finally:
            stop.set()
            thread.join(timeout=10)
        assert not thread.is_alive()


def test_notifications_can_be_turned_off(postgres_url: str, postgres_schema: str) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    with _open(postgres_url, postgres_schema, notify_interval=None) as store, \
            psycopg.connect(postgres_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {store.channel}")
        store.create("ticket", "t-1", at=now)
        assert list(listener.notifies(timeout=0.5)) == []


def test_relaxed_commits_still_store_everything(postgres_url: str, postgres_schema: str) -> None:
    with _open(postgres_url, postgres_schema, synchronous_commit=False) as store:
        store.create(order_journey(), "order-1", at=T0)
        store.append("order-1", order_events())
    with _open(postgres_url, postgres_schema) as store:
        assert store.load("order-1").state == "closed"


# -- the asyncio store -----------------------------------------------------------------------


def test_the_asyncio_store_opens_lazily_and_reports_a_bad_server(
    postgres_url: str, postgres_schema: str
) -> None:
    async def main() -> None:
        bad = AsyncPostgresJourneyStore("postgresql://shop:s3cret@127.0.0.1:1/test",
                                        connect_timeout=2)
        assert repr(bad).endswith("not open)")
        with pytest.raises(StoreError, match=r"cannot connect to PostgreSQL journey store "
                                             r"'postgresql://shop:\*\*\*@127.0.0.1:1/test'"):
            await bad.load("t-1")
        await bad.close()
        async with AsyncPostgresJourneyStore(postgres_url, schema=postgres_schema,
                                             definitions=[ticket_journey()]) as store:
            assert repr(store).endswith("open)")
            assert (store.url, store.schema) == (postgres_url, postgres_schema)
            assert await store.schema_version() == 1
            await store.create("ticket", "t-1", at=T0)
            assert (await store.contains("t-1"), await store.contains("t-2")) == (True, False)
            assert await store.count() == 1
            assert await store.wait(0.1) is False
            waiting = asyncio.ensure_future(store.wait(10))
            await asyncio.sleep(0.3)
            await store.create("ticket", "t-2", at=dt.datetime.now(dt.timezone.utc))
            assert await asyncio.wait_for(waiting, 10) is True
        assert repr(store).endswith("closed)")
        with pytest.raises(StoreError, match="closed"):
            await store.wait(0)

    asyncio.run(main())


def _named(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = [*urllib.parse.parse_qsl(parts.query), ("application_name", name)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _terminate(name: str) -> int:
    rows = _sql("", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s", (name,))
    return len(rows)


def test_connections_the_server_dropped_are_replaced_unnoticed(
    postgres_url: str, postgres_schema: str
) -> None:
    # What a server restart does to idle pooled connections: the next operation finds its
    # connection dead before sending anything, and runs again on a fresh one.
    name = f"ck-{postgres_schema}"[-60:]
    with _open(_named(postgres_url, name), postgres_schema, pool_size=3) as store:
        store.create("ticket", "t-1", at=T0)
        assert _terminate(name) >= 1
        assert store.append("t-1", notes(2)).version == 2
        assert _terminate(name) >= 1
        assert store.load("t-1").version == 2
        assert _terminate(name) >= 1
        assert len(store.claim_due(now=T0, limit=5, lease=MINUTE, claimant="w")) == 1

    async def main() -> None:
        async with AsyncPostgresJourneyStore(_named(postgres_url, name), schema=postgres_schema,
                                             definitions=[ticket_journey()]) as store:
            assert (await store.load("t-1")).version == 2
            assert _terminate(name) >= 1
            assert (await store.append("t-1", notes(1, start=5))).version == 3

    asyncio.run(main())


# -- the PostgreSQL store behaves exactly like the memory store ------------------------------

_ORDER_STEPS = ("place", "acknowledge", "cancel", "promise_at_risk")


class PostgresAgreesWithMemory(RuleBasedStateMachine):
    """Random creates, appends, claims, outcomes and timers on both stores; they agree."""

    def __init__(self) -> None:
        super().__init__()
        self.schema = new_schema()
        self.memory = MemoryJourneyStore(definitions=[ticket_journey()])
        self.postgres = _open(server_url(), self.schema)
        self.clock = T0
        self.claimed: list[tuple[Any, Any]] = []

    def teardown(self) -> None:
        self.postgres.close()
        drop_schema(self.schema)

    def both(self, action: Any) -> list[Any]:
        results = []
        for store in (self.memory, self.postgres):
            try:
                results.append(("ok", action(store)))
            except CareKitError as exc:
                results.append((type(exc).__name__, None))
        assert results[0][0] == results[1][0], results
        return [r[1] for r in results]

    @rule(journey_id=st.sampled_from(["t-1", "t-2"]), channel=st.sampled_from(["email", None]))
    def create_ticket(self, journey_id: str, channel: str | None) -> None:
        self.both(lambda s: s.create("ticket", journey_id, at=self.clock, channel=channel))

    @rule(journey_id=st.sampled_from(["o-1", "o-2"]))
    def create_order(self, journey_id: str) -> None:
        self.both(lambda s: s.create("order", journey_id, at=self.clock, channel="email",
                                     exist_ok=True))

    @rule(
        journey_id=st.sampled_from(["t-1", "t-2"]),
        names=st.lists(st.sampled_from(["note", "nudge", "close"]), min_size=1, max_size=4),
        ids=st.lists(st.integers(0, 8) | st.none(), min_size=4, max_size=4),
        stale=st.booleans(),
    )
    def append_ticket(self, journey_id: str, names: list[str], ids: list[int | None],
                      stale: bool) -> None:
        self.clock += MINUTE
        events = [
            Event(name, at=self.clock, id=None if i is None else f"{journey_id}-{i}")
            for name, i in zip(names, ids[: len(names)], strict=True)
        ]

        def go(store: Any) -> Any:
            expected = store.load(journey_id).version + 1 if stale else None
            return store.append(journey_id, events, expected_version=expected)

        self.both(go)

    @rule(journey_id=st.sampled_from(["o-1", "o-2"]), step=st.sampled_from(_ORDER_STEPS))
    def append_order(self, journey_id: str, step: str) -> None:
        self.clock += MINUTE
        self.both(lambda s: s.append(journey_id, Event(step, at=self.clock,
                                                       id=f"{journey_id}-{step}")))

    @rule(advance=st.integers(0, 150), limit=st.integers(1, 3))
    def fire(self, advance: int, limit: int) -> None:
        self.clock += dt.timedelta(minutes=advance)
        a, b = self.both(lambda s: s.fire_due(now=self.clock, limit=limit))
        if a is not None:
            assert [(f.journey_id, f.key, f.due) for f in a] == [
                (f.journey_id, f.key, f.due) for f in b
            ]

    @rule(limit=st.integers(1, 3), advance=st.integers(0, 90))
    def claim(self, limit: int, advance: int) -> None:
        self.clock += dt.timedelta(minutes=advance)
        a = self.memory.claim_due(now=self.clock, limit=limit, lease=5 * MINUTE, claimant="m")
        b = self.postgres.claim_due(now=self.clock, limit=limit, lease=5 * MINUTE,
                                    claimant="m")
        assert [(c.idempotency_key, c.attempt, c.channel) for c in a] == [
            (c.idempotency_key, c.attempt, c.channel) for c in b
        ]
        assert [c.touchpoint for c in a] == [c.touchpoint for c in b]
        self.claimed.extend(zip(a, b, strict=True))

    @precondition(lambda self: self.claimed)
    @rule(status=st.sampled_from(["sent", "retry", "dead", "defer", "release"]),
          wait=st.integers(1, 30), extend=st.booleans())
    def record(self, status: str, wait: int, extend: bool) -> None:
        a, b = self.claimed.pop(0)
        later = self.clock + dt.timedelta(minutes=wait)
        held = []
        for store, claimed in ((self.memory, a), (self.postgres, b)):
            outcome = AttemptOutcome(
                claimed=claimed, status=status, at=self.clock,
                error=None if status == "sent" else "boom",
                retry_at=later if status in ("retry", "defer") else None,
            )
            options = {"lease": 5 * MINUTE, "claimant": "m"} if extend else {}
            held.append(store.record([outcome], **options))
        assert held[0] == held[1]

    @invariant()
    def agree(self) -> None:
        assert list(self.memory.journeys()) == list(self.postgres.journeys())
        for summary in self.memory.journeys():
            journey_id = summary.journey_id
            same_journey(self.memory.load(journey_id), self.postgres.load(journey_id))
            assert self.memory.events(journey_id) == self.postgres.events(journey_id)
        assert self.memory.outbox() == self.postgres.outbox()
        assert self.memory.outbox_counts() == self.postgres.outbox_counts()
        assert self.memory.oldest_due(now=self.clock) == self.postgres.oldest_due(now=self.clock)


def test_postgres_agrees_with_memory(postgres_url: str) -> None:
    with server_lock():
        run_state_machine_as_test(
            PostgresAgreesWithMemory,
            settings=settings(max_examples=15, stateful_step_count=25, deadline=None),
        )


def test_the_asyncio_worker_runs_on_postgres_and_wakes_for_new_work(
    postgres_url: str, postgres_schema: str
) -> None:
    from carekit.journeys import aio

    email = RecordingChannel("email", register=False)

    async def main() -> None:
        store = await aio.open_store(with_schema(postgres_url, postgres_schema),
                                     definitions=[ticket_journey()])
        assert isinstance(store, AsyncPostgresJourneyStore)
        try:
            await store.create("ticket", "t-1", at=T0, channel="email")
            report = await aio.Worker(make_carekit(email), store).run_once(T0 + MINUTE)
            assert report.sent == 1
            stop = asyncio.Event()
            worker = aio.Worker(make_carekit(email), store, poll=dt.timedelta(seconds=60))
            running = asyncio.ensure_future(worker.run(stop=stop, handle_signals=False))
            await asyncio.sleep(0.5)  # it found nothing and waits (a minute at most)
            await store.create("ticket", "t-2", at=dt.datetime.now(dt.timezone.utc),
                               channel="email")
            for _ in range(100):
                if len(email.deliveries) == 2:
                    break
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.wait_for(running, 10)
        finally:
            await store.close()

    asyncio.run(main())
    assert [d.idempotency_key for d in email.deliveries] == [
        "t-1/ticket_opened/0", "t-2/ticket_opened/0"
    ]


def test_the_benchmarks_breach_loop_writes_what_carekit_writes(postgres_url: str) -> None:
    # benchmarks/store_postgres.py compares fire_due with a hand-written loop said to make
    # the same writes: both fire the same breaches, and every row they leave must match.
    import contextlib
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "store_postgres.py"
    spec = importlib.util.spec_from_file_location("_bench_store_postgres", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    schemas: list[str] = []
    with contextlib.ExitStack() as held:

        @contextlib.contextmanager
        def kept(url: str) -> Iterator[str]:  # the schema lives on until the test ends
            schemas.append(held.enter_context(fresh_schema()))
            yield schemas[-1]

        bench._schema = kept
        bench.carekit_fire_rate(postgres_url, 40)
        bench.by_hand_fire_rate(postgres_url, 40)
        rows = [
            [
                _sql(schema, "SELECT journey_id, seq, event_id, name, at, data FROM {s}.events"
                             " ORDER BY journey_id, seq"),
                _sql(schema, "SELECT journey_id, state, version, updated_at, body, settled"
                             " FROM {s}.journeys ORDER BY journey_id"),
                _sql(schema, "SELECT journey_id, key FROM {s}.timers ORDER BY 1, 2"),
            ]
            for schema in schemas
        ]
    carekit_rows, hand_rows = rows
    assert len(carekit_rows[0]) == 80  # a place and a breach for each of the 40 orders
    assert [r[3] for r in carekit_rows[0]].count("acknowledgement_overdue") == 40
    assert carekit_rows == hand_rows


# -- plans: what a prepared statement's generic plan reads ---------------------------------


def _generic_plan(conn: Any, stmt: Any) -> str:
    """The plan PostgreSQL keeps for ``stmt`` once psycopg has prepared it (generic)."""
    import re

    names: list[str] = []

    def numbered(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    params = stmt.params
    if isinstance(params, dict):
        sql = re.sub(r"%\((\w+)\)s", numbered, stmt.sql)
        values = [params[n] for n in names]
    else:
        counter = iter(range(1, 1000))
        sql = re.sub(r"%s", lambda _: f"${next(counter)}", stmt.sql)
        values = list(params or ())
    conn.execute("SET plan_cache_mode = force_generic_plan")
    # psycopg sends each parameter with its type: the PREPARE names them likewise.
    types = ", ".join("bigint" if type(v) is int else "text" for v in values)
    conn.execute(f"PREPARE planned ({types}) AS {sql}" if values else f"PREPARE planned AS {sql}")
    try:
        literals = ", ".join(psycopg.sql.Literal(v).as_string(conn) for v in values)
        rows = conn.execute(f"EXPLAIN EXECUTE planned({literals})" if values
                            else "EXPLAIN EXECUTE planned").fetchall()
    finally:
        conn.execute("DEALLOCATE planned")
    return "\n".join(r[0] for r in rows)


def test_claims_firing_and_pages_walk_their_index_once_prepared(
    postgres_url: str, postgres_schema: str
) -> None:
    # Regression: with the LIMIT sent as a parameter, the generic plan psycopg's prepared
    # statements end up with read the whole outbox at every claim (a 20,000-row outbox:
    # 4,000,000 rows read for 20,000 deliveries) instead of walking the ready index.
    from carekit.journeys.stores._pgsans import Tx

    with _open(postgres_url, postgres_schema) as store:
        case = service_case_journey()  # each case owes a "case received" at once
        for start in range(0, 20_000, 10_000):  # enough rows for the plans to differ
            store.create_many(case.start(f"o-{i:05d}", at=T0, channel="email")
                              for i in range(start, start + 10_000))
        assert store.outbox_counts()["pending"] == 20_000
        _sql(postgres_schema, "ANALYZE {s}.outbox")
        _sql(postgres_schema, "ANALYZE {s}.journeys")
        _sql(postgres_schema, "ANALYZE {s}.timers")
        core = store._core
        claim = next(core.claim_op(now=T0 + HOUR, limit=100, lease=MINUTE,
                                   claimant="w").start(Tx())).statements[0]
        page = next(core.summaries_op(None, None, "o-00100", 1000).start(Tx())).statements[0]
        ids = next(core.ids_after_op("o-00100", 1000).start(Tx())).statements[0]
        firing = core.fire_op(now=T0 + HOUR, limit=1000, kit=None, checks=None).start(Tx())
        next(firing)  # is anything due? (one row says so)
        fire = firing.send([[(1,)]]).statements[-1]  # then: take the due timers
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'SET search_path = "{postgres_schema}"')
            conn.execute("BEGIN")  # the claim's plan is only explained, never run
            plans = {name: _generic_plan(conn, stmt) for name, stmt in
                     (("claim", claim), ("page", page), ("ids", ids), ("fire", fire))}
            conn.execute("ROLLBACK")
    # The claim walks the ready index, then finds the rows it picked by key.
    assert "outbox_ready" in plans["claim"], plans["claim"]
    assert "Seq Scan on outbox" not in plans["claim"], plans["claim"]
    assert "timers_due" in plans["fire"], plans["fire"]
    assert "Seq Scan" not in plans["fire"], plans["fire"]
    for name in ("page", "ids"):
        assert "journeys_pkey" in plans[name], (name, plans[name])
        assert "Seq Scan on journeys" not in plans[name], (name, plans[name])


@pytest.mark.parametrize(("pages", "n"), [(1, 23), (2, 23), (3, 23), (2, 20), (5, 0)])
def test_journeys_read_pages_ahead_in_one_snapshot_and_lose_none(
    postgres_url: str, postgres_schema: str, monkeypatch: pytest.MonkeyPatch,
    pages: int, n: int,
) -> None:
    # Several pages per operation, each sent ahead of the work on the one before: across
    # operations (23 = 10 + 10 + 3 with two pages of five), at an exact multiple (20: the
    # last operation finds nothing), and with filters.
    from carekit.journeys.stores import postgres

    monkeypatch.setattr(postgres, "LIST_CHUNK", 5)
    monkeypatch.setattr(postgres, "LIST_PAGES", pages)
    ticket = ticket_journey()
    ids = [f"t-{i:02d}" for i in range(n)]
    with _open(postgres_url, postgres_schema) as store:
        if n:
            store.create_many(ticket.start(i, at=T0) for i in ids)
        for i in ids[::3]:
            store.append(i, Event("close", at=T0 + MINUTE, id=f"{i}-c"))
        assert [s.journey_id for s in store.journeys()] == ids
        assert [s.journey_id for s in store.journeys(state="closed")] == ids[::3]
        assert [s.journey_id for s in store.journeys(definition="ticket", state="open")] == [
            i for i in ids if i not in ids[::3]
        ]
        loaded = [store.load(i) for i in ids]
        assert [(s.pending, s.version, s.state) for s in store.journeys()] == [
            (len(j.owed), j.version, j.state) for j in loaded
        ]


def test_statements_sent_ahead_come_back_with_the_next_round_on_both_drivers(
    postgres_url: str, postgres_schema: str
) -> None:
    from carekit.journeys.stores._pgsans import Op, Round, Stmt

    def run(tx: Any) -> Any:
        first = yield Round((Stmt("SELECT 1"),), ahead=(Stmt("SELECT 2"), Stmt("SELECT 3")))
        nothing = yield Round((), ahead=(Stmt("SELECT 4"),))
        last = yield Round((Stmt("SELECT 5"),))
        return first, nothing, last

    expected = ([[(1,)]], [[(2,)], [(3,)]], [[(4,)], [(5,)]])
    for mode in ("auto", "read"):
        op = Op("testing rounds sent ahead", mode, run)  # type: ignore[arg-type]
        with _open(postgres_url, postgres_schema) as store:
            assert store._run(op) == expected
        async_store = AsyncPostgresJourneyStore(postgres_url, schema=postgres_schema)

        async def go(s: Any = async_store, op: Any = op) -> Any:
            try:
                return await s._run(op)
            finally:
                await s.close()

        assert asyncio.run(go()) == expected


def test_a_statement_sent_ahead_that_fails_leaves_the_connection_usable(
    postgres_url: str, postgres_schema: str
) -> None:
    from carekit.journeys.stores._pgsans import Op, Round, Stmt

    def run(tx: Any) -> Any:
        yield Round((Stmt("SELECT 1"),), ahead=(Stmt("SELECT 1 / 0"),))
        yield Round(())
        return "never"

    with _open(postgres_url, postgres_schema, pool_size=1) as store:
        store.create(ticket_journey(), "t-1", at=T0)
        for _ in range(3):  # the one pooled connection, each time
            with pytest.raises(StoreError, match="division by zero"):
                store._run(Op("dividing", "read", run))
            assert [s.journey_id for s in store.journeys()] == ["t-1"]
            assert len(store) == 1


def _backend(store: PostgresJourneyStore) -> int:
    """The server process of the connection the calling thread's next operation uses."""
    from carekit.journeys.stores._pgsans import Op, Round, Stmt

    def run(tx: Any) -> Any:
        [rows] = yield Round((Stmt("SELECT pg_backend_pid()"),))
        return rows[0][0]

    pid: int = store._run(Op("asking for the backend", "auto", run))
    return pid


def test_a_pinned_thread_keeps_one_connection_and_gives_it_back(
    postgres_url: str, postgres_schema: str
) -> None:
    with _open(postgres_url, postgres_schema, pool_size=2) as store:
        with store._pinned():
            first = _backend(store)
            store.create(ticket_journey(), "t-1", at=T0)
            assert _backend(store) == first
            with store._pinned():  # nested: the same pin
                assert _backend(store) == first
            assert _backend(store) == first
            # Another thread meanwhile takes the pool's other connection.
            other: list[int] = []
            thread = threading.Thread(target=lambda: other.append(_backend(store)))
            thread.start()
            thread.join(10)
            assert other and other[0] != first
            assert store._pool.get_stats()["pool_available"] == 1  # the other one, back
        stats = store._pool.get_stats()
        assert stats["pool_available"] == stats["pool_size"] == 2  # the pin gave it back
        assert [s.journey_id for s in store.journeys()] == ["t-1"]


def test_a_failure_while_pinned_gives_the_connection_back_and_takes_another(
    postgres_url: str, postgres_schema: str
) -> None:
    from carekit.journeys.stores._pgsans import Op, Round, Stmt

    def run(tx: Any) -> Any:
        yield Round((Stmt("SELECT 1 / 0"),))

    with _open(postgres_url, postgres_schema, pool_size=2) as store:
        with store._pinned():
            pinned = _backend(store)
            assert _backend(store) == pinned
            with pytest.raises(StoreError, match="division by zero"):
                store._run(Op("dividing", "auto", run))
            store.create(ticket_journey(), "t-1", at=T0)  # on a connection from the pool
            # Killed under the pin: the next operation reconnects by itself.
            _sql(postgres_schema, "SELECT pg_terminate_backend(%s)", (_backend(store),))
            assert [s.journey_id for s in store.journeys()] == ["t-1"]
        # The killed connection was given back and replaced (the pool does it on a
        # thread of its own): every connection is back in the pool.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            stats = store._pool.get_stats()
            if stats["pool_available"] == stats["pool_size"]:
                break
            time.sleep(0.05)
        assert stats["pool_available"] == stats["pool_size"], stats
        assert len(store) == 1


def test_a_worker_on_a_pool_of_one_leaves_the_connection_to_its_plugin(
    postgres_url: str, postgres_schema: str
) -> None:
    # A plugin run under the worker's timeout works on another thread and notes its sent
    # keys in the store: with one connection in the pool, the worker must not keep it.
    class Noting:
        @hookimpl
        def carekit_deliver_touchpoint(self, touchpoint: Any, idempotency_key: str,
                                       sent_keys: Any) -> Any:
            sent_keys.remember(idempotency_key, reference="r")
            return DeliveryResult(reference="r")

    with _open(postgres_url, postgres_schema, pool_size=1, pool_timeout=3) as store:
        store.create_many(service_case_journey().start(f"c-{i}", at=T0, channel="email")
                          for i in range(3))
        worker = Worker(make_carekit(Noting()), store, promise_checks=None)
        started = time.monotonic()
        assert worker.run_once(T0 + MINUTE).sent == 3
        assert time.monotonic() - started < 3  # never waited for the pool
        assert all(store.sent_key(e.idempotency_key) for e in store.outbox())


def test_a_worker_pins_a_connection_per_batch_and_leaves_none_out(
    postgres_url: str, postgres_schema: str
) -> None:
    backends: list[int] = []

    class Notes:
        @hookimpl
        def carekit_deliver_touchpoint(self, touchpoint: Any, idempotency_key: str) -> Any:
            backends.append(_backend(store))  # the worker's thread: its pinned connection
            return DeliveryResult()

    with _open(postgres_url, postgres_schema, pool_size=2) as store:
        case = service_case_journey()
        store.create_many(case.start(f"c-{i}", at=T0, channel="email") for i in range(5))
        worker = Worker(make_carekit(Notes()), store, batch_size=2, timeout=None,
                        promise_checks=None)
        assert worker.run_once(T0 + MINUTE).sent == 5
        assert len(backends) == 5
        assert backends[0] == backends[1] and backends[2] == backends[3]  # one per batch
        # Every connection back. One the pool started opening when a call found none free
        # counts in pool_size before it is available: on a busy machine, wait for it.
        deadline = time.monotonic() + 10
        stats = store._pool.get_stats()
        while stats["pool_available"] != stats["pool_size"] and time.monotonic() < deadline:
            time.sleep(0.05)
            stats = store._pool.get_stats()
        assert stats["pool_available"] == stats["pool_size"]
        assert store.outbox_counts()["sent"] == 5


# -- recording a delivery: its own statement -------------------------------------------------


def _record_stmt(core: Any, outcome: AttemptOutcome, **options: Any) -> Any:
    from carekit.journeys.stores._pgsans import Tx

    return next(core.record_op([outcome], **options).start(Tx())).statements[0]


def test_a_delivery_is_recorded_by_a_statement_with_its_kind_written_in() -> None:
    # The server ran the statement taking any kind (a parameter of every CASE) for about
    # 15 µs more per delivery than one written for "sent" (generic plans of both).
    from carekit.journeys.stores._postgres_core import Core

    core = Core("s", "label", None)
    memory = MemoryJourneyStore()
    memory.create(service_case_journey(), "c-1", at=T0, channel="email")
    [item] = memory.claim_due(now=T0 + HOUR, limit=1, lease=MINUTE, claimant="w")
    sent = _record_stmt(core, AttemptOutcome(claimed=item, status="sent", at=T0,
                                             reference="r-1"),
                        lease=None, claimant="w", holding=("next",))
    assert "%(kinds)s" not in sent.sql and "CASE" not in sent.sql
    assert "status = 'sent'" in sent.sql
    assert sorted(sent.params) == ["ats", "claimant", "errors", "holding", "keys", "refs"]
    # The server's time is written in where one expression reads it (no CTE for it).
    assert "clock AS" not in sent.sql
    retry = _record_stmt(core, AttemptOutcome(claimed=item, status="retry", at=T0, error="x",
                                              retry_at=T0 + HOUR),
                         lease=None, claimant="w", holding=("next",))
    assert "%(kinds)s" in retry.sql and retry.params["kinds"] == "retry"
    # Extending the claims shares the server's time between its CTEs.
    extended = _record_stmt(core, AttemptOutcome(claimed=item, status="sent", at=T0),
                            lease=MINUTE, claimant="w", holding=("next",))
    assert "clock AS MATERIALIZED" in extended.sql and "%(kinds)s" not in extended.sql


@pytest.mark.parametrize("status", ["pending", "failed", "deferred", "dead", "withdrawn", "sent"])
@pytest.mark.parametrize("held", [True, False])
def test_a_deliverys_own_statement_writes_what_the_statement_for_any_kind_writes(
    postgres_url: str, postgres_schema: str, status: str, held: bool
) -> None:
    with _open(postgres_url, postgres_schema) as store:
        case = service_case_journey()
        store.create_many(case.start(f"c-{i}", at=T0, channel="email") for i in range(3))
        claimed = store.claim_due(now=T0 + HOUR, limit=10, lease=MINUTE, claimant="w")
        assert len(claimed) == 3
        first, after = claimed[0], claimed[1].idempotency_key
        if not held:  # the next one taken over meanwhile
            _sql(postgres_schema, "UPDATE {s}.outbox SET claimed_by = 'other'"
                 " WHERE idempotency_key = %s", (after,))
        if status != "pending":  # settled, retried or deferred meanwhile (by a rival)
            _sql(postgres_schema, "UPDATE {s}.outbox SET status = %s, claimed_by = NULL,"
                 " claim_until_us = NULL WHERE idempotency_key = %s",
                 (status, first.idempotency_key))
        core = store._core
        outcome = AttemptOutcome(claimed=first, status="sent", at=T0 + HOUR, reference="r-1")
        own = _record_stmt(core, outcome, lease=None, claimant="w", holding=(after,))
        params = {**own.params, "kinds": "sent", "claims": "w", "retry": None}
        general = core._make_record_sql(False, "one", "one")
        assert own.sql != general
        results = []
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            for sql in (own.sql, general):
                conn.execute("BEGIN")
                [(_, flag)] = conn.execute(sql, params).fetchall()
                outbox = conn.execute(
                    f'SELECT * FROM "{postgres_schema}".outbox ORDER BY idempotency_key'
                ).fetchall()
                journeys = conn.execute(
                    f'SELECT journey_id, version, settled FROM "{postgres_schema}".journeys'
                    " ORDER BY journey_id"
                ).fetchall()
                conn.execute("ROLLBACK")
                results.append((flag, outbox, journeys))
    assert results[0] == results[1]
    flag, outbox, journeys = results[0]
    assert flag is held
    counted = status != "sent"  # a late report overrides a rival's dead letter or withdrawal
    assert sum(settled for _, _, settled in journeys) == (1 if counted else 0)

