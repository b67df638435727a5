"""The example plugin package is discovered through its entry point, as a third party's is.

The package in ``examples/carekit-sms-plugin`` is built and installed with pip into a
scratch folder, then a fresh interpreter with that folder on its path creates ``CareKit()``:
nothing registers the plugin by hand.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap
import zipfile

import pytest
from tests._extras import need

ROOT = pathlib.Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "examples" / "carekit-sms-plugin"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    target = tmp_path_factory.mktemp("site")
    try:
        import hatchling  # noqa: F401

        isolation = ["--no-build-isolation"]
    except ImportError:  # pragma: no cover - pip fetches the build backend instead
        isolation = []
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *isolation,
         "--target", str(target), str(PLUGIN)],
        check=True,
        capture_output=True,
    )
    return target


def _run(site: pathlib.Path, code: str, **env: str) -> str:
    environment = {**os.environ, "PYTHONPATH": str(site), **env}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=True,
        capture_output=True,
        text=True,
        env=environment,
    )
    return done.stdout


@pytest.mark.slow
def test_installed_plugin_is_found_through_its_entry_point(site: pathlib.Path) -> None:
    out = _run(
        site,
        """
        import importlib.metadata, json
        from carekit import CareKit
        eps = [ep.name for ep in importlib.metadata.entry_points(group="carekit")]
        kit = CareKit()
        print(json.dumps({"eps": eps, "plugins": kit.plugin_names(),
                          "channels": sorted(kit.channels),
                          "without": sorted(CareKit(load_entrypoints=False).channels)}))
        """,
    )
    found = json.loads(out)
    assert "sms_gateway" in found["eps"]
    assert "sms_gateway" in found["plugins"]
    assert "sms_gateway" in found["channels"]
    assert "sms_gateway" not in found["without"]


@pytest.mark.slow
def test_installed_plugin_texts_once_per_key_across_processes(
    site: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    # Two processes deliver the same touchpoint (a retry after a crash) with notes kept in
    # one SQLite journey store: the gateway gets one text.
    outbox = tmp_path / "sms.jsonl"
    code = f"""
        import datetime as dt
        from carekit import CareKit
        from carekit.journeys import SQLiteJourneyStore
        from carekit.testing import deliver, owed_touchpoint, sent_keys
        kit = CareKit()
        store = SQLiteJourneyStore({str(tmp_path / "journeys.db")!r})
        shipped = owed_touchpoint("shipped_with_tracking", data={{"tracking_number": "1Z999"}},
                                  customer_id="cust-7", version=5)
        result = deliver(kit, shipped, channel="sms_gateway",
                         sent_keys=sent_keys(store, channel="sms_gateway"))
        assert result.delivered, result
        assert deliver(kit, shipped, channel="email") is None
        print(result.reference)
        store.close()
        """
    first = _run(site, code, CAREKIT_SMS_OUTBOX=str(outbox)).strip()
    second = _run(site, code, CAREKIT_SMS_OUTBOX=str(outbox)).strip()
    lines = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert [(m["to"], m["text"]) for m in lines] == [
        ("cust-7", "Shipped with tracking (tracking number 1Z999)")
    ]
    assert first == second == lines[0]["id"]


@pytest.mark.slow
def test_the_plugins_own_tests_pass_where_it_is_installed(site: pathlib.Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "--rootdir", str(PLUGIN), str(PLUGIN / "tests")],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(site)},
        cwd=str(PLUGIN), check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def shown_in_the_guide() -> dict[str, str]:
    """Each file the plugin guide shows (a bold file name, then a fenced block): name -> text."""
    guide = (ROOT / "docs" / "writing-a-channel-plugin.md").read_text(encoding="utf-8")
    return {name: text for name, _, text in re.findall(
        r"^\*\*`([^`]+)`\*\*\n\n(`{3,})[a-z]*\n(.*?)^\2$", guide, re.MULTILINE | re.DOTALL)}


def copy_the_guide(folder: pathlib.Path) -> dict[str, str]:
    """Write the files the guide shows into ``folder``, as a reader copying them would."""
    shown = shown_in_the_guide()
    for name, text in shown.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return shown


def build_wheel(folder: pathlib.Path, out: pathlib.Path) -> subprocess.CompletedProcess[str]:
    # Offline and quick: the build backend (hatchling, a test dependency) is the one installed.
    need("hatchling", "test")
    return subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(out), str(folder)],
        capture_output=True, text=True, timeout=120, check=False,
    )


def test_the_guide_shows_every_file_of_the_package_as_it_is() -> None:
    shown = shown_in_the_guide()
    files = {
        p.relative_to(PLUGIN).as_posix(): p.read_text(encoding="utf-8")
        for p in PLUGIN.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc")
    }
    assert sorted(shown) == sorted(files)
    for name, text in files.items():
        assert shown[name] == text, f"the guide's {name} differs from the file"


@pytest.mark.slow
def test_the_files_the_guide_shows_build_the_plugin_package(tmp_path: pathlib.Path) -> None:
    # A reader copies the files from the guide into an empty folder and builds the package.
    folder = tmp_path / "carekit-sms-plugin"
    shown = copy_the_guide(folder)
    done = build_wheel(folder, tmp_path / "dist")
    assert done.returncode == 0, done.stdout + done.stderr
    [wheel] = (tmp_path / "dist").glob("carekit_sms_plugin-*.whl")
    with zipfile.ZipFile(wheel) as built:
        names = built.namelist()
        module = built.read("carekit_sms_plugin/__init__.py").decode("utf-8")
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        entry_points_text = built.read(entry_points).decode("utf-8")
        metadata_text = built.read(metadata).decode("utf-8")
    assert module == shown["src/carekit_sms_plugin/__init__.py"]
    assert "[carekit]\nsms_gateway = carekit_sms_plugin\n" in entry_points_text
    assert "\nRequires-Dist: carekit\n" in metadata_text
    assert shown["README.md"] in metadata_text  # the long description


@pytest.mark.slow
def test_without_the_readme_the_guide_shows_the_build_fails(tmp_path: pathlib.Path) -> None:
    # Why the guide shows the README: pyproject.toml names it, and the build needs it.
    folder = tmp_path / "carekit-sms-plugin"
    copy_the_guide(folder)
    (folder / "README.md").unlink()
    done = build_wheel(folder, tmp_path / "dist")
    assert done.returncode != 0
    assert "Readme file does not exist: README.md" in done.stdout + done.stderr
