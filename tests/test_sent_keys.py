"""Durable dedupe offered to channel plugins: ``sent_keys`` in ``carekit_deliver_touchpoint``.

Both workers hand a plugin that declares ``sent_keys`` a :class:`SentKeys` bound to their
store; notes outlive the worker, so a delivery whose outcome was lost (the worker died
between the provider's "accepted" and the record) is not sent again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import warnings
from typing import Any

import pytest

from carekit import CareKitError, hookimpl
from carekit.channels import Channel, DeliveryResult, SentKeys
from carekit.journeys import (
    Event,
    MemoryJourneyStore,
    SQLiteJourneyStore,
    Worker,
    aio,
    order_journey,
)
from carekit.testing import deliver, make_carekit, owed_touchpoint, sent_keys

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
KEY = "order-1/order_thanks/2"


class Provider:
    """A provider that does not deduplicate: it counts every message it is handed."""

    def __init__(self) -> None:
        self.messages: list[str] = []


class NoteAfter:
    """A blocking plugin that notes each key after its provider took the message."""

    def __init__(self, provider: Provider, channel: str = "email") -> None:
        self.provider = provider
        self.name = channel
        self.given: list[Any] = []

    @hookimpl
    def carekit_deliver_touchpoint(
        self, touchpoint: Any, channel: Channel, idempotency_key: str, sent_keys: Any
    ) -> DeliveryResult | None:
        if channel.name != self.name:
            return None
        self.given.append(sent_keys)
        note = sent_keys.seen(idempotency_key)
        if note is not None:
            return DeliveryResult(reference=note.reference)
        self.provider.messages.append(idempotency_key)
        reference = f"msg-{len(self.provider.messages)}"
        sent_keys.remember(idempotency_key, reference=reference)
        return DeliveryResult(reference=reference)


class AsyncNoteBefore:
    """A coroutine plugin that notes each key before sending (at most once)."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    @hookimpl
    async def carekit_deliver_touchpoint(
        self, touchpoint: Any, channel: Channel, idempotency_key: str, sent_keys: Any
    ) -> DeliveryResult | None:
        if channel.name != "email":
            return None
        if not await sent_keys.remember_async(idempotency_key, reference="pre"):
            note = await sent_keys.seen_async(idempotency_key)
            return DeliveryResult(reference=note.reference)
        await asyncio.sleep(0)
        self.provider.messages.append(idempotency_key)
        return DeliveryResult(reference="pre")


class LoseFirstRecord:
    """A store whose first ``record`` is lost: the worker dies before the outcome lands."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.lost = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def record(self, outcomes: Any, **kwargs: Any) -> Any:
        if self.lost == 0 and any(o.status == "sent" for o in outcomes):
            self.lost += 1
            raise KeyboardInterrupt("the worker died before recording the outcome")
        return self.store.record(outcomes, **kwargs)


def _owing(store: Any) -> None:
    store.create(order_journey(), "order-1", at=T0, customer_id="c-1", channel="email")
    store.append("order-1", [Event("place", at=T0, id="p"), Event("acknowledge", at=T0, id="a")])


# -- the blocking worker ---------------------------------------------------------------------


def test_the_worker_hands_a_plugin_sent_keys_bound_to_its_store(tmp_path: Any) -> None:
    store = SQLiteJourneyStore(tmp_path / "j.db")
    _owing(store)
    provider = Provider()
    plugin = NoteAfter(provider)
    report = Worker(make_carekit(plugin), store).run_once(T0 + dt.timedelta(minutes=1))
    assert report.sent == 1
    given = plugin.given[0]
    assert isinstance(given, SentKeys)
    assert given.store is store and given.channel == "email"
    assert given.at == T0 + dt.timedelta(minutes=1)
    note = store.sent_key(KEY)
    assert note is not None
    assert (note.channel, note.reference, note.at) == ("email", "msg-1", given.at)
    store.close()


def _owing_on(store: Any, journey_id: str, channel: str, at: dt.datetime) -> None:
    store.create(order_journey(), journey_id, at=at, channel=channel)
    store.append(journey_id, [Event("place", at=at, id=f"p-{journey_id}"),
                              Event("acknowledge", at=at, id=f"a-{journey_id}")])


@pytest.mark.parametrize("kind", ["blocking", "asyncio"])
def test_each_delivery_gets_sent_keys_for_its_channel_and_pass(kind: str) -> None:
    # The workers make one SentKeys per channel and pass (they hold no state): each
    # delivery must still see its own channel and its own pass's time, as when one was
    # made per delivery.
    store = MemoryJourneyStore()
    email, sms = NoteAfter(Provider(), "email"), NoteAfter(Provider(), "sms")
    kit = make_carekit(email, sms)
    later = T0 + dt.timedelta(hours=1)
    for i, channel in enumerate(["email", "sms", "email", "sms"]):
        _owing_on(store, f"order-{i}", channel, T0)

    handed: Any = store
    if kind == "blocking":
        worker: Any = Worker(kit, store, batch_size=2)
        first = worker.run_once(T0)
        _owing_on(store, "order-9", "email", later)
        second = worker.run_once(later)
    else:
        handed = aio.ThreadedStore(store)

        async def main() -> tuple[Any, Any]:
            worker = aio.Worker(kit, handed, batch_size=2)
            first = await worker.run_once(T0)
            _owing_on(store, "order-9", "email", later)
            return first, await worker.run_once(later)

        first, second = asyncio.run(main())
    assert (first.sent, second.sent) == (4, 1)
    assert [(k.channel, k.at) for k in email.given] == [("email", T0)] * 2 + [("email", later)]
    assert [(k.channel, k.at) for k in sms.given] == [("sms", T0)] * 2
    assert all(k.store is handed for k in email.given + sms.given)
    notes = {key: store.sent_key(key) for key in email.provider.messages + sms.provider.messages}
    assert sorted((n.channel, n.at) for n in notes.values()) == sorted(
        [("email", T0)] * 2 + [("sms", T0)] * 2 + [("email", later)]
    )


def test_a_lost_outcome_is_not_sent_again(tmp_path: Any) -> None:
    # The plugin sent and noted the key; the worker died before recording "sent". After the
    # lease the touchpoint is claimed again and the plugin finds its note: one message.
    clock = [time.time()]
    path = tmp_path / "j.db"
    store = SQLiteJourneyStore(path, clock=lambda: clock[0])
    _owing(store)
    provider = Provider()
    flaky = LoseFirstRecord(store)
    with pytest.raises(KeyboardInterrupt):
        Worker(make_carekit(NoteAfter(provider)), flaky).run_once(T0 + dt.timedelta(minutes=1))
    assert provider.messages == [KEY]
    assert store.outbox_counts()["sent"] == 0  # the outcome was lost
    clock[0] += 31  # the dead worker's 30-second lease runs out
    report = Worker(make_carekit(NoteAfter(provider)), store).run_once(
        T0 + dt.timedelta(minutes=2)
    )
    assert report.sent == 1
    assert provider.messages == [KEY]  # not sent twice
    assert store.outbox("order-1")[0].reference == "msg-1"  # the first send's reference
    store.close()


def test_without_sent_keys_the_same_loss_sends_twice(tmp_path: Any) -> None:
    # The reference point: a plugin that keeps no notes re-sends after a lost outcome.
    clock = [time.time()]
    store = SQLiteJourneyStore(tmp_path / "j.db", clock=lambda: clock[0])
    _owing(store)
    sent: list[str] = []

    class Forgetful:
        @hookimpl
        def carekit_deliver_touchpoint(self, idempotency_key: str) -> DeliveryResult:
            sent.append(idempotency_key)
            return DeliveryResult()

    with pytest.raises(KeyboardInterrupt):
        Worker(make_carekit(Forgetful()), LoseFirstRecord(store)).run_once(T0)
    clock[0] += 31
    Worker(make_carekit(Forgetful()), store).run_once(T0)
    assert sent == [KEY, KEY]
    store.close()


def test_a_plugin_that_does_not_declare_sent_keys_is_unaffected() -> None:
    store = MemoryJourneyStore()
    _owing(store)
    seen: list[tuple[str, ...]] = []

    class Plain:
        @hookimpl
        def carekit_deliver_touchpoint(self, touchpoint: Any, idempotency_key: str) -> Any:
            seen.append((touchpoint.name, idempotency_key))
            return DeliveryResult()

    assert Worker(make_carekit(Plain()), store).run_once(T0).sent == 1
    assert seen == [("order_thanks", KEY)]
    assert store.sent_key(KEY) is None


def test_a_direct_hook_call_without_sent_keys_gives_none_and_no_warning() -> None:
    got: list[Any] = []

    class Wants:
        @hookimpl
        def carekit_deliver_touchpoint(self, channel: Channel, sent_keys: Any) -> Any:
            got.append(sent_keys)
            return DeliveryResult()

    kit = make_carekit(Wants())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = kit.hook.carekit_deliver_touchpoint(
            touchpoint=owed_touchpoint("order_thanks"), channel=kit.channel("email"),
            idempotency_key=KEY,
        )
    assert result == DeliveryResult() and got == [None]


def test_dispatch_hands_sent_keys_too() -> None:
    store = MemoryJourneyStore()
    _owing(store)
    provider = Provider()
    kit = make_carekit(NoteAfter(provider))
    assert len(kit.dispatch(store, now=T0).sent) == 1
    assert store.sent_key(KEY).reference == "msg-1"


def test_a_coroutine_plugin_under_the_blocking_worker_awaits_the_notes() -> None:
    store = MemoryJourneyStore()
    _owing(store)
    provider = Provider()
    report = Worker(make_carekit(AsyncNoteBefore(provider)), store).run_once(T0)
    assert report.sent == 1 and provider.messages == [KEY]
    assert store.sent_key(KEY).reference == "pre"


# -- the asyncio worker ----------------------------------------------------------------------


class AsyncOnly:
    """An asyncio store with no blocking store inside (as PostgreSQL's asyncio store)."""

    def __init__(self, store: Any) -> None:
        self._inner = store

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        return call

    async def sent_key(self, key: str) -> Any:
        return await asyncio.to_thread(self._inner.sent_key, key)

    async def remember_sent(self, key: str, **kwargs: Any) -> bool:
        result: bool = await asyncio.to_thread(self._inner.remember_sent, key, **kwargs)
        return result


@pytest.mark.parametrize("face", ["threaded", "async-only"])
def test_the_asyncio_worker_hands_sent_keys_to_both_kinds_of_plugin(face: str) -> None:
    blocking = MemoryJourneyStore()
    _owing(blocking)
    store = aio.ThreadedStore(blocking) if face == "threaded" else AsyncOnly(blocking)
    provider = Provider()
    plugin = NoteAfter(provider)  # blocking: runs in a thread, calls seen()/remember()

    async def main() -> Any:
        worker = aio.Worker(make_carekit(plugin), store)
        return await worker.run_once(T0)

    report = asyncio.run(main())
    assert report.sent == 1 and provider.messages == [KEY]
    assert blocking.sent_key(KEY).reference == "msg-1"
    assert plugin.given[0].store is store


def test_the_asyncio_worker_and_a_coroutine_plugin_with_a_lost_outcome() -> None:
    clock = [time.time()]
    blocking = MemoryJourneyStore(clock=lambda: clock[0])
    _owing(blocking)
    provider = Provider()

    class LosingThreaded(aio.ThreadedStore):
        lost = False

        async def record(self, outcomes: Any, **kwargs: Any) -> Any:
            if not self.lost and any(o.status == "sent" for o in outcomes):
                self.lost = True
                raise ConnectionResetError("the database went away before the record")
            return await super().record(outcomes, **kwargs)

    async def main() -> Any:
        with pytest.raises(ConnectionResetError):
            await aio.Worker(make_carekit(AsyncNoteBefore(provider)),
                             LosingThreaded(blocking)).run_once(T0)
        clock[0] += 31
        return await aio.Worker(make_carekit(AsyncNoteBefore(provider)),
                                aio.ThreadedStore(blocking)).run_once(T0)

    report = asyncio.run(main())
    assert report.sent == 1 and provider.messages == [KEY]


def test_blocking_calls_on_the_event_loop_with_an_asyncio_store_are_refused() -> None:
    store = AsyncOnly(MemoryJourneyStore())

    async def main() -> None:
        sent = SentKeys(store, at=T0, loop=asyncio.get_running_loop())
        with pytest.raises(CareKitError, match=r"await sent_keys.seen_async"):
            sent.seen(KEY)
        with pytest.raises(CareKitError, match=r"await sent_keys.remember_async"):
            sent.remember(KEY)
        assert await sent.remember_async(KEY) is True
        assert (await sent.seen_async(KEY)).idempotency_key == KEY

    asyncio.run(main())


def test_blocking_calls_with_an_asyncio_store_need_its_loop() -> None:
    sent = SentKeys(AsyncOnly(MemoryJourneyStore()), at=T0)
    with pytest.raises(CareKitError, match=r"needs the event loop"):
        sent.seen(KEY)


# -- the object itself -----------------------------------------------------------------------


def test_notes_keep_the_first_reference_and_the_channel() -> None:
    store = MemoryJourneyStore()
    sent = SentKeys(store, at=T0, channel="sms")
    assert sent.seen(KEY) is None
    assert sent.remember(KEY, reference="first") is True
    assert SentKeys(store, at=T0 + dt.timedelta(hours=1)).remember(KEY, reference="2") is False
    note = sent.seen(KEY)
    assert (note.reference, note.channel, note.at) == ("first", "sms", T0)
    assert "channel='sms'" in repr(sent)


def test_async_variants_on_a_blocking_store() -> None:
    store = MemoryJourneyStore()
    sent = SentKeys(store, at=T0)

    async def main() -> tuple[bool, Any]:
        return await sent.remember_async(KEY, reference="r"), await sent.seen_async(KEY)

    new, note = asyncio.run(main())
    assert new is True and note.reference == "r"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"at": dt.datetime(2026, 3, 2)}, r"at must be .*timezone"),
        ({"at": T0, "channel": 5}, r"channel must be a channel name or None \(got 5\)"),
        ({"at": T0, "loop": "loop"}, r"loop must be an asyncio event loop or None"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(CareKitError, match=match):
        SentKeys(MemoryJourneyStore(), **kwargs)


@pytest.mark.parametrize("key", ["", None, 7])
def test_a_bad_key_is_a_clear_error(key: Any) -> None:
    sent = SentKeys(MemoryJourneyStore(), at=T0)
    with pytest.raises(CareKitError, match=r"idempotency_key must be a non-empty string"):
        sent.seen(key)
    with pytest.raises(CareKitError, match=r"idempotency_key must be a non-empty string"):
        sent.remember(key)


def test_a_store_without_sent_keys_says_so_when_used() -> None:
    sent = SentKeys(object(), at=T0)  # a worker makes one for any store; using it checks
    with pytest.raises(CareKitError, match=r"keeps no sent keys \(it has no sent_key\)"):
        sent.seen(KEY)
    with pytest.raises(CareKitError, match=r"no remember_sent"):
        sent.remember(KEY)


# -- carekit.testing --------------------------------------------------------------------------


def test_testing_deliver_passes_sent_keys_and_reraises_what_a_plugin_raised() -> None:
    provider = Provider()
    kit = make_carekit(NoteAfter(provider))
    notes = sent_keys(channel="email")
    tp = owed_touchpoint("order_thanks", version=2)
    for _ in range(3):
        assert deliver(kit, tp, channel="email", sent_keys=notes).reference == "msg-1"
    assert provider.messages == [KEY]
    assert deliver(kit, tp, channel="sms", sent_keys=notes) is None

    class Broken:
        @hookimpl
        def carekit_deliver_touchpoint(self) -> Any:
            raise TimeoutError("provider timed out")

    with pytest.raises(TimeoutError, match="provider timed out"):
        deliver(make_carekit(Broken()), tp, channel="email")


def test_testing_owed_touchpoint_checks_its_data() -> None:
    tp = owed_touchpoint("shipped_with_tracking", data={"tracking_number": "1Z"}, tz="Europe/Paris",
                         customer_id="c-9")
    assert (tp.data["tracking_number"], tp.tz, tp.customer_id) == ("1Z", "Europe/Paris", "c-9")
    assert tp.due - tp.owed_at == dt.timedelta(hours=1)
    with pytest.raises(CareKitError):
        owed_touchpoint("x", at=dt.datetime(2026, 1, 1))
    with pytest.raises(CareKitError):
        owed_touchpoint("x", data={"bad": object()})
