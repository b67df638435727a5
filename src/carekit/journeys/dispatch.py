"""Deliver the touchpoints a store owes through the channel plugins, one key per touchpoint.

:func:`dispatch` (also :meth:`carekit.CareKit.dispatch`) works in batches: it *claims*
touchpoints whose next attempt is due (committing the claim before anything is sent, so a
second dispatcher in another process skips them), hands each to the
``carekit_deliver_touchpoint`` hook with the touchpoint's idempotency key, and *records*
every outcome in one transaction.

* A plugin that returns a :class:`~carekit.channels.DeliveryResult` delivered it.
* A plugin that returns ``DeliveryResult(delivered=False)`` decided not to send it (an
  opt-out, say): the touchpoint is dead-lettered at once, since retrying would not help.
* A plugin that raises failed this attempt: the touchpoint is retried after an exponential
  backoff (``backoff * 2 ** (attempt - 1)``, at most ``max_backoff``) and dead-lettered
  after ``max_attempts`` attempts, after which it shows in ``journey.overdue(now)``.
* A channel that no plugin delivers is an error: reported in
  :attr:`DispatchReport.errors` and treated as a failed attempt, so it is retried (a plugin
  may be installed meanwhile) and finally dead-lettered, never silently dropped.

If the dispatcher dies between a plugin's success and the recording of it, the claim expires
after ``lease`` and the next dispatch sends the touchpoint again *with the same idempotency
key*: a provider that honours keys delivers it once.

Examples:
    >>> import datetime as dt
    >>> from carekit.journeys import Event, MemoryJourneyStore, dispatch, order_journey
    >>> from carekit.testing import RecordingChannel, make_carekit
    >>> at = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
    >>> email = RecordingChannel("email", register=False)
    >>> kit = make_carekit(email)
    >>> store = MemoryJourneyStore()
    >>> _ = store.create(order_journey(), "order-1", at=at, channel="email")
    >>> _ = store.append("order-1", [Event("place", at=at), Event("acknowledge", at=at)])
    >>> report = dispatch(kit, store, now=at + dt.timedelta(minutes=1))
    >>> len(report.sent), email.names
    (1, ['order_thanks'])
    >>> store.load("order-1").owed
    ()
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from carekit import _validate
from carekit.channels import DeliveryResult
from carekit.errors import CareKitError
from carekit.journeys._store_base import check_limit, later_by
from carekit.journeys.store import AttemptOutcome, ClaimedTouchpoint, JourneyStore

if TYPE_CHECKING:
    from carekit.plugins import CareKit

__all__ = ["Attempt", "DispatchReport", "dispatch"]


@attrs.frozen(kw_only=True)
class Attempt:
    """One delivery attempt as :class:`DispatchReport` lists it.

    Args:
        journey_id: the journey that owes the touchpoint.
        touchpoint: the touchpoint's name.
        channel: the channel tried.
        idempotency_key: the touchpoint's key (the same for every attempt).
        attempt: the attempt's number (1 for the first).
        reference: the provider's message id (sent only).
        error: why it failed (failed and dead only).
        retry_at: when it will be tried again (failed only).
    """

    journey_id: str
    touchpoint: str
    channel: str
    idempotency_key: str
    attempt: int
    reference: str | None = None
    error: str | None = None
    retry_at: dt.datetime | None = None


@attrs.frozen(kw_only=True)
class DispatchReport:
    """What one :func:`dispatch` call did.

    Args:
        sent: attempts that delivered.
        failed: attempts that failed and will be retried (see ``retry_at``).
        dead: touchpoints dead-lettered by this call (their last attempt failed).
        errors: configuration problems found, such as a channel no plugin delivers.
        batches: how many batches were claimed.
    """

    sent: tuple[Attempt, ...] = ()
    failed: tuple[Attempt, ...] = ()
    dead: tuple[Attempt, ...] = ()
    errors: tuple[str, ...] = ()
    batches: int = 0

    @property
    def attempted(self) -> int:
        """How many delivery attempts were made."""
        return len(self.sent) + len(self.failed) + len(self.dead)

    @property
    def ok(self) -> bool:
        """Nothing failed, nothing was dead-lettered, no error."""
        return not (self.failed or self.dead or self.errors)

    def summary(self) -> str:
        """One line for logs: ``"sent 3, failed 1, dead 0, errors 0 in 1 batch(es)"``."""
        return (
            f"sent {len(self.sent)}, failed {len(self.failed)}, dead {len(self.dead)}, "
            f"errors {len(self.errors)} in {self.batches} batch(es)"
        )


def _backoff(attempt: int, base: dt.timedelta, cap: dt.timedelta) -> dt.timedelta:
    # Exponential backoff: base, 2 base, 4 base, … capped (no overflow for huge attempts).
    if attempt >= 40:
        return cap
    delay: dt.timedelta = base * (2 ** (attempt - 1))
    return min(delay, cap)


def dispatch(
    kit: CareKit,
    store: JourneyStore,
    *,
    now: dt.datetime,
    max_attempts: int = 5,
    backoff: dt.timedelta | float = dt.timedelta(minutes=1),
    max_backoff: dt.timedelta | float = dt.timedelta(hours=6),
    lease: dt.timedelta | float = dt.timedelta(minutes=5),
    batch_size: int = 100,
    max_batches: int | None = None,
    default_channel: str | None = "email",
    claimant: str | None = None,
) -> DispatchReport:
    """Deliver every touchpoint in ``store`` whose next attempt is due at ``now``.

    Args:
        kit: the :class:`~carekit.CareKit` whose plugins deliver (``carekit_deliver_touchpoint``).
        store: a :class:`~carekit.journeys.JourneyStore`.
        now: the current time (timezone-aware); touchpoints owed or retried after it wait.
        max_attempts: attempts before a touchpoint is dead-lettered.
        backoff: wait after the first failed attempt; doubles after each further one.
        max_backoff: the longest wait between attempts.
        lease: how long a claim keeps other dispatchers away; after a crash the touchpoint
            is sent again (same idempotency key) once the lease has run out.
        batch_size: touchpoints claimed and recorded per transaction (at most 1,000,000).
        max_batches: stop after this many batches (``None``: until nothing is due).
        default_channel: the channel for touchpoints whose journey names none.
        claimant: a name for this dispatcher in claims (default: a random one).

    Returns:
        A :class:`DispatchReport`.

    Raises:
        CareKitError: a bad argument (among them a ``now + lease`` or ``now + max_backoff``
            past the year 9999, a ``batch_size`` over 1,000,000), or ``store`` is not a
            journey store.
        StoreError: the store cannot be read or written.
    """
    _validate.aware("now", now)
    _validate.positive_int("max_attempts", max_attempts)
    base = _validate.positive_duration("backoff", backoff)
    cap = _validate.positive_duration("max_backoff", max_backoff)
    lease_for = _validate.positive_duration("lease", lease)
    # Claims run out at now + lease and retries wait at most max_backoff: both must be
    # datetimes (before the year 10000) for every store.
    later_by(now, lease_for, "lease")
    later_by(now, cap, "max_backoff")
    check_limit("batch_size", batch_size)
    if max_batches is not None:
        _validate.positive_int("max_batches", max_batches)
    if not all(hasattr(store, name) for name in ("claim_due", "record")):
        msg = f"store must be a journey store such as SQLiteJourneyStore (got {store!r})"
        raise CareKitError(msg)
    who = claimant if claimant is not None else f"dispatch-{uuid.uuid4().hex[:12]}"
    sent: list[Attempt] = []
    failed: list[Attempt] = []
    dead: list[Attempt] = []
    errors: list[str] = []
    batches = 0
    while max_batches is None or batches < max_batches:
        claimed: Sequence[ClaimedTouchpoint] = store.claim_due(
            now=now, limit=batch_size, lease=lease_for, claimant=who
        )
        if not claimed:
            break
        batches += 1
        outcomes: list[AttemptOutcome] = []
        for item in claimed:
            channel_name = item.channel or default_channel or ""
            reference, error, final = _deliver(kit, item, channel_name, errors)
            report = Attempt(
                journey_id=item.touchpoint.journey_id,
                touchpoint=item.touchpoint.name,
                channel=channel_name,
                idempotency_key=item.idempotency_key,
                attempt=item.attempt,
            )
            if error is None:
                outcomes.append(AttemptOutcome(claimed=item, status="sent", at=now,
                                               reference=reference))
                sent.append(attrs.evolve(report, reference=reference))
            elif final or item.attempt >= max_attempts:
                reason = error if final else f"gave up after {item.attempt} attempt(s): {error}"
                outcomes.append(AttemptOutcome(claimed=item, status="dead", at=now, error=reason))
                dead.append(attrs.evolve(report, error=reason))
            else:
                retry_at = now + _backoff(item.attempt, base, cap)
                outcomes.append(AttemptOutcome(claimed=item, status="retry", at=now,
                                               error=error, retry_at=retry_at))
                failed.append(attrs.evolve(report, error=error, retry_at=retry_at))
        store.record(outcomes)
        if len(claimed) < batch_size:
            break
    return DispatchReport(
        sent=tuple(sent), failed=tuple(failed), dead=tuple(dead), errors=tuple(errors),
        batches=batches,
    )


def _deliver(
    kit: CareKit, item: ClaimedTouchpoint, channel_name: str, errors: list[str]
) -> tuple[str | None, str | None, bool]:
    """Hand one touchpoint to the plugins: ``(reference, error, final)``.

    ``error`` is ``None`` when it was delivered; ``final`` says not to retry it.
    """
    tp = item.touchpoint
    channel = kit.channels.get(channel_name)
    if channel is None and not channel_name:
        error = (
            f"touchpoint {tp.name!r} of journey {tp.journey_id!r} names no channel, nor does "
            "its journey, and dispatch has no default_channel"
        )
        errors.append(error)
        return None, error, False
    if channel is None:
        error = (
            f"touchpoint {tp.name!r} of journey {tp.journey_id!r} is for channel "
            f"{channel_name!r}, which no plugin provides (known channels: {sorted(kit.channels)})"
        )
        errors.append(error)
        return None, error, False
    try:
        plugin, result = _first_answer(kit, tp, channel, item.idempotency_key)
    except _Raised as raised:  # a raising plugin is a failed attempt, retried later
        exc = raised.error
        return None, f"{_who(raised.plugin)} raised {type(exc).__name__}: {exc}", False
    if result is None:
        error = (
            f"no plugin delivers touchpoints on channel {channel_name!r} (touchpoint "
            f"{tp.name!r} of journey {tp.journey_id!r}); register a channel plugin that "
            "implements carekit_deliver_touchpoint for it"
        )
        errors.append(error)
        return None, error, False
    if not isinstance(result, DeliveryResult):
        error = (
            f"{_who(plugin)} returned {result!r} from carekit_deliver_touchpoint; expected "
            "a DeliveryResult or None"
        )
        return None, error, False
    if not result.delivered:
        # The plugin decided not to send it (an opt-out, say): retrying would not help.
        error = (
            f"{_who(plugin)}, delivering channel {channel_name!r}, declined it "
            "(DeliveryResult(delivered=False)); not retried"
        )
        return None, error, True
    return result.reference, None, False


def _who(plugin: str | None) -> str:
    """A plugin's name for a message (unknown when a hook wrapper ran the call)."""
    return "a plugin" if plugin is None else f"plugin {plugin!r}"


class _Raised(Exception):
    """A delivery plugin raised ``error``."""

    def __init__(self, plugin: str | None, error: Exception) -> None:
        super().__init__(plugin, error)
        self.plugin = plugin
        self.error = error


def _first_answer(kit: CareKit, tp: Any, channel: Any, key: str) -> tuple[str | None, Any]:
    """``carekit_deliver_touchpoint`` as pluggy calls it (first result wins), naming the plugin.

    Returns ``(plugin name, its answer)``; the name is None when every plugin passed, or when
    a hook wrapper takes part (then pluggy runs the whole call and the answer is unnamed).

    Raises:
        _Raised: a plugin raised (naming it when known).
    """
    caller = kit.hook.carekit_deliver_touchpoint
    impls = caller.get_hookimpls()
    arguments = {"touchpoint": tp, "channel": channel, "idempotency_key": key}
    if any(impl.hookwrapper or impl.wrapper for impl in impls):
        try:
            return None, caller(**arguments)
        except Exception as exc:
            raise _Raised(None, exc) from exc
    for impl in reversed(impls):  # pluggy's order: tryfirst, then last registered first
        try:
            result = kit._call_one("carekit_deliver_touchpoint", impl, **arguments)
        except Exception as exc:
            raise _Raised(impl.plugin_name, exc) from exc
        if result is not None:
            return impl.plugin_name, result
    return None, None
