"""What the docs' copy button copies: shared by ``conf.py`` and the copy-paste test.

sphinx-copybutton reads :data:`COPYBUTTON_PROMPT_TEXT` as a JavaScript regular expression;
:func:`copied_text` applies the same expression with :mod:`re` (the two dialects agree on it)
the way the button's script does, so the test pastes exactly what a reader gets.
"""

from __future__ import annotations

import re

#: A Python prompt, ``>>> `` or ``... ``, or ``...`` alone for a blank continuation line.
COPYBUTTON_PROMPT_TEXT = r">>> |\.\.\. |\.\.\.$"

_PROMPT_LINE = re.compile("^(" + COPYBUTTON_PROMPT_TEXT + ")(.*)")


def copied_text(block: str) -> str:
    """The text the copy button puts on the clipboard for a code block's text.

    With ``copybutton_only_copy_prompt_lines`` and ``copybutton_remove_prompts`` (the
    settings in ``conf.py``): the lines that start with a prompt, without it, and the empty
    lines; the outputs are left out. A block with no prompt is copied whole. The trailing
    newline is dropped, so a paste does not run the last line by itself.

    Examples:
        >>> copied_text(">>> x = 1\\n>>> x\\n1\\n")
        'x = 1\\nx'
        >>> copied_text("x = 1\\n")
        'x = 1'
    """
    lines = []
    prompted = False
    for line in block.split("\n"):
        match = _PROMPT_LINE.match(line)
        if match:
            prompted = True
            lines.append(match.group(2))
        elif line.strip() == "":
            lines.append(line)
    text = "\n".join(lines) if prompted else block
    return text[:-1] if text.endswith("\n") else text
