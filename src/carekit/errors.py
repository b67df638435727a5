"""Exceptions raised by carekit.

Every error carekit raises on purpose is a :class:`CareKitError`, which is also a
:class:`ValueError`, so ``except ValueError`` keeps working for callers that do not know
carekit. Messages name the argument, what was expected and what was received; the
structured parts are kept as attributes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (the CLI's start-up)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "CareKitError",
    "ConcurrencyError",
    "DefinitionError",
    "InfeasibleTarget",
    "InvalidTransition",
    "PluginError",
    "StoreError",
    "UnknownJourney",
]


class CareKitError(ValueError):
    """Base class of every error carekit raises on purpose."""


def _as_tuple(value: Any) -> tuple[Any, ...]:
    """``value`` as a tuple: a single string (or any non-iterable) becomes one item.

    The errors' constructors accept what they are given rather than fail while reporting a
    failure.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return (value,)
    return tuple(value)


class DefinitionError(CareKitError):
    """A journey definition is inconsistent.

    ``problems`` lists every problem found, so one error reports them all.
    """

    def __init__(self, name: str, problems: Sequence[str]) -> None:
        self.name = name
        self.problems: tuple[str, ...] = _as_tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        msg = f"journey definition {name!r} has {len(self.problems)} problem(s):\n{lines}"
        super().__init__(msg)


class InvalidTransition(CareKitError):
    """An event is not allowed where the journey is, or arrives out of order."""

    def __init__(
        self,
        message: str,
        *,
        journey_id: str | None = None,
        state: str | None = None,
        event: str | None = None,
        allowed: Sequence[str] = (),
    ) -> None:
        self.journey_id = journey_id
        self.state = state
        self.event = event
        self.allowed: tuple[str, ...] = _as_tuple(allowed)
        super().__init__(message)


class ConcurrencyError(CareKitError):
    """Another writer appended to a journey first (optimistic concurrency)."""

    def __init__(self, journey_id: str, expected_version: int, actual_version: int) -> None:
        self.journey_id = journey_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        msg = (
            f"journey {journey_id!r} is at version {actual_version}, "
            f"not the expected_version {expected_version}; reload it and retry"
        )
        super().__init__(msg)


class InfeasibleTarget(CareKitError):
    """A target that no number of agents (or no padding) can meet."""


class PluginError(CareKitError):
    """A plugin misbehaved: a duplicate name, a hook that raised, a misspelled hook."""

    def __init__(self, message: str, *, plugins: Sequence[str] = (), name: Any = None) -> None:
        self.plugins: tuple[str, ...] = _as_tuple(plugins)
        self.name = name
        super().__init__(message)


class StoreError(CareKitError):
    """A journey store cannot be opened or written (corrupt, foreign, newer or read-only)."""


class UnknownJourney(CareKitError, LookupError):
    """No journey with this id exists in the store."""

    def __init__(self, journey_id: str) -> None:
        self.journey_id = journey_id
        super().__init__(f"no journey with journey_id {journey_id!r} in this store")
