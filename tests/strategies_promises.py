"""Hypothesis strategies for carekit.promises tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

UTC = dt.timezone.utc
T0 = dt.datetime(2025, 1, 6, 8, 0, tzinfo=UTC)  # a Monday


@st.composite
def histories(draw: st.DrawFn, *, min_size: int = 0, max_size: int = 40) -> list[tuple]:
    """Orders over a few weeks: (ordered_at, delivered_at or None, segment)."""
    n = draw(st.integers(min_value=min_size, max_value=max_size))
    out = []
    for _ in range(n):
        placed = T0 + dt.timedelta(hours=draw(st.integers(min_value=0, max_value=24 * 60)))
        delivered = draw(
            st.one_of(
                st.none(),
                st.integers(min_value=0, max_value=24 * 40).map(
                    lambda h, p=placed: p + dt.timedelta(hours=h)
                ),
            )
        )
        segment = draw(st.sampled_from([None, "north", "south", ("north", "van")]))
        out.append((placed, delivered, segment))
    return out


order_times = st.integers(min_value=0, max_value=24 * 90).map(
    lambda h: T0 + dt.timedelta(hours=h, minutes=17)
)
quantiles = st.floats(min_value=0.05, max_value=0.99)


@st.composite
def packed_histories(
    draw: st.DrawFn,
    *,
    max_size: int,
    days: int,
    max_lead_days: int,
    delivered_weight: int,
    segments: list[Any],
) -> list[tuple[dt.datetime, dt.datetime | None, Any]]:
    """Orders packed into ``days`` at minute resolution, same-day deliveries included.

    An order is undelivered with odds 1 : ``delivered_weight``; a delivered one arrives up
    to ``max_lead_days`` after it was placed.
    """
    out = []
    for _ in range(draw(st.integers(min_value=0, max_value=max_size))):
        placed = T0 + dt.timedelta(minutes=draw(st.integers(0, days * 24 * 60)))
        late = st.integers(0, max_lead_days * 24 * 60).map(
            lambda m, p=placed: p + dt.timedelta(minutes=m)
        )
        delivered = draw(st.one_of(st.none(), *[late] * delivered_weight))
        out.append((placed, delivered, draw(st.sampled_from(segments))))
    return out
