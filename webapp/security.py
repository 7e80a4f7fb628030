"""Security headers on every response, and the one path check every file route goes through.

The headers make the page cross-origin isolated (COOP + COEP), which WebAssembly threads in tfjs-tflite need,
and keep everything same-origin: the app loads no script, style or model from anywhere else.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, request
from werkzeug.exceptions import NotFound
from werkzeug.security import safe_join

# One constant, so a change the front end needs is a one-line diff here. No inline script or style:
# 'wasm-unsafe-eval' lets WebAssembly compile without allowing eval() for JavaScript; blob: workers and
# connections are how tfjs loads its wasm backend and how models are read from the cache.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; style-src 'self'; "
    "img-src 'self' data: blob:; connect-src 'self' blob: data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)

# The model worker (no DOM, same origin, only our vendored scripts) gets its own policy from its own
# response, as dedicated workers do: tfjs-tflite's emscripten loader builds functions with `new Function`
# ('unsafe-eval') and the tfjs wasm backend starts its thread workers from blob: scripts. The page itself
# keeps the strict policy above.
WORKER_PATH_PREFIX = "/app/worker/"
WORKER_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval' blob:; worker-src 'self' blob:; "
    "connect-src 'self' blob: data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)

SECURITY_HEADERS: dict[str, str] = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}

bp = Blueprint("security", __name__)


@bp.after_app_request
def add_security_headers(response: Response) -> Response:
    # after_app_request also runs for error-handler responses (404, 405, 500) and for 304s.
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    if request.path.startswith(WORKER_PATH_PREFIX):
        response.headers["Content-Security-Policy"] = WORKER_CONTENT_SECURITY_POLICY
    return response


def resolve_inside(root: Path, untrusted: str) -> Path:
    """The regular file `untrusted` names under `root`, or NotFound.

    safe_join refuses `..`, absolute paths and (on Windows) backslashes by name; the resolved-path check
    then refuses symlinks that lead out of `root`. Backslashes and NUL bytes are refused on every OS: no
    served file has them in its name, and a NUL would make the filesystem calls raise.
    """
    if "\\" in untrusted or "\x00" in untrusted:
        raise NotFound()
    joined = safe_join(str(root), untrusted)
    if joined is None:
        raise NotFound()
    base = root.resolve()
    path = Path(joined).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        raise NotFound()
    return path
