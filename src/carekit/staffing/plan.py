"""Interval-by-interval staffing plans from a volume forecast."""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import json
import math
from collections.abc import Iterable, Iterator
from typing import Any, overload

import attrs

from carekit import _validate
from carekit.errors import CareKitError
from carekit.staffing.requirements import _Solver, check_shrinkage, check_target
from carekit.staffing.workload import (
    MAX_TRAFFIC,
    Requirement,
    ServiceTarget,
    Workload,
    check_traffic,
)

__all__ = ["StaffingPlan", "plan"]


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if math.isinf(value):
        return "inf"
    return f"{value:.6g}"


@attrs.frozen(kw_only=True)
class StaffingPlan:
    """One :class:`Requirement` per forecast interval, with totals and exports.

    Attributes:
        requirements: the requirements, in interval order (each has ``start``/``volume``).
        interval: the interval length.
        target: the :class:`ServiceTarget` planned for.
        shrinkage: the shrinkage used to go from agents to scheduled.
        aht: the average handle time.
        patience: mean patience (Erlang A) or None.
        concurrency: contacts per agent at once.
    """

    requirements: tuple[Requirement, ...]
    interval: dt.timedelta
    target: ServiceTarget
    shrinkage: float
    aht: dt.timedelta
    patience: dt.timedelta | None = None
    concurrency: int = 1

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self.requirements)

    def __len__(self) -> int:
        return len(self.requirements)

    @overload
    def __getitem__(self, index: int) -> Requirement: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Requirement, ...]: ...

    def __getitem__(self, index: int | slice) -> Requirement | tuple[Requirement, ...]:
        """The requirement at ``index`` (``plan[0]``, ``plan[-1]``), or a slice's as a tuple."""
        return self.requirements[index]

    @property
    def _hours(self) -> float:
        return self.interval.total_seconds() / 3600.0

    @property
    def agent_hours(self) -> float:
        """Productive agent-hours needed over the plan, ``sum(agents) * interval``."""
        return sum(r.agents for r in self.requirements) * self._hours

    @property
    def scheduled_hours(self) -> float:
        """Agent-hours to schedule (with shrinkage), ``sum(scheduled) * interval``."""
        return sum(r.scheduled for r in self.requirements) * self._hours

    @property
    def volume(self) -> float:
        """Total forecast volume."""
        return math.fsum(r.volume or 0.0 for r in self.requirements)

    @property
    def peak(self) -> Requirement:
        """The interval needing the most scheduled agents (the first such one)."""
        if not self.requirements:
            msg = "peak of an empty plan is undefined (got a plan with no intervals)"
            raise CareKitError(msg)
        return max(self.requirements, key=lambda r: r.scheduled)

    def rows(self) -> list[dict[str, Any]]:
        """One plain dict per interval (the CSV/JSON columns)."""
        out = []
        for r in self.requirements:
            p = r.performance
            out.append({
                "interval_start": r.start.isoformat() if r.start else None,
                "volume": r.volume,
                "traffic": p.traffic,
                "agents": r.agents,
                "scheduled": r.scheduled,
                "service_level": p.service_level,
                "asa_seconds": None if math.isinf(p.asa) else p.asa,
                "occupancy": p.occupancy,
                "wait_probability": p.wait_probability,
                "abandon_rate": p.abandon_rate,
            })
        return out

    def to_csv(self) -> str:
        """The plan as CSV text, one row per interval.

        Examples:
            >>> import datetime as dt
            >>> start = dt.datetime(2025, 3, 3, 9, tzinfo=dt.timezone.utc)
            >>> p = plan([(start, 100)], aht=180, target=ServiceTarget.parse("80/20"))
            >>> print(p.to_csv().splitlines()[1])
            2025-03-03T09:00:00+00:00,100,10,14,14,0.88835,7.83594,0.714286,0.174132,0
        """
        buf = io.StringIO()
        rows = self.rows()
        fields = list(rows[0]) if rows else ["interval_start", "volume", "agents", "scheduled"]
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({
                k: (_fmt(v) if isinstance(v, float) else ("" if v is None else v))
                for k, v in row.items()
            })
        return buf.getvalue()

    def to_json(self) -> str:
        """The plan as JSON: the settings, the totals and one object per interval."""
        doc = {
            "interval_minutes": self.interval.total_seconds() / 60.0,
            "aht_seconds": self.aht.total_seconds(),
            "service_level": self.target.service_level,
            "answer_within_seconds": self.target.answer_within.total_seconds(),
            "max_occupancy": self.target.max_occupancy,
            "shrinkage": self.shrinkage,
            "patience_seconds": None if self.patience is None else self.patience.total_seconds(),
            "concurrency": self.concurrency,
            "volume": self.volume,
            "agent_hours": self.agent_hours,
            "scheduled_hours": self.scheduled_hours,
            "intervals": self.rows(),
        }
        return json.dumps(doc, indent=2)


def plan(
    forecast: Iterable[tuple[dt.datetime, float]],
    *,
    aht: dt.timedelta | float,
    target: ServiceTarget,
    shrinkage: float = 0.0,
    interval: dt.timedelta | float = dt.timedelta(minutes=30),
    patience: dt.timedelta | float | None = None,
    concurrency: int = 1,
) -> StaffingPlan:
    """Staff every interval of a forecast: the smallest headcount meeting ``target``.

    Intervals with the same volume share one calculation, so a year of half-hours with
    repeating whole-number volumes costs only as many searches as there are distinct volumes.

    Args:
        forecast: ``(interval_start, volume)`` pairs; starts are timezone-aware and strictly
            increasing; volumes are finite and >= 0 (fractions are fine), each an offered
            load ``volume * aht / interval`` of at most 1e15 Erlangs.
        aht: average handle time, ``timedelta`` or seconds.
        target: the :class:`ServiceTarget`.
        shrinkage: share of paid time not available for contacts, in [0, 1).
        interval: the interval length (default 30 minutes), ``timedelta`` or seconds; a
            bare number below 60 is refused as a likely mistake for minutes.
        patience: mean patience for Erlang A, or None for Erlang C.
        concurrency: contacts per agent at once (chat).

    Returns:
        A :class:`StaffingPlan`.

    Raises:
        CareKitError: a naive or out-of-order start, an interval that would end after
            the year 9999 (``interval=datetime.timedelta.max``, say), a bad volume
            (negative, NaN, or a load above 1e15 Erlangs), bad settings.
        InfeasibleTarget: a target no headcount meets.

    Examples:
        >>> import datetime as dt
        >>> nine = dt.datetime(2025, 3, 3, 9, tzinfo=dt.timezone.utc)
        >>> forecast = [(nine, 100), (nine + dt.timedelta(minutes=30), 140)]
        >>> p = plan(forecast, aht=180, target=ServiceTarget.parse("80/20"), shrinkage=0.3)
        >>> [r.scheduled for r in p], p.scheduled_hours
        ([20, 26], 23.0)
    """
    length = _validate.interval_length("interval", interval)
    t = check_target(target)
    shrink = check_shrinkage(shrinkage)
    probe = Workload(volume=0, aht=aht, interval=length, patience=patience,
                     concurrency=concurrency)
    # A year of intervals allocates a few objects per interval and nothing cyclic: pausing
    # the cyclic garbage collector for the loop halves the time (it is restored after).
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        out = _requirements(forecast, _Solver(probe, t, shrink), probe)
    finally:
        if paused:
            gc.enable()
    return StaffingPlan(
        requirements=tuple(out), interval=length, target=t, shrinkage=float(shrinkage),
        aht=probe.aht, patience=probe.patience, concurrency=probe.concurrency,
    )


def _requirements(
    forecast: Iterable[tuple[dt.datetime, float]], solver: _Solver, probe: Workload
) -> list[Requirement]:
    cache: dict[float, Requirement] = {}
    out: list[Requirement] = []
    previous: dt.datetime | None = None
    previous_end = dt.datetime.min  # (unread until previous is set)
    datetime, inf, utc = dt.datetime, math.inf, dt.timezone.utc
    length = probe.interval
    try:
        rows = iter(forecast)
    except TypeError:
        msg = f"forecast must be an iterable of (interval_start, volume) pairs (got {forecast!r})"
        raise CareKitError(msg) from None
    for index, item in enumerate(rows):
        try:
            start, volume = item
        except (TypeError, ValueError):
            msg = f"forecast[{index}] must be an (interval_start, volume) pair (got {item!r})"
            raise CareKitError(msg) from None
        # fast checks for the usual case; the validators word the errors
        if not (isinstance(start, datetime) and start.tzinfo is not None
                and start.utcoffset() is not None):
            start = _validate.aware(f"forecast[{index}] interval_start", start)
        if type(volume) is float and 0.0 <= volume < inf:
            vol = volume
        else:
            vol = _validate.non_negative(f"forecast[{index}] volume", volume)
        # Instants are compared in UTC: between datetimes sharing a tzinfo, `<` and `+` read
        # the wall clock, which repeats an hour in autumn and skips one in spring.
        try:
            instant = start if start.tzinfo is utc else start.astimezone(utc)
            end = instant + length
        except OverflowError:
            msg = (
                f"forecast[{index}] interval_start plus the interval ({length}) must fall "
                f"within the years 1 to 9999 in UTC (got {start!r})"
            )
            raise CareKitError(msg) from None
        if previous is not None and instant < previous_end:
            hint = "does --interval / interval= match the forecast?"
            if start.utcoffset() != previous.utcoffset():
                hint = (
                    f"in UTC it starts at {instant:%Y-%m-%d %H:%M} and the previous one at "
                    f"{previous.astimezone(utc):%Y-%m-%d %H:%M}; across a daylight-saving "
                    "change, step the starts on a UTC time, then convert them to local time"
                )
            msg = (
                f"forecast[{index}] interval_start must be at least one interval ({length}) "
                f"after the previous one, {previous.isoformat()} (got {start.isoformat()}); "
                f"hint: {hint}"
            )
            raise CareKitError(msg)
        previous_end = end
        previous = start
        req = cache.get(vol)
        if req is None:
            load = vol * solver.aht / solver.interval
            if load > MAX_TRAFFIC:
                check_traffic(load, vol, f"forecast[{index}] volume")
            req = solver.requirement_for_volume(vol, start)
            cache[vol] = req
            out.append(req)
        else:
            out.append(Requirement(agents=req.agents, scheduled=req.scheduled,
                                   performance=req.performance, start=start, volume=vol))
    return out
