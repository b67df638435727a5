"""Required agents: worked examples, exact rounding, true minimum, reverse questions, errors."""

from __future__ import annotations

import datetime as dt
import math
import time
from fractions import Fraction

import mpmath
import pytest
from tests.strategies_staffing import at_least, fraction_erlang_c, mp_erlang_b, mp_service_level

from carekit import CareKitError, InfeasibleTarget
from carekit.staffing import (
    ServiceTarget,
    Workload,
    capacity,
    performance,
    required_agents,
    service_level,
)

SECOND = dt.timedelta(seconds=1)
EIGHTY_TWENTY = ServiceTarget(service_level=0.8, answer_within=20)


def exact_minimum(volume: Fraction, aht: int, interval: int, level: Fraction, within: int,
                  max_occupancy: Fraction | None = None) -> int:
    """The smallest N with exact SL >= level and A/N <= cap, by brute force from A."""
    traffic = volume * aht / interval
    n = math.floor(traffic) + 1
    while True:
        occupancy_ok = max_occupancy is None or traffic / n <= max_occupancy
        if occupancy_ok and at_least(
            mp_service_level(traffic, n, Fraction(within), Fraction(aht)), level
        ):
            return n
        n += 1


def test_call_centre_helper_worked_example() -> None:
    # Call Centre Helper, "Erlang C Formula - Made Simple With an Easy Worked Example":
    # 100 calls in 30 minutes, AHT 180 s, 80 % answered in 20 s -> 14 agents (SL 88.8 %,
    # ASA ~8 s, occupancy 71.4 %; 13 agents reach only 79.6 %), and 20 with 30 % shrinkage.
    w = Workload(volume=100, aht=180, interval=dt.timedelta(minutes=30))
    r = required_agents(w, EIGHTY_TWENTY, shrinkage=0.3)
    assert (r.agents, r.scheduled) == (14, 20)
    assert r.performance.service_level == pytest.approx(0.8884, abs=5e-5)
    assert r.performance.asa == pytest.approx(7.8, abs=0.05)
    assert r.performance.occupancy == pytest.approx(0.714, abs=5e-4)
    assert service_level(w, 13, 20) == pytest.approx(0.7956, abs=5e-5)
    # the same numbers independently: exact Erlang C and a 50-digit exponential
    assert float(fraction_erlang_c(Fraction(10), 14)) == pytest.approx(
        r.performance.wait_probability, rel=1e-14
    )
    assert float(mp_service_level(Fraction(10), 14, Fraction(20), Fraction(180))) == (
        pytest.approx(r.performance.service_level, rel=1e-14)
    )


def test_classic_textbook_example_cooper() -> None:
    # Cooper (1981), section 3.4: A = 2 Erlangs on N = 3 servers -> C = 4/9 exactly.
    assert fraction_erlang_c(Fraction(2), 3) == Fraction(4, 9)
    p = performance(Workload(volume=20, aht=180, interval=1800), 3)
    assert p.wait_probability == pytest.approx(4 / 9, rel=1e-14)
    assert p.asa == pytest.approx(4 / 9 * 180 / (3 - 2), rel=1e-14)


def test_shrinkage_rounding_is_exact() -> None:
    # 21 agents at 30 % shrinkage: 21 / 0.7 = 30 exactly; floats say 30.000000000000004.
    assert math.ceil(21 / (1 - 0.3)) == 31
    w = next(
        Workload(volume=v, aht=300, interval=1800)
        for v in range(60, 200)
        if required_agents(Workload(volume=v, aht=300, interval=1800), EIGHTY_TWENTY).agents == 21
    )
    assert required_agents(w, EIGHTY_TWENTY, shrinkage=0.3).scheduled == 30
    assert required_agents(w, EIGHTY_TWENTY, shrinkage=Fraction(3, 10)).scheduled == 30  # type: ignore[arg-type]
    assert required_agents(w, EIGHTY_TWENTY, shrinkage=0.0).scheduled == 21
    assert required_agents(w, EIGHTY_TWENTY, shrinkage=0.35).scheduled == 33  # 32.3 -> 33


def test_occupancy_cap_is_decided_exactly() -> None:
    # A = 21 Erlangs at a 70 % cap needs exactly 30 agents: 21 / 30 = 0.7 is allowed
    # (floats give 21 / 0.7 = 30.000000000000004 and round up to 31).
    assert math.ceil(21 / 0.7) == 31
    w = Workload(volume=126, aht=300, interval=1800)
    loose = ServiceTarget(service_level=0.5, answer_within=20, max_occupancy=0.7)
    assert w.traffic == 21.0
    r = required_agents(w, loose)
    assert r.agents == 30
    assert r.performance.occupancy == pytest.approx(0.7)


@pytest.mark.parametrize("volume", [Fraction(5), Fraction(37), Fraction(2345, 10), Fraction(618),
                                    Fraction(1999), Fraction(77777, 100)])
@pytest.mark.parametrize("target", [(Fraction(8, 10), 20, Fraction(85, 100)),
                                    (Fraction(9, 10), 10, None), (Fraction(1, 2), 0, None),
                                    (Fraction(95, 100), 60, None)])
def test_true_minimum_against_exact_reference(
    volume: Fraction, target: tuple[Fraction, int, Fraction | None]
) -> None:
    level, within, cap = target
    expected = exact_minimum(volume, 300, 1800, level, within, cap)
    got = required_agents(
        Workload(volume=float(volume), aht=300, interval=1800),
        ServiceTarget(service_level=float(level), answer_within=within,
                      max_occupancy=None if cap is None else float(cap)),
    )
    assert got.agents == expected


def test_low_targets_do_not_skip_the_smallest_count() -> None:
    # With a 1 % target almost anything stable will do: the minimum is floor(A) + 1.
    for volume in (3, 50, 333, 1000):
        w = Workload(volume=volume, aht=300, interval=1800)
        low = ServiceTarget(service_level=0.01, answer_within=0)
        assert required_agents(w, low).agents == math.floor(w.traffic) + 1


def test_erlang_a_can_need_fewer_agents_than_the_load() -> None:
    w = Workload(volume=600, aht=300, interval=1800, patience=20)
    r = required_agents(w, ServiceTarget(service_level=0.5, answer_within=60))
    assert r.agents < w.traffic  # 100 Erlangs offered
    below = performance(w, r.agents - 1, answer_within=60)
    assert below.service_level is not None
    assert below.service_level < 0.5 <= (r.performance.service_level or 0)


def test_erlang_a_minimum_is_minimal() -> None:
    for volume in (20, 150, 777):
        w = Workload(volume=volume, aht=240, interval=1800, patience=120)
        r = required_agents(w, EIGHTY_TWENTY)
        assert (r.performance.service_level or 0) >= 0.8
        sl_below = performance(w, r.agents - 1, answer_within=20).service_level
        assert sl_below is not None
        assert sl_below < 0.8


def test_chat_concurrency_divides_the_servers() -> None:
    solo = required_agents(Workload(volume=300, aht=600, interval=1800), EIGHTY_TWENTY)
    chat = required_agents(
        Workload(volume=300, aht=600, interval=1800, concurrency=3), EIGHTY_TWENTY
    )
    assert chat.agents == math.ceil(solo.agents / 3) or chat.agents == solo.agents // 3 + 1
    assert chat.performance.occupancy == pytest.approx(100 / (chat.agents * 3))


def test_email_with_a_long_deadline_needs_about_the_load() -> None:
    # 90 % of 120 emails per hour, 6 minutes each, answered within an hour: 12 Erlangs.
    w = Workload(volume=120, aht=360, interval=3600)
    r = required_agents(w, ServiceTarget(service_level=0.9, answer_within=dt.timedelta(hours=1)))
    assert r.agents == 13


def test_five_million_contacts_in_well_under_a_second() -> None:
    w = Workload(volume=5_000_000, aht=300, interval=1800)
    target = ServiceTarget(service_level=0.8, answer_within=20, max_occupancy=0.85)
    began = time.perf_counter()
    r = required_agents(w, target, shrinkage=0.3)
    r2 = required_agents(w, EIGHTY_TWENTY, shrinkage=0.3)
    elapsed = time.perf_counter() - began
    # A guard against a search step by step from the load (minutes here), not a benchmark:
    # it takes milliseconds (benchmarks/staffing.py measures it); a busy machine must pass.
    assert elapsed < 5
    assert r.agents == math.ceil(Fraction(5_000_000 * 300, 1800) / Fraction(85, 100))
    assert r2.agents > w.traffic
    sl_below = performance(w, r2.agents - 1, answer_within=20).service_level
    assert sl_below is not None
    assert sl_below < 0.8 <= (r2.performance.service_level or 0)


def test_zero_volume_needs_nobody() -> None:
    r = required_agents(Workload(volume=0, aht=300, interval=1800), EIGHTY_TWENTY, 0.3)
    assert (r.agents, r.scheduled) == (0, 0)
    assert r.performance.service_level == 1.0


def test_capacity_is_the_reverse_of_required_agents() -> None:
    for agents in (3, 14, 60):
        vol = capacity(agents, EIGHTY_TWENTY, aht=180, interval=1800)
        assert required_agents(Workload(volume=vol, aht=180, interval=1800),
                               EIGHTY_TWENTY).agents <= agents
        assert required_agents(Workload(volume=vol * 1.001, aht=180, interval=1800),
                               EIGHTY_TWENTY).agents > agents
    assert capacity(0, EIGHTY_TWENTY, aht=180, interval=1800) == 0.0
    with_patience = capacity(14, EIGHTY_TWENTY, aht=180, interval=1800, patience=60)
    assert with_patience > capacity(14, EIGHTY_TWENTY, aht=180, interval=1800)


def test_performance_when_understaffed() -> None:
    p = performance(Workload(volume=100, aht=180, interval=1800), 9, answer_within=20)
    assert (p.wait_probability, p.service_level, p.asa) == (1.0, 0.0, math.inf)
    p0 = performance(Workload(volume=100, aht=180, interval=1800, patience=60), 0, 20)
    assert (p0.abandon_rate, p0.service_level) == (1.0, 0.0)
    assert performance(Workload(volume=100, aht=180, interval=1800), 12).service_level is None


@pytest.mark.parametrize("level", [1.0, 1])
@pytest.mark.parametrize("within", [0, 20, 3600])
def test_hundred_percent_is_infeasible(level: float, within: int) -> None:
    w = Workload(volume=100, aht=180, interval=1800)
    began = time.perf_counter()
    with pytest.raises(InfeasibleTarget, match="service_level=1") as refused:
        required_agents(w, ServiceTarget(service_level=level, answer_within=within))
    # Refused at once, not after a search that cannot succeed: a guard against a hang (it
    # takes microseconds; a bound of 0.1 s failed on a busy machine).
    assert time.perf_counter() - began < 5
    # The wait in seconds, as the target was given (no datetime.timedelta repr in the CLI).
    assert f"answer_within={within} s cannot be met" in str(refused.value)


def test_extreme_but_feasible_target_terminates() -> None:
    w = Workload(volume=1000, aht=300, interval=1800)
    r = required_agents(w, ServiceTarget(service_level=0.9999999999, answer_within=0))
    assert (r.performance.service_level or 0) >= 0.9999999999


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"volume": -1}, "volume must be >= 0"),
        ({"volume": math.nan}, "volume must be a finite number"),
        ({"volume": math.inf}, "volume must be a finite number"),
        ({"aht": 0}, "aht must be a positive duration"),
        ({"aht": -5}, "aht must be a positive duration"),
        ({"aht": dt.timedelta(0)}, "aht must be a positive duration"),
        ({"interval": -1800}, "interval must be a positive duration"),
        ({"patience": 0}, "patience must be a positive duration"),
        ({"patience": dt.timedelta(seconds=-3)}, "patience must be a positive duration"),
        ({"concurrency": 0}, "concurrency must be an integer >= 1"),
        ({"aht": "300"}, "aht must be a datetime.timedelta or a number of seconds"),
    ],
)
def test_bad_workloads(kwargs: dict[str, object], fragment: str) -> None:
    base: dict[str, object] = {"volume": 100, "aht": 300, "interval": 1800}
    with pytest.raises(CareKitError, match=fragment):
        Workload(**{**base, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"service_level": 0}, r"service_level must lie in \(0, 1\]"),
        ({"service_level": 1.2}, r"service_level must lie in \(0, 1\]"),
        ({"service_level": -0.1}, r"service_level must lie in \(0, 1\]"),
        ({"service_level": math.nan}, "service_level must be a finite number"),
        ({"answer_within": -20}, "answer_within must be a non-negative duration"),
        ({"max_occupancy": 0}, r"max_occupancy must lie in \(0, 1\]"),
        ({"max_occupancy": 1.5}, r"max_occupancy must lie in \(0, 1\]"),
    ],
)
def test_bad_targets(kwargs: dict[str, object], fragment: str) -> None:
    base: dict[str, object] = {"service_level": 0.8, "answer_within": 20}
    with pytest.raises(CareKitError, match=fragment):
        ServiceTarget(**{**base, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize("shrinkage", [1.0, 1.5, -0.1, math.nan])
def test_bad_shrinkage(shrinkage: float) -> None:
    with pytest.raises(CareKitError, match="shrinkage must"):
        required_agents(Workload(volume=1, aht=1, interval=SECOND), EIGHTY_TWENTY, shrinkage)


def test_bad_types_are_named() -> None:
    w = Workload(volume=1, aht=1, interval=SECOND)
    with pytest.raises(CareKitError, match="workload must be"):
        required_agents("w", EIGHTY_TWENTY)  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="target must be"):
        required_agents(w, "80/20")  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="agents must be an integer >= 0"):
        performance(w, -1)
    with pytest.raises(CareKitError, match="answer_within must be a non-negative duration"):
        performance(w, 3, answer_within=-1)


@pytest.mark.parametrize(("text", "level", "within"), [("80/20", 0.8, 20), ("90/30", 0.9, 30),
                                                        ("99.5/0", 0.995, 0), ("100/5", 1.0, 5)])
def test_parse_shorthand(text: str, level: float, within: int) -> None:
    t = ServiceTarget.parse(text, max_occupancy=0.9)
    assert (t.service_level, t.answer_within, t.max_occupancy) == (
        level, dt.timedelta(seconds=within), 0.9)


@pytest.mark.parametrize("text", ["80", "80/20/1", "x/20", "0/20", "120/20", "80/-1", "nan/2"])
def test_parse_rejects_nonsense(text: str) -> None:
    with pytest.raises(CareKitError):
        ServiceTarget.parse(text)


@pytest.mark.parametrize(("text", "hint"), [("0.8/20", "'80/20' for 80 %"),
                                          ("0.95/30", "'95/30' for 95 %"),
                                          ("1/20", "'100/20' for 100 %"),
                                          ("0.001/20", "'80/20' for 80 % within 20 seconds")])
def test_parse_refuses_a_fraction_written_for_a_percent(text: str, hint: str) -> None:
    with pytest.raises(CareKitError, match="reads as .* %; write the percent") as info:
        ServiceTarget.parse(text)
    assert hint in str(info.value)
    assert ServiceTarget.parse("1.5/20").service_level == 0.015  # a percent above 1 stands


def test_near_ties_are_decided_in_exact_arithmetic() -> None:
    # A target equal (in floating point) to what 14 agents achieve: the float comparison
    # cannot be trusted, so 50-digit arithmetic decides against the target as written.
    w = Workload(volume=100, aht=180, interval=1800)
    achieved = service_level(w, 14, 20)
    for level in (achieved, math.nextafter(achieved, 0), math.nextafter(achieved, 1)):
        expected = exact_minimum(Fraction(100), 180, 1800, Fraction(repr(level)), 20)
        got = required_agents(w, ServiceTarget(service_level=level, answer_within=20)).agents
        assert got == expected


def test_capacity_rejects_bad_arguments() -> None:
    with pytest.raises(CareKitError, match="agents must be an integer >= 0"):
        capacity(-1, EIGHTY_TWENTY, aht=180, interval=1800)
    with pytest.raises(CareKitError, match="target must be"):
        capacity(3, "80/20", aht=180, interval=1800)  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="aht must be a positive duration"):
        capacity(3, EIGHTY_TWENTY, aht=0, interval=1800)


def test_chat_with_patience_uses_erlang_a_on_all_slots() -> None:
    w = Workload(volume=300, aht=600, interval=1800, concurrency=3, patience=90)
    r = required_agents(w, EIGHTY_TWENTY)
    below = performance(w, r.agents - 1, answer_within=20)
    assert below.service_level is not None
    assert below.service_level < 0.8 <= (r.performance.service_level or 0)


def test_max_traffic_is_capacity_in_erlangs() -> None:
    from carekit.staffing import max_traffic

    for agents in (5, 14, 80):
        load = max_traffic(agents, EIGHTY_TWENTY, aht=180)
        vol = capacity(agents, EIGHTY_TWENTY, aht=180, interval=1800)
        assert load == pytest.approx(vol * 180 / 1800, rel=1e-8)
        assert performance(Workload(volume=load, aht=180, interval=180), agents,
                           answer_within=20).service_level >= 0.8  # type: ignore[operator]


# --- capacity when the target holds at any load (Erlang A), and loads too large to staff ---


@pytest.mark.parametrize("agents", [1, 14, 10**6, 10**9])
def test_capacity_with_no_finite_limit_is_inf(agents: int) -> None:
    # With patience the service level describes the customers who stay: with no threshold
    # at all (timedelta.max) every one of them is answered "in time" whatever the load, the
    # rest abandon. The search used to double the volume for ever.
    target = ServiceTarget(service_level=0.5, answer_within=dt.timedelta.max)
    assert capacity(agents, target, aht=180, interval=1800, patience=60) == math.inf


def test_capacity_with_a_threshold_far_beyond_the_patience_is_inf() -> None:
    # 80 % within an hour when customers give up after a minute on average: those who
    # stay are answered in time until the load is some e**60 times what 14 agents carry.
    hour = ServiceTarget(service_level=0.8, answer_within=3600)
    assert capacity(14, hour, aht=180, interval=1800, patience=60) == math.inf
    from carekit.staffing import max_traffic

    assert max_traffic(14, hour, aht=180, patience=60) == math.inf


def test_capacity_with_patience_is_finite_when_the_load_can_break_the_target() -> None:
    five_minutes = ServiceTarget(service_level=0.8, answer_within=300)
    vol = capacity(14, five_minutes, aht=180, interval=1800, patience=60)
    assert math.isfinite(vol)
    assert vol > capacity(14, five_minutes, aht=180, interval=1800)
    at = Workload(volume=vol, aht=180, interval=1800, patience=60)
    above = Workload(volume=vol * 1.001, aht=180, interval=1800, patience=60)
    assert service_level(at, 14, 300) >= 0.8 > service_level(above, 14, 300)


@pytest.mark.parametrize("agents", [10**15, 10**16, 10**400])
def test_capacity_of_more_agents_than_the_largest_load_is_inf(agents: int) -> None:
    assert capacity(agents, EIGHTY_TWENTY, aht=180, interval=1800) == math.inf


def test_a_load_above_1e15_erlangs_is_refused_naming_the_volume() -> None:
    # 1e200 calls used to end in a ZeroDivisionError; 1e30 "worked", with a headcount no
    # float can tell from its neighbours.
    message = (
        r"volume must make an offered load \(volume x aht / interval\) of at most 1e\+15 "
        r"Erlangs \(got volume=1e\+200, a load of 1e\+199 Erlangs\)"
    )
    with pytest.raises(CareKitError, match=message):
        required_agents(Workload(volume=1e200, aht=180, interval=1800), EIGHTY_TWENTY)
    with pytest.raises(CareKitError, match=r"a load of 1e\+25 Erlangs"):
        Workload(volume=1e30, aht=1, interval=1e5)
    with pytest.raises(CareKitError, match=r"a load of inf Erlangs"):
        Workload(volume=1e300, aht=1e10, interval=dt.timedelta(milliseconds=1))


def test_the_largest_load_is_staffed() -> None:
    r = required_agents(Workload(volume=1e15, aht=1, interval=SECOND), EIGHTY_TWENTY)
    assert r.agents == 10**15 + 1  # 20 s is over 20 handle times: one spare agent will do
    assert r.performance.service_level == pytest.approx(1.0)


@pytest.mark.parametrize("volume", [1e8, 1e9])
def test_extreme_service_level_at_a_huge_load_is_the_true_minimum(volume: float) -> None:
    # 99.9999999 % within a microsecond used to walk an exact 50-digit sum over every agent
    # for each near tie: minutes for a hundred million agents.
    w = Workload(volume=volume, aht=1, interval=SECOND)
    target = ServiceTarget(service_level=0.999999999, answer_within=1e-6)
    r = required_agents(w, target)
    assert (r.performance.service_level or 0) >= 0.999999999
    below = performance(w, r.agents - 1, answer_within=1e-6).service_level
    assert below is not None
    assert below < 0.999999999


def test_service_level_within_one_ulp_of_one_is_decided_exactly() -> None:
    # 1 - 1e-16 as written: a contact in ten million billion late. The float service level
    # cannot tell the agents apart (they differ by some 1e-19), the share late can, and the
    # answer is the true minimum (by 40-digit mpmath, sharing no code with carekit).
    # It used to redo the comparison in 50-digit decimals over all ten million agents for
    # each of the many near ties.
    w = Workload(volume=1e7, aht=1, interval=SECOND)
    r = required_agents(w, ServiceTarget(service_level=0.9999999999999999, answer_within=0))

    def late(agents: int) -> mpmath.mpf:
        with mpmath.workdps(40):
            b = mp_erlang_b(1e7, agents)
            return b / (1 - mpmath.mpf(1e7) / agents * (1 - b))

    with mpmath.workdps(40):
        allowed = mpmath.mpf(1) / 10**16
        assert late(r.agents) <= allowed < late(r.agents - 1)


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_near_ties_at_hundreds_of_erlangs_are_decided_exactly(offset: int) -> None:
    # the exact decision sums 1/B in fixed point from the top agent down, stopping early
    w = Workload(volume=3_000, aht=180, interval=1800)  # 300 Erlangs
    achieved = service_level(w, 316, 20)
    level = [math.nextafter(achieved, 0), achieved, math.nextafter(achieved, 1)][offset + 1]
    traffic = Fraction(300)
    got = required_agents(w, ServiceTarget(service_level=level, answer_within=20)).agents
    goal = Fraction(repr(level))
    assert at_least(mp_service_level(traffic, got, Fraction(20), Fraction(180)), goal)
    assert not at_least(mp_service_level(traffic, got - 1, Fraction(20), Fraction(180)), goal)
