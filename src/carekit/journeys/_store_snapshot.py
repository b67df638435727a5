"""Journey snapshots for the SQLite store: a journey's full state as JSON (private).

Loading a journey from a snapshot plus the events after it costs time in the events after
it, not in the whole log. A snapshot is an optimisation, never the truth: its ``format``
names every field it captured, and a snapshot whose format differs from what this carekit's
:class:`~carekit.journeys.Journey` holds is ignored (the journey is replayed in full), so a
journey engine that grows a field can never be half-restored.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs

from carekit.journeys._store_codec import decode_dt, encode_dt

if TYPE_CHECKING:
    from carekit.journeys import Journey, JourneyDefinition

__all__ = ["FORMAT", "decode", "encode"]

_JOURNEY = (
    "journey_id", "definition", "state", "version", "started_at", "updated_at", "customer_id",
    "channel", "friction", "owed", "deadlines", "dead", "seen_event_ids",
)
_OWED = (
    "journey_id", "name", "state", "channel", "due", "version", "owed_at", "data", "customer_id"
)
_DEADLINE = ("journey_id", "state", "breach_event", "due", "version")
_DEAD = ("touchpoint", "at", "reason")


def _fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in attrs.fields(cls))


def _format() -> str | None:
    from carekit.journeys.journey import ActiveDeadline, DeadLetter, Journey, OwedTouchpoint

    actual = (
        _fields(Journey), _fields(OwedTouchpoint), _fields(ActiveDeadline), _fields(DeadLetter)
    )
    expected = (_JOURNEY, _OWED, _DEADLINE, _DEAD)
    if tuple(map(sorted, actual)) != tuple(map(sorted, expected)):
        return None  # the engine changed shape: snapshots stay off until this module learns it
    # 2: seen_event_ids in the order applied (1 sorted them, so a restored journey could
    # compare unequal to a replayed one); format-1 snapshots are ignored and replayed.
    return "2;" + ";".join(",".join(names) for names in expected)


#: The snapshot format this carekit writes and reads; ``None`` disables snapshots.
FORMAT = _format()


def _owed(tp: Any) -> dict[str, Any]:
    return {
        "journey_id": tp.journey_id,
        "name": tp.name,
        "state": tp.state,
        "channel": tp.channel,
        "due": encode_dt(tp.due),
        "version": tp.version,
        "owed_at": encode_dt(tp.owed_at),
        "data": dict(tp.data),
        "customer_id": tp.customer_id,
    }


def encode(journey: Journey) -> str:
    """The journey's state as JSON text (the definition is kept by name elsewhere)."""
    body = {
        "state": journey.state,
        "version": journey.version,
        "updated_at": encode_dt(journey.updated_at),
        "friction": journey.friction,
        "owed": [_owed(tp) for tp in journey.owed],
        "deadlines": [
            {
                "journey_id": d.journey_id,
                "state": d.state,
                "breach_event": d.breach_event,
                "due": encode_dt(d.due),
                "version": d.version,
            }
            for d in journey.deadlines
        ],
        "dead": [
            {"touchpoint": _owed(d.touchpoint), "at": encode_dt(d.at), "reason": d.reason}
            for d in journey.dead
        ],
        "seen_event_ids": list(journey.seen_event_ids),  # in the order applied
    }
    return json.dumps(body, separators=(",", ":"))


def _decode_owed(item: dict[str, Any]) -> Any:
    from carekit.journeys.events import EMPTY, EventData
    from carekit.journeys.journey import OwedTouchpoint

    return OwedTouchpoint(
        journey_id=item["journey_id"],
        name=item["name"],
        state=item["state"],
        channel=item["channel"],
        due=decode_dt(item["due"]),
        version=item["version"],
        owed_at=decode_dt(item["owed_at"]),
        data=EventData(item["data"]) if item["data"] else EMPTY,
        customer_id=item.get("customer_id"),
    )


def decode(
    text: str,
    definition: JourneyDefinition,
    journey_id: str,
    *,
    started_at: Any,
    customer_id: str | None,
    channel: str | None,
) -> Journey:
    """Rebuild the journey a snapshot holds."""
    from carekit.journeys._seen import compact_seen
    from carekit.journeys.journey import ActiveDeadline, DeadLetter

    body = json.loads(text)
    start = definition.start(journey_id, at=started_at, customer_id=customer_id, channel=channel)
    return attrs.evolve(
        start,
        state=body["state"],
        version=body["version"],
        updated_at=decode_dt(body["updated_at"]),
        friction=body["friction"],
        owed=tuple(_decode_owed(item) for item in body["owed"]),
        deadlines=tuple(
            ActiveDeadline(
                journey_id=d["journey_id"],
                state=d["state"],
                breach_event=d["breach_event"],
                due=decode_dt(d["due"]),
                version=d["version"],
            )
            for d in body["deadlines"]
        ),
        dead=tuple(
            DeadLetter(
                touchpoint=_decode_owed(d["touchpoint"]), at=decode_dt(d["at"]), reason=d["reason"]
            )
            for d in body["dead"]
        ),
        seen_event_ids=compact_seen(body["seen_event_ids"]),
    )
