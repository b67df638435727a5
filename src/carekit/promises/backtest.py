"""Walk-forward backtests of promise estimators and the on-time/padding trade-off.

Examples:
    >>> import datetime as dt
    >>> from carekit.calendar import BusinessCalendar
    >>> from carekit.promises import QuantileEstimator, backtest
    >>> cal = BusinessCalendar(workdays=range(7))
    >>> t0 = dt.datetime(2026, 1, 1, 9, tzinfo=dt.timezone.utc)
    >>> orders = [(t0 + dt.timedelta(days=i), t0 + dt.timedelta(days=i + 5 + i % 4), None)
    ...           for i in range(120)]
    >>> report = backtest(QuantileEstimator(quantile=0.9, min_samples=10), orders, calendar=cal)
    >>> report.n > 90, report.on_time_rate > 0.8
    (True, True)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

import attrs

from carekit import _validate
from carekit.calendar import BusinessCalendar
from carekit.errors import CareKitError
from carekit.promises.estimators import (
    PaddedEstimator,
    QuantileEstimator,
    _check_calendar,
    _latest,
    default_calendar,
)
from carekit.promises.promise import PromiseCosts, as_orders

__all__ = [
    "BacktestReport",
    "Outcome",
    "Tradeoff",
    "TradeoffRow",
    "backtest",
    "cost_tradeoff",
    "tradeoff",
]


@attrs.frozen(kw_only=True)
class Outcome:
    """What happened to one promise in a backtest.

    Attributes:
        ordered_at: when the order was placed.
        segment: its segment.
        expected: the internal estimate made then.
        promised: the date promised then.
        delivered: the (local) delivery date, None if not delivered by the end of the data.
        on_time: delivered on or before ``promised``; None while that is not known yet.
        padding_days: business days between delivery and promise (negative when late; for
            an undelivered late order, how late it is at least).
        padding_calendar_days: the same in calendar days (None when undelivered).
        lost: never delivered and old enough, at the end of the data, to count as lost.
    """

    ordered_at: dt.datetime
    segment: Hashable | None
    expected: dt.date
    promised: dt.date
    delivered: dt.date | None
    on_time: bool | None
    padding_days: int | None
    padding_calendar_days: int | None
    lost: bool = False


@attrs.frozen
class BacktestReport:
    """How promises made walk-forward would have fared.

    The first five fields, ``BacktestReport(n, on_time_rate, early_rate, mean_padding_days,
    mean_lateness_days)``, may be given positionally in that order; the others are
    keyword-only.

    Attributes:
        n: promises whose outcome is known (delivered, or undelivered past the promised day
            and not lost).
        on_time_rate: share of them delivered on or before the promised date. The rates
            and means are 0.0 when there is nothing to average (``n`` is 0, say while every
            promise is still pending): read them with ``n``.
        early_rate: share delivered strictly before the promised date.
        mean_padding_days: mean business days from delivery to the promised date over the
            delivered ones (negative for late ones, as the promise-minus-delivery mean is
            usually reported).
        mean_lateness_days: mean business days late over the late ones (0 when none).
        mean_padding_calendar_days: ``mean_padding_days`` in calendar days.
        pending: promises still open at the end of the data (undelivered, not yet late).
        skipped: orders placed before there was enough history to promise.
        cancelled: orders left out because they were cancelled (never promised, never
            scored, not in the lead times).
        lost: orders promised but never delivered and, at the end of the data, old enough
            to count as lost (``lost_after``): left out of ``n`` and of the rates, since no
            padding keeps a promise for a parcel that never comes; count them as broken
            promises yourself if that is how you report.
        outcomes: one :class:`Outcome` per promise made (lost ones included, with
            ``on_time=None`` and ``lost=True``).
    """

    n: int
    on_time_rate: float
    early_rate: float
    mean_padding_days: float
    mean_lateness_days: float
    mean_padding_calendar_days: float = attrs.field(default=0.0, kw_only=True)
    pending: int = attrs.field(default=0, kw_only=True)
    skipped: int = attrs.field(default=0, kw_only=True)
    cancelled: int = attrs.field(default=0, kw_only=True)
    lost: int = attrs.field(default=0, kw_only=True)
    outcomes: tuple[Outcome, ...] = attrs.field(default=(), eq=False, repr=False, kw_only=True)

    def by_segment(self) -> dict[Hashable, tuple[int, float]]:
        """``segment -> (promises with a known outcome, on-time rate)``, from the outcomes.

        Examples:
            >>> BacktestReport(n=0, on_time_rate=0.0, early_rate=0.0, mean_padding_days=0.0,
            ...                mean_lateness_days=0.0).by_segment()
            {}
        """
        counts: dict[Hashable, list[int]] = {}
        for outcome in self.outcomes:
            if outcome.on_time is None:
                continue
            tally = counts.setdefault(outcome.segment, [0, 0])
            tally[0] += 1
            tally[1] += outcome.on_time
        return {seg: (n, kept / n) for seg, (n, kept) in counts.items()}


def backtest(
    estimator: QuantileEstimator | PaddedEstimator,
    orders: Any,
    calendar: BusinessCalendar | None = None,
    *,
    now: dt.datetime | None = None,
) -> BacktestReport:
    """Replay ``orders`` in time order, promising each from what was known when it was placed.

    No look-ahead: the promise for an order placed at ``t`` is made from orders placed before
    ``t`` and deliveries known by ``t`` (later deliveries count as censored), exactly what
    ``estimator.fit(orders, now=t)`` would know; online calibration and self-tuning learn
    only from outcomes known by ``t``. The report counts every promise whose outcome is known
    by ``now``; undelivered orders whose promised day has passed count as late, unless they
    are old enough to count as lost. Cancelled orders are left out and counted.

    Args:
        estimator: an unfitted (or fitted: only its settings are used)
            :class:`QuantileEstimator` or :class:`PaddedEstimator`.
        orders: the same forms ``fit`` accepts: orders with ``delivered_at`` (None if never
            delivered), a segment, and optionally ``cancelled``.
        calendar: the calendar promises are made on (default: the estimator's, else
            Monday-Friday UTC).
        now: the end of the data (default: the latest time in ``orders``).

    Returns:
        A :class:`BacktestReport`.

    Raises:
        CareKitError: an unsupported estimator or malformed orders.
    """
    if not isinstance(estimator, (QuantileEstimator, PaddedEstimator)):
        msg = (
            "estimator must be a QuantileEstimator or a PaddedEstimator to backtest "
            f"(got {_validate.short(estimator)})"
        )
        raise CareKitError(msg)
    cal = _check_calendar(calendar) or estimator.calendar or default_calendar()
    everything = estimator.prepare(orders)
    rows = [o for o in everything if not o.cancelled]
    cancelled = len(everything) - len(rows)
    rows = estimator._with_covariates(rows, cal)
    end = _latest(rows) if now is None else _validate.aware("now", now)
    if end is None:
        return BacktestReport(n=0, on_time_rate=0.0, early_rate=0.0, mean_padding_days=0.0,
                              mean_lateness_days=0.0, cancelled=cancelled)
    if now is not None:
        cancelled = sum(o.cancelled and o.ordered_at <= end for o in everything)
    rows = [o for o in rows if o.ordered_at <= end]
    engine = estimator.engine(cal)
    engine.run(rows, end, estimator.sweep_promise)
    return _report(engine, rows, cal, cancelled)


def _report(engine: Any, rows: Sequence[Any], cal: BusinessCalendar,
            cancelled: int) -> BacktestReport:
    tz = cal.tz
    outcomes: list[Outcome] = []
    on_time = early = late = pending = skipped = lost = 0
    padding_sum = calendar_sum = 0.0
    lateness_sum = 0.0
    delivered_n = 0
    for i, order in enumerate(rows):
        q = engine.promised[i]
        if q is None:
            skipped += 1
            continue
        e = engine.expected[i]
        e = q if e is None else min(e, q)
        promised = cal.add_business_days(order.ordered_at, q).date()
        expected = cal.add_business_days(order.ordered_at, e).date()
        lead = engine.lead[i]
        if lead is not None:
            delivered = order.delivered_at.astimezone(tz).date()
            ok = delivered <= promised
            pad = q - lead
            cal_pad = (promised - delivered).days
            delivered_n += 1
            padding_sum += pad
            calendar_sum += cal_pad
            if ok:
                on_time += 1
                early += delivered < promised
            else:
                late += 1
                lateness_sum += -pad
            outcomes.append(Outcome(ordered_at=order.ordered_at, segment=order.segment,
                                    expected=expected, promised=promised, delivered=delivered,
                                    on_time=ok, padding_days=pad, padding_calendar_days=cal_pad))
        elif engine.is_lost(i):
            lost += 1
            outcomes.append(Outcome(ordered_at=order.ordered_at, segment=order.segment,
                                    expected=expected, promised=promised, delivered=None,
                                    on_time=None, padding_days=None, padding_calendar_days=None,
                                    lost=True))
        elif engine.now > engine.start[i] + q:
            behind = engine.now - engine.start[i] - q
            late += 1
            lateness_sum += behind
            outcomes.append(Outcome(ordered_at=order.ordered_at, segment=order.segment,
                                    expected=expected, promised=promised, delivered=None,
                                    on_time=False, padding_days=-behind,
                                    padding_calendar_days=None))
        else:
            pending += 1
            outcomes.append(Outcome(ordered_at=order.ordered_at, segment=order.segment,
                                    expected=expected, promised=promised, delivered=None,
                                    on_time=None, padding_days=None, padding_calendar_days=None))
    n = on_time + late
    return BacktestReport(
        n=n,
        on_time_rate=on_time / n if n else 0.0,
        early_rate=early / n if n else 0.0,
        mean_padding_days=padding_sum / delivered_n if delivered_n else 0.0,
        mean_lateness_days=lateness_sum / late if late else 0.0,
        mean_padding_calendar_days=calendar_sum / delivered_n if delivered_n else 0.0,
        pending=pending,
        skipped=skipped,
        cancelled=cancelled,
        lost=lost,
        outcomes=tuple(outcomes),
    )


@attrs.frozen(kw_only=True)
class TradeoffRow:
    """One target (or one cost of a late delivery) of a trade-off table, and its backtest.

    Attributes:
        target: the quantile target (None for a row chosen by cost).
        report: the walk-forward backtest.
        late_cost: for a row chosen by cost, what a late delivery cost, in days of padding.
    """

    target: float | None
    report: BacktestReport
    late_cost: float | None = None


@attrs.frozen(kw_only=True)
class Tradeoff:
    """On-time rate against padding across quantile targets or costs (see :func:`tradeoff`)."""

    rows: tuple[TradeoffRow, ...]

    def to_markdown(self) -> str:
        """The table as Markdown: target, on-time, early, mean padding, mean lateness, n.

        The first column names the rule each row promised by: the quantile ``target``, or,
        for rows chosen by cost (:func:`cost_tradeoff`), the ``late cost`` in days of
        padding. A table mixing both says ``target or late cost``.

        Examples:
            >>> r = BacktestReport(n=2, on_time_rate=0.5, early_rate=0.5, mean_padding_days=1.0,
            ...                    mean_lateness_days=2.0)
            >>> print(Tradeoff(rows=(TradeoffRow(target=0.9, report=r),)).to_markdown())
            | target | on time | early | mean padding (days) | mean lateness (days) | n |
            |---:|---:|---:|---:|---:|---:|
            | 90.0 % | 50.0 % | 50.0 % | 1.00 | 2.00 | 2 |
            >>> print(Tradeoff(rows=(TradeoffRow(target=None, late_cost=20.0, report=r),)
            ...                ).to_markdown())
            | late cost | on time | early | mean padding (days) | mean lateness (days) | n |
            |---:|---:|---:|---:|---:|---:|
            | 20 days | 50.0 % | 50.0 % | 1.00 | 2.00 | 2 |
        """
        by_target = [row.target is not None for row in self.rows]
        if all(by_target):
            rule = "target"
        elif not any(by_target):
            rule = "late cost"
        else:
            rule = "target or late cost"
        lines = [
            f"| {rule} | on time | early | mean padding (days) | mean lateness (days) | n |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for row in self.rows:
            r = row.report
            if row.target is not None:
                label = f"{row.target:.1%}"
            elif rule == "late cost":
                label = f"{row.late_cost:g} days"
            else:
                label = f"late = {row.late_cost:g} days"
            lines.append(
                f"| {label} | {r.on_time_rate:.1%} | {r.early_rate:.1%} | "
                f"{r.mean_padding_days:.2f} | {r.mean_lateness_days:.2f} | {r.n} |"
            )
        return "\n".join(line.replace("%", " %") for line in lines)


def cost_tradeoff(
    estimator: QuantileEstimator,
    orders: Any,
    late_costs: Sequence[float] = (5.0, 10.0, 20.0, 40.0, 80.0),
    calendar: BusinessCalendar | None = None,
    *,
    now: dt.datetime | None = None,
) -> Tradeoff:
    """Backtest promises chosen by cost, for each cost of a late delivery.

    Each row promises, per segment, the lead minimising ``days + late_cost * P(later)``
    (:class:`PromiseCosts` with ``per_day=1``): a late delivery costs ``late_cost`` days of
    padding. A higher cost buys more on-time promises with more padding; unlike a single
    quantile target, each segment settles where one more day buys the most.

    Args:
        estimator: the :class:`QuantileEstimator` whose settings are used; its ``costs`` are
            replaced by each row's.
        orders: as for :func:`backtest`.
        late_costs: costs of a late delivery in days of padding, each > 0.
        calendar: as for :func:`backtest`.
        now: as for :func:`backtest`.

    Raises:
        CareKitError: a cost that is not a positive number, or as for :func:`backtest`.

    Examples:
        >>> import datetime as dt
        >>> from carekit.calendar import BusinessCalendar
        >>> from carekit.promises import QuantileEstimator
        >>> cal = BusinessCalendar(workdays=range(7))
        >>> t0 = dt.datetime(2026, 1, 1, 9, tzinfo=dt.timezone.utc)
        >>> orders = [(t0 + dt.timedelta(hours=7 * i), t0 + dt.timedelta(hours=7 * i,
        ...            days=3 + i % 7), None) for i in range(300)]
        >>> table = cost_tradeoff(QuantileEstimator(min_samples=20), orders, (2.0, 50.0),
        ...                       calendar=cal)
        >>> cheap, dear = table.rows
        >>> cheap.report.on_time_rate < dear.report.on_time_rate
        True
    """
    if not isinstance(estimator, QuantileEstimator):
        msg = f"estimator must be a QuantileEstimator (got {_validate.short(estimator)})"
        raise CareKitError(msg)
    if isinstance(late_costs, (str, bytes)) or not isinstance(late_costs, Iterable):
        msg = (
            "late_costs must be an iterable of positive numbers "
            f"(got {_validate.short(late_costs)})"
        )
        raise CareKitError(msg)
    rows = []
    rows_in = as_orders(orders, "orders")
    for cost in late_costs:
        late = _validate.positive("late_costs", cost)
        est = attrs.evolve(estimator, costs=PromiseCosts(late=late))
        rows.append(TradeoffRow(target=None, late_cost=late,
                                report=backtest(est, rows_in, calendar, now=now)))
    return Tradeoff(rows=tuple(rows))


def tradeoff(
    estimator: QuantileEstimator,
    orders: Any,
    targets: Sequence[float] = (0.8, 0.85, 0.9, 0.929, 0.95, 0.975, 0.99),
    calendar: BusinessCalendar | None = None,
    *,
    now: dt.datetime | None = None,
) -> Tradeoff:
    """Backtest ``estimator`` at each quantile target: how much padding buys how much on-time.

    Args:
        estimator: the :class:`QuantileEstimator` whose settings are used; its ``quantile``
            is replaced by each target.
        orders: as for :func:`backtest`.
        targets: quantile targets in (0, 1).
        calendar: as for :func:`backtest`.
        now: as for :func:`backtest`.

    Raises:
        CareKitError: a target outside (0, 1), or as for :func:`backtest`.
    """
    if not isinstance(estimator, QuantileEstimator):
        msg = f"estimator must be a QuantileEstimator (got {_validate.short(estimator)})"
        raise CareKitError(msg)
    if isinstance(targets, (str, bytes)) or not isinstance(targets, Iterable):
        msg = (
            "targets must be an iterable of quantile targets in (0, 1) "
            f"(got {_validate.short(targets)})"
        )
        raise CareKitError(msg)
    rows = []
    rows_in = as_orders(orders, "orders")
    for target in targets:
        _validate.probability("targets", target, allow_one=False)
        est = attrs.evolve(estimator, quantile=target)
        rows.append(TradeoffRow(target=float(target),
                                report=backtest(est, rows_in, calendar, now=now)))
    return Tradeoff(rows=tuple(rows))
