"""Channel and DeliveryResult value objects."""

from __future__ import annotations

import datetime as dt
import pickle

import attrs
import pytest

from carekit import CareKitError
from carekit.channels import BUILTIN_CHANNELS, Channel, DeliveryResult


def test_every_field_but_name_has_a_default() -> None:
    channel = Channel(name="kiosk")
    assert channel == Channel(
        name="kiosk", description="", live=False, concurrency=1, response_target=None
    )


def test_builtins_are_the_six_named_in_the_design() -> None:
    names = [c.name for c in BUILTIN_CHANNELS]
    assert names == ["email", "phone", "sms", "chat", "web", "in_store"]
    by_name = {c.name: c for c in BUILTIN_CHANNELS}
    assert by_name["email"].response_target == dt.timedelta(hours=1)
    assert by_name["in_store"].response_target == dt.timedelta(seconds=60)


@pytest.mark.parametrize("bad", ["", "SMS", "sms gateway", "9lives", "émail", None, 3])
def test_bad_names_are_rejected_with_the_value(bad: object) -> None:
    with pytest.raises(CareKitError, match="Channel name must be a lowercase identifier") as info:
        Channel(name=bad)  # type: ignore[arg-type]
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_concurrency_must_be_a_positive_integer(bad: object) -> None:
    with pytest.raises(CareKitError, match="concurrency must be an integer >= 1"):
        Channel(name="chat2", concurrency=bad)  # type: ignore[arg-type]


def test_response_target_must_be_positive() -> None:
    with pytest.raises(CareKitError, match="response_target must be a positive duration"):
        Channel(name="x", response_target=dt.timedelta(0))
    with pytest.raises(CareKitError, match="response_target must be a positive duration"):
        Channel(name="x", response_target=dt.timedelta(seconds=-1))


def test_channels_are_frozen_hashable_and_pickle() -> None:
    channel = Channel(name="whatsapp", live=True)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        channel.live = False  # type: ignore[misc]
    assert {channel: 1}[Channel(name="whatsapp", live=True)] == 1
    assert pickle.loads(pickle.dumps(channel)) == channel
    with pytest.raises(CareKitError):
        attrs.evolve(channel, concurrency=0)


def test_delivery_result_defaults() -> None:
    assert DeliveryResult() == DeliveryResult(delivered=True, reference=None)
    assert DeliveryResult(reference="SM123").reference == "SM123"


def test_name_may_be_positional_the_rest_are_keywords() -> None:
    assert Channel("kiosk") == Channel(name="kiosk")
    assert DeliveryResult(False, "ref-1") == DeliveryResult(delivered=False, reference="ref-1")
    with pytest.raises(TypeError):
        Channel("kiosk", "a description")  # type: ignore[misc]


def test_response_target_in_seconds_becomes_a_timedelta_and_live_must_be_a_bool() -> None:
    assert Channel("kiosk", response_target=90).response_target == dt.timedelta(seconds=90)
    with pytest.raises(CareKitError, match="live must be True or False .*'yes'"):
        Channel("kiosk", live="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("now", "end"),
    [(dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone.utc), "end"),
     (dt.datetime(1, 1, 1, 0, 30, tzinfo=dt.timezone.utc), "start")],
)
def test_a_quiet_window_ending_beyond_the_datetime_range_is_a_carekit_error(
    now: dt.datetime, end: str
) -> None:
    # Found by tests/test_fuzz.py: an OverflowError escaped from quiet_until.
    sms = Channel("sms", quiet_hours=(dt.time(21), dt.time(8)))
    zone = "Pacific/Kiritimati" if end == "end" else "America/New_York"
    with pytest.raises(CareKitError, match=f"too close to the {end} of the datetime range"):
        sms.quiet_until(now, tz=zone)
    # an ordinary night is still told its end
    night = dt.datetime(2026, 3, 2, 22, tzinfo=dt.timezone.utc)
    assert sms.quiet_until(night, tz="UTC") == dt.datetime(2026, 3, 3, 8, tzinfo=dt.timezone.utc)


def test_quiet_hours_take_times_or_hh_mm_texts_and_refuse_anything_else() -> None:
    # A config file and the docs write quiet hours as "21:00"; the class took only times.
    night = (dt.time(21), dt.time(8))
    assert Channel("sms", quiet_hours=("21:00", "08:00")).quiet_hours == night
    assert Channel("sms", quiet_hours=[" 21:00 ", dt.time(8)]).quiet_hours == night
    assert Channel("sms", quiet_hours=("21:30:15", "07:05")).quiet_hours == (
        dt.time(21, 30, 15), dt.time(7, 5))
    assert Channel("sms", quiet_hours=night) == Channel("sms", quiet_hours=("21:00", "08:00"))
    for bad in (("21:00", "21:00"), ("9pm", "08:00"), ("21:00",), "21:00-08:00",
                ("21:00+01:00", "08:00"), (dt.time(21, tzinfo=dt.timezone.utc), dt.time(8)),
                (21, 8)):
        with pytest.raises(CareKitError, match=r"quiet_hours must be \(start, end\)"):
            Channel("sms", quiet_hours=bad)  # type: ignore[arg-type]
