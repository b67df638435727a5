"""Delivery receipts: a provider's webhook (bounced, delivered, read) as a journey event."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import attrs

from carekit import _validate
from carekit.errors import CareKitError, InvalidTransition
from carekit.messaging._smtp import key_from_message_id

__all__ = ["Receipt", "record_receipt"]

_STATUS = re.compile(r"^[a-z][a-z0-9_]*$")


def _check_status(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not _STATUS.match(value):
        msg = (
            "Receipt status must be a lowercase identifier such as 'bounced', 'delivered' or "
            f"'read' (got {value!r})"
        )
        raise CareKitError(msg)


def _check_key(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or value.count("/") < 2 or not all(
        value.rsplit("/", 2)
    ) or not value.rsplit("/", 1)[1].isdigit():
        msg = (
            "Receipt idempotency_key must be a touchpoint's key, "
            f"'<journey id>/<touchpoint>/<version>' (got {value!r})"
        )
        raise CareKitError(msg)


def _check_at(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _validate.aware("Receipt at", value)


def _check_optional(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, str):
        msg = f"Receipt {attribute.name} must be a string or None (got {value!r})"
        raise CareKitError(msg)


@attrs.frozen
class Receipt:
    """What a provider reported about one message: bounced, delivered, read, complained.

    Args:
        status: the report, a lowercase identifier (``"bounced"``); also the name of the
            event :meth:`to_event` makes, unless told otherwise.
        idempotency_key: the key of the touchpoint the message carried (an email's
            ``Message-ID`` carries it: :meth:`from_message_id`).
        at: when the provider saw it (timezone-aware).
        reference: the provider's id for the message or the report.
        detail: the provider's words ("550 5.1.1 mailbox unknown").

    Raises:
        CareKitError: a status that is not an identifier, a key that is not a touchpoint's
            key, a naive ``at``.

    Examples:
        >>> import datetime as dt
        >>> at = dt.datetime(2026, 3, 5, 10, 0, tzinfo=dt.timezone.utc)
        >>> r = Receipt("bounced", "order-7/shipped_with_tracking/5", at=at)
        >>> r.journey_id, r.touchpoint, r.to_event().id
        ('order-7', 'shipped_with_tracking', 'order-7/shipped_with_tracking/5#bounced')
    """

    status: str = attrs.field(validator=_check_status)
    idempotency_key: str = attrs.field(validator=_check_key)
    at: dt.datetime = attrs.field(validator=_check_at, kw_only=True)
    reference: str | None = attrs.field(default=None, validator=_check_optional, kw_only=True)
    detail: str | None = attrs.field(default=None, validator=_check_optional, kw_only=True)

    @classmethod
    def from_message_id(
        cls, status: str, message_id: str, *, at: dt.datetime, detail: str | None = None
    ) -> Receipt:
        """A receipt for the email whose ``Message-ID`` is ``message_id`` (one that
        :class:`~carekit.messaging.EmailChannel` sent).

        Raises:
            CareKitError: a Message-ID carekit did not make (it carries no key).
        """
        key = key_from_message_id(message_id)
        if key is None:
            msg = (
                f"message_id {message_id!r} was not made by carekit's email channel, so it "
                "names no touchpoint"
            )
            raise CareKitError(msg)
        return cls(status, key, at=at, reference=message_id, detail=detail)

    @property
    def journey_id(self) -> str:
        """The journey that owed the touchpoint."""
        return self.idempotency_key.rsplit("/", 2)[0]

    @property
    def touchpoint(self) -> str:
        """The touchpoint's name."""
        return self.idempotency_key.rsplit("/", 2)[1]

    @property
    def version(self) -> int:
        """The journey version whose event owed the touchpoint."""
        return int(self.idempotency_key.rsplit("/", 1)[1])

    def to_event(self, *, name: str | None = None, data: dict[str, Any] | None = None) -> Any:
        """The journey event: named ``name`` (default: the status), with the deterministic
        id ``"<key>#<status>"`` (a provider that reports twice changes nothing), the
        receipt under ``data["receipt"]`` and ``data``'s other keys beside it.

        Raises:
            CareKitError: a bad event name or data.
        """
        from carekit.journeys import Event

        receipt = {
            "status": self.status, "touchpoint": self.touchpoint,
            "idempotency_key": self.idempotency_key, "reference": self.reference,
            "detail": self.detail,
        }
        return Event(
            name or self.status, at=self.at, id=f"{self.idempotency_key}#{self.status}",
            journey_id=self.journey_id, data={**(data or {}), "receipt": receipt},
        )


def record_receipt(store: Any, receipt: Receipt, *, kit: Any = None,
                   name: str | None = None) -> bool:
    """Apply ``receipt`` to its journey in ``store``, carrying the data of the touchpoint.

    The event (see :meth:`Receipt.to_event`) carries the data of the event that owed the
    touchpoint (a tracking number, say), so a fallback touchpoint owed on it has the same
    words to send. A journey that takes no such event where it stands ignores it.

    Args:
        store: the (blocking) journey store.
        receipt: what the provider reported.
        kit: the :class:`~carekit.CareKit` (observers, recovery) to pass to ``append``.
        name: the event's name (default: the receipt's status).

    Returns:
        ``True`` when the event was applied (or had been already: same id), ``False`` when
        the journey does not take it in its state.

    Raises:
        UnknownJourney: no journey has the receipt's journey id.
        StoreError: the store cannot be read or written.
    """
    if not isinstance(receipt, Receipt):
        msg = f"receipt must be a carekit.messaging.Receipt (got {receipt!r})"
        raise CareKitError(msg)
    events = store.events(receipt.journey_id)
    owed_by = events[receipt.version - 1].data if 0 < receipt.version <= len(events) else {}
    event = receipt.to_event(name=name, data={k: v for k, v in owed_by.items()
                                             if k != "receipt"})
    try:
        store.append(receipt.journey_id, event, kit=kit)
    except InvalidTransition:
        return False
    return True
