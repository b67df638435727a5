"""``carekit journey dispatch`` and the durable part of the journeys demo."""

from __future__ import annotations

import argparse
import io
import pathlib

import pytest
from tests.journeys._store_helpers import T0, order_events

from carekit import StoreError
from carekit.cli import main
from carekit.journeys import SQLiteJourneyStore, _cli, _store_cli, order_journey

NOON = T0.replace(hour=12).isoformat()


def _store_with_orders(db: pathlib.Path, n: int, channel: str = "email") -> None:
    with SQLiteJourneyStore(db) as store:
        for i in range(n):
            store.create(order_journey(), f"order-{i}", at=T0, channel=channel)
            store.append(f"order-{i}", order_events()[:2])


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(["journey", "dispatch", *argv], out=out), out.getvalue()


def test_dispatch_once_reports_channels_nobody_delivers(tmp_path: pathlib.Path) -> None:
    # No plugin delivers email in a bare install: an error is reported, nothing crashes.
    db = tmp_path / "j.db"
    _store_with_orders(db, 2)
    status, text = _run("--db", str(db), "--now", NOON, "--max-attempts", "1")
    assert status == 1
    assert "sent 0, failed 0, dead 2, errors 2 in 1 batch(es)" in text
    assert "dead    order-0/order_thanks/2: gave up after 1 attempt(s)" in text
    assert "no plugin delivers touchpoints on channel 'email'" in text
    with SQLiteJourneyStore(db) as store:
        assert {e.status for e in store.outbox()} == {"dead"}


def test_dispatch_delivers_through_installed_plugins(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from carekit import plugins
    from carekit.testing import RecordingChannel

    email = RecordingChannel("email", register=False)
    original = plugins.CareKit.__init__

    def with_recorder(self: plugins.CareKit, load_entrypoints: bool = True,
                      plugins: object = ()) -> None:
        original(self, load_entrypoints=False, plugins=[email])

    monkeypatch.setattr(plugins.CareKit, "__init__", with_recorder)
    db = tmp_path / "j.db"
    _store_with_orders(db, 3)
    status, text = _run("--db", str(db), "--now", NOON, "--batch-size", "2")
    assert status == 0
    assert "sent 3, failed 0, dead 0, errors 0 in 2 batch(es)" in text
    assert "  sent    order-2/order_thanks/2 via email" in text
    assert len(email.deliveries) == 3
    status, text = _run("--db", str(db), "--now", NOON, "--loop", "0.01", "--rounds", "2")
    assert status == 0 and text.count("sent 0, failed 0") == 2


def test_loop_stops_after_max_batches(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "j.db"
    _store_with_orders(db, 5)
    parser = argparse.ArgumentParser()
    _store_cli.add_dispatch_arguments(parser)
    args = parser.parse_args(["--db", str(db), "--now", NOON, "--loop", "60",
                              "--max-batches", "3", "--batch-size", "1"])
    naps: list[float] = []
    out = io.StringIO()
    _store_cli.run_dispatch(args, out, sleep=naps.append)
    assert naps == []  # the first round used up the three batches
    assert "failed 3, dead 0, errors 3 in 3 batch(es)" in out.getvalue()
    args = parser.parse_args(["--db", str(db), "--now", NOON, "--loop", "60",
                              "--max-batches", "9", "--rounds", "3"])
    out = io.StringIO()
    _store_cli.run_dispatch(args, out, sleep=naps.append)
    assert naps == [60.0, 60.0]
    assert out.getvalue().count("batch(es)") == 3


def test_loop_ends_on_ctrl_c(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "j.db"
    _store_with_orders(db, 1)
    parser = argparse.ArgumentParser()
    _store_cli.add_dispatch_arguments(parser)
    args = parser.parse_args(["--db", str(db), "--now", NOON, "--loop", "5"])

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    out = io.StringIO()
    assert _store_cli.run_dispatch(args, out, sleep=interrupted) == 1
    assert out.getvalue().count("batch(es)") == 1


def test_a_missing_store_is_an_error_not_a_new_file(tmp_path: pathlib.Path) -> None:
    status, _ = _run("--db", str(tmp_path / "nope.db"))
    assert status == 2
    assert not (tmp_path / "nope.db").exists()
    parser = argparse.ArgumentParser()
    _store_cli.add_dispatch_arguments(parser)
    with pytest.raises(StoreError, match="does not exist"):
        _store_cli.run_dispatch(parser.parse_args(["--db", str(tmp_path / "nope.db")]),
                                io.StringIO())


@pytest.mark.parametrize(
    "argv",
    [["--loop", "0"], ["--loop", "x"], ["--max-batches", "0"], ["--now", "2026-03-02T09:00"],
     ["--now", "soon"], ["--batch-size", "-3"]],
)
def test_bad_options_are_usage_errors(tmp_path: pathlib.Path, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["journey", "dispatch", "--db", str(tmp_path / "j.db"), *argv], out=io.StringIO())
    assert info.value.code == 2


def test_a_url_for_db_is_refused_without_printing_its_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["journey", "dispatch", "--db", "postgresql://shop:s3cret@db/orders"],
             out=io.StringIO())
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "not a URL" in err
    assert "carekit worker --store URL" in err
    assert "s3cret" not in err


def test_rounds_needs_loop(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "j.db"
    _store_with_orders(db, 1)
    status, _ = _run("--db", str(db), "--rounds", "2")
    assert status == 2


def test_the_demo_keeps_the_order_in_sqlite_and_sends_each_touchpoint_once(
    tmp_path: pathlib.Path,
) -> None:
    out = io.StringIO()
    _cli.demo(out, tmp_path)
    text = out.getvalue()
    assert (tmp_path / "journeys.db").is_file()
    assert "sent shipped_with_tracking via email" in text
    assert "ignored by the store: still version 9" in text
    assert "5 touchpoints sent once each" in text
    assert "5 deliveries, 5 distinct idempotency keys" in text
    # Running the demo twice starts afresh.
    out = io.StringIO()
    _cli.demo(out, tmp_path)
    assert "5 deliveries, 5 distinct idempotency keys" in out.getvalue()


@pytest.mark.parametrize(
    ("now", "message"),
    [
        (
            "9999-12-31T23:59:59+00:00",
            "carekit journey: error: now + max_backoff is past the last datetime Python can "
            "represent (year 9999; now=9999-12-31T23:59:59+00:00, max_backoff=6:00:00); "
            "pass an earlier now or a shorter max_backoff",
        ),
        (
            "9999-12-31T20:00:00-14:00",
            "carekit journey: error: now + max_backoff is past the last datetime Python can "
            "represent (year 9999; now=9999-12-31T20:00:00-14:00, max_backoff=6:00:00); "
            "pass an earlier now or a shorter max_backoff",
        ),
    ],
)
def test_a_now_at_the_end_of_time_is_an_error_not_a_traceback(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], now: str, message: str
) -> None:
    # Regression: OverflowError traceback.
    db = tmp_path / "j.db"
    _store_with_orders(db, 1)
    status, text = _run("--db", str(db), "--now", now)
    assert (status, text) == (2, "")
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    with SQLiteJourneyStore(db) as store:
        assert [e.attempts for e in store.outbox()] == [0]


@pytest.mark.parametrize("size", ["100000000000000000000000", "1000001"])
def test_a_huge_batch_size_is_a_usage_error(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], size: str
) -> None:
    # Regression: OverflowError (Python int too large to convert to SQLite INTEGER).
    db = tmp_path / "j.db"
    _store_with_orders(db, 1)
    with pytest.raises(SystemExit) as info:
        _run("--db", str(db), "--now", NOON, "--batch-size", size)
    assert info.value.code == 2
    assert (
        f"argument --batch-size: expected a whole number from 1 to 1000000 (got '{size}')"
        in capsys.readouterr().err
    )
    status, text = _run("--db", str(db), "--now", NOON, "--batch-size", "1000000")
    assert status == 1 and "in 1 batch(es)" in text


def test_store_typed_for_db_says_what_to_use_without_echoing_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `journey load` and `worker` take --store: typed here it said "required: --db".
    with pytest.raises(SystemExit) as exit_info:
        main(["journey", "dispatch", "--store", "postgresql://shop:s3cret@db/shop"],
             out=io.StringIO())
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert ("argument --store: journey dispatch reads a SQLite file given as --db PATH; for "
            "a store URL (PostgreSQL included) run: carekit worker --store URL --once") in err
    assert "s3cret" not in err
    with pytest.raises(SystemExit):  # the option stays out of the help
        main(["journey", "dispatch", "--help"], out=io.StringIO())
    shown = capsys.readouterr().out
    assert "--db" in shown and "--store" not in shown
