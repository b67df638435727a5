"""Delivery-date estimators: the padding rule, learned quantiles and staged goods.

Every estimator answers ``promise(ordered_at, calendar=..., segment=None, expected=None)`` with
a :class:`~carekit.promises.Promise` on business days of a
:class:`~carekit.calendar.BusinessCalendar` (cut-offs respected). The learned ones are fitted on
order history first: ``fit(history)`` returns a fitted copy and leaves the original alone.

Examples:
    >>> import datetime as dt
    >>> from carekit.calendar import BusinessCalendar
    >>> from carekit.promises import PaddedEstimator
    >>> cal = BusinessCalendar(tz="Europe/London")
    >>> monday = dt.datetime(2026, 3, 2, 10, 0, tzinfo=cal.tz)
    >>> p = PaddedEstimator().promise(monday, calendar=cal, expected=15)  # three weeks
    >>> p.padding, p.promised                                                # promise four
    (5, datetime.date(2026, 3, 30))
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from carekit import _validate
from carekit.calendar import BusinessCalendar
from carekit.errors import CareKitError
from carekit.promises._engine import Engine, Path, path_of, quantile_of
from carekit.promises.promise import (
    Order,
    Promise,
    PromiseCosts,
    StageForecast,
    call_segment,
    make_promise,
    read_history,
)

__all__ = ["PaddedEstimator", "QuantileEstimator", "StagedEstimator"]

_DATETIME = dt.datetime
_CACHE_LIMIT = 8192
#: Fitted copies kept per estimator for promises on calendars other than the fitted one.
_OTHER_CALENDARS = 16
_DEFAULT_CALENDAR: list[BusinessCalendar] = []


def default_calendar() -> BusinessCalendar:
    """Monday to Friday, no holidays, no cut-off, UTC (made once)."""
    if not _DEFAULT_CALENDAR:
        _DEFAULT_CALENDAR.append(BusinessCalendar())
    return _DEFAULT_CALENDAR[0]


def _check_calendar(value: Any, name: str = "calendar") -> BusinessCalendar | None:
    if value is None or isinstance(value, BusinessCalendar):
        return value
    msg = f"{name} must be a carekit.calendar.BusinessCalendar or None (got {value!r})"
    raise CareKitError(msg)


# -- field validators -------------------------------------------------------------------


def _v_quantile(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    _validate.probability(attribute.name, value, allow_one=False)


def _v_optional_quantile(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _validate.probability(attribute.name, value, allow_one=False)


def _c_window(value: Any) -> dt.timedelta | None:
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        td = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            td = dt.timedelta(days=_validate.finite("window", value))
        except OverflowError:
            msg = f"window must be at most 999999999 days (got {value!r})"
            raise CareKitError(msg) from None
    else:
        msg = (
            "window must be a positive datetime.timedelta, a number of days or None "
            f"(got {value!r})"
        )
        raise CareKitError(msg)
    if td <= dt.timedelta(0):
        msg = f"window must be a positive duration (got {value!r})"
        raise CareKitError(msg)
    return td


def _c_fallback(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        if value < dt.timedelta(0):
            msg = f"fallback must be a non-negative number of business days (got {value!r})"
            raise CareKitError(msg)
        return math.ceil(value / dt.timedelta(days=1))
    return _validate.positive_int("fallback", value, minimum=0)


def _v_min_samples(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    _validate.positive_int("min_samples", value, minimum=1)


def _v_non_negative(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    _validate.non_negative(attribute.name, value)


def _v_segment(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, str) and not callable(value):
        msg = (
            "segment must be None, a column name (for mapping rows) or a function of the "
            f"order's segment (got {value!r})"
        )
        raise CareKitError(msg)


def _v_calendar(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    _check_calendar(value)


#: The default of ``lost_after``: see QuantileEstimator.
LOST_AFTER = 1.0
#: Candidate settings self-tuning chooses among (the first of each is the starting point).
AUTO_SHRINKAGE = (10.0, 50.0, 200.0)
AUTO_TREND = (False, True)
COVARIATES = ("weekday", "season")


def _c_lost_after(value: Any) -> float | dt.timedelta | None:
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        if value <= dt.timedelta(0):
            msg = f"lost_after must be a positive duration (got {value!r})"
            raise CareKitError(msg)
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        msg = (
            "lost_after must be a number >= 1 (that many times the longest lead delivered "
            "in the window), a positive datetime.timedelta (an age) or None (never lost) "
            f"(got {_validate.short(value)})"
        )
        raise CareKitError(msg)
    factor = _validate.finite("lost_after", value)
    if factor < 1:
        msg = (
            "lost_after must be >= 1: an order is lost only once it is older than every lead "
            f"delivered in the window (got {value!r})"
        )
        raise CareKitError(msg)
    return factor


def _v_optional_non_negative(instance: object, attribute: attrs.Attribute[Any],
                             value: Any) -> None:
    if value is not None:
        _validate.non_negative(attribute.name, value)


def _v_optional_bool(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and value is not True and value is not False:
        msg = f"{attribute.name} must be True, False or None (chosen walk-forward) (got {value!r})"
        raise CareKitError(msg)


def _c_covariates(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Iterable):
        msg = (
            f"covariates must be a sequence of names from {list(COVARIATES)!r}, e.g. "
            f"('weekday',) (got {_validate.short(value)})"
        )
        raise CareKitError(msg)
    names = tuple(value)
    for name in names:
        if name not in COVARIATES:
            msg = f"covariates: unknown covariate {name!r}; known: {list(COVARIATES)!r}"
            raise CareKitError(msg)
    if len(set(names)) != len(names):
        msg = f"covariates must not repeat a name (got {names!r})"
        raise CareKitError(msg)
    return names


def _c_peaks(value: Any) -> Any:
    if value is None or callable(value):
        return value
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        msg = (
            "peaks must be None (Black Friday week to Christmas Eve), a function of a date, "
            f"or a sequence of (first, last) date pairs (got {_validate.short(value)})"
        )
        raise CareKitError(msg)
    pairs = []
    for item in value:
        if (not isinstance(item, (tuple, list)) or len(item) != 2
                or not all(isinstance(d, dt.date) and not isinstance(d, dt.datetime)
                           for d in item) or item[0] > item[1]):
            msg = f"peaks: each peak must be a (first, last) pair of dates (got {item!r})"
            raise CareKitError(msg)
        pairs.append((item[0], item[1]))
    return tuple(pairs)


def _v_costs(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, PromiseCosts):
        msg = (
            "costs must be None or carekit.promises.PromiseCosts(late=..., per_day=...) "
            f"(got {value!r})"
        )
        raise CareKitError(msg)


def black_friday_to_christmas(day: dt.date) -> bool:
    """Whether ``day`` falls from the Monday of Black Friday week to Christmas Eve."""
    if day.month < 11:
        return False
    nov1 = dt.date(day.year, 11, 1)
    thanksgiving = nov1 + dt.timedelta(days=(3 - nov1.weekday()) % 7 + 21)
    return thanksgiving - dt.timedelta(days=3) <= day <= dt.date(day.year, 12, 24)


def _check_sweep(engine: Any, order: Any) -> None:
    if not isinstance(engine, Engine):
        msg = f"engine must be an estimator's engine(calendar) (got {engine!r:.200})"
        raise CareKitError(msg)
    if not isinstance(order, Order):
        msg = f"order must be a carekit.promises.Order (got {order!r:.200})"
        raise CareKitError(msg)


# -- history --------------------------------------------------------------------------


def _rows(history: Any, segment: Any) -> list[Order]:
    """Orders from ``history`` (cancelled ones included, flagged), sorted by placement."""
    return read_history(history, segment)


def _call_segment(fn: Callable[[Any], Any], value: Any) -> Hashable:
    return call_segment(fn, value)


def _latest(orders: Sequence[Order]) -> dt.datetime | None:
    latest: dt.datetime | None = None
    for o in orders:
        for t in (o.ordered_at, o.delivered_at):
            if t is not None and (latest is None or t > latest):
                latest = t
    return latest


def _expected_lead(value: Any, ordered_at: dt.datetime, cal: BusinessCalendar) -> int:
    """``expected`` given to promise(): business days, a date, or elapsed time.

    A timedelta is calendar time from the day the order counts from (the cut-off applies):
    it is turned into the business days up to the day it ends, so three weeks on a
    Monday-to-Friday calendar are 15 business days, and the seed rule promises 20 (four weeks).
    """
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        start = cal.start_day(ordered_at)
        if value < start:
            msg = (
                f"expected must not be before the day the order counts from, {start} "
                f"(got {value!r})"
            )
            raise CareKitError(msg)
        return cal.business_days_between(ordered_at, value)
    if isinstance(value, dt.timedelta):
        if value < dt.timedelta(0):
            msg = f"expected must be a non-negative duration (got {value!r})"
            raise CareKitError(msg)
        try:
            ends = cal.start_day(ordered_at) + dt.timedelta(days=value / dt.timedelta(days=1))
        except OverflowError:
            msg = f"expected is too long a duration (got {value!r})"
            raise CareKitError(msg) from None
        return cal.business_days_between(ordered_at, ends)
    lead = _validate.positive_int("expected", value, minimum=0)
    if lead > _MAX_LEAD:
        msg = (
            f"expected must be at most {_MAX_LEAD:,} business days (no date is further away; "
            f"got {_validate.short(value)})"
        )
        raise CareKitError(msg)
    return lead


# -- fitted state ---------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _Entry:
    expected: int
    promised: int
    earliest: int | None
    confidence: float
    stages: tuple[StageForecast, ...]
    reliable: bool = True
    basis: tuple[Hashable, ...] | None = None


class _Fitted:
    """What a fitted estimator promises from: one entry per known segment, a date cache."""

    __slots__ = ("by_path", "by_segment", "cache", "calendar", "chain", "cutoff", "dates",
                 "level", "n_cancelled", "n_censored", "n_delivered", "n_lost", "now",
                 "orders", "others", "setting", "trend", "tz")

    def __init__(self, calendar: BusinessCalendar, level: float) -> None:
        self.calendar = calendar
        self.tz = calendar.tz
        self.cutoff = calendar.cutoff
        # (local day ordinal, after cut-off, fold, lead) -> date, for the fitted calendar
        self.dates: dict[tuple[int, bool, int, int], dt.date] = {}
        self.level = level
        self.by_path: dict[Path, _Entry] = {}
        self.by_segment: dict[Hashable, _Entry] = {}
        self.cache: dict[tuple[Any, ...], tuple[dt.date, dt.date]] = {}
        self.n_delivered = 0
        self.n_censored = 0
        self.n_cancelled = 0
        self.n_lost = 0
        # path -> delivered orders in the window (the fallback chain's counts)
        self.chain: dict[Path, int] = {}
        self.setting: dict[str, Any] = {}
        self.trend = 1.0
        # What fit() saw, to count the same history on another calendar (see _on_calendar).
        self.orders: list[Order] = []
        self.now: dt.datetime | None = None
        # id(calendar) -> (calendar, the estimator fitted on it)
        self.others: dict[int, tuple[BusinessCalendar, Any]] = {}

    def entry(self, segment: Hashable | None) -> _Entry:
        path = path_of(segment)
        if path in self.by_path:
            return self.by_path[path]
        while path and path not in self.by_path:
            path = path[:-1]
        # A segment never seen: its parent's promise, which it cannot call its own.
        return attrs.evolve(self.by_path[path], reliable=False)


def _promise_from(
    fitted: _Fitted | None,
    entry_for: Callable[[Hashable | None], _Entry],
    ordered_at: Any,
    calendar: Any,
    segment: Any,
    expected: Any,
) -> Promise:
    """The shared promise() body (fast path first, then the validating one)."""
    cal = calendar
    if cal is None:
        cal = fitted.calendar if fitted is not None else default_calendar()
    elif cal.__class__ is not BusinessCalendar:
        _check_calendar(cal)
    if ordered_at.__class__ is not _DATETIME:
        _validate.aware("ordered_at", ordered_at)
    if ordered_at.tzinfo is None or ordered_at.utcoffset() is None:
        _validate.aware("ordered_at", ordered_at)
    entry = entry_for(segment)
    e, q, lo = entry.expected, entry.promised, entry.earliest
    if expected is not None:
        given = _expected_lead(expected, ordered_at, cal)
        q = given + (q - e)
        lo = None if lo is None else max(0, given - (e - lo))
        e = given
    if fitted is not None and ordered_at.tzinfo is cal.tz and expected is None:
        cutoff = cal.cutoff
        key = (cal, ordered_at.toordinal(), cutoff is not None and ordered_at.time() > cutoff,
               ordered_at.fold, e, q)
        cache = fitted.cache
        dates = cache.get(key)
        if dates is None:
            dates = (cal.add_business_days(ordered_at, e).date(),
                     cal.add_business_days(ordered_at, q).date())
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[key] = dates
        expected_date, promised_date = dates
    else:
        expected_date = cal.add_business_days(ordered_at, e).date()
        promised_date = cal.add_business_days(ordered_at, q).date()
    earliest = None if lo is None else cal.add_business_days(ordered_at, lo).date()
    return make_promise(ordered_at, expected_date, promised_date, q - e, entry.confidence,
                        earliest, segment, entry.stages, cal, entry.reliable, entry.basis)


def _kept_for(others: dict[int, tuple[BusinessCalendar, Any]], calendar: Any,
              make: Callable[[], Any]) -> Any:
    """``others``' copy for ``calendar`` (same object), made by ``make()`` the first time."""
    found = others.get(id(calendar))
    if found is None or found[0] is not calendar:
        _check_calendar(calendar)
        value = make()
        if len(others) >= _OTHER_CALENDARS:
            others.clear()
        found = others[id(calendar)] = (calendar, value)
    return found[1]


class _Learned:
    """Shared behaviour of the estimators learned with the walk-forward engine."""

    __slots__ = ()

    segment: Any
    window: dt.timedelta | None
    min_samples: int
    fallback: int | None
    calendar: BusinessCalendar | None
    lost_after: float | dt.timedelta | None
    _fitted: _Fitted | None

    # subclasses say how a distribution and the calibrated level become lead times
    def _leads(self, cdf: Sequence[float], level: float) -> tuple[int, int, int | None, float]:
        raise NotImplementedError

    def _target(self) -> float:
        return 0.5

    def _rate(self) -> float:
        return 0.0

    def _settings(self) -> list[tuple[float, bool]]:
        """The settings the sweep runs side by side (one unless self-tuning)."""
        raise NotImplementedError

    def _engine_options(self) -> dict[str, Any]:
        return {}

    def _covariates(self) -> tuple[str, ...]:
        return ()

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` produced this estimator."""
        return self._fitted is not None

    @property
    def level(self) -> float:
        """The calibrated quantile level in use after fitting (the target before)."""
        return self._fitted.level if self._fitted is not None else self._target()

    def _lost(self) -> tuple[float | None, dt.timedelta | None]:
        value = self.lost_after
        if value is None:
            return None, None
        if isinstance(value, dt.timedelta):
            return None, value
        return float(value), None

    def engine(self, calendar: BusinessCalendar) -> Engine:
        """A fresh walk-forward engine with this estimator's settings (for backtests)."""
        factor, age = self._lost()
        settings = self._settings()
        return Engine(
            calendar,
            window=self.window,
            shrinkage=settings[0][0],
            target=self._target(),
            rate=self._rate(),
            min_samples=self.min_samples,
            lost_factor=factor,
            lost_age=age,
            settings=settings,
            **self._engine_options(),
        )

    def sweep_promise(self, engine: Engine, order: Order) -> Any:
        """The lead promised to ``order`` from the engine's state now (None: no promise).

        A tuple ``(expected, promised, setting, every setting's promise)`` when the engine
        records them.

        Raises:
            CareKitError: ``engine`` is not one made by :meth:`engine`, or ``order`` not an
                :class:`~carekit.promises.Order`.
        """
        _check_sweep(engine, order)
        if not engine.ready():
            return self.fallback
        return engine.decide(path_of(order.segment))

    def prepare(self, orders: Any) -> list[Order]:
        """``orders`` read and sorted as :meth:`fit` reads history (cancelled ones flagged)."""
        return _rows(orders, self.segment)

    def _with_covariates(self, rows: list[Order], calendar: BusinessCalendar) -> list[Order]:
        """``rows`` with the order-time covariates appended to their segments."""
        if not self._covariates():
            return rows
        return [attrs.evolve(o, segment=self._extend(o.segment, o.ordered_at, calendar))
                for o in rows]

    def _extend(self, segment: Any, ordered_at: dt.datetime, calendar: Any) -> Hashable:
        """``segment`` with the order-time covariates appended (see QuantileEstimator)."""
        same: Hashable = segment
        return same

    def _fit(self, history: Any, now: Any, calendar: Any, *, prepared: bool = False) -> Any:
        cal = _check_calendar(calendar) or self.calendar or default_calendar()
        rows = history if prepared else self.prepare(history)
        orders = self._with_covariates([o for o in rows if not o.cancelled], cal)
        given_now = now
        if now is None:
            now = _latest(orders)
            # The window counts back from the latest order placed, not the latest delivery.
            window_end = orders[-1].ordered_at if orders else None
        else:
            _validate.aware("now", now)
            orders = [o for o in orders if o.ordered_at <= now]
            window_end = now
        engine = self.engine(cal)
        if now is not None:
            engine.run(orders, now, self.sweep_promise, window_end=window_end)
        fitted = _Fitted(cal, engine.level)
        fitted.orders = rows
        fitted.now = given_now
        fitted.n_delivered = engine.root.n_events
        fitted.n_censored = engine.root.n_pending
        fitted.n_cancelled = len(rows) - len([o for o in rows if not o.cancelled])
        fitted.n_lost = sum(engine.is_lost(i) for i in range(len(engine.start)))
        if now is None or not engine.ready():
            if self.fallback is None:
                delivered = sum(o.delivered_at is not None for o in orders)
                if delivered >= self.min_samples:  # pragma: no cover - the window reaches back
                    hint = "the window reaches back to include them; this is a bug"
                else:
                    hint = ("pass more history, a lower min_samples, or a fallback lead time "
                            "in business days (fallback=10)")
                msg = (
                    f"history has {engine.root.n_events} delivered order(s) to learn from "
                    f"({delivered} delivered in all, {fitted.n_cancelled} cancelled, "
                    f"{fitted.n_lost} lost), fewer than min_samples={self.min_samples}; {hint}"
                )
                raise CareKitError(msg)
            f = self.fallback
            entry = _Entry(expected=f, promised=f, earliest=None, confidence=self._target(),
                           stages=(), reliable=False, basis=None)
            fitted.by_path[()] = entry
        else:
            self._fill(engine, fitted)
        for order in orders:
            seg = order.segment
            if seg not in fitted.by_segment:
                fitted.by_segment[seg] = fitted.entry(seg)
        fitted.by_segment.setdefault(None, fitted.by_path[()])
        self._finish(fitted)
        new = attrs.evolve(self)  # type: ignore[misc]
        object.__setattr__(new, "_fitted", fitted)
        return new

    def _fill(self, engine: Engine, fitted: _Fitted) -> None:
        """One entry per segment the engine knows, from the setting making promises."""
        setting = engine.settings[engine.best]
        fitted.setting = setting.describe()
        fitted.setting["segment_calibration"] = engine.segment_rate
        shrinkage = setting.shrinkage
        g = engine.trend_factor() if setting.trend and engine.recent is not None else 1.0
        fitted.trend = g
        enough = self.min_samples
        counts = {path: node.n_events for path, node in engine.nodes.items()}
        fitted.chain = counts
        for path in engine.nodes:
            cdf = _scaled(engine.distribution(path, shrinkage), g)
            e, q, lo, confidence = self._leads(cdf, engine.level_for(path))
            if engine.costs is not None or g != 1.0:
                e, q = engine.leads(setting, path)
                lo = None if lo is None else min(lo, e)
                if engine.costs is not None:
                    confidence = min(max(cdf[q] if q < len(cdf) else cdf[-1], 0.001), 0.999)
            basis = path
            while basis and counts.get(basis, 0) < enough:
                basis = basis[:-1]
            stage = StageForecast(name="delivery", cdf=tuple(cdf))
            fitted.by_path[path] = _Entry(expected=e, promised=q, earliest=lo,
                                          confidence=confidence, stages=(stage,),
                                          reliable=basis == path, basis=basis)

    def _finish(self, fitted: _Fitted) -> None:
        """Last touches to a fit (subclasses)."""

    def _on_calendar(self, calendar: Any) -> Any:
        """This fitted estimator's history counted on ``calendar`` (a fitted copy, kept).

        Lead times are business days, so a promise on another calendar than the one fitted
        on needs the history counted again on it: the same orders, the same ``now``.
        """
        fitted = self._fitted
        assert fitted is not None
        return _kept_for(
            fitted.others, calendar,
            lambda: self._fit(fitted.orders, fitted.now, calendar, prepared=True),
        )

    def _entry_for(self, segment: Any) -> _Entry:
        fitted = self._fitted
        assert fitted is not None
        if callable(self.segment):
            segment = _call_segment(self.segment, segment)
        try:
            found = fitted.by_segment.get(segment)
        except TypeError:
            msg = f"segment must be hashable, e.g. a string or a tuple (got {segment!r})"
            raise CareKitError(msg) from None
        if found is not None:
            return found
        return fitted.entry(segment)

    @property
    def left_out(self) -> dict[str, int]:
        """What fitting left out of the lead times: ``{"cancelled": n, "lost": n}``.

        Cancelled orders (``cancelled=True``) and orders never delivered that counted as lost
        when fitting ended (see ``lost_after``); all zeros before fitting.
        """
        fitted = self._fitted
        if fitted is None:
            return {"cancelled": 0, "lost": 0}
        return {"cancelled": fitted.n_cancelled, "lost": fitted.n_lost}

    def fallback_chain(self, segment: Hashable | None = None) -> tuple[tuple[Path, int], ...]:
        """Where a promise for ``segment`` comes from: its path and each broader one.

        Returns:
            ``(path, delivered orders in the window)`` pairs from the segment's own path to
            ``()`` (all orders). A promise rests on the first path with at least
            ``min_samples`` delivered orders (``Promise.basis``); when that is not the
            segment's own, the promise is not ``Promise.reliable``.

        Raises:
            CareKitError: not fitted, or an unhashable segment.

        Examples:
            >>> import datetime as dt
            >>> from carekit.promises import QuantileEstimator
            >>> t0 = dt.datetime(2026, 1, 5, 9, tzinfo=dt.timezone.utc)
            >>> rows = [(t0 + dt.timedelta(hours=9 * i), t0 + dt.timedelta(hours=9 * i, days=3),
            ...          "north" if i % 10 else "islands") for i in range(200)]
            >>> fitted = QuantileEstimator(min_samples=30).fit(rows)
            >>> fitted.fallback_chain("islands")
            ((('islands',), 20), ((), 200))
            >>> fitted.promise(t0 + dt.timedelta(days=80), segment="islands").reliable
            False
        """
        fitted = self._fitted
        if fitted is None:
            msg = f"this {type(self).__name__} is not fitted; call estimator.fit(history) first"
            raise CareKitError(msg)
        if callable(self.segment):
            segment = _call_segment(self.segment, segment)
        try:
            hash(segment)
        except TypeError:
            msg = f"segment must be hashable, e.g. a string or a tuple (got {segment!r})"
            raise CareKitError(msg) from None
        path = path_of(segment)
        return tuple((path[:depth], fitted.chain.get(path[:depth], 0))
                     for depth in range(len(path), -1, -1))


def _scaled(cdf: Sequence[float], g: float) -> list[float]:
    """``cdf`` of a lead time stretched by ``g``: ``F(floor(t / g))``."""
    if g == 1.0:
        return list(cdf)
    size = max(1, math.ceil(len(cdf) * g - 1e-9))
    last = len(cdf) - 1
    out = []
    for t in range(size):
        k = math.floor(t / g + 1e-9)
        out.append(cdf[k if k < last else last])
    return out


#: More business days than there are days between the years 1 and 9999: no date is that far.
_MAX_LEAD = 3_700_000


def _ceil_to(value: float, step: int) -> int:
    whole = math.ceil(value - 1e-9)
    return -(-whole // step) * step


@attrs.frozen
class PaddedEstimator(_Learned):
    """The seed rule: promise the expected lead time times ``factor`` ("3 weeks → 4").

    The expected lead time is either given to :meth:`promise` (``expected=``) or learned by
    :meth:`fit` as the median lead time per segment (Kaplan–Meier, undelivered orders
    censored).

    Args:
        factor: promised lead = expected lead × factor, at least 1 (default 4/3).
        minimum: at least this many business days of padding.
        round_to: round the promised lead up to a multiple of this many business days
            (5: whole weeks on a Monday-Friday calendar).
        confidence: the confidence stated on promises made without history (a fitted
            estimator states the share of past lead times the promise covers).
        window: learn from orders placed within this long before the latest one (None: all).
        min_samples: delivered orders needed before learning replaces ``fallback``.
        fallback: expected lead in business days while history is too small.
        shrinkage: prior weight, in orders, of the parent segment's distribution.
        segment: None, a column name for mapping rows (each must have it), or a function
            of the segment.
        calendar: the calendar lead times are counted on (default Monday-Friday, UTC).
        lost_after: when an undelivered order counts as lost, as for
            :class:`QuantileEstimator`.

    Raises:
        CareKitError: a factor below 1 (or negative), a negative minimum, ``round_to`` < 1.

    Examples:
        >>> import datetime as dt
        >>> from carekit.calendar import BusinessCalendar
        >>> cal = BusinessCalendar()
        >>> at = dt.datetime(2026, 3, 2, 9, tzinfo=dt.timezone.utc)
        >>> PaddedEstimator(round_to=5).promise(at, calendar=cal, expected=7).padding
        3
    """

    factor: float = attrs.field(default=4 / 3)
    minimum: int = attrs.field(kw_only=True, default=0)
    round_to: int = attrs.field(kw_only=True, default=1)
    confidence: float = attrs.field(kw_only=True, default=0.9, validator=_v_quantile)
    window: dt.timedelta | None = attrs.field(kw_only=True, default=None, converter=_c_window)
    min_samples: int = attrs.field(kw_only=True, default=1, validator=_v_min_samples)
    fallback: int | None = attrs.field(kw_only=True, default=None, converter=_c_fallback)
    shrinkage: float = attrs.field(kw_only=True, default=10.0, validator=_v_non_negative)
    segment: Any = attrs.field(kw_only=True, default=None, validator=_v_segment)
    calendar: BusinessCalendar | None = attrs.field(
        kw_only=True, default=None, validator=_v_calendar
    )
    lost_after: float | dt.timedelta | None = attrs.field(
        kw_only=True, default=LOST_AFTER, converter=_c_lost_after
    )
    _fitted: _Fitted | None = attrs.field(default=None, init=False, eq=False, repr=False)

    def _settings(self) -> list[tuple[float, bool]]:
        return [(self.shrinkage, False)]

    def sweep_promise(self, engine: Engine, order: Order) -> Any:
        _check_sweep(engine, order)
        if not engine.ready():
            if self.fallback is None:
                return None
            return self.fallback, self.pad(self.fallback), 0, None
        cdf = engine.distribution(path_of(order.segment))
        e, q, _, _ = self._leads(cdf, engine.level)
        return e, q, 0, None

    @factor.validator
    def _check_factor(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        f = _validate.finite("factor", value)
        if f < 1:
            msg = f"factor must be >= 1 so promises never come before the estimate (got {value!r})"
            raise CareKitError(msg)

    @minimum.validator
    def _check_minimum(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        _validate.positive_int("minimum", value, minimum=0)

    @round_to.validator
    def _check_round_to(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        _validate.positive_int("round_to", value, minimum=1)

    def pad(self, expected: int) -> int:
        """The promised lead for an expected lead of ``expected`` business days.

        Raises:
            CareKitError: ``expected`` is not a whole number of days >= 0, or the padded
                lead would fall after the year 9999.

        Examples:
            >>> PaddedEstimator().pad(15)
            20
        """
        if expected.__class__ is not int or expected < 0:
            _validate.positive_int("expected", expected, minimum=0)
        try:
            padded = expected * self.factor
        except OverflowError:  # an int too large for a float
            padded = math.inf
        if not padded <= _MAX_LEAD:
            msg = (
                f"a promised lead of {_validate.short(expected)} x {self.factor:g} business "
                "days would fall after the year 9999"
            )
            raise CareKitError(msg)
        return max(expected + self.minimum, _ceil_to(padded, self.round_to))

    def _leads(self, cdf: Sequence[float], level: float) -> tuple[int, int, int | None, float]:
        e = quantile_of(cdf, 0.5)
        q = self.pad(e)
        covered = cdf[q] if q < len(cdf) else cdf[-1]
        return e, q, None, min(max(covered, 0.001), 0.999)

    def fit(self, history: Any, *, now: dt.datetime | None = None,
            calendar: BusinessCalendar | None = None) -> PaddedEstimator:
        """Learn the median lead time per segment; returns a fitted copy.

        Args:
            history: :class:`~carekit.promises.Order` objects, ``(ordered_at, delivered_at,
                segment)`` tuples or mappings with those keys (and optionally ``cancelled``
                and ``order_id``); ``delivered_at=None`` for orders not delivered (censored
                while on their way, left out once lost).
            now: what the estimator may know: orders placed later are left out, deliveries
                later count as not yet delivered (default: the latest time in the history;
                the window then ends at the latest order placed).
            calendar: the calendar lead times are counted on.

        Raises:
            HistoryError: a malformed row, named.
            CareKitError: too little history and no ``fallback``.
        """
        fitted: PaddedEstimator = self._fit(history, now, calendar)
        return fitted

    def _finish(self, fitted: _Fitted) -> None:
        # Too little history: the fallback is the expected lead, padded like any other.
        root = fitted.by_path[()]
        if not root.stages and self.fallback is not None:
            entry = _Entry(expected=self.fallback, promised=self.pad(self.fallback),
                           earliest=None, confidence=self.confidence, stages=())
            fitted.by_path[()] = entry
            for key in list(fitted.by_segment):
                fitted.by_segment[key] = entry

    def promise(
        self,
        ordered_at: dt.datetime,
        calendar: BusinessCalendar | None = None,
        segment: Hashable | None = None,
        expected: int | dt.date | dt.timedelta | None = None,
    ) -> Promise:
        """Promise a delivery date for an order placed at ``ordered_at``.

        Args:
            ordered_at: when the order is placed (timezone-aware).
            calendar: the business calendar (default: the one fitted on, else Mon-Fri UTC).
                Learned lead times are business days of this calendar: on another calendar
                than the one fitted on, the history is counted again on it (once; the copy
                is kept).
            segment: the order's segment (unknown ones use their nearest known parent).
            expected: the expected lead time: business days (an int), the expected date,
                or a timedelta of calendar time counted from the day the order counts from
                (the cut-off applies), turned into the business days up to the day it ends
                (holidays inside it are not business days: three weeks over Christmas may
                be 13 business days). Required when the estimator was not fitted.

        Returns:
            A :class:`Promise` with ``promised`` = expected lead × ``factor``.

        Raises:
            CareKitError: a naive ``ordered_at``, no ``expected`` for an unfitted estimator.
        """
        if self._fitted is None:
            if expected is None:
                msg = "expected is required: this PaddedEstimator was not fitted on history"
                raise CareKitError(msg)
            cal = _check_calendar(calendar) or self.calendar or default_calendar()
            _validate.aware("ordered_at", ordered_at)
            e = _expected_lead(expected, ordered_at, cal)
            entry = _Entry(expected=e, promised=self.pad(e), earliest=None,
                           confidence=self.confidence, stages=())
            return _promise_from(None, lambda s: entry, ordered_at, cal, segment, None)
        if calendar is not None and calendar is not self._fitted.calendar:
            other: PaddedEstimator = self._on_calendar(calendar)
            return other.promise(ordered_at, calendar, segment, expected)
        if expected is not None:
            cal = self._fitted.calendar
            _validate.aware("ordered_at", ordered_at)
            e = _expected_lead(expected, ordered_at, cal)
            base = self._entry_for(segment)
            q = self.pad(e)
            # The share of the segment's past lead times this promise covers, as a fitted
            # promise states it; the fitted promise's own share may be far from it.
            cdf = base.stages[0].cdf if base.stages else ()
            confidence = (min(max(cdf[q] if q < len(cdf) else cdf[-1], 0.001), 0.999)
                          if cdf else base.confidence)
            entry = _Entry(expected=e, promised=q, earliest=None, confidence=confidence,
                           stages=base.stages)
            return _promise_from(None, lambda s: entry, ordered_at, cal, segment, None)
        return _promise_from(self._fitted, self._entry_for, ordered_at, calendar, segment, None)


@attrs.frozen
class QuantileEstimator(_Learned):
    """Promise the ``quantile`` of recent lead times, per segment, calibrated online.

    Lead times are counted in business days of the calendar from the day an order counts
    from (cut-off applied) to its delivery. Only orders placed within ``window`` before the
    latest order placed (or ``now``) are used, reaching further back when the window holds
    fewer than ``min_samples`` delivered orders; orders not delivered yet count as censored
    ("at least this long"), through a Kaplan–Meier estimate, never dropped. Cancelled orders
    (``cancelled=True``) are left out, and orders still undelivered long after every
    comparable delivery count as lost (``lost_after``) and are left out too. A segment's
    distribution is shrunk toward its parent's (a tuple segment ``("north", "carrier-a")``
    has parent ``("north",)``, whose parent is all orders) with a prior weight of
    ``shrinkage`` orders, so small segments borrow from larger ones. Online calibration
    (adaptive conformal inference) replays the history: whenever a past promise turned out
    on time or late the quantile level in use moves, so the realised on-time rate stays at
    ``quantile`` when lead times drift.

    Settings left at None are tuned walk-forward: the replay runs every candidate setting
    side by side, scores each one's promises as deliveries come in, and each promise is made
    by the setting with the best score on outcomes known when it is made, never on the
    period it is scored on (a nested walk-forward). ``estimator.tuned`` says what was chosen.
    A busy history's replay (more than 200 orders on the business day before) refreshes its
    lead-time estimates once a business day, as a nightly refit would (a promise uses them as
    they stood at the day's first promise that asked for them); a quieter one is replayed
    exactly. The fitted estimator uses all the data. Until 1,000 promises have been scored the
    first candidate (shrinkage 10, no trend) promises alone. Settings are scored on their own
    promises at the target; the calibration (overall and per segment) follows the promises
    actually made.

    With ``calibration=0``, ``shrinkage=0`` and ``trend=False``
    the promised lead is the plain empirical quantile: the smallest lead within which at
    least ``quantile`` of the orders were delivered (Kaplan–Meier with censored orders).

    Args:
        quantile: the target probability of beating the promise, in (0, 1).
        window: how far back orders are learned from (a timedelta, days, or None for all).
        min_samples: delivered orders needed to learn; fewer uses ``fallback``. A segment
            with fewer delivered orders in the window is not reliable on its own: its
            promises say so (``Promise.reliable``) and name the broader segment they
            rest on (``Promise.basis``).
        fallback: promised lead in business days while history is too small (None: fitting
            on too little history is an error).
        segment: None (use each order's segment), a column name for mapping rows (a row
            without that key is an error), or a function applied to the segment
            (``lambda s: s[:1]`` to learn only the first level).
        shrinkage: prior weight, in orders, of the parent segment's distribution (None:
            tuned walk-forward among 10, 50 and 200).
        calibration: the step of the online calibration of the level (0 turns it off).
        segment_calibration: the step of each segment's own calibration offset (0, the
            default, turns it off): the on-time rate is then pulled to the target segment
            by segment, not only overall, at a price in padding (see the docs' benchmarks).
        trend: scale promises by how fast the orders of the last three weeks are delivered
            against the window (their 25 % quantiles compared): lead times that drift are
            followed before the window catches up (None: tuned walk-forward).
        lost_after: when an order never delivered counts as lost rather than still on its
            way: a number ``f`` >= 1 (once it is ``f`` times older than the longest lead
            delivered in the window; default 2), a timedelta (once that old), or None
            (never: undelivered orders stay censored however old).
        covariates: order-time covariates that split every segment further, learned with
            shrinkage toward it: ``"weekday"`` (the weekday the order counts from, and
            whether it came after the cut-off) and ``"season"`` (inside a peak or not).
        peaks: the peak periods of the ``"season"`` covariate: None (the Monday of Black
            Friday week to Christmas Eve, every year), a function of a date, or a sequence
            of ``(first, last)`` date pairs.
        costs: choose each segment's promise by cost instead of by ``quantile``: the
            business-day lead minimising ``per_day * lead + late * P(later)`` (see
            :class:`PromiseCosts`); promises then state the quantile chosen as confidence.
        earliest: optional quantile for the start of a delivery window ("between ... and").
        calendar: the calendar lead times are counted on (default Monday-Friday, UTC).

    Raises:
        CareKitError: ``quantile`` outside (0, 1), a non-positive window, ``min_samples`` < 1,
            a negative fallback, shrinkage or calibration, an unknown covariate, a bad
            ``lost_after``, ``peaks`` or ``costs``.

    Examples:
        >>> import datetime as dt
        >>> from carekit.calendar import BusinessCalendar
        >>> cal = BusinessCalendar(tz="UTC")
        >>> t0 = dt.datetime(2026, 1, 5, 9, tzinfo=dt.timezone.utc)
        >>> history = [(t0 + dt.timedelta(days=i), t0 + dt.timedelta(days=i + 7 + i % 5), "N")
        ...            for i in range(60)]
        >>> est = QuantileEstimator(quantile=0.9, calibration=0).fit(history, calendar=cal)
        >>> p = est.promise(dt.datetime(2026, 3, 9, 9, tzinfo=dt.timezone.utc), segment="N")
        >>> p.promised >= p.expected, p.reliable
        (True, True)
    """

    quantile: float = attrs.field(default=0.95, validator=_v_quantile)
    window: dt.timedelta | None = attrs.field(
        kw_only=True, default=dt.timedelta(weeks=12), converter=_c_window
    )
    min_samples: int = attrs.field(kw_only=True, default=30, validator=_v_min_samples)
    fallback: int | None = attrs.field(kw_only=True, default=None, converter=_c_fallback)
    segment: Any = attrs.field(kw_only=True, default=None, validator=_v_segment)
    shrinkage: float | None = attrs.field(
        kw_only=True, default=None, validator=_v_optional_non_negative
    )
    calibration: float = attrs.field(kw_only=True, default=0.0001, validator=_v_non_negative)
    segment_calibration: float = attrs.field(
        kw_only=True, default=0.0, validator=_v_non_negative
    )
    trend: bool | None = attrs.field(kw_only=True, default=None, validator=_v_optional_bool)
    lost_after: float | dt.timedelta | None = attrs.field(
        kw_only=True, default=LOST_AFTER, converter=_c_lost_after
    )
    covariates: tuple[str, ...] = attrs.field(
        kw_only=True, default=(), converter=_c_covariates
    )
    peaks: Any = attrs.field(kw_only=True, default=None, converter=_c_peaks)
    costs: PromiseCosts | None = attrs.field(kw_only=True, default=None, validator=_v_costs)
    earliest: float | None = attrs.field(
        kw_only=True, default=None, validator=_v_optional_quantile
    )
    calendar: BusinessCalendar | None = attrs.field(
        kw_only=True, default=None, validator=_v_calendar
    )
    _fitted: _Fitted | None = attrs.field(default=None, init=False, eq=False, repr=False)

    def _target(self) -> float:
        return self.quantile

    def _rate(self) -> float:
        return self.calibration

    def _settings(self) -> list[tuple[float, bool]]:
        shrinkages = AUTO_SHRINKAGE if self.shrinkage is None else (self.shrinkage,)
        trends = AUTO_TREND if self.trend is None else (self.trend,)
        if self.window is None:
            trends = (False,)  # no window, nothing to compare the recent orders with
        return [(float(k), tr) for k in shrinkages for tr in trends]

    def _engine_options(self) -> dict[str, Any]:
        costs = self.costs
        return {"costs": None if costs is None else (float(costs.late), float(costs.per_day)),
                "segment_rate": self._segment_rate()}

    def _segment_rate(self) -> float:
        return float(self.segment_calibration)

    def _covariates(self) -> tuple[str, ...]:
        return self.covariates

    def _extend(self, segment: Any, ordered_at: dt.datetime, calendar: Any) -> Hashable:
        cal = calendar or self.calendar or default_calendar()
        start = cal.start_day(ordered_at)
        labels: list[Hashable] = []
        for name in self.covariates:
            if name == "weekday":
                label = start.strftime("%a")
                cutoff = cal.cutoff
                if cutoff is not None and start != ordered_at.astimezone(cal.tz).date():
                    label += " (after cut-off)"
                labels.append(label)
            else:
                labels.append("peak" if self._in_peak(start) else "regular")
        return (*path_of(segment), *labels)

    def _in_peak(self, day: dt.date) -> bool:
        peaks = self.peaks
        if peaks is None:
            return black_friday_to_christmas(day)
        if callable(peaks):
            try:
                return bool(peaks(day))
            except Exception as exc:
                msg = f"peaks function failed on {day!r}: {exc!r}"
                raise CareKitError(msg) from exc
        return any(first <= day <= last for first, last in peaks)

    @property
    def tuned(self) -> dict[str, Any] | None:
        """The settings the fitted estimator promises with (None before fitting).

        ``shrinkage`` and ``trend`` as chosen walk-forward (or as given),
        ``segment_calibration``, and ``trend_factor``, the factor promises are scaled by now.
        """
        fitted = self._fitted
        if fitted is None:
            return None
        return {**fitted.setting, "trend_factor": fitted.trend}

    def _leads(self, cdf: Sequence[float], level: float) -> tuple[int, int, int | None, float]:
        q = quantile_of(cdf, level)
        e = min(quantile_of(cdf, 0.5), q)
        lo = None if self.earliest is None else min(quantile_of(cdf, self.earliest), e)
        return e, q, lo, self.quantile

    def fit(self, history: Any, *, now: dt.datetime | None = None,
            calendar: BusinessCalendar | None = None) -> QuantileEstimator:
        """Learn lead-time quantiles from ``history``; returns a fitted copy.

        Args:
            history: :class:`~carekit.promises.Order` objects, ``(ordered_at, delivered_at,
                segment)`` tuples or mappings with those keys (and optionally ``cancelled``
                and ``order_id``); ``delivered_at=None`` for orders not delivered (censored
                while on their way, left out once lost), ``cancelled=True`` to leave an
                order out.
            now: what the estimator may know: orders placed later are left out, deliveries
                later count as not yet delivered (default: the latest time in the history;
                the window then ends at the latest order placed).
            calendar: the calendar lead times are counted on (default: the estimator's).

        Returns:
            A fitted :class:`QuantileEstimator`; per-segment quantiles are cached, so
            :meth:`promise` costs a few lookups. ``tuned`` and ``left_out`` say what the
            fit chose and what it left out.

        Raises:
            HistoryError: a malformed row (naive times among aware ones, a delivery before
                its order, a repeated order id, an unknown cancelled value), named.
            CareKitError: fewer than ``min_samples`` delivered orders in all and no
                ``fallback``.
        """
        fitted: QuantileEstimator = self._fit(history, now, calendar)
        return fitted

    def promise(
        self,
        ordered_at: dt.datetime,
        calendar: BusinessCalendar | None = None,
        segment: Hashable | None = None,
        expected: int | dt.date | dt.timedelta | None = None,
    ) -> Promise:
        """Promise a delivery date for an order placed at ``ordered_at``.

        Args:
            ordered_at: when the order is placed (timezone-aware).
            calendar: the business calendar (default: the one fitted on). Lead times are
                business days of this calendar: on another calendar than the one fitted
                on, the history is counted again on it (once; the copy is kept).
            segment: the order's segment (unknown ones use their nearest known parent).
            expected: your own expected lead (business days, a timedelta of calendar time
                from the order, or the expected date): the learned padding is added to it.

        Returns:
            A :class:`Promise`; ``promised`` is the calibrated quantile of the segment's
            lead times, ``expected`` its median.

        Raises:
            CareKitError: not fitted, a naive ``ordered_at``, an unhashable segment.
        """
        fitted = self._fitted
        if fitted is None:
            msg = "this QuantileEstimator is not fitted; call estimator.fit(history) first"
            raise CareKitError(msg)
        if calendar is not None and calendar is not fitted.calendar:
            other: QuantileEstimator = self._on_calendar(calendar)
            return other.promise(ordered_at, calendar, segment, expected)
        if self.covariates:
            _validate.aware("ordered_at", ordered_at)
            mapped = (_call_segment(self.segment, segment) if callable(self.segment)
                      else segment)
            try:
                hash(mapped)
            except TypeError:
                msg = f"segment must be hashable, e.g. a string or a tuple (got {mapped!r})"
                raise CareKitError(msg) from None
            extended = self._extend(mapped, ordered_at, fitted.calendar)
            return _promise_from(fitted, lambda s: fitted.entry(extended), ordered_at,
                                 calendar, segment, expected)
        if (
            expected is None
            and ordered_at.__class__ is _DATETIME
            and ordered_at.tzinfo is fitted.tz
            and not callable(self.segment)
        ):
            # The hot path: a known segment, a datetime already in the calendar's zone.
            try:
                entry = fitted.by_segment.get(segment)
            except TypeError:
                entry = None
            if entry is not None:
                cutoff = fitted.cutoff
                late = cutoff is not None and ordered_at.time() > cutoff
                day = ordered_at.toordinal()
                fold = ordered_at.fold
                dates = fitted.dates
                e = entry.expected
                q = entry.promised
                expected_date = dates.get((day, late, fold, e))
                if expected_date is None:
                    expected_date = self._date(fitted, ordered_at, (day, late, fold, e))
                promised_date = dates.get((day, late, fold, q))
                if promised_date is None:
                    promised_date = self._date(fitted, ordered_at, (day, late, fold, q))
                lo = entry.earliest
                earliest = (None if lo is None
                            else fitted.calendar.add_business_days(ordered_at, lo).date())
                return make_promise(ordered_at, expected_date, promised_date, q - e,
                                    entry.confidence, earliest, segment, entry.stages,
                                    fitted.calendar, entry.reliable, entry.basis)
        return _promise_from(fitted, self._entry_for, ordered_at, calendar, segment, expected)

    @staticmethod
    def _date(fitted: _Fitted, ordered_at: dt.datetime, key: tuple[int, bool, int, int]
              ) -> dt.date:
        dates = fitted.dates
        if len(dates) >= _CACHE_LIMIT:
            dates.clear()
        found: dt.date = fitted.calendar.add_business_days(ordered_at, key[3]).date()
        dates[key] = found
        return found

    def lead_times(
        self, segment: Hashable | None = None, *, calendar: BusinessCalendar | None = None
    ) -> tuple[int, int]:
        """The expected and promised lead times, in business days, for ``segment``.

        Args:
            segment: the segment (unknown ones use their nearest known parent).
            calendar: the calendar the days are counted on (default: the one fitted on).

        Raises:
            CareKitError: not fitted, or ``calendar`` is not a BusinessCalendar.
        """
        if self._fitted is None:
            msg = "this QuantileEstimator is not fitted; call estimator.fit(history) first"
            raise CareKitError(msg)
        if calendar is not None and calendar is not self._fitted.calendar:
            other: QuantileEstimator = self._on_calendar(calendar)
            return other.lead_times(segment)
        entry = self._entry_for(segment)
        return entry.expected, entry.promised


# -- staged goods ---------------------------------------------------------------------


def _pmf(cdf: Sequence[float]) -> list[float]:
    pmf = [cdf[0]] + [cdf[k] - cdf[k - 1] for k in range(1, len(cdf))]
    tail = 1.0 - cdf[-1]
    pmf.append(tail if tail > 0 else 0.0)
    return pmf


def convolve(cdfs: Sequence[Sequence[float]]) -> list[float]:
    """The cdf of the sum of independent stage lead times (the tail sits past each end)."""
    total = [1.0]
    for cdf in cdfs:
        pmf = _pmf(cdf)
        out = [0.0] * (len(total) + len(pmf) - 1)
        for i, a in enumerate(total):
            if a:
                for j, b in enumerate(pmf):
                    out[i + j] += a * b
        total = out
    cdf_out: list[float] = []
    acc = 0.0
    for x in total:
        acc += x
        cdf_out.append(min(acc, 1.0))
    return cdf_out


def pmf_of(cdf: Sequence[float]) -> list[float]:
    """Probability of each lead time, the mass past the end put on ``len(cdf)``."""
    return _pmf(cdf)


@attrs.frozen(kw_only=True)
class StagedEstimator:
    """Made-to-order goods: production, then the carrier; each stage learned on its own.

    The total lead time is the sum of the stages' lead times, taken as independent: its
    distribution is the convolution of the stages' (shrunk, censored) distributions, so the
    promise is a quantile of the sum, not the sum of quantiles, which would over-pad.

    Args:
        stages: ``{"production": QuantileEstimator(...), "carrier": QuantileEstimator(...)}``
            in the order the stages happen (a mapping or a sequence of ``(name, estimator)``).
        quantile: the target probability of beating the promise.
        earliest: optional quantile for the start of a delivery window.

    Raises:
        CareKitError: no stages, a stage that is not a QuantileEstimator, a bad quantile.

    Examples:
        >>> import datetime as dt
        >>> from carekit.calendar import BusinessCalendar
        >>> cal = BusinessCalendar()
        >>> t0 = dt.datetime(2026, 1, 5, 9, tzinfo=dt.timezone.utc)
        >>> made = [(t0 + dt.timedelta(days=i), t0 + dt.timedelta(days=i + 14)) for i in range(40)]
        >>> sent = [(t0 + dt.timedelta(days=i), t0 + dt.timedelta(days=i + 3)) for i in range(40)]
        >>> staged = StagedEstimator(stages={"production": QuantileEstimator(calibration=0),
        ...                                  "carrier": QuantileEstimator(calibration=0)})
        >>> fitted = staged.fit({"production": made, "carrier": sent}, calendar=cal)
        >>> [s.name for s in fitted.promise(t0 + dt.timedelta(days=60)).stages]
        ['production', 'carrier']
    """

    stages: tuple[tuple[str, QuantileEstimator], ...] = attrs.field()
    quantile: float = attrs.field(default=0.95, validator=_v_quantile)
    earliest: float | None = attrs.field(default=None, validator=_v_optional_quantile)
    # (calendar fitted on, segment -> entry, id(calendar) -> (calendar, copy fitted on it))
    _fitted: tuple[
        BusinessCalendar,
        dict[Hashable, _Entry],
        dict[int, tuple[BusinessCalendar, StagedEstimator]],
    ] | None = attrs.field(default=None, init=False, eq=False, repr=False)

    @stages.validator
    def _check_stages(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not value:
            msg = f"stages must name at least one stage estimator (got {value!r})"
            raise CareKitError(msg)
        names = [n for n, _ in value]
        for name, est in value:
            if not isinstance(name, str) or not name:
                msg = f"stages: stage names must be non-empty strings (got {name!r})"
                raise CareKitError(msg)
            if not isinstance(est, QuantileEstimator):
                msg = f"stages[{name!r}] must be a QuantileEstimator (got {_validate.short(est)})"
                raise CareKitError(msg)
        if len(set(names)) != len(names):
            msg = f"stages: stage names must be unique (got {names!r})"
            raise CareKitError(msg)

    def __init__(
        self,
        stages: Mapping[str, QuantileEstimator] | Sequence[tuple[str, QuantileEstimator]],
        *,
        quantile: float = 0.95,
        earliest: float | None = None,
    ) -> None:
        if isinstance(stages, Mapping):
            items = tuple(stages.items())
        elif isinstance(stages, (list, tuple)) and all(
            isinstance(s, tuple) and len(s) == 2 for s in stages
        ):
            items = tuple(stages)
        else:
            msg = (
                "stages must be a mapping or a sequence of (name, QuantileEstimator) pairs "
                f"(got {_validate.short(stages)})"
            )
            raise CareKitError(msg)
        self.__attrs_init__(stages=items, quantile=quantile, earliest=earliest)  # type: ignore[attr-defined]

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` produced this estimator."""
        return self._fitted is not None

    def fit(
        self,
        history: Mapping[str, Any],
        *,
        now: dt.datetime | None = None,
        calendar: BusinessCalendar | None = None,
    ) -> StagedEstimator:
        """Fit every stage on its own history; returns a fitted copy.

        Args:
            history: stage name -> that stage's history, ``(started_at, finished_at,
                segment)`` triples (production: ordered -> made; carrier: handed over ->
                delivered); ``finished_at=None`` while the stage is still running.
            now: what may be known (default: each stage history's latest time).
            calendar: the calendar every stage is counted on.

        Raises:
            CareKitError: a stage missing from ``history`` or an unknown stage name.
        """
        if not isinstance(history, Mapping):
            msg = f"history must map stage names to histories (got {_validate.short(history)})"
            raise CareKitError(msg)
        names = [n for n, _ in self.stages]
        unknown = sorted(set(history) - set(names))
        missing = [n for n in names if n not in history]
        if unknown or missing:
            msg = (
                f"history must have exactly the stages {names!r} "
                f"(missing {missing!r}, unknown {unknown!r})"
            )
            raise CareKitError(msg)
        cal = _check_calendar(calendar) or default_calendar()
        return self._assemble(
            tuple((name, est.fit(history[name], now=now, calendar=cal))
                  for name, est in self.stages),
            cal,
        )

    def _assemble(
        self, fitted_stages: tuple[tuple[str, QuantileEstimator], ...], cal: BusinessCalendar
    ) -> StagedEstimator:
        new = StagedEstimator(stages=fitted_stages, quantile=self.quantile,
                              earliest=self.earliest)
        segments: set[Hashable] = {None}
        for _, est in fitted_stages:
            assert est._fitted is not None
            segments.update(est._fitted.by_segment)
        table = {seg: new._combine(seg) for seg in segments}
        object.__setattr__(new, "_fitted", (cal, table, {}))
        return new

    def _combine(self, segment: Hashable | None) -> _Entry:
        forecasts = []
        for name, est in self.stages:
            assert est._fitted is not None
            entry = est._entry_for(segment)
            cdf = entry.stages[0].cdf if entry.stages else _step(entry.promised)
            forecasts.append(StageForecast(name=name, cdf=cdf))
        total = convolve([f.cdf for f in forecasts])
        q = quantile_of(total, self.quantile)
        e = min(quantile_of(total, 0.5), q)
        lo = None if self.earliest is None else min(quantile_of(total, self.earliest), e)
        return _Entry(expected=e, promised=q, earliest=lo, confidence=self.quantile,
                      stages=tuple(forecasts))

    def promise(
        self,
        ordered_at: dt.datetime,
        calendar: BusinessCalendar | None = None,
        segment: Hashable | None = None,
        expected: int | dt.date | dt.timedelta | None = None,
    ) -> Promise:
        """Promise a date covering every stage; ``promise.stages`` keeps each stage's forecast.

        On another ``calendar`` than the one fitted on, every stage's history is counted
        again on it (once; the copy is kept), as :meth:`QuantileEstimator.promise` does.

        Raises:
            CareKitError: not fitted, a naive ``ordered_at``.
        """
        if self._fitted is None:
            msg = "this StagedEstimator is not fitted; call estimator.fit({stage: history}) first"
            raise CareKitError(msg)
        cal, table, others = self._fitted
        if calendar is not None and calendar is not cal:
            # Lead times are business days: count every stage's history on this calendar.
            other: StagedEstimator = _kept_for(
                others, calendar,
                lambda: self._assemble(
                    tuple((name, est._on_calendar(calendar)) for name, est in self.stages),
                    calendar,
                ),
            )
            return other.promise(ordered_at, calendar, segment, expected)

        def entry_for(seg: Any) -> _Entry:
            try:
                found = table.get(seg)
            except TypeError:
                msg = f"segment must be hashable, e.g. a string or a tuple (got {seg!r})"
                raise CareKitError(msg) from None
            return found if found is not None else self._combine(seg)

        holder = _Fitted(cal, self.quantile)
        return _promise_from(holder, entry_for, ordered_at, calendar, segment, expected)


def _step(lead: int) -> tuple[float, ...]:
    return (0.0,) * lead + (1.0,)
