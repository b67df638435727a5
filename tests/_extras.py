"""The tests and docs pages that need an optional extra, and how they skip without it.

The README's test command installs only the core test dependencies (the ``test`` extra), so
the suite runs on what a plain ``pip install carekit`` gets. A test that needs an optional
extra imports it through :func:`need`, which skips the test, naming the extra to install,
when the package is absent. The ``test-extras`` extra installs every optional extra; with
``CAREKIT_TEST_EXTRAS`` set (CI's extras job), a missing package is a failure instead, so a
broken environment or a misspelt module name can never turn those tests into skips.

A docs page or module docstring whose examples need an extra is listed in :data:`PAGES`;
the root ``conftest.py`` skips its examples the same way.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

import pytest

#: Each page (a path from the repository's root) whose examples need optional packages,
#: with those packages (import names) and the extra that installs them.
PAGES: dict[str, tuple[tuple[str, ...], str]] = {
    "docs/apprise.md": (("apprise", "jinja2", "babel"), "apprise"),
    "docs/asyncio.md": (("fastapi",), "test-extras"),
    "docs/calendars.md": (("holidays",), "holidays"),
    "docs/cli.md": (("highspy",), "schedule"),
    "docs/postgres.md": (("psycopg", "psycopg_pool"), "postgres"),
    "docs/send-email.md": (("jinja2", "babel", "aiosmtpd"), "email"),
    "docs/staffing-roster-tutorial.md": (("highspy",), "schedule"),
    "docs/staffing-tutorial.md": (("matplotlib",), "plot"),
    "docs/templates.md": (("jinja2", "babel"), "templates"),
    "src/carekit/journeys/otel.py": (("opentelemetry.sdk",), "test"),
    "src/carekit/messaging/_templates.py": (("jinja2", "babel"), "templates"),
    "src/carekit/staffing/scheduling.py": (("highspy",), "schedule"),
}


def _reason(extra: str) -> str:
    if extra == "test-extras":
        return "needs a test dependency of the optional extras: pip install -e '.[test-extras]'"
    return f"needs the {extra!r} extra: pip install -e '.[{extra}]' (or '.[test-extras]')"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # its parent package is missing
        return False


def requires(*modules: str, extra: str) -> pytest.MarkDecorator:
    """A mark that skips a test (or, as ``pytestmark``, a module) without ``modules``.

    For a test that imports nothing itself but calls carekit code that needs the extra.
    Under ``CAREKIT_TEST_EXTRAS`` the test always runs (and fails if a module is missing).

    Args:
        modules: the import names the test needs.
        extra: the extra that installs them.

    Returns:
        A ``pytest.mark.skipif`` mark naming the extra.
    """
    missing = [m for m in modules if not _installed(m)]
    skip = bool(missing) and not os.environ.get("CAREKIT_TEST_EXTRAS")
    return pytest.mark.skipif(skip, reason=_reason(extra))


def need(module: str, extra: str) -> ModuleType:
    """Import ``module`` for a test, or skip the test: it needs ``carekit[extra]``.

    Args:
        module: the import name (``"holidays"``, ``"psycopg_pool"``).
        extra: the extra that installs it (``"holidays"``; ``"test-extras"`` for a package
            only the tests use).

    Returns:
        The imported module.

    Raises:
        pytest.skip.Exception: it is not installed (``pytest.fail`` under
            ``CAREKIT_TEST_EXTRAS``, where every extra must be present).
    """
    reason = _reason(extra)
    if os.environ.get("CAREKIT_TEST_EXTRAS"):
        try:
            return importlib.import_module(module)
        except ImportError as exc:
            pytest.fail(f"{module} must be importable here ({reason}): {exc}", pytrace=False)
    return pytest.importorskip(module, reason=reason)


def need_for_page(path: str) -> None:
    """Skip the examples of ``path`` (relative to the root) when they need a missing extra."""
    modules, extra = PAGES.get(path, ((), ""))
    for module in modules:
        need(module, extra)


# -- the pytest plugin (the root conftest.py loads this module as one) -----------------------

#: Every skip :func:`need` and :func:`requires` make says this.
_MARK = "'.[test-extras]'"


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip the examples of a page in :data:`PAGES` when the extra it needs is absent."""
    try:
        page = item.path.relative_to(item.config.rootpath).as_posix()
    except ValueError:
        return
    need_for_page(page)


def _record(report: pytest.CollectReport | pytest.TestReport) -> None:
    # CAREKIT_EXTRAS_SKIPPED names a file: each test file (or docs page) with a test skipped
    # for a missing extra is appended to it, so CI's extras job runs exactly those.
    target = os.environ.get("CAREKIT_EXTRAS_SKIPPED")
    if not target or not report.skipped or _MARK not in str(report.longrepr):
        return
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(report.nodeid.split("::")[0] + "\n")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Note a test skipped for a missing extra (see ``_record``)."""
    _record(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """Note a test module skipped for a missing extra (see ``_record``)."""
    _record(report)
