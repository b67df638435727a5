"""at_risk: hand-worked probabilities, staged progress, and the order journey event."""

from __future__ import annotations

import datetime as dt

import pytest

from carekit import CareKitError
from carekit.calendar import BusinessCalendar
from carekit.promises import PaddedEstimator, Promise, StageForecast, at_risk

UTC = dt.timezone.utc
CAL = BusinessCalendar(tz="UTC")
MON = dt.datetime(2026, 3, 2, 9, tzinfo=UTC)


def staged_promise():
    # production: 2 or 3 business days (half each); carrier: 1 or 2 (half each).
    # Totals 3, 4, 4, 5 -> P(<=4) = 3/4. Promised: Friday 6 March (4 business days).
    production = StageForecast(name="production", cdf=(0.0, 0.0, 0.5, 1.0))
    carrier = StageForecast(name="carrier", cdf=(0.0, 0.5, 1.0))
    return Promise(ordered_at=MON, expected=dt.date(2026, 3, 6), promised=dt.date(2026, 3, 6),
                   padding=0, confidence=0.75, stages=(production, carrier), calendar=CAL)


def test_probability_at_order_time_is_the_convolution():
    risk = at_risk(staged_promise(), {}, MON)
    assert risk.probability == pytest.approx(0.75)
    assert risk.stage == "production"
    assert not risk.notify


def test_production_running_late_lowers_the_probability():
    # Thursday, production still not done: it takes at least 3 days (so exactly 3), the
    # carrier then needs 1 or 2 more: P(total <= 4) = 1/2, not below the default threshold.
    thursday = MON + dt.timedelta(days=3)
    risk = at_risk(staged_promise(), {}, thursday)
    assert risk.probability == pytest.approx(0.5)
    assert not risk.notify
    assert at_risk(staged_promise(), {}, thursday, threshold=0.6).notify


def test_progress_moves_the_clock_to_the_hand_over():
    # Handed to the carrier on Wednesday (2 days): 1 or 2 more days -> Thu or Fri, both kept.
    wednesday = MON + dt.timedelta(days=2, hours=3)
    risk = at_risk(staged_promise(), {"production": wednesday}, wednesday)
    assert risk.probability == pytest.approx(1.0)
    assert risk.stage == "carrier"
    # Handed over on Thursday: Fri (kept) or the next Monday (late), half each.
    thursday = MON + dt.timedelta(days=3, hours=3)
    assert at_risk(staged_promise(), {"production": thursday}, thursday).probability == (
        pytest.approx(0.5))
    # Handed over on Friday: at least Monday, certainly late: tell the customer.
    friday = MON + dt.timedelta(days=4, hours=3)
    late = at_risk(staged_promise(), {"production": friday}, friday)
    assert late.probability == 0.0 and late.notify
    assert late.expected == dt.date(2026, 3, 9)


def test_a_closed_day_counts_as_the_next_business_day():
    # Promised Friday 6 March; on Saturday 7 March the order is not delivered: the earliest
    # it can now arrive is Monday 9 March (a closed day's delivery counts as the next
    # business day), so the promise is already broken.
    saturday = dt.datetime(2026, 3, 7, 12, tzinfo=UTC)
    late = at_risk(staged_promise(), {}, saturday)
    assert late.probability == 0.0 and late.notify
    assert late.expected == dt.date(2026, 3, 10)  # production (>= Mon) + carrier (1-2 days)
    # A rule-based promise (its expected date certain) is broken on Saturday too.
    rule = PaddedEstimator().promise(MON, calendar=CAL, expected=4)
    assert rule.promised == dt.date(2026, 3, 10)  # expected Friday, padded to Tuesday
    assert at_risk(rule, {}, saturday).probability == 1.0  # Monday keeps it
    assert at_risk(rule, {}, saturday).expected == dt.date(2026, 3, 9)
    rule_friday = Promise(ordered_at=MON, expected=dt.date(2026, 3, 6),
                          promised=dt.date(2026, 3, 6), padding=0, confidence=0.9,
                          calendar=CAL)
    broken = at_risk(rule_friday, {}, saturday)
    assert broken.probability == 0.0 and broken.notify
    assert broken.expected == dt.date(2026, 3, 9)
    # Handed to the carrier on Friday, assessed on Sunday: Monday at the earliest, and
    # the carrier takes 1 or 2 days from Friday: Monday or Tuesday, half each.
    friday = MON + dt.timedelta(days=4, hours=3)
    sunday = dt.datetime(2026, 3, 8, 12, tzinfo=UTC)
    carrier = at_risk(staged_promise(), {"production": friday}, sunday)
    assert carrier.probability == 0.0
    assert carrier.expected == dt.date(2026, 3, 9)


def test_the_last_day_of_the_calendar():
    # Thursday 30 December 9999 is the promised day. On Friday the 31st (open) the order can
    # still arrive that day; when the 31st is a holiday, no later business day exists to
    # expect it on: a clear error, not one from deep inside the calendar.
    ordered = dt.datetime(9999, 12, 27, 9, tzinfo=UTC)  # a Monday
    friday = dt.datetime(9999, 12, 31, 12, tzinfo=UTC)

    def promise(cal: BusinessCalendar) -> Promise:
        return Promise(ordered_at=ordered, expected=dt.date(9999, 12, 30),
                       promised=dt.date(9999, 12, 30), padding=0, confidence=0.9, calendar=cal)

    open_friday = at_risk(promise(CAL), {}, friday)
    assert open_friday.probability == 0.0 and open_friday.expected == dt.date(9999, 12, 31)
    closed = BusinessCalendar(tz="UTC", holidays=[dt.date(9999, 12, 31)])
    with pytest.raises(CareKitError, match="would now be expected after 9999-12-31"):
        at_risk(promise(closed), {}, friday)


def test_a_same_day_promise_is_kept_on_the_day():
    same_day = Promise(ordered_at=MON, expected=MON.date(), promised=MON.date(), padding=0,
                       confidence=0.9, calendar=CAL)
    assert at_risk(same_day, {}, MON).probability == 1.0
    assert at_risk(same_day, {}, MON + dt.timedelta(hours=8)).probability == 1.0
    assert at_risk(same_day, {}, MON + dt.timedelta(days=1)).probability == 0.0


def test_delivered_orders():
    on_time = MON + dt.timedelta(days=3)
    risk = at_risk(staged_promise(), {"production": MON + dt.timedelta(days=2),
                                      "carrier": on_time}, on_time)
    assert (risk.probability, risk.stage, risk.notify, risk.at_risk) == (1.0, None, False, False)


def test_rule_based_promise_uses_its_expected_date():
    p = PaddedEstimator().promise(MON, calendar=CAL, expected=3)  # expected Thu, promised Fri
    assert at_risk(p, None, MON).probability == 1.0
    # Monday after the promised Friday: nothing can keep it now.
    assert at_risk(p, None, MON + dt.timedelta(days=7)).probability == 0.0


def test_errors():
    p = staged_promise()
    with pytest.raises(CareKitError, match="unknown stage"):
        at_risk(p, {"painting": MON}, MON)
    with pytest.raises(CareKitError, match="now"):
        at_risk(p, {}, dt.datetime(2026, 3, 2, 10))
    with pytest.raises(CareKitError, match="now must not be before"):
        at_risk(p, {}, MON - dt.timedelta(days=1))
    with pytest.raises(CareKitError, match="earlier stage"):
        at_risk(p, {"carrier": MON + dt.timedelta(days=1)}, MON + dt.timedelta(days=2))
    with pytest.raises(CareKitError, match="threshold"):
        at_risk(p, {}, MON, threshold=2)
    with pytest.raises(CareKitError, match="promise"):
        at_risk("soon", {}, MON)


def test_the_order_journey_owes_a_proactive_notice():
    from carekit.journeys import Event, order_journey

    friday = MON + dt.timedelta(days=4, hours=3)
    risk = at_risk(staged_promise(), {"production": friday}, friday)
    journey = order_journey().start("order-7", at=MON, channel="email")
    journey = journey.apply(Event("place", at=MON)).journey
    event = risk.to_event(journey_id="order-7", id="risk-order-7-1")
    assert event.name == "promise_at_risk" and event.at == friday
    step = journey.apply(event)
    assert step.journey.state == "placed"
    notices = [tp for tp in step.touchpoints if tp.name == "promise_at_risk_notice"]
    assert len(notices) == 1
    assert notices[0].channel == "email"
    assert notices[0].data["promised"] == "2026-03-06"
    assert notices[0].data["expected"] == "2026-03-09"
    assert notices[0].data["probability"] == 0.0
