"""Sphinx configuration for carekit's documentation (MyST Markdown pages, the Furo theme).

Build it strictly and offline, as CI does::

    sphinx-build -b html -W --keep-going -n docs build/docs
"""

from __future__ import annotations

import pathlib
import sys

_DOCS = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(_DOCS / "_ext"))

from copy_prompt import COPYBUTTON_PROMPT_TEXT  # noqa: E402

from carekit import __version__  # noqa: E402

project = "carekit"
author = "carekit maintainers"
copyright = "carekit maintainers"
release = __version__
version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx_copybutton",
    "journey_diagrams",
    "reexported_refs",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
language = "en"

# -- MyST ---------------------------------------------------------------------------------
# Headings get anchors up to level 3, so pages can link to a section (page.md#section).
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# -- autodoc and napoleon (Google-style docstrings) ---------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
# A method that overrides one of a base class without a docstring of its own (EventData's
# read-only dict methods) is not documented with the base's words.
autodoc_inherit_docstrings = False
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True
# Bare `names` in docstrings are code, as in the Markdown pages.
default_role = "code"

# -- cross-references (for a nitpicky build, ``-n``) -------------------------------------
# The build is offline, so there is no intersphinx inventory for the standard library or the
# dependencies: references to their names cannot resolve. Only those are exempt from the
# nitpicky check, and carekit's private names (a leading underscore: not documented on
# purpose); a broken reference to carekit's public API still fails the build.
_STDLIB = (
    r"datetime|dt|time|operator|zoneinfo|collections|typing|typing_extensions|decimal"
    r"|fractions|pathlib|os|io|enum|types|abc|contextlib|asyncio|sqlite3|concurrent"
    r"|threading|email|smtplib|ssl|logging|random|statistics|numbers|json|csv"
)
_THIRD_PARTY = (
    r"PluginManager|pluggy|attrs|attr|dateutil|psycopg|psycopg_pool|jinja2|babel|apprise"
    r"|dask|pandas|numpy|matplotlib|highspy|holidays|icalendar|opentelemetry"
    r"|TracerProvider|MeterProvider"
)
nitpick_ignore_regex = [
    (r"py:.*", rf"({_STDLIB})(\..*)?"),
    (r"py:.*", rf"({_THIRD_PARTY})(\..*)?"),
    (
        r"py:class",
        r"(int|float|str|bytes|bool|object|None|list|dict|tuple|set|frozenset"
        r"|type|callable|Callable|Iterable|Iterator|Mapping|Sequence|Any|T|K|V)",
    ),
    (
        r"py:(exc|class)",
        r"(ValueError|TypeError|KeyError|LookupError|RuntimeError|OSError"
        r"|Exception|BaseException|NotImplementedError|KeyboardInterrupt|TimeoutError)",
    ),
    (r"py:.*", r"carekit(\.\w+)*\._\w+(\.\w+)*"),
    # The journey's effects are typed as ``Any`` under this alias; the workers' shared base
    # class is not public API.
    (r"py:class", r"Effect|carekit\.journeys\.worker\.WorkerBase"),
]

# -- HTML ---------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"carekit {release}"
html_static_path: list[str] = []
html_show_sourcelink = False

# -- copy button --------------------------------------------------------------------------
# The button copies what a reader pastes into `python`: the prompt lines of an example, with
# the `>>> ` and `... ` prompts removed and the outputs left out. A block without prompts is
# copied whole.
copybutton_prompt_text = COPYBUTTON_PROMPT_TEXT
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = True
copybutton_remove_prompts = True
copybutton_line_continuation_character = ""
copybutton_here_doc_delimiter = ""
