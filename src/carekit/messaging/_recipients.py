"""How a channel finds whom to reach: a customer lookup (customer_id -> address)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from carekit.errors import CareKitError
from carekit.messaging._templates import Recipient

__all__ = ["Lookup", "as_lookup", "import_object"]

#: A customer lookup: customer id -> an address, a :class:`Recipient`, or ``None`` (unknown).
Lookup = Callable[[str], "str | Recipient | None"]


def import_object(path: str, what: str) -> Any:
    """The object ``"package.module:name"`` names.

    Raises:
        CareKitError: not of that form, the module cannot be imported, or has no such name.
    """
    module, _, name = path.partition(":") if isinstance(path, str) else ("", "", "")
    if not module or not name:
        msg = f"{what} must be 'package.module:function' (got {path!r})"
        raise CareKitError(msg)
    try:
        found = importlib.import_module(module)
    except ImportError as exc:
        hint = ""
        if isinstance(exc, ModuleNotFoundError) and exc.name == module.split(".")[0]:
            # the carekit command does not look in the current folder
            hint = (
                f"; install the package that holds {exc.name!r}, or set PYTHONPATH to the "
                "folder that holds it"
            )
        msg = f"{what} {path!r}: cannot import {module!r} ({exc}){hint}"
        raise CareKitError(msg) from None
    target: Any = found
    for part in name.split("."):
        target = getattr(target, part, None)
        if target is None:
            msg = f"{what} {path!r}: {module!r} has no {name!r}"
            raise CareKitError(msg)
    return target


def as_lookup(value: Any, what: str) -> Callable[[str], Recipient | None]:
    """A customer lookup from a callable, a mapping or a ``"module:function"`` path, as a
    function returning a :class:`Recipient` or ``None``.

    Raises:
        CareKitError: none of those.
    """
    if isinstance(value, str):
        value = import_object(value, what)
    if isinstance(value, Mapping):
        table = value

        def lookup_in(customer_id: str) -> Any:
            return table.get(customer_id)

        source: Callable[[str], Any] = lookup_in
    elif callable(value):
        source = value
    else:
        msg = (
            f"{what} must be a callable taking a customer id, a mapping of customer ids, or "
            f"'package.module:function' (got {value!r})"
        )
        raise CareKitError(msg)

    def lookup(customer_id: str) -> Recipient | None:
        found = source(customer_id)
        if found is None or isinstance(found, Recipient):
            return found
        if isinstance(found, str):
            return Recipient(found) if found.strip() else None
        msg = (
            f"{what} returned {found!r} for customer {customer_id!r}; expected an address "
            "string, a carekit.messaging.Recipient or None"
        )
        raise CareKitError(msg)

    return lookup
