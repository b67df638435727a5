"""``carekit promise``: learn delivery promises from an order-history CSV; backtest them."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.resources
import json
import pathlib
from typing import Any, TextIO

from carekit._cli_io import CsvRows, open_csv, printable
from carekit.calendar import BusinessCalendar
from carekit.errors import CareKitError
from carekit.promises.backtest import backtest, tradeoff
from carekit.promises.estimators import QuantileEstimator
from carekit.promises.promise import HistoryError, Order, parse_cancelled

__all__ = ["add_arguments", "demo", "run"]

_SAMPLE = "promises_orders.csv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``carekit promise``."""
    parser.add_argument("history", type=pathlib.Path, metavar="HISTORY.csv",
                        help="orders: columns ordered_at, delivered_at (empty while on the "
                        "way) and optionally a segment column; ISO 8601 times")
    parser.add_argument("--target", type=float, default=0.95,
                        help="probability of beating the promise (default 0.95)")
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
    parser.add_argument("--tz", default="UTC",
                        help="time zone of the business calendar; times without an offset "
                        "are read in it (default UTC)")
    parser.add_argument("--cutoff", default=None, metavar="HH:MM",
                        help="daily order cut-off (later orders count from the next "
                        "business day)")
    parser.add_argument("--workdays", default="Mon,Tue,Wed,Thu,Fri",
                        help="comma-separated working weekdays (default Mon-Fri)")
    parser.add_argument("--holidays", default="", metavar="DATES",
                        help="closed days, comma-separated ISO dates "
                        "(e.g. 2026-12-24,2026-12-31)")
    parser.add_argument("--country", default=None, metavar="CODE",
                        help="close on this country's public holidays: an ISO code such as "
                        "GB, or US-CA for a state (needs carekit[holidays])")
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="output format (default table)")


def _calendar(args: argparse.Namespace) -> BusinessCalendar:
    cutoff = None
    if args.cutoff:
        try:
            cutoff = dt.time.fromisoformat(args.cutoff)
        except ValueError:
            msg = f"--cutoff must be a time like 14:00 (got {args.cutoff!r})"
            raise CareKitError(msg) from None
    workdays = [d.strip() for d in str(args.workdays).split(",") if d.strip()]
    closed: list[Any] = []
    for text in str(args.holidays or "").split(","):
        if text.strip():
            try:
                closed.append(dt.date.fromisoformat(text.strip()))
            except ValueError:
                msg = f"--holidays must be ISO dates like 2026-12-24 (got {text.strip()!r})"
                raise CareKitError(msg) from None
    if args.country:
        closed.append(_country_holidays(str(args.country)))
    return BusinessCalendar(workdays=workdays, cutoff=cutoff, tz=args.tz, holidays=closed)


def _country_holidays(code: str) -> Any:
    """The `holidays` package's calendar for ``code`` (``"GB"``, ``"US-CA"``)."""
    try:
        import holidays
    except ImportError:
        msg = "--country needs the holidays package: pip install 'carekit[holidays]'"
        raise CareKitError(msg) from None
    country, _, subdiv = code.strip().partition("-")
    country = country.upper()
    if subdiv:  # match the package's own spelling ("US-ca" is "CA", "DE-augsburg" "Augsburg")
        known = holidays.list_supported_countries().get(country, ())
        subdiv = {s.upper(): s for s in known}.get(subdiv.upper(), subdiv)
    try:
        return holidays.country_holidays(country, subdiv=subdiv or None)
    except NotImplementedError as exc:  # the package's way to say "unknown"
        msg = f"--country {code!r}: {exc}"
        raise CareKitError(msg) from None


def _time(value: str, column: str, line: int, cal: BusinessCalendar) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        msg = f"line {line}: {column} must be an ISO 8601 time (got {value!r})"
        raise CareKitError(msg) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=cal.tz)
    return parsed


def read_history(path: pathlib.Path | Any, segment: str | None,
                 cal: BusinessCalendar, cancelled: str | None = None,
                 order_id: str | None = None) -> list[Order]:
    """Orders from a CSV file (or an open text stream)."""
    if isinstance(path, pathlib.Path):
        with open_csv(path) as rows:
            return _orders(rows, segment, cal, cancelled, order_id)
    return _orders(CsvRows(path, "the history CSV"), segment, cal, cancelled, order_id)


def _orders(reader: CsvRows, segment: str | None, cal: BusinessCalendar,
            cancelled: str | None, order_id: str | None) -> list[Order]:
    columns = reader.fieldnames
    for needed in ("ordered_at", "delivered_at", segment, cancelled, order_id):
        if needed is not None and needed not in columns:
            msg = f"{reader.name} has no {needed!r} column (columns: {columns!r})"
            raise CareKitError(msg)
    orders = []
    seen: dict[str, int] = {}
    for line, row in reader:
        ordered = _time(row["ordered_at"] or "", "ordered_at", line, cal)
        raw = (row["delivered_at"] or "").strip()
        delivered = _time(raw, "delivered_at", line, cal) if raw else None
        ident = None
        if order_id is not None:
            ident = (row[order_id] or "").strip() or None
            if ident is not None:
                first = seen.setdefault(ident, line)
                if first != line:
                    msg = (
                        f"line {line}: order id {ident!r} repeats line {first}; each order "
                        "must appear once"
                    )
                    raise CareKitError(msg)
        try:
            flag = (parse_cancelled(row[cancelled], f"line {line}")
                    if cancelled is not None else False)
            orders.append(Order(ordered_at=ordered, delivered_at=delivered,
                                segment=row[segment] if segment else None,
                                cancelled=flag, order_id=ident))
        except HistoryError:
            raise
        except CareKitError as exc:
            msg = f"line {line}: {exc}"
            raise CareKitError(msg) from None
    return orders


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``carekit promise``."""
    cal = _calendar(args)
    orders = read_history(args.history, args.segment, cal, args.cancelled, args.order_id)
    estimator = QuantileEstimator(quantile=args.target, calendar=cal)
    fitted = estimator.fit(orders)
    left_out = fitted.left_out
    segments = sorted({o.segment for o in orders if not o.cancelled},
                      key=lambda s: (s is not None, str(s)))
    if None not in segments:
        segments.insert(0, None)
    result: dict[str, Any] = {"target": args.target, "segments": [], **left_out}
    latest = max(o.ordered_at for o in orders)
    for seg in segments:
        expected, promised = fitted.lead_times(seg)
        p = fitted.promise(latest, segment=seg)
        result["segments"].append({"segment": "(all)" if seg is None else seg,
                                   "expected_days": expected, "promised_days": promised,
                                   "padding_days": promised - expected,
                                   "reliable": p.reliable})
    if args.backtest:
        table = tradeoff(estimator, orders, calendar=cal,
                         targets=sorted({0.8, 0.9, 0.95, 0.99, args.target}))
        result["backtest"] = [
            {"target": row.target, "n": row.report.n,
             "on_time_rate": round(row.report.on_time_rate, 4),
             "early_rate": round(row.report.early_rate, 4),
             "mean_padding_days": round(row.report.mean_padding_days, 2),
             "mean_lateness_days": round(row.report.mean_lateness_days, 2),
             "cancelled": row.report.cancelled, "lost": row.report.lost}
            for row in table.rows
        ]
    if args.format == "json":
        json.dump(result, out, indent=2)
        out.write("\n")
        return 0
    out.write(f"Promises at {args.target:.0%} from {len(orders)} orders "
              f"(lead times in business days)\n")
    if left_out["cancelled"] or left_out["lost"]:
        out.write(f"Left out: {left_out['cancelled']} cancelled, {left_out['lost']} lost "
                  "(never delivered, older than every delivery)\n")
    out.write(f"{'segment':<16} {'expected':>8} {'promised':>8} {'padding':>8}\n")
    for s in result["segments"]:
        note = "" if s["reliable"] else "  (too few recent orders: a broader segment's)"
        name = printable(s["segment"])
        out.write(f"{name:<16} {s['expected_days']:>8} {s['promised_days']:>8} "
                  f"{s['padding_days']:>8}{note}\n")
    if args.backtest:
        out.write("\nWalk-forward backtest (each promise made from what was known then)\n")
        out.write(table.to_markdown() + "\n")
    return 0


def demo(out: TextIO, workdir: pathlib.Path) -> None:
    """The promises section of ``carekit demo``: a sofa's promise and a backtest."""
    out.write("== Promises ==\n")
    cal = BusinessCalendar(cutoff=dt.time(14), tz="Europe/London")
    sample = importlib.resources.files("carekit") / "data" / _SAMPLE
    with sample.open("r", encoding="utf-8") as fh:
        orders = read_history(fh, "product", cal)
    estimator = QuantileEstimator(quantile=0.95, calendar=cal, min_samples=20)
    fitted = estimator.fit(orders)
    at = dt.datetime(2026, 3, 2, 15, 30, tzinfo=cal.tz)
    sofa = fitted.promise(at, segment="sofa")
    out.write(f"A sofa ordered {at:%a %d %b %H:%M} (after the 14:00 cut-off): we expect "
              f"{sofa.expected:%a %d %b} and promise {sofa.promised:%a %d %b} "
              f"({sofa.padding} business days of padding, {sofa.confidence:.0%} confidence)\n")
    report = backtest(estimator, orders, calendar=cal)
    out.write(f"Backtest on {report.n} past orders: {report.on_time_rate:.1%} on time, "
              f"{report.mean_padding_days:.1f} business days early on average, late ones "
              f"{report.mean_lateness_days:.1f} days late\n")
