"""The ``carekit staffing schedule`` subcommand: from a forecast and shift templates to a roster."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import pathlib
import re
from typing import Any, TextIO

from carekit import _cli_args
from carekit._cli_io import named_as_options, neutralise_csv
from carekit.errors import CareKitError
from carekit.staffing._chart import save_chart
from carekit.staffing._cli import _rows, plan_from, say_written
from carekit.staffing.roster import Break
from carekit.staffing.scheduling import Schedule, ShiftTemplate, schedule

__all__ = ["add_arguments", "read_templates", "run"]

_DAYS = {"mo": 0, "mon": 0, "monday": 0, "tu": 1, "tue": 1, "tuesday": 1, "we": 2,
         "wed": 2, "wednesday": 2, "th": 3, "thu": 3, "thursday": 3, "fr": 4, "fri": 4,
         "friday": 4, "sa": 5, "sat": 5, "saturday": 5, "su": 6, "sun": 6, "sunday": 6}
_COLUMNS = ("name", "hours")
_OPTIONAL = ("earliest", "latest", "step_minutes", "breaks", "days", "cost_per_hour",
             "max_count")


add_arguments = _cli_args.staffing_schedule


def _offset(text: str, where: str) -> dt.timedelta:
    """``H:MM`` (or minutes) as a duration."""
    match = re.fullmatch(r"(\d+):([0-5]\d)", text.strip())
    if match:
        return dt.timedelta(hours=int(match[1]), minutes=int(match[2]))
    if text.strip().isdigit():
        return dt.timedelta(minutes=int(text))
    msg = f"{where} must be a duration such as 3:30 or 210 minutes (got {text!r})"
    raise CareKitError(msg)


def _break_time(text: str, what: str, part: str) -> dt.timedelta:
    """``H:MM`` as a duration; a bare number is refused (hours, as the ``hours`` column, or
    minutes, as ``step_minutes``? ``3`` read as minutes put a lunch 3 minutes in)."""
    text = text.strip()
    match = re.fullmatch(r"(\d+):([0-5]\d)", text)
    if match:
        return dt.timedelta(hours=int(match[1]), minutes=int(match[2]))
    hint = "such as 3:30"
    if text.isdigit():
        n = int(text)
        hint = f"(write {n}:00 for {n} hours or {n // 60}:{n % 60:02d} for {n} minutes)"
    msg = (
        f"breaks must give each time as H:MM {hint} (got {text!r} as the {what} in "
        f"{part!r}); a break reads 0:30@3:00-5:00"
    )
    raise CareKitError(msg)


def _template_breaks(text: str, where: str) -> list[Break]:
    out = []
    for part in text.replace(";", " ").split():
        length, sep, window = part.partition("@")
        if not sep:
            msg = (
                f"{where} breaks must look like 0:30@3:00-5:00 (length @ earliest-latest "
                f"start after the shift's start) or 0:15@2:00 (got {part!r})"
            )
            raise CareKitError(msg)
        after, _, latest = window.partition("-")
        out.append(Break(after=_break_time(after, "start", part),
                         length=_break_time(length, "length", part),
                         latest=_break_time(latest, "latest start", part) if latest else None))
    return out


def _days(text: str, where: str) -> list[int] | None:
    if not text.strip():
        return None
    days: set[int] = set()
    for part in text.replace(";", ",").split(","):
        bounds = [b.strip().lower() for b in part.split("-")]
        try:
            numbers = [int(b) if b.isdigit() else _DAYS[b] for b in bounds]
        except KeyError:
            numbers = []
        if len(numbers) == 1 and numbers[0] <= 6:
            days.add(numbers[0])
        elif len(numbers) == 2 and max(numbers) <= 6:
            a, b = numbers
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        else:
            msg = (
                f"{where} days must be weekdays such as Mon-Fri, Sat,Sun or 0-4 "
                f"(0 is Monday) (got {text!r})"
            )
            raise CareKitError(msg)
    return sorted(days)


def read_templates(path: pathlib.Path) -> list[ShiftTemplate]:
    """Read shift templates from CSV, one per row.

    Columns: ``name`` and ``hours`` (required); ``earliest`` and ``latest`` start times
    (``HH:MM``), ``step_minutes``, ``breaks`` (``0:30@3:00-5:00``: a 30-minute break starting
    3 to 5 hours into the shift; several separated by spaces), ``days`` (``Mon-Fri``,
    ``Sat,Sun``), ``cost_per_hour`` and ``max_count`` (per day), each optional.

    Raises:
        CareKitError: a missing or unknown column (a misspelt optional one would be
            ignored), or a bad value, naming the line.
    """
    out = []
    for number, row in _rows(path, _COLUMNS, _OPTIONAL):
        where = f"{path.name} line {number}"
        try:
            kwargs: dict[str, Any] = {}
            try:
                hours = float(row["hours"])
                duration = dt.timedelta(hours=hours) if math.isfinite(hours) else None
            except (ValueError, OverflowError):
                duration = None
            if duration is None or duration <= dt.timedelta(0):
                msg = (
                    f"hours must be a number of hours above 0 such as 8 or 7.5 "
                    f"(got {row['hours']!r})"
                )
                raise CareKitError(msg)
            for column in ("earliest", "latest"):
                if row.get(column):
                    kwargs[column] = row[column]
            if row.get("step_minutes"):
                kwargs["step"] = _offset(row["step_minutes"], "step_minutes")
            if row.get("breaks"):
                kwargs["breaks"] = _template_breaks(row["breaks"], "")
            kwargs["days"] = _days(row.get("days", ""), "")
            if row.get("cost_per_hour"):
                try:
                    kwargs["cost_per_hour"] = float(row["cost_per_hour"])
                except ValueError:
                    msg = f"cost_per_hour must be a number (got {row['cost_per_hour']!r})"
                    raise CareKitError(msg) from None
            if row.get("max_count"):
                try:
                    kwargs["max_count"] = int(row["max_count"])
                except ValueError:
                    msg = f"max_count must be a whole number (got {row['max_count']!r})"
                    raise CareKitError(msg) from None
            out.append(ShiftTemplate(row["name"], duration, **kwargs))
        except CareKitError as exc:
            msg = f"{where}: {str(exc).strip()}"
            raise CareKitError(msg) from None
    if not out:
        msg = f"{path.name} holds no template: add a row such as 'day,8,08:00,12:00'"
        raise CareKitError(msg)
    return out


def _count(result: Schedule) -> int:
    """Shifts worked in the plan's period: each occurrence of each shift, times its people."""
    cov = result.coverage.intervals
    first = cov[0].start
    end = cov[-1].start + (cov[1].start - cov[0].start if len(cov) > 1 else dt.timedelta(0))
    # in a cyclic roster a shift that wraps also shows its previous period's occurrence
    return sum(s.agents * sum(1 for o in s.occurrences(first, end)
                              if not result.cyclic or o >= first) for s in result.roster)


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _table(result: Schedule, out: TextIO) -> None:
    out.write(f"{'shift':<12} {'first start':<17} {'hours':>5} {'people':>6} "
              f"{'breaks':<18} repeats\n")
    for shift in result.roster:
        breaks = " ".join(
            f"{shift.start + b.after:%H:%M}-{shift.start + b.after + b.length:%H:%M}"
            for b in shift.breaks)
        out.write(
            f"{shift.name:<12} {shift.start:%Y-%m-%d %H:%M} "
            f"{shift.duration.total_seconds() / 3600:>5g} {shift.agents:>6} {breaks:<18} "
            f"{shift.recurrence or '-'}\n"
        )
    people = _count(result)
    state = {"optimal": "proven optimal", "feasible": "time limit reached",
             "infeasible": "templates cannot cover every interval"}[result.status]
    bound = f", lower bound {result.lower_bound:g}, gap {result.gap:.2%}"
    per = " per period (the roster repeats)" if result.cyclic else ""
    out.write(
        f"roster: {people} shifts, {result.paid_hours:g} paid hours{per}, cost "
        f"{result.cost:g}{bound} ({state}, {result.seconds:.1f} s)\n"
    )
    if result.budget_hours is not None:
        out.write(f"budget: {result.budget_hours:g} hours, volume-weighted service level "
                  f"{_pct(result.service_level)}\n")
    cov = result.coverage
    if result.short:
        listed = ", ".join(f"{s:%a %H:%M}" for s in result.short[:12])
        more = f" and {len(result.short) - 12} more" if len(result.short) > 12 else ""
        out.write(f"short: {len(result.short)} intervals ({listed}{more})\n")
    out.write(
        f"coverage: {len(result.short)} of {len(cov)} intervals short, "
        f"{cov.intervals_under_target} under target, service level "
        f"{_pct(cov.service_level)} (target {cov.target:.0%})\n"
    )


def _json(result: Schedule) -> str:
    doc = {
        "status": result.status,
        "paid_hours": result.paid_hours,
        "cost": result.cost,
        "lower_bound": result.lower_bound,
        "gap": result.gap,
        "seconds": result.seconds,
        "budget_hours": result.budget_hours,
        "service_level": result.service_level,
        "short": [s.isoformat() for s in result.short],
        "shifts": [
            {"shift": s.name, "start": s.start.isoformat(),
             "hours": s.duration.total_seconds() / 3600, "agents": s.agents,
             "breaks": [{"after_minutes": b.after.total_seconds() / 60,
                         "minutes": b.length.total_seconds() / 60} for b in s.breaks],
             "recurrence": s.recurrence}
            for s in result.roster
        ],
        "coverage": [
            {"interval_start": c.start.isoformat(), "required": c.required,
             "scheduled": c.scheduled, "gap": c.gap, "service_level": c.service_level,
             "meets_target": c.meets_target}
            for c in result.coverage
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``carekit staffing schedule``."""
    p = plan_from(args)
    templates = read_templates(args.templates)
    with named_as_options({"max_seconds": "--max-seconds", "budget_hours": "--budget-hours",
                           "shrinkage": "--roster-shrinkage"}):
        result = schedule(p, templates, tz=args.tz, shrinkage=args.roster_shrinkage,
                          max_seconds=args.max_seconds, budget_hours=args.budget_hours,
                          cyclic=args.cyclic)
    if args.csv is not None:
        args.csv.write_text(result.roster.to_csv(), encoding="utf-8")
    if args.ics is not None:
        args.ics.write_bytes(result.roster.to_ics().encode("utf-8"))
    if args.chart is not None:
        save_chart(args.chart, p, result.coverage)
    if args.format == "json":
        out.write(_json(result))
    elif args.format == "csv":
        # the roster, then its coverage: each table with its header row, as `carekit metrics`
        out.write(neutralise_csv(result.roster.to_csv()))
        out.write(neutralise_csv(result.coverage.to_csv()))
    else:
        _table(result, out)
        for flag, path in (("--csv", args.csv), ("--ics", args.ics)):
            if path is not None:
                out.write(f"roster written to {path} ({flag[2:]})\n")
    if args.chart is not None:
        say_written(out, args.format, f"chart written to {args.chart.resolve()}")
    return 1 if result.status == "infeasible" else 0
