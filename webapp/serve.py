"""`edgeship serve`: check the folder, bind the address, then run the app under waitress.

Waitress, not Flask's development server: it is a production WSGI server with a thread pool, and it
sends no debugger to anyone who can reach the port. Everything that can go wrong before the first request
is a ServeError, printed by the CLI as one line.

Waitress gets the app's own limits, so that nothing over them is stored: it refuses a body over
MAX_CONTENT_LENGTH (declared or chunked) before buffering it in the temporary folder, and headers over
MAX_HEADER_BYTES. Its own error answers (400, 413, 431, and the 500 for an app that raises past Flask) are
JSON with the same security headers as the app's (SecureErrorTask).

With `--lan` (or `--cert/--key`) it serves HTTPS instead, under cheroot (webapp/https_server.py: waitress has
no TLS) with the same limits and error answers: on all interfaces, with a certificate from edgeship's local CA
(webapp/tls.py) for this machine's LAN addresses and names (webapp/lan.py), and it prints the addresses and
a QR code of the /connect page (webapp/connect.py), where a phone gets the CA certificate and the steps to
trust it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waitress import create_server
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.task import ErrorTask

from exporter import parameter
from webapp import create_app, exports, lan, tls
from webapp.connect import Connect
from webapp.errors import MESSAGES
from webapp.security import SECURITY_HEADERS, bound_hosts, named_hosts
from webapp.serve_error import ServeError

THREADS = 8
# Browsers send a few KiB of headers; cookies other apps on localhost set come along, hence the room.
MAX_HEADER_BYTES = 64 * 1024
WAITRESS_MESSAGES = {
    400: "malformed HTTP request",
    431: f"request headers too large: send at most {MAX_HEADER_BYTES // 1024} KiB of headers",
}


class SecureErrorTask(ErrorTask):
    """Waitress' answer to a request it refuses itself, as the app's: JSON, with the security headers."""

    def execute(self) -> None:
        error = self.request.error
        message = WAITRESS_MESSAGES.get(error.code) or MESSAGES.get(error.code) or error.reason.lower()
        body = json.dumps({"error": message}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend([("Content-Type", "application/json"), *SECURITY_HEADERS.items()])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class SecureChannel(HTTPChannel):
    error_task_class = SecureErrorTask


def _listeners(server: Any) -> list[BaseWSGIServer]:
    # create_server returns one server per listening socket, or (localhost: ::1 and 127.0.0.1) a
    # MultiSocketServer whose map holds them.
    if isinstance(server, BaseWSGIServer):
        return [server]
    return [listener for listener in server.map.values() if isinstance(listener, BaseWSGIServer)]


def _use_secure_channels(server: Any) -> None:
    # create_server picks its server classes itself; each listener makes its channels from its own
    # channel_class, read only once run() accepts connections.
    for listener in _listeners(server):
        listener.channel_class = SecureChannel


def _allowed_hosts(server: Any, host: str) -> list[str]:
    """The Host values to answer: every port a listener got (with --port 0 each socket gets its own)."""
    ports = dict.fromkeys(listener.effective_port for listener in _listeners(server))
    return [allowed for port in ports for allowed in bound_hosts(host, int(port))]


def check_directory(directory: Path) -> int:
    """The number of exports in `directory`, or ServeError saying what to give instead."""
    if not directory.exists():
        raise ServeError(f"{directory} does not exist; give an export folder or a folder of export folders.")
    if not directory.is_dir():
        raise ServeError(f"{directory} is not a folder; give an export folder or a folder of export folders.")
    count = len(exports.load_all(directory))
    if count == 0:
        raise ServeError(
            f"{directory} holds no export (no valid {exports.MANIFEST} in it or in its sub-folders); "
            f"run `edgeship demo --out {directory / 'demo'}` or `edgeship export MODEL --out DIR` first."
        )
    return count


def serve(directory: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    count = check_directory(directory)
    app = create_app({"EXPORTS_DIR": directory})
    try:
        # create_server binds at once, so a port in use fails here, before anything is printed.
        server = create_server(
            app,
            host=host,
            port=port,
            threads=THREADS,
            # Waitress refuses a body at max_request_body_size bytes; the app allows MAX_CONTENT_LENGTH.
            max_request_body_size=int(app.config["MAX_CONTENT_LENGTH"]) + 1,
            max_request_header_size=MAX_HEADER_BYTES,
        )
    except (OSError, OverflowError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ServeError(
            f"cannot listen on {host}:{port} ({reason}); choose another {parameter('port')} or "
            f"{parameter('host')}."
        ) from None
    # effective_port: with --port 0 the OS picks a free one, and this line is how a caller learns it.
    # A host name with several addresses (localhost: ::1 and 127.0.0.1) gives a multi-socket server
    # without a single effective_port; the port asked for is then the one to show.
    bound = getattr(server, "effective_port", port)
    _use_secure_channels(server)
    app.config["ALLOWED_HOSTS"] = _allowed_hosts(server, host)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/"
    print(f"Serving {count} export(s) from {directory} on {url} (Ctrl+C to stop)", flush=True)
    _serve_until_interrupted(server.run, server.close)


@dataclass(frozen=True)
class Https:
    """How to serve HTTPS: on the LAN (all interfaces), under extra names, with the user's own pair or not."""

    lan: bool = False
    names: tuple[str, ...] = ()  # --name: more host names for the certificate and the Host check
    cert: Path | None = None
    key: Path | None = None


def _certificate(https: Https, names: list[str]) -> tuple[tls.CertificatePair, bool]:
    if https.cert is None and https.key is None:
        return tls.local_pair(tls.config_dir(), names)
    if https.cert is None or https.key is None:
        missing, given = ("cert", "key") if https.cert is None else ("key", "cert")
        raise ServeError(
            f"{parameter(given)} needs {parameter(missing)} too: give your certificate and its key, or "
            "neither (then edgeship makes its own)."
        )
    return tls.user_pair(https.cert, https.key), False


def _https_lines(count: int, directory: Path, connect: Connect, made: bool) -> list[str]:
    """What serve_https prints: the addresses, a QR code of /connect, and which CA signs the certificate."""
    page = connect.url + "connect"
    lines = [f"Serving {count} export(s) from {directory} on {connect.url} (Ctrl+C to stop)"]
    if connect.also:
        lines.append(f"Also at {', '.join(connect.also)}")
    lines.append(
        f"On a phone on this network, scan this code or open {page}: it shows how to trust the certificate "
        "(once per phone) and install the app."
    )
    lines.append(lan.terminal_qr(page).rstrip("\n"))
    if connect.ca is not None:
        lines.append(
            f"Certificate authority: {connect.ca} ({'made now' if made else 'made earlier'}), "
            f"SHA-256 {connect.fingerprint}"
        )
    return lines


def serve_https(directory: Path, host: str, port: int, https: Https, quiet: bool = False) -> None:
    """Serves `directory` over HTTPS (see the module docstring) until Ctrl+C."""
    from webapp import https_server

    count = check_directory(directory)
    bind = "0.0.0.0" if https.lan else host
    addresses = lan.lan_addresses() if https.lan else []
    # The names phones use (LAN addresses first: the one to show), then this machine's and the --name ones.
    names = [*addresses, *(lan.machine_names() if https.lan else []), *https.names]
    pair, made = _certificate(https, list(dict.fromkeys([*names, "localhost", "127.0.0.1", host])))
    app = create_app({"EXPORTS_DIR": directory})
    try:
        server = https_server.create_server(
            app, bind, port, str(pair.cert), str(pair.key), int(app.config["MAX_CONTENT_LENGTH"])
        )
    except (OSError, OverflowError, ValueError) as error:
        # Cheroot's OSError quotes the system's for each address it tried: show the last one's reason.
        quoted = re.findall(r"\[Errno \d+\] ([^)]+)", str(error))
        reason = getattr(error, "strerror", None) or (quoted[-1] if quoted else str(error))
        raise ServeError(
            f"cannot listen on {bind}:{port} ({reason}); choose another {parameter('port')}"
            + ("." if https.lan else f" or {parameter('host')}.")
        ) from None
    bound = https_server.bound_port(server)
    # The user's own certificate may hold more names; a wildcard is no Host value (give it with --name).
    names = [name for name in dict.fromkeys([*names, *pair.names]) if "*" not in name]
    app.config["ALLOWED_HOSTS"] = named_hosts([*names, host], bound)
    urls = lan.urls(names or ["localhost"], bound)
    others = [url for url in lan.urls(["localhost", "127.0.0.1"], bound) if url not in urls]
    fingerprint = None if pair.ca is None else tls.fingerprint(tls.load_certificate(pair.ca))
    connect = Connect(urls[0], tuple(urls[1:] + others), pair.ca, fingerprint)
    app.config["CONNECT"] = connect
    lines = _https_lines(count, directory, connect, made)
    print("\n".join(lines[:1] if quiet else lines), flush=True)
    _serve_until_interrupted(server.serve, server.stop)


def _serve_until_interrupted(serve: Callable[[], Any], stop: Callable[[], Any]) -> None:
    """Run a server (waitress or cheroot) until Ctrl+C, which is how the user stops it: not an error."""
    try:
        serve()
    except KeyboardInterrupt:
        pass
    finally:
        stop()
