"""Erlang B and Erlang C, numerically stable from one to a million agents."""

from __future__ import annotations

from typing import Any

from carekit import _validate
from carekit.staffing import _numerics

__all__ = ["erlang_b", "erlang_c"]


def _agents(value: Any) -> int:
    return _validate.positive_int("agents", value, minimum=0)


def erlang_b(traffic: float, agents: int) -> float:
    """Probability that a contact finds every agent busy and is lost (Erlang B).

    ``B(A, N) = (A**N / N!) / sum_{k<=N} A**k / k!`` for offered load ``A`` Erlangs on ``N``
    agents (A. K. Erlang, 1917). Evaluated without factorials: the inverse recursion
    ``1/B(A, n) = 1 + n/A * 1/B(A, n-1)`` up to 100 agents, and above that the
    incomplete-gamma relation ``B = p(N; A) / P(X <= N)`` with ``X ~ Poisson(A)``, using a
    saddle-point Poisson term (Loader 2000) and, from 5,000 agents near the load, Temme's
    uniform asymptotic expansion (constant time; DLMF 8.12), elsewhere a positive series
    or, when that would run to tens of thousands of terms, an extrapolated quadrature of it.
    No overflow, no NaN, and about 1e-15 relative accuracy up to a million agents. Counts of
    agents past 2**53, which a float cannot hold exactly, are fine too: more than 40
    standard deviations above the load (decided on the exact difference) the result is 0.0.

    Args:
        traffic: offered load in Erlangs (finite, >= 0).
        agents: number of agents (int >= 0, any size).

    Returns:
        The blocking probability in [0, 1].

    Raises:
        CareKitError: a negative, NaN or infinite traffic; agents not an int >= 0.

    Examples:
        >>> round(erlang_b(10, 12), 6)
        0.119739
    """
    a = _validate.non_negative("traffic", traffic)
    n = _agents(agents)
    return _numerics.erlang_b(a, n)


def erlang_c(traffic: float, agents: int) -> float:
    """Probability that a contact has to wait (Erlang C); 1.0 when ``agents <= traffic``.

    ``C(A, N) = N B / (N - A (1 - B))`` with ``B = erlang_b(A, N)`` (Cooper, *Introduction
    to Queueing Theory*, 2nd ed., 1981, section 3.4).

    Args:
        traffic: offered load in Erlangs (finite, >= 0).
        agents: number of agents (int >= 0, any size).

    Returns:
        The probability of waiting in [0, 1].

    Raises:
        CareKitError: a negative, NaN or infinite traffic; agents not an int >= 0.

    Examples:
        >>> round(erlang_c(10, 12), 6)
        0.449388
        >>> erlang_c(10, 10)
        1.0
    """
    a = _validate.non_negative("traffic", traffic)
    n = _agents(agents)
    if n <= a:
        return 1.0
    return _numerics.erlang_c_from_b(a, n, _numerics.erlang_b(a, n))
