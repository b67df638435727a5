"""The messaging configuration: a TOML file and CAREKIT_* variables, read once, checked,
secrets never shown; end to end through a real SMTP server and HTTP endpoint."""

from __future__ import annotations

import io
import pathlib

import pytest
from tests._extras import need
from tests.messaging._helpers import T0, order_templates, shipped_order
from tests.messaging._http_server import http_server
from tests.messaging._smtp_server import smtp_server

from carekit import CareKitError
from carekit.cli import main
from carekit.journeys import MemoryJourneyStore, SQLiteJourneyStore, Worker, order_journey
from carekit.messaging import (
    AppriseChannel,
    ConfigError,
    EmailChannel,
    MessagingConfig,
    TemplateError,
    configure,
    load_config,
)
from carekit.testing import make_carekit

need("apprise", "apprise")
need("jinja2", "apprise")


def config_file(folder: pathlib.Path, text: str) -> pathlib.Path:
    order_templates(folder / "templates", "email", ("subject", "txt"))
    order_templates(folder / "templates", "texts", ("txt",))
    path = folder / "carekit.toml"
    path.write_text(text, encoding="utf-8")
    return path


FULL = """
[templates]
directory = "templates"
default_locale = "en_GB"
default_tz = "Europe/London"
journeys = ["order"]

[customers]
lookup = "tests.messaging._helpers:contact"

[email]
url = "smtp://127.0.0.1:{smtp}?security=none"
sender = "Oak & Ash <care@oakandash.example>"
reply_to = "help@oakandash.example"

[apprise.texts]
url = "json://127.0.0.1:{http}/sms/{{recipient}}"
lookup = "tests.messaging._helpers:phone"
quiet_hours = ["21:00", "08:00"]
tz = "Europe/London"
"""


def test_a_file_configures_email_and_apprise_end_to_end(tmp_path: pathlib.Path) -> None:
    with smtp_server() as (inbox, smtp), http_server() as (received, http):
        path = config_file(tmp_path, FULL.format(smtp=smtp, http=http))
        config = load_config(path, environ={})
        assert config.templates == tmp_path / "templates"
        assert (config.default_locale, config.default_tz, config.journeys) == (
            "en_GB", "Europe/London", ("order",))
        kit = make_carekit()
        made = configure(kit, config)
        assert [type(p) for p in made] == [EmailChannel, AppriseChannel]
        assert kit.channels["texts"].tz == "Europe/London"  # a channel of its own
        store = MemoryJourneyStore()
        shipped_order(store, "order-1", channel="email")
        shipped_order(store, "order-2", channel="texts")
        report = Worker(kit, store).run_once(T0)  # 09:00 in London: not quiet
        inbox.wait_for(3)
    assert report.sent == 6
    assert {m["To"] for m in inbox.messages} == {"Ana Silva <ana@example.com>"}
    assert inbox.messages[0]["Reply-To"] == "help@oakandash.example"
    assert {path for path, _ in received.posts} == {"/sms/+447700900123"}
    assert "json://…" in repr(config) and "/sms/" not in repr(config)


def test_the_environment_wins_over_the_file(tmp_path: pathlib.Path) -> None:
    path = config_file(tmp_path, FULL.format(smtp=1, http=2))
    other = tmp_path / "elsewhere"
    config = load_config(environ={
        "CAREKIT_CONFIG": str(path),
        "CAREKIT_SMTP_URL": "smtps://u:pw@mail.example.com",
        "CAREKIT_SMTP_SENDER": "news@oakandash.example",
        "CAREKIT_APPRISE_SMS_URL": "json://10.0.0.1/x/{recipient}",
        "CAREKIT_APPRISE_OPS_URL": "slack://T1/B2/C3",
        "CAREKIT_TEMPLATES": str(other),
    })
    assert config.email is not None
    assert (config.email.smtp.host, config.email.smtp.security) == ("mail.example.com", "ssl")
    assert config.email.sender == "news@oakandash.example"
    assert [a.channel for a in config.apprise] == ["ops", "sms", "texts"]
    assert config.apprise[1].url == "json://10.0.0.1/x/{recipient}"
    assert config.templates == other
    assert "pw" not in repr(config.email) and "T1" not in repr(config)


def test_nothing_configured_registers_nothing() -> None:
    kit = make_carekit()
    assert configure(kit, load_config(environ={})) == []
    assert load_config(environ={}) == MessagingConfig(source="environment")


def test_the_worker_command_reads_the_file(tmp_path: pathlib.Path) -> None:
    db = tmp_path / "journeys.db"
    store = SQLiteJourneyStore(db)
    shipped_order(store)
    store.close()
    with smtp_server() as (inbox, smtp):
        text = FULL.format(smtp=smtp, http=9).split("[apprise.texts]")[0]
        path = config_file(tmp_path, text)
        out = io.StringIO()
        code = main(["worker", "--store", str(db), "--once", "--now", "2026-03-02T09:05+00:00",
                     "--config", str(path)], out=out)
        inbox.wait_for(3)
    assert code == 0, out.getvalue()
    assert "sent 3" in out.getvalue()


def _load(tmp_path: pathlib.Path, text: str, **env: str) -> MessagingConfig:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, environ=env)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[emial]\nurl = 'x'", r"unknown table\(s\) \['emial'\]"),
        ("[email]\nurl = 'smtp://h'\nsender = 'a@b.c'\nport = 25",
         r"\[email\] has unknown setting\(s\) \['port'\]"),
        ("[email]\nsender = 'a@b.c'", r"\[email\] needs url \(or CAREKIT_SMTP_URL\)"),
        ("[email]\nurl = 'smtp://h'", r"\[email\] needs sender"),
        ("[email]\nurl = 'smtp://h'\nsender = 'a@b.c'\ndedupe = 'twice'",
         r"dedupe must be one of \['after', 'before'\] \(got 'twice'\)"),
        ("[email]\nurl = 5\nsender = 'a@b.c'", r"url must be a non-empty string \(got a secret"),
        ("[templates]\njourneys = 'order'", r"journeys must be a list of names"),
        ("[templates]\ndirectory = 3", r"directory must be a non-empty string \(got 3\)"),
        ("[apprise.sms]\nformat = 'text'", r"\[apprise.sms\] needs url"),
        ("[apprise.sms]\nurl = 'json://h/x'\nformat = 'rtf'", r"format must be one of"),
        ("[apprise.sms]\nurl = 'json://h/x'\nquiet_hours = ['late']",
         r"quiet_hours must be two local times"),
        ("[apprise]\nsms = 3", r"\[apprise.sms\] must be a table"),
        ("[email]\nurl = 'smtp://h'\nsender = 'a@b.c'\n[apprise.email]\nurl = 'json://h/x'",
         r"channel\(s\) \['email'\] are configured twice"),
        ("[email\n", r"is not valid TOML"),
        ("[apprise.sms]\nurl = 'json://h/x'\ntz = 'Europe/Paris'",
         r"built-in channel 'sms' keeps its own settings.*'sms_gateway'"),
    ],
)
def test_bad_files_are_clear_errors(tmp_path: pathlib.Path, text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _load(tmp_path, text)


def test_secrets_stay_out_of_errors(tmp_path: pathlib.Path) -> None:
    with pytest.raises(CareKitError) as bad_url:
        _load(tmp_path, "[email]\nurl = 'smtp://u:hunter2@h:99999'\nsender = 'a@b.c'")
    assert "hunter2" not in str(bad_url.value) and "***" in str(bad_url.value)
    config = _load(tmp_path, "[templates]\ndirectory = '.'\n[apprise.ops]\nurl = 'nosuch://hunter2/x'")
    with pytest.raises(CareKitError) as bad_apprise:
        config.plugins(make_carekit())
    assert "hunter2" not in str(bad_apprise.value)


def test_a_missing_file_is_a_clear_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the configuration file"):
        load_config(tmp_path / "nope.toml", environ={})


def test_channels_need_templates_journeys_and_lookups(tmp_path: pathlib.Path) -> None:
    kit = make_carekit()
    email = "[email]\nurl = 'smtp://h'\nsender = 'a@b.c'\n"
    with pytest.raises(ConfigError, match=r"no templates: set \[templates\] directory"):
        _load(tmp_path, email).plugins(kit)
    table = "[templates]\ndirectory = 'templates'\njourneys = ['order']\n"
    path = config_file(tmp_path, email + table)
    with pytest.raises(ConfigError, match=r"\[email\] needs a customer lookup"):
        load_config(path, environ={}).plugins(kit)
    made = load_config(path, environ={}).plugins(kit, lookup={"c-1": "ana@example.com"})
    assert isinstance(made[0], EmailChannel)
    path.write_text(path.read_text().replace("['order']", "['order', 'returns']"))
    with pytest.raises(ConfigError, match=r"journeys names \['returns'\]"):
        load_config(path, environ={}).plugins(kit, lookup={})
    (tmp_path / "templates" / "email" / "order_thanks.txt").unlink()
    path.write_text(email + table)
    with pytest.raises(TemplateError, match=r"email/order_thanks.txt"):
        configure(kit, load_config(path, environ={}), lookup={})
    assert "messaging-email" not in kit.plugin_names()  # nothing registered


def test_the_worker_names_every_template_problem_on_one_readable_line(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The lines of a TemplateError were joined as "problem(s):; - touchpoint ...; - ...".
    db = tmp_path / "journeys.db"
    SQLiteJourneyStore(str(db)).close()
    path = config_file(tmp_path, "[templates]\ndirectory = 'templates'\njourneys = ['order']\n"
                       "[apprise.team]\nurl = 'json://127.0.0.1:9/x'\n")
    code = main(["worker", "--store", str(db), "--once", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "have 5 problem(s): touchpoint 'order_thanks' on channel 'team' needs" in err
    assert ":;" not in err and "; - " not in err
    assert "; touchpoint 'production_update' on channel 'team'" in err


@pytest.mark.parametrize(("text", "match"), [
    ("[templates]\ndirectory = 'tmplates'\n[email]\nurl = 'smtp://h'\nsender = 'a@b.c'\n",
     r"carekit.toml \[templates\]: directory must be a folder of message templates"),
    ("[templates]\ndirectory = 'templates'\n[email]\nurl = 'smtp://h'\nsender = 'nobody'\n",
     r"carekit.toml \[email\]: sender must be an email address"),
    ("[templates]\ndirectory = 'templates'\n[apprise.texts]\nurl = 'json://h/x'\n"
     "tz = 'Europe/Lundon'\n", r"carekit.toml \[apprise.texts\]: tz must be an IANA time zone"),
    ("[templates]\ndirectory = 'templates'\n[apprise.Texts-2]\nurl = 'json://h/x'\n",
     r"carekit.toml \[apprise.Texts-2\]: Channel name must be a lowercase identifier"),
])
def test_a_bad_value_names_the_file_and_the_table(tmp_path: pathlib.Path, text: str,
                                                  match: str) -> None:
    # These were CareKitErrors naming only the argument ("tz must be ..."), not where it was.
    path = config_file(tmp_path, text)
    with pytest.raises(ConfigError, match=match):
        load_config(path, environ={}).plugins(make_carekit(), lookup={})


def test_configure_checks_its_arguments() -> None:
    with pytest.raises(CareKitError, match=r"kit must be a carekit.CareKit"):
        configure("kit")
    with pytest.raises(CareKitError, match=r"config must be a MessagingConfig"):
        configure(make_carekit(), config={"email": {}})  # type: ignore[arg-type]


def test_a_lookup_path_that_does_not_import_is_a_clear_error(tmp_path: pathlib.Path) -> None:
    path = config_file(tmp_path, "[templates]\ndirectory = 'templates'\n"
                       "[customers]\nlookup = 'no_such_module:f'\n"
                       "[email]\nurl = 'smtp://h'\nsender = 'a@b.c'\n")
    with pytest.raises(ConfigError, match=r"carekit.toml \[customers\] lookup 'no_such_module:f': "
                       r"cannot import 'no_such_module' .*; install the package that holds "
                       r"'no_such_module', or set PYTHONPATH to the folder that holds it"):
        load_config(path, environ={}).plugins(make_carekit())
    path.write_text(path.read_text() + "lookup = 'tests.messaging._helpers:nothing_here'\n")
    with pytest.raises(ConfigError, match=r"carekit.toml \[email\] lookup 'tests.messaging"):
        load_config(path, environ={}).plugins(make_carekit())
    assert order_journey().name == "order"

