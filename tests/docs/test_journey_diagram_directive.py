"""The docs' journey-diagram directive draws the named definition, or says what was wrong."""

from __future__ import annotations

import importlib.util
import pathlib
import xml.etree.ElementTree as ET

import pytest

pytest.importorskip("sphinx", reason="the docs extra (sphinx) is not installed")

from carekit.journeys import order_journey

ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "journey_diagrams", ROOT / "docs/_ext/journey_diagrams.py"
)
assert _spec is not None and _spec.loader is not None
journey_diagrams = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(journey_diagrams)


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
