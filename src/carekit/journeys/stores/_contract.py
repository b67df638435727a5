"""The journey-store conformance suite, as a pytest base class (see ``carekit.testing``).

Every store carekit ships runs it; a third-party store can too::

    import pytest
    from carekit.testing import JourneyStoreContract

    class TestMyStore(JourneyStoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            store = MyStore(tmp_path / "x")
            yield store
            store.close()

The ``store`` fixture must give a fresh, empty store. Besides the built-in journeys (known
by name), the tests use a small ``ticket`` journey (:meth:`JourneyStoreContract.definitions`)
and hand it to ``store.create`` as the definition object, so a store needs to be told
nothing beforehand; it must know a definition given to ``create`` for the journeys it keeps,
as every built-in store does. Claims are tested with real, short leases (a fraction of a
second).
"""

from __future__ import annotations

import datetime as dt
import inspect
import time
from collections.abc import Iterator
from typing import Any

import pytest

from carekit import CareKitError, ConcurrencyError, InvalidTransition, StoreError, UnknownJourney
from carekit.channels import Channel, DeliveryResult
from carekit.hookspecs import hookimpl
from carekit.journeys import (
    AttemptOutcome,
    Event,
    JourneyDefinition,
    JourneyStore,
    JourneySummary,
    State,
    Touchpoint,
    Transition,
    Worker,
    order_journey,
    service_case_journey,
)
from carekit.metrics import TouchpointCoverage
from carekit.testing import RecordingChannel, make_carekit

__all__ = ["JourneyStoreContract"]

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)  # a Monday
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
#: A lease short enough to wait out in a test.
SHORT = dt.timedelta(milliseconds=300)


def ticket_journey() -> JourneyDefinition:
    """A ticket taking any number of notes; each ``nudge`` owes a ``nudge_reply``."""
    return JourneyDefinition(
        name="ticket",
        states=[State(name="open"), State(name="closed", final=True, withdraws=True)],
        transitions=[
            Transition(event="note", source="open", target="open"),
            Transition(event="nudge", source="open", target="open"),
            Transition(event="close", source="open", target="closed"),
        ],
        touchpoints=[
            Touchpoint(name="ticket_opened", on_enter="open", within=HOUR),
            Touchpoint(name="nudge_reply", on_event="nudge", within=HOUR),
            Touchpoint(name="ticket_closed", on_enter="closed", within=HOUR, channel="sms"),
            Touchpoint(name="survey", on_event="note", within=HOUR, delay=dt.timedelta(days=2)),
        ],
    )


def _order_events(prefix: str = "e") -> list[Event]:
    names: list[tuple[str, dict[str, Any] | None]] = [
        ("place", None), ("acknowledge", None), ("start_production", None),
        ("near_completion", None), ("ship", {"tracking_number": "1Z999"}), ("deliver", None),
        ("follow_up", None), ("close", None),
    ]
    return [
        Event(name, at=T0 + i * MINUTE, id=f"{prefix}{i + 1}", data=data)
        for i, (name, data) in enumerate(names)
    ]


def _same(a: Any, b: Any) -> None:
    """Two journeys agree on everything a store must keep."""
    assert (a.journey_id, a.definition.name, a.state, a.version) == (
        b.journey_id, b.definition.name, b.state, b.version
    )
    assert (a.started_at, a.updated_at, a.customer_id, a.channel, a.tz) == (
        b.started_at, b.updated_at, b.customer_id, b.channel, b.tz
    )
    assert a.friction == pytest.approx(b.friction)
    assert a.owed == b.owed
    assert [t.customer_id for t in a.owed] == [t.customer_id for t in b.owed]
    assert a.deadlines == b.deadlines
    assert [d.touchpoint.idempotency_key for d in a.dead] == [
        d.touchpoint.idempotency_key for d in b.dead
    ]
    assert list(a.seen_event_ids) == list(b.seen_event_ids)


class _Apologise:
    """A recovery plugin: an apology call once friction crosses the threshold."""

    @hookimpl
    def carekit_recovery_action(self, journey: Any, friction: float) -> list[Touchpoint]:
        return [Touchpoint(name="apology_call", within=HOUR, channel="phone")]


class _Later:
    """A channel plugin that defers every touchpoint on ``email`` once, then delivers it."""

    def __init__(self, until: dt.datetime) -> None:
        self.until = until
        self.calls: list[str] = []

    @hookimpl
    def carekit_deliver_touchpoint(
        self, touchpoint: Any, channel: Channel, idempotency_key: str
    ) -> DeliveryResult | None:
        if channel.name != "email":
            return None
        self.calls.append(idempotency_key)
        if self.calls.count(idempotency_key) == 1:
            return DeliveryResult(delivered=False, retry_at=self.until)
        return DeliveryResult(reference=f"ok-{len(self.calls)}")


class _CancelsWhileSending:
    """A channel plugin on ``email`` whose journey is cancelled while it delivers."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.sent: list[str] = []

    @hookimpl
    def carekit_deliver_touchpoint(
        self, touchpoint: Any, channel: Channel, idempotency_key: str
    ) -> DeliveryResult | None:
        if channel.name != "email":
            return None
        self.store.append(touchpoint.journey_id, Event("cancel", at=T0 + MINUTE, id="cancel"))
        self.sent.append(idempotency_key)
        return DeliveryResult(reference="m-1")


class _Ear:
    """An observer: what it heard, as ``(journey id, version, event)``."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, int, str]] = []

    @hookimpl
    def carekit_on_transition(self, journey: Any, transition: Any) -> None:
        self.heard.append((journey.journey_id, journey.version, transition.event))


def takes_holding(store: Any) -> bool:
    """Whether ``store.record`` takes the optional ``holding`` keyword."""
    try:
        return "holding" in inspect.signature(store.record).parameters
    except (TypeError, ValueError):
        return False


class JourneyStoreContract:
    """The tests every :class:`~carekit.journeys.JourneyStore` must pass.

    Subclass it in a test module and provide a ``store`` fixture (see the module docs).
    """

    @staticmethod
    def definitions() -> list[JourneyDefinition]:
        """The definitions the tests use besides the built-ins (given to ``create``).

        A store told them beforehand (``definitions=...``) passes too.
        """
        return [ticket_journey()]

    @pytest.fixture
    def store(self) -> Iterator[Any]:
        """A fresh, empty store (subclasses must override this)."""
        msg = "subclass JourneyStoreContract and give it a `store` fixture"
        raise NotImplementedError(msg)
        yield  # pragma: no cover

    # -- the protocol -------------------------------------------------------------------

    def test_satisfies_the_protocol(self, store: Any) -> None:
        assert isinstance(store, JourneyStore)

    # -- creating -----------------------------------------------------------------------

    def test_create_stores_version_zero_and_owes_the_start_touchpoints(self, store: Any) -> None:
        journey = store.create(ticket_journey(), "t-1", at=T0, customer_id="c-9",
                               channel="email", tz="Europe/Paris")
        assert (journey.state, journey.version, journey.customer_id, journey.tz) == (
            "open", 0, "c-9", "Europe/Paris"
        )
        _same(store.load("t-1"), journey)
        [entry] = store.outbox("t-1")
        assert (entry.name, entry.channel, entry.status, entry.attempts) == (
            "ticket_opened", "email", "pending", 0,
        )
        assert entry.idempotency_key == "t-1/ticket_opened/0"
        assert (entry.due, entry.next_attempt_at) == (T0 + HOUR, T0)

    def test_create_twice_is_an_error_unless_exist_ok(self, store: Any) -> None:
        first = store.create(order_journey(), "order-1", at=T0, channel="email")
        store.append("order-1", Event("place", at=T0, id="p"))
        with pytest.raises(StoreError, match="already exists"):
            store.create(order_journey(), "order-1", at=T0)
        again = store.create(order_journey(), "order-1", at=T0 + HOUR, exist_ok=True)
        assert (again.version, again.started_at, again.channel) == (1, first.started_at, "email")
        assert len(store.outbox("order-1")) == 0
        assert store.create_many([order_journey().start("order-1", at=T0)], exist_ok=True) == 0

    def test_create_many_stores_all_or_nothing(self, store: Any) -> None:
        order = order_journey()
        fresh = [order.start(f"order-{i}", at=T0 + i * MINUTE, channel="email") for i in range(5)]
        assert store.create_many(fresh) == 5
        assert [s.journey_id for s in store.journeys()] == [f"order-{i}" for i in range(5)]
        assert store.load("order-3").started_at == T0 + 3 * MINUTE
        with pytest.raises(StoreError, match="'order-1' already exists"):
            store.create_many([order.start("order-9", at=T0), order.start("order-1", at=T0)])
        assert "order-9" not in {s.journey_id for s in store.journeys()}
        with pytest.raises(StoreError, match="'order-8' already exists"):
            store.create_many([order.start("order-8", at=T0), order.start("order-8", at=T0)])
        moved = order.start("order-7", at=T0).apply(Event("place", at=T0)).journey
        with pytest.raises(CareKitError, match="version 0"):
            store.create_many([moved])
        with pytest.raises(CareKitError, match="Journey"):
            store.create_many(["order-6"])
        assert store.create_many(
            [order.start("order-4", at=T0), order.start("order-5", at=T0)], exist_ok=True
        ) == 1

    def test_unknown_journey_is_a_lookup_error(self, store: Any) -> None:
        with pytest.raises(UnknownJourney) as info:
            store.load("nope")
        assert info.value.journey_id == "nope"
        assert isinstance(info.value, LookupError)
        with pytest.raises(UnknownJourney):
            store.append("nope", Event("place", at=T0))
        with pytest.raises(UnknownJourney):
            store.events("nope")

    def test_definitions_are_known_by_name(self, store: Any) -> None:
        assert store.create("order", "order-1", at=T0).state == "new"
        assert store.create("service_case", "case-1", at=T0).state == "opened"
        with pytest.raises(StoreError, match="does not know"):
            store.create("loyalty", "l-1", at=T0)

    @pytest.mark.parametrize("journey_id", ["", None, 7])
    def test_journey_id_must_be_a_non_empty_string(self, store: Any, journey_id: Any) -> None:
        with pytest.raises(CareKitError, match="journey_id"):
            store.create(order_journey(), journey_id, at=T0)
        with pytest.raises(CareKitError, match="journey_id"):
            store.load(journey_id)

    def test_naive_times_and_unknown_zones_are_refused(self, store: Any) -> None:
        with pytest.raises(CareKitError, match="timezone-aware"):
            store.create(order_journey(), "order-1", at=dt.datetime(2026, 3, 2, 9))
        with pytest.raises(CareKitError, match="IANA time zone"):
            store.create(order_journey(), "order-1", at=T0, tz="Mars/Olympus")

    # -- appending and loading ----------------------------------------------------------

    def test_append_then_load_gives_the_same_journey(self, store: Any) -> None:
        store.create(order_journey(), "order-1", at=T0, channel="email")
        events = _order_events()
        journey = store.append("order-1", events[:3])
        journey = store.append("order-1", events[3:], expected_version=3)
        assert (journey.state, journey.version) == ("closed", 8)
        _same(store.load("order-1"), journey)
        pure = order_journey().start("order-1", at=T0, channel="email")
        for event in events:
            pure = pure.apply(event).journey
        _same(journey, pure)
        assert [e.id for e in store.events("order-1")] == [e.id for e in events]
        assert store.events("order-1")[4].data == {"tracking_number": "1Z999"}
        assert [entry.name for entry in store.outbox("order-1")] == [
            "order_thanks", "production_update", "shipped_with_tracking", "satisfaction_check"
        ]

    def test_expected_version_mismatch_is_a_concurrency_error(self, store: Any) -> None:
        store.create(order_journey(), "order-1", at=T0)
        store.append("order-1", Event("place", at=T0), expected_version=0)
        with pytest.raises(ConcurrencyError) as info:
            store.append("order-1", Event("acknowledge", at=T0), expected_version=0)
        assert (info.value.expected_version, info.value.actual_version) == (0, 1)
        assert store.load("order-1").version == 1

    def test_repeated_event_ids_are_ignored_even_after_reload(self, store: Any) -> None:
        store.create(order_journey(), "order-1", at=T0)
        place = Event("place", at=T0, id="e1")
        assert store.append("order-1", [place, place]).version == 1
        assert store.append("order-1", place).version == 1
        assert store.append("order-1", Event("acknowledge", at=T0, id="e1")).version == 1
        assert [e.id for e in store.events("order-1")] == ["e1"]
        assert list(store.load("order-1").seen_event_ids) == ["e1"]

    def test_events_without_ids_are_never_deduplicated(self, store: Any) -> None:
        store.create(ticket_journey(), "t-1", at=T0)
        assert store.append("t-1", [Event("note", at=T0), Event("note", at=T0)]).version == 2

    def test_a_refused_event_stores_nothing_of_its_batch(self, store: Any) -> None:
        store.create(order_journey(), "order-1", at=T0)
        batch = [Event("place", at=T0, id="e1"), Event("acknowledge", at=T0, id="e2"),
                 Event("deliver", at=T0, id="e3")]
        with pytest.raises(InvalidTransition, match="allowed events"):
            store.append("order-1", batch)
        assert store.load("order-1").version == 0
        assert store.events("order-1") == []
        assert store.outbox("order-1") == []
        assert store.append("order-1", batch[:2]).version == 2

    def test_an_event_for_another_journey_is_refused(self, store: Any) -> None:
        store.create(order_journey(), "order-1", at=T0)
        with pytest.raises(CareKitError, match="belongs to journey_id 'order-2'"):
            store.append("order-1", Event("place", at=T0, journey_id="order-2"))

    @pytest.mark.parametrize("events", ["place", [object()], 42])
    def test_events_must_be_events(self, store: Any, events: Any) -> None:
        store.create(order_journey(), "order-1", at=T0)
        with pytest.raises(CareKitError, match="Event"):
            store.append("order-1", events)

    def test_an_event_a_second_older_is_taken_one_much_older_refused(self, store: Any) -> None:
        # App servers' clocks differ a little: within the definition's clock tolerance an
        # older event is taken (as if it came with the latest), and stored as it came.
        store.create(order_journey(), "order-1", at=T0)
        store.append("order-1", Event("place", at=T0 + MINUTE, id="p"))
        skewed = Event("acknowledge", at=T0 + MINUTE - dt.timedelta(seconds=1), id="a")
        journey = store.append("order-1", skewed)
        assert (journey.state, journey.updated_at) == ("acknowledged", T0 + MINUTE)
        assert store.events("order-1")[1].at == skewed.at
        _same(store.load("order-1"), journey)
        with pytest.raises(InvalidTransition, match="older than"):
            store.append("order-1", Event("start_production", at=T0, id="s"))

    def test_journeys_lists_current_state_without_loading(self, store: Any) -> None:
        store.create(order_journey(), "order-2", at=T0, customer_id="c-2", channel="email",
                     tz="Europe/London")
        store.create(order_journey(), "order-1", at=T0)
        store.create(ticket_journey(), "t-1", at=T0)
        store.append("order-2", _order_events()[:2])
        summaries = list(store.journeys())
        assert [s.journey_id for s in summaries] == ["order-1", "order-2", "t-1"]
        assert summaries[1] == JourneySummary(
            journey_id="order-2", definition="order", state="acknowledged", version=2,
            started_at=T0, updated_at=T0 + MINUTE, customer_id="c-2", channel="email",
            pending=1, tz="Europe/London",
        )
        assert [s.journey_id for s in store.journeys(definition="order", state="new")] == [
            "order-1"
        ]

    def test_listing_filters_are_checked(self, store: Any) -> None:
        store.create(order_journey(), "order-1", at=T0)
        store.append("order-1", _order_events()[:2])
        assert [e.status for e in store.outbox(status="pending")] == ["pending"]
        assert store.outbox(status="deferred") == []
        with pytest.raises(CareKitError, match="status must be one of 'pending', 'failed', "
                                               "'deferred', 'sent', 'dead', 'withdrawn'"):
            store.outbox(status="delivered")
        with pytest.raises(CareKitError, match="journey_id must be a string or None"):
            store.outbox(journey_id=1)
        with pytest.raises(CareKitError, match="state must be a string or None"):
            store.journeys(state=["new"])

    def test_load_many_keeps_the_order_asked_for(self, store: Any) -> None:
        for i in range(3):
            store.create(order_journey(), f"order-{i}", at=T0)
            store.append(f"order-{i}", _order_events()[: i + 1])
        loaded = list(store.load_many(["order-2", "order-0"]))
        assert [(j.journey_id, j.version) for j in loaded] == [("order-2", 3), ("order-0", 1)]
        assert [j.journey_id for j in store.load_many()] == ["order-0", "order-1", "order-2"]
        with pytest.raises(UnknownJourney):
            list(store.load_many(["order-9"]))

    def test_outbox_counts_every_status(self, store: Any) -> None:
        assert store.outbox_counts() == {
            "pending": 0, "failed": 0, "deferred": 0, "sent": 0, "dead": 0, "withdrawn": 0
        }
        for i in range(3):
            store.create(ticket_journey(), f"t-{i}", at=T0, channel="email")
        [a, b, c] = store.claim_due(now=T0, limit=10, lease=MINUTE, claimant="w")
        store.record([
            AttemptOutcome(claimed=a, status="sent", at=T0),
            AttemptOutcome(claimed=b, status="retry", at=T0, error="x", retry_at=T0 + HOUR),
            AttemptOutcome(claimed=c, status="defer", at=T0, retry_at=T0 + HOUR),
        ])
        store.create(ticket_journey(), "t-9", at=T0)
        counts = store.outbox_counts()
        assert counts == {
            "pending": 1, "failed": 1, "deferred": 1, "sent": 1, "dead": 0, "withdrawn": 0
        }

    # -- withdrawal, delays and zones -----------------------------------------------------

    def test_cancelling_withdraws_every_unsent_touchpoint(self, store: Any) -> None:
        store.create(order_journey(), "order-1", at=T0, channel="email")
        store.append("order-1", [Event("place", at=T0, id="p"),
                                 Event("acknowledge", at=T0, id="a")])
        journey = store.append("order-1", Event("cancel", at=T0 + MINUTE, id="c"))
        assert journey.owed == ()
        [entry] = store.outbox("order-1")
        assert (entry.name, entry.status, entry.settled_at) == (
            "order_thanks", "withdrawn", T0 + MINUTE
        )
        assert store.claim_due(now=T0 + HOUR, limit=10, lease=MINUTE, claimant="w") == []
        _same(store.load("order-1"), journey)

    def test_a_delayed_touchpoint_waits_its_delay(self, store: Any) -> None:
        store.create(ticket_journey(), "t-1", at=T0, channel="email")
        [opened] = store.claim_due(now=T0, limit=10, lease=MINUTE, claimant="w")
        store.record([AttemptOutcome(claimed=opened, status="sent", at=T0)])
        store.append("t-1", Event("note", at=T0 + HOUR, id="n"))
        [survey] = store.outbox("t-1", status="pending")
        assert (survey.not_before, survey.due) == (
            T0 + HOUR + dt.timedelta(days=2), T0 + HOUR + dt.timedelta(days=2) + HOUR
        )
        soon = T0 + dt.timedelta(days=2)
        assert store.claim_due(now=soon, limit=10, lease=MINUTE, claimant="w") == []
        [claimed] = store.claim_due(
            now=T0 + HOUR + dt.timedelta(days=2), limit=10, lease=MINUTE, claimant="w"
        )
        assert claimed.touchpoint.not_before == T0 + HOUR + dt.timedelta(days=2)
        assert store.load("t-1").owed[0].not_before == T0 + HOUR + dt.timedelta(days=2)

    # -- claims and outcomes ------------------------------------------------------------

    def test_claims_take_the_longest_due_first(self, store: Any) -> None:
        store.create(ticket_journey(), "late", at=T0 + HOUR)
        store.create(ticket_journey(), "early", at=T0)
        (first,) = store.claim_due(now=T0 + 2 * HOUR, limit=1, lease=MINUTE, claimant="a")
        assert first.touchpoint.journey_id == "early"
        (second,) = store.claim_due(now=T0 + 2 * HOUR, limit=1, lease=MINUTE, claimant="a")
        assert second.touchpoint.journey_id == "late"

    def test_touchpoints_are_not_claimed_before_they_may_be_sent(self, store: Any) -> None:
        store.create(ticket_journey(), "t-1", at=T0 + HOUR)
        assert store.claim_due(now=T0, limit=10, lease=MINUTE, claimant="a") == []
        assert len(store.claim_due(now=T0 + HOUR, limit=10, lease=MINUTE, claimant="a")) == 1

    def test_claims_exclude_other_claimants_until_the_lease_ends(self, store: Any) -> None:
        store.create(ticket_journey(), "t-1", at=T0, channel="email", customer_id="c-1")
        first = store.claim_due(now=T0, limit=10, lease=SHORT, claimant="a")
        assert [(c.idempotency_key, c.attempt, c.channel) for c in first] == [
            ("t-1/ticket_opened/0", 1, "email")
        ]
        assert first[0].touchpoint.customer_id == "c-1"
        # The lease is timed on the store's clock: a later `now` does not end it.
        assert store.claim_due(now=T0 + HOUR, limit=10, lease=SHORT, claimant="b") == []
        time.sleep(SHORT.total_seconds() + 0.1)
        again = store.claim_due(now=T0, limit=10, lease=MINUTE, claimant="b")
        assert [(c.idempotency_key, c.attempt) for c in again] == [("t-1/ticket_opened/0", 2)]
        # The first claimant's late failure report is ignored: "b" holds the claim now.
        store.record([AttemptOutcome(claimed=first[0], status="retry", at=T0, error="x",
                                     retry_at=T0 + HOUR)])
        assert store.outbox("t-1")[0].last_error is None
        store.record([AttemptOutcome(claimed=first[0], status="dead", at=T0, error="gave up")])
        assert store.outbox("t-1")[0].status == "pending"
        # A late success report is kept: the message left.
        store.record([AttemptOutcome(claimed=first[0], status="sent", at=T0 + MINUTE,
                                     reference="m-1")])
        entry = store.outbox("t-1")[0]
        assert (entry.status, entry.reference, entry.settled_at) == ("sent", "m-1", T0 + MINUTE)
        assert store.load("t-1").owed == ()

    def test_record_extends_the_claims_still_held(self, store: Any) -> None:
        for i in range(3):
            store.create(ticket_journey(), f"t-{i}", at=T0)
        claimed = store.claim_due(now=T0, limit=10, lease=SHORT, claimant="a")
        assert len(claimed) == 3
        time.sleep(SHORT.total_seconds() * 0.6)
        held = store.record([AttemptOutcome(claimed=claimed[0], status="sent", at=T0)],
                            lease=SHORT, claimant="a")
        assert held == {claimed[1].idempotency_key, claimed[2].idempotency_key}
        time.sleep(SHORT.total_seconds() * 0.6)  # past the first lease, not the extended one
        assert store.claim_due(now=T0, limit=10, lease=SHORT, claimant="b") == []
        # A touchpoint withdrawn while claimed is no longer held.
        store.append("t-1", Event("close", at=T0, id="c"))
        held = store.record([], lease=SHORT, claimant="a")
        assert held == {claimed[2].idempotency_key}
        assert store.record([AttemptOutcome(claimed=claimed[1], status="sent", at=T0)]) == set()

    def test_record_looks_up_only_the_claims_asked_about(self, store: Any) -> None:
        if not takes_holding(store):
            pytest.skip("this store's record() does not take holding (optional)")
        for i in range(3):
            store.create(ticket_journey(), f"t-{i}", at=T0)
        a, b, c = store.claim_due(now=T0, limit=10, lease=MINUTE, claimant="a")
        keys = [x.idempotency_key for x in (a, b, c)]
        # The next one asked about, as a worker does: only it comes back.
        held = store.record([AttemptOutcome(claimed=a, status="sent", at=T0)],
                            claimant="a", holding=(keys[1],))
        assert held == {keys[1]}
        assert store.outbox("t-0")[0].status == "sent"
        # A key recorded by the same call is no longer held; another claimant holds none.
        assert store.record([AttemptOutcome(claimed=b, status="sent", at=T0)], claimant="a",
                            holding=keys) == {keys[2]}
        assert store.record([], claimant="b", holding=keys) == set()
        assert store.record([], claimant="a", holding=()) == set()
        # Withdrawn while claimed: no longer held.
        store.append("t-2", Event("close", at=T0, id="c"))
        assert store.record([], claimant="a", holding=(keys[2],)) == set()
        with pytest.raises(CareKitError, match="holding"):
            store.record([], holding=(keys[2],))
        with pytest.raises(CareKitError, match="holding"):
            store.record([], claimant="a", holding=keys[2])
        with pytest.raises(CareKitError, match="holding"):
            store.record([], claimant="a", holding=(1,))

    def test_holding_with_a_lease_extends_every_claim(self, store: Any) -> None:
        if not takes_holding(store):
            pytest.skip("this store's record() does not take holding (optional)")
        for i in range(3):
            store.create(ticket_journey(), f"t-{i}", at=T0)
        claimed = store.claim_due(now=T0, limit=10, lease=SHORT, claimant="a")
        time.sleep(SHORT.total_seconds() * 0.6)
        held = store.record([AttemptOutcome(claimed=claimed[0], status="sent", at=T0)],
                            lease=SHORT, claimant="a", holding=(claimed[1].idempotency_key,))
        assert held == {claimed[1].idempotency_key}
        time.sleep(SHORT.total_seconds() * 0.6)  # past the first lease, not the extended one
        assert store.claim_due(now=T0, limit=10, lease=SHORT, claimant="b") == []

    def test_failed_deferred_and_released_attempts(self, store: Any) -> None:
        for i in range(3):
            store.create(ticket_journey(), f"t-{i}", at=T0)
        a, b, c = store.claim_due(now=T0, limit=10, lease=MINUTE, claimant="w")
        store.record([
            AttemptOutcome(claimed=a, status="retry", at=T0, error="timeout", retry_at=T0 + HOUR),
            AttemptOutcome(claimed=b, status="defer", at=T0, error="quiet", retry_at=T0 + HOUR),
            AttemptOutcome(claimed=c, status="release", at=T0),
        ])
        entries = {e.journey_id: e for e in store.outbox()}
        assert (entries["t-0"].status, entries["t-0"].attempts, entries["t-0"].last_error) == (
            "failed", 1, "timeout"
        )
        assert (entries["t-1"].status, entries["t-1"].attempts) == ("deferred", 0)
        assert (entries["t-2"].status, entries["t-2"].attempts) == ("pending", 0)
        assert entries["t-0"].next_attempt_at == T0 + HOUR
        [again] = store.claim_due(now=T0, limit=10, lease=MINUTE, claimant="w")
        assert (again.idempotency_key, again.attempt) == ("t-2/ticket_opened/0", 1)
        later = store.claim_due(now=T0 + HOUR, limit=10, lease=MINUTE, claimant="w")
        assert sorted((c.idempotency_key, c.attempt) for c in later) == [
            ("t-0/ticket_opened/0", 2), ("t-1/ticket_opened/0", 1)
        ]
        assert [tp.name for tp in store.load("t-0").owed] == ["ticket_opened"]

    def test_dead_letters_show_in_overdue_after_reload(self, store: Any) -> None:
        store.create(ticket_journey(), "t-1", at=T0)
        [claimed] = store.claim_due(now=T0, limit=10, lease=MINUTE, claimant="a")
        store.record([AttemptOutcome(claimed=claimed, status="dead", at=T0, error="gave up")])
        store.append("t-1", [Event("nudge", at=T0, id="n1"), Event("nudge", at=T0, id="n2")])
        journey = store.load("t-1")
        assert [tp.name for tp in journey.owed] == ["nudge_reply", "nudge_reply"]
        late = [o for o in journey.overdue(T0 + 2 * HOUR) if o.dead]
        assert [(o.name, o.reason) for o in late] == [("ticket_opened", "gave up")]

    def test_a_late_delivery_report_overrides_a_rivals_dead_letter(self, store: Any) -> None:
        store.create(ticket_journey(), "t-1", at=T0)
        [slow] = store.claim_due(now=T0, limit=1, lease=SHORT, claimant="slow")
        time.sleep(SHORT.total_seconds() + 0.1)
        [rival] = store.claim_due(now=T0, limit=1, lease=MINUTE, claimant="rival")
        store.record([AttemptOutcome(claimed=rival, status="dead", at=T0, error="down")])
        assert store.load("t-1").overdue(T0 + 2 * HOUR)[0].dead
        store.record([AttemptOutcome(claimed=slow, status="sent", at=T0 + MINUTE)])
        assert [e.status for e in store.outbox("t-1")] == ["sent"]
        assert store.load("t-1").overdue(T0 + 2 * HOUR) == []

    def test_a_late_delivery_report_overrides_a_withdrawal(self, store: Any) -> None:
        store.create(ticket_journey(), "t-1", at=T0, channel="email")
        store.append("t-1", Event("nudge", at=T0 + MINUTE, id="n"))
        store.create(ticket_journey(), "t-2", at=T0, channel="email")
        claims = store.claim_due(now=T0, limit=10, lease=MINUTE, claimant="w")
        claimed = {c.touchpoint.journey_id: c for c in claims}
        assert [claimed[j].touchpoint.name for j in ("t-1", "t-2")] == ["ticket_opened"] * 2
        # t-1 closed while its ticket_opened is being delivered: both unsent touchpoints
        # withdrawn.
        journey = store.append("t-1", Event("close", at=T0 + MINUTE, id="c"))
        assert [(e.name, e.status) for e in store.outbox("t-1")] == [
            ("ticket_opened", "withdrawn"), ("nudge_reply", "withdrawn"),
            ("ticket_closed", "pending"),
        ]
        _same(store.load("t-1"), journey)  # (a store may keep it cached from here)
        held = store.record([], lease=MINUTE, claimant="w")  # no longer held
        assert held == {claimed["t-2"].idempotency_key}
        # A failure report leaves it withdrawn; the late success report settles it sent.
        store.record([AttemptOutcome(claimed=claimed["t-1"], status="retry", at=T0,
                                     error="x", retry_at=T0 + HOUR)])
        store.record([AttemptOutcome(claimed=claimed["t-1"], status="dead", at=T0, error="x")])
        assert store.outbox("t-1")[0].status == "withdrawn"
        held = store.record([
            AttemptOutcome(claimed=claimed["t-1"], status="sent", at=T0 + 2 * MINUTE,
                           reference="m-1"),
            AttemptOutcome(claimed=claimed["t-2"], status="sent", at=T0, reference="m-2"),
        ], lease=MINUTE, claimant="w")
        assert held == set()
        entries = store.outbox("t-1")
        assert [(e.name, e.status) for e in entries] == [
            ("ticket_opened", "sent"), ("nudge_reply", "withdrawn"), ("ticket_closed", "pending")
        ]
        sent = entries[0]
        assert (sent.attempts, sent.reference, sent.settled_at, sent.next_attempt_at) == (
            1, "m-1", T0 + 2 * MINUTE, None
        )
        assert [e.reference for e in store.outbox(status="sent")] == ["m-1", "m-2"]
        assert store.outbox_counts() == {
            "pending": 1, "failed": 0, "deferred": 0, "sent": 2, "dead": 0, "withdrawn": 1
        }
        assert TouchpointCoverage.from_journeys(store, now=T0 + MINUTE).proportion_counts() == (
            2, 2
        )
        loaded = store.load("t-1")
        _same(loaded, journey)
        assert ([tp.name for tp in loaded.owed], loaded.dead) == (["ticket_closed"], ())
        # A second report changes nothing; the withdrawn touchpoint not in flight stays so.
        store.record([AttemptOutcome(claimed=claimed["t-1"], status="sent", at=T0 + HOUR)])
        assert store.outbox("t-1")[0].settled_at == T0 + 2 * MINUTE
        [again] = store.claim_due(now=T0 + HOUR, limit=10, lease=MINUTE, claimant="w")
        assert again.touchpoint.name == "ticket_closed"
        assert [e.status for e in store.outbox("t-1")] == ["sent", "withdrawn", "pending"]

    @pytest.mark.parametrize(
        ("arguments", "match"),
        [
            ({"now": dt.datetime(2026, 3, 2)}, "now must be a timezone-aware datetime"),
            ({"limit": 0}, r"limit must be an integer >= 1 \(got 0\)"),
            ({"limit": 10**40}, r"limit must be at most 1,000,000 .*\(got an integer of more"),
            ({"lease": dt.timedelta(0)}, "lease must be a positive duration"),
            ({"lease": dt.timedelta.max}, "lease must be at most 366 days"),
            ({"claimant": ""}, r"claimant must be a non-empty string \(got ''\)"),
        ],
    )
    def test_claim_due_checks_its_arguments(
        self, store: Any, arguments: dict[str, Any], match: str
    ) -> None:
        store.create(ticket_journey(), "t-1", at=T0)
        claim = {"now": T0, "limit": 10, "lease": MINUTE, "claimant": "a", **arguments}
        with pytest.raises(CareKitError, match=match):
            store.claim_due(**claim)
        assert [e.attempts for e in store.outbox("t-1")] == [0]

    def test_sent_keys_are_noted_once(self, store: Any) -> None:
        assert store.sent_key("o-1/order_thanks/2") is None
        assert store.remember_sent("o-1/order_thanks/2", at=T0, channel="sms", reference="m-1")
        assert not store.remember_sent("o-1/order_thanks/2", at=T0 + HOUR, reference="m-2")
        note = store.sent_key("o-1/order_thanks/2")
        assert (note.channel, note.reference, note.at) == ("sms", "m-1", T0)
        with pytest.raises(CareKitError, match="timezone-aware"):
            store.remember_sent("k", at=dt.datetime(2026, 3, 2))
        with pytest.raises(CareKitError, match="idempotency_key must be a non-empty string"):
            store.remember_sent("", at=T0)

    # -- timers -------------------------------------------------------------------------

    def test_a_deadline_fires_once_even_after_later_events(self, store: Any) -> None:
        store.create(order_journey(), "order-1", at=T0, channel="email")
        store.append("order-1", Event("place", at=T0, id="p"))
        assert store.fire_due(now=T0 + 30 * MINUTE, limit=10) == []
        # A later event arrives before any worker ran: the breach is still applied.
        store.append("order-1", Event("promise_at_risk", at=T0 + 3 * HOUR, id="r"))
        [fired] = store.fire_due(now=T0 + 2 * HOUR, limit=10)
        assert (fired.kind, fired.key, fired.due) == (
            "deadline", "order-1/acknowledgement_overdue/1", T0 + HOUR
        )
        assert fired.event is not None and fired.event.at == T0 + 3 * HOUR
        assert fired.event.data["due"] == (T0 + HOUR).isoformat()
        journey = store.load("order-1")
        assert journey.breaches(T0 + 5 * HOUR) == []
        assert [e.name for e in store.events("order-1")][-1] == "acknowledgement_overdue"
        assert store.fire_due(now=T0 + 9 * HOUR, limit=10) == []
        assert journey.friction > 0

    def test_leaving_a_state_after_its_deadline_records_the_breach_first(
        self, store: Any
    ) -> None:
        store.create(order_journey(), "order-1", at=T0, channel="email")
        store.append("order-1", Event("place", at=T0, id="p"))
        # Acknowledged two hours after the one-hour deadline, before any worker fired it:
        # the breach is applied first, as a worker would have, and is not lost.
        journey = store.append("order-1", Event("acknowledge", at=T0 + 2 * HOUR, id="a"))
        assert [(e.name, e.id) for e in store.events("order-1")] == [
            ("place", "p"), ("acknowledgement_overdue", "order-1/acknowledgement_overdue/1"),
            ("acknowledge", "a"),
        ]
        assert (journey.state, journey.version) == ("acknowledged", 3)
        assert journey.friction > 0
        _same(store.load("order-1"), journey)
        assert store.fire_due(now=T0 + 3 * HOUR, limit=10) == []

    def test_leaving_the_state_clears_its_deadline(self, store: Any) -> None:
        store.create(order_journey(), "order-1", at=T0)
        store.append("order-1", [Event("place", at=T0), Event("acknowledge", at=T0 + MINUTE)])
        assert store.fire_due(now=T0 + 5 * HOUR, limit=10) == []
        assert store.oldest_due(now=T0 + 5 * HOUR) is not None  # order_thanks is owed

    def test_fire_due_checks_promises_with_the_checks_given(self, store: Any) -> None:
        from carekit.journeys import PromiseChecks
        from carekit.promises import Promise

        promise = Promise(ordered_at=T0, expected=dt.date(2026, 3, 4),
                          promised=dt.date(2026, 3, 5), padding=1, confidence=0.9)
        store.create(order_journey(), "order-1", at=T0, channel="email")
        store.append("order-1", [
            Event("place", at=T0, id="p", data={"promise": promise.to_dict()}),
            Event("acknowledge", at=T0, id="a"),
        ])
        assert store.fire_due(now=T0, limit=10) == []  # without checks promises wait
        assert store.fire_due(now=T0, limit=10, checks=PromiseChecks()) == []  # on track
        friday = dt.datetime(2026, 3, 6, 9, 0, tzinfo=dt.timezone.utc)
        [fired] = store.fire_due(now=friday, limit=10, checks=PromiseChecks())
        assert fired.kind == "promise"
        assert fired.event is not None and fired.event.name == "promise_at_risk"
        assert fired.event.id == "order-1/promise_at_risk/2026-03-05"
        assert "promise_at_risk_notice" in [e.name for e in store.outbox("order-1")]
        later = friday + dt.timedelta(days=3)
        assert store.fire_due(now=later, limit=10, checks=PromiseChecks()) == []  # once

    def test_a_bad_promise_in_event_data_is_refused(self, store: Any) -> None:
        store.create(order_journey(), "order-1", at=T0)
        with pytest.raises(CareKitError, match=r"Promise\.to_dict"):
            store.append("order-1", Event("place", at=T0, data={"promise": {"promised": 5}}))
        assert store.load("order-1").version == 0

    # -- with a worker and plugins --------------------------------------------------------

    def test_a_worker_delivers_defers_and_records(self, store: Any) -> None:
        later = _Later(until=T0 + 2 * HOUR)
        kit = make_carekit(later)
        store.create(order_journey(), "order-1", at=T0, channel="email")
        store.append("order-1", [Event("place", at=T0, id="p"),
                                 Event("acknowledge", at=T0, id="a")])
        worker = Worker(kit, store, lease=MINUTE, timeout=None)
        report = worker.run_once(T0 + MINUTE)
        assert (report.sent, report.deferred, report.failed) == (0, 1, 0)
        [entry] = store.outbox("order-1")
        assert (entry.status, entry.attempts, entry.next_attempt_at) == (
            "deferred", 0, T0 + 2 * HOUR
        )
        assert worker.run_once(T0 + HOUR).idle
        report = worker.run_once(T0 + 2 * HOUR)
        assert report.sent == 1
        [entry] = store.outbox("order-1")
        assert (entry.status, entry.attempts, entry.reference) == ("sent", 1, "ok-2")

    def test_a_worker_counts_a_touchpoint_cancelled_in_flight_as_sent(
        self, store: Any
    ) -> None:
        plugin = _CancelsWhileSending(store)
        store.create(order_journey(), "order-1", at=T0, channel="email")
        store.append("order-1", [Event("place", at=T0, id="p"),
                                 Event("acknowledge", at=T0, id="a")])
        worker = Worker(make_carekit(plugin), store, lease=MINUTE, timeout=None)
        report = worker.run_once(T0 + MINUTE)
        assert plugin.sent == ["order-1/order_thanks/2"]
        assert (report.sent, report.withdrawn) == (1, 0)
        [entry] = store.outbox("order-1")
        assert (entry.status, entry.reference, entry.attempts) == ("sent", "m-1", 1)
        assert store.outbox_counts()["sent"] == 1
        assert store.load("order-1").state == "cancelled"
        assert worker.run_once(T0 + HOUR).sent == 0
        assert plugin.sent == ["order-1/order_thanks/2"]

    def test_recovery_touchpoints_are_owed_and_survive_reload(self, store: Any) -> None:
        kit = make_carekit(_Apologise())
        store.create(service_case_journey(), "case-1", at=T0, channel="email",
                     customer_id="cust-9")
        contacts = [Event("customer_contact", at=T0 + i * MINUTE, id=f"c{i}") for i in range(4)]
        journey = store.append("case-1", contacts, kit=kit)
        assert [tp.name for tp in journey.owed].count("apology_call") == 1
        _same(store.load("case-1"), journey)
        phone = RecordingChannel("phone", register=False)
        email = RecordingChannel("email", register=False)
        Worker(make_carekit(phone, email), store, timeout=None).run_once(T0 + HOUR)
        assert phone.names == ["apology_call"]
        assert [d.touchpoint.customer_id for d in phone.deliveries] == ["cust-9"]
        assert store.load("case-1").owed == ()

    def test_observers_hear_each_stored_transition_once(self, store: Any) -> None:
        ear = _Ear()
        kit = make_carekit(ear)
        store.create(order_journey(), "order-1", at=T0, channel="email")
        store.append("order-1", [Event("place", at=T0, id="p"),
                                 Event("acknowledge", at=T0, id="a")], kit=kit)
        assert ear.heard == [("order-1", 1, "place"), ("order-1", 2, "acknowledge")]
        # A refused batch is not heard of, not even its allowed first event.
        with pytest.raises(InvalidTransition):
            store.append("order-1", [Event("start_production", at=T0, id="s"),
                                     Event("place", at=T0, id="again")], kit=kit)
        store.append("order-1", Event("place", at=T0, id="p"), kit=kit)  # a repeated id
        assert ear.heard == [("order-1", 1, "place"), ("order-1", 2, "acknowledge")]

    def test_a_closed_store_refuses_work(self, store: Any) -> None:
        store.create(ticket_journey(), "t-1", at=T0)
        store.close()
        store.close()
        with pytest.raises(StoreError, match="closed"):
            store.load("t-1")
        with pytest.raises(StoreError, match="closed"):
            store.append("t-1", Event("note", at=T0))
