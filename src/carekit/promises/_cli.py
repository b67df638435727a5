"""``carekit promise``: learn delivery promises from an order-history CSV; backtest them."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.resources
import json
import pathlib
from typing import Any, TextIO

from carekit import _cli_args
from carekit._cli_io import CsvRows, named_as_options, open_csv, printable, write_csv
from carekit.calendar import MAX_SPAN_YEARS, BusinessCalendar
from carekit.errors import CareKitError
from carekit.promises.backtest import backtest, tradeoff
from carekit.promises.estimators import QuantileEstimator
from carekit.promises.promise import HistoryError, Order, parse_cancelled

__all__ = ["add_arguments", "demo", "run"]

_SAMPLE = "promises_orders.csv"


add_arguments = _cli_args.promise


def _calendar(args: argparse.Namespace) -> BusinessCalendar:
    cutoff = None
    if args.cutoff:
        try:
            cutoff = dt.time.fromisoformat(args.cutoff)
        except ValueError:
            msg = f"--cutoff must be a time like 14:00 (got {args.cutoff!r})"
            raise CareKitError(msg) from None
    workdays = str(args.workdays)  # "Mon-Fri" or "Mon,Tue,...", as the calendar reads text
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
    with named_as_options({"workdays": "--workdays", "holidays": "--holidays"}):
        return BusinessCalendar(workdays=workdays, cutoff=cutoff, tz=_zone(args.tz),
                                holidays=closed)


def _zone(name: str | None) -> dt.tzinfo:
    """The zone ``--tz`` names (UTC without it), refused in the option's words."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if name is None:
        return dt.timezone.utc
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"--tz must be a time zone name such as Europe/London or UTC (got {name!r})"
        raise CareKitError(msg) from None


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


def _time(value: str, column: str, where: str, zone: dt.tzinfo | None) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        msg = f"{where}: {column} must be an ISO 8601 time (got {value!r})"
        raise CareKitError(msg) from None
    if parsed.tzinfo is None:
        if zone is None:
            msg = (
                f"{where}: {column} must carry a UTC offset such as +00:00 (got naive "
                f"{value!r}); or pass --tz ZONE to read times without one in that zone"
            )
            raise CareKitError(msg)
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def read_history(path: pathlib.Path | Any, segment: str | None,
                 cal: BusinessCalendar, cancelled: str | None = None,
                 order_id: str | None = None, *, naive: bool = True) -> list[Order]:
    """Orders from a CSV file (or an open text stream).

    Times without a UTC offset are read in ``cal``'s zone when ``naive`` is true, and
    refused otherwise (``carekit promise`` without ``--tz``).
    """
    zone = cal.tz if naive else None
    if isinstance(path, pathlib.Path):
        with open_csv(path) as rows:
            return _orders(rows, segment, zone, cancelled, order_id, cal.tz)
    return _orders(CsvRows(path, "the history CSV"), segment, zone, cancelled, order_id,
                   cal.tz)


def _orders(reader: CsvRows, segment: str | None, zone: dt.tzinfo | None,
            cancelled: str | None, order_id: str | None, tz: dt.tzinfo) -> list[Order]:
    columns = reader.fieldnames
    for needed in ("ordered_at", "delivered_at", segment, cancelled, order_id):
        if needed is not None and needed not in columns:
            msg = f"{reader.name} has no {needed!r} column (columns: {columns!r})"
            raise CareKitError(msg)
    orders = []
    lines: list[int] = []
    seen: dict[str, int] = {}
    for line, row in reader:
        where = f"{reader.name} line {line}"  # as the reader names a row it cannot read
        ordered = _time(row["ordered_at"] or "", "ordered_at", where, zone)
        raw = (row["delivered_at"] or "").strip()
        delivered = _time(raw, "delivered_at", where, zone) if raw else None
        kind = None
        if segment:
            kind = row[segment]
            if not (kind or "").strip():
                # A blank value would make a segment without a name.
                msg = (
                    f"{where}: column {segment!r} (--segment) must name the order's segment "
                    f"(got {kind!r})"
                )
                raise CareKitError(msg)
        ident = None
        if order_id is not None:
            ident = (row[order_id] or "").strip() or None
            if ident is not None:
                first = seen.setdefault(ident, line)
                if first != line:
                    msg = (
                        f"{where}: order id {ident!r} repeats line {first}; each order "
                        "must appear once"
                    )
                    raise CareKitError(msg)
        try:
            flag = (parse_cancelled(row[cancelled], where)
                    if cancelled is not None else False)
            orders.append(Order(ordered_at=ordered, delivered_at=delivered,
                                segment=kind,
                                cancelled=flag, order_id=ident))
        except HistoryError:
            raise
        except CareKitError as exc:
            msg = f"{where}: {exc}"
            raise CareKitError(msg) from None
        lines.append(line)
    _check_span(orders, lines, tz, reader.name)
    return orders


#: The most calendar years a history may span: the business calendar counts days across
#: MAX_SPAN_YEARS, from the day before the first order counts from to the business day each
#: delivery rolls forward to, each of which may lie in the year beyond.
_HISTORY_YEARS = MAX_SPAN_YEARS - 2


def _check_span(orders: list[Order], lines: list[int], tz: dt.tzinfo, name: str) -> None:
    """Refuse, by its line, the row furthest from the first order if the history is too long.

    Without this a delivery dated in the year 9999 (say) was refused deep in the promise
    engine, naming a calendar method and no row.
    """
    kept = [(o, line) for o, line in zip(orders, lines, strict=True) if not o.cancelled]
    if not kept:
        return
    first, first_line = min(kept, key=lambda item: item[0].ordered_at)
    start = first.ordered_at.astimezone(tz)

    def latest(item: tuple[Order, int]) -> dt.datetime:
        order = item[0]
        return order.delivered_at if order.delivered_at is not None else order.ordered_at

    last, last_line = max(kept, key=latest)
    at = latest((last, last_line))
    year = at.astimezone(tz).year
    if year - start.year + 1 <= _HISTORY_YEARS:
        return
    column = "ordered_at" if last.delivered_at is None else "delivered_at"
    msg = (
        f"{name} line {last_line}: {column} {at.isoformat()} is in {year}, "
        f"{year - start.year:,} years after the first order (line {first_line}, placed "
        f"{start.isoformat()}); a history may span at most {_HISTORY_YEARS} calendar "
        "years: is the year right?"
    )
    raise CareKitError(msg)


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``carekit promise``."""
    cal = _calendar(args)
    orders = read_history(args.history, args.segment, cal, args.cancelled, args.order_id,
                          naive=args.tz is not None)
    estimator = QuantileEstimator(quantile=args.target, calendar=cal)
    try:
        fitted = estimator.fit(orders)
    except CareKitError as exc:
        if "min_samples" not in str(exc):
            raise
        learnt = sum(1 for o in orders if o.delivered_at is not None and not o.cancelled)
        msg = (
            f"{args.history} has {learnt} delivered order(s) to learn from, fewer than the "
            f"{estimator.min_samples} a promise needs; pass a longer history"
        )
        raise CareKitError(msg) from None
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
    if args.format == "csv":
        # as `carekit metrics` does: each table with its header row, one after the other
        for block in (result["segments"], result.get("backtest", [])):
            if block:
                write_csv(out, list(block[0]), block)
        return 0
    out.write(f"Promises at {args.target:.0%} from {len(orders)} orders "
              f"(lead times in business days)\n")
    if left_out["cancelled"] or left_out["lost"]:
        out.write(f"Left out: {left_out['cancelled']} cancelled, {left_out['lost']} lost "
                  "(never delivered, older than every delivery)\n")
    rows = [
        [printable(s["segment"]), str(s["expected_days"]), str(s["promised_days"]),
         str(s["padding_days"]),
         "" if s["reliable"] else "(too few recent orders: a broader segment's)"]
        for s in result["segments"]
    ]
    out.write(_columns(["segment", "expected", "promised", "padding", ""], rows))
    if args.backtest:
        out.write("\nWalk-forward backtest (each promise made from what was known then)\n")
        out.write(_columns(
            ["target", "on time", "early", "mean padding", "mean lateness", "orders"],
            [[f"{row['target'] * 100:.4g}%", f"{row['on_time_rate']:.1%}",
              f"{row['early_rate']:.1%}", f"{row['mean_padding_days']:.2f} d",
              f"{row['mean_lateness_days']:.2f} d", str(row["n"])] for row in result["backtest"]],
        ))
    return 0


def _columns(head: list[str], rows: list[list[str]]) -> str:
    """A plain text table: the first column left-aligned, the others right-aligned, except
    a last column of notes (named ``""``), which is left as it is."""
    notes = head[-1] == ""
    body = head[:-1] if notes else head
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(body)]

    def line(cells: list[str]) -> str:
        parts = [cells[0].ljust(widths[0])]
        parts += [c.rjust(w) for c, w in zip(cells[1:len(body)], widths[1:], strict=True)]
        text = "  ".join(parts)
        if notes and cells[-1]:
            text += "  " + cells[-1]
        return text.rstrip() + "\n"

    return line(head) + "".join(line(r) for r in rows)


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
