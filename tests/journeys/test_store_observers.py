"""Observers that raise while a store appends are reported on the log, never lost."""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from tests.journeys._store_helpers import STORE_KINDS, T0, make_store

from carekit import ConcurrencyError, InvalidTransition, hookimpl
from carekit.journeys import Event, order_journey
from carekit.testing import make_carekit


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Any]:
    s = make_store(request.param, tmp_path)
    yield s
    s.close()


def test_a_raising_observer_is_logged_and_the_events_are_kept(
    store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Analytics:
        @hookimpl
        def carekit_on_transition(self, journey: Any, transition: Any) -> None:
            raise RuntimeError("analytics is down")

    kit = make_carekit(Analytics())
    store.create(order_journey(), "o-1", at=T0, channel="email")
    with caplog.at_level(logging.WARNING, logger="carekit.journeys"):
        journey = store.append("o-1", [Event("place", at=T0, id="e1")], kit=kit)
    assert journey.state == "placed"
    assert store.load("o-1").version == 1
    [record] = [r for r in caplog.records if r.name == "carekit.journeys"]
    assert "'Analytics'" in record.getMessage()
    assert "'o-1'" in record.getMessage() and "'place'" in record.getMessage()
    assert record.exc_info is not None and "analytics is down" in str(record.exc_info[1])


class Spy:
    """Records every observer and recovery call a store makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    @hookimpl
    def carekit_on_transition(self, journey: Any, transition: Any) -> None:
        self.calls.append(("observed", transition.event))

    @hookimpl
    def carekit_recovery_action(self, journey: Any, friction: float) -> list[Any]:
        self.calls.append(("recovery", journey.state))
        return []


def test_a_refused_batch_calls_no_plugin(store: Any) -> None:
    # `place` alone would be kept and cross the friction threshold; `ship` is refused, so
    # the batch is not kept: no plugin may have seen `place` (an observer told of it would
    # be told again when the app retries).
    spy = Spy()
    kit = make_carekit(spy)
    store.create(order_journey(), "o-1", at=T0, channel="email")
    bad = {"moment": "damaged_item", "sentiment": -1}
    with pytest.raises(InvalidTransition, match="ship"):
        store.append("o-1", [Event("place", at=T0, data=bad), Event("ship", at=T0)], kit=kit)
    assert spy.calls == []
    assert store.load("o-1").version == 0
    journey = store.append("o-1", [Event("place", at=T0, data=bad)], kit=kit)
    assert journey.version == 1
    assert spy.calls == [("recovery", "placed"), ("observed", "place")]


def test_observers_hear_of_a_batch_only_once_it_is_kept(store: Any) -> None:
    spy = Spy()
    kit = make_carekit(spy)
    store.create(order_journey(), "o-1", at=T0, channel="email")
    with pytest.raises(ConcurrencyError):
        store.append("o-1", [Event("place", at=T0)], expected_version=3, kit=kit)
    assert spy.calls == []

    class Watcher:
        """Reads the store from inside the observer: the batch must already be there."""

        def __init__(self) -> None:
            self.versions: list[int] = []

        @hookimpl
        def carekit_on_transition(self, journey: Any, transition: Any) -> None:
            self.versions.append(store.load("o-1").version)

    watcher = Watcher()
    events = [Event("place", at=T0, id="e1"), Event("acknowledge", at=T0, id="e2")]
    store.append("o-1", events, kit=make_carekit(spy, watcher))
    assert spy.calls == [("observed", "place"), ("observed", "acknowledge")]
    assert watcher.versions == [2, 2]
    store.append("o-1", events, kit=make_carekit(spy))  # ids seen: nothing new to tell
    assert len(spy.calls) == 2
