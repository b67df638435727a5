"""What :func:`carekit.journeys.otel.instrument` puts in a worker: spans and metrics (private).

This module imports opentelemetry; :mod:`carekit.journeys.otel` imports it only when asked.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from contextvars import Token
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation
from opentelemetry.trace import Span, Status, StatusCode, TracerProvider

import carekit
from carekit.journeys.stores.protocol import ClaimedTouchpoint, Fired
from carekit.journeys.worker import Attempt, WorkerBase, WorkReport, _Raised

#: The instrumentation scope of every span and metric.
SCOPE = "carekit"

#: Bucket boundaries (seconds) of the delivery duration histogram: the ones the OpenTelemetry
#: semantic conventions advise for ``http.client.request.duration`` (most channel plugins
#: call a provider over HTTP).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                    7.5, 10.0)

#: The outcomes that are failures: their spans have the ERROR status.
_FAILED = frozenset({"failed", "dead"})


class _LagGauge:
    """One ``carekit.worker.lag`` gauge per meter, observing every worker instrumented on it.

    A meter keeps the first instrument of a name, and with it the first callback only: the
    gauge is made once, and its callback reports each instrumented worker.
    """

    def __init__(self, meter: Meter, *, proxy: bool) -> None:
        self.telemetries: list[Telemetry] = []
        # The global provider's stand-in meter, before an SDK is set (see _lag_gauge).
        self.proxy = meter if proxy else None
        meter.create_observable_gauge(
            "carekit.worker.lag", callbacks=[self.observe], unit="s",
            description="How long the oldest timer or touchpoint still due after the "
                        "worker's last pass has waited (0 when it keeps up)",
        )

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        observations = []
        for telemetry in list(self.telemetries):
            worker = telemetry.worker
            if telemetry.active and worker is not None:
                observations.append(Observation(
                    worker.counters["lag_seconds"],
                    {"carekit.worker.claimant": worker.claimant},
                ))
        return observations


class _GlobalProxy:
    """The key of the gauge made on the global provider before an SDK set it."""


_GAUGES: weakref.WeakKeyDictionary[object, _LagGauge] = weakref.WeakKeyDictionary()
_GAUGES_LOCK = threading.Lock()
_GLOBAL_PROXY = _GlobalProxy()


def _lag_gauge(meter: Meter) -> _LagGauge:
    """The gauge of ``meter``, made on first use.

    Before an SDK sets the global meter provider, each ``get_meter`` returns a new stand-in
    meter (OpenTelemetry's ``_ProxyMeter``), and once one is set every stand-in's gauge
    becomes the one gauge of the real meter, keeping the first callback: so every stand-in,
    and the real meter behind them, share one gauge. (A stand-in is told by the attribute
    that holds its real meter; without it, each meter gets its own gauge.)
    """
    proxy = hasattr(meter, "_real_meter")
    real = getattr(meter, "_real_meter", None) if proxy else meter
    key: object = real if real is not None else _GLOBAL_PROXY
    with _GAUGES_LOCK:
        gauge = _GAUGES.get(key)
        if gauge is None and real is not None:
            early = _GAUGES.get(_GLOBAL_PROXY)
            if early is not None and getattr(early.proxy, "_real_meter", None) is real:
                gauge = early
        if gauge is None:
            gauge = _LagGauge(meter, proxy=real is None)
        _GAUGES[key] = gauge
        return gauge


def _deliver_name(channel: str) -> str:
    return f"carekit.deliver {channel}" if channel else "carekit.deliver"


class _Delivery:
    """The span of one plugin call: current while the plugin runs, ended with its outcome."""

    __slots__ = ("key", "span", "telemetry", "token")

    def __init__(self, telemetry: Telemetry, item: ClaimedTouchpoint, channel: str) -> None:
        self.telemetry = telemetry
        self.key = item.idempotency_key
        self.span: Span | None = None
        self.token: Token[otel_context.Context] | None = None
        if not telemetry.active:
            return
        parent = telemetry.pass_context()
        tp = item.touchpoint
        self.span = telemetry.tracer.start_span(
            _deliver_name(channel), context=parent,
            attributes={
                "carekit.journey_id": tp.journey_id,
                "carekit.touchpoint": tp.name,
                "carekit.channel": channel,
                "carekit.idempotency_key": item.idempotency_key,
                "carekit.attempt": item.attempt,
            },
        )
        self.token = otel_context.attach(trace.set_span_in_context(self.span, parent))

    def __enter__(self) -> _Delivery:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span = self.span
        if span is None:
            return
        ended = time.time_ns()
        if self.token is not None:
            otel_context.detach(self.token)
        if exc is not None and not isinstance(exc, Exception):
            # Ctrl-C or a cancelled task: no outcome will be reported; the worker records
            # the attempt as failed ("interrupted").
            span.set_attribute("carekit.outcome", "failed")
            span.set_status(Status(StatusCode.ERROR, "interrupted"))
            span.end(end_time=ended)
            return
        if isinstance(exc, _Raised):
            span.record_exception(exc.error)
        self.telemetry.pending[self.key] = (span, ended)


class Telemetry:
    """A worker's observer (see ``worker._Observer``) that reports to OpenTelemetry."""

    def __init__(
        self,
        worker: WorkerBase,
        *,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
    ) -> None:
        self.worker: WorkerBase | None = worker
        self.claimant = worker.claimant
        self.active = True
        self.tracer = trace.get_tracer(SCOPE, carekit.__version__,
                                       tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, carekit.__version__, meter_provider=meter_provider)
        self.attempts = meter.create_counter(
            "carekit.worker.attempts", unit="{attempt}",
            description="Claimed touchpoints by outcome: sent, failed, dead, deferred, "
                        "withdrawn, released",
        )
        self.timers = meter.create_counter(
            "carekit.worker.timers", unit="{timer}",
            description="Timers fired: deadlines breached, promises found at risk",
        )
        self.duration = meter.create_histogram(
            "carekit.worker.delivery.duration", unit="s",
            description="How long channel plugins took to answer a delivery",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._gauge = _lag_gauge(meter)
        self._gauge.telemetries.append(self)
        #: Deliveries whose plugin call ended, waiting for their outcome: key -> (span, end).
        self.pending: dict[str, tuple[Span, int]] = {}
        self._now: dt.datetime | None = None
        self._started: int | None = None
        self._mark = 0
        self._pass: Span | None = None
        self._pass_context: otel_context.Context | None = None

    def __repr__(self) -> str:
        return f"<carekit OpenTelemetry observer of worker {self.claimant!r}>"

    def close(self) -> None:
        """Stop reporting; end the span of a pass under way."""
        if not self.active:
            return
        self.active = False
        if self._pass is not None:
            self._pass.set_status(Status(StatusCode.ERROR, "uninstrumented during the pass"))
            self._end_pass()
        for span, ended in self.pending.values():
            span.end(end_time=ended)
        self.pending.clear()
        if self in self._gauge.telemetries:
            self._gauge.telemetries.remove(self)
        self.worker = None

    # -- the pass span: made on the first thing due, so an idle pass leaves none ----------

    def pass_context(self) -> otel_context.Context:
        if self._pass_context is None:
            started = self._started if self._started is not None else time.time_ns()
            attributes: dict[str, Any] = {"carekit.worker.claimant": self.claimant}
            if self._now is not None:
                attributes["carekit.now"] = self._now.isoformat()
            self._pass = self.tracer.start_span(
                "carekit.worker.pass", start_time=started, attributes=attributes
            )
            self._pass_context = trace.set_span_in_context(self._pass)
        return self._pass_context

    def _end_pass(self) -> None:
        if self._pass is not None:
            self._pass.end()
        self._pass = None
        self._pass_context = None
        self._started = None
        self._now = None

    # -- the hooks ----------------------------------------------------------------------

    def starting(self, now: dt.datetime) -> None:
        if not self.active:
            return
        self._end_pass()  # one left open would be a bug; never carry it into this pass
        self.pending.clear()
        self._now = now
        self._started = self._mark = time.time_ns()

    def fired(self, timers: Sequence[Fired]) -> None:
        if not self.active or not timers:
            return
        parent = self.pass_context()
        started, ended = self._mark or time.time_ns(), time.time_ns()
        kinds: dict[str, int] = {}
        for timer in timers:
            attributes: dict[str, Any] = {
                "carekit.journey_id": timer.journey_id,
                "carekit.timer.kind": timer.kind,
                "carekit.timer.key": timer.key,
                "carekit.timer.due": timer.due.isoformat(),
            }
            if timer.event is not None:
                attributes["carekit.event"] = timer.event.name
            span = self.tracer.start_span(
                f"carekit.fire {timer.kind}", context=parent, start_time=started,
                attributes=attributes,
            )
            span.end(end_time=ended)
            kinds[timer.kind] = kinds.get(timer.kind, 0) + 1
        for kind, count in kinds.items():
            self.timers.add(count, {"carekit.timer.kind": kind})
        self._mark = ended

    def delivering(self, item: ClaimedTouchpoint, channel: str) -> _Delivery:
        return _Delivery(self, item, channel)

    def attempted(self, attempt: Attempt) -> None:
        if not self.active:
            return
        pending = self.pending.pop(attempt.idempotency_key, None)
        if pending is None:  # no plugin was called: quiet hours, withdrawn, released...
            span = self.tracer.start_span(
                _deliver_name(attempt.channel), context=self.pass_context(),
                attributes={
                    "carekit.journey_id": attempt.journey_id,
                    "carekit.touchpoint": attempt.touchpoint,
                    "carekit.channel": attempt.channel,
                    "carekit.idempotency_key": attempt.idempotency_key,
                    "carekit.attempt": attempt.attempt,
                },
            )
            ended = None
        else:
            span, ended = pending
        attributes: dict[str, Any] = {"carekit.outcome": attempt.outcome}
        if attempt.reference is not None:
            attributes["carekit.reference"] = attempt.reference
        if attempt.retry_at is not None:
            attributes["carekit.retry_at"] = attempt.retry_at.isoformat()
        if attempt.outcome in _FAILED:
            span.set_status(Status(StatusCode.ERROR, attempt.error))
        elif attempt.error is not None:
            attributes["carekit.reason"] = attempt.error
        span.set_attributes(attributes)
        span.end(end_time=ended)
        labels = {"carekit.channel": attempt.channel, "carekit.outcome": attempt.outcome}
        self.attempts.add(1, labels)
        if attempt.latency is not None:
            self.duration.record(attempt.latency.total_seconds(), labels)

    def passed(self, report: WorkReport, now: dt.datetime) -> None:
        if not self.active:
            return
        span = self._pass
        if span is not None:
            span.set_attributes({
                "carekit.fired": report.fired, "carekit.sent": report.sent,
                "carekit.failed": report.failed, "carekit.dead": report.dead,
                "carekit.deferred": report.deferred, "carekit.withdrawn": report.withdrawn,
                "carekit.released": report.released,
            })
            if report.errors:
                span.set_attribute("carekit.errors", list(dict.fromkeys(report.errors)))
        self._end_pass()

    def aborted(self, error: BaseException) -> None:
        if not self.active:
            return
        self.pass_context()  # a failed pass is worth a span even when nothing was due
        assert self._pass is not None
        self._pass.record_exception(error)
        self._pass.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        for span, ended in self.pending.values():
            span.end(end_time=ended)
        self.pending.clear()
        self._end_pass()
