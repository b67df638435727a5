"""Erlang B and C against exact and high-precision references."""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import pytest
from tests.strategies_staffing import fraction_erlang_b, fraction_erlang_c, mp_erlang_b

from carekit import CareKitError
from carekit.staffing import erlang_b, erlang_c

SMALL = [
    (Fraction(1, 2), 1), (Fraction(1), 1), (Fraction(2), 3), (Fraction(10), 12),
    (Fraction(10), 14), (Fraction(25, 3), 10), (Fraction(333, 10), 40), (Fraction(50), 50),
    (Fraction(80), 95), (Fraction(99, 2), 60), (Fraction(120), 100), (Fraction(150), 180),
]


@pytest.mark.parametrize(("traffic", "agents"), SMALL)
def test_erlang_b_matches_exact_fractions(traffic: Fraction, agents: int) -> None:
    exact = fraction_erlang_b(traffic, agents)
    assert erlang_b(float(traffic), agents) == pytest.approx(float(exact), rel=1e-13)


@pytest.mark.parametrize(("traffic", "agents"), SMALL)
def test_erlang_c_matches_exact_fractions(traffic: Fraction, agents: int) -> None:
    exact = fraction_erlang_c(traffic, agents)
    assert erlang_c(float(traffic), agents) == pytest.approx(float(exact), rel=1e-13)


# Across the switch from the recursion (<= 100 agents) to the incomplete-gamma series.
@pytest.mark.parametrize("agents", [99, 100, 101, 102, 150])
@pytest.mark.parametrize("traffic", [Fraction(80), Fraction(101), Fraction(1201, 10)])
def test_erlang_b_continuous_across_method_switch(traffic: Fraction, agents: int) -> None:
    exact = fraction_erlang_b(traffic, agents)
    assert erlang_b(float(traffic), agents) == pytest.approx(float(exact), rel=1e-13)


LARGE = [
    (1_000.5, 1_050), (10_000.0, 10_100), (10_000.0, 9_900), (99_999.7, 100_300),
    (250_000.0, 251_000), (833_333.3333333334, 834_600), (1_000_000.0, 1_001_000),
    (1_000_000.0, 999_000), (1_000_000.0, 1_000_000), (999_000.0, 1_000_000),
    (1_000_000.0, 500_000), (400_000.0, 401_500),
]


@pytest.mark.parametrize(("traffic", "agents"), LARGE)
def test_erlang_b_up_to_a_million_agents_matches_mpmath(traffic: float, agents: int) -> None:
    assert erlang_b(traffic, agents) == pytest.approx(float(mp_erlang_b(traffic, agents)),
                                                      rel=1e-12)


@pytest.mark.parametrize(("traffic", "agents"), LARGE)
def test_erlang_c_up_to_a_million_agents_matches_mpmath(traffic: float, agents: int) -> None:
    b = mp_erlang_b(traffic, agents)
    with mpmath.workdps(40):
        rho = mpmath.mpf(traffic) / agents
        ref = 1 if agents <= traffic else b / (1 - rho * (1 - b))
    assert erlang_c(traffic, agents) == pytest.approx(float(ref), rel=1e-12)


def test_values_far_from_the_load_are_finite_and_tiny_not_nan() -> None:
    assert erlang_b(500_000.0, 1_000_000) == 0.0  # true value ~1e-83000: underflows cleanly
    assert erlang_b(1e-300, 5) == 0.0
    assert erlang_b(1e-300, 500) == 0.0
    assert erlang_b(1e9, 3) == pytest.approx(1.0)
    assert 0.0 <= erlang_c(1e-9, 1) < 1e-8
    for a, n in [(1e-200, 1), (1e12, 1_000_000), (3.0, 0), (0.0, 0)]:
        assert not math.isnan(erlang_b(a, n))
        assert not math.isnan(erlang_c(a, n))


def test_edges() -> None:
    assert erlang_b(0, 0) == 1.0
    assert erlang_b(5, 0) == 1.0
    assert erlang_b(0, 5) == 0.0
    assert erlang_c(0, 5) == 0.0
    assert erlang_c(5, 5) == 1.0
    assert erlang_c(5.5, 5) == 1.0
    assert erlang_c(4.999, 5) < 1.0


@pytest.mark.parametrize(
    ("traffic", "agents", "fragment"),
    [
        (-1, 3, "traffic must be >= 0"),
        (math.nan, 3, "traffic must be a finite number"),
        (math.inf, 3, "traffic must be a finite number"),
        ("10", 3, "traffic must be a real number"),
        (10, -1, "agents must be an integer >= 0"),
        (10, 2.5, "agents must be an integer >= 0"),
        (10, True, "agents must be an integer >= 0"),
    ],
)
def test_bad_arguments_are_named(traffic: object, agents: object, fragment: str) -> None:
    with pytest.raises(CareKitError, match=fragment):
        erlang_b(traffic, agents)  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match=fragment):
        erlang_c(traffic, agents)  # type: ignore[arg-type]


# Around the load at large sizes erlang_b uses Temme's uniform expansion (constant time):
# check it against mpmath where it applies, right up to the edges of where it is used.
TEMME = [
    (5_000, 5_000 - 3.0), (5_000, 4_700.5), (5_000, 5_200.25), (12_345, 12_000.0),
    (100_000, 100_000.0), (100_000, 99_000.5), (100_000, 101_300.0), (400_000, 399_100.0),
    (999_999, 1_000_000.0), (1_000_000, 996_000.0), (1_000_000, 1_004_200.0),
    (20_000, 14_000.0), (8_000, 5_400.0),
]


@pytest.mark.parametrize(("agents", "traffic"), TEMME)
def test_erlang_b_temme_region_matches_mpmath(agents: int, traffic: float) -> None:
    assert erlang_b(traffic, agents) == pytest.approx(float(mp_erlang_b(traffic, agents)),
                                                      rel=1e-13)


# More agents than a float holds: int arithmetic first, no OverflowError.
@pytest.mark.parametrize("traffic", [0, 1e-300, 5, 1e15, 1e308, 1.7976931348623157e308])
@pytest.mark.parametrize("agents", [10**400, 2**1024 - 2**970, 2**1024 - 2**970 - 1])
def test_more_agents_than_a_float_holds(traffic: float, agents: int) -> None:
    # agents - traffic is at least 2**970 here: B is below exp(-2**915), which is 0.0
    assert erlang_b(traffic, agents) == 0.0
    assert erlang_c(traffic, agents) == 0.0


def test_agents_and_traffic_near_the_largest_float() -> None:
    assert erlang_b(1e308, 10**308) == pytest.approx(math.sqrt(2 / (math.pi * 1e308)), rel=1e-6)
    assert erlang_b(1e308, 2 * 10**308) == 0.0
    big = 1.7976931348623157e308
    assert erlang_b(big, 10**308) == pytest.approx(1 - 1e308 / big, rel=1e-12)
    assert erlang_c(big, 10**308) == 1.0
    # past 2**53 agents a float cannot hold the count exactly: the gap to the load decides
    assert erlang_b(1e20, 10**20 + 10**11) == pytest.approx(7.694551475631e-33, rel=1e-9)
    assert erlang_c(1e16, 10**16 + 1) == pytest.approx(0.9999999874668588, rel=1e-12)


# A little fewer agents than a huge load: 1/B = sum_j n!/((n-j)! A**j) has ratios just below
# one, and was summed term by term (90 million terms, 5 s, for 1e14 agents; ten times that
# for 1e16). References: mpmath.gammainc at 40 digits (minutes each), as mp_erlang_b.
@pytest.mark.parametrize(
    ("traffic", "agents", "reference"),
    [
        (1e16 + 1e9, 10**16, "0.0000001009809222396782582603768"),
        (1e14 + 1e8, 10**14, "0.000001009808313402474058315589"),
        (1e12 + 1e7, 10**12, "0.00001009799223549378800407012"),
    ],
)
def test_erlang_b_just_below_a_huge_load(traffic: float, agents: int, reference: str) -> None:
    assert erlang_b(traffic, agents) == pytest.approx(float(reference), rel=1e-12)


def test_erlang_b_in_the_far_tail_keeps_the_documented_2e_12() -> None:
    # Far more agents than the load (1.4x at 10,809 agents): B ~ 1e-257, where the
    # documented bound is 2e-12 rather than 1e-12. Reference: mpmath.gammainc (mp_erlang_b).
    traffic, agents = 7629.657500579352, 10809
    reference = float(mp_erlang_b(traffic, agents))
    assert erlang_b(traffic, agents) == pytest.approx(reference, rel=2e-12)
    with mpmath.workdps(40):
        b, rho = mpmath.mpf(reference), mpmath.mpf(traffic) / agents
        c = float(mp_erlang_b(traffic, agents) / (1 - rho * (1 - b)))
    assert erlang_c(traffic, agents) == pytest.approx(c, rel=2e-12)


@pytest.mark.parametrize(("traffic", "agents"), [(1e8 + 1e5, 10**8), (4e7 + 5e4, 4 * 10**7)])
def test_erlang_b_just_below_a_large_load_matches_mpmath(traffic: float, agents: int) -> None:
    assert erlang_b(traffic, agents) == pytest.approx(float(mp_erlang_b(traffic, agents)),
                                                      rel=1e-13)


@pytest.mark.parametrize(("traffic", "agents"), [(10, 12), (10, 1), (3, 7), (50, 60)])
def test_stepping_erlang_b_down_one_agent(traffic: int, agents: int) -> None:
    # B(A, N - 1) = N B(A, N) / (A (1 - B(A, N))), the recurrence run backwards; checked
    # against Erlang B from its definition in exact rational arithmetic. (The staffing
    # search walks down with it when its square-root start lands above the minimum.)
    from carekit.staffing._numerics import erlang_b_down

    b = float(fraction_erlang_b(Fraction(traffic), agents))
    want = float(fraction_erlang_b(Fraction(traffic), agents - 1))
    assert erlang_b_down(float(traffic), agents, b) == pytest.approx(want, rel=1e-13)
    assert erlang_b_down(float(traffic), agents, 1.0) == 1.0
