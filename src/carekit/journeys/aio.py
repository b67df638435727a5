"""carekit from asyncio: stores whose methods are coroutines, and an asyncio worker.

* :func:`open_store` — ``await``-able stores for every URL: PostgreSQL through psycopg's
  async connections (:class:`~carekit.journeys.stores.postgres.AsyncPostgresJourneyStore`,
  extra ``carekit[postgres]``); SQLite and memory stores with their blocking calls run off
  the event loop (:class:`ThreadedStore`). The methods have the blocking store's names and
  arguments (``await store.append(...)``); ``load_many`` and ``journeys`` return lists.
* :class:`Worker` — the :class:`carekit.journeys.Worker` for an event loop: ``await
  worker.run_once(now)``, ``await worker.run(stop=asyncio.Event())``. It delivers touchpoints
  concurrently, at most ``concurrency`` at a time per channel and ``batch_size`` in hand, and
  claims more while slow deliveries run; it awaits channel plugins written as coroutines
  (``async def carekit_deliver_touchpoint``) and runs blocking ones in threads.

Examples:
    >>> import asyncio, datetime as dt
    >>> from carekit.journeys import Event, order_journey
    >>> from carekit.journeys import aio
    >>> from carekit.testing import RecordingChannel, make_carekit
    >>> async def main():
    ...     store = await aio.open_store("memory://")
    ...     t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
    ...     await store.create(order_journey(), "order-1", at=t0, channel="email")
    ...     await store.append("order-1", [Event("place", at=t0), Event("acknowledge", at=t0)])
    ...     email = RecordingChannel("email", register=False)
    ...     report = await aio.Worker(make_carekit(email), store).run_once(t0)
    ...     await store.close()
    ...     return report.sent, email.names
    >>> asyncio.run(main())
    (1, ['order_thanks'])
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import datetime as dt
import inspect
import os
import signal
import threading
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Generator,
    Iterable,
    Mapping,
    Sequence,
)
from typing import TYPE_CHECKING, Any

from carekit import _validate
from carekit.channels import SentKeys
from carekit.errors import CareKitError, StoreError
from carekit.journeys.stores.protocol import (
    AttemptOutcome,
    ClaimedTouchpoint,
    Fired,
    JourneySummary,
    OutboxEntry,
)
from carekit.journeys.worker import (
    STORE_OUTAGE,
    Attempt,
    WorkerBase,
    WorkReport,
    _attempt,
    _log,
    _log_attempt,
    _Raised,
    _report,
    _takes_holding,
    _TimedOut,
    _wrapped,
)

if TYPE_CHECKING:
    from carekit.journeys import Event, Journey, JourneyDefinition
    from carekit.plugins import CareKit

__all__ = ["ThreadedStore", "Worker", "open_store"]


def open_store(url: str | os.PathLike[str], **options: Any) -> Any:
    """Open the store ``url`` names, for use from asyncio (see the module docs).

    The store is usable at once, and may also be awaited (``store = await
    aio.open_store(url)``), which opens its connections before the first call.

    Args:
        url: ``sqlite:///path.db``, ``postgresql://user@host:port/dbname``, ``memory://``
            or a file path (a string or an :class:`os.PathLike`), as
            :func:`carekit.journeys.open_store` reads them.
        options: passed to the store's constructor.

    Returns:
        An :class:`~carekit.journeys.stores.postgres.AsyncPostgresJourneyStore` for
        PostgreSQL, else a :class:`ThreadedStore` around the blocking store.

    Raises:
        CareKitError: as :func:`carekit.journeys.open_store`.
        StoreError: the store cannot be opened.
    """
    if isinstance(url, str) and url.lower().startswith(("postgresql://", "postgres://")):
        from carekit.journeys.stores.postgres import AsyncPostgresJourneyStore, split_schema

        dsn, schema = split_schema(url)
        if schema is not None:
            options.setdefault("schema", schema)
        return AsyncPostgresJourneyStore(dsn, **options)
    from carekit.journeys.stores.urls import open_store as open_blocking

    return ThreadedStore(open_blocking(url, **options))


class ThreadedStore:
    """A blocking journey store behind coroutines: each call runs in a thread.

    For stores without an asyncio driver (SQLite, memory): the event loop never waits on
    the disk. The blocking store is :attr:`store`.

    Args:
        store: a blocking :class:`~carekit.journeys.JourneyStore`.

    Raises:
        CareKitError: ``store`` is not a journey store.
    """

    def __init__(self, store: Any) -> None:
        if not callable(getattr(store, "append", None)) or not callable(
            getattr(store, "claim_due", None)
        ):
            msg = f"store must be a journey store such as SQLiteJourneyStore (got {store!r})"
            raise CareKitError(msg)
        self.store = store

    def __repr__(self) -> str:
        return f"ThreadedStore({self.store!r})"

    def __await__(self) -> Generator[Any, None, ThreadedStore]:
        # `store = await aio.open_store(url)` works as well as without the await.
        async def opened() -> ThreadedStore:
            return self

        return opened().__await__()

    async def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def create(
        self,
        definition: JourneyDefinition | str,
        journey_id: str,
        *,
        at: dt.datetime,
        customer_id: str | None = None,
        channel: str | None = None,
        tz: str | None = None,
        exist_ok: bool = False,
    ) -> Journey:
        """See :meth:`carekit.journeys.JourneyStore.create`."""
        journey: Journey = await self._run(
            self.store.create, definition, journey_id, at=at, customer_id=customer_id,
            channel=channel, tz=tz, exist_ok=exist_ok,
        )
        return journey

    async def create_many(self, journeys: Iterable[Journey], *, exist_ok: bool = False) -> int:
        """See :meth:`carekit.journeys.JourneyStore.create_many`."""
        count: int = await self._run(self.store.create_many, list(journeys), exist_ok=exist_ok)
        return count

    async def append(
        self,
        journey_id: str,
        events: Event | Iterable[Event],
        *,
        expected_version: int | None = None,
        kit: CareKit | None = None,
    ) -> Journey:
        """See :meth:`carekit.journeys.JourneyStore.append`."""
        journey: Journey = await self._run(
            self.store.append, journey_id, events, expected_version=expected_version, kit=kit
        )
        return journey

    async def load(self, journey_id: str) -> Journey:
        """See :meth:`carekit.journeys.JourneyStore.load`."""
        journey: Journey = await self._run(self.store.load, journey_id)
        return journey

    async def load_many(self, journey_ids: Iterable[str] | None = None) -> list[Journey]:
        """See :meth:`carekit.journeys.JourneyStore.load_many` (a list here)."""
        ids = None if journey_ids is None else list(journey_ids)
        journeys: list[Journey] = await self._run(lambda: list(self.store.load_many(ids)))
        return journeys

    async def journeys(
        self, *, definition: str | None = None, state: str | None = None
    ) -> list[JourneySummary]:
        """See :meth:`carekit.journeys.JourneyStore.journeys` (a list here)."""
        found: list[JourneySummary] = await self._run(
            lambda: list(self.store.journeys(definition=definition, state=state))
        )
        return found

    async def events(self, journey_id: str) -> list[Event]:
        """See :meth:`carekit.journeys.JourneyStore.events`."""
        events: list[Event] = await self._run(self.store.events, journey_id)
        return events

    async def outbox(
        self, journey_id: str | None = None, *, status: Any = None
    ) -> list[OutboxEntry]:
        """See :meth:`carekit.journeys.JourneyStore.outbox`."""
        entries: list[OutboxEntry] = await self._run(self.store.outbox, journey_id, status=status)
        return entries

    async def outbox_counts(self) -> dict[str, int]:
        """See :meth:`carekit.journeys.JourneyStore.outbox_counts`."""
        counts: dict[str, int] = await self._run(self.store.outbox_counts)
        return counts

    async def claim_due(
        self, *, now: dt.datetime, limit: int, lease: dt.timedelta, claimant: str
    ) -> Sequence[ClaimedTouchpoint]:
        """See :meth:`carekit.journeys.JourneyStore.claim_due`."""
        claimed: Sequence[ClaimedTouchpoint] = await self._run(
            self.store.claim_due, now=now, limit=limit, lease=lease, claimant=claimant
        )
        return claimed

    async def record(
        self,
        outcomes: Sequence[AttemptOutcome],
        *,
        lease: dt.timedelta | None = None,
        claimant: str | None = None,
        holding: Collection[str] | None = None,
    ) -> frozenset[str]:
        """See :meth:`carekit.journeys.JourneyStore.record`."""
        if holding is None:  # a store written before ``holding`` need not take it
            held: frozenset[str] = await self._run(
                self.store.record, outcomes, lease=lease, claimant=claimant
            )
        else:
            held = await self._run(
                self.store.record, outcomes, lease=lease, claimant=claimant, holding=holding
            )
        return held

    async def fire_due(
        self, *, now: dt.datetime, limit: int, kit: CareKit | None = None, checks: Any = None
    ) -> list[Fired]:
        """See :meth:`carekit.journeys.JourneyStore.fire_due`."""
        fired: list[Fired] = await self._run(
            self.store.fire_due, now=now, limit=limit, kit=kit, checks=checks
        )
        return fired

    async def oldest_due(self, *, now: dt.datetime) -> dt.datetime | None:
        """See :meth:`carekit.journeys.JourneyStore.oldest_due`."""
        oldest: dt.datetime | None = await self._run(self.store.oldest_due, now=now)
        return oldest

    async def remember_sent(
        self,
        idempotency_key: str,
        *,
        at: dt.datetime,
        channel: str | None = None,
        reference: str | None = None,
    ) -> bool:
        """See :meth:`carekit.journeys.JourneyStore.remember_sent`."""
        new: bool = await self._run(
            self.store.remember_sent, idempotency_key, at=at, channel=channel,
            reference=reference,
        )
        return new

    async def sent_key(self, idempotency_key: str) -> Any:
        """See :meth:`carekit.journeys.JourneyStore.sent_key`."""
        return await self._run(self.store.sent_key, idempotency_key)

    async def close(self) -> None:
        """Close the blocking store."""
        await self._run(self.store.close)

    async def __aenter__(self) -> ThreadedStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _check_concurrency(value: Any) -> tuple[int, dict[str, int]]:
    if isinstance(value, Mapping):
        per = {str(k): _validate.positive_int(f"concurrency[{k!r}]", v) for k, v in value.items()}
        return 10, per
    return _validate.positive_int("concurrency", value), {}


class Worker(WorkerBase):
    """The worker for asyncio: ``await worker.run_once(now)``, ``await worker.run(stop=...)``.

    Takes the arguments of :class:`carekit.journeys.Worker` (``lease``, ``batch_size``,
    ``poll``, ``max_attempts``, ``backoff``, ``max_backoff``, ``claimant``, ``timeout``,
    ``default_channel``, ``promise_checks``, ``fire_limit``), a store from
    :func:`open_store` (or any store whose methods are coroutines), and:

    Args:
        concurrency: how many deliveries may run at once on one channel (default 10), or a
            mapping of channel name to that number (channels not named: 10).

    Touchpoints are delivered concurrently within those bounds, and at most ``batch_size``
    claimed ones are in hand at once (delivering, or waiting for their channel's slot): the
    next claim is made once half a batch of room is free, not when the slowest delivery of
    the last claim ends, so a channel whose provider hangs (up to ``timeout``) does not hold
    up the others. Each outcome is recorded as soon as it is known; the claims still held
    are extended at most every tenth of the lease, with an outcome or on their own while a
    delivery runs long, so a claim in flight never lapses; a touchpoint withdrawn or taken
    over meanwhile is not sent (a store whose ``record`` takes ``holding`` is asked only
    about the one a delivery's channel slot starts next). One channel's touchpoints take its
    slots in the order they were claimed (a journey's oldest first). Channel plugins may be
    coroutines; blocking ones run in threads. ``timeout`` is enforced with
    :func:`asyncio.wait_for` (a blocking plugin's thread runs on, its answer ignored; it is a
    daemon thread, so it does not keep the process from exiting).

    Raises:
        CareKitError: a bad argument, as :class:`carekit.journeys.Worker`; a bad
            ``concurrency``.
    """

    def __init__(
        self,
        kit: CareKit,
        store: Any,
        *,
        concurrency: int | Mapping[str, int] = 10,
        **options: Any,
    ) -> None:
        self._default_limit, self._limits = _check_concurrency(concurrency)
        super().__init__(kit, store, **options)

    def _setup(self) -> None:
        self._stopping = False
        self._stop_event: asyncio.Event | None = None
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._semaphores_loop: asyncio.AbstractEventLoop | None = None
        self._sent_keys: dict[str, tuple[asyncio.AbstractEventLoop, SentKeys]] = {}
        # A ThreadedStore's ``record`` takes ``holding``; the blocking store behind it may not.
        store = self.store.store if isinstance(self.store, ThreadedStore) else self.store
        self._asks = _takes_holding(store)

    def _semaphore(self, channel: str) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop is not self._semaphores_loop:
            # A semaphore belongs to the loop that first waited on it: a worker run again
            # under another loop (a second asyncio.run) gets new ones.
            self._semaphores, self._semaphores_loop = {}, loop
        sem = self._semaphores.get(channel)
        if sem is None:
            limit = self._limits.get(channel, self._default_limit)
            sem = self._semaphores[channel] = asyncio.Semaphore(limit)
        return sem

    def _asked_to_stop(self) -> bool:
        # stop() was called, or the event run() watches was set (by a server's lifespan,
        # say): a pass under way stops too, not only the loop between passes.
        return self._stopping or (self._stop_event is not None and self._stop_event.is_set())

    def stop(self) -> None:
        """Ask :meth:`run` (or a pass under way) to stop after the deliveries in flight."""
        self._stopping = True
        if self._stop_event is not None:
            self._stop_event.set()

    async def run_once(self, now: dt.datetime) -> WorkReport:
        """Fire every timer due at ``now``, then deliver every touchpoint that may be sent.

        Raises:
            CareKitError: a naive ``now``.
            StoreError: the store cannot be read or written.
        """
        _validate.aware("now", now)
        started = time.monotonic()
        observed = bool(self._observers)
        if observed:
            self._notify("starting", now)
        timers: list[Fired] = []
        attempts: list[Attempt] = []
        errors: list[str] = []
        report: WorkReport | None = None
        try:
            await self._fire(now, timers)
            await self._work_through(now, attempts, errors)
            report = _report(timers, attempts, errors)
            self._tally(report)
            self._set_lag(await self.store.oldest_due(now=now), now)
        except BaseException as exc:
            if report is None:  # what the pass did before it ended still counts
                self._tally(_report(timers, attempts, errors))
            if observed:
                self._notify("aborted", exc)
            raise
        self._log_pass(report, now, started)
        if observed:
            self._notify("passed", report, now)
        return report

    async def _fire(self, now: dt.datetime, fired: list[Fired]) -> None:
        """Fire the timers due at ``now`` into ``fired``, ``fire_limit`` at a time."""
        for _ in range(1000):
            got = await self.store.fire_due(
                now=now, limit=self.fire_limit, kit=self.kit, checks=self.promise_checks
            )
            fired.extend(got)
            self._log_fired(got)
            if got and self._observers:
                self._notify("fired", got)
            if len(got) < self.fire_limit or self._asked_to_stop():
                break

    async def _work_through(
        self, now: dt.datetime, attempts: list[Attempt], errors: list[str]
    ) -> None:
        # Claims and deliveries overlap: the next claim is made once half a batch of room
        # is free, not when the last delivery of the previous claim has ended, so a channel
        # whose provider hangs (up to ``timeout``) does not hold up the others' touchpoints.
        # At most ``batch_size`` claimed touchpoints are in hand at once (delivering, or
        # waiting for their channel's slot); a claim that comes back short ends the claiming
        # (the claims in hand are held, so the store does not hand them out again).
        #
        # Which claims are still held (not withdrawn, not taken over). A store that takes
        # ``holding`` is asked, when an outcome is recorded, about the touchpoint whose
        # delivery the freed channel slot starts next (``answers``); one started without
        # such an answer is looked up on its own, unless no outcome was recorded since it
        # was claimed (then the claim is as fresh as the answer). A store without
        # ``holding``: every record extends every claim and says which are still held
        # (``held``).
        #
        # Claims are extended at most every tenth of the lease (the stores leave a claim
        # with more than nine tenths of its lease left as it is anyway): when an outcome is
        # recorded, or on their own when none was for that long (``keep``: a delivery
        # hangs), so a claim in flight never lapses, whatever ``timeout`` is, and neither
        # this worker's next claim nor another worker's takes it over.
        batch = self.batch_size
        refill = max(1, batch // 2)
        observers = self._observers
        lease, claimant, asks = self.lease, self.claimant, self._asks
        record = self.store.record
        recording = asyncio.Lock()  # records and claims, one at a time
        claimed: list[ClaimedTouchpoint] = []  # every claim of the pass, in order
        held: set[str] = set()
        in_flight: set[str] = set()
        done: set[str] = set()
        in_hand: set[str] = set()  # the keys whose task has not ended
        # Per channel, the keys neither started nor asked about, the next one last.
        waiting: dict[str, collections.deque[str]] = {}
        answers: dict[str, bool] = {}
        recorded = 0  # outcomes recorded so far
        claimed_after: dict[str, int] = {}  # key: outcomes recorded when it was claimed
        give_up = False  # the store failed: start no more deliveries
        failure: BaseException | None = None
        # Once the store has failed, the outcomes of the deliveries still in flight are
        # recorded at the end, with the claims given back, in one call: not one store
        # timeout each (a worker stopped during a database outage would wait for them all).
        unrecorded: list[AttemptOutcome] = []
        every = lease.total_seconds() / 10
        extend_at = time.monotonic() + every

        def failed(exc: BaseException) -> None:
            nonlocal give_up, failure
            give_up = True
            if failure is None:
                failure = exc

        def starting(name: str, key: str) -> None:
            keys = waiting.get(name)
            if keys and keys[-1] == key:
                keys.pop()
            elif keys and key in keys:
                keys.remove(key)

        async def still_held(name: str, key: str) -> bool | None:
            # None: the store failed while this waited to ask it (not started; given back).
            if not asks:
                return key in held
            starting(name, key)
            answer = answers.pop(key, None)
            if answer is not None:
                return answer
            if recorded == claimed_after[key]:
                return True  # claimed since the last outcome was recorded
            async with recording:
                if give_up:
                    return None
                fresh: frozenset[str] = await record([], claimant=claimant, holding=(key,))
            return key in fresh

        async def one(item: ClaimedTouchpoint, name: str) -> None:
            try:
                async with self._semaphore(name):
                    try:
                        await in_slot(item, name)
                    except Exception as exc:
                        # The store failed (recording, or looking a touchpoint up): start
                        # no more deliveries, not even the one this slot goes to next, whose
                        # outcome could not be recorded either (it would be sent again).
                        failed(exc)
                        raise
            finally:
                in_hand.discard(item.idempotency_key)

        async def in_slot(item: ClaimedTouchpoint, name: str) -> None:
            nonlocal extend_at, recorded
            key = item.idempotency_key
            if give_up or self._asked_to_stop():
                return  # released below
            held_now = await still_held(name, key)
            if held_now is None:
                return  # released below
            if not held_now:
                attempts.append(_attempt(item, name, "withdrawn",
                                         error="withdrawn or taken over before delivery"))
                _log_attempt(attempts[-1])
                if observers:
                    self._notify("attempted", attempts[-1])
                done.add(key)
                return
            in_flight.add(key)
            try:
                outcome, attempt = await self._one(item, now, errors)
            except asyncio.CancelledError:
                outcome, attempt = self._interrupted(item, now), _attempt(
                    item, name, "failed", error="interrupted"
                )
                async with recording:
                    if give_up:
                        unrecorded.append(outcome)
                    else:
                        await record([outcome])
                done.add(key)
                raise
            attempts.append(attempt)
            _log_attempt(attempt)
            if observers:
                self._notify("attempted", attempt)
            async with recording:
                if give_up:
                    unrecorded.append(outcome)
                elif not asks:
                    fresh = await record([outcome], lease=lease, claimant=claimant)
                    extend_at = time.monotonic() + every
                    held.intersection_update(fresh | {key})
                else:
                    clock = time.monotonic()
                    extend = clock >= extend_at
                    if extend:
                        extend_at = clock + every
                    # The key this slot starts next on the channel, once released.
                    keys = waiting.get(name)
                    asked = keys.pop() if keys else None
                    fresh = await record(
                        [outcome], lease=lease if extend else None, claimant=claimant,
                        holding=() if asked is None else (asked,),
                    )
                    recorded += 1
                    if asked is not None:
                        answers[asked] = asked in fresh
            done.add(key)

        async def keep() -> None:
            nonlocal extend_at
            while True:
                await asyncio.sleep(max(0.0, extend_at - time.monotonic()))
                async with recording:
                    if time.monotonic() < extend_at:
                        continue  # an outcome extended them meanwhile
                    try:
                        if asks:
                            await record([], lease=lease, claimant=claimant, holding=())
                        else:
                            held.intersection_update(
                                await record([], lease=lease, claimant=claimant)
                            )
                    except Exception as exc:
                        failed(exc)
                        changed.set()
                        return
                    extend_at = time.monotonic() + every

        def ended(task: asyncio.Future[None]) -> None:
            tasks.discard(task)
            if not task.cancelled() and task.exception() is not None:
                # The store failed to record an outcome: the other tasks run on. Start no
                # more deliveries and let those in flight end before the claims are given
                # back, or another worker would send a touchpoint this one still sends.
                failed(task.exception())  # type: ignore[arg-type]
            changed.set()

        tasks: set[asyncio.Future[None]] = set()
        changed = asyncio.Event()  # a delivery ended, or the claims could not be extended
        keeper = asyncio.ensure_future(keep())
        claiming = True
        try:
            while True:  # each turn claims (a short claim ends the claiming) or waits for
                # a delivery to end, so it ends once the claims in hand are worked through
                if give_up or self._asked_to_stop():
                    claiming = False
                room = batch - len(tasks)
                if claiming and room >= refill:
                    try:
                        async with recording:
                            new = await self.store.claim_due(
                                now=now, limit=room, lease=lease, claimant=claimant
                            )
                    except Exception as exc:
                        failed(exc)
                        continue
                    claiming = len(new) == room
                    for item in new:
                        key, name = item.idempotency_key, self._channel_name(item)
                        answers.pop(key, None)
                        held.add(key)
                        claimed_after[key] = recorded
                        if key in in_hand:
                            # Its claim lapsed (the store stalled for longer than the
                            # lease) and this claim took it again: the task in hand sends
                            # it, under the claim made fresh; a second would send it twice.
                            continue
                        in_hand.add(key)
                        claimed.append(item)
                        # Due again at ``now`` (a retry without backoff): the last try ended.
                        done.discard(key)
                        in_flight.discard(key)
                        waiting.setdefault(name, collections.deque()).appendleft(key)
                        task = asyncio.ensure_future(one(item, name))
                        task.add_done_callback(ended)
                        tasks.add(task)
                    continue
                if not tasks:
                    break
                changed.clear()
                await changed.wait()
        except BaseException:
            # Cancelled: each delivery in flight records itself as interrupted.
            running = list(tasks)
            for unfinished in running:
                unfinished.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            # Given back: the claims whose delivery never started. One that started and
            # was not recorded keeps its claim, taken over after the lease (as a crash's).
            rest = [c for c in claimed
                    if c.idempotency_key not in done and c.idempotency_key not in in_flight]
            if rest or unrecorded:
                await self.store.record(
                    [*unrecorded,
                     *(AttemptOutcome(claimed=c, status="release", at=now) for c in rest)]
                )
                for c in rest:
                    attempts.append(_attempt(c, self._channel_name(c), "released"))
                    _log_attempt(attempts[-1])
                    if observers:
                        self._notify("attempted", attempts[-1])
        if failure is not None:
            raise failure

    async def _one(
        self, item: ClaimedTouchpoint, now: dt.datetime, errors: list[str]
    ) -> tuple[AttemptOutcome, Attempt]:
        channel, early = self._before(item, now, errors)
        if early is not None:
            return early
        started = time.monotonic()
        try:
            # One per channel for a pass's ``now`` and loop (they hold no state of their own).
            loop = asyncio.get_running_loop()
            known = self._sent_keys.get(channel.name)
            if known is not None and known[0] is loop and known[1].at is now:
                sent_keys = known[1]
            else:
                sent_keys = SentKeys(self.store, at=now, channel=channel.name, loop=loop)
                self._sent_keys[channel.name] = (loop, sent_keys)
            call = _first_answer_async(
                self.kit, item.touchpoint, channel, item.idempotency_key, sent_keys
            )
            if self._observers:
                # The plugin runs in this task's context: a span the observers made current
                # there is its parent (threads from asyncio.to_thread get a copy).
                with self._observing(item, channel.name):
                    plugin, result = await self._answer(call)
            else:
                plugin, result = await self._answer(call)
        except (_TimedOut, _Raised) as exc:
            return self._raised(item, now, exc, time.monotonic() - started)
        return self._after(item, now, plugin, result, time.monotonic() - started, errors)

    async def _answer(self, call: Awaitable[tuple[str | None, Any]]) -> tuple[str | None, Any]:
        """The plugins' answer, within ``timeout``."""
        if self.timeout is None:
            return await call
        try:
            return await asyncio.wait_for(call, self.timeout.total_seconds())
        except asyncio.TimeoutError:
            raise _TimedOut from None

    async def run(
        self,
        stop: asyncio.Event | None = None,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        max_passes: int | None = None,
        handle_signals: bool = True,
    ) -> None:
        """Work until ``stop`` is set, SIGTERM or SIGINT arrives, or :meth:`stop` is called.

        Then the deliveries in flight are finished and recorded, the other claims given
        back, and the coroutine returns. Signal handlers are added to the running loop when
        it runs in the main thread (and removed on return).

        Args:
            stop: an event that ends the loop when set.
            clock: what "now" is (default: the wall clock, in UTC).
            max_passes: stop after this many passes (``None``: no limit).
            handle_signals: stop on SIGTERM and SIGINT (``False`` inside a server that
                handles its own signals and sets ``stop``, such as uvicorn).

        Raises:
            CareKitError: ``stop`` is not an :class:`asyncio.Event`, ``clock`` not a
                callable, a bad ``max_passes``.
            StoreError: the store cannot be read or written, and stays so for
                :data:`~carekit.journeys.worker.STORE_OUTAGE` (shorter failures are logged
                and the pass retried).
        """
        if stop is not None and not isinstance(stop, asyncio.Event):
            msg = f"stop must be an asyncio.Event or None (got {stop!r})"
            raise CareKitError(msg)
        if clock is not None and not callable(clock):
            msg = f"clock must be a callable returning an aware datetime (got {clock!r})"
            raise CareKitError(msg)
        if max_passes is not None:
            _validate.positive_int("max_passes", max_passes)
        now_of = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self._stopping = False
        self._stop_event = stop if stop is not None else asyncio.Event()
        passes = 0
        _log.info("asyncio worker %s started on %r", self.claimant, self.store,
                  extra={"outcome": "started"})
        failing_since: float | None = None
        async with self._signals(handle_signals):
            while not self._stopping and not self._stop_event.is_set():
                try:
                    report = await self.run_once(now_of())
                except StoreError as exc:
                    # A database restarting, a network blip: the store reconnects by itself.
                    # Ride it out as the blocking worker does; give up after STORE_OUTAGE.
                    now_m = time.monotonic()
                    failing_since = now_m if failing_since is None else failing_since
                    if now_m - failing_since > STORE_OUTAGE.total_seconds():
                        raise
                    _log.warning("asyncio worker %s: the store failed, trying again: %s",
                                 self.claimant, exc, extra={"outcome": "store_error"})
                    await self._wait()
                    continue
                failing_since = None
                passes += 1
                if max_passes is not None and passes >= max_passes:
                    break
                if report.idle:
                    await self._wait()
        self._stop_event = None  # a run_once after run returned is not stopped by it
        _log.info("asyncio worker %s stopped after %d pass(es)", self.claimant, passes,
                  extra={"outcome": "stopped", "counters": self.counters})

    async def _wait(self) -> None:
        assert self._stop_event is not None
        waiting = getattr(self.store, "wait", None)
        timeout = self.poll.total_seconds()
        stop_waiter = asyncio.ensure_future(self._stop_event.wait())
        try:
            if callable(waiting):  # a store that can be woken (PostgreSQL LISTEN/NOTIFY)
                woken = asyncio.ensure_future(waiting(timeout))
                await asyncio.wait({stop_waiter, woken}, timeout=timeout,
                                   return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
            else:
                await asyncio.wait({stop_waiter}, timeout=timeout)
        finally:
            stop_waiter.cancel()
        if self._stop_event.is_set():
            self._stopping = True

    @contextlib.asynccontextmanager
    async def _signals(self, handle: bool) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        added: list[signal.Signals] = []
        if handle and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    loop.add_signal_handler(sig, self._on_signal, sig)
                    added.append(sig)
                except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
                    pass
        try:
            yield
        finally:
            for sig in added:
                loop.remove_signal_handler(sig)

    def _on_signal(self, signum: int) -> None:
        self._signalled(signum, self._stopping, "asyncio worker", "the deliveries")
        self.stop()


async def _on_daemon_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``await asyncio.to_thread(fn, ...)`` on a daemon thread of its own.

    Not the loop's default executor: ``asyncio.run`` (and uvicorn) wait for its threads
    on the way out, so a blocking plugin that hangs past the worker's ``timeout`` kept the
    process from exiting after SIGTERM until the plugin returned, if ever.
    """
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(ok: bool, value: Any) -> None:
        if not answer.done():  # not given up on (timed out, cancelled)
            if ok:
                answer.set_result(value)
            else:
                answer.set_exception(value)

    def call() -> None:
        try:
            outcome = (True, context.run(fn, *args, **kwargs))
        except BaseException as exc:  # handed to the awaiting coroutine, whatever it is
            outcome = (False, exc)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=call, name="carekit-delivery", daemon=True).start()
    return await answer


def _cancelled() -> bool:
    """Whether the running task is being cancelled, not merely handed a plugin's own
    CancelledError (a client closed under it). Python 3.10 cannot tell: cancelled."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return cancelling is None or cancelling() > 0


async def _first_answer_async(
    kit: CareKit, tp: Any, channel: Any, key: str, sent_keys: SentKeys | None = None
) -> tuple[str | None, Any]:
    """``carekit_deliver_touchpoint`` from asyncio: coroutine plugins awaited, others threaded."""
    caller = kit.hook.carekit_deliver_touchpoint
    impls = caller.get_hookimpls()
    arguments = {"touchpoint": tp, "channel": channel, "idempotency_key": key,
                 "sent_keys": sent_keys}
    if _wrapped(impls):
        try:
            result = await _on_daemon_thread(lambda: caller(**arguments))
            if inspect.isawaitable(result):
                result = await result
        except (Exception, SystemExit) as exc:  # a plugin's sys.exit() too
            raise _Raised(None, exc) from exc
        except asyncio.CancelledError as exc:
            if _cancelled():
                raise
            raise _Raised(None, exc) from exc
        return None, result
    for impl in reversed(impls):  # pluggy's order: tryfirst, then last registered first
        try:
            if inspect.iscoroutinefunction(impl.function):
                result = await kit._call_one("carekit_deliver_touchpoint", impl, **arguments)
            else:
                result = await _on_daemon_thread(
                    kit._call_one, "carekit_deliver_touchpoint", impl, **arguments
                )
                if inspect.isawaitable(result):
                    result = await result
        except (Exception, SystemExit) as exc:  # a plugin's sys.exit() too
            raise _Raised(impl.plugin_name, exc) from exc
        except asyncio.CancelledError as exc:
            if _cancelled():
                raise
            raise _Raised(impl.plugin_name, exc) from exc
        if result is not None:
            return impl.plugin_name, result
    return None, None
