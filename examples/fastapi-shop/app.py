"""A made-to-order furniture shop's order service: FastAPI with carekit from asyncio.

Every order is a carekit order journey in the store ``CAREKIT_STORE`` names (default: a
SQLite file ``shop.db`` here; ``postgresql://...`` with ``carekit[postgres]``). The web
handlers append what happens; an asyncio worker, started and stopped with the app, fires
the deadlines (an order not acknowledged within the hour), re-checks the delivery promise
and sends the touchpoints owed through the channel plugins: here one that logs each
message, where a real shop installs an email or SMS plugin.

Run it with ``uvicorn app:app`` (``pip install fastapi uvicorn``), then::

    curl -X POST localhost:8000/orders -H 'content-type: application/json' \\
         -d '{"order_id": "o-1", "customer_id": "c-7", "weeks": 3}'
    curl -X POST localhost:8000/orders/o-1/events -H 'content-type: application/json' \\
         -d '{"name": "acknowledge", "id": "ack-o-1"}'
    curl localhost:8000/orders/o-1
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from carekit import (
    CareKit,
    CareKitError,
    InvalidTransition,
    StoreError,
    UnknownJourney,
    hookimpl,
)
from carekit.calendar import BusinessCalendar
from carekit.channels import DeliveryResult
from carekit.journeys import Event, aio, order_journey
from carekit.promises import PaddedEstimator, Promise

log = logging.getLogger("shop")
CALENDAR = BusinessCalendar(cutoff=dt.time(14), tz="Europe/London")


class LogChannels:
    """Stands in for real email/SMS plugins: logs each message and remembers it."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    @hookimpl
    async def carekit_deliver_touchpoint(
        self, touchpoint: Any, idempotency_key: str
    ) -> DeliveryResult:
        log.info("to %s: %s", touchpoint.customer_id, touchpoint.name)
        self.sent.append(idempotency_key)
        return DeliveryResult(reference=idempotency_key)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


async def keep_working(
    worker: aio.Worker, store: Any, stop: asyncio.Event, *, first: float = 1.0,
    longest: float = 30.0,
) -> None:
    """Run the worker until ``stop`` is set, through database outages of any length.

    The store opens on first use: while the database cannot be reached (down when the app
    starts, or down longer than the worker rides out by itself), try again after ``first``
    seconds, then twice as long each time, at most ``longest``.
    """
    delay = first
    while not stop.is_set():
        passes = worker.counters["passes"]
        try:
            await store  # connects (PostgreSQL), or says why it cannot
            await worker.run(stop, handle_signals=False)
            return
        except StoreError as exc:
            if worker.counters["passes"] > passes:
                delay = first  # it worked for a while: a new outage
            log.warning("the order store is unavailable; the worker tries again in %g s: %s",
                        delay, exc)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, longest)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    channels = LogChannels()
    kit = CareKit(plugins=[channels])
    # Not awaited: the app starts while the database is down, answering 503 until it is
    # back (each request tries to connect), and the worker waits for it (keep_working).
    store = aio.open_store(os.environ.get("CAREKIT_STORE", "sqlite:///shop.db"),
                           definitions=kit)
    worker = aio.Worker(kit, store, poll=dt.timedelta(milliseconds=200))
    stop = asyncio.Event()
    # uvicorn handles SIGTERM itself and ends the lifespan: the worker stops with it.
    running = asyncio.create_task(keep_working(worker, store, stop))
    app.state.kit, app.state.store, app.state.channels = kit, store, channels
    try:
        yield
    finally:
        stop.set()
        await running  # the deliveries in flight finish and are recorded
        await store.close()


app = FastAPI(title="Furniture shop orders", lifespan=lifespan)


@app.exception_handler(StoreError)
async def store_unavailable(request: Request, exc: StoreError) -> JSONResponse:
    """The database is down (at start too) or every pooled connection is busy: 503.

    Clients retry after ``Retry-After``; the app connects again on the next request.

    Not 422: the request was fine, and retrying it is safe (the same ids store nothing twice).
    """
    log.warning("%s %s: the store failed: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": "the order store is unavailable; try again"},
                        status_code=503, headers={"Retry-After": "1"})


class NewOrder(BaseModel):
    order_id: str
    customer_id: str
    channel: str = "email"
    tz: str | None = None
    weeks: int = Field(default=3, ge=1, le=52, description="how long making it takes")


class NewEvent(BaseModel):
    name: str
    id: str | None = None
    data: dict[str, Any] | None = None


@app.post("/orders", status_code=201)
async def place_order(order: NewOrder) -> dict[str, Any]:
    """Place an order: a retried POST is harmless (same journey, the same event id).

    It answers with the promise the order was placed with: a retry (after a timeout, say)
    stores nothing new, so the promise it would compute from its own clock and body is not
    the customer's.
    """
    store, kit = app.state.store, app.state.kit
    at = now()
    promise = PaddedEstimator().promise(
        at, calendar=CALENDAR, expected=dt.timedelta(weeks=order.weeks)
    )
    try:
        await store.create(order_journey(), order.order_id, at=at, exist_ok=True,
                           customer_id=order.customer_id, channel=order.channel, tz=order.tz)
        journey = await store.append(
            order.order_id,
            Event("place", at=at, id=f"{order.order_id}/place",
                  data={"promise": promise.to_dict()}),
            kit=kit,
        )
        placed = next(event for event in await store.events(order.order_id)
                      if event.id == f"{order.order_id}/place")
        promise = Promise.from_dict(placed.data["promise"])
    except StoreError:
        raise  # 503 (store_unavailable)
    except CareKitError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    return {"order_id": journey.journey_id, "state": journey.state,
            "promised": promise.promised.isoformat()}


@app.post("/orders/{order_id}/events")
async def add_event(order_id: str, event: NewEvent) -> dict[str, Any]:
    """Something happened to the order (acknowledged, shipped, cancelled…)."""
    try:
        journey = await app.state.store.append(
            order_id, Event(event.name, at=now(), id=event.id, data=event.data),
            kit=app.state.kit,
        )
    except UnknownJourney:
        raise HTTPException(status_code=404, detail=f"no order {order_id!r}") from None
    except InvalidTransition as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    except StoreError:
        raise  # 503 (store_unavailable)
    except CareKitError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    return {"order_id": order_id, "state": journey.state, "version": journey.version}


@app.get("/orders/{order_id}")
async def get_order(order_id: str) -> dict[str, Any]:
    """Where the order is, and what the shop still owes the customer."""
    store = app.state.store
    try:
        journey = await store.load(order_id)
    except UnknownJourney:
        raise HTTPException(status_code=404, detail=f"no order {order_id!r}") from None
    # Two reads: the worker may settle a touchpoint between them, so for a moment the
    # outbox can say "sent" while the journey read just before still lists it as owed.
    outbox = await store.outbox(order_id)
    return {
        "order_id": order_id,
        "state": journey.state,
        "owed": [tp.name for tp in journey.owed],
        "outbox": {entry.name: entry.status for entry in outbox},
    }


@app.get("/outbox")
async def outbox_counts() -> dict[str, int]:
    """How many messages are pending, sent, failed… (for a dashboard or an alert)."""
    counts: dict[str, int] = await app.state.store.outbox_counts()
    return counts
