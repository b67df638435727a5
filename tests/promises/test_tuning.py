"""Self-tuning without look-ahead, order-time covariates, abstention and the cost rule.

References: hand-worked Kaplan–Meier tables, the sorted empirical quantile (Hyndman & Fan
type 1), brute-force minimisation of the expected cost in exact rational arithmetic, and a
printed calendar for the Black Friday dates.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carekit import CareKitError
from carekit.calendar import BusinessCalendar
from carekit.promises import (
    Promise,
    PromiseCosts,
    QuantileEstimator,
    backtest,
    cost_tradeoff,
)
from carekit.promises.estimators import black_friday_to_christmas

UTC = dt.timezone.utc
EVERY_DAY = BusinessCalendar(workdays=range(7), tz="UTC")
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday


def plain(**kw: object) -> QuantileEstimator:
    base: dict[str, object] = dict(calibration=0, shrinkage=0, trend=False, min_samples=1)
    base.update(kw)
    return QuantileEstimator(**base)  # type: ignore[arg-type]


def regimes(n: int = 2000, period: int = 40, seed: int = 5) -> list[tuple[dt.datetime,
                                                                          dt.datetime, str]]:
    """Ten orders a day; lead times triple for ``period`` days, then fall back, and so on."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        placed = T0 + dt.timedelta(days=i / 10)
        slow = 3 if (i // (period * 10)) % 2 else 1
        lead = dt.timedelta(days=rng.randint(1, 4) * slow, hours=rng.randint(0, 9))
        out.append((placed, placed + lead, "ab"[i % 2]))
    return out


# -- self-tuning ------------------------------------------------------------------------------


def test_self_tuning_never_looks_ahead():
    # A promise made walk-forward depends only on what was known when it was made: cutting
    # the history after some order leaves every earlier promise as it was, although the
    # settings in use change along the way.
    history = regimes()
    est = QuantileEstimator(quantile=0.9)
    full = backtest(est, history, calendar=EVERY_DAY)
    cut = history[1600][0]
    early = backtest(est, [o for o in history if o[0] < cut], calendar=EVERY_DAY)
    before = [o.promised for o in full.outcomes if o.ordered_at < cut]
    assert before == [o.promised for o in early.outcomes]
    engine = est.engine(EVERY_DAY)
    engine.run(est.prepare(history), max(d for _, d, _ in history), est.sweep_promise)
    assert len(Counter(engine.chosen)) > 1  # the settings did change


def test_the_fitted_estimator_is_where_the_backtest_ended():
    history = regimes()
    est = QuantileEstimator(quantile=0.9)
    now = history[-1][0] + dt.timedelta(minutes=1)
    fitted = est.fit(history, now=now, calendar=EVERY_DAY)
    engine = est.engine(EVERY_DAY)
    engine.run([o for o in est.prepare(history)], now, est.sweep_promise)
    chosen = engine.settings[engine.best].describe()
    assert {k: fitted.tuned[k] for k in chosen} == chosen  # type: ignore[index]


def test_settings_given_are_not_tuned():
    history = regimes(600)
    fitted = QuantileEstimator(shrinkage=0, trend=False).fit(history, calendar=EVERY_DAY)
    assert fitted.tuned == {"shrinkage": 0.0, "trend": False, "segment_calibration": 0.0,
                            "trend_factor": 1.0}
    assert QuantileEstimator().tuned is None
    with pytest.raises(CareKitError, match=r"trend must be True, False or None"):
        QuantileEstimator(trend="yes")  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="shrinkage must be >= 0"):
        QuantileEstimator(shrinkage=-1)


def test_segment_calibration_pulls_each_segment_to_the_target():
    # Two segments whose lead times drift apart: with its own offset each segment's share
    # of kept promises is closer to the target than with the overall level alone.
    rng = random.Random(3)
    history = []
    for i in range(3000):
        placed = T0 + dt.timedelta(hours=3 * i)
        seg = "ab"[i % 2]
        drift = i / 1500 if seg == "a" else -i / 3000
        lead = max(1, rng.randint(2, 6) + round(drift * 3))
        history.append((placed, placed + dt.timedelta(days=lead), seg))
    common = dict(quantile=0.9, shrinkage=10.0, trend=False, min_samples=20,
                  window=dt.timedelta(weeks=6))
    alone = backtest(QuantileEstimator(**common), history, calendar=EVERY_DAY).by_segment()
    each = backtest(QuantileEstimator(segment_calibration=0.01, **common), history,
                    calendar=EVERY_DAY).by_segment()
    assert sum(abs(each[s][1] - 0.9) for s in "ab") < sum(abs(alone[s][1] - 0.9) for s in "ab")


# -- the trend covariate ---------------------------------------------------------------------


def test_the_trend_scales_promises_by_recent_lead_times():
    # Worked by hand on an every-day calendar, now = day 84. Orders every 6 hours; those
    # placed in the first 63 days took 4 days, those placed since took 8. Recent orders (the
    # last 21 days): the ones placed 8 or more days ago arrived after 8 days, the younger
    # ones are censored below 8, so their 25 % quantile is 8. Over the window it is 4 (the
    # 4-day orders are three quarters of it). Factor (8 + 1) / (4 + 1) = 1.8.
    now = T0 + dt.timedelta(days=84)
    history = []
    for i in range(84 * 4):
        placed = T0 + dt.timedelta(hours=6 * i)
        lead = 4 if placed < T0 + dt.timedelta(days=63) else 8
        history.append((placed, placed + dt.timedelta(days=lead), None))
    still = plain(quantile=0.9).fit(history, now=now, calendar=EVERY_DAY)
    moving = plain(quantile=0.9, trend=True).fit(history, now=now, calendar=EVERY_DAY)
    assert moving.tuned["trend_factor"] == pytest.approx(1.8)  # type: ignore[index]
    e, q = still.lead_times()
    assert moving.lead_times() == (math.ceil(e * 1.8 - 1e-9), math.ceil(q * 1.8 - 1e-9))
    # No window, nothing to compare recent orders with: trend does nothing.
    flat = plain(quantile=0.9, trend=True, window=None).fit(history, now=now, calendar=EVERY_DAY)
    assert flat.tuned["trend_factor"] == 1.0  # type: ignore[index]


# -- order-time covariates ------------------------------------------------------------------


def test_weekday_covariate_learns_each_weekday_and_the_cut_off():
    # Monday orders before 14:00 take 2 days, Friday orders before the cut-off 5, Friday
    # orders after it 6 days: with the covariate each promise is its own group's median.
    cal = BusinessCalendar(workdays=range(7), cutoff=dt.time(14), tz="UTC")
    history = []
    for week in range(12):
        monday = T0 + dt.timedelta(weeks=week)
        for k in range(5):
            history.append((monday + dt.timedelta(hours=k), monday + dt.timedelta(days=2), None))
            friday = monday + dt.timedelta(days=4)
            history.append((friday + dt.timedelta(hours=k), friday + dt.timedelta(days=5), None))
            late = friday.replace(hour=15) + dt.timedelta(minutes=k)
            history.append((late, late + dt.timedelta(days=6), None))
    est = plain(quantile=0.5, covariates=("weekday",)).fit(history, calendar=cal)
    monday = dt.datetime(2026, 6, 1, 9, tzinfo=UTC)
    friday = dt.datetime(2026, 6, 5, 9, tzinfo=UTC)
    p_mon = est.promise(monday)
    p_fri = est.promise(friday)
    p_late = est.promise(friday.replace(hour=16))
    assert (p_mon.promised - monday.date()).days == 2
    assert (p_fri.promised - friday.date()).days == 5
    # after the cut-off the order counts from Saturday; 6 days from Friday is 5 from then
    assert (p_late.promised - friday.date()).days == 6
    assert p_late.basis == ("Sat (after cut-off)",) and p_late.reliable
    pooled = plain(quantile=0.5).fit(history, calendar=cal)
    assert pooled.promise(monday).promised == pooled.promise(monday + dt.timedelta(hours=1)
                                                             ).promised


def test_season_covariate_learns_peaks_apart():
    peak = (dt.date(2026, 2, 1), dt.date(2026, 2, 14))
    history = []
    for i in range(200):
        placed = T0 + dt.timedelta(hours=8 * i)
        slow = peak[0] <= placed.date() <= peak[1]
        history.append((placed, placed + dt.timedelta(days=7 if slow else 2), "x"))
    est = plain(quantile=0.5, covariates=("season",), peaks=[peak])
    fitted = est.fit(history, calendar=EVERY_DAY)
    inside = dt.datetime(2026, 2, 10, 9, tzinfo=UTC)
    outside = dt.datetime(2026, 2, 20, 9, tzinfo=UTC)
    assert (fitted.promise(inside, segment="x").promised - inside.date()).days == 7
    assert (fitted.promise(outside, segment="x").promised - outside.date()).days == 2
    by_function = plain(quantile=0.5, covariates=("season",),
                        peaks=lambda d: peak[0] <= d <= peak[1]).fit(history, calendar=EVERY_DAY)
    assert by_function.promise(inside, segment="x") == fitted.promise(inside, segment="x")


def test_black_friday_to_christmas_on_a_printed_calendar():
    # Thanksgiving 2026 is Thursday 26 November, Black Friday the 27th: the peak runs from
    # Monday 23 November to 24 December. In 2025: Thursday 27 November, so from the 24th.
    assert not black_friday_to_christmas(dt.date(2026, 11, 22))
    assert black_friday_to_christmas(dt.date(2026, 11, 23))
    assert black_friday_to_christmas(dt.date(2026, 12, 24))
    assert not black_friday_to_christmas(dt.date(2026, 12, 25))
    assert black_friday_to_christmas(dt.date(2025, 11, 24))
    assert not black_friday_to_christmas(dt.date(2025, 11, 23))
    assert not black_friday_to_christmas(dt.date(2026, 7, 1))


@pytest.mark.parametrize(
    ("kw", "message"),
    [({"covariates": "weekday"}, "covariates must be a sequence of names"),
     # a class has __iter__ too (found by tests/test_fuzz.py: it escaped as a TypeError)
     ({"covariates": tuple}, "covariates must be a sequence of names"),
     ({"peaks": 5}, "peaks must be None"),
     ({"covariates": ("moon",)}, "unknown covariate 'moon'"),
     ({"covariates": ("season", "season")}, "must not repeat"),
     ({"peaks": [(dt.date(2026, 2, 2), dt.date(2026, 2, 1))]}, "each peak must be a"),
     ({"peaks": [("2026-02-01", "2026-02-02")]}, "each peak must be a"),
     ({"peaks": 3}, "peaks must be None"),
     ({"costs": 20}, "costs must be None or carekit.promises.PromiseCosts")],
)
def test_covariate_settings_are_checked(kw, message):
    with pytest.raises(CareKitError, match=message):
        QuantileEstimator(**kw)


def test_a_failing_peaks_function_is_a_carekit_error():
    est = plain(covariates=("season",), peaks=lambda d: 1 / 0)
    with pytest.raises(CareKitError, match="peaks function failed"):
        est.fit([(T0, T0 + dt.timedelta(days=2), None)])


# -- abstention -------------------------------------------------------------------------------


def island_history() -> list[tuple[dt.datetime, dt.datetime, str]]:
    return [(T0 + dt.timedelta(hours=9 * i), T0 + dt.timedelta(hours=9 * i, days=3),
             "north" if i % 10 else "islands") for i in range(200)]


def test_too_little_recent_history_is_not_reliable_and_says_what_it_rests_on():
    fitted = QuantileEstimator(min_samples=30).fit(island_history(), calendar=EVERY_DAY)
    at = T0 + dt.timedelta(days=80)
    assert fitted.fallback_chain("islands") == ((("islands",), 20), ((), 200))
    assert fitted.fallback_chain(("north", "van")) == ((("north", "van"), 0), (("north",), 180),
                                                       ((), 200))
    north = fitted.promise(at, segment="north")
    islands = fitted.promise(at, segment="islands")
    unknown = fitted.promise(at, segment="mars")
    assert (north.reliable, north.basis) == (True, ("north",))
    assert (islands.reliable, islands.basis) == (False, ())
    assert (unknown.reliable, unknown.basis) == (False, ())
    everyone = fitted.promise(at)
    assert (everyone.reliable, everyone.basis) == (True, ())
    nothing = QuantileEstimator(fallback=4).fit([]).promise(at)
    assert (nothing.reliable, nothing.basis) == (False, None)
    with pytest.raises(CareKitError, match="not fitted"):
        QuantileEstimator().fallback_chain("north")
    with pytest.raises(CareKitError, match="segment must be hashable"):
        fitted.fallback_chain(["north"])  # type: ignore[arg-type]


def test_promise_checks_reliable_and_basis():
    at = T0
    with pytest.raises(CareKitError, match="reliable must be True or False"):
        Promise(at, dt.date(2026, 1, 6), dt.date(2026, 1, 7), 1, 0.9,
                reliable="yes")  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="basis must be None or a segment path"):
        Promise(at, dt.date(2026, 1, 6), dt.date(2026, 1, 7), 1, 0.9,
                basis="north")  # type: ignore[arg-type]


# -- the cost rule ----------------------------------------------------------------------------


def exact_cheapest(leads: list[int], late: Fraction, per_day: Fraction) -> int:
    """Brute force over every lead: the smallest minimiser of days + late * P(later)."""
    n = len(leads)
    costs = {k: per_day * k + late * Fraction(sum(x > k for x in leads), n)
             for k in range(max(leads) + 1)}
    best = min(costs.values())
    return min(k for k, c in costs.items() if c == best)


def test_the_cost_rule_on_a_hand_worked_history():
    # Leads 1 (10 orders), 2 (6), 3 (2), 4 (1), 5 (1): F = 0.5, 0.8, 0.9, 0.95, 1.0 at 1..5.
    # A late delivery costing 10 days: k + 10 (1 - F(k)) = 6, 4, 4, 4.5, 5 at 1..5: the
    # smallest minimiser is 2 days, covering 80 %.
    leads = [1] * 10 + [2] * 6 + [3] * 2 + [4, 5]
    history = [(T0 + dt.timedelta(hours=i), T0 + dt.timedelta(hours=i, days=lead), None)
               for i, lead in enumerate(leads)]
    fitted = plain(costs=PromiseCosts(late=10.0)).fit(history, calendar=EVERY_DAY)
    at = dt.datetime(2026, 3, 2, 9, tzinfo=UTC)
    p = fitted.promise(at)
    assert (p.promised - at.date()).days == 2 == exact_cheapest(leads, Fraction(10), Fraction(1))
    assert p.confidence == pytest.approx(0.8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=0, max_value=15), min_size=1, max_size=40),
       st.integers(min_value=1, max_value=60), st.integers(min_value=1, max_value=4))
def test_the_cost_rule_is_the_brute_force_minimum(leads, late, per_day):
    history = [(T0 + dt.timedelta(hours=i), T0 + dt.timedelta(hours=i, days=lead), None)
               for i, lead in enumerate(leads)]
    fitted = plain(window=None, costs=PromiseCosts(late=float(late), per_day=float(per_day)),
                   lost_after=None).fit(history, calendar=EVERY_DAY)
    assert fitted.lead_times()[1] == exact_cheapest(leads, Fraction(late), Fraction(per_day))


def test_each_segment_gets_its_own_quantile_by_cost():
    # A tight segment (3 or 4 days) and one with a long tail (2 to 20 days): at the same
    # costs the tight one is promised at a higher quantile (a day there buys a lot).
    rng = random.Random(1)
    history = []
    for i in range(400):
        placed = T0 + dt.timedelta(hours=5 * i)
        seg = "tight" if i % 2 else "tail"
        lead = rng.choice((3, 4)) if seg == "tight" else rng.randint(2, 20)
        history.append((placed, placed + dt.timedelta(days=lead), seg))
    fitted = plain(costs=PromiseCosts(late=8.0)).fit(history, calendar=EVERY_DAY)
    at = dt.datetime(2026, 4, 1, 9, tzinfo=UTC)
    tight = fitted.promise(at, segment="tight")
    tail = fitted.promise(at, segment="tail")
    assert tight.confidence > tail.confidence


def test_cost_tradeoff_buys_on_time_with_padding():
    history = regimes(1200)
    table = cost_tradeoff(QuantileEstimator(), history, (2.0, 10.0, 60.0), calendar=EVERY_DAY)
    on_time = [row.report.on_time_rate for row in table.rows]
    padding = [row.report.mean_padding_days for row in table.rows]
    assert on_time == sorted(on_time) and padding == sorted(padding)
    assert [row.late_cost for row in table.rows] == [2.0, 10.0, 60.0]
    markdown = table.to_markdown()
    assert markdown.startswith("| late cost |") and "| 60 days |" in markdown
    with pytest.raises(CareKitError, match="late_costs must be > 0"):
        cost_tradeoff(QuantileEstimator(), history, (0,))
    with pytest.raises(CareKitError, match="late_costs must be an iterable"):
        cost_tradeoff(QuantileEstimator(), history, 5)  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="late_costs must be an iterable"):
        cost_tradeoff(QuantileEstimator(), history, list)  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="estimator must be a QuantileEstimator"):
        cost_tradeoff(object(), history)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kw", "message"), [({"late": 0}, "late must be > 0"),
                                             ({"late": 5, "per_day": -1}, "per_day must be > 0"),
                                             ({"late": "5"}, "late must be a real number")])
def test_promise_costs_are_checked(kw, message):
    with pytest.raises(CareKitError, match=message):
        PromiseCosts(**kw)
    assert PromiseCosts(late=30, per_day=2).ratio == 15.0
