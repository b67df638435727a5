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
``1 - target`` even when lead times drift.

Fitting and backtesting run the same sweep, so a fitted estimator is exactly the state a
backtest would have reached at the same moment.

Cost: each segment keeps its delivered orders as counts by lead time and its undelivered ones
as counts by start day, updated as orders arrive, are delivered and leave the window. An
estimate is recomputed only when it is asked for and its data changed since (a new order,
censored at age 0, changes nothing unless some order was delivered the same day), in time
proportional to the number of lead times and ages, never to the number of orders; so a sweep
costs O(orders x lead times) instead of growing with the square of the orders in transit.
"""

from __future__ import annotations

import datetime as dt
import heapq
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from itertools import accumulate, repeat
from operator import add, mul, sub, truediv
from typing import Any

from carekit.errors import CareKitError
from carekit.promises.promise import Order

__all__ = ["Engine", "Path", "path_of", "quantile_of"]

Path = tuple[Hashable, ...]
_EPS = 1e-12


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
        self.mix_key: tuple[int, ...] = ()

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

    def kaplan_meier(self, now: int) -> list[float]:
        if not self.dirty and now == self.cdf_now:
            return self.cdf
        events = self.events
        # undelivered orders by age (business days since their start; started later: age 0)
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


def _mix(own: list[float], n: int, parent: list[float], k: float) -> list[float]:
    size = max(len(own), len(parent))
    w = n / (n + k)
    v = 1.0 - w
    lo, lp = len(own) - 1, len(parent) - 1
    return [w * own[t if t < lo else lo] + v * parent[t if t < lp else lp] for t in range(size)]


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
    ) -> None:
        self.calendar = calendar
        self.window = window
        self.shrinkage = shrinkage
        self.target = target
        self.rate = rate
        self.level = target
        self.ceiling = 1.0 - (1.0 - target) / 5.0
        self.min_samples = min_samples
        self.nodes: dict[Path, _Node] = {(): _Node(None)}
        self.root = self.nodes[()]
        self.ref: dt.date | None = None
        self.now: int = 0
        self.in_window: deque[tuple[dt.datetime, int]] = deque()
        self.deliveries: list[tuple[dt.datetime, int]] = []
        self.deadlines: list[tuple[int, int]] = []
        # per order: start index, lead (None until delivered), path, promised lead, state
        self.start: list[int] = []
        self.lead: list[int | None] = []
        self.final_lead: list[int | None] = []
        self.paths: list[Path] = []
        self.promised: list[int | None] = []
        self.resolved: list[bool] = []
        self.active: list[bool] = []
        self.on_resolve: Callable[[int, bool], None] | None = None

    # -- business-day indices -----------------------------------------------------------

    def index(self, day: dt.date | dt.datetime) -> int:
        assert self.ref is not None
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

    def distribution(self, path: Path) -> list[float]:
        """The shrunk lead-time cdf of ``path`` (the nearest known ancestor's if unseen)."""
        while path and path not in self.nodes:
            path = path[:-1]
        return self._mixed(self.nodes[path])

    def _mixed(self, node: _Node) -> list[float]:
        chain = []
        n: _Node | None = node
        while n is not None:
            chain.append(n)
            n = n.parent
        key = (self.now, *(c.version for c in chain))
        if key == node.mix_key:
            return node.mix
        if node.parent is None:
            mix = node.kaplan_meier(self.now)
        else:
            parent = self._mixed(node.parent)
            size = node.n_events + node.n_pending
            if size == 0:
                mix = parent
            elif self.shrinkage == 0:
                mix = node.kaplan_meier(self.now)
            else:
                mix = _mix(node.kaplan_meier(self.now), size, parent, self.shrinkage)
        node.mix = mix
        node.mix_key = key
        return mix

    def ready(self) -> bool:
        return self.root.n_events >= self.min_samples

    # -- the sweep ----------------------------------------------------------------------

    def advance(self, t: dt.datetime) -> None:
        """Take in everything known at ``t``: deliveries, window expiry, passed deadlines."""
        deliveries = self.deliveries
        while deliveries and deliveries[0][0] <= t:
            _, i = heapq.heappop(deliveries)
            self._deliver(i)
        if self.window is not None:
            try:
                limit: dt.datetime | None = t - self.window
            except OverflowError:  # a window reaching back before the year 1: all inside
                limit = None
            queue = self.in_window
            while queue and limit is not None and queue[0][0] < limit:
                _, i = queue.popleft()
                self._expire(i)
        now = self.index(t)
        if now != self.now:
            self.now = now
        deadlines = self.deadlines
        while deadlines and deadlines[0][0] < now:
            _, i = heapq.heappop(deadlines)
            if not self.resolved[i]:
                self._resolve(i, missed=True)

    def place(
        self,
        ordered_at: dt.datetime,
        delivered_at: dt.datetime | None,
        segment: Hashable | None,
        promised: int | None,
        lead: int | None,
    ) -> int:
        """Add an order placed now; ``promised`` is the lead promised to it (None: none)."""
        i = len(self.start)
        start = self.index(self.calendar.start_day(ordered_at))
        self.start.append(start)
        self.lead.append(None)
        self.final_lead.append(lead)
        path = path_of(segment)
        self.paths.append(path)
        self.promised.append(promised)
        self.resolved.append(promised is None)
        self.active.append(True)
        now = self.now
        for node in self.chain(path):
            node.add_pending(start, now)
        self.in_window.append((ordered_at, i))
        if delivered_at is not None:
            heapq.heappush(self.deliveries, (delivered_at, i))
        if promised is not None:
            heapq.heappush(self.deadlines, (start + promised, i))
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
        if self.active[i]:
            start = self.start[i]
            for node in self.chain(self.paths[i]):
                node.remove_pending(start)
                events = node.events
                if lead >= len(events):
                    events.extend([0] * (lead + 1 - len(events)))
                events[lead] += 1
                node.n_events += 1
        if not self.resolved[i]:
            promised = self.promised[i]
            assert promised is not None
            self._resolve(i, missed=lead > promised)

    def _expire(self, i: int) -> None:
        self.active[i] = False
        lead = self.lead[i]
        for node in self.chain(self.paths[i]):
            if lead is None:
                node.remove_pending(self.start[i])
            else:
                events = node.events
                events[lead] -= 1
                # Keep no lead longer than any left in the window: the cdf's length is the
                # longest time seen, promised when the estimate never reaches the level.
                while events and not events[-1]:
                    events.pop()
                node.n_events -= 1
                node.version += 1
                node.dirty = True

    def _resolve(self, i: int, *, missed: bool) -> None:
        self.resolved[i] = True
        if self.rate:
            level = self.level + self.rate * ((1.0 if missed else 0.0) - (1.0 - self.target))
            # Bounded so a long run of misses cannot wind the level up past where it still
            # changes promises (integrator wind-up would over-pad long after a disruption).
            self.level = min(max(level, 0.5 * self.target), self.ceiling)
        if self.on_resolve is not None:
            self.on_resolve(i, missed)

    def run(
        self,
        orders: Sequence[Order],
        now: dt.datetime,
        promise: Callable[[Engine, Order], int | None] | None = None,
    ) -> None:
        """Place ``orders`` (sorted by ``ordered_at``, none after ``now``), advance to ``now``.

        ``promise`` is asked, at each placement, for the lead time promised to that order
        (None when no promise is made); deliveries after ``now`` stay unknown.
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
            promised = promise(self, order) if promise is not None else None
            delivered = order.delivered_at
            lead = self.lead_of(order)
            if delivered is not None and delivered > now:
                delivered = None
            self.place(order.ordered_at, delivered, order.segment, promised, lead)
        self.advance(now)
