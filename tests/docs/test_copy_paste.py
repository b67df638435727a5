"""Every Python example in the docs and the README works when a reader pastes it.

Each example is taken as the docs' copy button gives it (prompts stripped, outputs left out:
the same expression as the docs' ``conf.py``) and pasted, block after block as the page
orders them, into a fresh plain interpreter (``code.InteractiveConsole``, line by line) in an
empty folder. A traceback or a syntax error fails the page and names the block. The Sybil
checks (``conftest.py``) keep checking the outputs.
"""

from __future__ import annotations

import concurrent.futures
import doctest
import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
from typing import Any

import pytest
from tests._extras import need_for_page

ROOT = pathlib.Path(__file__).resolve().parents[2]
_RUNNER = pathlib.Path(__file__).with_name("_paste_repl.py")

_spec = importlib.util.spec_from_file_location("copy_prompt", ROOT / "docs/_ext/copy_prompt.py")
assert _spec is not None and _spec.loader is not None
copy_prompt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(copy_prompt)

#: As in conftest.py: these pages need a PostgreSQL server (its URL in CAREKIT_STORE).
_POSTGRES_PAGES = {"docs/postgres.md"}

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
_SKIP = re.compile(
    r"^<!--\s*skip:\s*(?P<action>start|end|next)(?:\s+if\((?P<cond>.*?),\s*reason=.*\))?\s*-->"
)


def _pages() -> list[str]:
    pages = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md"))
    pages = [p for p in pages if "_build" not in p]
    return ["README.md", *pages]


def expected_exceptions(block: str) -> list[str]:
    """The exceptions a block's doctests expect, by class name, in order (a reader sees them)."""
    examples = doctest.DocTestParser().get_examples(block)
    return [e.exc_msg.split(":")[0].rsplit(".", 1)[-1] for e in examples if e.exc_msg]


def python_blocks(markdown: str, page: str) -> list[dict[str, Any]]:
    """The page's Python blocks, in order, as the copy button copies them."""
    blocks: list[dict[str, Any]] = []
    lines = markdown.split("\n")
    skip_if: str | None = None
    skip_next = False
    i = 0
    while i < len(lines):
        skip = _SKIP.match(lines[i])
        if skip:
            action = skip["action"]
            if action == "start":
                skip_if = skip["cond"] or "True"
            elif action == "end":
                skip_if = None
            else:
                skip_next = True
            i += 1
            continue
        fence = _FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        start, marker = i, fence["fence"]
        i += 1
        while i < len(lines) and not (
            lines[i].startswith(marker[0] * len(marker)) and lines[i].strip(marker[0]) == ""
        ):
            i += 1
        body = "\n".join(lines[start + 1 : i]) + "\n"
        i += 1
        if fence["info"] in ("python", "py"):
            if skip_next:
                skip_next = False
                continue
            blocks.append(
                {
                    "label": f"{page}:{start + 1}",
                    "text": copy_prompt.copied_text(body),
                    "skip_if": skip_if,
                    "expected": expected_exceptions(body),
                }
            )
    return blocks


def _paste(page: str, env: dict[str, str]) -> list[dict[str, str]]:
    return paste_blocks(python_blocks((ROOT / page).read_text(encoding="utf-8"), page), env)


def paste_blocks(blocks: list[dict[str, Any]], env: dict[str, str]) -> list[dict[str, str]]:
    """Paste the blocks in order into one fresh interpreter; the blocks that failed."""
    page = blocks[0]["label"] if blocks else "?"
    with tempfile.TemporaryDirectory(prefix="carekit-paste-") as tmp:
        blocks_path = pathlib.Path(tmp, "blocks.json")
        results_path = pathlib.Path(tmp, "results.json")
        blocks_path.write_text(json.dumps(blocks), encoding="utf-8")
        work = pathlib.Path(tmp, "work")
        work.mkdir()
        proc = subprocess.run(
            [sys.executable, str(_RUNNER), str(blocks_path), str(results_path)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if proc.returncode != 0 or not results_path.exists():
            return [
                {
                    "label": page,
                    "error": f"the interpreter exited {proc.returncode}:\n{proc.stderr[-3000:]}",
                }
            ]
        results: list[dict[str, str]] = json.loads(results_path.read_text(encoding="utf-8"))
        return results


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    env.pop("PYTHONSTARTUP", None)
    return env


@pytest.fixture(scope="module")
def pasted() -> dict[str, concurrent.futures.Future[list[dict[str, str]]]]:
    # Every page but the PostgreSQL ones at once, one interpreter each.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
    env = _env()
    futures = {p: pool.submit(_paste, p, env) for p in _pages() if p not in _POSTGRES_PAGES}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


def _fail_on(failures: list[dict[str, str]]) -> None:
    if failures:
        f = failures[0]
        pytest.fail(f"pasting {f['label']} into python fails:\n{f['error']}", pytrace=False)


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in _pages() if p not in _POSTGRES_PAGES])
def test_page_pastes(page: str, pasted: dict[str, Any]) -> None:
    need_for_page(page)  # a page whose examples need a missing extra is skipped, naming it
    _fail_on(pasted[page].result())


@pytest.mark.slow
@pytest.mark.parametrize("page", sorted(_POSTGRES_PAGES))
def test_postgres_page_pastes(page: str) -> None:
    need_for_page(page)
    from tests.journeys._postgres import (
        drop_schema,
        new_schema,
        require_server,
        server_lock,
        with_schema,
    )

    url = require_server()
    with server_lock():
        schema = new_schema()
        try:
            env = _env()
            env["CAREKIT_STORE"] = with_schema(url, schema)
            _fail_on(_paste(page, env))
        finally:
            drop_schema(schema)


def test_the_copy_button_leaves_out_prompts_and_outputs() -> None:
    block = ">>> for n in range(2):\n...     print(n)\n...\n0\n1\n>>> n\n1\n"
    assert copy_prompt.copied_text(block) == "for n in range(2):\n    print(n)\n\nn"
    assert copy_prompt.copied_text("import os\n\nos.sep\n") == "import os\n\nos.sep"


def test_blocks_skips_and_expected_errors_are_read_from_the_page() -> None:
    page = (
        "text\n\n```python\n>>> int('x')\nTraceback (most recent call last):\n"
        "ValueError: invalid literal\n\n```\n\n````markdown\n```python\nnot_python(\n```\n"
        '````\n\n<!-- skip: start if(not HAVE_X, reason="x") -->\n\n```py\nimport x\n```\n'
        "<!-- skip: end -->\n\n```bash\nls\n```\n"
    )
    blocks = python_blocks(page, "page.md")
    assert [(b["label"], b["text"], b["skip_if"], b["expected"]) for b in blocks] == [
        ("page.md:3", "int('x')\n", None, ["ValueError"]),
        ("page.md:18", "import x", "not HAVE_X", []),
    ]


@pytest.mark.slow
def test_a_compound_statement_needs_its_blank_continuation_line() -> None:
    # The doctest runs under Sybil either way; only the pasted text tells them apart.
    broken = ">>> for n in range(2):\n...     total = n\n>>> total\n1\n"
    fixed = ">>> for n in range(2):\n...     total = n\n...\n>>> total\n1\n"
    expected_error = ">>> int('x')\nTraceback (most recent call last):\nValueError: no\n"
    surprise = ">>> int('x')\n"

    def paste(block: str) -> list[dict[str, str]]:
        text = copy_prompt.copied_text(block)
        found = expected_exceptions(block)
        return paste_blocks(
            [{"label": "p.md:1", "text": text, "skip_if": None, "expected": found}], _env()
        )

    [failure] = paste(broken)
    assert failure["label"] == "p.md:1"
    assert "SyntaxError" in failure["error"]
    assert paste(fixed) == []
    assert paste(expected_error) == []
    [failure] = paste(surprise)
    assert "ValueError" in failure["error"]
