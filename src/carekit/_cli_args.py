"""The options of every ``carekit`` subcommand, apart from the code that runs them (private).

``carekit --help``, ``carekit --version`` and ``carekit COMMAND --help`` import this module and
nothing of the capabilities: a command's own module (and with it numerics, SQLite, pluggy) is
imported only to run it. Keep it that way: this module imports only the standard library's
light modules, and the option types below import what they need when they are called.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    import pathlib

__all__ = [
    "PROGRESS_BYTES",
    "journey",
    "metrics",
    "parse_duration",
    "parse_interval",
    "parse_moment",
    "promise",
    "staffing",
    "staffing_schedule",
    "worker",
]

#: Files larger than this show progress on stderr while they are read (on a terminal).
PROGRESS_BYTES = 1_000_000

# -- option types -----------------------------------------------------------------------------


def _path(text: str) -> pathlib.Path:
    import pathlib

    return pathlib.Path(text)


_path.__name__ = "path"


def _sqlite_path(text: str) -> pathlib.Path:
    """The path of a SQLite file; a URL is refused without echoing it (it may hold a password).

    Raises:
        argparse.ArgumentTypeError: ``text`` is a URL (``scheme://...``) or a libpq
            ``key=value`` connection string (only its keywords are named).
    """
    if "://" in text:
        msg = (
            "expected the path of a SQLite file, not a URL (a store URL goes to "
            "carekit worker --store URL --once)"
        )
        raise argparse.ArgumentTypeError(msg)
    from carekit.journeys.stores.urls import conninfo_keywords

    keywords = conninfo_keywords(text)
    if keywords is not None:
        msg = (
            "expected the path of a SQLite file, not a libpq key=value connection string "
            f"({', '.join(f'{k}=...' for k in keywords)}); a PostgreSQL store goes to "
            "carekit worker --store postgresql://USER:PASSWORD@HOST:PORT/DBNAME --once"
        )
        raise argparse.ArgumentTypeError(msg)
    return _path(text)


_sqlite_path.__name__ = "path"

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


def parse_duration(text: str) -> dt.timedelta:
    """``"30s"``, ``"500ms"``, ``"5m"``, ``"1h"``, ``"2d"`` or a number of seconds.

    Raises:
        argparse.ArgumentTypeError: anything else, zero, or more than a year.
    """
    match = _DURATION.match(text)
    if match is None and _DURATION.match(text.strip().removeprefix("-")):
        msg = f"expected a duration above zero and at most a year (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
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


#: The options whose value is a duration (``carekit worker``).
DURATION_OPTIONS = frozenset({"--lease", "--poll", "--backoff", "--timeout"})


def join_negative_durations(words: list[str]) -> list[str]:
    """``--lease -5s`` as ``--lease=-5s``, so the duration's own check refuses it.

    argparse takes a word that starts with ``-`` and is not a plain number for an option, so
    ``--lease -5s`` got "expected one argument", which hides what is wrong.
    """
    joined: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        following = words[i + 1] if i + 1 < len(words) else ""
        if word in DURATION_OPTIONS and re.match(r"-\d", following):
            joined.append(f"{word}={following}")
            i += 2
            continue
        joined.append(word)
        i += 1
    return joined


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


_INTERVAL_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
}
_INTERVAL_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)", re.IGNORECASE)
_ISO_DURATION = re.compile(
    r"PT(?=\d)(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?", re.IGNORECASE
)
_NUMBER = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)\s*")


def parse_interval(text: str) -> dt.timedelta:
    """An interval length with its unit: ``30min``, ``1800s``, ``1h``, ``1h30min``, ``PT30M``.

    A bare number is refused: ``--interval 30`` could mean 30 minutes or 30 seconds.

    Raises:
        argparse.ArgumentTypeError: a bare number, an unknown unit, zero, or a length
            a ``datetime.timedelta`` cannot hold.
    """
    if _NUMBER.fullmatch(text):
        number = text.strip()
        msg = (
            f"{number!r} has no unit: write {number}min for {number} minutes or {number}s for "
            f"{number} seconds (also 1h or ISO 8601 PT30M)"
        )
        raise argparse.ArgumentTypeError(msg)
    seconds = 0.0
    iso = _ISO_DURATION.fullmatch(text.strip())
    if iso is not None:
        hours, minutes, secs = (float(part or 0) for part in iso.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    else:
        position = 0
        stripped = text.strip()
        while position < len(stripped):
            match = _INTERVAL_PART.match(stripped, position)
            unit = match.group(2).lower() if match is not None else ""
            if match is None or unit not in _INTERVAL_UNITS:
                msg = (
                    f"expected an interval length with its unit, such as 30min, 1800s, 1h or "
                    f"PT30M (got {text!r})"
                )
                raise argparse.ArgumentTypeError(msg)
            seconds += float(match.group(1)) * _INTERVAL_UNITS[unit]
            position = match.end()
    try:
        value = dt.timedelta(seconds=seconds)
    except OverflowError:
        value = dt.timedelta(0)
        seconds = -1.0
    if seconds <= 0 or value <= dt.timedelta(0):
        msg = f"expected an interval length above zero, such as 30min (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return value


def _time_seconds(text: str) -> float:
    """Seconds: a bare number (``300``), or a length with its unit (``5min``, ``PT5M``).

    The planning functions check the value itself (above zero, finite).

    Raises:
        argparse.ArgumentTypeError: neither a number nor a length with a unit.
    """
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_interval(text).total_seconds()
    except argparse.ArgumentTypeError:
        msg = f"expected seconds (300) or a length with its unit (5min, 1h, PT5M) (got {text!r})"
        raise argparse.ArgumentTypeError(msg) from None


_time_seconds.__name__ = "seconds"


def _whole(text: str, low: int, high: int | None, expected: str) -> int:
    """``text`` as a whole number from ``low`` to ``high`` (None: no upper bound)."""
    try:
        value: int | None = int(text)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        msg = f"expected {expected} (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return value


def _positive(text: str) -> int:
    return _whole(text, 1, 1_000_000, "a whole number from 1 to 1000000")


def _non_negative(text: str) -> int:
    return _whole(text, 0, None, "a whole number >= 0")


def _positive_int(text: str) -> int:
    return _whole(text, 1, None, "a whole number >= 1")


def _claimant(text: str) -> str:
    if not text.strip():
        msg = f"expected a worker name, not an empty one (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return text


_claimant.__name__ = "name"


def _batch_size(text: str) -> int:
    from carekit.journeys.stores._shared import MAX_CLAIM  # the stores' own limit

    value = _positive_int(text)
    if value > MAX_CLAIM:
        msg = f"expected a whole number from 1 to {MAX_CLAIM} (got {text!r})"
        raise argparse.ArgumentTypeError(msg)
    return value


#: The longest --loop pause: a day (time.sleep overflows near 10**10 seconds).
MAX_LOOP_SECONDS = 86_400.0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_LOOP_SECONDS:
        msg = (
            f"expected a number of seconds above 0 and at most {MAX_LOOP_SECONDS:,.0f} "
            f"(a day; got {text!r})"
        )
        raise argparse.ArgumentTypeError(msg)
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        msg = (
            "expected a probability of beating the promise between 0 and 1, such as 0.95 "
            f"(got {text!r})"
        )
        raise argparse.ArgumentTypeError(msg)
    return value


# -- the subcommands ------------------------------------------------------------------------


def staffing(parser: argparse.ArgumentParser) -> None:
    """Options of ``carekit staffing``."""
    parser.epilog = (
        "To build a roster from shift templates instead of checking one, see "
        "`carekit staffing schedule --help`."
    )
    plan_arguments(parser)
    parser.add_argument("--roster", type=_path, default=None, metavar="ROSTER.csv",
                        help="CSV of shifts (shift,start,hours,agents,breaks,recurrence[,tz]) "
                        "to check coverage")
    parser.add_argument("--roster-shrinkage", type=float, default=None, metavar="S",
                        help="with --roster: the shrinkage the roster does not model (its "
                        "breaks are already off the floor), in [0, 1); default --shrinkage")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table",
                        help="output format (default table); csv: one row per interval, "
                        "of the plan or, with --roster, of its coverage; json: the plan's "
                        "settings, totals and intervals, and the coverage")
    parser.add_argument("--chart", type=_path, default=None, metavar="FILE.png|svg",
                        help="draw required vs rostered agents (needs carekit[plot])")


def plan_arguments(parser: argparse.ArgumentParser) -> None:
    """The forecast and the options that plan it, shared with ``carekit staffing schedule``."""
    parser.add_argument("forecast", type=_path, metavar="FORECAST.csv",
                        help="CSV with columns interval_start (ISO 8601 with offset), volume")
    parser.add_argument("--aht", type=_time_seconds, required=True,
                        help="average handle time: seconds (300) or with its unit (5min)")
    parser.add_argument("--service-level", required=True, metavar="PCT/SECONDS",
                        help="target such as 80/20: 80%% answered within 20 seconds "
                        "(also 80%%/20s, 90/1h)")
    parser.add_argument("--shrinkage", type=float, default=0.0,
                        metavar="S", help="share of paid time not available for contacts, "
                        "in [0, 1) (default 0)")
    parser.add_argument("--max-occupancy", type=float, default=None, metavar="OCC",
                        help="cap on agent occupancy, in (0, 1] (default: no cap)")
    parser.add_argument("--patience", type=_time_seconds, default=None,
                        help="mean patience, seconds or with its unit (2min): plan with "
                        "abandonment (Erlang A)")
    parser.add_argument("--concurrency", type=int, default=1, metavar="N",
                        help="contacts one agent handles at once (chat; default 1)")
    parser.add_argument("--interval", type=parse_interval, default=None, metavar="LENGTH",
                        help="interval length with its unit: 30min, 15min, 1h, 1800s or "
                        "PT30M (default: from the forecast, else 30min)")


def staffing_schedule(parser: argparse.ArgumentParser) -> None:
    """Options of ``carekit staffing schedule``."""
    parser.description = (
        "Plan the forecast (as `carekit staffing` does), then build the cheapest roster of "
        "whole shifts from the templates that covers every interval, with breaks placed in "
        "their windows (needs carekit[schedule]). Exit status 1 when the templates cannot "
        "cover every interval (the roster then covers the rest)."
    )
    plan_arguments(parser)
    parser.add_argument("--templates", type=_path, required=True,
                        metavar="TEMPLATES.csv",
                        help="CSV of shift templates: name,hours[,earliest,latest,"
                        "step_minutes,breaks,days,cost_per_hour,max_count]")
    parser.add_argument("--roster-shrinkage", type=float, default=None, metavar="S",
                        help="the shrinkage the roster does not model (breaks are off the "
                        "floor already), in [0, 1); default --shrinkage")
    parser.add_argument("--tz", default=None, metavar="ZONE",
                        help="zone of the templates' times, e.g. Europe/London (default: the "
                        "forecast's offset)")
    parser.add_argument("--max-seconds", type=float, default=30.0,
                        help="solver time limit in seconds (default 30)")
    parser.add_argument("--budget-hours", type=float, default=None, metavar="H",
                        help="maximise the service level within H paid hours instead")
    parser.add_argument("--cyclic", action="store_true",
                        help="the forecast is one period (a day, a week) of a repeating "
                        "pattern: shifts past its end cover its start, and repeat with no end")
    parser.add_argument("--csv", type=_path, default=None, metavar="ROSTER.csv",
                        help="write the roster as CSV (the columns --roster reads)")
    parser.add_argument("--ics", type=_path, default=None, metavar="ROSTER.ics",
                        help="write the roster as an iCalendar file (RFC 5545)")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table",
                        help="output format (default table); csv: the roster in the columns "
                        "--roster reads, then the coverage per interval")
    parser.add_argument("--chart", type=_path, default=None, metavar="FILE.png|svg",
                        help="draw required vs rostered agents (needs carekit[plot])")


def promise(parser: argparse.ArgumentParser) -> None:
    """Options of ``carekit promise``."""
    parser.add_argument("history", type=_path, metavar="HISTORY.csv",
                        help="orders: columns ordered_at, delivered_at (empty while on the "
                        "way) and optionally a segment column; ISO 8601 times with a UTC "
                        "offset (or add --tz to read times without one in that zone)")
    parser.add_argument("--target", type=_probability, default=0.95, metavar="P",
                        help="probability of beating the promise, between 0 and 1 "
                        "(default 0.95)")
    parser.add_argument("--segment", metavar="COLUMN", default=None,
                        help="learn per value of this column (region, carrier, product)")
    parser.add_argument("--cancelled", metavar="COLUMN", default=None,
                        help="a column saying whether the order was cancelled (true/false, "
                        "yes/no, 1/0, empty for no): cancelled orders are left out")
    parser.add_argument("--order-id", metavar="COLUMN", default=None, dest="order_id",
                        help="a column of order ids: an id that repeats is an error")
    parser.add_argument("--backtest", action="store_true",
                        help="replay the history walk-forward and print the on-time/padding "
                        "trade-off")
    parser.add_argument("--tz", default=None, metavar="ZONE",
                        help="time zone of the business calendar, e.g. Europe/London; times "
                        "without a UTC offset are read in it (default UTC, and such times "
                        "are refused)")
    parser.add_argument("--cutoff", default=None, metavar="HH:MM",
                        help="daily order cut-off (later orders count from the next "
                        "business day)")
    parser.add_argument("--workdays", default="Mon,Tue,Wed,Thu,Fri",
                        help="working weekdays, days and ranges separated by commas "
                        "(Mon-Fri, Sat,Sun, 0-4; default Mon-Fri)")
    parser.add_argument("--holidays", default="", metavar="DATES",
                        help="closed days, comma-separated ISO dates "
                        "(e.g. 2026-12-24,2026-12-31)")
    parser.add_argument("--country", default=None, metavar="CODE",
                        help="close on this country's public holidays: an ISO code such as "
                        "GB, or US-CA for a state (needs carekit[holidays])")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table",
                        help="output format (default table); csv: one row per segment, then "
                        "with --backtest one row per target")


_METRICS = ("nps", "csat", "ces", "fcr")


def metrics(parser: argparse.ArgumentParser) -> None:
    """Options of ``carekit metrics``."""
    parser.add_argument("responses", type=_path, metavar="RESPONSES.csv",
                        help="survey responses, one row per response, with a header row")
    parser.add_argument("--score-column", required=True,
                        help="the column holding the scores (empty cells are skipped)")
    parser.add_argument("--metric", choices=_METRICS, default="nps",
                        help="nps (0-10, default), csat (top-two-box), ces (mean) or "
                        "fcr (yes/no)")
    parser.add_argument("--scale", type=int, default=None,
                        help="highest score: csat (default 5), ces (default 7); nps is always "
                        "0-10 (give 10 to confirm it when every answer is 5 or below)")
    parser.add_argument("--by", default=None, metavar="COLUMN",
                        help="one result per value of this column (e.g. store)")
    parser.add_argument("--compare-periods", action="store_true",
                        help="split by --period of --date-column and test each period "
                        "against the one before")
    parser.add_argument("--date-column", default="date",
                        help="ISO date or datetime column for --compare-periods (default date)")
    parser.add_argument("--period", choices=("month", "week"), default="month",
                        help="period length for --compare-periods (default month)")
    parser.add_argument("--confidence", type=float, default=0.95,
                        help="confidence level of the intervals (default 0.95)")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table",
                        help="output format (default table)")


def journey(parser: argparse.ArgumentParser) -> None:
    """The ``journey`` actions: ``list``, ``diagram``, ``replay``, ``load``, ``dispatch``.

    Each sets ``journey_action`` (the name of the function of ``carekit.journeys._cli`` that
    runs it) with ``set_defaults``.
    """
    actions = parser.add_subparsers(dest="journey_command", metavar="ACTION")
    actions.required = True

    p = actions.add_parser("list", help="list the journeys the plugins provide")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="output format (default table): one row per journey")
    p.set_defaults(journey_action="list")

    p = actions.add_parser(
        "diagram", help="print a journey as a Mermaid, Graphviz DOT or SVG diagram",
        description="Print a journey definition as a diagram: phases as groups, "
        "touchpoints marked with ✉.",
    )
    p.add_argument("name", help="journey name (see: carekit journey list)")
    p.add_argument("--format", choices=("mermaid", "dot", "svg"), default="mermaid",
                   help="diagram language (default: mermaid); svg is a picture carekit "
                   "lays out itself, as definition.to_svg() draws it")
    p.set_defaults(journey_action="diagram")

    p = actions.add_parser(
        "replay", help="replay an event log (CSV): states, overdue obligations, friction",
        description="Replay a CSV event log with columns journey_id, event, at (ISO 8601 with "
        "an offset) and optionally id and data (a JSON object); any other column becomes a "
        "data key (sentiment as a number). A row whose event is delivered:TOUCHPOINT (e.g. "
        "delivered:order_thanks) records that the journey sent that touchpoint at 'at'; "
        "without such rows every touchpoint counts as unsent, and overdue once past due. "
        "Prints journeys per state, overdue obligations and "
        "high-friction journeys; malformed rows and rejected events are listed by line.",
    )
    p.add_argument("events", type=_path, help="CSV file of events")
    p.add_argument("--journey", default="order", help="journey definition (default: order)")
    p.add_argument("--now", type=parse_moment, default=None, metavar="TIME",
                   help="ISO 8601 instant with a UTC offset to judge overdue obligations "
                   "(default: the latest event)")
    p.add_argument("--limit", type=_non_negative, default=10, metavar="N",
                   help="rows to show per section of the table (default: 10)")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="output format (default table); csv: one row per journey (state, "
                   "phase, version, friction, overdue obligations), every journey, with "
                   "rejected rows listed on stderr; json: the table's figures, every "
                   "journey's row and every overdue obligation and rejected row in one "
                   "document")
    p.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                   help="progress on stderr (needs carekit[progress]); auto: on a terminal, "
                   f"for files over {PROGRESS_BYTES:,} bytes")
    p.set_defaults(journey_action="replay")

    p = actions.add_parser(
        "load", help="append the events of a CSV event log to a journey store",
        description="Append the events of a CSV event log (the columns of replay) to a "
        "journey store. A journey not in the store yet is created together with the first of "
        "its events it takes, as replay starts it (customer_id, channel and tz from that "
        "row's data); one whose every event is refused is not created. Events already "
        "stored (same id) are skipped, so loading "
        "a file twice changes nothing; refused events and delivery rows are listed by line. "
        "`carekit worker --store URL` then fires their deadlines and delivers their "
        "touchpoints.",
    )
    p.add_argument("events", type=_path, help="CSV file of events")
    p.add_argument("--store", required=True, metavar="URL",
                   help="the journey store: sqlite:///path.db, postgresql://... or a path")
    p.add_argument("--journey", default="order", help="journey definition (default: order)")
    p.set_defaults(journey_action="load")

    p = actions.add_parser(
        "dispatch", help="deliver the touchpoints a journey store owes, once or in a loop",
        description="Claim the touchpoints that are due in a SQLite journey store, deliver "
        "them through the installed channel plugins (carekit_deliver_touchpoint) with their "
        "idempotency keys, and record the outcome; failures are retried with backoff and "
        "dead-lettered after --max-attempts. Exit status 1 when a touchpoint was "
        "dead-lettered or a channel has no delivering plugin.",
    )
    dispatch(p)
    p.set_defaults(journey_action="dispatch")


def _dispatch_store(text: str) -> str:
    """``journey dispatch --store``, typed as ``load`` and ``worker`` take it: say what to use.

    The value (a URL may hold a password) is not shown.
    """
    msg = (
        "journey dispatch reads a SQLite file given as --db PATH; for a store URL "
        "(PostgreSQL included) run: carekit worker --store URL --once"
    )
    raise argparse.ArgumentTypeError(msg)


def dispatch(parser: argparse.ArgumentParser) -> None:
    """Options of ``carekit journey dispatch``."""
    parser.add_argument("--db", type=_sqlite_path, required=True,
                        help="the SQLite journey store (must exist)")
    # Not listed: `journey load` and `worker` take --store, so a user types it here too.
    parser.add_argument("--store", type=_dispatch_store, help=argparse.SUPPRESS)
    parser.add_argument("--loop", type=_seconds, default=None, metavar="SECONDS",
                        help="dispatch again every SECONDS until interrupted (default: once)")
    parser.add_argument("--max-batches", type=_positive_int, default=None, metavar="N",
                        help="stop after N batches in all")
    parser.add_argument("--rounds", type=_positive_int, default=None, metavar="N",
                        help="with --loop: stop after N rounds")
    parser.add_argument("--batch-size", type=_batch_size, default=100, metavar="N",
                        help="touchpoints claimed per batch (default 100)")
    parser.add_argument("--max-attempts", type=_positive_int, default=5, metavar="N",
                        help="attempts before a touchpoint is dead-lettered (default 5)")
    parser.add_argument("--now", type=parse_moment, default=None, metavar="TIME",
                        help="dispatch as of this time instead of the clock (for tests)")


_LEVELS = ("debug", "info", "warning", "error")


def worker(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument("--timeout", type=parse_duration, default=None,
                        metavar="DURATION",
                        help="longest a delivery may take before it counts as failed "
                        "(default 20s, or half of --lease when that is 20s or less; "
                        "must be shorter than --lease)")
    parser.add_argument("--claimant", type=_claimant, default=None, metavar="NAME",
                        help="this worker's name in claims and logs (default: host-pid-random)")
    parser.add_argument("--log-level", choices=_LEVELS, default="info",
                        help="log level of the carekit loggers on stderr (default info)")
    parser.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="log lines as text or as one JSON object each (default text)")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="messaging channels (email, Apprise) and their templates, from "
                        "a TOML file (default: CAREKIT_CONFIG; CAREKIT_SMTP_URL and the other "
                        "CAREKIT_* variables also configure them)")
    parser.add_argument("--otel", action="store_true",
                        help="report spans and metrics to OpenTelemetry's global providers "
                        "(configure the SDK, e.g. run under opentelemetry-instrument; needs "
                        "carekit[otel])")
