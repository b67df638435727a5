"""Public helpers that used to let a TypeError, AttributeError or OverflowError out, or
returned nonsense, for an argument of the wrong kind: each now raises a CareKitError that
names the argument (found by fuzzing every public entry point)."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from carekit import CareKit, CareKitError, PluginError
from carekit.journeys import (
    Event,
    FrictionPolicy,
    MemoryJourneyStore,
    SQLiteJourneyStore,
    advance,
    order_journey,
)
from carekit.testing import RecordingChannel, aware, make_carekit

T0 = dt.datetime(2026, 1, 5, 9, tzinfo=dt.timezone.utc)


def test_friction_policy_methods_check_their_arguments() -> None:
    policy = FrictionPolicy()
    day = dt.timedelta(days=14)
    # The documented arithmetic still holds: one half-life halves the score.
    assert policy.decay(2.0, day) == 1.0
    assert policy.from_data({"sentiment": -0.5}) == 1.0  # -(-0.5) x sentiment_weight 2
    for friction in (math.nan, math.inf, -1.0, None, "1"):
        with pytest.raises(CareKitError, match="friction must be"):
            policy.decay(friction, day)  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="elapsed must be a datetime.timedelta"):
        policy.decay(1.0, None)  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="data must be a mapping"):
        policy.from_data(None)  # type: ignore[arg-type]
    for sentiment in ("bad", math.nan, 10**400, 2):
        with pytest.raises(CareKitError, match=r"data\['sentiment'\]"):
            policy.from_data({"sentiment": sentiment})
    with pytest.raises(CareKitError, match=r"data\['moment'\] must name a bad moment"):
        policy.added("x", {"moment": ["a"]})
    with pytest.raises(CareKitError, match="event_name must be a string"):
        policy.added(["x"], {})  # type: ignore[arg-type]


def test_definition_lookups_refuse_unhashable_names() -> None:
    definition = order_journey()
    with pytest.raises(CareKitError, match=r"has no state \['x'\]"):
        definition.state(["x"])  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match=r"has no state \['x'\]"):
        definition.allowed_events(["x"])  # type: ignore[arg-type]


@pytest.mark.parametrize("make_store", [MemoryJourneyStore, lambda: SQLiteJourneyStore(":memory:")])
def test_a_kit_that_is_not_a_carekit_is_refused_before_anything_changes(
    make_store, request: pytest.FixtureRequest
) -> None:
    journey = order_journey().start("o-1", at=T0)
    with pytest.raises(CareKitError, match="kit must be a carekit.CareKit"):
        journey.apply(Event("place", at=T0), kit=5)  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match=r"kit must be a carekit.CareKit \(got None\)"):
        advance(None, journey, Event("place", at=T0))  # type: ignore[arg-type]
    store = make_store()
    request.addfinalizer(store.close)  # an unclosed SQLite connection warns (3.13)
    store.create(order_journey(), "o-1", at=T0)
    with pytest.raises(CareKitError, match="kit must be a carekit.CareKit"):
        store.append("o-1", [Event("place", at=T0)], kit=5)
    assert store.load("o-1").version == 0  # nothing kept


def test_carekit_arguments() -> None:
    assert "email" in CareKit(load_entrypoints=False, plugins=None).channels
    with pytest.raises(CareKitError, match="plugins must be an iterable of plugin objects"):
        CareKit(load_entrypoints=False, plugins=5)  # type: ignore[arg-type]
    kit = make_carekit()
    with pytest.raises(PluginError, match=r"no plugin provides channel \['x'\]"):
        kit.channel(["x"])  # type: ignore[arg-type]
    with pytest.raises(PluginError, match="name must be a registered plugin's name"):
        kit.unregister(["x"])  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match=r"dispatch has no option\(s\) \['bogus'\]"):
        kit.dispatch(MemoryJourneyStore(), now=T0, bogus=1)


@pytest.mark.parametrize("make_store", [MemoryJourneyStore, lambda: SQLiteJourneyStore(":memory:")])
def test_store_listing_and_recording_arguments(make_store, request: pytest.FixtureRequest) -> None:
    store = make_store()
    request.addfinalizer(store.close)  # an unclosed SQLite connection warns (3.13)
    store.create(order_journey(), "o-1", at=T0)
    assert [j.journey_id for j in store.load_many(["o-1"])] == ["o-1"]
    for ids in (5, "o-1", {"o-1": 1}):
        with pytest.raises(CareKitError, match="journey_ids must be an iterable of journey ids"):
            store.load_many(ids)  # raised at the call, not when iterated
    for outcomes in (["x"], None, [None]):
        with pytest.raises(CareKitError, match="outcomes must be an iterable of carekit"):
            store.record(outcomes)
    store.record([])  # nothing to record is fine


def test_testing_helpers_check_their_arguments() -> None:
    assert aware(2026, 1, 5, 9) == T0
    with pytest.raises(CareKitError, match=r"aware\(0, 1, 1, 0, 0, 0\) is not a date and time"):
        aware(0, 1, 1)
    with pytest.raises(CareKitError, match="is not a date and time"):
        aware(10**400, 1, 1)
    with pytest.raises(CareKitError, match="tz must be a datetime.tzinfo"):
        aware(2026, 1, 1, tz="UTC")  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="channel must be a carekit.channels.Channel"):
        RecordingChannel(channel=5)  # type: ignore[arg-type]


# -- the escapes the fuzzer found (one test per entry point) --------------------------------


def test_touchpoint_and_deadline_due_check_at_and_explain_overflow() -> None:
    from carekit.journeys import Deadline, Touchpoint

    tp, deadline = Touchpoint("tp", "placed", 3600), Deadline("placed", 3600, "x")
    for at in (0, None, dt.datetime(2026, 1, 1)):  # the fuzzer's TypeError; a naive datetime
        with pytest.raises(CareKitError, match="Touchpoint.due at must be a timezone-aware"):
            tp.due(at)  # type: ignore[arg-type]
        with pytest.raises(CareKitError, match="Deadline.due at must be a timezone-aware"):
            deadline.due(at)  # type: ignore[arg-type]
    assert tp.due(T0) == T0 + dt.timedelta(hours=1)
    with pytest.raises(CareKitError, match="falls after the last date Python can represent"):
        Touchpoint("tp", "placed", dt.timedelta.max).due(T0)


class _RecoveryWithin:
    def __init__(self, within: dt.timedelta) -> None:
        self.within = within

    @__import__("carekit").hookimpl
    def carekit_recovery_action(self, journey: object, friction: float) -> list[object]:
        from carekit.journeys import Touchpoint

        return [Touchpoint("sorry", within=self.within, channel="email",
                           on_event="promise_at_risk")]


@pytest.mark.parametrize("make_store", [MemoryJourneyStore, lambda: SQLiteJourneyStore(":memory:")])
def test_a_recovery_touchpoint_due_after_9999_is_a_plugin_error(
    make_store, request: pytest.FixtureRequest
) -> None:
    # Regression: Touchpoint(within=timedelta.max) from a recovery plugin made
    # store.append(kit=...), advance and journey.apply(kit=...) raise a raw OverflowError.
    kit = make_carekit(_RecoveryWithin(dt.timedelta.max))
    store = make_store()
    request.addfinalizer(store.close)  # an unclosed SQLite connection warns (3.13)
    store.create(order_journey(), "o-1", at=T0, channel="email")
    store.append("o-1", Event("place", at=T0))
    bad = Event("promise_at_risk", at=T0, data={"moment": "damaged_item", "sentiment": -1})
    with pytest.raises(PluginError, match=r"plugin '_RecoveryWithin' returned recovery "
                                          r"touchpoint 'sorry' with within=.*year 9999") as err:
        store.append("o-1", bad, kit=kit)
    assert err.value.plugins == ("_RecoveryWithin",) and err.value.name == "sorry"
    assert store.load("o-1").version == 1  # nothing of the failed append was kept
    journey = store.load("o-1")
    with pytest.raises(PluginError, match="cannot be due after"):
        advance(kit, journey, bad)
    with pytest.raises(PluginError, match="cannot be due after"):
        journey.apply(bad, kit=kit)
    # A plugin answering within range still works.
    fine = make_carekit(_RecoveryWithin(dt.timedelta(days=1)))
    owed = journey.apply(bad, kit=fine).journey.owed
    assert ("sorry", T0 + dt.timedelta(days=1)) in [(o.name, o.due) for o in owed]


def test_entry_points_the_fuzzer_broke_raise_carekit_errors() -> None:
    import decimal

    from carekit import DefinitionError, InvalidTransition
    from carekit.journeys import Journey, Phase
    from carekit.metrics import NPS, Segmented
    from carekit.staffing import Roster, ServiceTarget, plan, save_chart

    staffing_plan = plan([(T0, 100)], aht=180, target=ServiceTarget(0.8, 20))
    with pytest.raises(CareKitError, match="shifts must be an iterable of Shift"):
        Roster.from_shifts(4)  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="template must be a carekit.metrics accumulator"):
        Segmented(1, len)  # type: ignore[type-var]
    assert len(Segmented(NPS(), len)) == 0
    with pytest.raises(CareKitError, match="chart path must be a str or pathlib.Path"):
        save_chart(None, staffing_plan)  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="plan must be a carekit.staffing.StaffingPlan"):
        save_chart("x.png", 2)  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="coverage must be a carekit.staffing.Coverage"):
        save_chart("x.png", staffing_plan, coverage=3)  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="journey must be a carekit.journeys.Journey"):
        advance(make_carekit(), 0, Event("place", at=T0))  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="Journey owed must be a tuple of OwedTouchpoint"):
        Journey(journey_id="j", definition=order_journey(), state="new", version=0,
                started_at=T0, updated_at=T0, owed=dt.date(2026, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(PluginError, match="compares equal to itself"):
        CareKit(load_entrypoints=False).register(decimal.Decimal("sNaN"))
    with pytest.raises(CareKitError, match=r"Phase must be one of 'before', 'during', 'after'"):
        Phase(3)
    assert Phase("after") is Phase.AFTER
    # The errors themselves accept what they are given rather than fail while reporting.
    assert DefinitionError("n", 2).problems == (2,)  # type: ignore[arg-type]
    assert DefinitionError("n", "one problem").problems == ("one problem",)  # type: ignore[arg-type]
    assert PluginError("m", plugins=2).plugins == (2,)  # type: ignore[arg-type]
    assert InvalidTransition("m", allowed=("a", "b")).allowed == ("a", "b")


def _big_list() -> list[tuple[dt.datetime, int]]:
    """What a reader passes by mistake: the raw forecast or history, thousands of rows."""
    return [(T0 + i * dt.timedelta(minutes=30), 40) for i in range(2000)]


def _wrong_kind_calls() -> list[tuple[str, object]]:
    from carekit.promises import (
        PaddedEstimator,
        QuantileEstimator,
        StagedEstimator,
        at_risk,
        backtest,
        tradeoff,
    )
    from carekit.staffing import Roster, ServiceTarget, coverage, plan, simulate

    day = plan([(T0, 40)], aht=180, target=ServiceTarget.parse("80/20"))
    staged = StagedEstimator(stages={"a": QuantileEstimator()})
    promise = PaddedEstimator().promise(T0, expected=3)
    return [
        ("coverage(plan=list)", lambda: coverage(_big_list(), Roster(shifts=[]))),
        ("coverage(roster=list)", lambda: coverage(day, _big_list())),
        ("simulate(plan=list)", lambda: simulate(_big_list(), Roster(shifts=[]))),
        ("simulate(roster=list)", lambda: simulate(day, _big_list())),
        ("Roster.from_shifts(str)", lambda: Roster.from_shifts("x" * 5000)),
        ("StagedEstimator.fit(list)", lambda: staged.fit(_big_list())),
        ("StagedEstimator(stages=list)",
         lambda: StagedEstimator(stages=[QuantileEstimator()] * 50)),
        ("at_risk(progress=list)", lambda: at_risk(promise, _big_list(), T0)),
        ("at_risk(promise=list)", lambda: at_risk(_big_list(), {}, T0)),
        ("backtest(estimator=list)", lambda: backtest(_big_list(), [])),
        ("tradeoff(estimator=list)", lambda: tradeoff(_big_list(), [])),
    ]


@pytest.mark.parametrize("index", range(11))
def test_a_whole_table_passed_where_an_object_belongs_is_named_in_one_short_line(
    index: int,
) -> None:
    # The message named the argument and then printed every row it was given: 100 kB.
    label, call = _wrong_kind_calls()[index]
    with pytest.raises(CareKitError) as e:
        call()  # type: ignore[operator]
    text = str(e.value)
    assert len(text) < 300 and "\n" not in text, (label, len(text))
    assert "characters)" in text, label
