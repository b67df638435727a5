"""The journey-store contract, run against every store: memory and SQLite."""

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
    STORE_KINDS,
    T0,
    make_store,
    notes,
    order_events,
    same_journey,
    ticket_journey,
)

from carekit import (
    CareKitError,
    ConcurrencyError,
    InvalidTransition,
    StoreError,
    UnknownJourney,
    hookimpl,
)
from carekit.journeys import (
    AttemptOutcome,
    Event,
    JourneyStore,
    JourneySummary,
    MemoryJourneyStore,
    SQLiteJourneyStore,
    Touchpoint,
    dispatch,
    order_journey,
    replay,
    service_case_journey,
)
from carekit.testing import RecordingChannel, make_carekit


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Any]:
    s = make_store(request.param, tmp_path)
    yield s
    s.close()


def test_both_stores_satisfy_the_protocol(store: Any) -> None:
    assert isinstance(store, JourneyStore)


def test_create_stores_version_zero_and_owes_the_start_touchpoints(store: Any) -> None:
    journey = store.create("ticket", "t-1", at=T0, customer_id="c-9", channel="email")
    assert (journey.state, journey.version, journey.customer_id) == ("open", 0, "c-9")
    same_journey(store.load("t-1"), journey)
    [entry] = store.outbox("t-1")
    assert (entry.name, entry.channel, entry.status, entry.attempts) == (
        "ticket_opened", "email", "pending", 0,
    )
    assert entry.idempotency_key == "t-1/ticket_opened/0"
    assert entry.due == T0 + HOUR
    assert "t-1" in store and len(store) == 1


def test_create_twice_is_a_store_error(store: Any) -> None:
    store.create(order_journey(), "order-1", at=T0)
    with pytest.raises(StoreError, match="already exists"):
        store.create(order_journey(), "order-1", at=T0)


def test_unknown_journey_is_a_lookup_error(store: Any) -> None:
    with pytest.raises(UnknownJourney) as info:
        store.load("nope")
    assert info.value.journey_id == "nope"
    assert isinstance(info.value, LookupError)
    with pytest.raises(UnknownJourney):
        store.append("nope", Event("place", at=T0))


def test_append_then_load_rebuilds_the_same_journey(store: Any) -> None:
    store.create(order_journey(), "order-1", at=T0, channel="email")
    events = order_events()
    journey = store.append("order-1", events[:3])
    journey = store.append("order-1", events[3:], expected_version=3)
    assert (journey.state, journey.version) == ("closed", 8)
    same_journey(store.load("order-1"), journey)
    expected = replay(order_journey(), [Event(e.name, at=e.at, id=e.id, journey_id="order-1",
                                              data=e.data) for e in events])
    assert expected["order-1"].state == journey.state
    assert [e.id for e in store.events("order-1")] == [e.id for e in events]
    assert store.events("order-1")[4].data == {"tracking_number": "1Z999"}
    names = [entry.name for entry in store.outbox("order-1")]
    assert names == ["order_thanks", "production_update", "shipped_with_tracking",
                     "satisfaction_check"]


def test_expected_version_mismatch_is_a_concurrency_error(store: Any) -> None:
    store.create(order_journey(), "order-1", at=T0)
    store.append("order-1", Event("place", at=T0), expected_version=0)
    with pytest.raises(ConcurrencyError) as info:
        store.append("order-1", Event("acknowledge", at=T0), expected_version=0)
    assert (info.value.expected_version, info.value.actual_version) == (0, 1)
    assert "reload it and retry" in str(info.value)
    assert store.load("order-1").version == 1


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
def test_expected_version_must_be_a_count(store: Any, bad: object) -> None:
    store.create(order_journey(), "order-1", at=T0)
    with pytest.raises(CareKitError, match="expected_version"):
        store.append("order-1", Event("place", at=T0), expected_version=bad)  # type: ignore[arg-type]


def test_repeated_event_ids_are_ignored(store: Any) -> None:
    store.create(order_journey(), "order-1", at=T0)
    place = Event("place", at=T0, id="e1")
    assert store.append("order-1", [place, place]).version == 1
    assert store.append("order-1", place).version == 1
    # The same id under another name is the same event: ignored too.
    assert store.append("order-1", Event("acknowledge", at=T0, id="e1")).version == 1
    assert [e.id for e in store.events("order-1")] == ["e1"]


def test_events_without_ids_are_never_deduplicated(store: Any) -> None:
    store.create("ticket", "t-1", at=T0)
    journey = store.append("t-1", [Event("note", at=T0), Event("note", at=T0)])
    assert journey.version == 2


def test_a_refused_event_stores_nothing_of_its_batch(store: Any) -> None:
    store.create(order_journey(), "order-1", at=T0)
    batch = [Event("place", at=T0, id="e1"), Event("acknowledge", at=T0, id="e2"),
             Event("deliver", at=T0, id="e3")]
    with pytest.raises(InvalidTransition, match="allowed events"):
        store.append("order-1", batch)
    assert store.load("order-1").version == 0
    assert store.events("order-1") == []
    assert [e.name for e in store.outbox("order-1")] == []
    # The refused batch's ids were not remembered either.
    assert store.append("order-1", batch[:2]).version == 2


def test_an_event_for_another_journey_is_refused(store: Any) -> None:
    store.create(order_journey(), "order-1", at=T0)
    with pytest.raises(CareKitError, match="belongs to journey_id 'order-2'"):
        store.append("order-1", Event("place", at=T0, journey_id="order-2"))


@pytest.mark.parametrize("events", ["place", [object()], 42])
def test_events_must_be_events(store: Any, events: object) -> None:
    store.create(order_journey(), "order-1", at=T0)
    with pytest.raises(CareKitError, match="Event"):
        store.append("order-1", events)  # type: ignore[arg-type]


@pytest.mark.parametrize("journey_id", ["", None, 7])
def test_journey_id_must_be_a_non_empty_string(store: Any, journey_id: object) -> None:
    with pytest.raises(CareKitError, match="journey_id"):
        store.create(order_journey(), journey_id, at=T0)  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="journey_id"):
        store.load(journey_id)  # type: ignore[arg-type]


def test_naive_times_are_refused(store: Any) -> None:
    with pytest.raises(CareKitError, match="timezone-aware"):
        store.create(order_journey(), "order-1", at=dt.datetime(2026, 3, 2, 9))


def test_definitions_are_known_by_name(store: Any) -> None:
    store.create("order", "order-1", at=T0)
    store.create("service_case", "case-1", at=T0)
    store.create("visit", "visit-1", at=T0)
    with pytest.raises(StoreError, match="does not know"):
        store.create("loyalty", "l-1", at=T0)
    with pytest.raises(CareKitError, match="JourneyDefinition"):
        store.create(42, "x-1", at=T0)


def test_journeys_lists_current_state_without_loading(store: Any) -> None:
    store.create(order_journey(), "order-2", at=T0, customer_id="c-2", channel="email")
    store.create(order_journey(), "order-1", at=T0)
    store.create("ticket", "t-1", at=T0)
    store.append("order-2", order_events()[:2])
    summaries = list(store.journeys())
    assert [s.journey_id for s in summaries] == ["order-1", "order-2", "t-1"]
    second = summaries[1]
    assert second == JourneySummary(
        journey_id="order-2", definition="order", state="acknowledged", version=2,
        started_at=T0, updated_at=T0 + MINUTE, customer_id="c-2", channel="email", pending=1,
    )
    assert [s.journey_id for s in store.journeys(definition="order", state="new")] == ["order-1"]
    assert [s.journey_id for s in store.journeys(definition="ticket")] == ["t-1"]


def test_listing_filters_are_checked(store: Any) -> None:
    store.create(order_journey(), "order-1", at=T0)
    store.append("order-1", order_events()[:2])
    assert [e.status for e in store.outbox(status="pending")] == ["pending"]
    assert store.outbox(status="withdrawn") == []
    with pytest.raises(CareKitError, match="status must be one of 'pending', 'sent', 'dead', "
                                           "'withdrawn' \\(got 'delivered'\\)"):
        store.outbox(status="delivered")
    with pytest.raises(CareKitError, match="journey_id must be a string or None"):
        store.outbox(journey_id=1)
    with pytest.raises(CareKitError, match="state must be a string or None"):
        store.journeys(state=["new"])  # refused when called, not when iterated
    with pytest.raises(CareKitError, match="definition must be a string or None"):
        store.journeys(definition=order_journey())
    # A state or definition no journey has is a filter that matches nothing.
    assert list(store.journeys(state="nowhere")) == []


def test_load_many_keeps_the_order_asked_for(store: Any) -> None:
    for i in range(3):
        store.create(order_journey(), f"order-{i}", at=T0)
        store.append(f"order-{i}", order_events()[: i + 1])
    loaded = list(store.load_many(["order-2", "order-0"]))
    assert [(j.journey_id, j.version) for j in loaded] == [("order-2", 3), ("order-0", 1)]
    assert [j.journey_id for j in store.load_many()] == ["order-0", "order-1", "order-2"]
    with pytest.raises(UnknownJourney):
        list(store.load_many(["order-9"]))


def test_claims_take_the_longest_due_first(store: Any) -> None:
    # Both stores claim in order of next attempt, whatever order the touchpoints were owed
    # in, so a small batch takes the oldest debts.
    store.create("ticket", "late", at=T0 + HOUR)
    store.create("ticket", "early", at=T0)
    (first,) = store.claim_due(now=T0 + 2 * HOUR, limit=1, lease=MINUTE, claimant="a")
    assert first.touchpoint.journey_id == "early"
    (second,) = store.claim_due(now=T0 + 2 * HOUR, limit=1, lease=MINUTE, claimant="a")
    assert second.touchpoint.journey_id == "late"


def test_claims_exclude_other_claimants_until_the_lease_ends(store: Any) -> None:
    store.create("ticket", "t-1", at=T0, channel="email")
    first = store.claim_due(now=T0, limit=10, lease=5 * MINUTE, claimant="a")
    assert [(c.idempotency_key, c.attempt, c.channel) for c in first] == [
        ("t-1/ticket_opened/0", 1, "email")
    ]
    assert first[0].touchpoint.name == "ticket_opened"
    assert store.claim_due(now=T0 + MINUTE, limit=10, lease=5 * MINUTE, claimant="b") == []
    again = store.claim_due(now=T0 + 5 * MINUTE, limit=10, lease=5 * MINUTE, claimant="b")
    assert [(c.idempotency_key, c.attempt) for c in again] == [("t-1/ticket_opened/0", 2)]
    # The first claimant's late failure report is ignored: "b" holds the claim now.
    store.record([AttemptOutcome(claimed=first[0], status="retry", at=T0, error="x",
                                 retry_at=T0 + HOUR)])
    assert store.outbox("t-1")[0].last_error is None
    # So is its late "give up": the touchpoint stays owed while "b" tries.
    store.record([AttemptOutcome(claimed=first[0], status="dead", at=T0 + 6 * MINUTE,
                                 error="gave up")])
    assert store.outbox("t-1")[0].status == "pending"
    assert [tp.name for tp in store.load("t-1").owed] == ["ticket_opened"]
    # A late success report is kept: the message left.
    store.record([AttemptOutcome(claimed=first[0], status="sent", at=T0 + 6 * MINUTE,
                                 reference="m-1")])
    entry = store.outbox("t-1")[0]
    assert (entry.status, entry.reference, entry.settled_at) == ("sent", "m-1", T0 + 6 * MINUTE)
    assert store.load("t-1").owed == ()


def test_touchpoints_are_not_claimed_before_they_are_owed(store: Any) -> None:
    store.create("ticket", "t-1", at=T0 + HOUR)
    assert store.claim_due(now=T0, limit=10, lease=MINUTE, claimant="a") == []
    assert len(store.claim_due(now=T0 + HOUR, limit=10, lease=MINUTE, claimant="a")) == 1


def test_dead_letters_show_in_overdue_after_reload(store: Any) -> None:
    store.create("ticket", "t-1", at=T0)
    [claimed] = store.claim_due(now=T0, limit=10, lease=MINUTE, claimant="a")
    store.record([AttemptOutcome(claimed=claimed, status="dead", at=T0, error="gave up")])
    store.append("t-1", notes(2))
    journey = store.load("t-1")
    assert journey.owed == ()
    [late] = journey.overdue(T0 + 2 * HOUR)
    assert (late.name, late.dead, late.reason) == ("ticket_opened", True, "gave up")
    assert [e.status for e in store.outbox("t-1", status="dead")] == ["dead"]


def test_a_closed_store_refuses_work(tmp_path: pathlib.Path) -> None:
    for kind in STORE_KINDS:
        s = make_store(kind, tmp_path)
        s.create("ticket", "t-1", at=T0)
        s.close()
        s.close()
        with pytest.raises(StoreError, match="closed"):
            s.load("t-1")
        with pytest.raises(StoreError, match="closed"):
            s.append("t-1", notes(1))


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


def test_service_case_with_a_calendar_deadline_round_trips(store: Any) -> None:
    store.create(service_case_journey(), "case-1", at=T0, channel="chat")
    events = [Event("customer_contact", at=T0 + i * MINUTE, id=f"c{i}") for i in range(3)]
    journey = store.append("case-1", events)
    same_journey(store.load("case-1"), journey)
    assert journey.friction > 0


def test_create_many_stores_all_or_nothing(store: Any) -> None:
    order = order_journey()
    fresh = [order.start(f"order-{i}", at=T0 + i * MINUTE, channel="email") for i in range(5)]
    assert store.create_many(fresh) == 5
    assert [s.journey_id for s in store.journeys()] == [f"order-{i}" for i in range(5)]
    assert store.load("order-3").started_at == T0 + 3 * MINUTE
    clash = [order.start("order-9", at=T0), order.start("order-1", at=T0)]
    with pytest.raises(StoreError, match="'order-1' already exists"):
        store.create_many(clash)
    assert "order-9" not in store
    with pytest.raises(StoreError, match="'order-8' already exists"):
        store.create_many([order.start("order-8", at=T0), order.start("order-8", at=T0)])
    assert "order-8" not in store
    moved = order.start("order-7", at=T0).apply(Event("place", at=T0)).journey
    with pytest.raises(CareKitError, match="version 0"):
        store.create_many([moved])
    with pytest.raises(CareKitError, match="Journey"):
        store.create_many(["order-6"])
    with pytest.raises(CareKitError, match="iterable"):
        store.create_many(42)
    # A definition first seen in create_many is known afterwards.
    assert store.create_many([ticket_journey().start("t-1", at=T0)]) == 1
    assert store.append("t-1", notes(1)).version == 1


def test_a_late_delivery_report_overrides_a_rivals_dead_letter(store: Any) -> None:
    store.create("ticket", "t-1", at=T0)
    [slow] = store.claim_due(now=T0, limit=1, lease=MINUTE, claimant="slow")
    [rival] = store.claim_due(now=T0 + MINUTE, limit=1, lease=MINUTE, claimant="rival")
    store.record([AttemptOutcome(claimed=rival, status="dead", at=T0 + MINUTE, error="down")])
    assert store.load("t-1").overdue(T0 + 2 * HOUR)[0].dead
    store.record([AttemptOutcome(claimed=slow, status="sent", at=T0 + 2 * MINUTE)])
    assert [e.status for e in store.outbox("t-1")] == ["sent"]
    journey = store.load("t-1")
    assert journey.owed == () and journey.overdue(T0 + 2 * HOUR) == []


class Apologise:
    """A recovery plugin: an apology call once friction crosses the threshold."""

    @hookimpl
    def carekit_recovery_action(self, journey: Any, friction: float) -> list[Touchpoint]:
        return [Touchpoint(name="apology_call", within=HOUR, channel="phone")]


def test_recovery_touchpoints_from_plugins_are_owed_and_survive_reload(store: Any) -> None:
    kit = make_carekit(Apologise())
    store.create(service_case_journey(), "case-1", at=T0, channel="email")
    contacts = [Event("customer_contact", at=T0 + i * MINUTE, id=f"c{i}") for i in range(4)]
    journey = store.append("case-1", contacts, kit=kit)
    names = [tp.name for tp in journey.owed]
    assert names.count("apology_call") == 1
    same_journey(store.load("case-1"), journey)
    assert "apology_call" in [e.name for e in store.outbox("case-1")]
    # Without the kit nothing asks the plugins: no second apology on later contacts.
    later = store.append("case-1", Event("customer_contact", at=T0 + HOUR, id="c9"))
    assert [tp.name for tp in later.owed].count("apology_call") == 1
    phone = RecordingChannel("phone", register=False)
    email = RecordingChannel("email", register=False)
    dispatch(make_carekit(phone, email), store, now=T0 + HOUR)
    assert phone.names == ["apology_call"]
    assert store.load("case-1").owed == ()


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


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"now": dt.datetime(2026, 3, 2)}, "now must be a timezone-aware datetime"),
        ({"limit": 0}, r"limit must be an integer >= 1 \(got 0\)"),
        ({"limit": 2**63}, r"limit must be at most 1,000,000 touchpoints \(got 92233720"),
        ({"limit": 10**40}, r"limit must be at most 1,000,000 .*\(got an integer of more"),
        ({"lease": dt.timedelta(0)}, "lease must be a positive duration"),
        ({"lease": dt.timedelta.max}, r"now \+ lease is past the last datetime Python can"),
        (
            {"now": dt.datetime.max.replace(tzinfo=dt.timezone.utc)},
            r"now \+ lease is past the last datetime .*now=9999-12-31T23:59:59.999999\+00:00, "
            r"lease=0:01:00\); pass an earlier now or a shorter lease",
        ),
        ({"claimant": ""}, r"claimant must be a non-empty string \(got ''\)"),
        ({"claimant": None}, r"claimant must be a non-empty string \(got None\)"),
    ],
)
def test_claim_due_checks_its_arguments(
    store: Any, arguments: dict[str, Any], match: str
) -> None:
    # Regression: OverflowError (and, in SQLite, "Python int too large to convert").
    store.create("ticket", "t-1", at=T0)
    claim = {"now": T0, "limit": 10, "lease": MINUTE, "claimant": "a", **arguments}
    with pytest.raises(CareKitError, match=match):
        store.claim_due(**claim)
    assert [e.attempts for e in store.outbox("t-1")] == [0]  # nothing was claimed


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
