"""The FastAPI example: a real app, its lifespan running the asyncio worker."""

from __future__ import annotations

import datetime as dt
import importlib.util
import pathlib
import sys
import time
from typing import Any

import pytest
from tests._extras import need

from carekit import StoreError
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
