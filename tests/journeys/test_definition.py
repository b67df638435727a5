"""JourneyDefinition: validation (one DefinitionError listing every problem) and queries."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import pytest

from carekit import CareKitError, DefinitionError, InvalidTransition
from carekit.journeys import (
    Deadline,
    Event,
    FrictionPolicy,
    JourneyDefinition,
    Phase,
    State,
    Touchpoint,
    Transition,
)

H = dt.timedelta(hours=1)
T0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.timezone.utc)


def _simple(**overrides: object) -> JourneyDefinition:
    kwargs: dict[str, object] = {
        "name": "simple",
        "states": [State(name="a"), State(name="b", final=True)],
        "transitions": [Transition(event="go", source="a", target="b")],
    }
    kwargs.update(overrides)
    return JourneyDefinition(**kwargs)  # type: ignore[arg-type]


def test_first_state_is_initial_unless_given() -> None:
    assert _simple().initial == "a"
    d = _simple(
        states=[State(name="b", final=True), State(name="a")],
        initial="a",
    )
    assert d.initial == "a"


def test_one_error_lists_every_problem() -> None:
    with pytest.raises(DefinitionError) as info:
        JourneyDefinition(
            name="broken",
            states=[
                State(name="a"),
                State(name="b"),
                State(name="island", final=True),
                State(name="a"),
            ],
            transitions=[
                Transition(event="go", source="a", target="b"),
                Transition(event="go", source="a", target="nowhere"),
                Transition(event="back", source="ghost", target="a"),
            ],
            touchpoints=[
                Touchpoint(name="hello", on_enter="missing", within=H),
                Touchpoint(name="hello", on_enter="a", within=H),
                Touchpoint(name="floating", within=H),
                Touchpoint(name="on_nothing", on_event="never", within=H),
            ],
            deadlines=[Deadline(state="limbo", within=H, breach_event="late")],
        )
    err = info.value
    text = "\n".join(err.problems)
    assert "duplicate state 'a'" in text
    assert "unknown target state 'nowhere'" in text
    assert "unknown source state 'ghost'" in text
    assert "duplicate (source, event) pair ('a', 'go')" in text
    assert "'island' is unreachable" in text
    assert "'b' is a dead end" in text
    assert "touchpoint 'hello' is on unknown state 'missing'" in text
    assert "duplicate touchpoint 'hello'" in text
    assert "'floating' needs on_enter" in text
    assert "on unknown event 'never'" in text
    assert "deadline 'late' is on unknown state 'limbo'" in text
    assert len(err.problems) >= 11
    assert str(len(err.problems)) in str(err)
    assert err.name == "broken"


def test_no_initial_state() -> None:
    with pytest.raises(DefinitionError, match="no initial state"):
        JourneyDefinition(name="empty", states=[], transitions=[])
    with pytest.raises(DefinitionError, match="initial state 'zz' is not one of the states"):
        _simple(initial="zz")


def test_self_loop_only_state_is_a_dead_end() -> None:
    with pytest.raises(DefinitionError, match="'b' is a dead end"):
        _simple(
            states=[State(name="a"), State(name="b")],
            transitions=[
                Transition(event="go", source="a", target="b"),
                Transition(event="poke", source="b", target="b"),
            ],
        )


def test_wrong_item_types_are_listed() -> None:
    with pytest.raises(DefinitionError, match="states must hold State objects"):
        _simple(states=["a", "b"])


@pytest.mark.parametrize("bad", ["", "has space", "9lives", None, 3])
def test_names_must_be_identifiers(bad: object) -> None:
    with pytest.raises(CareKitError, match="State name must be an identifier"):
        State(name=bad)  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="Transition event"):
        Transition(event=bad, source="a", target="b")  # type: ignore[arg-type]


def test_a_guard_that_cannot_take_the_event_data_alone_is_refused_when_defined() -> None:
    # Regression: a guard written as (journey, event) raised TypeError at every event,
    # which apply reported as the guard refusing the event; the transition was never taken.
    with pytest.raises(CareKitError, match=r"guard must take one argument, the event's data"
                       r".* takes \(journey, event\)"):
        Transition(event="go", source="a", target="b",
                   guard=lambda journey, event: True)  # type: ignore[arg-type,misc]
    with pytest.raises(CareKitError, match=r"takes \(\)"):
        Transition(event="go", source="a", target="b", guard=lambda: True)  # type: ignore[arg-type,misc]

    class Paid:
        def __call__(self, data: Any) -> bool:
            return bool(data.get("paid"))

    # Anything that can be called with the data alone is taken, as before.
    for guard in (lambda data: True, lambda data, strict=False: True, lambda *args: True,
                  functools.partial(lambda need, data: need in data, "paid"), Paid(), bool):
        t = Transition(event="go", source="a", target="b", guard=guard)
        assert t.guard is guard
    paid = JourneyDefinition(
        name="pay", states=[State("a"), State("b", final=True)],
        transitions=[Transition(event="go", source="a", target="b", guard=Paid())],
    )
    journey = paid.start("p-1", at=T0)
    assert journey.apply(Event("go", at=T0, data={"paid": True})).journey.state == "b"
    with pytest.raises(InvalidTransition, match="rejected"):
        journey.apply(Event("go", at=T0, data={"paid": False}))


def test_value_checks() -> None:
    with pytest.raises(CareKitError, match="phase must be a Phase"):
        State(name="a", phase="before")  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="guard must be a callable"):
        Transition(event="go", source="a", target="b", guard="yes")  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="non-negative duration"):
        Touchpoint(name="t", on_enter="a", within=dt.timedelta(minutes=-1))
    with pytest.raises(CareKitError, match="add_business_hours"):
        Deadline(state="a", within=H, breach_event="late", calendar=object())  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="threshold must be > 0"):
        FrictionPolicy(threshold=0)
    with pytest.raises(CareKitError, match="half_life must be a positive duration"):
        FrictionPolicy(half_life=dt.timedelta(0))
    # Numbers are read as seconds.
    assert Touchpoint(name="t", on_enter="a", within=90).within == dt.timedelta(seconds=90)


def test_queries() -> None:
    d = _simple()
    assert d.allowed_events("a") == ("go",)
    assert d.allowed_events("b") == ()
    assert d.events == ("go",)
    assert d.final_states == ("b",)
    assert d.state("a").phase is Phase.DURING
    with pytest.raises(CareKitError, match="has no state 'zz'"):
        d.state("zz")
    with pytest.raises(CareKitError, match="has no state"):
        d.allowed_events("zz")


def test_requires_accepts_a_single_name() -> None:
    t = Transition(event="ship", source="a", target="b", requires="tracking_number")
    assert t.requires == ("tracking_number",)
    with pytest.raises(CareKitError, match="non-empty strings"):
        Transition(event="ship", source="a", target="b", requires=[""])


def test_friction_policy_arithmetic() -> None:
    p = FrictionPolicy(half_life=dt.timedelta(days=1), moments={"late_delivery": 2.0})
    # After exactly one half-life the score halves (definition of half-life).
    assert p.decay(4.0, dt.timedelta(days=1)) == pytest.approx(2.0)
    assert p.decay(4.0, dt.timedelta(days=2)) == pytest.approx(1.0)
    assert p.decay(0.0, dt.timedelta(days=2)) == 0.0
    assert p.added("late_delivery", {}) == 2.0
    assert p.added("x", {"moment": "late_delivery", "sentiment": -0.5}) == pytest.approx(3.0)
    assert p.added("x", {"moment": "unheard_of"}) == p.default_weight
    assert p.added("x", {"sentiment": 1.0}) == pytest.approx(-2.0)


def test_contract_arguments_may_be_positional() -> None:
    d = JourneyDefinition(
        "tiny",
        [State("a", Phase.BEFORE), State("b", Phase.AFTER, True)],
        [Transition("go", "a", "b")],
        [Touchpoint("hi", "b", H, "sms")],
        [Deadline("a", H, "late")],
    )
    assert d.touchpoints[0] == Touchpoint(name="hi", on_enter="b", within=H, channel="sms")
    assert d.deadlines[0].breach_event == "late"
    assert d.state("b").final


def _with_friction(policy: FrictionPolicy) -> JourneyDefinition:
    return _simple(
        transitions=[
            Transition(event="complain", source="a", target="a"),
            Transition(event="go", source="a", target="b"),
        ],
        friction=policy,
    )


def test_half_life_in_seconds_is_a_duration_like_within() -> None:
    # Regression: a number was kept as it was and friction_at raised TypeError.
    policy = FrictionPolicy(half_life=3600, moments={"complain": 2.0})
    assert policy.half_life == dt.timedelta(hours=1)
    assert policy == FrictionPolicy(half_life=H, moments={"complain": 2.0})
    t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
    journey = _with_friction(policy).start("j", at=t0)
    journey = journey.apply(Event("complain", at=t0)).journey
    assert journey.friction_at(t0 + H) == pytest.approx(1.0)
    assert FrictionPolicy(half_life=90.5).half_life == dt.timedelta(seconds=90.5)


@pytest.mark.parametrize(
    ("half_life", "match"),
    [
        ("1 day", r"FrictionPolicy half_life must be a datetime.timedelta or a number of seconds"),
        (0, "FrictionPolicy half_life must be a positive duration"),
        (-5, "FrictionPolicy half_life must be a positive duration"),
        (10**400, "FrictionPolicy half_life must be a finite number"),
        (1e300, "FrictionPolicy half_life is too long for a duration"),
        (True, "FrictionPolicy half_life must be a datetime.timedelta or a number of seconds"),
    ],
)
def test_bad_half_lives_are_clear_errors(half_life: object, match: str) -> None:
    with pytest.raises(CareKitError, match=match):
        FrictionPolicy(half_life=half_life)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("moments", "match"),
    [
        (None, r"FrictionPolicy moments must be a mapping of moment name to weight.*got None"),
        ([("late", 1.0)], r"FrictionPolicy moments must be a mapping .*got \[\('late', 1.0\)\]"),
        ({"x": "abc"}, r"FrictionPolicy moments\['x'\] must be a real number \(got 'abc'\)"),
        ({"x": 10**400}, r"FrictionPolicy moments\['x'\] must be a finite number"),
        ({"x": float("inf")}, r"FrictionPolicy moments\['x'\] must be a finite number"),
        ({"x": True}, r"FrictionPolicy moments\['x'\] must be a real number \(got True\)"),
        ({1: 1.0}, r"FrictionPolicy moments must be keyed by name \(got 1\)"),
        ({"": 1.0}, r"FrictionPolicy moments must be keyed by name \(got ''\)"),
    ],
)
def test_bad_moments_are_clear_errors(moments: object, match: str) -> None:
    # Regression: the converter ran first and raised ValueError, TypeError or OverflowError.
    with pytest.raises(CareKitError, match=match):
        FrictionPolicy(moments=moments)  # type: ignore[arg-type]


def test_moments_are_copied_as_floats() -> None:
    source = {"late_delivery": 3, "complaint": 0.5}
    policy = FrictionPolicy(moments=source)
    source["late_delivery"] = 9
    assert dict(policy.moments) == {"late_delivery": 3.0, "complaint": 0.5}
    assert all(type(w) is float for w in policy.moments.values())


@pytest.mark.parametrize("requires", [None, 5, 1.5])
def test_requires_must_be_iterable(requires: object) -> None:
    # Regression: TypeError ('NoneType' object is not iterable).
    with pytest.raises(
        CareKitError,
        match=rf"Transition requires must be a data key or an iterable of data keys.*"
        rf"\(got {requires!r}\)",
    ):
        Transition("e", "a", "b", requires=requires)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "kind"),
    [
        ("states", "State"),
        ("transitions", "Transition"),
        ("touchpoints", "Touchpoint"),
        ("deadlines", "Deadline"),
    ],
)
@pytest.mark.parametrize("value", [None, 5])
def test_parts_of_a_definition_must_be_iterable(field: str, kind: str, value: object) -> None:
    # Regression: TypeError ('NoneType' object is not iterable).
    with pytest.raises(
        CareKitError,
        match=rf"JourneyDefinition {field} must be an iterable of {kind} objects, "
        rf"such as a list \(got {value!r}\)",
    ):
        _simple(**{field: value})


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"friction": 5}, "friction must be a FrictionPolicy (got 5)"),
        ({"friction": None}, "friction must be a FrictionPolicy (got None)"),
        ({"initial": ["a"]}, "initial must be the name of a state (got ['a'])"),
        ({"initial": 5}, "initial must be the name of a state (got 5)"),
        ({"description": 5}, "description must be a string (got 5)"),
    ],
)
def test_wrongly_typed_options_are_definition_errors(
    overrides: dict[str, object], problem: str
) -> None:
    # Regression: friction=5 raised AttributeError, initial=["a"] TypeError (unhashable).
    with pytest.raises(DefinitionError) as info:
        _simple(**overrides)
    assert info.value.problems == (problem,)
