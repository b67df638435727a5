"""Message templates: Jinja2's sandbox, start-up checks, locales and zones."""

from __future__ import annotations

import datetime as dt
import pathlib
import re
import sys
from typing import Any

import pytest
from tests._extras import requires
from tests.messaging._helpers import order_templates, write

from carekit import CareKitError
from carekit.journeys import order_journey
from carekit.messaging import Recipient, TemplateError, Templates, guaranteed_keys
from carekit.testing import owed_touchpoint

#: Most of these tests render templates: they need Jinja2 and Babel.
TEMPLATES = requires("jinja2", "babel", extra="templates")

SHIPPED = {"tracking_number": "1Z999", "promised": "2026-03-20"}


def folder_with(tmp_path: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    for name, text in files.items():
        write(tmp_path, name, text)
    return tmp_path


def render(folder: pathlib.Path, text: str, data: Any = None, **options: Any) -> str:
    write(folder, "sms/t.txt", text)
    templates = Templates(folder, default_locale=options.pop("default_locale", "en_GB"))
    tp = owed_touchpoint("t", data=data if data is not None else SHIPPED,
                         tz=options.pop("tz", None))
    return templates.render(tp, channel="sms", parts=["txt"], **options)["txt"]


# -- the sandbox ----------------------------------------------------------------------------


@TEMPLATES
def test_customer_data_is_printed_never_run(tmp_path: pathlib.Path) -> None:
    evil = "{{ ''.__class__.__mro__ }}{% for x in range(10**9) %}{% endfor %}"
    assert render(tmp_path, "Hi {{ data.name }}", {"name": evil}) == f"Hi {evil}"


@TEMPLATES
@pytest.mark.parametrize(
    "text",
    [
        "{{ data.name.__class__.__mro__ }}",
        "{{ touchpoint.to_dict.__globals__ }}",
        "{{ (data.name | attr('__class__')).__subclasses__() }}",
        "{{ data.update({'x': 1}) }}",
        "{{ touchpoint.__init__.__globals__['os'] }}",
    ],
)
def test_reaching_for_python_internals_fails_safely(tmp_path: pathlib.Path, text: str) -> None:
    with pytest.raises(TemplateError, match=r"sms/t.txt (unsafe|failed)"):
        render(tmp_path, text, {"name": "Ana"})


@TEMPLATES
def test_html_templates_escape_what_they_print(tmp_path: pathlib.Path) -> None:
    folder = folder_with(tmp_path, {"email/t.html": "<p>{{ data.name }}</p>",
                                    "email/t.txt": "{{ data.name }}"})
    tp = owed_touchpoint("t", data={"name": "<script>alert(1)</script>"})
    out = Templates(folder).render(tp, channel="email", parts=["txt", "html"])
    assert out["html"] == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert out["txt"] == "<script>alert(1)</script>"


# -- checks at start-up -----------------------------------------------------------------------


def problems(folder: pathlib.Path, **options: Any) -> list[str]:
    with pytest.raises(TemplateError) as error:
        Templates(folder).check([order_journey()], channel="sms", parts=["txt"], **options)
    return list(error.value.problems)


@TEMPLATES
def test_every_problem_is_found_before_anything_is_sent(tmp_path: pathlib.Path) -> None:
    folder = order_templates(tmp_path, "sms", ("txt",))
    write(folder, "sms/order_thanks.txt", "Thanks {{ customer.name }}")  # no such variable
    write(folder, "sms/production_update.txt", "{{ data.promised | dat }}")  # no such filter
    write(folder, "sms/satisfaction_check.txt", "{% if %}")  # syntax
    write(folder, "sms/fr/shipped_with_tracking.txt", "{{ data.carrier }} {{ touchpoint.nme }}")
    write(folder, "sms/promise_at_risk_notice.txt", "{{ data.__class__ }}{% include 'x.txt' %}")
    found = problems(folder)
    text = "\n".join(found)
    assert "sms/order_thanks.txt uses 'customer', which templates do not get" in text
    assert "sms/production_update.txt, line 1: No filter named 'dat'" in text
    assert "sms/satisfaction_check.txt, line 1:" in text
    assert "reads data.carrier, which the journey does not guarantee" in text
    assert "it guarantees ['tracking_number']" in text
    assert "reads touchpoint.nme; a touchpoint has" in text
    assert "reaches '__class__': templates may not read private attributes" in text
    assert "includes 'x.txt', which does not exist" in text
    assert len(found) == 7, found


@TEMPLATES
def test_guarded_reads_of_optional_data_pass(tmp_path: pathlib.Path) -> None:
    folder = order_templates(tmp_path, "sms", ("txt",))
    write(folder, "sms/order_thanks.txt",
          "{{ data.promised | default('soon') }} {% if data.gift is defined %}gift{% endif %} "
          "{{ data.get('note', '') }} {{ recipient.name }} {{ touchpoint.due }}")
    write(folder, "sms/_footer.txt", "Oak & Ash")
    write(folder, "sms/shipped_with_tracking.txt",
          "{{ data.tracking_number }}\n{% include 'sms/_footer.txt' %}")
    assert Templates(folder).check([order_journey()], channel="sms", parts=["txt"]) == 5
    tp = owed_touchpoint("shipped_with_tracking", data=SHIPPED)
    assert Templates(folder).render(tp, channel="sms", parts=["txt"])["txt"] == (
        "1Z999\nOak & Ash")


@TEMPLATES
def test_missing_templates_with_a_hint(tmp_path: pathlib.Path) -> None:
    folder = order_templates(tmp_path, "sms", ("txt",))
    (folder / "sms" / "order_thanks.txt").rename(folder / "sms" / "order_thank.txt")
    assert problems(folder) == [
        "touchpoint 'order_thanks' on channel 'sms' needs the template sms/order_thanks.txt, "
        "which does not exist (did you mean sms/order_thank.txt?)"
    ]
    assert any("manager_call" in p for p in problems(folder, extra=["manager_call"]))


@TEMPLATES
def test_only_the_touchpoints_of_the_channel_or_none_are_needed(tmp_path: pathlib.Path) -> None:
    import attrs

    from carekit.journeys import Touchpoint

    order = order_journey()
    calls = attrs.evolve(order, touchpoints=[*order.touchpoints, Touchpoint(
        "courtesy_call", on_enter="delivered", within=dt.timedelta(days=1), channel="phone")])
    folder = order_templates(tmp_path, "sms", ("txt",))
    assert Templates(folder).check([calls], channel="sms", parts=["txt"]) == 5


def test_guaranteed_keys_follow_the_transitions() -> None:
    order = order_journey()
    by_name = {t.name: t for t in order.touchpoints}
    assert guaranteed_keys(order, by_name["shipped_with_tracking"]) == {"tracking_number"}
    assert guaranteed_keys(order, by_name["order_thanks"]) == frozenset()
    assert guaranteed_keys(order, by_name["promise_at_risk_notice"]) == frozenset()


# -- locales and zones --------------------------------------------------------------------------


@TEMPLATES
def test_the_customers_locale_then_its_language_then_the_default(tmp_path: pathlib.Path) -> None:
    folder = folder_with(tmp_path, {"sms/t.txt": "en {{ locale }}",
                                    "sms/fr/t.txt": "fr {{ locale }}",
                                    "sms/fr_CA/t.txt": "fr-CA"})
    templates = Templates(folder, default_locale="en_GB")
    tp = owed_touchpoint("t")
    assert templates.render(tp, channel="sms", parts=["txt"], locale="fr-CA")["txt"] == "fr-CA"
    assert templates.render(tp, channel="sms", parts=["txt"],
                            recipient=Recipient("x", locale="fr_BE"))["txt"] == "fr fr_BE"
    fr = owed_touchpoint("t", data={"locale": "fr"})
    assert templates.render(fr, channel="sms", parts=["txt"])["txt"] == "fr fr"
    assert templates.render(tp, channel="sms", parts=["txt"], locale="xx_YY")["txt"] == "en en_GB"
    assert templates.render(tp, channel="sms", parts=["txt"])["txt"] == "en en_GB"


@TEMPLATES
@pytest.mark.parametrize(("locale", "expected"), [
    ("fr-ca", "fr-CA"), ("FR_CA", "fr-CA"), ("fr-CA", "fr-CA"),  # fr-ca got fr's words
    ("FR", "fr fr"), ("Fr-be", "fr fr_BE"),                      # FR got the default words
    ("zh-hant-tw", "en zh_Hant_TW"),
])
def test_a_locale_in_any_case_finds_its_folder(tmp_path: pathlib.Path, locale: str,
                                               expected: str) -> None:
    folder = folder_with(tmp_path, {"sms/t.txt": "en {{ locale }}",
                                    "sms/fr/t.txt": "fr {{ locale }}",
                                    "sms/fr_CA/t.txt": "fr-CA"})
    templates = Templates(folder, default_locale="en_GB")
    assert templates.render(owed_touchpoint("t"), channel="sms", parts=["txt"],
                            recipient=Recipient("x", locale=locale))["txt"] == expected


# Reference: the CLDR long date formats (en-GB "d MMMM y", fr "d MMMM y", de "d. MMMM y").
@TEMPLATES
@pytest.mark.parametrize(("locale", "expected"), [
    ("en_GB", "20 March 2026"), ("en_US", "March 20, 2026"), ("fr", "20 mars 2026"),
    ("de", "20. März 2026"),
])
def test_dates_for_the_customers_locale(tmp_path: pathlib.Path, locale: str,
                                        expected: str) -> None:
    assert render(tmp_path, "{{ data.promised | date('long') }}", locale=locale) == expected


@TEMPLATES
def test_moments_in_the_customers_zone(tmp_path: pathlib.Path) -> None:
    late = {"at": "2026-03-01T23:30:00+00:00"}
    text = "{{ data.at | date('yyyy-MM-dd') }} {{ data.at | time('HH:mm') }}"
    assert render(tmp_path, text, late, tz="Europe/Paris") == "2026-03-02 00:30"
    assert render(tmp_path, text, late) == "2026-03-01 23:30"  # no zone: UTC
    assert render(tmp_path, "{{ data.at | datetime('yyyy-MM-dd HH:mm') }}", late,
                  tz="America/New_York") == "2026-03-01 18:30"


@TEMPLATES
@pytest.mark.parametrize(("value", "match"), [
    ("soon", r"expected a date, a datetime or an ISO 8601 string"),
    ("2026-03-01T10:00:00", r"expected a timezone-aware datetime"),
])
def test_values_a_filter_cannot_format_fail_at_render(tmp_path: pathlib.Path, value: str,
                                                      match: str) -> None:
    with pytest.raises(TemplateError, match=match):
        render(tmp_path, "{{ data.at | datetime }}", {"at": value})


@TEMPLATES
@pytest.mark.parametrize("text", [
    "{{ data.promised | date('HH:mm') }}",       # a date has no hours
    "{{ data.promised | date(5) }}",
])
def test_a_pattern_a_filter_cannot_fill_fails_at_render(tmp_path: pathlib.Path,
                                                       text: str) -> None:
    with pytest.raises(TemplateError, match=r"sms/t.txt failed .* the date filter cannot format"):
        render(tmp_path, text)


@TEMPLATES
@pytest.mark.parametrize(("text", "name", "babel"), [
    # Babel could not fill it: it raised; the message used to offer only 'yyyy-MM-dd HH:mm'
    ("{{ data.promised | date('%d/%m/%Y') }}", "date", "dd/MM/yyyy"),
    # Babel fills this one, silently: '%2026-%0-%2 %10:%3'.
    ("{{ data.at | datetime('%Y-%m-%d %H:%M') }}", "datetime", "yyyy-MM-dd HH:mm"),
    ("{{ data.at | datetime('%A %d %B at %I:%M %p') }}", "datetime",
     "EEEE dd MMMM 'at' hh:mm a"),
    # no plain Babel field for %U: the general example
    ("{{ data.at | date('week %U') }}", "date", "yyyy-MM-dd HH:mm"),
])
def test_a_strftime_pattern_is_refused_with_its_babel_form(tmp_path: pathlib.Path, text: str,
                                                           name: str, babel: str) -> None:
    with pytest.raises(TemplateError, match=rf"the {name} filter takes a Babel pattern, not a "
                       rf"strftime one .* write {re.escape(repr(babel))}[, ]"):
        render(tmp_path, text, {"promised": "2026-03-20", "at": "2026-03-20T10:30:00+00:00"})
    if "%U" not in text:  # the form offered prints what was meant
        fixed = text.replace(text[text.index("('") + 1:text.index("')") + 1], f'"{babel}"')
        assert render(tmp_path, fixed, {"promised": "2026-03-20",
                                        "at": "2026-03-20T10:30:00+00:00"}) in (
            "20/03/2026", "2026-03-20 10:30", "Friday 20 March at 10:30 am",
        )


@TEMPLATES
def test_a_missing_part_at_render(tmp_path: pathlib.Path) -> None:
    folder = folder_with(tmp_path, {"sms/t.txt": "x"})
    with pytest.raises(TemplateError, match=r"has no template sms/t.title"):
        Templates(folder).render(owed_touchpoint("t"), channel="sms", parts=["txt", "title"])
    assert Templates(folder).render(owed_touchpoint("t"), channel="sms", parts=["txt"],
                                    optional=["title"]) == {"txt": "x"}


# -- arguments and missing packages -----------------------------------------------------------


@TEMPLATES
def test_bad_arguments(tmp_path: pathlib.Path) -> None:
    with pytest.raises(CareKitError, match=r"is not one"):
        Templates(tmp_path / "nope")
    with pytest.raises(CareKitError, match=r"default_locale must be a locale Babel knows"):
        Templates(tmp_path, default_locale="klingon_XX")
    with pytest.raises(CareKitError):
        Templates(tmp_path, default_tz="Mars/Olympus")
    with pytest.raises(CareKitError, match=r"directory must be a folder path"):
        Templates(5)  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match=r"Recipient address must be a non-empty string"):
        Recipient("")


@TEMPLATES
def test_check_refuses_what_is_not_definitions_or_names(tmp_path: pathlib.Path) -> None:
    templates = Templates(order_templates(tmp_path, "sms", ("txt",)))
    with pytest.raises(CareKitError, match=r"definitions must be a list of journey definitions"):
        templates.check(order_journey(), channel="sms", parts=["txt"])
    with pytest.raises(CareKitError, match=r"is not a definition"):
        templates.check(["order"], channel="sms", parts=["txt"])
    with pytest.raises(CareKitError, match=r"extra must be a list of touchpoint names"):
        templates.check([order_journey()], channel="sms", parts=["txt"], extra="manager_call")
    assert templates.check([order_journey()], channel="sms", parts=["txt"]) == 5


def test_without_jinja2_the_error_names_the_extra(tmp_path: pathlib.Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jinja2", None)
    with pytest.raises(CareKitError, match=r"pip install 'carekit\[templates\]'"):
        Templates(tmp_path)
    monkeypatch.setitem(sys.modules, "apprise", None)
    from carekit.messaging import AppriseChannel

    with pytest.raises(CareKitError, match=r"pip install 'carekit\[apprise\]'"):
        AppriseChannel("sms", "json://h/x", templates=None, journeys=[])  # type: ignore[arg-type]
