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
after ``lease`` and the next dispatch sends that one touchpoint again *with the same
idempotency key*: a provider that honours keys delivers it once. To run deadlines, promise
checks and deliveries continuously, use :class:`~carekit.journeys.Worker` (or
``carekit worker``).

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
from typing import TYPE_CHECKING, Any

import attrs

from carekit import _validate
from carekit.errors import CareKitError
from carekit.journeys.stores._shared import check_limit, later_by
from carekit.journeys.worker import Attempt, Worker

if TYPE_CHECKING:
    from carekit.plugins import CareKit

__all__ = ["Attempt", "DispatchReport", "dispatch"]


@attrs.frozen(kw_only=True)
class DispatchReport:
    """What one :func:`dispatch` call did.

    Args:
        sent: attempts that delivered.
        failed: attempts that failed and will be retried (see ``retry_at``).
        dead: touchpoints dead-lettered by this call (their last attempt failed).
        errors: configuration problems found, such as a channel no plugin delivers.
        batches: how many batches were claimed.
        deferred: touchpoints put off (quiet hours, a plugin's ``retry_at``).
        withdrawn: claimed touchpoints found withdrawn before delivery (not sent).
    """

    sent: tuple[Attempt, ...] = ()
    failed: tuple[Attempt, ...] = ()
    dead: tuple[Attempt, ...] = ()
    errors: tuple[str, ...] = ()
    batches: int = 0
    deferred: tuple[Attempt, ...] = ()
    withdrawn: tuple[Attempt, ...] = ()

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
        extra = f", deferred {len(self.deferred)}" if self.deferred else ""
        return (
            f"sent {len(self.sent)}, failed {len(self.failed)}, dead {len(self.dead)}, "
            f"errors {len(self.errors)}{extra} in {self.batches} batch(es)"
        )


def dispatch(
    kit: CareKit,
    store: Any,
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
    timeout: dt.timedelta | float | None = None,
) -> DispatchReport:
    """Deliver every touchpoint in ``store`` that may be sent at ``now``.

    Args:
        kit: the :class:`~carekit.CareKit` whose plugins deliver (``carekit_deliver_touchpoint``).
        store: a :class:`~carekit.journeys.JourneyStore`.
        now: the current time (timezone-aware); touchpoints owed or retried after it wait.
        max_attempts: attempts before a touchpoint is dead-lettered.
        backoff: wait after the first failed attempt; doubles after each further one.
        max_backoff: the longest wait between attempts.
        lease: how long a claim keeps other dispatchers away (timed on the store's clock);
            after a crash the touchpoint in flight is sent again (same idempotency key) once
            the lease has run out.
        batch_size: touchpoints claimed per transaction (at most 1,000,000).
        max_batches: stop after this many batches (``None``: until nothing is due).
        default_channel: the channel for touchpoints whose journey names none.
        claimant: a name for this dispatcher in claims (default: a random one).
        timeout: how long one delivery may take before it counts as failed (``None``: no
            limit).

    Returns:
        A :class:`DispatchReport`.

    Raises:
        CareKitError: a bad argument (among them a ``now + max_backoff`` past the year
            9999, a ``batch_size`` over 1,000,000), ``kit`` is not a CareKit or its plugins
            are broken (checked before anything is claimed), or ``store`` is not a journey
            store.
        StoreError: the store cannot be read or written.
    """
    _validate.aware("now", now)
    cap = _validate.positive_duration("max_backoff", max_backoff)
    later_by(now, cap, "max_backoff")
    check_limit("batch_size", batch_size)
    if max_batches is not None:
        _validate.positive_int("max_batches", max_batches)
    lease_for = _validate.positive_duration("lease", lease)
    if timeout is not None and _validate.positive_duration("timeout", timeout) >= lease_for:
        msg = f"timeout ({timeout}) must be shorter than lease ({lease_for})"
        raise CareKitError(msg)
    worker = Worker(
        kit, store, lease=lease_for, batch_size=batch_size, max_attempts=max_attempts,
        backoff=backoff, max_backoff=cap, claimant=claimant, timeout=timeout,
        default_channel=default_channel, promise_checks=None,
    )
    attempts, errors, batches = worker._deliver(now, max_batches)
    by: dict[str, list[Attempt]] = {}
    for a in attempts:
        by.setdefault(a.outcome, []).append(a)
    return DispatchReport(
        sent=tuple(by.get("sent", ())),
        failed=tuple(by.get("failed", ())),
        dead=tuple(by.get("dead", ())),
        errors=tuple(errors),
        batches=batches,
        deferred=tuple(by.get("deferred", ())),
        withdrawn=tuple(by.get("withdrawn", ())),
    )
