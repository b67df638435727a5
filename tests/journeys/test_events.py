"""Event: validation, read-only data, pickling."""

from __future__ import annotations

import datetime as dt
import json
import math
import pickle
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from carekit import CareKitError
from carekit.journeys import Event, events
from carekit.journeys.events import MAX_DEPTH, MAX_INT_DIGITS, MAX_VALUES

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)


def test_event_fields_and_defaults() -> None:
    e = Event("place", at=T0)
    assert (e.name, e.at, e.id, e.journey_id, dict(e.data)) == ("place", T0, None, None, {})


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(CareKitError, match="timezone-aware"):
        Event("place", at=dt.datetime(2026, 3, 2, 9, 0))


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"x": object()}, "JSON-able"),
        ({"x": math.nan}, "finite"),
        ({1: "a"}, "keys must be strings"),
        ({"sentiment": 2}, r"\[-1, 1\]"),
        ({"sentiment": "bad"}, "real number"),
        ({"moment": ""}, "bad moment"),
        ([("a", 1)], "mapping"),
    ],
)
def test_bad_data(data: object, match: str) -> None:
    with pytest.raises(CareKitError, match=match):
        Event("x", at=T0, data=data)  # type: ignore[arg-type]


def test_bad_names_and_ids() -> None:
    with pytest.raises(CareKitError, match="Event name"):
        Event("", at=T0)
    with pytest.raises(CareKitError, match="Event id"):
        Event("x", at=T0, id="")
    with pytest.raises(CareKitError, match="Event journey_id"):
        Event("x", at=T0, journey_id=7)  # type: ignore[arg-type]


def test_data_is_read_only_json_and_picklable() -> None:
    e = Event("ship", at=T0, id="e1", data={"tracking_number": "1Z", "items": [1, 2]})
    with pytest.raises(CareKitError, match="read-only"):
        e.data["tracking_number"] = "other"  # type: ignore[index]
    with pytest.raises(CareKitError, match="read-only"):
        e.data.update({"a": 1})
    assert json.loads(json.dumps(e.data)) == {"tracking_number": "1Z", "items": [1, 2]}
    again = pickle.loads(pickle.dumps(e))
    assert again == e
    assert hash(e) == hash(Event("ship", at=T0, id="e1", data={"other": 1}))


def _nested(levels: int, inner: object = 1) -> object:
    """``inner`` inside ``levels`` nested lists."""
    value = inner
    for _ in range(levels):
        value = [value]
    return value


TOO_DEEP = (
    r"Event data is nested too deeply or refers to itself "
    r"\(lists and mappings may nest at most 100 levels deep\)"
)


def test_data_that_refers_to_itself_is_refused() -> None:
    # Regression: RecursionError from the JSON check.
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(CareKitError, match=TOO_DEEP):
        Event("go", at=T0, data={"a": loop})
    mapping: dict[str, object] = {}
    mapping["self"] = mapping
    with pytest.raises(CareKitError, match=TOO_DEEP):
        Event("go", at=T0, data=mapping)


@pytest.mark.parametrize("levels", [150, 5000])
def test_deeply_nested_data_is_refused(levels: int) -> None:
    # Regression: 5000 nested lists raised RecursionError.
    with pytest.raises(CareKitError, match=TOO_DEEP):
        Event("go", at=T0, data={"a": _nested(levels)})
    deep_mapping: object = 1
    for _ in range(levels):
        deep_mapping = {"k": deep_mapping}
    with pytest.raises(CareKitError, match=TOO_DEEP):
        Event("go", at=T0, data={"a": deep_mapping})


def test_data_may_nest_exactly_max_depth_levels() -> None:
    # The data mapping is the first level: 99 more lists make MAX_DEPTH.
    assert MAX_DEPTH == 100
    e = Event("go", at=T0, data={"a": _nested(MAX_DEPTH - 1)})
    assert json.loads(json.dumps(e.data)) == {"a": _nested(MAX_DEPTH - 1)}
    with pytest.raises(CareKitError, match=TOO_DEEP):
        Event("go", at=T0, data={"a": _nested(MAX_DEPTH)})


def test_shared_lists_are_counted_every_time_they_appear(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 2 ** 60 values once expanded: checking (or writing it as JSON) would never end.
    assert MAX_VALUES == 1_000_000
    monkeypatch.setattr(events, "MAX_VALUES", 1000)  # the same rule, quicker to reach
    shared: list[object] = []
    for _ in range(60):
        shared = [shared, shared]
    with pytest.raises(
        CareKitError, match=r"Event data holds too many values \(at most 1,000 items"
    ):
        Event("go", at=T0, data={"a": shared})
    tags = ["vip", "repeat"]
    assert Event("go", at=T0, data={"a": tags, "b": tags}).data["b"] == tags
    # The data's own keys count too: 1 + 999 values fit, one more does not.
    assert len(Event("go", at=T0, data={"a": [0] * 999}).data["a"]) == 999
    with pytest.raises(CareKitError, match="too many values"):
        Event("go", at=T0, data={"a": [0] * 1000})


def test_ints_too_long_for_json_text_are_refused() -> None:
    # Regression: accepted here, then SQLiteJourneyStore.append raised ValueError.
    assert MAX_INT_DIGITS == 4300
    longest = 10**MAX_INT_DIGITS - 1
    assert Event("go", at=T0, data={"n": longest, "m": -longest}).data["n"] == longest
    for n in (10**MAX_INT_DIGITS, -(10**MAX_INT_DIGITS), 10**5000):
        with pytest.raises(
            CareKitError,
            match=r"Event data\['n'\] must be JSON-able; integers may have at most 4300 digits",
        ):
            Event("go", at=T0, data={"n": n})
    with pytest.raises(CareKitError, match=r"Event data\['a'\]\[1\]\['b'\] must be JSON-able"):
        Event("go", at=T0, data={"a": [1, {"b": 10**5000}]})


def test_event_data_holds_at_most_a_million_characters_of_text() -> None:
    # Regression (r17): a 600 MB string was accepted and written three times; above SQLite's
    # limit the stores disagreed. Every store now refuses the same events, at the Event.
    from carekit.journeys.events import MAX_TEXT

    at = dt.datetime(2026, 3, 2, 9, tzinfo=dt.timezone.utc)
    Event("note", at=at, data={"t": "x" * (MAX_TEXT - 1)})
    with pytest.raises(CareKitError, match="too much text"):
        Event("note", at=at, data={"t": "x" * MAX_TEXT})
    with pytest.raises(CareKitError, match="too much text"):
        Event("note", at=at, data={"k" * 600_000: "v" * 400_001})
    with pytest.raises(CareKitError, match="too much text"):
        Event("note", at=at, data={"parts": ["x" * 300_000] * 4})


def _by_validators(**fields: Any) -> Event:
    """An event made by the attrs-generated initialiser alone: every validator runs."""
    event = object.__new__(Event)
    event.__attrs_init__(**fields)
    return event


def _outcome(make: Any) -> Any:
    try:
        event = make()
    except CareKitError as exc:
        return type(exc), str(exc)
    return [(type(getattr(event, a.name)), getattr(event, a.name))
            for a in attrs.fields(Event)]


class _Moment(dt.datetime):
    """A datetime subclass: not the usual kind, so the validators see it."""


@given(
    name=st.one_of(st.text(max_size=3), st.none(), st.integers()),
    at=st.one_of(
        st.datetimes(timezones=st.none() | st.just(dt.timezone.utc)),
        st.just(_Moment(2026, 3, 2, tzinfo=dt.timezone.utc)),
        st.just(dt.date(2026, 3, 2)),
    ),
    eid=st.one_of(st.none(), st.text(max_size=3), st.integers()),
    journey_id=st.one_of(st.none(), st.text(max_size=3)),
    data=st.one_of(st.none(), st.just({}), st.just({"k": 1}), st.just(5)),
)
def test_an_event_is_what_its_validators_make(
    name: Any, at: Any, eid: Any, journey_id: Any, data: Any
) -> None:
    """The initialiser's direct path for usual events gives the fields (and the errors)
    the attrs-generated initialiser with every validator gives."""
    fields = {"name": name, "at": at, "id": eid, "journey_id": journey_id, "data": data}
    assert _outcome(lambda: Event(**fields)) == _outcome(lambda: _by_validators(**fields))
