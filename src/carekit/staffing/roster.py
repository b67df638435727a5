"""Shifts and rosters: who is on duty when, with breaks and recurring patterns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

import attrs
from dateutil import rrule

from carekit import _validate
from carekit.calendar import BusinessCalendar
from carekit.errors import CareKitError

__all__ = ["MAX_AGENTS", "Break", "Roster", "Shift"]

#: The most people one :class:`Shift` may have: a million billion, the same bound as the
#: largest offered load a :class:`~carekit.staffing.Workload` may carry.
MAX_AGENTS = 10**15


def _after(value: Any) -> dt.timedelta:
    return _validate.duration("after", value)


def _length(value: Any) -> dt.timedelta:
    return _validate.positive_duration("length", value)


def _start(value: Any) -> dt.datetime:
    return _validate.aware("start", value)


def _duration(value: Any) -> dt.timedelta:
    return _validate.positive_duration("duration", value)


def _agents(value: Any) -> int:
    return _validate.positive_int("agents", value, maximum=MAX_AGENTS)


def _in_utc(value: dt.datetime) -> dt.datetime | None:
    """``value`` in UTC, or ``None`` when UTC falls outside the years 1 to 9999."""
    try:
        return value.astimezone(dt.timezone.utc)
    except OverflowError:
        return None


def _items(value: Any, name: str, kind: str) -> tuple[Any, ...]:
    """``value`` as a tuple, refusing anything that is not a collection of items."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        msg = f"{name} must be a list of carekit.staffing.{kind} objects (got {value!r})"
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

    Examples:
        >>> Break(after=dt.timedelta(hours=4), length=dt.timedelta(minutes=30)).length
        datetime.timedelta(seconds=1800)
    """

    after: dt.timedelta = attrs.field(converter=_after)
    length: dt.timedelta = attrs.field(converter=_length)


def _breaks(value: Any) -> tuple[Break, ...]:
    items = _items(value, "breaks", "Break")
    for item in items:
        if not isinstance(item, Break):
            msg = f"breaks must be carekit.staffing.Break objects (got {item!r})"
            raise CareKitError(msg)
    return tuple(sorted(items, key=lambda b: b.after))


def _name(_: Any, __: Any, value: Any) -> None:
    if not isinstance(value, str) or not value:
        msg = f"a shift's name must be a non-empty string such as 'early' (got {value!r})"
        raise CareKitError(msg)


def _recurrence(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, rrule.rrule):
        return str(value).split("\n")[-1].removeprefix("RRULE:")
    if not isinstance(value, str):
        msg = f"recurrence must be an RRULE string or a dateutil rrule (got {value!r})"
        raise CareKitError(msg)
    text = value.strip().removeprefix("RRULE:")
    try:
        rrule.rrulestr(text, dtstart=dt.datetime(2000, 1, 1))
    except (ValueError, TypeError) as exc:
        msg = (
            "recurrence must be a valid RFC 5545 RRULE such as 'FREQ=DAILY' "
            f"(got {value!r}): {exc}"
        )
        raise CareKitError(msg) from None
    return text


@attrs.frozen(kw_only=True)
class Shift:
    """A shift worked by ``agents`` people, once or recurring (dateutil ``rrule``).

    Args:
        name: a label (``"early"``).
        start: timezone-aware start of the first occurrence.
        duration: length of each occurrence (> 0).
        agents: people working it (int from 1 to :data:`MAX_AGENTS`, 10**15).
        breaks: :class:`Break` objects, each inside the shift; off the floor for the roster.
        recurrence: an RFC 5545 rule such as ``"FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"`` (or a
            dateutil ``rrule``); ``None`` for a single occurrence. Occurrences keep the
            wall-clock start in the start's time zone.

    Raises:
        CareKitError: an empty or non-text name, a naive start, a non-positive duration,
            agents not an int from 1 to :data:`MAX_AGENTS`, a first occurrence that starts or
            ends outside the datetimes Python can hold in UTC (years 1 to 9999), breaks that
            are not a list of :class:`Break`, a break outside the shift, an invalid rule.

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

    def __attrs_post_init__(self) -> None:
        self._check_occurrence("start", self.start)
        for b in self.breaks:
            if b.after + b.length > self.duration:
                msg = (
                    f"break {b!r} must end within the shift {self.name!r} of duration "
                    f"{self.duration!r}"
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
            CareKitError: ``start`` or ``end`` is not a timezone-aware datetime.
        """
        start = _validate.aware("start", start)
        end = _validate.aware("end", end)
        if self.recurrence is None:
            if self.start < end and self._ends_after(self.start, start):
                yield self.start
            return
        try:
            since = start - self.duration
        except OverflowError:  # start is within one shift of datetime.min
            since = self.start  # no occurrence starts before the first
        rule = rrule.rrulestr(self.recurrence, dtstart=self.start)
        assert isinstance(rule, rrule.rrule)
        for occurrence in rule.between(since, end, inc=True):
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
    msg = f"calendar must be a carekit.calendar.BusinessCalendar or None (got {value!r})"
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

    def on_duty(self, start: dt.datetime, end: dt.datetime) -> float:
        """Average number of people on the floor over ``[start, end)`` (breaks excluded).

        Raises:
            CareKitError: ``start`` or ``end`` is not a timezone-aware datetime, falls
                outside the years 1 to 9999 in UTC, or ``end`` is not after ``start``;
                an occurrence in the window that would end past the year 9999.
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
            msg = f"shifts must be an iterable of Shift objects (got {shifts!r})"
            raise CareKitError(msg)
        return cls(shifts=tuple(shifts), calendar=calendar)
