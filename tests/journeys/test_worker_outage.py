"""Worker.run rides out a store that fails for a while (a database restarting)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

import pytest
from tests.journeys._store_helpers import T0

from carekit import StoreError, hookimpl
from carekit.journeys import MemoryJourneyStore, Worker, service_case_journey
from carekit.journeys import worker as worker_module
from carekit.testing import RecordingChannel, make_carekit


class _Flaky:
    """A store whose claims fail ``failures`` times before they work again."""

    def __init__(self, store: Any, failures: int) -> None:
        self._store = store
        self.failures = failures
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def claim_due(self, **arguments: Any) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            msg = "PostgreSQL journey store 'x' lost its connection (simulated)"
            raise StoreError(msg)
        return self._store.claim_due(**arguments)


def test_a_passing_store_outage_is_logged_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    # Whatever level an earlier test (a CLI run with --log-level error) left on the logger.
    caplog.set_level(logging.WARNING, logger="carekit")
    store = MemoryJourneyStore()
    store.create(service_case_journey(), "case-1", at=T0, channel="email")
    flaky = _Flaky(store, failures=2)
    stop = threading.Event()

    class Stopper(RecordingChannel):
        @hookimpl
        def carekit_deliver_touchpoint(
            self, touchpoint: Any, channel: Any, idempotency_key: str
        ) -> Any:
            result = super().carekit_deliver_touchpoint(touchpoint, channel, idempotency_key)
            stop.set()
            return result

    email = Stopper("email", register=False)
    worker = Worker(make_carekit(email), flaky, poll=dt.timedelta(milliseconds=10),
                    timeout=None)
    worker.run(stop=stop, clock=lambda: T0 + dt.timedelta(hours=1), max_passes=5)
    assert [d.idempotency_key for d in email.deliveries] == ["case-1/case_received/0"]
    assert flaky.calls == 3
    assert sum("the store failed, trying again" in r.message for r in caplog.records) == 2


def test_an_outage_longer_than_store_outage_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "STORE_OUTAGE", dt.timedelta(milliseconds=200))
    flaky = _Flaky(MemoryJourneyStore(), failures=10**6)
    worker = Worker(make_carekit(), flaky, poll=dt.timedelta(milliseconds=20))
    with pytest.raises(StoreError, match="simulated"):
        worker.run(clock=lambda: T0)
    assert flaky.calls > 2
