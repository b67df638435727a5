"""The FastAPI example: a real app, its lifespan running the asyncio worker."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib.util
import logging
import pathlib
import socket
import sys
import threading
import time
import urllib.parse
from typing import Any

import pytest
from tests._extras import need
from tests.journeys._postgres import fresh_schema, require_server, with_schema

from carekit import CareKit, StoreError
from carekit.journeys import aio
from carekit.promises import Promise

fastapi = need("fastapi", "test-extras")
testclient = need("fastapi.testclient", "test-extras")

APP = pathlib.Path(__file__).resolve().parents[2] / "examples" / "fastapi-shop" / "app.py"


def _load_app(monkeypatch: pytest.MonkeyPatch, store: str) -> Any:
    monkeypatch.setenv("CAREKIT_STORE", store)
    spec = importlib.util.spec_from_file_location("fastapi_shop_app", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "fastapi_shop_app", module)
    spec.loader.exec_module(module)
    return module


def _wait_for(client: Any, order_id: str, name: str, status: str) -> dict[str, Any]:
    """The order once its outbox shows ``name`` at ``status`` and the journey agrees.

    The app reads the journey and its outbox in two calls, so the worker may settle the
    touchpoint between them: wait for an answer where both reads saw the same moment.
    """
    deadline = time.monotonic() + 10
    while True:
        body: dict[str, Any] = client.get(f"/orders/{order_id}").json()
        settled = body["outbox"].get(name) == status and name not in body["owed"]
        if settled or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_the_shop_places_orders_and_its_worker_sends_what_is_owed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    shop = _load_app(monkeypatch, f"sqlite:///{tmp_path / 'shop.db'}")
    with testclient.TestClient(shop.app) as client:
        placed = client.post("/orders", json={"order_id": "o-1", "customer_id": "c-7"})
        assert placed.status_code == 201
        assert placed.json()["state"] == "placed"
        again = client.post("/orders", json={"order_id": "o-1", "customer_id": "c-7"})
        assert again.status_code == 201  # a retried POST changes nothing
        acked = client.post("/orders/o-1/events", json={"name": "acknowledge", "id": "a-1"})
        assert acked.json() == {"order_id": "o-1", "state": "acknowledged", "version": 2}
        body = _wait_for(client, "o-1", "order_thanks", "sent")
        assert body["outbox"] == {"order_thanks": "sent"} and body["owed"] == []
        wrong = client.post("/orders/o-1/events", json={"name": "deliver"})
        assert wrong.status_code == 409 and "allowed events" in wrong.json()["detail"]
        assert client.get("/orders/nope").status_code == 404
        assert client.post("/orders/nope/events", json={"name": "place"}).status_code == 404
        cancel = client.post("/orders", json={"order_id": "o-2", "customer_id": "c-8"})
        assert cancel.status_code == 201
        client.post("/orders/o-2/events", json={"name": "cancel", "id": "c-2"})
        assert client.get("/outbox").json()["sent"] == 1
    assert shop.app.state.channels.sent == ["o-1/order_thanks/2"]


def test_a_retried_order_answers_with_the_promise_it_stored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    # Regression: a retry recomputed the promise from its own clock and body and answered
    # 201 with it, while the stored place event kept the first one.
    shop = _load_app(monkeypatch, f"sqlite:///{tmp_path / 'shop.db'}")
    with testclient.TestClient(shop.app) as client:
        first = client.post("/orders", json={"order_id": "o-1", "customer_id": "c-7",
                                             "weeks": 3})
        assert first.status_code == 201
        later = shop.now() + dt.timedelta(days=30)
        monkeypatch.setattr(shop, "now", lambda: later)
        again = client.post("/orders", json={"order_id": "o-1", "customer_id": "c-7",
                                             "weeks": 10})
        assert again.status_code == 201
        assert again.json() == first.json()
        bad = client.post("/orders", json={"order_id": "o-1", "customer_id": "c-7",
                                           "weeks": 0})
        assert bad.status_code == 422  # refused before the store is touched
        [placed] = [e for e in client.app.state.store.store.events("o-1") if e.name == "place"]
        stored = Promise.from_dict(placed.data["promise"])
        assert stored.promised.isoformat() == first.json()["promised"]
        fresh = client.post("/orders", json={"order_id": "o-2", "customer_id": "c-8",
                                             "weeks": 10})
        assert fresh.json()["promised"] > first.json()["promised"]


def test_a_store_that_fails_answers_503_so_clients_retry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    # Regression: a busy connection pool or a database restarting (StoreError, a
    # CareKitError) was answered 422, which tells a client not to retry a request that was
    # fine; GET endpoints answered 500.
    shop = _load_app(monkeypatch, f"sqlite:///{tmp_path / 'shop.db'}")

    async def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("all 2 pooled connections stayed busy for 1 s")

    with testclient.TestClient(shop.app) as client:
        placed = client.post("/orders", json={"order_id": "o-1", "customer_id": "c-7"})
        assert placed.status_code == 201
        store = client.app.state.store
        for name in ("create", "append", "load", "outbox_counts"):
            monkeypatch.setattr(store, name, unavailable)
        answers = [
            client.post("/orders", json={"order_id": "o-2", "customer_id": "c-8"}),
            client.post("/orders/o-1/events", json={"name": "acknowledge", "id": "a-1"}),
            client.get("/orders/o-1"),
            client.get("/outbox"),
        ]
        assert [a.status_code for a in answers] == [503] * 4
        assert all(a.headers["retry-after"] == "1" for a in answers)
        assert answers[0].json() == {"detail": "the order store is unavailable; try again"}


class _Proxy:
    """A TCP proxy on 127.0.0.1 to ``target``: connections are refused until :meth:`up`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as probe:  # a port nobody listens on, for now
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []

    def up(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.1)
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while listener.fileno() != -1:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        for sock in self._sockets:
            sock.close()


def test_the_shop_starts_while_the_database_is_down_and_works_once_it_is_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Regression: the lifespan opened the store, so with PostgreSQL unreachable at start
    # the app did not start at all (uvicorn exited).
    need("psycopg", "postgres")
    server = urllib.parse.urlsplit(require_server())
    proxy = _Proxy((server.hostname or "127.0.0.1", server.port or 5432))
    user, at, _ = server.netloc.rpartition("@")
    through = urllib.parse.urlunsplit(server._replace(netloc=f"{user}{at}127.0.0.1:{proxy.port}"))
    order = {"order_id": "o-1", "customer_id": "c-7"}
    try:
        with fresh_schema() as schema:
            shop = _load_app(monkeypatch, with_schema(through, schema))
            with caplog.at_level(logging.WARNING, logger="shop"), \
                    testclient.TestClient(shop.app) as client:
                down = [client.post("/orders", json=order), client.get("/orders/o-1"),
                        client.get("/outbox")]
                assert [a.status_code for a in down] == [503] * 3
                assert all(a.headers["retry-after"] == "1" for a in down)
                time.sleep(0.5)
                assert "the worker tries again in" in caplog.text
                proxy.up()
                deadline = time.monotonic() + 10
                while (placed := client.post("/orders", json=order)).status_code == 503:
                    assert time.monotonic() < deadline, placed.json()
                    time.sleep(0.1)
                assert placed.status_code == 201
                acked = client.post("/orders/o-1/events",
                                    json={"name": "acknowledge", "id": "a-1"})
                assert acked.status_code == 200
                body = _wait_for(client, "o-1", "order_thanks", "sent")  # the worker too
                assert body["outbox"] == {"order_thanks": "sent"}
            assert shop.app.state.channels.sent == ["o-1/order_thanks/2"]
    finally:
        proxy.close()


def test_the_shops_worker_waits_for_the_database_longer_each_time(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    shop = _load_app(monkeypatch, "memory://")
    stop = asyncio.Event()

    class Unreachable(aio.ThreadedStore):
        """Cannot be opened the first five times."""

        tries = 0

        def __await__(self) -> Any:
            Unreachable.tries += 1
            if Unreachable.tries <= 5:
                raise StoreError("connection refused")
            stop.set()  # reached: the worker runs one pass, then the test ends
            return super().__await__()

    async def main() -> None:
        store = Unreachable(aio.open_store("memory://").store)
        worker = aio.Worker(CareKit(), store)
        await shop.keep_working(worker, store, stop, first=0.01, longest=0.04)

    with caplog.at_level(logging.WARNING, logger="shop"):
        asyncio.run(main())
    waits = [r.args[0] for r in caplog.records if "tries again in" in r.getMessage()]
    assert waits == [0.01, 0.02, 0.04, 0.04, 0.04]
