"""A guard for tests that prove a call returns: fail instead of hanging the suite."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from types import FrameType

import pytest


class TookTooLong(AssertionError):
    """The guarded block was still running when its time was up."""


@contextlib.contextmanager
def finishes_within(seconds: float) -> Iterator[None]:
    """Fail the test if the block runs for more than ``seconds`` (wall clock).

    The block is interrupted by SIGALRM, so a call that would never return fails the test
    instead of hanging it. This is a hang guard, not a benchmark: give it ample room.
    """
    if not hasattr(signal, "setitimer"):  # pragma: no cover - Windows
        pytest.skip("needs signal.setitimer")
    started = time.monotonic()

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise TookTooLong(f"still running after {time.monotonic() - started:.1f} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
