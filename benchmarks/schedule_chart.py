"""Draw the before/after coverage chart of the roster tutorial (``docs/img/staffing-schedule.png``).

The tutorial's Monday (AHT 5 min, 80/20, occupancy <= 85 %, 30 % shrinkage of which 15 % is
not breaks): above, the hand-made roster of three 8-hour shifts; below, the roster
``schedule`` builds from an 8-hour template with a lunch window and a 4-hour template. Needs
``carekit[plot]`` and ``carekit[schedule]``. Run ``python benchmarks/schedule_chart.py
[OUTPUT.png]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import pathlib
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from carekit.staffing import (
    Break,
    Coverage,
    Roster,
    ServiceTarget,
    Shift,
    ShiftTemplate,
    StaffingPlan,
    coverage,
    plan,
    schedule,
)

LONDON = ZoneInfo("Europe/London")
EIGHT = dt.datetime(2025, 3, 3, 8, 0, tzinfo=LONDON)
VOLUMES = [38, 62, 95, 128, 151, 163, 158, 149, 142, 156, 171, 168,
           149, 134, 127, 131, 140, 152, 160, 147, 121, 96, 70, 44.5]
HOUR = dt.timedelta(hours=1)
HALF = dt.timedelta(minutes=30)


def day() -> StaffingPlan:
    target = ServiceTarget(service_level=0.8, answer_within=20, max_occupancy=0.85)
    return plan([(EIGHT + i * HALF, v) for i, v in enumerate(VOLUMES)], aht=300,
                target=target, shrinkage=0.3)


def hand_made() -> Roster:
    def shift(name: str, hour: int, agents: int, break_after: float) -> Shift:
        return Shift(name=name, start=EIGHT.replace(hour=hour), duration=8 * HOUR,
                     agents=agents, recurrence="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
                     breaks=[Break(after=dt.timedelta(hours=break_after), length=HALF)])

    return Roster(shifts=[shift("early", 8, 20, 3.5), shift("mid", 10, 24, 3.5),
                          shift("late", 12, 24, 5)])


def built(p: StaffingPlan) -> Roster:
    lunch = Break(after=3 * HOUR, length=HALF, latest=5 * HOUR)
    full = ShiftTemplate("full", 8 * HOUR, earliest="08:00", latest="12:00", breaks=[lunch])
    part = ShiftTemplate("part", 4 * HOUR, earliest="08:00", latest="16:00",
                         cost_per_hour=1.1)
    return schedule(p, [full, part], shrinkage=0.15).roster


def panel(ax: object, p: StaffingPlan, cov: Coverage, title: str) -> None:
    starts = [r.start for r in p]
    xs = [*starts, starts[-1] + p.interval]
    ax.stairs([c.required for c in cov], xs, label="required", color="#1f4e79",  # type: ignore[attr-defined]
              linewidth=2, baseline=None)
    ax.stairs([c.scheduled for c in cov], xs, label="on the floor", color="#2e8b57",  # type: ignore[attr-defined]
              linewidth=2, baseline=None)
    for c in cov:
        if c.gap < 0:
            ax.axvspan(c.start, c.start + p.interval, color="#d62728", alpha=0.15,  # type: ignore[attr-defined]
                       linewidth=0)
    ax.set_title(title, fontsize=10)  # type: ignore[attr-defined]
    ax.set_ylabel("people")  # type: ignore[attr-defined]
    ax.set_ylim(0, 75)  # type: ignore[attr-defined]
    ax.grid(alpha=0.3)  # type: ignore[attr-defined]
    ax.legend(loc="upper left", fontsize=8)  # type: ignore[attr-defined]
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=LONDON))  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> None:
    here = pathlib.Path(__file__).resolve().parent.parent
    default = here / "docs" / "img" / "staffing-schedule.png"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", type=pathlib.Path, default=default,
                        help=f"the chart (default {default.relative_to(here)})")
    out = parser.parse_args(argv).output
    p = day()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6.5), dpi=110, sharex=True)
    for ax, roster, name in ((top, hand_made(), "Before: three 8-hour shifts by hand"),
                             (bottom, built(p), "After: schedule()")):
        cov = coverage(p, roster, shrinkage=0.15)
        hours = sum(s.agents * s.duration.total_seconds() / 3600 for s in roster)
        short = sum(1 for c in cov if c.gap < 0)
        panel(ax, p, cov, f"{name}: {hours:g} paid hours, {short} half-hours short, "
              f"service level {cov.service_level:.1%}")
    bottom.set_xlabel("Monday 3 March 2025")
    fig.tight_layout()
    fig.savefig(out)
    print(out)


if __name__ == "__main__":
    main()
