"""carekit from asyncio: the threaded store wrapper and the asyncio worker."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import pathlib
import signal
import threading
import time
from typing import Any

import pytest
from tests.journeys._postgres import with_schema
from tests.journeys._store_helpers import HOUR, MINUTE, T0

from carekit import CareKitError, StoreError, hookimpl
from carekit.channels import Channel, DeliveryResult
from carekit.journeys import Event, SQLiteJourneyStore, aio, order_journey
from carekit.testing import RecordingChannel, make_carekit

SECOND = dt.timedelta(seconds=1)


async def _orders(store: Any, n: int, channel: str = "email") -> None:
    for i in range(n):
        await store.create(order_journey(), f"o-{i}", at=T0 + i * SECOND, channel=channel)
        await store.append(f"o-{i}", [Event("place", at=T0 + i * SECOND, id=f"p{i}"),
                                      Event("acknowledge", at=T0 + i * SECOND, id=f"a{i}")])


class AsyncChannel:
    """A coroutine plugin on ``push``: waits ``delay`` seconds; tracks concurrency."""

    def __init__(self, delay: float = 0.02, *, hang_for: str | None = None) -> None:
        self.delay = delay
        self.hang_for = hang_for
        self.running = 0
        self.most = 0
        self.keys: list[str] = []

    @hookimpl
    def carekit_register_channels(self) -> list[Channel]:
        return [Channel("push")]

    @hookimpl
    async def carekit_deliver_touchpoint(
        self, touchpoint: Any, channel: Channel, idempotency_key: str
    ) -> DeliveryResult | None:
        if channel.name != "push":
            return None
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(60 if touchpoint.journey_id == self.hang_for else self.delay)
        finally:
            self.running -= 1
        self.keys.append(idempotency_key)
        return DeliveryResult(reference=idempotency_key)


def test_open_store_gives_coroutines_for_sqlite_and_memory(tmp_path: pathlib.Path) -> None:
    async def main() -> None:
        for url in ("memory://", f"sqlite:///{tmp_path / 'a.db'}"):
            store = await aio.open_store(url)
            assert isinstance(store, aio.ThreadedStore)
            await _orders(store, 3)
            assert (await store.load("o-1")).state == "acknowledged"
            assert [j.journey_id for j in await store.load_many()] == ["o-0", "o-1", "o-2"]
            assert len(await store.journeys(state="acknowledged")) == 3
            assert [e.name for e in await store.events("o-0")] == ["place", "acknowledge"]
            assert (await store.outbox_counts())["pending"] == 3
            assert len(await store.outbox("o-2")) == 1
            again = await store.create(order_journey(), "o-0", at=T0, exist_ok=True)
            assert again.version == 2
            await store.close()
        plain = aio.open_store("memory://")  # without await, usable at once
        await plain.create(order_journey(), "o-9", at=T0)
        assert (await plain.load("o-9")).version == 0

    asyncio.run(main())
    with pytest.raises(CareKitError, match="journey store"):
        aio.ThreadedStore(object())


def test_the_async_worker_delivers_concurrently_within_the_channels_bound(
    tmp_path: pathlib.Path,
) -> None:
    plugin = AsyncChannel(delay=0.05)

    async def main() -> Any:
        store = await aio.open_store(f"sqlite:///{tmp_path / 'c.db'}")
        await _orders(store, 24, channel="push")
        worker = aio.Worker(make_carekit(plugin), store, concurrency={"push": 4}, batch_size=12)
        started = time.monotonic()
        report = await worker.run_once(T0 + HOUR)
        elapsed = time.monotonic() - started
        counts = await store.outbox_counts()
        await store.close()
        return report, elapsed, counts

    report, elapsed, counts = asyncio.run(main())
    assert report.sent == 24 and counts["sent"] == 24
    assert plugin.most == 4  # never more than the bound, and it was reached
    assert elapsed < 24 * 0.05  # concurrent: well under one-at-a-time
    assert sorted(plugin.keys) == sorted(f"o-{i}/order_thanks/2" for i in range(24))


class CancelsWhileSending:
    """A coroutine plugin on ``push``: each journey is cancelled while its touchpoint is sent."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.keys: list[str] = []

    @hookimpl
    def carekit_register_channels(self) -> list[Channel]:
        return [Channel("push")]

    @hookimpl
    async def carekit_deliver_touchpoint(
        self, touchpoint: Any, idempotency_key: str
    ) -> DeliveryResult:
        jid = touchpoint.journey_id
        await self.store.append(jid, Event("cancel", at=T0 + MINUTE, id=f"{jid}-cancel"))
        self.keys.append(idempotency_key)
        return DeliveryResult(reference=idempotency_key)


@pytest.mark.parametrize("url", ["memory://", "sqlite"])
def test_the_async_worker_keeps_a_touchpoint_cancelled_in_flight_sent(
    url: str, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> Any:
        store = await aio.open_store(f"sqlite:///{tmp_path / 'w.db'}" if url == "sqlite" else url)
        await _orders(store, 6, channel="push")
        plugin = CancelsWhileSending(store)
        worker = aio.Worker(make_carekit(plugin), store, concurrency={"push": 3})
        report = await worker.run_once(T0 + HOUR)
        again = await worker.run_once(T0 + 2 * HOUR)
        counts = await store.outbox_counts()
        states = {j.state for j in await store.journeys()}
        await store.close()
        return plugin, report, again, counts, states

    with caplog.at_level(logging.INFO, logger="carekit.worker"):
        plugin, report, again, counts, states = asyncio.run(main())
    assert len(plugin.keys) == 6 and states == {"cancelled"}
    # The report, the log and the outbox agree: six sent, none withdrawn.
    assert (report.sent, report.withdrawn, again.sent) == (6, 0, 0)
    assert (counts["sent"], counts["withdrawn"]) == (6, 0)
    logged = [getattr(r, "outcome", None) for r in caplog.records if hasattr(r, "key")]
    assert logged == ["sent"] * 6


def test_a_hanging_coroutine_plugin_times_out_and_a_blocking_one_runs_in_a_thread(
    tmp_path: pathlib.Path,
) -> None:
    plugin = AsyncChannel(delay=0.0, hang_for="o-1")
    email = RecordingChannel("email", register=False)

    async def main() -> Any:
        store = await aio.open_store("memory://")
        await _orders(store, 3, channel="push")
        await store.create(order_journey(), "e-1", at=T0, channel="email")
        await store.append("e-1", [Event("place", at=T0), Event("acknowledge", at=T0)])
        worker = aio.Worker(make_carekit(plugin, email), store,
                            timeout=dt.timedelta(milliseconds=200))
        report = await worker.run_once(T0 + HOUR)
        return report, {e.journey_id: e.status for e in await store.outbox()}

    started = time.monotonic()
    report, statuses = asyncio.run(main())
    assert time.monotonic() - started < 5
    assert statuses == {"o-0": "sent", "o-1": "failed", "o-2": "sent", "e-1": "sent"}
    [failed] = [a for a in report.attempts if a.outcome == "failed"]
    assert "did not answer within" in (failed.error or "")
    assert email.names == ["order_thanks"]


def test_the_async_worker_fires_breaches_and_defers_in_quiet_hours() -> None:
    class Quiet:
        @hookimpl
        def carekit_register_channels(self) -> list[Channel]:
            return [Channel("sms_quiet", quiet_hours=(dt.time(21), dt.time(8)))]

        @hookimpl
        async def carekit_deliver_touchpoint(self, channel: Channel) -> DeliveryResult | None:
            return DeliveryResult() if channel.name == "sms_quiet" else None

    async def main() -> Any:
        store = await aio.open_store("memory://")
        night = dt.datetime(2026, 3, 2, 22, 0, tzinfo=dt.timezone.utc)
        await store.create(order_journey(), "o-1", at=night, channel="sms_quiet")
        await store.append("o-1", Event("place", at=night, id="p"))
        worker = aio.Worker(make_carekit(Quiet()), store)
        first = await worker.run_once(night + 2 * HOUR)
        await store.append("o-1", Event("acknowledge", at=night + 2 * HOUR, id="a"))
        second = await worker.run_once(night + 2 * HOUR + MINUTE)
        morning = await worker.run_once(night.replace(hour=8) + dt.timedelta(days=1))
        return first, second, morning

    first, second, morning = asyncio.run(main())
    assert first.fired == 1
    assert (second.deferred, second.sent) == (1, 0)
    assert morning.sent == 1


def test_run_stops_on_the_event_or_sigterm_releasing_what_was_not_started(
    tmp_path: pathlib.Path,
) -> None:
    plugin = AsyncChannel(delay=0.05)

    async def main() -> Any:
        store = await aio.open_store(f"sqlite:///{tmp_path / 'r.db'}")
        await _orders(store, 30, channel="push")
        worker = aio.Worker(make_carekit(plugin), store, concurrency=2, batch_size=30,
                            poll=dt.timedelta(milliseconds=20))
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.2, os.kill, os.getpid(), signal.SIGTERM)
        await worker.run(stop, clock=lambda: T0 + HOUR)
        counts = await store.outbox_counts()
        pending = await store.outbox(status="pending")
        await store.close()
        return counts, pending

    previous = signal.getsignal(signal.SIGTERM)
    counts, pending = asyncio.run(main())
    assert signal.getsignal(signal.SIGTERM) is previous
    assert counts["sent"] == len(plugin.keys) < 30
    assert counts["pending"] == 30 - len(plugin.keys)
    assert all(e.attempts == 0 for e in pending)
    with SQLiteJourneyStore(tmp_path / "r.db") as store:
        assert store.outbox_counts()["sent"] == len(plugin.keys)


def test_the_stop_event_set_mid_pass_releases_the_claims_not_started(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Regression: a server's lifespan sets run()'s ``stop`` on SIGTERM (uvicorn); the pass
    # under way did not look at it and delivered its whole batch, then claimed the next
    # ones until nothing was due, instead of finishing what was in flight.
    stop = asyncio.Event()

    class StopsTheServer(AsyncChannel):
        @hookimpl
        async def carekit_deliver_touchpoint(
            self, touchpoint: Any, channel: Channel, idempotency_key: str
        ) -> DeliveryResult | None:
            stop.set()  # SIGTERM arrives while the first delivery is in flight
            return await super().carekit_deliver_touchpoint(touchpoint, channel, idempotency_key)

    plugin = StopsTheServer(delay=0.05)

    async def main() -> Any:
        store = await aio.open_store(f"sqlite:///{tmp_path / 's.db'}")
        await _orders(store, 6, channel="push")
        worker = aio.Worker(make_carekit(plugin), store, concurrency=1, batch_size=2)
        await worker.run(stop, clock=lambda: T0 + HOUR, handle_signals=False)
        counts, counters, sent = await store.outbox_counts(), worker.counters, list(plugin.keys)
        again = await worker.run_once(T0 + HOUR)  # run's event no longer stops a pass
        await store.close()
        return sent, counters, counts, again

    with caplog.at_level(logging.INFO, logger="carekit.worker"):
        sent, counters, counts, again = asyncio.run(main())
    assert sent == ["o-0/order_thanks/2"]
    assert (counters["sent"], counters["released"]) == (1, 1)
    # One line per outcome: the claim given back has its own (it had none).
    logged = [getattr(r, "outcome", None) for r in caplog.records if hasattr(r, "key")]
    assert logged[:2] == ["sent", "released"]
    assert (counts["sent"], counts["pending"]) == (1, 5)
    assert again.sent == 5


def test_a_store_failing_mid_batch_sends_nothing_behind_the_claims_it_gives_back() -> None:
    # Regression: when recording one outcome raised (the database went away), the batch's
    # other deliveries ran on unawaited while their claims were released at once, so a
    # second worker claimed and sent the same touchpoints again.
    class Blip(aio.ThreadedStore):
        failed = False

        async def record(self, outcomes: Any, **options: Any) -> frozenset[str]:
            if not Blip.failed:
                Blip.failed = True
                raise StoreError("connection lost")
            held: frozenset[str] = await super().record(outcomes, **options)
            return held

    plugin = AsyncChannel(delay=0.05)

    async def main() -> Any:
        store = await aio.open_store("memory://")
        await _orders(store, 6, channel="push")
        a = aio.Worker(make_carekit(plugin), Blip(store.store), concurrency=3, claimant="a")
        b = aio.Worker(make_carekit(plugin), store, concurrency=3, claimant="b")
        with pytest.raises(StoreError, match="connection lost"):
            await a.run_once(T0 + HOUR)
        await b.run_once(T0 + HOUR)  # at once: takes what a gave back
        await asyncio.sleep(0.3)
        return await store.outbox(status="pending")

    pending = asyncio.run(main())
    assert len(plugin.keys) == len(set(plugin.keys)) == 6
    # The delivery whose outcome was lost keeps its claim: taken over after the lease.
    assert [e.idempotency_key for e in pending] == ["o-0/order_thanks/2"]


@pytest.mark.parametrize("failing", ["claim_due", "fire_due"])
def test_a_pass_the_store_ends_still_counts_what_it_did(failing: str) -> None:
    # Regression: when a store failure ended a pass, the touchpoints it had already sent
    # and the timers it had fired were missing from worker.counters (kept only in the
    # report the pass never returned), so exported metrics undercounted what happened.
    class FailsTheSecondCall(aio.ThreadedStore):
        calls = 0

        def _second_fails(self, name: str) -> None:
            if failing == name:
                FailsTheSecondCall.calls += 1
                if FailsTheSecondCall.calls == 2:
                    raise StoreError("connection lost")

        async def claim_due(self, **options: Any) -> Any:
            self._second_fails("claim_due")
            return await super().claim_due(**options)

        async def fire_due(self, **options: Any) -> Any:
            self._second_fails("fire_due")
            return await super().fire_due(**options)

    plugin = AsyncChannel(delay=0.01)

    async def main() -> Any:
        store = await aio.open_store("memory://")
        await _orders(store, 6, channel="push")
        for i in range(6, 9):  # placed, never acknowledged: their deadlines are due
            await store.create(order_journey(), f"o-{i}", at=T0, channel="push")
            await store.append(f"o-{i}", Event("place", at=T0, id=f"p{i}"))
        worker = aio.Worker(make_carekit(plugin), FailsTheSecondCall(store.store),
                            concurrency=1, batch_size=2, fire_limit=1)
        with pytest.raises(StoreError, match="connection lost"):
            await worker.run_once(T0 + 3 * HOUR)
        return worker.counters

    counters = asyncio.run(main())
    assert counters["passes"] == 1
    if failing == "fire_due":  # the first timer fired, then the store failed
        assert (counters["fired"], counters["sent"], counters["due"]) == (1, 0, 1)
    else:  # every timer fired; the first claim's touchpoints went out (or were given back)
        assert counters["fired"] == 3
        assert counters["sent"] == len(plugin.keys) >= 1
        assert counters["sent"] + counters["released"] == 2
        assert counters["due"] == 3 + 2


def test_a_blocking_plugin_hung_past_the_timeout_does_not_hold_the_loop_on_exit() -> None:
    # Regression: blocking plugins ran on the loop's default executor, which asyncio.run
    # (and uvicorn) wait for on the way out: after the worker timed the plugin out and
    # stopped, the process still could not exit until the plugin returned, if ever. And
    # hung plugins filled that executor (at most 32 threads), so the SQLite and memory
    # stores' calls, which run there too, waited behind them.
    release = threading.Event()

    class Stuck:
        @hookimpl
        def carekit_deliver_touchpoint(self, idempotency_key: str) -> DeliveryResult:
            release.wait(10)  # a blocking client with no timeout of its own
            return DeliveryResult(reference=idempotency_key)

    async def main() -> Any:
        store = await aio.open_store("memory://")
        await _orders(store, 40)
        worker = aio.Worker(make_carekit(Stuck()), store, timeout=0.2, concurrency=40)
        return await worker.run_once(T0 + HOUR)

    started = time.monotonic()
    try:
        report = asyncio.run(main())
        took = time.monotonic() - started
    finally:
        release.set()
    assert report.failed == 40 and "did not answer within" in (report.attempts[0].error or "")
    assert took < 5


def test_the_async_worker_with_a_short_lease_takes_over_a_crashed_workers_claim(
    tmp_path: pathlib.Path,
) -> None:
    email = RecordingChannel("email", register=False)

    async def main() -> tuple[int, int, int]:
        store = await aio.open_store(f"sqlite:///{tmp_path / 'lease.db'}")
        await _orders(store, 1)
        # A worker claims the touchpoint, then crashes before recording anything.
        await store.claim_due(now=T0 + HOUR, limit=10, lease=SECOND, claimant="crashed")
        worker = aio.Worker(make_carekit(email), store, lease=SECOND, claimant="next")
        assert worker.timeout == SECOND / 2  # no timeout given: the default fits the lease
        held = (await worker.run_once(T0 + HOUR)).sent
        await asyncio.sleep(1.2)
        taken = (await worker.run_once(T0 + HOUR)).sent
        counts = await store.outbox_counts()
        await store.close()
        return held, taken, counts["sent"]

    assert asyncio.run(main()) == (0, 1, 1)
    assert email.names == ["order_thanks"]


def test_async_worker_arguments_are_checked() -> None:
    store = aio.ThreadedStore(__import__("carekit.journeys", fromlist=["x"]).MemoryJourneyStore())
    with pytest.raises(CareKitError, match="concurrency must be an integer >= 1"):
        aio.Worker(make_carekit(), store, concurrency=0)
    with pytest.raises(CareKitError, match=r"concurrency\['push'\] must be an integer"):
        aio.Worker(make_carekit(), store, concurrency={"push": 0})
    with pytest.raises(CareKitError, match="lease must be a positive duration"):
        aio.Worker(make_carekit(), store, lease=0)
    with pytest.raises(CareKitError, match=r"timeout \(0:00:01\) must be shorter than lease"):
        aio.Worker(make_carekit(), store, lease=1, timeout=1)

    async def main() -> None:
        worker = aio.Worker(make_carekit(), store)
        with pytest.raises(CareKitError, match="stop must be an asyncio.Event"):
            await worker.run(stop=5)  # type: ignore[arg-type]

    asyncio.run(main())


def test_the_blocking_worker_runs_coroutine_plugins_too() -> None:
    from carekit.journeys import MemoryJourneyStore, Worker

    plugin = AsyncChannel(delay=0.0)
    store = MemoryJourneyStore()
    store.create(order_journey(), "o-1", at=T0, channel="push")
    store.append("o-1", [Event("place", at=T0), Event("acknowledge", at=T0)])
    assert Worker(make_carekit(plugin), store).run_once(T0 + HOUR).sent == 1
    assert plugin.keys == ["o-1/order_thanks/2"]


class _Flaky:
    """A store (wrapped) whose claims fail a few times, as while a database restarts."""

    def __init__(self, inner: Any, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def claim_due(self, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            from carekit import StoreError

            raise StoreError("the database is restarting")
        return await self.inner.claim_due(**kwargs)


def test_the_async_worker_rides_out_a_short_store_outage(caplog: pytest.LogCaptureFixture) -> None:
    # Whatever level an earlier test (a CLI run with --log-level error) left on the logger.
    caplog.set_level(logging.WARNING, logger="carekit")
    plugin = AsyncChannel(delay=0.0)

    async def main() -> Any:
        inner = aio.open_store("memory://")
        await _orders(inner, 2, channel="push")
        store = _Flaky(inner, failures=2)
        worker = aio.Worker(make_carekit(plugin), store, poll=dt.timedelta(milliseconds=10))
        await worker.run(clock=lambda: T0 + HOUR, max_passes=1, handle_signals=False)
        return await inner.outbox_counts()

    counts = asyncio.run(main())
    assert counts["sent"] == 2
    assert caplog.text.count("the store failed, trying again") == 2


class ExitsAsync:
    """``sys.exit(3)`` from a coroutine plugin (journey ``c-exits``) and from a blocking one
    run in a thread (journey ``t-exits``)."""

    @hookimpl
    def carekit_register_channels(self) -> list[Channel]:
        return [Channel("push")]

    @hookimpl
    async def carekit_deliver_touchpoint(
        self, touchpoint: Any, channel: Channel
    ) -> DeliveryResult | None:
        if channel.name != "push":
            return None
        if touchpoint.journey_id == "c-exits":
            raise SystemExit(3)
        return DeliveryResult(reference="fine")


class ExitsBlocking:
    @hookimpl
    def carekit_deliver_touchpoint(self, touchpoint: Any, channel: Channel) -> Any:
        if channel.name != "email":
            return None
        if touchpoint.journey_id == "t-exits":
            raise SystemExit(3)
        return DeliveryResult(reference="fine")


def test_a_plugin_that_calls_sys_exit_fails_only_that_attempt_in_the_async_worker() -> None:
    # Regression: a plugin's sys.exit(3) ended the asyncio worker with the other claims leased.
    async def main() -> Any:
        store = await aio.open_store("memory://")
        for jid, channel in [("c-exits", "push"), ("c-ok", "push"),
                             ("t-exits", "email"), ("t-ok", "email")]:
            await store.create(order_journey(), jid, at=T0, channel=channel)
            await store.append(jid, [Event("place", at=T0), Event("acknowledge", at=T0)])
        worker = aio.Worker(make_carekit(ExitsAsync(), ExitsBlocking()), store)
        report = await worker.run_once(T0 + HOUR)
        return report, {e.journey_id: e.status for e in await store.outbox()}

    report, statuses = asyncio.run(main())
    assert statuses == {"c-exits": "failed", "c-ok": "sent", "t-exits": "failed", "t-ok": "sent"}
    for a in report.attempts:
        if a.outcome == "failed":
            assert "raised SystemExit: 3" in (a.error or "")


def test_a_second_sigint_stops_the_async_worker_at_once(caplog: pytest.LogCaptureFixture) -> None:
    # Regression: a second Ctrl-C did nothing; the worker still waited for its deliveries.
    async def main() -> None:
        worker = aio.Worker(make_carekit(), await aio.open_store("memory://"))
        with caplog.at_level(logging.INFO, logger="carekit.worker"):
            worker._on_signal(signal.SIGINT)  # the first: finish what is in flight
            with pytest.raises(KeyboardInterrupt):
                worker._on_signal(signal.SIGINT)

    asyncio.run(main())
    assert "SIGINT again stops at once" in caplog.text
    assert "got SIGINT again: stopping now" in caplog.text


class _Spy(aio.ThreadedStore):
    """A threaded store that keeps each ``record`` call's keywords."""

    def __init__(self, store: Any) -> None:
        super().__init__(store)
        self.calls: list[dict[str, Any]] = []

    async def record(self, outcomes: Any, *, lease: Any = None, claimant: Any = None,
                     holding: Any = None) -> frozenset[str]:
        self.calls.append({"n": len(outcomes), "lease": lease, "holding": holding})
        return await super().record(outcomes, lease=lease, claimant=claimant, holding=holding)


class _Older:
    """A blocking store written before ``record`` took ``holding``."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def record(self, outcomes: Any, *, lease: Any = None,
               claimant: Any = None) -> frozenset[str]:
        return self._store.record(outcomes, lease=lease, claimant=claimant)  # type: ignore[no-any-return]


def _key(i: int) -> str:
    return f"o-{i}/order_thanks/2"


def test_the_async_worker_asks_only_about_the_touchpoint_each_slot_starts_next() -> None:
    async def main() -> tuple[Any, _Spy, _Spy]:
        store = await aio.open_store("memory://")
        await _orders(store, 6, channel="push")
        spy = _Spy(store.store)
        report = await aio.Worker(make_carekit(AsyncChannel(delay=0.01)), spy,
                                  concurrency=2).run_once(T0 + HOUR)
        # A store without ``holding``: every outcome extends every claim, as before.
        older = await aio.open_store("memory://")
        await _orders(older, 3, channel="push")
        old_spy = _Spy(_Older(older.store))
        await aio.Worker(make_carekit(AsyncChannel(delay=0.01)), old_spy).run_once(T0 + HOUR)
        return report, spy, old_spy

    report, spy, old_spy = asyncio.run(main())
    assert report.sent == 6
    # A 30 s lease is not extended between deliveries milliseconds apart.
    assert [c["lease"] for c in spy.calls] == [None] * 6
    # Two slots: o-0 and o-1 start at once; each outcome asks about the touchpoint its
    # slot starts next, the last two about none. No statement of their own.
    assert [c["n"] for c in spy.calls] == [1] * 6
    assert sorted(c["holding"] for c in spy.calls) == sorted(
        [(_key(2),), (_key(3),), (_key(4),), (_key(5),), (), ()]
    )
    assert [c["lease"] for c in old_spy.calls] == [dt.timedelta(seconds=30)] * 3


class _Withdraws(AsyncChannel):
    """Delivering o-0 cancels the journeys named meanwhile."""

    def __init__(self, store: Any, cancel: list[str]) -> None:
        super().__init__(delay=0.01)
        self.store, self.cancel = store, cancel

    @hookimpl
    async def carekit_deliver_touchpoint(
        self, touchpoint: Any, channel: Channel, idempotency_key: str
    ) -> DeliveryResult | None:
        if touchpoint.journey_id == "o-0":
            for journey_id in self.cancel:
                await self.store.append(journey_id, Event("cancel", at=T0 + MINUTE, id="x"))
        return await super().carekit_deliver_touchpoint(touchpoint, channel, idempotency_key)


@pytest.mark.parametrize("url", ["memory://", "sqlite"])
@pytest.mark.parametrize("older", [False, True])
def test_a_touchpoint_withdrawn_during_a_concurrent_batch_is_not_sent(
    url: str, older: bool, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> tuple[Any, Any, _Withdraws]:
        store = await aio.open_store(f"sqlite:///{tmp_path / 'w.db'}" if url == "sqlite" else url)
        await _orders(store, 7, channel="push")
        # o-3 is asked about by o-1's outcome; o-4 and o-5 then start in a freed slot
        # without an answer, and are looked up on their own.
        plugin = _Withdraws(store, ["o-3", "o-4"])
        blocking = _Older(store.store) if older else store.store
        try:
            report = await aio.Worker(make_carekit(plugin), aio.ThreadedStore(blocking),
                                      concurrency=2).run_once(T0 + HOUR)
            return report, await store.outbox(), plugin
        finally:
            await store.close()  # an unclosed SQLite connection warns (Python 3.13)

    with caplog.at_level(logging.INFO, logger="carekit.worker"):
        report, outbox, plugin = asyncio.run(main())
    assert sorted(plugin.keys) == [_key(i) for i in (0, 1, 2, 5, 6)]
    assert (report.sent, report.withdrawn) == (5, 2)
    assert {e.journey_id: e.status for e in outbox if e.status != "sent"} == {
        "o-3": "withdrawn", "o-4": "withdrawn"
    }
    # One line per outcome: the two withdrawn have theirs (they had none).
    logged = {r.key: r.outcome for r in caplog.records if hasattr(r, "key")}
    assert logged == {_key(i): "withdrawn" if i in (3, 4) else "sent" for i in range(7)}


class _SlowTakeover(AsyncChannel):
    """A slow coroutine plugin; after ``rival_after`` deliveries a rival tries to claim."""

    def __init__(self, store: Any, delay: float, rival_after: int) -> None:
        super().__init__(delay=delay)
        self.store, self.rival_after = store, rival_after
        self.rival: list[Any] | None = None

    @hookimpl
    async def carekit_deliver_touchpoint(
        self, touchpoint: Any, channel: Channel, idempotency_key: str
    ) -> DeliveryResult | None:
        result = await super().carekit_deliver_touchpoint(touchpoint, channel, idempotency_key)
        if len(self.keys) == self.rival_after:
            self.rival = list(await self.store.claim_due(now=T0 + HOUR, limit=50,
                                                         lease=SECOND, claimant="rival"))
        return result


@pytest.mark.parametrize("url", ["memory://", "sqlite"])
def test_an_async_batch_longer_than_the_lease_keeps_its_claims(
    url: str, tmp_path: pathlib.Path
) -> None:
    async def main() -> tuple[Any, _Spy, _SlowTakeover]:
        store = await aio.open_store(f"sqlite:///{tmp_path / 'l.db'}" if url == "sqlite" else url)
        await _orders(store, 24, channel="push")
        plugin = _SlowTakeover(store, delay=0.06, rival_after=20)  # 1.2 s in, lease 1 s
        spy = _Spy(store.store)
        try:
            report = await aio.Worker(make_carekit(plugin), spy, lease=SECOND,
                                      concurrency=1).run_once(T0 + HOUR)
            return report, spy, plugin
        finally:
            await store.close()  # an unclosed SQLite connection warns (Python 3.13)

    report, spy, plugin = asyncio.run(main())
    assert report.sent == 24 and len(set(plugin.keys)) == 24
    assert plugin.rival == []  # past the first lease: the extended claims still held
    extended = [c for c in spy.calls if c["lease"] == SECOND]
    assert len(extended) >= 5  # not more often than every 0.1 s, about 12 times in 1.4 s


def test_a_touchpoint_withdrawn_during_a_concurrent_batch_is_not_sent_on_postgres(
    postgres_url: str, postgres_schema: str
) -> None:
    async def main() -> tuple[Any, Any, _Withdraws, list[Any]]:
        store = await aio.open_store(with_schema(postgres_url, postgres_schema))
        await _orders(store, 7, channel="push")
        plugin = _Withdraws(store, ["o-3", "o-4"])
        calls: list[Any] = []
        record = store.record

        async def spied(outcomes: Any, **options: Any) -> frozenset[str]:
            calls.append((len(outcomes), options.get("lease"), options.get("holding")))
            held: frozenset[str] = await record(outcomes, **options)
            return held

        store.record = spied
        try:
            report = await aio.Worker(make_carekit(plugin), store,
                                      concurrency=2).run_once(T0 + HOUR)
            return report, await store.outbox(), plugin, calls
        finally:
            await store.close()

    report, outbox, plugin, calls = asyncio.run(main())
    assert sorted(plugin.keys) == [_key(i) for i in (0, 1, 2, 5, 6)]
    assert (report.sent, report.withdrawn) == (5, 2)
    assert {e.journey_id for e in outbox if e.status == "withdrawn"} == {"o-3", "o-4"}
    # Five outcomes, each asking about one key at most; a touchpoint started without an
    # answer is looked up on its own, one key at a time. Which ones those are depends on
    # the order the outcomes arrive in (usually o-4, in the slot o-3 left unrecorded, and
    # o-5), so only the bound is checked.
    assert len([n for n, _, _ in calls if n == 1]) == 5
    lookups = [h for n, _, h in calls if n == 0]
    assert len(lookups) <= 3 and set(lookups) <= {(_key(i),) for i in (3, 4, 5, 6)}
    assert all(lease is None and len(h) <= 1 for n, lease, h in calls)


class _HungSms:
    """A coroutine plugin: ``sms`` hangs for ``hang`` seconds, ``email`` answers at once."""

    def __init__(self, hang: float = 60) -> None:
        self.hang = hang
        self.started = time.monotonic()
        self.sent: list[tuple[str, float]] = []

    @hookimpl
    async def carekit_deliver_touchpoint(
        self, channel: Channel, idempotency_key: str
    ) -> DeliveryResult | None:
        if channel.name not in ("sms", "email"):
            return None
        if channel.name == "sms":
            await asyncio.sleep(self.hang)
        self.sent.append((idempotency_key, time.monotonic() - self.started))
        return DeliveryResult(reference=idempotency_key)


def _store_url(kind: str, request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    if kind == "postgres":
        return with_schema(request.getfixturevalue("postgres_url"),
                           request.getfixturevalue("postgres_schema"))
    return f"sqlite:///{tmp_path / 'h.db'}" if kind == "sqlite" else "memory://"


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
def test_a_hung_channel_does_not_hold_up_the_others_touchpoints(
    kind: str, request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> None:
    # Regression: the next batch was claimed only once every delivery of the last one had
    # ended, so one hung sms held 200 emails (beyond the first batch) until its timeout.
    url = _store_url(kind, request, tmp_path)
    plugin = _HungSms()

    async def main() -> tuple[Any, dict[str, int], float]:
        store = await aio.open_store(url)
        try:
            await _orders(store, 1, channel="sms")  # the oldest: in the first batch
            for i in range(1, 301):
                at = T0 + i * SECOND
                await store.create(order_journey(), f"o-{i}", at=at, channel="email")
                await store.append(f"o-{i}", [Event("place", at=at, id=f"p{i}"),
                                              Event("acknowledge", at=at, id=f"a{i}")])
            worker = aio.Worker(make_carekit(plugin), store, batch_size=100, timeout=3)
            plugin.started = time.monotonic()
            report = await worker.run_once(T0 + HOUR)
            took = time.monotonic() - plugin.started
            return report, await store.outbox_counts(), took
        finally:
            await store.close()

    report, counts, took = asyncio.run(main())
    keys = [key for key, _ in plugin.sent]
    assert len(keys) == len(set(keys)) == 300  # every email once; the sms never answered
    assert max(at for _, at in plugin.sent) < 1.5  # not after the sms timed out (3 s)
    assert (report.sent, report.failed) == (300, 1)
    assert 3 <= took < 10  # the pass still waited for the sms's timeout, and recorded it
    assert (counts["sent"], counts["failed"]) == (300, 1)  # recorded, to be retried


def test_claims_overlap_deliveries_within_the_batch_size_and_keep_a_journeys_order() -> None:
    # A journey's touchpoints on one channel start in the order they are claimed, across
    # claims made while another channel hangs; never more than ``batch_size`` in hand.
    plugin = _HungSms()
    push = AsyncChannel(delay=0.02)

    async def main() -> Any:
        store = await aio.open_store("memory://")
        await _orders(store, 1, channel="sms")
        at = T0 + MINUTE
        await store.create(order_journey(), "o-1", at=at, channel="push")
        await store.append("o-1", [
            Event("place", at=at), Event("acknowledge", at=at + SECOND),
            Event("start_production", at=at + 2 * SECOND),
            Event("near_completion", at=at + 3 * SECOND),
            Event("ship", at=at + 4 * SECOND, data={"tracking_number": "T-1"}),
        ])
        await _orders_from(store, 2, 12, channel="push")
        worker = aio.Worker(make_carekit(plugin, push), store, batch_size=4, timeout=2,
                            concurrency={"push": 10})
        plugin.started = time.monotonic()
        report = await worker.run_once(T0 + HOUR)
        return report, time.monotonic() - plugin.started

    report, took = asyncio.run(main())
    assert (report.sent, report.failed) == (13, 1)
    assert push.most <= 3  # the hung sms holds the fourth place in hand
    assert [k for k in push.keys if k.startswith("o-1/")] == [
        "o-1/order_thanks/2", "o-1/production_update/4", "o-1/shipped_with_tracking/5"
    ]
    assert took >= 2


async def _orders_from(store: Any, start: int, stop: int, channel: str) -> None:
    for i in range(start, stop):
        at = T0 + 2 * MINUTE + i * SECOND
        await store.create(order_journey(), f"o-{i}", at=at, channel=channel)
        await store.append(f"o-{i}", [Event("place", at=at, id=f"p{i}"),
                                      Event("acknowledge", at=at, id=f"a{i}")])


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_delivery_longer_than_the_lease_keeps_its_claim_with_nothing_else_recorded(
    kind: str, request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> None:
    # Claims are extended when outcomes are recorded; with one delivery hanging and
    # nothing else to record, they are extended on their own, so no rival (nor this
    # worker's next claim) takes over a touchpoint still being sent.
    url = _store_url(kind, request, tmp_path)
    plugin = _HungSms(hang=1.6)

    async def main() -> tuple[Any, list[Any]]:
        store = await aio.open_store(url)
        await _orders(store, 1, channel="sms")
        worker = aio.Worker(make_carekit(plugin), store, lease=SECOND, timeout=None)

        async def rival() -> list[Any]:
            await asyncio.sleep(1.3)  # past the first lease
            return list(await store.claim_due(now=T0 + HOUR, limit=10, lease=SECOND,
                                              claimant="rival"))

        taken = asyncio.ensure_future(rival())
        report = await worker.run_once(T0 + HOUR)
        await store.close()
        return report, await taken

    report, taken = asyncio.run(main())
    assert report.sent == 1 and taken == []
    assert [key for key, _ in plugin.sent] == ["o-0/order_thanks/2"]
