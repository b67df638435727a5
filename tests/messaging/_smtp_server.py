"""A real SMTP server for the tests (aiosmtpd on 127.0.0.1), with TLS and logins if asked."""

from __future__ import annotations

import contextlib
import email
import email.policy
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

from tests._extras import need

# The server is aiosmtpd, a test dependency of the email extra: a test module importing this
# one is skipped without it.
need("aiosmtpd", "test-extras")

from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Inbox:
    """What the server received: ``(envelope sender, recipients, parsed message)``."""

    def __init__(self, reply: Callable[[Any], str] | None = None) -> None:
        self.received: list[tuple[str, list[str], EmailMessage]] = []
        self.lock = threading.Lock()
        self.reply = reply
        self.sessions = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = self.reply(envelope) if self.reply is not None else "250 OK"
        if answer.startswith("250"):
            parsed = email.message_from_bytes(envelope.original_content or envelope.content,
                                              policy=email.policy.default)
            with self.lock:
                self.received.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return answer

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        with self.lock:
            self.sessions += 1
        session.host_name = hostname
        return responses

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return
            time.sleep(0.01)
        msg = f"the server received {len(self.received)} message(s), not {count}"
        raise AssertionError(msg)

    @property
    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [m for _, _, m in self.received]


def _authenticator(login: str, password: str) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = (isinstance(data, LoginPassword) and data.login == login.encode()
              and data.password == password.encode())
        return AuthResult(success=ok, handled=False)
    return check


@contextlib.contextmanager
def smtp_server(
    inbox: Inbox | None = None,
    *,
    tls: str = "none",
    cert: Any = None,
    login: tuple[str, str] | None = None,
) -> Iterator[tuple[Inbox, int]]:
    """Serve SMTP on 127.0.0.1: ``tls`` is ``"none"``, ``"starttls"`` (required) or ``"ssl"``;
    ``cert`` a trustme server certificate; ``login`` the only (user, password) accepted."""
    inbox = inbox or Inbox()
    options: dict[str, Any] = {}
    context = None
    if tls != "none":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
    if tls == "starttls":
        options.update(tls_context=context, require_starttls=True)
    if login is not None:
        options.update(auth_required=True, authenticator=_authenticator(*login),
                       auth_require_tls=tls == "starttls")  # SMTPS is TLS already
    port = free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port,
        ssl_context=context if tls == "ssl" else None, **options,
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
