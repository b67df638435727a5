"""Tests of an optional extra skip, naming the extra, without it; CI's extras job fails instead."""

from __future__ import annotations

import pathlib
import re

import pytest
from tests import _extras

ROOT = pathlib.Path(__file__).resolve().parents[1]
ABSENT = "carekit_no_such_module_for_tests"


def test_a_missing_module_skips_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAREKIT_TEST_EXTRAS", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"needs the 'plot' extra: pip install -e "
                                                      r"'\.\[plot\]' \(or '\.\[test-extras\]'\)"):
        _extras.need(ABSENT, "plot")
    assert _extras.need("json", "plot").dumps([1]) == "[1]"


def test_under_the_extras_job_a_missing_module_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAREKIT_TEST_EXTRAS", "1")
    with pytest.raises(pytest.fail.Exception, match=rf"{ABSENT} must be importable here"):
        _extras.need(ABSENT, "plot")
    assert _extras.requires(ABSENT, extra="plot").args == (False,)  # runs, and fails


def test_the_mark_skips_only_when_a_module_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAREKIT_TEST_EXTRAS", raising=False)
    missing = _extras.requires("json", f"{ABSENT}.sub", extra="schedule")
    assert missing.args == (True,)
    assert "'.[schedule]'" in missing.kwargs["reason"]
    assert _extras.requires("json", extra="schedule").args == (False,)


def test_every_listed_page_exists_and_names_a_real_extra() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    table = pyproject.split("[project.optional-dependencies]\n", 1)[1].split("\n[", 1)[0]
    extras = set(re.findall(r"^([a-z][a-z-]*) = \[", table, re.MULTILINE))
    assert {"holidays", "plot", "postgres", "test"} <= extras, extras
    assert "test-extras" in extras
    for page, (modules, extra) in _extras.PAGES.items():
        assert (ROOT / page).is_file(), page
        assert modules and extra in extras, (page, extra)
