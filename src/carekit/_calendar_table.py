"""Precomputed business-day tables for :mod:`carekit.calendar` (private).

A :class:`Table` covers whole years ``first_year..last_year``. For every day it holds whether
the day is a business day and ``rank``: how many business days fall on or before it, so

* the business days in ``(a, b]`` number ``rank[b] - rank[a]``,
* the first business day after day ``a`` is ``bd[rank[a]]``,
* moving ``n`` business days is one list index.

Opening hours are turned lazily into per-day open/close instants (UTC microseconds) and the
cumulative open time before each day, so business-hour arithmetic is a bisection.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from collections.abc import Mapping

from carekit._calendar_sources import HolidaySources

__all__ = ["EPOCH", "MAX_YEAR", "MIN_YEAR", "HoursTable", "Table", "to_us"]

MIN_YEAR = 1
MAX_YEAR = 9999
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_US = dt.timedelta(microseconds=1)
_EPOCH_ORDINAL = EPOCH.toordinal()
_DAY_US = 86_400_000_000


def to_us(value: dt.datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact, no float rounding)."""
    return (value - EPOCH) // _US


class HoursTable:
    """Open and close instants per day and the open time accumulated before each day."""

    __slots__ = ("close_us", "cum", "open_us")

    def __init__(self, open_us: list[int], close_us: list[int], cum: list[int]) -> None:
        self.open_us = open_us
        self.close_us = close_us
        self.cum = cum

    def position(self, i: int, t_us: int) -> int:
        """Open microseconds from the table start up to instant ``t_us`` on day index ``i``."""
        opened = t_us - self.open_us[i]
        length = self.cum[i + 1] - self.cum[i]
        return self.cum[i] + (0 if opened < 0 else min(opened, length))

    def instant(self, position: int, first: int) -> int | None:
        """Earliest instant (UTC microseconds) where ``position`` open time has passed.

        Returns None when the position lies beyond the table.
        """
        cum = self.cum
        k = bisect_left(cum, position, lo=first + 1)
        if k >= len(cum):
            return None
        day = k - 1
        return self.open_us[day] + (position - cum[day])


class Table:
    """Business days of the years ``first_year..last_year``."""

    __slots__ = (
        "_hours",
        "bd",
        "clean_flags",
        "first_year",
        "flags",
        "hi",
        "last_year",
        "late_index",
        "lo",
        "n",
        "rank",
        "start_index",
        "stop",
    )

    def __init__(
        self,
        workdays: frozenset[int],
        sources: HolidaySources,
        first_year: int,
        last_year: int,
    ) -> None:
        self.first_year = first_year
        self.last_year = last_year
        self.lo = lo = dt.date(first_year, 1, 1).toordinal()
        self.hi = hi = dt.date(last_year, 12, 31).toordinal()
        self.n = n = hi - lo + 1
        closed = sources.ordinals(first_year, last_year)
        week = [d in workdays for d in range(7)]
        # date.fromordinal(1) is a Monday, so the weekday of ordinal o is (o - 1) % 7.
        w = (lo - 1) % 7
        flags = bytearray(n)
        rank = [0] * n
        bd: list[int] = []
        count = 0
        for i in range(n):
            if week[w] and (lo + i) not in closed:
                flags[i] = 1
                bd.append(lo + i)
                count += 1
            rank[i] = count
            w = 0 if w == 6 else w + 1
        self.flags = flags
        self.rank = rank
        self.bd = bd
        self.stop = len(bd)
        # Index into bd of the day an order on day i counts from: before the cut-off (the
        # day itself when open, else the next business day) and after it (the next one).
        self.start_index = [r - f for r, f in zip(rank, flags, strict=True)]
        self.late_index = rank
        self.clean_flags: bytearray | None = None
        self._hours: HoursTable | None = None

    @property
    def years(self) -> int:
        """Number of years covered."""
        return self.last_year - self.first_year + 1

    def clean(self, tz: dt.tzinfo) -> bytearray:
        """Per day: 1 when the zone's UTC offset is the same all day (no DST change)."""
        if self.clean_flags is None:
            if isinstance(tz, dt.timezone):
                self.clean_flags = bytearray(b"\x01") * self.n
            else:
                first = dt.date.fromordinal(self.lo)
                mids = (
                    [
                        dt.datetime.combine(first + dt.timedelta(days=i), dt.time(), tzinfo=tz)
                        for i in range(self.n + 1)
                    ]
                    if self.hi < dt.date.max.toordinal()
                    else [
                        dt.datetime.combine(first + dt.timedelta(days=i), dt.time(), tzinfo=tz)
                        for i in range(self.n)
                    ]
                    + [dt.datetime.max.replace(tzinfo=tz)]
                )
                offs = [(m.utcoffset(), m.replace(fold=1).utcoffset()) for m in mids]
                self.clean_flags = bytearray(
                    int(offs[i][0] == offs[i][1] == offs[i + 1][0] == offs[i + 1][1])
                    for i in range(self.n)
                )
        return self.clean_flags

    def hours(self, tz: dt.tzinfo, opening: Mapping[int, tuple[dt.time, dt.time]]) -> HoursTable:
        """Open/close instants of every business day (holidays are closed all day).

        A closed day's open and close instants are its midnight as if in UTC: nothing reads
        them, since no open time accumulates on it. An open day's instants are its wall
        times less the zone's offset at each (so a DST change during opening hours counts).
        """
        if self._hours is None:
            open_us: list[int] = []
            close_us: list[int] = []
            cum = [0]
            total = 0
            spans = {day: (span, _time_us(span[0]), _time_us(span[1]))
                     for day, span in opening.items()}
            fixed = tz.utcoffset(None) if isinstance(tz, dt.timezone) else None
            fixed_us = None if fixed is None else fixed // _US
            combine = dt.datetime.combine
            flags = self.flags
            lo = self.lo
            weekday = (lo - 1) % 7  # date.fromordinal(1) is a Monday
            base = (lo - _EPOCH_ORDINAL) * _DAY_US
            for i in range(self.n):
                found = spans.get(weekday) if flags[i] else None
                if found is None:
                    start = end = base
                else:
                    (opens, closes), open_at, close_at = found
                    if fixed_us is not None:
                        start = base + open_at - fixed_us
                        end = base + close_at - fixed_us
                    else:
                        day = dt.date.fromordinal(lo + i)
                        start = base + open_at - _offset_us(combine(day, opens, tz))
                        end = base + close_at - _offset_us(combine(day, closes, tz))
                    end = max(end, start)
                open_us.append(start)
                close_us.append(end)
                total += end - start
                cum.append(total)
                base += _DAY_US
                weekday = 0 if weekday == 6 else weekday + 1
            self._hours = HoursTable(open_us, close_us, cum)
        return self._hours


def _offset_us(wall: dt.datetime) -> int:
    """The zone's UTC offset at an aware wall time, in microseconds."""
    offset = wall.utcoffset()
    return 0 if offset is None else offset // _US


def _time_us(t: dt.time) -> int:
    """Microseconds from midnight to the wall time ``t``."""
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond
