"""The walk-forward engine: same promises as a from-scratch reference, near-linear cost.

The reference recomputes every Kaplan–Meier estimate from the full list of undelivered
orders and mixes every distribution afresh at each query, as the engine was first written;
the engine keeps undelivered orders as counts by start day and recomputes an estimate only
when it is asked for and its data changed. Both must give bit-identical distributions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.strategies_promises import packed_histories

from carekit.calendar import BusinessCalendar
from carekit.promises import PaddedEstimator, QuantileEstimator, _engine
from carekit.promises._engine import Engine, Path, path_of

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 1, 6, 8, 0, tzinfo=UTC)  # a Monday
CALENDARS = [
    BusinessCalendar(workdays=range(7), tz="UTC"),
    BusinessCalendar(cutoff=dt.time(14), tz="Europe/London"),
]
SEGMENTS: list[Hashable | None] = [None, "a", ("a", "x"), ("a", "y"), ("b", "x"), "b"]


class _Reference(Engine):
    """Kaplan–Meier over every undelivered order, nothing cached (the original engine)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting: dict[Path, dict[int, int]] = {(): {}}

    def _prefixes(self, i: int) -> list[Path]:
        path = self.paths[i]
        return [path[:depth] for depth in range(len(path) + 1)]

    def place(self, ordered_at: dt.datetime, delivered_at: dt.datetime | None,
              segment: Hashable | None, promised: int | None, lead: int | None,
              **kwargs: Any) -> int:
        i = super().place(ordered_at, delivered_at, segment, promised, lead, **kwargs)
        for prefix in self._prefixes(i):
            self.waiting.setdefault(prefix, {})[i] = self.start[i]
        return i

    def _forget(self, i: int) -> None:
        for prefix in self._prefixes(i):
            self.waiting[prefix].pop(i, None)

    def _deliver(self, i: int) -> None:
        self._forget(i)
        super()._deliver(i)

    def _expire(self, i: int) -> bool:
        gone = super()._expire(i)
        if gone:
            self._forget(i)
        return gone

    def _lose(self, i: int) -> None:
        self._forget(i)
        super()._lose(i)

    def _km(self, path: Path) -> list[float]:
        events = self.nodes[path].events
        censored: list[int] = []
        for start in self.waiting[path].values():
            age = max(self.now - start, 0)
            if age >= len(censored):
                censored.extend([0] * (age + 1 - len(censored)))
            censored[age] += 1
        size = max(len(events), len(censored), 1)
        at_risk = sum(events) + len(self.waiting[path])
        survival = 1.0
        cdf = [0.0] * size
        for t in range(size):
            d = events[t] if t < len(events) else 0
            if d and at_risk > 0:
                survival *= 1.0 - d / at_risk
            cdf[t] = 1.0 - survival
            at_risk -= d + (censored[t] if t < len(censored) else 0)
        return cdf

    def _ref_mixed(self, path: Path) -> list[float]:
        own = self._km(path)
        if not path:
            return own
        parent = self._ref_mixed(path[:-1])
        n = sum(self.nodes[path].events) + len(self.waiting[path])
        if n == 0:
            return parent
        if self.shrinkage == 0:
            return own
        w = n / (n + self.shrinkage)
        v = 1.0 - w
        lo, lp = len(own) - 1, len(parent) - 1
        return [w * own[min(t, lo)] + v * parent[min(t, lp)]
                for t in range(max(len(own), len(parent)))]

    def distribution(self, path: Path) -> list[float]:
        while path and path not in self.nodes:
            path = path[:-1]
        return self._ref_mixed(path)


def _sweep(engine: Engine, est: Any, orders: list[Any], now: dt.datetime
           ) -> list[tuple[int | None, list[float] | None]]:
    seen: list[tuple[int | None, list[float] | None]] = []

    def promise(eng: Engine, order: Any) -> int | None:
        cdf = list(eng.distribution(path_of(order.segment))) if eng.ready() else None
        q: int | None = est.sweep_promise(eng, order)
        seen.append((q, cdf))
        return q

    engine.run(orders, now, promise)
    return seen


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    packed_histories(max_size=60, days=14, max_lead_days=12, delivered_weight=3,
                     segments=SEGMENTS),
    st.sampled_from(CALENDARS),
    st.sampled_from([None, dt.timedelta(days=2), dt.timedelta(days=5)]),
    st.sampled_from([0.0, 2.5, 10.0]),
    st.sampled_from([0.0, 0.05]),
    st.integers(min_value=1, max_value=5),
    st.integers(min_value=0, max_value=20 * 24),
    st.booleans(),
)
def test_engine_matches_the_reference(history, cal, window, shrinkage, calibration,
                                      min_samples, end_hours, padded):
    if padded:
        est: Any = PaddedEstimator(window=window, shrinkage=shrinkage, min_samples=min_samples,
                                   fallback=2)
    else:
        est = QuantileEstimator(quantile=0.8, window=window, shrinkage=shrinkage,
                                calibration=calibration, min_samples=min_samples, fallback=2)
    now = T0 + dt.timedelta(hours=end_hours)
    orders = [o for o in est.prepare(history) if o.ordered_at <= now]
    settings_ = {"window": est.window, "shrinkage": shrinkage, "target": est._target(),
                 "rate": est._rate(), "min_samples": min_samples}
    engine = Engine(cal, **settings_)
    reference = _Reference(cal, **settings_)
    assert _sweep(engine, est, orders, now) == _sweep(reference, est, orders, now)
    assert engine.promised == reference.promised
    assert engine.level == reference.level
    assert sorted(engine.nodes, key=repr) == sorted(reference.nodes, key=repr)
    for path in engine.nodes:
        assert list(engine.distribution(path)) == reference.distribution(path)
        node = engine.nodes[path]
        assert node.n_pending == len(reference.waiting[path])


def _daily(n: int, days: int) -> list[tuple[dt.datetime, dt.datetime | None, str]]:
    """``n`` orders over ``days`` days; every delivery lands at midnight, none the same day."""
    out = []
    for k in range(n):
        placed = T0 + dt.timedelta(seconds=(k * days * 86_400) // n)
        if k % 50 == 0:
            out.append((placed, None, "ab"[k % 2]))
            continue
        arrives = (placed + dt.timedelta(days=1 + k % 9)).replace(hour=0, minute=0, second=0)
        out.append((placed, arrives, "ab"[k % 2]))
    return out


def test_estimates_are_recomputed_once_per_day_not_once_per_order(monkeypatch):
    # Deliveries land at midnight, so within a day only new orders (censored at age 0, which
    # cannot change a Kaplan-Meier estimate without same-day deliveries) arrive: each of the
    # three estimates is recomputed about once per day, whatever the order count (the
    # first engine recomputed them for every order).
    calls = 0
    original = _engine._Node.kaplan_meier
    original_prefix = _engine._Node.prefix

    def counting(self: Any, now: int) -> list[float]:
        nonlocal calls
        before = self.cdf
        result = original(self, now)
        calls += result is not before
        return result

    def counting_prefix(self: Any, now: int, length: int, size: int | None = None,
                        ) -> list[float]:
        # a partial estimate computed anew (a full one is counted by kaplan_meier)
        nonlocal calls
        before = self.pre
        result = original_prefix(self, now, length, size)
        calls += result is self.pre and result is not before
        return result

    monkeypatch.setattr(_engine._Node, "kaplan_meier", counting)
    monkeypatch.setattr(_engine._Node, "prefix", counting_prefix)
    cal = CALENDARS[0]
    # 30 days; then 100 days with the undelivered orders never lost, so that ages pass the
    # leads the promise needs and only the first part of each estimate is computed.
    for days, lost_after in ((30, 1.0), (100, None)):
        counts = []
        for n in (2_000, 8_000):
            calls = 0
            est = QuantileEstimator(quantile=0.9, window=None, lost_after=lost_after).fit(
                _daily(n, days), calendar=cal)
            assert est.fitted
            counts.append(calls)
        # three estimates (all orders, "a", "b"), a day's orders each, and the final day
        assert counts[0] <= 3 * (days + 2)
        assert counts[1] <= 3 * (days + 2)
