"""Fitting promises on a million orders: how long carekit takes, beside what pandas does.

A synthetic order table of ``--orders`` orders (default 1,000,000) over two years, 27
destinations with their own lead times (log-normal, medians 4 to 16 days), 1 % cancelled,
1.5 % lost in transit, the last weeks' orders still on their way; a Monday-to-Saturday
calendar. Timed (best of ``--repeat`` runs, default 2, on a shared machine):

* carekit ``QuantileEstimator().fit(orders)`` with its defaults: reading the table, the
  walk-forward replay that calibrates it and tunes its settings (six candidates), the final
  estimate per destination;
* the same with the settings fixed (``shrinkage=10, trend=False``): one candidate;
* what a data analyst writes with pandas: the 95th percentile per destination of the lead
  times of the orders delivered in the last 12 weeks (``groupby().quantile()``), with no
  calibration, no censoring (orders on their way are simply missing) and no walk-forward;
* ``promise()`` calls per second after fitting.

Run: python benchmarks/promises_scale.py [--orders 100000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from carekit.calendar import BusinessCalendar
from carekit.promises import Order, QuantileEstimator

TZ = ZoneInfo("America/Sao_Paulo")
STATES = {f"S{k:02d}": 4 + 12 * k / 26 for k in range(27)}  # median lead in days
WEIGHTS = [1 / (k + 1) for k in range(27)]  # a few big destinations, many small ones


def orders(n: int, seed: int = 1) -> list[Order]:
    rng = random.Random(seed)
    start = dt.datetime(2023, 1, 2, tzinfo=TZ)
    span = 730 * 86_400
    end = start + dt.timedelta(seconds=span)
    names = list(STATES)
    out = []
    for i in range(n):
        placed = start + dt.timedelta(seconds=span * i / n + rng.random())
        state = rng.choices(names, WEIGHTS)[0]
        u = rng.random()
        if u < 0.01:
            out.append(Order(ordered_at=placed, segment=state, cancelled=True,
                             order_id=f"o{i}"))
            continue
        lead = dt.timedelta(days=STATES[state] * math.exp(rng.gauss(0, 0.5)))
        delivered = None if u < 0.025 or placed + lead > end else placed + lead
        out.append(Order(ordered_at=placed, delivered_at=delivered, segment=state,
                         order_id=f"o{i}"))
    return out


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """The best wall time of ``repeat`` runs (and the last result)."""
    best = math.inf
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def cpu_of(fn: Callable[[], Any]) -> float:
    """Processor seconds of one run (less sensitive than wall time to a busy machine)."""
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def pandas_p95(table: list[Order]) -> pd.Series:
    frame = pd.DataFrame({
        "placed": [o.ordered_at for o in table],
        "delivered": [o.delivered_at for o in table],
        "state": [o.segment for o in table],
    })
    end = frame["placed"].max()
    recent = frame[(frame["placed"] >= end - pd.Timedelta(weeks=12))
                   & frame["delivered"].notna()]
    lead = (recent["delivered"] - recent["placed"]).dt.total_seconds() / 86_400
    return lead.groupby(recent["state"]).quantile(0.95)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    table = orders(args.orders)
    cal = BusinessCalendar(workdays=range(6), tz=TZ)
    print(f"# Fitting promises on {len(table):,} orders (best of {args.repeat})\n")
    rows = []

    def auto() -> QuantileEstimator:
        return QuantileEstimator(calendar=cal).fit(table)

    def fixed() -> QuantileEstimator:
        return QuantileEstimator(calendar=cal, shrinkage=10, trend=False).fit(table)

    def naive() -> pd.Series:
        return pandas_p95(table)

    fitted = None
    for label, fn in (
        ("carekit `QuantileEstimator().fit`, defaults (self-tuning, 6 candidates)", auto),
        ("carekit `QuantileEstimator(shrinkage=10, trend=False).fit`", fixed),
        ("pandas: 12-week p95 per destination, no censoring, no walk-forward", naive),
    ):
        secs, result = best_of(args.repeat, fn)
        fitted = result if fitted is None else fitted
        rows.append((label, secs, cpu_of(fn)))
    assert isinstance(fitted, QuantileEstimator)
    print("| fitting | wall seconds (best) | processor seconds |")
    print("|---|---:|---:|")
    for label, wall, cpu in rows:
        print(f"| {label} | {wall:.1f} | {cpu:.1f} |")
    print(f"\nChosen walk-forward: {fitted.tuned}; left out: {fitted.left_out}.")
    at = dt.datetime(2025, 1, 6, 9, tzinfo=TZ)
    queries = [(at + dt.timedelta(minutes=7 * i), f"S{i % 27:02d}") for i in range(200_000)]
    promise = fitted.promise

    def run() -> None:
        for when, state in queries:
            promise(when, segment=state)

    secs, _ = best_of(3, run)
    print(f"\n`promise()` after fitting: {len(queries) / secs:,.0f} promises/s (best of 3).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
