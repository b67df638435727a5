"""Business calendars: working days, holidays, order cut-offs, time zones and opening hours.

One :class:`BusinessCalendar` answers "which day does this order count from?", "what date is
ten business days later?" and "when is one business hour from now?" for promises, journeys
and staffing alike.

Examples:
    >>> import datetime as dt
    >>> from carekit.calendar import BusinessCalendar
    >>> cal = BusinessCalendar(holidays=[dt.date(2024, 12, 25)], cutoff=dt.time(14),
    ...                        tz="Europe/London")
    >>> cal.add_business_days(dt.date(2024, 12, 23), 2)
    datetime.date(2024, 12, 26)
"""

from __future__ import annotations

import datetime as _dt  # add_business_days names its argument dt, as the design does
import datetime as dt
import threading
import types
from collections.abc import Iterable, Mapping
from numbers import Integral
from typing import Any, TypeVar, overload
from zoneinfo import ZoneInfo

from carekit import _validate
from carekit._calendar_sources import (
    DAY_NAMES,
    HolidaySources,
    parse_cutoff,
    parse_holidays,
    parse_hours,
    parse_tz,
    parse_workdays,
)
from carekit._calendar_table import EPOCH, MAX_YEAR, MIN_YEAR, Table, to_us
from carekit.errors import CareKitError

__all__ = ["MAX_SPAN_YEARS", "BusinessCalendar"]

_D = TypeVar("_D", dt.date, dt.datetime)
_DATETIME = dt.datetime
_DATE = dt.date
_ONE_DAY = dt.timedelta(days=1)
_US = dt.timedelta(microseconds=1)
# Day steps used by the fast path, made once: building a timedelta costs more than a lookup.
_NDAYS = 1024
_DAYS = tuple(dt.timedelta(days) for days in range(_NDAYS))
_PLAIN_ZONES = (ZoneInfo, dt.timezone)
#: The most calendar years one call may work across; the days it is given and the day it
#: answers lie within this many consecutive years. Tables of business days (and of opening
#: hours, and the holiday rules expanded into them) cost time and memory per day covered, so
#: a bound per call keeps every call within a fraction of a second; 400 years is one whole
#: Gregorian cycle.
MAX_SPAN_YEARS = 400
# A table also holds the year before and after the years asked for.
_TABLE_YEARS = MAX_SPAN_YEARS + 2
# Give up looking for a business day once this many years in a row have none.
_EMPTY_YEARS_LIMIT = MAX_SPAN_YEARS


def _spanning(t: Table, first_year: int, last_year: int) -> int:
    """Years one table would span to cover both ``t`` and ``first_year..last_year``."""
    return max(last_year, t.last_year) - min(first_year, t.first_year) + 1


#: The years over which :meth:`BusinessCalendar._key` compares holidays.
_KEY_YEARS = (1970, 2100)


class BusinessCalendar:
    """Which days a business works, when orders stop counting for today, and opening hours.

    Args:
        workdays: the working weekdays: ints 0=Monday..6=Sunday, dateutil weekday constants
            (``MO``, ``TU``, ...) or names (``"Mon"``, ``"monday"``); or text as the command
            line and shift templates take it, days and ranges separated by commas
            (``"Mon-Fri"``, ``"Sat,Sun"``, ``"0-4"``). Default Monday-Friday.
        holidays: closed days: ``datetime.date`` objects, dateutil ``rrule``/``rruleset``
            objects (occurrences are used as dates; infinite rules are fine), calendars from
            the ``holidays`` package (``holidays.US()``), a single one of those or any
            iterable mixing them. Rules and calendars are expanded only over the years in use.
            Rules must repeat daily or less often, at one time of day, with COUNT at most
            100,000, BYWEEKNO and BYEASTER only in yearly rules (BYEASTER offsets -80..250).
        cutoff: the daily order cut-off in the calendar's local time, a ``datetime.time``
            or text such as ``"14:00"``. An order at or before the cut-off on a business
            day counts from that day; a later order, or one on a closed day, counts from
            the next business day. None: every order on a business day counts from that
            day.
        tz: the calendar's time zone, a ``tzinfo`` or an IANA name such as
            ``"America/New_York"``. Aware datetimes are converted to it; datetimes returned
            are aware in it.
        hours: opening hours for business-hour arithmetic, a mapping weekday ->
            ``(open, close)`` naive times, or text such as ``("09:00", "17:30")`` as for
            ``cutoff``. Workdays left out are closed. None (the default) opens 09:00-17:00
            on every workday. Holidays are closed all day.

    Raises:
        CareKitError: an argument has the wrong type or value, or a holiday rule is one the
            calendar refuses (see above); the message names it.

    The calendar is immutable; tables of business days are computed on first use for the
    years in use and grown as needed, so each call costs constant time (business hours:
    logarithmic) whatever ``n`` or the duration. Rules and ``holidays`` calendars are read
    once per year when that year is first needed. One call works within
    :data:`MAX_SPAN_YEARS` (400) consecutive calendar years: dates further apart, or a
    result further away, raise a :class:`CareKitError` instead of building tables for
    thousands of years.

    Examples:
        >>> import datetime as dt
        >>> cal = BusinessCalendar(workdays=("Mon", "Tue", "Wed", "Thu", "Fri"),
        ...                        holidays=[dt.date(2025, 1, 1)], tz="UTC")
        >>> cal.next_business_day(dt.date(2024, 12, 31))
        datetime.date(2025, 1, 2)
        >>> shop = BusinessCalendar(workdays="Mon-Sat", cutoff="14:00")
        >>> sorted(shop.workdays), shop.cutoff
        ([0, 1, 2, 3, 4, 5], datetime.time(14, 0))

    Calendars compare equal (and hash alike) when made with the same workdays, cut-off,
    time zone, hours and holiday dates. Holiday rules and ``holidays`` package calendars
    compare as the objects given: two calendars built on the same rule object are equal,
    two built on equal rules made separately are not (comparing what a rule closes on
    would mean expanding it).

        >>> shop == BusinessCalendar(workdays=range(6), cutoff=dt.time(14))
        True
        >>> shop == BusinessCalendar(workdays="Mon-Sat", cutoff="15:00")
        False
    """

    __slots__ = (
        "_cutoff",
        "_eq",
        "_fast",
        "_hash",
        "_holidays",
        "_hours",
        "_key_cache",
        "_lock",
        "_other",
        "_table",
        "_tz",
        "_workdays",
    )

    _workdays: frozenset[int]
    _holidays: HolidaySources
    _cutoff: dt.time | None
    _tz: dt.tzinfo
    _hours: dict[int, tuple[dt.time, dt.time]]
    _table: Table | None
    _other: Table | None
    _lock: threading.Lock
    _fast: tuple[Any, ...] | None
    _key_cache: tuple[Any, ...] | None
    _eq: tuple[Any, ...]
    _hash: int

    def __init__(
        self,
        workdays: Iterable[Any] = (0, 1, 2, 3, 4),
        holidays: Any = (),
        cutoff: dt.time | str | None = None,
        tz: dt.tzinfo | str = "UTC",
        hours: Mapping[Any, tuple[dt.time, dt.time]] | None = None,
    ) -> None:
        days = parse_workdays(workdays)
        setter = object.__setattr__
        setter(self, "_workdays", days)
        setter(self, "_holidays", parse_holidays(holidays))
        setter(self, "_cutoff", parse_cutoff(cutoff))
        setter(self, "_tz", parse_tz(tz))
        setter(self, "_hours", parse_hours(hours, days))
        setter(self, "_table", None)
        setter(self, "_other", None)
        setter(self, "_fast", None)
        setter(self, "_key_cache", None)
        setter(self, "_lock", threading.Lock())
        self._settle_equality()

    # -- immutability and pickling ------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        msg = f"BusinessCalendar is immutable; cannot set {name!r}"
        raise AttributeError(msg)

    def __delattr__(self, name: str) -> None:
        msg = f"BusinessCalendar is immutable; cannot delete {name!r}"
        raise AttributeError(msg)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "workdays": self._workdays,
            "holidays": self._holidays,
            "cutoff": self._cutoff,
            "tz": self._tz,
            "hours": self._hours,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        setter = object.__setattr__
        setter(self, "_workdays", state["workdays"])
        setter(self, "_holidays", state["holidays"])
        setter(self, "_cutoff", state["cutoff"])
        setter(self, "_tz", state["tz"])
        setter(self, "_hours", state["hours"])
        setter(self, "_table", None)
        setter(self, "_other", None)
        setter(self, "_fast", None)
        setter(self, "_key_cache", None)
        setter(self, "_lock", threading.Lock())
        self._settle_equality()

    # -- equality -----------------------------------------------------------------------

    def _settle_equality(self) -> None:
        """Set what ``==`` and ``hash`` compare: the arguments, holiday sources unexpanded.

        Dates compare by value; rules and `holidays` calendars by identity, since a rule
        set has no value to compare and a `holidays` calendar is a dict that fills as
        years are read. The calendar keeps them alive, so their ids stay theirs.
        """
        h = self._holidays
        tz = getattr(self._tz, "key", None) or str(self._tz)
        eq = (
            self._workdays,
            self._cutoff,
            tz,
            tuple(sorted(self._hours.items())),
            h.dates,
            frozenset(id(r) for r in h.rules),
            frozenset(id(c) for c in h.calendars),
        )
        object.__setattr__(self, "_eq", eq)
        object.__setattr__(self, "_hash", hash(eq))

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, BusinessCalendar):
            return NotImplemented
        return self._hash == other._hash and self._eq == other._eq

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        days = tuple(DAY_NAMES[d] for d in sorted(self._workdays))
        tz = getattr(self._tz, "key", None) or str(self._tz)
        hours = ", ".join(
            f"{DAY_NAMES[d]} {o:%H:%M}-{c:%H:%M}" for d, (o, c) in self._hours.items()
        )
        return (
            f"BusinessCalendar(workdays={days!r}, holidays={self._holidays!r}, "
            f"cutoff={self._cutoff!r}, tz={tz!r}, hours=<{hours}>)"
        )

    def _key(self) -> tuple[Any, ...]:
        """Equal for calendars that close on the same days and keep the same hours.

        Holidays are compared as the dates they close on from 1970 to 2100, whatever
        their source (dates, rules, `holidays` calendars), so equal calendars built in
        other processes, or pickled, compare equal. Computed once per calendar.
        """
        key = self._key_cache
        if key is None:
            with self._lock:  # the same lock as the tables: `holidays` calendars fill lazily
                tz = getattr(self._tz, "key", None) or str(self._tz)
                key = (
                    tuple(sorted(self._workdays)),
                    self._cutoff,
                    tz,
                    tuple(sorted(self._hours.items())),
                    frozenset(self._holidays.ordinals(*_KEY_YEARS)),
                )
                object.__setattr__(self, "_key_cache", key)
        return key

    # -- properties -----------------------------------------------------------------------

    @property
    def workdays(self) -> frozenset[int]:
        """The working weekdays, 0=Monday..6=Sunday.

        Examples:
            >>> sorted(BusinessCalendar(workdays=["Sat", "Sun"]).workdays)
            [5, 6]
        """
        return self._workdays

    @property
    def cutoff(self) -> dt.time | None:
        """The daily order cut-off in local time, or None.

        Examples:
            >>> import datetime as dt
            >>> BusinessCalendar(cutoff=dt.time(14)).cutoff
            datetime.time(14, 0)
        """
        return self._cutoff

    @property
    def tz(self) -> dt.tzinfo:
        """The calendar's time zone.

        Examples:
            >>> BusinessCalendar(tz="Europe/Paris").tz
            zoneinfo.ZoneInfo(key='Europe/Paris')
        """
        return self._tz

    @property
    def hours(self) -> Mapping[int, tuple[dt.time, dt.time]]:
        """Opening hours, weekday -> (open, close) in local time (read-only mapping).

        Examples:
            >>> BusinessCalendar(workdays=[0]).hours[0]
            (datetime.time(9, 0), datetime.time(17, 0))
        """
        return types.MappingProxyType(self._hours)

    # -- tables ---------------------------------------------------------------------------

    def _cover(self, first: int, last: int, what: str) -> Table:
        """A table covering the days with ordinals ``first..last``.

        Raises:
            CareKitError: the days span more than :data:`MAX_SPAN_YEARS` calendar years.
        """
        t = self._table
        if t is not None and t.lo <= first and last <= t.hi:
            return t
        other = self._other
        if other is not None and other.lo <= first and last <= other.hi:
            return other
        y0 = _DATE.fromordinal(first).year
        y1 = _DATE.fromordinal(last).year
        if y1 - y0 + 1 > MAX_SPAN_YEARS:
            msg = (
                f"{what}: the dates given span the years {y0}..{y1}, more than the "
                f"{MAX_SPAN_YEARS} calendar years one call may cover"
            )
            raise CareKitError(msg)
        return self._build(max(MIN_YEAR, y0 - 1), min(MAX_YEAR, y1 + 1))

    def _build(self, first_year: int, last_year: int) -> Table:
        """A table covering the years given (at most ``_TABLE_YEARS`` of them).

        Two tables are kept: the main one, which the fast path reads and which widens as
        nearby years are asked for, and one for years too far from it to share a table (a
        "no deadline" date in 9999, say), so that alternating between the two builds nothing
        after the first time. A table widens by its own span at least, so growth is
        geometric, but never past ``_TABLE_YEARS``.
        """
        with self._lock:
            main, other = self._table, self._other
            for t in (main, other):
                if t is not None and t.first_year <= first_year and last_year <= t.last_year:
                    return t
            if main is None or _spanning(main, first_year, last_year) <= _TABLE_YEARS:
                slot, t = "_table", main
            elif other is not None and _spanning(other, first_year, last_year) <= _TABLE_YEARS:
                slot, t = "_other", other
            else:
                slot, t = "_other", None
            if t is not None:
                span = t.years
                lo = min(first_year, t.first_year - span) if first_year < t.first_year else (
                    t.first_year
                )
                hi = max(last_year, t.last_year + span) if last_year > t.last_year else (
                    t.last_year
                )
                # Keep within _TABLE_YEARS, trimming the growth first, then the old table.
                lo = max(lo, min(first_year, t.first_year, hi - _TABLE_YEARS + 1))
                hi = min(hi, max(last_year, t.last_year, lo + _TABLE_YEARS - 1))
                lo = max(lo, hi - _TABLE_YEARS + 1)
                first_year, last_year = max(MIN_YEAR, lo), min(MAX_YEAR, hi)
            t = Table(self._workdays, self._holidays, first_year, last_year)
            if slot == "_table":
                object.__setattr__(self, "_fast", None)
            object.__setattr__(self, slot, t)
            return t

    def _grow(self, t: Table, o: int, forward: bool, missing: int, what: str) -> Table:
        """A table around day ``o`` with enough years to find ``missing`` more business days
        after (``forward``) or before table ``t``, which covers ``o``."""
        if not t.bd and t.years >= _EMPTY_YEARS_LIMIT:
            msg = (
                f"{what}: the calendar has no business day in the years "
                f"{t.first_year}..{t.last_year}; check workdays and holidays"
            )
            raise CareKitError(msg)
        # There cannot be more business days left than days left (checked first: ``missing``
        # may be too large an int for the float arithmetic below).
        if forward and (t.last_year >= MAX_YEAR or missing > _DATE.max.toordinal() - t.hi):
            msg = f"{what}: the result would fall after {MAX_YEAR}-12-31"
            raise CareKitError(msg)
        if not forward and (t.first_year <= MIN_YEAR or missing > t.lo - 1):
            msg = f"{what}: the result would fall before {MIN_YEAR:04d}-01-01"
            raise CareKitError(msg)
        day = _DATE.fromordinal(o)
        per_year = max(1.0, len(t.bd) / t.years)
        years = max(int(min(missing / per_year, _TABLE_YEARS)) + 2, t.years)
        if forward:
            limit = min(MAX_YEAR, day.year + MAX_SPAN_YEARS)
            if t.last_year >= limit:
                msg = (
                    f"{what}: the result would fall after {limit}-12-31, more than "
                    f"{MAX_SPAN_YEARS} years after {day.isoformat()}; one call covers at most "
                    f"{MAX_SPAN_YEARS} years"
                )
                raise CareKitError(msg)
            last = min(limit, t.last_year + years)
            return self._build(max(t.first_year, last - _TABLE_YEARS + 1), last)
        limit = max(MIN_YEAR, day.year - MAX_SPAN_YEARS)
        if t.first_year <= limit:
            msg = (
                f"{what}: the result would fall before {limit:04d}-01-01, more than "
                f"{MAX_SPAN_YEARS} years before {day.isoformat()}; one call covers at most "
                f"{MAX_SPAN_YEARS} years"
            )
            raise CareKitError(msg)
        first = max(limit, t.first_year - years)
        return self._build(first, min(t.last_year, first + _TABLE_YEARS - 1))

    def _shift(self, o: int, stay: bool, n: int, what: str) -> int:
        """Ordinal of the business day ``n`` business days from the start day of day ``o``.

        ``stay``: whether day ``o`` itself is the start day when it is a business day (False
        after the cut-off: then the next business day is). The start day is business day
        number ``rank - stay`` (0-based), because ``rank`` counts business days up to ``o``.
        """
        t = self._cover(o, o, what)
        while True:
            i = o - t.lo
            k = t.rank[i] + n
            if stay and t.flags[i]:
                k -= 1
            if 0 <= k < len(t.bd):
                return t.bd[k]
            t = self._grow(t, o, k >= 0, k - len(t.bd) + 1 if k >= 0 else -k, what)

    # -- conversions ----------------------------------------------------------------------

    def _local(self, name: str, value: Any) -> dt.datetime:
        tz = self._tz
        if isinstance(value, _DATETIME):
            if value.tzinfo is tz:
                return value
            _validate.aware(name, value)
            try:
                return value.astimezone(tz)
            except OverflowError as exc:
                msg = f"{name} cannot be expressed in {tz!r} (got {value!r})"
                raise CareKitError(msg) from exc
        return _validate.aware(name, value)

    def _day(self, name: str, value: Any) -> tuple[int, dt.datetime | None]:
        """Local date ordinal of a date or aware datetime, and the local datetime if any."""
        if isinstance(value, _DATETIME):
            local = self._local(name, value)
            return local.toordinal(), local
        if isinstance(value, _DATE):
            return value.toordinal(), None
        msg = f"{name} must be a datetime.date or a timezone-aware datetime (got {value!r})"
        raise CareKitError(msg)

    def _wall(self, day: int, local: dt.datetime) -> dt.datetime:
        """``local``'s wall time on day ordinal ``day``, made valid in the calendar's zone."""
        tz = self._tz
        moved = _DATETIME.combine(_DATE.fromordinal(day), local.time(), tzinfo=tz)
        if isinstance(tz, dt.timezone):
            return moved
        # A wall time in a DST gap does not exist; the UTC round trip moves it forward, by
        # the gap's size, when read with fold=0 (fold=1, kept from a repeated hour in the
        # input, would move it back).
        try:
            valid = moved.astimezone(dt.timezone.utc).astimezone(tz)
            if moved.fold and valid.replace(tzinfo=None, fold=0) != moved.replace(
                tzinfo=None, fold=0
            ):
                valid = moved.replace(fold=0).astimezone(dt.timezone.utc).astimezone(tz)
            return valid
        except OverflowError:
            msg = (
                f"the result, {moved.replace(tzinfo=None).isoformat()} in {tz}, would fall "
                f"outside the years {MIN_YEAR}..{MAX_YEAR} in UTC"
            )
            raise CareKitError(msg) from None

    # -- business days --------------------------------------------------------------------

    def is_business_day(self, d: dt.date | dt.datetime) -> bool:
        """Whether ``d`` (a datetime: its local date in the calendar's zone) is a business day.

        Args:
            d: a date, or an aware datetime.

        Returns:
            True on a workday that is not a holiday.

        Raises:
            CareKitError: ``d`` is not a date or is a naive datetime.

        Examples:
            >>> import datetime as dt
            >>> cal = BusinessCalendar(holidays=[dt.date(2024, 12, 25)])
            >>> cal.is_business_day(dt.date(2024, 12, 24))
            True
            >>> cal.is_business_day(dt.date(2024, 12, 25))
            False
        """
        o, _ = self._day("d", d)
        t = self._cover(o, o, "is_business_day")
        return bool(t.flags[o - t.lo])

    def next_business_day(self, d: dt.date | dt.datetime) -> dt.date:
        """The first business day strictly after ``d``'s (local) date.

        Raises:
            CareKitError: ``d`` is not a date or is a naive datetime; no business day
                follows before year 9999 ends, or within :data:`MAX_SPAN_YEARS` years.

        Examples:
            >>> import datetime as dt
            >>> BusinessCalendar().next_business_day(dt.date(2024, 5, 3))  # a Friday
            datetime.date(2024, 5, 6)
        """
        o, _ = self._day("d", d)
        return _DATE.fromordinal(self._shift(o, False, 0, "next_business_day"))

    def previous_business_day(self, d: dt.date | dt.datetime) -> dt.date:
        """The last business day strictly before ``d``'s (local) date.

        Raises:
            CareKitError: ``d`` is not a date or is a naive datetime; no business day
                comes before it, or within :data:`MAX_SPAN_YEARS` years.

        Examples:
            >>> import datetime as dt
            >>> BusinessCalendar().previous_business_day(dt.date(2024, 5, 6))  # a Monday
            datetime.date(2024, 5, 3)
        """
        o, _ = self._day("d", d)
        # rank counts business days on or before day o; on a business day skip o itself.
        return _DATE.fromordinal(self._shift(o, True, -1, "previous_business_day"))

    def roll_forward(self, d: dt.date | dt.datetime) -> dt.date:
        """``d``'s (local) date if it is a business day, else the next business day.

        Examples:
            >>> import datetime as dt
            >>> BusinessCalendar().roll_forward(dt.date(2024, 5, 4))  # a Saturday
            datetime.date(2024, 5, 6)
        """
        o, _ = self._day("d", d)
        return _DATE.fromordinal(self._shift(o, True, 0, "roll_forward"))

    def _starts_today(self, local: dt.datetime | None) -> bool:
        cutoff = self._cutoff
        return local is None or cutoff is None or local.time() <= cutoff

    def start_day(self, at: dt.date | dt.datetime) -> dt.date:
        """The business day an order placed ``at`` counts from.

        A datetime at or before the cut-off on a business day counts from that day; after the
        cut-off, or on a closed day, from the next business day. A date rolls forward.

        Args:
            at: when the order was placed: an aware datetime, or a date.

        Raises:
            CareKitError: ``at`` is not a date or is a naive datetime.

        Examples:
            >>> import datetime as dt
            >>> cal = BusinessCalendar(cutoff=dt.time(14), tz="America/New_York")
            >>> ny = cal.tz
            >>> cal.start_day(dt.datetime(2024, 5, 3, 13, 59, tzinfo=ny))
            datetime.date(2024, 5, 3)
            >>> cal.start_day(dt.datetime(2024, 5, 3, 14, 1, tzinfo=ny))
            datetime.date(2024, 5, 6)
        """
        o, local = self._day("at", at)
        return _DATE.fromordinal(self._shift(o, self._starts_today(local), 0, "start_day"))

    @overload
    def add_business_days(self, dt: _dt.datetime, n: int) -> _dt.datetime: ...
    @overload
    def add_business_days(self, dt: _dt.date, n: int) -> _dt.date: ...

    def add_business_days(
        self, dt: _dt.date | _dt.datetime, n: int
    ) -> _dt.date | _dt.datetime:
        """Move ``n`` business days from the day an order placed at ``dt`` counts from.

        The start is :meth:`start_day` (cut-off applied to datetimes); ``n`` may be negative,
        and 0 returns the start day. Constant time in ``n``.

        Args:
            dt: a date, or an aware datetime.
            n: business days to move (an int; bool is refused).

        Returns:
            A date for a date; for a datetime, an aware datetime in the calendar's zone on
            the resulting date at the same local wall time (moved forward out of a DST gap).

        Raises:
            CareKitError: bad ``dt`` or ``n``; the result would leave years 1..9999, or
                lie more than :data:`MAX_SPAN_YEARS` years away.

        Examples:
            >>> import datetime as dt
            >>> cal = BusinessCalendar(cutoff=dt.time(14), tz="America/New_York")
            >>> cal.add_business_days(dt.datetime(2024, 5, 3, 15, 0, tzinfo=cal.tz), 1)
            datetime.datetime(2024, 5, 7, 15, 0, tzinfo=zoneinfo.ZoneInfo(key='America/New_York'))
            >>> cal.add_business_days(dt.date(2024, 5, 4), -1)
            datetime.date(2024, 5, 3)
        """
        d = dt
        fast = self._fast
        if fast is not None and d.__class__ is _DATETIME and n.__class__ is int:
            # Fast path: a few list lookups and a precomputed day step. Datetimes in other
            # standard zones are converted first (naive and custom tzinfos go the long way,
            # which validates them).
            tz, lo, days, cutoff, start, late, bd, stop, clean = fast
            zone = d.tzinfo
            if zone is not tz and zone.__class__ in _PLAIN_ZONES:
                try:  # noqa: SIM105 (a context manager costs more on this hot path)
                    d = d.astimezone(tz)
                except OverflowError:  # not in tz: the long way below says why
                    pass
            if d.tzinfo is tz and not d.fold:
                i = d.toordinal() - lo
                if 0 <= i < days:
                    k = (late[i] if d.time() > cutoff else start[i]) + n
                    if 0 <= k < stop:
                        j = bd[k]
                        if clean[j]:
                            j -= i
                            return d + (_DAYS[j] if 0 <= j < _NDAYS else _dt.timedelta(j))
        elif fast is not None and d.__class__ is _DATE and n.__class__ is int:
            i = d.toordinal() - fast[1]
            if 0 <= i < fast[2]:
                k = fast[4][i] + n
                if 0 <= k < fast[7]:
                    return _DATE.fromordinal(fast[6][k] + fast[1])
        if type(n) is not int:
            if isinstance(n, bool) or not isinstance(n, Integral):
                msg = f"n must be an int number of business days (got {n!r})"
                raise CareKitError(msg)
            n = int(n)
        o, local = self._day("dt", d)
        r = self._shift(o, self._starts_today(local), n, "add_business_days")
        if self._fast is None:
            self._prepare_fast()
        if local is None:
            return _DATE.fromordinal(r)
        return self._wall(r, local)

    def _prepare_fast(self) -> None:
        t = self._table
        if t is None:
            return
        clean = t.clean(self._tz)
        base = t.lo
        fast = (
            self._tz,
            base,
            t.n,
            dt.time.max if self._cutoff is None else self._cutoff,
            t.start_index,
            t.late_index,
            [o - base for o in t.bd],
            t.stop,
            clean,
        )
        if self._table is t:
            object.__setattr__(self, "_fast", fast)

    def business_days_between(self, a: dt.date | dt.datetime, b: dt.date | dt.datetime) -> int:
        """Business days from the day an order placed at ``a`` counts from to ``b``'s date.

        Counts business days ``d`` with ``start_day(a) < d <= date(b)``; when ``b``'s date is
        before the start day the count of ``date(b) < d <= start_day(a)`` is returned
        negated. So ``business_days_between(a, add_business_days(a, n)) == n``.

        Args:
            a: the start: a date or an aware datetime (cut-off applied).
            b: the end: a date or an aware datetime (its local date).

        Raises:
            CareKitError: ``a`` or ``b`` is not a date or is a naive datetime; they are
                more than :data:`MAX_SPAN_YEARS` calendar years apart.

        Examples:
            >>> import datetime as dt
            >>> cal = BusinessCalendar()
            >>> cal.business_days_between(dt.date(2024, 5, 3), dt.date(2024, 5, 10))
            5
            >>> cal.business_days_between(dt.date(2024, 5, 10), dt.date(2024, 5, 3))
            -5
        """
        s = _DATE.toordinal(self.start_day(a))
        e, _ = self._day("b", b)
        t = self._cover(min(s, e), max(s, e), "business_days_between")
        return t.rank[e - t.lo] - t.rank[s - t.lo]

    # -- business hours -------------------------------------------------------------------

    def add_business_hours(self, at: dt.datetime, duration: dt.timedelta | float) -> dt.datetime:
        """The earliest instant at which ``duration`` of opening hours has passed since ``at``.

        Only opening hours count (:attr:`hours`, business days only). Landing exactly on a
        closing time returns that closing time. DST is respected: a day's open time is
        real elapsed time.

        Args:
            at: an aware datetime.
            duration: a non-negative ``timedelta`` (or seconds).

        Returns:
            An aware datetime in the calendar's zone (``at`` itself, converted, for zero).

        Raises:
            CareKitError: naive ``at``, negative ``duration``, or a result after year 9999
                or more than :data:`MAX_SPAN_YEARS` years after ``at``.

        Examples:
            >>> import datetime as dt
            >>> cal = BusinessCalendar(tz="Europe/London")
            >>> friday = dt.datetime(2024, 5, 3, 16, 30, tzinfo=cal.tz)
            >>> cal.add_business_hours(friday, dt.timedelta(hours=1))
            datetime.datetime(2024, 5, 6, 9, 30, tzinfo=zoneinfo.ZoneInfo(key='Europe/London'))
        """
        local = self._local("at", at)
        span = _validate.duration("duration", duration)
        if not span:
            return local
        need = span // _US
        o = local.toordinal()
        t = self._cover(o, o, "add_business_hours")
        while True:
            h = t.hours(self._tz, self._hours)
            i = o - t.lo
            target = h.position(i, to_us(local)) + need
            instant = h.instant(target, i)
            if instant is not None:
                return (EPOCH + dt.timedelta(0, 0, instant)).astimezone(self._tz)
            if not h.cum[-1] and t.years >= _EMPTY_YEARS_LIMIT:
                msg = (
                    f"add_business_hours: the calendar is never open in the years "
                    f"{t.first_year}..{t.last_year}; check hours, workdays and holidays"
                )
                raise CareKitError(msg)
            if h.cum[-1]:
                open_per_day = max(1, h.cum[-1] // t.n)
                missing_days = (target - h.cum[-1]) // open_per_day + 1
            else:
                # Never open so far: no rate to estimate from. Grow the table by its own
                # span until the years in a row without an open hour say so above.
                missing_days = 1
            t = self._grow(t, o, True, missing_days, "add_business_hours")

    def business_hours_between(self, a: dt.datetime, b: dt.datetime) -> dt.timedelta:
        """Opening time between two instants, negative when ``b`` is before ``a``.

        Args:
            a: an aware datetime.
            b: an aware datetime.

        Returns:
            The open time in ``[a, b]`` (or minus the open time in ``[b, a]``), so that
            ``business_hours_between(a, add_business_hours(a, d)) == d``.

        Raises:
            CareKitError: ``a`` or ``b`` is naive; they are more than
                :data:`MAX_SPAN_YEARS` calendar years apart.

        Examples:
            >>> import datetime as dt
            >>> cal = BusinessCalendar(tz="UTC")
            >>> cal.business_hours_between(dt.datetime(2024, 5, 3, 16, tzinfo=dt.timezone.utc),
            ...                            dt.datetime(2024, 5, 6, 10, tzinfo=dt.timezone.utc))
            datetime.timedelta(seconds=7200)
        """
        la = self._local("a", a)
        lb = self._local("b", b)
        oa, ob = la.toordinal(), lb.toordinal()
        t = self._cover(min(oa, ob), max(oa, ob), "business_hours_between")
        h = t.hours(self._tz, self._hours)
        pa = h.position(oa - t.lo, to_us(la))
        pb = h.position(ob - t.lo, to_us(lb))
        return dt.timedelta(0, 0, pb - pa)
