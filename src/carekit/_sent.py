"""Durable dedupe for channel plugins: :class:`SentKeys`, bound to the worker's store (private;
re-exported by :mod:`carekit.channels`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
from typing import Any

from carekit import _validate
from carekit.errors import CareKitError

__all__ = ["SentKeys"]


class SentKeys:
    """The keys a channel plugin handed to its provider, kept durably in the journey store.

    The worker passes one to ``carekit_deliver_touchpoint`` as ``sent_keys`` (a plugin that
    declares the argument gets it), bound to its store, the channel and the time of the
    pass. Notes live in the store's ``sent_keys`` table, next to the outbox, so they outlive
    the process: a worker that crashed after the provider took a message but before the
    outcome was recorded finds the note on the retry and does not send again.

    Two ways to use it (see "Writing a channel plugin"):

    * **note after sending** (at least once): skip when :meth:`seen`, send, then
      :meth:`remember`. A crash between the provider's "accepted" and the note sends again.
    * **note before sending** (at most once): :meth:`remember` first and send only when it
      returns ``True``. A crash or failure after the note never sends again.

    Args:
        store: the journey store (any store with ``remember_sent`` and ``sent_key``; the
            asyncio stores, whose methods are coroutines, too).
        at: when notes are dated (the worker's ``now``); timezone-aware.
        channel: the channel notes are made for.
        loop: the event loop an asyncio store belongs to; needed to call :meth:`seen` and
            :meth:`remember` from a thread (a blocking plugin under the asyncio worker).

    Raises:
        CareKitError: a naive ``at``, a ``channel`` that is not a string.

    Examples:
        >>> import datetime as dt
        >>> from carekit.channels import SentKeys
        >>> from carekit.journeys import MemoryJourneyStore
        >>> at = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
        >>> sent = SentKeys(MemoryJourneyStore(), at=at, channel="email")
        >>> sent.seen("order-1/order_thanks/2") is None
        True
        >>> sent.remember("order-1/order_thanks/2", reference="<m1@shop.example>")
        True
        >>> sent.remember("order-1/order_thanks/2")        # noted already: the first note stays
        False
        >>> sent.seen("order-1/order_thanks/2").reference
        '<m1@shop.example>'
    """

    __slots__ = ("_at", "_blocking", "_channel", "_loop", "_store")

    def __init__(
        self,
        store: Any,
        *,
        at: dt.datetime,
        channel: str | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        _validate.aware("at", at)
        if channel is not None and not isinstance(channel, str):
            msg = f"channel must be a channel name or None (got {channel!r})"
            raise CareKitError(msg)
        if loop is not None and not isinstance(loop, asyncio.AbstractEventLoop):
            msg = f"loop must be an asyncio event loop or None (got {loop!r})"
            raise CareKitError(msg)
        self._store = store
        self._at = at
        self._channel = channel
        self._loop = loop
        self._blocking = _blocking_store(store)

    def __repr__(self) -> str:
        return f"SentKeys({self._store!r}, channel={self._channel!r})"

    @property
    def store(self) -> Any:
        """The journey store the notes are kept in."""
        return self._store

    @property
    def channel(self) -> str | None:
        """The channel notes are made for."""
        return self._channel

    @property
    def at(self) -> dt.datetime:
        """When notes are dated."""
        return self._at

    # -- blocking ---------------------------------------------------------------------

    def seen(self, idempotency_key: str) -> Any:
        """The note kept for ``idempotency_key`` (a :class:`~carekit.journeys.SentKey`), or
        ``None`` when it was never noted.

        Raises:
            CareKitError: an empty key; the store keeps no sent keys; called on the event
                loop's own thread with an asyncio store (use :meth:`seen_async`).
            StoreError: the store cannot be read.
        """
        _check_key(idempotency_key)
        if self._blocking is not None:
            return _method(self._blocking, "sent_key")(idempotency_key)
        return self._through_loop("seen", lambda: self._store.sent_key(idempotency_key))

    def remember(self, idempotency_key: str, *, reference: str | None = None) -> bool:
        """Note ``idempotency_key`` as handed to the provider.

        Args:
            idempotency_key: the touchpoint's key.
            reference: the provider's message id, when known.

        Returns:
            ``True`` when the note is new; ``False`` when the key was noted already (the
            first note is kept).

        Raises:
            CareKitError: an empty key, a reference that is not a string; the store keeps
                no sent keys; called on the event loop's own thread with an asyncio store
                (use :meth:`remember_async`).
            StoreError: the store cannot be written.
        """
        _check_key(idempotency_key)
        if self._blocking is not None:
            new: bool = _method(self._blocking, "remember_sent")(
                idempotency_key, at=self._at, channel=self._channel, reference=reference
            )
            return new
        return bool(self._through_loop("remember", lambda: self._store.remember_sent(
            idempotency_key, at=self._at, channel=self._channel, reference=reference
        )))

    # -- awaitable --------------------------------------------------------------------

    async def seen_async(self, idempotency_key: str) -> Any:
        """:meth:`seen` for coroutine plugins: never blocks the event loop."""
        _check_key(idempotency_key)
        if self._blocking is None:
            return await _method(self._store, "sent_key")(idempotency_key)
        return await asyncio.to_thread(_method(self._blocking, "sent_key"), idempotency_key)

    async def remember_async(
        self, idempotency_key: str, *, reference: str | None = None
    ) -> bool:
        """:meth:`remember` for coroutine plugins: never blocks the event loop."""
        _check_key(idempotency_key)
        if self._blocking is None:
            new = await _method(self._store, "remember_sent")(
                idempotency_key, at=self._at, channel=self._channel, reference=reference
            )
        else:
            new = await asyncio.to_thread(
                _method(self._blocking, "remember_sent"), idempotency_key, at=self._at,
                channel=self._channel, reference=reference,
            )
        return bool(new)

    def _through_loop(self, name: str, make: Any) -> Any:
        """Run an asyncio store's coroutine on its loop, from another thread."""
        _method(self._store, "sent_key" if name == "seen" else "remember_sent")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and (self._loop is None or running is self._loop):
            msg = (
                f"sent_keys.{name}() would block the event loop (the store's methods are "
                f"coroutines): in a coroutine plugin use 'await sent_keys.{name}_async(...)'"
            )
            raise CareKitError(msg)
        if self._loop is None or self._loop.is_closed():
            msg = (
                f"sent_keys.{name}() needs the event loop of the asyncio store {self._store!r}:"
                " pass SentKeys(..., loop=...), or await "
                f"sent_keys.{name}_async(...) in a coroutine"
            )
            raise CareKitError(msg)
        return asyncio.run_coroutine_threadsafe(make(), self._loop).result()


def _check_key(key: object) -> None:
    if not isinstance(key, str) or not key:
        msg = f"idempotency_key must be a non-empty string (got {key!r})"
        raise CareKitError(msg)


def _method(store: Any, name: str) -> Any:
    method = getattr(store, name, None)
    if not callable(method):
        msg = (
            f"the store {store!r} keeps no sent keys (it has no {name}); durable dedupe "
            "needs a carekit journey store (memory, SQLite, PostgreSQL) or one that "
            "implements remember_sent and sent_key"
        )
        raise CareKitError(msg)
    return method


def _blocking_store(store: Any) -> Any:
    """The store to call directly: ``store`` itself unless its methods are coroutines; the
    blocking store inside a threaded asyncio face (``ThreadedStore.store``)."""
    if not inspect.iscoroutinefunction(getattr(store, "sent_key", None)):
        return store
    inner = getattr(store, "store", None)
    if inner is not None and callable(getattr(inner, "sent_key", None)) and not (
        inspect.iscoroutinefunction(inner.sent_key)
    ):
        return inner
    return None
