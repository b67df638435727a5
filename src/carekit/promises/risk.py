"""Is a promise at risk? Tell the customer as soon as you know.

Examples:
    >>> import datetime as dt
    >>> from carekit.calendar import BusinessCalendar
    >>> from carekit.promises import Promise, StageForecast, at_risk
    >>> cal = BusinessCalendar(tz="UTC")
    >>> t0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.timezone.utc)        # a Monday
    >>> cdf = (0, 0, 0, 0.5, 0.6, 1.0)                                  # 3 to 5 business days
    >>> p = Promise(ordered_at=t0, expected=dt.date(2026, 3, 5), promised=dt.date(2026, 3, 6),
    ...             padding=1, confidence=0.9, calendar=cal,
    ...             stages=(StageForecast(name="delivery", cdf=cdf),))
    >>> at_risk(p, {}, t0).probability
    0.6
    >>> at_risk(p, {}, t0 + dt.timedelta(days=4)).notify    # Friday, still not delivered
    True
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from carekit import _validate
from carekit.calendar import BusinessCalendar
from carekit.errors import CareKitError
from carekit.promises.estimators import _check_calendar, convolve, default_calendar, pmf_of
from carekit.promises.promise import Promise, StageForecast

__all__ = ["Risk", "at_risk"]


@attrs.frozen(kw_only=True)
class Risk:
    """How likely a promise is to be kept, given what has happened so far.

    Attributes:
        promise: the promise assessed.
        now: when it was assessed.
        probability: the probability of delivering on or before ``promise.promised``.
        expected: the updated best estimate of the delivery date.
        stage: the stage under way (None once every stage is done).
        notify: whether to tell the customer now (``probability < threshold``).
        threshold: the probability below which the customer is told.
    """

    promise: Promise
    now: dt.datetime
    probability: float
    expected: dt.date
    stage: str | None
    notify: bool
    threshold: float

    @property
    def at_risk(self) -> bool:
        """Whether the promise is at risk, the same as :attr:`notify`."""
        return self.notify

    def to_event(
        self,
        at: dt.datetime | None = None,
        journey_id: str | None = None,
        id: str | None = None,
    ) -> Any:
        """A ``promise_at_risk`` :class:`carekit.journeys.Event` for the order journey.

        The built-in order journey answers it (before the order is delivered) with the
        proactive ``promise_at_risk_notice`` touchpoint, which carries this data.

        Args:
            at: when the event happened (default: :attr:`now`).
            journey_id: the order's journey id.
            id: an idempotency id for the event.

        Returns:
            ``Event("promise_at_risk", at=..., data={"promised": ..., "expected": ...,
            "probability": ..., "stage": ..., "ordered_at": ...})`` with ISO dates.
        """
        from carekit.journeys import Event

        data: dict[str, Any] = {
            "promised": self.promise.promised.isoformat(),
            "expected": self.expected.isoformat(),
            "probability": round(self.probability, 4),
            "stage": self.stage,
            "ordered_at": self.promise.ordered_at.isoformat(),
        }
        return Event("promise_at_risk", at=self.now if at is None else at, id=id,
                     journey_id=journey_id, data=data)


def _conditional(cdf: Sequence[float], elapsed: int) -> tuple[float, ...]:
    """The cdf of a stage known to take at least ``elapsed`` business days."""
    pmf = pmf_of(cdf)
    if elapsed <= 0:
        return tuple(cdf)
    mass = sum(pmf[elapsed:])
    if mass <= 1e-12:
        # Past everything seen before: assume it finishes today (and say so through the
        # updated expected date).
        return (0.0,) * elapsed + (1.0,)
    out: list[float] = []
    acc = 0.0
    for k, x in enumerate(pmf):
        if k >= elapsed:
            acc += x / mass
        out.append(min(acc, 1.0))
    return tuple(out)


def at_risk(
    promise: Promise,
    progress: Mapping[str, dt.datetime] | None,
    now: dt.datetime,
    *,
    threshold: float = 0.5,
    calendar: BusinessCalendar | None = None,
) -> Risk:
    """The probability of keeping ``promise`` now, and whether to tell the customer.

    The stages of the promise (production, carrier) are taken in order; ``progress`` says
    when each finished stage finished (``{"production": ..., "carrier": ...}``; a single-stage
    promise calls its stage ``"delivery"``). The stage under way is known to have lasted at
    least the business days since the previous one finished, up to today (on a closed day,
    up to the next business day: a delivery then counts as that day's), and the stages
    still to come follow their learned distributions, so the probability is
    ``P(rest <= business days left until the promised date)``. A promise without stage
    distributions (a hand-built one, or :class:`PaddedEstimator`'s from a given
    ``expected``) treats its expected date as certain.

    Args:
        promise: the promise to assess.
        progress: stage name -> when it finished (timezone-aware), for finished stages.
        now: the moment of the assessment (timezone-aware, not before the order).
        threshold: tell the customer when the probability is below this.
        calendar: the calendar (default: the promise's own).

    Returns:
        A :class:`Risk`; ``risk.to_event(journey_id=...)`` feeds the order journey.

    Raises:
        CareKitError: naive datetimes, ``now`` before the order, an unknown stage, a stage
            finished before the previous one, a threshold outside [0, 1], a delivery that
            could only be expected after the year 9999.
    """
    if not isinstance(promise, Promise):
        msg = f"promise must be a carekit.promises.Promise (got {_validate.short(promise)})"
        raise CareKitError(msg)
    _validate.aware("now", now)
    limit = _validate.probability("threshold", threshold, allow_zero=True)
    cal = _check_calendar(calendar) or promise.calendar or default_calendar()
    if now < promise.ordered_at:
        msg = f"now must not be before the order (got {now!r}, ordered_at {promise.ordered_at!r})"
        raise CareKitError(msg)
    stages: tuple[StageForecast, ...] = promise.stages
    if not stages:
        lead = max(0, cal.business_days_between(promise.ordered_at, promise.expected))
        stages = (StageForecast(name="delivery", cdf=(0.0,) * lead + (1.0,)),)
    if progress is not None and not isinstance(progress, Mapping):
        msg = (
            "progress must map stage names to finish times, or be None "
            f"(got {_validate.short(progress)})"
        )
        raise CareKitError(msg)
    done = dict(progress or {})
    names = [s.name for s in stages]
    for name, when in done.items():
        if name not in names:
            msg = f"progress names unknown stage {name!r}; the promise's stages are {names!r}"
            raise CareKitError(msg)
        _validate.aware(f"progress[{name!r}]", when)
    base = promise.ordered_at
    current = 0
    for k, name in enumerate(names):
        if name in done:
            when = done[name]
            if when < base:
                msg = f"progress[{name!r}] ({when!r}) is before the previous stage ended ({base!r})"
                raise CareKitError(msg)
            base = when
            current = k + 1
        else:
            later = [n for n in names[k + 1:] if n in done]
            if later:
                msg = f"progress has {later[0]!r} finished but not the earlier stage {name!r}"
                raise CareKitError(msg)
            break
    if current == len(names):
        delivered = base.astimezone(cal.tz).date()
        ok = delivered <= promise.promised
        return Risk(promise=promise, now=now, probability=1.0 if ok else 0.0,
                    expected=delivered, stage=None, notify=False, threshold=limit)
    # The stage under way can still finish today, or on a closed day the next business
    # day (a delivery on a closed day counts as the next business day).
    elapsed = max(0, cal.business_days_between(base, now) + (not cal.is_business_day(now)))
    rest = [_conditional(stages[current].cdf, elapsed)]
    rest += [s.cdf for s in stages[current + 1:]]
    total = convolve(rest)
    budget = cal.business_days_between(base, promise.promised)
    probability = 0.0 if budget < 0 else total[min(budget, len(total) - 1)]
    probability = min(max(probability, 0.0), 1.0)
    median = next((k for k, f in enumerate(total) if f >= 0.5 - 1e-12), len(total) - 1)
    try:
        expected = cal.add_business_days(base, median)
    except CareKitError:
        msg = (
            f"the delivery would now be expected after {dt.date.max}, the last date a "
            "calendar can name"
        )
        raise CareKitError(msg) from None
    expected_date = expected.date() if isinstance(expected, dt.datetime) else expected
    return Risk(promise=promise, now=now, probability=probability, expected=expected_date,
                stage=names[current], notify=probability < limit, threshold=limit)
