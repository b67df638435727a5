"""Journey: start, apply, idempotency, ordering, touchpoints, deadlines, overdue, friction."""

from __future__ import annotations

import datetime as dt
import pickle

import attrs
import pytest

from carekit import CareKitError, InvalidTransition
from carekit.journeys import (
    ActiveDeadline,
    Event,
    Journey,
    JourneyDefinition,
    OwedTouchpoint,
    RecoveryNeeded,
    State,
    Step,
    Touchpoint,
    Transition,
    order_journey,
    replay,
)
from carekit.journeys._seen import SEEN_AS_TUPLE, SeenIds

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
MIN = dt.timedelta(minutes=1)
TRACKING = {"tracking_number": "1Z999AA10123456784"}
ORDER = order_journey()


def drive(journey: Journey, *names: str, start: dt.datetime = T0) -> Journey:
    for k, name in enumerate(names):
        data = TRACKING if name == "ship" else None
        journey = journey.apply(Event(name, at=start + k * MIN, data=data)).journey
    return journey


def test_start() -> None:
    j = ORDER.start("order-1", at=T0, customer_id="c-1", channel="sms")
    assert (j.state, j.version, j.started_at, j.updated_at) == ("new", 0, T0, T0)
    assert (j.customer_id, j.channel, j.friction, j.owed, j.deadlines) == (
        "c-1", "sms", 0.0, (), ()
    )
    assert j.definition is ORDER
    assert not j.finished
    with pytest.raises(CareKitError, match="timezone-aware"):
        ORDER.start("order-1", at=dt.datetime(2026, 3, 2))
    with pytest.raises(CareKitError, match="journey_id must be a non-empty string"):
        ORDER.start("", at=T0)
    with pytest.raises(CareKitError, match="channel"):
        ORDER.start("x", at=T0, channel="")


def test_journey_is_immutable() -> None:
    j = ORDER.start("order-1", at=T0)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        j.state = "placed"  # type: ignore[misc]
    step = j.apply(Event("place", at=T0))
    assert j.state == "new"
    assert step.journey.state == "placed"


def test_happy_path_owes_the_four_touchpoints() -> None:
    j = ORDER.start("order-1", at=T0, channel="email")
    owed: list[OwedTouchpoint] = []
    names = ["place", "acknowledge", "start_production", "near_completion", "ship", "deliver",
             "follow_up", "close"]
    for k, name in enumerate(names, start=1):
        step = j.apply(Event(name, at=T0 + k * MIN, data=TRACKING if name == "ship" else None))
        assert isinstance(step, Step)
        assert step.transition is not None and step.transition.event == name
        owed.extend(step.touchpoints)
        j = step.journey
        assert j.version == k
    assert j.state == "closed" and j.finished
    assert [tp.name for tp in owed] == [
        "order_thanks", "production_update", "shipped_with_tracking", "satisfaction_check"
    ]
    assert j.owed == tuple(owed)
    thanks, _update, shipped, check = owed
    assert thanks.state == "acknowledged"
    assert thanks.channel == "email"  # the customer's preferred channel
    assert thanks.due == T0 + 2 * MIN + dt.timedelta(hours=1)
    assert thanks.idempotency_key == "order-1/order_thanks/2"
    assert shipped.data["tracking_number"] == TRACKING["tracking_number"]
    assert shipped.idempotency_key == "order-1/shipped_with_tracking/5"
    assert shipped.to_dict()["data"] == TRACKING
    assert check.not_before == T0 + 6 * MIN + dt.timedelta(days=2)  # waits two days
    assert check.due == T0 + 6 * MIN + dt.timedelta(days=3)  # then a day to send it


def test_idempotency_keys_are_deterministic() -> None:
    a = drive(ORDER.start("order-9", at=T0), "place", "acknowledge")
    b = drive(ORDER.start("order-9", at=T0), "place", "acknowledge")
    assert [tp.idempotency_key for tp in a.owed] == [tp.idempotency_key for tp in b.owed]
    assert a == b


def test_ship_requires_a_tracking_number() -> None:
    j = drive(ORDER.start("o", at=T0), "place", "acknowledge", "start_production",
              "near_completion")
    for data in (None, {"tracking_number": ""}, {"carrier": "UPS"}):
        with pytest.raises(InvalidTransition, match=r"requires data\['tracking_number'\]") as e:
            j.apply(Event("ship", at=T0 + dt.timedelta(hours=1), data=data))
        assert (e.value.journey_id, e.value.state, e.value.event) == (
            "o", "production_nearly_done", "ship"
        )


def test_event_not_allowed_names_journey_state_event_and_allowed() -> None:
    j = drive(ORDER.start("order-42", at=T0), *["place", "acknowledge", "start_production",
              "near_completion"], "ship", "deliver", "follow_up", "close")
    with pytest.raises(InvalidTransition) as info:
        j.apply(Event("ship", at=T0 + dt.timedelta(days=1), data=TRACKING))
    err = info.value
    assert (err.journey_id, err.state, err.event, err.allowed) == ("order-42", "closed", "ship", ())
    assert "journey 'order-42' is 'closed'" in str(err)
    assert "(got 'ship')" in str(err)
    fresh = ORDER.start("order-43", at=T0)
    with pytest.raises(InvalidTransition, match=r"allowed events there: \['cancel', 'place'"):
        fresh.apply(Event("deliver", at=T0))


@pytest.mark.parametrize(
    "before", ["new", "placed", "acknowledged", "in_production", "production_nearly_done"]
)
def test_cancel_allowed_before_shipped(before: str) -> None:
    path = ["place", "acknowledge", "start_production", "near_completion"]
    steps = path[: ["new", "placed", "acknowledged", "in_production",
                    "production_nearly_done"].index(before)]
    j = drive(ORDER.start("o", at=T0), *steps)
    assert j.state == before
    cancelled = j.apply(Event("cancel", at=T0 + dt.timedelta(hours=1))).journey
    assert cancelled.state == "cancelled" and cancelled.finished


@pytest.mark.parametrize("after", ["shipped", "delivered", "followed_up", "closed"])
def test_cancel_refused_from_shipped_on(after: str) -> None:
    path = ["place", "acknowledge", "start_production", "near_completion", "ship", "deliver",
            "follow_up", "close"]
    n = 5 + ["shipped", "delivered", "followed_up", "closed"].index(after)
    j = drive(ORDER.start("o", at=T0), *path[:n])
    assert j.state == after
    with pytest.raises(InvalidTransition, match="got 'cancel'"):
        j.apply(Event("cancel", at=T0 + dt.timedelta(days=1)))


def test_promise_at_risk_is_a_self_loop_owing_a_notice() -> None:
    path = ["place", "acknowledge", "start_production", "near_completion", "ship"]
    for n in range(len(path) + 1):
        j = drive(ORDER.start("o", at=T0, channel="sms"), *path[:n])
        step = j.apply(Event("promise_at_risk", at=T0 + dt.timedelta(hours=2),
                             data={"promised": "2026-03-20"}))
        assert step.journey.state == j.state
        assert [tp.name for tp in step.touchpoints] == ["promise_at_risk_notice"]
        notice = step.touchpoints[0]
        assert notice.channel == "sms"
        assert notice.data["promised"] == "2026-03-20"
        assert notice.due == T0 + dt.timedelta(hours=3)
        # a self-loop does not restart the state's deadlines
        assert step.journey.deadlines == j.deadlines
        assert step.deadlines_set == ()
    delivered = drive(ORDER.start("o", at=T0), *path, "deliver")
    with pytest.raises(InvalidTransition):
        delivered.apply(Event("promise_at_risk", at=T0 + dt.timedelta(days=3)))


def test_acknowledgement_deadline_one_hour_after_placing() -> None:
    j = ORDER.start("o", at=T0)
    step = j.apply(Event("place", at=T0))
    (deadline,) = step.deadlines_set
    assert isinstance(deadline, ActiveDeadline)
    assert (deadline.state, deadline.breach_event, deadline.due) == (
        "placed", "acknowledgement_overdue", T0 + dt.timedelta(hours=1)
    )
    placed = step.journey
    assert placed.overdue(T0 + dt.timedelta(minutes=60)) == []  # due, not yet late
    (late,) = placed.overdue(T0 + dt.timedelta(minutes=61))
    assert (late.kind, late.name, late.state, late.due) == (
        "deadline", "acknowledgement_overdue", "placed", deadline.due
    )
    assert late.late_by(T0 + dt.timedelta(minutes=61)) == MIN
    # Leaving the state in time clears the deadline.
    ack = placed.apply(Event("acknowledge", at=T0 + dt.timedelta(minutes=30)))
    assert ack.deadlines_cleared == (deadline,)
    assert ack.journey.deadlines == ()
    # The breach event has a deterministic id and may be applied (it adds friction).
    (breach,) = placed.breaches(T0 + dt.timedelta(hours=2))
    assert breach.id == "o/acknowledgement_overdue/1"
    assert breach.at == deadline.due
    after = placed.apply(breach)
    assert after.journey.state == "placed"
    assert after.journey.friction == pytest.approx(1.0)
    assert after.journey.apply(breach).duplicate


def test_repeated_event_id_is_a_no_op() -> None:
    j = ORDER.start("o", at=T0)
    e = Event("place", at=T0, id="evt-1")
    first = j.apply(e)
    second = first.journey.apply(e)
    assert second.duplicate and second.effects == () and second.transition is None
    assert second.journey is first.journey
    # even when it is older than the latest event, and whatever name it carries
    later = first.journey.apply(Event("acknowledge", at=T0 + MIN, id="evt-2")).journey
    assert later.apply(Event("place", at=T0, id="evt-1")).journey is later
    assert later.seen_event_ids == ("evt-1", "evt-2")


def test_many_event_ids_switch_to_a_shared_ordered_collection() -> None:
    j = drive(ORDER.start("o", at=T0), "place")
    for k in range(40):
        j = j.apply(Event("promise_at_risk", at=T0 + k * MIN, id=f"r{k}")).journey
    assert isinstance(j.seen_event_ids, SeenIds)
    assert list(j.seen_event_ids)[-3:] == ["r37", "r38", "r39"]
    assert j.apply(Event("promise_at_risk", at=T0 + 50 * MIN, id="r3")).duplicate


def _loop() -> JourneyDefinition:
    return JourneyDefinition(
        name="loop",
        states=[State(name="open"), State(name="done", final=True)],
        transitions=[
            Transition(event="ping", source="open", target="open"),
            Transition(event="close", source="open", target="done"),
        ],
    )


def test_a_long_history_never_copies_its_event_ids() -> None:
    # Each new journey holds one id more than the last; copying them per event made a
    # journey with n events O(n^2) to build. Past the short-tuple stage, every version
    # must share one append-only log of ids (appending is O(1)).
    loop = _loop()
    j = loop.start("L", at=T0)
    logs = set()
    for k in range(200):
        j = j.apply(Event("ping", at=T0, id=f"p/{k}")).journey
        seen = j.seen_event_ids
        if len(seen) > SEEN_AS_TUPLE:
            assert isinstance(seen, SeenIds)
            logs.add(id(seen._log))
    assert len(logs) == 1
    assert list(j.seen_event_ids) == [f"p/{k}" for k in range(200)]


def test_twenty_thousand_events_apply_and_replay_alike() -> None:
    loop = _loop()
    events = [Event("ping", at=T0 + k * MIN, id=f"/{k}", journey_id="L") for k in range(20_000)]
    j = loop.start("L", at=T0)
    for e in events:
        j = j.apply(e).journey
    replayed = replay(loop, events)["L"]
    assert replayed == j and hash(replayed) == hash(j)
    assert j.version == 20_000 and len(j.seen_event_ids) == 20_000
    assert j.apply(events[123]).duplicate and j.apply(events[-1]).duplicate


def test_older_versions_keep_their_event_ids() -> None:
    # Branching from an older version never shows up in the newer one, nor the reverse.
    loop = _loop()
    j = loop.start("L", at=T0)
    history = []
    for k in range(40):
        j = j.apply(Event("ping", at=T0, id=f"p{k}")).journey
        history.append(j)
    old, new = history[29], history[39]
    branch = old.apply(Event("ping", at=T0, id="b")).journey
    assert "b" in branch.seen_event_ids and "b" not in new.seen_event_ids
    assert "p30" not in branch.seen_event_ids and "p30" in new.seen_event_ids
    assert len(old.seen_event_ids) == 30 and "b" not in old.seen_event_ids
    # the newest version still appends in place, and the branch stays as it was
    newer = new.apply(Event("ping", at=T0, id="b")).journey
    assert not new.apply(Event("ping", at=T0, id="b")).duplicate
    assert list(newer.seen_event_ids)[-2:] == ["p39", "b"]
    assert list(branch.seen_event_ids)[-2:] == ["p29", "b"]
    assert newer != branch


def test_seen_event_ids_compare_pickle_and_hash_by_value_in_order() -> None:
    ids = [f"e/{k}" for k in range(30)]
    a = SeenIds(ids)
    b = SeenIds(ids[:29]).with_id(ids[29])
    assert a == b and hash(a) == hash(b) and a == tuple(ids)
    assert a != SeenIds(reversed(ids)) and a != SeenIds(ids[:29])
    assert pickle.loads(pickle.dumps(a)) == a
    assert repr(SeenIds(["x"])) == "SeenIds(['x'])"
    with pytest.raises(AttributeError, match="immutable"):
        a._n = 3  # type: ignore[misc]
    loop = _loop()
    j = loop.start("L", at=T0)
    for k in range(30):
        j = j.apply(Event("ping", at=T0, id=ids[k])).journey
    assert pickle.loads(pickle.dumps(j)) == j


def test_event_older_than_latest_is_rejected() -> None:
    j = drive(ORDER.start("o", at=T0), "place", "acknowledge")
    with pytest.raises(InvalidTransition, match="older than the journey's latest event") as e:
        j.apply(Event("start_production", at=T0))
    assert e.value.event == "start_production"
    # the same instant is fine
    assert j.apply(Event("start_production", at=T0 + MIN)).journey.state == "in_production"


def test_event_for_another_journey_is_rejected() -> None:
    j = ORDER.start("o", at=T0)
    with pytest.raises(InvalidTransition, match="belongs to journey 'other'"):
        j.apply(Event("place", at=T0, journey_id="other"))
    assert j.apply(Event("place", at=T0, journey_id="o")).journey.state == "placed"


def test_apply_needs_an_event() -> None:
    with pytest.raises(CareKitError, match="must be a carekit.journeys.Event"):
        ORDER.start("o", at=T0).apply("place")  # type: ignore[arg-type]


def test_delivered_and_dead_lettered() -> None:
    j = drive(ORDER.start("o", at=T0), "place", "acknowledge", "start_production",
              "near_completion")
    thanks, update = j.owed
    later = T0 + dt.timedelta(days=1)
    assert [o.name for o in j.overdue(later)] == ["order_thanks", "production_update"]
    j2 = j.delivered(thanks.idempotency_key, at=T0 + 5 * MIN)
    assert j2.owed == (update,)
    assert j2.delivered(thanks.idempotency_key, at=later) is j2  # harmless repeat
    assert j2.version == j.version
    j3 = j2.dead_lettered(update.idempotency_key, at=later, reason="bounced")
    assert j3.owed == ()
    (dead,) = j3.overdue(later)
    assert (dead.name, dead.dead, dead.reason) == ("production_update", True, "bounced")
    # a dead letter shows even before its due time
    assert j3.overdue(T0)[0].dead
    assert j3.dead_lettered(update.idempotency_key, at=later, reason="x") is j3
    # delivering a dead-lettered touchpoint after all clears it
    assert j3.delivered(update.idempotency_key, at=later).dead == ()
    with pytest.raises(CareKitError, match="timezone-aware"):
        j.delivered(thanks.idempotency_key, at=dt.datetime(2026, 3, 2))
    with pytest.raises(CareKitError, match="reason must be a string"):
        j.dead_lettered(thanks.idempotency_key, at=later, reason=None)  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="timezone-aware"):
        j.overdue(dt.datetime(2026, 3, 2))


@pytest.mark.parametrize("key", [
    "o/order_thanks",            # no version (a typo)
    "o/order_thanks/9",          # a version the journey has not reached
    "other/order_thanks/2",      # another journey's
    "o//2",                      # no name
    "o/order_thanks/two",
    "o/order_thanks/" + "9" * 5000,
    None,
    2,
])
def test_a_key_this_journey_cannot_have_is_refused(key: object) -> None:
    j = drive(ORDER.start("o", at=T0), "place", "acknowledge")
    (thanks,) = j.owed
    assert thanks.idempotency_key == "o/order_thanks/2"
    for mark in (lambda k: j.delivered(k, at=T0),
                 lambda k: j.dead_lettered(k, at=T0, reason="bounced")):
        with pytest.raises(CareKitError, match="idempotency_key .* is not a key of journey "
                                               "'o': its keys read 'o/NAME/VERSION', with "
                                               "VERSION at most 2"):
            mark(key)
    # A well-formed key that is no longer (or never was) owed is a harmless no-op.
    assert j.delivered("o/satisfaction_check/1", at=T0) is j


def test_recovery_is_owed_on_reaching_the_threshold_not_on_staying_there() -> None:
    # Default policy: late_delivery weighs 2, sentiment -0.5 weighs 0.5 x 2 = 1; all at one
    # instant, so nothing decays: friction 2 then exactly 3.0, the threshold. Recovery is
    # owed on reaching it from below, and not again while friction stays at 3.0.
    j = drive(ORDER.start("o", at=T0), "place", "acknowledge", "start_production",
              "near_completion", "ship", start=T0)
    late = j.apply(Event("deliver", at=T0 + 9 * MIN, data={"moment": "late_delivery"}))
    assert late.recovery is None and late.journey.friction == 2.0
    upset = late.journey.apply(Event("follow_up", at=T0 + 9 * MIN, data={"sentiment": -0.5}))
    assert upset.journey.friction == 3.0 and upset.recovery is not None
    closed = upset.journey.apply(Event("close", at=T0 + 9 * MIN))
    assert closed.journey.friction == 3.0 and closed.recovery is None


def test_a_touchpoint_is_overdue_only_after_its_due_time() -> None:
    j = drive(ORDER.start("o", at=T0), "place", "acknowledge")
    (thanks,) = j.owed
    assert thanks.due == T0 + MIN + dt.timedelta(hours=1)
    assert j.overdue(thanks.due) == []  # due at 10:01 means 10:01 is still in time
    (late,) = j.overdue(thanks.due + dt.timedelta(microseconds=1))
    assert late.name == "order_thanks"


def test_friction_accumulates_decays_and_triggers_recovery_once() -> None:
    j = drive(ORDER.start("o", at=T0), "place", "acknowledge", "start_production",
              "near_completion", "ship")
    t = T0 + dt.timedelta(hours=1)
    step = j.apply(Event("deliver", at=t, data={"moment": "late_delivery"}))
    assert step.journey.friction == pytest.approx(2.0)
    assert step.recovery is None
    step = step.journey.apply(Event("follow_up", at=t, data={"sentiment": -0.5}))
    assert step.journey.friction == pytest.approx(3.0)
    recovery = step.recovery
    assert isinstance(recovery, RecoveryNeeded)
    assert (recovery.journey_id, recovery.friction, recovery.threshold) == ("o", 3.0, 3.0)
    # Fourteen days (the half-life) later the score has halved.
    two_weeks = t + dt.timedelta(days=14)
    assert step.journey.friction_at(two_weeks) == pytest.approx(1.5)
    # Praise lowers friction; it never drops below zero.
    calm = step.journey.apply(Event("close", at=two_weeks, data={"sentiment": 1.0})).journey
    assert calm.friction == 0.0


def test_guard_on_event_data() -> None:
    def big_enough(data: object) -> bool:
        return bool(getattr(data, "get")("amount", 0) >= 100)  # noqa: B009

    d = JourneyDefinition(
        name="refund",
        states=[State(name="asked"), State(name="approved", final=True)],
        transitions=[Transition(event="approve", source="asked", target="approved",
                                guard=big_enough)],
        touchpoints=[Touchpoint(name="refund_sent", on_enter="approved", within=MIN,
                                channel="email")],
    )
    j = d.start("r1", at=T0, channel="sms")
    with pytest.raises(InvalidTransition, match="guard 'big_enough' rejected"):
        j.apply(Event("approve", at=T0, data={"amount": 5}))
    step = j.apply(Event("approve", at=T0, data={"amount": 150}))
    assert step.touchpoints[0].channel == "email"  # the touchpoint's own channel wins

    def broken(data: object) -> bool:
        raise KeyError("amount")

    d2 = attrs.evolve(d, transitions=[Transition(event="approve", source="asked",
                                                 target="approved", guard=broken)])
    with pytest.raises(InvalidTransition, match="guard of event 'approve'.*raised KeyError"):
        d2.start("r2", at=T0).apply(Event("approve", at=T0))


def test_touchpoint_on_initial_state_is_owed_at_start() -> None:
    d = JourneyDefinition(
        name="welcome",
        states=[State(name="joined"), State(name="done", final=True)],
        transitions=[Transition(event="finish", source="joined", target="done")],
        touchpoints=[Touchpoint(name="welcome_mail", on_enter="joined", within=MIN)],
    )
    j = d.start("w", at=T0, channel="email")
    (tp,) = j.owed
    assert (tp.version, tp.idempotency_key, tp.due) == (0, "w/welcome_mail/0", T0 + MIN)


def test_step_effect_views() -> None:
    step = ORDER.start("o", at=T0).apply(Event("place", at=T0))
    assert step.touchpoints == ()
    assert step.deadlines_cleared == ()
    assert step.errors == ()
    assert len(step.deadlines_set) == 1
    assert step.journey.allowed_events() == ORDER.allowed_events("placed")
    assert step.journey.phase.value == "during"



def test_step_takes_journey_and_effects_positionally() -> None:
    step = ORDER.start("o", at=T0).apply(Event("place", at=T0))
    again = Step(step.journey, step.effects, transition=step.transition)
    assert again == step
    assert Step(journey=step.journey, effects=step.effects,
                transition=step.transition) == step
    bare = Step(step.journey)
    assert (bare.effects, bare.transition, bare.duplicate) == ((), None, False)
    with pytest.raises(TypeError):
        Step(step.journey, step.effects, step.transition)  # type: ignore[misc]

def test_definitions_and_journeys_pickle() -> None:
    import pickle

    j = drive(ORDER.start("o", at=T0, channel="sms"), "place", "acknowledge")
    again = pickle.loads(pickle.dumps(j))
    assert again == j and again.definition == ORDER
    assert again.apply(Event("start_production", at=T0 + MIN)).journey.state == "in_production"
    assert pickle.loads(pickle.dumps(ORDER.friction)) == ORDER.friction


def test_adding_a_seen_id_again_changes_nothing() -> None:
    a = SeenIds([f"e{k}" for k in range(30)])
    assert a.with_id("e3") is a
    b = a.with_id("new")
    assert list(b)[3] == "e3" and len(b) == 31 and b.with_id("e29") is b


def test_due_times_past_the_year_9999_are_refused_with_a_carekit_error() -> None:
    # Python's datetimes end at 9999-12-31; a due time past it is the event's fault.
    late = dt.datetime(9999, 12, 31, 23, 30, tzinfo=dt.timezone.utc)
    with pytest.raises(InvalidTransition, match="year 9999") as err:
        ORDER.start("o", at=late).apply(Event("place", at=late))
    assert (err.value.journey_id, err.value.event) == ("o", "place")
    with pytest.raises(InvalidTransition, match="year 9999"):
        replay(ORDER, [Event("place", at=late, journey_id="o")])
    opens_owing = JourneyDefinition(
        "opens", [State("open"), State("done", final=True)], [Transition("finish", "open", "done")],
        [Touchpoint("hello", on_enter="open", within=dt.timedelta(hours=1))],
    )
    with pytest.raises(CareKitError, match="year 9999"):
        opens_owing.start("x", at=late)
    # just in range: fine, and the due time is right when read
    ok = dt.datetime(9999, 12, 31, 21, 0, tzinfo=dt.timezone.utc)
    placed = ORDER.start("o", at=ok).apply(Event("place", at=ok)).journey
    (ack,) = placed.apply(Event("acknowledge", at=ok)).journey.owed
    assert ack.due == ok + dt.timedelta(hours=1)


def test_owed_touchpoints_are_kept_as_records_and_built_equal_to_the_effects() -> None:
    from carekit.calendar import BusinessCalendar

    cal = BusinessCalendar(tz="UTC")  # Mon-Fri 09:00-17:00
    callback = JourneyDefinition(
        "callback",
        [State("new"), State("asked"), State("called", final=True)],
        [Transition("ask", "new", "asked"), Transition("ask", "asked", "asked"),
         Transition("call", "asked", "called")],
        [Touchpoint("call_back", on_event="ask", within=dt.timedelta(hours=1), calendar=cal)],
    )
    friday = dt.datetime(2026, 3, 6, 16, 30, tzinfo=dt.timezone.utc)
    journey = callback.start("c", at=friday)
    effects: list[OwedTouchpoint] = []
    for k in range(3):
        step = journey.apply(Event("ask", at=friday + k * MIN))
        effects.extend(step.touchpoints)
        journey = step.journey
    # built on first read, equal to the effects: half an hour Friday, half Monday morning
    assert journey.owed == tuple(effects)
    assert journey.owed[0].due == dt.datetime(2026, 3, 9, 9, 30, tzinfo=dt.timezone.utc)
    assert replay(callback, [Event("ask", at=friday + k * MIN, journey_id="c")
                             for k in range(3)])["c"].owed == tuple(effects)
    # once read (a tuple), later touchpoints are added to that tuple
    read = drive(ORDER.start("o", at=T0), "place", "acknowledge")
    (thanks,) = read.owed
    later = drive(read, "start_production", "near_completion", start=T0 + 5 * MIN)
    assert [tp.name for tp in later.owed] == ["order_thanks", "production_update"]
    assert later.owed[0] is thanks


def test_owed_given_as_a_list_is_kept_as_a_tuple() -> None:
    journey = drive(ORDER.start("o", at=T0), "place", "acknowledge")
    (thanks,) = journey.owed
    again = attrs.evolve(journey, owed=[thanks])
    assert again.owed == (thanks,) and type(again.owed) is tuple
    assert again == journey


def test_owed_touchpoints_pickled_before_customer_id_still_load() -> None:
    import pickle

    from carekit.journeys import OwedTouchpoint

    j = ORDER.start("o-1", at=T0, customer_id="c-1")
    for name in ("place", "acknowledge"):
        j = j.apply(Event(name, at=T0)).journey
    [owed] = j.owed
    assert pickle.loads(pickle.dumps(owed)) == owed
    assert pickle.loads(pickle.dumps(owed)).customer_id == "c-1"
    old_state = {k: v for k, v in owed.__getstate__().items() if k != "customer_id"}
    restored = OwedTouchpoint.__new__(OwedTouchpoint)
    restored.__setstate__(old_state)  # what unpickling a 0.1.0 pickle does
    assert restored.customer_id is None
    assert restored == owed and hash(restored) == hash(owed)  # customer_id is the journey's
    no_data = {k: v for k, v in old_state.items() if k != "data"}
    restored.__setstate__(no_data)
    assert restored.data == {}  # a missing field with a default takes it
    broken = OwedTouchpoint.__new__(OwedTouchpoint)
    with pytest.raises(CareKitError, match="without 'name'"):
        broken.__setstate__({k: v for k, v in old_state.items() if k != "name"})


def test_owing_one_more_touchpoint_shares_the_log_between_versions() -> None:
    # Regression (r09): each event that owed a touchpoint copied every touchpoint still owed,
    # so a journey owing 200,000 took minutes to append to. The records now sit in one log
    # shared by the versions; a branch copies it.
    from carekit.journeys.journey import OwedLog, _owed_slot

    ticket = JourneyDefinition(
        name="pinger", states=[State(name="open"), State(name="done", final=True)],
        transitions=[Transition(event="ping", source="open", target="open"),
                     Transition(event="finish", source="open", target="done")],
        touchpoints=[Touchpoint(name="pong", on_event="ping", within=dt.timedelta(minutes=5))],
    )
    j = ticket.start("j", at=T0)
    versions = []
    for k in range(50):
        j = j.apply(Event("ping", at=T0, id=f"p{k}")).journey
        versions.append(j)
    logs = {id(_owed_slot(v, type(v)).log) for v in versions}
    assert len(logs) == 1  # one shared list, never copied
    slot = _owed_slot(versions[-1], type(versions[-1]))
    assert type(slot) is OwedLog and slot.n == 50 * 4
    branch = versions[9].apply(Event("ping", at=T0, id="b")).journey
    assert [tp.version for tp in branch.owed] == [*range(1, 11), 11]
    assert len(versions[-1].owed) == 50 and len(versions[9].owed) == 10
    assert [tp.idempotency_key for tp in versions[-1].owed][-1] == "j/pong/50"
