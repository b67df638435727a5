"""Erlang A (M/M/n+M) against an independent truncated birth-death chain."""

from __future__ import annotations

import math

import mpmath
import pytest

from carekit.staffing import ServiceTarget, Workload, performance, required_agents


def chain_reference(
    traffic: float, agents: int, aht: float, patience: float, within: float, depth: int = 80
) -> tuple[float, float, float, float]:
    """(wait probability, abandon probability, service level of served, ASA of served).

    Birth-death chain on the number in system, truncated ``depth`` places into the queue
    (births lambda; deaths min(k, n) mu + max(k - n, 0) theta). A tagged arrival who finds
    ``j`` queued ahead moves up at rate n mu + j theta and abandons at rate theta: its
    chance of service and the mean wait of served customers come from first-step analysis,
    and its chance of being answered within ``within`` from that absorbing chain by
    uniformization (mpmath, 30 digits). Abandonment from Little's law: theta E[Q] / lambda.
    """
    with mpmath.workdps(30):
        lam = mpmath.mpf(traffic) / aht
        mu = mpmath.mpf(1) / aht
        theta = mpmath.mpf(1) / patience
        top = agents + depth
        weights = [mpmath.mpf(1)]
        for k in range(1, top + 1):
            weights.append(weights[-1] * lam / (min(k, agents) * mu + max(k - agents, 0) * theta))
        total = mpmath.fsum(weights)
        pi = [w / total for w in weights]
        wait = mpmath.fsum(pi[agents:])
        queue = mpmath.fsum((k - agents) * pi[k] for k in range(agents, top + 1))
        abandon = theta * queue / lam
        served = 1 - abandon
        p_prev, e_prev = mpmath.mpf(1), mpmath.mpf(0)
        mean_wait = []
        for j in range(depth + 1):
            move = agents * mu + j * theta
            rate = move + theta
            p = move / rate * p_prev
            e = p / rate + move / rate * e_prev
            mean_wait.append(e)
            p_prev, e_prev = p, e
        asa = mpmath.fsum(pi[agents + j] * mean_wait[j] for j in range(depth + 1)) / served
        size = depth + 1  # states 0..depth queued ahead; then served, abandoned
        moves = [agents * mu + j * theta for j in range(size)]
        rates = [m + theta for m in moves]
        q = max(rates)
        # u_j(t) = P(served by t | j ahead), by uniformization of the absorbing chain:
        # u(t) = sum_k Poisson(k; q t) P^k 1_served with P = I + G / q.
        vec = [mpmath.mpf(0)] * size
        served_col = mpmath.mpf(1)
        reach = [mpmath.mpf(0)] * size
        qt = q * within
        weight = mpmath.exp(-qt)
        k = 0
        while True:
            for j in range(size):
                reach[j] += weight * vec[j]
            if k > qt + 12 * mpmath.sqrt(qt + 1) + 30:
                break
            nxt = []
            for j in range(size):
                ahead = served_col if j == 0 else vec[j - 1]
                nxt.append(vec[j] * (1 - rates[j] / q) + moves[j] / q * ahead)
            vec = nxt
            k += 1
            weight = weight * qt / k
        on_time = (1 - wait) + mpmath.fsum(pi[agents + j] * reach[j] for j in range(size))
        return float(wait), float(abandon), float(on_time / served), float(asa)


CASES = [
    # traffic, agents, aht, patience, within
    (10.0, 10, 300.0, 120.0, 20.0),
    (8.0, 10, 300.0, 60.0, 20.0),
    (20.0, 15, 180.0, 90.0, 30.0),  # fewer agents than the load: abandonment keeps it stable
    (5.0, 8, 240.0, 600.0, 10.0),
    (12.5, 14, 200.0, 45.0, 0.0),
    (3.3, 2, 120.0, 30.0, 60.0),
]


def _assert_matches_chain(
    traffic: float, agents: int, aht: float, patience: float, within: float
) -> None:
    """``performance`` under Erlang A equals the birth-death chain's figures."""
    wait, abandon, level, asa = chain_reference(traffic, agents, aht, patience, within)
    workload = Workload(volume=traffic * 1800 / aht, aht=aht, interval=1800, patience=patience)
    p = performance(workload, agents, answer_within=within)
    assert p.wait_probability == pytest.approx(wait, rel=1e-10)
    assert p.abandon_rate == pytest.approx(abandon, rel=1e-9)
    assert p.service_level == pytest.approx(level, rel=1e-9)
    assert p.asa == pytest.approx(asa, rel=1e-9)
    assert p.occupancy == pytest.approx(traffic * (1 - abandon) / agents, rel=1e-9)


@pytest.mark.parametrize(("traffic", "agents", "aht", "patience", "within"), CASES)
def test_erlang_a_matches_birth_death_chain(
    traffic: float, agents: int, aht: float, patience: float, within: float
) -> None:
    _assert_matches_chain(traffic, agents, aht, patience, within)


def test_long_patience_tends_to_erlang_c() -> None:
    c = performance(Workload(volume=100, aht=180, interval=1800), 14, answer_within=20)
    a = performance(
        Workload(volume=100, aht=180, interval=1800, patience=1e7), 14, answer_within=20
    )
    assert a.wait_probability == pytest.approx(c.wait_probability, rel=1e-4)
    assert a.service_level == pytest.approx(c.service_level, rel=1e-4)
    assert a.asa == pytest.approx(c.asa, rel=1e-3)
    assert a.abandon_rate < 1e-5


@pytest.mark.parametrize(("volume", "agents"), [(5e6, 600_000), (5e6, 833_000), (2e6, 1)])
def test_huge_and_overloaded_erlang_a_is_finite(volume: float, agents: int) -> None:
    p = performance(
        Workload(volume=volume, aht=300, interval=1800, patience=90), agents, answer_within=20
    )
    for value in (p.wait_probability, p.abandon_rate, p.service_level, p.asa, p.occupancy):
        assert value is not None
        assert math.isfinite(value)
        assert value >= 0.0
    assert p.abandon_rate <= 1.0


# Patience far beyond the handle time: the queue holds up to lambda / theta customers and
# the sums over its length ran to tens of millions of terms (20 s and more).
def test_patience_of_thirty_thousand_years_on_one_agent() -> None:
    w = Workload(volume=1e6, aht=180, interval=1800, patience=1e12)  # 100,000 Erlangs
    p = performance(w, 1, answer_within=20)
    # one agent serves 1 in 100,000 callers, the rest give up
    assert p.abandon_rate == pytest.approx(1 - 1e-5, abs=1e-12)
    assert p.occupancy == pytest.approx(1.0, abs=1e-9)
    assert p.wait_probability == 1.0
    # fluid limit: a served caller waited while the queue ahead thinned from
    # (lambda - mu) / theta to nothing, patience x ln(load / agents)
    assert p.asa == pytest.approx(1e12 * math.log(1e5), rel=1e-6)
    assert p.service_level == 0.0


def test_patience_of_ten_years_on_ten_agents() -> None:
    w = Workload(volume=1e7, aht=60, interval=60, patience=86400 * 3650)
    p = performance(w, 10, answer_within=20)
    assert p.abandon_rate == pytest.approx(1 - 1e-6, abs=1e-12)
    assert p.asa == pytest.approx(86400 * 3650 * math.log(1e6), rel=1e-5)
    assert p.service_level == 0.0


def test_patience_far_beyond_the_handle_time_is_erlang_c_at_scale() -> None:
    # 20,000 Erlangs on 20,010 agents who wait for ever: Erlang C to within 1e-6
    c = performance(Workload(volume=2e5, aht=180, interval=1800), 20_010, answer_within=20)
    a = performance(Workload(volume=2e5, aht=180, interval=1800, patience=1e12), 20_010,
                    answer_within=20)
    assert a.wait_probability == pytest.approx(c.wait_probability, rel=1e-6)
    assert a.service_level == pytest.approx(c.service_level, rel=1e-6)
    assert a.asa == pytest.approx(c.asa, rel=1e-6)
    assert a.abandon_rate < 1e-9


@pytest.mark.parametrize(("traffic", "agents", "aht", "patience", "within"), CASES)
def test_lattice_sums_match_the_birth_death_chain(
    traffic: float, agents: int, aht: float, patience: float, within: float,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Long sums over queue lengths are done as extrapolated quadratures: force them on the
    # small cases, where the independent reference is cheap.
    from carekit.staffing import _numerics

    monkeypatch.setattr(_numerics, "_DIRECT_TERMS", -1)
    monkeypatch.setattr(_numerics, "_CF_MAX", -1.0)
    _assert_matches_chain(traffic, agents, aht, patience, within)


@pytest.mark.parametrize("volume", [1e7, 1e10, 1e15])
@pytest.mark.parametrize("patience", [60, 1e6, 1e12])
def test_required_agents_with_patience_returns_at_huge_loads(
    volume: float, patience: float
) -> None:
    w = Workload(volume=volume, aht=1, interval=1800, patience=patience)
    target = ServiceTarget(service_level=0.8, answer_within=20)
    r = required_agents(w, target)
    assert (r.performance.service_level or 0) >= 0.8
    below = performance(w, r.agents - 1, answer_within=20).service_level
    assert below is not None
    assert below < 0.8
