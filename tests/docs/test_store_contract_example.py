"""The store contract page's example runs as a reader's own test module and passes."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_contract_example_passes_on_a_plain_store(tmp_path: pathlib.Path) -> None:
    page = (ROOT / "docs/store-contract.md").read_text(encoding="utf-8")
    [example] = [
        block for block in re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)
        if "class TestMyStore(JourneyStoreContract)" in block
    ]
    (tmp_path / "test_my_store.py").write_text(example, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "test_my_store.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", run.stdout) and "failed" not in run.stdout


#: The words the suite matches in errors a store raises itself (not those passed through
#: from ``definition.start`` and ``journey.apply``).
_STORE_MESSAGES = [
    "already exists", "does not know", "belongs to journey_id",
    "status must be one of 'pending', 'failed', 'deferred', 'sent', 'dead', 'withdrawn'",
    "journey_id must be a string or None", "state must be a string or None",
    "now must be a timezone-aware datetime", "limit must be an integer >= 1",
    "limit must be at most 1,000,000", "lease must be a positive duration",
    "lease must be at most 366 days", "claimant must be a non-empty string",
    "idempotency_key must be a non-empty string", "Promise.to_dict", "version 0", "holding",
]


def test_the_page_names_the_messages_the_suite_matches() -> None:
    # Regression: the suite matched these words while the page named only error classes, so
    # a store written from the page failed a dozen tests on wording alone.
    page = (ROOT / "docs/store-contract.md").read_text(encoding="utf-8")
    suite = (ROOT / "src/carekit/journeys/stores/_contract.py").read_text(encoding="utf-8")
    suite = re.sub(r'"\s*\n\s*"', "", suite)  # join implicitly concatenated literals
    for words in _STORE_MESSAGES:
        assert words in suite or re.escape(words).replace(r"\ ", " ") in suite, words
        assert f"`{words}" in page or f"{words}`" in page, words
