"""``open_store`` and ``aio.open_store``: which strings name which store, and what is refused."""

from __future__ import annotations

import asyncio
import pathlib

import pytest
from tests.journeys._store_helpers import T0

from carekit import CareKitError, StoreError
from carekit.journeys import aio, open_store, order_journey
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


def test_mode_ro_opens_a_sqlite_url_read_only(tmp_path: pathlib.Path) -> None:
    url = f"sqlite:///{tmp_path / 'j.db'}"
    with open_store(url + "?mode=rwc") as store:
        store.create(order_journey(), "o-1", at=T0)
    with open_store(url + "?mode=ro") as store:
        assert store.load("o-1").state == "new"
        with pytest.raises(StoreError, match="read_only=True"):
            store.create(order_journey(), "o-2", at=T0)
    with open_store(url + "?mode=ro", read_only=True) as store:
        assert store.load("o-1").version == 0
    with pytest.raises(StoreError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path / 'none.db'}?mode=ro")

    async def scenario() -> None:
        store = await aio.open_store(url + "?mode=ro")
        assert (await store.load("o-1")).state == "new"
        await store.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("query", "options", "match"),
    [
        ("?cache=shared", {}, r"takes one query parameter, mode=ro .*; got 'cache' in "),
        ("?mode=ro&busy_timeout=5", {}, r"got 'busy_timeout'"),
        ("?mode=rw", {}, r"mode is given once, as ro .* or rwc .* \(got 'rw' in "),
        ("?mode=ro&mode=rwc", {}, r"\(got \['ro', 'rwc'\] in "),
        ("?mode=ro", {"read_only": False}, r"read_only=False contradicts mode=ro"),
        ("?password=s3cret", {}, r"got 'password' in '.*\?password=\*\*\*'"),
    ],
)
def test_other_sqlite_url_parameters_are_refused_not_dropped(
    tmp_path: pathlib.Path, query: str, options: dict[str, object], match: str
) -> None:
    for opener in (open_store, aio.open_store):
        with pytest.raises(CareKitError, match=match) as info:
            opener(f"sqlite:///{tmp_path / 'j.db'}{query}", **options)
        assert "s3cret" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "url", ["memory:", "memory:/", "sqlite:journeys.db", "SQLite:/journeys.db", "sqlite::memory:",
            "postgresql:/shop", "postgres:care:s3cret@db/shop"],
)
def test_a_scheme_without_slashes_is_refused_rather_than_made_a_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for opener in (open_store, aio.open_store):
        with pytest.raises(CareKitError, match=r"journey store URL but has no '//'") as info:
            opener(url)
        assert "s3cret" not in str(info.value) and "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []  # no SQLite file named after it


def test_a_file_name_with_a_scheme_and_colon_opens_written_as_a_path(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_store("./memory:") as store:
        assert store.path == "./memory:"
    assert (tmp_path / "memory:").is_file()
