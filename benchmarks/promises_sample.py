"""Generate the bundled SYNTHETIC order sample ``src/carekit/data/promises_orders.csv``.

A made-up furniture shop in Great Britain: sofas and tables are made to order, chairs and
lamps come from stock; a carrier delivers Monday to Friday; three regions; a slow patch in
November-December. Seeded, so the file is reproducible: python benchmarks/promises_sample.py
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import pathlib
import random
from zoneinfo import ZoneInfo

from carekit.calendar import BusinessCalendar

OUT = pathlib.Path(__file__).resolve().parent.parent / "src" / "carekit" / "data"
TZ = ZoneInfo("Europe/London")
PRODUCTS = {"sofa": (12, 4), "table": (8, 3), "chair": (1, 1), "lamp": (0, 1)}
REGIONS = {"london": 1, "north": 3, "scotland": 4}


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    rng = random.Random(20260302)
    cal = BusinessCalendar(cutoff=dt.time(14), tz=TZ)
    start = dt.datetime(2025, 6, 2, 8, 0, tzinfo=TZ)
    end_of_data = dt.datetime(2026, 2, 27, 18, 0, tzinfo=TZ)
    rows = []
    t = start
    n = 0
    while t < end_of_data - dt.timedelta(days=1):
        t += dt.timedelta(minutes=rng.expovariate(1 / 260))
        if not 8 <= t.hour < 22:
            continue
        n += 1
        product = rng.choices(list(PRODUCTS), weights=(3, 2, 4, 3))[0]
        region = rng.choices(list(REGIONS), weights=(5, 3, 2))[0]
        make, spread = PRODUCTS[product]
        slow = 1.5 if dt.date(2025, 11, 10) <= t.date() <= dt.date(2025, 12, 19) else 1.0
        production = max(0, round(rng.gauss(make, spread) * slow))
        carrier = REGIONS[region] + int(rng.expovariate(1 / 1.5) * slow)
        delivered = cal.add_business_days(t, production + carrier)
        delivered = delivered.replace(hour=rng.randint(9, 17), minute=rng.randint(0, 59), second=0,
                                     microsecond=0)
        if rng.random() < 0.01:
            delivered = delivered + dt.timedelta(days=rng.randint(5, 20))  # lost, then found
        rows.append({
            "order_id": f"FS-{n:05d}",
            "ordered_at": t.replace(second=0, microsecond=0).isoformat(),
            "delivered_at": delivered.isoformat() if delivered <= end_of_data else "",
            "region": region,
            "product": product,
        })
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "promises_orders.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} orders to {OUT / 'promises_orders.csv'}")


if __name__ == "__main__":
    main()
