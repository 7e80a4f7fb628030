"""The HTTPS server of `edgeship serve --lan` (and `--cert/--key`): cheroot, with the app's own limits.

Waitress has no TLS. Cheroot (CherryPy's server) is a production WSGI server with a thread pool and TLS
through Python's own `ssl` module. It does not buffer a body: the app reads it as it comes. It refuses a
declared Content-Length over the limit, and headers over MAX_HEADER_BYTES, before reading them; a chunked
body stops at the app's own limit (Flask's MAX_CONTENT_LENGTH, a 413). Its own error answers
(400, 413, and the 431 it sends as a 413 or 414) are made JSON with the
app's security headers here, as webapp/serve.py does for waitress, so a phone sees the same door either way.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from typing import Any

from cheroot import wsgi
from cheroot.server import ChunkedRFile, HTTPConnection, HTTPRequest
from cheroot.ssl.builtin import BuiltinSSLAdapter

from webapp.errors import MESSAGES
from webapp.security import SECURITY_HEADERS
from webapp.serve import MAX_HEADER_BYTES, THREADS, WAITRESS_MESSAGES

HEADERS_TOO_LARGE = WAITRESS_MESSAGES[431]
REASONS = {
    400: "Bad Request",
    408: "Request Timeout",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _answer(status: str, detail: str) -> tuple[int, str]:
    """The code and JSON message for one of cheroot's own refusals."""
    code = int(status[:3])
    if code == 414 or (code == 413 and "headers" in detail):  # request line or headers over the limit
        return 431, HEADERS_TOO_LARGE
    if code == 400:
        return 400, WAITRESS_MESSAGES[400]
    return code, MESSAGES.get(code) or status[4:].strip().lower() or "error"


class SecureRequest(HTTPRequest):
    """Cheroot's request, whose own error answers are the app's: JSON with the security headers."""

    def simple_response(self, status: Any, msg: Any = "") -> None:
        code, message = _answer(str(status), msg.decode("latin-1") if isinstance(msg, bytes) else str(msg))
        body = json.dumps({"error": message}).encode()
        reason = REASONS.get(code) or str(status)[4:].strip() or "Error"
        head = [f"{self.server.protocol} {code} {reason}", "Content-Type: application/json",
                f"Content-Length: {len(body)}", "Connection: close",
                *(f"{name}: {value}" for name, value in SECURITY_HEADERS.items())]  # fmt: skip
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client has gone: nobody to tell
            self.conn.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def respond(self) -> None:
        if not self.chunked_read:
            super().respond()
            return
        # A chunked body: cheroot would count its framing against the limit and fail the read with an OSError,
        # which Flask answers as a 400. Flask's own limit (MAX_CONTENT_LENGTH: the app's stream stops there
        # with a 413) counts the body itself, so cheroot sets none; what is left unread is never parsed as a
        # next request: the connection closes after the answer.
        self.close_connection = True
        self.rfile = ChunkedRFile(self.conn.rfile, 0)
        self.server.gateway(self).respond()
        if self.ready:
            self.ensure_headers_sent()
        if self.chunked_write:
            self.conn.wfile.write(b"0\r\n\r\n")


class SecureConnection(HTTPConnection):
    RequestHandlerClass = SecureRequest


class _Adapter(BuiltinSSLAdapter):
    def __init__(self, certificate: str, private_key: str) -> None:
        super().__init__(certificate, private_key)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2


def create_server(app: Any, host: str, port: int, cert: str, key: str, max_body: int) -> wsgi.Server:
    """A bound (listening) cheroot server for `app`; OSError when the address cannot be bound.

    Cheroot refuses a body over `max_body` bytes (waitress: at its limit, hence its + 1 in webapp/serve.py).
    """
    server = wsgi.Server((host, port), app, numthreads=THREADS, max=THREADS, server_name="edgeship")
    server.ConnectionClass = SecureConnection
    server.max_request_header_size = MAX_HEADER_BYTES
    server.max_request_body_size = max_body
    server.ssl_adapter = _Adapter(cert, key)
    server.prepare()  # binds and listens now, so a port in use fails before anything is printed
    return server


def bound_port(server: wsgi.Server) -> int:
    return int(server.socket.getsockname()[1])
