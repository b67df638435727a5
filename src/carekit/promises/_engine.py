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

While the sweep replays a busy history (more than ``BUSY_DAY`` orders the business day
before), the estimates promises are made from are refreshed once a business day instead of
at every order, as a shop refitting nightly would: a segment's shrunk distribution (for each
shrinkage), the cheapest lead of the cost rule and the trend factor are those of the first
promise of the day that asked for them, data from before that promise, so the replay stays
walk-forward. A quieter history is replayed exactly, every promise from the data as they are
when it is made. The calibration level and offsets move with every outcome either way. When
the replay ends, every estimate is again the one of the data as they are.

Cost: each segment keeps its delivered orders as counts by lead time and its undelivered ones
as counts by start day, updated as orders arrive, are delivered and leave the window. An
estimate is recomputed only when it is asked for and its data changed since (a new order,
censored at age 0, changes nothing unless some order was delivered the same day), in time
proportional to the number of lead times and ages, never to the number of orders; so a sweep
costs O(orders x lead times) instead of growing with the square of the orders in transit.
A shrunk distribution is materialised only as far as its quantile needs (about as far as the
last answer for that segment) and kept until an estimate in its chain changes: the settings
sharing a shrinkage, and the levels asked for, share it. Within a day the estimates change
with nearly every order (a delivery, an order leaving the window); refreshed once a day during
the replay of a busy history, they cost one partial estimate per segment and shrinkage a
day, and a promise the look-up of its quantiles.
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
#: Orders a day whose promises every setting makes, to be scored (at higher volumes a sample).
SCORED_PER_DAY = 64
#: While replaying, a business day after one with more orders than this is busy: its estimates
#: are refreshed once, at its first promise, not at every order.
BUSY_DAY = 200
#: Scored outcomes, since the setting in use took over, before another may replace it.
MIN_SCORED = 100
#: How many standard errors better another setting's scores must be than those of the setting
#: in use before it takes over (a paired comparison on the same orders): following whichever
#: setting was luckiest lately would chase noise.
SWITCH_Z = 3.0
#: Orders older than every delivery count as lost only while they are at most this share of
#: the window's orders (more of them is a slowdown, not lost parcels).
LOST_SHARE = 0.04
#: Bound on a segment's own calibration offset.
OFFSET_LIMIT = 0.1


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
    """One candidate setting of a self-tuning sweep, and its running score.

    ``gain`` and ``gain2`` sum the setting's loss less the loss of the setting in use, and
    its square, over the orders scored since that one took over.
    """

    __slots__ = ("gain", "gain2", "loss", "shrinkage", "trend")

    def __init__(self, shrinkage: float, trend: bool) -> None:
        self.shrinkage = shrinkage
        self.trend = trend
        self.loss = 0.0
        self.gain = 0.0
        self.gain2 = 0.0

    def describe(self) -> dict[str, Any]:
        """The setting as keyword arguments of QuantileEstimator."""
        return {"shrinkage": self.shrinkage, "trend": self.trend}


class _Node:
    __slots__ = ("cdf", "cdf_now", "dirty", "events", "mix", "mix_key", "n_events",
                 "n_pending", "oldest", "parent", "pend", "pre", "pre_dirty", "pre_now", "version")

    def __init__(self, parent: _Node | None) -> None:
        self.parent = parent
        # delivered orders in the window, by lead time (no trailing zeros)
        self.events: list[int] = []
        self.n_events = 0
        self.pend: list[int] = []  # undelivered orders in the window, by start index
        self.oldest = 0  # no undelivered order starts before this index
        self.n_pending = 0
        self.version = 0  # bumped on every change (keys the mixed distribution)
        self.dirty = True  # the Kaplan-Meier estimate needs recomputing
        self.cdf: list[float] = [1.0]
        self.cdf_now = -1
        self.mix: list[float] = [1.0]
        self.mix_key: tuple[Any, ...] = ()
        self.pre: list[float] = []
        self.pre_now = -1
        self.pre_dirty = True  # the prefix estimate needs recomputing

    def add_pending(self, start: int, now: int) -> None:
        pend = self.pend
        if start >= len(pend):
            pend.extend([0] * (start + 64 - len(pend)))
        pend[start] += 1
        if start < self.oldest or not self.n_pending:
            self.oldest = start
        self.n_pending += 1
        self.version += 1
        # An order censored at age 0 only changes the estimate through the number at risk
        # at lead 0, which matters only when some order was delivered at lead 0.
        if start < now or (self.events and self.events[0]):
            self.dirty = self.pre_dirty = True

    def remove_pending(self, start: int) -> None:
        self.pend[start] -= 1
        self.n_pending -= 1
        self.version += 1
        self.dirty = self.pre_dirty = True

    def add_event(self, lead: int) -> None:
        events = self.events
        if lead >= len(events):
            events.extend([0] * (lead + 1 - len(events)))
        events[lead] += 1
        self.n_events += 1
        self.version += 1
        self.dirty = self.pre_dirty = True

    def remove_event(self, lead: int) -> None:
        events = self.events
        events[lead] -= 1
        # Keep no lead longer than any left in the window: the cdf's length is the
        # longest time seen, promised when the estimate never reaches the level.
        while events and not events[-1]:
            events.pop()
        self.n_events -= 1
        self.version += 1
        self.dirty = self.pre_dirty = True

    def censored_by_age(self, now: int) -> list[int]:
        """Undelivered orders by age (business days since their start; started later: 0)."""
        n = self.n_pending
        if not n:
            return []
        pend = self.pend
        oldest = self.oldest
        while not pend[oldest]:
            oldest += 1
        self.oldest = oldest
        if oldest >= now:
            return [n]
        if len(pend) < now:
            pend.extend([0] * (now + 64 - len(pend)))
        older = pend[oldest:now]  # by start, oldest first: ages now - oldest .. 1
        older.reverse()
        return [n - sum(older), *older]

    def full_size(self, now: int) -> int:
        """The length of the Kaplan–Meier list at ``now`` (its longest lead or age, plus 1)."""
        size = len(self.events)
        if self.n_pending:
            pend = self.pend
            oldest = self.oldest
            while not pend[oldest]:
                oldest += 1
            self.oldest = oldest
            ages = now - oldest + 1 if oldest < now else 1
            size = max(size, ages)
        return size if size > 1 else 1

    def prefix(self, now: int, length: int, size: int | None = None) -> list[float]:
        """The Kaplan–Meier cdf at ``now``, computed only as far as ``length`` leads.

        Its first values are exactly :meth:`kaplan_meier`'s (the same operations in the same
        order); the promise needs no more than the leads up to its quantile. ``size`` is
        :meth:`full_size` at ``now`` when the caller just asked it.
        """
        if not self.dirty and now == self.cdf_now:
            return self.cdf
        if not self.pre_dirty and self.pre_now == now and len(self.pre) >= length:
            return self.pre
        if length >= (self.full_size(now) if size is None else size):
            return self.kaplan_meier(now)
        cdf = self._product_limit(now, length)
        self.pre = cdf
        self.pre_now = now
        self.pre_dirty = False
        return cdf

    def kaplan_meier(self, now: int) -> list[float]:
        if not self.dirty and now == self.cdf_now:
            return self.cdf
        cdf = self._product_limit(now, self.full_size(now))
        self.cdf = cdf
        self.cdf_now = now
        self.dirty = False
        return cdf

    def _product_limit(self, now: int, length: int) -> list[float]:
        """The first ``length`` values of the Kaplan–Meier cdf at ``now`` (all of them when
        ``length`` is :meth:`full_size`), whatever ``length``, the same numbers.

        The product-limit loop, run by C-level iterators: the number at risk at lead t is the
        total less everything that ended (delivered, or censored at its age) before t; a lead
        with no delivery multiplies the survival by exactly 1.0, so the product is the same.
        Past the last lead anyone is at risk at, nothing changes: the tail repeats.
        """
        events = self.events[:length]
        if len(events) < length:
            events.extend(repeat(0, length - len(events)))
        n = self.n_pending
        total = self.n_events + n
        if n:
            pend = self.pend
            oldest = self.oldest  # kept current by full_size
            if oldest < now:
                if len(pend) < now:
                    pend.extend([0] * (now + 64 - len(pend)))
                censored = [n - sum(pend[oldest:now])]  # age 0: started today or later
                low = now - length  # ages 1 .. length - 1 are the starts now - 1 .. low + 1
                if low >= oldest:
                    censored += pend[now - 1:low:-1]
                elif oldest:
                    censored += pend[now - 1:oldest - 1:-1]
                else:
                    censored += pend[now - 1::-1]
            else:
                censored = [n]
            if len(censored) < length:
                censored.extend(repeat(0, length - len(censored)))
            at_risk = list(accumulate(map(add, events, censored), sub, initial=total))
        else:
            at_risk = list(accumulate(events, sub, initial=total))
        try:
            live = at_risk.index(0)
        except ValueError:
            live = length
        if live < length:
            events = events[:live]
        cdf = list(map(sub, repeat(1.0), accumulate(
            map(sub, repeat(1.0), map(truediv, events, at_risk)), mul)))
        if live < length:
            cdf.extend(repeat(cdf[-1] if cdf else 0.0, length - live))
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


def _value(terms: list[tuple[list[float], int, float, float]], t: int) -> float:
    """The mixture of ``terms`` (see Engine._weights) at lead ``t``."""
    cdf, last, _, _ = terms[0]
    value = cdf[t if t < last else last]
    for cdf, last, w, v in terms[1:]:
        value = w * cdf[t if t < last else last] + v * value
    return value


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
        settings: Sequence[tuple[float, bool]] | None = None,
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
            settings = [(shrinkage, trend)]
        self.settings = [Setting(k, tr) for k, tr in settings]
        # the calibration of the promises made: a level, and each segment's offset to it
        self.level = target
        self.segment_rate = segment_rate
        self.offsets: dict[Path, float] = {}
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
        self.deadlines: list[tuple[int, int]] = []
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
        self.resolved: list[bool] = []
        self.missed: list[bool] = []  # counted as a miss in the calibration
        self.state: list[int] = []
        self.lost: list[bool] = []  # undelivered and counted as lost (out of the estimate)
        self.in_recent_window: list[bool] = []
        self.on_resolve: Callable[[int, bool], None] | None = None
        self._index_cache: dict[int, int] = {}
        self._start_cache: dict[tuple[int, bool], int] = {}
        self._rolled_cache: dict[int, int] = {}
        self._chains: dict[Path, list[_Node]] = {}
        # (path, shrinkage) -> (state it was computed in, mixture, its full size, reach)
        self._mixes: dict[tuple[Path, float], tuple[tuple[int, ...], list[float], int, int]] = {}
        self._trend_key: tuple[int, ...] | None = None
        # while replaying a busy day: (day, -1), the stamp its estimates are kept under
        # (None: refreshed at every order; an exact stamp never holds a negative number)
        self._slot: tuple[int, int] | None = None
        self._slot_day: int | None = None
        self._slot_count = 0
        self._busy = False
        # (path, shrinkage) -> (slot, the cheapest lead then) while replaying a busy day
        self._cheap: dict[tuple[Path, float], tuple[tuple[int, int], int]] = {}
        self._lost_key: tuple[int, int] | None = None
        self._sample_day: int | None = None
        self._placed_today = 0
        self._stride = 1
        self.lost_in_window = 0
        self._trend = 1.0

    # -- settings -----------------------------------------------------------------------

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
        found = self._chains.get(path)
        if found is None:
            found = [self.root]
            for depth in range(1, len(path) + 1):
                found.append(self.node(path[:depth]))
            self._chains[path] = found
        return found

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

    def _weights(self, path: Path, k: float) -> list[tuple[_Node, float, float]]:
        """The mixture of ``path`` as (node, weight, parent weight), root first.

        ``F(t) = w * own(t) + v * F_parent(t)`` evaluated in that order gives exactly the
        numbers :meth:`distribution` materialises.
        """
        nodes = self.nodes
        terms: list[tuple[_Node, float, float]] = []
        for depth in range(len(path) + 1):
            node = nodes[path[:depth]]
            size = node.n_events + node.n_pending
            if depth and size == 0:
                continue
            if not depth or k == 0:
                terms = [(node, 1.0, 0.0)]
                continue
            w = size / (size + k)
            terms.append((node, w, 1.0 - w))
        return terms

    def _terms(self, path: Path, k: float) -> list[tuple[list[float], int, float, float]]:
        """The mixture's terms as (full cdf, last index, weight, parent weight)."""
        now = self.now
        out = []
        for node, w, v in self._weights(path, k):
            cdf = node.kaplan_meier(now)
            out.append((cdf, len(cdf) - 1, w, v))
        return out

    def _quantiles(self, path: Path, k: float, ps: Sequence[float]) -> list[int]:
        """:func:`quantile_of` the mixture of ``path`` at each of ``ps``.

        The mixture is materialised only as far as the highest quantile needs (its values
        are exactly :func:`_value`'s) and kept until an estimate in the chain changes (while
        replaying: until the day ends), so the settings sharing a shrinkage, and the levels
        asked for, share one computation. A mixture is non-decreasing, so the smallest lead
        reaching a level does not depend on how far it was materialised.
        """
        now = self.now
        chain = self._chains.get(path) or self.chain(path)
        top = (ps[0] if len(ps) == 1 else max(ps)) - _EPS
        slot = self._slot
        if slot is not None:
            # A busy day: the estimate as it stood at the first promise of the day that asked
            # for it, materialised as far as any level promised at (none is above the
            # ceiling).
            stamp: tuple[int, ...] = slot
            top = max(top, self.ceiling - _EPS)
        elif len(chain) == 2:
            stamp = (now, chain[0].version, chain[1].version)
        else:
            stamp = (now, *[node.version for node in chain])
        key = (path, k)
        found = self._mixes.get(key)
        if found is not None and found[0] == stamp:
            _, mix, size, _ = found
            if mix[-1] < top and len(mix) < size:
                mix = self._extend_mix(chain, key, k, stamp, top, len(mix) * 4)
        else:
            reach = 48 if found is None else found[3] + 2
            mix = self._extend_mix(chain, key, k, stamp, top, reach)
            size = self._mixes[key][2]
        out = []
        for p in ps:
            lo = bisect_left(mix, p - _EPS)
            out.append(lo if lo < size else size - 1)
        return out

    def _extend_mix(self, chain: list[_Node], key: tuple[Path, float], k: float,
                    stamp: tuple[int, ...], top: float, length: int) -> list[float]:
        """The mixture of the ``chain`` of nodes materialised at least until it reaches
        ``top`` (or ends); its terms are those of :meth:`_weights`."""
        now = self.now
        terms: list[tuple[_Node, float, float, int]] = []
        size = 1
        for depth, node in enumerate(chain):
            n = node.n_events + node.n_pending
            if depth and not n:
                continue
            own_size = node.full_size(now)
            if not depth or k == 0:
                terms = [(node, 1.0, 0.0, own_size)]
                size = own_size
                continue
            w = n / (n + k)
            terms.append((node, w, 1.0 - w, own_size))
            size = max(size, own_size)
        while True:
            limit = size if length >= size else length
            mix: list[float] = []
            for node, w, v, own_size in terms:
                cdf = node.prefix(now, limit, own_size)
                if limit <= own_size:
                    own = cdf if len(cdf) == limit else cdf[:limit]
                else:  # past its own longest lead, an estimate stays at its last value
                    own = cdf[:own_size]
                    own.extend(repeat(cdf[own_size - 1], limit - own_size))
                if mix:
                    # w * own(t) + v * mix(t), the operations of _value in its order
                    mix = list(map(add, map(mul, repeat(w), own), map(mul, repeat(v), mix)))
                else:
                    mix = own
            if limit == size or mix[-1] >= top:
                break
            length = max(length * 4, 48)
        reach = bisect_left(mix, top)
        self._mixes[key] = (stamp, mix, size, reach if reach < limit else limit - 1)
        return mix

    def level_for(self, path: Path) -> float:
        """The calibrated level promises for ``path`` are made at."""
        level = self.level
        offsets = self.offsets
        if offsets:
            for depth in range(1, len(path) + 1):
                level += offsets.get(path[:depth], 0.0)
            level = min(max(level, self.floor), self.ceiling)
        return level

    def trend_factor(self) -> float:
        """Recent lead times against the window's: the factor promises are scaled by."""
        recent = self.recent_node
        slot = self._slot
        key: tuple[int, ...] = (slot if slot is not None
                                else (self.now, recent.version, self.root.version))
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
        if self.costs is not None and level is None:
            q = self._cheapest(path, setting.shrinkage)
            (e,) = self._quantiles(path, setting.shrinkage, (0.5,))
        else:
            p = self.level_for(path) if level is None else level
            q, e = self._quantiles(path, setting.shrinkage, (p, 0.5))
        if setting.trend and self.recent is not None:
            g = self.trend_factor()
            if g != 1.0:
                q = math.ceil(q * g - 1e-9)
                e = math.ceil(e * g - 1e-9)
        return min(e, q), q

    def promised_lead(self, setting: Setting, path: Path, level: float | None) -> int:
        """``setting``'s promised lead for ``path`` now (what :meth:`leads` gives second)."""
        path = self.known(path)
        if self.costs is not None and level is None:
            q = self._cheapest(path, setting.shrinkage)
        else:
            p = self.level_for(path) if level is None else level
            (q,) = self._quantiles(path, setting.shrinkage, (p,))
        if setting.trend and self.recent is not None:
            g = self.trend_factor()
            if g != 1.0:
                q = math.ceil(q * g - 1e-9)
        return q

    def _cheapest(self, path: Path, k: float) -> int:
        assert self.costs is not None
        key = (path, k)
        slot = self._slot
        if slot is not None:
            found = self._cheap.get(key)
            if found is not None and found[0] == slot:
                return found[1]
        late, per_day = self.costs
        lead = cheapest(self._materialise(self._terms(path, k)), late, per_day)
        if slot is not None:
            self._cheap[key] = (slot, lead)
        return lead

    def _materialise(self, terms: list[tuple[list[float], int, float, float]]) -> list[float]:
        size = max(t[1] for t in terms) + 1
        return [_value(terms, t) for t in range(size)]

    def ready(self) -> bool:
        return self.root.n_events >= self.min_samples

    def decide(self, path: Path) -> tuple[int, int, int, tuple[int, ...] | None]:
        """(expected, promised, setting used, every setting's own promise or None).

        Settings are scored on their own promises at the target (uncalibrated): the
        calibration belongs to the promises actually made. At high volumes only a sample of
        orders is scored (about ``SCORED_PER_DAY`` a day, every k-th order placed, k set
        from the day before's count), which keeps the cost of self-tuning flat.
        """
        settings = self.settings
        best = self.best
        e, q = self.leads(settings[best], path)
        if len(settings) == 1:
            return e, q, best, None
        day = self.now
        if day != self._sample_day:
            if self._sample_day is not None:
                self._stride = max(1, self._placed_today // SCORED_PER_DAY)
            self._sample_day = day
            self._placed_today = 0
        self._placed_today += 1
        if (self._placed_today - 1) % self._stride:
            return e, q, best, None
        target = None if self.costs is not None else self.target
        qs = tuple(q if c == best and self.costs is not None
                   else self.promised_lead(setting, path, target)
                   for c, setting in enumerate(settings))
        return e, q, best, qs

    # -- the sweep ----------------------------------------------------------------------

    def advance(self, t: dt.datetime, window_end: dt.datetime | None = None) -> None:
        """Take in everything known at ``t``: deliveries, window expiry, passed deadlines.

        The window is counted back from ``window_end`` (default ``t``).
        """
        self._advance(t, self.index(t), window_end)

    def _advance(self, t: dt.datetime, now: int, window_end: dt.datetime | None = None,
                 ) -> None:
        deliveries = self.deliveries
        while deliveries and deliveries[0][0] <= t:
            _, i = heapq.heappop(deliveries)
            self._deliver(i)
        end = t if window_end is None else window_end
        if self.window is not None:
            self._expire_before(end, self.window, self.in_window, self._expire)
        if self.recent is not None:
            self._expire_before(end, self.recent, self.in_recent, self._leave_recent)
        if now != self.now:
            self.now = now
        self.time = t
        self._find_lost()
        deadlines = self.deadlines
        while deadlines and deadlines[0][0] < now:
            _, i = heapq.heappop(deadlines)
            if not self.resolved[i] and not self.lost[i]:
                self._resolve(i, missed=True)

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
        start: int | None = None,
    ) -> int:
        """Add an order placed now; ``promised`` is the lead promised to it (None: none)."""
        i = len(self.start)
        if start is None:
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
        self.missed.append(False)
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
        self.resolved.append(promised is None)
        if promised is not None:
            heapq.heappush(self.deadlines, (start + promised, i))
        return i

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
        if not self.resolved[i]:
            promised = self.promised[i]
            assert promised is not None
            self._resolve(i, missed=lead > promised)
        promises = self.candidates[i]
        if promises is not None:
            self._score(lead, promises)

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
        # A lost parcel says nothing about how long deliveries take: take back its miss.
        if self.missed[i]:
            self._unresolve(i)

    def _step(self, path: Path, error: float) -> None:
        if self.rate:
            level = self.level + self.rate * error
            # Bounded so a long run of misses cannot wind the level up past where it still
            # changes promises (integrator wind-up would over-pad long after a disruption).
            self.level = min(max(level, self.floor), self.ceiling)
        if self.segment_rate:
            offsets = self.offsets
            step = self.segment_rate * error
            for depth in range(1, len(path) + 1):
                key = path[:depth]
                value = offsets.get(key, 0.0) + step
                offsets[key] = min(max(value, -OFFSET_LIMIT), OFFSET_LIMIT)

    def _resolve(self, i: int, *, missed: bool) -> None:
        self.resolved[i] = True
        self.missed[i] = missed
        self._step(self.paths[i], (1.0 if missed else 0.0) - (1.0 - self.target))
        if self.on_resolve is not None:
            self.on_resolve(i, missed)

    def _unresolve(self, i: int) -> None:
        self.resolved[i] = False
        self.missed[i] = False
        self._step(self.paths[i], -self.target)

    def _score(self, lead: int, promises: tuple[int, ...]) -> None:
        """Score every setting's promise to an order, now that its lead is known."""
        tau = self.target
        costs = self.costs
        losses = []
        for q in promises:
            if costs is not None:
                late, per_day = costs
                loss = per_day * q + (late if lead > q else 0.0)
            elif lead > q:
                loss = tau * (lead - q)
            else:
                loss = (1.0 - tau) * (q - lead)
            losses.append(loss)
        settings = self.settings
        here = losses[self.best]
        challenger = -1
        margin = 0.0
        for c, setting in enumerate(settings):
            setting.loss += losses[c]
            diff = losses[c] - here
            setting.gain += diff
            setting.gain2 += diff * diff
            # a paired z-score: the mean difference over its standard error
            if setting.gain < 0 and setting.gain * setting.gain > SWITCH_Z ** 2 * setting.gain2:
                strength = -setting.gain / math.sqrt(setting.gain2)
                if strength > margin:
                    challenger, margin = c, strength
        self.n_scored += 1
        if challenger >= 0 and self.n_scored >= MIN_SCORED:
            self.best = challenger
            self.n_scored = 0
            for setting in settings:
                setting.gain = setting.gain2 = 0.0

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
        While it runs, a busy day's estimates are refreshed once (see the module docstring);
        afterwards they are those of all the data.
        """
        try:
            self._replay(orders, now, promise, window_end)
        finally:
            # From here on every estimate is the one of the data as they are now.
            self._slot = None
            self._mixes.clear()
            self._cheap.clear()
            self._trend_key = None

    def _count_placed(self, day: int) -> None:
        """Count an order placed on ``day``; a day after a busy one keeps its estimates."""
        if day != self._slot_day:
            self._busy = self._slot_day is not None and self._slot_count > BUSY_DAY
            self._slot_day = day
            self._slot_count = 0
        self._slot = (day, -1) if self._busy else None
        self._slot_count += 1

    def _replay(
        self,
        orders: Sequence[Order],
        now: dt.datetime,
        promise: Callable[[Engine, Order], int | None] | None,
        window_end: dt.datetime | None,
    ) -> None:
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
        cal = self.calendar
        tz = cal.tz
        cutoff = cal.cutoff
        days = self._index_cache
        starts = self._start_cache
        rolled = self._rolled_cache
        for order in orders:
            at = order.ordered_at
            local = at.astimezone(tz)
            day = local.toordinal()
            today = days.get(day)
            if today is None:
                today = self.index(local.date())
            key = (day, cutoff is not None and local.time() > cutoff)
            start = starts.get(key)
            if start is None:
                start = starts[key] = self.index(cal.start_day(at))
            self._advance(at, today)
            self._count_placed(today)
            answer = promise(self, order) if promise is not None else None
            delivered = order.delivered_at
            lead = None
            if delivered is not None:
                arrived = delivered.astimezone(tz).toordinal()
                end = rolled.get(arrived)
                if end is None:
                    end = rolled[arrived] = self.index(cal.roll_forward(delivered))
                lead = end - start if end > start else 0
                if delivered > now:
                    delivered = None
            if answer is None or isinstance(answer, int):
                self.place(at, delivered, order.segment, answer, lead, start=start)
            else:
                e, q, c, qs = answer
                self.place(at, delivered, order.segment, q, lead, expected=e, chosen=c,
                           candidates=qs, start=start)
        self.advance(now, window_end)
