"""The engine's quantiles against a plain computation.

During a replay a promise uses each estimate as it stood at the first promise of that
business day that asked for it (segment and shrinkage; the trend factor likewise). The
engine materialises a mixture only as far as the levels promised at need, keeps it for the
day, shares it between the self-tuning settings with the same shrinkage, and computes
partial Kaplan–Meier estimates. The reference here does none of that: at the first query of
a day it recomputes each Kaplan–Meier estimate of the chain from the list of orders in the
window (the product-limit estimator written out, Kaplan & Meier, JASA 53, 1958), mixes the
whole distributions and writes the mixture down for the day; every query scans that for the
first lead reaching the level. Every promise made in a sweep (the one made and every
setting's own, with calibration, segment calibration, lost orders, trend and the cost rule)
must be identical.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Hashable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.promises.test_engine_scaling import _Reference
from tests.strategies_promises import packed_histories

from carekit.calendar import BusinessCalendar
from carekit.promises import Order, PromiseCosts, QuantileEstimator
from carekit.promises import _engine as engine_module
from carekit.promises._engine import (
    _EPS,
    BUSY_DAY,
    TREND_LIMITS,
    TREND_PROBABILITY,
    Engine,
    Path,
    cheapest,
)

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 1, 6, 8, 0, tzinfo=UTC)  # a Monday
SIX_DAYS = BusinessCalendar(workdays=range(6), tz="UTC")
CUTOFF = BusinessCalendar(cutoff=dt.time(14), tz="Europe/London")


class _Plain(_Reference):
    """Every quantile from whole distributions recomputed from the orders, scanned in order.

    While replaying a busy day, the first mixture (and trend factor) computed on the day serves
    the day (the engine's own count of the orders says which days are busy).
    """

    spans = True

    def _of_the_day(self, key: tuple[Any, ...], compute: Any) -> Any:
        slot = self._slot
        if not self.spans or slot is None:
            return compute()
        memo: dict[tuple[Any, ...], tuple[Any, Any]] = self.__dict__.setdefault("memo", {})
        found = memo.get(key)
        if found is None or found[0] != slot:
            found = memo[key] = (slot, compute())
        return found[1]

    def _plain_mixture(self, path: Path, k: float) -> list[float]:
        result: list[float] = self._of_the_day(
            ("mixture", path, k), lambda: self._mixture_now(path, k))
        return result

    def _mixture_now(self, path: Path, k: float) -> list[float]:
        terms: list[tuple[list[float], float, float]] = []
        for depth in range(len(path) + 1):
            prefix = path[:depth]
            size = sum(self.nodes[prefix].events) + len(self.waiting[prefix])
            if depth and size == 0:
                continue  # a segment with no orders in the window: its parent's distribution
            if depth == 0 or k == 0:
                terms = [(self._km(prefix), 1.0, 0.0)]
                continue
            w = size / (size + k)
            terms.append((self._km(prefix), w, 1.0 - w))
        length = max(len(cdf) for cdf, _, _ in terms)
        mixture = []
        for t in range(length):
            value = 0.0
            for depth, (cdf, w, v) in enumerate(terms):
                own = cdf[min(t, len(cdf) - 1)]
                value = own if depth == 0 else w * own + v * value
            mixture.append(value)
        return mixture

    def _quantiles(self, path: Path, k: float, ps: Sequence[float]) -> list[int]:
        mixture = self._plain_mixture(path, k)
        out = []
        for p in ps:
            reached = [t for t, value in enumerate(mixture) if value >= p - _EPS]
            out.append(reached[0] if reached else len(mixture) - 1)
        return out

    def _cheapest(self, path: Path, k: float) -> int:
        assert self.costs is not None
        late, per_day = self.costs
        return cheapest(self._plain_mixture(path, k), late, per_day)

    def trend_factor(self) -> float:
        result: float = self._of_the_day(("trend",), self._trend_now)
        return result

    def _trend_now(self) -> float:
        recent = self.recent_node
        if recent.n_events < self.min_samples:
            return 1.0
        now_q = recent.early_quantile(self.now, TREND_PROBABILITY)
        if now_q is None:
            return 1.0
        cdf = self._km(())
        reached = [t for t, value in enumerate(cdf) if value >= TREND_PROBABILITY - _EPS]
        then_q = reached[0] if reached else len(cdf) - 1
        lo, hi = TREND_LIMITS
        return min(max((now_q + 1) / (then_q + 1), lo), hi)


def _sweep(engine: Engine, est: QuantileEstimator, orders: list[Order],
           now: dt.datetime) -> dict[str, Any]:
    engine.run(orders, now, est.sweep_promise)
    return {
        "promised": engine.promised, "expected": engine.expected, "chosen": engine.chosen,
        "candidates": engine.candidates, "level": engine.level, "offsets": engine.offsets,
        "best": engine.best, "lost": engine.lost, "missed": engine.missed,
        "scores": [(s.loss, s.gain, s.gain2) for s in engine.settings],
    }


def _both(est: QuantileEstimator, history: Any, cal: BusinessCalendar,
          now: dt.datetime | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    orders = [o for o in est.prepare(history) if not o.cancelled]
    orders = est._with_covariates(orders, cal)
    if now is None:
        now = max(t for o in orders for t in (o.ordered_at, o.delivered_at) if t is not None)
    orders = [o for o in orders if o.ordered_at <= now]
    factor, age = est._lost()
    options = {"window": est.window, "shrinkage": 0.0, "target": est._target(),
               "rate": est._rate(), "min_samples": est.min_samples, "lost_factor": factor,
               "lost_age": age, "settings": est._settings(), **est._engine_options()}
    return (_sweep(Engine(cal, **options), est, orders, now),
            _sweep(_Plain(cal, **options), est, orders, now))


def _table(n: int, days: int, seed: int) -> list[Order]:
    """Orders over ``days`` days in nested segments: 1 % cancelled, 2 % never delivered, a
    slowdown in the second half, the last orders still on their way."""
    rng = random.Random(seed)
    segments: list[Hashable] = [("N", "a"), ("N", "b"), "S", ("S", "c"), "W"]
    medians = {("N", "a"): 2.0, ("N", "b"): 4.0, "S": 6.0, ("S", "c"): 3.0, "W": 9.0}
    end = T0 + dt.timedelta(days=days)
    out = []
    for i in range(n):
        placed = T0 + dt.timedelta(seconds=days * 86_400 * i / n + rng.random() * 600)
        segment = rng.choice(segments)
        u = rng.random()
        if u < 0.01:
            out.append(Order(ordered_at=placed, segment=segment, cancelled=True))
            continue
        slow = 1.6 if i > n // 2 else 1.0
        lead = dt.timedelta(days=medians[segment] * slow * rng.lognormvariate(0, 0.6))
        delivered = None if u < 0.03 or placed + lead > end else placed + lead
        out.append(Order(ordered_at=placed, delivered_at=delivered, segment=segment))
    return out


TABLE = _table(2_500, 90, seed=3)

ESTIMATORS = {
    "defaults": QuantileEstimator(min_samples=20),
    "segment calibration": QuantileEstimator(min_samples=20, calibration=0.01,
                                             segment_calibration=0.02, quantile=0.9),
    "trend, no calibration": QuantileEstimator(min_samples=20, calibration=0, trend=True,
                                               window=dt.timedelta(weeks=4)),
    "no shrinkage, kept forever": QuantileEstimator(min_samples=20, shrinkage=0,
                                                    lost_after=None, window=None),
    "lost after 20 days": QuantileEstimator(min_samples=20, lost_after=dt.timedelta(days=20),
                                            quantile=0.99),
    "costs": QuantileEstimator(min_samples=20, costs=PromiseCosts(late=15.0)),
    "weekday covariate": QuantileEstimator(min_samples=20, covariates=("weekday",)),
}


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_sweep_promises_match_a_plain_computation(name):
    est = ESTIMATORS[name]
    fast, plain = _both(est, TABLE, SIX_DAYS)
    assert fast == plain
    # the comparison covers the promises of every setting, not only the one in use
    if len(est._settings()) > 1:
        assert sum(c is not None for c in fast["candidates"]) > 1_000
    assert sum(q is not None for q in fast["promised"]) > 2_000


def _defaults_replay() -> tuple[Any, list[Order], dt.datetime, dict[str, Any]]:
    """The default estimator, TABLE's orders, the end, and the engine options to replay them."""
    est = ESTIMATORS["defaults"]
    orders = [o for o in est.prepare(TABLE) if not o.cancelled]
    options = {"window": est.window, "shrinkage": 0.0, "target": est._target(),
               "rate": est._rate(), "min_samples": est.min_samples,
               "settings": est._settings()}
    return est, orders, orders[-1].ordered_at, options


def test_the_comparison_sees_a_changed_quantile():
    # the reference is sensitive: moving one lead by a day changes promises made after it
    class _OneLonger(_Plain):
        def _quantiles(self, path: Path, k: float, ps: Sequence[float]) -> list[int]:
            return [q + 1 for q in super()._quantiles(path, k, ps)]

    est, orders, now, options = _defaults_replay()
    assert (_sweep(Engine(SIX_DAYS, **options), est, orders, now)["promised"]
            != _sweep(_OneLonger(SIX_DAYS, **options), est, orders, now)["promised"])


def test_a_quiet_history_is_replayed_exactly():
    # TABLE has about 32 orders a business day, fewer than a busy day's: every promise comes
    # from the data as they are when it is made
    assert len(TABLE) / 77 < BUSY_DAY

    class _EveryOrder(_Plain):
        spans = False

    est, orders, now, options = _defaults_replay()
    assert (_sweep(Engine(SIX_DAYS, **options), est, orders, now)["promised"]
            == _sweep(_EveryOrder(SIX_DAYS, **options), est, orders, now)["promised"])


def test_a_busy_day_refreshes_its_estimates_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # with busy days from 10 orders, TABLE's days are busy: each keeps its first estimates
    monkeypatch.setattr(engine_module, "BUSY_DAY", 10)

    class _EveryOrder(_Plain):
        spans = False

    est, orders, now, options = _defaults_replay()
    spans = _sweep(Engine(SIX_DAYS, **options), est, orders, now)["promised"]
    assert spans == _sweep(_Plain(SIX_DAYS, **options), est, orders, now)["promised"]
    # the rule matters on this table: estimates refreshed at every order promise otherwise
    assert spans != _sweep(_EveryOrder(SIX_DAYS, **options), est, orders, now)["promised"]


def test_after_the_replay_estimates_use_all_the_data(monkeypatch: pytest.MonkeyPatch) -> None:
    # what a fit keeps comes from the data as they are at the end, not from the estimates
    # of the last day's first promise
    monkeypatch.setattr(engine_module, "BUSY_DAY", 10)

    class _Now(_Plain):
        spans = False

    est, orders, now, options = _defaults_replay()
    engine = Engine(SIX_DAYS, **options)
    _sweep(engine, est, orders, now)
    plain = _Now(SIX_DAYS, **options)
    _sweep(plain, est, orders, now)
    assert engine._slot is None  # no busy day's estimates kept after the replay
    for path in plain.nodes:
        for k in (10.0, 200.0):
            for ps in ((0.5,), (0.95, 0.5), (0.99,)):
                assert engine._quantiles(path, k, ps) == plain._quantiles(path, k, ps)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    packed_histories(max_size=150, days=30, max_lead_days=15, delivered_weight=4,
                     segments=[None, "a", ("a", "x"), ("a", "y"), "b"]),
    st.sampled_from([SIX_DAYS, CUTOFF]),
    st.sampled_from([None, dt.timedelta(days=4), dt.timedelta(days=12)]),
    st.sampled_from([None, 0.0, 3.0]),
    st.sampled_from([None, True]),
    st.sampled_from([0.0, 0.05]),
    st.sampled_from([None, 1.0, dt.timedelta(days=6)]),
    st.integers(min_value=1, max_value=8),
    st.integers(min_value=0, max_value=40 * 24),
)
def test_sweeps_of_any_history_match_a_plain_computation(history, cal, window, shrinkage,
                                                         trend, rate, lost_after, min_samples,
                                                         end_hours):
    est = QuantileEstimator(quantile=0.85, window=window, shrinkage=shrinkage, trend=trend,
                            calibration=rate, segment_calibration=rate, lost_after=lost_after,
                            min_samples=min_samples, fallback=2)
    fast, plain = _both(est, history, cal, now=T0 + dt.timedelta(hours=end_hours))
    assert fast == plain
