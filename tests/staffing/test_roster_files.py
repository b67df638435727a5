"""A roster written as CSV (read back by the CLI) and as iCalendar (parsed by icalendar)."""

from __future__ import annotations

import datetime as dt
import pathlib
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule
from tests._extras import need

from carekit import CareKitError
from carekit.staffing import Break, Roster, Shift
from carekit.staffing._cli import read_roster

icalendar = need("icalendar", "test-extras")

LONDON = ZoneInfo("Europe/London")
UTC = dt.timezone.utc
HOUR = dt.timedelta(hours=1)
HALF = dt.timedelta(minutes=30)


def sample() -> Roster:
    # The weekly shift crosses the start of British Summer Time (30 March 2025).
    return Roster(shifts=[
        Shift(name="early; a,b", start=dt.datetime(2025, 3, 24, 8, tzinfo=LONDON),
              duration=8 * HOUR, agents=3, breaks=[Break(after=3 * HOUR, length=HALF)],
              recurrence="FREQ=WEEKLY;BYDAY=MO,TU;COUNT=6"),
        Shift(name="night", start=dt.datetime(2025, 3, 24, 22, tzinfo=dt.timezone(2 * HOUR)),
              duration=8 * HOUR + 15 * dt.timedelta(minutes=1), agents=1),
        Shift(name="daily", start=dt.datetime(2025, 3, 24, 9, tzinfo=LONDON), duration=HOUR,
              recurrence="FREQ=DAILY"),
        Shift(name="ended", start=dt.datetime(2025, 10, 20, 9, tzinfo=LONDON), duration=HOUR,
              recurrence="FREQ=DAILY;UNTIL=20251031T000000Z"),
    ])


WINDOW = (dt.datetime(2025, 3, 1, tzinfo=UTC), dt.datetime(2025, 12, 1, tzinfo=UTC))


def floor(roster: Roster) -> list[float]:
    steps = [WINDOW[0] + i * HALF for i in range(0, 24 * 2 * 270, 37)]
    return [roster.on_duty(s, s + HALF) for s in steps]


def test_csv_round_trip_through_the_cli_reader(tmp_path: pathlib.Path) -> None:
    roster = sample()
    path = tmp_path / "roster.csv"
    path.write_text(roster.to_csv(), encoding="utf-8")
    back = read_roster(path)
    assert [s.name for s in back] == [s.name for s in roster]
    assert [s.start for s in back] == [s.start for s in roster]
    assert back.shifts[0].start.tzinfo == LONDON  # the zone, not just an offset
    assert [(s.duration, s.agents, s.breaks, s.recurrence) for s in back] == [
        (s.duration, s.agents, s.breaks, s.recurrence) for s in roster]
    assert floor(back) == floor(roster)


def test_a_bad_zone_in_the_csv_names_the_line(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("shift,start,hours,agents,breaks,recurrence,tz\n"
                    "a,2025-03-03T08:00:00+00:00,8,2,,,Mars/Olympus\n", encoding="utf-8")
    with pytest.raises(CareKitError, match="roster.csv line 2 tz must be a time zone name"):
        read_roster(path)


def test_ics_parses_and_gives_the_same_occurrences() -> None:
    roster = sample()
    text = roster.to_ics()
    assert text.endswith("\r\n") and all(len(line.encode()) <= 75 for line in
                                          text.split("\r\n"))
    calendar = icalendar.Calendar.from_ical(text)
    # The VTIMEZONE written, read back without looking the name up, agrees with the zone.
    (vtimezone,) = calendar.walk("VTIMEZONE")
    rebuilt = vtimezone.to_tz(lookup_tzid=False)
    for day in (dt.datetime(2025, 3, 24, 8), dt.datetime(2025, 3, 31, 8),
                dt.datetime(2025, 10, 27, 8)):
        assert day.replace(tzinfo=rebuilt).utcoffset() == day.replace(
            tzinfo=LONDON).utcoffset()
    events = calendar.walk("VEVENT")
    assert len(events) == len(roster.shifts)
    assert len({str(e["UID"]) for e in events}) == len(events)
    for event, shift in zip(events, roster, strict=True):
        start = event.decoded("DTSTART")
        assert start == shift.start
        assert event.decoded("DURATION") == shift.duration
        assert int(event["X-CAREKIT-AGENTS"]) == shift.agents
        assert str(event["SUMMARY"]).startswith(shift.name)
        expected = list(shift.occurrences(*WINDOW))
        if "RRULE" in event:
            rule = rrule.rrulestr(event["RRULE"].to_ical().decode(), dtstart=start)
            got = rule.between(WINDOW[0], WINDOW[1], inc=True)
        else:
            got = [start]
        assert [g.astimezone(UTC) for g in got] == [e.astimezone(UTC) for e in expected]
    assert "breaks 11:00-11:30" in str(events[0]["DESCRIPTION"])


def test_ics_is_the_same_for_the_same_roster_and_takes_a_stamp() -> None:
    assert sample().to_ics() == sample().to_ics()
    stamped = sample().to_ics(stamp=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert "DTSTAMP:20260102T030405Z" in stamped
    with pytest.raises(CareKitError, match="stamp must be a timezone-aware datetime"):
        sample().to_ics(stamp=dt.datetime(2026, 1, 2))  # type: ignore[arg-type]


def test_long_names_are_folded_and_unfold_intact() -> None:
    name = "extended customer-care desk, ümlauts included; " * 3
    roster = Roster(shifts=[Shift(name=name, start=dt.datetime(2025, 3, 3, 8, tzinfo=UTC),
                                  duration=HOUR)])
    text = roster.to_ics()
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    (event,) = icalendar.Calendar.from_ical(text).walk("VEVENT")
    assert str(event["SUMMARY"]) == f"{name} (1 person)"
