"""Argument parsing and holiday expansion for :mod:`carekit.calendar` (private)."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.relativedelta import weekday as _dateutil_weekday
from dateutil.rrule import rrulebase

from carekit import _validate
from carekit._calendar_rules import check_rule, rule_dates
from carekit.errors import CareKitError

__all__ = [
    "DAY_NAMES",
    "HolidaySources",
    "parse_cutoff",
    "parse_holidays",
    "parse_hours",
    "parse_tz",
    "parse_weekday",
    "parse_workdays",
]

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_BY_NAME = {n.lower(): i for i, n in enumerate(DAY_NAMES)} | {
    n: i for i, n in enumerate(_FULL_NAMES)
}
_WEEKDAY_HINT = "a weekday 0=Mon..6=Sun, a dateutil weekday (MO, TU, ...) or a name like 'Mon'"
# In text ("Mon-Fri", "Sat,Sun", "0-4") a day may also be written as dateutil writes it.
_BY_TEXT = _BY_NAME | {n[:2].lower(): i for i, n in enumerate(DAY_NAMES)}
_WORKDAYS_TEXT_HINT = "weekdays such as 'Mon-Fri', 'Sat,Sun' or '0-4' (0 is Monday)"


def parse_weekday(name: str, value: Any) -> int:
    """Return the weekday number 0..6 for ``value`` or raise naming ``name``."""
    if isinstance(value, _dateutil_weekday):
        return int(value.weekday)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return value
    if isinstance(value, str) and value.strip().lower() in _BY_NAME:
        return _BY_NAME[value.strip().lower()]
    msg = f"{name} must hold {_WEEKDAY_HINT} (got {value!r})"
    raise CareKitError(msg)


def parse_workdays(value: Any) -> frozenset[int]:
    """Parse the ``workdays`` argument into a non-empty frozenset of weekday numbers.

    Text is read as the command line and shift templates read it: days and ranges
    (``"Mon-Fri"``, ``"Fri-Mon"`` wrapping over the weekend, ``"0-4"``) separated by commas
    or semicolons.
    """
    if isinstance(value, str):
        return _workdays_text(value)
    if isinstance(value, (bytes, int, _dateutil_weekday)) or not isinstance(value, Iterable):
        msg = (
            f"workdays must be an iterable of weekdays ({_WEEKDAY_HINT}) or text naming "
            f"{_WORKDAYS_TEXT_HINT} (got {value!r})"
        )
        raise CareKitError(msg)
    days = frozenset(parse_weekday("workdays", v) for v in value)
    if not days:
        msg = f"workdays must name at least one weekday (got {value!r})"
        raise CareKitError(msg)
    return days


def _workdays_text(text: str) -> frozenset[int]:
    """The weekdays ``text`` names (``"Mon-Fri"``, ``"Sat,Sun"``, ``"0-4"``)."""
    days: set[int] = set()
    for part in text.replace(";", ",").split(","):
        if not part.strip():
            continue
        bounds = [b.strip().lower() for b in part.split("-")]
        numbers = [
            int(b) if b.isascii() and b.isdigit() and int(b) <= 6 else _BY_TEXT.get(b, -1)
            for b in bounds
        ]
        if len(numbers) > 2 or min(numbers) < 0:
            where = "" if part.strip() == text.strip() else f" in {text!r}"
            msg = f"workdays must be {_WORKDAYS_TEXT_HINT} (got {part.strip()!r}{where})"
            raise CareKitError(msg)
        first, last = numbers[0], numbers[-1]
        days.update(range(first, last + 1) if first <= last else [*range(first, 7),
                                                                   *range(last + 1)])
    if not days:
        msg = f"workdays must name at least one weekday (got {text!r})"
        raise CareKitError(msg)
    return frozenset(days)


def parse_tz(value: Any) -> dt.tzinfo:
    """Return a tzinfo for ``value`` (a tzinfo or an IANA name such as 'Europe/Paris')."""
    if isinstance(value, dt.tzinfo):
        return value
    if isinstance(value, str):
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    msg = (
        "tz must be a datetime.tzinfo or an IANA time zone name like 'Europe/Paris' "
        f"(got {value!r})"
    )
    raise CareKitError(msg)


def parse_cutoff(value: Any) -> dt.time | None:
    """Return the daily cut-off (a naive ``datetime.time``) or None; text such as ``"14:00"``."""
    if value is None:
        return None
    given = value
    value = _validate.time_text("cutoff", value, "14:00")
    if not isinstance(value, dt.time) or value.tzinfo is not None:
        msg = (
            "cutoff must be a naive datetime.time (or text such as '14:00') in the "
            f"calendar's local time, or None (got {given!r})"
        )
        raise CareKitError(msg)
    return value


def parse_hours(value: Any, workdays: frozenset[int]) -> dict[int, tuple[dt.time, dt.time]]:
    """Parse ``hours`` into weekday -> (open, close); None means 09:00-17:00 every workday."""
    if value is None:
        return {d: (dt.time(9), dt.time(17)) for d in sorted(workdays)}
    if not isinstance(value, Mapping):
        msg = f"hours must be a mapping weekday -> (open, close) or None (got {value!r})"
        raise CareKitError(msg)
    hours: dict[int, tuple[dt.time, dt.time]] = {}
    for key, given in value.items():
        day = parse_weekday("hours", key)
        if day not in workdays:
            msg = (
                f"hours must only name workdays {sorted(workdays)} "
                f"(got {key!r}, which is {DAY_NAMES[day]})"
            )
            raise CareKitError(msg)
        span = given
        if isinstance(given, (tuple, list)) and len(given) == 2:
            # "09:00" reads as cutoff="14:00" does (a list: as hours come from JSON or TOML)
            span = tuple(_validate.time_text(f"hours[{key!r}]", t, "09:00") for t in given)
        ok = (
            isinstance(span, tuple)
            and len(span) == 2
            and all(isinstance(t, dt.time) and t.tzinfo is None for t in span)
        )
        if not ok:
            msg = (
                f"hours[{key!r}] must be a tuple (open, close) of naive datetime.time or "
                f"text such as ('09:00', '17:00') (got {span!r})"
            )
            raise CareKitError(msg)
        opening, closing = span
        if opening >= closing:
            msg = (
                f"hours[{key!r}] must open before it closes "
                f"(got open={opening!r}, close={closing!r})"
            )
            raise CareKitError(msg)
        hours[day] = (opening, closing)
    if not hours:
        msg = f"hours must open on at least one workday (got {value!r})"
        raise CareKitError(msg)
    return dict(sorted(hours.items()))


def _holiday_base_type() -> type | None:
    # A `holidays` calendar can only exist once its package is imported, so look it up
    # instead of importing the optional package on every construction.
    module = sys.modules.get("holidays")
    base = getattr(module, "HolidayBase", None)
    return base if isinstance(base, type) else None


class HolidaySources:
    """Holiday dates, rules and `holidays` calendars, expanded year range by year range."""

    __slots__ = ("calendars", "dates", "rules")

    def __init__(self, dates: frozenset[int], rules: tuple[Any, ...], calendars: tuple[Any, ...]):
        self.dates = dates
        self.rules = rules
        self.calendars = calendars

    def __repr__(self) -> str:
        parts = []
        if self.dates:
            parts.append(f"{len(self.dates)} date(s)")
        if self.rules:
            parts.append(f"{len(self.rules)} rule(s)")
        parts.extend(
            f"{type(c).__module__.split('.')[0]}.{type(c).__name__}" for c in self.calendars
        )
        return "<" + ", ".join(parts) + ">" if parts else "()"

    def ordinals(self, first_year: int, last_year: int) -> set[int]:
        """Ordinals of every holiday from 1 January ``first_year`` to 31 December ``last_year``."""
        lo = dt.date(first_year, 1, 1).toordinal()
        hi = dt.date(last_year, 12, 31).toordinal()
        out = {o for o in self.dates if lo <= o <= hi}
        for rule in self.rules:
            try:
                out.update(rule_dates(rule, lo, hi))
            except CareKitError:
                raise
            except (ArithmeticError, IndexError, TypeError, ValueError) as exc:
                # dateutil's own failures (a combination it cannot walk) name the rule.
                text = str(rule).replace("\n", " ")
                msg = f"holidays: dateutil could not expand the rule {text!r}: {exc}"
                raise CareKitError(msg) from exc
        for cal in self.calendars:
            # `date in calendar` is the holidays package's public way to fill a year when
            # the calendar was made with expand=True (its default). Neighbouring years are
            # filled too, since observed days can cross New Year.
            for year in range(max(1, first_year - 1), min(9999, last_year + 1) + 1):
                _ = dt.date(year, 6, 1) in cal
            for key in list(cal.keys()):
                if isinstance(key, dt.date):
                    o = key.toordinal()
                    if lo <= o <= hi:
                        out.add(o)
        return out


def parse_holidays(value: Any) -> HolidaySources:
    """Sort the ``holidays`` argument into dates, dateutil rules and `holidays` calendars."""
    base = _holiday_base_type()
    dates: set[int] = set()
    rules: list[Any] = []
    calendars: list[Any] = []

    def take(item: Any) -> bool:
        if base is not None and isinstance(item, base):
            calendars.append(item)
        elif isinstance(item, rrulebase):
            check_rule(item)
            rules.append(item)
        elif isinstance(item, dt.date):
            dates.add(item.toordinal())
        else:
            return False
        return True

    if value is None:
        return HolidaySources(frozenset(), (), ())
    if not take(value):
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            msg = (
                "holidays must be datetime.date objects, a dateutil rrule/rruleset, a `holidays` "
                f"package calendar, or an iterable of those (got {value!r})"
            )
            raise CareKitError(msg)
        for item in value:
            if not take(item):
                msg = (
                    "holidays must hold datetime.date objects, dateutil rrule/rruleset objects or "
                    f"`holidays` package calendars (got {item!r} of type {type(item).__name__})"
                )
                raise CareKitError(msg)
    return HolidaySources(frozenset(dates), tuple(rules), tuple(calendars))
