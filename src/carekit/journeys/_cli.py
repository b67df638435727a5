"""``carekit journey``: list, draw and replay customer journeys; the journeys demo (private).

Actions are sub-subcommands; each sets ``journey_run`` (a function ``(args, out) -> int``)
with ``set_defaults``, so adding one is a matter of adding a subparser in
:func:`add_arguments`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.resources
import io
import json
import pathlib
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

import attrs

from carekit import _cli_args
from carekit._cli_io import CsvRows, counted, file_progress, printable, write_csv
from carekit.errors import CareKitError
from carekit.hookspecs import hookimpl
from carekit.journeys.definition import JourneyDefinition
from carekit.journeys.events import Event, _too_deep
from carekit.journeys.journey import Journey
from carekit.journeys.replay import _fold

__all__ = ["ReplayReport", "add_arguments", "demo", "read_events", "replay_csv", "run"]

_REQUIRED = ("journey_id", "event", "at")
_KNOWN = frozenset({*_REQUIRED, "id", "data"})
_DELIVERED = "delivered:"
SAMPLE = "journeys_events.csv"


add_arguments = _cli_args.journey


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run the chosen ``journey`` action."""
    from carekit.journeys._store_cli import run_dispatch

    actions: dict[str, Callable[[argparse.Namespace, TextIO], int]] = {
        "list": _run_list, "diagram": _run_diagram, "replay": _run_replay,
        "load": _run_load, "dispatch": run_dispatch,
    }
    return actions[args.journey_action](args, out)


# -- list and diagram -----------------------------------------------------------------------


def _definitions() -> dict[str, JourneyDefinition]:
    from carekit.plugins import CareKit

    return dict(CareKit().journeys)


def _definition(name: str) -> JourneyDefinition:
    known = _definitions()
    try:
        return known[name]
    except KeyError:
        msg = f"no journey named {name!r} (known journeys: {sorted(known)})"
        raise CareKitError(msg) from None


def _run_list(args: argparse.Namespace, out: TextIO) -> int:
    rows = [
        {"journey": name, "states": len(definition.states),
         "touchpoints": len(definition.touchpoints), "description": definition.description}
        for name, definition in _definitions().items()
    ]
    if args.format == "json":
        json.dump({"journeys": rows}, out, indent=2)
        out.write("\n")
    elif args.format == "csv":
        write_csv(out, ("journey", "states", "touchpoints", "description"), rows)
    else:
        for row in rows:
            out.write(
                f"{row['journey']:<14} {row['states']:>2} states  {row['touchpoints']:>2} "
                f"touchpoints  {printable(row['description'])}\n"
            )
    return 0


def _run_diagram(args: argparse.Namespace, out: TextIO) -> int:
    definition = _definition(args.name)
    draw = {"mermaid": definition.to_mermaid, "dot": definition.to_dot, "svg": definition.to_svg}
    out.write(draw[args.format]())
    return 0


# -- replay ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ReplayReport:
    """What replaying a CSV event log found."""

    journeys: dict[str, Journey]
    events: int
    problems: tuple[str, ...]
    now: dt.datetime | None
    delivered: int = 0
    delivered_late: int = 0


def _parse_at(text: str) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        msg = f"at {text!r} is not an ISO 8601 datetime"
        raise CareKitError(msg) from None
    if at.tzinfo is None:
        msg = f"at {text!r} has no UTC offset (write e.g. 2026-03-02T09:00:00+00:00)"
        raise CareKitError(msg)
    return at


def _cut(text: str) -> str:
    """``repr(text)``, shortened to its start and end when it is long."""
    shown = repr(text)
    return shown if len(shown) <= 60 else f"{shown[:25]}...{shown[-10:]} ({len(text)} characters)"


def _row_event(row: dict[str, str | None]) -> Event:
    for column in _REQUIRED:
        if not (row.get(column) or "").strip():
            msg = f"column {column!r} is empty"
            raise CareKitError(msg)
    data: dict[str, Any] = {}
    raw = (row.get("data") or "").strip()
    if raw:
        try:
            parsed = json.loads(raw)
        except ValueError as exc:
            msg = f"data {_cut(raw)} is not JSON ({exc})"
            raise CareKitError(msg) from None
        except RecursionError:  # thousands of nested [ or {; newer Pythons parse them
            raise _too_deep() from None  # and Event refuses them: the same message
        if not isinstance(parsed, dict):
            msg = f"data {_cut(raw)} must be a JSON object"
            raise CareKitError(msg)
        data.update(parsed)
    for key, value in row.items():
        if key is None or key in _KNOWN or value is None or not value.strip():
            continue
        if key == "sentiment":
            try:
                data[key] = float(value)
            except ValueError:
                msg = f"sentiment {value!r} is not a number"
                raise CareKitError(msg) from None
        else:
            data[key] = value.strip()
    return Event(
        str(row["event"]).strip(),
        at=_parse_at(str(row["at"])),
        id=(row.get("id") or "").strip() or None,
        journey_id=str(row["journey_id"]).strip(),
        data=data or None,
    )


def _delivery_row(line: int, row: dict[str, str | None], touchpoint: str) -> _Delivery:
    jid = (row.get("journey_id") or "").strip()
    if not jid or not touchpoint:
        msg = "a delivery record needs a journey_id and event 'delivered:TOUCHPOINT'"
        raise CareKitError(msg)
    return (line, jid, touchpoint, _parse_at(row.get("at") or ""))


#: A delivery record: (line, journey_id, touchpoint name, at).
_Delivery = tuple[int, str, str, dt.datetime]


def read_events(
    lines: Iterator[str],
    *,
    progress: Callable[[int, int], None] | None = None,
    deliveries: list[_Delivery] | None = None,
    source: str = "the CSV",
) -> tuple[list[tuple[int, Event]], list[str]]:
    """Parse CSV lines into ``(line number, Event)`` pairs and a list of problems.

    A row whose event is ``delivered:NAME`` records that touchpoint ``NAME`` was delivered
    at ``at``; such rows are appended to ``deliveries`` (or reported when it is ``None``).

    Raises:
        CareKitError: a required column is missing, or the CSV itself is malformed (an
            unterminated quote, a column named twice), naming ``source`` and the line.
    """
    reader = CsvRows(lines, source)
    fields = reader.fieldnames
    missing = [c for c in _REQUIRED if c not in fields]
    if missing:
        msg = f"{source} needs the columns {list(_REQUIRED)}; missing {missing} (got {fields})"
        raise CareKitError(msg)
    events: list[tuple[int, Event]] = []
    problems: list[str] = []
    for line, row in reader:
        if None in row:
            problems.append(f"line {line}: more fields than columns")
            continue
        try:
            name = (row.get("event") or "").strip()
            if name.startswith(_DELIVERED):
                if deliveries is None:
                    msg = f"delivery records ({name!r}) are not accepted here"
                    raise CareKitError(msg)
                deliveries.append(_delivery_row(line, row, name[len(_DELIVERED) :]))
            else:
                events.append((line, _row_event(row)))
        except CareKitError as exc:
            problems.append(f"line {line}: {exc}")
        if progress is not None and len(events) % 1000 == 0:
            progress(line, len(events))
    return events, problems


def replay_csv(
    definition: JourneyDefinition,
    lines: Iterator[str],
    *,
    progress: Callable[[int, int], None] | None = None,
    source: str = "the CSV",
) -> ReplayReport:
    """Replay CSV ``lines``; rejected events are skipped and reported by line number.

    Rows whose event is ``delivered:TOUCHPOINT`` mark the journey's latest touchpoint of
    that name owed by then as delivered.
    """
    deliveries: list[_Delivery] = []
    numbered, problems = read_events(
        lines, progress=progress, deliveries=deliveries, source=source
    )
    groups: dict[str, list[tuple[int, Event]]] = {}
    for line, event in numbered:
        groups.setdefault(str(event.journey_id), []).append((line, event))
    marks: dict[str, list[_Delivery]] = {}
    for delivery in deliveries:
        marks.setdefault(delivery[1], []).append(delivery)
    journeys: dict[str, Journey] = {}
    delivered = late = 0
    for jid, group in groups.items():
        if jid not in marks:
            try:
                journeys[jid] = _fold(definition, None, [e for _, e in group])
                continue
            except CareKitError:
                pass
        # One by one, in file order: deliveries between the events (a touchpoint delivered
        # before a cancellation withdrew the rest), rejected events skipped and reported.
        found, sent, sent_late = _one_by_one(definition, group, marks.pop(jid, []), problems)
        delivered += sent
        late += sent_late
        if found is not None:
            journeys[jid] = found
    for rows in marks.values():  # deliveries for journeys without events
        for line, jid, name, at in rows:
            problems.append(
                f"line {line}: journey {jid!r} owes no touchpoint {name!r} at {at.isoformat()}"
            )
    problems.sort(key=lambda p: int(p.split(":", 1)[0].split()[1]))
    latest = max(
        [j.updated_at for j in journeys.values()] + [d[3] for d in deliveries], default=None
    )
    return ReplayReport(
        journeys=journeys, events=len(numbered), problems=tuple(problems), now=latest,
        delivered=delivered, delivered_late=late,
    )


def _one_by_one(
    definition: JourneyDefinition,
    group: list[tuple[int, Event]],
    deliveries: list[_Delivery],
    problems: list[str],
) -> tuple[Journey | None, int, int]:
    """One journey's events and delivery rows in file order: (journey, delivered, late)."""
    rows: list[tuple[int, Event | None, _Delivery | None]] = [(line, e, None) for line, e in group]
    rows += [(d[0], None, d) for d in deliveries]
    rows.sort(key=lambda row: row[0])
    journey: Journey | None = None
    delivered = late = 0
    for line, event, delivery in rows:
        if event is not None:
            try:
                journey = (
                    _fold(definition, None, [event]) if journey is None
                    else journey.apply(event).journey
                )
            except CareKitError as exc:
                problems.append(f"line {line}: {exc}")
            continue
        assert delivery is not None
        _, jid, name, at = delivery
        candidates = [] if journey is None else [
            tp for tp in journey.owed if tp.name == name and tp.owed_at <= at
        ]
        if journey is None or not candidates:
            problems.append(
                f"line {line}: journey {jid!r} owes no touchpoint {name!r} at {at.isoformat()}"
            )
            continue
        tp = candidates[-1]
        journey = journey.delivered(tp.idempotency_key, at=at)
        delivered += 1
        late += at > tp.due
    return journey, delivered, late


def _run_load(args: argparse.Namespace, out: TextIO) -> int:
    """``carekit journey load``: 0 when every row was stored, 1 when some were refused."""
    from carekit.journeys.stores.urls import open_store, refuse_conninfo
    from carekit.plugins import CareKit

    refuse_conninfo(args.store)  # before reading the events, as open_store would after
    definition = _definition(args.journey)
    path: pathlib.Path = args.events
    deliveries: list[_Delivery] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        numbered, problems = read_events(iter(handle), deliveries=deliveries, source=str(path))
    groups: dict[str, list[tuple[int, Event]]] = {}
    for line, event in numbered:
        groups.setdefault(str(event.journey_id), []).append((line, event))
    kit = CareKit()
    stored = created = breaches = 0
    store = open_store(args.store, definitions=kit)
    try:
        for jid, rows in groups.items():
            group = rows
            if jid not in store:
                # Created only together with an event it keeps: at the first row a fresh
                # journey takes (with that row's data), as replay starts it.
                start = _first_storable(definition, jid, group, problems)
                if start is None:
                    continue
                group = rows[start:]
                created += 1
            first = group[0][1]
            data = first.data
            journey = store.create(
                definition, jid, at=first.at, exist_ok=True,
                customer_id=_text(data.get("customer_id")), channel=_text(data.get("channel")),
                tz=_text(data.get("tz")),
            )
            after = journey
            try:
                after = store.append(jid, [e for _, e in group], kit=kit)
            except CareKitError:
                for line, event in group:  # one by one, reporting what is refused
                    try:
                        after = store.append(jid, event, kit=kit)
                    except CareKitError as exc:
                        problems.append(f"line {line}: {exc}")
            # Deadline breaches the store recorded before events that came too late for them.
            new_ids = set(after.seen_event_ids).difference(journey.seen_event_ids)
            missed = len(new_ids.difference(e.id for _, e in group))
            breaches += missed
            stored += after.version - journey.version - missed
    finally:
        store.close()
    problems.sort(key=lambda p: int(p.split(":", 1)[0].split()[1]))
    skipped = (
        f", {len(deliveries):,} delivery rows skipped (the worker delivers)" if deliveries else ""
    )
    recorded = f", {breaches:,} missed deadline breaches recorded" if breaches else ""
    out.write(
        f"{printable(str(path))}: {len(numbered):,} events read, {stored:,} stored{recorded}, "
        f"{created:,} journeys created{skipped}, {len(problems):,} problem(s)\n"
    )
    for problem in problems[:20]:
        out.write(f"  {printable(problem)}\n")
    if len(problems) > 20:
        out.write(f"  ... and {len(problems) - 20:,} more\n")
    return 1 if problems else 0


def _first_storable(
    definition: JourneyDefinition, jid: str, group: list[tuple[int, Event]], problems: list[str]
) -> int | None:
    """The index of the first row a new journey started at it would store; None if none.

    The rows before it are refused, as the store would refuse them, and added to
    ``problems`` by line.
    """
    from carekit.journeys.stores._shared import apply_events
    from carekit.journeys.stores._timers import promise_payload

    for index, (line, event) in enumerate(group):
        data = event.data
        try:
            journey = definition.start(
                jid, at=event.at, customer_id=_text(data.get("customer_id")),
                channel=_text(data.get("channel")), tz=_text(data.get("tz")),
            )
            _, applied, _ = apply_events(journey, [event])
            promise_payload(applied)
        except CareKitError as exc:
            problems.append(f"line {line}: {exc}")
            continue
        if applied:
            return index
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _run_replay(args: argparse.Namespace, out: TextIO) -> int:
    definition = _definition(args.journey)
    path: pathlib.Path = args.events
    with path.open(newline="", encoding="utf-8-sig") as handle, \
            file_progress(path, args.progress) as advance:
        lines = handle if advance is None else counted(handle, advance)
        report = replay_csv(definition, iter(lines), source=str(path))
    now = args.now if args.now is not None else report.now
    if args.format == "csv":
        _write_journeys_csv(out, definition, report, now)
    elif args.format == "json":
        _write_journeys_json(out, definition, report, now, str(path))
    else:
        _write_report(out, definition, report, now, str(path), args.limit)
    return 1 if report.problems else 0


_JOURNEY_COLUMNS = ("journey_id", "state", "phase", "version", "started_at", "updated_at",
                    "friction", "needs_recovery", "overdue")


def _journey_rows(
    definition: JourneyDefinition, report: ReplayReport, now: dt.datetime | None
) -> Iterator[dict[str, Any]]:
    """One row (:data:`_JOURNEY_COLUMNS`) per replayed journey, in the order first seen."""
    threshold = definition.friction.threshold
    for j in report.journeys.values():
        yield {"journey_id": j.journey_id, "state": j.state, "phase": j.phase.value,
               "version": j.version, "started_at": j.started_at.isoformat(),
               "updated_at": j.updated_at.isoformat(), "friction": j.friction,
               "needs_recovery": j.friction >= threshold,
               "overdue": len(j.overdue(now)) if now is not None else 0}


def _write_journeys_csv(
    out: TextIO, definition: JourneyDefinition, report: ReplayReport, now: dt.datetime | None
) -> None:
    """One CSV row per replayed journey; rejected rows go to stderr (stdout carries data)."""
    write_csv(out, _JOURNEY_COLUMNS, _journey_rows(definition, report, now))
    if report.problems:
        print(f"problems: {len(report.problems):,} (rows skipped)", file=sys.stderr)
        for problem in report.problems:
            print(f"  {printable(problem)}", file=sys.stderr)


def _write_journeys_json(
    out: TextIO,
    definition: JourneyDefinition,
    report: ReplayReport,
    now: dt.datetime | None,
    source: str,
) -> None:
    """The replay as one JSON document: the table's figures, every journey's row, every
    overdue obligation (by due time) and every rejected row."""
    journeys = report.journeys
    counts = Counter(j.state for j in journeys.values())
    overdue: list[dict[str, Any]] = []
    if now is not None:
        late = [o for j in journeys.values() for o in j.overdue(now)]
        late.sort(key=lambda o: (o.due, o.idempotency_key))
        overdue = [
            {"journey_id": o.journey_id, "kind": o.kind, "name": o.name,
             "due": o.due.isoformat(), "late_by_seconds": o.late_by(now).total_seconds(),
             "key": o.idempotency_key}
            for o in late
        ]
    doc = {
        "journey": definition.name,
        "source": source,
        "now": None if now is None else now.isoformat(),
        "journeys": len(journeys),
        "events": report.events,
        "delivered": report.delivered,
        "delivered_late": report.delivered_late,
        "states": {s.name: counts[s.name] for s in definition.states if counts[s.name]},
        "friction_threshold": definition.friction.threshold,
        "rows": list(_journey_rows(definition, report, now)),
        "overdue": overdue,
        "problems": list(report.problems),
    }
    json.dump(doc, out, indent=2)
    out.write("\n")


def _write_report(
    out: TextIO,
    definition: JourneyDefinition,
    report: ReplayReport,
    now: dt.datetime | None,
    source: str,
    limit: int,
) -> None:
    journeys = report.journeys
    out.write(
        f"journey {definition.name!r}: {len(journeys):,} journeys, {report.events:,} events "
        f"from {printable(source)}\n"
    )
    if report.delivered:
        out.write(
            f"touchpoints delivered: {report.delivered:,} "
            f"({report.delivered_late:,} after their due time)\n"
        )
    out.write("\n")
    counts = Counter(j.state for j in journeys.values())
    out.write(f"{'state':<26}{'phase':<8}{'journeys':>9}\n")
    for state in definition.states:
        if counts[state.name]:
            out.write(f"{state.name:<26}{state.phase.value:<8}{counts[state.name]:>9,}\n")
    if now is not None:
        late = [o for j in journeys.values() for o in j.overdue(now)]
        late.sort(key=lambda o: (o.due, o.idempotency_key))
        out.write(f"\noverdue as of {now.isoformat()}: {len(late):,}\n")
        for o in late[:limit]:
            what = "deadline  " if o.kind == "deadline" else "touchpoint"
            out.write(
                f"  {printable(o.journey_id):<12} {what} {o.name:<26} due {o.due.isoformat()}  "
                f"late by {o.late_by(now)}\n"
            )
        if len(late) > limit:
            out.write(f"  ... and {len(late) - limit:,} more\n")
    threshold = definition.friction.threshold
    rough = sorted(
        (j for j in journeys.values() if j.friction >= threshold / 2),
        key=lambda j: (-j.friction, j.journey_id),
    )
    needing = sum(1 for j in rough if j.friction >= threshold)
    out.write(
        f"\nhigh friction (threshold {threshold:g}): {needing:,} need recovery, "
        f"{len(rough) - needing:,} to watch (above {threshold / 2:g})\n"
    )
    for j in rough[:limit]:
        flag = "needs recovery" if j.friction >= threshold else "watch"
        out.write(
            f"  {printable(j.journey_id):<12} friction {j.friction:5.2f}  {j.state:<24} {flag}\n"
        )
    if report.problems:
        out.write(f"\nproblems: {len(report.problems):,} (rows skipped)\n")
        for problem in report.problems[:limit]:
            out.write(f"  {printable(problem)}\n")
        if len(report.problems) > limit:
            out.write(f"  ... and {len(report.problems) - limit:,} more\n")


# -- demo -----------------------------------------------------------------------------------


def _sample_lines() -> Sequence[str]:
    text = (importlib.resources.files("carekit") / "data" / SAMPLE).read_text(encoding="utf-8")
    return io.StringIO(text).readlines()


def demo(out: TextIO, workdir: pathlib.Path) -> None:
    """Drive one order through its journey, showing every touchpoint owed; replay a log."""
    from carekit.journeys.builtins import order_journey
    from carekit.journeys.sqlite_store import SQLiteJourneyStore
    from carekit.journeys.worker import Worker
    from carekit.testing import RecordingChannel, make_carekit

    out.write("== Journeys ==\n")
    order = order_journey()
    t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
    db = workdir / "journeys.db"
    db.unlink(missing_ok=True)
    # The recording channel takes over email delivery: it records instead of sending.
    email = RecordingChannel("email", register=False)
    kit = make_carekit(email)
    script: list[tuple[str, dt.timedelta, dict[str, Any] | None]] = [
        ("place", dt.timedelta(0), None),
        ("acknowledge", dt.timedelta(minutes=12), None),
        ("start_production", dt.timedelta(days=1), None),
        ("promise_at_risk", dt.timedelta(days=3), {"reason": "fabric delayed"}),
        ("near_completion", dt.timedelta(days=6), None),
        ("ship", dt.timedelta(days=7), {"tracking_number": "1Z999AA10123456784"}),
        ("deliver", dt.timedelta(days=9), None),
        ("follow_up", dt.timedelta(days=11), {"sentiment": 0.8}),
        ("close", dt.timedelta(days=12), None),
    ]
    out.write(f"order-1001 for customer c-42 (prefers email), starting {t0:%a %d %b %H:%M} UTC\n")
    out.write(f"kept in the SQLite journey store {db.name}; a Worker fires deadlines and "
              "delivers what is owed (email recorded, not sent)\n")
    with SQLiteJourneyStore(db) as store:
        worker = Worker(kit, store, timeout=None)
        journey = store.create(order, "order-1001", at=t0, customer_id="c-42", channel="email")
        for n, (name, offset, data) in enumerate(script, start=1):
            event = Event(name, at=t0 + offset, id=f"order-1001/{n}", data=data)
            before = journey
            journey = store.append("order-1001", event, expected_version=before.version)
            out.write(f"  {name:<17} -> {journey.state}\n")
            known = {tp.idempotency_key for tp in before.owed}
            for tp in journey.owed:
                if tp.idempotency_key in known:
                    continue
                extra = ""
                if "tracking_number" in tp.data:
                    extra = f" tracking {tp.data['tracking_number']}"
                out.write(
                    f"      owes {tp.name} via {tp.channel} by {tp.due:%a %d %b %H:%M}{extra}"
                    f"  [{tp.idempotency_key}]\n"
                )
            running = {d.idempotency_key for d in before.deadlines}
            for d in journey.deadlines:
                if d.idempotency_key not in running:
                    out.write(
                        f"      deadline: leave {d.state} by {d.due:%H:%M} else {d.breach_event}\n"
                    )
            for later in (dt.timedelta(minutes=5), dt.timedelta(days=2, minutes=5)):
                if later.days and name != "deliver":
                    continue  # the satisfaction check waits two days after delivery
                work = worker.run_once(event.at + later)
                for attempt in work.attempts:
                    if attempt.outcome == "sent":
                        out.write(f"      sent {attempt.touchpoint} via {attempt.channel} at "
                                  f"{event.at + later:%a %d %b %H:%M} "
                                  f"(reference {attempt.reference})\n")
            journey = store.load("order-1001")
        again = store.append("order-1001", Event("close", at=t0 + dt.timedelta(days=12),
                                                 id="order-1001/9"))
        out.write(f"  close again (same id) -> ignored by the store: still version "
                  f"{again.version}\n")
    with SQLiteJourneyStore(db) as reopened:
        stored = reopened.load("order-1001")
        entries = reopened.outbox("order-1001")
    sent_names = [e.name for e in entries if e.status == "sent"]
    out.write(f"reopened {db.name}: order-1001 is {stored.state!r} at version {stored.version}; "
              f"{len(sent_names)} touchpoints sent once each ({', '.join(sent_names)}), "
              f"{len(stored.owed)} still owed\n")
    out.write(f"the email channel received {len(email.deliveries)} deliveries, "
              f"{len({d.idempotency_key for d in email.deliveries})} distinct idempotency keys\n")

    _demo_day(out, workdir)

    report = replay_csv(order, iter(_sample_lines()))
    out.write(f"\nreplayed {report.events} events of {len(report.journeys)} orders "
              f"from the bundled {SAMPLE}; the file records {report.delivered} touchpoints "
              f"delivered ({report.delivered_late} late)\n")
    counts = Counter(j.state for j in report.journeys.values())
    out.write("  " + ", ".join(f"{s.name} {counts[s.name]}" for s in order.states
                               if counts[s.name]) + "\n")
    if report.now is not None:
        late = [o for j in report.journeys.values() for o in j.overdue(report.now)]
        out.write(f"  overdue at the last event ({report.now:%a %d %b %H:%M}): {len(late)}")
        kinds = Counter(o.name for o in late)
        out.write(" (" + ", ".join(f"{k} {v}" for k, v in kinds.most_common(3)) + ")\n"
                  if kinds else "\n")
    rough = [j for j in report.journeys.values() if j.friction >= order.friction.threshold]
    out.write(f"  journeys needing service recovery (friction >= "
              f"{order.friction.threshold:g}): {', '.join(j.journey_id for j in rough) or 'none'}"
              f"\n")


class _DemoChannels:
    """The demo's channels: the built-ins, SMS quiet from 21:00 to 08:00 London time; every
    delivery recorded instead of sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    @hookimpl
    def carekit_register_channels(self) -> list[Any]:
        from carekit.channels import BUILTIN_CHANNELS

        return [
            attrs.evolve(c, quiet_hours=(dt.time(21), dt.time(8)), tz="Europe/London")
            if c.name == "sms" else c
            for c in BUILTIN_CHANNELS
        ]

    @hookimpl
    def carekit_deliver_touchpoint(self, idempotency_key: str) -> Any:
        from carekit.channels import DeliveryResult

        self.sent.append(idempotency_key)
        return DeliveryResult(reference=f"demo-{len(self.sent)}")


def _demo_day(out: TextIO, workdir: pathlib.Path) -> None:
    """The bundled sample orders, with a worker on a simulated clock; one day in detail."""
    from carekit.journeys.stores.sqlite import SQLiteJourneyStore
    from carekit.journeys.worker import Worker
    from carekit.plugins import CareKit

    order = order_journey_definition()
    numbered, _ = read_events(iter(_sample_lines()), deliveries=[])
    events = sorted((e for _, e in numbered), key=lambda e: e.at)
    kit = CareKit(load_entrypoints=False)
    kit.unregister("carekit.channels")
    channels = _DemoChannels()
    kit.register(channels, "demo-channels")
    db = workdir / "worker-demo.db"
    db.unlink(missing_ok=True)
    start = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
    day = dt.date(2026, 3, 4)
    out.write(f"\nthe worker on a simulated clock: the bundled {SAMPLE} in {db.name}, "
              "a pass every 15 minutes (SMS quiet 21:00-08:00 London time)\n")
    out.write(f"{day:%a %d %b}, every deadline fired and every message sent:\n")
    shown = 0
    with SQLiteJourneyStore(db, definitions=kit) as store:
        worker = Worker(kit, store, timeout=None)
        tick = start
        i = 0
        while tick <= dt.datetime(2026, 3, 20, tzinfo=dt.timezone.utc):
            while i < len(events) and events[i].at <= tick:
                e = events[i]
                i += 1
                jid = str(e.journey_id)
                if jid not in store:
                    store.create(order, jid, at=e.at, customer_id=_text(e.data.get("customer_id")),
                                 channel=_text(e.data.get("channel")))
                with contextlib.suppress(CareKitError):  # the sample has a few bad rows
                    store.append(jid, e)
            report = worker.run_once(tick)
            if tick.date() == day:
                for timer in report.timers:
                    shown += 1
                    what = timer.event.name if timer.event is not None else timer.key
                    out.write(f"  {tick:%H:%M}  fired     {what:<24} {timer.journey_id} "
                              f"(due {timer.due:%H:%M})\n")
                for a in report.attempts:
                    shown += 1
                    if a.outcome == "deferred" and a.retry_at is not None:
                        note = f"until {a.retry_at:%a %H:%M} UTC (quiet hours)"
                        out.write(f"  {tick:%H:%M}  held back {a.touchpoint:<24} "
                                  f"{a.journey_id} via {a.channel} {note}\n")
                    else:
                        out.write(f"  {tick:%H:%M}  {a.outcome:<9} {a.touchpoint:<24} "
                                  f"{a.journey_id} via {a.channel}\n")
            tick += dt.timedelta(minutes=15)
        counts = store.outbox_counts()
    out.write(f"  ({shown} lines that day)\n")
    out.write("after the last event: outbox " + ", ".join(
        f"{status} {n}" for status, n in counts.items()) + f"; the worker sent "
        f"{len(channels.sent)} messages that day, each once\n")


def order_journey_definition() -> JourneyDefinition:
    from carekit.journeys.builtins import order_journey

    return order_journey()
