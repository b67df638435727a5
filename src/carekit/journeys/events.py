"""Events: what happened to a journey, and when.

Examples:
    >>> import datetime as dt
    >>> from carekit.journeys import Event
    >>> at = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
    >>> Event("ship", at=at, id="evt-7", data={"tracking_number": "1Z999"}).data["tracking_number"]
    '1Z999'
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any, NoReturn

import attrs

from carekit import _validate
from carekit.errors import CareKitError

__all__ = ["Event", "EventData"]


class EventData(dict[str, Any]):
    """A read-only ``dict`` of JSON-able values (``json.dumps`` takes it as it is)."""

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().__init__(*args, **kwargs)
        except (TypeError, ValueError) as exc:  # what dict says of EventData(9)
            msg = f"EventData takes a mapping or key-value pairs, as dict does ({exc})"
            raise CareKitError(msg) from None

    def _readonly(self, *args: Any, **kwargs: Any) -> NoReturn:
        msg = "event data is read-only; build a new Event with the data you need"
        raise CareKitError(msg)

    __setitem__ = _readonly
    __delitem__ = _readonly
    clear = _readonly
    pop = _readonly
    popitem = _readonly
    setdefault = _readonly
    update = _readonly
    __ior__ = _readonly

    def __reduce__(self) -> tuple[Any, ...]:
        return (EventData, (dict(self),))

    def __repr__(self) -> str:
        return repr(dict(self))


#: Shared by every event without data.
EMPTY = EventData()

_JSON_SCALARS = (str, int, float, bool, type(None))

#: How deeply lists and mappings may nest in event data, the data mapping itself counting
#: as the first level (``{"items": [[1]]}`` nests three deep).
MAX_DEPTH = 100
#: How many values (items of lists and mappings, counted at every level) event data may
#: hold: a list that refers to one list twice, that to one list twice… would otherwise take
#: forever to check and to write as JSON.
MAX_VALUES = 1_000_000
#: How many characters of text (strings and keys, at every level) event data may hold:
#: an event is a fact about a journey, not a document store; larger payloads belong
#: elsewhere, referred to from the event. Every store then agrees on what it accepts.
MAX_TEXT = 1_000_000
#: The most decimal digits an int in event data may have; Python refuses to write longer
#: ones as text (``sys.get_int_max_str_digits()``, 4300 by default), so JSON cannot hold them.
MAX_INT_DIGITS = 4300
_INT_LIMIT = 10**MAX_INT_DIGITS
#: Ints of at most this many bits are below ``_INT_LIMIT`` (2 ** 14283 < 10 ** 4300).
_SAFE_INT_BITS = 14283


def _too_deep() -> CareKitError:
    msg = (
        "Event data is nested too deeply or refers to itself "
        f"(lists and mappings may nest at most {MAX_DEPTH} levels deep)"
    )
    return CareKitError(msg)


def _too_big() -> CareKitError:
    msg = (
        f"Event data holds too many values (at most {MAX_VALUES:,} items of lists and "
        "mappings in all, counting a list as often as it appears)"
    )
    return CareKitError(msg)


def _too_long() -> CareKitError:
    msg = (
        f"Event data holds too much text (at most {MAX_TEXT:,} characters in its strings and "
        "keys); keep large documents elsewhere and put a reference to them in the event"
    )
    return CareKitError(msg)


def _check_json(path: str, value: Any, depth: int, budget: list[int]) -> None:
    """Check that ``value`` is JSON-able; ``budget`` counts down the values and text left."""
    if isinstance(value, str):
        budget[1] -= len(value)
        if budget[1] < 0:
            raise _too_long()
        return
    if isinstance(value, _JSON_SCALARS):
        if isinstance(value, float) and not math.isfinite(value):
            msg = f"Event {path} must be JSON-able; {value!r} is not a finite number"
            raise CareKitError(msg)
        if (
            isinstance(value, int)
            and value.bit_length() > _SAFE_INT_BITS
            and not -_INT_LIMIT < value < _INT_LIMIT
        ):
            digits = int(value.bit_length() * 0.30103)  # log10(2): about right
            msg = (
                f"Event {path} must be JSON-able; integers may have at most "
                f"{MAX_INT_DIGITS} digits (got one of about {digits} digits)"
            )
            raise CareKitError(msg)
        return
    if depth >= MAX_DEPTH and isinstance(value, (list, tuple, Mapping)):
        raise _too_deep()
    if isinstance(value, (list, tuple)):
        budget[0] -= len(value)
        if budget[0] < 0:
            raise _too_big()
        for i, item in enumerate(value):
            _check_json(f"{path}[{i}]", item, depth + 1, budget)
        return
    if isinstance(value, Mapping):
        budget[0] -= len(value)
        if budget[0] < 0:
            raise _too_big()
        for key, item in value.items():
            if not isinstance(key, str):
                msg = f"Event {path} keys must be strings (got {key!r})"
                raise CareKitError(msg)
            budget[1] -= len(key)
            if budget[1] < 0:
                raise _too_long()
            _check_json(f"{path}[{key!r}]", item, depth + 1, budget)
        return
    msg = (
        f"Event {path} must be JSON-able (str, int, float, bool, None, lists and mappings; "
        f"got {value!r})"
    )
    raise CareKitError(msg)


def _to_data(value: Mapping[str, Any] | None) -> EventData:
    if value is None:
        return EMPTY
    if isinstance(value, EventData):
        return value
    if not isinstance(value, Mapping):
        msg = f"Event data must be a mapping of JSON-able values or None (got {value!r})"
        raise CareKitError(msg)
    try:
        _check_json("data", value, 0, [MAX_VALUES, MAX_TEXT])
    except RecursionError:  # pragma: no cover - MAX_DEPTH keeps well inside the limit
        raise _too_deep() from None
    if not value:
        return EMPTY
    data = EventData(value)
    check_feelings("Event data", data)
    return data


def check_feelings(name: str, data: Mapping[str, Any]) -> None:
    """Refuse a ``data["sentiment"]`` outside [-1, 1] or a ``data["moment"]`` not a name."""
    sentiment = data.get("sentiment")
    if sentiment is not None:
        f = _validate.finite(f"{name}['sentiment']", sentiment)
        if not -1.0 <= f <= 1.0:
            msg = f"{name}['sentiment'] must lie in [-1, 1] (got {sentiment!r})"
            raise CareKitError(msg)
    moment = data.get("moment")
    if moment is not None and (not isinstance(moment, str) or not moment):
        msg = (
            f"{name}['moment'] must name a bad moment such as 'late_delivery' "
            f"(got {moment!r})"
        )
        raise CareKitError(msg)


def _check_event_name(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value:
        msg = f"Event name must be a non-empty string such as 'ship' (got {value!r})"
        raise CareKitError(msg)


def _check_at(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _validate.aware("Event at", value)


def _check_optional_id(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        msg = f"Event {attribute.name} must be a non-empty string or None (got {value!r})"
        raise CareKitError(msg)


_set = object.__setattr__  # how a frozen attrs class sets its own fields


@attrs.frozen(init=False)
class Event:
    """Something that happened to a journey.

    Args:
        name: the event name (``"place"``, ``"ship"``).
        at: when it happened (timezone-aware).
        id: a unique id; a journey ignores an event whose id it has already applied.
        journey_id: the journey it belongs to (needed by :func:`replay`).
        data: JSON-able details (``{"tracking_number": "1Z999"}``): strings, finite
            numbers (ints of at most :data:`MAX_INT_DIGITS` digits), booleans, ``None``,
            lists and mappings with string keys, nested at most :data:`MAX_DEPTH` levels
            deep (the data mapping being the first), holding at most :data:`MAX_VALUES`
            values and :data:`MAX_TEXT` characters of text (strings and keys) in all. Two
            keys feed the friction score: ``"sentiment"`` (a number in [-1, 1]) and
            ``"moment"`` (a named bad moment such as ``"late_delivery"``).

    Raises:
        CareKitError: an empty name, a naive ``at``, data that is not JSON-able (nested
            too deeply or referring to itself, too many values, an int too long to write
            as text), a sentiment outside [-1, 1].
    """

    name: str = attrs.field(validator=_check_event_name)
    at: dt.datetime = attrs.field(validator=_check_at)
    id: str | None = attrs.field(default=None, validator=_check_optional_id)
    journey_id: str | None = attrs.field(default=None, validator=_check_optional_id)
    data: EventData = attrs.field(default=EMPTY, converter=_to_data, hash=False)

    def __init__(
        self,
        name: str,
        *,
        at: dt.datetime,
        id: str | None = None,
        journey_id: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        # The usual event (a name, an aware datetime, str ids or none, no data) is set
        # directly; any other goes through the validators, which raise what is wrong.
        if (
            data is None
            and type(name) is str
            and name
            and type(at) is dt.datetime
            and at.tzinfo is not None
            and at.utcoffset() is not None
            and (id is None or (type(id) is str and id))
            and (journey_id is None or (type(journey_id) is str and journey_id))
        ):
            _set(self, "name", name)
            _set(self, "at", at)
            _set(self, "id", id)
            _set(self, "journey_id", journey_id)
            _set(self, "data", EMPTY)
            return
        self.__attrs_init__(
            name=name, at=at, id=id, journey_id=journey_id, data=data
        )
