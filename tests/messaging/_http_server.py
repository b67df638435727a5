"""A real HTTP endpoint for Apprise's json:// URLs (http.server on 127.0.0.1)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Received:
    """The JSON bodies posted, with their paths; ``statuses`` answers the first requests."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.statuses = list(statuses or [])
        self.lock = threading.Lock()


@contextlib.contextmanager
def http_server(received: Received | None = None) -> Iterator[tuple[Received, int]]:
    received = received or Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with received.lock:
                status = received.statuses.pop(0) if received.statuses else 200
                if status == 200:
                    received.posts.append((self.path, json.loads(body)))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
