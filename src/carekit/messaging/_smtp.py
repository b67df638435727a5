"""Email over SMTP: a channel plugin built on the standard library's ``smtplib`` and ``email``."""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import email.policy
import email.utils
import logging
import queue
import smtplib
import ssl
import urllib.parse
from collections.abc import Callable, Iterable
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any, Literal

import attrs

from carekit.channels import BUILTIN_CHANNELS, Channel, DeliveryResult
from carekit.errors import CareKitError
from carekit.hookspecs import hookimpl
from carekit.messaging._recipients import as_lookup
from carekit.messaging._templates import Templates, journey_definitions, touchpoint_names

__all__ = ["EmailChannel", "SMTPSettings", "key_from_message_id", "message_id"]

_log = logging.getLogger("carekit.messaging")

Security = Literal["starttls", "ssl", "none"]
_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
_SCHEMES = {"smtp": "starttls", "smtps": "ssl"}
#: The parts of an email: subject and plain text always, HTML when a template exists.
EMAIL_PARTS = ("subject", "txt")
EMAIL_OPTIONAL = ("html",)
_PREFIX = "ck."
#: CRLF line ends; headers up to the 998 characters RFC 5322 allows, so a long Message-ID
#: stays on its own line (folded, it would reach some readers with a leading space).
_POLICY = email.policy.SMTP.clone(max_line_length=998)


# -- Message-ID ------------------------------------------------------------------------------


def message_id(idempotency_key: str, domain: str) -> str:
    """The ``Message-ID`` of the email for ``idempotency_key``: the same for every attempt.

    The key is carried in it (base32), so a resend after a crash is recognisably the same
    message, and a bounce that quotes the Message-ID names its touchpoint
    (:func:`key_from_message_id`).

    Args:
        idempotency_key: the touchpoint's key.
        domain: the right-hand side (your sending domain).

    Raises:
        CareKitError: an empty key; a domain that is not a host name.

    Examples:
        >>> mid = message_id("order-7/shipped_with_tracking/5", "shop.example")
        >>> mid
        '<ck.n5zgizlsfu3s643infyhazlel53ws5dil52heyldnnuw4zzpgu@shop.example>'
        >>> key_from_message_id(mid)
        'order-7/shipped_with_tracking/5'
    """
    if not isinstance(idempotency_key, str) or not idempotency_key:
        msg = f"idempotency_key must be a non-empty string (got {idempotency_key!r})"
        raise CareKitError(msg)
    if not isinstance(domain, str) or not domain or any(
        c.isspace() or c in "<>@\"()[]\\,;:" for c in domain
    ):
        msg = f"domain must be a host name such as 'shop.example' (got {domain!r})"
        raise CareKitError(msg)
    token = base64.b32encode(idempotency_key.encode("utf-8")).decode("ascii").rstrip("=")
    return f"<{_PREFIX}{token.lower()}@{domain}>"


def key_from_message_id(value: str) -> str | None:
    """The idempotency key a :func:`message_id` carries, or ``None`` for any other id.

    Examples:
        >>> key_from_message_id("<CAF1234@mail.example.com>") is None
        True
    """
    if not isinstance(value, str):
        return None
    text = value.strip().strip("<>")
    local, at, _ = text.rpartition("@")
    if not at or not local.startswith(_PREFIX):
        return None
    token = local[len(_PREFIX):].upper()
    token += "=" * (-len(token) % 8)
    try:
        return base64.b32decode(token).decode("utf-8") or None
    except (binascii.Error, ValueError):
        return None


# -- settings --------------------------------------------------------------------------------


def _check_host(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        msg = f"SMTP host must be a host name such as 'smtp.example.com' (got {value!r})"
        raise CareKitError(msg)


def _check_port(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        msg = f"SMTP port must be a whole number from 1 to 65535 or None (got {value!r})"
        raise CareKitError(msg)


def _check_security(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in _PORTS:
        msg = (
            "SMTP security must be 'starttls' (upgrade a plain connection, port 587), 'ssl' "
            f"(TLS from the start, port 465) or 'none' (a local relay only; got {value!r})"
        )
        raise CareKitError(msg)


def _check_optional_text(name: str) -> Callable[[Any, Any, Any], None]:
    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None and not isinstance(value, str):
            msg = f"SMTP {name} must be a string or None (got a {type(value).__name__})"
            raise CareKitError(msg)
    return check


def _check_ca_file(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _check_optional_text("ca_file")(instance, attribute, value)
    if not isinstance(value, str):
        return
    try:  # now, not at the first delivery: a typo would fail every one of them
        ssl.create_default_context(cafile=value)
    except (OSError, ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        msg = (
            f"SMTP ca_file {value!r} is not a readable PEM file of certificate authorities "
            f"({reason})"
        )
        raise CareKitError(msg) from None


def _to_timeout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3600:
        msg = f"SMTP timeout must be a number of seconds above 0 and at most 3600 (got {value!r})"
        raise CareKitError(msg)
    return float(value)


@attrs.frozen(repr=False)
class SMTPSettings:
    """Where and how to reach your SMTP server (your mail provider's relay).

    Args:
        host: the server's host name.
        port: its port (default: 587 for ``starttls``, 465 for ``ssl``, 25 for ``none``).
        security: ``"starttls"`` (a plain connection upgraded to TLS; refused if the server
            cannot), ``"ssl"`` (TLS from the first byte) or ``"none"`` (no encryption: a
            relay on the same host only).
        username: the login, if the server asks for one.
        password: its password; never shown in a repr, a log line or an error.
        timeout: seconds to wait for the server on each step.
        ca_file: a PEM file of certificate authorities to trust instead of the system's
            (a private relay's own CA).

    Raises:
        CareKitError: a bad host, port, security, timeout or text setting; a ``ca_file``
            that cannot be read as PEM certificates.

    Examples:
        >>> SMTPSettings.from_url("smtp://shop:s3cret@smtp.example.com")
        SMTPSettings('smtp://shop:***@smtp.example.com:587', security='starttls')
    """

    host: str = attrs.field(validator=_check_host)
    port: int | None = attrs.field(default=None, validator=_check_port, kw_only=True)
    security: Security = attrs.field(default="starttls", validator=_check_security, kw_only=True)
    username: str | None = attrs.field(
        default=None, validator=_check_optional_text("username"), kw_only=True
    )
    password: str | None = attrs.field(
        default=None, validator=_check_optional_text("password"), kw_only=True, repr=False
    )
    timeout: float = attrs.field(default=30.0, converter=_to_timeout, kw_only=True)
    ca_file: str | None = attrs.field(default=None, validator=_check_ca_file, kw_only=True)

    @property
    def effective_port(self) -> int:
        """The port used: :attr:`port`, or the usual one for :attr:`security`."""
        return self.port if self.port is not None else _PORTS[self.security]

    @property
    def url(self) -> str:
        """The settings as a URL with the password shown as ``***`` (for logs)."""
        scheme = "smtps" if self.security == "ssl" else "smtp"
        user = ""
        if self.username is not None:
            user = urllib.parse.quote(self.username, safe="")
            user += ":***@" if self.password is not None else "@"
        query = "?security=none" if self.security == "none" else ""
        return f"{scheme}://{user}{self.host}:{self.effective_port}{query}"

    def __repr__(self) -> str:
        return f"SMTPSettings({self.url!r}, security={self.security!r})"

    @classmethod
    def from_url(cls, url: str) -> SMTPSettings:
        """Settings from ``smtp://user:password@host:port`` (STARTTLS) or
        ``smtps://user:password@host:port`` (TLS), with optional ``?security=none``,
        ``?timeout=10`` and ``?ca_file=/path/ca.pem``; the user and password
        percent-encoded.

        Raises:
            CareKitError: not such a URL (the message shows it with its password hidden).
        """
        from carekit.journeys.stores.urls import redact

        if not isinstance(url, str):
            msg = (
                "SMTP URL must be a string such as 'smtp://user:password@host:587' "
                f"(got a {type(url).__name__})"
            )
            raise CareKitError(msg)
        shown = redact(url)
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError:
            msg = f"SMTP URL {shown!r} is not a URL such as 'smtp://user:password@host:587'"
            raise CareKitError(msg) from None
        security = _SCHEMES.get(parts.scheme.lower())
        if security is None or not parts.hostname:
            msg = (
                f"SMTP URL must be smtp://[user:password@]host[:port] (STARTTLS) or "
                f"smtps://... (TLS) (got {shown!r})"
            )
            raise CareKitError(msg)
        options: dict[str, Any] = {}
        for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
            if name == "security":
                options["security"] = value
            elif name == "timeout":
                try:
                    options["timeout"] = float(value)
                except ValueError:
                    options["timeout"] = value
            elif name == "ca_file":
                options["ca_file"] = value
            else:
                msg = (
                    f"SMTP URL {shown!r} has an unknown option {name!r} (options: security, "
                    "timeout, ca_file)"
                )
                raise CareKitError(msg)
        if (options.get("security") == "ssl" and security == "starttls") or (
            options.get("security") == "starttls" and security == "ssl"
        ):
            msg = f"SMTP URL {shown!r}: use smtps:// for TLS from the start, smtp:// for STARTTLS"
            raise CareKitError(msg)
        options.setdefault("security", security)
        user = urllib.parse.unquote(parts.username) if parts.username else None
        password = urllib.parse.unquote(parts.password) if parts.password is not None else None
        return cls(parts.hostname, port=port, username=user, password=password, **options)


# -- the channel -----------------------------------------------------------------------------


class _Refused(Exception):
    """The server refused the message for good (an unknown mailbox): not worth retrying."""


class EmailChannel:
    """A channel plugin that emails touchpoints through your SMTP server.

    Each touchpoint becomes one email with a subject, a plain-text part and, when an
    ``.html`` template exists, an HTML alternative, rendered from :class:`Templates`. Its
    ``Message-ID`` is derived from the idempotency key (:func:`message_id`), so every
    attempt sends the same message, and the key is noted durably through the worker's
    ``sent_keys``: a retry after a crash finds the note and does not send again.

    Args:
        smtp: the server (:class:`SMTPSettings`, or an ``smtp://``/``smtps://`` URL).
        sender: the ``From`` address (``"Oak & Ash <care@oakandash.example>"``).
        templates: the message templates (folder ``<channel>/``).
        journeys: the journey definitions whose touchpoints may travel on this channel:
            their templates are checked now, not at delivery.
        address: the customer lookup: a callable or mapping from customer id to an
            address or a :class:`Recipient` (``None``: unknown), or a
            ``"package.module:function"`` path.
        channel: the channel delivered: a name (``"email"``, a built-in channel, is not
            registered again) or a :class:`~carekit.channels.Channel` to register (with
            its own quiet hours).
        reply_to: a ``Reply-To`` address.
        dedupe: ``"after"`` (note the key once the server accepted the message: at
            least once) or ``"before"`` (note it just before the message is handed over:
            at most once; a refusal then is not retried).
        message_id_domain: the domain in ``Message-ID`` (default: the sender's).
        extra_touchpoints: names of touchpoints not in the definitions that may be sent
            here (recovery touchpoints): their templates are checked too.
        pool_size: how many idle connections to keep open for reuse.

    Raises:
        CareKitError: a bad argument; :class:`~carekit.messaging.TemplateError` listing
            every missing or unsafe template.
    """

    def __init__(
        self,
        smtp: SMTPSettings | str,
        *,
        sender: str,
        templates: Templates,
        journeys: Iterable[Any],
        address: Any,
        channel: str | Channel = "email",
        reply_to: str | None = None,
        dedupe: Literal["after", "before"] = "after",
        message_id_domain: str | None = None,
        extra_touchpoints: Iterable[str] = (),
        pool_size: int = 4,
    ) -> None:
        from carekit import _validate

        self.smtp = smtp if isinstance(smtp, SMTPSettings) else SMTPSettings.from_url(smtp)
        self.sender = _address("sender", sender)
        self.reply_to = None if reply_to is None else _address("reply_to", reply_to)
        if not isinstance(templates, Templates):
            msg = f"templates must be carekit.messaging.Templates (got {templates!r})"
            raise CareKitError(msg)
        self.templates = templates
        if isinstance(channel, Channel):
            self._channel: Channel | None = channel
            self.channel_name = channel.name
        else:
            self.channel_name = Channel(channel).name  # checks the name
            builtin = {c.name for c in BUILTIN_CHANNELS}
            self._channel = None if channel in builtin else Channel(
                channel, description="Email over SMTP"
            )
        if dedupe not in ("after", "before"):
            msg = (
                "dedupe must be 'after' (at least once: note once the server accepted the "
                f"message) or 'before' (at most once) (got {dedupe!r})"
            )
            raise CareKitError(msg)
        self.dedupe = dedupe
        self.domain = message_id_domain or self.sender.domain
        message_id("check", self.domain)
        self._lookup = as_lookup(address, "address")
        self.pool_size = _validate.positive_int("pool_size", pool_size)
        self._idle: queue.LifoQueue[smtplib.SMTP] = queue.LifoQueue()
        self.checked = templates.check(
            journey_definitions(journeys), channel=self.channel_name, parts=EMAIL_PARTS,
            optional=EMAIL_OPTIONAL, extra=touchpoint_names(extra_touchpoints),
        )

    def __repr__(self) -> str:
        return f"EmailChannel({self.channel_name!r}, smtp={self.smtp!r})"

    # -- hooks ----------------------------------------------------------------------------

    @hookimpl
    def carekit_register_channels(self) -> list[Channel]:
        """The channel, unless it is the built-in ``email``."""
        return [self._channel] if self._channel is not None else []

    @hookimpl
    def carekit_deliver_touchpoint(
        self, touchpoint: Any, channel: Channel, idempotency_key: str, sent_keys: Any
    ) -> DeliveryResult | None:
        """Email ``touchpoint`` when it travels on this channel (see the class)."""
        if channel.name != self.channel_name:
            return None
        reference = message_id(idempotency_key, self.domain)
        if sent_keys is not None:
            note = sent_keys.seen(idempotency_key)
            if note is not None:
                return DeliveryResult(reference=note.reference or reference)
        customer = getattr(touchpoint, "customer_id", None)
        recipient = self._lookup(customer) if customer is not None else None
        if recipient is None:
            _log.warning("not emailed: no address for customer %r (%s)", customer,
                         idempotency_key, extra={"key": idempotency_key, "outcome": "declined"})
            return DeliveryResult(delivered=False)
        try:
            to = Address(addr_spec=recipient.address)
        except (ValueError, IndexError, TypeError) as exc:
            _log.warning("not emailed: the address for customer %r is not valid (%s): %s",
                         customer, idempotency_key, exc, extra={"key": idempotency_key})
            return DeliveryResult(delivered=False)
        parts = self.templates.render(
            touchpoint, channel=self.channel_name, parts=EMAIL_PARTS,
            optional=EMAIL_OPTIONAL, recipient=recipient,
        )
        when = sent_keys.at if sent_keys is not None else dt.datetime.now(dt.timezone.utc)
        # One line: a name with a line break (a CRM's trailing newline) is not a header.
        name = " ".join((recipient.name or "").split())
        message = self.message(parts, to=Address(name, addr_spec=to.addr_spec),
                               message_id=reference, at=when)

        def note_first() -> bool:
            return sent_keys is None or bool(sent_keys.remember(idempotency_key,
                                                                reference=reference))

        before = note_first if self.dedupe == "before" else None
        try:
            handed = self._send(message, to.addr_spec, before)
        except _Refused as exc:
            _log.warning("not emailed: %s (%s)", exc, idempotency_key,
                         extra={"key": idempotency_key, "outcome": "refused"})
            return DeliveryResult(delivered=False)
        if not handed:  # noted by another attempt meanwhile
            return DeliveryResult(reference=reference)
        if sent_keys is not None and self.dedupe == "after":
            sent_keys.remember(idempotency_key, reference=reference)
        return DeliveryResult(reference=reference)

    # -- the message ----------------------------------------------------------------------

    def message(
        self, parts: dict[str, str], *, to: Address, message_id: str, at: dt.datetime
    ) -> EmailMessage:
        """The email for rendered ``parts`` (``subject``, ``txt``, optional ``html``)."""
        msg = EmailMessage(policy=_POLICY)
        msg["From"] = self.sender
        msg["To"] = to
        if self.reply_to is not None:
            msg["Reply-To"] = self.reply_to
        # One line: a customer's data with a line break must not start a new header.
        msg["Subject"] = " ".join(parts["subject"].split())
        msg["Date"] = email.utils.format_datetime(at)
        msg["Message-ID"] = message_id
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        msg.set_content(parts["txt"] + "\n")
        if parts.get("html"):
            msg.add_alternative(parts["html"] + "\n", subtype="html")
        return msg

    # -- the connection -------------------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        s = self.smtp
        context = ssl.create_default_context(cafile=s.ca_file)
        conn: smtplib.SMTP
        if s.security == "ssl":
            conn = smtplib.SMTP_SSL(s.host, s.effective_port, timeout=s.timeout, context=context)
        else:
            conn = smtplib.SMTP(s.host, s.effective_port, timeout=s.timeout)
        try:
            conn.ehlo()
            if s.security == "starttls":
                if not conn.has_extn("starttls"):
                    msg = (
                        f"the SMTP server {s.host}:{s.effective_port} does not offer STARTTLS; "
                        "use smtps:// if it speaks TLS from the start (security='none' sends "
                        "mail unencrypted: for a local relay only)"
                    )
                    raise CareKitError(msg)
                conn.starttls(context=context)
                conn.ehlo()
            if s.username is not None:
                conn.login(s.username, s.password or "")
        except BaseException:
            _close(conn)
            raise
        return conn

    def _take(self) -> tuple[smtplib.SMTP, bool]:
        try:
            return self._idle.get_nowait(), True
        except queue.Empty:
            return self._connect(), False

    def _give_back(self, conn: smtplib.SMTP) -> None:
        if self._idle.qsize() < self.pool_size:
            self._idle.put(conn)
        else:
            _close(conn)

    def _send(
        self, message: EmailMessage, to: str, before: Callable[[], bool] | None
    ) -> bool:
        """Hand ``message`` to the server; ``before`` runs just before DATA (``False``: stop).

        Returns ``True`` when the server accepted it, ``False`` when ``before`` stopped it.

        Raises:
            _Refused: the server refused the recipient or the message for good (5xx).
            smtplib.SMTPException, OSError: anything else (the attempt failed).
        """
        sender = self.sender.addr_spec
        for _ in range(2):  # a pooled connection the server closed: once more, fresh
            conn, reused = self._take()
            try:
                code, reply = conn.mail(sender)
                if code != 250:
                    raise smtplib.SMTPSenderRefused(code, reply, sender)
                code, reply = conn.rcpt(to)
                if code not in (250, 251):
                    if 500 <= code < 600:
                        conn.rset()
                        self._give_back(conn)
                        raise _Refused(f"the server refused the recipient: {code} {reply!r}")
                    # not SMTPRecipientsRefused: its text, logged and kept in the outbox,
                    # would show the customer's address
                    msg = f"the server deferred the recipient: {code} {reply!r}"
                    raise CareKitError(msg)
            except (TimeoutError, smtplib.SMTPServerDisconnected, ConnectionError) as exc:
                _close(conn)
                if reused:
                    continue
                raise exc from None
            except _Refused:
                raise
            except BaseException:
                _close(conn)
                raise
            break
        else:  # pragma: no cover - the second round always connects afresh
            msg = "could not reach the SMTP server"
            raise ConnectionError(msg)
        if before is not None and not before():
            conn.rset()
            self._give_back(conn)
            return False
        try:
            code, reply = conn.data(message.as_bytes())
            if code != 250:  # smtplib raises only when DATA itself is refused
                raise smtplib.SMTPDataError(code, reply)
        except smtplib.SMTPDataError as exc:
            self._after_refusal(conn)
            if 500 <= exc.smtp_code < 600 or before is not None:
                raise _Refused(f"the server refused the message: {exc.smtp_code} "
                               f"{exc.smtp_error!r}") from None
            raise
        except BaseException:
            _close(conn)
            raise
        self._give_back(conn)
        return True

    def _after_refusal(self, conn: smtplib.SMTP) -> None:
        try:
            conn.rset()
        except (smtplib.SMTPException, OSError):
            _close(conn)
            return
        self._give_back(conn)

    def check_connection(self) -> None:
        """Connect, say hello, secure the connection and log in once (a start-up check).

        Raises:
            CareKitError: the server cannot be reached or refused the login (the message
                shows the settings with the password hidden).
        """
        try:
            conn = self._connect()
        except (smtplib.SMTPException, OSError) as exc:
            msg = f"cannot use the SMTP server {self.smtp.url}: {exc}"
            raise CareKitError(msg) from None
        self._give_back(conn)

    def close(self) -> None:
        """Close the idle connections."""
        while True:
            try:
                _close(self._idle.get_nowait())
            except queue.Empty:
                return


def _close(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except (smtplib.SMTPException, OSError):
        with contextlib.suppress(OSError):
            conn.close()


def _address(name: str, value: object) -> Address:
    if isinstance(value, Address):
        return value
    if not isinstance(value, str) or any(c in value for c in "\r\n"):
        msg = f"{name} must be an email address such as 'Shop <care@shop.example>' (got {value!r})"
        raise CareKitError(msg)
    display, spec = email.utils.parseaddr(value)
    try:
        found = Address(display, addr_spec=spec)
    except (ValueError, IndexError, TypeError):
        found = None
    if found is None or not found.domain or not found.username:
        msg = f"{name} must be an email address such as 'Shop <care@shop.example>' (got {value!r})"
        raise CareKitError(msg)
    return found



