"""Performance of a headcount, the headcount a target needs, and the load a team carries."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from carekit import _validate
from carekit.errors import CareKitError, InfeasibleTarget
from carekit.staffing import _numerics
from carekit.staffing._exact import exact, seconds
from carekit.staffing.workload import (
    MAX_TRAFFIC,
    Performance,
    Requirement,
    ServiceTarget,
    Workload,
)

__all__ = [
    "capacity",
    "check_shrinkage",
    "check_target",
    "gross_up",
    "max_traffic",
    "performance",
    "required_agents",
    "service_level",
]

#: |float service level - target| below which the comparison is looked at more closely
_TIE = 1e-11
_MAX_STEPS = 200
#: near-ties are settled in exact arithmetic up to this load (Erlangs), in floats beyond
_EXACT_MAX_TRAFFIC = 1e8
#: fixed-point bits of the exact Erlang B sum
_FIXED_BITS = 200
#: more servers than this never queue on any load a Workload carries
_MANY_SERVERS = 2**53


def _check_workload(workload: Any) -> Workload:
    if not isinstance(workload, Workload):
        msg = f"workload must be a carekit.staffing.Workload (got {workload!r})"
        raise CareKitError(msg)
    return workload


def check_target(target: Any) -> ServiceTarget:
    """Return ``target`` if it is a :class:`ServiceTarget`, else raise naming it."""
    if not isinstance(target, ServiceTarget):
        msg = f"target must be a carekit.staffing.ServiceTarget (got {target!r})"
        raise CareKitError(msg)
    return target


def check_shrinkage(value: Any) -> Fraction:
    """Shrinkage as the exact fraction written, checked to lie in [0, 1)."""
    f = _validate.finite("shrinkage", value)
    if not 0.0 <= f < 1.0:
        msg = f"shrinkage must lie in [0, 1) (got {value!r}){_validate.percent_hint(f)}"
        raise CareKitError(msg)
    return exact(value)


def gross_up(agents: int, p: int, q: int) -> int:
    """People to schedule for ``agents`` at shrinkage ``p/q``: ``ceil(agents / (1 - p/q))``.

    Computed as ``ceil(agents q / (q - p))`` in integers, so it is exact.
    """
    return -(-agents * q // (q - p))


def _performance(w: Workload, agents: int, answer_within: dt.timedelta | None) -> Performance:
    a = w.traffic
    servers = agents * w.concurrency
    aht = w.aht.total_seconds()
    has_t = answer_within is not None
    if a == 0.0:
        return Performance(
            agents=agents, traffic=0.0, wait_probability=0.0,
            service_level=1.0 if has_t else None, asa=0.0, occupancy=0.0, abandon_rate=0.0,
        )
    if servers == 0:
        return Performance(
            agents=0, traffic=a, wait_probability=1.0, service_level=0.0 if has_t else None,
            asa=math.inf, occupancy=1.0, abandon_rate=1.0 if w.patience is not None else 0.0,
        )
    if servers > _MANY_SERVERS:
        # Hundreds of millions of standard deviations above any load a Workload carries
        # (1e15 Erlangs): nobody waits, and the count may be too large for a float.
        num, den = a.as_integer_ratio()
        return Performance(
            agents=agents, traffic=a, wait_probability=0.0,
            service_level=1.0 if has_t else None, asa=0.0, occupancy=num / (den * servers),
            abandon_rate=0.0,
        )
    if w.patience is not None:
        patience = w.patience.total_seconds()
        t = None if answer_within is None else answer_within.total_seconds() / patience
        wait, abandon, sl, asa = _numerics.erlang_a(a, servers, patience / aht, t)
        return Performance(
            agents=agents, traffic=a, wait_probability=wait, service_level=sl,
            asa=asa * patience, occupancy=min(1.0, a * (1.0 - abandon) / servers),
            abandon_rate=abandon,
        )
    b = _numerics.erlang_b(a, servers)
    return _erlang_c_performance(w, agents, a, b, answer_within)


def _erlang_c_performance(
    w: Workload, agents: int, a: float, b: float, answer_within: dt.timedelta | None
) -> Performance:
    servers = agents * w.concurrency
    aht = w.aht.total_seconds()
    if servers <= a:
        return Performance(
            agents=agents, traffic=a, wait_probability=1.0,
            service_level=None if answer_within is None else 0.0,
            asa=math.inf, occupancy=1.0, abandon_rate=0.0,
        )
    c = _numerics.erlang_c_from_b(a, servers, b)
    sl = None
    if answer_within is not None:
        sl = 1.0 - c * math.exp(-(servers - a) * answer_within.total_seconds() / aht)
        sl = min(1.0, max(0.0, sl))
    return Performance(
        agents=agents, traffic=a, wait_probability=c, service_level=sl,
        asa=c * aht / (servers - a), occupancy=a / servers, abandon_rate=0.0,
    )


def performance(
    workload: Workload, agents: int, answer_within: dt.timedelta | float | None = None
) -> Performance:
    """What ``agents`` agents achieve on ``workload``.

    Without ``patience`` this is Erlang C (M/M/n): waiting probability ``C``, service level
    ``1 - C exp(-(N - A) t / AHT)``, ``ASA = C AHT / (N - A)``, occupancy ``A / N`` (Cooper
    1981). With ``patience`` it is Erlang A (M/M/n+M, Palm 1943; Mandelbaum & Zeltyn 2007):
    customers abandon after an exponential patience, and the service level and ASA describe
    the customers who stay to be served. With ``concurrency`` each agent is that many
    servers.

    Args:
        workload: the interval's :class:`Workload`.
        agents: productive agents (int >= 0).
        answer_within: threshold for the service level (``timedelta`` or seconds); without
            it ``service_level`` is None.

    Returns:
        A :class:`Performance`.

    Raises:
        CareKitError: a bad workload, agents or threshold.

    Examples:
        >>> w = Workload(volume=100, aht=180, interval=1800)
        >>> p = performance(w, 12, answer_within=20)
        >>> round(p.service_level, 4), round(p.asa, 1), round(p.occupancy, 3)
        (0.6402, 40.4, 0.833)
    """
    w = _check_workload(workload)
    n = _validate.positive_int("agents", agents, minimum=0)
    t = _validate.optional_duration("answer_within", answer_within)
    return _performance(w, n, t)


def service_level(workload: Workload, agents: int, answer_within: dt.timedelta | float) -> float:
    """The service level ``agents`` agents achieve: share answered within ``answer_within``.

    Examples:
        >>> round(service_level(Workload(volume=100, aht=180, interval=1800), 13, 20), 4)
        0.7956
    """
    t = _validate.duration("answer_within", answer_within)
    result = performance(workload, agents, t).service_level
    assert result is not None
    return result


def _exact_erlang_c_meets(
    w: Workload, servers: int, target: ServiceTarget, late: float
) -> bool:
    """Decide ``service level >= target`` on ``servers`` servers when floats put it close.

    ``late = C exp(-(N - A) t / AHT)`` is the share answered late as computed in floats,
    the target is met when it is at most ``1 - service_level`` (the level as written). Its
    relative rounding error is bounded (it grows with the load and with ``N / (N - A)``):
    outside that bound the float comparison is right. Inside it, for loads up to 1e8
    Erlangs, exactly: ``1/B = sum_j s!/((s-j)! A**j)`` with the exact load ``A``, in 200-bit
    fixed point, stopped once the terms left are below ``2**-190`` of the sum or the sum
    alone proves the target met (about ``26 sqrt(A)`` terms at most); then Erlang C and the
    service level in 50-digit decimals. Above 1e8 Erlangs that sum would take too long and
    the float comparison stands.
    """
    a = w.traffic
    s = servers
    tau = target.answer_within.total_seconds() / w.aht.total_seconds()
    goal = exact(target.service_level)
    allowed = float(1 - goal)
    gap = s - a
    if gap > 0.0:
        rel = 1e-11 + 1e-14 * (gap + 10.0 * math.sqrt(a) + s / gap + s * tau)
        if abs(late - allowed) > late * rel + allowed * 2e-16:
            return late <= allowed
    if a > _EXACT_MAX_TRAFFIC:
        return late <= allowed
    a_exact = w.exact_traffic
    if s <= a_exact:
        return False  # unstable: nobody is answered in time in the long run
    p, q = a_exact.numerator, a_exact.denominator
    one = 1 << _FIXED_BITS
    # c e <= c <= B s / (s - A) < s / ((s - A) * partial sum): once the partial sum passes
    # 2 s / ((s - A)(1 - goal)), fewer than half the contacts the goal allows are late
    enough = math.ceil(Fraction(2 * s) / ((s - a_exact) * (1 - goal))) * one if goal < 1 else 0
    term = total = one
    for k in range(s, 0, -1):
        term = term * k * q // p
        total += term
        if enough and total > enough:
            return True
        # from here on each ratio (k - 1) / A and the next are below one: the rest of the sum
        # is at most term * r / (1 - r) with r = (k - 1) / A
        room = p - (k - 1) * q
        if room > 0 and (term * (k - 1) * q) << (_FIXED_BITS - 10) <= total * room:
            break
    with localcontext() as ctx:
        ctx.prec = 50
        a_dec = Decimal(p) / Decimal(q)
        b = Decimal(one) / Decimal(total)
        c = s * b / (s - a_dec * (1 - b))
        ratio = seconds(target.answer_within) / seconds(w.aht)
        t_dec = Decimal(ratio.numerator) / Decimal(ratio.denominator)
        exact_sl = 1 - c * (-(s - a_dec) * t_dec).exp()
        return bool(exact_sl >= Decimal(goal.numerator) / Decimal(goal.denominator))


def _halfin_whitt_servers(a: float, tau: float, level: float) -> int:
    """Square-root staffing estimate ``A + beta sqrt(A)`` (Halfin & Whitt 1981).

    Only a starting point for the exact walk, so a coarse bisection on ``beta`` will do.
    """
    root = math.sqrt(a)

    def sl(beta: float) -> float:
        phi = math.exp(-0.5 * beta * beta) / math.sqrt(2.0 * math.pi)
        cdf = 0.5 * math.erfc(-beta / math.sqrt(2.0))
        wait = 1.0 / (1.0 + beta * cdf / phi)
        return 1.0 - wait * math.exp(-beta * root * tau)

    lo, hi = 0.0, 1.0
    while sl(hi) < level and hi < 64.0:
        lo, hi = hi, hi * 2.0
    for _ in range(12):
        mid = 0.5 * (lo + hi)
        if sl(mid) < level:
            lo = mid
        else:
            hi = mid
    return math.floor(a + lo * root)


def _infeasible(target: ServiceTarget, why: str) -> InfeasibleTarget:
    within = target.answer_within.total_seconds()
    msg = (
        f"target service_level={target.service_level!r} within "
        f"answer_within={within:g} s cannot be met: {why}"
    )
    return InfeasibleTarget(msg)


def _floor(x: float, exact_value: Callable[[], Fraction]) -> int:
    """``floor`` of a quotient, decided exactly when the float lies close to an integer."""
    r = round(x)
    if abs(x - r) > 1e-9 * max(1.0, abs(x)):
        return math.floor(x)
    return math.floor(exact_value())


def _ceil(x: float, exact_value: Callable[[], Fraction]) -> int:
    """``ceil`` of a quotient, decided exactly when the float lies close to an integer."""
    r = round(x)
    if abs(x - r) > 1e-9 * max(1.0, abs(x)):
        return math.ceil(x)
    return math.ceil(exact_value())


#: above this load the walk starts from the square-root staffing estimate, not the bound
_WALK_FROM_BOUND = 400.0


def _minimum_erlang_c(w: Workload, target: ServiceTarget) -> tuple[int, float]:
    """The smallest headcount and its Erlang B value."""
    a = w.traffic
    conc = w.concurrency
    level = target.service_level
    tau = target.answer_within.total_seconds() / w.aht.total_seconds()
    cap = target.max_occupancy
    # Stability (N c > A) and the occupancy cap (A / (N c) <= cap), both decided exactly.
    low = _floor(a / conc, lambda: w.exact_traffic / conc) + 1
    if cap is not None:
        bound = _ceil(a / (cap * conc), lambda: w.exact_traffic / (exact(cap) * conc))
        low = max(low, bound)
    n = low
    if a > _WALK_FROM_BOUND:
        n = max(low, _halfin_whitt_servers(a, tau, level) // conc)
    exp = math.exp

    def meets(n: int, b: float) -> bool:
        # n >= low here, so n * conc > a
        s = n * conc
        c = b / (1.0 - a / s * (1.0 - b))
        sl = 1.0 - c * exp(-(s - a) * tau)
        if -_TIE <= sl - level <= _TIE:
            return _exact_erlang_c_meets(w, s, target, c * exp(-(s - a) * tau))
        return sl >= level

    b = _numerics.erlang_b(a, n * conc)
    if meets(n, b):
        while n > low:
            below = b
            for k in range(n * conc, (n - 1) * conc, -1):
                below = _numerics.erlang_b_down(a, k, below)
            if not meets(n - 1, below):
                break
            n, b = n - 1, below
        return n, b
    for _ in range(_MAX_STEPS):
        s = n * conc
        for k in range(s + 1, s + conc + 1):
            b = a * b / (k + a * b)
        n += 1
        if meets(n, b):
            return n, b
    # The estimate was far off (extreme targets): bisect with fresh evaluations.
    hi = n
    while not meets(hi, _numerics.erlang_b(a, hi * conc)):
        if hi > 4 * (a / conc + 10.0) + 1000:
            raise _infeasible(target, "the service level does not reach it in floating point")
        hi *= 2
    lo = n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if meets(mid, _numerics.erlang_b(a, mid * conc)):
            hi = mid
        else:
            lo = mid
    return hi, _numerics.erlang_b(a, hi * conc)


def _minimum_erlang_a(w: Workload, target: ServiceTarget) -> int:
    cap = target.max_occupancy

    def meets(n: int) -> bool:
        if n == 0:
            return False
        p = _performance(w, n, target.answer_within)
        assert p.service_level is not None
        if cap is not None and p.occupancy > cap:
            return False
        return p.service_level >= target.service_level

    hi = max(1, math.ceil(w.traffic / w.concurrency))
    limit = 4 * hi + 1000
    while not meets(hi):
        if hi > limit:
            raise _infeasible(target, "the service level does not reach it in floating point")
        hi *= 2
    # With abandonment fewer agents than the load can meet the target: search from zero.
    lo = 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if meets(mid):
            hi = mid
        else:
            lo = mid
    return hi


def required_agents(
    workload: Workload, target: ServiceTarget, shrinkage: float = 0.0
) -> Requirement:
    """The smallest headcount meeting ``target`` and the occupancy cap, and whom to schedule.

    The search starts from the square-root staffing estimate (Halfin & Whitt 1981) and walks
    the exact Erlang B recursion one agent at a time up or down, so it returns the true
    minimum; with ``patience`` (Erlang A) it bisects from zero, since abandonment can let
    fewer agents than the offered load meet the target. When the service level and the
    target agree to within rounding, the comparison is settled in exact arithmetic (up to
    1e8 Erlangs; beyond, the share answered late decides it in floats). Then
    ``scheduled = ceil(agents / (1 - shrinkage))`` in exact rational arithmetic, with
    ``shrinkage`` read as written: 21 agents at 0.3 shrinkage is 30, not 31.

    Args:
        workload: the interval's :class:`Workload`.
        target: the :class:`ServiceTarget`.
        shrinkage: share of paid time not available for contacts, in [0, 1).

    Returns:
        A :class:`Requirement` with ``agents``, ``scheduled`` and their ``performance``.

    Raises:
        CareKitError: bad arguments, e.g. shrinkage >= 1.
        InfeasibleTarget: a target no headcount meets (100 % of contacts within any time).

    Examples:
        >>> w = Workload(volume=100, aht=180, interval=1800)
        >>> r = required_agents(w, ServiceTarget(service_level=0.8, answer_within=20), 0.3)
        >>> r.agents, r.scheduled
        (14, 20)
    """
    w = _check_workload(workload)
    t = check_target(target)
    return _requirement(w, t, check_shrinkage(shrinkage))


class _Solver:
    """Everything about a requirement that does not depend on the volume, worked out once.

    :func:`~carekit.staffing.plan` calls :meth:`requirement` for thousands of intervals, so
    the Erlang C walk is written out here without helper calls; the arithmetic is the same
    as in :func:`_minimum_erlang_c`.
    """

    __slots__ = ("aht", "cap", "conc", "erlang_a", "interval", "level", "shrink_p", "shrink_q",
                 "target", "tau", "template")

    def __init__(self, template: Workload, target: ServiceTarget, shrink: Fraction) -> None:
        self.template = template
        self.target = target
        self.aht = template.aht.total_seconds()
        self.interval = template.interval.total_seconds()
        self.tau = target.answer_within.total_seconds() / self.aht
        self.level = target.service_level
        self.cap = target.max_occupancy
        self.conc = template.concurrency
        self.erlang_a = template.patience is not None
        self.shrink_p, self.shrink_q = shrink.numerator, shrink.denominator

    def requirement(
        self, w: Workload, start: dt.datetime | None = None, volume: float | None = None
    ) -> Requirement:
        t = self.target
        a = w.traffic
        if a == 0.0:
            agents = 0
            perf = _performance(w, 0, t.answer_within)
        elif self.level >= 1.0:
            raise _infeasible(
                t,
                "while contacts arrive at random some always find every agent busy, so no "
                "number of agents answers 100 %; ask for less, e.g. service_level=0.99",
            )
        elif self.erlang_a:
            agents = _minimum_erlang_a(w, t)
            perf = _performance(w, agents, t.answer_within)
        else:
            agents, perf = self._erlang_c(w.volume, a, w)
        scheduled = gross_up(agents, self.shrink_p, self.shrink_q)
        return Requirement(agents=agents, scheduled=scheduled, performance=perf, start=start,
                           volume=volume)

    def requirement_for_volume(self, volume: float, start: dt.datetime) -> Requirement:
        """:meth:`requirement` for the template workload with another (validated) volume."""
        if volume == 0.0 or self.erlang_a or self.level >= 1.0:
            return self.requirement(self.template._with_volume(volume), start, volume)
        agents, perf = self._erlang_c(volume, volume * self.aht / self.interval, None)
        scheduled = gross_up(agents, self.shrink_p, self.shrink_q)
        return Requirement(agents=agents, scheduled=scheduled, performance=perf, start=start,
                           volume=volume)

    def _workload(self, volume: float, workload: Workload | None) -> Workload:
        """The Workload the rare exact paths need, built only then."""
        return workload if workload is not None else self.template._with_volume(volume)

    def _erlang_c(
        self, volume: float, a: float, workload: Workload | None
    ) -> tuple[int, Performance]:
        conc, tau, level, cap = self.conc, self.tau, self.level, self.cap
        exp = math.exp
        # Stability (N c > A) and the occupancy cap (A / (N c) <= cap), decided exactly when
        # the float quotient is within rounding of an integer.
        x = a / conc
        low = math.floor(x) + 1
        if abs(x - round(x)) <= 1e-9 * (x if x > 1.0 else 1.0):
            exact_a = self._workload(volume, workload).exact_traffic
            low = math.floor(exact_a / conc) + 1
        if cap is not None:
            x = a / (cap * conc)
            bound = math.ceil(x)
            if abs(x - round(x)) <= 1e-9 * (x if x > 1.0 else 1.0):
                exact_a = self._workload(volume, workload).exact_traffic
                bound = math.ceil(exact_a / (exact(cap) * conc))
            low = max(low, bound)
        n = low
        if a > _WALK_FROM_BOUND:
            n = max(low, _halfin_whitt_servers(a, tau, level) // conc)
        s = n * conc
        b = _numerics.erlang_b(a, s)
        c = b / (1.0 - a / s * (1.0 - b))
        sl = 1.0 - c * exp(-(s - a) * tau)
        if abs(sl - level) > _TIE:
            ok = sl >= level
        else:
            ok = _exact_erlang_c_meets(self._workload(volume, workload), s, self.target,
                                       c * exp(-(s - a) * tau))
        if ok:
            while n > low:
                below = b
                for k in range(s, s - conc, -1):
                    below = _numerics.erlang_b_down(a, k, below)
                s2 = s - conc
                c2 = below / (1.0 - a / s2 * (1.0 - below))
                sl2 = 1.0 - c2 * exp(-(s2 - a) * tau)
                if abs(sl2 - level) > _TIE:
                    if sl2 < level:
                        break
                elif not _exact_erlang_c_meets(self._workload(volume, workload), s2,
                                               self.target, c2 * exp(-(s2 - a) * tau)):
                    break
                n, s, b, c, sl = n - 1, s2, below, c2, sl2
        else:
            for _ in range(_MAX_STEPS):
                if conc == 1:
                    s += 1
                    b = a * b / (s + a * b)
                else:
                    for k in range(s + 1, s + conc + 1):
                        b = a * b / (k + a * b)
                    s += conc
                n += 1
                c = b / (1.0 - a / s * (1.0 - b))
                sl = 1.0 - c * exp(-(s - a) * tau)
                if abs(sl - level) > _TIE:
                    if sl >= level:
                        break
                elif _exact_erlang_c_meets(self._workload(volume, workload), s, self.target,
                                           c * exp(-(s - a) * tau)):
                    break
            else:
                n, b = _minimum_erlang_c(self._workload(volume, workload), self.target)
                s = n * conc
                c = b / (1.0 - a / s * (1.0 - b))
                sl = 1.0 - c * exp(-(s - a) * tau)
        perf = Performance(
            agents=n, traffic=a, wait_probability=c,
            service_level=sl if 0.0 <= sl <= 1.0 else min(1.0, max(0.0, sl)),
            asa=c * self.aht / (s - a), occupancy=a / s, abandon_rate=0.0,
        )
        return n, perf


def _requirement(
    w: Workload,
    t: ServiceTarget,
    shrink: Fraction,
    start: dt.datetime | None = None,
    volume: float | None = None,
) -> Requirement:
    """:func:`required_agents` after validation."""
    return _Solver(w, t, shrink).requirement(w, start, volume)


def capacity(
    agents: int,
    target: ServiceTarget,
    *,
    aht: dt.timedelta | float,
    interval: dt.timedelta | float,
    patience: dt.timedelta | float | None = None,
    concurrency: int = 1,
) -> float:
    """The largest volume per interval ``agents`` agents can take while meeting ``target``.

    Found by bisection on the volume (service level falls as volume rises), to a relative
    precision of 1e-9, among the volumes a :class:`Workload` accepts: offered loads up to
    :data:`~carekit.staffing.workload.MAX_TRAFFIC` (1e15 Erlangs).

    With ``patience`` (Erlang A) the service level describes the customers who stay to be
    served, and past the agents' capacity the queue is held in check by abandonment: when the
    threshold is long compared with the patience, those who stay are answered in time at
    loads far beyond anything the agents can handle (the rest, nearly everyone, abandon).
    When the target is still met at 1e15 Erlangs there is no limit to report and the result
    is ``math.inf``; add ``max_occupancy`` to the target, or look at ``abandon_rate``, for a
    finite answer.

    Args:
        agents: productive agents (int >= 0).
        target: the :class:`ServiceTarget` (its occupancy cap applies too).
        aht: average handle time, ``timedelta`` or seconds.
        interval: interval length, ``timedelta`` or seconds (a bare number below 60 is
            refused as a likely mistake for minutes).
        patience: mean patience for Erlang A, or None for Erlang C.
        concurrency: contacts per agent at once (chat).

    Returns:
        The volume (contacts per interval); 0.0 when even one contact is too many, and
        ``math.inf`` when the target is still met at a load of 1e15 Erlangs (as above, or
        with more than 1e15 agents).

    Raises:
        CareKitError: bad arguments.

    Examples:
        >>> t = ServiceTarget(service_level=0.8, answer_within=20)
        >>> round(capacity(14, t, aht=180, interval=1800), 1)
        108.7
        >>> capacity(14, ServiceTarget(0.8, answer_within=3600), aht=180, interval=1800,
        ...          patience=60)
        inf
    """
    n = _validate.positive_int("agents", agents, minimum=0)
    t = check_target(target)

    def workload(volume: float) -> Workload:
        return Workload(
            volume=volume, aht=aht, interval=interval, patience=patience,
            concurrency=concurrency,
        )

    unit = workload(0.0)
    per_contact = unit.aht.total_seconds() / unit.interval.total_seconds()
    # the largest volume a Workload takes, a hair inside the limit against rounding
    top = MAX_TRAFFIC / per_contact * (1.0 - 1e-12)

    def meets(volume: float) -> bool:
        p = _performance(workload(volume), n, t.answer_within)
        assert p.service_level is not None
        if t.max_occupancy is not None and p.occupancy > t.max_occupancy:
            return False
        return p.service_level >= t.service_level

    if n == 0:
        return 0.0
    servers = n * unit.concurrency
    hi = top if servers >= MAX_TRAFFIC else min(top, servers / per_contact)
    while meets(hi):
        if hi >= top:
            return math.inf
        hi = min(top, 2.0 * hi)
    lo = 0.0
    for _ in range(200):
        if hi - lo <= 1e-9 * hi:
            break
        mid = 0.5 * (lo + hi)
        if meets(mid):
            lo = mid
        else:
            hi = mid
    return lo


def max_traffic(
    agents: int,
    target: ServiceTarget,
    *,
    aht: dt.timedelta | float,
    patience: dt.timedelta | float | None = None,
    concurrency: int = 1,
) -> float:
    """The largest offered load, in Erlangs, ``agents`` agents carry while meeting ``target``.

    The same question as :func:`capacity`, in load rather than volume: the service level
    depends on the load, the headcount and the thresholds over the handle time only.

    Args:
        agents: productive agents (int >= 0).
        target: the :class:`ServiceTarget` (its occupancy cap applies too).
        aht: average handle time, ``timedelta`` or seconds.
        patience: mean patience for Erlang A, or None for Erlang C.
        concurrency: contacts per agent at once (chat).

    Returns:
        The load in Erlangs (volume x AHT / interval); ``math.inf`` when the target is
        still met at 1e15 Erlangs, as for :func:`capacity`.

    Raises:
        CareKitError: bad arguments.

    Examples:
        >>> t = ServiceTarget(service_level=0.8, answer_within=20)
        >>> round(max_traffic(14, t, aht=180), 3)
        10.868
    """
    return capacity(agents, target, aht=aht, interval=aht, patience=patience,
                    concurrency=concurrency)
