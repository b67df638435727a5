"""Every benchmark script answers ``--help`` with its usage, and runs nothing doing so."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
from tests._extras import need

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py"))

#: What a script imports before it parses its arguments, beyond carekit's core: (module,
#: the extra that installs it).
IMPORTS_FIRST = {
    "promises.py": [("holidays", "holidays"), ("numpy", "test-extras")],
    "promises_plot.py": [("matplotlib", "plot"), ("holidays", "holidays"),
                         ("numpy", "test-extras")],
    "promises_scale.py": [("pandas", "dask")],
    "schedule_chart.py": [("matplotlib", "plot")],
    "store_postgres.py": [("psycopg", "postgres")],
}


def test_there_are_benchmarks_to_check() -> None:
    assert len(SCRIPTS) >= 10, SCRIPTS
    assert set(IMPORTS_FIRST) <= {s.name for s in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_benchmark_answers_help(script: pathlib.Path, tmp_path: pathlib.Path) -> None:
    for module, extra in IMPORTS_FIRST.get(script.name, ()):
        need(module, extra)
    done = subprocess.run(
        [sys.executable, str(script), "--help"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {script.name} [-h]"), done.stdout
    assert done.stderr == ""
    assert list(tmp_path.iterdir()) == []  # --help wrote nothing (no chart named "--help")
