"""`--serve`: the written report over http on localhost, for a machine reached by ssh port forwarding."""
from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass  # one line per request would bury the URL


def make_server(path: Path, port: int = 8000, host: str = "127.0.0.1") -> tuple[ThreadingHTTPServer, str]:
    """(a server for the folder holding `path`, the report's URL); only `host` (localhost) can reach it."""
    path = Path(path).resolve()
    server = ThreadingHTTPServer((host, port), functools.partial(_Quiet, directory=str(path.parent)))
    return server, f"http://{host}:{server.server_address[1]}/{path.name}"


def serve(path: Path, port: int = 8000, host: str = "127.0.0.1", say: Callable[[str], None] = print) -> None:
    """Serve the report until Ctrl-C."""
    server, url = make_server(path, port, host)
    with server:
        say(f"serving {url}  (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            say("stopped")
