"""From requirement to roster: the cheapest shifts that cover a staffing plan.

:func:`schedule` places whole shifts, built from :class:`ShiftTemplate` objects, so that the
people on the floor (breaks off it) meet every interval's requirement at the least cost, as an
integer program solved by HiGHS (the optional ``carekit[schedule]`` extra). With
``budget_hours`` it instead maximises the volume-weighted service level within the budget.
The model and its linearisation are explained in the staffing explanation page.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from carekit import _validate
from carekit.errors import CareKitError
from carekit.staffing import _highs
from carekit.staffing._exact import exact
from carekit.staffing.backlog import Backlog, BacklogInterval
from carekit.staffing.coverage import Coverage, coverage
from carekit.staffing.plan import StaffingPlan
from carekit.staffing.requirements import _performance, check_shrinkage, gross_up
from carekit.staffing.roster import Break, Roster, Shift, _break_words, _breaks, _span
from carekit.staffing.workload import Requirement, Workload

__all__ = ["Schedule", "ShiftTemplate", "schedule"]

_UTC = dt.timezone.utc
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)  # (never used: plan intervals have starts)
_DAY = dt.timedelta(days=1)
_ZERO = dt.timedelta(0)
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
#: Most start times and break places one template may offer over a plan, so that a typo (a
#: one-second step over a year) is an error, not an integer program too large to build.
MAX_CANDIDATES = 200_000


def _time(name: str, value: Any) -> dt.time:
    value = _validate.time_text(name, value)
    if not isinstance(value, dt.time):
        msg = f"{name} must be a datetime.time or 'HH:MM' text (got {value!r})"
        raise CareKitError(msg)
    if value.tzinfo is not None:
        msg = (
            f"{name} must be a local time of day without a time zone (got {value!r}); "
            "hint: the plan's zone, or schedule(tz=...), says which zone it is in"
        )
        raise CareKitError(msg)
    return value


def _earliest(value: Any) -> dt.time:
    return _time("earliest", value)


def _latest_time(value: Any) -> dt.time:
    return _time("latest", value)


def _duration(value: Any) -> dt.timedelta:
    return _validate.work_length("duration", value)


def _step(value: Any) -> dt.timedelta:
    return _validate.positive_duration("step", value)


def _cost(value: Any) -> float:
    return _validate.positive("cost_per_hour", value)


def _days(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        msg = f"days must be weekday numbers 0 (Monday) to 6 (Sunday), or None (got {value!r})"
        raise CareKitError(msg)
    out = set()
    for day in value:
        if isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6:
            msg = (
                f"days must be weekday numbers 0 (Monday) to 6 (Sunday), or None "
                f"(got {day!r} in {value!r})"
            )
            raise CareKitError(msg)
        out.add(day)
    if not out:
        msg = "days must name at least one weekday, or be None for every day (got no days)"
        raise CareKitError(msg)
    return tuple(sorted(out))


def _name(_: Any, __: Any, value: Any) -> None:
    if not isinstance(value, str) or not value:
        msg = f"a template's name must be a non-empty string such as 'early' (got {value!r})"
        raise CareKitError(msg)


def _max_count(value: Any) -> int | None:
    return None if value is None else _validate.positive_int("max_count", value)


@attrs.frozen(kw_only=True)
class ShiftTemplate:
    """A kind of shift :func:`schedule` may place: its length, start window, breaks and cost.

    Args:
        name: a label (``"early"``); the roster's shifts carry it.
        duration: the shift's paid length (``timedelta`` or seconds, > 0; a bare number
            below 60 is refused as a likely mistake for hours).
        earliest: the earliest start, a local time of day (``datetime.time`` or ``"08:00"``)
            in the plan's zone (or :func:`schedule`'s ``tz``).
        latest: the latest start; before ``earliest`` the window runs past midnight
            (``earliest="22:00", latest="01:00"``).
        step: starts are ``earliest``, ``earliest + step``, ... up to ``latest``. It must
            divide the plan's interval or be a whole multiple of it.
        breaks: :class:`Break` objects; a break with ``latest`` is placed by the solver,
            on the same grid, anywhere in its window. Each break (at its latest) must end
            within the shift and the windows must not overlap.
        days: weekday numbers the shift may start on (0 Monday to 6 Sunday); None: every day.
        cost_per_hour: the cost of one paid hour of this shift (> 0).
        max_count: at most this many of these shifts start on any one day; None: no limit.

    Raises:
        CareKitError: an empty name, a non-positive duration or step, a time that is not a
            local time of day, a break outside the shift or breaks whose windows overlap,
            days outside 0-6, a non-positive cost, a ``max_count`` below 1.

    Examples:
        >>> import datetime as dt
        >>> lunch = Break(after=dt.timedelta(hours=3), length=dt.timedelta(minutes=30),
        ...               latest=dt.timedelta(hours=5))
        >>> day = ShiftTemplate("day", dt.timedelta(hours=8), earliest="07:00",
        ...                     latest="12:00", breaks=[lunch], days=range(5))
        >>> day.days, day.paid_hours
        ((0, 1, 2, 3, 4), 8.0)
    """

    name: str = attrs.field(validator=_name, kw_only=False)
    duration: dt.timedelta = attrs.field(converter=_duration, kw_only=False)
    earliest: dt.time = attrs.field(default=dt.time(0), converter=_earliest)
    latest: dt.time = attrs.field(default=dt.time(23, 30), converter=_latest_time)
    step: dt.timedelta = attrs.field(default=dt.timedelta(minutes=30), converter=_step)
    breaks: tuple[Break, ...] = attrs.field(default=(), converter=_breaks)
    days: tuple[int, ...] | None = attrs.field(default=None, converter=_days)
    cost_per_hour: float = attrs.field(default=1.0, converter=_cost)
    max_count: int | None = attrs.field(default=None, converter=_max_count)

    def __attrs_post_init__(self) -> None:
        previous: Break | None = None
        for b in self.breaks:
            end = b.last_start + b.length
            if end > self.duration:
                at_latest = "" if b.latest is None else " when it starts at its latest"
                msg = (
                    f"the {_break_words(b)} of template {self.name!r} ends at {_span(end)}"
                    f"{at_latest}, after the shift's {_span(self.duration)}; a break must "
                    "end within its shift"
                )
                raise CareKitError(msg)
            if previous is not None and b.after < previous.last_start + previous.length:
                msg = (
                    f"the breaks of template {self.name!r} must not overlap: the "
                    f"{_break_words(b)} may start before the {_break_words(previous)} ends "
                    f"(at {_span(previous.last_start + previous.length)}); hint: give each "
                    "break its own window"
                )
                raise CareKitError(msg)
            previous = b

    @property
    def paid_hours(self) -> float:
        """Hours paid for one shift of this template (its duration; breaks are paid)."""
        return self.duration.total_seconds() / 3600.0

    @property
    def window(self) -> dt.timedelta:
        """From the earliest to the latest start (past midnight when ``latest < earliest``)."""
        a = dt.timedelta(hours=self.earliest.hour, minutes=self.earliest.minute,
                         seconds=self.earliest.second, microseconds=self.earliest.microsecond)
        b = dt.timedelta(hours=self.latest.hour, minutes=self.latest.minute,
                         seconds=self.latest.second, microseconds=self.latest.microsecond)
        return (b - a) % _DAY


@attrs.frozen(kw_only=True)
class Schedule:
    """The roster :func:`schedule` built, what it costs, and how close to optimal it is.

    Attributes:
        roster: the :class:`Roster` (shifts that repeat over the plan's days recur weekly).
        paid_hours: hours paid for every shift of the roster.
        cost: the sum of ``cost_per_hour`` times paid hours.
        lower_bound: the solver's proven lower bound on the cost of any roster from these
            templates that covers the plan; with ``budget_hours``, on the cost of any roster
            that keeps, interval by interval, the productive agents the best service level
            counted.
        gap: the relative distance to the proven bound of what is optimised first (the
            cost, or the service level with ``budget_hours``); 0.0 when proven optimal.
        status: ``"optimal"``, ``"feasible"`` (the time limit came first) or
            ``"infeasible"`` (the templates cannot cover every interval: ``short`` names
            those left under their requirement).
        short: starts of the intervals where the roster's people on the floor stay under
            the requirement.
        coverage: the roster's :class:`Coverage` of the plan (with the same shrinkage).
        service_level: the volume-weighted service level the roster achieves.
        budget_hours: the budget given, or None.
        cyclic: whether the plan was scheduled as a repeating pattern.
        seconds: the solver's time.
    """

    roster: Roster
    paid_hours: float
    cost: float
    lower_bound: float
    gap: float
    status: str
    short: tuple[dt.datetime, ...]
    coverage: Coverage
    service_level: float
    budget_hours: float | None = None
    cyclic: bool = False
    seconds: float = attrs.field(default=0.0, eq=False)


@attrs.frozen
class _Candidate:
    """One place a template's shift may start, and what it covers."""

    template: int
    start: dt.datetime  # local (the schedule's zone)
    day: dt.date
    cover: dict[int, float]  # interval index -> share of the interval on shift
    # per break of the template: its places (offset from the start, UTC start, cover)
    breaks: tuple[tuple[tuple[dt.timedelta, dt.datetime, dict[int, float]], ...], ...]


def _zone(tz: Any, first: dt.datetime) -> dt.tzinfo:
    if tz is None:
        zone = first.tzinfo
        assert zone is not None
        return zone
    if isinstance(tz, str):
        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            msg = f"tz must be a time zone name such as 'Europe/London' (got {tz!r})"
            raise CareKitError(msg) from None
    if isinstance(tz, dt.tzinfo):
        return tz
    msg = f"tz must be a datetime.tzinfo, a zone name such as 'Europe/London', or None (got {tz!r})"
    raise CareKitError(msg)


def _templates(value: Any) -> tuple[ShiftTemplate, ...]:
    if isinstance(value, ShiftTemplate):
        value = [value]
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        msg = f"templates must be a list of carekit.staffing.ShiftTemplate objects (got {value!r})"
        raise CareKitError(msg)
    items = tuple(value)
    if not items:
        msg = (
            "templates must name at least one ShiftTemplate (got none); hint: "
            "ShiftTemplate('day', datetime.timedelta(hours=8), earliest='08:00')"
        )
        raise CareKitError(msg)
    names: Counter[str] = Counter()
    for item in items:
        if not isinstance(item, ShiftTemplate):
            msg = f"templates must be carekit.staffing.ShiftTemplate objects (got {item!r})"
            raise CareKitError(msg)
        names[item.name] += 1
    repeated = sorted(n for n, k in names.items() if k > 1)
    if repeated:
        msg = f"templates must have distinct names (got {repeated[0]!r} {names[repeated[0]]} times)"
        raise CareKitError(msg)
    return items


def _unit(template: ShiftTemplate, interval: dt.timedelta) -> dt.timedelta:
    """The grid of the template's starts and breaks: ``step`` or the interval, the finer."""
    step = template.step
    if interval % step == _ZERO:
        return step
    if step % interval == _ZERO:
        return interval
    msg = (
        f"template {template.name!r} step must divide the plan's interval ({interval}) or be "
        f"a whole multiple of it (got step={step}); hint: step=timedelta(minutes="
        f"{interval.total_seconds() / 60:g}) or a divisor of it"
    )
    raise CareKitError(msg)


class _Grid:
    """The plan's intervals in UTC, for overlaps."""

    def __init__(self, starts: Sequence[dt.datetime], length: dt.timedelta, *,
                 cyclic: bool = False) -> None:
        self.length = length
        self.starts = [s.astimezone(_UTC) for s in starts]
        self.first = self.starts[0]
        self.end = self.starts[-1] + self.length
        self.cyclic = cyclic

    def overlaps(self, a: dt.datetime, b: dt.datetime) -> dict[int, float]:
        """Interval index -> share of the interval inside ``[a, b)`` (UTC).

        In a cyclic plan, time past the end wraps to the start (one period later is the
        same time of the pattern).
        """
        if self.cyclic and b > self.end:
            out = self._linear(a, self.end)
            wrapped = self.first + (b - self.end)
            for i, share in self._linear(self.first, wrapped).items():
                out[i] = out.get(i, 0.0) + share
            return out
        return self._linear(a, b)

    def _linear(self, a: dt.datetime, b: dt.datetime) -> dict[int, float]:
        import bisect

        out: dict[int, float] = {}
        i = max(0, bisect.bisect_right(self.starts, a) - 1)
        whole = self.length.total_seconds()
        while i < len(self.starts) and self.starts[i] < b:
            lo = max(a, self.starts[i])
            hi = min(b, self.starts[i] + self.length)
            if hi > lo:
                out[i] = (hi - lo).total_seconds() / whole
            i += 1
        return out


def _exists(local: dt.datetime) -> bool:
    """False for a wall-clock time skipped by a daylight-saving change."""
    back = local.astimezone(_UTC).astimezone(local.tzinfo)
    return back.replace(tzinfo=None) == local.replace(tzinfo=None)


def _candidates(
    templates: Sequence[ShiftTemplate], grid: _Grid, zone: dt.tzinfo,
) -> list[_Candidate]:
    out: list[_Candidate] = []
    first_day = (grid.first.astimezone(zone) - max(t.duration for t in templates)).date()
    last_day = (grid.end - dt.timedelta(microseconds=1)).astimezone(zone).date()
    for index, t in enumerate(templates):
        unit = _unit(t, grid.length)
        offsets = [k * t.step for k in range(t.window // t.step + 1)]
        # each start considered costs itself and the places of its breaks
        each = 1 + sum((b.last_start - b.after) // unit + 1 for b in t.breaks)
        made = 0
        day = first_day - _DAY  # a window past midnight starts the day before
        while day <= last_day:
            if t.days is None or day.weekday() in t.days:
                base = dt.datetime.combine(day, t.earliest, tzinfo=zone)
                for offset in offsets:
                    made += each
                    if made > MAX_CANDIDATES:
                        msg = (
                            f"template {t.name!r} offers more than {MAX_CANDIDATES:,} start "
                            f"times and break places around the plan (starts every {t.step}, "
                            f"breaks every {unit}); hint: a coarser step, narrower windows, "
                            "or a shorter plan"
                        )
                        raise CareKitError(msg)
                    local = base + offset
                    if not _exists(local):
                        continue
                    begin = local.astimezone(_UTC)
                    finish = (local + t.duration).astimezone(_UTC)
                    if begin >= grid.end or finish <= grid.first:
                        continue
                    if grid.cyclic and begin < grid.first:  # the pattern's own start
                        continue
                    if (begin - grid.first) % unit != _ZERO:
                        msg = (
                            f"template {t.name!r} starts at {local.isoformat()}, off the "
                            f"plan's grid of {unit} from {grid.first.isoformat()}; hint: "
                            "move earliest onto the plan's interval boundaries"
                        )
                        raise CareKitError(msg)
                    breaks = []
                    for b in t.breaks:
                        places = []
                        at = b.after
                        while at <= b.last_start:
                            a = (local + at).astimezone(_UTC)
                            z = (local + at + b.length).astimezone(_UTC)
                            places.append((at, a, grid.overlaps(a, z)))
                            at += unit
                        breaks.append(tuple(places))
                    out.append(_Candidate(template=index, start=local, day=day,
                                          cover=grid.overlaps(begin, finish),
                                          breaks=tuple(breaks)))
            day += _DAY
    return out


def _check_cycle(
    starts: Sequence[dt.datetime], interval: dt.timedelta, zone: dt.tzinfo,
    templates: Sequence[ShiftTemplate],
) -> None:
    """A cyclic plan is one whole period of a pattern: contiguous, whole days, one offset."""
    utc = [s.astimezone(_UTC) for s in starts]
    for a, b in itertools.pairwise(utc):
        if b - a != interval:
            msg = (
                f"a cyclic plan's intervals must follow each other without gaps (got "
                f"{a.isoformat()} then {b.isoformat()}, {interval} apart expected)"
            )
            raise CareKitError(msg)
    period = utc[-1] + interval - utc[0]
    if period % _DAY != _ZERO:
        msg = (
            f"a cyclic plan must span whole days, the period that repeats (got {period}); "
            "hint: plan a day or a week"
        )
        raise CareKitError(msg)
    first = utc[0].astimezone(zone).utcoffset()
    if first != (utc[-1] + interval).astimezone(zone).utcoffset():
        msg = (
            "a cyclic plan must not span a daylight-saving change (its end would not be "
            "its start again); hint: plan a week without the change"
        )
        raise CareKitError(msg)
    for t in templates:
        if t.duration > period:
            msg = (
                f"template {t.name!r} is longer ({t.duration}) than the cyclic plan's "
                f"period ({period})"
            )
            raise CareKitError(msg)


def _granularity(costs: Iterable[float]) -> float:
    """The largest number every cost is a whole multiple of (0.0 when none is found)."""
    g = Fraction(0)
    for c in costs:
        f = exact(c).limit_denominator(10**6)
        if f != exact(c):
            return 0.0
        g = Fraction(math.gcd(g.numerator * f.denominator, f.numerator * g.denominator),
                     g.denominator * f.denominator)
    return float(g)


def _service_curve(plan: StaffingPlan, volume: float, cap: int) -> list[float]:
    """Service level with 0..cap productive agents on an interval's forecast."""
    workload = Workload(volume=volume, aht=plan.aht, interval=plan.interval,
                        patience=plan.patience, concurrency=plan.concurrency)
    out = []
    for agents in range(cap + 1):
        sl = _performance(workload, agents, plan.target.answer_within).service_level
        out.append(0.0 if sl is None else sl)
    return out


def schedule(
    plan: StaffingPlan | Backlog,
    templates: Iterable[ShiftTemplate],
    *,
    tz: dt.tzinfo | str | None = None,
    shrinkage: float | None = None,
    max_seconds: float = 30,
    budget_hours: float | None = None,
    cyclic: bool = False,
) -> Schedule:
    """The cheapest roster of whole shifts whose people on the floor cover every interval.

    Each template offers a shift at every ``step`` of its start window on each allowed day
    of the plan (in the plan's zone, or ``tz``), and the solver chooses how many start at
    each, and where each one's breaks fall inside their windows. An interval is covered when
    the people on the floor (time-averaged, breaks off the floor) reach its requirement: the
    plan's ``scheduled``, or with ``shrinkage`` the plan's ``agents`` grossed up by it,
    exactly as :func:`coverage` counts. The integer program is solved by HiGHS within
    ``max_seconds``; when the limit comes first, the best roster found is returned with
    its gap to the proven bound.

    With ``budget_hours`` the roster instead maximises the volume-weighted service level
    (each interval's service level with the people on the floor, up to its requirement)
    within that many paid hours, so the cost of holding staff back is visible; a second,
    covering solve then finds the cheapest roster keeping the agents that level counted.

    Args:
        plan: a :class:`StaffingPlan`, or a :class:`~carekit.staffing.Backlog` of deferred
            work (whose ``scheduled`` counts are then the requirement).
        templates: the :class:`ShiftTemplate` objects the solver may use (distinct names).
        tz: the zone of the templates' times; None: the zone of the plan's first start.
        shrinkage: the shrinkage the roster does not model, as in :func:`coverage`;
            None: the plan's (its ``scheduled`` counts are the requirement).
        max_seconds: the solver's time limit (> 0).
        budget_hours: a budget of paid hours (> 0); None: cover every interval at least cost.

        cyclic: the plan is one period (a day, a week) of a pattern that repeats: a shift
            running past its end covers its start, and every shift of the roster repeats
            each period, with no end (weekly by day for a week). Paid hours and cost are
            per period.

    Returns:
        A :class:`Schedule`. Intervals no template can reach are named in ``short`` with
        ``status="infeasible"``, and the rest is covered at least cost (when no template
        places any shift in the plan, the roster is empty and every interval that needs
        people is short).

    Raises:
        CareKitError: an empty plan, no templates or not templates, a template ``step`` that
            neither divides the plan's interval nor is a multiple of it, a start off the
            plan's grid, a bad ``tz``, ``shrinkage``, ``max_seconds`` or ``budget_hours``, a
            cyclic plan with gaps, not whole days, or across a daylight-saving change,
            HiGHS not installed (``pip install "carekit[schedule]"``), or no roster found
            within ``max_seconds``.

    Examples:
        >>> import datetime as dt
        >>> from carekit.staffing import ServiceTarget, plan
        >>> nine = dt.datetime(2025, 3, 3, 9, tzinfo=dt.timezone.utc)
        >>> day = plan([(nine + i * dt.timedelta(minutes=30), v)
        ...             for i, v in enumerate([20, 40, 60, 60, 40, 20])],
        ...            aht=180, target=ServiceTarget.parse("80/20"))
        >>> four = ShiftTemplate("four", dt.timedelta(hours=4), earliest="09:00",
        ...                      latest="10:00")
        >>> result = schedule(day, [four])
        >>> result.status, result.paid_hours, result.short
        ('optimal', 36.0, ())
    """
    if not isinstance(plan, (StaffingPlan, Backlog)):
        msg = (
            "plan must be a carekit.staffing.StaffingPlan or Backlog "
            f"(got {_validate.short(plan)})"
        )
        raise CareKitError(msg)
    if isinstance(plan, Backlog) and budget_hours is not None:
        msg = (
            "budget_hours needs a StaffingPlan, whose service level it maximises (got a "
            "Backlog, whose work must all be done on time); hint: schedule the backlog "
            "without a budget"
        )
        raise CareKitError(msg)
    if len(plan) == 0:
        msg = "plan must have at least one interval to schedule (got an empty plan)"
        raise CareKitError(msg)
    chosen = _templates(templates)
    shrink = check_shrinkage(plan.shrinkage if shrinkage is None else shrinkage)
    limit = _validate.positive("max_seconds", max_seconds)
    budget = None if budget_hours is None else _validate.positive("budget_hours", budget_hours)
    p, q = shrink.numerator, shrink.denominator
    rows: Sequence[Requirement | BacklogInterval] = (
        plan.requirements if isinstance(plan, StaffingPlan) else plan.intervals)
    required = [r.scheduled if shrinkage is None else gross_up(r.agents, p, q) for r in rows]
    zone = _zone(tz, rows[0].start or _EPOCH)
    starts = [r.start or _EPOCH for r in rows]
    if not isinstance(cyclic, bool):
        msg = f"cyclic must be True or False (got {cyclic!r})"
        raise CareKitError(msg)
    if cyclic:
        _check_cycle(starts, plan.interval, zone, chosen)
    grid = _Grid(starts, plan.interval, cyclic=cyclic)
    candidates = _candidates(chosen, grid, zone)

    # Intervals no candidate can put anyone on the floor in cannot be covered by any roster.
    reach = [0.0] * len(required)
    for c in candidates:
        for i, share in c.cover.items():
            off = sum(min(place.get(i, 0.0) for _, _, place in places)
                      for places in c.breaks)
            reach[i] = max(reach[i], share - off)
    unreachable = {i for i, r in enumerate(required) if r > 0 and reach[i] <= 1e-9}
    target = [0 if i in unreachable else r for i, r in enumerate(required)]

    plan_hours = [chosen[c.template].paid_hours for c in candidates]
    built = _build(candidates, chosen, len(required))
    if candidates:
        solution = _solve(built, plan, target, limit, budget, 1 - shrink, chosen, candidates)
    else:
        # No template places a shift that reaches the plan (start windows or days outside
        # it): the empty roster is the only one, and every interval needing people is short.
        solution = _highs.Solution(status="optimal", values=(), objective=0.0, bound=0.0,
                                   gap=0.0, seconds=0.0)
    if solution.status in {"none", "infeasible"}:
        if solution.status == "none":
            msg = (
                f"no roster was found within max_seconds={max_seconds!r}; hint: allow the "
                "solver more time, or offer fewer start times (a coarser step)"
            )
        else:
            msg = (
                "the templates' limits (max_count) leave no roster that covers the "
                "intervals they can reach; hint: raise max_count or add templates"
            )
        raise CareKitError(msg)
    people = _people(built, solution.values)
    roster = _roster(candidates, chosen, people, grid)
    cov = coverage(plan, roster, shrinkage=shrinkage)
    counts = [len(p) for p in people]
    paid = sum((n * h for n, h in zip(counts, plan_hours, strict=True)), 0.0)
    cost = sum((n * h * chosen[c.template].cost_per_hour
                for n, h, c in zip(counts, plan_hours, candidates, strict=True)), 0.0)
    short = tuple(ci.start for ci in cov if ci.gap < -1e-9)
    solved = "feasible" if solution.status == "infeasible-limits" else solution.status
    status = "infeasible" if unreachable or solution.status == "infeasible-limits" else solved
    if budget is None:
        lower = min(cost, solution.bound) if solved == "feasible" else cost
        gap = max(0.0, (cost - lower) / cost) if solved == "feasible" and cost else 0.0
    else:
        # the bound of the second solve: no roster with this service level costs less
        found = solution.cost_bound
        lower = cost if found is None or not math.isfinite(found) else min(cost, max(0.0, found))
        gap = solution.gap if solved == "feasible" else 0.0
    return Schedule(roster=roster, paid_hours=paid, cost=cost, lower_bound=lower, gap=gap,
                    status=status, short=short, coverage=cov, service_level=cov.service_level,
                    budget_hours=budget, cyclic=cyclic, seconds=solution.seconds)


#: A shift start whose break places combine in at most this many ways gets a column per
#: combination (a pure covering model, which HiGHS solves fastest); beyond it, a column per
#: start and one per place of each break, tied by equalities.
MAX_COMBINATIONS = 64


@attrs.define
class _Built:
    """The integer program of a schedule and where its variables are."""

    model: _highs.Model
    # per candidate: (column, break offsets) for each combination of break places, or
    # (column, None) for the start's count when its breaks have columns of their own
    shifts: list[list[tuple[int, tuple[dt.timedelta, ...] | None]]]
    # per candidate with break columns: per break, (offset, column) for each place
    places: dict[int, list[list[tuple[dt.timedelta, int]]]]
    floor: list[dict[int, float]]  # per interval: column -> people on the floor per unit


def _build(
    candidates: Sequence[_Candidate], chosen: Sequence[ShiftTemplate], intervals: int,
) -> _Built:
    """Columns and rows: shifts per start (and break placement), the max_count limits.

    A start whose breaks can be placed in few ways gets one column per way: each column is
    then a fixed shift, and the program a pure covering one (Dantzig, 1954). Otherwise the
    start gets a count and each break a column per place whose sum is that count (Aykin,
    1996), which grows with the places instead of their product.
    """
    model = _highs.Model()
    floor: list[dict[int, float]] = [defaultdict(float) for _ in range(intervals)]
    shifts: list[list[tuple[int, tuple[dt.timedelta, ...] | None]]] = []
    places: dict[int, list[list[tuple[dt.timedelta, int]]]] = {}
    by_day: dict[tuple[int, dt.date], list[int]] = defaultdict(list)
    for ci, c in enumerate(candidates):
        t = chosen[c.template]
        price = t.cost_per_hour * t.paid_hours
        ways = math.prod(len(options) for options in c.breaks)
        own: list[tuple[int, tuple[dt.timedelta, ...] | None]] = []
        if ways <= MAX_COMBINATIONS:
            for combination in itertools.product(*c.breaks):
                col = model.column(price, 0.0, math.inf, integer=True)
                own.append((col, tuple(at for at, _, _ in combination)))
                on = defaultdict(float, c.cover)
                for _, _, place in combination:
                    for i, share in place.items():
                        on[i] -= share
                for i, share in on.items():
                    floor[i][col] += share
        else:
            x = model.column(price, 0.0, math.inf, integer=True)
            own.append((x, None))
            for i, share in c.cover.items():
                floor[i][x] += share
            per_break = []
            for options in c.breaks:
                cols = []
                for at, _, place in options:
                    y = model.column(0.0, 0.0, math.inf, integer=True)
                    cols.append((at, y))
                    for i, share in place.items():
                        floor[i][y] -= share
                model.row({x: -1.0, **{y: 1.0 for _, y in cols}}, 0.0, 0.0)
                per_break.append(cols)
            places[ci] = per_break
        shifts.append(own)
        by_day[c.template, c.day].extend(col for col, _ in own)
    for (index, _), cols_of_day in by_day.items():
        most = chosen[index].max_count
        if most is not None:
            model.row(dict.fromkeys(cols_of_day, 1.0), -math.inf, float(most))
    return _Built(model=model, shifts=shifts, places=places, floor=floor)


def _solve(
    built: _Built, plan: StaffingPlan | Backlog, target: list[int], limit: float,
    budget: float | None, keep: Fraction, chosen: Sequence[ShiftTemplate],
    candidates: Sequence[_Candidate],
) -> _highs.Solution:
    hours: dict[int, float] = {}
    costs: list[float] = []
    for c, own in zip(candidates, built.shifts, strict=True):
        t = chosen[c.template]
        for col, _ in own:
            hours[col] = t.paid_hours
            costs.append(t.cost_per_hour * t.paid_hours)
    if budget is None:
        return _cover_at_least_cost(built.model, built.floor, target, limit, costs)
    assert isinstance(plan, StaffingPlan)
    fresh = copy.deepcopy(built)  # the same columns, before the budget's rows are added
    best, agents = _best_service_in_budget(built.model, plan, built.floor, target,
                                           0.9 * limit, hours, budget, keep)
    if best.status not in {"optimal", "feasible"}:
        return best
    # Then the cheapest roster that keeps at least those productive agents in every
    # interval (so at least that service level): a covering program, solved fast.
    p, q = (1 - keep).numerator, (1 - keep).denominator
    keeps = [0] * len(target)
    for i, col in agents.items():
        keeps[i] = gross_up(round(best.values[col]), p, q)
    left = max(limit - best.seconds, 0.1 * limit)
    cheapest = _cover_at_least_cost(fresh.model, fresh.floor, keeps, left, costs)
    if cheapest.status not in {"optimal", "feasible"}:
        return best
    return attrs.evolve(best, values=cheapest.values, seconds=best.seconds + cheapest.seconds,
                        cost_bound=cheapest.bound if cheapest.status == "feasible"
                        else cheapest.objective)


def _people(built: _Built, values: Sequence[float]) -> list[list[tuple[dt.timedelta, ...]]]:
    """Per candidate, each person's break offsets (one tuple per person)."""
    out: list[list[tuple[dt.timedelta, ...]]] = []
    for ci, own in enumerate(built.shifts):
        persons: list[tuple[dt.timedelta, ...]] = []
        for col, offsets in own:
            n = round(values[col])
            if n <= 0:
                continue
            if offsets is not None:
                persons.extend([offsets] * n)
                continue
            spreads = []
            for cols in built.places[ci]:
                spread = [at for at, y in cols for _ in range(round(values[y]))]
                spreads.append((spread + [cols[-1][0]] * n)[:n])  # guards rounding
            persons.extend(zip(*spreads, strict=True))
        out.append(persons)
    return out


def _cover_at_least_cost(
    model: _highs.Model, floor: list[dict[int, float]], target: list[int], limit: float,
    costs: Sequence[float],
) -> _highs.Solution:
    rows = []
    for i, r in enumerate(target):
        if r > 0:
            rows.append(model.row(floor[i], float(r), math.inf))
    g = _granularity(costs)
    abs_gap = 0.999 * g if g > 0 else 1e-6
    solution = _highs.solve(model, seconds=limit, abs_gap=abs_gap)
    if solution.status != "infeasible":
        return solution
    # max_count leaves some reachable interval short: cover as much as the limits allow
    # (least total shortfall), then at least cost among those rosters.
    short_cols = []
    for row, r in zip(rows, (r for r in target if r > 0), strict=True):
        s = model.column(0.0, 0.0, float(r), integer=False)
        model.row_entries[row][s] = 1.0
        short_cols.append(s)
    saved = list(model.cost)
    model.cost = [0.0] * len(saved)
    for s in short_cols:
        model.cost[s] = 1.0
    first = _highs.solve(model, seconds=limit / 2, abs_gap=1e-6)
    if first.status in {"none", "infeasible"}:
        return first
    model.cost = saved
    model.row(dict.fromkeys(short_cols, 1.0), -math.inf, first.objective + 1e-6)
    second = _highs.solve(model, seconds=limit / 2, abs_gap=abs_gap)
    best = second if second.status in {"optimal", "feasible"} else first
    return attrs.evolve(best, status="infeasible-limits")


def _best_service_in_budget(
    model: _highs.Model, plan: StaffingPlan, floor: list[dict[int, float]],
    target: list[int], limit: float, hours: dict[int, float], budget: float, keep: Fraction,
) -> tuple[_highs.Solution, dict[int, int]]:
    """The best volume-weighted service level within the budget; and, per interval, the
    column of its productive agents."""
    total = plan.volume
    model.cost = [0.0] * len(model.cost)
    columns: dict[int, int] = {}
    model.row(dict(hours), -math.inf, budget)
    share = float(keep)
    for i, (req, r) in enumerate(zip(plan.requirements, target, strict=True)):
        volume = req.volume or 0.0
        if r <= 0 or volume <= 0 or total <= 0 or req.agents <= 0:
            continue
        weight = volume / total
        # productive agents, counted one by one up to the plan's requirement: integral
        # where needed, so that they never exceed floor(people on the floor x (1 - shrinkage))
        curve = _service_curve(plan, volume, req.agents)
        gains = [b - a for a, b in itertools.pairwise(curve)]
        # headcounts that earn nothing at first (not enough agents to keep up) form one
        # all-or-nothing block; then binaries until the gains only shrink (concave part)
        zero = 0
        while zero < len(gains) and gains[zero] <= 0.0:
            zero += 1
        concave = len(gains)
        while concave > zero and (concave == len(gains) or gains[concave - 1] >= gains[
                concave]):
            concave -= 1
        # a whole number of productive agents, at most the people on the floor less shrinkage
        agents = model.column(0.0, 0.0, float(req.agents), integer=True)
        columns[i] = agents
        model.row({agents: 1.0, **{col: -v * share for col, v in floor[i].items()}},
                  -math.inf, 0.0)
        row = {agents: -1.0}
        # the last all-or-nothing unit before z: no unit counts unless those before it do
        gate = None
        if zero > 0:
            gate = model.column(0.0, 0.0, 1.0, integer=True)
            row[gate] = float(zero)
        for k in range(zero, len(gains)):
            z = model.column(weight * gains[k], 0.0, 1.0, integer=k < concave)
            row[z] = 1.0
            if gate is not None:
                model.row({z: 1.0, gate: -1.0}, -math.inf, 0.0)
            if k < concave:
                gate = z
        model.row(row, -math.inf, 0.0)
    best = _highs.solve(model, maximize=True, seconds=limit, abs_gap=1e-9, rel_gap=1e-7)
    return best, columns


def _roster(
    candidates: Sequence[_Candidate], chosen: Sequence[ShiftTemplate],
    people: Sequence[Sequence[tuple[dt.timedelta, ...]]], grid: _Grid,
) -> Roster:
    """Shifts from the solution: one per start and break placement, recurring over days.

    In a cyclic plan every shift repeats each period, with no end; one that runs past the
    period's end starts a period earlier, so that its occurrence before the plan covers
    the plan's start as the pattern wraps.
    """
    period = grid.end - grid.first
    key = tuple[int, dt.time, tuple[Break, ...], int, bool]
    groups: dict[key, list[dt.datetime]] = defaultdict(list)
    for c, persons in zip(candidates, people, strict=True):
        if not persons:
            continue
        t = chosen[c.template]
        wraps = grid.cyclic and (c.start + t.duration).astimezone(_UTC) > grid.end
        start = c.start - period if wraps else c.start
        for offsets, agents in Counter(persons).items():
            breaks = tuple(Break(after=at, length=b.length)
                           for at, b in zip(offsets, t.breaks, strict=True))
            groups[c.template, c.start.time(), breaks, agents, wraps].append(start)
    shifts = []
    for (index, _, breaks, agents, _), starts in groups.items():
        starts.sort()
        if grid.cyclic:
            shifts.extend(_repeating(chosen[index], starts, breaks, agents, period))
            continue
        run: list[dt.datetime] = []
        for moment in [*starts, None]:
            if moment is not None and (not run or moment.date() - run[0].date() < 7 * _DAY):
                run.append(moment)
                continue
            shifts.append(_shift(chosen[index], run, breaks, agents))
            run = [moment] if moment is not None else []
    shifts.sort(key=lambda s: (s.start, s.name, [b.after for b in s.breaks], s.agents))
    return Roster(shifts=shifts)


def _repeating(
    template: ShiftTemplate, starts: list[dt.datetime], breaks: tuple[Break, ...], agents: int,
    period: dt.timedelta,
) -> list[Shift]:
    """Shifts that repeat every period: weekly by day when the period is a week."""
    if period == 7 * _DAY:
        days = ",".join(_WEEKDAYS[d] for d in sorted({s.weekday() for s in starts}))
        return [Shift(name=template.name, start=starts[0], duration=template.duration,
                      agents=agents, breaks=breaks, recurrence=f"FREQ=WEEKLY;BYDAY={days}")]
    rule = f"FREQ=DAILY;INTERVAL={period // _DAY}"
    return [Shift(name=template.name, start=start, duration=template.duration, agents=agents,
                  breaks=breaks, recurrence=rule) for start in starts]


def _shift(
    template: ShiftTemplate, starts: list[dt.datetime], breaks: tuple[Break, ...], agents: int,
) -> Shift:
    rule = None
    if len(starts) > 1:
        days = ",".join(_WEEKDAYS[d] for d in sorted({s.weekday() for s in starts}))
        rule = f"FREQ=WEEKLY;BYDAY={days};COUNT={len(starts)}"
    return Shift(name=template.name, start=starts[0], duration=template.duration,
                 agents=agents, breaks=breaks, recurrence=rule)
