"""Run every code block in the docs, the README and the docstrings (Sybil)."""

from __future__ import annotations

import os
import pathlib
import tempfile
from doctest import ELLIPSIS, NORMALIZE_WHITESPACE
from typing import Any

from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser
from sybil.parsers.rest import DocTestParser
from sybil.sybil import SybilCollection

_OPTIONS = ELLIPSIS | NORMALIZE_WHITESPACE


def _in_tmpdir(namespace: dict[str, Any]) -> None:
    # Each document runs in its own empty folder, so examples may write files freely.
    tmp = tempfile.TemporaryDirectory(prefix="carekit-docs-")
    namespace["_carekit_tmp"] = tmp
    namespace["_carekit_cwd"] = os.getcwd()
    os.chdir(tmp.name)


def _leave_tmpdir(namespace: dict[str, Any]) -> None:
    _close_stores(namespace)
    os.chdir(namespace["_carekit_cwd"])
    namespace["_carekit_tmp"].cleanup()


def _close_stores(namespace: dict[str, Any]) -> None:
    # A reader's example need not close its store, but the suite does once the document
    # has run: Python 3.13 warns of a SQLite connection collected unclosed, and the warning
    # (an error here) would land on whichever test runs when the collector does.
    import sqlite3

    from carekit.journeys import SQLiteJourneyStore
    from carekit.journeys.aio import ThreadedStore

    for value in list(namespace.values()):
        store = value.store if isinstance(value, ThreadedStore) else value
        if isinstance(store, (SQLiteJourneyStore, sqlite3.Connection)):
            store.close()


#: Pages whose examples need a PostgreSQL server (see _postgres_setup).
_POSTGRES_PAGES = ["docs/postgres.md"]


def _postgres_setup(namespace: dict[str, Any]) -> None:
    # The page reads its store's URL from CAREKIT_STORE, as an app would: point it at the
    # test server, in a schema of its own. Without a server the page is skipped (a failure
    # under CI), as the PostgreSQL tests are.
    from tests.journeys._postgres import new_schema, require_server, server_lock, with_schema

    url = require_server()
    hold = server_lock()
    hold.__enter__()
    schema = new_schema()
    namespace["_carekit_postgres"] = (schema, hold, os.environ.get("CAREKIT_STORE"))
    os.environ["CAREKIT_STORE"] = with_schema(url, schema)
    _in_tmpdir(namespace)


def _postgres_teardown(namespace: dict[str, Any]) -> None:
    held = namespace.pop("_carekit_postgres", None)
    if held is None:  # skipped: there was no server
        return
    from tests.journeys._postgres import drop_schema

    _leave_tmpdir(namespace)
    schema, hold, before = held
    if before is None:
        os.environ.pop("CAREKIT_STORE", None)
    else:
        os.environ["CAREKIT_STORE"] = before
    try:
        drop_schema(schema)
    finally:
        hold.__exit__(None, None, None)


_markdown = Sybil(
    parsers=[PythonCodeBlockParser(doctest_optionflags=_OPTIONS), SkipParser()],
    patterns=["docs/*.md", "docs/**/*.md", "README.md"],
    excludes=_POSTGRES_PAGES,
    setup=_in_tmpdir,
    teardown=_leave_tmpdir,
)
_postgres_pages = Sybil(
    parsers=[PythonCodeBlockParser(doctest_optionflags=_OPTIONS), SkipParser()],
    patterns=_POSTGRES_PAGES,
    setup=_postgres_setup,
    teardown=_postgres_teardown,
)
_docstrings = Sybil(
    parsers=[DocTestParser(optionflags=_OPTIONS)],
    patterns=["src/carekit/*.py", "src/carekit/**/*.py"],
    teardown=_close_stores,
)

pytest_collect_file = SybilCollection([_markdown, _docstrings, _postgres_pages]).pytest()


def pytest_ignore_collect(collection_path: pathlib.Path, config: Any) -> bool | None:
    # Benchmarks and the example plugin package are run on purpose, not collected.
    parts = collection_path.parts
    if "benchmarks" in parts or "site" in parts or "_build" in parts:
        return True
    return None



# The tests and docs pages that need an optional extra skip, naming it, without it.
pytest_plugins = ["tests._extras"]
