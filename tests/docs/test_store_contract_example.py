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
