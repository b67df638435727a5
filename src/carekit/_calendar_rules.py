"""Holiday rules for :mod:`carekit.calendar`: what is accepted, and bounded expansion (private).

dateutil walks a rule from its ``dtstart``, one period (year, month, week, day) at a time, and
stops only once it has yielded an occurrence past the window asked for. A rule that started
centuries before the window is walked from its start; a rule that never occurs again
(``BYMONTH=2;BYMONTHDAY=30``, or one whose COUNT or UNTIL ran out) is walked up to the year 9999;
a rule repeating every minute yields half a million occurrences a year. Expansion here is
bounded instead:

* rules repeating more often than daily, or at several times of a day, are refused when the
  calendar is made (a holiday closes a whole day, so only the dates matter), and so are a
  COUNT above :data:`MAX_COUNT`, BYWEEKNO or BYEASTER outside yearly rules (RFC 5545 allows
  BYWEEKNO only there; dateutil's weekly masks disagree with its yearly ones across New Year)
  and BYEASTER offsets outside :data:`EASTER_OFFSETS`;
* a daily or weekly rule repeating every period (no INTERVAL, no BYSETPOS) is walked as the
  yearly rule with the same filters: dateutil tests the same day masks either way, but a yearly
  step tests a whole year at once;
* a rule without COUNT restarts near the window: its ``dtstart`` moves forward by whole periods
  of its own lattice (yearly and monthly rules by whole 400-year cycles too, since their default
  month and day come from the start), which leaves every later occurrence where it was; a rule
  with COUNT restarts whole cycles later with the occurrences it has left, counted over one
  cycle, since every cycle holds as many;
* the window and the rule move forward together by whole 400-year Gregorian cycles (146,097
  days, which is 20,871 weeks, so weekdays repeat too) and whole intervals, towards the year
  9999 where dateutil's walk ends, so a rule that no longer occurs is walked at most about one
  cycle past the window. Every BYxxx filter but BYEASTER repeats with the calendar.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from typing import Any, TypeAlias

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, rruleset

from carekit.errors import CareKitError

__all__ = ["EASTER_OFFSETS", "MAX_COUNT", "check_rule", "rule_dates"]

#: The largest COUNT a holiday rule may have (about 274 years of daily closures).
MAX_COUNT = 100_000
#: BYEASTER offsets that land in Easter's own year whatever the year (Easter Sunday falls
#: between 22 March and 25 April); dateutil fails or marks a wrong day outside them.
EASTER_OFFSETS = (-80, 250)

# A dateutil rrule. Its compiled fields (_freq, _bymonth, _dtstart, ...) are what the
# expansion reads; the type stubs leave them out, so the rules are typed loosely here.
_Rule: TypeAlias = Any

_FREQ_NAMES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY")
_CYCLE_DAYS = 146_097  # days in 400 Gregorian years, a whole number of weeks
_CYCLE_YEARS = 400
_LAST = dt.date.max.toordinal()
# How far before the window a moved start stays: a week, so a weekly rule's first period and
# a start later in the day than the occurrences both lie before the window.
_MARGIN_DAYS = 8


def _describe(rule: _Rule) -> str:
    text = str(rule).replace("\n", " ")
    return text if len(text) <= 160 else text[:157] + "..."


def check_rule(rule: Any, seen: set[int] | None = None) -> None:
    """Refuse a holiday rule whose expansion could not be bounded; raise naming what is wrong.

    Accepted: dateutil ``rrule`` objects repeating yearly, monthly, weekly or daily at one time
    of day with COUNT at most :data:`MAX_COUNT`, and ``rruleset`` objects made of such rules
    and of dates.
    """
    seen = set() if seen is None else seen
    if id(rule) in seen:
        msg = "holidays: an rruleset must not contain itself"
        raise CareKitError(msg)
    seen.add(id(rule))
    if isinstance(rule, rruleset):
        _check_set(rule, seen)
        return
    if not isinstance(rule, rrule):
        msg = (
            "holidays rules must be dateutil rrule or rruleset objects "
            f"(got {type(rule).__name__})"
        )
        raise CareKitError(msg)
    _check_one(rule)


def _check_set(rules: _Rule, seen: set[int]) -> None:
    for part in [*rules._rrule, *rules._exrule]:
        check_rule(part, seen)
    for day in [*rules._rdate, *rules._exdate]:
        if not isinstance(day, dt.date):
            msg = (
                "holidays: an rruleset's rdate and exdate values must be datetime.date or "
                f"datetime objects (got {day!r})"
            )
            raise CareKitError(msg)


def _check_one(rule: _Rule) -> None:
    freq = rule._freq
    if freq > DAILY:
        msg = (
            "holidays rules must repeat daily or less often, because a holiday closes a "
            f"whole day (got FREQ={_FREQ_NAMES[freq]} in {_describe(rule)!r}); "
            "hint: use FREQ=DAILY, or list the dates"
        )
        raise CareKitError(msg)
    for name in ("byhour", "byminute", "bysecond"):
        values = getattr(rule, f"_{name}")
        if values is not None and len(values) > 1:
            msg = (
                f"holidays rules must occur at most once a day (got {name}={values!r} in "
                f"{_describe(rule)!r}); hint: leave {name.upper()} out, only the dates count"
            )
            raise CareKitError(msg)
    if rule._byweekno and freq != YEARLY:
        msg = (
            "holidays rules may use BYWEEKNO only with FREQ=YEARLY, as RFC 5545 says (got "
            f"FREQ={_FREQ_NAMES[freq]} in {_describe(rule)!r})"
        )
        raise CareKitError(msg)
    if rule._byeaster:
        if freq != YEARLY:
            msg = (
                "holidays rules may use BYEASTER only with FREQ=YEARLY (got "
                f"FREQ={_FREQ_NAMES[freq]} in {_describe(rule)!r})"
            )
            raise CareKitError(msg)
        outside = [n for n in rule._byeaster if not EASTER_OFFSETS[0] <= n <= EASTER_OFFSETS[1]]
        if outside:
            msg = (
                f"holidays rules' BYEASTER offsets must lie in {EASTER_OFFSETS[0]}.."
                f"{EASTER_OFFSETS[1]} days, so the day stays in Easter's own year (got "
                f"{outside} in {_describe(rule)!r})"
            )
            raise CareKitError(msg)
    if rule._count is not None and rule._count > MAX_COUNT:
        msg = (
            f"holidays rules may have COUNT at most {MAX_COUNT:,} (got {rule._count} in "
            f"{_describe(rule)!r}); hint: leave COUNT out for a rule that goes on"
        )
        raise CareKitError(msg)


def rule_dates(rule: _Rule, lo: int, hi: int) -> set[int]:
    """Ordinals in ``lo..hi`` of the dates a checked rule occurs on (in its own local time)."""
    return {occurrence.toordinal() for occurrence in _occurrences(rule, lo, hi)}


def _occurrences(rule: _Rule, lo: int, hi: int) -> set[Any]:
    if isinstance(rule, rruleset):
        return _set_occurrences(rule, lo, hi)
    return set(_rrule_occurrences(rule, lo, hi))  # check_rule let only rrule in besides


def _set_occurrences(rules: _Rule, lo: int, hi: int) -> set[Any]:
    # rruleset semantics: an exrule or exdate removes an occurrence equal to it.
    included: set[Any] = set()
    excluded: set[Any] = set()
    for part in rules._rrule:
        included |= _occurrences(part, lo, hi)
    included.update(d for d in rules._rdate if lo <= d.toordinal() <= hi)
    for part in rules._exrule:
        excluded |= _occurrences(part, lo, hi)
    excluded.update(d for d in rules._exdate if lo <= d.toordinal() <= hi)
    return included - excluded


def _quiet_yearly(**kwargs: Any) -> _Rule:
    # dateutil warns about COUNT with UNTIL; the user's rule already did, once.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return rrule(YEARLY, **kwargs)


def _quiet_replace(rule: _Rule, **kwargs: Any) -> _Rule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return rule.replace(**kwargs)


def _rrule_occurrences(rule: _Rule, lo: int, hi: int) -> list[dt.datetime]:
    start = rule._dtstart
    if start.toordinal() > hi:
        return []
    until = rule._until
    # An UNTIL in another zone may fall on the day before or after in the rule's own.
    if until is not None and until.toordinal() < lo - 1:
        return []
    walked = _as_yearly(rule)
    if walked is not None:
        walked = _restart_near(walked, lo) if walked._count is None else _skip_counted(walked, lo)
    if walked is None:
        return []
    tz = walked._tzinfo
    first = dt.datetime.combine(dt.date.fromordinal(lo), dt.time.min, tzinfo=tz)
    last = dt.datetime.combine(dt.date.fromordinal(hi), dt.time.max, tzinfo=tz)
    return _between(walked, first, last)


def _between(rule: _Rule, first: dt.datetime, last: dt.datetime) -> list[dt.datetime]:
    """``rule.between(first, last, inc=True)``, walked near the year 9999 where it can be."""
    shift = _cycle_shift(rule, last.toordinal())
    if not shift:
        return list(rule.between(first, last, inc=True))
    step = dt.timedelta(days=shift)
    found = _moved(rule, shift).between(first + step, last + step, inc=True)
    return [occurrence - step for occurrence in found]


def _as_yearly(rule: _Rule) -> _Rule | None:
    """The yearly rule with the same occurrences, where there is one; None for no occurrence.

    With INTERVAL=1 every day (every week) is in play, and dateutil keeps or drops each day by
    the same masks whatever the frequency; one time a day keeps the order and so COUNT.
    """
    freq = rule._freq
    if rule._interval != 1 or freq not in (DAILY, WEEKLY):
        return rule
    setpos = rule._bysetpos
    if freq == WEEKLY and (setpos or rule._byweekno or rule._byeaster):
        return rule
    # A daily period holds one occurrence at most: position 1 (or -1) is it, others are
    # never there.
    if setpos and 1 not in setpos and -1 not in setpos:
        return None
    monthdays = tuple(rule._bymonthday) + tuple(rule._bynmonthday)
    kwargs: dict[str, Any] = {
        "dtstart": rule._dtstart,
        "wkst": rule._wkst,
        "count": rule._count,
        "until": rule._until,
        "bymonth": rule._bymonth,
        "byweekno": rule._byweekno,
        "byyearday": rule._byyearday,
        "byeaster": rule._byeaster,
        "byweekday": rule._byweekday,
        "bymonthday": monthdays or None,
        "byhour": rule._byhour,
        "byminute": rule._byminute,
        "bysecond": rule._bysecond,
    }
    filters = ("byweekno", "byyearday", "bymonthday", "byweekday", "byeaster")
    if all(kwargs[name] is None for name in filters):
        # Without a day filter a yearly rule would default to dtstart's month and day;
        # every day of the year is what the daily rule means.
        kwargs["byyearday"] = range(1, 367)
    return _quiet_yearly(**kwargs)


def _lattice(rule: _Rule) -> tuple[int, int]:
    """The rule's step as (days, years): one of them is 0.

    Daily and weekly rules step by whole intervals; yearly and monthly ones by whole intervals
    that are also whole 400-year cycles, so the start's month and day exist and repeat.
    """
    freq, interval = rule._freq, rule._interval
    if freq == DAILY:
        return interval, 0
    if freq == WEEKLY:
        return 7 * interval, 0
    if freq == MONTHLY:
        return 0, math.lcm(12 * _CYCLE_YEARS, interval) // 12
    return 0, math.lcm(_CYCLE_YEARS, interval)


def _restart_near(rule: _Rule, lo: int) -> _Rule:
    """The rule with ``dtstart`` moved forward along its lattice to just before ``lo``."""
    start = rule._dtstart
    target = lo - _MARGIN_DAYS
    if target <= start.toordinal():
        return rule
    days, years = _lattice(rule)
    if days:
        steps = (target - start.toordinal()) // days
        if steps <= 0:
            return rule
        moved = start + dt.timedelta(days=steps * days)
    else:
        steps = (dt.date.fromordinal(target).year - 1 - start.year) // years
        if steps <= 0:
            return rule
        moved = start.replace(year=start.year + steps * years)
    return _quiet_replace(rule, dtstart=moved)


def _cycle_days(rule: _Rule) -> int:
    """Days after which the rule's days repeat: whole 400-year cycles and whole intervals."""
    days, years = _lattice(rule)
    if days:
        return math.lcm(_CYCLE_DAYS, days)
    return years // _CYCLE_YEARS * _CYCLE_DAYS


def _skip_counted(rule: _Rule, lo: int) -> _Rule | None:
    """A rule with COUNT restarted whole cycles later, with the occurrences left; None if none.

    Each cycle holds the same number of occurrences (until COUNT runs out), so the cycles
    before the window need counting only once.
    """
    if rule._byeaster:
        return rule  # yearly (check_rule), so walking from the start is cheap enough
    start = rule._dtstart
    cycle = _cycle_days(rule)
    cycles = (lo - _MARGIN_DAYS - start.toordinal()) // cycle
    if cycles <= 0:
        return rule
    free = _quiet_replace(rule, count=None, until=None)
    end = start + dt.timedelta(days=cycle) - dt.timedelta(microseconds=1)
    per_cycle = len(_between(free, start, end))
    used = cycles * per_cycle
    count = rule._count
    assert count is not None
    if not per_cycle or used >= count:
        return None
    later = start + dt.timedelta(days=cycles * cycle)
    return _quiet_replace(rule, dtstart=later, count=count - used)


def _cycle_shift(rule: _Rule, hi: int) -> int:
    """Days (a whole number of cycles and intervals) to move the rule and window forward by."""
    if rule._byeaster:
        return 0  # Easter does not repeat every 400 years
    until = rule._until
    if until is not None and until.tzinfo is not rule._tzinfo:
        return 0  # compared in UTC: an offset that changes over the centuries would move it
    cycle = _cycle_days(rule)
    start: int = rule._dtstart.toordinal()
    room = _LAST - _MARGIN_DAYS - max(hi, start)
    return max(0, room // cycle) * cycle


def _moved(rule: _Rule, days: int) -> _Rule:
    """The rule ``days`` later: start and UNTIL moved; an UNTIL past 9999 ends nothing."""
    step = dt.timedelta(days=days)
    until = rule._until
    if until is not None:
        until = until + step if until.toordinal() + days <= _LAST else None
    return _quiet_replace(rule, dtstart=rule._dtstart + step, until=until)
