"""A static server for the plain pages: bench/browser/, /npm/<package>/ (the runtimes as npm installs them)
and /models/<id>/ (the exports).

The headers a developer sets to get wasm threads: cross-origin isolated (COOP/COEP), as `edgeship serve` is,
so both sides run with the same threads. No service worker, no cache headers: the HTTP cache does what it
does by default. Runs in a thread of the benchmark process, bound to 127.0.0.1 on a free port.
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
NODE_MODULES = ROOT / "node_modules"
# The only packages served from node_modules: the runtimes the plain pages load (tfjs-tflite is kept in
# node_modules for these pages only; the app no longer vendors it).
PACKAGES = (
    "@tensorflow/tfjs",
    "@tensorflow/tfjs-backend-wasm",
    "@tensorflow/tfjs-tflite",
    "@litertjs/core",
    "@litertjs/wasm-utils",
)
ISOLATION = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def _package_file(parts: list[str]) -> Path | None:
    """/npm/@scope/name/rest -> node_modules/@scope/name/rest, for the listed packages only."""
    for package in PACKAGES:
        names = package.split("/")
        if parts[: len(names)] == names and len(parts) > len(names):
            return NODE_MODULES.joinpath(*names, *parts[len(names) :])
    return None


class _Handler(SimpleHTTPRequestHandler):
    exports: ClassVar[dict[str, Path]] = {}

    def translate_path(self, path: str) -> str:
        parts = [p for p in unquote(urlsplit(path).path).split("/") if p]
        if any(p in (".", "..") for p in parts) or not parts:
            return str(BROWSER / "missing")
        if parts[0] == "npm":
            return str(_package_file(parts[1:]) or BROWSER / "missing")
        if parts[0] == "models" and len(parts) > 2 and parts[1] in self.exports:
            return str(self.exports[parts[1]].joinpath(*parts[2:]))
        return str(BROWSER.joinpath(*parts))

    def end_headers(self) -> None:
        for name, value in ISOLATION.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


class StaticServer:
    def __init__(self, exports: dict[str, Path]):
        handler = type("Handler", (_Handler,), {"exports": dict(exports)})
        handler.extensions_map = {
            **handler.extensions_map,
            ".wasm": "application/wasm",
            ".js": "text/javascript",
            ".mjs": "text/javascript",
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
