"""A promise as JSON-safe data and back, so it can ride in journey event data (private).

The dict holds ISO 8601 dates and times, the stage distributions, and the promise's business
calendar as its workdays, cut-off, zone, opening hours and the holidays it closes on from
the year of the order to the year after the promised date (the span any risk check of the
promise reads; the calendar is rebuilt from those dates).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from carekit.errors import CareKitError

if TYPE_CHECKING:
    from carekit.promises.promise import Promise

__all__ = ["FORMAT", "promise_from_dict", "promise_to_dict"]

#: The version of the dict's layout (``"format"``); a dict of another format is refused.
FORMAT = 1
_SCALARS = (str, int, float, bool, type(None))


def _segment_out(segment: Any) -> Any:
    if isinstance(segment, _SCALARS) and not (
        isinstance(segment, float) and not math.isfinite(segment)
    ):
        return segment
    if isinstance(segment, tuple) and all(isinstance(s, _SCALARS) for s in segment):
        return list(segment)
    msg = (
        "Promise.to_dict needs a segment that is a string, a number, a bool, None or a tuple "
        f"of those (got {segment!r})"
    )
    raise CareKitError(msg)


def _zone_out(tz: dt.tzinfo) -> str:
    key = getattr(tz, "key", None)
    if isinstance(key, str) and key:
        return key
    offset = tz.utcoffset(None)
    if isinstance(tz, dt.timezone) and offset is not None:
        if not offset:
            return "UTC"
        sign = "-" if offset < dt.timedelta(0) else "+"
        minutes = abs(offset) // dt.timedelta(minutes=1)
        return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    msg = f"Promise.to_dict needs a calendar whose zone has a name or a fixed offset (got {tz!r})"
    raise CareKitError(msg)


def _zone_in(text: str) -> Any:
    if text[:1] in "+-" and len(text) == 6 and text[3] == ":":
        hours, minutes = int(text[1:3]), int(text[4:6])
        span = dt.timedelta(hours=hours, minutes=minutes)
        return dt.timezone(-span if text[0] == "-" else span)
    return text


def _calendar_out(calendar: Any, first_year: int, last_year: int) -> dict[str, Any]:
    from carekit.calendar import BusinessCalendar

    if not isinstance(calendar, BusinessCalendar):
        msg = f"Promise.to_dict needs a carekit BusinessCalendar (got {calendar!r})"
        raise CareKitError(msg)
    ordinals = calendar._holidays.ordinals(first_year, last_year)
    return {
        "workdays": sorted(calendar.workdays),
        "cutoff": None if calendar.cutoff is None else calendar.cutoff.isoformat(),
        "tz": _zone_out(calendar.tz),
        "hours": {
            str(day): [opens.isoformat(), closes.isoformat()]
            for day, (opens, closes) in sorted(calendar.hours.items())
        },
        "holidays": [dt.date.fromordinal(o).isoformat() for o in sorted(ordinals)],
    }


def _calendar_in(data: Mapping[str, Any]) -> Any:
    from carekit.calendar import BusinessCalendar

    return BusinessCalendar(
        workdays=data["workdays"],
        holidays=[dt.date.fromisoformat(d) for d in data["holidays"]],
        cutoff=None if data["cutoff"] is None else dt.time.fromisoformat(data["cutoff"]),
        tz=_zone_in(data["tz"]),
        hours={
            int(day): (dt.time.fromisoformat(span[0]), dt.time.fromisoformat(span[1]))
            for day, span in data["hours"].items()
        }
        or None,
    )


def promise_to_dict(promise: Promise) -> dict[str, Any]:
    """``promise`` as JSON-safe data (see :meth:`Promise.to_dict`)."""
    calendar = promise.calendar
    last_year = min(promise.promised.year + 1, 9999)
    return {
        "format": FORMAT,
        "ordered_at": promise.ordered_at.isoformat(),
        "expected": promise.expected.isoformat(),
        "promised": promise.promised.isoformat(),
        "padding": promise.padding,
        "confidence": promise.confidence,
        "earliest": None if promise.earliest is None else promise.earliest.isoformat(),
        "segment": _segment_out(promise.segment),
        "reliable": promise.reliable,
        "basis": None if promise.basis is None else _segment_out(tuple(promise.basis)),
        "stages": [{"name": s.name, "cdf": list(s.cdf)} for s in promise.stages],
        "calendar": None
        if calendar is None
        else _calendar_out(calendar, promise.ordered_at.year, last_year),
    }


def promise_from_dict(data: Any) -> Promise:
    """The promise :func:`promise_to_dict` made (see :meth:`Promise.from_dict`)."""
    from carekit.promises.promise import Promise, StageForecast

    if not isinstance(data, Mapping):
        msg = f"Promise.from_dict needs a mapping made by Promise.to_dict (got {data!r})"
        raise CareKitError(msg)
    if data.get("format") != FORMAT:
        msg = (
            f"Promise.from_dict reads format {FORMAT} (a dict from Promise.to_dict); got "
            f"format {data.get('format')!r}"
        )
        raise CareKitError(msg)
    try:
        segment = data.get("segment")
        ordered_at = dt.datetime.fromisoformat(data["ordered_at"])
        earliest = data.get("earliest")
        calendar = data.get("calendar")
        return Promise(
            ordered_at=ordered_at,
            expected=dt.date.fromisoformat(data["expected"]),
            promised=dt.date.fromisoformat(data["promised"]),
            padding=data["padding"],
            confidence=data["confidence"],
            earliest=None if earliest is None else dt.date.fromisoformat(earliest),
            segment=tuple(segment) if isinstance(segment, list) else segment,
            reliable=data.get("reliable", True),
            basis=None if data.get("basis") is None else tuple(data["basis"]),
            stages=tuple(
                StageForecast(name=s["name"], cdf=tuple(s["cdf"])) for s in data.get("stages", ())
            ),
            calendar=None if calendar is None else _calendar_in(calendar),
        )
    except CareKitError as exc:
        msg = f"Promise.from_dict: {exc}"
        raise CareKitError(msg) from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        msg = (
            f"Promise.from_dict needs a dict made by Promise.to_dict "
            f"({type(exc).__name__}: {exc})"
        )
        raise CareKitError(msg) from None
