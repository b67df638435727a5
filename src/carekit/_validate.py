"""Argument checks shared by every public entry point (private).

Each helper raises :class:`carekit.CareKitError` (or the subclass given) with a message that
names the argument, what was expected and what was received.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from numbers import Integral, Real
from typing import Any

from carekit.errors import CareKitError

__all__ = [
    "aware",
    "duration",
    "finite",
    "interval_length",
    "non_negative",
    "optional_duration",
    "positive",
    "positive_duration",
    "positive_int",
    "probability",
]


def _fail(message: str, error: type[CareKitError] = CareKitError) -> CareKitError:
    return error(message)


def beyond_range(name: str, value: dt.datetime, doing: str) -> CareKitError:
    """The error for ``value`` too close to year 1 or 9999 for ``doing`` (an OverflowError).

    Examples:
        >>> import datetime as dt
        >>> error = beyond_range("now", dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone.utc),
        ...                      "the next check")
        >>> print(str(error).replace(" (years", "\\n(years"))
        now 9999-12-31T23:00:00+00:00 is too close to the end of the datetime range
        (years 1 to 9999) for the next check
    """
    end = "start" if value.year < 5000 else "end"
    msg = (
        f"{name} {value.isoformat()} is too close to the {end} of the datetime range "
        f"(years 1 to 9999) for {doing}"
    )
    return _fail(msg)


def time_text(name: str, value: Any, example: str = "08:00") -> Any:
    """``value``, with text such as ``"08:00"`` read as a ``datetime.time``; others as given.

    An hour of one digit (``"9:00"``, as people write it) reads as ``"09:00"``. The caller
    checks what it got (a naive ``datetime.time``, its own range...).

    Raises:
        CareKitError: text that is no ISO 8601 time of day.

    Examples:
        >>> time_text("cutoff", "9:30"), time_text("cutoff", "14:00:30")
        (datetime.time(9, 30), datetime.time(14, 0, 30))
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if len(text) > 2 and text[0].isdigit() and text[1] == ":":
        text = "0" + text
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        msg = f"{name} must be a time of day such as {example!r} (got {value!r})"
        raise _fail(msg) from None


def aware(name: str, value: Any) -> dt.datetime:
    """Return ``value`` if it is a timezone-aware datetime, else raise naming ``name``."""
    if type(value).__name__ == "NaTType":  # pandas' empty time: a datetime, and "naive"
        msg = f"{name} is missing (got NaT, an empty cell of a pandas datetime column)"
        raise _fail(msg)
    if not isinstance(value, dt.datetime):
        msg = f"{name} must be a timezone-aware datetime (got {short(value)})"
        if isinstance(value, str):  # a CSV cell
            msg += "; it is text: parse it first, e.g. datetime.fromisoformat(value)"
        raise _fail(msg)
    if value.tzinfo is None or value.utcoffset() is None:
        msg = (
            f"{name} must be a timezone-aware datetime (got naive {value!r}); "
            "hint: value.replace(tzinfo=ZoneInfo('Europe/London')) or datetime.now(timezone.utc)"
        )
        raise _fail(msg)
    return value


def finite(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is a finite real number (bool is refused)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        msg = f"{name} must be a real number (got {short(value)}){_convert_hint(value, 'float')}"
        raise _fail(msg)
    try:
        f = float(value)
    except (OverflowError, ValueError, ArithmeticError):  # e.g. 10**400, Decimal("sNaN")
        f = math.nan
    if not math.isfinite(f):
        msg = f"{name} must be a finite number (got {short(value)})"
        raise _fail(msg)
    return f


def _convert_hint(value: Any, kind: str) -> str:
    """How to pass a number of another library's type (a Decimal, a numpy integer)."""
    if isinstance(value, bool) or not isinstance(value, (Integral, Decimal)):
        return ""
    what = f"a {type(value).__module__.split('.')[0]}.{type(value).__name__}"
    return f", {what}: pass {kind}(value)"


def short(value: Any) -> str:
    """``repr(value)``, cut short when it is long (a 400-digit integer, say)."""
    try:
        text = repr(value)
    except ValueError:  # an int past the digit limit of int-to-str conversion
        return "a number too large to show"
    return text if len(text) <= 60 else f"{text[:25]}...{text[-10:]} ({len(text)} characters)"


def non_negative(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is finite and >= 0."""
    f = finite(name, value)
    if f < 0:
        msg = f"{name} must be >= 0 (got {value!r})"
        raise _fail(msg)
    return f


def positive(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is finite and > 0."""
    f = finite(name, value)
    if f <= 0:
        msg = f"{name} must be > 0 (got {value!r})"
        raise _fail(msg)
    return f


def positive_int(name: str, value: Any, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` if it is an int >= ``minimum`` (and <= ``maximum``; bool is refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        msg = (
            f"{name} must be an integer >= {minimum} (got {short(value)})"
            f"{_convert_hint(value, 'int')}"
        )
        raise _fail(msg)
    if value < minimum:
        msg = f"{name} must be an integer >= {minimum} (got {short(value)})"
        raise _fail(msg)
    if maximum is not None and value > maximum:
        msg = f"{name} must be an integer from {minimum} to {maximum:,} (got {short(value)})"
        raise _fail(msg)
    return value


def probability(
    name: str, value: Any, *, allow_zero: bool = False, allow_one: bool = True
) -> float:
    """Return ``value`` as a float if it lies in (0, 1] (bounds adjustable)."""
    f = finite(name, value)
    low_ok = f >= 0 if allow_zero else f > 0
    high_ok = f <= 1 if allow_one else f < 1
    if not (low_ok and high_ok):
        lo = "[0" if allow_zero else "(0"
        hi = "1]" if allow_one else "1)"
        msg = f"{name} must lie in {lo}, {hi} (got {value!r}){percent_hint(f)}"
        raise _fail(msg)
    return f


def percent_hint(value: float) -> str:
    """A hint for a share written as a percent (``80`` for 80 %), else nothing."""
    if 2 <= value <= 100:  # 1.5 is no percent anyone writes for a share
        return f"; a share, not a percent: pass {value / 100:g} for {value:g} %"
    return ""


def duration(name: str, value: Any) -> dt.timedelta:
    """Return ``value`` as a timedelta; numbers are read as seconds. Must be >= 0."""
    td = _timedelta(name, value)
    if td < dt.timedelta(0):
        msg = f"{name} must be a non-negative duration (got {value!r})"
        raise _fail(msg)
    return td


def _timedelta(name: str, value: Any) -> dt.timedelta:
    """``value`` as a timedelta (numbers are seconds), whatever its sign."""
    if isinstance(value, dt.timedelta):
        td = value
    elif isinstance(value, Real) and not isinstance(value, bool):
        seconds = finite(name, value)
        try:
            td = dt.timedelta(seconds=seconds)
        except OverflowError:
            msg = f"{name} is too long for a duration (got {value!r} seconds)"
            raise _fail(msg) from None
    else:
        msg = f"{name} must be a datetime.timedelta or a number of seconds (got {value!r})"
        raise _fail(msg)
    return td


def positive_duration(name: str, value: Any) -> dt.timedelta:
    """Like :func:`duration` but the duration must be > 0 (a negative one is told so too)."""
    td = _timedelta(name, value)
    if td <= dt.timedelta(0):
        msg = f"{name} must be a positive duration (got {value!r})"
        raise _fail(msg)
    return td


#: A bare number below this many seconds is refused as an interval length (a mistake for
#: minutes: ``interval=30``).
SHORTEST_BARE_INTERVAL = 60


def interval_length(name: str, value: Any) -> dt.timedelta:
    """Like :func:`positive_duration`, for the length of an interval of a forecast.

    A bare number below 60 is refused: ``interval=30`` reads 30 seconds, which is nearly
    always meant as 30 minutes. A ``timedelta`` of any positive length is taken as it is.
    """
    td = positive_duration(name, value)
    if not isinstance(value, dt.timedelta) and td.total_seconds() < SHORTEST_BARE_INTERVAL:
        number = f"{finite(name, value):g}"
        # The half-hour example, unless it is the very advice already given.
        example = "" if number == "30" else " (timedelta(minutes=30) or 1800 for half an hour)"
        msg = (
            f"{name}={number} is {number} seconds, too short for an interval (a bare number "
            f"is seconds); pass timedelta(minutes={number}) or {finite(name, value) * 60:g} "
            f"for {number} minutes{example}, or "
            f"timedelta(seconds={number}) if you do mean seconds"
        )
        raise _fail(msg)
    return td


def work_length(name: str, value: Any, *, unit: str = "hours") -> dt.timedelta:
    """Like :func:`positive_duration`, for the length of a shift (``unit="hours"``) or a break.

    A bare number below 60 is refused: ``duration=8`` reads 8 seconds, which is always meant
    as 8 hours (or, for a break, ``length=30`` as 30 minutes). A ``timedelta`` of any positive
    length is taken as it is.
    """
    td = positive_duration(name, value)
    if not isinstance(value, dt.timedelta) and td.total_seconds() < SHORTEST_BARE_INTERVAL:
        number = f"{finite(name, value):g}"
        seconds = finite(name, value) * (3600 if unit == "hours" else 60)
        msg = (
            f"{name}={number} is {number} seconds (a bare number is seconds); pass "
            f"timedelta({unit}={number}) or {seconds:g} for {number} {unit}, or "
            f"timedelta(seconds={number}) if you do mean seconds"
        )
        raise _fail(msg)
    return td


def optional_duration(name: str, value: Any) -> dt.timedelta | None:
    """Like :func:`duration`, passing ``None`` through."""
    return None if value is None else duration(name, value)
