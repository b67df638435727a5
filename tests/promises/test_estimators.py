"""Estimators against independent references: sorted empirical quantiles, hand-worked
Kaplan–Meier tables and calendar arithmetic done by hand on a printed calendar."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from carekit import CareKitError
from carekit.calendar import BusinessCalendar
from carekit.promises import Order, PaddedEstimator, QuantileEstimator, StagedEstimator

UTC = dt.timezone.utc
EVERY_DAY = BusinessCalendar(workdays=range(7), tz="UTC")
WEEKDAYS = BusinessCalendar(tz="UTC")
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday


def plain(**kw):
    """No calibration, no window, no shrinkage: the textbook estimate."""
    base = dict(calibration=0, window=None, shrinkage=0, min_samples=1)
    base.update(kw)
    return QuantileEstimator(**base)


# -- the seed rule ------------------------------------------------------------------------


def test_three_weeks_become_four():
    # 2026-03-02 is a Monday; 15 business days later is Monday 2026-03-23, 20 is 2026-03-30.
    p = PaddedEstimator().promise(dt.datetime(2026, 3, 2, 10, tzinfo=UTC), calendar=WEEKDAYS,
                                  expected=15)
    assert (p.expected, p.promised, p.padding) == (dt.date(2026, 3, 23), dt.date(2026, 3, 30), 5)


@pytest.mark.parametrize(
    ("kw", "expected", "promised"),
    [
        ({}, 1, 2),  # 4/3 rounds up
        ({"factor": 1.5}, 4, 6),
        ({"round_to": 5}, 7, 10),  # 9.33 -> 10 (whole weeks)
        ({"minimum": 3}, 3, 6),  # 4 would pad only 1
        ({"factor": 1}, 6, 6),
        ({"factor": 1.1}, 50, 55),  # 50 x 11/10 = 55 exactly; the float product is 55.0000...1
    ],
)
def test_pad_rule(kw, expected, promised):
    assert PaddedEstimator(**kw).pad(expected) == promised


def test_cut_off_moves_the_start_day():
    # Friday 2026-03-06 15:00 is after the 14:00 cut-off: the order counts from Monday 9th;
    # three business days later is Thursday 12th, four is Friday 13th.
    cal = BusinessCalendar(cutoff=dt.time(14), tz="Europe/London")
    at = dt.datetime(2026, 3, 6, 15, 0, tzinfo=cal.tz)
    p = PaddedEstimator().promise(at, calendar=cal, expected=3)
    assert (p.expected, p.promised) == (dt.date(2026, 3, 12), dt.date(2026, 3, 13))
    before = PaddedEstimator().promise(at.replace(hour=13), calendar=cal, expected=3)
    assert (before.expected, before.promised) == (dt.date(2026, 3, 11), dt.date(2026, 3, 12))


def test_padded_learns_the_median():
    # lead times 2, 4, 6, 8, 10 days on an every-day calendar: median 6, promise 8.
    history = [(T0 + dt.timedelta(days=i), T0 + dt.timedelta(days=i + 2 * (i + 1)), None)
               for i in range(5)]
    est = PaddedEstimator().fit(history, calendar=EVERY_DAY)
    at = dt.datetime(2026, 2, 2, 9, tzinfo=UTC)
    p = est.promise(at)
    assert (p.expected - at.date()).days == 6
    assert (p.promised - at.date()).days == 8


def test_a_fitted_padded_promise_with_its_own_expected_states_its_own_coverage():
    # lead times 2, 4, 6, 8, 10 days on an every-day calendar; each covers a fifth.
    history = [(T0 + dt.timedelta(days=i), T0 + dt.timedelta(days=i + 2 * (i + 1)), None)
               for i in range(5)]
    est = PaddedEstimator().fit(history, calendar=EVERY_DAY)
    at = dt.datetime(2026, 2, 2, 9, tzinfo=UTC)
    assert est.promise(at).confidence == pytest.approx(0.8)  # 8 days: the leads of 2 to 8
    # Regression: a promise from a given expected lead stated the fitted promise's share
    # (0.8) whatever it promised; 3 days padded to 4 cover two of the five leads.
    short = est.promise(at, expected=3)
    assert (short.promised - at.date()).days == 4
    assert short.confidence == pytest.approx(0.4)
    assert est.promise(at, expected=12).confidence == 0.999  # beyond every lead seen
    assert est.promise(at, expected=0).confidence == 0.001  # the same day: none of them


def test_padded_errors():
    with pytest.raises(CareKitError, match="factor"):
        PaddedEstimator(factor=-1)
    with pytest.raises(CareKitError, match="factor"):
        PaddedEstimator(factor=0.5)
    with pytest.raises(CareKitError, match="round_to"):
        PaddedEstimator(round_to=0)
    with pytest.raises(CareKitError, match="minimum"):
        PaddedEstimator(minimum=-2)
    with pytest.raises(CareKitError, match="expected is required"):
        PaddedEstimator().promise(T0, calendar=WEEKDAYS)
    with pytest.raises(CareKitError, match="ordered_at"):
        PaddedEstimator().promise(dt.datetime(2026, 1, 5), calendar=WEEKDAYS, expected=3)
    with pytest.raises(CareKitError, match="expected"):
        PaddedEstimator().promise(T0, calendar=WEEKDAYS, expected=-3)
    for bad in (None, "3", -1, 2.5, True):
        with pytest.raises(CareKitError, match=r"expected must be an integer >= 0"):
            PaddedEstimator().pad(bad)


# -- learned quantiles ------------------------------------------------------------------


LEADS = [3, 9, 4, 4, 12, 5, 7, 3, 6, 8, 5, 15, 4, 6, 5, 10, 7, 5, 4, 6]


def uncensored_history(leads=LEADS, segment=None):
    return [(T0 + dt.timedelta(hours=6 * i), T0 + dt.timedelta(hours=6 * i, days=lead), segment)
            for i, lead in enumerate(leads)]


@pytest.mark.parametrize("p", [0.05, 0.25, 0.5, 0.8, 0.9, 0.95])
def test_quantile_is_the_sorted_empirical_quantile(p):
    # Reference: the inverse empirical cdf, read off the sorted sample (Hyndman & Fan type 1).
    ref = sorted(LEADS)[math.ceil(p * len(LEADS)) - 1]
    est = plain(quantile=p).fit(uncensored_history(), calendar=EVERY_DAY)
    at = dt.datetime(2026, 2, 1, 12, tzinfo=UTC)
    promise = est.promise(at)
    assert (promise.promised - at.date()).days == ref
    median = sorted(LEADS)[math.ceil(0.5 * len(LEADS)) - 1]
    assert (promise.expected - at.date()).days == min(median, ref)
    assert promise.padding == ref - min(median, ref)
    assert promise.confidence == p


def test_censored_orders_count_as_at_least_this_long():
    # Leads 1, 2, 2, 3 plus one order still on its way after 2 days.
    # Hand-worked Kaplan–Meier: t=1: 5 at risk, 1 event -> S = 4/5; t=2: 4 at risk, 2 events
    # -> S = 4/5 * 2/4 = 0.4 (F = 0.6); the censored order leaves after t=2; t=3: 1 at risk,
    # 1 event -> F = 1. So the 0.7 quantile is 3 days. Dropping the open order would give
    # F(2) = 3/4 and a 0.7 quantile of 2 days.
    base = T0
    history = [
        (base, base + dt.timedelta(days=1), None),
        (base, base + dt.timedelta(days=2), None),
        (base, base + dt.timedelta(days=2), None),
        (base, base + dt.timedelta(days=3), None),
        (base + dt.timedelta(days=1), None, None),
    ]
    now = base + dt.timedelta(days=3, hours=1)
    est = plain(quantile=0.7).fit(history, now=now, calendar=EVERY_DAY)
    assert est.lead_times() == (2, 3)
    dropped = plain(quantile=0.7).fit(history[:4], now=now, calendar=EVERY_DAY)
    assert dropped.lead_times() == (2, 2)


def test_deliveries_after_now_are_not_seen():
    fast = [(T0, T0 + dt.timedelta(days=2), None)] * 10
    slow = [(T0, T0 + dt.timedelta(days=20), None)] * 3
    now = T0 + dt.timedelta(days=5)
    # At `now` the slow ones are open for 5 days: F(2) = 10/13 < 0.9 and the estimate never
    # reaches 0.9, so the promise is the longest time seen (at least 5 days), never 2.
    est = plain(quantile=0.9).fit(fast + slow, now=now, calendar=EVERY_DAY)
    assert est.lead_times() == (2, 5)
    # Seen after delivery, the 0.9 quantile is 20.
    assert plain(quantile=0.9).fit(fast + slow, calendar=EVERY_DAY).lead_times() == (2, 20)


def test_segments_and_shrinkage_toward_the_parent():
    fast = uncensored_history([2] * 40, "SP")
    slow = uncensored_history([10] * 4, "AM")
    history = fast + slow
    own = plain(quantile=0.5).fit(history, calendar=EVERY_DAY)
    assert own.lead_times("SP") == (2, 2)
    assert own.lead_times("AM") == (10, 10)
    # With a prior weight of 20 orders the 4 AM orders are mixed with the parent (44 orders,
    # 40 at 2 days): F_AM(2) = (4*0 + 20*40/44) / 24 = 0.758 >= 0.5, so the median is 2.
    shrunk = plain(quantile=0.5, shrinkage=20).fit(history, calendar=EVERY_DAY)
    assert shrunk.lead_times("AM") == (2, 2)
    # the 0.8 quantile: F_AM(2) = 0.758 < 0.8, next lead with mass is 10.
    assert plain(quantile=0.8, shrinkage=20).fit(history, calendar=EVERY_DAY).lead_times(
        "AM") == (2, 10)
    # an unknown segment falls back to all orders; a tuple to its nearest known parent
    assert own.lead_times("unknown") == own.lead_times(None)
    assert own.lead_times(("SP", "carrier-x")) == own.lead_times("SP")


def test_segment_column_and_function():
    rows = [{"ordered_at": o, "delivered_at": d, "state": s}
            for o, d, s in uncensored_history([3] * 10, "X") + uncensored_history([7] * 10, "Y")]
    est = plain(quantile=0.5, segment="state").fit(rows, calendar=EVERY_DAY)
    assert est.lead_times("X") == (3, 3)
    pooled = plain(quantile=0.5, segment=lambda s: None).fit(
        uncensored_history([3] * 10, "X") + uncensored_history([7] * 11, "Y"),
        calendar=EVERY_DAY)
    assert pooled.lead_times("X") == (7, 7)


def test_window_forgets_old_orders():
    old = uncensored_history([20] * 30)
    recent = [(o + dt.timedelta(days=200), d + dt.timedelta(days=200), s)
              for o, d, s in uncensored_history([3] * 30)]
    est = plain(quantile=0.9, window=dt.timedelta(weeks=8)).fit(old + recent,
                                                                 calendar=EVERY_DAY)
    assert est.lead_times() == (3, 3)
    everything = plain(quantile=0.9).fit(old + recent, calendar=EVERY_DAY)
    assert everything.lead_times()[1] == 20


def test_the_longest_time_seen_is_seen_in_the_window():
    # Worked by hand on a Monday-Friday calendar, now = Monday 2024-06-03 noon. 30 orders
    # placed Tuesday 05-14 were delivered Monday 05-20: 4 business days. 10 orders placed
    # Friday 05-24 are still on their way, 6 business days old. Kaplan-Meier: at lead 4,
    # 30 of the 40 at risk are delivered (cdf 0.75); the other 10 are censored at 6, so 95 %
    # is never reached and the promise is the longest time seen in the window: 6 days (the
    # median is 4). An order placed 100 days before, outside the 12-week window, that took
    # 42 business days must not count (it made the promise 42 before this was fixed).
    now = dt.datetime(2024, 6, 3, 12, tzinfo=UTC)
    recent = [(now - dt.timedelta(days=20, minutes=i), now - dt.timedelta(days=14, minutes=i),
               None) for i in range(30)]
    recent += [(now - dt.timedelta(days=10, minutes=i), None, None) for i in range(10)]
    old = [(now - dt.timedelta(days=100), now - dt.timedelta(days=40), None)]
    est = plain(quantile=0.95, window=dt.timedelta(weeks=12))
    assert est.fit(recent, now=now, calendar=WEEKDAYS).lead_times() == (4, 6)
    assert est.fit(recent + old, now=now, calendar=WEEKDAYS).lead_times() == (4, 6)


def test_business_day_lead_times_on_a_weekday_calendar():
    # Ordered Monday 09:00, delivered the next Monday: 5 business days. Delivered on a
    # Saturday it counts as the following Monday (a promise for Friday was missed).
    history = [(T0 + dt.timedelta(weeks=i), T0 + dt.timedelta(weeks=i, days=7), None)
               for i in range(5)]
    est = plain(quantile=0.5).fit(history, calendar=WEEKDAYS)
    assert est.lead_times() == (5, 5)
    saturday = [(T0 + dt.timedelta(weeks=i), T0 + dt.timedelta(weeks=i, days=5), None)
                for i in range(5)]
    assert plain(quantile=0.5).fit(saturday, calendar=WEEKDAYS).lead_times() == (5, 5)


def test_earliest_window():
    est = plain(quantile=0.9, earliest=0.1).fit(uncensored_history(), calendar=EVERY_DAY)
    p = est.promise(dt.datetime(2026, 2, 1, 12, tzinfo=UTC))
    assert p.earliest is not None
    assert p.earliest <= p.expected <= p.promised
    assert (p.earliest - dt.date(2026, 2, 1)).days == sorted(LEADS)[1]


def test_earliest_never_before_the_order_counts_from():
    # With a given expected lead shorter than the history's, the window's start shifts
    # back with it, but never before the day the order counts from.
    est = plain(quantile=0.9, earliest=0.1).fit(uncensored_history(), calendar=EVERY_DAY)
    at = dt.datetime(2026, 2, 1, 12, tzinfo=UTC)
    p = est.promise(at, expected=0)
    assert p.earliest is not None
    assert p.earliest == at.date() == p.expected


def test_expected_given_shifts_the_distribution():
    est = plain(quantile=0.9).fit(uncensored_history(), calendar=EVERY_DAY)
    at = dt.datetime(2026, 2, 1, 12, tzinfo=UTC)
    base = est.promise(at)
    mine = est.promise(at, expected=20)
    assert (mine.expected - at.date()).days == 20
    assert mine.padding == base.padding
    assert est.promise(at, expected=dt.date(2026, 2, 21)) == mine


def test_fit_returns_a_copy_and_calibration_moves_the_level():
    est = QuantileEstimator(quantile=0.9, min_samples=5)
    history = [(T0 + dt.timedelta(days=i), T0 + dt.timedelta(days=i + lead), None)
               for i, lead in enumerate(LEADS * 3)]
    fitted = est.fit(history, calendar=EVERY_DAY)
    assert not est.fitted and fitted.fitted
    assert fitted.level != 0.9  # outcomes of past promises moved it
    assert est.level == 0.9


def test_quantile_errors_name_the_argument():
    for kw, name in [({"quantile": 0}, "quantile"), ({"quantile": 1}, "quantile"),
                     ({"quantile": 1.5}, "quantile"), ({"window": dt.timedelta(0)}, "window"),
                     ({"min_samples": 0}, "min_samples"), ({"fallback": -1}, "fallback"),
                     ({"shrinkage": -1}, "shrinkage"), ({"calibration": -0.1}, "calibration"),
                     ({"segment": 3}, "segment"), ({"calendar": "UTC"}, "calendar")]:
        with pytest.raises(CareKitError, match=name):
            QuantileEstimator(**kw)
    with pytest.raises(CareKitError, match="not fitted"):
        QuantileEstimator().promise(T0)
    with pytest.raises(CareKitError, match="min_samples"):
        QuantileEstimator().fit([])
    with pytest.raises(CareKitError, match="ordered_at"):
        QuantileEstimator().fit([(dt.datetime(2026, 1, 1), None, None)])
    with pytest.raises(CareKitError, match="delivered_at must not be before"):
        QuantileEstimator().fit([(T0, T0 - dt.timedelta(days=1), None)])
    with pytest.raises(CareKitError, match=r"history\[0\]"):
        QuantileEstimator().fit([42])
    with pytest.raises(CareKitError, match="history"):
        QuantileEstimator().fit(42)
    fitted = plain().fit(uncensored_history(), calendar=EVERY_DAY)
    with pytest.raises(CareKitError, match="segment"):
        fitted.promise(T0, segment=["x"])
    with pytest.raises(CareKitError, match="ordered_at"):
        fitted.promise(dt.datetime(2026, 1, 5))
    with pytest.raises(CareKitError, match="calendar"):
        fitted.promise(T0, calendar="UTC")


def test_fallback_on_empty_history():
    est = QuantileEstimator(fallback=10).fit([], calendar=WEEKDAYS)
    p = est.promise(T0)  # Monday + 10 business days
    assert p.promised == dt.date(2026, 1, 19)
    assert QuantileEstimator(fallback=dt.timedelta(days=3)).fit([]).lead_times() == (3, 3)


def test_orders_accepted_as_objects():
    orders = [Order(ordered_at=o, delivered_at=d, segment=s) for o, d, s in uncensored_history()]
    a = plain().fit(orders, calendar=EVERY_DAY)
    b = plain().fit(uncensored_history(), calendar=EVERY_DAY)
    assert a.lead_times() == b.lead_times()


def test_promise_speed_path_matches_slow_path():
    cal = BusinessCalendar(cutoff=dt.time(14), tz="Europe/London")
    est = plain(quantile=0.9).fit(uncensored_history(), calendar=cal)
    for hours in range(0, 24 * 9, 5):
        local = dt.datetime(2026, 3, 2, tzinfo=cal.tz) + dt.timedelta(hours=hours)
        fast = est.promise(local)
        slow = est.promise(local.astimezone(UTC))
        assert fast.promised == slow.promised
        assert fast.promised == cal.add_business_days(local, est.lead_times()[1]).date()


# -- staged goods -----------------------------------------------------------------------


def test_staged_convolves_stage_distributions():
    # production 10 or 12 days (half each), carrier 2 or 3 days (half each), independent:
    # totals 12, 13, 14, 15 with probability 1/4 each. The 0.75 quantile of the total is 14,
    # while adding the stages' own 0.75 quantiles would promise 12 + 3 = 15.
    made = [(T0 + dt.timedelta(hours=i), T0 + dt.timedelta(hours=i, days=10 + 2 * (i % 2)), None)
            for i in range(40)]
    sent = [(T0 + dt.timedelta(hours=i), T0 + dt.timedelta(hours=i, days=2 + (i % 2)), None)
            for i in range(40)]
    staged = StagedEstimator(stages={"production": plain(), "carrier": plain()}, quantile=0.75)
    fitted = staged.fit({"production": made, "carrier": sent}, calendar=EVERY_DAY)
    at = dt.datetime(2026, 3, 1, 8, tzinfo=UTC)
    p = fitted.promise(at)
    assert (p.promised - at.date()).days == 14
    assert (p.expected - at.date()).days == 13
    assert [s.name for s in p.stages] == ["production", "carrier"]


def test_staged_errors():
    with pytest.raises(CareKitError, match="stages"):
        StagedEstimator(stages={})
    with pytest.raises(CareKitError, match="QuantileEstimator"):
        StagedEstimator(stages={"production": PaddedEstimator()})
    staged = StagedEstimator(stages=[("production", plain()), ("carrier", plain())])
    with pytest.raises(CareKitError, match="missing"):
        staged.fit({"production": []})
    with pytest.raises(CareKitError, match="not fitted"):
        staged.promise(T0)


def test_segment_function_applies_to_promise_segments():
    # learn per first letter; a raw segment that is also a learned key is still mapped
    history = uncensored_history([3] * 10, "Sx") + uncensored_history([9] * 10, "xS")
    est = plain(quantile=0.5, segment=lambda s: s[:1]).fit(history, calendar=EVERY_DAY)
    assert est.lead_times("Sy") == (3, 3)
    assert est.lead_times("xy") == (9, 9)
    at = dt.datetime(2026, 2, 1, 12, tzinfo=UTC)
    assert (est.promise(at, segment="Sz").promised - at.date()).days == 3


def test_expected_as_elapsed_time_is_three_weeks_promised_as_four() -> None:
    # "If delivery takes 3 weeks, estimate 4": a Monday order that takes three calendar weeks
    # on a Monday-to-Friday calendar is expected 15 business days later and promised 20
    # (worked by hand on a calendar: Mon 23 Nov 2026 -> Mon 14 Dec, promised Mon 21 Dec).
    import datetime as _dt

    from carekit.calendar import BusinessCalendar
    from carekit.promises import PaddedEstimator

    monday = _dt.datetime(2026, 11, 23, 9, tzinfo=_dt.timezone.utc)
    promise = PaddedEstimator().promise(
        monday, calendar=BusinessCalendar(), expected=_dt.timedelta(weeks=3)
    )
    assert promise.expected == _dt.date(2026, 12, 14)
    assert promise.promised == _dt.date(2026, 12, 21)
    assert promise.padding == 5


def test_contract_arguments_may_be_positional() -> None:
    # The public contract writes Promise(ordered_at, expected, promised, padding, confidence)
    # and QuantileEstimator(quantile=...), PaddedEstimator(factor=...), StagedEstimator(stages=...).
    import datetime as _dt

    from carekit.promises import PaddedEstimator, Promise, QuantileEstimator, StagedEstimator

    at = _dt.datetime(2026, 11, 23, 9, tzinfo=_dt.timezone.utc)
    promise = Promise(at, _dt.date(2026, 12, 1), _dt.date(2026, 12, 5), 4, 0.95)
    assert promise == Promise(
        ordered_at=at, expected=_dt.date(2026, 12, 1), promised=_dt.date(2026, 12, 5),
        padding=4, confidence=0.95,
    )
    assert QuantileEstimator(0.9) == QuantileEstimator(quantile=0.9)
    assert PaddedEstimator(1.5) == PaddedEstimator(factor=1.5)
    stages = {"production": QuantileEstimator(), "carrier": QuantileEstimator()}
    assert StagedEstimator(stages) == StagedEstimator(stages=stages)


def test_elapsed_time_counts_from_the_day_after_the_cut_off() -> None:
    # Mon 2 Mar 2026 15:30 is after a 14:00 cut-off: the order counts from Tue 3 Mar, so
    # "three weeks" and "15 business days" name the same day, Tue 24 Mar.
    import datetime as _dt

    from carekit.calendar import BusinessCalendar
    from carekit.promises import PaddedEstimator

    calendar = BusinessCalendar(cutoff=_dt.time(14))
    late = _dt.datetime(2026, 3, 2, 15, 30, tzinfo=_dt.timezone.utc)
    by_time = PaddedEstimator().promise(late, calendar=calendar, expected=_dt.timedelta(weeks=3))
    by_days = PaddedEstimator().promise(late, calendar=calendar, expected=15)
    assert by_time.expected == by_days.expected == _dt.date(2026, 3, 24)
    assert by_time.promised == by_days.promised


def test_an_expected_date_before_the_order_is_an_error() -> None:
    import datetime as _dt

    import pytest as _pytest

    from carekit import CareKitError
    from carekit.calendar import BusinessCalendar
    from carekit.promises import PaddedEstimator

    at = _dt.datetime(2026, 3, 2, 9, tzinfo=_dt.timezone.utc)
    with _pytest.raises(CareKitError, match=r"expected must not be before .*2026-03-02"):
        PaddedEstimator().promise(at, calendar=BusinessCalendar(), expected=_dt.date(2026, 1, 1))


def test_leads_past_the_end_of_the_calendar_are_refused() -> None:
    with pytest.raises(CareKitError, match=r"expected must be at most 3,700,000 business days"):
        PaddedEstimator().promise(T0, calendar=WEEKDAYS, expected=10**400)
    with pytest.raises(CareKitError, match=r"expected must be at most 3,700,000 business days"):
        PaddedEstimator().promise(T0, calendar=WEEKDAYS, expected=10**12)
    with pytest.raises(CareKitError, match="would fall after the year 9999"):
        PaddedEstimator(factor=1e300).promise(T0, calendar=WEEKDAYS, expected=10)
    with pytest.raises(CareKitError, match="would fall after the year 9999"):
        PaddedEstimator().pad(3_000_000)
    with pytest.raises(CareKitError, match="a number too large to show"):
        PaddedEstimator().pad(10**5000)
    assert PaddedEstimator().pad(2_700_000) == 3_600_000


def test_history_from_the_first_days_of_the_calendar() -> None:
    # An order whose start day is 1 January of the year 1 has no day before it to count
    # from; later orders in the first weeks (a window reaching back past the year 1) are fine.
    def orders(first_day: int) -> list[tuple[dt.datetime, dt.datetime, None]]:
        return [(dt.datetime(1, 1, first_day + i, 9, tzinfo=UTC),
                 dt.datetime(1, 1, first_day + i + 5, 9, tzinfo=UTC), None) for i in range(5)]

    end = dt.datetime(1, 2, 1, tzinfo=UTC)
    fitted = QuantileEstimator(min_samples=1).fit(orders(2), now=end, calendar=EVERY_DAY)
    assert fitted.promise(end).expected >= end.date()
    with pytest.raises(CareKitError, match="orders must count from a day after 0001-01-01"):
        QuantileEstimator(min_samples=1).fit(orders(1), now=end, calendar=EVERY_DAY)


# -- the calendar a promise is made on -----------------------------------------------------


def test_lead_times_are_counted_on_the_calendar_promised_on() -> None:
    # Every order took 14 days, every day open. Fitted without a calendar (Monday-Friday by
    # default) those are 10 business days; a promise on the every-day calendar must still be
    # 14 days: the sorted empirical quantile of a constant sample is that constant.
    leads_history = [(T0 + dt.timedelta(hours=7 * i), T0 + dt.timedelta(hours=7 * i, days=14))
                     for i in range(200)]
    est = plain(quantile=0.95).fit(iter(leads_history))  # a generator: read once
    at = dt.datetime(2026, 6, 1, 9, tzinfo=UTC)
    assert est.lead_times() == (10, 10)
    assert est.lead_times(calendar=EVERY_DAY) == (14, 14)
    promise = est.promise(at, calendar=EVERY_DAY)
    assert (promise.promised - at.date()).days == 14
    assert promise.calendar is EVERY_DAY
    direct = plain(quantile=0.95).fit(leads_history, calendar=EVERY_DAY)
    assert promise == direct.promise(at)
    # the copy is kept: the same calendar again gives the same promise without a refit
    assert est.promise(at, calendar=EVERY_DAY) == promise
    assert est.promise(at) == plain(quantile=0.95).fit(leads_history).promise(at)


def test_padded_and_staged_count_on_the_calendar_promised_on() -> None:
    made = [(T0 + dt.timedelta(days=i), T0 + dt.timedelta(days=i + 14)) for i in range(40)]
    sent = [(T0 + dt.timedelta(days=i), T0 + dt.timedelta(days=i + 3)) for i in range(40)]
    at = dt.datetime(2026, 6, 1, 9, tzinfo=UTC)
    padded = PaddedEstimator().fit(made)
    # 14 days every day open: 14 business days, padded by 4/3 to 19 (18.67 rounded up).
    p = padded.promise(at, calendar=EVERY_DAY)
    assert ((p.expected - at.date()).days, (p.promised - at.date()).days) == (14, 19)
    assert p == PaddedEstimator().fit(made, calendar=EVERY_DAY).promise(at)
    stages = {"production": plain(quantile=0.95), "carrier": plain(quantile=0.95)}
    staged = StagedEstimator(stages=stages).fit({"production": made, "carrier": sent})
    s = staged.promise(at, calendar=EVERY_DAY)
    assert (s.promised - at.date()).days == 17  # 14 + 3, both stages certain
    assert s == StagedEstimator(stages=stages).fit(
        {"production": made, "carrier": sent}, calendar=EVERY_DAY).promise(at)


def test_a_promise_calendar_that_is_not_a_calendar_is_refused() -> None:
    est = plain().fit([(T0, T0 + dt.timedelta(days=3))])
    staged = StagedEstimator(stages={"a": plain()}).fit({"a": [(T0, T0 + dt.timedelta(days=3))]})
    for call in (
        lambda: est.promise(T0, calendar="weekdays"),
        lambda: est.lead_times(calendar="weekdays"),
        lambda: PaddedEstimator().fit([(T0, T0 + dt.timedelta(days=3))]).promise(
            T0, calendar="weekdays"),
        lambda: staged.promise(T0, calendar="weekdays"),
    ):
        with pytest.raises(CareKitError, match="calendar must be a carekit.calendar"):
            call()
