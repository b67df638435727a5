"""``carekit journey dispatch`` and the durable part of the journeys demo (private)."""

from __future__ import annotations

import argparse
import datetime as dt
import pathlib
import time
from collections.abc import Callable
from typing import TextIO

from carekit import _cli_args
from carekit.errors import CareKitError, StoreError

__all__ = ["add_dispatch_arguments", "run_dispatch"]


add_dispatch_arguments = _cli_args.dispatch
#: The longest --loop pause: a day (time.sleep overflows near 10**10 seconds).
MAX_LOOP_SECONDS = _cli_args.MAX_LOOP_SECONDS


def run_dispatch(
    args: argparse.Namespace,
    out: TextIO,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run ``carekit journey dispatch``; 0 when everything due went out, 1 otherwise.

    Raises:
        StoreError: the store does not exist or cannot be opened.
    """
    from carekit.journeys.sqlite_store import SQLiteJourneyStore
    from carekit.plugins import CareKit

    if args.rounds is not None and args.loop is None:
        msg = "--rounds needs --loop SECONDS"
        raise CareKitError(msg)
    db: pathlib.Path = args.db
    if not db.is_file() or db.stat().st_size == 0:
        state = "is empty" if db.is_file() else "does not exist"
        msg = (
            f"journey store {str(db)!r} {state}; create journeys in it first "
            "(carekit journey load EVENTS.csv --store PATH)"
        )
        raise StoreError(msg)
    kit = CareKit()
    status = 0
    batches = 0
    rounds = 0
    with SQLiteJourneyStore(db, definitions=kit) as store:
        while True:
            now = args.now if args.now is not None else dt.datetime.now(dt.timezone.utc)
            left = None if args.max_batches is None else args.max_batches - batches
            report = kit.dispatch(
                store, now=now, batch_size=args.batch_size, max_attempts=args.max_attempts,
                max_batches=left,
            )
            batches += report.batches
            rounds += 1
            out.write(f"{now.isoformat(timespec='seconds')} {report.summary()}\n")
            for attempt in report.sent:
                out.write(f"  sent    {attempt.idempotency_key} via {attempt.channel}\n")
            for attempt in report.failed:
                when = attempt.retry_at.isoformat(timespec="seconds") if attempt.retry_at else "-"
                out.write(f"  failed  {attempt.idempotency_key}: {attempt.error} "
                          f"(retry at {when})\n")
            for attempt in report.dead:
                out.write(f"  dead    {attempt.idempotency_key}: {attempt.error}\n")
            if report.errors or report.dead:
                status = 1
            if args.loop is None:
                break
            if args.max_batches is not None and batches >= args.max_batches:
                break
            if args.rounds is not None and rounds >= args.rounds:
                break
            try:
                sleep(args.loop)
            except KeyboardInterrupt:
                break
    return status
