"""The prompts the docs' copy button strips: shared by ``conf.py`` and the copy-paste test.

sphinx-copybutton reads :data:`COPYBUTTON_PROMPT_TEXT` as a JavaScript regular expression;
the test applies the same expression with :mod:`re` (the two dialects agree on it).
"""

from __future__ import annotations

#: A Python prompt, ``>>> `` or ``... ``, or ``...`` alone for a blank continuation line.
COPYBUTTON_PROMPT_TEXT = r">>> |\.\.\. |\.\.\.$"
