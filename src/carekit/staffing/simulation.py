"""Check a plan by simulation: a discrete-event simulation of the period, queues carried over.

The Erlang formulas behind :func:`~carekit.staffing.plan` and
:func:`~carekit.staffing.coverage` treat each interval alone, in steady state, with
exponential handle times. :func:`simulate` drops those assumptions: contacts arrive as a
time-varying Poisson process, wait in one first-come-first-served queue that carries from
one interval to the next, are handled for a time with the chosen coefficient of variation,
and (optionally) give up after an exponential patience. Pure Python, deterministic per seed.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
import random
from collections import deque

import attrs

from carekit import _validate
from carekit.errors import CareKitError
from carekit.metrics._stats import t_quantile
from carekit.staffing.coverage import coverage
from carekit.staffing.plan import StaffingPlan
from carekit.staffing.roster import Roster

__all__ = ["MAX_CONTACTS", "SimulatedInterval", "Simulation", "simulate"]

#: The most contacts one simulation may draw, all runs together; about a minute of work.
MAX_CONTACTS = 20_000_000
#: The largest coefficient of variation of handle times accepted.
MAX_CV = 10.0


@attrs.frozen(kw_only=True)
class SimulatedInterval:
    """One interval of a :class:`Simulation`, pooled over its runs.

    Attributes:
        start: the interval's start.
        offered: contacts that arrived in it, averaged over runs.
        agents: productive agents on the floor (the roster's people, less shrinkage, as
            :func:`~carekit.staffing.coverage` counts them).
        service_level: share of the contacts that arrived in this interval and were
            answered (or were still waiting when the simulation ended) that were answered
            within the target's threshold. 1.0 when none arrived.
        asa: mean wait, in seconds, of the answered contacts that arrived in it.
        abandoned: share of the contacts that arrived in it that gave up waiting.
        erlang_service_level: the steady-state formula's service level for the interval
            (Erlang C, or Erlang A with patience), as :func:`coverage` reports it.
    """

    start: dt.datetime
    offered: float
    agents: int
    service_level: float
    asa: float
    abandoned: float
    erlang_service_level: float


@attrs.frozen(kw_only=True)
class Simulation:
    """The service a roster gives a plan's forecast, simulated ``runs`` times.

    Attributes:
        service_level: mean over runs of each run's service level (answered within the
            threshold, of the contacts answered or left waiting at the end).
        low: lower end of the 95 % Student t interval of that mean across runs.
        high: upper end of that interval.
        asa: mean over runs of the average speed of answer, in seconds.
        asa_low: lower end of its 95 % interval across runs.
        asa_high: upper end of that interval.
        abandoned: mean over runs of the share of contacts that gave up.
        abandoned_low: lower end of its 95 % interval across runs.
        abandoned_high: upper end of that interval.
        erlang_service_level: the volume-weighted steady-state service level
            :func:`coverage` predicts for the same roster, to compare with.
        intervals: one :class:`SimulatedInterval` per plan interval.
        runs: the number of runs.
        seed: the seed the runs were drawn from.
    """

    service_level: float
    low: float
    high: float
    asa: float
    asa_low: float
    asa_high: float
    abandoned: float
    abandoned_low: float
    abandoned_high: float
    erlang_service_level: float
    intervals: tuple[SimulatedInterval, ...]
    runs: int
    seed: int


class _Tally:
    """Counts per arrival interval, for one run."""

    __slots__ = ("abandoned", "answered", "offered", "waited", "within")

    def __init__(self, n: int) -> None:
        self.offered = [0] * n
        self.answered = [0] * n
        self.within = [0] * n
        self.waited = [0.0] * n
        self.abandoned = [0] * n


def _run(
    rng: random.Random, bounds: list[float], volumes: list[float], servers: list[int],
    aht: float, cv: float, patience: float | None, threshold: float,
) -> tuple[_Tally, int]:
    """One run: returns the tally and how many contacts were never answered nor gave up."""
    n = len(volumes)
    tally = _Tally(n)
    # arrivals: a Poisson process of rate volume/length in each interval
    arrivals: list[tuple[float, int]] = []
    for i in range(n):
        a, b = bounds[i], bounds[i + 1]
        if volumes[i] <= 0:
            continue
        rate = volumes[i] / (b - a)
        t = a + rng.expovariate(rate)
        while t < b:
            arrivals.append((t, i))
            t += rng.expovariate(rate)
    if cv == 0.0:
        def handle() -> float:
            return aht
    elif cv == 1.0:
        mean_rate = 1.0 / aht

        def handle() -> float:
            return rng.expovariate(mean_rate)
    else:
        shape, scale = 1.0 / (cv * cv), aht * cv * cv

        def handle() -> float:
            return rng.gammavariate(shape, scale)
    quit_rate = None if patience is None else 1.0 / patience
    queue: deque[tuple[float, float, int]] = deque()
    busy: list[float] = []  # finish times of the contacts in service
    capacity = 0
    boundary = 0  # the next capacity change is at bounds[boundary]
    inf = math.inf
    k = 0
    total = len(arrivals)
    offered, answered, within = tally.offered, tally.answered, tally.within
    waited, abandoned = tally.waited, tally.abandoned
    while True:
        ta = arrivals[k][0] if k < total else inf
        td = busy[0] if busy else inf
        tb = bounds[boundary] if boundary < n else inf
        if td == ta == tb == inf:
            break
        if td <= ta and td <= tb:
            now = heapq.heappop(busy)
        elif tb <= ta:
            now = tb
            capacity = servers[boundary]
            boundary += 1
        else:
            now, i = arrivals[k]
            k += 1
            offered[i] += 1
            deadline = now + rng.expovariate(quit_rate) if quit_rate is not None else inf
            queue.append((now, deadline, i))
        while queue and len(busy) < capacity:
            arrived, deadline, i = queue.popleft()
            if deadline < now:
                abandoned[i] += 1
                continue
            wait = now - arrived
            answered[i] += 1
            waited[i] += wait
            if wait <= threshold:
                within[i] += 1
            heapq.heappush(busy, now + handle())
    left = 0
    for _, deadline, i in queue:  # no one is left to answer them
        if deadline < inf:
            abandoned[i] += 1
        else:
            left += 1
    return tally, left


def simulate(
    plan: StaffingPlan,
    roster: Roster,
    *,
    runs: int = 20,
    seed: int = 0,
    aht_cv: float = 1.0,
    patience: dt.timedelta | float | None = None,
    shrinkage: float | None = None,
) -> Simulation:
    """Simulate the roster against the plan's forecast, ``runs`` times.

    The model, for each run:

    * contacts arrive as a Poisson process whose rate is each interval's volume over its
      length (so the rate changes at each interval's start);
    * the productive agents in an interval are the roster's people on the floor less
      shrinkage, as :func:`~carekit.staffing.coverage` counts them; with the plan's
      ``concurrency`` each agent handles that many contacts at once. When agents leave, a
      contact in progress is finished first; after the last interval its agents stay
      until the queue is empty;
    * one queue, first come first served, carried from interval to interval; the period
      starts empty;
    * handle times have mean ``plan.aht`` and coefficient of variation ``aht_cv``: gamma
      distributed, exponential at 1 (the Erlang assumption), constant at 0;
    * with ``patience`` (or the plan's), each waiting contact gives up after an
      exponential time of that mean (the Erlang A assumption).

    A contact counts in the interval it arrived in. A run's service level is the share of
    its contacts answered within the plan's ``answer_within``, out of those answered or
    still waiting when the period ends with nobody left to answer (those who gave up are
    left out, as Erlang A's service level does). The runs use independent random streams
    drawn from ``seed``, so a seed always gives the same result.

    Args:
        plan: the :class:`StaffingPlan` (its forecast, handle time, target, concurrency).
        roster: the :class:`Roster` to check.
        runs: independent runs, from 2 to 10,000 (the interval is across runs).
        seed: an int; the same seed gives the same simulation.
        aht_cv: coefficient of variation of handle times, from 0 to 10.
        patience: mean patience (``timedelta`` or seconds); None: the plan's (None there
            too: nobody gives up).
        shrinkage: the share of on-floor time lost to what the roster does not model, as
            in :func:`coverage`; None: the plan's.

    Returns:
        A :class:`Simulation`.

    Raises:
        CareKitError: arguments of the wrong type or out of range, or more than
            :data:`MAX_CONTACTS` contacts to draw over all runs.

    Examples:
        >>> import datetime as dt
        >>> from carekit.staffing import Roster, ServiceTarget, Shift, plan
        >>> nine = dt.datetime(2025, 3, 3, 9, tzinfo=dt.timezone.utc)
        >>> day = plan([(nine + i * dt.timedelta(minutes=30), 100) for i in range(4)],
        ...            aht=180, target=ServiceTarget.parse("80/20"))
        >>> team = Roster(shifts=[Shift(name="day", start=nine, duration=2 * 3600, agents=14)])
        >>> sim = simulate(day, team, runs=10, seed=1)
        >>> sim.low <= sim.service_level <= sim.high, round(sim.erlang_service_level, 3)
        (True, 0.888)
    """
    if not isinstance(plan, StaffingPlan):
        msg = f"plan must be a carekit.staffing.StaffingPlan (got {_validate.short(plan)})"
        raise CareKitError(msg)
    if not isinstance(roster, Roster):
        msg = f"roster must be a carekit.staffing.Roster (got {_validate.short(roster)})"
        raise CareKitError(msg)
    runs = _validate.positive_int("runs", runs, minimum=2, maximum=10_000)
    if isinstance(seed, bool) or not isinstance(seed, int):
        msg = f"seed must be an integer (got {seed!r})"
        raise CareKitError(msg)
    cv = _validate.non_negative("aht_cv", aht_cv)
    if cv > MAX_CV:
        msg = f"aht_cv must lie in [0, {MAX_CV:g}] (got {aht_cv!r})"
        raise CareKitError(msg)
    mean_patience = (plan.patience if patience is None
                     else _validate.positive_duration("patience", patience))
    cov = coverage(plan, roster, shrinkage=shrinkage)
    drawn = plan.volume * runs
    if drawn > MAX_CONTACTS:
        msg = (
            f"runs x the plan's volume must be at most {MAX_CONTACTS:,} contacts to simulate "
            f"(got {runs} x {plan.volume:,.0f}); hint: fewer runs or a shorter plan"
        )
        raise CareKitError(msg)
    intervals = list(cov)
    if not intervals:
        return Simulation(service_level=1.0, low=1.0, high=1.0, asa=0.0, asa_low=0.0,
                          asa_high=0.0, abandoned=0.0, abandoned_low=0.0, abandoned_high=0.0,
                          erlang_service_level=cov.service_level, intervals=(), runs=runs,
                          seed=seed)
    # segments of the timeline: the plan's intervals, and any gap between them (no one
    # arrives or works there; the queue waits)
    # in UTC: between datetimes sharing a tzinfo, `-` reads the wall clock (DST changes)
    utc = dt.timezone.utc
    origin = intervals[0].start.astimezone(utc)
    length = plan.interval.total_seconds()
    bounds: list[float] = []
    volumes: list[float] = []
    servers: list[int] = []
    index_of: list[int] = []
    for j, c in enumerate(intervals):
        begin = (c.start.astimezone(utc) - origin).total_seconds()
        if bounds and bounds[-1] < begin:
            volumes.append(0.0)
            servers.append(0)
            index_of.append(-1)
            bounds.append(begin)
        elif not bounds:
            bounds.append(begin)
        volumes.append(c.volume)
        servers.append(c.agents * plan.concurrency)
        index_of.append(j)
        bounds.append(begin + length)
    aht = plan.aht.total_seconds()
    threshold = plan.target.answer_within.total_seconds()
    quit_after = None if mean_patience is None else mean_patience.total_seconds()
    m = len(intervals)
    offered = [0] * m
    answered = [0] * m
    within = [0] * m
    waited = [0.0] * m
    gave_up = [0] * m
    run_sl: list[float] = []
    run_asa: list[float] = []
    run_abandoned: list[float] = []
    for r in range(runs):
        rng = random.Random(f"carekit-simulate-{seed}-{r}")
        tally, left = _run(rng, bounds, volumes, servers, aht, cv, quit_after, threshold)
        for pos, j in enumerate(index_of):
            if j < 0:
                continue
            offered[j] += tally.offered[pos]
            answered[j] += tally.answered[pos]
            within[j] += tally.within[pos]
            waited[j] += tally.waited[pos]
            gave_up[j] += tally.abandoned[pos]
        n_answered = sum(tally.answered)
        n_offered = sum(tally.offered)
        base = n_answered + left
        run_sl.append(sum(tally.within) / base if base else 1.0)
        run_asa.append(sum(tally.waited) / n_answered if n_answered else 0.0)
        run_abandoned.append(sum(tally.abandoned) / n_offered if n_offered else 0.0)
    sl, sl_low, sl_high = _mean_interval(run_sl)
    asa, asa_low, asa_high = _mean_interval(run_asa)
    gone, gone_low, gone_high = _mean_interval(run_abandoned)
    rows = []
    for j, c in enumerate(intervals):
        stayed = offered[j] - gave_up[j]
        rows.append(SimulatedInterval(
            start=c.start, offered=offered[j] / runs, agents=c.agents,
            service_level=within[j] / stayed if stayed else 1.0,
            asa=waited[j] / answered[j] if answered[j] else 0.0,
            abandoned=gave_up[j] / offered[j] if offered[j] else 0.0,
            erlang_service_level=c.service_level,
        ))
    return Simulation(
        service_level=sl, low=max(0.0, sl_low), high=min(1.0, sl_high),
        asa=asa, asa_low=max(0.0, asa_low), asa_high=asa_high,
        abandoned=gone, abandoned_low=max(0.0, gone_low), abandoned_high=min(1.0, gone_high),
        erlang_service_level=cov.service_level, intervals=tuple(rows), runs=runs, seed=seed,
    )


def _mean_interval(values: list[float]) -> tuple[float, float, float]:
    """The mean of i.i.d. run results and its 95 % Student t interval."""
    n = len(values)
    mean = math.fsum(values) / n
    spread = math.sqrt(math.fsum((x - mean) ** 2 for x in values) / (n - 1))
    half = t_quantile(0.975, n - 1) * spread / math.sqrt(n)
    return mean, mean - half, mean + half
