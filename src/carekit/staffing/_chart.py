"""Coverage charts with matplotlib (the optional ``carekit[plot]`` extra), imported lazily."""

from __future__ import annotations

import pathlib
from typing import Any

from carekit import _validate
from carekit.errors import CareKitError
from carekit.staffing.coverage import Coverage
from carekit.staffing.plan import StaffingPlan

__all__ = ["save_chart"]

_FORMATS = (".png", ".svg")


def _pyplot() -> tuple[Any, Any]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.dates
        import matplotlib.pyplot as plt
    except ImportError:
        msg = (
            "charts need matplotlib, which is not installed; "
            "install the plot extra: pip install 'carekit[plot]'"
        )
        raise CareKitError(msg) from None
    return plt, matplotlib.dates


def save_chart(
    path: str | pathlib.Path, plan: StaffingPlan, coverage: Coverage | None = None
) -> pathlib.Path:
    """Draw required (and, with a coverage, rostered) agents per interval to a PNG or SVG.

    Intervals where the roster falls short are shaded. Needs the ``carekit[plot]`` extra.
    The file's folder must exist: it is not created.

    Args:
        path: output file; ``.png`` or ``.svg``, in an existing folder.
        plan: the :class:`~carekit.staffing.StaffingPlan`.
        coverage: the plan's :class:`~carekit.staffing.Coverage` against a roster, optional.

    Returns:
        The path written.

    Raises:
        CareKitError: a path, plan or coverage of the wrong type, an unsupported file type, a
            folder that does not exist, a file that cannot be written, an empty plan,
            matplotlib missing.
    """
    if not isinstance(path, (str, pathlib.PurePath)):
        msg = f"chart path must be a str or pathlib.Path ending in .png or .svg (got {path!r})"
        raise CareKitError(msg)
    if not isinstance(plan, StaffingPlan):
        msg = f"plan must be a carekit.staffing.StaffingPlan (got {_validate.short(plan)})"
        raise CareKitError(msg)
    if coverage is not None and not isinstance(coverage, Coverage):
        msg = (
            "coverage must be a carekit.staffing.Coverage or None "
            f"(got {_validate.short(coverage)})"
        )
        raise CareKitError(msg)
    out = pathlib.Path(path)
    if out.suffix.lower() not in _FORMATS:
        msg = f"chart path must end in .png or .svg (got {str(path)!r})"
        raise CareKitError(msg)
    if len(plan) == 0:
        msg = "cannot chart an empty plan (got a plan with no intervals)"
        raise CareKitError(msg)
    if not out.parent.is_dir():
        msg = (
            f"chart path must be in an existing folder, and {str(out.parent)!r} is not one "
            f"(got {str(path)!r}); create the folder first"
        )
        raise CareKitError(msg)
    plt, dates = _pyplot()
    starts = [r.start for r in plan]
    ends = [s + plan.interval for s in starts if s is not None]
    xs = [*starts, ends[-1]]
    required = [r.scheduled for r in plan]
    fig, ax = plt.subplots(figsize=(9, 4), dpi=110)
    try:
        ax.stairs(required, xs, label="required (scheduled)", color="#1f4e79", linewidth=2,
                  baseline=None)
        if coverage is not None:
            rostered = [c.scheduled for c in coverage]
            ax.stairs(rostered, xs, label="rostered", color="#2e8b57", linewidth=2,
                      baseline=None)
            for c in coverage:
                if c.gap < 0:
                    ax.axvspan(c.start, c.start + plan.interval, color="#d62728", alpha=0.15,
                               linewidth=0)
            ax.set_title(
                f"Coverage: {coverage.intervals_under_target} interval(s) under target, "
                f"day's service level {coverage.service_level:.1%}"
            )
        else:
            ax.set_title(f"Staffing plan: {plan.scheduled_hours:g} scheduled agent-hours")
        ax.set_ylabel("agents")
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left")
        ax.grid(alpha=0.3)
        tz = starts[0].tzinfo if starts[0] is not None else None
        ax.xaxis.set_major_formatter(dates.DateFormatter("%H:%M", tz=tz))
        ax.set_xlabel(f"interval start ({starts[0]:%a %d %b %Y})" if starts[0] else "")
        fig.tight_layout()
        try:
            fig.savefig(out, format=out.suffix.lower().lstrip("."))
        except OSError as exc:
            msg = f"cannot write the chart to {str(out)!r}: {exc.strerror or exc}"
            raise CareKitError(msg) from None
    finally:
        plt.close(fig)
    return out
