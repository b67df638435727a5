"""The timer index's logic that is not SQL, shared by every store (private).

A store indexes two kinds of timers, written in the same transaction as the events that set
them, so "what is due now" is an index range scan and never a scan of open journeys:

* ``deadline``: one per running deadline (key: the deadline's idempotency key, which is also
  its breach event's id), due when the deadline passes. Firing applies the breach event.
* ``promise``: one per journey whose events carried a delivery promise
  (``data["promise"]``, from :meth:`carekit.promises.Promise.to_dict`), due when the promise
  should next be checked. Firing asks :class:`~carekit.journeys.PromiseChecks` whether the
  promise is at risk; if so ``promise_at_risk`` is applied (once per promised date).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from carekit.errors import CareKitError

if TYPE_CHECKING:
    from carekit.journeys import ActiveDeadline, Event, Journey
    from carekit.journeys.stores._shared import Applied

__all__ = [
    "PROMISE_EVENT",
    "breach_event",
    "deadline_changes",
    "keeps_promise_check",
    "promise_key",
    "promise_payload",
]

#: The event a promise found at risk is reported by (``Risk.to_event``).
PROMISE_EVENT = "promise_at_risk"


def promise_key(journey_id: str) -> str:
    """The key of a journey's promise-check timer."""
    return f"{journey_id}/promise"


def deadline_changes(
    before: Journey, after: Journey
) -> tuple[list[str], list[ActiveDeadline]]:
    """The deadline timers to delete (keys) and to add, going from ``before`` to ``after``."""
    if not after.deadlines:  # the usual change: the state was left, its deadlines stop
        if len(before.deadlines) == 1:  # nearly always one: no duplicate to drop
            return [before.deadlines[0].idempotency_key], []
        return list(dict.fromkeys([d.idempotency_key for d in before.deadlines])), []
    old = {d.idempotency_key: d for d in before.deadlines}
    new = {d.idempotency_key: d for d in after.deadlines}
    gone = [key for key in old if key not in new]
    added = [d for key, d in new.items() if key not in old]
    return gone, added


def breach_event(deadline: ActiveDeadline, journey: Journey, now: dt.datetime) -> Event:
    """The breach event a worker applies for ``deadline`` at ``now``.

    Dated ``now`` (or the journey's latest event, when that is later: a breach is never
    refused for arriving after later events), with the deadline's key as its id (so it is
    applied once, however many workers fire it) and the due time in its data.
    """
    from carekit.journeys.events import Event, EventData

    at = now if now >= journey.updated_at else journey.updated_at
    return Event(
        deadline.breach_event,
        at=at,
        id=deadline.idempotency_key,
        journey_id=journey.journey_id,
        # two strings: EventData as Event would make it, without checking them again
        data=EventData(due=deadline.due.isoformat(), deadline_state=deadline.state),
    )


def promise_payload(applied: Sequence[Applied]) -> tuple[str, dt.datetime] | None:
    """The promise the batch's latest event carrying one gave, as stored text, and when.

    Raises:
        CareKitError: an event's ``data["promise"]`` is not a dict made by
            :meth:`carekit.promises.Promise.to_dict`.
    """
    for item in reversed(applied):
        data = item.event.data
        if data and "promise" in data:
            from carekit.promises import Promise

            value = data["promise"]
            try:
                Promise.from_dict(value)
            except CareKitError as exc:
                msg = (
                    f"event {item.event.name!r} carries data['promise'] that is not a promise "
                    f"made by Promise.to_dict(): {exc}"
                )
                raise CareKitError(msg) from None
            return json.dumps(value, sort_keys=True, separators=(",", ":")), item.at
    return None


def keeps_promise_check(journey: Journey) -> bool:
    """Whether the journey, where it is now, can still be told its promise is at risk."""
    return PROMISE_EVENT in journey.definition._allowed[journey.state]


def parse_payload(text: str) -> Any:
    """The promise a promise timer holds (a :class:`~carekit.promises.Promise`)."""
    from carekit.promises import Promise

    return Promise.from_dict(json.loads(text))


#: How long a timer whose firing failed (a recovery plugin raised, say) waits to be retried.
RETRY_FAILED_TIMER = dt.timedelta(minutes=1)

_log = logging.getLogger("carekit.worker")


def retry_later(now: dt.datetime) -> dt.datetime:
    """When a timer whose firing failed at ``now`` is tried again."""
    try:
        return now + RETRY_FAILED_TIMER
    except OverflowError:  # pragma: no cover - the last minute of the year 9999
        return now


def log_failure(journey_id: str, key: str, exc: BaseException) -> None:
    """Log a timer that could not be fired (it is retried later)."""
    _log.warning(
        "timer %s of journey %r could not be fired (retried in %s): %s",
        key, journey_id, RETRY_FAILED_TIMER, exc,
        extra={"journey_id": journey_id, "key": key, "outcome": "timer_failed"},
    )


def decide_deadline(
    key: str, journey: Journey, now: dt.datetime
) -> tuple[bool, Event | None, dt.datetime | None]:
    """Firing the deadline timer ``key``: (fired, breach event to apply, next due: None)."""
    for d in journey.deadlines:
        if d.idempotency_key == key:
            if d.breach_event in journey.definition._allowed[journey.state]:
                return True, breach_event(d, journey, now), None
            return True, None, None  # no transition for it: journey.overdue reports it
    return False, None, None  # the deadline no longer runs (a stale timer)


def decide_promise(
    checks: Any,
    journey: Journey,
    promise: Any,
    events: Callable[[], Sequence[Event]],
    now: dt.datetime,
) -> tuple[bool, Event | None, dt.datetime | None]:
    """Firing a promise timer: (fired, ``promise_at_risk`` to apply, next check time)."""
    if not keeps_promise_check(journey):
        return False, None, None
    event, next_due = checks.decide(journey, promise, events(), now)
    return event is not None, event, next_due
