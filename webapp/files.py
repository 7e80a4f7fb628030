"""Sending a file from disk: content type, ETag, conditional GET and the cache policy.

Shared by the model files (models.py) and the app shell (shell.py), so both answer the same way.
"""

from __future__ import annotations

import mimetypes
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from flask import Response, current_app, request
from werkzeug.exceptions import NotFound
from werkzeug.wsgi import wrap_file

# Explicit, because the platform's mimetypes table differs between machines and knows nothing of .tflite;
# a wrong type matters: browsers refuse to stream-compile wasm that is not application/wasm, and with
# nosniff they refuse scripts that are not a JavaScript type.
CONTENT_TYPES: dict[str, str] = {
    ".json": "application/json",
    ".map": "application/json",
    ".tflite": "application/octet-stream",
    ".bin": "application/octet-stream",
    ".wasm": "application/wasm",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".webmanifest": "application/manifest+json",
    ".html": "text/html",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

# Names that carry their content hash (tflite/fp32.3f2a9c1d.tflite, tfjs/fp32/model.9a8b7c6d.json) never
# change content, so browsers may keep them forever; everything else must be revalidated (cheap: a 304).
CONTENT_HASHED = re.compile(r"\.[0-9a-f]{8,}\.(?:bin|tflite|json)$")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def content_type(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def is_content_hashed(name: str) -> bool:
    return CONTENT_HASHED.search(name) is not None


def send(path: Path) -> Response:
    """`path` (already checked by security.resolve_inside) with an ETag, answering If-None-Match with 304.

    The file is opened once and everything (size, ETag, body) comes from that descriptor: an export may be
    swapped out between the path check and here, and the answer must then be that version's bytes or a
    404, never a 500 or a body that does not match its headers.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115 - the response closes it once sent
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound() from None
    stat = os.fstat(handle.fileno())
    response = current_app.response_class(
        wrap_file(request.environ, handle), mimetype=content_type(path), direct_passthrough=True
    )
    response.content_length = stat.st_size
    response.last_modified = datetime.fromtimestamp(stat.st_mtime, UTC)
    # inode + mtime + size: an export replaced by a rename gets new inodes, so its files get new ETags even
    # when a name and size stay the same.
    response.set_etag(f"{stat.st_ino:x}-{stat.st_mtime_ns:x}-{stat.st_size:x}")
    response.make_conditional(request.environ, accept_ranges=True, complete_length=stat.st_size)  # in place
    response.headers["Cache-Control"] = IMMUTABLE if is_content_hashed(path.name) else REVALIDATE
    return response
