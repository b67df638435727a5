"""The asyncio store contract holds for the blocking stores run off the event loop.

``carekit.journeys.aio.open_store`` gives the memory and SQLite stores a face of coroutines
(each call in a thread); they pass :class:`carekit.testing.AsyncJourneyStoreContract`, as
the asyncio PostgreSQL store does (``test_store_postgres.py``): the suite asks nothing
PostgreSQL-specific of a store, and needs no event-loop plugin.
"""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from carekit.journeys import aio
from carekit.testing import AsyncJourneyStoreContract


class TestMemoryStoreInThreads(AsyncJourneyStoreContract):
    @pytest.fixture
    def store(self) -> Any:
        return aio.open_store("memory://", definitions=AsyncJourneyStoreContract.definitions())


class TestSQLiteStoreInThreads(AsyncJourneyStoreContract):
    @pytest.fixture
    def store(self, tmp_path: pathlib.Path) -> Any:
        return aio.open_store(str(tmp_path / "j.db"),
                              definitions=AsyncJourneyStoreContract.definitions())
