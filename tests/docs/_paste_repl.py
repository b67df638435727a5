"""Paste code blocks into a plain interactive interpreter, as a reader does.

Run as a script: ``python _paste_repl.py blocks.json results.json``. ``blocks.json`` is a
list of ``{"label", "text", "skip_if", "expected"}``; each text is fed line by line to one
:class:`code.InteractiveConsole` (the plain REPL's rules: a compound statement ends at an
empty line), then an empty line if the console still waits, as the reader's Enter after a
paste. ``skip_if``, when given, is a Python expression evaluated in the console's namespace
first (the pages' Sybil ``skip`` conditions). ``expected`` names, in order, the exceptions
the block's doctests show on purpose: those tracebacks are what the reader is meant to see.
``results.json`` gets one ``{"label", "error"}`` for the first block that printed any other
traceback or a syntax error.
"""

from __future__ import annotations

import code
import json
import sys
import traceback
import types
from typing import Any


class _Console(code.InteractiveConsole):
    def __init__(self) -> None:
        # An empty __main__, as in the interpreter a reader starts (pickle finds the
        # page's classes there).
        main = types.ModuleType("__main__")
        sys.modules["__main__"] = main
        super().__init__(locals=main.__dict__)
        self.errors: list[tuple[str, str]] = []

    def showsyntaxerror(self, filename: str | None = None, **kwargs: Any) -> None:
        self._record()
        super().showsyntaxerror(filename)

    def showtraceback(self) -> None:
        self._record()
        super().showtraceback()

    def _record(self) -> None:
        kind, value, tb = sys.exc_info()
        name = kind.__name__ if kind is not None else "?"
        self.errors.append((name, "".join(traceback.format_exception(kind, value, tb))))


def main(blocks_path: str, results_path: str) -> None:
    with open(blocks_path, encoding="utf-8") as f:
        blocks = json.load(f)
    console = _Console()
    failures = []
    for block in blocks:
        if block["skip_if"] is not None and eval(block["skip_if"], console.locals):
            continue
        console.errors.clear()
        more = False
        for line in block["text"].split("\n"):
            more = console.push(line)
        if more:
            console.push("")
        expected = list(block["expected"])
        unexpected = []
        for name, text in console.errors:
            if expected and name == expected[0]:
                expected.pop(0)
            else:
                unexpected.append(text)
        if unexpected:
            failures.append({"label": block["label"], "error": unexpected[0]})
            break  # what follows would fail for the same reason
    with open(results_path, "w", encoding="utf-8") as f:
        json.dump(failures, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
