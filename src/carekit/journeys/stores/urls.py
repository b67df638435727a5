"""Open a journey store by URL: ``sqlite:///…``, ``postgresql://…``, ``memory://``.

Examples:
    >>> from carekit.journeys import open_store
    >>> store = open_store("memory://")
    >>> type(store).__name__
    'MemoryJourneyStore'
    >>> open_store("sqlite:///:memory:").path
    ':memory:'
"""

from __future__ import annotations

import os
import re
import urllib.parse
from typing import Any

from carekit.errors import CareKitError

__all__ = ["open_store", "redact"]

_SCHEMES = ("sqlite:///PATH", "postgresql://USER@HOST:PORT/DBNAME", "memory://")

#: The keywords libpq reads in a ``key=value`` connection string (PostgreSQL 17's list,
#: with those of older versions).
_LIBPQ_KEYWORDS = frozenset({
    "application_name", "channel_binding", "client_encoding", "connect_timeout", "dbname",
    "fallback_application_name", "gssdelegation", "gssencmode", "gsslib", "host", "hostaddr",
    "keepalives", "keepalives_count", "keepalives_idle", "keepalives_interval", "krbsrvname",
    "load_balance_hosts", "options", "passfile", "password", "port", "replication",
    "require_auth", "requirepeer", "requiressl", "service", "ssl_max_protocol_version",
    "ssl_min_protocol_version", "sslcert", "sslcertmode", "sslcompression", "sslcrl",
    "sslcrldir", "sslkey", "sslnegotiation", "sslpassword", "sslmode", "sslrootcert", "sslsni",
    "target_session_attrs", "tcp_user_timeout", "user",
})
# One ``keyword = value`` pair as libpq reads it: a value is quoted ('...', with \' and \\)
# or runs to the next blank.
_CONNINFO_PAIR = re.compile(
    r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^'\\]|\\.)*'|(?:[^\s\\]|\\.)+)"
)


def conninfo_keywords(text: str) -> list[str] | None:
    """The keywords of ``text`` if it is a libpq ``key=value`` connection string, else None.

    ``text`` is one when it is nothing but blank-separated ``keyword=value`` pairs and at
    least one keyword is one libpq reads (``host``, ``port``, ``dbname``, ``user``,
    ``password``, ``sslmode``…, in any case). A file name that merely holds an ``=`` is not
    one.

    Examples:
        >>> conninfo_keywords("host=127.0.0.1 dbname=shop password='s3 cret'")
        ['host', 'dbname', 'password']
        >>> conninfo_keywords("runs/batch=3.db") is None
        True
    """
    keywords: list[str] = []
    position = 0
    while position < len(text.rstrip()):
        match = _CONNINFO_PAIR.match(text, position)
        if match is None:
            return None
        keywords.append(match.group(1).lower())
        position = match.end()
    # A misspelt keyword beside a real one (``pasword=...``) is still a connection string.
    if not _LIBPQ_KEYWORDS.intersection(keywords):
        return None
    return keywords


def refuse_conninfo(url: str) -> None:
    """Refuse ``url`` if it is a libpq ``key=value`` string (see :func:`conninfo_keywords`).

    Raises:
        CareKitError: it is one; the message names its keywords, never their values.
    """
    keywords = conninfo_keywords(url)
    if keywords is None:
        return
    msg = (
        f"url is a libpq key=value connection string ({', '.join(f'{k}=...' for k in keywords)}),"
        " not a journey store URL or a SQLite path: write it as "
        "postgresql://USER:PASSWORD@HOST:PORT/DBNAME (percent-encode reserved characters), "
        "or pass the key=value string to PostgresJourneyStore(dsn) in Python; for a SQLite "
        "file of that name write sqlite:///NAME"
    )
    raise CareKitError(msg)


def redact(url: str) -> str:
    """``url`` with its passwords (if any) replaced by ``***``, for messages and logs.

    Both the password of the user part and a query parameter whose name ends in
    ``password`` (``?password=``, ``?sslpassword=``) are hidden.

    Examples:
        >>> redact("postgresql://shop:s3cret@db.internal:5432/orders")
        'postgresql://shop:***@db.internal:5432/orders'
        >>> redact("postgresql://shop@db/orders?password=s3cret&sslmode=require")
        'postgresql://shop@db/orders?password=***&sslmode=require'
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<an unreadable URL>"
    items = query_items(parts.query)
    if parts.password is None and not any(key.lower().endswith("password") for key, _, _ in items):
        return url
    netloc = parts.netloc
    if parts.password is not None:
        user = parts.username or ""
        host = parts.hostname or ""
        if ":" in host:  # an IPv6 address
            host = f"[{host}]"
        try:
            port = parts.port
        except ValueError:
            port = None
        netloc = f"{user}:***@{host}" + (f":{port}" if port is not None else "")
    query = "&".join(
        f"{item.partition('=')[0]}=***" if key.lower().endswith("password") else item
        for key, _, item in items
    )
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))


def query_items(query: str) -> list[tuple[str, str, str]]:
    """``(decoded key, raw value, raw item)`` of each ``key=value`` item of a URL's query.

    The raw forms are what libpq reads: it decodes ``%XX`` but not ``+``.
    """
    items = []
    for item in query.split("&"):
        if item:
            key, _, value = item.partition("=")
            items.append((urllib.parse.unquote(key), value, item))
    return items


def open_store(url: str | os.PathLike[str], **options: Any) -> Any:
    """Open the journey store ``url`` names.

    * ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``,
      ``sqlite:///:memory:`` — a :class:`~carekit.journeys.SQLiteJourneyStore`;
      ``?mode=ro`` opens it ``read_only=True`` (``?mode=rwc``, the default, as usual), and
      any other query parameter is refused; a plain file path (no ``scheme://``) means
      the same, but a libpq ``key=value`` connection string (``host=db password=...``),
      and a store scheme followed by one colon (``memory:``, ``sqlite:journeys.db``), are
      refused rather than taken for file names;
    * ``postgresql://user@host:port/dbname`` (or ``postgres://``) — a
      :class:`~carekit.journeys.PostgresJourneyStore` (extra ``carekit[postgres]``); a
      ``schema`` query parameter (``?schema=shop``) chooses the schema, the rest of the URL
      goes to the driver as it is;
    * ``memory://`` — a :class:`~carekit.journeys.MemoryJourneyStore`;
    * an :class:`os.PathLike` (``pathlib.Path("journeys.db")``) — a SQLite file path, as
      :class:`~carekit.journeys.SQLiteJourneyStore` takes it.

    Args:
        url: the store's URL, or the path of a SQLite file.
        options: passed to the store's constructor (``definitions=``, ``busy_timeout=``…).

    Returns:
        The open store.

    Raises:
        CareKitError: ``url`` is neither a string nor a path, or names an unknown kind of
            store; it is a libpq ``key=value`` connection string (the message shows its
            keywords, never its values); it starts with ``sqlite:``, ``memory:`` or
            ``postgresql:`` without the ``//``; a SQLite URL with a query parameter other than
            ``mode=ro``/``mode=rwc``, or whose mode contradicts a ``read_only`` option; a
            PostgreSQL URL without the ``carekit[postgres]`` extra installed.
        StoreError: the store cannot be opened (the message names the URL without its
            password).
    """
    if isinstance(url, os.PathLike):
        from carekit.journeys.stores.sqlite import SQLiteJourneyStore

        return SQLiteJourneyStore(url, **options)
    if not isinstance(url, str) or not url.strip():
        msg = (
            f"url must name a journey store, such as {', '.join(_SCHEMES)}, or be the path "
            f"of a SQLite file (got {url!r})"
        )
        raise CareKitError(msg)
    refuse_conninfo(url)
    scheme, sep, rest = url.partition("://")
    if not sep:
        _refuse_scheme_without_slashes(url)
        from carekit.journeys.stores.sqlite import SQLiteJourneyStore

        return SQLiteJourneyStore(url, **options)
    scheme = scheme.lower()
    if scheme == "sqlite":
        from carekit.journeys.stores.sqlite import SQLiteJourneyStore

        path, _, query = rest.partition("?")
        if not path.startswith("/") or path == "/":
            msg = (
                f"a SQLite URL reads sqlite:///relative/path.db or sqlite:////absolute/path.db "
                f"(got {url!r})"
            )
            raise CareKitError(msg)
        _sqlite_mode(url, query, options)
        return SQLiteJourneyStore(urllib.parse.unquote(path[1:]), **options)
    if scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
        from carekit.journeys.stores.postgres import PostgresJourneyStore, split_schema

        dsn, schema = split_schema(url)
        if schema is not None:
            options.setdefault("schema", schema)
        return PostgresJourneyStore(dsn, **options)
    if scheme == "memory":
        from carekit.journeys.stores.memory import MemoryJourneyStore

        return MemoryJourneyStore(**options)
    msg = (
        f"unknown journey store URL scheme {scheme!r} in {redact(url)!r}; use one of "
        f"{', '.join(_SCHEMES)}"
    )
    raise CareKitError(msg)


# A store URL's scheme with a colon but without the "//" after it: "memory:", "sqlite:x.db".
_SCHEME_WITHOUT_SLASHES = re.compile(r"(?i)(sqlite|memory|postgres(?:ql)?(?:\+\w+)?):(?!//)")


def _refuse_scheme_without_slashes(url: str) -> None:
    """Refuse ``memory:``, ``sqlite:x.db`` and the like, which would open a SQLite file of
    that name in the current folder instead of the store the URL meant.

    Raises:
        CareKitError: ``url`` starts with a store URL's scheme and one colon.
    """
    match = _SCHEME_WITHOUT_SLASHES.match(url)
    if match is None:
        return
    msg = (
        f"url starts like a journey store URL but has no '//' after {match.group(0)!r} "
        f"(the rest is not shown, as it may hold a password); use one of "
        f"{', '.join(_SCHEMES)}, or write ./NAME for a SQLite file whose name has a colon"
    )
    raise CareKitError(msg)


def _sqlite_mode(url: str, query: str, options: dict[str, Any]) -> None:
    """Read a SQLite URL's ``?mode=ro`` (``read_only=True``) or ``?mode=rwc`` into ``options``.

    Raises:
        CareKitError: another parameter, another mode, the mode twice, or a ``read_only``
            option that says otherwise.
    """
    modes = []
    for key, value, _ in query_items(query):
        if key != "mode":
            msg = (
                f"a SQLite URL takes one query parameter, mode=ro (read_only=True) or mode=rwc "
                f"(the default); got {key!r} in {redact(url)!r}"
            )
            raise CareKitError(msg)
        modes.append(urllib.parse.unquote(value))
    if not modes:
        return
    if len(modes) > 1 or modes[0] not in ("ro", "rwc"):
        shown = modes[0] if len(modes) == 1 else modes
        msg = (
            f"a SQLite URL's mode is given once, as ro (read_only=True) or rwc (the default) "
            f"(got {shown!r} in {redact(url)!r})"
        )
        raise CareKitError(msg)
    read_only = modes[0] == "ro"
    if "read_only" in options and bool(options["read_only"]) != read_only:
        msg = (
            f"read_only={options['read_only']!r} contradicts mode={modes[0]} in "
            f"{redact(url)!r}; give one of them"
        )
        raise CareKitError(msg)
    options["read_only"] = read_only
