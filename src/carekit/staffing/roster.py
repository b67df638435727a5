"""Shifts and rosters: who is on duty when, with breaks and recurring patterns."""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from typing import Any, overload
from zoneinfo import ZoneInfo

import attrs
from dateutil import rrule

from carekit import _validate
from carekit.calendar import BusinessCalendar
from carekit.errors import CareKitError
from carekit.staffing._ical import to_ics
from carekit.staffing._recurrence import Recurrence

__all__ = ["MAX_AGENTS", "Break", "Roster", "Shift"]

#: The most people one :class:`Shift` may have: a million billion, the same bound as the
#: largest offered load a :class:`~carekit.staffing.Workload` may carry.
MAX_AGENTS = 10**15
# How much longer than its duration an occurrence may last: its end is read on the wall
# clock, and clocks go back an hour (on Lord Howe, half an hour) at most, today.
_LOOKBACK = dt.timedelta(days=1)


def _after(value: Any) -> dt.timedelta:
    return _validate.duration("after", value)


def _length(value: Any) -> dt.timedelta:
    return _validate.work_length("length", value, unit="minutes")


def _latest(value: Any) -> dt.timedelta | None:
    return None if value is None else _validate.duration("latest", value)


def _start(value: Any) -> dt.datetime:
    return _validate.aware("start", value)


def _duration(value: Any) -> dt.timedelta:
    return _validate.work_length("duration", value)


def _agents(value: Any) -> int:
    return _validate.positive_int("agents", value, maximum=MAX_AGENTS)


def _span(value: dt.timedelta) -> str:
    """A time into a shift in words: ``9h30m``, ``8h``, ``45m``, ``2m30s``."""
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "",
             f"{seconds}s" if seconds else ""]
    return "".join(parts) or "0m"


def _break_words(b: Break) -> str:
    """A break in words: ``break after 9h30m (30 min)``, ``break after 3h-5h (30 min)``."""
    when = _span(b.after) if b.latest is None else f"{_span(b.after)}-{_span(b.latest)}"
    minutes, seconds = divmod(int(b.length.total_seconds()), 60)
    length = f"{minutes} min" if not seconds else _span(b.length)
    return f"break after {when} ({length})"


def _in_utc(value: dt.datetime) -> dt.datetime | None:
    """``value`` in UTC, or ``None`` when UTC falls outside the years 1 to 9999."""
    try:
        return value.astimezone(dt.timezone.utc)
    except OverflowError:
        return None


def _items(value: Any, name: str, kind: str) -> tuple[Any, ...]:
    """``value`` as a tuple, refusing anything that is not a collection of items."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        msg = (
            f"{name} must be a list of carekit.staffing.{kind} objects "
            f"(got {_validate.short(value)})"
        )
        raise CareKitError(msg)
    return tuple(value)


def _shifts(value: Any) -> tuple[Shift, ...]:
    items = _items(value, "shifts", "Shift")
    for item in items:
        if not isinstance(item, Shift):
            msg = f"shifts must be carekit.staffing.Shift objects (got {item!r})"
            raise CareKitError(msg)
    return items


@attrs.frozen(kw_only=True)
class Break:
    """A break inside a shift: ``length`` off the floor, starting ``after`` the shift starts.

    In a :class:`~carekit.staffing.ShiftTemplate` a break may instead start anywhere from
    ``after`` to ``latest`` (a window): :func:`~carekit.staffing.schedule` then places it
    where coverage can spare it. A :class:`Shift`'s breaks are fixed (``latest`` None).

    Args:
        after: time from the shift's start to the break's start (``timedelta`` or seconds).
        length: time off the floor (> 0; ``timedelta`` or seconds, a bare number below 60
            is refused as a likely mistake for minutes).
        latest: the latest start of the break in a template, at or after ``after``; None
            (default): the break starts exactly ``after`` the shift's start.

    Raises:
        CareKitError: a negative ``after``, a non-positive ``length``, a ``latest`` before
            ``after``.

    Examples:
        >>> Break(after=dt.timedelta(hours=4), length=dt.timedelta(minutes=30)).length
        datetime.timedelta(seconds=1800)
        >>> lunch = Break(after=3 * 3600, length=1800, latest=5 * 3600)
        >>> lunch.latest
        datetime.timedelta(seconds=18000)
    """

    after: dt.timedelta = attrs.field(converter=_after)
    length: dt.timedelta = attrs.field(converter=_length)
    latest: dt.timedelta | None = attrs.field(default=None, converter=_latest)

    def __attrs_post_init__(self) -> None:
        if self.latest is not None and self.latest < self.after:
            msg = (
                f"latest must be at or after after ({_span(self.after)}): the window in which "
                f"the break may start (got latest {_span(self.latest)})"
            )
            raise CareKitError(msg)

    @property
    def last_start(self) -> dt.timedelta:
        """The latest start of the break, ``latest``, or ``after`` for a fixed break."""
        return self.after if self.latest is None else self.latest


def _breaks(value: Any) -> tuple[Break, ...]:
    items = _items(value, "breaks", "Break")
    for item in items:
        if not isinstance(item, Break):
            msg = f"breaks must be carekit.staffing.Break objects (got {item!r})"
            raise CareKitError(msg)
    return tuple(sorted(items, key=lambda b: b.after))


def _name(_: Any, __: Any, value: Any) -> None:
    if not isinstance(value, str) or not value:
        msg = (
            "a shift's name must be a non-empty string such as 'early' "
            f"(got {_validate.short(value)})"
        )
        raise CareKitError(msg)


def _recurrence(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, rrule.rrule):
        return str(value).split("\n")[-1].removeprefix("RRULE:")
    if not isinstance(value, str):
        msg = (
            "recurrence must be an RRULE string or a dateutil rrule "
            f"(got {_validate.short(value)})"
        )
        raise CareKitError(msg)
    return value.strip().removeprefix("RRULE:")


@attrs.frozen(kw_only=True)
class Shift:
    """A shift worked by ``agents`` people, once or recurring (dateutil ``rrule``).

    Args:
        name: a label (``"early"``).
        start: timezone-aware start of the first occurrence.
        duration: length of each occurrence (> 0; ``timedelta`` or seconds, a bare number
            below 60 is refused as a likely mistake for hours).
        agents: people working it (int from 1 to :data:`MAX_AGENTS`, 10**15).
        breaks: :class:`Break` objects, each inside the shift; off the floor for the roster.
        recurrence: an RFC 5545 rule such as ``"FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"`` (or a
            dateutil ``rrule``); ``None`` for a single occurrence. Occurrences keep the
            wall-clock start in the start's time zone. A shift recurs at most daily:
            ``FREQ`` is ``DAILY``, ``WEEKLY``, ``MONTHLY`` or ``YEARLY`` (several starts a
            day are ``FREQ=DAILY;BYHOUR=8,16``, at most 1,440), ``INTERVAL`` at least 1,
            ``UNTIL`` in UTC (``...Z``), and the rule must match some date. Each window
            asked of the shift then costs the periods it spans plus at most one 400-year
            calendar cycle up to the next occurrence, however far it lies from ``start``.

    Raises:
        CareKitError: an empty or non-text name, a naive start, a non-positive duration,
            agents not an int from 1 to :data:`MAX_AGENTS`, a first occurrence that starts or
            ends outside the datetimes Python can hold in UTC (years 1 to 9999), breaks that
            are not a list of :class:`Break`, a break outside the shift, an invalid rule
            or one outside the limits above (``FREQ=MINUTELY``, ``INTERVAL=0``,
            ``BYMONTH=2;BYMONTHDAY=30``, ``COUNT`` with ``UNTIL``, ``BYEASTER``).

    Examples:
        >>> import datetime as dt
        >>> early = Shift(name="early", start=dt.datetime(2025, 3, 3, 8, tzinfo=dt.timezone.utc),
        ...               duration=dt.timedelta(hours=8), agents=5,
        ...               recurrence="FREQ=DAILY;COUNT=5")
        >>> len(list(early.occurrences(early.start, early.start + dt.timedelta(days=7))))
        5
    """

    name: str = attrs.field(validator=_name)
    start: dt.datetime = attrs.field(converter=_start)
    duration: dt.timedelta = attrs.field(converter=_duration)
    agents: int = attrs.field(default=1, converter=_agents)
    breaks: tuple[Break, ...] = attrs.field(default=(), converter=_breaks)
    recurrence: str | None = attrs.field(default=None, converter=_recurrence)
    _rule: Recurrence | None = attrs.field(init=False, repr=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        self._check_occurrence("start", self.start)
        rule = None if self.recurrence is None else Recurrence(self.recurrence, self.start)
        object.__setattr__(self, "_rule", rule)
        for b in self.breaks:
            if b.latest is not None and b.latest != b.after:
                msg = (
                    f"a shift's breaks start at a fixed time, so the {_break_words(b)} of "
                    f"shift {self.name!r} must have latest=None; hint: break windows belong "
                    "to a ShiftTemplate, which schedule() places"
                )
                raise CareKitError(msg)
            if b.after + b.length > self.duration:
                msg = (
                    f"the {_break_words(b)} of shift {self.name!r} ends at "
                    f"{_span(b.after + b.length)}, after the shift's {_span(self.duration)}; "
                    "a break must end within its shift"
                )
                raise CareKitError(msg)

    def _check_occurrence(self, name: str, occurrence: dt.datetime) -> dt.datetime:
        """The end of an occurrence starting at ``occurrence``, refusing one out of range."""
        try:
            finish = occurrence + self.duration
        except OverflowError:
            finish = None
        if finish is None or _in_utc(occurrence) is None or _in_utc(finish) is None:
            msg = (
                f"{name} must leave room for the shift {self.name!r} (duration "
                f"{self.duration}) to begin and end within the years 1 to 9999 in UTC "
                f"(got {occurrence!r})"
            )
            raise CareKitError(msg)
        return finish

    def _ends_after(self, occurrence: dt.datetime, start: dt.datetime) -> bool:
        try:
            return occurrence + self.duration > start
        except OverflowError:  # ends past datetime.max: after any start
            return True

    def occurrences(self, start: dt.datetime, end: dt.datetime) -> Iterator[dt.datetime]:
        """Starts of the occurrences that overlap ``[start, end)``.

        Raises:
            CareKitError: ``start`` or ``end`` is not a timezone-aware datetime; a recurring
                shift asked about more than :data:`carekit.calendar.MAX_SPAN_YEARS` (400)
                years of its occurrences.
        """
        start = _validate.aware("start", start)
        end = _validate.aware("end", end)
        if self._rule is None:
            if self.start < end and self._ends_after(self.start, start):
                yield self.start
            return
        _check_span(max(start, self.start), end)
        try:
            # A day more than the duration: an occurrence's end is its wall-clock start plus
            # the duration, so a shift spanning the autumn change lasts an hour longer than
            # the duration (22:00-06:00 is nine hours), which a window in UTC must still find.
            since = start - self.duration - _LOOKBACK
        except OverflowError:  # start is within one shift of datetime.min
            since = self.start  # no occurrence starts before the first
        for occurrence in self._rule.between(since, end):
            if occurrence < end and self._ends_after(occurrence, start):
                yield occurrence

    def on_floor(self, occurrence: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
        """The ``[from, to)`` spans of an occurrence spent on the floor (breaks removed).

        Raises:
            CareKitError: ``occurrence`` is not a timezone-aware datetime, or the occurrence
                would start or end outside the years 1 to 9999 in UTC.
        """
        occurrence = _validate.aware("occurrence", occurrence)
        finish = self._check_occurrence("occurrence", occurrence)
        spans = []
        cursor = occurrence
        for b in self.breaks:
            begin = occurrence + b.after
            if begin > cursor:
                spans.append((cursor, begin))
            cursor = max(cursor, begin + b.length)
        if finish > cursor:
            spans.append((cursor, finish))
        return spans


def _calendar(value: Any) -> BusinessCalendar | None:
    if value is None or isinstance(value, BusinessCalendar):
        return value
    msg = (
        "calendar must be a carekit.calendar.BusinessCalendar or None "
        f"(got {_validate.short(value)})"
    )
    raise CareKitError(msg)


@attrs.frozen(kw_only=True)
class Roster:
    """The shifts planned for a period.

    Args:
        shifts: the :class:`Shift` objects.
        calendar: when given, a shift occurrence that starts on a day that is not a business
            day of this calendar (a holiday, or not one of its workdays) does not happen: the
            shop is closed. Otherwise every occurrence of every shift's rule happens.

    Raises:
        CareKitError: ``shifts`` that is not a list of :class:`Shift`, a calendar that is
            not a :class:`~carekit.calendar.BusinessCalendar`.

    Examples:
        >>> import datetime as dt
        >>> nine = dt.datetime(2025, 3, 3, 9, tzinfo=dt.timezone.utc)
        >>> roster = Roster(shifts=[Shift(name="day", start=nine, duration=3600 * 8, agents=4)])
        >>> roster.on_duty(nine, nine + dt.timedelta(minutes=30))
        4.0

        Closed on a holiday:

        >>> from carekit.calendar import BusinessCalendar
        >>> closed = BusinessCalendar(holidays=[dt.date(2025, 3, 3)])
        >>> shut = Roster(shifts=roster.shifts, calendar=closed)
        >>> shut.on_duty(nine, nine + dt.timedelta(hours=1))
        0.0
    """

    shifts: tuple[Shift, ...] = attrs.field(converter=_shifts)
    calendar: BusinessCalendar | None = attrs.field(default=None, converter=_calendar)

    def __iter__(self) -> Iterator[Shift]:
        return iter(self.shifts)

    def __len__(self) -> int:
        """How many shifts (rules, not occurrences) the roster holds."""
        return len(self.shifts)

    @overload
    def __getitem__(self, index: int) -> Shift: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Shift, ...]: ...

    def __getitem__(self, index: int | slice) -> Shift | tuple[Shift, ...]:
        """The shift at ``index`` (``roster[0]``, ``roster[-1]``), or a slice's as a tuple."""
        return self.shifts[index]

    def on_duty(self, start: dt.datetime, end: dt.datetime) -> float:
        """Average number of people on the floor over ``[start, end)`` (breaks excluded).

        Raises:
            CareKitError: ``start`` or ``end`` is not a timezone-aware datetime, falls
                outside the years 1 to 9999 in UTC, or ``end`` is not after ``start``; a
                recurring shift's occurrences spanning more than
                :data:`carekit.calendar.MAX_SPAN_YEARS` (400) years of the window (the work is
                proportional to them); an occurrence in the window that would end past the
                year 9999.
        """
        start = _validate.aware("start", start)
        end = _validate.aware("end", end)
        if end <= start:
            msg = f"end must be after start {start.isoformat()} (got {end.isoformat()})"
            raise CareKitError(msg)
        # Compare in UTC: arithmetic between datetimes sharing a tzinfo is wall-clock time.
        for name, value in (("start", start), ("end", end)):
            if _in_utc(value) is None:
                msg = (
                    f"{name} must fall within the years 1 to 9999 in UTC (got {value!r})"
                )
                raise CareKitError(msg)
        start = start.astimezone(dt.timezone.utc)
        end = end.astimezone(dt.timezone.utc)
        # Whole microseconds times people, in Python ints: a timedelta would overflow.
        micro = dt.timedelta(microseconds=1)
        total = 0
        calendar = self.calendar
        for shift in self.shifts:
            for occurrence in shift.occurrences(start, end):
                if calendar is not None and not calendar.is_business_day(occurrence):
                    continue
                for a, b in shift.on_floor(occurrence):
                    a_utc = a.astimezone(dt.timezone.utc)
                    b_utc = b.astimezone(dt.timezone.utc)
                    overlap = min(b_utc, end) - max(a_utc, start)
                    if overlap > dt.timedelta(0):
                        total += overlap // micro * shift.agents
        return total / ((end - start) // micro)

    def _on_duty_many(self, starts: list[dt.datetime], length: dt.timedelta) -> list[float]:
        """:meth:`on_duty` of ``[start, start + length)`` for many sorted, disjoint starts.

        Equal to calling :meth:`on_duty` per interval, with the rule of each shift walked
        once over the whole period instead of once per interval.
        """
        if not starts:
            return []
        utc = dt.timezone.utc
        try:
            begins = [s.astimezone(utc) for s in starts]
            ends = [b + length for b in begins]
        except OverflowError:
            return [self.on_duty(s, s + length) for s in starts]
        micro = dt.timedelta(microseconds=1)
        totals = [0] * len(starts)
        calendar = self.calendar
        first, last = begins[0], ends[-1]
        for shift in self.shifts:
            for occurrence in shift.occurrences(first, last):
                if calendar is not None and not calendar.is_business_day(occurrence):
                    continue
                for a, b in shift.on_floor(occurrence):
                    a_utc = a.astimezone(utc)
                    b_utc = b.astimezone(utc)
                    i = max(0, bisect.bisect_right(begins, a_utc) - 1)
                    while i < len(begins) and begins[i] < b_utc:
                        overlap = min(b_utc, ends[i]) - max(a_utc, begins[i])
                        if overlap > dt.timedelta(0):
                            totals[i] += overlap // micro * shift.agents
                        i += 1
        whole = length // micro
        return [t / whole for t in totals]

    def to_csv(self) -> str:
        """The roster as CSV text, in the columns ``carekit staffing --roster`` reads.

        Columns ``shift,start,hours,agents,breaks,recurrence,tz``: breaks as local
        ``HH:MM-HH:MM`` spans, and ``tz`` the start's zone name (such as ``Europe/London``)
        when it has one, so recurring shifts keep their wall-clock time across daylight
        saving when read back.

        Examples:
            >>> import datetime as dt
            >>> nine = dt.datetime(2025, 3, 3, 9, tzinfo=dt.timezone.utc)
            >>> lunch = Break(after=dt.timedelta(hours=3), length=dt.timedelta(minutes=30))
            >>> r = Roster(shifts=[Shift(name="day", start=nine, duration=8 * 3600, agents=4,
            ...                          breaks=[lunch], recurrence="FREQ=DAILY;COUNT=5")])
            >>> print(r.to_csv(), end="")
            shift,start,hours,agents,breaks,recurrence,tz
            day,2025-03-03T09:00:00+00:00,8,4,12:00-12:30,FREQ=DAILY;COUNT=5,
        """
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["shift", "start", "hours", "agents", "breaks", "recurrence", "tz"])
        for shift in self.shifts:
            spans = []
            for b in shift.breaks:
                a = shift.start + b.after
                spans.append(f"{a:%H:%M}-{a + b.length:%H:%M}")
            zone = shift.start.tzinfo
            writer.writerow([
                shift.name, shift.start.isoformat(),
                f"{shift.duration.total_seconds() / 3600:.10g}", shift.agents,
                " ".join(spans), shift.recurrence or "",
                zone.key if isinstance(zone, ZoneInfo) else "",
            ])
        return buf.getvalue()

    def to_ics(self, *, stamp: dt.datetime | None = None) -> str:
        """The roster as an iCalendar file (RFC 5545) that calendar applications import.

        One event per shift: its start in the shift's zone (with the zone's definition,
        covering the roster's span up to ten years) or in UTC, its duration, its recurrence
        rule as it is, and the people and breaks in the summary and description (and in
        ``X-CAREKIT-AGENTS``). Lines end in CRLF and are folded at 75 octets.

        Args:
            stamp: the ``DTSTAMP`` of every event (when the file was made, a
                timezone-aware datetime); None: the roster's earliest start, so the same
                roster always gives the same file.

        Raises:
            CareKitError: ``stamp`` is not a timezone-aware datetime, or falls outside the
                years 1 to 9999 in UTC.

        Examples:
            >>> import datetime as dt
            >>> nine = dt.datetime(2025, 3, 3, 9, tzinfo=dt.timezone.utc)
            >>> r = Roster(shifts=[Shift(name="day", start=nine, duration=8 * 3600, agents=4,
            ...                          recurrence="FREQ=WEEKLY;BYDAY=MO,TU;COUNT=2")])
            >>> for line in r.to_ics().splitlines():
            ...     if line.startswith(("DTSTART", "DURATION", "RRULE", "SUMMARY")):
            ...         print(line)
            ...
            DTSTART:20250303T090000Z
            DURATION:PT8H
            RRULE:FREQ=WEEKLY;BYDAY=MO,TU;COUNT=2
            SUMMARY:day (4 people)
        """
        if stamp is not None:
            stamp = _validate.aware("stamp", stamp)
            try:
                stamp.astimezone(dt.timezone.utc)
            except OverflowError:
                msg = f"stamp must fall within the years 1 to 9999 in UTC (got {stamp!r})"
                raise CareKitError(msg) from None
        return to_ics(self, stamp)

    @classmethod
    def from_shifts(
        cls, shifts: Iterable[Shift], calendar: BusinessCalendar | None = None
    ) -> Roster:
        """A roster from any iterable of shifts (closed on ``calendar``'s non-business days).

        Raises:
            CareKitError: ``shifts`` is not an iterable of :class:`Shift` (as for the
                constructor), or ``calendar`` is not a calendar.
        """
        if isinstance(shifts, (str, bytes)) or not isinstance(shifts, Iterable):
            msg = f"shifts must be an iterable of Shift objects (got {_validate.short(shifts)})"
            raise CareKitError(msg)
        return cls(shifts=tuple(shifts), calendar=calendar)


def _check_span(start: dt.datetime, end: dt.datetime) -> None:
    """Refuse a window longer than :data:`carekit.calendar.MAX_SPAN_YEARS` years.

    Walking a daily shift from 2026 to 9999 meant three million occurrences (15 s); like
    the calendar, a roster answers about at most one 400-year Gregorian cycle at a time.
    """
    from carekit.calendar import MAX_SPAN_YEARS

    if end.year - start.year > MAX_SPAN_YEARS:
        msg = (
            f"the window from {start.date()} to {end.date()} spans more than "
            f"{MAX_SPAN_YEARS} years (carekit.calendar.MAX_SPAN_YEARS); ask about a shorter one"
        )
        raise CareKitError(msg)
