"""Resolve references to carekit's objects by what they are, not where they were imported.

A docstring may name an object by any path it is importable from (``carekit.StoreError``,
or ``StoreError`` inside a module that imports it), while the reference documents it once,
where it lives (``carekit.errors.StoreError``); and a docstring re-exported by a package
(``carekit.staffing.simulate``) names its module's constants as its own module sees them
(``MAX_CONTACTS``, documented as ``carekit.staffing.simulation.MAX_CONTACTS``).

When Sphinx finds no target for a Python reference, this extension looks the name up from
the documented module and from the module the docstring was written in: a documented name
found that way is linked, and so is an object documented under another name (a class,
function, module or collection: not a number or a string, which unrelated names may
share). Anything else is left alone, so a reference to something undocumented still fails
a nitpicky build.
"""

from __future__ import annotations

import importlib
from typing import Any

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment


def _import(path: str) -> Any:
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                found = getattr(found, attr)
        except AttributeError:
            return None
        return found
    return None


def _has_identity(obj: Any) -> bool:
    # Objects that are the same one wherever they are imported from: not numbers, strings or
    # None, which may be shared by unrelated names that happen to have the same value.
    return obj is not None and not isinstance(obj, (int, float, complex, str, bytes))


def _candidates(node: pending_xref) -> list[str]:
    target = node["reftarget"].lstrip(".~")
    module, cls = node.get("py:module"), node.get("py:class")
    paths = [target]
    if module:
        paths.insert(0, f"{module}.{target}")
        if cls:
            paths.insert(0, f"{module}.{cls}.{target}")
    # "...:docstring of carekit.staffing.simulation.simulate": the scopes it was written in.
    source = node.source or ""
    if "docstring of " in source:
        written = source.rsplit("docstring of ", 1)[1].split(":", 1)[0].split(".")
        paths[:0] = [".".join([*written[:cut], target]) for cut in range(len(written), 0, -1)]
    return paths


def _documented(env: BuildEnvironment) -> dict[int, str]:
    # id(object) -> the name it is documented under, for classes, functions and modules.
    cache: dict[int, str] | None = getattr(env, "_carekit_documented", None)
    if cache is None:
        cache = {}
        for name in env.get_domain("py").objects:
            obj = _import(name)
            if _has_identity(obj):
                cache.setdefault(id(obj), name)
        env._carekit_documented = cache  # type: ignore[attr-defined]
    return cache


def missing_reference(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.Element
) -> nodes.Element | None:
    if node.get("refdomain") != "py":
        return None
    documented = _documented(env)
    domain = env.get_domain("py")
    candidates = _candidates(node)
    for path in candidates:
        if path in domain.objects and path != node["reftarget"]:
            return domain.resolve_xref(
                env, node["refdoc"], app.builder, node["reftype"], path, node, contnode
            )
    for path in candidates:
        obj = _import(path)
        if obj is None:
            continue
        if not _has_identity(obj):
            return None
        name = documented.get(id(obj))
        if name is None or name == node["reftarget"]:
            return None
        return domain.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], name, node, contnode
        )
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("missing-reference", missing_reference)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
