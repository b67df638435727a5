"""Email over SMTP, through a real SMTP server (aiosmtpd) the tests start on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import pathlib
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests._extras import need
from tests.messaging._helpers import T0, order_templates, shipped_order, write
from tests.messaging._smtp_server import Inbox, smtp_server

from carekit import CareKitError
from carekit.journeys import (
    Event,
    MemoryJourneyStore,
    SQLiteJourneyStore,
    Worker,
    aio,
    order_journey,
)
from carekit.messaging import (
    EmailChannel,
    Recipient,
    SMTPSettings,
    TemplateError,
    Templates,
    key_from_message_id,
    message_id,
)
from carekit.testing import make_carekit

need("jinja2", "email")
trustme = need("trustme", "test-extras")

ROOT = pathlib.Path(__file__).resolve().parents[2]
PARTS = ("subject", "txt")
PEOPLE = {"c-1": Recipient("ana@example.com", name="Ana Silva"), "c-2": "bo@example.com"}


@pytest.fixture
def templates(tmp_path: pathlib.Path) -> Templates:
    folder = order_templates(tmp_path / "templates", "email", PARTS)
    write(folder, "email/shipped_with_tracking.html",
          "<p>Hello {{ recipient.name }}, tracking <b>{{ data.tracking_number }}</b></p>")
    return Templates(folder, default_locale="en_GB")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def channel(url: str, templates: Templates, **options: Any) -> EmailChannel:
    return EmailChannel(url, sender="Oak & Ash <care@oakandash.example>", templates=templates,
                        journeys=[order_journey()], address=PEOPLE, **options)


def test_an_email_arrives_with_its_headers_and_parts(templates: Templates) -> None:
    store = MemoryJourneyStore()
    key = shipped_order(store)
    with smtp_server() as (inbox, port):
        email = channel(f"smtp://127.0.0.1:{port}?security=none", templates)
        report = Worker(make_carekit(email), store).run_once(T0 + dt.timedelta(minutes=5))
        assert report.sent == 3 and report.failed == 0  # thanks, production, shipped
        inbox.wait_for(3)
        email.close()
    by_subject = {m["Subject"]: (sender, to, m) for sender, to, m in inbox.received}
    sender, to, shipped = by_subject["shipped with tracking for order-1"]
    assert sender == "care@oakandash.example" and to == ["ana@example.com"]
    assert shipped["From"] == "Oak & Ash <care@oakandash.example>"
    assert shipped["To"] == "Ana Silva <ana@example.com>"
    assert shipped["Message-ID"] == message_id(key, "oakandash.example")
    assert key_from_message_id(shipped["Message-ID"]) == key
    assert shipped["Auto-Submitted"] == "auto-generated"
    assert shipped["Date"].datetime == T0 + dt.timedelta(minutes=5)
    assert shipped.get_content_type() == "multipart/alternative"
    text = shipped.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = shipped.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert text == "shipped with tracking for order-1 - tracking 1Z999\n"
    assert html == "<p>Hello Ana Silva, tracking <b>1Z999</b></p>\n"
    thanks = by_subject["order thanks for order-1"][2]
    assert thanks.get_content_type() == "text/plain"  # no .html template: plain text only
    outbox = {e.name: e for e in store.outbox("order-1")}
    assert outbox["shipped_with_tracking"].reference == shipped["Message-ID"]
    assert store.sent_key(key).reference == shipped["Message-ID"]


# aiosmtpd warns of logins without STARTTLS even when the whole connection is TLS (smtps).
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize("tls", ["starttls", "ssl"])
def test_starttls_and_tls_with_a_login(
    tls: str, templates: Templates, ca: trustme.CA, tmp_path: pathlib.Path
) -> None:
    cert = ca.issue_cert("127.0.0.1")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    store = MemoryJourneyStore()
    shipped_order(store)
    scheme = "smtps" if tls == "ssl" else "smtp"
    with smtp_server(tls=tls, cert=cert, login=("shop", "p@ss w0rd")) as (inbox, port):
        url = f"{scheme}://shop:p%40ss%20w0rd@127.0.0.1:{port}?ca_file={ca_file}"
        email = channel(url, templates)
        assert Worker(make_carekit(email), store).run_once(T0).sent == 3
        inbox.wait_for(3)
        email.close()
        wrong = channel(url.replace("w0rd", "nope"), templates)
        other = MemoryJourneyStore()
        shipped_order(other)
        report = Worker(make_carekit(wrong), other).run_once(T0)
    assert report.failed == 3 and report.sent == 0
    error = report.attempts[0].error
    assert "SMTPAuthenticationError" in error and "w0rd" not in error and "nope" not in error


def test_an_untrusted_certificate_is_refused(templates: Templates, ca: trustme.CA) -> None:
    store = MemoryJourneyStore()
    shipped_order(store)
    with smtp_server(tls="ssl", cert=ca.issue_cert("127.0.0.1")) as (inbox, port):
        email = channel(f"smtps://127.0.0.1:{port}", templates)  # the system's CAs only
        report = Worker(make_carekit(email), store).run_once(T0)
    assert report.sent == 0 and report.failed == 3
    assert "CERTIFICATE_VERIFY_FAILED" in report.attempts[0].error
    assert inbox.received == []


def test_starttls_that_the_server_does_not_offer_is_refused(templates: Templates) -> None:
    store = MemoryJourneyStore()
    shipped_order(store)
    with smtp_server() as (inbox, port):
        email = channel(f"smtp://127.0.0.1:{port}", templates)  # STARTTLS by default
        report = Worker(make_carekit(email), store).run_once(T0)
        with pytest.raises(CareKitError, match=r"does not offer STARTTLS; use smtps://"):
            email.check_connection()
    assert report.failed == 3 and "does not offer STARTTLS" in report.attempts[0].error
    assert inbox.received == []


def test_connections_are_reused_and_a_dropped_one_is_replaced(templates: Templates) -> None:
    store = MemoryJourneyStore()
    for i in range(5):
        shipped_order(store, f"order-{i}", customer="c-2")
    inbox = Inbox()
    with smtp_server(inbox) as (_, port):
        email = channel(f"smtp://127.0.0.1:{port}?security=none", templates)
        assert Worker(make_carekit(email), store).run_once(T0).sent == 15
        assert inbox.sessions == 1  # one connection for all fifteen
    with smtp_server(inbox) as (_, port2):  # the old server is gone: its pooled link is dead
        email.smtp = SMTPSettings("127.0.0.1", port=port2, security="none")
        shipped_order(store, "order-9", customer="c-2")
        assert Worker(make_carekit(email), store).run_once(T0).sent == 3
        email.close()
    assert len(inbox.received) == 18
    assert len({m["Message-ID"] for m in inbox.messages}) == 18


def _crash_script(port: int, folder: pathlib.Path, db: pathlib.Path, kill: bool) -> str:
    return textwrap.dedent(f"""
        import datetime as dt, os, signal, time
        from carekit.journeys import SQLiteJourneyStore, Worker, order_journey
        from carekit.messaging import EmailChannel, Templates
        from carekit.testing import make_carekit

        later = {0 if kill else 60}  # the second worker runs after the first one's lease
        store = SQLiteJourneyStore({str(db)!r}, clock=lambda: time.time() + later)

        class DiesBeforeRecording:
            def __getattr__(self, name):
                return getattr(store, name)
            def record(self, outcomes, **kwargs):
                if any(o.status == "sent" for o in outcomes):
                    os.kill(os.getpid(), signal.SIGKILL)  # sent, noted, not recorded
                return store.record(outcomes, **kwargs)

        email = EmailChannel("smtp://127.0.0.1:{port}?security=none",
                             sender="care@oakandash.example",
                             templates=Templates({str(folder)!r}), journeys=[order_journey()],
                             address={{"c-1": "ana@example.com"}})
        worker = Worker(make_carekit(email), DiesBeforeRecording() if {kill} else store,
                        batch_size=1)
        report = worker.run_once(dt.datetime(2026, 3, 2, 9, 5, tzinfo=dt.timezone.utc))
        print(report.summary())
    """)


@pytest.mark.slow
def test_one_message_per_key_after_the_worker_is_killed_between_send_and_record(
    tmp_path: pathlib.Path,
) -> None:
    folder = order_templates(tmp_path / "templates", "email", PARTS)
    db = tmp_path / "journeys.db"
    store = SQLiteJourneyStore(db)
    store.create(order_journey(), "order-1", at=T0, customer_id="c-1", channel="email")
    store.append("order-1", [Event("place", at=T0, id="p"), Event("acknowledge", at=T0, id="a")])
    store.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with smtp_server() as (inbox, port):
        killed = subprocess.run(
            [sys.executable, "-c", _crash_script(port, folder, db, kill=True)],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )
        assert killed.returncode == -9, killed.stderr  # SIGKILL, after the server took it
        inbox.wait_for(1)
        again = subprocess.run(
            [sys.executable, "-c", _crash_script(port, folder, db, kill=False)],
            env=env, capture_output=True, text=True, timeout=60, check=True,
        )
        time.sleep(0.2)  # a second message, if one were sent, would have arrived by now
    assert "sent 1" in again.stdout
    assert len(inbox.received) == 1  # the retry found the note: no second email
    store = SQLiteJourneyStore(db)
    entry = store.outbox("order-1")[0]
    assert entry.status == "sent" and entry.attempts == 2
    assert entry.reference == inbox.messages[0]["Message-ID"]
    assert entry.reference == message_id("order-1/order_thanks/2", "oakandash.example")
    store.close()


def test_a_temporary_refusal_is_retried_and_sent_once(templates: Templates) -> None:
    answers = iter(["451 try again later", "250 OK"])
    inbox = Inbox(reply=lambda envelope: next(answers))
    store = MemoryJourneyStore()
    store.create(order_journey(), "order-1", at=T0, customer_id="c-2", channel="email")
    store.append("order-1", [Event("place", at=T0, id="p"), Event("acknowledge", at=T0, id="a")])
    with smtp_server(inbox) as (_, port):
        email = channel(f"smtp://127.0.0.1:{port}?security=none", templates)
        worker = Worker(make_carekit(email), store, backoff=1)
        first = worker.run_once(T0)
        second = worker.run_once(T0 + dt.timedelta(seconds=2))
    assert (first.failed, second.sent) == (1, 1)
    assert "451" in first.attempts[0].error
    assert len(inbox.received) == 1


class DeferringInbox(Inbox):
    """Answers 451 to the first RCPT, then accepts."""

    def __init__(self) -> None:
        super().__init__()
        self.deferred = False

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if not self.deferred:
            self.deferred = True
            return "451 4.3.0 mailbox busy"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_a_deferred_recipient_is_retried_without_showing_the_address(
        templates: Templates, caplog: pytest.LogCaptureFixture) -> None:
    # The attempt's error was SMTPRecipientsRefused's text: {'bo@example.com': (451, ...)},
    # in the worker's log line and in the outbox.
    store = MemoryJourneyStore()
    store.create(order_journey(), "order-1", at=T0, customer_id="c-2", channel="email")
    store.append("order-1", [Event("place", at=T0, id="p"), Event("acknowledge", at=T0, id="a")])
    with smtp_server(DeferringInbox()) as (inbox, port):
        email = channel(f"smtp://127.0.0.1:{port}?security=none", templates)
        worker = Worker(make_carekit(email), store, backoff=1)
        first = worker.run_once(T0)
        second = worker.run_once(T0 + dt.timedelta(seconds=2))
        inbox.wait_for(1)
    assert (first.failed, second.sent) == (1, 1)
    error = first.attempts[0].error or ""
    assert "the server deferred the recipient: 451" in error
    assert "bo@example.com" not in error + caplog.text
    assert "bo@example.com" not in str(store.outbox("order-1"))


def test_a_name_with_a_line_break_is_sent_on_one_line(templates: Templates) -> None:
    # A name with a line break made the email library raise ValueError on every attempt, so
    # the message was retried until dead-lettered.
    store = MemoryJourneyStore()
    store.create(order_journey(), "order-1", at=T0, customer_id="c-9", channel="email")
    store.append("order-1", [Event("place", at=T0, id="p"), Event("acknowledge", at=T0, id="a")])
    people = {"c-9": Recipient("ana@example.com", name="Ana Silva\r\nBcc: thief@evil.example\n")}
    with smtp_server() as (inbox, port):
        email = EmailChannel(f"smtp://127.0.0.1:{port}?security=none", sender="care@shop.example",
                             templates=templates, journeys=[order_journey()], address=people)
        assert Worker(make_carekit(email), store).run_once(T0).sent == 1
        inbox.wait_for(1)
    (message,) = inbox.messages
    assert message["Bcc"] is None
    assert str(message["To"]) == '"Ana Silva Bcc: thief@evil.example" <ana@example.com>'
    assert [to for _, to, _ in inbox.received] == [["ana@example.com"]]


@pytest.mark.parametrize("dedupe", ["after", "before"])
def test_a_permanent_refusal_is_not_retried(templates: Templates, dedupe: str) -> None:
    inbox = Inbox(reply=lambda envelope: "554 message rejected")
    store = MemoryJourneyStore()
    shipped_order(store, customer="c-2")
    with smtp_server(inbox) as (_, port):
        email = channel(f"smtp://127.0.0.1:{port}?security=none", templates, dedupe=dedupe)
        report = Worker(make_carekit(email), store).run_once(T0)
    assert report.dead == 3 and report.failed == 0
    assert inbox.received == []


def test_note_before_sending_gives_up_on_a_temporary_refusal(templates: Templates) -> None:
    # At most once: the key was noted before the message was handed over, so the server's
    # 451 cannot be retried without risking a second copy; it is dead-lettered instead.
    answers = iter(["451 try again later", "250 OK"])
    inbox = Inbox(reply=lambda envelope: next(answers))
    store = MemoryJourneyStore()
    store.create(order_journey(), "order-1", at=T0, customer_id="c-2", channel="email")
    store.append("order-1", [Event("place", at=T0, id="p"), Event("acknowledge", at=T0, id="a")])
    with smtp_server(inbox) as (_, port):
        email = channel(f"smtp://127.0.0.1:{port}?security=none", templates, dedupe="before")
        report = Worker(make_carekit(email), store).run_once(T0)
    assert report.dead == 1 and inbox.received == []
    assert store.sent_key("order-1/order_thanks/2") is not None


def test_note_before_sending_skips_a_key_already_noted(templates: Templates) -> None:
    store = MemoryJourneyStore()
    key = shipped_order(store, customer="c-2")
    store.remember_sent(key, at=T0, channel="email", reference="<earlier@shop>")
    with smtp_server() as (inbox, port):
        email = channel(f"smtp://127.0.0.1:{port}?security=none", templates, dedupe="before")
        report = Worker(make_carekit(email), store).run_once(T0)
    assert report.sent == 3
    assert sorted(m["Subject"] for m in inbox.messages) == [
        "order thanks for order-1", "production update for order-1"]
    assert {e.name: e.reference for e in store.outbox("order-1")}[
        "shipped_with_tracking"] == "<earlier@shop>"


def test_an_unknown_recipient_is_refused_for_good(templates: Templates) -> None:
    store = MemoryJourneyStore()
    shipped_order(store, customer="c-404")  # not in the lookup
    store.create(order_journey(), "order-2", at=T0, channel="email")  # no customer at all
    store.append("order-2", [Event("place", at=T0, id="p2"), Event("acknowledge", at=T0, id="a2")])
    with smtp_server() as (inbox, port):
        email = channel(f"smtp://127.0.0.1:{port}?security=none", templates)
        report = Worker(make_carekit(email), store).run_once(T0)
    assert report.dead == 4 and inbox.received == []


def test_customer_data_cannot_add_headers_or_run(tmp_path: pathlib.Path) -> None:
    folder = order_templates(tmp_path / "t", "email", PARTS)
    write(folder, "email/shipped_with_tracking.subject", "Shipped: {{ data.tracking_number }}")
    write(folder, "email/shipped_with_tracking.html", "<p>{{ data.tracking_number }}</p>")
    store = MemoryJourneyStore()
    shipped_order(store, customer="c-2",
                  tracking="1Z\r\nBcc: thief@evil.example\r\n{{ 7 * 7 }}<script>")
    with smtp_server() as (inbox, port):
        email = channel(f"smtp://127.0.0.1:{port}?security=none", Templates(folder))
        assert Worker(make_carekit(email), store).run_once(T0).sent == 3
        inbox.wait_for(3)
    shipped = next(m for m in inbox.messages if m["Subject"].startswith("Shipped"))
    assert shipped["Subject"] == "Shipped: 1Z Bcc: thief@evil.example {{ 7 * 7 }}<script>"
    assert shipped["Bcc"] is None
    assert all(to == ["bo@example.com"] for _, to, _ in inbox.received)
    assert "{{ 7 * 7 }}" in shipped.get_body(("plain",)).get_content()
    assert "&lt;script&gt;" in shipped.get_body(("html",)).get_content()


def test_the_asyncio_worker_sends_concurrently_one_message_each(templates: Templates) -> None:
    blocking = MemoryJourneyStore()
    for i in range(12):
        shipped_order(blocking, f"order-{i}", customer="c-2")

    async def main(port: int) -> Any:
        email = channel(f"smtp://127.0.0.1:{port}?security=none", templates)
        store = aio.ThreadedStore(blocking)
        report = await aio.Worker(make_carekit(email), store, concurrency=4).run_once(T0)
        email.close()
        return report

    with smtp_server() as (inbox, port):
        report = asyncio.run(main(port))
        inbox.wait_for(36)
    assert report.sent == 36
    assert len({m["Message-ID"] for m in inbox.messages}) == 36
    assert all(blocking.sent_key(key_from_message_id(m["Message-ID"])) for m in inbox.messages)


# -- Message-ID --------------------------------------------------------------------------------


@given(st.text(min_size=1, max_size=300))
def test_the_message_id_carries_the_key(key: str) -> None:
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return  # lone surrogates are not keys a store keeps
    mid = message_id(key, "shop.example")
    assert key_from_message_id(mid) == key
    assert mid == message_id(key, "shop.example")
    assert mid.startswith("<ck.") and mid.endswith("@shop.example>") and mid.isascii()
    assert " " not in mid


@pytest.mark.parametrize("value", ["<CAF12@mail.example>", "ck.@x", "<ck.!!!@x>", "", 5])
def test_other_message_ids_carry_no_key(value: Any) -> None:
    assert key_from_message_id(value) is None


@pytest.mark.parametrize(("key", "domain"), [("", "x.example"), ("k", ""), ("k", "a b"),
                                             ("k", "a@b"), (5, "x.example")])
def test_message_id_refuses_bad_arguments(key: Any, domain: Any) -> None:
    with pytest.raises(CareKitError):
        message_id(key, domain)


# -- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.com", ("mail.example.com", 587, "starttls", None, None)),
        ("smtps://u:p@mail.example.com", ("mail.example.com", 465, "ssl", "u", "p")),
        ("smtp://u%40x:p%3Aq@h:2525?security=none&timeout=5",
         ("h", 2525, "none", "u@x", "p:q")),
    ],
)
def test_settings_from_a_url(url: str, expected: tuple[Any, ...]) -> None:
    s = SMTPSettings.from_url(url)
    assert (s.host, s.effective_port, s.security, s.username, s.password) == expected


def test_the_password_never_shows() -> None:
    s = SMTPSettings.from_url("smtp://shop:hunter2@mail.example.com:587?timeout=3")
    assert "hunter2" not in repr(s) and "hunter2" not in s.url and s.timeout == 3.0
    assert s.url == "smtp://shop:***@mail.example.com:587"
    with pytest.raises(CareKitError) as error:
        SMTPSettings.from_url("smtp://shop:hunter2@mail.example.com:587?tls=yes")
    assert "hunter2" not in str(error.value) and "unknown option 'tls'" in str(error.value)


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://mail.example.com", r"must be smtp://"),
        ("smtp://:pw@/", r"must be smtp://"),
        ("smtp://h:99999", r"not a URL"),
        ("smtp://h?security=ssl", r"use smtps://"),
        ("smtps://h?security=starttls", r"use smtps://"),
        ("smtp://h?security=maybe", r"security must be 'starttls'"),
        ("smtp://h?timeout=soon", r"timeout must be a number"),
        ("smtp://h?timeout=0", r"timeout must be a number"),
        (7, r"must be a string"),
        # was accepted, and then every delivery failed with FileNotFoundError
        ("smtp://h?ca_file=/no/such/ca.pem", r"ca_file '/no/such/ca.pem' is not a readable PEM "
         r"file of certificate authorities \(No such file or directory\)"),
        (f"smtp://h?ca_file={__file__}", r"is not a readable PEM file"),
    ],
)
def test_bad_urls_are_clear_errors(url: Any, match: str) -> None:
    with pytest.raises(CareKitError, match=match):
        SMTPSettings.from_url(url)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"host": ""}, r"host must be a host name"),
        ({"host": "h", "port": 0}, r"port must be a whole number"),
        ({"host": "h", "port": True}, r"port must be a whole number"),
        ({"host": "h", "username": 5}, r"username must be a string"),
    ],
)
def test_bad_settings_are_clear_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(CareKitError, match=match):
        SMTPSettings(**kwargs)


def test_channel_arguments_are_checked(templates: Templates, tmp_path: pathlib.Path) -> None:
    url = "smtp://127.0.0.1:2525?security=none"
    with pytest.raises(CareKitError, match=r"sender must be an email address"):
        EmailChannel(url, sender="nobody", templates=templates, journeys=[], address={})
    with pytest.raises(CareKitError, match=r"templates must be carekit.messaging.Templates"):
        EmailChannel(url, sender="a@b.example", templates="t", journeys=[],  # type: ignore[arg-type]
                     address={})
    with pytest.raises(CareKitError, match=r"dedupe must be 'after'"):
        channel(url, templates, dedupe="never")
    with pytest.raises(CareKitError, match=r"address must be a callable"):
        EmailChannel(url, sender="a@b.example", templates=templates, journeys=[], address=5)
    with pytest.raises(TemplateError) as missing:
        channel(url, Templates(order_templates(tmp_path / "sms", "sms", PARTS)))
    assert len(missing.value.problems) == 10  # five touchpoints, two parts each
    assert "email/order_thanks.subject, which does not exist" in str(missing.value)


@pytest.mark.parametrize(("journeys", "match"), [
    (order_journey(), r"got the one definition 'order': put it in a list"),
    (["order"], r"a name, such as kit.journeys\['order'\], is not a definition"),
    (5, r"journeys must be a list of journey definitions, such as \[order_journey\(\)\]"),
])
def test_journeys_that_are_not_definitions_are_clear_errors(templates: Templates, journeys: Any,
                                                            match: str) -> None:
    # A single definition was a raw TypeError (not iterable), names an AttributeError.
    with pytest.raises(CareKitError, match=match):
        EmailChannel("smtp://127.0.0.1:2525?security=none", sender="a@b.example",
                     templates=templates, journeys=journeys, address={})
    with pytest.raises(CareKitError, match=r"extra_touchpoints must be a list of touchpoint "
                       r"names, such as \['manager_call'\]"):
        EmailChannel("smtp://127.0.0.1:2525?security=none", sender="a@b.example",
                     templates=templates, journeys=[order_journey()], address={},
                     extra_touchpoints="manager_call")  # type: ignore[arg-type]


def test_a_channel_of_its_own_is_registered(templates: Templates, tmp_path: pathlib.Path) -> None:
    from carekit.channels import Channel

    folder = order_templates(tmp_path / "own", "newsletter", PARTS)
    own = EmailChannel("smtp://h", sender="a@b.example", templates=Templates(folder),
                       journeys=[order_journey()], address={},
                       channel=Channel("newsletter", quiet_hours=(dt.time(21), dt.time(8))))
    kit = make_carekit(own)
    assert kit.channels["newsletter"].quiet_hours == (dt.time(21), dt.time(8))
    assert "email" in kit.channels and repr(own).startswith("EmailChannel('newsletter'")
