"""Deferred work (email, back office): work carried forward to be done within its deadline.

Email that arrives overnight is not a queue of callers: it waits in the inbox and is answered
in the morning, within its deadline. Treated as calls it makes a phantom peak at opening
(every overnight message "arrives" at 08:00 and must be answered at once). :func:`backlog`
plans it as work carried forward: each interval's arrivals are due a number of *open*
intervals later, and each open interval is staffed at the lowest steady rate that finishes
all the work already in hand by each of its deadlines.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Iterable, Iterator
from fractions import Fraction
from typing import Any, overload

import attrs

from carekit import _validate
from carekit.calendar import BusinessCalendar
from carekit.errors import CareKitError
from carekit.staffing._exact import exact, seconds
from carekit.staffing.requirements import check_shrinkage, gross_up

__all__ = ["Backlog", "BacklogInterval", "backlog"]


@attrs.frozen(kw_only=True)
class BacklogInterval:
    """One interval of a :class:`Backlog`.

    Attributes:
        start: the interval's start.
        volume: items arriving in it.
        open: whether people work in it (opening hours and business days).
        due: start of the open interval by whose end this interval's items must be done.
        carried_in: hours of work waiting at the interval's start.
        arrived: hours of work arriving in it (``volume * aht``).
        agents: productive agents working the backlog in it.
        scheduled: people to schedule, ``ceil(agents / (1 - shrinkage))``.
        done: hours of work done in it.
        carried_out: hours of work waiting at its end.
    """

    start: dt.datetime
    volume: float
    open: bool
    due: dt.datetime | None
    carried_in: float
    arrived: float
    agents: int
    scheduled: int
    done: float
    carried_out: float


@attrs.frozen(kw_only=True)
class Backlog:
    """A staffing plan for deferred work, interval by interval.

    Attributes:
        intervals: one :class:`BacklogInterval` per forecast interval.
        interval: the interval length.
        aht: the handle time of one item.
        within: the deadline, in open time after arrival.
        shrinkage: the shrinkage used to go from agents to scheduled.
    """

    intervals: tuple[BacklogInterval, ...]
    interval: dt.timedelta
    aht: dt.timedelta
    within: dt.timedelta
    shrinkage: float
    _due: tuple[int, ...] = attrs.field(alias="_due", repr=False, eq=False)

    def on_time(self, agents: Iterable[int]) -> list[float]:
        """Per interval, the share of its work done by its due time with ``agents`` working.

        The same fluid, first-in-first-out model as :func:`backlog`, with the given
        productive agents per interval (working whenever there are some, open or not).
        Work due after the forecast's last open interval is not judged (1.0).

        Raises:
            CareKitError: ``agents`` is not one whole number >= 0 per interval.
        """
        try:
            counts: list[Any] = list(agents)
        except TypeError:
            counts = [agents]
        if len(counts) != len(self.intervals) or any(
                isinstance(a, bool) or not isinstance(a, int) or a < 0 for a in counts):
            msg = (
                f"agents must be one whole number >= 0 per interval ({len(self.intervals)}) "
                f"(got {counts!r})"
            )
            raise CareKitError(msg)
        capacity = seconds(self.interval)
        per_item = seconds(self.aht)
        n = len(counts)
        work = [exact(r.volume) * per_item for r in self.intervals]
        left = list(work)  # work of each arrival interval not yet done
        late = [Fraction(0)] * n
        head = 0
        for i in range(n):
            budget = counts[i] * capacity
            while budget > 0 and head <= i:
                take = min(budget, left[head])
                left[head] -= take
                budget -= take
                if left[head] == 0:
                    head += 1
            for j in range(head, i + 1):  # what is due now and not done is late
                if self._due[j] == i:
                    late[j] = left[j]
        return [1.0 if w == 0 else float(1 - late[j] / w) for j, w in enumerate(work)]

    def __iter__(self) -> Iterator[BacklogInterval]:
        return iter(self.intervals)

    def __len__(self) -> int:
        return len(self.intervals)

    @overload
    def __getitem__(self, index: int) -> BacklogInterval: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[BacklogInterval, ...]: ...

    def __getitem__(self, index: int | slice) -> BacklogInterval | tuple[BacklogInterval, ...]:
        """The interval at ``index`` (``backlog[0]``, ``backlog[-1]``), or a slice's as a tuple."""
        return self.intervals[index]

    @property
    def agent_hours(self) -> float:
        """Productive agent-hours planned, ``sum(agents) * interval``."""
        return sum(r.agents for r in self.intervals) * self.interval.total_seconds() / 3600

    @property
    def scheduled_hours(self) -> float:
        """Agent-hours to schedule (with shrinkage)."""
        return sum(r.scheduled for r in self.intervals) * self.interval.total_seconds() / 3600

    @property
    def work_hours(self) -> float:
        """Hours of work arriving over the forecast."""
        return math.fsum(r.arrived for r in self.intervals)

    def to_csv(self) -> str:
        """The plan as CSV text, one row per interval."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["interval_start", "volume", "open", "due", "carried_in_hours",
                         "arrived_hours", "agents", "scheduled", "done_hours",
                         "carried_out_hours"])
        for r in self.intervals:
            writer.writerow([r.start.isoformat(), f"{r.volume:.6g}", r.open,
                             r.due.isoformat() if r.due else "", f"{r.carried_in:.6g}",
                             f"{r.arrived:.6g}", r.agents, r.scheduled, f"{r.done:.6g}",
                             f"{r.carried_out:.6g}"])
        return buf.getvalue()


def _hours(value: Any, name: str) -> tuple[dt.time, dt.time]:
    try:
        a, b = value
    except (TypeError, ValueError):
        msg = f"{name} must be an (opens, closes) pair of times such as ('08:00', '20:00') " \
              f"(got {value!r})"
        raise CareKitError(msg) from None
    out = []
    for given in (a, b):
        part = given
        if isinstance(part, str):
            try:
                part = dt.time.fromisoformat(part.strip())
            except ValueError:
                msg = f"{name} times must look like '08:00' (got {given!r})"
                raise CareKitError(msg) from None
        if not isinstance(part, dt.time) or part.tzinfo is not None:
            msg = f"{name} times must be local datetime.time values (got {given!r})"
            raise CareKitError(msg)
        out.append(part)
    if out[0] >= out[1] and out[1] != dt.time(0):
        msg = f"{name} must open before it closes (got {value!r})"
        raise CareKitError(msg)
    return out[0], out[1]


def _is_open(start: dt.datetime, hours: tuple[dt.time, dt.time],
             calendar: BusinessCalendar | None) -> bool:
    local = start if calendar is None else start.astimezone(calendar.tz)
    if calendar is not None and not calendar.is_business_day(local):
        return False
    t = local.time().replace(tzinfo=None)
    opens, closes = hours
    return opens <= t and (closes == dt.time(0) or t < closes)


def backlog(
    forecast: Iterable[tuple[dt.datetime, float]],
    *,
    aht: dt.timedelta | float,
    within: dt.timedelta | float,
    hours: tuple[dt.time | str, dt.time | str] = (dt.time(0), dt.time(0)),
    calendar: BusinessCalendar | None = None,
    shrinkage: float = 0.0,
    interval: dt.timedelta | float = dt.timedelta(minutes=30),
) -> Backlog:
    """Staff deferred work: each item done within ``within`` of open time after it arrives.

    The model is a fluid one (work in agent-seconds, done first in, first out):

    * an interval's items bring ``volume * aht`` of work, which may be done from that
      interval on, but only in *open* intervals: those starting within ``hours`` (local
      time of the forecast, or of ``calendar``'s zone) on ``calendar``'s business days;
    * they are due by the end of the ``k``-th open interval at or after their own, with
      ``k = ceil(within / interval)``: the deadline counts open time only, so a message
      sent at 23:00 with a two-hour deadline is due two open hours after opening;
    * each open interval gets the fewest productive agents that, working at a steady rate
      from now on, would finish all the work in hand (arrived and not done) by each of its
      due times: ``max over due times d of ceil(work due by d / (interval * open
      intervals until d))``. It never works ahead of what has arrived, and everything is
      done on time, so overnight mail is spread over the morning instead of all at 08:00.
      Work due after the forecast's last open interval sets no rate: it is done when
      there is time and otherwise shows as ``carried_out`` at the end.

    Args:
        forecast: ``(interval_start, volume)`` pairs, one per interval, in time order,
            closed intervals included (items arrive while closed).
        aht: handle time of one item (``timedelta`` or seconds).
        within: the deadline in open time (``timedelta`` or seconds, > 0).
        hours: ``(opens, closes)`` local times; the default ``(00:00, 00:00)`` is open all
            day. ``closes`` of ``00:00`` means midnight.
        calendar: a :class:`~carekit.calendar.BusinessCalendar`; closed on days that are not
            its business days. None: every day.
        shrinkage: share of paid time not available for the work, in [0, 1).
        interval: the interval length (default 30 minutes), ``timedelta`` or seconds; a
            bare number below 60 is refused as a likely mistake for minutes.

    Returns:
        A :class:`Backlog`.

    Raises:
        CareKitError: a bad forecast (naive or out-of-order starts, negative volumes, starts
            not one ``interval`` apart), bad durations, hours or shrinkage.

    Examples:
        >>> import datetime as dt
        >>> midnight = dt.datetime(2025, 3, 3, tzinfo=dt.timezone.utc)
        >>> inbox = [(midnight + i * dt.timedelta(hours=1), 30 if i < 8 else 10)
        ...          for i in range(14)]
        >>> plan = backlog(inbox, aht=240, within=dt.timedelta(hours=4),
        ...                hours=("08:00", "18:00"), interval=dt.timedelta(hours=1))
        >>> [r.agents for r in plan if r.open]
        [5, 4, 4, 4, 1, 0]
    """
    length = _validate.interval_length("interval", interval)
    handle = _validate.positive_duration("aht", aht)
    deadline = _validate.positive_duration("within", within)
    opening = _hours(hours, "hours")
    shrink = check_shrinkage(shrinkage)
    if calendar is not None and not isinstance(calendar, BusinessCalendar):
        msg = f"calendar must be a carekit.calendar.BusinessCalendar or None (got {calendar!r})"
        raise CareKitError(msg)
    try:
        rows = list(forecast)
    except TypeError:
        msg = f"forecast must be an iterable of (interval_start, volume) pairs (got {forecast!r})"
        raise CareKitError(msg) from None
    starts: list[dt.datetime] = []
    volumes: list[float] = []
    previous: dt.datetime | None = None  # the previous start in UTC: wall clocks repeat hours
    for index, item in enumerate(rows):
        try:
            start, volume = item
        except (TypeError, ValueError):
            msg = f"forecast[{index}] must be an (interval_start, volume) pair (got {item!r})"
            raise CareKitError(msg) from None
        start = _validate.aware(f"forecast[{index}] interval_start", start)
        volumes.append(_validate.non_negative(f"forecast[{index}] volume", volume))
        try:
            instant = start.astimezone(dt.timezone.utc)
        except OverflowError:
            msg = (
                f"forecast[{index}] interval_start must fall within the years 1 to 9999 in UTC "
                f"(got {start!r})"
            )
            raise CareKitError(msg) from None
        if previous is not None and instant - previous != length:
            hint = ""
            if start.utcoffset() != starts[-1].utcoffset():
                hint = (
                    f" (in UTC {instant:%Y-%m-%d %H:%M} against {previous:%Y-%m-%d %H:%M}: "
                    "across a daylight-saving change, step the starts on a UTC time, then "
                    "convert them to local time)"
                )
            msg = (
                f"forecast[{index}] interval_start must be one interval ({length}) after the "
                f"previous one, {starts[-1].isoformat()} (got {start.isoformat()}){hint}; "
                "deferred work is carried from each interval to the next, so none may be "
                "missing"
            )
            raise CareKitError(msg)
        starts.append(start)
        previous = instant
    n = len(starts)
    is_open = [_is_open(s, opening, calendar) for s in starts]
    k = max(1, math.ceil(deadline / length))
    # due[i]: index of the k-th open interval at or after i (None past the forecast)
    opens = [i for i in range(n) if is_open[i]]
    due: list[int | None] = []
    pointer = 0
    for i in range(n):
        while pointer < len(opens) and opens[pointer] < i:
            pointer += 1
        j = pointer + k - 1
        due.append(opens[j] if j < len(opens) else None)
    per_item = seconds(handle)
    capacity = seconds(length)
    p, q = shrink.numerator, shrink.denominator
    pending: list[list[Any]] = []  # [due index, remaining work in agent-seconds], in order
    out: list[BacklogInterval] = []
    # open intervals from each index on, for the "intervals until d" count
    open_until = [0] * (n + 1)
    for i in range(n - 1, -1, -1):
        open_until[i] = open_until[i + 1] + (1 if is_open[i] else 0)
    for i in range(n):
        carried_in = sum((w for _, w in pending), Fraction(0))
        work = exact(volumes[i]) * per_item
        if work > 0:
            # work due after the forecast sets no rate inside it: it is done when the rate
            # for earlier work leaves time, and otherwise carried out at the end
            pending.append([n if due[i] is None else due[i], work])
        agents = 0
        done = Fraction(0)
        if is_open[i] and pending:
            cumulative = Fraction(0)
            need = Fraction(0)
            for d, w in pending:
                if d >= n:
                    break
                cumulative += w
                slots = open_until[i] - open_until[d + 1]
                need = max(need, cumulative / (capacity * slots))
            agents = math.ceil(need)
            budget = agents * capacity
            while pending and budget > 0:
                take = min(budget, pending[0][1])
                pending[0][1] -= take
                budget -= take
                done += take
                if pending[0][1] == 0:
                    pending.pop(0)
        if pending and pending[0][0] <= i:  # cannot happen: the rate covers every due time
            msg = f"work due at {starts[i].isoformat()} was not done (internal error)"
            raise CareKitError(msg)
        carried_out = sum((w for _, w in pending), Fraction(0))
        due_index = due[i]
        out.append(BacklogInterval(
            start=starts[i], volume=volumes[i], open=is_open[i],
            due=None if due_index is None else starts[due_index],
            carried_in=float(carried_in) / 3600, arrived=float(work) / 3600, agents=agents,
            scheduled=gross_up(agents, p, q), done=float(done) / 3600,
            carried_out=float(carried_out) / 3600,
        ))
    return Backlog(intervals=tuple(out), interval=length, aht=handle, within=deadline,
                   shrinkage=float(shrinkage),
                   _due=tuple(n if d is None else d for d in due))
