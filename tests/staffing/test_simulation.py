"""simulate(): the discrete-event simulation against exact queueing results.

References: Erlang C (M/M/c) and Erlang A (M/M/c+M) in steady state, as carekit computes them
and as the staffing tests check against exact arithmetic; the Pollaczek-Khinchine formula for
the mean wait of M/G/1 (Kleinrock, *Queueing Systems*, vol. 1, 1975, eq. 5.105):
``Wq = rho * E[S] * (1 + cv^2) / (2 (1 - rho))``, and P(wait > 0) = rho for M/G/1.
A long horizon with constant staffing makes the simulation's start from an empty queue
negligible.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from carekit import CareKitError
from carekit.staffing import (
    Roster,
    ServiceTarget,
    Shift,
    Simulation,
    Workload,
    performance,
    plan,
    simulate,
)
from carekit.staffing import simulation as simulation_module

UTC = dt.timezone.utc
START = dt.datetime(2025, 3, 3, tzinfo=UTC)
HALF = dt.timedelta(minutes=30)
TARGET = ServiceTarget.parse("80/20")


def steady(volume: float, agents: int, hours: int, *, aht: float = 180,
           patience: float | None = None, target: ServiceTarget = TARGET) -> tuple[Any, Roster]:
    p = plan([(START + i * HALF, volume) for i in range(2 * hours)], aht=aht, target=target,
             patience=patience)
    roster = Roster(shifts=[Shift(name="all", start=START, duration=hours * 3600,
                                  agents=agents)])
    return p, roster


def test_steady_m_m_c_agrees_with_erlang_c() -> None:
    p, roster = steady(100, 14, hours=100)
    exact = performance(Workload(volume=100, aht=180, interval=1800), 14, answer_within=20)
    sim = simulate(p, roster, runs=10)
    assert sim.erlang_service_level == pytest.approx(exact.service_level)
    assert sim.low <= exact.service_level <= sim.high
    assert sim.asa_low <= exact.asa <= sim.asa_high
    assert sim.abandoned == 0.0
    assert sim.high - sim.low < 0.03  # 200,000 calls pin it down to about a percent


def test_steady_m_m_c_plus_m_agrees_with_erlang_a() -> None:
    p, roster = steady(100, 12, hours=100, patience=120)
    exact = performance(Workload(volume=100, aht=180, interval=1800, patience=120), 12,
                        answer_within=20)
    sim = simulate(p, roster, runs=10)
    assert sim.low <= exact.service_level <= sim.high
    assert sim.asa_low <= exact.asa <= sim.asa_high
    assert sim.abandoned_low <= exact.abandon_rate <= sim.abandoned_high
    assert exact.abandon_rate > 0.03  # abandonment matters at this staffing


@pytest.mark.slow
@pytest.mark.parametrize("cv", [0.0, 0.5, 2.0])
def test_m_g_1_mean_wait_agrees_with_pollaczek_khinchine(cv: float) -> None:
    # One agent, 3-minute contacts, 6 per half-hour: rho = 0.6, over 2,000 hours: a single
    # server with variable handle times is slow to forget its empty start (its relaxation
    # time grows with 1 + cv^2 and with 1 / (1 - sqrt(rho))^2), so the horizon is long.
    p, roster = steady(6, 1, hours=2000)
    rho, mean = 0.6, 180.0
    wq = rho * mean * (1 + cv * cv) / (2 * (1 - rho))
    sim = simulate(p, roster, runs=10, aht_cv=cv)
    assert sim.asa_low <= wq <= sim.asa_high
    # the share answered at once is 1 - rho whatever the handle times (threshold 0)
    p0, roster0 = steady(6, 1, hours=2000, target=ServiceTarget(service_level=0.5,
                                                                answer_within=0))
    answered_at_once = simulate(p0, roster0, runs=10, aht_cv=cv)
    assert answered_at_once.low <= 1 - rho <= answered_at_once.high


@pytest.mark.slow
def test_the_interval_covers_erlang_c_in_most_seeds() -> None:
    """A 95 % interval should miss about one seed in twenty, no more."""
    p, roster = steady(100, 14, hours=50)
    exact = performance(Workload(volume=100, aht=180, interval=1800), 14, answer_within=20)
    sims = [simulate(p, roster, runs=10, seed=s) for s in range(20)]
    hits = sum(sim.low <= exact.service_level <= sim.high for sim in sims)
    assert hits >= 16  # P(at least 16 of 20 | 95 %) = 0.984


def test_the_queue_carries_over_to_the_next_interval() -> None:
    # Nobody on the phones from 09:00 to 09:30, then plenty: every 09:00 caller waits for
    # 09:30, so the first interval's mean wait is half an interval and its service level
    # is the share arriving in its last 20 seconds, 20/1800. Erlang C calls it 0 %.
    nine = START.replace(hour=9)
    p = plan([(nine, 60), (nine + HALF, 60)], aht=180, target=TARGET)
    roster = Roster(shifts=[Shift(name="late", start=nine + HALF, duration=3600, agents=200)])
    sim = simulate(p, roster, runs=200, seed=3)
    first, second = sim.intervals
    assert first.agents == 0 and first.erlang_service_level == 0.0
    assert first.asa == pytest.approx(900, rel=0.05)
    assert first.service_level == pytest.approx(20 / 1800, abs=0.01)
    assert first.abandoned == 0.0 and second.service_level == 1.0
    assert first.offered == pytest.approx(60, rel=0.05)


def test_contacts_left_waiting_with_nobody_to_answer_count_as_missed() -> None:
    p = plan([(START, 30)], aht=180, target=TARGET)
    sim = simulate(p, Roster(shifts=[]), runs=3)
    assert sim.service_level == 0.0 and sim.high == 0.0
    assert sim.intervals[0].agents == 0


def test_chat_concurrency_multiplies_the_servers() -> None:
    # 2 agents at 3 chats each behave as 6 servers of the same handle time
    chats = plan([(START + i * HALF, 25) for i in range(40)], aht=300, target=TARGET,
                 concurrency=3)
    calls = plan([(START + i * HALF, 25) for i in range(40)], aht=300, target=TARGET)
    two = Roster(shifts=[Shift(name="a", start=START, duration=20 * 3600, agents=2)])
    six = Roster(shifts=[Shift(name="a", start=START, duration=20 * 3600, agents=6)])
    a, b = simulate(chats, two, runs=4), simulate(calls, six, runs=4)
    assert (a.service_level, a.low, a.high, a.asa) == (b.service_level, b.low, b.high, b.asa)
    assert [(i.offered, i.service_level, i.asa) for i in a.intervals] == [
        (i.offered, i.service_level, i.asa) for i in b.intervals]
    assert a.service_level > 0.5


def test_a_seed_gives_the_same_simulation_and_another_seed_another() -> None:
    p, roster = steady(100, 14, hours=4)
    a = simulate(p, roster, runs=5, seed=7)
    assert isinstance(a, Simulation) and a == simulate(p, roster, runs=5, seed=7)
    assert a != simulate(p, roster, runs=5, seed=8)
    assert len(a.intervals) == 8 and a.runs == 5 and a.seed == 7


def test_gaps_between_forecast_intervals() -> None:
    p = plan([(START, 40), (START + 4 * HALF, 40)], aht=180, target=TARGET)
    roster = Roster(shifts=[Shift(name="a", start=START, duration=3 * 3600, agents=8)])
    sim = simulate(p, roster, runs=4)
    assert [i.start for i in sim.intervals] == [START, START + 4 * HALF]
    assert all(i.offered > 0 for i in sim.intervals)


def test_a_plan_in_local_time_across_the_autumn_change_simulates_as_in_utc() -> None:
    # The half-hours of 26 October 2025 from 00:00 in London: 01:00 and 01:30 come twice.
    london = ZoneInfo("Europe/London")
    eleven = dt.datetime(2025, 10, 25, 23, tzinfo=dt.timezone.utc)
    starts = [eleven + i * HALF for i in range(10)]
    volumes = [40, 40, 40, 40, 0, 0, 80, 80, 40, 40]
    local = plan([(s.astimezone(london), v) for s, v in zip(starts, volumes, strict=True)],
                 aht=180, target=TARGET)
    in_utc = plan(list(zip(starts, volumes, strict=True)), aht=180, target=TARGET)
    roster = Roster(shifts=[Shift(name="a", start=eleven, duration=5 * 3600, agents=8)])
    a, b = simulate(local, roster, runs=4), simulate(in_utc, roster, runs=4)
    assert (a.service_level, a.asa, [i.offered for i in a.intervals]) == (
        b.service_level, b.asa, [i.offered for i in b.intervals])


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"runs": 1}, "runs must be an integer >= 2"),
        ({"runs": 10_001}, "runs must be an integer from 2 to 10,000"),
        ({"seed": 1.5}, "seed must be an integer (got 1.5)"),
        ({"aht_cv": -1}, "aht_cv must be >= 0"),
        ({"aht_cv": 11}, "aht_cv must lie in [0, 10] (got 11)"),
        ({"patience": -5}, "patience must be a positive duration"),
        ({"shrinkage": 2}, "shrinkage must lie in [0, 1)"),
        ({"plan": "plan"}, "plan must be a carekit.staffing.StaffingPlan"),
        ({"roster": []}, "roster must be a carekit.staffing.Roster"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], fragment: str) -> None:
    p, roster = steady(10, 2, hours=1)
    call: dict[str, Any] = {"plan": p, "roster": roster, **kwargs}
    with pytest.raises(CareKitError, match=fragment.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[")):
        simulate(call.pop("plan"), call.pop("roster"), **call)


def test_too_many_contacts_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulation_module, "MAX_CONTACTS", 1000)
    p, roster = steady(100, 14, hours=1)
    with pytest.raises(CareKitError, match="runs x the plan's volume must be at most 1,000"):
        simulate(p, roster, runs=10)
