"""The asyncio worker under failures: a store going away, kills, stops (one test per defect)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.journeys._store_helpers import HOUR, T0
from tests.journeys.test_aio import AsyncChannel, _orders, _orders_from

from carekit import StoreError
from carekit.journeys import aio
from carekit.testing import make_carekit


class _Down(aio.ThreadedStore):
    """A store whose database went away: recording an outcome fails; giving back works."""

    async def record(self, outcomes: Any, **options: Any) -> frozenset[str]:
        if any(o.status != "release" for o in outcomes):
            raise StoreError("connection lost")
        held: frozenset[str] = await super().record(outcomes, **options)
        return held


def test_a_failed_record_starts_no_more_deliveries_on_the_channel() -> None:
    # Regression: when recording an outcome failed (the database went away), the channel
    # slot it freed went to the next touchpoint before the worker noted the failure, so one
    # more message per channel went out whose outcome could not be recorded either, and it
    # was sent again by the worker that took its claim over after the lease.
    plugin = AsyncChannel(delay=0.01)

    async def main() -> Any:
        store = await aio.open_store("memory://")
        await _orders(store, 3, channel="push")
        a = aio.Worker(make_carekit(plugin), _Down(store.store), concurrency=1, claimant="a")
        with pytest.raises(StoreError, match="connection lost"):
            await a.run_once(T0 + HOUR)
        sent_by_a = list(plugin.keys)
        b = aio.Worker(make_carekit(plugin), store, claimant="b")
        report = await b.run_once(T0 + HOUR)  # at once: the claims a gave back
        return sent_by_a, report.sent

    sent_by_a, sent_by_b = asyncio.run(main())
    assert sent_by_a == ["o-0/order_thanks/2"]
    assert sent_by_b == 2  # o-0 keeps its claim until the lease ends, as after a crash


class _Unreachable(aio.ThreadedStore):
    """A store whose database stops answering after the claim: each call waits, then fails."""

    def __init__(self, store: Any) -> None:
        super().__init__(store)
        self.down = False
        self.calls = 0

    async def claim_due(self, **options: Any) -> Any:
        claimed = await super().claim_due(**options)
        self.down = True
        return claimed

    async def record(self, outcomes: Any, **options: Any) -> frozenset[str]:
        if self.down:
            self.calls += 1
            await asyncio.sleep(0.05)  # the pool's timeout
            raise StoreError("could not get a connection")
        held: frozenset[str] = await super().record(outcomes, **options)
        return held


def test_outcomes_in_flight_when_the_store_fails_are_recorded_in_one_call() -> None:
    # Regression: once the store had failed, each delivery still in flight waited for a
    # store timeout of its own to record its outcome, one after the other: a worker
    # stopped (SIGTERM) during a database outage took that many pool timeouts to exit.
    # Now they are recorded with the claims given back, in one call.
    plugin = AsyncChannel(delay=0.05)

    async def main() -> Any:
        store = await aio.open_store("memory://")
        await _orders(store, 8, channel="push")
        down = _Unreachable(store.store)
        worker = aio.Worker(make_carekit(plugin), down, concurrency=4, batch_size=8)
        with pytest.raises(StoreError, match="could not get a connection"):
            await worker.run_once(T0 + HOUR)
        return down.calls

    calls = asyncio.run(main())
    assert len(plugin.keys) == 4  # the four in flight; none started after the failure
    assert calls == 2  # the first outcome's record; then the rest with the claims given back


def test_a_worker_run_again_under_another_event_loop_waits_for_its_channel_slots() -> None:
    # Regression: the per-channel semaphores were kept across event loops, and one that a
    # delivery had waited on belonged to its first loop: a second asyncio.run of the same
    # worker failed with "is bound to a different event loop" once a channel was busy.
    plugin = AsyncChannel(delay=0.01)
    store = aio.open_store("memory://")
    worker = aio.Worker(make_carekit(plugin), store, concurrency=1)

    async def one_pass(start: int) -> int:
        await _orders_from(store, start, start + 3, "push")
        report = await worker.run_once(T0 + HOUR)
        return report.sent

    assert asyncio.run(one_pass(0)) == 3
    assert asyncio.run(one_pass(3)) == 3
    asyncio.run(store.close())
