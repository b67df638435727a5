"""A deadline's breach is never lost to time order, even when a late event leaves its state.

An order placed at 09:00 must be acknowledged within the hour. If the acknowledgement comes
at 11:00, before any worker fired the breach, the acknowledgement leaves the ``placed``
state and would clear the deadline with nothing recorded. Every store records the breach
just ahead of the late event instead, as a worker running on time would have: the same
event (the deadline's key as id, the due time in its data), dated with the late event.
"""

from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from tests.journeys._store_helpers import HOUR, MINUTE, T0, make_store

from carekit import InvalidTransition
from carekit.journeys import (
    Deadline,
    Event,
    JourneyDefinition,
    PostgresJourneyStore,
    State,
    Transition,
    Worker,
    aio,
    order_journey,
    replay,
    service_case_journey,
)
from carekit.testing import RecordingChannel, make_carekit


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Any]:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        schema = request.getfixturevalue("postgres_schema")
        s: Any = PostgresJourneyStore(url, schema=schema)
    else:
        s = make_store(request.param, tmp_path)
    yield s
    s.close()


def _placed(store: Any, journey_id: str = "order-1") -> None:
    store.create(order_journey(), journey_id, at=T0, channel="email")
    store.append(journey_id, Event("place", at=T0, id=f"{journey_id}-p"))


def test_a_late_acknowledgement_records_the_missed_breach_first(store: Any) -> None:
    _placed(store)
    late = T0 + 2 * HOUR
    journey = store.append("order-1", Event("acknowledge", at=late, id="a"))
    events = store.events("order-1")
    assert [e.name for e in events] == ["place", "acknowledgement_overdue", "acknowledge"]
    breach = events[1]
    assert breach.id == "order-1/acknowledgement_overdue/1"  # the worker's id for it
    assert breach.at == late
    assert dict(breach.data) == {"due": (T0 + HOUR).isoformat(), "deadline_state": "placed"}
    assert (journey.state, journey.version) == ("acknowledged", 3)
    assert journey.friction == pytest.approx(1.0)  # the order journey's weight for it
    assert journey.deadlines == ()
    # The stored log replays to the same journey: the breach is an event like any other.
    [replayed] = replay(order_journey(), [
        Event(e.name, at=e.at, id=e.id, journey_id="order-1", data=e.data) for e in events
    ]).values()
    assert (replayed.state, replayed.version) == ("acknowledged", 3)
    assert replayed.friction == pytest.approx(journey.friction)
    # Nothing is left for a worker to fire, and the same acknowledgement again is a no-op.
    worker = Worker(make_carekit(RecordingChannel("email", register=False)), store)
    assert worker.run_once(late + HOUR).fired == 0
    assert store.append("order-1", Event("acknowledge", at=late, id="a")).version == 3
    assert len(store.events("order-1")) == 3


def test_an_acknowledgement_on_time_or_at_the_due_time_records_no_breach(store: Any) -> None:
    for journey_id, at in (("order-1", T0 + 59 * MINUTE), ("order-2", T0 + HOUR)):
        _placed(store, journey_id)
        journey = store.append(journey_id, Event("acknowledge", at=at))
        assert [e.name for e in store.events(journey_id)] == ["place", "acknowledge"]
        assert journey.version == 2


def test_one_batch_placed_and_acknowledged_late_gets_the_breach_between(store: Any) -> None:
    store.create(order_journey(), "order-1", at=T0, channel="email")
    journey = store.append("order-1", [
        Event("place", at=T0), Event("acknowledge", at=T0 + 3 * HOUR),
        Event("start_production", at=T0 + 4 * HOUR),
    ])
    assert [e.name for e in store.events("order-1")] == [
        "place", "acknowledgement_overdue", "acknowledge", "start_production"]
    assert (journey.state, journey.version) == ("in_production", 4)


def test_a_refused_late_event_records_nothing(store: Any) -> None:
    _placed(store)
    with pytest.raises(InvalidTransition):
        store.append("order-1", Event("deliver", at=T0 + 2 * HOUR))  # not from placed
    assert [e.name for e in store.events("order-1")] == ["place"]
    assert store.load("order-1").version == 1


def test_a_late_event_that_keeps_the_state_leaves_the_breach_to_the_worker(store: Any) -> None:
    """Only an event leaving the state would clear the deadline; otherwise the worker fires
    it, dated when it does (with the due time in its data)."""
    opened = store.create(service_case_journey(), "case-1", at=T0, channel="email")
    [deadline] = opened.deadlines
    later = deadline.due + HOUR
    kept = store.append("case-1", Event("customer_contact", at=later))
    assert (kept.state, kept.deadlines) == ("opened", opened.deadlines)
    assert [e.name for e in store.events("case-1")] == ["customer_contact"]
    worker = Worker(make_carekit(RecordingChannel("email", register=False)), store)
    assert worker.run_once(later + HOUR).fired == 1
    assert [e.name for e in store.events("case-1")] == [
        "customer_contact", "first_response_overdue"]


def test_a_breach_its_state_does_not_allow_is_not_recorded(tmp_path: pathlib.Path) -> None:
    """A deadline whose breach event has no transition (one only reported by overdue())."""
    definition = JourneyDefinition(
        "plain", [State("a"), State("b", final=True)], [Transition("go", "a", "b")],
        deadlines=[Deadline("a", HOUR, "nope")],
    )
    store = make_store("sqlite", tmp_path)
    try:
        store.create(definition, "j", at=T0)
        journey = store.append("j", Event("go", at=T0 + 2 * HOUR))
        assert [e.name for e in store.events("j")] == ["go"]
        assert (journey.state, journey.version) == ("b", 1)
    finally:
        store.close()


def test_the_asyncio_store_records_the_missed_breach_too(tmp_path: pathlib.Path) -> None:
    import asyncio

    async def main() -> list[str]:
        store = await aio.open_store(f"sqlite:///{tmp_path / 'a.db'}")
        try:
            await store.create(order_journey(), "order-1", at=T0)
            await store.append("order-1", Event("place", at=T0))
            await store.append("order-1", Event("acknowledge", at=T0 + 2 * HOUR))
            return [e.name for e in await store.events("order-1")]
        finally:
            await store.close()

    assert asyncio.run(main()) == ["place", "acknowledgement_overdue", "acknowledge"]


def test_the_pure_core_is_unchanged() -> None:
    """``journey.apply`` applies exactly the event given: recording missed breaches is the
    stores' work (they keep the log a worker reads)."""
    journey = order_journey().start("order-1", at=T0).apply(Event("place", at=T0)).journey
    step = journey.apply(Event("acknowledge", at=T0 + 2 * HOUR))
    assert (step.journey.state, step.journey.version) == ("acknowledged", 2)
    assert dt.timedelta(0) < T0 + 2 * HOUR - journey.deadlines[0].due
