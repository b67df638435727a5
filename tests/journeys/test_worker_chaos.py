"""What a chaos run of the worker found: each test pins one defect it showed."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from tests.journeys._store_helpers import T0

from carekit.journeys import Event, SQLiteJourneyStore, Worker, order_journey
from carekit.promises import Promise
from carekit.testing import RecordingChannel, make_carekit


def _promise(day: dt.date) -> dict[str, object]:
    return Promise(ordered_at=T0, expected=day, promised=day, padding=0,
                   confidence=0.9).to_dict()


def test_a_promise_found_at_risk_carried_again_is_not_fired_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # An order whose promise was found at risk; a later event carries the same promise
    # again (an app that copies it onto every event). promise_at_risk is applied once per
    # promised date, so the worker neither counts nor logs a second one.
    caplog.set_level(logging.INFO, logger="carekit.worker")
    store = SQLiteJourneyStore(":memory:")
    store.create(order_journey(), "o1", at=T0, channel="email")
    late = _promise(dt.date(2026, 3, 3))
    store.append("o1", Event("place", at=T0, id="p", data={"promise": late}))
    worker = Worker(make_carekit(RecordingChannel("email", register=False)), store)
    now = T0 + dt.timedelta(days=3)
    first = worker.run_once(now)
    assert sorted(t.kind for t in first.timers) == ["deadline", "promise"]
    store.append("o1", Event("acknowledge", at=now, id="a", data={"promise": late}))
    caplog.clear()
    again = worker.run_once(now + dt.timedelta(minutes=1))
    assert again.fired == 0
    assert not any("promise_at_risk" in r.getMessage() for r in caplog.records
                   if r.getMessage().startswith("fired"))
    assert [e.name for e in store.events("o1")].count("promise_at_risk") == 1
    store.close()
