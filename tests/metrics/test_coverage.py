"""Touchpoint coverage and promises kept, from plain outcomes and from journey stores."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from carekit import CareKitError
from carekit.journeys import OutboxEntry
from carekit.metrics import PromiseKept, TouchpointCoverage, compare

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR = dt.timedelta(hours=1)


def _entry(status: str, due: dt.datetime, settled: dt.datetime | None = None,
           journey_id: str = "o1", name: str = "order_thanks") -> OutboxEntry:
    return OutboxEntry(idempotency_key=f"{journey_id}:{name}:{status}:{due}",
                       journey_id=journey_id, name=name, channel="email", due=due,
                       status=status, settled_at=settled)  # type: ignore[arg-type]


ENTRIES = [
    _entry("sent", T0 + HOUR, T0 + 0.5 * HOUR),       # delivered in time
    _entry("sent", T0 + HOUR, T0 + 2 * HOUR),         # delivered late
    _entry("dead", T0 + HOUR, T0 + 3 * HOUR),         # given up
    _entry("pending", T0 + HOUR),                     # overdue at T0 + 4 h
    _entry("pending", T0 + 10 * HOUR),                # still in time
    _entry("withdrawn", T0 + HOUR, T0),               # no longer owed
]


def test_touchpoint_coverage_from_outbox_entries() -> None:
    cov = TouchpointCoverage(now=T0 + 4 * HOUR).extend(ENTRIES)
    assert cov.proportion_counts() == (2, 4)
    on_time = TouchpointCoverage(now=T0 + 4 * HOUR, on_time=True).extend(ENTRIES)
    assert on_time.proportion_counts() == (1, 4)
    no_cutoff = TouchpointCoverage().extend(ENTRIES)
    assert no_cutoff.proportion_counts() == (2, 3)  # pending left out without a now


def test_touchpoint_coverage_counts_retried_and_deferred_entries_as_pending() -> None:
    # Every status a journey store's outbox holds is accepted: an entry whose attempt failed
    # (to be retried) or that was deferred is still owed, like a pending one.
    entries = [
        _entry("sent", T0 + HOUR, T0 + 0.5 * HOUR),
        _entry("failed", T0 + HOUR),  # overdue at T0 + 4 h
        _entry("deferred", T0 + HOUR),  # overdue at T0 + 4 h
        _entry("failed", T0 + 10 * HOUR),  # still in time
        _entry("deferred", T0 + 10 * HOUR),  # still in time
    ]
    assert TouchpointCoverage(now=T0 + 4 * HOUR).extend(entries).proportion_counts() == (1, 3)
    assert TouchpointCoverage().extend(entries).proportion_counts() == (1, 1)


def test_touchpoint_coverage_from_a_store_with_failed_and_deferred_touchpoints() -> None:
    from carekit import hookimpl
    from carekit.channels import DeliveryResult
    from carekit.journeys import Event, MemoryJourneyStore, Worker, order_journey
    from carekit.testing import make_carekit

    class Flaky:
        calls = 0

        @hookimpl
        def carekit_deliver_touchpoint(
            self, touchpoint: Any, channel: Any, idempotency_key: str
        ) -> DeliveryResult:
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise ConnectionError("provider down")
            if Flaky.calls == 2:
                return DeliveryResult(delivered=False, retry_at=T0 + 5 * HOUR)
            return DeliveryResult()

    store = MemoryJourneyStore()
    for i in range(3):
        store.create(order_journey(), f"o{i}", at=T0, channel="email")
        store.append(f"o{i}", [Event("place", at=T0), Event("acknowledge", at=T0)])
    Worker(make_carekit(Flaky()), store).run_once(T0 + HOUR)
    counts = store.outbox_counts()
    assert (counts["sent"], counts["failed"], counts["deferred"]) == (1, 1, 1)
    cov = TouchpointCoverage.from_journeys(store, now=T0 + 100 * HOUR)
    assert cov.proportion_counts() == (1, 3)


def test_touchpoint_coverage_plain_counts_and_errors() -> None:
    cov = TouchpointCoverage().extend([True] * 9 + [False])
    assert cov.result().value == 0.9
    assert TouchpointCoverage().add_counts(45, 50).result().value == 0.9
    with pytest.raises(CareKitError, match=r"delivered must be True or False \(got 'ok'\)"):
        TouchpointCoverage().add("ok")
    with pytest.raises(CareKitError, match="now must be a timezone-aware"):
        TouchpointCoverage(now=dt.datetime(2026, 3, 2))
    with pytest.raises(CareKitError, match="different settings"):
        TouchpointCoverage(on_time=True).merge(TouchpointCoverage())

    class Odd:
        status = "lost"
        due = T0

    with pytest.raises(CareKitError, match="status must be"):
        TouchpointCoverage().add(Odd())


class FakeStore:
    """Just enough of a journey store: outbox(), journeys(definition=), events()."""

    def __init__(self, entries: list[OutboxEntry], events: dict[str, list[Any]]) -> None:
        self.entries = entries
        self._events = events

    def outbox(self) -> list[OutboxEntry]:
        return self.entries

    def journeys(self, *, definition: str | None = None) -> list[Any]:
        class Summary:
            def __init__(self, journey_id: str) -> None:
                self.journey_id = journey_id
        return [Summary("o1")] if definition == "order" else []

    def events(self, journey_id: str) -> list[Any]:
        return self._events.get(journey_id, [])


def test_from_journeys_reads_the_store() -> None:
    other = _entry("dead", T0, T0, journey_id="case-9", name="case_received")
    store = FakeStore([*ENTRIES, other], {})
    assert TouchpointCoverage.from_journeys(store, now=T0 + 4 * HOUR).n == 5
    only_orders = TouchpointCoverage.from_journeys(store, now=T0 + 4 * HOUR, definition="order")
    assert only_orders.proportion_counts() == (2, 4)
    with pytest.raises(CareKitError, match="journey store"):
        TouchpointCoverage.from_journeys(object(), now=T0)


def test_promise_kept_from_pairs() -> None:
    promised = dt.date(2026, 3, 20)
    pk = PromiseKept(now=dt.datetime(2026, 3, 25, tzinfo=UTC)).extend([
        (promised, dt.date(2026, 3, 19)),                              # early: kept
        (promised, dt.datetime(2026, 3, 20, 18, tzinfo=UTC)),          # on the day: kept
        (promised, dt.date(2026, 3, 21)),                              # late
        (promised, None),                                              # not delivered, past
        (dt.date(2026, 3, 30), None),                                  # not due yet: left out
        (dt.datetime(2026, 3, 20, 12, tzinfo=UTC), dt.datetime(2026, 3, 20, 13, tzinfo=UTC)),
    ])
    assert pk.proportion_counts() == (2, 5)
    assert PromiseKept().add((promised, None)).n == 0
    assert PromiseKept().extend([True, False, True]).successes == 2

    class Promise:  # the attribute a carekit.promises.Promise has
        promised = dt.date(2026, 3, 20)

    assert PromiseKept().add((Promise(), dt.date(2026, 3, 20))).successes == 1


def test_promise_kept_errors() -> None:
    with pytest.raises(CareKitError, match="promise must be a Promise"):
        PromiseKept().add(("soon", dt.date(2026, 3, 1)))
    with pytest.raises(CareKitError, match="delivered_at must be a date"):
        PromiseKept().add((dt.date(2026, 3, 1), "yesterday"))
    with pytest.raises(CareKitError, match="delivered_at must be a datetime"):
        PromiseKept().add((T0, dt.date(2026, 3, 1)))
    with pytest.raises(CareKitError, match="pair"):
        PromiseKept().add((T0,))
    with pytest.raises(CareKitError, match="events"):
        PromiseKept.from_journeys(object(), {}, now=T0)


def test_promise_kept_from_journeys_uses_the_deliver_event() -> None:
    class Ev:
        def __init__(self, name: str, at: dt.datetime) -> None:
            self.name, self.at = name, at

    store = FakeStore([], {
        "o1": [Ev("place", T0), Ev("deliver", T0 + 24 * HOUR)],
        "o2": [Ev("place", T0), Ev("deliver", T0 + 120 * HOUR)],
        "o3": [Ev("place", T0)],
    })
    promises = {"o1": dt.date(2026, 3, 4), "o2": dt.date(2026, 3, 4), "o3": dt.date(2026, 3, 4)}
    pk = PromiseKept.from_journeys(store, promises, now=T0 + 240 * HOUR)
    assert pk.proportion_counts() == (1, 3)
    assert compare(pk, PromiseKept().extend([True] * 3)).difference == pytest.approx(-2 / 3)
