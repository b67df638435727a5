"""How the SQL stores write a journey's state as text: the direct paths against json's own.

``encode_body`` writes the usual values (a finite float, str names, int versions) without
:func:`json.dumps`, and ``decode_body`` reads them without :func:`json.loads`; the texts and
values must be exactly those of the json module (the reference here), so rows written
before and after read alike.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import pathlib
import sqlite3
import zoneinfo
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.journeys._store_helpers import HOUR, MINUTE, T0, ticket_journey

from carekit import CareKitError, StoreError
from carekit.journeys import (
    ActiveDeadline,
    AttemptOutcome,
    Event,
    SQLiteJourneyStore,
    order_journey,
)
from carekit.journeys.stores import _timers
from carekit.journeys.stores._codec import decode_body, encode_body, encode_data, encode_dt


def reference_body(friction: Any, deadlines: Any) -> str:
    """What the stores wrote before: json.dumps of the body (the format's definition)."""
    return json.dumps(
        {"f": friction,
         "d": [[d.breach_event, d.state, encode_dt(d.due), d.version] for d in deadlines]},
        separators=(",", ":"),
    )


def reference_decode(text: str, journey_id: str) -> tuple[float, tuple[Any, ...]]:
    body = json.loads(text)
    return float(body["f"]), tuple(
        ActiveDeadline(journey_id=journey_id, state=state, breach_event=breach,
                       due=dt.datetime.fromisoformat(due), version=version)
        for breach, state, due, version in body["d"]
    )


names = st.text(max_size=12)  # any text: quotes, backslashes, non-ASCII, lone surrogates
deadlines = st.lists(
    st.builds(
        ActiveDeadline,
        journey_id=st.just("j-1"),
        state=names,
        breach_event=names,
        due=st.datetimes(timezones=st.just(dt.timezone.utc)),
        version=st.integers(min_value=0, max_value=10**20) | st.booleans(),
    ),
    max_size=3,
).map(tuple)
frictions = st.floats() | st.integers(min_value=-(10**20), max_value=10**20)


@given(frictions, deadlines)
@settings(max_examples=300, deadline=None)
def test_the_body_is_the_text_json_writes(friction: Any, running: Any) -> None:
    assert encode_body(friction, running) == reference_body(friction, running)


@given(st.floats(allow_nan=False, allow_infinity=False), deadlines)
@settings(max_examples=200, deadline=None)
def test_a_body_reads_back_as_json_reads_it(friction: float, running: Any) -> None:
    text = encode_body(friction, running)
    assert decode_body(text, "j-1") == reference_decode(text, "j-1")
    padded = f" \n{text}\t "  # a hand-edited row json.loads accepted
    assert decode_body(padded, "j-1") == reference_decode(padded, "j-1")


def _outcome(decode: Any, text: str) -> Any:
    try:
        return decode(text, "j-1")
    except (ValueError, TypeError, KeyError) as exc:
        return type(exc)


@pytest.mark.parametrize("text", [
    '{"f":0.0,"d":[]}x', '{"f":0.0,"d":[]} {}', "", "[]", '{"f":"x","d":[]}',
    '{"f":0.0,"d":[[1,2]]}', '{"f":0.0}', '{"d":[]}', '{"f":0.0,"d":0}', '{"f":0.0,"d":null}',
    '{"f":0.0,"d":false}', '{"f":0.0,"d":""}', '{"f":0.0,"d":{}}', '{"f":1,"d":[]}',
    '{"f":0.0,"d":"ab"}',
])
def test_an_odd_body_reads_as_json_reads_it(text: str) -> None:
    """Hand-edited rows: refused (the same error) or read (the same value) as before."""
    assert _outcome(decode_body, text) == _outcome(reference_decode, text)


def test_a_time_encoded_twice_in_a_row_keeps_its_own_zone() -> None:
    london = T0.astimezone(zoneinfo.ZoneInfo("Europe/London"))
    plus_two = T0.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert T0 == london == plus_two  # the same instant: only the object tells them apart
    text = {id(T0): T0.isoformat(), id(london): london.isoformat() + "[Europe/London]",
            id(plus_two): plus_two.isoformat()}
    order = (T0, T0, london, london, plus_two, T0, london, T0, london, plus_two, plus_two,
             london)
    assert [encode_dt(x) for x in order] == [text[id(x)] for x in order]
    assert len(set(text.values())) == 3


def _copy(store: SQLiteJourneyStore, name: str) -> pathlib.Path:
    """A copy of the store's file as it is now (its write-ahead log included)."""
    target = pathlib.Path(store.path).with_name(name)
    with contextlib.closing(sqlite3.connect(target)) as copy:
        store._conn.backup(copy)
    return target


def test_an_append_outside_the_cache_returns_what_one_inside_it_does(
    tmp_path: pathlib.Path,
) -> None:
    """A store that has the journey cached and a new one that reads it from its rows give
    the same journey: owed and dead touchpoints, deadlines, friction, every event id."""
    path = tmp_path / "a.db"
    with SQLiteJourneyStore(path, definitions=[ticket_journey()]) as store:
        store.create("ticket", "t-1", at=T0, channel="email", customer_id="c-1",
                     tz="Europe/London")
        notes = [Event("note", at=T0 + i * MINUTE, id=f"n{i}") for i in range(30)]
        store.append("t-1", notes)
        store.append("t-1", Event("nudge", at=T0 + HOUR, id="nudge-1"))
        claimed = store.claim_due(now=T0 + 2 * HOUR, limit=10, lease=MINUTE, claimant="w")
        dead = next(c for c in claimed if c.touchpoint.name == "ticket_opened")
        store.record([AttemptOutcome(claimed=dead, status="dead", at=T0 + 2 * HOUR,
                                     error="no address")])
        warm_before = store.load("t-1")
        event = Event("nudge", at=T0 + 3 * HOUR, id="nudge-2")
        cold_path = _copy(store, "b.db")
        warm = store.append("t-1", event)
        again = store.append("t-1", [Event("note", at=T0 + 4 * HOUR, id="n3"), event])
    with SQLiteJourneyStore(cold_path, definitions=[ticket_journey()]) as fresh:
        cold = fresh.append("t-1", event)  # nothing cached: built from the rows
        cold_again = fresh.append("t-1", [Event("note", at=T0 + 4 * HOUR, id="n3"), event])
    reference = warm_before.apply(event).journey  # in memory, no store involved
    for journey in (warm, cold):
        assert journey == reference
        assert list(journey.seen_event_ids) == [f"n{i}" for i in range(30)] + [
            "nudge-1", "nudge-2"]
        assert [d.touchpoint.name for d in journey.dead] == ["ticket_opened"]
        assert [t.name for t in journey.owed] == ["nudge_reply", "nudge_reply"]
    assert again == cold_again == reference  # repeated ids: nothing new, on either path


def test_a_damaged_body_met_by_an_append_names_the_row(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "a.db"
    with SQLiteJourneyStore(path) as store:
        store.create(order_journey(), "o-1", at=T0)
        store._conn.execute("UPDATE journeys SET body = '{\"f\":0.0}'")
    with SQLiteJourneyStore(path) as store, pytest.raises(
        StoreError, match=r"the journeys row 'o-1' is damaged: KeyError"
    ):
        store.append("o-1", Event("place", at=T0))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                 max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(st.text(max_size=5), json_values, max_size=4))
@settings(max_examples=200, deadline=None)
def test_event_data_is_the_text_json_dumps_writes(data: dict[str, Any]) -> None:
    try:
        expected: str | None = json.dumps(data, sort_keys=True, separators=(",", ":"),
                                          allow_nan=False)
    except ValueError:  # NaN or an infinity: refused
        with pytest.raises(CareKitError, match="JSON-able"):
            encode_data(data, "Event data")
        return
    assert encode_data(data, "Event data") == expected


def test_a_breach_event_is_the_event_its_deadline_describes() -> None:
    journey = order_journey().start("o-1", at=T0).apply(Event("place", at=T0)).journey
    (deadline,) = journey.deadlines
    now = T0 + 2 * HOUR
    event = _timers.breach_event(deadline, journey, now)
    assert event == Event(deadline.breach_event, at=now, id=deadline.idempotency_key,
                          journey_id="o-1",
                          data={"due": deadline.due.isoformat(), "deadline_state": "placed"})
    assert list(event.data.items()) == [("due", deadline.due.isoformat()),
                                        ("deadline_state", "placed")]
    with pytest.raises(CareKitError, match="read-only"):
        event.data["due"] = "later"  # type: ignore[index]


def reference_changes(before: Any, after: Any) -> tuple[list[str], list[Any]]:
    """The timer changes as the stores computed them before (two dicts, every case)."""
    old = {d.idempotency_key: d for d in before.deadlines}
    new = {d.idempotency_key: d for d in after.deadlines}
    return [k for k in old if k not in new], [d for k, d in new.items() if k not in old]


@given(deadlines, deadlines)
@settings(max_examples=200, deadline=None)
def test_the_timer_changes_are_those_of_both_deadline_sets(before: Any, after: Any) -> None:
    a, b = (order_journey().start("j-1", at=T0) for _ in range(2))
    a, b = (attrs.evolve(j, deadlines=d) for j, d in ((a, before), (b, after)))
    assert _timers.deadline_changes(a, b) == reference_changes(a, b)
    assert _timers.deadline_changes(b, a) == reference_changes(b, a)


#: Event ids as users may pick them: any text SQLite can keep (no lone surrogates), with the
#: characters the store's listing of ids separates on, NUL and non-ASCII among them.
event_ids = st.lists(
    st.text(st.characters(blacklist_categories=("Cs",)) | st.sampled_from(",:\x00é😀"),
            min_size=1, max_size=8),
    min_size=1, max_size=6, unique=True,
)


def _stored_ids(path: pathlib.Path) -> list[str]:
    """The journey's event ids as a plain query reads them, in the order applied."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [r[0] for r in conn.execute(
            "SELECT event_id FROM events WHERE journey_id = 't-1' AND event_id IS NOT NULL"
            " ORDER BY seq"
        )]


@pytest.mark.parametrize("encoding", ["UTF-8", "UTF-16le", "UTF-16be"])
@given(ids=event_ids)
@settings(max_examples=25, deadline=None)
def test_a_journey_read_from_its_rows_has_every_event_id_in_order(
    tmp_path_factory: pytest.TempPathFactory, encoding: str, ids: list[str]
) -> None:
    """Whatever characters event ids hold and however the file keeps text, a journey the
    store reads from its rows (loaded, or appended to uncached) has the ids it applied,
    in order, and a repeated one is still a no-op."""
    path = tmp_path_factory.mktemp("ids") / "a.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:  # a file keeping text so
        conn.execute(f"PRAGMA encoding = '{encoding}'")
        conn.execute("CREATE TABLE t (a)")
        conn.execute("DROP TABLE t")
    with SQLiteJourneyStore(path, definitions=[ticket_journey()]) as store:
        store.create("ticket", "t-1", at=T0, channel="email")
        for eid in reversed(ids):  # seq order differs from the ids' own order
            store.append("t-1", Event("note", at=T0, id=eid))
    expected = list(reversed(ids))
    assert _stored_ids(path) == expected
    with SQLiteJourneyStore(path, definitions=[ticket_journey()]) as store:
        assert list(store.load("t-1").seen_event_ids) == expected
    with SQLiteJourneyStore(path, definitions=[ticket_journey()]) as store:
        again = store.append("t-1", Event("note", at=T0, id=ids[0]))  # not cached
        assert list(again.seen_event_ids) == expected
        assert again.version == len(ids)
