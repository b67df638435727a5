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

import urllib.parse
from typing import Any

from carekit.errors import CareKitError

__all__ = ["open_store", "redact"]

_SCHEMES = ("sqlite:///PATH", "postgresql://USER@HOST:PORT/DBNAME", "memory://")


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


def open_store(url: str, **options: Any) -> Any:
    """Open the journey store ``url`` names.

    * ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``,
      ``sqlite:///:memory:`` — a :class:`~carekit.journeys.SQLiteJourneyStore`; a plain
      file path (no ``scheme://``) means the same;
    * ``postgresql://user@host:port/dbname`` (or ``postgres://``) — a
      :class:`~carekit.journeys.PostgresJourneyStore` (extra ``carekit[postgres]``); a
      ``schema`` query parameter (``?schema=shop``) chooses the schema, the rest of the URL
      goes to the driver as it is;
    * ``memory://`` — a :class:`~carekit.journeys.MemoryJourneyStore`.

    Args:
        url: the store's URL.
        options: passed to the store's constructor (``definitions=``, ``busy_timeout=``…).

    Returns:
        The open store.

    Raises:
        CareKitError: ``url`` is not a string or names an unknown kind of store; a
            PostgreSQL URL without the ``carekit[postgres]`` extra installed.
        StoreError: the store cannot be opened (the message names the URL without its
            password).
    """
    if not isinstance(url, str) or not url.strip():
        msg = f"url must name a journey store, such as {', '.join(_SCHEMES)} (got {url!r})"
        raise CareKitError(msg)
    scheme, sep, rest = url.partition("://")
    if not sep:
        from carekit.journeys.stores.sqlite import SQLiteJourneyStore

        return SQLiteJourneyStore(url, **options)
    scheme = scheme.lower()
    if scheme == "sqlite":
        from carekit.journeys.stores.sqlite import SQLiteJourneyStore

        path, _, _ = rest.partition("?")
        if not path.startswith("/") or path == "/":
            msg = (
                f"a SQLite URL reads sqlite:///relative/path.db or sqlite:////absolute/path.db "
                f"(got {url!r})"
            )
            raise CareKitError(msg)
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
