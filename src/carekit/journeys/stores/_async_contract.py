"""The asyncio journey-store conformance suite, as a pytest base class (see ``carekit.testing``).

:class:`AsyncJourneyStoreContract` is :class:`~carekit.testing.JourneyStoreContract` for
stores whose methods are coroutines (``await store.append(...)``), such as
:class:`~carekit.journeys.AsyncPostgresJourneyStore`. It needs no event-loop plugin: each
test is an ordinary function that runs its body with :func:`asyncio.run`::

    import pytest
    from carekit.testing import AsyncJourneyStoreContract

    class TestMyAsyncStore(AsyncJourneyStoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            return MyAsyncStore(tmp_path / "x")

The ``store`` fixture gives a fresh, empty store; as in the blocking suite, the tests hand
``create`` the definitions they use besides the built-ins
(:meth:`AsyncJourneyStoreContract.definitions`). It is made outside any event loop;
the store may connect lazily on its first awaited call, inside the loop the test runs, and
each test ends with ``await store.close()`` in that same loop (so ``close`` must be
idempotent). ``journeys()`` and ``load_many()`` may return a list or any iterable.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from carekit import CareKitError, ConcurrencyError, InvalidTransition, StoreError, UnknownJourney
from carekit.journeys import (
    AttemptOutcome,
    Event,
    JourneyDefinition,
    JourneySummary,
    order_journey,
    service_case_journey,
)
from carekit.journeys.stores._contract import (
    HOUR,
    MINUTE,
    SHORT,
    T0,
    _Apologise,
    _Ear,
    _order_events,
    _same,
    takes_holding,
    ticket_journey,
)
from carekit.testing import make_carekit

__all__ = ["ASYNC_METHODS", "AsyncJourneyStoreContract"]

#: The methods every asyncio store has as coroutines (the JourneyStore protocol's).
ASYNC_METHODS = (
    "create", "create_many", "append", "load", "load_many", "journeys", "events", "outbox",
    "outbox_counts", "claim_due", "record", "fire_due", "oldest_due", "remember_sent",
    "sent_key", "close",
)

Body = Callable[[Any], Awaitable[None]]


def _run(store: Any, body: Body) -> None:
    """Run ``body(store)`` in a fresh event loop, closing the store in it at the end."""

    async def main() -> None:
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(main())


async def _raises(error: type[BaseException] | tuple[type[BaseException], ...],
                  awaitable: Awaitable[Any], match: str | None = None) -> Any:
    """``pytest.raises`` for an awaitable: the exception info."""
    with pytest.raises(error, match=match) as info:
        await awaitable
    return info


class AsyncJourneyStoreContract:
    """The tests every asyncio journey store must pass (see the module docs)."""

    @staticmethod
    def definitions() -> list[JourneyDefinition]:
        """The definitions the tests use besides the built-ins (given to ``create``).

        A store told them beforehand (``definitions=...``) passes too.
        """
        return [ticket_journey()]

    @pytest.fixture
    def store(self) -> Iterator[Any]:
        """A fresh, empty asyncio store (subclasses override this)."""
        msg = "subclass AsyncJourneyStoreContract and give it a `store` fixture"
        raise NotImplementedError(msg)
        yield  # pragma: no cover

    # -- the protocol -------------------------------------------------------------------

    def test_every_store_method_is_a_coroutine(self, store: Any) -> None:
        missing = [
            name for name in ASYNC_METHODS
            if not inspect.iscoroutinefunction(getattr(store, name, None))
        ]
        assert missing == []

        async def body(s: Any) -> None:
            pass

        _run(store, body)

    # -- creating -----------------------------------------------------------------------

    def test_create_stores_version_zero_and_owes_the_start_touchpoints(self, store: Any) -> None:
        async def body(s: Any) -> None:
            journey = await s.create(ticket_journey(), "t-1", at=T0, customer_id="c-9",
                                     channel="email", tz="Europe/Paris")
            assert (journey.state, journey.version, journey.customer_id, journey.tz) == (
                "open", 0, "c-9", "Europe/Paris"
            )
            _same(await s.load("t-1"), journey)
            [entry] = await s.outbox("t-1")
            assert (entry.name, entry.channel, entry.status, entry.attempts) == (
                "ticket_opened", "email", "pending", 0,
            )
            assert entry.idempotency_key == "t-1/ticket_opened/0"
            assert (entry.due, entry.next_attempt_at) == (T0 + HOUR, T0)

        _run(store, body)

    def test_create_twice_is_an_error_unless_exist_ok(self, store: Any) -> None:
        async def body(s: Any) -> None:
            first = await s.create(order_journey(), "order-1", at=T0, channel="email")
            await s.append("order-1", Event("place", at=T0, id="p"))
            await _raises(StoreError, s.create(order_journey(), "order-1", at=T0),
                          "already exists")
            again = await s.create(order_journey(), "order-1", at=T0 + HOUR, exist_ok=True)
            assert (again.version, again.started_at, again.channel) == (
                1, first.started_at, "email"
            )
            assert len(await s.outbox("order-1")) == 0
            fresh = [order_journey().start("order-1", at=T0)]
            assert await s.create_many(fresh, exist_ok=True) == 0

        _run(store, body)

    def test_create_many_stores_all_or_nothing(self, store: Any) -> None:
        order = order_journey()

        async def body(s: Any) -> None:
            fresh = [
                order.start(f"order-{i}", at=T0 + i * MINUTE, channel="email") for i in range(5)
            ]
            assert await s.create_many(fresh) == 5
            assert [j.journey_id for j in await s.journeys()] == [
                f"order-{i}" for i in range(5)
            ]
            assert (await s.load("order-3")).started_at == T0 + 3 * MINUTE
            await _raises(StoreError, s.create_many(
                [order.start("order-9", at=T0), order.start("order-1", at=T0)]
            ), "'order-1' already exists")
            assert "order-9" not in {j.journey_id for j in await s.journeys()}
            await _raises(StoreError, s.create_many(
                [order.start("order-8", at=T0), order.start("order-8", at=T0)]
            ), "'order-8' already exists")
            moved = order.start("order-7", at=T0).apply(Event("place", at=T0)).journey
            await _raises(CareKitError, s.create_many([moved]), "version 0")
            await _raises(CareKitError, s.create_many(["order-6"]), "Journey")
            assert await s.create_many(
                [order.start("order-4", at=T0), order.start("order-5", at=T0)], exist_ok=True
            ) == 1

        _run(store, body)

    def test_unknown_journey_is_a_lookup_error(self, store: Any) -> None:
        async def body(s: Any) -> None:
            info = await _raises(UnknownJourney, s.load("nope"))
            assert info.value.journey_id == "nope"
            assert isinstance(info.value, LookupError)
            await _raises(UnknownJourney, s.append("nope", Event("place", at=T0)))
            await _raises(UnknownJourney, s.events("nope"))

        _run(store, body)

    def test_definitions_are_known_by_name(self, store: Any) -> None:
        async def body(s: Any) -> None:
            assert (await s.create("order", "order-1", at=T0)).state == "new"
            assert (await s.create("service_case", "case-1", at=T0)).state == "opened"
            await _raises(StoreError, s.create("loyalty", "l-1", at=T0), "does not know")

        _run(store, body)

    @pytest.mark.parametrize("journey_id", ["", None, 7])
    def test_journey_id_must_be_a_non_empty_string(self, store: Any, journey_id: Any) -> None:
        async def body(s: Any) -> None:
            await _raises(CareKitError, s.create(order_journey(), journey_id, at=T0),
                          "journey_id")
            await _raises(CareKitError, s.load(journey_id), "journey_id")

        _run(store, body)

    def test_naive_times_and_unknown_zones_are_refused(self, store: Any) -> None:
        async def body(s: Any) -> None:
            await _raises(CareKitError, s.create(order_journey(), "order-1",
                                                 at=dt.datetime(2026, 3, 2, 9)),
                          "timezone-aware")
            await _raises(CareKitError, s.create(order_journey(), "order-1", at=T0,
                                                 tz="Mars/Olympus"),
                          "IANA time zone")

        _run(store, body)

    # -- appending and loading ----------------------------------------------------------

    def test_append_then_load_gives_the_same_journey(self, store: Any) -> None:
        async def body(s: Any) -> None:
            await s.create(order_journey(), "order-1", at=T0, channel="email")
            events = _order_events()
            journey = await s.append("order-1", events[:3])
            journey = await s.append("order-1", events[3:], expected_version=3)
            assert (journey.state, journey.version) == ("closed", 8)
            _same(await s.load("order-1"), journey)
            pure = order_journey().start("order-1", at=T0, channel="email")
            for event in events:
                pure = pure.apply(event).journey
            _same(journey, pure)
            stored = await s.events("order-1")
            assert [e.id for e in stored] == [e.id for e in events]
            assert stored[4].data == {"tracking_number": "1Z999"}
            assert [entry.name for entry in await s.outbox("order-1")] == [
                "order_thanks", "production_update", "shipped_with_tracking",
                "satisfaction_check",
            ]

        _run(store, body)

    def test_expected_version_mismatch_is_a_concurrency_error(self, store: Any) -> None:
        async def body(s: Any) -> None:
            await s.create(order_journey(), "order-1", at=T0)
            await s.append("order-1", Event("place", at=T0), expected_version=0)
            info = await _raises(ConcurrencyError, s.append(
                "order-1", Event("acknowledge", at=T0), expected_version=0
            ))
            assert (info.value.expected_version, info.value.actual_version) == (0, 1)
            assert (await s.load("order-1")).version == 1

        _run(store, body)

    def test_concurrent_appends_to_one_journey_never_lose_one(self, store: Any) -> None:
        # Coroutines racing on one journey, each retrying on ConcurrencyError: all land.
        async def writer(s: Any, name: str) -> None:
            for i in range(5):
                for _ in range(200):
                    journey = await s.load("t-1")
                    try:
                        await s.append("t-1", Event("note", at=T0, id=f"{name}-{i}"),
                                       expected_version=journey.version)
                        break
                    except ConcurrencyError:
                        await asyncio.sleep(0)

        async def body(s: Any) -> None:
            await s.create(ticket_journey(), "t-1", at=T0)
            await asyncio.gather(*(writer(s, f"w{k}") for k in range(4)))
            ids = [e.id for e in await s.events("t-1")]
            assert sorted(ids) == sorted(f"w{k}-{i}" for k in range(4) for i in range(5))
            assert (await s.load("t-1")).version == 20

        _run(store, body)

    def test_repeated_event_ids_are_ignored_even_after_reload(self, store: Any) -> None:
        async def body(s: Any) -> None:
            await s.create(order_journey(), "order-1", at=T0)
            place = Event("place", at=T0, id="e1")
            assert (await s.append("order-1", [place, place])).version == 1
            assert (await s.append("order-1", place)).version == 1
            again = await s.append("order-1", Event("acknowledge", at=T0, id="e1"))
            assert again.version == 1
            assert [e.id for e in await s.events("order-1")] == ["e1"]
            assert list((await s.load("order-1")).seen_event_ids) == ["e1"]

        _run(store, body)

    def test_a_refused_event_stores_nothing_of_its_batch(self, store: Any) -> None:
        async def body(s: Any) -> None:
            await s.create(order_journey(), "order-1", at=T0)
            batch = [Event("place", at=T0, id="e1"), Event("acknowledge", at=T0, id="e2"),
                     Event("deliver", at=T0, id="e3")]
            await _raises(InvalidTransition, s.append("order-1", batch), "allowed events")
            assert (await s.load("order-1")).version == 0
            assert await s.events("order-1") == []
            assert await s.outbox("order-1") == []
            assert (await s.append("order-1", batch[:2])).version == 2

        _run(store, body)

    @pytest.mark.parametrize("events", ["place", [object()], 42])
    def test_events_must_be_events(self, store: Any, events: Any) -> None:
        async def body(s: Any) -> None:
            await s.create(order_journey(), "order-1", at=T0)
            await _raises(CareKitError, s.append("order-1", events), "Event")
            await _raises(CareKitError, s.append(
                "order-1", Event("place", at=T0, journey_id="order-2")
            ), "belongs to journey_id 'order-2'")

        _run(store, body)

    def test_journeys_lists_current_state_without_loading(self, store: Any) -> None:
        async def body(s: Any) -> None:
            await s.create(order_journey(), "order-2", at=T0, customer_id="c-2",
                           channel="email", tz="Europe/London")
            await s.create(order_journey(), "order-1", at=T0)
            await s.create(ticket_journey(), "t-1", at=T0)
            await s.append("order-2", _order_events()[:2])
            summaries = list(await s.journeys())
            assert [j.journey_id for j in summaries] == ["order-1", "order-2", "t-1"]
            assert summaries[1] == JourneySummary(
                journey_id="order-2", definition="order", state="acknowledged", version=2,
                started_at=T0, updated_at=T0 + MINUTE, customer_id="c-2", channel="email",
                pending=1, tz="Europe/London",
            )
            assert [j.journey_id for j in await s.journeys(definition="order", state="new")] == [
                "order-1"
            ]
            await _raises(CareKitError, s.journeys(state=["new"]), "state must be a string")
            await _raises(CareKitError, s.outbox(status="delivered"), "status must be one of")

        _run(store, body)

    def test_load_many_keeps_the_order_asked_for(self, store: Any) -> None:
        async def body(s: Any) -> None:
            for i in range(3):
                await s.create(order_journey(), f"order-{i}", at=T0)
                await s.append(f"order-{i}", _order_events()[: i + 1])
            loaded = list(await s.load_many(["order-2", "order-0"]))
            assert [(j.journey_id, j.version) for j in loaded] == [("order-2", 3), ("order-0", 1)]
            assert [j.journey_id for j in await s.load_many()] == [
                "order-0", "order-1", "order-2"
            ]
            await _raises(UnknownJourney, s.load_many(["order-9"]))

        _run(store, body)

    def test_outbox_counts_every_status(self, store: Any) -> None:
        async def body(s: Any) -> None:
            assert await s.outbox_counts() == {
                "pending": 0, "failed": 0, "deferred": 0, "sent": 0, "dead": 0, "withdrawn": 0
            }
            for i in range(3):
                await s.create(ticket_journey(), f"t-{i}", at=T0, channel="email")
            a, b, c = await s.claim_due(now=T0, limit=10, lease=MINUTE, claimant="w")
            await s.record([
                AttemptOutcome(claimed=a, status="sent", at=T0),
                AttemptOutcome(claimed=b, status="retry", at=T0, error="x", retry_at=T0 + HOUR),
                AttemptOutcome(claimed=c, status="defer", at=T0, retry_at=T0 + HOUR),
            ])
            await s.create(ticket_journey(), "t-9", at=T0)
            assert await s.outbox_counts() == {
                "pending": 1, "failed": 1, "deferred": 1, "sent": 1, "dead": 0, "withdrawn": 0
            }

        _run(store, body)

    # -- withdrawal, delays -------------------------------------------------------------

    def test_cancelling_withdraws_every_unsent_touchpoint(self, store: Any) -> None:
        async def body(s: Any) -> None:
            await s.create(order_journey(), "order-1", at=T0, channel="email")
            await s.append("order-1", [Event("place", at=T0, id="p"),
                                       Event("acknowledge", at=T0, id="a")])
            journey = await s.append("order-1", Event("cancel", at=T0 + MINUTE, id="c"))
            assert journey.owed == ()
            [entry] = await s.outbox("order-1")
            assert (entry.name, entry.status, entry.settled_at) == (
                "order_thanks", "withdrawn", T0 + MINUTE
            )
            assert await s.claim_due(now=T0 + HOUR, limit=10, lease=MINUTE, claimant="w") == []
            _same(await s.load("order-1"), journey)

        _run(store, body)

    def test_a_delayed_touchpoint_waits_its_delay(self, store: Any) -> None:
        async def body(s: Any) -> None:
            await s.create(ticket_journey(), "t-1", at=T0, channel="email")
            [opened] = await s.claim_due(now=T0, limit=10, lease=MINUTE, claimant="w")
            await s.record([AttemptOutcome(claimed=opened, status="sent", at=T0)])
            await s.append("t-1", Event("note", at=T0 + HOUR, id="n"))
            [survey] = await s.outbox("t-1", status="pending")
            later = T0 + HOUR + dt.timedelta(days=2)
            assert (survey.not_before, survey.due) == (later, later + HOUR)
            soon = T0 + dt.timedelta(days=2)
            assert await s.claim_due(now=soon, limit=10, lease=MINUTE, claimant="w") == []
            [claimed] = await s.claim_due(now=later, limit=10, lease=MINUTE, claimant="w")
            assert claimed.touchpoint.not_before == later

        _run(store, body)

    # -- claims and outcomes ------------------------------------------------------------

    def test_claims_take_the_longest_due_first(self, store: Any) -> None:
        async def body(s: Any) -> None:
            await s.create(ticket_journey(), "late", at=T0 + HOUR)
            await s.create(ticket_journey(), "early", at=T0)
            (first,) = await s.claim_due(now=T0 + 2 * HOUR, limit=1, lease=MINUTE, claimant="a")
            assert first.touchpoint.journey_id == "early"
            (second,) = await s.claim_due(now=T0 + 2 * HOUR, limit=1, lease=MINUTE,
                                          claimant="a")
            assert second.touchpoint.journey_id == "late"
            assert await s.claim_due(now=T0, limit=1, lease=MINUTE, claimant="a") == []

        _run(store, body)

    def test_concurrent_claims_never_share_a_touchpoint(self, store: Any) -> None:
        async def body(s: Any) -> None:
            for i in range(30):
                await s.create(ticket_journey(), f"t-{i:02d}", at=T0)
            batches = await asyncio.gather(*(
                s.claim_due(now=T0, limit=7, lease=MINUTE, claimant=f"w{k}") for k in range(6)
            ))
            keys = [c.idempotency_key for batch in batches for c in batch]
            assert len(keys) == len(set(keys)) == 30

        _run(store, body)

    def test_claims_exclude_other_claimants_until_the_lease_ends(self, store: Any) -> None:
        async def body(s: Any) -> None:
            await s.create(ticket_journey(), "t-1", at=T0, channel="email", customer_id="c-1")
            first = await s.claim_due(now=T0, limit=10, lease=SHORT, claimant="a")
            assert [(c.idempotency_key, c.attempt, c.channel) for c in first] == [
                ("t-1/ticket_opened/0", 1, "email")
            ]
            assert first[0].touchpoint.customer_id == "c-1"
            assert await s.claim_due(now=T0 + HOUR, limit=10, lease=SHORT, claimant="b") == []
            await asyncio.sleep(SHORT.total_seconds() + 0.1)
            again = await s.claim_due(now=T0, limit=10, lease=MINUTE, claimant="b")
            assert [(c.idempotency_key, c.attempt) for c in again] == [
                ("t-1/ticket_opened/0", 2)
            ]
            await s.record([AttemptOutcome(claimed=first[0], status="retry", at=T0, error="x",
                                           retry_at=T0 + HOUR)])
            assert (await s.outbox("t-1"))[0].last_error is None
            await s.record([AttemptOutcome(claimed=first[0], status="sent", at=T0 + MINUTE,
                                           reference="m-1")])
            entry = (await s.outbox("t-1"))[0]
            assert (entry.status, entry.reference, entry.settled_at) == (
                "sent", "m-1", T0 + MINUTE
            )
            assert (await s.load("t-1")).owed == ()

        _run(store, body)

    def test_record_extends_the_claims_still_held(self, store: Any) -> None:
        async def body(s: Any) -> None:
            for i in range(3):
                await s.create(ticket_journey(), f"t-{i}", at=T0)
            claimed = await s.claim_due(now=T0, limit=10, lease=SHORT, claimant="a")
            assert len(claimed) == 3
            await asyncio.sleep(SHORT.total_seconds() * 0.6)
            held = await s.record([AttemptOutcome(claimed=claimed[0], status="sent", at=T0)],
                                  lease=SHORT, claimant="a")
            assert held == {claimed[1].idempotency_key, claimed[2].idempotency_key}
            await asyncio.sleep(SHORT.total_seconds() * 0.6)
            assert await s.claim_due(now=T0, limit=10, lease=SHORT, claimant="b") == []
            await s.append("t-1", Event("close", at=T0, id="c"))
            assert await s.record([], lease=SHORT, claimant="a") == {claimed[2].idempotency_key}

        _run(store, body)

    def test_record_looks_up_only_the_claims_asked_about(self, store: Any) -> None:
        if not takes_holding(store):
            pytest.skip("this store's record() does not take holding (optional)")

        async def body(s: Any) -> None:
            for i in range(3):
                await s.create(ticket_journey(), f"t-{i}", at=T0)
            a, b, c = await s.claim_due(now=T0, limit=10, lease=MINUTE, claimant="a")
            keys = [x.idempotency_key for x in (a, b, c)]
            held = await s.record([AttemptOutcome(claimed=a, status="sent", at=T0)],
                                  claimant="a", holding=(keys[1],))
            assert held == {keys[1]}
            assert await s.record([AttemptOutcome(claimed=b, status="sent", at=T0)],
                                  claimant="a", holding=keys) == {keys[2]}
            assert await s.record([], claimant="b", holding=keys) == set()
            await s.append("t-2", Event("close", at=T0, id="c"))
            assert await s.record([], claimant="a", holding=(keys[2],)) == set()
            with pytest.raises(CareKitError, match="holding"):
                await s.record([], claimant="a", holding=keys[2])

        _run(store, body)

    def test_failed_deferred_and_released_attempts(self, store: Any) -> None:
        async def body(s: Any) -> None:
            for i in range(3):
                await s.create(ticket_journey(), f"t-{i}", at=T0)
            a, b, c = await s.claim_due(now=T0, limit=10, lease=MINUTE, claimant="w")
            await s.record([
                AttemptOutcome(claimed=a, status="retry", at=T0, error="timeout",
                               retry_at=T0 + HOUR),
                AttemptOutcome(claimed=b, status="defer", at=T0, error="quiet",
                               retry_at=T0 + HOUR),
                AttemptOutcome(claimed=c, status="release", at=T0),
            ])
            entries = {e.journey_id: e for e in await s.outbox()}
            assert (entries["t-0"].status, entries["t-0"].attempts) == ("failed", 1)
            assert (entries["t-1"].status, entries["t-1"].attempts) == ("deferred", 0)
            assert (entries["t-2"].status, entries["t-2"].attempts) == ("pending", 0)
            assert entries["t-0"].next_attempt_at == T0 + HOUR
            [again] = await s.claim_due(now=T0, limit=10, lease=MINUTE, claimant="w")
            assert (again.idempotency_key, again.attempt) == ("t-2/ticket_opened/0", 1)

        _run(store, body)

    def test_dead_letters_show_in_overdue_after_reload(self, store: Any) -> None:
        async def body(s: Any) -> None:
            await s.create(ticket_journey(), "t-1", at=T0)
            [claimed] = await s.claim_due(now=T0, limit=10, lease=MINUTE, claimant="a")
            await s.record([AttemptOutcome(claimed=claimed, status="dead", at=T0,
                                           error="gave up")])
            await s.append("t-1", [Event("nudge", at=T0, id="n1")])
            journey = await s.load("t-1")
            late = [o for o in journey.overdue(T0 + 2 * HOUR) if o.dead]
            assert [(o.name, o.reason) for o in late] == [("ticket_opened", "gave up")]

        _run(store, body)

    def test_a_late_delivery_report_overrides_a_withdrawal(self, store: Any) -> None:
        async def body(s: Any) -> None:
            await s.create(ticket_journey(), "t-1", at=T0, channel="email")
            await s.append("t-1", Event("nudge", at=T0 + MINUTE, id="n"))
            [claimed] = await s.claim_due(now=T0, limit=10, lease=MINUTE, claimant="w")
            assert claimed.touchpoint.name == "ticket_opened"
            journey = await s.append("t-1", Event("close", at=T0 + MINUTE, id="c"))
            assert [e.status for e in await s.outbox("t-1")] == [
                "withdrawn", "withdrawn", "pending"
            ]
            _same(await s.load("t-1"), journey)
            assert await s.record([], lease=MINUTE, claimant="w") == set()
            await s.record([AttemptOutcome(claimed=claimed, status="dead", at=T0, error="x")])
            assert (await s.outbox("t-1"))[0].status == "withdrawn"
            held = await s.record([AttemptOutcome(claimed=claimed, status="sent",
                                                  at=T0 + 2 * MINUTE, reference="m-1")],
                                  lease=MINUTE, claimant="w")
            assert held == set()
            entries = await s.outbox("t-1")
            assert [e.status for e in entries] == ["sent", "withdrawn", "pending"]
            assert (entries[0].attempts, entries[0].reference, entries[0].settled_at) == (
                1, "m-1", T0 + 2 * MINUTE
            )
            assert await s.outbox_counts() == {
                "pending": 1, "failed": 0, "deferred": 0, "sent": 1, "dead": 0, "withdrawn": 1
            }
            loaded = await s.load("t-1")
            _same(loaded, journey)
            assert [tp.name for tp in loaded.owed] == ["ticket_closed"]
            [again] = await s.claim_due(now=T0 + HOUR, limit=10, lease=MINUTE, claimant="w")
            assert again.touchpoint.name == "ticket_closed"

        _run(store, body)

    def test_claim_due_checks_its_arguments(self, store: Any) -> None:
        async def body(s: Any) -> None:
            await s.create(ticket_journey(), "t-1", at=T0)
            await _raises(CareKitError, s.claim_due(
                now=dt.datetime(2026, 3, 2), limit=10, lease=MINUTE, claimant="a"
            ), "now must be a timezone-aware datetime")
            await _raises(CareKitError, s.claim_due(now=T0, limit=0, lease=MINUTE,
                                                    claimant="a"), "limit must be")
            await _raises(CareKitError, s.claim_due(now=T0, limit=1, lease=dt.timedelta(0),
                                                    claimant="a"), "lease must be")
            await _raises(CareKitError, s.claim_due(now=T0, limit=1, lease=MINUTE,
                                                    claimant=""), "claimant must be")
            assert [e.attempts for e in await s.outbox("t-1")] == [0]

        _run(store, body)

    def test_sent_keys_are_noted_once(self, store: Any) -> None:
        async def body(s: Any) -> None:
            assert await s.sent_key("o-1/order_thanks/2") is None
            assert await s.remember_sent("o-1/order_thanks/2", at=T0, channel="sms",
                                         reference="m-1")
            assert not await s.remember_sent("o-1/order_thanks/2", at=T0 + HOUR,
                                             reference="m-2")
            note = await s.sent_key("o-1/order_thanks/2")
            assert (note.channel, note.reference, note.at) == ("sms", "m-1", T0)
            await _raises(CareKitError, s.remember_sent("k", at=dt.datetime(2026, 3, 2)),
                          "timezone-aware")
            await _raises(CareKitError, s.remember_sent("", at=T0),
                          "idempotency_key must be a non-empty string")

        _run(store, body)

    # -- timers -------------------------------------------------------------------------

    def test_a_deadline_fires_once_even_after_later_events(self, store: Any) -> None:
        async def body(s: Any) -> None:
            await s.create(order_journey(), "order-1", at=T0, channel="email")
            await s.append("order-1", Event("place", at=T0, id="p"))
            assert await s.fire_due(now=T0 + 30 * MINUTE, limit=10) == []
            assert await s.oldest_due(now=T0 + 30 * MINUTE) is None
            await s.append("order-1", Event("promise_at_risk", at=T0 + 3 * HOUR, id="r"))
            assert await s.oldest_due(now=T0 + 2 * HOUR) == T0 + HOUR
            [fired] = await s.fire_due(now=T0 + 2 * HOUR, limit=10)
            assert (fired.kind, fired.key, fired.due) == (
                "deadline", "order-1/acknowledgement_overdue/1", T0 + HOUR
            )
            assert fired.event is not None and fired.event.at == T0 + 3 * HOUR
            assert [e.name for e in await s.events("order-1")][-1] == "acknowledgement_overdue"
            assert await s.fire_due(now=T0 + 9 * HOUR, limit=10) == []

        _run(store, body)

    def test_leaving_a_state_after_its_deadline_records_the_breach_first(
        self, store: Any
    ) -> None:
        async def body(s: Any) -> None:
            await s.create(order_journey(), "order-1", at=T0, channel="email")
            await s.append("order-1", Event("place", at=T0, id="p"))
            journey = await s.append("order-1", Event("acknowledge", at=T0 + 2 * HOUR, id="a"))
            assert [(e.name, e.id) for e in await s.events("order-1")] == [
                ("place", "p"),
                ("acknowledgement_overdue", "order-1/acknowledgement_overdue/1"),
                ("acknowledge", "a"),
            ]
            assert (journey.state, journey.version) == ("acknowledged", 3)
            assert journey.friction > 0
            _same(await s.load("order-1"), journey)
            assert await s.fire_due(now=T0 + 3 * HOUR, limit=10) == []

        _run(store, body)

    def test_concurrent_fire_due_fires_each_deadline_once(self, store: Any) -> None:
        async def body(s: Any) -> None:
            for i in range(12):
                await s.create(order_journey(), f"order-{i:02d}", at=T0)
                await s.append(f"order-{i:02d}", Event("place", at=T0, id="p"))
            rounds = await asyncio.gather(*(
                s.fire_due(now=T0 + 2 * HOUR, limit=5) for _ in range(4)
            ))
            rest = await s.fire_due(now=T0 + 2 * HOUR, limit=100)
            keys = [f.key for batch in [*rounds, rest] for f in batch]
            assert sorted(keys) == [
                f"order-{i:02d}/acknowledgement_overdue/1" for i in range(12)
            ]

        _run(store, body)

    def test_fire_due_checks_promises_with_the_checks_given(self, store: Any) -> None:
        from carekit.journeys import PromiseChecks
        from carekit.promises import Promise

        promise = Promise(ordered_at=T0, expected=dt.date(2026, 3, 4),
                          promised=dt.date(2026, 3, 5), padding=1, confidence=0.9)

        async def body(s: Any) -> None:
            await s.create(order_journey(), "order-1", at=T0, channel="email")
            await s.append("order-1", [
                Event("place", at=T0, id="p", data={"promise": promise.to_dict()}),
                Event("acknowledge", at=T0, id="a"),
            ])
            assert await s.fire_due(now=T0, limit=10) == []
            assert await s.fire_due(now=T0, limit=10, checks=PromiseChecks()) == []
            friday = dt.datetime(2026, 3, 6, 9, 0, tzinfo=dt.timezone.utc)
            [fired] = await s.fire_due(now=friday, limit=10, checks=PromiseChecks())
            assert fired.kind == "promise"
            assert fired.event is not None and fired.event.id == (
                "order-1/promise_at_risk/2026-03-05"
            )
            assert "promise_at_risk_notice" in [e.name for e in await s.outbox("order-1")]

        _run(store, body)

    # -- plugins ------------------------------------------------------------------------

    def test_recovery_touchpoints_are_owed_and_survive_reload(self, store: Any) -> None:
        kit = make_carekit(_Apologise())

        async def body(s: Any) -> None:
            await s.create(service_case_journey(), "case-1", at=T0, channel="email",
                           customer_id="cust-9")
            contacts = [
                Event("customer_contact", at=T0 + i * MINUTE, id=f"c{i}") for i in range(4)
            ]
            journey = await s.append("case-1", contacts, kit=kit)
            assert [tp.name for tp in journey.owed].count("apology_call") == 1
            _same(await s.load("case-1"), journey)
            claimed = await s.claim_due(now=T0 + HOUR, limit=10, lease=MINUTE, claimant="w")
            calls = [c for c in claimed if c.touchpoint.name == "apology_call"]
            assert [(c.channel, c.touchpoint.customer_id) for c in calls] == [("phone", "cust-9")]
            await s.record([AttemptOutcome(claimed=c, status="sent", at=T0 + HOUR)
                            for c in claimed])
            assert (await s.load("case-1")).owed == ()

        _run(store, body)

    def test_observers_hear_each_stored_transition_once(self, store: Any) -> None:
        ear = _Ear()
        kit = make_carekit(ear)

        async def body(s: Any) -> None:
            await s.create(order_journey(), "order-1", at=T0, channel="email")
            await s.append("order-1", [Event("place", at=T0, id="p"),
                                       Event("acknowledge", at=T0, id="a")], kit=kit)
            assert ear.heard == [("order-1", 1, "place"), ("order-1", 2, "acknowledge")]
            await _raises(InvalidTransition, s.append("order-1", [
                Event("start_production", at=T0, id="s"), Event("place", at=T0, id="again"),
            ], kit=kit))
            await s.append("order-1", Event("place", at=T0, id="p"), kit=kit)
            assert ear.heard == [("order-1", 1, "place"), ("order-1", 2, "acknowledge")]

        _run(store, body)

    def test_a_closed_store_refuses_work(self, store: Any) -> None:
        async def body(s: Any) -> None:
            await s.create(ticket_journey(), "t-1", at=T0)
            await s.close()
            await s.close()
            await _raises(StoreError, s.load("t-1"), "closed")
            await _raises(StoreError, s.append("t-1", Event("note", at=T0)), "closed")

        _run(store, body)
