"""A worker's spans and metrics through OpenTelemetry (``carekit.journeys.otel``), read back
with the real SDK in memory."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import io
import pathlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from tests import _extras
from tests.journeys._store_helpers import HOUR, MINUTE, T0

_extras.need("opentelemetry.sdk", "test")

from opentelemetry import metrics, trace  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode  # noqa: E402

from carekit import CareKitError, hookimpl  # noqa: E402
from carekit.channels import Channel, DeliveryResult  # noqa: E402
from carekit.cli import main  # noqa: E402
from carekit.errors import StoreError  # noqa: E402
from carekit.journeys import (  # noqa: E402
    Event,
    MemoryJourneyStore,
    SQLiteJourneyStore,
    Worker,
    aio,
    order_journey,
)
from carekit.journeys.otel import Instrumentation, instrument  # noqa: E402
from carekit.testing import make_carekit  # noqa: E402


class Telemetry:
    """An SDK tracer and meter provider that keep what they get, in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def instrument(self, worker: Any) -> Instrumentation:
        return instrument(worker, tracer_provider=self.tracer_provider,
                          meter_provider=self.meter_provider)

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans()
                if name is None or s.name.startswith(name)]

    def deliveries(self) -> dict[str, ReadableSpan]:
        return {s.attributes["carekit.journey_id"]: s  # type: ignore[index,misc]
                for s in self.spans("carekit.deliver")}

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        return [point for rm in data.resource_metrics for sm in rm.scope_metrics
                for metric in sm.metrics if metric.name == name
                for point in metric.data.data_points]

    def counts(self, name: str, key: str) -> dict[str, int]:
        return {p.attributes[key]: p.value for p in self.points(name)}


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    telemetry = Telemetry()
    yield telemetry
    telemetry.tracer_provider.shutdown()
    telemetry.meter_provider.shutdown()


class Scripted:
    """An ``sms`` plugin whose answer depends on the journey: ``sent-*`` delivered after
    ``delay`` seconds, ``raises-*`` raises, ``defers-*`` puts it off, ``declines-*`` is
    final. It notes the span current while it runs."""

    channel = "sms"  # a built-in channel

    def __init__(self, delay: float = 0.03) -> None:
        self.delay = delay
        self.current: dict[str, int] = {}

    @hookimpl
    def carekit_deliver_touchpoint(
        self, touchpoint: Any, channel: Channel, idempotency_key: str
    ) -> DeliveryResult | None:
        if channel.name != self.channel:
            return None
        journey = touchpoint.journey_id
        self.current[journey] = trace.get_current_span().get_span_context().span_id
        if journey.startswith("raises"):
            raise RuntimeError("provider down")
        if journey.startswith("defers"):
            return DeliveryResult(delivered=False, retry_at=T0 + 3 * HOUR)
        if journey.startswith("declines"):
            return DeliveryResult(delivered=False)
        import time

        time.sleep(self.delay)
        return DeliveryResult(reference=f"ref-{journey}")


class AsyncScripted(Scripted):
    """The same, as a coroutine plugin (on channel ``push``)."""

    channel = "push"

    @hookimpl
    def carekit_register_channels(self) -> list[Channel]:
        return [Channel("push")]

    @hookimpl
    async def carekit_deliver_touchpoint(  # type: ignore[override]
        self, touchpoint: Any, channel: Channel, idempotency_key: str
    ) -> DeliveryResult | None:
        await asyncio.sleep(0)
        return super().carekit_deliver_touchpoint(touchpoint, channel, idempotency_key)


JOURNEYS = ("sent-1", "raises-1", "defers-1", "declines-1")


def _acknowledged(store: Any, journey_id: str, channel: str = "sms") -> None:
    store.create(order_journey(), journey_id, at=T0, channel=channel)
    store.append(journey_id, [Event("place", at=T0, id=f"{journey_id}-p"),
                              Event("acknowledge", at=T0, id=f"{journey_id}-a")])


def _seconds(span: ReadableSpan) -> float:
    assert span.start_time is not None and span.end_time is not None
    return (span.end_time - span.start_time) / 1e9


# -- spans ---------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [None, dt.timedelta(seconds=5)], ids=["inline", "thread"])
def test_each_delivery_is_a_span_with_its_outcome_under_the_pass(
    otel: Telemetry, timeout: dt.timedelta | None
) -> None:
    store = MemoryJourneyStore()
    for journey_id in JOURNEYS:
        _acknowledged(store, journey_id)
    plugin = Scripted()
    worker = Worker(make_carekit(plugin), store, timeout=timeout)
    otel.instrument(worker)
    report = worker.run_once(T0 + MINUTE)
    assert (report.sent, report.failed, report.deferred, report.dead) == (1, 1, 1, 1)

    [pass_span] = otel.spans("carekit.worker.pass")
    spans = otel.deliveries()
    assert sorted(spans) == sorted(JOURNEYS)
    for attempt in report.attempts:
        span = spans[attempt.journey_id]
        assert span.name == "carekit.deliver sms"
        assert dict(span.attributes or {}).items() >= {
            "carekit.journey_id": attempt.journey_id,
            "carekit.touchpoint": "order_thanks",
            "carekit.channel": "sms",
            "carekit.idempotency_key": attempt.idempotency_key,
            "carekit.attempt": 1,
            "carekit.outcome": attempt.outcome,
        }.items()
        # under the pass, and current while the plugin ran (on the delivery thread too)
        assert span.parent is not None and span.parent.span_id == pass_span.context.span_id
        assert plugin.current[attempt.journey_id] == span.context.span_id
        assert attempt.latency is not None  # the plugin was called, raising or not
        assert _seconds(span) == pytest.approx(attempt.latency.total_seconds(), abs=0.02)
        assert pass_span.start_time <= span.start_time  # type: ignore[operator]
        assert span.end_time <= pass_span.end_time  # type: ignore[operator]
        if attempt.outcome in ("failed", "dead"):
            assert span.status.status_code is StatusCode.ERROR
            assert span.status.description == attempt.error
        else:
            assert span.status.status_code is StatusCode.UNSET
    assert _seconds(spans["sent-1"]) >= 0.03
    assert spans["sent-1"].attributes["carekit.reference"] == "ref-sent-1"  # type: ignore[index]
    deferred = spans["defers-1"].attributes or {}
    assert deferred["carekit.retry_at"] == (T0 + 3 * HOUR).isoformat()
    assert "put it off" in str(deferred["carekit.reason"])
    [event] = spans["raises-1"].events  # the plugin's exception, recorded
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "RuntimeError"
    assert event.attributes["exception.message"] == "provider down"
    assert "RuntimeError: provider down" in str(spans["raises-1"].status.description)
    assert dict(pass_span.attributes or {}) == {
        "carekit.worker.claimant": worker.claimant, "carekit.now": (T0 + MINUTE).isoformat(),
        "carekit.fired": 0, "carekit.sent": 1, "carekit.failed": 1, "carekit.dead": 1,
        "carekit.deferred": 1, "carekit.withdrawn": 0, "carekit.released": 0,
    }
    assert pass_span.status.status_code is StatusCode.UNSET


def test_timers_fired_are_spans_and_counted(otel: Telemetry) -> None:
    store = MemoryJourneyStore()
    for i in range(3):  # placed, never acknowledged: the hour's deadline breaches
        store.create(order_journey(), f"o-{i}", at=T0, channel="sms")
        store.append(f"o-{i}", Event("place", at=T0, id=f"p-{i}"))
    worker = Worker(make_carekit(Scripted()), store, fire_limit=2)  # two rounds
    otel.instrument(worker)
    report = worker.run_once(T0 + 2 * HOUR)
    assert report.fired == 3
    [pass_span] = otel.spans("carekit.worker.pass")
    fired = otel.spans("carekit.fire")
    assert [s.name for s in fired] == ["carekit.fire deadline"] * 3
    for timer, span in zip(report.timers, fired, strict=True):
        assert dict(span.attributes or {}) == {
            "carekit.journey_id": timer.journey_id,
            "carekit.timer.kind": "deadline",
            "carekit.timer.key": timer.key,
            "carekit.timer.due": timer.due.isoformat(),
            "carekit.event": "acknowledgement_overdue",
        }
        assert span.parent is not None and span.parent.span_id == pass_span.context.span_id
    assert pass_span.attributes["carekit.fired"] == 3  # type: ignore[index]
    assert otel.counts("carekit.worker.timers", "carekit.timer.kind") == {"deadline": 3}
    assert worker.counters["fired"] == 3


def test_an_idle_pass_leaves_no_span(otel: Telemetry) -> None:
    worker = Worker(make_carekit(Scripted()), MemoryJourneyStore())
    otel.instrument(worker)
    for minute in range(3):
        assert worker.run_once(T0 + minute * MINUTE).idle
    assert otel.spans() == []
    assert worker.counters["passes"] == 3


def test_withdrawn_and_released_touchpoints_are_spans_too(otel: Telemetry) -> None:
    store = MemoryJourneyStore()
    for i in range(3):
        _acknowledged(store, f"sent-{i}")

    class StopsTheWorker(Scripted):
        worker: Any = None

        @hookimpl
        def carekit_deliver_touchpoint(
            self, touchpoint: Any, channel: Channel, idempotency_key: str
        ) -> DeliveryResult | None:
            self.worker.stop()  # the rest of the batch is given back
            return super().carekit_deliver_touchpoint(touchpoint, channel, idempotency_key)

    plugin = StopsTheWorker(delay=0)
    worker = Worker(make_carekit(plugin), store, timeout=None)
    plugin.worker = worker
    otel.instrument(worker)
    report = worker.run_once(T0 + MINUTE)
    assert (report.sent, report.released) == (1, 2)
    outcomes = sorted(str((s.attributes or {})["carekit.outcome"])
                      for s in otel.spans("carekit.deliver"))
    assert outcomes == ["released", "released", "sent"]
    assert otel.counts("carekit.worker.attempts", "carekit.outcome") == {
        "sent": 1, "released": 2}
    # what was given back is still due: the lag gauge says how long it has waited
    assert worker.counters["lag_seconds"] == 60
    [lag] = otel.points("carekit.worker.lag")
    assert lag.value == 60
    assert dict(lag.attributes) == {"carekit.worker.claimant": worker.claimant}


# -- metrics -------------------------------------------------------------------------------


def test_metrics_equal_the_reports_and_counters(otel: Telemetry, tmp_path: pathlib.Path) -> None:
    store = SQLiteJourneyStore(tmp_path / "j.db")
    for journey_id in (*JOURNEYS, "sent-2", "sent-3"):
        _acknowledged(store, journey_id)
    _acknowledged(store, "nowhere-1", channel="fax")  # no plugin delivers it: failed
    worker = Worker(make_carekit(Scripted(delay=0)), store, backoff=MINUTE)
    otel.instrument(worker)
    reports = [worker.run_once(T0 + m * MINUTE) for m in (1, 3, 10)]
    attempts = [a for r in reports for a in r.attempts]

    by_outcome: dict[str, int] = {}
    for point in otel.points("carekit.worker.attempts"):
        outcome = point.attributes["carekit.outcome"]
        by_outcome[outcome] = by_outcome.get(outcome, 0) + point.value
    counters = worker.counters
    assert by_outcome == {name: int(counters[name]) for name in
                          ("sent", "failed", "dead", "deferred") if counters[name]}
    assert sum(by_outcome.values()) == len(attempts) == counters["due"]
    by_channel = {(p.attributes["carekit.channel"], p.attributes["carekit.outcome"]): p.value
                  for p in otel.points("carekit.worker.attempts")}
    assert by_channel[("fax", "failed")] == sum(
        1 for a in attempts if a.channel == "fax" and a.outcome == "failed")

    timed = [a for a in attempts if a.latency is not None]
    histogram = otel.points("carekit.worker.delivery.duration")
    assert sum(p.count for p in histogram) == len(timed)
    assert sum(p.sum for p in histogram) == pytest.approx(
        sum(a.latency.total_seconds() for a in timed))  # type: ignore[union-attr]
    # seconds, in the buckets OpenTelemetry's conventions advise for HTTP client calls
    assert histogram[0].explicit_bounds[:3] == (0.005, 0.01, 0.025)

    [lag] = otel.points("carekit.worker.lag")
    assert lag.value == counters["lag_seconds"] == 0
    store.close()


def test_uninstrument_stops_every_span_and_measurement(otel: Telemetry) -> None:
    store = MemoryJourneyStore()
    _acknowledged(store, "sent-1")
    worker = Worker(make_carekit(Scripted(delay=0)), store)
    with otel.instrument(worker) as instrumentation:
        assert instrumentation.active and instrumentation.worker is worker
        assert worker.run_once(T0 + MINUTE).sent == 1
    assert not instrumentation.active
    assert "stopped" in repr(instrumentation)
    assert worker._observers == []
    before = len(otel.spans())
    _acknowledged(store, "sent-2")
    assert worker.run_once(T0 + 2 * MINUTE).sent == 1  # the worker runs on
    assert len(otel.spans()) == before == 2
    assert otel.counts("carekit.worker.attempts", "carekit.outcome") == {"sent": 1}
    assert otel.points("carekit.worker.lag") == []  # the gauge forgets the worker
    instrumentation.uninstrument()  # again: nothing happens
    # and it may be instrumented anew
    otel.instrument(worker).uninstrument()


def test_two_workers_on_one_meter_each_report_their_lag(otel: Telemetry) -> None:
    workers = [Worker(make_carekit(), MemoryJourneyStore(), claimant=f"w{i}") for i in (1, 2)]
    for worker in workers:
        otel.instrument(worker)
    workers[1]._lag = 7.0  # as a pass would leave it
    lags = {p.attributes["carekit.worker.claimant"]: p.value
            for p in otel.points("carekit.worker.lag")}
    assert lags == {"w1": 0, "w2": 7.0}


@pytest.mark.slow
def test_workers_instrumented_before_the_sdk_was_set_each_report_their_lag() -> None:
    # Regression: before an SDK sets the global meter provider, each worker's gauge was made
    # on a stand-in meter; once set, the real meter kept the first gauge's callback only.
    script = textwrap.dedent("""
        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from carekit.journeys import MemoryJourneyStore, Worker
        from carekit.journeys.otel import instrument
        from carekit.testing import make_carekit

        workers = [Worker(make_carekit(), MemoryJourneyStore(), claimant=f"w{i}")
                   for i in range(3)]
        instrument(workers[0])
        instrument(workers[1])  # both before the SDK is set
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        instrument(workers[2])
        for i, worker in enumerate(workers):
            worker._lag = float(i)
        print(sorted(
            (point.attributes["carekit.worker.claimant"], point.value)
            for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics
            for metric in sm.metrics if metric.name == "carekit.worker.lag"
            for point in metric.data.data_points
        ))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[('w0', 0.0), ('w1', 1.0), ('w2', 2.0)]\n"


def test_a_pass_that_fails_ends_its_span_with_the_error(otel: Telemetry) -> None:
    class Down(MemoryJourneyStore):
        def claim_due(self, **kwargs: Any) -> Any:
            msg = "database restarting"
            raise StoreError(msg)

    worker = Worker(make_carekit(), Down())
    otel.instrument(worker)
    with pytest.raises(StoreError):
        worker.run_once(T0)
    [span] = otel.spans()
    assert span.name == "carekit.worker.pass"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "StoreError: database restarting"
    assert [e.name for e in span.events] == ["exception"]


# -- the asyncio worker --------------------------------------------------------------------


def test_the_asyncio_worker_reports_the_same(otel: Telemetry) -> None:
    blocking, coroutine = Scripted(delay=0.01), AsyncScripted(delay=0.01)

    async def main() -> Any:
        store = await aio.open_store("memory://")
        for journey_id in JOURNEYS:
            await store.create(order_journey(), journey_id, at=T0, channel="sms")
            await store.append(journey_id, [Event("place", at=T0), Event("acknowledge", at=T0)])
            await store.create(order_journey(), f"{journey_id}-push", at=T0, channel="push")
            await store.append(f"{journey_id}-push",
                               [Event("place", at=T0), Event("acknowledge", at=T0)])
        worker = aio.Worker(make_carekit(blocking, coroutine), store)
        with otel.instrument(worker):
            report = await worker.run_once(T0 + MINUTE)
        await store.close()
        return report

    report = asyncio.run(main())
    assert (report.sent, report.failed, report.deferred, report.dead) == (2, 2, 2, 2)
    [pass_span] = otel.spans("carekit.worker.pass")
    spans = otel.deliveries()
    assert len(spans) == 8
    current = {**blocking.current, **coroutine.current}
    for attempt in report.attempts:
        span = spans[attempt.journey_id]
        assert span.name == f"carekit.deliver {attempt.channel}"
        assert (span.attributes or {})["carekit.outcome"] == attempt.outcome
        assert span.parent is not None and span.parent.span_id == pass_span.context.span_id
        # current in the coroutine plugin's task and in the blocking plugin's thread
        assert current[attempt.journey_id] == span.context.span_id
        failed = attempt.outcome in ("failed", "dead")
        assert (span.status.status_code is StatusCode.ERROR) is failed
    by_outcome: dict[str, int] = {}
    for point in otel.points("carekit.worker.attempts"):
        outcome = point.attributes["carekit.outcome"]
        by_outcome[outcome] = by_outcome.get(outcome, 0) + point.value
    assert by_outcome == {"sent": 2, "failed": 2, "deferred": 2, "dead": 2}


def test_a_cancelled_asyncio_pass_ends_its_spans_as_interrupted(otel: Telemetry) -> None:
    class Hangs(AsyncScripted):
        started: asyncio.Event

        @hookimpl
        async def carekit_deliver_touchpoint(  # type: ignore[override]
            self, touchpoint: Any, channel: Channel, idempotency_key: str
        ) -> DeliveryResult | None:
            if channel.name != "push":
                return None
            self.started.set()
            await asyncio.sleep(60)
            return DeliveryResult()

    async def main() -> None:
        store = await aio.open_store("memory://")
        await store.create(order_journey(), "hangs-1", at=T0, channel="push")
        await store.append("hangs-1", [Event("place", at=T0), Event("acknowledge", at=T0)])
        plugin = Hangs()
        plugin.started = asyncio.Event()
        worker = aio.Worker(make_carekit(plugin), store, timeout=None)
        otel.instrument(worker)
        task = asyncio.ensure_future(worker.run_once(T0 + MINUTE))
        await asyncio.wait_for(plugin.started.wait(), 10)  # the delivery is under way
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await store.close()

    asyncio.run(main())
    deliver, one_pass = otel.spans()
    assert deliver.name == "carekit.deliver push"
    assert (deliver.attributes or {})["carekit.outcome"] == "failed"
    assert (deliver.status.status_code, deliver.status.description) == (
        StatusCode.ERROR, "interrupted")
    assert one_pass.name == "carekit.worker.pass"
    assert one_pass.status.status_code is StatusCode.ERROR
    assert str(one_pass.status.description).startswith("CancelledError")


# -- errors --------------------------------------------------------------------------------


def test_instrument_refuses_what_is_not_a_worker_and_a_second_instrumentation(
    otel: Telemetry,
) -> None:
    with pytest.raises(CareKitError, match=r"worker must be a carekit.journeys.Worker or "
                                           r"carekit.journeys.aio.Worker \(got 'worker'\)"):
        otel.instrument("worker")
    worker = Worker(make_carekit(), MemoryJourneyStore(), claimant="w")
    with otel.instrument(worker), pytest.raises(CareKitError, match="instrumented already"):
        otel.instrument(worker)


@pytest.mark.slow
def test_a_worker_not_instrumented_never_imports_opentelemetry() -> None:
    script = textwrap.dedent("""
        import datetime as dt, sys
        import carekit.cli, carekit.journeys.aio, carekit.journeys.otel
        from carekit.journeys import MemoryJourneyStore, Worker
        from carekit.testing import make_carekit
        Worker(make_carekit(), MemoryJourneyStore()).run_once(
            dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc))
        print(sorted(name for name in sys.modules if name.startswith("opentelemetry")))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert (proc.returncode, proc.stdout) == (0, "[]\n"), proc.stderr


def _without_opentelemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name.startswith("opentelemetry") or name == "carekit.journeys._otel":
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.delattr(sys.modules["carekit.journeys"], "_otel", raising=False)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import fails


def test_without_the_extra_instrument_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = Worker(make_carekit(), MemoryJourneyStore())
    _without_opentelemetry(monkeypatch)
    with pytest.raises(CareKitError, match=r"opentelemetry-api, which is not installed: "
                                           r"pip install 'carekit\[otel\]'"):
        instrument(worker)
    assert worker._observers == []


def test_an_observer_that_raises_never_stops_the_worker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError(f"broken {name}")

    store = MemoryJourneyStore()
    _acknowledged(store, "sent-1")
    worker = Worker(make_carekit(Scripted(delay=0)), store)
    worker._observers.append(Broken())  # type: ignore[arg-type]
    assert worker.run_once(T0 + MINUTE).sent == 1
    failed = {r.getMessage().rsplit(" in ", 1)[1] for r in caplog.records
              if "observer" in r.getMessage()}
    assert failed == {"starting", "delivering", "attempted", "passed"}


# -- carekit worker --otel -----------------------------------------------------------------


@functools.cache
def _global_telemetry() -> Telemetry:
    # The global providers can be set once per process.
    telemetry = Telemetry()
    trace.set_tracer_provider(telemetry.tracer_provider)
    metrics.set_meter_provider(telemetry.meter_provider)
    return telemetry


def _store_file(tmp_path: pathlib.Path) -> pathlib.Path:
    db = tmp_path / "j.db"
    with SQLiteJourneyStore(db) as store:
        store.create(order_journey(), "o-1", at=T0, channel="email")
        store.append("o-1", Event("place", at=T0, id="p"))  # never acknowledged
    return db


def test_the_cli_reports_to_the_global_providers_with_otel(tmp_path: pathlib.Path) -> None:
    telemetry = _global_telemetry()
    telemetry.exporter.clear()
    db = _store_file(tmp_path)
    out = io.StringIO()
    status = main(["worker", "--store", f"sqlite:///{db}", "--once", "--otel",
                   "--now", "2026-03-02T11:00+00:00", "--log-level", "error"], out=out)
    assert status == 0 and "fired 1" in out.getvalue()
    assert [s.name for s in telemetry.spans()] == ["carekit.fire deadline",
                                                   "carekit.worker.pass"]


def test_the_cli_without_the_extra_says_so_in_one_line(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _store_file(tmp_path)
    _without_opentelemetry(monkeypatch)
    out = io.StringIO()
    status = main(["worker", "--store", f"sqlite:///{db}", "--once", "--otel"], out=out)
    err = capsys.readouterr().err
    assert status == 2 and out.getvalue() == ""
    assert err == ("carekit worker: error: traces and metrics need opentelemetry-api, which is "
                   "not installed: pip install 'carekit[otel]'\n")
    with SQLiteJourneyStore(db) as store:  # nothing was done
        assert [e.name for e in store.events("o-1")] == ["place"]


@pytest.mark.slow
def test_the_cli_warns_when_no_sdk_is_configured(tmp_path: pathlib.Path) -> None:
    db = _store_file(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from carekit.cli import main; sys.exit(main())",
         "worker", "--store", f"sqlite:///{db}", "--once", "--otel",
         "--now", "2026-03-02T11:00+00:00"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "fired 1" in proc.stdout
    assert ("--otel: no OpenTelemetry SDK set the global tracer and meter provider, so "
            "nothing is exported") in proc.stderr
