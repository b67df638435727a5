"""Message templates: the words of each touchpoint, per channel and locale, from Jinja2 files
rendered in Jinja2's sandbox and checked against the journeys at start-up."""

from __future__ import annotations

import datetime as dt
import difflib
import os
import pathlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from carekit.errors import CareKitError
from carekit.messaging._errors import TemplateError, need

__all__ = ["CONTEXT", "Recipient", "Templates", "guaranteed_keys", "journey_definitions",
           "touchpoint_names"]

#: The names a template sees.
CONTEXT: tuple[str, ...] = (
    "touchpoint", "data", "recipient", "journey_id", "customer_id", "channel", "locale", "tz",
)

#: What a template may read on ``touchpoint`` (an OwedTouchpoint).
_TOUCHPOINT_FIELDS = frozenset({
    "journey_id", "name", "state", "channel", "due", "version", "owed_at", "data",
    "customer_id", "not_before", "tz", "idempotency_key", "sendable_at",
})
_RECIPIENT_FIELDS = frozenset({"address", "name", "locale"})
#: Filters and tests under which a missing data key is fine.
_GUARDING_FILTERS = frozenset({"default", "d"})
_GUARDING_TESTS = frozenset({"defined", "undefined", "none"})


def _check_text(name: str, optional: bool = False) -> Callable[[Any, Any, Any], None]:
    def check(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if optional and value is None:
            return
        if not isinstance(value, str) or not value.strip():
            kind = "a non-empty string or None" if optional else "a non-empty string"
            msg = f"Recipient {name} must be {kind} (got {value!r})"
            raise CareKitError(msg)
    return check


def journey_definitions(value: Any, what: str = "journeys") -> list[Any]:
    """``value`` as a list of journey definitions.

    Raises:
        CareKitError: not an iterable of :class:`~carekit.journeys.JourneyDefinition`
            (a single definition, or journey names, say so).
    """
    from carekit.journeys import JourneyDefinition

    if isinstance(value, JourneyDefinition):
        msg = (
            f"{what} must be a list of journey definitions, such as [order_journey()] (got "
            f"the one definition {value.name!r}: put it in a list)"
        )
        raise CareKitError(msg)
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        msg = (
            f"{what} must be a list of journey definitions, such as [order_journey()] "
            f"(got {value!r})"
        )
        raise CareKitError(msg)
    found = list(value)
    for item in found:
        if not isinstance(item, JourneyDefinition):
            hint = (
                f": a name, such as kit.journeys[{item!r}], is not a definition"
                if isinstance(item, str) else ""
            )
            msg = (
                f"{what} must be a list of journey definitions, such as [order_journey()] "
                f"(got {item!r} in it{hint})"
            )
            raise CareKitError(msg)
    return found


def touchpoint_names(value: Any, what: str = "extra_touchpoints") -> list[str]:
    """``value`` as a list of touchpoint names.

    Raises:
        CareKitError: a single string (its letters would be read as names), or not an
            iterable of non-empty strings.
    """
    if isinstance(value, str):
        msg = f"{what} must be a list of touchpoint names, such as [{value!r}] (got {value!r})"
        raise CareKitError(msg)
    if not isinstance(value, Iterable):
        msg = f"{what} must be a list of touchpoint names (got {value!r})"
        raise CareKitError(msg)
    found = list(value)
    for item in found:
        if not isinstance(item, str) or not item.strip():
            msg = f"{what} must be a list of touchpoint names (got {item!r} in it)"
            raise CareKitError(msg)
    return found


@attrs.frozen
class Recipient:
    """Whom a message goes to, as a customer lookup returns it.

    Args:
        address: where to send (an email address, a phone number, a chat id).
        name: the customer's name, for the greeting (templates read ``recipient.name``).
        locale: the customer's locale (``"fr_FR"``, ``"de"``); ``None``: the default one.

    Raises:
        CareKitError: an empty address, a name or locale that is not a string.

    Examples:
        >>> Recipient("ana@example.com", name="Ana", locale="es").locale
        'es'
    """

    address: str = attrs.field(validator=_check_text("address"))
    name: str | None = attrs.field(default=None, validator=_check_text("name", True))
    locale: str | None = attrs.field(default=None, validator=_check_text("locale", True))


def guaranteed_keys(definition: Any, touchpoint: Any) -> frozenset[str]:
    """The event-data keys every owing of ``touchpoint`` in ``definition`` carries.

    A touchpoint owed on entering a state gets the data of the event that entered it: the
    keys every transition into that state ``requires`` (none when the journey may start
    there). One owed on an event gets the keys that event's transitions require.

    Examples:
        >>> from carekit.journeys import order_journey
        >>> order = order_journey()
        >>> shipped = next(t for t in order.touchpoints if t.name == "shipped_with_tracking")
        >>> sorted(guaranteed_keys(order, shipped))
        ['tracking_number']
    """
    if getattr(touchpoint, "on_event", None):
        moves = [t for t in definition.transitions if t.event == touchpoint.on_event]
    elif getattr(touchpoint, "on_enter", None):
        # self-loops do not enter: they owe no on_enter touchpoint again
        moves = [
            t for t in definition.transitions
            if t.target == touchpoint.on_enter and t.source != t.target
        ]
        if touchpoint.on_enter == definition.initial:
            return frozenset()
    else:
        return frozenset()
    if not moves:
        return frozenset()
    keys = set(moves[0].requires)
    for move in moves[1:]:
        keys &= set(move.requires)
    return frozenset(keys)


def _normal_locale(value: str) -> str:
    """``value`` in the form of the locale folders: ``fr-ca`` and ``FR_CA`` -> ``fr_CA``
    (language in lower case, a script such as ``Hant`` capitalised, a region in upper case)."""
    parts = [part for part in value.strip().replace("-", "_").split("_") if part]
    if not parts:
        return ""
    normal = [parts[0].lower()]
    for part in parts[1:]:
        normal.append(part.capitalize() if len(part) == 4 and part.isalpha() else
                      part.upper() if len(part) <= 3 else part)
    return "_".join(normal)


def _chain(locale: str | None) -> list[str]:
    """Locale folders to look in, most specific first; ``""`` is the channel's own folder
    (the default locale's words)."""
    folders: list[str] = []
    if locale:
        normal = _normal_locale(locale)
        for item in (normal, normal.split("_")[0]):
            if item not in folders:
                folders.append(item)
    folders.append("")
    return folders


class Templates:
    """The message templates in a folder: ``<channel>/<touchpoint>.<part>`` for the default
    locale, ``<channel>/<locale>/<touchpoint>.<part>`` for others.

    Parts are what a channel needs: email reads ``subject``, ``txt`` and ``html`` (say
    ``email/shipped_with_tracking.subject``); Apprise channels read ``title`` and ``txt``.
    A customer's locale ``fr_CA`` uses ``<channel>/fr_CA/…``, else ``<channel>/fr/…``, else
    the default words.

    Templates are Jinja2, rendered in Jinja2's immutable sandbox
    (``ImmutableSandboxedEnvironment``) with undefined names an error: they see
    ``touchpoint`` (the owed touchpoint), ``data`` (the data of the event that owed it),
    ``recipient`` (a :class:`Recipient`, or ``None``), ``journey_id``, ``customer_id``,
    ``channel``, ``locale`` and ``tz``, and the filters ``date``, ``datetime`` and ``time``,
    which format a date, a datetime or an ISO 8601 string for the customer's locale (with
    Babel) and zone. Values in ``data`` are printed, never run; ``.html`` templates escape
    them.

    Args:
        directory: the folder holding the templates.
        default_locale: the locale of the words in the channel folders (``"en_GB"``).
        default_tz: the zone for journeys that carry none (an IANA name; UTC by default).

    Raises:
        CareKitError: ``jinja2`` or ``babel`` is not installed (``pip install
            'carekit[templates]'``); a folder that does not exist; an unknown locale or zone.

    Examples:
        >>> import pathlib, tempfile
        >>> from carekit.messaging import Templates
        >>> from carekit.testing import owed_touchpoint
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> (folder / "sms").mkdir(parents=True)
        >>> _ = (folder / "sms" / "shipped.txt").write_text(
        ...     "Order {{ journey_id }} ships; it arrives by {{ data.promised | date('long') }}.")
        >>> templates = Templates(folder, default_locale="en_GB")
        >>> tp = owed_touchpoint("shipped", data={"promised": "2026-03-20"})
        >>> templates.render(tp, channel="sms", parts=["txt"])["txt"]
        'Order order-1 ships; it arrives by 20 March 2026.'
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        default_locale: str = "en",
        default_tz: str | None = None,
    ) -> None:
        jinja2 = need("jinja2", "message templates")
        sandbox = need("jinja2.sandbox", "message templates")
        babel = need("babel", "message templates")
        if not isinstance(directory, (str, os.PathLike)):
            msg = f"directory must be a folder path (got {directory!r})"
            raise CareKitError(msg)
        root = pathlib.Path(directory)
        if not root.is_dir():
            msg = f"directory must be a folder of message templates; {str(root)!r} is not one"
            raise CareKitError(msg)
        if not isinstance(default_locale, str) or not default_locale.strip():
            msg = f"default_locale must be a locale name such as 'en_GB' (got {default_locale!r})"
            raise CareKitError(msg)
        self.default_locale = _normal_locale(default_locale)
        try:
            babel.Locale.parse(self.default_locale)
        except (ValueError, babel.UnknownLocaleError):
            msg = (
                "default_locale must be a locale Babel knows, such as 'en_GB' "
                f"(got {default_locale!r})"
            )
            raise CareKitError(msg) from None
        from carekit.journeys.journey import zone_name

        self.default_tz = "UTC" if default_tz is None else zone_name(default_tz)
        self.directory = root
        self._names = frozenset(
            p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()
        )
        self._env = sandbox.ImmutableSandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(root)),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html", "htm"), default_for_string=False, default=False
            ),
            keep_trailing_newline=False,
            auto_reload=False,
        )
        self._env.filters.update(
            date=_context_filter(_format_date),
            datetime=_context_filter(_format_datetime),
            time=_context_filter(_format_time),
        )
        self._checked: set[str] = set()

    def __repr__(self) -> str:
        return f"Templates({str(self.directory)!r}, default_locale={self.default_locale!r})"

    @property
    def names(self) -> frozenset[str]:
        """Every template file in the folder, as ``channel/...`` paths."""
        return self._names

    def find(
        self, channel: str, touchpoint: str, part: str, locale: str | None = None
    ) -> str | None:
        """The template that holds ``part`` of ``touchpoint`` on ``channel`` for ``locale``
        (falling back to the language, then to the default words), or ``None``."""
        for folder in _chain(locale):
            name = f"{channel}/{folder}/{touchpoint}.{part}" if folder else (
                f"{channel}/{touchpoint}.{part}"
            )
            if name in self._names:
                return name
        return None

    # -- start-up ---------------------------------------------------------------------

    def check(
        self,
        definitions: Iterable[Any],
        *,
        channel: str,
        parts: Sequence[str],
        optional: Sequence[str] = (),
        extra: Iterable[str] = (),
    ) -> int:
        """Check, before anything is sent, every template ``channel`` will need.

        For each touchpoint of ``definitions`` that may travel on ``channel`` (its own
        channel, or none: the customer's preferred one), plus the touchpoint names in
        ``extra`` (recovery touchpoints): the default-locale template of every part in
        ``parts`` exists; every template found (any locale, ``optional`` parts too)
        compiles, names only the context's variables, filters and tests that exist,
        reaches no ``_private`` attribute, reads only the ``touchpoint`` and
        ``recipient`` fields there are, and reads only the ``data`` keys the journey
        guarantees for that touchpoint (the transitions' ``requires``), unless guarded
        (``data.x | default('')``, ``data.x is defined``, ``data.get('x')``).

        Returns:
            How many templates were checked.

        Raises:
            CareKitError: ``definitions`` not journey definitions, ``extra`` not names.
            TemplateError: listing every problem found.
        """
        definitions = journey_definitions(definitions, "definitions")
        extra = touchpoint_names(extra, "extra")
        meta = need("jinja2.meta", "message templates")
        wanted: dict[str, frozenset[str]] = {}
        for definition in definitions:
            for tp in definition.touchpoints:
                if tp.channel in (None, channel):
                    keys = guaranteed_keys(definition, tp)
                    wanted[tp.name] = wanted[tp.name] & keys if tp.name in wanted else keys
        for name in extra:
            wanted[name] = frozenset()
        problems: list[str] = []
        count = 0
        for name, keys in sorted(wanted.items()):
            for part in [*parts, *optional]:
                found = [t for t in self._names if _is_part(t, channel, name, part)]
                if part in parts and f"{channel}/{name}.{part}" not in self._names:
                    hint = difflib.get_close_matches(
                        f"{channel}/{name}.{part}", sorted(self._names), n=1
                    )
                    problems.append(
                        f"touchpoint {name!r} on channel {channel!r} needs the template "
                        f"{channel}/{name}.{part}, which does not exist"
                        + (f" (did you mean {hint[0]}?)" if hint else "")
                    )
                for template in sorted(found):
                    count += 1
                    problems += self._check_one(template, keys, meta)
        if problems:
            raise TemplateError(problems, directory=str(self.directory))
        return count

    def _check_one(self, name: str, keys: frozenset[str], meta: Any) -> list[str]:
        jinja2 = need("jinja2", "message templates")
        source = (self.directory / name).read_text(encoding="utf-8")
        try:
            tree = self._env.parse(source, name=name)
            self._env.get_template(name)  # compiles: unknown filters and tests are found here
        except jinja2.TemplateSyntaxError as exc:
            return [f"{name}, line {exc.lineno}: {exc.message}"]
        problems = []
        unknown = sorted(meta.find_undeclared_variables(tree) - set(CONTEXT))
        if unknown:
            problems.append(
                f"{name} uses {', '.join(map(repr, unknown))}, which templates do not get "
                f"(they get {', '.join(CONTEXT)})"
            )
        problems += [f"{name}: {p}" for p in _reads(tree, keys)]
        for ref in meta.find_referenced_templates(tree):
            if ref is not None and ref not in self._names:
                problems.append(f"{name} includes {ref!r}, which does not exist")
        return problems

    # -- delivery ---------------------------------------------------------------------

    def render(
        self,
        touchpoint: Any,
        *,
        channel: str,
        parts: Sequence[str],
        optional: Sequence[str] = (),
        recipient: Recipient | None = None,
        locale: str | None = None,
    ) -> dict[str, str]:
        """The text of each part of ``touchpoint``'s message on ``channel``.

        Args:
            touchpoint: the owed touchpoint.
            channel: the channel's name (the templates' folder).
            parts: the parts that must exist (``["subject", "txt"]``).
            optional: parts rendered when a template exists (``["html"]``).
            recipient: whom it goes to (templates read ``recipient.name``).
            locale: the customer's locale (default: the recipient's, else
                ``data["locale"]``, else the default locale).

        Returns:
            Part name -> text, without leading and trailing blank space.

        Raises:
            TemplateError: a missing template, an undefined name, a value a filter cannot
                format, or an unsafe access.
        """
        jinja2 = need("jinja2", "message templates")
        chosen = locale or (recipient.locale if recipient is not None else None)
        data = getattr(touchpoint, "data", None) or {}
        if chosen is None and isinstance(data.get("locale"), str):
            chosen = data["locale"]
        chosen = self._known_locale(chosen)
        tz = getattr(touchpoint, "tz", None) or self.default_tz
        context = {
            "touchpoint": touchpoint, "data": data, "recipient": recipient,
            "journey_id": getattr(touchpoint, "journey_id", None),
            "customer_id": getattr(touchpoint, "customer_id", None),
            "channel": channel, "locale": chosen, "tz": tz,
        }
        out: dict[str, str] = {}
        for part in [*parts, *optional]:
            name = self.find(channel, touchpoint.name, part, chosen)
            if name is None:
                if part in optional:
                    continue
                raise TemplateError(
                    [f"touchpoint {touchpoint.name!r} on channel {channel!r} has no template "
                     f"{channel}/{touchpoint.name}.{part}"],
                    directory=str(self.directory),
                )
            try:
                out[part] = self._env.get_template(name).render(context).strip()
            except (jinja2.TemplateError, CareKitError) as exc:
                kind = "unsafe" if type(exc).__name__ == "SecurityError" else "failed"
                raise TemplateError(
                    [f"{name} {kind} for touchpoint {touchpoint.name!r} of journey "
                     f"{context['journey_id']!r}: {exc}"],
                    directory=str(self.directory),
                ) from None
        return out

    def _known_locale(self, locale: str | None) -> str:
        """The customer's locale when Babel knows it, else the default one."""
        if not locale:
            return self.default_locale
        babel = need("babel", "message templates")
        normal = _normal_locale(locale)
        try:
            babel.Locale.parse(normal)
        except (ValueError, TypeError, babel.UnknownLocaleError):
            return self.default_locale
        return normal


def _is_part(template: str, channel: str, touchpoint: str, part: str) -> bool:
    pieces = template.split("/")
    return (
        pieces[0] == channel
        and len(pieces) in (2, 3)
        and pieces[-1] == f"{touchpoint}.{part}"
    )


def _reads(tree: Any, keys: frozenset[str]) -> list[str]:
    """Problems with what a template reads: private attributes, unknown touchpoint or
    recipient fields, data keys the journey does not guarantee (unless guarded)."""
    from jinja2 import nodes

    guarded: set[int] = set()
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        if (isinstance(node, nodes.Filter) and node.name in _GUARDING_FILTERS) or (
            isinstance(node, nodes.Test) and node.name in _GUARDING_TESTS
        ):
            guarded.add(id(node.node))
    for call in tree.find_all(nodes.Call):
        guarded.add(id(call.node))  # data.get('x'): a method, not a key
    problems: list[str] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        attr = node.attr if isinstance(node, nodes.Getattr) else (
            node.arg.value if isinstance(node.arg, nodes.Const) else None
        )
        if not isinstance(attr, str):
            continue
        if attr.startswith("_"):
            problems.append(f"line {node.lineno} reaches {attr!r}: templates may not read "
                            "private attributes")
            continue
        base = node.node
        if not isinstance(base, nodes.Name):
            continue
        if base.name == "data" and attr not in keys and id(node) not in guarded:
            have = f"it guarantees {sorted(keys)}" if keys else "it guarantees none"
            problems.append(
                f"line {node.lineno} reads data.{attr}, which the journey does not guarantee "
                f"for this touchpoint ({have}: add it to the transition's requires, or write "
                f"data.{attr} | default('') or {{% if data.{attr} is defined %}})"
            )
        elif base.name == "touchpoint" and attr not in _TOUCHPOINT_FIELDS:
            problems.append(f"line {node.lineno} reads touchpoint.{attr}; a touchpoint has "
                            f"{', '.join(sorted(_TOUCHPOINT_FIELDS))}")
        elif base.name == "recipient" and attr not in _RECIPIENT_FIELDS:
            problems.append(f"line {node.lineno} reads recipient.{attr}; a recipient has "
                            f"{', '.join(sorted(_RECIPIENT_FIELDS))}")
    return problems


# -- filters ---------------------------------------------------------------------------------


def _moment(value: Any) -> dt.date | dt.datetime:
    if isinstance(value, (dt.date, dt.datetime)):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value) if len(value) == 10 else dt.datetime.fromisoformat(
                value
            )
        except ValueError:
            pass
    msg = f"expected a date, a datetime or an ISO 8601 string such as '2026-03-20' (got {value!r})"
    raise CareKitError(msg)


def _in_zone(value: dt.date | dt.datetime, tz: str) -> dt.date | dt.datetime:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            msg = f"expected a timezone-aware datetime (got {value.isoformat()!r})"
            raise CareKitError(msg)
        return value.astimezone(ZoneInfo(tz))
    return value


def _context_filter(fn: Callable[..., str]) -> Callable[..., str]:
    from jinja2 import pass_context

    filter_name = fn.__name__.removeprefix("_format_")  # date, time, datetime

    def wrapped(context: Mapping[str, Any], value: Any, format: str = "medium") -> str:
        if isinstance(format, str) and "%" in format:
            # A strftime pattern: Babel would print its % signs and read the letters as its
            # own fields ('%Y-%m-%d' came out as '%2026-%0-%2'), without a word.
            babel = _babel_form(format)
            hint = (
                f"write {babel!r}" if babel is not None
                else "write 'yyyy-MM-dd HH:mm' for '%Y-%m-%d %H:%M'"
            )
            msg = (
                f"the {filter_name} filter takes a Babel pattern, not a strftime one (got "
                f"{format!r}): {hint}, or 'short', 'medium', 'long' or 'full'"
            )
            raise CareKitError(msg)
        try:
            return fn(value, format, context.get("locale") or "en", context.get("tz") or "UTC")
        except CareKitError:
            raise
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            # Babel, given a pattern the value cannot fill (the hours of a date)
            msg = (
                f"the {filter_name} filter cannot format {value!r} as {format!r}: give 'short', "
                "'medium', 'long', 'full' or a Babel pattern such as 'EEEE d MMMM' that the "
                f"value can fill ({type(exc).__name__}: {exc})"
            )
            raise CareKitError(msg) from None

    wrapped.__name__ = fn.__name__
    result: Callable[..., str] = pass_context(wrapped)
    return result


#: strftime directives and the Babel (CLDR) fields that print the same.
_STRFTIME_TO_BABEL = {
    "Y": "yyyy", "y": "yy", "m": "MM", "d": "dd", "e": "d", "H": "HH", "I": "hh", "M": "mm",
    "S": "ss", "p": "a", "B": "MMMM", "b": "MMM", "h": "MMM", "A": "EEEE", "a": "EEE",
    "j": "DDD", "Z": "z", "z": "Z",
}


def _babel_form(pattern: str) -> str | None:
    """The Babel pattern printing what the strftime ``pattern`` prints (``'%d/%m/%Y'`` ->
    ``'dd/MM/yyyy'``), or ``None`` when it uses a directive without a plain equivalent."""
    out: list[str] = []
    literal: list[str] = []

    def flush() -> None:
        # letters are Babel's fields: quote them ('at'); a quote is written twice
        for run in re.findall(r"[A-Za-z]+|[^A-Za-z]+", "".join(literal)):
            out.append(f"'{run}'" if run.isalpha() else run.replace("'", "''"))
        literal.clear()

    chars = iter(pattern)
    for char in chars:
        if char != "%":
            literal.append(char)
            continue
        directive = next(chars, "")
        if directive == "%":
            literal.append("%")
        elif directive in _STRFTIME_TO_BABEL:
            flush()
            out.append(_STRFTIME_TO_BABEL[directive])
        else:
            return None
    flush()
    return "".join(out)


def _format_date(value: Any, format: str, locale: str, tz: str) -> str:
    from babel.dates import format_date

    moment = _in_zone(_moment(value), tz)
    day = moment.date() if isinstance(moment, dt.datetime) else moment
    return str(format_date(day, format=format, locale=locale))


def _format_datetime(value: Any, format: str, locale: str, tz: str) -> str:
    from babel.dates import format_datetime

    moment = _moment(value)
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime.combine(moment, dt.time(0), tzinfo=ZoneInfo(tz))
    return str(format_datetime(_in_zone(moment, tz), format=format, locale=locale))


def _format_time(value: Any, format: str, locale: str, tz: str) -> str:
    from babel.dates import format_time

    moment = _moment(value)
    if not isinstance(moment, dt.datetime):
        msg = f"the time filter needs a datetime (got {value!r})"
        raise CareKitError(msg)
    local = _in_zone(moment, tz)
    return str(format_time(local, format=format, locale=locale))  # type: ignore[arg-type]
