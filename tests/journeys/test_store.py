"""The journey-store contract, run against every store: memory and SQLite.

The contract itself is :class:`carekit.testing.JourneyStoreContract`; PostgreSQL runs it in
``test_store_postgres.py``. The tests below it are about both stores together.
"""

from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.journeys._store_helpers import (
    HOUR,
    MINUTE,
    T0,
    same_journey,
    ticket_journey,
)

from carekit import CareKitError, InvalidTransition, hookimpl
from carekit.journeys import (
    Event,
    MemoryJourneyStore,
    SQLiteJourneyStore,
    Touchpoint,
    dispatch,
    order_journey,
    service_case_journey,
)
from carekit.testing import JourneyStoreContract, RecordingChannel, make_carekit


class TestMemoryStore(JourneyStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[Any]:
        s = MemoryJourneyStore(definitions=JourneyStoreContract.definitions())
        yield s
        s.close()


class TestSQLiteStore(JourneyStoreContract):
    @pytest.fixture
    def store(self, tmp_path: pathlib.Path) -> Iterator[Any]:
        s = SQLiteJourneyStore(
            tmp_path / "journeys.db", definitions=JourneyStoreContract.definitions()
        )
        yield s
        s.close()


class TestSQLiteInMemoryStore(JourneyStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[Any]:
        s = SQLiteJourneyStore(":memory:", definitions=JourneyStoreContract.definitions())
        yield s
        s.close()


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Any]:
    from tests.journeys._store_helpers import make_store

    s = make_store(request.param, tmp_path)
    yield s
    s.close()


class Apologise:
    """A recovery plugin: an apology call once friction crosses the threshold."""

    @hookimpl
    def carekit_recovery_action(self, journey: Any, friction: float) -> list[Touchpoint]:
        return [Touchpoint(name="apology_call", within=HOUR, channel="phone")]


def test_a_carekit_supplies_the_definitions(tmp_path: pathlib.Path) -> None:
    kit = make_carekit()
    for s in (MemoryJourneyStore(definitions=kit),
              SQLiteJourneyStore(tmp_path / "kit.db", definitions=kit)):
        assert s.create("service_case", "case-1", at=T0).state == "opened"
        s.close()


@pytest.mark.parametrize("bad", [42, "order", [object()]])
def test_definitions_argument_is_checked(bad: object) -> None:
    with pytest.raises(CareKitError, match="definitions"):
        MemoryJourneyStore(definitions=bad)


_ticket_events = st.lists(
    st.tuples(st.sampled_from(["note", "nudge", "close"]), st.integers(0, 6)),
    max_size=12,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches=st.lists(_ticket_events, max_size=4))
def test_any_append_sequence_loads_as_the_pure_replay(batches: list[list[tuple[str, int]]]) -> None:
    # Property: whatever batches arrive (repeats, refusals), every store loads exactly the
    # journey a pure replay of the accepted events produces.
    for s in (MemoryJourneyStore(definitions=[ticket_journey()]),
              SQLiteJourneyStore(":memory:", definitions=[ticket_journey()])):
        s.create("ticket", "t", at=T0, channel="email")
        accepted: list[Event] = []
        clock = 0
        for batch in batches:
            events = []
            for name, ident in batch:
                clock += 1
                events.append(Event(name, at=T0 + clock * MINUTE, id=f"i{ident}"))
            try:
                s.append("t", events)
            except InvalidTransition:
                continue
            seen = {e.id for e in accepted}
            for e in events:
                if e.id not in seen:
                    seen.add(e.id)
                    accepted.append(e)
        pure = ticket_journey().start("t", at=T0, channel="email")
        for e in accepted:
            pure = pure.apply(e).journey
        same_journey(s.load("t"), pure)
        assert [e.id for e in s.events("t")] == [e.id for e in accepted]
        assert len(s.outbox("t")) == 1 + sum(e.name == "nudge" for e in accepted) + (
            pure.state == "closed"
        )
        s.close()


def test_the_longest_int_event_data_may_hold_is_stored_by_both_stores(store: Any) -> None:
    # Regression: 10 ** 5000 passed Event and the memory store, then the SQLite store raised
    # ValueError writing it as JSON. Now Event refuses it, so both stores agree.
    longest = 10**4300 - 1
    store.create("ticket", "t-1", at=T0)
    store.append("t-1", [Event("note", at=T0, id="n1", data={"n": longest})])
    [event] = store.events("t-1")
    assert event.data["n"] == longest
    with pytest.raises(CareKitError, match="integers may have at most 4300 digits"):
        store.append("t-1", [Event("note", at=T0, id="n2", data={"n": 10**5000})])


def test_instants_past_the_year_9999_in_utc_are_read_back(store: Any) -> None:
    # 9999-12-31T20:00-14:00 is in the year 10000 in UTC: SQLite keeps next attempts as
    # UTC microseconds, and reading one back raised OverflowError.
    far_west = dt.timezone(dt.timedelta(hours=-14))
    late = dt.datetime(9999, 12, 31, 9, 0, tzinfo=far_west)
    store.create("ticket", "t-1", at=late)
    [entry] = store.outbox("t-1")
    assert entry.next_attempt_at == late
    email = RecordingChannel("email", register=False, fail_times=1)
    report = dispatch(make_carekit(email), store, now=late + HOUR, backoff=HOUR)
    [failed] = report.failed
    assert failed.retry_at == late + 2 * HOUR
    [entry] = store.outbox("t-1")
    assert entry.next_attempt_at == late + 2 * HOUR


def test_a_channel_plugin_is_told_whom_to_reach(store: Any) -> None:
    # Every owed touchpoint carries its journey's customer_id: made by create, by append,
    # by a recovery plugin, reloaded (snapshots included) and claimed for delivery.
    kit = make_carekit(Apologise())
    store.create(service_case_journey(), "case-1", at=T0, customer_id="cust-9", channel="email")
    store.create(order_journey(), "order-1", at=T0, channel="email")  # no customer
    contacts = [Event("customer_contact", at=T0 + i * MINUTE, id=f"c{i}") for i in range(4)]
    journey = store.append("case-1", contacts, kit=kit)
    store.append("order-1", [Event("place", at=T0), Event("acknowledge", at=T0)])
    assert {tp.customer_id for tp in journey.owed} == {"cust-9"}
    assert {tp.customer_id for tp in store.load("case-1").owed} == {"cust-9"}
    phone = RecordingChannel("phone", register=False)
    email = RecordingChannel("email", register=False)
    dispatch(make_carekit(phone, email), store, now=T0 + HOUR)
    delivered = [(d.touchpoint.name, d.touchpoint.customer_id)
                 for d in [*phone.deliveries, *email.deliveries]]
    assert sorted(delivered) == [
        ("apology_call", "cust-9"), ("case_received", "cust-9"), ("order_thanks", None)
    ]


def test_create_many_owes_under_the_journeys_own_customer(store: Any) -> None:
    # A journey whose customer_id was set after start: both stores tell the channel plugin
    # the journey's customer, and load what was created.
    import attrs

    started = service_case_journey().start("c1", at=T0, channel="email")
    created = attrs.evolve(started, customer_id="cust-1")
    store.create_many([created])
    assert store.load("c1") == created
    assert [tp.customer_id for tp in store.load("c1").owed] == ["cust-1"]
    email = RecordingChannel("email", register=False)
    dispatch(make_carekit(email), store, now=T0 + MINUTE)
    assert [d.touchpoint.customer_id for d in email.deliveries] == ["cust-1"]


class ExitsFromObserver:
    @hookimpl
    def carekit_on_transition(self, journey: Any, transition: Any) -> None:
        raise SystemExit(3)


def test_an_observer_raising_system_exit_cannot_fail_a_stored_append(
    store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Regression (r18): SystemExit escaped after the commit, so a caller retrying an
    # id-less event appended it twice.
    store.create(order_journey(), "o-1", at=T0)
    kit = make_carekit(ExitsFromObserver())
    assert store.append("o-1", Event("promise_at_risk", at=T0), kit=kit).version == 1
    assert store.load("o-1").version == 1
    assert "carekit_on_transition observer" in caplog.text and "SystemExit" in caplog.text


def test_recording_outcomes_does_not_rebuild_the_journey_each_time() -> None:
    # Regression (r09, the dispatch side): the memory store rebuilt the journey's owed
    # touchpoints on every recorded delivery; now outcomes are folded in when it is read.
    from carekit.journeys import AttemptOutcome

    store = MemoryJourneyStore(definitions=[ticket_journey()])
    store.create("ticket", "t", at=T0)
    store.append("t", [Event("nudge", at=T0, id=f"n{k}") for k in range(300)])
    claimed = store.claim_due(now=T0, limit=1000, lease=MINUTE, claimant="w")
    before = store._journeys["t"].journey
    store.record([AttemptOutcome(claimed=c, status="sent", at=T0) for c in claimed[:-1]])
    assert store._journeys["t"].journey is before  # not rebuilt per outcome
    assert [tp.name for tp in store.load("t").owed] == ["nudge_reply"]


@settings(max_examples=40, deadline=None)
@given(
    offsets=st.lists(st.integers(0, 600), min_size=1, max_size=40),
    claimed=st.integers(0, 40),
    at=st.integers(0, 700),
)
def test_oldest_due_agrees_with_the_outbox(offsets: list[int], claimed: int, at: int) -> None:
    # Property: whatever is owed and claimed, oldest_due is the earliest next attempt among
    # the touchpoints a worker could claim now (read from the heaps' tops in memory, from
    # the ready index in SQLite).
    for s in (MemoryJourneyStore(definitions=[ticket_journey()]),
              SQLiteJourneyStore(":memory:", definitions=[ticket_journey()])):
        for i, offset in enumerate(offsets):
            s.create("ticket", f"t-{i}", at=T0 + offset * MINUTE)
        now = T0 + at * MINUTE
        taken = {c.idempotency_key
                 for c in s.claim_due(now=now, limit=claimed or 1, lease=HOUR, claimant="w")
                 } if claimed else set()
        expected = min(
            (e.next_attempt_at for e in s.outbox()
             if e.next_attempt_at is not None and e.next_attempt_at <= now
             and e.idempotency_key not in taken),
            default=None,
        )
        assert s.oldest_due(now=now) == expected
        s.close()


def test_record_refuses_a_huge_iterable_of_non_outcomes_at_its_first_item(store: Any) -> None:
    # Regression (r13): MemoryJourneyStore().record(range(10**12)) raised MemoryError.
    with pytest.raises(CareKitError, match="AttemptOutcome"):
        store.record(range(10**12))


def test_oldest_due_skips_a_touchpoint_rescheduled_below_the_top(store: Any) -> None:
    # Regression: the memory store took a stale heap entry below the top for a due
    # touchpoint: one retried an hour later was reported as waiting since it was first due.
    from carekit.journeys import AttemptOutcome

    store.create("ticket", "t-1", at=T0)
    store.create("ticket", "t-2", at=T0)
    a, b = store.claim_due(now=T0, limit=2, lease=HOUR, claimant="w")
    store.record([AttemptOutcome(claimed=b, status="retry", at=T0, error="x",
                                 retry_at=T0 + HOUR)])
    assert store.oldest_due(now=T0) is None  # a is claimed, b waits an hour
    assert store.oldest_due(now=T0 + HOUR) == T0 + HOUR
    assert a.idempotency_key != b.idempotency_key
