"""How carekit calls several plugins: promise adjustments and transition observers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from carekit import hookimpl
from carekit.journeys import Event, order_journey
from carekit.testing import make_carekit

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)


@attrs.frozen
class _Promise:
    expected: dt.date
    promised: dt.date


def test_an_earlier_but_not_too_early_adjustment_is_ignored_not_refused() -> None:
    # The docs: a plugin may "never make it earlier than the internal estimate
    # (promise.expected)", and the latest promised date wins, so Dec 3 (after the Dec 1
    # estimate) is allowed and simply loses to the Dec 5 promise.
    base = _Promise(expected=dt.date(2026, 12, 1), promised=dt.date(2026, 12, 5))

    class Hopeful:
        @hookimpl
        def carekit_adjust_promise(self, promise: _Promise) -> _Promise:
            return attrs.evolve(promise, promised=dt.date(2026, 12, 3))

    assert make_carekit(Hopeful()).adjust_promise(base) is base


def test_a_plugin_with_no_opinion_does_not_stop_the_next_from_padding() -> None:
    # None means "no adjustment" from that plugin only; a later-registered plugin's padding must
    # still apply.
    base = _Promise(expected=dt.date(2026, 12, 1), promised=dt.date(2026, 12, 5))

    class Quiet:
        @hookimpl
        def carekit_adjust_promise(self, promise: _Promise) -> None:
            return None

    class Peak:
        @hookimpl
        def carekit_adjust_promise(self, promise: _Promise) -> _Promise:
            return attrs.evolve(promise, promised=dt.date(2026, 12, 9))

    assert make_carekit(Quiet(), Peak()).adjust_promise(base).promised == dt.date(2026, 12, 9)


def test_every_observer_runs_even_after_one_raises() -> None:
    # notify_transition calls "every carekit_on_transition observer" and collects
    # failures, never stopping.
    seen: list[str] = []

    class Broken:
        @hookimpl
        def carekit_on_transition(self, journey: Any, transition: Any) -> None:
            raise RuntimeError("crm down")

    class Audit:
        @hookimpl
        def carekit_on_transition(self, journey: Any, transition: Any) -> None:
            seen.append(journey.state)

    kit = make_carekit()
    kit.register(Broken(), name="broken")
    kit.register(Audit(), name="audit")
    step = order_journey().start("o", at=T0).apply(Event("place", at=T0), kit=kit)
    assert seen == ["placed"]
    assert [(f.plugin, str(f.error)) for f in step.errors] == [("broken", "crm down")]
