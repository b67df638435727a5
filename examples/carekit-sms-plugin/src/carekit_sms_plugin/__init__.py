"""An SMS gateway channel for carekit, published under the ``carekit`` entry-point group.

The module itself is the plugin: carekit registers it and calls the two hook
implementations below with keyword arguments.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from carekit import hookimpl
from carekit.channels import Channel, DeliveryResult, SentKeys

__all__ = [
    "CHANNEL",
    "GATEWAY",
    "carekit_deliver_touchpoint",
    "carekit_register_channels",
    "render",
    "send",
]

#: The channel this plugin adds.
CHANNEL = Channel(
    name="sms_gateway",
    description="Text messages through an SMS gateway",
    live=False,
)

#: What this process handed to the stand-in gateway (a real plugin calls its provider).
GATEWAY: list[dict[str, Any]] = []


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


def send(to: str | None, text: str) -> str:
    """Hand one text to the gateway and return its message id.

    The stand-in gateway appends a JSON line to the file ``CAREKIT_SMS_OUTBOX`` names (and
    keeps it in :data:`GATEWAY`); a real plugin calls its provider's API here.
    """
    message = {"id": f"sms-{uuid.uuid4().hex[:12]}", "to": to, "text": text}
    outbox = os.environ.get("CAREKIT_SMS_OUTBOX")
    if outbox:
        with open(outbox, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(message) + "\n")
    GATEWAY.append(message)
    return message["id"]


@hookimpl
def carekit_deliver_touchpoint(
    touchpoint: Any, channel: Channel, idempotency_key: str, sent_keys: SentKeys | None
) -> DeliveryResult | None:
    """Send ``touchpoint`` if it travels on ``sms_gateway``; ``None`` for other channels.

    The gateway does not deduplicate, so the key of every text handed over is noted in the
    worker's journey store (``sent_keys``): a retry, in this process or another one after a
    crash, finds the note and answers "already sent" instead of texting the customer again.
    The note follows the send (at least once): only a crash between the gateway's answer and
    the note can text twice. Without a worker (a direct hook call) ``sent_keys`` is ``None``
    and nothing is noted.
    """
    if channel.name != CHANNEL.name:
        return None
    if sent_keys is not None:
        note = sent_keys.seen(idempotency_key)
        if note is not None:
            return DeliveryResult(delivered=True, reference=note.reference)
    # A real gateway looks the customer's phone number up by their id (the journey's).
    reference = send(getattr(touchpoint, "customer_id", None), render(touchpoint))
    if sent_keys is not None:
        sent_keys.remember(idempotency_key, reference=reference)
    return DeliveryResult(delivered=True, reference=reference)
