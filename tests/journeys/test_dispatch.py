"""Dispatching owed touchpoints through channel plugins: delivery, retries, dead letters."""

from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from tests.journeys._store_helpers import (
    HOUR,
    MINUTE,
    STORE_KINDS,
    T0,
    make_store,
    order_events,
    ticket_journey,
)

from carekit import CareKit, CareKitError, hookimpl
from carekit.channels import Channel, DeliveryResult
from carekit.journeys import (
    DispatchReport,
    Event,
    MemoryJourneyStore,
    SQLiteJourneyStore,
    dispatch,
    order_journey,
)
from carekit.testing import RecordingChannel, make_carekit


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> Iterator[Any]:
    s = make_store(request.param, tmp_path)
    yield s
    s.close()


def _acknowledged(store: Any, journey_id: str = "order-1", channel: str | None = "email") -> None:
    store.create(order_journey(), journey_id, at=T0, channel=channel)
    store.append(journey_id, order_events()[:2])  # acknowledge owes order_thanks


def test_dispatch_delivers_with_the_touchpoints_idempotency_key(store: Any) -> None:
    email = RecordingChannel("email", register=False)
    kit = make_carekit(email)
    _acknowledged(store)
    report = kit.dispatch(store, now=T0 + 2 * MINUTE)
    assert isinstance(report, DispatchReport)
    assert [a.idempotency_key for a in report.sent] == ["order-1/order_thanks/2"]
    assert (report.failed, report.dead, report.errors, report.batches) == ((), (), (), 1)
    assert report.ok and report.attempted == 1
    [delivery] = email.deliveries
    assert delivery.idempotency_key == "order-1/order_thanks/2"
    assert delivery.touchpoint.name == "order_thanks"
    assert delivery.touchpoint.due == T0 + MINUTE + HOUR
    assert delivery.channel.name == "email"
    assert report.sent[0].reference == "email-1"
    assert store.load("order-1").owed == ()
    [entry] = store.outbox("order-1")
    assert (entry.status, entry.attempts, entry.reference) == ("sent", 1, "email-1")
    # Nothing is sent twice.
    again = kit.dispatch(store, now=T0 + HOUR)
    assert again.attempted == 0 and again.batches == 0
    assert len(email.attempts) == 1


def test_touchpoint_data_reaches_the_plugin(store: Any) -> None:
    email = RecordingChannel("email", register=False)
    store.create(order_journey(), "order-1", at=T0, channel="email")
    store.append("order-1", order_events()[:5])  # ship carries the tracking number
    dispatch(make_carekit(email), store, now=T0 + HOUR)
    shipped = [d for d in email.deliveries if d.touchpoint.name == "shipped_with_tracking"]
    assert shipped[0].touchpoint.data["tracking_number"] == "1Z999"
    assert email.names == ["order_thanks", "production_update", "shipped_with_tracking"]


def test_touchpoints_wait_until_they_are_owed(store: Any) -> None:
    email = RecordingChannel("email", register=False)
    _acknowledged(store)
    report = dispatch(make_carekit(email), store, now=T0)
    assert report.attempted == 0 and email.deliveries == []


def test_a_failing_plugin_is_retried_with_exponential_backoff(store: Any) -> None:
    email = RecordingChannel("email", register=False, fail_times=3)
    kit = make_carekit(email)
    _acknowledged(store)
    now = T0 + 2 * MINUTE
    waits = []
    for _ in range(3):
        report = dispatch(kit, store, now=now, backoff=MINUTE, max_attempts=5)
        [failed] = report.failed
        assert "simulated failure" in (failed.error or "")
        assert failed.retry_at is not None
        waits.append(failed.retry_at - now)
        # Not retried before its time.
        assert dispatch(kit, store, now=failed.retry_at - MINUTE / 2, backoff=MINUTE).attempted == 0
        now = failed.retry_at
    assert waits == [MINUTE, 2 * MINUTE, 4 * MINUTE]
    [entry] = store.outbox("order-1")
    assert (entry.status, entry.attempts) == ("failed", 3)
    assert "simulated failure 3 of 3" in (entry.last_error or "")
    report = dispatch(kit, store, now=now, backoff=MINUTE, max_attempts=5)
    assert [a.attempt for a in report.sent] == [4]
    assert {d.idempotency_key for d in email.attempts} == {"order-1/order_thanks/2"}
    assert len(email.deliveries) == 1


def test_backoff_is_capped(store: Any) -> None:
    email = RecordingChannel("email", register=False, fail_times=10)
    kit = make_carekit(email)
    _acknowledged(store)
    now = T0 + 2 * MINUTE
    for _ in range(4):
        report = dispatch(kit, store, now=now, backoff=HOUR, max_backoff=2 * HOUR,
                          max_attempts=10)
        retry_at = report.failed[0].retry_at
        assert retry_at is not None and retry_at - now <= 2 * HOUR
        now = retry_at


def test_after_max_attempts_the_touchpoint_is_dead_and_overdue(store: Any) -> None:
    email = RecordingChannel("email", register=False, fail_times=99)
    kit = make_carekit(email)
    _acknowledged(store)
    now = T0 + 2 * MINUTE
    for _ in range(2):
        report = dispatch(kit, store, now=now, max_attempts=3, backoff=MINUTE)
        now = report.failed[0].retry_at
    report = dispatch(kit, store, now=now, max_attempts=3, backoff=MINUTE)
    [dead] = report.dead
    assert dead.attempt == 3 and "gave up after 3 attempt(s)" in (dead.error or "")
    assert not report.ok
    journey = store.load("order-1")
    assert journey.owed == ()
    late = [o for o in journey.overdue(now) if o.kind == "touchpoint"]
    assert [(o.name, o.dead) for o in late] == [("order_thanks", True)]
    assert "gave up" in (late[0].reason or "")
    assert dispatch(kit, store, now=now + HOUR).attempted == 0
    assert len(email.attempts) == 3


def test_a_channel_no_plugin_provides_is_reported_not_raised(store: Any) -> None:
    kit = make_carekit()
    _acknowledged(store, channel="pigeon")
    report = dispatch(kit, store, now=T0 + 2 * MINUTE, max_attempts=2, backoff=MINUTE)
    assert len(report.failed) == 1
    assert "'pigeon', which no plugin provides" in report.errors[0]
    report = dispatch(kit, store, now=T0 + HOUR, max_attempts=2, backoff=MINUTE)
    assert len(report.dead) == 1 and len(report.errors) == 1
    assert store.outbox("order-1")[0].status == "dead"


def test_a_channel_nobody_delivers_on_is_reported(store: Any) -> None:
    # The built-in channels exist, but without a delivering plugin nothing can be sent.
    kit = make_carekit()
    _acknowledged(store, channel="sms")
    report = dispatch(kit, store, now=T0 + 2 * MINUTE)
    assert "no plugin delivers touchpoints on channel 'sms'" in report.errors[0]
    assert report.failed[0].channel == "sms"


def test_a_journey_without_a_channel_uses_the_default(store: Any) -> None:
    email = RecordingChannel("email", register=False)
    sms = RecordingChannel("sms", register=False)
    _acknowledged(store, "order-1", channel=None)
    _acknowledged(store, "order-2", channel=None)
    dispatch(make_carekit(email, sms), store, now=T0 + 2 * MINUTE, max_batches=1, batch_size=1)
    dispatch(make_carekit(email, sms), store, now=T0 + 2 * MINUTE, default_channel="sms")
    assert [d.touchpoint.journey_id for d in email.deliveries] == ["order-1"]
    assert [d.touchpoint.journey_id for d in sms.deliveries] == ["order-2"]


def test_no_channel_anywhere_is_reported_and_retried(store: Any) -> None:
    email = RecordingChannel("email", register=False)
    _acknowledged(store, channel=None)
    report = dispatch(make_carekit(email), store, now=T0 + 2 * MINUTE, default_channel=None)
    assert "names no channel, nor does its journey, and no default_channel is set" in (
        report.errors[0])
    assert report.failed[0].channel == "" and report.dead == ()
    assert email.deliveries == []
    # Retried later, with a channel this time: delivered.
    later = dispatch(make_carekit(email), store, now=T0 + HOUR)
    assert [a.channel for a in later.sent] == ["email"]


class Declines:
    @hookimpl
    def carekit_deliver_touchpoint(self, channel: Channel) -> DeliveryResult | None:
        return DeliveryResult(delivered=False) if channel.name == "email" else None


def test_a_declined_delivery_is_dead_at_once(store: Any) -> None:
    _acknowledged(store)
    report = dispatch(make_carekit(Declines()), store, now=T0 + 2 * MINUTE)
    assert "declined" in (report.dead[0].error or "")
    assert store.load("order-1").overdue(T0 + 2 * MINUTE)[0].dead


class ReturnsNonsense:
    @hookimpl
    def carekit_deliver_touchpoint(self) -> object:
        return "ok"


def test_a_plugin_returning_nonsense_is_a_failed_attempt(store: Any) -> None:
    _acknowledged(store)
    report = dispatch(make_carekit(ReturnsNonsense()), store, now=T0 + 2 * MINUTE)
    assert "expected a DeliveryResult" in (report.failed[0].error or "")


class Crash(BaseException):
    """The process dying between a plugin's success and the store's record of it."""


class CrashAfterSending:
    def __init__(self, email: RecordingChannel) -> None:
        self.email = email
        self.crash = True

    @hookimpl(wrapper=True)
    def carekit_deliver_touchpoint(self) -> Any:
        result = yield
        if self.crash:
            raise Crash
        return result


def test_an_interruption_after_sending_is_a_failed_attempt_resent_with_the_same_key(
    store: Any,
) -> None:
    # A BaseException from a plugin (Ctrl-C, SystemExit) in a process that goes on: the
    # attempt in flight is recorded as failed (whether it left is unknown), so it is sent
    # again after the backoff, under the same key; nothing waits for a lease.
    email = RecordingChannel("email", register=False)
    crasher = CrashAfterSending(email)
    kit = make_carekit(email, crasher)
    _acknowledged(store)
    now = T0 + 2 * MINUTE
    with pytest.raises(Crash):
        dispatch(kit, store, now=now, lease=5 * MINUTE)
    assert [d.idempotency_key for d in email.attempts] == ["order-1/order_thanks/2"]
    [entry] = store.outbox("order-1")
    assert (entry.status, entry.attempts, entry.last_error) == ("failed", 1, "interrupted")
    crasher.crash = False
    assert dispatch(kit, store, now=now + MINUTE / 2).attempted == 0
    report = dispatch(kit, store, now=now + MINUTE)
    assert [a.idempotency_key for a in report.sent] == ["order-1/order_thanks/2"]
    assert [d.idempotency_key for d in email.attempts] == ["order-1/order_thanks/2"] * 2
    assert len(email.deliveries) == 1  # a provider honouring keys delivered it once


def test_a_dead_dispatchers_claim_is_taken_over_after_the_lease(tmp_path: pathlib.Path) -> None:
    # A dispatcher that dies with its claim held (no chance to record): the lease is timed
    # on the store's clock, so another takes the touchpoint over once it has run out.
    clock = [1_000.0]
    for store in (
        MemoryJourneyStore(definitions=[ticket_journey()], clock=lambda: clock[0]),
        SQLiteJourneyStore(tmp_path / "lease.db", clock=lambda: clock[0]),
    ):
        _acknowledged(store)
        [claimed] = store.claim_due(now=T0 + HOUR, limit=10, lease=5 * MINUTE, claimant="dead")
        email = RecordingChannel("email", register=False)
        kit = make_carekit(email)
        assert dispatch(kit, store, now=T0 + 2 * HOUR).attempted == 0
        clock[0] += 5 * 60
        report = dispatch(kit, store, now=T0 + HOUR)
        assert [(a.idempotency_key, a.attempt) for a in report.sent] == [
            (claimed.idempotency_key, 2)
        ]
        store.close()


def test_dispatch_batches_and_stops_at_max_batches(store: Any) -> None:
    email = RecordingChannel("email", register=False)
    for i in range(7):
        _acknowledged(store, f"order-{i}")
    kit = make_carekit(email)
    report = dispatch(kit, store, now=T0 + 2 * MINUTE, batch_size=3, max_batches=2)
    assert (len(report.sent), report.batches) == (6, 2)
    report = dispatch(kit, store, now=T0 + 2 * MINUTE, batch_size=3)
    assert (len(report.sent), report.batches) == (1, 1)
    assert report.summary() == "sent 1, failed 0, dead 0, errors 0 in 1 batch(es)"


def test_two_dispatchers_on_one_file_never_send_twice(tmp_path: pathlib.Path) -> None:
    first = make_store("sqlite", tmp_path)
    second = make_store("sqlite", tmp_path)
    for i in range(10):
        _acknowledged(first, f"order-{i}")
    a, b = RecordingChannel("email", register=False), RecordingChannel("email", register=False)
    kit_a, kit_b = make_carekit(a), make_carekit(b)
    now = T0 + 2 * MINUTE
    ra = dispatch(kit_a, first, now=now, batch_size=4, max_batches=1)
    rb = dispatch(kit_b, second, now=now, batch_size=4)
    ra2 = dispatch(kit_a, first, now=now)
    keys = [d.idempotency_key for d in a.attempts + b.attempts]
    assert len(keys) == len(set(keys)) == 10
    assert len(ra.sent) + len(rb.sent) + len(ra2.sent) == 10
    first.close()
    second.close()


@pytest.mark.parametrize(
    ("option", "value"),
    [("max_attempts", 0), ("backoff", -1), ("lease", 0), ("batch_size", 0), ("max_batches", 0)],
)
def test_bad_options_are_clear_errors(store: Any, option: str, value: object) -> None:
    with pytest.raises(CareKitError, match=option):
        dispatch(make_carekit(), store, now=T0, **{option: value})


def test_now_must_be_aware_and_store_a_store(store: Any) -> None:
    with pytest.raises(CareKitError, match="timezone-aware"):
        dispatch(make_carekit(), store, now=dt.datetime(2026, 3, 2))
    with pytest.raises(CareKitError, match="journey store"):
        dispatch(make_carekit(), object(), now=T0)  # type: ignore[arg-type]


def test_delivery_then_events_keeps_the_delivery_after_reload(store: Any) -> None:
    email = RecordingChannel("email", register=False)
    _acknowledged(store)
    dispatch(make_carekit(email), store, now=T0 + 2 * MINUTE)
    store.append("order-1", [Event("start_production", at=T0 + 3 * MINUTE),
                             Event("near_completion", at=T0 + 4 * MINUTE)])
    journey = store.load("order-1")
    assert [t.name for t in journey.owed] == ["production_update"]
    assert [o.name for o in journey.overdue(T0 + 10 * HOUR)] == ["production_update"]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (
            {"now": dt.datetime.max.replace(tzinfo=dt.timezone.utc)},
            r"now \+ max_backoff is past the last datetime Python can represent \(year 9999; "
            r"now=9999-12-31T23:59:59.999999\+00:00, max_backoff=6:00:00\); "
            r"pass an earlier now or a shorter max_backoff",
        ),
        (
            {"now": dt.datetime.max.replace(tzinfo=dt.timezone(dt.timedelta(hours=14)))},
            r"now \+ max_backoff is past .*now=9999-12-31T23:59:59.999999\+14:00",
        ),
        (
            {"now": T0, "lease": dt.timedelta.max},
            r"lease must be at most 366 days \(got 999999999 days, 23:59:59.999999\)",
        ),
        (
            {"now": T0, "max_backoff": dt.timedelta.max},
            r"now \+ max_backoff is past the last datetime .*shorter max_backoff",
        ),
        (
            {"now": T0 + HOUR, "batch_size": 2**63},
            r"batch_size must be at most 1,000,000 touchpoints \(got 9223372036854775808\)",
        ),
        (
            {"now": T0 + HOUR, "batch_size": 1_000_001},
            r"batch_size must be at most 1,000,000 touchpoints \(got 1000001\)",
        ),
    ],
)
def test_times_and_batches_out_of_range_are_clear_errors(
    store: Any, options: dict[str, Any], match: str
) -> None:
    # Regression: OverflowError (date value out of range; in SQLite, also "Python int too
    # large to convert to SQLite INTEGER"), with one touchpoint due.
    email = RecordingChannel("email", register=False)
    _acknowledged(store)
    with pytest.raises(CareKitError, match=match):
        CareKit(load_entrypoints=False).dispatch(store, **options)
    with pytest.raises(CareKitError, match=match):
        dispatch(make_carekit(email), store, **options)
    assert email.attempts == []
    assert [e.attempts for e in store.outbox("order-1")] == [0]


def test_the_latest_now_that_leaves_room_for_lease_and_backoff_works(store: Any) -> None:
    email = RecordingChannel("email", register=False, fail_times=1)
    _acknowledged(store)
    now = dt.datetime.max.replace(tzinfo=dt.timezone.utc) - dt.timedelta(hours=6)
    report = dispatch(make_carekit(email), store, now=now, batch_size=1_000_000)
    [failed] = report.failed
    assert failed.retry_at == now + MINUTE


class Answers:
    """Delivers every touchpoint, recording that it did."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.keys: list[str] = []

    @hookimpl
    def carekit_deliver_touchpoint(self, idempotency_key: str) -> DeliveryResult:
        self.keys.append(idempotency_key)
        return DeliveryResult(delivered=True, reference=self.label)


class Refuses:
    @hookimpl
    def carekit_deliver_touchpoint(self, touchpoint: Any, channel: Channel) -> None:
        raise NotImplementedError("kiosk only")


def test_delivery_failures_name_the_plugin(store: Any) -> None:
    now = T0 + 2 * MINUTE
    _acknowledged(store)
    kit = make_carekit()
    kit.register(Refuses(), "kiosk")
    [failed] = dispatch(kit, store, now=now).failed
    assert failed.error == "plugin 'kiosk' raised NotImplementedError: kiosk only"
    kit = make_carekit()
    kit.register(ReturnsNonsense(), "nonsense")
    [failed] = dispatch(kit, store, now=now + HOUR).failed
    assert (failed.error or "").startswith("plugin 'nonsense' returned 'ok' from carekit_deliv")
    kit = make_carekit()
    kit.register(Declines(), "opt-out")
    [dead] = dispatch(kit, store, now=now + 2 * HOUR).dead
    assert (dead.error or "").startswith("plugin 'opt-out', delivering channel 'email', declined")


def test_the_first_answer_wins_in_pluggys_order(store: Any) -> None:
    # pluggy calls the last registered implementation first; tryfirst goes before it.
    _acknowledged(store)
    first, second = Answers("first"), Answers("second")
    kit = make_carekit(first, second)
    [sent] = dispatch(kit, store, now=T0 + 2 * MINUTE).sent
    assert (sent.reference, first.keys, second.keys) == ("second", [], ["order-1/order_thanks/2"])

    class Eager(Answers):
        @hookimpl(tryfirst=True)
        def carekit_deliver_touchpoint(self, idempotency_key: str) -> DeliveryResult:
            return super().carekit_deliver_touchpoint(idempotency_key)

    _acknowledged(store, "order-2")
    eager = Eager("eager")
    kit = make_carekit(eager, Answers("late"))
    [sent] = dispatch(kit, store, now=T0 + 2 * MINUTE).sent
    assert (sent.reference, eager.keys) == ("eager", ["order-2/order_thanks/2"])


def test_hook_arguments_with_defaults_are_passed_as_pluggy_passes_them(store: Any) -> None:
    # pluggy passes a parameter that has a default when the hook call provides it; carekit
    # calls each implementation through pluggy, so the key still arrives (and call
    # monitoring still sees the call).
    class Defaults:
        def __init__(self) -> None:
            self.keys: list[str | None] = []

        @hookimpl
        def carekit_deliver_touchpoint(
            self, touchpoint: Any, channel: Channel, idempotency_key: str | None = None
        ) -> DeliveryResult:
            self.keys.append(idempotency_key)
            return DeliveryResult(delivered=True)

    _acknowledged(store)
    plugin = Defaults()
    kit = make_carekit(plugin)
    seen: list[str] = []
    undo = kit.plugin_manager.add_hookcall_monitoring(
        lambda name, impls, kwargs: seen.append(name), lambda *args: None
    )
    dispatch(kit, store, now=T0 + 2 * MINUTE)
    undo()
    assert "carekit_deliver_touchpoint" in seen
    # Exactly what a plain pluggy hook call passes (the key, with the pluggy in use here).
    kit.hook.carekit_deliver_touchpoint(
        touchpoint=None, channel=kit.channel("email"), idempotency_key="order-1/order_thanks/2"
    )
    assert plugin.keys[0] == plugin.keys[1]


def test_with_a_hook_wrapper_the_answer_is_not_attributed(store: Any) -> None:
    class Wrapper:
        @hookimpl(wrapper=True)
        def carekit_deliver_touchpoint(self) -> Any:
            return (yield)

    _acknowledged(store)
    kit = make_carekit(Wrapper(), Declines())
    [dead] = dispatch(kit, store, now=T0 + 2 * MINUTE).dead
    assert (dead.error or "").startswith("a plugin, delivering channel 'email', declined it")
