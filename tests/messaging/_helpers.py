"""Shared by the messaging tests: templates for the order journey, times, a store."""

from __future__ import annotations

import datetime as dt
import pathlib
from typing import Any

from carekit.journeys import Event, order_journey

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
ORDER_TOUCHPOINTS = (
    "order_thanks", "production_update", "shipped_with_tracking", "satisfaction_check",
    "promise_at_risk_notice",
)


def write(folder: pathlib.Path, name: str, text: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def order_templates(folder: pathlib.Path, channel: str, parts: tuple[str, ...]) -> pathlib.Path:
    """Plain templates for every order touchpoint; the shipped one reads the tracking number."""
    for name in ORDER_TOUCHPOINTS:
        for part in parts:
            text = f"{name.replace('_', ' ')} for {{{{ journey_id }}}}"
            if name == "shipped_with_tracking" and part != "subject":
                text += " - tracking {{ data.tracking_number }}"
            write(folder, f"{channel}/{name}.{part}", text + "\n")
    return folder


def shipped_order(store: Any, journey_id: str = "order-1", customer: str = "c-1",
                  channel: str = "email", tracking: str = "1Z999") -> str:
    """An order placed, acknowledged, made and shipped (three touchpoints owed: thanks,
    production update, shipped); returns the shipped touchpoint's key."""
    store.create(order_journey(), journey_id, at=T0, customer_id=customer, channel=channel)
    store.append(journey_id, [
        Event("place", at=T0, id=f"{journey_id}-p"),
        Event("acknowledge", at=T0, id=f"{journey_id}-a"),
        Event("start_production", at=T0, id=f"{journey_id}-sp"),
        Event("near_completion", at=T0, id=f"{journey_id}-nc"),
        Event("ship", at=T0, id=f"{journey_id}-s", data={"tracking_number": tracking}),
    ])
    return f"{journey_id}/shipped_with_tracking/5"


#: The shop's customers, for the lookups the configuration names
#: (``tests.messaging._helpers:contact``, ``tests.messaging._helpers:phone``).
CUSTOMERS = {"c-1": ("Ana Silva", "ana@example.com", "+447700900123")}


def contact(customer_id: str) -> Any:
    from carekit.messaging import Recipient

    found = CUSTOMERS.get(customer_id)
    return None if found is None else Recipient(found[1], name=found[0])


def phone(customer_id: str) -> str | None:
    found = CUSTOMERS.get(customer_id)
    return None if found is None else found[2]
