"""`edgeship serve`: check the folder, bind the address, then run the app under waitress.

Waitress, not Flask's development server: it is a production WSGI server with a thread pool, and it
sends no debugger to anyone who can reach the port. Everything that can go wrong before the first request
is a ServeError, printed by the CLI as one line.

Waitress gets the app's own limits, so that nothing over them is stored: it refuses a body over
MAX_CONTENT_LENGTH (declared or chunked) before buffering it in the temporary folder, and headers over
MAX_HEADER_BYTES. Its own error answers (400, 413, 431, and the 500 for an app that raises past Flask) are
JSON with the same security headers as the app's (SecureErrorTask).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from waitress import create_server
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.task import ErrorTask

from exporter import parameter
from webapp import create_app, exports
from webapp.errors import MESSAGES
from webapp.security import SECURITY_HEADERS, bound_hosts
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
    try:
        server.run()
    except KeyboardInterrupt:
        pass  # Ctrl+C is how the user stops it: not an error
    finally:
        server.close()
