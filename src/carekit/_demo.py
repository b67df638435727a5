"""The first section of ``carekit demo``: the plugin system and the business calendar."""

from __future__ import annotations

import datetime as dt
import pathlib
from typing import TextIO

import carekit
from carekit.calendar import BusinessCalendar
from carekit.plugins import ENTRY_POINT_GROUP, CareKit

__all__ = ["demo"]


def demo(out: TextIO, workdir: pathlib.Path) -> None:
    """Show the channels the plugins provide and a business calendar at work."""
    kit = CareKit()
    out.write(f"== carekit {carekit.__version__}: plugins ==\n")
    out.write(f"plugins registered: {', '.join(kit.plugin_names())}\n")
    builtin = {"carekit.channels", "carekit.journeys"}
    external = [n for n in kit.plugin_names() if n not in builtin]
    if external:
        out.write(f"found through the {ENTRY_POINT_GROUP!r} entry-point group: "
                  f"{', '.join(external)}\n")
    else:
        out.write(f"no plugins installed under the {ENTRY_POINT_GROUP!r} entry-point group "
                  "(try: pip install ./examples/carekit-sms-plugin)\n")
    out.write("channels:\n")
    for channel in kit.channels.values():
        kind = "live" if channel.live else "async"
        target = "-" if channel.response_target is None else str(channel.response_target)
        out.write(f"  {channel.name:<12} {kind:<5} concurrency={channel.concurrency} "
                  f"respond within {target}\n")

    out.write("\n== Business calendar ==\n")
    # Mon–Fri, Christmas and Boxing Day closed, orders after 14:00 count from the next day.
    holidays = [dt.date(2026, 12, 25), dt.date(2026, 12, 28)]
    calendar = BusinessCalendar(holidays=holidays, cutoff=dt.time(14, 0), tz="Europe/London")
    out.write(f"{describe(calendar, holidays)}\n")
    ordered = dt.datetime(2026, 12, 23, 15, 30, tzinfo=dt.timezone.utc)
    out.write(f"order placed       {ordered.astimezone(calendar.tz):%a %d %b %H:%M} "
              f"(after the 14:00 cut-off)\n")
    out.write(f"counts from        {calendar.start_day(ordered):%a %d %b}\n")
    for n in (3, 10):
        due = calendar.add_business_days(ordered, n)
        out.write(f"+{n:<2} business days  {due:%a %d %b}\n")
    asked = dt.datetime(2026, 12, 24, 16, 30, tzinfo=calendar.tz)
    answer_by = calendar.add_business_hours(asked, dt.timedelta(hours=1))
    out.write(f"email at {asked:%a %H:%M}: answer within one business hour, by "
              f"{answer_by:%a %d %b %H:%M}\n")


def describe(calendar: BusinessCalendar, holidays: list[dt.date]) -> str:
    """A calendar in a reader's words: its days and hours, the days it closes, its cut-off."""
    monday = dt.date(2026, 1, 5)  # any Monday: the week's days are read off the calendar
    week = [monday + dt.timedelta(days=i) for i in range(7)]
    open_days = [f"{day:%a}" for day in week if calendar.is_business_day(day)]
    days = (f"{open_days[0]}-{open_days[-1]}" if len(open_days) > 2 else ", ".join(open_days))
    zone = getattr(calendar.tz, "key", str(calendar.tz))
    closed = ", ".join(f"{day:%a %d %b %Y}" for day in holidays)
    cutoff = (f"; orders after {calendar.cutoff:%H:%M} count from the next business day"
              if calendar.cutoff is not None else "")
    return f"open {days} ({zone} time), closed on {closed}{cutoff}"
