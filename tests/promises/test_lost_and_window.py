"""Lost orders and the learning window, against hand-worked Kaplan–Meier tables and an
independent product-limit estimate in exact rational arithmetic."""

from __future__ import annotations

import datetime as dt
import math
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carekit import CareKitError
from carekit.calendar import BusinessCalendar
from carekit.promises import Order, PaddedEstimator, QuantileEstimator, backtest

UTC = dt.timezone.utc
EVERY_DAY = BusinessCalendar(workdays=range(7), tz="UTC")
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def plain(**kw: object) -> QuantileEstimator:
    """No calibration, no shrinkage, no trend, one window: the textbook estimate."""
    base: dict[str, object] = dict(calibration=0, shrinkage=0, trend=False, window=None,
                                   min_samples=1)
    base.update(kw)
    return QuantileEstimator(**base)  # type: ignore[arg-type]


def km_quantile(leads: list[int], censored: list[int], p: Fraction) -> int:
    """Kaplan–Meier (1958) in exact arithmetic: the smallest lead with F >= p, else the
    longest time seen. A censored age a is at risk at every lead up to and including a."""
    times = sorted(set(leads) | set(censored))
    survival = Fraction(1)
    for t in times:
        at_risk = sum(x >= t for x in leads) + sum(a >= t for a in censored)
        deaths = leads.count(t)
        if deaths:
            survival *= 1 - Fraction(deaths, at_risk)
        if 1 - survival >= p:
            return t
    return max(times)


# -- lost orders -----------------------------------------------------------------------------


def lost_history(found_after: int | None = None) -> list[tuple[dt.datetime, dt.datetime | None,
                                                               None]]:
    # 100 orders take 2 days, 90 take 3, 10 take 4 (every 6 hours): F(2)=0.5, F(3)=0.95,
    # F(4)=1. One order placed on day 10 never arrives (or turns up ``found_after`` days on).
    leads = [2] * 100 + [3] * 90 + [4] * 10
    leads = [leads[(7 * i) % 200] for i in range(200)]  # mixed, same counts
    out: list[tuple[dt.datetime, dt.datetime | None, None]] = [
        (T0 + dt.timedelta(hours=6 * i), T0 + dt.timedelta(hours=6 * i, days=lead), None)
        for i, lead in enumerate(leads)]
    placed = T0 + dt.timedelta(days=10, minutes=30)
    arrived = None if found_after is None else placed + dt.timedelta(days=found_after)
    out.append((placed, arrived, None))
    return out


def test_an_order_far_older_than_every_delivery_is_lost():
    # Hand-worked at p = 0.95. Left out, the 200 deliveries give F(2) = 0.5 (median 2) and
    # F(3) = 190/200 = 0.95: 3. Kept as censored (at risk at every lead): S(2) = 101/201, so
    # F(2) = 100/201 < 0.5 (median 3); S(3) = 101/201 * 11/101 = 11/201, so F(3) = 190/201
    # < 0.95 and the promise is 4.
    history = lost_history()
    est = plain(quantile=0.95)
    fitted = est.fit(history, calendar=EVERY_DAY)
    assert fitted.lead_times() == (2, 3)
    assert fitted.left_out == {"cancelled": 0, "lost": 1}
    kept = plain(quantile=0.95, lost_after=None).fit(history, calendar=EVERY_DAY)
    assert kept.lead_times() == (3, 4)
    assert kept.left_out == {"cancelled": 0, "lost": 0}
    leads = [(d - o).days for o, d, _ in history if d is not None]
    age = (max(d for _, d, _ in history if d is not None).date() - history[-1][0].date()).days
    assert km_quantile(leads, [], Fraction(95, 100)) == 3
    assert km_quantile(leads, [age], Fraction(95, 100)) == 4


def test_lost_after_an_age():
    history = lost_history()
    end = max(d for _, d, _ in history if d is not None)
    age = end - history[-1][0]  # about 40 days
    young = plain(quantile=0.95, lost_after=age + dt.timedelta(days=1))
    old = plain(quantile=0.95, lost_after=age - dt.timedelta(days=1))
    assert young.fit(history, calendar=EVERY_DAY).lead_times() == (3, 4)
    assert old.fit(history, calendar=EVERY_DAY).lead_times() == (2, 3)


def test_a_lost_order_that_turns_up_counts_as_a_delivery():
    history = lost_history(found_after=30)
    report = backtest(plain(quantile=0.95), history, calendar=EVERY_DAY)
    (found,) = [o for o in report.outcomes if o.ordered_at == history[-1][0]]
    assert found.delivered is not None and found.on_time is False and not found.lost
    assert report.lost == 0
    fitted = plain(quantile=0.95).fit(history, calendar=EVERY_DAY)
    # 201 deliveries, one of them 30 days: F(2) = 100/201 < 0.5, F(3) = 190/201 < 0.95 and
    # F(4) = 200/201: (3, 4).
    assert fitted.lead_times() == (3, 4)
    assert fitted.left_out["lost"] == 0


def test_many_late_orders_are_a_slowdown_not_losses():
    # 40 orders took 2 days; 5 placed later are 6 days old and not delivered. They are older
    # than every delivery but they are 5 of 45, far more than lost parcels ever are: they
    # stay censored, the estimate never reaches 95 % (F(2) = 40/45), and the promise is the
    # longest time seen, 6 days.
    now = T0 + dt.timedelta(days=20)
    done = [(T0 + dt.timedelta(hours=i), T0 + dt.timedelta(hours=i, days=2), None)
            for i in range(40)]
    stuck = [(now - dt.timedelta(days=6, minutes=i), None, None) for i in range(5)]
    fitted = plain(quantile=0.95).fit(done + stuck, now=now, calendar=EVERY_DAY)
    assert fitted.lead_times() == (2, 6)
    assert fitted.left_out["lost"] == 0
    assert km_quantile([2] * 40, [6] * 5, Fraction(95, 100)) == 6


def test_padded_estimator_leaves_lost_orders_out_too():
    history = lost_history()
    assert PaddedEstimator(shrinkage=0).fit(history, calendar=EVERY_DAY).left_out["lost"] == 1
    assert PaddedEstimator(lost_after=None).fit(history, calendar=EVERY_DAY).left_out == {
        "cancelled": 0, "lost": 0}


@pytest.mark.parametrize(
    ("value", "message"),
    [(0.5, "lost_after must be >= 1"), (-1, "lost_after must be >= 1"),
     (dt.timedelta(0), "lost_after must be a positive duration"),
     ("2", "lost_after must be a number >= 1"), (True, "lost_after must be a number >= 1"),
     (math.nan, "lost_after must be a finite number")],
)
def test_lost_after_is_checked(value, message):
    with pytest.raises(CareKitError, match=message):
        QuantileEstimator(lost_after=value)
    with pytest.raises(CareKitError, match=message):
        PaddedEstimator(lost_after=value)


@st.composite
def small_histories(draw: st.DrawFn) -> tuple[list[Order], dt.datetime]:
    """Orders on whole days over a month, some undelivered, some cancelled."""
    out = []
    for _ in range(draw(st.integers(min_value=1, max_value=40))):
        placed = T0 + dt.timedelta(days=draw(st.integers(0, 30)), hours=draw(st.integers(0, 8)))
        lead = draw(st.one_of(st.none(), st.integers(0, 12)))
        out.append(Order(ordered_at=placed, segment=None,
                         delivered_at=None if lead is None else placed + dt.timedelta(days=lead),
                         cancelled=draw(st.booleans()) and draw(st.booleans())))
    return out, T0 + dt.timedelta(days=draw(st.integers(10, 45)), hours=12)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_histories(), st.sampled_from([Fraction(1, 2), Fraction(4, 5), Fraction(9, 10),
                                           Fraction(95, 100)]))
def test_plain_estimate_is_the_exact_kaplan_meier(case, p):
    # Every day open, no cut-off: a lead is the whole days from order to delivery date. What
    # is known at `now`: orders placed by then; deliveries after it are censored at the age
    # the order has at `now`; cancelled orders are left out.
    history, now = case
    known = [o for o in history if o.ordered_at <= now and not o.cancelled]
    leads = [(o.delivered_at.date() - o.ordered_at.date()).days for o in known
             if o.delivered_at is not None and o.delivered_at <= now]
    ages = [(now.date() - o.ordered_at.date()).days for o in known
            if o.delivered_at is None or o.delivered_at > now]
    est = plain(quantile=float(p), lost_after=None, fallback=99)
    fitted = est.fit(history, now=now, calendar=EVERY_DAY)
    if not leads:
        assert fitted.lead_times() == (99, 99)
        return
    assert fitted.lead_times()[1] == km_quantile(leads, ages, p)
    assert fitted.lead_times()[0] == min(km_quantile(leads, ages, Fraction(1, 2)),
                                         km_quantile(leads, ages, p))


# -- the window ------------------------------------------------------------------------------


def test_the_window_ends_at_the_latest_order_not_the_latest_delivery():
    # Orders every 12 hours for 200 days take 3 days; one placed on day 100 arrived on day
    # 350. Counted back from that delivery, 12 weeks would hold no order at all (fitting
    # used to fail). From the latest order (day 199.5) they hold the last 84 days' orders.
    history = [(T0 + dt.timedelta(hours=12 * i), T0 + dt.timedelta(hours=12 * i, days=3), None)
               for i in range(400)]
    history.append((T0 + dt.timedelta(days=100, minutes=1), T0 + dt.timedelta(days=350), None))
    fitted = QuantileEstimator().fit(history, calendar=EVERY_DAY)
    assert fitted.lead_times() == (3, 3)
    windowed = plain(window=dt.timedelta(weeks=12)).fit(history, calendar=EVERY_DAY)
    assert windowed.lead_times() == (3, 3)
    # With now= the window counts back from now: on day 351 it holds no order, so it
    # reaches back to the latest delivered order (min_samples=1), placed on day 199.5.
    later = windowed.fit(history, now=T0 + dt.timedelta(days=351), calendar=EVERY_DAY)
    assert later.lead_times() == (3, 3)


def test_a_small_history_reaches_back_past_the_window():
    # 40 orders nine days apart: the last 12 weeks hold 10. With min_samples=30 the window
    # reaches back to the latest 30 deliveries: the reference is their sorted 0.9 quantile.
    leads = [3 + (7 * i) % 11 for i in range(40)]
    history = [(T0 + dt.timedelta(days=9 * i), T0 + dt.timedelta(days=9 * i + lead), None)
               for i, lead in enumerate(leads)]
    fitted = plain(quantile=0.9, window=dt.timedelta(weeks=12), min_samples=30).fit(
        history, calendar=EVERY_DAY)
    last = sorted(leads[-30:])
    assert fitted.lead_times()[1] == last[math.ceil(0.9 * 30) - 1]


def test_too_little_history_says_so():
    history = [(T0 + dt.timedelta(days=i), T0 + dt.timedelta(days=i + 2), None)
               for i in range(20)]
    history.append(Order(ordered_at=T0, cancelled=True))
    with pytest.raises(CareKitError, match=r"history has 20 delivered order\(s\) to learn from "
                       r"\(20 delivered in all, 1 cancelled, 0 lost\), fewer than "
                       r"min_samples=30; pass more history, a lower min_samples, or a "
                       r"fallback"):
        QuantileEstimator().fit(history)
    assert QuantileEstimator(fallback=5).fit(history).lead_times() == (5, 5)
