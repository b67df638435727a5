"""Draw the coverage chart shown in the staffing docs (``docs/img/staffing-coverage.png``).

Plans the bundled Monday forecast (AHT 5 min, 80/20, 30 % shrinkage, occupancy <= 85 %)
and checks the bundled roster against it, then saves the chart. Needs ``carekit[plot]``.
Run ``python benchmarks/staffing_chart.py [OUTPUT.png]``.
"""

from __future__ import annotations

import argparse
import pathlib

from carekit.staffing import ServiceTarget, coverage, plan, save_chart
from carekit.staffing._cli import _data, read_forecast, read_roster


def main(argv: list[str] | None = None) -> None:
    here = pathlib.Path(__file__).resolve().parent.parent
    default = here / "docs" / "img" / "staffing-coverage.png"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", type=pathlib.Path, default=default,
                        help=f"the chart, .png or .svg (default {default.relative_to(here)})")
    out = parser.parse_args(argv).output
    target = ServiceTarget.parse("80/20", max_occupancy=0.85)
    p = plan(read_forecast(_data("staffing_forecast.csv")), aht=300, target=target,
             shrinkage=0.3)
    c = coverage(p, read_roster(_data("staffing_roster.csv")))
    print(save_chart(out, p, c))


if __name__ == "__main__":
    main()
