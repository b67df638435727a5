"""How stores write datetimes, event data and journey state as text, and read them back (private).

Datetimes keep their offset and, for :class:`zoneinfo.ZoneInfo` zones, the zone's key
(``2026-11-02T09:00:00+00:00[Europe/London]``, the RFC 9557 suffix), so a journey rebuilt
from the store compares and prints like the one that was stored. Instants that the store
must compare in SQL (when a touchpoint is next tried, when a claim expires) are kept as
integer microseconds since the Unix epoch.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import zoneinfo
from collections.abc import Mapping
from typing import Any

from carekit.errors import CareKitError, StoreError
from carekit.journeys.journey import _new_deadline

__all__ = [
    "decode_body",
    "decode_data",
    "decode_dt",
    "encode_body",
    "encode_data",
    "encode_dt",
    "from_micros",
    "micros",
    "owed_row",
]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MICROSECOND = dt.timedelta(microseconds=1)


def micros(value: dt.datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact, no float rounding)."""
    return (value - _EPOCH) // _MICROSECOND


def encode_dt(value: dt.datetime) -> str:
    """ISO 8601 text with the offset, plus ``[zone]`` for a ZoneInfo time zone."""
    global _last_encoded  # noqa: PLW0603 - a two-entry cache, swapped whole (thread-safe)
    last = _last_encoded
    # The same object (datetimes are immutable) as one of the last two: an event's time is
    # usually its journey's and its touchpoints' owed time, written between their due times.
    if last[0] is value:
        return last[1]
    if last[2] is value:
        return last[3]
    text = value.isoformat()
    if isinstance(value.tzinfo, zoneinfo.ZoneInfo):
        text += f"[{value.tzinfo.key}]"
    _last_encoded = (value, text, last[0], last[1])
    return text


_last_encoded: tuple[object, str, object, str] = (None, "", None, "")


def decode_dt(text: str) -> dt.datetime:
    """Inverse of :func:`encode_dt`."""
    if text.endswith("]"):
        stamp, _, key = text[:-1].partition("[")
        return dt.datetime.fromisoformat(stamp).astimezone(zoneinfo.ZoneInfo(key))
    return dt.datetime.fromisoformat(text)


def _reject_nan(value: str) -> Any:
    msg = f"event data must be JSON without NaN or Infinity (got {value})"
    raise CareKitError(msg)


def encode_data(data: Mapping[str, Any] | None, what: str) -> str | None:
    """JSON text for ``data`` (keys sorted), or ``None``.

    Raises:
        CareKitError: ``data`` holds something JSON cannot represent faithfully.
    """
    if data is None:
        return None
    try:
        return _DATA_ENCODER.encode(dict(data))
    except (TypeError, ValueError) as exc:
        msg = f"{what} must be a JSON-able mapping to be stored (got {data!r}: {exc})"
        raise CareKitError(msg) from exc


def _default(value: object) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (tuple, frozenset, set)):
        return list(value)
    if isinstance(value, float) and not math.isfinite(value):  # pragma: no cover - json does it
        raise ValueError(value)
    msg = f"{value!r} is not JSON-able"
    raise TypeError(msg)


#: What ``json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False,
#: default=_default)`` uses, made once (json.dumps makes one per call with these options).
_DATA_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), allow_nan=False, default=_default
)


def decode_data(text: str | None) -> dict[str, Any] | None:
    """Inverse of :func:`encode_data`.

    Raises:
        StoreError: the text is not a JSON object (a damaged or hand-edited row), or nests
            deeper than Python can read.
    """
    if text is None:
        return None
    try:
        result = json.loads(text, parse_constant=_reject_nan)
    except (ValueError, RecursionError) as exc:
        msg = f"stored data is not valid JSON ({type(exc).__name__}: {str(exc)[:80]})"
        raise StoreError(msg) from None
    if not isinstance(result, dict):
        msg = f"stored data must be a JSON object (got {text[:80]!r})"
        raise StoreError(msg)
    return result


def encode_body(friction: float, deadlines: Any) -> str:
    """A journey's state beyond its columns: friction and running deadlines, as JSON.

    The text is what ``json.dumps({"f": friction, "d": [[breach_event, state, due,
    version], ...]}, separators=(",", ":"))`` writes; the usual values (a finite float, str
    names, int versions) are written directly, anything else through :func:`json.dumps`.
    """
    if type(friction) is float and _FINITE(friction):
        items = []
        for d in deadlines:
            breach, state, version = d.breach_event, d.state, d.version
            if type(breach) is not str or type(state) is not str or type(version) is not int:
                break
            items.append(
                f"[{_STR(breach)},{_STR(state)},{_STR(encode_dt(d.due))},{version!r}]"
            )
        else:
            return f'{{"f":{friction!r},"d":[{",".join(items)}]}}'
    return json.dumps(
        {
            "f": friction,
            "d": [[d.breach_event, d.state, encode_dt(d.due), d.version] for d in deadlines],
        },
        separators=(",", ":"),
    )


_STR = json.encoder.encode_basestring_ascii  # what json.dumps writes a str as (ensure_ascii)
_FINITE = math.isfinite
_DECODER = json.JSONDecoder()


def decode_body(text: str, journey_id: str) -> tuple[float, tuple[Any, ...]]:
    """Inverse of :func:`encode_body`: ``(friction, running deadlines)``."""
    try:  # the text as encode_body writes it: no whitespace around it
        body, end = _DECODER.raw_decode(text)
        if end != len(text):
            raise ValueError(text)  # read again below, as json.loads would
    except ValueError:
        body = json.loads(text)
    friction = float(body["f"])
    deadlines = body["d"]
    if type(deadlines) is list and not deadlines:
        return friction, ()
    return friction, tuple([
        _new_deadline(journey_id, state, breach, decode_dt(due), version)
        for breach, state, due, version in deadlines
    ])


#: The furthest offsets Python allows: an instant of an aware datetime near the end (or the
#: start) of the datetime range may lie past it in UTC, but never in one of these.
_FAR_WEST = dt.timezone(dt.timedelta(microseconds=1) - dt.timedelta(hours=24))
_FAR_EAST = dt.timezone(dt.timedelta(hours=24) - dt.timedelta(microseconds=1))
_UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def from_micros(value: int) -> dt.datetime:
    """The instant ``value`` microseconds after the Unix epoch (in UTC when it fits).

    Raises:
        StoreError: the instant is outside every datetime's range (a hand-edited row).
    """
    try:
        return _UNIX_EPOCH + dt.timedelta(microseconds=value)
    except OverflowError:
        pass
    try:  # e.g. 9999-12-31T20:00-14:00, whose UTC instant is in the year 10000
        far = _FAR_WEST if value > 0 else _FAR_EAST
        return _UNIX_EPOCH.astimezone(far) + dt.timedelta(microseconds=value)
    except OverflowError:
        msg = f"journey store holds an instant outside the datetime range ({value} µs)"
        raise StoreError(msg) from None


def owed_row(journey: Any, tp: Any, seq: int) -> tuple[Any, ...]:
    """An owed touchpoint as an outbox row, in the columns both SQL stores insert.

    ``(idempotency_key, journey_id, seq, name, channel, state, due, data, owed_at,
    not_before, next_attempt_us)``; the channel falls back to the journey's.
    """
    return (
        tp.idempotency_key,
        journey.journey_id,
        seq,
        tp.name,
        tp.channel if tp.channel is not None else journey.channel,
        tp.state,
        encode_dt(tp.due),
        encode_data(tp.data or None, "touchpoint data"),
        encode_dt(tp.owed_at),
        None if tp.not_before is None else encode_dt(tp.not_before),
        micros(tp.sendable_at),
    )
