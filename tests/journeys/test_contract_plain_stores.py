"""The conformance suites run on stores made as a third party would make them.

A ``store`` fixture returning a plain store (no ``definitions=``) is all the suites need: they
hand a store the definitions they use, as the journeys' definitions, when they create them.
(``test_store.py``, ``test_async_contract.py`` and ``test_store_postgres.py`` run them on
stores told ``definitions()`` beforehand, as code written for the earlier contract does.)
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from carekit.journeys import MemoryJourneyStore, SQLiteJourneyStore, aio
from carekit.journeys.stores.postgres import AsyncPostgresJourneyStore, PostgresJourneyStore
from carekit.testing import AsyncJourneyStoreContract, JourneyStoreContract


class TestPlainMemoryStore(JourneyStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[Any]:
        s = MemoryJourneyStore()
        yield s
        s.close()


class TestPlainSQLiteStore(JourneyStoreContract):
    @pytest.fixture
    def store(self, tmp_path: pathlib.Path) -> Iterator[Any]:
        s = SQLiteJourneyStore(tmp_path / "x.db")
        yield s
        s.close()


class TestPlainPostgresStore(JourneyStoreContract):
    @pytest.fixture
    def store(self, postgres_url: str, postgres_schema: str) -> Iterator[Any]:
        s = PostgresJourneyStore(postgres_url, schema=postgres_schema)
        yield s
        s.close()


class TestPlainMemoryStoreInThreads(AsyncJourneyStoreContract):
    @pytest.fixture
    def store(self) -> Any:
        return aio.open_store("memory://")


class TestPlainSQLiteStoreInThreads(AsyncJourneyStoreContract):
    @pytest.fixture
    def store(self, tmp_path: pathlib.Path) -> Any:
        return aio.open_store(f"sqlite:///{tmp_path / 'x.db'}")


class TestPlainAsyncPostgresStore(AsyncJourneyStoreContract):
    @pytest.fixture
    def store(self, postgres_url: str, postgres_schema: str) -> Any:
        return AsyncPostgresJourneyStore(postgres_url, schema=postgres_schema)
