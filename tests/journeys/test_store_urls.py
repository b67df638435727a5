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


def test_a_path_object_opens_a_sqlite_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "journeys.db"
    with open_store(path) as store:
        assert store.path == str(path)
    assert path.is_file()

    async def scenario() -> None:
        store = await aio.open_store(path)
        assert store.store.path == str(path)
        await store.close()

    asyncio.run(scenario())


class _BytesPath:
    def __fspath__(self) -> bytes:
        return b"journeys.db"


@pytest.mark.parametrize(
    ("url", "match"),
    [
        (5, r"url must name a journey store, such as .*, or be the path of a SQLite file "
            r"\(got 5\)"),
        (b"journeys.db", r"or be the path of a SQLite file \(got b'journeys.db'\)"),
        (_BytesPath(), r"path must be a file path or ':memory:'"),
    ],
)
def test_what_is_neither_a_url_nor_a_path_is_refused(url: object, match: str) -> None:
    with pytest.raises(CareKitError, match=match):
        open_store(url)  # type: ignore[arg-type]
