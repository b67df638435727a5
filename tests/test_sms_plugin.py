"""The example plugin package is discovered through its entry point, as a third party's is.

The package in ``examples/carekit-sms-plugin`` is built and installed with pip into a
scratch folder, then a fresh interpreter with that folder on its path creates ``CareKit()``:
nothing registers the plugin by hand.
"""

from __future__ import annotations

import json
import os
import pathlib
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
def test_installed_plugin_delivers_once_per_idempotency_key(
    site: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    outbox = tmp_path / "sms.jsonl"
    _run(
        site,
        """
        import types
        from carekit import CareKit
        kit = CareKit()
        touchpoint = types.SimpleNamespace(
            name="shipped_with_tracking", data={"tracking_number": "1Z999"},
            customer_id="cust-7")
        for _ in range(2):  # a retry after a crash reuses the key
            result = kit.hook.carekit_deliver_touchpoint(
                touchpoint=touchpoint, channel=kit.channel("sms_gateway"),
                idempotency_key="order-1/shipped_with_tracking/5")
            assert result.delivered, result
        other = kit.hook.carekit_deliver_touchpoint(
            touchpoint=touchpoint, channel=kit.channel("email"), idempotency_key="k")
        assert other is None
        """,
        CAREKIT_SMS_OUTBOX=str(outbox),
    )
    lines = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert lines == [
        {"key": "order-1/shipped_with_tracking/5", "to": "cust-7",
         "text": "Shipped with tracking (tracking number 1Z999)"}
    ]
