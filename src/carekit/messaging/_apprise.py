"""90+ notification services as carekit channels, through Apprise: one channel per URL."""

from __future__ import annotations

import logging
import re
import urllib.parse
import warnings
from collections.abc import Iterable
from typing import Any, Literal

from carekit.channels import BUILTIN_CHANNELS, Channel, DeliveryResult
from carekit.errors import CareKitError
from carekit.hookspecs import hookimpl
from carekit.messaging._errors import need
from carekit.messaging._recipients import as_lookup
from carekit.messaging._templates import (
    Recipient,
    Templates,
    journey_definitions,
    touchpoint_names,
)

__all__ = ["AppriseChannel", "load_apprise", "shown_url"]

_log = logging.getLogger("carekit.messaging")
#: The template part holding the body, by Apprise body format.
_BODY = {"text": "txt", "markdown": "md", "html": "html"}
_PLACEHOLDER = "{recipient}"


def load_apprise() -> Any:
    """The ``apprise`` module, its service plugins loaded (once).

    Apprise imports the deprecated ``imghdr`` module on Python 3.11–3.12 when it loads its
    plugins; that warning is Apprise's, not the caller's, so it is silenced here.

    Raises:
        CareKitError: apprise is not installed (``pip install 'carekit[apprise]'``).
    """
    apprise = need("apprise", "Apprise channels")
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*'imghdr' is deprecated", category=DeprecationWarning
        )
        manager = getattr(getattr(apprise, "plugins", None), "N_MGR", None)
        if manager is not None:
            manager.load_modules()
    return apprise


def shown_url(url: str) -> str:
    """An Apprise URL as logs and errors may show it: its scheme only (its tokens,
    passwords and phone numbers stay out of sight)."""
    scheme = url.split("://", 1)[0] if isinstance(url, str) and "://" in url else "?"
    return f"{scheme}://…"


class AppriseChannel:
    """A channel plugin that sends touchpoints through one Apprise URL.

    `Apprise <https://github.com/caronc/apprise>`_ speaks to 90+ services (SMS gateways
    such as Twilio or Vonage, Slack, Microsoft Teams, Telegram, WhatsApp bridges, push, …)
    from a URL. A URL with ``{recipient}`` in it reaches each customer (the address lookup
    fills it in, URL-quoted: ``twilio://SID:TOKEN@+15550001111/{recipient}``); a URL
    without reaches a fixed audience (your team's Slack channel).

    The message is rendered from :class:`Templates`: ``<channel>/<touchpoint>.txt`` (``.md``
    or ``.html`` for those formats) and an optional ``.title``. Services rarely deduplicate,
    so each key is noted through the worker's ``sent_keys``.

    Args:
        channel: the carekit channel it delivers: a name (a built-in one such as ``"sms"``
            is not registered again) or a :class:`~carekit.channels.Channel` to register.
        url: the Apprise URL (a secret: it is never shown, only its scheme).
        templates: the message templates.
        journeys: the journey definitions whose touchpoints may travel on this channel.
        address: the customer lookup (as :class:`~carekit.messaging.EmailChannel`'s);
            required when ``url`` holds ``{recipient}``.
        body_format: ``"text"``, ``"markdown"`` or ``"html"``.
        dedupe: ``"after"`` (at least once) or ``"before"`` (at most once; a failure
            then is not retried).
        extra_touchpoints: touchpoint names outside the definitions (recovery) to check.

    Raises:
        CareKitError: a bad argument; a URL Apprise does not know (named by scheme only);
            apprise is not installed. :class:`~carekit.messaging.TemplateError` listing
            every missing or unsafe template.
    """

    def __init__(
        self,
        channel: str | Channel,
        url: str,
        *,
        templates: Templates,
        journeys: Iterable[Any],
        address: Any = None,
        body_format: Literal["text", "markdown", "html"] = "text",
        dedupe: Literal["after", "before"] = "after",
        extra_touchpoints: Iterable[str] = (),
    ) -> None:
        self._apprise = load_apprise()
        if isinstance(channel, Channel):
            self._channel: Channel | None = channel
            self.channel_name = channel.name
        else:
            self.channel_name = Channel(channel).name
            builtin = {c.name for c in BUILTIN_CHANNELS}
            self._channel = None if channel in builtin else Channel(
                channel, description=f"Notifications through Apprise ({shown_url(url)})"
            )
        if not isinstance(url, str) or "://" not in url:
            msg = (
                f"the Apprise URL of channel {self.channel_name!r} must be a URL such as "
                "'slack://...' or 'twilio://...' (see Apprise's list of services)"
            )
            raise CareKitError(msg)
        others = sorted(set(re.findall(r"\{[^{}/:@?#]*\}", url)) - {_PLACEHOLDER})
        if others:
            # a misspelt {recipient} would be posted to, as it is, for every customer
            msg = (
                f"the Apprise URL of channel {self.channel_name!r} has the placeholder(s) "
                f"{', '.join(others)}; the only one carekit fills is {_PLACEHOLDER}"
            )
            raise CareKitError(msg)
        self._url = url
        self.personal = _PLACEHOLDER in url
        probe = url.replace(_PLACEHOLDER, "15550001111")
        if self._apprise.Apprise.instantiate(probe) is None:
            msg = (
                f"the Apprise URL of channel {self.channel_name!r} ({shown_url(url)}) is not "
                "one Apprise can use: check the service's URL form in Apprise's docs"
            )
            raise CareKitError(msg)
        if self.personal and address is None:
            msg = (
                f"the Apprise URL of channel {self.channel_name!r} reaches each customer "
                "({recipient}): give an address lookup (customer id -> phone, chat id...)"
            )
            raise CareKitError(msg)
        self._lookup = None if address is None else as_lookup(address, "address")
        if body_format not in _BODY:
            msg = f"body_format must be 'text', 'markdown' or 'html' (got {body_format!r})"
            raise CareKitError(msg)
        self.body_format = body_format
        if dedupe not in ("after", "before"):
            msg = (
                "dedupe must be 'after' (at least once) or 'before' (at most once) "
                f"(got {dedupe!r})"
            )
            raise CareKitError(msg)
        self.dedupe = dedupe
        if not isinstance(templates, Templates):
            msg = f"templates must be carekit.messaging.Templates (got {templates!r})"
            raise CareKitError(msg)
        self.templates = templates
        self.parts = (_BODY[body_format],)
        self.checked = templates.check(
            journey_definitions(journeys), channel=self.channel_name, parts=self.parts,
            optional=("title",), extra=touchpoint_names(extra_touchpoints),
        )

    def __repr__(self) -> str:
        return f"AppriseChannel({self.channel_name!r}, {shown_url(self._url)!r})"

    @property
    def url(self) -> str:
        """The URL as it may be shown (its scheme only)."""
        return shown_url(self._url)

    @hookimpl
    def carekit_register_channels(self) -> list[Channel]:
        """The channel, unless it is a built-in one."""
        return [self._channel] if self._channel is not None else []

    @hookimpl
    def carekit_deliver_touchpoint(
        self, touchpoint: Any, channel: Channel, idempotency_key: str, sent_keys: Any
    ) -> DeliveryResult | None:
        """Send ``touchpoint`` through the URL when it travels on this channel."""
        if channel.name != self.channel_name:
            return None
        if sent_keys is not None:
            note = sent_keys.seen(idempotency_key)
            if note is not None:
                return DeliveryResult(reference=note.reference)
        recipient: Recipient | None = None
        url = self._url
        if self._lookup is not None and touchpoint.customer_id is not None:
            recipient = self._lookup(touchpoint.customer_id)
        if self.personal:
            if recipient is None:
                _log.warning("not sent on %s: no address for customer %r (%s)",
                             self.channel_name, touchpoint.customer_id, idempotency_key,
                             extra={"key": idempotency_key, "outcome": "declined"})
                return DeliveryResult(delivered=False)
            url = url.replace(_PLACEHOLDER, urllib.parse.quote(recipient.address, safe="+@"))
        parts = self.templates.render(
            touchpoint, channel=self.channel_name, parts=self.parts, optional=("title",),
            recipient=recipient,
        )
        if self.dedupe == "before" and sent_keys is not None and not sent_keys.remember(
            idempotency_key
        ):
            return DeliveryResult()
        sender = self._apprise.Apprise()
        if not sender.add(url):
            # Only the recipient changed since the URL was checked: it made the URL bad.
            _log.warning("not sent on %s: the address of customer %r does not fit the URL "
                         "(%s)", self.channel_name, touchpoint.customer_id, idempotency_key)
            return DeliveryResult(delivered=False)
        ok = sender.notify(body=parts[self.parts[0]], title=parts.get("title", ""),
                           body_format=self.body_format)
        if not ok:
            if self.dedupe == "before":
                _log.warning("not sent on %s and not retried (noted before sending): "
                             "the service refused it (%s)", self.channel_name, idempotency_key)
                return DeliveryResult(delivered=False)
            msg = f"Apprise could not deliver on channel {self.channel_name!r} ({self.url})"
            raise ConnectionError(msg)
        if sent_keys is not None and self.dedupe == "after":
            sent_keys.remember(idempotency_key)
        return DeliveryResult()
