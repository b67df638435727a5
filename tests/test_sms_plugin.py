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

import pytest

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


def test_the_guide_shows_every_file_of_the_package_as_it_is() -> None:
    guide = (ROOT / "docs" / "writing-a-channel-plugin.md").read_text(encoding="utf-8")
    shown = {name: text for name, _, text in re.findall(
        r"^\*\*`([^`]+)`\*\*\n\n(`{3,})[a-z]*\n(.*?)^\2$", guide, re.MULTILINE | re.DOTALL)}
    files = {
        p.relative_to(PLUGIN).as_posix(): p.read_text(encoding="utf-8")
        for p in PLUGIN.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc")
    }
    assert sorted(shown) == sorted(files)
    for name, text in files.items():
        assert shown[name] == text, f"the guide's {name} differs from the file"
