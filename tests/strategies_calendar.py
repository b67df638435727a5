"""Hypothesis strategies for business calendars, and a naive day-by-day reference.

The reference walks one day (or one opening period) at a time with nothing precomputed, so
it shares no code with the tables in ``carekit.calendar``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import FR, MO, SA, SU, TH, TU, WE
from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule
from hypothesis import strategies as st

from carekit.calendar import BusinessCalendar

# Zones with DST at 02:00 (New York, Sydney, London at 01:00), none (Kolkata, UTC), DST that
# used to start at midnight (Sao Paulo until 2019) and a half-hour DST shift (Lord Howe).
ZONES = (
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/Sao_Paulo",
    "Australia/Lord_Howe",
)

FIRST = dt.date(2017, 1, 1)
LAST = dt.date(2020, 12, 31)


@dataclass(frozen=True)
class Spec:
    """What a random calendar is made of, kept for the reference implementation."""

    workdays: frozenset[int]
    holidays: frozenset[dt.date]
    cutoff: dt.time | None
    tz: str
    hours: dict[int, tuple[dt.time, dt.time]] = field(default_factory=dict)

    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar(
            workdays=self.workdays,
            holidays=sorted(self.holidays),
            cutoff=self.cutoff,
            tz=self.tz,
            hours=self.hours,
        )


def _hours_for(days: frozenset[int]) -> st.SearchStrategy[dict[int, tuple[dt.time, dt.time]]]:
    def span(pair: tuple[int, int]) -> tuple[dt.time, dt.time]:
        a, b = sorted(pair)
        return (dt.time(a // 60, a % 60), dt.time(b // 60, b % 60))

    # At least half an hour open, so a reference walk over long durations stays short.
    spans = (
        st.tuples(st.integers(0, 24 * 60 - 1), st.integers(0, 24 * 60 - 1))
        .filter(lambda p: abs(p[0] - p[1]) >= 30)
        .map(span)
    )
    return st.dictionaries(st.sampled_from(sorted(days)), spans, min_size=1)


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    """A random calendar: workdays, holidays in 2017-2020, cut-off, zone and hours."""
    workdays = frozenset(draw(st.sets(st.integers(0, 6), min_size=1)))
    holidays = frozenset(draw(st.sets(st.dates(FIRST, LAST), max_size=60)))
    cutoff = draw(st.none() | st.times())
    tz = draw(st.sampled_from(ZONES))
    hours = draw(_hours_for(workdays))
    return Spec(workdays=workdays, holidays=holidays, cutoff=cutoff, tz=tz, hours=hours)


def instants(zone: str = "UTC") -> st.SearchStrategy[dt.datetime]:
    """Aware datetimes from mid 2018 to mid 2019 (minute resolution), in ``zone``."""
    tz = ZoneInfo(zone)
    start = dt.datetime(2018, 6, 1, tzinfo=dt.timezone.utc)
    return st.integers(0, 365 * 24 * 60).map(
        lambda m: (start + dt.timedelta(minutes=m)).astimezone(tz)
    )


class Reference:
    """The obvious day-by-day implementation, for agreement tests."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.tz = ZoneInfo(spec.tz)

    def is_business_day(self, d: dt.date) -> bool:
        return d.weekday() in self.spec.workdays and d not in self.spec.holidays

    def local_date(self, x: dt.date) -> dt.date:
        if isinstance(x, dt.datetime):
            return x.astimezone(self.tz).date()
        return x

    def start_day(self, at: dt.date) -> dt.date:
        day = self.local_date(at)
        if isinstance(at, dt.datetime):
            local = at.astimezone(self.tz)
            late = self.spec.cutoff is not None and local.time() > self.spec.cutoff
            if late and self.is_business_day(day):
                day += dt.timedelta(days=1)
        while not self.is_business_day(day):
            day += dt.timedelta(days=1)
        return day

    def add_business_days(self, at: dt.date, n: int) -> dt.date:
        day = self.start_day(at)
        step = dt.timedelta(days=1 if n >= 0 else -1)
        for _ in range(abs(n)):
            day += step
            while not self.is_business_day(day):
                day += step
        return day

    def business_days_between(self, a: dt.date, b: dt.date) -> int:
        s = self.start_day(a)
        e = self.local_date(b)
        count = 0
        day = min(s, e) + dt.timedelta(days=1)
        while day <= max(s, e):
            count += self.is_business_day(day)
            day += dt.timedelta(days=1)
        return count if e >= s else -count

    def _periods(self, day: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
        span = self.spec.hours.get(day.weekday())
        if span is None or not self.is_business_day(day):
            return None
        opening = dt.datetime.combine(day, span[0], tzinfo=self.tz).astimezone(dt.timezone.utc)
        closing = dt.datetime.combine(day, span[1], tzinfo=self.tz).astimezone(dt.timezone.utc)
        return opening, max(opening, closing)

    def add_business_hours(self, at: dt.datetime, duration: dt.timedelta) -> dt.datetime:
        now = at.astimezone(dt.timezone.utc)
        if not duration:
            return now
        left = duration
        day = at.astimezone(self.tz).date()
        while True:
            period = self._periods(day)
            if period is not None:
                start = max(now, period[0])
                if start < period[1]:
                    if left <= period[1] - start:
                        return start + left
                    left -= period[1] - start
            day += dt.timedelta(days=1)

    def business_hours_between(self, a: dt.datetime, b: dt.datetime) -> dt.timedelta:
        lo, hi = sorted((a.astimezone(dt.timezone.utc), b.astimezone(dt.timezone.utc)))
        total = dt.timedelta(0)
        day = lo.astimezone(self.tz).date() - dt.timedelta(days=1)
        while day <= hi.astimezone(self.tz).date() + dt.timedelta(days=1):
            period = self._periods(day)
            if period is not None:
                start, end = max(lo, period[0]), min(hi, period[1])
                if start < end:
                    total += end - start
            day += dt.timedelta(days=1)
        return total if b >= a else -total


_WEEKDAYS = (MO, TU, WE, TH, FR, SA, SU)
_RULE_ZONES = (None, ZoneInfo("Europe/London"), ZoneInfo("Australia/Lord_Howe"))


@st.composite
def holiday_rules(draw: st.DrawFn, first_year: int, last_year: int) -> rrule:
    """A dateutil rule carekit accepts as holidays, starting between the years given.

    Filters are drawn freely, so many rules are sparse or impossible (30 February); COUNT,
    UNTIL, INTERVAL, BYSETPOS, WKST and aware starts come up too.
    """
    freq = draw(st.sampled_from((YEARLY, MONTHLY, WEEKLY, DAILY)))
    tz = draw(st.sampled_from(_RULE_ZONES))
    start = draw(
        st.datetimes(dt.datetime(first_year, 1, 1), dt.datetime(last_year, 12, 31))
    ).replace(microsecond=0, tzinfo=tz)
    interval = draw(st.sampled_from((1, 1, 2, 3, 7, 13)))
    kwargs: dict[str, Any] = {"dtstart": start, "interval": interval}
    ends = draw(st.sampled_from(("none", "count", "until")))
    if ends == "count":
        kwargs["count"] = draw(st.integers(1, 60))
    elif ends == "until":
        # at most 150,000 days on, and never past the datetime range (a start in 9999)
        room = (dt.datetime(9999, 12, 31) - start.replace(tzinfo=None)).days
        kwargs["until"] = start + dt.timedelta(days=draw(st.integers(0, min(150_000, room))))
    days = st.integers(1, 31) | st.integers(-31, -1)
    optional = {
        "bymonth": st.lists(st.integers(1, 12), min_size=1, max_size=3),
        "bymonthday": st.lists(days, min_size=1, max_size=3),
        "byweekday": st.lists(
            st.sampled_from(_WEEKDAYS) | st.builds(lambda d, n: d(n), st.sampled_from(_WEEKDAYS),
                                                    st.sampled_from((1, 2, -1))),
            min_size=1, max_size=2,
        ),
        "byyearday": st.lists(st.integers(1, 366) | st.integers(-366, -1), min_size=1, max_size=3),
        "bysetpos": st.sampled_from((1, -1, 2, (1, -1))),
        "wkst": st.integers(0, 6),
    }
    if freq == YEARLY:
        optional["byweekno"] = st.lists(st.integers(1, 53) | st.just(-1), min_size=1, max_size=2)
        optional["byeaster"] = st.integers(-80, 250)
    for name, values in optional.items():
        if draw(st.integers(0, 9)) < 3:
            kwargs[name] = draw(values)
    try:
        return rrule(freq, **kwargs)
    except ValueError:  # dateutil refuses some combinations itself
        return rrule(freq, dtstart=start)
