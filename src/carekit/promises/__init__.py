"""Delivery promises: dates a retailer almost always beats, with as little padding as possible.

"If delivery takes three weeks, promise four": :class:`PaddedEstimator` is that rule;
:class:`QuantileEstimator` learns per-segment lead-time quantiles from order history (orders
not yet delivered count as censored, cancelled and lost ones are left out), calibrated online
so the realised on-time rate stays at its target, its settings tuned walk-forward; with
:class:`PromiseCosts` it chooses each segment's quantile by cost instead.
:class:`StagedEstimator` combines production and carrier stages. :func:`backtest` replays
history walk-forward, :func:`tradeoff` and :func:`cost_tradeoff` show what padding buys, and
:func:`at_risk` says when a promise is slipping so the customer hears it from you first.

Examples:
    >>> import datetime as dt
    >>> from carekit.calendar import BusinessCalendar
    >>> from carekit.promises import PaddedEstimator
    >>> cal = BusinessCalendar(cutoff=dt.time(14), tz="Europe/London")
    >>> at = dt.datetime(2026, 3, 2, 15, 30, tzinfo=cal.tz)      # Monday, after the cut-off
    >>> PaddedEstimator().promise(at, calendar=cal, expected=3).promised
    datetime.date(2026, 3, 9)
"""

from carekit.promises.backtest import (
    BacktestReport,
    Outcome,
    Tradeoff,
    TradeoffRow,
    backtest,
    cost_tradeoff,
    tradeoff,
)
from carekit.promises.estimators import PaddedEstimator, QuantileEstimator, StagedEstimator
from carekit.promises.promise import HistoryError, Order, Promise, PromiseCosts, StageForecast
from carekit.promises.risk import Risk, at_risk

__all__ = [
    "BacktestReport",
    "HistoryError",
    "Order",
    "Outcome",
    "PaddedEstimator",
    "Promise",
    "PromiseCosts",
    "QuantileEstimator",
    "Risk",
    "StageForecast",
    "StagedEstimator",
    "Tradeoff",
    "TradeoffRow",
    "at_risk",
    "backtest",
    "cost_tradeoff",
    "tradeoff",
]
