"""Apprise channels, delivering to a real HTTP endpoint (``json://`` to an http.server on
127.0.0.1)."""

from __future__ import annotations

import asyncio
import datetime as dt
import pathlib
from typing import Any

import pytest
from tests._extras import need
from tests.messaging._helpers import T0, order_templates, shipped_order, write
from tests.messaging._http_server import Received, http_server

from carekit import CareKitError
from carekit.channels import Channel
from carekit.journeys import MemoryJourneyStore, Worker, aio, order_journey
from carekit.messaging import AppriseChannel, Recipient, TemplateError, Templates
from carekit.testing import make_carekit

PHONES = {"c-1": Recipient("+447700900123", name="Ana"), "c-2": "+447700900456"}

need("apprise", "apprise")
need("jinja2", "apprise")


@pytest.fixture
def templates(tmp_path: pathlib.Path) -> Templates:
    folder = order_templates(tmp_path / "templates", "sms", ("txt",))
    write(folder, "sms/shipped_with_tracking.title", "Shipped, {{ recipient.name }}")
    order_templates(folder, "ops", ("txt",))
    return Templates(folder)


def test_each_customer_gets_their_message_at_their_address(templates: Templates) -> None:
    store = MemoryJourneyStore()
    key = shipped_order(store, channel="sms")
    with http_server() as (received, port):
        sms = AppriseChannel("sms", f"json://127.0.0.1:{port}/sms/{{recipient}}",
                             templates=templates, journeys=[order_journey()], address=PHONES)
        report = Worker(make_carekit(sms), store).run_once(T0)
    assert report.sent == 3 and report.failed == 0
    by_message = {post["message"]: (path, post) for path, post in received.posts}
    path, shipped = by_message["shipped with tracking for order-1 - tracking 1Z999"]
    assert path == "/sms/+447700900123"
    assert shipped["title"] == "Shipped, Ana"
    assert by_message["order thanks for order-1"][1]["title"] == ""  # no .title template
    assert store.sent_key(key).channel == "sms"


def test_a_fixed_audience_and_a_channel_of_its_own(templates: Templates) -> None:
    store = MemoryJourneyStore()
    shipped_order(store, channel="ops")
    with http_server() as (received, port):
        ops = AppriseChannel(Channel("ops", description="the shop floor's chat"),
                             f"json://127.0.0.1:{port}/hooks/ops", templates=templates,
                             journeys=[order_journey()])
        kit = make_carekit(ops)
        assert kit.channels["ops"].description == "the shop floor's chat"
        assert Worker(kit, store).run_once(T0).sent == 3
    assert {path for path, _ in received.posts} == {"/hooks/ops"}


def test_a_failed_post_is_retried_and_sent_once(templates: Templates) -> None:
    store = MemoryJourneyStore()
    shipped_order(store, customer="c-2", channel="sms")
    received = Received(statuses=[500])
    with http_server(received) as (_, port):
        sms = AppriseChannel("sms", f"json://127.0.0.1:{port}/{{recipient}}",
                             templates=templates, journeys=[order_journey()], address=PHONES)
        worker = Worker(make_carekit(sms), store, backoff=1)
        first = worker.run_once(T0)
        again = worker.run_once(T0 + dt.timedelta(seconds=2))
        third = worker.run_once(T0 + dt.timedelta(minutes=5))
    assert (first.sent, first.failed, again.sent, third.idle) == (2, 1, 1, True)
    assert "Apprise could not deliver on channel 'sms' (json://…)" in (
        next(a.error for a in first.attempts if a.outcome == "failed")
    )
    assert len(received.posts) == 3  # one per touchpoint


def test_a_lost_outcome_is_not_posted_again(templates: Templates) -> None:
    import time

    clock = [time.time()]
    store = MemoryJourneyStore(clock=lambda: clock[0])
    shipped_order(store, customer="c-2", channel="sms")

    class LoseRecords:
        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def record(self, outcomes: Any, **kwargs: Any) -> Any:
            raise KeyboardInterrupt("died before recording")

    with http_server() as (received, port):
        sms = AppriseChannel("sms", f"json://127.0.0.1:{port}/{{recipient}}",
                             templates=templates, journeys=[order_journey()], address=PHONES)
        with pytest.raises(KeyboardInterrupt):
            Worker(make_carekit(sms), LoseRecords(), batch_size=1).run_once(T0)
        clock[0] += 31
        report = Worker(make_carekit(sms), store).run_once(T0)
    assert report.sent == 3
    assert len(received.posts) == 3  # the first touchpoint was posted once, not twice


def test_note_before_sending_gives_up_instead_of_retrying(templates: Templates) -> None:
    store = MemoryJourneyStore()
    shipped_order(store, customer="c-2", channel="sms")
    received = Received(statuses=[500])
    with http_server(received) as (_, port):
        sms = AppriseChannel("sms", f"json://127.0.0.1:{port}/{{recipient}}",
                             templates=templates, journeys=[order_journey()], address=PHONES,
                             dedupe="before")
        report = Worker(make_carekit(sms), store).run_once(T0)
    assert (report.sent, report.dead) == (2, 1)
    assert len(received.posts) == 2


def test_customers_without_an_address_are_not_messaged(templates: Templates) -> None:
    store = MemoryJourneyStore()
    shipped_order(store, customer="c-404", channel="sms")
    with http_server() as (received, port):
        sms = AppriseChannel("sms", f"json://127.0.0.1:{port}/{{recipient}}",
                             templates=templates, journeys=[order_journey()], address=PHONES)
        report = Worker(make_carekit(sms), store).run_once(T0)
    assert report.dead == 3 and received.posts == []


def test_the_asyncio_worker_posts_concurrently(templates: Templates) -> None:
    blocking = MemoryJourneyStore()
    for i in range(8):
        shipped_order(blocking, f"order-{i}", customer="c-2", channel="sms")

    async def main(port: int) -> Any:
        sms = AppriseChannel("sms", f"json://127.0.0.1:{port}/{{recipient}}",
                             templates=templates, journeys=[order_journey()], address=PHONES)
        worker = aio.Worker(make_carekit(sms), aio.ThreadedStore(blocking), concurrency=4)
        return await worker.run_once(T0)

    with http_server() as (received, port):
        report = asyncio.run(main(port))
    assert report.sent == 24 and len(received.posts) == 24


def test_the_url_is_checked_and_never_shown(templates: Templates) -> None:
    with pytest.raises(CareKitError, match=r"\(nosuchservice://…\) is not one Apprise can use"):
        AppriseChannel("sms", "nosuchservice://secret-token/x", templates=templates,
                       journeys=[order_journey()])
    with pytest.raises(CareKitError, match=r"must be a URL") as error:
        AppriseChannel("sms", "secret-token", templates=templates, journeys=[order_journey()])
    assert "secret-token" not in str(error.value)
    with pytest.raises(CareKitError, match=r"give an address lookup"):
        AppriseChannel("sms", "json://127.0.0.1:9/{recipient}", templates=templates,
                       journeys=[order_journey()])
    with pytest.raises(CareKitError, match=r"has the placeholder\(s\) \{recepient\}; the only "
                       r"one carekit fills is \{recipient\}") as error:
        AppriseChannel("sms", "json://user:hunter2@127.0.0.1:9/{recepient}", templates=templates,
                       journeys=[order_journey()], address=PHONES)
    assert "hunter2" not in str(error.value)
    ok = AppriseChannel("ops", "json://user:hunter2@127.0.0.1:9/x", templates=templates,
                        journeys=[order_journey()])
    assert "hunter2" not in repr(ok) and ok.url == "json://…"
    for bad, match in [({"body_format": "rtf"}, "body_format"), ({"dedupe": "x"}, "dedupe"),
                       ({"templates": "t"}, "templates must be")]:
        options: dict[str, Any] = {"templates": templates, "journeys": [order_journey()], **bad}
        with pytest.raises(CareKitError, match=match):
            AppriseChannel("ops", "json://127.0.0.1:9/x", **options)


def test_journeys_that_are_not_definitions_are_clear_errors(templates: Templates) -> None:
    with pytest.raises(CareKitError, match=r"got the one definition 'order': put it in a list"):
        AppriseChannel("ops", "json://127.0.0.1:9/x", templates=templates,
                       journeys=order_journey())
    with pytest.raises(CareKitError, match=r"kit.journeys\['order'\], is not a definition"):
        AppriseChannel("ops", "json://127.0.0.1:9/x", templates=templates, journeys=["order"])


def test_missing_templates_are_found_when_the_channel_is_made(tmp_path: pathlib.Path) -> None:
    folder = order_templates(tmp_path / "t", "sms", ("txt",))
    (folder / "sms" / "satisfaction_check.txt").unlink()
    with pytest.raises(TemplateError, match=r"sms/satisfaction_check.txt, which does not exist"):
        AppriseChannel("sms", "json://127.0.0.1:9/x", templates=Templates(folder),
                       journeys=[order_journey()])
    with pytest.raises(TemplateError, match=r"sms/satisfaction_check.md"):
        AppriseChannel("sms", "json://127.0.0.1:9/x", templates=Templates(folder),
                       journeys=[order_journey()], body_format="markdown")
