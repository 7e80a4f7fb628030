"""A static server for the plain page: bench/browser/, /vendor/ (the app's vendored tfjs) and /models/<id>/.

No COOP/COEP, no service worker, no special headers: the page a developer gets from any static host.
Runs in a thread of the benchmark process, bound to 127.0.0.1 on a free port.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
BROWSER = ROOT / "bench" / "browser"
VENDOR = ROOT / "webapp" / "static" / "vendor"


class _Handler(SimpleHTTPRequestHandler):
    exports: ClassVar[dict[str, Path]] = {}

    def translate_path(self, path: str) -> str:
        parts = [p for p in unquote(urlsplit(path).path).split("/") if p]
        if any(p in (".", "..") for p in parts) or not parts:
            return str(BROWSER / "missing")
        if parts[0] == "vendor":
            return str(VENDOR.joinpath(*parts[1:]))
        if parts[0] == "models" and len(parts) > 2 and parts[1] in self.exports:
            return str(self.exports[parts[1]].joinpath(*parts[2:]))
        return str(BROWSER.joinpath(*parts))

    def log_message(self, format: str, *args: object) -> None:
        pass


class StaticServer:
    def __init__(self, exports: dict[str, Path]):
        handler = type("Handler", (_Handler,), {"exports": dict(exports)})
        handler.extensions_map = {
            **handler.extensions_map,
            ".wasm": "application/wasm",
            ".js": "text/javascript",
        }
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def __enter__(self) -> StaticServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
