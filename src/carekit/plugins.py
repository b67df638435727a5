"""The :class:`CareKit` object: one plugin manager, the channels and journeys it knows.

There is no global registry: each :class:`CareKit` owns a ``pluggy.PluginManager("carekit")``,
so two of them in one process never see each other's plugins.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import inspect
import logging
import re
import types
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import pluggy

from carekit import hookspecs
from carekit.channels import BuiltinChannels, Channel
from carekit.errors import CareKitError, PluginError

if TYPE_CHECKING:
    from carekit.journeys import DispatchReport, Journey, JourneyDefinition, Touchpoint
    from carekit.promises import Promise

__all__ = ["ENTRY_POINT_GROUP", "CareKit", "ObserverFailure"]

#: The entry-point group third-party plugins publish under.
ENTRY_POINT_GROUP = "carekit"

_log = logging.getLogger("carekit.plugins")

_T = TypeVar("_T")


@attrs.frozen(kw_only=True)
class ObserverFailure:
    """An observer hook that raised; the journey's state was not changed by it."""

    plugin: str
    error: BaseException


class CareKit:
    """The host: owns the plugin manager and carries plugins to whatever needs them.

    Args:
        load_entrypoints: also load plugins published under the ``carekit`` entry-point
            group (installed packages). Tests usually pass ``False``.
        plugins: plugins to register straight away.

    Raises:
        PluginError: a plugin implements a misspelled hook, has the wrong signature,
            defines a hook without the ``@hookimpl`` marker, is registered twice, or cannot
            be loaded. (Duplicate channel or journey names are found when
            :attr:`channels` or :attr:`journeys` is first read.)

    Examples:
        >>> from carekit import CareKit
        >>> kit = CareKit(load_entrypoints=False)
        >>> sorted(kit.channels)[:3]
        ['chat', 'email', 'in_store']
    """

    def __init__(
        self, load_entrypoints: bool = True, plugins: Iterable[object] | None = ()
    ) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._channels: Mapping[str, Channel] | None = None
        self._journeys: Mapping[str, JourneyDefinition] | None = None
        #: plugin name -> where an installed plugin came from, for messages
        self._sources: dict[str, str] = {}
        #: plugin name -> the distribution an installed plugin came from (None: unknown)
        self._dists: dict[str, Any] = {}
        self._register(BuiltinChannels(), _BUILTIN_CHANNELS)
        self._register(_builtin_journeys_plugin(), _BUILTIN_JOURNEYS)
        if plugins is None:
            plugins = ()
        elif isinstance(plugins, (str, bytes)) or not isinstance(plugins, Iterable):
            msg = f"plugins must be an iterable of plugin objects, or None (got {plugins!r})"
            raise CareKitError(msg)
        if load_entrypoints:
            self._load_entrypoints()
        for plugin in plugins:
            self._register(plugin, None)
        self._check_pending()

    # -- registration -------------------------------------------------------------------

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register ``plugin`` (a module, class or object with hook implementations).

        Returns:
            The name the plugin was registered under.

        Raises:
            PluginError: the plugin is already registered, implements no hook or an
                unknown one, or its hook signature does not match the specification.
        """
        registered = self._register(plugin, name)
        try:
            self._check_pending()
        except PluginError:
            # Refused: leave the kit as it was, so later registrations are not blamed for it.
            self._pm.unregister(name=registered)
            self._invalidate()
            raise
        return registered

    def unregister(self, name: str) -> None:
        """Remove the plugin registered under ``name``.

        Raises:
            PluginError: no plugin has that name.
        """
        if not isinstance(name, str):
            msg = f"name must be a registered plugin's name, a string (got {name!r})"
            raise PluginError(msg, name=name)
        plugin = self._pm.get_plugin(name)
        if plugin is None:
            msg = f"no plugin named {name!r} is registered (registered: {self.plugin_names()})"
            raise PluginError(msg, name=name)
        self._pm.unregister(plugin)
        self._sources.pop(name, None)
        self._dists.pop(name, None)
        self._invalidate()

    def plugin_names(self) -> list[str]:
        """Names of every registered plugin, built-ins included, sorted."""
        return sorted(n for n, _ in self._pm.list_name_plugin() if n is not None)

    @property
    def hook(self) -> pluggy.HookRelay:
        """The pluggy hook relay; call hooks with keyword arguments only."""
        return self._pm.hook

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The underlying :class:`pluggy.PluginManager` (for advanced use)."""
        return self._pm

    # -- what plugins contribute --------------------------------------------------------

    @property
    def channels(self) -> Mapping[str, Channel]:
        """Every channel the registered plugins provide, by name (read-only)."""
        if self._channels is None:
            self._channels = self._collect("carekit_register_channels", "channel", Channel)
        return self._channels

    @property
    def journeys(self) -> Mapping[str, JourneyDefinition]:
        """Every journey definition the registered plugins provide, by name (read-only).

        A touchpoint may name a channel no plugin provides yet (one may be registered
        later); dispatching it then reports the channel and the known ones.

        Raises:
            PluginError: two plugins provide the same journey name.
        """
        if self._journeys is None:
            from carekit.journeys import JourneyDefinition

            self._journeys = self._collect(
                "carekit_register_journeys", "journey", JourneyDefinition
            )
        return self._journeys

    def channel(self, name: str) -> Channel:
        """The channel called ``name``.

        Raises:
            PluginError: no registered plugin provides it.
        """
        try:
            return self.channels[name]
        except (KeyError, TypeError):  # (TypeError: an unhashable name)
            msg = f"no plugin provides channel {name!r} (known channels: {sorted(self.channels)})"
            raise PluginError(msg, name=name) from None

    # -- calling hooks for other parts of carekit ---------------------------------------

    def adjust_promise(self, promise: Promise, context: Mapping[str, Any] | None = None) -> Promise:
        """Let plugins adjust ``promise`` through ``carekit_adjust_promise``.

        When several plugins answer, the latest promised date wins. A plugin can pad a
        promise but never make it earlier than the internal estimate (``promise.expected``).
        A plugin need only move ``promised``: when the promise carries its business calendar
        (estimators' promises do), the winner's ``padding`` is recounted on it, as the
        business days between ``expected`` and ``promised``.

        Raises:
            PluginError: a plugin raised, returned something other than a promise, or
                promised earlier than the estimate.
            CareKitError: ``promise`` has no ``expected`` and ``promised`` dates (a
                :class:`~carekit.promises.Promise` has), ``context`` is not a mapping or None.
        """
        if not (hasattr(promise, "expected") and hasattr(promise, "promised")):
            msg = (
                "promise must be a carekit.promises.Promise, or an object with expected and "
                f"promised dates (got {promise!r})"
            )
            raise CareKitError(msg)
        if context is not None and not isinstance(context, Mapping):
            msg = f"context must be a mapping of names to values, or None (got {context!r})"
            raise CareKitError(msg)
        best = promise
        ctx = dict(context or {})
        for plugin_name, result in self._call_each(
            "carekit_adjust_promise", promise=promise, context=ctx
        ):
            if result is None:
                continue
            if type(result) is not type(promise):
                msg = (
                    f"plugin {plugin_name!r} returned {result!r} from carekit_adjust_promise; "
                    f"expected a {type(promise).__name__} or None"
                )
                raise PluginError(msg, plugins=[plugin_name])
            if result.promised < promise.expected:
                msg = (
                    f"plugin {plugin_name!r} promised {result.promised!r}, earlier than the "
                    f"estimate {promise.expected!r}; adjustments may only pad"
                )
                raise PluginError(msg, plugins=[plugin_name])
            if result.promised > best.promised:
                best = result
        calendar = getattr(best, "calendar", None)
        if best is not promise and calendar is not None:
            padding = calendar.business_days_between(best.expected, best.promised)
            if padding != best.padding:
                best = attrs.evolve(best, padding=padding)
        return best

    def recovery_actions(self, journey: Journey, friction: float) -> list[Touchpoint]:
        """Collect "make it right" touchpoints from ``carekit_recovery_action``.

        Raises:
            PluginError: a plugin raised or returned something other than a list.
        """
        return [tp for _, tp in self._recovery_touchpoints(journey, friction)]

    def _recovery_touchpoints(
        self, journey: Journey, friction: float
    ) -> list[tuple[str, Touchpoint]]:
        """``(plugin name, touchpoint)`` for every recovery touchpoint, in plugin order."""
        actions: list[tuple[str, Touchpoint]] = []
        for plugin_name, result in self._call_each(
            "carekit_recovery_action", journey=journey, friction=friction
        ):
            if result is None:
                continue
            if not isinstance(result, (list, tuple)):
                msg = (
                    f"plugin {plugin_name!r} returned {result!r} from carekit_recovery_action; "
                    "expected a list of Touchpoint"
                )
                raise PluginError(msg, plugins=[plugin_name])
            actions.extend((plugin_name, tp) for tp in result)
        return actions

    def notify_transition(self, journey: Journey, transition: Any) -> list[ObserverFailure]:
        """Call every ``carekit_on_transition`` observer; collect (never raise) failures.

        An observer that raises cannot change the journey: the failure is returned so the
        caller can report it.
        """
        failures: list[ObserverFailure] = []
        caller = self._pm.hook.carekit_on_transition
        if _has_wrapper(caller):
            # A hook wrapper goes around the observers: pluggy runs them all (the first that
            # raises stops the call, and its plugin is not known).
            try:
                caller(journey=journey, transition=transition)
            except (Exception, SystemExit) as exc:
                failures.append(ObserverFailure(plugin=_WRAPPED, error=exc))
            return failures
        for impl in caller.get_hookimpls():
            try:
                self._call_one(
                    "carekit_on_transition", impl, journey=journey, transition=transition
                )
            except (Exception, SystemExit) as exc:  # observers must not break the journey
                # (SystemExit too: a store calls observers after its commit, and a caller
                # told "failed" would append an id-less event twice on retry.)
                failures.append(ObserverFailure(plugin=impl.plugin_name, error=exc))
        return failures

    def dispatch(self, store: Any, *, now: Any, **options: Any) -> DispatchReport:
        """Deliver the touchpoints owed in ``store`` through the channel plugins.

        See :func:`carekit.journeys.dispatch` for the options and the returned
        ``DispatchReport``.

        Raises:
            CareKitError: an option :func:`~carekit.journeys.dispatch` does not have; and
                as :func:`~carekit.journeys.dispatch`.
        """
        from carekit.journeys import dispatch

        known = [p for p in inspect.signature(dispatch).parameters if p not in ("kit", "store")]
        unknown = sorted(set(options) - set(known))
        if unknown:
            msg = f"dispatch has no option(s) {unknown} (options: {known})"
            raise CareKitError(msg)
        return dispatch(self, store, now=now, **options)

    # -- internals ----------------------------------------------------------------------

    def _register(
        self,
        plugin: object,
        name: str | None,
        *,
        installed: bool = False,
        entry_value: str | None = None,
    ) -> str:
        if plugin is None:
            msg = (
                "plugin must be a module, a class or an object with hook implementations "
                "(got None)"
            )
            raise PluginError(msg, name=name)
        try:
            comparable = bool(plugin == plugin)  # noqa: PLR0124 - the point of the check
        except Exception:  # e.g. Decimal('sNaN'), whose == raises
            comparable = False
        if not comparable:
            # pluggy finds a registered plugin by ==, so such an object could never be found
            # (or unregistered) again.
            msg = (
                "plugin must be a module, a class or an object with hook implementations "
                f"that compares equal to itself (got {plugin!r:.80})"
            )
            raise PluginError(msg, name=name)
        if self._pm.is_registered(plugin):
            taken = str(self._pm.get_name(plugin))
            msg = (
                f"plugin {taken!r} is already registered; register each plugin once "
                "(CareKit() also loads installed plugins from their entry points: pass "
                "load_entrypoints=False to register them yourself)"
            )
            raise PluginError(msg, plugins=[taken])
        if name is None:
            name = self._readable_name(plugin)
        if isinstance(plugin, type) and (needs_self := _instance_hooks(plugin)):
            if installed:
                # An entry point cannot make the instance: the module must, and be named.
                module = str(entry_value or "").partition(":")[0] or plugin.__module__
                instead = (
                    f"point the entry point at an instance ({name} = \"{module}:plugin\" "
                    f"with plugin = {plugin.__qualname__}() in that module)"
                )
            else:
                instead = f"register an instance, {plugin.__qualname__}()"
            msg = (
                f"plugin {name!r} is the class {plugin.__qualname__}, whose hook "
                f"{', '.join(needs_self)} takes self or cls but would be called on the class: "
                f"{instead}, or make the hook a @staticmethod or @classmethod"
            )
            raise PluginError(msg, plugins=[name])
        for hook in _coroutine_hooks(plugin):
            msg = (
                f"plugin {name!r}: {hook} is a coroutine function (async def), which carekit "
                "would call without awaiting; only carekit_deliver_touchpoint may be one: "
                "make it a plain def"
            )
            raise PluginError(msg, plugins=[name])
        unmarked = _unmarked_hooks(plugin)
        if unmarked:
            msg = (
                f"plugin {name!r} defines {', '.join(unmarked)} without the @carekit.hookimpl "
                "marker, so carekit would never call it; decorate it with @hookimpl"
            )
            raise PluginError(msg, plugins=[name])
        try:
            registered = self._pm.register(plugin, name)
        except pluggy.PluginValidationError as exc:
            label = name or self._readable_name(plugin)
            msg = f"plugin {label!r} is not valid: {exc}"
            raise PluginError(msg, plugins=[label]) from exc
        except ValueError as exc:  # pluggy: already registered / name taken
            msg = f"cannot register plugin {name or plugin!r}: {exc}"
            raise PluginError(msg, name=name) from exc
        except Exception as exc:  # e.g. an older pluggy running a property named like a hook
            msg = f"plugin {name!r} could not be registered: {exc!r}"
            raise PluginError(msg, plugins=[name]) from exc
        if registered is None:  # pragma: no cover - blocked plugins only
            msg = f"plugin {name or plugin!r} is blocked and was not registered"
            raise PluginError(msg, name=name)
        hooks_taken = {caller.name for caller in self._pm.get_hookcallers(plugin) or ()}
        missed = [hook for hook in _marked_hooks(plugin) if hook not in hooks_taken]
        if missed:
            # An older pluggy reads the marker only from the function itself.
            self._pm.unregister(name=registered)
            msg = (
                f"plugin {name!r}: pluggy {pluggy.__version__} did not take its marked hook "
                f"{', '.join(missed)}; put @hookimpl below @staticmethod or @classmethod"
            )
            raise PluginError(msg, plugins=[name])
        if not hooks_taken and installed:
            # An installed package that provides nothing (its hooks behind an optional
            # import that failed, say) must not stop every CareKit(): say so and go on.
            _log.warning(
                "installed plugin %r (%s) implements no carekit hook; it is ignored%s",
                name, _describe(plugin), _hooks_on_a_class(plugin, name, entry_value),
            )
            # Ignored: not listed among the plugins (carekit demo would call it found).
            self._pm.unregister(name=registered)
            self._sources.pop(registered, None)
            self._dists.pop(registered, None)
        elif not hooks_taken:
            self._pm.unregister(name=registered)
            msg = (
                f"plugin {name!r} ({plugin!r:.80}) implements no carekit hook: give it "
                "methods or functions named like the hooks (carekit_register_channels, "
                "carekit_deliver_touchpoint, ...) marked with @carekit.hookimpl"
            )
            raise PluginError(msg, plugins=[name])
        self._invalidate()
        return registered

    def _readable_name(self, plugin: object) -> str:
        """A name for error messages: the module or class name, numbered if taken."""
        base = getattr(plugin, "__name__", None)
        if not isinstance(base, str):
            base = type(plugin).__name__
        name, n = base, 1
        while self._pm.get_plugin(name) is not None or self._pm.is_blocked(name):
            n += 1
            name = f"{base}-{n}"
        return name

    def _load_entrypoints(self) -> None:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if self._pm.get_plugin(ep.name) is not None or self._pm.is_blocked(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                dist = getattr(ep, "dist", None)
                source = f" of the installed package {dist.name!r}" if dist is not None else ""
                msg = (
                    f"entry point {ep.name!r} ({ep.value}){source} in group 'carekit' "
                    f"failed to load: {exc}; {_fix_or_uninstall(dist)}"
                )
                raise PluginError(msg, plugins=[ep.name]) from exc
            dist = getattr(ep, "dist", None)
            self._sources[ep.name] = (
                f"entry point {ep.value}"
                + (f" of the installed package {dist.name!r}" if dist is not None else "")
            )
            self._dists[ep.name] = dist
            try:
                self._register(plugin, ep.name, installed=True, entry_value=ep.value)
            except PluginError as exc:
                dist = getattr(ep, "dist", None)
                source = f" of the installed package {dist.name!r}" if dist is not None else ""
                msg = (
                    f"entry point {ep.name!r} ({ep.value}){source} in group 'carekit': {exc}; "
                    f"{_fix_or_uninstall(dist)}"
                )
                raise PluginError(msg, plugins=[ep.name]) from exc

    def _check_pending(self) -> None:
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            # pluggy names the plugin by its repr (a module's file path, an object's
            # address): name it as registered, and where an installed one came from.
            name = self._pm.get_name(exc.plugin) or self._readable_name(exc.plugin)
            source = self._sources.get(name)
            label = f"plugin {name!r}" + (f" ({source})" if source else "")
            text = str(exc).replace(f" in plugin {exc.plugin!r}", "")
            known = sorted(_hook_names())
            hook = re.search(r"unknown hook '(\w+)'", text)
            close = difflib.get_close_matches(hook.group(1), known, n=1) if hook else []
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            msg = f"{label}: {text}{hint}; hooks carekit knows: {known}{self._remedy(name)}"
            raise PluginError(msg, plugins=[name]) from exc

    def _label(self, name: str) -> str:
        """``plugin 'NAME'``, and where it came from when it was installed."""
        source = self._sources.get(name)
        return f"plugin {name!r}" + (f" ({source})" if source else "")

    def _remedy(self, name: str) -> str:
        """What to do about an installed plugin that fails (nothing for one registered)."""
        if name not in self._dists:
            return ""
        return f"; {_fix_or_uninstall(self._dists[name])}"

    def _one_of(self, first: str, second: str) -> str:
        """How to keep one of two plugins that provide the same name."""
        packages = [self._dists.get(n) for n in (first, second)]
        names = [getattr(d, "name", None) for d in packages]
        if all(isinstance(n, str) for n in names) and names[0] != names[1]:
            return (
                f"uninstall one of the packages (pip uninstall {names[0]}, or pip uninstall "
                f"{names[1]})"
            )
        return "register only one of them"

    def _invalidate(self) -> None:
        self._channels = None
        self._journeys = None

    def _call_one(self, hook_name: str, impl: pluggy.HookImpl, **kwargs: Any) -> Any:
        """Call one hook implementation exactly as pluggy calls it in a hook call.

        pluggy passes each implementation the arguments it declares (defaulted ones too,
        in recent versions) and lets hook-call monitoring and tracing see the call; going
        through its executor for one implementation keeps all of that, while carekit
        learns which plugin answered or raised.
        """
        execute = getattr(self._pm, "_hookexec", None)
        if execute is None:  # pragma: no cover - a pluggy without its executor hook
            names = [*impl.argnames, *getattr(impl, "kwargnames", ())]
            return impl.function(**{k: v for k, v in kwargs.items() if k in names})
        return execute(hook_name, [impl], kwargs, True)

    def _call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        caller = getattr(self._pm.hook, hook_name)
        results: list[tuple[str, Any]] = []
        if _has_wrapper(caller):
            # A hook wrapper goes around the implementations: pluggy runs the call; its
            # results (last registered first) are not attributed to plugins.
            try:
                answers = caller(**kwargs)
            except PluginError:
                raise
            except Exception as exc:
                msg = f"{_WRAPPED} raised in {hook_name}: {exc!r}"
                raise PluginError(msg) from exc
            return [(_WRAPPED, answer) for answer in reversed(answers)]
        # get_hookimpls() lists implementations in registration order (pluggy calls them
        # last-registered first); registration order makes collected results predictable.
        for impl in caller.get_hookimpls():
            try:
                results.append((impl.plugin_name, self._call_one(hook_name, impl, **kwargs)))
            except CareKitError as exc:
                if isinstance(exc, PluginError):
                    raise
                name = impl.plugin_name
                msg = f"{self._label(name)} raised in {hook_name}: {exc}{self._remedy(name)}"
                raise PluginError(msg, plugins=[name]) from exc
            except Exception as exc:
                name = impl.plugin_name
                msg = f"{self._label(name)} raised in {hook_name}: {exc!r}{self._remedy(name)}"
                raise PluginError(msg, plugins=[name]) from exc
        return results

    def _collect(self, hook_name: str, what: str, kind: type[_T]) -> Mapping[str, _T]:
        """What plugins provide, by name (a name provided twice is an error)."""
        found: dict[str, tuple[str, _T]] = {}
        for plugin_name, result in self._call_each(hook_name):
            if result is None:
                continue
            if not isinstance(result, (list, tuple)):
                msg = (
                    f"{self._label(plugin_name)} returned {result!r} from {hook_name}; "
                    f"expected a list of {kind.__name__}{self._remedy(plugin_name)}"
                )
                raise PluginError(msg, plugins=[plugin_name])
            for item in result:
                if not isinstance(item, kind):
                    msg = (
                        f"{self._label(plugin_name)} returned {item!r} from {hook_name}; "
                        f"expected {kind.__name__} objects{self._remedy(plugin_name)}"
                    )
                    raise PluginError(msg, plugins=[plugin_name])
                item_name: str = getattr(item, "name")  # noqa: B009
                if item_name in found:
                    first = found[item_name][0]
                    if first == plugin_name:
                        msg = f"plugin {plugin_name!r} provides {what} name {item_name!r} twice"
                        raise PluginError(msg, plugins=[plugin_name], name=item_name)
                    if first == _BUILTIN_CHANNELS:
                        fix = (
                            f"{item_name!r} is built into carekit: deliver on it without "
                            "registering it (carekit_deliver_touchpoint alone), or register a "
                            "channel of another name"
                        )
                    elif first == _BUILTIN_JOURNEYS:
                        fix = f"{item_name!r} is built into carekit: register yours as another name"
                    else:
                        fix = (
                            f"one {what} name needs one plugin: "
                            f"{self._one_of(first, plugin_name)}, or rename the {what} in one "
                            "of them"
                        )
                    msg = (
                        f"duplicate {what} name {item_name!r}: provided by "
                        f"{self._label(first)} and by {self._label(plugin_name)}; {fix}"
                    )
                    raise PluginError(msg, plugins=[first, plugin_name], name=item_name)
                found[item_name] = (plugin_name, item)
        return MappingProxyType({k: v for k, (_, v) in sorted(found.items())})




#: Who answered, when a hook wrapper ran the whole call.
_WRAPPED = "a plugin (under a hook wrapper)"


def _has_wrapper(caller: Any) -> bool:
    return any(impl.hookwrapper or impl.wrapper for impl in caller.get_hookimpls())


def _instance_hooks(cls: type) -> list[str]:
    """Hooks ``cls`` implements as plain functions taking ``self`` or ``cls`` first.

    Registered as the class itself, pluggy would call them without that argument.
    """
    found = []
    for name in _hook_names():
        attr = inspect.getattr_static(cls, name, None)
        if not inspect.isfunction(attr):
            continue
        code = inspect.unwrap(attr).__code__
        if code.co_argcount and code.co_varnames[0] in ("self", "cls"):
            found.append(name)
    return found


def _hook_attrs(plugin: object) -> Iterator[tuple[str, bool]]:
    """``(hook name, marked)`` for each hook-named routine ``plugin`` holds.

    Looked up statically, as pluggy does: properties are not run and ``__getattr__`` is not
    asked. The marker may sit on a staticmethod or classmethod, on the function it wraps, or
    on the function behind a bound method; a slot is read for its value.
    """
    marker = f"{hookspecs.PROJECT}_impl"  # the attribute pluggy's HookimplMarker sets
    for name in _hook_names():
        attr = inspect.getattr_static(plugin, name, None)
        if isinstance(attr, types.MemberDescriptorType):
            attr = getattr(plugin, name, None)  # a slot: reading it runs no user code
        if isinstance(attr, (staticmethod, classmethod)):
            yield name, hasattr(attr, marker) or hasattr(attr.__func__, marker)
        elif isinstance(attr, types.MethodType):
            yield name, hasattr(attr.__func__, marker)
        elif inspect.isfunction(attr):
            yield name, hasattr(attr, marker)


def _unmarked_hooks(plugin: object) -> list[str]:
    """Hook names ``plugin`` defines as functions or methods without the hookimpl marker."""
    return [name for name, marked in _hook_attrs(plugin) if not marked]


def _marked_hooks(plugin: object) -> list[str]:
    """Hook names ``plugin`` defines as functions or methods with the hookimpl marker."""
    return [name for name, marked in _hook_attrs(plugin) if marked]


#: The names the built-in plugins are registered under (channels, journey definitions).
_BUILTIN_CHANNELS = "carekit.channels"
_BUILTIN_JOURNEYS = "carekit.journeys"

#: The one hook carekit awaits when its implementation is a coroutine function.
_MAY_BE_ASYNC = "carekit_deliver_touchpoint"


def _coroutine_hooks(plugin: object) -> list[str]:
    """Hooks other than delivery that ``plugin`` implements with ``async def``."""
    found = []
    for name in _hook_names():
        if name == _MAY_BE_ASYNC:
            continue
        attr = inspect.getattr_static(plugin, name, None)
        if isinstance(attr, (staticmethod, classmethod, types.MethodType)):
            attr = attr.__func__
        if inspect.isfunction(attr) and inspect.iscoroutinefunction(inspect.unwrap(attr)):
            found.append(name)
    return found


def _hook_names() -> list[str]:
    return [n for n in dir(hookspecs) if n.startswith("carekit_")]


def _builtin_journeys_plugin() -> object:
    """The built-in plugin registering carekit's own journeys (order, service case, visit)."""
    from carekit.journeys._builtin import BuiltinJourneys

    return BuiltinJourneys()


def _describe(plugin: object) -> str:
    """A plugin as a reader knows it: ``module NAME``, or a short repr."""
    if isinstance(plugin, types.ModuleType):
        return f"module {plugin.__name__}"
    return f"{plugin!r:.80}"


def _hooks_on_a_class(plugin: object, name: str, entry_value: str | None) -> str:
    """For a module with no hook of its own: the classes in it that have hooks, and the fix."""
    if not isinstance(plugin, types.ModuleType):
        return ""
    classes = [
        attr for attr, value in vars(plugin).items()
        if isinstance(value, type) and _marked_hooks(value)
    ]
    if not classes:
        return ""
    module = str(entry_value or plugin.__name__).partition(":")[0]
    which = f"class {classes[0]} has" if len(classes) == 1 else (
        f"classes {', '.join(classes)} have"
    )
    return (
        f". Its {which} hooks: point the entry point at an instance ({name} = "
        f"\"{module}:plugin\" with plugin = {classes[0]}() in that module)"
    )


def _fix_or_uninstall(dist: Any) -> str:
    """What to do about an installed plugin that cannot be loaded.

    The words serve a command-line user (who cannot pass arguments to ``CareKit``) as well as
    a program: uninstalling is said first, with the package's name when it is known.
    """
    uninstall = f"pip uninstall {dist.name}" if dist is not None else "uninstall it"
    return (
        f"fix that package or {uninstall} (from Python, CareKit(load_entrypoints=False) "
        "loads no installed plugin, so you can register plugins yourself)"
    )
