"""The CareKit plugin host: registration, collection, errors, hook calls."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import types
from typing import Any

import attrs
import pluggy
import pytest

import carekit
from carekit import CareKit, CareKitError, PluginError, hookimpl
from carekit.channels import BUILTIN_CHANNELS, Channel
from carekit.journeys import Event, order_journey
from carekit.testing import make_carekit


class WhatsApp:
    @hookimpl
    def carekit_register_channels(self) -> list[Channel]:
        return [Channel(name="whatsapp", description="WhatsApp Business")]


class AnotherWhatsApp:
    @hookimpl
    def carekit_register_channels(self) -> list[Channel]:
        return [Channel(name="whatsapp")]


class Broken:
    @hookimpl
    def carekit_register_channels(self) -> list[Channel]:
        raise RuntimeError("gateway credentials missing")


def test_builtin_channels_are_registered_as_a_plugin() -> None:
    kit = make_carekit()
    assert set(kit.channels) == {"email", "phone", "sms", "chat", "web", "in_store"}
    assert "carekit.channels" in kit.plugin_names()
    assert kit.channels["chat"].concurrency == 3
    assert kit.channels["phone"].live is True
    assert kit.channels["email"].live is False


def test_channels_mapping_is_read_only() -> None:
    kit = make_carekit()
    with pytest.raises(TypeError):
        kit.channels["fax"] = Channel(name="fax")  # type: ignore[index]


def test_register_adds_a_channel_and_returns_the_name() -> None:
    kit = make_carekit()
    name = kit.register(WhatsApp(), name="whatsapp-plugin")
    assert name == "whatsapp-plugin"
    assert kit.channels["whatsapp"].description == "WhatsApp Business"
    assert kit.channel("whatsapp").name == "whatsapp"


def test_two_carekit_objects_do_not_share_plugins() -> None:
    first = make_carekit(WhatsApp())
    second = make_carekit()
    assert "whatsapp" in first.channels
    assert "whatsapp" not in second.channels
    assert first.plugin_manager is not second.plugin_manager


def test_duplicate_channel_names_name_both_plugins() -> None:
    kit = make_carekit()
    kit.register(WhatsApp(), name="meta")
    kit.register(AnotherWhatsApp(), name="twilio")
    with pytest.raises(PluginError) as info:
        kit.channels  # noqa: B018
    message = str(info.value)
    assert "'whatsapp'" in message
    assert "'meta'" in message
    assert "'twilio'" in message
    assert set(info.value.plugins) == {"meta", "twilio"}
    assert info.value.name == "whatsapp"


def test_duplicate_of_a_builtin_channel_is_rejected() -> None:
    class Email:
        @hookimpl
        def carekit_register_channels(self) -> list[Channel]:
            return [Channel(name="email")]

    kit = make_carekit(Email())
    with pytest.raises(
        PluginError, match="duplicate channel name 'email'.*carekit.channels"
    ) as info:
        kit.channels  # noqa: B018
    # Not "register only one of them": the built-in one is not the user's to drop.
    assert str(info.value).endswith(
        "'email' is built into carekit: deliver on it without registering it "
        "(carekit_deliver_touchpoint alone), or register a channel of another name"
    )


def test_a_plugin_raising_during_registration_is_named() -> None:
    kit = make_carekit()
    kit.register(Broken(), name="broken-gateway")
    with pytest.raises(PluginError, match="'broken-gateway'.*gateway credentials missing"):
        kit.channels  # noqa: B018


def test_a_plugin_returning_the_wrong_type_is_named() -> None:
    class Wrong:
        @hookimpl
        def carekit_register_channels(self) -> Any:
            return ["sms"]

    kit = make_carekit()
    kit.register(Wrong(), name="wrong")
    with pytest.raises(PluginError, match="'wrong'.*expected Channel objects"):
        kit.channels  # noqa: B018


def test_a_plugin_returning_a_non_list_is_named() -> None:
    class NotAList:
        @hookimpl
        def carekit_register_channels(self) -> Any:
            return Channel(name="fax")

    kit = make_carekit()
    kit.register(NotAList(), name="notalist")
    with pytest.raises(PluginError, match="'notalist'.*expected a list of Channel"):
        kit.channels  # noqa: B018


def test_misspelled_hook_fails_loudly() -> None:
    class Typo:
        @hookimpl
        def carekit_register_chanels(self) -> list[Channel]:  # misspelled on purpose
            return []

    with pytest.raises(PluginError, match="carekit_register_chanels"):
        make_carekit(Typo())


def test_misspelled_hook_registered_later_fails_loudly() -> None:
    kit = make_carekit()

    class Typo:
        @hookimpl
        def carekit_deliver_touchpiont(self) -> None:  # misspelled on purpose
            return None

    with pytest.raises(PluginError, match="carekit_deliver_touchpiont"):
        kit.register(Typo())
    # The refused plugin is not left behind to fail every later registration.
    assert "Typo" not in kit.plugin_names()
    kit.register(WhatsApp(), name="wa")
    assert "whatsapp" in kit.channels


def test_unknown_argument_in_a_hook_implementation_is_rejected() -> None:
    class BadArgs:
        @hookimpl
        def carekit_deliver_touchpoint(self, touchpoint: Any, recipient: Any) -> None:
            return None

    with pytest.raises(PluginError, match="recipient"):
        make_carekit(BadArgs())


def test_registering_the_same_plugin_twice_is_an_error() -> None:
    plugin = WhatsApp()
    kit = make_carekit(plugin)
    with pytest.raises(PluginError, match="plugin 'WhatsApp' is already registered"):
        kit.register(plugin)
    with pytest.raises(PluginError, match="plugin 'WhatsApp' is already registered"):
        kit.register(plugin, name="whatsapp-again")
    # Another plugin may not take a name in use either.
    with pytest.raises(PluginError, match="cannot register plugin 'WhatsApp'"):
        kit.register(WhatsApp(), name="WhatsApp")


def test_one_plugin_naming_a_channel_twice_says_so() -> None:
    class Twice:
        @hookimpl
        def carekit_register_channels(self) -> list[Channel]:
            return [Channel(name="kiosk"), Channel(name="kiosk")]

    kit = make_carekit(Twice())
    with pytest.raises(PluginError, match="plugin 'Twice' provides channel name 'kiosk' twice"):
        kit.channels  # noqa: B018


def test_unregister_removes_the_channels() -> None:
    kit = make_carekit()
    kit.register(WhatsApp(), name="wa")
    assert "whatsapp" in kit.channels
    kit.unregister("wa")
    assert "whatsapp" not in kit.channels
    with pytest.raises(PluginError, match="no plugin named 'wa'"):
        kit.unregister("wa")


def test_unknown_channel_lists_the_known_ones() -> None:
    kit = make_carekit()
    with pytest.raises(PluginError, match="no plugin provides channel 'fax'.*'email'"):
        kit.channel("fax")


def test_a_module_can_be_a_plugin() -> None:
    module = types.ModuleType("kiosk_plugin")

    @hookimpl
    def carekit_register_channels() -> list[Channel]:
        return [Channel(name="kiosk", live=True)]

    module.carekit_register_channels = carekit_register_channels  # type: ignore[attr-defined]
    kit = make_carekit(module)
    assert kit.channels["kiosk"].live


def test_hook_relay_is_called_with_keyword_arguments() -> None:
    kit = make_carekit(WhatsApp())
    results = kit.hook.carekit_register_channels()
    names = sorted(c.name for group in results for c in group)
    assert names == sorted([c.name for c in BUILTIN_CHANNELS] + ["whatsapp"])
    with pytest.raises(TypeError):
        kit.hook.carekit_deliver_touchpoint(None, None, "k")


def test_carekit_hookimpl_is_pluggys_marker_for_project_carekit() -> None:
    assert isinstance(carekit.hookimpl, pluggy.HookimplMarker)
    assert carekit.hookimpl.project_name == "carekit"


# -- entry points ------------------------------------------------------------------------


class _FakeEntryPoint:
    def __init__(self, name: str, target: object | Exception) -> None:
        self.name = name
        self.value = f"fake_module:{name}"
        self._target = target

    def load(self) -> object:
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, *eps: _FakeEntryPoint) -> None:
    def entry_points(*, group: str) -> list[_FakeEntryPoint]:
        return list(eps) if group == "carekit" else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_entry_point_plugins_are_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_entry_points(monkeypatch, _FakeEntryPoint("wa", WhatsApp()))
    kit = CareKit()
    assert "wa" in kit.plugin_names()
    assert "whatsapp" in kit.channels
    assert "whatsapp" not in CareKit(load_entrypoints=False).channels


def test_an_entry_point_that_fails_to_import_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_entry_points(monkeypatch, _FakeEntryPoint("sms_x", ImportError("no module named twilio")))
    with pytest.raises(PluginError, match="entry point 'sms_x'.*no module named twilio; fix "
                       r"that package or uninstall it \(from Python, "
                       r"CareKit\(load_entrypoints=False\) loads no installed plugin"):
        CareKit()
    broken = _FakeEntryPoint("sms_y", ImportError("no module named twilio"))
    broken.dist = types.SimpleNamespace(name="carekit-sms-y")  # type: ignore[attr-defined]
    _fake_entry_points(monkeypatch, broken)
    # Regression: the advice was only "pass CareKit(load_entrypoints=False)", which a user of
    # the carekit command cannot do; the package to uninstall is named first.
    with pytest.raises(PluginError, match="of the installed package 'carekit-sms-y' in group"
                       ".*fix that package or pip uninstall carekit-sms-y "):
        CareKit()


def test_an_installed_plugin_with_no_hook_is_ignored_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # An installed package that provides nothing must not stop every CareKit(); registering
    # such an object yourself is refused (see test_a_plugin_with_no_hook_is_refused).
    _fake_entry_points(monkeypatch, _FakeEntryPoint("empty", types.SimpleNamespace()),
                       _FakeEntryPoint("wa", WhatsApp()))
    with caplog.at_level("WARNING", logger="carekit.plugins"):
        kit = CareKit()
    assert "whatsapp" in kit.channels
    assert "installed plugin 'empty'" in caplog.text and "implements no carekit hook" in caplog.text
    # Ignored means not listed: `carekit demo` listed it as a plugin found.
    assert "empty" not in kit.plugin_names() and "wa" in kit.plugin_names()


def test_an_installed_plugin_refused_at_registration_names_its_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Unmarked:
        def carekit_register_channels(self) -> list[Channel]:
            return [Channel(name="kiosk")]

    bad = _FakeEntryPoint("kiosk", Unmarked())
    bad.dist = types.SimpleNamespace(name="carekit-kiosk")  # type: ignore[attr-defined]
    _fake_entry_points(monkeypatch, bad)
    with pytest.raises(PluginError, match="entry point 'kiosk' .* of the installed package "
                       "'carekit-kiosk' in group 'carekit': plugin 'kiosk' defines "
                       r"carekit_register_channels without .*CareKit\(load_entrypoints=False\)"):
        CareKit()


def test_a_plugin_class_with_instance_hooks_asks_for_an_instance() -> None:
    with pytest.raises(PluginError, match=r"plugin 'WhatsApp' is the class WhatsApp, whose hook "
                       r"carekit_register_channels takes self or cls but would be called on "
                       r"the class: register an instance, WhatsApp\(\)"):
        make_carekit(WhatsApp)

    class Static:
        @staticmethod
        @hookimpl
        def carekit_register_channels() -> list[Channel]:
            return [Channel(name="kiosk")]

    assert "kiosk" in make_carekit(Static).channels  # a class of static hooks is fine


def test_a_hook_with_arguments_the_spec_lacks_is_refused_by_its_readable_name() -> None:
    class BadArg:
        @hookimpl
        def carekit_register_channels(self, nonsense: object) -> list[Any]:
            return []

    with pytest.raises(PluginError) as err:
        CareKit(load_entrypoints=False, plugins=[BadArg()])
    assert str(err.value).startswith("plugin 'BadArg' is not valid: ")
    assert "nonsense" in str(err.value) and " object at 0x" not in str(err.value)
    assert err.value.plugins == ("BadArg",)


def test_a_misspelled_hook_in_an_entry_point_plugin_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    class Typo:
        @hookimpl
        def carekit_register_journey(self) -> list[Any]:  # misspelled on purpose
            return []

    _fake_entry_points(monkeypatch, _FakeEntryPoint("typo", Typo()))
    with pytest.raises(PluginError, match="carekit_register_journey"):
        CareKit()



def test_a_misspelled_hook_names_the_plugin_and_its_package_not_its_repr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Regression: the message named the plugin by pluggy's repr (a module's file path, an
    # object's address) and said nothing of the package to fix, unlike every other refusal.
    class Typo:
        @hookimpl
        def carekit_deliver_touchpoints(self, touchpoint: Any) -> None:  # misspelled
            return None

    typo = _FakeEntryPoint("pigeon", Typo())
    typo.dist = types.SimpleNamespace(name="carekit-pigeon")  # type: ignore[attr-defined]
    _fake_entry_points(monkeypatch, typo)
    with pytest.raises(PluginError) as err:
        CareKit()
    text = str(err.value)
    assert text.startswith("plugin 'pigeon' (entry point fake_module:pigeon of the installed "
                           "package 'carekit-pigeon'): unknown hook "
                           "'carekit_deliver_touchpoints' (did you mean "
                           "'carekit_deliver_touchpoint'?); hooks carekit knows: [")
    assert " object at 0x" not in text and err.value.plugins == ("pigeon",)
    # ... and, as every other refusal of an installed plugin, what a command-line user does.
    assert "; fix that package or pip uninstall carekit-pigeon (from Python" in text
    kit = CareKit(load_entrypoints=False)
    with pytest.raises(PluginError, match=r"^plugin 'Typo': unknown hook") as err:
        kit.register(Typo())
    assert " object at 0x" not in str(err.value)

# -- hooks called for other parts of carekit ----------------------------------------------


@attrs.frozen(kw_only=True)
class _Promise:
    expected: dt.date
    promised: dt.date


def test_an_earlier_but_not_too_early_adjustment_is_ignored_not_refused() -> None:
    # The docs: a plugin may "never make it earlier than the internal estimate
    # (promise.expected)", and the latest promised date wins, so Dec 3 (after the Dec 1
    # estimate) is allowed and simply loses to the Dec 5 promise.
    base = _Promise(expected=dt.date(2026, 12, 1), promised=dt.date(2026, 12, 5))

    class Hopeful:
        @hookimpl
        def carekit_adjust_promise(self, promise: _Promise) -> _Promise:
            return attrs.evolve(promise, promised=dt.date(2026, 12, 3))

    assert make_carekit(Hopeful()).adjust_promise(base) is base


def test_a_plugin_with_no_opinion_does_not_stop_the_next_from_padding() -> None:
    # None means "no adjustment" from that plugin only; a later-registered plugin's padding must
    # still apply.
    base = _Promise(expected=dt.date(2026, 12, 1), promised=dt.date(2026, 12, 5))

    class Quiet:
        @hookimpl
        def carekit_adjust_promise(self, promise: _Promise) -> None:
            return None

    class Peak:
        @hookimpl
        def carekit_adjust_promise(self, promise: _Promise) -> _Promise:
            return attrs.evolve(promise, promised=dt.date(2026, 12, 9))

    assert make_carekit(Quiet(), Peak()).adjust_promise(base).promised == dt.date(2026, 12, 9)


def test_every_observer_runs_even_after_one_raises() -> None:
    # notify_transition calls "every carekit_on_transition observer" and collects
    # failures, never stopping.
    seen: list[str] = []

    class Broken:
        @hookimpl
        def carekit_on_transition(self, journey: Any, transition: Any) -> None:
            raise RuntimeError("crm down")

    class Audit:
        @hookimpl
        def carekit_on_transition(self, journey: Any, transition: Any) -> None:
            seen.append(journey.state)

    kit = make_carekit()
    kit.register(Broken(), name="broken")
    kit.register(Audit(), name="audit")
    at = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.timezone.utc)
    step = order_journey().start("o", at=at).apply(Event("place", at=at), kit=kit)
    assert seen == ["placed"]
    assert [(f.plugin, str(f.error)) for f in step.errors] == [("broken", "crm down")]


def test_adjust_promise_takes_the_latest_promised_date() -> None:
    base = _Promise(expected=dt.date(2026, 12, 1), promised=dt.date(2026, 12, 5))

    class Peak:
        @hookimpl
        def carekit_adjust_promise(self, promise: _Promise, context: dict[str, Any]) -> _Promise:
            assert context == {"segment": "north"}
            return attrs.evolve(promise, promised=dt.date(2026, 12, 9))

    class Strike:
        @hookimpl
        def carekit_adjust_promise(self, promise: _Promise) -> _Promise:
            return attrs.evolve(promise, promised=dt.date(2026, 12, 7))

    class Quiet:
        @hookimpl
        def carekit_adjust_promise(self, promise: _Promise) -> None:
            return None

    kit = make_carekit(Peak(), Strike(), Quiet())
    adjusted = kit.adjust_promise(base, {"segment": "north"})
    assert adjusted.promised == dt.date(2026, 12, 9)
    assert make_carekit().adjust_promise(base) is base


def test_adjust_promise_recounts_the_padding_on_the_promises_calendar() -> None:
    from carekit.calendar import BusinessCalendar
    from carekit.promises import PaddedEstimator

    calendar = BusinessCalendar(holidays=[dt.date(2026, 12, 25), dt.date(2026, 12, 28)])
    at = dt.datetime(2026, 12, 1, 10, tzinfo=dt.timezone.utc)
    base = PaddedEstimator().promise(at, calendar=calendar, expected=12)
    assert (base.expected, base.promised, base.padding) == (
        dt.date(2026, 12, 17), dt.date(2026, 12, 23), 4)

    class Peak:
        @hookimpl
        def carekit_adjust_promise(self, promise: Any) -> Any:
            # Thu 24, (Fri 25 holiday), Mon 28 holiday, Tue 29, Wed 30: three business days
            return attrs.evolve(promise, promised=dt.date(2026, 12, 30))

    adjusted = make_carekit(Peak()).adjust_promise(base)
    assert adjusted.promised == dt.date(2026, 12, 30)
    assert adjusted.padding == 4 + 3
    assert adjusted.expected == base.expected and adjusted.calendar is calendar
    # Without a calendar on the promise, the plugin's padding stands as given.
    bare = attrs.evolve(base, calendar=None)
    assert make_carekit(Peak()).adjust_promise(bare).padding == 4


def test_adjust_promise_refuses_a_date_before_the_estimate() -> None:
    base = _Promise(expected=dt.date(2026, 12, 1), promised=dt.date(2026, 12, 5))

    class TooKeen:
        @hookimpl
        def carekit_adjust_promise(self, promise: _Promise) -> _Promise:
            return attrs.evolve(promise, promised=dt.date(2026, 11, 30))

    kit = make_carekit()
    kit.register(TooKeen(), name="too-keen")
    with pytest.raises(PluginError, match="'too-keen' promised .*earlier than the estimate"):
        kit.adjust_promise(base)


def test_adjust_promise_refuses_the_wrong_type() -> None:
    base = _Promise(expected=dt.date(2026, 12, 1), promised=dt.date(2026, 12, 5))

    class Wrong:
        @hookimpl
        def carekit_adjust_promise(self, promise: _Promise) -> Any:
            return dt.date(2026, 12, 9)

    kit = make_carekit()
    kit.register(Wrong(), name="wrong")
    with pytest.raises(PluginError, match="'wrong' returned .*expected a _Promise or None"):
        kit.adjust_promise(base)


def test_adjust_promise_refuses_what_is_not_a_promise_or_a_context() -> None:
    kit = make_carekit()
    base = _Promise(expected=dt.date(2026, 12, 1), promised=dt.date(2026, 12, 5))
    with pytest.raises(CareKitError, match="promise must be a carekit.promises.Promise"):
        kit.adjust_promise(None)  # type: ignore[arg-type]
    for context in (5, [1]):
        with pytest.raises(CareKitError, match=r"context must be a mapping .*\(got "):
            kit.adjust_promise(base, context)  # type: ignore[arg-type]
    assert kit.adjust_promise(base, None) is base


def test_adjust_promise_wraps_a_raising_plugin() -> None:
    base = _Promise(expected=dt.date(2026, 12, 1), promised=dt.date(2026, 12, 5))

    class Raises:
        @hookimpl
        def carekit_adjust_promise(self, promise: _Promise) -> Any:
            raise KeyError("carrier")

    kit = make_carekit()
    kit.register(Raises(), name="raises")
    with pytest.raises(PluginError, match="'raises' raised in carekit_adjust_promise"):
        kit.adjust_promise(base)


def test_recovery_actions_are_collected_in_registration_order() -> None:
    class Apology:
        @hookimpl
        def carekit_recovery_action(self, journey: Any, friction: float) -> list[str]:
            return [f"apology for {journey} at {friction}"]

    class Voucher:
        @hookimpl
        def carekit_recovery_action(self, friction: float) -> list[str]:
            return ["voucher"] if friction > 2 else []

    kit = make_carekit(Apology(), Voucher())
    assert kit.recovery_actions("order-1", 3.0) == ["apology for order-1 at 3.0", "voucher"]
    assert kit.recovery_actions("order-1", 1.0) == ["apology for order-1 at 1.0"]


def test_recovery_action_returning_a_non_list_is_an_error() -> None:
    class Wrong:
        @hookimpl
        def carekit_recovery_action(self, friction: float) -> Any:
            return "call the manager"

    kit = make_carekit()
    kit.register(Wrong(), name="wrong")
    with pytest.raises(PluginError, match="'wrong'.*expected a list of Touchpoint"):
        kit.recovery_actions("j", 5.0)


def test_observer_failures_are_reported_not_raised() -> None:
    seen: list[tuple[Any, Any]] = []

    class Good:
        @hookimpl
        def carekit_on_transition(self, journey: Any, transition: Any) -> None:
            seen.append((journey, transition))

    class Bad:
        @hookimpl
        def carekit_on_transition(self, journey: Any) -> None:
            raise RuntimeError("analytics down")

    kit = make_carekit()
    kit.register(Good(), name="good")
    kit.register(Bad(), name="bad")
    failures = kit.notify_transition("order-1", "place")
    assert seen == [("order-1", "place")]
    assert [f.plugin for f in failures] == ["bad"]
    assert "analytics down" in str(failures[0].error)


# -- journeys contributed by plugins -------------------------------------------------------


def _collect_journey(name: str) -> Any:
    from carekit.journeys import JourneyDefinition, Phase, State, Transition

    return JourneyDefinition(
        name=name,
        states=[
            State(name="ordered", phase=Phase.BEFORE),
            State(name="collected", phase=Phase.AFTER, final=True),
        ],
        transitions=[Transition(event="collect", source="ordered", target="collected")],
    )


def test_builtin_journeys_come_from_a_builtin_plugin() -> None:
    kit = make_carekit()
    assert {"order", "service_case", "visit"} <= set(kit.journeys)
    assert "carekit.journeys" in kit.plugin_names()


def test_a_plugin_adds_a_journey_through_carekit_register_journeys() -> None:
    class ClickAndCollect:
        @hookimpl
        def carekit_register_journeys(self) -> list[Any]:
            return [_collect_journey("click_and_collect")]

    kit = make_carekit(ClickAndCollect())
    assert kit.journeys["click_and_collect"].name == "click_and_collect"
    assert "click_and_collect" not in make_carekit().journeys


def test_duplicate_journey_names_name_both_plugins() -> None:
    class MyOrder:
        @hookimpl
        def carekit_register_journeys(self) -> list[Any]:
            return [_collect_journey("order")]

    kit = make_carekit()
    kit.register(MyOrder(), name="shop-order")
    with pytest.raises(PluginError, match="duplicate journey name 'order'") as info:
        kit.journeys  # noqa: B018
    assert set(info.value.plugins) == {"carekit.journeys", "shop-order"}
    assert str(info.value).endswith("'order' is built into carekit: register yours as another name")


def test_a_journey_touchpoint_may_name_a_channel_registered_later() -> None:
    # Journeys are listed whatever channels their touchpoints name; a channel no plugin
    # provides is reported when such a touchpoint is dispatched.
    from carekit.journeys import Touchpoint

    class Collect:
        @hookimpl
        def carekit_register_journeys(self) -> list[Any]:
            return [attrs.evolve(_collect_journey("collect"), touchpoints=[
                Touchpoint(name="ready", on_enter="collected", within=dt.timedelta(hours=1),
                           channel="whatsapp")
            ])]

    kit = make_carekit(Collect())
    assert "whatsapp" not in kit.channels
    assert kit.journeys["collect"].touchpoints[0].channel == "whatsapp"
    kit.register(WhatsApp(), name="whatsapp")
    assert "whatsapp" in kit.channels and "collect" in kit.journeys


def test_plugins_registered_without_a_name_get_a_readable_one() -> None:
    kit = make_carekit(WhatsApp(), WhatsApp.__new__(WhatsApp))
    assert "WhatsApp" in kit.plugin_names()
    assert "WhatsApp-2" in kit.plugin_names()
    with pytest.raises(PluginError, match="duplicate channel name 'whatsapp'.*'WhatsApp'"):
        kit.channels  # noqa: B018


def test_a_hook_without_the_marker_is_refused_not_ignored() -> None:
    class Forgot:
        def carekit_register_channels(self) -> list[Channel]:
            return [Channel(name="kiosk")]

        def carekit_helper(self) -> None:  # not a hook name: left alone
            """A helper that happens to share the prefix."""

    with pytest.raises(PluginError, match="plugin 'Forgot' defines carekit_register_channels "
                       "without the @carekit.hookimpl marker") as info:
        make_carekit(Forgot())
    assert info.value.plugins == ("Forgot",)
    module = types.ModuleType("kiosk_plugin")
    module.carekit_register_channels = lambda: [Channel(name="kiosk")]  # type: ignore[attr-defined]
    with pytest.raises(PluginError, match="'kiosk_plugin' defines carekit_register_channels"):
        make_carekit().register(module)


def test_observers_and_collectors_get_arguments_as_pluggy_gives_them() -> None:
    # Each implementation is called through pluggy, so a parameter with a default gets
    # exactly what a plain pluggy hook call would give it.
    class Observer:
        def __init__(self) -> None:
            self.got: list[object] = []

        @hookimpl
        def carekit_on_transition(self, journey: Any, transition: Any = "default") -> None:
            self.got.append(transition)

    observer = Observer()
    kit = make_carekit(observer)
    kit.notify_transition("journey", "the transition")
    kit.hook.carekit_on_transition(journey="journey", transition="the transition")
    assert observer.got[0] == observer.got[1]


def test_valid_plugin_shapes_are_not_mistaken_for_unmarked_hooks() -> None:
    class StaticAbove:
        @hookimpl
        @staticmethod
        def carekit_register_channels() -> list[Channel]:
            return [Channel(name="static_above")]

    class ClassAbove:
        @hookimpl
        @classmethod
        def carekit_register_channels(cls) -> list[Channel]:
            return [Channel(name="class_above")]

    class Proxy:
        @hookimpl
        def carekit_register_channels(self) -> list[Channel]:
            return [Channel(name="proxy")]

        def __getattr__(self, name: str) -> Any:
            return lambda *args: None  # answers any name; pluggy never asks it

    class WithProperty:
        @property
        def carekit_recovery_action(self) -> Any:
            raise AssertionError("a property is not run at registration")

        @hookimpl
        def carekit_register_channels(self) -> list[Channel]:
            return [Channel(name="with_property")]

    class NoSelf:  # registered as the class: a hook without self needs no instance
        @hookimpl
        def carekit_register_channels() -> list[Channel]:  # type: ignore[misc]
            return [Channel(name="no_self")]

    kit = make_carekit(StaticAbove(), ClassAbove(), Proxy(), WithProperty(), NoSelf)
    assert {"static_above", "class_above", "proxy", "no_self", "with_property"} <= set(
        kit.channels)


def test_registering_none_is_a_clear_error() -> None:
    with pytest.raises(PluginError, match=r"plugin must be a module, a class or an object .*None"):
        make_carekit().register(None)


@pytest.mark.parametrize("plugin", [5, "sms", object()])
def test_a_plugin_with_no_hook_is_refused(plugin: object) -> None:
    # Registering the wrong object (a number, a name, an empty object) is a mistake
    # carekit can see: nothing in it would ever be called.
    kit = make_carekit()
    before = kit.plugin_names()
    with pytest.raises(PluginError, match="implements no carekit hook: give it methods or "
                                          "functions named like the hooks"):
        kit.register(plugin)
    assert kit.plugin_names() == before  # left as it was


def test_hook_wrappers_go_around_the_other_implementations() -> None:
    # With a wrapper, carekit lets pluggy run the whole call, as a plain hook call would.
    class Fax:
        @hookimpl
        def carekit_register_channels(self) -> list[Channel]:
            return [Channel(name="fax")]

    class NoFax:
        @hookimpl(wrapper=True)
        def carekit_register_channels(self) -> Any:
            lists = yield
            return [[c for c in found if c.name != "fax"] for found in lists]

    assert "fax" in make_carekit(Fax()).channels
    assert "fax" not in make_carekit(Fax(), NoFax()).channels
    assert "email" in make_carekit(Fax(), NoFax()).channels

    class Timing:
        def __init__(self) -> None:
            self.around: list[str] = []

        @hookimpl(wrapper=True)
        def carekit_on_transition(self) -> Any:
            self.around.append("before")
            try:
                return (yield)
            finally:
                self.around.append("after")

    class Broken:
        @hookimpl
        def carekit_on_transition(self, journey: Any) -> None:
            raise RuntimeError("analytics is down")

    timing = Timing()
    failures = make_carekit(Broken(), timing).notify_transition("journey", "transition")
    assert timing.around == ["before", "after"]
    [failure] = failures
    assert str(failure.error) == "analytics is down" and "hook wrapper" in failure.plugin


def test_unmarked_hooks_are_found_on_bound_methods_and_in_slots() -> None:
    class Source:
        def carekit_register_channels(self) -> list[Channel]:
            return [Channel(name="kiosk")]

    module = types.ModuleType("bound_plugin")
    module.carekit_register_channels = Source().carekit_register_channels  # type: ignore[attr-defined]
    with pytest.raises(PluginError, match="'bound_plugin' defines carekit_register_channels"):
        make_carekit().register(module)

    class Slotted:
        __slots__ = ("carekit_register_channels",)

    slotted = Slotted()
    slotted.carekit_register_channels = lambda: [Channel(name="kiosk")]  # type: ignore[misc]
    with pytest.raises(PluginError, match="'Slotted' defines carekit_register_channels"):
        make_carekit().register(slotted)


def test_class_plugins_whose_hooks_need_an_argument_are_refused() -> None:
    import functools

    def logged(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        return wrapper

    class Wrapped:
        @hookimpl
        @logged
        def carekit_register_channels(self) -> list[Channel]:
            return [Channel(name="kiosk")]

    class ForgotClassmethod:
        @hookimpl
        def carekit_register_channels(cls) -> list[Channel]:  # noqa: N805
            return [Channel(name="kiosk")]

    for plugin in (Wrapped, ForgotClassmethod):
        with pytest.raises(PluginError, match="takes self or cls"):
            make_carekit(plugin)

    class LocalSelf:
        @hookimpl
        def carekit_register_channels() -> list[Channel]:  # type: ignore[misc]
            self = Channel(name="kiosk")
            return [self]

    assert "kiosk" in make_carekit(LocalSelf).channels


def test_a_marked_hook_pluggy_did_not_take_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Older pluggy reads the marker from the function only, so @hookimpl above
    # @staticmethod registers nothing there; carekit checks and says so.
    class StaticAbove:
        @hookimpl
        @staticmethod
        def carekit_register_channels() -> list[Channel]:
            return [Channel(name="kiosk")]

    kit = make_carekit()
    monkeypatch.setattr(kit.plugin_manager, "get_hookcallers", lambda plugin: [])
    with pytest.raises(PluginError, match="did not take its marked hook carekit_register_chan"):
        kit.register(StaticAbove())
    monkeypatch.undo()
    assert "StaticAbove" not in kit.plugin_names()


def _installed(name: str, target: object, package: str) -> _FakeEntryPoint:
    ep = _FakeEntryPoint(name, target)
    ep.dist = types.SimpleNamespace(name=package)  # type: ignore[attr-defined]
    return ep


def test_an_installed_plugin_failing_its_channel_hook_names_its_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Regression: a raising or wrongly answering carekit_register_channels of an installed
    # plugin stopped every carekit command with the plugin's name only: not which package
    # it came from, nor what to do about it.
    class Wrong:
        @hookimpl
        def carekit_register_channels(self) -> Any:
            return Channel(name="kiosk")

    _fake_entry_points(monkeypatch, _installed("broken", Broken(), "carekit-broken"))
    with pytest.raises(PluginError, match=r"^plugin 'broken' \(entry point fake_module:broken "
                       r"of the installed package 'carekit-broken'\) raised in "
                       r"carekit_register_channels: RuntimeError\('gateway credentials "
                       r"missing'\); fix that package or pip uninstall carekit-broken "):
        CareKit().channels  # noqa: B018
    _fake_entry_points(monkeypatch, _installed("wrong", Wrong(), "carekit-wrong"))
    with pytest.raises(PluginError, match=r"^plugin 'wrong' \(entry point fake_module:wrong of "
                       r"the installed package 'carekit-wrong'\) returned Channel\(.*\) from "
                       r"carekit_register_channels; expected a list of Channel; fix that "
                       r"package or pip uninstall carekit-wrong "):
        CareKit().channels  # noqa: B018
    # Registered from Python, nothing is installed to uninstall: the message is as before.
    with pytest.raises(PluginError, match=r"^plugin 'Broken' raised in carekit_register_"
                       r"channels: RuntimeError\('gateway credentials missing'\)$"):
        make_carekit(Broken()).channels  # noqa: B018


def test_two_installed_plugins_for_one_channel_say_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Regression: the message named both plugins but not their packages, nor what to do.
    _fake_entry_points(monkeypatch, _installed("wa", WhatsApp(), "carekit-wa"),
                       _installed("wa2", AnotherWhatsApp(), "carekit-wa2"))
    with pytest.raises(PluginError) as info:
        CareKit().channels  # noqa: B018
    assert str(info.value) == (
        "duplicate channel name 'whatsapp': provided by plugin 'wa' (entry point "
        "fake_module:wa of the installed package 'carekit-wa') and by plugin 'wa2' (entry "
        "point fake_module:wa2 of the installed package 'carekit-wa2'); one channel name "
        "needs one plugin: uninstall one of the packages (pip uninstall carekit-wa, or pip "
        "uninstall carekit-wa2), or rename the channel in one of them"
    )
    assert set(info.value.plugins) == {"wa", "wa2"} and info.value.name == "whatsapp"
    kit = make_carekit(WhatsApp(), AnotherWhatsApp())
    with pytest.raises(PluginError, match=r"^duplicate channel name 'whatsapp': provided by "
                       r"plugin 'WhatsApp' and by plugin 'AnotherWhatsApp'; one channel name "
                       r"needs one plugin: register only one of them, or rename the channel "
                       r"in one of them$"):
        kit.channels  # noqa: B018


def test_an_entry_point_naming_a_plugin_class_asks_for_an_instance_in_the_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Regression: the advice was "register an instance, WhatsApp()", which an entry point
    # cannot do: it must name an instance the module makes.
    _fake_entry_points(monkeypatch, _installed("wa", WhatsApp, "carekit-wa"))
    with pytest.raises(PluginError, match=r"plugin 'wa' is the class WhatsApp, whose hook "
                       r"carekit_register_channels takes self or cls but would be called on the "
                       r"class: point the entry point at an instance \(wa = "
                       r"\"fake_module:plugin\" with plugin = WhatsApp\(\) in that module\), or "
                       r"make the hook a @staticmethod or @classmethod; fix that package"):
        CareKit()


def test_an_installed_module_whose_hooks_are_on_a_class_is_told_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Regression: an entry point naming a module whose hooks live on a class in it was
    # ignored with "implements no carekit hook" and a cut-off repr, not saying where the
    # hooks were nor how to point the entry point at them.
    module = types.ModuleType("carekit_kiosk")
    module.Kiosk = WhatsApp  # type: ignore[attr-defined]
    ep = _installed("kiosk", module, "carekit-kiosk")
    ep.value = "carekit_kiosk"
    _fake_entry_points(monkeypatch, ep)
    with caplog.at_level("WARNING", logger="carekit.plugins"):
        CareKit()
    assert caplog.messages == [
        "installed plugin 'kiosk' (module carekit_kiosk) implements no carekit hook; it is "
        "ignored. Its class Kiosk has hooks: point the entry point at an instance (kiosk = "
        "\"carekit_kiosk:plugin\" with plugin = Kiosk() in that module)"
    ]


def test_a_coroutine_hook_other_than_delivery_is_refused_at_registration() -> None:
    # Regression: an `async def carekit_register_channels` failed later with "returned
    # <coroutine object ...>" and a "never awaited" warning; an `async def
    # carekit_on_transition` never ran at all, silently.
    class AsyncChannels:
        @hookimpl
        async def carekit_register_channels(self) -> list[Channel]:
            return [Channel(name="kiosk")]

    class AsyncObserver:
        @hookimpl
        async def carekit_on_transition(self, journey: Any) -> None:
            return None

    for plugin, hook in ((AsyncChannels(), "carekit_register_channels"),
                         (AsyncObserver(), "carekit_on_transition")):
        with pytest.raises(PluginError, match=rf"^plugin '{type(plugin).__name__}': {hook} is "
                           r"a coroutine function \(async def\), which carekit would call "
                           r"without awaiting; only carekit_deliver_touchpoint may be one: "
                           r"make it a plain def$"):
            make_carekit(plugin)

    class AsyncDelivery:
        @hookimpl
        async def carekit_deliver_touchpoint(self, channel: Channel) -> None:
            return None

    make_carekit(AsyncDelivery())  # the delivery hook may be a coroutine
