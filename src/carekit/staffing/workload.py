"""Workloads, service targets and the results of the Erlang calculations."""

from __future__ import annotations

import datetime as dt
import math
import re
from fractions import Fraction
from typing import Any

import attrs

from carekit import _validate
from carekit.errors import CareKitError
from carekit.staffing._exact import exact, seconds

__all__ = [
    "MAX_CONCURRENCY",
    "MAX_TRAFFIC",
    "Performance",
    "Requirement",
    "ServiceTarget",
    "Workload",
    "check_traffic",
]

#: Seconds per unit of the time in ``ServiceTarget.parse`` ("80/20s", "90/1h").
_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}

#: The largest offered load, in Erlangs, a :class:`Workload` may carry: a million billion
#: contacts in progress at once. Beyond about 9e15 a float no longer tells one agent from
#: the next, so neither a headcount nor a service level could be computed.
MAX_TRAFFIC = 1e15

#: The most contacts one agent may handle at once; a million billion, the same bound as
#: :data:`MAX_TRAFFIC` (one such agent has a slot for every contact of the largest load).
#: Far beyond it the headcount arithmetic would meet numbers too large for a float.
MAX_CONCURRENCY = 10**15


def _volume(value: Any) -> float:
    return _validate.non_negative("volume", value)


def _aht(value: Any) -> dt.timedelta:
    return _validate.positive_duration("aht", value)


def _interval(value: Any) -> dt.timedelta:
    return _validate.interval_length("interval", value)


def _patience(value: Any) -> dt.timedelta | None:
    return None if value is None else _validate.positive_duration("patience", value)


def _concurrency(value: Any) -> int:
    return _validate.positive_int("concurrency", value, maximum=MAX_CONCURRENCY)


def _service_level(value: Any) -> float:
    return _validate.probability("service_level", value)


def _answer_within(value: Any) -> dt.timedelta:
    return _validate.duration("answer_within", value)


def _max_occupancy(value: Any) -> float | None:
    return None if value is None else _validate.probability("max_occupancy", value)


def check_traffic(load: float, volume: float, name: str) -> None:
    """Refuse an offered load above :data:`MAX_TRAFFIC`.

    Args:
        load: the offered load in Erlangs, ``volume * aht / interval``.
        volume: the volume it comes from, for the message.
        name: what to call the volume in the message (``"volume"``, ``"forecast[3] volume"``).

    Raises:
        CareKitError: ``load`` is above :data:`MAX_TRAFFIC` (or infinite), naming ``name``,
            the volume and the load.
    """
    if load > MAX_TRAFFIC:
        msg = (
            f"{name} must make an offered load (volume x aht / interval) of at most "
            f"{MAX_TRAFFIC:g} Erlangs (got {name}={volume!r}, a load of {load:.4g} Erlangs)"
        )
        raise CareKitError(msg)


@attrs.frozen
class Workload:
    """Contacts offered in one interval and how long each takes to handle.

    Args:
        volume: contacts offered in the interval (calls, chats, emails, shoppers who need
            help); fractional forecasts are fine. Must be finite and >= 0, and make an
            offered load ``volume * aht / interval`` of at most 1e15 Erlangs.
        aht: average handle time, a ``timedelta`` or seconds (> 0).
        interval: length of the interval the volume arrives in, ``timedelta`` or seconds;
            a bare number below 60 is refused (``interval=30`` is 30 seconds: write
            ``timedelta(minutes=30)`` or ``1800`` for half an hour).
        patience: mean time a waiting customer stays before abandoning; ``None`` (the
            default) means nobody abandons (Erlang C), a duration switches to Erlang A.
        concurrency: contacts one agent works at the same time (chat), default 1; at most
            :data:`MAX_CONCURRENCY` (10**15).

    Raises:
        CareKitError: a negative or NaN volume, a zero or negative duration, a
            concurrency below one or above :data:`MAX_CONCURRENCY`, an offered load
            ``volume * aht / interval`` above :data:`MAX_TRAFFIC` (1e15 Erlangs).

    Examples:
        >>> w = Workload(volume=100, aht=180, interval=1800)
        >>> w.traffic
        10.0
    """

    volume: float = attrs.field(converter=_volume)
    aht: dt.timedelta = attrs.field(converter=_aht)
    interval: dt.timedelta = attrs.field(converter=_interval)
    patience: dt.timedelta | None = attrs.field(default=None, converter=_patience)
    concurrency: int = attrs.field(default=1, converter=_concurrency)
    _traffic: float = attrs.field(init=False, repr=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        load = self.volume * self.aht.total_seconds() / self.interval.total_seconds()
        check_traffic(load, self.volume, "volume")
        object.__setattr__(self, "_traffic", load)

    def _with_volume(self, volume: float) -> Workload:
        """A copy with another (already validated) volume, skipping the other checks."""
        new: Workload = object.__new__(Workload)
        for name in ("aht", "interval", "patience", "concurrency"):
            object.__setattr__(new, name, getattr(self, name))
        object.__setattr__(new, "volume", volume)
        load = volume * self.aht.total_seconds() / self.interval.total_seconds()
        object.__setattr__(new, "_traffic", load)
        return new

    @property
    def traffic(self) -> float:
        """Offered load in Erlangs, ``volume * aht / interval``."""
        return self._traffic

    @property
    def exact_traffic(self) -> Fraction:
        """Offered load as an exact fraction (the volume read as it was written)."""
        return exact(self.volume) * seconds(self.aht) / seconds(self.interval)


@attrs.frozen
class ServiceTarget:
    """A service-level goal: ``service_level`` of contacts answered within ``answer_within``.

    Args:
        service_level: share answered in time, in (0, 1] (0.8 for "80/20").
        answer_within: the threshold, ``timedelta`` or seconds (>= 0). A long threshold
            ("respond within one hour") models email and back-office work.
        max_occupancy: optional cap on the share of time agents are busy, in (0, 1].

    Raises:
        CareKitError: a service level outside (0, 1], a negative threshold, an occupancy
            cap outside (0, 1].

    Examples:
        >>> ServiceTarget(service_level=0.8, answer_within=20).answer_within
        datetime.timedelta(seconds=20)
    """

    service_level: float = attrs.field(converter=_service_level)
    answer_within: dt.timedelta = attrs.field(converter=_answer_within)
    max_occupancy: float | None = attrs.field(default=None, converter=_max_occupancy)

    @classmethod
    def parse(cls, text: str, *, max_occupancy: float | None = None) -> ServiceTarget:
        """Read the planner's shorthand ``"80/20"`` (80 % within 20 seconds).

        The percent may carry its ``%`` and the time a unit: ``"80%/20s"``, ``"90/1min"``,
        ``"90/1h"`` (``s``, ``sec``, ``m``, ``min`` or ``h``; bare: seconds).

        The first number is a percent. One of 1 or less is refused, as a fraction written
        by mistake (``"0.8/20"`` for 80 %): no contact centre targets 1 % or less.

        Raises:
            CareKitError: the text is not ``PERCENT/SECONDS``; the percent is not in
                (1, 100]; the seconds are not a valid ``answer_within``.

        Examples:
            >>> ServiceTarget.parse("90/30").service_level
            0.9
            >>> ServiceTarget.parse("90%/1h").answer_within
            datetime.timedelta(seconds=3600)
        """
        parts = str(text).strip().split("/")
        try:
            if len(parts) != 2:
                raise ValueError(text)
            level = float(parts[0].strip().removesuffix("%"))
            # "20s", "1min", "1h" as written beside the bare seconds
            unit = re.fullmatch(r"(.*?\d)\s*(s|sec|m|min|h)", parts[1].strip())
            within = (float(unit[1]) * _SECONDS[unit[2]] if unit is not None
                      else float(parts[1]))
        except ValueError:
            msg = (
                "service level must look like PERCENT/SECONDS, e.g. '80/20' (or '80%/20s', "
                f"'90/1h') (got {text!r})"
            )
            raise CareKitError(msg) from None
        if not math.isfinite(level) or not 0 < level <= 100:
            msg = f"service level percent must lie in (0, 100] (got {text!r})"
            raise CareKitError(msg)
        if level <= 1:
            hint = (
                f"'{level * 100:g}/{parts[1].strip()}' for {level * 100:g} %"
                if level > 0.01
                else "'80/20' for 80 % within 20 seconds"
            )
            msg = f"service level {text!r} reads as {level:g} %; write the percent, e.g. {hint}"
            raise CareKitError(msg)
        return cls(
            service_level=float(exact(level) / 100),
            answer_within=within,
            max_occupancy=max_occupancy,
        )


@attrs.frozen
class Performance:
    """What a number of agents achieves on a workload.

    Attributes:
        agents: agents on the interval (productive, after shrinkage).
        traffic: offered load in Erlangs.
        wait_probability: share of contacts that have to queue.
        service_level: share answered within ``answer_within`` (of the customers who stay,
            when ``patience`` is set), or None when no threshold was given.
        asa: average speed of answer in seconds (of the customers who stay); ``inf`` when
            the queue grows without bound.
        occupancy: share of agent time spent handling contacts.
        abandon_rate: share of contacts abandoning (0.0 without ``patience``).
    """

    agents: int
    traffic: float
    wait_probability: float
    service_level: float | None
    asa: float
    occupancy: float
    abandon_rate: float


@attrs.frozen
class Requirement:
    """The smallest headcount meeting a target, and what it achieves.

    Attributes:
        agents: productive agents needed in the interval.
        scheduled: agents to schedule, ``ceil(agents / (1 - shrinkage))`` computed exactly.
        performance: the :class:`Performance` of ``agents`` agents.
        start: the interval's start (set by :func:`carekit.staffing.plan`).
        volume: the interval's forecast volume (set by :func:`carekit.staffing.plan`).
    """

    agents: int
    scheduled: int
    performance: Performance
    start: dt.datetime | None = attrs.field(default=None, kw_only=True)
    volume: float | None = attrs.field(default=None, kw_only=True)
