"""The asyncio store contract holds for the blocking stores run off the event loop.

A minimal adapter (each call in a thread) over the memory and SQLite stores passes
:class:`carekit.testing.AsyncJourneyStoreContract`: the suite asks nothing PostgreSQL-specific
of a store, and needs no event-loop plugin.
"""

from __future__ import annotations

import asyncio
import pathlib
from typing import Any

import pytest

from carekit.journeys import MemoryJourneyStore, SQLiteJourneyStore
from carekit.journeys.stores._async_contract import ASYNC_METHODS
from carekit.testing import AsyncJourneyStoreContract


class _InThreads:
    """Every store method as a coroutine running the blocking call in a thread."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name not in ASYNC_METHODS:
            raise AttributeError(name)
        blocking = getattr(self._store, name)

        async def method(*args: Any, **kwargs: Any) -> Any:
            def call() -> Any:
                result = blocking(*args, **kwargs)
                return list(result) if name in ("journeys", "load_many") else result

            return await asyncio.to_thread(call)

        return method


class TestMemoryStoreInThreads(AsyncJourneyStoreContract):
    @pytest.fixture
    def store(self) -> Any:
        return _InThreads(MemoryJourneyStore(definitions=AsyncJourneyStoreContract.definitions()))


class TestSQLiteStoreInThreads(AsyncJourneyStoreContract):
    @pytest.fixture
    def store(self, tmp_path: pathlib.Path) -> Any:
        return _InThreads(SQLiteJourneyStore(
            tmp_path / "j.db", definitions=AsyncJourneyStoreContract.definitions()
        ))
