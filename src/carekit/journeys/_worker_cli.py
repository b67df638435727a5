"""``carekit worker``: fire deadlines and deliver touchpoints until stopped (private)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import pathlib
import re
import sys
from typing import Any, TextIO

from carekit.errors import CareKitError

__all__ = ["add_arguments", "parse_duration", "parse_moment", "run"]

_UNITS = {
    "ms": dt.timedelta(milliseconds=1),
    "s": dt.timedelta(seconds=1),
    "m": dt.timedelta(minutes=1),
    "h": dt.timedelta(hours=1),
    "d": dt.timedelta(days=1),
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
#: The longest duration an option takes (a year).
_LONGEST = dt.timedelta(days=366)
_LEVELS = ("debug", "info", "warning", "error")


def parse_duration(text: str) -> dt.timedelta:
    """``"30s"``, ``"500ms"``, ``"5m"``, ``"1h"``, ``"2d"`` or a number of seconds.

    Raises:
        argparse.ArgumentTypeError: anything else, zero, or more than a year.
    """
    match = _DURATION.match(text)
    if match is None:
        msg = f"expected a duration such as 30s, 500ms, 5m or 1h (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    number, unit = match.groups()
    try:
        value = float(number) * _UNITS[unit or "s"]
    except OverflowError:
        value = _LONGEST * 2
    if value <= dt.timedelta(0) or value > _LONGEST:
        msg = f"expected a duration above zero and at most a year (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1_000_000:
        msg = f"expected a whole number from 1 to 1000000 (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return value


def parse_moment(text: str) -> dt.datetime:
    """An ISO 8601 time with a UTC offset (``--now``).

    Raises:
        argparse.ArgumentTypeError: no offset, or not a time.
    """
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        msg = (
            "expected an ISO 8601 time with a UTC offset, e.g. 2026-03-02T09:00+00:00 "
            f"(got {text!r})"
        )
        raise argparse.ArgumentTypeError(msg)
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``carekit worker``."""
    parser.add_argument(
        "--store", required=True, metavar="URL",
        help="the journey store: sqlite:///path.db, postgresql://user@host:port/db or a path",
    )
    parser.add_argument("--once", action="store_true",
                        help="one pass (fire what is due, deliver what may be sent), then exit")
    parser.add_argument("--now", type=parse_moment, default=None, metavar="TIME",
                        help="with --once: work as of this time instead of the clock")
    parser.add_argument("--lease", type=parse_duration, default=dt.timedelta(seconds=30),
                        metavar="DURATION",
                        help="how long a claim keeps other workers away; a crashed worker's "
                        "claims are taken over after it (default 30s)")
    parser.add_argument("--poll", type=parse_duration, default=dt.timedelta(seconds=1),
                        metavar="DURATION", help="wait when nothing is due (default 1s)")
    parser.add_argument("--batch-size", type=_positive, default=100, metavar="N",
                        help="touchpoints claimed at once (default 100)")
    parser.add_argument("--max-attempts", type=_positive, default=5, metavar="N",
                        help="attempts before a touchpoint is dead-lettered (default 5)")
    parser.add_argument("--backoff", type=parse_duration, default=dt.timedelta(minutes=1),
                        metavar="DURATION",
                        help="wait after a first failed attempt; doubles after each (default 1m)")
    parser.add_argument("--timeout", type=parse_duration, default=dt.timedelta(seconds=20),
                        metavar="DURATION",
                        help="longest a delivery may take before it counts as failed "
                        "(default 20s; must be shorter than --lease)")
    parser.add_argument("--claimant", default=None, metavar="NAME",
                        help="this worker's name in claims and logs (default: host-pid-random)")
    parser.add_argument("--log-level", choices=_LEVELS, default="info",
                        help="log level of the carekit loggers on stderr (default info)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="log lines as text or as one JSON object each (default text)")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="messaging channels (email, Apprise) and their templates, from "
                        "a TOML file (default: CAREKIT_CONFIG; CAREKIT_SMTP_URL and the other "
                        "CAREKIT_* variables also configure them)")


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


def configure_logging(level: str, fmt: str, stream: TextIO | None = None) -> logging.Handler:
    """Send the ``carekit`` loggers to ``stream`` (stderr) at ``level``; return the handler."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("carekit")
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
    return handler


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``carekit worker``: 0 after a clean stop (or a pass with nothing dead)."""
    from carekit.journeys.stores.urls import open_store
    from carekit.journeys.worker import Worker
    from carekit.plugins import CareKit

    if args.now is not None and not args.once:
        msg = "--now needs --once (a running worker follows the clock)"
        raise CareKitError(msg)
    _check_exists(args.store)
    handler = configure_logging(args.log_level, args.log_format)
    try:
        kit = CareKit()
        from carekit.messaging import configure, load_config

        configure(kit, load_config(getattr(args, "config", None)))  # nothing when unset
        store = open_store(args.store, definitions=kit)
        try:
            worker = Worker(
                kit, store, lease=args.lease, batch_size=args.batch_size, poll=args.poll,
                max_attempts=args.max_attempts, backoff=args.backoff, timeout=args.timeout,
                claimant=args.claimant,
            )
            if args.once:
                now = args.now or dt.datetime.now(dt.timezone.utc)
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
            store.close()
    finally:
        logging.getLogger("carekit").removeHandler(handler)


def _check_exists(url: str) -> None:
    """Refuse a SQLite store that does not exist or is an empty file (a mistyped path).

    A worker on a new, empty store would wait forever for work nobody gives it.
    """
    from carekit.errors import StoreError

    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() != "sqlite":
        return
    path = rest.partition("?")[0][1:] if sep else url
    if path in ("", ":memory:"):
        return
    file = pathlib.Path(path)
    if not file.is_file() or file.stat().st_size == 0:
        state = "is an empty file" if file.is_file() else "does not exist"
        msg = (
            f"journey store {path!r} {state}: check the path, or create journeys in it first "
            "(carekit journey load EVENTS.csv --store URL)"
        )
        raise StoreError(msg)
