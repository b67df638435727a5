"""carekit.testing: what plugin authors use to test their plugins."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from typing import Any

import attrs
import pytest

from carekit.channels import Channel, DeliveryResult
from carekit.testing import RecordingChannel, aware, make_carekit


@attrs.frozen
class _Touchpoint:
    name: str


def _deliver(kit: Any, touchpoint: Any, channel: str, key: str) -> DeliveryResult | None:
    result: DeliveryResult | None = kit.hook.carekit_deliver_touchpoint(
        touchpoint=touchpoint, channel=kit.channel(channel), idempotency_key=key
    )
    return result


def test_recording_channel_records_once_per_idempotency_key() -> None:
    recorder = RecordingChannel("pigeon")
    kit = make_carekit(recorder)
    first = _deliver(kit, _Touchpoint("order_thanks"), "pigeon", "o-1/order_thanks/1")
    again = _deliver(kit, _Touchpoint("order_thanks"), "pigeon", "o-1/order_thanks/1")
    assert first is not None and first.delivered
    assert again is not None and again.delivered
    assert recorder.names == ["order_thanks"]
    assert len(recorder.attempts) == 2
    assert recorder.deliveries[0].idempotency_key == "o-1/order_thanks/1"
    assert recorder.deliveries[0].channel == Channel(name="pigeon")


def test_recording_channel_ignores_other_channels() -> None:
    recorder = RecordingChannel("pigeon")
    kit = make_carekit(recorder)
    assert _deliver(kit, _Touchpoint("x"), "email", "k") is None
    assert recorder.attempts == []


def test_recording_channel_can_fail_the_first_attempts() -> None:
    recorder = RecordingChannel("pigeon", fail_times=2)
    kit = make_carekit(recorder)
    for _ in range(2):
        with pytest.raises(ConnectionError, match="simulated failure"):
            _deliver(kit, _Touchpoint("x"), "pigeon", "k")
    assert _deliver(kit, _Touchpoint("x"), "pigeon", "k") is not None
    assert recorder.names == ["x"]
    recorder.clear()
    assert recorder.deliveries == [] and recorder.attempts == []


def test_recording_channel_can_take_over_a_builtin_channel() -> None:
    recorder = RecordingChannel("email", register=False)
    kit = make_carekit(recorder)
    assert _deliver(kit, _Touchpoint("order_thanks"), "email", "k") is not None
    assert recorder.names == ["order_thanks"]


def test_make_carekit_leaves_entry_points_out(monkeypatch: pytest.MonkeyPatch) -> None:
    class Kiosk:
        from carekit import hookimpl

        @hookimpl
        def carekit_register_channels(self) -> list[Channel]:
            return [Channel(name="kiosk")]

    class EP:
        name = "kiosk"
        value = "kiosk:plugin"

        def load(self) -> object:
            return Kiosk()

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda *, group: [EP()])
    assert "kiosk" not in make_carekit().channels
    assert "kiosk" in make_carekit(load_entrypoints=True).channels


def test_aware_builds_utc_datetimes() -> None:
    assert aware(2026, 11, 27, 9) == dt.datetime(2026, 11, 27, 9, tzinfo=dt.timezone.utc)


def test_an_owed_touchpoint_due_beyond_the_datetime_range_is_a_carekit_error() -> None:
    # Found by tests/test_fuzz.py: its due time (an hour after ``at``) overflowed.
    from carekit import CareKitError
    from carekit.testing import owed_touchpoint

    last = dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.timezone.utc)
    with pytest.raises(CareKitError, match="at 9999-12-31T23:59:59.999999"):
        owed_touchpoint("thanks", at=last)
    tp = owed_touchpoint("thanks", at=last - dt.timedelta(hours=1))
    assert tp.due == last


# -- the store contract catches what a store written from its page may miss ------------


def test_the_store_contract_catches_a_store_that_loses_late_breaches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Regression: a store that applied a late event without the breach of the deadline the
    # event cleared (so the breach, its friction and its recovery were lost) passed every
    # test of the suite.
    from carekit.journeys import MemoryJourneyStore
    from carekit.journeys.stores import _shared
    from carekit.testing import JourneyStoreContract

    contract = JourneyStoreContract()
    contract.test_leaving_a_state_after_its_deadline_records_the_breach_first(
        MemoryJourneyStore()
    )
    monkeypatch.setattr(_shared, "_with_missed_breaches", lambda journey, event: None)
    with pytest.raises(AssertionError):
        contract.test_leaving_a_state_after_its_deadline_records_the_breach_first(
            MemoryJourneyStore()
        )


def test_the_store_contract_catches_observers_called_before_the_batch_is_checked() -> None:
    # Regression: a store applying events with journey.apply(event, kit=kit) as it went
    # called observers for a batch it then refused (or twice), and passed every test.
    from carekit.journeys import Event, MemoryJourneyStore
    from carekit.testing import JourneyStoreContract

    class HearsEarly(MemoryJourneyStore):
        def append(self, journey_id: str, events: Any, *, expected_version: int | None = None,
                   kit: Any = None) -> Any:
            if kit is not None:
                journey = self.load(journey_id)
                for event in [events] if isinstance(events, Event) else list(events):
                    journey = journey.apply(event, kit=kit).journey
            return super().append(journey_id, events, expected_version=expected_version,
                                  kit=kit)

    contract = JourneyStoreContract()
    contract.test_observers_hear_each_stored_transition_once(MemoryJourneyStore())
    with pytest.raises(AssertionError):
        contract.test_observers_hear_each_stored_transition_once(HearsEarly())
