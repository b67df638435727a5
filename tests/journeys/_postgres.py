"""The PostgreSQL server the tests run against: where it is, fresh schemas, a shared lock.

The server is ``CAREKIT_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``).
Without the ``postgres`` extra the tests are skipped (see ``tests/_extras.py``). When the
server cannot be reached, a test needing it is skipped with a message saying so, except
under CI (the ``CI`` environment variable set), where that is a failure: the PostgreSQL
tests must never be skipped silently there.

Every test gets a schema of its own (``carekit_test_<pid>_<random>_<n>``), dropped after
it, so concurrent runs and xdist workers never see each other's rows.

A test that restarts the server takes :func:`server_lock` exclusively; every other use of
the server takes it shared (the fixtures do), so a restart never breaks another test.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import pathlib
import tempfile
import urllib.parse
import uuid
from collections.abc import Iterator

import pytest
from tests._extras import need

try:
    import fcntl
except ImportError:  # Windows: no restart tests there, nothing to coordinate
    fcntl = None  # type: ignore[assignment]

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
_RUN = f"carekit_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
_COUNTER = itertools.count()
_LOCK_FILE = pathlib.Path(tempfile.gettempdir()) / "carekit-postgres-tests.lock"


def server_url() -> str:
    """The test server's URL."""
    return os.environ.get("CAREKIT_TEST_POSTGRES") or DEFAULT_URL


@functools.cache
def _unreachable() -> str | None:
    """Why the server cannot be used (``None``: it can)."""
    import psycopg

    try:
        with psycopg.connect(server_url(), connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"no PostgreSQL server at {server_url()!r}: {' '.join(str(exc).split())}"
    return None


def require_server() -> str:
    """The server's URL; skip the test when there is none (fail under CI).

    Without the ``postgres`` extra (psycopg) the test is skipped, naming the extra, as every
    test of an optional extra is (a failure under ``CAREKIT_TEST_EXTRAS``).
    """
    need("psycopg", "postgres")
    need("psycopg_pool", "postgres")
    reason = _unreachable()
    if reason is not None:
        message = (
            f"{reason}; set CAREKIT_TEST_POSTGRES to a PostgreSQL URL to run the PostgreSQL "
            "tests"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {message}", pytrace=False)
        pytest.skip(message)
    return server_url()


def new_schema() -> str:
    """A schema name no other test or run uses."""
    return f"{_RUN}_{next(_COUNTER)}"


def drop_schema(schema: str) -> None:
    """Drop ``schema`` and everything in it (if it exists)."""
    import psycopg

    with psycopg.connect(server_url(), connect_timeout=10, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def with_schema(url: str, schema: str) -> str:
    """``url`` with a ``schema`` query parameter (for ``open_store``)."""
    parts = urllib.parse.urlsplit(url)
    query = [*urllib.parse.parse_qsl(parts.query), ("schema", schema)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


@contextlib.contextmanager
def server_lock(*, exclusive: bool = False) -> Iterator[None]:
    """Hold the server: shared by ordinary tests, exclusively by one that restarts it."""
    if fcntl is None:
        yield
        return
    with _LOCK_FILE.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def fresh_schema() -> Iterator[str]:
    """A fresh schema on the server (held shared), dropped afterwards."""
    require_server()
    with server_lock():
        schema = new_schema()
        try:
            yield schema
        finally:
            drop_schema(schema)
