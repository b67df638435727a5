"""Does a roster cover a staffing plan? Interval by interval, and for the day."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Iterator
from typing import overload

import attrs

from carekit import _validate
from carekit.errors import CareKitError
from carekit.staffing._exact import exact
from carekit.staffing.backlog import Backlog
from carekit.staffing.plan import StaffingPlan
from carekit.staffing.requirements import _performance, check_shrinkage, gross_up
from carekit.staffing.roster import Roster
from carekit.staffing.workload import Workload

__all__ = ["Coverage", "CoverageInterval", "CoverageSummary", "coverage"]


@attrs.frozen(kw_only=True)
class CoverageInterval:
    """One interval of a :class:`Coverage`.

    Attributes:
        start: the interval's start.
        volume: forecast volume.
        required: people to schedule: the plan's ``scheduled`` for the interval, or, when
            :func:`coverage` is given its own ``shrinkage``, the plan's ``agents`` grossed up
            by that shrinkage instead.
        scheduled: people the roster puts on the floor (time-averaged over the interval,
            breaks excluded).
        gap: ``scheduled - required``; negative means short.
        agents: productive agents the roster gives, ``floor(scheduled * (1 - shrinkage))``.
        service_level: the service level those agents achieve (None without a threshold).
        meets_target: whether that service level (and the occupancy cap) meets the target.
    """

    start: dt.datetime
    volume: float
    required: int
    scheduled: float
    gap: float
    agents: int
    service_level: float
    meets_target: bool


@attrs.frozen(kw_only=True)
class CoverageSummary:
    """A :class:`Coverage` in a few numbers: what :attr:`Coverage.summary` returns.

    Attributes:
        intervals: how many intervals the plan has.
        intervals_short: intervals whose roster is below ``required`` (``gap < 0``).
        intervals_under_target: intervals that miss the service-level target.
        shortfall: the people missing, summed over the short intervals (``-gap`` of each);
            people-intervals: multiply by the interval's length for person-hours.
        surplus: the people above ``required``, summed over the other intervals.
        worst_gap: the most negative gap (0.0 when nothing is short).
        worst_interval: start of the interval with the worst gap (None when nothing is short).
        service_level: the period's achieved service level, volume-weighted over intervals.
        target: the target service level.
        meets_target: whether ``service_level`` reaches ``target``.
    """

    intervals: int
    intervals_short: int
    intervals_under_target: int
    shortfall: float
    surplus: float
    worst_gap: float
    worst_interval: dt.datetime | None
    service_level: float
    target: float
    meets_target: bool


@attrs.frozen(kw_only=True)
class Coverage:
    """Scheduled versus required per interval, and a summary for the period.

    Attributes:
        intervals: one :class:`CoverageInterval` per plan interval.
        intervals_under_target: how many intervals miss the service-level target.
        worst_gap: the most negative gap (0.0 when nothing is short).
        worst_interval: start of the interval with the worst gap (None when nothing is short).
        service_level: the period's achieved service level, volume-weighted over intervals;
            1.0 when the plan has no volume at all (nobody waits when nobody calls).
        target: the target service level.

    :attr:`summary` gathers the period's figures in one :class:`CoverageSummary`.
    """

    intervals: tuple[CoverageInterval, ...]
    intervals_under_target: int
    worst_gap: float
    worst_interval: dt.datetime | None
    service_level: float
    target: float

    def __iter__(self) -> Iterator[CoverageInterval]:
        return iter(self.intervals)

    def __len__(self) -> int:
        return len(self.intervals)

    @overload
    def __getitem__(self, index: int) -> CoverageInterval: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[CoverageInterval, ...]: ...

    def __getitem__(self, index: int | slice) -> CoverageInterval | tuple[CoverageInterval, ...]:
        """The interval at ``index`` (``coverage[0]``, ``coverage[-1]``); a slice: a tuple."""
        return self.intervals[index]

    @property
    def summary(self) -> CoverageSummary:
        """The period in a few numbers, as a :class:`CoverageSummary` (intervals short and
        under target, people short and spare, the worst gap, the service level).

        Examples:
            >>> import datetime as dt
            >>> from carekit.staffing import ServiceTarget, Shift, Roster, coverage, plan
            >>> nine = dt.datetime(2025, 3, 3, 9, tzinfo=dt.timezone.utc)
            >>> p = plan([(nine, 100), (nine + dt.timedelta(minutes=30), 140)], aht=180,
            ...          target=ServiceTarget.parse("80/20"), shrinkage=0.3)
            >>> day = Shift(name="day", start=nine, duration=8 * 3600, agents=22)
            >>> s = coverage(p, Roster(shifts=[day])).summary
            >>> s.intervals, s.intervals_short, s.shortfall, s.surplus, s.meets_target
            (2, 1, 4.0, 2.0, False)
        """
        short = [-c.gap for c in self.intervals if c.gap < 0]
        return CoverageSummary(
            intervals=len(self.intervals),
            intervals_short=len(short),
            intervals_under_target=self.intervals_under_target,
            shortfall=math.fsum(short),
            surplus=math.fsum(c.gap for c in self.intervals if c.gap > 0),
            worst_gap=self.worst_gap,
            worst_interval=self.worst_interval,
            service_level=self.service_level,
            target=self.target,
            meets_target=self.service_level >= self.target,
        )

    def to_csv(self) -> str:
        """The coverage as CSV text, one row per interval."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["interval_start", "volume", "required", "scheduled", "gap", "agents",
                         "service_level", "meets_target"])
        for c in self.intervals:
            writer.writerow([c.start.isoformat(), f"{c.volume:.6g}", c.required,
                             f"{c.scheduled:.6g}", f"{c.gap:.6g}", c.agents,
                             f"{c.service_level:.6g}", c.meets_target])
        return buf.getvalue()


def coverage(
    plan: StaffingPlan | Backlog, roster: Roster, *, shrinkage: float | None = None
) -> Coverage:
    """Compare a roster with a plan: per interval on-floor headcount, gap and service level.

    The roster's headcount on the floor (breaks removed, averaged over the interval) is set
    against the people to schedule, ``required``. Shrinkage then still applies to the people
    on the floor: the productive agents are ``floor(rostered * (1 - shrinkage))``, computed
    exactly, and the interval's service level is what they achieve on its forecast. The
    period's service level weights each interval by its volume.

    By default ``shrinkage`` is the plan's and ``required`` is the plan's ``scheduled``. A
    plan's shrinkage usually includes breaks; a roster whose shifts model their breaks
    (:class:`Break`) already takes them off the floor, so give ``shrinkage`` only the part
    the roster does not model (absence, training, ...). Then ``required`` is
    ``ceil(agents / (1 - shrinkage))`` of the plan's ``agents``, and breaks are not counted
    twice.

    For a :class:`~carekit.staffing.Backlog` (deferred work), an interval's service level
    is the share of the work that arrived in it done by its due time with the roster's
    productive agents (:meth:`Backlog.on_time`); the period's weights intervals by their
    work, and the target is 100 %.

    Args:
        plan: a :class:`StaffingPlan` or a :class:`~carekit.staffing.Backlog`.
        roster: a :class:`Roster`.
        shrinkage: the share of on-floor time lost to what the roster does not model, in
            ``[0, 1)``; None (default): the plan's shrinkage.

    Returns:
        A :class:`Coverage`.

    Raises:
        CareKitError: arguments of the wrong type, or ``shrinkage`` outside ``[0, 1)``.

    Examples:
        >>> import datetime as dt
        >>> from carekit.staffing import ServiceTarget, Shift, Roster, plan
        >>> nine = dt.datetime(2025, 3, 3, 9, tzinfo=dt.timezone.utc)
        >>> p = plan([(nine, 100), (nine + dt.timedelta(minutes=30), 140)], aht=180,
        ...          target=ServiceTarget.parse("80/20"), shrinkage=0.3)
        >>> r = Roster(shifts=[Shift(name="day", start=nine, duration=8 * 3600, agents=22)])
        >>> c = coverage(p, r)
        >>> [i.gap for i in c], c.intervals_under_target
        ([2.0, -4.0], 1)

        The same shift with a modelled half-hour break, and 10 % shrinkage besides:

        >>> from carekit.staffing import Break
        >>> lunch = Break(after=dt.timedelta(hours=4), length=dt.timedelta(minutes=30))
        >>> r = Roster(shifts=[Shift(name="day", start=nine, duration=8 * 3600, agents=22,
        ...                          breaks=[lunch])])
        >>> [(i.required, i.agents) for i in coverage(p, r, shrinkage=0.1)]
        [(16, 19), (20, 19)]
    """
    if isinstance(plan, Backlog):
        return _backlog_coverage(plan, roster, shrinkage)
    if not isinstance(plan, StaffingPlan):
        msg = (
            "plan must be a carekit.staffing.StaffingPlan or Backlog "
            f"(got {_validate.short(plan)})"
        )
        raise CareKitError(msg)
    if not isinstance(roster, Roster):
        msg = f"roster must be a carekit.staffing.Roster (got {_validate.short(roster)})"
        raise CareKitError(msg)
    shrink = check_shrinkage(plan.shrinkage if shrinkage is None else shrinkage)
    own = shrinkage is not None
    keep = 1 - shrink
    p, q = shrink.numerator, shrink.denominator
    target = plan.target
    out: list[CoverageInterval] = []
    weighted = 0.0
    total_volume = 0.0
    starts = [req.start for req in plan.requirements if req.start is not None]
    on_floor = roster._on_duty_many(starts, plan.interval)
    for req, rostered in zip(plan.requirements, on_floor, strict=True):
        assert req.start is not None
        volume = req.volume or 0.0
        agents = math.floor(exact(rostered) * keep) if rostered > 0 else 0
        workload = Workload(volume=volume, aht=plan.aht, interval=plan.interval,
                            patience=plan.patience, concurrency=plan.concurrency)
        perf = _performance(workload, agents, target.answer_within)
        sl = perf.service_level if perf.service_level is not None else 0.0
        meets = sl >= target.service_level and (
            target.max_occupancy is None or volume == 0 or perf.occupancy <= target.max_occupancy
        )
        required = gross_up(req.agents, p, q) if own else req.scheduled
        out.append(CoverageInterval(
            start=req.start, volume=volume, required=required, scheduled=rostered,
            gap=rostered - required, agents=agents, service_level=sl, meets_target=meets,
        ))
        weighted += sl * volume
        total_volume += volume
    short = [c for c in out if c.gap < 0]
    worst = min(short, key=lambda c: c.gap) if short else None
    return Coverage(
        intervals=tuple(out),
        intervals_under_target=sum(1 for c in out if not c.meets_target),
        worst_gap=worst.gap if worst else 0.0,
        worst_interval=worst.start if worst else None,
        service_level=weighted / total_volume if total_volume > 0 else 1.0,
        target=target.service_level,
    )




def _backlog_coverage(plan: Backlog, roster: Roster, shrinkage: float | None) -> Coverage:
    if not isinstance(roster, Roster):
        msg = f"roster must be a carekit.staffing.Roster (got {_validate.short(roster)})"
        raise CareKitError(msg)
    shrink = check_shrinkage(plan.shrinkage if shrinkage is None else shrinkage)
    keep = 1 - shrink
    p, q = shrink.numerator, shrink.denominator
    rows = list(plan)
    on_floor = roster._on_duty_many([r.start for r in rows], plan.interval)
    agents = [math.floor(exact(h) * keep) if h > 0 else 0 for h in on_floor]
    shares = plan.on_time(agents)
    out = []
    for r, h, a, share in zip(rows, on_floor, agents, shares, strict=True):
        required = r.scheduled if shrinkage is None else gross_up(r.agents, p, q)
        out.append(CoverageInterval(
            start=r.start, volume=r.volume, required=required, scheduled=h, gap=h - required,
            agents=a, service_level=share, meets_target=share >= 1.0,
        ))
    short = [c for c in out if c.gap < 0]
    worst = min(short, key=lambda c: c.gap) if short else None
    work = [r.arrived for r in rows]
    total = math.fsum(work)
    return Coverage(
        intervals=tuple(out),
        intervals_under_target=sum(1 for c in out if not c.meets_target),
        worst_gap=worst.gap if worst else 0.0,
        worst_interval=worst.start if worst else None,
        service_level=(math.fsum(w * c.service_level for w, c in zip(work, out, strict=True))
                       / total if total > 0 else 1.0),
        target=1.0,
    )
