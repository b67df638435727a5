"""Walk-forward backtests: no look-ahead, censored orders, calibration under drift."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from carekit import CareKitError
from carekit.calendar import BusinessCalendar
from carekit.promises import (
    BacktestReport,
    PaddedEstimator,
    QuantileEstimator,
    StagedEstimator,
    Tradeoff,
    TradeoffRow,
    backtest,
    tradeoff,
)

UTC = dt.timezone.utc
EVERY_DAY = BusinessCalendar(workdays=range(7), tz="UTC")
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def orders(n=200, drift=0.0, seed=7, segments=("a", "b")):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        placed = T0 + dt.timedelta(hours=12 * i, minutes=rng.randint(0, 600))
        lead = rng.randint(3, 8) + int(drift * i)
        out.append((placed, placed + dt.timedelta(days=lead, hours=rng.randint(0, 5)),
                    segments[i % len(segments)]))
    return out


def test_hand_checked_report():
    # Every order takes exactly 4 days; with min_samples=1 the first promise comes once one
    # delivery is known, and every promise is then 4 days: all on time, none early.
    history = [(T0 + dt.timedelta(days=i), T0 + dt.timedelta(days=i + 4), None)
               for i in range(30)]
    report = backtest(QuantileEstimator(min_samples=1, calibration=0), history,
                      calendar=EVERY_DAY)
    # orders 0..3 come before the first delivery; order 4 is placed as order 0 arrives
    assert report.skipped == 4
    assert report.n == 26
    assert (report.on_time_rate, report.early_rate) == (1.0, 0.0)
    assert report.mean_padding_days == 0.0 == report.mean_lateness_days
    assert all(o.on_time and o.padding_calendar_days == 0 for o in report.outcomes)



def test_report_takes_its_five_headline_fields_positionally():
    report = BacktestReport(26, 0.75, 0.25, 1.5, 2.0)
    assert (report.n, report.on_time_rate, report.early_rate, report.mean_padding_days,
            report.mean_lateness_days) == (26, 0.75, 0.25, 1.5, 2.0)
    assert (report.pending, report.skipped, report.cancelled, report.lost) == (0, 0, 0, 0)
    assert report == BacktestReport(n=26, on_time_rate=0.75, early_rate=0.25,
                                    mean_padding_days=1.5, mean_lateness_days=2.0)
    assert BacktestReport(3, 1.0, 0.0, 0.0, 0.0, pending=2).pending == 2
    with pytest.raises(TypeError):
        BacktestReport(3, 1.0, 0.0, 0.0, 0.0, 0.0)  # type: ignore[misc]

def test_backtest_promises_equal_fits_on_what_was_known():
    history = orders(160)
    est = QuantileEstimator(quantile=0.9, min_samples=10, calibration=0.01)
    report = backtest(est, history, calendar=EVERY_DAY)
    by_time = sorted(history)
    checked = 0
    for outcome in report.outcomes[::17]:
        placed = outcome.ordered_at
        seen = [o for o in by_time if o[0] < placed]
        fitted = est.fit(seen, now=placed - dt.timedelta(microseconds=1), calendar=EVERY_DAY)
        assert fitted.promise(placed, segment=outcome.segment).promised == outcome.promised
        checked += 1
    assert checked >= 5


def test_undelivered_orders_are_late_once_their_day_passes_or_pending():
    history = [(T0 + dt.timedelta(days=i), T0 + dt.timedelta(days=i + 3), None)
               for i in range(20)]
    lost = (T0 + dt.timedelta(days=10, hours=1), None, None)
    recent = (T0 + dt.timedelta(days=22), None, None)
    report = backtest(QuantileEstimator(min_samples=3, calibration=0), [*history, lost, recent],
                      calendar=EVERY_DAY)
    lost_outcome = next(o for o in report.outcomes if o.ordered_at == lost[0])
    assert lost_outcome.on_time is False and lost_outcome.delivered is None
    assert report.pending == 1
    assert report.n == sum(o.on_time is not None for o in report.outcomes)


def test_an_undelivered_order_is_pending_on_its_promised_day():
    # Promised 4 days after placing; on that day itself it can still arrive: pending.
    history = [(T0 + dt.timedelta(days=i), T0 + dt.timedelta(days=i + 4), None)
               for i in range(10)]
    last = T0 + dt.timedelta(days=20)
    history.append((last, None, None))
    est = QuantileEstimator(min_samples=1, calibration=0)
    report = backtest(est, history, calendar=EVERY_DAY, now=last + dt.timedelta(days=4))
    assert report.outcomes[-1].on_time is None and report.pending == 1
    later = backtest(est, history, calendar=EVERY_DAY, now=last + dt.timedelta(days=5))
    assert later.outcomes[-1].on_time is False and later.pending == 0


def test_mean_lateness_is_over_the_late_orders_only():
    # Ten 4-day orders, then one taking 6 days against a 4-day promise: one late order,
    # 2 days late; the mean lateness is 2 days, not 2 days spread over every order.
    history = [(T0 + dt.timedelta(days=i), T0 + dt.timedelta(days=i + 4), None)
               for i in range(10)]
    history.append((T0 + dt.timedelta(days=20), T0 + dt.timedelta(days=26), None))
    report = backtest(QuantileEstimator(min_samples=1, calibration=0), history,
                      calendar=EVERY_DAY)
    assert [o.on_time for o in report.outcomes].count(False) == 1 and report.n > 1
    assert report.mean_lateness_days == 2.0


def test_calibration_holds_the_target_under_drift():
    # Lead times grow steadily: a trailing window always lags, so uncalibrated promises are
    # late too often; the online calibration pushes the on-time rate back toward the target.
    history = orders(600, drift=0.02, seed=3)
    settings = dict(quantile=0.9, min_samples=10, window=dt.timedelta(weeks=8))
    plain = backtest(QuantileEstimator(calibration=0, **settings), history, calendar=EVERY_DAY)
    calibrated = backtest(QuantileEstimator(calibration=0.01, **settings), history,
                          calendar=EVERY_DAY)
    assert plain.on_time_rate < 0.8
    assert abs(calibrated.on_time_rate - 0.9) < 0.04


def test_calibration_also_takes_back_padding_that_is_not_needed():
    # Slow drift and whole-day lead times make the plain quantile over-cover; calibration
    # lowers the level, so promises are kept at about the target with less padding.
    history = orders(600, drift=0.005, seed=3)
    settings = dict(quantile=0.9, min_samples=10, window=dt.timedelta(weeks=8))
    plain = backtest(QuantileEstimator(calibration=0, **settings), history, calendar=EVERY_DAY)
    calibrated = backtest(QuantileEstimator(calibration=0.01, **settings), history,
                          calendar=EVERY_DAY)
    assert plain.on_time_rate > 0.93
    assert abs(calibrated.on_time_rate - 0.9) < 0.02
    assert calibrated.mean_padding_days < plain.mean_padding_days


def test_padded_backtest_and_tradeoff_table():
    history = orders(200)
    seed = backtest(PaddedEstimator(), history, calendar=EVERY_DAY)
    assert isinstance(seed, BacktestReport) and seed.n > 150
    table = tradeoff(QuantileEstimator(min_samples=10), history, targets=(0.5, 0.9, 0.99),
                     calendar=EVERY_DAY)
    paddings = [row.report.mean_padding_days for row in table.rows]
    assert paddings == sorted(paddings)
    assert table.to_markdown().count("\n") == 4


def test_tradeoff_table_names_the_rule_of_its_rows():
    r = BacktestReport(n=2, on_time_rate=0.5, early_rate=0.5, mean_padding_days=1.0,
                       mean_lateness_days=2.0)
    by_target = TradeoffRow(target=0.9, report=r)
    by_cost = TradeoffRow(target=None, late_cost=20.0, report=r)

    def first_column(table: Tradeoff) -> list[str]:
        lines = table.to_markdown().splitlines()
        return [line.split("|")[1].strip() for line in lines[:1] + lines[2:]]

    assert first_column(Tradeoff(rows=(by_target,))) == ["target", "90.0 %"]
    assert first_column(Tradeoff(rows=(by_cost,))) == ["late cost", "20 days"]
    assert first_column(Tradeoff(rows=(by_target, by_cost))) == [
        "target or late cost", "90.0 %", "late = 20 days"]


def test_backtest_errors():
    with pytest.raises(CareKitError, match="estimator"):
        backtest(StagedEstimator(stages={"x": QuantileEstimator()}), [])
    with pytest.raises(CareKitError, match="targets"):
        tradeoff(QuantileEstimator(), orders(20), targets=(1.2,))
    with pytest.raises(CareKitError, match="now"):
        backtest(QuantileEstimator(), orders(20), now=dt.datetime(2026, 1, 1))
    empty = backtest(QuantileEstimator(), [])
    assert (empty.n, empty.on_time_rate, empty.mean_padding_days, empty.outcomes) == (
        0, 0.0, 0.0, ()
    )


def test_tradeoff_checks_its_arguments() -> None:
    from carekit.promises import tradeoff

    with pytest.raises(CareKitError, match="orders must be an iterable of Order"):
        tradeoff(QuantileEstimator(), None)
    with pytest.raises(CareKitError, match="targets must be an iterable of quantile targets"):
        tradeoff(QuantileEstimator(), [], None)  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="targets must be an iterable of quantile targets"):
        tradeoff(QuantileEstimator(), [], "0.9")
