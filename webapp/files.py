"""Sending a file from disk: content type, ETag, conditional GET and the cache policy.

Shared by the model files (models.py) and the app shell (shell.py), so both answer the same way.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

from flask import Response, send_file

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
    """`path` (already checked by security.resolve_inside) with an ETag, answering If-None-Match with 304."""
    stat = path.stat()
    # inode + mtime + size: an export replaced by a rename gets new inodes, so its files get new ETags even
    # when a name and size stay the same.
    etag = f"{stat.st_ino:x}-{stat.st_mtime_ns:x}-{stat.st_size:x}"
    response = send_file(path, mimetype=content_type(path), etag=etag, conditional=True)
    response.headers["Cache-Control"] = IMMUTABLE if is_content_hashed(path.name) else REVALIDATE
    response.headers.pop("Expires", None)
    return response
