"""Draw the on-time/padding trade-off on the Olist orders: docs/img/promises-tradeoff.png.

Uses the same walk-forward backtests as benchmarks/promises.py: carekit with its defaults
(which tune themselves walk-forward) on the delivered orders and on the full order table, and
promises chosen by cost, against Olist's own promises and the simple baselines. Needs
matplotlib (carekit[plot]). Run: python benchmarks/promises_plot.py
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import promises as bench
from carekit.promises import PaddedEstimator, QuantileEstimator

OUT = pathlib.Path(__file__).resolve().parent.parent / "docs" / "img" / "promises-tradeoff.png"
TARGETS = (0.8, 0.85, 0.9, 0.92, 0.93, 0.94, 0.95, 0.96, 0.975, 0.99)
LATE_COSTS = (30.0, 40.0, 60.0, 80.0, 100.0, 130.0, 200.0, 400.0)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    if not bench.CSV.exists():
        print("skipped: the Olist sample is not at ../shared/data/olist/")
        return 0
    rows = bench.load()
    b = bench.Bench(rows)
    by_state = bench.history(rows)
    full = bench.history(rows, full=True)
    defaults = QuantileEstimator()
    delivered = b.curve(defaults, by_state, "d", targets=TARGETS)
    whole = b.curve(defaults, full, "f", targets=TARGETS)
    by_cost = [(c, bench.scored(b.report(
        QuantileEstimator(costs=bench.PromiseCosts(late=c)), by_state, ("cost", c))))
        for c in LATE_COSTS]
    scored = {o.ordered_at for o in b.report(QuantileEstimator(quantile=0.8), by_state,
                                             ("d", 0.8)).outcomes}
    own_on, own_pad = bench.olist_own([r for r in b.delivered if r["ordered_at"] in scored])
    s_on, s_pad, _ = bench.rolling_p95(b.delivered, per_state=True)
    g_on, g_pad, _ = bench.rolling_p95(b.delivered, per_state=False)
    seed = bench.scored(b.report(PaddedEstimator(window=bench.dt.timedelta(weeks=12)),
                                 by_state, "seed"))

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=130)
    for curve, label, style in ((delivered, "carekit defaults, delivered orders", "o-"),
                                (whole, "carekit defaults, full order table", "s--"),
                                (by_cost, "carekit, chosen by cost (delivered)", "^:")):
        xs = [pad for _, (_, pad, _) in curve]
        ys = [100 * on for _, (on, _, _) in curve]
        ax.plot(xs, ys, style, label=label, markersize=4)
    for target, (on, pad, _) in delivered:
        if target in (0.8, 0.9, 0.95, 0.99):
            ax.annotate(f"target {target:.0%}", (pad, 100 * on), textcoords="offset points",
                        xytext=(6, -12), ha="left", fontsize=8)
    ax.plot([own_pad], [100 * own_on], "r*", markersize=13,
            label="Olist's own promises (same orders)")
    ax.plot([g_pad], [100 * g_on], "kD", label="8-week p95, all orders")
    ax.plot([s_pad], [100 * s_on], "kv", label="8-week p95 per state")
    ax.plot([seed[1]], [100 * seed[0]], "gP", markersize=9, label="seed rule: median x 4/3")
    ax.set_xlabel("mean padding: promised date minus delivery date (calendar days)")
    ax.set_ylabel("promises kept (%)")
    ax.set_title("Olist orders, walk-forward: what padding buys")
    ax.set_ylim(74, 100)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
