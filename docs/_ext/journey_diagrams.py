"""A Sphinx directive that draws a journey definition into the page, offline.

In a MyST page::

    ```{journey-diagram} carekit.journeys.order_journey
    ```

The argument is the dotted path of a journey definition, or of a function that takes no
arguments and returns one. The picture is :func:`carekit.journeys.diagrams.to_svg`'s SVG,
inlined into the HTML at build time: always the current definition, with no JavaScript, no
CDN and no file to keep in sync. Other builders get the Mermaid source as a literal block.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from carekit.journeys.definition import JourneyDefinition
from carekit.journeys.diagrams import to_svg


def load_definition(path: str) -> JourneyDefinition:
    """The journey definition at ``path`` (``module.name``), calling it if it is a function."""
    module_name, _, name = path.rpartition(".")
    if not module_name:
        raise ValueError(
            "journey-diagram needs a dotted path such as carekit.journeys.order_journey "
            f"(got {path!r})"
        )
    found = getattr(importlib.import_module(module_name), name)
    definition = found() if inspect.isroutine(found) else found
    if not isinstance(definition, JourneyDefinition):
        raise ValueError(
            f"{path!r} is not a JourneyDefinition nor a function returning one "
            f"(got {type(definition).__name__})"
        )
    return definition


def diagram_html(definition: JourneyDefinition) -> str:
    """The HTML the directive inlines: the SVG in a box that scrolls when it is too wide."""
    return (
        '<div class="carekit-journey-diagram" style="overflow-x: auto; margin: 1em 0">\n'
        + to_svg(definition)
        + "</div>\n"
    )


class JourneyDiagram(SphinxDirective):
    """``journey-diagram``: draw the journey definition named by the argument."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        try:
            definition = load_definition(self.arguments[0])
        except (ImportError, AttributeError, ValueError) as error:
            raise self.error(f"journey-diagram: {error}") from error
        return [
            nodes.raw("", diagram_html(definition), format="html"),
            nodes.literal_block(
                definition.to_mermaid(), definition.to_mermaid(), classes=["only-non-html"]
            )
            if self.env.app.builder.format != "html"
            else nodes.comment("", f"journey diagram: {definition.name}"),
        ]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("journey-diagram", JourneyDiagram)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
