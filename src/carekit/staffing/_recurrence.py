"""Bounded evaluation of a shift's RFC 5545 recurrence rule (private).

dateutil walks a rule from its first occurrence, one period at a time, until it passes the
window asked for, and it only stops early when it finds an occurrence. So a window years after
a daily shift's start costs a walk over every day in between, and a rule that never matches
(``BYMONTH=2;BYMONTHDAY=30``) walks to the year 9999 on every call. This module keeps dateutil
for the rule's meaning and bounds the walk:

* only ``FREQ=DAILY``, ``WEEKLY``, ``MONTHLY`` and ``YEARLY`` rules, with ``INTERVAL >= 1``,
  at most :data:`MAX_STARTS_PER_DAY` starts a day and no ``BYEASTER`` (not part of RFC 5545);
* the Gregorian calendar repeats every 400 years, so a rule repeats every *cycle* of
  ``400 * INTERVAL / gcd(INTERVAL, periods in 400 years)`` years. A rule that has no
  occurrence in one cycle has none at all; that is checked once, when the shift is made, on a
  copy of the rule moved by whole cycles to end near the year 9999, where dateutil stops;
* each window starts the walk at the first period of the rule's phase that holds the window
  (every default dateutil takes from the first occurrence made explicit), so a call costs the
  periods of its window plus, at most, one cycle until the next occurrence;
* ``COUNT`` is turned into the date of the last occurrence once, from one cycle's occurrences.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from typing import Any

from dateutil import rrule

from carekit.errors import CareKitError

__all__ = ["MAX_STARTS_PER_DAY", "Recurrence"]

#: The most starts a day one rule may make (``BYHOUR`` x ``BYMINUTE`` x ``BYSECOND``): one a
#: minute. More would make every window cost thousands of occurrences.
MAX_STARTS_PER_DAY = 1440

_FREQS = {"DAILY": rrule.DAILY, "WEEKLY": rrule.WEEKLY, "MONTHLY": rrule.MONTHLY,
          "YEARLY": rrule.YEARLY}
#: periods of each frequency in the 400-year Gregorian cycle
_PERIODS_PER_400_YEARS = {rrule.DAILY: 146_097, rrule.WEEKLY: 20_871, rrule.MONTHLY: 4_800,
                          rrule.YEARLY: 400}
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_PARTS = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST", "BYSETPOS", "BYMONTH", "BYMONTHDAY",
          "BYYEARDAY", "BYWEEKNO", "BYDAY", "BYHOUR", "BYMINUTE", "BYSECOND"}


def _refuse(text: str, why: str) -> CareKitError:
    return CareKitError(f"recurrence must be a valid RFC 5545 RRULE such as 'FREQ=DAILY' "
                        f"(got {text!r}): {why}")


def _parts(text: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for item in text.split(";"):
        key, sep, value = item.partition("=")
        key = key.strip().upper()
        if not sep or not key:
            raise _refuse(text, f"each part must look like NAME=VALUE (got {item!r})")
        if key == "BYEASTER":
            raise _refuse(text, "BYEASTER is a dateutil extension, not part of RFC 5545")
        if key not in _PARTS:
            raise _refuse(text, f"unknown part {key!r}")
        if key in parts:
            raise _refuse(text, f"{key} must appear once")
        parts[key] = value.strip()
    return parts


def _year_shift(value: dt.datetime, years: int) -> dt.datetime | None:
    """``value`` moved by a whole number of 400-year cycles (same calendar), or None."""
    year = value.year + years
    if not 1 <= year <= dt.MAXYEAR:
        return None
    return value.replace(year=year)


class Recurrence:
    """A checked rule, its first start, and windows evaluated with a bounded walk."""

    __slots__ = ("_base", "_cycle_years", "_defaults", "_freq", "_interval",
                 "_limit", "_until", "_wkst", "start")

    def __init__(self, text: str, start: dt.datetime) -> None:
        parts = _parts(text)
        freq_name = parts.get("FREQ", "").upper()
        if freq_name in {"HOURLY", "MINUTELY", "SECONDLY"}:
            raise _refuse(text, (
                f"a shift recurs at most daily (got FREQ={freq_name}); hint: several starts "
                "a day are FREQ=DAILY with BYHOUR, e.g. 'FREQ=DAILY;BYHOUR=8,16'"
            ))
        if freq_name not in _FREQS:
            raise _refuse(text, "FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY "
                          f"(got {parts.get('FREQ')!r})")
        if "COUNT" in parts and "UNTIL" in parts:
            raise _refuse(text, "COUNT and UNTIL must not both be given (RFC 5545 3.3.10)")
        interval = parts.get("INTERVAL", "1")
        if not interval.isdigit() or int(interval) < 1:
            raise _refuse(text, f"INTERVAL must be a whole number >= 1 (got {interval!r})")
        count = parts.get("COUNT")
        if count is not None and (not count.isdigit() or int(count) < 1):
            raise _refuse(text, f"COUNT must be a whole number >= 1 (got {count!r})")
        self._freq = _FREQS[freq_name]
        # UNTIL's day, a day late (a bound on the last start; dateutil checked the format)
        until = parts.get("UNTIL", "")
        try:
            self._until: dt.datetime | None = (
                dt.datetime.strptime(until[:8], "%Y%m%d").replace(tzinfo=dt.timezone.utc)
                + dt.timedelta(days=1))
        except (ValueError, OverflowError):
            self._until = None
        self._interval = int(interval)
        wkst = parts.get("WKST", "MO").upper()
        if wkst not in _WEEKDAYS:
            raise _refuse(text, f"WKST must be one of {', '.join(_WEEKDAYS)} (got {wkst!r})")
        self._wkst = _WEEKDAYS.index(wkst)
        # dateutil keeps whole seconds of the first start
        self.start = start.replace(microsecond=0)
        try:
            base = rrule.rrulestr(text, dtstart=self.start)
        except (ValueError, TypeError, OverflowError) as exc:
            hint = " (write UNTIL in UTC, e.g. UNTIL=20250331T000000Z)" if "UNTIL" in str(
                exc) else ""
            raise _refuse(text, f"{exc}{hint}") from None
        assert isinstance(base, rrule.rrule)
        self._defaults = self._explicit_defaults(parts)
        starts = (
            len(self._defaults.get("byhour", ())) * len(self._defaults.get("byminute", ()))
            * len(self._defaults.get("bysecond", ()))
        )
        if starts > MAX_STARTS_PER_DAY:
            raise _refuse(text, f"at most {MAX_STARTS_PER_DAY} starts a day (one a minute) "
                          f"are allowed (got {starts})")
        self._base = base.replace(wkst=self._wkst, **self._defaults)
        periods = _PERIODS_PER_400_YEARS[self._freq]
        self._cycle_years = 400 * self._interval // math.gcd(self._interval, periods)
        if not self._ever_occurs():
            raise _refuse(text, "the rule never produces an occurrence (no date matches "
                          "all its parts, e.g. BYMONTH=2;BYMONTHDAY=30)")
        # COUNT becomes the date of the last occurrence; UNTIL is kept by replace()
        self._limit: dict[str, Any] = (
            {} if count is None else {"until": self._last_counted(int(count))}
        )

    def _explicit_defaults(self, parts: dict[str, str]) -> dict[str, Any]:
        """The parts dateutil would take from the first start, made explicit."""
        s = self.start
        out: dict[str, Any] = {}
        day_parts = {"BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY"}
        if not day_parts & parts.keys():
            if self._freq == rrule.YEARLY:
                out["bymonthday"] = (s.day,)
                if "BYMONTH" not in parts:
                    out["bymonth"] = (s.month,)
            elif self._freq == rrule.MONTHLY:
                out["bymonthday"] = (s.day,)
            elif self._freq == rrule.WEEKLY:
                out["byweekday"] = (s.weekday(),)
        for key, name, value in (("BYHOUR", "byhour", s.hour), ("BYMINUTE", "byminute",
                                 s.minute), ("BYSECOND", "bysecond", s.second)):
            if key in parts:
                out[name] = tuple(int(v) for v in parts[key].split(","))
            else:
                out[name] = (value,)
        return out

    def _rule(self, dtstart: dt.datetime, **limit: Any) -> rrule.rrule:
        rule: rrule.rrule = self._base.replace(dtstart=dtstart, count=None, wkst=self._wkst,
                                               **self._defaults, **limit)
        return rule

    def _ever_occurs(self) -> bool:
        # Move the start by whole cycles so that one to two cycles lie before the year 9999,
        # where dateutil gives up: the walk is then bounded even when nothing matches.
        cycle = self._cycle_years
        moves = max(0, (dt.MAXYEAR - cycle - self.start.year) // cycle)
        shifted = _year_shift(self.start, moves * cycle) or self.start
        return next(iter(self._rule(shifted, until=None)), None) is not None

    def _last_counted(self, count: int) -> dt.datetime | None:
        """The ``count``-th occurrence (None: the rule ends at the year 9999 before it)."""
        cycle = self._cycle_years
        limit = _year_shift(self.start, cycle)
        first: list[dt.datetime] = []
        for occurrence in self._base.replace(count=None):
            if limit is not None and occurrence >= limit:
                break
            first.append(occurrence)
            if len(first) == count:
                return occurrence
        if limit is None:  # fewer than count occurrences before the year 9999
            return None
        # The rule repeats every cycle: the count-th is one of the first cycle's, moved.
        cycles, index = divmod(count - 1, len(first))
        return _year_shift(first[index], cycles * cycle)

    def last_start(self) -> dt.datetime | None:
        """No earlier than the last occurrence's start (UNTIL, or COUNT's last); None: open."""
        until = self._limit["until"] if self._limit else self._until
        return until if isinstance(until, dt.datetime) else None

    def _anchor(self, since: dt.datetime) -> dt.datetime | None:
        """The first period of the rule's phase holding ``since`` (None: the first start)."""
        s = self.start
        tz = s.tzinfo
        try:
            day = since.astimezone(tz).date() - dt.timedelta(days=1)
        except OverflowError:
            return None
        first = s.date()
        if day <= first:
            return None
        step = self._interval
        if self._freq == rrule.DAILY:
            k = (day - first).days // step
            date = first + dt.timedelta(days=k * step)
        elif self._freq == rrule.WEEKLY:
            week = first - dt.timedelta(days=(first.weekday() - self._wkst) % 7)
            this = day - dt.timedelta(days=(day.weekday() - self._wkst) % 7)
            k = (this - week).days // 7 // step
            date = week + dt.timedelta(days=7 * k * step)
        elif self._freq == rrule.MONTHLY:
            k = ((day.year - first.year) * 12 + day.month - first.month) // step
            year, month = divmod(first.month - 1 + k * step, 12)
            date = dt.date(first.year + year, month + 1, 1)
        else:
            k = (day.year - first.year) // step
            date = dt.date(first.year + k * step, 1, 1)
        if k <= 0:
            return None
        return dt.datetime(date.year, date.month, date.day, tzinfo=tz)

    def between(self, since: dt.datetime, end: dt.datetime) -> Iterator[dt.datetime]:
        """Occurrences starting in ``[since, end]`` (aware datetimes, compared as instants)."""
        anchor = self._anchor(since)
        rule = self._rule(anchor if anchor is not None else self.start, **self._limit)
        yield from rule.between(since, end, inc=True)
