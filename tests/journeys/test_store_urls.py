"""``open_store`` and ``aio.open_store``: which strings name which store, and what is refused."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

from carekit import CareKitError
from carekit.journeys import aio, open_store
from carekit.journeys.stores.urls import conninfo_keywords

CONNINFO = [
    "host=127.0.0.1 password=s3cret",
    "dbname=shop user=care password='s3 cret'",
    "host = db.internal  port=5432 sslmode=require password=s3cret",
    "HOST=db PASSWORD=s3cret",
    "host=db pasword=s3cret",  # a misspelt keyword beside a real one
]


@pytest.mark.parametrize("text", CONNINFO)
def test_a_libpq_key_value_string_is_refused_without_its_password(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for opener in (open_store, aio.open_store):
        with pytest.raises(CareKitError) as info:
            opener(text)
        message = str(info.value)
        assert "libpq key=value connection string" in message
        assert "postgresql://USER:PASSWORD@HOST:PORT/DBNAME" in message
        assert "PostgresJourneyStore(dsn)" in message
        assert "s3cret" not in message and "s3 cret" not in message
        assert "\n" not in message
    assert list(tmp_path.iterdir()) == []  # no SQLite file named after it


@pytest.mark.parametrize("name", ["run=3.db", "batch=2 copy.db", "./host=x.db", "a=b c=d"])
def test_a_file_name_holding_an_equals_sign_is_still_a_sqlite_path(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.chdir(tmp_path)
    assert conninfo_keywords(name) is None
    with open_store(name) as store:
        assert store.path == name
    assert (tmp_path / name).is_file()


def test_a_key_value_name_opens_as_a_sqlite_url(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///host=x.db") as store:
        assert store.path == "host=x.db"

    async def scenario() -> None:
        store = await aio.open_store("sqlite:///host=x.db")
        assert store.store.path == "host=x.db"
        await store.close()

    asyncio.run(scenario())
