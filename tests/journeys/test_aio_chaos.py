"""The asyncio worker under failures: a store going away, kills, stops (one test per defect)."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import sqlite3
import sys
from typing import Any

import pytest
from tests.journeys._store_helpers import HOUR, T0
from tests.journeys.test_aio import AsyncChannel, _orders, _orders_from

from carekit import StoreError, hookimpl
from carekit.channels import Channel, DeliveryResult
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


class _Lapses:
    """A coroutine plugin on ``push`` whose first delivery of ``o-1`` outlives its claim.

    As a store stalled for longer than the lease (a short outage, a long lock) lets it
    lapse: the claim is expired in the SQLite file while that delivery runs.
    """

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self.calls: list[str] = []

    @hookimpl
    def carekit_register_channels(self) -> list[Channel]:
        return [Channel("push")]

    @hookimpl
    async def carekit_deliver_touchpoint(
        self, touchpoint: Any, channel: Channel, idempotency_key: str
    ) -> DeliveryResult | None:
        if channel.name != "push":
            return None
        self.calls.append(idempotency_key)
        if touchpoint.journey_id == "o-1" and self.calls.count(idempotency_key) == 1:
            with contextlib.closing(sqlite3.connect(self.path)) as conn, conn:
                conn.execute("UPDATE outbox SET claim_until_us = 1 WHERE idempotency_key = ?",
                             (idempotency_key,))
            await asyncio.sleep(0.3)
        else:
            await asyncio.sleep(0.02)
        return DeliveryResult(reference=idempotency_key)


def test_a_claim_that_lapsed_in_flight_is_not_claimed_again_into_a_second_delivery(
    tmp_path: pathlib.Path,
) -> None:
    # Regression: when a claim in hand lapsed (the store stalled for longer than the lease)
    # and the worker's next claim took the same touchpoint again, it started a second
    # delivery of it beside the one still running: a single worker sent the message twice.
    path = tmp_path / "lapse.db"
    plugin = _Lapses(path)

    async def main() -> Any:
        store = await aio.open_store(f"sqlite:///{path}")
        await _orders(store, 2, channel="push")
        worker = aio.Worker(make_carekit(plugin), store, concurrency=2, batch_size=2)
        report = await worker.run_once(T0 + HOUR)
        counts = await store.outbox_counts()
        await store.close()
        return report, counts

    report, counts = asyncio.run(main())
    assert sorted(plugin.calls) == ["o-0/order_thanks/2", "o-1/order_thanks/2"]
    assert (report.sent, counts["sent"]) == (2, 2)


def _cancelled_for_o_0(touchpoint: Any) -> DeliveryResult:
    if touchpoint.journey_id == "o-0":
        raise asyncio.CancelledError  # a client closed under it, say
    return DeliveryResult(reference="r")


class _RaisesCancelledAsync:
    """A coroutine plugin on ``push`` that raises CancelledError itself for ``o-0``."""

    @hookimpl
    def carekit_register_channels(self) -> list[Channel]:
        return [Channel("push")]

    @hookimpl
    async def carekit_deliver_touchpoint(
        self, touchpoint: Any, channel: Channel, idempotency_key: str
    ) -> DeliveryResult | None:
        await asyncio.sleep(0)
        return _cancelled_for_o_0(touchpoint) if channel.name == "push" else None


class _RaisesCancelledBlocking(_RaisesCancelledAsync):
    """The same as a blocking plugin."""

    @hookimpl
    def carekit_deliver_touchpoint(  # type: ignore[override]
        self, touchpoint: Any, channel: Channel, idempotency_key: str
    ) -> DeliveryResult | None:
        return _cancelled_for_o_0(touchpoint) if channel.name == "push" else None


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Task.cancelling() is new in 3.11")
@pytest.mark.parametrize("plugin", [_RaisesCancelledAsync, _RaisesCancelledBlocking])
def test_a_plugin_that_raises_cancelled_error_fails_its_attempt(plugin: type) -> None:
    # Regression: a plugin's own CancelledError was taken for the worker being cancelled:
    # the attempt was recorded as "interrupted", left out of the report, the counters and
    # the log, and never counted towards max_attempts, so it was retried for ever.
    async def main() -> Any:
        store = await aio.open_store("memory://")
        await _orders(store, 3, channel="push")
        worker = aio.Worker(make_carekit(plugin()), store, max_attempts=1)
        report = await worker.run_once(T0 + HOUR)
        return report, await store.outbox_counts()

    report, counts = asyncio.run(main())
    assert (report.sent, report.dead) == (2, 1)
    assert [a.error for a in report.attempts if a.outcome == "dead"] == [
        "gave up after 1 attempt(s): plugin "
        f"{plugin.__name__!r} raised CancelledError: "
    ]
    assert (counts["sent"], counts["dead"]) == (2, 1)
