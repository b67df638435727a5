"""Edge cases of journeys, replay, dispatch, the SQLite store and ``carekit journey replay``.

Each test pins down a documented behaviour that a small slip in the code would break.
"""

from __future__ import annotations

import datetime as dt
import io
import pathlib
from typing import Any

import attrs
import pytest
from tests.journeys._store_helpers import HOUR, MINUTE, T0, make_store, ticket_journey

from carekit import InvalidTransition
from carekit.calendar import BusinessCalendar
from carekit.cli import main
from carekit.journeys import (
    ActiveDeadline,
    Deadline,
    Event,
    FrictionPolicy,
    JourneyDefinition,
    State,
    Touchpoint,
    Transition,
    dispatch,
    order_journey,
    replay,
)
from carekit.testing import RecordingChannel, make_carekit

UTC = dt.timezone.utc


def _run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(["journey", *argv], out=out)
    return status, out.getvalue()


def _applied(definition: JourneyDefinition, jid: str, events: list[Event], **start: Any) -> Any:
    journey = definition.start(jid, at=events[0].at, **start)
    for e in events:
        journey = journey.apply(e).journey
    return journey


# -- definition.py -------------------------------------------------------------------------


def test_replay_counts_a_calendar_deadline_in_business_hours_next_to_a_plain_touchpoint() -> None:
    # Replay agrees with apply when a step owes a calendar-free touchpoint and starts a
    # business-hours deadline: the deadline is not dated at + within.
    calendar = BusinessCalendar()  # Mon-Fri business hours
    definition = JourneyDefinition(
        name="callback",
        states=[State(name="new"), State(name="waiting"), State(name="done", final=True)],
        transitions=[
            Transition(event="ask", source="new", target="waiting"),
            Transition(event="call", source="waiting", target="done"),
        ],
        touchpoints=[Touchpoint(name="ack", on_enter="waiting", within=HOUR)],
        deadlines=[Deadline(state="waiting", within=HOUR, breach_event="late",
                            calendar=calendar)],
    )
    saturday = dt.datetime(2026, 3, 7, 10, tzinfo=UTC)
    events = [Event("ask", at=saturday, id="1", journey_id="j")]
    by_apply = _applied(definition, "j", events)
    [deadline] = by_apply.deadlines
    # Saturday is not a business day: one business hour lands on Monday (what the
    # calendar itself says), never Saturday 11:00.
    assert deadline.due == calendar.add_business_hours(saturday, HOUR)
    assert deadline.due != saturday + HOUR
    by_replay = replay(definition, events)["j"]
    assert by_replay.deadlines == by_apply.deadlines
    assert by_replay == by_apply  # replay promises apply's result, event by event


def test_replay_refuses_an_event_that_would_owe_past_the_year_9999() -> None:
    # A "within" that runs past the year 9999: replay must raise InvalidTransition like
    # apply, not return a journey whose .owed blows up with OverflowError when read.
    definition = JourneyDefinition(
        name="far",
        states=[State(name="a"), State(name="b", final=True)],
        transitions=[Transition(event="go", source="a", target="b")],
        touchpoints=[Touchpoint(name="much_later", on_enter="b",
                                within=dt.timedelta(days=4_000_000))],  # ~11,000 years
    )
    event = Event("go", at=T0, id="1", journey_id="j")
    with pytest.raises(InvalidTransition, match="year 9999"):
        definition.start("j", at=T0).apply(event)
    with pytest.raises(InvalidTransition, match="year 9999"):
        replay(definition, [event])


def test_an_unknown_moment_weighs_the_policys_default_weight() -> None:
    # An unlisted moment weighs the policy's default_weight. The docs:
    # "an unknown name weighs default_weight".
    policy = FrictionPolicy(default_weight=2.5)
    assert policy.from_data({"moment": "lost_parcel"}) == 2.5
    definition = attrs.evolve(ticket_journey(), friction=policy)
    journey = definition.start("t", at=T0)
    step = journey.apply(Event("note", at=T0, data={"moment": "lost_parcel"}))
    assert step.journey.friction == 2.5


# -- journey.py ----------------------------------------------------------------------------


def test_an_out_of_order_event_names_its_own_time_and_the_latest_one() -> None:
    # The message must say which event is late and when the journey last moved.
    journey = order_journey().start("o", at=T0).apply(Event("place", at=T0 + HOUR)).journey
    with pytest.raises(InvalidTransition) as caught:
        journey.apply(Event("acknowledge", at=T0))
    text = str(caught.value)
    assert "event 'acknowledge' at 2026-03-02T09:00:00+00:00 is older than" in text
    assert "latest event at 2026-03-02T10:00:00+00:00" in text


def test_a_disallowed_event_lists_the_allowed_ones_on_the_exception() -> None:
    # InvalidTransition.allowed lets a caller show or pick the valid events; it must match
    # the journey's allowed_events().
    journey = order_journey().start("o", at=T0)
    with pytest.raises(InvalidTransition) as caught:
        journey.apply(Event("ship", at=T0))
    assert caught.value.allowed == journey.allowed_events() == ("cancel", "place",
                                                                "promise_at_risk")
    with pytest.raises(InvalidTransition) as caught:
        replay(order_journey(), [Event("ship", at=T0, journey_id="o")])
    assert caught.value.allowed == ("cancel", "place", "promise_at_risk")


def test_a_touchpoints_own_channel_beats_the_customers_in_journey_owed() -> None:
    # In the records Journey.owed builds lazily too. OwedTouchpoint.channel: "the
    # touchpoint's own channel, else the customer's preferred one". ticket_closed names
    # channel="sms".
    events = [Event("close", at=T0, id="c", journey_id="t", data={"channel": "email"})]
    by_replay = replay(ticket_journey(), events)["t"]
    assert {tp.name: tp.channel for tp in by_replay.owed} == {
        "ticket_opened": "email", "ticket_closed": "sms"}
    # apply from a journey that owes nothing yet stores records the same way
    definition = JourneyDefinition(
        name="note_taker",
        states=[State(name="open"), State(name="closed", final=True)],
        transitions=[Transition(event="close", source="open", target="closed")],
        touchpoints=[Touchpoint(name="bye", on_enter="closed", within=HOUR, channel="sms")],
    )
    step = definition.start("n", at=T0, channel="email").apply(Event("close", at=T0))
    assert [tp.channel for tp in step.touchpoints] == ["sms"]
    assert [tp.channel for tp in step.journey.owed] == ["sms"]


# -- replay.py -----------------------------------------------------------------------------


def test_replay_continues_from_a_journey_of_an_equal_definition_object() -> None:
    # A journey loaded or unpickled elsewhere carries an equal but distinct definition;
    # the docs only refuse a *different* definition.
    start = order_journey().start("o", at=T0)
    events = [Event("place", at=T0 + MINUTE, id="1", journey_id="o")]
    result = replay(order_journey(), events, starts={"o": start})
    assert result["o"] == start.apply(events[0]).journey


def test_replay_clears_a_hand_set_deadline_when_the_journey_moves_on() -> None:
    # A journey carrying deadlines its state does not define (set by an older
    # definition, say): replay must give what apply gives, and apply clears every running
    # deadline on leaving the state.
    definition = order_journey()
    journey = definition.start("o", at=T0)
    for e in (Event("place", at=T0), Event("acknowledge", at=T0)):
        journey = journey.apply(e).journey
    stale = ActiveDeadline(journey_id="o", state="acknowledged", breach_event="too_slow",
                           due=T0 + HOUR, version=journey.version)
    journey = attrs.evolve(journey, deadlines=(stale,))
    event = Event("start_production", at=T0 + MINUTE, id="3", journey_id="o")
    expected = journey.apply(event)
    assert expected.deadlines_cleared == (stale,) and expected.journey.deadlines == ()
    result = replay(definition, [event], starts={"o": journey})["o"]
    assert result.deadlines == ()
    assert result == expected.journey


# -- dispatch.py / stores ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_fourth_retry_waits_eight_backoffs_not_max_backoff(
    kind: str, tmp_path: pathlib.Path
) -> None:
    # The documented backoff is backoff * 2 ** (attempt - 1), at most max_backoff
    # (default 6 h): 1, 2, 4, 8, 16 min.
    store = make_store(kind, tmp_path)
    email = RecordingChannel("email", register=False, fail_times=5)
    kit = make_carekit(email)
    store.create(order_journey(), "o", at=T0, channel="email")
    store.append("o", [Event("place", at=T0), Event("acknowledge", at=T0)])
    now = T0 + MINUTE
    waits = []
    for _ in range(5):
        [failed] = dispatch(kit, store, now=now, backoff=MINUTE, max_attempts=10).failed
        assert failed.retry_at is not None
        waits.append(failed.retry_at - now)
        now = failed.retry_at
    assert waits == [MINUTE, 2 * MINUTE, 4 * MINUTE, 8 * MINUTE, 16 * MINUTE]
    store.close()


# -- _cli.py (carekit journey replay) ------------------------------------------------------

HEADER = "journey_id,event,at,id\n"


def _replay_rows(tmp_path: pathlib.Path, rows: str, *options: str) -> tuple[int, str]:
    """``carekit journey replay`` on a CSV of ``rows`` (after the header)."""
    csv = tmp_path / "e.csv"
    csv.write_text(HEADER + rows, encoding="utf-8")
    return _run_cli("replay", str(csv), *options)


def test_a_delivery_at_the_moment_it_was_owed_counts(tmp_path: pathlib.Path) -> None:
    # A touchpoint delivered in the same instant it became owed (an instant
    # confirmation) was delivered "by then".
    status, text = _replay_rows(tmp_path, (
        "o1,place,2026-03-02T09:00:00+00:00,1\n"
        "o1,acknowledge,2026-03-02T09:10:00+00:00,2\n"
        "o1,delivered:order_thanks,2026-03-02T09:10:00+00:00,\n"
    ))
    assert status == 0, text
    assert "touchpoints delivered: 1 (0 after their due time)" in text


def test_a_delivery_marks_the_latest_touchpoint_of_that_name(tmp_path: pathlib.Path) -> None:
    # replay_csv's docstring: a delivered: row marks "the journey's latest touchpoint of that name
    # owed by then". Two notices are owed (09:05, due 10:05; 09:30, due 10:30); the 09:40 delivery
    # settles the 09:30 one, so the one still overdue at noon is due 10:05.
    status, text = _replay_rows(tmp_path, (
        "o1,place,2026-03-02T09:00:00+00:00,1\n"
        "o1,promise_at_risk,2026-03-02T09:05:00+00:00,2\n"
        "o1,promise_at_risk,2026-03-02T09:30:00+00:00,3\n"
        "o1,delivered:promise_at_risk_notice,2026-03-02T09:40:00+00:00,\n"
    ), "--now", "2026-03-02T12:00:00+00:00")
    assert status == 0, text
    notices = [line for line in text.splitlines() if "promise_at_risk_notice" in line]
    assert len(notices) == 1
    assert "due 2026-03-02T10:05:00+00:00" in notices[0]


def test_a_delivery_exactly_at_its_due_time_is_not_late(tmp_path: pathlib.Path) -> None:
    # Due means "must be delivered by"; the journey itself only calls a touchpoint
    # overdue when due < now.
    status, text = _replay_rows(tmp_path, (
        "o1,place,2026-03-02T09:00:00+00:00,1\n"
        "o1,acknowledge,2026-03-02T09:10:00+00:00,2\n"       # order_thanks due 10:10
        "o1,delivered:order_thanks,2026-03-02T10:10:00+00:00,\n"
    ))
    assert status == 0, text
    assert "touchpoints delivered: 1 (0 after their due time)" in text


def test_without_now_overdue_is_judged_at_the_latest_row_delivery_rows_included(
    tmp_path: pathlib.Path,
) -> None:
    # The report's default now is the latest time in the log; o2's acknowledgement deadline (10:00)
    # has passed by the 11:00 delivery row.
    status, text = _replay_rows(tmp_path, (
        "o1,place,2026-03-02T09:00:00+00:00,1\n"
        "o1,acknowledge,2026-03-02T09:10:00+00:00,2\n"
        "o2,place,2026-03-02T09:00:00+00:00,3\n"
        "o1,delivered:order_thanks,2026-03-02T11:00:00+00:00,\n"
    ))
    assert status == 0, text
    assert "overdue as of 2026-03-02T11:00:00+00:00: 1" in text
    assert "acknowledgement_overdue" in text


def test_problems_are_listed_in_line_order(tmp_path: pathlib.Path) -> None:
    # "Malformed rows and rejected events are listed by line". The rejected event on line 2 is
    # found after the parse error on line 3.
    status, text = _replay_rows(tmp_path, (
        "o1,acknowledge,2026-03-02T09:00:00+00:00,1\n"
        "o2,place,not-a-date,2\n"
        "o3,place,2026-03-02T09:00:00+00:00,3\n"
    ))
    assert status == 1
    problems = [line.strip() for line in text.splitlines() if line.strip().startswith("line ")]
    assert [p.split(":", 1)[0] for p in problems] == ["line 2", "line 3"]
