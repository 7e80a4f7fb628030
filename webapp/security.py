"""The door: which requests are answered, security headers on every response, and the one path check
every file route goes through.

The headers make the page cross-origin isolated (COOP + COEP), which WebAssembly threads in tfjs-tflite need,
and keep everything same-origin: the app loads no script, style or model from anywhere else.

Before any route runs, `check_request` answers only the host names the server is bound to (ALLOWED_HOSTS):
a page on another site that makes its own name resolve to 127.0.0.1 (DNS rebinding) would otherwise be
same-origin with the server. And it refuses requests that change what the server stores when they come from
another site: a multipart POST is a "simple" request that any page may send without asking (no CORS
preflight), so the browser's Origin and Sec-Fetch-Site headers are what tells them apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import Forbidden, MisdirectedRequest, NotFound
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
# response, as dedicated workers do: the wasm runtimes start their thread workers from blob: scripts (the tfjs
# wasm backend) or from their own loader script (LiteRT.js). No 'unsafe-eval': neither runtime builds code
# from strings (tfjs-tflite's loader did, with `new Function`). The page itself keeps the strict policy above.
WORKER_PATH_PREFIX = "/app/worker/"
WORKER_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' blob:; worker-src 'self' blob:; "
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

# Loopback names on any port: the default for create_app; `edgeship serve` narrows it to the bound port.
LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FOREIGN_FETCH_SITES = frozenset({"cross-site", "same-site"})
_SHOWN_HOST = 100  # characters of a refused Host header repeated in the message


def bound_hosts(host: str, port: int) -> list[str]:
    """The Host values a server bound to `host`:`port` answers: the loopback names, and `host` itself."""
    shown = f"[{host}]" if ":" in host else host
    names = [*LOOPBACK_NAMES, *([shown.lower()] if shown.lower() not in LOOPBACK_NAMES else [])]
    return [f"{name}:{port}" for name in names]


def named_hosts(names: Iterable[str], port: int) -> list[str]:
    """The Host values a server on all interfaces answers under `names` (LAN addresses, host names) too."""
    shown = [f"[{name}]" if ":" in name else name.lower() for name in names]
    return [f"{name}:{port}" for name in dict.fromkeys([*LOOPBACK_NAMES, *shown])]


def _split(host: str) -> tuple[str, str]:
    """("name", "port") of a Host value; the port is "" when none is given."""
    name, colon, port = host.rpartition(":")
    if not colon or name == "" or ("]" in port) or (name.startswith("[") is not name.endswith("]")):
        return host, ""  # no port: "localhost", "[::1]"
    return name, port


def host_allowed(host: str, allowed: Iterable[str], default_port: str = "80") -> bool:
    """Whether the Host header `host` names one of `allowed` ("name:port", or "name" for any port).

    A Host without a port means the scheme's default port: 80, or 443 over HTTPS.
    """
    name, port = _split(host.lower())
    for entry in allowed:
        allowed_name, allowed_port = _split(entry.lower())
        if name == allowed_name and (not allowed_port or (port or default_port) == allowed_port):
            return True
    return False


@bp.before_app_request
def check_request() -> None:
    allowed = current_app.config["ALLOWED_HOSTS"]
    host = request.headers.get("Host", "")
    if not host_allowed(host, allowed, "443" if request.scheme == "https" else "80"):
        raise MisdirectedRequest(
            f"this server answers only to {', '.join(allowed)} (the request named {host[:_SHOWN_HOST]!r}); "
            "open the app at one of those addresses (from a phone or another machine: serve it with --lan)"
        )
    if request.method in SAFE_METHODS:
        return
    own = f"{request.scheme}://{host.lower()}"
    origin = request.headers.get("Origin")
    fetch_site = request.headers.get("Sec-Fetch-Site", "").lower()
    if fetch_site in FOREIGN_FETCH_SITES:
        foreign = f"Sec-Fetch-Site {fetch_site}"
    elif origin is not None and origin.lower() != own:
        foreign = f"Origin {origin[:_SHOWN_HOST]}"
    else:
        return
    raise Forbidden(
        f"refused: this request comes from another web site ({foreign}); only the edgeship app this server "
        f"serves may upload or delete models: open it at {own}"
    )


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
    try:
        base = root.resolve()
        path = Path(joined).resolve()
    except (RuntimeError, OSError):  # a symlink loop (RuntimeError before Python 3.13), a name too long
        raise NotFound() from None
    if not path.is_relative_to(base) or not path.is_file():
        raise NotFound()
    return path
