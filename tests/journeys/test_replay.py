"""replay: fold many journeys' events; same result as applying them one by one."""

from __future__ import annotations

import datetime as dt
import gc
import re
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.strategies_journeys import HAPPY_PATH, ORDER, T0, interleavings, journey_logs

from carekit import CareKitError, InvalidTransition
from carekit.journeys import Event, Journey, replay, service_case_journey, visit_journey

TRACKING = {"tracking_number": "1Z"}


def one_by_one(events: list[Event]) -> dict[str, Journey]:
    journeys: dict[str, Journey] = {}
    for ev in events:
        jid = str(ev.journey_id)
        j = journeys.get(jid)
        if j is None:
            data = ev.data
            j = ORDER.start(jid, at=ev.at, customer_id=data.get("customer_id"),
                            channel=data.get("channel"))
        journeys[jid] = j.apply(ev).journey
    return journeys


def happy(jid: str, *, start: dt.datetime = T0, ids: bool = True) -> list[Event]:
    return [
        Event(name, at=start + dt.timedelta(hours=k), id=f"{jid}:{k}" if ids else None,
              journey_id=jid, data=TRACKING if name == "ship" else None)
        for k, name in enumerate(HAPPY_PATH)
    ]


def test_replay_equals_applying_one_by_one() -> None:
    events = happy("a") + happy("b", ids=False)
    events.append(Event("place", at=T0, id="c:0", journey_id="c",
                        data={"customer_id": "c-7", "channel": "sms"}))
    events.append(Event("place", at=T0, id="d:0", journey_id="d",
                        data={"customer_id": "d-7", "channel": "sms"}))
    events.append(Event("acknowledge", at=T0, id="d:1", journey_id="d"))
    result = replay(ORDER, events)
    assert list(result) == ["a", "b", "c", "d"]
    assert result == one_by_one(events)
    assert result["a"].state == "closed" and result["a"].version == 8
    assert result["c"].channel == "sms" and result["c"].customer_id == "c-7"
    assert result["c"].started_at == T0
    assert [tp.name for tp in result["a"].owed] == [
        "order_thanks", "production_update", "shipped_with_tracking", "satisfaction_check"
    ]
    assert result["c"].deadlines[0].due == T0 + dt.timedelta(hours=1)
    [thanks] = result["d"].owed
    assert (thanks.name, thanks.channel, thanks.customer_id) == ("order_thanks", "sms", "d-7")


def test_replay_skips_repeated_ids_and_continues_from_starts() -> None:
    events = happy("a")
    partial = replay(ORDER, events[:3])
    rest = replay(ORDER, events[1:], starts=partial)  # overlapping events are ignored
    assert rest["a"] == replay(ORDER, events)["a"]
    assert replay(ORDER, [], starts=partial) == partial
    with pytest.raises(CareKitError, match="follows journey definition 'order'"):
        replay(visit_journey(), [], starts=partial)


def test_replay_errors_name_the_journey() -> None:
    with pytest.raises(InvalidTransition, match="journey 'x' is 'new'"):
        replay(ORDER, [Event("ship", at=T0, journey_id="x", data=TRACKING)])
    with pytest.raises(InvalidTransition, match="older than"):
        replay(ORDER, [Event("place", at=T0, journey_id="x"),
                       Event("acknowledge", at=T0 - dt.timedelta(seconds=6), journey_id="x")])
    with pytest.raises(InvalidTransition, match="requires data"):
        late_ship = Event("ship", at=T0 + dt.timedelta(days=1), journey_id="x")
        replay(ORDER, [*happy("x")[:4], late_ship])
    with pytest.raises(CareKitError, match="journey_id"):
        replay(ORDER, [Event("place", at=T0)])
    with pytest.raises(CareKitError, match="Event objects"):
        replay(ORDER, ["place"])  # type: ignore[list-item]
    with pytest.raises(CareKitError, match="JourneyDefinition"):
        replay("order", [])  # type: ignore[arg-type]


def test_replay_friction_matches_apply() -> None:
    events = happy("a")
    events[5] = Event("deliver", at=events[5].at, id="a:5", journey_id="a",
                      data={"moment": "late_delivery"})
    events[6] = Event("follow_up", at=events[6].at + dt.timedelta(days=3), id="a:6",
                      journey_id="a", data={"sentiment": -0.5})
    events[7] = Event("close", at=events[6].at, id="a:7", journey_id="a")
    assert replay(ORDER, events) == one_by_one(events)
    assert replay(ORDER, events)["a"].friction > 2.0


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_replay_is_deterministic_and_order_independent(data: st.DataObject) -> None:
    events = data.draw(journey_logs())
    shuffled = data.draw(interleavings(events))
    first = replay(ORDER, events)
    assert replay(ORDER, events) == first
    assert replay(ORDER, shuffled) == first
    assert first == one_by_one(shuffled)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_applying_an_event_twice_equals_once(data: st.DataObject) -> None:
    events = data.draw(journey_logs(max_journeys=2))
    doubled: list[Event] = []
    for ev in events:
        doubled.extend([ev, ev] if data.draw(st.booleans()) else [ev])
    assert replay(ORDER, doubled) == replay(ORDER, events)
    assert one_by_one(doubled) == one_by_one(events)


@settings(max_examples=60, deadline=None)
@given(journey_logs())
def test_a_valid_path_never_raises(events: list[Event]) -> None:
    journeys = one_by_one(events)
    for j in journeys.values():
        assert j.version == sum(1 for e in events if e.journey_id == j.journey_id)
        assert j.friction >= 0.0
        assert all(tp.due >= tp.owed_at for tp in j.owed)
        keys = [tp.idempotency_key for tp in j.owed]
        assert len(keys) == len(set(keys))


@pytest.mark.parametrize("make", [service_case_journey, visit_journey], ids=lambda f: f.__name__)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_valid_paths_through_other_builtins(make: Any, data: st.DataObject) -> None:
    definition = make()
    events = data.draw(journey_logs(definition, max_journeys=3))
    journeys = replay(definition, events)
    for jid, j in journeys.items():
        mine = [e for e in events if e.journey_id == jid]
        one = definition.start(jid, at=mine[0].at)
        for ev in mine:
            one = one.apply(ev).journey
        assert one == j


def test_a_finished_journey_takes_under_2_kb() -> None:
    import gc
    import tracemalloc

    events = [ev for i in range(2000) for ev in happy(f"order-{i}")]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        journeys = replay(ORDER, events)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert all(j.state == "closed" for j in journeys.values())
    assert (after - before) / len(journeys) < 2048


def test_replay_restores_the_garbage_collector_as_it_found_it() -> None:
    # replay pauses the cyclic collector while folding; it must hand it back unchanged,
    # also when an event is rejected.
    good = [Event("place", at=T0, id="p", journey_id="g")]
    bad = [*good, Event("deliver", at=T0, id="d", journey_id="g")]
    assert gc.isenabled()
    assert replay(ORDER, good)["g"].state == "placed"
    assert gc.isenabled()
    with pytest.raises(InvalidTransition):
        replay(ORDER, bad)
    assert gc.isenabled()
    gc.disable()
    try:
        replay(ORDER, good)
        with pytest.raises(InvalidTransition):
            replay(ORDER, bad)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_events_without_ids_mixed_with_ids_match_apply() -> None:
    events = happy("m")
    events = [e if k % 2 else Event(e.name, at=e.at, journey_id="m", data=e.data)
              for k, e in enumerate(events)]
    events.insert(3, events[1])  # a repeated id is skipped
    (folded,) = replay(ORDER, events).values()
    assert folded == one_by_one(events)["m"]
    assert None not in folded.seen_event_ids and len(folded.seen_event_ids) == 4


def test_owed_touchpoints_read_lazily_behave_as_a_tuple() -> None:
    import pickle

    from carekit.journeys import OwedTouchpoint

    folded = replay(ORDER, happy("p"))["p"]
    expected = one_by_one(happy("p"))["p"]
    assert hash(folded) == hash(expected) and folded == expected
    assert type(folded.owed) is tuple
    assert all(type(tp) is OwedTouchpoint for tp in folded.owed)
    assert folded.owed is folded.owed  # built once, then cached
    assert pickle.loads(pickle.dumps(replay(ORDER, happy("p"))["p"])) == expected
    assert repr(replay(ORDER, happy("p"))["p"]) == repr(expected)


def test_hand_built_deadlines_outside_their_state_are_cleared_as_apply_does() -> None:
    from carekit.journeys import ActiveDeadline

    start = ORDER.start("h", at=T0)
    odd = attrs.evolve(start, deadlines=(ActiveDeadline(
        journey_id="h", state="new", breach_event="late", due=T0, version=0),))
    events = happy("h")
    expected = odd
    for ev in events:
        expected = expected.apply(ev).journey
    assert replay(ORDER, events, starts={"h": odd})["h"] == expected
    assert expected.deadlines == ()


def test_replay_checks_required_data_and_guards_as_apply_does() -> None:
    from carekit.journeys import JourneyDefinition, State, Transition

    refunds = JourneyDefinition(
        "refund",
        [State("asked"), State("refunded", final=True)],
        [Transition("refund", "asked", "refunded", requires=("amount",),
                    guard=lambda data: data["amount"] <= 100)],
    )
    for data, match in [({"amount": 50}, None), ({"amount": 500}, "rejected"),
                        ({"amount": ""}, "requires data"), ({"amount": "x"}, "raised")]:
        ev = Event("refund", at=T0, journey_id="r", data=data)
        if match is None:
            assert replay(refunds, [ev]) == {"r": refunds.start("r", at=T0).apply(ev).journey}
            continue
        with pytest.raises(InvalidTransition, match=match):
            refunds.start("r", at=T0).apply(ev)
        with pytest.raises(InvalidTransition, match=match):
            replay(refunds, [ev])
    # the order journey's ship needs a non-empty tracking number in replay too
    no_number = Event("ship", at=T0 + dt.timedelta(days=1), journey_id="x",
                      data={"tracking_number": ""})
    with pytest.raises(InvalidTransition, match="requires data"):
        replay(ORDER, [*happy("x")[:4], no_number])


def test_a_continued_journey_given_only_events_it_has_applied_is_returned_as_it_was() -> None:
    events = happy("a")
    partial = replay(ORDER, events[:3])
    again = replay(ORDER, events[:3], starts=partial)
    assert again["a"] is partial["a"]
    assert again["a"].version == 3


def test_a_numeric_customer_id_in_the_first_event_becomes_text() -> None:
    ev = Event("place", at=T0, id="n:0", journey_id="n", data={"customer_id": 42})
    journey = replay(ORDER, [ev])["n"]
    assert journey.customer_id == "42"
    assert journey == ORDER.start("n", at=T0, customer_id="42").apply(ev).journey


def test_a_checked_event_that_starts_a_deadline_sets_it_as_apply_does() -> None:
    from carekit.journeys import Deadline, JourneyDefinition, State, Transition

    returns = JourneyDefinition(
        "returns",
        [State("asked"), State("approved"), State("refunded", final=True)],
        [Transition("approve", "asked", "approved", requires=("reason",)),
         Transition("refund", "approved", "refunded")],
        deadlines=[Deadline("approved", dt.timedelta(days=3), "refund_overdue")],
    )
    ev = Event("approve", at=T0, id="r:1", journey_id="r", data={"reason": "size"})
    journey = replay(returns, [ev])["r"]
    assert journey == returns.start("r", at=T0).apply(ev).journey
    assert [(d.state, d.due) for d in journey.deadlines] == [
        ("approved", T0 + dt.timedelta(days=3))
    ]


def test_a_start_filed_under_another_journeys_id_is_refused_as_apply_refuses() -> None:
    journey = ORDER.start("own-id", at=T0)
    events = happy("filed")[:2]
    with pytest.raises(InvalidTransition, match="belongs to journey 'filed'") as applied:
        journey.apply(events[0])
    with pytest.raises(InvalidTransition, match="belongs to journey 'filed'") as replayed:
        replay(ORDER, events, starts={"filed": journey})
    assert str(replayed.value) == str(applied.value)
    # events it has applied already are no-ops, as in apply
    seen = attrs.evolve(journey, seen_event_ids=(events[0].id,))
    assert replay(ORDER, events[:1], starts={"filed": seen}) == {"filed": seen}


@pytest.mark.parametrize("events", [None, 5, T0])
def test_events_must_be_iterable(events: object) -> None:
    # Regression: TypeError ('NoneType' object is not iterable).
    with pytest.raises(
        CareKitError,
        match=r"events must be an iterable of Event objects \(got " + re.escape(f"{events!r})"),
    ):
        replay(ORDER, events)  # type: ignore[arg-type]


def test_starts_must_map_ids_to_journeys() -> None:
    # Regression: AttributeError ('int' object has no attribute 'items' / 'definition').
    events = [Event("place", at=T0, journey_id="A")]
    with pytest.raises(
        CareKitError,
        match=r"starts must be a mapping of journey id to Journey, or None \(got 5\)",
    ):
        replay(ORDER, events, starts=5)  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match=r"starts\['A'\] must be a Journey \(got None\)"):
        replay(ORDER, events, starts={"A": None})  # type: ignore[dict-item]
    assert replay(ORDER, events, starts={})["A"].state == "placed"
