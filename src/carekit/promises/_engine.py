"""The walk-forward engine behind the learned estimators (private).

One chronological sweep over order placements and deliveries keeps, for every segment and
each of its parents, the orders placed within the window: delivered ones as lead times in
business days, undelivered ones as censored at their current age. At any moment it gives the
lead-time distribution of a segment as a Kaplan–Meier estimate (Kaplan & Meier, "Nonparametric
estimation from incomplete observations", JASA 53, 1958), shrunk toward the parent segment by
mixing with the parent's distribution with a prior weight of ``shrinkage`` orders (the posterior
mean of a Dirichlet process with the parent as base measure; Ferguson, "A Bayesian analysis of
some nonparametric problems", Annals of Statistics 1, 1973).

Calibration follows adaptive conformal inference (Gibbs & Candès, "Adaptive conformal inference
under distribution shift", NeurIPS 2021): each time the outcome of a promise becomes known
(delivered, or its promised day passed without a delivery), the quantile level moves by
``rate * (missed - (1 - target))``, so the long-run share of missed promises tracks
``1 - target`` even when lead times drift. With a ``segment_rate`` every segment also keeps
its own offset to the level, moved the same way by its own orders' outcomes only, so the share
kept tracks the target segment by segment, not only overall.

Orders that will never arrive do not belong in a lead-time distribution. Cancelled orders never
reach the engine. An order still undelivered when it is ``lost_factor`` times older than the
longest lead delivered in the window (or older than ``lost_days``) counts as lost: it leaves the
estimate (it would otherwise stay "at risk" at every lead and swell the tail), and a miss it
already counted in the calibration is taken back; if it turns up after all it counts as a
delivery again.

Several settings can be run side by side in one sweep (self-tuning): they share the window's
counts and differ in shrinkage, trend and segment calibration. Each setting promises every
order it is asked about, its promises are scored when the orders are delivered (pinball loss,
Koenker & Bassett, "Regression quantiles", Econometrica 46, 1978, or the expected cost of a
:class:`carekit.promises.PromiseCosts`), and the setting with the lowest discounted score so far
makes the promise. Every choice uses only outcomes known when the promise is made: a nested
walk-forward, never tuned on the period being scored.

The trend factor compares the recent orders (placed within ``recent`` of now) with the window:
the ratio of their ``TREND_PROBABILITY`` quantiles (plus one day each) scales promises while
lead times run faster or slower than the window remembers; the early quantile is used because
recent orders' short leads are already known while their long ones are not.

Fitting and backtesting run the same sweep, so a fitted estimator is exactly the state a
backtest would have reached at the same moment.

Cost: each segment keeps its delivered orders as counts by lead time and its undelivered ones
as counts by start day, updated as orders arrive, are delivered and leave the window. An
estimate is recomputed only when it is asked for and its data changed since (a new order,
censored at age 0, changes nothing unless some order was delivered the same day), in time
proportional to the number of lead times and ages, never to the number of orders; so a sweep
costs O(orders x lead times) instead of growing with the square of the orders in transit.
Quantiles of shrunk distributions are found by bisection on the mixture, evaluated where it is
needed, so a setting's promise costs O(log lead times) once the estimates are current.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from itertools import accumulate, repeat
from operator import add, mul, sub, truediv
from typing import Any

from carekit.errors import CareKitError
from carekit.promises.promise import Order

__all__ = ["Engine", "Path", "Setting", "path_of", "quantile_of"]

Path = tuple[Hashable, ...]
_EPS = 1e-12
#: The quantile the trend factor compares (recent orders' short leads are known early).
TREND_PROBABILITY = 0.25
#: Bounds of the trend factor.
TREND_LIMITS = (0.5, 2.0)
#: Scored outcomes before self-tuning may leave the first setting (comparing settings
#: needs many outcomes; below it the first setting, the long-standing defaults, promises).
MIN_SCORED = 1000
#: Discount of past scores per scored outcome (a memory of about 2,000 outcomes).
DISCOUNT = 1.0 - 1.0 / 2000
#: Orders older than every delivery count as lost only while they are at most this share of
#: the window's orders (more of them is a slowdown, not lost parcels).
LOST_SHARE = 0.02
#: Bound on a segment's own calibration offset.
OFFSET_LIMIT = 0.2


def path_of(segment: Hashable | None) -> Path:
    """The segment's path from the broadest level: None -> (), "SP" -> ("SP",)."""
    if segment is None:
        return ()
    if isinstance(segment, tuple):
        return segment
    return (segment,)


def quantile_of(cdf: Sequence[float], p: float) -> int:
    """Smallest ``k`` with ``cdf[k] >= p``; the last index when the cdf never gets there."""
    k = bisect_left(cdf, p - _EPS)
    last = len(cdf) - 1
    return k if k <= last else last


def cheapest(cdf: Sequence[float], late: float, per_day: float) -> int:
    """The lead minimising ``per_day * lead + late * P(later than lead)`` (ties: the shorter)."""
    best = 0
    best_cost = math.inf
    for k, f in enumerate(cdf):
        cost = per_day * k + late * (1.0 - f)
        if cost < best_cost - 1e-12:
            best, best_cost = k, cost
    return best


class Setting:
    """One candidate setting of a self-tuning sweep, and its running state."""

    __slots__ = ("level", "loss", "offsets", "rate", "segment_rate", "shrinkage", "trend")

    def __init__(self, shrinkage: float, trend: bool, segment_rate: float, rate: float,
                 target: float) -> None:
        self.shrinkage = shrinkage
        self.trend = trend
        self.segment_rate = segment_rate
        self.rate = rate
        self.level = target
        self.offsets: dict[Path, float] = {}
        self.loss = 0.0

    def describe(self) -> dict[str, Any]:
        """The setting as keyword arguments of QuantileEstimator."""
        return {"shrinkage": self.shrinkage, "trend": self.trend,
                "segment_calibration": self.segment_rate}


class _Node:
    __slots__ = ("cdf", "cdf_now", "dirty", "events", "mix", "mix_key", "n_events",
                 "n_pending", "parent", "starts", "version")

    def __init__(self, parent: _Node | None) -> None:
        self.parent = parent
        # delivered orders in the window, by lead time (no trailing zeros)
        self.events: list[int] = []
        self.n_events = 0
        self.starts: dict[int, int] = {}  # undelivered orders in the window, by start index
        self.n_pending = 0
        self.version = 0  # bumped on every change (keys the mixed distribution)
        self.dirty = True  # the Kaplan-Meier estimate needs recomputing
        self.cdf: list[float] = [1.0]
        self.cdf_now = -1
        self.mix: list[float] = [1.0]
        self.mix_key: tuple[Any, ...] = ()

    def add_pending(self, start: int, now: int) -> None:
        starts = self.starts
        starts[start] = starts.get(start, 0) + 1
        self.n_pending += 1
        self.version += 1
        # An order censored at age 0 only changes the estimate through the number at risk
        # at lead 0, which matters only when some order was delivered at lead 0.
        if start < now or (self.events and self.events[0]):
            self.dirty = True

    def remove_pending(self, start: int) -> None:
        starts = self.starts
        left = starts[start] - 1
        if left:
            starts[start] = left
        else:
            del starts[start]
        self.n_pending -= 1
        self.version += 1
        self.dirty = True

    def add_event(self, lead: int) -> None:
        events = self.events
        if lead >= len(events):
            events.extend([0] * (lead + 1 - len(events)))
        events[lead] += 1
        self.n_events += 1
        self.version += 1
        self.dirty = True

    def remove_event(self, lead: int) -> None:
        events = self.events
        events[lead] -= 1
        # Keep no lead longer than any left in the window: the cdf's length is the
        # longest time seen, promised when the estimate never reaches the level.
        while events and not events[-1]:
            events.pop()
        self.n_events -= 1
        self.version += 1
        self.dirty = True

    def censored_by_age(self, now: int) -> list[int]:
        """Undelivered orders by age (business days since their start; started later: 0)."""
        starts = self.starts
        censored: list[int] = []
        if starts:
            oldest = min(starts)
            if oldest < now:
                censored.append(0)
                censored.extend(map(starts.get, range(now - 1, oldest - 1, -1), repeat(0)))
                censored[0] = self.n_pending - sum(censored)
            else:
                censored.append(self.n_pending)
        return censored

    def kaplan_meier(self, now: int) -> list[float]:
        if not self.dirty and now == self.cdf_now:
            return self.cdf
        events = self.events
        censored = self.censored_by_age(now)
        size = max(len(events), len(censored), 1)
        # The product-limit loop, run by C-level iterators: the number at risk at lead t is
        # the total less everything that ended (delivered or censored) before t; a lead with
        # no delivery multiplies the survival by exactly 1.0, so the product is the same.
        if len(events) < size:
            events = events + [0] * (size - len(events))
        if len(censored) < size:
            censored.extend([0] * (size - len(censored)))
        # Past the last lead anyone is at risk at, nothing changes: the tail repeats.
        total = self.n_events + self.n_pending
        ended = list(accumulate(map(add, events, censored), initial=0))
        live = bisect_left(ended, total)
        at_risk = map(sub, repeat(total), ended[:live])
        factors = map(sub, repeat(1.0), map(truediv, events[:live], at_risk))
        cdf = list(map(sub, repeat(1.0), accumulate(factors, mul)))
        if live < size:
            cdf.extend([cdf[-1] if cdf else 0.0] * (size - live))
        self.cdf = cdf
        self.cdf_now = now
        self.dirty = False
        return cdf

    def early_quantile(self, now: int, p: float) -> int | None:
        """The Kaplan–Meier ``p`` quantile, computed only as far as it needs (None: not reached)."""
        events = self.events
        censored = self.censored_by_age(now)
        at_risk = self.n_events + self.n_pending
        survival = 1.0
        target = 1.0 - p + _EPS
        for t in range(max(len(events), len(censored))):
            if at_risk <= 0:
                return None
            d = events[t] if t < len(events) else 0
            if d:
                survival *= 1.0 - d / at_risk
                if survival <= target:
                    return t
            at_risk -= d + (censored[t] if t < len(censored) else 0)
        return None


def _mix(own: list[float], n: int, parent: list[float], k: float) -> list[float]:
    size = max(len(own), len(parent))
    w = n / (n + k)
    v = 1.0 - w
    lo, lp = len(own) - 1, len(parent) - 1
    return [w * own[t if t < lo else lo] + v * parent[t if t < lp else lp] for t in range(size)]


# Order states (delivered or not is in `lead`, lost or not in `lost`)
_ACTIVE, _EXPIRED = 0, 1


class Engine:
    """The sweep's state; see the module docstring."""

    def __init__(
        self,
        calendar: Any,
        *,
        window: dt.timedelta | None,
        shrinkage: float,
        target: float,
        rate: float,
        min_samples: int,
        lost_factor: float | None = None,
        lost_age: dt.timedelta | None = None,
        trend: bool = False,
        recent: dt.timedelta = dt.timedelta(weeks=3),
        segment_rate: float = 0.0,
        settings: Sequence[tuple[float, bool, float]] | None = None,
        costs: tuple[float, float] | None = None,
    ) -> None:
        self.calendar = calendar
        self.window = window
        self.target = target
        self.rate = rate
        self.ceiling = 1.0 - (1.0 - target) / 5.0
        self.floor = 0.5 * target
        self.min_samples = min_samples
        self.lost_factor = lost_factor
        self.lost_age = lost_age
        self.time: dt.datetime | None = None  # the moment advanced to last
        self.recent = recent if window is not None else None
        self.costs = costs
        if settings is None:
            settings = [(shrinkage, trend, segment_rate)]
        self.settings = [Setting(k, tr, sr, rate, target) for k, tr, sr in settings]
        self.best = 0
        self.n_scored = 0
        self.nodes: dict[Path, _Node] = {(): _Node(None)}
        self.root = self.nodes[()]
        self.recent_node = _Node(None)
        self.ref: dt.date | None = None
        self.now: int = 0
        self.in_window: deque[int] = deque()
        self.in_recent: deque[int] = deque()
        self.queue_pending: deque[int] = deque()
        self.deliveries: list[tuple[dt.datetime, int]] = []
        self.deadlines: list[tuple[int, int, int]] = []
        # per order: when, start index, lead (None until delivered), path, promises, state
        self.placed: list[dt.datetime] = []
        self.start: list[int] = []
        self.lead: list[int | None] = []
        self.final_lead: list[int | None] = []
        self.paths: list[Path] = []
        self.promised: list[int | None] = []
        self.expected: list[int | None] = []
        self.chosen: list[int] = []
        self.candidates: list[tuple[int, ...] | None] = []
        self.resolved: list[int] = []  # bit c set: setting c's promise is resolved
        self.missed: list[int] = []  # bit c set: setting c counted a miss for it
        self.state: list[int] = []
        self.lost: list[bool] = []  # undelivered and counted as lost (out of the estimate)
        self.in_recent_window: list[bool] = []
        self.on_resolve: Callable[[int, bool], None] | None = None
        self._index_cache: dict[int, int] = {}
        self._trend_key: tuple[int, int, int] | None = None
        self._lost_key: tuple[int, int] | None = None
        self.lost_in_window = 0
        self._trend = 1.0

    # -- settings -----------------------------------------------------------------------

    @property
    def level(self) -> float:
        """The calibrated level (all orders) of the setting making promises."""
        return self.settings[self.best].level

    @property
    def shrinkage(self) -> float:
        return self.settings[self.best].shrinkage

    # -- business-day indices -----------------------------------------------------------

    def index(self, day: dt.date | dt.datetime) -> int:
        assert self.ref is not None
        if day.__class__ is dt.date:
            key = day.toordinal()
            found = self._index_cache.get(key)
            if found is None:
                found = self._index_cache[key] = self.calendar.business_days_between(
                    self.ref, day)
            return found
        result: int = self.calendar.business_days_between(self.ref, day)
        return result

    def node(self, path: Path) -> _Node:
        found = self.nodes.get(path)
        if found is None:
            found = _Node(self.node(path[:-1]))
            self.nodes[path] = found
        return found

    def chain(self, path: Path) -> list[_Node]:
        nodes = [self.root]
        for depth in range(1, len(path) + 1):
            nodes.append(self.node(path[:depth]))
        return nodes

    # -- distributions -----------------------------------------------------------------

    def known(self, path: Path) -> Path:
        """``path``, or its nearest ancestor the engine has seen."""
        while path and path not in self.nodes:
            path = path[:-1]
        return path

    def distribution(self, path: Path, shrinkage: float | None = None) -> list[float]:
        """The shrunk lead-time cdf of ``path`` (the nearest known ancestor's if unseen)."""
        k = self.shrinkage if shrinkage is None else shrinkage
        return self._mixed(self.nodes[self.known(path)], k)

    def _mixed(self, node: _Node, k: float) -> list[float]:
        chain = []
        n: _Node | None = node
        while n is not None:
            chain.append(n)
            n = n.parent
        key = (self.now, k, *(c.version for c in chain))
        if key == node.mix_key:
            return node.mix
        if node.parent is None:
            mix = node.kaplan_meier(self.now)
        else:
            parent = self._mixed(node.parent, k)
            size = node.n_events + node.n_pending
            if size == 0:
                mix = parent
            elif k == 0:
                mix = node.kaplan_meier(self.now)
            else:
                mix = _mix(node.kaplan_meier(self.now), size, parent, k)
        node.mix = mix
        node.mix_key = key
        return mix

    def _terms(self, path: Path, k: float) -> list[tuple[list[float], int, float, float]]:
        """The mixture of ``path`` as (cdf, last index, weight, parent weight), root first.

        ``F(t) = w * own(t) + v * F_parent(t)`` evaluated in that order gives exactly the
        numbers :meth:`distribution` materialises.
        """
        now = self.now
        nodes = self.nodes
        terms: list[tuple[list[float], int, float, float]] = []
        for depth in range(len(path) + 1):
            node = nodes[path[:depth]]
            size = node.n_events + node.n_pending
            if depth and size == 0:
                continue
            cdf = node.kaplan_meier(now)
            if not depth or k == 0:
                terms = [(cdf, len(cdf) - 1, 1.0, 0.0)]
                continue
            w = size / (size + k)
            terms.append((cdf, len(cdf) - 1, w, 1.0 - w))
        return terms

    def _quantile(self, terms: list[tuple[list[float], int, float, float]], p: float) -> int:
        """:func:`quantile_of` the mixture ``terms``, by bisection on its values."""
        if len(terms) == 1:
            return quantile_of(terms[0][0], p)
        size = max(t[1] for t in terms) + 1
        goal = p - _EPS
        lo, hi = 0, size
        while lo < hi:
            mid = (lo + hi) // 2
            cdf, last, _, _ = terms[0]
            value = cdf[mid if mid < last else last]
            for cdf, last, w, v in terms[1:]:
                value = w * cdf[mid if mid < last else last] + v * value
            if value < goal:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < size else size - 1

    def level_for(self, setting: Setting, path: Path) -> float:
        """The calibrated level ``setting`` promises ``path`` at."""
        level = setting.level
        if setting.offsets:
            offsets = setting.offsets
            for depth in range(1, len(path) + 1):
                level += offsets.get(path[:depth], 0.0)
            level = min(max(level, self.floor), self.ceiling)
        return level

    def trend_factor(self) -> float:
        """Recent lead times against the window's: the factor promises are scaled by."""
        recent = self.recent_node
        key = (self.now, recent.version, self.root.version)
        if key == self._trend_key:
            return self._trend
        factor = 1.0
        if recent.n_events >= self.min_samples:
            now_q = recent.early_quantile(self.now, TREND_PROBABILITY)
            if now_q is not None:
                then_q = quantile_of(self.root.kaplan_meier(self.now), TREND_PROBABILITY)
                lo, hi = TREND_LIMITS
                factor = min(max((now_q + 1) / (then_q + 1), lo), hi)
        self._trend_key = key
        self._trend = factor
        return factor

    def leads(self, setting: Setting, path: Path, level: float | None = None,
              ) -> tuple[int, int]:
        """``setting``'s expected (median) and promised leads for ``path`` now."""
        path = self.known(path)
        terms = self._terms(path, setting.shrinkage)
        if self.costs is not None and level is None:
            late, per_day = self.costs
            q = cheapest(self._materialise(terms), late, per_day)
        else:
            q = self._quantile(terms, self.level_for(setting, path) if level is None else level)
        e = self._quantile(terms, 0.5)
        if setting.trend and self.recent is not None:
            g = self.trend_factor()
            if g != 1.0:
                q = math.ceil(q * g - 1e-9)
                e = math.ceil(e * g - 1e-9)
        return min(e, q), q

    def _materialise(self, terms: list[tuple[list[float], int, float, float]]) -> list[float]:
        size = max(t[1] for t in terms) + 1
        out = []
        for t in range(size):
            cdf, last, _, _ = terms[0]
            value = cdf[t if t < last else last]
            for cdf, last, w, v in terms[1:]:
                value = w * cdf[t if t < last else last] + v * value
            out.append(value)
        return out

    def ready(self) -> bool:
        return self.root.n_events >= self.min_samples

    def decide(self, path: Path) -> tuple[int, int, int, tuple[int, ...] | None]:
        """(expected, promised, setting used, every setting's promise or None) for ``path``."""
        settings = self.settings
        if len(settings) == 1:
            e, q = self.leads(settings[0], path)
            return e, q, 0, None
        qs = []
        best = self.best
        e = q = 0
        for c, setting in enumerate(settings):
            ec, qc = self.leads(setting, path)
            qs.append(qc)
            if c == best:
                e, q = ec, qc
        return e, q, best, tuple(qs)

    # -- the sweep ----------------------------------------------------------------------

    def advance(self, t: dt.datetime, window_end: dt.datetime | None = None) -> None:
        """Take in everything known at ``t``: deliveries, window expiry, passed deadlines.

        The window is counted back from ``window_end`` (default ``t``).
        """
        deliveries = self.deliveries
        while deliveries and deliveries[0][0] <= t:
            _, i = heapq.heappop(deliveries)
            self._deliver(i)
        end = t if window_end is None else window_end
        if self.window is not None:
            self._expire_before(end, self.window, self.in_window, self._expire)
        if self.recent is not None:
            self._expire_before(end, self.recent, self.in_recent, self._leave_recent)
        now = self.index(t)
        if now != self.now:
            self.now = now
        self.time = t
        self._find_lost()
        deadlines = self.deadlines
        while deadlines and deadlines[0][0] < now:
            _, i, c = heapq.heappop(deadlines)
            if not self.resolved[i] >> c & 1 and not self.lost[i]:
                self._resolve(i, c, missed=True)

    def _expire_before(self, end: dt.datetime, span: dt.timedelta, queue: deque[int],
                       expire: Callable[[int], bool]) -> None:
        try:
            limit = end - span
        except OverflowError:  # a window reaching back before the year 1: all inside
            return
        placed = self.placed
        while queue and placed[queue[0]] < limit:
            if not expire(queue[0]):
                return
            queue.popleft()

    def _find_lost(self) -> None:
        if self.lost_factor is None and self.lost_age is None:
            return
        queue = self.queue_pending
        if not queue or not self.ready():
            return
        key = (self.now, len(self.root.events))
        if key == self._lost_key:
            return
        self._lost_key = key
        lead, state, lost = self.lead, self.state, self.lost
        while queue and (lead[queue[0]] is not None or state[queue[0]] != _ACTIVE
                         or lost[queue[0]]):
            queue.popleft()
        # The orders old enough are the queue's head (it is in order of placement).
        old = []
        for i in queue:
            if lead[i] is not None or state[i] != _ACTIVE or lost[i]:
                continue
            if not self._too_old(i):
                break
            old.append(i)
        if not old:
            return
        if self.lost_age is None:
            # Lost parcels are rare; many orders older than every delivery is a slowdown,
            # and those orders are the very ones that say so: keep them censored.
            root = self.root
            total = root.n_events + root.n_pending + self.lost_in_window
            if len(old) + self.lost_in_window > LOST_SHARE * total:
                return
        for i in old:
            self._lose(i)

    def _too_old(self, i: int) -> bool:
        factor = self.lost_factor
        if factor is not None and self.root.events and (
            self.now - self.start[i] > factor * (len(self.root.events) - 1)
        ):
            return True
        age = self.lost_age
        if age is not None and self.time is not None:
            try:
                return self.placed[i] < self.time - age
            except OverflowError:
                return False
        return False

    def place(
        self,
        ordered_at: dt.datetime,
        delivered_at: dt.datetime | None,
        segment: Hashable | None,
        promised: int | None,
        lead: int | None,
        *,
        expected: int | None = None,
        chosen: int = 0,
        candidates: tuple[int, ...] | None = None,
    ) -> int:
        """Add an order placed now; ``promised`` is the lead promised to it (None: none)."""
        i = len(self.start)
        start = self.index(self.calendar.start_day(ordered_at))
        self.placed.append(ordered_at)
        self.start.append(start)
        self.lead.append(None)
        self.final_lead.append(lead)
        path = path_of(segment)
        self.paths.append(path)
        self.promised.append(promised)
        self.expected.append(expected)
        self.chosen.append(chosen)
        self.candidates.append(candidates)
        self.missed.append(0)
        self.state.append(_ACTIVE)
        self.lost.append(False)
        now = self.now
        for node in self.chain(path):
            node.add_pending(start, now)
        self.in_window.append(i)
        self.queue_pending.append(i)
        if self.recent is not None:
            self.recent_node.add_pending(start, now)
            self.in_recent.append(i)
            self.in_recent_window.append(True)
        else:
            self.in_recent_window.append(False)
        if delivered_at is not None:
            heapq.heappush(self.deliveries, (delivered_at, i))
        if promised is None:
            self.resolved.append(-1)  # every bit set: nothing to resolve
        elif candidates is None:
            self.resolved.append(0)
            heapq.heappush(self.deadlines, (start + promised, i, chosen))
        else:
            self.resolved.append(0)
            for c, q in enumerate(candidates):
                heapq.heappush(self.deadlines, (start + q, i, c))
        return i

    def lead_of(self, order: Order) -> int | None:
        """Business days from the order's start day to its delivery (None if undelivered)."""
        if order.delivered_at is None:
            return None
        cal = self.calendar
        days: int = cal.business_days_between(
            order.ordered_at, cal.roll_forward(order.delivered_at)
        )
        return days if days > 0 else 0

    def _deliver(self, i: int) -> None:
        lead = self.final_lead[i]
        assert lead is not None
        self.lead[i] = lead
        was_lost = self.lost[i]
        if was_lost:  # it turned up after all: a (long) delivery like any other
            self.lost[i] = False
            if self.state[i] == _ACTIVE:
                self.lost_in_window -= 1
        start = self.start[i]
        if self.state[i] == _ACTIVE:
            for node in self.chain(self.paths[i]):
                if not was_lost:
                    node.remove_pending(start)
                node.add_event(lead)
        if self.in_recent_window[i]:
            recent = self.recent_node
            if not was_lost:
                recent.remove_pending(start)
            recent.add_event(lead)
        resolved = self.resolved[i]
        if resolved != -1:
            promises = self.candidates[i]
            if promises is None:
                c = self.chosen[i]
                if not resolved >> c & 1:
                    promised = self.promised[i]
                    assert promised is not None
                    self._resolve(i, c, missed=lead > promised)
            else:
                for c, q in enumerate(promises):
                    if not resolved >> c & 1:
                        self._resolve(i, c, missed=lead > q)
                self._score(i, lead, promises)

    def _expire(self, i: int) -> bool:
        """Order ``i`` leaves the window (False: kept, the window holds too few deliveries)."""
        lead = self.lead[i]
        lost = self.lost[i]
        if lead is not None and self.root.n_events <= self.min_samples:
            # Too little left to learn from: the window reaches back until min_samples.
            return False
        self.state[i] = _EXPIRED
        if lost:
            self.lost_in_window -= 1
        else:
            for node in self.chain(self.paths[i]):
                if lead is None:
                    node.remove_pending(self.start[i])
                else:
                    node.remove_event(lead)
        return True

    def _leave_recent(self, i: int) -> bool:
        self.in_recent_window[i] = False
        if not self.lost[i]:
            lead = self.lead[i]
            if lead is None:
                self.recent_node.remove_pending(self.start[i])
            else:
                self.recent_node.remove_event(lead)
        return True

    def is_lost(self, i: int) -> bool:
        """Whether order ``i``, undelivered, counts as lost now."""
        return self.lead[i] is None and self.lost[i]

    def _lose(self, i: int) -> None:
        self.lost[i] = True
        self.lost_in_window += 1
        start = self.start[i]
        for node in self.chain(self.paths[i]):
            node.remove_pending(start)
        if self.in_recent_window[i]:
            self.recent_node.remove_pending(start)
        # A lost parcel says nothing about how long deliveries take: take back its misses.
        missed = self.missed[i]
        if missed:
            for c in range(len(self.settings)):
                if missed >> c & 1:
                    self._unresolve(i, c)

    def _step(self, setting: Setting, path: Path, error: float) -> None:
        if setting.rate:
            level = setting.level + setting.rate * error
            # Bounded so a long run of misses cannot wind the level up past where it still
            # changes promises (integrator wind-up would over-pad long after a disruption).
            setting.level = min(max(level, self.floor), self.ceiling)
        if setting.segment_rate:
            offsets = setting.offsets
            step = setting.segment_rate * error
            for depth in range(1, len(path) + 1):
                key = path[:depth]
                value = offsets.get(key, 0.0) + step
                offsets[key] = min(max(value, -OFFSET_LIMIT), OFFSET_LIMIT)

    def _resolve(self, i: int, c: int, *, missed: bool) -> None:
        self.resolved[i] |= 1 << c
        if missed:
            self.missed[i] |= 1 << c
        self._step(self.settings[c], self.paths[i],
                   (1.0 if missed else 0.0) - (1.0 - self.target))
        if self.on_resolve is not None and c == self.chosen[i]:
            self.on_resolve(i, missed)

    def _unresolve(self, i: int, c: int) -> None:
        self.resolved[i] &= ~(1 << c)
        self.missed[i] &= ~(1 << c)
        self._step(self.settings[c], self.paths[i], -self.target)

    def _score(self, i: int, lead: int, promises: tuple[int, ...]) -> None:
        """Score every setting's promise to order ``i``, now that its lead is known."""
        tau = self.target
        costs = self.costs
        for setting, q in zip(self.settings, promises, strict=True):
            if costs is not None:
                late, per_day = costs
                loss = per_day * q + (late if lead > q else 0.0)
            elif lead > q:
                loss = tau * (lead - q)
            else:
                loss = (1.0 - tau) * (q - lead)
            setting.loss = setting.loss * DISCOUNT + loss
        self.n_scored += 1
        if self.n_scored >= MIN_SCORED:
            losses = [s.loss for s in self.settings]
            self.best = losses.index(min(losses))

    def run(
        self,
        orders: Sequence[Order],
        now: dt.datetime,
        promise: Callable[[Engine, Order], int | None] | None = None,
        *,
        window_end: dt.datetime | None = None,
    ) -> None:
        """Place ``orders`` (sorted by ``ordered_at``, none after ``now``), advance to ``now``.

        ``promise`` is asked, at each placement, for the lead time promised to that order
        (None when no promise is made); when it returns a tuple ``(expected, promised,
        setting, every setting's promise)`` those are recorded too. Deliveries after ``now``
        stay unknown; the window at the end counts back from ``window_end`` (default ``now``).
        """
        if self.ref is None:
            first = orders[0].ordered_at if orders else now
            start = self.calendar.start_day(first)
            if start == dt.date.min:  # the day before it, the engine's day 0, does not exist
                msg = (
                    f"orders must count from a day after {start} (got one placed "
                    f"{first.isoformat()})"
                )
                raise CareKitError(msg)
            self.ref = start - dt.timedelta(days=1)
            self.now = self.index(first)
        for order in orders:
            self.advance(order.ordered_at)
            answer = promise(self, order) if promise is not None else None
            delivered = order.delivered_at
            lead = self.lead_of(order)
            if delivered is not None and delivered > now:
                delivered = None
            if answer is None or isinstance(answer, int):
                self.place(order.ordered_at, delivered, order.segment, answer, lead)
            else:
                e, q, c, qs = answer
                self.place(order.ordered_at, delivered, order.segment, q, lead,
                           expected=e, chosen=c, candidates=qs)
        self.advance(now, window_end)
