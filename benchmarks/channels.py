"""Benchmark: touchpoints per second through the SMTP plugin to a local SMTP server.

An aiosmtpd server (``aiosmtpd.handlers.Sink``: it accepts and drops every message) runs in
its own process on 127.0.0.1. Each run delivers N ``order_thanks`` touchpoints owed in a
SQLite journey store (``synchronous=FULL``, each outcome and each ``sent_keys`` note
committed), rendered from templates, side by side with:

* **hand-written, a connection per message**: what a shop writes first (``smtplib.SMTP``,
  ``send_message``, ``quit`` in a loop; no store, no templates, no dedupe);
* **hand-written limit, one connection**: ``send_message`` in a loop on one open
  connection (no store, no templates, no dedupe): the most a single sender gets;
* **EmailChannel + blocking Worker**: one delivery at a time (a pooled connection), also
  with the store at ``synchronous=NORMAL`` to show what the two durable commits per
  touchpoint (the ``sent_keys`` note and the outcome) cost;
* **EmailChannel + asyncio Worker** with the channel's concurrency at 1, 4 and 10 (blocking
  plugin calls run in threads; the store through ``ThreadedStore``).

Best of N runs (the machine is shared); the table gives the ratio to the connection-per-
message loop. Run: ``python benchmarks/channels.py [--quick] [--n 500] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import email.message
import os
import pathlib
import platform
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from carekit.journeys import Event, SQLiteJourneyStore, Worker, aio, order_journey
from carekit.messaging import EmailChannel, Templates
from carekit.testing import make_carekit

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
TOUCHPOINTS = ("order_thanks", "production_update", "shipped_with_tracking",
               "satisfaction_check", "promise_at_risk_notice")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
         "-c", "aiosmtpd.handlers.Sink"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=1) as probe:
                probe.noop()
            return server, port
        except OSError:
            time.sleep(0.05)
    server.kill()
    msg = "the SMTP server did not start"
    raise RuntimeError(msg)


def templates(folder: pathlib.Path) -> Templates:
    (folder / "email").mkdir(parents=True, exist_ok=True)
    for name in TOUCHPOINTS:
        (folder / "email" / f"{name}.subject").write_text(
            "Thank you for order {{ journey_id }}\n")
        (folder / "email" / f"{name}.txt").write_text(
            "Hello {{ recipient.name }},\n\nwe have your order {{ journey_id }} and will make "
            "it by hand.\n\nOak & Ash\n")
        (folder / "email" / f"{name}.html").write_text(
            "<p>Hello {{ recipient.name }},</p><p>we have your order {{ journey_id }}.</p>\n")
    return Templates(folder, default_locale="en_GB")


def owing_store(path: pathlib.Path, n: int, synchronous: str = "FULL") -> SQLiteJourneyStore:
    store = SQLiteJourneyStore(path, synchronous=synchronous)
    for i in range(n):
        store.create(order_journey(), f"order-{i}", at=T0, customer_id=f"c-{i}",
                     channel="email")
        store.append(f"order-{i}", [Event("place", at=T0, id=f"p{i}"),
                                    Event("acknowledge", at=T0, id=f"a{i}")])
    return store


def channel(port: int, folder: pathlib.Path, n: int) -> EmailChannel:
    people = {f"c-{i}": f"customer{i}@example.com" for i in range(n)}
    return EmailChannel(f"smtp://127.0.0.1:{port}?security=none",
                        sender="Oak & Ash <care@oakandash.example>", templates=templates(folder),
                        journeys=[order_journey()], address=people)


def message(i: int) -> email.message.EmailMessage:
    msg = email.message.EmailMessage()
    msg["From"] = "care@oakandash.example"
    msg["To"] = f"customer{i}@example.com"
    msg["Subject"] = f"Thank you for order order-{i}"
    msg.set_content(f"Hello,\n\nwe have your order order-{i}.\n")
    return msg


def per_message(port: int, n: int, work: pathlib.Path) -> float:
    started = time.perf_counter()
    for i in range(n):
        with smtplib.SMTP("127.0.0.1", port) as conn:
            conn.send_message(message(i))
    return time.perf_counter() - started


def one_connection(port: int, n: int, work: pathlib.Path) -> float:
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as conn:
        for i in range(n):
            conn.send_message(message(i))
    return time.perf_counter() - started


def blocking_worker(synchronous: str) -> Callable[[int, int, pathlib.Path], float]:
    def run(port: int, n: int, work: pathlib.Path) -> float:
        store = owing_store(work / "b.db", n, synchronous)
        email = channel(port, work / "t", n)
        worker = Worker(make_carekit(email), store, batch_size=100)
        started = time.perf_counter()
        report = worker.run_once(T0)
        elapsed = time.perf_counter() - started
        assert report.sent == n, report.summary()
        email.close()
        store.close()
        return elapsed

    return run


def asyncio_worker(concurrency: int) -> Callable[[int, int, pathlib.Path], float]:
    def run(port: int, n: int, work: pathlib.Path) -> float:
        blocking = owing_store(work / f"a{concurrency}.db", n)
        email = channel(port, work / "t", n)

        async def main() -> float:
            store = aio.ThreadedStore(blocking)
            worker = aio.Worker(make_carekit(email), store, batch_size=100,
                                concurrency=concurrency)
            started = time.perf_counter()
            report = await worker.run_once(T0)
            elapsed = time.perf_counter() - started
            assert report.sent == n, report.summary()
            return elapsed

        elapsed = asyncio.run(main())
        email.close()
        blocking.close()
        return elapsed

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="touchpoints per run (default 500)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row, best kept")
    parser.add_argument("--quick", action="store_true", help="100 touchpoints, 1 run")
    args = parser.parse_args()
    n, repeat = (100, 1) if args.quick else (args.n, args.repeat)
    rows: list[tuple[str, Callable[[int, int, pathlib.Path], float]]] = [
        ("hand-written smtplib, a connection per message", per_message),
        ("hand-written limit: smtplib, one connection", one_connection),
        ("EmailChannel + Worker (blocking, sequential)", blocking_worker("FULL")),
        ("same, store synchronous=NORMAL (no fsync per commit)", blocking_worker("NORMAL")),
        ("EmailChannel + asyncio Worker, concurrency 1", asyncio_worker(1)),
        ("EmailChannel + asyncio Worker, concurrency 4", asyncio_worker(4)),
        ("EmailChannel + asyncio Worker, concurrency 10", asyncio_worker(10)),
    ]
    server, port = start_server()
    try:
        results = []
        for label, fn in rows:
            best = float("inf")
            for _ in range(repeat):
                with tempfile.TemporaryDirectory() as tmp:
                    best = min(best, fn(port, n, pathlib.Path(tmp)))
            results.append((label, n / best))
    finally:
        server.terminate()
        server.wait(10)
    base = results[0][1]
    print(f"Touchpoints per second to a local SMTP server (aiosmtpd Sink, another process), "
          f"{n} per run, best of {repeat}; Python {platform.python_version()}, "
          f"{os.cpu_count()} cores, {dt.date.today().isoformat()}.\n")
    print("| how | touchpoints/s | vs a connection per message |")
    print("|---|---:|---:|")
    for label, rate in results:
        print(f"| {label} | {rate:,.0f} | {rate / base:.2f}× |")


if __name__ == "__main__":
    main()
