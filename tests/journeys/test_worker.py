"""The Worker in one process: timers, deliveries, quiet hours, misbehaving plugins, stopping."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import pathlib
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tests.journeys._store_helpers import HOUR, MINUTE, T0, make_store

from carekit import CareKitError, PluginError, StoreError, hookimpl
from carekit.channels import Channel, DeliveryResult
from carekit.journeys import (
    Event,
    MemoryJourneyStore,
    PromiseChecks,
    SQLiteJourneyStore,
    Worker,
    WorkReport,
    dispatch,
    order_journey,
    service_case_journey,
)
from carekit.testing import RecordingChannel, make_carekit

SECOND = dt.timedelta(seconds=1)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Any]:
    s = make_store(request.param, tmp_path)
    yield s
    s.close()


def _acknowledged(store: Any, journey_id: str = "order-1", *, at: dt.datetime = T0,
                  channel: str | None = "email", tz: str | None = None) -> None:
    store.create(order_journey(), journey_id, at=at, channel=channel, tz=tz)
    store.append(journey_id, [Event("place", at=at, id=f"{journey_id}-p"),
                              Event("acknowledge", at=at, id=f"{journey_id}-a")])


@pytest.mark.parametrize("failing", ["claim_due", "fire_due"])
def test_a_pass_the_store_ends_still_counts_what_it_did(failing: str) -> None:
    # Regression: when a store failure ended a pass, the touchpoints it had already sent
    # and the timers it had fired were missing from worker.counters (kept only in the
    # report the pass never returned), so exported metrics undercounted what happened.
    class FailsTheSecondCall(MemoryJourneyStore):
        calls = 0

        def _second_fails(self, name: str) -> None:
            if failing == name:
                self.calls += 1
                if self.calls == 2:
                    raise StoreError("connection lost")

        def claim_due(self, **options: Any) -> Any:
            self._second_fails("claim_due")
            return super().claim_due(**options)

        def fire_due(self, **options: Any) -> Any:
            self._second_fails("fire_due")
            return super().fire_due(**options)

    store = FailsTheSecondCall()
    for i in range(6):
        _acknowledged(store, f"o-{i}")
    for i in range(6, 9):  # placed, never acknowledged: their deadlines are due
        store.create(order_journey(), f"o-{i}", at=T0, channel="email")
        store.append(f"o-{i}", Event("place", at=T0, id=f"p{i}"))
    email = RecordingChannel("email", register=False)
    worker = Worker(make_carekit(email), store, batch_size=2, fire_limit=1)
    with pytest.raises(StoreError, match="connection lost"):
        worker.run_once(T0 + 3 * HOUR)
    counters = worker.counters
    assert counters["passes"] == 1
    if failing == "fire_due":  # the first timer fired, then the store failed
        assert (counters["fired"], counters["sent"], counters["due"]) == (1, 0, 1)
    else:  # every timer fired, the first batch went out, the second claim failed
        assert (counters["fired"], counters["sent"], counters["due"]) == (3, 2, 5)
        assert len(email.deliveries) == 2


# -- timers --------------------------------------------------------------------------------


def test_a_breached_deadline_fires_once_and_stays_fired(store: Any) -> None:
    store.create(order_journey(), "order-1", at=T0, channel="email")
    store.append("order-1", Event("place", at=T0, id="p"))
    worker = Worker(make_carekit(RecordingChannel("email", register=False)), store)
    assert worker.run_once(T0 + 30 * MINUTE).fired == 0
    report = worker.run_once(T0 + 2 * HOUR)
    assert report.fired == 1
    [timer] = report.timers
    assert timer.event is not None and timer.event.name == "acknowledgement_overdue"
    for later in (3, 4, 24):
        assert worker.run_once(T0 + later * HOUR).fired == 0
    journey = store.load("order-1")
    assert [e.name for e in store.events("order-1")] == ["place", "acknowledgement_overdue"]
    assert journey.breaches(T0 + 48 * HOUR) == []
    assert journey.friction == pytest.approx(1.0)
    assert worker.counters["fired"] == 1


def test_two_workers_racing_fire_each_breach_once_and_send_each_touchpoint_once(
    tmp_path: pathlib.Path,
) -> None:
    db = tmp_path / "race.db"
    with SQLiteJourneyStore(db) as setup:
        for i in range(60):
            setup.create(order_journey(), f"o-{i}", at=T0, channel="email")
            setup.append(f"o-{i}", Event("place", at=T0, id=f"p-{i}"))
            if i % 2:
                setup.append(f"o-{i}", Event("acknowledge", at=T0, id=f"a-{i}"))
    recorders = [RecordingChannel("email", register=False) for _ in range(2)]
    stores = [SQLiteJourneyStore(db, busy_timeout=30) for _ in range(2)]
    workers = [
        Worker(make_carekit(r), s, batch_size=7, fire_limit=5, claimant=f"w{k}")
        for k, (r, s) in enumerate(zip(recorders, stores, strict=True))
    ]
    reports: list[Any] = []
    threads = [
        threading.Thread(target=lambda w=w: reports.append(w.run_once(T0 + 2 * HOUR)))
        for w in workers
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(r.fired for r in reports) == 30
    keys = [d.idempotency_key for r in recorders for d in r.attempts]
    assert len(keys) == len(set(keys)) == 30  # the acknowledged orders' thanks
    with SQLiteJourneyStore(db) as check:
        breaches = [e for i in range(60) for e in check.events(f"o-{i}")
                    if e.name == "acknowledgement_overdue"]
        assert len(breaches) == 30
        assert check.outbox_counts()["sent"] == 30
    for s in stores:
        s.close()


# -- quiet hours, deferral, withdrawal -----------------------------------------------------


class Sms:
    """A channel plugin for a quiet ``sms`` channel."""

    def __init__(self, tz: str = "Europe/London") -> None:
        self.sent: list[tuple[str, dt.datetime]] = []
        self.tz = tz

    @hookimpl
    def carekit_register_channels(self) -> list[Channel]:
        return [Channel("sms_quiet", quiet_hours=(dt.time(21), dt.time(8)), tz=self.tz)]

    @hookimpl
    def carekit_deliver_touchpoint(self, touchpoint: Any, channel: Channel,
                                   idempotency_key: str) -> DeliveryResult | None:
        if channel.name != "sms_quiet":
            return None
        self.sent.append((idempotency_key, touchpoint.owed_at))
        return DeliveryResult()


@pytest.mark.parametrize(
    ("night", "opens"),
    [
        # The night the clocks go forward (29 March 2026): 08:00 BST is 07:00 UTC.
        (dt.datetime(2026, 3, 28, 23, 0, tzinfo=dt.timezone.utc),
         dt.datetime(2026, 3, 29, 7, 0, tzinfo=dt.timezone.utc)),
        # The night they go back (25 October 2026): 08:00 GMT is 08:00 UTC.
        (dt.datetime(2026, 10, 24, 23, 30, tzinfo=dt.timezone.utc),
         dt.datetime(2026, 10, 25, 8, 0, tzinfo=dt.timezone.utc)),
    ],
)
def test_quiet_hours_hold_a_message_until_morning_across_dst(
    store: Any, night: dt.datetime, opens: dt.datetime
) -> None:
    sms = Sms()
    worker = Worker(make_carekit(sms), store)
    _acknowledged(store, at=night, channel="sms_quiet")
    report = worker.run_once(night + MINUTE)
    assert (report.sent, report.deferred) == (0, 1)
    assert report.attempts[0].retry_at == opens
    [entry] = store.outbox("order-1")
    assert (entry.status, entry.attempts, entry.next_attempt_at) == ("deferred", 0, opens)
    assert worker.run_once(opens - SECOND).idle
    assert worker.run_once(opens).sent == 1
    assert [k for k, _ in sms.sent] == ["order-1/order_thanks/2"]


def test_the_customers_zone_wins_over_the_channels(store: Any) -> None:
    # 23:00 UTC is 18:00 in New York: not quiet there, although it is in London.
    sms = Sms()
    worker = Worker(make_carekit(sms), store)
    evening = dt.datetime(2026, 3, 10, 23, 0, tzinfo=dt.timezone.utc)
    _acknowledged(store, at=evening, channel="sms_quiet", tz="America/New_York")
    assert worker.run_once(evening + MINUTE).sent == 1
    _acknowledged(store, "order-2", at=evening, channel="sms_quiet")
    assert worker.run_once(evening + MINUTE).deferred == 1


def test_a_delayed_satisfaction_check_goes_out_two_days_after_delivery(store: Any) -> None:
    email = RecordingChannel("email", register=False)
    worker = Worker(make_carekit(email), store)
    store.create(order_journey(), "order-1", at=T0, channel="email")
    steps = ["place", "acknowledge", "start_production", "near_completion", "ship", "deliver"]
    store.append("order-1", [
        Event(name, at=T0 + i * MINUTE, id=f"e{i}",
              data={"tracking_number": "1Z"} if name == "ship" else None)
        for i, name in enumerate(steps)
    ])
    delivered = T0 + 5 * MINUTE
    worker.run_once(delivered + HOUR)
    assert "satisfaction_check" not in email.names
    worker.run_once(delivered + dt.timedelta(days=2) - SECOND)
    assert "satisfaction_check" not in email.names
    worker.run_once(delivered + dt.timedelta(days=2))
    assert email.names[-1] == "satisfaction_check"


class CancelsAnother:
    """Delivers on email; delivering order-1's touchpoint cancels order-2 meanwhile."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.sent: list[str] = []

    @hookimpl
    def carekit_deliver_touchpoint(self, touchpoint: Any, idempotency_key: str) -> DeliveryResult:
        if touchpoint.journey_id == "order-1":
            self.store.append("order-2", Event("cancel", at=T0 + MINUTE, id="cancel"))
        self.sent.append(idempotency_key)
        return DeliveryResult()


def test_a_touchpoint_withdrawn_while_claimed_is_not_sent(store: Any) -> None:
    _acknowledged(store, "order-1")
    _acknowledged(store, "order-2", at=T0 + SECOND)
    plugin = CancelsAnother(store)
    report = Worker(make_carekit(plugin), store).run_once(T0 + HOUR)
    assert plugin.sent == ["order-1/order_thanks/2"]
    assert (report.sent, report.withdrawn) == (1, 1)
    assert {e.journey_id: e.status for e in store.outbox()} == {
        "order-1": "sent", "order-2": "withdrawn"
    }


def test_withdrawn_and_released_outcomes_get_their_log_line(
    store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Regression: one line per outcome, said the runtime's contract; a touchpoint withdrawn
    # while claimed and the claims a stopping worker gave back had none.
    _acknowledged(store, "order-1")
    _acknowledged(store, "order-2", at=T0 + SECOND)
    with caplog.at_level(logging.INFO, logger="carekit.worker"):
        Worker(make_carekit(CancelsAnother(store)), store).run_once(T0 + HOUR)
    lines = {r.key: (r.levelname, r.outcome) for r in caplog.records if hasattr(r, "key")}
    assert lines == {"order-1/order_thanks/2": ("INFO", "sent"),
                     "order-2/order_thanks/2": ("INFO", "withdrawn")}
    caplog.clear()
    for i in range(3):
        _acknowledged(store, f"o-{i}", at=T0 + (2 + i) * SECOND)
    stop = threading.Event()

    class StopsAtOnce:
        @hookimpl
        def carekit_deliver_touchpoint(self) -> DeliveryResult:
            stop.set()
            return DeliveryResult()

    worker = Worker(make_carekit(StopsAtOnce()), store, batch_size=3, timeout=None)
    with caplog.at_level(logging.INFO, logger="carekit.worker"):
        worker.run(stop, clock=lambda: T0 + HOUR, handle_signals=False)
    outcomes = sorted(r.outcome for r in caplog.records if hasattr(r, "key"))
    assert outcomes == ["released", "released", "sent"]
    passes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("pass at")]
    assert passes and passes[-1].endswith(")") and "released 2" in passes[-1]


def test_a_report_summary_names_released_claims_only_when_there_were_some() -> None:
    assert "released" not in WorkReport(fired=0, timers=(), attempts=(), errors=()).summary()
    report = WorkReport(fired=0, timers=(), attempts=(), errors=(), released=4)
    assert report.summary().endswith("withdrawn 0, released 4")


def test_a_mistyped_channel_is_answered_with_the_one_meant(store: Any) -> None:
    _acknowledged(store, channel="emial")
    email = RecordingChannel("email", register=False)
    report = Worker(make_carekit(email), store).run_once(T0 + HOUR)
    assert report.failed == 1
    assert "which no plugin provides" in report.errors[0]
    assert report.errors[0].endswith("did you mean 'email'?")
    assert (report.attempts[0].error or "").endswith("did you mean 'email'?")


class _RegistersKiosk:
    """Registers channel 'kiosk' but compares with a misspelt name: answers None."""

    @hookimpl
    def carekit_register_channels(self) -> list[Channel]:
        return [Channel(name="kiosk")]

    @hookimpl
    def carekit_deliver_touchpoint(self, channel: Channel) -> DeliveryResult | None:
        return DeliveryResult() if channel.name == "kisok" else None


def test_a_registered_channel_that_no_plugin_answers_for_says_what_to_check(
    store: Any,
) -> None:
    _acknowledged(store, "order-1", channel="kiosk")
    _acknowledged(store, "order-2", at=T0 + SECOND, channel="sms")  # built in, no plugin
    report = Worker(make_carekit(_RegistersKiosk()), store).run_once(T0 + HOUR)
    errors = {a.channel: a.error or "" for a in report.attempts}
    assert "compares channel.name with the name it registers" in errors["kiosk"]
    assert "register a channel plugin that implements" in errors["sms"]
    assert "compares channel.name" not in errors["sms"]


# -- plugins that misbehave ----------------------------------------------------------------


class _CancelledOwn:
    """A blocking plugin whose own asyncio code ends in CancelledError for one journey."""

    @hookimpl
    def carekit_deliver_touchpoint(self, touchpoint: Any) -> DeliveryResult:
        if touchpoint.journey_id == "o-0":
            raise asyncio.CancelledError
        return DeliveryResult()


def test_a_plugins_own_cancelled_error_fails_only_that_attempt(store: Any) -> None:
    # Regression: asyncio.CancelledError (a BaseException) from a blocking plugin aborted
    # the whole pass: the rest was released and run_once raised it.
    for i in range(3):
        _acknowledged(store, f"o-{i}", at=T0 + i * SECOND)
    # On the worker's own thread, then on its delivery thread (the retry a minute later).
    for timeout, now in ((None, T0 + HOUR), (dt.timedelta(seconds=5), T0 + 2 * HOUR)):
        report = Worker(make_carekit(_CancelledOwn()), store, timeout=timeout,
                        backoff=MINUTE).run_once(now)
        assert report.failed == 1 and "CancelledError" in (report.attempts[0].error or "")
    assert {e.journey_id: e.status for e in store.outbox()} == {
        "o-0": "failed", "o-1": "sent", "o-2": "sent"
    }


class Misbehaves:
    """Raises, hangs, answers nonsense or a UUID, per journey."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.release = threading.Event()

    @hookimpl
    def carekit_deliver_touchpoint(self, touchpoint: Any) -> Any:
        jid = touchpoint.journey_id
        self.calls.append(jid)
        if jid == "raises":
            raise RuntimeError("provider down")
        if jid == "hangs":
            self.release.wait(5)
            return DeliveryResult()
        if jid == "nonsense":
            return "ok"
        if jid == "no-bool":
            return DeliveryResult(delivered="no")  # type: ignore[arg-type]
        if jid == "uuid":
            return DeliveryResult(reference=uuid.UUID(int=7))  # type: ignore[arg-type]
        return DeliveryResult(reference="fine")


def test_a_misbehaving_plugin_fails_only_that_attempt(store: Any) -> None:
    for i, jid in enumerate(["raises", "hangs", "nonsense", "no-bool", "uuid", "ok"]):
        _acknowledged(store, jid, at=T0 + i * SECOND)
    plugin = Misbehaves()
    worker = Worker(make_carekit(plugin), store, timeout=dt.timedelta(milliseconds=200))
    started = time.monotonic()
    report = worker.run_once(T0 + HOUR)
    plugin.release.set()
    assert time.monotonic() - started < 3
    outcomes = {a.journey_id: (a.outcome, a.error) for a in report.attempts}
    assert outcomes["ok"] == ("sent", None)
    assert outcomes["uuid"][0] == "sent"
    for jid, words in [("raises", "RuntimeError: provider down"),
                       ("hangs", "did not answer within 0:00:00.200000; counted as a "
                                 "failed attempt (give the provider's client a timeout "
                                 "shorter than the worker's"),
                       ("nonsense", "expected a DeliveryResult or None"),
                       ("no-bool", "delivered must be True or False")]:
        assert outcomes[jid][0] == "failed"
        assert words in (outcomes[jid][1] or "")
    entries = {e.journey_id: e for e in store.outbox()}
    # Regression (r04): a UUID reference is kept as text by every store; nothing re-sent.
    assert entries["uuid"].reference == "00000000-0000-0000-0000-000000000007"
    assert {jid: e.status for jid, e in entries.items()} == {
        "raises": "failed", "hangs": "failed", "nonsense": "failed", "no-bool": "failed",
        "uuid": "sent", "ok": "sent",
    }


def test_a_bad_kit_or_a_broken_plugin_claims_nothing(store: Any) -> None:
    # Regression (r06): dispatch claimed the batch (an attempt used) before failing.
    _acknowledged(store)

    class Broken:
        @hookimpl
        def carekit_register_channels(self) -> list[Channel]:
            return [Channel("email")]  # a second "email": the kit cannot list its channels

    for kit, error in [(7, CareKitError), (None, CareKitError),
                       (make_carekit(Broken()), PluginError)]:
        with pytest.raises(error):
            dispatch(kit, store, now=T0 + HOUR)  # type: ignore[arg-type]
        with pytest.raises(error):
            Worker(kit, store)  # type: ignore[arg-type]
    assert [(e.status, e.attempts) for e in store.outbox()] == [("pending", 0)]


class Interrupts:
    """Delivers five touchpoints, then raises ``exc`` (Ctrl-C in the middle of a batch)."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        self.sent: list[str] = []

    @hookimpl
    def carekit_deliver_touchpoint(self, idempotency_key: str) -> DeliveryResult:
        if len(self.sent) == 5:
            raise self.exc
        self.sent.append(idempotency_key)
        return DeliveryResult(reference="ok")


@pytest.mark.parametrize("exc", [KeyboardInterrupt()])  # a plugin's SystemExit: see below
def test_an_interruption_mid_batch_resends_nothing_already_sent(
    store: Any, exc: BaseException
) -> None:
    # Regression (r07): nothing of the batch was recorded, so 5 delivered messages went out
    # again after the lease.
    for i in range(10):
        _acknowledged(store, f"o-{i}", at=T0 + i * SECOND)
    plugin = Interrupts(exc)
    with pytest.raises(type(exc)):
        Worker(make_carekit(plugin), store, timeout=None).run_once(T0 + HOUR)
    counts = store.outbox_counts()
    assert (counts["sent"], counts["failed"], counts["pending"]) == (5, 1, 4)
    again = RecordingChannel("email", register=False)
    dispatch(make_carekit(again), store, now=T0 + HOUR)  # no lease to wait out
    resent = {d.idempotency_key for d in again.deliveries}
    assert resent.isdisjoint(plugin.sent) and len(resent) == 4
    later = dispatch(make_carekit(again), store, now=T0 + 2 * HOUR)
    assert len(later.sent) == 1  # the one in flight, after its backoff


# -- slow providers and skewed clocks ------------------------------------------------------


class Slow:
    """Takes ``delay`` seconds per message and logs every key it is given."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.keys: list[str] = []
        self.lock = threading.Lock()

    @hookimpl
    def carekit_deliver_touchpoint(self, idempotency_key: str) -> DeliveryResult:
        time.sleep(self.delay)
        with self.lock:
            self.keys.append(idempotency_key)
        return DeliveryResult()


@pytest.mark.parametrize("skew", [dt.timedelta(0), dt.timedelta(minutes=10)])
def test_a_slow_provider_or_a_skewed_clock_sends_nothing_twice(
    tmp_path: pathlib.Path, skew: dt.timedelta
) -> None:
    # Regression (r05): a batch's lease was never renewed (a provider slower than the lease
    # over the batch made a second dispatcher re-send its tail), and a clock skew larger
    # than the lease re-sent almost everything. Claims are now extended as each outcome is
    # recorded, and timed on the store's clock.
    db = tmp_path / "slow.db"
    with SQLiteJourneyStore(db) as setup:
        for i in range(24):
            _acknowledged(setup, f"o-{i}", at=T0 + i * SECOND)
    plugin = Slow(0.04)
    kit = make_carekit(plugin)
    lease = dt.timedelta(milliseconds=300)  # a batch of 12 takes ~0.5 s
    stores = [SQLiteJourneyStore(db, busy_timeout=30) for _ in range(2)]
    workers = [Worker(kit, s, lease=lease, batch_size=12, timeout=None, claimant=f"w{k}")
               for k, s in enumerate(stores)]
    deadline = time.monotonic() + 20

    def work(k: int) -> None:
        while time.monotonic() < deadline:
            now = T0 + HOUR + (skew if k else dt.timedelta(0))
            if workers[k].run_once(now).idle and len(set(plugin.keys)) == 24:
                return
            time.sleep(0.01)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(plugin.keys) == len(set(plugin.keys)) == 24
    for s in stores:
        s.close()


# -- short leases -------------------------------------------------------------------------


def test_a_short_lease_works_without_a_timeout_and_a_crashed_workers_claim_is_taken_over(
    tmp_path: pathlib.Path,
) -> None:
    # Regression: the default 20 s timeout refused every lease of 20 s or less, so a worker
    # with a short lease could not be made without also giving a timeout.
    with SQLiteJourneyStore(tmp_path / "lease.db") as store:
        _acknowledged(store)
        # A worker claims the touchpoint, then crashes before recording anything.
        [claimed] = store.claim_due(now=T0 + HOUR, limit=10, lease=SECOND, claimant="crashed")
        email = RecordingChannel("email", register=False)
        worker = Worker(make_carekit(email), store, lease=SECOND, claimant="next")
        assert worker.timeout == SECOND / 2  # the default, halved to fit the lease
        assert worker.run_once(T0 + HOUR).sent == 0  # the claim still holds
        time.sleep(1.2)
        assert worker.run_once(T0 + HOUR).sent == 1  # taken over after the lease
        assert [d.idempotency_key for d in email.deliveries] == [claimed.idempotency_key]
        assert store.outbox_counts()["sent"] == 1


@pytest.mark.parametrize(
    ("lease", "timeout", "timeout_used"),
    [
        (dt.timedelta(seconds=30), None, dt.timedelta(seconds=20)),
        (dt.timedelta(seconds=21), None, dt.timedelta(seconds=20)),
        (dt.timedelta(seconds=20), None, dt.timedelta(seconds=10)),
        (5, None, dt.timedelta(seconds=2.5)),
        (SECOND, dt.timedelta(milliseconds=900), dt.timedelta(milliseconds=900)),
    ],
)
def test_the_default_timeout_fits_the_lease(
    lease: dt.timedelta | float, timeout: dt.timedelta | None, timeout_used: dt.timedelta
) -> None:
    options = {} if timeout is None else {"timeout": timeout}
    worker = Worker(make_carekit(), MemoryJourneyStore(), lease=lease, **options)
    assert worker.timeout == timeout_used


@pytest.mark.parametrize(
    ("lease", "timeout"),
    [(SECOND, SECOND), (SECOND, dt.timedelta(seconds=20)),
     (dt.timedelta(seconds=20), dt.timedelta(seconds=20))],
)
def test_a_timeout_given_must_be_shorter_than_the_lease(
    lease: dt.timedelta, timeout: dt.timedelta
) -> None:
    with pytest.raises(CareKitError, match=r"timeout \(.*\) must be shorter than lease"):
        Worker(make_carekit(), MemoryJourneyStore(), lease=lease, timeout=timeout)


# -- stopping, counters, logs --------------------------------------------------------------


def test_run_stops_on_the_event_and_after_max_passes(store: Any) -> None:
    _acknowledged(store)
    email = RecordingChannel("email", register=False)
    worker = Worker(make_carekit(email), store, poll=dt.timedelta(milliseconds=20))
    worker.run(clock=lambda: T0 + HOUR, max_passes=3)
    assert worker.counters["passes"] == 3 and email.names == ["order_thanks"]
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    worker.run(stop, clock=lambda: T0 + HOUR)
    assert time.monotonic() - started < 5
    with pytest.raises(CareKitError, match="stop must be a threading.Event"):
        worker.run(stop=5)  # type: ignore[arg-type]


def test_the_stop_event_set_mid_pass_releases_the_claims_not_started(store: Any) -> None:
    # Regression: run()'s ``stop`` (set by a server shutting down) was only looked at
    # between passes: the pass under way delivered its batch and claimed the next ones
    # until nothing was due.
    for i in range(6):
        _acknowledged(store, f"o-{i}", at=T0 + i * SECOND)
    stop = threading.Event()

    class StopsTheServer(Slow):
        @hookimpl
        def carekit_deliver_touchpoint(self, idempotency_key: str) -> DeliveryResult:
            stop.set()  # SIGTERM arrives while the first delivery is in flight
            return super().carekit_deliver_touchpoint(idempotency_key)

    plugin = StopsTheServer(0.01)
    worker = Worker(make_carekit(plugin), store, batch_size=2, timeout=None)
    worker.run(stop, clock=lambda: T0 + HOUR, handle_signals=False)
    assert plugin.keys == ["o-0/order_thanks/2"]
    assert (worker.counters["sent"], worker.counters["released"]) == (1, 1)
    assert (store.outbox_counts()["sent"], store.outbox_counts()["pending"]) == (1, 5)
    assert worker.run_once(T0 + HOUR).sent == 5  # run's event no longer stops a pass


@pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="needs POSIX signals")
def test_sigterm_finishes_the_delivery_in_flight_and_releases_the_rest(store: Any) -> None:
    for i in range(20):
        _acknowledged(store, f"o-{i}", at=T0 + i * SECOND)
    plugin = Slow(0.05)
    worker = Worker(make_carekit(plugin), store, batch_size=20, timeout=None)
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
    previous = signal.getsignal(signal.SIGTERM)
    worker.run(clock=lambda: T0 + HOUR)
    assert signal.getsignal(signal.SIGTERM) is previous  # put back
    counts = store.outbox_counts()
    assert counts["sent"] == len(plugin.keys) < 20
    assert counts["pending"] == 20 - len(plugin.keys)
    assert all(e.attempts == 0 for e in store.outbox(status="pending"))  # released unused
    rest = RecordingChannel("email", register=False)
    dispatch(make_carekit(rest), store, now=T0 + HOUR)
    assert {d.idempotency_key for d in rest.deliveries}.isdisjoint(plugin.keys)


def test_counters_and_structured_logs(store: Any, caplog: pytest.LogCaptureFixture) -> None:
    _acknowledged(store)
    store.create(order_journey(), "late", at=T0)
    store.append("late", Event("place", at=T0, id="x"))
    email = RecordingChannel("email", register=False, fail_times=1)
    worker = Worker(make_carekit(email), store, claimant="w-1")
    with caplog.at_level(logging.INFO, logger="carekit.worker"):
        worker.run_once(T0 + 2 * HOUR)
    c = worker.counters
    assert (c["passes"], c["fired"], c["failed"], c["sent"]) == (1, 1, 1, 0)
    assert c["lag_seconds"] == 0  # the failed one waits for its retry: not due
    [failed] = [r for r in caplog.records if getattr(r, "outcome", None) == "failed"]
    assert failed.__dict__["key"] == "order-1/order_thanks/2"
    assert (failed.__dict__["channel"], failed.__dict__["attempt"]) == ("email", 1)
    assert failed.__dict__["journey_id"] == "order-1"
    assert failed.levelno == logging.WARNING
    [fired] = [r for r in caplog.records if getattr(r, "outcome", None) == "fired"]
    assert fired.__dict__["key"] == "late/acknowledgement_overdue/1"
    [summary] = [r for r in caplog.records if getattr(r, "outcome", None) == "pass"]
    assert "fired 1, sent 0, failed 1" in summary.getMessage()
    worker.run_once(T0 + 4 * HOUR)
    assert worker.counters["sent"] == 1


def test_lag_counts_how_long_the_oldest_due_item_waited(store: Any) -> None:
    _acknowledged(store)
    worker = Worker(make_carekit(), store, default_channel=None)
    assert worker.counters["lag_seconds"] == 0
    store.create(order_journey(), "stuck", at=T0, channel="kiosk")  # no plugin: retried
    store.append("stuck", [Event("place", at=T0), Event("acknowledge", at=T0)])
    worker.run_once(T0 + 10 * MINUTE)
    # Both failed (no plugin for email or kiosk): waiting for their retry, not due now.
    assert worker.counters["lag_seconds"] == 0
    assert worker.counters["failed"] == 2


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"lease": dt.timedelta(0)}, "lease must be a positive duration"),
        ({"timeout": dt.timedelta(minutes=1)}, r"timeout \(0:01:00\) must be shorter than lease"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"poll": -1}, "poll must be a positive duration"),
        ({"claimant": ""}, "claimant must be a non-empty string or None"),
        ({"promise_checks": "yes"}, "promise_checks must be a PromiseChecks or None"),
        ({"max_attempts": 0}, "max_attempts must be an integer >= 1"),
    ],
)
def test_worker_arguments_are_checked(options: dict[str, Any], match: str) -> None:
    with pytest.raises(CareKitError, match=match):
        Worker(make_carekit(), MemoryJourneyStore(), **options)
    with pytest.raises(CareKitError, match="store must be a journey store"):
        Worker(make_carekit(), object())
    with pytest.raises(CareKitError, match="naive|timezone-aware"):
        Worker(make_carekit(), MemoryJourneyStore()).run_once(dt.datetime(2026, 3, 2))


# -- promises ------------------------------------------------------------------------------


def test_a_promise_at_risk_is_told_once_as_soon_as_known(store: Any) -> None:
    from carekit.promises import Promise

    email = RecordingChannel("email", register=False)
    worker = Worker(make_carekit(email), store, promise_checks=PromiseChecks(at=dt.time(7)))
    promise = Promise(ordered_at=T0, expected=dt.date(2026, 3, 4),
                      promised=dt.date(2026, 3, 5), padding=1, confidence=0.9)
    store.create(order_journey(), "order-1", at=T0, channel="email")
    store.append("order-1", [
        Event("place", at=T0, id="p", data={"promise": promise.to_dict()}),
        Event("acknowledge", at=T0 + MINUTE, id="a"),
    ])
    day = dt.timedelta(days=1)
    seen = []
    for k in range(8):  # a pass every six hours for two days: checks at 07:00 only
        now = T0 + k * 6 * HOUR
        report = worker.run_once(now)
        seen += [(now, t.event.name) for t in report.timers if t.event is not None]
    # The promise treats Wednesday as certain, so by Thursday (the promised day) it can
    # still be kept; not delivered by Friday's 07:00 check it is broken: told then, once.
    friday = dt.datetime(2026, 3, 6, 7, 0, tzinfo=dt.timezone.utc)
    for k in range(10):
        now = friday - 36 * HOUR + k * 6 * HOUR
        report = worker.run_once(now)
        seen += [(now, t.event.name) for t in report.timers if t.event is not None]
    assert [name for _, name in seen] == ["promise_at_risk"]
    assert seen[0][0] == friday
    assert "promise_at_risk_notice" in email.names
    assert worker.run_once(friday + 3 * day).idle


def test_promise_checks_stop_once_delivered(store: Any) -> None:
    from carekit.promises import Promise

    worker = Worker(make_carekit(RecordingChannel("email", register=False)), store)
    promise = Promise(ordered_at=T0, expected=dt.date(2026, 3, 4),
                      promised=dt.date(2026, 3, 5), padding=1, confidence=0.9)
    store.create(order_journey(), "order-1", at=T0, channel="email")
    names = ["acknowledge", "start_production", "near_completion", "ship", "deliver"]
    store.append("order-1", [Event("place", at=T0, id="p", data={"promise": promise.to_dict()})]
                 + [Event(n, at=T0 + MINUTE, id=n, data={"tracking_number": "1"})
                    for n in names])
    assert store.oldest_due(now=T0 + 30 * dt.timedelta(days=1)) is not None  # touchpoints
    report = worker.run_once(T0 + dt.timedelta(days=30))
    assert [t.kind for t in report.timers] == []  # delivered: no more checks


# -- what the worker asks the store after each delivery ------------------------------------


class _Spy:
    """A store that passes everything on and keeps each ``record`` call's keywords."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.calls: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def record(self, outcomes: Any, *, lease: Any = None, claimant: Any = None,
               holding: Any = None) -> frozenset[str]:
        self.calls.append({"n": len(outcomes), "lease": lease, "holding": holding})
        return self._store.record(outcomes, lease=lease, claimant=claimant,  # type: ignore[no-any-return]
                                  holding=holding)


class _Older(_Spy):
    """A store written before ``record`` took ``holding``."""

    def record(self, outcomes: Any, *, lease: Any = None,  # type: ignore[override]
               claimant: Any = None) -> frozenset[str]:
        self.calls.append({"n": len(outcomes), "lease": lease, "holding": None})
        return self._store.record(outcomes, lease=lease, claimant=claimant)  # type: ignore[no-any-return]


def test_after_each_delivery_the_worker_asks_about_the_next_touchpoint_only(
    store: Any,
) -> None:
    for i in range(3):
        _acknowledged(store, f"order-{i}", at=T0 + i * SECOND)
    spy = _Spy(store)
    email = RecordingChannel("email", register=False)
    assert Worker(make_carekit(email), spy).run_once(T0 + HOUR).sent == 3
    keys = [d.idempotency_key for d in email.deliveries]
    assert [c["holding"] for c in spy.calls] == [(keys[1],), (keys[2],), ()]
    # A 30 s lease is not extended between deliveries a few milliseconds apart.
    assert [c["lease"] for c in spy.calls] == [None, None, None]


def test_a_store_without_holding_still_gets_withdrawn_touchpoints_skipped(store: Any) -> None:
    _acknowledged(store, "order-1")
    _acknowledged(store, "order-2", at=T0 + SECOND)
    older = _Older(store)
    plugin = CancelsAnother(store)
    report = Worker(make_carekit(plugin), older).run_once(T0 + HOUR)
    assert plugin.sent == ["order-1/order_thanks/2"]
    assert (report.sent, report.withdrawn) == (1, 1)
    # Every record extends the claims and reads every claim held, as before.
    assert [c["lease"] for c in older.calls] == [dt.timedelta(seconds=30)]


def test_a_skipped_touchpoint_makes_the_worker_ask_about_the_one_after(store: Any) -> None:
    for i in range(4):
        _acknowledged(store, f"order-{i}", at=T0 + i * SECOND)
    plugin = CancelsAnother(store)  # order-1's delivery cancels order-2
    spy = _Spy(store)
    store.append("order-0", Event("cancel", at=T0 + MINUTE, id="x"))  # nothing owed now
    report = Worker(make_carekit(plugin), spy).run_once(T0 + HOUR)
    # order-1 is sent, order-2 withdrawn meanwhile: the worker asks about order-3 on its
    # own before sending it.
    assert plugin.sent == ["order-1/order_thanks/2", "order-3/order_thanks/2"]
    assert (report.sent, report.withdrawn) == (2, 1)
    assert [(c["n"], c["holding"]) for c in spy.calls] == [
        (1, ("order-2/order_thanks/2",)), (0, ("order-3/order_thanks/2",)), (1, ()),
    ]


class _Slow:
    """Delivers on email, slowly; halfway, a rival worker tries to claim."""

    def __init__(self, store: Any, delay: float) -> None:
        self.store, self.delay = store, delay
        self.rival: list[Any] = []
        self.sent: list[str] = []

    @hookimpl
    def carekit_deliver_touchpoint(self, touchpoint: Any, idempotency_key: str) -> DeliveryResult:
        time.sleep(self.delay)
        self.sent.append(idempotency_key)
        if len(self.sent) == 4:
            self.rival = self.store.claim_due(now=T0 + HOUR, limit=10, lease=SECOND,
                                              claimant="rival")
        return DeliveryResult()


def test_a_slow_batch_keeps_its_claims_alive_past_the_first_lease(store: Any) -> None:
    for i in range(6):
        _acknowledged(store, f"order-{i}", at=T0 + i * SECOND)
    plugin = _Slow(store, 0.3)  # six deliveries take 1.8 s, the lease is 1 s
    spy = _Spy(store)
    report = Worker(make_carekit(plugin), spy, lease=SECOND, timeout=None).run_once(T0 + HOUR)
    assert report.sent == 6 and len(set(plugin.sent)) == 6
    assert plugin.rival == []  # 1.2 s after the claim: the extended claims still held
    assert all(c["lease"] == SECOND for c in spy.calls)  # 0.3 s apart: each extends


@pytest.mark.parametrize(
    ("now", "end"),
    [(dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone.utc), "end"),
     (dt.datetime(1, 1, 1, 1, tzinfo=dt.timezone.utc), "start")],
)
def test_the_next_promise_check_beyond_the_datetime_range_is_a_carekit_error(
    now: dt.datetime, end: str
) -> None:
    # Found by tests/test_fuzz.py: an OverflowError escaped (the check falls on year 10000,
    # or the calendar's zone, west of UTC, puts year 1's first hour in year 0).
    from carekit.calendar import BusinessCalendar
    from carekit.promises import Promise

    promise = Promise(ordered_at=T0, expected=dt.date(2026, 3, 4), promised=dt.date(2026, 3, 5),
                      padding=1, confidence=0.9,
                      calendar=BusinessCalendar(tz="America/New_York"))
    with pytest.raises(CareKitError, match=f"too close to the {end} of the datetime range"):
        PromiseChecks(at=dt.time(23, 30)).next_check(promise, now)
    # a day before the end, the next check is found as usual
    day_before = dt.datetime(9999, 12, 29, 12, tzinfo=dt.timezone.utc)
    assert PromiseChecks(at=dt.time(7)).next_check(promise, day_before) > day_before


# -- the kit's journeys --------------------------------------------------------------------


def _callback_journey() -> Any:
    from carekit.journeys import Deadline, JourneyDefinition, State, Touchpoint, Transition

    return JourneyDefinition(
        "callback",
        [State("requested"), State("called", final=True), State("missed", final=True)],
        [Transition("call", "requested", "called"), Transition("miss", "requested", "missed")],
        touchpoints=[Touchpoint("callback_booked", "requested", 5 * MINUTE, channel="email")],
        deadlines=[Deadline("requested", HOUR, "miss")],
    )


class _CallbackJourneys:
    @hookimpl
    def carekit_register_journeys(self) -> list[Any]:
        return [_callback_journey()]


def test_a_store_opened_without_definitions_learns_the_kits_journeys(
    tmp_path: pathlib.Path,
) -> None:
    # The worker is handed the kit that registers the journey: a store opened elsewhere
    # (another process, the CLI) without definitions= still fires and delivers for it.
    path = tmp_path / "journeys.db"
    with SQLiteJourneyStore(path, definitions=[_callback_journey()]) as first:
        first.create("callback", "cb-1", at=T0)
        first.create("callback", "cb-2", at=T0)
    rec = RecordingChannel("email", register=False)
    kit = make_carekit(rec, _CallbackJourneys())
    with SQLiteJourneyStore(path) as store:
        report = kit.dispatch(store, now=T0 + MINUTE)
        assert len(report.sent) == 2 and not report.errors
    with SQLiteJourneyStore(path) as store:
        assert Worker(kit, store).run_once(T0 + 2 * HOUR).fired == 2
        assert store.load("cb-1").state == "missed"
    assert sorted(d.touchpoint.journey_id for d in rec.deliveries) == ["cb-1", "cb-2"]


def test_a_definition_the_store_knows_is_kept_over_the_kits() -> None:
    from carekit.journeys import JourneyDefinition, State, Transition

    own = JourneyDefinition("callback", [State("requested"), State("done", final=True)],
                            [Transition("finish", "requested", "done")])
    store = MemoryJourneyStore(definitions=[own])
    store.create("callback", "cb-1", at=T0)
    Worker(make_carekit(_CallbackJourneys()), store)
    assert store.append("cb-1", Event("finish", at=T0 + MINUTE)).state == "done"


def test_the_asyncio_worker_teaches_the_store_the_kits_journeys(tmp_path: pathlib.Path) -> None:
    import asyncio

    from carekit.journeys import aio

    path = tmp_path / "journeys.db"
    with SQLiteJourneyStore(path, definitions=[_callback_journey()]) as first:
        first.create("callback", "cb-1", at=T0)
    kit = make_carekit(RecordingChannel("email", register=False), _CallbackJourneys())

    async def main() -> int:
        store = aio.open_store(f"sqlite:///{path}")
        try:
            report = await aio.Worker(kit, store).run_once(T0 + 2 * HOUR)
        finally:
            await store.close()
        return report.fired + report.sent

    assert asyncio.run(main()) == 2


class Exits:
    """Calls ``sys.exit(3)`` for journey ``exits``; delivers the others."""

    @hookimpl
    def carekit_deliver_touchpoint(self, touchpoint: Any) -> DeliveryResult:
        if touchpoint.journey_id == "exits":
            raise SystemExit(3)
        return DeliveryResult(reference="fine")


@pytest.mark.parametrize("timeout", [None, dt.timedelta(seconds=5)])
def test_a_plugin_that_calls_sys_exit_fails_only_that_attempt(
    store: Any, timeout: dt.timedelta | None
) -> None:
    # Regression: a plugin's sys.exit(3) ended the whole worker (`carekit worker` exited
    # with status 3 and no log line), the other claims left leased.
    for i, jid in enumerate(["exits", "ok"]):
        _acknowledged(store, jid, at=T0 + i * SECOND)
    report = Worker(make_carekit(Exits()), store, timeout=timeout).run_once(T0 + HOUR)
    outcomes = {a.journey_id: (a.outcome, a.error) for a in report.attempts}
    assert outcomes["ok"] == ("sent", None)
    assert outcomes["exits"][0] == "failed"
    assert "raised SystemExit: 3" in (outcomes["exits"][1] or "")
    assert {e.journey_id: e.status for e in store.outbox()} == {"exits": "failed", "ok": "sent"}


def test_a_worker_delivers_on_its_usual_channel_without_the_checks_for_the_unusual(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The blocking worker looks its channel up itself: the checks for a channel no plugin
    # provides or one in its quiet hours run only when the channel is such a one.
    from carekit.journeys import worker as worker_module

    def refuse(*args: Any) -> Any:
        raise AssertionError("not for a known channel without quiet hours")

    email = RecordingChannel("email", register=False)
    store = MemoryJourneyStore()
    store.create_many(service_case_journey().start(f"c-{i}", at=T0, channel="email")
                      for i in range(3))
    worker = Worker(make_carekit(email), store, timeout=None, promise_checks=None)
    monkeypatch.setattr(worker_module.Worker, "_before", refuse)
    assert worker.run_once(T0 + HOUR).sent == 3
    assert len(email.deliveries) == 3
