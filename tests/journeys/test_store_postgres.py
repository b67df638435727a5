"""The PostgreSQL store against a real server: the store contract, and what is its own.

Needs the server of ``CAREKIT_TEST_POSTGRES`` (see ``_postgres``): skipped without one, a
failure under CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from carekit.journeys.stores.postgres import AsyncPostgresJourneyStore, PostgresJourneyStore
from carekit.testing import AsyncJourneyStoreContract, JourneyStoreContract


class TestPostgresStore(JourneyStoreContract):
    @pytest.fixture
    def store(self, postgres_url: str, postgres_schema: str) -> Iterator[Any]:
        s = PostgresJourneyStore(
            postgres_url, schema=postgres_schema, definitions=JourneyStoreContract.definitions()
        )
        yield s
        s.close()


class TestAsyncPostgresStore(AsyncJourneyStoreContract):
    @pytest.fixture
    def store(self, postgres_url: str, postgres_schema: str) -> Any:
        return AsyncPostgresJourneyStore(
            postgres_url, schema=postgres_schema,
            definitions=AsyncJourneyStoreContract.definitions(),
        )
