"""A year of half-hour staffing requirements: carekit vs pyworkforce, checked exactly.

One year of half-hour intervals (17,520), volumes between 5 and 2,000 contacts per half-hour
(a daily and weekly shape with noise), AHT 300 s, 80 % answered within 20 s, 30 % shrinkage,
occupancy capped at 85 %. Two forecasts: whole-number volumes (many intervals share a
volume) and fractional ones (no two intervals share one, so caching cannot help).

* carekit: ``carekit.staffing.plan(forecast, ...)`` for the whole year (it reuses the answer
  for intervals with the same volume).
* pyworkforce: ``ErlangC(transactions, aht, asa, interval, shrinkage).required_positions(
  service_level, max_occupancy)`` per interval, the library a Python user would pick today.

Correctness: each interval's smallest headcount is decided independently with mpmath at 40
digits (Erlang B recursion in multiple precision, the 80/20 comparison and the occupancy cap
made exactly against 4/5 and 17/20), and scheduled = ceil(agents / (7/10)) in rational
arithmetic. An interval is wrong when its agents or its scheduled headcount differ; the
table counts both, and each separately.

Times are the best of ``--repeat`` runs (default 3). Run ``python benchmarks/staffing.py``
(``--intervals 2000`` for a quick run; ``--sample N`` times pyworkforce on N intervals and
extrapolates, marked as such in the table).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import mpmath

from carekit.staffing import ServiceTarget, Workload, plan, required_agents

AHT = 300
INTERVAL = 1800
LEVEL = Fraction(4, 5)
WITHIN = 20
CAP = Fraction(17, 20)
KEEP = Fraction(7, 10)
TARGET = ServiceTarget(service_level=0.8, answer_within=WITHIN, max_occupancy=0.85)


def volumes(n: int, *, fractional: bool, seed: int = 2026) -> list[float]:
    rng = random.Random(seed)
    out: list[float] = []
    for i in range(n):
        hour = (i % 48) / 2
        day = (i // 48) % 7
        daily = math.exp(-((hour - 11.5) ** 2) / 18) + 0.8 * math.exp(-((hour - 18) ** 2) / 8)
        weekly = 1.0 if day < 5 else 0.6
        v = 5 + 1995 * min(1.0, daily * weekly * rng.uniform(0.75, 1.15))
        v = min(2000.0, max(5.0, v))
        out.append(v if fractional else float(round(v)))
    return out


def _exact_meets(volume: float, n: int) -> bool:
    traffic = Fraction(repr(volume)) * AHT / INTERVAL
    if n <= traffic or traffic / n > CAP:
        return False
    with mpmath.workdps(40):
        a = mpmath.mpf(traffic.numerator) / traffic.denominator
        inv = mpmath.mpf(1)
        for k in range(1, n + 1):
            inv = 1 + inv * k / a
        b = 1 / inv
        c = n * b / (n - a * (1 - b))
        sl = 1 - c * mpmath.exp(-(n - a) * WITHIN / AHT)
        return bool(sl >= mpmath.mpf(LEVEL.numerator) / LEVEL.denominator)


def exact_agents(volume: float, hint: int) -> int:
    """The true minimum, confirmed around ``hint`` (and searched for if the hint is off)."""
    if _exact_meets(volume, hint) and not _exact_meets(volume, hint - 1):
        return hint
    n = math.floor(Fraction(repr(volume)) * AHT / INTERVAL) + 1
    while not _exact_meets(volume, n):
        n += 1
    return n


def count(wrong: list[int], got: tuple[int, int], agents: int) -> None:
    """Tally an interval against the exact answer: any error, agents, scheduled."""
    scheduled = math.ceil(Fraction(agents) / KEEP)
    wrong[0] += got != (agents, scheduled)
    wrong[1] += got[0] != agents
    wrong[2] += got[1] != scheduled


def pyworkforce_requirement(volume: float) -> tuple[int, int]:
    from pyworkforce.queuing import ErlangC  # the bench extra; --help works without it

    erlang = ErlangC(transactions=volume, aht=AHT / 60, asa=WITHIN / 60,
                     interval=INTERVAL // 60, shrinkage=0.3)
    r = erlang.required_positions(service_level=0.8, max_occupancy=0.85)
    return int(r["raw_positions"]), int(r["positions"])


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of ``repeat`` runs (the machine may be shared) and the result."""
    best = math.inf
    result = None
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - began)
    return best, result


def run(n: int, sample: int | None, repeat: int) -> None:
    start = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    rows = []
    for label, fractional in (("integer", False), ("fractional", True)):
        vols = volumes(n, fractional=fractional)
        forecast = [(start + i * dt.timedelta(minutes=30), v) for i, v in enumerate(vols)]
        picked = list(range(n)) if sample is None or sample >= n else sorted(
            random.Random(7).sample(range(n), sample))
        # Interleave the runs so both libraries see the same load on a shared machine.
        ck_time = pw_time = math.inf
        for _ in range(repeat):
            t, ck_plan = timed(lambda f=forecast: plan(
                f, aht=AHT, target=TARGET, shrinkage=0.3, interval=INTERVAL))
            ck_time = min(ck_time, t)
            t, pw = timed(lambda p=picked, v=vols: [pyworkforce_requirement(v[i]) for i in p])
            pw_time = min(pw_time, t)
        ck = [(r.agents, r.scheduled) for r in ck_plan]
        pw_full = pw_time * n / len(picked)
        reference: dict[float, int] = {}
        ck_wrong = [0, 0, 0]  # any, agents, scheduled
        pw_wrong = [0, 0, 0]
        for idx, v in enumerate(vols):
            if v not in reference:
                reference[v] = exact_agents(v, ck[idx][0])
            count(ck_wrong, ck[idx], reference[v])
        for j, idx in enumerate(picked):
            count(pw_wrong, pw[j], reference[vols[idx]])
        extrapolated = len(picked) < n
        rows.append((label, "carekit", ck_time, n, ck_wrong, n, 1.0))
        rows.append((label, "pyworkforce" + (" (extrapolated)" if extrapolated else ""),
                     pw_full, n, pw_wrong, len(picked), pw_full / ck_time))
    # One very large interval.
    big = Workload(volume=5_000_000, aht=AHT, interval=INTERVAL)
    big_time, big_req = timed(lambda: required_agents(big, TARGET, 0.3), repeat)
    big_sl = ServiceTarget(service_level=0.8, answer_within=WITHIN)
    big_time2, big_req2 = timed(lambda: required_agents(big, big_sl, 0.3), repeat)

    print(f"{n:,} half-hour intervals, AHT {AHT} s, 80/20, 30 % shrinkage, occupancy <= 85 %; "
          f"best of {repeat} runs\n")
    print("| volumes | library | time (s) | per interval (µs) | wrong intervals | "
          "wrong agents | wrong scheduled | checked | carekit speed-up |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, lib, secs, size, wrong, checked, speedup in rows:
        print(f"| {label} | {lib} | {secs:.3f} | {secs / size * 1e6:.1f} | {wrong[0]} | "
              f"{wrong[1]} | {wrong[2]} | {checked:,} | "
              f"{'' if lib == 'carekit' else f'{speedup:.0f}x'} |")
    print()
    print(f"5,000,000 contacts in one half-hour (833,333 Erlangs): {big_req.agents:,} agents, "
          f"{big_req.scheduled:,} scheduled with the 85 % cap in {big_time * 1e3:.1f} ms; "
          f"{big_req2.agents:,} agents without the cap in {big_time2 * 1e3:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", type=int, default=17_520)
    parser.add_argument("--sample", type=int, default=None,
                        help="time pyworkforce on this many intervals and extrapolate")
    parser.add_argument("--repeat", type=int, default=3,
                        help="time each run this many times and keep the best")
    args = parser.parse_args()
    run(args.intervals, args.sample, args.repeat)


if __name__ == "__main__":
    main()
