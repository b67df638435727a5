"""Delivery receipts become journey events: a bounced "shipped" email owes a text instead."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
import pytest
from tests.messaging._helpers import T0, shipped_order

from carekit import CareKitError, UnknownJourney
from carekit.journeys import (
    Event,
    MemoryJourneyStore,
    Touchpoint,
    Transition,
    Worker,
    order_journey,
)
from carekit.messaging import Receipt, message_id, record_receipt
from carekit.testing import RecordingChannel, make_carekit

LATER = T0 + dt.timedelta(hours=1)


def with_fallback() -> Any:
    """The order journey, plus: a bounced shipped email owes the same news by text."""
    order = order_journey()
    return attrs.evolve(
        order,
        transitions=[*order.transitions, Transition(
            "bounced", "shipped", "shipped", requires=("tracking_number",),
            guard=lambda data: data["receipt"]["touchpoint"] == "shipped_with_tracking",
        )],
        touchpoints=[*order.touchpoints, Touchpoint(
            "shipped_by_sms", on_event="bounced", channel="sms", within=dt.timedelta(hours=1),
        )],
    )


def test_a_bounce_owes_the_fallback_touchpoint_with_the_original_data() -> None:
    store = MemoryJourneyStore(definitions=[with_fallback()])
    email, sms = RecordingChannel("email", register=False), RecordingChannel("sms", register=False)
    kit = make_carekit(email, sms)
    store.create(with_fallback(), "order-1", at=T0, customer_id="c-1", channel="email")
    store.append("order-1", [
        Event(name, at=T0, id=name, data={"tracking_number": "1Z9"} if name == "ship" else None)
        for name in ("place", "acknowledge", "start_production", "near_completion", "ship")
    ])
    assert Worker(kit, store).run_once(T0).sent == 3
    bounce = Receipt.from_message_id(
        "bounced", message_id("order-1/shipped_with_tracking/5", "shop.example"), at=LATER,
        detail="550 5.1.1 mailbox unknown")
    assert record_receipt(store, bounce, kit=kit) is True
    assert record_receipt(store, bounce, kit=kit) is True  # reported twice: one event
    events = store.events("order-1")
    assert [e.name for e in events].count("bounced") == 1
    assert events[-1].id == "order-1/shipped_with_tracking/5#bounced"
    assert events[-1].data["receipt"]["detail"] == "550 5.1.1 mailbox unknown"
    assert Worker(kit, store).run_once(LATER).sent == 1
    assert sms.names == ["shipped_by_sms"]
    assert sms.deliveries[0].touchpoint.data["tracking_number"] == "1Z9"


def test_a_receipt_the_journey_does_not_take_is_ignored() -> None:
    store = MemoryJourneyStore()
    shipped_order(store)
    thanks = Receipt("delivered", "order-1/order_thanks/2", at=LATER)
    assert record_receipt(store, thanks) is False  # the order journey has no such event
    assert len(store.events("order-1")) == 5
    with pytest.raises(UnknownJourney):
        record_receipt(store, Receipt("read", "order-9/order_thanks/2", at=LATER))
    with pytest.raises(CareKitError, match=r"receipt must be a carekit.messaging.Receipt"):
        record_receipt(store, "bounced")  # type: ignore[arg-type]


def test_receipts_name_their_touchpoint_and_event() -> None:
    r = Receipt("read", "shop/eu/order-1/order_thanks/12", at=LATER, reference="r-1")
    assert (r.journey_id, r.touchpoint, r.version) == ("shop/eu/order-1", "order_thanks", 12)
    event = r.to_event(name="message_read", data={"note": "x"})
    assert (event.name, event.journey_id, event.at) == ("message_read", "shop/eu/order-1", LATER)
    assert event.data["note"] == "x" and event.data["receipt"]["reference"] == "r-1"


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("Bounced", "o/t/1"), {"at": LATER}, r"status must be a lowercase identifier"),
        (("bounced", "o/t"), {"at": LATER}, r"must be a touchpoint's key"),
        (("bounced", "o/t/x"), {"at": LATER}, r"must be a touchpoint's key"),
        (("bounced", "o/t/1"), {"at": dt.datetime(2026, 3, 5)}, r"at must be"),
        (("bounced", "o/t/1"), {"at": LATER, "detail": 5}, r"detail must be a string"),
    ],
)
def test_bad_receipts_are_clear_errors(args: Any, kwargs: Any, match: str) -> None:
    with pytest.raises(CareKitError, match=match):
        Receipt(*args, **kwargs)


def test_a_message_id_carekit_did_not_make_names_no_touchpoint() -> None:
    with pytest.raises(CareKitError, match=r"was not made by carekit's email channel"):
        Receipt.from_message_id("bounced", "<abc@mail.example>", at=LATER)
