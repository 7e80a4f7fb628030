"""The one error handler: every HTTP error, and every unhandled exception, becomes `{"error": "..."}`.

Messages are the fixed descriptions the routes give (or werkzeug's generic ones): never a stack trace,
an exception's text or a local path. Flask logs an unhandled exception on the server before this runs.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

bp = Blueprint("errors", __name__)

MESSAGES = {
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
    500: "internal server error",
}


@bp.app_errorhandler(HTTPException)
def json_error(error: HTTPException) -> Response:
    # An unhandled exception arrives as InternalServerError wrapping it: its text stays out of the reply.
    own = error.__dict__.get("description") if not isinstance(error, InternalServerError) else None
    code = error.code or 500
    message = own or MESSAGES.get(code) or error.name.lower()
    response = jsonify({"error": message})
    response.status_code = code
    # Keep the headers the error defines (Allow on 405, Retry-After on 503), not its HTML content type.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response
