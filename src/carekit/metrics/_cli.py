"""``carekit metrics``: survey metrics with confidence intervals from a CSV (private)."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import importlib.resources
import json
import pathlib
import sys
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from carekit import _cli_args
from carekit._cli_io import named_as_options, open_csv, printable, write_csv
from carekit.errors import CareKitError
from carekit.metrics._base import Accumulator, check_confidence
from carekit.metrics.compare import compare
from carekit.metrics.estimate import Comparison, Estimate
from carekit.metrics.proportions import FirstContactResolution
from carekit.metrics.response_time import ResponseTime
from carekit.metrics.scores import CES, CSAT, NPS

__all__ = ["add_arguments", "demo", "run"]

_METRICS = ("nps", "csat", "ces", "fcr")
_YES = {"1", "true", "yes", "y", "t"}
_NO = {"0", "false", "no", "n", "f"}
_DEMO_FILE = "metrics_responses.csv"


add_arguments = _cli_args.metrics


def _make(metric: str, scale: int | None) -> Accumulator:
    if metric == "nps":
        return NPS()
    if metric == "csat":
        return CSAT(scale if scale is not None else 5)
    if metric == "ces":
        return CES(scale if scale is not None else 7)
    return FirstContactResolution()


def _check_nps_scale(args: argparse.Namespace, scores: list[Any]) -> None:
    """Refuse a column that cannot be 0-10 NPS answers (a 1-5 CSAT column, say).

    NPS over a 1-5 column counts every answer as a detractor and reports -100, a plausible
    but wrong answer; unless ``--scale 10`` confirms the 0-10 question, a column whose
    answers are all 5 or below is refused with a hint.
    """
    if args.scale is not None and args.scale != 10:
        msg = (
            f"--scale {args.scale} does not fit --metric nps, which is always asked on 0-10; "
            "leave --scale out (or use --metric csat or ces for another scale)"
        )
        raise CareKitError(msg)
    numbers = [s for s in scores if isinstance(s, (int, float))]
    if args.scale is None and numbers and max(numbers) <= 5:
        low, high = min(numbers), max(numbers)
        msg = (
            f"column {args.score_column!r} holds answers from {low:g} to {high:g}, which "
            "looks like a 1-5 scale, not NPS's 0-10 (every answer would count as a "
            "detractor: NPS -100); use --metric csat (top-two-box) or --metric ces --scale 5 "
            "for a 1-5 question, or pass --scale 10 if these are 0-10 answers that are all "
            "5 or below"
        )
        raise CareKitError(msg)


def _warn_low_csat(scale: int, scores: list[Any]) -> None:
    """Warn on stderr when no CSAT answer is above 5 on a scale that goes higher.

    Answers of 1-5 are valid on a 7-point scale, so they are not refused; but a 1-5 column
    read with ``--scale 7`` has no answer in the top two boxes (6 and 7) and reports 0.
    """
    if scale <= 5 or not scores or max(scores) > 5:
        return
    print(
        f"carekit metrics: warning: no answer above 5 on a {scale}-point scale (CSAT counts "
        f"{scale - 1} and {scale} as satisfied): is --scale right?",
        file=sys.stderr,
    )


def _parse_score(metric: str, text: str, where: str, column: str) -> Any:
    if metric == "fcr":
        word = text.strip().lower()
        if word in _YES:
            return True
        if word in _NO:
            return False
        msg = f"{where}: column {column!r} must be yes/no (got {text!r})"
        raise CareKitError(msg)
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            msg = f"{where}: column {column!r} must hold numbers (got {text!r})"
            raise CareKitError(msg) from None


def _segment(text: str, where: str, column: str) -> str:
    """The ``--by`` value of a row; a blank one would make a segment without a name."""
    if not text.strip():
        msg = f"{where}: column {column!r} (--by) must name the row's segment (got {text!r})"
        raise CareKitError(msg)
    return text


def _period(text: str, period: str, where: str, column: str) -> str:
    try:
        day = dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        msg = f"{where}: column {column!r} must be an ISO date (got {text!r})"
        raise CareKitError(msg) from None
    if period == "month":
        return f"{day:%Y-%m}"
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _read(args: argparse.Namespace) -> tuple[list[tuple[str, str, Any, int]], int]:
    """Rows as (segment, period, score, line) and the number of skipped empty cells."""
    with open_csv(args.responses, progress="auto") as reader:
        fields = reader.fieldnames
        needed = [args.score_column]
        if args.by:
            needed.append(args.by)
        if args.compare_periods:
            needed.append(args.date_column)
        missing = [c for c in needed if c not in fields]
        if missing:
            msg = f"{args.responses}: no column(s) {missing!r}; the header has {fields!r}"
            raise CareKitError(msg)
        rows: list[tuple[str, str, Any, int]] = []
        skipped = 0
        name = pathlib.Path(args.responses).name
        for line, row in reader:
            text = (row.get(args.score_column) or "").strip()
            if not text:
                skipped += 1
                continue
            where = f"{name} line {line}"  # as the other commands name a row
            score = _parse_score(args.metric, text, where, args.score_column)
            segment = _segment(row.get(args.by) or "", where, args.by) if args.by else "all"
            period = (_period(row.get(args.date_column) or "", args.period, where,
                              args.date_column) if args.compare_periods else "")
            rows.append((segment, period, score, line))
    return rows, skipped


def _accumulate(
    rows: Iterable[tuple[str, str, Any, int]], make: Callable[[], Accumulator], where: str,
    column: str,
) -> dict[tuple[str, str], Accumulator]:
    groups: dict[tuple[str, str], list[Any]] = {}
    lines: dict[tuple[str, str], list[int]] = {}
    for segment, period, score, line in rows:
        groups.setdefault((segment, period), []).append(score)
        lines.setdefault((segment, period), []).append(line)
    out = {}
    for key in sorted(groups):
        try:
            out[key] = make().extend(groups[key])
        except CareKitError as exc:
            # extend checks a whole batch at once: name the first row it refuses, as every
            # other refused cell is named
            for score, line in zip(groups[key], lines[key], strict=True):
                try:
                    make().add(score)
                except CareKitError:
                    msg = f"{where} line {line}: column {column!r}: {exc}"
                    raise CareKitError(msg) from None
            raise
    return out


def _value_row(segment: str, period: str, e: Estimate) -> dict[str, Any]:
    return {"segment": segment, "period": period, "n": e.n, "value": e.value,
            "low": e.low, "high": e.high, "method": e.method}


def _change_row(segment: str, period: str, c: Comparison) -> dict[str, Any]:
    return {"segment": segment, "period": period, "difference": c.difference,
            "low": c.low, "high": c.high, "p_value": c.p_value, "significant": c.significant}


def _num(x: Any, metric: str) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.1f}" if metric == "nps" else f"{x:.3f}"
    return str(x)


def _table(rows: list[dict[str, Any]], metric: str) -> str:
    if not rows:
        return "(no rows)\n"
    keys = list(rows[0])
    cells = [[printable(_num(r[k], metric)) if k != "p_value" else f"{r[k]:.3g}" for k in keys]
             for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    lines = ["  ".join(k.ljust(w) for k, w in zip(keys, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _render(out: TextIO, fmt: str, metric: str, values: list[dict[str, Any]],
            changes: list[dict[str, Any]]) -> None:
    if fmt == "json":
        json.dump({"metric": metric, "estimates": values, "changes": changes}, out, indent=2)
        out.write("\n")
        return
    if fmt == "csv":
        for block in (values, changes):
            if block:
                write_csv(out, list(block[0]), block)
        return
    out.write(_table(values, metric))
    if changes:
        out.write("\nchange against the previous period:\n")
        out.write(_table(changes, metric))


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Compute the metric per segment (and period) and print it."""
    check_confidence(args.confidence, "--confidence")
    rows, _ = _read(args)
    if not rows:
        msg = f"{args.responses}: no scores in column {args.score_column!r}"
        raise CareKitError(msg)
    if args.metric == "nps":
        _check_nps_scale(args, [row[2] for row in rows])
    with named_as_options({"scale": "--scale"}):
        _make(args.metric, args.scale)
    accs = _accumulate(rows, lambda: _make(args.metric, args.scale),
                       pathlib.Path(args.responses).name, args.score_column)
    if args.metric == "csat" and args.scale is not None:
        _warn_low_csat(args.scale, [row[2] for row in rows])
    values: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    previous: dict[str, tuple[str, Accumulator]] = {}
    for (segment, period), acc in accs.items():
        values.append(_value_row(segment, period, acc.result(args.confidence)))
        if not args.compare_periods:
            continue
        # (CES means need two answers a side to know their spread: no row otherwise.)
        if segment in previous and (
            args.metric != "ces" or min(acc.n, previous[segment][1].n) >= 2
        ):
            c = compare(acc, previous[segment][1], args.confidence)
            changes.append(_change_row(segment, f"{period} vs {previous[segment][0]}", c))
        previous[segment] = (period, acc)
    if not args.compare_periods:
        for row in values:
            del row["period"]
    elif not changes:
        # Asked for changes and shown none: say why, rather than leave the reader to wonder.
        periods = sorted({period for _, period in accs})
        why = (f"every answer falls in one {args.period} ({periods[0]})" if len(periods) == 1
               else "no segment has answers in two periods"
               + (", with at least two answers each (CES)" if args.metric == "ces" else ""))
        hint = "; try --period week" if args.period == "month" and len(periods) == 1 else ""
        print(f"carekit metrics: warning: nothing to compare: {why}{hint}", file=sys.stderr)
    _render(out, args.format, args.metric, values, changes)
    return 0


def _demo_rows() -> list[dict[str, str]]:
    source = importlib.resources.files("carekit") / "data" / _DEMO_FILE
    with source.open("r", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _touchpoint_line() -> str | None:
    """Touchpoint coverage and promises kept of a dozen demo order journeys."""
    try:
        from carekit.journeys import AttemptOutcome, Event, MemoryJourneyStore, order_journey
    except ImportError:  # pragma: no cover - a build without journeys
        return None
    from carekit.metrics.coverage import PromiseKept, TouchpointCoverage

    t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
    hour = dt.timedelta(hours=1)
    happy = ["place", "acknowledge", "start_production", "near_completion", "ship", "deliver"]
    store = MemoryJourneyStore()
    definition = order_journey()
    promises: dict[str, dt.date] = {}
    for i in range(12):
        journey_id = f"order-{i + 1}"
        start = t0 + i * 3 * hour
        store.create(definition, journey_id, at=start, channel="email")
        steps = happy[: (6, 6, 5, 6, 4, 6, 3)[i % 7]]  # orders at different points
        events = [
            Event(name, at=start + (60 * hour if name == "deliver" else k * 2 * hour),
                  data={"tracking_number": f"1Z{i:04d}"} if name == "ship" else None)
            for k, name in enumerate(steps)
        ]
        store.append(journey_id, events)
        promised_in = 1 if i == 5 else 3  # one promise too tight to keep
        promises[journey_id] = (start + promised_in * 24 * hour).date()
    now = t0 + 3 * 24 * hour
    claimed = store.claim_due(now=now, limit=100, lease=hour, claimant="demo")
    outcomes = []
    for i, c in enumerate(claimed):
        if i % 9 == 4:
            continue  # never attempted: still pending, and overdue by now
        late = i % 5 == 2
        at = c.touchpoint.due + (2 * hour if late else -0.5 * hour)
        if i % 7 == 3:
            outcomes.append(AttemptOutcome(claimed=c, status="dead", at=at, error="bounced"))
        else:
            outcomes.append(AttemptOutcome(claimed=c, status="sent", at=at))
    store.record(outcomes)
    coverage = TouchpointCoverage.from_journeys(store, now=now)
    on_time = TouchpointCoverage.from_journeys(store, now=now, on_time=True)
    kept = PromiseKept.from_journeys(store, promises, now=now)
    return (f"touchpoint coverage, 12 demo order journeys: {coverage.result()}\n"
            f"  delivered by their due time: {on_time.result()}\n"
            f"promises kept (deliver event vs promised day): {kept.result()}")


def _minutes(x: dt.timedelta | None) -> str:
    return "-" if x is None else f"{x.total_seconds() / 60:.0f} min"


def demo(out: TextIO, workdir: pathlib.Path) -> None:
    """The metrics section of ``carekit demo``."""
    rows = _demo_rows()
    out.write("== Metrics ==\n")
    days = sorted({r["date"] for r in rows})
    out.write(f"{len(rows)} survey responses from {days[0]} to {days[-1]} "
              f"(bundled {_DEMO_FILE})\n")
    nps = NPS().extend(int(r["nps"]) for r in rows)
    out.write(f"NPS            {nps.result()}  [adjusted Wald, Rocks 2016]\n")
    by_store = NPS().by(lambda r: r["store"], value=lambda r: int(r["nps"])).extend(rows)
    for store in sorted(by_store, key=str):
        out.write(f"  {store:<12} {by_store[store].result()}\n")
    south = NPS().by(lambda r: r["date"][:7], value=lambda r: int(r["nps"])).extend(
        r for r in rows if r["store"] == "south")
    change = compare(south["2026-03"], south["2026-02"])
    verdict = "a real change" if change.significant else "could be noise"
    out.write(f"  south, March vs February: {change} -> {verdict}\n")
    csat = CSAT().extend(int(r["csat"]) for r in rows)
    ces = CES().extend(int(r["ces"]) for r in rows if r["ces"])
    fcr = FirstContactResolution().extend(r["resolved_first_contact"] == "yes" for r in rows)
    out.write(f"CSAT (top-2)   {csat.result()}\n")
    out.write(f"CES (1-7)      {ces.result()}\n")
    out.write(f"FCR            {fcr.result()}\n")
    rt = ResponseTime(target=dt.timedelta(hours=1)).extend(
        (dt.datetime.fromisoformat(r["received_at"]),
         dt.datetime.fromisoformat(r["first_response_at"]))
        for r in rows)
    out.write(f"first response within 1 h: {rt.result()}; median {_minutes(rt.median)}, "
              f"p90 {_minutes(rt.p90)}, p99 {_minutes(rt.p99)} (within 1 %)\n")
    line = _touchpoint_line()
    if line is not None:
        out.write(line + "\n")
