"""A worker's traces and metrics through OpenTelemetry (extra ``carekit[otel]``).

:func:`instrument` makes a :class:`~carekit.journeys.Worker` (or an asyncio
``carekit.journeys.aio.Worker``) report to OpenTelemetry's API, with the providers you
give or the global ones (set by the SDK, ``opentelemetry-instrument`` or your app):

* **spans** (tracer ``carekit``): ``carekit.worker.pass`` for each pass that found something
  due, with its counts; under it ``carekit.fire deadline`` (or ``promise``) for each timer
  fired and ``carekit.deliver <channel>`` for each claimed touchpoint, timed around the
  plugin call and current while the plugin runs (an instrumented HTTP client in the plugin
  traces under it). A failed or dead-lettered attempt has the ERROR status with the reason,
  and the exception when the plugin raised. A pass with nothing due leaves no span.
* **metrics** (meter ``carekit``): ``carekit.worker.attempts`` (a counter of claimed
  touchpoints by ``carekit.channel`` and ``carekit.outcome``: the report's ``sent``,
  ``failed``, ``dead``, ``deferred``, ``withdrawn``, ``released``),
  ``carekit.worker.timers`` (timers fired, by ``carekit.timer.kind``),
  ``carekit.worker.delivery.duration`` (a histogram of the time plugins took, in seconds)
  and ``carekit.worker.lag`` (a gauge: how long the oldest item still due after the last
  pass has waited, in seconds, by ``carekit.worker.claimant``).

Without the extra the worker runs as before; only :func:`instrument` needs it. A worker
that is not instrumented pays nothing for this module.

Examples:
    >>> import datetime as dt
    >>> from opentelemetry.sdk.metrics import MeterProvider
    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    >>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    >>> from carekit.journeys import Event, MemoryJourneyStore, Worker, order_journey
    >>> from carekit.journeys.otel import instrument
    >>> from carekit.testing import RecordingChannel, make_carekit
    >>> spans = InMemorySpanExporter()
    >>> tracing = TracerProvider()
    >>> tracing.add_span_processor(SimpleSpanProcessor(spans))
    >>> t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
    >>> store = MemoryJourneyStore()
    >>> _ = store.create(order_journey(), "order-1", at=t0, channel="email")
    >>> _ = store.append("order-1", [Event("place", at=t0), Event("acknowledge", at=t0)])
    >>> worker = Worker(make_carekit(RecordingChannel("email", register=False)), store)
    >>> with instrument(worker, tracer_provider=tracing, meter_provider=MeterProvider()):
    ...     _ = worker.run_once(t0)
    >>> [span.name for span in spans.get_finished_spans()]
    ['carekit.deliver email', 'carekit.worker.pass']
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from carekit.errors import CareKitError

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from carekit.journeys._otel import Telemetry

__all__ = ["Instrumentation", "instrument"]


def instrument(
    worker: Any,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> Instrumentation:
    """Report ``worker``'s passes, deliveries and timers to OpenTelemetry.

    Args:
        worker: a :class:`carekit.journeys.Worker` or a ``carekit.journeys.aio.Worker``.
        tracer_provider: where the spans go (default: the global tracer provider).
        meter_provider: where the metrics go (default: the global meter provider).

    Returns:
        An :class:`Instrumentation`, whose :meth:`~Instrumentation.uninstrument` stops it
        (also a context manager that does so on exit).

    Raises:
        CareKitError: opentelemetry-api is not installed (``pip install 'carekit[otel]'``);
            ``worker`` is not a worker; it is instrumented already.

    Examples:
        >>> from opentelemetry.sdk.metrics import MeterProvider
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> from carekit.journeys import MemoryJourneyStore, Worker
        >>> from carekit.testing import make_carekit
        >>> worker = Worker(make_carekit(), MemoryJourneyStore())
        >>> instrumentation = instrument(worker, tracer_provider=TracerProvider(),
        ...                              meter_provider=MeterProvider())
        >>> instrumentation.active
        True
        >>> instrumentation.uninstrument()
    """
    from carekit.journeys.worker import WorkerBase

    if not isinstance(worker, WorkerBase):
        msg = (
            "worker must be a carekit.journeys.Worker or carekit.journeys.aio.Worker "
            f"(got {worker!r:.200})"
        )
        raise CareKitError(msg)
    _otel = _implementation()
    if any(isinstance(observer, _otel.Telemetry) for observer in worker._observers):
        msg = (
            f"worker {worker.claimant!r} is instrumented already: uninstrument it first "
            "(each instrumentation would count every attempt)"
        )
        raise CareKitError(msg)
    telemetry = _otel.Telemetry(
        worker, tracer_provider=tracer_provider, meter_provider=meter_provider
    )
    worker._observers.append(telemetry)
    return Instrumentation(worker, telemetry)


def _implementation() -> ModuleType:
    """The module that imports opentelemetry.

    Raises:
        CareKitError: opentelemetry-api is not installed.
    """
    try:
        from carekit.journeys import _otel
    except ImportError as exc:
        if not (exc.name or "").startswith("opentelemetry"):
            raise
        msg = (
            "traces and metrics need opentelemetry-api, which is not installed: "
            "pip install 'carekit[otel]'"
        )
        raise CareKitError(msg) from None
    return _otel


class Instrumentation:
    """A worker reporting to OpenTelemetry, as :func:`instrument` returns it.

    Use it as a context manager, or call :meth:`uninstrument` when done.

    Attributes:
        worker: the instrumented worker.
    """

    def __init__(self, worker: Any, telemetry: Any) -> None:
        self.worker = worker
        self._telemetry: Telemetry = telemetry

    def __repr__(self) -> str:
        state = "active" if self.active else "stopped"
        return f"Instrumentation({self.worker!r}, {state})"

    @property
    def active(self) -> bool:
        """Whether the worker still reports (until :meth:`uninstrument`)."""
        return self._telemetry.active

    def uninstrument(self) -> None:
        """Stop reporting: no more spans or measurements from this worker (safe to repeat).

        A pass under way ends its span at once, and the lag gauge stops reporting this
        worker. The worker itself runs on unchanged.
        """
        observers = self.worker._observers
        if self._telemetry in observers:
            observers.remove(self._telemetry)
        self._telemetry.close()

    def __enter__(self) -> Instrumentation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.uninstrument()
