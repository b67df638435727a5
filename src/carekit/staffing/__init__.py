"""Staffing: how many people the phones, chat, email and the shop floor need, and whether
the roster covers it.

Exact Erlang B, C and A (M/M/n+M, with abandonment), the smallest headcount meeting a
service-level target, interval plans from a forecast, deferred work (email) carried forward
to its deadline, rosters of recurring shifts and their coverage, the cheapest roster of
shifts from templates (:func:`schedule`, with the optional HiGHS solver of
``carekit[schedule]``), and a discrete-event simulation that checks a plan
(:func:`simulate`). Everything else is pure Python with the standard library.

Examples:
    >>> from carekit.staffing import Workload, ServiceTarget, required_agents
    >>> need = required_agents(Workload(volume=100, aht=180, interval=1800),
    ...                        ServiceTarget(service_level=0.8, answer_within=20),
    ...                        shrinkage=0.3)
    >>> need.agents, need.scheduled
    (14, 20)
"""

from carekit.staffing._chart import save_chart
from carekit.staffing.backlog import Backlog, BacklogInterval, backlog
from carekit.staffing.coverage import Coverage, CoverageInterval, CoverageSummary, coverage
from carekit.staffing.erlang import erlang_b, erlang_c
from carekit.staffing.plan import StaffingPlan, plan
from carekit.staffing.requirements import (
    capacity,
    max_traffic,
    performance,
    required_agents,
    service_level,
)
from carekit.staffing.roster import Break, Roster, Shift
from carekit.staffing.scheduling import Schedule, ShiftTemplate, schedule
from carekit.staffing.simulation import SimulatedInterval, Simulation, simulate
from carekit.staffing.workload import Performance, Requirement, ServiceTarget, Workload

__all__ = [
    "Backlog",
    "BacklogInterval",
    "Break",
    "Coverage",
    "CoverageInterval",
    "CoverageSummary",
    "Performance",
    "Requirement",
    "Roster",
    "Schedule",
    "ServiceTarget",
    "Shift",
    "ShiftTemplate",
    "SimulatedInterval",
    "Simulation",
    "StaffingPlan",
    "Workload",
    "backlog",
    "capacity",
    "coverage",
    "erlang_b",
    "erlang_c",
    "max_traffic",
    "performance",
    "plan",
    "required_agents",
    "save_chart",
    "schedule",
    "service_level",
    "simulate",
]
