"""Configure the messaging channels from a TOML file and ``CAREKIT_*`` environment variables."""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs

from carekit.errors import CareKitError
from carekit.messaging._apprise import shown_url
from carekit.messaging._errors import ConfigError, TemplateError, need
from carekit.messaging._smtp import SMTPSettings

__all__ = ["AppriseSettings", "EmailSettings", "MessagingConfig", "configure", "load_config"]

_T = TypeVar("_T")

_APPRISE_ENV = re.compile(r"^CAREKIT_APPRISE_([A-Z][A-Z0-9_]*)_URL$")
_TABLES = {"templates", "customers", "email", "apprise"}
_TEMPLATE_KEYS = {"directory", "default_locale", "default_tz", "journeys", "extra_touchpoints"}
_EMAIL_KEYS = {"url", "sender", "reply_to", "channel", "dedupe", "lookup", "message_id_domain"}
_APPRISE_KEYS = {"url", "lookup", "format", "dedupe", "description", "quiet_hours", "tz"}


@attrs.frozen
class EmailSettings:
    """The ``[email]`` table: email over SMTP (see :class:`~carekit.messaging.EmailChannel`).

    ``smtp`` comes from ``url`` or ``CAREKIT_SMTP_URL`` (which wins), ``sender`` from
    ``sender`` or ``CAREKIT_SMTP_SENDER``.
    """

    smtp: SMTPSettings
    sender: str
    reply_to: str | None = None
    channel: str = "email"
    dedupe: str = "after"
    lookup: str | None = None
    message_id_domain: str | None = None


@attrs.frozen
class AppriseSettings:
    """An ``[apprise.<channel>]`` table: one channel through one Apprise URL.

    The URL (from the table or ``CAREKIT_APPRISE_<CHANNEL>_URL``, which wins) is a secret:
    the repr shows its scheme only.
    """

    channel: str
    url: str = attrs.field(repr=shown_url)
    lookup: str | None = None
    format: str = "text"
    dedupe: str = "after"
    description: str | None = None
    quiet_hours: tuple[dt.time, dt.time] | None = None
    tz: str | None = None


@attrs.frozen
class MessagingConfig:
    """What :func:`load_config` read: templates, the customer lookup, email, Apprise.

    Args:
        source: where it came from (the file's path, or ``"environment"``).
        templates: the templates folder (``None``: not configured).
        default_locale: the locale of the words in the channel folders.
        default_tz: the zone for journeys that carry none.
        journeys: the journeys whose touchpoints must have templates (``None``: every
            journey the kit knows).
        extra_touchpoints: touchpoint names outside the journeys (recovery) to check.
        lookup: the default customer lookup, ``"package.module:function"``.
        email: the email channel, if configured.
        apprise: the Apprise channels.
    """

    source: str
    templates: pathlib.Path | None = None
    default_locale: str = "en"
    default_tz: str | None = None
    journeys: tuple[str, ...] | None = None
    extra_touchpoints: tuple[str, ...] = ()
    lookup: str | None = None
    email: EmailSettings | None = None
    apprise: tuple[AppriseSettings, ...] = ()

    def plugins(self, kit: Any, *, lookup: Any = None) -> list[Any]:
        """Make the configured channel plugins, checking every template against ``kit``'s
        journeys now (nothing is registered).

        Args:
            kit: the :class:`~carekit.CareKit` whose journeys the channels serve.
            lookup: a customer lookup (callable or mapping) for channels whose
                configuration names none.

        Raises:
            ConfigError: a channel without templates or without a customer lookup, an
                unknown journey name.
            TemplateError: listing every missing or unsafe template.
        """
        from carekit.messaging._apprise import AppriseChannel
        from carekit.messaging._smtp import EmailChannel
        from carekit.messaging._templates import Templates

        if self.email is None and not self.apprise:
            return []
        if self.templates is None:
            msg = (
                f"{self.source}: channels are configured but no templates: set [templates] "
                "directory (or CAREKIT_TEMPLATES) to the folder of message templates"
            )
            raise ConfigError(msg)
        folder = self.templates
        templates = self._made("[templates]", lambda: Templates(
            folder, default_locale=self.default_locale, default_tz=self.default_tz))
        known = kit.journeys
        names = list(known) if self.journeys is None else list(self.journeys)
        unknown = [n for n in names if n not in known]
        if unknown:
            msg = (
                f"{self.source}: [templates] journeys names {unknown}, which the kit does not "
                f"know (known: {sorted(known)})"
            )
            raise ConfigError(msg)
        journeys = [known[n] for n in names]
        made: list[Any] = []
        if self.email is not None:
            e = self.email
            address = self._lookup("[email]", e.lookup, lookup)
            made.append(self._made("[email]", lambda: EmailChannel(
                e.smtp, sender=e.sender, templates=templates, journeys=journeys,
                address=address, channel=e.channel,
                reply_to=e.reply_to, dedupe=e.dedupe,  # type: ignore[arg-type]
                message_id_domain=e.message_id_domain,
                extra_touchpoints=self.extra_touchpoints,
            )))
        for a in self.apprise:
            table = f"[apprise.{a.channel}]"
            personal = "{recipient}" in a.url
            address = self._lookup(table, a.lookup, lookup) if personal else None

            def make(a: AppriseSettings = a, address: Any = address) -> Any:
                return AppriseChannel(
                    _apprise_channel(a), a.url, templates=templates, journeys=journeys,
                    address=address, body_format=a.format,  # type: ignore[arg-type]
                    dedupe=a.dedupe,  # type: ignore[arg-type]
                    extra_touchpoints=self.extra_touchpoints,
                )

            made.append(self._made(table, make))
        return made

    def _made(self, table: str, make: Callable[[], _T]) -> _T:
        """``make()``, its argument errors named by file and table as a ConfigError."""
        try:
            return make()
        except (ConfigError, TemplateError):
            raise
        except CareKitError as exc:
            raise ConfigError(f"{self.source} {table}: {exc}") from None

    def _lookup(self, table: str, own: str | None, given: Any) -> Any:
        found = own if own is not None else self.lookup if self.lookup is not None else given
        if found is None:
            msg = (
                f"{self.source}: {table} needs a customer lookup to find each customer's "
                "address: set lookup = 'package.module:function' in it or in [customers], or "
                "pass configure(kit, lookup=...)"
            )
            raise ConfigError(msg)
        if isinstance(found, str):
            from carekit.messaging._recipients import import_object

            where = table if own is not None else "[customers]"
            try:
                return import_object(found, f"{self.source} {where} lookup")
            except ConfigError:
                raise
            except CareKitError as exc:
                raise ConfigError(str(exc)) from None
        return found


def _apprise_channel(a: Any) -> Any:
    """The channel an ``[apprise.<name>]`` table delivers: its name, or a Channel of its own."""
    from carekit.channels import Channel

    if a.channel in _builtin_names():
        return a.channel
    return Channel(a.channel, description=a.description or "", quiet_hours=a.quiet_hours,
                   tz=a.tz)


def _toml(path: pathlib.Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        tomllib = need("tomli", "configuration files")
    try:
        with path.open("rb") as fh:
            loaded: dict[str, Any] = tomllib.load(fh)
    except OSError as exc:
        msg = f"cannot read the configuration file {str(path)!r}: {exc.strerror or exc}"
        raise ConfigError(msg) from None
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path} is not valid TOML: {exc}"
        raise ConfigError(msg) from None
    return loaded


def _builtin_names() -> set[str]:
    from carekit.channels import BUILTIN_CHANNELS

    return {c.name for c in BUILTIN_CHANNELS}


def _table(where: str, value: Any, keys: set[str]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        msg = f"{where} must be a table (got {type(value).__name__})"
        raise ConfigError(msg)
    unknown = sorted(set(value) - keys)
    if unknown:
        msg = f"{where} has unknown setting(s) {unknown} (settings: {sorted(keys)})"
        raise ConfigError(msg)
    return dict(value)


def _text(where: str, value: Any, *, secret: bool = False) -> str:
    if not isinstance(value, str) or not value.strip():
        shown = "a secret value" if secret else repr(value)
        msg = f"{where} must be a non-empty string (got {shown})"
        raise ConfigError(msg)
    return value


def _names(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        msg = f"{where} must be a list of names such as ['order'] (got {value!r})"
        raise ConfigError(msg)
    return tuple(value)


def _choice(where: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        msg = f"{where} must be one of {list(choices)} (got {value!r})"
        raise ConfigError(msg)
    return str(value)


def _quiet(where: str, value: Any) -> tuple[dt.time, dt.time]:
    try:
        start, end = (dt.time.fromisoformat(v) for v in value)
    except (TypeError, ValueError):
        msg = f"{where} must be two local times such as ['21:00', '08:00'] (got {value!r})"
        raise ConfigError(msg) from None
    return start, end


def load_config(
    path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> MessagingConfig:
    """Read the messaging configuration once: a TOML file and ``CAREKIT_*`` variables.

    The file is ``path``, else the one ``CAREKIT_CONFIG`` names, else none (environment
    variables only). Variables win over the file: ``CAREKIT_TEMPLATES`` (the templates
    folder), ``CAREKIT_SMTP_URL`` and ``CAREKIT_SMTP_SENDER`` (email),
    ``CAREKIT_APPRISE_<CHANNEL>_URL`` (an Apprise channel called ``<channel>``, lowercased).
    Secrets (the SMTP password, Apprise URLs) never appear in a repr or an error.

    Args:
        path: the TOML file.
        environ: the environment to read (default: ``os.environ``).

    Returns:
        A :class:`MessagingConfig`; :func:`configure` turns it into channel plugins.

    Raises:
        ConfigError: the file cannot be read or is not valid TOML; an unknown table or
            setting; a setting of the wrong type; a channel configured twice.
        CareKitError: a bad SMTP URL (shown with its password hidden).

    Examples:
        >>> from carekit.messaging import load_config
        >>> config = load_config(environ={
        ...     "CAREKIT_SMTP_URL": "smtp://shop:s3cret@smtp.example.com",
        ...     "CAREKIT_SMTP_SENDER": "care@shop.example",
        ...     "CAREKIT_TEMPLATES": "templates"})
        >>> config.email.smtp
        SMTPSettings('smtp://shop:***@smtp.example.com:587', security='starttls')
        >>> "s3cret" in repr(config)
        False
    """
    env = os.environ if environ is None else environ
    chosen = path if path is not None else env.get("CAREKIT_CONFIG") or None
    data: dict[str, Any] = {}
    base = pathlib.Path.cwd()
    source = "environment"
    if chosen is not None:
        file = pathlib.Path(chosen)
        data = _toml(file)
        base = file.resolve().parent
        source = str(file)
    unknown = sorted(set(data) - _TABLES)
    if unknown:
        msg = f"{source} has unknown table(s) {unknown} (tables: {sorted(_TABLES)})"
        raise ConfigError(msg)
    options: dict[str, Any] = {"source": source}

    t = _table(f"{source} [templates]", data.get("templates", {}), _TEMPLATE_KEYS)
    folder = env.get("CAREKIT_TEMPLATES") or t.get("directory")
    if folder is not None:
        place = pathlib.Path(_text(f"{source} [templates] directory", folder))
        options["templates"] = place if place.is_absolute() else base / place
    if "default_locale" in t:
        options["default_locale"] = _text(f"{source} [templates] default_locale",
                                          t["default_locale"])
    if "default_tz" in t:
        options["default_tz"] = _text(f"{source} [templates] default_tz", t["default_tz"])
    if "journeys" in t:
        options["journeys"] = _names(f"{source} [templates] journeys", t["journeys"])
    if "extra_touchpoints" in t:
        options["extra_touchpoints"] = _names(f"{source} [templates] extra_touchpoints",
                                              t["extra_touchpoints"])
    c = _table(f"{source} [customers]", data.get("customers", {}), {"lookup"})
    if "lookup" in c:
        options["lookup"] = _text(f"{source} [customers] lookup", c["lookup"])

    e = _table(f"{source} [email]", data.get("email", {}), _EMAIL_KEYS)
    url = env.get("CAREKIT_SMTP_URL") or e.get("url")
    sender = env.get("CAREKIT_SMTP_SENDER") or e.get("sender")
    if url is not None or e:
        if url is None:
            msg = f"{source} [email] needs url (or CAREKIT_SMTP_URL): smtp://user:password@host"
            raise ConfigError(msg)
        if sender is None:
            msg = f"{source} [email] needs sender (or CAREKIT_SMTP_SENDER): care@shop.example"
            raise ConfigError(msg)
        settings = SMTPSettings.from_url(_text(f"{source} [email] url", url, secret=True))
        fields: dict[str, Any] = {"smtp": settings,
                                  "sender": _text(f"{source} [email] sender", sender)}
        for key in ("reply_to", "channel", "lookup", "message_id_domain"):
            if key in e:
                fields[key] = _text(f"{source} [email] {key}", e[key])
        if "dedupe" in e:
            fields["dedupe"] = _choice(f"{source} [email] dedupe", e["dedupe"],
                                       ("after", "before"))
        options["email"] = EmailSettings(**fields)

    tables = _table(f"{source} [apprise]", data.get("apprise", {}), set(data.get("apprise", {})))
    from_env = {m.group(1).lower(): value for name, value in env.items()
                if (m := _APPRISE_ENV.match(name))}
    channels = []
    for name in sorted(set(tables) | set(from_env)):
        where = f"{source} [apprise.{name}]"
        a = _table(where, tables.get(name, {}), _APPRISE_KEYS)
        found = from_env.get(name) or a.get("url")
        if found is None:
            msg = f"{where} needs url (or CAREKIT_APPRISE_{name.upper()}_URL)"
            raise ConfigError(msg)
        item: dict[str, Any] = {"channel": name, "url": _text(f"{where} url", found, secret=True)}
        for key in ("lookup", "description", "tz"):
            if key in a:
                item[key] = _text(f"{where} {key}", a[key])
        if "format" in a:
            item["format"] = _choice(f"{where} format", a["format"], ("text", "markdown", "html"))
        if "dedupe" in a:
            item["dedupe"] = _choice(f"{where} dedupe", a["dedupe"], ("after", "before"))
        if "quiet_hours" in a:
            item["quiet_hours"] = _quiet(f"{where} quiet_hours", a["quiet_hours"])
        own = {"description", "quiet_hours", "tz"} & set(item)
        if own and name in _builtin_names():
            msg = (
                f"{where}: the built-in channel {name!r} keeps its own settings, so "
                f"{sorted(own)} cannot be set here; name the channel otherwise (such as "
                f"'{name}_gateway') to give it its own"
            )
            raise ConfigError(msg)
        channels.append(AppriseSettings(**item))
    options["apprise"] = tuple(channels)
    names = [c.channel for c in channels] + ([options["email"].channel] if "email" in options
                                             else [])
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        msg = f"{source}: channel(s) {twice} are configured twice (email and apprise)"
        raise ConfigError(msg)
    try:
        return MessagingConfig(**options)
    except CareKitError as exc:  # pragma: no cover - every field is checked above
        raise ConfigError(f"{source}: {exc}") from None


def configure(kit: Any, config: MessagingConfig | None = None, *, lookup: Any = None) -> list[Any]:
    """Register the configured channels on ``kit``, their templates checked first.

    Args:
        kit: the :class:`~carekit.CareKit` to register them on.
        config: what to configure (default: :func:`load_config` ``()``: ``CAREKIT_CONFIG``
            and the environment).
        lookup: a customer lookup for channels whose configuration names none.

    Returns:
        The plugins registered (``close()`` an email channel to drop its connections).

    Raises:
        ConfigError, TemplateError: as :func:`load_config` and
            :meth:`MessagingConfig.plugins`; nothing is registered then.
    """
    from carekit.plugins import CareKit

    if not isinstance(kit, CareKit):
        msg = f"kit must be a carekit.CareKit (got {kit!r})"
        raise CareKitError(msg)
    chosen = load_config() if config is None else config
    if not isinstance(chosen, MessagingConfig):
        msg = f"config must be a MessagingConfig from load_config() (got {chosen!r})"
        raise CareKitError(msg)
    made = chosen.plugins(kit, lookup=lookup)
    for plugin in made:
        kit.register(plugin, name=f"messaging-{plugin.channel_name}")
    return made
