"""An SMS gateway channel for carekit, published under the ``carekit`` entry-point group.

The module itself is the plugin: carekit registers it and calls the two hook
implementations below with keyword arguments.
"""

from __future__ import annotations

import json
import os
from typing import Any

from carekit import hookimpl
from carekit.channels import Channel, DeliveryResult

__all__ = ["CHANNEL", "SENT", "carekit_deliver_touchpoint", "carekit_register_channels", "render"]

#: The channel this plugin adds.
CHANNEL = Channel(
    name="sms_gateway",
    description="Text messages through an SMS gateway",
    live=False,
)

#: Messages sent by this process, by idempotency key (the in-memory "provider").
SENT: dict[str, str] = {}


@hookimpl
def carekit_register_channels() -> list[Channel]:
    """Tell carekit about the ``sms_gateway`` channel."""
    return [CHANNEL]


def render(touchpoint: Any) -> str:
    """The text message for a touchpoint: its name, plus a tracking number when it has one."""
    data = getattr(touchpoint, "data", None) or {}
    text = str(touchpoint.name).replace("_", " ").capitalize()
    tracking = data.get("tracking_number")
    if tracking:
        text += f" (tracking number {tracking})"
    return text


@hookimpl
def carekit_deliver_touchpoint(
    touchpoint: Any, channel: Channel, idempotency_key: str
) -> DeliveryResult | None:
    """Send ``touchpoint`` if it travels on ``sms_gateway``; ``None`` for other channels."""
    if channel.name != CHANNEL.name:
        return None
    if idempotency_key in SENT:
        # Already sent under this key: acknowledge without sending twice.
        return DeliveryResult(delivered=True, reference=f"sms-{idempotency_key}")
    text = render(touchpoint)
    # A real gateway looks the customer's phone number up by their id (the journey's).
    to = getattr(touchpoint, "customer_id", None)
    outbox = os.environ.get("CAREKIT_SMS_OUTBOX")
    if outbox:
        with open(outbox, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"key": idempotency_key, "to": to, "text": text}) + "\n")
    SENT[idempotency_key] = text
    return DeliveryResult(delivered=True, reference=f"sms-{idempotency_key}")
