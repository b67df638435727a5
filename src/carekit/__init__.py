"""carekit: customer-care primitives for retail applications.

The top level holds what every user needs: the :class:`CareKit` plugin host, the
:data:`hookimpl` marker for plugin authors and the errors. Capabilities live in
subpackages: :mod:`carekit.journeys`, :mod:`carekit.promises`, :mod:`carekit.staffing`,
:mod:`carekit.metrics`, with :mod:`carekit.calendar` shared by all of them.

The names are imported when first used, so ``import carekit`` (and the ``carekit`` command's
``--version`` and ``--help``) does not pay for pluggy and the plugin machinery up front.
"""

from __future__ import annotations

import importlib

from carekit.errors import (
    CareKitError,
    ConcurrencyError,
    DefinitionError,
    InfeasibleTarget,
    InvalidTransition,
    PluginError,
    StoreError,
    UnknownJourney,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (the CLI's start-up)
if TYPE_CHECKING:
    from typing import Any

    from carekit.hookspecs import hookimpl
    from carekit.plugins import CareKit
del TYPE_CHECKING

__version__ = "0.1.0"

__all__ = [
    "CareKit",
    "CareKitError",
    "ConcurrencyError",
    "DefinitionError",
    "InfeasibleTarget",
    "InvalidTransition",
    "PluginError",
    "StoreError",
    "UnknownJourney",
    "__version__",
    "hookimpl",
]

#: name -> the module that defines it, imported on first use
_LAZY = {"CareKit": "carekit.plugins", "hookimpl": "carekit.hookspecs"}


def __getattr__(name: str) -> Any:
    """Import :class:`CareKit` and :data:`hookimpl` when first asked for (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'carekit' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
