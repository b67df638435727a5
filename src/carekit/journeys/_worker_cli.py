"""``carekit worker``: fire deadlines and deliver touchpoints until stopped (private)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import pathlib
import sqlite3
import sys
import urllib.parse
from typing import TYPE_CHECKING, Any, TextIO

from carekit import _cli_args
from carekit._cli_io import named_as_options
from carekit.errors import CareKitError

if TYPE_CHECKING:
    from carekit.journeys.otel import Instrumentation

__all__ = ["add_arguments", "parse_duration", "parse_moment", "remove_logging", "run"]

add_arguments = _cli_args.worker
parse_duration = _cli_args.parse_duration
parse_moment = _cli_args.parse_moment


#: the library's argument names -> the options that set them
_WORKER_OPTIONS = {
    "lease": "--lease", "timeout": "--timeout", "poll": "--poll", "backoff": "--backoff",
    "batch_size": "--batch-size", "max_attempts": "--max-attempts", "claimant": "--claimant",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per log record, with carekit's structured fields."""

    _FIELDS = ("journey_id", "touchpoint", "channel", "key", "attempt", "outcome",
               "latency_ms", "kind", "counters")

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in self._FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                body[name] = value
        if record.exc_info:
            body["error"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


#: The loggers a worker's handler serves besides ``carekit``: the PostgreSQL driver's pool
#: warns there while a database is unreachable ("error connecting in ..."); without a
#: handler those lines reach stderr raw, breaking ``--log-format json``.
_DRIVER_LOGGERS = ("psycopg",)


def configure_logging(level: str, fmt: str, stream: TextIO | None = None) -> logging.Handler:
    """Send the ``carekit`` loggers to ``stream`` (stderr) at ``level``, and the database
    driver's warnings in the same format; return the handler (see :func:`remove_logging`).
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("carekit")
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
    for name in _DRIVER_LOGGERS:  # their level stays theirs (warnings, by default)
        logging.getLogger(name).addHandler(handler)
    return handler


def remove_logging(handler: logging.Handler) -> None:
    """Take back a handler :func:`configure_logging` gave."""
    for name in ("carekit", *_DRIVER_LOGGERS):
        logging.getLogger(name).removeHandler(handler)


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``carekit worker``: 0 after a clean stop (or a pass with nothing dead)."""
    from carekit.journeys.worker import DEFAULT_TIMEOUT, Worker
    from carekit.plugins import CareKit

    if args.now is not None and not args.once:
        msg = "--now needs --once (a running worker follows the clock)"
        raise CareKitError(msg)
    _check_exists(args.store)
    if getattr(args, "otel", False):
        from carekit.journeys import otel

        otel._implementation()  # before anything is opened: the extra may be missing
    # The worker's --log-level holds while it runs; an app that calls main() gets its own
    # level back afterwards (later warnings are not hidden by an earlier --log-level error).
    previous_level = logging.getLogger("carekit").level
    handler = configure_logging(args.log_level, args.log_format)
    try:
        kit = CareKit()
        from carekit.messaging import configure, load_config

        configure(kit, load_config(getattr(args, "config", None)))  # nothing when unset
        store = _open(args.store, kit, wait=not args.once)
        instrumentation = None
        try:
            _warn_if_new(store)
            with named_as_options(_WORKER_OPTIONS):
                worker = Worker(
                    kit, store, lease=args.lease, batch_size=args.batch_size,
                    poll=args.poll, max_attempts=args.max_attempts, backoff=args.backoff,
                    timeout=DEFAULT_TIMEOUT if args.timeout is None else args.timeout,
                    claimant=args.claimant,
                )
            if getattr(args, "otel", False):
                instrumentation = _instrument(worker)
            if args.once:
                now = args.now or dt.datetime.now(dt.timezone.utc)
                # SIGTERM or SIGINT stops the pass as it stops a running worker: the
                # delivery in flight is recorded and the other claims are given back (a
                # cron job's `timeout` or a container stop must not leave them leased).
                with worker._signals(True):
                    report = worker.run_once(now)
                out.write(f"{now.isoformat(timespec='seconds')} {report.summary()}\n")
                for error in dict.fromkeys(report.errors):
                    out.write(f"  error: {error}\n")
                return 1 if report.dead or report.errors else 0
            worker.run()
            counters = worker.counters
            out.write(
                "worker stopped: " + ", ".join(
                    f"{name} {int(value)}" for name, value in counters.items()
                    if name != "lag_seconds"
                ) + "\n"
            )
            return 0
        finally:
            if instrumentation is not None:
                instrumentation.uninstrument()
            store.close()
    finally:
        remove_logging(handler)
        logging.getLogger("carekit").setLevel(previous_level)


def _open(url: str, kit: Any, *, wait: bool) -> Any:
    """Open the store, waiting while its server does not answer (a database restarting).

    A worker started (or restarted by its supervisor) during a database restart would
    otherwise exit at once, and a supervisor that restarts it quickly gives up after a few
    tries; so would one started on a SQLite file another process holds locked for longer
    than its busy timeout (migrating a large file written by an older carekit). The store
    is tried again for as long as a running worker rides out an outage (``STORE_OUTAGE``),
    each failure logged; a login or database refused is not retried, and SIGTERM or SIGINT
    ends the wait with the last error. Without ``wait`` (``--once``: a cron job, or someone
    trying a URL) the first error is the answer.
    """
    import signal
    import threading
    import time

    from carekit.errors import StoreError
    from carekit.journeys import worker as worker_module
    from carekit.journeys.stores.urls import open_store

    give_up = time.monotonic() + worker_module.STORE_OUTAGE.total_seconds()
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}
    try:
        pause = 0.5
        while True:
            try:
                return open_store(url, definitions=kit)
            except StoreError as exc:
                if (not wait or not _transient(exc) or stop.is_set()
                        or time.monotonic() + pause > give_up):
                    raise
                logging.getLogger("carekit.worker").warning(
                    "cannot open the store yet, trying again in %.1f s: %s", pause, exc,
                    extra={"outcome": "store_error"},
                )
            if not previous and threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGTERM, signal.SIGINT):
                    previous[sig] = signal.signal(sig, lambda signum, frame: stop.set())
            stop.wait(pause)
            pause = min(pause * 2, 5.0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _transient(error: BaseException) -> bool:
    """Whether opening a store failed for a moment only: its server did not answer (see
    ``PostgresJourneyStore``), or a SQLite file stayed locked by another process."""
    if getattr(error, "transient", False):
        return True
    cause = error.__cause__
    if not isinstance(cause, sqlite3.OperationalError):
        return False
    text = str(cause).lower()
    return "locked" in text or "busy" in text


def _instrument(worker: Any) -> Instrumentation:
    """``--otel``: report to the global providers, warning when no SDK has set them."""
    from opentelemetry import metrics, trace

    from carekit.journeys.otel import instrument

    unset = [
        name for name, provider in (("tracer", trace.get_tracer_provider()),
                                    ("meter", metrics.get_meter_provider()))
        if type(provider).__name__.startswith(("Proxy", "NoOp", "_Proxy"))
    ]
    if unset:
        logging.getLogger("carekit.worker").warning(
            "--otel: no OpenTelemetry SDK set the global %s provider, so nothing is exported: "
            "run the worker under opentelemetry-instrument (with OTEL_* variables), or from "
            "an app that configures the SDK",
            " and ".join(unset), extra={"outcome": "otel_unconfigured"},
        )
    return instrument(worker)


def _warn_if_new(store: Any) -> None:
    """Warn when opening a PostgreSQL store created its tables (a mistyped ``?schema=``).

    A SQLite file that does not exist is refused (:func:`_check_exists`); a PostgreSQL
    schema cannot be told apart from one the app has not written yet (a worker may start
    first on a new deployment), so the worker runs, but says it is waiting on an empty store.
    """
    migrated = getattr(store, "_migrated", None)
    if migrated is None or migrated[0] != 0:
        return
    logging.getLogger("carekit.worker").warning(
        "schema %r of PostgreSQL journey store %r held no carekit store: its tables were "
        "created empty, and this worker waits for journeys in them (if another schema was "
        "meant, check ?schema= in --store)",
        store.schema, store.url,
    )


def _check_exists(url: str) -> None:
    """Refuse a store that is bound to be empty: a SQLite file that does not exist or is an
    empty file (a mistyped path), a store in memory (``memory://``, ``sqlite:///:memory:``).

    A worker on a new, empty store would wait forever for work nobody gives it. A libpq
    ``key=value`` string is refused first, as ``open_store`` does: it is no path, and the
    "does not exist" message would show its password.
    """
    from carekit.errors import StoreError
    from carekit.journeys.stores.urls import refuse_conninfo

    refuse_conninfo(url)

    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() == "memory":
        msg = (
            "a memory:// store lives inside one process, so this worker's would always be "
            "empty: give the store your app writes to (sqlite:///PATH or postgresql://...)"
        )
        raise StoreError(msg)
    if sep and scheme.lower() != "sqlite":
        return
    path = url
    if sep:
        # The path as open_store reads it: after the third slash, percent-decoded. A URL
        # without that slash (sqlite://x.db) is left to open_store, which shows its form.
        path = rest.partition("?")[0]
        if not path.startswith("/") or path == "/":
            return
        path = urllib.parse.unquote(path[1:])
    if path == ":memory:":
        msg = (
            "a SQLite store in memory (:memory:) lives inside one process, so this worker's "
            "would always be empty: give the file your app writes to (sqlite:///PATH)"
        )
        raise StoreError(msg)
    if path == "":
        return
    file = pathlib.Path(path)
    if not file.is_file() or file.stat().st_size == 0:
        state = "is an empty file" if file.is_file() else "does not exist"
        msg = (
            f"journey store {path!r} {state}: check the path, or create journeys in it first "
            "(carekit journey load EVENTS.csv --store URL)"
        )
        raise StoreError(msg)
