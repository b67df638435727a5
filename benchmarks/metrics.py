"""Benchmark carekit.metrics against what a user would otherwise write or install.

    python benchmarks/metrics.py            # full size: 10M scores, 1M response times
    python benchmarks/metrics.py --quick    # a smoke run

Prints Markdown tables:

1. NPS over 10,000,000 scores through ``NPS.extend`` (validation included) from a list, from
   ``bytes`` and from ``array('b')``, against a plain Python loop, ``collections.Counter``
   (with a range check, and with the same type check as carekit's) and numpy (``bincount``
   with a range check), when installed; every contender runs the same number of alternating
   rounds, timed in CPU time.
2. 1,000,000 log-normal response times into carekit's ``QuantileSketch`` and into the
   ``ddsketch`` package (``DDSketch``, same 1 % relative accuracy): time, buckets and the
   worst relative error at p50/p90/p99 against the exact order statistic.
3. Merging 1,000 partial accumulators (NPS, ResponseTime, and DDSketch).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from array import array
from collections import Counter
from collections.abc import Callable
from functools import reduce
from typing import Any

from carekit.metrics import NPS, QuantileSketch, ResponseTime


def _timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    best = math.inf
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def _nps_loop(scores: list[int]) -> float:
    prom = det = 0
    for s in scores:
        if not isinstance(s, int) or not 0 <= s <= 10:
            raise ValueError(s)
        if s >= 9:
            prom += 1
        elif s <= 6:
            det += 1
    return 100 * (prom - det) / len(scores)


def _nps_counter(scores: list[int]) -> float:
    c = Counter(scores)
    if sum(c[v] for v in range(11)) != len(scores):
        raise ValueError("bad score")
    return 100 * (c[9] + c[10] - sum(c[v] for v in range(7))) / len(scores)


def _nps_counter_typed(scores: list[int]) -> float:
    # The same validation as carekit's: ``True`` hashes like 1, so Counter alone counts it.
    if not set(map(type, scores)) <= {int}:
        raise ValueError("not an int")
    return _nps_counter(scores)


def bench_nps(n: int, rounds: int = 5) -> None:
    """Time every contender in alternating rounds (CPU time) and keep the best and median.

    Alternating rounds give each contender the same share of a busy machine's quiet and
    busy stretches; all rows run the same number of times.
    """
    rng = random.Random(1)
    weights = [2, 1, 1, 1, 1, 3, 3, 9, 22, 22, 35]
    scores = rng.choices(range(11), weights=weights, k=n)
    as_bytes = bytes(scores)
    as_array = array("b", scores)
    contenders: list[tuple[str, str, Callable[[], Any]]] = [
        ("carekit `NPS().extend(list)` (refuses `True`, 11, -1...)", "list[int]",
         lambda: NPS().extend(scores).score),
        ("carekit `NPS().extend(bytes)`", "bytes", lambda: NPS().extend(as_bytes).score),
        ("carekit `NPS().extend(array('b'))`", "array('b')",
         lambda: NPS().extend(as_array).score),
        ("`collections.Counter` + range check (counts `True` as 1)", "list[int]",
         lambda: _nps_counter(scores)),
        ("`collections.Counter` + range and type check", "list[int]",
         lambda: _nps_counter_typed(scores)),
        ("plain Python loop with checks", "list[int]", lambda: _nps_loop(scores)),
    ]
    try:
        import numpy as np
    except ImportError:
        print("numpy not installed: skipping the numpy row")
    else:
        arr = np.frombuffer(as_bytes, dtype=np.int8)

        def numpy_nps() -> float:
            if arr.min() < 0 or arr.max() > 10:
                raise ValueError("bad score")
            c = np.bincount(arr, minlength=11)
            return float(100 * (c[9] + c[10] - c[:7].sum()) / len(arr))

        contenders.append(("numpy `bincount` + range check", "int8 ndarray", numpy_nps))
    times: dict[str, list[float]] = {name: [] for name, _, _ in contenders}
    values: dict[str, float] = {}
    for _ in range(rounds):
        for name, _, fn in contenders:
            t0 = time.process_time()
            values[name] = float(fn())
            times[name].append(time.process_time() - t0)
    counter = min(times[contenders[3][0]])
    print(f"\n### NPS of {n:,} scores (validation included; CPU time, best and median of "
          f"{rounds} alternating rounds)\n")
    print("| implementation | input | best (s) | median (s) | million scores/s (best) "
          "| speed vs `Counter` (best) | NPS |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, what, _ in contenders:
        best, median = min(times[name]), statistics.median(times[name])
        print(f"| {name} | {what} | {best:.3f} | {median:.3f} | {n / best / 1e6:.1f} "
              f"| {counter / best:.2f}x | {values[name]:.2f} |")


def _worst(estimates: dict[float, float], exact: dict[float, float]) -> str:
    return ", ".join(f"p{round(q * 100)} {abs(estimates[q] - exact[q]) / exact[q]:.4%}"
                     for q in sorted(exact))


def bench_sketch(n: int) -> None:
    rng = random.Random(2)
    values = [rng.lognormvariate(math.log(1800), 1.2) for _ in range(n)]
    ordered = sorted(values)
    qs = (0.5, 0.9, 0.99)
    exact = {q: ordered[math.floor(q * (n - 1))] for q in qs}
    rows: list[tuple[str, float, int, str]] = []

    seconds, sk = _timed(lambda: QuantileSketch(0.01).extend(values))
    rows.append(("carekit `QuantileSketch(0.01).extend`", seconds, sk.bucket_count,
                 _worst({q: sk.quantile(q) for q in qs}, exact)))
    seconds, rt = _timed(lambda: ResponseTime().extend(values))
    rows.append(("carekit `ResponseTime().extend` (sketch + SLA + mean)", seconds,
                 rt.sketch.bucket_count,
                 _worst({q: rt.sketch.quantile(q) for q in qs}, exact)))
    try:
        from ddsketch import DDSketch
    except ImportError:
        print("ddsketch not installed (pip install ddsketch): skipping its rows")
    else:
        def fill() -> Any:
            d = DDSketch(relative_accuracy=0.01)
            for v in values:
                d.add(v)
            return d

        seconds, dd = _timed(fill)
        # DenseStore keeps a contiguous array; count the non-empty bins.
        buckets = sum(1 for c in dd._store.bins if c) + sum(1 for c in dd._negative_store.bins if c)
        rows.append(("`ddsketch.DDSketch(0.01)`, `add` per value", seconds, buckets,
                     _worst({q: dd.get_quantile_value(q) for q in qs}, exact)))
    seconds, _ = _timed(lambda: sorted(values), 1)
    rows.append(("exact: `sorted` (reference)", seconds, n, "0 (exact)"))
    print(f"\n### Quantiles of {n:,} response times (log-normal, median 30 min)\n")
    print("| implementation | seconds | values/s | buckets kept "
          "| relative error at p50, p90, p99 |")
    print("|---|---:|---:|---:|---|")
    for name, seconds, buckets, err in rows:
        print(f"| {name} | {seconds:.3f} | {n / seconds:,.0f} | {buckets:,} | {err} |")


def bench_merge(parts: int) -> None:
    rng = random.Random(3)
    nps_parts = [NPS().extend(rng.choices(range(11), k=200)) for _ in range(parts)]
    rt_parts = [ResponseTime().extend([rng.lognormvariate(7, 1) for _ in range(200)])
                for _ in range(parts)]
    rows: list[tuple[str, float]] = []
    seconds, _ = _timed(lambda: reduce(NPS.merge, nps_parts))
    rows.append((f"carekit: {parts:,} `NPS` accumulators, `reduce(NPS.merge, ...)`", seconds))
    seconds, _ = _timed(lambda: reduce(ResponseTime.merge, rt_parts))
    rows.append((f"carekit: {parts:,} `ResponseTime` accumulators (sketch + counts)", seconds))
    try:
        from ddsketch import DDSketch
    except ImportError:
        pass
    else:
        dd_parts = []
        for _ in rt_parts:
            d = DDSketch(relative_accuracy=0.01)
            for _k in range(200):
                d.add(rng.lognormvariate(7, 1))
            dd_parts.append(d)

        def dd_merge() -> Any:
            total = DDSketch(relative_accuracy=0.01)
            for d in dd_parts:
                total.merge(d)
            return total

        seconds, _ = _timed(dd_merge)
        rows.append((f"`ddsketch`: {parts:,} `DDSketch.merge` into one (in place)", seconds))
    print(f"\n### Merging {parts:,} partial accumulators\n")
    print("| what | seconds | merges/s |")
    print("|---|---:|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.4f} | {parts / seconds:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    scores, times, parts = (200_000, 50_000, 100) if args.quick else (
        10_000_000, 1_000_000, 1_000)
    bench_nps(scores)
    bench_sketch(times)
    bench_merge(parts)


if __name__ == "__main__":
    main()
