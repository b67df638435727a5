"""A roster as an iCalendar file (RFC 5545), written without a dependency (private).

Each shift is one ``VEVENT``: ``DTSTART`` in the shift's zone (a ``TZID`` with its
``VTIMEZONE``, built from the zone's offsets) or in UTC for a fixed offset, a ``DURATION``,
and the shift's ``RRULE`` as it is (RFC 5545 already). The people and the breaks go in the
``SUMMARY`` and ``DESCRIPTION``, and in ``X-CAREKIT-AGENTS`` for programs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from carekit.staffing.roster import Roster, Shift

__all__ = ["to_ics"]

_UTC = dt.timezone.utc
#: How far the time-zone definitions reach for a rule without an end.
_OPEN_ENDED = dt.timedelta(days=366 * 10)


def _escape(text: str) -> str:
    """RFC 5545 3.3.11 TEXT: backslash, semicolon, comma and newlines escaped."""
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def _fold(line: str) -> Iterator[str]:
    """RFC 5545 3.1: lines of at most 75 octets, continued with a leading space."""
    data = line.encode("utf-8")
    limit = 75
    while len(data) > limit:
        cut = limit
        while cut > 0 and (data[cut] & 0xC0) == 0x80:  # do not split a UTF-8 character
            cut -= 1
        yield data[:cut].decode("utf-8")
        data = b" " + data[cut:]
        limit = 75
    yield data.decode("utf-8")


def _duration(value: dt.timedelta) -> str:
    """RFC 5545 3.3.6 DURATION: P[n]DT[n]H[n]M[n]S (whole seconds)."""
    total = int(value.total_seconds())
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    out = "P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (
        f"{secs}S" if secs else "")
    if clock:
        out += "T" + clock
    return out if out != "P" else "PT0S"


def _offset(value: dt.timedelta | None) -> str:
    seconds = int((value or dt.timedelta(0)).total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}{minutes:02d}" + (f"{secs:02d}" if secs else "")


def _local(value: dt.datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


def _transitions(zone: ZoneInfo, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """UTC instants in ``[start, end]`` where the zone's offset changes."""
    out = []
    step = dt.timedelta(hours=12)
    a = start
    while a < end:
        b = min(a + step, end)
        if a.astimezone(zone).utcoffset() != b.astimezone(zone).utcoffset():
            lo, hi = a, b
            while hi - lo > dt.timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(zone).utcoffset() == lo.astimezone(zone).utcoffset():
                    lo = mid
                else:
                    hi = mid
            out.append(hi.replace(microsecond=0))
        a = b
    return out


def _observance(instant: dt.datetime, before: dt.timedelta, after: dt.datetime) -> list[str]:
    """A STANDARD or DAYLIGHT block starting at ``instant`` (UTC), from offset ``before``."""
    kind = "DAYLIGHT" if after.dst() else "STANDARD"
    name = after.tzname()
    onset = (instant + before).replace(tzinfo=None)  # local time in the offset it leaves
    return [f"BEGIN:{kind}", f"DTSTART:{_local(onset)}",
            f"TZOFFSETFROM:{_offset(before)}", f"TZOFFSETTO:{_offset(after.utcoffset())}",
            *([f"TZNAME:{_escape(name)}"] if name else []), f"END:{kind}"]


def _vtimezone(zone: ZoneInfo, start: dt.datetime, end: dt.datetime) -> list[str]:
    """The zone's offsets from a day before ``start`` to ``end`` (UTC instants)."""
    lines = ["BEGIN:VTIMEZONE", f"TZID:{zone.key}"]
    opening = (start - dt.timedelta(days=1)).replace(microsecond=0)
    first = opening.astimezone(zone)
    lines += _observance(opening, first.utcoffset() or dt.timedelta(0), first)
    for instant in _transitions(zone, opening, end):
        before = (instant - dt.timedelta(seconds=1)).astimezone(zone).utcoffset()
        lines += _observance(instant, before or dt.timedelta(0), instant.astimezone(zone))
    lines.append("END:VTIMEZONE")
    return lines


def _last_end(shift: Shift) -> dt.datetime:
    """When the shift's last occurrence ends (at most ten years after its start)."""
    horizon = shift.start + _OPEN_ENDED
    rule = shift._rule
    if rule is None:
        return shift.start + shift.duration
    last = rule.last_start()
    return horizon if last is None else min(horizon, last + shift.duration)


def _uid(index: int, shift: Shift) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", shift.name).strip("-") or "shift"
    return f"{index}-{shift.start.astimezone(_UTC):%Y%m%dT%H%M%SZ}-{slug}@carekit"


def _break_text(shift: Shift) -> str:
    spans = []
    for b in shift.breaks:
        a = shift.start + b.after
        spans.append(f"{a:%H:%M}-{a + b.length:%H:%M}")
    return ", ".join(spans)


def to_ics(roster: Roster, stamp: dt.datetime | None = None) -> str:
    """The roster as iCalendar text (CRLF line ends, folded at 75 octets)."""
    shifts: Iterable[Shift] = roster.shifts
    zones: dict[str, tuple[ZoneInfo, dt.datetime, dt.datetime]] = {}
    for shift in shifts:
        zone = shift.start.tzinfo
        if isinstance(zone, ZoneInfo) and zone.key:
            begin = shift.start.astimezone(_UTC)
            end = _last_end(shift).astimezone(_UTC)
            if zone.key in zones:
                _, a, b = zones[zone.key]
                begin, end = min(a, begin), max(b, end)
            zones[zone.key] = (zone, begin, end)
    if stamp is None:
        stamp = min((s.start for s in shifts), default=dt.datetime(2000, 1, 1, tzinfo=_UTC))
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//carekit//staffing roster//EN",
             "CALSCALE:GREGORIAN"]
    for zone, begin, end in zones.values():
        lines += _vtimezone(zone, begin, end)
    for index, shift in enumerate(shifts, start=1):
        zone = shift.start.tzinfo
        if isinstance(zone, ZoneInfo) and zone.key:
            start = f"DTSTART;TZID={zone.key}:{_local(shift.start)}"
        else:
            start = f"DTSTART:{_local(shift.start.astimezone(_UTC))}Z"
        people = "1 person" if shift.agents == 1 else f"{shift.agents} people"
        breaks = _break_text(shift)
        description = people + (f"; breaks {breaks}" if breaks else "")
        lines += ["BEGIN:VEVENT", f"UID:{_uid(index, shift)}",
                  f"DTSTAMP:{_local(stamp.astimezone(_UTC))}Z", start,
                  f"DURATION:{_duration(shift.duration)}"]
        if shift.recurrence:
            lines.append(f"RRULE:{shift.recurrence}")
        lines += [f"SUMMARY:{_escape(f'{shift.name} ({people})')}",
                  f"DESCRIPTION:{_escape(description)}",
                  f"X-CAREKIT-AGENTS:{shift.agents}", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "".join(part + "\r\n" for line in lines for part in _fold(line))
