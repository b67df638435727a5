"""The docs' Sphinx extensions: the journey-diagram directive and the reference resolver."""

from __future__ import annotations

import importlib.util
import pathlib
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from tests._extras import need

from carekit.journeys import order_journey

need("sphinx", "docs")

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _extension(name: str) -> Any:
    """The docs' extension ``docs/_ext/<name>.py``, loaded as Sphinx loads it."""
    spec = importlib.util.spec_from_file_location(name, ROOT / f"docs/_ext/{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


journey_diagrams = _extension("journey_diagrams")


def test_a_function_or_a_definition_is_drawn_as_inline_svg() -> None:
    made = journey_diagrams.load_definition("carekit.journeys.order_journey")
    assert made == order_journey()
    assert journey_diagrams.load_definition("carekit.journeys.builtins.order_journey") == made
    html = journey_diagrams.diagram_html(made)
    assert html.startswith('<div class="carekit-journey-diagram"')
    svg = html[html.index("<svg") : html.rindex("</svg>") + len("</svg>")]
    assert ET.fromstring(svg).tag == "{http://www.w3.org/2000/svg}svg"
    assert svg + "\n" == made.to_svg()


@pytest.mark.parametrize(
    ("path", "error", "words"),
    [
        ("order_journey", ValueError, "needs a dotted path"),
        ("carekit.journeys.Phase", ValueError, "is not a JourneyDefinition"),
        ("carekit.journeys.no_such_journey", AttributeError, "no_such_journey"),
        ("carekit.no_such_module.order", ImportError, "no_such_module"),
    ],
)
def test_a_wrong_path_is_refused(path: str, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        journey_diagrams.load_definition(path)


reexported_refs = _extension("reexported_refs")


def test_a_reference_is_looked_up_where_its_docstring_was_written() -> None:
    from sphinx.addnodes import pending_xref

    import carekit
    import carekit.errors

    node = pending_xref("", reftarget="MAX_CONTACTS", refdomain="py", reftype="data")
    node["py:module"] = "carekit.staffing"
    node.source = "simulation.py:docstring of carekit.staffing.simulation.simulate"
    candidates = reexported_refs._candidates(node)
    assert candidates[:2] == [
        "carekit.staffing.simulation.simulate.MAX_CONTACTS",
        "carekit.staffing.simulation.MAX_CONTACTS",
    ]
    assert "carekit.staffing.MAX_CONTACTS" in candidates
    assert reexported_refs._import("carekit.StoreError") is carekit.errors.StoreError
    assert reexported_refs._import("carekit.no_such_name") is None
    assert reexported_refs._import("carekit.staffing.simulation.MAX_CONTACTS") > 0
    # Only objects that are the same wherever they are imported are matched by identity.
    assert reexported_refs._has_identity(carekit.CareKit)
    assert reexported_refs._has_identity(("queued", "sent"))
    assert not any(map(reexported_refs._has_identity, [1000, 1.5, "x", b"x", None]))
