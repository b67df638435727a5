"""The ``carekit staffing`` subcommand and the staffing section of ``carekit demo``."""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import importlib.resources
import itertools
import json
import math
import pathlib
import sys
from collections.abc import Iterable
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from carekit import _cli_args
from carekit._cli_io import named_as_options, neutralise_csv, open_csv, printable
from carekit.errors import CareKitError
from carekit.staffing._chart import save_chart
from carekit.staffing.coverage import Coverage, coverage
from carekit.staffing.plan import StaffingPlan, plan
from carekit.staffing.roster import Break, Roster, Shift
from carekit.staffing.workload import ServiceTarget

__all__ = [
    "add_arguments", "demo", "plan_arguments", "plan_from", "read_forecast", "read_roster", "run",
]


add_arguments = _cli_args.staffing
plan_arguments = _cli_args.plan_arguments


def plan_from(args: argparse.Namespace) -> StaffingPlan:
    """The plan that :func:`plan_arguments`' options describe."""
    forecast = read_forecast(args.forecast)
    if not forecast:
        msg = f"{args.forecast} has no intervals: a header and no rows"
        raise CareKitError(msg)
    with named_as_options(_PLAN_OPTIONS):
        target = ServiceTarget.parse(args.service_level, max_occupancy=args.max_occupancy)
        return plan(forecast, aht=args.aht, target=target, shrinkage=args.shrinkage,
                    interval=_interval(args, forecast), patience=args.patience,
                    concurrency=args.concurrency)


#: the library's argument names -> the options that set them
_PLAN_OPTIONS = {
    "aht": "--aht", "service level": "--service-level", "shrinkage": "--shrinkage",
    "max_occupancy": "--max-occupancy", "patience": "--patience",
    "concurrency": "--concurrency", "interval": "--interval",
}


def _parse_time(text: str, where: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        msg = f"{where} must be an ISO 8601 datetime with a UTC offset (got {text!r})"
        raise CareKitError(msg) from None
    if value.tzinfo is None:
        msg = f"{where} must carry a UTC offset such as +00:00 (got naive {text!r})"
        raise CareKitError(msg)
    try:
        value.astimezone(dt.timezone.utc)
    except OverflowError:  # 0001-01-01T00:00+14:00 is in the year 0 in UTC
        msg = f"{where} must fall within the years 1 to 9999 in UTC (got {text!r})"
        raise CareKitError(msg) from None
    return value


def _rows(
    path: pathlib.Path, required: Iterable[str], optional: Iterable[str] | None = None,
) -> list[tuple[int, dict[str, str]]]:
    """The ``(line, row)`` pairs of a CSV file, ``line`` the line in the file the row starts on.

    With ``optional``, a column that is neither required nor optional is refused: in a file
    of carekit's own columns it is a misspelt optional one, whose values would be ignored.
    """
    with open_csv(path) as reader:
        fields = reader.fieldnames
        missing = [c for c in required if c not in fields]
        if missing:
            msg = (
                f"{path.name} must have columns {list(required)} "
                f"(missing {missing}; got {fields})"
            )
            raise CareKitError(msg)
        if optional is not None:
            known = [*required, *optional]
            unknown = [c for c in fields if c and c not in known]
            if unknown:
                near = [difflib.get_close_matches(c.lower(), known, n=1) for c in unknown]
                guesses = ", ".join(f"{m[0]!r} for {c!r}"
                                    for c, m in zip(unknown, near, strict=True) if m)
                msg = (
                    f"{path.name} has unknown column(s) {unknown}, which would be ignored; "
                    f"the columns are {known}"
                    + (f" (did you mean {guesses}?)" if guesses else "")
                )
                raise CareKitError(msg)
        return [
            (line, {k: (v or "").strip() for k, v in row.items() if k}) for line, row in reader
        ]


def read_forecast(path: pathlib.Path) -> list[tuple[dt.datetime, float]]:
    """Read ``interval_start,volume`` rows, one per interval in time order.

    Raises:
        CareKitError: a missing column, a bad time or volume, or a row whose start is not
            after the previous row's (repeated or out of order; starts with different UTC
            offsets are compared as instants), each naming the line.
    """
    out: list[tuple[dt.datetime, float]] = []
    previous = ""
    for number, row in _rows(path, ("interval_start", "volume")):
        where = f"{path.name} line {number} interval_start"
        start = _parse_time(row["interval_start"], where)
        if out and start <= out[-1][0]:
            before = out[-1][0]
            how = "repeats" if start == before else "is before"
            utc = "" if start.utcoffset() == before.utcoffset() else (
                f" (in UTC {start.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M} against "
                f"{before.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M})"
            )
            msg = (
                f"{where} {row['interval_start']!r} {how} the previous row's {previous!r}"
                f"{utc}; the rows must be in time order, one per interval"
            )
            raise CareKitError(msg)
        try:
            volume = float(row["volume"])
        except ValueError:
            volume = math.nan
        if not math.isfinite(volume) or volume < 0:  # nan, inf, -3: named by file and line
            msg = (
                f"{path.name} line {number} volume must be a number of contacts, 0 or more "
                f"(got {row['volume']!r})"
            )
            raise CareKitError(msg) from None
        out.append((start, volume))
        previous = row["interval_start"]
    return out


def _breaks(text: str, start: dt.datetime, where: str) -> list[Break]:
    out = []
    for part in text.replace(";", " ").split():
        try:
            a, b = (dt.time.fromisoformat(p) for p in part.split("-"))
        except ValueError:
            msg = f"{where} breaks must look like 12:00-12:30 (got {part!r})"
            raise CareKitError(msg) from None
        try:
            begin = dt.datetime.combine(start.date(), a, tzinfo=start.tzinfo)
            if begin < start:
                begin += dt.timedelta(days=1)
            end = dt.datetime.combine(begin.date(), b, tzinfo=start.tzinfo)
            if end <= begin:
                end += dt.timedelta(days=1)
        except OverflowError:  # the break would fall after 9999-12-31
            msg = (
                f"{where} break {part!r} must fall within the years 1 to 9999 "
                f"(got a shift starting {start.isoformat()})"
            )
            raise CareKitError(msg) from None
        out.append(Break(after=begin - start, length=end - begin))
    return out


#: The roster file's optional columns (``Roster.to_csv`` writes them all).
_ROSTER_OPTIONAL = ("breaks", "recurrence", "tz")


def read_roster(path: pathlib.Path) -> Roster:
    """Read ``shift,start,hours,agents,breaks,recurrence`` rows into a :class:`Roster`.

    An optional ``tz`` column names the zone of a row's start (``Europe/London``), so a
    recurring shift keeps its wall-clock time across daylight saving.

    Raises:
        CareKitError: a missing or unknown column (a misspelt optional one would be
            ignored), a bad time, hours, agents count or break, or a shift the library
            refuses, each naming the line.
    """
    shifts = []
    for number, row in _rows(path, ("shift", "start", "hours", "agents"), _ROSTER_OPTIONAL):
        where = f"{path.name} line {number}"
        start = _parse_time(row["start"], f"{where} start")
        try:
            hours = float(row["hours"])
            agents = int(row["agents"])
        except ValueError:
            msg = f"{where} hours must be a number and agents an integer (got {row!r})"
            raise CareKitError(msg) from None
        try:
            duration = dt.timedelta(hours=hours) if hours > 0 else None
        except (OverflowError, ValueError):  # inf, 1e400 (read as inf), 1e20; nan fails > 0
            duration = None
        if duration is None:
            msg = (
                f"{where} hours must be a number of hours above 0 and at most "
                f"{dt.timedelta.max.days * 24:,} (got {row['hours']!r})"
            )
            raise CareKitError(msg)
        zone_name = row.get("tz", "")
        if zone_name:
            try:
                start = start.astimezone(ZoneInfo(zone_name))
            except (ZoneInfoNotFoundError, ValueError):
                msg = f"{where} tz must be a time zone name such as Europe/London " \
                      f"(got {zone_name!r})"
                raise CareKitError(msg) from None
        breaks = _breaks(row.get("breaks", ""), start, where)
        try:
            shifts.append(Shift(
                name=row["shift"], start=start, duration=duration, agents=agents,
                breaks=breaks, recurrence=row.get("recurrence") or None,
            ))
        except CareKitError as exc:
            msg = f"{where}: {exc}"
            raise CareKitError(msg) from None
    return Roster(shifts=shifts)


def _interval(
    args: argparse.Namespace, forecast: list[tuple[dt.datetime, float]]
) -> dt.timedelta:
    steps = {b[0] - a[0] for a, b in itertools.pairwise(forecast)}
    if args.interval is not None:
        length: dt.timedelta = args.interval
        if len(steps) == 1 and length != (step := steps.pop()):
            msg = (
                f"--interval is {_minutes(length)} but the forecast's intervals start "
                f"every {_minutes(step)}; volumes are per interval, so they must agree"
            )
            raise CareKitError(msg)
        return length
    if steps:  # the shortest: a longer step is a gap (rows left out), which plan() allows
        shortest = min(steps)
        if shortest < dt.timedelta(minutes=1):
            seconds = f"{shortest.total_seconds():g}"
            msg = (
                f"{pathlib.Path(args.forecast).name}: rows start {seconds} s apart, shorter "
                "than any staffing interval: are the interval_start times right? (if the "
                f"volumes really are per {seconds} seconds, say so with --interval {seconds}s)"
            )
            raise CareKitError(msg)
        return shortest
    return dt.timedelta(minutes=30)


def _minutes(length: dt.timedelta) -> str:
    minutes = length.total_seconds() / 60
    return f"{minutes:g} minute{'' if minutes == 1 else 's'}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _secs(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.0f}s"


def _table(p: StaffingPlan, cov: Coverage | None, out: TextIO) -> None:
    head = (
        f"{'interval':<17} {'volume':>8} {'agents':>6} {'sched':>6} {'SL':>7} "
        f"{'ASA':>6} {'occ':>6}"
    )
    if cov is not None:
        head += f" {'roster':>7} {'gap':>6} {'got SL':>7}"
    out.write(head + "\n")
    covered = list(cov) if cov is not None else [None] * len(p)
    for r, c in zip(p, covered, strict=True):
        assert r.start is not None
        perf = r.performance
        line = (
            f"{r.start.strftime('%Y-%m-%d %H:%M'):<17} {r.volume or 0:>8.6g} {r.agents:>6} "
            f"{r.scheduled:>6} {_pct(perf.service_level):>7} {_secs(perf.asa):>6} "
            f"{_pct(perf.occupancy):>6}"
        )
        if c is not None:
            flag = "" if c.meets_target else "  <"
            line += f" {c.scheduled:>7.4g} {c.gap:>+6.4g} {_pct(c.service_level):>7}{flag}"
        out.write(line + "\n")
    out.write(
        f"total: volume {p.volume:.6g}, {p.agent_hours:g} agent-hours, "
        f"{p.scheduled_hours:g} scheduled agent-hours\n"
    )
    if cov is not None:
        worst = (
            f"worst gap {cov.worst_gap:+.4g} at {cov.worst_interval.strftime('%H:%M')}"
            if cov.worst_interval is not None else "no gaps"
        )
        out.write(
            f"coverage: {cov.intervals_under_target} of {len(cov)} intervals under target, "
            f"{worst}, day's service level {cov.service_level:.1%} "
            f"(target {cov.target:.0%})\n"
        )


def _json(p: StaffingPlan, cov: Coverage | None) -> str:
    doc: dict[str, Any] = json.loads(p.to_json())
    if cov is not None:
        doc["coverage"] = {
            "intervals_under_target": cov.intervals_under_target,
            "worst_gap": cov.worst_gap,
            "worst_interval": cov.worst_interval.isoformat() if cov.worst_interval else None,
            "service_level": cov.service_level,
            "intervals": [
                {"interval_start": c.start.isoformat(), "required": c.required,
                 "scheduled": c.scheduled, "gap": c.gap, "agents": c.agents,
                 "service_level": c.service_level, "meets_target": c.meets_target}
                for c in cov
            ],
        }
    return json.dumps(doc, indent=2) + "\n"


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``carekit staffing``."""
    if args.roster is None and args.roster_shrinkage is not None:
        msg = "--roster-shrinkage applies to a --roster's coverage; give --roster ROSTER.csv too"
        raise CareKitError(msg)
    p = plan_from(args)
    cov = None
    if args.roster is not None:
        roster = read_roster(args.roster)
        with named_as_options({"shrinkage": "--roster-shrinkage"}):
            cov = coverage(p, roster, shrinkage=args.roster_shrinkage)
    if args.chart is not None:
        save_chart(args.chart, p, cov)
    if args.format == "json":
        out.write(_json(p, cov))
    elif args.format == "csv":
        out.write(neutralise_csv(cov.to_csv() if cov is not None else p.to_csv()))
    else:
        _table(p, cov, out)
    if args.chart is not None:
        say_written(out, args.format, f"chart written to {args.chart.resolve()}")
    return 0


def say_written(out: TextIO, fmt: str, line: str) -> None:
    """Say where a file went: after the table, or on stderr when stdout carries data."""
    print(printable(line), file=out if fmt == "table" else sys.stderr)


def _data(name: str) -> pathlib.Path:
    return pathlib.Path(str(importlib.resources.files("carekit") / "data" / name))


def demo(out: TextIO, workdir: pathlib.Path) -> None:
    """The staffing section of ``carekit demo``: a day's plan and a roster's gaps."""
    out.write("== Staffing ==\n")
    forecast = read_forecast(_data("staffing_forecast.csv"))
    target = ServiceTarget.parse("80/20", max_occupancy=0.85)
    p = plan(forecast, aht=300, target=target, shrinkage=0.3)
    cov = coverage(p, read_roster(_data("staffing_roster.csv")))
    out.write(
        f"Monday phones, 08:00-20:00: {p.volume:.0f} calls, AHT 5 min, 80/20, "
        "30% shrinkage, occupancy <= 85%\n"
    )
    _table(p, cov, out)
    (workdir / "staffing_plan.csv").write_text(p.to_csv(), encoding="utf-8")
    out.write(f"plan written to {workdir / 'staffing_plan.csv'}\n")
