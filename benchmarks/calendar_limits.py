"""Holiday rules and long spans: carekit's bounded calendar vs dateutil walking the rule.

Two tables.

1. Holiday rules. For each rule, the time to learn its closed days in 2025-2027 (the years a
   call about 2 March 2026 needs):

   * dateutil: ``rule.between(2025-01-01, 2027-12-31)``, what a user expanding holidays
     would call. dateutil walks the rule from its ``dtstart`` and stops only at an occurrence
     past the window, so a rule that started long ago, or that never occurs again, is walked
     up to the year 9999. Stopped after ``--limit`` seconds (SIGALRM).
   * carekit: ``BusinessCalendar(holidays=rule).next_business_day(date(2026, 3, 2))`` on a
     fresh calendar: checking the rule, expanding it and building the table of business days.

   Both list the same days (checked) where dateutil finishes.

2. Long spans. ``business_hours_between`` and ``business_days_between`` from 2026 over 1 to
   400 years on a fresh calendar (Europe/London, Mon-Fri 09:00-17:00, Christmas as a yearly
   rule): the table of days and opening hours is built inside the timing, so this is the
   most one call can cost. 401 years and more are refused (``MAX_SPAN_YEARS``).

Timings are the best of ``--repeat`` runs (default 3) on a fresh calendar each time, except
rows slower than ``--limit`` / 3, which run once. Run ``python benchmarks/calendar_limits.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import dateutil
from dateutil.rrule import (
    DAILY,
    MINUTELY,
    MO,
    SA,
    SECONDLY,
    SU,
    WEEKLY,
    YEARLY,
    rrule,
)

from carekit import CareKitError
from carekit.calendar import MAX_SPAN_YEARS, BusinessCalendar

FIRST = dt.datetime(2025, 1, 1)
LAST = dt.datetime(2027, 12, 31, 23, 59, 59)
ASKED = dt.date(2026, 3, 2)

RULES: list[tuple[str, rrule]] = [
    ("Christmas, yearly from 2000", rrule(YEARLY, bymonth=12, bymonthday=25,
                                          dtstart=dt.datetime(2000, 1, 1))),
    ("every weekend day from the year 1 (DAILY;BYDAY=SA,SU)",
     rrule(DAILY, byweekday=(SA, SU), dtstart=dt.datetime(1, 1, 1))),
    ("30 February from the year 1 (DAILY, never occurs)",
     rrule(DAILY, bymonth=2, bymonthday=30, dtstart=dt.datetime(1, 1, 1))),
    ("31 April every other week from the year 1 (never occurs)",
     rrule(WEEKLY, interval=2, bymonth=4, bymonthday=31, dtstart=dt.datetime(1, 1, 1))),
    ("29 February, COUNT=100000, from the year 1",
     rrule(DAILY, count=100_000, bymonth=2, bymonthday=29, dtstart=dt.datetime(1, 1, 1))),
    ("Mondays of ISO week 53 in June from the year 1 (never occurs)",
     rrule(YEARLY, byweekno=53, bymonth=6, byweekday=MO, dtstart=dt.datetime(1, 1, 1))),
    ("every minute from 2026 (MINUTELY)", rrule(MINUTELY, dtstart=dt.datetime(2026, 1, 1))),
    ("every second from 2026 (SECONDLY)", rrule(SECONDLY, dtstart=dt.datetime(2026, 1, 1))),
]


class Stopped(Exception):
    """The timed call ran past the limit."""


def _timed(fn: Callable[[], Any], limit: float) -> tuple[float, Any]:
    """(seconds, result) of ``fn()``, or (inf, Stopped) past ``limit`` seconds."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise Stopped

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, limit)
    started = time.perf_counter()
    try:
        result = fn()
    except (Stopped, CareKitError) as exc:
        result = exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    elapsed = time.perf_counter() - started
    return (float("inf") if isinstance(result, Stopped) else elapsed), result


def _best(fn: Callable[[], Any], repeat: int, limit: float) -> tuple[float, Any]:
    best, result = _timed(fn, limit)
    if best < limit / 3:
        for _ in range(repeat - 1):
            seconds, result = _timed(fn, limit)
            best = min(best, seconds)
    return best, result


def _show(seconds: float, limit: float) -> str:
    if seconds == float("inf"):
        return f"> {limit:.0f} s (stopped)"
    if seconds < 0.01:
        return f"{seconds * 1000:.2f} ms"
    return f"{seconds * 1000:,.1f} ms" if seconds < 1 else f"{seconds:,.2f} s"


def rule_table(repeat: int, limit: float) -> list[str]:
    lines = [
        "| holiday rule | dateutil `between` 2025-2027 | carekit first call | carekit | "
        "same days |",
        "|---|---:|---:|---|---|",
    ]
    for label, rule in RULES:
        d_time, d_days = _best(lambda r=rule: r.between(FIRST, LAST, inc=True), repeat, limit)

        def carekit_call(r: rrule = rule) -> Any:
            cal = BusinessCalendar(holidays=r)
            cal.next_business_day(ASKED)
            return cal

        c_time, cal = _best(carekit_call, repeat, limit)
        if isinstance(cal, CareKitError):
            outcome, same = "refused when made", "-"
        else:
            outcome = "answered"
            if isinstance(d_days, Stopped):
                same = "-"
            else:
                closed = {o.date() for o in d_days}
                days = [FIRST.date() + dt.timedelta(n) for n in range((LAST - FIRST).days + 1)]
                ours = {d for d in days if d.weekday() < 5 and not cal.is_business_day(d)}
                same = "yes" if ours == {d for d in closed if d.weekday() < 5} else "NO"
        lines.append(f"| {label} | {_show(d_time, limit)} | {_show(c_time, limit)} | "
                     f"{outcome} | {same} |")
    return lines


def span_table(repeat: int, limit: float) -> list[str]:
    christmas = rrule(YEARLY, bymonth=12, bymonthday=25, dtstart=dt.datetime(1900, 1, 1))
    start = dt.datetime(2026, 1, 5, 9, tzinfo=dt.timezone.utc)
    lines = [
        "| span from 2026 | `business_hours_between` | `business_days_between` |",
        "|---|---:|---:|",
    ]
    for years in (1, 10, 100, MAX_SPAN_YEARS - 1, MAX_SPAN_YEARS + 1, 7973):
        end = start.replace(year=start.year + years)

        def hours(e: dt.datetime = end) -> Any:
            cal = BusinessCalendar(holidays=christmas, tz="Europe/London")
            return cal.business_hours_between(start, e)

        def days(e: dt.datetime = end) -> Any:
            cal = BusinessCalendar(holidays=christmas, tz="Europe/London")
            return cal.business_days_between(start.date(), e.date())

        h_time, h = _best(hours, repeat, limit)
        d_time, d = _best(days, repeat, limit)
        h_text = "refused" if isinstance(h, CareKitError) else _show(h_time, limit)
        d_text = "refused" if isinstance(d, CareKitError) else _show(d_time, limit)
        if isinstance(h, CareKitError):
            h_text += f" in {_show(h_time, limit)}"
            d_text += f" in {_show(d_time, limit)}"
        unit = "year" if years == 1 else "years"
        lines.append(f"| {years:,} {unit} (to {end.year}) | {h_text} | {d_text} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--limit", type=float, default=60.0,
                        help="stop a call after this many seconds (default 60)")
    args = parser.parse_args()
    print(f"Python {platform.python_version()}, dateutil {dateutil.__version__}; best of "
          f"{args.repeat} (one run for rows over {args.limit / 3:.0f} s)\n")
    print("\n".join(rule_table(args.repeat, args.limit)))
    print()
    print("\n".join(span_table(args.repeat, args.limit)))


if __name__ == "__main__":
    main()
