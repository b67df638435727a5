"""A small mixed-integer program and its solution by HiGHS (private).

``highspy`` is the optional ``carekit[schedule]`` extra: it is imported when a model is
solved, and its absence is one clear :class:`~carekit.CareKitError`.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import sys
from collections.abc import Iterator
from typing import Any

import attrs

from carekit.errors import CareKitError

__all__ = ["Model", "Solution", "solve"]

_INSTALL = 'pip install "carekit[schedule]"'


@attrs.define
class Model:
    """Columns (variables) and rows (linear constraints) of a program, built incrementally."""

    cost: list[float] = attrs.Factory(list)
    lower: list[float] = attrs.Factory(list)
    upper: list[float] = attrs.Factory(list)
    integer: list[bool] = attrs.Factory(list)
    row_lower: list[float] = attrs.Factory(list)
    row_upper: list[float] = attrs.Factory(list)
    row_entries: list[dict[int, float]] = attrs.Factory(list)

    def column(self, cost: float, lower: float, upper: float, *, integer: bool) -> int:
        """Add a variable; returns its index."""
        self.cost.append(cost)
        self.lower.append(lower)
        self.upper.append(upper)
        self.integer.append(integer)
        return len(self.cost) - 1

    def row(self, entries: dict[int, float], lower: float, upper: float) -> int:
        """Add ``lower <= sum(coef * x[col]) <= upper``; returns its index."""
        self.row_entries.append({c: v for c, v in entries.items() if v != 0.0})
        self.row_lower.append(lower)
        self.row_upper.append(upper)
        return len(self.row_entries) - 1


@attrs.frozen
class Solution:
    """What HiGHS reports: ``status`` is optimal, feasible, infeasible or none."""

    status: str
    values: tuple[float, ...]
    objective: float
    bound: float
    gap: float
    seconds: float
    #: a proven lower bound on the cost of a second, cheapest-at-that-level solve
    cost_bound: float | None = None


def _highspy() -> Any:
    try:
        import highspy
    except ImportError:
        msg = (
            "schedule() needs the HiGHS solver, which is not installed; install the "
            f"schedule extra: {_INSTALL}"
        )
        raise CareKitError(msg) from None
    return highspy


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence file descriptor 1: HiGHS prints a banner when a solver object is made."""
    try:
        fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else 1
    except (AttributeError, OSError, ValueError):
        fd = 1
    try:
        saved = os.dup(fd)
    except OSError:  # no standard output at all
        yield
        return
    flush: Any = None
    with contextlib.suppress(OSError, AttributeError, TypeError):  # no C library to ask
        flush = ctypes.CDLL(None).fflush
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        with contextlib.suppress(ValueError, OSError):
            sys.stdout.flush()
        os.dup2(devnull, fd)
        yield
        if flush is not None:
            flush(None)
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def solve(
    model: Model, *, maximize: bool = False, seconds: float, abs_gap: float = 1e-6,
    rel_gap: float = 0.0, relax: bool = False, start: tuple[float, ...] = (),
) -> Solution:
    """Solve ``model`` with HiGHS within ``seconds``; ``relax`` drops integrality.

    ``start``, when given, is a solution to begin from (values for every column).

    Raises:
        CareKitError: highspy is not installed.
    """
    highspy = _highspy()
    import numpy as np

    with _quiet_stdout():
        h = highspy.Highs()
    options: tuple[tuple[str, bool | float | int], ...] = (
        ("output_flag", False), ("time_limit", float(seconds)),
        ("mip_rel_gap", float(rel_gap)), ("mip_abs_gap", float(abs_gap)), ("random_seed", 0))
    for name, option in options:
        h.setOptionValue(name, option)
    n = len(model.cost)
    inf = highspy.kHighsInf
    upper = [inf if math.isinf(u) else u for u in model.upper]
    h.addCols(n, np.array(model.cost, dtype=np.float64), np.array(model.lower, dtype=np.float64),
              np.array(upper, dtype=np.float64), 0, np.array([], dtype=np.int32),
              np.array([], dtype=np.int32), np.array([], dtype=np.float64))
    if model.row_entries:
        starts: list[int] = []
        index: list[int] = []
        value: list[float] = []
        for entries in model.row_entries:
            starts.append(len(index))
            index.extend(entries)
            value.extend(entries.values())
        row_upper = [inf if math.isinf(u) else u for u in model.row_upper]
        row_lower = [-inf if math.isinf(v) else v for v in model.row_lower]
        h.addRows(len(model.row_entries), np.array(row_lower, dtype=np.float64),
                  np.array(row_upper, dtype=np.float64), len(index),
                  np.array(starts, dtype=np.int32), np.array(index, dtype=np.int32),
                  np.array(value, dtype=np.float64))
    if not relax and any(model.integer):
        kinds = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                 for i in model.integer]
        h.changeColsIntegrality(n, np.arange(n, dtype=np.int32), np.array(kinds))
    if maximize:
        h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    if start:
        given = highspy.HighsSolution()
        given.col_value = list(start)
        h.setSolution(given)
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    has_solution = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
    values = tuple(h.getSolution().col_value) if has_solution else ()
    objective = float(info.objective_function_value) if has_solution else math.nan
    mip = not relax and any(model.integer)
    bound = float(info.mip_dual_bound) if mip else objective
    if status == highspy.HighsModelStatus.kOptimal:
        kind, gap = "optimal", 0.0
    elif status in (highspy.HighsModelStatus.kInfeasible,
                    highspy.HighsModelStatus.kUnboundedOrInfeasible):
        kind, gap = "infeasible", math.inf
    elif has_solution:
        kind = "feasible"
        gap = abs(objective - bound) / max(abs(objective), 1e-9) if math.isfinite(bound) else 1.0
    else:
        kind, gap = "none", math.inf
    return Solution(status=kind, values=values, objective=objective, bound=bound, gap=gap,
                    seconds=float(h.getRunTime()))
