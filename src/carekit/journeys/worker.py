"""The worker: makes journeys run themselves — deadlines fire, touchpoints go out on time, once.

A :class:`Worker` is the imperative shell around carekit's pure journeys. Each pass
(:meth:`Worker.run_once`):

1. **fires timers** that are due: a deadline breached is applied as its breach event (once,
   however many workers run: the event's id is the deadline's key), and a delivery promise
   carried in event data is re-checked (:class:`PromiseChecks`), applying
   ``promise_at_risk`` as soon as it is at risk — once per promised date;
2. **delivers touchpoints** that may be sent: it claims a batch, hands each touchpoint to
   the channel plugins (``carekit_deliver_touchpoint``) with its idempotency key, and
   records each outcome as soon as it is known; the same transaction tells it whether it
   still holds the next touchpoint (one withdrawn or taken over meanwhile is not sent) and,
   every tenth of the lease, extends its remaining claims. A channel's quiet hours and a
   plugin's ``DeliveryResult(retry_at=...)`` defer a touchpoint without using an attempt;
   a plugin that raises, hangs past ``timeout`` or answers something that is not a
   ``DeliveryResult`` fails that attempt only (retried with exponential backoff,
   dead-lettered after ``max_attempts``).

:meth:`Worker.run` loops until told to stop (a ``threading.Event``, SIGTERM or SIGINT):
it finishes the delivery in flight, records it, releases its other claims and returns. A
worker that crashes re-sends at most what was in flight; its claims are taken over by
another worker after ``lease``.

Examples:
    >>> import datetime as dt
    >>> from carekit.journeys import Event, MemoryJourneyStore, Worker, order_journey
    >>> from carekit.testing import RecordingChannel, make_carekit
    >>> t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
    >>> email = RecordingChannel("email", register=False)
    >>> store = MemoryJourneyStore()
    >>> _ = store.create(order_journey(), "order-1", at=t0, channel="email")
    >>> _ = store.append("order-1", Event("place", at=t0, id="e1"))
    >>> worker = Worker(make_carekit(email), store)
    >>> report = worker.run_once(t0 + dt.timedelta(hours=2))   # nobody acknowledged it
    >>> report.fired, store.load("order-1").friction > 0
    (1, True)
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import difflib
import inspect
import logging
import os
import queue
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from types import FrameType, MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol

import attrs

from carekit import _validate
from carekit.channels import BUILTIN_CHANNELS, DeliveryResult, SentKeys
from carekit.errors import CareKitError, StoreError
from carekit.journeys.stores._shared import check_lease, check_limit, learn_definitions
from carekit.journeys.stores._timers import PROMISE_EVENT
from carekit.journeys.stores.protocol import AttemptOutcome, ClaimedTouchpoint, Fired

if TYPE_CHECKING:
    from carekit.journeys import Event, Journey
    from carekit.plugins import CareKit

__all__ = ["Attempt", "PromiseChecks", "WorkReport", "Worker"]

_log = logging.getLogger("carekit.worker")

#: How long :meth:`Worker.run` keeps retrying a store that fails (a database restarting)
#: before it gives up and raises.
STORE_OUTAGE = dt.timedelta(minutes=1)

#: A worker's ``timeout`` when none is given: 20 s, or half the ``lease`` when the lease is
#: 20 s or shorter, so any lease works. (Told apart from an explicit 20 s by identity: a
#: timeout that is given must be shorter than the lease.)
DEFAULT_TIMEOUT = dt.timedelta(seconds=20)

#: What happened to one claimed touchpoint.
Outcome = Literal["sent", "failed", "dead", "deferred", "withdrawn", "released"]


class _Observer(Protocol):
    """What watches a worker's passes (``carekit.journeys.otel``), in ``worker._observers``.

    Called on the worker's thread (the blocking worker) or its event loop (asyncio), in this
    order in a pass: ``starting``; ``fired`` after each round of timers; ``delivering``
    around each plugin call (entered where the call starts: a span made current there is
    the plugin's parent); ``attempted`` for each claimed touchpoint's outcome, as it joins
    the report; then ``passed`` with the report, or ``aborted`` when the pass raised. With
    no observer the worker pays one test of an empty list per delivery.
    """

    def starting(self, now: dt.datetime) -> None: ...

    def fired(self, timers: Sequence[Fired]) -> None: ...

    def delivering(self, item: ClaimedTouchpoint, channel: str) -> AbstractContextManager[Any]: ...

    def attempted(self, attempt: Attempt) -> None: ...

    def passed(self, report: WorkReport, now: dt.datetime) -> None: ...

    def aborted(self, error: BaseException) -> None: ...


@attrs.frozen(kw_only=True)
class Attempt:
    """One delivery attempt, as :class:`WorkReport` and ``DispatchReport`` list it.

    Args:
        journey_id: the journey that owes the touchpoint.
        touchpoint: the touchpoint's name.
        channel: the channel tried.
        idempotency_key: the touchpoint's key (the same for every attempt).
        attempt: the attempt's number (1 for the first).
        reference: the provider's message id (sent only).
        error: why it failed, was deferred or dead-lettered.
        retry_at: when it will be tried again (failed and deferred only).
        outcome: ``"sent"``, ``"failed"``, ``"dead"``, ``"deferred"``, ``"withdrawn"``
            (withdrawn while claimed: not sent) or ``"released"`` (not tried: the worker
            was stopping).
        latency: how long the plugin took (``None`` when it was not called).
    """

    journey_id: str
    touchpoint: str
    channel: str
    idempotency_key: str
    attempt: int
    reference: str | None = None
    error: str | None = None
    retry_at: dt.datetime | None = None
    outcome: Outcome = "sent"
    latency: dt.timedelta | None = None


@attrs.frozen(kw_only=True)
class WorkReport:
    """What one :meth:`Worker.run_once` pass did.

    Args:
        fired: deadline breaches (and promises found at risk) fired.
        sent: touchpoints delivered.
        failed: attempts that failed and will be retried.
        dead: touchpoints given up on.
        deferred: touchpoints put off (quiet hours, a plugin's ``retry_at``).
        withdrawn: claimed touchpoints found withdrawn before delivery (not sent).
        released: claimed touchpoints given back unsent because the worker was stopping.
        timers: the timers fired, in order.
        attempts: every claimed touchpoint's outcome, in order.
        errors: configuration problems found, such as a channel no plugin delivers.
    """

    fired: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    deferred: int = 0
    withdrawn: int = 0
    released: int = 0
    timers: tuple[Fired, ...] = ()
    attempts: tuple[Attempt, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def idle(self) -> bool:
        """Nothing was due; nothing fired, nothing claimed."""
        return not (self.timers or self.attempts)

    def summary(self) -> str:
        """One line: ``"fired 1, sent 3, failed 0, dead 0, deferred 1, withdrawn 0"``, and
        ``", released 5"`` when a stopping worker gave claims back untried."""
        return (
            f"fired {self.fired}, sent {self.sent}, failed {self.failed}, dead {self.dead}, "
            f"deferred {self.deferred}, withdrawn {self.withdrawn}"
            + (f", released {self.released}" if self.released else "")
        )


#: The events that finish a promise's stages by default: stage name -> event name.
DEFAULT_STAGE_EVENTS: Mapping[str, str] = MappingProxyType({
    "production": "ship",
    "carrier": "deliver",
    "shipping": "deliver",
    "delivery": "deliver",
})


def _to_stages(value: Any) -> Mapping[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in value.items()
    ):
        msg = (
            "stages must map stage names to the event names that finish them, such as "
            f"{{'production': 'ship', 'delivery': 'deliver'}} (got {value!r})"
        )
        raise CareKitError(msg)
    return MappingProxyType(dict(value))


def _check_check_at(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, dt.time) or value.tzinfo is not None:
        msg = f"at must be a naive datetime.time such as time(7, 0) (got {value!r})"
        raise CareKitError(msg)


def _check_threshold(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _validate.probability("threshold", value, allow_zero=True)


@attrs.frozen(kw_only=True)
class PromiseChecks:
    """How a worker re-checks the delivery promises journeys carry.

    An event whose data holds ``{"promise": promise.to_dict()}`` (an order's ``place``,
    say) gives its journey a promise to keep. The worker checks it at once, then every day
    at ``at`` (local time in the promise calendar's zone), with
    :func:`carekit.promises.at_risk`: stage by stage, the stages finished by the events
    named in ``stages``. As soon as the promise is at risk (probability below
    ``threshold``), ``promise_at_risk`` is applied (the order journey then owes the
    proactive ``promise_at_risk_notice``) and the checks stop — once per promised date: a
    new promise in a later event starts them again. They also stop once the journey can no
    longer take ``promise_at_risk`` (delivered, cancelled).

    Args:
        threshold: tell the customer when the probability of keeping the promise is below
            this.
        at: the local time of the daily check.
        stages: stage name -> the event that finishes it (default: ``production`` by
            ``ship``; ``carrier``, ``shipping`` and ``delivery`` by ``deliver``).

    Raises:
        CareKitError: a threshold outside [0, 1], a ``time`` that is not a naive time,
            ``stages`` that is not a mapping of names.
    """

    threshold: float = attrs.field(default=0.5, validator=_check_threshold)
    at: dt.time = attrs.field(default=dt.time(7, 0), validator=_check_check_at)
    stages: Mapping[str, str] = attrs.field(
        default=DEFAULT_STAGE_EVENTS, converter=_to_stages, eq=False
    )

    def decide(
        self, journey: Journey, promise: Any, events: Sequence[Event], now: dt.datetime
    ) -> tuple[Event | None, dt.datetime | None]:
        """Check ``promise`` at ``now``: the ``promise_at_risk`` event to apply, or when next.

        Returns:
            ``(event, None)`` when the promise is at risk; ``(None, next check)`` while it
            is not; ``(None, None)`` once every stage is done, or once this promised date
            was found at risk (an event of ``events`` has its ``promise_at_risk`` id).
        """
        from carekit.promises import at_risk

        _check_promise(promise)
        _validate.aware("now", now)
        if not isinstance(journey, _journey_class()):
            msg = f"journey must be a carekit.journeys.Journey (got {journey!r:.200})"
            raise CareKitError(msg)
        if isinstance(events, (str, bytes)) or not isinstance(events, Sequence) or not all(
            hasattr(e, "name") and isinstance(getattr(e, "at", None), dt.datetime)
            for e in events
        ):
            msg = f"events must be a sequence of the journey's Event objects (got {events!r:.200})"
            raise CareKitError(msg)
        key = f"{journey.journey_id}/{PROMISE_EVENT}/{promise.promised.isoformat()}"
        if any(getattr(e, "id", None) == key for e in events):
            # This promised date was already found at risk (a later event carried the same
            # promise again): the customer was told once, so the checks stop.
            return None, None
        names = [s.name for s in promise.stages] or ["delivery"]
        finished: dict[str, dt.datetime] = {}
        for event in events:
            for stage in names:
                if stage not in finished and self.stages.get(stage) == event.name:
                    finished[stage] = event.at
        progress: dict[str, dt.datetime] = {}
        for stage in names:  # stages finish in order: keep the finished run from the start
            if stage not in finished:
                break
            progress[stage] = finished[stage]
        moment = max(now, promise.ordered_at)
        risk = at_risk(promise, progress, moment, threshold=self.threshold)
        if risk.stage is None:
            return None, None
        if risk.notify:
            at = now if now >= journey.updated_at else journey.updated_at
            return risk.to_event(at=at, journey_id=journey.journey_id, id=key), None
        return None, self.next_check(promise, now)

    def next_check(self, promise: Any, now: dt.datetime) -> dt.datetime:
        """The next daily check after ``now``, at ``at`` in the promise calendar's zone.

        Raises:
            CareKitError: ``promise`` is not a Promise, ``now`` not an aware datetime, or
                so near year 1 or 9999 that the next check lies beyond the datetime range.
        """
        from carekit.promises.estimators import default_calendar

        _check_promise(promise)
        _validate.aware("now", now)
        calendar = promise.calendar or default_calendar()
        zone = calendar.tz
        try:
            local = now.astimezone(zone)
            day = local.date()
            for _ in range(3):  # today's check time, or tomorrow's (or the next, past DST)
                wall = dt.datetime.combine(day, self.at, tzinfo=zone)
                moment = wall.astimezone(dt.timezone.utc).astimezone(zone)
                if moment > now:
                    return moment
                day += dt.timedelta(days=1)
        except OverflowError:
            raise _validate.beyond_range("now", now, "the next promise check") from None
        return now + dt.timedelta(days=1)  # pragma: no cover - three days cannot all be past


def _check_promise(promise: Any) -> None:
    from carekit.promises import Promise

    if not isinstance(promise, Promise):
        msg = f"promise must be a carekit.promises.Promise (got {promise!r:.200})"
        raise CareKitError(msg)


def _journey_class() -> type:
    from carekit.journeys.journey import Journey

    return Journey


def _backoff(attempt: int, base: dt.timedelta, cap: dt.timedelta) -> dt.timedelta:
    # Exponential backoff: base, 2 base, 4 base, … capped (no overflow for huge attempts).
    if attempt >= 40:
        return cap
    delay: dt.timedelta = base * (2 ** (attempt - 1))
    return min(delay, cap)


def _default_claimant() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _timeout(timeout: object, lease: dt.timedelta) -> dt.timedelta | None:
    """``timeout`` checked; the default becomes half a lease it would not fit in."""
    if timeout is DEFAULT_TIMEOUT:
        return DEFAULT_TIMEOUT if lease > DEFAULT_TIMEOUT else lease / 2
    if timeout is None:
        return None
    return _validate.positive_duration("timeout", timeout)


class _TimedOut(Exception):
    """A delivery plugin did not answer within the timeout."""


class _Runner:
    """Runs delivery calls on a daemon thread, so a plugin that hangs can be given up on.

    A call that times out leaves its thread behind (Python cannot stop a thread); the next
    call gets a fresh thread.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Any] | None = None

    def _start(self) -> queue.SimpleQueue[Any]:
        jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()

        def serve() -> None:
            while True:
                job = jobs.get()
                if job is None:
                    return
                fn, box, done = job
                try:
                    box.append((True, fn()))
                except BaseException as exc:  # handed to the caller, whatever it is
                    box.append((False, exc))
                done.release()

        threading.Thread(target=serve, name="carekit-delivery", daemon=True).start()
        self._jobs = jobs
        return jobs

    def call(self, fn: Callable[[], Any], timeout: float) -> Any:
        jobs = self._jobs or self._start()
        box: list[tuple[bool, Any]] = []
        # Released by the thread once the answer is in the box (a lock costs less to make
        # and wait on than an Event).
        done = threading.Lock()
        done.acquire()
        jobs.put((fn, box, done))
        if not done.acquire(timeout=timeout):
            self._jobs = None  # abandon the stuck thread
            jobs.put(None)  # it exits once the call returns
            raise _TimedOut
        ok, value = box[0]
        if ok:
            return value
        raise value

    def close(self) -> None:
        if self._jobs is not None:
            self._jobs.put(None)
            self._jobs = None


def _takes_holding(store: Any) -> bool:
    """Whether ``store.record`` takes ``holding`` (a store written before it need not)."""
    try:
        parameters = inspect.signature(store.record).parameters
    except (TypeError, ValueError):  # a builtin or a callable without a signature
        return False
    return "holding" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


class WorkerBase:
    """What the blocking :class:`Worker` and the asyncio worker share: settings, checks,
    counters and how a plugin's answer becomes an outcome (see :class:`Worker` for the
    arguments). Not used directly.
    """

    def __init__(
        self,
        kit: CareKit,
        store: Any,
        *,
        lease: dt.timedelta | float = dt.timedelta(seconds=30),
        batch_size: int = 100,
        poll: dt.timedelta | float = dt.timedelta(seconds=1),
        max_attempts: int = 5,
        backoff: dt.timedelta | float = dt.timedelta(minutes=1),
        max_backoff: dt.timedelta | float = dt.timedelta(hours=6),
        claimant: str | None = None,
        timeout: dt.timedelta | float | None = DEFAULT_TIMEOUT,
        default_channel: str | None = "email",
        promise_checks: PromiseChecks | None = PromiseChecks(),
        fire_limit: int = 1000,
    ) -> None:
        from carekit.journeys.advance import check_kit

        check_kit(kit)
        kit.channels  # noqa: B018 - a broken plugin is found now, before anything is claimed
        needed = ("claim_due", "record", "fire_due", "append", "oldest_due")
        missing = [name for name in needed if not callable(getattr(store, name, None))]
        if missing:
            msg = (
                "store must be a journey store such as SQLiteJourneyStore (got "
                f"{store!r}, which has no {', '.join(missing)})"
            )
            raise CareKitError(msg)
        self.kit = kit
        self.store = store
        # The kit carries the plugins' journeys: a store opened without definitions= still
        # rebuilds journeys of those definitions when deadlines fire or touchpoints go out.
        learn_definitions(store, kit)
        self.lease = check_lease(lease)
        self.batch_size = check_limit("batch_size", batch_size)
        self.poll = _validate.positive_duration("poll", poll)
        self.max_attempts = _validate.positive_int("max_attempts", max_attempts)
        self.backoff = _validate.positive_duration("backoff", backoff)
        self.max_backoff = _validate.positive_duration("max_backoff", max_backoff)
        if claimant is not None and (not isinstance(claimant, str) or not claimant):
            msg = f"claimant must be a non-empty string or None (got {claimant!r})"
            raise CareKitError(msg)
        self.claimant = claimant or _default_claimant()
        self.timeout = _timeout(timeout, self.lease)
        if self.timeout is not None and self.timeout >= self.lease:
            msg = (
                f"timeout ({self.timeout}) must be shorter than lease ({self.lease}): a "
                "delivery must end while its claim holds"
            )
            raise CareKitError(msg)
        if default_channel is not None and not isinstance(default_channel, str):
            msg = f"default_channel must be a channel name or None (got {default_channel!r})"
            raise CareKitError(msg)
        self.default_channel = default_channel
        if promise_checks is not None and not isinstance(promise_checks, PromiseChecks):
            msg = f"promise_checks must be a PromiseChecks or None (got {promise_checks!r})"
            raise CareKitError(msg)
        self.promise_checks = promise_checks
        self.fire_limit = check_limit("fire_limit", fire_limit)
        self._setup()
        self._counters = dict.fromkeys(
            ("passes", "due", "fired", "sent", "failed", "dead", "deferred", "withdrawn",
             "released"),
            0,
        )
        self._lag = 0.0
        self._observers: list[_Observer] = []

    def _setup(self) -> None:
        """Make what a kind of worker needs beyond the settings (overridden)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.claimant!r}, store={self.store!r})"

    def _signalled(self, signum: int, stopping: bool, who: str, what: str) -> None:
        """Log SIGTERM or SIGINT; a second SIGINT (Ctrl-C again) raises KeyboardInterrupt.

        ``who`` names the worker in the log, ``what`` the deliveries in flight.
        """
        if signum == signal.SIGINT and stopping:
            # A second Ctrl-C: the user will not wait for the deliveries in flight.
            _log.warning(
                "%s %s got SIGINT again: stopping now; %s in flight recorded as "
                "interrupted (tried again later), the other claims given back; a claim the "
                "store could not be told of is taken over after the lease (%s)",
                who, self.claimant, what, self.lease, extra={"outcome": "interrupted"},
            )
            raise KeyboardInterrupt
        _log.info("%s %s got %s: finishing %s in flight (SIGINT again stops at once)",
                  who, self.claimant, signal.Signals(signum).name, what,
                  extra={"outcome": "stopping"})

    def _tally(self, report: WorkReport) -> None:
        c = self._counters
        c["passes"] += 1
        c["due"] += len(report.timers) + len(report.attempts)
        for name in ("fired", "sent", "failed", "dead", "deferred", "withdrawn", "released"):
            c[name] += getattr(report, name)

    def _set_lag(self, oldest: dt.datetime | None, now: dt.datetime) -> None:
        self._lag = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())

    def _log_pass(self, report: WorkReport, now: dt.datetime, started: float) -> None:
        level = logging.INFO if not report.idle else logging.DEBUG
        if _log.isEnabledFor(level):
            _log.log(
                level, "pass at %s: %s (%.1f ms; lag %.1f s)",
                now.isoformat(timespec="seconds"), report.summary(),
                (time.monotonic() - started) * 1000, self._lag,
                extra={"outcome": "pass", "counters": self.counters},
            )

    @staticmethod
    def _log_fired(fired: Sequence[Fired]) -> None:
        if not _log.isEnabledFor(logging.INFO):  # nothing to format for thousands of timers
            return
        for item in fired:
            _log.info(
                "fired %s of journey %r (due %s)%s",
                item.key, item.journey_id, item.due.isoformat(timespec="seconds"),
                f": applied {item.event.name!r}" if item.event is not None else "",
                extra={"journey_id": item.journey_id, "key": item.key,
                       "outcome": "fired", "kind": item.kind},
            )

    def _notify(self, hook: str, *args: Any) -> None:
        """Call ``hook`` of every observer; one that raises is logged, never the worker's end."""
        for observer in self._observers:
            try:
                getattr(observer, hook)(*args)
            except Exception:
                _log.exception("worker %s: observer %r failed in %s", self.claimant,
                               observer, hook, extra={"outcome": "observer_error"})

    def _observing(
        self, item: ClaimedTouchpoint, channel: str
    ) -> contextlib.ExitStack:
        """Every observer's ``delivering`` context, entered (to exit after the plugin call)."""
        stack = contextlib.ExitStack()
        for observer in self._observers:
            try:
                stack.enter_context(observer.delivering(item, channel))
            except Exception:
                _log.exception("worker %s: observer %r failed in delivering", self.claimant,
                               observer, extra={"outcome": "observer_error"})
        return stack

    def _interrupted(self, item: ClaimedTouchpoint, now: dt.datetime) -> AttemptOutcome:
        """The outcome of the attempt in flight when the worker was interrupted."""
        return AttemptOutcome(
            claimed=item, status="retry", at=now, error="interrupted",
            retry_at=now + _backoff(item.attempt, self.backoff, self.max_backoff),
        )

    # -- counters -----------------------------------------------------------------------

    @property
    def counters(self) -> dict[str, float]:
        """Counts since the worker was made, for export (Prometheus, StatsD, logs).

        ``passes``; ``due`` (timers and touchpoints found due); ``fired``, ``sent``,
        ``failed``, ``dead``, ``deferred``, ``withdrawn``, ``released``; and
        ``lag_seconds``: how long the oldest item still due after the last pass has been
        waiting (0 when none). A pass that a store failure ended counts too, with what it
        did before the failure.
        """
        return {**self._counters, "lag_seconds": self._lag}

    def _channel_name(self, item: ClaimedTouchpoint) -> str:
        return item.channel or self.default_channel or ""

    def _before(
        self, item: ClaimedTouchpoint, now: dt.datetime, errors: list[str]
    ) -> tuple[Any, tuple[AttemptOutcome, Attempt] | None]:
        """The channel to deliver on, or the outcome when there is none or it is quiet."""
        tp = item.touchpoint
        name = self._channel_name(item)
        channel = self.kit.channels.get(name)
        if channel is None:
            close = difflib.get_close_matches(name, list(self.kit.channels), n=1) if name else []
            hint = f"; did you mean {close[0]!r}?" if close else ""
            where = "names no channel, nor does its journey, and no default_channel is set" if (
                not name
            ) else (
                f"is for channel {name!r}, which no plugin provides (known channels: "
                f"{sorted(self.kit.channels)}){hint}"
            )
            error = f"touchpoint {tp.name!r} of journey {tp.journey_id!r} {where}"
            errors.append(
                f"touchpoints are for channel {name!r}, which no plugin provides (known "
                f"channels: {sorted(self.kit.channels)}){hint}" if name else
                "a touchpoint names no channel, nor does its journey, and no default_channel "
                "is set"
            )
            return None, self._failed(item, now, name, error, final=False)
        if channel.quiet_hours is not None:
            until = channel.quiet_until(now, tp.tz)
            if until is not None:
                reason = f"quiet hours on channel {name!r} until {until.isoformat()}"
                return channel, (
                    AttemptOutcome(claimed=item, status="defer", at=now, error=reason,
                                   retry_at=until),
                    _attempt(item, name, "deferred", error=reason, retry_at=until),
                )
        return channel, None

    def _raised(
        self, item: ClaimedTouchpoint, now: dt.datetime, exc: Exception, seconds: float
    ) -> tuple[AttemptOutcome, Attempt]:
        """The outcome of a delivery that raised or did not answer in time (after ``seconds``)."""
        name = self._channel_name(item)
        if isinstance(exc, _Raised):
            error = f"{_who(exc.plugin)} raised {type(exc.error).__name__}: {exc.error}"
        else:
            error = (
                f"delivery on channel {name!r} did not answer within {self.timeout}; "
                "counted as a failed attempt (give the provider's client a timeout shorter "
                "than the worker's, so the plugin answers first)"
            )
        return self._failed(item, now, name, error, final=False,
                            latency=dt.timedelta(seconds=seconds))

    def _after(
        self,
        item: ClaimedTouchpoint,
        now: dt.datetime,
        plugin: str | None,
        result: Any,
        seconds: float,
        errors: list[str],
    ) -> tuple[AttemptOutcome, Attempt]:
        """The outcome of a plugin's answer."""
        tp = item.touchpoint
        name = self._channel_name(item)
        latency = dt.timedelta(seconds=seconds)
        if result is None:
            hint = (
                "every carekit_deliver_touchpoint returned None for it: check that the plugin "
                "registering it compares channel.name with the name it registers"
                if self.kit.channels.get(name) not in BUILTIN_CHANNELS else
                "register a channel plugin that implements carekit_deliver_touchpoint for it"
            )
            error = (
                f"no plugin delivers touchpoints on channel {name!r} (touchpoint "
                f"{tp.name!r} of journey {tp.journey_id!r}); {hint}"
            )
            errors.append(f"no plugin delivers touchpoints on channel {name!r}; {hint}")
            return self._failed(item, now, name, error, final=False, latency=latency)
        if not isinstance(result, DeliveryResult):
            error = (
                f"{_who(plugin)} returned {result!r:.200} from carekit_deliver_touchpoint; "
                "expected a DeliveryResult or None"
            )
            return self._failed(item, now, name, error, final=False, latency=latency)
        if result.delivered:
            reference = result.reference
            return (
                AttemptOutcome(claimed=item, status="sent", at=now, reference=reference),
                Attempt(journey_id=tp.journey_id, touchpoint=tp.name, channel=name,
                        idempotency_key=item.idempotency_key, attempt=item.attempt,
                        reference=reference, outcome="sent", latency=latency),
            )
        if result.retry_at is not None:
            # Put off by the plugin: not a failure. Never earlier than a second from now, so
            # a pass does not meet it again.
            until = max(result.retry_at, now + dt.timedelta(seconds=1))
            reason = f"{_who(plugin)} put it off until {until.isoformat()}"
            return (
                AttemptOutcome(claimed=item, status="defer", at=now, error=reason,
                               retry_at=until),
                _attempt(item, name, "deferred", error=reason, retry_at=until, latency=latency),
            )
        error = (
            f"{_who(plugin)}, delivering channel {name!r}, declined it "
            "(DeliveryResult(delivered=False)); not retried"
        )
        return self._failed(item, now, name, error, final=True, latency=latency)

    def _failed(
        self,
        item: ClaimedTouchpoint,
        now: dt.datetime,
        name: str,
        error: str,
        *,
        final: bool,
        latency: dt.timedelta | None = None,
    ) -> tuple[AttemptOutcome, Attempt]:
        if final or item.attempt >= self.max_attempts:
            reason = error if final else f"gave up after {item.attempt} attempt(s): {error}"
            return (
                AttemptOutcome(claimed=item, status="dead", at=now, error=reason),
                _attempt(item, name, "dead", error=reason, latency=latency),
            )
        try:
            retry_at = now + _backoff(item.attempt, self.backoff, self.max_backoff)
        except OverflowError:
            retry_at = now
        return (
            AttemptOutcome(claimed=item, status="retry", at=now, error=error, retry_at=retry_at),
            _attempt(item, name, "failed", error=error, retry_at=retry_at, latency=latency),
        )


class Worker(WorkerBase):
    """Fires due deadlines and delivers due touchpoints of a journey store, once each.

    The blocking worker: one delivery at a time, each on a daemon thread so a plugin that
    hangs past ``timeout`` can be given up on. (``carekit.journeys.aio.Worker`` is the
    asyncio one.)

    Args:
        kit: the :class:`~carekit.CareKit` whose plugins deliver, recover and observe.
        store: the journey store (any :class:`~carekit.journeys.JourneyStore`).
        lease: how long a claim keeps other workers away (timed on the store's clock);
            a crashed worker's claims are taken over after it. Must be longer than a
            ``timeout`` that is given.
        batch_size: touchpoints claimed at once (at most 1,000,000).
        poll: how long :meth:`run` waits when nothing was due.
        max_attempts: attempts before a touchpoint is dead-lettered.
        backoff: wait after the first failed attempt; doubles after each further one.
        max_backoff: the longest wait between attempts.
        claimant: this worker's name in claims (default: host, process id and a random
            suffix).
        timeout: how long one delivery may take before it counts as failed (``None``: no
            limit; the plugin then runs on the worker's own thread). Default: 20 s, or
            half the ``lease`` when the lease is 20 s or shorter.
        default_channel: the channel for touchpoints whose journey names none.
        promise_checks: how promises carried in event data are re-checked; ``None`` turns
            the checks off.
        fire_limit: timers fired per transaction.

    Raises:
        CareKitError: a bad argument (among them a ``timeout`` not shorter than
            ``lease``); ``kit`` is not a CareKit or its plugins are broken (found here,
            before anything is claimed); ``store`` is not a journey store.
    """

    def _setup(self) -> None:
        self._stop = threading.Event()
        self._run_stop: threading.Event | None = None  # the event run() was given
        self._runner = _Runner()
        self._sent_keys: dict[str, SentKeys] = {}
        self._asks = _takes_holding(self.store)

    def _one(
        self, item: ClaimedTouchpoint, now: dt.datetime, errors: list[str]
    ) -> tuple[AttemptOutcome, Attempt]:
        """Deliver one claimed touchpoint: the outcome to record and the attempt to report."""
        channel = self.kit.channels.get(item.channel or self.default_channel or "")
        if channel is None or channel.quiet_hours is not None:  # (the usual channel: no check)
            channel, early = self._before(item, now, errors)
            if early is not None:
                return early
        started = time.monotonic()
        try:
            if self._observers:
                with self._observing(item, channel.name):
                    # The plugin runs in this context (a span the observers made current is
                    # its parent), on the delivery thread too.
                    plugin, result = self._call(item.touchpoint, channel, item, now,
                                                contextvars.copy_context())
            else:
                plugin, result = self._call(item.touchpoint, channel, item, now)
        except (_TimedOut, _Raised) as exc:
            return self._raised(item, now, exc, time.monotonic() - started)
        return self._after(item, now, plugin, result, time.monotonic() - started, errors)

    # -- one pass -----------------------------------------------------------------------

    def run_once(self, now: dt.datetime) -> WorkReport:
        """Fire every timer due at ``now``, then deliver every touchpoint that may be sent.

        Args:
            now: the current time (timezone-aware); it decides what is due.

        Returns:
            A :class:`WorkReport`.

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
            self._fire(now, timers)
            self._deliver(now, None, attempts, errors)
            report = _report(timers, attempts, errors)
            self._tally(report)
            self._set_lag(self.store.oldest_due(now=now), now)
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

    def _fire(self, now: dt.datetime, fired: list[Fired]) -> None:
        """Fire the timers due at ``now`` into ``fired``, ``fire_limit`` at a time."""
        for _ in range(1000):  # bounded: each round fires up to fire_limit timers
            got = self.store.fire_due(
                now=now, limit=self.fire_limit, kit=self.kit, checks=self.promise_checks
            )
            fired.extend(got)
            self._log_fired(got)
            if got and self._observers:
                self._notify("fired", got)
            if len(got) < self.fire_limit or self._asked_to_stop():
                break

    def _deliver(
        self,
        now: dt.datetime,
        max_batches: int | None,
        attempts: list[Attempt] | None = None,
        errors: list[str] | None = None,
    ) -> tuple[list[Attempt], list[str], int]:
        """Claim and deliver batches until nothing is due: attempts, errors, batches.

        The attempts and errors are added to the lists given (new ones otherwise) as they
        happen, so a caller still has them when a store failure ends the delivery.
        """
        attempts = [] if attempts is None else attempts
        errors = [] if errors is None else errors
        batches = 0
        # A store that can (PostgreSQL) keeps one connection for a batch's statements
        # when plugins run on this thread (no ``timeout``): a plugin on the delivery
        # thread would need a connection of its own meanwhile (its sent keys).
        pinned = getattr(self.store, "_pinned", None) if self.timeout is None else None
        while not self._asked_to_stop() and (max_batches is None or batches < max_batches):
            with pinned() if pinned is not None else contextlib.nullcontext():
                claimed = self.store.claim_due(
                    now=now, limit=self.batch_size, lease=self.lease, claimant=self.claimant
                )
                if not claimed:
                    break
                batches += 1
                self._work_through(claimed, now, attempts, errors)
            if len(claimed) < self.batch_size:
                break
        return attempts, errors, batches

    def _work_through(
        self,
        claimed: Sequence[ClaimedTouchpoint],
        now: dt.datetime,
        attempts: list[Attempt],
        errors: list[str],
    ) -> None:
        # Which claims are still held (not withdrawn, not taken over): every one, fresh
        # from the claim; then, after each delivery, what the store said when the
        # outcome was recorded. A store that takes ``holding`` is asked about the next
        # touchpoint only (``asked``: its key), not every claim of the batch.
        keys = [c.idempotency_key for c in claimed]
        held = frozenset(keys)
        asked: str | None = None
        # Looked up once per batch: the loop below runs once per delivery.
        stopping = self._asked_to_stop
        record = self.store.record
        lease, claimant, asks = self.lease, self.claimant, self._asks
        observers = self._observers
        # Claims are extended at most every tenth of the lease (the stores leave a claim
        # with more than nine tenths of its lease left as it is anyway).
        every = lease.total_seconds() / 10
        extend_at = time.monotonic() + every
        self._sent_keys = {}  # one SentKeys per channel for this batch's ``now``
        for i, item in enumerate(claimed):
            if stopping():
                self._release(claimed[i:], now, [], attempts)
                return
            key = keys[i]
            if asked is not None and asked != key:  # the one asked about was skipped
                held = record([], claimant=claimant, holding=(key,))
                asked = key
            if key not in held:
                attempts.append(_attempt(item, self._channel_name(item), "withdrawn",
                                         error="withdrawn or taken over before delivery"))
                _log_attempt(attempts[-1])
                if observers:
                    self._notify("attempted", attempts[-1])
                continue
            try:
                outcome, attempt = self._one(item, now, errors)
            except BaseException:
                # Ctrl-C, or a plugin's SystemExit: the attempt in flight failed; record it
                # and give the rest back before letting the exception go.
                failed = self._interrupted(item, now)
                self._release(claimed[i + 1:], now, [failed], attempts)
                raise
            attempts.append(attempt)
            _log_attempt(attempt)
            if observers:
                self._notify("attempted", attempt)
            if not asks:
                held = record([outcome], lease=lease, claimant=claimant)
                continue
            clock = time.monotonic()
            extend = clock >= extend_at
            if extend:
                extend_at = clock + every
            asked = keys[i + 1] if i + 1 < len(keys) else None
            held = record([outcome], lease=lease if extend else None, claimant=claimant,
                          holding=() if asked is None else (asked,))

    def _release(
        self,
        rest: Sequence[ClaimedTouchpoint],
        now: dt.datetime,
        pending: list[AttemptOutcome],
        attempts: list[Attempt],
    ) -> None:
        released = [AttemptOutcome(claimed=item, status="release", at=now) for item in rest]
        if pending or released:
            self.store.record([*pending, *released])
        for item in rest:
            attempts.append(_attempt(item, self._channel_name(item), "released"))
            _log_attempt(attempts[-1])
            if self._observers:
                self._notify("attempted", attempts[-1])

    def _call(
        self,
        tp: Any,
        channel: Any,
        item: ClaimedTouchpoint,
        now: dt.datetime,
        context: contextvars.Context | None = None,
    ) -> tuple[str | None, Any]:
        sent_keys = self._sent_keys.get(channel.name)
        if sent_keys is None or sent_keys.at is not now:
            sent_keys = self._sent_keys[channel.name] = SentKeys(
                self.store, at=now, channel=channel.name
            )
        if self.timeout is None:
            return _first_answer(self.kit, tp, channel, item.idempotency_key, sent_keys)

        def call() -> tuple[str | None, Any]:
            return _first_answer(self.kit, tp, channel, item.idempotency_key, sent_keys)

        fn = call if context is None else lambda: context.run(call)
        answer: tuple[str | None, Any] = self._runner.call(fn, self.timeout.total_seconds())
        return answer

    # -- the loop -----------------------------------------------------------------------

    def _asked_to_stop(self) -> bool:
        # stop() was called, or the event run() watches was set (by a server shutting
        # down, say): a pass under way stops too, not only the loop between passes.
        return self._stop.is_set() or (self._run_stop is not None and self._run_stop.is_set())

    def stop(self) -> None:
        """Ask :meth:`run` (or a pass under way) to stop after the delivery in flight."""
        self._stop.set()

    def run(
        self,
        stop: threading.Event | None = None,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        max_passes: int | None = None,
        handle_signals: bool = True,
    ) -> None:
        """Work until ``stop`` is set, SIGTERM or SIGINT arrives, or :meth:`stop` is called.

        Then the delivery in flight is finished and recorded, the other claims are given
        back, and the method returns. Signal handlers are installed only when called from
        the main thread, and the previous ones are put back on return.

        Args:
            stop: an event that ends the loop when set.
            clock: what "now" is (default: the wall clock, in UTC).
            max_passes: stop after this many passes (``None``: no limit).
            handle_signals: stop on SIGTERM and SIGINT (``False`` inside a server that
                handles its own signals and sets ``stop``).

        Raises:
            CareKitError: ``stop`` is not an event, ``clock`` not a callable, a bad
                ``max_passes``.
            StoreError: the store cannot be read or written, and stays so for
                :data:`STORE_OUTAGE` (shorter failures are logged and the pass retried:
                a claim in flight is taken over after its lease).
        """
        if stop is not None and not callable(getattr(stop, "is_set", None)):
            msg = f"stop must be a threading.Event or None (got {stop!r})"
            raise CareKitError(msg)
        if clock is not None and not callable(clock):
            msg = f"clock must be a callable returning an aware datetime (got {clock!r})"
            raise CareKitError(msg)
        if max_passes is not None:
            _validate.positive_int("max_passes", max_passes)
        now_of = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self._stop.clear()
        self._run_stop = stop
        passes = 0
        _log.info(
            "worker %s started on %r (lease %s, poll %s, batch %d)",
            self.claimant, self.store, self.lease, self.poll, self.batch_size,
            extra={"outcome": "started"},
        )
        failing_since: float | None = None
        with self._signals(handle_signals):
            while not self._stop.is_set() and not (stop is not None and stop.is_set()):
                try:
                    report = self.run_once(now_of())
                except StoreError as exc:
                    # A database restarting, a network blip: the store reconnects by itself.
                    # Ride it out; give up once it has lasted STORE_OUTAGE.
                    now_m = time.monotonic()
                    failing_since = now_m if failing_since is None else failing_since
                    if now_m - failing_since > STORE_OUTAGE.total_seconds():
                        raise
                    _log.warning("worker %s: the store failed, trying again: %s",
                                 self.claimant, exc, extra={"outcome": "store_error"})
                    self._wait(stop)
                    continue
                failing_since = None
                passes += 1
                if max_passes is not None and passes >= max_passes:
                    break
                if report.idle:
                    self._wait(stop)
        self._run_stop = None  # a run_once after run returned is not stopped by it
        self._runner.close()
        _log.info("worker %s stopped after %d pass(es)", self.claimant, passes,
                  extra={"outcome": "stopped", "counters": self.counters})

    def _wait(self, stop: threading.Event | None) -> None:
        """Sleep for ``poll``, waking early when asked to stop or when work became due.

        A store with a ``wait(timeout)`` method (PostgreSQL: LISTEN/NOTIFY) is asked to
        wait, in slices short enough to notice ``stop``; it returns ``True`` as soon as
        something may be sent.
        """
        waiter = getattr(self.store, "wait", None)
        deadline = time.monotonic() + self.poll.total_seconds()
        while not self._stop.is_set() and not (stop is not None and stop.is_set()):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if callable(waiter):
                if waiter(min(left, 0.25)):
                    return
            else:
                self._stop.wait(min(left, 0.05))

    @contextlib.contextmanager
    def _signals(self, handle: bool) -> Iterator[None]:
        if not handle or threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            self._signalled(signum, self._stop.is_set(), "worker", "the delivery")
            self._stop.set()

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)



def _report(timers: list[Fired], attempts: list[Attempt], errors: list[str]) -> WorkReport:
    counts = dict.fromkeys(("sent", "failed", "dead", "deferred", "withdrawn", "released"), 0)
    for a in attempts:
        counts[a.outcome] += 1
    return WorkReport(
        fired=len(timers), timers=tuple(timers), attempts=tuple(attempts),
        errors=tuple(errors), **counts,
    )


def _attempt(
    item: ClaimedTouchpoint,
    channel: str,
    outcome: Outcome,
    **fields: Any,
) -> Attempt:
    return Attempt(
        journey_id=item.touchpoint.journey_id,
        touchpoint=item.touchpoint.name,
        channel=channel,
        idempotency_key=item.idempotency_key,
        attempt=item.attempt,
        outcome=outcome,
        **fields,
    )


def _log_attempt(a: Attempt) -> None:
    level = logging.WARNING if a.outcome in ("failed", "dead") else logging.INFO
    if not _log.isEnabledFor(level):
        return
    latency = None if a.latency is None else round(a.latency.total_seconds() * 1000, 3)
    _log.log(
        level, "%s %s via %s (attempt %d%s)%s",
        a.outcome, a.idempotency_key, a.channel or "-", a.attempt,
        "" if latency is None else f", {latency} ms",
        f": {a.error}" if a.error else "",
        extra={
            "journey_id": a.journey_id, "touchpoint": a.touchpoint, "channel": a.channel,
            "key": a.idempotency_key, "attempt": a.attempt, "outcome": a.outcome,
            "latency_ms": latency,
        },
    )


def _who(plugin: str | None) -> str:
    """A plugin's name for a message (unknown when a hook wrapper ran the call)."""
    return "a plugin" if plugin is None else f"plugin {plugin!r}"


class _Raised(Exception):
    """A delivery plugin raised ``error``."""

    def __init__(self, plugin: str | None, error: BaseException) -> None:
        super().__init__(plugin, error)
        self.plugin = plugin
        self.error = error


#: What a delivery plugin raising fails its attempt with: any exception, a ``sys.exit()``,
#: and an ``asyncio.CancelledError`` of its own (no event loop of the worker's runs the call,
#: so nothing else cancels it; it aborted the whole pass).
_PLUGIN_FAILURES = (Exception, SystemExit, asyncio.CancelledError)


def _first_answer(
    kit: CareKit, tp: Any, channel: Any, key: str, sent_keys: SentKeys | None = None
) -> tuple[str | None, Any]:
    """``carekit_deliver_touchpoint`` as pluggy calls it (first result wins), naming the plugin.

    Returns ``(plugin name, its answer)``; the name is None when every plugin passed, or when
    a hook wrapper takes part (then pluggy runs the whole call and the answer is unnamed).

    Raises:
        _Raised: a plugin raised (naming it when known).
    """
    caller = kit.hook.carekit_deliver_touchpoint
    impls = caller.get_hookimpls()
    arguments = {"touchpoint": tp, "channel": channel, "idempotency_key": key,
                 "sent_keys": sent_keys}
    if _wrapped(impls):
        try:
            return None, caller(**arguments)
        except _PLUGIN_FAILURES as exc:
            raise _Raised(None, exc) from exc
    for impl in reversed(impls):  # pluggy's order: tryfirst, then last registered first
        try:
            result = kit._call_one("carekit_deliver_touchpoint", impl, **arguments)
            # An async plugin: run it to its answer (the usual answers are not awaitable).
            if (result is not None and type(result) is not DeliveryResult
                    and inspect.isawaitable(result)):
                result = asyncio.run(_awaited(result))
        except _PLUGIN_FAILURES as exc:
            raise _Raised(impl.plugin_name, exc) from exc
        if result is not None:
            return impl.plugin_name, result
    return None, None


def _wrapped(impls: Sequence[Any]) -> bool:
    """A hook wrapper takes part in the call."""
    for impl in impls:  # noqa: SIM110 - no generator: this runs once per delivery
        if impl.hookwrapper or impl.wrapper:
            return True
    return False


async def _awaited(awaitable: Any) -> Any:
    return await awaitable

