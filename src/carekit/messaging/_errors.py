"""The errors of :mod:`carekit.messaging`, and the lazy import of optional dependencies."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType

from carekit.errors import CareKitError

__all__ = ["ConfigError", "TemplateError", "need"]


class TemplateError(CareKitError):
    """Message templates are missing, do not compile, or reach what they may not.

    ``problems`` lists every problem found, so one error at start-up reports them all.
    """

    def __init__(self, problems: Sequence[str], *, directory: str | None = None) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        self.directory = directory
        where = f" in {directory!r}" if directory else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"message templates{where} have {len(self.problems)} problem(s):\n{lines}")


class ConfigError(CareKitError):
    """The messaging configuration (file or environment) is not valid.

    Messages name the setting and where it came from, and never include a secret.
    """


#: The extra that brings each optional module.
_EXTRAS = {
    "jinja2": "templates",
    "babel": "templates",
    "apprise": "apprise",
    "tomli": "templates",
}


def need(module: str, why: str) -> ModuleType:
    """Import ``module`` or raise one clear :class:`~carekit.CareKitError` naming the extra.

    Args:
        module: the module to import (``"jinja2"``).
        why: what needs it, for the message (``"message templates"``).

    Raises:
        CareKitError: the module is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = _EXTRAS.get(module.split(".", maxsplit=1)[0], "templates")
        msg = (
            f"{why} need the {module.split('.', maxsplit=1)[0]!r} package, which is not installed: "
            f"pip install 'carekit[{extra}]'"
        )
        raise CareKitError(msg) from None
