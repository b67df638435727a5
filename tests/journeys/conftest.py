"""Fixtures for the journey tests that need a PostgreSQL server (see ``_postgres``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.journeys._postgres import fresh_schema, require_server


@pytest.fixture
def postgres_url() -> str:
    """The test server's URL (the test is skipped without one, or fails under CI)."""
    return require_server()


@pytest.fixture
def postgres_schema(postgres_url: str) -> Iterator[str]:
    """A fresh schema of its own on the test server, dropped after the test."""
    with fresh_schema() as schema:
        yield schema
