"""advance(kit, journey, event): recovery plugins and transition observers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from carekit import PluginError, hookimpl
from carekit.journeys import Event, Journey, Touchpoint, advance, order_journey
from carekit.testing import make_carekit

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
ORDER = order_journey()


def _shipped() -> Journey:
    j = ORDER.start("o-1", at=T0, channel="email")
    for k, name in enumerate(["place", "acknowledge", "start_production", "near_completion",
                              "ship"]):
        data = {"tracking_number": "1Z"} if name == "ship" else None
        j = j.apply(Event(name, at=T0 + dt.timedelta(minutes=k), data=data)).journey
    return j


class MakeItRight:
    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []

    @hookimpl
    def carekit_recovery_action(self, journey: Journey, friction: float) -> list[Touchpoint]:
        self.calls.append((journey.journey_id, friction))
        return [
            Touchpoint(name="manager_call", within=dt.timedelta(hours=4), channel="phone"),
            Touchpoint(name="free_upgrade", within=dt.timedelta(days=1)),
        ]


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    @hookimpl
    def carekit_on_transition(self, journey: Journey, transition: Any) -> None:
        self.seen.append((journey.state, transition.event))


class Broken:
    @hookimpl
    def carekit_on_transition(self, journey: Journey, transition: Any) -> None:
        raise RuntimeError("analytics is down")


def test_recovery_plugin_adds_make_it_right_touchpoints() -> None:
    plugin = MakeItRight()
    kit = make_carekit(plugin)
    j = _shipped()
    t = T0 + dt.timedelta(hours=2)
    step = advance(kit, j, Event("deliver", at=t, data={"moment": "damaged_item",
                                                         "sentiment": -0.5}))
    assert step.recovery is not None
    assert plugin.calls == [("o-1", pytest.approx(3.5))]
    names = [tp.name for tp in step.touchpoints]
    assert names == ["satisfaction_check", "manager_call", "free_upgrade"]
    call, upgrade = step.touchpoints[1:]
    assert (call.channel, call.due) == ("phone", t + dt.timedelta(hours=4))
    assert upgrade.channel == "email"  # no channel: the customer's preferred one
    assert call.idempotency_key == "o-1/manager_call/6"
    assert [tp.name for tp in step.journey.owed][-2:] == ["manager_call", "free_upgrade"]
    # No second recovery while friction stays above the threshold.
    again = advance(kit, step.journey, Event("follow_up", at=t, data={"sentiment": -0.2}))
    assert again.recovery is None and len(plugin.calls) == 1
    # Journey.apply(kit=...) is the same thing.
    via_apply = j.apply(Event("deliver", at=t, data={"moment": "damaged_item",
                                                      "sentiment": -0.5}), kit=kit)
    assert via_apply.journey == step.journey


def test_pure_apply_reports_recovery_without_calling_plugins() -> None:
    plugin = MakeItRight()
    make_carekit(plugin)
    step = _shipped().apply(Event("deliver", at=T0 + dt.timedelta(hours=2),
                                  data={"moment": "damaged_item", "sentiment": -0.5}))
    assert step.recovery is not None and plugin.calls == []


def test_observers_are_called_and_failures_reported_not_raised() -> None:
    recorder = Recorder()
    kit = make_carekit(recorder, Broken())
    j = ORDER.start("o-2", at=T0)
    step = advance(kit, j, Event("place", at=T0))
    assert recorder.seen == [("placed", "place")]
    assert step.journey.state == "placed"  # the observer's failure changed nothing
    (failure,) = step.errors
    assert isinstance(failure.error, RuntimeError)
    assert "analytics is down" in str(failure.error)
    assert failure in step.effects


def test_duplicate_event_calls_no_plugin() -> None:
    recorder = Recorder()
    kit = make_carekit(recorder)
    j = ORDER.start("o-3", at=T0)
    e = Event("place", at=T0, id="e-1")
    step = advance(kit, j, e)
    dup = advance(kit, step.journey, e)
    assert dup.duplicate and recorder.seen == [("placed", "place")]


def test_recovery_plugin_returning_junk_is_a_plugin_error() -> None:
    class Junk:
        @hookimpl
        def carekit_recovery_action(self, journey: Journey, friction: float) -> Any:
            return ["call them"]

    kit = make_carekit(Junk())
    with pytest.raises(PluginError, match="expected carekit.journeys.Touchpoint"):
        advance(kit, _shipped(), Event("deliver", at=T0 + dt.timedelta(hours=1),
                                       data={"moment": "damaged_item", "sentiment": -1}))


def test_two_recovery_plugins_may_not_owe_the_same_name() -> None:
    # Both would be owed under one idempotency key and one of them would be lost.
    class Apology:
        def __init__(self, channel: str) -> None:
            self.channel = channel

        @hookimpl
        def carekit_recovery_action(self, journey: Journey, friction: float) -> list[Any]:
            return [Touchpoint(name="apology", within=dt.timedelta(hours=1),
                               channel=self.channel)]

    kit = make_carekit()
    kit.register(Apology("whatsapp"), "whatsapp-apology")
    kit.register(Apology("email"), "email-apology")
    bad = Event("deliver", at=T0 + dt.timedelta(hours=1),
                data={"moment": "damaged_item", "sentiment": -1})
    with pytest.raises(PluginError, match="'apology' is returned by plugin 'whatsapp-apology' "
                       "and by plugin 'email-apology'") as caught:
        advance(kit, _shipped(), bad)
    assert caught.value.plugins == ("email-apology", "whatsapp-apology")
    class Double:
        @hookimpl
        def carekit_recovery_action(self, journey: Journey, friction: float) -> list[Any]:
            tp = Touchpoint(name="sorry", within=dt.timedelta(hours=1))
            return [tp, tp]

    twice = make_carekit()
    twice.register(Double(), "double")
    with pytest.raises(PluginError, match="'sorry' is returned twice by plugin 'double'"):
        advance(twice, _shipped(), bad)


def test_a_recovery_touchpoint_named_like_an_owed_one_names_its_plugin() -> None:
    class Again:
        @hookimpl
        def carekit_recovery_action(self, journey: Journey, friction: float) -> list[Any]:
            return [Touchpoint(name="satisfaction_check", within=dt.timedelta(hours=1))]

    kit = make_carekit()
    kit.register(Again(), "again")
    bad = Event("deliver", at=T0 + dt.timedelta(hours=1),
                data={"moment": "damaged_item", "sentiment": -1})
    with pytest.raises(PluginError, match=r"\['satisfaction_check'\] \(from plugin 'again'\)"):
        advance(kit, _shipped(), bad)
