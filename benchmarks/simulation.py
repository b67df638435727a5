"""Erlang C against simulation: where the steady-state formula holds and where it does not.

Table 1: one interval's load held for 50 hours (100 half-hours, the same volume each) with a
constant team, for a grid of loads and headcounts (the Erlang C requirement for 80/20, one
agent less and one more). Erlang C's service level beside ``simulate``'s (mean of 10 runs,
95 % interval), with exponential handle times (coefficient of variation 1, Erlang's own
assumption), less variable ones (0.5, typical of scripted calls) and more variable ones (1.5).

Table 2: a day that is not steady: the tutorial's Monday (24 half-hours, AHT 5 min, 80/20)
against two rosters: the one ``schedule`` builds, and the same minus 15 % of its people. Erlang
C per interval (``coverage``) beside the simulated day, where the queue carries from one
interval to the next.

Run ``python benchmarks/simulation.py`` (``--quick`` for fewer runs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

from carekit.staffing import (
    Roster,
    ServiceTarget,
    Shift,
    ShiftTemplate,
    Workload,
    coverage,
    performance,
    plan,
    required_agents,
    schedule,
    simulate,
)
from carekit.staffing._cli import _data, read_forecast

START = dt.datetime(2025, 3, 3, tzinfo=dt.timezone.utc)
HALF = dt.timedelta(minutes=30)
TARGET = ServiceTarget.parse("80/20")


def steady_table(runs: int) -> None:
    cvs = (1.0, 0.5, 1.5)
    print(f"### Steady load, 50 hours, {runs} runs per cell (AHT 3 min, 80/20)\n")
    print("| load (Erlangs) | agents | Erlang C | " + " | ".join(
        f"simulated, cv {cv:g}" for cv in cvs) + " |")
    print("|---:|---:|---:|" + "---:|" * len(cvs))
    contacts = 0
    started = time.perf_counter()
    for load in (5, 10, 25, 50, 100):
        volume = load * 10  # per half-hour at AHT 180 s
        need = required_agents(Workload(volume=volume, aht=180, interval=1800), TARGET).agents
        p = plan([(START + i * HALF, volume) for i in range(100)], aht=180, target=TARGET)
        for agents in (need - 1, need, need + 1):
            roster = Roster(shifts=[Shift(name="all", start=START, duration=50 * 3600,
                                          agents=agents)])
            erlang = performance(Workload(volume=volume, aht=180, interval=1800), agents,
                                 answer_within=20).service_level
            cells = []
            for cv in cvs:
                sim = simulate(p, roster, runs=runs, aht_cv=cv)
                contacts += round(sum(i.offered for i in sim.intervals)) * runs
                cells.append(f"{sim.service_level:.1%} ({sim.low:.1%}-{sim.high:.1%})")
            mark = " (requirement)" if agents == need else ""
            print(f"| {load} | {agents}{mark} | {erlang:.1%} | " + " | ".join(cells) + " |")
    elapsed = time.perf_counter() - started
    print(f"\n{contacts:,} simulated contacts in {elapsed:.1f} s "
          f"({contacts / elapsed:,.0f} contacts/s, pure Python)\n")


def day_table(runs: int) -> None:
    target = ServiceTarget.parse("80/20", max_occupancy=0.85)
    p = plan(read_forecast(_data("staffing_forecast.csv")), aht=300, target=target,
             shrinkage=0.3)
    templates = [ShiftTemplate("full", dt.timedelta(hours=8), earliest="07:00",
                               latest="14:00"),
                 ShiftTemplate("part", dt.timedelta(hours=4), earliest="08:00",
                               latest="18:00")]
    built = schedule(p, templates).roster
    lean = Roster(shifts=[Shift(name=s.name, start=s.start, duration=s.duration,
                                agents=max(1, round(s.agents * 0.85)), breaks=s.breaks)
                          for s in built])
    print(f"### The tutorial's Monday (AHT 5 min, 80/20, 30 % shrinkage), {runs} runs\n")
    print("| roster | Erlang C (per interval, steady state) | simulated, cv 1 "
          "| simulated, cv 0.5 | intervals under target (Erlang) |")
    print("|---|---:|---:|---:|---:|")
    for name, roster in (("schedule()", built), ("schedule() less 15 %", lean)):
        cov = coverage(p, roster)
        sims = [simulate(p, roster, runs=runs, aht_cv=cv) for cv in (1.0, 0.5)]
        cells = [f"{s.service_level:.1%} ({s.low:.1%}-{s.high:.1%})" for s in sims]
        print(f"| {name} | {cov.service_level:.1%} | {cells[0]} | {cells[1]} | "
              f"{cov.intervals_under_target} of {len(cov)} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs = 4 if args.quick else 10
    print(f"Python {sys.version.split()[0]}\n")
    steady_table(runs)
    day_table(20 if not args.quick else 4)


if __name__ == "__main__":
    main()
